//! The etcd backend on a three-member cluster on loopback keeps serving reads,
//! writes and watches when a member is killed, including the leader.

mod support;

use std::time::Duration;

use bytes::Bytes;
use skiff_store::etcd::{EtcdOptions, EtcdStore};
use skiff_store::{KeyRange, ListRequest, Outcome, Store};
use skiff_testutil::EtcdCluster;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keeps_serving_when_a_member_dies() {
    if !skiff_testutil::etcd_available() {
        return;
    }
    let mut cluster = tokio::task::spawn_blocking(|| EtcdCluster::start(3))
        .await
        .unwrap()
        .unwrap();
    let store = EtcdStore::connect(EtcdOptions::new(cluster.endpoints()))
        .await
        .unwrap();
    let mut watch = store
        .watch(KeyRange::Prefix("/ha/".into()), 0)
        .await
        .unwrap();
    let mut written = Vec::new();
    for i in 0..20 {
        let Outcome::Written { revision, .. } = store
            .create(&format!("/ha/{i:03}"), Bytes::from("v"), None)
            .await
            .unwrap()
        else {
            panic!()
        };
        written.push(revision);
    }
    // Kill members one after the other (restarting the previous one), so that
    // the first member of the endpoint list and, in some round, the leader die.
    for victim in 0..3 {
        cluster.members[victim].kill();
        for i in 0..20 {
            let key = format!("/ha/{victim}-{i:03}");
            let out = tokio::time::timeout(
                Duration::from_secs(30),
                store.create(&key, Bytes::from("v"), None),
            )
            .await
            .expect("write hung with a member down")
            .unwrap_or_else(|e| panic!("write with member {victim} down: {e}"));
            let Outcome::Written { revision, .. } = out else {
                panic!("{out:?}")
            };
            written.push(revision);
        }
        let listed = store
            .list(ListRequest {
                prefix: "/ha/".into(),
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(listed.kvs.len(), written.len());
        cluster.members[victim].restart().unwrap();
        tokio::task::spawn_blocking({
            let endpoints_ok = cluster.wait_ready(Duration::from_secs(20));
            move || endpoints_ok
        })
        .await
        .unwrap()
        .unwrap();
    }
    // The watch delivered every write exactly once, in order.
    let events = support::next_events(&mut watch, written.len()).await;
    let revs: Vec<i64> = events.iter().map(|e| e.revision()).collect();
    assert_eq!(revs, written);
}
