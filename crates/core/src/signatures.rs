//! Signing and verifying packages in cosign's formats, both stored as referrers of the
//! signed manifest (OCI 1.1):
//!
//! - a Sigstore bundle v0.3 (cosign v3's default, [`wharf_sign::bundle`]), listed in the
//!   referrers tag schema's index where a registry has no referrers API;
//! - cosign's legacy "simple signing" payload, also a layer of cosign's `sha256-<hex>.sig`
//!   tag where a registry keeps no referrers.
//!
//! Judging is [`wharf_sign::judge`] and [`wharf_sign::bundle::judge_bundle`], the judges
//! the registry uses as well, against [`Signers`]: trusted keys, trusted keyless
//! identities and the Sigstore trusted root.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use futures_util::StreamExt as _;
use serde::Serialize;
use wharf_client::Client;
use wharf_oci::{Descriptor, Digest, ImageManifest, ImageReference, Reference, media_types};
pub use wharf_sign::bundle::IdentitySpec;
use wharf_sign::bundle::{
    BUNDLE_MEDIA_TYPE, BundleTrust, COSIGN_SIGN_PREDICATE, IdentityRule, Signed, TrustedRoot,
};
use wharf_sign::{SIGNATURE_ARTIFACT_TYPE, SIMPLE_SIGNING, SimpleSigning, TrustedKey, Verdict};

use crate::Warn;

/// Most signature referrers read for one manifest; more are reported and not read.
pub const MAX_SIGNATURES: usize = 64;

/// The format `wharf sign` writes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SignatureFormat {
    /// A Sigstore bundle v0.3 (a DSSE envelope over cosign's sign statement), as cosign v3
    /// writes by default.
    #[default]
    Bundle,
    /// cosign's legacy simple-signing payload with the signature in a layer annotation.
    Legacy,
}

/// A private key read for signing: the PEM and, for an encrypted key, its passphrase.
pub struct SigningKey {
    pem: String,
    passphrase: Option<String>,
    /// The id of its public key ([`wharf_sign::key_id`]).
    pub key_id: String,
    path: PathBuf,
    /// What [`sign_manifest`] writes with it.
    pub format: SignatureFormat,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("key_id", &self.key_id)
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// Read a PKCS#8 PEM private key, and check now that it decodes (an encrypted one with
    /// `passphrase`), so nothing is pushed with a key that cannot sign.
    pub fn load(path: &Path, passphrase: Option<String>) -> anyhow::Result<Self> {
        let pem = read_key(path)?;
        let public = wharf_sign::public_key_of(&pem, passphrase.as_deref())
            .with_context(|| format!("cannot use private key `{}`", path.display()))?;
        Ok(SigningKey {
            key_id: wharf_sign::key_id(&public)?,
            pem,
            passphrase,
            path: path.to_owned(),
            format: SignatureFormat::default(),
        })
    }

    /// The same key, signing in `format`.
    pub fn with_format(self, format: SignatureFormat) -> Self {
        SigningKey { format, ..self }
    }

    /// Sign `payload`; the base64 DER signature.
    pub fn sign(&self, payload: &[u8]) -> anyhow::Result<String> {
        wharf_sign::sign(&self.pem, self.passphrase.as_deref(), payload)
            .with_context(|| format!("failed to sign with `{}`", self.path.display()))
    }

    /// A Sigstore bundle signing the manifest `subject`.
    pub fn bundle(&self, subject: &Digest) -> anyhow::Result<Vec<u8>> {
        wharf_sign::bundle::sign_digest(&self.pem, self.passphrase.as_deref(), subject)
            .with_context(|| format!("failed to sign with `{}`", self.path.display()))
    }
}

fn read_key(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path)
        .with_context(|| format!("failed to read key `{}`", path.display()))
}

/// Trusted public keys, as (key id, SPKI PEM).
pub type TrustedKeys = Vec<TrustedKey>;

/// Read public keys (SPKI PEM files) and compute their ids.
pub fn load_keys(paths: &[PathBuf]) -> anyhow::Result<TrustedKeys> {
    paths
        .iter()
        .map(|p| {
            let pem = read_key(p)?;
            Ok((
                wharf_sign::key_id(&pem).with_context(|| format!("`{}`", p.display()))?,
                pem,
            ))
        })
        .collect()
}

/// Who may sign: trusted keys, trusted keyless identities, and the Sigstore trusted root
/// their certificates, log entries and timestamps are checked against.
#[derive(Clone, Debug)]
pub struct Signers {
    /// Trusted public keys.
    pub keys: TrustedKeys,
    /// Trusted keyless identities.
    pub identities: Vec<IdentityRule>,
    /// The Sigstore trusted root: the public-good one built in, or a `trusted_root.json`.
    pub root: TrustedRoot,
    /// Require a transparency-log entry of keyed bundles too (cosign's default for
    /// `verify-blob`; wharf's own keyed bundles carry none unless logged elsewhere).
    pub require_tlog: bool,
}

impl Signers {
    /// Read the key files, compile the identities, and read `trusted_root` (a
    /// `trusted_root.json`) or take the built-in public-good root.
    pub fn load(
        key_paths: &[PathBuf],
        identities: &[IdentitySpec],
        trusted_root: Option<&Path>,
    ) -> anyhow::Result<Signers> {
        let root = wharf_sign::bundle::load_root(trusted_root)?;
        Ok(Signers {
            keys: load_keys(key_paths)?,
            identities: identities
                .iter()
                .map(IdentitySpec::rule)
                .collect::<Result<_, _>>()?,
            root,
            require_tlog: false,
        })
    }

    /// Nobody is trusted, against the built-in public-good root: judging with it still
    /// checks and names who signed.
    pub fn nobody() -> anyhow::Result<Signers> {
        Signers::load(&[], &[], None)
    }

    /// Nobody: no key and no identity.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty() && self.identities.is_empty()
    }

    /// What [`wharf_sign::bundle::judge_bundle`] judges against.
    pub fn bundle_trust(&self) -> BundleTrust<'_> {
        BundleTrust {
            keys: &self.keys,
            identities: &self.identities,
            root: &self.root,
            require_tlog: self.require_tlog,
        }
    }
}

/// The manifest `target` resolves to, as a descriptor (what a signature signs).
pub async fn subject_of(client: &Client, target: &ImageReference) -> anyhow::Result<Descriptor> {
    let pulled = client
        .pull_manifest(target)
        .await
        .with_context(|| format!("failed to resolve {target}"))?;
    Ok(Descriptor::new(
        &pulled.media_type,
        pulled.digest,
        pulled.bytes.len() as u64,
    ))
}

/// Sign the manifest `subject` of `target`'s repository with `key`, in its
/// [`SignatureFormat`]; returns the signature manifest's digest.
///
/// - Bundle: push the bundle, the empty config and cosign v3's bundle referrer
///   ([`wharf_sign::bundle::bundle_manifest`]); when the registry's answer carries no
///   `OCI-Subject` (it keeps no referrers), list it in the referrers tag schema's index.
/// - Legacy: push the simple-signing payload as a referrer; without `OCI-Subject`, also add
///   it as a layer of cosign's `sha256-<hex>.sig` tag, keeping earlier signatures.
pub async fn sign_manifest(
    client: &Client,
    target: &ImageReference,
    subject: Descriptor,
    key: &SigningKey,
) -> anyhow::Result<Digest> {
    match key.format {
        SignatureFormat::Bundle => sign_bundle(client, target, subject, key).await,
        SignatureFormat::Legacy => sign_legacy(client, target, subject, key).await,
    }
}

async fn sign_bundle(
    client: &Client,
    target: &ImageReference,
    subject: Descriptor,
    key: &SigningKey,
) -> anyhow::Result<Digest> {
    let bundle = key.bundle(&subject.digest)?;
    let created = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let manifest = wharf_sign::bundle::bundle_manifest(subject.clone(), &bundle, &created);
    let layer_annotations = manifest.layers[0].annotations.clone();
    let pushed = client
        .push_referrer(
            target,
            subject.clone(),
            BUNDLE_MEDIA_TYPE,
            vec![(BUNDLE_MEDIA_TYPE.to_owned(), bundle, layer_annotations)],
            manifest.annotations.clone(),
        )
        .await
        .context("failed to push the signature bundle")?;
    let bytes = serde_json::to_vec(&manifest)?;
    debug_assert_eq!(
        Digest::sha256_of(&bytes),
        pushed.digest,
        "wharf-sign's bundle manifest and the pushed one agree"
    );
    if !pushed.indexed {
        let mut d = Descriptor::new(
            media_types::OCI_MANIFEST,
            pushed.digest.clone(),
            bytes.len() as u64,
        );
        d.artifact_type = Some(BUNDLE_MEDIA_TYPE.to_owned());
        d.annotations = manifest.annotations;
        client
            .add_to_referrers_tag(target, &subject.digest, vec![d])
            .await
            .context("failed to list the signature in the referrers tag")?;
    }
    Ok(pushed.digest)
}

async fn sign_legacy(
    client: &Client,
    target: &ImageReference,
    subject: Descriptor,
    key: &SigningKey,
) -> anyhow::Result<Digest> {
    let identity = format!("{}/{}", target.registry, target.repository);
    let payload = serde_json::to_vec(&SimpleSigning::new(&identity, &subject.digest))?;
    let signature = key.sign(&payload)?;
    let manifest = wharf_sign::signature_manifest(subject.clone(), &payload, &signature);
    let pushed = client
        .push_referrer(
            target,
            subject.clone(),
            SIGNATURE_ARTIFACT_TYPE,
            vec![(
                SIMPLE_SIGNING.to_owned(),
                payload,
                manifest.layers[0].annotations.clone(),
            )],
            None,
        )
        .await
        .context("failed to push the signature")?;
    let digest = pushed.digest;
    debug_assert_eq!(
        Digest::sha256_of(&serde_json::to_vec(&manifest)?),
        digest,
        "wharf-sign's manifest and the pushed one agree"
    );
    if !pushed.indexed {
        let tag: wharf_oci::Tag = wharf_sign::fallback_tag(&subject.digest).parse()?;
        let at_tag = ImageReference {
            tag: Some(tag.clone()),
            digest: None,
            ..target.clone()
        };
        let mut sigs = match client.pull_manifest(&at_tag).await {
            Ok(existing) => ImageManifest::from_slice(&existing.bytes)?,
            Err(_) => ImageManifest {
                subject: None,
                artifact_type: None,
                layers: Vec::new(),
                ..manifest.clone()
            },
        };
        sigs.layers.extend(manifest.layers.iter().cloned());
        client
            .push_manifest(
                target,
                &Reference::Tag(tag),
                media_types::OCI_MANIFEST,
                serde_json::to_vec(&sigs)?,
            )
            .await
            .context("failed to push cosign's signature tag")?;
    }
    Ok(digest)
}

/// One signature found, and what judging it gave.
#[derive(Clone, Debug, Serialize)]
pub struct SignatureReport {
    /// Where it was found: `referrer <digest>` or `tag <tag>`.
    pub source: String,
    /// `bundle` (Sigstore bundle) or `legacy` (simple signing); absent for an entry that
    /// could not be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub format: Option<SignatureFormat>,
    /// Who verified it: the trusted key's id, or a keyless signer as
    /// `<identity> (<issuer>)`.
    pub key_id: Option<String>,
    /// True when verified.
    pub valid: bool,
    /// Why not, when not.
    pub error: Option<String>,
}

/// The outcome of checking a manifest's signatures.
#[derive(Clone, Debug, Serialize)]
pub struct VerifyReport {
    /// The reference, pinned to the digest checked.
    pub reference: String,
    /// The manifest digest checked.
    pub digest: Digest,
    /// True when a trusted key signed exactly this manifest.
    pub verified: bool,
    /// Every signature found.
    pub signatures: Vec<SignatureReport>,
}

impl VerifyReport {
    /// Why verification failed, for error messages.
    pub fn failure(&self) -> String {
        let why = if self.signatures.is_empty() {
            "it has no signature".to_owned()
        } else {
            "no signature is by a trusted key and valid for it".to_owned()
        };
        format!("{} is not verified: {why}", self.reference)
    }
}

/// Find the signatures of `subject` in `target`'s repository and judge each against
/// `signers`: Sigstore bundle referrers (cosign's sign predicate or message signatures;
/// attestation bundles are not signatures) with [`wharf_sign::bundle::judge_bundle`], and
/// legacy signature referrers, or cosign's `sha256-<hex>.sig` tag where there are none,
/// with [`wharf_sign::judge`]. Entries that cannot be read (over
/// [`wharf_client::MAX_MANIFEST_SIZE`], more than [`MAX_SIGNATURES`], malformed) are
/// reported through `warn` and skipped: one bad signature pushed by anyone with push
/// access must not hide a valid one.
pub async fn check_signatures(
    client: &Client,
    target: &ImageReference,
    subject: &Digest,
    signers: &Signers,
    warn: Warn<'_>,
) -> anyhow::Result<VerifyReport> {
    let mut layers: Vec<(String, Descriptor)> = Vec::new();
    let mut reports = Vec::new();
    let mut skipped = |source: String, e: String| {
        warn(&format!("skipping signature {source}: {e}"));
        reports.push(SignatureReport {
            source,
            format: None,
            key_id: None,
            valid: false,
            error: Some(e),
        });
    };
    let mut legacy_referrers = false;
    if let Some(index) = client.referrers(target, subject, None).await? {
        // judged from the index first: only signature manifests of a readable size, at
        // most MAX_SIGNATURES of them, fetched a few at a time
        let mut candidates = Vec::new();
        for d in index.manifests {
            if !wharf_sign::bundle::is_signature(d.artifact_type.as_deref(), d.annotations.as_ref())
            {
                continue;
            }
            legacy_referrers |= d.artifact_type.as_deref() == Some(SIGNATURE_ARTIFACT_TYPE);
            let source = format!("referrer {}", d.digest);
            if d.size > wharf_client::MAX_MANIFEST_SIZE {
                skipped(
                    source,
                    format!("its manifest is {} bytes, over the limit", d.size),
                );
                continue;
            }
            if candidates.len() == MAX_SIGNATURES {
                skipped(
                    source,
                    format!("more than {MAX_SIGNATURES} signatures; not read"),
                );
                continue;
            }
            candidates.push(d);
        }
        let fetched: Vec<_> = futures_util::stream::iter(candidates)
            .map(|d| async move {
                let m = client
                    .pull_manifest(&target.with_digest(d.digest.clone()))
                    .await
                    .map_err(anyhow::Error::from)
                    .and_then(|m| Ok(ImageManifest::from_slice(&m.bytes)?));
                (d, m)
            })
            .buffered(8)
            .collect()
            .await;
        for (d, m) in fetched {
            let source = format!("referrer {}", d.digest);
            match m {
                Ok(m) => layers.extend(m.layers.into_iter().map(|l| (source.clone(), l))),
                Err(e) => skipped(source, format!("{e:#}")),
            }
        }
    }
    if !legacy_referrers {
        // cosign's tag, where a registry kept no legacy signature as a referrer
        let tag = wharf_sign::fallback_tag(subject);
        let at_tag = ImageReference {
            tag: Some(tag.parse()?),
            digest: None,
            ..target.clone()
        };
        if let Ok(m) = client.pull_manifest(&at_tag).await {
            match ImageManifest::from_slice(&m.bytes) {
                Ok(m) => layers.extend(m.layers.into_iter().map(|l| (format!("tag {tag}"), l))),
                Err(e) => skipped(format!("tag {tag}"), e.to_string()),
            }
        }
    }
    for (source, layer) in layers {
        let (format, verdict) = match layer.media_type.as_str() {
            SIMPLE_SIGNING => (
                SignatureFormat::Legacy,
                judge_legacy(client, target, subject, &layer, &signers.keys).await,
            ),
            BUNDLE_MEDIA_TYPE => {
                let bytes = client
                    .pull_blob_bytes(target, &layer, wharf_sign::bundle::MAX_BUNDLE_BYTES)
                    .await;
                let verdict = match bytes {
                    Err(e) => Verdict::Invalid(format!("failed to read the bundle: {e}")),
                    Ok(bytes) => {
                        if wharf_sign::bundle::summarize(&bytes).is_ok_and(|s| {
                            s.predicate_type.is_some_and(|p| p != COSIGN_SIGN_PREDICATE)
                        }) {
                            continue; // an attestation, not a signature
                        }
                        wharf_sign::bundle::judge_bundle(
                            &bytes,
                            Signed::Digest(subject),
                            &signers.bundle_trust(),
                        )
                    }
                };
                (SignatureFormat::Bundle, verdict)
            }
            _ => continue,
        };
        reports.push(SignatureReport {
            source,
            format: Some(format),
            key_id: verdict.key_id().map(str::to_owned),
            valid: verdict.key_id().is_some(),
            error: verdict.reason().map(str::to_owned),
        });
    }
    let verified = reports.iter().any(|r| r.valid);
    Ok(VerifyReport {
        reference: target.with_digest(subject.clone()).to_string(),
        digest: subject.clone(),
        verified,
        signatures: reports,
    })
}

/// Judge one simple-signing layer: its payload is read only when it carries a signature.
async fn judge_legacy(
    client: &Client,
    target: &ImageReference,
    subject: &Digest,
    layer: &Descriptor,
    keys: &[TrustedKey],
) -> Verdict {
    let signature = layer
        .annotations
        .as_ref()
        .and_then(|a| a.get(wharf_sign::SIGNATURE_ANNOTATION));
    let payload = match signature {
        // without a signature there is nothing to read the payload for
        None => None,
        Some(_) => match client
            .pull_blob_bytes(target, layer, wharf_sign::MAX_PAYLOAD_BYTES)
            .await
        {
            Ok(p) => Some(p),
            Err(e) => return Verdict::Invalid(format!("failed to read the payload: {e}")),
        },
    };
    wharf_sign::judge(
        signature.map(String::as_str),
        payload.as_deref(),
        subject,
        keys,
    )
}

/// An attestation attached to a manifest (a Sigstore bundle referrer whose in-toto
/// statement is not cosign's signature statement: SLSA provenance, a scan) and how it
/// verified.
#[derive(Clone, Debug, Serialize)]
pub struct AttestationReport {
    /// The referrer's manifest digest.
    pub digest: Digest,
    /// The statement's predicate type.
    pub predicate_type: Option<String>,
    /// `verified`, `unverified` or `invalid`.
    pub status: wharf_sign::SignatureStatus,
    /// Who signed it, when verified.
    pub signer: Option<String>,
    /// Why not, when not.
    pub detail: Option<String>,
}

/// The attestations of `subject` in `target`'s repository, each judged against `signers`
/// like a signature. At most [`MAX_SIGNATURES`] are read; one that cannot be read is
/// reported `invalid` with the reason.
pub async fn check_attestations(
    client: &Client,
    target: &ImageReference,
    subject: &Digest,
    signers: &Signers,
) -> anyhow::Result<Vec<AttestationReport>> {
    let Some(index) = client
        .referrers(target, subject, Some(BUNDLE_MEDIA_TYPE))
        .await?
    else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for d in index
        .manifests
        .into_iter()
        .filter(|d| d.artifact_type.as_deref() == Some(BUNDLE_MEDIA_TYPE))
        .filter(|d| {
            // those announcing cosign's signature statement are signatures; the content
            // of the others decides
            d.annotations
                .as_ref()
                .and_then(|a| a.get(wharf_sign::bundle::PREDICATE_ANNOTATION))
                .is_none_or(|p| p != COSIGN_SIGN_PREDICATE)
        })
        .take(MAX_SIGNATURES)
    {
        let invalid = |why: String| AttestationReport {
            digest: d.digest.clone(),
            predicate_type: None,
            status: wharf_sign::SignatureStatus::Invalid,
            signer: None,
            detail: Some(why),
        };
        let layer = referrer_layer(
            client,
            target,
            &d.digest,
            BUNDLE_MEDIA_TYPE,
            wharf_sign::bundle::MAX_BUNDLE_BYTES,
        );
        let bytes = match layer.await {
            Ok(b) => b,
            Err(e) => {
                out.push(invalid(format!("{e:#}")));
                continue;
            }
        };
        let predicate_type = match wharf_sign::bundle::summarize(&bytes) {
            Ok(summary) => summary.predicate_type,
            Err(e) => {
                out.push(invalid(e.to_string()));
                continue;
            }
        };
        if predicate_type
            .as_deref()
            .is_none_or(|p| p == COSIGN_SIGN_PREDICATE)
        {
            continue; // a signature, not an attestation
        }
        let verdict = wharf_sign::bundle::judge_bundle(
            &bytes,
            Signed::Digest(subject),
            &signers.bundle_trust(),
        );
        out.push(AttestationReport {
            digest: d.digest.clone(),
            predicate_type,
            status: verdict.status(),
            signer: verdict.key_id().map(str::to_owned),
            detail: verdict.reason().map(str::to_owned),
        });
    }
    Ok(out)
}

/// The first layer of media type `media_type` of the referrer manifest `referrer` in
/// `target`'s repository, read whole (at most `limit` bytes, checked against its digest).
///
/// # Errors
/// When the manifest cannot be read, has no such layer, or the layer is over `limit`.
pub async fn referrer_layer(
    client: &Client,
    target: &ImageReference,
    referrer: &Digest,
    media_type: &str,
    limit: u64,
) -> anyhow::Result<Vec<u8>> {
    let m = client
        .pull_manifest(&target.with_digest(referrer.clone()))
        .await?;
    let m = ImageManifest::from_slice(&m.bytes)?;
    let layer = m
        .layers
        .iter()
        .find(|l| l.media_type == media_type)
        .with_context(|| format!("referrer {referrer} has no {media_type} layer"))?;
    Ok(client.pull_blob_bytes(target, layer, limit).await?)
}
