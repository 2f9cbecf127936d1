use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::Digest;

/// Layer annotation naming the file; `oras pull` skips layers without it.
pub const ANNOTATION_TITLE: &str = "org.opencontainers.image.title";
/// Annotation giving when an artifact was made (RFC 3339), OCI image-spec "Pre-Defined
/// Annotation Keys".
pub const ANNOTATION_CREATED: &str = "org.opencontainers.image.created";

/// Why a manifest document is not acceptable.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// Not JSON, or not the shape of an OCI manifest.
    #[error("manifest is not a valid OCI manifest: {0}")]
    Json(serde_json::Error),
    /// `schemaVersion` is not 2.
    #[error("manifest has schemaVersion {0}; only 2 is supported")]
    SchemaVersion(u32),
    /// The `mediaType` field disagrees with the `Content-Type` it was sent with.
    #[error("manifest mediaType `{body}` does not match Content-Type `{header}`")]
    MediaTypeMismatch { body: String, header: String },
}

// not `#[from]`: the message already carries the JSON error, and a `source()` as well
// would print it twice in an error chain
impl From<serde_json::Error> for ManifestError {
    fn from(e: serde_json::Error) -> Self {
        ManifestError::Json(e)
    }
}

/// An OCI content descriptor (OCI Image Specification, "Descriptors").
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// Media type of the referenced content.
    pub media_type: String,
    /// Digest of the referenced content.
    pub digest: Digest,
    /// Size in bytes.
    pub size: u64,
    /// Artifact type, for descriptors of artifact manifests (referrers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// Mirrors the content may also be fetched from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub urls: Option<Vec<String>>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    /// Platform, for index entries; kept as raw JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<serde_json::Value>,
}

impl Descriptor {
    /// A descriptor of `bytes` with `media_type`.
    pub fn of(media_type: &str, bytes: &[u8]) -> Self {
        Descriptor::new(media_type, Digest::sha256_of(bytes), bytes.len() as u64)
    }

    /// A descriptor with no annotations.
    pub fn new(media_type: &str, digest: Digest, size: u64) -> Self {
        Descriptor {
            media_type: media_type.to_owned(),
            digest,
            size,
            artifact_type: None,
            urls: None,
            annotations: None,
            platform: None,
        }
    }
}

/// An OCI image manifest (`application/vnd.oci.image.manifest.v1+json`) or a Docker
/// schema 2 manifest, which has the same shape.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageManifest {
    /// Always 2.
    pub schema_version: u32,
    /// The manifest media type; wharf always writes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// Artifact type (OCI 1.1); wharf leaves it unset for Wasm, like oci-wasm.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// The config blob.
    pub config: Descriptor,
    /// The layers, in order.
    #[serde(default)]
    pub layers: Vec<Descriptor>,
    /// The manifest this one refers to (signatures, SBOMs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Descriptor>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

impl ImageManifest {
    /// Parse and check `schemaVersion`.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, ManifestError> {
        let m: ImageManifest = serde_json::from_slice(bytes)?;
        if m.schema_version != 2 {
            return Err(ManifestError::SchemaVersion(m.schema_version));
        }
        Ok(m)
    }

    /// The artifact type as the referrers API reports it: `artifactType`, else the
    /// config media type (OCI Distribution Spec v1.1, "Listing Referrers").
    pub fn effective_artifact_type(&self) -> &str {
        self.artifact_type
            .as_deref()
            .unwrap_or(&self.config.media_type)
    }
}

/// An OCI image index (`application/vnd.oci.image.index.v1+json`); also the shape of a
/// referrers API response.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageIndex {
    /// Always 2.
    pub schema_version: u32,
    /// The index media type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// Artifact type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// The manifests.
    #[serde(default)]
    pub manifests: Vec<Descriptor>,
    /// The subject, for an index that is itself a referrer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Descriptor>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

impl ImageIndex {
    /// An OCI image index (`application/vnd.oci.image.index.v1+json`, schema version 2)
    /// listing `manifests`, with no artifact type, subject or annotations: the shape of a
    /// referrers answer (distribution-spec v1.1 "Listing Referrers"), of the referrers tag
    /// schema's index, and of an OCI layout's `index.json`.
    pub fn of(manifests: Vec<Descriptor>) -> ImageIndex {
        ImageIndex {
            schema_version: 2,
            media_type: Some(crate::media_types::OCI_INDEX.to_owned()),
            artifact_type: None,
            manifests,
            subject: None,
            annotations: None,
        }
    }
}

/// The Wasm artifact config blob (`application/vnd.wasm.config.v0+json`), CNCF
/// TAG-Runtime "Wasm OCI Artifact layout". Field names are camelCase.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WasmConfig {
    /// RFC 3339 creation time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// The author, or null.
    #[serde(default)]
    pub author: Option<String>,
    /// Always `"wasm"`.
    pub architecture: String,
    /// `"wasip1"` for a core module, `"wasip2"` for a component or WIT package.
    pub os: String,
    /// Digests of the layers, in manifest order.
    #[serde(default)]
    pub layer_digests: Vec<Digest>,
    /// The component's type; null for a core module.
    #[serde(default)]
    pub component: Option<WasmComponentConfig>,
}

/// The `component` object of [`WasmConfig`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WasmComponentConfig {
    /// Fully qualified export names, e.g. `wasi:http/incoming-handler@0.2.0`.
    #[serde(default)]
    pub exports: Vec<String>,
    /// Fully qualified import names.
    #[serde(default)]
    pub imports: Vec<String>,
    /// The world the component targets, `ns:pkg/world@version`, when known.
    #[serde(default)]
    pub target: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media_types;

    #[test]
    fn wasm_manifest_roundtrip_and_layer() {
        let layer = Descriptor::of(media_types::WASM_LAYER, b"\0asm");
        let config = Descriptor::of(media_types::WASM_CONFIG, b"{}");
        let m = ImageManifest {
            schema_version: 2,
            media_type: Some(media_types::OCI_MANIFEST.to_owned()),
            artifact_type: None,
            config,
            layers: vec![layer.clone()],
            subject: None,
            annotations: None,
        };
        let bytes = serde_json::to_vec(&m).unwrap();
        let back = ImageManifest::from_slice(&bytes).unwrap();
        assert_eq!(back, m);
        let artifact = crate::WasmArtifact::read(&back).unwrap();
        assert_eq!(artifact.layout, crate::WasmLayout::Cncf);
        assert_eq!(artifact.layer().unwrap(), &layer);
        assert_eq!(back.effective_artifact_type(), media_types::WASM_CONFIG);
        let text = String::from_utf8(bytes).unwrap();
        assert!(text.contains("\"schemaVersion\":2") && text.contains("\"mediaType\""));
    }

    #[test]
    fn rejects_wrong_schema_and_garbage() {
        assert!(ImageManifest::from_slice(b"{").is_err());
        let bad = br#"{"schemaVersion":1,"config":{"mediaType":"a","digest":"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","size":0}}"#;
        assert!(matches!(
            ImageManifest::from_slice(bad),
            Err(ManifestError::SchemaVersion(1))
        ));
    }

    #[test]
    fn wasm_config_field_names() {
        let c = WasmConfig {
            created: Some("2026-01-01T00:00:00Z".into()),
            author: None,
            architecture: "wasm".into(),
            os: "wasip2".into(),
            layer_digests: vec![Digest::sha256_of(b"")],
            component: Some(WasmComponentConfig {
                exports: vec!["a:b/c".into()],
                imports: vec![],
                target: None,
            }),
        };
        let v = serde_json::to_value(&c).unwrap();
        assert!(v.get("layerDigests").is_some());
        assert_eq!(v["component"]["exports"][0], "a:b/c");
        assert!(v["author"].is_null());
    }
}
