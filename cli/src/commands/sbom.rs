//! `wharf sbom`: print the software bill of materials of a file or a pushed package.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use wharf_component::CYCLONEDX_MEDIA_TYPE;

use crate::config::GlobalArgs;
use crate::target::{Target, fetch, read_input, resolve};

/// Largest SBOM document read from a registry (bytes).
const MAX_SBOM_BYTES: u64 = 16 * 1024 * 1024;

/// `wharf sbom`
#[derive(clap::Args)]
#[command(after_help = "\
For a file: CycloneDX converted from its cargo-auditable `.dep-v0` section. For a
reference: the newest CycloneDX referrer of the manifest (attached by `wharf push --sbom`),
else the `.dep-v0` section of its wasm layer. Fails when there is neither.

Examples:
  wharf sbom target/wasm32-wasip2/release/app.wasm
  wharf sbom localhost:5000/demo/app:1.0.0 -o app.cdx.json")]
pub struct Args {
    /// A wasm file or a reference.
    target: String,
    /// Write the document here instead of stdout.
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// Print JSON: where the SBOM came from, with the document (to stdout, or `-o`).
    #[arg(long)]
    json: bool,
}

/// `wharf sbom --json`.
#[derive(serde::Serialize)]
struct SbomReport {
    /// The file, or the reference pinned to the manifest digest.
    subject: String,
    /// `referrer`, or `section` (converted from cargo-auditable's `.dep-v0`).
    source: &'static str,
    /// The SBOM referrer's manifest digest, when it came from one.
    sbom_digest: Option<wharf_oci::Digest>,
    /// Where the document was written (`-o`), if anywhere.
    output: Option<PathBuf>,
    /// The CycloneDX document (when not written to `-o`).
    document: Option<serde_json::Value>,
}

impl Args {
    /// Run the subcommand.
    pub async fn run(self, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
        let settings = global.settings()?;
        let mut subject = self.target.clone();
        let mut sbom_digest = None;
        let document = match Target::parse(&self.target, &settings)? {
            Target::File(path) => {
                let bytes = read_input(&path)?;
                from_section(&bytes, &self.target)?
            }
            Target::Remote(remote) => {
                let client = settings.client(Some(remote.registry()))?;
                let target = resolve(&client, &remote).await?;
                let manifest = client
                    .pull_manifest(&target)
                    .await
                    .with_context(|| format!("failed to resolve {target}"))?;
                subject = target.with_digest(manifest.digest.clone()).to_string();
                let mut sboms = client
                    .referrers(&target, &manifest.digest, Some(CYCLONEDX_MEDIA_TYPE))
                    .await?
                    .map(|i| i.manifests)
                    .unwrap_or_default();
                // newest first, by the creation annotation
                sboms.sort_by_key(|d| {
                    std::cmp::Reverse(
                        d.annotations
                            .as_ref()
                            .and_then(|a| a.get(wharf_oci::ANNOTATION_CREATED).cloned()),
                    )
                });
                match sboms.first() {
                    Some(d) => {
                        sbom_digest = Some(d.digest.clone());
                        wharf_core::referrer_layer(
                            &client,
                            &target,
                            &d.digest,
                            CYCLONEDX_MEDIA_TYPE,
                            MAX_SBOM_BYTES,
                        )
                        .await
                        .context("failed to pull the SBOM")?
                    }
                    None => {
                        drop(client);
                        let (_, _, fetched) = fetch(&settings, &remote).await?;
                        from_section(&fetched.wasm, &self.target)
                            .with_context(|| format!("{target} has no SBOM referrer either"))?
                    }
                }
            }
        };
        if let Some(path) = &self.output {
            std::fs::write(path, &document)
                .with_context(|| format!("failed to write `{}`", path.display()))?;
        }
        if self.json {
            let document = match &self.output {
                Some(_) => None,
                None => Some(
                    serde_json::from_slice(&document).context("the SBOM document is not JSON")?,
                ),
            };
            return super::print_json(&SbomReport {
                subject,
                source: if sbom_digest.is_some() {
                    "referrer"
                } else {
                    "section"
                },
                sbom_digest,
                output: self.output.clone(),
                document,
            });
        }
        if self.output.is_none() {
            out!("{}", String::from_utf8_lossy(&document));
        }
        Ok(ExitCode::SUCCESS)
    }
}

/// CycloneDX from the `.dep-v0` section of `wasm`; `what` (the file or reference) is named
/// in every error.
fn from_section(wasm: &[u8], what: &str) -> anyhow::Result<Vec<u8>> {
    let tree = wharf_component::dependency_tree(wasm)
        .with_context(|| format!("cannot read an SBOM from {what}"))?;
    let Some(tree) = tree else {
        bail!(
            "{what} has no cargo-auditable `.dep-v0` section (build it with `cargo auditable build`)"
        );
    };
    let bom = wharf_component::cyclonedx_sbom(&tree, env!("CARGO_PKG_VERSION"));
    let mut text = serde_json::to_vec_pretty(&bom)?;
    text.push(b'\n');
    Ok(text)
}
