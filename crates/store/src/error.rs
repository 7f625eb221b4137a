//! The store's error type, shared by every backend so that callers (the API
//! server) map each case to one HTTP answer: `Compacted` to 410 Gone,
//! `ValueTooLarge` to 413, `FutureRevision` to a retry, the rest to 500.

use std::path::PathBuf;

/// A `Result` with [`StoreError`].
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Everything a store operation can fail with.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The requested revision is older than the compacted one (etcd's ErrCompacted).
    #[error(
        "mvcc: required revision has been compacted (requested {requested}, compacted {compact_revision})"
    )]
    Compacted {
        requested: i64,
        compact_revision: i64,
    },

    /// The requested revision is newer than the store's current one.
    #[error(
        "mvcc: required revision is a future revision (requested {requested}, current {current})"
    )]
    FutureRevision { requested: i64, current: i64 },

    /// A value over etcd's request size limit.
    #[error("value for key {key:?} is {size} bytes, over the store's limit of {limit} bytes")]
    ValueTooLarge {
        key: String,
        size: usize,
        limit: usize,
    },

    /// A key the store cannot hold.
    #[error("invalid key: {0}")]
    InvalidKey(String),

    /// The database file exists but is not a healthy Skiff store; it is never
    /// reinitialized on its own.
    #[error("refusing to open {path}: {reason}")]
    BadDatabase { path: PathBuf, reason: String },

    /// The store was closed, or its writer stopped after an I/O failure.
    #[error("store is closed: {0}")]
    Closed(String),

    /// A watch fell behind and its events are no longer available.
    #[error("watch fell behind: {0}")]
    WatchLagged(String),

    /// SQLite failed.
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),

    /// etcd failed, or could not be reached.
    #[error("etcd: {0}")]
    Etcd(#[from] etcd_client::Error),

    /// A local file operation failed.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

impl StoreError {
    /// Whether the error reports compacted history (the API server answers 410 Gone).
    pub fn is_compacted(&self) -> bool {
        matches!(self, StoreError::Compacted { .. })
    }
}
