use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use serde::Serialize;
use wharf_oci::{Descriptor, Digest, ImageManifest, media_types};

use super::print_json;
use crate::config::GlobalArgs;
use crate::progress::bytes_bar;
use crate::target::Remote;

/// `wharf pull`
#[derive(clap::Args)]
#[command(after_help = "\
Reads the CNCF layout and the older wasm-to-oci and wasmCloud media types.

Examples:
  wharf pull localhost:5000/demo/app:1.0.0 -o app.wasm
  wharf pull demo:greeter@0.1.0 --registry localhost:5000 -o greeter.wasm
  wharf pull localhost:5000/demo/app@sha256:… -o app.wasm")]
pub struct Args {
    /// `host[:port]/repository[:tag|@digest]` or `ns:name@version`.
    reference: String,
    /// Output file.
    #[arg(short, long)]
    output: PathBuf,
    /// Print JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    verify: crate::trust::VerifyFlags,
}

#[derive(Serialize)]
struct PullReport {
    reference: String,
    digest: Digest,
    layer: Descriptor,
    output: PathBuf,
}

impl Args {
    /// Run the subcommand.
    pub async fn run(self, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
        let settings = global.settings()?;
        let remote = Remote::parse(&self.reference, &settings)?;
        let client = settings.client(Some(remote.registry()))?;
        let target = remote.resolve(&client).await?;
        let pulled = client
            .pull_manifest(&target)
            .await
            .with_context(|| format!("failed to pull {target}"))?;
        if pulled.media_type == media_types::OCI_INDEX
            || pulled.media_type == media_types::DOCKER_MANIFEST_LIST
        {
            anyhow::bail!(
                "{target} is an image index ({}), not a Wasm package",
                pulled.media_type
            );
        }
        let manifest = ImageManifest::from_slice(&pulled.bytes)
            .with_context(|| format!("{target} has an invalid manifest"))?;
        // signatures are checked against the digest actually pulled, before any byte is written
        settings
            .trust
            .enforce(&client, &target, &pulled.digest, self.verify)
            .await?;
        let layer = manifest
            .wasm_layer()
            .with_context(|| format!("{target} is not a Wasm package"))?
            .clone();
        let bar = bytes_bar(layer.size, "pulling");
        client
            .pull_blob_to_file(&target, &layer, &self.output, |n| bar.set_position(n))
            .await
            .with_context(|| format!("failed to pull the wasm layer of {target}"))?;
        bar.finish_and_clear();
        let pinned = target.with_digest(pulled.digest.clone());
        if self.json {
            return print_json(&PullReport {
                reference: pinned.to_string(),
                digest: pulled.digest,
                layer,
                output: self.output,
            });
        }
        eprintln!(
            "pulled {pinned} ({} bytes, {}) -> {}",
            layer.size,
            layer.digest,
            self.output.display()
        );
        Ok(ExitCode::SUCCESS)
    }
}
