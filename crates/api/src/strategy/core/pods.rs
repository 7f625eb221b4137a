//! Pods (upstream's `pkg/registry/core/pod/strategy.go`): the initial
//! Pending status with its QoS class, validation, graceful deletion of
//! scheduled pods, the status strategy's resets and the `ephemeralcontainers`
//! and `resize` subresources.

use serde_json::{Value, json};

use crate::catalogue::ResourceDef;
use crate::errors::Cause;
use crate::strategy::{self, Strategy, UpdateVia};
use crate::validation::{pod_subresources, pods};

pub struct Pods(pub &'static ResourceDef);

/// The longest grace period a deletion gets (a hundred years): the deletion
/// time must stay a time (an i64 of seconds added to now overflows;
/// upstream's Go arithmetic wraps).
const MAX_GRACE_PERIOD_SECONDS: i64 = 100 * 365 * 24 * 3600;

impl Strategy for Pods {
    fn def(&self) -> &'static ResourceDef {
        self.0
    }

    fn initial_status(&self, o: &mut Value) {
        let qos = pod_subresources::qos_class(o.get("spec").unwrap_or(&Value::Null));
        o["status"] = json!({"phase": "Pending", "qosClass": qos});
    }

    fn prepare_for_update(&self, via: UpdateVia, new: &mut Value, old: &Value) {
        match via {
            UpdateVia::EphemeralContainers => {
                pod_subresources::prepare_ephemeral_containers(new, old)
            }
            UpdateVia::Resize => pod_subresources::prepare_resize(new, old),
            UpdateVia::Status => {
                strategy::prepare_for_status_update(self, new, old);
                // Old kubelets drop the QoS class: it comes back from the stored pod.
                if new.pointer("/status/qosClass").is_none_or(|q| q == "")
                    && let Some(q) = old.pointer("/status/qosClass")
                {
                    new["status"]["qosClass"] = q.clone();
                }
            }
            _ => strategy::prepare_for_update(self, new, old),
        }
    }

    /// Old kubelets corrupt owner references.
    fn status_resets(&self) -> &'static [&'static str] {
        &["ownerReferences", "deletionTimestamp"]
    }

    fn validate(&self, obj: &Value) -> Vec<Cause> {
        pods::validate_pod(obj)
    }

    fn validate_update(&self, via: UpdateVia, new: &Value, old: &Value) -> Vec<Cause> {
        match via {
            UpdateVia::Main => pods::validate_pod_update(new, old),
            UpdateVia::EphemeralContainers => {
                pod_subresources::validate_ephemeral_containers_update(new, old)
            }
            UpdateVia::Resize => pod_subresources::validate_resize(new, old),
            _ => Vec::new(),
        }
    }

    fn return_deleted_object(&self) -> bool {
        true
    }

    /// Pods bound to a node and not yet finished wait for their node
    /// (`requested`, else the pod's `terminationGracePeriodSeconds`, else 30 s).
    fn graceful_delete_seconds(&self, obj: &Value, requested: Option<i64>) -> i64 {
        let scheduled = obj
            .pointer("/spec/nodeName")
            .and_then(Value::as_str)
            .is_some_and(|n| !n.is_empty());
        let phase = obj
            .pointer("/status/phase")
            .and_then(Value::as_str)
            .unwrap_or("");
        if !scheduled || matches!(phase, "Succeeded" | "Failed") {
            return 0;
        }
        requested
            .or_else(|| {
                obj.pointer("/spec/terminationGracePeriodSeconds")
                    .and_then(Value::as_i64)
            })
            .unwrap_or(30)
            .clamp(0, MAX_GRACE_PERIOD_SECONDS)
    }

    /// A pod deleted at once is first marked, with a zero grace period
    /// (watchers see MODIFIED, then DELETED), as upstream's
    /// `updateForGracefulDeletionAndFinalizers` does.
    fn marks_immediate_delete(&self) -> bool {
        true
    }
}
