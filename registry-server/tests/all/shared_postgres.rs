//! Two `wharf-registry` processes sharing one PostgreSQL database and one blob directory
//! serve the same content: a chunked upload started on one is finished on the other.
//! Needs `WHARF_TEST_POSTGRES_URL` (set by `.ci/run`); without it the test says so and
//! checks nothing.

use crate::harness::{RegistryProcess, digest, fresh_database, postgres_url};

use reqwest::StatusCode;
use serde_json::json;

fn start(data_dir: &std::path::Path, database_url: &str) -> (RegistryProcess, String) {
    let p = RegistryProcess::start(data_dir, &["--database-url", database_url]);
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
}
