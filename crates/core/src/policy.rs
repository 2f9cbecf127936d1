//! CI policy over what a package is (`wharf policy check`): allowed and denied imports,
//! required exports, target world, size, licences, signatures and SBOMs.
//!
//! ```toml
//! [imports]
//! allow = ["wasi:cli/*", "wasi:io/*"]
//! deny = ["wasi:sockets/*"]
//! [signature]
//! keys = ["release.pub"]
//! [sbom]
//! require = true
//! ```

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use globset::{Glob, GlobSet, GlobSetBuilder};
use serde::{Deserialize, Serialize};
use wharf_client::Client;
use wharf_component::{Inspection, inspect};
use wharf_oci::ImageReference;

use crate::Warn;
use crate::cache::FetchedPackage;
use crate::signatures::{IdentitySpec, Signers, check_signatures};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Policy {
    #[serde(default)]
    imports: Imports,
    #[serde(default)]
    exports: Exports,
    #[serde(default)]
    world: World,
    #[serde(default)]
    limits: Limits,
    #[serde(default)]
    metadata: Metadata,
    signature: Option<Signature>,
    #[serde(default)]
    sbom: Sbom,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Imports {
    allow: Option<Vec<String>>,
    #[serde(default)]
    deny: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Exports {
    #[serde(default)]
    require: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct World {
    target: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Limits {
    max_size: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Metadata {
    #[serde(default)]
    require_licenses: bool,
}

/// `[signature]`: signed by one of `keys` or `identities` (keyless signers, checked
/// against `trusted-root` or the built-in Sigstore public-good root).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Signature {
    #[serde(default)]
    keys: Vec<PathBuf>,
    #[serde(default)]
    identities: Vec<IdentitySpec>,
    trusted_root: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sbom {
    #[serde(default)]
    require: bool,
}

/// One broken rule.
#[derive(Clone, Debug, Serialize)]
pub struct Violation {
    /// The rule id (one of [`RULES`]).
    pub rule: &'static str,
    /// What is wrong, naming the offending value.
    pub message: String,
}

/// The outcome of checking one target: the rules checked and what broke them.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Evaluation {
    /// Rule ids checked, in order.
    pub checked: Vec<&'static str>,
    /// Violations found.
    pub violations: Vec<Violation>,
}

impl Evaluation {
    /// True when no rule is broken.
    pub fn passed(&self) -> bool {
        self.violations.is_empty()
    }
}

/// Rule ids and their descriptions (SARIF `rules`).
pub const RULES: &[(&str, &str)] = &[
    ("imports-allowed", "Every import matches an allowed pattern"),
    ("imports-denied", "No import matches a denied pattern"),
    ("exports-required", "Required exports are present"),
    ("target-world", "The component targets the required world"),
    ("max-size", "The binary is within the size limit"),
    ("licenses", "The binary declares its licences"),
    ("signature", "A trusted key signed exactly this manifest"),
    ("sbom", "A software bill of materials is present"),
];

fn globs(patterns: &[String], what: &str) -> anyhow::Result<GlobSet> {
    let mut b = GlobSetBuilder::new();
    for p in patterns {
        b.add(Glob::new(p).with_context(|| format!("invalid {what} pattern `{p}`"))?);
    }
    Ok(b.build()?)
}

impl Policy {
    /// Load a policy file; relative key paths are relative to it.
    pub fn load(path: &Path) -> anyhow::Result<Policy> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("failed to read policy `{}`", path.display()))?;
        let mut policy: Policy = toml::from_str(&text)
            .with_context(|| format!("invalid policy `{}`", path.display()))?;
        if let Some(sig) = &mut policy.signature {
            if sig.keys.is_empty() && sig.identities.is_empty() {
                bail!(
                    "invalid policy `{}`: [signature] names neither keys nor identities",
                    path.display()
                );
            }
            let base = path.parent().unwrap_or(Path::new("."));
            for file in sig.keys.iter_mut().chain(sig.trusted_root.as_mut()) {
                if file.is_relative() {
                    *file = base.join(&*file);
                }
            }
        }
        Ok(policy)
    }

    /// Check a local file (`what` names it): the rules over the binary, and the SBOM rule
    /// on its `.dep-v0` section. A signature rule is an error: only a pushed package can
    /// carry a signature.
    pub fn check_file(&self, bytes: &[u8], what: &str) -> anyhow::Result<Evaluation> {
        let info = inspect(bytes, what)?;
        let mut e = Evaluation::default();
        e.violations = check_binary(self, &info, &mut e.checked)?;
        if self.signature.is_some() {
            bail!(
                "the policy requires a signature, which only a reference (a pushed package) can have"
            );
        }
        if self.sbom.require {
            e.checked.push("sbom");
            if wharf_component::dependency_tree(bytes)?.is_none() {
                e.violations.push(Violation {
                    rule: "sbom",
                    message: "no cargo-auditable `.dep-v0` section".into(),
                });
            }
        }
        Ok(e)
    }

    /// Check a fetched package of `target`: the rules over its wasm, its signatures (by the
    /// policy's keys, [`check_signatures`]) and its SBOM (a `.dep-v0` section or a
    /// CycloneDX/SPDX referrer).
    pub async fn check_package(
        &self,
        client: &Client,
        target: &ImageReference,
        fetched: &FetchedPackage,
        warn: Warn<'_>,
    ) -> anyhow::Result<Evaluation> {
        let info = inspect(&fetched.wasm, &target.to_string())?;
        let mut e = Evaluation::default();
        e.violations = check_binary(self, &info, &mut e.checked)?;
        if let Some(sig) = &self.signature {
            e.checked.push("signature");
            let signers = Signers::load(&sig.keys, &sig.identities, sig.trusted_root.as_deref())?;
            let report =
                check_signatures(client, target, &fetched.manifest_digest, &signers, warn).await?;
            if !report.verified {
                e.violations.push(Violation {
                    rule: "signature",
                    message: report.failure(),
                });
            }
        }
        if self.sbom.require {
            e.checked.push("sbom");
            let mut found = wharf_component::dependency_tree(&fetched.wasm)?.is_some();
            for t in ["application/vnd.cyclonedx+json", "application/spdx+json"] {
                found |= client
                    .referrers(target, &fetched.manifest_digest, Some(t))
                    .await?
                    .is_some_and(|i| !i.manifests.is_empty());
            }
            if !found {
                e.violations.push(Violation {
                    rule: "sbom",
                    message: "no `.dep-v0` section and no SBOM referrer".into(),
                });
            }
        }
        Ok(e)
    }
}

/// The checks that need only the binary.
fn check_binary(
    policy: &Policy,
    info: &Inspection,
    checked: &mut Vec<&'static str>,
) -> anyhow::Result<Vec<Violation>> {
    let mut v = Vec::new();
    if let Some(allow) = &policy.imports.allow {
        checked.push("imports-allowed");
        let set = globs(allow, "imports.allow")?;
        for i in info.imports.iter().filter(|i| !set.is_match(i.as_str())) {
            v.push(Violation {
                rule: "imports-allowed",
                message: format!("import `{i}` is not allowed"),
            });
        }
    }
    if !policy.imports.deny.is_empty() {
        checked.push("imports-denied");
        let set = globs(&policy.imports.deny, "imports.deny")?;
        for i in info.imports.iter().filter(|i| set.is_match(i.as_str())) {
            v.push(Violation {
                rule: "imports-denied",
                message: format!("import `{i}` is denied"),
            });
        }
    }
    if !policy.exports.require.is_empty() {
        checked.push("exports-required");
        for pattern in &policy.exports.require {
            let g = Glob::new(pattern)
                .with_context(|| format!("invalid exports.require pattern `{pattern}`"))?
                .compile_matcher();
            if !info.exports.iter().any(|e| g.is_match(e.as_str())) {
                v.push(Violation {
                    rule: "exports-required",
                    message: format!("no export matches `{pattern}`"),
                });
            }
        }
    }
    if let Some(target) = &policy.world.target {
        checked.push("target-world");
        let g = Glob::new(target)
            .with_context(|| format!("invalid world.target pattern `{target}`"))?
            .compile_matcher();
        match &info.target {
            Some(t) if g.is_match(t.as_str()) => {}
            Some(t) => v.push(Violation {
                rule: "target-world",
                message: format!("targets `{t}`, not `{target}`"),
            }),
            None => v.push(Violation {
                rule: "target-world",
                message: format!("its target world is unknown, `{target}` is required"),
            }),
        }
    }
    if let Some(max) = policy.limits.max_size {
        checked.push("max-size");
        if info.size > max {
            v.push(Violation {
                rule: "max-size",
                message: format!("{} bytes is over the limit of {max}", info.size),
            });
        }
    }
    if policy.metadata.require_licenses {
        checked.push("licenses");
        if info.metadata.licenses.is_none() {
            v.push(Violation {
                rule: "licenses",
                message: "no `licenses` metadata section".into(),
            });
        }
    }
    Ok(v)
}

/// The violations as a SARIF 2.1.0 log for code-scanning tools, `target` as the location.
pub fn sarif(target: &str, violations: &[Violation]) -> serde_json::Value {
    serde_json::json!({
        "version": "2.1.0",
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "runs": [{
            "tool": { "driver": {
                "name": "wharf",
                "version": env!("CARGO_PKG_VERSION"),
                "rules": RULES.iter().map(|(id, text)| serde_json::json!({ "id": id, "shortDescription": { "text": text } })).collect::<Vec<_>>(),
            }},
            "results": violations.iter().map(|v| serde_json::json!({
                "ruleId": v.rule,
                "level": "error",
                "message": { "text": v.message },
                "locations": [{ "physicalLocation": { "artifactLocation": { "uri": target } } }],
            })).collect::<Vec<_>>(),
        }],
    })
}
