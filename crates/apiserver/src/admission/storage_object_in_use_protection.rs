//! StorageObjectInUseProtection, as upstream's admission plugin
//! (`plugin/pkg/admission/storage/storageobjectinuseprotection`): new
//! PersistentVolumeClaims and PersistentVolumes get the
//! `kubernetes.io/pvc-protection` / `kubernetes.io/pv-protection`
//! finalizer, so that a volume in use is not removed until nothing uses it.

use serde_json::Value;

use super::{Attributes, Operation, Plugin, Result};

pub struct StorageObjectInUseProtection;

#[async_trait::async_trait]
impl Plugin for StorageObjectInUseProtection {
    fn name(&self) -> &'static str {
        "StorageObjectInUseProtection"
    }

    async fn admit(&self, a: &Attributes<'_, '_>, obj: &mut Value) -> Result<()> {
        if a.operation != Operation::Create || !a.subresource().is_empty() {
            return Ok(());
        }
        let finalizer = if a.is("", "persistentvolumeclaims") {
            "kubernetes.io/pvc-protection"
        } else if a.is("", "persistentvolumes") {
            "kubernetes.io/pv-protection"
        } else {
            return Ok(());
        };
        let mut finalizers = skiff_api::meta::finalizers(obj);
        if !finalizers.iter().any(|f| f == finalizer) {
            finalizers.push(finalizer.to_string());
            skiff_api::meta::set_finalizers(obj, &finalizers);
        }
        Ok(())
    }
}
