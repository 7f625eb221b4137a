//! Built-in admission: what the API server does to objects of particular kinds
//! on their way in, beyond their strategy. Services get their cluster IP and
//! node ports allocated (`services.rs`); namespaces get their `kubernetes`
//! finalizer (`namespace_deleter.rs` releases it once their content is gone);
//! volumes and claims their protection finalizers.

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
        _ => Ok(None),
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
        _ => Ok(None),
    }
}

/// An object is gone from the store: what it held is released.
pub fn on_removed(ctx: &Ctx<'_>, obj: &Value) {
    if (ctx.res.def.group, ctx.res.def.plural) == ("", "services") {
        crate::services::released(ctx.server, obj);
    }
}
