//! WIT, bindings, componentize, inspect and validate: the wasm side of wharf.
//!
//! Bytes in, bytes out: nothing here touches the network, and the only file access is
//! reading WIT sources from a path the caller names. The heavy lifting is done by the
//! wasm-tools crates (`wit-parser`, `wit-component`, `wasmparser`, `wasm-metadata`) and
//! the `wit-bindgen` generators; this crate adds the checks and error messages that the
//! reference tools leave out (see `docs/ARCHITECTURE.md`).

#![cfg_attr(test, allow(clippy::unwrap_used))]

mod adapter;
mod bindgen;
mod compat;
mod componentize;
mod compose;
mod error;
mod inspect;
mod sbom;
mod skeleton;
mod stream;
mod wit;
mod witdeps;
mod witdoc;
mod witfmt;

pub use adapter::{ADAPTER_VERSION, AdapterKind, adapter_bytes};
pub use bindgen::{
    BindingsFile, Language, generate_bindings, generate_rust_bindings_for_build,
    generate_rust_bindings_into, write_bindings,
};
pub use compat::{WitChange, wit_changes};
pub use componentize::{AdapterChoice, ComponentizeOptions, Componentized, componentize};
pub use compose::{Composed, Part, compose_with_config, plug, read_compose_config};
pub use error::ComponentError;
pub use inspect::{Inspection, WasmKind, WasmMetadata, inspect, inspect_known, validate};
pub use sbom::{CYCLONEDX_MEDIA_TYPE, cyclonedx_sbom, dependency_tree};
pub use stream::StreamingInspector;
/// wasm-compose's configuration document, as [`read_compose_config`] gives it.
pub use wasm_compose::config::Config as ComposeConfig;
pub use wit::{LoadedWit, WitSummary, build_wit_package, component_wit, load_wit, print_wit};
pub use witdeps::{
    DecodedWitPackage, decode_wit_package, deps_dir_name, foreign_packages, provided_packages,
};
pub use witdoc::{Capability, FunctionDoc, InterfaceDoc, TypeDoc, capabilities, interface_docs};
pub use witfmt::format_wit;

/// Result alias of this crate.
pub type Result<T, E = ComponentError> = std::result::Result<T, E>;
