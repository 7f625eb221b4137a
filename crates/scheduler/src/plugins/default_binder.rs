//! DefaultBinder (upstream's `plugins/defaultbinder`): binds a pod by
//! POSTing a Binding to its `binding` subresource, with the pod's uid so
//! that a pod deleted and re-created meanwhile is not bound.

use std::sync::Arc;

use futures::FutureExt;
use futures::future::BoxFuture;
use k8s_openapi::api::core::v1::{Binding, ObjectReference, Pod};
use kube::api::{Api, ObjectMeta, PostParams};

use crate::framework::{BindPlugin, CycleState, PodInfo, Status};

pub const NAME: &str = "DefaultBinder";

pub struct DefaultBinder {
    pub client: kube::Client,
}

plugin!(DefaultBinder, NAME, [bind], []);

impl BindPlugin for DefaultBinder {
    fn bind(
        &self,
        _: Arc<CycleState>,
        pod: Arc<PodInfo>,
        node: String,
    ) -> BoxFuture<'static, Status> {
        let client = self.client.clone();
        async move {
            let pods: Api<Pod> = Api::namespaced(client, pod.namespace());
            let binding = Binding {
                metadata: ObjectMeta {
                    name: Some(pod.name().to_string()),
                    namespace: Some(pod.namespace().to_string()),
                    uid: Some(pod.uid().to_string()),
                    ..Default::default()
                },
                target: ObjectReference {
                    kind: Some("Node".into()),
                    name: Some(node),
                    ..Default::default()
                },
            };
            match pods
                .create_subresource::<_, serde_json::Value>(
                    "binding",
                    pod.name(),
                    &PostParams::default(),
                    &binding,
                )
                .await
            {
                Ok(_) => Status::success(),
                Err(kube::Error::Api(s)) => Status::error(s.message),
                Err(e) => Status::error(e.to_string()),
            }
        }
        .boxed()
    }
}
