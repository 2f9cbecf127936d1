//! Sigstore bundles (v0.3), the format cosign v3 writes by default: writing keyed ones
//! for a manifest digest, and judging any bundle, keyed or keyless.
//!
//! - Writing ([`sign_digest`], [`bundle_manifest`]) follows cosign v3's `sign`: a DSSE
//!   envelope (payload type `application/vnd.in-toto+json`) over an in-toto Statement v1
//!   whose one subject is the manifest digest and whose predicate type is
//!   `https://sigstore.dev/cosign/sign/v1` with an empty predicate; ECDSA P-256 over
//!   SHA-256 of the DSSE pre-authentication encoding; the bundle names the key by a hint
//!   (base64 SHA-256 of its DER SubjectPublicKeyInfo). The OCI layout is cosign's
//!   `specs/BUNDLE_SPEC.md`: a referrer with artifact type
//!   `application/vnd.dev.sigstore.bundle.v0.3+json`, the empty config, one bundle layer
//!   titled `sha256-<hex>.sigstore.json`, and the annotations `dev.sigstore.bundle.content`,
//!   `dev.sigstore.bundle.predicateType` and `org.opencontainers.image.created`. No
//!   transparency-log entry is made: wharf signs offline, as `cosign sign --key …
//!   --tlog-upload=false` does.
//! - Judging ([`judge_bundle`]) is the sigstore organisation's `sigstore-verify` crate:
//!   certificate chain to the trusted root's Fulcio authorities, SCTs, the transparency
//!   log entry (Rekor v1 inclusion proof and signed entry timestamp, or Rekor v2 inclusion
//!   proof to a signed checkpoint), RFC 3161 timestamps, the timestamp inside the
//!   certificate's validity, the signature, and the entry's consistency with the bundle.
//!   wharf adds the subject check (a clear "signs another digest" before any
//!   cryptography), identity and issuer matching by exact value or regular expression
//!   (cosign's `--certificate-identity[-regexp]`, `--certificate-oidc-issuer[-regexp]`),
//!   and the choice of keys.

use std::collections::BTreeMap;
use std::io::Read;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use p256::pkcs8::DecodePublicKey as _;
use serde_json::json;
use sha2::Digest as _;
pub use sigstore_verify::trust_root::TrustedRoot;
use sigstore_verify::types::{
    Artifact, ArtifactDigest, Bundle, DerPublicKey, HashAlgorithm, Sha256Hash, SignatureContent,
    Statement,
};
use sigstore_verify::{PublicKeyVerificationPolicy, VerificationPolicy, Verifier};
use wharf_oci::{Descriptor, Digest, DigestAlgorithm, ImageManifest, media_types};

use crate::{EMPTY_CONFIG, SignError, TrustedKey, Verdict};

/// Media type of a Sigstore bundle v0.3 (the layer's, and the referrer's artifact type).
pub const BUNDLE_MEDIA_TYPE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";
/// DSSE payload type of an in-toto statement.
pub const IN_TOTO_PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";
/// The in-toto Statement v1 type.
pub const IN_TOTO_STATEMENT_V1: &str = "https://in-toto.io/Statement/v1";
/// The predicate type of cosign v3's image signature statement.
pub const COSIGN_SIGN_PREDICATE: &str = "https://sigstore.dev/cosign/sign/v1";
/// Manifest annotation: `dsse-envelope` or `message-signature`.
pub const CONTENT_ANNOTATION: &str = "dev.sigstore.bundle.content";
/// Manifest annotation: the statement's predicate type, for a DSSE bundle.
pub const PREDICATE_ANNOTATION: &str = "dev.sigstore.bundle.predicateType";
/// Largest bundle read (bytes). A keyless bundle with its certificate, log entry, proof
/// and timestamp is 5 to 10 KiB; a layer claiming more is judged without being read.
pub const MAX_BUNDLE_BYTES: u64 = 256 * 1024;

/// The Sigstore public-good production trusted root (Fulcio, Rekor, CT log and TSA keys
/// with their validity windows), as shipped by `sigstore-trust-root` 0.15.1. Used when no
/// `--trusted-root` is given; verifying needs no network.
pub fn production_root() -> Result<TrustedRoot, SignError> {
    TrustedRoot::from_json(sigstore_verify::trust_root::SIGSTORE_PRODUCTION_TRUSTED_ROOT)
        .map_err(|e| SignError::TrustedRoot(e.to_string()))
}

/// A `trusted_root.json` (the format cosign's and sigstore-python's `--trusted-root` take,
/// media type `application/vnd.dev.sigstore.trustedroot+json;version=0.1`).
pub fn parse_root(json: &str) -> Result<TrustedRoot, SignError> {
    TrustedRoot::from_json(json).map_err(|e| SignError::TrustedRoot(e.to_string()))
}

/// The trusted root in the `trusted_root.json` at `path`, or without one the public-good
/// root built in ([`production_root`]).
///
/// # Errors
/// [`SignError::TrustedRoot`] naming the file that cannot be read or parsed.
pub fn load_root(path: Option<&std::path::Path>) -> Result<TrustedRoot, SignError> {
    match path {
        None => production_root(),
        Some(p) => {
            let text = std::fs::read_to_string(p).map_err(|e| {
                SignError::TrustedRoot(format!("failed to read `{}`: {e}", p.display()))
            })?;
            parse_root(&text).map_err(|e| SignError::TrustedRoot(format!("`{}`: {e}", p.display())))
        }
    }
}

/// How a certificate value (identity or issuer) is matched.
#[derive(Clone, Debug)]
pub enum Matcher {
    /// Equal to this text (cosign's `--certificate-identity`, `--certificate-oidc-issuer`).
    Exact(String),
    /// Matched by this regular expression, anchored at neither end unless it says so
    /// (cosign's `--certificate-identity-regexp`, Go's RE2 syntax, which `regex` shares).
    Regex(regex::Regex),
}

impl Matcher {
    /// A regular expression matcher.
    ///
    /// # Errors
    /// [`SignError::Pattern`] naming the expression when it does not compile.
    pub fn regex(pattern: &str) -> Result<Matcher, SignError> {
        regex::Regex::new(pattern)
            .map(Matcher::Regex)
            .map_err(|e| SignError::Pattern(pattern.to_owned(), e.to_string()))
    }

    /// Whether `value` matches.
    pub fn matches(&self, value: &str) -> bool {
        match self {
            Matcher::Exact(v) => v == value,
            Matcher::Regex(r) => r.is_match(value),
        }
    }
}

impl std::fmt::Display for Matcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Matcher::Exact(v) => f.write_str(v),
            Matcher::Regex(r) => write!(f, "/{}/", r.as_str()),
        }
    }
}

/// A keyless signer trusted to sign: the certificate's identity (its SAN: an email or a
/// URI such as a CI workflow) and the OIDC issuer that vouched for it (the Fulcio
/// extension 1.3.6.1.4.1.57264.1.8, or the legacy .1.1).
#[derive(Clone, Debug)]
pub struct IdentityRule {
    /// The certificate identity.
    pub identity: Matcher,
    /// The OIDC issuer.
    pub issuer: Matcher,
}

/// A keyless signer as a configuration file or the command line names it: the
/// certificate identity and the OIDC issuer, each exact or by regular expression (cosign's
/// `--certificate-identity[-regexp]`, `--certificate-oidc-issuer[-regexp]`). In TOML:
///
/// ```toml
/// identities = [
///   { identity-regexp = "^https://github.com/acme/", issuer = "https://token.actions.githubusercontent.com" },
/// ]
/// ```
#[derive(Clone, Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct IdentitySpec {
    /// The identity, exactly.
    pub identity: Option<String>,
    /// The identity, by regular expression.
    pub identity_regexp: Option<String>,
    /// The OIDC issuer, exactly.
    pub issuer: Option<String>,
    /// The OIDC issuer, by regular expression.
    pub issuer_regexp: Option<String>,
}

impl IdentitySpec {
    /// The rule it states.
    ///
    /// # Errors
    /// [`SignError::Identity`] when it names the identity or the issuer not exactly once
    /// (exact or regular expression); [`SignError::Pattern`] for an expression that does
    /// not compile.
    pub fn rule(&self) -> Result<IdentityRule, SignError> {
        fn one(
            what: &str,
            exact: &Option<String>,
            regexp: &Option<String>,
        ) -> Result<Matcher, SignError> {
            match (exact, regexp) {
                (Some(e), None) => Ok(Matcher::Exact(e.clone())),
                (None, Some(r)) => Matcher::regex(r),
                (Some(_), Some(_)) => Err(SignError::Identity(format!(
                    "a signer names its {what} both exactly and by regular expression"
                ))),
                (None, None) => Err(SignError::Identity(format!(
                    "a keyless signer needs its {what} (exactly or by regular expression)"
                ))),
            }
        }
        Ok(IdentityRule {
            identity: one("identity", &self.identity, &self.identity_regexp)?,
            issuer: one("OIDC issuer", &self.issuer, &self.issuer_regexp)?,
        })
    }
}

/// Everything a bundle is judged against.
#[derive(Clone, Debug)]
pub struct BundleTrust<'a> {
    /// Keys trusted for keyed bundles.
    pub keys: &'a [TrustedKey],
    /// Identities trusted for keyless bundles.
    pub identities: &'a [IdentityRule],
    /// The trusted root: Fulcio, Rekor, CT logs and timestamp authorities.
    pub root: &'a TrustedRoot,
    /// Require a transparency-log entry for keyed bundles too (keyless ones always need
    /// one). Off, a keyed bundle without an entry is judged by its key alone, as wharf's
    /// legacy signatures are; an entry that is present is always checked.
    pub require_tlog: bool,
}

/// What was signed: the artifact's bytes, or only its digest (an OCI manifest).
pub enum Signed<'a> {
    /// The artifact, read to its end (in constant memory).
    Reader(Box<dyn Read + 'a>),
    /// The artifact's digest.
    Digest(&'a Digest),
}

/// Whether a referrer, by its descriptor's artifact type and annotations, is a signature:
/// a legacy cosign signature, or a Sigstore bundle that does not announce a predicate other
/// than cosign's sign statement (an attestation: SLSA provenance, an SBOM).
pub fn is_signature(
    artifact_type: Option<&str>,
    annotations: Option<&BTreeMap<String, String>>,
) -> bool {
    match artifact_type {
        Some(crate::SIGNATURE_ARTIFACT_TYPE) => true,
        Some(BUNDLE_MEDIA_TYPE) => annotations
            .and_then(|a| a.get(PREDICATE_ANNOTATION))
            .is_none_or(|p| p == COSIGN_SIGN_PREDICATE),
        _ => false,
    }
}

/// Sign `subject` (a manifest digest) with a P-256 private key; returns the bundle's JSON
/// (a DSSE envelope over cosign's sign statement, see the module documentation).
///
/// # Errors
/// The key errors of [`crate::sign`]; [`SignError::Unsupported`] for a sha512 subject
/// (cosign's statement binds sha256).
pub fn sign_digest(
    private_pem: &str,
    passphrase: Option<&str>,
    subject: &Digest,
) -> Result<Vec<u8>, SignError> {
    sign_statement(
        private_pem,
        passphrase,
        subject,
        COSIGN_SIGN_PREDICATE,
        json!({}),
    )
}

/// Sign an in-toto Statement v1 about `subject` with `predicate_type` and `predicate` (an
/// attestation: SLSA provenance, a vulnerability scan; [`sign_digest`] is the signature
/// statement) in a keyed bundle.
///
/// # Errors
/// As [`sign_digest`].
pub fn sign_statement(
    private_pem: &str,
    passphrase: Option<&str>,
    subject: &Digest,
    predicate_type: &str,
    predicate: serde_json::Value,
) -> Result<Vec<u8>, SignError> {
    if subject.algorithm() != DigestAlgorithm::Sha256 {
        return Err(SignError::Unsupported(format!(
            "cannot sign {subject} in a Sigstore bundle: cosign's statement binds sha256 digests"
        )));
    }
    // key order as cosign's protojson writes it
    let statement = json!({
        "_type": IN_TOTO_STATEMENT_V1,
        "subject": [{"digest": {"sha256": subject.encoded()}}],
        "predicateType": predicate_type,
        "predicate": predicate,
    });
    let payload = serde_json::to_vec(&statement)?;
    let pae = sigstore_verify::types::dsse::pae(IN_TOTO_PAYLOAD_TYPE, &payload);
    let signature = crate::sign(private_pem, passphrase, &pae)?;
    let public_pem = crate::public_key_of(private_pem, passphrase)?;
    let bundle = json!({
        "mediaType": BUNDLE_MEDIA_TYPE,
        "verificationMaterial": {"publicKey": {"hint": key_hint(&public_pem)?}},
        "dsseEnvelope": {
            "payload": STANDARD.encode(&payload),
            "payloadType": IN_TOTO_PAYLOAD_TYPE,
            "signatures": [{"sig": signature}],
        },
    });
    Ok(serde_json::to_vec(&bundle)?)
}

/// The key hint a keyed bundle carries: base64 of the SHA-256 of the key's DER
/// SubjectPublicKeyInfo (sigstore-go's `keypair.GetHint`).
pub fn key_hint(public_pem: &str) -> Result<String, SignError> {
    let key = p256::PublicKey::from_public_key_pem(public_pem)
        .map_err(|e| SignError::PublicKey(e.to_string()))?;
    let der = p256::pkcs8::EncodePublicKey::to_public_key_der(&key)
        .map_err(|e| SignError::PublicKey(e.to_string()))?;
    Ok(STANDARD.encode(sha2::Sha256::digest(der.as_bytes())))
}

/// The referrer manifest cosign v3 pushes for a bundle of `subject`: artifact type and
/// layer [`BUNDLE_MEDIA_TYPE`], the empty config, the layer titled
/// `sha256-<hex>.sigstore.json` after its own digest, and the content, predicate-type and
/// creation (`created`, RFC 3339) annotations.
pub fn bundle_manifest(subject: Descriptor, bundle: &[u8], created: &str) -> ImageManifest {
    let mut layer = Descriptor::of(BUNDLE_MEDIA_TYPE, bundle);
    layer.annotations = Some(BTreeMap::from([(
        wharf_oci::ANNOTATION_TITLE.to_owned(),
        format!("{}.sigstore.json", layer.digest.referrers_tag()),
    )]));
    let mut annotations =
        BTreeMap::from([(wharf_oci::ANNOTATION_CREATED.to_owned(), created.to_owned())]);
    if let Ok(summary) = summarize(bundle) {
        annotations.insert(CONTENT_ANNOTATION.to_owned(), summary.content.to_owned());
        if let Some(p) = summary.predicate_type {
            annotations.insert(PREDICATE_ANNOTATION.to_owned(), p);
        }
    }
    ImageManifest {
        schema_version: 2,
        media_type: Some(media_types::OCI_MANIFEST.to_owned()),
        artifact_type: Some(BUNDLE_MEDIA_TYPE.to_owned()),
        config: Descriptor::of(media_types::OCI_EMPTY, EMPTY_CONFIG),
        layers: vec![layer],
        subject: Some(subject),
        annotations: Some(annotations),
    }
}

/// What a bundle holds, read without verifying anything.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BundleSummary {
    /// `dsse-envelope` or `message-signature`.
    pub content: &'static str,
    /// The statement's predicate type, for a DSSE envelope over an in-toto statement.
    pub predicate_type: Option<String>,
    /// The digests the statement names (`sha256:<hex>`), for an in-toto statement; the
    /// message digest for a message signature.
    pub subjects: Vec<String>,
    /// Whether the bundle is signed by a certificate (keyless) rather than a key hint.
    pub keyless: bool,
}

/// Read what a bundle holds (see [`BundleSummary`]).
///
/// # Errors
/// [`SignError::Bundle`] when it is not a Sigstore bundle this crate reads.
pub fn summarize(bundle: &[u8]) -> Result<BundleSummary, SignError> {
    Ok(summary_of(&parse(bundle)?))
}

fn parse(bundle: &[u8]) -> Result<Bundle, SignError> {
    let text = std::str::from_utf8(bundle)
        .map_err(|_| SignError::Bundle("the bundle is not UTF-8 JSON".into()))?;
    Bundle::from_json(text).map_err(|e| SignError::Bundle(e.to_string()))
}

fn summary_of(bundle: &Bundle) -> BundleSummary {
    let keyless = bundle.signing_certificate().is_some();
    match &bundle.content {
        SignatureContent::DsseEnvelope(env) => {
            let statement: Option<Statement> = (env.payload_type == IN_TOTO_PAYLOAD_TYPE)
                .then(|| serde_json::from_slice(env.payload.as_bytes()).ok())
                .flatten();
            BundleSummary {
                content: "dsse-envelope",
                predicate_type: statement.as_ref().map(|s| s.predicate_type.clone()),
                subjects: statement
                    .iter()
                    .flat_map(|s| &s.subject)
                    .flat_map(|s| {
                        let sha256 = s.digest.sha256.map(|h| format!("sha256:{}", h.to_hex()));
                        let sha512 = s.digest.sha512.map(|h| format!("sha512:{}", h.to_hex()));
                        sha256.into_iter().chain(sha512)
                    })
                    .collect(),
                keyless,
            }
        }
        SignatureContent::MessageSignature(m) => BundleSummary {
            content: "message-signature",
            predicate_type: None,
            subjects: m
                .message_digest
                .iter()
                .map(|d| {
                    let name = match d.algorithm {
                        HashAlgorithm::Sha2256 => "sha256",
                        HashAlgorithm::Sha2384 => "sha384",
                        HashAlgorithm::Sha2512 => "sha512",
                        _ => "unknown",
                    };
                    format!("{name}:{}", hex::encode(d.digest.as_bytes()))
                })
                .collect(),
            keyless,
        },
        _ => BundleSummary {
            content: "unknown",
            predicate_type: None,
            subjects: Vec::new(),
            keyless,
        },
    }
}

/// The one bundle judge, used by `wharf verify`, `verify-blob`, the trust policy and the
/// registry's signature status (beside [`crate::judge`] for legacy signatures).
///
/// - Invalid: not a bundle; a statement or message digest naming another artifact than
///   `signed`; a signature, proof, timestamp or certificate that does not verify.
/// - Unverified: sound, but by no trusted key or identity.
/// - Verified: by one of `trust.keys` (the key id) or one of `trust.identities` (the
///   signer, `<identity> (<issuer>)`).
pub fn judge_bundle(bundle: &[u8], signed: Signed<'_>, trust: &BundleTrust<'_>) -> Verdict {
    match judge_inner(bundle, signed, trust) {
        Ok(v) => v,
        Err(e) => Verdict::Invalid(e),
    }
}

fn judge_inner(
    bundle: &[u8],
    signed: Signed<'_>,
    trust: &BundleTrust<'_>,
) -> Result<Verdict, String> {
    let parsed = parse(bundle).map_err(|e| e.to_string())?;
    let summary = summary_of(&parsed);
    if let Signed::Digest(d) = &signed
        && !summary.subjects.is_empty()
        && !summary.subjects.iter().any(|s| s == &d.to_string())
    {
        return Err(format!(
            "the bundle signs {}, not {d}",
            summary.subjects.join(", ")
        ));
    }
    let verifier = Verifier::new(trust.root).map_err(|e| format!("unusable trusted root: {e}"))?;
    if summary.keyless {
        let policy = VerificationPolicy::any_identity();
        let result = match signed {
            Signed::Digest(d) => verifier.verify(artifact_digest(d)?, &parsed, &policy),
            Signed::Reader(r) => verifier.verify_reader(r, &parsed, &policy),
        }
        .map_err(|e| e.to_string())?;
        let identity = result
            .identity()
            .map(|i| i.as_str().to_owned())
            .ok_or("the certificate names no identity")?;
        let issuer = result
            .issuer()
            .map(str::to_owned)
            .ok_or("the certificate names no OIDC issuer")?;
        let signer = format!("{identity} ({issuer})");
        let trusted = trust
            .identities
            .iter()
            .any(|r| r.identity.matches(&identity) && r.issuer.matches(&issuer));
        return Ok(match trusted {
            true => Verdict::Verified { key_id: signer },
            false if trust.identities.is_empty() => Verdict::Unverified(format!(
                "keyless signature by {signer}; no identity is trusted"
            )),
            false => Verdict::Unverified(format!(
                "keyless signature by {signer}, not a trusted identity"
            )),
        });
    }
    // keyed: the artifact is hashed once, then every trusted key is tried on its digest
    let subject = match signed {
        Signed::Digest(d) => d.clone(),
        Signed::Reader(mut r) => {
            let mut hasher = wharf_oci::DigestHasher::new();
            let mut buf = vec![0u8; 256 * 1024];
            loop {
                match r.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => hasher.update(&buf[..n]),
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(format!("failed to read the artifact: {e}")),
                }
            }
            let (digest, _) = hasher.finish();
            if !summary.subjects.is_empty() && !summary.subjects.contains(&digest.to_string()) {
                return Err(format!(
                    "the bundle signs {}, not the artifact ({digest})",
                    summary.subjects.join(", ")
                ));
            }
            digest
        }
    };
    let material = &parsed.verification_material;
    let no_entry = material.tlog_entries.is_empty();
    if no_entry && trust.require_tlog {
        return Err("the bundle has no transparency-log entry, and one is required".into());
    }
    if trust.keys.is_empty() {
        return Ok(Verdict::Unverified(
            "signed with a key; no key is trusted".into(),
        ));
    }
    if no_entry
        && material
            .timestamp_verification_data
            .rfc3161_timestamps
            .is_empty()
    {
        // no signing-time evidence at all, which sigstore-verify refuses by design: an
        // offline keyed bundle (wharf's, or cosign's `--tlog-upload=false`) is judged by
        // its key alone, as a legacy signature is
        return Ok(judge_offline(&parsed, trust.keys));
    }
    let artifact = artifact_digest(&subject)?;
    let mut reasons = Vec::new();
    for (id, pem) in trust.keys {
        let key = DerPublicKey::from_pem(pem).map_err(|e| format!("trusted key {id}: {e}"))?;
        let mut policy = PublicKeyVerificationPolicy::new(key);
        if no_entry {
            policy = policy.skip_tlog_unsafe();
        }
        match verifier.verify(artifact.clone(), &parsed, &policy) {
            Ok(_) => return Ok(Verdict::Verified { key_id: id.clone() }),
            Err(e) => reasons.push(format!("{id}: {e}")),
        }
    }
    Ok(Verdict::Unverified(format!(
        "signed by none of the trusted keys ({})",
        reasons.join("; ")
    )))
}

/// A keyed bundle with neither a log entry nor a timestamp: a DSSE envelope over an
/// in-toto statement (whose subject the caller checked) verified by one of `keys`, with
/// ECDSA P-256 over SHA-256 of the DSSE pre-authentication encoding.
fn judge_offline(bundle: &Bundle, keys: &[TrustedKey]) -> Verdict {
    let SignatureContent::DsseEnvelope(env) = &bundle.content else {
        return Verdict::Invalid(
            "a message signature with neither a transparency-log entry nor a timestamp".into(),
        );
    };
    if env.payload_type != IN_TOTO_PAYLOAD_TYPE {
        return Verdict::Invalid(format!(
            "unsupported DSSE payload type `{}`",
            env.payload_type
        ));
    }
    let pae = sigstore_verify::types::dsse::pae(&env.payload_type, env.payload.as_bytes());
    let signature = STANDARD.encode(env.signature.sig.as_bytes());
    match keys
        .iter()
        .find(|(_, pem)| crate::verify(pem, &pae, &signature).is_ok())
    {
        Some((id, _)) => Verdict::Verified { key_id: id.clone() },
        None => Verdict::Unverified("signed by none of the trusted keys".into()),
    }
}

/// A wharf digest as sigstore's typed artifact digest (sha256 only: the digest Sigstore
/// statements and hashedrekord entries of OCI artifacts carry).
fn artifact_digest(d: &Digest) -> Result<Artifact<'static>, String> {
    match d.algorithm() {
        DigestAlgorithm::Sha256 => Sha256Hash::from_hex(d.encoded())
            .map(|h| Artifact::Digest(ArtifactDigest::sha256(h)))
            .map_err(|e| format!("{d}: {e}")),
        DigestAlgorithm::Sha512 => Err(format!("{d}: only sha256 subjects are verified")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trust<'a>(keys: &'a [TrustedKey], root: &'a TrustedRoot) -> BundleTrust<'a> {
        BundleTrust {
            keys,
            identities: &[],
            root,
            require_tlog: false,
        }
    }

    #[test]
    fn a_keyed_bundle_verifies_by_its_key_only_and_for_its_subject_only() {
        let root = production_root().unwrap();
        let kp = crate::generate_key(None).unwrap();
        let other = crate::generate_key(None).unwrap();
        let id = crate::key_id(&kp.public_pem).unwrap();
        let subject = Digest::sha256_of(b"manifest");
        let bundle = sign_digest(&kp.private_pem, None, &subject).unwrap();
        let keys = vec![(id.clone(), kp.public_pem.clone())];
        assert_eq!(
            judge_bundle(&bundle, Signed::Digest(&subject), &trust(&keys, &root)),
            Verdict::Verified { key_id: id }
        );
        let strangers = vec![(
            crate::key_id(&other.public_pem).unwrap(),
            other.public_pem.clone(),
        )];
        assert!(matches!(
            judge_bundle(&bundle, Signed::Digest(&subject), &trust(&strangers, &root)),
            Verdict::Unverified(_)
        ));
        let elsewhere = Digest::sha256_of(b"another manifest");
        match judge_bundle(&bundle, Signed::Digest(&elsewhere), &trust(&keys, &root)) {
            Verdict::Invalid(why) => assert!(why.contains("the bundle signs"), "{why}"),
            v => panic!("{v:?}"),
        }
        let summary = summarize(&bundle).unwrap();
        assert_eq!(summary.content, "dsse-envelope");
        assert_eq!(
            summary.predicate_type.as_deref(),
            Some(COSIGN_SIGN_PREDICATE)
        );
        assert_eq!(summary.subjects, vec![subject.to_string()]);
        assert!(!summary.keyless);
    }
}
