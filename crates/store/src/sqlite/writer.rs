//! The single writer thread: group commit, revision assignment, TTL expiry and
//! incremental compaction.
//!
//! Requests queue on a channel; the writer takes every request waiting (up to a
//! batch limit), applies them in one transaction, commits once (one fsync for the
//! whole batch), and only then answers each request and publishes the batch's
//! events to watchers. Compaction deletes history in small chunks between batches,
//! so a large compaction never holds the write lock for long.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, TryRecvError};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use rusqlite::{Connection, OptionalExtension, params};
use tokio::sync::{broadcast, oneshot};

use super::reader::key_string;
use super::schema;
use crate::{Event, EventType, Guard, KeyValue, Outcome, Result, StoreError};

/// Most requests committed in one transaction.
const MAX_BATCH: usize = 2048;
/// Most value bytes committed in one transaction.
const MAX_BATCH_BYTES: usize = 32 << 20;
/// Revisions whose history one compaction step examines.
const COMPACTION_CHUNK: i64 = 2000;
/// How often expired keys are looked for.
const TTL_SWEEP_INTERVAL: Duration = Duration::from_millis(500);

/// A write to apply.
pub(crate) enum WriteOp {
    Create {
        key: String,
        value: Bytes,
        expires_at: Option<i64>,
        /// Another key that must still be at its mod revision.
        guard: Option<Guard>,
    },
    Update {
        key: String,
        value: Bytes,
        expected: i64,
        expires_at: Option<i64>,
    },
    Delete {
        key: String,
        expected: Option<i64>,
    },
}

/// A message to the writer.
pub(crate) enum Msg {
    Write(WriteOp, oneshot::Sender<Result<Outcome>>),
    Compact(i64, oneshot::Sender<Result<()>>),
    /// Answered once the batch it arrives in has committed (a health check).
    Ping(oneshot::Sender<Result<()>>),
}

/// The events of one committed transaction, published to every watcher at once.
pub(crate) struct Batch {
    pub(crate) events: Vec<Event>,
    /// The revision of the store after the transaction.
    pub(crate) revision: i64,
    /// What its events hold in memory, roughly.
    bytes: usize,
    /// Watchers yet to take it: the writer's window lets it go once none is.
    pending: AtomicUsize,
}

impl Batch {
    /// A watcher has taken the batch.
    pub(crate) fn taken(&self) {
        let _ = self
            .pending
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
    }
}

/// State shared between the writer and the store handle.
pub(crate) struct Shared {
    pub(crate) revision: AtomicI64,
    pub(crate) compact_revision: AtomicI64,
}

pub(crate) struct Writer {
    conn: Connection,
    revision: i64,
    compact_revision: i64,
    compact_done: i64,
    shared: Arc<Shared>,
    /// Watchers are told of batches weakly: the writer's window holds each
    /// until every watcher has taken it, within `window_budget` bytes, and a
    /// watcher whose next batch has left it reads history instead. A watcher
    /// that stops reading holds nothing; with none behind, the window is
    /// empty.
    events: broadcast::Sender<Weak<Batch>>,
    window: VecDeque<Arc<Batch>>,
    window_bytes: usize,
    window_budget: usize,
    next_sweep: Instant,
}

enum Reply {
    Write(oneshot::Sender<Result<Outcome>>, Result<Outcome>),
    Compact(oneshot::Sender<Result<()>>, Result<()>),
}

pub(crate) fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl Writer {
    pub(crate) fn new(
        conn: Connection,
        shared: Arc<Shared>,
        events: broadcast::Sender<Weak<Batch>>,
        window_budget: usize,
    ) -> Result<Self> {
        let revision = schema::meta(&conn, "revision")?;
        let compact_revision = schema::meta(&conn, "compact_revision")?;
        let compact_done = schema::meta(&conn, "compact_done")?;
        shared.revision.store(revision, Ordering::SeqCst);
        shared
            .compact_revision
            .store(compact_revision, Ordering::SeqCst);
        Ok(Writer {
            conn,
            revision,
            compact_revision,
            compact_done,
            shared,
            events,
            window: VecDeque::new(),
            window_bytes: 0,
            window_budget,
            next_sweep: Instant::now(),
        })
    }

    fn compaction_pending(&self) -> bool {
        self.compact_done < self.compact_revision
    }

    /// Runs until every sender of `rx` is gone.
    pub(crate) fn run(mut self, rx: Receiver<Msg>) {
        loop {
            let first = if self.compaction_pending() {
                match rx.try_recv() {
                    Ok(m) => Some(m),
                    Err(TryRecvError::Empty) => None,
                    Err(TryRecvError::Disconnected) => break,
                }
            } else {
                match rx.recv_timeout(TTL_SWEEP_INTERVAL) {
                    Ok(m) => Some(m),
                    Err(RecvTimeoutError::Timeout) => None,
                    Err(RecvTimeoutError::Disconnected) => break,
                }
            };
            let mut batch = Vec::new();
            if let Some(m) = first {
                let mut bytes = msg_bytes(&m);
                batch.push(m);
                while batch.len() < MAX_BATCH && bytes < MAX_BATCH_BYTES {
                    match rx.try_recv() {
                        Ok(m) => {
                            bytes += msg_bytes(&m);
                            batch.push(m);
                        }
                        Err(_) => break,
                    }
                }
            }
            let expired = if Instant::now() >= self.next_sweep {
                self.next_sweep = Instant::now() + TTL_SWEEP_INTERVAL;
                self.expired_keys().unwrap_or_else(|e| {
                    tracing::warn!(error = %e, "looking for expired keys failed");
                    Vec::new()
                })
            } else {
                Vec::new()
            };
            if !batch.is_empty() || !expired.is_empty() {
                self.commit_batch(batch, expired);
            }
            self.trim_window();
            if self.compaction_pending()
                && let Err(e) = self.compaction_step()
            {
                tracing::warn!(error = %e, "compaction step failed; retrying later");
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        tracing::debug!("store writer stopped");
    }

    fn expired_keys(&self) -> rusqlite::Result<Vec<(String, i64)>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT key, revision FROM kv WHERE expires_at IS NOT NULL AND expires_at <= ?1 LIMIT 1000",
        )?;
        let rows = stmt.query_map([now_millis()], |r| Ok((key_string(r.get(0)?), r.get(1)?)))?;
        rows.collect()
    }

    /// Applies a batch in one transaction, commits it, then answers and publishes.
    fn commit_batch(&mut self, batch: Vec<Msg>, expired: Vec<(String, i64)>) {
        let start_revision = self.revision;
        let start_compact = self.compact_revision;
        let mut replies = Vec::with_capacity(batch.len());
        let mut events = Vec::new();
        let result = (|| -> Result<()> {
            self.conn.execute_batch("BEGIN IMMEDIATE")?;
            for msg in batch {
                match msg {
                    Msg::Write(op, reply) => {
                        let outcome = self.apply(op, &mut events)?;
                        replies.push(Reply::Write(reply, Ok(outcome)));
                    }
                    Msg::Compact(rev, reply) => {
                        let result = self.start_compaction(rev);
                        replies.push(Reply::Compact(reply, result));
                    }
                    Msg::Ping(reply) => replies.push(Reply::Compact(reply, Ok(()))),
                }
            }
            for (key, revision) in expired {
                // Expiry is a delete like any other: watchers see a DELETE event.
                self.apply(
                    WriteOp::Delete {
                        key,
                        expected: Some(revision),
                    },
                    &mut events,
                )?;
            }
            schema::set_meta(&self.conn, "revision", self.revision)?;
            schema::set_meta(&self.conn, "compact_revision", self.compact_revision)?;
            self.conn.execute_batch("COMMIT")?;
            Ok(())
        })();
        if let Err(e) = result {
            tracing::error!(error = %e, "store transaction failed; the batch is rolled back");
            let _ = self.conn.execute_batch("ROLLBACK");
            self.revision = start_revision;
            self.compact_revision = start_compact;
            let message = e.to_string();
            for reply in replies {
                match reply {
                    Reply::Write(tx, _) => drop(tx.send(Err(StoreError::Closed(message.clone())))),
                    Reply::Compact(tx, _) => {
                        drop(tx.send(Err(StoreError::Closed(message.clone()))))
                    }
                }
            }
            return;
        }
        if !events.is_empty() {
            self.publish(events);
        }
        // Published before the revision is: whoever reads the new revision
        // (and asks a watch for progress) finds its batch announced.
        self.shared.revision.store(self.revision, Ordering::SeqCst);
        self.shared
            .compact_revision
            .store(self.compact_revision, Ordering::SeqCst);
        for reply in replies {
            match reply {
                Reply::Write(tx, r) => drop(tx.send(r)),
                Reply::Compact(tx, r) => drop(tx.send(r)),
            }
        }
    }

    /// Announces a committed batch to every watcher (none is fine) and keeps
    /// it in the window until every watcher has taken it.
    fn publish(&mut self, events: Vec<Event>) {
        let bytes = events
            .iter()
            .map(|e| {
                e.kv.key.len()
                    + e.kv.value.len()
                    + e.prev_kv.as_ref().map_or(0, |p| p.value.len())
                    + 64
            })
            .sum();
        let batch = Arc::new(Batch {
            events,
            revision: self.revision,
            bytes,
            // Receivers subscribed now are the ones the send reaches.
            pending: AtomicUsize::new(self.events.receiver_count()),
        });
        self.window_bytes += bytes;
        self.window.push_back(batch.clone());
        let _ = self.events.send(Arc::downgrade(&batch));
        self.trim_window();
    }

    /// Lets go of the oldest batches every watcher has taken, and of any
    /// past the byte budget (but the newest).
    fn trim_window(&mut self) {
        while let Some(front) = self.window.front() {
            let over = self.window_bytes > self.window_budget && self.window.len() > 1;
            if !over && front.pending.load(Ordering::SeqCst) > 0 {
                break;
            }
            self.window_bytes -= front.bytes;
            self.window.pop_front();
        }
    }

    /// The mod revision of a live key.
    fn mod_revision(&self, key: &str) -> rusqlite::Result<Option<i64>> {
        self.conn
            .prepare_cached("SELECT revision FROM kv WHERE key = ?1")?
            .query_row([key.as_bytes()], |r| r.get(0))
            .optional()
    }

    fn current(&self, key: &str) -> rusqlite::Result<Option<KeyValue>> {
        self.conn
            .prepare_cached(
                "SELECT l.value, l.create_revision, l.revision, l.version
                 FROM kv k JOIN log l ON l.revision = k.revision WHERE k.key = ?1",
            )?
            .query_row([key.as_bytes()], |r| {
                Ok(KeyValue {
                    key: key.to_string(),
                    value: Bytes::from(r.get::<_, Vec<u8>>(0)?),
                    create_revision: r.get(1)?,
                    mod_revision: r.get(2)?,
                    version: r.get(3)?,
                })
            })
            .optional()
    }

    fn append(&self, kv: &KeyValue, deleted: bool, prev_revision: i64) -> rusqlite::Result<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO log (revision, key, deleted, create_revision, version, prev_revision, value)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute(params![
                kv.mod_revision,
                kv.key.as_bytes(),
                deleted,
                kv.create_revision,
                kv.version,
                prev_revision,
                if deleted { &[][..] } else { &kv.value[..] }
            ])?;
        Ok(())
    }

    fn apply(&mut self, op: WriteOp, events: &mut Vec<Event>) -> Result<Outcome> {
        match op {
            WriteOp::Create {
                key,
                value,
                expires_at,
                guard,
            } => {
                if let Some(current) = self.current(&key)? {
                    return Ok(Outcome::Failed {
                        current: Some(current),
                    });
                }
                if let Some(guard) = guard
                    && self.mod_revision(&guard.key)? != Some(guard.mod_revision)
                {
                    return Ok(Outcome::Failed { current: None });
                }
                let revision = self.revision + 1;
                let kv = KeyValue {
                    key,
                    value,
                    create_revision: revision,
                    mod_revision: revision,
                    version: 1,
                };
                self.append(&kv, false, 0)?;
                self.conn
                    .prepare_cached(
                        "INSERT INTO kv (key, revision, expires_at) VALUES (?1, ?2, ?3)",
                    )?
                    .execute(params![kv.key.as_bytes(), revision, expires_at])?;
                self.revision = revision;
                events.push(Event {
                    event_type: EventType::Put,
                    kv: kv.clone(),
                    prev_kv: None,
                });
                Ok(Outcome::Written { revision, kv })
            }
            WriteOp::Update {
                key,
                value,
                expected,
                expires_at,
            } => {
                let current = self.current(&key)?;
                let Some(prev) = current.filter(|c| c.mod_revision == expected) else {
                    return Ok(Outcome::Failed {
                        current: self.current(&key)?,
                    });
                };
                let revision = self.revision + 1;
                let kv = KeyValue {
                    key,
                    value,
                    create_revision: prev.create_revision,
                    mod_revision: revision,
                    version: prev.version + 1,
                };
                self.append(&kv, false, prev.mod_revision)?;
                self.conn
                    .prepare_cached("UPDATE kv SET revision = ?2, expires_at = ?3 WHERE key = ?1")?
                    .execute(params![kv.key.as_bytes(), revision, expires_at])?;
                self.revision = revision;
                events.push(Event {
                    event_type: EventType::Put,
                    kv: kv.clone(),
                    prev_kv: Some(prev),
                });
                Ok(Outcome::Written { revision, kv })
            }
            WriteOp::Delete { key, expected } => {
                let current = self.current(&key)?;
                let Some(prev) = current.filter(|c| expected.is_none_or(|e| e == c.mod_revision))
                else {
                    return Ok(Outcome::Failed {
                        current: self.current(&key)?,
                    });
                };
                let revision = self.revision + 1;
                let tombstone = KeyValue {
                    key: key.clone(),
                    value: Bytes::new(),
                    create_revision: prev.create_revision,
                    mod_revision: revision,
                    version: prev.version,
                };
                self.append(&tombstone, true, prev.mod_revision)?;
                self.conn
                    .prepare_cached("DELETE FROM kv WHERE key = ?1")?
                    .execute([key.as_bytes()])?;
                self.revision = revision;
                events.push(Event {
                    event_type: EventType::Delete,
                    kv: KeyValue {
                        key,
                        value: Bytes::new(),
                        create_revision: 0,
                        mod_revision: revision,
                        version: 0,
                    },
                    prev_kv: Some(prev.clone()),
                });
                Ok(Outcome::Written { revision, kv: prev })
            }
        }
    }

    /// Records a compaction request; the history itself goes in later steps.
    fn start_compaction(&mut self, revision: i64) -> Result<()> {
        if revision <= self.compact_revision {
            return Err(StoreError::Compacted {
                requested: revision,
                compact_revision: self.compact_revision,
            });
        }
        if revision > self.revision {
            return Err(StoreError::FutureRevision {
                requested: revision,
                current: self.revision,
            });
        }
        self.compact_revision = revision;
        Ok(())
    }

    /// Deletes the history in one window of revisions below the compacted
    /// revision: tombstones, and values superseded before it. The latest value of
    /// every key as of the compacted revision stays, for reads at that revision
    /// and for `prev_kv` of later events.
    fn compaction_step(&mut self) -> Result<()> {
        let target = self.compact_revision;
        let hi = (self.compact_done + COMPACTION_CHUNK).min(target);
        self.conn.execute_batch("BEGIN IMMEDIATE")?;
        let result = (|| -> Result<usize> {
            // A key written in this window supersedes what an earlier
            // compaction kept of it (then its latest value): that row goes
            // too, or it would stay forever — a put outliving the tombstone
            // that ends it, a stale version per update between compactions.
            let older = self
                .conn
                .prepare_cached(
                    // Driven by the window's rows (the key index finds
                    // each one's older rows), never a scan of the history.
                    "DELETE FROM log WHERE revision IN (
                        SELECT o.revision FROM log w JOIN log o
                        ON o.key = w.key AND o.revision < ?1
                        WHERE w.revision >= ?1 AND w.revision < ?2)",
                )?
                .execute(params![self.compact_done, hi])?;
            let deleted = self
                .conn
                .prepare_cached(
                    "DELETE FROM log WHERE revision >= ?1 AND revision < ?2 AND (deleted = 1 OR EXISTS (
                        SELECT 1 FROM log y WHERE y.key = log.key AND y.revision > log.revision AND y.revision < ?3))",
                )?
                .execute(params![self.compact_done, hi, target])?;
            schema::set_meta(&self.conn, "compact_done", hi)?;
            self.conn.execute_batch("COMMIT")?;
            Ok(older + deleted)
        })();
        match result {
            Ok(deleted) => {
                tracing::trace!(
                    from = self.compact_done,
                    to = hi,
                    deleted,
                    "compaction step"
                );
                self.compact_done = hi;
                Ok(())
            }
            Err(e) => {
                let _ = self.conn.execute_batch("ROLLBACK");
                Err(e)
            }
        }
    }
}

fn msg_bytes(m: &Msg) -> usize {
    match m {
        Msg::Write(WriteOp::Create { value, .. } | WriteOp::Update { value, .. }, _) => value.len(),
        _ => 0,
    }
}
