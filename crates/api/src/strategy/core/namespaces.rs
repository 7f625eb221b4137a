//! Namespaces (upstream's `pkg/registry/core/namespace/strategy.go`): DNS
//! label names, the initial Active phase and the `kubernetes` finalizer,
//! `spec.finalizers` changed only through `finalize`, the system namespaces
//! never deleted.

use crate::errors::StatusReason;
use serde_json::{Value, json};

use crate::catalogue::ResourceDef;
use crate::errors::{ApiError, Cause};
use crate::strategy::{self, Strategy, UpdateVia};
use crate::validation::{NameRule, namespaces};

pub struct Namespaces(pub &'static ResourceDef);

impl Strategy for Namespaces {
    fn def(&self) -> &'static ResourceDef {
        self.0
    }

    fn name_rule(&self) -> NameRule {
        NameRule::Label
    }

    fn initial_status(&self, o: &mut Value) {
        o["status"] = json!({"phase": "Active"});
    }

    /// Active, and finalized by `kubernetes` (the namespace controller
    /// removes its content before the namespace goes).
    fn prepare_for_create(&self, obj: &mut Value) {
        strategy::prepare_for_create(self, obj);
        let mut finalizers = obj
            .pointer("/spec/finalizers")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if !finalizers.iter().any(|f| f == "kubernetes") {
            finalizers.push(json!("kubernetes"));
            obj["spec"]["finalizers"] = json!(finalizers);
        }
    }

    fn prepare_for_update(&self, via: UpdateVia, new: &mut Value, old: &Value) {
        match via {
            UpdateVia::Status => strategy::prepare_for_status_update(self, new, old),
            // Only spec.finalizers change through finalize.
            UpdateVia::Finalize => {
                let finalizers = new.pointer("/spec/finalizers").cloned();
                let mut merged = old.clone();
                merged["spec"]["finalizers"] = finalizers.unwrap_or(json!([]));
                *new = merged;
            }
            _ => {
                // spec.finalizers change only through /finalize.
                match old.pointer("/spec/finalizers") {
                    Some(f) => new["spec"]["finalizers"] = f.clone(),
                    None => {
                        if let Some(spec) = new.get_mut("spec").and_then(Value::as_object_mut) {
                            spec.remove("finalizers");
                        }
                    }
                }
                strategy::prepare_for_update(self, new, old);
            }
        }
    }

    fn validate(&self, obj: &Value) -> Vec<Cause> {
        namespaces::validate_namespace(obj)
    }

    fn validate_update(&self, via: UpdateVia, new: &Value, old: &Value) -> Vec<Cause> {
        match via {
            UpdateVia::Status => namespaces::validate_namespace_status_update(new, old),
            UpdateVia::Finalize => namespaces::validate_namespace_finalize(new, old),
            _ => Vec::new(),
        }
    }

    fn return_deleted_object(&self) -> bool {
        true
    }

    /// The system namespaces stay (upstream's NamespaceLifecycle admission).
    fn check_delete(&self, name: &str) -> Result<(), ApiError> {
        if !matches!(name, "default" | "kube-system" | "kube-public") {
            return Ok(());
        }
        Err(ApiError {
            details: Some(json!({"name": name, "kind": "namespaces"})),
            ..ApiError::new(
                403,
                StatusReason::Forbidden,
                format!("namespaces {name:?} is forbidden: this namespace may not be deleted"),
            )
        })
    }
}
