//! Required signatures (like Harbor's content trust): under a configured repository prefix,
//! a manifest is served only when a referrer carries a cosign-format signature, by one of
//! the operator's keys, over exactly that manifest's digest. Signature, yank and other
//! artifact manifests themselves stay readable (clients need them to verify).

use wharf_oci::{Digest, ImageManifest, RepositoryName, media_types};

use super::{Registry, ServiceError};
use crate::store::{SignatureRecord, StoredManifest};

/// Repositories under `prefix` must be signed by one of `keys` (SPKI PEM text).
#[derive(Clone, Debug)]
pub struct SignatureRule {
    /// Repository prefix, matched at `/` boundaries (`""`: everything).
    pub prefix: String,
    /// Trusted public keys.
    pub keys: Vec<String>,
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
        let referrers = self
            .store
            .referrers(repo, &m.digest, Some(wharf_sign::SIGNATURE_ARTIFACT_TYPE))
            .await?;
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
        }
        Err(ServiceError::Unsigned {
            digest: m.digest.clone(),
            prefix: rule.prefix.clone(),
        })
    }

    /// Judge every simple-signing layer of a pushed manifest against the operator's keys
    /// (trusted keys and signature-rule keys) with the one judge, [`wharf_sign::judge`]:
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
            out.push(SignatureRecord {
                signature_digest: Digest::sha256_of(b""),
                layer: u32::try_from(i).unwrap_or(u32::MAX),
                subject,
                key_id: verdict.key_id().map(str::to_owned),
                status: verdict.status(),
                detail: verdict.reason().map(str::to_owned),
            });
        }
        out
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
