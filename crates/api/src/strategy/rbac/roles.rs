//! Roles and ClusterRoles (upstream's `pkg/registry/rbac/role/strategy.go`,
//! `clusterrole/strategy.go`): any path segment as a name, policy rules as
//! upstream validates them, created by PUT too.

use serde_json::Value;

use crate::catalogue::ResourceDef;
use crate::errors::Cause;
use crate::strategy::Strategy;
use crate::validation::{NameRule, rbac};

pub struct Roles(pub &'static ResourceDef);

impl Strategy for Roles {
    fn def(&self) -> &'static ResourceDef {
        self.0
    }

    fn name_rule(&self) -> NameRule {
        NameRule::PathSegment
    }

    fn validate(&self, obj: &Value) -> Vec<Cause> {
        rbac::validate_role(obj, self.0.namespaced)
    }

    fn allow_create_on_update(&self) -> bool {
        true
    }
}
