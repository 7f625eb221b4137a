//! ConfigMaps (upstream's `pkg/registry/core/configmap/strategy.go`).

use serde_json::Value;

use crate::catalogue::ResourceDef;
use crate::errors::Cause;
use crate::strategy::{Strategy, UpdateVia};
use crate::validation::config;

pub struct ConfigMaps(pub &'static ResourceDef);

impl Strategy for ConfigMaps {
    fn def(&self) -> &'static ResourceDef {
        self.0
    }

    fn validate(&self, obj: &Value) -> Vec<Cause> {
        config::validate_config_map(obj)
    }

    fn validate_update(&self, via: UpdateVia, new: &Value, old: &Value) -> Vec<Cause> {
        match via {
            UpdateVia::Main => config::validate_config_map_update(new, old),
            _ => Vec::new(),
        }
    }
}
