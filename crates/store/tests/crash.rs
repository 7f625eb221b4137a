//! Crash safety of the embedded store: a child process writes under load and is
//! killed with SIGKILL mid-write; after restart, every write it had seen
//! acknowledged must be there, revisions must keep growing, and a watch must
//! resume from the last revision seen without a gap.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use skiff_store::sqlite::{SqliteOptions, SqliteStore};
use skiff_store::{KeyRange, Outcome, Store};

const CHILD_ENV: &str = "SKIFF_CRASH_CHILD_DB";

/// The child: writes until killed, printing `ack <key> <revision>` after each
/// acknowledged write.
#[test]
#[ignore = "run by crash_safety as its child process"]
fn crash_child() {
    let Ok(path) = std::env::var(CHILD_ENV) else {
        return;
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async move {
        let store = Arc::new(
            SqliteStore::open(&path, SqliteOptions::default())
                .await
                .unwrap(),
        );
        let out = Arc::new(std::sync::Mutex::new(std::io::stdout()));
        let tasks: Vec<_> = (0..16)
            .map(|w| {
                let (store, out) = (store.clone(), out.clone());
                tokio::spawn(async move {
                    for i in 0u64.. {
                        let key = format!("/crash/{}/{w}/{i}", std::process::id());
                        let value = Bytes::from(format!("{key}-{}", "x".repeat(200)));
                        if let Outcome::Written { revision, .. } =
                            store.create(&key, value, None).await.unwrap()
                        {
                            let mut o = out.lock().unwrap();
                            writeln!(o, "ack {key} {revision}").unwrap();
                            o.flush().unwrap();
                        }
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_safety() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.db");
    let mut acked: BTreeMap<String, i64> = BTreeMap::new();
    let mut last_seen = 1;
    for round in 0..3 {
        // Kill the writer after a varying number of acknowledgements.
        let target = 300 + round * 700;
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["crash_child", "--exact", "--nocapture", "--ignored"])
            .env(CHILD_ENV, &db)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let mut round_acks = 0;
        while round_acks < target {
            let line = lines.next().expect("child stopped early").unwrap();
            if let Some((key, rev)) = parse_ack(&line) {
                acked.insert(key, rev);
                round_acks += 1;
            }
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        // Acknowledgements printed before the kill count too.
        for line in lines {
            if let Some((key, rev)) = parse_ack(&line.unwrap()) {
                acked.insert(key, rev);
            }
        }

        let store = SqliteStore::open(&db, SqliteOptions::default())
            .await
            .unwrap();
        let current = store.current_revision().await.unwrap();
        let max_acked = *acked.values().max().unwrap();
        assert!(
            current >= max_acked,
            "round {round}: revision went back: {current} < {max_acked}"
        );
        for (key, rev) in &acked {
            let kv = store
                .get(key, 0)
                .await
                .unwrap()
                .1
                .unwrap_or_else(|| panic!("acknowledged {key} lost"));
            assert_eq!(kv.create_revision, *rev, "{key}");
        }
        // A watch resumes from the last revision seen: every revision after it,
        // in order, with no gap.
        let mut w = store
            .watch(KeyRange::Prefix("/crash/".into()), last_seen + 1)
            .await
            .unwrap();
        let mut expect = last_seen + 1;
        while expect <= current {
            let batch = tokio::time::timeout(Duration::from_secs(10), w.next_batch())
                .await
                .unwrap()
                .unwrap()
                .unwrap();
            for e in batch {
                assert_eq!(
                    e.revision(),
                    expect,
                    "round {round}: gap or duplicate in the resumed watch"
                );
                if let Some(rev) = acked.get(&e.kv.key) {
                    assert_eq!(*rev, e.revision());
                }
                expect += 1;
            }
        }

        // The store keeps writing at higher revisions.
        let Outcome::Written { revision, .. } = store
            .create(&format!("/after/{round}"), Bytes::from("x"), None)
            .await
            .unwrap()
        else {
            panic!("write after restart failed")
        };
        assert_eq!(revision, current + 1);
        last_seen = revision;
        store.close().await;
    }
    assert!(
        acked.len() >= 3000,
        "only {} writes acknowledged",
        acked.len()
    );
}

fn parse_ack(line: &str) -> Option<(String, i64)> {
    let mut parts = line.strip_prefix("ack ")?.split(' ');
    Some((parts.next()?.to_string(), parts.next()?.parse().ok()?))
}
