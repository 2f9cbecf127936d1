//! What a `<REF>` argument names: a local file, an image reference
//! (`host[:port]/repository[:tag|@digest]`) or a package (`ns:name@version`).

use std::path::PathBuf;

use anyhow::{Context as _, bail};
use wharf_client::Client;
use wharf_oci::{ImageReference, PackageRef};
use wharf_runtime::{BlobCache, FetchedPackage, fetch_package, fetch_pulled};

use crate::config::Settings;

/// A parsed `<FILE|REF>` argument.
pub enum Target {
    /// A file on disk.
    File(PathBuf),
    /// Something in a registry.
    Remote(Remote),
}

/// A registry reference, before package names are resolved.
pub enum Remote {
    /// `host/repo:tag`.
    Image(ImageReference),
    /// `ns:name@version`, resolved through the registry's discovery document.
    Package {
        registry: String,
        package: PackageRef,
    },
}

impl Remote {
    /// Parse a reference: a package name when it has no `/`, else an image reference.
    pub fn parse(s: &str, settings: &Settings) -> anyhow::Result<Remote> {
        if PackageRef::looks_like(s) {
            let package: PackageRef = s.parse()?;
            let Some(registry) = settings.registry.clone() else {
                bail!(
                    "`{s}` is a package name; say which registry serves it with --registry or `default-registry` in the config file"
                );
            };
            return Ok(Remote::Package { registry, package });
        }
        Ok(Remote::Image(ImageReference::parse(
            s,
            settings.registry.as_deref(),
        )?))
    }

    /// The registry host asked first.
    pub fn registry(&self) -> &str {
        match self {
            Remote::Image(r) => &r.registry,
            Remote::Package { registry, .. } => registry,
        }
    }

    /// Resolve to an image reference (package names through the registry); warns on stderr
    /// when an exactly pinned version is yanked.
    pub async fn resolve(&self, client: &Client) -> anyhow::Result<ImageReference> {
        let target = self.resolve_pinned(client).await?;
        if self.is_pinned()
            && let Ok(Some(reason)) = client.yanked(&target).await
        {
            eprintln!("warning: {target} is yanked: {reason}");
        }
        Ok(target)
    }

    /// True when the reference names one exact version (a package `@1.2.3` or a semver tag).
    fn is_pinned(&self) -> bool {
        match self {
            Remote::Package { package, .. } => package.exact.is_some(),
            Remote::Image(r) => r.tag.as_ref().is_some_and(|t| t.semver().is_some()),
        }
    }

    /// Resolve without the yank warning.
    pub async fn resolve_pinned(&self, client: &Client) -> anyhow::Result<ImageReference> {
        match self {
            Remote::Image(r) => Ok(r.clone()),
            Remote::Package { registry, package } => client
                .resolve_package(registry, package)
                .await
                .with_context(|| format!("failed to resolve package {package} on {registry}")),
        }
    }
}

impl Remote {
    /// Resolve once, pull the manifest, enforce the trust policy on its digest, and only
    /// then fetch the wasm layer (through the blob cache) by that digest: nothing of a
    /// package that fails verification is downloaded or cached, and a tag moved in
    /// between cannot swap the content.
    pub async fn fetch_verified(
        &self,
        settings: &Settings,
        flags: crate::trust::VerifyFlags,
    ) -> anyhow::Result<(Client, ImageReference, FetchedPackage)> {
        let client = settings.client(Some(self.registry()))?;
        let target = self.resolve_pinned(&client).await?;
        // the manifest is pulled once: the yank warning, the trust check and the layer
        // fetch all use this one
        let manifest = client
            .pull_manifest(&target)
            .await
            .with_context(|| format!("failed to pull {target}"))?;
        if self.is_pinned()
            && let Ok(Some(reason)) = client.yanked_digest(&target, &manifest.digest).await
        {
            eprintln!("warning: {target} is yanked: {reason}");
        }
        let pinned = target.with_digest(manifest.digest.clone());
        settings
            .trust
            .enforce(&client, &pinned, &manifest.digest, flags)
            .await?;
        let cache = BlobCache::new(&settings.cache_dir);
        let fetched = fetch_pulled(&client, &cache, &pinned, manifest)
            .await
            .with_context(|| format!("failed to fetch {pinned}"))?;
        Ok((client, pinned, fetched))
    }

    /// Resolve, then fetch the manifest and the wasm layer through the blob cache, every
    /// digest verified. Returns the client (for further requests), the resolved reference
    /// and the package.
    pub async fn fetch(
        &self,
        settings: &Settings,
    ) -> anyhow::Result<(Client, ImageReference, FetchedPackage)> {
        let client = settings.client(Some(self.registry()))?;
        let target = self.resolve(&client).await?;
        let cache = BlobCache::new(&settings.cache_dir);
        let fetched = fetch_package(&client, &cache, &target)
            .await
            .with_context(|| format!("failed to fetch {target}"))?;
        tracing::info!(digest = %fetched.manifest_digest, cached = fetched.cached, "resolved {target}");
        Ok((client, target, fetched))
    }
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
        Remote::parse(s, settings)
            .with_context(|| format!("`{s}` is neither an existing file nor a valid reference"))
            .map(Target::Remote)
    }
}

/// Read a wasm file argument, `-` meaning stdin. A `.wat` file is parsed from the text
/// format (as wasm-tools does); parse errors carry line and column.
pub fn read_input(path: &std::path::Path) -> anyhow::Result<Vec<u8>> {
    if path.as_os_str() == "-" {
        let mut buf = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut buf)
            .context("failed to read stdin")?;
        return Ok(buf);
    }
    let bytes =
        std::fs::read(path).with_context(|| format!("failed to read `{}`", path.display()))?;
    if path.extension().is_some_and(|e| e == "wat") {
        return wat::parse_bytes(&bytes)
            .map(|b| b.into_owned())
            .map_err(|mut e| {
                e.set_path(path);
                e
            })
            .with_context(|| {
                format!(
                    "failed to parse the WebAssembly text in `{}`",
                    path.display()
                )
            });
    }
    Ok(bytes)
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
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut tmp = tempfile::NamedTempFile::new_in(&dir)
        .with_context(|| format!("failed to create a temporary file in `{}`", dir.display()))?;
    std::io::Write::write_all(&mut tmp, bytes)
        .with_context(|| format!("failed to write `{}`", path.display()))?;
    tmp.persist(path)
        .with_context(|| format!("failed to write `{}`", path.display()))?;
    Ok(())
}
