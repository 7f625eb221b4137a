//! RBAC roles and bindings, as upstream's `pkg/apis/rbac/validation`:
//! policy rules (verbs; resource rules with groups and resources, or
//! non-resource URLs in cluster roles only), role references and subjects,
//! and a binding's `roleRef`, which may not change once set.

use serde_json::{Value, json};

use super::common::str_of;
use super::{NameRule, name_problems, path_segment_problems};
use crate::errors::Cause;

const GROUP: &str = "rbac.authorization.k8s.io";

/// The strings of a list field (absent: none).
fn strings(v: &Value, field: &str) -> Vec<String> {
    v.get(field)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|s| s.as_str().unwrap_or("").to_string())
        .collect()
}

/// Go's `%#v` of a `[]string`.
fn go_strings(list: &[String]) -> String {
    let items: Vec<String> = list.iter().map(|s| format!("{s:?}")).collect();
    format!("[]string{{{}}}", items.join(", "))
}

/// `ValidateRole` / `ValidateClusterRole`: each rule (`namespaced` for a Role).
pub fn validate_role(obj: &Value, namespaced: bool) -> Vec<Cause> {
    let mut causes = Vec::new();
    for (i, rule) in obj
        .get("rules")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        causes.extend(validate_policy_rule(
            rule,
            namespaced,
            &format!("rules[{i}]"),
        ));
    }
    causes
}

/// Upstream's `validatePolicyRule`.
fn validate_policy_rule(rule: &Value, namespaced: bool, path: &str) -> Vec<Cause> {
    let mut causes = Vec::new();
    if strings(rule, "verbs").is_empty() {
        causes.push(Cause::required_because(
            format!("{path}.verbs"),
            "verbs must contain at least one value",
        ));
    }
    let urls = strings(rule, "nonResourceURLs");
    let (groups, resources, names) = (
        strings(rule, "apiGroups"),
        strings(rule, "resources"),
        strings(rule, "resourceNames"),
    );
    if !urls.is_empty() {
        let field = format!("{path}.nonResourceURLs");
        if namespaced {
            causes.push(Cause::invalid_rendered(
                &field,
                go_strings(&urls),
                "namespaced rules cannot apply to non-resource URLs",
            ));
        }
        if !groups.is_empty() || !resources.is_empty() || !names.is_empty() {
            causes.push(Cause::invalid_rendered(
                &field,
                go_strings(&urls),
                "rules cannot apply to both regular resources and non-resource URLs",
            ));
        }
        return causes;
    }
    if groups.is_empty() {
        causes.push(Cause::required_because(
            format!("{path}.apiGroups"),
            "resource rules must supply at least one api group",
        ));
    }
    if resources.is_empty() {
        causes.push(Cause::required_because(
            format!("{path}.resources"),
            "resource rules must supply at least one resource",
        ));
    }
    if !names.is_empty() && resources.len() > 1 {
        causes.push(Cause::required_because(
            format!("{path}.resourceNames"),
            "resource names cannot apply to multiple resources",
        ));
    }
    causes
}

/// `ValidateRoleBinding` / `ValidateClusterRoleBinding` (`namespaced` for a
/// RoleBinding): the role reference and the subjects.
pub fn validate_binding(obj: &Value, namespaced: bool) -> Vec<Cause> {
    let mut causes = Vec::new();
    let role_ref = obj.get("roleRef").unwrap_or(&Value::Null);
    let group = str_of(role_ref, "apiGroup");
    if group != GROUP {
        causes.push(Cause::not_supported(
            "roleRef.apiGroup",
            &json!(group),
            &[GROUP],
        ));
    }
    let kind = str_of(role_ref, "kind");
    let kinds: &[&str] = if namespaced {
        &["Role", "ClusterRole"]
    } else {
        &["ClusterRole"]
    };
    if !kinds.contains(&kind) {
        causes.push(Cause::not_supported("roleRef.kind", &json!(kind), kinds));
    }
    let name = str_of(role_ref, "name");
    if name.is_empty() {
        causes.push(Cause::required("roleRef.name"));
    } else {
        for msg in path_segment_problems(name) {
            causes.push(Cause::invalid("roleRef.name", &json!(name), msg));
        }
    }
    for (i, subject) in obj
        .get("subjects")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        causes.extend(validate_subject(
            subject,
            namespaced,
            &format!("subjects[{i}]"),
        ));
    }
    causes
}

/// Upstream's `validateRoleBindingSubject`.
fn validate_subject(subject: &Value, namespaced: bool, path: &str) -> Vec<Cause> {
    let mut causes = Vec::new();
    let name = str_of(subject, "name");
    let group = str_of(subject, "apiGroup");
    if name.is_empty() {
        causes.push(Cause::required(format!("{path}.name")));
    }
    match str_of(subject, "kind") {
        "ServiceAccount" => {
            if !name.is_empty() {
                for msg in name_problems(NameRule::Subdomain, name) {
                    causes.push(Cause::invalid(format!("{path}.name"), &json!(name), msg));
                }
            }
            if !group.is_empty() {
                causes.push(Cause::not_supported(
                    format!("{path}.apiGroup"),
                    &json!(group),
                    &[""],
                ));
            }
            if !namespaced && str_of(subject, "namespace").is_empty() {
                causes.push(Cause::required(format!("{path}.namespace")));
            }
        }
        kind @ ("User" | "Group") => {
            if name.is_empty() {
                let what = if kind == "User" { "user" } else { "group" };
                causes.push(Cause::invalid(
                    format!("{path}.name"),
                    &json!(name),
                    format!("{what} name cannot be empty"),
                ));
            }
            if group != GROUP {
                causes.push(Cause::not_supported(
                    format!("{path}.apiGroup"),
                    &json!(group),
                    &[GROUP],
                ));
            }
        }
        kind => causes.push(Cause::not_supported(
            format!("{path}.kind"),
            &json!(kind),
            &["ServiceAccount", "User", "Group"],
        )),
    }
    causes
}

/// `ValidateRoleBindingUpdate` and `ValidateClusterRoleBindingUpdate`.
pub fn validate_binding_update(new: &Value, old: &Value) -> Vec<Cause> {
    let (n, o) = (
        new.get("roleRef").unwrap_or(&Value::Null),
        old.get("roleRef").unwrap_or(&Value::Null),
    );
    let fields = |r: &Value| {
        (
            str_of(r, "apiGroup").to_string(),
            str_of(r, "kind").to_string(),
            str_of(r, "name").to_string(),
        )
    };
    if fields(n) == fields(o) {
        return Vec::new();
    }
    let (group, kind, name) = fields(n);
    vec![Cause::invalid_rendered(
        "roleRef",
        format!("rbac.RoleRef{{APIGroup:{group:?}, Kind:{kind:?}, Name:{name:?}}}"),
        "cannot change roleRef",
    )]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn messages(causes: &[Cause]) -> Vec<String> {
        causes.iter().map(Cause::display).collect()
    }

    #[test]
    fn policy_rules_as_upstream() {
        let role = json!({"rules": [
            {"verbs": [], "apiGroups": [""], "resources": ["pods"]},
            {"verbs": ["get"], "nonResourceURLs": ["/healthz"]},
            {"verbs": ["get"]},
            {"verbs": ["get"], "apiGroups": [""], "resources": ["pods", "secrets"], "resourceNames": ["a"]},
        ]});
        assert_eq!(
            messages(&validate_role(&role, true)),
            [
                "rules[0].verbs: Required value: verbs must contain at least one value",
                "rules[1].nonResourceURLs: Invalid value: []string{\"/healthz\"}: namespaced rules cannot apply to non-resource URLs",
                "rules[2].apiGroups: Required value: resource rules must supply at least one api group",
                "rules[2].resources: Required value: resource rules must supply at least one resource",
                "rules[3].resourceNames: Required value: resource names cannot apply to multiple resources",
            ]
        );
        // Cluster roles may name non-resource URLs, but not with resources.
        let cluster = json!({"rules": [
            {"verbs": ["get"], "nonResourceURLs": ["/healthz"]},
            {"verbs": ["get"], "nonResourceURLs": ["/x"], "resources": ["pods"]},
        ]});
        assert_eq!(
            messages(&validate_role(&cluster, false)),
            [
                "rules[1].nonResourceURLs: Invalid value: []string{\"/x\"}: rules cannot apply to both regular resources and non-resource URLs"
            ]
        );
    }

    #[test]
    fn bindings_as_upstream() {
        let ok = json!({"roleRef": {"apiGroup": GROUP, "kind": "Role", "name": "r"},
            "subjects": [{"kind": "User", "name": "u", "apiGroup": GROUP},
                         {"kind": "ServiceAccount", "name": "sa", "namespace": "ns"}]});
        assert!(validate_binding(&ok, true).is_empty());
        assert_eq!(
            messages(&validate_binding(&ok, false)),
            ["roleRef.kind: Unsupported value: \"Role\": supported values: \"ClusterRole\""]
        );
        let bad = json!({"roleRef": {"apiGroup": "x", "kind": "ClusterRole", "name": ""},
            "subjects": [{"kind": "ServiceAccount", "name": "sa"},
                         {"kind": "Group", "name": "", "apiGroup": GROUP},
                         {"kind": "Robot", "name": "r"}]});
        assert_eq!(
            messages(&validate_binding(&bad, false)),
            [
                "roleRef.apiGroup: Unsupported value: \"x\": supported values: \"rbac.authorization.k8s.io\"",
                "roleRef.name: Required value",
                "subjects[0].namespace: Required value",
                "subjects[1].name: Required value",
                "subjects[1].name: Invalid value: \"\": group name cannot be empty",
                "subjects[2].kind: Unsupported value: \"Robot\": supported values: \"ServiceAccount\", \"User\", \"Group\"",
            ]
        );
    }
}
