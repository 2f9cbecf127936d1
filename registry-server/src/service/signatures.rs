//! Required signatures (like Harbor's content trust): under a configured repository prefix,
//! a manifest is served only when a referrer carries a cosign-format signature (a Sigstore
//! bundle or a legacy simple-signing payload), by one of the operator's keys, over exactly
//! that manifest's digest. Signature, yank and other artifact manifests themselves stay
//! readable (clients need them to verify).

use wharf_oci::{Descriptor, Digest, ImageManifest, RepositoryName, media_types};
use wharf_sign::Verdict;
use wharf_sign::bundle::BUNDLE_MEDIA_TYPE;

use super::{Registry, ServiceError};
use crate::store::{SignatureRecord, StoredManifest};

/// Repositories under `prefix` must be signed by one of `keys` (SPKI PEM text) or
/// `identities` (keyless Sigstore bundles).
#[derive(Clone, Debug)]
pub struct SignatureRule {
    /// Repository prefix, matched at `/` boundaries (`""`: everything).
    pub prefix: String,
    /// Trusted public keys.
    pub keys: Vec<String>,
    /// Trusted keyless signers.
    pub identities: Vec<wharf_sign::bundle::IdentityRule>,
}

/// Artifact types that are about another manifest and never need a signature themselves.
fn is_exempt(m: &StoredManifest) -> bool {
    let Ok(manifest) = ImageManifest::from_slice(&m.content) else {
        return false;
    };
    manifest.subject.is_some()
        || manifest.config.media_type == media_types::OCI_EMPTY
        || manifest.effective_artifact_type() == wharf_sign::SIGNATURE_ARTIFACT_TYPE
}

impl Registry {
    /// Refuse `m` unless it is signed as the rule for `repo` requires.
    pub(super) async fn require_signature(
        &self,
        repo: &RepositoryName,
        m: &StoredManifest,
    ) -> Result<(), ServiceError> {
        let Some(rule) = self
            .signature_rules
            .iter()
            .filter(|r| repo.is_under(&r.prefix))
            .max_by_key(|r| r.prefix.trim_end_matches('/').len())
        else {
            return Ok(());
        };
        if is_exempt(m) {
            return Ok(());
        }
        let mut referrers = self
            .store
            .referrers(repo, &m.digest, Some(wharf_sign::SIGNATURE_ARTIFACT_TYPE))
            .await?;
        referrers.extend(
            self.store
                .referrers(repo, &m.digest, Some(BUNDLE_MEDIA_TYPE))
                .await?,
        );
        let keys: Vec<wharf_sign::TrustedKey> = rule
            .keys
            .iter()
            .filter_map(|pem| Some((wharf_sign::key_id(pem).ok()?, pem.clone())))
            .collect();
        for r in referrers {
            let Some(sig) = self
                .store
                .manifest(repo, &wharf_oci::Reference::Digest(r.digest.clone()))
                .await?
            else {
                continue;
            };
            let Ok(sig) = ImageManifest::from_slice(&sig.content) else {
                continue;
            };
            for (_, layer, signature) in wharf_sign::signature_layers(&sig) {
                let payload = self.payload(layer).await;
                let verdict = wharf_sign::judge(signature, payload.as_deref(), &m.digest, &keys);
                if verdict.key_id().is_some() {
                    return Ok(());
                }
            }
            for (_, layer) in bundle_layers(&sig) {
                if let Some(verdict) = self
                    .judge_bundle(layer, &m.digest, &keys, &rule.identities, false)
                    .await
                    && verdict.key_id().is_some()
                {
                    return Ok(());
                }
            }
        }
        Err(ServiceError::Unsigned {
            digest: m.digest.clone(),
            prefix: rule.prefix.clone(),
        })
    }

    /// Judge every signature layer of a pushed manifest against the operator's keys
    /// (trusted keys and signature-rule keys): Sigstore bundle layers of a referrer with
    /// [`Registry::judge_bundle`], simple-signing layers with the one judge,
    /// [`wharf_sign::judge`]:
    /// `verified` with the key id, `unverified` when well-formed but no operator key
    /// matches, `invalid` when the payload is missing, malformed or names another manifest
    /// than the subject. The subject is the manifest's `subject`, else the digest the
    /// payload names (cosign's tag-schema signatures have no `subject`). Empty for
    /// manifests that carry no signature.
    pub(super) async fn judge_signatures(&self, m: &ImageManifest) -> Vec<SignatureRecord> {
        let mut out = Vec::new();
        for (i, layer, signature) in wharf_sign::signature_layers(m) {
            let payload = self.payload(layer).await;
            let named: Option<Digest> = payload
                .as_deref()
                .and_then(|p| serde_json::from_slice::<wharf_sign::SimpleSigning>(p).ok())
                .and_then(|p| p.critical.image.docker_manifest_digest.parse().ok());
            let Some(subject) = m.subject.as_ref().map(|s| s.digest.clone()).or(named) else {
                continue;
            };
            let verdict =
                wharf_sign::judge(signature, payload.as_deref(), &subject, &self.trusted_keys);
            out.push(record(i, subject, &verdict));
        }
        if let Some(subject) = &m.subject {
            for (i, layer) in bundle_layers(m) {
                if let Some(verdict) = self
                    .judge_bundle(
                        layer,
                        &subject.digest,
                        &self.trusted_keys,
                        &self.trusted_identities,
                        false,
                    )
                    .await
                {
                    out.push(record(i, subject.digest.clone(), &verdict));
                }
            }
        }
        out
    }

    /// The verification status of an attestation manifest (a Sigstore bundle referrer
    /// whose statement is not cosign's signature statement), judged like a signature
    /// against the operator's trusted keys and identities; `None` when it is not one.
    pub(super) async fn attestation_verdict(&self, m: &ImageManifest) -> Option<Verdict> {
        let subject = m.subject.as_ref()?;
        let (_, layer) = bundle_layers(m).next()?;
        self.judge_bundle(
            layer,
            &subject.digest,
            &self.trusted_keys,
            &self.trusted_identities,
            true,
        )
        .await
    }

    /// Judge a Sigstore bundle layer signing `subject` ([`wharf_sign::bundle::judge_bundle`]
    /// against `keys`, `identities` and the configured trusted root, else the public-good
    /// one; a keyless bundle by no trusted identity is `unverified` with its signer named).
    /// `None` for an attestation bundle (a predicate other than cosign's sign statement),
    /// which is not a signature, unless `attestations` asks to judge those too.
    async fn judge_bundle(
        &self,
        layer: &wharf_oci::Descriptor,
        subject: &Digest,
        keys: &[wharf_sign::TrustedKey],
        identities: &[wharf_sign::bundle::IdentityRule],
        attestations: bool,
    ) -> Option<Verdict> {
        use wharf_sign::bundle;
        let bytes = match layer.size > bundle::MAX_BUNDLE_BYTES {
            true => None,
            false => self
                .small_blob(&layer.digest, bundle::MAX_BUNDLE_BYTES)
                .await
                .ok(),
        };
        let Some(bytes) = bytes else {
            return Some(Verdict::Invalid(
                "the bundle is missing or too large".into(),
            ));
        };
        let attestation = bundle::summarize(&bytes).is_ok_and(|summary| {
            summary
                .predicate_type
                .is_some_and(|p| p != bundle::COSIGN_SIGN_PREDICATE)
        });
        if attestation != attestations {
            return None;
        }
        let root = match &self.trusted_root {
            Some(root) => root.clone(),
            None => match bundle::production_root() {
                Ok(root) => std::sync::Arc::new(root),
                Err(e) => return Some(Verdict::Invalid(e.to_string())),
            },
        };
        let trust = bundle::BundleTrust {
            keys,
            identities,
            root: &root,
            require_tlog: false,
        };
        Some(bundle::judge_bundle(
            &bytes,
            bundle::Signed::Digest(subject),
            &trust,
        ))
    }

    /// The payload of a signature layer, when it is small enough and reads back intact.
    async fn payload(&self, layer: &wharf_oci::Descriptor) -> Option<Vec<u8>> {
        if layer.size > wharf_sign::MAX_PAYLOAD_BYTES {
            return None;
        }
        self.small_blob(&layer.digest, wharf_sign::MAX_PAYLOAD_BYTES)
            .await
            .ok()
    }
}

/// The Sigstore bundle layers of a manifest, with their indexes in `layers`.
fn bundle_layers(m: &ImageManifest) -> impl Iterator<Item = (usize, &Descriptor)> {
    m.layers
        .iter()
        .enumerate()
        .filter(|(_, l)| l.media_type == BUNDLE_MEDIA_TYPE)
}

/// The stored record of a judged signature layer.
fn record(layer: usize, subject: Digest, verdict: &Verdict) -> SignatureRecord {
    SignatureRecord {
        signature_digest: Digest::sha256_of(b""),
        layer: u32::try_from(layer).unwrap_or(u32::MAX),
        subject,
        key_id: verdict.key_id().map(str::to_owned),
        status: verdict.status(),
        detail: verdict.reason().map(str::to_owned),
    }
}
