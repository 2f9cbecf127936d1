//! `wharf log verify`: audit a registry's release log.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;

use super::print_json;
use crate::config::GlobalArgs;

/// `wharf log …`
#[derive(clap::Subcommand)]
pub enum LogCommand {
    /// Audit a registry's release log: read every entry, recompute the tree, check it
    /// against the signed checkpoint and the checkpoint this client saw before, and compare
    /// every hash tile served with the one recomputed.
    #[command(after_help = "\
The log's verifier key is taken from the registry's discovery document the first time and
pinned then, with the checkpoint, in $XDG_STATE_HOME/wharf/logs/ (trust on first use): a
registry that later signs with another key, shows a shorter log, or rewrites entries this
client has seen is refused. `pull`, `run` and `verify` take `--require-log` (or the trust
policy's `require-log`) to check each version fetched against the log the same way.

Exit status: 0 when the log checks out, 1 otherwise.

Examples:
  wharf log verify localhost:5000
  wharf log verify --registry registry.example.com --json")]
    Verify(VerifyArgs),
}

/// `wharf log verify`
#[derive(clap::Args)]
pub struct VerifyArgs {
    /// The registry (`host[:port]`); default: `--registry` or the configured default.
    registry: Option<String>,
    /// Where the checkpoints seen are kept (default `$XDG_STATE_HOME/wharf/logs`).
    #[arg(long, value_name = "DIR")]
    state_dir: Option<PathBuf>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

impl LogCommand {
    /// Run the subcommand.
    pub async fn run(self, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
        let LogCommand::Verify(args) = self;
        let settings = global.settings()?;
        let registry = args
            .registry
            .clone()
            .or_else(|| settings.registry.clone())
            .context("no registry: name one, pass `--registry HOST[:PORT]` or set `default-registry` in the config file")?;
        let client = settings.client(Some(&registry))?;
        let state_dir = args
            .state_dir
            .clone()
            .unwrap_or_else(|| settings.trust.log_state_dir());
        let (report, _) =
            wharf_core::release_log::read_log(&client, &registry, &state_dir, true).await?;
        if args.json {
            return print_json(&report);
        }
        outln!(
            "{}: {} entries ({} publications, {} moves, {} deletions, {} yanks), root {}",
            report.origin,
            report.size,
            report.publications,
            report.moves,
            report.deletions,
            report.yanks,
            report.root
        );
        match report.previous_size {
            Some(n) => eprintln!(
                "verified {registry}'s release log: signed checkpoint, {} tiles, and consistent with the {n} entries seen before",
                report.tiles_checked
            ),
            None => eprintln!(
                "verified {registry}'s release log: signed checkpoint and {} tiles; its key is now pinned",
                report.tiles_checked
            ),
        }
        Ok(ExitCode::SUCCESS)
    }
}
