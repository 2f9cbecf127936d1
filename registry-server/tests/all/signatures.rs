//! Required signatures: under a configured prefix a manifest is served only when a
//! referrer signs exactly its digest with one of the operator's keys.

use crate::harness::TestApp;

use reqwest::StatusCode;
use serde_json::{Value, json};
use wharf_oci::{Descriptor, Digest, media_types};

async fn start(public_pem: &str) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("trusted.pub");
    std::fs::write(&key, public_pem).unwrap();
    let toml_text = format!(
        "[[signature-rules]]\nprefix = \"secure\"\nkeys = [{:?}]\n",
        key.to_str().unwrap()
    );
    TestApp::from_toml(dir, &toml_text).await
}

impl TestApp {
    async fn blob(&self, repo: &str, bytes: &[u8]) -> Digest {
        let d = Digest::sha256_of(bytes);
        let r = self
            .http
            .post(format!("{}/v2/{repo}/blobs/uploads/?digest={d}", self.base))
            .body(bytes.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        d
    }

    async fn manifest(&self, repo: &str, reference: &str, body: &[u8]) -> StatusCode {
        self.http
            .put(format!("{}/v2/{repo}/manifests/{reference}", self.base))
            .header("content-type", media_types::OCI_MANIFEST)
            .body(body.to_vec())
            .send()
            .await
            .unwrap()
            .status()
    }

    async fn get(&self, repo: &str, reference: &str) -> (StatusCode, Value) {
        let r = self
            .http
            .get(format!("{}/v2/{repo}/manifests/{reference}", self.base))
            .send()
            .await
            .unwrap();
        let status = r.status();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// Push an image and return its manifest descriptor.
    async fn image(&self, repo: &str, tag: &str, layer: &[u8]) -> Descriptor {
        let (_, bytes) = self.put_image(repo, tag, layer).await;
        Descriptor::of(media_types::OCI_MANIFEST, &bytes)
    }

    /// Push referrer manifest `m` by its digest, expecting 201.
    async fn put_by_digest(&self, repo: &str, m: &impl serde::Serialize) {
        let bytes = serde_json::to_vec(m).unwrap();
        assert_eq!(
            self.manifest(repo, &Digest::sha256_of(&bytes).to_string(), &bytes)
                .await,
            StatusCode::CREATED
        );
    }

    /// Sign `subject` with `private_pem`, as `wharf sign` does.
    async fn sign(&self, repo: &str, subject: &Descriptor, private_pem: &str) {
        let payload = serde_json::to_vec(&wharf_sign::SimpleSigning::new(
            &format!("x/{repo}"),
            &subject.digest,
        ))
        .unwrap();
        let signature = wharf_sign::sign(private_pem, None, &payload).unwrap();
        self.blob(repo, &payload).await;
        self.blob(repo, wharf_sign::EMPTY_CONFIG).await;
        let m = wharf_sign::signature_manifest(subject.clone(), &payload, &signature);
        self.put_by_digest(repo, &m).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn pulls_under_a_protected_prefix_need_a_trusted_signature() {
    let trusted = wharf_sign::generate_key(None).unwrap();
    let rogue = wharf_sign::generate_key(None).unwrap();
    let s = start(&trusted.public_pem).await;

    let app = s.image("secure/app", "1.0.0", b"app").await;
    let (status, body) = s.get("secure/app", "1.0.0").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["errors"][0]["code"], "DENIED");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("not signed by a trusted key"),
        "{body}"
    );

    // a signature by an untrusted key does not help
    s.sign("secure/app", &app, &rogue.private_pem).await;
    assert_eq!(s.get("secure/app", "1.0.0").await.0, StatusCode::FORBIDDEN);
    // the trusted key does; by tag and by digest
    s.sign("secure/app", &app, &trusted.private_pem).await;
    assert_eq!(s.get("secure/app", "1.0.0").await.0, StatusCode::OK);
    assert_eq!(
        s.get("secure/app", &app.digest.to_string()).await.0,
        StatusCode::OK
    );
    // the signature manifests themselves stay readable, and so do the referrers
    let index: Value = s
        .http
        .get(format!("{}/v2/secure/app/referrers/{}", s.base, app.digest))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let first = index["manifests"][0]["digest"].as_str().unwrap().to_owned();
    assert_eq!(s.get("secure/app", &first).await.0, StatusCode::OK);

    // a signature over another digest does not carry over
    let other = s.image("secure/app", "2.0.0", b"other").await;
    let payload =
        serde_json::to_vec(&wharf_sign::SimpleSigning::new("x/secure/app", &app.digest)).unwrap();
    let sig = wharf_sign::sign(&trusted.private_pem, None, &payload).unwrap();
    s.blob("secure/app", &payload).await;
    let m = serde_json::to_vec(&wharf_sign::signature_manifest(
        other.clone(),
        &payload,
        &sig,
    ))
    .unwrap();
    assert_eq!(
        s.manifest("secure/app", &Digest::sha256_of(&m).to_string(), &m)
            .await,
        StatusCode::CREATED
    );
    assert_eq!(
        s.get("secure/app", "2.0.0").await.0,
        StatusCode::FORBIDDEN,
        "a signature naming another digest is not valid here"
    );

    // outside the prefix nothing is required
    s.image("open/app", "1.0.0", b"free").await;
    assert_eq!(s.get("open/app", "1.0.0").await.0, StatusCode::OK);
}

impl TestApp {
    /// Sign `subject` with `private_pem` in a Sigstore bundle, as `wharf sign` does.
    async fn sign_bundle(&self, repo: &str, subject: &Descriptor, private_pem: &str) {
        let bundle = wharf_sign::bundle::sign_digest(private_pem, None, &subject.digest).unwrap();
        self.attach_bundle(repo, subject, &bundle).await;
    }

    /// Attach `bundle` to `subject` in cosign v3's referrer layout.
    async fn attach_bundle(&self, repo: &str, subject: &Descriptor, bundle: &[u8]) {
        self.blob(repo, bundle).await;
        self.blob(repo, wharf_sign::EMPTY_CONFIG).await;
        let m = wharf_sign::bundle::bundle_manifest(
            subject.clone(),
            bundle,
            "2026-12-04T00:00:00.000Z",
        );
        self.put_by_digest(repo, &m).await;
    }
}

/// Sigstore bundles count as signatures under a protected prefix exactly as legacy ones
/// do, and a rule may name keyless identities instead of keys.
#[tokio::test(flavor = "multi_thread")]
async fn bundles_satisfy_required_signatures_like_legacy_ones() {
    let trusted = wharf_sign::generate_key(None).unwrap();
    let rogue = wharf_sign::generate_key(None).unwrap();
    let s = start(&trusted.public_pem).await;
    let app = s.image("secure/bundled", "1.0.0", b"app").await;
    s.sign_bundle("secure/bundled", &app, &rogue.private_pem)
        .await;
    assert_eq!(
        s.get("secure/bundled", "1.0.0").await.0,
        StatusCode::FORBIDDEN
    );
    // a bundle by the trusted key, over another manifest, attached to this one
    let other = s.image("secure/bundled", "2.0.0", b"other").await;
    let elsewhere =
        wharf_sign::bundle::sign_digest(&trusted.private_pem, None, &other.digest).unwrap();
    s.attach_bundle("secure/bundled", &app, &elsewhere).await;
    assert_eq!(
        s.get("secure/bundled", "1.0.0").await.0,
        StatusCode::FORBIDDEN,
        "a bundle naming another digest is not valid here"
    );
    s.sign_bundle("secure/bundled", &app, &trusted.private_pem)
        .await;
    assert_eq!(s.get("secure/bundled", "1.0.0").await.0, StatusCode::OK);

    // the catalog reports each with its status and reason
    let version: Value = s
        .http
        .get(format!(
            "{}/api/v1/packages/secure/bundled@{}",
            s.base, app.digest
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let signatures = version["signatures"].as_array().unwrap();
    let statuses: Vec<&str> = signatures
        .iter()
        .map(|s| s["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses.len(), 3, "{version}");
    for status in ["verified", "unverified", "invalid"] {
        assert!(statuses.contains(&status), "{status}: {version}");
    }
    let invalid = signatures
        .iter()
        .find(|s| s["status"] == "invalid")
        .unwrap();
    assert!(
        invalid["detail"]
            .as_str()
            .unwrap()
            .contains(&format!("not {}", app.digest)),
        "{version}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rule_naming_only_identities_refuses_a_keyed_bundle() {
    let key = wharf_sign::generate_key(None).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let toml_text = "[[signature-rules]]\nprefix = \"ci\"\nidentities = [{ identity-regexp = \"^https://github.com/acme/\", issuer = \"https://token.actions.githubusercontent.com\" }]\n";
    let s = TestApp::from_toml(dir, toml_text).await;
    let app = s.image("ci/app", "1.0.0", b"app").await;
    s.sign_bundle("ci/app", &app, &key.private_pem).await;
    assert_eq!(s.get("ci/app", "1.0.0").await.0, StatusCode::FORBIDDEN);

    // a rule naming nobody, and an identity without its issuer, are configuration errors
    for bad in [
        "[[signature-rules]]\nprefix = \"x\"\n",
        "[[signature-rules]]\nprefix = \"x\"\nidentities = [{ identity = \"me@example.com\" }]\n",
    ] {
        let dir = tempfile::tempdir().unwrap();
        let config = wharf_registry::Config {
            data_dir: dir.path().to_path_buf(),
            signature_rules: toml::from_str::<wharf_registry::config::FileConfig>(bad)
                .unwrap()
                .signature_rules,
            ..Default::default()
        };
        let err = wharf_registry::open(config).await.err().unwrap();
        let text = format!("{err:#}");
        assert!(
            text.contains("names neither keys nor identities")
                || text.contains("needs its OIDC issuer"),
            "{text}"
        );
    }
}

/// An attestation bundle (SLSA provenance) is not a signature: it neither satisfies a
/// required-signature rule nor counts among the signatures, and its own page shows its
/// predicate type and how it verified.
#[tokio::test(flavor = "multi_thread")]
async fn attestation_bundles_show_their_verification_and_are_not_signatures() {
    let trusted = wharf_sign::generate_key(None).unwrap();
    let rogue = wharf_sign::generate_key(None).unwrap();
    let s = start(&trusted.public_pem).await;
    let app = s.image("secure/attested", "1.0.0", b"app").await;
    let provenance = |key: &str| {
        wharf_sign::bundle::sign_statement(
            key,
            None,
            &app.digest,
            "https://slsa.dev/provenance/v1",
            json!({"buildDefinition": {"buildType": "https://example.com/build"}}),
        )
        .unwrap()
    };
    let mut digests = Vec::new();
    for key in [&trusted.private_pem, &rogue.private_pem] {
        let bundle = provenance(key);
        s.attach_bundle("secure/attested", &app, &bundle).await;
        let m =
            wharf_sign::bundle::bundle_manifest(app.clone(), &bundle, "2026-12-04T00:00:00.000Z");
        digests.push(Digest::sha256_of(&serde_json::to_vec(&m).unwrap()));
    }
    assert_eq!(
        s.get("secure/attested", "1.0.0").await.0,
        StatusCode::FORBIDDEN,
        "an attestation by the trusted key is not a signature"
    );
    let get = |path: String| {
        let http = s.http.clone();
        async move {
            http.get(path)
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    let version = get(format!(
        "{}/api/v1/packages/secure/attested@{}",
        s.base, app.digest
    ))
    .await;
    assert_eq!(version["signatures"], json!([]), "{version}");
    let key_id = wharf_sign::key_id(&trusted.public_pem).unwrap();
    for (digest, status) in digests.iter().zip(["verified", "unverified"]) {
        let v = get(format!(
            "{}/api/v1/packages/secure/attested@{digest}",
            s.base
        ))
        .await;
        let a = &v["artifact"];
        assert_eq!(a["class"], "attestation", "{v}");
        assert_eq!(a["predicate_type"], "https://slsa.dev/provenance/v1", "{v}");
        assert_eq!(a["attestation"]["status"], status, "{v}");
        if status == "verified" {
            assert_eq!(a["attestation"]["signer"], key_id.as_str(), "{v}");
        }
    }
}
