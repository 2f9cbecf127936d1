//! Pure OCI and Wasm-artifact types shared by the wharf CLI, client and registry.
//!
//! No IO and no async: everything here is parsing, validation and (de)serialisation,
//! following the OCI Distribution Specification v1.1, the OCI Image Specification and the
//! CNCF TAG-Runtime "Wasm OCI Artifact layout".

#![cfg_attr(test, allow(clippy::unwrap_used))]

mod artifact;
mod digest;
mod manifest;
mod name;
mod package;
mod reference;

pub mod media_types;
pub mod yank;

pub use artifact::{
    ArtifactError, ORAS_UNKNOWN_CONFIG, SPIN_APPLICATION_CONFIG, WasmArtifact, WasmLayout,
};
pub use digest::{Digest, DigestAlgorithm, DigestError, DigestHasher};
pub use manifest::{
    ANNOTATION_CREATED, ANNOTATION_TITLE, Descriptor, ImageIndex, ImageManifest, ManifestError,
    WasmComponentConfig, WasmConfig,
};
pub use name::{NameError, Reference, ReferenceParseError, RepositoryName, Tag, under_prefix};
pub use package::{OciRegistryMetadata, PackageError, PackageRef, RegistryMetadata};
pub use reference::{
    ImageReference, ReferenceError, canonical_registry_host, is_loopback_host, parse_registry_host,
};
