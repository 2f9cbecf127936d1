//! Validation and indexing of Wasm artifacts at push.

use futures_util::StreamExt;
use wharf_oci::WasmArtifact;

use super::{Registry, ServiceError};
use crate::store::WasmIndexEntry;

impl Registry {
    /// Validate the one wasm layer of `m` with wasmparser and record what it is. A layer
    /// over `max_index_bytes` is refused ([`ServiceError::SizeInvalid`], 413), never stored
    /// unvalidated.
    pub(super) async fn index_wasm(
        &self,
        artifact: &WasmArtifact<'_>,
    ) -> Result<Option<WasmIndexEntry>, ServiceError> {
        let layer = artifact
            .layer()
            .map_err(|e| ServiceError::ManifestInvalid(e.to_string()))?
            .clone();
        // nothing is accepted as Wasm without being validated: a layer too large to read
        // for validation is refused, never stored unchecked
        if layer.size > self.limits.max_index_bytes {
            return Err(ServiceError::SizeInvalid(format!(
                "wasm layer {} is {} bytes, over the {} bytes this registry validates \
                 (`max-index-bytes`); it is refused rather than stored unvalidated",
                layer.digest, layer.size, self.limits.max_index_bytes
            )));
        }
        let _permit = self
            .index_permits
            .acquire()
            .await
            .map_err(|e| ServiceError::Internal(format!("index permits: {e}")))?;
        let (mut stream, len) = self.blobs.read(&layer.digest, None).await?;
        if len != layer.size {
            return Err(ServiceError::ManifestInvalid(format!(
                "layer {} is {len} bytes, but the manifest says {}",
                layer.digest, layer.size
            )));
        }
        let mut bytes = Vec::with_capacity(len as usize);
        while let Some(chunk) = stream.next().await {
            bytes.extend_from_slice(
                &chunk.map_err(|e| ServiceError::Internal(format!("reading layer: {e}")))?,
            );
        }
        let what = format!("wasm layer {}", layer.digest);
        let digest = layer.digest.clone();
        let (info, wit) = tokio::task::spawn_blocking(move || {
            // the upload's commit checked the digest: no need to hash the layer again
            let known =
                (digest.algorithm() == wharf_oci::DigestAlgorithm::Sha256).then_some(digest);
            let info = wharf_component::inspect_known(&bytes, &what, known)?;
            // the WIT it was built against, for people browsing; a core module has none
            let wit = match info.kind {
                wharf_component::WasmKind::CoreModule => None,
                _ => wharf_component::component_wit(&bytes, &what).ok(),
            };
            Ok::<_, wharf_component::ComponentError>((info, wit))
        })
        .await
        .map_err(|e| ServiceError::Internal(format!("wasm inspection task failed: {e}")))?
        .map_err(|e| ServiceError::ManifestInvalid(e.to_string()))?;
        Ok(Some(WasmIndexEntry {
            kind: info.kind,
            target: info.target,
            package: info.package,
            imports: info.imports,
            exports: info.exports,
            layer_digest: layer.digest.clone(),
            layer_size: layer.size,
            description: info.metadata.description,
            licenses: info.metadata.licenses,
            source: info.metadata.source,
            authors: info.metadata.authors,
            wit,
        }))
    }
}
