//! Storage kinds' update rules, as upstream's `pkg/apis/storage/validation`
//! (StorageClass) and `pkg/apis/core/validation`
//! (`ValidatePersistentVolumeClaimUpdate`).

use serde_json::{Value, json};

use super::common::str_of;
use super::quantity::Quantity;
use crate::errors::Cause;

/// `ValidateStorageClassUpdate`: parameters, provisioner, reclaim policy
/// and binding mode are fixed at creation.
pub fn validate_storage_class_update(new: &Value, old: &Value) -> Vec<Cause> {
    let mut causes = Vec::new();
    let forbidden = |f: &str| Cause::forbidden(f, format!("updates to {f} are forbidden."));
    if new.get("parameters") != old.get("parameters") {
        causes.push(forbidden("parameters"));
    }
    if str_of(new, "provisioner") != str_of(old, "provisioner") {
        causes.push(forbidden("provisioner"));
    }
    if str_of(new, "reclaimPolicy") != str_of(old, "reclaimPolicy") {
        causes.push(forbidden("reclaimPolicy"));
    }
    if str_of(new, "volumeBindingMode") != str_of(old, "volumeBindingMode") {
        causes.push(Cause::invalid(
            "volumeBindingMode",
            &json!(str_of(new, "volumeBindingMode")),
            "field is immutable",
        ));
    }
    causes
}

fn storage_request(pvc: &Value) -> Option<Quantity> {
    pvc.pointer("/spec/resources/requests/storage")
        .and_then(|q| Quantity::from_json(q).ok())
}

/// `ValidatePersistentVolumeClaimUpdate`: the spec is immutable but for a
/// bound claim's storage request (and volume attributes class); a volume
/// name may be set once; the request may not fall to or below the capacity
/// (`RecoverVolumeExpansionFailure`, on in 1.33).
pub fn validate_pvc_update(new: &Value, old: &Value) -> Vec<Cause> {
    let mut causes = Vec::new();
    let mut new_spec = new.get("spec").cloned().unwrap_or_default();
    let mut old_spec = old.get("spec").cloned().unwrap_or_default();
    if str_of(&old_spec, "volumeName").is_empty() {
        old_spec["volumeName"] = new_spec.get("volumeName").cloned().unwrap_or(Value::Null);
    }
    let bound = new.pointer("/status/phase").and_then(Value::as_str) == Some("Bound");
    if bound {
        for spec in [&mut new_spec, &mut old_spec] {
            if let Some(r) = spec
                .pointer_mut("/resources/requests")
                .and_then(Value::as_object_mut)
            {
                r.remove("storage");
            }
            if let Some(s) = spec.as_object_mut() {
                s.remove("volumeAttributesClassName");
            }
        }
    }
    let clean = |mut v: Value| {
        if let Some(s) = v.as_object_mut() {
            s.retain(|_, x| !x.is_null());
        }
        v
    };
    if clean(new_spec) != clean(old_spec) {
        causes.push(Cause::forbidden(
            "spec",
            "spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims",
        ));
    }
    if let (Some(n), Some(o)) = (storage_request(new), storage_request(old))
        && n.compare(&o) == Some(std::cmp::Ordering::Less)
    {
        let capacity = old
            .pointer("/status/capacity/storage")
            .and_then(|q| Quantity::from_json(q).ok())
            .unwrap_or_else(|| Quantity::parse("0").expect("zero"));
        if n.compare(&capacity) != Some(std::cmp::Ordering::Greater) {
            causes.push(Cause::forbidden(
                "spec.resources.requests.storage",
                "field can not be less than status.capacity",
            ));
        }
    }
    causes
}
