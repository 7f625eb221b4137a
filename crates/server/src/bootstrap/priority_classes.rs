//! The built-in PriorityClasses (upstream's
//! `scheduling/bootstrap-system-priority-classes` post-start hook): created when
//! missing; an existing one is left as it is (its value is immutable anyway).

use serde_json::json;

use super::BootstrapError;
use super::client::Loopback;

/// (name, value, description) of the system priority classes.
pub const SYSTEM_PRIORITY_CLASSES: [(&str, i64, &str); 2] = [
    (
        "system-node-critical",
        2000001000,
        "Used for system critical pods that must not be moved from their current node.",
    ),
    (
        "system-cluster-critical",
        2000000000,
        "Used for system critical pods that must run in the cluster, but can be moved to another node if necessary.",
    ),
];

pub(crate) async fn reconcile(client: &Loopback) -> Result<(), BootstrapError> {
    for (name, value, description) in SYSTEM_PRIORITY_CLASSES {
        client
            .ensure(
                "/apis/scheduling.k8s.io/v1/priorityclasses",
                name,
                &json!({"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
                        "metadata": {"name": name}, "value": value, "globalDefault": false,
                        "description": description, "preemptionPolicy": "PreemptLowerPriority"}),
            )
            .await?;
    }
    Ok(())
}
