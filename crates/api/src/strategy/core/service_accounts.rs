//! ServiceAccounts (upstream's `pkg/registry/core/serviceaccount/strategy.go`):
//! a delete answers the deleted account.

use crate::catalogue::ResourceDef;
use crate::strategy::Strategy;

pub struct ServiceAccounts(pub &'static ResourceDef);

impl Strategy for ServiceAccounts {
    fn def(&self) -> &'static ResourceDef {
        self.0
    }

    fn return_deleted_object(&self) -> bool {
        true
    }
}
