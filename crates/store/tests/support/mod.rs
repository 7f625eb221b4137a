//! Backends for the store test suites: a fresh embedded store in a temporary
//! directory, or a fresh single-member etcd on loopback.
#![allow(dead_code)]

use std::sync::Arc;

use skiff_store::etcd::{EtcdOptions, EtcdStore};
use skiff_store::sqlite::{SqliteOptions, SqliteStore};
use skiff_store::{Event, Store, WatchStream, WatchUpdate};
use skiff_testutil::EtcdCluster;

/// A store under test and what keeps it alive.
pub struct Backend {
    pub store: Arc<dyn Store>,
    _dir: Option<tempfile::TempDir>,
    pub cluster: Option<EtcdCluster>,
}

pub async fn sqlite() -> Backend {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("state.db"), SqliteOptions::default())
        .await
        .unwrap();
    Backend {
        store: Arc::new(store),
        _dir: Some(dir),
        cluster: None,
    }
}

/// A fresh etcd, or None when etcd is not installed (never under CI).
pub async fn etcd() -> Option<Backend> {
    if !skiff_testutil::etcd_available() {
        eprintln!("etcd not installed: skipping");
        return None;
    }
    let cluster = tokio::task::spawn_blocking(|| EtcdCluster::start(1))
        .await
        .unwrap()
        .unwrap();
    // The packaged etcd (3.4.23) predates the fixes upstream requires for
    // progress requests; their path is tested all the same.
    let options = EtcdOptions {
        watch_progress: Some(true),
        ..EtcdOptions::new(cluster.endpoints())
    };
    let store = EtcdStore::connect(options).await.unwrap();
    Some(Backend {
        store: Arc::new(store),
        _dir: None,
        cluster: Some(cluster),
    })
}

/// Reads events until `n` have arrived (or fails after 10 s).
pub async fn next_events(w: &mut WatchStream, n: usize) -> Vec<Event> {
    let mut out = Vec::new();
    while out.len() < n {
        let batch = tokio::time::timeout(std::time::Duration::from_secs(10), w.next_batch())
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "timed out waiting for events: have {} of {n}: {out:?}",
                    out.len()
                )
            })
            .expect("watch ended")
            .expect("watch failed");
        assert!(!batch.is_empty(), "an empty batch");
        out.extend(batch);
    }
    out
}

/// The next update of a watch, events or progress (fails after 10 s).
pub async fn next_update(w: &mut WatchStream) -> WatchUpdate {
    tokio::time::timeout(std::time::Duration::from_secs(10), w.next_update())
        .await
        .expect("timed out waiting for an update")
        .expect("watch ended")
        .expect("watch failed")
}

/// Asserts no event arrives within a short while.
pub async fn assert_quiet(w: &mut WatchStream) {
    if let Ok(Some(b)) =
        tokio::time::timeout(std::time::Duration::from_millis(300), w.next_batch()).await
    {
        panic!("unexpected events: {b:?}");
    }
}
