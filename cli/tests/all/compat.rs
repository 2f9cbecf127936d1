//! Packages laid out by other tools (wasm-to-oci / Harbor, wasmCloud 1.x, ORAS's default
//! shape) pull and run; a Spin application is refused with a message that says what it is.

use serde_json::json;

use crate::support::{Registry, Wharf, file_digest, hello_component, s};

/// Push `layer` under `reference` with the given config and layer media types, over plain HTTP.
fn push_raw(addr: &str, repo: &str, tag: &str, config_type: &str, layer_type: &str, layer: &[u8]) {
    push_layers(addr, repo, tag, config_type, &[(layer_type, layer)]);
}

/// Push a manifest with a config of `config_type` and `layers` (media type, bytes).
fn push_layers(addr: &str, repo: &str, tag: &str, config_type: &str, layers: &[(&str, &[u8])]) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let http = reqwest::Client::new();
        let config = if config_type == "application/vnd.oci.empty.v1+json" {
            b"{}".to_vec()
        } else {
            br#"{"created":"2024-01-01T00:00:00Z"}"#.to_vec()
        };
        let mut descs = Vec::new();
        let blobs = std::iter::once((config.as_slice(), config_type))
            .chain(layers.iter().map(|(t, b)| (*b, *t)));
        for (bytes, media_type) in blobs {
            let digest = format!(
                "sha256:{}",
                hex::encode(<sha2::Sha256 as sha2::Digest>::digest(bytes))
            );
            let url = format!("http://{addr}/v2/{repo}/blobs/uploads/?digest={digest}");
            let resp = http.post(url).body(bytes.to_vec()).send().await.unwrap();
            assert_eq!(resp.status(), 201);
            descs.push(json!({ "mediaType": media_type, "digest": digest, "size": bytes.len() }));
        }
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": descs[0],
            "layers": descs[1..],
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
            "wasm-to-oci",
        ),
        (
            "legacy/wasmcloud",
            "application/vnd.oci.image.config.v1+json",
            "application/vnd.module.wasm.content.layer.v1+wasm",
            "wasmcloud",
        ),
        // `oras push REF hello.wasm:application/wasm`: the empty config of ORAS 1.x, and
        // the unknown config of earlier ORAS
        (
            "oras/empty",
            "application/vnd.oci.empty.v1+json",
            "application/wasm",
            "oras",
        ),
        (
            "oras/unknown",
            "application/vnd.unknown.config.v1+json",
            "application/wasm",
            "oras",
        ),
    ];
    for (repo, config_type, layer_type, layout) in cases {
        push_raw(&reg.addr, repo, "1.0.0", config_type, layer_type, &bytes);
        let reference = format!("{}/{repo}:1.0.0", reg.addr);
        let out = work.path().join(format!("{}.wasm", repo.replace('/', "-")));
        w.ok(&["pull", &reference, "-o", s(&out)]);
        assert_eq!(file_digest(&out), file_digest(&hello), "{repo}");
        let inspected: serde_json::Value =
            serde_json::from_str(&w.ok(&["inspect", &reference, "--json"])).unwrap();
        assert_eq!(inspected["layout"], layout, "{repo}");
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

#[test]
fn a_spin_application_is_named_not_pulled() {
    let w = Wharf::new();
    let work = tempfile::tempdir().unwrap();
    let hello = hello_component(&w, work.path());
    let bytes = std::fs::read(&hello).unwrap();
    let reg = Registry::start();
    push_layers(
        &reg.addr,
        "spin/app",
        "1.0.0",
        "application/vnd.fermyon.spin.application.v1+config",
        &[
            ("application/vnd.wasm.content.layer.v1+wasm", &bytes),
            (
                "application/vnd.wasm.content.layer.v1+wasm",
                b"\0asm\x01\0\0\0",
            ),
            ("application/vnd.wasm.content.layer.v1+data", b"static file"),
        ],
    );
    let out = work.path().join("app.wasm");
    let pull = w
        .cmd()
        .args([
            "pull",
            &format!("{}/spin/app:1.0.0", reg.addr),
            "-o",
            s(&out),
        ])
        .output()
        .unwrap();
    assert_eq!(pull.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&pull.stderr);
    assert!(
        stderr.contains("Spin application with 2 component(s)") && stderr.contains("spin up"),
        "{stderr}"
    );
    assert!(!out.exists(), "nothing is written");
}
