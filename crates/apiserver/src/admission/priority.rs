//! Priority, as upstream's admission plugin (`plugin/pkg/admission/priority`):
//! a new pod's `priority` and `preemptionPolicy` come from its
//! `priorityClassName` (or the `globalDefault` PriorityClass, or 0 and
//! `PreemptLowerPriority` when there is none); a class that does not exist,
//! or values that contradict the class, are refused with upstream's words.
//! Only one PriorityClass may be the global default.

use serde_json::{Value, json};
use skiff_api::ApiError;

use super::{Attributes, Operation, Plugin};
use crate::handlers::Ctx;

pub struct Priority;

#[async_trait::async_trait]
impl Plugin for Priority {
    fn name(&self) -> &'static str {
        "Priority"
    }

    async fn admit(&self, a: &Attributes<'_, '_>, obj: &mut Value) -> Result<(), ApiError> {
        if a.operation == Operation::Create && a.is("", "pods") && a.subresource().is_empty() {
            admit_pod(a.ctx, obj).await?;
        }
        Ok(())
    }

    async fn validate(&self, a: &Attributes<'_, '_>, obj: Option<&Value>) -> Result<(), ApiError> {
        match obj {
            Some(class)
                if matches!(a.operation, Operation::Create | Operation::Update)
                    && a.is("scheduling.k8s.io", "priorityclasses") =>
            {
                validate_class(a.ctx, class).await
            }
            _ => Ok(()),
        }
    }
}

/// The stored PriorityClasses.
async fn classes(ctx: &Ctx<'_>) -> Result<Vec<Value>, ApiError> {
    let Some(res) =
        ctx.server
            .inner
            .registry
            .resource("scheduling.k8s.io", "v1", "priorityclasses")
    else {
        return Ok(Vec::new());
    };
    crate::registry::store::Store::new(ctx.server, &res, "")
        .list_all()
        .await
}

async fn admit_pod(ctx: &Ctx<'_>, pod: &mut Value) -> Result<(), ApiError> {
    let name = skiff_api::meta::name(pod).to_string();
    let forbidden = |why: String| ApiError::forbidden_object("", "pods", &name, &why);
    let class_name = pod
        .pointer("/spec/priorityClassName")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let classes = classes(ctx).await?;
    let (class, value, policy) = if class_name.is_empty() {
        // The global default with the lowest value, as upstream picks it.
        match classes
            .iter()
            .filter(|c| c["globalDefault"] == true)
            .min_by_key(|c| c["value"].as_i64().unwrap_or(0))
        {
            Some(c) => (
                skiff_api::meta::name(c).to_string(),
                c["value"].as_i64().unwrap_or(0),
                c["preemptionPolicy"].clone(),
            ),
            None => (String::new(), 0, json!("PreemptLowerPriority")),
        }
    } else {
        let Some(c) = classes
            .iter()
            .find(|c| skiff_api::meta::name(c) == class_name)
        else {
            return Err(forbidden(format!(
                "no PriorityClass with name {class_name} was found"
            )));
        };
        (
            class_name.clone(),
            c["value"].as_i64().unwrap_or(0),
            c["preemptionPolicy"].clone(),
        )
    };
    let spec = &mut pod["spec"];
    if let Some(given) = spec.get("priority").and_then(Value::as_i64)
        && given != value
    {
        return Err(forbidden(format!(
            "the integer value of priority ({given}) must not be provided in pod spec; priority admission controller computed {value} from the given PriorityClass name"
        )));
    }
    if !class.is_empty() {
        spec["priorityClassName"] = json!(class);
    }
    spec["priority"] = json!(value);
    if let Some(policy) = policy.as_str() {
        if let Some(given) = spec.get("preemptionPolicy").and_then(Value::as_str)
            && given != policy
        {
            return Err(forbidden(format!(
                "the string value of PreemptionPolicy ({given}) must not be provided in pod spec; priority admission controller computed {policy} from the given PriorityClass name"
            )));
        }
        spec["preemptionPolicy"] = json!(policy);
    }
    Ok(())
}

/// A PriorityClass created or updated: at most one is the global default
/// (upstream's `validatePriorityClass`).
async fn validate_class(ctx: &Ctx<'_>, class: &Value) -> Result<(), ApiError> {
    if class["globalDefault"] != true {
        return Ok(());
    }
    let name = skiff_api::meta::name(class);
    if let Some(other) = classes(ctx)
        .await?
        .iter()
        .find(|c| c["globalDefault"] == true && skiff_api::meta::name(c) != name)
    {
        return Err(ApiError::forbidden_object(
            "scheduling.k8s.io",
            "priorityclasses",
            name,
            &format!(
                "PriorityClass {} is already marked as default. Only one default can exist",
                skiff_api::meta::name(other)
            ),
        ));
    }
    Ok(())
}
