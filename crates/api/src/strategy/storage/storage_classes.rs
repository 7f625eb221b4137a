//! StorageClasses (upstream's `pkg/registry/storage/storageclass/strategy.go`).

use serde_json::Value;

use crate::catalogue::ResourceDef;
use crate::errors::Cause;
use crate::strategy::{Strategy, UpdateVia};
use crate::validation::storage;

pub struct StorageClasses(pub &'static ResourceDef);

impl Strategy for StorageClasses {
    fn def(&self) -> &'static ResourceDef {
        self.0
    }

    fn validate_update(&self, via: UpdateVia, new: &Value, old: &Value) -> Vec<Cause> {
        match via {
            UpdateVia::Main => storage::validate_storage_class_update(new, old),
            _ => Vec::new(),
        }
    }

    fn return_deleted_object(&self) -> bool {
        true
    }
}
