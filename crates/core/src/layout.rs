//! OCI image layout directories (OCI image-layout spec v1.1: `oci-layout`, `index.json`,
//! `blobs/<alg>/<hex>`), the form skopeo (`oci:DIR[:TAG]`), ORAS (`--oci-layout`) and
//! `wharf copy` carry artifacts in where no registry is reachable.
//!
//! Tags are `index.json` entries annotated `org.opencontainers.image.ref.name`. A layout has
//! no referrers API: wharf lists every referrer it writes in `index.json` without a tag, and
//! finds the referrers of a subject by reading the manifests `index.json` lists (what
//! `oras cp -r --to-oci-layout` and regclient do too). Everything read is checked against
//! its digest; blobs and `index.json` are written beside their final name and renamed into
//! place, so an interrupted copy leaves a valid layout; writers of one layout take
//! `index.json.lock` while they change `index.json`.

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use wharf_oci::{Descriptor, Digest, ImageIndex, media_types};

/// The annotation that names a tag in `index.json` (OCI image-spec, annotations).
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";
/// Largest manifest read from a layout (as registries bound manifests): 4 MiB.
pub const MAX_MANIFEST: u64 = 4 << 20;

/// An OCI image layout directory.
#[derive(Clone, Debug)]
pub struct OciLayout {
    root: PathBuf,
}

/// A manifest read from a layout, checked against its digest.
#[derive(Clone, Debug)]
pub struct LayoutManifest {
    /// Its digest.
    pub digest: Digest,
    /// Its media type (from its descriptor, else its `mediaType` field).
    pub media_type: String,
    /// Its bytes.
    pub bytes: Vec<u8>,
}

impl OciLayout {
    /// An existing layout at `root`.
    ///
    /// # Errors
    /// `root` has no `oci-layout` file naming a supported version (1.x).
    pub fn open(root: &Path) -> anyhow::Result<Self> {
        let marker = root.join("oci-layout");
        let text = std::fs::read_to_string(&marker).with_context(|| {
            format!(
                "`{}` is not an OCI image layout (no readable `oci-layout` file)",
                root.display()
            )
        })?;
        let version = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| v["imageLayoutVersion"].as_str().map(str::to_owned))
            .unwrap_or_default();
        if !version.starts_with("1.") {
            bail!(
                "`{}` has image layout version `{version}`; 1.x is supported",
                marker.display()
            );
        }
        Ok(OciLayout {
            root: root.to_owned(),
        })
    }

    /// The layout at `root`, created (directory, `oci-layout`, an empty `index.json`)
    /// when missing.
    ///
    /// # Errors
    /// The directory cannot be created or written, or holds something else.
    pub fn create(root: &Path) -> anyhow::Result<Self> {
        if root.join("oci-layout").exists() {
            return Self::open(root);
        }
        if root.is_dir()
            && std::fs::read_dir(root)
                .with_context(|| format!("failed to read `{}`", root.display()))?
                .next()
                .is_some()
        {
            bail!(
                "`{}` is a directory that is neither empty nor an OCI image layout",
                root.display()
            );
        }
        std::fs::create_dir_all(root.join("blobs"))
            .with_context(|| format!("failed to create `{}`", root.display()))?;
        let layout = OciLayout {
            root: root.to_owned(),
        };
        layout.write_index(&ImageIndex::of(Vec::new()))?;
        crate::lock::write_atomically(
            &root.join("oci-layout"),
            br#"{"imageLayoutVersion":"1.0.0"}"#,
        )?;
        Ok(layout)
    }

    /// Its directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where blob `digest` is (or would be) stored.
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.root
            .join("blobs")
            .join(digest.algorithm().as_str())
            .join(digest.encoded())
    }

    /// `index.json`.
    ///
    /// # Errors
    /// It cannot be read or is not an image index.
    pub fn index(&self) -> anyhow::Result<ImageIndex> {
        let path = self.root.join("index.json");
        let bytes =
            std::fs::read(&path).with_context(|| format!("failed to read `{}`", path.display()))?;
        serde_json::from_slice(&bytes)
            .with_context(|| format!("`{}` is not an OCI image index", path.display()))
    }

    fn write_index(&self, index: &ImageIndex) -> anyhow::Result<()> {
        let mut bytes = serde_json::to_vec_pretty(index)?;
        bytes.push(b'\n');
        crate::lock::write_atomically(&self.root.join("index.json"), &bytes)
    }

    /// The `index.json` entry tagged `tag`; without a tag, the only entry that is not a
    /// referrer.
    ///
    /// # Errors
    /// No such tag (the tags there are named), or no tag given and not exactly one entry.
    pub fn resolve(&self, tag: Option<&str>) -> anyhow::Result<Descriptor> {
        let index = self.index()?;
        let tags: Vec<&str> = index.manifests.iter().filter_map(tag_of).collect();
        let found: Vec<&Descriptor> = match tag {
            Some(t) => index
                .manifests
                .iter()
                .filter(|d| tag_of(d) == Some(t))
                .collect(),
            None => index
                .manifests
                .iter()
                .filter(|d| tag_of(d).is_some() || index.manifests.len() == 1)
                .collect(),
        };
        match (found.as_slice(), tag) {
            ([one], _) => Ok((*one).clone()),
            ([], Some(t)) => bail!(
                "`{}` has no tag `{t}` (its tags: {})",
                self.root.display(),
                if tags.is_empty() {
                    "none".to_owned()
                } else {
                    tags.join(", ")
                }
            ),
            _ => bail!(
                "`{}` holds {} tagged manifests ({}): name one as oci:{}:TAG",
                self.root.display(),
                tags.len(),
                tags.join(", "),
                self.root.display()
            ),
        }
    }

    /// The entry tagged `tag`, if any.
    ///
    /// # Errors
    /// `index.json` cannot be read.
    pub fn tagged(&self, tag: &str) -> anyhow::Result<Option<Descriptor>> {
        Ok(self
            .index()?
            .manifests
            .into_iter()
            .find(|d| tag_of(d) == Some(tag)))
    }

    /// Read manifest `digest` (at most [`MAX_MANIFEST`] bytes), checked against it.
    /// `media_type` is the descriptor's when known, else the manifest's `mediaType`.
    ///
    /// # Errors
    /// The blob is missing, too large, or holds other bytes than its digest says.
    pub fn read_manifest(
        &self,
        digest: &Digest,
        media_type: Option<&str>,
    ) -> anyhow::Result<LayoutManifest> {
        let path = self.blob_path(digest);
        let file = std::fs::File::open(&path).with_context(|| {
            format!(
                "manifest {digest} is missing from `{}`",
                self.root.display()
            )
        })?;
        let mut bytes = Vec::new();
        file.take(MAX_MANIFEST + 1)
            .read_to_end(&mut bytes)
            .with_context(|| format!("failed to read `{}`", path.display()))?;
        if bytes.len() as u64 > MAX_MANIFEST {
            bail!(
                "manifest {digest} in `{}` is larger than {MAX_MANIFEST} bytes",
                self.root.display()
            );
        }
        let actual = digest.compute_same(&bytes);
        if &actual != digest {
            bail!(
                "`{}` holds other bytes than manifest {digest} (they hash to {actual})",
                path.display()
            );
        }
        let media_type = match media_type {
            Some(m) => m.to_owned(),
            None => serde_json::from_slice::<serde_json::Value>(&bytes)
                .ok()
                .and_then(|v| v["mediaType"].as_str().map(str::to_owned))
                .unwrap_or_else(|| media_types::OCI_MANIFEST.to_owned()),
        };
        Ok(LayoutManifest {
            digest: digest.clone(),
            media_type,
            bytes,
        })
    }

    /// Whether blob `desc` is stored with its size (its bytes are checked when read).
    pub fn has_blob(&self, desc: &Descriptor) -> bool {
        std::fs::metadata(self.blob_path(&desc.digest)).is_ok_and(|m| m.len() == desc.size)
    }

    /// Check that blob `desc` is stored with its size and digest (one read of the file).
    ///
    /// # Errors
    /// It is missing, or its size or digest differ (both named).
    pub fn verify_blob(&self, desc: &Descriptor) -> anyhow::Result<PathBuf> {
        let path = self.blob_path(&desc.digest);
        let mut file = std::fs::File::open(&path).with_context(|| {
            format!(
                "blob {} is missing from `{}`",
                desc.digest,
                self.root.display()
            )
        })?;
        let (actual, len) = hash_copy(&mut file, &path, None::<&mut std::fs::File>, desc)?;
        if len != desc.size || actual != desc.digest {
            bail!(
                "`{}` holds other bytes than blob {} ({len} bytes hashing to {actual}; {} bytes expected)",
                path.display(),
                desc.digest,
                desc.size
            );
        }
        Ok(path)
    }

    /// Store `bytes` (a manifest, a small blob) as blob `digest`.
    ///
    /// # Errors
    /// They hash to another digest (both named); the blob cannot be written.
    pub fn write_blob(&self, digest: &Digest, bytes: &[u8]) -> anyhow::Result<()> {
        let actual = digest.compute_same(bytes);
        if &actual != digest {
            bail!("bytes for blob {digest} hash to {actual}");
        }
        let path = self.blob_path(digest);
        if !std::fs::metadata(&path).is_ok_and(|m| m.len() == bytes.len() as u64) {
            self.prepare_blob_dir(digest)?;
            crate::lock::write_atomically(&path, bytes)?;
        }
        Ok(())
    }

    /// Create `blobs/<alg>/` for `digest`.
    ///
    /// # Errors
    /// It cannot be created.
    pub fn prepare_blob_dir(&self, digest: &Digest) -> anyhow::Result<()> {
        let dir = self.root.join("blobs").join(digest.algorithm().as_str());
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("failed to create `{}`", dir.display()))
    }

    /// Copy blob `desc` from `from`, hashing it on the way; stored only when size and
    /// digest match.
    ///
    /// # Errors
    /// The source blob is missing or holds other bytes; the copy cannot be written.
    pub fn copy_blob_from(&self, from: &OciLayout, desc: &Descriptor) -> anyhow::Result<()> {
        let src = from.blob_path(&desc.digest);
        let mut input = std::fs::File::open(&src).with_context(|| {
            format!(
                "blob {} is missing from `{}`",
                desc.digest,
                from.root.display()
            )
        })?;
        self.prepare_blob_dir(&desc.digest)?;
        let dest = self.blob_path(&desc.digest);
        let dir = dest.parent().unwrap_or(&self.root);
        let mut tmp = wharf_client::output_file_builder(".wharf-partial-")
            .tempfile_in(dir)
            .with_context(|| format!("failed to create a temporary file in `{}`", dir.display()))?;
        let (actual, len) = hash_copy(&mut input, &src, Some(tmp.as_file_mut()), desc)?;
        if len != desc.size || actual != desc.digest {
            bail!(
                "`{}` holds other bytes than blob {} (not the {} bytes its digest names)",
                src.display(),
                desc.digest,
                desc.size
            );
        }
        tmp.as_file().sync_all()?;
        tmp.persist(&dest)
            .map_err(|e| e.error)
            .with_context(|| format!("failed to write `{}`", dest.display()))?;
        Ok(())
    }

    /// List the manifest `desc` in `index.json`: under `tag` (moving the tag from any
    /// other entry), else untagged unless it is listed already.
    ///
    /// # Errors
    /// `index.json` cannot be read or written, or its lock taken.
    pub fn add_manifest(&self, desc: Descriptor, tag: Option<&str>) -> anyhow::Result<()> {
        let _lock = self.lock_index()?;
        let mut index = self.index()?;
        let mut desc = desc;
        match tag {
            Some(t) => {
                index.manifests.retain(|d| tag_of(d) != Some(t));
                // an untagged listing of the same manifest is replaced by the tagged one
                index
                    .manifests
                    .retain(|d| d.digest != desc.digest || tag_of(d).is_some());
                desc.annotations
                    .get_or_insert_with(Default::default)
                    .insert(REF_NAME.to_owned(), t.to_owned());
            }
            None => {
                if index.manifests.iter().any(|d| d.digest == desc.digest) {
                    return Ok(());
                }
            }
        }
        index.manifests.push(desc);
        self.write_index(&index)
    }

    fn lock_index(&self) -> anyhow::Result<std::fs::File> {
        let path = self.root.join("index.json.lock");
        let file = std::fs::File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .with_context(|| format!("failed to open `{}`", path.display()))?;
        file.lock()
            .with_context(|| format!("failed to lock `{}`", path.display()))?;
        Ok(file)
    }

    /// The referrers of `subject` among the manifests `index.json` lists: each one whose
    /// `subject` names it, as a descriptor with its artifact type (as the referrers API
    /// gives them).
    ///
    /// # Errors
    /// `index.json` cannot be read; a listed manifest is missing or damaged.
    pub fn referrers(&self, subject: &Digest) -> anyhow::Result<Vec<Descriptor>> {
        let mut found = Vec::new();
        for d in self.index()?.manifests {
            if d.digest == *subject {
                continue;
            }
            let m = self.read_manifest(&d.digest, Some(&d.media_type))?;
            let v: serde_json::Value = match serde_json::from_slice(&m.bytes) {
                Ok(v) => v,
                Err(_) => continue,
            };
            if v.pointer("/subject/digest").and_then(|s| s.as_str())
                != Some(subject.to_string().as_str())
            {
                continue;
            }
            let artifact_type = v["artifactType"]
                .as_str()
                .or_else(|| v.pointer("/config/mediaType").and_then(|c| c.as_str()))
                .map(str::to_owned);
            let mut r = Descriptor::new(&m.media_type, d.digest.clone(), d.size);
            r.artifact_type = artifact_type;
            r.annotations = v["annotations"]
                .as_object()
                .map(|a| {
                    a.iter()
                        .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                        .collect()
                })
                .filter(|a: &std::collections::BTreeMap<_, _>| !a.is_empty());
            found.push(r);
        }
        Ok(found)
    }
}

/// Read `input` (named `path` in errors) to its end, hashing it with `desc`'s algorithm
/// and writing it to `out` when given; stops once more than `desc.size` bytes came.
/// Returns the digest and length of what was read.
fn hash_copy(
    input: &mut impl std::io::Read,
    path: &Path,
    mut out: Option<&mut impl std::io::Write>,
    desc: &Descriptor,
) -> anyhow::Result<(Digest, u64)> {
    let mut hasher = desc.digest.hasher();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = input
            .read(&mut buf)
            .with_context(|| format!("failed to read `{}`", path.display()))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        if hasher.len() > desc.size {
            break;
        }
        if let Some(out) = out.as_mut() {
            out.write_all(&buf[..n]).context("failed to write a blob")?;
        }
    }
    Ok(hasher.finish())
}

/// The tag of an `index.json` entry.
pub fn tag_of(d: &Descriptor) -> Option<&str> {
    d.annotations.as_ref()?.get(REF_NAME).map(String::as_str)
}

/// `oci:DIR[:TAG]` (skopeo's transport syntax: the directory ends at the first `:`), as
/// the directory and the tag.
pub fn parse_layout_ref(s: &str) -> Option<(PathBuf, Option<String>)> {
    let rest = s.strip_prefix("oci:")?;
    let (dir, tag) = match rest.split_once(':') {
        Some((d, t)) => (d, Some(t.to_owned()).filter(|t| !t.is_empty())),
        None => (rest, None),
    };
    (!dir.is_empty()).then(|| (PathBuf::from(dir), tag))
}
