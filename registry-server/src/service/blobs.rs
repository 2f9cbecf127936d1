//! Blob reads (whole or one RFC 9110 range), sizes, and deletes.

use wharf_oci::{Digest, RepositoryName};

use super::{Registry, ServiceError};
use crate::storage::{ByteRange, ByteStream};
use crate::store::UnlinkOutcome;

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

impl Registry {
    /// A small blob read whole (a signature payload, an image config, an SBOM), checked
    /// against its digest.
    ///
    /// # Errors
    /// [`ServiceError::Internal`] when it holds more than `limit` bytes or does not match
    /// its digest; the blob store's error when it cannot be read.
    pub(crate) async fn small_blob(
        &self,
        digest: &Digest,
        limit: u64,
    ) -> Result<Vec<u8>, ServiceError> {
        use futures_util::StreamExt as _;
        let (mut stream, _) = self.blobs.read(digest, None).await?;
        let mut out = Vec::new();
        while let Some(chunk) = stream.next().await {
            out.extend_from_slice(&chunk.map_err(|e| ServiceError::Internal(e.to_string()))?);
            if out.len() as u64 > limit {
                return Err(ServiceError::Internal(format!(
                    "blob {digest} is larger than {limit} bytes"
                )));
            }
        }
        if &digest.compute_same(&out) != digest {
            return Err(ServiceError::Internal(format!(
                "stored blob {digest} does not match its digest"
            )));
        }
        Ok(out)
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
        self.store.touch_blob(repo, digest, stale).await?;
        Ok(size)
    }

    /// A pre-signed URL that serves blob `digest` of `repo` from object storage, when
    /// redirects are on and the store signs URLs; `None` serves it through this registry.
    /// The blob must be in `repo` (the same check as [`Self::blob`]).
    pub async fn blob_redirect(
        &self,
        repo: &RepositoryName,
        digest: &Digest,
    ) -> Result<Option<String>, ServiceError> {
        let Some(expires) = self.blob_redirect else {
            return Ok(None);
        };
        self.blob_size(repo, digest).await?;
        Ok(self.blobs.presigned_read(digest, expires).await?)
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

    /// Remove blob `digest` from `repo`. Refused while a manifest of `repo` references it;
    /// the bytes go when garbage collection finds no repository holding them.
    pub async fn delete_blob(
        &self,
        repo: &RepositoryName,
        digest: &Digest,
    ) -> Result<(), ServiceError> {
        self.refuse_mirrored(repo)?;
        match self.store.unlink_blob(repo, digest).await? {
            UnlinkOutcome::Unlinked => Ok(()),
            UnlinkOutcome::NotFound => Err(ServiceError::BlobUnknown(digest.clone())),
            UnlinkOutcome::Referenced(by) => Err(ServiceError::BlobInUse {
                digest: digest.clone(),
                manifest: by,
            }),
        }
    }
}
