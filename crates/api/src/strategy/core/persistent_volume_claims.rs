//! PersistentVolumeClaims (upstream's
//! `pkg/registry/core/persistentvolumeclaim/strategy.go`).

use serde_json::{Value, json};

use crate::catalogue::ResourceDef;
use crate::errors::Cause;
use crate::strategy::{Strategy, UpdateVia};
use crate::validation::storage;

pub struct PersistentVolumeClaims(pub &'static ResourceDef);

impl Strategy for PersistentVolumeClaims {
    fn def(&self) -> &'static ResourceDef {
        self.0
    }

    fn initial_status(&self, o: &mut Value) {
        o["status"] = json!({"phase": "Pending"});
    }

    fn validate_update(&self, via: UpdateVia, new: &Value, old: &Value) -> Vec<Cause> {
        match via {
            UpdateVia::Main => storage::validate_pvc_update(new, old),
            _ => Vec::new(),
        }
    }

    fn return_deleted_object(&self) -> bool {
        true
    }
}
