//! Endpoints (upstream's `pkg/registry/core/endpoint/strategy.go`): created by PUT too.

use crate::catalogue::ResourceDef;
use crate::strategy::Strategy;

pub struct Endpoints(pub &'static ResourceDef);

impl Strategy for Endpoints {
    fn def(&self) -> &'static ResourceDef {
        self.0
    }

    fn allow_create_on_update(&self) -> bool {
        true
    }
}
