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

/// A key written before one compaction and deleted before the next: the
/// second compaction removes its tombstone and the put before it together,
/// so history read after the delete never shows the key again (the put once
/// stayed, the tombstone gone, and a read at a later revision found it
/// alive).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compaction_removes_a_tombstone_with_the_put_it_deletes() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.db");
    let store = SqliteStore::open(&db, SqliteOptions::default())
        .await
        .unwrap();
    let value = Bytes::from_static(b"v");
    store
        .create("/registry/k/gone", value.clone(), None)
        .await
        .unwrap();
    let other = match store
        .create("/registry/k/other", value.clone(), None)
        .await
        .unwrap()
    {
        skiff_store::Outcome::Written { revision, .. } => revision,
        o => panic!("{o:?}"),
    };
    let first = store.current_revision().await.unwrap();
    store.compact(first).await.unwrap();
    store.delete("/registry/k/gone", None).await.unwrap();
    store
        .update("/registry/k/other", Bytes::from_static(b"w"), other, None)
        .await
        .unwrap();
    let second = store.current_revision().await.unwrap();
    store.compact(second).await.unwrap();
    // Compaction runs in the background: wait until it has done `second`.
    let meta = rusqlite::Connection::open(&db).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let done: i64 = meta
            .query_row(
                "SELECT value FROM meta WHERE name = 'compact_done'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        if done >= second {
            break;
        }
        assert!(Instant::now() < deadline, "compaction stuck at {done}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (_, at_second) = store.get("/registry/k/gone", second).await.unwrap();
    assert!(
        at_second.is_none(),
        "a deleted key came back in history: {at_second:?}"
    );
    let left: i64 = meta
        .query_row("SELECT count(*) FROM log WHERE key = CAST('/registry/k/gone' AS BLOB) OR key = '/registry/k/gone'", [], |r| r.get(0))
        .unwrap();
    assert_eq!(left, 0, "rows of the deleted key remain");
    // An update after a compaction leaves no stale version behind either:
    // the next compaction past it takes the old one.
    store
        .create("/registry/k/third", value.clone(), None)
        .await
        .unwrap();
    let third = store.current_revision().await.unwrap();
    store.compact(third).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while meta
        .query_row(
            "SELECT value FROM meta WHERE name = 'compact_done'",
            [],
            |r| r.get::<_, i64>(0),
        )
        .unwrap()
        < third
    {
        assert!(Instant::now() < deadline, "compaction stuck");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let other: i64 = meta
        .query_row("SELECT count(*) FROM log WHERE key = CAST('/registry/k/other' AS BLOB) OR key = '/registry/k/other'", [], |r| r.get(0))
        .unwrap();
    assert_eq!(other, 1, "only the updated value of the other key stays");
}
