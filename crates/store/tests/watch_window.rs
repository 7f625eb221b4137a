//! The embedded store keeps committed batches for its watchers within a byte
//! budget: a watcher that stops reading holds none of the values written
//! meanwhile, and when it reads again it gets every event, in order, from
//! history.

use std::time::Duration;

use bytes::Bytes;
use skiff_store::sqlite::{SqliteOptions, SqliteStore};
use skiff_store::{KeyRange, Store};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watcher_that_stops_reading_holds_no_more_than_the_budget() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(
        dir.path().join("state.db"),
        SqliteOptions {
            watch_buffer_bytes: 64 * 1024,
            ..SqliteOptions::default()
        },
    )
    .await
    .unwrap();
    let mut watch = store
        .watch(KeyRange::Prefix("/registry/".into()), 0)
        .await
        .unwrap();
    // 400 writes of 4 KiB (1.6 MiB) while the watcher reads nothing.
    let mut values = Vec::new();
    for i in 0..400 {
        let value = Bytes::from(vec![b'a' + (i % 26) as u8; 4096]);
        store
            .create(&format!("/registry/k/{i:04}"), value.clone(), None)
            .await
            .unwrap();
        values.push(value);
    }
    // Apart from the feeder's channel and the writer's window, nobody holds
    // the values: the early half is in no buffer of the store's.
    let held = values.iter_mut().filter(|v| !v.is_unique()).count();
    assert!(held < 200, "{held} of 400 values are still held");
    // Every event arrives, in order, without a gap.
    let mut next = 0;
    while next < 400 {
        let batch = tokio::time::timeout(Duration::from_secs(10), watch.next_batch())
            .await
            .expect("events")
            .expect("open")
            .expect("no error");
        for event in batch {
            assert_eq!(event.kv.key, format!("/registry/k/{next:04}"));
            assert_eq!(event.kv.value.len(), 4096);
            next += 1;
        }
    }
}
