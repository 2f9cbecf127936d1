//! One `BlobStore` suite, run against the filesystem store and the S3 store on a real S3
//! server (`s3s-fs`, which checks signatures). Between requests an upload's cursor goes
//! through its text form and a fresh store instance, as it does through the metadata
//! database between registry instances.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use wharf_oci::Digest;
use wharf_registry::storage::s3::MIN_PART_SIZE;
use wharf_registry::storage::{
    BlobStore, ByteRange, ByteStream, FsBlobStore, S3BlobStore, StorageError, UploadCursor,
    UploadId,
};

use crate::harness::S3Server;

/// A store that can be opened again, as another registry instance would open it.
struct Backend {
    name: &'static str,
    dir: tempfile::TempDir,
    s3: Option<(S3Server, String)>,
}

impl Backend {
    /// A fresh instance of the store.
    async fn open(&self) -> Arc<dyn BlobStore> {
        match &self.s3 {
            None => Arc::new(FsBlobStore::open(self.dir.path()).await.unwrap()),
            Some((server, url)) => {
                Arc::new(S3BlobStore::open(url, &server.settings(), MIN_PART_SIZE).unwrap())
            }
        }
    }
}

async fn backends() -> Vec<Backend> {
    let server = S3Server::start();
    let url = server.bucket("wharf-blobs") + "/a/prefix";
    vec![
        Backend {
            name: "filesystem",
            dir: tempfile::tempdir().unwrap(),
            s3: None,
        },
        Backend {
            name: "s3",
            dir: tempfile::tempdir().unwrap(),
            s3: Some((server, url)),
        },
    ]
}

const BUCKET: &str = "wharf-blobs";

/// Store `content` as a blob through an upload of one request, committed; its digest.
async fn put_blob(store: &dyn BlobStore, content: &[u8]) -> Digest {
    let id = UploadId::new();
    store.create_upload(&id).await.unwrap();
    let cursor = store
        .append_upload(
            &id,
            &UploadCursor::default(),
            body(vec![content.to_vec()]),
            true,
        )
        .await
        .unwrap();
    let digest = Digest::sha256_of(content);
    store.commit_upload(&id, &cursor, &digest).await.unwrap();
    digest
}

fn body(chunks: Vec<Vec<u8>>) -> ByteStream {
    Box::pin(futures_util::stream::iter(
        chunks.into_iter().map(|c| Ok(Bytes::from(c))),
    ))
}

/// `n` bytes that differ from position to position (so a misplaced part shows).
fn data(n: usize, seed: u8) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u32).wrapping_mul(2_654_435_761).to_le_bytes()[1] ^ seed)
        .collect()
}

async fn read_all(mut s: ByteStream) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(c) = s.next().await {
        out.extend_from_slice(&c.unwrap());
    }
    out
}

/// The cursor as the metadata database would give it back.
fn through_text(c: &UploadCursor) -> UploadCursor {
    UploadCursor {
        size: c.size,
        state: c.state.as_deref().map(str::to_owned),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn chunked_uploads_continue_on_another_instance_and_commit() {
    for b in backends().await {
        let id = UploadId::new();
        b.open().await.create_upload(&id).await.unwrap();
        // chunks that end inside, exactly at and across part boundaries (5 MiB parts)
        let mb = 1024 * 1024;
        let chunks = [mb, 3 * mb, mb, 7 * mb + 13, 100, 0, 2 * mb];
        let mut cursor = UploadCursor::default();
        let mut all = Vec::new();
        for (i, n) in chunks.into_iter().enumerate() {
            let chunk = data(n, i as u8);
            all.extend_from_slice(&chunk);
            let store = b.open().await;
            let halves = vec![chunk[..n / 2].to_vec(), chunk[n / 2..].to_vec()];
            cursor = store
                .append_upload(&id, &through_text(&cursor), body(halves), false)
                .await
                .unwrap_or_else(|e| panic!("{}: chunk {i}: {e:?}", b.name));
            assert_eq!(cursor.size, all.len() as u64, "{}", b.name);
        }
        let digest = Digest::sha256_of(&all);
        let store = b.open().await;
        assert_eq!(
            store.commit_upload(&id, &cursor, &digest).await.unwrap(),
            all.len() as u64,
            "{}",
            b.name
        );
        assert_eq!(store.stat(&digest).await.unwrap(), Some(all.len() as u64));
        let (stream, len) = store.read(&digest, None).await.unwrap();
        assert_eq!(len, all.len() as u64);
        assert!(read_all(stream).await == all, "{}: bytes differ", b.name);
        let range = ByteRange {
            start: 5 * mb as u64 - 3,
            end: 5 * mb as u64 + 2,
        };
        let (stream, len) = store.read(&digest, Some(range)).await.unwrap();
        assert_eq!(len, 6);
        assert_eq!(
            read_all(stream).await,
            all[5 * mb - 3..5 * mb + 3],
            "{}",
            b.name
        );
        assert!(
            store
                .list()
                .await
                .unwrap()
                .iter()
                .any(|(d, _)| *d == digest),
            "{}",
            b.name
        );
        assert!(
            store.list_uploads().await.unwrap().is_empty(),
            "{}: a committed upload leaves nothing behind",
            b.name
        );
        if let Some((server, _)) = &b.s3 {
            let bucket = BUCKET;
            assert_eq!(
                server.objects(bucket),
                [format!(
                    "a/prefix/blobs/sha256/{}/{}",
                    &digest.encoded()[..2],
                    digest.encoded()
                )],
                "only the blob remains in the bucket"
            );
            assert_eq!(server.open_multiparts(), 0);
        }
        store.delete(&digest).await.unwrap();
        assert_eq!(store.stat(&digest).await.unwrap(), None);
        assert!(matches!(
            store.read(&digest, None).await.map(|_| ()),
            Err(StorageError::NotFound(_))
        ));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_body_leaves_the_upload_where_the_session_says() {
    for b in backends().await {
        let store = b.open().await;
        let id = UploadId::new();
        store.create_upload(&id).await.unwrap();
        let first = data(6 * 1024 * 1024, 1);
        let cursor = store
            .append_upload(
                &id,
                &UploadCursor::default(),
                body(vec![first.clone()]),
                false,
            )
            .await
            .unwrap();
        // a body that breaks after a whole part and more
        let second = data(6 * 1024 * 1024, 2);
        let broken: ByteStream = Box::pin(futures_util::stream::iter(vec![
            Ok(Bytes::from(second[..5 * 1024 * 1024 + 10].to_vec())),
            Err(std::io::Error::other("client went away")),
        ]));
        let e = store
            .append_upload(&id, &cursor, broken, false)
            .await
            .unwrap_err();
        assert!(matches!(e, StorageError::Body(_)), "{}: {e:?}", b.name);
        // the client sends the chunk again from the recorded cursor
        let cursor = store
            .append_upload(&id, &cursor, body(vec![second.clone()]), true)
            .await
            .unwrap();
        let all = [first, second].concat();
        let digest = Digest::sha256_of(&all);
        store.commit_upload(&id, &cursor, &digest).await.unwrap();
        let (stream, _) = store.read(&digest, None).await.unwrap();
        assert!(read_all(stream).await == all, "{}", b.name);
        if let Some((server, _)) = &b.s3 {
            assert_eq!(
                server.open_multiparts(),
                0,
                "no multipart upload is left open"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn small_and_empty_uploads_in_one_request() {
    for b in backends().await {
        let store = b.open().await;
        for content in [b"".to_vec(), b"a small blob".to_vec()] {
            let id = UploadId::new();
            store.create_upload(&id).await.unwrap();
            let cursor = store
                .append_upload(
                    &id,
                    &UploadCursor::default(),
                    body(vec![content.clone()]),
                    true,
                )
                .await
                .unwrap();
            // without a running hash the upload can be read back to hash it
            let read = read_all(store.read_upload(&id, &cursor).await.unwrap()).await;
            assert_eq!(read, content, "{}", b.name);
            let digest = Digest::sha256_of(&content);
            assert_eq!(
                store.commit_upload(&id, &cursor, &digest).await.unwrap(),
                content.len() as u64
            );
            // committing the same content again (another upload) is idempotent
            let again = UploadId::new();
            store.create_upload(&again).await.unwrap();
            let cursor = store
                .append_upload(
                    &again,
                    &UploadCursor::default(),
                    body(vec![content.clone()]),
                    false,
                )
                .await
                .unwrap();
            store.commit_upload(&again, &cursor, &digest).await.unwrap();
            let (stream, len) = store.read(&digest, None).await.unwrap();
            assert_eq!(len, content.len() as u64);
            assert_eq!(read_all(stream).await, content, "{}", b.name);
        }
        assert!(store.list_uploads().await.unwrap().is_empty(), "{}", b.name);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_deleted_upload_leaves_nothing_behind() {
    for b in backends().await {
        let store = b.open().await;
        let id = UploadId::new();
        store.create_upload(&id).await.unwrap();
        let cursor = store
            .append_upload(
                &id,
                &UploadCursor::default(),
                body(vec![data(5 * 1024 * 1024 + 7, 3)]),
                false,
            )
            .await
            .unwrap();
        if let Some((server, _)) = &b.s3 {
            assert_eq!(server.open_multiparts(), 1, "a whole part started one");
        }
        assert_eq!(store.list_uploads().await.unwrap().len(), 1, "{}", b.name);
        store
            .delete_upload(&id, cursor.state.as_deref())
            .await
            .unwrap();
        assert!(store.list_uploads().await.unwrap().is_empty(), "{}", b.name);
        if let Some((server, _)) = &b.s3 {
            let bucket = BUCKET;
            assert_eq!(
                server.open_multiparts(),
                0,
                "the multipart upload is aborted"
            );
            assert!(
                server.objects(bucket).is_empty(),
                "{:?}",
                server.objects(bucket)
            );
        }
        // deleting what is not there is fine
        store.delete_upload(&id, None).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn reads_are_presigned_only_where_the_store_can_sign_them() {
    for b in backends().await {
        let store = b.open().await;
        let content = b"served from object storage".to_vec();
        let digest = put_blob(store.as_ref(), &content).await;
        let url = store
            .presigned_read(&digest, Duration::from_secs(2))
            .await
            .unwrap();
        let Some(url) = url else {
            assert_eq!(b.name, "filesystem");
            continue;
        };
        let http = reqwest::Client::new();
        let got = http.get(&url).send().await.unwrap();
        assert_eq!(got.status(), 200, "{url}");
        assert_eq!(got.bytes().await.unwrap().as_ref(), content.as_slice());
        // the signature covers the key: another blob's key with it is refused
        let other = url.replace(&digest.encoded()[..8], "00000000");
        assert_eq!(
            http.get(&other).send().await.unwrap().status(),
            403,
            "{other}"
        );
        // and it expires
        tokio::time::sleep(Duration::from_millis(3100)).await;
        assert_eq!(
            http.get(&url).send().await.unwrap().status(),
            403,
            "expired"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_s3_server_really_checks_signatures() {
    let server = S3Server::start();
    let url = server.bucket(BUCKET);
    let mut wrong = server.settings();
    wrong.secret_access_key = Some("not-the-secret".to_owned().into());
    let store = S3BlobStore::open(&url, &wrong, MIN_PART_SIZE).unwrap();
    let e = store.check_ready().await.unwrap_err();
    assert!(
        format!("{e:?}").contains("403") || format!("{e:?}").to_lowercase().contains("signature"),
        "{e:?}"
    );
    let right = S3BlobStore::open(&url, &server.settings(), MIN_PART_SIZE).unwrap();
    right.check_ready().await.unwrap();
}

/// A blob file replaced by a commit is set aside (so freeing its blocks is off the
/// request's time) and removed a second later; one left by a process that stopped in
/// between is removed when the directory store is opened again. The blob stays readable.
#[tokio::test(flavor = "multi_thread")]
async fn a_replaced_blob_file_set_aside_is_removed() {
    let dir = tempfile::tempdir().unwrap();
    let store = FsBlobStore::open(dir.path()).await.unwrap();
    let content = b"pushed twice".repeat(100);
    let digest = put_blob(&store, &content).await;
    assert_eq!(put_blob(&store, &content).await, digest);
    let replaced = dir.path().join("replaced");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while std::fs::read_dir(&replaced).unwrap().next().is_some()
        && std::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        std::fs::read_dir(&replaced).unwrap().next().is_none(),
        "the replaced file is removed"
    );
    // a leftover from a stopped process
    std::fs::write(replaced.join(UploadId::new().as_str()), b"old").unwrap();
    let store = FsBlobStore::open(dir.path()).await.unwrap();
    assert!(std::fs::read_dir(&replaced).unwrap().next().is_none());
    let (stream, len) = store.read(&digest, None).await.unwrap();
    assert_eq!(len, content.len() as u64);
    assert_eq!(read_all(stream).await, content);
}
