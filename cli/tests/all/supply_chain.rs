//! Encrypted signing keys, push --sign, SBOMs from cargo-auditable sections.

use std::process::Command;

use serde_json::Value;

use crate::support::{Registry, Wharf, files_under, guests, hello_component, require_tool, s};

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
    // a file that is not wasm, or wasm cut inside a section: the error names the file
    let cut = work.path().join("cut.wasm");
    let greeter_bytes = std::fs::read(greeter).unwrap();
    for bytes in [&b"garbage"[..], &greeter_bytes[..12]] {
        std::fs::write(&cut, bytes).unwrap();
        let err = w.fails(&["sbom", s(&cut)]);
        assert!(
            err.contains("cannot read an SBOM from") && err.contains("cut.wasm"),
            "{err}"
        );
    }

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

fn write(path: &std::path::Path, text: &str) {
    std::fs::write(path, text).unwrap();
}

const API_V1: &str = "package demo:api@1.0.0;
interface greet {
    record person { name: string, age: u8 }
    greet: func(who: person) -> string;
    wave: func();
}
world host { import greet; }
";

#[test]
fn publish_checks_wit_semver_against_the_previous_version() {
    let w = Wharf::new();
    let reg = Registry::start();
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    std::fs::create_dir(dir.join("wit")).unwrap();
    let project = |version: &str, wit: &str| {
        write(&dir.join("wit/api.wit"), wit);
        w.ok(&[
            "wit",
            "build",
            s(&dir.join("wit")),
            "-o",
            s(&dir.join("api.wasm")),
        ]);
        write(
            &dir.join("wharf.toml"),
            &format!(
                "[package]\nname = \"demo:api\"\nversion = \"{version}\"\nfile = \"api.wasm\"\nregistry = \"{}\"\n",
                reg.addr
            ),
        );
    };
    let publish = |extra: &[&str]| {
        w.cmd()
            .args([&["publish", "--manifest-path", s(dir)][..], extra].concat())
            .output()
            .unwrap()
    };
    let (key, public) = {
        let base = dir.join("release");
        w.ok(&["key", "generate", "-o", s(&base)]);
        (base.with_extension("key"), base.with_extension("pub"))
    };

    project("1.0.0", API_V1);
    let out = publish(&["--dry-run", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let plan: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(plan["dry_run"], true);
    assert_eq!(plan["kind"], "wit-package");
    assert!(plan["previous"].is_null());
    assert!(plan.get("pushed").is_none());
    let err = w.fails(&["inspect", &format!("{}/demo/api:1.0.0", reg.addr)]);
    assert!(err.contains("1.0.0"), "a dry run pushes nothing: {err}");

    let out = publish(&["--key", s(&key)]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let digest = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let reference = format!("{}/demo/api:1.0.0", reg.addr);
    let verified: Value =
        serde_json::from_str(&w.ok(&["verify", &reference, "--key", s(&public), "--json"]))
            .unwrap();
    assert_eq!(verified["digest"], digest.as_str());

    // the same version again: refused before pushing
    let out = publish(&[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is already published"));

    // removing a function and changing a record is breaking: a minor version is refused
    let broken = API_V1
        .replace("    wave: func();\n", "")
        .replace("age: u8", "age: u16");
    project("1.1.0", &broken);
    let out = publish(&[]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("demo:api 1.1.0 breaks consumers of 1.0.0 and needs version 2.0.0"),
        "{err}"
    );
    assert!(
        err.contains("removed interface demo:api@1/greet func wave"),
        "{err}"
    );
    assert!(
        err.contains("changed interface demo:api@1/greet type person (was `record { name: string, age: u8 }`, now `record { name: string, age: u16 }`)"),
        "{err}"
    );
    // nothing was pushed
    let err = w.fails(&["inspect", &format!("{}/demo/api:1.1.0", reg.addr)]);
    assert!(err.contains("MANIFEST_UNKNOWN"), "{err}");
    // a major version may break
    project("2.0.0", &broken.replace("@1.0.0", "@2.0.0"));
    let out = publish(&["--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["previous"], "1.0.0");
    assert!(
        report["changes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["breaking"] == true)
    );
    // an addition in a minor version is fine
    let added = broken.replace("@1.0.0", "@2.1.0").replace(
        "greet: func(who: person) -> string;",
        "greet: func(who: person) -> string;\n    bow: func(depth: u8);",
    );
    project("2.1.0", &added);
    // the previous version is compared from the cache, read as it streams: a cached copy
    // that no longer hashes to its digest is refused, removed, and fetched anew next time
    let blobs = w.home.path().join("cache/wharf/blobs");
    let before = files_under(&blobs);
    let out = publish(&["--dry-run"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cached: Vec<_> = files_under(&blobs)
        .into_iter()
        .filter(|f| !before.contains(f))
        .collect();
    assert_eq!(cached.len(), 1, "the 2.0.0 layer is cached: {cached:?}");
    let mut flipped = std::fs::read(&cached[0]).unwrap();
    let last = flipped.len() - 1;
    flipped[last] ^= 1;
    std::fs::write(&cached[0], &flipped).unwrap();
    let out = publish(&["--dry-run"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("failed to fetch the previous version") && err.contains("is corrupt"),
        "{err}"
    );
    assert!(!cached[0].exists(), "the corrupt copy was removed");
    let out = publish(&["--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["previous"], "2.0.0");
    let changes = report["changes"].as_array().unwrap();
    assert!(
        !changes.is_empty()
            && changes
                .iter()
                .all(|c| c["change"] == "added" && c["breaking"] == false),
        "{changes:?}"
    );

    // a broken wharf.toml is a clear error
    write(
        &dir.join("wharf.toml"),
        "[package]\nname = \"Not A Name\"\nversion = \"1.0.0\"\nfile = \"api.wasm\"\n",
    );
    let err = w.fails(&["publish", "--manifest-path", s(dir)]);
    assert!(
        err.contains("package name `Not A Name` is not `ns:name`"),
        "{err}"
    );
}

#[test]
fn publish_a_component_with_its_sbom() {
    let w = Wharf::new();
    let reg = Registry::start();
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("greeter.wasm");
    std::fs::copy(&guests().greeter, &file).unwrap();
    write(
        &work.path().join("wharf.toml"),
        "[package]\nname = \"demo:greeter\"\nversion = \"0.1.0\"\nfile = \"greeter.wasm\"\n",
    );
    let report: Value = serde_json::from_str(&w.ok(&[
        "publish",
        "--manifest-path",
        s(&work.path().join("wharf.toml")),
        "--registry",
        &reg.addr,
        "--json",
    ]))
    .unwrap();
    assert_eq!(report["kind"], "component");
    assert!(report["pushed"]["sbom"].is_string(), "{report}");
    let bom: Value =
        serde_json::from_str(&w.ok(&["sbom", &format!("{}/demo/greeter:0.1.0", reg.addr)]))
            .unwrap();
    assert_eq!(bom["metadata"]["component"]["name"], "greeter");
    // a core module is not published
    let hello_core = work.path().join("hello.wasm");
    std::fs::copy(&guests().hello_core, &hello_core).unwrap();
    write(
        &work.path().join("wharf.toml"),
        "[package]\nname = \"demo:hello\"\nversion = \"0.1.0\"\nfile = \"hello.wasm\"\n",
    );
    let err = w.fails(&[
        "publish",
        "--manifest-path",
        s(work.path()),
        "--registry",
        &reg.addr,
    ]);
    assert!(err.contains("is a core module"), "{err}");
}

#[test]
fn lock_pins_digests_and_fetch_uses_them() {
    let w = Wharf::new();
    // versions of demo/* may be moved here, so a tag can change under a lock file
    let reg = Registry::start_with("mutable-version-prefixes = [\"demo/\"]\n");
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    let greeter = &guests().greeter;
    let hello = hello_component(&w, dir);
    let v010 = w
        .ok(&[
            "push",
            s(greeter),
            "demo:greeter@0.1.0",
            "--registry",
            &reg.addr,
        ])
        .trim()
        .to_owned();
    write(
        &dir.join("wharf.toml"),
        "[dependencies]\n\"demo:greeter\" = \"^0.1\"\n",
    );
    let lock = |extra: &[&str]| {
        w.cmd()
            .args(
                [
                    &["lock", "--manifest-path", s(dir), "--registry", &reg.addr][..],
                    extra,
                ]
                .concat(),
            )
            .output()
            .unwrap()
    };
    let out = lock(&["--locked"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("does not exist and --locked forbids creating it")
    );
    assert!(!dir.join("wharf.lock").exists());

    let out = lock(&[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("add demo:greeter 0.1.0"));
    let text = std::fs::read_to_string(dir.join("wharf.lock")).unwrap();
    let locked: toml::Value = toml::from_str(&text).unwrap();
    let entry = &locked["package"][0];
    assert_eq!(entry["name"].as_str(), Some("demo:greeter"));
    assert_eq!(entry["version"].as_str(), Some("0.1.0"));
    assert_eq!(entry["digest"].as_str(), Some(v010.as_str()));
    assert_eq!(
        entry["repository"].as_str(),
        Some(format!("{}/demo/greeter", reg.addr).as_str())
    );

    // a newer matching version: the lock keeps its pin, --update moves it
    w.ok(&[
        "push",
        s(greeter),
        "demo:greeter@0.1.1",
        "--registry",
        &reg.addr,
        "--annotation",
        "x=1",
    ]);
    assert!(lock(&["--locked"]).status.success());
    assert_eq!(
        std::fs::read_to_string(dir.join("wharf.lock")).unwrap(),
        text
    );
    let out = lock(&["--update"]);
    assert!(out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("update demo:greeter 0.1.0"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // a changed requirement makes --locked fail, naming the change, and leaves the file alone
    write(
        &dir.join("wharf.toml"),
        "[dependencies]\n\"demo:greeter\" = \"=0.1.0\"\n",
    );
    let before = std::fs::read_to_string(dir.join("wharf.lock")).unwrap();
    let out = lock(&["--locked"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("is out of date") && err.contains("-> 0.1.0"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("wharf.lock")).unwrap(),
        before
    );
    assert!(lock(&[]).status.success());

    // the 0.1.0 tag now moves to other content; fetch still gets the pinned digest
    w.ok(&[
        "push",
        s(&hello),
        "demo:greeter@0.1.0",
        "--registry",
        &reg.addr,
    ]);
    let deps = dir.join("deps");
    let out = w.ok(&[
        "fetch",
        "--manifest-path",
        s(dir),
        "--registry",
        &reg.addr,
        "--locked",
        "-o",
        s(&deps),
    ]);
    let fetched = std::path::PathBuf::from(out.trim());
    assert_eq!(fetched, deps.join("demo-greeter-0.1.0.wasm"));
    assert_eq!(
        std::fs::read(&fetched).unwrap(),
        std::fs::read(greeter).unwrap()
    );

    // a dependency nothing satisfies is a clear error and writes nothing
    write(
        &dir.join("wharf.toml"),
        "[dependencies]\n\"demo:greeter\" = \"^9\"\n",
    );
    let out = lock(&[]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("failed to resolve dependency demo:greeter@^9"),
        "{err}"
    );
    assert!(
        std::fs::read_to_string(dir.join("wharf.lock"))
            .unwrap()
            .contains("=0.1.0")
    );
    write(
        &dir.join("wharf.toml"),
        "[dependencies]\n\"demo\" = \"1\"\n",
    );
    let err = w.fails(&["lock", "--manifest-path", s(dir), "--registry", &reg.addr]);
    assert!(err.contains("dependency `demo`"), "{err}");
}

/// What a CI job relies on: `verify`, `policy check` and `pull` with a trust policy each
/// catch a manifest changed behind the registry's back, a layer swapped under a signed
/// version, a signature by an untrusted key and a missing signature, with exit codes a
/// script can trust and a message naming the problem.
#[test]
fn ci_gates_catch_tampering_swaps_and_untrusted_signatures() {
    let w = Wharf::new();
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    // versions may move here, as a compromised or careless publisher could make them
    let reg = Registry::start_with("mutable-version-prefixes = [\"demo/\"]\n");
    let (key, public) = {
        let base = dir.join("release");
        w.ok(&["key", "generate", "-o", s(&base)]);
        (base.with_extension("key"), base.with_extension("pub"))
    };
    let stranger = dir.join("stranger");
    w.ok(&["key", "generate", "-o", s(&stranger)]);
    let policy = dir.join("policy.toml");
    std::fs::write(
        &policy,
        format!("[signature]\nkeys = [\"{}\"]\n", s(&public)),
    )
    .unwrap();
    let trust = dir.join("trust.toml");
    std::fs::write(
        &trust,
        format!(
            "[[rules]]\nscope = \"{}/demo\"\nkeys = [\"{}\"]\n",
            reg.addr,
            s(&public)
        ),
    )
    .unwrap();
    let gate = |reference: &str| -> (i32, String, String) {
        let out = w
            .cmd()
            .args(["policy", "check", reference, "--policy", s(&policy)])
            .output()
            .unwrap();
        (
            out.status.code().unwrap(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let hello = hello_component(&w, dir);

    // signed by the release key: every gate passes
    let signed = format!("{}/demo/app:1.0.0", reg.addr);
    let digest = w
        .ok(&["push", s(&hello), &signed, "--sign", "--key", s(&key)])
        .trim()
        .to_owned();
    w.ok(&["verify", &signed, "--key", s(&public)]);
    assert_eq!(gate(&signed).0, 0);
    w.ok(&[
        "pull",
        &signed,
        "-o",
        s(&dir.join("ok.wasm")),
        "--trust-policy",
        s(&trust),
    ]);

    // a layer swapped under the signed version: the signature names the old manifest
    let other = dir.join("other.wasm");
    std::fs::copy(&guests().greeter, &other).unwrap();
    w.ok(&["push", s(&other), &signed]);
    let err = w.fails(&["verify", &signed, "--key", s(&public)]);
    assert!(err.contains("is not verified"), "{err}");
    let (code, out, _) = gate(&signed);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("violation [signature]"), "{out}");
    let pulled = dir.join("swapped.wasm");
    let err = w.fails(&[
        "pull",
        &signed,
        "-o",
        s(&pulled),
        "--trust-policy",
        s(&trust),
    ]);
    assert!(err.contains("not verified"), "{err}");
    assert!(!pulled.exists(), "nothing is written");

    // a manifest changed in the registry's database: every digest check catches it
    let tampered = format!("{}/demo/app@{digest}", reg.addr);
    w.ok(&["verify", &tampered, "--key", s(&public)]);
    let db = reg.dir.path().join("metadata.db");
    let script = format!(
        "import sqlite3\ndb = sqlite3.connect('{}')\n(c,) = db.execute(\"SELECT content FROM manifests WHERE digest = '{digest}'\").fetchone()\nn = c.replace(b'application/wasm', b'application/evil', 1)\nassert n != c\ndb.execute(\"UPDATE manifests SET content = ? WHERE digest = '{digest}'\", (n,))\ndb.commit()\n",
        s(&db)
    );
    let done = Command::new("python3")
        .arg("-c")
        .arg(&script)
        .status()
        .unwrap();
    assert!(done.success());
    // the registry keeps hot manifests in memory; any change to the repository drops them
    w.ok(&["push", s(&other), &format!("{}/demo/app:2.0.0", reg.addr)]);
    let err = w.fails(&["verify", &tampered, "--key", s(&public)]);
    assert!(err.contains("digest mismatch"), "{err}");
    let (code, _, err) = gate(&tampered);
    assert_eq!(code, 2, "an error, not a pass: {err}");
    assert!(err.contains("digest mismatch"), "{err}");
    let err = w.fails(&["run", &tampered]);
    assert!(err.contains("digest mismatch"), "{err}");

    // signed only by a key nobody trusts; and not signed at all
    let untrusted = format!("{}/demo/untrusted:1.0.0", reg.addr);
    w.ok(&[
        "push",
        s(&hello),
        &untrusted,
        "--sign",
        "--key",
        s(&stranger.with_extension("key")),
    ]);
    let err = w.fails(&["verify", &untrusted, "--key", s(&public)]);
    assert!(err.contains("no signature is by a trusted key"), "{err}");
    assert_eq!(gate(&untrusted).0, 1);
    let unsigned = format!("{}/demo/unsigned:1.0.0", reg.addr);
    w.ok(&["push", s(&hello), &unsigned]);
    let err = w.fails(&["verify", &unsigned, "--key", s(&public)]);
    assert!(err.contains("has no signature"), "{err}");
    let (code, out, _) = gate(&unsigned);
    assert_eq!(code, 1);
    assert!(out.contains("has no signature"), "{out}");
    let err = w.fails(&["run", &unsigned, "--trust-policy", s(&trust)]);
    assert!(err.contains("not verified"), "{err}");
}
