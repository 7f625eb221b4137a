//! Leases and LeaseCandidates (upstream's `pkg/registry/coordination/lease/strategy.go`,
//! `leasecandidate/`): created by PUT too, but never updated without a
//! resource version (a lease's holder must know what it replaces).

use crate::catalogue::ResourceDef;
use crate::strategy::Strategy;

pub struct Leases(pub &'static ResourceDef);

impl Strategy for Leases {
    fn def(&self) -> &'static ResourceDef {
        self.0
    }

    fn allow_create_on_update(&self) -> bool {
        true
    }

    fn allow_unconditional_update(&self) -> bool {
        false
    }
}
