//! A pull-through mirror of a real upstream registry (another `wharf-registry` process):
//! the first pull goes upstream and the second does not, referrers come along, `?ns=`
//! selects the mirror, mirrored repositories take no pushes, a tag moved upstream is seen
//! after the tag TTL, a tampered upstream blob is refused, and with the upstream gone the
//! cached content is still served.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::{RegistryProcess, TestApp, digest, error_code, files_under};

/// An upstream registry process with its data directory.
struct Upstream {
    process: RegistryProcess,
    dir: tempfile::TempDir,
    http: reqwest::Client,
}

impl Upstream {
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let process = RegistryProcess::start(dir.path(), &[]);
        Upstream {
            process,
            dir,
            http: reqwest::Client::new(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.process.addr)
    }

    async fn blob(&self, repo: &str, bytes: &[u8]) -> String {
        let d = digest(bytes);
        let r = self
            .http
            .post(self.url(&format!("/v2/{repo}/blobs/uploads/?digest={d}")))
            .body(bytes.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        d
    }

    /// Push a Wasm package whose layer is `wasm`; returns the manifest bytes.
    async fn package(&self, repo: &str, tag: &str, wasm: &[u8]) -> Vec<u8> {
        let config = br#"{"architecture":"wasm","os":"wasip1","layerDigests":[]}"#;
        let cd = self.blob(repo, config).await;
        let ld = self.blob(repo, wasm).await;
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.wasm.config.v0+json", "digest": cd, "size": config.len()},
            "layers": [{"mediaType": "application/wasm", "digest": ld, "size": wasm.len()}],
        }))
        .unwrap();
        self.put(repo, tag, &manifest).await;
        manifest
    }

    async fn put(&self, repo: &str, reference: &str, manifest: &[u8]) {
        let r = self
            .http
            .put(self.url(&format!("/v2/{repo}/manifests/{reference}")))
            .header("content-type", "application/vnd.oci.image.manifest.v1+json")
            .body(manifest.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.status(),
            StatusCode::CREATED,
            "{}",
            r.text().await.unwrap()
        );
    }

    /// Manifest reads the upstream answered so far (its own `/metrics`).
    async fn manifest_reads(&self) -> u64 {
        let text = self
            .http
            .get(self.url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        text.lines()
            .filter(|l| {
                l.starts_with("wharf_http_requests_total{method=\"GET\",endpoint=\"manifest\"")
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .sum()
    }
}

/// The smallest valid core module, and another one (a custom section) for a second version.
const WASM_A: &[u8] = b"\0asm\x01\0\0\0";
const WASM_B: &[u8] = b"\0asm\x01\0\0\0\0\x02\x01b";

#[tokio::test(flavor = "multi_thread")]
async fn a_mirror_pulls_through_once_and_serves_what_it_has() {
    let up = Upstream::start();
    let upstream_host = up.process.addr.clone();
    let manifest = up.package("webassembly/wasi/http", "0.2.0", WASM_A).await;
    let md = digest(&manifest);
    // a referrer (an SBOM) of that version, pushed by digest
    let empty = up.blob("webassembly/wasi/http", b"{}").await;
    let sbom = up
        .blob("webassembly/wasi/http", br#"{"bomFormat":"CycloneDX"}"#)
        .await;
    let referrer = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "artifactType": "application/vnd.cyclonedx+json",
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": empty, "size": 2},
        "layers": [{"mediaType": "application/vnd.cyclonedx+json", "digest": sbom, "size": 25}],
        "subject": {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md, "size": manifest.len()},
    }))
    .unwrap();
    up.put("webassembly/wasi/http", &digest(&referrer), &referrer)
        .await;
    up.package("webassembly/wasi/http", "latest", WASM_A).await;

    let mirror = TestApp::from_toml(
        tempfile::tempdir().unwrap(),
        &format!(
            "[[mirrors]]\nprefix = \"wasi\"\nupstream = \"{upstream_host}\"\n\
             upstream-prefix = \"webassembly/wasi\"\ntag-ttl-secs = 2\n"
        ),
    )
    .await;

    // the first pull goes upstream
    let before = up.manifest_reads().await;
    let r = mirror
        .http
        .get(mirror.url("/v2/wasi/http/manifests/0.2.0"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["docker-content-digest"], md.as_str());
    assert_eq!(r.bytes().await.unwrap().as_ref(), manifest.as_slice());
    let after_first = up.manifest_reads().await;
    assert!(after_first > before, "the first pull went upstream");
    // its layer and its referrer came along
    let layer = mirror
        .http
        .get(mirror.url(&format!("/v2/wasi/http/blobs/{}", digest(WASM_A))))
        .send()
        .await
        .unwrap();
    assert_eq!(layer.status(), StatusCode::OK);
    assert_eq!(layer.bytes().await.unwrap().as_ref(), WASM_A);
    let referrers: Value = mirror
        .http
        .get(mirror.url(&format!("/v2/wasi/http/referrers/{md}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        referrers["manifests"][0]["digest"],
        digest(&referrer).as_str()
    );
    assert_eq!(
        referrers["manifests"][0]["artifactType"],
        "application/vnd.cyclonedx+json"
    );

    // the second does not
    for path in [
        "/v2/wasi/http/manifests/0.2.0",
        &format!("/v2/wasi/http/manifests/{md}"),
    ] {
        let r = mirror.http.get(mirror.url(path)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
    }
    assert_eq!(up.manifest_reads().await, after_first, "served locally");

    // the distribution-spec proxying convention: `?ns=` names the upstream registry
    let r = mirror
        .http
        .get(mirror.url(&format!(
            "/v2/webassembly/wasi/http/manifests/0.2.0?ns={upstream_host}"
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["oci-namespace"], upstream_host.as_str());
    assert_eq!(r.headers()["docker-content-digest"], md.as_str());
    // an unclaimed namespace is ignored: the name is served as it arrived (nothing here)
    let r = mirror
        .http
        .get(mirror.url("/v2/webassembly/wasi/http/manifests/0.2.0?ns=quay.io"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert!(r.headers().get("oci-namespace").is_none());

    // mirrored repositories take no pushes or deletes
    let push = mirror
        .http
        .post(mirror.url("/v2/wasi/http/blobs/uploads/"))
        .send()
        .await
        .unwrap();
    assert_eq!(push.status(), StatusCode::METHOD_NOT_ALLOWED);
    let message = push.text().await.unwrap();
    assert!(message.contains("read-only"), "{message}");
    let put = mirror
        .put_manifest(
            "wasi/http",
            "9.9.9",
            "application/vnd.oci.image.manifest.v1+json",
            &manifest,
        )
        .await;
    assert_eq!(put.status(), StatusCode::METHOD_NOT_ALLOWED);
    let delete = mirror
        .http
        .delete(mirror.url(&format!("/v2/wasi/http/manifests/{md}")))
        .send()
        .await
        .unwrap();
    assert_eq!(delete.status(), StatusCode::METHOD_NOT_ALLOWED);

    // a tag moved upstream is seen once the tag TTL has passed
    let latest = mirror
        .http
        .get(mirror.url("/v2/wasi/http/manifests/latest"))
        .send()
        .await
        .unwrap();
    assert_eq!(latest.headers()["docker-content-digest"], md.as_str());
    let moved = up.package("webassembly/wasi/http", "latest", WASM_B).await;
    let still = mirror
        .http
        .head(mirror.url("/v2/wasi/http/manifests/latest"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        still.headers()["docker-content-digest"],
        md.as_str(),
        "within the TTL"
    );
    tokio::time::sleep(std::time::Duration::from_millis(2200)).await;
    let now = mirror
        .http
        .get(mirror.url("/v2/wasi/http/manifests/latest"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        now.headers()["docker-content-digest"],
        digest(&moved).as_str()
    );

    // a blob the upstream serves with other bytes than its digest is refused, not kept
    up.package("webassembly/wasi/cli", "0.2.0", WASM_B).await;
    let hex = &digest(WASM_B)[7..];
    let file = up.dir.path().join("blobs/sha256").join(&hex[..2]).join(hex);
    std::fs::write(&file, b"\0asm\x01\0\0\0\0\x02\x01X").unwrap();
    let r = mirror
        .http
        .get(mirror.url("/v2/wasi/cli/manifests/0.2.0"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_GATEWAY);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["errors"][0]["code"], "UPSTREAM_UNAVAILABLE");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("refused"),
        "{body}"
    );
    let kept: Vec<_> = files_under(&mirror.data_dir().join("blobs"))
        .into_iter()
        .filter(|p| p.ends_with(hex))
        .collect();
    // (WASM_B is also the layer of `latest`, mirrored honestly before the tampering)
    assert!(kept.len() <= 1);
    let cli = mirror
        .http
        .head(mirror.url("/v2/wasi/cli/manifests/0.2.0"))
        .send()
        .await
        .unwrap();
    assert_ne!(cli.status(), StatusCode::OK, "nothing was mirrored");

    // the discovery document announces the mirror
    let doc: Value = mirror
        .http
        .get(mirror.url("/.well-known/wasm-pkg/registry.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        doc["wharf"]["mirrors"],
        json!([{ "prefix": "wasi", "upstream": format!("{upstream_host}/webassembly/wasi") }])
    );

    // with the upstream gone, what is cached is still served, also after the TTL
    let mut up = up;
    up.process.kill();
    tokio::time::sleep(std::time::Duration::from_millis(2200)).await;
    let r = mirror
        .http
        .get(mirror.url("/v2/wasi/http/manifests/0.2.0"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.bytes().await.unwrap().as_ref(), manifest.as_slice());
    // and what is not cached says the upstream is unavailable
    let r = mirror
        .http
        .get(mirror.url("/v2/wasi/io/manifests/0.2.0"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_GATEWAY);
    assert_eq!(error_code(r).await, "UPSTREAM_UNAVAILABLE");
}
