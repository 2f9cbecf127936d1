//! Keys, signatures and signature manifests for wharf, in cosign's keyed format so other
//! tools can check them. No HTTP: the CLI moves the bytes.
//!
//! - Keys: ECDSA P-256 (cosign's default), private key as PKCS#8 PEM, public key as SPKI PEM.
//! - Payload: cosign's "simple signing" JSON naming the repository and the manifest digest
//!   (sigstore/cosign `specs/SIGNATURE_SPEC.md`).
//! - Signature: ECDSA P-256 over SHA-256 of the payload, ASN.1 DER, base64 in the layer
//!   annotation `dev.cosignproject.cosign/signature`.
//! - Manifest: an OCI 1.1 referrer (`subject` = the signed manifest) with artifact type
//!   `application/vnd.dev.cosign.artifact.sig.v1+json`, the empty config, one payload layer.

#![cfg_attr(test, allow(clippy::unwrap_used))]

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use p256::ecdsa::signature::{Signer as _, Verifier as _};
use p256::ecdsa::{Signature, SigningKey, VerifyingKey};
use p256::elliptic_curve::Generate as _;
use p256::pkcs8::{
    DecodePrivateKey as _, DecodePublicKey as _, EncodePrivateKey as _, EncodePublicKey as _,
    LineEnding,
};
use serde::{Deserialize, Serialize};
use wharf_oci::{Descriptor, Digest, ImageManifest, media_types};

pub mod bundle;
pub mod log;

/// Layer media type of the simple-signing payload.
pub const SIMPLE_SIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// Artifact type of signature manifests (cosign's OCI 1.1 referrer form).
pub const SIGNATURE_ARTIFACT_TYPE: &str = "application/vnd.dev.cosign.artifact.sig.v1+json";
/// Layer annotation holding the base64 signature.
pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
/// The OCI empty JSON blob `{}` used as config of artifact manifests.
pub const EMPTY_CONFIG: &[u8] = b"{}";

/// Errors of key handling and verification.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    /// Not a PKCS#8 P-256 private key in PEM.
    #[error("not an ECDSA P-256 private key in PKCS#8 PEM: {0}")]
    PrivateKey(String),
    /// The private key is encrypted and no passphrase was given.
    #[error("the private key is encrypted; set its passphrase in WHARF_KEY_PASSPHRASE")]
    PassphraseNeeded,
    /// The passphrase does not decrypt the private key.
    #[error("the passphrase does not decrypt the private key")]
    WrongPassphrase,
    /// Not an SPKI P-256 public key in PEM.
    #[error("not an ECDSA P-256 public key in PEM: {0}")]
    PublicKey(String),
    /// The system random number generator failed.
    #[error("could not generate a key: {0}")]
    Random(String),
    /// The signature is not base64 DER, or does not verify.
    #[error("signature does not verify: {0}")]
    BadSignature(String),
    /// The payload is not simple-signing JSON.
    #[error("signature payload is not cosign simple-signing JSON: {0}")]
    Payload(serde_json::Error),
    /// The payload names another manifest.
    #[error("the signature is for manifest {signed}, not {expected}")]
    WrongDigest { signed: String, expected: Digest },
    /// Not a Sigstore bundle this crate reads.
    #[error("not a Sigstore bundle: {0}")]
    Bundle(String),
    /// A trusted root that does not parse.
    #[error("not a Sigstore trusted root: {0}")]
    TrustedRoot(String),
    /// A regular expression (identity or issuer) that does not compile.
    #[error("invalid regular expression `{0}`: {1}")]
    Pattern(String, String),
    /// A release log that does not read or check out.
    #[error("release log: {0}")]
    Log(String),
    /// A keyless signer named incompletely or twice.
    #[error("{0}")]
    Identity(String),
    /// Something this crate does not sign.
    #[error("{0}")]
    Unsupported(String),
}

// not `#[from]`: the message carries the JSON error already (no duplicate in a chain)
impl From<serde_json::Error> for SignError {
    fn from(e: serde_json::Error) -> Self {
        SignError::Payload(e)
    }
}

/// A key pair as PEM text. The private key is never printed: `Debug` hides it.
pub struct KeyPair {
    /// PKCS#8 PEM of the private key.
    pub private_pem: String,
    /// SPKI PEM of the public key.
    pub public_pem: String,
}

impl std::fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyPair")
            .field("public_pem", &self.public_pem)
            .field("private_pem", &"<hidden>")
            .finish()
    }
}

/// Generate an ECDSA P-256 key pair from the system's random number generator.
///
/// With `passphrase`, the private key is an encrypted PKCS#8 document (`ENCRYPTED PRIVATE
/// KEY`, RFC 5958 §3, PBES2 from RFC 8018 with scrypt and AES-256-CBC: the defaults of
/// the RustCrypto `pkcs5` crate, readable by `openssl pkey`).
pub fn generate_key(passphrase: Option<&str>) -> Result<KeyPair, SignError> {
    let secret = p256::SecretKey::try_generate().map_err(|e| SignError::Random(e.to_string()))?;
    let private_pem = match passphrase {
        None => secret.to_pkcs8_pem(LineEnding::LF),
        Some(p) => secret.to_pkcs8_encrypted_pem(p.as_bytes(), LineEnding::LF),
    }
    .map_err(|e| SignError::PrivateKey(e.to_string()))?
    .to_string();
    let public_pem = secret
        .public_key()
        .to_public_key_pem(LineEnding::LF)
        .map_err(|e| SignError::PublicKey(e.to_string()))?;
    Ok(KeyPair {
        private_pem,
        public_pem,
    })
}

/// Whether `private_pem` is an encrypted PKCS#8 document (PEM label `ENCRYPTED PRIVATE KEY`).
pub fn is_encrypted(private_pem: &str) -> bool {
    private_pem.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----")
}

/// Decode a private key PEM, decrypting it with `passphrase` when it is encrypted.
///
/// # Errors
/// [`SignError::PassphraseNeeded`] for an encrypted key without a passphrase,
/// [`SignError::WrongPassphrase`] when decryption fails, [`SignError::PrivateKey`] for
/// anything that is not a P-256 PKCS#8 key.
fn secret_key(private_pem: &str, passphrase: Option<&str>) -> Result<p256::SecretKey, SignError> {
    if !is_encrypted(private_pem) {
        return p256::SecretKey::from_pkcs8_pem(private_pem)
            .map_err(|e| SignError::PrivateKey(e.to_string()));
    }
    let passphrase = passphrase.ok_or(SignError::PassphraseNeeded)?;
    let malformed = |e: &dyn std::fmt::Display| SignError::PrivateKey(e.to_string());
    let (_, document) = pkcs8::SecretDocument::from_pem(private_pem).map_err(|e| malformed(&e))?;
    let encrypted = pkcs8::EncryptedPrivateKeyInfoRef::try_from(document.as_bytes())
        .map_err(|e| malformed(&e))?;
    let decrypted = encrypted
        .decrypt(passphrase.as_bytes())
        .map_err(|_| SignError::WrongPassphrase)?;
    // CBC padding checks pass for about one wrong passphrase in 256, leaving garbage: bytes
    // that are no PKCS#8 document at all also mean the passphrase was wrong
    pkcs8::PrivateKeyInfoRef::try_from(decrypted.as_bytes())
        .map_err(|_| SignError::WrongPassphrase)?;
    p256::SecretKey::from_pkcs8_der(decrypted.as_bytes()).map_err(|e| malformed(&e))
}

/// A short id of a public key: `sha256:` and the first 16 hex digits of the SHA-256 of
/// its DER (SPKI) encoding.
pub fn key_id(public_pem: &str) -> Result<String, SignError> {
    let key = p256::PublicKey::from_public_key_pem(public_pem)
        .map_err(|e| SignError::PublicKey(e.to_string()))?;
    let der = key
        .to_public_key_der()
        .map_err(|e| SignError::PublicKey(e.to_string()))?;
    Ok(format!(
        "sha256:{}",
        &Digest::sha256_of(der.as_bytes()).encoded()[..16]
    ))
}

/// The public key PEM of a private key PEM (decrypted with `passphrase` when encrypted).
pub fn public_key_of(private_pem: &str, passphrase: Option<&str>) -> Result<String, SignError> {
    secret_key(private_pem, passphrase)?
        .public_key()
        .to_public_key_pem(LineEnding::LF)
        .map_err(|e| SignError::PublicKey(e.to_string()))
}

/// Sign `payload` (ECDSA P-256, SHA-256) with a private key PEM (decrypted with
/// `passphrase` when encrypted); returns the base64 of the DER signature.
pub fn sign(
    private_pem: &str,
    passphrase: Option<&str>,
    payload: &[u8],
) -> Result<String, SignError> {
    let key = SigningKey::from(&secret_key(private_pem, passphrase)?);
    let signature: Signature = key.sign(payload);
    Ok(STANDARD.encode(signature.to_der().as_bytes()))
}

/// Check a base64 DER (or raw 64-byte) signature of `payload` against `public_pem`.
pub fn verify(public_pem: &str, payload: &[u8], signature_b64: &str) -> Result<(), SignError> {
    let key = VerifyingKey::from_public_key_pem(public_pem)
        .map_err(|e| SignError::PublicKey(e.to_string()))?;
    let raw = STANDARD
        .decode(signature_b64.trim())
        .map_err(|e| SignError::BadSignature(e.to_string()))?;
    let signature = Signature::from_der(&raw)
        .or_else(|_| Signature::from_slice(&raw))
        .map_err(|e| SignError::BadSignature(e.to_string()))?;
    key.verify(payload, &signature)
        .map_err(|e| SignError::BadSignature(e.to_string()))
}

/// Cosign's simple-signing payload.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimpleSigning {
    /// What is signed.
    pub critical: Critical,
    /// Free-form claims (cosign puts annotations here); `null` when none.
    pub optional: Option<BTreeMap<String, serde_json::Value>>,
}

/// The `critical` part of [`SimpleSigning`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Critical {
    /// `{"docker-reference": "<registry>/<repository>"}`.
    pub identity: Identity,
    /// `{"docker-manifest-digest": "sha256:…"}`.
    pub image: Image,
    /// Always `cosign container image signature`.
    #[serde(rename = "type")]
    pub kind: String,
}

/// See [`Critical`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    /// `registry/repository` the signature was made for.
    #[serde(rename = "docker-reference")]
    pub docker_reference: String,
}

/// See [`Critical`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Image {
    /// The signed manifest's digest.
    #[serde(rename = "docker-manifest-digest")]
    pub docker_manifest_digest: String,
}

impl SimpleSigning {
    /// The payload for `manifest_digest` in `docker_reference` (`registry/repository`).
    pub fn new(docker_reference: &str, manifest_digest: &Digest) -> Self {
        SimpleSigning {
            critical: Critical {
                identity: Identity {
                    docker_reference: docker_reference.to_owned(),
                },
                image: Image {
                    docker_manifest_digest: manifest_digest.to_string(),
                },
                kind: "cosign container image signature".to_owned(),
            },
            optional: None,
        }
    }

    /// Parse a payload and require that it names `expected`.
    pub fn parse_for(bytes: &[u8], expected: &Digest) -> Result<Self, SignError> {
        let p: SimpleSigning = serde_json::from_slice(bytes)?;
        if p.critical.image.docker_manifest_digest != expected.to_string() {
            return Err(SignError::WrongDigest {
                signed: p.critical.image.docker_manifest_digest,
                expected: expected.clone(),
            });
        }
        Ok(p)
    }
}

/// Largest signature payload read (bytes): a simple-signing payload is a few hundred
/// bytes; a layer claiming more is judged without being read.
pub const MAX_PAYLOAD_BYTES: u64 = 64 * 1024;

/// A key trusted to sign: its id ([`key_id`]) and its SPKI PEM.
pub type TrustedKey = (String, String);

/// The signature layers of a signature manifest: the simple-signing layers, each with its
/// index in `layers` and the signature its annotation carries (if any).
pub fn signature_layers(
    manifest: &ImageManifest,
) -> impl Iterator<Item = (usize, &Descriptor, Option<&str>)> {
    manifest
        .layers
        .iter()
        .enumerate()
        .filter(|(_, l)| l.media_type == SIMPLE_SIGNING)
        .map(|(i, l)| {
            let signature = l
                .annotations
                .as_ref()
                .and_then(|a| a.get(SIGNATURE_ANNOTATION))
                .map(String::as_str);
            (i, l, signature)
        })
}

/// How one signature was judged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// A trusted key signed a payload naming exactly the subject.
    Verified {
        /// The id of the key that verified it.
        key_id: String,
    },
    /// Well-formed and naming the subject, but no trusted key verifies it.
    Unverified(String),
    /// Not a usable signature of the subject: no signature, no or oversized payload, a
    /// payload that is not simple-signing JSON or names another manifest.
    Invalid(String),
}

impl Verdict {
    /// The key id when verified.
    pub fn key_id(&self) -> Option<&str> {
        match self {
            Verdict::Verified { key_id } => Some(key_id),
            _ => None,
        }
    }

    /// Why it is not verified.
    pub fn reason(&self) -> Option<&str> {
        match self {
            Verdict::Verified { .. } => None,
            Verdict::Unverified(r) | Verdict::Invalid(r) => Some(r),
        }
    }

    /// Its status, without the details.
    pub fn status(&self) -> SignatureStatus {
        match self {
            Verdict::Verified { .. } => SignatureStatus::Verified,
            Verdict::Unverified(_) => SignatureStatus::Unverified,
            Verdict::Invalid(_) => SignatureStatus::Invalid,
        }
    }
}

/// The status of a judged signature ([`Verdict::status`]), as the registry stores and
/// serves it: `verified`, `unverified` or `invalid`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SignatureStatus {
    /// A trusted key signed a payload naming exactly the subject.
    Verified,
    /// Well-formed, but no trusted key verifies it.
    Unverified,
    /// Not a usable signature of the subject.
    Invalid,
}

impl SignatureStatus {
    /// `verified`, `unverified` or `invalid`.
    pub fn as_str(self) -> &'static str {
        match self {
            SignatureStatus::Verified => "verified",
            SignatureStatus::Unverified => "unverified",
            SignatureStatus::Invalid => "invalid",
        }
    }

    /// The status named by [`as_str`](Self::as_str)'s text.
    pub fn from_name(name: &str) -> Option<SignatureStatus> {
        [Self::Verified, Self::Unverified, Self::Invalid]
            .into_iter()
            .find(|s| s.as_str() == name)
    }
}

impl std::fmt::Display for SignatureStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The one signature judge, used by `wharf verify`, the CLI's trust policy and the
/// registry's signature status: a simple-signing `payload` (`None` when it could not be
/// read, or is over [`MAX_PAYLOAD_BYTES`]) with the base64 `signature` of its layer
/// annotation is verified when it names exactly `subject` and one of `keys` verifies it.
pub fn judge(
    signature: Option<&str>,
    payload: Option<&[u8]>,
    subject: &Digest,
    keys: &[TrustedKey],
) -> Verdict {
    let Some(signature) = signature else {
        return Verdict::Invalid("the layer has no signature annotation".into());
    };
    let Some(payload) = payload else {
        return Verdict::Invalid("the payload is missing or too large".into());
    };
    if let Err(e) = SimpleSigning::parse_for(payload, subject) {
        return Verdict::Invalid(e.to_string());
    }
    match keys
        .iter()
        .find(|(_, pem)| verify(pem, payload, signature).is_ok())
    {
        Some((id, _)) => Verdict::Verified { key_id: id.clone() },
        None => Verdict::Unverified("signed by none of the trusted keys".into()),
    }
}

/// The signature manifest for `subject`: empty config, one simple-signing layer carrying
/// `signature_b64` in its annotation, artifact type [`SIGNATURE_ARTIFACT_TYPE`].
pub fn signature_manifest(
    subject: Descriptor,
    payload: &[u8],
    signature_b64: &str,
) -> ImageManifest {
    let mut layer = Descriptor::of(SIMPLE_SIGNING, payload);
    layer.annotations = Some(BTreeMap::from([(
        SIGNATURE_ANNOTATION.to_owned(),
        signature_b64.to_owned(),
    )]));
    ImageManifest {
        schema_version: 2,
        media_type: Some(media_types::OCI_MANIFEST.to_owned()),
        artifact_type: Some(SIGNATURE_ARTIFACT_TYPE.to_owned()),
        config: Descriptor::of(media_types::OCI_EMPTY, EMPTY_CONFIG),
        layers: vec![layer],
        subject: Some(subject),
        annotations: None,
    }
}

/// cosign's fallback tag for signatures of `digest` where a registry has no referrers API:
/// `sha256-<hex>.sig`, that is the referrers tag schema's tag ([`Digest::referrers_tag`],
/// truncated as the distribution-spec says, so a sha512 subject still gives a valid tag)
/// with `.sig` appended.
pub fn fallback_tag(digest: &Digest) -> String {
    format!("{}.sig", digest.referrers_tag())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_and_verify_round_trip_and_tampering_fails() {
        let kp = generate_key(None).unwrap();
        assert!(!format!("{kp:?}").contains("PRIVATE KEY"));
        assert_eq!(public_key_of(&kp.private_pem, None).unwrap(), kp.public_pem);
        let digest = Digest::sha256_of(b"manifest");
        let payload =
            serde_json::to_vec(&SimpleSigning::new("localhost:5000/demo/app", &digest)).unwrap();
        let sig = sign(&kp.private_pem, None, &payload).unwrap();
        verify(&kp.public_pem, &payload, &sig).unwrap();
        let mut tampered = payload.clone();
        tampered[10] ^= 1;
        assert!(verify(&kp.public_pem, &tampered, &sig).is_err());
        let other = generate_key(None).unwrap();
        assert!(verify(&other.public_pem, &payload, &sig).is_err());
        assert_ne!(
            key_id(&kp.public_pem).unwrap(),
            key_id(&other.public_pem).unwrap()
        );
        assert!(SimpleSigning::parse_for(&payload, &digest).is_ok());
        assert!(matches!(
            SimpleSigning::parse_for(&payload, &Digest::sha256_of(b"x")),
            Err(SignError::WrongDigest { .. })
        ));
        assert!(verify("not a key", &payload, &sig).is_err());
        assert!(sign("not a key", None, &payload).is_err());
    }

    #[test]
    fn every_wrong_passphrase_is_reported_as_wrong() {
        // about 1 in 256 wrong passphrases decrypt to garbage with valid CBC padding; the
        // key is encrypted with the cheapest scrypt cost so many can be tried quickly
        let kp = generate_key(None).unwrap();
        let secret = p256::SecretKey::from_pkcs8_pem(&kp.private_pem).unwrap();
        let params = pkcs8::pkcs5::pbes2::Parameters::generate_scrypt_aes256cbc(
            pkcs8::pkcs5::scrypt::Params::new(1, 1, 1).unwrap(),
            b"a salt of 16 b!!",
            [7; 16],
        )
        .unwrap();
        let der = secret.to_pkcs8_der().unwrap();
        let info = pkcs8::PrivateKeyInfoRef::try_from(der.as_bytes()).unwrap();
        let pem = info
            .encrypt_with_params(params, "correct horse")
            .unwrap()
            .to_pem("ENCRYPTED PRIVATE KEY", LineEnding::LF)
            .unwrap();
        sign(&pem, Some("correct horse"), b"x").unwrap();
        for i in 0..2000 {
            let wrong = format!("wrong-{i}");
            assert!(
                matches!(
                    sign(&pem, Some(&wrong), b"x"),
                    Err(SignError::WrongPassphrase)
                ),
                "{wrong}"
            );
        }
    }

    #[test]
    fn encrypted_keys_need_the_right_passphrase() {
        let kp = generate_key(Some("correct horse")).unwrap();
        assert!(is_encrypted(&kp.private_pem));
        assert!(!kp.private_pem.contains("BEGIN PRIVATE KEY"));
        assert!(matches!(
            sign(&kp.private_pem, None, b"x"),
            Err(SignError::PassphraseNeeded)
        ));
        assert!(matches!(
            sign(&kp.private_pem, Some("wrong"), b"x"),
            Err(SignError::WrongPassphrase)
        ));
        let sig = sign(&kp.private_pem, Some("correct horse"), b"x").unwrap();
        verify(&kp.public_pem, b"x", &sig).unwrap();
        assert_eq!(
            public_key_of(&kp.private_pem, Some("correct horse")).unwrap(),
            kp.public_pem
        );
        // an unencrypted key ignores a passphrase
        let plain = generate_key(None).unwrap();
        assert!(!is_encrypted(&plain.private_pem));
        sign(&plain.private_pem, Some("anything"), b"x").unwrap();
    }

    #[test]
    fn payload_and_manifest_shapes() {
        let digest = Digest::sha256_of(b"m");
        let json = serde_json::to_value(SimpleSigning::new("r.example/a", &digest)).unwrap();
        assert_eq!(
            json["critical"]["identity"]["docker-reference"],
            "r.example/a"
        );
        assert_eq!(
            json["critical"]["image"]["docker-manifest-digest"],
            digest.to_string()
        );
        assert_eq!(json["critical"]["type"], "cosign container image signature");
        assert!(json["optional"].is_null());
        let subject = Descriptor::new(media_types::OCI_MANIFEST, digest.clone(), 10);
        let m = signature_manifest(subject.clone(), b"{}", "c2ln");
        assert_eq!(m.subject, Some(subject));
        assert_eq!(
            m.config.digest.to_string(),
            "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
        );
        assert_eq!(
            m.layers[0].annotations.as_ref().unwrap()[SIGNATURE_ANNOTATION],
            "c2ln"
        );
        assert_eq!(
            fallback_tag(&digest),
            format!("sha256-{}.sig", digest.encoded())
        );
        let d512: Digest = format!("sha512:{}", "ab".repeat(64)).parse().unwrap();
        let tag = fallback_tag(&d512);
        // the judge
        let kp = generate_key(None).unwrap();
        let keys = vec![(key_id(&kp.public_pem).unwrap(), kp.public_pem.clone())];
        let payload = serde_json::to_vec(&SimpleSigning::new("r/x", &digest)).unwrap();
        let sig = sign(&kp.private_pem, None, &payload).unwrap();
        assert_eq!(
            judge(Some(&sig), Some(&payload), &digest, &keys).key_id(),
            Some(keys[0].0.as_str())
        );
        assert_eq!(
            judge(Some(&sig), Some(&payload), &digest, &[]).status(),
            SignatureStatus::Unverified
        );
        assert_eq!(
            judge(None, Some(&payload), &digest, &keys).status(),
            SignatureStatus::Invalid
        );
        assert_eq!(
            judge(Some(&sig), None, &digest, &keys).status(),
            SignatureStatus::Invalid
        );
        let other = Digest::sha256_of(b"other");
        let v = judge(Some(&sig), Some(&payload), &other, &keys);
        assert!(v.reason().unwrap().contains("not sha256:"), "{v:?}");
        assert_eq!(tag, format!("sha512-{}.sig", "ab".repeat(32)));
        assert!(tag.parse::<wharf_oci::Tag>().is_ok());
    }
}
