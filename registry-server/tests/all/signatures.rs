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
        let cd = self.blob(repo, b"{}").await;
        let ld = self.blob(repo, layer).await;
        let m = json!({
            "schemaVersion": 2, "mediaType": media_types::OCI_MANIFEST,
            "config": { "mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": 2 },
            "layers": [{ "mediaType": "application/octet-stream", "digest": ld, "size": layer.len() }],
        });
        let bytes = serde_json::to_vec(&m).unwrap();
        assert_eq!(self.manifest(repo, tag, &bytes).await, StatusCode::CREATED);
        Descriptor::of(media_types::OCI_MANIFEST, &bytes)
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
        let bytes = serde_json::to_vec(&m).unwrap();
        assert_eq!(
            self.manifest(repo, &Digest::sha256_of(&bytes).to_string(), &bytes)
                .await,
            StatusCode::CREATED
        );
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
