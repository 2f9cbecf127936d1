//! The runtime path of wharf: a reference resolves to a digest, the wasm is fetched
//! through a content-addressed cache (and re-verified against its digest when read from
//! it), compiled with wasmtime (compilations cached on disk by digest and memory-mapped
//! when loaded) and instantiated in the WASI 0.2 or 0.3 command world, or served as a
//! `wasi:http/proxy` over HTTP (`serve.rs`), either under memory and time [`Limits`].

//!
//! # For embedders
//!
//! The runtime path as a library: [`Runtime::load_package`] resolves a reference, enforces
//! the trust policy on the manifest digest, and gives the compiled component (from the
//! cache by digest, or fetched and verified, componentized when it is a WASI core module,
//! compiled and cached); [`Runtime::run_command`] runs a `wasi:cli/run` export,
//! [`Runtime::proxy`] serves a `wasi:http/proxy`. [`Runtime::load_file`] does the same for
//! a local file. `examples/run_package.rs` is a whole program to copy.
//!
//! ```no_run
//! use wharf_client::{Client, ClientConfig};
//! use wharf_core::Remote;
//! use wharf_runtime::{BlobCache, RunOptions, Runtime, TrustPolicy, Verification};
//!
//! # async fn example() -> anyhow::Result<()> {
//! let client = Client::new(ClientConfig::default())?;
//! let remote = Remote::parse("localhost:5000/demo/hello:1.0.0", None)?;
//! let cache = BlobCache::new(BlobCache::default_root());
//! let runtime = Runtime::new(Some(&cache.root().join("compiled")))?;
//! let package = runtime
//!     .load_package(&client, &remote, &TrustPolicy::default(), Verification::Policy,
//!                   &cache, &|w| eprintln!("warning: {w}"))
//!     .await?;
//! let code = runtime
//!     .run_command(&package.component, "hello", &RunOptions::default())
//!     .await?;
//! assert_eq!(code, 0);
//! # Ok(())
//! # }
//! ```

#![cfg_attr(test, allow(clippy::unwrap_used))]

mod compiled;
mod package;
mod run;
mod serve;

pub use package::{LoadedPackage, prepare_component};
pub use run::{Limits, RunOptions, Runtime};
pub use serve::{DEFAULT_MAX_INSTANCES, Proxy, ServeOptions};
/// A compiled component (wasmtime's), as [`Runtime::load`] returns it.
pub use wasmtime::component::Component;
/// Fetching packages, with the trust policy checked before any layer byte is downloaded:
/// an embedder that runs packages from a registry gets them through
/// [`fetch_verified`](wharf_core::fetch_verified), as `wharf run` does.
pub use wharf_core::{
    BlobCache, FetchError, FetchedPackage, TrustPolicy, Verification, fetch_package, fetch_pulled,
    fetch_verified,
};

/// Errors of the runtime.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// Fetching the package failed.
    #[error(transparent)]
    Fetch(#[from] wharf_core::FetchError),
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
