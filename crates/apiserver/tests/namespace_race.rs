//! No object outlives its namespace: a create that checked its namespace
//! while it was active, but reaches the store only after the namespace's
//! deletion began (and its content was listed and removed), is refused, not
//! written into a namespace that then disappears. The store below holds such
//! a create at a gate until the namespace is gone.

mod common;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use skiff_apiserver::{ApiServer, Options};
use skiff_store::{
    Guard, KeyRange, KeyValue, ListRequest, ListResponse, Outcome, Result, Store, WatchStream,
};
use tokio::sync::{Notify, Semaphore};

/// A store whose creates under `prefix` wait until the gate opens.
struct GatedStore {
    inner: Arc<dyn Store>,
    prefix: String,
    arrived: Notify,
    gate: Semaphore,
}

impl GatedStore {
    async fn pass(&self, key: &str) {
        if key.starts_with(&self.prefix) {
            self.arrived.notify_one();
            self.gate.acquire().await.expect("open").forget();
        }
    }
}

#[async_trait]
impl Store for GatedStore {
    async fn get(&self, key: &str, revision: i64) -> Result<(i64, Option<KeyValue>)> {
        self.inner.get(key, revision).await
    }
    async fn list(&self, request: ListRequest) -> Result<ListResponse> {
        self.inner.list(request).await
    }
    async fn create(&self, key: &str, value: Bytes, ttl: Option<Duration>) -> Result<Outcome> {
        self.pass(key).await;
        self.inner.create(key, value, ttl).await
    }
    async fn create_guarded(
        &self,
        key: &str,
        value: Bytes,
        ttl: Option<Duration>,
        guard: &Guard,
    ) -> Result<Outcome> {
        self.pass(key).await;
        self.inner.create_guarded(key, value, ttl, guard).await
    }
    async fn update(
        &self,
        key: &str,
        value: Bytes,
        expected_mod_revision: i64,
        ttl: Option<Duration>,
    ) -> Result<Outcome> {
        self.inner
            .update(key, value, expected_mod_revision, ttl)
            .await
    }
    async fn delete(&self, key: &str, expected_mod_revision: Option<i64>) -> Result<Outcome> {
        self.inner.delete(key, expected_mod_revision).await
    }
    async fn watch(&self, range: KeyRange, start_revision: i64) -> Result<WatchStream> {
        self.inner.watch(range, start_revision).await
    }
    async fn current_revision(&self) -> Result<i64> {
        self.inner.current_revision().await
    }
    async fn compact(&self, revision: i64) -> Result<()> {
        self.inner.compact(revision).await
    }
    async fn check_health(&self) -> Result<()> {
        self.inner.check_health().await
    }
    fn backend(&self) -> &'static str {
        self.inner.backend()
    }
}

#[tokio::test]
async fn a_create_in_flight_when_its_namespace_goes_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite =
        skiff_store::sqlite::SqliteStore::open(dir.path().join("state.db"), Default::default())
            .await
            .unwrap();
    let store = Arc::new(GatedStore {
        inner: Arc::new(sqlite),
        prefix: "/registry/core/configmaps/race/".into(),
        arrived: Notify::new(),
        gate: Semaphore::new(0),
    });
    let s = ApiServer::new(store.clone(), Options::default());
    let json = "application/json";
    let r = common::call(
        &s,
        "POST",
        "/api/v1/namespaces",
        json,
        r#"{"metadata":{"name":"race"}}"#,
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    // A create that found the namespace active, held before its write.
    let late = tokio::spawn({
        let s = s.clone();
        async move {
            common::call(
                &s,
                "POST",
                "/api/v1/namespaces/race/configmaps",
                json,
                r#"{"metadata":{"name":"late"}}"#,
            )
            .await
        }
    });
    store.arrived.notified().await;
    // The namespace is deleted meanwhile: its (empty) content is removed
    // and it goes.
    let r = common::call(&s, "DELETE", "/api/v1/namespaces/race", json, "").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while common::call(&s, "GET", "/api/v1/namespaces/race", json, "")
        .await
        .status
        != 404
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the namespace was not deleted"
        );
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Then the held create reaches the store: refused as a create in a
    // namespace that does not exist.
    store.gate.add_permits(1);
    let r = late.await.unwrap();
    assert_eq!(r.status, 404, "{}", r.body);
    assert_eq!(r.body["message"], r#"namespaces "race" not found"#);
    let left = store
        .list(ListRequest {
            prefix: "/registry/core/configmaps/race/".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(left.kvs.is_empty(), "{:?} outlived its namespace", left.kvs);
}
