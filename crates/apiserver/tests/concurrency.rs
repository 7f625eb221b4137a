//! Writes without a precondition never fail with a conflict the client did
//! not ask for: concurrent unconditional PUTs, patches and server-side
//! applies from different managers all succeed (upstream retries them on
//! the new state, as its GuaranteedUpdate does); a stale precondition still
//! conflicts.

mod common;

use common::call;
use serde_json::json;
use skiff_apiserver::Options;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn unconditional_writes_do_not_conflict() {
    let (s, _d) = common::server_with_namespace_and(Options::default()).await;
    let r = call(
        &s,
        "POST",
        "/api/v1/namespaces/ns/configmaps",
        "application/json",
        r#"{"metadata":{"name":"x"}}"#,
    )
    .await;
    assert_eq!(r.status, 201);
    let path = "/api/v1/namespaces/ns/configmaps/x";
    let tasks: Vec<_> = (0..60)
        .map(|i| {
            let s = s.clone();
            tokio::spawn(async move {
                let (method, content_type, body, query) = match i % 3 {
                    0 => (
                        "PUT",
                        "application/json",
                        json!({"metadata": {"name": "x"}, "data": {"put": i.to_string()}}),
                        String::new(),
                    ),
                    1 => (
                        "PATCH",
                        "application/merge-patch+json",
                        json!({"data": {format!("patch{i}"): "v"}}),
                        String::new(),
                    ),
                    _ => (
                        "PATCH",
                        "application/apply-patch+yaml",
                        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "data": {format!("apply{i}"): "v"}}),
                        format!("?fieldManager=m{i}"),
                    ),
                };
                let r = call(&s, method, &format!("{path}{query}"), content_type, body.to_string()).await;
                (i, r)
            })
        })
        .collect();
    for t in tasks {
        let (i, r) = t.await.unwrap();
        assert_eq!(r.status, 200, "write {i}: {}", r.body);
    }
    // A stale precondition still conflicts.
    let r = call(
        &s,
        "PUT",
        path,
        "application/json",
        json!({"metadata": {"name": "x", "resourceVersion": "1"}}).to_string(),
    )
    .await;
    assert_eq!(r.status, 409, "{}", r.body);
    let r = call(
        &s,
        "PATCH",
        &format!("{path}?fieldManager=late"),
        "application/apply-patch+yaml",
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "resourceVersion": "1"}}).to_string(),
    )
    .await;
    assert_eq!(r.status, 409, "{}", r.body);
}
