//! Page times of the web UI and the JSON API with 10,000 packages.
//!
//! Seeds a fresh registry (SQLite, in a temporary directory) with 10,000 Wasm packages
//! through the `Store` (each with its own imports, exports and description), serves it on
//! loopback and requests each page 50 times. Prints the server time each HTML page reports
//! in `Server-Timing` and the round-trip time, as p50 / p95 / max in ms.
//!
//! Run: `cargo bench -p wharf-registry --bench catalog` (release build).

#![allow(clippy::unwrap_used)]

use std::time::Instant;

use wharf_oci::{Digest, RepositoryName, Tag};
use wharf_registry::store::{NewManifest, SqliteStore, Store, WasmIndexEntry};

const PACKAGES: usize = 10_000;
const RUNS: usize = 50;

fn percentiles(mut v: Vec<f64>) -> String {
    v.sort_by(|a, b| a.total_cmp(b));
    let at = |p: f64| v[((v.len() as f64 - 1.0) * p).round() as usize];
    format!(
        "p50 {:7.2}  p95 {:7.2}  max {:7.2}",
        at(0.5),
        at(0.95),
        at(1.0)
    )
}

fn entry(i: usize, layer: &Digest) -> WasmIndexEntry {
    let families = ["http", "cli", "sockets", "keyvalue", "messaging"];
    let family = families[i % families.len()];
    WasmIndexEntry {
        kind: wharf_registry::store::WasmKind::Component,
        target: Some(format!("wasi:{family}/world@0.2.0")),
        package: None,
        imports: vec![
            format!("wasi:{family}/types@0.2.0"),
            "wasi:io/streams@0.2.0".into(),
        ],
        exports: vec![format!("wasi:{family}/handler-{}@0.2.0", i % 10)],
        layer_digest: layer.clone(),
        layer_size: 5,
        description: Some(format!("Package number {i}, a {family} component")),
        licenses: Some("Apache-2.0".into()),
        source: None,
        authors: None,
        wit: Some(format!(
            "package ns{}:pkg{i}@1.0.0;\n\nworld w {{\n  import wasi:{family}/types@0.2.0;\n  export wasi:{family}/handler-{}@0.2.0;\n}}\n",
            i % 100,
            i % 10
        )),
    }
}

#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    {
        let store = SqliteStore::open(&dir.path().join("metadata.db"))
            .await
            .unwrap();
        let layer = Digest::sha256_of(b"layer");
        let tag: Tag = "1.0.0".parse().unwrap();
        for i in 0..PACKAGES {
            let repo: RepositoryName = format!("ns{}/pkg{i}", i % 100).parse().unwrap();
            store.link_blob(&repo, &layer, 5).await.unwrap();
            let content = format!("{{\"package\":{i}}}").into_bytes();
            let digest = Digest::sha256_of(&content);
            let m = NewManifest {
                digest: &digest,
                media_type: "application/vnd.oci.image.manifest.v1+json",
                artifact_type: Some("application/vnd.wasm.config.v0+json"),
                subject: None,
                content: &content,
                annotations: None,
                blobs: vec![layer.clone()],
                manifests: Vec::new(),
                wasm: Some(entry(i, &layer)),
                signatures: Vec::new(),
            };
            store
                .put_manifest(&repo, &m, std::slice::from_ref(&tag))
                .await
                .unwrap();
        }
    }
    println!(
        "seeded {PACKAGES} packages in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let config = wharf_registry::Config {
        data_dir: dir.path().to_path_buf(),
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
    let http = reqwest::Client::new();
    let pages = [
        ("home (20 most recent)", "/"),
        ("search by text", "/search?q=package+number+77"),
        ("search by export", "/search?exports=wasi:http/handler-3"),
        ("search by import glob", "/search?imports=wasi:sockets/*"),
        ("package page", "/packages/ns7/pkg4207"),
        ("version page", "/packages/ns7/pkg4207@1.0.0"),
        ("API: packages page 10", "/api/v1/packages?page=10"),
        (
            "API: search by export",
            "/api/v1/packages?exports=wasi:cli/*",
        ),
        ("API: version", "/api/v1/packages/ns7/pkg4207@1.0.0"),
    ];
    println!("{:<26} {:<40} round trip (ms)", "page", "server time (ms)");
    for (name, path) in pages {
        let (mut server, mut total) = (Vec::new(), Vec::new());
        for _ in 0..RUNS {
            let t = Instant::now();
            let resp = http
                .get(format!("http://{addr}{path}"))
                .send()
                .await
                .unwrap();
            assert!(resp.status().is_success(), "{path}: {}", resp.status());
            let timing = resp
                .headers()
                .get("server-timing")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("app;dur="))
                .and_then(|v| v.parse::<f64>().ok());
            let _ = resp.bytes().await.unwrap();
            total.push(t.elapsed().as_secs_f64() * 1000.0);
            if let Some(ms) = timing {
                server.push(ms);
            }
        }
        let server = if server.is_empty() {
            "-".to_owned()
        } else {
            percentiles(server)
        };
        println!("{name:<26} {server:<40} {}", percentiles(total));
    }
}
