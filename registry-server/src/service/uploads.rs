//! Upload sessions (distribution-spec "Pushing blobs"): start, mount, chunked appends with
//! one writer per session across instances, the closing commit (the bytes stored are the
//! bytes hashed), and cancel.

use std::sync::{Arc, Mutex};

use futures_util::StreamExt;
use wharf_oci::{Digest, DigestHasher, RepositoryName};

use super::{Registry, ServiceError, poisoned, too_large};
use crate::storage::{ByteStream, StorageError, UploadId};
use crate::store::UploadClaim;

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

impl Registry {
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
        match self.store.claim_upload(repo, id, &writer, stale).await? {
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
}
