//! The root CA publisher, as upstream's
//! (`pkg/controller/certificates/rootcacertpublisher/publisher.go`): every
//! namespace has the ConfigMap `kube-root-ca.crt` holding the cluster CA
//! (`ca.crt`) and upstream's description, so that pods verify the API
//! server (their `kube-api-access-*` volume projects it); changed or
//! deleted, it is put back.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Api, ObjectMeta, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;

use crate::Error;

/// The ConfigMap's name.
pub const CONFIG_MAP: &str = "kube-root-ca.crt";
/// The annotation describing it, and its text, as upstream's.
pub const DESCRIPTION_ANNOTATION: &str = "kubernetes.io/description";
pub const DESCRIPTION: &str = "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters.";

struct Context {
    client: crate::ControllerClient,
    root_ca: String,
}

/// Follows namespaces and their `kube-root-ca.crt` until `shutdown`.
pub async fn run(
    client: crate::ControllerClient,
    root_ca: String,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) {
    let namespaces: Api<Namespace> = Api::all(client.read.clone());
    let config_maps: Api<ConfigMap> = Api::all(client.read.clone());
    Controller::new(namespaces, watcher::Config::default())
        .watches(
            config_maps,
            watcher::Config::default().fields(&format!("metadata.name={CONFIG_MAP}")),
            |cm: ConfigMap| {
                cm.metadata
                    .namespace
                    .map(|ns| ObjectRef::<Namespace>::new(&ns))
            },
        )
        .graceful_shutdown_on(shutdown)
        .run(
            |ns, ctx| async move { sync_namespace(&ns, &ctx.client, &ctx.root_ca).await },
            |_, err, _| crate::retry(err),
            Arc::new(Context { client, root_ca }),
        )
        .for_each(|result| async move {
            if let Err(e) = result {
                tracing::debug!(error = %e, "root CA publisher");
            }
        })
        .await;
}

/// Creates or repairs the namespace's `kube-root-ca.crt`.
pub async fn sync_namespace(
    ns: &Namespace,
    client: &crate::ControllerClient,
    root_ca: &str,
) -> Result<Action, Error> {
    let Some(name) = ns.metadata.name.as_deref() else {
        return Ok(Action::await_change());
    };
    // A terminating namespace refuses new objects; its ConfigMap goes with it.
    if ns.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Terminating") {
        return Ok(Action::await_change());
    }
    let api: Api<ConfigMap> = Api::namespaced(client.read.clone(), name);
    let writer: Api<ConfigMap> = Api::namespaced(client.write.clone(), name);
    let data = BTreeMap::from([("ca.crt".to_string(), root_ca.to_string())]);
    match api.get_opt(CONFIG_MAP).await? {
        None => {
            let cm = ConfigMap {
                metadata: ObjectMeta {
                    name: Some(CONFIG_MAP.into()),
                    annotations: Some(BTreeMap::from([(
                        DESCRIPTION_ANNOTATION.to_string(),
                        DESCRIPTION.to_string(),
                    )])),
                    ..Default::default()
                },
                data: Some(data),
                ..Default::default()
            };
            match writer.create(&PostParams::default(), &cm).await {
                Ok(_) => {}
                Err(e) if crate::namespace_gone(&e) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Some(mut cm) => {
            let described = cm
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(DESCRIPTION_ANNOTATION))
                .is_some_and(|d| !d.is_empty());
            if cm.data.as_ref() == Some(&data) && described && cm.binary_data.is_none() {
                return Ok(Action::await_change());
            }
            cm.data = Some(data);
            cm.binary_data = None;
            cm.metadata
                .annotations
                .get_or_insert_with(Default::default)
                .insert(DESCRIPTION_ANNOTATION.into(), DESCRIPTION.into());
            writer
                .replace(CONFIG_MAP, &PostParams::default(), &cm)
                .await?;
        }
    }
    Ok(Action::await_change())
}
