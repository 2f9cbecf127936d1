//! Compiled components on disk, so that a warm start loads machine code instead of
//! compiling, validating or even reading the wasm again.
//!
//! A compilation is stored as wasmtime's precompiled form (what `wasmtime compile` writes)
//! at `<dir>/<alg>-<hex>.<engine>.cwasm`: named by the digest of the wasm it was made from
//! (for a core module, the digest of the module, whose componentized form is what was
//! compiled) and by a fingerprint of the engine's configuration and wharf's version (a
//! change of either is a miss, never a load of incompatible code). A hit is loaded with
//! [`Component::deserialize_file`], which memory-maps the file: nothing is copied, and only
//! the pages the guest runs are read.
//!
//! Files are written once, beside their final name and renamed into place, and never
//! changed after: a reader sees a whole compilation or none, and a mapped file is never
//! rewritten under it. A file that wasmtime refuses to load (truncated, another engine)
//! is compiled again and replaced.
//!
//! Local files are known by their identity: `<dir>/files/<sha256 of the path>` records the
//! device, inode, size, modification and change times (nanoseconds) of a file and the
//! digest of its wasm. A file whose identity is unchanged is not read or hashed again; any
//! write to it changes its change time, which no user can set back.

use std::hash::{Hash as _, Hasher as _};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use sha2::Digest as _;
use wasmtime::Engine;
use wasmtime::component::Component;
use wharf_oci::Digest;

use crate::RuntimeError;
use crate::run::wasmtime_err;

/// The directory of compiled components of one [`Runtime`](crate::Runtime).
#[derive(Debug)]
pub(crate) struct CompiledCache {
    dir: PathBuf,
    /// Hex fingerprint of the engine's compatibility hash and wharf's version.
    engine: String,
}

impl CompiledCache {
    pub(crate) fn new(dir: &Path, engine: &Engine) -> Self {
        // SipHash with fixed keys: stable for one build, which is all a cache key needs
        #[allow(deprecated)]
        let mut h = std::hash::SipHasher::new();
        engine.precompile_compatibility_hash().hash(&mut h);
        env!("CARGO_PKG_VERSION").hash(&mut h);
        CompiledCache {
            dir: dir.to_owned(),
            engine: format!("{:016x}", h.finish()),
        }
    }

    fn path_of(&self, digest: &Digest) -> PathBuf {
        self.dir.join(format!(
            "{}-{}.{}.cwasm",
            digest.algorithm().as_str(),
            digest.encoded(),
            self.engine
        ))
    }

    /// The cached compilation of the wasm whose digest is `digest`, when there is one
    /// wasmtime accepts.
    pub(crate) fn load(&self, engine: &Engine, digest: &Digest) -> Option<Component> {
        let path = self.path_of(digest);
        if !path.is_file() {
            return None;
        }
        // SAFETY: wasmtime requires that the bytes were produced by
        // `Engine::precompile_component` of a compatible engine and are not changed while
        // mapped. This directory is wharf's own cache (the user's, as trusted as the wharf
        // binary and its configuration): files in it are written only by `store` below,
        // from the output of `precompile_component`, under a temporary name and renamed
        // into place, and never modified afterwards; the name carries the engine's
        // compatibility hash, and wasmtime checks the file's header against the engine
        // again. This is the trust `wasmtime run --allow-precompiled` and wasmtime's own
        // compilation cache place in their files.
        #[allow(unsafe_code)]
        let loaded = unsafe { Component::deserialize_file(engine, &path) };
        match loaded {
            Ok(c) => Some(c),
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "ignoring a compiled component wasmtime refused");
                None
            }
        }
    }

    /// Compile `wasm` (a component) and keep the compilation under `digest`. A cache that
    /// cannot be written is skipped with a warning: the component is still returned.
    pub(crate) fn compile_and_store(
        &self,
        engine: &Engine,
        digest: &Digest,
        wasm: &[u8],
        what: &str,
    ) -> Result<Component, RuntimeError> {
        let serialized = engine
            .precompile_component(wasm)
            .map_err(wasmtime_err(format!("failed to compile `{what}`")))?;
        if let Err(e) = self.store(digest, &serialized) {
            tracing::warn!(dir = %self.dir.display(), error = %e, "could not cache a compiled component");
        }
        // SAFETY: `serialized` is what `precompile_component` of this very engine returned
        // a moment ago, in this process's memory.
        #[allow(unsafe_code)]
        let component = unsafe { Component::deserialize(engine, &serialized) };
        component.map_err(wasmtime_err(format!(
            "failed to load the compilation of `{what}`"
        )))
    }

    fn store(&self, digest: &Digest, serialized: &[u8]) -> std::io::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        let mut tmp = tempfile::NamedTempFile::new_in(&self.dir)?;
        tmp.write_all(serialized)?;
        tmp.as_file().sync_all()?;
        tmp.persist(self.path_of(digest)).map_err(|e| e.error)?;
        Ok(())
    }

    fn identity_path(&self, path: &Path) -> Option<PathBuf> {
        let canonical = std::fs::canonicalize(path).ok()?;
        let key = sha2::Sha256::digest(canonical.as_os_str().as_encoded_bytes());
        Some(self.dir.join("files").join(hex::encode(key)))
    }

    /// The digest recorded for `path` when its identity then was `identity` (what
    /// [`file_identity`] says now).
    pub(crate) fn file_digest(&self, path: &Path, identity: &str) -> Option<Digest> {
        let record = std::fs::read_to_string(self.identity_path(path)?).ok()?;
        let (recorded, digest) = record.trim_end().rsplit_once(' ')?;
        if recorded != identity {
            return None;
        }
        digest.parse().ok()
    }

    /// Record that `path`, as it is now, holds wasm whose digest is `digest`. Best effort:
    /// a record that cannot be written only means hashing the file next time.
    pub(crate) fn remember_file(&self, path: &Path, identity: &str, digest: &Digest) {
        let Some(record) = self.identity_path(path) else {
            return;
        };
        let Some(parent) = record.parent() else {
            return;
        };
        let written = std::fs::create_dir_all(parent).and_then(|()| {
            let mut tmp = tempfile::NamedTempFile::new_in(parent)?;
            writeln!(tmp, "{identity} {digest}")?;
            tmp.persist(&record).map_err(|e| e.error).map(drop)
        });
        if let Err(e) = written {
            tracing::warn!(path = %record.display(), error = %e, "could not record a file's digest");
        }
    }
}

/// A file's identity: device, inode, size, and modification and change times in
/// nanoseconds, as text; `None` where it cannot be read (or off Unix).
pub(crate) fn file_identity(path: &Path) -> Option<String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt as _;
        let m = std::fs::metadata(path).ok()?;
        if !m.is_file() {
            return None;
        }
        Some(format!(
            "{}:{}:{}:{}.{:09}:{}.{:09}",
            m.dev(),
            m.ino(),
            m.size(),
            m.mtime(),
            m.mtime_nsec(),
            m.ctime(),
            m.ctime_nsec()
        ))
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
    }
}
