//! CertificateSigningRequests' storage: the requester is whoever asks
//! (upstream's `csrStrategy.PrepareForCreate`, which reads the request's
//! user), whatever the body says.

use serde_json::{Value, json};

use super::{Rest, Result};
use crate::handlers::Ctx;
use crate::services::Allocation;

pub struct CertificateSigningRequests;

#[async_trait::async_trait]
impl Rest for CertificateSigningRequests {
    async fn before_create(&self, ctx: &Ctx<'_>, obj: &mut Value) -> Result<Option<Allocation>> {
        let user = ctx.user;
        let spec = &mut obj["spec"];
        spec["username"] = json!(user.name);
        if user.uid.is_empty() {
            spec.as_object_mut().map(|s| s.remove("uid"));
        } else {
            spec["uid"] = json!(user.uid);
        }
        spec["groups"] = json!(user.groups);
        if user.extra.is_empty() {
            spec.as_object_mut().map(|s| s.remove("extra"));
        } else {
            spec["extra"] = json!(user.extra);
        }
        Ok(None)
    }
}
