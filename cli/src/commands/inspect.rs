use std::process::ExitCode;

use serde::Serialize;
use wharf_component::{Inspection, inspect};
use wharf_oci::{Digest, WasmArtifact, WasmLayout};

use super::print_json;
use crate::config::GlobalArgs;
use crate::target::{Target, fetch, read_input};

/// `wharf inspect`
#[derive(clap::Args)]
#[command(after_help = "\
Examples:
  wharf inspect app.component.wasm
  wharf inspect app.wasm --json
  wharf inspect localhost:5000/demo/app:1.0.0     # also shows manifest, config, annotations")]
pub struct Args {
    /// A wasm file (`-` for stdin) or a reference.
    target: String,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct RemoteReport {
    reference: String,
    /// The manifest digest (the wasm's own digest is `wasm_digest`).
    manifest_digest: Digest,
    /// Which tool's layout the artifact has (`cncf`, `oras`, `wasm-to-oci`, …).
    layout: Option<WasmLayout>,
    manifest: serde_json::Value,
    config: serde_json::Value,
    /// Attestations attached (SLSA provenance and other in-toto statements in Sigstore
    /// bundles), judged against the trust policy's signers for the package.
    attestations: Vec<wharf_core::AttestationReport>,
    #[serde(flatten)]
    wasm: Inspection,
}

fn print_inspection(i: &Inspection) {
    outln!("kind:     {}", i.kind.as_str());
    outln!("size:     {} bytes", i.size);
    outln!("wasm digest: {}", i.digest);
    if let Some(p) = &i.package {
        outln!("package:  {p}");
    }
    outln!("target:   {}", i.target.as_deref().unwrap_or("(unknown)"));
    let list = |title: &str, items: &[String]| {
        outln!("{title}:{}", if items.is_empty() { " (none)" } else { "" });
        for it in items {
            outln!("  {it}");
        }
    };
    list("imports", &i.imports);
    list("exports", &i.exports);
    let m = &i.metadata;
    let fields = [
        ("name", &m.name),
        ("version", &m.version),
        ("description", &m.description),
        ("authors", &m.authors),
        ("licenses", &m.licenses),
        ("source", &m.source),
        ("homepage", &m.homepage),
        ("revision", &m.revision),
    ];
    for (k, v) in fields {
        if let Some(v) = v {
            outln!("{k}: {v}");
        }
    }
    for (field, tools) in &m.producers {
        let tools: Vec<String> = tools.iter().map(|(n, v)| format!("{n} {v}")).collect();
        outln!("producers.{field}: {}", tools.join(", "));
    }
    if !i.custom_sections.is_empty() {
        outln!("custom sections: {}", i.custom_sections.join(", "));
    }
}

impl Args {
    /// Run the subcommand.
    pub async fn run(self, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
        let settings = global.settings()?;
        match Target::parse(&self.target, &settings)? {
            Target::File(path) => {
                let bytes = read_input(&path)?;
                let info = inspect(&bytes, &path.display().to_string())?;
                if self.json {
                    return print_json(&info);
                }
                print_inspection(&info);
                Ok(ExitCode::SUCCESS)
            }
            Target::Remote(remote) => {
                let (client, target, fetched) = fetch(&settings, &remote).await?;
                let manifest_json: serde_json::Value =
                    serde_json::from_slice(&fetched.manifest_raw.bytes)?;
                let manifest = &fetched.manifest;
                let config_bytes = client
                    .pull_blob_bytes(&target, &manifest.config, 1024 * 1024)
                    .await?;
                let config: serde_json::Value =
                    serde_json::from_slice(&config_bytes).unwrap_or(serde_json::Value::Null);
                let info = inspect(&fetched.wasm, &target.to_string())?;
                let signers = match settings.trust.rule_for(&target) {
                    Some(rule) => rule.signers()?,
                    None => wharf_core::Signers::nobody()?,
                };
                let attestations = wharf_core::check_attestations(
                    &client,
                    &target,
                    &fetched.manifest_digest,
                    &signers,
                )
                .await?;
                let report = RemoteReport {
                    reference: target
                        .with_digest(fetched.manifest_digest.clone())
                        .to_string(),
                    manifest_digest: fetched.manifest_digest.clone(),
                    layout: WasmArtifact::read(manifest).ok().map(|a| a.layout),
                    manifest: manifest_json,
                    config,
                    attestations,
                    wasm: info,
                };
                if self.json {
                    return print_json(&report);
                }
                outln!("reference: {}", report.reference);
                outln!(
                    "manifest:  {} ({})",
                    report.manifest_digest,
                    fetched.manifest_raw.media_type
                );
                if let Some(layout) = report.layout {
                    outln!("layout:    {}", layout.as_str());
                }
                outln!(
                    "config:    {} ({})",
                    manifest.config.digest,
                    manifest.config.media_type
                );
                if let Some(a) = &manifest.annotations {
                    outln!("annotations:");
                    for (k, v) in a {
                        outln!("  {k}: {v}");
                    }
                }
                for a in &report.attestations {
                    outln!(
                        "attestation: {} {} ({}{})",
                        a.predicate_type.as_deref().unwrap_or("(unknown predicate)"),
                        a.digest,
                        a.status,
                        match (&a.signer, &a.detail) {
                            (Some(s), _) => format!(" by {s}"),
                            (None, Some(why)) => format!(": {why}"),
                            (None, None) => String::new(),
                        }
                    );
                }
                print_inspection(&report.wasm);
                Ok(ExitCode::SUCCESS)
            }
        }
    }
}
