//! LimitRanges (upstream's `pkg/registry/core/limitrange/strategy.go`): created by PUT too.

use crate::catalogue::ResourceDef;
use crate::strategy::Strategy;

pub struct LimitRanges(pub &'static ResourceDef);

impl Strategy for LimitRanges {
    fn def(&self) -> &'static ResourceDef {
        self.0
    }

    fn allow_create_on_update(&self) -> bool {
        true
    }
}
