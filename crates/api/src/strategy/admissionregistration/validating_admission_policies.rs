//! ValidatingAdmissionPolicies (upstream's
//! `pkg/registry/admissionregistration/validatingadmissionpolicy/strategy.go`):
//! generation tracked; the status strategy keeps every metadata field as stored.

use crate::catalogue::ResourceDef;
use crate::meta;
use crate::strategy::Strategy;

pub struct ValidatingAdmissionPolicies(pub &'static ResourceDef);

impl Strategy for ValidatingAdmissionPolicies {
    fn def(&self) -> &'static ResourceDef {
        self.0
    }

    fn tracks_generation(&self) -> bool {
        true
    }

    fn status_resets(&self) -> &'static [&'static str] {
        meta::RESET_FOR_STATUS
    }
}
