use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use wharf_component::{ComponentizeOptions, WasmKind, componentize, validate};
use wharf_runtime::{BlobCache, RunOptions, Runtime, fetch_verified};

use crate::config::GlobalArgs;
use crate::output::warn;
use crate::target::{Target, VerifyFlags, read_input};

/// `wharf run`
#[derive(clap::Args)]
#[command(after_help = "\
A WASI core module (wasm32-wasip1) is componentized in memory with the built-in command
adapter first. The guest's exit code is passed through (the WASI preview1 adapter reports any
non-zero exit of a wasip1 program as 1).

Examples:
  wharf run app.component.wasm -- --verbose input.txt
  wharf run app.component.wasm --dir ./data::/data --env GREETING=hi
  wharf run localhost:5000/demo/app:1.0.0
  wharf run demo:app@1.0.0 --registry localhost:5000")]
pub struct Args {
    /// A component file or a reference.
    target: String,
    /// Preopen a host directory: `HOST::GUEST`, or `DIR` for the same path in both.
    #[arg(long = "dir", value_name = "HOST::GUEST")]
    dirs: Vec<String>,
    /// Environment variable `K=V`, or `K` to pass the host's value (repeatable).
    #[arg(long = "env", value_name = "K=V")]
    env: Vec<String>,
    #[command(flatten)]
    verify: VerifyFlags,
    /// When the guest has finished, print a JSON report on stderr (stdout is the
    /// guest's): what ran, its digests and the exit code.
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
        let mut reference = None;
        let mut manifest_digest = None;
        let (wasm, program) = match Target::parse(&self.target, &settings)? {
            Target::File(path) => {
                if self.verify.verify {
                    bail!(
                        "--verify checks signatures in a registry; `{}` is a local file",
                        path.display()
                    );
                }
                let name = path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_else(|| "main.wasm".into());
                (read_input(&path)?, name)
            }
            Target::Remote(remote) => {
                // a package whose signatures do not match its digest is never fetched
                let client = settings.client(Some(remote.registry()))?;
                let cache = BlobCache::new(&settings.cache_dir);
                let fetched = fetch_verified(
                    &client,
                    &remote,
                    &settings.trust,
                    self.verify.mode(),
                    &cache,
                    &warn,
                )
                .await?;
                reference = Some(fetched.reference.to_string());
                manifest_digest = Some(fetched.package.manifest_digest.clone());
                (
                    fetched.package.wasm,
                    fetched
                        .reference
                        .repository
                        .as_str()
                        .rsplit('/')
                        .next()
                        .unwrap_or("main")
                        .to_owned(),
                )
            }
        };
        // the digest of the file or layer given, before a core module is componentized
        let wasm_digest = wharf_oci::Digest::sha256_of(&wasm);
        let wasm = match validate(&wasm, &self.target)? {
            WasmKind::Component => wasm,
            // a WASI core module runs as the command component it makes with the adapter
            WasmKind::CoreModule => {
                componentize(&wasm, &self.target, &ComponentizeOptions::default())
                    .with_context(|| {
                        format!(
                            "`{}` is a core module and could not be componentized to run it",
                            self.target
                        )
                    })?
                    .bytes
            }
            WasmKind::WitPackage => {
                bail!(
                    "`{}` is a WIT package (types only), there is nothing to run",
                    self.target
                )
            }
        };
        let mut env = Vec::new();
        for e in &self.env {
            match e.split_once('=') {
                Some((k, v)) => env.push((k.to_owned(), v.to_owned())),
                None => {
                    if let Ok(v) = std::env::var(e) {
                        env.push((e.clone(), v));
                    }
                }
            }
        }
        let mut dirs = Vec::new();
        for d in &self.dirs {
            let (host, guest) = d.split_once("::").unwrap_or((d, d));
            let host = PathBuf::from(host);
            if !host.is_dir() {
                bail!("--dir `{d}`: `{}` is not a directory", host.display());
            }
            dirs.push((host, guest.to_owned()));
        }
        let runtime = Runtime::new(Some(&settings.cache_dir.join("compiled")))?;
        let opts = RunOptions {
            program,
            args: self.args,
            env,
            dirs,
        };
        let started = std::time::Instant::now();
        let code = runtime.run_command(&wasm, &self.target, &opts).await?;
        if self.json {
            let report = serde_json::json!({
                "target": self.target,
                "reference": reference,
                "digest": manifest_digest,
                "wasm_digest": wasm_digest,
                "exit_code": code,
                "duration_ms": started.elapsed().as_millis() as u64,
            });
            eprintln!("{report}");
        }
        Ok(ExitCode::from(
            u8::try_from(code.clamp(0, 255)).unwrap_or(1),
        ))
    }
}
