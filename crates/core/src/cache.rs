//! The content-addressed blob cache and the fetch of a package's wasm layer through it.

use std::path::{Path, PathBuf};

use wharf_client::Client;
use wharf_oci::{Descriptor, Digest, ImageManifest, ImageReference, WasmArtifact, media_types};

use crate::FetchError;

/// A content-addressed directory of blobs: `<root>/blobs/<algorithm>/<hex>`.
/// Files get in only after their digest was checked; reads check again.
#[derive(Clone, Debug)]
pub struct BlobCache {
    root: PathBuf,
}

impl BlobCache {
    /// A cache rooted at `root` (created on first write).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        BlobCache { root: root.into() }
    }

    /// The default root: `$XDG_CACHE_HOME/wharf` (or the platform's cache dir).
    pub fn default_root() -> PathBuf {
        dirs::cache_dir()
            .unwrap_or_else(std::env::temp_dir)
            .join("wharf")
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where blob `digest` lives.
    pub fn path_of(&self, digest: &Digest) -> PathBuf {
        self.root
            .join("blobs")
            .join(digest.algorithm().as_str())
            .join(digest.encoded())
    }

    /// Read blob `digest` if cached, verifying it. A corrupt file is removed and reported.
    pub fn read(&self, digest: &Digest) -> Result<Option<Vec<u8>>, FetchError> {
        let path = self.path_of(digest);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(FetchError::Io {
                    action: "read",
                    path: path.display().to_string(),
                    source,
                });
            }
        };
        let actual = digest.compute_same(&bytes);
        if &actual != digest {
            let _ = std::fs::remove_file(&path);
            return Err(FetchError::CacheCorrupt {
                digest: digest.to_string(),
                path: path.display().to_string(),
                actual: actual.to_string(),
            });
        }
        Ok(Some(bytes))
    }
}

/// A package fetched for running.
#[derive(Debug)]
pub struct FetchedPackage {
    /// The manifest digest the reference resolved to.
    pub manifest_digest: Digest,
    /// The manifest (verified against `manifest_digest`).
    pub manifest: ImageManifest,
    /// Its raw bytes and media type.
    pub manifest_raw: wharf_client::PulledManifest,
    /// The wasm layer's digest.
    pub layer_digest: Digest,
    /// The wasm bytes (verified).
    pub wasm: Vec<u8>,
    /// True when the layer came from the cache.
    pub cached: bool,
}

/// Resolve `reference` to a manifest (verified), find its wasm layer (current or legacy
/// media types) and get the layer through `cache`, pulling it when missing.
pub async fn fetch_package(
    client: &Client,
    cache: &BlobCache,
    reference: &ImageReference,
) -> Result<FetchedPackage, FetchError> {
    let pulled = client.pull_manifest(reference).await?;
    fetch_pulled(client, cache, reference, pulled).await
}

/// [`fetch_package`] for a manifest already pulled (and verified) from `reference`, for
/// callers that judged it first (trust policy, yank status) and must not fetch it again.
pub async fn fetch_pulled(
    client: &Client,
    cache: &BlobCache,
    reference: &ImageReference,
    pulled: wharf_client::PulledManifest,
) -> Result<FetchedPackage, FetchError> {
    let manifest = ImageManifest::from_slice(&pulled.bytes).map_err(not_wasm(reference))?;
    let (layer, path, cached) = layer_in_cache(client, cache, reference, &manifest).await?;
    let wasm = cache.read(&layer.digest)?.ok_or_else(|| FetchError::Io {
        action: "read back",
        path: path.display().to_string(),
        source: std::io::Error::from(std::io::ErrorKind::NotFound),
    })?;
    Ok(FetchedPackage {
        manifest_digest: pulled.digest.clone(),
        manifest,
        manifest_raw: pulled,
        layer_digest: layer.digest,
        wasm,
        cached,
    })
}

/// Resolve `reference` (manifest verified), find its wasm layer and get it into `cache`
/// without reading it into memory: the layer's descriptor and its path in the cache. A
/// file already cached is not checked here; the caller reads it with its digest check
/// (hashing it as it streams, as `wharf publish` does to compare WIT).
pub async fn fetch_layer_file(
    client: &Client,
    cache: &BlobCache,
    reference: &ImageReference,
) -> Result<(Descriptor, PathBuf), FetchError> {
    let pulled = client.pull_manifest(reference).await?;
    let manifest = ImageManifest::from_slice(&pulled.bytes).map_err(not_wasm(reference))?;
    let (layer, path, _) = layer_in_cache(client, cache, reference, &manifest).await?;
    Ok((layer, path))
}

/// The wasm layer of `manifest` (current or legacy media types), its path in `cache`, and
/// whether it was there already; pulled into the cache (digest verified as it streams,
/// renamed into place only on a match) when missing.
async fn layer_in_cache(
    client: &Client,
    cache: &BlobCache,
    reference: &ImageReference,
    manifest: &ImageManifest,
) -> Result<(Descriptor, PathBuf, bool), FetchError> {
    let layer = WasmArtifact::read(manifest)
        .and_then(|a| a.layer().cloned())
        .map_err(not_wasm(reference))?;
    debug_assert!(media_types::is_wasm_layer(&layer.media_type));
    let path = cache.path_of(&layer.digest);
    if path.is_file() {
        return Ok((layer, path, true));
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|source| FetchError::Io {
            action: "create cache directory",
            path: dir.display().to_string(),
            source,
        })?;
    }
    client
        .pull_blob_to_file(reference, &layer, &path, |_| {})
        .await?;
    Ok((layer, path, false))
}

/// A `NotWasm` error for `reference`, from what refused it.
fn not_wasm<E: std::fmt::Display>(reference: &ImageReference) -> impl Fn(E) -> FetchError + '_ {
    move |e| FetchError::NotWasm {
        reference: reference.to_string(),
        reason: e.to_string(),
    }
}
