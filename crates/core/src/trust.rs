//! The trust policy: which keys or keyless identities must have signed which packages.
//! Every fetch of a package ([`crate::fetch_verified`]) checks it before a byte of the
//! layer is downloaded.
//!
//! ```toml
//! # $XDG_CONFIG_HOME/wharf/trust.toml, or --trust-policy FILE, or `trust-policy` in config.toml
//! [[rules]]
//! scope = "registry.example.com/team"   # registry/repository prefix, at `/` boundaries
//! keys = ["/etc/wharf/release.pub"]
//!
//! [[rules]]
//! scope = "ghcr.io/bytecodealliance"
//! identities = [{ identity-regexp = "^https://github.com/bytecodealliance/", issuer = "https://token.actions.githubusercontent.com" }]
//! trusted-root = "trusted_root.json"   # optional; the Sigstore public-good root is built in
//! ```

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use serde::Deserialize;
use wharf_client::Client;
use wharf_oci::{Digest, ImageReference, under_prefix};

use crate::Warn;
use crate::signatures::{IdentitySpec, Signers, VerifyReport, check_signatures};

/// One rule: packages under `scope` must be signed by one of `keys` or `identities`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Rule {
    /// `registry[:port]/repository-prefix`.
    pub scope: String,
    /// Public key files (SPKI PEM); relative paths are relative to the policy file.
    #[serde(default)]
    pub keys: Vec<PathBuf>,
    /// Keyless signers (certificate identity and OIDC issuer).
    #[serde(default)]
    pub identities: Vec<IdentitySpec>,
    /// A `trusted_root.json` for keyless signatures, relative to the policy file; the
    /// Sigstore public-good root when absent.
    pub trusted_root: Option<PathBuf>,
    /// Also require that the registry's release log records the version fetched
    /// ([`crate::release_log`]).
    #[serde(default)]
    pub require_log: bool,
}

impl Rule {
    /// The signers it names.
    pub fn signers(&self) -> anyhow::Result<Signers> {
        Signers::load(&self.keys, &self.identities, self.trusted_root.as_deref())
            .with_context(|| format!("trust policy rule `{}`", self.scope))
    }
}

/// A trust policy file.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct TrustPolicy {
    /// The rules; the longest matching scope decides.
    #[serde(default)]
    pub rules: Vec<Rule>,
    /// Require, for every package fetched, that its registry's release log records it
    /// (`require-log = true`; `--require-log` sets it for one command).
    #[serde(default)]
    pub require_log: bool,
    /// Where the checkpoints this client saw are kept; default
    /// [`crate::release_log::default_state_dir`].
    #[serde(skip)]
    pub log_state_dir: Option<PathBuf>,
}

/// How a fetch treats signatures (`wharf pull`/`run`: no flag, `--verify`,
/// `--insecure-skip-verify`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Verification {
    /// Check where the policy names keys for the package.
    #[default]
    Policy,
    /// Require a valid signature by a key the policy names; a package no rule covers is
    /// refused.
    Required,
    /// Do not check signatures even where the policy requires them (warned about).
    Skip,
}

/// `registry/repository` of `target` is `scope` or under it, at a `/` boundary.
pub fn in_scope(scope: &str, target: &ImageReference) -> bool {
    let name = format!("{}/{}", target.registry, target.repository);
    under_prefix(scope, &name)
}

impl TrustPolicy {
    /// Load `path`; with `explicit` false a missing file is an empty policy.
    pub fn load(path: &Path, explicit: bool) -> anyhow::Result<TrustPolicy> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => {
                return Ok(TrustPolicy::default());
            }
            Err(e) => {
                return Err(e)
                    .with_context(|| format!("failed to read trust policy `{}`", path.display()));
            }
        };
        let mut policy: TrustPolicy = toml::from_str(&text)
            .with_context(|| format!("invalid trust policy `{}`", path.display()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        for rule in &mut policy.rules {
            if rule.scope.trim_end_matches('/').is_empty() {
                bail!(
                    "invalid trust policy `{}`: a rule's scope must name a registry",
                    path.display()
                );
            }
            if rule.keys.is_empty() && rule.identities.is_empty() {
                bail!(
                    "invalid trust policy `{}`: rule `{}` names neither keys nor identities",
                    path.display(),
                    rule.scope
                );
            }
            for file in rule.keys.iter_mut().chain(rule.trusted_root.as_mut()) {
                if file.is_relative() {
                    *file = base.join(&*file);
                }
            }
        }
        Ok(policy)
    }

    /// This policy, requiring the release log for every package as well.
    pub fn requiring_log(&self) -> TrustPolicy {
        TrustPolicy {
            require_log: true,
            ..self.clone()
        }
    }

    /// Where the checkpoints this client saw are kept.
    pub fn log_state_dir(&self) -> PathBuf {
        self.log_state_dir
            .clone()
            .unwrap_or_else(crate::release_log::default_state_dir)
    }

    /// Check the release log for `target` (pinned to `digest`, with its tag when it was
    /// fetched by one) where the policy requires it: the whole log read and checked
    /// ([`crate::release_log::read_log`]) and its last record of the tag matching `digest`.
    /// `Ok(None)` when not required.
    pub async fn enforce_log(
        &self,
        client: &Client,
        target: &ImageReference,
        digest: &Digest,
    ) -> anyhow::Result<Option<crate::release_log::LogReport>> {
        let required = self.require_log || self.rule_for(target).is_some_and(|r| r.require_log);
        if !required {
            return Ok(None);
        }
        let (report, entries) =
            crate::release_log::read_log(client, &target.registry, &self.log_state_dir(), false)
                .await
                .with_context(|| {
                    format!("refusing {target}: its release log does not check out")
                })?;
        crate::release_log::require_recorded(
            &entries,
            target.repository.as_str(),
            target.tag.as_ref().map(|t| t.as_str()),
            &digest.to_string(),
        )
        .with_context(|| format!("refusing {target}"))?;
        Ok(Some(report))
    }

    /// The longest rule covering `target`.
    pub fn rule_for(&self, target: &ImageReference) -> Option<&Rule> {
        self.rules
            .iter()
            .filter(|r| in_scope(&r.scope, target))
            .max_by_key(|r| r.scope.trim_end_matches('/').len())
    }

    /// Enforce the policy for the manifest `digest` of `target`, as `mode` says. `Ok(None)`
    /// when nothing was checked (no rule covers it, or [`Verification::Skip`], which is
    /// reported through `warn`); `Ok(Some(report))` when a trusted key signed it; an error
    /// naming the reason when it is not verified.
    pub async fn enforce(
        &self,
        client: &Client,
        target: &ImageReference,
        digest: &Digest,
        mode: Verification,
        warn: Warn<'_>,
    ) -> anyhow::Result<Option<VerifyReport>> {
        if mode == Verification::Skip {
            warn(&format!(
                "NOT verifying signatures of {target} (--insecure-skip-verify)"
            ));
            return Ok(None);
        }
        let Some(rule) = self.rule_for(target) else {
            if mode == Verification::Required {
                bail!(
                    "--verify: the trust policy names no signers for {}/{}",
                    target.registry,
                    target.repository
                );
            }
            return Ok(None);
        };
        let signers = rule.signers()?;
        let report = check_signatures(client, target, digest, &signers, warn).await?;
        if !report.verified {
            bail!("refusing {target}: {}", report.failure());
        }
        Ok(Some(report))
    }
}
