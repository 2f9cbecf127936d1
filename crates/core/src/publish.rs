//! `publish`: the checks that decide whether a project's package may be published as its
//! `ns:name@version` (a component or WIT package, a version not published yet, WIT
//! changes that fit the semver step), then the push ([`crate::push_file`]) that `wharf
//! push` runs too.

use std::path::PathBuf;

use anyhow::{Context as _, bail};
use serde::Serialize;
use wharf_client::{Client, ClientError};
use wharf_component::{WasmKind, WitChange, wit_changes};
use wharf_oci::{ImageReference, PackageRef};

use crate::Warn;
use crate::cache::{BlobCache, fetch_layer_file};
use crate::project::Project;
use crate::push::{
    PushOptions, PushReport, blocking, hash_file, inspect_wasm_file, package_target, push_file,
};

/// What `publish` checked and decided, before anything is pushed.
#[derive(Debug)]
pub struct PublishPlan {
    /// `ns:name`.
    pub package: String,
    /// The version to publish.
    pub version: semver::Version,
    /// Where it goes (the package's repository, tagged with the version).
    pub target: ImageReference,
    /// The file pushed.
    pub file: PathBuf,
    /// `component` or `wit-package`.
    pub kind: &'static str,
    /// The highest earlier version it was compared with.
    pub previous: Option<semver::Version>,
    /// The WIT changes since `previous`.
    pub changes: Vec<WitChange>,
}

/// What `wharf publish` did or would do (`--json`).
#[derive(Debug, Serialize)]
pub struct PublishReport {
    /// `ns:name`.
    pub package: String,
    /// The version.
    pub version: String,
    /// Where it goes.
    pub reference: String,
    /// `component` or `wit-package`.
    pub kind: &'static str,
    /// The version compared with.
    pub previous: Option<String>,
    /// WIT changes since `previous`.
    pub changes: Vec<WitChange>,
    /// True when nothing was pushed.
    pub dry_run: bool,
    /// The push, unless a dry run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pushed: Option<PushReport>,
}

/// Whether going from `prev` to `new` is a major step (for 0.x, a minor one; for 0.0.x
/// any step), the step that may break consumers.
pub fn is_major_step(prev: &semver::Version, new: &semver::Version) -> bool {
    match (prev.major, prev.minor) {
        (0, 0) => true,
        (0, minor) => new.major > 0 || new.minor > minor,
        (major, _) => new.major > major,
    }
}

/// The next version that may break consumers of `prev`.
pub fn next_major(prev: &semver::Version) -> semver::Version {
    match prev.major {
        0 => semver::Version::new(0, prev.minor + 1, 0),
        major => semver::Version::new(major + 1, 0, 0),
    }
}

/// Check that `[package]` of `project` may be published on `registry`: the file is a
/// component or binary WIT package, its version is not published yet, and against the
/// highest earlier version (fetched through `cache`) its WIT changes fit the step (changes
/// that break consumers need a major version, 0.x a minor one). Additions in a patch
/// version and a version the file's metadata contradicts are reported through `warn`.
pub async fn plan(
    client: &Client,
    project: &Project,
    registry: &str,
    cache: &BlobCache,
    warn: Warn<'_>,
) -> anyhow::Result<PublishPlan> {
    let Some(package) = &project.package else {
        bail!(
            "`{}` has no [package] section: nothing to publish",
            project.root.join(crate::project::MANIFEST).display()
        );
    };
    let file = project.path(&package.file);
    // both versions are read as they stream, keeping only their reduced binaries (function
    // bodies and data left out), which hold all their WIT
    let (info, wasm) = inspect_wasm_file(&file).await?;
    if info.kind == WasmKind::CoreModule {
        bail!(
            "`{}` is a core module; publish a component (`wharf componentize`) or a WIT package",
            file.display()
        );
    }
    if let Some(v) = &info.metadata.version
        && v != &package.version.to_string()
    {
        warn(&format!(
            "`{}` says it is version {v}, wharf.toml says {}",
            file.display(),
            package.version
        ));
    }
    let pkg_ref: PackageRef = format!("{}@{}", package.name, package.version).parse()?;
    let target = package_target(client, registry, &pkg_ref).await?;
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
        .find(|v| **v < package.version && (v.pre.is_empty() || !package.version.pre.is_empty()))
        .cloned();
    let mut changes = Vec::new();
    if let Some(prev) = &previous {
        let prev_ref = ImageReference {
            tag: Some(prev.to_string().parse()?),
            ..target.clone()
        };
        let prev_wasm = previous_wasm(client, cache, &prev_ref)
            .await
            .with_context(|| format!("failed to fetch the previous version {prev_ref}"))?;
        changes = wit_changes(&prev_wasm, &wasm)
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
        if additions && prev.major == package.version.major && prev.minor == package.version.minor {
            warn(&format!(
                "{} {} adds to the WIT of {prev}; a minor version is expected",
                package.name, package.version
            ));
        }
    }
    Ok(PublishPlan {
        package: package.name.clone(),
        version: package.version.clone(),
        target,
        file,
        kind: info.kind.as_str(),
        previous,
        changes,
    })
}

/// The reduced binary of the wasm layer of `reference`, got into `cache` and read as it
/// streams; a cached file that does not hash to its digest is removed and refused.
async fn previous_wasm(
    client: &Client,
    cache: &BlobCache,
    reference: &ImageReference,
) -> anyhow::Result<Vec<u8>> {
    let (layer, path) = fetch_layer_file(client, cache, reference).await?;
    let inspected = inspect_wasm_file(&path).await;
    // a copy that fails to inspect is hashed on its own, so damage is named as damage
    let actual = match &inspected {
        Ok((info, _)) => info.digest.clone(),
        Err(_) => {
            let path = path.clone();
            blocking(move || hash_file(&path)).await?
        }
    };
    if actual != layer.digest {
        let _ = std::fs::remove_file(&path);
        return Err(crate::FetchError::CacheCorrupt {
            digest: layer.digest.to_string(),
            path: path.display().to_string(),
            actual: actual.to_string(),
        }
        .into());
    }
    Ok(inspected?.1)
}

impl PublishPlan {
    /// Carry the plan out (unless `dry_run`): push the file with `options` (signing, SBOM).
    pub async fn execute(
        self,
        client: &Client,
        options: Option<&PushOptions>,
        warn: Warn<'_>,
    ) -> anyhow::Result<PublishReport> {
        let pushed = match options {
            Some(options) => {
                Some(push_file(client, &self.target, &self.file, options, warn).await?)
            }
            None => None,
        };
        Ok(PublishReport {
            package: self.package,
            version: self.version.to_string(),
            reference: self.target.to_string(),
            kind: self.kind,
            previous: self.previous.as_ref().map(ToString::to_string),
            changes: self.changes,
            dry_run: pushed.is_none(),
            pushed,
        })
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
