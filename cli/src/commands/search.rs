//! `wharf search`: find packages in a wharf registry's catalog, by text or by an interface
//! they export or import (the registry's `/api/v1/packages`).

use std::process::ExitCode;

use anyhow::Context as _;
use wharf_client::SearchRequest;

use super::print_json;
use crate::config::GlobalArgs;

/// `wharf search`
#[derive(clap::Args)]
#[command(after_help = "\
Searches the registry of `--registry` (or `default-registry` in the config file). Private
packages you may pull are found with your stored credentials (`wharf login`).

Examples:
  wharf search greeter --registry localhost:5000
  wharf search --exports 'wasi:http/incoming-handler' --registry localhost:5000
  wharf search --imports 'wasi:sockets/*' --json")]
pub struct Args {
    /// Text in the package's name or description.
    #[arg(default_value = "")]
    text: String,
    /// An interface (`*` globs) the package exports.
    #[arg(long, default_value = "", conflicts_with = "imports")]
    exports: String,
    /// An interface (`*` globs) the package imports.
    #[arg(long, default_value = "")]
    imports: String,
    /// Page of results (1-based; 20 per page).
    #[arg(long, default_value_t = 1)]
    page: u32,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

impl Args {
    /// Run the subcommand.
    pub async fn run(self, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
        let settings = global.settings()?;
        let registry = settings.registry.clone().context(
            "no registry to search: pass `--registry HOST[:PORT]` or set `default-registry` in the config file",
        )?;
        let client = settings.client(Some(&registry))?;
        let request = SearchRequest {
            text: self.text.clone(),
            exports: self.exports.clone(),
            imports: self.imports.clone(),
            page: self.page,
        };
        let found = client
            .search_packages(&registry, &request)
            .await
            .with_context(|| format!("failed to search {registry}"))?;
        if self.json {
            return print_json(&found);
        }
        for p in &found.packages {
            let name = p.name.as_deref().unwrap_or(&p.repository);
            outln!(
                "{:<32} {:<12} {}",
                crate::output::sanitize(name),
                crate::output::sanitize(&p.latest),
                crate::output::sanitize(p.description.as_deref().unwrap_or(""))
            );
        }
        let pages = found
            .total
            .div_ceil(u64::from(found.per_page.max(1)))
            .max(1);
        eprintln!(
            "{} found on {registry} (page {} of {pages})",
            found.total, found.page
        );
        Ok(ExitCode::SUCCESS)
    }
}
