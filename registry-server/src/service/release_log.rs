//! The release log (`wharf_sign::log`): its signed checkpoint and its C2SP tlog-tiles,
//! read from the entries and stored hashes the store appends with every tag publication,
//! move, deletion and yank.

use std::sync::Arc;

use wharf_sign::log::{LogKey, TILE_HEIGHT, TILE_WIDTH, TilePath};

use super::{Registry, ServiceError};
use crate::store::StoreError;

impl Registry {
    /// The log's signing key, created in the store on first use (named after the origin
    /// given with [`Registry::with_log_origin`]) and shared by every instance.
    pub async fn log_key(&self) -> Result<Arc<LogKey>, ServiceError> {
        let origin = self.log_origin.clone();
        let key = self
            .log_key
            .get_or_try_init(|| async {
                let (private, verifier) = self
                    .store
                    .log_key(&|| {
                        let key = LogKey::generate(&origin)
                            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                        Ok((key.private().to_owned(), key.verifier.clone()))
                    })
                    .await?;
                let key = LogKey::from_parts(private, verifier)
                    .map_err(|e| ServiceError::Internal(format!("the release log key: {e}")))?;
                Ok::<_, ServiceError>(Arc::new(key))
            })
            .await?;
        Ok(key.clone())
    }

    /// The signed checkpoint of the log as it is now (C2SP tlog-checkpoint in a signed
    /// note).
    pub async fn log_checkpoint(&self) -> Result<Vec<u8>, ServiceError> {
        let key = self.log_key().await?;
        let size = self.store.log_size().await?;
        let known = self
            .store
            .log_hashes(&wharf_sign::log::root_indexes(size))
            .await?;
        let root = wharf_sign::log::tree_root(size, &known)
            .map_err(|e| ServiceError::Internal(e.to_string()))?;
        key.sign_checkpoint(key.origin(), size, &root)
            .map_err(|e| ServiceError::Internal(e.to_string()))
    }

    /// A tile of the log by its C2SP tlog-tiles path (`tile/…`); `None` for a malformed
    /// path or a tile the log does not have (yet): a full tile exists once its last entry
    /// does, a partial one of width W while the log's last tile is at least W wide.
    pub async fn log_tile(&self, path: &str) -> Result<Option<Vec<u8>>, ServiceError> {
        let Ok(tile) = TilePath::parse(path) else {
            return Ok(None);
        };
        let size = self.store.log_size().await?;
        match tile {
            TilePath::Entries { index, width } => {
                let start = index.saturating_mul(TILE_WIDTH);
                if start.saturating_add(width) > size {
                    return Ok(None);
                }
                let entries = self.store.log_entries(start, start + width).await?;
                if entries.len() as u64 != width {
                    return Ok(None);
                }
                Ok(Some(wharf_sign::log::entry_bundle(
                    entries.iter().map(Vec::as_slice),
                )))
            }
            TilePath::Hashes {
                level,
                index,
                width,
            } => {
                // hashes at tree level 8·L: one per 256^L entries
                let at_level = size >> (u32::from(level) * u32::from(TILE_HEIGHT));
                if index.saturating_mul(TILE_WIDTH).saturating_add(width) > at_level {
                    return Ok(None);
                }
                let indexes = wharf_sign::log::tile_indexes(level, index, width);
                let known = self.store.log_hashes(&indexes).await?;
                let mut out = Vec::with_capacity(indexes.len() * 32);
                for i in &indexes {
                    let Some(h) = known.get(i) else {
                        return Ok(None);
                    };
                    out.extend_from_slice(h);
                }
                Ok(Some(out))
            }
        }
    }
}
