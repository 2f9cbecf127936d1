//! A registry killed with SIGKILL in the middle of 50 concurrent pushes restarts cleanly:
//! every push answered 201 is complete and readable, no blob file holds anything but the
//! bytes its name promises, and garbage collection clears what the crash left behind.

use crate::harness::{RegistryProcess, digest};

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

/// Start the real binary on a free port; returns the process and its address.
fn start(data_dir: &std::path::Path) -> (RegistryProcess, String) {
    let p = RegistryProcess::start(data_dir, &[]);
    let addr = p.addr.clone();
    (p, addr)
}

/// One push: a layer sent in 64 KiB PATCH chunks, a config, a manifest. Returns the tag
/// and content when the manifest was answered 201.
async fn push(
    http: reqwest::Client,
    addr: String,
    i: usize,
    done: Arc<AtomicUsize>,
) -> Option<(String, String, Vec<u8>, Vec<u8>)> {
    // staggered starts, so that when some are answered others are mid-upload
    tokio::time::sleep(Duration::from_millis(i as u64 * 15)).await;
    let repo = format!("crash/r{}", i % 5);
    let layer: Vec<u8> = (0..(200_000 + i * 7919))
        .map(|n| (n * 31 + i) as u8)
        .collect();
    let config = format!("{{\"push\":{i}}}").into_bytes();
    let post = http
        .post(format!("http://{addr}/v2/{repo}/blobs/uploads/"))
        .send()
        .await
        .ok()?;
    let mut location = post.headers().get("location")?.to_str().ok()?.to_owned();
    let mut offset = 0;
    for chunk in layer.chunks(64 * 1024) {
        let resp = http
            .patch(format!("http://{addr}{location}"))
            .header(
                "content-range",
                format!("{offset}-{}", offset + chunk.len() - 1),
            )
            .body(chunk.to_vec())
            .send()
            .await
            .ok()?;
        if resp.status() != StatusCode::ACCEPTED {
            return None;
        }
        location = resp.headers().get("location")?.to_str().ok()?.to_owned();
        offset += chunk.len();
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let put = http
        .put(format!("http://{addr}{location}?digest={}", digest(&layer)))
        .send()
        .await
        .ok()?;
    if put.status() != StatusCode::CREATED {
        return None;
    }
    let c = http
        .post(format!(
            "http://{addr}/v2/{repo}/blobs/uploads/?digest={}",
            digest(&config)
        ))
        .body(config.clone())
        .send()
        .await
        .ok()?;
    if c.status() != StatusCode::CREATED {
        return None;
    }
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": { "mediaType": "application/vnd.oci.image.config.v1+json", "digest": digest(&config), "size": config.len() },
        "layers": [{ "mediaType": "application/octet-stream", "digest": digest(&layer), "size": layer.len() }],
    });
    let tag = format!("p{i}");
    let m = http
        .put(format!("http://{addr}/v2/{repo}/manifests/{tag}"))
        .header("content-type", "application/vnd.oci.image.manifest.v1+json")
        .body(serde_json::to_vec(&manifest).unwrap())
        .send()
        .await
        .ok()?;
    (m.status() == StatusCode::CREATED).then(|| {
        done.fetch_add(1, Ordering::SeqCst);
        (repo, tag, layer, config)
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn sigkill_during_concurrent_pushes_loses_nothing_answered() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, addr) = start(dir.path());
    let http = reqwest::Client::new();
    let done = Arc::new(AtomicUsize::new(0));
    let pushes: Vec<_> = (0..50)
        .map(|i| tokio::spawn(push(http.clone(), addr.clone(), i, done.clone())))
        .collect();
    // once some pushes are answered, and while others are mid-upload, kill without warning
    let waited = std::time::Instant::now();
    while done.load(Ordering::SeqCst) < 10 {
        assert!(
            waited.elapsed() < Duration::from_secs(60),
            "pushes are not getting through"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    child.kill(); // SIGKILL
    let mut answered = Vec::new();
    for p in pushes {
        if let Some(done) = p.await.unwrap() {
            answered.push(done);
        }
    }
    assert!(
        answered.len() < 50,
        "the kill came too late to interrupt anything"
    );
    assert!(
        !answered.is_empty(),
        "the kill came before any push was answered"
    );
    eprintln!(
        "{} of 50 pushes answered 201 before SIGKILL",
        answered.len()
    );

    let (mut child, addr) = start(dir.path());
    for (repo, tag, layer, config) in &answered {
        let m = http
            .get(format!("http://{addr}/v2/{repo}/manifests/{tag}"))
            .send()
            .await
            .unwrap();
        assert_eq!(
            m.status(),
            StatusCode::OK,
            "{repo}:{tag} was answered 201 but is gone"
        );
        for blob in [layer, config] {
            let b = http
                .get(format!("http://{addr}/v2/{repo}/blobs/{}", digest(blob)))
                .send()
                .await
                .unwrap();
            assert_eq!(b.status(), StatusCode::OK);
            assert_eq!(
                b.bytes().await.unwrap().as_ref(),
                blob.as_slice(),
                "{repo}:{tag} blob differs"
            );
        }
    }
    // nothing half-written is visible: every blob file is exactly the bytes its name says
    let mut files = 0;
    for algo_dir in std::fs::read_dir(dir.path().join("blobs/sha256")).unwrap() {
        for f in std::fs::read_dir(algo_dir.unwrap().path()).unwrap() {
            let path = f.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            assert_eq!(
                digest(&std::fs::read(&path).unwrap()),
                format!("sha256:{name}"),
                "{} is corrupt",
                path.display()
            );
            files += 1;
        }
    }
    assert!(files >= answered.len() * 2);
    let leftovers = std::fs::read_dir(dir.path().join("uploads"))
        .unwrap()
        .count();
    child.kill();

    // garbage collection (grace 0) clears the interrupted uploads and keeps every answered push
    let gc = Command::new(env!("CARGO_BIN_EXE_wharf-registry"))
        .args(["gc", "--json", "--data-dir"])
        .arg(dir.path())
        .env("WHARF_REGISTRY_LOG", "warn")
        .env("WHARF_REGISTRY_CONFIG", write_config(dir.path()))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        gc.status.success(),
        "{}",
        String::from_utf8_lossy(&gc.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&gc.stdout).unwrap();
    // every leftover file is accounted for (a session may also have its row but no file
    // yet: killed between the two)
    let reported = report["uploads"].as_array().unwrap().len()
        + report["orphan_upload_files"].as_array().unwrap().len();
    assert!(
        reported >= leftovers,
        "{reported} uploads reported, {leftovers} files were left"
    );
    assert_eq!(
        std::fs::read_dir(dir.path().join("uploads"))
            .unwrap()
            .count(),
        0,
        "no upload file is left"
    );
    let (mut child, addr) = start(dir.path());
    for (repo, tag, _, _) in &answered {
        let m = http
            .get(format!("http://{addr}/v2/{repo}/manifests/{tag}"))
            .send()
            .await
            .unwrap();
        assert_eq!(
            m.status(),
            StatusCode::OK,
            "GC removed answered push {repo}:{tag}"
        );
    }
    child.kill();
}

fn write_config(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("gc.toml");
    std::fs::write(&path, "gc-grace-secs = 0\nupload-expiry-secs = 0\n").unwrap();
    path
}
