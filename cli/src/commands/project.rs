//! Project commands over `wharf.toml`: `wharf lock`, `wharf fetch` and `wharf publish`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use serde::Serialize;
use wharf_client::ClientError;
use wharf_component::{WasmKind, WitChange, inspect, wit_changes};
use wharf_oci::{ImageReference, PackageRef, RepositoryName};
use wharf_runtime::{BlobCache, fetch_package};

use super::print_json;
use super::push::{PushOptions, PushReport, SbomChoice, package_target, push_file};
use super::sign::SigningKey;
use crate::config::{GlobalArgs, Settings};
use crate::project::{LockFile, LockedPackage, MANIFEST, Project};
use crate::target::read_input;

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

/// One line of difference between two lock files.
fn lock_changes(old: Option<&LockFile>, new: &LockFile) -> Vec<String> {
    let empty = LockFile::default();
    let old = old.unwrap_or(&empty);
    let mut changes = Vec::new();
    for p in &new.packages {
        match old.get(&p.name) {
            None => changes.push(format!("add {} {} ({})", p.name, p.version, p.digest)),
            Some(o) if o != p => changes.push(format!(
                "update {} {} ({}) -> {} ({})",
                p.name, o.version, o.digest, p.version, p.digest
            )),
            Some(_) => {}
        }
    }
    for o in old.packages.iter().filter(|o| new.get(&o.name).is_none()) {
        changes.push(format!("remove {} {}", o.name, o.version));
    }
    changes
}

/// Resolve the project's dependencies; unchanged entries of `existing` are kept unless
/// `update`.
async fn resolve(
    project: &Project,
    settings: &Settings,
    existing: Option<&LockFile>,
    update: bool,
) -> anyhow::Result<LockFile> {
    let mut lock = LockFile {
        version: 1,
        packages: Vec::new(),
    };
    for (name, dep) in &project.dependencies {
        let registry = project.registry_for(dep, settings.registry.as_deref())?;
        if !update
            && let Some(kept) = existing
                .and_then(|l| l.get(name))
                .filter(|l| l.requirement == dep.requirement() && l.registry == registry)
        {
            lock.packages.push(kept.clone());
            continue;
        }
        let package = project.dependency_ref(name, dep)?;
        let client = settings.client(Some(&registry))?;
        let target = client
            .resolve_package(&registry, &package)
            .await
            .with_context(|| format!("failed to resolve dependency {package} on {registry}"))?;
        let manifest = client
            .pull_manifest(&target)
            .await
            .with_context(|| format!("failed to resolve {target}"))?;
        let version = target
            .tag
            .as_ref()
            .and_then(|t| t.semver())
            .with_context(|| format!("{target} has no semver tag"))?;
        lock.packages.push(LockedPackage {
            name: name.clone(),
            requirement: dep.requirement().to_owned(),
            version,
            registry,
            repository: format!("{}/{}", target.registry, target.repository),
            digest: manifest.digest,
        });
    }
    Ok(lock)
}

/// Lock (or check the lock with `locked`); returns the lock in force.
async fn lock_project(
    project: &Project,
    settings: &Settings,
    locked: bool,
    update: bool,
) -> anyhow::Result<LockFile> {
    let path = project.lock_path();
    let existing = LockFile::load(&path)?;
    let lock = resolve(project, settings, existing.as_ref(), update).await?;
    let changes = lock_changes(existing.as_ref(), &lock);
    if locked {
        if existing.is_none() {
            bail!(
                "`{}` does not exist and --locked forbids creating it; run `wharf lock`",
                path.display()
            );
        }
        if !changes.is_empty() {
            bail!(
                "`{}` is out of date and --locked forbids changing it:\n  {}",
                path.display(),
                changes.join("\n  ")
            );
        }
        return Ok(lock);
    }
    if existing.is_none() || !changes.is_empty() {
        write_atomically(&path, lock.to_text()?.as_bytes())?;
    }
    for c in &changes {
        eprintln!("{c}");
    }
    Ok(lock)
}

/// Write `bytes` to `path` through a temporary file in the same directory and a rename,
/// so a crash never leaves half a file.
fn write_atomically(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("failed to create a temporary file in `{}`", dir.display()))?;
    std::io::Write::write_all(&mut tmp, bytes)
        .with_context(|| format!("failed to write `{}`", path.display()))?;
    tmp.persist(path)
        .with_context(|| format!("failed to write `{}`", path.display()))?;
    Ok(())
}

impl LockArgs {
    /// Run the subcommand.
    pub async fn run(self, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
        let project = Project::load(&self.manifest_path)?;
        let settings = global.settings()?;
        let lock = lock_project(&project, &settings, self.locked, self.update).await?;
        eprintln!(
            "{} {} dependencies in {}",
            if self.locked { "checked" } else { "locked" },
            lock.packages.len(),
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
        let lock = lock_project(&project, &settings, self.locked, false).await?;
        std::fs::create_dir_all(&self.output)
            .with_context(|| format!("failed to create `{}`", self.output.display()))?;
        let cache = BlobCache::new(&settings.cache_dir);
        for p in &lock.packages {
            let (registry, repository) = p.repository.split_once('/').with_context(|| {
                format!("lock entry {}: bad repository `{}`", p.name, p.repository)
            })?;
            let target = ImageReference {
                registry: registry.to_owned(),
                repository: repository.parse::<RepositoryName>()?,
                tag: None,
                digest: Some(p.digest.clone()),
            };
            let client = settings.client(Some(registry))?;
            let fetched = fetch_package(&client, &cache, &target)
                .await
                .with_context(|| format!("failed to fetch {} {} ({target})", p.name, p.version))?;
            let file = self
                .output
                .join(format!("{}-{}.wasm", p.name.replace(':', "-"), p.version));
            write_atomically(&file, &fetched.wasm)?;
            outln!("{}", file.display());
        }
        Ok(ExitCode::SUCCESS)
    }
}

/// What `wharf publish` did or would do.
#[derive(Serialize)]
struct PublishReport {
    package: String,
    version: String,
    reference: String,
    kind: &'static str,
    previous: Option<String>,
    changes: Vec<WitChange>,
    dry_run: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pushed: Option<PushReport>,
}

/// Whether going from `prev` to `new` is a major step (for 0.x, a minor one; for 0.0.x
/// any step), the step that may break consumers.
fn is_major_step(prev: &semver::Version, new: &semver::Version) -> bool {
    match (prev.major, prev.minor) {
        (0, 0) => true,
        (0, minor) => new.major > 0 || new.minor > minor,
        (major, _) => new.major > major,
    }
}

/// The next version that may break consumers of `prev`.
fn next_major(prev: &semver::Version) -> semver::Version {
    match prev.major {
        0 => semver::Version::new(0, prev.minor + 1, 0),
        major => semver::Version::new(major + 1, 0, 0),
    }
}

impl PublishArgs {
    /// Run the subcommand.
    pub async fn run(self, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
        let project = Project::load(&self.manifest_path)?;
        let Some(package) = &project.package else {
            bail!(
                "`{}` has no [package] section: nothing to publish",
                self.manifest_path.join(MANIFEST).display()
            );
        };
        let settings = global.settings()?;
        let registry = settings
            .registry
            .clone()
            .or_else(|| package.registry.clone())
            .context(
                "no registry: set [package] registry in wharf.toml, --registry or WHARF_REGISTRY",
            )?;
        let file = project.path(&package.file);
        let bytes = read_input(&file)?;
        let info = inspect(&bytes, &file.display().to_string())?;
        if info.kind == WasmKind::CoreModule {
            bail!(
                "`{}` is a core module; publish a component (`wharf componentize`) or a WIT package",
                file.display()
            );
        }
        if let Some(v) = &info.metadata.version
            && v != &package.version.to_string()
        {
            eprintln!(
                "warning: `{}` says it is version {v}, wharf.toml says {}",
                file.display(),
                package.version
            );
        }
        let key_path = self
            .key
            .clone()
            .or_else(|| project.publish.key.as_ref().map(|k| project.path(k)));
        let key = key_path.as_deref().map(SigningKey::load).transpose()?;
        let sbom = SbomChoice::parse(
            self.sbom
                .as_deref()
                .or(project.publish.sbom.as_deref())
                .unwrap_or("auto"),
        );
        let sbom = match sbom {
            SbomChoice::File(p) if p.is_relative() && self.sbom.is_none() => {
                SbomChoice::File(project.path(&p))
            }
            other => other,
        };

        let pkg_ref: PackageRef = format!("{}@{}", package.name, package.version).parse()?;
        let client = settings.client(Some(&registry))?;
        let target = package_target(&client, &registry, &pkg_ref).await?;
        let published = match client.tags(&target.registry, &target.repository).await {
            Ok(tags) => tags,
            Err(ClientError::Status { status: 404, .. }) => Vec::new(),
            Err(e) => return Err(e).context("failed to list the published versions"),
        };
        let mut versions: Vec<semver::Version> = published
            .iter()
            .filter_map(|t| semver::Version::parse(t).ok())
            .collect();
        versions.sort();
        if versions.contains(&package.version) {
            bail!(
                "{} {} is already published ({target}); versions are immutable, bump the version in wharf.toml",
                package.name,
                package.version
            );
        }
        let previous = versions
            .iter()
            .rev()
            .find(|v| {
                **v < package.version && (v.pre.is_empty() || !package.version.pre.is_empty())
            })
            .cloned();
        let mut changes = Vec::new();
        if let Some(prev) = &previous {
            let prev_ref = ImageReference {
                tag: Some(prev.to_string().parse()?),
                ..target.clone()
            };
            let cache = BlobCache::new(&settings.cache_dir);
            let fetched = fetch_package(&client, &cache, &prev_ref)
                .await
                .with_context(|| format!("failed to fetch the previous version {prev_ref}"))?;
            changes = wit_changes(&fetched.wasm, &bytes)
                .with_context(|| format!("cannot compare with the previous version {prev}"))?;
            let breaking: Vec<String> = changes
                .iter()
                .filter(|c| c.breaking)
                .map(ToString::to_string)
                .collect();
            if !breaking.is_empty() && !is_major_step(prev, &package.version) {
                bail!(
                    "{} {} breaks consumers of {prev} and needs version {} or later:\n  {}",
                    package.name,
                    package.version,
                    next_major(prev),
                    breaking.join("\n  ")
                );
            }
            let additions = changes.iter().any(|c| !c.breaking);
            if additions
                && prev.major == package.version.major
                && prev.minor == package.version.minor
            {
                eprintln!(
                    "warning: {} {} adds to the WIT of {prev}; a minor version is expected",
                    package.name, package.version
                );
            }
        }
        drop(bytes);
        let mut report = PublishReport {
            package: package.name.clone(),
            version: package.version.to_string(),
            reference: target.to_string(),
            kind: info.kind.as_str(),
            previous: previous.as_ref().map(ToString::to_string),
            changes,
            dry_run: self.dry_run,
            pushed: None,
        };
        if !self.dry_run {
            let options = PushOptions {
                annotations: Default::default(),
                key,
                sbom,
            };
            report.pushed = Some(push_file(&client, &target, &file, &options).await?);
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn major_steps() {
        let v = |s: &str| semver::Version::parse(s).unwrap();
        assert!(is_major_step(&v("1.2.3"), &v("2.0.0")));
        assert!(!is_major_step(&v("1.2.3"), &v("1.3.0")));
        assert!(is_major_step(&v("0.2.3"), &v("0.3.0")));
        assert!(!is_major_step(&v("0.2.3"), &v("0.2.4")));
        assert!(is_major_step(&v("0.0.3"), &v("0.0.4")));
        assert_eq!(next_major(&v("0.2.3")), v("0.3.0"));
        assert_eq!(next_major(&v("1.2.3")), v("2.0.0"));
    }
}
