//! The APIService of every built-in group version, served locally (upstream's
//! autoregister controller, `kube-aggregator/pkg/controllers/autoregister`):
//! created when missing, its spec and label repaired when changed, its status
//! `Available` (local APIServices are always available), and an APIService this
//! server registered on an earlier start (`automanaged: onstart`) for a group
//! version it no longer serves deleted, as after an upgrade that drops one.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::BootstrapError;
use super::client::{Loopback, Updated};

const COLLECTION: &str = "/apis/apiregistration.k8s.io/v1/apiservices";
const AUTOMANAGED: &str = "kube-aggregator.kubernetes.io/automanaged";

/// The APIServices this server serves locally, by name, with their specs.
fn desired() -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    for (group, versions) in skiff_apiserver::served_group_versions() {
        for version in *versions {
            let name = format!("{version}.{group}");
            let Some((group_min, version_priority)) = super::priorities::of(group, version) else {
                continue;
            };
            let mut spec = json!({"version": version, "groupPriorityMinimum": group_min,
                                  "versionPriority": version_priority});
            if !group.is_empty() {
                spec["group"] = json!(group);
            }
            out.insert(name, spec);
        }
    }
    out
}

pub(crate) async fn reconcile(client: &Loopback) -> Result<(), BootstrapError> {
    let desired = desired();
    for (name, spec) in &desired {
        let obj = json!({"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
                         "metadata": {"name": name, "labels": {AUTOMANAGED: "onstart"}},
                         "spec": spec});
        // Only the spec of a managed APIService is repaired; one a user took
        // over (label removed or changed) is left alone, as upstream's.
        let current = client
            .reconcile(COLLECTION, name, &obj, |cur| {
                let label =
                    cur.pointer("/metadata/labels/kube-aggregator.kubernetes.io~1automanaged");
                let managed = matches!(label.and_then(Value::as_str), Some("onstart" | "true"));
                let same = spec
                    .as_object()
                    .is_some_and(|want| want.iter().all(|(k, v)| cur["spec"].get(k) == Some(v)))
                    && cur.pointer("/spec/service").is_none_or(Value::is_null);
                if !managed || same {
                    return false;
                }
                cur["spec"] = spec.clone();
                true
            })
            .await?;
        let available = current
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .is_some_and(|c| {
                c.iter()
                    .any(|c| c["type"] == "Available" && c["status"] == "True")
            });
        if !available {
            let mut updated = current.clone();
            updated["status"] = json!({"conditions": [{
                "type": "Available", "status": "True",
                "lastTransitionTime": current.pointer("/metadata/creationTimestamp"),
                "reason": "Local", "message": "Local APIServices are always available"}]});
            // A conflict means another server wrote it first: the next round looks again.
            if let Updated::Stale = client
                .update(&format!("{COLLECTION}/{name}/status"), &updated)
                .await?
            {
                tracing::debug!(apiservice = %name, "status written concurrently");
            }
        }
    }
    for item in client.list(COLLECTION).await? {
        let name = item
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let onstart = item.pointer("/metadata/labels/kube-aggregator.kubernetes.io~1automanaged")
            == Some(&json!("onstart"));
        let local = item.pointer("/spec/service").is_none_or(Value::is_null);
        if onstart && local && !desired.contains_key(name) {
            tracing::info!(apiservice = %name, "bootstrap: removing an APIService no longer served");
            client.delete(&format!("{COLLECTION}/{name}")).await?;
        }
    }
    Ok(())
}
