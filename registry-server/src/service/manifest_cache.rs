//! Hot manifests served from memory: a bounded cache (quick_cache, weighed by bytes) of
//! what a `(repository, tag or digest)` read found, so a manifest pulled again and again
//! costs no database round trip.
//!
//! Correctness: every change to a repository's manifests or tags (a push, a delete, a tag
//! move, a garbage-collection pass) drops that repository's entries, and a read that
//! raced with a change does not put what it read into the cache (a generation counter,
//! bumped by every change, is compared before and after the database read). Across
//! instances sharing PostgreSQL the same drops arrive as notifications
//! (`LISTEN wharf_manifests`, sent in the transaction of the change); when the listening
//! connection is lost the whole cache is dropped, as notifications may have been missed.
//! With SQLite the registry is one process, so its own changes are all there are.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use wharf_oci::{Reference, RepositoryName};

use crate::store::{ManifestChange, StoredManifest};

/// Bytes of manifests kept at most.
const CAPACITY_BYTES: u64 = 64 * 1024 * 1024;
/// Entries kept at most (an estimate for sizing; the byte budget rules).
const CAPACITY_ITEMS: usize = 16 * 1024;

#[derive(Clone)]
struct Weigh;

impl quick_cache::Weighter<(RepositoryName, Reference), Arc<StoredManifest>> for Weigh {
    fn weight(&self, _key: &(RepositoryName, Reference), m: &Arc<StoredManifest>) -> u64 {
        m.content.len() as u64 + 128
    }
}

/// The cache (see the module documentation).
pub struct ManifestCache {
    entries: quick_cache::sync::Cache<(RepositoryName, Reference), Arc<StoredManifest>, Weigh>,
    generation: AtomicU64,
    /// Held shared by an insert (its generation check and the insert), exclusively by an
    /// invalidation, so no stale read lands between the two.
    gate: std::sync::RwLock<()>,
}

impl Default for ManifestCache {
    fn default() -> Self {
        ManifestCache {
            entries: quick_cache::sync::Cache::with_weighter(CAPACITY_ITEMS, CAPACITY_BYTES, Weigh),
            generation: AtomicU64::new(0),
            gate: std::sync::RwLock::new(()),
        }
    }
}

impl ManifestCache {
    /// What is cached for `reference` of `repo`.
    pub fn get(&self, repo: &RepositoryName, reference: &Reference) -> Option<Arc<StoredManifest>> {
        self.entries.get(&(repo.clone(), reference.clone()))
    }

    /// The generation before a database read; pass it to [`Self::insert`].
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Keep what a read found, unless something changed since `generation`.
    pub fn insert(
        &self,
        generation: u64,
        repo: &RepositoryName,
        reference: &Reference,
        m: Arc<StoredManifest>,
    ) {
        let Ok(_open) = self.gate.read() else { return };
        if self.generation() == generation {
            self.entries.insert((repo.clone(), reference.clone()), m);
        }
    }

    /// Forget what `change` may have made stale.
    pub fn invalidate(&self, change: &ManifestChange) {
        let _closed = self.gate.write();
        self.generation.fetch_add(1, Ordering::AcqRel);
        match change {
            ManifestChange::All => self.entries.clear(),
            ManifestChange::Repository(repo) => self.entries.retain(|(r, _), _| r != repo),
        }
    }
}
