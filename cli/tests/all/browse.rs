//! The catalog JSON API (checked against its OpenAPI document) and the web UI, driven in
//! a real headless Chromium through chromedriver. Screenshots of the main pages are kept
//! under `target/ui-screenshots/`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::Value;

use crate::support::{Registry, Wharf, guests, hello_component, require_tool, root, s};

/// A registry holding: demo/greeter 0.1.0 (signed by the operator's key, with an SBOM)
/// and 0.2.0 (signed by a stranger, yanked), demo/hello 1.0.0 (a command), demo/api
/// 1.0.0 (a WIT package) and acme/thing (not Wasm).
struct Fixture {
    reg: Registry,
    key_id: String,
    _work: tempfile::TempDir,
}

fn fixture(w: &Wharf, extra_config: &str) -> Fixture {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    let base = dir.join("operator");
    let key_id = w.ok(&["key", "generate", "-o", s(&base)]).trim().to_owned();
    w.ok(&["key", "generate", "-o", s(&dir.join("stranger"))]);
    let reg = Registry::start_with(&format!(
        "trusted-keys = [\"{}\"]\n{extra_config}",
        s(&base.with_extension("pub"))
    ));
    let r = reg.addr.clone();
    let greeter = &guests().greeter;
    let op_key = base.with_extension("key");
    let stranger = dir.join("stranger.key");
    w.ok(&[
        "push",
        s(greeter),
        "demo:greeter@0.1.0",
        "--registry",
        &r,
        "--sign",
        "--key",
        s(&op_key),
        "--sbom",
        "auto",
    ]);
    w.ok(&[
        "push",
        s(greeter),
        "demo:greeter@0.2.0",
        "--registry",
        &r,
        "--sign",
        "--key",
        s(&stranger),
        "--annotation",
        "v=2",
    ]);
    w.ok(&[
        "yank",
        "demo:greeter@0.2.0",
        "--registry",
        &r,
        "--reason",
        "broken greeting",
    ]);
    let hello = hello_component(w, dir);
    w.ok(&["push", s(&hello), "demo:hello@1.0.0", "--registry", &r]);
    std::fs::create_dir(dir.join("wit")).unwrap();
    std::fs::write(
        dir.join("wit/api.wit"),
        "package demo:api@1.0.0;\n\n/// Says hello.\ninterface greet {\n  greet: func(name: string) -> string;\n}\n",
    )
    .unwrap();
    w.ok(&[
        "wit",
        "build",
        s(&dir.join("wit")),
        "-o",
        s(&dir.join("api.wasm")),
    ]);
    w.ok(&[
        "push",
        s(&dir.join("api.wasm")),
        "demo:api@1.0.0",
        "--registry",
        &r,
    ]);
    push_other_artifact(&r);
    Fixture {
        reg,
        key_id,
        _work: work,
    }
}

/// A non-Wasm artifact (custom artifact type) pushed with plain HTTP.
fn push_other_artifact(registry: &str) {
    use sha2::Digest as _;
    let digest = |b: &[u8]| format!("sha256:{}", hex::encode(sha2::Sha256::digest(b)));
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let http = reqwest::Client::new();
        for blob in [&b"{}"[..], &b"hello"[..]] {
            let resp = http
                .post(format!("http://{registry}/v2/acme/thing/blobs/uploads/?digest={}", digest(blob)))
                .body(blob.to_vec())
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), 201);
        }
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "artifactType": "application/vnd.acme.thing.v1",
            "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": digest(b"{}"), "size": 2},
            "layers": [{"mediaType": "text/plain", "digest": digest(b"hello"), "size": 5}]
        });
        let resp = http
            .put(format!("http://{registry}/v2/acme/thing/manifests/v1"))
            .header("content-type", "application/vnd.oci.image.manifest.v1+json")
            .body(serde_json::to_vec(&manifest).unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 201);
    });
}

pub(crate) fn get(url: &str) -> (u16, Value) {
    get_as(url, None)
}

fn get_as(url: &str, basic: Option<(&str, &str)>) -> (u16, Value) {
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let mut req = reqwest::Client::new().get(url);
        if let Some((u, p)) = basic {
            req = req.basic_auth(u, Some(p));
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    })
}

/// Check `value` has every property the schema requires, recursively (`$ref`, arrays,
/// objects); returns the paths of what is missing or of the wrong type.
fn conforms(doc: &Value, schema: &Value, value: &Value, at: &str, problems: &mut Vec<String>) {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        let name = r.trim_start_matches("#/components/schemas/");
        return conforms(
            doc,
            &doc["components"]["schemas"][name],
            value,
            at,
            problems,
        );
    }
    let types: Vec<&str> = match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    };
    let actual = match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_u64() || n.is_i64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    };
    if !types.is_empty() && !types.contains(&actual) {
        problems.push(format!("{at}: {actual}, schema says {types:?}"));
        return;
    }
    if let (Some(required), Some(obj)) = (schema["required"].as_array(), value.as_object()) {
        for key in required.iter().filter_map(Value::as_str) {
            if !obj.contains_key(key) {
                problems.push(format!("{at}.{key}: missing"));
            }
        }
    }
    if let (Some(props), Some(obj)) = (schema["properties"].as_object(), value.as_object()) {
        for (k, sub) in props {
            if let Some(v) = obj.get(k) {
                conforms(doc, sub, v, &format!("{at}.{k}"), problems);
            }
        }
    }
    if let (Some(items), Some(arr)) = (schema.get("items"), value.as_array()) {
        for (i, v) in arr.iter().enumerate() {
            conforms(doc, items, v, &format!("{at}[{i}]"), problems);
        }
    }
}

#[test]
fn json_api_answers_as_its_openapi_document_says() {
    let w = Wharf::new();
    let f = fixture(&w, "");
    let base = format!("http://{}", f.reg.addr);
    let (status, doc) = get(&format!("{base}/api/v1/openapi.json"));
    assert_eq!(status, 200);
    assert_eq!(doc["openapi"], "3.1.0");

    // the operations the document promises, as a reviewed snapshot (BLESS=1 rewrites it)
    let mut ops = String::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let params: Vec<&str> = op["parameters"]
                .as_array()
                .map(|ps| ps.iter().filter_map(|p| p["name"].as_str()).collect())
                .unwrap_or_default();
            let codes: Vec<&String> = op["responses"].as_object().unwrap().keys().collect();
            ops.push_str(&format!(
                "{} {path} params={params:?} responses={codes:?}\n",
                method.to_uppercase()
            ));
        }
    }
    let snapshot = root().join("registry-server/tests/snapshots/openapi-operations.txt");
    if std::env::var_os("BLESS").is_some() {
        std::fs::create_dir_all(snapshot.parent().unwrap()).unwrap();
        std::fs::write(&snapshot, &ops).unwrap();
    }
    assert_eq!(
        ops,
        std::fs::read_to_string(&snapshot).unwrap(),
        "the API changed: review, then BLESS=1"
    );

    let check = |url: &str, path: &str, code: &str| -> Value {
        let (status, body) = get(&format!("{base}{url}"));
        assert_eq!(status.to_string(), code, "{url}: {body}");
        let schema =
            &doc["paths"][path]["get"]["responses"][code]["content"]["application/json"]["schema"];
        let mut problems = Vec::new();
        conforms(&doc, schema, &body, url, &mut problems);
        assert!(
            problems.is_empty(),
            "{url} does not match the document: {problems:#?}"
        );
        body
    };
    let packages = "/api/v1/packages";
    let package = "/api/v1/packages/{repository}";
    let version = "/api/v1/packages/{repository}@{reference}";

    let all = check(packages, packages, "200");
    let names: Vec<&str> = all["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["repository"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["demo/api", "demo/greeter", "demo/hello"],
        "Wasm packages only, by name"
    );
    assert_eq!(all["total"], 3);
    let by = |query: &str| -> Vec<String> {
        check(&format!("{packages}?{query}"), packages, "200")["packages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(by("exports=wharf:greeter/greet"), ["demo:greeter"]);
    assert_eq!(by("exports=wasi:cli/run"), ["demo:hello"]);
    assert_eq!(by("imports=wasi:filesystem/*"), ["demo:hello"]);
    assert_eq!(by("q=GREET"), ["demo:greeter"]);
    assert!(by("exports=wasi:http/incoming-handler").is_empty());
    let paged = check(&format!("{packages}?per_page=2&page=2"), packages, "200");
    assert_eq!(paged["packages"].as_array().unwrap().len(), 1);
    assert_eq!(paged["total"], 3);
    check(&format!("{packages}?exports=a&imports=b"), packages, "400");
    check(&format!("{packages}?page=x"), packages, "400");

    let greeter = check("/api/v1/packages/demo/greeter", package, "200");
    assert_eq!(greeter["name"], "demo:greeter");
    assert_eq!(greeter["latest"], "0.1.0", "the yanked 0.2.0 is not latest");
    assert_eq!(greeter["versions"][0]["version"], "0.2.0");
    assert_eq!(greeter["versions"][0]["yanked"], "broken greeting");
    assert!(greeter["versions"][1]["yanked"].is_null());
    check("/api/v1/packages/demo/nothing", package, "404");
    check("/api/v1/packages/acme/thing", package, "200");

    let v = check("/api/v1/packages/demo/greeter@0.1.0", version, "200");
    assert_eq!(v["kind"], "component");
    assert!(
        v["exports"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e == "wharf:greeter/greet@0.1.0"),
        "{v}"
    );
    assert!(
        v["wit"].as_str().unwrap().contains("interface greet"),
        "{}",
        v["wit"]
    );
    assert_eq!(v["signatures"][0]["status"], "verified");
    assert_eq!(v["signatures"][0]["key_id"], f.key_id.as_str());
    assert!(v["sbom"].as_str().unwrap().starts_with("sha256:"));
    assert_eq!(v["artifact"]["class"], "component");
    let commands: Vec<(&str, &str)> = v["commands"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["tool"].as_str().unwrap(), c["command"].as_str().unwrap()))
        .collect();
    assert_eq!(
        commands[0],
        (
            "wharf",
            format!(
                "wharf pull {}/demo/greeter:0.1.0 -o greeter.wasm",
                f.reg.addr
            )
            .as_str()
        )
    );
    // a loopback registry speaks plain HTTP: wkg is told so by a one-line config
    assert_eq!(commands[1].0, "wkg");
    assert!(
        commands[1].1.ends_with(&format!(
            "wkg get demo:greeter@0.1.0 --registry {} --config wkg.toml -o ./",
            f.reg.addr
        )),
        "{commands:?}"
    );
    assert_eq!(commands[2].0, "skopeo");
    // the command works as pasted, in an empty directory
    let pasted = tempfile::tempdir().unwrap();
    let words: Vec<&str> = commands[0].1.split(' ').collect();
    assert_eq!(words[0], "wharf");
    let out = w
        .cmd()
        .args(&words[1..])
        .current_dir(pasted.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let inspected: Value =
        serde_json::from_str(&w.ok(&["inspect", s(&pasted.path().join("greeter.wasm")), "--json"]))
            .unwrap();
    assert_eq!(inspected["kind"], "component");
    assert_eq!(
        inspected["exports"], v["exports"],
        "the version the page shows"
    );
    // every name the WIT viewer links leads somewhere: a package page, or a search with
    // results (names nothing here exports or defines are plain text)
    let html_of = |path: &str| {
        tokio::runtime::Runtime::new().unwrap().block_on(async {
            let r = reqwest::get(format!("http://{}{path}", f.reg.addr))
                .await
                .unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        })
    };
    let mut links = Vec::new();
    for page in ["/packages/demo/greeter@0.1.0", "/packages/demo/hello@1.0.0"] {
        let (status, html) = html_of(page);
        assert_eq!(status, 200);
        let wit = html
            .split("<pre class=\"wit\">")
            .nth(1)
            .unwrap()
            .split("</pre>")
            .next()
            .unwrap();
        links.extend(
            wit.split("class=\"ref\" href=\"")
                .skip(1)
                .map(|rest| rest.split('"').next().unwrap().replace("&amp;", "&")),
        );
    }
    assert!(
        !links.is_empty(),
        "the greeter's export links to its exporters"
    );
    for link in &links {
        let (status, html) = html_of(link);
        assert_eq!(status, 200, "{link}");
        assert!(!html.contains(">0 found"), "{link} finds nothing");
    }
    // `wharf search`, by text and by interface
    let search = |args: &[&str]| -> Value {
        serde_json::from_str(
            &w.ok(&[&["search", "--registry", &f.reg.addr, "--json"][..], args].concat()),
        )
        .unwrap()
    };
    let by_text = search(&["greeter"]);
    assert_eq!(
        by_text["packages"][0]["repository"], "demo/greeter",
        "{by_text}"
    );
    assert_eq!(
        by_text["packages"][0]["latest"], "0.1.0",
        "the yanked 0.2.0 is not latest"
    );
    let by_export = search(&["--exports", "wasi:cli/run"]);
    assert_eq!(by_export["total"], 1, "{by_export}");
    assert_eq!(by_export["packages"][0]["repository"], "demo/hello");
    let text = w.ok(&["search", "--imports", "wasi:*", "--registry", &f.reg.addr]);
    assert!(text.lines().any(|l| l.starts_with("demo:hello")), "{text}");
    let v2 = check("/api/v1/packages/demo/greeter@0.2.0", version, "200");
    assert_eq!(v2["signatures"][0]["status"], "unverified");
    assert!(v2["signatures"][0]["key_id"].is_null());
    assert_eq!(v2["yanked"], "broken greeting");
    let by_digest = check(
        &format!(
            "/api/v1/packages/demo/greeter@{}",
            v["digest"].as_str().unwrap()
        ),
        version,
        "200",
    );
    assert_eq!(by_digest["digest"], v["digest"]);
    let api = check("/api/v1/packages/demo/api@1.0.0", version, "200");
    assert_eq!(api["kind"], "wit-package");
    assert!(
        api["wit"]
            .as_str()
            .unwrap()
            .contains("greet: func(name: string) -> string;")
    );
    check("/api/v1/packages/demo/greeter@9.9.9", version, "404");

    let repos = check("/api/v1/repositories", "/api/v1/repositories", "200");
    assert!(
        repos["repositories"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r == "acme/thing")
    );
    let thing = check(
        "/api/v1/repositories/acme/thing",
        "/api/v1/repositories/{repository}",
        "200",
    );
    assert_eq!(
        thing["tags"][0]["artifact_type"],
        "application/vnd.acme.thing.v1"
    );
    check(
        "/api/v1/repositories/acme/none",
        "/api/v1/repositories/{repository}",
        "404",
    );
}

#[test]
fn the_api_shows_only_what_the_caller_may_pull() {
    let w = Wharf::new();
    let work = tempfile::tempdir().unwrap();
    let htpasswd = work.path().join("htpasswd");
    std::fs::write(
        &htpasswd,
        format!("alice:{}\n", bcrypt::hash("secret", 4).unwrap()),
    )
    .unwrap();
    let config = format!(
        "[auth]\nhtpasswd = \"{}\"\n[[auth.rules]]\nprefix = \"\"\nanonymous = [\"pull\", \"push\"]\nusers = {{ \"*\" = [\"pull\", \"push\"] }}\n[[auth.rules]]\nprefix = \"demo/greeter\"\nanonymous = []\nusers = {{ \"alice\" = [\"pull\", \"push\"] }}\n",
        s(&htpasswd)
    );
    let f = fixture_open_push(&w, &config);
    let base = format!("http://{}", f.addr);
    let names = |body: &Value| -> Vec<String> {
        body["packages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["repository"].as_str().unwrap().to_owned())
            .collect()
    };
    let (_, anon) = get(&format!("{base}/api/v1/packages"));
    assert_eq!(names(&anon), ["demo/hello"]);
    let (_, alice) = get_as(
        &format!("{base}/api/v1/packages"),
        Some(("alice", "secret")),
    );
    assert_eq!(names(&alice), ["demo/greeter", "demo/hello"]);
    // hidden and missing look the same
    let (hidden, body) = get(&format!("{base}/api/v1/packages/demo/greeter"));
    let (missing, body2) = get(&format!("{base}/api/v1/packages/demo/missing"));
    assert_eq!((hidden, missing), (404, 404));
    assert_eq!(body["errors"][0]["code"], body2["errors"][0]["code"]);
    assert_eq!(
        get_as(
            &format!("{base}/api/v1/packages/demo/greeter"),
            Some(("alice", "secret"))
        )
        .0,
        200
    );
    assert_eq!(
        get_as(&format!("{base}/api/v1/packages"), Some(("alice", "wrong"))).0,
        401
    );
    let _ = w;
    // `wharf search` sends the stored credentials: alice finds the private package, a
    // stranger only the public one
    let found = |who: &Wharf| -> Vec<String> {
        let out: Value =
            serde_json::from_str(&who.ok(&["search", "--registry", &f.addr, "--json"])).unwrap();
        out["packages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["repository"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(found(&w), ["demo/greeter", "demo/hello"]);
    // a client without credentials is told how to get them
    let stranger = Wharf::new();
    assert_eq!(found(&stranger), ["demo/hello"]);
    let err = stranger.fails(&[
        "pull",
        &format!("{}/demo/greeter:0.1.0", f.addr),
        "-o",
        s(&work.path().join("g.wasm")),
    ]);
    assert!(
        err.contains(&format!("hint: log in first: `wharf login {}`", f.addr)),
        "{err}"
    );
    // CI credentials from the environment, for the registry the command names
    let pulled = stranger
        .cmd()
        .args([
            "pull",
            &format!("{}/demo/greeter:0.1.0", f.addr),
            "-o",
            s(&work.path().join("g.wasm")),
        ])
        .env("WHARF_REGISTRY_USERNAME", "alice")
        .env("WHARF_REGISTRY_PASSWORD", "secret")
        .output()
        .unwrap();
    assert!(
        pulled.status.success(),
        "{}",
        String::from_utf8_lossy(&pulled.stderr)
    );
    let half = stranger
        .cmd()
        .args(["search", "--registry", &f.addr])
        .env("WHARF_REGISTRY_USERNAME", "alice")
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&half.stderr).contains("set both WHARF_REGISTRY_USERNAME"),
        "{}",
        String::from_utf8_lossy(&half.stderr)
    );
}

/// An auth-enabled registry where alice pushes demo/greeter and anyone demo/hello.
fn fixture_open_push(w: &Wharf, config: &str) -> Registry {
    let reg = Registry::start_with(config);
    let work = tempfile::tempdir().unwrap();
    let docker = w
        .cmd()
        .get_envs()
        .find(|(k, _)| *k == "DOCKER_CONFIG")
        .and_then(|(_, v)| v)
        .map(PathBuf::from)
        .unwrap();
    std::fs::create_dir_all(&docker).unwrap();
    let out = w
        .cmd()
        .args(["login", &reg.addr, "-u", "alice", "--password-stdin"])
        .stdin(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write as _;
            c.stdin.take().unwrap().write_all(b"secret")?;
            c.wait_with_output()
        })
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    w.ok(&[
        "push",
        s(&guests().greeter),
        &format!("{}/demo/greeter:0.1.0", reg.addr),
    ]);
    let hello = hello_component(w, work.path());
    w.ok(&["push", s(&hello), &format!("{}/demo/hello:1.0.0", reg.addr)]);
    reg
}

/// chromedriver on a free port, killed on drop.
struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn chromedriver() -> Driver {
    let binary = require_tool("chromedriver");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(binary)
        .arg(format!("--port={port}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "chromedriver did not start"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    Driver {
        child,
        url: format!("http://127.0.0.1:{port}"),
    }
}

fn chromium_binary() -> PathBuf {
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .find_map(|name| {
            std::env::var_os("PATH").and_then(|paths| {
                std::env::split_paths(&paths)
                    .map(|d| d.join(name))
                    .find(|p| p.is_file())
            })
        })
        .unwrap_or_else(|| require_tool("chromium"))
}

/// The element once it is on the page (navigation after a click or submit is
/// asynchronous), failing after 20 s.
async fn wait(
    c: &fantoccini::Client,
    locator: fantoccini::Locator<'_>,
) -> fantoccini::elements::Element {
    c.wait()
        .at_most(std::time::Duration::from_secs(20))
        .for_element(locator)
        .await
        .unwrap_or_else(|e| panic!("waiting for {locator:?}: {e}"))
}

async fn screenshot(c: &fantoccini::Client, dir: &Path, name: &str) {
    let png = c.screenshot().await.unwrap();
    std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
}

#[test]
fn browse_find_read_and_copy_in_a_real_browser() {
    use fantoccini::{ClientBuilder, Locator, key::Key};
    let w = Wharf::new();
    let f = fixture(&w, "");
    let base = format!("http://{}", f.reg.addr);
    let driver = chromedriver();
    let shots = root().join("target/ui-screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({
                "binary": s(&chromium_binary()),
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,1024"]
            }),
        );
        let c = ClientBuilder::rustls()
            .unwrap()
            .capabilities(caps)
            .connect(&driver.url)
            .await
            .expect("connect to chromedriver");

        // home: recent packages and the search form
        c.goto(&format!("{base}/")).await.unwrap();
        let h1 = c.find(Locator::Css("h1")).await.unwrap().text().await.unwrap();
        assert_eq!(h1, "WebAssembly packages");
        let recent = c.find(Locator::Css("#main ol.packages")).await.unwrap().text().await.unwrap();
        for name in ["demo:greeter", "demo:hello", "demo:api"] {
            assert!(recent.contains(name), "{recent}");
        }
        screenshot(&c, &shots, "home").await;
        // keyboard: the first Tab reaches the skip link
        c.find(Locator::Css("body")).await.unwrap().send_keys(&Key::Tab.to_string()).await.unwrap();
        let focused = c.active_element().await.unwrap().text().await.unwrap();
        assert_eq!(focused, "Skip to content");

        // find the component by the interface it exports
        let form = c.form(Locator::Css("form.search")).await.unwrap();
        form.set_by_name("interface", "wharf:greeter/greet").await.unwrap();
        form.submit().await.unwrap();
        // navigation finishes in its own time: wait for the new page, not a fixed delay
        let title = wait(&c, Locator::XPath("//h1[starts-with(., 'Packages exporting')]")).await.text().await.unwrap();
        assert_eq!(title, "Packages exporting wharf:greeter/greet");
        let results = c.find_all(Locator::Css("ol.packages > li")).await.unwrap();
        assert_eq!(results.len(), 1);
        screenshot(&c, &shots, "search").await;
        c.find(Locator::LinkText("demo:greeter")).await.unwrap().click().await.unwrap();
        wait(&c, Locator::Css("h2#versions")).await;

        // the package page: versions, the yanked one marked
        assert!(c.current_url().await.unwrap().as_str().ends_with("/packages/demo/greeter"));
        let versions = c.find(Locator::Css("#main table")).await.unwrap().text().await.unwrap();
        assert!(versions.contains("0.2.0") && versions.contains("yanked") && versions.contains("broken greeting"), "{versions}");
        screenshot(&c, &shots, "package").await;
        c.find(Locator::LinkText("0.1.0")).await.unwrap().click().await.unwrap();
        wait(&c, Locator::Css("h2#signatures")).await;

        // the version page: who signed it, the SBOM, the WIT, the fetch commands
        let signatures = c.find(Locator::Css("section[aria-labelledby=signatures]")).await.unwrap().text().await.unwrap();
        assert!(signatures.contains("verified") && signatures.contains(&f.key_id), "{signatures}");
        let sbom = c.find(Locator::Css("section[aria-labelledby=sbom]")).await.unwrap().text().await.unwrap();
        assert!(sbom.contains("CycloneDX"), "{sbom}");
        let keywords = c.find_all(Locator::Css("pre.wit span.k")).await.unwrap();
        assert!(!keywords.is_empty(), "WIT is highlighted");
        let wit = c.find(Locator::Css("pre.wit")).await.unwrap().text().await.unwrap();
        assert!(wit.contains("interface greet"), "{wit}");
        let commands = c.find(Locator::Css("section[aria-labelledby=fetch]")).await.unwrap().text().await.unwrap();
        assert!(commands.contains(&format!("wkg get demo:greeter@0.1.0 --registry {} --config wkg.toml", f.reg.addr)), "{commands}");
        // the copy button is there once JavaScript runs
        let copy = c.find(Locator::Css("button.copy")).await.unwrap();
        assert!(copy.is_displayed().await.unwrap(), "copy buttons are shown with JavaScript");
        screenshot(&c, &shots, "version").await;

        // what a command asks of its host, in plain words
        c.goto(&format!("{base}/packages/demo/hello")).await.unwrap();
        let caps = wait(&c, Locator::Css("section[aria-labelledby=capabilities]")).await.text().await.unwrap();
        assert!(caps.contains("Reads and writes files") && caps.contains("wasi:filesystem/"), "{caps}");
        screenshot(&c, &shots, "capabilities").await;
        c.back().await.unwrap();
        wait(&c, Locator::Css("section[aria-labelledby=exports] a")).await;

        // an export links to the packages that provide it
        c.find(Locator::Css("section[aria-labelledby=exports] a")).await.unwrap().click().await.unwrap();
        let title = wait(&c, Locator::XPath("//h1[starts-with(., 'Packages exporting')]")).await.text().await.unwrap();
        assert!(title.starts_with("Packages exporting wharf:greeter/greet"), "{title}");

        // a non-Wasm artifact has a repository page
        c.goto(&format!("{base}/repositories/acme/thing")).await.unwrap();
        let table = c.find(Locator::Css("#main table")).await.unwrap().text().await.unwrap();
        assert!(table.contains("application/vnd.acme.thing.v1"), "{table}");
        // an unknown package is a page that says so, with a 404 behind it
        c.goto(&format!("{base}/packages/demo/nothing")).await.unwrap();
        let h1 = c.find(Locator::Css("h1")).await.unwrap().text().await.unwrap();
        assert_eq!(h1, "Not Found");
        c.close().await.unwrap();
    });
    for name in ["home", "search", "package", "version"] {
        assert!(shots.join(format!("{name}.png")).metadata().unwrap().len() > 1000);
    }
}

/// Standard annotations given at push (`--annotation`, as ORAS and wkg set them) are what
/// the catalog shows and searches, ahead of the wasm metadata sections.
#[test]
fn standard_annotations_show_in_the_catalog() {
    let w = Wharf::new();
    let work = tempfile::tempdir().unwrap();
    let reg = Registry::start();
    let hello = hello_component(&w, work.path());
    w.ok(&[
        "push",
        s(&hello),
        &format!("{}/demo/annotated:1.0.0", reg.addr),
        "--annotation",
        "org.opencontainers.image.description=Says hello, from an annotation",
        "--annotation",
        "org.opencontainers.image.licenses=MIT OR Apache-2.0",
        "--annotation",
        "org.opencontainers.image.source=https://example.com/annotated",
    ]);
    let base = format!("http://{}", reg.addr);
    let (status, p) = get(&format!("{base}/api/v1/packages/demo/annotated"));
    assert_eq!(status, 200, "{p}");
    assert_eq!(p["description"], "Says hello, from an annotation");
    assert_eq!(p["licenses"], "MIT OR Apache-2.0");
    assert_eq!(p["source"], "https://example.com/annotated");
    let (_, found) = get(&format!("{base}/api/v1/packages?q=from+an+annotation"));
    assert_eq!(found["total"], 1, "{found}");
    assert_eq!(
        found["packages"][0]["description"],
        "Says hello, from an annotation"
    );
}

/// `sha256:<hex>` of `bytes`.
pub(crate) fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)))
}

/// Push `blob` to `repo` (monolithic upload) and `manifest` under `reference`; returns the
/// manifest's digest.
async fn put(
    http: &reqwest::Client,
    registry: &str,
    repo: &str,
    blobs: &[&[u8]],
    media_type: &str,
    manifest: &Value,
    reference: &str,
) -> String {
    for blob in blobs {
        let resp = http
            .post(format!(
                "http://{registry}/v2/{repo}/blobs/uploads/?digest={}",
                sha256(blob)
            ))
            .body(blob.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 201);
    }
    let body = serde_json::to_vec(manifest).unwrap();
    let resp = http
        .put(format!("http://{registry}/v2/{repo}/manifests/{reference}"))
        .header("content-type", media_type)
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201, "{}", resp.text().await.unwrap());
    sha256(&body)
}

/// A real multi-platform container image in `acme/app`: one gzipped tar layer (made by
/// `tar` and `gzip`), a config per platform (linux/amd64 and linux/arm64/v8), an image
/// index tagged `1.0`, and an SPDX SBOM referring to the amd64 image. Returns the amd64
/// image's digest and the SBOM's.
pub(crate) fn push_image(registry: &str, work: &Path) -> (String, String) {
    let root = work.join("rootfs");
    std::fs::create_dir_all(root.join("etc")).unwrap();
    std::fs::write(root.join("etc/motd"), "hello from a container layer\n").unwrap();
    let tar = Command::new("tar")
        .args([
            "--sort=name",
            "--mtime=@0",
            "--owner=0",
            "--group=0",
            "-cf",
            "-",
            "-C",
        ])
        .arg(&root)
        .arg("etc")
        .output()
        .unwrap();
    assert!(tar.status.success());
    let mut gzip = Command::new("gzip")
        .args(["-n", "-c"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write as _;
        gzip.stdin.take().unwrap().write_all(&tar.stdout).unwrap();
    }
    let layer = gzip.wait_with_output().unwrap().stdout;
    let diff_id = sha256(&tar.stdout);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let http = reqwest::Client::new();
        let mut images = Vec::new();
        for (arch, variant) in [("amd64", None), ("arm64", Some("v8"))] {
            let mut config = serde_json::json!({
                "architecture": arch, "os": "linux",
                "config": {"Cmd": ["/bin/cat", "/etc/motd"]},
                "rootfs": {"type": "layers", "diff_ids": [diff_id]},
            });
            if let Some(v) = variant {
                config["variant"] = v.into();
            }
            let config = serde_json::to_vec(&config).unwrap();
            let manifest = serde_json::json!({
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha256(&config), "size": config.len()},
                "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": sha256(&layer), "size": layer.len()}],
            });
            let size = serde_json::to_vec(&manifest).unwrap().len();
            let digest = put(&http, registry, "acme/app", &[&config, &layer], "application/vnd.oci.image.manifest.v1+json", &manifest, &format!("1.0-{arch}")).await;
            let mut platform = serde_json::json!({"architecture": arch, "os": "linux"});
            if let Some(v) = variant {
                platform["variant"] = v.into();
            }
            images.push((digest, size, platform));
        }
        let index = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": images.iter().map(|(d, size, p)| serde_json::json!({
                "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": d, "size": size, "platform": p,
            })).collect::<Vec<_>>(),
        });
        put(&http, registry, "acme/app", &[], "application/vnd.oci.image.index.v1+json", &index, "1.0").await;
        let spdx = serde_json::to_vec(&serde_json::json!({
            "spdxVersion": "SPDX-2.3", "name": "acme/app", "dataLicense": "CC0-1.0",
            "packages": [{"name": "motd", "versionInfo": "1.0.0", "licenseConcluded": "MIT",
                "externalRefs": [{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl", "referenceLocator": "pkg:generic/motd@1.0.0"}]}],
        }))
        .unwrap();
        let (amd64, amd64_size, _) = &images[0];
        let sbom = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "artifactType": "application/spdx+json",
            "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": sha256(b"{}"), "size": 2},
            "layers": [{"mediaType": "application/spdx+json", "digest": sha256(&spdx), "size": spdx.len()}],
            "subject": {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": amd64, "size": amd64_size},
        });
        let sbom_digest = sha256(&serde_json::to_vec(&sbom).unwrap());
        put(&http, registry, "acme/app", &[b"{}", &spdx], "application/vnd.oci.image.manifest.v1+json", &sbom, &sbom_digest).await;
        (amd64.clone(), sbom_digest)
    })
}

/// Every kind of version page (a component, a WIT package, an image index, an image, SBOMs
/// in CycloneDX and SPDX, a signature, a yank mark, another artifact) shows what it is, and
/// each fetch command it offers, read from the page in Chromium, works when pasted into a
/// shell in an empty directory.
#[test]
fn every_fetch_command_works_when_pasted_from_the_browser() {
    use fantoccini::{ClientBuilder, Locator};
    require_tool("skopeo");
    require_tool("wkg");
    let w = Wharf::new();
    let f = fixture(&w, "");
    let reg = f.reg.addr.clone();
    let work = tempfile::tempdir().unwrap();
    let (amd64, spdx) = push_image(&reg, work.path());
    let (_, greeter) = get(&format!("http://{reg}/api/v1/packages/demo/greeter@0.1.0"));
    let (_, yanked) = get(&format!("http://{reg}/api/v1/packages/demo/greeter@0.2.0"));
    let referrer = |v: &Value, t: &str| {
        v["referrers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["artifact_type"] == t)
            .unwrap_or_else(|| panic!("a {t} referrer: {v}"))["digest"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let cyclonedx = greeter["sbom"].as_str().unwrap().to_owned();
    let signature = referrer(&greeter, "application/vnd.dev.sigstore.bundle.v0.3+json");
    let yank = referrer(&yanked, "application/vnd.wharf.yank.v1+json");

    // page, the kind it shows, a text it shows, and what a pasted command leaves behind
    let pages: Vec<(String, &str, &str)> = vec![
        (
            "demo/greeter@0.1.0".into(),
            "component",
            "wharf:greeter/greet",
        ),
        ("demo/api@1.0.0".into(), "WIT package", "interface greet"),
        ("acme/app@1.0".into(), "image index", "linux/arm64/v8"),
        (
            format!("acme/app@{amd64}"),
            "container image",
            "linux/amd64",
        ),
        (format!("acme/app@{spdx}"), "SBOM", "pkg:generic/motd@1.0.0"),
        (
            format!("demo/greeter@{cyclonedx}"),
            "SBOM",
            "pkg:cargo/wit-bindgen",
        ),
        (
            format!("demo/greeter@{signature}"),
            "signature",
            "application/vnd.dev.sigstore.bundle.v0.3+json",
        ),
        (format!("demo/greeter@{yank}"), "yank mark", "Refers to"),
        ("acme/thing@v1".into(), "OCI artifact", "text/plain"),
    ];
    let driver = chromedriver();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let found: Vec<(String, Vec<(String, String)>)> = rt.block_on(async {
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({
                "binary": s(&chromium_binary()),
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,1600"]
            }),
        );
        let c = ClientBuilder::rustls().unwrap().capabilities(caps).connect(&driver.url).await.expect("connect to chromedriver");
        let mut found = Vec::new();
        let shots = root().join("target/ui-screenshots");
        std::fs::create_dir_all(&shots).unwrap();
        for (i, (page, kind, shows)) in pages.iter().enumerate() {
            c.goto(&format!("http://{reg}/packages/{page}")).await.unwrap();
            let meta = wait(&c, Locator::Css("dl.meta")).await.text().await.unwrap();
            assert!(meta.contains(&format!("Kind\n{kind}")), "{page}: {meta}");
            let main = c.find(Locator::Css("#main")).await.unwrap().text().await.unwrap();
            assert!(main.contains(shows), "{page} shows {shows}: {main}");
            let mut commands = Vec::new();
            for div in c.find_all(Locator::Css("section[aria-labelledby=fetch] div.command")).await.unwrap() {
                let tool = div.find(Locator::Css("span")).await.unwrap().text().await.unwrap();
                let command = div.find(Locator::Css("code")).await.unwrap().text().await.unwrap();
                commands.push((tool, command));
            }
            screenshot(&c, &shots, &format!("kind-{i}-{}", kind.replace(' ', "-"))).await;
            found.push((page.clone(), commands));
        }
        c.close().await.unwrap();
        found
    });

    for (page, commands) in &found {
        let tools: Vec<&str> = commands.iter().map(|(t, _)| t.as_str()).collect();
        let wasm = page.starts_with("demo/greeter@0") || page.starts_with("demo/api");
        assert_eq!(
            tools.contains(&"wharf") && !page.contains("sha256"),
            wasm,
            "{page}: {tools:?}"
        );
        assert!(tools.contains(&"skopeo"), "{page}: {tools:?}");
        for (tool, command) in commands {
            let dir = tempfile::tempdir().unwrap();
            let out = w.shell(command, dir.path());
            assert!(
                out.status.success(),
                "{page}: `{command}` failed ({}):\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
            let written: Vec<String> = std::fs::read_dir(dir.path())
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            match tool.as_str() {
                "skopeo" => {
                    let layout = dir.path().join(&written[0]);
                    assert!(
                        layout.join("oci-layout").exists() && layout.join("index.json").exists(),
                        "{page}: {written:?}"
                    );
                }
                "wharf" if command.starts_with("wharf sbom") => {
                    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
                    assert_eq!(doc["bomFormat"], "CycloneDX");
                }
                // wkg writes a WIT package as WIT text
                "wharf" | "wkg" => assert!(
                    written
                        .iter()
                        .any(|n| n.ends_with(".wasm") || (tool == "wkg" && n.ends_with(".wit"))),
                    "{page}: `{command}` wrote {written:?}"
                ),
                other => panic!("{page}: an unexpected tool {other}"),
            }
        }
    }
    // the index was copied whole (`--all`): both platforms' manifests are in the layout
    let index_commands = &found.iter().find(|(p, _)| p == "acme/app@1.0").unwrap().1;
    assert!(
        index_commands[0].1.contains(" --all "),
        "{index_commands:?}"
    );
}

/// Signing in to the web UI in Chromium: a private package is a 404 page to anyone, the
/// header's "Sign in" link leads to the form and back, a wrong password is said so, signed
/// in the package shows (and on the home page), signing out hides it again.
#[test]
fn sign_in_to_browse_a_private_package_in_a_real_browser() {
    use fantoccini::{ClientBuilder, Locator};
    let work = tempfile::tempdir().unwrap();
    let users = crate::support::htpasswd_file(work.path(), "alice", "s3cret");
    let reg = Registry::start_with(&format!(
        "[auth]\nhtpasswd = {:?}\ntoken-secret = \"a-test-secret-of-some-length\"\n\
         [[auth.rules]]\nprefix = \"\"\nanonymous = [\"pull\"]\nusers = {{ alice = [\"pull\", \"push\"] }}\n\
         [[auth.rules]]\nprefix = \"private\"\nusers = {{ alice = [\"pull\", \"push\"] }}\n",
        s(&users)
    ));
    let w = Wharf::new();
    let hello = hello_component(&w, work.path());
    for reference in ["demo/hello:1.0.0", "private/secret:1.0.0"] {
        let out = w
            .cmd()
            .env("WHARF_REGISTRY_USERNAME", "alice")
            .env("WHARF_REGISTRY_PASSWORD", "s3cret")
            .args(["push", s(&hello), &format!("{}/{reference}", reg.addr)])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let base = format!("http://{}", reg.addr);
    let driver = chromedriver();
    let shots = root().join("target/ui-screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({
                "binary": s(&chromium_binary()),
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,1024"]
            }),
        );
        let c = ClientBuilder::rustls().unwrap().capabilities(caps).connect(&driver.url).await.expect("connect to chromedriver");
        c.goto(&format!("{base}/packages/private/secret")).await.unwrap();
        assert_eq!(wait(&c, Locator::Css("h1")).await.text().await.unwrap(), "Not Found");
        c.find(Locator::LinkText("Sign in")).await.unwrap().click().await.unwrap();
        wait(&c, Locator::Css("form.login")).await;
        let form = c.form(Locator::Css("form.login")).await.unwrap();
        form.set_by_name("user", "alice").await.unwrap();
        form.set_by_name("password", "wrong").await.unwrap();
        form.submit().await.unwrap();
        let alert = wait(&c, Locator::Css("p.alert")).await.text().await.unwrap();
        assert_eq!(alert, "Wrong user name or password.");
        screenshot(&c, &shots, "sign-in").await;
        let form = c.form(Locator::Css("form.login")).await.unwrap();
        form.set_by_name("user", "alice").await.unwrap();
        form.set_by_name("password", "s3cret").await.unwrap();
        form.submit().await.unwrap();
        // back on the page asked for, now visible
        let account = wait(&c, Locator::XPath("//div[@class='account']/span[starts-with(., 'Signed in as')]")).await.text().await.unwrap();
        assert_eq!(account, "Signed in as alice");
        assert!(c.current_url().await.unwrap().as_str().ends_with("/packages/private/secret"));
        let h1 = c.find(Locator::Css("h1")).await.unwrap().text().await.unwrap();
        assert_eq!(h1, "private:secret 1.0.0");
        c.goto(&format!("{base}/")).await.unwrap();
        let recent = wait(&c, Locator::Css("#main ol.packages")).await.text().await.unwrap();
        assert!(recent.contains("private:secret") && recent.contains("demo:hello"), "{recent}");
        screenshot(&c, &shots, "signed-in").await;
        // signing out hides it again
        c.find(Locator::XPath("//div[@class='account']//button[. = 'Sign out']")).await.unwrap().click().await.unwrap();
        wait(&c, Locator::LinkText("Sign in")).await;
        let recent = c.find(Locator::Css("#main ol.packages")).await.unwrap().text().await.unwrap();
        assert!(!recent.contains("private:secret") && recent.contains("demo:hello"), "{recent}");
        c.goto(&format!("{base}/packages/private/secret")).await.unwrap();
        assert_eq!(wait(&c, Locator::Css("h1")).await.text().await.unwrap(), "Not Found");
        c.close().await.unwrap();
    });
}

/// A package's page as people know it from crates.io: its interfaces documented from the
/// WIT (doc comments, signatures, types), what it asks of its host in plain words, who
/// imports what it exports, and its versions with their signature marks; in the JSON API
/// and the page.
#[test]
fn package_pages_document_interfaces_capabilities_and_dependents() {
    let w = Wharf::new();
    let f = fixture(&w, "");
    let reg = f.reg.addr.clone();
    // a component that imports what demo:api defines
    let work = tempfile::tempdir().unwrap();
    let user = work.path().join("user.wat");
    std::fs::write(
        &user,
        r#"(component
  (import "demo:api/greet@1.0.0" (instance (export "greet" (func (param "name" string) (result string)))))
)"#,
    )
    .unwrap();
    w.ok(&["push", s(&user), "demo:user@1.0.0", "--registry", &reg]);

    let (status, api) = get(&format!("http://{reg}/api/v1/packages/demo/api"));
    assert_eq!(status, 200);
    let greet = &api["interfaces"][0];
    assert_eq!(greet["name"], "demo:api/greet@1.0.0", "{api}");
    assert_eq!(greet["docs"], "Says hello.");
    assert_eq!(greet["functions"][0]["name"], "greet");
    assert_eq!(
        greet["functions"][0]["signature"],
        "func(name: string) -> string"
    );
    assert_eq!(api["dependents"][0]["interface"], "demo:api/greet");
    assert_eq!(api["dependents"][0]["packages"], 1);

    let (_, hello) = get(&format!("http://{reg}/api/v1/packages/demo/hello"));
    let ids: Vec<&str> = hello["capabilities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    for id in ["filesystem", "environment", "stdio", "exit"] {
        assert!(ids.contains(&id), "{id} in {ids:?}");
    }
    assert!(!ids.contains(&"network"), "{ids:?}");
    let (_, user) = get(&format!("http://{reg}/api/v1/packages/demo/user"));
    assert_eq!(user["capabilities"][0]["id"], "other", "{user}");
    assert_eq!(
        user["capabilities"][0]["interfaces"][0],
        "demo:api/greet@1.0.0"
    );

    // the greeter's versions: 0.2.0 signed by a stranger, 0.1.0 by the operator
    let (_, greeter) = get(&format!("http://{reg}/api/v1/packages/demo/greeter"));
    let v = |i: usize, k: &str| greeter["versions"][i][k].clone();
    assert_eq!(
        (
            v(0, "version"),
            v(0, "signatures"),
            v(0, "verified_signatures")
        ),
        ("0.2.0".into(), 1.into(), 0.into())
    );
    assert_eq!(
        (
            v(1, "version"),
            v(1, "signatures"),
            v(1, "verified_signatures")
        ),
        ("0.1.0".into(), 1.into(), 1.into()),
        "{greeter}"
    );
    assert!(greeter["size"].as_u64().unwrap() > 1000);
    assert_eq!(
        greeter["interfaces"][0]["name"],
        "wharf:greeter/greet@0.1.0"
    );

    // the pages
    let html = |path: &str| {
        tokio::runtime::Runtime::new().unwrap().block_on(async {
            reqwest::get(format!("http://{reg}{path}"))
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
        })
    };
    let page = html("/packages/demo/api");
    assert!(
        page.contains("Says hello.") && page.contains("func(name: string) -&gt; string"),
        "{page}"
    );
    assert!(page.contains("Imported by 1 package"), "{page}");
    let page = html("/packages/demo/hello");
    assert!(
        page.contains("data-capability=\"filesystem\"") && page.contains("Reads and writes files"),
        "{page}"
    );
    let page = html("/packages/demo/greeter");
    assert!(page.contains("class=\"badge verified\""), "{page}");
}
