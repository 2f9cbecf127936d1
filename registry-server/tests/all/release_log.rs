//! The release log as the registry serves it: one entry per publication, move, deletion
//! and yank; tiles and checkpoint that a client recomputes exactly; only the canonical
//! tile paths; readable only by those who may pull everything.

use reqwest::StatusCode;
use serde_json::json;
use wharf_oci::{Digest, media_types};
use wharf_sign::log::{Action, LogEntry, Replay, TILE_WIDTH, TilePath};

use crate::harness::{TestApp, htpasswd};

impl TestApp {
    async fn put(&self, repo: &str, reference: &str, bytes: &[u8]) {
        let r = self
            .put_manifest(repo, reference, media_types::OCI_MANIFEST, bytes)
            .await;
        assert_eq!(r.status(), StatusCode::CREATED, "PUT {repo}:{reference}");
    }

    async fn log_get(&self, path: &str) -> (StatusCode, Vec<u8>) {
        let r = self.http.get(self.url(path)).send().await.unwrap();
        (r.status(), r.bytes().await.unwrap().to_vec())
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_change_of_a_tag_is_logged_and_the_tiles_recompute() {
    let s = TestApp::start().await;
    let (a, a_bytes) = s.put_image("demo/app", "1.0.0", b"a").await;
    let (b, _) = s.put_image("demo/app", "2.0.0", b"b").await;
    // the same manifest again under the same tag records nothing
    s.put("demo/app", "1.0.0", &a_bytes).await;
    // a move, and a deletion
    let (c, c_bytes) = s.put_image("demo/app", "latest", b"c").await;
    s.put("demo/app", "latest", &a_bytes).await;
    let r = s
        .http
        .delete(s.url("/v2/demo/app/manifests/latest"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    // a yank mark of 2.0.0
    let cfg = s.push_blob("demo/app", b"{}").await;
    let yank = json!({
        "schemaVersion": 2, "mediaType": media_types::OCI_MANIFEST,
        "artifactType": wharf_oci::yank::ARTIFACT_TYPE,
        "config": { "mediaType": media_types::OCI_EMPTY, "digest": cfg, "size": 2 },
        "layers": [{ "mediaType": media_types::OCI_EMPTY, "digest": cfg, "size": 2 }],
        "subject": { "mediaType": media_types::OCI_MANIFEST, "digest": b, "size": 1 },
        "annotations": { wharf_oci::yank::VERSION_ANNOTATION: "2.0.0", wharf_oci::yank::REASON_ANNOTATION: "broken" },
    });
    let yank_bytes = serde_json::to_vec(&yank).unwrap();
    s.put(
        "demo/app",
        &Digest::sha256_of(&yank_bytes).to_string(),
        &yank_bytes,
    )
    .await;

    let (status, bundle) = s.log_get("/log/v1/tile/entries/000.p/6").await;
    assert_eq!(status, StatusCode::OK);
    let entries: Vec<LogEntry> = wharf_sign::log::parse_entry_bundle(&bundle)
        .unwrap()
        .iter()
        .map(|e| LogEntry::parse(e).unwrap())
        .collect();
    let seen: Vec<(Action, &str, String, Option<String>)> = entries
        .iter()
        .map(|e| {
            (
                e.action,
                e.tag.as_str(),
                e.digest.clone(),
                e.previous.clone(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        vec![
            (Action::Publish, "1.0.0", a.to_string(), None),
            (Action::Publish, "2.0.0", b.to_string(), None),
            (Action::Publish, "latest", c.to_string(), None),
            (Action::Move, "latest", a.to_string(), Some(c.to_string())),
            (Action::Delete, "latest", a.to_string(), None),
            (Action::Yank, "2.0.0", b.to_string(), None),
        ]
    );
    drop(c_bytes);
    // no seventh entry, and no full tile yet
    assert_eq!(
        s.log_get("/log/v1/tile/entries/000.p/7").await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        s.log_get("/log/v1/tile/entries/000").await.0,
        StatusCode::NOT_FOUND
    );

    // past a full tile: 300 entries, checked against a replay of them
    let (_, m) = s.put_image("demo/many", "t0", b"many").await;
    for i in 1..294 {
        s.put("demo/many", &format!("t{i}"), &m).await;
    }
    let doc = s.get_json("/.well-known/wasm-pkg/registry.json").await;
    let verifier = doc["wharf"]["log"]["verifier"].as_str().unwrap().to_owned();
    assert_eq!(doc["wharf"]["log"]["path"], "/log/v1");
    let (status, note) = s.log_get("/log/v1/checkpoint").await;
    assert_eq!(status, StatusCode::OK);
    let tree = wharf_sign::log::verify_checkpoint(&note, &verifier).unwrap();
    assert_eq!(tree.size, 300);
    let mut replay = Replay::new();
    for (index, width) in [(0, TILE_WIDTH), (1, 300 - TILE_WIDTH)] {
        let path = TilePath::Entries { index, width }.path();
        let (status, bundle) = s.log_get(&format!("/log/v1/{path}")).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        for e in wharf_sign::log::parse_entry_bundle(&bundle).unwrap() {
            replay.push(&e).unwrap();
        }
    }
    assert_eq!(replay.root(300).unwrap(), tree.root);
    for (level, index, width) in [(0, 0, TILE_WIDTH), (0, 1, 300 - TILE_WIDTH), (1, 0, 1)] {
        let path = TilePath::Hashes {
            level,
            index,
            width,
        }
        .path();
        let (status, tile) = s.log_get(&format!("/log/v1/{path}")).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert_eq!(tile, replay.tile(level, index, width).unwrap(), "{path}");
    }
    // tiles the log does not have, and paths that are not canonical, are 404
    for path in [
        "tile/0/001",
        "tile/0/001.p/45",
        "tile/1/000.p/2",
        "tile/2/000.p/1",
        "tile/0/1",
        "tile/0/000.p/256",
        "tile/entries/002.p/1",
        "tile/entries/x000/000",
        "tile/entries/000.p/0",
    ] {
        assert_eq!(
            s.log_get(&format!("/log/v1/{path}")).await.0,
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
    // a percent-encoded path is the same path
    assert_eq!(
        s.log_get("/log/v1/tile/0/%30%30%30").await,
        s.log_get("/log/v1/tile/0/000").await
    );
    // full tiles are immutable; the checkpoint is not cached
    let r = s
        .http
        .get(s.url("/log/v1/tile/0/000"))
        .send()
        .await
        .unwrap();
    assert!(
        r.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("immutable")
    );
    let r = s
        .http
        .get(s.url("/log/v1/checkpoint"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["cache-control"], "no-store");
}

/// Appends on one tag from many requests at once keep the log dense and its tree sound.
#[tokio::test(flavor = "multi_thread")]
async fn concurrent_pushes_append_without_gaps() {
    let s = TestApp::start().await;
    let (_, m) = s.put_image("demo/race", "seed", b"race").await;
    let pushes = (0..24).map(|i| {
        let s = &s;
        let m = &m;
        async move { s.put("demo/race", &format!("v{i}"), m).await }
    });
    futures_util::future::join_all(pushes).await;
    let (_, bundle) = s.log_get("/log/v1/tile/entries/000.p/25").await;
    let entries = wharf_sign::log::parse_entry_bundle(&bundle).unwrap();
    assert_eq!(entries.len(), 25);
    let mut tags: Vec<String> = entries
        .iter()
        .map(|e| LogEntry::parse(e).unwrap().tag)
        .collect();
    tags.sort();
    tags.dedup();
    assert_eq!(tags.len(), 25, "each tag once");
    let doc = s.get_json("/.well-known/wasm-pkg/registry.json").await;
    let (_, note) = s.log_get("/log/v1/checkpoint").await;
    let tree = wharf_sign::log::verify_checkpoint(
        &note,
        doc["wharf"]["log"]["verifier"].as_str().unwrap(),
    )
    .unwrap();
    let mut replay = Replay::new();
    for e in &entries {
        replay.push(e).unwrap();
    }
    assert_eq!((tree.size, tree.root), (25, replay.root(25).unwrap()));
}

/// With `[auth]`, the log names every repository: only a caller who may pull everything
/// reads it.
#[tokio::test(flavor = "multi_thread")]
async fn the_log_is_read_only_by_those_who_may_pull_everything() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("htpasswd");
    std::fs::write(&path, htpasswd(&[("alice", "s3cret"), ("root", "r00t")])).unwrap();
    let s = TestApp::from_toml(
        dir,
        &format!(
            r#"
        [auth]
        htpasswd = {path:?}
        token-secret = "a-test-secret-of-some-length"
        [[auth.rules]]
        prefix = "public"
        anonymous = ["pull"]
        users = {{ alice = ["pull"] }}
        [[auth.rules]]
        prefix = ""
        users = {{ root = ["pull", "push"] }}
        "#
        ),
    )
    .await;
    for user in [None, Some(("alice", "s3cret")), Some(("alice", "wrong"))] {
        let mut req = s.http.get(s.url("/log/v1/checkpoint"));
        if let Some((u, p)) = user {
            req = req.basic_auth(u, Some(p));
        }
        let status = req.send().await.unwrap().status();
        assert!(
            status == StatusCode::FORBIDDEN || status == StatusCode::UNAUTHORIZED,
            "{user:?}: {status}"
        );
        let mut req = s.http.get(s.url("/log/v1/tile/entries/000.p/1"));
        if let Some((u, p)) = user {
            req = req.basic_auth(u, Some(p));
        }
        let status = req.send().await.unwrap().status();
        assert!(
            status == StatusCode::FORBIDDEN || status == StatusCode::UNAUTHORIZED,
            "{user:?}: {status}"
        );
    }
    let r = s
        .http
        .get(s.url("/log/v1/checkpoint"))
        .basic_auth("root", Some("r00t"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}
