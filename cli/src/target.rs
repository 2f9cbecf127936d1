//! What a `<REF>` argument names: a local file, an image reference
//! (`host[:port]/repository[:tag|@digest]`) or a package (`ns:name@version`).

use std::path::PathBuf;

use anyhow::{Context as _, bail};
use wharf_client::Client;
use wharf_core::{BlobCache, FetchedPackage, Remote, TrustPolicy, Verification, fetch_package};
use wharf_oci::ImageReference;

use crate::config::Settings;
use crate::output::warn;

/// A parsed `<FILE|REF>` argument.
pub enum Target {
    /// A file on disk.
    File(PathBuf),
    /// Something in a registry.
    Remote(Remote),
}

/// How `pull` and `run` treat signatures.
#[derive(Clone, Copy, Debug, clap::Args)]
pub struct VerifyFlags {
    /// Require a valid signature by a key the trust policy names for this package.
    #[arg(long, conflicts_with = "insecure_skip_verify")]
    pub verify: bool,
    /// Do not check signatures even where the trust policy requires them.
    #[arg(long)]
    pub insecure_skip_verify: bool,
    /// Require that the registry's release log records the version fetched: the whole log
    /// is read and checked against its signed checkpoint and the checkpoint this client
    /// saw before, and its last record of the tag must name the digest served.
    #[arg(long)]
    pub require_log: bool,
}

impl VerifyFlags {
    /// The trust policy with what the flags add to it (`--require-log`).
    pub fn policy(self, base: &TrustPolicy) -> std::borrow::Cow<'_, TrustPolicy> {
        match self.require_log {
            true => std::borrow::Cow::Owned(base.requiring_log()),
            false => std::borrow::Cow::Borrowed(base),
        }
    }

    /// What the flags ask of the verified fetch.
    pub fn mode(self) -> Verification {
        match (self.verify, self.insecure_skip_verify) {
            (_, true) => Verification::Skip,
            (true, false) => Verification::Required,
            (false, false) => Verification::Policy,
        }
    }
}

/// Parse a reference argument, package names and host-less references served by the
/// configured default registry.
pub fn parse_remote(s: &str, settings: &Settings) -> anyhow::Result<Remote> {
    Remote::parse(s, settings.registry.as_deref())
}

/// Resolve `remote`, warning on stderr when an exactly pinned version is yanked.
pub async fn resolve(client: &Client, remote: &Remote) -> anyhow::Result<ImageReference> {
    let (target, yanked) = remote.resolve_checked(client).await?;
    if let Some(reason) = yanked {
        warn(&format!("{target} is yanked: {reason}"));
    }
    Ok(target)
}

/// Resolve `remote`, then fetch the manifest and the wasm layer through the blob cache,
/// every digest verified, for commands that read a package without running it (inspect,
/// sbom, policy). Returns the client (for further requests), the resolved reference and
/// the package.
pub async fn fetch(
    settings: &Settings,
    remote: &Remote,
) -> anyhow::Result<(Client, ImageReference, FetchedPackage)> {
    let client = settings.client(Some(remote.registry()))?;
    let target = resolve(&client, remote).await?;
    let cache = BlobCache::new(&settings.cache_dir);
    let fetched = fetch_package(&client, &cache, &target)
        .await
        .with_context(|| format!("failed to fetch {target}"))?;
    tracing::info!(digest = %fetched.manifest_digest, cached = fetched.cached, "resolved {target}");
    Ok((client, target, fetched))
}

impl Target {
    /// An existing path (or `-`) is a file; anything else a reference.
    pub fn parse(s: &str, settings: &Settings) -> anyhow::Result<Target> {
        let path = PathBuf::from(s);
        if s == "-" || path.exists() {
            return Ok(Target::File(path));
        }
        if s.ends_with(".wasm") && !s.contains(':') {
            bail!("file `{s}` does not exist");
        }
        parse_remote(s, settings)
            .with_context(|| format!("`{s}` is neither an existing file nor a valid reference"))
            .map(Target::Remote)
    }
}

/// Read a wasm file argument, `-` meaning stdin, `.wat` parsed from the text format
/// ([`wharf_core::read_wasm`]).
pub fn read_input(path: &std::path::Path) -> anyhow::Result<Vec<u8>> {
    wharf_core::read_wasm(path)
}

/// Write `bytes` to `path`, `-` meaning stdout. A regular file is written atomically
/// (temporary file beside it, then rename), so a failure leaves no half-written output;
/// an existing special file (`/dev/null`, a FIFO, a terminal) is written in place, never
/// replaced.
pub fn write_output(path: &std::path::Path, bytes: &[u8]) -> anyhow::Result<()> {
    if path.as_os_str() == "-" {
        std::io::Write::write_all(&mut std::io::stdout(), bytes)
            .context("failed to write stdout")?;
        return Ok(());
    }
    if std::fs::metadata(path).is_ok_and(|m| !m.is_file() && !m.is_dir()) {
        return std::fs::write(path, bytes)
            .with_context(|| format!("failed to write `{}`", path.display()));
    }
    wharf_core::lock::write_atomically(path, bytes)
}

/// A component to run or serve, compiled (a WASI core module componentized with the
/// command adapter first), with the program name the guest sees and, for a reference, what
/// it resolved to.
pub struct Runnable {
    /// The compiled component.
    pub component: wharf_runtime::Component,
    /// `argv[0]`: the file name, or the repository's last segment.
    pub program: String,
    /// The reference pinned to its digest, for a package.
    pub reference: Option<String>,
    /// The manifest digest, for a package.
    pub manifest_digest: Option<wharf_oci::Digest>,
    /// The digest of the file or layer as given (before componentizing a module).
    pub wasm_digest: wharf_oci::Digest,
}

/// Load `target` (a file, or a reference fetched through the verified fetch and the
/// cache, signatures judged by the trust policy as `verify` says) as a compiled component.
/// What `runtime` has compiled before is loaded by digest: an unchanged file is not read
/// again, and a package's layer is not fetched again (its manifest and signatures are
/// still checked, since a tag may have moved).
pub async fn load_runnable(
    target: &str,
    settings: &Settings,
    verify: VerifyFlags,
    runtime: &wharf_runtime::Runtime,
) -> anyhow::Result<Runnable> {
    match Target::parse(target, settings)? {
        Target::File(path) => {
            if verify.verify {
                bail!(
                    "--verify checks signatures in a registry; `{}` is a local file",
                    path.display()
                );
            }
            let program = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "main.wasm".into());
            let read = || -> anyhow::Result<_> {
                let wasm = read_input(&path)?;
                let digest = wharf_oci::Digest::sha256_of(&wasm);
                Ok((digest, wharf_runtime::prepare_component(wasm, target)?))
            };
            let (component, wasm_digest) = if path.as_os_str() == "-" {
                let (digest, wasm) = read()?;
                (
                    runtime.load(&digest, target, || Ok::<_, anyhow::Error>(wasm))?,
                    digest,
                )
            } else {
                runtime.load_file(&path, target, read)?
            };
            Ok(Runnable {
                component,
                program,
                reference: None,
                manifest_digest: None,
                wasm_digest,
            })
        }
        Target::Remote(remote) => {
            // a package whose signatures do not match its digest is never fetched
            let client = settings.client(Some(remote.registry()))?;
            let cache = BlobCache::new(&settings.cache_dir);
            let loaded = runtime
                .load_package(
                    &client,
                    &remote,
                    &verify.policy(&settings.trust),
                    verify.mode(),
                    &cache,
                    &warn,
                )
                .await?;
            let program = loaded
                .reference
                .repository
                .as_str()
                .rsplit('/')
                .next()
                .unwrap_or("main")
                .to_owned();
            Ok(Runnable {
                component: loaded.component,
                program,
                reference: Some(loaded.reference.to_string()),
                manifest_digest: Some(loaded.manifest_digest),
                wasm_digest: loaded.wasm_digest,
            })
        }
    }
}

/// Environment variables (`K`, `V`) and preopened directories (host path, guest path).
pub type GuestEnvAndDirs = (Vec<(String, String)>, Vec<(PathBuf, String)>);

/// What `run` and `serve` give a guest: preopened directories and environment variables.
#[derive(Clone, Debug, clap::Args)]
pub struct GuestFlags {
    /// Preopen a host directory (for every instance, serving): `HOST::GUEST`, or `DIR` for
    /// the same path in both.
    #[arg(long = "dir", value_name = "HOST::GUEST")]
    pub dirs: Vec<String>,
    /// Environment variable `K=V`, or `K` to pass the host's value (repeatable).
    #[arg(long = "env", value_name = "K=V")]
    pub env: Vec<String>,
}

impl GuestFlags {
    /// The `--env` variables and `--dir` preopens.
    ///
    /// # Errors
    /// A `--dir` whose host side is not a directory.
    pub fn env_and_dirs(&self) -> anyhow::Result<GuestEnvAndDirs> {
        guest_env_and_dirs(&self.env, &self.dirs)
    }
}

/// `--env K=V` (or `K`, the host's value) and `--dir HOST::GUEST` (or `DIR`) arguments.
fn guest_env_and_dirs(env: &[String], dirs: &[String]) -> anyhow::Result<GuestEnvAndDirs> {
    let mut vars = Vec::new();
    for e in env {
        match e.split_once('=') {
            Some((k, v)) => vars.push((k.to_owned(), v.to_owned())),
            None => {
                if let Ok(v) = std::env::var(e) {
                    vars.push((e.clone(), v));
                }
            }
        }
    }
    let mut preopens = Vec::new();
    for d in dirs {
        let (host, guest) = d.split_once("::").unwrap_or((d, d));
        let host = PathBuf::from(host);
        if !host.is_dir() {
            bail!("--dir `{d}`: `{}` is not a directory", host.display());
        }
        preopens.push((host, guest.to_owned()));
    }
    Ok((vars, preopens))
}

/// Resource limits and network permissions of `run` and `serve`.
#[derive(Clone, Copy, Debug, clap::Args)]
pub struct LimitFlags {
    /// Largest linear memory a guest may grow, in bytes or with a K, M or G suffix (KiB,
    /// MiB, GiB); `memory.grow` past it fails.
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub max_memory: Option<usize>,
    /// Wall-clock deadline in seconds (for `serve`: per request); a guest over it is
    /// stopped.
    #[arg(long, value_name = "SECONDS", value_parser = parse_seconds)]
    pub timeout: Option<std::time::Duration>,
    /// Let the guest's `wasi:sockets` reach any address (as wasmtime's
    /// `-S inherit-network`); without it every connect and bind is refused.
    #[arg(long)]
    pub inherit_network: bool,
    /// Let the guest resolve host names (`wasi:sockets/ip-name-lookup`, as wasmtime's
    /// `-S allow-ip-name-lookup`).
    #[arg(long)]
    pub allow_ip_name_lookup: bool,
}

impl LimitFlags {
    /// The runtime's limits.
    pub fn limits(self) -> wharf_runtime::Limits {
        wharf_runtime::Limits {
            max_memory: self.max_memory,
            timeout: self.timeout,
            inherit_network: self.inherit_network,
            allow_ip_name_lookup: self.allow_ip_name_lookup,
        }
    }
}

fn parse_size(s: &str) -> Result<usize, String> {
    let (digits, unit) = match s.trim().char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => s.trim().split_at(i),
        None => (s.trim(), ""),
    };
    let n: usize = digits
        .parse()
        .map_err(|_| format!("`{s}` is not a size (e.g. 64M, 1G, 1048576)"))?;
    let factor: usize = match unit.trim().to_ascii_uppercase().as_str() {
        "" | "B" => 1,
        "K" | "KB" | "KIB" => 1 << 10,
        "M" | "MB" | "MIB" => 1 << 20,
        "G" | "GB" | "GIB" => 1 << 30,
        other => return Err(format!("`{other}` is not a size unit (K, M or G)")),
    };
    n.checked_mul(factor)
        .ok_or_else(|| format!("`{s}` is too large"))
}

fn parse_seconds(s: &str) -> Result<std::time::Duration, String> {
    let secs: f64 = s
        .trim()
        .trim_end_matches('s')
        .parse()
        .map_err(|_| format!("`{s}` is not a number of seconds"))?;
    if !(secs > 0.0 && secs.is_finite() && secs <= 86_400.0 * 365.0) {
        return Err(format!(
            "`{s}`: the deadline must be above 0 and at most a year"
        ));
    }
    Ok(std::time::Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_seconds() {
        assert_eq!(parse_size("64M"), Ok(64 << 20));
        assert_eq!(parse_size("1g"), Ok(1 << 30));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert!(parse_size("12X").is_err() && parse_size("M").is_err());
        assert_eq!(
            parse_seconds("1.5"),
            Ok(std::time::Duration::from_millis(1500))
        );
        assert!(
            parse_seconds("0").is_err()
                && parse_seconds("-3").is_err()
                && parse_seconds("nan").is_err()
        );
    }
}
