//! `wharf copy`: copy an artifact to another repository or registry with its referrers.

use std::process::ExitCode;

use anyhow::{Context as _, bail};
use wharf_core::{CopyOptions, Remote, package_target};
use wharf_oci::ImageReference;

use super::print_json;
use crate::config::GlobalArgs;
use crate::output::warn;
use crate::target::parse_remote;

/// `wharf copy`
#[derive(clap::Args)]
#[command(after_help = "\
Copies any OCI artifact (Wasm packages, container images, image indexes with their
manifests), byte for byte, so digests and signatures stay valid. Blobs are streamed from one
registry into the other (mounted within one registry) and checked against their digests on
the way; blobs the destination has are skipped. Referrers (signatures, SBOMs, yank marks,
attestations, and their own referrers) come along unless `--no-referrers`, as does
cosign's `sha256-<hex>.sig` tag; where the destination has no referrers API, the referrers
tag schema's index is written there. Each side uses its own stored credentials.

The destination keeps the source's tag unless it names its own.

Examples:
  wharf copy localhost:5000/demo/app:1.0.0 registry.example.com/demo/app
  wharf copy demo:app@1.0.0 localhost:5001/mirror/demo/app:1.0.0 --registry localhost:5000
  wharf copy localhost:5000/demo/app@sha256:… localhost:5000/archive/app --json")]
pub struct Args {
    /// What to copy: `host[:port]/repository:tag`, `…@sha256:…`, or `ns:name@version`.
    source: String,
    /// Where: `host[:port]/repository[:tag]`, or `ns:name@version` (through the discovery
    /// document of `--registry`).
    destination: String,
    /// Copy the artifact only, without its referrers.
    #[arg(long)]
    no_referrers: bool,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

impl Args {
    /// Run the subcommand.
    pub async fn run(self, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
        let settings = global.settings()?;
        let source = parse_remote(&self.source, &settings)?;
        let from = settings.client(Some(source.registry()))?;
        let src = source.resolve(&from).await?;
        let destination = parse_remote(&self.destination, &settings)?;
        let to = settings.client(Some(destination.registry()))?;
        let dst: ImageReference = match &destination {
            Remote::Image(r) => r.clone(),
            Remote::Package { package, .. } if package.exact.is_none() => bail!(
                "copying to `{package}` needs an exact version, e.g. `{}@1.0.0`",
                package.package_name()
            ),
            Remote::Package { registry, package } => package_target(&to, registry, package).await?,
        };
        if src.registry == dst.registry
            && src.repository == dst.repository
            && dst.tag.as_ref().is_none_or(|t| Some(t) == src.tag.as_ref())
        {
            bail!(
                "`{}` and `{}` are the same place: nothing to copy",
                self.source,
                self.destination
            );
        }
        let options = CopyOptions {
            referrers: !self.no_referrers,
        };
        let report = wharf_core::copy(&from, &src, &to, &dst, &options, &warn)
            .await
            .with_context(|| format!("failed to copy {src} to {dst}"))?;
        if self.json {
            return print_json(&report);
        }
        let tag = dst
            .tag
            .as_ref()
            .or(src.tag.as_ref())
            .map(|t| format!(" as :{t}"))
            .unwrap_or_default();
        eprintln!(
            "copied {} to {}{tag}: {} manifests, {} blobs ({} bytes) sent, {} already there, {} referrers{}",
            report.source,
            report.destination,
            report.manifests,
            report.blobs_copied,
            report.bytes_copied,
            report.blobs_present,
            report.referrers.len(),
            if report.signature_tags.is_empty() {
                String::new()
            } else {
                format!(", signature tags {}", report.signature_tags.join(", "))
            }
        );
        outln!("{}", report.digest);
        Ok(ExitCode::SUCCESS)
    }
}
