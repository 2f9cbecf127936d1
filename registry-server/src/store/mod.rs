//! Registry metadata: one `Store` trait, one method per spec operation, each one
//! transaction. Only here is SQL.

mod postgres;
mod sqlite;

use async_trait::async_trait;
use wharf_oci::{Descriptor, Digest, Reference, RepositoryName, Tag};

pub use postgres::PgStore;
pub use sqlite::SqliteStore;

use crate::storage::UploadId;

/// Now, as the RFC 3339 UTC text both backends store (comparable as text).
fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// A size for a signed BIGINT/INTEGER column.
fn i64_of(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// A digest read back from a row; a malformed one means corrupt metadata.
fn digest_of(s: &str) -> Result<Digest, StoreError> {
    s.parse()
        .map_err(|e: wharf_oci::DigestError| StoreError::Corrupt(e.to_string()))
}

/// Errors of the metadata store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database failed.
    #[error("metadata database error")]
    Database(#[from] sqlx::Error),
    /// Migrations failed at start.
    #[error("metadata database migration failed")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A stored value does not parse (corrupt row).
    #[error("corrupt metadata: {0}")]
    Corrupt(String),
}

/// A manifest to store.
pub struct NewManifest<'a> {
    /// Its digest (verified by the caller).
    pub digest: &'a Digest,
    /// Its media type.
    pub media_type: &'a str,
    /// `artifactType`, else the config media type.
    pub artifact_type: Option<&'a str>,
    /// The `subject` digest, for referrers.
    pub subject: Option<&'a Digest>,
    /// The raw bytes.
    pub content: &'a [u8],
    /// Its annotations, served in referrers listings.
    pub annotations: Option<&'a std::collections::BTreeMap<String, String>>,
    /// Blobs it references (config, layers).
    pub blobs: Vec<Digest>,
    /// Manifests it references (index entries).
    pub manifests: Vec<Digest>,
    /// Index entry when it is a Wasm package.
    pub wasm: Option<WasmIndexEntry>,
}

/// What the registry learned from a Wasm layer.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct WasmIndexEntry {
    /// `core-module`, `component` or `wit-package`.
    pub kind: String,
    /// Target world, when known.
    pub target: Option<String>,
    /// WIT package name (for WIT packages).
    pub package: Option<String>,
    /// Imports (world keys).
    pub imports: Vec<String>,
    /// Exports (world keys).
    pub exports: Vec<String>,
    /// The wasm layer.
    pub layer_digest: String,
    /// Its size in bytes.
    pub layer_size: u64,
}

/// A stored manifest.
#[derive(Clone, Debug)]
pub struct StoredManifest {
    /// Its digest.
    pub digest: Digest,
    /// Its media type.
    pub media_type: String,
    /// The raw bytes.
    pub content: Vec<u8>,
}

/// The outcome of [`Store::put_manifest`].
#[derive(Debug, PartialEq, Eq)]
pub enum PutOutcome {
    /// Stored (or already there) and tagged.
    Stored,
    /// A referenced blob is no longer linked to the repository (collected meanwhile).
    BlobMissing(Digest),
}

/// The outcome of [`Store::unlink_blob`].
#[derive(Debug, PartialEq, Eq)]
pub enum UnlinkOutcome {
    /// The repository no longer holds the blob.
    Unlinked,
    /// The repository does not hold that blob.
    NotFound,
    /// A manifest of the repository still references it.
    Referenced(Digest),
}

/// What one garbage-collection pass may remove (see `service::gc`).
#[derive(Clone, Debug)]
pub struct GcPolicy {
    /// RFC 3339 time: content last used before it, and unreferenced, goes.
    pub grace_before: String,
    /// RFC 3339 time: upload sessions not written to since then go.
    pub uploads_before: String,
    /// Also remove manifests that no tag, index or subject keeps.
    pub untagged: bool,
}

/// What a garbage-collection pass removed from the metadata (or would, in a dry run).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct GcReport {
    /// Manifests removed, as `repository@digest`.
    pub manifests: Vec<String>,
    /// Blob links removed from repositories, as `repository@digest`.
    pub links: Vec<String>,
    /// Blobs no repository holds any more: their files are to be deleted.
    pub blobs: Vec<Digest>,
    /// Expired upload sessions: their files are to be deleted.
    pub uploads: Vec<String>,
}

/// Totals for the metrics endpoint.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// Repositories with at least one manifest.
    pub repositories: u64,
    /// Manifests.
    pub manifests: u64,
    /// Committed blobs.
    pub blobs: u64,
    /// Their total size in bytes.
    pub blob_bytes: u64,
    /// Open upload sessions.
    pub uploads: u64,
}

/// One page of a listing: at most `n` items after `last` (lexical order).
#[derive(Clone, Copy, Debug)]
pub struct Page<'a> {
    /// Maximum number of items.
    pub n: u32,
    /// Exclusive lower bound.
    pub last: Option<&'a str>,
}

/// Registry metadata; one method = one spec operation = one transaction.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Record that blob `digest` of `size` bytes is committed and belongs to `repo`.
    async fn link_blob(
        &self,
        repo: &RepositoryName,
        digest: &Digest,
        size: u64,
    ) -> Result<(), StoreError>;
    /// Size of `digest` if `repo` may serve it.
    async fn repository_blob(
        &self,
        repo: &RepositoryName,
        digest: &Digest,
    ) -> Result<Option<u64>, StoreError>;
    /// Open an upload session in `repo`.
    async fn create_upload(&self, repo: &RepositoryName, id: &UploadId) -> Result<(), StoreError>;
    /// The recorded size of upload `id` of `repo`, or `None` when there is no such session.
    async fn upload(&self, repo: &RepositoryName, id: &UploadId)
    -> Result<Option<u64>, StoreError>;
    /// Record the size an upload has reached.
    async fn set_upload_size(&self, id: &UploadId, size: u64) -> Result<(), StoreError>;
    /// Close an upload session.
    async fn delete_upload(&self, id: &UploadId) -> Result<(), StoreError>;
    /// Store a manifest (idempotent) and point `tags` at it, with its references and index
    /// entry. Every blob in `m.blobs` must still be linked to `repo` when the transaction
    /// commits (garbage collection may run concurrently), else [`PutOutcome::BlobMissing`].
    async fn put_manifest(
        &self,
        repo: &RepositoryName,
        m: &NewManifest<'_>,
        tags: &[Tag],
    ) -> Result<PutOutcome, StoreError>;
    /// A manifest by tag or digest.
    async fn manifest(
        &self,
        repo: &RepositoryName,
        r: &Reference,
    ) -> Result<Option<StoredManifest>, StoreError>;
    /// True when `repo` has a manifest `digest`.
    async fn has_manifest(
        &self,
        repo: &RepositoryName,
        digest: &Digest,
    ) -> Result<bool, StoreError>;
    /// Tags of `repo` in lexical order, or `None` when the repository is unknown.
    async fn tags(
        &self,
        repo: &RepositoryName,
        page: Page<'_>,
    ) -> Result<Option<Vec<String>>, StoreError>;
    /// Repositories that hold at least one manifest, in lexical order.
    async fn repositories(&self, page: Page<'_>) -> Result<Vec<String>, StoreError>;
    /// The Wasm index entry of a manifest.
    async fn wasm_entry(
        &self,
        repo: &RepositoryName,
        digest: &Digest,
    ) -> Result<Option<WasmIndexEntry>, StoreError>;
    /// Descriptors of the manifests of `repo` whose subject is `subject`, optionally only
    /// those of `artifact_type` (OCI Distribution v1.1, "Listing Referrers").
    async fn referrers(
        &self,
        repo: &RepositoryName,
        subject: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Vec<Descriptor>, StoreError>;
    /// Delete manifest `digest` of `repo` with its tags, references and index entry.
    /// Returns false when there was none.
    async fn delete_manifest(
        &self,
        repo: &RepositoryName,
        digest: &Digest,
    ) -> Result<bool, StoreError>;
    /// Delete tag `tag` of `repo` (the manifest stays). Returns false when there was none.
    async fn delete_tag(&self, repo: &RepositoryName, tag: &Tag) -> Result<bool, StoreError>;
    /// Remove blob `digest` from `repo`, unless a manifest of `repo` references it.
    async fn unlink_blob(
        &self,
        repo: &RepositoryName,
        digest: &Digest,
    ) -> Result<UnlinkOutcome, StoreError>;
    /// Note that a client relied on blob `digest` of `repo` (a HEAD before skipping an
    /// upload), so garbage collection keeps it for another grace period.
    /// Only links last used before `stale_before` (RFC 3339) are written, to bound writes.
    async fn touch_blob(
        &self,
        repo: &RepositoryName,
        digest: &Digest,
        stale_before: &str,
    ) -> Result<(), StoreError>;
    /// One garbage-collection pass over the metadata, in one transaction; with `dry_run`
    /// nothing is changed and the report says what would go.
    async fn collect_garbage(
        &self,
        policy: &GcPolicy,
        dry_run: bool,
    ) -> Result<GcReport, StoreError>;
    /// Which of `blobs` have a row, and which of `uploads` are open sessions (to find files
    /// that a crash left without metadata).
    async fn known(
        &self,
        blobs: &[Digest],
        uploads: &[String],
    ) -> Result<(Vec<bool>, Vec<bool>), StoreError>;
    /// Counts for metrics; also a cheap liveness probe of the database.
    async fn usage(&self) -> Result<Usage, StoreError>;
}
