//! Pushing a file as a Wasm package: the CNCF Wasm OCI artifact (config, one wasm layer,
//! annotations) built from what the file is, then signed and given its SBOM as referrers.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use serde::Serialize;
use wharf_component::{CYCLONEDX_MEDIA_TYPE, Inspection, WasmKind, inspect};
use wharf_oci::{
    ANNOTATION_TITLE, Descriptor, Digest, ImageManifest, ImageReference, PackageRef, Reference,
    WasmComponentConfig, WasmConfig, media_types,
};

use crate::Warn;
use crate::signatures::{SigningKey, sign_manifest};

/// Read a wasm file, `-` meaning stdin. A `.wat` file is parsed from the text format (as
/// wasm-tools does); parse errors carry line and column.
pub fn read_wasm(path: &Path) -> anyhow::Result<Vec<u8>> {
    if path.as_os_str() == "-" {
        let mut buf = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut buf)
            .context("failed to read stdin")?;
        return Ok(buf);
    }
    let bytes =
        std::fs::read(path).with_context(|| format!("failed to read `{}`", path.display()))?;
    if path.extension().is_some_and(|e| e == "wat") {
        return wat::parse_bytes(&bytes)
            .map(|b| b.into_owned())
            .map_err(|mut e| {
                e.set_path(path);
                e
            })
            .with_context(|| {
                format!(
                    "failed to parse the WebAssembly text in `{}`",
                    path.display()
                )
            });
    }
    Ok(bytes)
}

/// What `--sbom` asks for.
#[derive(Clone, Debug, Default)]
pub enum SbomChoice {
    /// Nothing.
    #[default]
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
    pub fn document(
        &self,
        wasm: &[u8],
        what: &str,
        warn: Warn<'_>,
    ) -> anyhow::Result<Option<Vec<u8>>> {
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
                    warn(&format!(
                        "{what} has no cargo-auditable `.dep-v0` section (build it with `cargo auditable build`); no SBOM attached"
                    ));
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
#[derive(Default)]
pub struct PushOptions {
    /// Extra manifest annotations.
    pub annotations: BTreeMap<String, String>,
    /// Sign with this key after the push.
    pub key: Option<SigningKey>,
    /// The SBOM to attach.
    pub sbom: SbomChoice,
    /// Told `(bytes sent, total)` while the wasm layer uploads.
    pub progress: Option<Progress>,
}

/// A progress callback: `(bytes done, total bytes)`.
pub type Progress = std::sync::Arc<dyn Fn(u64, u64) + Send + Sync>;

/// What a push did (`--json` output).
#[derive(Clone, Debug, Serialize)]
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
    /// The version already held this very artifact (another `created` at most): nothing
    /// was uploaded, `digest` is the existing manifest's.
    pub already_present: bool,
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

/// Push `file` (a component, core module or WIT package; `.wat` is encoded first) to
/// `target` in the CNCF Wasm layout, then sign it and attach its SBOM as `options` say.
/// Everything that can fail on the input (the wasm, the key, the SBOM) is checked before
/// the first byte is sent.
pub async fn push_file(
    client: &wharf_client::Client,
    target: &ImageReference,
    file: &Path,
    options: &PushOptions,
    warn: Warn<'_>,
) -> anyhow::Result<PushReport> {
    let what = file.display().to_string();
    let bytes = read_wasm(file)?;
    let info = inspect(&bytes, &what)?;
    let sbom = options.sbom.document(&bytes, &what, warn)?;
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
    annotations.insert(wharf_oci::ANNOTATION_CREATED.to_owned(), created.clone());
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

    // a version that already holds this very artifact (a retried push, or the same file
    // pushed again at another time) is a success: nothing is uploaded, its digest reported,
    // and a signature or SBOM asked for is attached to it
    let existing = same_artifact_at(client, target, &manifest).await;
    let already_present = existing.is_some();
    let (digest, manifest_desc, sent) = match existing {
        Some(existing) => (existing.digest.clone(), existing, 0),
        None => {
            let progress = options.progress.clone();
            let total = info.size;
            // the layer and the config go up at once (each skipped when the registry has it)
            let (layer_sent, config_sent) = futures_util::try_join!(
                async {
                    client
                        .push_blob_file(target, layer_path, &info.digest, info.size, move |n| {
                            if let Some(p) = &progress {
                                p(n, total)
                            }
                        })
                        .await
                        .with_context(|| format!("failed to push the wasm layer to {target}"))
                },
                async {
                    client
                        .push_blob_bytes(target, config_bytes)
                        .await
                        .context("failed to push the config")
                },
            )?;
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
                bail!(
                    "the pushed manifest has digest {digest}, not the {pinned} named in the reference"
                );
            }
            (
                digest,
                manifest_desc,
                usize::from(layer_sent) + usize::from(config_sent),
            )
        }
    };
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
                        wharf_oci::ANNOTATION_CREATED.to_owned(),
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
        already_present,
        signature,
        sbom,
    })
}

/// The manifest tag `target` already points at, when it is `manifest` but for the time it
/// was made: the same layers (digest, size, media type, annotations), config media type and
/// subject, and the same manifest annotations besides `org.opencontainers.image.created`.
/// `None` when the tag is free, holds something else or cannot be read (the push then goes
/// ahead and the registry decides), and for a target pinned by digest.
async fn same_artifact_at(
    client: &wharf_client::Client,
    target: &ImageReference,
    manifest: &ImageManifest,
) -> Option<Descriptor> {
    target.tag.as_ref()?;
    if target.digest.is_some() {
        return None;
    }
    let pulled = client.pull_manifest(target).await.ok()?;
    let theirs = ImageManifest::from_slice(&pulled.bytes).ok()?;
    let without_created = |m: &ImageManifest| {
        let mut a = m.annotations.clone().unwrap_or_default();
        a.remove(wharf_oci::ANNOTATION_CREATED);
        a
    };
    let same = theirs.layers == manifest.layers
        && theirs.config.media_type == manifest.config.media_type
        && theirs.subject == manifest.subject
        && without_created(&theirs) == without_created(manifest);
    same.then(|| Descriptor::new(&pulled.media_type, pulled.digest, pulled.bytes.len() as u64))
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
