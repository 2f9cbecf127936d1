//! `wharf delete`: remove a tag, or a manifest by digest, from a registry, after asking.

use std::io::IsTerminal as _;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use serde::Serialize;
use wharf_core::Remote;

use super::print_json;
use crate::config::GlobalArgs;
use crate::target::parse_remote;

/// `wharf delete`
#[derive(clap::Args)]
#[command(after_help = "\
A tag (`repo:1.0.0`, `ns:name@1.0.0`) deletes that tag only: the manifest stays for its
other tags and until garbage collection. A digest (`repo@sha256:…`) deletes the manifest
and every tag pointing at it. Asks first unless `--yes`; without a terminal to ask on, it
refuses unless `--yes`. Versions are often immutable on registries: prefer `wharf yank`.

Examples:
  wharf delete localhost:5000/demo/app:dev
  wharf delete localhost:5000/demo/app@sha256:… --yes")]
pub struct Args {
    /// `host[:port]/repository:tag`, `…@sha256:…`, or `ns:name@version`.
    reference: String,
    /// Do not ask.
    #[arg(short, long)]
    yes: bool,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct DeleteReport {
    reference: String,
    /// `tag` or `manifest`.
    deleted: &'static str,
}

impl Args {
    /// Run the subcommand.
    pub async fn run(self, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
        let settings = global.settings()?;
        let remote = parse_remote(&self.reference, &settings)?;
        if let Remote::Package { package, .. } = &remote
            && package.exact.is_none()
        {
            bail!("`{package}` names no exact version: delete `ns:name@1.2.3`, not a range");
        }
        let client = settings.client(Some(remote.registry()))?;
        let target = remote.resolve(&client).await?;
        let (what, deleted) = match (&target.digest, &target.tag) {
            (Some(d), _) => (
                format!(
                    "manifest {d} of {}/{} and every tag pointing at it",
                    target.registry, target.repository
                ),
                "manifest",
            ),
            (None, Some(t)) => (
                format!("tag {t} of {}/{}", target.registry, target.repository),
                "tag",
            ),
            (None, None) => bail!("`{}` names neither a tag nor a digest", self.reference),
        };
        if !self.yes {
            if !std::io::stdin().is_terminal() {
                bail!("refusing to delete the {what} without `--yes` (no terminal to ask on)");
            }
            eprint!("delete the {what}? [y/N] ");
            let mut answer = String::new();
            std::io::stdin()
                .read_line(&mut answer)
                .context("failed to read the answer")?;
            if !matches!(answer.trim(), "y" | "Y" | "yes") {
                eprintln!("nothing deleted");
                return Ok(ExitCode::FAILURE);
            }
        }
        match (&target.digest, &target.tag) {
            (Some(d), _) => client.delete_manifest(&target, d).await,
            (None, Some(t)) => client.delete_tag(&target, t).await,
            (None, None) => unreachable!("refused above"),
        }
        .with_context(|| format!("failed to delete the {what}"))?;
        if self.json {
            return print_json(&DeleteReport {
                reference: target.to_string(),
                deleted,
            });
        }
        eprintln!("deleted the {what}");
        Ok(ExitCode::SUCCESS)
    }
}
