//! The runtime path of wharf: a reference resolves to a digest, the wasm is fetched
//! through a content-addressed cache (and re-verified against its digest when read from
//! it), compiled with wasmtime (compilations cached on disk) and instantiated in the WASI
//! 0.2 command world.

#![cfg_attr(test, allow(clippy::unwrap_used))]

mod cache;
mod run;

pub use cache::{BlobCache, FetchedPackage, fetch_package, fetch_pulled};
pub use run::{RunOptions, Runtime};

/// Errors of the runtime.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The registry client failed.
    #[error(transparent)]
    Client(#[from] wharf_client::ClientError),
    /// The manifest is not a Wasm artifact wharf can run.
    #[error("{reference} is not a Wasm package: {reason}")]
    NotWasm { reference: String, reason: String },
    /// A cached file no longer matches its digest (and was removed).
    #[error(
        "cached blob {digest} at `{path}` is corrupt (it hashes to {actual}); it was removed, run again to fetch it anew"
    )]
    CacheCorrupt {
        digest: String,
        path: String,
        actual: String,
    },
    /// A local file could not be read or written.
    #[error("failed to {action} `{path}`")]
    Io {
        action: &'static str,
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// wasmtime refused the component or it trapped.
    #[error("{context}")]
    Wasmtime {
        context: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}
