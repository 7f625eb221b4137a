//! The create-only review resources, answered at once and never stored, as
//! upstream: SelfSubjectReview (`kubectl auth whoami`), SelfSubjectAccessReview
//! and SubjectAccessReview / LocalSubjectAccessReview (`kubectl auth can-i`),
//! SelfSubjectRulesReview, and TokenReview.
//!
//! Authorization is allow-all for authenticated users until RBAC lands, so
//! access reviews answer allowed; the shape is upstream's so RBAC slots in.

use bytes::Bytes;
use serde_json::{Value, json};
use skiff_api::ApiError;

use crate::handlers::{Ctx, parse_body};
use crate::response::{self, Body};

/// Whether `plural` in `group` is a review resource.
pub fn is_review(group: &str, plural: &str) -> bool {
    matches!(
        (group, plural),
        (
            "authentication.k8s.io",
            "selfsubjectreviews" | "tokenreviews"
        ) | (
            "authorization.k8s.io",
            "selfsubjectaccessreviews"
                | "subjectaccessreviews"
                | "localsubjectaccessreviews"
                | "selfsubjectrulesreviews"
        )
    )
}

fn user_info(ctx: &Ctx<'_>) -> Value {
    let mut u = json!({"username": ctx.user.name, "groups": ctx.user.groups});
    if !ctx.user.uid.is_empty() {
        u["uid"] = json!(ctx.user.uid);
    }
    u
}

/// Answers a review.
pub async fn create(ctx: &Ctx<'_>, body: Bytes) -> Result<http::Response<Body>, ApiError> {
    let mut review = parse_body(ctx, &body)?;
    if let Some(m) = review.get_mut("metadata").and_then(Value::as_object_mut) {
        m.insert("creationTimestamp".into(), Value::Null);
    } else {
        review["metadata"] = json!({"creationTimestamp": null});
    }
    match ctx.res.def.plural {
        "selfsubjectreviews" => {
            review["status"] = json!({"userInfo": user_info(ctx)});
        }
        "tokenreviews" => {
            review["status"] = json!({"authenticated": false, "error": "token authentication is answered by the API server's own authenticators only"});
        }
        "selfsubjectrulesreviews" => {
            review["status"] = json!({
                "resourceRules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}],
                "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}],
                "incomplete": false,
            });
        }
        _ => {
            let has_attributes = review.pointer("/spec/resourceAttributes").is_some()
                || review.pointer("/spec/nonResourceAttributes").is_some();
            if !has_attributes {
                return Err(ApiError::invalid(
                    "authorization.k8s.io",
                    ctx.res.def.kind,
                    "",
                    vec![skiff_api::Cause::invalid(
                        "spec.resourceAttributes",
                        &Value::Null,
                        "exactly one of nonResourceAttributes or resourceAttributes must be specified",
                    )],
                ));
            }
            review["status"] = json!({"allowed": true, "reason": "skiff: all authenticated users are authorized until RBAC is enabled"});
        }
    }
    Ok(response::json(201, &review))
}
