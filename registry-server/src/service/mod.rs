//! The registry's rules: what a valid upload, manifest and Wasm package is. Handlers call
//! one method here; this layer calls the metadata [`Store`] and the [`BlobStore`].

mod catalog;
mod gc;
mod signatures;
mod wasm;

pub use catalog::{
    FetchCommands, MAX_PER_PAGE, PackageDetail, PackagePage, PackageSummary, ReferrerSummary,
    RepositoryDetail, SearchQuery, VersionDetail, VersionSummary, Viewer,
};

pub use signatures::SignatureRule;

pub use gc::{GcOutcome, GcSettings};

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures_util::StreamExt;
use wharf_oci::{
    Descriptor, Digest, DigestHasher, ImageIndex, ImageManifest, Reference, RepositoryName, Tag,
    media_types,
};

use crate::storage::{BlobStore, ByteRange, ByteStream, StorageError, UploadId};
use crate::store::{
    NewManifest, Page, PutOutcome, Store, StoreError, StoredManifest, UnlinkOutcome, UploadClaim,
};

/// Limits and settings the service enforces.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Largest manifest accepted, in bytes.
    pub max_manifest_bytes: u64,
    /// Largest wasm layer validated and indexed at push (read into memory for it);
    /// larger layers are stored unindexed.
    pub max_index_bytes: u64,
    /// How many layers may be indexed at once; with `max_index_bytes` it bounds the
    /// memory indexing can take.
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
    /// A range outside the blob of `size` bytes.
    #[error("{message}")]
    RangeNotSatisfiable { message: String, size: u64 },
    /// The client's body failed mid-way.
    #[error("the request body could not be read: {0}")]
    BodyFailed(String),
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

/// How long a request may hold an upload session before another may take it over as
/// abandoned (its process died mid-request).
pub const UPLOAD_LEASE: std::time::Duration = std::time::Duration::from_secs(3600);

/// A request's claim on an upload session.
struct Claim {
    writer: String,
    size: u64,
}

/// `Content-Range: <start>-<end>` of a chunk: where it must start, and its last byte
/// when given (then the body must be exactly that long; `end >= start`, as the HTTP layer
/// parses it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChunkRange {
    /// Offset of the first byte.
    pub start: u64,
    /// Offset of the last byte, inclusive.
    pub end: Option<u64>,
}

/// `body`, failing when it is not exactly `expected` bytes long (a `Content-Range` that
/// names more or fewer bytes than were sent).
fn exact_length(body: ByteStream, expected: u64) -> ByteStream {
    let mismatch = move |seen: u64| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("Content-Range announces {expected} bytes; the body has {seen}"),
        )
    };
    Box::pin(futures_util::stream::unfold(
        (body, 0u64, false),
        move |(mut body, seen, done)| async move {
            if done {
                return None;
            }
            match body.next().await {
                Some(Ok(c)) => {
                    let seen = seen + c.len() as u64;
                    if seen > expected {
                        Some((Err(mismatch(seen)), (body, seen, true)))
                    } else {
                        Some((Ok(c), (body, seen, false)))
                    }
                }
                Some(Err(e)) => Some((Err(e), (body, seen, true))),
                None if seen < expected => Some((Err(mismatch(seen)), (body, seen, true))),
                None => None,
            }
        },
    ))
}

/// A `Range: bytes=…` request of one range (RFC 9110 §14.1.2), before it is resolved
/// against the blob's size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RangeRequest {
    /// `bytes=<start>-[<end>]`.
    From { start: u64, end: Option<u64> },
    /// `bytes=-<n>`: the last `n` bytes.
    Suffix(u64),
}

/// A blob being served.
pub struct BlobBody {
    /// The bytes.
    pub stream: ByteStream,
    /// Bytes in `stream`.
    pub len: u64,
    /// The blob's full size.
    pub total: u64,
    /// The range served, when one was asked for.
    pub range: Option<ByteRange>,
}

/// The answer to a manifest push.
pub struct PushedManifest {
    /// Its digest.
    pub digest: Digest,
    /// Its subject, for `OCI-Subject`.
    pub subject: Option<Digest>,
    /// The tags now pointing at it, for `OCI-Tag`.
    pub tags: Vec<Tag>,
}

/// The registry service.
pub struct Registry {
    store: Arc<dyn Store>,
    blobs: Arc<dyn BlobStore>,
    limits: Limits,
    /// Running SHA-256 of uploads in progress in this process, with the offset it covers;
    /// missing (restart, another process) means the upload is hashed again at commit.
    hashers: Mutex<HashMap<String, (u64, DigestHasher)>>,
    /// Garbage-collection settings (also how often a blob's use is recorded).
    gc: GcSettings,
    /// Where signatures are required, and by which keys.
    signature_rules: Vec<SignatureRule>,
    /// Keys signatures are judged against for the catalog: (key id, SPKI PEM).
    trusted_keys: Vec<(String, String)>,
    /// Permits to read a wasm layer into memory for indexing.
    index_permits: tokio::sync::Semaphore,
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
        Registry {
            store,
            blobs,
            limits,
            gc,
            signature_rules: Vec::new(),
            trusted_keys: Vec::new(),
            hashers: Mutex::new(HashMap::new()),
            index_permits,
        }
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

    /// Require signatures per prefix (see [`SignatureRule`]); the rules' keys also count
    /// as trusted keys for signature status.
    pub fn with_signature_rules(mut self, rules: Vec<SignatureRule>) -> Self {
        for pem in rules.iter().flat_map(|r| r.keys.iter()) {
            self.add_trusted_key(pem.clone());
        }
        self.signature_rules = rules;
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

    /// Size of `digest` in `repo`.
    pub async fn blob_size(
        &self,
        repo: &RepositoryName,
        digest: &Digest,
    ) -> Result<u64, ServiceError> {
        let size = self
            .store
            .repository_blob(repo, digest)
            .await?
            .ok_or_else(|| ServiceError::BlobUnknown(digest.clone()))?;
        // a client that finds the blob may skip uploading it: keep it through the next GC
        // recorded at most every half grace period (and at least every minute)
        let every = (self.gc.grace / 2).min(std::time::Duration::from_secs(60));
        let stale = chrono::Utc::now() - chrono::Duration::from_std(every).unwrap_or_default();
        self.store
            .touch_blob(
                repo,
                digest,
                &stale.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            )
            .await?;
        Ok(size)
    }

    /// Stream blob `digest` of `repo`, or `range` of it (RFC 9110 §14.1.2: a last
    /// position past the end means the rest; a suffix range means the last bytes; a
    /// first position at or past the end is not satisfiable).
    #[tracing::instrument(skip(self), err(level = "debug"))]
    pub async fn blob(
        &self,
        repo: &RepositoryName,
        digest: &Digest,
        range: Option<RangeRequest>,
    ) -> Result<BlobBody, ServiceError> {
        let total = self.blob_size(repo, digest).await?;
        let unsatisfiable = |what: String| ServiceError::RangeNotSatisfiable {
            message: format!("range {what} is outside the blob of {total} bytes"),
            size: total,
        };
        let range = match range {
            None => None,
            Some(RangeRequest::From { start, end }) => {
                if start >= total || end.is_some_and(|e| e < start) {
                    let end = end.map(|e| e.to_string()).unwrap_or_default();
                    return Err(unsatisfiable(format!("{start}-{end}")));
                }
                Some(ByteRange {
                    start,
                    end: end.unwrap_or(u64::MAX).min(total - 1),
                })
            }
            Some(RangeRequest::Suffix(n)) => {
                if n == 0 || total == 0 {
                    return Err(unsatisfiable(format!("-{n}")));
                }
                Some(ByteRange {
                    start: total.saturating_sub(n),
                    end: total - 1,
                })
            }
        };
        let (stream, len) = self.blobs.read(digest, range).await?;
        Ok(BlobBody {
            stream,
            len,
            total,
            range,
        })
    }

    /// Open an upload session whose running hash uses `algorithm` (`?digest-algorithm=`).
    pub async fn start_upload(
        &self,
        repo: &RepositoryName,
        algorithm: wharf_oci::DigestAlgorithm,
    ) -> Result<UploadId, ServiceError> {
        let id = UploadId::new();
        // the session row first: garbage collection removes upload files without one
        self.store.create_upload(repo, &id).await?;
        if let Err(e) = self.blobs.create_upload(&id).await {
            let _ = self.store.delete_upload(&id).await;
            return Err(e.into());
        }
        self.hashers.lock().map_err(poisoned)?.insert(
            id.as_str().to_owned(),
            (0, DigestHasher::new_for(algorithm)),
        );
        Ok(id)
    }

    /// Cross-repository mount: link `digest` from `from` into `repo`. `None` when `from`
    /// lacks it (the caller then opens a normal session, as the spec says).
    pub async fn mount(
        &self,
        repo: &RepositoryName,
        from: &RepositoryName,
        digest: &Digest,
    ) -> Result<Option<u64>, ServiceError> {
        let Some(size) = self.store.repository_blob(from, digest).await? else {
            return Ok(None);
        };
        if self.blobs.stat(digest).await?.is_none() {
            return Ok(None);
        }
        self.store.link_blob(repo, digest, size).await?;
        Ok(Some(size))
    }

    /// Claim upload `id` of `repo` for this request: one writer per session at a time,
    /// across every instance sharing the database. A concurrent request gets
    /// [`ServiceError::UploadBusy`]; a claim held past [`UPLOAD_LEASE`] counts as
    /// abandoned (its process died) and may be taken over.
    async fn claim(&self, repo: &RepositoryName, id: &UploadId) -> Result<Claim, ServiceError> {
        let writer = uuid::Uuid::new_v4().to_string();
        let stale =
            chrono::Utc::now() - chrono::Duration::from_std(UPLOAD_LEASE).unwrap_or_default();
        let stale = stale.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        match self.store.claim_upload(repo, id, &writer, &stale).await? {
            UploadClaim::Claimed { size } => Ok(Claim { writer, size }),
            UploadClaim::Busy { size } => Err(ServiceError::UploadBusy {
                id: id.as_str().to_owned(),
                current: size,
            }),
            UploadClaim::Unknown => Err(ServiceError::UploadUnknown(id.as_str().to_owned())),
        }
    }

    /// Give the claim back, recording `size`; a claim that was taken over in between is
    /// an error, so the request does not report bytes another writer may have replaced.
    async fn release(&self, id: &UploadId, claim: &Claim, size: u64) -> Result<(), ServiceError> {
        if self.store.release_upload(id, &claim.writer, size).await? {
            Ok(())
        } else {
            self.hashers.lock().map_err(poisoned)?.remove(id.as_str());
            Err(ServiceError::UploadBusy {
                id: id.as_str().to_owned(),
                current: size,
            })
        }
    }

    /// Bytes received so far by upload `id` (as the database records them).
    pub async fn upload_status(
        &self,
        repo: &RepositoryName,
        id: &UploadId,
    ) -> Result<u64, ServiceError> {
        self.store
            .upload(repo, id)
            .await?
            .ok_or_else(|| ServiceError::UploadUnknown(id.as_str().to_owned()))
    }

    /// Append `body` to upload `id`. `range` (from `Content-Range`) must start at the bytes
    /// received so far and, when it names an end, the body must be exactly that long.
    /// Returns the new size.
    pub async fn append(
        &self,
        repo: &RepositoryName,
        id: &UploadId,
        range: Option<ChunkRange>,
        body: ByteStream,
    ) -> Result<u64, ServiceError> {
        let claim = self.claim(repo, id).await?;
        match self.append_claimed(id, &claim, range, body).await {
            Ok(size) => {
                self.release(id, &claim, size).await?;
                Ok(size)
            }
            Err(e) => {
                // the store truncated the upload back to where it was
                let _ = self
                    .store
                    .release_upload(id, &claim.writer, claim.size)
                    .await;
                Err(e)
            }
        }
    }

    /// Append under a claim: the bytes go to the file at the claimed size, hashed as
    /// they pass when the running hash covers exactly the bytes before them.
    async fn append_claimed(
        &self,
        id: &UploadId,
        claim: &Claim,
        range: Option<ChunkRange>,
        body: ByteStream,
    ) -> Result<u64, ServiceError> {
        let current = claim.size;
        let mut body = body;
        if let Some(r) = range {
            if r.start != current {
                return Err(ServiceError::ChunkOutOfOrder {
                    current,
                    requested: r.start,
                });
            }
            if let Some(end) = r.end {
                body = exact_length(body, end.saturating_sub(r.start) + 1);
            }
        }
        // enforce the blob size limit as the bytes arrive
        let max = self.limits.max_blob_bytes;
        let mut seen = current;
        let body: ByteStream = Box::pin(body.map(move |chunk| {
            let c = chunk?;
            seen += c.len() as u64;
            if max > 0 && seen > max {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::FileTooLarge,
                    format!("blob exceeds the registry's limit of {max} bytes"),
                ));
            }
            Ok(c)
        }));
        // continue the running hash when it covers exactly the bytes so far
        let hasher = {
            let mut map = self.hashers.lock().map_err(poisoned)?;
            match map.remove(id.as_str()) {
                Some((offset, h)) if offset == current => Some(h),
                _ => None,
            }
        };
        let Some(h) = hasher else {
            return self
                .blobs
                .append_upload(id, current, body)
                .await
                .map_err(too_large);
        };
        let shared = Arc::new(Mutex::new(h));
        let tap = shared.clone();
        let body: ByteStream = Box::pin(body.map(move |chunk| {
            if let (Ok(c), Ok(mut h)) = (&chunk, tap.lock()) {
                h.update(c);
            }
            chunk
        }));
        let size = self
            .blobs
            .append_upload(id, current, body)
            .await
            .map_err(too_large)?;
        if let Ok(m) = Arc::try_unwrap(shared)
            && let Ok(h) = m.into_inner()
            && h.len() == size
        {
            self.hashers
                .lock()
                .map_err(poisoned)?
                .insert(id.as_str().to_owned(), (size, h));
        }
        Ok(size)
    }

    /// Finish upload `id` with an optional last chunk (starting where `range` says, when
    /// given): check the content against `digest`, move it into place and link it to
    /// `repo`. The session is claimed throughout, so no other request can add bytes
    /// between the hash and the commit. On a mismatch the upload is discarded and nothing
    /// becomes visible.
    #[tracing::instrument(skip(self, body), err(level = "debug"))]
    pub async fn finish_upload(
        &self,
        repo: &RepositoryName,
        id: &UploadId,
        digest: &Digest,
        range: Option<ChunkRange>,
        body: Option<ByteStream>,
    ) -> Result<u64, ServiceError> {
        let claim = self.claim(repo, id).await?;
        let mut size = claim.size;
        let result = async {
            if let Some(body) = body {
                size = self.append_claimed(id, &claim, range, body).await?;
            } else if let Some(r) = range
                && r.start != size
            {
                return Err(ServiceError::ChunkOutOfOrder {
                    current: size,
                    requested: r.start,
                });
            }
            self.commit_claimed(repo, id, digest, size).await
        }
        .await;
        match result {
            Ok(size) => Ok(size),
            Err(e @ ServiceError::DigestMismatch { .. }) => Err(e),
            Err(e) => {
                let _ = self.store.release_upload(id, &claim.writer, size).await;
                Err(e)
            }
        }
    }

    /// Hash (or finish the running hash of) the `size` bytes of upload `id`, compare with
    /// `digest`, and commit. A mismatch discards the session.
    async fn commit_claimed(
        &self,
        repo: &RepositoryName,
        id: &UploadId,
        digest: &Digest,
        size: u64,
    ) -> Result<u64, ServiceError> {
        let running = self.hashers.lock().map_err(poisoned)?.remove(id.as_str());
        let actual = match running {
            Some((offset, h)) if offset == size && digest.algorithm() == h.algorithm() => {
                h.finish().0
            }
            _ => {
                let mut h = digest.hasher();
                let mut stream = self.blobs.read_upload(id).await?;
                while let Some(chunk) = stream.next().await {
                    h.update(&chunk.map_err(|source| StorageError::Io {
                        action: "read upload",
                        source,
                    })?);
                }
                h.finish().0
            }
        };
        if &actual != digest {
            self.discard_upload(id).await?;
            return Err(ServiceError::DigestMismatch {
                expected: digest.clone(),
                actual,
            });
        }
        let size = self.blobs.commit_upload(id, digest).await?;
        self.store.link_blob(repo, digest, size).await?;
        if self.blobs.stat(digest).await?.is_none() {
            // garbage collection removed an identical, long-unused blob between the move
            // and the link: undo the link rather than point at nothing
            let _ = self.store.unlink_blob(repo, digest).await;
            return Err(ServiceError::Internal(format!(
                "blob {digest} vanished while it was committed (garbage collection raced this upload)"
            )));
        }
        self.store.delete_upload(id).await?;
        Ok(size)
    }

    async fn discard_upload(&self, id: &UploadId) -> Result<(), ServiceError> {
        self.hashers.lock().map_err(poisoned)?.remove(id.as_str());
        self.store.delete_upload(id).await?;
        self.blobs.delete_upload(id).await?;
        Ok(())
    }

    /// Cancel upload `id` (refused while another request writes to it).
    pub async fn cancel_upload(
        &self,
        repo: &RepositoryName,
        id: &UploadId,
    ) -> Result<(), ServiceError> {
        self.claim(repo, id).await?;
        self.discard_upload(id).await
    }

    /// Store a manifest pushed under `reference`, after checking it: parseable, of a
    /// known media type, every referenced blob or manifest present in `repo`, digest
    /// matching a digest reference, and — for Wasm artifacts — one valid wasm layer,
    /// which is indexed.
    #[tracing::instrument(skip(self, content), err(level = "debug"))]
    pub async fn put_manifest(
        &self,
        repo: &RepositoryName,
        reference: &Reference,
        extra_tags: &[Tag],
        content_type: Option<&str>,
        content: &[u8],
    ) -> Result<PushedManifest, ServiceError> {
        if content.len() as u64 > self.limits.max_manifest_bytes {
            return Err(ServiceError::SizeInvalid(format!(
                "manifest of {} bytes exceeds the limit of {} bytes",
                content.len(),
                self.limits.max_manifest_bytes
            )));
        }
        let digest = match reference {
            Reference::Digest(d) => {
                let actual = d.compute_same(content);
                if &actual != d {
                    return Err(ServiceError::DigestMismatch {
                        expected: d.clone(),
                        actual,
                    });
                }
                actual
            }
            Reference::Tag(_) => Digest::sha256_of(content),
        };
        let value: serde_json::Value = serde_json::from_slice(content).map_err(|e| {
            ServiceError::ManifestInvalid(format!("manifest is not valid JSON: {e}"))
        })?;
        let body_type = value.get("mediaType").and_then(|m| m.as_str());
        let header_type = content_type
            .map(|c| c.split(';').next().unwrap_or(c).trim())
            .filter(|c| !c.is_empty() && *c != "application/json");
        let media_type = match (header_type, body_type) {
            (Some(h), Some(b)) if h != b => {
                return Err(ServiceError::ManifestInvalid(format!(
                    "manifest mediaType `{b}` does not match Content-Type `{h}`"
                )));
            }
            (Some(h), _) => h.to_owned(),
            (None, Some(b)) => b.to_owned(),
            (None, None) if value.get("manifests").is_some() => media_types::OCI_INDEX.to_owned(),
            (None, None) => media_types::OCI_MANIFEST.to_owned(),
        };
        let mut new = NewManifest {
            digest: &digest,
            media_type: &media_type,
            artifact_type: None,
            subject: None,
            content,
            annotations: None,
            blobs: Vec::new(),
            manifests: Vec::new(),
            wasm: None,
            signatures: Vec::new(),
        };
        let artifact_type;
        let subject;
        let annotations;
        match media_type.as_str() {
            media_types::OCI_MANIFEST | media_types::DOCKER_MANIFEST => {
                let m = ImageManifest::from_slice(content)
                    .map_err(|e| ServiceError::ManifestInvalid(e.to_string()))?;
                for d in std::iter::once(&m.config).chain(&m.layers) {
                    // non-distributable layers (foreign URLs) are not pushed to registries:
                    // accepted without the blob, as the image specification expects
                    if is_non_distributable(d) {
                        continue;
                    }
                    let Some(size) = self.store.repository_blob(repo, &d.digest).await? else {
                        return Err(ServiceError::ManifestBlobUnknown(d.digest.clone()));
                    };
                    // a descriptor's size is checked against the blob it names: a size that
                    // lies would let a client skip limits that go by it
                    if size != d.size {
                        return Err(ServiceError::ManifestInvalid(format!(
                            "descriptor of blob {} says {} bytes; the blob has {size}",
                            d.digest, d.size
                        )));
                    }
                    new.blobs.push(d.digest.clone());
                }
                // the CNCF layout demands exactly one wasm layer; other artifacts that carry
                // wasm (Spin apps: an image config and several layers) are stored as they are,
                // indexed only when they have a single wasm layer
                let wasm_layers = m
                    .layers
                    .iter()
                    .filter(|l| media_types::is_wasm_layer(&l.media_type))
                    .count();
                if media_types::is_wasm_config(&m.config.media_type) || wasm_layers == 1 {
                    new.wasm = self.index_wasm(&m).await?;
                }
                new.signatures = self.judge_signatures(&m).await;
                for s in &mut new.signatures {
                    s.signature_digest = digest.clone();
                }
                artifact_type = Some(m.effective_artifact_type().to_owned());
                subject = m.subject.map(|s| s.digest);
                annotations = m.annotations;
            }
            media_types::OCI_INDEX | media_types::DOCKER_MANIFEST_LIST => {
                let i: ImageIndex = serde_json::from_slice(content).map_err(|e| {
                    ServiceError::ManifestInvalid(format!("image index is not valid: {e}"))
                })?;
                for d in &i.manifests {
                    if !self.store.has_manifest(repo, &d.digest).await? {
                        return Err(ServiceError::ManifestChildUnknown(d.digest.clone()));
                    }
                    new.manifests.push(d.digest.clone());
                }
                artifact_type = i.artifact_type.clone();
                subject = i.subject.map(|s| s.digest);
                annotations = i.annotations;
            }
            other => {
                return Err(ServiceError::ManifestInvalid(format!(
                    "unsupported manifest media type `{other}`"
                )));
            }
        }
        new.artifact_type = artifact_type.as_deref();
        new.subject = subject.as_ref();
        new.annotations = annotations.as_ref();
        let mut tags: Vec<Tag> = extra_tags.to_vec();
        if let Reference::Tag(t) = reference {
            tags.insert(0, t.clone());
        }
        tags.dedup();
        self.check_versions_stay(repo, &tags, &digest).await?;
        match self.store.put_manifest(repo, &new, &tags).await? {
            PutOutcome::Stored => Ok(PushedManifest {
                digest,
                subject,
                tags,
            }),
            PutOutcome::BlobMissing(d) => Err(ServiceError::ManifestBlobUnknown(d)),
        }
    }

    /// Readiness: one small write to the metadata database.
    pub async fn check_writable(&self) -> Result<(), ServiceError> {
        Ok(self.store.check_writable().await?)
    }

    /// Totals for the metrics endpoint.
    pub async fn usage(&self) -> Result<crate::store::Usage, ServiceError> {
        Ok(self.store.usage().await?)
    }

    /// Immutable versions: a semver tag that points at another manifest may not move,
    /// unless `repo` is under a prefix the operator made mutable.
    async fn check_versions_stay(
        &self,
        repo: &RepositoryName,
        tags: &[Tag],
        digest: &Digest,
    ) -> Result<(), ServiceError> {
        let mutable = self
            .limits
            .mutable_version_prefixes
            .iter()
            .any(|p| repo.is_under(p));
        if mutable {
            return Ok(());
        }
        for tag in tags.iter().filter(|t| t.semver().is_some()) {
            if let Some(existing) = self
                .store
                .manifest(repo, &Reference::Tag(tag.clone()))
                .await?
                && &existing.digest != digest
            {
                return Err(ServiceError::VersionExists {
                    tag: tag.to_string(),
                    digest: existing.digest,
                });
            }
        }
        Ok(())
    }

    /// The manifests of `repo` whose subject is `subject`, as an image index
    /// (OCI Distribution v1.1 "Listing Referrers"); empty for an unknown digest.
    pub async fn referrers(
        &self,
        repo: &RepositoryName,
        subject: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Vec<Descriptor>, ServiceError> {
        Ok(self.store.referrers(repo, subject, artifact_type).await?)
    }

    /// Delete a manifest by digest (with its tags and index entry), or only a tag.
    pub async fn delete_manifest(
        &self,
        repo: &RepositoryName,
        reference: &Reference,
    ) -> Result<(), ServiceError> {
        let found = match reference {
            Reference::Digest(d) => self.store.delete_manifest(repo, d).await?,
            Reference::Tag(t) => self.store.delete_tag(repo, t).await?,
        };
        if found {
            Ok(())
        } else {
            Err(ServiceError::ManifestUnknown(reference.to_string()))
        }
    }

    /// Remove blob `digest` from `repo`. Refused while a manifest of `repo` references it;
    /// the bytes go when garbage collection finds no repository holding them.
    pub async fn delete_blob(
        &self,
        repo: &RepositoryName,
        digest: &Digest,
    ) -> Result<(), ServiceError> {
        match self.store.unlink_blob(repo, digest).await? {
            UnlinkOutcome::Unlinked => Ok(()),
            UnlinkOutcome::NotFound => Err(ServiceError::BlobUnknown(digest.clone())),
            UnlinkOutcome::Referenced(by) => Err(ServiceError::BlobInUse {
                digest: digest.clone(),
                manifest: by,
            }),
        }
    }

    /// A manifest by tag or digest.
    pub async fn manifest(
        &self,
        repo: &RepositoryName,
        reference: &Reference,
    ) -> Result<StoredManifest, ServiceError> {
        let m = self
            .store
            .manifest(repo, reference)
            .await?
            .ok_or_else(|| ServiceError::ManifestUnknown(reference.to_string()))?;
        self.require_signature(repo, &m).await?;
        Ok(m)
    }

    /// One page of `repo`'s tags; also says whether more may follow.
    pub async fn tags(
        &self,
        repo: &RepositoryName,
        n: u32,
        last: Option<&str>,
    ) -> Result<(Vec<String>, bool), ServiceError> {
        let tags = self
            .store
            .tags(
                repo,
                Page {
                    n: n.saturating_add(1),
                    last,
                },
            )
            .await?
            .ok_or_else(|| ServiceError::NameUnknown(repo.clone()))?;
        Ok(truncate(tags, n))
    }

    /// One page of the repository names `visible` accepts, after `last`; also says
    /// whether more may follow. Filtering comes before paging, so a page holds `n` visible
    /// names whenever that many exist and says nothing about the names it skipped (a
    /// client probing with `last=` learns only about repositories it may see).
    pub async fn catalog(
        &self,
        n: u32,
        last: Option<&str>,
        visible: impl Fn(&str) -> bool,
    ) -> Result<(Vec<String>, bool), ServiceError> {
        let mut out = Vec::new();
        let mut cursor = last.map(str::to_owned);
        let batch = n.saturating_add(1).max(100);
        loop {
            let repos = self
                .store
                .repositories(Page {
                    n: batch,
                    last: cursor.as_deref(),
                })
                .await?;
            let exhausted = repos.len() < batch as usize;
            cursor = repos.last().cloned();
            out.extend(repos.into_iter().filter(|r| visible(r)));
            if out.len() > n as usize || exhausted {
                break;
            }
        }
        Ok(truncate(out, n))
    }
}

/// A layer the image specification lets registries accept without its blob: a
/// non-distributable media type, or one with `urls` to fetch it elsewhere.
fn is_non_distributable(d: &Descriptor) -> bool {
    d.media_type.contains("nondistributable")
        || d.media_type.contains("foreign")
        || d.urls.as_ref().is_some_and(|u| !u.is_empty())
}

fn truncate(mut items: Vec<String>, n: u32) -> (Vec<String>, bool) {
    let more = items.len() > n as usize;
    items.truncate(n as usize);
    (items, more)
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

pub(crate) fn poisoned<T>(_: std::sync::PoisonError<T>) -> ServiceError {
    ServiceError::Internal("upload hasher lock poisoned".into())
}
