//! Built-in admission: what the API server does to objects of particular kinds
//! on their way in, beyond their strategy. Services get their cluster IP and
//! node ports allocated (`services.rs`); namespaces get their `kubernetes`
//! finalizer (`namespace_deleter.rs` releases it once their content is gone);
//! volumes and claims their protection finalizers; roles and bindings are
//! checked for privilege escalation (`rbac/escalation.rs`); new pods get
//! their priority from their PriorityClass (`priority.rs`) and the default
//! not-ready / unreachable tolerations (`default_toleration_seconds.rs`).

mod default_toleration_seconds;
mod priority;

use serde_json::{Value, json};
use skiff_api::ApiError;

use crate::handlers::Ctx;
use crate::services::Allocation;

type Result<T, E = ApiError> = std::result::Result<T, E>;

/// Admits a new object; what it allocated is released unless committed once
/// the object is stored.
pub async fn on_create(ctx: &Ctx<'_>, obj: &mut Value) -> Result<Option<Allocation>> {
    match (ctx.res.def.group, ctx.res.def.plural) {
        ("", "namespaces") => {
            let finalizers = obj
                .pointer("/spec/finalizers")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            if !finalizers.iter().any(|f| f == "kubernetes") {
                let mut f = finalizers;
                f.push(json!("kubernetes"));
                obj["spec"]["finalizers"] = json!(f);
            }
            Ok(None)
        }
        ("", "services") => crate::services::allocate_create(ctx, obj).await.map(Some),
        // Upstream's plugin order: Priority, then DefaultTolerationSeconds.
        ("", "pods") if ctx.info.subresource.is_empty() => {
            priority::admit(ctx, obj).await?;
            default_toleration_seconds::admit(obj);
            Ok(None)
        }
        ("scheduling.k8s.io", "priorityclasses") => {
            priority::admit_class(ctx, obj).await?;
            Ok(None)
        }
        // StorageObjectInUseProtection: volumes in use are not removed
        // until nothing uses them.
        ("", "persistentvolumeclaims") => {
            add_finalizer(obj, "kubernetes.io/pvc-protection");
            Ok(None)
        }
        ("", "persistentvolumes") => {
            add_finalizer(obj, "kubernetes.io/pv-protection");
            Ok(None)
        }
        ("rbac.authorization.k8s.io", _) => {
            check_rbac(ctx, obj, None).await?;
            Ok(None)
        }
        _ => Ok(None),
    }
}

/// No one grants what they do not hold (roles) or binds a role whose
/// rules they do not hold (bindings), unless allowed `escalate` / `bind`.
async fn check_rbac(ctx: &Ctx<'_>, obj: &Value, old: Option<&Value>) -> Result<()> {
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

fn add_finalizer(obj: &mut Value, finalizer: &str) {
    let mut finalizers = skiff_api::meta::finalizers(obj);
    if !finalizers.iter().any(|f| f == finalizer) {
        finalizers.push(finalizer.to_string());
        skiff_api::meta::set_finalizers(obj, &finalizers);
    }
}

/// Admits an update through the main resource (`old` is the stored object).
pub async fn on_update(ctx: &Ctx<'_>, obj: &mut Value, old: &Value) -> Result<Option<Allocation>> {
    match (ctx.res.def.group, ctx.res.def.plural) {
        ("", "services") => crate::services::allocate_update(ctx, obj, old)
            .await
            .map(Some),
        ("rbac.authorization.k8s.io", _) => {
            check_rbac(ctx, obj, Some(old)).await?;
            Ok(None)
        }
        ("scheduling.k8s.io", "priorityclasses") => {
            priority::admit_class(ctx, obj).await?;
            Ok(None)
        }
        _ => Ok(None),
    }
}

/// An object is gone from the store: what it held is released.
pub fn on_removed(ctx: &Ctx<'_>, obj: &Value) {
    if (ctx.res.def.group, ctx.res.def.plural) == ("", "services") {
        crate::services::released(ctx.server, obj);
    }
}
