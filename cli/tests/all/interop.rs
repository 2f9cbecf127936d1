//! Real clients against wharf-registry (skopeo, wkg), and wharf against the reference
//! registry (CNCF Distribution, Debian's `docker-registry`).

use std::process::Command;

use crate::support::{
    DockerRegistry, Registry, Wharf, file_digest, guests, hello_component, require_tool, s,
};

#[test]
fn skopeo_copies_a_wharf_package_out_and_back() {
    let skopeo = require_tool("skopeo");
    let w = Wharf::new();
    let work = tempfile::tempdir().unwrap();
    let hello = hello_component(&w, work.path());
    let reg = Registry::start();
    let digest = w.ok(&["push", s(&hello), &format!("{}/demo/hello:1.0.0", reg.addr)]);
    let layout = work.path().join("layout");
    let run = |args: &[&str]| {
        let out = Command::new(&skopeo).args(args).output().unwrap();
        assert!(
            out.status.success(),
            "skopeo {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let oci = format!("oci:{}:hello", s(&layout));
    run(&[
        "copy",
        "--src-tls-verify=false",
        &format!("docker://{}/demo/hello:1.0.0", reg.addr),
        &oci,
    ]);
    assert!(layout.join("index.json").is_file());
    run(&[
        "copy",
        "--dest-tls-verify=false",
        &oci,
        &format!("docker://{}/copied/hello:2.0.0", reg.addr),
    ]);
    // the manifest came back byte-identical, so its digest is the same
    let raw = run(&[
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("docker://{}/copied/hello:2.0.0", reg.addr),
    ]);
    assert_eq!(
        format!(
            "sha256:{}",
            hex::encode(<sha2::Sha256 as sha2::Digest>::digest(raw.as_bytes()))
        ),
        digest.trim()
    );
    let back = work.path().join("back.wasm");
    w.ok(&[
        "pull",
        &format!("{}/copied/hello:2.0.0", reg.addr),
        "-o",
        s(&back),
    ]);
    assert_eq!(std::fs::read(back).unwrap(), std::fs::read(&hello).unwrap());
    let tags = run(&[
        "list-tags",
        "--tls-verify=false",
        &format!("docker://{}/copied/hello", reg.addr),
    ]);
    assert!(tags.contains("\"2.0.0\""), "{tags}");
}

#[test]
fn wkg_gets_a_package_pushed_by_wharf() {
    let wkg = require_tool("wkg");
    let w = Wharf::new();
    let work = tempfile::tempdir().unwrap();
    let reg = Registry::start();
    let greeter = &guests().greeter;
    w.ok(&[
        "push",
        s(greeter),
        "wharf:greeter@0.1.0",
        "--registry",
        &reg.addr,
    ]);
    w.ok(&[
        "push",
        s(greeter),
        "wharf:greeter@0.2.0",
        "--registry",
        &reg.addr,
    ]);
    // wkg talks HTTPS unless told otherwise, as for any plain-HTTP registry
    let config = work.path().join("wkg.toml");
    std::fs::write(
        &config,
        format!(
            "[registry.\"{0}\"]\ntype = \"oci\"\n[registry.\"{0}\".oci]\nprotocol = \"http\"\n",
            reg.addr
        ),
    )
    .unwrap();
    for (spec, file) in [
        ("wharf:greeter@0.1.0", "exact.wasm"),
        ("wharf:greeter", "latest.wasm"),
    ] {
        let out_file = work.path().join(file);
        let out = Command::new(&wkg)
            .args([
                "get",
                spec,
                "--registry",
                &reg.addr,
                "--config",
                s(&config),
                "--cache",
                s(&work.path().join("cache")),
                "-o",
                s(&out_file),
            ])
            .env("HOME", work.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "wkg get {spec}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(file_digest(&out_file), file_digest(greeter), "{spec}");
        if spec == "wharf:greeter" {
            assert!(
                String::from_utf8_lossy(&out.stderr).contains("0.2.0"),
                "wkg resolved the newest version"
            );
        }
    }
}

#[test]
fn wharf_pushes_pulls_and_runs_against_the_reference_registry() {
    let w = Wharf::new();
    let work = tempfile::tempdir().unwrap();
    let hello = hello_component(&w, work.path());
    let registry = DockerRegistry::start(work.path(), "");
    let addr = &registry.addr;
    let reference = format!("{addr}/demo/hello:1.0.0");
    let digest = w.ok(&["push", s(&hello), &reference]);
    let pulled = work.path().join("pulled.wasm");
    w.ok(&["pull", &reference, "-o", s(&pulled)]);
    assert_eq!(
        std::fs::read(&pulled).unwrap(),
        std::fs::read(&hello).unwrap()
    );
    let pinned = format!("{addr}/demo/hello@{}", digest.trim());
    let run = w
        .cmd()
        .args(["run", &pinned, "--", "from", "distribution"])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&run.stdout),
        "hello, from distribution!\n"
    );
    let report: serde_json::Value =
        serde_json::from_str(&w.ok(&["inspect", &reference, "--json"])).unwrap();
    assert_eq!(report["manifest_digest"], digest.trim());
    assert_eq!(
        report["config"]["layerDigests"][0],
        file_digest(&hello).as_str()
    );
}

#[test]
fn credentials_come_from_the_docker_config() {
    let htpasswd = require_tool("htpasswd");
    let w = Wharf::new();
    let work = tempfile::tempdir().unwrap();
    let hello = hello_component(&w, work.path());
    let users = work.path().join("htpasswd");
    let out = Command::new(htpasswd)
        .args(["-Bbc", s(&users), "alice", "s3cret"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let auth = format!(
        "auth:\n  htpasswd:\n    realm: wharf-test\n    path: {}\n",
        s(&users)
    );
    let registry = DockerRegistry::start(work.path(), &auth);
    let reference = format!("{}/private/hello:1.0.0", registry.addr);
    // no credentials: a clear 401
    let err = w.fails(&["push", s(&hello), &reference]);
    assert!(err.contains("401"), "{err}");
    // credentials in $DOCKER_CONFIG/config.json, as `docker login` writes them
    let docker = w.home.path().join("docker");
    std::fs::create_dir_all(&docker).unwrap();
    std::fs::write(
        docker.join("config.json"),
        format!(
            r#"{{"auths":{{"{}":{{"auth":"YWxpY2U6czNjcmV0"}}}}}}"#,
            registry.addr
        ),
    )
    .unwrap();
    w.ok(&["push", s(&hello), &reference]);
    let pulled = work.path().join("pulled.wasm");
    w.ok(&["pull", &reference, "-o", s(&pulled)]);
    assert_eq!(
        std::fs::read(&pulled).unwrap(),
        std::fs::read(&hello).unwrap()
    );
    // wrong password: refused, and the password is not printed
    std::fs::write(
        docker.join("config.json"),
        format!(
            r#"{{"auths":{{"{}":{{"auth":"YWxpY2U6d3Jvbmc="}}}}}}"#,
            registry.addr
        ),
    )
    .unwrap();
    let err = w.fails(&["pull", &reference, "-o", s(&work.path().join("x.wasm"))]);
    assert!(err.contains("401") && !err.contains("wrong"), "{err}");
}

#[test]
fn oras_pushes_and_pulls_an_artifact_with_a_custom_type() {
    let python = require_tool("python3");
    let w = Wharf::new();
    let work = tempfile::tempdir().unwrap();
    let reg = Registry::start();
    let script = crate::support::root().join("cli/tests/interop/oras_roundtrip.py");
    let out = Command::new(python)
        .arg(&script)
        .arg(&reg.addr)
        .arg(work.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "oras round trip failed (is `oras` installed? .ci/run installs it):\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["pulled"], serde_json::json!(["rocket.txt"]));
    // the registry lists the SBOM as a referrer of the rocket, by its artifact type
    let subject = summary["subject"].as_str().unwrap();
    let url = format!(
        "http://{}/v2/acme/rocket/referrers/{subject}?artifactType=application/vnd.acme.sbom.config.v1%2Bjson",
        reg.addr
    );
    let rt = tokio::runtime::Runtime::new().unwrap();
    let index: serde_json::Value =
        rt.block_on(async { reqwest::get(url).await.unwrap().json().await.unwrap() });
    let manifests = index["manifests"].as_array().unwrap();
    assert_eq!(manifests.len(), 1, "{index}");
    assert_eq!(
        manifests[0]["artifactType"],
        "application/vnd.acme.sbom.config.v1+json"
    );
    // and the artifact is an ordinary (non-Wasm) artifact to wharf: stored and served unchanged
    let err = w.fails(&[
        "pull",
        &format!("{}/acme/rocket:1.0", reg.addr),
        "-o",
        s(&work.path().join("x.wasm")),
    ]);
    assert!(err.contains("not a Wasm package"), "{err}");
}

/// An auth-enabled wharf-registry: `wharf login` stores credentials, push and pull go
/// through the bearer-token flow, skopeo copies with `--creds`.
#[test]
fn login_then_push_and_pull_through_the_token_flow() {
    let htpasswd = require_tool("htpasswd");
    let skopeo = require_tool("skopeo");
    let work = tempfile::tempdir().unwrap();
    let users = work.path().join("htpasswd");
    let out = Command::new(htpasswd)
        .args(["-Bbc", s(&users), "alice", "s3cret"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let reg = Registry::start_with(&format!(
        "[auth]\nhtpasswd = {:?}\n[[auth.rules]]\nprefix = \"\"\nusers = {{ alice = [\"pull\", \"push\"] }}\n",
        s(&users)
    ));
    let w = Wharf::new();
    let hello = hello_component(&w, work.path());
    let reference = format!("{}/private/hello:1.0.0", reg.addr);
    let err = w.fails(&["push", s(&hello), &reference]);
    assert!(err.contains("401"), "{err}");
    // a wrong password is not stored
    let mut login = w.cmd();
    login.args(["login", &reg.addr, "-u", "alice", "--password", "wrong"]);
    let bad = login.output().unwrap();
    assert_eq!(
        bad.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
    assert!(!w.home.path().join("docker/config.json").exists());
    let mut login = w.cmd();
    login
        .args(["login", &reg.addr, "-u", "alice", "--password-stdin"])
        .stdin(std::process::Stdio::piped());
    let mut child = login.spawn().unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), b"s3cret\n").unwrap();
    assert!(child.wait().unwrap().success());
    let digest = w.ok(&["push", s(&hello), &reference]);
    let pulled = work.path().join("pulled.wasm");
    w.ok(&["pull", &reference, "-o", s(&pulled)]);
    assert_eq!(
        std::fs::read(&pulled).unwrap(),
        std::fs::read(&hello).unwrap()
    );
    // skopeo logs in the usual way
    let layout = format!("oci:{}:hello", s(&work.path().join("layout")));
    let out = Command::new(&skopeo)
        .args([
            "copy",
            "--src-tls-verify=false",
            "--src-creds",
            "alice:s3cret",
            &format!("docker://{reference}"),
            &layout,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new(&skopeo)
        .args([
            "copy",
            "--src-tls-verify=false",
            &format!("docker://{reference}"),
            &layout,
        ])
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "skopeo without credentials is refused"
    );
    // logout forgets the credentials
    w.ok(&["logout", &reg.addr]);
    let err = w.fails(&["pull", &reference, "-o", s(&pulled)]);
    assert!(err.contains("401"), "{err}");
    assert!(digest.trim().starts_with("sha256:"));
}

/// A wharf-registry mirroring another one: `wharf` and `wkg` resolve `wasi:greeter` through
/// the mirror's discovery document to the mirrored repository, which fetches it upstream.
#[test]
fn wharf_and_wkg_resolve_packages_through_a_mirror() {
    let wkg = require_tool("wkg");
    let w = Wharf::new();
    let work = tempfile::tempdir().unwrap();
    let upstream = Registry::start();
    let greeter = &guests().greeter;
    w.ok(&[
        "push",
        s(greeter),
        &format!("{}/webassembly/wasi/greeter:0.1.0", upstream.addr),
    ]);
    let mirror = Registry::start_with(&format!(
        "[[mirrors]]\nprefix = \"wasi\"\nupstream = \"{}\"\nupstream-prefix = \"webassembly/wasi\"\n",
        upstream.addr
    ));
    let out = work.path().join("by-wharf.wasm");
    w.ok(&[
        "pull",
        "wasi:greeter@0.1.0",
        "--registry",
        &mirror.addr,
        "-o",
        s(&out),
    ]);
    assert_eq!(file_digest(&out), file_digest(greeter));
    let config = work.path().join("wkg.toml");
    std::fs::write(
        &config,
        format!(
            "[registry.\"{0}\"]\ntype = \"oci\"\n[registry.\"{0}\".oci]\nprotocol = \"http\"\n",
            mirror.addr
        ),
    )
    .unwrap();
    let out = work.path().join("by-wkg.wasm");
    let got = Command::new(&wkg)
        .args([
            "get",
            "wasi:greeter@0.1.0",
            "--registry",
            &mirror.addr,
            "--config",
            s(&config),
            "--cache",
            s(&work.path().join("cache")),
            "-o",
            s(&out),
        ])
        .env("HOME", work.path())
        .output()
        .unwrap();
    assert!(
        got.status.success(),
        "wkg get through the mirror: {}",
        String::from_utf8_lossy(&got.stderr)
    );
    assert_eq!(file_digest(&out), file_digest(greeter));
}

/// Docker credential helpers, run as Docker runs them: `credsStore` for every registry,
/// `credHelpers` per registry (winning over `credsStore`), `wharf login` storing through the
/// helper (the file keeps an empty `auths` entry), `wharf logout` erasing, and a helper that
/// cannot be run named in the error.
#[test]
fn credential_helpers_store_and_give_credentials_as_docker_runs_them() {
    let work = tempfile::tempdir().unwrap();
    let users = crate::support::htpasswd_file(work.path(), "alice", "s3cret");
    let reg = Registry::start_with(&format!(
        "[auth]\nhtpasswd = {:?}\n[[auth.rules]]\nprefix = \"\"\nusers = {{ alice = [\"pull\", \"push\"] }}\n",
        s(&users)
    ));
    let w = Wharf::new();
    // a helper keeping one file per registry, speaking the helper protocol
    let bin = work.path().join("bin");
    let store = work.path().join("store");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::create_dir_all(&store).unwrap();
    let helper = bin.join("docker-credential-fake");
    std::fs::write(
        &helper,
        format!(
            r#"#!/bin/sh
store={store}
echo "$1" >> "$store/calls"
case "$1" in
  get) read -r host
       if [ -f "$store/$host" ]; then cat "$store/$host"; else echo "credentials not found in native keychain"; exit 1; fi ;;
  store) cat > "$store/in"
       host=$(sed -n 's/.*"ServerURL":"\([^"]*\)".*/\1/p' "$store/in")
       mv "$store/in" "$store/$host" ;;
  erase) read -r host; rm -f "$store/$host" ;;
esac
"#,
            store = s(&store)
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!("{}:{}", s(&bin), std::env::var("PATH").unwrap());
    let docker = w.home.path().join("docker");
    std::fs::create_dir_all(&docker).unwrap();
    std::fs::write(docker.join("config.json"), r#"{"credsStore": "fake"}"#).unwrap();

    let mut login = w.cmd();
    login
        .env("PATH", &path)
        .args(["login", &reg.addr, "-u", "alice", "--password-stdin"])
        .stdin(std::process::Stdio::piped());
    let mut child = login.spawn().unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), b"s3cret\n").unwrap();
    assert!(child.wait().unwrap().success());
    // the secret is with the helper; the file lists the registry without it
    let stored = std::fs::read_to_string(store.join(&reg.addr)).unwrap();
    assert!(stored.contains("\"Secret\":\"s3cret\""), "{stored}");
    let config = std::fs::read_to_string(docker.join("config.json")).unwrap();
    assert!(
        !config.contains("s3cret") && !config.contains("\"auth\""),
        "{config}"
    );
    let config: serde_json::Value = serde_json::from_str(&config).unwrap();
    assert_eq!(config["auths"][&reg.addr], serde_json::json!({}));
    assert_eq!(config["credsStore"], "fake");

    // push and pull take the credentials from the helper
    let hello = hello_component(&w, work.path());
    let reference = format!("{}/private/hello:1.0.0", reg.addr);
    let push = w
        .cmd()
        .env("PATH", &path)
        .args(["push", s(&hello), &reference])
        .output()
        .unwrap();
    assert!(
        push.status.success(),
        "{}",
        String::from_utf8_lossy(&push.stderr)
    );
    let calls = std::fs::read_to_string(store.join("calls")).unwrap();
    assert!(calls.lines().any(|l| l == "get"), "{calls}");

    // credHelpers names the helper for one registry, over credsStore
    std::fs::write(
        docker.join("config.json"),
        format!(
            r#"{{"credsStore": "fake", "credHelpers": {{"{}": "missing"}}}}"#,
            reg.addr
        ),
    )
    .unwrap();
    let out = w
        .cmd()
        .env("PATH", &path)
        .args(["pull", &reference, "-o", s(&work.path().join("x.wasm"))])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("credential helper `missing`") && err.contains("docker-credential-missing"),
        "{err}"
    );
    // CI variables win over helpers
    let out = w
        .cmd()
        .env("PATH", &path)
        .env("WHARF_REGISTRY_USERNAME", "alice")
        .env("WHARF_REGISTRY_PASSWORD", "s3cret")
        .args(["pull", &reference, "-o", s(&work.path().join("y.wasm"))])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // logout erases through the helper
    std::fs::write(
        docker.join("config.json"),
        r#"{"credsStore": "fake", "auths": {}}"#,
    )
    .unwrap();
    let out = w
        .cmd()
        .env("PATH", &path)
        .args(["logout", &reg.addr])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!store.join(&reg.addr).exists());
    let out = w
        .cmd()
        .env("PATH", &path)
        .args(["pull", &reference, "-o", s(&work.path().join("z.wasm"))])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("401") && err.contains("wharf login"), "{err}");
}
