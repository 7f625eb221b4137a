//! Reads: a small pool of read-only connections, each query in one read
//! transaction so that a result and the revision it reports are one snapshot.
//! WAL mode lets these run while the writer commits.

use std::path::Path;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use rusqlite::{Connection, OptionalExtension, Row};

use super::schema;
use crate::{
    Event, EventType, KeyRange, KeyValue, ListRequest, ListResponse, Result, StoreError, prefix_end,
};

/// The read connection pool.
pub(crate) struct Readers {
    idle: Mutex<Vec<Connection>>,
    path: std::path::PathBuf,
}

/// The revisions a read transaction sees.
struct Snapshot {
    revision: i64,
    compact_revision: i64,
}

impl Readers {
    pub(crate) fn new(path: &Path, size: usize) -> Result<Arc<Self>> {
        let mut idle = Vec::with_capacity(size);
        for _ in 0..size {
            idle.push(schema::open_reader(path)?);
        }
        Ok(Arc::new(Readers {
            idle: Mutex::new(idle),
            path: path.to_path_buf(),
        }))
    }

    /// Runs `f` on a pooled connection inside a read transaction, on the blocking pool.
    pub(crate) async fn run<T: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let this = self.clone();
        tokio::task::spawn_blocking(move || {
            let pooled = this.idle.lock().expect("reader pool poisoned").pop();
            let mut conn = match pooled {
                Some(c) => c,
                None => schema::open_reader(&this.path)?,
            };
            let result = (|| {
                let tx = conn.transaction()?;
                let out = f(&tx);
                tx.finish()?;
                out
            })();
            this.idle.lock().expect("reader pool poisoned").push(conn);
            result
        })
        .await
        .map_err(|e| StoreError::Closed(format!("read task failed: {e}")))?
    }
}

fn snapshot(tx: &Connection) -> Result<Snapshot> {
    Ok(Snapshot {
        revision: schema::meta(tx, "revision")?,
        compact_revision: schema::meta(tx, "compact_revision")?,
    })
}

/// Resolves a requested read revision (0: current) against the snapshot.
fn read_revision(snap: &Snapshot, requested: i64) -> Result<i64> {
    if requested <= 0 {
        return Ok(snap.revision);
    }
    if requested > snap.revision {
        return Err(StoreError::FutureRevision {
            requested,
            current: snap.revision,
        });
    }
    if requested < snap.compact_revision {
        return Err(StoreError::Compacted {
            requested,
            compact_revision: snap.compact_revision,
        });
    }
    Ok(requested)
}

pub(crate) fn key_string(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// Maps `key, value, create_revision, revision, version` columns.
fn kv_from_row(row: &Row<'_>) -> rusqlite::Result<KeyValue> {
    Ok(KeyValue {
        key: key_string(row.get(0)?),
        value: Bytes::from(row.get::<_, Vec<u8>>(1)?),
        create_revision: row.get(2)?,
        mod_revision: row.get(3)?,
        version: row.get(4)?,
    })
}

/// The bounds of a key range as byte strings; an empty end means unbounded.
fn bounds(prefix: &str, start: Option<&str>) -> (Vec<u8>, Vec<u8>) {
    let begin = match start {
        Some(s) if s.as_bytes() > prefix.as_bytes() => s.as_bytes().to_vec(),
        _ => prefix.as_bytes().to_vec(),
    };
    (begin, prefix_end(prefix))
}

/// The value of one key at a revision.
pub(crate) fn get(tx: &Connection, key: &str, revision: i64) -> Result<(i64, Option<KeyValue>)> {
    let snap = snapshot(tx)?;
    let rev = read_revision(&snap, revision)?;
    let kv = if rev == snap.revision {
        tx.prepare_cached(
            "SELECT l.key, l.value, l.create_revision, l.revision, l.version
             FROM kv k JOIN log l ON l.revision = k.revision WHERE k.key = ?1",
        )?
        .query_row([key.as_bytes()], kv_from_row)
        .optional()?
    } else {
        tx.prepare_cached(
            "SELECT l.key, l.value, l.create_revision, l.revision, l.version, l.deleted
             FROM log l WHERE l.key = ?1 AND l.revision <= ?2 ORDER BY l.revision DESC LIMIT 1",
        )?
        .query_row(rusqlite::params![key.as_bytes(), rev], |r| {
            Ok((kv_from_row(r)?, r.get::<_, bool>(5)?))
        })
        .optional()?
        .and_then(|(kv, deleted)| (!deleted).then_some(kv))
    };
    Ok((rev, kv))
}

/// A page of keys under a prefix at a revision.
pub(crate) fn list(tx: &Connection, req: &ListRequest) -> Result<ListResponse> {
    let snap = snapshot(tx)?;
    let rev = read_revision(&snap, req.revision)?;
    let (begin, end) = bounds(&req.prefix, req.start.as_deref());
    let limit: i64 = if req.limit == 0 {
        -1
    } else {
        req.limit as i64 + 1
    };
    let unbounded = end.is_empty();
    let (mut kvs, count) = if rev == snap.revision {
        let mut stmt = tx.prepare_cached(
            "SELECT l.key, l.value, l.create_revision, l.revision, l.version
             FROM kv k JOIN log l ON l.revision = k.revision
             WHERE k.key >= ?1 AND (?3 OR k.key < ?2) ORDER BY k.key LIMIT ?4",
        )?;
        let kvs = stmt
            .query_map(rusqlite::params![begin, end, unbounded, limit], kv_from_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let count: i64 = tx
            .prepare_cached("SELECT COUNT(*) FROM kv WHERE key >= ?1 AND (?3 OR key < ?2)")?
            .query_row(rusqlite::params![begin, end, unbounded], |r| r.get(0))?;
        (kvs, count)
    } else {
        const AT: &str = "FROM log l
             WHERE l.key >= ?1 AND (?3 OR l.key < ?2) AND l.revision <= ?4 AND l.deleted = 0
               AND l.revision = (SELECT MAX(m.revision) FROM log m WHERE m.key = l.key AND m.revision <= ?4)";
        let mut stmt = tx.prepare_cached(&format!(
            "SELECT l.key, l.value, l.create_revision, l.revision, l.version {AT} ORDER BY l.key LIMIT ?5"
        ))?;
        let kvs = stmt
            .query_map(
                rusqlite::params![begin, end, unbounded, rev, limit],
                kv_from_row,
            )?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let count: i64 = tx
            .prepare_cached(&format!("SELECT COUNT(*) {AT}"))?
            .query_row(rusqlite::params![begin, end, unbounded, rev], |r| r.get(0))?;
        (kvs, count)
    };
    let more = req.limit != 0 && kvs.len() > req.limit;
    kvs.truncate(if req.limit == 0 { kvs.len() } else { req.limit });
    Ok(ListResponse {
        kvs,
        more,
        count,
        revision: rev,
    })
}

/// Up to `page` events of `range` with revision >= `from`, for a watch catching up.
/// Fails with `Compacted` when `from` is older than the compacted revision.
pub(crate) fn history(
    tx: &Connection,
    range: &KeyRange,
    from: i64,
    page: i64,
) -> Result<Vec<Event>> {
    let snap = snapshot(tx)?;
    if from < snap.compact_revision {
        return Err(StoreError::Compacted {
            requested: from,
            compact_revision: snap.compact_revision,
        });
    }
    let (begin, end, exact) = match range {
        KeyRange::Key(k) => (k.as_bytes().to_vec(), Vec::new(), true),
        KeyRange::Prefix(p) => (p.as_bytes().to_vec(), prefix_end(p), false),
    };
    let unbounded = end.is_empty();
    let mut stmt = tx.prepare_cached(
        "SELECT l.key, l.value, l.create_revision, l.revision, l.version, l.deleted,
                p.value, p.create_revision, p.revision, p.version
         FROM log l LEFT JOIN log p ON p.revision = l.prev_revision AND l.prev_revision > 0
         WHERE l.revision >= ?1
           AND ((?5 AND l.key = ?2) OR (NOT ?5 AND l.key >= ?2 AND (?4 OR l.key < ?3)))
         ORDER BY l.revision LIMIT ?6",
    )?;
    let rows = stmt.query_map(
        rusqlite::params![from, begin, end, unbounded, exact, page],
        |r| {
            let kv = kv_from_row(r)?;
            let deleted: bool = r.get(5)?;
            let prev_kv = match r.get::<_, Option<i64>>(8)? {
                Some(mod_revision) => Some(KeyValue {
                    key: kv.key.clone(),
                    value: Bytes::from(r.get::<_, Vec<u8>>(6)?),
                    create_revision: r.get(7)?,
                    mod_revision,
                    version: r.get(9)?,
                }),
                None => None,
            };
            Ok(event(kv, deleted, prev_kv))
        },
    )?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}

/// Builds an event from a log row; a tombstone reports an empty key like etcd.
pub(crate) fn event(kv: KeyValue, deleted: bool, prev_kv: Option<KeyValue>) -> Event {
    if deleted {
        Event {
            event_type: EventType::Delete,
            kv: KeyValue {
                value: Bytes::new(),
                create_revision: 0,
                version: 0,
                ..kv
            },
            prev_kv,
        }
    } else {
        Event {
            event_type: EventType::Put,
            kv,
            prev_kv,
        }
    }
}
