//! Validation and indexing of Wasm artifacts at push.

use futures_util::StreamExt;
use wharf_oci::WasmArtifact;

use super::{Registry, ServiceError};
use crate::store::WasmIndexEntry;

impl Registry {
    /// Validate the one wasm layer of `m` with wasmparser and record what it is: from the
    /// inspection made while it uploaded when there is one, else streaming it from the blob
    /// store. A layer over `max_index_bytes` is refused
    /// ([`ServiceError::SizeInvalid`], 413), never stored unvalidated.
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
        let (info, wit) = match self.early_inspections.take(&layer.digest).await {
            // inspected while it uploaded (service/early_inspection.rs)
            Some(inspected) => {
                if inspected.0.size != layer.size {
                    return Err(ServiceError::ManifestInvalid(format!(
                        "layer {} is {} bytes, but the manifest says {}",
                        layer.digest, inspected.0.size, layer.size
                    )));
                }
                inspected
            }
            None => self.inspect_stored(&layer).await?,
        };
        // what the manifest's standard annotations say (set by `wharf push --annotation`,
        // ORAS, wkg) wins; the wasm metadata sections fill what they leave out
        let annotations = artifact.manifest.annotations.as_ref();
        let annotated = |key: &str, from_wasm: Option<String>| {
            annotations
                .and_then(|a| a.get(key))
                .filter(|v| !v.trim().is_empty())
                .cloned()
                .or(from_wasm)
        };
        Ok(Some(WasmIndexEntry {
            kind: info.kind,
            target: info.target,
            package: info.package,
            imports: info.imports,
            exports: info.exports,
            layer_digest: layer.digest.clone(),
            layer_size: layer.size,
            description: annotated(
                "org.opencontainers.image.description",
                info.metadata.description,
            ),
            licenses: annotated("org.opencontainers.image.licenses", info.metadata.licenses),
            source: annotated("org.opencontainers.image.source", info.metadata.source),
            authors: annotated("org.opencontainers.image.authors", info.metadata.authors),
            wit,
        }))
    }

    /// Validate and inspect the stored blob of `layer`, streamed from the blob store, with
    /// at most `max-concurrent-index` such reads at once.
    async fn inspect_stored(
        &self,
        layer: &wharf_oci::Descriptor,
    ) -> Result<super::early_inspection::Inspected, ServiceError> {
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
        // the layer goes through wasmparser's incremental parser and validator as it is
        // read, in the blob store's chunks: memory is bounded by the largest section, not
        // by the layer (wharf_component::StreamingInspector)
        let what = format!("wasm layer {}", layer.digest);
        let digest = layer.digest.clone();
        let (tx, mut rx) = tokio::sync::mpsc::channel::<bytes::Bytes>(4);
        let inspect = tokio::task::spawn_blocking(move || {
            let mut inspector = wharf_component::StreamingInspector::new(&what);
            while let Some(chunk) = rx.blocking_recv() {
                inspector.feed(&chunk)?;
            }
            inspector.finish(digest)
        });
        let mut read_error = None;
        while let Some(chunk) = stream.next().await {
            match chunk {
                // a closed channel: the inspector stopped at an error it will report
                Ok(chunk) => {
                    if tx.send(chunk).await.is_err() {
                        break;
                    }
                }
                Err(e) => {
                    read_error = Some(ServiceError::Internal(format!("reading layer: {e}")));
                    break;
                }
            }
        }
        drop(tx);
        let inspected = inspect
            .await
            .map_err(|e| ServiceError::Internal(format!("wasm inspection task failed: {e}")))?;
        if let Some(e) = read_error {
            return Err(e);
        }
        inspected.map_err(|e| ServiceError::ManifestInvalid(e.to_string()))
    }
}
