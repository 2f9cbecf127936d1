//! Blob bytes: the one place that reads and writes them. Content-addressed, immutable
//! once committed; uploads live apart until their digest is checked.

mod fs;
pub mod s3;

use std::pin::Pin;

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::Stream;
use wharf_oci::Digest;

pub use fs::FsBlobStore;
pub use s3::S3BlobStore;

/// A stream of blob bytes.
pub type ByteStream = Pin<Box<dyn Stream<Item = Result<Bytes, std::io::Error>> + Send>>;

/// An inclusive byte range `start..=end` of a blob (HTTP `Range: bytes=start-end`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ByteRange {
    /// First byte.
    pub start: u64,
    /// Last byte, inclusive.
    pub end: u64,
}

/// An upload session id: a UUID, checked before it is used in a path.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct UploadId(String);

impl UploadId {
    /// A fresh random id.
    pub fn new() -> Self {
        UploadId(uuid::Uuid::new_v4().to_string())
    }

    /// Parse an id from a URL; only UUIDs are accepted (so no path tricks).
    pub fn parse(s: &str) -> Option<Self> {
        uuid::Uuid::parse_str(s)
            .ok()
            .map(|u| UploadId(u.to_string()))
    }

    /// The id as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for UploadId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl serde::Serialize for UploadId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl Default for UploadId {
    fn default() -> Self {
        Self::new()
    }
}

/// Errors of blob storage.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The blob or upload does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// An append did not start where the upload ends.
    #[error("upload {id} is at offset {current}, the chunk starts at {requested}")]
    OffsetMismatch {
        id: String,
        current: u64,
        requested: u64,
    },
    /// Another writer holds the upload (its file lock), at `offset`.
    #[error("upload {id} is being written by another request")]
    Busy { id: String, offset: u64 },
    /// The requested range is outside the blob.
    #[error("range {start}-{end} is outside the blob of {size} bytes")]
    RangeNotSatisfiable { start: u64, end: u64, size: u64 },
    /// The client's body stream failed (client gone, timeout).
    #[error("reading the request body failed: {0}")]
    Body(std::io::Error),
    /// The disk failed.
    #[error("storage I/O error during {action}")]
    Io {
        action: &'static str,
        #[source]
        source: std::io::Error,
    },
}

/// Where an upload stands in a blob store: the bytes it holds, and the store's own state of
/// it (object storage: the multipart upload, its parts, the tail not yet a part), which the
/// metadata database keeps between requests so that any instance can continue the upload.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UploadCursor {
    /// Bytes written and acknowledged.
    pub size: u64,
    /// The store's own state (opaque outside the store; `None` for the filesystem).
    pub state: Option<String>,
}

/// Content-addressed bytes: knows digests and upload ids, nothing about repositories or SQL.
#[async_trait]
pub trait BlobStore: Send + Sync + 'static {
    /// Size of a committed blob, or `None`.
    async fn stat(&self, digest: &Digest) -> Result<Option<u64>, StorageError>;
    /// Stream a committed blob, or a range of it. Returns the stream and its length.
    async fn read(
        &self,
        digest: &Digest,
        range: Option<ByteRange>,
    ) -> Result<(ByteStream, u64), StorageError>;
    /// A time-limited URL that serves blob `digest` without this registry (a pre-signed
    /// object-storage URL valid for `expires`), or `None` when the store cannot sign one.
    async fn presigned_read(
        &self,
        _digest: &Digest,
        _expires: std::time::Duration,
    ) -> Result<Option<String>, StorageError> {
        Ok(None)
    }
    /// Create an empty upload.
    async fn create_upload(&self, id: &UploadId) -> Result<(), StorageError>;
    /// Append `body` to the upload at `cursor`, where the metadata database says it stands
    /// (bytes past `cursor.size` were never acknowledged and are dropped; an upload
    /// shorter than it is an [`StorageError::OffsetMismatch`]). `last` says no bytes will
    /// follow (the closing request), so the store may write its final piece now. One
    /// writer at a time (the caller holds the session's claim; the filesystem also locks
    /// the file). Returns the new cursor; on a failed body the upload stays at `cursor`.
    async fn append_upload(
        &self,
        id: &UploadId,
        cursor: &UploadCursor,
        body: ByteStream,
        last: bool,
    ) -> Result<UploadCursor, StorageError>;
    /// Stream the upload's bytes (to hash them when no running hash is at hand).
    async fn read_upload(
        &self,
        id: &UploadId,
        cursor: &UploadCursor,
    ) -> Result<ByteStream, StorageError>;
    /// Make the upload at `cursor` blob `digest` (which the caller verified against the
    /// bytes): atomically, so the blob appears whole or not at all. Idempotent. Returns
    /// the blob's size.
    async fn commit_upload(
        &self,
        id: &UploadId,
        cursor: &UploadCursor,
        digest: &Digest,
    ) -> Result<u64, StorageError>;
    /// Remove an upload and everything the store keeps of it (`state`: its cursor's state,
    /// when known; object storage aborts the multipart upload it names).
    async fn delete_upload(&self, id: &UploadId, state: Option<&str>) -> Result<(), StorageError>;
    /// Remove a committed blob.
    async fn delete(&self, digest: &Digest) -> Result<(), StorageError>;
    /// Every committed blob with its last modification time (for garbage collection).
    async fn list(&self) -> Result<Vec<(Digest, std::time::SystemTime)>, StorageError>;
    /// Every upload with its last modification time (for garbage collection).
    async fn list_uploads(&self) -> Result<Vec<(UploadId, std::time::SystemTime)>, StorageError>;
    /// Whether the storage can serve (readiness); the default trusts it can.
    async fn check_ready(&self) -> Result<(), StorageError> {
        Ok(())
    }
}
