//! Skiff's store: an MVCC key-value store with etcd v3's semantics.
//!
//! This crate owns the [`Store`] trait — the subset of etcd v3's KV and Watch APIs
//! that an API server needs — and its two backends:
//!
//! * [`sqlite::SqliteStore`], embedded and the default: one SQLite file, group commit,
//!   fsync before acknowledgement, history kept for watch resumption until compaction;
//! * [`etcd::EtcdStore`], the real etcd v3 API through `etcd-client`.
//!
//! Both pass one conformance suite (`tests/conformance.rs`). The crate knows nothing
//! about Kubernetes objects: keys are strings, values are bytes.
//!
//! Revisions follow etcd exactly: one global counter that starts at 1 on an empty
//! store and grows by one per successful write; every key carries its
//! `create_revision`, `mod_revision` and `version` (writes since creation).
#![forbid(unsafe_code)]

pub mod compactor;
pub mod error;
pub mod etcd;
pub mod sqlite;
mod watch;

use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;

pub use error::{Result, StoreError};
pub use watch::{ProgressRequester, WatchStream, WatchUpdate};

/// etcd's default request size limit (`--max-request-bytes`, 1.5 MiB); Skiff holds
/// every backend to it so that objects written to one backend fit in the other.
pub const MAX_VALUE_BYTES: usize = 1536 * 1024;

/// A key, its value and its MVCC bookkeeping, as etcd's `mvccpb.KeyValue`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyValue {
    pub key: String,
    pub value: Bytes,
    /// Revision of the write that created the key (since its last deletion).
    pub create_revision: i64,
    /// Revision of the last write to the key.
    pub mod_revision: i64,
    /// Number of writes since the key was created; 1 after creation.
    pub version: i64,
}

/// Which keys a list or watch covers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyRange {
    /// Exactly one key.
    Key(String),
    /// Every key that starts with the prefix (the empty prefix covers all keys).
    Prefix(String),
}

impl KeyRange {
    pub fn contains(&self, key: &str) -> bool {
        match self {
            KeyRange::Key(k) => k == key,
            KeyRange::Prefix(p) => key.starts_with(p.as_str()),
        }
    }
}

/// A LIST: the keys under `prefix`, in key order, optionally from `start`
/// (inclusive), at a revision, at most `limit` of them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListRequest {
    pub prefix: String,
    /// First key to return (inclusive); must start with `prefix`. Continue tokens
    /// carry the key after the last one returned.
    pub start: Option<String>,
    /// Read at this revision; 0 reads the current one. Paginated lists pass the
    /// revision of their first page so that every page reads one snapshot.
    pub revision: i64,
    /// At most this many keys; 0 means no limit.
    pub limit: usize,
}

/// The answer to a [`ListRequest`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListResponse {
    pub kvs: Vec<KeyValue>,
    /// Whether keys past the returned ones remain in the range.
    pub more: bool,
    /// Number of keys in `[start, end of prefix)`, returned or not (etcd's `count`).
    pub count: i64,
    /// The revision the list was read at.
    pub revision: i64,
}

/// The result of a compare-and-swap write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The write happened at `revision`. `kv` is the new value for a create or
    /// update, and the deleted value for a delete.
    Written { revision: i64, kv: KeyValue },
    /// The compare failed and nothing was written; `current` is the key's current
    /// value (None when it does not exist), read in the same transaction.
    Failed { current: Option<KeyValue> },
}

impl Outcome {
    pub fn is_written(&self) -> bool {
        matches!(self, Outcome::Written { .. })
    }
}

/// A condition on another key that a write requires, checked in the same
/// transaction (an etcd transaction's second compare): `key` exists and was
/// last written at `mod_revision`. The API server guards a create in a
/// namespace with the namespace's key, so that nothing is created in a
/// namespace once its deletion has begun.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Guard {
    pub key: String,
    pub mod_revision: i64,
}

/// What happened to a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventType {
    Put,
    Delete,
}

/// One change, as etcd's `mvccpb.Event` with `prev_kv` requested.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub event_type: EventType,
    /// For a put, the new value. For a delete, the key with an empty value and
    /// `mod_revision` set to the deletion's revision (as etcd reports it).
    pub kv: KeyValue,
    /// The value before this event, if the key existed.
    pub prev_kv: Option<KeyValue>,
}

impl Event {
    pub fn revision(&self) -> i64 {
        self.kv.mod_revision
    }
}

/// The store: etcd v3's KV and Watch, the subset an API server uses.
///
/// Every write is a single-key compare-and-swap; a successful write is durable
/// before it returns. Watches deliver every event after their start revision in
/// revision order, without gaps or duplicates, or end with an error.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// The value of `key` at `revision` (0: current).
    async fn get(&self, key: &str, revision: i64) -> Result<(i64, Option<KeyValue>)>;

    /// The keys under a prefix; see [`ListRequest`].
    async fn list(&self, request: ListRequest) -> Result<ListResponse>;

    /// Writes `key` if it does not exist. `ttl` makes the key expire (etcd leases).
    async fn create(&self, key: &str, value: Bytes, ttl: Option<Duration>) -> Result<Outcome>;

    /// Writes `key` if it does not exist and `guard` holds.
    /// `Outcome::Failed { current: Some(..) }` reports an existing key;
    /// `Outcome::Failed { current: None }` a guard that no longer holds.
    async fn create_guarded(
        &self,
        key: &str,
        value: Bytes,
        ttl: Option<Duration>,
        guard: &Guard,
    ) -> Result<Outcome>;

    /// Writes `key` if its mod revision is `expected_mod_revision`.
    async fn update(
        &self,
        key: &str,
        value: Bytes,
        expected_mod_revision: i64,
        ttl: Option<Duration>,
    ) -> Result<Outcome>;

    /// Deletes `key` if it exists and, when given, its mod revision matches.
    async fn delete(&self, key: &str, expected_mod_revision: Option<i64>) -> Result<Outcome>;

    /// Events for `range` with revision >= `start_revision` (0: from now on),
    /// history first, then live. A start revision older than the compacted
    /// revision fails with [`StoreError::Compacted`].
    async fn watch(&self, range: KeyRange, start_revision: i64) -> Result<WatchStream>;

    /// The store's current revision.
    async fn current_revision(&self) -> Result<i64>;

    /// Forgets the history older than `revision`: reads and watches before it fail
    /// with [`StoreError::Compacted`] afterwards.
    async fn compact(&self, revision: i64) -> Result<()>;

    /// Whether the store serves: a read and, on the embedded store, a commit
    /// by its writer (a stopped writer or a full disk fails it). Bounded by
    /// the caller's timeout ([`HEALTH_TIMEOUT`] in the API server's checks).
    async fn check_health(&self) -> Result<()>;

    /// A short name for logs and metrics ("sqlite", "etcd").
    fn backend(&self) -> &'static str;
}

/// How long a health check may take before it counts as failed (upstream's
/// `--etcd-healthcheck-timeout` default).
pub const HEALTH_TIMEOUT: Duration = Duration::from_secs(2);

/// The smallest key greater than every key that starts with `prefix`
/// (etcd's `range_end` for a prefix); empty when no such key exists.
pub fn prefix_end(prefix: &str) -> Vec<u8> {
    let mut end = prefix.as_bytes().to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    Vec::new()
}

pub(crate) fn check_value(key: &str, value: &[u8]) -> Result<()> {
    if value.len() + key.len() > MAX_VALUE_BYTES {
        return Err(StoreError::ValueTooLarge {
            key: key.to_string(),
            size: value.len(),
            limit: MAX_VALUE_BYTES,
        });
    }
    if key.is_empty() {
        return Err(StoreError::InvalidKey("the key is empty".into()));
    }
    Ok(())
}
