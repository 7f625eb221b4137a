//! PriorityClasses, as upstream's `pkg/apis/scheduling/validation`: the
//! value and preemption policy are fixed at creation.

use serde_json::{Value, json};

use super::common::str_of;
use crate::errors::Cause;

/// `ValidatePriorityClassUpdate`.
pub fn validate_priority_class_update(new: &Value, old: &Value) -> Vec<Cause> {
    let mut causes = Vec::new();
    if new.get("value") != old.get("value") {
        causes.push(Cause::forbidden(
            "value",
            "may not be changed in an update.",
        ));
    }
    let policy = |o: &Value| match str_of(o, "preemptionPolicy") {
        "" => "PreemptLowerPriority".to_string(),
        p => p.to_string(),
    };
    if policy(new) != policy(old) {
        causes.push(Cause::invalid(
            "preemptionPolicy",
            &json!(policy(new)),
            "field is immutable",
        ));
    }
    causes
}

/// The priority classes a cluster starts with, which may not be deleted.
pub fn is_system_priority_class(name: &str) -> bool {
    matches!(name, "system-node-critical" | "system-cluster-critical")
}
