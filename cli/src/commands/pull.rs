use std::path::{Path, PathBuf};

use anyhow::Context as _;
use std::process::ExitCode;

use serde::Serialize;
use wharf_core::check_package;
use wharf_oci::{Descriptor, Digest, ImageReference};

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
  wharf pull localhost:5000/demo/app@sha256:… -o app.wasm
  wharf pull localhost:5000/demo/app:1.0.0 -o downloads/      # downloads/app.wasm
  wharf pull localhost:5000/demo/app:1.0.0 -o - | wasm-tools print
  wharf pull localhost:5000/demo/app:1.0.0 --oci-layout ./airgap   # then: skopeo, oras, wharf copy")]
pub struct Args {
    /// `host[:port]/repository[:tag|@digest]` or `ns:name@version`.
    reference: String,
    /// Output file; `-` for stdout; a directory (or a path ending in `/`) gets the layer's
    /// `org.opencontainers.image.title`, else `<repository name>.wasm`.
    #[arg(short, long, required_unless_present = "oci_layout")]
    output: Option<PathBuf>,
    /// Instead of a wasm file, write the package (manifest, config, layer and its
    /// referrers: signatures, SBOMs, yank marks) into the OCI image layout at DIR, tagged
    /// with the version, after the same trust checks (what `skopeo copy oci:DIR:TAG` and
    /// `oras --oci-layout` read, and `wharf copy oci:DIR:TAG REF` pushes on the other side
    /// of an air gap).
    #[arg(long, value_name = "DIR", conflicts_with = "output")]
    oci_layout: Option<PathBuf>,
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
        let checked = check_package(
            &client,
            &remote,
            &self.verify.policy(&settings.trust),
            self.verify.mode(),
            &warn,
        )
        .await?;
        let layer = checked.layer.clone();
        let Some(out) = self.output else {
            let dir = self.oci_layout.unwrap_or_default();
            return pull_to_layout(&client, &checked, &dir, self.json).await;
        };
        let bar = bytes_bar(layer.size, "pulling");
        let to_stdout = out.as_os_str() == "-";
        if !to_stdout && out.as_os_str().to_string_lossy().ends_with('/') {
            std::fs::create_dir_all(&out)
                .with_context(|| format!("failed to create `{}`", out.display()))?;
        }
        let output = match to_stdout {
            true => out.clone(),
            false => output_path(&out, &layer, &checked.reference),
        };
        if to_stdout {
            // verified in a temporary file first: stdout never gets bytes that do not match
            let tmp = tempfile::tempdir().context("failed to create a temporary directory")?;
            let path = tmp.path().join("layer.wasm");
            checked
                .download(&client, &path, |n| bar.set_position(n))
                .await?;
            let mut file = std::fs::File::open(&path)
                .with_context(|| format!("failed to open `{}`", path.display()))?;
            std::io::copy(&mut file, &mut std::io::stdout().lock())
                .context("failed to write stdout")?;
        } else {
            checked
                .download(&client, &output, |n| bar.set_position(n))
                .await?;
        }
        bar.finish_and_clear();
        let pinned = checked.reference;
        if self.json {
            return print_json(&PullReport {
                reference: pinned.to_string(),
                digest: checked.manifest.digest,
                layer,
                output,
            });
        }
        eprintln!(
            "pulled {pinned} ({} bytes, {}) -> {}",
            layer.size,
            layer.digest,
            if to_stdout {
                "stdout".into()
            } else {
                output.display().to_string()
            }
        );
        Ok(ExitCode::SUCCESS)
    }
}

/// `pull --oci-layout DIR`: the checked package and its referrers copied into the layout,
/// tagged with the reference's tag.
async fn pull_to_layout(
    client: &wharf_client::Client,
    checked: &wharf_core::CheckedPackage,
    dir: &Path,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let layout = wharf_core::OciLayout::create(dir)?;
    let tag = checked.reference.tag.as_ref().map(ToString::to_string);
    let report = wharf_core::copy_between(
        wharf_core::Endpoint::Registry {
            client,
            reference: &checked.reference,
        },
        wharf_core::Endpoint::Layout {
            layout: &layout,
            tag: tag.as_deref(),
        },
        &wharf_core::CopyOptions::default(),
        &warn,
    )
    .await
    .with_context(|| {
        format!(
            "failed to pull {} into `{}`",
            checked.reference,
            dir.display()
        )
    })?;
    if json {
        return print_json(&report);
    }
    eprintln!(
        "pulled {} -> oci:{}{} ({} manifests, {} blobs, {} referrers)",
        checked.reference,
        dir.display(),
        tag.map(|t| format!(":{t}")).unwrap_or_default(),
        report.manifests,
        report.blobs_copied + report.blobs_present,
        report.referrers.len()
    );
    outln!("{}", report.digest);
    Ok(ExitCode::SUCCESS)
}

/// Where `-o` puts the layer: `output` itself, or inside it when it is a directory (or ends
/// in `/`, created then): the layer's title annotation when it is a plain file name (a
/// registry's annotation never names a path), else the repository's last part + `.wasm`.
fn output_path(output: &Path, layer: &Descriptor, reference: &ImageReference) -> PathBuf {
    let is_dir = output.is_dir() || output.as_os_str().to_string_lossy().ends_with('/');
    if !is_dir {
        return output.to_path_buf();
    }
    let title = layer
        .annotations
        .as_ref()
        .and_then(|a| a.get(wharf_oci::ANNOTATION_TITLE))
        .filter(|t| {
            let mut parts = Path::new(t.as_str()).components();
            matches!(
                (parts.next(), parts.next()),
                (Some(std::path::Component::Normal(_)), None)
            ) && !t.contains('/')
                && !t.contains('\\')
        });
    let name = match title {
        Some(t) => t.clone(),
        None => {
            let repo = reference.repository.as_str();
            format!("{}.wasm", repo.rsplit('/').next().unwrap_or(repo))
        }
    };
    output.join(name)
}
