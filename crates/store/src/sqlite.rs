//! The embedded backend: one SQLite file (WAL mode) under the data directory.
//!
//! One writer thread owns the write connection and commits batches of requests
//! (group commit, one fsync per batch); a pool of read connections serves reads
//! concurrently; a checkpointer thread moves the WAL into the database file
//! without blocking commits. Watches are fed from the writer's broadcast of
//! committed batches, falling back to the `log` table when they lag.

mod reader;
mod schema;
mod watch;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use tokio::sync::{broadcast, mpsc, oneshot};

use crate::watch::AbortOnDrop;
use crate::{
    Guard, KeyRange, KeyValue, ListRequest, ListResponse, Outcome, ProgressRequester, Result,
    Store, StoreError, WatchStream, check_value,
};
use writer::{Batch, Msg, Shared, WriteOp, Writer};

/// Tuning of the embedded backend.
#[derive(Clone, Debug)]
pub struct SqliteOptions {
    /// Read connections kept open.
    pub readers: usize,
    /// Committed batches announced to watchers before a slow one falls back
    /// to reading history.
    pub watch_buffer: usize,
    /// And at most this many bytes of them kept for watchers (keys, values,
    /// previous values): a watcher that stops reading holds no more.
    pub watch_buffer_bytes: usize,
    /// The WAL size past which the checkpointer copies it into the database.
    pub checkpoint_bytes: u64,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        SqliteOptions {
            readers: 4,
            watch_buffer: 4096,
            watch_buffer_bytes: 32 << 20,
            checkpoint_bytes: 16 << 20,
        }
    }
}

/// The embedded SQLite store. Dropping it stops its threads and ends its watches.
pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    requests: Mutex<Option<std::sync::mpsc::Sender<Msg>>>,
    readers: Arc<reader::Readers>,
    events: broadcast::Sender<Weak<Batch>>,
    shared: Arc<Shared>,
    closed: Arc<AtomicBool>,
    writer: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl watch::Source for Inner {
    fn subscribe(&self) -> broadcast::Receiver<Weak<Batch>> {
        self.events.subscribe()
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.closed.store(true, Ordering::SeqCst);
    }
}

impl SqliteStore {
    /// Opens the store in `path`, creating it when the file is absent or empty.
    /// A file that is not a healthy Skiff store is refused with
    /// [`StoreError::BadDatabase`], never reinitialized.
    pub async fn open(path: impl AsRef<Path>, options: SqliteOptions) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        tokio::task::spawn_blocking(move || Self::open_blocking(&path, options))
            .await
            .map_err(|e| StoreError::Closed(format!("open task failed: {e}")))?
    }

    /// [`SqliteStore::open`] for callers outside a runtime.
    pub fn open_blocking(path: &Path, options: SqliteOptions) -> Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| StoreError::Io {
                context: format!("create {}", dir.display()),
                source: e,
            })?;
        }
        let conn = schema::open_writer(path)?;
        let shared = Arc::new(Shared {
            revision: AtomicI64::new(0),
            compact_revision: AtomicI64::new(0),
        });
        let (events, _) = broadcast::channel(options.watch_buffer.max(16));
        let writer = Writer::new(
            conn,
            shared.clone(),
            events.clone(),
            options.watch_buffer_bytes,
        )?;
        let readers = reader::Readers::new(path, options.readers.max(1))?;
        let (tx, rx) = std::sync::mpsc::channel();
        let handle = std::thread::Builder::new()
            .name("store-writer".into())
            .spawn(move || writer.run(rx))
            .map_err(|e| StoreError::Io {
                context: "spawn the store writer".into(),
                source: e,
            })?;
        let closed = Arc::new(AtomicBool::new(false));
        spawn_checkpointer(path.to_path_buf(), options.checkpoint_bytes, closed.clone())?;
        Ok(SqliteStore {
            inner: Arc::new(Inner {
                path: path.to_path_buf(),
                requests: Mutex::new(Some(tx)),
                readers,
                events,
                shared,
                closed,
                writer: Mutex::new(Some(handle)),
            }),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Stops accepting writes and waits for the writer to finish what it has.
    pub async fn close(&self) {
        self.inner.requests.lock().expect("poisoned").take();
        self.inner.closed.store(true, Ordering::SeqCst);
        let handle = self.inner.writer.lock().expect("poisoned").take();
        if let Some(h) = handle {
            let _ = tokio::task::spawn_blocking(move || h.join()).await;
        }
    }

    fn send(&self, msg: Msg) -> Result<()> {
        let guard = self.inner.requests.lock().expect("poisoned");
        let tx = guard
            .as_ref()
            .ok_or_else(|| StoreError::Closed("the store was closed".into()))?;
        tx.send(msg)
            .map_err(|_| StoreError::Closed("the store writer stopped".into()))
    }

    async fn write(&self, op: WriteOp) -> Result<Outcome> {
        let (tx, rx) = oneshot::channel();
        self.send(Msg::Write(op, tx))?;
        rx.await
            .map_err(|_| StoreError::Closed("the store writer stopped".into()))?
    }
}

fn expiry(ttl: Option<Duration>) -> Option<i64> {
    ttl.map(|t| writer::now_millis() + t.as_millis() as i64)
}

/// Copies the WAL into the database file in the background: PASSIVE past
/// `threshold` (never waits for, nor blocks, the writer or readers). Readers
/// that never let go keep it from ever reaching the WAL's end, and the file
/// would grow without bound: past four times the threshold a TRUNCATE
/// checkpoint follows, waits up to 100 ms for those readers (holding new
/// commits back meanwhile) and empties the file, backing off while they stay.
fn spawn_checkpointer(path: PathBuf, threshold: u64, closed: Arc<AtomicBool>) -> Result<()> {
    let conn = schema::open_checkpointer(&path)?;
    conn.busy_timeout(Duration::from_millis(100))?;
    let hard = threshold.saturating_mul(4);
    // Checkpoint rounds to let pass after a truncation that readers held up.
    let (mut skip, mut backoff) = (0u32, 1u32);
    let mut wal = path.clone().into_os_string();
    wal.push("-wal");
    let wal = PathBuf::from(wal);
    std::thread::Builder::new()
        .name("store-checkpoint".into())
        .spawn(move || {
            while !closed.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(200));
                let size = std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
                if size < threshold {
                    continue;
                }
                // First without blocking anyone: it does the copying.
                let passive = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
                if let Err(e) = passive {
                    tracing::warn!(error = %e, "WAL checkpoint failed");
                    continue;
                }
                if skip > 0 {
                    skip -= 1;
                    continue;
                }
                // Past the hard bound: empty the file. After the PASSIVE
                // one little is left to copy; it holds new commits back while
                // it waits for readers on old frames (100 ms at most), and
                // backs off while they stay.
                if size >= hard {
                    match conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
                        r.get::<_, i64>(0)
                    }) {
                        Ok(0) => backoff = 1,
                        Ok(_) => {
                            tracing::debug!(wal_bytes = size, "WAL truncation waits for readers");
                            skip = backoff;
                            backoff = (backoff * 2).min(64);
                        }
                        Err(e) => tracing::warn!(error = %e, "WAL truncation failed"),
                    }
                }
            }
        })
        .map_err(|e| StoreError::Io {
            context: "spawn the checkpointer".into(),
            source: e,
        })?;
    Ok(())
}

#[async_trait]
impl Store for SqliteStore {
    async fn get(&self, key: &str, revision: i64) -> Result<(i64, Option<KeyValue>)> {
        let key = key.to_string();
        self.inner
            .readers
            .run(move |tx| reader::get(tx, &key, revision))
            .await
    }

    async fn list(&self, request: ListRequest) -> Result<ListResponse> {
        self.inner
            .readers
            .run(move |tx| reader::list(tx, &request))
            .await
    }

    async fn create(&self, key: &str, value: Bytes, ttl: Option<Duration>) -> Result<Outcome> {
        check_value(key, &value)?;
        self.write(WriteOp::Create {
            key: key.to_string(),
            value,
            expires_at: expiry(ttl),
            guard: None,
        })
        .await
    }

    async fn create_guarded(
        &self,
        key: &str,
        value: Bytes,
        ttl: Option<Duration>,
        guard: &Guard,
    ) -> Result<Outcome> {
        check_value(key, &value)?;
        self.write(WriteOp::Create {
            key: key.to_string(),
            value,
            expires_at: expiry(ttl),
            guard: Some(guard.clone()),
        })
        .await
    }

    async fn update(
        &self,
        key: &str,
        value: Bytes,
        expected_mod_revision: i64,
        ttl: Option<Duration>,
    ) -> Result<Outcome> {
        check_value(key, &value)?;
        self.write(WriteOp::Update {
            key: key.to_string(),
            value,
            expected: expected_mod_revision,
            expires_at: expiry(ttl),
        })
        .await
    }

    async fn delete(&self, key: &str, expected_mod_revision: Option<i64>) -> Result<Outcome> {
        self.write(WriteOp::Delete {
            key: key.to_string(),
            expected: expected_mod_revision,
        })
        .await
    }

    async fn watch(&self, range: KeyRange, start_revision: i64) -> Result<WatchStream> {
        // Subscribe first: see the module doc of `watch`.
        let sub = self.inner.events.subscribe();
        let current = self.inner.shared.revision.load(Ordering::SeqCst);
        let compacted = self.inner.shared.compact_revision.load(Ordering::SeqCst);
        let next = if start_revision <= 0 {
            current + 1
        } else {
            start_revision
        };
        if next < compacted {
            return Err(StoreError::Compacted {
                requested: next,
                compact_revision: compacted,
            });
        }
        let (tx, rx) = mpsc::channel(64);
        let (progress, requested) = ProgressRequester::new();
        let source: Weak<dyn watch::Source> =
            Arc::downgrade(&self.inner) as Weak<dyn watch::Source>;
        let task = tokio::spawn(watch::feed(
            source,
            self.inner.readers.clone(),
            range,
            next,
            sub,
            requested,
            tx,
        ));
        Ok(WatchStream::new(rx, Some(progress)).with_guard(AbortOnDrop(task)))
    }

    async fn current_revision(&self) -> Result<i64> {
        Ok(self.inner.shared.revision.load(Ordering::SeqCst))
    }

    async fn compact(&self, revision: i64) -> Result<()> {
        let (tx, rx) = oneshot::channel();
        self.send(Msg::Compact(revision, tx))?;
        rx.await
            .map_err(|_| StoreError::Closed("the store writer stopped".into()))?
    }

    async fn check_health(&self) -> Result<()> {
        self.get("/health", 0).await?;
        let (tx, rx) = oneshot::channel();
        self.send(Msg::Ping(tx))?;
        rx.await
            .map_err(|_| StoreError::Closed("the store writer stopped".into()))?
    }

    fn backend(&self) -> &'static str {
        "sqlite"
    }
}
