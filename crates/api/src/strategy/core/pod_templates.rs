//! PodTemplates (upstream's `pkg/registry/core/podtemplate/strategy.go`).

use serde_json::Value;

use crate::catalogue::ResourceDef;
use crate::errors::Cause;
use crate::strategy::Strategy;
use crate::validation::pods;

pub struct PodTemplates(pub &'static ResourceDef);

impl Strategy for PodTemplates {
    fn def(&self) -> &'static ResourceDef {
        self.0
    }

    fn validate(&self, obj: &Value) -> Vec<Cause> {
        pods::validate_pod_template(obj)
    }
}
