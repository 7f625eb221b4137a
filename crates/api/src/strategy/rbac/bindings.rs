//! RoleBindings and ClusterRoleBindings (upstream's
//! `pkg/registry/rbac/rolebinding/strategy.go`, `clusterrolebinding/`): any
//! path segment as a name, created by PUT too, the role reference and
//! subjects validated, an immutable `roleRef`.

use serde_json::Value;

use crate::catalogue::ResourceDef;
use crate::errors::Cause;
use crate::strategy::{Strategy, UpdateVia};
use crate::validation::{NameRule, rbac};

pub struct Bindings(pub &'static ResourceDef);

impl Strategy for Bindings {
    fn def(&self) -> &'static ResourceDef {
        self.0
    }

    fn name_rule(&self) -> NameRule {
        NameRule::PathSegment
    }

    fn validate(&self, obj: &Value) -> Vec<Cause> {
        rbac::validate_binding(obj, self.0.namespaced)
    }

    fn validate_update(&self, via: UpdateVia, new: &Value, old: &Value) -> Vec<Cause> {
        match via {
            UpdateVia::Main => rbac::validate_binding_update(new, old),
            _ => Vec::new(),
        }
    }

    fn allow_create_on_update(&self) -> bool {
        true
    }
}
