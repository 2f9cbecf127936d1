//! `wharf copy`: copy an artifact to another repository or registry with its referrers.

use std::process::ExitCode;

use anyhow::{Context as _, bail};
use wharf_core::{CopyOptions, Endpoint, OciLayout, Remote, package_target};
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

Either side may be an OCI image layout directory, `oci:DIR[:TAG]` (the layout skopeo's
`oci:` transport and ORAS's `--oci-layout` read and write): carry packages with their
signatures over an air gap and push them on the other side. A layout's referrers are the
manifests its index.json lists whose subject names them; every blob read from a layout is
checked against its digest before it is pushed.

The destination keeps the source's tag unless it names its own.

Examples:
  wharf copy localhost:5000/demo/app:1.0.0 registry.example.com/demo/app
  wharf copy demo:app@1.0.0 localhost:5001/mirror/demo/app:1.0.0 --registry localhost:5000
  wharf copy localhost:5000/demo/app@sha256:… localhost:5000/archive/app --json
  wharf copy localhost:5000/demo/app:1.0.0 oci:./airgap:1.0.0
  wharf copy oci:./airgap:1.0.0 registry.internal:5000/demo/app")]
pub struct Args {
    /// What to copy: `host[:port]/repository:tag`, `…@sha256:…`, `ns:name@version`, or
    /// `oci:DIR[:TAG]` (an OCI image layout; the tag may be left out when it holds one).
    source: String,
    /// Where: `host[:port]/repository[:tag]`, `ns:name@version` (through the discovery
    /// document of `--registry`), or `oci:DIR[:TAG]` (created when missing).
    destination: String,
    /// Copy the artifact only, without its referrers.
    #[arg(long)]
    no_referrers: bool,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// One side of a copy as given: a registry reference, or `oci:DIR[:TAG]`.
enum Side {
    Remote(Remote),
    Layout(std::path::PathBuf, Option<String>),
}

fn side(arg: &str, settings: &crate::config::Settings) -> anyhow::Result<Side> {
    if arg.starts_with("oci:") {
        let Some((dir, tag)) = wharf_core::layout::parse_layout_ref(arg) else {
            bail!("`{arg}` names no directory: write oci:DIR or oci:DIR:TAG");
        };
        if let Some(t) = &tag {
            t.parse::<wharf_oci::Tag>()
                .with_context(|| format!("`{arg}`: `{t}` is not a valid tag"))?;
        }
        return Ok(Side::Layout(dir, tag));
    }
    Ok(Side::Remote(parse_remote(arg, settings)?))
}

/// One side of a copy, opened.
enum Place {
    Registry(Box<wharf_client::Client>, ImageReference),
    Layout(OciLayout, Option<String>),
}

impl Place {
    fn endpoint(&self) -> Endpoint<'_> {
        match self {
            Place::Registry(client, reference) => Endpoint::Registry { client, reference },
            Place::Layout(layout, tag) => Endpoint::Layout {
                layout,
                tag: tag.as_deref(),
            },
        }
    }
}

impl Args {
    /// Run the subcommand.
    pub async fn run(self, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
        let settings = global.settings()?;
        let options = CopyOptions {
            referrers: !self.no_referrers,
        };
        // the source first: nothing is created at the destination for a source that fails
        let src = match side(&self.source, &settings)? {
            Side::Remote(source) => {
                let from = settings.client(Some(source.registry()))?;
                let src = source.resolve(&from).await?;
                Place::Registry(Box::new(from), src)
            }
            Side::Layout(dir, tag) => Place::Layout(OciLayout::open(&dir)?, tag),
        };
        let dst = match side(&self.destination, &settings)? {
            Side::Remote(destination) => {
                let to = settings.client(Some(destination.registry()))?;
                let dst: ImageReference = match &destination {
                    Remote::Image(r) => r.clone(),
                    Remote::Package { package, .. } if package.exact.is_none() => bail!(
                        "copying to `{package}` needs an exact version, e.g. `{}@1.0.0`",
                        package.package_name()
                    ),
                    Remote::Package { registry, package } => {
                        package_target(&to, registry, package).await?
                    }
                };
                Place::Registry(Box::new(to), dst)
            }
            Side::Layout(dir, tag) => Place::Layout(OciLayout::create(&dir)?, tag),
        };
        let same = match (&src, &dst) {
            (Place::Registry(_, s), Place::Registry(_, d)) => {
                s.registry == d.registry
                    && s.repository == d.repository
                    && d.tag.as_ref().is_none_or(|t| Some(t) == s.tag.as_ref())
            }
            (Place::Layout(a, at), Place::Layout(b, bt)) => {
                std::fs::canonicalize(a.root()).ok() == std::fs::canonicalize(b.root()).ok()
                    && (bt.is_none() || at == bt)
            }
            _ => false,
        };
        if same {
            bail!(
                "`{}` and `{}` are the same place: nothing to copy",
                self.source,
                self.destination
            );
        }
        let (src_end, dst_end) = (src.endpoint(), dst.endpoint());
        let report = wharf_core::copy_between(src_end, dst_end, &options, &warn)
            .await
            .with_context(|| format!("failed to copy {src_end} to {dst_end}"))?;
        if self.json {
            return print_json(&report);
        }
        let tag = dst_end
            .tag()
            .or_else(|| src_end.tag())
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
