//! Deployments (upstream's `pkg/registry/apps/deployment/strategy.go`): the
//! generation follows the spec and the annotations; the status strategy
//! keeps the stored labels.

use serde_json::Value;

use crate::catalogue::ResourceDef;
use crate::errors::Cause;
use crate::meta;
use crate::strategy::{Strategy, UpdateVia, spec_of};
use crate::validation::apps;

pub struct Deployments(pub &'static ResourceDef);

impl Strategy for Deployments {
    fn def(&self) -> &'static ResourceDef {
        self.0
    }

    fn tracks_generation(&self) -> bool {
        true
    }

    fn generation_changed(&self, new: &Value, old: &Value) -> bool {
        spec_of(new) != spec_of(old) || meta::annotations(new) != meta::annotations(old)
    }

    fn status_resets(&self) -> &'static [&'static str] {
        &["labels"]
    }

    fn validate(&self, obj: &Value) -> Vec<Cause> {
        apps::validate_deployment(obj)
    }

    fn validate_update(&self, via: UpdateVia, new: &Value, old: &Value) -> Vec<Cause> {
        match via {
            UpdateVia::Main => apps::validate_deployment_update(new, old),
            _ => Vec::new(),
        }
    }
}
