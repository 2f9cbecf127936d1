use std::process::ExitCode;

use wharf_runtime::{RunOptions, Runtime};

use crate::config::GlobalArgs;
use crate::target::{GuestFlags, LimitFlags, VerifyFlags, load_runnable};

/// `wharf run`
#[derive(clap::Args)]
#[command(after_help = "\
A WASI core module (wasm32-wasip1) is componentized in memory with the built-in command
adapter first. The guest's exit code is passed through (the WASI preview1 adapter reports any
non-zero exit of a wasip1 program as 1). A guest over `--max-memory` or `--timeout` is
stopped with an error naming the limit; the host is never at risk.

Examples:
  wharf run app.component.wasm -- --verbose input.txt
  wharf run app.component.wasm --dir ./data::/data --env GREETING=hi
  wharf run localhost:5000/demo/app:1.0.0 --max-memory 64M --timeout 10
  wharf run demo:app@1.0.0 --registry localhost:5000")]
pub struct Args {
    /// A component file or a reference.
    target: String,
    #[command(flatten)]
    guest: GuestFlags,
    #[command(flatten)]
    verify: VerifyFlags,
    #[command(flatten)]
    limits: LimitFlags,
    /// When the guest has finished, print a JSON report on stderr (stdout is the
    /// guest's): what ran, its digests, whether it was compiled (false: loaded from the
    /// cache) and the exit code.
    #[arg(long)]
    json: bool,
    /// Arguments for the guest (after `--`).
    #[arg(last = true)]
    args: Vec<String>,
}

impl Args {
    /// Run the subcommand.
    pub async fn run(self, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
        let settings = global.settings()?;
        let (env, dirs) = self.guest.env_and_dirs()?;
        let runtime = Runtime::new(Some(&settings.cache_dir.join("compiled")))?;
        let runnable = load_runnable(&self.target, &settings, self.verify, &runtime).await?;
        let opts = RunOptions {
            program: runnable.program.clone(),
            args: self.args,
            env,
            dirs,
            limits: self.limits.limits(),
        };
        let started = std::time::Instant::now();
        let code = runtime
            .run_command(&runnable.component, &self.target, &opts)
            .await?;
        if self.json {
            let report = serde_json::json!({
                "target": self.target,
                "reference": runnable.reference,
                "digest": runnable.manifest_digest,
                "wasm_digest": runnable.wasm_digest,
                "exit_code": code,
                // false: the compilation was loaded from the cache
                "compiled": runtime.compilations() > 0,
                "duration_ms": started.elapsed().as_millis() as u64,
            });
            eprintln!("{report}");
        }
        Ok(ExitCode::from(
            u8::try_from(code.clamp(0, 255)).unwrap_or(1),
        ))
    }
}
