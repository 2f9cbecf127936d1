use std::path::PathBuf;
use std::process::ExitCode;

use serde::Serialize;
use wharf_core::check_package;
use wharf_oci::{Descriptor, Digest};

use super::print_json;
use crate::config::GlobalArgs;
use crate::output::warn;
use crate::progress::bytes_bar;
use crate::target::{VerifyFlags, parse_remote};

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
    verify: VerifyFlags,
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
        let remote = parse_remote(&self.reference, &settings)?;
        let client = settings.client(Some(remote.registry()))?;
        // signatures are checked against the digest actually pulled, before any byte is written
        let checked =
            check_package(&client, &remote, &settings.trust, self.verify.mode(), &warn).await?;
        let layer = checked.layer.clone();
        let bar = bytes_bar(layer.size, "pulling");
        checked
            .download(&client, &self.output, |n| bar.set_position(n))
            .await?;
        bar.finish_and_clear();
        let pinned = checked.reference;
        if self.json {
            return print_json(&PullReport {
                reference: pinned.to_string(),
                digest: checked.manifest.digest,
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
