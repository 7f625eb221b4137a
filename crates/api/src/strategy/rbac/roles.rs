//! Roles and ClusterRoles (upstream's `pkg/registry/rbac/role/strategy.go`,
//! `clusterrole/strategy.go`): any path segment as a name, created by PUT too.

use crate::catalogue::ResourceDef;
use crate::strategy::Strategy;
use crate::validation::NameRule;

pub struct Roles(pub &'static ResourceDef);

impl Strategy for Roles {
    fn def(&self) -> &'static ResourceDef {
        self.0
    }

    fn name_rule(&self) -> NameRule {
        NameRule::PathSegment
    }

    fn allow_create_on_update(&self) -> bool {
        true
    }
}
