//! Nodes (upstream's `pkg/registry/core/node/strategy.go`): any path
//! segment as a name; the kubelet registers with its status.

use crate::catalogue::ResourceDef;
use crate::strategy::Strategy;
use crate::validation::NameRule;

pub struct Nodes(pub &'static ResourceDef);

impl Strategy for Nodes {
    fn def(&self) -> &'static ResourceDef {
        self.0
    }

    fn name_rule(&self) -> NameRule {
        NameRule::PathSegment
    }

    fn keeps_status_on_create(&self) -> bool {
        true
    }
}
