//! `wharf yank`: mark a version yanked. The mark is a referrer of the version's manifest
//! (artifact type `application/vnd.wharf.yank.v1+json`, the reason in an annotation), so
//! any OCI 1.1 registry keeps it and the referrers listing shows it. Version ranges skip
//! yanked versions; an exact pin still resolves, with a warning.

use std::collections::BTreeMap;
use std::process::ExitCode;

use anyhow::Context as _;
use wharf_client::{YANK_ARTIFACT_TYPE, YANK_REASON_ANNOTATION};
use wharf_oci::Descriptor;

use crate::config::GlobalArgs;
use crate::target::parse_remote;

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
    /// Print JSON: `{reference, manifest_digest, version, yanked, reason, mark_digest}`
    /// (`marks_removed` with `--undo`).
    #[arg(long)]
    json: bool,
}

impl Args {
    /// Run the subcommand.
    pub async fn run(self, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
        let settings = global.settings()?;
        let remote = parse_remote(&self.reference, &settings)?;
        let client = settings.client(Some(remote.registry()))?;
        let target = remote.resolve(&client).await?;
        let pulled = client
            .pull_manifest(&target)
            .await
            .with_context(|| format!("failed to resolve {target}"))?;
        if self.undo {
            // only the marks that yank this version (not another tag of the same manifest)
            let version = target.tag.as_ref().map(|t| t.as_str());
            let marks: Vec<_> = client
                .referrers(&target, &pulled.digest, Some(YANK_ARTIFACT_TYPE))
                .await?
                .map(|i| i.manifests)
                .unwrap_or_default()
                .into_iter()
                .filter(|m| {
                    m.artifact_type.as_deref() == Some(YANK_ARTIFACT_TYPE)
                        && wharf_oci::yank::applies(m.annotations.as_ref(), version)
                })
                .collect();
            for m in &marks {
                client
                    .delete_manifest(&target, &m.digest)
                    .await
                    .context("failed to remove the yank mark")?;
            }
            if self.json {
                return super::print_json(&serde_json::json!({
                    "reference": target.to_string(),
                    "manifest_digest": pulled.digest,
                    "version": version,
                    "yanked": false,
                    "marks_removed": marks.len(),
                }));
            }
            eprintln!(
                "{target} is no longer yanked ({} marks removed)",
                marks.len()
            );
            return Ok(ExitCode::SUCCESS);
        }
        let subject = Descriptor::new(
            &pulled.media_type,
            pulled.digest.clone(),
            pulled.bytes.len() as u64,
        );
        let Some(version) = target.tag.as_ref() else {
            anyhow::bail!(
                "`{}` names no version: yank a version (`…:1.2.3` or `ns:name@1.2.3`), not a digest",
                self.reference
            );
        };
        let annotations = BTreeMap::from([
            (YANK_REASON_ANNOTATION.to_owned(), self.reason.clone()),
            (
                wharf_oci::yank::VERSION_ANNOTATION.to_owned(),
                version.to_string(),
            ),
            (
                wharf_oci::ANNOTATION_CREATED.to_owned(),
                chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            ),
        ]);
        let digest = client
            .push_referrer(
                &target,
                subject,
                YANK_ARTIFACT_TYPE,
                Vec::new(),
                Some(annotations),
            )
            .await
            .context("failed to push the yank mark")?
            .digest;
        if self.json {
            return super::print_json(&serde_json::json!({
                "reference": target.to_string(),
                "manifest_digest": pulled.digest,
                "version": version.to_string(),
                "yanked": true,
                "reason": self.reason,
                "mark_digest": digest,
            }));
        }
        eprintln!("yanked {target} ({}): {}", pulled.digest, self.reason);
        outln!("{digest}");
        Ok(ExitCode::SUCCESS)
    }
}
