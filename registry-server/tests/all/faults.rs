//! Storage faults: a full disk (ENOSPC) or an I/O error during an upload or its commit is
//! a 5xx for that request only; nothing half-written becomes visible, the upload session is
//! left where it was, and the registry goes on serving. Also: oversized headers.

use crate::harness::digest;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use async_trait::async_trait;
use futures_util::StreamExt;
use reqwest::StatusCode;
use wharf_oci::Digest;
use wharf_registry::storage::{
    BlobStore, ByteRange, ByteStream, FsBlobStore, StorageError, UploadCursor, UploadId,
};

/// A filesystem blob store with a quota on upload bytes (ENOSPC beyond it) and a switch
/// that makes commits fail with EIO.
struct Faulty {
    inner: FsBlobStore,
    quota: AtomicU64,
    fail_commit: AtomicBool,
}

fn enospc() -> StorageError {
    StorageError::Io {
        action: "write upload",
        source: std::io::Error::from_raw_os_error(28),
    }
}

#[async_trait]
impl BlobStore for Faulty {
    async fn stat(&self, d: &Digest) -> Result<Option<u64>, StorageError> {
        self.inner.stat(d).await
    }
    async fn read(
        &self,
        d: &Digest,
        r: Option<ByteRange>,
    ) -> Result<(ByteStream, u64), StorageError> {
        self.inner.read(d, r).await
    }
    async fn create_upload(&self, id: &UploadId) -> Result<(), StorageError> {
        self.inner.create_upload(id).await
    }
    async fn append_upload(
        &self,
        id: &UploadId,
        cursor: &UploadCursor,
        mut body: ByteStream,
        last: bool,
    ) -> Result<UploadCursor, StorageError> {
        let offset = cursor.size;
        // take what fits; when the quota runs out, fail like a full disk after writing part
        let quota = self.quota.load(Ordering::SeqCst);
        let mut kept = Vec::new();
        let mut full = false;
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(StorageError::Body)?;
            if offset + (kept.len() + chunk.len()) as u64 > quota {
                full = true;
                let room = quota.saturating_sub(offset + kept.len() as u64) as usize;
                kept.extend_from_slice(&chunk[..room.min(chunk.len())]);
                break;
            }
            kept.extend_from_slice(&chunk);
        }
        if full {
            // the real store truncates back to `offset` on any error: write part, then fail
            let partial: ByteStream = Box::pin(futures_util::stream::iter(vec![
                Ok(bytes::Bytes::from(kept)),
                Err(std::io::Error::from_raw_os_error(28)),
            ]));
            return match self.inner.append_upload(id, cursor, partial, last).await {
                Err(_) => Err(enospc()),
                Ok(_) => Err(enospc()),
            };
        }
        let whole: ByteStream = Box::pin(futures_util::stream::iter(vec![Ok(bytes::Bytes::from(
            kept,
        ))]));
        self.inner.append_upload(id, cursor, whole, last).await
    }
    async fn read_upload(
        &self,
        id: &UploadId,
        cursor: &UploadCursor,
    ) -> Result<ByteStream, StorageError> {
        self.inner.read_upload(id, cursor).await
    }
    async fn commit_upload(
        &self,
        id: &UploadId,
        cursor: &UploadCursor,
        d: &Digest,
    ) -> Result<u64, StorageError> {
        if self.fail_commit.load(Ordering::SeqCst) {
            return Err(StorageError::Io {
                action: "move upload into place",
                source: std::io::Error::from_raw_os_error(5),
            });
        }
        self.inner.commit_upload(id, cursor, d).await
    }
    async fn delete_upload(&self, id: &UploadId, state: Option<&str>) -> Result<(), StorageError> {
        self.inner.delete_upload(id, state).await
    }
    async fn delete(&self, d: &Digest) -> Result<(), StorageError> {
        self.inner.delete(d).await
    }
    async fn list(&self) -> Result<Vec<(Digest, std::time::SystemTime)>, StorageError> {
        self.inner.list().await
    }
    async fn list_uploads(&self) -> Result<Vec<(UploadId, std::time::SystemTime)>, StorageError> {
        self.inner.list_uploads().await
    }
}

async fn start(dir: &std::path::Path) -> (String, Arc<Faulty>) {
    let config = wharf_registry::Config {
        data_dir: dir.to_path_buf(),
        gc_interval: std::time::Duration::ZERO,
        ..Default::default()
    };
    let store = Arc::new(
        wharf_registry::store::SqliteStore::open(&dir.join("metadata.db"))
            .await
            .unwrap(),
    );
    let blobs = Arc::new(Faulty {
        inner: FsBlobStore::open(dir).await.unwrap(),
        quota: AtomicU64::new(u64::MAX),
        fail_commit: AtomicBool::new(false),
    });
    let registry = wharf_registry::service::Registry::new(
        store,
        blobs.clone(),
        config.limits.clone(),
        config.gc.clone(),
    );
    let state = Arc::new(wharf_registry::AppState {
        registry,
        config,
        metrics: Default::default(),
        limiter: Default::default(),
        auth: None,
    });
    let base = crate::harness::serve(state).await;
    (base, blobs)
}

#[tokio::test(flavor = "multi_thread")]
async fn disk_full_and_io_errors_fail_one_request_and_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (base, faulty) = start(dir.path()).await;
    let http = reqwest::Client::new();
    let kept = b"an earlier blob".to_vec();
    let r = http
        .post(format!(
            "{base}/v2/f/blobs/uploads/?digest={}",
            digest(&kept)
        ))
        .body(kept.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);

    // a chunked upload whose second chunk hits a full disk
    faulty.quota.store(1000, Ordering::SeqCst);
    let post = http
        .post(format!("{base}/v2/f/blobs/uploads/"))
        .send()
        .await
        .unwrap();
    let loc = post.headers()["location"].to_str().unwrap().to_owned();
    let r = http
        .patch(format!("{base}{loc}"))
        .body(vec![1u8; 600])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let r = http
        .patch(format!("{base}{loc}"))
        .body(vec![2u8; 600])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(
        body["errors"][0]["message"], "internal server error",
        "no internals leak: {body}"
    );
    // the session is where it was before the failed chunk, and can go on once there is room
    let status = http.get(format!("{base}{loc}")).send().await.unwrap();
    assert_eq!(status.headers()["range"], "0-599");
    faulty.quota.store(u64::MAX, Ordering::SeqCst);
    let r = http
        .patch(format!("{base}{loc}"))
        .header("content-range", "600-1199")
        .body(vec![2u8; 600])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let mut whole = vec![1u8; 600];
    whole.extend(vec![2u8; 600]);

    // the commit fails with EIO: 500, and the blob is not visible
    faulty.fail_commit.store(true, Ordering::SeqCst);
    let r = http
        .put(format!("{base}{loc}?digest={}", digest(&whole)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let head = http
        .head(format!("{base}/v2/f/blobs/{}", digest(&whole)))
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), StatusCode::NOT_FOUND);
    // once the disk recovers the same session completes
    faulty.fail_commit.store(false, Ordering::SeqCst);
    let r = http
        .put(format!("{base}{loc}?digest={}", digest(&whole)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let got = http
        .get(format!("{base}/v2/f/blobs/{}", digest(&whole)))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(got.as_ref(), whole.as_slice());

    // a monolithic upload into a full disk: 500, nothing stored, other content intact
    faulty.quota.store(10, Ordering::SeqCst);
    let big = vec![9u8; 100];
    let r = http
        .post(format!(
            "{base}/v2/f/blobs/uploads/?digest={}",
            digest(&big)
        ))
        .body(big.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        http.head(format!("{base}/v2/f/blobs/{}", digest(&big)))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NOT_FOUND
    );
    let earlier = http
        .get(format!("{base}/v2/f/blobs/{}", digest(&kept)))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(earlier.as_ref(), kept.as_slice());
    assert_eq!(
        http.get(format!("{base}/readyz"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn oversized_headers_are_refused_and_the_server_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let (base, _) = start(dir.path()).await;
    let http = reqwest::Client::new();
    // over our limit: 431 with an error body
    let r = http
        .get(format!("{base}/v2/"))
        .header("x-padding", "a".repeat(100 * 1024))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    // far over what the HTTP layer buffers: refused before it reaches us, without harm
    match http
        .get(format!("{base}/v2/"))
        .header("x-padding", "a".repeat(4 * 1024 * 1024))
        .send()
        .await
    {
        Ok(resp) => assert!(resp.status().is_client_error(), "got {}", resp.status()),
        Err(e) => eprintln!("connection refused the 4 MiB header: {e}"),
    }
    assert_eq!(
        http.get(format!("{base}/v2/"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn slow_clients_are_cut_off_without_harm() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dir = tempfile::tempdir().unwrap();
    let config = wharf_registry::Config {
        data_dir: dir.path().to_path_buf(),
        gc_interval: std::time::Duration::ZERO,
        header_read_timeout: std::time::Duration::from_millis(500),
        ..Default::default()
    };
    let state = wharf_registry::open(config).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(wharf_registry::serve(
        listener,
        state,
        std::future::pending(),
    ));
    // twenty clients that never finish their headers
    let mut slow = Vec::new();
    for _ in 0..20 {
        let mut c = tokio::net::TcpStream::connect(addr).await.unwrap();
        c.write_all(b"GET /v2/ HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            .await
            .unwrap();
        slow.push(c);
    }
    // meanwhile the registry serves others
    let ok = reqwest::get(format!("http://{addr}/v2/")).await.unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    // and after the timeout the slow connections are closed
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    for mut c in slow {
        let mut buf = Vec::new();
        let read =
            tokio::time::timeout(std::time::Duration::from_secs(5), c.read_to_end(&mut buf)).await;
        assert!(read.is_ok(), "a slow client's connection is still open");
    }
}
