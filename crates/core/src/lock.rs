//! Locking a project's dependencies by digest (`wharf.lock`) and fetching them by the
//! pinned digest, never by tag.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use wharf_oci::{ImageReference, RepositoryName};

use crate::Clients;
use crate::cache::{BlobCache, fetch_package};
use crate::project::{LockFile, LockedPackage, Project};
use crate::remote::Remote;

/// One line per difference between two lock files: `add …`, `update … -> …`, `remove …`.
pub fn lock_changes(old: Option<&LockFile>, new: &LockFile) -> Vec<String> {
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

/// Resolve the project's dependencies (each on its registry, `default_registry` when the
/// dependency names none); entries of `existing` whose requirement and registry are
/// unchanged keep their pin unless `update` (as cargo does).
pub async fn resolve(
    project: &Project,
    clients: &dyn Clients,
    default_registry: Option<&str>,
    existing: Option<&LockFile>,
    update: bool,
) -> anyhow::Result<LockFile> {
    let mut lock = LockFile {
        version: 1,
        packages: Vec::new(),
        // WIT dependencies are `wharf wit fetch`'s: kept as they are
        wit: existing.map(|l| l.wit.clone()).unwrap_or_default(),
    };
    for (name, dep) in &project.dependencies {
        let registry = project.registry_for(dep, default_registry)?;
        if !update
            && let Some(kept) = existing
                .and_then(|l| l.get(name))
                .filter(|l| l.requirement == dep.requirement() && l.registry == registry)
        {
            lock.packages.push(kept.clone());
            continue;
        }
        let package = project.dependency_ref(name, dep)?;
        let client = clients.client(&registry)?;
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

/// The lock in force after [`lock_project`], and what changed in the file.
#[derive(Debug)]
pub struct Locked {
    /// The lock.
    pub lock: LockFile,
    /// What changed ([`lock_changes`]); written to the file unless `locked`.
    pub changes: Vec<String>,
}

/// Lock the project: resolve, then write `wharf.lock` when it is missing or changed. With
/// `locked` nothing is written and a missing or out-of-date lock file is an error listing
/// the differences.
pub async fn lock_project(
    project: &Project,
    clients: &dyn Clients,
    default_registry: Option<&str>,
    locked: bool,
    update: bool,
) -> anyhow::Result<Locked> {
    let path = project.lock_path();
    let existing = LockFile::load(&path)?;
    let lock = resolve(
        project,
        clients,
        default_registry,
        existing.as_ref(),
        update,
    )
    .await?;
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
        return Ok(Locked { lock, changes });
    }
    if existing.is_none() || !changes.is_empty() {
        write_atomically(&path, lock.to_text()?.as_bytes())?;
    }
    Ok(Locked { lock, changes })
}

/// Fetch every locked package by its pinned digest (never by tag) through `cache` into
/// `dir` as `<ns>-<name>-<version>.wasm`, each digest verified. Returns the files written.
pub async fn fetch_locked(
    lock: &LockFile,
    clients: &dyn Clients,
    cache: &BlobCache,
    dir: &Path,
) -> anyhow::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("failed to create `{}`", dir.display()))?;
    let mut written = Vec::new();
    for p in &lock.packages {
        let (registry, repository) = p
            .repository
            .split_once('/')
            .with_context(|| format!("lock entry {}: bad repository `{}`", p.name, p.repository))?;
        let target = ImageReference {
            registry: registry.to_owned(),
            repository: repository.parse::<RepositoryName>()?,
            tag: None,
            digest: Some(p.digest.clone()),
        };
        let client = clients.client(registry)?;
        let fetched = fetch_package(&client, cache, &target)
            .await
            .with_context(|| format!("failed to fetch {} {} ({target})", p.name, p.version))?;
        let file = dir.join(format!("{}-{}.wasm", p.name.replace(':', "-"), p.version));
        write_atomically(&file, &fetched.wasm)?;
        written.push(file);
    }
    Ok(written)
}

/// The pin `lock` holds for `remote` when it is a package name whose version the pin
/// satisfies: the remote by the pinned repository and digest, so it is fetched as locked
/// (as `wharf fetch` does) rather than resolved again. Image references and packages the
/// lock does not pin are returned as they are.
pub fn pinned(lock: Option<&LockFile>, remote: Remote) -> Remote {
    let Remote::Package { package, .. } = &remote else {
        return remote;
    };
    let name = package.package_name();
    let Some(pin) = lock.into_iter().flat_map(|l| &l.packages).find(|p| {
        p.name == name
            && package
                .version
                .as_ref()
                .is_none_or(|req| req.matches(&p.version))
    }) else {
        return remote;
    };
    let Some((registry, repository)) = pin.repository.split_once('/') else {
        return remote;
    };
    let Ok(repository) = repository.parse::<RepositoryName>() else {
        return remote;
    };
    Remote::Image(ImageReference {
        registry: registry.to_owned(),
        repository,
        tag: None,
        digest: Some(pin.digest.clone()),
    })
}

/// Write `bytes` to `path` through a temporary file in the same directory and a rename,
/// so a crash never leaves half a file; the file gets mode 0666 less the umask.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = wharf_client::output_file_builder(".wharf-partial-")
        .tempfile_in(dir)
        .with_context(|| format!("failed to create a temporary file in `{}`", dir.display()))?;
    std::io::Write::write_all(&mut tmp, bytes)
        .with_context(|| format!("failed to write `{}`", path.display()))?;
    tmp.persist(path)
        .with_context(|| format!("failed to write `{}`", path.display()))?;
    Ok(())
}
