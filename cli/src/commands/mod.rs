//! One file per subcommand; each parses its flags and calls the library crates.

pub mod bindgen;
pub mod componentize;
pub mod compose;
pub mod copy;
pub mod delete;
pub mod inspect;
pub mod log;
pub mod login;
pub mod policy;
pub mod project;
pub mod pull;
pub mod push;
pub mod run;
pub mod sbom;
pub mod search;
pub mod serve;
pub mod sign;
pub mod tags;
pub mod wit;
pub mod yank;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::bail;
use wharf_core::project::LockFile;

use crate::config::Settings;
use crate::output::warn;

/// Print `value` as pretty JSON on stdout.
pub fn print_json(value: &impl serde::Serialize) -> anyhow::Result<ExitCode> {
    outln!("{}", serde_json::to_string_pretty(value)?);
    Ok(ExitCode::SUCCESS)
}

/// Where the pins of fetched WIT packages are kept.
#[derive(Clone, Debug, clap::Args)]
pub struct FetchLock {
    /// Lock file (default: `wharf.lock` beside the WIT directory).
    #[arg(long = "lock", value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Fail rather than change the lock file: every package must be pinned there.
    #[arg(long)]
    pub locked: bool,
}

/// `wharf wit fetch` for `dir`; prints what it wrote unless `quiet`.
pub async fn fetch_deps(
    dir: &Path,
    lock: &FetchLock,
    settings: &Settings,
    quiet: bool,
) -> anyhow::Result<wharf_core::WitFetchReport> {
    let lock_path = lock.file.clone().unwrap_or_else(|| {
        std::fs::canonicalize(dir)
            .ok()
            .and_then(|d| d.parent().map(Path::to_path_buf))
            .unwrap_or_else(|| PathBuf::from("."))
            .join("wharf.lock")
    });
    let existing = LockFile::load(&lock_path)?;
    let registry = settings.registry.clone().unwrap_or_default();
    let how = wharf_core::WitFetch {
        clients: settings,
        registry: &registry,
        policy: &settings.trust,
        mode: wharf_core::Verification::Policy,
        cache: &wharf_core::BlobCache::new(&settings.cache_dir),
        lock: existing.as_ref(),
        locked: lock.locked,
    };
    let needed = wharf_component::foreign_packages(dir)?;
    let provided = wharf_component::provided_packages(dir)?;
    // with --locked the pins say where each package is
    if registry.is_empty() && !lock.locked && needed.iter().any(|n| !provided.contains(n)) {
        bail!(
            "`{}` uses packages its deps/ lacks; name the registry to fetch them from with --registry (or WHARF_REGISTRY)",
            dir.display()
        );
    }
    let report = wharf_core::fetch_wit_deps(dir, &how, &warn).await?;
    let mut new = existing.clone().unwrap_or(LockFile {
        version: 1,
        ..LockFile::default()
    });
    new.wit = report.locked.clone();
    if existing.as_ref() != Some(&new) && !(existing.is_none() && new.wit.is_empty()) {
        if lock.locked {
            bail!(
                "`{}` would change and --locked forbids it",
                lock_path.display()
            );
        }
        wharf_core::lock::write_atomically(&lock_path, new.to_text()?.as_bytes())?;
    }
    if !quiet {
        for f in &report.fetched {
            eprintln!(
                "fetched {} -> {}{}",
                f.package,
                f.path.display(),
                f.reference
                    .as_ref()
                    .map(|r| format!(" ({r})"))
                    .unwrap_or_else(|| " (carried, unpinned)".into())
            );
        }
        if report.fetched.is_empty() {
            eprintln!("{}: every package it uses is in deps/", dir.display());
        }
    }
    Ok(report)
}
