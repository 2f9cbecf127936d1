//! What a `<REF>` argument names: a local file, an image reference
//! (`host[:port]/repository[:tag|@digest]`) or a package (`ns:name@version`).

use std::path::PathBuf;

use anyhow::{Context as _, bail};
use wharf_client::Client;
use wharf_core::{BlobCache, FetchedPackage, Remote, Verification, fetch_package};
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
}

impl VerifyFlags {
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
