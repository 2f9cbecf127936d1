//! Garbage collection: what goes, what stays, dry runs, orphans, and pushes in flight.

use crate::harness::{TestApp, digest};

use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use wharf_registry::service::GcSettings;

async fn start() -> TestApp {
    TestApp::start_with(|c| c.gc_interval = Duration::ZERO).await
}

const MT: &str = "application/vnd.oci.image.manifest.v1+json";

impl TestApp {
    async fn push_manifest(&self, repo: &str, reference: &str, m: &Value) -> StatusCode {
        let url = format!("{}/v2/{repo}/manifests/{reference}", self.base);
        self.http
            .put(url)
            .header("content-type", MT)
            .body(serde_json::to_vec(m).unwrap())
            .send()
            .await
            .unwrap()
            .status()
    }

    async fn status(&self, path: &str) -> StatusCode {
        self.http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap()
            .status()
    }

    fn gc(&self, untagged: bool) -> GcSettings {
        GcSettings {
            grace: Duration::ZERO,
            upload_expiry: Duration::ZERO,
            untagged,
        }
    }
}

fn manifest(config: &[u8], layers: &[&[u8]]) -> Value {
    json!({
        "schemaVersion": 2,
        "mediaType": MT,
        "config": { "mediaType": "application/vnd.oci.image.config.v1+json", "digest": digest(config), "size": config.len() },
        "layers": layers.iter().map(|l| json!({ "mediaType": "application/octet-stream", "digest": digest(l), "size": l.len() })).collect::<Vec<_>>(),
    })
}

fn manifest_digest(m: &Value) -> String {
    digest(&serde_json::to_vec(m).unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn collects_only_what_nothing_needs() {
    let s = start().await;
    // kept: a tagged manifest and its blobs
    s.try_push_blob("app", b"{}").await;
    s.try_push_blob("app", b"kept layer").await;
    let kept = manifest(b"{}", &[b"kept layer"]);
    assert_eq!(
        s.push_manifest("app", "v1", &kept).await,
        StatusCode::CREATED
    );
    // a signature-like referrer of the kept manifest, untagged: kept with its subject
    let mut sig = manifest(b"{}", &[]);
    sig["subject"] = json!({ "mediaType": MT, "digest": manifest_digest(&kept), "size": serde_json::to_vec(&kept).unwrap().len() });
    assert_eq!(
        s.push_manifest("app", &manifest_digest(&sig), &sig).await,
        StatusCode::CREATED
    );
    // untagged: a manifest pushed by digest only, and its own layer
    s.try_push_blob("app", b"untagged layer").await;
    let untagged = manifest(b"{}", &[b"untagged layer"]);
    assert_eq!(
        s.push_manifest("app", &manifest_digest(&untagged), &untagged)
            .await,
        StatusCode::CREATED
    );
    // a blob no manifest references, and an upload session left open
    s.try_push_blob("app", b"dangling").await;
    let open = s
        .http
        .post(format!("{}/v2/app/blobs/uploads/", s.base))
        .send()
        .await
        .unwrap();
    let session = open.headers()["location"].to_str().unwrap().to_owned();
    // files a crash left behind: an upload with no session, a blob with no row
    std::fs::write(s.dir.path().join("uploads").join(uuid_like()), b"partial").unwrap();
    let orphan = b"orphan blob";
    let hex = digest(orphan).trim_start_matches("sha256:").to_owned();
    std::fs::create_dir_all(s.dir.path().join("blobs/sha256").join(&hex[..2])).unwrap();
    std::fs::write(
        s.dir.path().join("blobs/sha256").join(&hex[..2]).join(&hex),
        orphan,
    )
    .unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;

    // a dry run reports and removes nothing
    let dry = s
        .state
        .registry
        .collect_garbage(&s.gc(true), true)
        .await
        .unwrap();
    assert_eq!(
        dry.report.manifests,
        vec![format!("app@{}", manifest_digest(&untagged))]
    );
    assert_eq!(
        dry.report.links,
        vec![format!("app@{}", digest(b"dangling"))]
    );
    assert_eq!(dry.report.uploads.len(), 1);
    assert_eq!(dry.orphan_blob_files.len(), 1);
    assert_eq!(dry.orphan_upload_files.len(), 1);
    assert_eq!(
        s.status(&format!("/v2/app/blobs/{}", digest(b"dangling")))
            .await,
        StatusCode::OK
    );
    assert_eq!(s.status(&session).await, StatusCode::NO_CONTENT);

    let done = s
        .state
        .registry
        .collect_garbage(&s.gc(true), false)
        .await
        .unwrap();
    assert_eq!(done.report.manifests, dry.report.manifests);
    let mut links = done.report.links.clone();
    links.sort();
    let mut expected = vec![
        format!("app@{}", digest(b"dangling")),
        format!("app@{}", digest(b"untagged layer")),
    ];
    expected.sort();
    assert_eq!(
        links, expected,
        "the untagged manifest's layer goes in the same pass"
    );
    assert_eq!(done.report.blobs.len(), 2);
    // what stays
    assert_eq!(s.status("/v2/app/manifests/v1").await, StatusCode::OK);
    assert_eq!(
        s.status(&format!("/v2/app/manifests/{}", manifest_digest(&sig)))
            .await,
        StatusCode::OK
    );
    assert_eq!(
        s.status(&format!("/v2/app/blobs/{}", digest(b"kept layer")))
            .await,
        StatusCode::OK
    );
    // what went, with its files
    assert_eq!(
        s.status(&format!("/v2/app/manifests/{}", manifest_digest(&untagged)))
            .await,
        StatusCode::NOT_FOUND
    );
    for gone in [&b"dangling"[..], b"untagged layer"] {
        assert_eq!(
            s.status(&format!("/v2/app/blobs/{}", digest(gone))).await,
            StatusCode::NOT_FOUND
        );
        let hex = digest(gone).trim_start_matches("sha256:").to_owned();
        assert!(
            !s.dir
                .path()
                .join("blobs/sha256")
                .join(&hex[..2])
                .join(&hex)
                .exists()
        );
    }
    assert_eq!(s.status(&session).await, StatusCode::NOT_FOUND);
    assert!(
        !s.dir
            .path()
            .join("blobs/sha256")
            .join(&hex[..2])
            .join(&hex)
            .exists(),
        "orphan blob file removed"
    );
    assert_eq!(
        std::fs::read_dir(s.dir.path().join("uploads"))
            .unwrap()
            .count(),
        0
    );
    // and a second pass finds nothing
    let again = s
        .state
        .registry
        .collect_garbage(&s.gc(true), false)
        .await
        .unwrap();
    assert!(
        again.report.manifests.is_empty()
            && again.report.links.is_empty()
            && again.report.blobs.is_empty()
    );
}

fn uuid_like() -> String {
    "3f1d2c4e-5a6b-4c7d-8e9f-0a1b2c3d4e5f".to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn grace_period_protects_recent_content() {
    let s = start().await;
    s.try_push_blob("g", b"fresh").await;
    let settings = GcSettings {
        grace: Duration::from_secs(3600),
        ..GcSettings::default()
    };
    let done = s
        .state
        .registry
        .collect_garbage(&settings, false)
        .await
        .unwrap();
    assert!(done.report.links.is_empty() && done.report.blobs.is_empty());
    assert_eq!(
        s.status(&format!("/v2/g/blobs/{}", digest(b"fresh"))).await,
        StatusCode::OK
    );
}

/// GC running continuously during 30 concurrent pushes never removes what a push in
/// flight needs, while it does remove old garbage: every push is answered 201 and is
/// readable in full. Half the pushes reuse an old, unreferenced blob the way clients do
/// (HEAD finds it, the upload is skipped), which the HEAD must keep alive.
#[tokio::test(flavor = "multi_thread")]
async fn gc_during_concurrent_pushes_keeps_what_they_need() {
    let dir = tempfile::tempdir().unwrap();
    let grace = Duration::from_millis(1500);
    let gc_settings = GcSettings {
        grace,
        upload_expiry: Duration::from_secs(3600),
        untagged: false,
    };
    let config = wharf_registry::Config {
        data_dir: dir.path().to_path_buf(),
        gc_interval: Duration::ZERO,
        gc: gc_settings.clone(),
        ..Default::default()
    };
    let s = Arc::new(TestApp::start_in(dir, config).await);

    // old garbage, and old unreferenced blobs that pushes will reuse
    for i in 0..10 {
        assert_eq!(
            s.try_push_blob("race/junk", format!("junk {i}").as_bytes())
                .await,
            StatusCode::CREATED
        );
    }
    for k in 0..15 {
        // push i = 2k reuses blob k from repository r{i % 3}
        assert_eq!(
            s.try_push_blob(
                &format!("race/r{}", (2 * k) % 3),
                format!("reused {k}").as_bytes()
            )
            .await,
            StatusCode::CREATED
        );
    }
    tokio::time::sleep(grace + Duration::from_millis(200)).await;

    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    // GC starts once every client has checked its blobs (HEAD), so the reused blobs are
    // stale when GC first looks at them, and only the HEAD keeps them
    let checked = Arc::new(tokio::sync::Barrier::new(31));
    let gc = {
        let (s, stop, settings, checked) = (
            s.clone(),
            stop.clone(),
            gc_settings.clone(),
            checked.clone(),
        );
        tokio::spawn(async move {
            checked.wait().await;
            let mut removed = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let out = s
                    .state
                    .registry
                    .collect_garbage(&settings, false)
                    .await
                    .unwrap();
                removed += out.report.blobs.len();
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            removed
        })
    };
    let mut pushes = Vec::new();
    for i in 0..30 {
        let (s, checked) = (s.clone(), checked.clone());
        pushes.push(tokio::spawn(async move {
            let repo = format!("race/r{}", i % 3);
            let config = format!("{{\"n\":{i}}}").into_bytes();
            let layer = if i % 2 == 0 {
                format!("reused {}", i / 2).into_bytes()
            } else {
                format!("layer {i}").into_bytes()
            };
            let mut statuses = vec![s.try_push_blob(&repo, &config).await];
            let head = s
                .http
                .head(format!("{}/v2/{repo}/blobs/{}", s.base, digest(&layer)))
                .send()
                .await
                .unwrap()
                .status();
            if head != StatusCode::OK {
                statuses.push(s.try_push_blob(&repo, &layer).await);
            }
            checked.wait().await;
            // the client takes its time before the manifest, well within the grace period
            tokio::time::sleep(Duration::from_millis(100 + (i as u64 * 37) % 400)).await;
            let m = manifest(&config, &[&layer]);
            let tag = format!("t{i}");
            statuses.push(s.push_manifest(&repo, &tag, &m).await);
            (repo, tag, m, config, layer, head, statuses)
        }));
    }
    let mut reused = 0;
    for p in pushes {
        let (repo, tag, m, config, layer, head, statuses) = p.await.unwrap();
        assert!(
            statuses.iter().all(|st| st.is_success()),
            "{repo}:{tag} got {statuses:?}"
        );
        reused += usize::from(head == StatusCode::OK);
        let got: Value = s
            .http
            .get(format!("{}/v2/{repo}/manifests/{tag}", s.base))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(got, m);
        for blob in [&config, &layer] {
            let body = s
                .http
                .get(format!("{}/v2/{repo}/blobs/{}", s.base, digest(blob)))
                .send()
                .await
                .unwrap();
            assert_eq!(body.status(), StatusCode::OK, "{repo}:{tag} lost a blob");
            assert_eq!(body.bytes().await.unwrap().as_ref(), blob.as_slice());
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let removed = gc.await.unwrap();
    assert_eq!(reused, 15, "the old blobs were still there to reuse");
    assert!(
        removed >= 10,
        "the junk was collected meanwhile ({removed} blobs removed)"
    );
    for i in 0..10 {
        let junk = digest(format!("junk {i}").as_bytes());
        assert_eq!(
            s.status(&format!("/v2/race/junk/blobs/{junk}")).await,
            StatusCode::NOT_FOUND
        );
    }
}
