//! Storage quotas per repository prefix (like Harbor's project quotas): the distinct blobs
//! held by repositories under the prefix, each counted once, may not exceed a number of
//! bytes. Checked when an upload starts, as its bytes arrive (so a push over the quota
//! is stopped before its bytes are kept), when it commits, and on a cross-repository
//! mount. Manifests are metadata and do not count. Pushes running at the same time are
//! each checked against the use before them, so together they may overshoot by the
//! blobs in flight.

use serde::Serialize;
use wharf_oci::{Digest, RepositoryName, under_prefix};

use super::{Registry, ServiceError};

/// One quota: repositories under `prefix` may hold at most `bytes` of blobs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Quota {
    /// Repository prefix (`team` covers `team` and `team/…`).
    pub prefix: String,
    /// Most bytes the repositories under it may hold.
    pub bytes: u64,
}

/// A quota and its use, for the JSON API and metrics.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct QuotaUsage {
    /// Repository prefix.
    pub prefix: String,
    /// The limit in bytes.
    pub limit: u64,
    /// Bytes held now (distinct blobs).
    pub used: u64,
}

impl Registry {
    /// Enforce `quotas` (see the module documentation).
    pub fn with_quotas(mut self, quotas: Vec<Quota>) -> Self {
        self.quotas = quotas;
        self
    }

    /// The quotas that cover `repo`.
    fn quotas_of<'a>(&'a self, repo: &'a RepositoryName) -> impl Iterator<Item = &'a Quota> {
        self.quotas
            .iter()
            .filter(move |q| under_prefix(&q.prefix, repo.as_str()))
    }

    /// Bytes `repo` may still add before a quota that covers it is full (`None`: no
    /// quota limits it). A quota that holds blob `expected` already (the client named the
    /// digest it sends) does not limit it. A full quota is [`ServiceError::QuotaExceeded`].
    pub(super) async fn quota_room(
        &self,
        repo: &RepositoryName,
        expected: Option<&Digest>,
    ) -> Result<Option<u64>, ServiceError> {
        let mut room: Option<u64> = None;
        for q in self.quotas_of(repo) {
            let (used, holds) = self.store.prefix_usage(&q.prefix, expected).await?;
            if holds {
                continue;
            }
            if used >= q.bytes {
                return Err(ServiceError::QuotaExceeded {
                    prefix: q.prefix.clone(),
                    limit: q.bytes,
                    used,
                    needed: 0,
                });
            }
            let left = q.bytes - used;
            room = Some(room.map_or(left, |r| r.min(left)));
        }
        Ok(room)
    }

    /// Whether blob `digest` of `size` bytes may join `repo`: a quota covering `repo` that
    /// does not hold it yet must have room for it. Without a digest (bytes still arriving),
    /// whether `size` more bytes fit.
    pub(super) async fn check_quota(
        &self,
        repo: &RepositoryName,
        digest: Option<&Digest>,
        size: u64,
    ) -> Result<(), ServiceError> {
        for q in self.quotas_of(repo) {
            let (used, holds) = self.store.prefix_usage(&q.prefix, digest).await?;
            if !holds && used.saturating_add(size) > q.bytes {
                return Err(ServiceError::QuotaExceeded {
                    prefix: q.prefix.clone(),
                    limit: q.bytes,
                    used,
                    needed: size,
                });
            }
        }
        Ok(())
    }

    /// Every quota with its use; `visible` says which prefixes the caller may see.
    pub async fn quota_usage(
        &self,
        visible: impl Fn(&str) -> bool,
    ) -> Result<Vec<QuotaUsage>, ServiceError> {
        let mut out = Vec::new();
        for q in self.quotas.iter().filter(|q| visible(&q.prefix)) {
            let (used, _) = self.store.prefix_usage(&q.prefix, None).await?;
            out.push(QuotaUsage {
                prefix: q.prefix.clone(),
                limit: q.bytes,
                used,
            });
        }
        Ok(out)
    }
}
