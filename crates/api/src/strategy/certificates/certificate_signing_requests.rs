//! CertificateSigningRequests (upstream's
//! `pkg/registry/certificates/certificates/strategy.go`): the main resource
//! changes only metadata, the status strategy keeps the Approved/Denied
//! conditions, the approval strategy only the conditions; condition times
//! filled in. The requester is recorded by the registry (who asks).

use serde_json::{Value, json};

use crate::catalogue::ResourceDef;
use crate::errors::Cause;
use crate::meta;
use crate::strategy::{self, Strategy, UpdateVia, copy_field};
use crate::validation::certificates::{CsrUpdate, validate_csr_update};

pub struct CertificateSigningRequests(pub &'static ResourceDef);

impl Strategy for CertificateSigningRequests {
    fn def(&self) -> &'static ResourceDef {
        self.0
    }

    fn prepare_for_update(&self, via: UpdateVia, new: &mut Value, old: &Value) {
        match via {
            UpdateVia::Status => {
                strategy::prepare_for_status_update(self, new, old);
                preserve_conditions(new, old, "Approved");
                preserve_conditions(new, old, "Denied");
                populate_condition_timestamps(new, old);
            }
            UpdateVia::Approval => {
                populate_condition_timestamps(new, old);
                let conditions = new.pointer("/status/conditions").cloned();
                copy_field(new, old, "spec");
                copy_field(new, old, "status");
                match conditions {
                    Some(c) => new["status"]["conditions"] = c,
                    None => {
                        if let Some(status) = new.get_mut("status").and_then(Value::as_object_mut) {
                            status.remove("conditions");
                        }
                    }
                }
            }
            _ => {
                // Through the main resource only metadata changes.
                copy_field(new, old, "spec");
                strategy::prepare_for_update(self, new, old);
            }
        }
    }

    fn validate_update(&self, via: UpdateVia, new: &Value, old: &Value) -> Vec<Cause> {
        let how = match via {
            UpdateVia::Status => CsrUpdate::Status,
            UpdateVia::Approval => CsrUpdate::Approval,
            _ => CsrUpdate::Main,
        };
        validate_csr_update(new, old, how)
    }
}

fn conditions_of<'a>(obj: &'a Value, ty: &str) -> Vec<&'a Value> {
    obj.pointer("/status/conditions")
        .and_then(Value::as_array)
        .map(|c| c.iter().filter(|c| c["type"] == ty).collect())
        .unwrap_or_default()
}

/// A CSR's Approved or Denied conditions come back from the stored object
/// when their number did not change (upstream's `preserveConditionInstances`).
fn preserve_conditions(new: &mut Value, old: &Value, ty: &str) {
    let olds: Vec<Value> = conditions_of(old, ty).into_iter().cloned().collect();
    if olds.len() != conditions_of(new, ty).len() {
        return;
    }
    let mut olds = olds.into_iter();
    if let Some(conditions) = new
        .pointer_mut("/status/conditions")
        .and_then(Value::as_array_mut)
    {
        for c in conditions.iter_mut().filter(|c| c["type"] == ty) {
            if let Some(o) = olds.next() {
                *c = o;
            }
        }
    }
}

/// Condition timestamps a client left empty: `lastUpdateTime` now,
/// `lastTransitionTime` the stored condition's of the same type and status, or now.
fn populate_condition_timestamps(new: &mut Value, old: &Value) {
    let now = meta::now();
    let olds: Vec<Value> = old
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if let Some(conditions) = new
        .pointer_mut("/status/conditions")
        .and_then(Value::as_array_mut)
    {
        for c in conditions.iter_mut() {
            if c.get("lastUpdateTime").is_none_or(Value::is_null) {
                c["lastUpdateTime"] = json!(now);
            }
            if c.get("lastTransitionTime").is_none_or(Value::is_null) {
                let before = olds
                    .iter()
                    .find(|o| o["type"] == c["type"] && o["status"] == c["status"])
                    .and_then(|o| o.get("lastTransitionTime"))
                    .filter(|t| !t.is_null())
                    .cloned();
                c["lastTransitionTime"] = before.unwrap_or_else(|| json!(now));
            }
        }
    }
}
