//! Signing and verifying packages in cosign's format: the signature is a referrer of the
//! signed manifest (OCI 1.1), and also a layer of cosign's `sha256-<hex>.sig` tag where a
//! registry keeps no referrers. Judging is [`wharf_sign::judge`], the one judge the
//! registry uses as well.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use futures_util::StreamExt as _;
use serde::Serialize;
use wharf_client::Client;
use wharf_oci::{Descriptor, Digest, ImageManifest, ImageReference, Reference, media_types};
use wharf_sign::{SIGNATURE_ARTIFACT_TYPE, SIMPLE_SIGNING, SimpleSigning, TrustedKey};

use crate::Warn;

/// Most signature referrers read for one manifest; more are reported and not read.
pub const MAX_SIGNATURES: usize = 64;

/// A private key read for signing: the PEM and, for an encrypted key, its passphrase.
pub struct SigningKey {
    pem: String,
    passphrase: Option<String>,
    /// The id of its public key ([`wharf_sign::key_id`]).
    pub key_id: String,
    path: PathBuf,
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
        })
    }

    /// Sign `payload`; the base64 DER signature.
    pub fn sign(&self, payload: &[u8]) -> anyhow::Result<String> {
        wharf_sign::sign(&self.pem, self.passphrase.as_deref(), payload)
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

/// Sign the manifest `subject` of `target`'s repository with `key`: push the payload, the
/// empty config and the signature manifest (a referrer of `subject`); when the registry's
/// answer carries no `OCI-Subject` (it keeps no referrers), also add the signature as a
/// layer of cosign's `sha256-<hex>.sig` tag, keeping earlier signatures. Returns the
/// signature manifest's digest.
pub async fn sign_manifest(
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
    /// The trusted key that verified it.
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

/// Find the signatures of `subject` in `target`'s repository (referrers API, else
/// cosign's tag) and judge each against `keys` ([`wharf_sign::judge`]). Entries that
/// cannot be read (over [`wharf_client::MAX_MANIFEST_SIZE`], more than
/// [`MAX_SIGNATURES`], malformed) are reported through `warn` and skipped: one bad
/// signature pushed by anyone with push access must not hide a valid one.
pub async fn check_signatures(
    client: &Client,
    target: &ImageReference,
    subject: &Digest,
    keys: &TrustedKeys,
    warn: Warn<'_>,
) -> anyhow::Result<VerifyReport> {
    let mut layers: Vec<(String, Descriptor)> = Vec::new();
    let mut reports = Vec::new();
    let mut skipped = |source: String, e: String| {
        warn(&format!("skipping signature {source}: {e}"));
        reports.push(SignatureReport {
            source,
            key_id: None,
            valid: false,
            error: Some(e),
        });
    };
    match client
        .referrers(target, subject, Some(SIGNATURE_ARTIFACT_TYPE))
        .await?
    {
        Some(index) => {
            // judged from the index first: only signature manifests of a readable size,
            // at most MAX_SIGNATURES of them, fetched a few at a time
            let mut candidates = Vec::new();
            for d in index.manifests {
                if d.artifact_type.as_deref() != Some(SIGNATURE_ARTIFACT_TYPE) {
                    continue;
                }
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
        None => {
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
    }
    for (source, layer) in layers
        .into_iter()
        .filter(|(_, l)| l.media_type == SIMPLE_SIGNING)
    {
        let signature = layer
            .annotations
            .as_ref()
            .and_then(|a| a.get(wharf_sign::SIGNATURE_ANNOTATION))
            .cloned();
        let payload = match signature {
            // without a signature there is nothing to read the payload for
            None => Ok(None),
            Some(_) => client
                .pull_blob_bytes(target, &layer, wharf_sign::MAX_PAYLOAD_BYTES)
                .await
                .map(Some),
        };
        let verdict = match &payload {
            Ok(payload) => {
                wharf_sign::judge(signature.as_deref(), payload.as_deref(), subject, keys)
            }
            Err(e) => wharf_sign::Verdict::Invalid(format!("failed to read the payload: {e}")),
        };
        reports.push(SignatureReport {
            source,
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
