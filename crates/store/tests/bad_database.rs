//! The embedded store refuses files that are not a healthy Skiff store, with a
//! clear message, and never reinitializes them; a healthy one reopens with its
//! history.

use bytes::Bytes;
use skiff_store::sqlite::{SqliteOptions, SqliteStore};
use skiff_store::{KeyRange, Store, StoreError};

fn refused(result: Result<SqliteStore, StoreError>) -> String {
    match result {
        Err(e @ StoreError::BadDatabase { .. }) => e.to_string(),
        Err(e) => panic!("refused with the wrong error: {e}"),
        Ok(_) => panic!("opened a bad database"),
    }
}

#[tokio::test]
async fn a_file_that_is_not_sqlite_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    std::fs::write(&path, b"this is a text file, not a database\n".repeat(100)).unwrap();
    let msg = refused(SqliteStore::open(&path, SqliteOptions::default()).await);
    assert!(msg.contains("not a SQLite database"), "{msg}");
    assert!(msg.contains(&path.display().to_string()), "{msg}");
    assert_eq!(
        std::fs::read(&path).unwrap(),
        b"this is a text file, not a database\n".repeat(100),
        "file untouched"
    );
}

#[tokio::test]
async fn a_foreign_sqlite_database_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch("CREATE TABLE kine (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO kine (name) VALUES ('x');").unwrap();
    drop(conn);
    let msg = refused(SqliteStore::open(&path, SqliteOptions::default()).await);
    assert!(msg.contains("not a Skiff store"), "{msg}");
    let conn = rusqlite::Connection::open(&path).unwrap();
    let n: i64 = conn
        .query_row("SELECT COUNT(*) FROM kine", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 1, "the foreign data is untouched");
}

#[tokio::test]
async fn a_corrupt_store_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    {
        let store = SqliteStore::open(&path, SqliteOptions::default())
            .await
            .unwrap();
        for i in 0..2000 {
            store
                .create(&format!("/k/{i:05}"), Bytes::from(vec![b'v'; 300]), None)
                .await
                .unwrap();
        }
        store.close().await;
    }
    // Fold the WAL into the file, then scribble over pages in the middle.
    rusqlite::Connection::open(&path)
        .unwrap()
        .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        .unwrap();
    let mut bytes = std::fs::read(&path).unwrap();
    assert!(bytes.len() > 64 * 1024);
    let mid = bytes.len() / 2;
    for b in &mut bytes[mid..mid + 16384] {
        *b = 0xA5;
    }
    std::fs::write(&path, &bytes).unwrap();
    let msg = refused(SqliteStore::open(&path, SqliteOptions::default()).await);
    assert!(msg.contains("corrupt"), "{msg}");
}

#[tokio::test]
async fn a_store_reopens_with_its_history() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let store = SqliteStore::open(&path, SqliteOptions::default())
        .await
        .unwrap();
    store.create("/a", Bytes::from("1"), None).await.unwrap();
    store.create("/b", Bytes::from("2"), None).await.unwrap();
    store.delete("/a", None).await.unwrap();
    store.close().await;
    drop(store);
    let store = SqliteStore::open(&path, SqliteOptions::default())
        .await
        .unwrap();
    assert_eq!(store.current_revision().await.unwrap(), 4);
    let mut w = store.watch(KeyRange::Prefix("/".into()), 2).await.unwrap();
    let events = w.next_batch().await.unwrap().unwrap();
    assert_eq!(
        events.iter().map(|e| e.revision()).collect::<Vec<_>>(),
        [2, 3, 4]
    );
    assert_eq!(events[2].prev_kv.as_ref().unwrap().value, Bytes::from("1"));
}
