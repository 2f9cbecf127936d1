//! Project commands over `wharf.toml`: `wharf lock`, `wharf fetch` and `wharf publish`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use wharf_core::lock::{fetch_locked, lock_project};
use wharf_core::project::Project;
use wharf_core::{BlobCache, PushOptions, SbomChoice, publish};

use super::print_json;
use crate::config::{GlobalArgs, signing_key};
use crate::output::warn;

/// `wharf lock`
#[derive(clap::Args)]
#[command(after_help = "\
Resolves every dependency in wharf.toml and records version, registry, repository and
manifest digest in wharf.lock. Entries whose requirement and registry are unchanged keep
their pinned version (as cargo does); --update re-resolves everything. With --locked
nothing is written: the command fails, listing the differences, when the lock file is
missing or would change.

Examples:
  wharf lock
  wharf lock --locked          # in CI
  wharf lock --update")]
pub struct LockArgs {
    /// The project: wharf.toml or its directory.
    #[arg(long, default_value = ".")]
    manifest_path: PathBuf,
    /// Fail instead of writing when the lock file is missing or would change.
    #[arg(long)]
    locked: bool,
    /// Re-resolve every dependency to the newest matching version.
    #[arg(long, conflicts_with = "locked")]
    update: bool,
}

/// `wharf fetch`
#[derive(clap::Args)]
#[command(after_help = "\
Locks as `wharf lock` does, then pulls every dependency by its pinned digest (never by tag)
into DIR as <ns>-<name>-<version>.wasm, each digest verified.

Examples:
  wharf fetch --locked -o deps/")]
pub struct FetchArgs {
    /// The project: wharf.toml or its directory.
    #[arg(long, default_value = ".")]
    manifest_path: PathBuf,
    /// Fail instead of updating wharf.lock when it is missing or would change.
    #[arg(long)]
    locked: bool,
    /// Where to write the packages.
    #[arg(short, long, default_value = "deps")]
    output: PathBuf,
}

/// `wharf publish`
#[derive(clap::Args)]
#[command(after_help = "\
Checks, then pushes [package] of wharf.toml as ns:name@version:
  - the file is a component or a binary WIT package;
  - the version is not published yet;
  - against the highest earlier version: WIT changes that break consumers (removed or
    changed functions and types, new imports of a component) need a major version
    (for 0.x: a minor one);
  - signs with [publish] key or --key, attaches the SBOM ([publish] sbom, default auto).
--dry-run runs every check and prints the plan without pushing.

Examples:
  wharf publish --dry-run
  wharf publish --registry localhost:5000 --key release.key")]
pub struct PublishArgs {
    /// The project: wharf.toml or its directory.
    #[arg(long, default_value = ".")]
    manifest_path: PathBuf,
    /// Check everything, push nothing.
    #[arg(long)]
    dry_run: bool,
    /// Private key to sign with (overrides [publish] key).
    #[arg(long)]
    key: Option<PathBuf>,
    /// `auto`, `none` or a CycloneDX file (overrides [publish] sbom).
    #[arg(long, value_name = "auto|none|PATH")]
    sbom: Option<String>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

impl LockArgs {
    /// Run the subcommand.
    pub async fn run(self, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
        let project = Project::load(&self.manifest_path)?;
        let settings = global.settings()?;
        let locked = lock_project(
            &project,
            &settings,
            settings.registry.as_deref(),
            self.locked,
            self.update,
        )
        .await?;
        for c in &locked.changes {
            eprintln!("{c}");
        }
        eprintln!(
            "{} {} dependencies in {}",
            if self.locked { "checked" } else { "locked" },
            locked.lock.packages.len(),
            project.lock_path().display()
        );
        Ok(ExitCode::SUCCESS)
    }
}

impl FetchArgs {
    /// Run the subcommand.
    pub async fn run(self, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
        let project = Project::load(&self.manifest_path)?;
        let settings = global.settings()?;
        let locked = lock_project(
            &project,
            &settings,
            settings.registry.as_deref(),
            self.locked,
            false,
        )
        .await?;
        for c in &locked.changes {
            eprintln!("{c}");
        }
        let cache = BlobCache::new(&settings.cache_dir);
        for file in fetch_locked(&locked.lock, &settings, &cache, &self.output).await? {
            outln!("{}", file.display());
        }
        Ok(ExitCode::SUCCESS)
    }
}

impl PublishArgs {
    /// Run the subcommand.
    pub async fn run(self, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
        let project = Project::load(&self.manifest_path)?;
        let settings = global.settings()?;
        let registry = settings
            .registry
            .clone()
            .or_else(|| project.package.as_ref().and_then(|p| p.registry.clone()))
            .context(
                "no registry: set [package] registry in wharf.toml, --registry or WHARF_REGISTRY",
            )?;
        // the key and the SBOM choice are checked before anything is asked of the registry
        let key_path = self
            .key
            .clone()
            .or_else(|| project.publish.key.as_ref().map(|k| project.path(k)));
        let key = key_path.as_deref().map(signing_key).transpose()?;
        let sbom = match SbomChoice::parse(
            self.sbom
                .as_deref()
                .or(project.publish.sbom.as_deref())
                .unwrap_or("auto"),
        ) {
            SbomChoice::File(p) if p.is_relative() && self.sbom.is_none() => {
                SbomChoice::File(project.path(&p))
            }
            other => other,
        };
        let client = settings.client(Some(&registry))?;
        let cache = BlobCache::new(&settings.cache_dir);
        let plan = publish::plan(&client, &project, &registry, &cache, &warn).await?;
        let options = PushOptions {
            key,
            sbom,
            ..PushOptions::default()
        };
        let report = plan
            .execute(&client, (!self.dry_run).then_some(&options), &warn)
            .await?;
        if self.json {
            return print_json(&report);
        }
        match &report.previous {
            Some(p) if report.changes.is_empty() => {
                eprintln!("WIT unchanged since {p}")
            }
            Some(p) => {
                eprintln!("WIT changes since {p}:");
                for c in &report.changes {
                    eprintln!("  {c}{}", if c.breaking { " [breaking]" } else { "" });
                }
            }
            None => eprintln!("first version of {}", report.package),
        }
        match &report.pushed {
            None => eprintln!(
                "dry run: would publish {} {} to {}",
                report.package, report.version, report.reference
            ),
            Some(pushed) => {
                eprintln!(
                    "published {} {} to {}",
                    report.package, report.version, report.reference
                );
                outln!("{}", pushed.digest);
            }
        }
        Ok(ExitCode::SUCCESS)
    }
}
