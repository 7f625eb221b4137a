//! One conformance suite, run unchanged against every backend (the embedded
//! SQLite store and a real etcd): each case below becomes `sqlite::<case>` and
//! `etcd::<case>`. The cases state etcd v3's semantics as the API server relies
//! on them.

mod support;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use skiff_store::{
    EventType, Guard, KeyRange, ListRequest, MAX_VALUE_BYTES, Outcome, Store, StoreError,
    WatchUpdate,
};
use support::{assert_quiet, next_events, next_update};

type S = Arc<dyn Store>;

fn b(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

async fn put(s: &S, key: &str, value: &str) -> i64 {
    match s.create(key, b(value), None).await.unwrap() {
        Outcome::Written { revision, .. } => revision,
        Outcome::Failed { current } => {
            let cur = current.expect("failed create reports the existing key");
            match s
                .update(key, b(value), cur.mod_revision, None)
                .await
                .unwrap()
            {
                Outcome::Written { revision, .. } => revision,
                other => panic!("update failed: {other:?}"),
            }
        }
    }
}

fn list(prefix: &str) -> ListRequest {
    ListRequest {
        prefix: prefix.into(),
        ..Default::default()
    }
}

mod cases {
    use super::*;

    pub async fn empty_store_is_at_revision_one(s: S) {
        assert_eq!(s.current_revision().await.unwrap(), 1);
        let (rev, kv) = s.get("/a", 0).await.unwrap();
        assert_eq!((rev, kv), (1, None));
    }

    pub async fn create_then_get(s: S) {
        let out = s
            .create("/registry/pods/default/p", b("v1"), None)
            .await
            .unwrap();
        let Outcome::Written { revision, kv } = out else {
            panic!("{out:?}")
        };
        assert_eq!(revision, 2);
        assert_eq!((kv.create_revision, kv.mod_revision, kv.version), (2, 2, 1));
        assert_eq!(kv.value, b("v1"));
        let (rev, got) = s.get("/registry/pods/default/p", 0).await.unwrap();
        assert_eq!(rev, 2);
        assert_eq!(got, Some(kv));
    }

    pub async fn create_existing_fails_with_current(s: S) {
        put(&s, "/k", "v1").await;
        let out = s.create("/k", b("v2"), None).await.unwrap();
        let Outcome::Failed { current: Some(cur) } = out else {
            panic!("{out:?}")
        };
        assert_eq!(cur.value, b("v1"));
        assert_eq!(cur.mod_revision, 2);
        assert_eq!(
            s.current_revision().await.unwrap(),
            2,
            "a failed compare writes nothing"
        );
    }

    pub async fn create_guarded_by_another_key(s: S) {
        let ns = put(&s, "/ns/a", "active").await;
        let guard = Guard {
            key: "/ns/a".into(),
            mod_revision: ns,
        };
        let out = s
            .create_guarded("/cm/a/x", b("1"), None, &guard)
            .await
            .unwrap();
        assert!(out.is_written(), "{out:?}");
        // An existing key is reported as for a plain create.
        let out = s
            .create_guarded("/cm/a/x", b("2"), None, &guard)
            .await
            .unwrap();
        let Outcome::Failed { current: Some(kv) } = out else {
            panic!("{out:?}")
        };
        assert_eq!(kv.value, b("1"));
        // Once the guard key is written again, nothing is created under it.
        let terminating = put(&s, "/ns/a", "terminating").await;
        let before = s.current_revision().await.unwrap();
        let out = s
            .create_guarded("/cm/a/y", b("1"), None, &guard)
            .await
            .unwrap();
        assert_eq!(out, Outcome::Failed { current: None });
        assert_eq!(s.current_revision().await.unwrap(), before);
        assert_eq!(s.get("/cm/a/y", 0).await.unwrap().1, None);
        // A deleted guard key holds no revision at all.
        s.delete("/ns/a", Some(terminating)).await.unwrap();
        let gone = Guard {
            key: "/ns/a".into(),
            mod_revision: terminating,
        };
        let out = s
            .create_guarded("/cm/a/z", b("1"), None, &gone)
            .await
            .unwrap();
        assert_eq!(out, Outcome::Failed { current: None });
    }

    pub async fn update_compares_mod_revision(s: S) {
        put(&s, "/k", "v1").await;
        let out = s.update("/k", b("v2"), 2, None).await.unwrap();
        let Outcome::Written { revision, kv } = out else {
            panic!("{out:?}")
        };
        assert_eq!(revision, 3);
        assert_eq!((kv.create_revision, kv.mod_revision, kv.version), (2, 3, 2));
        assert_eq!(kv.value, b("v2"));
        // A stale revision fails and reports the current value.
        let out = s.update("/k", b("v3"), 2, None).await.unwrap();
        let Outcome::Failed { current: Some(cur) } = out else {
            panic!("{out:?}")
        };
        assert_eq!((cur.mod_revision, cur.version, cur.value), (3, 2, b("v2")));
        // Updating a missing key fails with no current value.
        let out = s.update("/missing", b("x"), 2, None).await.unwrap();
        assert_eq!(out, Outcome::Failed { current: None });
        assert_eq!(s.current_revision().await.unwrap(), 3);
    }

    pub async fn delete_compares_and_returns_prev(s: S) {
        put(&s, "/k", "v1").await;
        put(&s, "/k", "v2").await;
        let out = s.delete("/k", Some(2)).await.unwrap();
        let Outcome::Failed { current: Some(cur) } = out else {
            panic!("{out:?}")
        };
        assert_eq!(cur.mod_revision, 3);
        let out = s.delete("/k", Some(3)).await.unwrap();
        let Outcome::Written { revision, kv } = out else {
            panic!("{out:?}")
        };
        assert_eq!(revision, 4);
        assert_eq!((kv.value, kv.mod_revision, kv.version), (b("v2"), 3, 2));
        assert_eq!(s.get("/k", 0).await.unwrap(), (4, None));
        assert_eq!(
            s.delete("/k", None).await.unwrap(),
            Outcome::Failed { current: None }
        );
        put(&s, "/j", "x").await;
        assert!(
            s.delete("/j", None).await.unwrap().is_written(),
            "an unconditional delete"
        );
    }

    pub async fn recreate_starts_a_new_generation(s: S) {
        put(&s, "/k", "v1").await;
        put(&s, "/k", "v2").await;
        s.delete("/k", None).await.unwrap();
        let Outcome::Written { kv, .. } = s.create("/k", b("v3"), None).await.unwrap() else {
            panic!()
        };
        assert_eq!((kv.create_revision, kv.mod_revision, kv.version), (5, 5, 1));
    }

    pub async fn one_global_revision_counter(s: S) {
        let mut last = s.current_revision().await.unwrap();
        for i in 0..20 {
            let rev = put(&s, &format!("/k{}", i % 3), "v").await;
            assert_eq!(rev, last + 1);
            last = rev;
        }
        assert_eq!(s.current_revision().await.unwrap(), last);
    }

    pub async fn get_at_past_revisions(s: S) {
        let r1 = put(&s, "/k", "v1").await;
        let r2 = put(&s, "/k", "v2").await;
        let Outcome::Written { revision: r3, .. } = s.delete("/k", None).await.unwrap() else {
            panic!()
        };
        let r4 = put(&s, "/other", "x").await;
        assert_eq!(s.get("/k", r1).await.unwrap().1.unwrap().value, b("v1"));
        let at2 = s.get("/k", r2).await.unwrap();
        assert_eq!(at2.0, r2);
        let kv = at2.1.unwrap();
        assert_eq!(
            (kv.value, kv.version, kv.create_revision, kv.mod_revision),
            (b("v2"), 2, r1, r2)
        );
        assert_eq!(s.get("/k", r3).await.unwrap().1, None);
        assert_eq!(s.get("/k", r4).await.unwrap().1, None);
        assert_eq!(s.get("/k", 1).await.unwrap().1, None, "before it existed");
    }

    pub async fn future_revision_is_an_error(s: S) {
        put(&s, "/k", "v1").await;
        let err = s.get("/k", 100).await.unwrap_err();
        assert!(matches!(err, StoreError::FutureRevision { .. }), "{err}");
        let err = s
            .list(ListRequest {
                revision: 100,
                ..list("/")
            })
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::FutureRevision { .. }), "{err}");
    }

    pub async fn list_a_prefix_in_key_order(s: S) {
        for k in [
            "/r/pods/b",
            "/r/pods/a",
            "/r/pods/c",
            "/r/podsx",
            "/r/pod",
            "/r/services/a",
        ] {
            put(&s, k, k).await;
        }
        let resp = s.list(list("/r/pods/")).await.unwrap();
        let keys: Vec<_> = resp.kvs.iter().map(|kv| kv.key.as_str()).collect();
        assert_eq!(keys, ["/r/pods/a", "/r/pods/b", "/r/pods/c"]);
        assert_eq!(resp.count, 3);
        assert!(!resp.more);
        assert_eq!(resp.revision, 7);
        assert_eq!(resp.kvs[0].value, b("/r/pods/a"));
        // The empty prefix covers everything.
        let all = s.list(list("")).await.unwrap();
        assert_eq!(all.kvs.len(), 6);
        assert_eq!(all.count, 6);
        // A single-key prefix and a prefix with no keys.
        assert_eq!(s.list(list("/r/services/a")).await.unwrap().kvs.len(), 1);
        let none = s.list(list("/nothing/")).await.unwrap();
        assert!(none.kvs.is_empty() && none.count == 0 && !none.more);
    }

    pub async fn list_pages_read_one_snapshot(s: S) {
        for i in 0..10 {
            put(&s, &format!("/p/{i:02}"), "v1").await;
        }
        let first = s
            .list(ListRequest {
                limit: 4,
                ..list("/p/")
            })
            .await
            .unwrap();
        assert_eq!(first.kvs.len(), 4);
        assert!(first.more);
        assert_eq!(first.count, 10);
        let snapshot = first.revision;
        // Writes after the first page must not show in the following pages.
        put(&s, "/p/05", "v2").await;
        s.delete("/p/06", None).await.unwrap();
        put(&s, "/p/99", "new").await;
        let mut keys: Vec<String> = first.kvs.iter().map(|k| k.key.clone()).collect();
        let mut start = format!("{}\0", keys.last().unwrap());
        loop {
            let page = s
                .list(ListRequest {
                    start: Some(start.clone()),
                    revision: snapshot,
                    limit: 4,
                    ..list("/p/")
                })
                .await
                .unwrap();
            assert_eq!(page.revision, snapshot);
            for kv in &page.kvs {
                assert_eq!(kv.value, b("v1"), "{} read past the snapshot", kv.key);
            }
            keys.extend(page.kvs.iter().map(|k| k.key.clone()));
            if !page.more {
                break;
            }
            assert_eq!(page.count, 10 - keys.len() as i64 + page.kvs.len() as i64);
            start = format!("{}\0", keys.last().unwrap());
        }
        let expected: Vec<String> = (0..10).map(|i| format!("/p/{i:02}")).collect();
        assert_eq!(keys, expected);
        // The current revision sees the changes.
        let now = s.list(list("/p/")).await.unwrap();
        assert_eq!(now.kvs.len(), 10);
        assert_eq!(now.kvs.last().unwrap().key, "/p/99");
    }

    pub async fn compaction_forgets_old_revisions(s: S) {
        put(&s, "/k", "v1").await; // 2
        put(&s, "/k", "v2").await; // 3
        put(&s, "/gone", "x").await; // 4
        s.delete("/gone", None).await.unwrap(); // 5
        put(&s, "/k", "v3").await; // 6
        put(&s, "/other", "y").await; // 7
        s.compact(5).await.unwrap();
        for rev in [2, 4] {
            let err = s.get("/k", rev).await.unwrap_err();
            assert!(err.is_compacted(), "get at {rev}: {err}");
            let err = s
                .list(ListRequest {
                    revision: rev,
                    ..list("/")
                })
                .await
                .unwrap_err();
            assert!(err.is_compacted(), "list at {rev}: {err}");
        }
        // The compacted revision itself and later ones still read correctly.
        let at5 = s
            .list(ListRequest {
                revision: 5,
                ..list("/")
            })
            .await
            .unwrap();
        let got: Vec<_> = at5
            .kvs
            .iter()
            .map(|k| (k.key.as_str(), k.value.clone()))
            .collect();
        assert_eq!(got, [("/k", b("v2"))]);
        assert_eq!(s.get("/k", 6).await.unwrap().1.unwrap().value, b("v3"));
        let err = s
            .watch(KeyRange::Prefix("/".into()), 4)
            .await
            .err()
            .expect("watch before compaction");
        assert!(err.is_compacted(), "{err}");
        let mut w = s.watch(KeyRange::Prefix("/".into()), 6).await.unwrap();
        let events = next_events(&mut w, 2).await;
        assert_eq!(events[0].kv.value, b("v3"));
        assert_eq!(
            events[0].prev_kv.as_ref().unwrap().value,
            b("v2"),
            "prev_kv survives compaction"
        );
        assert_eq!(events[1].kv.key, "/other");
        // Compacting again at or below is an error; so is the future.
        assert!(s.compact(5).await.unwrap_err().is_compacted());
        assert!(matches!(
            s.compact(100).await.unwrap_err(),
            StoreError::FutureRevision { .. }
        ));
        s.compact(7).await.unwrap();
        assert_eq!(s.get("/k", 0).await.unwrap().1.unwrap().value, b("v3"));
    }

    pub async fn watch_replays_history_then_goes_live(s: S) {
        put(&s, "/w/a", "1").await; // 2
        put(&s, "/w/a", "2").await; // 3
        put(&s, "/x/b", "1").await; // 4
        s.delete("/w/a", None).await.unwrap(); // 5
        let mut w = s.watch(KeyRange::Prefix("/w/".into()), 2).await.unwrap();
        let ev = next_events(&mut w, 3).await;
        assert_eq!(
            ev.iter().map(|e| e.revision()).collect::<Vec<_>>(),
            [2, 3, 5]
        );
        assert_eq!(ev[0].event_type, EventType::Put);
        assert_eq!(ev[0].prev_kv, None);
        assert_eq!((ev[0].kv.version, ev[0].kv.create_revision), (1, 2));
        assert_eq!(ev[1].prev_kv.as_ref().unwrap().value, b("1"));
        assert_eq!(ev[1].kv.version, 2);
        assert_eq!(ev[2].event_type, EventType::Delete);
        assert_eq!(ev[2].kv.key, "/w/a");
        assert_eq!(ev[2].kv.mod_revision, 5);
        assert_eq!(ev[2].prev_kv.as_ref().unwrap().value, b("2"));
        // Live events follow without a gap; other prefixes are filtered out.
        put(&s, "/x/c", "1").await; // 6
        put(&s, "/w/b", "1").await; // 7
        let ev = next_events(&mut w, 1).await;
        assert_eq!(ev[0].revision(), 7);
        assert_quiet(&mut w).await;
    }

    pub async fn watch_reports_progress_when_asked(s: S) {
        let mut w = s.watch(KeyRange::Prefix("/p/".into()), 0).await.unwrap();
        let progress = w.progress_requester().expect("progress requests");
        // Writes elsewhere move the store on; the watch says it is caught up.
        let other = put(&s, "/q/a", "1").await;
        progress.request();
        match next_update(&mut w).await {
            WatchUpdate::Progress(rev) => assert!(rev >= other, "{rev} < {other}"),
            u => panic!("{u:?}"),
        }
        // A report never overtakes the events before it.
        let mine = put(&s, "/p/a", "1").await;
        let other = put(&s, "/q/b", "1").await;
        progress.request();
        match next_update(&mut w).await {
            WatchUpdate::Events(ev) => assert_eq!(ev[0].revision(), mine),
            u => panic!("{u:?}"),
        }
        let mut rev = 0;
        while rev < other {
            match next_update(&mut w).await {
                WatchUpdate::Progress(r) => rev = r,
                u => panic!("{u:?}"),
            }
            if rev < other {
                progress.request();
            }
        }
        // Unasked, nothing comes.
        let quiet = tokio::time::timeout(Duration::from_millis(300), w.next_update()).await;
        assert!(quiet.is_err(), "{quiet:?}");
    }

    pub async fn watch_from_now_sees_only_new_events(s: S) {
        put(&s, "/k", "old").await;
        let mut w = s.watch(KeyRange::Prefix(String::new()), 0).await.unwrap();
        assert_quiet(&mut w).await;
        put(&s, "/k", "new").await;
        let ev = next_events(&mut w, 1).await;
        assert_eq!(ev[0].kv.value, b("new"));
        assert_eq!(ev[0].prev_kv.as_ref().unwrap().value, b("old"));
    }

    pub async fn watch_one_key(s: S) {
        let mut w = s.watch(KeyRange::Key("/k".into()), 0).await.unwrap();
        put(&s, "/k2", "x").await;
        put(&s, "/k", "y").await;
        put(&s, "/j", "z").await;
        let ev = next_events(&mut w, 1).await;
        assert_eq!(ev[0].kv.key, "/k");
        assert_quiet(&mut w).await;
    }

    pub async fn watches_never_skip_or_repeat(s: S) {
        let start = s.current_revision().await.unwrap() + 1;
        let writers: Vec<_> = (0..4)
            .map(|w| {
                let s = s.clone();
                tokio::spawn(async move {
                    for i in 0..50 {
                        put(&s, &format!("/c/{w}/{}", i % 5), &i.to_string()).await;
                    }
                })
            })
            .collect();
        // Watches started while the writes go on, from the start and from now.
        let mut watches = Vec::new();
        for _ in 0..3 {
            watches.push(
                s.watch(KeyRange::Prefix("/c/".into()), start)
                    .await
                    .unwrap(),
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let mid = s.current_revision().await.unwrap() + 1;
        let mut late = s.watch(KeyRange::Prefix("/c/".into()), mid).await.unwrap();
        for w in writers {
            w.await.unwrap();
        }
        let end = s.current_revision().await.unwrap();
        for w in &mut watches {
            let revs: Vec<i64> = next_events(w, 200)
                .await
                .iter()
                .map(|e| e.revision())
                .collect();
            assert_eq!(revs, (start..=end).collect::<Vec<_>>());
        }
        let revs: Vec<i64> = next_events(&mut late, (end - mid + 1) as usize)
            .await
            .iter()
            .map(|e| e.revision())
            .collect();
        assert_eq!(revs, (mid..=end).collect::<Vec<_>>());
    }

    pub async fn keys_with_a_ttl_expire(s: S) {
        let mut w = s
            .watch(KeyRange::Prefix("/events/".into()), 0)
            .await
            .unwrap();
        s.create("/events/e1", b("x"), Some(Duration::from_secs(1)))
            .await
            .unwrap();
        s.create("/events/keep", b("y"), None).await.unwrap();
        let ev = next_events(&mut w, 2).await;
        assert!(ev.iter().all(|e| e.event_type == EventType::Put));
        let deadline = std::time::Instant::now() + Duration::from_secs(15);
        while s.get("/events/e1", 0).await.unwrap().1.is_some() {
            assert!(
                std::time::Instant::now() < deadline,
                "the key did not expire"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let ev = next_events(&mut w, 1).await;
        assert_eq!(
            (ev[0].event_type, ev[0].kv.key.as_str()),
            (EventType::Delete, "/events/e1")
        );
        assert_eq!(ev[0].prev_kv.as_ref().unwrap().value, b("x"));
        assert!(s.get("/events/keep", 0).await.unwrap().1.is_some());
    }

    pub async fn oversized_values_are_refused(s: S) {
        let big = Bytes::from(vec![b'x'; MAX_VALUE_BYTES + 1]);
        let err = s.create("/big", big.clone(), None).await.unwrap_err();
        assert!(matches!(err, StoreError::ValueTooLarge { .. }), "{err}");
        assert!(err.to_string().contains("over the store's limit"), "{err}");
        put(&s, "/big", "small").await;
        let err = s.update("/big", big, 2, None).await.unwrap_err();
        assert!(matches!(err, StoreError::ValueTooLarge { .. }), "{err}");
        // A large value under the limit is fine.
        let ok = Bytes::from(vec![b'y'; 1 << 20]);
        assert!(
            s.create("/large", ok.clone(), None)
                .await
                .unwrap()
                .is_written()
        );
        assert_eq!(s.get("/large", 0).await.unwrap().1.unwrap().value, ok);
    }

    pub async fn concurrent_writers_on_one_key_one_wins(s: S) {
        let Outcome::Written { revision, .. } = s.create("/hot", b("0"), None).await.unwrap()
        else {
            panic!()
        };
        let mut expected = revision;
        for round in 0..10 {
            let tasks: Vec<_> = (0..16)
                .map(|i| {
                    let s = s.clone();
                    tokio::spawn(async move {
                        s.update("/hot", b(&format!("{round}-{i}")), expected, None)
                            .await
                            .unwrap()
                    })
                })
                .collect();
            let mut winners = Vec::new();
            for t in tasks {
                match t.await.unwrap() {
                    Outcome::Written { revision, kv } => winners.push((revision, kv)),
                    Outcome::Failed { current } => {
                        assert!(current.unwrap().mod_revision > expected)
                    }
                }
            }
            assert_eq!(winners.len(), 1, "round {round}: exactly one compare wins");
            let (rev, kv) = winners.pop().unwrap();
            assert_eq!(rev, expected + 1);
            assert_eq!(s.get("/hot", 0).await.unwrap().1.unwrap().value, kv.value);
            expected = rev;
        }
    }
}

macro_rules! conformance {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let backend = crate::support::sqlite().await;
                    crate::cases::$case(backend.store.clone()).await;
                }
            )*
        }
        mod etcd {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let Some(backend) = crate::support::etcd().await else { return };
                    crate::cases::$case(backend.store.clone()).await;
                }
            )*
        }
    };
}

conformance!(
    empty_store_is_at_revision_one,
    create_then_get,
    create_existing_fails_with_current,
    create_guarded_by_another_key,
    update_compares_mod_revision,
    delete_compares_and_returns_prev,
    recreate_starts_a_new_generation,
    one_global_revision_counter,
    get_at_past_revisions,
    future_revision_is_an_error,
    list_a_prefix_in_key_order,
    list_pages_read_one_snapshot,
    compaction_forgets_old_revisions,
    watch_replays_history_then_goes_live,
    watch_from_now_sees_only_new_events,
    watch_reports_progress_when_asked,
    watch_one_key,
    watches_never_skip_or_repeat,
    keys_with_a_ttl_expire,
    oversized_values_are_refused,
    concurrent_writers_on_one_key_one_wins,
);
