//! The system namespaces (upstream's systemnamespaces controller and the
//! kubernetesservice controller's `default`): created when missing, never
//! changed. A namespace a user is deleting stays as it is (its create answers
//! 409 until it is gone, and the next round creates it again).

use serde_json::json;

use super::BootstrapError;
use super::client::Loopback;

/// The namespaces every cluster has.
pub const SYSTEM_NAMESPACES: [&str; 4] =
    ["default", "kube-system", "kube-public", "kube-node-lease"];

pub(crate) async fn reconcile(client: &Loopback) -> Result<(), BootstrapError> {
    for ns in SYSTEM_NAMESPACES {
        client
            .ensure(
                "/api/v1/namespaces",
                ns,
                &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
            )
            .await?;
    }
    Ok(())
}
