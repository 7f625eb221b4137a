//! The bootstrap RBAC policy, reconciled at every start as upstream's
//! `rbac/bootstrap-roles` post-start hook does (`pkg/registry/rbac/rest`
//! with `pkg/registry/rbac/reconciliation`): the ClusterRoles,
//! ClusterRoleBindings and the kube-system / kube-public Roles and
//! RoleBindings of Kubernetes 1.33, in the form of upstream's test data
//! (`plugin/pkg/auth/authorizer/rbac/bootstrappolicy/testdata`, the policy
//! as kube-apiserver writes it). The namespace roles and bindings are that
//! data as stored; the ClusterRoles are it with 1.33's changes since the
//! stored copy (the scheduler's `volumeattachments`, the
//! `KubeletFineGrainedAuthz` node subresources of `system:kubelet-api-admin`,
//! kube-proxy's `servicecidrs`); the ClusterRoleBindings are rendered from
//! `ClusterRoleBindings()` in `policy.go`. The controllers' own roles and
//! bindings (`system:controller:*`, to their service accounts in
//! kube-system) are `controller_policy.go`'s under 1.33's default feature
//! gates (provenance: docs/adr and `controller-roles.yaml`'s history).
//!
//! Missing objects are created. An existing one is left alone when it is
//! annotated `rbac.authorization.kubernetes.io/autoupdate: "false"`;
//! otherwise it keeps what it has and gains what is missing: labels and
//! annotations, rules it does not cover (as broken-down rules), aggregation
//! selectors, binding subjects. A binding whose role reference changed is
//! deleted and created again (a `roleRef` cannot be updated).

use serde_json::{Map, Value, json};
use skiff_apiserver::rbac::{PolicyRule, covers};

use super::BootstrapError;
use super::client::{Created, Loopback};

/// The policy, as upstream's test data holds it (each a `v1 List`).
pub const CLUSTER_ROLES: &str = include_str!("rbac/cluster-roles.yaml");
pub const CLUSTER_ROLE_BINDINGS: &str = include_str!("rbac/cluster-role-bindings.yaml");
pub const CONTROLLER_ROLES: &str = include_str!("rbac/controller-roles.yaml");
pub const CONTROLLER_ROLE_BINDINGS: &str = include_str!("rbac/controller-role-bindings.yaml");
pub const NAMESPACE_ROLES: &str = include_str!("rbac/namespace-roles.yaml");
pub const NAMESPACE_ROLE_BINDINGS: &str = include_str!("rbac/namespace-role-bindings.yaml");

const GROUP: &str = "/apis/rbac.authorization.k8s.io/v1";
const AUTOUPDATE: &str = "rbac.authorization.kubernetes.io/autoupdate";

/// The items of one of the policy files.
pub fn items(list: &str) -> Vec<Value> {
    let list: Value = serde_yaml::from_str(list).unwrap_or(Value::Null);
    match list.get("items") {
        Some(Value::Array(items)) => items.clone(),
        _ => Vec::new(),
    }
}

/// The collection an item of `plural` is created in.
fn collection(plural: &str, item: &Value) -> String {
    match item.pointer("/metadata/namespace").and_then(Value::as_str) {
        Some(ns) if !ns.is_empty() => format!("{GROUP}/namespaces/{ns}/{plural}"),
        _ => format!("{GROUP}/{plural}"),
    }
}

fn name(item: &Value) -> &str {
    item.pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// Reconciles the whole bootstrap policy.
pub(crate) async fn reconcile(client: &Loopback) -> Result<(), BootstrapError> {
    for (text, plural) in [
        (CLUSTER_ROLES, "clusterroles"),
        (CONTROLLER_ROLES, "clusterroles"),
        (NAMESPACE_ROLES, "roles"),
    ] {
        for item in items(text) {
            client
                .reconcile(&collection(plural, &item), name(&item), &item, |current| {
                    repair_role(current, &item)
                })
                .await?;
        }
    }
    for (text, plural) in [
        (CLUSTER_ROLE_BINDINGS, "clusterrolebindings"),
        (CONTROLLER_ROLE_BINDINGS, "clusterrolebindings"),
        (NAMESPACE_ROLE_BINDINGS, "rolebindings"),
    ] {
        for item in items(text) {
            reconcile_binding(client, &collection(plural, &item), &item).await?;
        }
    }
    Ok(())
}

/// Whether the object opted out of reconciliation.
fn opted_out(current: &Value) -> bool {
    current
        .pointer(&format!(
            "/metadata/annotations/{}",
            AUTOUPDATE.replace('/', "~1")
        ))
        .and_then(Value::as_str)
        == Some("false")
}

/// Adds the expected labels and annotations the object lacks (its own
/// values win, as upstream's merge).
fn merge_metadata(current: &mut Value, expected: &Value) -> bool {
    let mut changed = false;
    for field in ["labels", "annotations"] {
        let Some(want) = expected
            .pointer(&format!("/metadata/{field}"))
            .and_then(Value::as_object)
        else {
            continue;
        };
        let have = current["metadata"]
            .as_object_mut()
            .map(|m| m.entry(field).or_insert_with(|| json!({})));
        let Some(have) = have else { continue };
        if !have.is_object() {
            *have = json!({});
        }
        let have: &mut Map<String, Value> = have.as_object_mut().expect("an object");
        for (k, v) in want {
            if !have.contains_key(k) {
                have.insert(k.clone(), v.clone());
                changed = true;
            }
        }
    }
    changed
}

fn rules(v: &Value) -> Vec<PolicyRule> {
    v.get("rules")
        .cloned()
        .and_then(|r| serde_json::from_value(r).ok())
        .unwrap_or_default()
}

/// Brings a role up to the expected one; true when it changed.
fn repair_role(current: &mut Value, expected: &Value) -> bool {
    if opted_out(current) {
        return false;
    }
    let mut changed = merge_metadata(current, expected);
    let (covered, missing) = covers(&rules(current), &rules(expected));
    if !covered {
        let mut all = rules(current);
        all.extend(missing);
        current["rules"] = json!(all);
        changed = true;
    }
    if let Some(want) = expected
        .pointer("/aggregationRule/clusterRoleSelectors")
        .and_then(Value::as_array)
    {
        let have: Vec<Value> = current
            .pointer("/aggregationRule/clusterRoleSelectors")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let mut selectors = have.clone();
        for s in want {
            if !selectors.contains(s) {
                selectors.push(s.clone());
            }
        }
        if selectors != have || current.get("aggregationRule").is_none_or(Value::is_null) {
            current["aggregationRule"] = json!({"clusterRoleSelectors": selectors});
            changed = true;
        }
    }
    changed
}

/// Brings a binding up to the expected one.
async fn reconcile_binding(
    client: &Loopback,
    collection: &str,
    expected: &Value,
) -> Result<(), BootstrapError> {
    let path = format!("{collection}/{}", name(expected));
    for _ in 0..5 {
        let current = client.ensure(collection, name(expected), expected).await?;
        if opted_out(&current) {
            return Ok(());
        }
        if current.get("roleRef") != expected.get("roleRef") {
            tracing::info!(object = %path, "bootstrap: the role reference changed; recreating");
            client.delete(&path).await?;
            if let Created::AlreadyExists = client.create(collection, expected).await? {
                continue;
            }
            return Ok(());
        }
        let mut repaired = current.clone();
        let mut changed = merge_metadata(&mut repaired, expected);
        let have: Vec<Value> = repaired["subjects"].as_array().cloned().unwrap_or_default();
        let mut subjects = have.clone();
        for s in expected["subjects"].as_array().into_iter().flatten() {
            if !subjects.contains(s) {
                subjects.push(s.clone());
            }
        }
        if subjects != have {
            repaired["subjects"] = json!(subjects);
            changed = true;
        }
        if !changed {
            return Ok(());
        }
        match client.update(&path, &repaired).await? {
            super::client::Updated::Updated(_) => return Ok(()),
            super::client::Updated::Stale => continue,
        }
    }
    Err(BootstrapError::new(
        &path,
        409,
        "changed concurrently, five times",
    ))
}
