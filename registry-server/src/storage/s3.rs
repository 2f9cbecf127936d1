//! Blobs in S3-compatible object storage (AWS S3, MinIO, Ceph RGW, Garage, R2), through
//! the `object_store` crate. Keys under the configured prefix:
//!
//! ```text
//! <prefix>/blobs/<algorithm>/<first two hex digits>/<hex>   committed blobs
//! <prefix>/uploads/<id>/data                                  an upload's bytes (multipart target, or one object)
//! <prefix>/uploads/<id>/tail-<n>                              bytes received but not yet a part
//! ```
//!
//! Uploads map onto multipart uploads (`MultipartStore`): bytes are gathered into parts of
//! `part_size` (at least 5 MiB, S3's minimum for every part but the last); what is left at
//! the end of a request, less than a part, is written as a small `tail` object and read
//! back by the next request, so at most one part is ever in memory and nothing lives only
//! in one process. The multipart upload id, the parts' ids, the tail's size and generation
//! are the upload's [`UploadCursor`] state (JSON), which the metadata database keeps.
//!
//! Commit: the caller has checked the digest against the bytes (the running hash); the
//! last part is written, the multipart upload completed into `uploads/<id>/data`, and that
//! object copied server-side to the blob's key, so the blob appears whole or not at all.
//! A blob already there is overwritten by the verified copy (the bytes are the same when
//! it was sound; a damaged object is replaced). Then everything under `uploads/<id>/` goes.
//! S3's `CopyObject` takes objects up to 5 GiB: larger blobs are refused at commit.

use std::time::Duration;

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use futures_util::{StreamExt, TryStreamExt};
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::multipart::{MultipartStore, PartId};
use object_store::path::Path;
use object_store::signer::Signer;
use object_store::{GetOptions, GetRange, ObjectStore, ObjectStoreExt, PutPayload};
use secrecy::{ExposeSecret as _, SecretString};
use serde::{Deserialize, Serialize};
use wharf_oci::Digest;

use super::{BlobStore, ByteRange, ByteStream, StorageError, UploadCursor, UploadId};

/// S3's smallest part (all but the last).
pub const MIN_PART_SIZE: u64 = 5 * 1024 * 1024;
/// The part size used unless configured otherwise.
pub const DEFAULT_PART_SIZE: u64 = 8 * 1024 * 1024;
/// The largest object `CopyObject` copies in one request.
const MAX_COPY: u64 = 5 * 1024 * 1024 * 1024;

/// Where an upload stands in the bucket: the [`UploadCursor`] state, as JSON.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
struct S3Upload {
    /// The part size this upload was started with.
    part_size: u64,
    /// The multipart upload into `uploads/<id>/data`, once a part was written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    multipart: Option<String>,
    /// Ids of the full parts written, in order.
    #[serde(default)]
    parts: Vec<String>,
    /// Bytes in the tail object, not yet in a part.
    #[serde(default)]
    tail: u64,
    /// The tail object is `tail-<generation>` (a new name per request, so a request that
    /// fails never damages the tail the recorded state names).
    #[serde(default)]
    generation: u32,
    /// Every byte is written: in the last part of the multipart upload, or, without one,
    /// in the `data` object.
    #[serde(default)]
    sealed: bool,
}

/// Connection settings of the `[s3]` table of the config file; each one is overridden by
/// its AWS environment variable (`AWS_ENDPOINT_URL`, `AWS_REGION`, `AWS_ACCESS_KEY_ID`,
/// `AWS_SECRET_ACCESS_KEY`, `AWS_ALLOW_HTTP`, `AWS_VIRTUAL_HOSTED_STYLE_REQUEST`).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct S3Settings {
    /// `endpoint = "http://127.0.0.1:9000"` (MinIO, Ceph RGW, Garage, R2…; default AWS).
    pub endpoint: Option<String>,
    /// `region = "us-east-1"`
    pub region: Option<String>,
    /// `access-key-id = "…"`
    pub access_key_id: Option<String>,
    /// `secret-access-key = "…"` (redacted in `Debug`)
    pub secret_access_key: Option<SecretString>,
    /// `allow-http = true` for a plain-HTTP endpoint.
    pub allow_http: Option<bool>,
    /// `virtual-hosted-style = true` for `BUCKET.host` requests (default: path-style).
    pub virtual_hosted_style: Option<bool>,
}

/// Blobs in an S3 bucket, under a key prefix.
#[derive(Debug)]
pub struct S3BlobStore {
    s3: AmazonS3,
    prefix: String,
    part_size: u64,
}

fn s3_error(action: &'static str) -> impl Fn(object_store::Error) -> StorageError {
    move |e| StorageError::Io {
        action,
        source: std::io::Error::other(e),
    }
}

fn not_found(e: &object_store::Error) -> bool {
    matches!(e, object_store::Error::NotFound { .. })
}

fn corrupt(id: &UploadId, why: String) -> StorageError {
    StorageError::Io {
        action: "read the upload's state",
        source: std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("upload {id}: {why}"),
        ),
    }
}

impl S3BlobStore {
    /// The store for `url` (`s3://BUCKET[/PREFIX]`): endpoint, region and credentials from
    /// `settings`, each overridden by the standard AWS environment variable
    /// (`AWS_ENDPOINT_URL`, `AWS_REGION`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
    /// `AWS_SESSION_TOKEN`, `AWS_ALLOW_HTTP`, `AWS_VIRTUAL_HOSTED_STYLE_REQUEST`, as
    /// `object_store` reads them; without credentials, its instance and web-identity
    /// providers). Requests are path-style unless virtual-hosted style is asked for.
    /// `part_size` is raised to S3's minimum of 5 MiB.
    ///
    /// # Errors
    /// A URL that is not `s3://BUCKET[/PREFIX]`, or settings the client refuses.
    pub fn open(url: &str, settings: &S3Settings, part_size: u64) -> Result<Self, StorageError> {
        let bad = |why: String| StorageError::Io {
            action: "configure object storage",
            source: std::io::Error::new(std::io::ErrorKind::InvalidInput, why),
        };
        let rest = url
            .strip_prefix("s3://")
            .ok_or_else(|| bad(format!("`{url}` is not an s3://BUCKET[/PREFIX] URL")))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(bad(format!("`{url}` names no bucket")));
        }
        let mut builder = AmazonS3Builder::new();
        if let Some(v) = &settings.endpoint {
            builder = builder.with_endpoint(v);
        }
        if let Some(v) = &settings.region {
            builder = builder.with_region(v);
        }
        if let Some(v) = &settings.access_key_id {
            builder = builder.with_access_key_id(v);
        }
        if let Some(v) = &settings.secret_access_key {
            builder = builder.with_secret_access_key(v.expose_secret());
        }
        if let Some(v) = settings.allow_http {
            builder = builder.with_allow_http(v);
        }
        if let Some(v) = settings.virtual_hosted_style {
            builder = builder.with_virtual_hosted_style_request(v);
        }
        for (key, value) in std::env::vars() {
            if key.starts_with("AWS_")
                && let Ok(k) = key.to_ascii_lowercase().parse()
            {
                builder = builder.with_config(k, value);
            }
        }
        let s3 = builder
            .with_bucket_name(bucket)
            .build()
            .map_err(|e| bad(format!("object storage settings for `{url}`: {e}")))?;
        Ok(S3BlobStore {
            s3,
            prefix: prefix.trim_matches('/').to_owned(),
            part_size: part_size.max(MIN_PART_SIZE),
        })
    }

    fn key(&self, rest: &str) -> Path {
        if self.prefix.is_empty() {
            Path::from(rest)
        } else {
            Path::from(format!("{}/{rest}", self.prefix))
        }
    }

    fn blob_key(&self, digest: &Digest) -> Path {
        let hex = digest.encoded();
        self.key(&format!(
            "blobs/{}/{}/{hex}",
            digest.algorithm().as_str(),
            &hex[..2]
        ))
    }

    fn upload_dir(&self, id: &UploadId) -> Path {
        self.key(&format!("uploads/{id}"))
    }

    fn data_key(&self, id: &UploadId) -> Path {
        self.key(&format!("uploads/{id}/data"))
    }

    fn tail_key(&self, id: &UploadId, generation: u32) -> Path {
        self.key(&format!("uploads/{id}/tail-{generation}"))
    }

    /// The upload's state at `cursor`, checked against its size.
    fn state(&self, id: &UploadId, cursor: &UploadCursor) -> Result<S3Upload, StorageError> {
        let st = match &cursor.state {
            None => S3Upload {
                part_size: self.part_size,
                ..S3Upload::default()
            },
            Some(text) => serde_json::from_str(text).map_err(|e| corrupt(id, e.to_string()))?,
        };
        let held = st.parts.len() as u64 * st.part_size + st.tail;
        if !st.sealed && (held != cursor.size || st.part_size < MIN_PART_SIZE) {
            return Err(corrupt(
                id,
                format!(
                    "the state holds {held} bytes in parts of {}, the session {}",
                    st.part_size, cursor.size
                ),
            ));
        }
        Ok(st)
    }

    /// The tail object's bytes (empty when there is none), checked against its size.
    async fn read_tail(&self, id: &UploadId, st: &S3Upload) -> Result<BytesMut, StorageError> {
        let mut buf = BytesMut::with_capacity(st.part_size as usize);
        if st.tail > 0 {
            let bytes = self
                .s3
                .get(&self.tail_key(id, st.generation))
                .await
                .map_err(s3_error("read the upload's tail"))?
                .bytes()
                .await
                .map_err(s3_error("read the upload's tail"))?;
            if bytes.len() as u64 != st.tail {
                return Err(corrupt(
                    id,
                    format!("its tail has {} bytes, not {}", bytes.len(), st.tail),
                ));
            }
            buf.extend_from_slice(&bytes);
        }
        Ok(buf)
    }

    /// Write part `index` (0-based) of the upload, creating the multipart upload first.
    async fn put_part(
        &self,
        id: &UploadId,
        st: &mut S3Upload,
        created: &mut Option<String>,
        part: Bytes,
    ) -> Result<(), StorageError> {
        let data = self.data_key(id);
        let multipart = match &st.multipart {
            Some(m) => m.clone(),
            None => {
                let m = self
                    .s3
                    .create_multipart(&data)
                    .await
                    .map_err(s3_error("start a multipart upload"))?;
                st.multipart = Some(m.clone());
                *created = Some(m.clone());
                m
            }
        };
        let PartId { content_id } = self
            .s3
            .put_part(&data, &multipart, st.parts.len(), PutPayload::from(part))
            .await
            .map_err(s3_error("write an upload part"))?;
        st.parts.push(content_id);
        Ok(())
    }

    /// Write what is left in `buf` as the last piece: the last part of the multipart
    /// upload, or the whole `data` object when there is none.
    async fn seal(
        &self,
        id: &UploadId,
        st: &mut S3Upload,
        created: &mut Option<String>,
        buf: BytesMut,
    ) -> Result<(), StorageError> {
        if st.multipart.is_some() {
            if !buf.is_empty() {
                self.put_part(id, st, created, buf.freeze()).await?;
            }
        } else {
            self.s3
                .put(&self.data_key(id), PutPayload::from(buf.freeze()))
                .await
                .map_err(s3_error("write the upload"))?;
        }
        st.tail = 0;
        st.sealed = true;
        Ok(())
    }

    /// Delete every object under `prefix`.
    async fn delete_prefix(&self, prefix: &Path) -> Result<(), StorageError> {
        let keys: Vec<Path> = self
            .s3
            .list(Some(prefix))
            .map_ok(|m| m.location)
            .try_collect()
            .await
            .map_err(s3_error("list upload objects"))?;
        for key in keys {
            match self.s3.delete(&key).await {
                Ok(()) => {}
                Err(e) if not_found(&e) => {}
                Err(e) => return Err(s3_error("delete an upload object")(e)),
            }
        }
        Ok(())
    }

    /// `blobs/<alg>/<xx>/<hex>` back to its digest.
    fn digest_of(&self, key: &Path) -> Option<Digest> {
        let parts: Vec<&str> = key.as_ref().rsplitn(4, '/').collect();
        match parts.as_slice() {
            [hex, _, algorithm, ..] => format!("{algorithm}:{hex}").parse().ok(),
            _ => None,
        }
    }
}

#[async_trait]
impl BlobStore for S3BlobStore {
    async fn check_ready(&self) -> Result<(), StorageError> {
        self.s3
            .list_with_delimiter(Some(&self.key("blobs")))
            .await
            .map(|_| ())
            .map_err(s3_error("list the bucket"))
    }

    async fn stat(&self, digest: &Digest) -> Result<Option<u64>, StorageError> {
        match self.s3.head(&self.blob_key(digest)).await {
            Ok(meta) => Ok(Some(meta.size)),
            Err(e) if not_found(&e) => Ok(None),
            Err(e) => Err(s3_error("look up a blob")(e)),
        }
    }

    async fn read(
        &self,
        digest: &Digest,
        range: Option<ByteRange>,
    ) -> Result<(ByteStream, u64), StorageError> {
        let options = GetOptions {
            range: range.map(|r| GetRange::Bounded(r.start..r.end.saturating_add(1))),
            ..GetOptions::default()
        };
        let result = match self.s3.get_opts(&self.blob_key(digest), options).await {
            Ok(r) => r,
            Err(e) if not_found(&e) => return Err(StorageError::NotFound(digest.to_string())),
            Err(e) => return Err(s3_error("read a blob")(e)),
        };
        let len = result.range.end - result.range.start;
        if let Some(r) = range
            && len != r.end - r.start + 1
        {
            return Err(StorageError::RangeNotSatisfiable {
                start: r.start,
                end: r.end,
                size: result.meta.size,
            });
        }
        let stream = result.into_stream().map_err(std::io::Error::other);
        Ok((Box::pin(stream), len))
    }

    async fn presigned_read(
        &self,
        digest: &Digest,
        expires: Duration,
    ) -> Result<Option<String>, StorageError> {
        let url = self
            .s3
            .signed_url(
                object_store::signer::Method::GET,
                &self.blob_key(digest),
                expires,
            )
            .await
            .map_err(s3_error("sign a blob URL"))?;
        Ok(Some(url.to_string()))
    }

    async fn create_upload(&self, _id: &UploadId) -> Result<(), StorageError> {
        // nothing to create: the first part starts the multipart upload
        Ok(())
    }

    async fn append_upload(
        &self,
        id: &UploadId,
        cursor: &UploadCursor,
        mut body: ByteStream,
        last: bool,
    ) -> Result<UploadCursor, StorageError> {
        let mut st = self.state(id, cursor)?;
        if st.sealed {
            return Err(corrupt(id, "bytes arrived after its last piece".into()));
        }
        let part_size = st.part_size as usize;
        let mut buf = self.read_tail(id, &st).await?;
        let mut created = None;
        let mut received = 0u64;
        let result: Result<(), StorageError> = async {
            while let Some(chunk) = body.next().await {
                let mut chunk = chunk.map_err(StorageError::Body)?;
                received += chunk.len() as u64;
                while !chunk.is_empty() {
                    let take = (part_size - buf.len()).min(chunk.len());
                    buf.extend_from_slice(&chunk.split_to(take));
                    if buf.len() == part_size {
                        let part = std::mem::replace(&mut buf, BytesMut::with_capacity(part_size));
                        self.put_part(id, &mut st, &mut created, part.freeze())
                            .await?;
                    }
                }
            }
            if last {
                self.seal(id, &mut st, &mut created, std::mem::take(&mut buf))
                    .await?;
            } else {
                st.generation += 1;
                st.tail = buf.len() as u64;
                if !buf.is_empty() {
                    self.s3
                        .put(
                            &self.tail_key(id, st.generation),
                            PutPayload::from(std::mem::take(&mut buf).freeze()),
                        )
                        .await
                        .map_err(s3_error("write the upload's tail"))?;
                }
            }
            Ok(())
        }
        .await;
        if let Err(e) = result {
            // the session stays where the recorded state says; a multipart upload this
            // request started is not recorded anywhere, so it goes now
            if let Some(m) = created {
                let _ = self.s3.abort_multipart(&self.data_key(id), &m).await;
            }
            return Err(e);
        }
        let state = serde_json::to_string(&st).map_err(|e| corrupt(id, e.to_string()))?;
        Ok(UploadCursor {
            size: cursor.size + received,
            state: Some(state),
        })
    }

    async fn read_upload(
        &self,
        id: &UploadId,
        cursor: &UploadCursor,
    ) -> Result<ByteStream, StorageError> {
        let st = self.state(id, cursor)?;
        // parts written to a multipart upload cannot be read back before it completes;
        // the running hash kept with the session makes that unnecessary
        if st.multipart.is_some() {
            return Err(corrupt(
                id,
                "its running hash was lost and its parts cannot be read back; start the upload again".into(),
            ));
        }
        let key = if st.sealed {
            self.data_key(id)
        } else if st.tail > 0 {
            self.tail_key(id, st.generation)
        } else {
            return Ok(Box::pin(futures_util::stream::empty()));
        };
        let result = self
            .s3
            .get(&key)
            .await
            .map_err(s3_error("read the upload"))?;
        Ok(Box::pin(
            result.into_stream().map_err(std::io::Error::other),
        ))
    }

    async fn commit_upload(
        &self,
        id: &UploadId,
        cursor: &UploadCursor,
        digest: &Digest,
    ) -> Result<u64, StorageError> {
        if cursor.size > MAX_COPY {
            return Err(StorageError::Io {
                action: "commit the upload",
                source: std::io::Error::new(
                    std::io::ErrorKind::FileTooLarge,
                    format!(
                        "blob {digest} is {} bytes; object storage copies at most {MAX_COPY} bytes in one request",
                        cursor.size
                    ),
                ),
            });
        }
        let mut st = self.state(id, cursor)?;
        let mut created = None;
        if !st.sealed {
            let buf = self.read_tail(id, &st).await?;
            self.seal(id, &mut st, &mut created, buf).await?;
        }
        let data = self.data_key(id);
        if let Some(multipart) = &st.multipart {
            let parts = st
                .parts
                .iter()
                .map(|content_id| PartId {
                    content_id: content_id.clone(),
                })
                .collect();
            self.s3
                .complete_multipart(&data, multipart, parts)
                .await
                .map_err(s3_error("complete the multipart upload"))?;
        }
        let blob = self.blob_key(digest);
        self.s3
            .copy(&data, &blob)
            .await
            .map_err(s3_error("copy the upload to its digest"))?;
        let size = self
            .s3
            .head(&blob)
            .await
            .map_err(s3_error("look up the committed blob"))?
            .size;
        if size != cursor.size {
            return Err(StorageError::Io {
                action: "commit the upload",
                source: std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!(
                        "blob {digest} holds {size} bytes after the copy; the upload had {}",
                        cursor.size
                    ),
                ),
            });
        }
        self.delete_prefix(&self.upload_dir(id)).await?;
        Ok(size)
    }

    async fn delete_upload(&self, id: &UploadId, state: Option<&str>) -> Result<(), StorageError> {
        if let Some(multipart) = state
            .and_then(|s| serde_json::from_str::<S3Upload>(s).ok())
            .and_then(|st| st.multipart)
        {
            match self
                .s3
                .abort_multipart(&self.data_key(id), &multipart)
                .await
            {
                Ok(()) => {}
                Err(e) if not_found(&e) => {}
                Err(e) => tracing::warn!(%id, error = %e, "aborting a multipart upload failed"),
            }
        }
        self.delete_prefix(&self.upload_dir(id)).await
    }

    async fn delete(&self, digest: &Digest) -> Result<(), StorageError> {
        match self.s3.delete(&self.blob_key(digest)).await {
            Ok(()) => Ok(()),
            Err(e) if not_found(&e) => Ok(()),
            Err(e) => Err(s3_error("delete a blob")(e)),
        }
    }

    async fn list(&self) -> Result<Vec<(Digest, std::time::SystemTime)>, StorageError> {
        let metas: Vec<object_store::ObjectMeta> = self
            .s3
            .list(Some(&self.key("blobs")))
            .try_collect()
            .await
            .map_err(s3_error("list blobs"))?;
        Ok(metas
            .into_iter()
            .filter_map(|m| {
                let digest = self.digest_of(&m.location)?;
                Some((digest, std::time::SystemTime::from(m.last_modified)))
            })
            .collect())
    }

    async fn list_uploads(&self) -> Result<Vec<(UploadId, std::time::SystemTime)>, StorageError> {
        let metas: Vec<object_store::ObjectMeta> = self
            .s3
            .list(Some(&self.key("uploads")))
            .try_collect()
            .await
            .map_err(s3_error("list uploads"))?;
        let mut newest: std::collections::BTreeMap<String, std::time::SystemTime> =
            Default::default();
        for m in metas {
            let mut parts = m.location.as_ref().rsplit('/');
            let (Some(_object), Some(id)) = (parts.next(), parts.next()) else {
                continue;
            };
            let at = std::time::SystemTime::from(m.last_modified);
            let e = newest.entry(id.to_owned()).or_insert(at);
            *e = (*e).max(at);
        }
        Ok(newest
            .into_iter()
            .filter_map(|(id, at)| Some((UploadId::parse(&id)?, at)))
            .collect())
    }
}
