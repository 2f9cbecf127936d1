//! `wharf wit fetch`: the WIT packages a WIT directory uses that its `deps/` lacks,
//! resolved from a registry (package names through its discovery document; WIT packages
//! pushed as Wasm artifacts), fetched through the verified fetch (trust policy, digests),
//! and written into `deps/` in the layout `wkg wit fetch` writes
//! (`deps/<ns>-<name>-<version>/package.wit`), pinned in the lock file by manifest digest.
//!
//! The packages a fetched package uses in turn are fetched the same way. Where the registry
//! has no such package, the part of it the fetched binary carries (what it uses) is written
//! instead, with a warning, unpinned: that is all `wkg wit fetch` ever writes for them.

use std::collections::{BTreeSet, VecDeque};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use serde::Serialize;
use wharf_client::ClientError;
use wharf_oci::{Digest, ImageReference, PackageRef};

use crate::cache::BlobCache;
use crate::project::{LockFile, LockedPackage};
use crate::remote::Remote;
use crate::trust::{TrustPolicy, Verification};
use crate::{Clients, Warn};

/// Where and how [`fetch_wit_deps`] fetches.
pub struct WitFetch<'a> {
    /// Clients per registry.
    pub clients: &'a dyn Clients,
    /// The registry package names resolve on (`host[:port]`).
    pub registry: &'a str,
    /// The trust policy checked on every package's manifest digest.
    pub policy: &'a TrustPolicy,
    /// How signatures are checked.
    pub mode: Verification,
    /// The blob cache.
    pub cache: &'a BlobCache,
    /// The lock file as it is (its `wit` entries pin what they name).
    pub lock: Option<&'a LockFile>,
    /// Refuse to change the lock: every package must be pinned there.
    pub locked: bool,
}

/// One package written into `deps/`.
#[derive(Clone, Debug, Serialize)]
pub struct FetchedWit {
    /// `ns:name@version`.
    pub package: String,
    /// The directory written, `deps/<ns>-<name>-<version>`.
    pub path: PathBuf,
    /// The reference it was fetched from, pinned to its digest; `None` for a package
    /// written from what another package's binary carries.
    pub reference: Option<String>,
    /// The manifest digest.
    pub digest: Option<Digest>,
}

/// What [`fetch_wit_deps`] did.
#[derive(Clone, Debug, Serialize)]
pub struct WitFetchReport {
    /// Packages written.
    pub fetched: Vec<FetchedWit>,
    /// Packages `deps/` provided already.
    pub present: Vec<String>,
    /// The lock's `wit` entries after the fetch.
    #[serde(skip)]
    pub locked: Vec<LockedPackage>,
}

/// Fetch what the WIT package at `dir` uses and `dir/deps/` lacks (see the module docs).
///
/// # Errors
/// The WIT does not parse; a package used directly is not in the registry; a fetched
/// artifact is not a binary WIT package or names another package; the trust policy
/// refuses a package; with `locked`, a package the lock does not pin.
pub async fn fetch_wit_deps(
    dir: &Path,
    how: &WitFetch<'_>,
    warn: Warn<'_>,
) -> anyhow::Result<WitFetchReport> {
    let used = wharf_component::foreign_packages(dir)?;
    let mut provided = wharf_component::provided_packages(dir)?;
    let mut report = WitFetchReport {
        fetched: Vec::new(),
        present: used
            .iter()
            .filter(|n| provided.contains(*n))
            .cloned()
            .collect(),
        locked: Vec::new(),
    };
    // (package, text carried by the package that uses it, when it is not a direct use)
    let mut queue: VecDeque<(String, Option<String>)> = used
        .into_iter()
        .filter(|n| !provided.contains(n))
        .map(|n| (n, None))
        .collect();
    let mut seen: BTreeSet<String> = queue.iter().map(|(n, _)| n.clone()).collect();
    // written only once every package is fetched: a failure leaves deps/ as it was
    let mut pending: Vec<(PathBuf, String)> = Vec::new();
    while let Some((name, carried)) = queue.pop_front() {
        let target = dir.join("deps").join(wharf_component::deps_dir_name(&name));
        let decoded = match fetch_one(&name, how, warn).await {
            Ok((decoded, reference, entry)) => {
                report.fetched.push(FetchedWit {
                    package: name.clone(),
                    path: target.clone(),
                    reference: Some(reference),
                    digest: Some(entry.digest.clone()),
                });
                report.locked.push(entry);
                pending.push((target.clone(), decoded.text.clone()));
                decoded
            }
            Err(e) => match (carried, is_not_found(&e)) {
                (Some(text), true) => {
                    warn(&format!(
                        "{name} is not in {}: wrote the part of it the package using it carries (unpinned)",
                        how.registry
                    ));
                    report.fetched.push(FetchedWit {
                        package: name.clone(),
                        path: target.clone(),
                        reference: None,
                        digest: None,
                    });
                    pending.push((target.clone(), text));
                    provided.insert(name.clone());
                    continue;
                }
                _ => return Err(e),
            },
        };
        provided.insert(name.clone());
        for (dep, text) in decoded.uses {
            if !provided.contains(&dep) && seen.insert(dep.clone()) {
                queue.push_back((dep, Some(text)));
            }
        }
    }
    // pins of packages that were present stay
    if let Some(lock) = how.lock {
        for kept in &lock.wit {
            let full = format!("{}@{}", kept.name, kept.version);
            if provided.contains(&full)
                && !report
                    .locked
                    .iter()
                    .any(|l| l.name == kept.name && l.requirement == kept.requirement)
            {
                report.locked.push(kept.clone());
            }
        }
    }
    report
        .locked
        .sort_by(|a, b| (&a.name, &a.requirement).cmp(&(&b.name, &b.requirement)));
    for (target, text) in &pending {
        write_package(target, text)?;
    }
    // what was written must resolve; if not, it is taken out again
    if let Err(e) = wharf_component::load_wit(dir) {
        for (target, _) in &pending {
            let _ = std::fs::remove_dir_all(target);
        }
        return Err(anyhow::Error::new(e).context(format!(
            "`{}` does not resolve with the fetched packages",
            dir.display()
        )));
    }
    Ok(report)
}

fn is_not_found(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        matches!(
            c.downcast_ref::<ClientError>(),
            Some(ClientError::Status { status: 404, .. })
        )
    })
}

fn write_package(dir: &Path, text: &str) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("failed to create `{}`", dir.display()))?;
    crate::lock::write_atomically(&dir.join("package.wit"), text.as_bytes())
}

/// Fetch package `name` (`ns:name@version`): by its pin when the lock has one, else
/// resolved on the registry. Returns the decoded package, the pinned reference and its
/// lock entry.
async fn fetch_one(
    name: &str,
    how: &WitFetch<'_>,
    warn: Warn<'_>,
) -> anyhow::Result<(wharf_component::DecodedWitPackage, String, LockedPackage)> {
    let package: PackageRef = name
        .parse()
        .with_context(|| format!("`{name}` is not a package name wharf can look up"))?;
    let bare = package.package_name();
    let requirement = package
        .exact
        .as_ref()
        .map(ToString::to_string)
        .unwrap_or_else(|| "*".to_owned());
    let pinned = how.lock.and_then(|l| l.get_wit(&bare, &requirement));
    let (remote, registry) = match pinned {
        Some(p) => {
            let reference = ImageReference::parse(&format!("{}@{}", p.repository, p.digest), None)
                .with_context(|| {
                    format!("the lock's entry for {name} names no valid repository")
                })?;
            (Remote::Image(reference), p.registry.clone())
        }
        None if how.locked => bail!(
            "the lock file does not pin {name}, and --locked forbids changing it: run `wharf wit fetch` without --locked"
        ),
        None => {
            let client = how.clients.client(how.registry)?;
            let target = client
                .resolve_package(how.registry, &package)
                .await
                .with_context(|| format!("failed to resolve {name} on {}", how.registry))?;
            (Remote::Image(target), how.registry.to_owned())
        }
    };
    let client = how.clients.client(remote.registry())?;
    let fetched =
        crate::fetch_verified(&client, &remote, how.policy, how.mode, how.cache, warn).await?;
    let what = fetched.reference.to_string();
    let decoded = wharf_component::decode_wit_package(&fetched.package.wasm, &what)?;
    if decoded.name != name {
        bail!("{what} holds WIT package {}, not {name}", decoded.name);
    }
    let version = fetched
        .reference
        .tag
        .as_ref()
        .and_then(|t| t.semver())
        .or_else(|| pinned.map(|p| p.version.clone()))
        .or_else(|| package.exact.clone())
        .with_context(|| format!("{what} has no version"))?;
    let digest = fetched.package.manifest_digest.clone();
    let entry = LockedPackage {
        name: bare,
        requirement,
        version,
        registry,
        repository: format!(
            "{}/{}",
            fetched.reference.registry, fetched.reference.repository
        ),
        digest: digest.clone(),
    };
    let pinned_ref = match &fetched.reference.digest {
        Some(_) => what,
        None => format!("{}@{digest}", fetched.reference),
    };
    Ok((decoded, pinned_ref, entry))
}
