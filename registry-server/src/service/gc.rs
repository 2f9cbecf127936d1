//! Garbage collection, online: what no tag, manifest or open upload needs goes after a
//! grace period. Safe during pushes: a blob link is refreshed when committed and when a
//! client checks it with HEAD, a manifest push re-checks its blobs inside its transaction,
//! and an upload whose blob vanished at commit fails instead of linking a missing file.

use std::time::{Duration, SystemTime};

use wharf_oci::Digest;

use super::{Registry, ServiceError};
use crate::storage::UploadId;
use crate::store::{GcPolicy, GcReport};

/// How garbage collection decides.
#[derive(Clone, Debug)]
pub struct GcSettings {
    /// Unreferenced content unused for this long goes.
    pub grace: Duration,
    /// Upload sessions idle for this long expire.
    pub upload_expiry: Duration,
    /// Also remove manifests that no tag, index or present subject keeps.
    pub untagged: bool,
}

impl Default for GcSettings {
    fn default() -> Self {
        GcSettings {
            grace: Duration::from_secs(3600),
            upload_expiry: Duration::from_secs(24 * 3600),
            untagged: false,
        }
    }
}

/// What one pass removed (or would remove, in a dry run).
#[derive(Debug, Default, serde::Serialize)]
pub struct GcOutcome {
    /// Metadata removed: manifests, blob links, blobs, upload sessions.
    #[serde(flatten)]
    pub report: GcReport,
    /// Blob files without metadata (left by a crash), older than the grace period.
    pub orphan_blob_files: Vec<Digest>,
    /// Upload files without a session (left by a crash), older than the grace period.
    pub orphan_upload_files: Vec<UploadId>,
}

impl Registry {
    /// One garbage-collection pass; with `dry_run` nothing is removed.
    #[tracing::instrument(skip(self), err)]
    pub async fn collect_garbage(
        &self,
        settings: &GcSettings,
        dry_run: bool,
    ) -> Result<GcOutcome, ServiceError> {
        let now = SystemTime::now();
        let grace_cutoff = now
            .checked_sub(settings.grace)
            .unwrap_or(SystemTime::UNIX_EPOCH);
        let policy = GcPolicy {
            grace_before: grace_cutoff.into(),
            uploads_before: now
                .checked_sub(settings.upload_expiry)
                .unwrap_or(SystemTime::UNIX_EPOCH)
                .into(),
            untagged: settings.untagged,
        };
        let report = self.store.collect_garbage(&policy, dry_run).await?;
        if !dry_run && !report.manifests.is_empty() {
            self.changed(crate::store::ManifestChange::All);
        }
        if !dry_run {
            for digest in &report.blobs {
                self.blobs.delete(digest).await?;
            }
            for upload in &report.uploads {
                self.blobs
                    .delete_upload(&upload.id, upload.storage_state.as_deref())
                    .await?;
            }
        }
        // files a crash left without metadata, once they are older than the grace period
        let old_blobs: Vec<Digest> = self
            .blobs
            .list()
            .await?
            .into_iter()
            .filter(|(_, t)| *t < grace_cutoff)
            .map(|(d, _)| d)
            .collect();
        let old_uploads: Vec<UploadId> = self
            .blobs
            .list_uploads()
            .await?
            .into_iter()
            .filter(|(_, t)| *t < grace_cutoff)
            .map(|(id, _)| id)
            .collect();
        let (blob_known, upload_known) = self.store.known(&old_blobs, &old_uploads).await?;
        let mut outcome = GcOutcome {
            report,
            ..Default::default()
        };
        for (digest, known) in old_blobs.into_iter().zip(blob_known) {
            if !known && !outcome.report.blobs.contains(&digest) {
                if !dry_run {
                    self.blobs.delete(&digest).await?;
                }
                outcome.orphan_blob_files.push(digest);
            }
        }
        for (id, known) in old_uploads.into_iter().zip(upload_known) {
            if !known && !outcome.report.uploads.iter().any(|u| u.id == id) {
                if !dry_run {
                    self.blobs.delete_upload(&id, None).await?;
                }
                outcome.orphan_upload_files.push(id);
            }
        }
        tracing::info!(
            dry_run,
            manifests = outcome.report.manifests.len(),
            links = outcome.report.links.len(),
            blobs = outcome.report.blobs.len(),
            uploads = outcome.report.uploads.len(),
            orphans = outcome.orphan_blob_files.len() + outcome.orphan_upload_files.len(),
            "garbage collection pass"
        );
        Ok(outcome)
    }
}
