//! The watch cache on both backends: events that share a revision (etcd
//! deletes every key of an expired lease in one) all reach watchers served
//! from the cache.

mod common;

use std::sync::Arc;
use std::time::Duration;

use http_body_util::BodyExt;
use serde_json::Value;
use skiff_apiserver::{ApiServer, Options, UserInfo};

fn admin() -> UserInfo {
    UserInfo::loopback()
}

async fn request(s: &ApiServer, method: &str, path: &str, body: &str) -> (u16, Value) {
    let req = http::Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", "application/json")
        .body(bytes::Bytes::from(body.to_string()))
        .unwrap();
    let r = s.handle(req, Some(admin())).await;
    let status = r.status().as_u16();
    let bytes = r.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// A watch's events as they arrive: the next frame's complete events, or
/// None once the stream has ended (it must move before `deadline`).
struct Events {
    body: skiff_apiserver::Body,
    buf: Vec<u8>,
    deadline: tokio::time::Instant,
}

impl Events {
    /// A watch of the default namespace's ConfigMaps after `rv`, which must
    /// move within `secs`.
    async fn watch(s: &ApiServer, rv: &str, secs: u64) -> Self {
        let req = http::Request::builder()
            .uri(format!(
                "/api/v1/namespaces/default/configmaps?watch=1&resourceVersion={rv}"
            ))
            .body(bytes::Bytes::new())
            .unwrap();
        Events {
            body: s.handle(req, Some(admin())).await.into_body(),
            buf: Vec::new(),
            deadline: tokio::time::Instant::now() + Duration::from_secs(secs),
        }
    }

    async fn next(&mut self) -> Option<Vec<Value>> {
        let frame = tokio::time::timeout_at(self.deadline, self.body.frame())
            .await
            .expect("the watch neither moved nor ended in time");
        let Some(Ok(frame)) = frame else { return None };
        if let Ok(data) = frame.into_data() {
            self.buf.extend_from_slice(&data);
        }
        let mut stream = serde_json::Deserializer::from_slice(&self.buf).into_iter::<Value>();
        let (mut out, mut used) = (Vec::new(), 0);
        while let Some(Ok(e)) = stream.next() {
            used = stream.byte_offset();
            out.push(e);
        }
        self.buf.drain(..used);
        Some(out)
    }
}

/// Creates five ConfigMaps, starts a watch after them, deletes them with
/// `delete_all`, and returns the DELETED events the watch saw.
async fn deletes_seen(
    s: &ApiServer,
    delete_all: impl std::future::Future<Output = ()>,
) -> Vec<String> {
    let (status, ns) = request(
        s,
        "POST",
        "/api/v1/namespaces",
        r#"{"metadata":{"name":"default"}}"#,
    )
    .await;
    assert_eq!(status, 201, "{ns}");
    let mut rv = String::new();
    for i in 0..5 {
        let (status, cm) = request(
            s,
            "POST",
            "/api/v1/namespaces/default/configmaps",
            &format!(r#"{{"metadata":{{"name":"cm{i}"}}}}"#),
        )
        .await;
        assert_eq!(status, 201, "{cm}");
        rv = cm["metadata"]["resourceVersion"]
            .as_str()
            .unwrap()
            .to_string();
    }
    let mut events = Events::watch(s, &rv, 10).await;
    delete_all.await;
    let mut seen = Vec::new();
    while seen.len() < 5 {
        let Some(batch) = events.next().await else {
            break;
        };
        for e in batch.into_iter().filter(|e| e["type"] == "DELETED") {
            seen.push(
                e["object"]["metadata"]["name"]
                    .as_str()
                    .unwrap()
                    .to_string(),
            );
        }
    }
    seen.sort();
    seen
}

#[tokio::test]
async fn events_sharing_a_revision_all_reach_watchers_on_etcd() {
    if !skiff_testutil::etcd_available() {
        eprintln!("etcd not installed: skipping");
        return;
    }
    let cluster = tokio::task::spawn_blocking(|| skiff_testutil::EtcdCluster::start(1))
        .await
        .unwrap()
        .unwrap();
    let store = skiff_store::etcd::EtcdStore::connect(skiff_store::etcd::EtcdOptions::new(
        cluster.endpoints(),
    ))
    .await
    .unwrap();
    let s = ApiServer::new(Arc::new(store), Options::default());
    let endpoints = cluster.endpoints();
    let seen = deletes_seen(&s, async {
        // One transaction, one revision, five deletes: as a lease expiring.
        let mut c = etcd_client::Client::connect(endpoints, None).await.unwrap();
        let ops: Vec<etcd_client::TxnOp> = (0..5)
            .map(|i| {
                etcd_client::TxnOp::delete(format!("/registry/core/configmaps/default/cm{i}"), None)
            })
            .collect();
        let r = c.txn(etcd_client::Txn::new().and_then(ops)).await.unwrap();
        assert!(r.succeeded());
    })
    .await;
    assert_eq!(seen, ["cm0", "cm1", "cm2", "cm3", "cm4"]);
}

#[tokio::test]
async fn deletes_all_reach_watchers_on_sqlite() {
    let (s, store, _dir) = common::server(Options::default()).await;
    let seen = deletes_seen(&s, async {
        for i in 0..5 {
            store
                .delete(&format!("/registry/core/configmaps/default/cm{i}"), None)
                .await
                .unwrap();
        }
    })
    .await;
    assert_eq!(seen, ["cm0", "cm1", "cm2", "cm3", "cm4"]);
}

/// A watcher whose client stops reading holds a bounded number of bytes: its
/// stream waits at 8 MiB unread, and once the cache's window (64 MiB) has
/// moved past its next event it is cut off (the client watches again from
/// its last resource version), instead of buffering every large event.
#[tokio::test]
async fn a_watcher_that_stops_reading_is_cut_off() {
    let (s, _store, _dir) = common::server(Options::default()).await;
    let (status, _) = request(
        &s,
        "POST",
        "/api/v1/namespaces",
        r#"{"metadata":{"name":"default"}}"#,
    )
    .await;
    assert_eq!(status, 201);
    let (status, cm) = request(
        &s,
        "POST",
        "/api/v1/namespaces/default/configmaps",
        r#"{"metadata":{"name":"big"}}"#,
    )
    .await;
    assert_eq!(status, 201);
    let rv = cm["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_string();
    let mut watch = Events::watch(&s, &rv, 30).await;
    // 48 updates of a 1 MiB ConfigMap: 96 MiB of events (value and previous value).
    for i in 0..48 {
        let data = format!("{}", i % 10).repeat(1_000_000);
        let (status, cm) = request(
            &s,
            "PUT",
            "/api/v1/namespaces/default/configmaps/big",
            &format!(r#"{{"metadata":{{"name":"big"}},"data":{{"d":"{data}"}}}}"#),
        )
        .await;
        assert_eq!(status, 200, "{cm}");
    }
    let mut events = 0;
    while events < 48 {
        let Some(batch) = watch.next().await else {
            break;
        };
        events += batch.len();
    }
    assert!(events < 48, "every event was buffered for the slow watcher");
}
