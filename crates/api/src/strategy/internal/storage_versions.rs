//! StorageVersions (upstream's `pkg/registry/apiserverinternal/storageversion/strategy.go`):
//! never updated without a resource version.

use crate::catalogue::ResourceDef;
use crate::strategy::Strategy;

pub struct StorageVersions(pub &'static ResourceDef);

impl Strategy for StorageVersions {
    fn def(&self) -> &'static ResourceDef {
        self.0
    }

    fn allow_unconditional_update(&self) -> bool {
        false
    }
}
