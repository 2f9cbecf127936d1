//! Encrypted signing keys, push --sign, SBOMs from cargo-auditable sections.

use std::process::Command;

use serde_json::Value;

use crate::support::{Registry, Wharf, guests, hello_component, require_tool, s};

const PASSPHRASE: &str = "correct horse battery staple";

fn with_passphrase(w: &Wharf, passphrase: &str, args: &[&str]) -> std::process::Output {
    w.cmd()
        .env("WHARF_KEY_PASSPHRASE", passphrase)
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn encrypted_keys_sign_only_with_their_passphrase() {
    let openssl = require_tool("openssl");
    let w = Wharf::new();
    let work = tempfile::tempdir().unwrap();
    let base = work.path().join("release");
    let err = w.fails(&["key", "generate", "--encrypt", "-o", s(&base)]);
    assert!(err.contains("WHARF_KEY_PASSPHRASE"), "{err}");
    assert!(!base.with_extension("key").exists(), "nothing written");

    let out = with_passphrase(
        &w,
        PASSPHRASE,
        &["key", "generate", "--encrypt", "-o", s(&base)],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let key = base.with_extension("key");
    let public = base.with_extension("pub");
    let pem = std::fs::read_to_string(&key).unwrap();
    assert!(
        pem.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"),
        "{pem}"
    );
    for stream in [&out.stdout, &out.stderr] {
        let text = String::from_utf8_lossy(stream);
        assert!(
            !text.contains(PASSPHRASE) && !text.contains("PRIVATE KEY"),
            "{text}"
        );
    }
    // an independent implementation opens it with the passphrase and derives the same public key
    let derived = Command::new(&openssl)
        .args([
            "pkey",
            "-pubout",
            "-passin",
            "env:WHARF_KEY_PASSPHRASE",
            "-in",
        ])
        .arg(&key)
        .env("WHARF_KEY_PASSPHRASE", PASSPHRASE)
        .output()
        .unwrap();
    assert!(
        derived.status.success(),
        "{}",
        String::from_utf8_lossy(&derived.stderr)
    );
    assert_eq!(
        String::from_utf8(derived.stdout).unwrap(),
        std::fs::read_to_string(&public).unwrap()
    );

    let reg = Registry::start();
    let hello = hello_component(&w, work.path());
    let reference = format!("{}/demo/locked-key:1.0.0", reg.addr);
    // without the passphrase, or with a wrong one: refused before anything is pushed
    let err = w.fails(&["push", s(&hello), &reference, "--sign", "--key", s(&key)]);
    assert!(
        err.contains("encrypted") && err.contains("WHARF_KEY_PASSPHRASE"),
        "{err}"
    );
    let out = with_passphrase(
        &w,
        "wrong",
        &["push", s(&hello), &reference, "--sign", "--key", s(&key)],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("passphrase does not decrypt"), "{err}");
    assert!(
        !err.contains("wrong"),
        "the passphrase is not echoed: {err}"
    );
    let err = w.fails(&["verify", &reference, "--key", s(&public)]);
    assert!(
        err.contains("failed to resolve"),
        "nothing was pushed: {err}"
    );

    let out = with_passphrase(
        &w,
        PASSPHRASE,
        &[
            "push",
            s(&hello),
            &reference,
            "--sign",
            "--key",
            s(&key),
            "--json",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(report["signature"].as_str().unwrap().starts_with("sha256:"));
    let verified: Value =
        serde_json::from_str(&w.ok(&["verify", &reference, "--key", s(&public), "--json"]))
            .unwrap();
    assert_eq!(verified["verified"], true);
    assert_eq!(verified["digest"], report["digest"]);
}

#[test]
fn sboms_from_cargo_auditable_sections() {
    let w = Wharf::new();
    let work = tempfile::tempdir().unwrap();
    let greeter = &guests().greeter;

    // the file: CycloneDX from the real dependency tree cargo-auditable recorded
    let bom: Value = serde_json::from_str(&w.ok(&["sbom", s(greeter)])).unwrap();
    assert_eq!(bom["bomFormat"], "CycloneDX");
    assert_eq!(bom["metadata"]["component"]["name"], "greeter");
    assert_eq!(bom["metadata"]["component"]["version"], "0.1.0");
    let components = bom["components"].as_array().unwrap();
    let wit_bindgen = components
        .iter()
        .find(|c| c["name"] == "wit-bindgen")
        .unwrap_or_else(|| panic!("wit-bindgen in {components:?}"));
    assert_eq!(
        wit_bindgen["version"], "0.60.0",
        "the version Cargo.lock pins"
    );
    assert_eq!(wit_bindgen["purl"], "pkg:cargo/wit-bindgen@0.60.0");
    let root_deps = bom["dependencies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["ref"].as_str().unwrap().starts_with("greeter 0.1.0"))
        .unwrap();
    assert!(
        root_deps["dependsOn"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d.as_str().unwrap().starts_with("wit-bindgen 0.60.0")),
        "{root_deps}"
    );

    let hello = hello_component(&w, work.path());
    let err = w.fails(&["sbom", s(&hello)]);
    assert!(
        err.contains("no cargo-auditable `.dep-v0` section"),
        "{err}"
    );

    let reg = Registry::start();
    let reference = format!("{}/demo/greeter:0.1.0", reg.addr);
    let report: Value =
        serde_json::from_str(&w.ok(&["push", s(greeter), &reference, "--sbom", "auto", "--json"]))
            .unwrap();
    let sbom_digest = report["sbom"].as_str().unwrap();
    // it is a referrer with the CycloneDX artifact type
    let index: Value = tokio::runtime::Runtime::new().unwrap().block_on(async {
        reqwest::get(format!(
            "http://{}/v2/demo/greeter/referrers/{}?artifactType=application/vnd.cyclonedx%2Bjson",
            reg.addr,
            report["digest"].as_str().unwrap()
        ))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
    });
    assert_eq!(index["manifests"][0]["digest"], sbom_digest);
    assert_eq!(
        index["manifests"][0]["artifactType"],
        "application/vnd.cyclonedx+json"
    );
    // `wharf sbom REF` prints what was attached
    let pulled: Value = serde_json::from_str(&w.ok(&["sbom", &reference])).unwrap();
    assert_eq!(pulled, bom);
    let out = work.path().join("greeter.cdx.json");
    w.ok(&["sbom", &reference, "-o", s(&out)]);
    assert_eq!(
        serde_json::from_slice::<Value>(&std::fs::read(&out).unwrap()).unwrap(),
        bom
    );

    // a policy requiring an SBOM passes for it, fails for a package without one
    let policy = work.path().join("policy.toml");
    std::fs::write(&policy, "[sbom]\nrequire = true\n").unwrap();
    w.ok(&["policy", "check", &reference, "--policy", s(&policy)]);
    w.ok(&["policy", "check", s(greeter), "--policy", s(&policy)]);
    let plain = format!("{}/demo/hello:1.0.0", reg.addr);
    let out = w
        .cmd()
        .args(["push", s(&hello), &plain, "--sbom", "auto"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no SBOM attached"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = w
        .cmd()
        .args(["policy", "check", &plain, "--policy", s(&policy)])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = w.fails(&["sbom", &plain]);
    assert!(err.contains("has no SBOM referrer either"), "{err}");

    // a given SBOM file must be CycloneDX; a bad one stops the push before anything is sent
    let bad = work.path().join("bad.json");
    std::fs::write(&bad, r#"{"spdxVersion": "SPDX-2.3"}"#).unwrap();
    let other = format!("{}/demo/hello:2.0.0", reg.addr);
    let err = w.fails(&["push", s(&hello), &other, "--sbom", s(&bad)]);
    assert!(err.contains("is not a CycloneDX JSON document"), "{err}");
    let err = w.fails(&["inspect", &other]);
    assert!(err.contains("2.0.0"), "{err}");
    std::fs::write(&bad, serde_json::to_vec(&bom).unwrap()).unwrap();
    let report: Value =
        serde_json::from_str(&w.ok(&["push", s(&hello), &other, "--sbom", s(&bad), "--json"]))
            .unwrap();
    assert!(report["sbom"].is_string());
}
