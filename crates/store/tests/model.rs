//! Randomized test: sequences of operations run against a backend and against a
//! simple in-memory model of etcd's MVCC semantics must agree on every answer,
//! on every past revision's contents, and on the events a watch delivers.

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use proptest::prelude::*;
use skiff_store::{EventType, KeyRange, KeyValue, ListRequest, Outcome, Store};

#[derive(Clone, Debug)]
enum Op {
    Create(u8, u8),
    Update(u8, u8, bool),
    Delete(u8, Option<bool>),
    List(u8, usize),
    GetAt(u8, u8),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0u8..6, any::<u8>()).prop_map(|(k, v)| Op::Create(k, v)),
        (0u8..6, any::<u8>(), any::<bool>()).prop_map(|(k, v, stale)| Op::Update(k, v, stale)),
        (0u8..6, proptest::option::of(any::<bool>())).prop_map(|(k, c)| Op::Delete(k, c)),
        (0u8..3, 0usize..4).prop_map(|(p, l)| Op::List(p, l)),
        (0u8..6, any::<u8>()).prop_map(|(k, r)| Op::GetAt(k, r)),
    ]
}

/// etcd's semantics in a few lines: the state after each revision.
struct Model {
    base: i64,
    revision: i64,
    states: BTreeMap<i64, BTreeMap<String, KeyValue>>,
    events: Vec<(EventType, String, i64)>,
}

impl Model {
    fn current(&self) -> &BTreeMap<String, KeyValue> {
        &self.states[&self.revision]
    }
    fn commit(&mut self, state: BTreeMap<String, KeyValue>) {
        self.revision += 1;
        self.states.insert(self.revision, state);
    }
}

fn key(prefix: &str, k: u8) -> String {
    // Keys under three sub-prefixes, so that lists by prefix mean something.
    format!("{prefix}{}/{k}", k % 3)
}

async fn check(store: Arc<dyn Store>, prefix: String, ops: Vec<Op>) {
    let base = store.current_revision().await.unwrap();
    let mut model = Model {
        base,
        revision: base,
        states: BTreeMap::from([(base, BTreeMap::new())]),
        events: vec![],
    };
    let mut watch = store
        .watch(KeyRange::Prefix(prefix.clone()), base + 1)
        .await
        .unwrap();
    for op in ops {
        match op {
            Op::Create(k, v) => {
                let key = key(&prefix, k);
                let out = store
                    .create(&key, Bytes::from(vec![v]), None)
                    .await
                    .unwrap();
                match model.current().get(&key).cloned() {
                    Some(cur) => assert_eq!(out, Outcome::Failed { current: Some(cur) }),
                    None => {
                        let rev = model.revision + 1;
                        let kv = KeyValue {
                            key: key.clone(),
                            value: Bytes::from(vec![v]),
                            create_revision: rev,
                            mod_revision: rev,
                            version: 1,
                        };
                        assert_eq!(
                            out,
                            Outcome::Written {
                                revision: rev,
                                kv: kv.clone()
                            }
                        );
                        let mut next = model.current().clone();
                        next.insert(key.clone(), kv);
                        model.commit(next);
                        model.events.push((EventType::Put, key, rev));
                    }
                }
            }
            Op::Update(k, v, stale) => {
                let key = key(&prefix, k);
                let cur = model.current().get(&key).cloned();
                let expected = match (&cur, stale) {
                    (Some(c), false) => c.mod_revision,
                    (Some(c), true) => c.mod_revision - 1,
                    (None, _) => model.revision,
                };
                let out = store
                    .update(&key, Bytes::from(vec![v]), expected, None)
                    .await
                    .unwrap();
                match cur.filter(|c| c.mod_revision == expected) {
                    None => assert_eq!(
                        out,
                        Outcome::Failed {
                            current: model.current().get(&key).cloned()
                        }
                    ),
                    Some(c) => {
                        let rev = model.revision + 1;
                        let kv = KeyValue {
                            value: Bytes::from(vec![v]),
                            mod_revision: rev,
                            version: c.version + 1,
                            ..c
                        };
                        assert_eq!(
                            out,
                            Outcome::Written {
                                revision: rev,
                                kv: kv.clone()
                            }
                        );
                        let mut next = model.current().clone();
                        next.insert(key.clone(), kv);
                        model.commit(next);
                        model.events.push((EventType::Put, key, rev));
                    }
                }
            }
            Op::Delete(k, cond) => {
                let key = key(&prefix, k);
                let cur = model.current().get(&key).cloned();
                let expected = match (&cur, cond) {
                    (_, None) => None,
                    (Some(c), Some(true)) => Some(c.mod_revision),
                    (Some(c), Some(false)) => Some(c.mod_revision + 1),
                    (None, Some(_)) => Some(model.revision),
                };
                let out = store.delete(&key, expected).await.unwrap();
                match cur
                    .clone()
                    .filter(|c| expected.is_none_or(|e| e == c.mod_revision))
                {
                    None => assert_eq!(out, Outcome::Failed { current: cur }),
                    Some(c) => {
                        let rev = model.revision + 1;
                        assert_eq!(
                            out,
                            Outcome::Written {
                                revision: rev,
                                kv: c
                            }
                        );
                        let mut next = model.current().clone();
                        next.remove(&key);
                        model.commit(next);
                        model.events.push((EventType::Delete, key, rev));
                    }
                }
            }
            Op::List(p, limit) => {
                let sub = format!("{prefix}{p}/");
                let resp = store
                    .list(ListRequest {
                        prefix: sub.clone(),
                        limit,
                        ..Default::default()
                    })
                    .await
                    .unwrap();
                let all: Vec<KeyValue> = model
                    .current()
                    .range(sub.clone()..)
                    .take_while(|(k, _)| k.starts_with(&sub))
                    .map(|(_, v)| v.clone())
                    .collect();
                let expect: Vec<KeyValue> = all
                    .iter()
                    .take(if limit == 0 { usize::MAX } else { limit })
                    .cloned()
                    .collect();
                assert_eq!(resp.kvs, expect);
                assert_eq!(resp.count, all.len() as i64);
                assert_eq!(resp.more, limit != 0 && all.len() > limit);
                assert_eq!(resp.revision, model.revision);
            }
            Op::GetAt(k, r) => {
                let key = key(&prefix, k);
                let span = model.revision - model.base + 1;
                let rev = model.base + (r as i64 % span);
                let (got_rev, kv) = store.get(&key, rev).await.unwrap();
                assert_eq!(got_rev, rev);
                assert_eq!(kv, model.states[&rev].get(&key).cloned(), "{key} at {rev}");
            }
        }
    }
    // The watch saw exactly the model's events.
    let got = support::next_events(&mut watch, model.events.len()).await;
    let got: Vec<_> = got
        .into_iter()
        .map(|e| (e.event_type, e.kv.key, e.kv.mod_revision))
        .collect();
    assert_eq!(got, model.events);
    assert_eq!(store.current_revision().await.unwrap(), model.revision);
}

fn run(cases: u32, on_etcd: bool) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let backend = rt.block_on(async {
        if on_etcd {
            support::etcd().await
        } else {
            Some(support::sqlite().await)
        }
    });
    let Some(backend) = backend else { return };
    let store = backend.store.clone();
    let n = std::sync::atomic::AtomicU32::new(0);
    proptest!(ProptestConfig::with_cases(cases), |(ops in proptest::collection::vec(op(), 1..60))| {
        // Each case under its own prefix, so that cases share one store.
        let case = n.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        rt.block_on(check(store.clone(), format!("/model/{case}/"), ops));
    });
}

#[test]
fn sqlite_agrees_with_the_model() {
    run(64, false);
}

#[test]
fn etcd_agrees_with_the_model() {
    run(24, true);
}
