//! `wharf yank`: mark a version yanked. The mark is a referrer of the version's manifest
//! (artifact type `application/vnd.wharf.yank.v1+json`, the reason in an annotation), so
//! any OCI 1.1 registry keeps it and the referrers listing shows it. Version ranges skip
//! yanked versions; an exact pin still resolves, with a warning.

use std::collections::BTreeMap;
use std::process::ExitCode;

use anyhow::Context as _;
use wharf_client::{YANK_ARTIFACT_TYPE, YANK_REASON_ANNOTATION};
use wharf_oci::{Descriptor, Digest, ImageManifest, Reference, media_types};

use crate::config::GlobalArgs;
use crate::target::Remote;

/// `wharf yank`
#[derive(clap::Args)]
#[command(after_help = "\
Examples:
  wharf yank demo:app@1.2.3 --registry localhost:5000 --reason \"CVE-2026-1234\"
  wharf yank localhost:5000/demo/app:1.2.3 --undo")]
pub struct Args {
    /// The version: `ns:name@version` or a reference.
    reference: String,
    /// Why (shown to whoever pins it).
    #[arg(long, default_value = "no reason given")]
    reason: String,
    /// Remove the yank mark instead.
    #[arg(long)]
    undo: bool,
}

impl Args {
    /// Run the subcommand.
    pub async fn run(self, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
        let settings = global.settings()?;
        let remote = Remote::parse(&self.reference, &settings)?;
        let client = settings.client(Some(remote.registry()))?;
        let target = remote.resolve_pinned(&client).await?;
        let pulled = client
            .pull_manifest(&target)
            .await
            .with_context(|| format!("failed to resolve {target}"))?;
        if self.undo {
            let marks = client
                .referrers(&target, &pulled.digest, Some(YANK_ARTIFACT_TYPE))
                .await?
                .map(|i| i.manifests)
                .unwrap_or_default();
            for m in &marks {
                client
                    .delete_manifest(&target, &m.digest)
                    .await
                    .context("failed to remove the yank mark")?;
            }
            eprintln!(
                "{target} is no longer yanked ({} marks removed)",
                marks.len()
            );
            return Ok(ExitCode::SUCCESS);
        }
        let empty = Descriptor::of(media_types::OCI_EMPTY, b"{}");
        client
            .push_blob_bytes(&target, b"{}".to_vec())
            .await
            .context("failed to push the empty blob")?;
        let mark = ImageManifest {
            schema_version: 2,
            media_type: Some(media_types::OCI_MANIFEST.to_owned()),
            artifact_type: Some(YANK_ARTIFACT_TYPE.to_owned()),
            config: empty.clone(),
            layers: vec![empty],
            subject: Some(Descriptor::new(
                &pulled.media_type,
                pulled.digest.clone(),
                pulled.bytes.len() as u64,
            )),
            annotations: Some(BTreeMap::from([
                (YANK_REASON_ANNOTATION.to_owned(), self.reason.clone()),
                (
                    "org.opencontainers.image.created".to_owned(),
                    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                ),
            ])),
        };
        let bytes = serde_json::to_vec(&mark)?;
        let digest = Digest::sha256_of(&bytes);
        client
            .push_manifest(
                &target,
                &Reference::Digest(digest.clone()),
                media_types::OCI_MANIFEST,
                bytes,
            )
            .await
            .context("failed to push the yank mark")?;
        eprintln!("yanked {target} ({}): {}", pulled.digest, self.reason);
        outln!("{digest}");
        Ok(ExitCode::SUCCESS)
    }
}
