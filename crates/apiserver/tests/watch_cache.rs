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

/// A server on a fresh one-member etcd, or None when etcd is not installed.
async fn on_etcd() -> Option<(ApiServer, skiff_testutil::EtcdCluster)> {
    if !skiff_testutil::etcd_available() {
        eprintln!("etcd not installed: skipping");
        return None;
    }
    let cluster = tokio::task::spawn_blocking(|| skiff_testutil::EtcdCluster::start(1))
        .await
        .unwrap()
        .unwrap();
    // The packaged etcd (3.4.23) predates the fixes upstream requires before
    // it trusts progress reports; their path is tested all the same.
    let options = skiff_store::etcd::EtcdOptions {
        watch_progress: Some(true),
        ..skiff_store::etcd::EtcdOptions::new(cluster.endpoints())
    };
    let store = skiff_store::etcd::EtcdStore::connect(options)
        .await
        .unwrap();
    Some((ApiServer::new(Arc::new(store), Options::default()), cluster))
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
    let Some((s, cluster)) = on_etcd().await else {
        return;
    };
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

/// A consistent LIST (no resourceVersion) is answered by the cache once the
/// store's watch reports that the cache has caught up with the store's
/// current revision, even when that revision was made by another resource's
/// writes: the answer is as fresh as a read of the store.
async fn consistent_lists_come_from_the_cache(s: &ApiServer) {
    let (status, _) = request(
        s,
        "POST",
        "/api/v1/namespaces",
        r#"{"metadata":{"name":"default"}}"#,
    )
    .await;
    assert_eq!(status, 201);
    let cms = "/api/v1/namespaces/default/configmaps";
    let (status, _) = request(s, "POST", cms, r#"{"metadata":{"name":"a"}}"#).await;
    assert_eq!(status, 201);
    let (status, _) = request(s, "GET", cms, "").await;
    assert_eq!(status, 200);
    for round in 0..3 {
        // Only other resources are written: the ConfigMaps' cache sees no event.
        let mut last = 0;
        for i in 0..3 {
            let (status, secret) = request(
                s,
                "POST",
                "/api/v1/namespaces/default/secrets",
                &format!(r#"{{"metadata":{{"name":"s{round}-{i}"}}}}"#),
            )
            .await;
            assert_eq!(status, 201);
            last = secret["metadata"]["resourceVersion"]
                .as_str()
                .unwrap()
                .parse::<i64>()
                .unwrap();
        }
        let (status, list) = request(s, "GET", cms, "").await;
        assert_eq!(status, 200);
        let rv: i64 = list["metadata"]["resourceVersion"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!(
            rv >= last,
            "a consistent list at {rv} before the write at {last}"
        );
        assert_eq!(list["items"].as_array().unwrap().len(), 1);
    }
    let req = http::Request::builder()
        .uri("/metrics")
        .body(bytes::Bytes::new())
        .unwrap();
    let body = s.handle(req, Some(admin())).await.into_body();
    let text = String::from_utf8(body.collect().await.unwrap().to_bytes().to_vec()).unwrap();
    let count = |fallback: &str| {
        text.lines()
            .find_map(|l| {
                l.strip_prefix(&format!("apiserver_watch_cache_consistent_read_total{{fallback=\"{fallback}\",resource=\"/configmaps\",success=\"true\"}} "))
            })
            .map_or(0, |n| n.parse::<u64>().unwrap())
    };
    assert_eq!((count("false"), count("true")), (4, 0), "{text}");
}

#[tokio::test]
async fn consistent_lists_come_from_the_cache_on_sqlite() {
    let (s, _store, _dir) = common::server(Options::default()).await;
    consistent_lists_come_from_the_cache(&s).await;
}

#[tokio::test]
async fn consistent_lists_come_from_the_cache_on_etcd() {
    let Some((s, _cluster)) = on_etcd().await else {
        return;
    };
    consistent_lists_come_from_the_cache(&s).await;
}
