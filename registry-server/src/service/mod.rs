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
    NewManifest, Page, PutOutcome, Store, StoreError, StoredManifest, UnlinkOutcome,
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
            max_manifest_bytes: 8 * 1024 * 1024,
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
    /// A range outside the blob.
    #[error("{0}")]
    RangeNotSatisfiable(String),
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
            StorageError::RangeNotSatisfiable { .. } => {
                ServiceError::RangeNotSatisfiable(e.to_string())
            }
            StorageError::Body(e) => ServiceError::BodyFailed(e.to_string()),
            StorageError::NotFound(what) => ServiceError::Internal(format!("storage lost {what}")),
            StorageError::Io { action, source } => {
                ServiceError::Internal(format!("storage I/O error during {action}: {source}"))
            }
        }
    }
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

    /// Stream blob `digest` of `repo`, or `range` of it.
    #[tracing::instrument(skip(self), err(level = "debug"))]
    pub async fn blob(
        &self,
        repo: &RepositoryName,
        digest: &Digest,
        range: Option<ByteRange>,
    ) -> Result<BlobBody, ServiceError> {
        let total = self.blob_size(repo, digest).await?;
        let range = match range {
            Some(r) if r.end == u64::MAX => Some(ByteRange {
                start: r.start,
                end: total.saturating_sub(1),
            }),
            other => other,
        };
        if let Some(r) = range
            && (r.start > r.end || r.end >= total)
        {
            return Err(ServiceError::RangeNotSatisfiable(format!(
                "range {}-{} is outside the blob of {total} bytes",
                r.start, r.end
            )));
        }
        let (stream, len) = self.blobs.read(digest, range).await?;
        Ok(BlobBody {
            stream,
            len,
            total,
            range,
        })
    }

    /// Open an upload session.
    pub async fn start_upload(&self, repo: &RepositoryName) -> Result<UploadId, ServiceError> {
        let id = UploadId::new();
        // the session row first: garbage collection removes upload files without one
        self.store.create_upload(repo, &id).await?;
        if let Err(e) = self.blobs.create_upload(&id).await {
            let _ = self.store.delete_upload(&id).await;
            return Err(e.into());
        }
        self.hashers
            .lock()
            .map_err(poisoned)?
            .insert(id.as_str().to_owned(), (0, DigestHasher::new()));
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

    async fn session(&self, repo: &RepositoryName, id: &UploadId) -> Result<u64, ServiceError> {
        self.store
            .upload(repo, id)
            .await?
            .ok_or_else(|| ServiceError::UploadUnknown(id.as_str().to_owned()))?;
        self.blobs
            .upload_size(id)
            .await?
            .ok_or_else(|| ServiceError::UploadUnknown(id.as_str().to_owned()))
    }

    /// Bytes received so far by upload `id`.
    pub async fn upload_status(
        &self,
        repo: &RepositoryName,
        id: &UploadId,
    ) -> Result<u64, ServiceError> {
        self.session(repo, id).await
    }

    /// Append `body` to upload `id`; `start` (from `Content-Range`) must equal the bytes
    /// received so far. Returns the new size.
    pub async fn append(
        &self,
        repo: &RepositoryName,
        id: &UploadId,
        start: Option<u64>,
        body: ByteStream,
    ) -> Result<u64, ServiceError> {
        let current = self.session(repo, id).await?;
        if let Some(start) = start
            && start != current
        {
            return Err(ServiceError::ChunkOutOfOrder {
                current,
                requested: start,
            });
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
        let size = match hasher {
            Some(h) => {
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
                size
            }
            None => self
                .blobs
                .append_upload(id, current, body)
                .await
                .map_err(too_large)?,
        };
        self.store.set_upload_size(id, size).await?;
        Ok(size)
    }

    /// Finish upload `id` with an optional last chunk: check the content against
    /// `digest`, move it into place and link it to `repo`. On a mismatch the upload is
    /// discarded and nothing becomes visible.
    #[tracing::instrument(skip(self, body), err(level = "debug"))]
    pub async fn finish_upload(
        &self,
        repo: &RepositoryName,
        id: &UploadId,
        digest: &Digest,
        body: Option<ByteStream>,
    ) -> Result<u64, ServiceError> {
        if let Some(body) = body {
            self.append(repo, id, None, body).await?;
        }
        let size = self.session(repo, id).await?;
        let running = self.hashers.lock().map_err(poisoned)?.remove(id.as_str());
        let actual = match running {
            Some((offset, h))
                if offset == size && digest.algorithm() == wharf_oci::DigestAlgorithm::Sha256 =>
            {
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

    /// Cancel upload `id`.
    pub async fn cancel_upload(
        &self,
        repo: &RepositoryName,
        id: &UploadId,
    ) -> Result<(), ServiceError> {
        self.session(repo, id).await?;
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
                    if self.store.repository_blob(repo, &d.digest).await?.is_none() {
                        return Err(ServiceError::ManifestBlobUnknown(d.digest.clone()));
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

    /// Totals for the metrics endpoint (and a database round trip for readiness).
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
        let mutable = self.limits.mutable_version_prefixes.iter().any(|p| {
            let p = p.trim_end_matches('/');
            p.is_empty()
                || repo.as_str() == p
                || repo
                    .as_str()
                    .strip_prefix(p)
                    .is_some_and(|r| r.starts_with('/'))
        });
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

    /// One page of repository names; also says whether more may follow.
    pub async fn catalog(
        &self,
        n: u32,
        last: Option<&str>,
    ) -> Result<(Vec<String>, bool), ServiceError> {
        let repos = self
            .store
            .repositories(Page {
                n: n.saturating_add(1),
                last,
            })
            .await?;
        Ok(truncate(repos, n))
    }
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
