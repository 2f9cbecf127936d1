//! The registry's rules: what a valid upload, manifest and Wasm package is. Handlers call
//! one method here; this layer calls the metadata [`Store`] and the [`BlobStore`]. One file
//! per resource: `uploads`, `blobs`, `manifests` (with referrers), `listings` (tags and
//! `_catalog`), `catalog` (the package catalog API), `artifacts` (what a manifest is, for people, and
//! the commands that fetch it), `signatures`, `gc`, `wasm`.

mod artifacts;
mod blobs;
mod catalog;
mod early_inspection;
mod gc;
mod listings;
mod manifest_cache;
mod manifests;
mod mirror;
mod quotas;
mod release_log;
mod signatures;
mod uploads;
mod wasm;

pub use blobs::{BlobBody, RangeRequest};
pub use manifests::PushedManifest;
pub use mirror::Mirror;
pub use quotas::{Quota, QuotaUsage};
pub use uploads::{ChunkRange, UPLOAD_LEASE};

pub use artifacts::{
    ArtifactClass, ArtifactView, AttestationView, FetchCommand, IndexEntry, LayerView,
    SbomComponent, SbomView,
};
pub use catalog::{
    Dependents, MAX_PER_PAGE, PackageDetail, PackagePage, PackageSummary, ReferrerSummary,
    RepositoryDetail, RepositoryPage, SearchQuery, VersionDetail, VersionSummary, Viewer,
    WitTarget, openapi,
};

pub use signatures::SignatureRule;

pub use gc::{GcOutcome, GcSettings};

use std::sync::Arc;

use wharf_oci::{Digest, RepositoryName};

use crate::storage::{BlobStore, StorageError};
use crate::store::{Store, StoreError};

/// Limits and settings the service enforces.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Largest manifest accepted, in bytes.
    pub max_manifest_bytes: u64,
    /// Largest wasm layer validated and indexed at push (streamed through the validator,
    /// so this bounds the time a push may take, not memory); a manifest with a larger wasm
    /// layer is refused (413 `SIZE_INVALID`).
    pub max_index_bytes: u64,
    /// How many layers may be indexed at once (CPU, and each one's largest section in
    /// memory).
    pub max_concurrent_index: usize,
    /// Largest blob accepted, in bytes; 0 is no limit.
    pub max_blob_bytes: u64,
    /// Repository prefixes where semantic-version tags may be moved to another manifest;
    /// everywhere else a version, once pushed, stays (immutable versions).
    pub mutable_version_prefixes: Vec<String>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            // the limit wharf's client (and most registries and clients) apply, so no
            // manifest is accepted here that clients then refuse to read
            max_manifest_bytes: 4 * 1024 * 1024,
            max_index_bytes: 256 * 1024 * 1024,
            max_concurrent_index: 2,
            max_blob_bytes: 0,
            mutable_version_prefixes: Vec::new(),
        }
    }
}

/// What went wrong, in the registry's terms; `http::error` maps each to a spec code.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The blob is not in the repository.
    #[error("blob {0} is not in this repository")]
    BlobUnknown(Digest),
    /// No such upload session.
    #[error("upload session {0} does not exist in this repository")]
    UploadUnknown(String),
    /// A chunk that does not continue the upload.
    #[error("the upload is at byte {current}; the chunk starts at {requested}")]
    ChunkOutOfOrder { current: u64, requested: u64 },
    /// Another request is writing to the upload session.
    #[error("another request is writing to upload session {id}; it is at byte {current}")]
    UploadBusy { id: String, current: u64 },
    /// Uploaded bytes do not match the digest given.
    #[error("uploaded content has digest {actual}, not {expected}")]
    DigestMismatch { expected: Digest, actual: Digest },
    /// A manifest references a blob the repository lacks.
    #[error("manifest references blob {0}, which is not in this repository")]
    ManifestBlobUnknown(Digest),
    /// An index references a manifest the repository lacks.
    #[error("index references manifest {0}, which is not in this repository")]
    ManifestChildUnknown(Digest),
    /// The manifest is not acceptable.
    #[error("{0}")]
    ManifestInvalid(String),
    /// Signatures are required here and none valid was found.
    #[error(
        "manifest {digest} is not signed by a trusted key (signatures are required under `{prefix}`)"
    )]
    Unsigned { digest: Digest, prefix: String },
    /// A version tag already names another manifest.
    #[error(
        "version {tag} already exists (it is {digest}); versions are immutable here: push a new version"
    )]
    VersionExists { tag: String, digest: Digest },
    /// A blob that a manifest still references cannot be deleted.
    #[error("blob {digest} is referenced by manifest {manifest}; delete the manifest first")]
    BlobInUse { digest: Digest, manifest: Digest },
    /// No manifest under that reference.
    #[error("manifest {0} is not in this repository")]
    ManifestUnknown(String),
    /// No such repository.
    #[error("repository {0} is not known to this registry")]
    NameUnknown(RepositoryName),
    /// A catalog query that cannot be answered as asked.
    #[error("{0}")]
    BadRequest(String),
    /// Content too large.
    #[error("{0}")]
    SizeInvalid(String),
    /// A storage quota would be exceeded.
    #[error(
        "the storage quota of `{prefix}` is {limit} bytes; {used} bytes are used{}",
        if *needed > 0 { format!(" and this blob needs {needed} more") } else { ", so nothing more may be pushed there".into() }
    )]
    QuotaExceeded {
        prefix: String,
        limit: u64,
        used: u64,
        needed: u64,
    },
    /// A range outside the blob of `size` bytes.
    #[error("{message}")]
    RangeNotSatisfiable { message: String, size: u64 },
    /// The client's body failed mid-way.
    #[error("the request body could not be read: {0}")]
    BodyFailed(String),
    /// A mirrored repository takes no pushes or deletes.
    #[error("repository {repository} mirrors {upstream}: it is read-only here")]
    MirrorReadOnly {
        repository: RepositoryName,
        upstream: String,
    },
    /// A mirror's upstream failed or lied, and nothing is cached to serve instead.
    #[error("{0}")]
    Upstream(String),
    /// A fault of the server (database, disk); the message never reaches the client.
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<StoreError> for ServiceError {
    fn from(e: StoreError) -> Self {
        ServiceError::Internal(format!(
            "{e}: {}",
            std::error::Error::source(&e)
                .map(ToString::to_string)
                .unwrap_or_default()
        ))
    }
}

impl From<StorageError> for ServiceError {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::OffsetMismatch {
                current, requested, ..
            } => ServiceError::ChunkOutOfOrder { current, requested },
            StorageError::Busy { id, offset } => ServiceError::UploadBusy {
                id,
                current: offset,
            },
            StorageError::RangeNotSatisfiable { size, .. } => ServiceError::RangeNotSatisfiable {
                message: e.to_string(),
                size,
            },
            StorageError::Body(e) => ServiceError::BodyFailed(e.to_string()),
            StorageError::NotFound(what) => ServiceError::Internal(format!("storage lost {what}")),
            StorageError::Io { action, source } => {
                ServiceError::Internal(format!("storage I/O error during {action}: {source}"))
            }
        }
    }
}

/// The release log's origin when the registry has no public name.
pub const DEFAULT_LOG_ORIGIN: &str = "wharf-registry/releases";

/// The registry service.
pub struct Registry {
    store: Arc<dyn Store>,
    blobs: Arc<dyn BlobStore>,
    limits: Limits,
    /// Garbage-collection settings (also how often a blob's use is recorded).
    gc: GcSettings,
    /// Where signatures are required, and by which keys.
    signature_rules: Vec<SignatureRule>,
    /// Keys signatures are judged against for the catalog: (key id, SPKI PEM).
    trusted_keys: Vec<(String, String)>,
    /// Keyless signers bundles are judged against for the catalog.
    trusted_identities: Vec<wharf_sign::bundle::IdentityRule>,
    /// The Sigstore trusted root keyless bundles are checked against; `None` until
    /// configured (then keyless bundles are judged against the public-good root).
    trusted_root: Option<Arc<wharf_sign::bundle::TrustedRoot>>,
    /// Permits to read a wasm layer into memory for indexing.
    index_permits: tokio::sync::Semaphore,
    /// Wasm layers inspected while they uploaded.
    early_inspections: early_inspection::EarlyInspections,
    /// Expiry of pre-signed blob URLs, when whole-blob reads are redirected to them.
    blob_redirect: Option<std::time::Duration>,
    /// Storage quotas per repository prefix.
    quotas: Vec<Quota>,
    /// Pull-through mirrors.
    mirrors: Vec<Mirror>,
    /// Hot manifests, kept in memory.
    manifest_cache: Arc<manifest_cache::ManifestCache>,
    /// The release log's origin, naming its key when the key is created.
    log_origin: String,
    /// The release log's key, read (or created) once.
    log_key: tokio::sync::OnceCell<Arc<wharf_sign::log::LogKey>>,
}

impl Registry {
    /// A service over `store` and `blobs`.
    pub fn new(
        store: Arc<dyn Store>,
        blobs: Arc<dyn BlobStore>,
        limits: Limits,
        gc: GcSettings,
    ) -> Self {
        let index_permits = tokio::sync::Semaphore::new(limits.max_concurrent_index.max(1));
        let early_inspections = early_inspection::EarlyInspections::new(
            limits.max_concurrent_index,
            limits.max_index_bytes,
        );
        Registry {
            store,
            blobs,
            limits,
            gc,
            signature_rules: Vec::new(),
            trusted_keys: Vec::new(),
            trusted_identities: Vec::new(),
            trusted_root: None,
            index_permits,
            early_inspections,
            blob_redirect: None,
            quotas: Vec::new(),
            mirrors: Vec::new(),
            manifest_cache: Default::default(),
            log_origin: DEFAULT_LOG_ORIGIN.to_owned(),
            log_key: tokio::sync::OnceCell::new(),
        }
    }

    /// Name the release log `origin` (C2SP checkpoint origin and key name: no spaces or
    /// `+`) when its key is created; an existing key keeps its name.
    pub fn with_log_origin(mut self, origin: String) -> Self {
        self.log_origin = origin;
        self
    }

    /// Follow the changes other instances make to manifests and tags (PostgreSQL
    /// notifications), dropping what they make stale from the manifest cache. Spawned on
    /// the current runtime; a no-op for a store without such notifications.
    pub async fn follow_changes(&self) {
        use futures_util::StreamExt as _;
        if let Some(mut changes) = self.store.manifest_changes().await {
            let cache = self.manifest_cache.clone();
            tokio::spawn(async move {
                while let Some(change) = changes.next().await {
                    cache.invalidate(&change);
                }
            });
        }
    }

    /// Drop what a change in this process made stale.
    fn changed(&self, change: crate::store::ManifestChange) {
        self.manifest_cache.invalidate(&change);
    }

    /// Redirect whole-blob reads to pre-signed URLs valid for `expires` where the blob
    /// store can sign them (object storage); `None` serves every read itself.
    pub fn with_blob_redirects(mut self, expires: Option<std::time::Duration>) -> Self {
        self.blob_redirect = expires;
        self
    }

    /// Judge pushed signatures against these public keys (SPKI PEM) as well; a key that
    /// does not parse is skipped (the config loader checks them first).
    pub fn with_trusted_keys(mut self, keys: Vec<String>) -> Self {
        for pem in keys {
            self.add_trusted_key(pem);
        }
        self
    }

    fn add_trusted_key(&mut self, pem: String) {
        if let Ok(id) = wharf_sign::key_id(&pem)
            && !self.trusted_keys.iter().any(|(k, _)| *k == id)
        {
            self.trusted_keys.push((id, pem));
        }
    }

    /// Require signatures per prefix (see [`SignatureRule`]); the rules' keys and
    /// identities also count as trusted for signature status.
    pub fn with_signature_rules(mut self, rules: Vec<SignatureRule>) -> Self {
        for pem in rules.iter().flat_map(|r| r.keys.iter()) {
            self.add_trusted_key(pem.clone());
        }
        self.trusted_identities
            .extend(rules.iter().flat_map(|r| r.identities.iter().cloned()));
        self.signature_rules = rules;
        self
    }

    /// Judge keyless Sigstore bundles against these signers as well.
    pub fn with_trusted_identities(
        mut self,
        identities: Vec<wharf_sign::bundle::IdentityRule>,
    ) -> Self {
        self.trusted_identities.extend(identities);
        self
    }

    /// Check keyless bundles against `root` (a `trusted_root.json`) instead of the
    /// public-good root.
    pub fn with_trusted_root(mut self, root: wharf_sign::bundle::TrustedRoot) -> Self {
        self.trusted_root = Some(Arc::new(root));
        self
    }

    /// The garbage-collection settings in force.
    pub fn gc_settings(&self) -> &GcSettings {
        &self.gc
    }

    /// The limits in force.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Readiness: one small write to the metadata database.
    pub async fn check_writable(&self) -> Result<(), ServiceError> {
        Ok(self.store.check_writable().await?)
    }

    /// Whether the blob storage can serve (readiness).
    pub async fn check_blob_storage(&self) -> Result<(), ServiceError> {
        Ok(self.blobs.check_ready().await?)
    }

    /// Totals for the metrics endpoint.
    pub async fn usage(&self) -> Result<crate::store::Usage, ServiceError> {
        Ok(self.store.usage().await?)
    }
}

/// A body cut off by the blob size limit is the client's mistake (413), not a failure.
fn too_large(e: StorageError) -> ServiceError {
    match e {
        StorageError::Body(io) if io.kind() == std::io::ErrorKind::FileTooLarge => {
            ServiceError::SizeInvalid(io.to_string())
        }
        other => other.into(),
    }
}
