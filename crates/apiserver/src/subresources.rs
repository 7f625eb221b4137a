//! Subresources with their own bodies: `scale` (autoscaling/v1 Scale over a
//! workload's replicas), `pods/binding` (assign a pod to a node) and
//! `pods/eviction` (a policy/v1 Eviction deletes the pod).

use bytes::Bytes;
use serde_json::{Value, json};
use skiff_api::{ApiError, meta};

use crate::handlers::{Ctx, delete_object, parse_body, read, update_object};
use crate::list;
use crate::response::{self, Body};

type Result<T, E = ApiError> = std::result::Result<T, E>;

fn scale_of(obj: &Value) -> Value {
    let m = meta::metadata(obj).cloned().unwrap_or_default();
    let mut metadata = json!({});
    for k in [
        "name",
        "namespace",
        "uid",
        "resourceVersion",
        "creationTimestamp",
    ] {
        if let Some(v) = m.get(k) {
            metadata[k] = v.clone();
        }
    }
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": metadata,
        "spec": {"replicas": obj.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(0)},
        "status": {
            "replicas": obj.pointer("/status/replicas").and_then(Value::as_i64).unwrap_or(0),
            "selector": skiff_api::selector::selector_string(obj.pointer("/spec/selector")),
        },
    })
}

pub async fn scale(ctx: &Ctx<'_>, body: Bytes) -> Result<http::Response<Body>> {
    use crate::request::Verb;
    let name = ctx.info.name.clone();
    let conditional = crate::handlers::patch_sets_resource_version(&body);
    for _ in 0..crate::registry::store::WRITE_ATTEMPTS {
        let (obj, rev) = read(ctx, &name).await?;
        let current = scale_of(&obj);
        let wanted = match ctx.info.verb {
            Verb::Get => return Ok(response::json(200, &current)),
            Verb::Update => parse_body(ctx, &body)?,
            Verb::Patch => {
                let ty = skiff_api::schema::Ty::Struct("io.k8s.api.autoscaling.v1.Scale");
                let patch = skiff_api::patch::decode(&ctx.media_type(), &body, ty)?;
                skiff_api::patch::apply(&ctx.media_type(), &current, &patch.value, ty)?
            }
            _ => return Err(ApiError::method_not_allowed()),
        };
        let replicas = wanted
            .pointer("/spec/replicas")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        if replicas < 0 {
            return Err(ApiError::invalid(
                "autoscaling",
                "Scale",
                &name,
                vec![skiff_api::Cause::invalid(
                    "spec.replicas",
                    &json!(replicas),
                    "must be greater than or equal to 0",
                )],
            ));
        }
        // A Scale's resource version is its workload's (a patch keeps the
        // current one unless it sets another).
        let sent_rv = meta::resource_version(&wanted);
        if !sent_rv.is_empty() && sent_rv != rev.to_string() {
            return Err(ApiError::modified(
                ctx.res.def.group,
                ctx.res.def.plural,
                &name,
            ));
        }
        let mut updated = obj.clone();
        updated["spec"]["replicas"] = json!(replicas);
        meta::set(&mut updated, "resourceVersion", json!(rev.to_string()));
        match update_object(ctx, updated, obj, rev, "").await {
            Ok(bytes) => {
                let stored: Value = serde_json::from_slice(&bytes).map_err(ApiError::internal)?;
                return Ok(response::json(200, &scale_of(&stored)));
            }
            // Written meanwhile: a Scale without a resource version of its
            // own applies to the new state.
            Err(crate::registry::store::Error::Conflict(_)) if !conditional => {
                tokio::task::yield_now().await;
                continue;
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(ApiError::modified(
        ctx.res.def.group,
        ctx.res.def.plural,
        &name,
    ))
}

/// Assigns a pod to a node (`pods/binding`, and the `bindings` resource).
pub async fn binding(ctx: &Ctx<'_>, body: Bytes) -> Result<http::Response<Body>> {
    let binding: Value = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("invalid Binding: {e}")))?;
    let name = if ctx.info.name.is_empty() {
        meta::name(&binding).to_string()
    } else {
        ctx.info.name.clone()
    };
    let node = binding
        .pointer("/target/name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if node.is_empty() {
        return Err(ApiError::invalid(
            "",
            "Binding",
            &name,
            vec![skiff_api::Cause::required("target.name")],
        ));
    }
    // The `bindings` resource addresses pods too.
    let pods = crate::handlers::other_resource(ctx, ("", "v1", "pods"))?;
    let pods = crate::registry::store::Store::new(ctx.server, &pods, ctx.namespace());
    let (pod, rev) = pods.get(&name).await?;
    if meta::deletion_timestamp(&pod).is_some() {
        return Err(ApiError::conflict(
            "",
            "pods",
            &name,
            "pod is being deleted, cannot be assigned to a host",
        ));
    }
    let current = pod
        .pointer("/spec/nodeName")
        .and_then(Value::as_str)
        .unwrap_or("");
    if !current.is_empty() {
        return Err(ApiError::conflict(
            "",
            "pods",
            &name,
            &format!("pod {name} is already assigned to node {current:?}"),
        ));
    }
    let mut bound = pod.clone();
    bound["spec"]["nodeName"] = json!(node);
    let conds = bound["status"]["conditions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mut conds: Vec<Value> = conds
        .into_iter()
        .filter(|c| c.get("type").and_then(Value::as_str) != Some("PodScheduled"))
        .collect();
    conds.push(json!({"type": "PodScheduled", "status": "True", "lastProbeTime": null, "lastTransitionTime": meta::now()}));
    bound["status"]["conditions"] = json!(conds);
    meta::set(&mut bound, "resourceVersion", json!(rev.to_string()));
    let success = || {
        response::json(
            201,
            &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}),
        )
    };
    if ctx.dry_run() {
        return Ok(success());
    }
    // A binding writes spec and status at once, bypassing the main resource's rules.
    pods.write_as_is(&bound, rev).await?;
    Ok(success())
}

/// Evicts a pod: deletes it with the eviction's delete options.
pub async fn eviction(ctx: &Ctx<'_>, body: Bytes) -> Result<http::Response<Body>> {
    let mut eviction: Value = if body.is_empty() {
        json!({})
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::bad_request(format!("invalid Eviction: {e}")))?
    };
    // The Eviction is admitted (the pod's deletion it causes is not, as
    // upstream's eviction REST deletes with no admission).
    use crate::admission::Operation;
    crate::admission::admit(ctx, Operation::Create, &mut eviction, None).await?;
    crate::admission::validate(ctx, Operation::Create, Some(&eviction), None).await?;
    let opts = eviction.get("deleteOptions").cloned().unwrap_or(json!({}));
    ctx.take_delete_options_dry_run(&opts)?;
    delete_object(ctx, &ctx.info.name, &opts).await?;
    let _ = list::As::Object;
    Ok(response::json(
        201,
        &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}),
    ))
}
