//! The client against a registry that lies: discovery documents pointing elsewhere,
//! endless and dripping bodies, oversized answers and layers, referrers the registry did
//! not filter. Each case must end in a clear error (or the right answer), quickly, with
//! bounded memory.

#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use wharf_client::{Client, ClientConfig, ClientError, PlainHttp};
use wharf_oci::{Descriptor, Digest, ImageReference, PackageRef};

async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    addr.to_string()
}

fn client() -> Client {
    Client::new(ClientConfig {
        plain_http: PlainHttp::Loopback,
        metadata_timeout: Some(Duration::from_secs(2)),
        read_timeout: Some(Duration::from_secs(2)),
        max_blob_bytes: Some(1024 * 1024),
        ..ClientConfig::default()
    })
    .unwrap()
}

/// A body of `chunk`-sized pieces that never ends, or drips one byte every `every`.
fn endless(chunk: usize, every: Duration) -> Body {
    Body::from_stream(futures_util::stream::unfold((), move |()| async move {
        tokio::time::sleep(every).await;
        Some((Ok::<_, std::io::Error>(vec![b'x'; chunk]), ()))
    }))
}

fn discovery(registry: String) -> Router {
    Router::new().route(
        "/.well-known/wasm-pkg/registry.json",
        get(move || {
            let registry = registry.clone();
            async move {
                axum::Json(serde_json::json!({
                    "preferredProtocol": "oci",
                    "oci": { "registry": registry, "namespacePrefix": "" }
                }))
            }
        }),
    )
}

#[tokio::test]
async fn discovery_documents_naming_anything_but_host_and_port_are_refused() {
    let placeholder = serve(Router::new()).await;
    for named in [
        format!("{placeholder}/x/../.."),
        "127.0.0.1:1@203.0.113.9:80".to_owned(),
        "user@localhost".to_owned(),
        "localhost:5000/evil".to_owned(),
    ] {
        let registry = serve(discovery(named.clone())).await;
        let pkg: PackageRef = "demo:hello@1.0.0".parse().unwrap();
        let err = client().resolve_package(&registry, &pkg).await.unwrap_err();
        assert!(
            matches!(&err, ClientError::Protocol { reason, .. } if reason.contains("not host[:port]")),
            "{named}: {err}"
        );
    }
    // a well-formed one is used, written canonically (lower case)
    let registry = serve(discovery("LOCALHOST:5000".into())).await;
    let pkg: PackageRef = "demo:hello@1.0.0".parse().unwrap();
    let r = client().resolve_package(&registry, &pkg).await.unwrap();
    assert_eq!(r.registry, "localhost:5000");
}

#[tokio::test]
async fn endless_and_dripping_metadata_answers_end_in_errors() {
    let router = Router::new()
        // a tag list that drips a byte at a time
        .route(
            "/v2/drip/app/tags/list",
            get(|| async { Response::new(endless(1, Duration::from_millis(100))).into_response() }),
        )
        // an error answer with an endless body
        .route(
            "/v2/errors/app/tags/list",
            get(|| async {
                let mut r = Response::new(endless(64 * 1024, Duration::ZERO));
                *r.status_mut() = axum::http::StatusCode::INTERNAL_SERVER_ERROR;
                r
            }),
        );
    let addr = serve(router).await;
    // the challenge's realm must point at this server
    let realm_router = Router::new()
        .route(
            "/token",
            get(|| async { Response::new(endless(64 * 1024, Duration::ZERO)) }),
        )
        .route(
            "/v2/endless/app/tags/list",
            get({
                let addr = addr.clone();
                move || {
                    let addr = addr.clone();
                    async move {
                        (
                            axum::http::StatusCode::UNAUTHORIZED,
                            [(
                                "www-authenticate",
                                format!("Bearer realm=\"http://{addr}/token\",service=\"x\""),
                            )],
                        )
                    }
                }
            }),
        );
    let realm_addr = serve(realm_router).await;
    let c = client();
    for (registry, repo) in [
        (&realm_addr, "endless/app"),
        (&addr, "drip/app"),
        (&addr, "errors/app"),
    ] {
        let t = Instant::now();
        let err = c.tags(registry, &repo.parse().unwrap()).await.unwrap_err();
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "{repo}: took {:?}",
            t.elapsed()
        );
        let text = err.to_string();
        assert!(!text.is_empty(), "{repo}");
    }
}

#[tokio::test]
async fn layers_over_the_limit_are_refused_before_download() {
    let router = Router::new().route(
        "/v2/big/app/blobs/{digest}",
        get(|| async { Response::new(endless(64 * 1024, Duration::ZERO)) }),
    );
    let addr = serve(router).await;
    let r: ImageReference = format!("{addr}/big/app:v1").parse_with_default();
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("layer.wasm");
    let desc = Descriptor {
        media_type: "application/wasm".into(),
        digest: Digest::sha256_of(b"whatever"),
        size: 40 << 30,
        artifact_type: None,
        urls: None,
        annotations: None,
        platform: None,
    };
    let err = client()
        .pull_blob_to_file(&r, &desc, &dest, |_| {})
        .await
        .unwrap_err();
    assert!(err.to_string().contains("over the limit"), "{err}");
    // and a layer whose declared size is small but whose body goes on stops at the size,
    // leaving no partial file behind
    let desc = Descriptor { size: 1000, ..desc };
    let err = client()
        .pull_blob_to_file(&r, &desc, &dest, |_| {})
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::SizeMismatch { .. }), "{err}");
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert!(left.is_empty(), "files left behind: {left:?}");
}

#[tokio::test]
async fn yank_checks_filter_referrers_the_registry_did_not() {
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": { "mediaType": "application/vnd.wasm.config.v0+json", "digest": Digest::sha256_of(b"c").to_string(), "size": 1 },
        "layers": []
    }))
    .unwrap();
    let digest = Digest::sha256_of(&manifest);
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        // a signature, which a registry ignoring `artifactType` returns anyway
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": Digest::sha256_of(b"sig").to_string(),
            "size": 10,
            "artifactType": "application/vnd.dev.cosign.artifact.sig.v1+json"
        }]
    });
    let d = digest.to_string();
    let router = Router::new()
        .route(
            "/v2/lib/app/manifests/{reference}",
            get(move || {
                let (manifest, d) = (manifest.clone(), d.clone());
                async move {
                    (
                        [
                            (
                                "content-type",
                                "application/vnd.oci.image.manifest.v1+json".to_owned(),
                            ),
                            ("docker-content-digest", d),
                        ],
                        manifest,
                    )
                }
            }),
        )
        .route(
            "/v2/lib/app/referrers/{digest}",
            get(move || {
                let index = index.clone();
                async move { axum::Json(index) }
            }),
        );
    let addr = serve(router).await;
    let r: ImageReference = format!("{addr}/lib/app:1.0.0").parse_with_default();
    assert_eq!(client().yanked(&r).await.unwrap(), None);
}

/// Blob reads redirected to another host (as registries send them to object storage) are
/// followed, but the registry's `Authorization` never goes with them; a redirect back to
/// the same host keeps it (distribution-spec: the client follows redirects and never
/// forwards credentials to another host).
#[tokio::test]
async fn redirects_are_followed_without_forwarding_authorization_to_another_host() {
    use axum::http::{HeaderMap, StatusCode};
    use std::sync::{Arc, Mutex};
    use wharf_client::{Credentials, DockerConfig};

    let blob = b"the layer bytes".to_vec();
    let seen: Arc<Mutex<Vec<Option<String>>>> = Arc::default();
    let storage = {
        let (blob, seen) = (blob.clone(), seen.clone());
        Router::new().route(
            "/object",
            get(move |headers: HeaderMap| {
                let (blob, seen) = (blob.clone(), seen.clone());
                async move {
                    seen.lock().unwrap().push(
                        headers
                            .get("authorization")
                            .map(|v| v.to_str().unwrap().to_owned()),
                    );
                    blob
                }
            }),
        )
    };
    let storage = serve(storage).await;
    let storage_port = storage.rsplit(':').next().unwrap().to_owned();
    let registry = Router::new().route(
        "/v2/lib/app/blobs/{digest}",
        get(move |headers: HeaderMap| {
            let storage_port = storage_port.clone();
            async move {
                if headers.get("authorization").is_none() {
                    return (
                        StatusCode::UNAUTHORIZED,
                        [("www-authenticate", "Basic realm=\"registry\"".to_owned())],
                    )
                        .into_response();
                }
                // another host name and port for the same machine
                (
                    StatusCode::TEMPORARY_REDIRECT,
                    [(
                        "location",
                        format!("http://localhost:{storage_port}/object"),
                    )],
                )
                    .into_response()
            }
        }),
    );
    let addr = serve(registry).await;
    let mut credentials = DockerConfig::default();
    credentials.insert(
        &addr,
        Credentials {
            username: "alice".into(),
            password: "secret".into(),
        },
    );
    let client = Client::new(ClientConfig {
        plain_http: PlainHttp::Always,
        credentials,
        ..ClientConfig::default()
    })
    .unwrap();
    let r: ImageReference = format!("{addr}/lib/app:1.0.0").parse_with_default();
    let desc = Descriptor::new(
        "application/wasm",
        Digest::sha256_of(&blob),
        blob.len() as u64,
    );
    let pulled = client.pull_blob_bytes(&r, &desc, 1024).await.unwrap();
    assert_eq!(pulled, blob);
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen, vec![None], "the object store saw no credentials");
}

trait ParseWithDefault {
    fn parse_with_default(&self) -> ImageReference;
}

impl ParseWithDefault for String {
    fn parse_with_default(&self) -> ImageReference {
        ImageReference::parse(self, None).unwrap()
    }
}
