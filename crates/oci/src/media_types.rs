//! Media types wharf writes and reads. Sources: OCI Image Specification v1.1 and
//! the CNCF "Wasm OCI Artifact layout"; legacy types from wasm-to-oci and wasmCloud.

/// OCI image manifest (`application/vnd.oci.image.manifest.v1+json`).
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// Docker schema 2 manifest, accepted and served unchanged.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker manifest list.
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// The Wasm artifact config (CNCF layout).
pub const WASM_CONFIG: &str = "application/vnd.wasm.config.v0+json";
/// The Wasm layer (core modules, components and binary WIT packages alike).
pub const WASM_LAYER: &str = "application/wasm";
/// Legacy config of wasm-to-oci, `cosign upload wasm` and Harbor (read only).
pub const LEGACY_WASM_CONFIG_V1: &str = "application/vnd.wasm.config.v1+json";
/// Legacy layer of wasm-to-oci, `cosign upload wasm` and Harbor (read only).
pub const LEGACY_WASM_LAYER_V1: &str = "application/vnd.wasm.content.layer.v1+wasm";
/// Legacy layer of wasmCloud 1.x (read only).
pub const WASMCLOUD_LAYER: &str = "application/vnd.module.wasm.content.layer.v1+wasm";
/// The OCI empty descriptor's media type.
pub const OCI_EMPTY: &str = "application/vnd.oci.empty.v1+json";

/// Manifest media types a registry client asks for in `Accept`.
pub const MANIFEST_ACCEPT: &[&str] = &[
    OCI_MANIFEST,
    OCI_INDEX,
    DOCKER_MANIFEST,
    DOCKER_MANIFEST_LIST,
];

/// True for every layer media type that carries a wasm binary (current and legacy).
pub fn is_wasm_layer(media_type: &str) -> bool {
    matches!(
        media_type,
        WASM_LAYER | LEGACY_WASM_LAYER_V1 | WASMCLOUD_LAYER
    )
}

/// True for the Wasm config media types (current and legacy).
pub fn is_wasm_config(media_type: &str) -> bool {
    matches!(media_type, WASM_CONFIG | LEGACY_WASM_CONFIG_V1)
}
