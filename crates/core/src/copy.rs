//! Copy an artifact between repositories or registries with what refers to it
//! (`wharf copy`), as `oras cp -r` and `skopeo copy` do: every manifest byte for byte (so
//! digests and signatures stay valid), image indexes with their manifests, blobs streamed
//! from one registry into the other (mounted within one registry), and the referrers of each
//! copied manifest (signatures, SBOMs, yank marks, attestations, and theirs in turn).
//!
//! Referrers are found through the referrers API, else the referrers tag schema, and
//! cosign's `sha256-<hex>.sig` tag is carried along when the source has one. Where the
//! destination does not index a referrer (no referrers API: its answer carries no
//! `OCI-Subject`), the referrers tag schema's index there is updated, so clients find it.

use std::collections::BTreeSet;

use anyhow::{Context as _, bail};
use serde::Serialize;
use wharf_client::{Client, ClientError};
use wharf_oci::{
    Descriptor, Digest, ImageIndex, ImageManifest, ImageReference, Reference, media_types,
};

use crate::Warn;

/// How deep referrers of referrers are followed (a signature of an SBOM of a component is
/// depth 2).
pub const MAX_REFERRER_DEPTH: usize = 4;
/// Most manifests one copy carries (an index's children and every referrer); a source
/// that names more is refused rather than followed without end.
pub const MAX_MANIFESTS: usize = 10_000;

/// What to copy besides the artifact itself.
#[derive(Clone, Debug)]
pub struct CopyOptions {
    /// Carry referrers along (and theirs, to [`MAX_REFERRER_DEPTH`]).
    pub referrers: bool,
}

impl Default for CopyOptions {
    fn default() -> Self {
        CopyOptions { referrers: true }
    }
}

/// A referrer carried along.
#[derive(Clone, Debug, Serialize)]
pub struct CopiedReferrer {
    /// Its manifest digest (the same at the destination).
    pub digest: Digest,
    /// Its artifact type, when it has one.
    pub artifact_type: Option<String>,
    /// The manifest it refers to.
    pub subject: Digest,
}

/// What a copy did.
#[derive(Clone, Debug, Serialize)]
pub struct CopyReport {
    /// The source, pinned to the digest copied.
    pub source: String,
    /// The destination, pinned to the same digest.
    pub destination: String,
    /// The manifest digest (identical on both sides).
    pub digest: Digest,
    /// Manifests written (the artifact, an index's children, referrers).
    pub manifests: usize,
    /// Blobs sent or mounted.
    pub blobs_copied: usize,
    /// Blobs the destination had already.
    pub blobs_present: usize,
    /// Bytes of the blobs sent or mounted.
    pub bytes_copied: u64,
    /// Referrers carried along.
    pub referrers: Vec<CopiedReferrer>,
    /// Cosign signature tags (`sha256-<hex>.sig`) carried along.
    pub signature_tags: Vec<String>,
}

struct Copier<'a> {
    from: &'a Client,
    to: &'a Client,
    src: ImageReference,
    dst: ImageReference,
    report: CopyReport,
    /// Manifests written to the destination this run.
    done: BTreeSet<Digest>,
}

fn at_digest(r: &ImageReference, digest: &Digest) -> ImageReference {
    ImageReference {
        tag: None,
        digest: Some(digest.clone()),
        ..r.clone()
    }
}

fn at_tag(r: &ImageReference, tag: &str) -> anyhow::Result<ImageReference> {
    Ok(ImageReference {
        tag: Some(tag.parse()?),
        digest: None,
        ..r.clone()
    })
}

/// Copy what `src` names (a tag or a digest, resolved with `from`) to `dst` (with `to`):
/// tagged with `dst`'s tag, else `src`'s tag, else by digest only. A `dst` that names a
/// digest must name the one copied.
///
/// # Errors
/// The source manifest cannot be read or verified; a blob's bytes are not what its
/// descriptor says (nothing is committed for it); the destination refuses a blob or a
/// manifest (its error, with the manifest named); more than [`MAX_MANIFESTS`] manifests.
/// A referrer that cannot be copied is reported through `warn`, not fatal.
pub async fn copy(
    from: &Client,
    src: &ImageReference,
    to: &Client,
    dst: &ImageReference,
    options: &CopyOptions,
    warn: Warn<'_>,
) -> anyhow::Result<CopyReport> {
    let top = from
        .pull_manifest(src)
        .await
        .with_context(|| format!("failed to read the manifest of {src}"))?;
    if let Some(d) = &src.digest
        && d != &top.digest
    {
        bail!("{src} answered with manifest {}", top.digest);
    }
    if let Some(want) = &dst.digest
        && want != &top.digest
    {
        bail!(
            "the destination {dst} names digest {want}, but {src} is {}: a copy keeps the digest",
            top.digest
        );
    }
    let tag = dst.tag.clone().or_else(|| src.tag.clone());
    let mut c = Copier {
        from,
        to,
        src: src.clone(),
        dst: dst.clone(),
        report: CopyReport {
            source: format!("{}/{}@{}", src.registry, src.repository, top.digest),
            destination: format!("{}/{}@{}", dst.registry, dst.repository, top.digest),
            digest: top.digest.clone(),
            manifests: 0,
            blobs_copied: 0,
            blobs_present: 0,
            bytes_copied: 0,
            referrers: Vec::new(),
            signature_tags: Vec::new(),
        },
        done: BTreeSet::new(),
    };
    let reference = match &tag {
        Some(t) => Reference::Tag(t.clone()),
        None => Reference::Digest(top.digest.clone()),
    };
    c.copy_manifest(&top.digest, &top.media_type, top.bytes, &reference)
        .await?;
    if options.referrers {
        // the referrers of the artifact and of every manifest of an index
        let copied: Vec<Digest> = c.done.iter().cloned().collect();
        c.copy_referrers(copied, warn).await;
    }
    Ok(c.report)
}

impl Copier<'_> {
    /// Copy the manifest `bytes` (and what it holds) and put it under `reference`.
    async fn copy_manifest(
        &mut self,
        digest: &Digest,
        media_type: &str,
        bytes: Vec<u8>,
        reference: &Reference,
    ) -> anyhow::Result<bool> {
        if self.done.len() >= MAX_MANIFESTS {
            bail!("{} names more than {MAX_MANIFESTS} manifests", self.src);
        }
        let is_index =
            media_type == media_types::OCI_INDEX || media_type == media_types::DOCKER_MANIFEST_LIST;
        if is_index {
            let index: ImageIndex = serde_json::from_slice(&bytes)
                .with_context(|| format!("image index {digest} of {} is not valid", self.src))?;
            for child in &index.manifests {
                if self.done.contains(&child.digest) {
                    continue;
                }
                let pulled = self
                    .from
                    .pull_manifest(&at_digest(&self.src, &child.digest))
                    .await
                    .with_context(|| {
                        format!("failed to read manifest {} of index {digest}", child.digest)
                    })?;
                Box::pin(self.copy_manifest(
                    &child.digest,
                    &pulled.media_type,
                    pulled.bytes,
                    &Reference::Digest(child.digest.clone()),
                ))
                .await?;
            }
        } else {
            let manifest = ImageManifest::from_slice(&bytes)
                .with_context(|| format!("manifest {digest} of {} is not valid", self.src))?;
            let blobs = std::iter::once(&manifest.config).chain(manifest.layers.iter());
            for blob in blobs {
                self.copy_blob(blob).await?;
            }
        }
        let (pushed, subject) = self
            .to
            .put_manifest(&self.dst, reference, media_type, bytes)
            .await
            .with_context(|| format!("failed to write manifest {digest} to {}", self.dst))?;
        if &pushed != digest {
            bail!("{} stored manifest {digest} as {pushed}", self.dst);
        }
        self.done.insert(digest.clone());
        self.report.manifests += 1;
        Ok(subject.is_some())
    }

    async fn copy_blob(&mut self, desc: &Descriptor) -> anyhow::Result<()> {
        let sent = self
            .to
            .copy_blob_from(self.from, &self.src, &self.dst, desc)
            .await
            .with_context(|| {
                format!(
                    "failed to copy blob {} ({} bytes) from {} to {}",
                    desc.digest, desc.size, self.src, self.dst
                )
            })?;
        if sent {
            self.report.blobs_copied += 1;
            self.report.bytes_copied += desc.size;
        } else {
            self.report.blobs_present += 1;
        }
        Ok(())
    }

    /// The referrers of `roots`, level by level, and cosign's signature tag of each.
    async fn copy_referrers(&mut self, roots: Vec<Digest>, warn: Warn<'_>) {
        let mut level = roots;
        for _ in 0..MAX_REFERRER_DEPTH {
            let mut next = Vec::new();
            for subject in level {
                match self.copy_referrers_of(&subject, warn).await {
                    Ok(found) => next.extend(found),
                    Err(e) => warn(&format!(
                        "referrers of {subject} were not all copied: {e:#}"
                    )),
                }
                self.copy_signature_tag(&subject, warn).await;
            }
            if next.is_empty() {
                break;
            }
            level = next;
        }
    }

    /// Copy the referrers of `subject`; returns the digests copied.
    async fn copy_referrers_of(
        &mut self,
        subject: &Digest,
        warn: Warn<'_>,
    ) -> anyhow::Result<Vec<Digest>> {
        let Some(index) = self
            .from
            .referrers(&self.src, subject, None)
            .await
            .with_context(|| format!("failed to list the referrers of {subject}"))?
        else {
            return Ok(Vec::new());
        };
        let mut copied = Vec::new();
        let mut unindexed = Vec::new();
        for d in index.manifests {
            if self.done.contains(&d.digest) {
                continue;
            }
            let pulled = match self
                .from
                .pull_manifest(&at_digest(&self.src, &d.digest))
                .await
            {
                Ok(p) => p,
                Err(e) => {
                    warn(&format!("referrer {} of {subject} skipped: {e}", d.digest));
                    continue;
                }
            };
            // only what names this subject is carried as its referrer
            let names_subject = serde_json::from_slice::<serde_json::Value>(&pulled.bytes)
                .ok()
                .and_then(|v| v.pointer("/subject/digest")?.as_str().map(str::to_owned))
                .is_some_and(|s| s == subject.to_string());
            if !names_subject {
                warn(&format!(
                    "referrer {} of {subject} skipped: its manifest names another subject",
                    d.digest
                ));
                continue;
            }
            let indexed = match self
                .copy_manifest(
                    &d.digest,
                    &pulled.media_type,
                    pulled.bytes,
                    &Reference::Digest(d.digest.clone()),
                )
                .await
            {
                Ok(indexed) => indexed,
                Err(e) => {
                    warn(&format!(
                        "referrer {} of {subject} skipped: {e:#}",
                        d.digest
                    ));
                    continue;
                }
            };
            if !indexed {
                unindexed.push(d.clone());
            }
            self.report.referrers.push(CopiedReferrer {
                digest: d.digest.clone(),
                artifact_type: d.artifact_type.clone(),
                subject: subject.clone(),
            });
            copied.push(d.digest);
        }
        if !unindexed.is_empty() {
            self.update_referrers_tag(subject, unindexed).await?;
        }
        Ok(copied)
    }

    /// Add `descriptors` to the referrers tag schema's index of `subject` at the
    /// destination (created when missing).
    async fn update_referrers_tag(
        &mut self,
        subject: &Digest,
        descriptors: Vec<Descriptor>,
    ) -> anyhow::Result<()> {
        let tag = subject.referrers_tag();
        let target = at_tag(&self.dst, &tag)?;
        let mut index = match self.to.pull_manifest(&target).await {
            Ok(existing) => serde_json::from_slice::<ImageIndex>(&existing.bytes)
                .with_context(|| format!("{target} is not an image index"))?,
            Err(ClientError::Status { status: 404, .. }) => ImageIndex {
                schema_version: 2,
                media_type: Some(media_types::OCI_INDEX.to_owned()),
                artifact_type: None,
                manifests: Vec::new(),
                subject: None,
                annotations: None,
            },
            Err(e) => return Err(e).with_context(|| format!("failed to read {target}")),
        };
        for d in descriptors {
            if !index.manifests.iter().any(|m| m.digest == d.digest) {
                index.manifests.push(d);
            }
        }
        self.to
            .push_manifest(
                &self.dst,
                &Reference::Tag(tag.parse()?),
                media_types::OCI_INDEX,
                serde_json::to_vec(&index)?,
            )
            .await
            .with_context(|| format!("failed to write the referrers tag {target}"))?;
        Ok(())
    }

    /// Carry cosign's `sha256-<hex>.sig` tag of `subject` along, when the source has one.
    async fn copy_signature_tag(&mut self, subject: &Digest, warn: Warn<'_>) {
        let tag = wharf_sign::fallback_tag(subject);
        let Ok(source) = at_tag(&self.src, &tag) else {
            return;
        };
        let pulled = match self.from.pull_manifest(&source).await {
            Ok(p) => p,
            Err(ClientError::Status { status: 404, .. }) => return,
            Err(e) => {
                warn(&format!("signature tag {tag} skipped: {e}"));
                return;
            }
        };
        if self.done.contains(&pulled.digest) {
            return;
        }
        let digest = pulled.digest.clone();
        let Ok(reference) = tag.parse().map(Reference::Tag) else {
            return;
        };
        match self
            .copy_manifest(&digest, &pulled.media_type, pulled.bytes, &reference)
            .await
        {
            Ok(_) => self.report.signature_tags.push(tag),
            Err(e) => warn(&format!("signature tag {tag} skipped: {e:#}")),
        }
    }
}
