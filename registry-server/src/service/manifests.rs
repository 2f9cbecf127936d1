//! Manifests: the push (validated, its blobs and children present, Wasm layers indexed,
//! signatures judged, versions immutable), reads, deletes and referrers.

use wharf_oci::{
    Descriptor, Digest, ImageIndex, ImageManifest, Reference, RepositoryName, Tag, WasmArtifact,
    WasmLayout, media_types,
};

use super::{Registry, ServiceError};
use std::sync::Arc;

use crate::store::{ManifestChange, NewManifest, PutOutcome, StoredManifest};

/// The answer to a manifest push.
pub struct PushedManifest {
    /// Its digest.
    pub digest: Digest,
    /// Its subject, for `OCI-Subject`.
    pub subject: Option<Digest>,
    /// The tags now pointing at it, for `OCI-Tag`.
    pub tags: Vec<Tag>,
}

/// A layer the image specification lets registries accept without its blob: a
/// non-distributable media type, or one with `urls` to fetch it elsewhere.
pub(super) fn is_non_distributable(d: &Descriptor) -> bool {
    d.media_type.contains("nondistributable")
        || d.media_type.contains("foreign")
        || d.urls.as_ref().is_some_and(|u| !u.is_empty())
}

impl Registry {
    /// Store a manifest pushed under `reference`, after checking it: parseable, of a
    /// known media type, every referenced blob or manifest present in `repo`, digest
    /// matching a digest reference, and — for Wasm artifacts — one valid wasm layer,
    /// which is indexed.
    /// Mirrored repositories refuse pushes ([`ServiceError::MirrorReadOnly`]).
    #[tracing::instrument(skip(self, content), err(level = "debug"))]
    pub async fn put_manifest(
        &self,
        repo: &RepositoryName,
        reference: &Reference,
        extra_tags: &[Tag],
        content_type: Option<&str>,
        content: &[u8],
    ) -> Result<PushedManifest, ServiceError> {
        self.refuse_mirrored(repo)?;
        self.store_manifest(repo, reference, extra_tags, content_type, content)
            .await
    }

    /// [`Self::put_manifest`] without the mirror check: the push itself, which mirroring
    /// uses too, so mirrored content passes every check pushed content does.
    pub(super) async fn store_manifest(
        &self,
        repo: &RepositoryName,
        reference: &Reference,
        extra_tags: &[Tag],
        content_type: Option<&str>,
        content: &[u8],
    ) -> Result<PushedManifest, ServiceError> {
        if content.len() as u64 > self.limits.max_manifest_bytes {
            return Err(ServiceError::SizeInvalid(format!(
                "manifest of {} bytes exceeds the limit of {} bytes",
                content.len(),
                self.limits.max_manifest_bytes
            )));
        }
        let digest = match reference {
            Reference::Digest(d) => {
                let actual = d.compute_same(content);
                if &actual != d {
                    return Err(ServiceError::DigestMismatch {
                        expected: d.clone(),
                        actual,
                    });
                }
                actual
            }
            Reference::Tag(_) => Digest::sha256_of(content),
        };
        let value: serde_json::Value = serde_json::from_slice(content).map_err(|e| {
            ServiceError::ManifestInvalid(format!("manifest is not valid JSON: {e}"))
        })?;
        let body_type = value.get("mediaType").and_then(|m| m.as_str());
        let header_type = content_type
            .map(|c| c.split(';').next().unwrap_or(c).trim())
            .filter(|c| !c.is_empty() && *c != "application/json");
        let media_type = match (header_type, body_type) {
            (Some(h), Some(b)) if h != b => {
                return Err(ServiceError::ManifestInvalid(format!(
                    "manifest mediaType `{b}` does not match Content-Type `{h}`"
                )));
            }
            (Some(h), _) => h.to_owned(),
            (None, Some(b)) => b.to_owned(),
            (None, None) if value.get("manifests").is_some() => media_types::OCI_INDEX.to_owned(),
            (None, None) => media_types::OCI_MANIFEST.to_owned(),
        };
        let mut new = NewManifest {
            digest: &digest,
            media_type: &media_type,
            artifact_type: None,
            subject: None,
            content,
            annotations: None,
            blobs: Vec::new(),
            manifests: Vec::new(),
            wasm: None,
            signatures: Vec::new(),
        };
        let artifact_type;
        let subject;
        let annotations;
        match media_type.as_str() {
            media_types::OCI_MANIFEST | media_types::DOCKER_MANIFEST => {
                let m = ImageManifest::from_slice(content)
                    .map_err(|e| ServiceError::ManifestInvalid(e.to_string()))?;
                for d in std::iter::once(&m.config).chain(&m.layers) {
                    // non-distributable layers (foreign URLs) are not pushed to registries:
                    // accepted without the blob, as the image specification expects
                    if is_non_distributable(d) {
                        continue;
                    }
                    let Some(size) = self.store.repository_blob(repo, &d.digest).await? else {
                        return Err(ServiceError::ManifestBlobUnknown(d.digest.clone()));
                    };
                    // a descriptor's size is checked against the blob it names: a size that
                    // lies would let a client skip limits that go by it
                    if size != d.size {
                        return Err(ServiceError::ManifestInvalid(format!(
                            "descriptor of blob {} says {} bytes; the blob has {size}",
                            d.digest, d.size
                        )));
                    }
                    new.blobs.push(d.digest.clone());
                }
                // a Wasm config demands exactly one wasm layer; other artifacts that carry
                // wasm are indexed when they have a single wasm layer, and Spin applications
                // (several components) are stored as they are
                if let Ok(artifact) = WasmArtifact::read(&m)
                    && artifact.layout != WasmLayout::Spin
                    && (media_types::is_wasm_config(&m.config.media_type)
                        || artifact.wasm_layers.len() == 1)
                {
                    new.wasm = self.index_wasm(&artifact).await?;
                }
                new.signatures = self.judge_signatures(&m).await;
                for s in &mut new.signatures {
                    s.signature_digest = digest.clone();
                }
                artifact_type = Some(m.effective_artifact_type().to_owned());
                subject = m.subject.map(|s| s.digest);
                annotations = m.annotations;
            }
            media_types::OCI_INDEX | media_types::DOCKER_MANIFEST_LIST => {
                let i: ImageIndex = serde_json::from_slice(content).map_err(|e| {
                    ServiceError::ManifestInvalid(format!("image index is not valid: {e}"))
                })?;
                for d in &i.manifests {
                    if !self.store.has_manifest(repo, &d.digest).await? {
                        return Err(ServiceError::ManifestChildUnknown(d.digest.clone()));
                    }
                    new.manifests.push(d.digest.clone());
                }
                artifact_type = i.artifact_type.clone();
                subject = i.subject.map(|s| s.digest);
                annotations = i.annotations;
            }
            other => {
                return Err(ServiceError::ManifestInvalid(format!(
                    "unsupported manifest media type `{other}`"
                )));
            }
        }
        new.artifact_type = artifact_type.as_deref();
        new.subject = subject.as_ref();
        new.annotations = annotations.as_ref();
        let mut tags: Vec<Tag> = extra_tags.to_vec();
        if let Reference::Tag(t) = reference {
            tags.insert(0, t.clone());
        }
        tags.dedup();
        self.check_versions_stay(repo, &tags, &digest).await?;
        let outcome = self.store.put_manifest(repo, &new, &tags).await;
        self.changed(ManifestChange::Repository(repo.clone()));
        match outcome? {
            PutOutcome::Stored => Ok(PushedManifest {
                digest,
                subject,
                tags,
            }),
            PutOutcome::BlobMissing(d) => Err(ServiceError::ManifestBlobUnknown(d)),
        }
    }

    /// Immutable versions: a semver tag that points at another manifest may not move,
    /// unless `repo` is under a prefix the operator made mutable.
    async fn check_versions_stay(
        &self,
        repo: &RepositoryName,
        tags: &[Tag],
        digest: &Digest,
    ) -> Result<(), ServiceError> {
        // a mirror follows its upstream, where versions may have moved
        let mutable = self
            .limits
            .mutable_version_prefixes
            .iter()
            .any(|p| repo.is_under(p))
            || self.mirror_of(repo).is_some();
        if mutable {
            return Ok(());
        }
        for tag in tags.iter().filter(|t| t.semver().is_some()) {
            if let Some(existing) = self
                .store
                .manifest(repo, &Reference::Tag(tag.clone()))
                .await?
                && &existing.digest != digest
            {
                return Err(ServiceError::VersionExists {
                    tag: tag.to_string(),
                    digest: existing.digest,
                });
            }
        }
        Ok(())
    }

    /// A manifest by tag or digest: from the manifest cache when it is there (mirrored
    /// repositories excepted, whose tags are checked upstream), else from the store.
    pub async fn manifest(
        &self,
        repo: &RepositoryName,
        reference: &Reference,
    ) -> Result<Arc<StoredManifest>, ServiceError> {
        let mirrored = self.mirror_of(repo).is_some();
        let cached = match mirrored {
            true => None,
            false => self.manifest_cache.get(repo, reference),
        };
        let m = match cached {
            Some(m) => m,
            None => {
                self.refresh_mirrored(repo, reference).await?;
                let generation = self.manifest_cache.generation();
                let m = Arc::new(
                    self.store
                        .manifest(repo, reference)
                        .await?
                        .ok_or_else(|| ServiceError::ManifestUnknown(reference.to_string()))?,
                );
                if !mirrored {
                    self.manifest_cache
                        .insert(generation, repo, reference, m.clone());
                }
                m
            }
        };
        self.require_signature(repo, &m).await?;
        Ok(m)
    }

    /// Delete a manifest by digest (with its tags and index entry), or only a tag.
    pub async fn delete_manifest(
        &self,
        repo: &RepositoryName,
        reference: &Reference,
    ) -> Result<(), ServiceError> {
        self.refuse_mirrored(repo)?;
        let found = match reference {
            Reference::Digest(d) => self.store.delete_manifest(repo, d).await,
            Reference::Tag(t) => self.store.delete_tag(repo, t).await,
        };
        self.changed(ManifestChange::Repository(repo.clone()));
        let found = found?;
        if found {
            Ok(())
        } else {
            Err(ServiceError::ManifestUnknown(reference.to_string()))
        }
    }

    /// The manifests of `repo` whose subject is `subject`, as an image index
    /// (OCI Distribution v1.1 "Listing Referrers"); empty for an unknown digest.
    pub async fn referrers(
        &self,
        repo: &RepositoryName,
        subject: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Vec<Descriptor>, ServiceError> {
        Ok(self.store.referrers(repo, subject, artifact_type).await?)
    }
}
