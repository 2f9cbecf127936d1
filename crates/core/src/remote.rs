//! What a reference argument names in a registry: an image reference
//! (`host[:port]/repository[:tag|@digest]`) or a package (`ns:name@version`) that the
//! registry's discovery document maps to one.

use anyhow::{Context as _, bail};
use wharf_client::Client;
use wharf_oci::{ImageReference, PackageRef};

/// A registry reference, before package names are resolved.
#[derive(Clone, Debug)]
pub enum Remote {
    /// `host/repo:tag`.
    Image(ImageReference),
    /// `ns:name@version`, resolved through the registry's discovery document.
    Package {
        /// The registry asked.
        registry: String,
        /// The package and version (or range).
        package: PackageRef,
    },
}

impl Remote {
    /// Parse a reference: a package name when it has no `/`, else an image reference;
    /// `default_registry` serves package names and host-less references.
    pub fn parse(s: &str, default_registry: Option<&str>) -> anyhow::Result<Remote> {
        if PackageRef::looks_like(s) {
            let package: PackageRef = s.parse()?;
            let Some(registry) = default_registry else {
                bail!(
                    "`{s}` is a package name; say which registry serves it with --registry or `default-registry` in the config file"
                );
            };
            return Ok(Remote::Package {
                registry: registry.to_owned(),
                package,
            });
        }
        Ok(Remote::Image(ImageReference::parse(s, default_registry)?))
    }

    /// The registry host asked first.
    pub fn registry(&self) -> &str {
        match self {
            Remote::Image(r) => &r.registry,
            Remote::Package { registry, .. } => registry,
        }
    }

    /// True when the reference names one exact version (a package `@1.2.3` or a semver tag).
    pub fn is_pinned(&self) -> bool {
        match self {
            Remote::Package { package, .. } => package.exact.is_some(),
            Remote::Image(r) => r.tag.as_ref().is_some_and(|t| t.semver().is_some()),
        }
    }

    /// Resolve to an image reference (package names through the registry's discovery
    /// document and tags; ranges skip yanked versions).
    pub async fn resolve(&self, client: &Client) -> anyhow::Result<ImageReference> {
        match self {
            Remote::Image(r) => Ok(r.clone()),
            Remote::Package { registry, package } => client
                .resolve_package(registry, package)
                .await
                .with_context(|| format!("failed to resolve package {package} on {registry}")),
        }
    }

    /// [`resolve`](Self::resolve), and for an exactly pinned version the yank reason when
    /// it is yanked (a pin still resolves; the caller warns).
    pub async fn resolve_checked(
        &self,
        client: &Client,
    ) -> anyhow::Result<(ImageReference, Option<String>)> {
        let target = self.resolve(client).await?;
        let yanked = match self.is_pinned() {
            true => client.yanked(&target).await.ok().flatten(),
            false => None,
        };
        Ok((target, yanked))
    }
}
