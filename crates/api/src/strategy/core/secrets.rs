//! Secrets (upstream's `pkg/registry/core/secret/strategy.go`): the
//! defaulted `Opaque` type, validation, immutability.

use serde_json::{Value, json};

use crate::catalogue::ResourceDef;
use crate::errors::Cause;
use crate::strategy::{self, Strategy, UpdateVia};
use crate::validation::config;

pub struct Secrets(pub &'static ResourceDef);

impl Strategy for Secrets {
    fn def(&self) -> &'static ResourceDef {
        self.0
    }

    fn prepare_for_create(&self, obj: &mut Value) {
        // Upstream's defaulting of a Secret's type.
        if obj
            .get("type")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            obj["type"] = json!("Opaque");
        }
        strategy::prepare_for_create(self, obj);
    }

    fn validate(&self, obj: &Value) -> Vec<Cause> {
        config::validate_secret(obj)
    }

    fn validate_update(&self, via: UpdateVia, new: &Value, old: &Value) -> Vec<Cause> {
        match via {
            UpdateVia::Main => config::validate_secret_update(new, old),
            _ => Vec::new(),
        }
    }
}
