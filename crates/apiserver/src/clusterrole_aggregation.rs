//! ClusterRole aggregation, as upstream's controller
//! (`pkg/controller/clusterroleaggregation`), run by the API server until the
//! controller manager exists: a ClusterRole with an `aggregationRule` gets
//! as its `rules` every rule of the ClusterRoles its selectors match (by
//! name order, each rule once, never its own), applied with the field
//! manager `clusterrole-aggregation-controller`. This is how `admin`, `edit`
//! and `view` get their rules from the `system:aggregate-to-*` roles and
//! from any ClusterRole a user labels to extend them.

use std::collections::BTreeMap;
use std::sync::Weak;
use std::time::Duration;

use bytes::Bytes;
use serde_json::json;
use skiff_api::selector::{LabelSelector, selector_string};

use crate::rbac::{ClusterRoleInfo, PolicyRule};
use crate::{ApiServer, Inner, UserInfo};

/// How often an idle aggregator checks that its server still exists.
const LIVENESS: Duration = Duration::from_secs(10);

/// The rules `name`'s aggregation rule gives it (upstream's `syncClusterRole`).
fn aggregated(
    name: &str,
    selectors: &[serde_json::Value],
    all: &BTreeMap<String, ClusterRoleInfo>,
) -> Option<Vec<PolicyRule>> {
    let mut rules: Vec<PolicyRule> = Vec::new();
    for selector in selectors {
        // A selector that does not parse leaves the role as it is.
        let selector = LabelSelector::parse(&selector_string(Some(selector))).ok()?;
        for (other, info) in all {
            if other == name || !selector.matches(info.labels.as_ref()) {
                continue;
            }
            for rule in info.rules.iter() {
                if !rules.contains(rule) {
                    rules.push(rule.clone());
                }
            }
        }
    }
    Some(rules)
}

/// Follows ClusterRole changes and applies aggregated rules until the
/// server is dropped.
pub(crate) async fn run(server: Weak<Inner>) {
    // Rounds that failed in a row: the next retry waits longer (1 s, 2 s,
    // ... 5 minutes), as a workqueue's backoff.
    let mut failures = 0u32;
    loop {
        let Some(inner) = server.upgrade() else {
            return;
        };
        let Some(rbac) = inner.rbac.clone() else {
            return;
        };
        drop(inner);
        // Woken by a change, or now and then to see whether the server is
        // still there (this task must not keep its policy alive).
        let changed = tokio::time::timeout(LIVENESS, rbac.cluster_roles_changed.notified()).await;
        let Some(inner) = server.upgrade() else {
            return;
        };
        if changed.is_err() {
            continue;
        }
        let server_now = ApiServer { inner };
        let all = rbac.cluster_roles();
        let mut failed = false;
        for (name, info) in &all {
            let Some(selectors) = &info.selectors else {
                continue;
            };
            let Some(rules) = aggregated(name, selectors, &all) else {
                continue;
            };
            if rules == *info.rules {
                continue;
            }
            if let Err(e) = apply(&server_now, name, &rules).await {
                tracing::warn!(clusterrole = %name, error = %e, "aggregating a cluster role; retrying");
                failed = true;
            }
        }
        if failed {
            // Look again later: a conflict or a store error.
            let wait = Duration::from_secs(1 << failures.min(8)).min(Duration::from_secs(300));
            failures += 1;
            let rbac = rbac.clone();
            tokio::spawn(async move {
                tokio::time::sleep(wait).await;
                rbac.cluster_roles_changed.notify_one();
            });
        } else {
            failures = 0;
        }
    }
}

/// Applies `rules` to ClusterRole `name` as the aggregator's field manager.
async fn apply(server: &ApiServer, name: &str, rules: &[PolicyRule]) -> Result<(), String> {
    let body = json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": name},
        "rules": rules,
    });
    let req = http::Request::builder()
        .method("PATCH")
        .uri(format!(
            "/apis/rbac.authorization.k8s.io/v1/clusterroles/{name}?fieldManager=clusterrole-aggregation-controller&force=true"
        ))
        .header(http::header::CONTENT_TYPE, "application/apply-patch+yaml")
        .body(Bytes::from(body.to_string()))
        .map_err(|e| e.to_string())?;
    let resp = server.handle(req, Some(UserInfo::loopback())).await;
    match resp.status().as_u16() {
        200 | 201 | 404 => Ok(()),
        status => Err(format!("apply answered {status}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn role(
        labels: serde_json::Value,
        rules: serde_json::Value,
        selectors: Option<serde_json::Value>,
    ) -> ClusterRoleInfo {
        ClusterRoleInfo {
            rules: Arc::new(serde_json::from_value(rules).unwrap()),
            labels: labels.as_object().cloned(),
            selectors: selectors.map(|s| serde_json::from_value(s).unwrap()),
        }
    }

    #[test]
    fn rules_of_matching_roles_in_name_order_each_once() {
        let mut all = BTreeMap::new();
        let sel = json!([{"matchLabels": {"agg": "true"}}]);
        all.insert(
            "monitoring".into(),
            role(json!({}), json!([]), Some(sel.clone())),
        );
        all.insert(
            "b-pods".into(),
            role(
                json!({"agg": "true"}),
                json!([{"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]}]),
                None,
            ),
        );
        all.insert("a-nodes".into(), role(json!({"agg": "true"}), json!([{"verbs": ["get"], "apiGroups": [""], "resources": ["nodes"]}, {"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]}]), None));
        all.insert(
            "other".into(),
            role(
                json!({"agg": "false"}),
                json!([{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}]),
                None,
            ),
        );
        let rules = aggregated("monitoring", sel.as_array().unwrap(), &all).unwrap();
        let resources: Vec<&str> = rules.iter().map(|r| r.resources[0].as_str()).collect();
        assert_eq!(resources, ["nodes", "pods"]);
    }
}
