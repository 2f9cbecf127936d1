//! `wharf serve`: serve a `wasi:http/proxy` component over HTTP.

use std::process::ExitCode;

use anyhow::Context as _;
use wharf_runtime::{Runtime, ServeOptions};

use crate::config::GlobalArgs;
use crate::target::{GuestFlags, LimitFlags, VerifyFlags, load_runnable};

/// `wharf serve`
#[derive(clap::Args)]
#[command(after_help = "\
Serves a component that exports wasi:http/incoming-handler (the wasi:http/proxy world) as
`wasmtime serve` does: compiled and pre-instantiated once, a fresh instance for every
request, requests served concurrently. A reference is fetched through the verified fetch
and the cache first, signatures judged by the trust policy as for `run`. A guest that traps
or runs past `--timeout` answers 500 for that request; the server goes on. Ctrl-C stops
accepting and lets requests in flight finish (at most 10 s).

Prints `serving http://ADDR` on stderr once it listens (`--addr 127.0.0.1:0` picks a port).

Examples:
  wharf serve hello.wasm
  wharf serve localhost:5000/demo/hello-http:1.0.0 --addr 0.0.0.0:8080 --timeout 5
  wharf serve demo:api@1.2.0 --registry localhost:5000 --max-memory 128M --env MODE=prod")]
pub struct Args {
    /// A component file or a reference.
    target: String,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "HOST:PORT")]
    addr: std::net::SocketAddr,
    #[command(flatten)]
    guest: GuestFlags,
    #[command(flatten)]
    verify: VerifyFlags,
    #[command(flatten)]
    limits: LimitFlags,
    /// Most instances alive at once; further requests wait (each instance holds up to
    /// `--max-memory`).
    #[arg(long, default_value_t = wharf_runtime::DEFAULT_MAX_INSTANCES, value_name = "N")]
    max_instances: usize,
}

impl Args {
    /// Run the subcommand.
    pub async fn run(self, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
        let settings = global.settings()?;
        let (env, dirs) = self.guest.env_and_dirs()?;
        let runtime = Runtime::for_serving(
            Some(&settings.cache_dir.join("compiled")),
            self.max_instances,
            self.limits.max_memory,
        )?;
        // compiled and checked before anything listens
        let runnable = load_runnable(&self.target, &settings, self.verify, &runtime).await?;
        let proxy = runtime.proxy(&runnable.component, &self.target)?;
        let listener = tokio::net::TcpListener::bind(self.addr)
            .await
            .with_context(|| format!("cannot listen on {}", self.addr))?;
        let local = listener.local_addr()?;
        eprintln!(
            "serving http://{local} ({}); Ctrl-C stops",
            runnable.reference.as_deref().unwrap_or(&self.target)
        );
        let opts = ServeOptions {
            env,
            dirs,
            limits: self.limits.limits(),
            grace: std::time::Duration::from_secs(10),
            max_instances: self.max_instances,
        };
        let shutdown = async {
            let _ = tokio::signal::ctrl_c().await;
            eprintln!("stopping: no new connections, requests in flight may finish");
        };
        proxy.serve(listener, opts, shutdown).await?;
        Ok(ExitCode::SUCCESS)
    }
}
