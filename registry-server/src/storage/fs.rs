use std::io::SeekFrom;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use futures_util::StreamExt;
use tokio_util::io::ReaderStream;
use wharf_oci::Digest;

use super::{BlobStore, ByteRange, ByteStream, StorageError, UploadCursor, UploadId};

const CHUNK: usize = 256 * 1024;
/// Chunks of a request body queued for the file writer at most.
const WRITE_QUEUE: usize = 8;

/// Bytes read from a blob file at once when it is served (1 MiB).
const READ_PIECE: u64 = 1 << 20;

/// How long a blob file replaced by a commit is kept aside before it is removed (1 s):
/// freeing its blocks holds the filesystem journal (~20 ms per 100 MiB on ext4, more
/// with `discard`), and would stall the fsyncs of the same push's other blobs and its
/// manifest that follow within milliseconds.
const FREE_REPLACED_AFTER: std::time::Duration = std::time::Duration::from_secs(1);

/// Bytes of an upload written between two write-behind hints (8 MiB); see [`write_behind`].
const WRITE_BEHIND: u64 = 8 << 20;

/// Start writing `file`'s bytes `[from, to)` to disk now, without waiting for them, so
/// that the one `fsync` at commit finds little left to write: the disk works while the
/// rest of the body arrives. On a 100 MiB upload arriving at ~650 MiB/s, that `fsync`
/// took ~45 ms and takes ~2 ms with this hint.
///
/// Linux's `posix_fadvise(POSIX_FADV_DONTNEED)` starts writeback of the range's dirty
/// pages (`WB_SYNC_NONE`, as `sync_file_range(SYNC_FILE_RANGE_WRITE)` does, which has
/// no safe binding) and drops only pages already clean, so the bytes just written stay
/// cached. A hint: an error is ignored, and other systems do nothing.
fn write_behind(file: &std::fs::File, from: u64, to: u64) {
    #[cfg(target_os = "linux")]
    if let Some(len) = std::num::NonZeroU64::new(to.saturating_sub(from)) {
        let _ = rustix::fs::fadvise(file, from, Some(len), rustix::fs::Advice::DontNeed);
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (file, from, to);
}

/// The next `len` bytes of `file`, read on the blocking pool in [`READ_PIECE`] reads straight
/// into the buffers that are sent (no copy between a file buffer and the stream), each
/// read started as soon as the one before returns so that reading the next piece overlaps
/// sending this one. No thread is held between reads. A file that ends before `len` bytes
/// ends the stream with `UnexpectedEof`.
fn file_stream(file: std::fs::File, len: u64) -> ByteStream {
    type Pending = tokio::task::JoinHandle<(std::fs::File, std::io::Result<bytes::Bytes>)>;
    fn read_piece(file: std::fs::File, want: u64) -> Pending {
        tokio::task::spawn_blocking(move || {
            use std::io::Read as _;
            let mut piece = Vec::with_capacity(want as usize);
            let read = (&file).take(want).read_to_end(&mut piece);
            (file, read.map(|_| bytes::Bytes::from(piece)))
        })
    }
    let first = (len > 0).then(|| read_piece(file, len.min(READ_PIECE)));
    Box::pin(futures_util::stream::unfold(
        (first, len),
        |(pending, left): (Option<Pending>, u64)| async move {
            let (file, piece) = match pending?.await {
                Ok(done) => done,
                Err(e) => return Some((Err(std::io::Error::other(e)), (None, 0))),
            };
            match piece {
                Ok(piece) if piece.is_empty() => Some((
                    Err(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        format!("the blob file ended {left} bytes early"),
                    )),
                    (None, 0),
                )),
                Ok(piece) => {
                    let left = left.saturating_sub(piece.len() as u64);
                    let next = (left > 0).then(|| read_piece(file, left.min(READ_PIECE)));
                    Some((Ok(piece), (next, left)))
                }
                Err(e) => Some((Err(e), (None, 0))),
            }
        },
    ))
}

/// Blobs on a local filesystem, laid out as `docs/storage-layout.md` describes:
/// `<root>/blobs/<algorithm>/<first two hex>/<hex>` and `<root>/uploads/<uuid>`; blob files
/// replaced by a commit wait in `<root>/replaced/<uuid>` for a second before removal.
/// A blob appears only by `rename` of a fully written, fsynced upload, so a crash never
/// leaves a partial blob visible.
pub struct FsBlobStore {
    root: PathBuf,
}

fn io(action: &'static str) -> impl FnOnce(std::io::Error) -> StorageError {
    move |source| StorageError::Io { action, source }
}

impl FsBlobStore {
    /// A store under `root`, creating its directories.
    pub async fn open(root: impl Into<PathBuf>) -> Result<Self, StorageError> {
        let root = root.into();
        tokio::fs::create_dir_all(root.join("blobs"))
            .await
            .map_err(io("create blobs directory"))?;
        tokio::fs::create_dir_all(root.join("uploads"))
            .await
            .map_err(io("create uploads directory"))?;
        let store = FsBlobStore { root };
        // files set aside by a process that stopped before removing them
        let replaced = store.replaced_dir();
        for file in read_dir(&replaced).await? {
            let _ = tokio::fs::remove_file(file).await;
        }
        tokio::fs::create_dir_all(replaced)
            .await
            .map_err(io("create replaced directory"))?;
        Ok(store)
    }

    /// Every storage path is built here.
    fn blob_path(&self, digest: &Digest) -> PathBuf {
        let hex = digest.encoded();
        self.root
            .join("blobs")
            .join(digest.algorithm().as_str())
            .join(&hex[..2])
            .join(hex)
    }

    fn upload_path(&self, id: &UploadId) -> PathBuf {
        self.root.join("uploads").join(id.as_str())
    }

    /// Where blob files replaced by a commit wait before they are removed.
    fn replaced_dir(&self) -> PathBuf {
        self.root.join("replaced")
    }
}

/// The entries of `dir`; a missing directory has none.
async fn read_dir(dir: &Path) -> Result<Vec<PathBuf>, StorageError> {
    let mut entries = match tokio::fs::read_dir(dir).await {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io("list directory")(e)),
    };
    let mut out = Vec::new();
    while let Some(e) = entries.next_entry().await.map_err(io("list directory"))? {
        out.push(e.path());
    }
    Ok(out)
}

async fn size_of(path: &Path) -> Result<Option<u64>, StorageError> {
    match tokio::fs::metadata(path).await {
        Ok(m) => Ok(Some(m.len())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io("stat")(e)),
    }
}

#[async_trait]
impl BlobStore for FsBlobStore {
    async fn check_ready(&self) -> Result<(), StorageError> {
        for dir in ["blobs", "uploads"] {
            let path = self.root.join(dir);
            let meta = tokio::fs::metadata(&path)
                .await
                .map_err(|source| StorageError::Io {
                    action: "check the storage directories",
                    source,
                })?;
            if !meta.is_dir() {
                return Err(StorageError::Io {
                    action: "check the storage directories",
                    source: std::io::Error::other(format!(
                        "`{}` is not a directory",
                        path.display()
                    )),
                });
            }
        }
        Ok(())
    }

    async fn stat(&self, digest: &Digest) -> Result<Option<u64>, StorageError> {
        size_of(&self.blob_path(digest)).await
    }

    async fn read(
        &self,
        digest: &Digest,
        range: Option<ByteRange>,
    ) -> Result<(ByteStream, u64), StorageError> {
        let path = self.blob_path(digest);
        let opened = tokio::task::spawn_blocking(move || {
            let file = std::fs::File::open(&path)?;
            let size = file.metadata()?.len();
            Ok::<_, std::io::Error>((file, size))
        })
        .await
        .map_err(|e| io("open blob")(std::io::Error::other(e)))?;
        let (mut file, size) = match opened {
            Ok(opened) => opened,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(StorageError::NotFound(digest.to_string()));
            }
            Err(e) => return Err(io("open blob")(e)),
        };
        match range {
            None => Ok((file_stream(file, size), size)),
            Some(r) => {
                if r.start > r.end || r.end >= size {
                    return Err(StorageError::RangeNotSatisfiable {
                        start: r.start,
                        end: r.end,
                        size,
                    });
                }
                std::io::Seek::seek(&mut file, SeekFrom::Start(r.start))
                    .map_err(io("seek blob"))?;
                let len = r.end - r.start + 1;
                Ok((file_stream(file, len), len))
            }
        }
    }

    async fn create_upload(&self, id: &UploadId) -> Result<(), StorageError> {
        tokio::fs::File::create(self.upload_path(id))
            .await
            .map_err(io("create upload"))?;
        Ok(())
    }

    async fn append_upload(
        &self,
        id: &UploadId,
        cursor: &UploadCursor,
        mut body: ByteStream,
        _last: bool,
    ) -> Result<UploadCursor, StorageError> {
        let offset = cursor.size;
        let path = self.upload_path(id);
        let upload = id.as_str().to_owned();
        // open, lock and position the file in one trip to the blocking pool
        let file = tokio::task::spawn_blocking(move || -> Result<std::fs::File, StorageError> {
            use std::io::Seek as _;
            let file = match std::fs::OpenOptions::new().write(true).open(&path) {
                Ok(f) => f,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    return Err(StorageError::NotFound(upload));
                }
                Err(e) => return Err(io("open upload")(e)),
            };
            // one writer per upload file, also across processes sharing the directory;
            // the lock goes with the file handle, so it is released however this ends
            match file.try_lock() {
                Ok(()) => {}
                Err(std::fs::TryLockError::WouldBlock) => {
                    return Err(StorageError::Busy { id: upload, offset });
                }
                Err(std::fs::TryLockError::Error(e)) => return Err(io("lock upload")(e)),
            }
            let current = file.metadata().map_err(io("stat upload"))?.len();
            if current < offset {
                return Err(StorageError::OffsetMismatch {
                    id: upload,
                    current,
                    requested: offset,
                });
            }
            if current > offset {
                // bytes past the recorded size were never acknowledged (a request that
                // died before its size was recorded): drop them
                file.set_len(offset).map_err(io("truncate upload"))?;
            }
            let mut file = file;
            file.seek(SeekFrom::Start(offset))
                .map_err(io("seek upload"))?;
            Ok(file)
        })
        .await
        .map_err(|e| io("open upload")(std::io::Error::other(e)))??;
        // one blocking writer for the whole body, fed through a short queue: the next
        // chunk is received (and hashed by the caller's stream) while this one is written
        let (tx, mut rx) = tokio::sync::mpsc::channel::<bytes::Bytes>(WRITE_QUEUE);
        let writer = tokio::task::spawn_blocking(move || {
            use std::io::Write as _;
            let mut file = file;
            let mut written = 0u64;
            let mut hinted = 0u64;
            while let Some(chunk) = rx.blocking_recv() {
                if let Err(e) = file.write_all(&chunk) {
                    return (file, written, Some(e));
                }
                written += chunk.len() as u64;
                if written - hinted >= WRITE_BEHIND {
                    write_behind(&file, offset + hinted, offset + written);
                    hinted = written;
                }
            }
            (file, written, None)
        });
        let mut body_error = None;
        while let Some(chunk) = body.next().await {
            match chunk {
                Ok(c) => {
                    if tx.send(c).await.is_err() {
                        break; // the writer stopped: its error is reported below
                    }
                }
                Err(e) => {
                    body_error = Some(e);
                    break;
                }
            }
        }
        drop(tx);
        let (file, written, write_error) = writer
            .await
            .map_err(|e| io("write upload")(std::io::Error::other(e)))?;
        let failure = match (body_error, write_error) {
            (Some(e), _) => Some(StorageError::Body(e)),
            (None, Some(e)) => Some(io("write upload")(e)),
            (None, None) => None,
        };
        if let Some(e) = failure {
            // leave the session where it was, so the client can retry the chunk
            let _ = tokio::task::spawn_blocking(move || file.set_len(offset)).await;
            return Err(e);
        }
        Ok(UploadCursor {
            size: offset + written,
            state: None,
        })
    }

    async fn read_upload(
        &self,
        id: &UploadId,
        _cursor: &UploadCursor,
    ) -> Result<ByteStream, StorageError> {
        let file = match tokio::fs::File::open(self.upload_path(id)).await {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(StorageError::NotFound(id.as_str().to_owned()));
            }
            Err(e) => return Err(io("open upload")(e)),
        };
        Ok(Box::pin(ReaderStream::with_capacity(file, CHUNK)))
    }

    async fn commit_upload(
        &self,
        id: &UploadId,
        _cursor: &UploadCursor,
        digest: &Digest,
    ) -> Result<u64, StorageError> {
        let from = self.upload_path(id);
        let to = self.blob_path(digest);
        // The verified upload always takes the blob's place, also when a blob of that
        // digest is there already: a stored file is not trusted blindly (disk corruption, a
        // tampered file), and one fsync and a rename cost less than hashing it again.
        // Readers of the old file keep reading it; it is the same bytes when it was intact.
        let file = match tokio::fs::File::open(&from).await {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(StorageError::NotFound(id.as_str().to_owned()));
            }
            Err(e) => return Err(io("open upload")(e)),
        };
        file.sync_all().await.map_err(io("sync upload"))?;
        let size = file.metadata().await.map_err(io("stat upload"))?.len();
        drop(file);
        if let Some(dir) = to.parent() {
            tokio::fs::create_dir_all(dir)
                .await
                .map_err(io("create blob directory"))?;
        }
        // A file replaced by the rename would have its blocks freed inside the rename,
        // on the request's time (~20 ms per 100 MiB on ext4): the old file is first
        // linked aside, and that name removed after the response. One left behind by a
        // stopped process is removed when the store is opened next.
        let aside = self.replaced_dir().join(UploadId::new().as_str());
        let set_aside = tokio::fs::hard_link(&to, &aside).await.is_ok();
        if let Err(e) = tokio::fs::rename(&from, &to).await {
            if set_aside {
                let _ = tokio::fs::remove_file(&aside).await;
            }
            return Err(io("move upload into place")(e));
        }
        if let Some(dir) = to.parent()
            && let Ok(d) = tokio::fs::File::open(dir).await
        {
            let _ = d.sync_all().await;
        }
        if set_aside {
            tokio::spawn(async move {
                tokio::time::sleep(FREE_REPLACED_AFTER).await;
                let _ = tokio::fs::remove_file(aside).await;
            });
        }
        Ok(size)
    }

    async fn delete_upload(&self, id: &UploadId, _state: Option<&str>) -> Result<(), StorageError> {
        match tokio::fs::remove_file(self.upload_path(id)).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io("delete upload")(e)),
        }
    }

    async fn delete(&self, digest: &Digest) -> Result<(), StorageError> {
        match tokio::fs::remove_file(self.blob_path(digest)).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io("delete blob")(e)),
        }
    }

    async fn list(&self) -> Result<Vec<(Digest, std::time::SystemTime)>, StorageError> {
        let mut out = Vec::new();
        for algorithm in ["sha256", "sha512"] {
            let dir = self.root.join("blobs").join(algorithm);
            for prefix in read_dir(&dir).await? {
                for file in read_dir(&prefix).await? {
                    let name = file.file_name().and_then(|n| n.to_str()).unwrap_or("");
                    // only files named by their digest count; anything else is left alone
                    if let Ok(digest) = format!("{algorithm}:{name}").parse::<Digest>()
                        && let Ok(meta) = tokio::fs::metadata(&file).await
                    {
                        out.push((digest, meta.modified().unwrap_or(std::time::UNIX_EPOCH)));
                    }
                }
            }
        }
        Ok(out)
    }

    async fn list_uploads(&self) -> Result<Vec<(UploadId, std::time::SystemTime)>, StorageError> {
        let mut out = Vec::new();
        for file in read_dir(&self.root.join("uploads")).await? {
            if let Some(id) = file
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(UploadId::parse)
                && let Ok(meta) = tokio::fs::metadata(&file).await
            {
                out.push((id, meta.modified().unwrap_or(std::time::UNIX_EPOCH)));
            }
        }
        Ok(out)
    }
}
