//! The default ServiceCIDR `kubernetes` (upstream's
//! `kubernetes-service-cidr-controller`, pkg/controlplane/controller/
//! defaultservicecidr): created from the service range when missing, marked
//! Ready when its CIDRs are the server's; one that differs is left as it is
//! (an administrator's change) and reported.

use serde_json::{Value, json};

use super::BootstrapError;
use super::client::{Loopback, Updated};

/// The default ServiceCIDR's name.
pub const DEFAULT_SERVICE_CIDR_NAME: &str = "kubernetes";

const COLLECTION: &str = "/apis/networking.k8s.io/v1/servicecidrs";

/// The server's service ranges, as `--service-cluster-ip-range` gives them.
fn cidrs() -> Vec<String> {
    let (ip, bits) = skiff_apiserver::SERVICE_CIDR;
    vec![format!("{ip}/{bits}")]
}

pub(crate) async fn reconcile(client: &Loopback) -> Result<(), BootstrapError> {
    let cidrs = cidrs();
    let desired = json!({"apiVersion": "networking.k8s.io/v1", "kind": "ServiceCIDR",
        "metadata": {"name": DEFAULT_SERVICE_CIDR_NAME}, "spec": {"cidrs": cidrs}});
    for _ in 0..5 {
        let mut current = client
            .ensure(COLLECTION, DEFAULT_SERVICE_CIDR_NAME, &desired)
            .await?;
        // Being deleted: the deletion is the controller manager's to finish.
        if current.pointer("/metadata/deletionTimestamp").is_some() {
            return Ok(());
        }
        if current.pointer("/spec/cidrs") != Some(&json!(cidrs)) {
            tracing::warn!(
                configured = ?cidrs,
                found = %current["spec"]["cidrs"],
                "the default ServiceCIDR does not match the service range; configure the range to match it or delete it"
            );
            return Ok(());
        }
        let ready = current
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .and_then(|c| c.iter().find(|c| c["type"] == "Ready"))
            .and_then(|c| c["status"].as_str())
            .map(str::to_string);
        match ready.as_deref() {
            Some("True") => return Ok(()),
            // Set by someone else: not overwritten (upstream avoids hot loops).
            Some("False") => {
                tracing::warn!(
                    "the default ServiceCIDR is not Ready although it matches the service range"
                );
                return Ok(());
            }
            _ => {}
        }
        let mut conditions: Vec<Value> = current
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        conditions.retain(|c| c["type"] != "Ready");
        conditions.push(json!({"type": "Ready", "status": "True", "reason": "",
            "message": "Kubernetes default Service CIDR is ready",
            "lastTransitionTime": crate::bootstrap::now()}));
        current["status"] = json!({"conditions": conditions});
        let path = format!("{COLLECTION}/{DEFAULT_SERVICE_CIDR_NAME}/status");
        match client.update(&path, &current).await? {
            Updated::Updated(_) => return Ok(()),
            Updated::Stale => continue,
        }
    }
    Err(BootstrapError::new(
        COLLECTION,
        409,
        "the default ServiceCIDR changed concurrently five times in a row",
    ))
}
