//! Service allocation under concurrency: creates racing for addresses and
//! node ports never share one, and exactly one of several asking for the
//! same address gets it.

mod common;

use std::collections::HashSet;

use common::call;
use serde_json::json;
use skiff_apiserver::{ApiServer, Options};

/// Creates a Service in namespace `ns` on a task of its own.
fn spawn_create(s: &ApiServer, body: serde_json::Value) -> tokio::task::JoinHandle<common::Reply> {
    let s = s.clone();
    tokio::spawn(async move {
        call(
            &s,
            "POST",
            "/api/v1/namespaces/ns/services",
            "application/json",
            body.to_string(),
        )
        .await
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_creates_never_share_an_address_or_a_port() {
    let (s, _d) = common::server_with_namespace_and(Options::default()).await;
    let creates: Vec<_> = (0..40)
        .map(|i| {
            spawn_create(
                &s,
                json!({"metadata": {"name": format!("s{i}")}, "spec": {"type": "NodePort", "ports": [{"port": 80}]}}),
            )
        })
        .collect();
    let mut ips = HashSet::new();
    let mut ports = HashSet::new();
    for c in creates {
        let r = c.await.unwrap();
        assert_eq!(r.status, 201, "{}", r.body);
        assert!(ips.insert(r.body["spec"]["clusterIP"].as_str().unwrap().to_string()));
        assert!(ports.insert(r.body["spec"]["ports"][0]["nodePort"].as_i64().unwrap()));
    }

    // An address and a port none of the Services above was given (their
    // ports are random: 31999 was one in about 70 runs).
    let ip = (50..)
        .map(|i| format!("10.96.50.{i}"))
        .find(|ip| !ips.contains(ip))
        .unwrap();
    let port = (31999..).find(|p| !ports.contains(p)).unwrap();
    let same: Vec<_> = (0..10)
        .map(|i| {
            spawn_create(
                &s,
                json!({"metadata": {"name": format!("t{i}")}, "spec": {"type": "NodePort", "clusterIP": ip, "ports": [{"port": 80, "nodePort": port}]}}),
            )
        })
        .collect();
    let mut won = 0;
    for c in same {
        let r = c.await.unwrap();
        match r.status {
            201 => won += 1,
            422 => assert!(
                r.body["message"]
                    .as_str()
                    .unwrap()
                    .contains("already allocated"),
                "{}",
                r.body
            ),
            other => panic!("{other}: {}", r.body),
        }
    }
    assert_eq!(won, 1, "exactly one Service gets {ip}");
}

/// Services stored before reservations existed (an older Skiff's data) get
/// theirs on start, so that nobody else is handed their address or port.
#[tokio::test]
async fn reservations_are_repaired_on_start() {
    let (s, store, _d) = common::server(Options::default()).await;
    let svc = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "old", "namespace": "ns", "uid": "u1", "creationTimestamp": "2026-01-01T00:00:00Z"},
        "spec": {"type": "NodePort", "clusterIP": "10.96.60.60", "clusterIPs": ["10.96.60.60"], "ports": [{"port": 80, "nodePort": 31888}]}});
    store
        .create(
            "/registry/core/services/ns/old",
            serde_json::to_vec(&svc).unwrap().into(),
            None,
        )
        .await
        .unwrap();
    s.resume().await.unwrap();
    let ip = call(
        &s,
        "GET",
        "/apis/networking.k8s.io/v1/ipaddresses/10.96.60.60",
        "",
        "",
    )
    .await;
    assert_eq!(ip.status, 200, "{}", ip.body);
    assert_eq!(ip.body["spec"]["parentRef"]["name"], "old");
    let ns = call(
        &s,
        "POST",
        "/api/v1/namespaces",
        "application/json",
        r#"{"metadata":{"name":"ns"}}"#,
    )
    .await;
    assert_eq!(ns.status, 201);
    let r = call(
        &s,
        "POST",
        "/api/v1/namespaces/ns/services",
        "application/json",
        json!({"metadata": {"name": "new"}, "spec": {"type": "NodePort", "ports": [{"port": 80, "nodePort": 31888}]}}).to_string(),
    )
    .await;
    assert_eq!(r.status, 422, "{}", r.body);
}
