use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use wharf_core::{PushOptions, Remote, SbomChoice, package_target, push_file};
use wharf_oci::ImageReference;

use super::print_json;
use crate::config::{GlobalArgs, signing_key};
use crate::output::warn;
use crate::progress::bytes_bar;
use crate::target::parse_remote;

/// `wharf push`
#[derive(clap::Args)]
#[command(after_help = "\
Prints the manifest digest on stdout. With SOURCE_DATE_EPOCH set, `created` is that time,
so pushing the same file twice gives the same manifest digest.

Examples:
  wharf push app.component.wasm localhost:5000/demo/app:1.0.0
  wharf push greeter.wasm demo:greeter@0.1.0 --registry localhost:5000
  wharf push app.wasm localhost:5000/demo/app:1.0.0 --annotation org.opencontainers.image.vendor=acme")]
pub struct Args {
    /// A component, core module or binary WIT package.
    file: PathBuf,
    /// Where to: `host[:port]/repository:tag` or `ns:name@version`.
    reference: String,
    /// Extra manifest annotation (repeatable).
    #[arg(long = "annotation", value_name = "KEY=VALUE")]
    annotations: Vec<String>,
    /// Sign the pushed manifest (cosign format, as a referrer) with --key.
    #[arg(long, requires = "key")]
    sign: bool,
    /// Private key for --sign (PKCS#8 PEM; an encrypted one is opened with
    /// WHARF_KEY_PASSPHRASE).
    #[arg(long, requires = "sign")]
    key: Option<PathBuf>,
    /// Attach an SBOM as a referrer: `auto` converts the cargo-auditable `.dep-v0` section
    /// to CycloneDX (a notice, not an error, when there is none), a path attaches that
    /// CycloneDX JSON file, `none` attaches nothing.
    #[arg(long, value_name = "auto|none|PATH", default_value = "none")]
    sbom: String,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

impl Args {
    /// Run the subcommand.
    pub async fn run(self, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
        let settings = global.settings()?;
        let remote = parse_remote(&self.reference, &settings)?;
        let client = settings.client(Some(remote.registry()))?;
        let target: ImageReference = match &remote {
            Remote::Image(r) => r.clone(),
            Remote::Package { package, .. } if package.exact.is_none() => {
                bail!(
                    "pushing `{package}` needs an exact version, e.g. `{}@1.0.0`",
                    package.package_name()
                )
            }
            Remote::Package { registry, package } => {
                package_target(&client, registry, package).await?
            }
        };
        let mut annotations = BTreeMap::new();
        for a in &self.annotations {
            let (k, v) = a
                .split_once('=')
                .with_context(|| format!("annotation `{a}` is not KEY=VALUE"))?;
            if k.is_empty() {
                bail!("annotation `{a}` has an empty key");
            }
            annotations.insert(k.to_owned(), v.to_owned());
        }
        let bar = bytes_bar(0, "pushing");
        let b = bar.clone();
        let options = PushOptions {
            annotations,
            key: self.key.as_deref().map(signing_key).transpose()?,
            sbom: SbomChoice::parse(&self.sbom),
            progress: Some(std::sync::Arc::new(move |sent, total| {
                b.set_length(total);
                b.set_position(sent);
            })),
        };
        let report = push_file(&client, &target, &self.file, &options, &warn).await;
        bar.finish_and_clear();
        let report = report?;
        if self.json {
            return print_json(&report);
        }
        if report.already_present {
            eprintln!(
                "{target} already holds this {} ({}): nothing pushed",
                report.kind,
                self.file.display()
            );
        } else {
            eprintln!(
                "pushed {} {} to {target} ({} new blobs)",
                report.kind,
                self.file.display(),
                report.blobs_sent
            );
        }
        if let Some(key) = &options.key {
            eprintln!("signed with key {}", key.key_id);
        }
        if let Some(sbom) = &report.sbom {
            eprintln!("attached SBOM {sbom}");
        }
        outln!("{}", report.digest);
        Ok(ExitCode::SUCCESS)
    }
}
