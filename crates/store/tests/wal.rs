//! The embedded store's WAL stays bounded when a reader holds an old snapshot
//! while writes go on: once the reader lets go, the checkpointer empties the
//! file (a PASSIVE checkpoint alone would leave it at its largest).

use std::time::{Duration, Instant};

use bytes::Bytes;
use skiff_store::Store;
use skiff_store::sqlite::{SqliteOptions, SqliteStore};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wal_is_emptied_after_a_long_reader() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.db");
    let store = SqliteStore::open(
        &db,
        SqliteOptions {
            checkpoint_bytes: 256 * 1024,
            ..SqliteOptions::default()
        },
    )
    .await
    .unwrap();
    let wal = dir.path().join("state.db-wal");
    let wal_size = || std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
    // A reader that keeps its snapshot while 4 MiB are written.
    let reader = rusqlite::Connection::open(&db).unwrap();
    reader.execute_batch("BEGIN").unwrap();
    let _: i64 = reader
        .query_row("SELECT count(*) FROM kv", [], |r| r.get(0))
        .unwrap();
    let value = Bytes::from(vec![b'x'; 4096]);
    for i in 0..1000 {
        store
            .create(&format!("/registry/k/{i}"), value.clone(), None)
            .await
            .unwrap();
    }
    let grown = wal_size();
    assert!(grown > 1024 * 1024, "the WAL grew to {grown} bytes");
    reader.execute_batch("COMMIT").unwrap();
    drop(reader);
    let deadline = Instant::now() + Duration::from_secs(20);
    while wal_size() > 1024 * 1024 {
        assert!(
            Instant::now() < deadline,
            "the WAL stayed at {} bytes",
            wal_size()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Nothing written was lost.
    assert_eq!(
        store
            .get("/registry/k/999", 0)
            .await
            .unwrap()
            .1
            .unwrap()
            .value,
        value
    );
}
