//! ReplicationControllers (upstream's
//! `pkg/registry/core/replicationcontroller/strategy.go`).

use serde_json::Value;

use crate::catalogue::ResourceDef;
use crate::errors::Cause;
use crate::strategy::Strategy;
use crate::validation::apps;

pub struct ReplicationControllers(pub &'static ResourceDef);

impl Strategy for ReplicationControllers {
    fn def(&self) -> &'static ResourceDef {
        self.0
    }

    fn tracks_generation(&self) -> bool {
        true
    }

    fn validate(&self, obj: &Value) -> Vec<Cause> {
        apps::validate_replication_controller(obj)
    }
}
