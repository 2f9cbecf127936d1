//! `wharf policy check`: rules over what a component is, for CI gates. Output for people,
//! `--json`, or SARIF 2.1.0 for code-scanning tools. Exit status: 0 pass, 1 violation,
//! 2 error (bad policy, unreadable input, registry failure).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use globset::{Glob, GlobSet, GlobSetBuilder};
use serde::{Deserialize, Serialize};
use wharf_component::{Inspection, inspect};

use crate::config::GlobalArgs;
use crate::output::warn;
use crate::target::{Target, fetch, read_input};
use wharf_core::{check_signatures, load_keys};

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

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct Policy {
    #[serde(default)]
    imports: Imports,
    #[serde(default)]
    exports: Exports,
    #[serde(default)]
    world: World,
    #[serde(default)]
    limits: Limits,
    #[serde(default)]
    metadata: Metadata,
    signature: Option<Signature>,
    #[serde(default)]
    sbom: Sbom,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Imports {
    allow: Option<Vec<String>>,
    #[serde(default)]
    deny: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Exports {
    #[serde(default)]
    require: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct World {
    target: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct Limits {
    max_size: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct Metadata {
    #[serde(default)]
    require_licenses: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Signature {
    keys: Vec<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Sbom {
    #[serde(default)]
    require: bool,
}

/// One broken rule.
#[derive(Debug, Serialize)]
struct Violation {
    rule: &'static str,
    message: String,
}

#[derive(Serialize)]
struct Report<'a> {
    target: &'a str,
    passed: bool,
    checked: Vec<&'static str>,
    violations: &'a [Violation],
}

/// Rule ids and their descriptions (SARIF `rules`).
const RULES: &[(&str, &str)] = &[
    ("imports-allowed", "Every import matches an allowed pattern"),
    ("imports-denied", "No import matches a denied pattern"),
    ("exports-required", "Required exports are present"),
    ("target-world", "The component targets the required world"),
    ("max-size", "The binary is within the size limit"),
    ("licenses", "The binary declares its licences"),
    ("signature", "A trusted key signed exactly this manifest"),
    ("sbom", "A software bill of materials is present"),
];

fn globs(patterns: &[String], what: &str) -> anyhow::Result<GlobSet> {
    let mut b = GlobSetBuilder::new();
    for p in patterns {
        b.add(Glob::new(p).with_context(|| format!("invalid {what} pattern `{p}`"))?);
    }
    Ok(b.build()?)
}

fn load_policy(path: &Path) -> anyhow::Result<Policy> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("failed to read policy `{}`", path.display()))?;
    let mut policy: Policy =
        toml::from_str(&text).with_context(|| format!("invalid policy `{}`", path.display()))?;
    if let Some(sig) = &mut policy.signature {
        let base = path.parent().unwrap_or(Path::new("."));
        for k in &mut sig.keys {
            if k.is_relative() {
                *k = base.join(&*k);
            }
        }
    }
    Ok(policy)
}

/// The checks that need only the binary.
fn check_binary(
    policy: &Policy,
    info: &Inspection,
    checked: &mut Vec<&'static str>,
) -> anyhow::Result<Vec<Violation>> {
    let mut v = Vec::new();
    if let Some(allow) = &policy.imports.allow {
        checked.push("imports-allowed");
        let set = globs(allow, "imports.allow")?;
        for i in info.imports.iter().filter(|i| !set.is_match(i.as_str())) {
            v.push(Violation {
                rule: "imports-allowed",
                message: format!("import `{i}` is not allowed"),
            });
        }
    }
    if !policy.imports.deny.is_empty() {
        checked.push("imports-denied");
        let set = globs(&policy.imports.deny, "imports.deny")?;
        for i in info.imports.iter().filter(|i| set.is_match(i.as_str())) {
            v.push(Violation {
                rule: "imports-denied",
                message: format!("import `{i}` is denied"),
            });
        }
    }
    if !policy.exports.require.is_empty() {
        checked.push("exports-required");
        for pattern in &policy.exports.require {
            let g = Glob::new(pattern)
                .with_context(|| format!("invalid exports.require pattern `{pattern}`"))?
                .compile_matcher();
            if !info.exports.iter().any(|e| g.is_match(e.as_str())) {
                v.push(Violation {
                    rule: "exports-required",
                    message: format!("no export matches `{pattern}`"),
                });
            }
        }
    }
    if let Some(target) = &policy.world.target {
        checked.push("target-world");
        let g = Glob::new(target)
            .with_context(|| format!("invalid world.target pattern `{target}`"))?
            .compile_matcher();
        match &info.target {
            Some(t) if g.is_match(t.as_str()) => {}
            Some(t) => v.push(Violation {
                rule: "target-world",
                message: format!("targets `{t}`, not `{target}`"),
            }),
            None => v.push(Violation {
                rule: "target-world",
                message: format!("its target world is unknown, `{target}` is required"),
            }),
        }
    }
    if let Some(max) = policy.limits.max_size {
        checked.push("max-size");
        if info.size > max {
            v.push(Violation {
                rule: "max-size",
                message: format!("{} bytes is over the limit of {max}", info.size),
            });
        }
    }
    if policy.metadata.require_licenses {
        checked.push("licenses");
        if info.metadata.licenses.is_none() {
            v.push(Violation {
                rule: "licenses",
                message: "no `licenses` metadata section".into(),
            });
        }
    }
    Ok(v)
}

fn sarif(target: &str, violations: &[Violation]) -> serde_json::Value {
    serde_json::json!({
        "version": "2.1.0",
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "runs": [{
            "tool": { "driver": {
                "name": "wharf",
                "version": env!("CARGO_PKG_VERSION"),
                "rules": RULES.iter().map(|(id, text)| serde_json::json!({ "id": id, "shortDescription": { "text": text } })).collect::<Vec<_>>(),
            }},
            "results": violations.iter().map(|v| serde_json::json!({
                "ruleId": v.rule,
                "level": "error",
                "message": { "text": v.message },
                "locations": [{ "physicalLocation": { "artifactLocation": { "uri": target } } }],
            })).collect::<Vec<_>>(),
        }],
    })
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
        let policy = load_policy(&self.policy)?;
        let settings = global.settings()?;
        let mut checked = Vec::new();
        let mut violations;
        match Target::parse(&self.target, &settings)? {
            Target::File(path) => {
                let bytes = read_input(&path)?;
                let info = inspect(&bytes, &self.target)?;
                violations = check_binary(&policy, &info, &mut checked)?;
                if policy.signature.is_some() {
                    bail!(
                        "the policy requires a signature, which only a reference (a pushed package) can have"
                    );
                }
                if policy.sbom.require {
                    checked.push("sbom");
                    if wharf_component::dependency_tree(&bytes)?.is_none() {
                        violations.push(Violation {
                            rule: "sbom",
                            message: "no cargo-auditable `.dep-v0` section".into(),
                        });
                    }
                }
            }
            Target::Remote(remote) => {
                let (client, target, fetched) = fetch(&settings, &remote).await?;
                let info = inspect(&fetched.wasm, &self.target)?;
                violations = check_binary(&policy, &info, &mut checked)?;
                if let Some(sig) = &policy.signature {
                    checked.push("signature");
                    let keys = load_keys(&sig.keys)?;
                    let report =
                        check_signatures(&client, &target, &fetched.manifest_digest, &keys, &warn)
                            .await?;
                    if !report.verified {
                        violations.push(Violation {
                            rule: "signature",
                            message: report.failure(),
                        });
                    }
                }
                if policy.sbom.require {
                    checked.push("sbom");
                    let mut found = wharf_component::dependency_tree(&fetched.wasm)?.is_some();
                    for t in ["application/vnd.cyclonedx+json", "application/spdx+json"] {
                        found |= client
                            .referrers(&target, &fetched.manifest_digest, Some(t))
                            .await?
                            .is_some_and(|i| !i.manifests.is_empty());
                    }
                    if !found {
                        violations.push(Violation {
                            rule: "sbom",
                            message: "no `.dep-v0` section and no SBOM referrer".into(),
                        });
                    }
                }
            }
        }
        let passed = violations.is_empty();
        let format = if self.json { Format::Json } else { self.format };
        match format {
            Format::Text => {
                for v in &violations {
                    outln!("violation [{}]: {}", v.rule, v.message);
                }
                outln!(
                    "{}: {} ({} rules checked)",
                    self.target,
                    if passed { "pass" } else { "FAIL" },
                    checked.len()
                );
            }
            Format::Json => {
                outln!(
                    "{}",
                    serde_json::to_string_pretty(&Report {
                        target: &self.target,
                        passed,
                        checked,
                        violations: &violations
                    })?
                );
            }
            Format::Sarif => outln!(
                "{}",
                serde_json::to_string_pretty(&sarif(&self.target, &violations))?
            ),
        }
        Ok(if passed {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        })
    }
}
