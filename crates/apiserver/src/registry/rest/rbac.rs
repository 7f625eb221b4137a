//! RBAC's policy-based storage (upstream's `pkg/registry/rbac/<resource>/policybased`):
//! no one grants what they do not hold (roles) or binds a role whose rules
//! they do not hold (bindings), unless allowed `escalate` / `bind`.

use serde_json::Value;

use super::{Rest, Result};
use crate::handlers::Ctx;
use crate::services::Allocation;

pub struct Rbac;

#[async_trait::async_trait]
impl Rest for Rbac {
    async fn before_create(&self, ctx: &Ctx<'_>, obj: &mut Value) -> Result<Option<Allocation>> {
        check(ctx, obj, None).await?;
        Ok(None)
    }

    async fn before_update(
        &self,
        ctx: &Ctx<'_>,
        obj: &mut Value,
        old: &Value,
    ) -> Result<Option<Allocation>> {
        check(ctx, obj, Some(old)).await?;
        Ok(None)
    }
}

/// No one grants what they do not hold (roles) or binds a role whose
/// rules they do not hold (bindings), unless allowed `escalate` / `bind`.
async fn check(ctx: &Ctx<'_>, obj: &Value, old: Option<&Value>) -> Result<()> {
    use crate::rbac::escalation;
    let authorizer = ctx.server.inner.authorizer.as_ref();
    let plural = ctx.res.def.plural;
    match plural {
        "roles" | "clusterroles" => {
            escalation::check_role(authorizer, ctx.user, plural, &ctx.info.name, obj, old)
        }
        "rolebindings" | "clusterrolebindings" => {
            let rules = match &ctx.server.inner.rbac {
                Some(rbac) => {
                    let kind = obj
                        .pointer("/roleRef/kind")
                        .and_then(Value::as_str)
                        .unwrap_or("");
                    let name = obj
                        .pointer("/roleRef/name")
                        .and_then(Value::as_str)
                        .unwrap_or("");
                    rbac.role_reference_rules(kind, skiff_api::meta::namespace(obj), name)
                }
                // Without RBAC the chain decides alone (its `bind` check).
                None => Ok(Vec::new()),
            };
            escalation::check_binding(authorizer, ctx.user, plural, obj, old, |_, _, _| {
                rules.clone()
            })
        }
        _ => Ok(()),
    }
}
