//! Pull-through mirrors: repositories under a configured prefix are copies of repositories
//! of an upstream registry (`wasi/http` ← `ghcr.io/webassembly/wasi/http`). A manifest read
//! that misses (or a tag older than the mirror's tag TTL) goes upstream: the manifest, every
//! blob and child manifest it references, and its referrers (signatures, SBOMs: the
//! referrers API, else the referrers tag schema, plus cosign's `.sig` tag) are fetched,
//! verified against their digests by the same upload and manifest paths a push takes, and
//! stored; later reads are local. When the upstream is unavailable, what is cached is
//! served. Mirrored repositories are read-only to clients.
//!
//! Blobs come with their manifest (a Wasm package is one layer), so a blob read never
//! goes upstream by itself.

use std::time::Duration;

use futures_util::future::BoxFuture;
use wharf_oci::{Digest, ImageIndex, ImageManifest, Reference, RepositoryName, Tag, media_types};

use super::{Registry, ServiceError};
use crate::upstream::{Upstream, UpstreamError, UpstreamManifest};

/// Referrers mirrored with a manifest, at most.
const MAX_REFERRERS: usize = 64;
/// Levels of image indexes followed (index → manifest → …).
const MAX_DEPTH: usize = 4;

/// One mirror: local repositories under `prefix` are upstream's under `upstream_prefix`.
#[derive(Clone, Debug)]
pub struct Mirror {
    /// Local repository prefix (`wasi`).
    pub prefix: String,
    /// The upstream registry.
    pub upstream: Upstream,
    /// Its `host[:port]`, for messages and the discovery document.
    pub upstream_host: String,
    /// What `prefix` stands for upstream (`webassembly/wasi`; empty: the same names).
    pub upstream_prefix: String,
    /// The `ns` (distribution-spec proxying) this mirror answers to: the upstream host.
    pub namespace: String,
    /// How long a mirrored tag is served before it is checked upstream again.
    pub tag_ttl: Duration,
}

fn join(prefix: &str, rest: &str) -> String {
    match (prefix.is_empty(), rest.is_empty()) {
        (true, _) => rest.to_owned(),
        (false, true) => prefix.to_owned(),
        (false, false) => format!("{prefix}/{rest}"),
    }
}

/// `name` without `prefix` (and its `/`), when it is under it.
fn strip<'a>(prefix: &str, name: &'a str) -> Option<&'a str> {
    if prefix.is_empty() {
        return Some(name);
    }
    match name.strip_prefix(prefix)? {
        "" => Some(""),
        rest => rest.strip_prefix('/'),
    }
}

fn upstream_error(what: &str, e: UpstreamError) -> ServiceError {
    ServiceError::Upstream(format!("{what}: {e}"))
}

impl Registry {
    /// Mirror `mirrors` (see the module documentation).
    pub fn with_mirrors(mut self, mirrors: Vec<Mirror>) -> Self {
        self.mirrors = mirrors;
        self
    }

    /// The mirrors.
    pub fn mirrors(&self) -> &[Mirror] {
        &self.mirrors
    }

    /// The mirror `repo` belongs to, and the upstream repository it copies.
    pub fn mirror_of(&self, repo: &RepositoryName) -> Option<(&Mirror, String)> {
        self.mirrors.iter().find_map(|m| {
            let rest = strip(&m.prefix, repo.as_str())?;
            Some((m, join(&m.upstream_prefix, rest)))
        })
    }

    /// The local repository that upstream repository `name` of namespace `ns` is mirrored
    /// as (distribution-spec proxying: `?ns=<upstream host>`); `None` when no mirror
    /// claims that namespace and name.
    pub fn namespace_repository(&self, ns: &str, name: &RepositoryName) -> Option<RepositoryName> {
        self.mirrors.iter().find_map(|m| {
            if m.namespace != ns {
                return None;
            }
            let rest = strip(&m.upstream_prefix, name.as_str())?;
            join(&m.prefix, rest).parse().ok()
        })
    }

    /// Mirrored repositories take no pushes or deletes.
    pub(super) fn refuse_mirrored(&self, repo: &RepositoryName) -> Result<(), ServiceError> {
        match self.mirror_of(repo) {
            Some((m, upstream)) => Err(ServiceError::MirrorReadOnly {
                repository: repo.clone(),
                upstream: format!("{}/{upstream}", m.upstream_host),
            }),
            None => Ok(()),
        }
    }

    /// Before a manifest read of `repo` by `reference`: when `repo` is mirrored, bring the
    /// manifest in from upstream if it is missing, or if its tag is older than the tag TTL.
    /// An unavailable upstream leaves what is cached to be served.
    pub(super) async fn refresh_mirrored(
        &self,
        repo: &RepositoryName,
        reference: &Reference,
    ) -> Result<(), ServiceError> {
        let Some((mirror, upstream)) = self.mirror_of(repo) else {
            return Ok(());
        };
        let what = format!("{}/{upstream}:{reference}", mirror.upstream_host);
        match reference {
            Reference::Digest(d) => {
                if self.store.has_manifest(repo, d).await? {
                    return Ok(());
                }
                match mirror.upstream.manifest(&upstream, &d.to_string()).await {
                    Ok(m) => {
                        self.mirror_manifest(mirror, repo, &upstream, None, m, 0)
                            .await
                    }
                    Err(UpstreamError::NotFound(_)) => Ok(()),
                    Err(e) => Err(upstream_error(&what, e)),
                }
            }
            Reference::Tag(tag) => {
                let local = self.store.manifest(repo, reference).await?;
                if local.is_some()
                    && let Some(at) = self.store.mirror_checked(repo, tag).await?
                    && chrono::Utc::now()
                        .signed_duration_since(at)
                        .to_std()
                        .unwrap_or_default()
                        < mirror.tag_ttl
                {
                    return Ok(());
                }
                match mirror.upstream.manifest(&upstream, tag.as_str()).await {
                    Ok(m) => {
                        if local.as_ref().map(|l| &l.digest) != Some(&m.digest) {
                            self.mirror_manifest(mirror, repo, &upstream, Some(tag), m, 0)
                                .await?;
                        }
                        self.store
                            .set_mirror_checked(repo, tag, chrono::Utc::now())
                            .await?;
                        Ok(())
                    }
                    // gone upstream: what was mirrored stays, as a cache should
                    Err(UpstreamError::NotFound(_)) => Ok(()),
                    Err(e) if local.is_some() => {
                        tracing::warn!(%repo, %tag, error = %e, "upstream unavailable; serving the mirrored copy");
                        Ok(())
                    }
                    Err(e) => Err(upstream_error(&what, e)),
                }
            }
        }
    }

    /// Store upstream manifest `m` of `upstream` in `repo` (tagged `tag`), with every blob
    /// and child manifest it references and, at the top, its referrers.
    fn mirror_manifest<'a>(
        &'a self,
        mirror: &'a Mirror,
        repo: &'a RepositoryName,
        upstream: &'a str,
        tag: Option<&'a Tag>,
        m: UpstreamManifest,
        depth: usize,
    ) -> BoxFuture<'a, Result<(), ServiceError>> {
        Box::pin(async move {
            let what = |d: &Digest| format!("{}/{upstream}@{d}", mirror.upstream_host);
            match m.media_type.as_str() {
                media_types::OCI_INDEX | media_types::DOCKER_MANIFEST_LIST => {
                    if depth >= MAX_DEPTH {
                        return Err(ServiceError::Upstream(format!(
                            "{}: image indexes nested deeper than {MAX_DEPTH}",
                            what(&m.digest)
                        )));
                    }
                    let index: ImageIndex = serde_json::from_slice(&m.bytes)
                        .map_err(|e| ServiceError::Upstream(format!("{}: {e}", what(&m.digest))))?;
                    for child in &index.manifests {
                        if self.store.has_manifest(repo, &child.digest).await? {
                            continue;
                        }
                        let cm = mirror
                            .upstream
                            .manifest(upstream, &child.digest.to_string())
                            .await
                            .map_err(|e| upstream_error(&what(&child.digest), e))?;
                        self.mirror_manifest(mirror, repo, upstream, None, cm, depth + 1)
                            .await?;
                    }
                }
                _ => {
                    let manifest = ImageManifest::from_slice(&m.bytes)
                        .map_err(|e| ServiceError::Upstream(format!("{}: {e}", what(&m.digest))))?;
                    for d in std::iter::once(&manifest.config).chain(&manifest.layers) {
                        if super::manifests::is_non_distributable(d)
                            || self.store.repository_blob(repo, &d.digest).await?.is_some()
                        {
                            continue;
                        }
                        let body = mirror
                            .upstream
                            .blob(upstream, &d.digest, d.size)
                            .await
                            .map_err(|e| upstream_error(&what(&d.digest), e))?;
                        self.store_blob(repo, &d.digest, body).await.map_err(|e| match e {
                            ServiceError::DigestMismatch { expected, actual } => {
                                ServiceError::Upstream(format!(
                                    "{}: the upstream served bytes that hash to {actual}; refused",
                                    what(&expected)
                                ))
                            }
                            other => other,
                        })?;
                    }
                }
            }
            let reference = match tag {
                Some(t) => Reference::Tag(t.clone()),
                None => Reference::Digest(m.digest.clone()),
            };
            self.store_manifest(repo, &reference, &[], Some(&m.media_type), &m.bytes)
                .await?;
            if depth == 0 {
                self.mirror_referrers(mirror, repo, upstream, &m.digest)
                    .await;
            }
            Ok(())
        })
    }

    /// Mirror the referrers of `subject` (signatures, SBOMs, attestations): best effort,
    /// a failure is logged and leaves the manifest mirrored.
    async fn mirror_referrers(
        &self,
        mirror: &Mirror,
        repo: &RepositoryName,
        upstream: &str,
        subject: &Digest,
    ) {
        let mut digests: Vec<Digest> = Vec::new();
        let listed = match mirror.upstream.referrers(upstream, subject).await {
            Ok(Some(index)) => Some(index),
            // no referrers API: the referrers tag schema
            Ok(None) => match mirror
                .upstream
                .manifest(upstream, &subject.referrers_tag())
                .await
            {
                Ok(m) => serde_json::from_slice::<ImageIndex>(&m.bytes).ok(),
                Err(_) => None,
            },
            Err(e) => {
                tracing::warn!(%repo, %subject, error = %e, "mirroring referrers failed");
                None
            }
        };
        if let Some(index) = listed {
            digests.extend(index.manifests.into_iter().map(|d| d.digest));
        }
        for d in digests.into_iter().take(MAX_REFERRERS) {
            let result = async {
                if self.store.has_manifest(repo, &d).await? {
                    return Ok(());
                }
                let m = mirror
                    .upstream
                    .manifest(upstream, &d.to_string())
                    .await
                    .map_err(|e| upstream_error(&d.to_string(), e))?;
                self.mirror_manifest(mirror, repo, upstream, None, m, 1)
                    .await
            }
            .await;
            if let Err(e) = result {
                tracing::warn!(%repo, referrer = %d, error = %e, "mirroring a referrer failed");
            }
        }
        // cosign's tag for registries without the referrers API
        if let Ok(tag) = wharf_sign::fallback_tag(subject).parse::<Tag>()
            && let Ok(m) = mirror.upstream.manifest(upstream, tag.as_str()).await
            && let Err(e) = self
                .mirror_manifest(mirror, repo, upstream, Some(&tag), m, 1)
                .await
        {
            tracing::warn!(%repo, %tag, error = %e, "mirroring cosign's signature tag failed");
        }
    }
}
