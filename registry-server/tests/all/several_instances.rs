//! Several `wharf-registry` processes sharing one PostgreSQL database serve the same
//! content, with blobs in one shared directory or in one S3 bucket (a real `s3s-fs`, and
//! then no shared filesystem at all): a chunked upload started on one is finished on the
//! other, a manifest pushed on one is pulled from the other, and garbage collection on one
//! while pushes go to the other deletes nothing in use. Needs `WHARF_TEST_POSTGRES_URL`
//! (set by `.ci/run`); without it (outside CI) the tests say so and check nothing.

use std::sync::Arc;
use std::time::Duration;

use crate::harness::{RegistryProcess, S3Server, digest, fresh_database, postgres_url};

use reqwest::StatusCode;
use serde_json::json;

fn start(data_dir: &std::path::Path, database_url: &str) -> (RegistryProcess, String) {
    let p = RegistryProcess::start(data_dir, &["--database-url", database_url]);
    let addr = p.addr.clone();
    (p, addr)
}

/// A registry process on PostgreSQL `db` and `server`'s bucket, its own data directory
/// (which holds nothing it shares), with the config file `toml` (may be empty).
fn start_on_s3(
    data_dir: &std::path::Path,
    db: &str,
    server: &S3Server,
    toml: &str,
) -> (RegistryProcess, String) {
    let config = data_dir.join("registry.toml");
    std::fs::create_dir_all(data_dir).unwrap();
    std::fs::write(&config, format!("s3-part-size = 5242880\n{toml}\n")).unwrap();
    let p = RegistryProcess::start_with_env(
        data_dir,
        &[
            "--database-url",
            db,
            "--storage-url",
            "s3://shared/registry",
            "--config",
            config.to_str().unwrap(),
        ],
        &server.env(),
    );
    let addr = p.addr.clone();
    (p, addr)
}

#[tokio::test(flavor = "multi_thread")]
async fn two_processes_share_one_postgres_and_blob_directory() {
    let Some(url) = postgres_url() else {
        eprintln!("WHARF_TEST_POSTGRES_URL is not set: skipping the shared-PostgreSQL test");
        return;
    };
    let db = fresh_database(&url).await;
    let dir = tempfile::tempdir().unwrap();
    let (_a, a) = start(dir.path(), &db);
    let (_b, b) = start(dir.path(), &db);
    one_upload_two_instances(&a, &b).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn two_processes_share_one_postgres_and_one_bucket() {
    let Some(url) = postgres_url() else {
        eprintln!("WHARF_TEST_POSTGRES_URL is not set: skipping the shared-PostgreSQL test");
        return;
    };
    let db = fresh_database(&url).await;
    let server = S3Server::start();
    server.bucket("shared");
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (_a, a) = start_on_s3(dir_a.path(), &db, &server, "");
    let (_b, b) = start_on_s3(dir_b.path(), &db, &server, "");
    one_upload_two_instances(&a, &b).await;
    for dir in [&dir_a, &dir_b] {
        assert!(
            crate::harness::files_under(&dir.path().join("blobs")).is_empty()
                && crate::harness::files_under(&dir.path().join("uploads")).is_empty(),
            "no blob or upload byte on a local disk"
        );
    }
}

/// Garbage collection passes on one instance (the `gc` command, as a cron job would run
/// it) while 20 pushes go to another, on PostgreSQL and S3: every push answered 201 is
/// served whole afterwards, and old garbage does go.
#[tokio::test(flavor = "multi_thread")]
async fn gc_on_one_instance_while_another_takes_pushes() {
    let Some(url) = postgres_url() else {
        eprintln!("WHARF_TEST_POSTGRES_URL is not set: skipping the shared-PostgreSQL test");
        return;
    };
    let db = fresh_database(&url).await;
    let server = S3Server::start();
    server.bucket("shared");
    // a grace period well above two collector passes, even on a loaded machine (each pass
    // starts a process): a blob older than it, unreferenced, may rightly go
    let gc_toml = "gc-grace-secs = 6\nupload-expiry-secs = 3600\ngc-untagged = true";
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (_a, a) = start_on_s3(dir_a.path(), &db, &server, "");
    let (_b, b) = start_on_s3(dir_b.path(), &db, &server, gc_toml);
    let http = reqwest::Client::new();
    // old garbage: blobs no manifest references
    for i in 0..5 {
        let junk = format!("junk {i}").into_bytes();
        let r = http
            .post(format!(
                "http://{a}/v2/gc/junk/blobs/uploads/?digest={}",
                digest(&junk)
            ))
            .body(junk)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
    }
    tokio::time::sleep(Duration::from_millis(6500)).await;
    // the collector: `wharf-registry gc` on B's settings, again and again
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let done = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let passes = {
        let stop = stop.clone();
        let done = done.clone();
        let dir = dir_b.path().to_path_buf();
        let db = db.clone();
        let env = server.env();
        std::thread::spawn(move || {
            let mut passes = 0;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let out = std::process::Command::new(env!("CARGO_BIN_EXE_wharf-registry"))
                    .args(["gc", "--data-dir"])
                    .arg(&dir)
                    .args([
                        "--database-url",
                        &db,
                        "--storage-url",
                        "s3://shared/registry",
                    ])
                    .arg("--config")
                    .arg(dir.join("registry.toml"))
                    .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
                    .env("WHARF_REGISTRY_LOG", "warn")
                    .output()
                    .unwrap();
                assert!(
                    out.status.success(),
                    "{}",
                    String::from_utf8_lossy(&out.stderr)
                );
                passes += 1;
                done.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(200));
            }
            passes
        })
    };
    let pushes = (0..20).map(|i| {
        let http = http.clone();
        let a = a.clone();
        let done = done.clone();
        tokio::spawn(async move {
            let repo = format!("gc/app{}", i % 4);
            let layer: Vec<u8> = (0..(100_000 + i * 1000)).map(|n| (n * 7 + i) as u8).collect();
            let config = format!("{{\"push\":{i}}}").into_bytes();
            for blob in [&layer, &config] {
                let r = http
                    .post(format!("http://{a}/v2/{repo}/blobs/uploads/?digest={}", digest(blob)))
                    .body(blob.clone())
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), StatusCode::CREATED);
            }
            // a whole garbage-collection pass between the blobs and the manifest: the
            // window in which an unreferenced, just-pushed blob must survive
            let before = done.load(std::sync::atomic::Ordering::SeqCst);
            for _ in 0..600 {
                if done.load(std::sync::atomic::Ordering::SeqCst) >= before + 2 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            let manifest = json!({
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": { "mediaType": "application/vnd.oci.image.config.v1+json", "digest": digest(&config), "size": config.len() },
                "layers": [{ "mediaType": "application/octet-stream", "digest": digest(&layer), "size": layer.len() }],
            });
            let tag = format!("v{i}");
            let r = http
                .put(format!("http://{a}/v2/{repo}/manifests/{tag}"))
                .header("content-type", "application/vnd.oci.image.manifest.v1+json")
                .body(serde_json::to_vec(&manifest).unwrap())
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::CREATED, "{}", r.text().await.unwrap());
            (repo, tag, layer)
        })
    });
    let pushed = futures_util::future::join_all(pushes).await;
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let passes = passes.join().unwrap();
    assert!(passes >= 2, "only {passes} garbage-collection passes ran");
    for p in pushed {
        let (repo, tag, layer) = p.unwrap();
        let m = http
            .get(format!("http://{b}/v2/{repo}/manifests/{tag}"))
            .send()
            .await
            .unwrap();
        assert_eq!(m.status(), StatusCode::OK, "{repo}:{tag}");
        let got = http
            .get(format!("http://{b}/v2/{repo}/blobs/{}", digest(&layer)))
            .send()
            .await
            .unwrap();
        assert_eq!(got.status(), StatusCode::OK, "{repo}:{tag} layer");
        assert!(got.bytes().await.unwrap().as_ref() == layer.as_slice());
    }
    let junk = http
        .head(format!("http://{b}/v2/gc/junk/blobs/{}", digest(b"junk 0")))
        .send()
        .await
        .unwrap();
    assert_eq!(junk.status(), StatusCode::NOT_FOUND, "old garbage went");
}

/// A chunked upload started on `a` and finished on `b`; a manifest pushed to `b` served by
/// `a`, with its blobs and tags.
async fn one_upload_two_instances(a: &str, b: &str) {
    let http = reqwest::Client::new();
    let layer: Vec<u8> = (0..300_000u32).map(|n| (n % 251) as u8).collect();

    // start on A, send half
    let post = http
        .post(format!("http://{a}/v2/shared/app/blobs/uploads/"))
        .send()
        .await
        .unwrap();
    assert_eq!(post.status(), StatusCode::ACCEPTED);
    let loc = post.headers()["location"].to_str().unwrap().to_owned();
    let half = layer.len() / 2;
    let r = http
        .patch(format!("http://{a}{loc}"))
        .header("content-range", format!("0-{}", half - 1))
        .body(layer[..half].to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    // B sees the session's progress, takes the rest and finishes it
    let status = http.get(format!("http://{b}{loc}")).send().await.unwrap();
    assert_eq!(status.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        status.headers()["range"],
        format!("0-{}", half - 1).as_str()
    );
    let r = http
        .patch(format!("http://{b}{loc}"))
        .header("content-range", format!("{half}-{}", layer.len() - 1))
        .body(layer[half..].to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let put = http
        .put(format!("http://{b}{loc}?digest={}", digest(&layer)))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), StatusCode::CREATED, "{:?}", put.text().await);

    // a manifest pushed to B is served by A, blobs too
    let config = b"{}".to_vec();
    let c = http
        .post(format!(
            "http://{a}/v2/shared/app/blobs/uploads/?digest={}",
            digest(&config)
        ))
        .body(config.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(c.status(), StatusCode::CREATED);
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": { "mediaType": "application/vnd.oci.image.config.v1+json", "digest": digest(&config), "size": config.len() },
        "layers": [{ "mediaType": "application/octet-stream", "digest": digest(&layer), "size": layer.len() }],
    });
    let m = http
        .put(format!("http://{b}/v2/shared/app/manifests/1.0.0"))
        .header("content-type", "application/vnd.oci.image.manifest.v1+json")
        .body(serde_json::to_vec(&manifest).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(m.status(), StatusCode::CREATED);
    let got: serde_json::Value = http
        .get(format!("http://{a}/v2/shared/app/manifests/1.0.0"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(got, manifest);
    let blob = http
        .get(format!("http://{a}/v2/shared/app/blobs/{}", digest(&layer)))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(blob.as_ref(), layer.as_slice());
    let tags: serde_json::Value = http
        .get(format!("http://{a}/v2/shared/app/tags/list"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(tags["tags"], json!(["1.0.0"]));

    // a tag read (and cached) on A, moved on B: A serves the new manifest once B's change
    // reaches it (a PostgreSQL notification); a delete on B likewise
    let tag_on = |host: &str| format!("http://{host}/v2/shared/app/manifests/latest");
    let push_latest = |body: Vec<u8>| {
        let http = http.clone();
        let url = tag_on(b);
        async move {
            let r = http
                .put(url)
                .header("content-type", "application/vnd.oci.image.manifest.v1+json")
                .body(body)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::CREATED);
        }
    };
    let first = serde_json::to_vec(&manifest).unwrap();
    push_latest(first.clone()).await;
    let served = |host: String| {
        let http = http.clone();
        async move {
            let r = http.get(tag_on(&host)).send().await.unwrap();
            (
                r.status(),
                r.headers()
                    .get("docker-content-digest")
                    .map(|v| v.to_str().unwrap().to_owned()),
            )
        }
    };
    for _ in 0..3 {
        assert_eq!(
            served(a.to_owned()).await,
            (StatusCode::OK, Some(digest(&first)))
        );
    }
    let mut moved = manifest.clone();
    moved["annotations"] = json!({ "moved": "yes" });
    let second = serde_json::to_vec(&moved).unwrap();
    push_latest(second.clone()).await;
    let mut seen = None;
    for _ in 0..40 {
        seen = served(a.to_owned()).await.1;
        if seen.as_deref() == Some(digest(&second).as_str()) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(seen, Some(digest(&second)), "A sees the tag moved on B");
    let deleted = http
        .delete(format!(
            "http://{b}/v2/shared/app/manifests/{}",
            digest(&second)
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::ACCEPTED);
    let mut status = StatusCode::OK;
    for _ in 0..40 {
        status = served(a.to_owned()).await.0;
        if status == StatusCode::NOT_FOUND {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(status, StatusCode::NOT_FOUND, "A sees the delete on B");
}
