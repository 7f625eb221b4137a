//! Bad input gets upstream's error, as a `metav1.Status`, and changes nothing:
//! the API server driven in-process through `ApiServer::handle`.

mod common;

use bytes::Bytes;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use skiff_apiserver::{ApiServer, Options, UserInfo};

use common::server;

async fn call(
    s: &ApiServer,
    method: &str,
    path: &str,
    content_type: &str,
    body: impl Into<Bytes>,
) -> (u16, Value) {
    let r = common::call(s, method, path, content_type, body).await;
    (r.status, r.body)
}

async fn json_call(s: &ApiServer, method: &str, path: &str, body: Value) -> (u16, Value) {
    call(
        s,
        method,
        path,
        "application/json",
        serde_json::to_vec(&body).unwrap(),
    )
    .await
}

fn assert_status(got: &(u16, Value), code: u16, reason: &str) {
    assert_eq!(got.0, code, "{}", got.1);
    assert_eq!(got.1["kind"], "Status", "{}", got.1);
    assert_eq!(got.1["code"], code);
    assert_eq!(got.1["reason"], reason, "{}", got.1);
}

#[tokio::test]
async fn bad_requests_get_upstreams_errors() {
    let (s, store, _dir) = server(Options::default()).await;
    let ns = json_call(
        &s,
        "POST",
        "/api/v1/namespaces",
        json!({"metadata": {"name": "ns"}}),
    )
    .await;
    assert_eq!(ns.0, 201, "{}", ns.1);
    let pods = "/api/v1/namespaces/ns/pods";
    // Before its controller makes the namespace's `default` service
    // account, pods are refused by ServiceAccount admission (which runs
    // before validation, as upstream's mutating admission).
    let early = json_call(&s, "POST", pods, json!({"metadata": {"name": "Bad_Name"}, "spec": {"containers": [{"name": "c", "image": "i"}]}})).await;
    assert_eq!(early.0, 403, "{}", early.1);
    assert_eq!(
        early.1["message"],
        r#"pods "Bad_Name" is forbidden: error looking up service account ns/default: serviceaccount "default" not found"#
    );
    let sa = json_call(
        &s,
        "POST",
        "/api/v1/namespaces/ns/serviceaccounts",
        json!({"metadata": {"name": "default"}}),
    )
    .await;
    assert_eq!(sa.0, 201, "{}", sa.1);

    // Malformed JSON and YAML.
    assert_status(
        &call(&s, "POST", pods, "application/json", "{not json").await,
        400,
        "BadRequest",
    );
    assert_status(
        &call(&s, "POST", pods, "application/yaml", "a: [unclosed").await,
        400,
        "BadRequest",
    );
    // A body of the wrong kind.
    let wrong = json_call(
        &s,
        "POST",
        pods,
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "x"}}),
    )
    .await;
    assert_status(&wrong, 400, "BadRequest");
    // Unsupported media type.
    assert_status(
        &call(&s, "POST", pods, "text/plain", "hello").await,
        415,
        "UnsupportedMediaType",
    );
    // Too large.
    assert_status(
        &call(
            &s,
            "POST",
            pods,
            "application/json",
            vec![b' '; 3 * 1024 * 1024 + 1],
        )
        .await,
        413,
        "RequestEntityTooLarge",
    );
    // Unknown resource and object.
    assert_status(
        &json_call(&s, "GET", "/api/v1/namespaces/ns/nonsense", Value::Null).await,
        404,
        "NotFound",
    );
    let missing = json_call(
        &s,
        "GET",
        "/apis/apps/v1/namespaces/ns/deployments/nope",
        Value::Null,
    )
    .await;
    assert_status(&missing, 404, "NotFound");
    assert_eq!(missing.1["message"], "deployments.apps \"nope\" not found");
    assert_eq!(
        missing.1["details"],
        json!({"name": "nope", "group": "apps", "kind": "deployments"})
    );
    // A verb the resource does not have.
    let ssar = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews";
    assert_status(
        &json_call(&s, "GET", ssar, Value::Null).await,
        405,
        "MethodNotAllowed",
    );
    // Invalid: every cause, not only the first.
    let bad = json_call(&s, "POST", pods, json!({"metadata": {"name": "Bad_Name"}, "spec": {"containers": [{"name": "c"}, {"name": "c", "image": "x"}]}})).await;
    assert_status(&bad, 422, "Invalid");
    let fields: Vec<&str> = bad.1["details"]["causes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        [
            "metadata.name",
            "spec.containers[0].image",
            "spec.containers[1].name"
        ]
    );
    assert!(
        bad.1["message"]
            .as_str()
            .unwrap()
            .starts_with("Pod \"Bad_Name\" is invalid: ["),
        "{}",
        bad.1
    );
    // Conflicts: create twice, update with a stale resource version.
    let cm = json!({"metadata": {"name": "c"}, "data": {"a": "1"}});
    let created = json_call(&s, "POST", "/api/v1/namespaces/ns/configmaps", cm.clone()).await;
    assert_eq!(created.0, 201);
    let again = json_call(&s, "POST", "/api/v1/namespaces/ns/configmaps", cm).await;
    assert_status(&again, 409, "AlreadyExists");
    assert_eq!(again.1["message"], "configmaps \"c\" already exists");
    let mut stale = created.1.clone();
    stale["data"]["a"] = json!("2");
    assert_eq!(
        json_call(
            &s,
            "PUT",
            "/api/v1/namespaces/ns/configmaps/c",
            stale.clone()
        )
        .await
        .0,
        200
    );
    let conflict = json_call(&s, "PUT", "/api/v1/namespaces/ns/configmaps/c", stale).await;
    assert_status(&conflict, 409, "Conflict");
    assert_eq!(
        conflict.1["message"],
        "Operation cannot be fulfilled on configmaps \"c\": the object has been modified; please apply your changes to the latest version and try again"
    );
    // A namespace that does not exist.
    let orphan = json_call(
        &s,
        "POST",
        "/api/v1/namespaces/nope/configmaps",
        json!({"metadata": {"name": "x"}}),
    )
    .await;
    assert_status(&orphan, 404, "NotFound");
    // Nothing of the above was stored.
    let list = json_call(&s, "GET", pods, Value::Null).await;
    assert_eq!(list.1["items"], json!([]));
    // Paginate, compact, then continue: 410 Expired.
    let _ = json_call(
        &s,
        "POST",
        "/api/v1/namespaces/ns/configmaps",
        json!({"metadata": {"name": "d"}}),
    )
    .await;
    let page = json_call(
        &s,
        "GET",
        "/api/v1/namespaces/ns/configmaps?limit=1",
        Value::Null,
    )
    .await;
    let token = page.1["metadata"]["continue"].as_str().unwrap().to_string();
    assert_eq!(page.1["metadata"]["remainingItemCount"], 1);
    let next = json_call(
        &s,
        "GET",
        &format!("/api/v1/namespaces/ns/configmaps?limit=1&continue={token}"),
        Value::Null,
    )
    .await;
    assert_eq!(next.1["items"][0]["metadata"]["name"], "d", "{}", next.1);
    let _ = json_call(
        &s,
        "POST",
        "/api/v1/namespaces/ns/configmaps",
        json!({"metadata": {"name": "e"}}),
    )
    .await;
    store
        .compact(store.current_revision().await.unwrap())
        .await
        .unwrap();
    let expired = json_call(
        &s,
        "GET",
        &format!("/api/v1/namespaces/ns/configmaps?limit=1&continue={token}"),
        Value::Null,
    )
    .await;
    assert_status(&expired, 410, "Expired");
    let garbage = json_call(
        &s,
        "GET",
        "/api/v1/namespaces/ns/configmaps?limit=1&continue=%%%",
        Value::Null,
    )
    .await;
    assert_status(&garbage, 400, "BadRequest");
}

#[tokio::test]
async fn overload_answers_429() {
    let (s, _store, _dir) = server(Options {
        max_requests_inflight: 0,
        ..Options::default()
    })
    .await;
    let req = || {
        http::Request::builder()
            .uri("/api/v1/namespaces")
            .body(Bytes::new())
            .unwrap()
    };
    // The server's own loopback is exempt (its bootstrap keeps its lease).
    assert_eq!(
        s.handle(req(), Some(UserInfo::loopback())).await.status(),
        200
    );
    let admin = UserInfo {
        name: "admin".into(),
        uid: String::new(),
        groups: vec!["system:masters".into(), "system:authenticated".into()],
        ..Default::default()
    };
    let resp = s.handle(req(), Some(admin)).await;
    // As upstream's max-in-flight filter: plain text with Retry-After, not a Status.
    assert_eq!(resp.status(), 429);
    assert_eq!(resp.headers()["Retry-After"], "1");
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(&body[..], b"Too many requests, please try again later.\n");
}

#[tokio::test]
async fn requests_without_credentials_are_anonymous_or_401() {
    let anonymous = |path: &str| {
        http::Request::builder()
            .uri(path)
            .body(Bytes::new())
            .unwrap()
    };
    // --anonymous-auth (the default): system:anonymous, which RBAC refuses
    // everything but public information (no bootstrap policy here).
    let (s, _store, _dir) = server(Options::default()).await;
    for (path, message) in [
        (
            "/api/v1/namespaces",
            r#"namespaces is forbidden: User "system:anonymous" cannot list resource "namespaces" in API group "" at the cluster scope"#,
        ),
        (
            "/apis",
            r#"forbidden: User "system:anonymous" cannot get path "/apis""#,
        ),
        (
            "/metrics",
            r#"forbidden: User "system:anonymous" cannot get path "/metrics""#,
        ),
    ] {
        let resp = s.handle(anonymous(path), None).await;
        assert_eq!(resp.status(), 403, "{path}");
        let body: Value =
            serde_json::from_slice(&resp.into_body().collect().await.unwrap().to_bytes()).unwrap();
        assert_eq!(body["message"], message);
    }
    // --anonymous-auth=false: 401.
    let (s, _store, _dir) = server(Options {
        anonymous_auth: false,
        ..Options::default()
    })
    .await;
    s.set_ready();
    // Health and version paths too, as upstream: only credentials are
    // served then (and served by any user's authority).
    for path in [
        "/api/v1/namespaces",
        "/apis",
        "/metrics",
        "/openapi/v3",
        "/healthz",
        "/livez",
        "/readyz",
        "/version",
        "/readyz?verbose",
    ] {
        let resp = s.handle(anonymous(path), None).await;
        assert_eq!(resp.status(), 401, "{path}");
        let body: Value =
            serde_json::from_slice(&resp.into_body().collect().await.unwrap().to_bytes()).unwrap();
        assert_eq!(body["reason"], "Unauthorized");
    }
    for path in [
        "/healthz",
        "/livez",
        "/readyz",
        "/version",
        "/readyz?verbose",
    ] {
        let resp = s.handle(anonymous(path), Some(UserInfo::loopback())).await;
        assert_eq!(resp.status(), 200, "{path}");
    }
}
