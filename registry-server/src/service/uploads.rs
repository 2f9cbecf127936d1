//! Upload sessions (distribution-spec "Pushing blobs"): start, mount, chunked appends with
//! one writer per session across instances, the closing commit (the bytes stored are the
//! bytes hashed), and cancel.
//!
//! A session's whole state lives in the metadata database: its size, the running hash
//! (`DigestHasher::save`) and the blob store's cursor. A request claims the session, loads
//! that state, streams the body into the blob store while hashing it, and releases the
//! claim with the new state, so any instance can take the next chunk and the closing PUT
//! never re-reads the upload to hash it.

use std::sync::{Arc, Mutex};

use futures_util::StreamExt;
use wharf_oci::{Digest, DigestHasher, RepositoryName};

use super::{Registry, ServiceError, too_large};
use crate::storage::{ByteStream, StorageError, UploadCursor, UploadId};
use crate::store::{UploadClaim, UploadState};

/// How long a request may hold an upload session before another may take it over as
/// abandoned (its process died mid-request).
pub const UPLOAD_LEASE: std::time::Duration = std::time::Duration::from_secs(3600);

/// A request's claim on an upload session, with the state it was claimed at.
struct Claim {
    writer: String,
    state: UploadState,
}

impl Claim {
    fn cursor(&self) -> UploadCursor {
        UploadCursor {
            size: self.state.size,
            state: self.state.storage_state.clone(),
        }
    }
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

/// One request's bytes for an upload session.
struct Chunk<'a> {
    /// Where `Content-Range` says they go.
    range: Option<ChunkRange>,
    /// The bytes.
    body: ByteStream,
    /// No bytes follow (the closing PUT).
    last: bool,
    /// The blob's digest, when the client named it up front.
    expected: Option<&'a Digest>,
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

impl Registry {
    /// Open an upload session whose running hash uses `algorithm` (`?digest-algorithm=`).
    pub async fn start_upload(
        &self,
        repo: &RepositoryName,
        algorithm: wharf_oci::DigestAlgorithm,
    ) -> Result<UploadId, ServiceError> {
        self.start_upload_of(repo, algorithm, None).await
    }

    /// [`Self::start_upload`] for a blob whose digest the client names up front
    /// (monolithic uploads): a quota that holds that blob already has room for it.
    pub async fn start_upload_of(
        &self,
        repo: &RepositoryName,
        algorithm: wharf_oci::DigestAlgorithm,
        expected: Option<&Digest>,
    ) -> Result<UploadId, ServiceError> {
        self.refuse_mirrored(repo)?;
        self.open_upload(repo, algorithm, expected).await
    }

    /// Open a session (mirroring opens them in mirrored repositories).
    async fn open_upload(
        &self,
        repo: &RepositoryName,
        algorithm: wharf_oci::DigestAlgorithm,
        expected: Option<&Digest>,
    ) -> Result<UploadId, ServiceError> {
        // a repository whose quota is full takes no new bytes
        self.quota_room(repo, expected).await?;
        let id = UploadId::new();
        // the session row first: garbage collection removes upload files without one
        let hasher = DigestHasher::new_for(algorithm);
        self.store.create_upload(repo, &id, &hasher.save()).await?;
        if let Err(e) = self.blobs.create_upload(&id).await {
            let _ = self.store.delete_upload(&id).await;
            return Err(e.into());
        }
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
        self.refuse_mirrored(repo)?;
        let Some(size) = self.store.repository_blob(from, digest).await? else {
            return Ok(None);
        };
        if self.blobs.stat(digest).await?.is_none() {
            return Ok(None);
        }
        self.check_quota(repo, Some(digest), size).await?;
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
        match self.store.claim_upload(repo, id, &writer, stale).await? {
            UploadClaim::Claimed(state) => Ok(Claim { writer, state }),
            UploadClaim::Busy { size } => Err(ServiceError::UploadBusy {
                id: id.as_str().to_owned(),
                current: size,
            }),
            UploadClaim::Unknown => Err(ServiceError::UploadUnknown(id.as_str().to_owned())),
        }
    }

    /// Give the claim back, recording `state`; a claim that was taken over in between is
    /// an error, so the request does not report bytes another writer may have replaced.
    async fn release(
        &self,
        id: &UploadId,
        claim: &Claim,
        state: &UploadState,
    ) -> Result<(), ServiceError> {
        if self.store.release_upload(id, &claim.writer, state).await? {
            Ok(())
        } else {
            Err(ServiceError::UploadBusy {
                id: id.as_str().to_owned(),
                current: state.size,
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
        let chunk = Chunk {
            range,
            body,
            last: false,
            expected: None,
        };
        match self.append_claimed(repo, id, &claim, chunk).await {
            Ok(state) => {
                self.release(id, &claim, &state).await?;
                Ok(state.size)
            }
            Err(e) => {
                // the blob store left the upload where it was
                let _ = self
                    .store
                    .release_upload(id, &claim.writer, &claim.state)
                    .await;
                Err(e)
            }
        }
    }

    /// Append under a claim: the bytes go to the blob store at the claimed cursor and
    /// through the running hash on the way. Returns the state to record; its hash state
    /// is dropped (so the commit hashes the stored bytes again) whenever it would not
    /// cover exactly the bytes stored.
    async fn append_claimed(
        &self,
        repo: &RepositoryName,
        id: &UploadId,
        claim: &Claim,
        chunk: Chunk<'_>,
    ) -> Result<UploadState, ServiceError> {
        let Chunk {
            range,
            mut body,
            last,
            expected,
        } = chunk;
        let current = claim.state.size;
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
        // enforce the blob size limit and the room left in the repository's quota as the
        // bytes arrive, so bytes over either are never kept
        let max = self.limits.max_blob_bytes;
        let room = self.quota_room(repo, expected).await?;
        let quota_error = std::sync::Arc::new(std::sync::Mutex::new(None::<u64>));
        let over_quota = quota_error.clone();
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
            if let Some(room) = room
                && seen > room
            {
                if let Ok(mut e) = over_quota.lock() {
                    *e = Some(seen);
                }
                return Err(std::io::Error::new(
                    std::io::ErrorKind::QuotaExceeded,
                    "the repository's storage quota is full",
                ));
            }
            Ok(c)
        }));
        // continue the running hash when it covers exactly the bytes so far
        let hasher = claim
            .state
            .hash_state
            .as_deref()
            .and_then(DigestHasher::restore)
            .filter(|h| h.len() == current);
        let shared = hasher.map(|h| Arc::new(Mutex::new(h)));
        let body: ByteStream = match &shared {
            Some(shared) => {
                let tap = shared.clone();
                Box::pin(body.map(move |chunk| {
                    if let (Ok(c), Ok(mut h)) = (&chunk, tap.lock()) {
                        h.update(c);
                    }
                    chunk
                }))
            }
            None => body,
        };
        // a body from the session's first byte may be a Wasm layer to inspect on the way
        let body = match current {
            0 => self.early_inspections.tap(id, body),
            _ => {
                self.early_inspections.forget(id);
                body
            }
        };
        let cursor = match self
            .blobs
            .append_upload(id, &claim.cursor(), body, last)
            .await
        {
            Ok(cursor) => cursor,
            Err(e) => {
                self.early_inspections.forget(id);
                let over = quota_error.lock().ok().and_then(|e| *e);
                if let Some(needed) = over {
                    // name the quota the upload ran into
                    self.check_quota(repo, None, needed).await?;
                }
                return Err(too_large(e));
            }
        };
        let hash_state = shared
            .and_then(|s| Arc::try_unwrap(s).ok())
            .and_then(|m| m.into_inner().ok())
            .filter(|h| h.len() == cursor.size)
            .map(|h| h.save());
        Ok(UploadState {
            size: cursor.size,
            hash_state,
            storage_state: cursor.state,
        })
    }

    /// Finish upload `id` with an optional last chunk (starting where `range` says, when
    /// given): check the content against `digest`, make it the blob and link it to
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
        let result = async {
            let state = if let Some(body) = body {
                let chunk = Chunk {
                    range,
                    body,
                    last: true,
                    expected: Some(digest),
                };
                self.append_claimed(repo, id, &claim, chunk).await?
            } else {
                if let Some(r) = range
                    && r.start != claim.state.size
                {
                    return Err(ServiceError::ChunkOutOfOrder {
                        current: claim.state.size,
                        requested: r.start,
                    });
                }
                claim.state.clone()
            };
            self.commit_claimed(repo, id, digest, state).await
        }
        .await;
        match result {
            Ok(size) => Ok(size),
            Err(e @ ServiceError::DigestMismatch { .. }) => Err(e),
            Err(e) => {
                // the session stays where it was before this request
                let _ = self
                    .store
                    .release_upload(id, &claim.writer, &claim.state)
                    .await;
                Err(e)
            }
        }
    }

    /// Finish the running hash of upload `id` (or hash its stored bytes when the session
    /// lost it), compare with `digest`, and commit. A mismatch discards the session.
    async fn commit_claimed(
        &self,
        repo: &RepositoryName,
        id: &UploadId,
        digest: &Digest,
        state: UploadState,
    ) -> Result<u64, ServiceError> {
        let cursor = UploadCursor {
            size: state.size,
            state: state.storage_state.clone(),
        };
        let running = state
            .hash_state
            .as_deref()
            .and_then(DigestHasher::restore)
            .filter(|h| h.len() == state.size && h.algorithm() == digest.algorithm());
        let actual = match running {
            Some(h) => h.finish().0,
            None => {
                let mut h = digest.hasher();
                let mut stream = self.blobs.read_upload(id, &cursor).await?;
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
            self.discard_upload(id, cursor.state.as_deref()).await?;
            return Err(ServiceError::DigestMismatch {
                expected: digest.clone(),
                actual,
            });
        }
        if let Err(e) = self.check_quota(repo, Some(digest), state.size).await {
            self.discard_upload(id, cursor.state.as_deref()).await?;
            return Err(e);
        }
        let size = self.blobs.commit_upload(id, &cursor, digest).await?;
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
        self.early_inspections.committed(id, digest, size);
        Ok(size)
    }

    async fn discard_upload(&self, id: &UploadId, state: Option<&str>) -> Result<(), ServiceError> {
        self.early_inspections.forget(id);
        self.store.delete_upload(id).await?;
        self.blobs.delete_upload(id, state).await?;
        Ok(())
    }

    /// Store `body` as blob `digest` of `repo` in one go (mirroring): the upload machine
    /// checks the digest, and a failure leaves no session behind.
    pub(super) async fn store_blob(
        &self,
        repo: &RepositoryName,
        digest: &Digest,
        body: ByteStream,
    ) -> Result<u64, ServiceError> {
        let id = self
            .open_upload(repo, digest.algorithm(), Some(digest))
            .await?;
        match self
            .finish_upload(repo, &id, digest, None, Some(body))
            .await
        {
            Ok(size) => Ok(size),
            Err(e) => {
                let _ = self.cancel_upload(repo, &id).await;
                Err(e)
            }
        }
    }

    /// Cancel upload `id` (refused while another request writes to it).
    pub async fn cancel_upload(
        &self,
        repo: &RepositoryName,
        id: &UploadId,
    ) -> Result<(), ServiceError> {
        let claim = self.claim(repo, id).await?;
        self.discard_upload(id, claim.state.storage_state.as_deref())
            .await
    }
}
