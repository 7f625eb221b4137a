//! RBAC bindings, as upstream's `pkg/apis/rbac/validation`: a binding's
//! `roleRef` may not change once set.

use serde_json::Value;

use super::common::str_of;
use crate::errors::Cause;

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
