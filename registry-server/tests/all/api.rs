//! The OCI Distribution API of wharf-registry, driven over real HTTP.

use crate::harness::{TestApp, digest, error_code as code, files_under as walk};

use reqwest::StatusCode;
use serde_json::{Value, json};

async fn start() -> TestApp {
    TestApp::start().await
}

async fn start_with(configure: impl FnOnce(&mut wharf_registry::Config)) -> TestApp {
    TestApp::start_with(configure).await
}

impl TestApp {
    /// `PUT` the manifest `body` (JSON) as `media_type`.
    async fn put_json(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        body: &Value,
    ) -> reqwest::Response {
        self.put_manifest(
            repo,
            reference,
            media_type,
            &serde_json::to_vec(body).unwrap(),
        )
        .await
    }

    fn upload_files(&self) -> usize {
        std::fs::read_dir(self.dir.path().join("uploads"))
            .map(|d| d.count())
            .unwrap_or(0)
    }
}

fn image_manifest(config: &str, config_size: usize, layers: &[(&str, usize, &str)]) -> Value {
    json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": { "mediaType": "application/vnd.oci.image.config.v1+json", "digest": config, "size": config_size },
        "layers": layers.iter().map(|(d, s, mt)| json!({ "mediaType": mt, "digest": d, "size": s })).collect::<Vec<_>>(),
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn base_endpoint_and_discovery_document() {
    let s = start().await;
    let resp = s.http.get(s.url("/v2/")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        resp.headers()["docker-distribution-api-version"],
        "registry/2.0"
    );
    let meta: Value = s
        .http
        .get(s.url("/.well-known/wasm-pkg/registry.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(meta["preferredProtocol"], "oci");
    assert_eq!(
        meta["oci"]["registry"].as_str().unwrap(),
        s.base.trim_start_matches("http://")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn monolithic_upload_then_head_get_and_ranges() {
    let s = start().await;
    let bytes = b"0123456789abcdef".to_vec();
    let d = s.push_blob("lib/a", &bytes).await;
    let head = s
        .http
        .head(s.url(&format!("/v2/lib/a/blobs/{d}")))
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), StatusCode::OK);
    assert_eq!(head.headers()["content-length"], "16");
    assert_eq!(head.headers()["docker-content-digest"], d.as_str());
    let get = s
        .http
        .get(s.url(&format!("/v2/lib/a/blobs/{d}")))
        .send()
        .await
        .unwrap();
    assert_eq!(get.bytes().await.unwrap().as_ref(), bytes.as_slice());
    let part = s
        .http
        .get(s.url(&format!("/v2/lib/a/blobs/{d}")))
        .header("range", "bytes=4-7")
        .send()
        .await
        .unwrap();
    assert_eq!(part.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(part.headers()["content-range"], "bytes 4-7/16");
    assert_eq!(part.bytes().await.unwrap().as_ref(), b"4567");
    let tail = s
        .http
        .get(s.url(&format!("/v2/lib/a/blobs/{d}")))
        .header("range", "bytes=10-")
        .send()
        .await
        .unwrap();
    assert_eq!(tail.bytes().await.unwrap().as_ref(), b"abcdef");
    // RFC 9110 §14.1.2: a last position past the end means the rest
    let past = s
        .http
        .get(s.url(&format!("/v2/lib/a/blobs/{d}")))
        .header("range", "bytes=10-99")
        .send()
        .await
        .unwrap();
    assert_eq!(past.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(past.headers()["content-range"], "bytes 10-15/16");
    assert_eq!(past.bytes().await.unwrap().as_ref(), b"abcdef");
    // a suffix range is the last bytes
    let suffix = s
        .http
        .get(s.url(&format!("/v2/lib/a/blobs/{d}")))
        .header("range", "bytes=-3")
        .send()
        .await
        .unwrap();
    assert_eq!(suffix.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(suffix.headers()["content-range"], "bytes 13-15/16");
    assert_eq!(suffix.bytes().await.unwrap().as_ref(), b"def");
    // a first position at or past the end is not satisfiable, and says the size
    let bad = s
        .http
        .get(s.url(&format!("/v2/lib/a/blobs/{d}")))
        .header("range", "bytes=16-20")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(bad.headers()["content-range"], "bytes */16");
    let body: serde_json::Value = bad.json().await.unwrap();
    assert_eq!(body["errors"][0]["code"], "RANGE_INVALID");
    // the blob is not visible from another repository
    let other = s
        .http
        .get(s.url(&format!("/v2/lib/b/blobs/{d}")))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), StatusCode::NOT_FOUND);
    assert_eq!(code(other).await, "BLOB_UNKNOWN");
    // an empty blob is a blob too
    let empty = s.push_blob("lib/a", b"").await;
    let head = s
        .http
        .head(s.url(&format!("/v2/lib/a/blobs/{empty}")))
        .send()
        .await
        .unwrap();
    assert_eq!(head.headers()["content-length"], "0");
}

#[tokio::test(flavor = "multi_thread")]
async fn chunked_upload_with_status_and_out_of_order_chunks() {
    let s = start().await;
    let post = s
        .http
        .post(s.url("/v2/chunky/blobs/uploads/"))
        .send()
        .await
        .unwrap();
    assert_eq!(post.status(), StatusCode::ACCEPTED);
    let loc = post.headers()["location"].to_str().unwrap().to_owned();
    assert!(post.headers().contains_key("docker-upload-uuid"));
    let patch = s
        .http
        .patch(s.url(&loc))
        .header("content-range", "0-4")
        .body("hello")
        .send()
        .await
        .unwrap();
    assert_eq!(patch.status(), StatusCode::ACCEPTED);
    assert_eq!(patch.headers()["range"], "0-4");
    let status = s.http.get(s.url(&loc)).send().await.unwrap();
    assert_eq!(status.status(), StatusCode::NO_CONTENT);
    assert_eq!(status.headers()["range"], "0-4");
    assert!(status.headers().contains_key("location"));
    // a repeated chunk and a gap are both refused, and leave the session as it was
    for range in ["0-4", "7-9"] {
        let r = s
            .http
            .patch(s.url(&loc))
            .header("content-range", range)
            .body("xxxxx")
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.status(),
            StatusCode::RANGE_NOT_SATISFIABLE,
            "chunk {range}"
        );
        assert_eq!(r.headers()["range"], "0-4");
    }
    let patch = s
        .http
        .patch(s.url(&loc))
        .header("content-range", "5-10")
        .body(" world")
        .send()
        .await
        .unwrap();
    assert_eq!(patch.headers()["range"], "0-10");
    let d = digest(b"hello world");
    let put = s
        .http
        .put(s.url(&format!("{loc}?digest={d}")))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), StatusCode::CREATED);
    assert_eq!(
        put.headers()["location"],
        format!("/v2/chunky/blobs/{d}").as_str()
    );
    let body = s
        .http
        .get(s.url(&format!("/v2/chunky/blobs/{d}")))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(body.as_ref(), b"hello world");
    assert_eq!(
        s.upload_files(),
        0,
        "the finished upload left no file behind"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_digest_stores_nothing() {
    let s = start().await;
    let wrong = digest(b"something else");
    let resp = s
        .http
        .post(s.url(&format!("/v2/w/blobs/uploads/?digest={wrong}")))
        .body("actual bytes")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_eq!(code(resp).await, "DIGEST_INVALID");
    for d in [wrong, digest(b"actual bytes")] {
        let head = s
            .http
            .head(s.url(&format!("/v2/w/blobs/{d}")))
            .send()
            .await
            .unwrap();
        assert_eq!(head.status(), StatusCode::NOT_FOUND);
    }
    assert_eq!(s.upload_files(), 0);
    let blobs: Vec<_> = walk(&s.dir.path().join("blobs"));
    assert!(blobs.is_empty(), "no blob file may exist: {blobs:?}");
    // a malformed digest is a 400, not a 500
    let resp = s
        .http
        .post(s.url("/v2/w/blobs/uploads/?digest=sha256:xyz"))
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_eq!(code(resp).await, "DIGEST_INVALID");
}

/// A GET with the path exactly as given.
async fn raw_get(base: &str, path: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let host = base.trim_start_matches("http://");
    let mut conn = tokio::net::TcpStream::connect(host).await.unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    conn.write_all(req.as_bytes()).await.unwrap();
    let mut out = String::new();
    conn.read_to_string(&mut out).await.unwrap();
    let status = out
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, out)
}

#[tokio::test(flavor = "multi_thread")]
async fn cancel_and_unknown_sessions() {
    let s = start().await;
    let post = s
        .http
        .post(s.url("/v2/c/blobs/uploads/"))
        .send()
        .await
        .unwrap();
    let loc = post.headers()["location"].to_str().unwrap().to_owned();
    assert_eq!(
        s.http.delete(s.url(&loc)).send().await.unwrap().status(),
        StatusCode::NO_CONTENT
    );
    let status = s.http.get(s.url(&loc)).send().await.unwrap();
    assert_eq!(status.status(), StatusCode::NOT_FOUND);
    assert_eq!(code(status).await, "BLOB_UPLOAD_UNKNOWN");
    let bogus = s
        .http
        .patch(s.url("/v2/c/blobs/uploads/not-a-uuid"))
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(bogus.status(), StatusCode::NOT_FOUND);
    assert_eq!(s.upload_files(), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn cross_repository_mount() {
    let s = start().await;
    let d = s.push_blob("src/repo", b"shared layer").await;
    let mounted = s
        .http
        .post(s.url(&format!(
            "/v2/dst/repo/blobs/uploads/?mount={d}&from=src/repo"
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(mounted.status(), StatusCode::CREATED);
    assert_eq!(
        s.http
            .head(s.url(&format!("/v2/dst/repo/blobs/{d}")))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    let missing = digest(b"nobody has this");
    let fallback = s
        .http
        .post(s.url(&format!(
            "/v2/dst/repo/blobs/uploads/?mount={missing}&from=src/repo"
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(
        fallback.status(),
        StatusCode::ACCEPTED,
        "an unknown mount opens a normal session"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn manifests_push_pull_and_validation() {
    let s = start().await;
    let config = b"{}";
    let cd = s.push_blob("app", config).await;
    let ld = s.push_blob("app", b"layer").await;
    let m = image_manifest(
        &cd,
        2,
        &[(&ld, 5, "application/vnd.oci.image.layer.v1.tar")],
    );
    let mt = "application/vnd.oci.image.manifest.v1+json";
    let put = s.put_json("app", "v1", mt, &m).await;
    assert_eq!(put.status(), StatusCode::CREATED);
    let md = put.headers()["docker-content-digest"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(md, digest(&serde_json::to_vec(&m).unwrap()));
    assert_eq!(
        put.headers()["location"],
        format!("/v2/app/manifests/{md}").as_str()
    );
    for reference in ["v1", md.as_str()] {
        let get = s
            .http
            .get(s.url(&format!("/v2/app/manifests/{reference}")))
            .send()
            .await
            .unwrap();
        assert_eq!(get.status(), StatusCode::OK);
        assert_eq!(get.headers()["content-type"], mt);
        assert_eq!(get.headers()["docker-content-digest"], md.as_str());
        let body: Value = get.json().await.unwrap();
        assert_eq!(body, m);
        let head = s
            .http
            .head(s.url(&format!("/v2/app/manifests/{reference}")))
            .send()
            .await
            .unwrap();
        assert_eq!(head.status(), StatusCode::OK);
    }
    // a blob the repository lacks
    let m2 = image_manifest(
        &cd,
        2,
        &[(
            &digest(b"missing"),
            7,
            "application/vnd.oci.image.layer.v1.tar",
        )],
    );
    let r = s.put_json("app", "v2", mt, &m2).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(code(r).await, "MANIFEST_BLOB_UNKNOWN");
    // not JSON
    let r = s
        .http
        .put(s.url("/v2/app/manifests/v3"))
        .header("content-type", mt)
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(code(r).await, "MANIFEST_INVALID");
    // pushed by a digest it does not have
    let r = s.put_json("app", &digest(b"other"), mt, &m).await;
    assert_eq!(code(r).await, "DIGEST_INVALID");
    // malformed digest reference, unknown tag, unknown repository
    let r = s
        .http
        .get(s.url("/v2/app/manifests/sha256:1234"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = s
        .http
        .get(s.url("/v2/app/manifests/nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(code(r).await, "MANIFEST_UNKNOWN");
    let r = s
        .http
        .get(s.url("/v2/nobody/tags/list"))
        .send()
        .await
        .unwrap();
    assert_eq!(code(r).await, "NAME_UNKNOWN");
    // a referrer is answered with OCI-Subject
    let mut sig = image_manifest(&cd, 2, &[(&ld, 5, "application/octet-stream")]);
    sig["subject"] =
        json!({ "mediaType": mt, "digest": md, "size": serde_json::to_vec(&m).unwrap().len() });
    let r = s
        .put_json("app", &digest(&serde_json::to_vec(&sig).unwrap()), mt, &sig)
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(r.headers()["oci-subject"], md.as_str());
}

#[tokio::test(flavor = "multi_thread")]
async fn invalid_wasm_layer_is_refused() {
    let s = start().await;
    let config = br#"{"architecture":"wasm","os":"wasip2","layerDigests":[]}"#;
    let cd = s.push_blob("w/bad", config).await;
    let garbage = b"\0asm\x01\0\0\0\x05garbage".to_vec();
    let ld = s.push_blob("w/bad", &garbage).await;
    let mut m = image_manifest(
        &cd,
        config.len(),
        &[(&ld, garbage.len(), "application/wasm")],
    );
    m["config"]["mediaType"] = json!("application/vnd.wasm.config.v0+json");
    let r = s
        .put_json(
            "w/bad",
            "1.0.0",
            "application/vnd.oci.image.manifest.v1+json",
            &m,
        )
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["errors"][0]["code"], "MANIFEST_INVALID");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("not valid WebAssembly"),
        "{body}"
    );
    // two wasm layers are refused too
    let mut two = m.clone();
    two["layers"] = json!([m["layers"][0], m["layers"][0]]);
    let r = s
        .put_json(
            "w/bad",
            "1.0.1",
            "application/vnd.oci.image.manifest.v1+json",
            &two,
        )
        .await;
    assert_eq!(code(r).await, "MANIFEST_INVALID");
    // but an app with an image config and several wasm layers (Spin's shape) is stored as is
    let image_config = br#"{"architecture":"wasm","os":"wasip1"}"#;
    let icd = s.push_blob("w/bad", image_config).await;
    let mut spin = two.clone();
    spin["config"] = json!({ "mediaType": "application/vnd.oci.image.config.v1+json", "digest": icd, "size": image_config.len() });
    let r = s
        .put_json(
            "w/bad",
            "spin",
            "application/vnd.oci.image.manifest.v1+json",
            &spin,
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
}

/// A stored blob damaged behind the registry's back (disk corruption, a tampered file) is
/// repaired by pushing its bytes again, to any repository: the verified upload takes its
/// place, and reads give the right bytes again.
#[tokio::test(flavor = "multi_thread")]
async fn a_damaged_blob_is_repaired_by_pushing_it_again() {
    let s = start().await;
    let bytes = b"the blob as it was pushed".repeat(1000);
    let d = s.push_blob("repair/a", &bytes).await;
    let hex = d.trim_start_matches("sha256:");
    let stored = s.data_dir().join("blobs/sha256").join(&hex[..2]).join(hex);
    let mut damaged = bytes.clone();
    damaged[7] ^= 0x20;
    std::fs::write(&stored, &damaged).unwrap();
    s.push_blob("repair/b", &bytes).await;
    assert!(
        std::fs::read(&stored).unwrap() == bytes,
        "the stored blob was repaired"
    );
    for repo in ["repair/a", "repair/b"] {
        let got = s.get_bytes(&format!("/v2/{repo}/blobs/{d}")).await;
        assert!(
            got.as_ref() == bytes.as_slice(),
            "{repo} serves the pushed bytes"
        );
    }
    assert_eq!(s.upload_files(), 0, "no upload file is left behind");
    // the replaced file waits aside for about a second, then is gone
    let replaced = s.data_dir().join("replaced");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !walk(&replaced).is_empty() && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(walk(&replaced).is_empty(), "the replaced file is removed");
}

/// Upload `bytes` to `repo` in `pieces` `PATCH` requests, then `PUT ?digest=` with no body.
async fn push_in_patches(s: &TestApp, repo: &str, bytes: &[u8], pieces: usize) -> String {
    let post = s
        .http
        .post(s.url(&format!("/v2/{repo}/blobs/uploads/")))
        .send()
        .await
        .unwrap();
    let mut loc = post.headers()["location"].to_str().unwrap().to_owned();
    let step = bytes.len().div_ceil(pieces);
    for (i, piece) in bytes.chunks(step).enumerate() {
        let start = i * step;
        let patch = s
            .http
            .patch(s.url(&loc))
            .header(
                "content-range",
                format!("{start}-{}", start + piece.len() - 1),
            )
            .body(piece.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(patch.status(), StatusCode::ACCEPTED);
        loc = patch.headers()["location"].to_str().unwrap().to_owned();
    }
    let d = digest(bytes);
    let put = s
        .http
        .put(s.url(&format!("{loc}?digest={d}")))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), StatusCode::CREATED);
    d
}

/// A Wasm layer that arrives in one request is validated and inspected as it is written
/// (service/early_inspection.rs): its manifest indexes without reading the stored blob,
/// with the same answers as a layer sent in several chunks and read back; a layer whose
/// upload was chunked, or that the inspector found invalid, is read back and judged there.
#[tokio::test(flavor = "multi_thread")]
async fn a_layer_inspected_while_it_uploads_indexes_like_one_read_back() {
    let s = start().await;
    // a component of 2 MiB (a core module with a large data segment) importing one interface
    let data = "d".repeat(2 << 20);
    let component = wat::parse_str(format!(
        r#"(component
             (import "wasi:cli/environment@0.2.0" (instance))
             (core module $m (memory 40) (data (i32.const 0) "{data}"))
             (core instance (instantiate $m)))"#
    ))
    .unwrap();
    let config = br#"{"architecture":"wasm","os":"wasip2","layerDigests":[]}"#;
    let manifest_for = |cd: &str, ld: &str| {
        let mut m = image_manifest(
            cd,
            config.len(),
            &[(ld, component.len(), "application/wasm")],
        );
        m["config"]["mediaType"] = json!("application/vnd.wasm.config.v0+json");
        m
    };
    // sent in three chunks: inspected from the blob store at the manifest PUT
    let cd = s.push_blob("w/chunked", config).await;
    let ld = push_in_patches(&s, "w/chunked", &component, 3).await;
    let r = s
        .put_json(
            "w/chunked",
            "1.0.0",
            "application/vnd.oci.image.manifest.v1+json",
            &manifest_for(&cd, &ld),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    // sent in one PATCH (as wharf push does): inspected on the way; the stored file is then
    // damaged behind the registry's back, and the manifest PUT still indexes it, so it was
    // not read back
    s.push_blob("w/streamed", config).await;
    assert_eq!(push_in_patches(&s, "w/streamed", &component, 1).await, ld);
    let hex = ld.trim_start_matches("sha256:");
    let stored = s.data_dir().join("blobs/sha256").join(&hex[..2]).join(hex);
    let good = std::fs::read(&stored).unwrap();
    std::fs::write(&stored, b"\0asm damaged").unwrap();
    let r = s
        .put_json(
            "w/streamed",
            "1.0.0",
            "application/vnd.oci.image.manifest.v1+json",
            &manifest_for(&cd, &ld),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    std::fs::write(&stored, &good).unwrap();
    let chunked = s.get_json("/api/v1/packages/w/chunked@1.0.0").await;
    let streamed = s.get_json("/api/v1/packages/w/streamed@1.0.0").await;
    for key in ["kind", "target", "imports", "exports", "wit", "size"] {
        assert_eq!(
            chunked[key], streamed[key],
            "{key}: {chunked} vs {streamed}"
        );
    }
    assert_eq!(
        streamed["imports"],
        json!(["wasi:cli/environment@0.2.0"]),
        "{streamed}"
    );
    assert_eq!(streamed["kind"], "component", "{streamed}");
    assert!(
        streamed["wit"]
            .as_str()
            .is_some_and(|w| w.contains("import wasi:cli/environment@0.2.0")),
        "{streamed}"
    );
    // an inspection is used once: a second manifest naming the layer reads it back
    std::fs::write(&stored, b"\0asm damaged").unwrap();
    let r = s
        .put_json(
            "w/streamed",
            "1.0.1",
            "application/vnd.oci.image.manifest.v1+json",
            &manifest_for(&cd, &ld),
        )
        .await;
    assert_eq!(code(r).await, "MANIFEST_INVALID");
    std::fs::write(&stored, &good).unwrap();
    // a binary invalid at its end, sent in one request: refused at the manifest PUT
    let mut bad = component.clone();
    bad.extend_from_slice(b"\x01");
    let bd = push_in_patches(&s, "w/bad-end", &bad, 1).await;
    s.push_blob("w/bad-end", config).await;
    let mut m = manifest_for(&cd, &bd);
    m["layers"][0]["size"] = json!(bad.len());
    let r = s
        .put_json(
            "w/bad-end",
            "1.0.0",
            "application/vnd.oci.image.manifest.v1+json",
            &m,
        )
        .await;
    assert_eq!(code(r).await, "MANIFEST_INVALID");
}

#[tokio::test(flavor = "multi_thread")]
async fn tags_and_catalog_paginate_in_lexical_order() {
    let s = start().await;
    let cd = s.push_blob("p/q", b"{}").await;
    let m = image_manifest(&cd, 2, &[]);
    for tag in ["b", "a", "1.0.0", "Z", "c"] {
        assert_eq!(
            s.put_json("p/q", tag, "application/vnd.oci.image.manifest.v1+json", &m)
                .await
                .status(),
            StatusCode::CREATED
        );
    }
    let all: Value = s
        .http
        .get(s.url("/v2/p/q/tags/list"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        all,
        json!({ "name": "p/q", "tags": ["1.0.0", "Z", "a", "b", "c"] })
    );
    let page = s
        .http
        .get(s.url("/v2/p/q/tags/list?n=2"))
        .send()
        .await
        .unwrap();
    let link = page.headers()["link"].to_str().unwrap().to_owned();
    assert_eq!(link, "</v2/p/q/tags/list?n=2&last=Z>; rel=\"next\"");
    assert_eq!(
        page.json::<Value>().await.unwrap()["tags"],
        json!(["1.0.0", "Z"])
    );
    let next: Value = s
        .http
        .get(s.url("/v2/p/q/tags/list?n=2&last=Z"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(next["tags"], json!(["a", "b"]));
    let last = s
        .http
        .get(s.url("/v2/p/q/tags/list?n=2&last=b"))
        .send()
        .await
        .unwrap();
    assert!(!last.headers().contains_key("link"));
    let bad = s
        .http
        .get(s.url("/v2/p/q/tags/list?n=many"))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    let _ = s.push_blob("empty/repo", b"x").await; // a repository with blobs only is not listed
    let cat: Value = s
        .http
        .get(s.url("/v2/_catalog"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(cat, json!({ "repositories": ["p/q"] }));
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_names_are_400_not_500() {
    let s = start().await;
    for path in [
        "/v2/UPPER/tags/list",
        "/v2/a%2Fb//c/tags/list",
        "/v2/-x/blobs/uploads/",
    ] {
        let r = s.http.get(s.url(path)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{path}");
        assert_eq!(code(r).await, "NAME_INVALID", "{path}");
    }
    // path traversal, sent raw (HTTP clients normalise `..` away)
    for path in [
        "/v2/a/../b/tags/list",
        "/v2/a/%2E%2E/b/tags/list",
        "/v2/../../etc/blobs/uploads/",
    ] {
        let (status, body) = raw_get(&s.base, path).await;
        assert_eq!(status, 400, "{path}: {body}");
        assert!(body.contains("NAME_INVALID"), "{path}: {body}");
    }
    let r = s
        .http
        .get(s.url("/v2/a/nothing-here"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = s
        .http
        .delete(s.url("/v2/a/tags/list"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
    let long = "a".repeat(300);
    let r = s
        .http
        .get(s.url(&format!("/v2/{long}/tags/list")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test(flavor = "multi_thread")]
async fn content_survives_a_restart() {
    let s = start().await;
    let cd = s.push_blob("keep", b"{}").await;
    let m = image_manifest(&cd, 2, &[]);
    assert_eq!(
        s.put_json(
            "keep",
            "v1",
            "application/vnd.oci.image.manifest.v1+json",
            &m
        )
        .await
        .status(),
        StatusCode::CREATED
    );
    let config = wharf_registry::Config {
        data_dir: s.dir.path().to_path_buf(),
        ..Default::default()
    };
    let state = wharf_registry::open(config).await.unwrap();
    let base = crate::harness::serve(state).await;
    let body: Value = s
        .http
        .get(format!("{base}/v2/keep/manifests/v1"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body, m);
    let blob = s
        .http
        .get(format!("{base}/v2/keep/blobs/{cd}"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(blob.as_ref(), b"{}");
}

fn manifest_digest(m: &Value) -> String {
    digest(&serde_json::to_vec(m).unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn referrers_list_filter_and_follow_deletes() {
    let s = start().await;
    let mt = "application/vnd.oci.image.manifest.v1+json";
    let cd = s.push_blob("r", b"{}").await;
    let subject = image_manifest(&cd, 2, &[]);
    let subject_digest = manifest_digest(&subject);
    let subject_desc = json!({ "mediaType": mt, "digest": subject_digest, "size": serde_json::to_vec(&subject).unwrap().len() });
    // a referrer pushed before its subject is listed too
    let mut sig = image_manifest(&cd, 2, &[]);
    sig["artifactType"] = json!("application/vnd.dev.cosign.artifact.sig.v1+json");
    sig["subject"] = subject_desc.clone();
    sig["annotations"] = json!({ "dev.cosignproject.cosign/signature": "MEUC..." });
    let r = s.put_json("r", &manifest_digest(&sig), mt, &sig).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(r.headers()["oci-subject"], subject_digest.as_str());
    assert_eq!(
        s.put_json("r", "v1", mt, &subject).await.status(),
        StatusCode::CREATED
    );
    // an SBOM whose artifact type falls back to its config media type
    let sbom_config = s.push_blob("r", br#"{"sbom":true}"#).await;
    let mut sbom = image_manifest(&sbom_config, 13, &[]);
    sbom["config"]["mediaType"] = json!("application/vnd.cyclonedx+json");
    sbom["subject"] = subject_desc;
    assert_eq!(
        s.put_json("r", &manifest_digest(&sbom), mt, &sbom)
            .await
            .status(),
        StatusCode::CREATED
    );

    let all = s
        .http
        .get(s.url(&format!("/v2/r/referrers/{subject_digest}")))
        .send()
        .await
        .unwrap();
    assert_eq!(all.status(), StatusCode::OK);
    assert_eq!(
        all.headers()["content-type"],
        "application/vnd.oci.image.index.v1+json"
    );
    assert!(!all.headers().contains_key("oci-filters-applied"));
    let index: Value = all.json().await.unwrap();
    assert_eq!(index["schemaVersion"], 2);
    let listed = index["manifests"].as_array().unwrap();
    assert_eq!(listed.len(), 2);
    let sig_entry = listed
        .iter()
        .find(|d| d["digest"] == manifest_digest(&sig).as_str())
        .unwrap();
    assert_eq!(
        sig_entry["artifactType"],
        "application/vnd.dev.cosign.artifact.sig.v1+json"
    );
    assert_eq!(
        sig_entry["annotations"]["dev.cosignproject.cosign/signature"],
        "MEUC..."
    );
    assert_eq!(sig_entry["mediaType"], mt);
    let sbom_entry = listed
        .iter()
        .find(|d| d["digest"] == manifest_digest(&sbom).as_str())
        .unwrap();
    assert_eq!(sbom_entry["artifactType"], "application/vnd.cyclonedx+json");

    let filtered = s
        .http
        .get(s.url(&format!(
            "/v2/r/referrers/{subject_digest}?artifactType=application/vnd.cyclonedx%2Bjson"
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(filtered.headers()["oci-filters-applied"], "artifactType");
    let index: Value = filtered.json().await.unwrap();
    assert_eq!(index["manifests"].as_array().unwrap().len(), 1);
    assert_eq!(
        index["manifests"][0]["digest"],
        manifest_digest(&sbom).as_str()
    );

    // an unknown digest has an empty list
    let none: Value = s
        .http
        .get(s.url(&format!("/v2/r/referrers/{}", digest(b"nothing"))))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(none["manifests"], json!([]));

    // a deleted referrer leaves the list
    let del = s
        .http
        .delete(s.url(&format!("/v2/r/manifests/{}", manifest_digest(&sbom))))
        .send()
        .await
        .unwrap();
    assert_eq!(del.status(), StatusCode::ACCEPTED);
    let index: Value = s
        .http
        .get(s.url(&format!("/v2/r/referrers/{subject_digest}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(index["manifests"].as_array().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn push_by_digest_with_tags_and_deletes() {
    let s = start().await;
    let mt = "application/vnd.oci.image.manifest.v1+json";
    let cd = s.push_blob("d", b"{}").await;
    let ld = s.push_blob("d", b"layer bytes").await;
    let m = image_manifest(&cd, 2, &[(&ld, 11, "application/octet-stream")]);
    let md = manifest_digest(&m);
    let r = s
        .http
        .put(s.url(&format!("/v2/d/manifests/{md}?tag=1.0.0&tag=latest")))
        .header("content-type", mt)
        .body(serde_json::to_vec(&m).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let oci_tags: Vec<&str> = r
        .headers()
        .get_all("oci-tag")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert_eq!(oci_tags, vec!["1.0.0", "latest"]);
    let bad = s
        .http
        .put(s.url(&format!("/v2/d/manifests/{md}?tag=-nope")))
        .header("content-type", mt)
        .body(serde_json::to_vec(&m).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    let tags: Value = s
        .http
        .get(s.url("/v2/d/tags/list"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(tags["tags"], json!(["1.0.0", "latest"]));

    // a blob in use cannot be deleted
    let r = s
        .http
        .delete(s.url(&format!("/v2/d/blobs/{ld}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert_eq!(code(r).await, "DENIED");
    // deleting a tag keeps the manifest
    assert_eq!(
        s.http
            .delete(s.url("/v2/d/manifests/latest"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::ACCEPTED
    );
    assert_eq!(
        s.http
            .get(s.url(&format!("/v2/d/manifests/{md}")))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        s.http
            .get(s.url("/v2/d/manifests/latest"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NOT_FOUND
    );
    // deleting the manifest removes it and its tags
    assert_eq!(
        s.http
            .delete(s.url(&format!("/v2/d/manifests/{md}")))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::ACCEPTED
    );
    let r = s
        .http
        .get(s.url(&format!("/v2/d/manifests/{md}")))
        .send()
        .await
        .unwrap();
    assert_eq!(code(r).await, "MANIFEST_UNKNOWN");
    let tags: Value = s
        .http
        .get(s.url("/v2/d/tags/list"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(tags["tags"], json!([]));
    let again = s
        .http
        .delete(s.url(&format!("/v2/d/manifests/{md}")))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NOT_FOUND);
    // now the blobs can go
    for d in [&ld, &cd] {
        assert_eq!(
            s.http
                .delete(s.url(&format!("/v2/d/blobs/{d}")))
                .send()
                .await
                .unwrap()
                .status(),
            StatusCode::ACCEPTED
        );
        assert_eq!(
            s.http
                .head(s.url(&format!("/v2/d/blobs/{d}")))
                .send()
                .await
                .unwrap()
                .status(),
            StatusCode::NOT_FOUND
        );
    }
    let r = s
        .http
        .delete(s.url(&format!("/v2/d/blobs/{ld}")))
        .send()
        .await
        .unwrap();
    assert_eq!(code(r).await, "BLOB_UNKNOWN");
}

#[tokio::test(flavor = "multi_thread")]
async fn health_and_metrics() {
    let s = start().await;
    assert_eq!(
        s.http.get(s.url("/livez")).send().await.unwrap().status(),
        StatusCode::OK
    );
    assert_eq!(
        s.http.get(s.url("/readyz")).send().await.unwrap().status(),
        StatusCode::OK
    );
    let blob = vec![7u8; 1000];
    let d = s.push_blob("m/x", &blob).await;
    assert_eq!(
        s.http
            .get(s.url(&format!("/v2/m/x/blobs/{d}")))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    let _ = s
        .http
        .get(s.url("/v2/m/x/manifests/nope"))
        .send()
        .await
        .unwrap();
    let resp = s.http.get(s.url("/metrics")).send().await.unwrap();
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = resp.text().await.unwrap();
    for line in [
        "wharf_http_requests_total{method=\"POST\",endpoint=\"upload\",status=\"201\"} 1",
        "wharf_http_requests_total{method=\"GET\",endpoint=\"blob\",status=\"200\"} 1",
        "wharf_http_requests_total{method=\"GET\",endpoint=\"manifest\",status=\"404\"} 1",
        "wharf_storage_blobs 1",
        "wharf_storage_blob_bytes 1000",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing `{line}` in:\n{text}"
        );
    }
    let bytes_in: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("wharf_http_request_bytes_total "))
        .unwrap()
        .parse()
        .unwrap();
    let bytes_out: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("wharf_http_response_bytes_total "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        bytes_in >= 1000 && bytes_out >= 1000,
        "in {bytes_in}, out {bytes_out}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn blob_size_limit_is_enforced_while_streaming() {
    let s = start_with(|c| c.limits.max_blob_bytes = 1000).await;
    let big = vec![1u8; 5000];
    let r = s
        .http
        .post(s.url(&format!("/v2/lim/blobs/uploads/?digest={}", digest(&big))))
        .body(big.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(code(r).await, "SIZE_INVALID");
    // chunked: the chunk that crosses the limit is refused and the session stays usable
    let post = s
        .http
        .post(s.url("/v2/lim/blobs/uploads/"))
        .send()
        .await
        .unwrap();
    let loc = post.headers()["location"].to_str().unwrap().to_owned();
    let ok = s
        .http
        .patch(s.url(&loc))
        .body(vec![2u8; 800])
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::ACCEPTED);
    let over = s
        .http
        .patch(s.url(&loc))
        .body(vec![2u8; 800])
        .send()
        .await
        .unwrap();
    assert_eq!(over.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let status = s.http.get(s.url(&loc)).send().await.unwrap();
    assert_eq!(
        status.headers()["range"],
        "0-799",
        "the refused chunk left nothing behind"
    );
    let small = vec![3u8; 1000];
    assert_eq!(
        s.push_blob("lim", &small).await,
        digest(&small),
        "a blob at the limit is fine"
    );
    assert!(
        walk(&s.dir.path().join("blobs"))
            .iter()
            .all(|p| std::fs::metadata(p).unwrap().len() <= 1000)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn rate_limit_answers_429_with_retry_after() {
    let s = start_with(|c| {
        c.rate_limit_per_second = 2.0;
        c.rate_limit_burst = 5.0;
    })
    .await;
    let mut statuses = Vec::new();
    let mut retry_after = None;
    for _ in 0..12 {
        let r = s.http.get(s.url("/v2/")).send().await.unwrap();
        if r.status() == StatusCode::TOO_MANY_REQUESTS {
            retry_after = Some(r.headers()["retry-after"].to_str().unwrap().to_owned());
            assert_eq!(code(r).await, "TOOMANYREQUESTS");
            statuses.push(429);
        } else {
            statuses.push(r.status().as_u16());
        }
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        5,
        "the burst gets through: {statuses:?}"
    );
    assert!(
        statuses[5..].iter().all(|s| *s == 429),
        "then the bucket is empty: {statuses:?}"
    );
    assert_eq!(retry_after.as_deref(), Some("1"));
    // health is never limited, and the bucket refills
    assert_eq!(
        s.http.get(s.url("/livez")).send().await.unwrap().status(),
        StatusCode::OK
    );
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    assert_eq!(
        s.http.get(s.url("/v2/")).send().await.unwrap().status(),
        StatusCode::OK
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn image_indexes_and_large_manifests_are_stored_unchanged() {
    let s = start().await;
    let mt = "application/vnd.oci.image.manifest.v1+json";
    let cd = s.push_blob("multi", b"{}").await;
    let mut children = Vec::new();
    for arch in ["amd64", "arm64"] {
        let ld = s.push_blob("multi", arch.as_bytes()).await;
        let m = image_manifest(
            &cd,
            2,
            &[(&ld, arch.len(), "application/vnd.oci.image.layer.v1.tar")],
        );
        let bytes = serde_json::to_vec(&m).unwrap();
        assert_eq!(
            s.put_json("multi", &digest(&bytes), mt, &m).await.status(),
            StatusCode::CREATED
        );
        children.push(json!({ "mediaType": mt, "digest": digest(&bytes), "size": bytes.len(), "platform": { "architecture": arch, "os": "linux" } }));
    }
    // an index, sent with spacing a client chose: served byte for byte
    let index = json!({ "schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": children });
    let text = serde_json::to_string_pretty(&index).unwrap();
    let r = s
        .http
        .put(s.url("/v2/multi/manifests/v1"))
        .header("content-type", "application/vnd.oci.image.index.v1+json")
        .body(text.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let got = s
        .http
        .get(s.url("/v2/multi/manifests/v1"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        got.headers()["content-type"],
        "application/vnd.oci.image.index.v1+json"
    );
    assert_eq!(
        got.headers()["docker-content-digest"],
        digest(text.as_bytes()).as_str()
    );
    assert_eq!(got.text().await.unwrap(), text);
    // an index naming a manifest the repository lacks is refused
    let mut bad = index.clone();
    bad["manifests"][0]["digest"] = json!(digest(b"absent"));
    let r = s
        .put_json(
            "multi",
            "v2",
            "application/vnd.oci.image.index.v1+json",
            &bad,
        )
        .await;
    assert_eq!(code(r).await, "MANIFEST_BLOB_UNKNOWN");
    // a manifest just under 4 MiB (annotations padding it out) round-trips
    let mut big = image_manifest(&cd, 2, &[]);
    big["annotations"] = json!({ "padding": "x".repeat(4 * 1024 * 1024 - 4096) });
    let r = s.put_json("multi", "big", mt, &big).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let got: Value = s
        .http
        .get(s.url("/v2/multi/manifests/big"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(got, big);
    // past the limit (4 MiB, the client's limit too): 413
    big["annotations"] = json!({ "padding": "x".repeat(4 * 1024 * 1024 + 1) });
    let r = s.put_json("multi", "huge", mt, &big).await;
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test(flavor = "multi_thread")]
async fn versions_are_immutable_unless_the_prefix_allows_moving_them() {
    let s = start_with(|c| c.limits.mutable_version_prefixes = vec!["dev".into()]).await;
    let mt = "application/vnd.oci.image.manifest.v1+json";
    for repo in ["rel/app", "dev/app"] {
        let cd = s.push_blob(repo, b"{}").await;
        let a = s.push_blob(repo, b"a").await;
        let b = s.push_blob(repo, b"b").await;
        let ma = image_manifest(&cd, 2, &[(&a, 1, "application/octet-stream")]);
        let mb = image_manifest(&cd, 2, &[(&b, 1, "application/octet-stream")]);
        assert_eq!(
            s.put_json(repo, "1.0.0", mt, &ma).await.status(),
            StatusCode::CREATED
        );
        assert_eq!(
            s.put_json(repo, "1.0.0", mt, &ma).await.status(),
            StatusCode::CREATED,
            "the same manifest again is fine"
        );
        let moved = s.put_json(repo, "1.0.0", mt, &mb).await;
        if repo == "rel/app" {
            assert_eq!(moved.status(), StatusCode::CONFLICT);
            assert_eq!(code(moved).await, "DENIED");
            // also through ?tag= on a push by digest
            let r = s
                .http
                .put(s.url(&format!(
                    "/v2/{repo}/manifests/{}?tag=1.0.0",
                    digest(&serde_json::to_vec(&mb).unwrap())
                )))
                .header("content-type", mt)
                .body(serde_json::to_vec(&mb).unwrap())
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::CONFLICT);
        } else {
            assert_eq!(
                moved.status(),
                StatusCode::CREATED,
                "dev/ allows moving versions"
            );
        }
        // plain tags always move
        assert_eq!(
            s.put_json(repo, "latest", mt, &ma).await.status(),
            StatusCode::CREATED
        );
        assert_eq!(
            s.put_json(repo, "latest", mt, &mb).await.status(),
            StatusCode::CREATED
        );
    }
}
