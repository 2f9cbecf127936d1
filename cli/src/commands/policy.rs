//! `wharf policy check`: rules over what a component is, for CI gates. Output for people,
//! `--json`, or SARIF 2.1.0 for code-scanning tools. Exit status: 0 pass, 1 violation,
//! 2 error (bad policy, unreadable input, registry failure).

use std::path::PathBuf;
use std::process::ExitCode;

use wharf_core::policy::{Policy, sarif};

use crate::config::GlobalArgs;
use crate::output::warn;
use crate::target::{Target, fetch, read_input};

/// `wharf policy …`
#[derive(clap::Subcommand)]
pub enum PolicyCommand {
    /// Check a wasm file or a pushed package against a policy file.
    #[command(after_help = "\
Exit status: 0 when every rule passes, 1 when a rule is violated, 2 on an error.

Policy file (TOML), every section optional:
  [imports]
  allow = [\"wasi:cli/*\", \"wasi:io/*\"]      # every import must match one
  deny = [\"wasi:sockets/*\"]                 # no import may match
  [exports]
  require = [\"wasi:cli/run@0.2.*\"]
  [world]
  target = \"wasi:cli/command@0.2.*\"
  [limits]
  max-size = 10485760                       # bytes
  [metadata]
  require-licenses = true
  [signature]
  keys = [\"release.pub\"]                    # relative to the policy file; references only
  [sbom]
  require = true                            # cargo-auditable .dep-v0 section, or an SBOM referrer

Examples:
  wharf policy check app.wasm --policy policy.toml
  wharf policy check localhost:5000/demo/app:1.0.0 --policy policy.toml --format sarif > wharf.sarif")]
    Check(CheckArgs),
}

/// Output formats.
#[derive(Clone, Copy, clap::ValueEnum)]
pub enum Format {
    /// Lines for people.
    Text,
    /// A JSON report.
    Json,
    /// SARIF 2.1.0.
    Sarif,
}

/// `wharf policy check`
#[derive(clap::Args)]
pub struct CheckArgs {
    /// A wasm file or a reference.
    target: String,
    /// The policy file (TOML).
    #[arg(long)]
    policy: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
    /// Shorthand for `--format json`.
    #[arg(long)]
    json: bool,
}

impl PolicyCommand {
    /// Run the subcommand; errors are exit status 2, violations 1.
    pub async fn run(self, global: &GlobalArgs) -> ExitCode {
        let PolicyCommand::Check(args) = self;
        match args.check(global).await {
            Ok(code) => code,
            Err(e) => {
                eprintln!("error: {e}");
                for cause in e.chain().skip(1) {
                    eprintln!("  caused by: {cause}");
                }
                ExitCode::from(2)
            }
        }
    }
}

impl CheckArgs {
    async fn check(self, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
        let policy = Policy::load(&self.policy)?;
        let settings = global.settings()?;
        let evaluation = match Target::parse(&self.target, &settings)? {
            Target::File(path) => policy.check_file(&read_input(&path)?, &self.target)?,
            Target::Remote(remote) => {
                let (client, target, fetched) = fetch(&settings, &remote).await?;
                policy
                    .check_package(&client, &target, &fetched, &warn)
                    .await?
            }
        };
        let passed = evaluation.passed();
        let format = if self.json { Format::Json } else { self.format };
        match format {
            Format::Text => {
                for v in &evaluation.violations {
                    outln!("violation [{}]: {}", v.rule, v.message);
                }
                outln!(
                    "{}: {} ({} rules checked)",
                    self.target,
                    if passed { "pass" } else { "FAIL" },
                    evaluation.checked.len()
                );
            }
            Format::Json => {
                outln!(
                    "{}",
                    serde_json::to_string_pretty(&serde_json::json!({
                        "target": self.target,
                        "passed": passed,
                        "checked": evaluation.checked,
                        "violations": evaluation.violations,
                    }))?
                );
            }
            Format::Sarif => outln!(
                "{}",
                serde_json::to_string_pretty(&sarif(&self.target, &evaluation.violations))?
            ),
        }
        Ok(if passed {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        })
    }
}
