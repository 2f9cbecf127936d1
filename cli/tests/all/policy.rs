//! `wharf policy check`: exit 0 pass, 1 violation, 2 error; text, JSON and SARIF.

use crate::support::{Registry, Wharf, hello_component, s};

fn check(w: &Wharf, args: &[&str]) -> (i32, String, String) {
    let out = w
        .cmd()
        .args([&["policy", "check"][..], args].concat())
        .output()
        .unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn policy_rules_on_files_and_packages() {
    let w = Wharf::new();
    let work = tempfile::tempdir().unwrap();
    let hello = hello_component(&w, work.path());
    let policy = work.path().join("policy.toml");
    let write = |text: &str| std::fs::write(&policy, text).unwrap();

    write(
        r#"
        [imports]
        allow = ["wasi:cli/*", "wasi:io/*", "wasi:clocks/*", "wasi:filesystem/*"]
        deny = ["wasi:sockets/*"]
        [exports]
        require = ["wasi:cli/run@0.2.*"]
        [world]
        target = "wasi:cli/command@0.2.*"
        [limits]
        max-size = 10000000
        "#,
    );
    let (code, out, err) = check(&w, &[s(&hello), "--policy", s(&policy)]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("pass (5 rules checked)"), "{out}");

    write(
        r#"
        [imports]
        deny = ["wasi:filesystem/*"]
        [exports]
        require = ["wasi:http/incoming-handler@*"]
        [limits]
        max-size = 1000
        [metadata]
        require-licenses = true
        [sbom]
        require = true
        "#,
    );
    let (code, out, _) = check(&w, &[s(&hello), "--policy", s(&policy)]);
    assert_eq!(code, 1, "{out}");
    for expected in [
        "violation [imports-denied]: import `wasi:filesystem/types@0.2.12` is denied",
        "violation [imports-denied]: import `wasi:filesystem/preopens@0.2.12` is denied",
        "violation [exports-required]: no export matches `wasi:http/incoming-handler@*`",
        "violation [max-size]:",
        "violation [licenses]: no `licenses` metadata section",
        "violation [sbom]: no cargo-auditable `.dep-v0` section",
    ] {
        assert!(out.contains(expected), "missing `{expected}` in:\n{out}");
    }
    let (code, out, _) = check(&w, &[s(&hello), "--policy", s(&policy), "--json"]);
    assert_eq!(code, 1);
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["passed"], false);
    assert_eq!(report["violations"].as_array().unwrap().len(), 6);
    let (code, out, _) = check(
        &w,
        &[s(&hello), "--policy", s(&policy), "--format", "sarif"],
    );
    assert_eq!(code, 1);
    let sarif: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(sarif["version"], "2.1.0");
    let results = sarif["runs"][0]["results"].as_array().unwrap();
    assert_eq!(results.len(), 6);
    assert!(results.iter().all(|r| r["level"] == "error"
        && r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == s(&hello)));
    let rule_ids: Vec<&str> = sarif["runs"][0]["tool"]["driver"]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert!(
        results
            .iter()
            .all(|r| rule_ids.contains(&r["ruleId"].as_str().unwrap()))
    );

    // errors are exit 2: a broken policy, an unknown key, a missing input
    write("[imports\nallow = 1");
    let (code, _, err) = check(&w, &[s(&hello), "--policy", s(&policy)]);
    assert_eq!(code, 2, "{err}");
    assert!(err.starts_with("error: invalid policy"), "{err}");
    write("[imports]\nalow = []\n");
    assert_eq!(check(&w, &[s(&hello), "--policy", s(&policy)]).0, 2);
    write("");
    assert_eq!(
        check(
            &w,
            &[s(&work.path().join("missing.wasm")), "--policy", s(&policy)]
        )
        .0,
        2
    );
    write("[imports]\nallow = [\"[unclosed\"]\n");
    assert_eq!(check(&w, &[s(&hello), "--policy", s(&policy)]).0, 2);
}

#[test]
fn policy_signature_rule_on_a_pushed_package() {
    let w = Wharf::new();
    let work = tempfile::tempdir().unwrap();
    let reg = Registry::start();
    let hello = hello_component(&w, work.path());
    let reference = format!("{}/demo/gated:1.0.0", reg.addr);
    w.ok(&["push", s(&hello), &reference]);
    w.ok(&["key", "generate", "-o", s(&work.path().join("release"))]);
    w.ok(&["key", "generate", "-o", s(&work.path().join("other"))]);
    let policy = work.path().join("policy.toml");
    std::fs::write(&policy, "[signature]\nkeys = [\"release.pub\"]\n").unwrap();
    let (code, out, _) = check(&w, &[&reference, "--policy", s(&policy)]);
    assert_eq!(code, 1, "unsigned fails: {out}");
    assert!(
        out.contains("violation [signature]") && out.contains("has no signature"),
        "{out}"
    );
    w.ok(&[
        "sign",
        &reference,
        "--key",
        s(&work.path().join("release.key")),
    ]);
    let (code, out, err) = check(&w, &[&reference, "--policy", s(&policy)]);
    assert_eq!(code, 0, "{out}{err}");
    std::fs::write(&policy, "[signature]\nkeys = [\"other.pub\"]\n").unwrap();
    let (code, out, _) = check(&w, &[&reference, "--policy", s(&policy)]);
    assert_eq!(code, 1, "{out}");
    // a signature rule on a local file cannot be met: an error, not a pass
    assert_eq!(check(&w, &[s(&hello), "--policy", s(&policy)]).0, 2);
}
