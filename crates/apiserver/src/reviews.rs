//! The create-only review resources, answered at once and never stored, as
//! upstream: SelfSubjectReview (`kubectl auth whoami`), SelfSubjectAccessReview
//! and SubjectAccessReview / LocalSubjectAccessReview (`kubectl auth can-i`),
//! SelfSubjectRulesReview, and TokenReview.
//!
//! Access reviews and rules reviews are answered by the server's own
//! authorizer chain (`system:masters`, then `--authorization-mode`), as
//! upstream's `pkg/registry/authorization/*`.

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
    ctx.user.to_json()
}

/// A review's field selector as one raw selector: `rawSelector`, or its
/// `requirements` (`In` / `NotIn` of one value each, as field selectors
/// allow) as `key=value` / `key!=value` terms.
fn review_field_selector(selector: &Value) -> String {
    if let Some(raw) = selector["rawSelector"].as_str().filter(|r| !r.is_empty()) {
        return raw.to_string();
    }
    selector["requirements"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| {
            let key = r["key"].as_str()?;
            let values = r["values"].as_array()?;
            let [value] = values.as_slice() else {
                return None;
            };
            let op = match r["operator"].as_str()? {
                "In" => "=",
                "NotIn" => "!=",
                _ => return None,
            };
            // Escaped as upstream's fields.EscapeValue.
            let value = value
                .as_str()?
                .replace('\\', "\\\\")
                .replace(',', "\\,")
                .replace('=', "\\=");
            Some(format!("{key}{op}{value}"))
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// The authorizer's decision on a review's attributes for `user`.
fn decide(ctx: &Ctx<'_>, user: &crate::UserInfo, spec: &Value) -> crate::authz::Decision {
    let field = |v: &Value, f: &str| v[f].as_str().unwrap_or("").to_string();
    if let Some(r) = spec.get("resourceAttributes").filter(|r| r.is_object()) {
        let info = crate::request::RequestInfo {
            group: field(r, "group"),
            version: field(r, "version"),
            namespace: field(r, "namespace"),
            resource: field(r, "resource"),
            name: field(r, "name"),
            subresource: field(r, "subresource"),
            verb: field(r, "verb").into(),
            field_selector: review_field_selector(&r["fieldSelector"]),
            selector_name: String::new(),
        };
        ctx.server
            .inner
            .authorizer
            .authorize(&crate::authz::Attributes {
                user,
                resource: Some(&info),
                path: "",
                verb: info.verb.as_str(),
            })
    } else {
        let n = &spec["nonResourceAttributes"];
        let (path, verb) = (field(n, "path"), field(n, "verb"));
        ctx.server
            .inner
            .authorizer
            .authorize(&crate::authz::Attributes {
                user,
                resource: None,
                path: &path,
                verb: &verb,
            })
    }
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
            // Service account tokens (the static token file is the HTTPS
            // front's and is not consulted here), for the audiences asked
            // (the API server's by default).
            let token = review
                .pointer("/spec/token")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            if token.is_empty() {
                return Err(ApiError::bad_request(
                    "token is required for TokenReview in authentication",
                ));
            }
            let issuer = ctx
                .server
                .inner
                .token_issuer
                .as_ref()
                .map(|i| i.issuer.clone());
            let audiences: Vec<String> =
                match review.pointer("/spec/audiences").and_then(Value::as_array) {
                    Some(a) if !a.is_empty() => a
                        .iter()
                        .filter_map(|v| v.as_str().map(str::to_string))
                        .collect(),
                    _ => issuer.into_iter().collect(),
                };
            review["status"] =
                match crate::serviceaccount::authenticate_for(ctx.server, &token, &audiences).await
                {
                    Some((user, matched)) => json!({
                        "authenticated": true,
                        "user": user.to_json(),
                        "audiences": matched,
                    }),
                    None => json!({"user": {}}),
                };
        }
        "selfsubjectrulesreviews" => {
            let namespace = review
                .pointer("/spec/namespace")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            if namespace.is_empty() {
                return Err(ApiError::bad_request("no namespace on request"));
            }
            let rules = ctx.server.inner.authorizer.rules_for(ctx.user, &namespace);
            let resource: Vec<Value> = rules
                .resource
                .iter()
                .map(|r| {
                    let mut rule = json!({"verbs": r.verbs});
                    for (field, values) in [
                        ("apiGroups", &r.api_groups),
                        ("resources", &r.resources),
                        ("resourceNames", &r.resource_names),
                    ] {
                        if !values.is_empty() {
                            rule[field] = json!(values);
                        }
                    }
                    rule
                })
                .collect();
            let non_resource: Vec<Value> = rules
                .non_resource
                .iter()
                .map(|r| json!({"verbs": r.verbs, "nonResourceURLs": r.non_resource_urls}))
                .collect();
            review["status"] = json!({
                "resourceRules": resource,
                "nonResourceRules": non_resource,
                "incomplete": rules.incomplete,
            });
            if !rules.errors.is_empty() {
                review["status"]["evaluationError"] = json!(crate::rbac::aggregate(&rules.errors));
            }
        }
        plural => {
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
            let spec = &review["spec"];
            let user = match plural {
                "selfsubjectaccessreviews" => ctx.user.clone(),
                _ => {
                    let name = spec["user"].as_str().unwrap_or("").to_string();
                    let groups: Vec<String> = spec["groups"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|g| g.as_str().map(str::to_string))
                        .collect();
                    if name.is_empty() && groups.is_empty() {
                        return Err(ApiError::invalid(
                            "authorization.k8s.io",
                            ctx.res.def.kind,
                            "",
                            vec![skiff_api::Cause::invalid(
                                "spec.user",
                                &json!(""),
                                "at least one of user or group must be specified",
                            )],
                        ));
                    }
                    crate::UserInfo {
                        name,
                        uid: spec["uid"].as_str().unwrap_or("").to_string(),
                        groups,
                        extra: spec
                            .get("extra")
                            .and_then(Value::as_object)
                            .map(|m| {
                                m.iter()
                                    .map(|(k, v)| {
                                        let values = v
                                            .as_array()
                                            .into_iter()
                                            .flatten()
                                            .filter_map(|x| x.as_str().map(String::from))
                                            .collect();
                                        (k.clone(), values)
                                    })
                                    .collect()
                            })
                            .unwrap_or_default(),
                    }
                }
            };
            if plural == "localsubjectaccessreviews" {
                let ns = ctx.namespace();
                let asked = spec
                    .pointer("/resourceAttributes/namespace")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                if spec.get("resourceAttributes").is_none() || asked != ns {
                    return Err(ApiError::invalid(
                        "authorization.k8s.io",
                        ctx.res.def.kind,
                        "",
                        vec![skiff_api::Cause::invalid(
                            "spec.resourceAttributes.namespace",
                            &json!(asked),
                            "must match metadata.namespace",
                        )],
                    ));
                }
            }
            let decision = decide(ctx, &user, spec);
            let mut status = json!({"allowed": decision.allowed()});
            if matches!(decision, crate::authz::Decision::Deny(_)) {
                status["denied"] = json!(true);
            }
            if !decision.reason().is_empty() {
                status["reason"] = json!(decision.reason());
            }
            review["status"] = status;
        }
    }
    Ok(response::json(201, &review))
}

#[cfg(test)]
mod field_selector_tests {
    use serde_json::json;

    use super::review_field_selector;

    #[test]
    fn requirements_become_a_raw_selector() {
        assert_eq!(
            review_field_selector(&json!({"rawSelector": "spec.nodeName=n1"})),
            "spec.nodeName=n1"
        );
        assert_eq!(
            review_field_selector(&json!({"requirements": [
                {"key": "spec.nodeName", "operator": "In", "values": ["n1"]},
                {"key": "metadata.name", "operator": "NotIn", "values": ["a,b"]},
                {"key": "x", "operator": "Exists"},
                {"key": "y", "operator": "In", "values": ["1", "2"]}
            ]})),
            r"spec.nodeName=n1,metadata.name!=a\,b"
        );
    }
}
