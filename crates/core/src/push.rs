//! Pushing a file as a Wasm package: the CNCF Wasm OCI artifact (config, one wasm layer,
//! annotations) built from what the file is, then signed and given its SBOM as referrers.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use futures_util::StreamExt as _;
use serde::Serialize;
use wharf_component::{CYCLONEDX_MEDIA_TYPE, Inspection, WasmKind};
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
            SbomChoice::File(path) => read_sbom_file(path).map(Some),
        }
    }
}

/// The CycloneDX JSON document in the file at `path`, checked to be one.
fn read_sbom_file(path: &Path) -> anyhow::Result<Vec<u8>> {
    let bytes =
        std::fs::read(path).with_context(|| format!("failed to read SBOM `{}`", path.display()))?;
    let doc: serde_json::Value = serde_json::from_slice(&bytes)
        .with_context(|| format!("SBOM `{}` is not JSON", path.display()))?;
    if doc.get("bomFormat").and_then(|f| f.as_str()) != Some("CycloneDX") {
        bail!(
            "SBOM `{}` is not a CycloneDX JSON document (no \"bomFormat\": \"CycloneDX\")",
            path.display()
        );
    }
    Ok(bytes)
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
///
/// The file is read in [`READ_CHUNK`] pieces and never held whole. Into a repository with
/// no tags (a new package) it is read once: each piece goes to the registry as it is read
/// while the same pass hashes, validates and inspects it
/// ([`wharf_component::StreamingInspector`]), so the inspection costs no time of its own.
/// Where the repository has tags, the file is hashed first (a fast pass) so that a layer
/// the repository holds is not sent again (`HEAD`), and where the tag holds a manifest it is
/// inspected first, so that a version that already holds this very artifact uploads
/// nothing (see [`PushReport::already_present`]). Nothing becomes visible before it has all
/// been checked: the layer's upload session is committed only once the binary validated
/// (and its SBOM, when asked for, was read), and cancelled otherwise, so an invalid file
/// leaves nothing in the registry.
/// Standard input and `.wat` files are read whole (the text is encoded first) and pushed
/// from a temporary file.
///
/// # Errors
/// An unreadable file, a binary that does not validate (naming the file and the reason),
/// an unreadable SBOM, and the registry's refusals, each naming what was being pushed.
pub async fn push_file(
    client: &wharf_client::Client,
    target: &ImageReference,
    file: &Path,
    options: &PushOptions,
    warn: Warn<'_>,
) -> anyhow::Result<PushReport> {
    let what = file.display().to_string();
    // standard input and the text format are pushed as the binary they hold, from a file
    let text_source = file.extension().is_some_and(|e| e == "wat");
    let materialized = match read_whole(file) {
        true => {
            let bytes = read_wasm(file)?;
            let mut tmp =
                tempfile::NamedTempFile::new().context("failed to create a temporary file")?;
            std::io::Write::write_all(&mut tmp, &bytes)
                .context("failed to write a temporary file")?;
            Some(tmp)
        }
        false => None,
    };
    let layer_path = materialized.as_ref().map_or(file, |t| t.path());
    // a named SBOM file is checked before anything is sent
    let sbom_file = match &options.sbom {
        SbomChoice::File(path) => Some(read_sbom_file(path)?),
        _ => None,
    };

    // a tag that holds a manifest may hold this very artifact: inspected before anything is
    // sent; a repository with tags may hold the layer: hashed first (a fast pass) and asked
    let held = held_manifest(client, target).await;
    let inspect_first = match &held {
        Some(_) => true,
        None if client
            .has_tags(&target.registry, &target.repository)
            .await
            .unwrap_or(true) =>
        {
            let path = layer_path.to_owned();
            let digest = blocking(move || hash_file(&path)).await?;
            client
                .blob_size(target, &digest)
                .await
                .ok()
                .flatten()
                .is_some()
        }
        None => false,
    };
    let (info, reduced, upload) = match inspect_first {
        true => {
            let (path, name) = (layer_path.to_owned(), what.clone());
            let (info, reduced) = blocking(move || inspect_file(&path, &name)).await?;
            (info, reduced, None)
        }
        false => {
            let (upload, info, reduced) =
                upload_inspecting(client, target, layer_path, &what, options.progress.clone())
                    .await?;
            (info, reduced, Some(upload))
        }
    };
    let sbom = match (&options.sbom, sbom_file) {
        (SbomChoice::Auto, _) => options.sbom.document(&reduced, &what, warn),
        (_, file) => Ok(file),
    };
    drop(reduced);
    let sbom = match sbom {
        Ok(sbom) => sbom,
        Err(e) => {
            if let Some(upload) = upload {
                let _ = client.cancel_upload(target, upload).await;
            }
            return Err(e);
        }
    };

    let created = created_time()?;
    let config = wasm_config(&info, &created);
    let config_bytes = serde_json::to_vec(&config)?;
    let config_desc = Descriptor::of(media_types::WASM_CONFIG, &config_bytes);

    let title = match (file.file_stem(), text_source) {
        (Some(stem), true) => format!("{}.wasm", stem.to_string_lossy()),
        _ if file.as_os_str() == "-" => "module.wasm".into(),
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
    let existing =
        held.and_then(|(theirs, desc)| same_artifact(&theirs, &manifest).then_some(desc));
    let already_present = existing.is_some();
    let (digest, manifest_desc, sent) = match existing {
        Some(existing) => (existing.digest.clone(), existing, 0),
        None => {
            let progress = options.progress.clone();
            let total = info.size;
            // the layer and the config go up at once (each skipped when the registry has it)
            let (layer_sent, config_sent) = futures_util::try_join!(
                async {
                    match upload {
                        Some(upload) => client
                            .commit_upload(target, upload, &info.digest)
                            .await
                            .map(|()| true),
                        None => {
                            client
                                .push_blob_file(
                                    target,
                                    layer_path,
                                    &info.digest,
                                    info.size,
                                    move |n| {
                                        if let Some(p) = &progress {
                                            p(n, total)
                                        }
                                    },
                                )
                                .await
                        }
                    }
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

/// Size of the pieces a pushed file is read, sent and inspected in (1 MiB).
pub const READ_CHUNK: usize = 1 << 20;

/// Pieces read ahead of the upload (so at most this many [`READ_CHUNK`]s are in memory).
const READ_AHEAD: usize = 4;

/// Whether `path` is read whole by [`read_wasm`] rather than streamed: standard input
/// (`-`), and the text format (`.wat`), which is encoded first.
fn read_whole(path: &Path) -> bool {
    path.as_os_str() == "-" || path.extension().is_some_and(|e| e == "wat")
}

/// Run `f` on the blocking pool (file reads, hashing, validation).
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> anyhow::Result<T> + Send + 'static,
) -> anyhow::Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .context("a file-reading task failed")?
}

/// The sha256 digest of the file at `path`, read in [`READ_CHUNK`] pieces.
pub(crate) fn hash_file(path: &Path) -> anyhow::Result<Digest> {
    use std::io::Read as _;
    let mut file = std::fs::File::open(path)
        .with_context(|| format!("failed to read `{}`", path.display()))?;
    let mut hasher = wharf_oci::DigestHasher::new();
    let mut piece = vec![0u8; READ_CHUNK];
    loop {
        let n = match file.read(&mut piece) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err(e).with_context(|| format!("failed to read `{}`", path.display()));
            }
        };
        hasher.update(&piece[..n]);
    }
    Ok(hasher.finish().0)
}

/// The file at `path`, open for reading, and its length in bytes.
fn open_sized(path: &Path) -> anyhow::Result<(std::fs::File, u64)> {
    let read = || format!("failed to read `{}`", path.display());
    let file = std::fs::File::open(path).with_context(read)?;
    let size = file.metadata().with_context(read)?.len();
    Ok((file, size))
}

/// Validate and inspect the file at `path` in one streaming pass: its inspection and the
/// reduced binary ([`wharf_component::StreamingInspector::finish_reduced`]).
fn inspect_file(path: &Path, what: &str) -> anyhow::Result<(Inspection, Vec<u8>)> {
    let (file, size) = open_sized(path)?;
    read_inspecting(file, size, path, what, |_| true)
}

/// [`inspect_file`] on the blocking pool for a wasm file as `push` takes it: standard input
/// (`-`) and the text format (`.wat`) are read whole and encoded ([`read_wasm`]), and their
/// binary is returned whole; a binary file is streamed and its reduced binary returned, so
/// a large component is never held in memory. Either can be decoded to its WIT.
pub(crate) async fn inspect_wasm_file(path: &Path) -> anyhow::Result<(Inspection, Vec<u8>)> {
    let what = path.display().to_string();
    if read_whole(path) {
        let bytes = read_wasm(path)?;
        return Ok((wharf_component::inspect(&bytes, &what)?, bytes));
    }
    let path = path.to_path_buf();
    blocking(move || inspect_file(&path, &what)).await
}

/// Read `size` bytes of `file` in [`READ_CHUNK`] pieces, hand each to `sink` (until it
/// answers false: it wants no more) and then hash, validate and inspect it. The whole file
/// is inspected even when the sink stopped early, so a problem of the file is reported
/// before one of where it was going. A file whose length is not `size` (it changed while it
/// was read) is an error naming `path`.
fn read_inspecting(
    file: std::fs::File,
    size: u64,
    path: &Path,
    what: &str,
    mut sink: impl FnMut(bytes::Bytes) -> bool,
) -> anyhow::Result<(Inspection, Vec<u8>)> {
    use std::io::Read as _;
    let mut file = file.take(size);
    let mut hasher = wharf_oci::DigestHasher::new();
    let mut inspector = wharf_component::StreamingInspector::new(what);
    let mut sending = true;
    loop {
        let mut piece = Vec::with_capacity(READ_CHUNK);
        (&mut file)
            .take(READ_CHUNK as u64)
            .read_to_end(&mut piece)
            .with_context(|| format!("failed to read `{}`", path.display()))?;
        if piece.is_empty() {
            break;
        }
        let piece = bytes::Bytes::from(piece);
        sending = sending && sink(piece.clone());
        hasher.update(&piece);
        inspector.feed(&piece)?;
    }
    let (digest, len) = hasher.finish();
    if len != size {
        bail!(
            "`{}` changed while it was read: {len} bytes instead of {size}",
            path.display()
        );
    }
    Ok(inspector.finish_reduced(digest)?)
}

/// Upload the file at `path` into a new upload session of `target` while the same read
/// hashes, validates and inspects it ([`read_inspecting`] on a blocking thread, the upload
/// one streamed `PATCH` fed [`READ_AHEAD`] pieces ahead). Returns the session, still open,
/// with the inspection and reduced binary; on any failure the session is cancelled and the
/// inspection's error (naming the file) comes first, also when the registry could not be
/// reached or refused the upload.
async fn upload_inspecting(
    client: &wharf_client::Client,
    target: &ImageReference,
    path: &Path,
    what: &str,
    progress: Option<Progress>,
) -> anyhow::Result<(wharf_client::BlobUpload, Inspection, Vec<u8>)> {
    let (file, size) = open_sized(path)?;
    let mut upload = match client.open_upload(target).await {
        Ok(upload) => upload,
        Err(e) => {
            // the file's own problems come before the registry's
            let (path, what) = (path.to_owned(), what.to_owned());
            blocking(move || inspect_file(&path, &what)).await?;
            return Err(e).with_context(|| format!("failed to push the wasm layer to {target}"));
        }
    };
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<bytes::Bytes>>(READ_AHEAD);
    let reader = {
        let path = path.to_owned();
        let what = what.to_owned();
        let tx = tx.clone();
        tokio::task::spawn_blocking(move || {
            let result = read_inspecting(file, size, &path, &what, |piece| {
                tx.blocking_send(Ok(piece)).is_ok()
            });
            if let Err(e) = &result {
                // end the request body with an error, so the registry keeps nothing of it
                let _ = tx.blocking_send(Err(std::io::Error::other(e.to_string())));
            }
            result
        })
    };
    drop(tx);
    let mut sent = 0u64;
    let body = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|piece| (piece, rx))
    })
    .map(move |piece| {
        if let (Ok(p), Some(progress)) = (&piece, &progress) {
            sent += p.len() as u64;
            progress(sent, size);
        }
        piece
    });
    let uploaded = client.upload_chunk(target, &mut upload, body, size).await;
    let inspected = reader.await.context("a file-reading task failed")?;
    match (inspected, uploaded) {
        (Ok((info, reduced)), Ok(())) => Ok((upload, info, reduced)),
        (Err(e), _) => {
            let _ = client.cancel_upload(target, upload).await;
            Err(e)
        }
        (Ok(_), Err(e)) => {
            let _ = client.cancel_upload(target, upload).await;
            Err(e).with_context(|| format!("failed to push the wasm layer to {target}"))
        }
    }
}

/// What the tag of `target` holds now: its manifest and descriptor, when it is an image
/// manifest. `None` when the tag is free, holds something else or cannot be read, and for a
/// target pinned by digest.
async fn held_manifest(
    client: &wharf_client::Client,
    target: &ImageReference,
) -> Option<(ImageManifest, Descriptor)> {
    target.tag.as_ref()?;
    if target.digest.is_some() {
        return None;
    }
    let pulled = client.pull_manifest(target).await.ok()?;
    let theirs = ImageManifest::from_slice(&pulled.bytes).ok()?;
    let desc = Descriptor::new(&pulled.media_type, pulled.digest, pulled.bytes.len() as u64);
    Some((theirs, desc))
}

/// Whether `theirs` (what a tag holds) is `manifest` but for the time it was made: the
/// same layers (digest, size, media type, annotations), config media type and subject, and
/// the same manifest annotations besides `org.opencontainers.image.created`.
fn same_artifact(theirs: &ImageManifest, manifest: &ImageManifest) -> bool {
    let without_created = |m: &ImageManifest| {
        let mut a = m.annotations.clone().unwrap_or_default();
        a.remove(wharf_oci::ANNOTATION_CREATED);
        a
    };
    theirs.layers == manifest.layers
        && theirs.config.media_type == manifest.config.media_type
        && theirs.subject == manifest.subject
        && without_created(theirs) == without_created(manifest)
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
