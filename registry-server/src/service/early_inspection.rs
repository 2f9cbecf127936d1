//! Wasm layers validated and inspected while they upload, so that the manifest `PUT` that
//! names one does not read it back.
//!
//! An upload whose body arrives in one request from its first byte (a monolithic `PUT`, or
//! one `PATCH` then a `PUT ?digest=` with no body, as `wharf push` sends) and starts with
//! the Wasm magic (`\0asm`) has its pieces copied (reference-counted, not copied in memory)
//! to a [`StreamingInspector`] on the blocking pool as they are written. When the session is
//! committed as a digest whose size is exactly the bytes the inspector saw, the inspection
//! is kept under that digest for [`Registry::index_wasm`] to take. Anything else (a second
//! chunk, a failed request, a cancelled or expired session, an inspector that fell behind,
//! a binary it found invalid) abandons it and the manifest `PUT` reads the layer from the
//! blob store as before. The answer is the same either way: the inspector is a pure
//! function of the bytes and the digest was checked, so it is also correct on any instance
//! of a shared deployment (an instance that did not see the upload reads the layer).
//!
//! It never slows an upload: a piece the inspector is not ready for abandons the inspection
//! instead of waiting, and at most `max-concurrent-index` run at once (more uploads are not
//! inspected early); a body past `max-index-bytes` (whose manifest is refused anyway) is
//! not inspected past that size.
//!
//! [`Registry::index_wasm`]: super::Registry

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::StreamExt as _;
use tokio::task::JoinHandle;
use wharf_component::{Inspection, StreamingInspector};
use wharf_oci::Digest;

use crate::storage::{ByteStream, UploadId};

/// Pieces queued for an inspector before the inspection is abandoned.
const QUEUE: usize = 16;
/// Committed inspections kept for the manifest `PUT` that names them.
const KEPT: usize = 32;
/// A session's inspection is dropped when the session is not committed within this time.
const STALE: Duration = Duration::from_secs(600);

/// What an inspection gives [`super::Registry::index_wasm`]: as
/// [`StreamingInspector::finish`].
pub(super) type Inspected = (Inspection, Option<String>);

/// An inspection fed by an upload's body.
struct Running {
    started: Instant,
    /// Bytes handed to the inspector.
    fed: Arc<AtomicU64>,
    /// A piece was not handed over (the inspector was behind): the inspection is void.
    abandoned: Arc<AtomicBool>,
    /// The inspector, once the first piece showed a Wasm binary.
    task: Arc<Mutex<Option<JoinHandle<Option<StreamingInspector>>>>>,
}

impl Running {
    /// The inspection of exactly `size` bytes with digest `digest`, or `None` when this one
    /// did not see exactly those bytes or found them invalid.
    async fn finish(self, digest: &Digest, size: u64) -> Option<Inspected> {
        let task = self.task.lock().ok()?.take()?;
        let inspector = task.await.ok()??;
        if self.abandoned.load(Ordering::Acquire) || self.fed.load(Ordering::Acquire) != size {
            return None;
        }
        let digest = digest.clone();
        tokio::task::spawn_blocking(move || inspector.finish(digest).ok())
            .await
            .ok()?
    }
}

/// The inspections of uploads in flight and of layers committed but not yet indexed.
pub(super) struct EarlyInspections {
    /// By upload session id.
    running: Mutex<HashMap<String, Running>>,
    /// By the digest their session was committed as, newest last.
    committed: Mutex<VecDeque<(Digest, u64, Running)>>,
    /// Inspections that may run at once.
    permits: Arc<tokio::sync::Semaphore>,
    /// The largest layer inspected (`max-index-bytes`): a larger one is refused at its
    /// manifest anyway, so its inspection stops at this many bytes.
    max_bytes: u64,
}

impl EarlyInspections {
    /// At most `concurrent` inspections at once, of layers up to `max_bytes`.
    pub(super) fn new(concurrent: usize, max_bytes: u64) -> Self {
        EarlyInspections {
            running: Mutex::default(),
            committed: Mutex::default(),
            permits: Arc::new(tokio::sync::Semaphore::new(concurrent.max(1))),
            max_bytes,
        }
    }

    /// `body`, the bytes of upload `id` from its first byte, with its pieces also handed
    /// to an inspector when the first one starts a Wasm binary.
    pub(super) fn tap(&self, id: &UploadId, body: ByteStream) -> ByteStream {
        let Ok(permit) = self.permits.clone().try_acquire_owned() else {
            return body;
        };
        let running = Running {
            started: Instant::now(),
            fed: Arc::default(),
            abandoned: Arc::default(),
            task: Arc::default(),
        };
        let (fed, abandoned, slot) = (
            running.fed.clone(),
            running.abandoned.clone(),
            running.task.clone(),
        );
        if let Ok(mut map) = self.running.lock() {
            map.retain(|_, r| r.started.elapsed() < STALE);
            map.insert(id.as_str().to_owned(), running);
        }
        let mut permit = Some(permit);
        let max_bytes = self.max_bytes;
        let mut first = true;
        let mut tx: Option<tokio::sync::mpsc::Sender<Bytes>> = None;
        Box::pin(body.map(move |piece| {
            let Ok(p) = &piece else { return piece };
            if std::mem::take(&mut first) && p.starts_with(b"\0asm") {
                let (sender, rx) = tokio::sync::mpsc::channel(QUEUE);
                let held = permit.take();
                let handle = tokio::task::spawn_blocking(move || inspect(rx, held));
                if let Ok(mut s) = slot.lock() {
                    *s = Some(handle);
                }
                tx = Some(sender);
            }
            if let Some(sender) = &tx {
                let within = fed.load(Ordering::Acquire) + p.len() as u64 <= max_bytes;
                if within && sender.try_send(p.clone()).is_ok() {
                    fed.fetch_add(p.len() as u64, Ordering::AcqRel);
                } else {
                    abandoned.store(true, Ordering::Release);
                    tx = None;
                }
            } else {
                // not Wasm: no inspector, and the permit goes back at once
                permit = None;
            }
            piece
        }))
    }

    /// Upload `id` became blob `digest` of `size` bytes: its inspection, if any, is kept
    /// for the manifest that names the digest.
    pub(super) fn committed(&self, id: &UploadId, digest: &Digest, size: u64) {
        let Some(running) = self
            .running
            .lock()
            .ok()
            .and_then(|mut m| m.remove(id.as_str()))
        else {
            return;
        };
        if let Ok(mut kept) = self.committed.lock() {
            kept.retain(|(d, _, _)| d != digest);
            kept.push_back((digest.clone(), size, running));
            while kept.len() > KEPT {
                kept.pop_front();
            }
        }
    }

    /// Upload `id` failed, was cancelled, or went on in another chunk: its inspection is
    /// void.
    pub(super) fn forget(&self, id: &UploadId) {
        if let Ok(mut map) = self.running.lock() {
            map.remove(id.as_str());
        }
    }

    /// The inspection made while blob `digest` uploaded, if one was and it saw exactly its
    /// bytes.
    pub(super) async fn take(&self, digest: &Digest) -> Option<Inspected> {
        let (_, size, running) = {
            let mut kept = self.committed.lock().ok()?;
            let at = kept.iter().position(|(d, _, _)| d == digest)?;
            kept.remove(at)?
        };
        running.finish(digest, size).await
    }
}

/// Feed the pieces from `rx` to a fresh inspector until the sender is dropped; `None` when
/// they are not a valid Wasm binary so far.
fn inspect(
    mut rx: tokio::sync::mpsc::Receiver<Bytes>,
    _permit: Option<tokio::sync::OwnedSemaphorePermit>,
) -> Option<StreamingInspector> {
    let mut inspector = StreamingInspector::new("uploaded wasm layer");
    while let Some(piece) = rx.blocking_recv() {
        if inspector.feed(&piece).is_err() {
            return None;
        }
    }
    Some(inspector)
}
