//! Authentication and permissions over real HTTP: Basic, the bearer-token flow, anonymous
//! pull per prefix, 401 vs 403, and answers that reveal nothing about hidden repositories.

use crate::harness::{TestApp, digest, htpasswd};

use reqwest::StatusCode;
use serde_json::{Value, json};

async fn start() -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("htpasswd");
    std::fs::write(&path, htpasswd(&[("alice", "s3cret"), ("bob", "hunter2")])).unwrap();
    TestApp::from_toml(
        dir,
        &format!(
            r#"
        [auth]
        htpasswd = {path:?}
        token-secret = "a-test-secret-of-some-length"
        [[auth.rules]]
        prefix = "public"
        anonymous = ["pull"]
        users = {{ "*" = ["pull", "push"] }}
        [[auth.rules]]
        prefix = "team"
        users = {{ alice = ["pull", "push", "delete"] }}
        "#
        ),
    )
    .await
}

impl TestApp {
    async fn token(&self, user: Option<(&str, &str)>, scope: &str) -> reqwest::Response {
        let mut rb = self
            .http
            .get(self.url(&format!("/token?service=wharf-registry&scope={scope}")));
        if let Some((u, p)) = user {
            rb = rb.basic_auth(u, Some(p));
        }
        rb.send().await.unwrap()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn basic_bearer_anonymous_and_denied() {
    let s = start().await;
    let blob = b"team layer".to_vec();
    let upload = |auth: Option<String>| {
        let mut rb = s
            .http
            .post(s.url(&format!(
                "/v2/team/app/blobs/uploads/?digest={}",
                digest(&blob)
            )))
            .body(blob.clone());
        if let Some(a) = auth {
            rb = rb.header("authorization", a);
        }
        rb
    };

    // anonymous push to team/: 401 with a challenge naming the scope
    let r = upload(None).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let challenge = r.headers()["www-authenticate"].to_str().unwrap().to_owned();
    assert!(
        challenge.starts_with("Bearer realm=\"http://127.0.0.1:"),
        "{challenge}"
    );
    assert!(
        challenge.contains(
            "/token\",service=\"wharf-registry\",scope=\"repository:team/app:pull,push\""
        ),
        "{challenge}"
    );
    assert_eq!(
        r.json::<Value>().await.unwrap()["errors"][0]["code"],
        "UNAUTHORIZED"
    );

    // the token flow: alice asks for pull,push and gets both
    let t: Value = s
        .token(Some(("alice", "s3cret")), "repository:team/app:pull,push")
        .await
        .json()
        .await
        .unwrap();
    let token = t["token"].as_str().unwrap().to_owned();
    assert_eq!(t["access_token"], t["token"]);
    assert!(t["expires_in"].as_u64().unwrap() > 0);
    let r = upload(Some(format!("Bearer {token}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    // the same token does not reach another repository
    let r = s
        .http
        .get(s.url("/v2/team/other/tags/list"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // Basic straight on the API works too
    let r = s
        .http
        .head(s.url(&format!("/v2/team/app/blobs/{}", digest(&blob))))
        .basic_auth("alice", Some("s3cret"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // wrong password: 401, and so is a token request with it
    let r = s
        .http
        .get(s.url("/v2/team/app/tags/list"))
        .basic_auth("alice", Some("nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        s.token(Some(("alice", "nope")), "repository:team/app:pull")
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    // a forged token is refused
    let r = s
        .http
        .get(s.url("/v2/team/app/tags/list"))
        .bearer_auth(format!("{token}x"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    // bob is authenticated but may not touch team/: 403, not 401
    async fn denied(r: reqwest::Response) {
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        assert_eq!(
            r.json::<Value>().await.unwrap()["errors"][0]["code"],
            "DENIED"
        );
    }
    let tags = s.url("/v2/team/app/tags/list");
    denied(
        s.http
            .get(&tags)
            .basic_auth("bob", Some("hunter2"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    // and a token for bob grants nothing there; as bob himself may not, the answer is the
    // same 403 (under the token flow too), not a challenge to fetch another token; a token
    // that lacks a scope its user has is challenged, so the client fetches one
    let token = async |user: (&str, &str), scope: &str| -> String {
        let t: Value = s.token(Some(user), scope).await.json().await.unwrap();
        t["token"].as_str().unwrap().to_owned()
    };
    let bobs = token(("bob", "hunter2"), "repository:team/app:pull,push").await;
    denied(s.http.get(&tags).bearer_auth(&bobs).send().await.unwrap()).await;
    let pull_only = token(("alice", "s3cret"), "repository:team/app:pull").await;
    let r = s
        .http
        .post(s.url("/v2/team/app/blobs/uploads/"))
        .bearer_auth(&pull_only)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(
        r.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("repository:team/app:"),
        "{:?}",
        r.headers()
    );

    // public/: anonymous pull, any user push, nobody deletes
    let pb = b"public layer".to_vec();
    let r = s
        .http
        .post(s.url(&format!(
            "/v2/public/lib/blobs/uploads/?digest={}",
            digest(&pb)
        )))
        .body(pb.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::UNAUTHORIZED,
        "anonymous may not push"
    );
    let r = s
        .http
        .post(s.url(&format!(
            "/v2/public/lib/blobs/uploads/?digest={}",
            digest(&pb)
        )))
        .basic_auth("bob", Some("hunter2"))
        .body(pb.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = s
        .http
        .get(s.url(&format!("/v2/public/lib/blobs/{}", digest(&pb))))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "anonymous pull of public/");
    let r = s
        .http
        .delete(s.url(&format!("/v2/public/lib/blobs/{}", digest(&pb))))
        .basic_auth("bob", Some("hunter2"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // a mount needs pull on the source
    let r = s
        .http
        .post(s.url(&format!(
            "/v2/public/lib/blobs/uploads/?mount={}&from=team/app",
            digest(&blob)
        )))
        .basic_auth("bob", Some("hunter2"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}

#[tokio::test(flavor = "multi_thread")]
async fn hidden_repositories_look_the_same_whether_they_exist_or_not() {
    let s = start().await;
    // make team/real exist
    let cfg = b"{}".to_vec();
    let r = s
        .http
        .post(s.url(&format!(
            "/v2/team/real/blobs/uploads/?digest={}",
            digest(&cfg)
        )))
        .basic_auth("alice", Some("s3cret"))
        .body(cfg.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let m = json!({"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":digest(&cfg),"size":2},"layers":[]});
    let r = s
        .http
        .put(s.url("/v2/team/real/manifests/v1"))
        .basic_auth("alice", Some("s3cret"))
        .header("content-type", "application/vnd.oci.image.manifest.v1+json")
        .body(serde_json::to_vec(&m).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    for who in [None, Some(("bob", "hunter2"))] {
        let mut answers = Vec::new();
        for repo in ["team/real", "team/imaginary"] {
            let mut rb = s.http.get(s.url(&format!("/v2/{repo}/manifests/v1")));
            if let Some((u, p)) = who {
                rb = rb.basic_auth(u, Some(p));
            }
            let r = rb.send().await.unwrap();
            let status = r.status();
            let body = r.text().await.unwrap().replace(repo, "<repo>");
            answers.push((status, body));
        }
        assert_eq!(
            answers[0], answers[1],
            "{who:?} can tell a hidden repository exists"
        );
    }
    // the catalog lists only what the client may pull
    let pb = b"p".to_vec();
    let r = s
        .http
        .post(s.url(&format!(
            "/v2/public/x/blobs/uploads/?digest={}",
            digest(&pb)
        )))
        .basic_auth("bob", Some("hunter2"))
        .body(pb.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let pm = json!({"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":digest(&pb),"size":1},"layers":[]});
    let r = s
        .http
        .put(s.url("/v2/public/x/manifests/v1"))
        .basic_auth("bob", Some("hunter2"))
        .header("content-type", "application/vnd.oci.image.manifest.v1+json")
        .body(serde_json::to_vec(&pm).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let bob: Value = s
        .http
        .get(s.url("/v2/_catalog"))
        .basic_auth("bob", Some("hunter2"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(bob["repositories"], json!(["public/x"]));
    let alice: Value = s
        .http
        .get(s.url("/v2/_catalog"))
        .basic_auth("alice", Some("s3cret"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(alice["repositories"], json!(["public/x", "team/real"]));
    // `/v2/` without credentials: a challenge (the root is not open here)
    let r = s.http.get(s.url("/v2/")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = s
        .http
        .get(s.url("/v2/"))
        .basic_auth("bob", Some("hunter2"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

/// `application/x-www-form-urlencoded` of `fields`.
fn form_body(fields: &[(&str, String)]) -> String {
    let mut f = form_urlencoded::Serializer::new(String::new());
    for (k, v) in fields {
        f.append_pair(k, v);
    }
    f.finish()
}

/// Push a small artifact to `repo:tag` as `user`.
async fn push_as(s: &TestApp, user: (&str, &str), repo: &str, tag: &str) {
    let basic = |rb: reqwest::RequestBuilder| rb.basic_auth(user.0, Some(user.1));
    for blob in [&b"{}"[..], &b"private bytes"[..]] {
        let r = basic(s.http.post(s.url(&format!(
            "/v2/{repo}/blobs/uploads/?digest={}",
            digest(blob)
        ))))
        .body(blob.to_vec())
        .send()
        .await
        .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
    }
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "artifactType": "application/vnd.example.secret",
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": digest(b"{}"), "size": 2},
        "layers": [{"mediaType": "text/plain", "digest": digest(b"private bytes"), "size": 13}],
    });
    let r = basic(s.http.put(s.url(&format!("/v2/{repo}/manifests/{tag}"))))
        .header("content-type", "application/vnd.oci.image.manifest.v1+json")
        .body(serde_json::to_vec(&manifest).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
}

/// The web UI's sign-in, attacked: the session shows private packages on pages and the
/// catalog API and nothing more (not on `/v2/`, not for writes, not as a bearer token, not
/// at `/token`); the form needs its CSRF cookie repeated and a same origin; wrong passwords
/// count toward the failed-login limit; `next` never leaves the site; a tampered or
/// signed-out session is anonymous.
#[tokio::test(flavor = "multi_thread")]
async fn web_sessions_read_pages_and_nothing_else() {
    let s = start().await;
    push_as(&s, ("alice", "s3cret"), "team/secret", "1.0.0").await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let hidden = s.url("/api/v1/packages/team/secret");
    assert_eq!(
        http.get(&hidden).send().await.unwrap().status(),
        StatusCode::NOT_FOUND
    );

    // the form sets the CSRF cookie
    let form = http
        .get(s.url("/login?next=/packages/team/secret"))
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), StatusCode::OK);
    let set: Vec<String> = form
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    let csrf_cookie = set.iter().find(|c| c.starts_with("wharf_csrf=")).unwrap();
    assert!(
        csrf_cookie.contains("HttpOnly") && csrf_cookie.contains("SameSite=Strict"),
        "{csrf_cookie}"
    );
    let csrf = csrf_cookie["wharf_csrf=".len()..]
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let login = |cookie: Option<String>,
                 fields: Vec<(&'static str, String)>,
                 origin: Option<&'static str>| {
        let mut rb = http
            .post(s.url("/login"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form_body(&fields));
        if let Some(c) = cookie {
            rb = rb.header("cookie", c);
        }
        if let Some(o) = origin {
            rb = rb.header("origin", o);
        }
        rb.send()
    };
    let fields = |user: &str, password: &str, csrf: &str, next: &str| {
        vec![
            ("user", user.to_owned()),
            ("password", password.to_owned()),
            ("csrf", csrf.to_owned()),
            ("next", next.to_owned()),
        ]
    };
    let with_csrf = Some(format!("wharf_csrf={csrf}"));
    // no CSRF cookie, a mismatched value, another origin: refused before the password
    for (cookie, f, origin) in [
        (None, fields("alice", "s3cret", &csrf, "/"), None),
        (
            with_csrf.clone(),
            fields("alice", "s3cret", "forged", "/"),
            None,
        ),
        (
            with_csrf.clone(),
            fields("alice", "s3cret", &csrf, "/"),
            Some("http://evil.example"),
        ),
    ] {
        let r = login(cookie, f, origin).await.unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        assert!(
            r.headers()
                .get("set-cookie")
                .is_none_or(|c| !c.to_str().unwrap().starts_with("wharf_session"))
        );
    }
    // a wrong password and an unknown user: the same 401 page
    for (u, p) in [("alice", "wrong"), ("mallory", "s3cret")] {
        let r = login(with_csrf.clone(), fields(u, p, &csrf, "/"), None)
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert!(
            r.text()
                .await
                .unwrap()
                .contains("Wrong user name or password.")
        );
    }
    // signed in: back where asked, never to another site
    let r = login(
        with_csrf.clone(),
        fields("alice", "s3cret", &csrf, "//evil.example/x"),
        Some("ORIGIN"),
    )
    .await
    .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::FORBIDDEN,
        "an Origin that is not this host"
    );
    let r = login(
        with_csrf.clone(),
        fields("alice", "s3cret", &csrf, "//evil.example/x"),
        None,
    )
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], "/");
    let session_cookie = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        session_cookie.contains("HttpOnly")
            && session_cookie.contains("SameSite=Lax")
            && !session_cookie.contains("Secure"),
        "{session_cookie}"
    );
    let session = session_cookie["wharf_session=".len()..]
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let cookie = format!("wharf_session={session}; wharf_csrf={csrf}");

    // pages and the catalog API see the private package, and the page says who is in
    let r = http
        .get(&hidden)
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let page = http
        .get(s.url("/packages/team/secret"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(
        html.contains("Signed in as <strong>alice</strong>") && html.contains("action=\"/logout\""),
        "{html}"
    );

    // … and nothing else: not /v2/ reads or writes, not as a bearer token, not at /token
    let manifest = s.url("/v2/team/secret/manifests/1.0.0");
    let r = http
        .get(&manifest)
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = http
        .delete(&manifest)
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = http
        .get(&manifest)
        .bearer_auth(&session)
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::UNAUTHORIZED,
        "a session is not a bearer token"
    );
    let r = http
        .get(s.url("/token?service=wharf-registry&scope=repository:team/secret:pull"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    let token: Value = r.json().await.unwrap();
    let granted = http
        .get(&manifest)
        .bearer_auth(token["token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(
        granted.status(),
        StatusCode::UNAUTHORIZED,
        "the cookie minted an anonymous token only"
    );
    // a bearer token is not a session
    let t: Value = s
        .token(Some(("alice", "s3cret")), "repository:team/secret:pull")
        .await
        .json()
        .await
        .unwrap();
    let r = http
        .get(&hidden)
        .header(
            "cookie",
            format!("wharf_session={}", t["token"].as_str().unwrap()),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    // a tampered session is anonymous
    let mut tampered = session.clone().into_bytes();
    let i = tampered.len() / 2;
    tampered[i] = if tampered[i] == b'A' { b'B' } else { b'A' };
    let r = http
        .get(&hidden)
        .header(
            "cookie",
            format!("wharf_session={}", String::from_utf8(tampered).unwrap()),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    // signing out needs the CSRF value too, then clears the cookie
    let r = http
        .post(s.url("/logout"))
        .header("cookie", &cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form_body(&[("csrf", "forged".to_owned())]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = http
        .post(s.url("/logout"))
        .header("cookie", &cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form_body(&[("csrf", csrf.clone())]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(
        r.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .starts_with("wharf_session=;")
    );
}

/// A bearer token lists what anyone may pull and what it names, not everything its user
/// may pull: in `_catalog`, the catalog API's listings and its package pages (a token for
/// one repository is not a key to the user's whole catalog).
#[tokio::test(flavor = "multi_thread")]
async fn a_token_lists_only_what_it_names() {
    let s = start().await;
    for repo in ["team/app", "team/other", "public/lib"] {
        push_as(&s, ("alice", "s3cret"), repo, "1.0.0").await;
    }
    let t: Value = s
        .token(Some(("alice", "s3cret")), "repository:team/app:pull")
        .await
        .json()
        .await
        .unwrap();
    let token = t["token"].as_str().unwrap().to_owned();
    let listed = |auth: Option<String>, path: &'static str| {
        let mut rb = s.http.get(s.url(path));
        if let Some(a) = auth {
            rb = rb.header("authorization", a);
        }
        async move {
            let r = rb.send().await.unwrap();
            assert_eq!(r.status(), StatusCode::OK, "{path}");
            let v: Value = r.json().await.unwrap();
            let mut names: Vec<String> = v["repositories"]
                .as_array()
                .unwrap()
                .iter()
                .map(|n| n.as_str().unwrap().to_owned())
                .collect();
            names.sort();
            names
        }
    };
    let bearer = Some(format!("Bearer {token}"));
    let basic = Some(format!(
        "Basic {}",
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, "alice:s3cret")
    ));
    for path in ["/v2/_catalog", "/api/v1/repositories"] {
        assert_eq!(
            listed(bearer.clone(), path).await,
            ["public/lib", "team/app"],
            "{path}"
        );
        assert_eq!(
            listed(basic.clone(), path).await,
            ["public/lib", "team/app", "team/other"],
            "{path}"
        );
    }
    // (anonymous `_catalog` is refused here: no rule opens the root to anyone)
    assert_eq!(listed(None, "/api/v1/repositories").await, ["public/lib"]);
    let page = |auth: String, repo: &'static str| {
        let rb = s
            .http
            .get(s.url(&format!("/api/v1/packages/{repo}")))
            .header("authorization", auth);
        async move { rb.send().await.unwrap().status() }
    };
    assert_eq!(
        page(bearer.clone().unwrap(), "team/app").await,
        StatusCode::OK
    );
    assert_eq!(
        page(bearer.clone().unwrap(), "team/other").await,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        page(basic.clone().unwrap(), "team/other").await,
        StatusCode::OK
    );
}
