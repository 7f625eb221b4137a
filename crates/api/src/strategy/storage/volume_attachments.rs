//! VolumeAttachments (upstream's `pkg/registry/storage/volumeattachment/strategy.go`):
//! the status strategy keeps every metadata field as stored.

use crate::catalogue::ResourceDef;
use crate::meta;
use crate::strategy::Strategy;

pub struct VolumeAttachments(pub &'static ResourceDef);

impl Strategy for VolumeAttachments {
    fn def(&self) -> &'static ResourceDef {
        self.0
    }

    fn status_resets(&self) -> &'static [&'static str] {
        meta::RESET_FOR_STATUS
    }
}
