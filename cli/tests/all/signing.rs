//! Keys, signatures and verification, checked by an independent implementation (openssl)
//! so the format is proven, not assumed; against wharf-registry (referrers API) and the
//! reference registry (cosign's `.sig` tag fallback).

use base64::Engine as _;

use crate::support::{
    DockerRegistry, Registry, Wharf, assert_openssl_verifies, hello_component, s,
};

fn keys(w: &Wharf, dir: &std::path::Path, name: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let base = dir.join(name);
    let id = w.ok(&["key", "generate", "-o", s(&base)]);
    // and `--json` names both files
    let other = dir.join(format!("{name}-json"));
    let made: serde_json::Value =
        serde_json::from_str(&w.ok(&["key", "generate", "-o", s(&other), "--json"])).unwrap();
    assert_eq!(
        made["public_key"],
        s(&other.with_extension("pub")),
        "{made}"
    );
    assert!(
        made["key_id"].as_str().unwrap().starts_with("sha256:"),
        "{made}"
    );
    assert!(
        id.trim().starts_with("sha256:") && id.trim().len() == 23,
        "{id}"
    );
    let private = base.with_extension("key");
    use std::os::unix::fs::PermissionsExt as _;
    assert_eq!(
        std::fs::metadata(&private).unwrap().permissions().mode() & 0o777,
        0o600,
        "the private key is private"
    );
    (private, base.with_extension("pub"))
}

#[test]
fn sign_verify_and_an_independent_check_with_openssl() {
    let w = Wharf::new();
    let work = tempfile::tempdir().unwrap();
    let (key, public) = keys(&w, work.path(), "release");
    let (_, stranger) = keys(&w, work.path(), "stranger");
    let err = w.fails(&["key", "generate", "-o", s(&work.path().join("release"))]);
    assert!(err.contains("not overwriting"), "{err}");

    let reg = Registry::start();
    let hello = hello_component(&w, work.path());
    let reference = format!("{}/demo/signed:1.0.0", reg.addr);
    let digest = w.ok(&["push", s(&hello), &reference]).trim().to_owned();
    // unsigned: not verified
    let err = w.fails(&["verify", &reference, "--key", s(&public)]);
    assert!(err.contains("has no signature"), "{err}");
    // the legacy simple-signing format, checked by openssl below
    let sig_manifest = w
        .ok(&["sign", &reference, "--key", s(&key), "--format", "legacy"])
        .trim()
        .to_owned();
    assert!(sig_manifest.starts_with("sha256:"));
    let report: serde_json::Value =
        serde_json::from_str(&w.ok(&["verify", &reference, "--key", s(&public), "--json"]))
            .unwrap();
    assert_eq!(report["verified"], true);
    assert_eq!(report["digest"], digest.as_str());
    // a key we do not trust
    let err = w.fails(&["verify", &reference, "--key", s(&stranger)]);
    assert!(err.contains("no signature is by a trusted key"), "{err}");

    // openssl checks the signature over the payload blob, found through the referrers API
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (payload, signature) = rt.block_on(async {
        let index: serde_json::Value = reqwest::get(format!(
            "http://{}/v2/demo/signed/referrers/{digest}",
            reg.addr
        ))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
        assert_eq!(
            index["manifests"][0]["artifactType"],
            "application/vnd.dev.cosign.artifact.sig.v1+json"
        );
        // the registry answered `OCI-Subject`: no cosign `.sig` tag fallback was written
        let tags: serde_json::Value =
            reqwest::get(format!("http://{}/v2/demo/signed/tags/list", reg.addr))
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
        assert_eq!(tags["tags"], serde_json::json!(["1.0.0"]));
        let m: serde_json::Value = reqwest::get(format!(
            "http://{}/v2/demo/signed/manifests/{}",
            reg.addr,
            index["manifests"][0]["digest"].as_str().unwrap()
        ))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
        let layer = &m["layers"][0];
        assert_eq!(
            layer["mediaType"],
            "application/vnd.dev.cosign.simplesigning.v1+json"
        );
        assert_eq!(m["subject"]["digest"], digest.as_str());
        let payload = reqwest::get(format!(
            "http://{}/v2/demo/signed/blobs/{}",
            reg.addr,
            layer["digest"].as_str().unwrap()
        ))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
        (
            payload.to_vec(),
            layer["annotations"]["dev.cosignproject.cosign/signature"]
                .as_str()
                .unwrap()
                .to_owned(),
        )
    });
    let p: serde_json::Value = serde_json::from_slice(&payload).unwrap();
    assert_eq!(
        p["critical"]["image"]["docker-manifest-digest"],
        digest.as_str()
    );
    assert_eq!(
        p["critical"]["identity"]["docker-reference"],
        format!("{}/demo/signed", reg.addr)
    );
    std::fs::write(work.path().join("payload.json"), &payload).unwrap();
    std::fs::write(
        work.path().join("sig.der"),
        base64::engine::general_purpose::STANDARD
            .decode(&signature)
            .unwrap(),
    )
    .unwrap();
    assert_openssl_verifies(
        &public,
        &work.path().join("sig.der"),
        &work.path().join("payload.json"),
    );

    // a second signature (a Sigstore bundle, the default) is kept beside the first
    let (key2, public2) = keys(&w, work.path(), "second");
    let signed: serde_json::Value =
        serde_json::from_str(&w.ok(&["sign", &reference, "--key", s(&key2), "--json"])).unwrap();
    assert_eq!(signed["format"], "bundle", "{signed}");
    assert!(
        signed["signature_digest"]
            .as_str()
            .unwrap()
            .starts_with("sha256:"),
        "{signed}"
    );
    assert_eq!(signed["key_id"].as_str().unwrap().len(), 23, "{signed}");
    assert!(
        signed["manifest_digest"]
            .as_str()
            .unwrap()
            .starts_with("sha256:"),
        "{signed}"
    );
    for k in [&public, &public2] {
        w.ok(&["verify", &reference, "--key", s(k)]);
    }
    // `wharf tags` counts them, and lists no cosign `.sig` tag as a version
    let repo = reference.rsplit_once(':').unwrap().0;
    let listed: serde_json::Value = serde_json::from_str(&w.ok(&["tags", repo, "--json"])).unwrap();
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["signatures"], 2, "{listed:?}");
    // a version cannot be moved to other content (immutable versions)...
    let other = work.path().join("other.wasm");
    std::fs::write(&other, wat::parse_str("(component)").unwrap()).unwrap();
    let err = w.fails(&["push", s(&other), &reference]);
    assert!(
        err.contains("DENIED") && err.contains("already exists"),
        "{err}"
    );
    // ...but a plain tag can: then the signatures name the old digest and do not verify it
    let latest = format!("{}/demo/signed:latest", reg.addr);
    w.ok(&["push", s(&hello), &latest]);
    w.ok(&["sign", &latest, "--key", s(&key)]);
    w.ok(&["verify", &latest, "--key", s(&public)]);
    w.ok(&["push", s(&other), &latest]);
    let err = w.fails(&["verify", &latest, "--key", s(&public)]);
    assert!(err.contains("is not verified"), "{err}");
    // but the signed digest itself still verifies
    w.ok(&[
        "verify",
        &format!("{}/demo/signed@{digest}", reg.addr),
        "--key",
        s(&public),
    ]);
}

#[test]
fn signatures_fall_back_to_the_cosign_tag_without_a_referrers_api() {
    let w = Wharf::new();
    let work = tempfile::tempdir().unwrap();
    let (key, public) = keys(&w, work.path(), "k");
    let (key2, public2) = keys(&w, work.path(), "k2");
    let registry = DockerRegistry::start(work.path(), "");
    let hello = hello_component(&w, work.path());
    let reference = format!("{}/demo/fallback:1.0.0", registry.addr);
    let digest = w.ok(&["push", s(&hello), &reference]).trim().to_owned();
    // a legacy signature goes under cosign's `.sig` tag, a bundle into the referrers tag
    // schema's index
    w.ok(&["sign", &reference, "--key", s(&key), "--format", "legacy"]);
    w.ok(&["sign", &reference, "--key", s(&key2)]);
    let tags = w
        .cmd()
        .args([
            "inspect",
            &format!(
                "{}/demo/fallback:{}",
                registry.addr,
                format_args!("sha256-{}.sig", digest.trim_start_matches("sha256:"))
            ),
            "--json",
        ])
        .output()
        .unwrap();
    assert!(
        !tags.status.success(),
        "the .sig tag is not a wasm package, but it exists"
    );
    let report: serde_json::Value =
        serde_json::from_str(&w.ok(&["verify", &reference, "--key", s(&public), "--json"]))
            .unwrap();
    let signatures = report["signatures"].as_array().unwrap();
    assert_eq!(signatures.len(), 2, "both signatures found: {report}");
    let legacy = signatures.iter().find(|s| s["format"] == "legacy").unwrap();
    assert!(
        legacy["source"]
            .as_str()
            .unwrap()
            .starts_with("tag sha256-"),
        "{report}"
    );
    assert_eq!(legacy["valid"], true, "{report}");
    let bundle = signatures.iter().find(|s| s["format"] == "bundle").unwrap();
    assert!(
        bundle["source"]
            .as_str()
            .unwrap()
            .starts_with("referrer sha256:"),
        "{report}"
    );
    assert_eq!(bundle["valid"], false, "not by this key: {report}");
    w.ok(&["verify", &reference, "--key", s(&public2)]);
    // the bundle is listed under the referrers tag `sha256-<hex>`, with cosign's
    // annotations on its descriptor
    let index = crate::support::get_json(&format!(
        "http://{}/v2/demo/fallback/manifests/sha256-{}",
        registry.addr,
        digest.trim_start_matches("sha256:")
    ));
    let listed = &index["manifests"][0];
    assert_eq!(
        listed["artifactType"], "application/vnd.dev.sigstore.bundle.v0.3+json",
        "{index}"
    );
    assert_eq!(
        listed["annotations"]["dev.sigstore.bundle.predicateType"],
        "https://sigstore.dev/cosign/sign/v1",
        "{index}"
    );
}

/// The trust policy: pull and run refuse what a trusted key did not sign; the program
/// never runs.
#[test]
fn trust_policy_is_enforced_by_pull_and_run() {
    let w = Wharf::new();
    let work = tempfile::tempdir().unwrap();
    let (key, _public) = keys(&w, work.path(), "release");
    let (rogue, _) = keys(&w, work.path(), "rogue");
    let reg = Registry::start();
    let policy = work.path().join("trust.toml");
    std::fs::write(
        &policy,
        format!(
            "[[rules]]\nscope = \"{}/demo\"\nkeys = [\"release.pub\"]\n",
            reg.addr
        ),
    )
    .unwrap();
    let hello = hello_component(&w, work.path());
    let signed = format!("{}/demo/app:1.0.0", reg.addr);
    let unsigned = format!("{}/demo/unsigned:1.0.0", reg.addr);
    let forged = format!("{}/demo/forged:1.0.0", reg.addr);
    let elsewhere = format!("{}/other/app:1.0.0", reg.addr);
    for r in [&signed, &unsigned, &forged, &elsewhere] {
        w.ok(&["push", s(&hello), r]);
    }
    w.ok(&["sign", &signed, "--key", s(&key)]);
    w.ok(&["sign", &forged, "--key", s(&rogue)]);
    let tp = ["--trust-policy", s(&policy)];
    let out = work.path().join("out.wasm");

    w.ok(&[&["pull", &signed, "-o", s(&out)][..], &tp[..]].concat());
    let ran = w
        .cmd()
        .args([&["run", &signed][..], &tp[..], &["--", "trusted"][..]].concat())
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&ran.stdout), "hello, trusted!\n");
    std::fs::remove_file(&out).unwrap();

    for r in [&unsigned, &forged] {
        let err = w.fails(&[&["pull", r, "-o", s(&out)][..], &tp[..]].concat());
        assert!(
            err.contains("refusing") && err.contains("is not verified"),
            "{err}"
        );
        assert!(!out.exists(), "nothing written for {r}");
        let ran = w
            .cmd()
            .args([&["run", r][..], &tp[..], &["--", "untrusted"][..]].concat())
            .output()
            .unwrap();
        assert_eq!(ran.status.code(), Some(1));
        assert!(ran.stdout.is_empty(), "the unverified program never ran");
    }
    // explicit and loud opt-out
    let skipped = w
        .cmd()
        .args(
            [
                &["pull", &unsigned, "-o", s(&out), "--insecure-skip-verify"][..],
                &tp[..],
            ]
            .concat(),
        )
        .output()
        .unwrap();
    assert!(skipped.status.success());
    assert!(String::from_utf8_lossy(&skipped.stderr).contains("NOT verifying"));
    // outside every scope: no check, unless --verify demands one
    w.ok(&[
        &["pull", &elsewhere, "-o", s(&work.path().join("e.wasm"))][..],
        &tp[..],
    ]
    .concat());
    let err = w.fails(
        &[
            &[
                "pull",
                &elsewhere,
                "-o",
                s(&work.path().join("e2.wasm")),
                "--verify",
            ][..],
            &tp[..],
        ]
        .concat(),
    );
    assert!(err.contains("names no signers"), "{err}");
    // a broken policy file is an error, not silence
    std::fs::write(&policy, "[[rules]]\nscope = 1\n").unwrap();
    let err = w.fails(&[&["pull", &signed, "-o", s(&out)][..], &tp[..]].concat());
    assert!(err.contains("invalid trust policy"), "{err}");
    std::fs::write(
        &policy,
        format!("[[rules]]\nscope = \"{}/demo\"\n", reg.addr),
    )
    .unwrap();
    let err = w.fails(&[&["pull", &signed, "-o", s(&out)][..], &tp[..]].concat());
    assert!(err.contains("names neither keys nor identities"), "{err}");
    // a rule naming only a keyless identity: the key-signed package is not enough
    std::fs::write(
        &policy,
        format!(
            "[[rules]]\nscope = \"{}/demo\"\nidentities = [{{ identity-regexp = \"^https://github.com/acme/\", issuer = \"https://token.actions.githubusercontent.com\" }}]\n",
            reg.addr
        ),
    )
    .unwrap();
    let err = w.fails(&[&["pull", &signed, "-o", s(&out)][..], &tp[..]].concat());
    assert!(
        err.contains("refusing") && err.contains("is not verified"),
        "{err}"
    );
    // ...and the same identity with the release key beside it lets it through
    std::fs::write(
        &policy,
        format!(
            "[[rules]]\nscope = \"{}/demo\"\nkeys = [\"release.pub\"]\nidentities = [{{ identity = \"ci@acme.example\", issuer-regexp = \"^https://\" }}]\n",
            reg.addr
        ),
    )
    .unwrap();
    w.ok(&[&["pull", &signed, "-o", s(&out)][..], &tp[..]].concat());
}

/// Yank: version ranges skip a yanked version, an exact pin still resolves with a warning,
/// and `--undo` brings it back.
#[test]
fn yanked_versions_are_skipped_by_ranges_and_warned_on_pins() {
    let w = Wharf::new();
    let work = tempfile::tempdir().unwrap();
    let reg = Registry::start();
    let hello = hello_component(&w, work.path());
    let other = work.path().join("other.wasm");
    std::fs::write(&other, wat::parse_str("(component)").unwrap()).unwrap();
    let flag = ["--registry", reg.addr.as_str()];
    let d1 = w
        .ok(&[&["push", s(&hello), "demo:app@1.0.0"][..], &flag[..]].concat())
        .trim()
        .to_owned();
    let d2 = w
        .ok(&[&["push", s(&other), "demo:app@1.1.0"][..], &flag[..]].concat())
        .trim()
        .to_owned();
    let newest = |w: &Wharf| -> String {
        let r: serde_json::Value = serde_json::from_str(
            &w.ok(&[
                &[
                    "pull",
                    "demo:app",
                    "-o",
                    s(&work.path().join("n.wasm")),
                    "--json",
                ][..],
                &flag[..],
            ]
            .concat()),
        )
        .unwrap();
        r["digest"].as_str().unwrap().to_owned()
    };
    assert_eq!(newest(&w), d2);
    w.ok(&[
        &["yank", "demo:app@1.1.0", "--reason", "broken build"][..],
        &flag[..],
    ]
    .concat());
    assert_eq!(newest(&w), d1, "the range skips the yanked 1.1.0");
    // an exact pin pulls, and says what it got; returns stderr
    let pull_pinned = |version: &str| {
        let out = w
            .cmd()
            .args(
                [
                    &["pull", version, "-o", s(&work.path().join("p.wasm"))][..],
                    &flag[..],
                ]
                .concat(),
            )
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let warned = pull_pinned("demo:app@1.1.0");
    assert!(warned.contains("is yanked: broken build"), "{warned}");
    let yanked: serde_json::Value = serde_json::from_str(
        &w.ok(&[&["yank", "demo:app@1.0.0", "--json"][..], &flag[..]].concat()),
    )
    .unwrap();
    assert_eq!(
        (
            &yanked["version"],
            &yanked["yanked"],
            &yanked["manifest_digest"]
        ),
        (&"1.0.0".into(), &true.into(), &d1.clone().into()),
        "{yanked}"
    );
    let err = w.fails(
        &[
            &["pull", "demo:app", "-o", s(&work.path().join("x.wasm"))][..],
            &flag[..],
        ]
        .concat(),
    );
    assert!(
        err.contains("1.0.0 (yanked)") && err.contains("1.1.0 (yanked)"),
        "{err}"
    );
    let undone: serde_json::Value = serde_json::from_str(
        &w.ok(&[
            &["yank", "demo:app@1.1.0", "--undo", "--json"][..],
            &flag[..],
        ]
        .concat()),
    )
    .unwrap();
    assert_eq!(undone["marks_removed"], 1, "{undone}");
    assert_eq!(newest(&w), d2);

    // two versions of one manifest (the same file pushed as 1.2.0 and 1.3.0): yanking
    // 1.2.0 yanks that version only
    let push_at_epoch =
        |version: &str| w.ok_at_epoch(&[&["push", s(&other), version][..], &flag[..]].concat());
    let d3 = push_at_epoch("demo:app@1.2.0");
    assert_eq!(
        push_at_epoch("demo:app@1.3.0"),
        d3,
        "one manifest, two versions"
    );
    w.ok(&[
        &["yank", "demo:app@1.2.0", "--reason", "only this one"][..],
        &flag[..],
    ]
    .concat());
    assert_eq!(newest(&w), d3, "1.3.0 is still the newest version");
    let quiet = pull_pinned("demo:app@1.3.0");
    assert!(!quiet.contains("yanked"), "{quiet}");
    let (_, api) = crate::browse::get(&format!("http://{}/api/v1/packages/demo/app", reg.addr));
    let yanked = |v: &str| {
        api["versions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["version"] == v)
            .unwrap()["yanked"]
            .clone()
    };
    assert_eq!(yanked("1.2.0"), "only this one", "{api}");
    assert!(yanked("1.3.0").is_null(), "{api}");
    assert_eq!(api["latest"], "1.3.0");
    // the version page agrees, and a yank names a version, never a bare digest
    let (_, v13) = crate::browse::get(&format!(
        "http://{}/api/v1/packages/demo/app@1.3.0",
        reg.addr
    ));
    assert!(v13["yanked"].is_null(), "{v13}");
    let err = w.fails(&["yank", &format!("{}/demo/app@{d3}", reg.addr)]);
    assert!(err.contains("names no version"), "{err}");

    // `wharf tags`: every version, highest first, with its digest and yank
    let listed: serde_json::Value =
        serde_json::from_str(&w.ok(&[&["tags", "demo:app", "--json"][..], &flag[..]].concat()))
            .unwrap();
    let rows: Vec<(String, String, Option<String>)> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["tag"].as_str().unwrap().to_owned(),
                e["manifest_digest"].as_str().unwrap().to_owned(),
                e["yanked"].as_str().map(str::to_owned),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("1.3.0".to_owned(), d3.clone(), None),
            (
                "1.2.0".to_owned(),
                d3.clone(),
                Some("only this one".to_owned())
            ),
            ("1.1.0".to_owned(), d2.clone(), None),
            (
                "1.0.0".to_owned(),
                d1.clone(),
                Some("no reason given".to_owned())
            ),
        ]
    );
    let text = w.ok(&["tags", &format!("{}/demo/app", reg.addr)]);
    let first = text.lines().next().unwrap();
    assert!(first.starts_with("1.3.0"), "{text}");
    assert!(
        text.lines()
            .nth(1)
            .unwrap()
            .contains("yanked: only this one"),
        "{text}"
    );
}
