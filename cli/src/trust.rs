//! The trust policy: which public keys must have signed which packages. `wharf pull` and
//! `wharf run` enforce it for every reference it covers (`--verify` demands it, and
//! `--insecure-skip-verify` turns it off, loudly).
//!
//! ```toml
//! # $XDG_CONFIG_HOME/wharf/trust.toml, or --trust-policy FILE, or `trust-policy` in config.toml
//! [[rules]]
//! scope = "registry.example.com/team"   # registry/repository prefix, at `/` boundaries
//! keys = ["/etc/wharf/release.pub"]
//! ```

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use serde::Deserialize;
use wharf_client::Client;
use wharf_oci::{Digest, ImageReference};

use crate::commands::sign::{check_signatures, load_keys};

/// One rule: packages under `scope` must be signed by one of `keys`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// `registry[:port]/repository-prefix`.
    pub scope: String,
    /// Public key files (SPKI PEM); relative paths are relative to the policy file.
    pub keys: Vec<PathBuf>,
}

/// A trust policy file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustPolicy {
    /// The rules; the longest matching scope decides.
    #[serde(default)]
    pub rules: Vec<Rule>,
}

/// How `pull` and `run` treat signatures.
#[derive(Clone, Copy, Debug, clap::Args)]
pub struct VerifyFlags {
    /// Require a valid signature by a key the trust policy names for this package.
    #[arg(long, conflicts_with = "insecure_skip_verify")]
    pub verify: bool,
    /// Do not check signatures even where the trust policy requires them.
    #[arg(long)]
    pub insecure_skip_verify: bool,
}

fn covers(scope: &str, target: &ImageReference) -> bool {
    let scope = scope.trim_end_matches('/');
    let name = format!("{}/{}", target.registry, target.repository);
    name == scope
        || name
            .strip_prefix(scope)
            .is_some_and(|rest| rest.starts_with('/'))
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
            for key in &mut rule.keys {
                if key.is_relative() {
                    *key = base.join(&*key);
                }
            }
        }
        Ok(policy)
    }

    /// The keys of the longest rule covering `target`.
    pub fn keys_for(&self, target: &ImageReference) -> Option<&[PathBuf]> {
        self.rules
            .iter()
            .filter(|r| covers(&r.scope, target))
            .max_by_key(|r| r.scope.trim_end_matches('/').len())
            .map(|r| r.keys.as_slice())
    }

    /// Enforce the policy for the manifest `digest` of `target`, as `flags` say.
    pub async fn enforce(
        &self,
        client: &Client,
        target: &ImageReference,
        digest: &Digest,
        flags: VerifyFlags,
    ) -> anyhow::Result<()> {
        if flags.insecure_skip_verify {
            eprintln!("warning: NOT verifying signatures of {target} (--insecure-skip-verify)");
            return Ok(());
        }
        let Some(key_paths) = self.keys_for(target) else {
            if flags.verify {
                bail!(
                    "--verify: the trust policy names no keys for {}/{}",
                    target.registry,
                    target.repository
                );
            }
            return Ok(());
        };
        let keys = load_keys(key_paths)?;
        let report = check_signatures(client, target, digest, &keys).await?;
        if !report.verified {
            bail!("refusing {target}: {}", report.failure());
        }
        Ok(())
    }
}
