//! The SQLite schema, and the checks that refuse a file that is not a healthy
//! Skiff store instead of reinitializing it.
//!
//! Tables:
//! * `log`: one row per revision (the history). A put row holds the value; a
//!   delete row (a tombstone) holds none. `prev_revision` links a row to the
//!   key's previous row, for watch events' `prev_kv`.
//! * `kv`: the live keys, each pointing at its latest `log` row, with an optional
//!   expiry time (TTL).
//! * `meta`: the current revision, the compacted revision and compaction progress.

use std::path::Path;

use rusqlite::{Connection, ErrorCode, OpenFlags};

use crate::{Result, StoreError};

/// `PRAGMA application_id` of a Skiff store ("SKFF").
pub(crate) const APPLICATION_ID: i64 = 0x534B_4646;
/// `PRAGMA user_version`: the schema version this code reads and writes.
pub(crate) const SCHEMA_VERSION: i64 = 1;

const SQLITE_HEADER: &[u8; 16] = b"SQLite format 3\0";

const SCHEMA: &str = "
CREATE TABLE log (
    revision        INTEGER PRIMARY KEY,
    key             BLOB    NOT NULL,
    deleted         INTEGER NOT NULL,
    create_revision INTEGER NOT NULL,
    version         INTEGER NOT NULL,
    prev_revision   INTEGER NOT NULL,
    value           BLOB    NOT NULL
);
CREATE INDEX log_key_revision ON log (key, revision);
CREATE TABLE kv (
    key        BLOB    PRIMARY KEY,
    revision   INTEGER NOT NULL,
    expires_at INTEGER
) WITHOUT ROWID;
CREATE INDEX kv_expires_at ON kv (expires_at) WHERE expires_at IS NOT NULL;
CREATE TABLE meta (
    name  TEXT    PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO meta (name, value) VALUES
    ('revision', 1), ('compact_revision', 0), ('compact_done', 0);
";

/// Settings of every connection: WAL so readers never block the writer, and
/// `synchronous = FULL` so that a commit is fsync'd before it returns.
fn configure(conn: &Connection) -> Result<()> {
    conn.busy_timeout(std::time::Duration::from_secs(30))?;
    conn.execute_batch(
        "PRAGMA synchronous = FULL;
         PRAGMA temp_store = MEMORY;
         PRAGMA cache_size = -2048;",
    )?;
    Ok(())
}

fn bad(path: &Path, reason: impl Into<String>) -> StoreError {
    StoreError::BadDatabase {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// Opens (creating if absent or empty) the store at `path` for writing, after
/// checking that an existing file is a Skiff store in good health.
pub(crate) fn open_writer(path: &Path) -> Result<Connection> {
    let existing = match std::fs::metadata(path) {
        Ok(m) => m.len() > 0,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
        Err(e) => {
            return Err(StoreError::Io {
                context: format!("stat {}", path.display()),
                source: e,
            });
        }
    };
    if existing {
        let mut header = [0u8; 16];
        let read = std::fs::File::open(path)
            .and_then(|mut f| std::io::Read::read(&mut f, &mut header))
            .map_err(|e| StoreError::Io {
                context: format!("read {}", path.display()),
                source: e,
            })?;
        if read < 16 || &header != SQLITE_HEADER {
            return Err(bad(
                path,
                "the file is not a SQLite database (bad header); it is not a Skiff store",
            ));
        }
    }
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    let classify = |e: rusqlite::Error| match e.sqlite_error_code() {
        Some(ErrorCode::NotADatabase) | Some(ErrorCode::DatabaseCorrupt) => {
            bad(path, format!("the database is corrupt: {e}"))
        }
        _ => StoreError::Sqlite(e),
    };
    configure(&conn)?;
    let app_id: i64 = conn
        .query_row("PRAGMA application_id", [], |r| r.get(0))
        .map_err(classify)?;
    let tables: i64 = conn
        .query_row("SELECT COUNT(*) FROM sqlite_master", [], |r| r.get(0))
        .map_err(classify)?;
    if app_id == 0 && tables == 0 {
        let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(bad(
                path,
                format!("cannot enable WAL journaling (got {mode})"),
            ));
        }
        conn.execute_batch(&format!(
            "BEGIN; {SCHEMA} PRAGMA application_id = {APPLICATION_ID}; PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;"
        ))?;
        tracing::info!(path = %path.display(), "initialized a new store");
    } else if app_id != APPLICATION_ID {
        return Err(bad(
            path,
            format!(
                "a SQLite database that is not a Skiff store (application_id {app_id:#x}, {tables} schema objects)"
            ),
        ));
    } else {
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(classify)?;
        if version != SCHEMA_VERSION {
            return Err(bad(
                path,
                format!("schema version {version}, this Skiff reads version {SCHEMA_VERSION}"),
            ));
        }
        let check: String = conn
            .query_row("PRAGMA quick_check(1)", [], |r| r.get(0))
            .map_err(classify)?;
        if check != "ok" {
            return Err(bad(path, format!("the database is corrupt: {check}")));
        }
        let mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .map_err(classify)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(bad(
                path,
                format!("cannot enable WAL journaling (got {mode})"),
            ));
        }
    }
    // Checkpoints run on their own connection so that commits never wait for one.
    conn.execute_batch("PRAGMA wal_autocheckpoint = 0;")?;
    Ok(conn)
}

/// Opens a read connection to an already opened store.
pub(crate) fn open_reader(path: &Path) -> Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    configure(&conn)?;
    Ok(conn)
}

/// Opens the connection the checkpointer uses.
pub(crate) fn open_checkpointer(path: &Path) -> Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    configure(&conn)?;
    Ok(conn)
}

/// Reads an integer from `meta`.
pub(crate) fn meta(conn: &Connection, name: &str) -> rusqlite::Result<i64> {
    conn.prepare_cached("SELECT value FROM meta WHERE name = ?1")?
        .query_row([name], |r| r.get(0))
}

/// Writes an integer to `meta`.
pub(crate) fn set_meta(conn: &Connection, name: &str, value: i64) -> rusqlite::Result<()> {
    conn.prepare_cached("UPDATE meta SET value = ?2 WHERE name = ?1")?
        .execute(rusqlite::params![name, value])?;
    Ok(())
}
