//! ReplicaSets (upstream's `pkg/registry/apps/replicaset/strategy.go`).

use serde_json::Value;

use crate::catalogue::ResourceDef;
use crate::errors::Cause;
use crate::strategy::{Strategy, UpdateVia};
use crate::validation::apps;

pub struct ReplicaSets(pub &'static ResourceDef);

impl Strategy for ReplicaSets {
    fn def(&self) -> &'static ResourceDef {
        self.0
    }

    fn tracks_generation(&self) -> bool {
        true
    }

    fn validate(&self, obj: &Value) -> Vec<Cause> {
        apps::validate_replica_set(obj)
    }

    fn validate_update(&self, via: UpdateVia, new: &Value, old: &Value) -> Vec<Cause> {
        match via {
            UpdateVia::Main => apps::validate_replica_set_update(new, old),
            _ => Vec::new(),
        }
    }
}
