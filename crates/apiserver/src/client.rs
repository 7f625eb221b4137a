//! The in-process client: a kube-rs `Client` whose transport is the API server's
//! own request handler — no TCP, no TLS — authenticated as the loopback identity
//! and passing through the same handler chain as any remote client. Controllers,
//! the scheduler and other components in the `skiff server` process use it.

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::BodyExt;

use crate::{ApiServer, UserInfo};

impl ApiServer {
    /// A kube-rs client served in-process by this API server.
    pub fn client(&self) -> kube::Client {
        self.client_with_user_agent(&format!(
            "kube-apiserver/v{}.{}.0 skiff/{}",
            crate::health::KUBERNETES_VERSION.0,
            crate::health::KUBERNETES_VERSION.1,
            env!("CARGO_PKG_VERSION")
        ))
    }

    /// An in-process client whose requests carry `user_agent` (as the
    /// component's own client would: audit shows it, and field managers
    /// default to its first word, e.g. `kube-controller-manager`).
    pub fn client_with_user_agent(&self, user_agent: &str) -> kube::Client {
        self.client_as(user_agent, UserInfo::loopback())
    }

    /// An in-process client acting as `user` (a component with its own
    /// identity, as a controller with its service account's credentials).
    pub fn client_as(&self, user_agent: &str, user: UserInfo) -> kube::Client {
        let server = self.clone();
        let agent = http::HeaderValue::from_str(user_agent)
            .unwrap_or_else(|_| http::HeaderValue::from_static("skiff"));
        let service = tower::service_fn(move |req: http::Request<kube::client::Body>| {
            let server = server.clone();
            let agent = agent.clone();
            let user = user.clone();
            async move {
                let (mut parts, body) = req.into_parts();
                parts
                    .headers
                    .entry(http::header::USER_AGENT)
                    .or_insert(agent);
                let bytes: Bytes = match body.collect().await {
                    Ok(collected) => collected.to_bytes(),
                    Err(e) => {
                        let err = skiff_api::ApiError::bad_request(format!(
                            "reading the request body: {e}"
                        ));
                        return Ok::<_, Infallible>(crate::response::error(&err));
                    }
                };
                Ok(server
                    .handle(http::Request::from_parts(parts, bytes), Some(user))
                    .await)
            }
        });
        kube::Client::new(service, "default")
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use futures::{StreamExt, TryStreamExt};
    use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
    use kube::api::{Api, ListParams, PostParams, WatchEvent, WatchParams};

    use crate::{ApiServer, Options};

    #[tokio::test]
    async fn kube_rs_in_process() {
        let dir = tempfile::tempdir().unwrap();
        let store =
            skiff_store::sqlite::SqliteStore::open(dir.path().join("state.db"), Default::default())
                .await
                .unwrap();
        let server = ApiServer::new(Arc::new(store), Options::default());
        let client = server.client();
        let namespaces: Api<Namespace> = Api::all(client.clone());
        let ns: Namespace =
            serde_json::from_value(serde_json::json!({"metadata": {"name": "inproc"}})).unwrap();
        namespaces
            .create(&PostParams::default(), &ns)
            .await
            .unwrap();
        let cms: Api<ConfigMap> = Api::namespaced(client, "inproc");
        let cm: ConfigMap = serde_json::from_value(
            serde_json::json!({"metadata": {"name": "a"}, "data": {"k": "v"}}),
        )
        .unwrap();
        let created = cms.create(&PostParams::default(), &cm).await.unwrap();
        assert!(created.metadata.uid.is_some());
        let rv = created.metadata.resource_version.clone().unwrap();
        let got = cms.get("a").await.unwrap();
        assert_eq!(got.data.as_ref().unwrap()["k"], "v");
        assert_eq!(
            cms.list(&ListParams::default()).await.unwrap().items.len(),
            1
        );
        let err = cms.create(&PostParams::default(), &cm).await.unwrap_err();
        assert!(
            matches!(err, kube::Error::Api(ref s) if s.code == 409 && s.reason == "AlreadyExists"),
            "{err:?}"
        );
        // A watch from the created version sees the next change.
        let mut stream = cms
            .watch(&WatchParams::default(), &rv)
            .await
            .unwrap()
            .boxed();
        let mut changed = got.clone();
        changed.data = Some([("k".to_string(), "w".to_string())].into());
        cms.replace("a", &PostParams::default(), &changed)
            .await
            .unwrap();
        match stream.try_next().await.unwrap().unwrap() {
            WatchEvent::Modified(cm) => assert_eq!(cm.data.unwrap()["k"], "w"),
            other => panic!("{other:?}"),
        }
    }
}
