//! Required signatures (like Harbor's content trust): under a configured repository prefix,
//! a manifest is served only when a referrer carries a cosign-format signature, by one of
//! the operator's keys, over exactly that manifest's digest. Signature, yank and other
//! artifact manifests themselves stay readable (clients need them to verify).

use futures_util::StreamExt;
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

fn under(prefix: &str, repo: &str) -> bool {
    let p = prefix.trim_end_matches('/');
    p.is_empty() || repo == p || repo.strip_prefix(p).is_some_and(|r| r.starts_with('/'))
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
            .filter(|r| under(&r.prefix, repo.as_str()))
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
            for layer in sig
                .layers
                .iter()
                .filter(|l| l.media_type == wharf_sign::SIMPLE_SIGNING && l.size <= 64 * 1024)
            {
                let Some(signature) = layer
                    .annotations
                    .as_ref()
                    .and_then(|a| a.get(wharf_sign::SIGNATURE_ANNOTATION))
                else {
                    continue;
                };
                let Ok(payload) = self.small_blob(&layer.digest).await else {
                    continue;
                };
                if wharf_sign::SimpleSigning::parse_for(&payload, &m.digest).is_ok()
                    && rule
                        .keys
                        .iter()
                        .any(|k| wharf_sign::verify(k, &payload, signature).is_ok())
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

    /// Judge every simple-signing layer of a pushed manifest against the operator's keys
    /// (trusted keys and signature-rule keys): `verified` with the key id, `unverified`
    /// when well-formed but no operator key matches, `invalid` when the payload is
    /// missing, malformed or names another manifest than the subject. Empty for
    /// manifests that carry no signature.
    pub(super) async fn judge_signatures(&self, m: &ImageManifest) -> Vec<SignatureRecord> {
        let mut out = Vec::new();
        for (i, layer) in m.layers.iter().enumerate() {
            if layer.media_type != wharf_sign::SIMPLE_SIGNING {
                continue;
            }
            let signature = layer
                .annotations
                .as_ref()
                .and_then(|a| a.get(wharf_sign::SIGNATURE_ANNOTATION));
            let payload = match layer.size <= 64 * 1024 {
                true => self.small_blob(&layer.digest).await.ok(),
                false => None,
            };
            let parsed = payload
                .as_deref()
                .and_then(|p| serde_json::from_slice::<wharf_sign::SimpleSigning>(p).ok());
            let named: Option<Digest> = parsed
                .as_ref()
                .and_then(|p| p.critical.image.docker_manifest_digest.parse().ok());
            let Some(subject) = m
                .subject
                .as_ref()
                .map(|s| s.digest.clone())
                .or_else(|| named.clone())
            else {
                continue;
            };
            let mut record = SignatureRecord {
                signature_digest: Digest::sha256_of(b""),
                layer: u32::try_from(i).unwrap_or(u32::MAX),
                subject: subject.clone(),
                key_id: None,
                status: "invalid".into(),
                detail: None,
            };
            match (signature, payload.as_deref(), named) {
                (None, _, _) => record.detail = Some("no signature annotation".into()),
                (_, None, _) => record.detail = Some("payload missing or too large".into()),
                (_, _, None) => {
                    record.detail = Some("payload is not cosign simple-signing JSON".into())
                }
                (_, _, Some(named)) if named != subject => {
                    record.detail = Some(format!("payload signs {named}, not {subject}"))
                }
                (Some(sig), Some(payload), Some(_)) => {
                    match self
                        .trusted_keys
                        .iter()
                        .find(|(_, pem)| wharf_sign::verify(pem, payload, sig).is_ok())
                    {
                        Some((id, _)) => {
                            record.status = "verified".into();
                            record.key_id = Some(id.clone());
                        }
                        None => {
                            record.status = "unverified".into();
                            record.detail = Some("signed by none of the operator's keys".into());
                        }
                    }
                }
            }
            out.push(record);
        }
        out
    }

    /// A small blob (a signature payload), checked against its digest.
    async fn small_blob(&self, digest: &Digest) -> Result<Vec<u8>, ServiceError> {
        let (mut stream, _) = self.blobs.read(digest, None).await?;
        let mut out = Vec::new();
        while let Some(chunk) = stream.next().await {
            out.extend_from_slice(&chunk.map_err(|e| ServiceError::Internal(e.to_string()))?);
            if out.len() > 64 * 1024 {
                return Err(ServiceError::Internal("signature payload too large".into()));
            }
        }
        if &digest.compute_same(&out) != digest {
            return Err(ServiceError::Internal(format!(
                "stored blob {digest} does not match its digest"
            )));
        }
        Ok(out)
    }
}
