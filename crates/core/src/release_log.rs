//! Checking a registry's release log (`wharf_sign::log`) from the client side: `wharf log
//! verify` audits it whole, and `--require-log` checks that the version fetched is what the
//! log last recorded for it.
//!
//! Every check reads the whole log and recomputes its tree: the entries must hash to the
//! root the signed checkpoint names (so each entry is included in the signed tree), the tree
//! this client saw before must be a prefix of it with the same root (consistency: history
//! was not rewritten), and, for an audit, every hash tile the registry serves must be the
//! one recomputed. The log's verifier key comes from the discovery document the first time
//! and is pinned then (trust on first use, in the state directory with the last checkpoint
//! seen); a registry that later announces another key is refused.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use wharf_client::Client;
use wharf_sign::log::{Action, LogEntry, Replay, TILE_HEIGHT, TILE_WIDTH, TilePath};

/// Largest checkpoint read (bytes).
const MAX_CHECKPOINT_BYTES: usize = 16 * 1024;
/// Largest tile read: a full entry bundle of the largest entries.
const MAX_TILE_BYTES: usize = (TILE_WIDTH as usize) * (2 + wharf_sign::log::MAX_ENTRY_BYTES);

/// Where a registry serves its log and how its checkpoints verify (the discovery
/// document's `wharf.log`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogInfo {
    /// The path the log is served under, such as `/log/v1`.
    pub path: String,
    /// The log's origin.
    pub origin: String,
    /// The C2SP signed-note verifier key of its checkpoints.
    pub verifier: String,
}

/// What this client last saw of a registry's log.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Seen {
    origin: String,
    verifier: String,
    size: u64,
    /// Base64 of the root hash.
    root: String,
}

/// The outcome of reading and checking a whole log.
#[derive(Clone, Debug, Serialize)]
pub struct LogReport {
    /// The registry.
    pub registry: String,
    /// The log's origin.
    pub origin: String,
    /// Entries in the signed tree.
    pub size: u64,
    /// Its root hash, base64.
    pub root: String,
    /// The size this client saw before (consistency checked from it), if any.
    pub previous_size: Option<u64>,
    /// Hash tiles compared with the recomputed tree (audits only).
    pub tiles_checked: u64,
    /// Entries by action.
    pub publications: u64,
    /// Tag moves.
    pub moves: u64,
    /// Tag deletions.
    pub deletions: u64,
    /// Yanks.
    pub yanks: u64,
}

/// The default directory of what clients saw of logs:
/// `$XDG_STATE_HOME/wharf/logs` (`~/.local/state/wharf/logs`).
pub fn default_state_dir() -> PathBuf {
    dirs::state_dir()
        .or_else(|| dirs::home_dir().map(|h| h.join(".local/state")))
        .unwrap_or_else(std::env::temp_dir)
        .join("wharf")
        .join("logs")
}

/// The registry's log, as its discovery document announces it.
pub async fn log_info(client: &Client, registry: &str) -> anyhow::Result<LogInfo> {
    let doc = client
        .registry_document(registry)
        .await
        .with_context(|| format!("failed to read {registry}'s discovery document"))?;
    let log = doc
        .get("wharf")
        .and_then(|w| w.get("log"))
        .with_context(|| format!("{registry} announces no release log"))?;
    let info: LogInfo = serde_json::from_value(log.clone())
        .with_context(|| format!("{registry}'s release log announcement"))?;
    if !info.path.starts_with('/') || info.path.contains("..") || info.path.contains("//") {
        bail!(
            "{registry} announces its release log at `{}`, not a path on itself",
            info.path
        );
    }
    Ok(info)
}

/// The file in `state_dir` where the key and last checkpoint of `registry`'s log are kept.
pub fn state_file(state_dir: &Path, registry: &str) -> PathBuf {
    let name: String = registry
        .chars()
        .map(|c| match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' | '.' | '-' => c,
            _ => '_',
        })
        .collect();
    state_dir.join(format!("{name}.json"))
}

/// Read and check `registry`'s whole log (see the module documentation), remember its
/// checkpoint in `state_dir`, and return the report and the entries. With `audit`, every
/// hash tile is compared too.
///
/// # Errors
/// Naming what failed: no log announced, a changed key, a bad signature, entries that do
/// not hash to the checkpoint, a log that shrank or was rewritten, a tile that differs.
pub async fn read_log(
    client: &Client,
    registry: &str,
    state_dir: &Path,
    audit: bool,
) -> anyhow::Result<(LogReport, Vec<LogEntry>)> {
    let info = log_info(client, registry).await?;
    let state_path = state_file(state_dir, registry);
    let seen: Option<Seen> = match std::fs::read(&state_path) {
        Ok(bytes) => Some(serde_json::from_slice(&bytes).with_context(|| {
            format!("`{}` is not a saved log checkpoint", state_path.display())
        })?),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => {
            return Err(e).with_context(|| format!("failed to read `{}`", state_path.display()));
        }
    };
    if let Some(seen) = &seen
        && seen.verifier != info.verifier
    {
        bail!(
            "{registry}'s release log key changed: this client pinned `{}`, the registry now announces `{}`; if the registry's operator rotated it on purpose, remove `{}`",
            seen.verifier,
            info.verifier,
            state_path.display()
        );
    }
    let prefix = info.path.as_str();
    let get = |path: String, limit: usize| async move {
        client
            .log_file(registry, &format!("{prefix}/{path}"), limit)
            .await
            .with_context(|| format!("failed to read {registry}'s release log ({path})"))?
            .with_context(|| format!("{registry}'s release log has no {path}"))
    };
    let note = get("checkpoint".into(), MAX_CHECKPOINT_BYTES).await?;
    let tree = wharf_sign::log::verify_checkpoint(&note, &info.verifier)
        .with_context(|| format!("{registry}'s release log checkpoint"))?;
    if tree.origin != info.origin {
        bail!(
            "{registry}'s checkpoint is for log `{}`, not the announced `{}`",
            tree.origin,
            info.origin
        );
    }
    if let Some(seen) = &seen
        && tree.size < seen.size
    {
        bail!(
            "{registry}'s release log shrank: this client saw {} entries, the checkpoint now signs {}",
            seen.size,
            tree.size
        );
    }
    // every entry, bundle by bundle
    let mut replay = Replay::new();
    let mut entries = Vec::new();
    let mut index = 0;
    while replay.size() < tree.size {
        let width = (tree.size - replay.size()).min(TILE_WIDTH);
        let path = TilePath::Entries { index, width }.path();
        let bundle = get(path.clone(), MAX_TILE_BYTES).await?;
        let got = wharf_sign::log::parse_entry_bundle(&bundle)
            .with_context(|| format!("{registry}'s {path}"))?;
        if got.len() as u64 != width {
            bail!(
                "{registry}'s {path} holds {} entries, not {width}",
                got.len()
            );
        }
        for (i, bytes) in got.iter().enumerate() {
            let n = replay.size();
            replay.push(bytes)?;
            entries.push(
                LogEntry::parse(bytes).with_context(|| {
                    format!("{registry}'s release log entry {n} (#{i} of {path})")
                })?,
            );
        }
        index += 1;
    }
    let root = replay.root(tree.size)?;
    if root != tree.root {
        bail!(
            "{registry}'s release log entries do not hash to its signed checkpoint ({} entries: {} computed, {} signed)",
            tree.size,
            STANDARD.encode(root),
            STANDARD.encode(tree.root)
        );
    }
    if let Some(seen) = &seen {
        let before = replay.root(seen.size)?;
        if STANDARD.encode(before) != seen.root {
            bail!(
                "{registry}'s release log was rewritten: the tree of its first {} entries had root {} when this client last read it, and has {} now",
                seen.size,
                seen.root,
                STANDARD.encode(before)
            );
        }
    }
    let mut tiles_checked = 0;
    if audit {
        for level in 0..=7u8 {
            let count = tree.size >> (u32::from(level) * u32::from(TILE_HEIGHT));
            if count == 0 {
                break;
            }
            for index in 0..count.div_ceil(TILE_WIDTH) {
                let width = (count - index * TILE_WIDTH).min(TILE_WIDTH);
                let path = TilePath::Hashes {
                    level,
                    index,
                    width,
                }
                .path();
                let served = get(path.clone(), MAX_TILE_BYTES).await?;
                if served != replay.tile(level, index, width)? {
                    bail!("{registry}'s {path} is not the tile its entries make");
                }
                tiles_checked += 1;
            }
        }
    }
    std::fs::create_dir_all(state_dir)
        .with_context(|| format!("failed to create `{}`", state_dir.display()))?;
    let saved = Seen {
        origin: tree.origin.clone(),
        verifier: info.verifier.clone(),
        size: tree.size,
        root: STANDARD.encode(root),
    };
    let tmp = state_path.with_extension("json.tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(&saved)?)
        .with_context(|| format!("failed to write `{}`", tmp.display()))?;
    std::fs::rename(&tmp, &state_path)
        .with_context(|| format!("failed to write `{}`", state_path.display()))?;
    let count = |a: Action| entries.iter().filter(|e| e.action == a).count() as u64;
    let report = LogReport {
        registry: registry.to_owned(),
        origin: tree.origin,
        size: tree.size,
        root: STANDARD.encode(root),
        previous_size: seen.map(|s| s.size),
        tiles_checked,
        publications: count(Action::Publish),
        moves: count(Action::Move),
        deletions: count(Action::Delete),
        yanks: count(Action::Yank),
    };
    Ok((report, entries))
}

/// Require that the log's last record of `repository`'s `tag` points at `digest` (with no
/// tag: that the log records `digest` published in `repository` at all).
///
/// # Errors
/// Naming the log's record when it disagrees with what the registry served.
pub fn require_recorded(
    entries: &[LogEntry],
    repository: &str,
    tag: Option<&str>,
    digest: &str,
) -> anyhow::Result<()> {
    let published = |e: &LogEntry| matches!(e.action, Action::Publish | Action::Move);
    match tag {
        Some(tag) => {
            let last = entries.iter().enumerate().rev().find(|(_, e)| {
                e.repository == repository
                    && e.tag == tag
                    && matches!(e.action, Action::Publish | Action::Move | Action::Delete)
            });
            match last {
                None => bail!("the release log records no publication of {repository}:{tag}"),
                Some((n, e)) if e.action == Action::Delete => bail!(
                    "the release log records {repository}:{tag} deleted (entry {n}), yet the registry serves {digest}"
                ),
                Some((_, e)) if e.digest == digest => Ok(()),
                Some((n, e)) => bail!(
                    "the release log records {repository}:{tag} as {} (entry {n}), but the registry served {digest}",
                    e.digest
                ),
            }
        }
        None => match entries
            .iter()
            .any(|e| e.repository == repository && e.digest == digest && published(e))
        {
            true => Ok(()),
            false => bail!("the release log records no publication of {repository}@{digest}"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(action: Action, tag: &str, digest: &str) -> LogEntry {
        LogEntry {
            action,
            repository: "demo/app".into(),
            tag: tag.into(),
            digest: digest.into(),
            previous: None,
            time: "2026-12-04T00:00:00Z".into(),
        }
    }

    #[test]
    fn the_last_record_of_a_tag_decides() {
        let log = [
            e(Action::Publish, "1.0.0", "sha256:a"),
            e(Action::Publish, "latest", "sha256:a"),
            e(Action::Move, "latest", "sha256:b"),
            e(Action::Yank, "1.0.0", "sha256:a"),
            e(Action::Delete, "old", "sha256:c"),
        ];
        require_recorded(&log, "demo/app", Some("1.0.0"), "sha256:a").unwrap();
        require_recorded(&log, "demo/app", Some("latest"), "sha256:b").unwrap();
        let moved = require_recorded(&log, "demo/app", Some("latest"), "sha256:a").unwrap_err();
        assert!(
            moved.to_string().contains("as sha256:b (entry 2)"),
            "{moved}"
        );
        assert!(require_recorded(&log, "demo/app", Some("old"), "sha256:c").is_err());
        assert!(require_recorded(&log, "demo/app", Some("2.0.0"), "sha256:a").is_err());
        assert!(require_recorded(&log, "other/app", Some("1.0.0"), "sha256:a").is_err());
        require_recorded(&log, "demo/app", None, "sha256:b").unwrap();
        assert!(require_recorded(&log, "demo/app", None, "sha256:c").is_err());
    }
}
