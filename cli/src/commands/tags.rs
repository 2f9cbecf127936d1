//! `wharf tags`: the versions of a package (or the tags of a repository), highest first,
//! each with its manifest digest and whether it is yanked or signed.

use std::process::ExitCode;

use anyhow::Context as _;
use futures_util::StreamExt as _;
use serde::Serialize;
use wharf_core::Remote;
use wharf_oci::{Digest, ImageReference};

use super::print_json;
use crate::config::GlobalArgs;
use crate::target::parse_remote;

/// `wharf tags`
#[derive(clap::Args)]
#[command(after_help = "\
Lists semver versions highest first, then other tags by name; cosign's signature tags and
the referrers tag schema's index tags are left out.

Examples:
  wharf tags demo:app --registry localhost:5000
  wharf tags localhost:5000/demo/app --json")]
pub struct Args {
    /// `host[:port]/repository` or a package name `ns:name`.
    reference: String,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// One tag (`--json`).
#[derive(Serialize)]
struct TagEntry {
    tag: String,
    /// The manifest it points at.
    manifest_digest: Digest,
    /// The yank reason, when this version is yanked.
    yanked: Option<String>,
    /// Signature referrers of that manifest.
    signatures: usize,
}

/// Tags that are not versions of the package: cosign's `sha256-<hex>.sig` (`.att`,
/// `.sbom`) and the referrers tag schema's `sha256-<hex>`.
fn bookkeeping(tag: &str) -> bool {
    let Some(rest) = tag.strip_prefix("sha256-") else {
        return false;
    };
    let hex = rest.split('.').next().unwrap_or(rest);
    hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit())
}

impl Args {
    /// Run the subcommand.
    pub async fn run(self, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
        let settings = global.settings()?;
        let remote = parse_remote(&self.reference, &settings)?;
        let client = settings.client(Some(remote.registry()))?;
        let (registry, repository) = match &remote {
            Remote::Image(r) => (r.registry.clone(), r.repository.clone()),
            Remote::Package { registry, package } => client
                .package_repository(registry, package)
                .await
                .with_context(|| format!("failed to find the repository of {package}"))?,
        };
        let mut tags: Vec<String> = client
            .tags(&registry, &repository)
            .await
            .with_context(|| format!("failed to list the tags of {registry}/{repository}"))?
            .into_iter()
            .filter(|t| !bookkeeping(t))
            .collect();
        // semver versions highest first, then the other tags by name
        tags.sort_by(|a, b| {
            match (
                semver::Version::parse(a).ok(),
                semver::Version::parse(b).ok(),
            ) {
                (Some(x), Some(y)) => y.cmp(&x),
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (None, None) => a.cmp(b),
            }
        });
        let client = &client;
        let entries: Vec<anyhow::Result<TagEntry>> = futures_util::stream::iter(tags)
            .map(|tag| {
                let target = ImageReference {
                    registry: registry.clone(),
                    repository: repository.clone(),
                    tag: tag.parse().ok(),
                    digest: None,
                };
                async move {
                    let manifest = client
                        .pull_manifest(&target)
                        .await
                        .with_context(|| format!("failed to read {target}"))?;
                    let referrers = client
                        .referrers(&target, &manifest.digest, None)
                        .await
                        .ok()
                        .flatten()
                        .map(|i| i.manifests)
                        .unwrap_or_default();
                    let yanked = wharf_oci::yank::yanked_by(&referrers, Some(&tag));
                    let signatures = referrers
                        .iter()
                        .filter(|d| {
                            wharf_sign::bundle::is_signature(
                                d.artifact_type.as_deref(),
                                d.annotations.as_ref(),
                            )
                        })
                        .count();
                    Ok(TagEntry {
                        tag,
                        manifest_digest: manifest.digest,
                        yanked,
                        signatures,
                    })
                }
            })
            .buffered(8)
            .collect()
            .await;
        let entries = entries.into_iter().collect::<anyhow::Result<Vec<_>>>()?;
        if self.json {
            return print_json(&entries);
        }
        for e in &entries {
            let mut marks = Vec::new();
            if let Some(reason) = &e.yanked {
                marks.push(format!("yanked: {reason}"));
            }
            if e.signatures > 0 {
                marks.push(format!("signed ({})", e.signatures));
            }
            let digest = e.manifest_digest.to_string();
            outln!(
                "{:<20} {}  {}",
                crate::output::sanitize(&e.tag),
                digest.get(..19).unwrap_or(&digest),
                crate::output::sanitize(&marks.join(", "))
            );
        }
        if entries.is_empty() {
            eprintln!("{registry}/{repository} has no tags");
        }
        Ok(ExitCode::SUCCESS)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn signature_and_index_tags_are_bookkeeping() {
        let hex = "a".repeat(64);
        assert!(super::bookkeeping(&format!("sha256-{hex}.sig")));
        assert!(super::bookkeeping(&format!("sha256-{hex}")));
        assert!(!super::bookkeeping("sha256-short.sig"));
        assert!(!super::bookkeeping("1.0.0"));
    }
}
