//! A project's `wharf.toml` (what it publishes and what it depends on) and its
//! `wharf.lock` (what those dependencies resolved to).
//!
//! ```toml
//! [package]
//! name = "demo:greeter"          # WIT package name, ns:name
//! version = "0.2.0"
//! file = "target/wasm32-wasip2/release/greeter.wasm"
//! registry = "localhost:5000"    # optional; --registry wins
//!
//! [publish]
//! key = "release.key"            # optional: sign with it
//! sbom = "auto"                  # auto (default), none, or a CycloneDX file
//!
//! [dependencies]
//! "demo:logger" = "^1.2"
//! "wasi:http" = { version = "0.2", registry = "wasi.example" }
//! ```
//!
//! The lock file is TOML too, written by `wharf lock`, sorted by name so diffs stay small.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use serde::{Deserialize, Serialize};
use wharf_oci::{Digest, PackageRef};

/// File name of the project manifest.
pub const MANIFEST: &str = "wharf.toml";
/// File name of the lock file, beside the manifest.
pub const LOCK: &str = "wharf.lock";

/// `wharf.toml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Project {
    /// What this project publishes, if anything.
    pub package: Option<PackageSection>,
    /// How `wharf publish` signs and describes it.
    #[serde(default)]
    pub publish: PublishSection,
    /// Package name (`ns:name`) → version requirement.
    #[serde(default)]
    pub dependencies: BTreeMap<String, Dependency>,
    /// The directory holding `wharf.toml` (paths in it are relative to this).
    #[serde(skip)]
    pub root: PathBuf,
}

/// `[package]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PackageSection {
    /// `ns:name`.
    pub name: String,
    /// Semver version to publish.
    pub version: semver::Version,
    /// The component or binary WIT package to publish.
    pub file: PathBuf,
    /// Registry to publish to.
    pub registry: Option<String>,
}

/// `[publish]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublishSection {
    /// Private key to sign with.
    pub key: Option<PathBuf>,
    /// `auto`, `none` or a path; default `auto`.
    pub sbom: Option<String>,
}

/// A dependency: a version requirement, or a table with one and a registry.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Dependency {
    /// `"^1.2"`.
    Requirement(String),
    /// `{ version = "^1.2", registry = "host:port" }`.
    Detailed {
        /// Version requirement.
        version: String,
        /// Registry serving it (default: the project's, then the global one).
        registry: Option<String>,
    },
}

impl Dependency {
    /// The version requirement as written.
    pub fn requirement(&self) -> &str {
        match self {
            Dependency::Requirement(v) | Dependency::Detailed { version: v, .. } => v,
        }
    }

    /// Its own registry, if it names one.
    pub fn registry(&self) -> Option<&str> {
        match self {
            Dependency::Requirement(_) => None,
            Dependency::Detailed { registry, .. } => registry.as_deref(),
        }
    }
}

impl Project {
    /// Read `wharf.toml` at `path` (a file, or a directory holding one) and check every
    /// name and requirement in it.
    pub fn load(path: &Path) -> anyhow::Result<Project> {
        let file = if path.is_dir() {
            path.join(MANIFEST)
        } else {
            path.to_owned()
        };
        let text = std::fs::read_to_string(&file)
            .with_context(|| format!("failed to read `{}`", file.display()))?;
        let mut project: Project =
            toml::from_str(&text).with_context(|| format!("invalid `{}`", file.display()))?;
        project.root = file
            .parent()
            .map(Path::to_owned)
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or_else(|| PathBuf::from("."));
        if let Some(p) = &project.package {
            p.name
                .parse::<PackageRef>()
                .ok()
                .filter(|r| r.version.is_none())
                .with_context(|| {
                    format!(
                        "`{}`: package name `{}` is not `ns:name`",
                        file.display(),
                        p.name
                    )
                })?;
        }
        for (name, dep) in &project.dependencies {
            project
                .dependency_ref(name, dep)
                .with_context(|| format!("`{}`: dependency `{name}`", file.display()))?;
        }
        Ok(project)
    }

    /// The package reference `name@requirement` of a dependency.
    pub fn dependency_ref(&self, name: &str, dep: &Dependency) -> anyhow::Result<PackageRef> {
        let r: PackageRef = format!("{name}@{}", dep.requirement())
            .parse()
            .with_context(|| {
                format!(
                    "`{name}` = `{}` is not a package name with a version requirement",
                    dep.requirement()
                )
            })?;
        Ok(r)
    }

    /// The registry of a dependency: its own, the project's, then `global`.
    pub fn registry_for(&self, dep: &Dependency, global: Option<&str>) -> anyhow::Result<String> {
        dep.registry()
            .or(global)
            .or(self.package.as_ref().and_then(|p| p.registry.as_deref()))
            .map(str::to_owned)
            .context("no registry: set `registry` in wharf.toml, --registry or WHARF_REGISTRY")
    }

    /// Path of the lock file.
    pub fn lock_path(&self) -> PathBuf {
        self.root.join(LOCK)
    }

    /// A path from `wharf.toml`, relative to its directory.
    pub fn path(&self, p: &Path) -> PathBuf {
        self.root.join(p)
    }
}

/// `wharf.lock`.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockFile {
    /// Format version, 1.
    pub version: u32,
    /// One entry per dependency, sorted by name.
    #[serde(default, rename = "package")]
    pub packages: Vec<LockedPackage>,
    /// WIT packages `wharf wit fetch` wrote into a `deps/` directory, by name and the
    /// version the WIT asked for (`requirement`), sorted.
    #[serde(default, rename = "wit", skip_serializing_if = "Vec::is_empty")]
    pub wit: Vec<LockedPackage>,
}

/// A resolved dependency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockedPackage {
    /// `ns:name`.
    pub name: String,
    /// The requirement it was resolved for (a changed requirement re-resolves).
    pub requirement: String,
    /// The version chosen.
    pub version: semver::Version,
    /// The registry asked (`host[:port]`).
    pub registry: String,
    /// `registry/repository` it lives in (from the registry's discovery document).
    pub repository: String,
    /// The manifest digest: what resolution uses from now on.
    pub digest: Digest,
}

impl LockFile {
    /// Read a lock file; `None` when there is none.
    pub fn load(path: &Path) -> anyhow::Result<Option<LockFile>> {
        match std::fs::read_to_string(path) {
            Ok(text) => {
                let lock: LockFile = toml::from_str(&text)
                    .with_context(|| format!("invalid lock file `{}`", path.display()))?;
                if lock.version != 1 {
                    bail!(
                        "lock file `{}` has format version {}; this wharf reads version 1",
                        path.display(),
                        lock.version
                    );
                }
                Ok(Some(lock))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("failed to read `{}`", path.display())),
        }
    }

    /// The TOML text, with a header saying where it comes from.
    pub fn to_text(&self) -> anyhow::Result<String> {
        Ok(format!(
            "# Written by `wharf lock` and `wharf wit fetch`. Do not edit: run them again after changing wharf.toml or the WIT.\n{}",
            toml::to_string(self)?
        ))
    }

    /// The WIT dependency `name` (`ns:name`) asked for as `requirement`.
    pub fn get_wit(&self, name: &str, requirement: &str) -> Option<&LockedPackage> {
        self.wit
            .iter()
            .find(|p| p.name == name && p.requirement == requirement)
    }

    /// The entry for `name`.
    pub fn get(&self, name: &str) -> Option<&LockedPackage> {
        self.packages.iter().find(|p| p.name == name)
    }
}
