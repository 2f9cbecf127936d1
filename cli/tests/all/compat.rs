//! Packages laid out by older tools (wasm-to-oci / Harbor, wasmCloud 1.x) pull and run.

use serde_json::json;

use crate::support::{Registry, Wharf, file_digest, hello_component, s};

/// Push `layer` under `reference` with the given config and layer media types, over plain HTTP.
fn push_raw(addr: &str, repo: &str, tag: &str, config_type: &str, layer_type: &str, layer: &[u8]) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let http = reqwest::Client::new();
        let config = br#"{"created":"2024-01-01T00:00:00Z"}"#.to_vec();
        let mut descs = Vec::new();
        for (bytes, media_type) in [(config.clone(), config_type), (layer.to_vec(), layer_type)] {
            let digest = format!(
                "sha256:{}",
                hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes))
            );
            let url = format!("http://{addr}/v2/{repo}/blobs/uploads/?digest={digest}");
            let resp = http.post(url).body(bytes.clone()).send().await.unwrap();
            assert_eq!(resp.status(), 201);
            descs.push(json!({ "mediaType": media_type, "digest": digest, "size": bytes.len() }));
        }
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": descs[0],
            "layers": [descs[1]],
        });
        let resp = http
            .put(format!("http://{addr}/v2/{repo}/manifests/{tag}"))
            .header("content-type", "application/vnd.oci.image.manifest.v1+json")
            .body(serde_json::to_vec(&manifest).unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 201, "{}", resp.text().await.unwrap());
    });
}

#[test]
fn legacy_media_types_pull_and_run() {
    let w = Wharf::new();
    let work = tempfile::tempdir().unwrap();
    let hello = hello_component(&w, work.path());
    let bytes = std::fs::read(&hello).unwrap();
    let reg = Registry::start();
    let cases = [
        (
            "legacy/wasm-to-oci",
            "application/vnd.wasm.config.v1+json",
            "application/vnd.wasm.content.layer.v1+wasm",
        ),
        (
            "legacy/wasmcloud",
            "application/vnd.oci.image.config.v1+json",
            "application/vnd.module.wasm.content.layer.v1+wasm",
        ),
    ];
    for (repo, config_type, layer_type) in cases {
        push_raw(&reg.addr, repo, "1.0.0", config_type, layer_type, &bytes);
        let reference = format!("{}/{repo}:1.0.0", reg.addr);
        let out = work.path().join(format!("{}.wasm", repo.replace('/', "-")));
        w.ok(&["pull", &reference, "-o", s(&out)]);
        assert_eq!(file_digest(&out), file_digest(&hello), "{repo}");
        let run = w
            .cmd()
            .args(["run", &reference, "--", "old", "tools"])
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&run.stdout),
            "hello, old tools!\n",
            "{repo}"
        );
    }
}
