//! PriorityClasses (upstream's `pkg/registry/scheduling/priorityclass/`):
//! update rules, and the system classes that may never be deleted
//! (`storage.go`'s `Delete`).

use crate::errors::StatusReason;
use serde_json::{Value, json};

use crate::catalogue::ResourceDef;
use crate::errors::{ApiError, Cause};
use crate::strategy::{Strategy, UpdateVia};
use crate::validation::scheduling;

pub struct PriorityClasses(pub &'static ResourceDef);

impl Strategy for PriorityClasses {
    fn def(&self) -> &'static ResourceDef {
        self.0
    }

    fn validate_update(&self, via: UpdateVia, new: &Value, old: &Value) -> Vec<Cause> {
        match via {
            UpdateVia::Main => scheduling::validate_priority_class_update(new, old),
            _ => Vec::new(),
        }
    }

    fn check_delete(&self, name: &str) -> Result<(), ApiError> {
        if !scheduling::is_system_priority_class(name) {
            return Ok(());
        }
        let def = self.0;
        Err(ApiError {
            details: Some(json!({"name": name, "group": def.group, "kind": def.plural})),
            ..ApiError::new(
                403,
                StatusReason::Forbidden,
                format!(
                    "priorityclasses.scheduling.k8s.io {name:?} is forbidden: this is a system priority class and cannot be deleted"
                ),
            )
        })
    }
}
