//! `wharf` against content and registries that try to mislead it: signature referrers
//! that are malformed, an unsigned package under a trust policy, annotations and error
//! bodies that carry terminal control sequences, and a download interrupted with Ctrl-C.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use serde_json::{Value, json};
use sha2::Digest as _;

use crate::support::{Registry, Wharf, file_digest, hello_component, s};

const SIG_TYPE: &str = "application/vnd.dev.cosign.artifact.sig.v1+json";
const SIMPLE_SIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
const EMPTY: &str = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";

fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)))
}

/// Push `bytes` as a blob of `repo` (POST, then PUT `?digest=`).
async fn push_blob(http: &reqwest::Client, addr: &str, repo: &str, bytes: &[u8]) -> String {
    let digest = sha256(bytes);
    let started = http
        .post(format!("http://{addr}/v2/{repo}/blobs/uploads/"))
        .send()
        .await
        .unwrap();
    assert_eq!(started.status(), 202);
    let location = started.headers()["location"].to_str().unwrap().to_owned();
    let url = if location.starts_with('/') {
        format!("http://{addr}{location}")
    } else {
        location
    };
    let sep = if url.contains('?') { '&' } else { '?' };
    let done = http
        .put(format!("{url}{sep}digest={digest}"))
        .body(bytes.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 201, "{:?}", done.text().await);
    digest
}

/// Push `manifest` to `repo` by its digest; returns the digest.
async fn push_manifest(http: &reqwest::Client, addr: &str, repo: &str, manifest: &Value) -> String {
    let bytes = serde_json::to_vec(manifest).unwrap();
    let digest = sha256(&bytes);
    let resp = http
        .put(format!("http://{addr}/v2/{repo}/manifests/{digest}"))
        .header("content-type", manifest["mediaType"].as_str().unwrap())
        .body(bytes)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201, "{:?}", resp.text().await);
    digest
}

fn keys(w: &Wharf, dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let base = dir.join("release");
    w.ok(&["key", "generate", "-o", s(&base)]);
    (base.with_extension("key"), base.with_extension("pub"))
}

/// Signature referrers anyone with push access can add — a payload that is not a
/// signing payload, a signature that is not base64, an image index posing as a signature —
/// are reported and skipped; the valid signature after them still verifies, and `run`
/// under a trust policy still runs the package.
#[test]
fn malformed_signatures_do_not_hide_a_valid_one() {
    let w = Wharf::new();
    let work = tempfile::tempdir().unwrap();
    let (key, public) = keys(&w, work.path());
    let reg = Registry::start();
    let hello = hello_component(&w, work.path());
    let reference = format!("{}/demo/app:1.0.0", reg.addr);
    let digest = w.ok(&["push", s(&hello), &reference]).trim().to_owned();
    let manifest_size = {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            reqwest::get(format!(
                "http://{}/v2/demo/app/manifests/{digest}",
                reg.addr
            ))
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap()
            .len()
        })
    };
    let subject = json!({
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": digest,
        "size": manifest_size,
    });
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let http = reqwest::Client::new();
        push_blob(&http, &reg.addr, "demo/app", b"{}").await;
        for (payload, signature) in [
            (&b"not a signing payload"[..], "c2lnbmF0dXJl"),
            (&b"{\"critical\":{}}"[..], "!!! not base64 !!!"),
        ] {
            let layer = push_blob(&http, &reg.addr, "demo/app", payload).await;
            push_manifest(
                &http,
                &reg.addr,
                "demo/app",
                &json!({
                    "schemaVersion": 2,
                    "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "artifactType": SIG_TYPE,
                    "config": { "mediaType": "application/vnd.oci.empty.v1+json", "digest": EMPTY, "size": 2 },
                    "layers": [{
                        "mediaType": SIMPLE_SIGNING,
                        "digest": layer,
                        "size": payload.len(),
                        "annotations": { "dev.cosignproject.cosign/signature": signature }
                    }],
                    "subject": subject,
                }),
            )
            .await;
        }
        push_manifest(
            &http,
            &reg.addr,
            "demo/app",
            &json!({
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.index.v1+json",
                "artifactType": SIG_TYPE,
                "manifests": [],
                "subject": subject,
            }),
        )
        .await;
    });
    // only the bad ones: not verified, and each is named
    let out = w.run(&["verify", &reference, "--key", s(&public)]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("no signature is by a trusted key"), "{err}");
    assert!(
        err.contains("missing field `config`"),
        "the index posing as one: {err}"
    );

    w.ok(&["sign", &reference, "--key", s(&key)]);
    let out = w.run(&["verify", &reference, "--key", s(&public), "--json"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("warning: skipping signature referrer"),
        "{stderr}"
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["verified"], true);
    let signatures = report["signatures"].as_array().unwrap();
    assert_eq!(signatures.len(), 4, "{report}");
    assert_eq!(signatures.iter().filter(|s| s["valid"] == true).count(), 1);

    let policy = work.path().join("trust.toml");
    std::fs::write(
        &policy,
        format!(
            "[[rules]]\nscope = \"{}/demo\"\nkeys = [\"release.pub\"]\n",
            reg.addr
        ),
    )
    .unwrap();
    let ran = w
        .cmd()
        .args([
            "run",
            &reference,
            "--trust-policy",
            s(&policy),
            "--",
            "signed",
        ])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&ran.stdout), "hello, signed!\n");
}

/// `run` refuses an unsigned package under a trust policy before any byte of its layer
/// reaches the cache (a later run without the policy must not find it there either).
#[test]
fn run_refuses_an_unsigned_package_before_caching_it() {
    let w = Wharf::new();
    let work = tempfile::tempdir().unwrap();
    keys(&w, work.path());
    let reg = Registry::start();
    let hello = hello_component(&w, work.path());
    let reference = format!("{}/demo/unsigned:1.0.0", reg.addr);
    w.ok(&["push", s(&hello), &reference]);
    let policy = work.path().join("trust.toml");
    std::fs::write(
        &policy,
        format!(
            "[[rules]]\nscope = \"{}/demo\"\nkeys = [\"release.pub\"]\n",
            reg.addr
        ),
    )
    .unwrap();
    let ran = w
        .cmd()
        .args(["run", &reference, "--trust-policy", s(&policy), "--", "x"])
        .output()
        .unwrap();
    assert_eq!(ran.status.code(), Some(1));
    assert!(ran.stdout.is_empty(), "the unverified program never ran");
    let layer = file_digest(&hello);
    let cached = w
        .home
        .path()
        .join("cache/wharf/blobs/sha256")
        .join(layer.trim_start_matches("sha256:"));
    assert!(!cached.exists(), "{} was cached", cached.display());
    // without the policy it runs, and then it is cached: the path above is the right one
    w.ok(&["run", &reference, "--", "x"]);
    assert!(
        cached.exists(),
        "{} is where the cache keeps it",
        cached.display()
    );
}

/// Annotations and registry error messages carrying terminal control sequences (set the
/// window title, colour, move the cursor) are printed escaped, never raw.
#[test]
fn control_sequences_from_a_registry_are_escaped() {
    let w = Wharf::new();
    let work = tempfile::tempdir().unwrap();
    let reg = Registry::start();
    let hello = hello_component(&w, work.path());
    let reference = format!("{}/demo/title:1.0.0", reg.addr);
    let nasty = "\u{1b}]0;pwned\u{7}\u{1b}[31mred\u{1b}[2J\r\u{9b}1A";
    w.ok(&[
        "push",
        s(&hello),
        &reference,
        "--annotation",
        &format!("org.opencontainers.image.description={nasty}"),
    ]);
    let out = w.run(&["inspect", &reference]);
    assert!(out.status.success());
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.contains("\\u{1b}]0;pwned\\u{7}"), "{stdout}");
    assert!(!stdout.contains('\u{1b}') && !stdout.contains('\r') && !stdout.contains('\u{9b}'));

    // an error message from a registry
    let addr = serve_in_thread(Router::new().fallback(|| async {
        (
            StatusCode::NOT_FOUND,
            axum::Json(json!({"errors": [{"code": "MANIFEST_UNKNOWN", "message": "gone\u{1b}]0;pwned\u{7}\u{1b}[2J"}]})),
        )
    }));
    let out = w.run(&[
        "pull",
        &format!("{addr}/lib/app:1.0.0"),
        "-o",
        s(&work.path().join("o.wasm")),
    ]);
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("gone\\u{1b}]0;pwned"), "{stderr}");
    assert!(!stderr.contains('\u{1b}'), "{stderr}");
}

/// A registry that points its upload sessions at another host: `wharf push` sends the
/// bytes there (the OCI protocol allows it) but never the registry's credentials.
#[test]
fn an_upload_location_on_another_host_gets_no_credentials() {
    use std::sync::{Arc, Mutex};
    // the other host: takes anything, and writes down the Authorization headers it got
    let seen: Arc<Mutex<Vec<Option<String>>>> = Arc::default();
    let log = seen.clone();
    let elsewhere = serve_in_thread(Router::new().fallback(
        move |method: axum::http::Method, headers: axum::http::HeaderMap| {
            let log = log.clone();
            async move {
                let auth = headers
                    .get("authorization")
                    .map(|v| v.to_str().unwrap_or("?").to_owned());
                log.lock().unwrap().push(auth);
                match method {
                    axum::http::Method::PUT => StatusCode::CREATED,
                    _ => StatusCode::ACCEPTED,
                }
            }
        },
    ));
    let target = format!("http://{elsewhere}/upload/1");
    let asked_with_auth: Arc<Mutex<bool>> = Arc::default();
    let asked = asked_with_auth.clone();
    let registry = serve_in_thread(
        Router::new()
            .route(
                "/v2/lib/app/blobs/uploads/",
                axum::routing::post(move |headers: axum::http::HeaderMap| {
                    let (target, asked) = (target.clone(), asked.clone());
                    async move {
                        if headers.get("authorization").is_none() {
                            return (
                                StatusCode::UNAUTHORIZED,
                                [("www-authenticate", r#"Basic realm="fake""#.to_owned())],
                            )
                                .into_response();
                        }
                        *asked.lock().unwrap() = true;
                        (StatusCode::ACCEPTED, [("location", target)]).into_response()
                    }
                }),
            )
            .fallback(|| async { StatusCode::NOT_FOUND }),
    );
    let w = Wharf::new();
    let work = tempfile::tempdir().unwrap();
    let hello = hello_component(&w, work.path());
    let out = w
        .cmd()
        .args(["push", s(&hello), &format!("{registry}/lib/app:1.0.0")])
        .env("WHARF_REGISTRY_USERNAME", "alice")
        .env("WHARF_REGISTRY_PASSWORD", "secret")
        .output()
        .unwrap();
    assert!(
        *asked_with_auth.lock().unwrap(),
        "the upload was opened with credentials: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seen = seen.lock().unwrap();
    assert!(!seen.is_empty(), "the bytes went to the upload location");
    assert!(
        seen.iter().all(Option::is_none),
        "the other host got credentials: {seen:?}"
    );
}

/// Serve `router` on a free loopback port from a thread of its own; returns `host:port`.
fn serve_in_thread(router: Router) -> String {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap().to_string()).unwrap();
            axum::serve(listener, router).await.unwrap();
        });
    });
    rx.recv().unwrap()
}

/// Ctrl-C during a download that drips: `wharf pull` stops at once, says it was
/// interrupted, and leaves neither the output nor a partial file behind.
#[test]
fn ctrl_c_during_a_download_leaves_nothing_behind() {
    let layer_size: u64 = 8 << 20;
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "artifactType": "application/wasm",
        "config": { "mediaType": "application/vnd.wasm.config.v0+json", "digest": sha256(b"{}"), "size": 2 },
        "layers": [{ "mediaType": "application/wasm", "digest": sha256(b"never sent whole"), "size": layer_size }]
    }))
    .unwrap();
    let digest = sha256(&manifest);
    let router = Router::new()
        .route(
            "/v2/lib/app/manifests/{reference}",
            get(move || {
                let (manifest, digest) = (manifest.clone(), digest.clone());
                async move {
                    (
                        [
                            (
                                "content-type",
                                "application/vnd.oci.image.manifest.v1+json".to_owned(),
                            ),
                            ("docker-content-digest", digest),
                        ],
                        manifest,
                    )
                }
            }),
        )
        .route(
            "/v2/lib/app/blobs/{digest}",
            get(move || async move {
                // 64 KiB at once, then a byte every 50 ms: the download never ends by itself
                let first = futures_util::stream::once(async {
                    Ok::<_, std::io::Error>(vec![0u8; 64 * 1024])
                });
                let drip = futures_util::stream::unfold((), |()| async {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    Some((Ok(vec![0u8]), ()))
                });
                use futures_util::StreamExt as _;
                (
                    [("content-length", layer_size.to_string())],
                    Body::from_stream(first.chain(drip)),
                )
                    .into_response()
            }),
        );
    let addr = serve_in_thread(router);
    let w = Wharf::new();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("app.wasm");
    let child = w
        .cmd()
        .args(["pull", &format!("{addr}/lib/app:1.0.0"), "-o", s(&out)])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // wait until the partial file is there
    let started = Instant::now();
    while std::fs::read_dir(dir.path()).unwrap().next().is_none() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the download never started"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let started = Instant::now();
    let output = child.wait_with_output().unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "Ctrl-C took effect at once"
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}
