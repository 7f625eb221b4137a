//! Services' storage (upstream's `pkg/registry/core/service/storage`): cluster
//! IPs and node ports allocated on create and update, released when the
//! Service goes (the allocators themselves are `crate::services`).

use serde_json::Value;

use super::{Rest, Result};
use crate::ApiServer;
use crate::handlers::Ctx;
use crate::services::Allocation;

pub struct Services;

#[async_trait::async_trait]
impl Rest for Services {
    async fn before_create(&self, ctx: &Ctx<'_>, obj: &mut Value) -> Result<Option<Allocation>> {
        crate::services::allocate_create(ctx, obj).await.map(Some)
    }

    async fn before_update(
        &self,
        ctx: &Ctx<'_>,
        obj: &mut Value,
        old: &Value,
    ) -> Result<Option<Allocation>> {
        crate::services::allocate_update(ctx, obj, old)
            .await
            .map(Some)
    }

    fn after_delete(&self, server: &ApiServer, obj: &Value) {
        crate::services::released(server, obj);
    }
}
