//! Sigstore bundles: the conformance suite's cases through `wharf verify-blob`, keyless
//! identity matching, tampered log entries, and the bundles `wharf sign` writes (cosign
//! v3's layout, checked field by field and by openssl over the DSSE encoding).

use std::path::{Path, PathBuf};

use base64::Engine as _;

use crate::support::{
    Registry, Wharf, assert_openssl_verifies, get_json, hello_component, root, s,
};

/// The identity every conformance bundle is signed by, unless the case says otherwise.
const BEACON: &str = "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main";
const GITHUB_ISSUER: &str = "https://token.actions.githubusercontent.com";

/// `../shared/testdata/sigstore-bundles/`: seven cases of the Sigstore client conformance
/// suite (read, never copied into the repository).
fn cases_dir() -> PathBuf {
    let dir = root().join("../shared/testdata/sigstore-bundles");
    assert!(
        dir.join("SOURCE.md").is_file(),
        "the Sigstore conformance cases are missing at {}",
        dir.display()
    );
    dir
}

/// The `verify-blob` arguments a case directory asks for (see its `SOURCE.md`).
fn case_args(dir: &Path) -> Vec<String> {
    let shared = dir.parent().unwrap();
    let artifact = match dir.join("artifact").is_file() {
        true => dir.join("artifact"),
        false => shared.join("a.txt"),
    };
    let mut args = vec![
        "verify-blob".to_owned(),
        s(&artifact).to_owned(),
        "--bundle".to_owned(),
        s(&dir.join("bundle.sigstore.json")).to_owned(),
    ];
    let read = |name: &str, default: &str| {
        std::fs::read_to_string(dir.join(name))
            .map(|t| t.trim().to_owned())
            .unwrap_or_else(|_| default.to_owned())
    };
    if dir.join("key.pub").is_file() {
        args.extend(["--key".to_owned(), s(&dir.join("key.pub")).to_owned()]);
    } else {
        args.extend([
            "--certificate-identity".to_owned(),
            read("identity", BEACON),
            "--certificate-oidc-issuer".to_owned(),
            read("issuer", GITHUB_ISSUER),
        ]);
    }
    if dir.join("trusted_root.json").is_file() {
        args.extend([
            "--trusted-root".to_owned(),
            s(&dir.join("trusted_root.json")).to_owned(),
        ]);
    }
    args
}

fn run(w: &Wharf, args: &[String]) -> (Option<i32>, String) {
    let out = w.cmd().args(args).output().unwrap();
    (
        out.status.code(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn every_conformance_case_passes_or_fails_as_it_should() {
    let w = Wharf::new();
    let mut seen = Vec::new();
    for entry in std::fs::read_dir(cases_dir()).unwrap() {
        let dir = entry.unwrap().path();
        if !dir.is_dir() {
            continue;
        }
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let (code, output) = run(&w, &case_args(&dir));
        // the reason each failing case must be refused for, and its exit status: 1 for a
        // bundle that does not verify, 2 for a key file that is not a key
        let expected = match name.as_str() {
            "signature-mismatch_fail" => Some((1, "signature")),
            "rekor2-no-inclusion-proof_fail" => Some((1, "inclusion proof")),
            "managed-key-wrong-key_fail" => Some((2, "key.pub")),
            n if n.ends_with("_fail") => panic!("a failing case without an expectation: {n}"),
            _ => None,
        };
        match expected {
            None => assert_eq!(code, Some(0), "{name} must verify: {output}"),
            Some((status, reason)) => {
                assert_eq!(code, Some(status), "{name} must fail: {output}");
                assert!(output.contains(reason), "{name}: {output}");
            }
        }
        seen.push(name);
    }
    seen.sort();
    assert_eq!(
        seen,
        [
            "happy-path-v0.3",
            "intoto-with-custom-trust-root",
            "managed-key-happy-path",
            "managed-key-wrong-key_fail",
            "rekor2-happy-path",
            "rekor2-no-inclusion-proof_fail",
            "signature-mismatch_fail",
        ]
    );

    // the artifact may be given by its digest, and --json reports the signer
    let happy = cases_dir().join("happy-path-v0.3");
    let digest = crate::support::file_digest(&cases_dir().join("a.txt"));
    let mut args = case_args(&happy);
    args[1] = digest.clone();
    args.push("--json".into());
    let (code, output) = run(&w, &args);
    assert_eq!(code, Some(0), "{output}");
    let report: serde_json::Value = serde_json::from_str(&output).unwrap();
    assert_eq!(report["verified"], true);
    assert_eq!(
        report["signer"],
        format!("{BEACON} ({GITHUB_ISSUER})"),
        "{report}"
    );
    assert_eq!(report["content"], "message-signature");
    // another file, or another digest, is not what the bundle signs
    let other = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(other.path(), b"not a.txt\n").unwrap();
    let mut args = case_args(&happy);
    args[1] = s(other.path()).to_owned();
    let (code, output) = run(&w, &args);
    assert_eq!(code, Some(1), "{output}");
    let mut args = case_args(&happy);
    args[1] = format!("sha256:{}", "0".repeat(64));
    let (code, output) = run(&w, &args);
    assert_eq!(code, Some(1), "{output}");
    assert!(output.contains("not sha256:0000"), "{output}");
    // the in-toto case names its subject in the statement
    let mut args = case_args(&cases_dir().join("intoto-with-custom-trust-root"));
    args[1] = format!("sha256:{}", "1".repeat(64));
    let (code, output) = run(&w, &args);
    assert_eq!(code, Some(1), "{output}");
    assert!(output.contains("the bundle signs sha256:"), "{output}");
}

#[test]
fn keyless_identities_and_issuers_are_matched_exactly_or_by_expression() {
    let w = Wharf::new();
    let happy = cases_dir().join("happy-path-v0.3");
    let base = |flags: &[&str]| {
        let mut args = case_args(&happy);
        args.truncate(4); // verify-blob FILE --bundle B
        args.extend(flags.iter().map(|f| f.to_string()));
        args
    };
    let cases: [(&[&str], Option<i32>, &str); 7] = [
        (
            &[
                "--certificate-identity",
                "https://github.com/someone/else/.github/workflows/release.yml@refs/heads/main",
                "--certificate-oidc-issuer",
                GITHUB_ISSUER,
            ],
            Some(1),
            "not a trusted identity",
        ),
        (
            &[
                "--certificate-identity-regexp",
                "^https://github.com/sigstore-conformance/",
                "--certificate-oidc-issuer",
                GITHUB_ISSUER,
            ],
            Some(0),
            "verified",
        ),
        (
            &[
                "--certificate-identity",
                BEACON,
                "--certificate-oidc-issuer-regexp",
                "^https://accounts\\.google\\.com$",
            ],
            Some(1),
            "not a trusted identity",
        ),
        (
            &[
                "--certificate-identity",
                BEACON,
                "--certificate-oidc-issuer",
                "https://token.actions.githubusercontent.com.evil",
            ],
            Some(1),
            "not a trusted identity",
        ),
        // no signer named: cannot check
        (&[], Some(2), "name who may have signed"),
        // an identity without an issuer
        (
            &["--certificate-identity", BEACON],
            Some(2),
            "needs its OIDC issuer",
        ),
        (
            &[
                "--certificate-identity-regexp",
                "(",
                "--certificate-oidc-issuer",
                GITHUB_ISSUER,
            ],
            Some(2),
            "invalid regular expression",
        ),
    ];
    for (flags, code, text) in cases {
        let (got, output) = run(&w, &base(flags));
        assert_eq!(got, code, "{flags:?}: {output}");
        assert!(output.contains(text), "{flags:?}: {output}");
    }
    // a key where the bundle is keyless: the key does not make it trusted
    let key = cases_dir().join("managed-key-happy-path/key.pub");
    let (got, output) = run(&w, &base(&["--key", s(&key)]));
    assert_eq!(got, Some(1), "{output}");
    assert!(output.contains("no identity is trusted"), "{output}");
}

/// Edits a JSON bundle at `pointer` and writes it to a new file.
fn tampered(from: &Path, dir: &Path, name: &str, edit: impl Fn(&mut serde_json::Value)) -> PathBuf {
    let mut bundle: serde_json::Value =
        serde_json::from_slice(&std::fs::read(from).unwrap()).unwrap();
    edit(&mut bundle);
    let out = dir.join(name);
    std::fs::write(&out, serde_json::to_vec(&bundle).unwrap()).unwrap();
    out
}

#[test]
fn tampered_log_entries_are_refused() {
    let w = Wharf::new();
    let work = tempfile::tempdir().unwrap();
    let flip = |v: &mut serde_json::Value| {
        // change one base64 character of a hash, keeping it decodable
        let text = v.as_str().unwrap().to_owned();
        let first = if text.starts_with('A') { "B" } else { "A" };
        *v = serde_json::Value::String(format!("{first}{}", &text[1..]));
    };
    for (case, name, edit) in [
        (
            "happy-path-v0.3",
            "proof-hash",
            Box::new(|b: &mut serde_json::Value| {
                flip(
                    &mut b["verificationMaterial"]["tlogEntries"][0]["inclusionProof"]["hashes"][0],
                )
            }) as Box<dyn Fn(&mut serde_json::Value)>,
        ),
        (
            "happy-path-v0.3",
            "log-index",
            Box::new(|b: &mut serde_json::Value| {
                let e = &mut b["verificationMaterial"]["tlogEntries"][0];
                let index: u64 = e["logIndex"].as_str().unwrap().parse().unwrap();
                e["logIndex"] = serde_json::Value::String((index + 1).to_string());
            }),
        ),
        (
            "happy-path-v0.3",
            "integrated-time",
            Box::new(|b: &mut serde_json::Value| {
                let e = &mut b["verificationMaterial"]["tlogEntries"][0];
                let t: u64 = e["integratedTime"].as_str().unwrap().parse().unwrap();
                e["integratedTime"] = serde_json::Value::String((t + 60).to_string());
            }),
        ),
        (
            "rekor2-happy-path",
            "rekor2-proof-hash",
            Box::new(|b: &mut serde_json::Value| {
                flip(
                    &mut b["verificationMaterial"]["tlogEntries"][0]["inclusionProof"]["hashes"][0],
                )
            }),
        ),
        (
            "rekor2-happy-path",
            "rekor2-checkpoint",
            Box::new(|b: &mut serde_json::Value| {
                // the checkpoint's tree size, inside the signed note
                let proof = &mut b["verificationMaterial"]["tlogEntries"][0]["inclusionProof"];
                let envelope = proof["checkpoint"]["envelope"].as_str().unwrap().to_owned();
                let mut lines: Vec<String> = envelope.lines().map(str::to_owned).collect();
                let size: u64 = lines[1].parse().unwrap();
                lines[1] = (size + 1).to_string();
                proof["checkpoint"]["envelope"] =
                    serde_json::Value::String(format!("{}\n", lines.join("\n")));
            }),
        ),
    ] {
        let dir = cases_dir().join(case);
        let mut args = case_args(&dir);
        let bundle = tampered(&PathBuf::from(&args[3]), work.path(), name, edit);
        args[3] = s(&bundle).to_owned();
        let (code, output) = run(&w, &args);
        assert_eq!(code, Some(1), "{case} with a changed {name}: {output}");
        assert!(output.contains("is not verified"), "{name}: {output}");
    }
}

/// `wharf sign` writes what cosign v3 writes: the referrer's media types and annotations,
/// the in-toto statement, and a DSSE signature openssl verifies over the pre-authentication
/// encoding. The keyed path verifies it; another key, another subject and the missing log
/// entry (for `verify-blob`, as cosign) are refused.
#[test]
fn wharf_sign_writes_the_bundle_cosign_v3_writes() {
    let w = Wharf::new();
    let work = tempfile::tempdir().unwrap();
    let base = work.path().join("release");
    w.ok(&["key", "generate", "-o", s(&base)]);
    let (key, public) = (base.with_extension("key"), base.with_extension("pub"));
    let stranger = work.path().join("stranger");
    w.ok(&["key", "generate", "-o", s(&stranger)]);
    let reg = Registry::start();
    let hello = hello_component(&w, work.path());
    let reference = format!("{}/demo/bundled:1.0.0", reg.addr);
    let digest = w.ok(&["push", s(&hello), &reference]).trim().to_owned();
    w.ok(&["sign", &reference, "--key", s(&key)]);

    let index = get_json(&format!(
        "http://{}/v2/demo/bundled/referrers/{digest}",
        reg.addr
    ));
    let listed = &index["manifests"][0];
    assert_eq!(
        listed["artifactType"],
        "application/vnd.dev.sigstore.bundle.v0.3+json"
    );
    let m = get_json(&format!(
        "http://{}/v2/demo/bundled/manifests/{}",
        reg.addr,
        listed["digest"].as_str().unwrap()
    ));
    assert_eq!(m["mediaType"], "application/vnd.oci.image.manifest.v1+json");
    assert_eq!(m["artifactType"], listed["artifactType"]);
    assert_eq!(
        m["config"]["mediaType"],
        "application/vnd.oci.empty.v1+json"
    );
    assert_eq!(
        m["config"]["digest"],
        "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
    );
    assert_eq!(m["subject"]["digest"], digest.as_str());
    let annotations = &m["annotations"];
    assert_eq!(annotations["dev.sigstore.bundle.content"], "dsse-envelope");
    assert_eq!(
        annotations["dev.sigstore.bundle.predicateType"],
        "https://sigstore.dev/cosign/sign/v1"
    );
    let created = annotations["org.opencontainers.image.created"]
        .as_str()
        .unwrap();
    chrono::DateTime::parse_from_rfc3339(created).unwrap();
    assert_eq!(
        listed["annotations"], m["annotations"],
        "the registry lists the annotations"
    );
    let layers = m["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 1);
    let layer = &layers[0];
    assert_eq!(
        layer["mediaType"],
        "application/vnd.dev.sigstore.bundle.v0.3+json"
    );
    let layer_digest = layer["digest"].as_str().unwrap();
    assert_eq!(
        layer["annotations"]["org.opencontainers.image.title"],
        format!("{}.sigstore.json", layer_digest.replace(':', "-"))
    );
    let bundle_bytes = crate::support::get_bytes(&format!(
        "http://{}/v2/demo/bundled/blobs/{layer_digest}",
        reg.addr
    ));
    let bundle: serde_json::Value = serde_json::from_slice(&bundle_bytes).unwrap();
    assert_eq!(
        bundle["mediaType"],
        "application/vnd.dev.sigstore.bundle.v0.3+json"
    );
    assert!(
        bundle["verificationMaterial"]["publicKey"]["hint"]
            .as_str()
            .is_some_and(|h| !h.is_empty()),
        "{bundle}"
    );
    let envelope = &bundle["dsseEnvelope"];
    assert_eq!(envelope["payloadType"], "application/vnd.in-toto+json");
    let b64 = base64::engine::general_purpose::STANDARD;
    let payload = b64.decode(envelope["payload"].as_str().unwrap()).unwrap();
    let statement: serde_json::Value = serde_json::from_slice(&payload).unwrap();
    assert_eq!(statement["_type"], "https://in-toto.io/Statement/v1");
    assert_eq!(
        statement["predicateType"],
        "https://sigstore.dev/cosign/sign/v1"
    );
    assert_eq!(statement["predicate"], serde_json::json!({}));
    assert_eq!(
        statement["subject"],
        serde_json::json!([{"digest": {"sha256": digest.trim_start_matches("sha256:")}}])
    );
    // openssl checks the signature over DSSE's PAE: "DSSEv1 <len> <type> <len> <payload>"
    let mut pae = format!(
        "DSSEv1 {} application/vnd.in-toto+json {} ",
        "application/vnd.in-toto+json".len(),
        payload.len()
    )
    .into_bytes();
    pae.extend_from_slice(&payload);
    std::fs::write(work.path().join("pae"), &pae).unwrap();
    let signatures = envelope["signatures"].as_array().unwrap();
    assert_eq!(signatures.len(), 1);
    std::fs::write(
        work.path().join("sig.der"),
        b64.decode(signatures[0]["sig"].as_str().unwrap()).unwrap(),
    )
    .unwrap();
    assert_openssl_verifies(
        &public,
        &work.path().join("sig.der"),
        &work.path().join("pae"),
    );

    // the keyed path accepts it; another key does not
    let report: serde_json::Value =
        serde_json::from_str(&w.ok(&["verify", &reference, "--key", s(&public), "--json"]))
            .unwrap();
    assert_eq!(report["verified"], true, "{report}");
    assert_eq!(report["signatures"][0]["format"], "bundle", "{report}");
    let err = w.fails(&[
        "verify",
        &reference,
        "--key",
        s(&stranger.with_extension("pub")),
    ]);
    assert!(err.contains("is not verified"), "{err}");
    // verify-blob wants the log entry with a key, as cosign does, unless told otherwise
    let bundle_file = work.path().join("bundle.json");
    std::fs::write(&bundle_file, &bundle_bytes).unwrap();
    let blob = |subject: &str, extra: &[&str]| {
        let mut args = vec![
            "verify-blob".to_owned(),
            subject.to_owned(),
            "--bundle".to_owned(),
            s(&bundle_file).to_owned(),
            "--key".to_owned(),
            s(&public).to_owned(),
        ];
        args.extend(extra.iter().map(|e| e.to_string()));
        run(&w, &args)
    };
    let (code, output) = blob(&digest, &[]);
    assert_eq!(code, Some(1), "{output}");
    assert!(output.contains("transparency-log entry"), "{output}");
    let (code, output) = blob(&digest, &["--insecure-ignore-tlog"]);
    assert_eq!(code, Some(0), "{output}");
    let (code, output) = blob(
        &format!("sha256:{}", "2".repeat(64)),
        &["--insecure-ignore-tlog"],
    );
    assert_eq!(code, Some(1), "{output}");
    assert!(
        output.contains(&format!("the bundle signs {digest}")),
        "{output}"
    );

    // a bundle attached to another manifest names its own subject, and is refused there
    let other = format!("{}/demo/bundled:2.0.0", reg.addr);
    let other_wasm = work.path().join("other.wasm");
    std::fs::write(&other_wasm, wat::parse_str("(component)").unwrap()).unwrap();
    let other_digest = w.ok(&["push", s(&other_wasm), &other]).trim().to_owned();
    let mut moved = m.clone();
    let other_manifest = crate::support::get_bytes(&format!(
        "http://{}/v2/demo/bundled/manifests/{other_digest}",
        reg.addr
    ));
    moved["subject"] = serde_json::json!({
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": other_digest,
        "size": other_manifest.len(),
    });
    crate::support::put_manifest(
        &format!("http://{}/v2/demo/bundled/manifests/moved", reg.addr),
        &serde_json::to_vec(&moved).unwrap(),
    );
    let out = w
        .cmd()
        .args(["verify", &other, "--key", s(&public), "--json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["verified"], false, "{report}");
    assert!(
        report["signatures"][0]["error"]
            .as_str()
            .unwrap()
            .contains(&format!("the bundle signs {digest}, not {other_digest}")),
        "{report}"
    );
}

/// `inspect` lists the attestations attached to a package (not its signatures), each
/// judged against the trust policy's signers for it.
#[test]
fn inspect_shows_attestations_with_their_verification() {
    let w = Wharf::new();
    let work = tempfile::tempdir().unwrap();
    let base = work.path().join("release");
    w.ok(&["key", "generate", "-o", s(&base)]);
    let reg = Registry::start();
    let hello = hello_component(&w, work.path());
    let reference = format!("{}/demo/attested:1.0.0", reg.addr);
    let digest: wharf_oci::Digest = w
        .ok(&["push", s(&hello), &reference])
        .trim()
        .parse()
        .unwrap();
    w.ok(&["sign", &reference, "--key", s(&base.with_extension("key"))]);
    // SLSA provenance signed by the release key, attached as cosign attaches it
    let private = std::fs::read_to_string(base.with_extension("key")).unwrap();
    let bundle = wharf_sign::bundle::sign_statement(
        &private,
        None,
        &digest,
        "https://slsa.dev/provenance/v1",
        serde_json::json!({"buildDefinition": {"buildType": "https://example.com/ci"}}),
    )
    .unwrap();
    let manifest_bytes = crate::support::get_bytes(&format!(
        "http://{}/v2/demo/attested/manifests/{digest}",
        reg.addr
    ));
    let subject = wharf_oci::Descriptor::new(
        "application/vnd.oci.image.manifest.v1+json",
        digest.clone(),
        manifest_bytes.len() as u64,
    );
    let m = wharf_sign::bundle::bundle_manifest(subject, &bundle, "2026-12-04T00:00:00.000Z");
    crate::support::push_blob(&reg.addr, "demo/attested", &bundle);
    crate::support::push_blob(&reg.addr, "demo/attested", b"{}");
    let bytes = serde_json::to_vec(&m).unwrap();
    let m_digest = wharf_oci::Digest::sha256_of(&bytes);
    crate::support::put_manifest(
        &format!("http://{}/v2/demo/attested/manifests/{m_digest}", reg.addr),
        &bytes,
    );

    let untrusted: serde_json::Value =
        serde_json::from_str(&w.ok(&["inspect", &reference, "--json"])).unwrap();
    let listed = untrusted["attestations"].as_array().unwrap();
    assert_eq!(
        listed.len(),
        1,
        "the signature is not an attestation: {untrusted}"
    );
    assert_eq!(
        listed[0]["predicate_type"],
        "https://slsa.dev/provenance/v1"
    );
    assert_eq!(listed[0]["digest"], m_digest.to_string());
    assert_eq!(
        listed[0]["status"], "unverified",
        "no key trusted: {untrusted}"
    );

    let policy = work.path().join("trust.toml");
    std::fs::write(
        &policy,
        format!(
            "[[rules]]\nscope = \"{}/demo\"\nkeys = [\"release.pub\"]\n",
            reg.addr
        ),
    )
    .unwrap();
    let trusted: serde_json::Value = serde_json::from_str(&w.ok(&[
        "inspect",
        &reference,
        "--json",
        "--trust-policy",
        s(&policy),
    ]))
    .unwrap();
    assert_eq!(
        trusted["attestations"][0]["status"], "verified",
        "{trusted}"
    );
    let text = w.ok(&["inspect", &reference, "--trust-policy", s(&policy)]);
    assert!(
        text.contains("attestation: https://slsa.dev/provenance/v1")
            && text.contains("verified by sha256:"),
        "{text}"
    );
}
