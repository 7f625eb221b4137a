//! The ServiceAccount controller, as upstream's
//! (`pkg/controller/serviceaccount/serviceaccounts_controller.go`): every
//! active namespace has a `default` ServiceAccount, made when the namespace
//! appears and made again when it is deleted. Pods name it when they name
//! none (the ServiceAccount admission plugin), so a namespace's pods wait
//! for it.

use std::future::Future;
use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use kube::api::{Api, ObjectMeta, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;

use crate::Error;

/// The service accounts every namespace has (upstream's
/// `DefaultServiceAccountsControllerOptions`).
pub const ENSURED: &[&str] = &["default"];

struct Context {
    client: crate::ControllerClient,
}

/// Follows namespaces and their `default` ServiceAccounts until `shutdown`.
pub async fn run(
    client: crate::ControllerClient,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) {
    let namespaces: Api<Namespace> = Api::all(client.read.clone());
    let accounts: Api<ServiceAccount> = Api::all(client.read.clone());
    let names = ENSURED
        .iter()
        .map(|n| format!("metadata.name={n}"))
        .collect::<Vec<_>>();
    let mut controller = Controller::new(namespaces, watcher::Config::default());
    for name in names {
        controller = controller.watches(
            accounts.clone(),
            watcher::Config::default().fields(&name),
            |sa: ServiceAccount| {
                sa.metadata
                    .namespace
                    .map(|ns| ObjectRef::<Namespace>::new(&ns))
            },
        );
    }
    controller
        .graceful_shutdown_on(shutdown)
        .run(
            |ns, ctx| async move { sync_namespace(&ns, &ctx.client).await },
            |_, err, _| crate::retry(err),
            Arc::new(Context { client }),
        )
        .for_each(|result| async move {
            if let Err(e) = result {
                tracing::debug!(error = %e, "serviceaccount controller");
            }
        })
        .await;
}

/// Makes the ensured service accounts of an active namespace that lacks them.
pub async fn sync_namespace(
    ns: &Namespace,
    client: &crate::ControllerClient,
) -> Result<Action, Error> {
    let active = ns.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Active");
    let Some(name) = ns.metadata.name.as_deref().filter(|_| active) else {
        return Ok(Action::await_change());
    };
    let accounts: Api<ServiceAccount> = Api::namespaced(client.read.clone(), name);
    let writer: Api<ServiceAccount> = Api::namespaced(client.write.clone(), name);
    for account in ENSURED {
        if accounts.get_opt(account).await?.is_some() {
            continue;
        }
        let sa = ServiceAccount {
            metadata: ObjectMeta {
                name: Some(account.to_string()),
                ..Default::default()
            },
            ..Default::default()
        };
        match writer.create(&PostParams::default(), &sa).await {
            Ok(_) => {}
            Err(e) if crate::already_exists(&e) || crate::namespace_gone(&e) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(Action::await_change())
}
