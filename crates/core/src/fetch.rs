//! The one verified fetch of a package: resolve the reference once, pull the manifest
//! once, check the trust policy on its digest, and only then get the wasm layer by that
//! digest, into the blob cache or a file, every digest verified. `wharf pull`, `wharf run`
//! and embedders of `wharf-runtime` use it.

use std::path::Path;

use anyhow::{Context as _, bail};
use wharf_client::{Client, PulledManifest};
use wharf_oci::{Descriptor, ImageManifest, ImageReference, WasmArtifact, media_types};

use crate::Warn;
use crate::cache::{BlobCache, FetchedPackage, fetch_pulled};
use crate::remote::Remote;
use crate::signatures::VerifyReport;
use crate::trust::{TrustPolicy, Verification};

/// A package whose manifest was pulled and whose signatures passed the trust policy; no
/// byte of its layer has been fetched yet.
#[derive(Debug)]
pub struct CheckedPackage {
    /// The reference, pinned to the manifest digest it resolved to.
    pub reference: ImageReference,
    /// The manifest as pulled (checked against its digest).
    pub manifest: PulledManifest,
    /// The wasm layer it names.
    pub layer: Descriptor,
    /// The signature check, when the policy required one.
    pub verified: Option<VerifyReport>,
}

/// A package fetched through [`fetch_verified`].
#[derive(Debug)]
pub struct VerifiedPackage {
    /// The reference, pinned to the manifest digest it resolved to.
    pub reference: ImageReference,
    /// The package (manifest and wasm, digests verified).
    pub package: FetchedPackage,
    /// The signature check, when the policy required one.
    pub verified: Option<VerifyReport>,
}

/// Resolve `remote` once, pull its manifest once, check it is a Wasm package, and enforce
/// `policy` (as `mode` says) on that manifest's digest. A yanked exact pin and skipped
/// signatures are reported through `warn`.
///
/// # Errors
/// Resolution and transport errors; an image index or a manifest without exactly one wasm
/// layer; a package the policy requires signatures for that no trusted key signed.
pub async fn check_package(
    client: &Client,
    remote: &Remote,
    policy: &TrustPolicy,
    mode: Verification,
    warn: Warn<'_>,
) -> anyhow::Result<CheckedPackage> {
    let target = remote.resolve(client).await?;
    let manifest = client
        .pull_manifest(&target)
        .await
        .with_context(|| format!("failed to pull {target}"))?;
    if manifest.media_type == media_types::OCI_INDEX
        || manifest.media_type == media_types::DOCKER_MANIFEST_LIST
    {
        bail!(
            "{target} is an image index ({}), not a Wasm package",
            manifest.media_type
        );
    }
    let parsed = ImageManifest::from_slice(&manifest.bytes)
        .with_context(|| format!("{target} has an invalid manifest"))?;
    let layer = WasmArtifact::read(&parsed)
        .and_then(|a| a.layer().cloned())
        .with_context(|| format!("{target} is not a Wasm package"))?;
    if remote.is_pinned()
        && let Ok(Some(reason)) = client.yanked_digest(&target, &manifest.digest).await
    {
        warn(&format!("{target} is yanked: {reason}"));
    }
    let pinned = target.with_digest(manifest.digest.clone());
    let verified = policy
        .enforce(client, &pinned, &manifest.digest, mode, warn)
        .await?;
    policy
        .enforce_log(client, &target, &manifest.digest)
        .await?;
    Ok(CheckedPackage {
        reference: pinned,
        manifest,
        layer,
        verified,
    })
}

impl CheckedPackage {
    /// Get the wasm layer through `cache` (pulled by digest when missing).
    pub async fn fetch(
        self,
        client: &Client,
        cache: &BlobCache,
    ) -> anyhow::Result<VerifiedPackage> {
        let package = fetch_pulled(client, cache, &self.reference, self.manifest)
            .await
            .with_context(|| format!("failed to fetch {}", self.reference))?;
        Ok(VerifiedPackage {
            reference: self.reference,
            package,
            verified: self.verified,
        })
    }

    /// Stream the wasm layer into `dest` (written beside it and renamed only once size and
    /// digest match); `progress` gets the bytes received so far.
    pub async fn download(
        &self,
        client: &Client,
        dest: &Path,
        progress: impl Fn(u64),
    ) -> anyhow::Result<()> {
        client
            .pull_blob_to_file(&self.reference, &self.layer, dest, progress)
            .await
            .with_context(|| format!("failed to pull the wasm layer of {}", self.reference))
    }
}

/// [`check_package`], then the wasm layer through `cache`: nothing of a package that
/// fails verification is downloaded or cached, and a tag moved in between cannot swap the
/// content.
pub async fn fetch_verified(
    client: &Client,
    remote: &Remote,
    policy: &TrustPolicy,
    mode: Verification,
    cache: &BlobCache,
    warn: Warn<'_>,
) -> anyhow::Result<VerifiedPackage> {
    check_package(client, remote, policy, mode, warn)
        .await?
        .fetch(client, cache)
        .await
}
