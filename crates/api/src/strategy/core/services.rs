//! Services (upstream's `pkg/registry/core/service/strategy.go`): DNS-1035
//! names, allocated values kept across updates, type-dependent fields
//! dropped, create on PUT. Allocation itself is the registry's
//! (`apiserver::services`).

use serde_json::Value;

use crate::catalogue::ResourceDef;
use crate::errors::Cause;
use crate::strategy::{self, Strategy, UpdateVia};
use crate::validation::{NameRule, service_update as su, services};

pub struct Services(pub &'static ResourceDef);

impl Strategy for Services {
    fn def(&self) -> &'static ResourceDef {
        self.0
    }

    fn name_rule(&self) -> NameRule {
        NameRule::Dns1035
    }

    fn prepare_for_update(&self, via: UpdateVia, new: &mut Value, old: &Value) {
        if via == UpdateVia::Status {
            return strategy::prepare_for_status_update(self, new, old);
        }
        strategy::prepare_for_update(self, new, old);
        su::patch_allocated_values(new, old);
        su::normalize_cluster_ips(new, old);
        su::drop_type_dependent_fields(new, old);
    }

    fn validate(&self, obj: &Value) -> Vec<Cause> {
        services::validate_service(obj)
    }

    fn validate_update(&self, via: UpdateVia, new: &Value, old: &Value) -> Vec<Cause> {
        match via {
            UpdateVia::Main => services::validate_service_update(new, old),
            _ => Vec::new(),
        }
    }

    fn allow_create_on_update(&self) -> bool {
        true
    }

    fn return_deleted_object(&self) -> bool {
        true
    }
}
