//! The registry on S3-compatible object storage (a real `s3s-fs`): uploads of every shape,
//! two instances sharing one database and bucket, whole-blob reads redirected to
//! pre-signed URLs (ranges and HEAD served directly), digest mismatches and expired
//! sessions that leave nothing in the bucket.

use reqwest::StatusCode;
use serde_json::json;

use crate::harness::{S3Server, TestApp, digest, error_code};

const BUCKET: &str = "registry";

/// A registry on `server`'s bucket (SQLite metadata in `dir`), with `extra` settings.
async fn on_s3(server: &S3Server, dir: tempfile::TempDir, extra: &str) -> TestApp {
    let url = server.bucket(BUCKET) + "/blobs-here";
    let toml = format!(
        "storage-url = {url:?}\ns3-part-size = 5242880\n{extra}\n{}",
        server.toml()
    );
    TestApp::from_toml(dir, &toml).await
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn blobs_live_in_the_bucket_and_reads_go_to_presigned_urls() {
    let server = S3Server::start();
    let s = on_s3(&server, tempfile::tempdir().unwrap(), "").await;
    let blob: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let d = s.push_blob("team/app", &blob).await;
    let objects = server.objects(BUCKET);
    assert_eq!(objects.len(), 1, "{objects:?}");
    assert!(
        objects[0].starts_with("blobs-here/blobs/sha256/"),
        "{objects:?}"
    );
    assert!(
        !s.data_dir().join("blobs").exists()
            || crate::harness::files_under(&s.data_dir().join("blobs")).is_empty(),
        "nothing on local disk"
    );

    // GET: a redirect to the object store, which serves the bytes
    let url = s.url(&format!("/v2/team/app/blobs/{d}"));
    let r = no_redirects().get(&url).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::TEMPORARY_REDIRECT);
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.starts_with(&server.endpoint), "{location}");
    assert!(location.contains("X-Amz-Signature="), "{location}");
    // followed with the registry's credentials in hand, they do not travel to the store
    // (the store would refuse a request carrying two authorizations)
    let got = s
        .http
        .get(&url)
        .bearer_auth("a-registry-token")
        .send()
        .await
        .unwrap();
    assert_eq!(got.status(), StatusCode::OK);
    assert_eq!(got.bytes().await.unwrap().as_ref(), blob.as_slice());

    // HEAD and ranges stay on the registry
    let head = s.http.head(&url).send().await.unwrap();
    assert_eq!(head.status(), StatusCode::OK);
    assert_eq!(
        head.headers()["content-length"],
        blob.len().to_string().as_str()
    );
    let part = no_redirects()
        .get(&url)
        .header("range", "bytes=1000-1009")
        .send()
        .await
        .unwrap();
    assert_eq!(part.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(part.bytes().await.unwrap().as_ref(), &blob[1000..1010]);

    // a blob of another repository is not redirected to: 404 as always
    let other = no_redirects()
        .get(s.url(&format!("/v2/other/app/blobs/{d}")))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread")]
async fn redirects_can_be_turned_off() {
    let server = S3Server::start();
    let s = on_s3(
        &server,
        tempfile::tempdir().unwrap(),
        "blob-redirect = false",
    )
    .await;
    let d = s.push_blob("a/b", b"served by the registry itself").await;
    let r = no_redirects()
        .get(s.url(&format!("/v2/a/b/blobs/{d}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        r.bytes().await.unwrap().as_ref(),
        b"served by the registry itself"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_chunked_upload_moves_between_instances_and_commits_whole() {
    let server = S3Server::start();
    let dir = tempfile::tempdir().unwrap();
    let shared = dir.path().to_path_buf();
    let a = on_s3(&server, dir, "").await;
    // a second instance on the same metadata database and bucket
    let b = {
        let toml = format!(
            "storage-url = \"s3://{BUCKET}/blobs-here\"\ns3-part-size = 5242880\n{}",
            server.toml()
        );
        let file: wharf_registry::config::FileConfig = toml::from_str(&toml).unwrap();
        let mut config = wharf_registry::Config::resolve(file, Default::default());
        config.data_dir = shared.join("data");
        config.gc_interval = std::time::Duration::ZERO;
        TestApp::start_in(tempfile::tempdir().unwrap(), config).await
    };
    let blob: Vec<u8> = (0..(13 * 1024 * 1024 + 77u32))
        .map(|i| (i * 31 % 253) as u8)
        .collect();
    let post = a
        .http
        .post(a.url("/v2/big/thing/blobs/uploads/"))
        .send()
        .await
        .unwrap();
    assert_eq!(post.status(), StatusCode::ACCEPTED);
    let mut location = post.headers()["location"].to_str().unwrap().to_owned();
    let chunk = 1024 * 1024 + 3;
    for (i, piece) in blob.chunks(chunk).enumerate() {
        let app = if i % 2 == 0 { &a } else { &b };
        let start = i * chunk;
        let r = app
            .http
            .patch(app.url(&location))
            .header(
                "content-range",
                format!("{start}-{}", start + piece.len() - 1),
            )
            .header("content-type", "application/octet-stream")
            .body(piece.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.status(),
            StatusCode::ACCEPTED,
            "chunk {i} on instance {}",
            i % 2
        );
        location = r.headers()["location"].to_str().unwrap().to_owned();
    }
    // a wrong digest first: refused, and the session is gone with everything it wrote
    let wrong = digest(b"not these bytes");
    let sep = if location.contains('?') { '&' } else { '?' };
    let r = b
        .http
        .put(b.url(&format!("{location}{sep}digest={wrong}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_code(r).await, "DIGEST_INVALID");
    assert!(
        server.objects(BUCKET).is_empty(),
        "{:?}",
        server.objects(BUCKET)
    );
    assert_eq!(
        server.open_multiparts(),
        0,
        "the multipart upload was aborted"
    );

    // again, finished on the other instance with the right digest
    let post = b
        .http
        .post(b.url("/v2/big/thing/blobs/uploads/"))
        .send()
        .await
        .unwrap();
    let mut location = post.headers()["location"].to_str().unwrap().to_owned();
    let (head, last) = blob.split_at(9 * 1024 * 1024);
    for (i, piece) in head.chunks(3 * 1024 * 1024).enumerate() {
        let app = if i % 2 == 0 { &b } else { &a };
        let r = app
            .http
            .patch(app.url(&location))
            .body(piece.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::ACCEPTED);
        location = r.headers()["location"].to_str().unwrap().to_owned();
    }
    let d = digest(&blob);
    let r = a
        .http
        .put(a.url(&format!("{location}{sep}digest={d}")))
        .header(
            "content-range",
            format!("{}-{}", head.len(), blob.len() - 1),
        )
        .body(last.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(server.open_multiparts(), 0);
    assert_eq!(
        server.objects(BUCKET).len(),
        1,
        "{:?}",
        server.objects(BUCKET)
    );
    let got = b
        .http
        .get(b.url(&format!("/v2/big/thing/blobs/{d}")))
        .send()
        .await
        .unwrap();
    assert_eq!(got.status(), StatusCode::OK);
    let bytes = got.bytes().await.unwrap();
    assert!(
        bytes.as_ref() == blob.as_slice(),
        "the bytes served are the bytes pushed"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn expired_sessions_abort_their_multipart_uploads() {
    let server = S3Server::start();
    let s = on_s3(
        &server,
        tempfile::tempdir().unwrap(),
        "upload-expiry-secs = 0",
    )
    .await;
    let post = s
        .http
        .post(s.url("/v2/stale/upload/blobs/uploads/"))
        .send()
        .await
        .unwrap();
    let location = post.headers()["location"].to_str().unwrap().to_owned();
    let r = s
        .http
        .patch(s.url(&location))
        .body(vec![7u8; 6 * 1024 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    assert_eq!(server.open_multiparts(), 1);
    assert!(!server.objects(BUCKET).is_empty());
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let settings = s.state.registry.gc_settings().clone();
    let outcome = s
        .state
        .registry
        .collect_garbage(&settings, false)
        .await
        .unwrap();
    assert_eq!(outcome.report.uploads.len(), 1);
    assert_eq!(server.open_multiparts(), 0, "aborted");
    assert!(
        server.objects(BUCKET).is_empty(),
        "{:?}",
        server.objects(BUCKET)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn wasm_packages_are_validated_and_served_from_the_bucket() {
    let server = S3Server::start();
    let s = on_s3(&server, tempfile::tempdir().unwrap(), "").await;
    // the smallest valid core module
    let wasm = b"\0asm\x01\0\0\0".to_vec();
    let config = br#"{"architecture":"wasm","os":"wasip1","layerDigests":[]}"#;
    let cd = s.push_blob("demo/answer", config).await;
    let ld = s.push_blob("demo/answer", &wasm).await;
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.wasm.config.v0+json", "digest": cd, "size": config.len()},
        "layers": [{"mediaType": "application/wasm", "digest": ld, "size": wasm.len()}],
    });
    let r = s
        .put_manifest(
            "demo/answer",
            "1.0.0",
            "application/vnd.oci.image.manifest.v1+json",
            &serde_json::to_vec(&manifest).unwrap(),
        )
        .await;
    assert_eq!(
        r.status(),
        StatusCode::CREATED,
        "{}",
        r.text().await.unwrap()
    );
    let v: serde_json::Value = s
        .http
        .get(s.url("/api/v1/packages/demo/answer@1.0.0"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        v["kind"], "core-module",
        "validated and indexed from the bucket: {v}"
    );
    // and an invalid one is refused
    let garbage = b"\0asm\x01\0\0\0\x05garbage".to_vec();
    let gd = s.push_blob("demo/answer", &garbage).await;
    let bad = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.wasm.config.v0+json", "digest": cd, "size": config.len()},
        "layers": [{"mediaType": "application/wasm", "digest": gd, "size": garbage.len()}],
    });
    let r = s
        .put_manifest(
            "demo/answer",
            "1.0.1",
            "application/vnd.oci.image.manifest.v1+json",
            &serde_json::to_vec(&bad).unwrap(),
        )
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}
