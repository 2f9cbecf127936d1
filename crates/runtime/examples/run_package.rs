//! Run a command component from a registry the way `wharf run` does, as an embedder would:
//! resolve the reference, check the trust policy, fetch through the content-addressed
//! cache (every digest verified), compile once (cached by digest, memory-mapped after) and
//! run it with WASI 0.2 under limits.
//!
//! ```sh
//! cargo run -p wharf-runtime --example run_package -- localhost:5000/demo/hello:1.0.0 Ada
//! ```
//!
//! Copy it into your runtime and replace what you need: the trust policy (here: the one in
//! wharf's configuration directory, if any), the cache directory, the limits.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use wharf_client::{Client, ClientConfig};
use wharf_core::Remote;
use wharf_runtime::{BlobCache, Limits, RunOptions, Runtime, TrustPolicy, Verification};

#[tokio::main]
async fn main() -> anyhow::Result<ExitCode> {
    let mut args = std::env::args().skip(1);
    let reference = args
        .next()
        .context("usage: run_package <REFERENCE> [ARGS...]")?;
    // `host[:port]/repository:tag`, `…@sha256:…`; package names need a default registry
    let remote = Remote::parse(&reference, None)?;
    // plain HTTP for loopback registries, HTTPS elsewhere; credentials from Docker's config
    let client = Client::new(ClientConfig::default())?;
    // wharf's own trust policy file when there is one (a missing file: no rules)
    let policy = match dirs::config_dir() {
        Some(dir) => TrustPolicy::load(&dir.join("wharf/trust.toml"), false)?,
        None => TrustPolicy::default(),
    };
    let cache = BlobCache::new(BlobCache::default_root());
    let runtime = Runtime::new(Some(&cache.root().join("compiled")))?;

    let package = runtime
        .load_package(
            &client,
            &remote,
            &policy,
            Verification::Policy,
            &cache,
            &|warning| eprintln!("warning: {warning}"),
        )
        .await?;
    eprintln!(
        "running {} ({})",
        package.reference,
        if package.compiled {
            "compiled"
        } else {
            "cached"
        }
    );
    let options = RunOptions {
        program: reference.clone(),
        args: args.collect(),
        limits: Limits {
            max_memory: Some(256 << 20),
            timeout: Some(Duration::from_secs(30)),
            ..Limits::default()
        },
        ..RunOptions::default()
    };
    let code = runtime
        .run_command(&package.component, &reference, &options)
        .await?;
    Ok(ExitCode::from(
        u8::try_from(code.clamp(0, 255)).unwrap_or(1),
    ))
}
