//! The registry as an attacker sees it. Under an auth configuration that hides
//! repositories, every `/v2/` route is tried with percent-encoded, double-encoded and
//! case-varied names, as anonymous and as a user without the permission: no such request
//! may succeed, reveal whether a hidden repository exists, or change anything. Also:
//! concurrent writers on one upload session, the token endpoint as an exchange, a token
//! whose user was removed, catalog probing with `last=`, challenges for mounts, descriptor
//! sizes that lie, and a full disk under the metadata database.

use crate::harness::{TestApp, digest, htpasswd};

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const SECRET: &str = "a-test-secret-of-some-length";

fn auth_config(htpasswd: &std::path::Path, extra: &str) -> String {
    format!(
        r#"
        [auth]
        htpasswd = {htpasswd:?}
        token-secret = "{SECRET}"
        {extra}
        [[auth.rules]]
        prefix = "public"
        anonymous = ["pull"]
        users = {{ "*" = ["pull"] }}
        [[auth.rules]]
        prefix = "private"
        users = {{ alice = ["pull", "push", "delete"] }}
        [[auth.rules]]
        prefix = "alice"
        users = {{ alice = ["pull", "push", "delete"] }}
        [[auth.rules]]
        prefix = "bob"
        users = {{ bob = ["pull", "push", "delete"] }}
        [[auth.rules]]
        prefix = "mallory"
        users = {{ mallory = ["pull", "push", "delete"] }}
        "#
    )
}

async fn start_in(dir: tempfile::TempDir, users: &[(&str, &str)], extra: &str) -> TestApp {
    let path = dir.path().join("htpasswd");
    std::fs::write(&path, htpasswd(users)).unwrap();
    TestApp::from_toml(dir, &auth_config(&path, extra)).await
}

const USERS: &[(&str, &str)] = &[
    ("alice", "alice-pw"),
    ("bob", "bob-pw"),
    ("mallory", "mallory-pw"),
];

async fn start() -> TestApp {
    start_in(tempfile::tempdir().unwrap(), USERS, "").await
}

impl TestApp {
    /// A request to `url` (full, or a path on this server) with alice's credentials.
    fn as_alice(&self, method: Method, url: impl AsRef<str>) -> reqwest::RequestBuilder {
        let url = url.as_ref();
        let url = if url.starts_with("http") {
            url.to_owned()
        } else {
            self.url(url)
        };
        self.http
            .request(method, url)
            .basic_auth("alice", Some("alice-pw"))
    }

    /// Push a blob and a manifest referencing it as `user`; returns the manifest digest.
    async fn seed(&self, user: (&str, &str), repo: &str, tag: &str, content: &[u8]) -> String {
        let r = self
            .http
            .post(self.url(&format!(
                "/v2/{repo}/blobs/uploads/?digest={}",
                digest(content)
            )))
            .basic_auth(user.0, Some(user.1))
            .body(content.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED, "seeding {repo}");
        let manifest = manifest_of(content, content.len() as u64);
        let r = self
            .http
            .put(self.url(&format!("/v2/{repo}/manifests/{tag}")))
            .basic_auth(user.0, Some(user.1))
            .header("content-type", "application/vnd.oci.image.manifest.v1+json")
            .body(manifest.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED, "seeding {repo}");
        digest(&manifest)
    }

    async fn manifest_digest(&self, repo: &str, tag: &str) -> Option<String> {
        let r = self
            .http
            .head(self.url(&format!("/v2/{repo}/manifests/{tag}")))
            .basic_auth("alice", Some("alice-pw"))
            .send()
            .await
            .unwrap();
        (r.status() == StatusCode::OK).then(|| {
            r.headers()["docker-content-digest"]
                .to_str()
                .unwrap()
                .to_owned()
        })
    }
}

/// An OCI manifest whose config and only layer are `blob`, claiming `size` bytes.
fn manifest_of(blob: &[u8], size: u64) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": { "mediaType": "application/vnd.example.config", "digest": digest(blob), "size": size },
        "layers": [{ "mediaType": "application/vnd.example.layer", "digest": digest(blob), "size": size }]
    }))
    .unwrap()
}

/// A small deterministic generator (xorshift), so failures replay.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Ways of writing repository `name` in a path that decode (once or more) to it or to a
/// case variant of it.
fn variants(name: &str, rng: &mut Rng) -> Vec<String> {
    let enc = |c: char, upper: bool| {
        if upper {
            format!("%{:02X}", c as u32)
        } else {
            format!("%{:02x}", c as u32)
        }
    };
    let mut out = vec![
        name.chars().map(|c| enc(c, true)).collect::<String>(),
        name.chars()
            .map(|c| format!("%25{:02x}", c as u32))
            .collect::<String>(),
        name.to_uppercase(),
        name.replace('/', "%2F"),
        name.replace('/', "%2f"),
        format!("{name}%00"),
        format!("./{name}"),
        format!("{name}/."),
        format!("x/../{name}"),
    ];
    for _ in 0..12 {
        let s: String = name
            .chars()
            .map(|c| match rng.next() % 4 {
                0 => enc(c, true),
                1 => enc(c, false),
                2 => format!("%25{:02X}", c as u32),
                _ => c.to_string(),
            })
            .collect();
        out.push(s);
        // case-varied, with one encoded character
        let i = (rng.next() as usize) % name.len();
        let mut s: String = name
            .char_indices()
            .map(|(j, c)| if j == i { enc(c, false) } else { c.to_string() })
            .collect();
        if rng.next().is_multiple_of(2) {
            s = s.to_uppercase();
        }
        out.push(s);
    }
    out
}

#[derive(Clone, Copy, Debug)]
enum Who {
    Anonymous,
    Mallory,
}

/// Every `/v2/` request an attacker could make on repository path `name` (as written).
fn requests(s: &TestApp, name: &str, blob: &str, manifest: &str) -> Vec<reqwest::RequestBuilder> {
    let body = manifest_of(b"mallory's layer", 15);
    vec![
        s.http.get(s.url(&format!("/v2/{name}/tags/list"))),
        s.http.get(s.url(&format!("/v2/{name}/manifests/v1"))),
        s.http.head(s.url(&format!("/v2/{name}/manifests/v1"))),
        s.http
            .get(s.url(&format!("/v2/{name}/manifests/{manifest}"))),
        s.http.get(s.url(&format!("/v2/{name}/blobs/{blob}"))),
        s.http.head(s.url(&format!("/v2/{name}/blobs/{blob}"))),
        s.http
            .get(s.url(&format!("/v2/{name}/referrers/{manifest}"))),
        s.http
            .put(s.url(&format!("/v2/{name}/manifests/v1")))
            .header("content-type", "application/vnd.oci.image.manifest.v1+json")
            .body(body),
        s.http
            .delete(s.url(&format!("/v2/{name}/manifests/{manifest}"))),
        s.http.delete(s.url(&format!("/v2/{name}/manifests/v1"))),
        s.http.delete(s.url(&format!("/v2/{name}/blobs/{blob}"))),
        s.http.post(s.url(&format!("/v2/{name}/blobs/uploads/"))),
        s.http
            .post(s.url(&format!(
                "/v2/{name}/blobs/uploads/?digest={}",
                digest(b"x")
            )))
            .body("x"),
        // mount into mallory's own repository from the hidden one
        s.http.post(s.url(&format!(
            "/v2/mallory/loot/blobs/uploads/?mount={blob}&from={}",
            name
        ))),
    ]
}

#[tokio::test(flavor = "multi_thread")]
async fn encoded_names_reveal_nothing_and_change_nothing() {
    let s = start().await;
    let layer = b"alice's secret layer".to_vec();
    let private = s
        .seed(("alice", "alice-pw"), "private/secret", "v1", &layer)
        .await;
    let alice = s
        .seed(("alice", "alice-pw"), "alice/app", "v1", &layer)
        .await;
    let bob = s
        .seed(("bob", "bob-pw"), "bob/app", "v1", b"bob's layer")
        .await;
    let blob = digest(&layer);
    let mut rng = Rng(0x5eed_1234_abcd_0001);

    let mut tried = 0;
    for (target, manifest) in [
        ("private/secret", &private),
        ("alice/app", &alice),
        ("bob/app", &bob),
    ] {
        let bob_blob = digest(b"bob's layer");
        let blob = if target == "bob/app" {
            &bob_blob
        } else {
            &blob
        };
        for name in variants(target, &mut rng) {
            for who in [Who::Anonymous, Who::Mallory] {
                for rb in requests(&s, &name, blob, manifest) {
                    let rb = match who {
                        Who::Anonymous => rb,
                        Who::Mallory => rb.basic_auth("mallory", Some("mallory-pw")),
                    };
                    let req = rb.build().unwrap();
                    let what = format!("{who:?} {} {}", req.method(), req.url());
                    let r = s.http.execute(req).await.unwrap();
                    let status = r.status();
                    tried += 1;
                    assert!(
                        matches!(status.as_u16(), 400 | 401 | 403 | 404 | 405),
                        "{what} answered {status}"
                    );
                    let text = r.text().await.unwrap();
                    assert!(
                        !text.contains("secret layer") && !text.contains("\"tags\""),
                        "{what} revealed content: {text}"
                    );
                }
            }
        }
    }
    assert!(tried > 1000, "only {tried} requests tried");

    // nothing changed
    assert_eq!(
        s.manifest_digest("alice/app", "v1").await.as_ref(),
        Some(&alice)
    );
    assert_eq!(
        s.manifest_digest("private/secret", "v1").await.as_ref(),
        Some(&private)
    );
    let r = s
        .http
        .head(s.url("/v2/bob/app/manifests/v1"))
        .basic_auth("bob", Some("bob-pw"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "bob's manifest is still there");
    let r = s
        .http
        .head(s.url(&format!("/v2/mallory/loot/blobs/{blob}")))
        .basic_auth("mallory", Some("mallory-pw"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND, "no blob was mounted");
}

#[tokio::test(flavor = "multi_thread")]
async fn hidden_and_missing_repositories_answer_alike() {
    let s = start().await;
    s.seed(("alice", "alice-pw"), "private/secret", "v1", b"layer")
        .await;
    for who in [Who::Anonymous, Who::Mallory] {
        for path in ["tags/list", "manifests/v1", "blobs/uploads/"] {
            let mut answers = Vec::new();
            for repo in ["private/secret", "private/nothere", "%70rivate/secret"] {
                let url = s.url(&format!("/v2/{repo}/{path}"));
                let rb = if path.starts_with("blobs") {
                    s.http.post(url)
                } else {
                    s.http.get(url)
                };
                let rb = match who {
                    Who::Anonymous => rb,
                    Who::Mallory => rb.basic_auth("mallory", Some("mallory-pw")),
                };
                let r = rb.send().await.unwrap();
                let status = r.status();
                let body = r.text().await.unwrap().replace("nothere", "secret");
                answers.push((status, body));
            }
            assert!(
                answers.windows(2).all(|w| w[0] == w[1]),
                "{who:?} {path}: {answers:?}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_patches_never_commit_other_bytes() {
    let s = start().await;
    for round in 0..6u8 {
        let a: Vec<u8> = vec![b'A' + round; 64 * 1024];
        let b: Vec<u8> = vec![b'a' + round; 64 * 1024];
        let r = s
            .as_alice(Method::POST, "/v2/alice/race/blobs/uploads/")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::ACCEPTED);
        let location = s.url(r.headers()["location"].to_str().unwrap());
        // two writers, each dripping its body in chunks so the requests overlap
        let patch = |content: Vec<u8>| {
            let stream = futures_util::stream::unfold(0usize, move |i| {
                let content = content.clone();
                async move {
                    if i >= 4 {
                        return None;
                    }
                    tokio::time::sleep(Duration::from_millis(40)).await;
                    let part = content[i * 16 * 1024..(i + 1) * 16 * 1024].to_vec();
                    Some((Ok::<_, std::io::Error>(part), i + 1))
                }
            });
            s.as_alice(Method::PATCH, &location)
                .header("content-type", "application/octet-stream")
                .header("content-range", format!("0-{}", 64 * 1024 - 1))
                .body(reqwest::Body::wrap_stream(stream))
                .send()
        };
        let (ra, rb) = tokio::join!(patch(a.clone()), patch(b.clone()));
        let accepted = [&ra, &rb]
            .iter()
            .filter(|r| matches!(r, Ok(r) if r.status() == StatusCode::ACCEPTED))
            .count();
        assert_eq!(
            accepted, 1,
            "round {round}: exactly one writer wins: {ra:?} {rb:?}"
        );
        for loser in [&ra, &rb] {
            if let Ok(r) = loser
                && r.status() != StatusCode::ACCEPTED
            {
                assert_eq!(r.status(), StatusCode::RANGE_NOT_SATISFIABLE);
            }
        }
        // closing with A's digest succeeds only if the session holds A's bytes, and then
        // the blob served under A's digest is A
        let r = s
            .as_alice(Method::PUT, format!("{location}?digest={}", digest(&a)))
            .send()
            .await
            .unwrap();
        let a_won = matches!(&ra, Ok(r) if r.status() == StatusCode::ACCEPTED);
        if a_won {
            assert_eq!(r.status(), StatusCode::CREATED, "round {round}");
            let got = s
                .as_alice(Method::GET, format!("/v2/alice/race/blobs/{}", digest(&a)))
                .send()
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap();
            assert!(
                got.as_ref() == a.as_slice(),
                "round {round}: served other bytes"
            );
        } else {
            assert_eq!(r.status(), StatusCode::BAD_REQUEST, "round {round}");
            let r = s
                .as_alice(Method::HEAD, format!("/v2/alice/race/blobs/{}", digest(&a)))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::NOT_FOUND, "round {round}");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn chunk_ranges_are_checked_on_patch_and_put() {
    let s = start().await;
    let start = || async {
        let r = s
            .as_alice(Method::POST, "/v2/alice/chunks/blobs/uploads/")
            .send()
            .await
            .unwrap();
        s.url(r.headers()["location"].to_str().unwrap())
    };
    let location = start().await;
    // a Content-Range whose end does not match the body is refused, and nothing is kept
    let r = s
        .as_alice(Method::PATCH, &location)
        .header("content-range", "0-99")
        .body(vec![1u8; 10])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = s.as_alice(Method::GET, &location).send().await.unwrap();
    assert_eq!(r.headers()["range"], "0-0");
    let r = s
        .as_alice(Method::PATCH, &location)
        .header("content-range", "0-9")
        .body(vec![1u8; 10])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    // an out-of-order final chunk on the closing PUT: 416 with the current range
    let mut content = vec![1u8; 10];
    content.extend([2u8; 5]);
    let r = s
        .as_alice(
            Method::PUT,
            format!("{location}?digest={}", digest(&content)),
        )
        .header("content-range", "12-16")
        .body(vec![2u8; 5])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(r.headers()["range"], "0-9");
    let r = s
        .as_alice(
            Method::PUT,
            format!("{location}?digest={}", digest(&content)),
        )
        .header("content-range", "10-14")
        .body(vec![2u8; 5])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    // `?digest-algorithm=`: sha512 sessions work, unknown algorithms are a 400
    let r = s
        .as_alice(
            Method::POST,
            "/v2/alice/chunks/blobs/uploads/?digest-algorithm=md5",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = s
        .as_alice(
            Method::POST,
            "/v2/alice/chunks/blobs/uploads/?digest-algorithm=sha512",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let location = s.url(r.headers()["location"].to_str().unwrap());
    let sha512 = {
        use sha2::Digest as _;
        format!("sha512:{}", hex::encode(sha2::Sha512::digest(b"hello")))
    };
    let r = s
        .as_alice(Method::PUT, format!("{location}?digest={sha512}"))
        .body("hello")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = s
        .as_alice(Method::GET, format!("/v2/alice/chunks/blobs/{sha512}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["docker-content-digest"], sha512.as_str());
    assert_eq!(r.bytes().await.unwrap().as_ref(), b"hello");
}

async fn token(
    s: &TestApp,
    auth: Option<&str>,
    basic: Option<(&str, &str)>,
    scope: &str,
) -> reqwest::Response {
    let mut rb = s
        .http
        .get(s.url(&format!("/token?service=wharf-registry&scope={scope}")));
    if let Some(a) = auth {
        rb = rb.bearer_auth(a);
    }
    if let Some((u, p)) = basic {
        rb = rb.basic_auth(u, Some(p));
    }
    rb.send().await.unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn tokens_are_minted_only_from_passwords() {
    let s = start().await;
    s.seed(("alice", "alice-pw"), "alice/app", "v1", b"layer")
        .await;
    let r = token(
        &s,
        None,
        Some(("alice", "alice-pw")),
        "repository:alice/app:pull",
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let pull_only = r.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    // exchanging the pull-only token for more is refused
    let r = token(
        &s,
        Some(&pull_only),
        None,
        "repository:alice/app:pull,push,delete",
    )
    .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // and the token itself still cannot delete
    let r = s
        .http
        .delete(s.url("/v2/alice/app/manifests/v1"))
        .bearer_auth(&pull_only)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    // an instance sharing the token secret, from whose htpasswd alice was removed,
    // refuses her token
    let other = start_in(tempfile::tempdir().unwrap(), &[("bob", "bob-pw")], "").await;
    let r = other
        .http
        .get(other.url("/v2/alice/app/tags/list"))
        .bearer_auth(&pull_only)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // while the same token works where alice exists
    let r = s
        .http
        .get(s.url("/v2/alice/app/tags/list"))
        .bearer_auth(&pull_only)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread")]
async fn password_guessing_is_limited_and_timing_says_nothing() {
    let s = start_in(
        tempfile::tempdir().unwrap(),
        USERS,
        "max-failed-logins = 5\nfailed-login-window-secs = 60",
    )
    .await;
    let mut statuses = Vec::new();
    for i in 0..8 {
        let r = s
            .http
            .get(s.url("/v2/alice/app/tags/list"))
            .basic_auth("alice", Some(format!("guess-{i}")))
            .send()
            .await
            .unwrap();
        statuses.push(r.status().as_u16());
        if r.status() == StatusCode::TOO_MANY_REQUESTS {
            assert!(r.headers().contains_key("retry-after"));
        }
    }
    assert_eq!(statuses, [401, 401, 401, 401, 401, 429, 429, 429]);
    // the right password is refused too while the address is locked out
    let r = s
        .http
        .get(s.url("/v2/alice/app/tags/list"))
        .basic_auth("alice", Some("alice-pw"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);

    // unknown users cost a bcrypt check as known ones do (same cost, 4, in this file)
    let fresh = start().await;
    let time = |user: &'static str| {
        let fresh = &fresh;
        async move {
            let mut best = Duration::MAX;
            for _ in 0..4 {
                let t = std::time::Instant::now();
                fresh
                    .http
                    .get(fresh.url("/v2/alice/app/tags/list"))
                    .basic_auth(user, Some("wrong"))
                    .send()
                    .await
                    .unwrap();
                best = best.min(t.elapsed());
            }
            best
        }
    };
    let (known, unknown) = (time("alice").await, time("nobody").await);
    // before the dummy hash an unknown user answered about 7x faster than a known one
    assert!(
        unknown * 3 >= known,
        "an unknown user answers in {unknown:?}, a known one in {known:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn catalog_pages_filter_before_paging() {
    // seeded without auth, then served with it: visible to mallory are public/*; the
    // hidden private/* names interleave with them
    let dir = tempfile::tempdir().unwrap();
    let open = {
        let mut config = wharf_registry::Config::resolve(Default::default(), Default::default());
        config.data_dir = dir.path().join("data");
        config.gc_interval = Duration::ZERO;
        let state = wharf_registry::open(config).await.unwrap();
        crate::harness::serve(state).await
    };
    let http = reqwest::Client::new();
    for repo in [
        "alice/x",
        "bob/y",
        "mallory/a",
        "private/z",
        "public/a",
        "public/c",
    ] {
        let content = repo.as_bytes();
        let r = http
            .post(format!(
                "{open}/v2/{repo}/blobs/uploads/?digest={}",
                digest(content)
            ))
            .body(content.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        let r = http
            .put(format!("{open}/v2/{repo}/manifests/v1"))
            .header("content-type", "application/vnd.oci.image.manifest.v1+json")
            .body(manifest_of(content, content.len() as u64))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
    }
    // now the same data directory behind auth
    let path = dir.path().join("htpasswd");
    std::fs::write(&path, htpasswd(USERS)).unwrap();
    let file: wharf_registry::config::FileConfig = toml::from_str(&auth_config(&path, "")).unwrap();
    let mut config = wharf_registry::Config::resolve(file, Default::default());
    config.data_dir = dir.path().join("data");
    config.gc_interval = Duration::ZERO;
    let state = wharf_registry::open(config).await.unwrap();
    let base = crate::harness::serve(state).await;

    let mut seen = Vec::new();
    let mut url = format!("{base}/v2/_catalog?n=1");
    for _ in 0..10 {
        let r = http
            .get(&url)
            .basic_auth("mallory", Some("mallory-pw"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let link = r
            .headers()
            .get("link")
            .map(|l| l.to_str().unwrap().to_owned());
        let page: Value = r.json().await.unwrap();
        let repos = page["repositories"].as_array().unwrap().clone();
        assert_eq!(repos.len(), 1, "every page holds one visible name: {page}");
        seen.push(repos[0].as_str().unwrap().to_owned());
        match link {
            Some(l) => {
                let path = l.trim_start_matches('<').split('>').next().unwrap();
                url = format!("{base}{path}");
            }
            None => break,
        }
    }
    assert_eq!(seen, ["mallory/a", "public/a", "public/c"]);
    // probing around hidden names gives the same page as from the visible one before
    for last in ["mallory/a", "n", "private/a", "private/z", "private/zz"] {
        let r: Value = http
            .get(format!("{base}/v2/_catalog?n=1&last={last}"))
            .basic_auth("mallory", Some("mallory-pw"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(r["repositories"], json!(["public/a"]), "last={last}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn mount_challenges_name_every_scope() {
    let s = start().await;
    let blob = digest(b"x");
    let r = s
        .http
        .post(s.url(&format!(
            "/v2/mallory/app/blobs/uploads/?mount={blob}&from=public/lib"
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let challenge = r.headers()["www-authenticate"].to_str().unwrap();
    assert!(
        challenge
            .contains(r#"scope="repository:mallory/app:pull,push repository:public/lib:pull""#),
        "{challenge}"
    );
    // a mount source that is no repository name is refused, not authorised as text
    let r = s
        .http
        .post(s.url(&format!(
            "/v2/mallory/app/blobs/uploads/?mount={blob}&from=Private/..%2fsecret"
        )))
        .basic_auth("mallory", Some("mallory-pw"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test(flavor = "multi_thread")]
async fn descriptor_sizes_must_match_and_invalid_tags_are_unknown() {
    let s = start().await;
    let user = ("alice", "alice-pw");
    let blob = b"twelve bytes".to_vec();
    s.seed(user, "alice/sizes", "v1", &blob).await;
    for size in [0, 11, 13, 1 << 40] {
        let r = s
            .as_alice(Method::PUT, "/v2/alice/sizes/manifests/lie")
            .header("content-type", "application/vnd.oci.image.manifest.v1+json")
            .body(manifest_of(&blob, size))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "size {size}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["errors"][0]["code"], "MANIFEST_INVALID");
    }
    // a Wasm artifact claiming a huge layer is not stored unvalidated
    let wasm_manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": { "mediaType": "application/vnd.wasm.config.v0+json", "digest": digest(&blob), "size": 12 },
        "layers": [{ "mediaType": "application/wasm", "digest": digest(&blob), "size": 4_000_000_000u64 }]
    }))
    .unwrap();
    let r = s
        .as_alice(Method::PUT, "/v2/alice/sizes/manifests/wasm")
        .header("content-type", "application/vnd.oci.image.manifest.v1+json")
        .body(wasm_manifest)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_client_error(), "{}", r.status());
    // non-distributable layers are accepted without their blob
    let foreign = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": { "mediaType": "application/vnd.example.config", "digest": digest(&blob), "size": 12 },
        "layers": [{
            "mediaType": "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
            "digest": digest(b"never pushed"), "size": 12,
            "urls": ["https://example.invalid/layer"]
        }]
    }))
    .unwrap();
    let r = s
        .as_alice(Method::PUT, "/v2/alice/sizes/manifests/foreign")
        .header("content-type", "application/vnd.oci.image.manifest.v1+json")
        .body(foreign)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = s
        .as_alice(
            Method::GET,
            format!("/v2/alice/sizes/blobs/{}", digest(b"never pushed")),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND, "and never served");
    // reading a manifest by an invalid tag is 404 MANIFEST_UNKNOWN; pushing one is TAG_INVALID
    for method in [reqwest::Method::GET, reqwest::Method::HEAD] {
        let r = s
            .http
            .request(method.clone(), s.url("/v2/alice/sizes/manifests/-bad-tag"))
            .basic_auth(user.0, Some(user.1))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{method}");
    }
    let r = s
        .as_alice(Method::PUT, "/v2/alice/sizes/manifests/-bad-tag")
        .header("content-type", "application/vnd.oci.image.manifest.v1+json")
        .body(manifest_of(&blob, 12))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["errors"][0]["code"], "TAG_INVALID");
}

/// A tmpfs of `size` mounted for the life of the value (root only).
struct SmallDisk {
    path: std::path::PathBuf,
}

impl SmallDisk {
    fn mount(path: &std::path::Path, size: &str) -> Option<SmallDisk> {
        std::fs::create_dir_all(path).ok()?;
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(path)
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| SmallDisk {
            path: path.to_owned(),
        })
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.path)
            .status();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_disk_under_the_database_heals_when_space_returns() {
    let dir = tempfile::tempdir().unwrap();
    let mountpoint = dir.path().join("disk");
    let Some(_disk) = SmallDisk::mount(&mountpoint, "4m") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must be able to mount a small tmpfs (the test runs as root there)"
        );
        eprintln!("skipped: cannot mount a tmpfs here (not root?)");
        return;
    };
    let mut config = wharf_registry::Config::resolve(Default::default(), Default::default());
    config.data_dir = mountpoint.join("data");
    config.gc_interval = Duration::ZERO;
    let state = wharf_registry::open(config).await.unwrap();
    let base = crate::harness::serve(state).await;
    let http = reqwest::Client::new();
    let push = |i: u32| {
        let http = http.clone();
        let base = base.clone();
        async move {
            let content = format!("blob number {i}").into_bytes();
            let r = http
                .post(format!(
                    "{base}/v2/disk/app/blobs/uploads/?digest={}",
                    digest(&content)
                ))
                .body(content.clone())
                .send()
                .await
                .unwrap();
            if r.status() != StatusCode::CREATED {
                return r.status();
            }
            http.put(format!("{base}/v2/disk/app/manifests/v{i}"))
                .header("content-type", "application/vnd.oci.image.manifest.v1+json")
                .body(manifest_of(&content, content.len() as u64))
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(push(0).await, StatusCode::CREATED);
    // fill the disk to the last byte
    let filler = mountpoint.join("filler");
    {
        use std::io::Write as _;
        let mut f = std::fs::File::create(&filler).unwrap();
        let chunk = vec![0u8; 64 * 1024];
        while f.write_all(&chunk).is_ok() {}
        let small = [0u8; 512];
        while f.write_all(&small).is_ok() {}
        let _ = f.sync_all();
    }
    let mut failed = 0;
    for i in 1..40 {
        let status = push(i).await;
        assert!(status != StatusCode::CREATED || i < 40, "{status}");
        if status.is_server_error() {
            failed += 1;
        }
    }
    assert!(
        failed > 0,
        "the disk was not full enough to make a push fail"
    );
    let ready = http.get(format!("{base}/readyz")).send().await.unwrap();
    assert_eq!(
        ready.status(),
        StatusCode::SERVICE_UNAVAILABLE,
        "readiness reports a database that cannot write"
    );
    // free the space: pushes work again without a restart
    std::fs::remove_file(&filler).unwrap();
    for i in 100..130 {
        assert_eq!(
            push(i).await,
            StatusCode::CREATED,
            "push {i} after space returned"
        );
    }
    let ready = http.get(format!("{base}/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
}
