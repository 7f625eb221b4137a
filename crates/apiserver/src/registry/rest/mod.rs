//! What some resources' REST storage does beside the generic registry store
//! (upstream's per-resource storage in `pkg/registry/<group>/<resource>/storage/`
//! and the strategies that read the request's user): a Service's addresses
//! and ports allocated and released, RBAC's escalation checks, a
//! CertificateSigningRequest's requester. One module per resource; [`of`]
//! wires each to its resource.

mod certificate_signing_requests;
mod rbac;
mod services;

use std::sync::Arc;

use serde_json::Value;
use skiff_api::{ApiError, ResourceDef};

use crate::ApiServer;
use crate::handlers::Ctx;
use crate::services::Allocation;

type Result<T, E = ApiError> = std::result::Result<T, E>;

/// A resource's storage behaviour beyond its strategy.
#[async_trait::async_trait]
pub trait Rest: Send + Sync {
    /// Before a new object is written (after validation and validating
    /// admission); what it allocates is released unless committed once the
    /// object is stored.
    async fn before_create(&self, _ctx: &Ctx<'_>, _obj: &mut Value) -> Result<Option<Allocation>> {
        Ok(None)
    }

    /// Before an update through the main resource is written (`old` is the
    /// stored object).
    async fn before_update(
        &self,
        _ctx: &Ctx<'_>,
        _obj: &mut Value,
        _old: &Value,
    ) -> Result<Option<Allocation>> {
        Ok(None)
    }

    /// The object is gone from the store: what it held is released.
    fn after_delete(&self, _server: &ApiServer, _obj: &Value) {}
}

/// The storage behaviour of a catalogue entry, when it has one.
pub fn of(def: &ResourceDef) -> Option<Arc<dyn Rest>> {
    Some(match (def.group, def.plural) {
        ("", "services") => Arc::new(services::Services),
        (
            "rbac.authorization.k8s.io",
            "roles" | "clusterroles" | "rolebindings" | "clusterrolebindings",
        ) => Arc::new(rbac::Rbac),
        ("certificates.k8s.io", "certificatesigningrequests") => {
            Arc::new(certificate_signing_requests::CertificateSigningRequests)
        }
        _ => return None,
    })
}
