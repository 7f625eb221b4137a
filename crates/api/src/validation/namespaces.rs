//! Namespaces, as upstream's `ValidateNamespace`,
//! `ValidateNamespaceStatusUpdate` and `ValidateNamespaceFinalizeUpdate`:
//! `spec.finalizers` names, and a phase that follows the deletion.

use serde_json::{Value, json};

use crate::errors::Cause;
use crate::meta;

fn finalizers(obj: &Value) -> Vec<String> {
    obj.pointer("/spec/finalizers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|f| f.as_str().unwrap_or("").to_string())
        .collect()
}

/// A namespace finalizer name (`validateFinalizerName`): qualified, and
/// standard when it has no domain.
fn finalizer_causes(name: &str, path: &str) -> Vec<Cause> {
    let mut causes: Vec<Cause> = super::qualified_name_problems(name)
        .into_iter()
        .map(|p| Cause::invalid(path, &json!(name), p))
        .collect();
    if !name.contains('/') && !super::is_standard_finalizer(name) {
        causes.push(Cause::invalid(
            path,
            &json!(name),
            "name is neither a standard finalizer name nor is it fully qualified",
        ));
    }
    causes
}

/// `ValidateNamespace`'s spec part.
pub fn validate_namespace(obj: &Value) -> Vec<Cause> {
    finalizers(obj)
        .iter()
        .flat_map(|f| finalizer_causes(f, "spec.finalizers"))
        .collect()
}

/// `ValidateNamespaceStatusUpdate`: Active until deleted, then Terminating.
pub fn validate_namespace_status_update(new: &Value, _old: &Value) -> Vec<Cause> {
    let phase = new
        .pointer("/status/phase")
        .and_then(Value::as_str)
        .unwrap_or("");
    if meta::deletion_timestamp(new).is_none() {
        if phase != "Active" {
            return vec![Cause::invalid(
                "status.Phase",
                &json!(phase),
                "may only be 'Active' if `deletionTimestamp` is empty",
            )];
        }
    } else if phase != "Terminating" {
        return vec![Cause::invalid(
            "status.Phase",
            &json!(phase),
            "may only be 'Terminating' if `deletionTimestamp` is not empty",
        )];
    }
    Vec::new()
}

/// `ValidateNamespaceFinalizeUpdate`.
pub fn validate_namespace_finalize(new: &Value, _old: &Value) -> Vec<Cause> {
    finalizers(new)
        .iter()
        .enumerate()
        .flat_map(|(i, f)| finalizer_causes(f, &format!("spec.finalizers[{i}]")))
        .collect()
}
