use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use serde::Serialize;
use wharf_component::{CYCLONEDX_MEDIA_TYPE, Inspection, WasmKind, inspect};
use wharf_oci::{
    ANNOTATION_TITLE, Descriptor, Digest, ImageManifest, ImageReference, PackageRef, Reference,
    WasmComponentConfig, WasmConfig, media_types,
};

use super::print_json;
use super::sign::{SigningKey, sign_manifest};
use crate::config::GlobalArgs;
use crate::progress::bytes_bar;
use crate::target::{Remote, read_input};

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

/// What `--sbom` asks for.
#[derive(Clone, Debug)]
pub enum SbomChoice {
    /// Nothing.
    None,
    /// From the `.dep-v0` section, when there is one.
    Auto,
    /// This CycloneDX JSON file.
    File(PathBuf),
}

impl SbomChoice {
    /// Parse `auto`, `none` or a path.
    pub fn parse(s: &str) -> Self {
        match s {
            "none" => SbomChoice::None,
            "auto" => SbomChoice::Auto,
            p => SbomChoice::File(PathBuf::from(p)),
        }
    }

    /// The SBOM document for `wasm` (checked to be CycloneDX JSON), if any.
    pub fn document(&self, wasm: &[u8], what: &str) -> anyhow::Result<Option<Vec<u8>>> {
        match self {
            SbomChoice::None => Ok(None),
            SbomChoice::Auto => match wharf_component::dependency_tree(wasm)
                .with_context(|| format!("cannot read an SBOM from {what}"))?
            {
                Some(tree) => {
                    let bom = wharf_component::cyclonedx_sbom(&tree, env!("CARGO_PKG_VERSION"));
                    Ok(Some(serde_json::to_vec_pretty(&bom)?))
                }
                None => {
                    eprintln!(
                        "note: {what} has no cargo-auditable `.dep-v0` section (build it with `cargo auditable build`); no SBOM attached"
                    );
                    Ok(None)
                }
            },
            SbomChoice::File(path) => {
                let bytes = std::fs::read(path)
                    .with_context(|| format!("failed to read SBOM `{}`", path.display()))?;
                let doc: serde_json::Value = serde_json::from_slice(&bytes)
                    .with_context(|| format!("SBOM `{}` is not JSON", path.display()))?;
                if doc.get("bomFormat").and_then(|f| f.as_str()) != Some("CycloneDX") {
                    bail!(
                        "SBOM `{}` is not a CycloneDX JSON document (no \"bomFormat\": \"CycloneDX\")",
                        path.display()
                    );
                }
                Ok(Some(bytes))
            }
        }
    }
}

/// Everything a push does besides the layer: annotations, signing, SBOM.
pub struct PushOptions {
    /// Extra manifest annotations.
    pub annotations: BTreeMap<String, String>,
    /// Sign with this key after the push.
    pub key: Option<SigningKey>,
    /// The SBOM to attach.
    pub sbom: SbomChoice,
}

/// What a push did (`--json` output).
#[derive(Serialize)]
pub struct PushReport {
    /// Where it went.
    pub reference: String,
    /// The manifest digest.
    pub digest: Digest,
    /// `component`, `core-module` or `wit-package`.
    pub kind: &'static str,
    /// The wasm layer.
    pub layer: Descriptor,
    /// The config blob.
    pub config: Descriptor,
    /// Blobs the registry did not have.
    pub blobs_sent: usize,
    /// The signature manifest, when signed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signature: Option<Digest>,
    /// The SBOM referrer, when one was attached.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sbom: Option<Digest>,
}

/// The `created` time: `SOURCE_DATE_EPOCH` (seconds, the reproducible-builds convention)
/// when set, so the same file pushes to the same manifest digest; else now. RFC 3339.
fn created_time() -> anyhow::Result<String> {
    let time = match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(v) => {
            let secs: i64 = v
                .trim()
                .parse()
                .with_context(|| format!("SOURCE_DATE_EPOCH `{v}` is not a number of seconds"))?;
            chrono::DateTime::from_timestamp(secs, 0)
                .with_context(|| format!("SOURCE_DATE_EPOCH `{v}` is out of range"))?
        }
        Err(_) => chrono::Utc::now(),
    };
    Ok(time.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
}

/// The CNCF Wasm config for an inspected binary.
fn wasm_config(info: &Inspection, created: &str) -> WasmConfig {
    let component = match info.kind {
        WasmKind::CoreModule => None,
        WasmKind::Component | WasmKind::WitPackage => Some(WasmComponentConfig {
            exports: info.exports.clone(),
            imports: info.imports.clone(),
            target: info.target.clone(),
        }),
    };
    WasmConfig {
        created: Some(created.to_owned()),
        author: info.metadata.authors.clone(),
        architecture: "wasm".to_owned(),
        os: info.kind.oci_os().to_owned(),
        layer_digests: vec![info.digest.clone()],
        component,
    }
}

impl Args {
    /// Run the subcommand.
    pub async fn run(self, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
        let settings = global.settings()?;
        let remote = Remote::parse(&self.reference, &settings)?;
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
        let options = PushOptions {
            annotations,
            key: self.key.as_deref().map(SigningKey::load).transpose()?,
            sbom: SbomChoice::parse(&self.sbom),
        };
        let report = push_file(&client, &target, &self.file, &options).await?;
        if self.json {
            return print_json(&report);
        }
        eprintln!(
            "pushed {} {} to {target} ({} new blobs)",
            report.kind,
            self.file.display(),
            report.blobs_sent
        );
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

/// Push `file` (a component, core module or WIT package; `.wat` is encoded first) to
/// `target` in the CNCF Wasm layout, then sign it and attach its SBOM as `options` say.
/// Everything that can fail on the input (the wasm, the key, the SBOM) is checked before
/// the first byte is sent.
pub async fn push_file(
    client: &wharf_client::Client,
    target: &ImageReference,
    file: &Path,
    options: &PushOptions,
) -> anyhow::Result<PushReport> {
    let what = file.display().to_string();
    let bytes = read_input(file)?;
    let info = inspect(&bytes, &what)?;
    let sbom = options.sbom.document(&bytes, &what)?;
    // a `.wat` file is pushed as the binary it encodes
    let text_source = file.extension().is_some_and(|e| e == "wat");
    let converted = match text_source {
        true => {
            let mut tmp =
                tempfile::NamedTempFile::new().context("failed to create a temporary file")?;
            std::io::Write::write_all(&mut tmp, &bytes)
                .context("failed to write a temporary file")?;
            Some(tmp)
        }
        false => None,
    };
    let layer_path = converted.as_ref().map_or(file, |t| t.path());
    drop(bytes);

    let created = created_time()?;
    let config = wasm_config(&info, &created);
    let config_bytes = serde_json::to_vec(&config)?;
    let config_desc = Descriptor::of(media_types::WASM_CONFIG, &config_bytes);

    let title = match (file.file_stem(), text_source) {
        (Some(stem), true) => format!("{}.wasm", stem.to_string_lossy()),
        _ => file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "module.wasm".into()),
    };
    let mut layer = Descriptor::new(media_types::WASM_LAYER, info.digest.clone(), info.size);
    layer.annotations = Some(BTreeMap::from([(ANNOTATION_TITLE.to_owned(), title)]));

    let mut annotations = info.metadata.oci_annotations();
    annotations.insert(
        "org.opencontainers.image.created".to_owned(),
        created.clone(),
    );
    annotations.extend(options.annotations.clone());
    let manifest = ImageManifest {
        schema_version: 2,
        media_type: Some(media_types::OCI_MANIFEST.to_owned()),
        artifact_type: None,
        config: config_desc.clone(),
        layers: vec![layer.clone()],
        subject: None,
        annotations: Some(annotations),
    };
    let manifest_bytes = serde_json::to_vec_pretty(&manifest)?;
    let manifest_desc = Descriptor::of(media_types::OCI_MANIFEST, &manifest_bytes);

    let bar = bytes_bar(info.size, "pushing");
    let b = bar.clone();
    let mut sent = 0;
    sent += usize::from(
        client
            .push_blob_file(target, layer_path, &info.digest, info.size, move |n| {
                b.set_position(n)
            })
            .await
            .with_context(|| format!("failed to push the wasm layer to {target}"))?,
    );
    bar.finish_and_clear();
    sent += usize::from(
        client
            .push_blob_bytes(target, config_bytes)
            .await
            .context("failed to push the config")?,
    );
    let reference = target
        .tag
        .clone()
        .map(Reference::Tag)
        .unwrap_or_else(|| target.reference());
    let digest = client
        .push_manifest(
            target,
            &reference,
            media_types::OCI_MANIFEST,
            manifest_bytes,
        )
        .await
        .with_context(|| format!("failed to push the manifest to {target}"))?;
    if let Some(pinned) = &target.digest
        && pinned != &digest
    {
        bail!("the pushed manifest has digest {digest}, not the {pinned} named in the reference");
    }
    let signature = match &options.key {
        Some(key) => Some(sign_manifest(client, target, manifest_desc.clone(), key).await?),
        None => None,
    };
    let sbom = match sbom {
        Some(doc) => Some(
            client
                .push_referrer(
                    target,
                    manifest_desc,
                    CYCLONEDX_MEDIA_TYPE,
                    vec![(CYCLONEDX_MEDIA_TYPE.to_owned(), doc, None)],
                    Some(BTreeMap::from([(
                        "org.opencontainers.image.created".to_owned(),
                        created,
                    )])),
                )
                .await
                .context("failed to attach the SBOM")?
                .digest,
        ),
        None => None,
    };
    Ok(PushReport {
        reference: target.to_string(),
        digest,
        kind: info.kind.as_str(),
        layer,
        config: config_desc,
        blobs_sent: sent,
        signature,
        sbom,
    })
}

/// For a push of a package name: the repository the registry's discovery document maps
/// it to, tagged with the exact version.
pub async fn package_target(
    client: &wharf_client::Client,
    registry: &str,
    package: &PackageRef,
) -> anyhow::Result<ImageReference> {
    let meta = client.registry_metadata(registry).await?;
    let repository = package.repository(meta.namespace_prefix())?;
    let version = package
        .exact
        .as_ref()
        .map(ToString::to_string)
        .unwrap_or_default();
    Ok(ImageReference {
        registry: meta.oci_registry_or(registry).to_owned(),
        repository,
        tag: Some(version.parse()?),
        digest: None,
    })
}
