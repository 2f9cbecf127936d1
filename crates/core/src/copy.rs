//! Copy an artifact between repositories, registries and OCI image layout directories with
//! what refers to it (`wharf copy`), as `oras cp -r` and `skopeo copy` do: every manifest
//! byte for byte (so digests and signatures stay valid), image indexes with their
//! manifests, blobs streamed from one registry into the other (mounted within one
//! registry), and the referrers of each copied manifest (signatures, SBOMs, yank marks,
//! attestations, and theirs in turn).
//!
//! Referrers are found through the referrers API, else the referrers tag schema, and
//! cosign's `sha256-<hex>.sig` tag is carried along when the source has one. Where the
//! destination does not index a referrer (no referrers API: its answer carries no
//! `OCI-Subject`), the referrers tag schema's index there is updated, so clients find it.
//! Either end may be an OCI image layout ([`Endpoint::Layout`], `layout.rs`): its
//! referrers are the manifests `index.json` lists whose subject names them.

use std::collections::BTreeSet;

use anyhow::{Context as _, bail};
use serde::Serialize;
use wharf_client::{Client, ClientError};
use wharf_oci::{
    Descriptor, Digest, ImageIndex, ImageManifest, ImageReference, Reference, media_types,
};

use crate::Warn;
use crate::layout::{LayoutManifest, OciLayout};

/// One end of a copy: a repository of a registry (with the client for it), or an OCI
/// image layout directory.
#[derive(Clone, Copy)]
pub enum Endpoint<'a> {
    /// `reference` (its tag or digest names the artifact, at the source) in a registry.
    Registry {
        /// The client for that registry.
        client: &'a Client,
        /// Repository, and tag or digest.
        reference: &'a ImageReference,
    },
    /// An OCI image layout, and the tag in its `index.json`.
    Layout {
        /// The layout.
        layout: &'a OciLayout,
        /// The tag (at the source: which entry; at the destination: the name to give).
        tag: Option<&'a str>,
    },
}

impl Endpoint<'_> {
    /// `host/repository` or `oci:DIR`.
    fn place(&self) -> String {
        match self {
            Endpoint::Registry { reference: r, .. } => format!("{}/{}", r.registry, r.repository),
            Endpoint::Layout { layout, .. } => format!("oci:{}", layout.root().display()),
        }
    }

    /// The tag this end names, if any.
    pub fn tag(&self) -> Option<String> {
        match self {
            Endpoint::Registry { reference: r, .. } => r.tag.as_ref().map(ToString::to_string),
            Endpoint::Layout { tag, .. } => tag.map(str::to_owned),
        }
    }
}

impl std::fmt::Display for Endpoint<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Endpoint::Registry { reference, .. } => write!(f, "{reference}"),
            Endpoint::Layout { layout, tag } => {
                write!(f, "oci:{}", layout.root().display())?;
                match tag {
                    Some(t) => write!(f, ":{t}"),
                    None => Ok(()),
                }
            }
        }
    }
}

/// A manifest read from either kind of end.
struct Read {
    digest: Digest,
    media_type: String,
    bytes: Vec<u8>,
}

impl From<wharf_client::PulledManifest> for Read {
    fn from(p: wharf_client::PulledManifest) -> Self {
        Read {
            digest: p.digest,
            media_type: p.media_type,
            bytes: p.bytes,
        }
    }
}

impl From<LayoutManifest> for Read {
    fn from(m: LayoutManifest) -> Self {
        Read {
            digest: m.digest,
            media_type: m.media_type,
            bytes: m.bytes,
        }
    }
}

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
    src: Endpoint<'a>,
    dst: Endpoint<'a>,
    /// The manifest being written is the artifact or a referrer, which a layout lists in
    /// `index.json` (an index's children are reachable from it, and are not listed).
    list_in_layout: bool,
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
/// digest must name the one copied. [`copy_between`] with two registries.
///
/// # Errors
/// As [`copy_between`].
pub async fn copy(
    from: &Client,
    src: &ImageReference,
    to: &Client,
    dst: &ImageReference,
    options: &CopyOptions,
    warn: Warn<'_>,
) -> anyhow::Result<CopyReport> {
    copy_between(
        Endpoint::Registry {
            client: from,
            reference: src,
        },
        Endpoint::Registry {
            client: to,
            reference: dst,
        },
        options,
        warn,
    )
    .await
}

/// Copy what `src` names (a registry's tag or digest; a layout's tag, or its only entry)
/// to `dst`, tagged with `dst`'s tag, else `src`'s tag, else by digest only. A registry
/// `dst` that names a digest must name the one copied.
///
/// # Errors
/// The source manifest cannot be read or verified; a blob's bytes are not what its
/// descriptor says (nothing is committed for it); the destination refuses a blob or a
/// manifest (its error, with the manifest named); more than [`MAX_MANIFESTS`] manifests.
/// A referrer that cannot be copied is reported through `warn`, not fatal.
pub async fn copy_between(
    src: Endpoint<'_>,
    dst: Endpoint<'_>,
    options: &CopyOptions,
    warn: Warn<'_>,
) -> anyhow::Result<CopyReport> {
    let mut src_tag = src.tag();
    let top: Read = match src {
        Endpoint::Registry { client, reference } => {
            let top = client
                .pull_manifest(reference)
                .await
                .with_context(|| format!("failed to read the manifest of {reference}"))?;
            if let Some(d) = &reference.digest
                && d != &top.digest
            {
                bail!("{reference} answered with manifest {}", top.digest);
            }
            top.into()
        }
        Endpoint::Layout { layout, tag } => {
            let desc = layout.resolve(tag)?;
            // a layout's only entry brings its tag along
            src_tag = crate::layout::tag_of(&desc).map(str::to_owned);
            layout
                .read_manifest(&desc.digest, Some(&desc.media_type))?
                .into()
        }
    };
    if let Endpoint::Registry { reference, .. } = dst
        && let Some(want) = &reference.digest
        && want != &top.digest
    {
        bail!(
            "the destination {dst} names digest {want}, but {src} is {}: a copy keeps the digest",
            top.digest
        );
    }
    let tag = dst.tag().or(src_tag);
    let mut c = Copier {
        src,
        dst,
        list_in_layout: true,
        report: CopyReport {
            source: format!("{}@{}", src.place(), top.digest),
            destination: format!("{}@{}", dst.place(), top.digest),
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
        Some(t) => Reference::Tag(
            t.parse()
                .with_context(|| format!("`{t}` is not a valid tag"))?,
        ),
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
                    .read_manifest(&child.digest, Some(&child.media_type))
                    .await
                    .with_context(|| {
                        format!("failed to read manifest {} of index {digest}", child.digest)
                    })?;
                let listed = std::mem::replace(&mut self.list_in_layout, false);
                let copied = Box::pin(self.copy_manifest(
                    &child.digest,
                    &pulled.media_type,
                    pulled.bytes,
                    &Reference::Digest(child.digest.clone()),
                ))
                .await;
                self.list_in_layout = listed;
                copied?;
            }
        } else {
            let manifest = ImageManifest::from_slice(&bytes)
                .with_context(|| format!("manifest {digest} of {} is not valid", self.src))?;
            let blobs = std::iter::once(&manifest.config).chain(manifest.layers.iter());
            for blob in blobs {
                self.copy_blob(blob).await?;
            }
        }
        let indexed = match self.dst {
            Endpoint::Registry {
                client,
                reference: dst,
            } => {
                let (pushed, subject) = client
                    .put_manifest(dst, reference, media_type, bytes)
                    .await
                    .with_context(|| format!("failed to write manifest {digest} to {dst}"))?;
                if &pushed != digest {
                    bail!("{dst} stored manifest {digest} as {pushed}");
                }
                subject.is_some()
            }
            Endpoint::Layout { layout, .. } => {
                let size = bytes.len() as u64;
                layout.write_blob(digest, &bytes)?;
                let mut desc = Descriptor::new(media_type, digest.clone(), size);
                desc.artifact_type = serde_json::from_slice::<serde_json::Value>(&bytes)
                    .ok()
                    .and_then(|v| v["artifactType"].as_str().map(str::to_owned));
                // the artifact (tagged) and every referrer are listed in index.json; an
                // index's children are reachable from it
                let tag = match reference {
                    Reference::Tag(t) => Some(t.to_string()),
                    Reference::Digest(_) => None,
                };
                if tag.is_some() || self.list_in_layout {
                    layout.add_manifest(desc, tag.as_deref())?;
                }
                true
            }
        };
        self.done.insert(digest.clone());
        self.report.manifests += 1;
        Ok(indexed)
    }

    /// Manifest `digest` of the source, checked against it.
    async fn read_manifest(
        &self,
        digest: &Digest,
        media_type: Option<&str>,
    ) -> anyhow::Result<Read> {
        match self.src {
            Endpoint::Registry { client, reference } => Ok(client
                .pull_manifest(&at_digest(reference, digest))
                .await?
                .into()),
            Endpoint::Layout { layout, .. } => Ok(layout.read_manifest(digest, media_type)?.into()),
        }
    }

    async fn copy_blob(&mut self, desc: &Descriptor) -> anyhow::Result<()> {
        let sent = self.transfer_blob(desc).await.with_context(|| {
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

    /// Blob `desc` into the destination unless it is there; true when bytes were sent.
    async fn transfer_blob(&self, desc: &Descriptor) -> anyhow::Result<bool> {
        match (self.src, self.dst) {
            (
                Endpoint::Registry {
                    client: from,
                    reference: src,
                },
                Endpoint::Registry {
                    client: to,
                    reference: dst,
                },
            ) => Ok(to.copy_blob_from(from, src, dst, desc).await?),
            (Endpoint::Registry { client, reference }, Endpoint::Layout { layout, .. }) => {
                if layout.has_blob(desc) {
                    return Ok(false);
                }
                layout.prepare_blob_dir(&desc.digest)?;
                client
                    .pull_blob_to_file(reference, desc, &layout.blob_path(&desc.digest), |_| {})
                    .await?;
                Ok(true)
            }
            (Endpoint::Layout { layout, .. }, Endpoint::Registry { client, reference }) => {
                if client.blob_size(reference, &desc.digest).await?.is_some() {
                    return Ok(false);
                }
                // a layout came over an air gap: its bytes are checked before they leave
                let path = layout.verify_blob(desc)?;
                client
                    .push_blob_file(reference, &path, &desc.digest, desc.size, |_| {})
                    .await?;
                Ok(true)
            }
            (Endpoint::Layout { layout: from, .. }, Endpoint::Layout { layout: to, .. }) => {
                if to.has_blob(desc) {
                    return Ok(false);
                }
                to.copy_blob_from(from, desc)?;
                Ok(true)
            }
        }
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
        let listed = match self.src {
            Endpoint::Registry { client, reference } => client
                .referrers(reference, subject, None)
                .await
                .with_context(|| format!("failed to list the referrers of {subject}"))?
                .map(|i| i.manifests)
                .unwrap_or_default(),
            Endpoint::Layout { layout, .. } => layout
                .referrers(subject)
                .with_context(|| format!("failed to list the referrers of {subject}"))?,
        };
        let mut copied = Vec::new();
        let mut unindexed = Vec::new();
        for d in listed {
            if self.done.contains(&d.digest) {
                continue;
            }
            let pulled = match self.read_manifest(&d.digest, Some(&d.media_type)).await {
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
            let indexed = self
                .copy_manifest(
                    &d.digest,
                    &pulled.media_type,
                    pulled.bytes,
                    &Reference::Digest(d.digest.clone()),
                )
                .await;
            let indexed = match indexed {
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
        let Endpoint::Registry {
            client: to,
            reference: dst,
        } = self.dst
        else {
            return Ok(());
        };
        to.add_to_referrers_tag(dst, subject, descriptors)
            .await
            .with_context(|| {
                format!(
                    "failed to write the referrers tag {} of {dst}",
                    subject.referrers_tag()
                )
            })
    }

    /// Carry cosign's `sha256-<hex>.sig` tag of `subject` along, when the source has one.
    async fn copy_signature_tag(&mut self, subject: &Digest, warn: Warn<'_>) {
        let tag = wharf_sign::fallback_tag(subject);
        let pulled: Read = match self.src {
            Endpoint::Registry { client, reference } => {
                let Ok(source) = at_tag(reference, &tag) else {
                    return;
                };
                match client.pull_manifest(&source).await {
                    Ok(p) => p.into(),
                    Err(ClientError::Status { status: 404, .. }) => return,
                    Err(e) => {
                        warn(&format!("signature tag {tag} skipped: {e}"));
                        return;
                    }
                }
            }
            Endpoint::Layout { layout, .. } => {
                let found = layout.tagged(&tag).and_then(|d| match d {
                    Some(d) => layout
                        .read_manifest(&d.digest, Some(&d.media_type))
                        .map(Some),
                    None => Ok(None),
                });
                match found {
                    Ok(Some(m)) => m.into(),
                    Ok(None) => return,
                    Err(e) => {
                        warn(&format!("signature tag {tag} skipped: {e:#}"));
                        return;
                    }
                }
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
