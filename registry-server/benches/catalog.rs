//! Page times of the web UI and the JSON API with 10,000 packages of 10 versions each
//! (100,000 versions).
//!
//! Seeds a fresh registry (SQLite, in a temporary directory) with 10,000 Wasm packages
//! through the `Store` (each version with its own imports, exports and description),
//! serves it on loopback and requests each page 200 times. Prints the server time each
//! HTML page reports in `Server-Timing` and the round-trip time, as p50 / p99 / max in ms.
//!
//! Run: `cargo bench -p wharf-registry --bench catalog` (release build). With
//! `WHARF_BENCH_DIR=<dir>` the registry is seeded there once and reused by later runs.

#![allow(clippy::unwrap_used)]

use std::time::Instant;

use wharf_oci::{Digest, RepositoryName, Tag};
use wharf_registry::store::{NewManifest, SqliteStore, Store, WasmIndexEntry};

const PACKAGES: usize = 10_000;
/// Versions of each package.
const VERSIONS: usize = 10;
const RUNS: usize = 200;

fn percentiles(mut v: Vec<f64>) -> String {
    v.sort_by(|a, b| a.total_cmp(b));
    let at = |p: f64| v[((v.len() as f64 - 1.0) * p).round() as usize];
    format!(
        "p50 {:7.2}  p99 {:7.2}  max {:7.2}",
        at(0.5),
        at(0.99),
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
    // WHARF_BENCH_DIR keeps the seeded registry for later runs (and for EXPLAIN)
    let temp = tempfile::tempdir().unwrap();
    let dir = std::env::var_os("WHARF_BENCH_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| temp.path().to_path_buf());
    let seeded = dir.join("metadata.db").exists();
    let started = Instant::now();
    if !seeded {
        std::fs::create_dir_all(&dir).unwrap();
        let store = SqliteStore::open(&dir.join("metadata.db")).await.unwrap();
        let layer = Digest::sha256_of(b"layer");
        for (i, v) in (0..PACKAGES).flat_map(|i| (0..VERSIONS).map(move |v| (i, v))) {
            let repo: RepositoryName = format!("ns{}/pkg{i}", i % 100).parse().unwrap();
            let tag: Tag = format!("1.{v}.0").parse().unwrap();
            if v == 0 {
                store.link_blob(&repo, &layer, 5).await.unwrap();
            }
            let content = format!("{{\"package\":{i},\"version\":{v}}}").into_bytes();
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
    if !seeded {
        println!(
            "seeded {PACKAGES} packages, {} versions, in {:.1} s",
            PACKAGES * VERSIONS,
            started.elapsed().as_secs_f64()
        );
    }

    let config = wharf_registry::Config {
        data_dir: dir.clone(),
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
        ("version page", "/packages/ns7/pkg4207@1.3.0"),
        ("API: packages page 10", "/api/v1/packages?page=10"),
        ("API: packages page 400", "/api/v1/packages?page=400"),
        ("API: repositories p. 50", "/api/v1/repositories?page=50"),
        (
            "API: search by export",
            "/api/v1/packages?exports=wasi:cli/*",
        ),
        ("API: version", "/api/v1/packages/ns7/pkg4207@1.3.0"),
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
