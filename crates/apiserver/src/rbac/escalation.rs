//! Privilege escalation prevention, as upstream's RBAC storage
//! (`pkg/registry/rbac/{role,clusterrole,rolebinding,clusterrolebinding}/policybased`
//! and `pkg/registry/rbac/validation.ConfirmNoEscalation`): a user may write
//! a role only with rules they already hold, and bind a role only when they
//! hold its rules, unless they are in `system:masters` or are allowed the
//! `escalate` (roles) or `bind` (bindings) verb on it.

use serde_json::Value;
use skiff_api::ApiError;

use super::{PolicyRule, covers};
use crate::UserInfo;
use crate::authz::{Attributes, Authorizer, PRIVILEGED_GROUP, Rules};
use crate::request::RequestInfo;

const GROUP: &str = "rbac.authorization.k8s.io";

fn rules_of(obj: &Value) -> Vec<PolicyRule> {
    obj.get("rules")
        .cloned()
        .and_then(|r| serde_json::from_value(r).ok())
        .unwrap_or_default()
}

fn allowed(
    authorizer: &dyn Authorizer,
    user: &UserInfo,
    verb: &str,
    resource: &str,
    namespace: &str,
    name: &str,
) -> bool {
    let info = RequestInfo {
        group: GROUP.into(),
        version: String::new(),
        namespace: namespace.into(),
        resource: resource.into(),
        name: name.into(),
        subresource: String::new(),
        verb: verb.into(),
        ..Default::default()
    };
    authorizer
        .authorize(&Attributes {
            user,
            resource: Some(&info),
            path: "",
            verb,
        })
        .allowed()
}

/// Rules as listed by an authorizer, as role rules (for [`covers`]).
fn policy_rules(rules: &Rules) -> Vec<PolicyRule> {
    let resource = rules.resource.iter().map(|r| PolicyRule {
        verbs: r.verbs.clone(),
        api_groups: r.api_groups.clone(),
        resources: r.resources.clone(),
        resource_names: r.resource_names.clone(),
        non_resource_urls: Vec::new(),
    });
    let non_resource = rules.non_resource.iter().map(|r| PolicyRule {
        verbs: r.verbs.clone(),
        non_resource_urls: r.non_resource_urls.clone(),
        ..PolicyRule::default()
    });
    resource.chain(non_resource).collect()
}

/// A role's rules that its writer does not hold, as upstream words it.
fn confirm_no_escalation(
    authorizer: &dyn Authorizer,
    user: &UserInfo,
    namespace: &str,
    rules: &[PolicyRule],
) -> Result<(), String> {
    let held = authorizer.rules_for(user, namespace);
    let owner = policy_rules(&held);
    let (ok, missing) = covers(&owner, rules);
    if ok {
        return Ok(());
    }
    let mut described: Vec<String> = compact(missing).iter().map(compact_string).collect();
    described.sort();
    described.dedup();
    let mut msg = format!(
        "user {:?} (groups={}) is attempting to grant RBAC permissions not currently held:\n{}",
        user.name,
        go_quoted(&user.groups),
        described.join("\n")
    );
    if !held.errors.is_empty() {
        msg.push_str(&format!(
            "; resolution errors: [{}]",
            held.errors.join(", ")
        ));
    }
    Err(msg)
}

/// Go's `%q` of a `[]string`: `["a" "b"]`.
fn go_quoted(list: &[String]) -> String {
    let items: Vec<String> = list.iter().map(|s| format!("{s:?}")).collect();
    format!("[{}]", items.join(" "))
}

/// Upstream's `CompactString`.
fn compact_string(r: &PolicyRule) -> String {
    let mut parts = Vec::new();
    for (label, values) in [
        ("APIGroups", &r.api_groups),
        ("Resources", &r.resources),
        ("NonResourceURLs", &r.non_resource_urls),
        ("ResourceNames", &r.resource_names),
        ("Verbs", &r.verbs),
    ] {
        if !values.is_empty() {
            parts.push(format!("{label}:{}", go_quoted(values)));
        }
    }
    format!("{{{}}}", parts.join(", "))
}

/// Upstream's `CompactRules`: simple rules (one group, one resource, no
/// names) of the same group and resource become one with all their verbs.
fn compact(rules: Vec<PolicyRule>) -> Vec<PolicyRule> {
    let mut out: Vec<PolicyRule> = Vec::new();
    for rule in rules {
        let simple = rule.api_groups.len() == 1
            && rule.resources.len() == 1
            && rule.resource_names.is_empty()
            && rule.non_resource_urls.is_empty();
        if simple
            && let Some(existing) = out.iter_mut().find(|o| {
                o.api_groups == rule.api_groups
                    && o.resources == rule.resources
                    && o.resource_names.is_empty()
                    && o.non_resource_urls.is_empty()
            })
        {
            for v in rule.verbs {
                if !existing.verbs.contains(&v) {
                    existing.verbs.push(v);
                }
            }
            continue;
        }
        out.push(rule);
    }
    out
}

fn privileged(user: &UserInfo) -> bool {
    user.groups.iter().any(|g| g == PRIVILEGED_GROUP)
}

/// Whether an update changes only what garbage collection needs
/// (upstream's `IsOnlyMutatingGCFields`): such updates need no check.
fn only_gc_fields(obj: &Value, old: Option<&Value>) -> bool {
    let Some(old) = old else { return false };
    let strip = |v: &Value| {
        let mut v = v.clone();
        if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
            for f in [
                "ownerReferences",
                "finalizers",
                "selfLink",
                "managedFields",
                "resourceVersion",
                "generation",
            ] {
                m.remove(f);
            }
        }
        v
    };
    strip(obj) == strip(old)
}

fn has_aggregation_rule(obj: Option<&Value>) -> bool {
    obj.and_then(|o| o.get("aggregationRule"))
        .is_some_and(|a| !a.is_null())
}

/// Checks a Role or ClusterRole about to be written (`old`: what it
/// replaces, for an update), as upstream's policybased storage:
/// `system:masters`, or `escalate` on the request's role (by the request's
/// name: none on a create), or holding every rule; an aggregation rule
/// (which gathers anything) needs full authority.
pub fn check_role(
    authorizer: &dyn Authorizer,
    user: &UserInfo,
    plural: &str,
    request_name: &str,
    obj: &Value,
    old: Option<&Value>,
) -> Result<(), ApiError> {
    if privileged(user) || only_gc_fields(obj, old) {
        return Ok(());
    }
    let namespace = skiff_api::meta::namespace(obj);
    let name = skiff_api::meta::name(obj);
    if allowed(
        authorizer,
        user,
        "escalate",
        plural,
        namespace,
        request_name,
    ) {
        return Ok(());
    }
    confirm_no_escalation(authorizer, user, namespace, &rules_of(obj))
        .map_err(|why| ApiError::forbidden_object(GROUP, plural, name, &why))?;
    if has_aggregation_rule(Some(obj)) || has_aggregation_rule(old) {
        let full = policy_rules(&crate::authz::all_rules());
        confirm_no_escalation(authorizer, user, namespace, &full).map_err(|_| {
            ApiError::forbidden_object(
                GROUP,
                plural,
                name,
                "must have cluster-admin privileges to use the aggregationRule",
            )
        })?;
    }
    Ok(())
}

/// Checks a RoleBinding or ClusterRoleBinding about to be written: its
/// writer must be allowed to `bind` the role, or hold its rules.
/// `role_rules` resolves the role reference (Err: there is no such role,
/// answered 404 as upstream's registry does).
pub fn check_binding(
    authorizer: &dyn Authorizer,
    user: &UserInfo,
    plural: &str,
    obj: &Value,
    old: Option<&Value>,
    role_rules: impl Fn(&str, &str, &str) -> Result<Vec<PolicyRule>, String>,
) -> Result<(), ApiError> {
    if privileged(user) {
        return Ok(());
    }
    // Only the fields garbage collection needs changed: allowed as upstream.
    if only_gc_fields(obj, old) {
        return Ok(());
    }
    let namespace = skiff_api::meta::namespace(obj);
    let name = skiff_api::meta::name(obj);
    let kind = obj
        .pointer("/roleRef/kind")
        .and_then(Value::as_str)
        .unwrap_or("");
    let role = obj
        .pointer("/roleRef/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    let role_resource = match kind {
        "ClusterRole" => "clusterroles",
        _ => "roles",
    };
    if allowed(authorizer, user, "bind", role_resource, namespace, role) {
        return Ok(());
    }
    // A role that does not exist: upstream's rule resolver reads it from
    // the registry, whose NotFound the client sees.
    let role_namespace = if kind == "ClusterRole" { "" } else { namespace };
    let rules = role_rules(kind, role_namespace, role)
        .map_err(|_| ApiError::not_found(GROUP, role_resource, role))?;
    confirm_no_escalation(authorizer, user, namespace, &rules)
        .map_err(|why| ApiError::forbidden_object(GROUP, plural, name, &why))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authz::{Decision, ResourceRule, Rules};

    /// A user who holds `get pods`, and `escalate` on the role named "x".
    struct Holder;
    impl Authorizer for Holder {
        fn authorize(&self, a: &Attributes<'_>) -> Decision {
            let escalate_x = a.verb == "escalate" && a.resource.is_some_and(|r| r.name == "x");
            if escalate_x {
                Decision::Allow(String::new())
            } else {
                Decision::NoOpinion(String::new())
            }
        }
        fn rules_for(&self, _: &UserInfo, _: &str) -> Rules {
            Rules {
                resource: vec![ResourceRule {
                    verbs: vec!["get".into()],
                    api_groups: vec!["".into()],
                    resources: vec!["pods".into()],
                    resource_names: Vec::new(),
                }],
                ..Rules::default()
            }
        }
    }

    fn alice() -> UserInfo {
        UserInfo {
            name: "alice".into(),
            uid: String::new(),
            groups: vec!["system:authenticated".into()],
            ..Default::default()
        }
    }

    #[test]
    fn roles_are_checked_whole_and_aggregation_needs_full_authority() {
        let star = serde_json::json!({"metadata": {"name": "cluster-admin"}, "rules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}]});
        // Labelling a powerful role (rules unchanged) is checked like any update.
        let mut labelled = star.clone();
        labelled["metadata"]["labels"] =
            serde_json::json!({"rbac.authorization.k8s.io/aggregate-to-edit": "true"});
        let e = check_role(
            &Holder,
            &alice(),
            "clusterroles",
            "cluster-admin",
            &labelled,
            Some(&star),
        )
        .unwrap_err();
        assert!(
            e.message
                .contains("is attempting to grant RBAC permissions not currently held"),
            "{}",
            e.message
        );
        // Only garbage collection's fields: allowed.
        let mut finalized = star.clone();
        finalized["metadata"]["finalizers"] = serde_json::json!(["x"]);
        assert!(
            check_role(
                &Holder,
                &alice(),
                "clusterroles",
                "cluster-admin",
                &finalized,
                Some(&star)
            )
            .is_ok()
        );
        // An aggregation rule gathers anything: cluster-admin's authority only.
        let gatherer = serde_json::json!({"metadata": {"name": "g"}, "rules": [], "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"kubernetes.io/bootstrapping": "rbac-defaults"}}]}});
        let e = check_role(&Holder, &alice(), "clusterroles", "", &gatherer, None).unwrap_err();
        assert_eq!(
            e.message,
            r#"clusterroles.rbac.authorization.k8s.io "g" is forbidden: must have cluster-admin privileges to use the aggregationRule"#
        );
        // `escalate` on "x" covers updates of x, not creates (no name yet).
        let x = serde_json::json!({"metadata": {"name": "x"}, "rules": [{"verbs": ["delete"], "apiGroups": [""], "resources": ["pods"]}]});
        assert!(check_role(&Holder, &alice(), "clusterroles", "", &x, None).is_err());
        assert!(check_role(&Holder, &alice(), "clusterroles", "x", &x, Some(&star)).is_ok());
        // Rules held: allowed.
        let reader = serde_json::json!({"metadata": {"name": "r"}, "rules": [{"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]}]});
        assert!(check_role(&Holder, &alice(), "clusterroles", "", &reader, None).is_ok());
    }

    #[test]
    fn missing_rules_described_as_upstream() {
        let rules: Vec<PolicyRule> = serde_json::from_value(serde_json::json!([
            {"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]},
            {"verbs": ["list"], "apiGroups": [""], "resources": ["pods"]},
            {"verbs": ["get"], "nonResourceURLs": ["/metrics"]},
        ]))
        .unwrap();
        let described: Vec<String> = compact(rules).iter().map(compact_string).collect();
        assert_eq!(
            described,
            [
                r#"{APIGroups:[""], Resources:["pods"], Verbs:["get" "list"]}"#,
                r#"{NonResourceURLs:["/metrics"], Verbs:["get"]}"#
            ]
        );
    }
}
