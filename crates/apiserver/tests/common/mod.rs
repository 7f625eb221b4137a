//! Helpers shared by the in-process API server tests: a server on a fresh
//! SQLite store and one request through `ApiServer::handle`. Each test binary
//! uses part of it.
#![allow(dead_code)]

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::BodyExt;
use serde_json::Value;
use skiff_apiserver::{ApiServer, Options, UserInfo};

/// A response: status, JSON body (Null if not JSON) and `Warning` headers.
pub struct Reply {
    pub status: u16,
    pub body: Value,
    pub warnings: Vec<String>,
}

/// An API server on a new SQLite store in a temporary directory.
pub async fn server(
    options: Options,
) -> (ApiServer, Arc<dyn skiff_store::Store>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn skiff_store::Store> = Arc::new(
        skiff_store::sqlite::SqliteStore::open(dir.path().join("state.db"), Default::default())
            .await
            .unwrap(),
    );
    let server = ApiServer::new(store.clone(), options);
    (server, store, dir)
}

/// One request as the loopback user.
pub async fn call(
    s: &ApiServer,
    method: &str,
    path: &str,
    content_type: &str,
    body: impl Into<Bytes>,
) -> Reply {
    let req = http::Request::builder()
        .method(method)
        .uri(path)
        .header("Content-Type", content_type)
        .body(body.into())
        .unwrap();
    let resp = s.handle(req, Some(UserInfo::loopback())).await;
    let status = resp.status().as_u16();
    let warnings = resp
        .headers()
        .get_all("Warning")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    Reply {
        status,
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        warnings,
    }
}

/// An API server on a new SQLite store with the namespace `ns` as the
/// controllers leave a new namespace: with its `default` ServiceAccount
/// (which pods run as).
pub async fn server_with_namespace() -> (ApiServer, tempfile::TempDir) {
    server_with_namespace_and(Options::default()).await
}

/// [`server_with_namespace`] with `options`.
pub async fn server_with_namespace_and(options: Options) -> (ApiServer, tempfile::TempDir) {
    let (server, _, dir) = server(options).await;
    let ns = call(
        &server,
        "POST",
        "/api/v1/namespaces",
        "application/json",
        r#"{"metadata":{"name":"ns"}}"#,
    )
    .await;
    assert_eq!(ns.status, 201, "{}", ns.body);
    let sa = call(
        &server,
        "POST",
        "/api/v1/namespaces/ns/serviceaccounts",
        "application/json",
        r#"{"metadata":{"name":"default"}}"#,
    )
    .await;
    assert_eq!(sa.status, 201, "{}", sa.body);
    (server, dir)
}
