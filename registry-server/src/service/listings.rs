//! Listings of the distribution API: a repository's tags and the `_catalog` of
//! repositories, paged in byte order.

use wharf_oci::{RepositoryName, Tag};

use super::{Registry, ServiceError};
use crate::store::{Page, Visibility};

fn truncate<T>(mut items: Vec<T>, n: u32) -> (Vec<T>, bool) {
    let more = items.len() > n as usize;
    items.truncate(n as usize);
    (items, more)
}

impl Registry {
    /// One page of `repo`'s tags; also says whether more may follow.
    pub async fn tags(
        &self,
        repo: &RepositoryName,
        n: u32,
        last: Option<&str>,
    ) -> Result<(Vec<Tag>, bool), ServiceError> {
        let tags = self
            .store
            .tags(
                repo,
                Page {
                    n: n.saturating_add(1),
                    last,
                },
            )
            .await?
            .ok_or_else(|| ServiceError::NameUnknown(repo.clone()))?;
        Ok(truncate(tags, n))
    }

    /// One page of the repository names `visible` accepts, after `last`; also says
    /// whether more may follow. Filtering comes before paging, so a page holds `n` visible
    /// names whenever that many exist and says nothing about the names it skipped (a
    /// client probing with `last=` learns only about repositories it may see).
    pub async fn catalog(
        &self,
        n: u32,
        last: Option<&str>,
        visible: &Visibility,
    ) -> Result<(Vec<RepositoryName>, bool), ServiceError> {
        let out = self
            .store
            .repositories(
                Page {
                    n: n.saturating_add(1),
                    last,
                },
                visible,
            )
            .await?;
        Ok(truncate(out, n))
    }
}
