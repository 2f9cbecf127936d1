//! wharf's workflow layer, between the primitive crates (`wharf-oci`, `wharf-component`,
//! `wharf-sign`, `wharf-client`) and the programs (the `wharf` CLI, `wharf-runtime`'s
//! embedders), as `wasm-pkg-core` is for wasm-pkg-tools. It owns what a workflow decides,
//! so every program decides it the same way:
//!
//! - [`remote`]: what a reference names (an image reference or a package) and its
//!   resolution;
//! - [`signatures`]: signing in cosign's format, finding signatures and judging them with
//!   the one judge ([`wharf_sign::judge`], which the registry uses too);
//! - [`trust`]: the trust policy (which keys must have signed which packages);
//! - [`fetch`]: the one verified fetch (resolve once, manifest once, trust before any layer
//!   byte, every digest verified) into the [`cache`] or a file;
//! - [`push`]: the Wasm artifact built from a file (CNCF layout), pushed, signed and given
//!   its SBOM;
//! - [`copy`]: an artifact (an index with its manifests) copied to another repository or
//!   registry byte for byte, with its referrers;
//! - [`project`], [`lock`], [`publish`]: `wharf.toml` and `wharf.lock`, dependencies
//!   locked and fetched by digest, and the publish plan (checks, then the push);
//! - [`policy`]: the CI policy over what a package is (`wharf policy check`).
//!
//! Workflows report non-fatal findings (a yanked pin, a skipped signature) through a
//! [`Warn`] callback and leave printing to the program.

#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod cache;
pub mod copy;
pub mod fetch;
pub mod layout;
pub mod lock;
pub mod policy;
pub mod project;
pub mod publish;
pub mod push;
pub mod release_log;
pub mod remote;
pub mod signatures;
pub mod trust;
pub mod witfetch;

pub use cache::{BlobCache, FetchedPackage, fetch_package, fetch_pulled};
pub use copy::{CopyOptions, CopyReport, Endpoint, copy, copy_between};
pub use fetch::{CheckedPackage, VerifiedPackage, check_package, fetch_verified};
pub use layout::OciLayout;
pub use push::{
    Progress, PushOptions, PushReport, SbomChoice, package_target, push_file, read_wasm,
};
pub use remote::Remote;
pub use signatures::{
    AttestationReport, IdentitySpec, SignatureFormat, SignatureReport, Signers, SigningKey,
    TrustedKeys, VerifyReport, check_attestations, check_signatures, load_keys, referrer_layer,
    sign_manifest, subject_of,
};
pub use trust::{TrustPolicy, Verification};
pub use witfetch::{FetchedWit, WitFetch, WitFetchReport, fetch_wit_deps};

/// Registry clients, for workflows that talk to several registries (locking a project's
/// dependencies): the program decides transport and credentials.
pub trait Clients {
    /// A client for `registry` (`host[:port]`).
    fn client(&self, registry: &str) -> anyhow::Result<wharf_client::Client>;
}

/// Where a workflow reports what does not stop it (a yanked version, a signature skipped,
/// verification turned off): one line of text, without a `warning:` prefix. The text may
/// carry what a registry sent: escape it before printing it to a terminal.
pub type Warn<'a> = &'a (dyn Fn(&str) + Send + Sync);

/// Errors of fetching a package's wasm layer through the cache.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The registry client failed.
    #[error(transparent)]
    Client(#[from] wharf_client::ClientError),
    /// The manifest is not a Wasm artifact.
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
}
