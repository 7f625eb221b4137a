//! Role-based access control, as upstream's RBAC authorizer
//! (`plugin/pkg/auth/authorizer/rbac/rbac.go`, the rule evaluation of
//! `pkg/apis/rbac/v1/evaluation_helpers.go` and the subject matching and
//! binding descriptions of `pkg/registry/rbac/validation/rule.go`).
//!
//! The policy — Roles, ClusterRoles, RoleBindings, ClusterRoleBindings — is
//! held in memory, filled by one list and kept current by one watch of the
//! store's RBAC prefix, so that a decision reads no storage. RBAC only
//! allows: a request no binding allows gets no opinion, with the errors met
//! on the way (a binding to a role that does not exist) as its reason.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock, Weak};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use skiff_store::Store;
use tokio::sync::watch;

pub mod escalation;

use crate::UserInfo;
use crate::authz::{Attributes, Authorizer, Decision, NonResourceRule, ResourceRule, Rules};

/// Where the RBAC objects are stored.
const PREFIX: &str = "/registry/rbac.authorization.k8s.io/";
/// Where the ClusterRoles are.
const CLUSTER_ROLES: &str = "/registry/rbac.authorization.k8s.io/clusterroles/";

/// One rule of a role (`rbacv1.PolicyRule`), written as Go writes it.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", default)]
pub struct PolicyRule {
    pub verbs: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub api_groups: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub resource_names: Vec<String>,
    #[serde(rename = "nonResourceURLs", skip_serializing_if = "Vec::is_empty")]
    pub non_resource_urls: Vec<String>,
}

impl PolicyRule {
    /// Whether the rule allows the request (upstream's `RuleAllows`).
    pub fn allows(&self, a: &Attributes<'_>) -> bool {
        if !has_or_all(&self.verbs, a.verb) {
            return false;
        }
        match a.resource {
            Some(r) => {
                let combined = if r.subresource.is_empty() {
                    r.resource.clone()
                } else {
                    format!("{}/{}", r.resource, r.subresource)
                };
                has_or_all(&self.api_groups, &r.group)
                    && self.resource_matches(&combined, &r.subresource)
                    && (self.resource_names.is_empty()
                        || self
                            .resource_names
                            .iter()
                            .any(|n| n == r.authorization_name()))
            }
            None => self.non_resource_urls.iter().any(|u| {
                u == "*"
                    || u == a.path
                    || (u.ends_with('*') && a.path.starts_with(u.trim_end_matches('*')))
            }),
        }
    }

    /// `ResourceMatches`: `*`, the exact `resource[/subresource]`, or
    /// `*/subresource`.
    fn resource_matches(&self, combined: &str, subresource: &str) -> bool {
        self.resources.iter().any(|r| {
            r == "*"
                || r == combined
                || (!subresource.is_empty()
                    && r.len() == subresource.len() + 2
                    && r.starts_with("*/")
                    && r.ends_with(subresource))
        })
    }
}

fn has_or_all(list: &[String], wanted: &str) -> bool {
    list.iter().any(|v| v == "*" || v == wanted)
}

/// A rule split into rules of one group, resource, verb and name each
/// (upstream's `BreakdownRule`).
pub fn breakdown(rule: &PolicyRule) -> Vec<PolicyRule> {
    let one = |s: &String| vec![s.clone()];
    let mut out = Vec::new();
    for group in &rule.api_groups {
        for resource in &rule.resources {
            for verb in &rule.verbs {
                let base = PolicyRule {
                    verbs: one(verb),
                    api_groups: one(group),
                    resources: one(resource),
                    ..PolicyRule::default()
                };
                if rule.resource_names.is_empty() {
                    out.push(base);
                } else {
                    for name in &rule.resource_names {
                        out.push(PolicyRule {
                            resource_names: one(name),
                            ..base.clone()
                        });
                    }
                }
            }
        }
    }
    for url in &rule.non_resource_urls {
        for verb in &rule.verbs {
            out.push(PolicyRule {
                verbs: one(verb),
                non_resource_urls: one(url),
                ..PolicyRule::default()
            });
        }
    }
    out
}

fn has_all(set: &[String], wanted: &[String]) -> bool {
    wanted.iter().all(|w| set.contains(w))
}

/// Whether `owner` grants everything `sub` does (upstream's `ruleCovers`).
fn rule_covers(owner: &PolicyRule, sub: &PolicyRule) -> bool {
    let all = |set: &[String]| set.iter().any(|v| v == "*");
    let verbs = all(&owner.verbs) || has_all(&owner.verbs, &sub.verbs);
    let groups = all(&owner.api_groups) || has_all(&owner.api_groups, &sub.api_groups);
    let resources = all(&owner.resources)
        || has_all(&owner.resources, &sub.resources)
        || sub.resources.iter().all(|path| {
            owner.resources.contains(path)
                || path
                    .split_once('/')
                    .is_some_and(|(_, sub)| owner.resources.contains(&format!("*/{sub}")))
        });
    let urls = sub.non_resource_urls.iter().all(|wanted| {
        owner.non_resource_urls.iter().any(|o| {
            o == wanted || (o.ends_with('*') && wanted.starts_with(o.trim_end_matches('*')))
        })
    });
    let names = if sub.resource_names.is_empty() {
        owner.resource_names.is_empty()
    } else {
        owner.resource_names.is_empty() || has_all(&owner.resource_names, &sub.resource_names)
    };
    verbs && groups && resources && names && urls
}

/// Whether `owner` covers every rule of `servant`, and the broken-down
/// rules it does not (upstream's `validation.Covers`).
pub fn covers(owner: &[PolicyRule], servant: &[PolicyRule]) -> (bool, Vec<PolicyRule>) {
    let mut missing = Vec::new();
    for rule in servant {
        for sub in breakdown(rule) {
            if !owner.iter().any(|o| rule_covers(o, &sub)) {
                missing.push(sub);
            }
        }
    }
    (missing.is_empty(), missing)
}

/// A subject of a binding (`rbacv1.Subject`).
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct Subject {
    pub kind: String,
    pub name: String,
    pub namespace: String,
}

impl Subject {
    /// Whether the subject is `user`, in a binding of `namespace` (empty for
    /// a ClusterRoleBinding): upstream's `appliesToUser`.
    fn applies_to(&self, user: &UserInfo, namespace: &str) -> bool {
        match self.kind.as_str() {
            "User" => user.name == self.name,
            "Group" => user.groups.contains(&self.name),
            "ServiceAccount" => {
                let ns = if self.namespace.is_empty() {
                    namespace
                } else {
                    &self.namespace
                };
                !ns.is_empty()
                    && user
                        .name
                        .strip_prefix("system:serviceaccount:")
                        .and_then(|rest| rest.split_once(':'))
                        == Some((ns, self.name.as_str()))
            }
            _ => false,
        }
    }

    /// How upstream names the subject in a reason (`describeSubject`).
    fn describe(&self, binding_namespace: &str) -> String {
        match self.kind.as_str() {
            "ServiceAccount" => {
                let ns = if self.namespace.is_empty() {
                    binding_namespace
                } else {
                    &self.namespace
                };
                format!("{} {:?}", self.kind, format!("{}/{ns}", self.name))
            }
            _ => format!("{} {:?}", self.kind, self.name),
        }
    }
}

/// A binding's `roleRef`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct RoleRef {
    pub kind: String,
    pub name: String,
}

/// A RoleBinding or ClusterRoleBinding.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Binding {
    name: String,
    /// Empty for a ClusterRoleBinding.
    namespace: String,
    role_ref: RoleRef,
    subjects: Vec<Subject>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct StoredBinding {
    role_ref: RoleRef,
    subjects: Option<Vec<Subject>>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct StoredRole {
    metadata: StoredMeta,
    rules: Option<Vec<PolicyRule>>,
    aggregation_rule: Option<AggregationRule>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct StoredMeta {
    labels: Option<Map<String, Value>>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct AggregationRule {
    cluster_role_selectors: Option<Vec<Value>>,
}

/// What aggregation needs of a ClusterRole.
#[derive(Clone, Default)]
pub(crate) struct ClusterRoleInfo {
    pub(crate) rules: Arc<Vec<PolicyRule>>,
    pub(crate) labels: Option<Map<String, Value>>,
    /// The `aggregationRule`'s selectors, when it has one.
    pub(crate) selectors: Option<Vec<Value>>,
}

/// The RBAC objects, as decisions need them.
#[derive(Default)]
struct Policy {
    roles: HashMap<(String, String), Arc<Vec<PolicyRule>>>,
    cluster_roles: BTreeMap<String, ClusterRoleInfo>,
    cluster_role_bindings: BTreeMap<String, Binding>,
    /// By namespace, then name.
    role_bindings: HashMap<String, BTreeMap<String, Binding>>,
}

/// What a stored key holds.
enum Kind {
    Role,
    ClusterRole,
    RoleBinding,
    ClusterRoleBinding,
}

/// The kind, namespace and name of an RBAC key.
fn parse_key(key: &str) -> Option<(Kind, String, String)> {
    let rest = key.strip_prefix(PREFIX)?;
    let mut parts = rest.split('/');
    let kind = match parts.next()? {
        "roles" => Kind::Role,
        "clusterroles" => Kind::ClusterRole,
        "rolebindings" => Kind::RoleBinding,
        "clusterrolebindings" => Kind::ClusterRoleBinding,
        _ => return None,
    };
    let (ns, name) = match kind {
        Kind::Role | Kind::RoleBinding => (parts.next()?, parts.next()?),
        Kind::ClusterRole | Kind::ClusterRoleBinding => ("", parts.next()?),
    };
    Some((kind, ns.to_string(), name.to_string()))
}

impl Policy {
    fn put(&mut self, key: &str, value: &[u8]) {
        let Some((kind, ns, name)) = parse_key(key) else {
            return;
        };
        match kind {
            Kind::Role | Kind::ClusterRole => {
                let role: StoredRole = serde_json::from_slice(value).unwrap_or_default();
                let rules = Arc::new(role.rules.unwrap_or_default());
                match kind {
                    Kind::Role => {
                        self.roles.insert((ns, name), rules);
                    }
                    _ => {
                        self.cluster_roles.insert(
                            name,
                            ClusterRoleInfo {
                                rules,
                                labels: role.metadata.labels,
                                selectors: role
                                    .aggregation_rule
                                    .map(|a| a.cluster_role_selectors.unwrap_or_default()),
                            },
                        );
                    }
                }
            }
            Kind::RoleBinding | Kind::ClusterRoleBinding => {
                let stored: StoredBinding = serde_json::from_slice(value).unwrap_or_default();
                let binding = Binding {
                    name: name.clone(),
                    namespace: ns.clone(),
                    role_ref: stored.role_ref,
                    subjects: stored.subjects.unwrap_or_default(),
                };
                match kind {
                    Kind::RoleBinding => {
                        self.role_bindings
                            .entry(ns)
                            .or_default()
                            .insert(name, binding);
                    }
                    _ => {
                        self.cluster_role_bindings.insert(name, binding);
                    }
                }
            }
        }
    }

    fn delete(&mut self, key: &str) {
        let Some((kind, ns, name)) = parse_key(key) else {
            return;
        };
        match kind {
            Kind::Role => {
                self.roles.remove(&(ns, name));
            }
            Kind::ClusterRole => {
                self.cluster_roles.remove(&name);
            }
            Kind::RoleBinding => {
                if let Some(bindings) = self.role_bindings.get_mut(&ns) {
                    bindings.remove(&name);
                    if bindings.is_empty() {
                        self.role_bindings.remove(&ns);
                    }
                }
            }
            Kind::ClusterRoleBinding => {
                self.cluster_role_bindings.remove(&name);
            }
        }
    }

    /// The rules a binding grants, or the error upstream reports for a role
    /// that does not exist.
    fn rules_of(&self, b: &Binding) -> Result<&Arc<Vec<PolicyRule>>, String> {
        match b.role_ref.kind.as_str() {
            "ClusterRole" => self
                .cluster_roles
                .get(&b.role_ref.name)
                .map(|c| &c.rules)
                .ok_or_else(|| {
                    format!(
                        "clusterrole.rbac.authorization.k8s.io {:?} not found",
                        b.role_ref.name
                    )
                }),
            "Role" if !b.namespace.is_empty() => self
                .roles
                .get(&(b.namespace.clone(), b.role_ref.name.clone()))
                .ok_or_else(|| {
                    format!(
                        "role.rbac.authorization.k8s.io {:?} not found",
                        b.role_ref.name
                    )
                }),
            other => Err(format!("unsupported role reference kind: {other:?}")),
        }
    }

    /// Visits the rules that apply to `user` in `namespace` (cluster role
    /// bindings first, then the namespace's role bindings) until `visit`
    /// returns true: upstream's `VisitRulesFor`. Returns the errors met.
    fn visit(
        &self,
        user: &UserInfo,
        namespace: &str,
        mut visit: impl FnMut(&Binding, &Subject, &PolicyRule) -> bool,
    ) -> Vec<String> {
        let mut errors = Vec::new();
        let namespaced = (!namespace.is_empty())
            .then(|| self.role_bindings.get(namespace))
            .flatten();
        let bindings = self
            .cluster_role_bindings
            .values()
            .chain(namespaced.into_iter().flat_map(|b| b.values()));
        for binding in bindings {
            let Some(subject) = binding
                .subjects
                .iter()
                .find(|s| s.applies_to(user, &binding.namespace))
            else {
                continue;
            };
            match self.rules_of(binding) {
                Ok(rules) => {
                    for rule in rules.iter() {
                        if visit(binding, subject, rule) {
                            return errors;
                        }
                    }
                }
                Err(e) => errors.push(e),
            }
        }
        errors
    }
}

/// How upstream names the binding that allowed a request.
fn describe(binding: &Binding, subject: &Subject) -> String {
    if binding.namespace.is_empty() {
        format!(
            "ClusterRoleBinding {:?} of {} {:?} to {}",
            binding.name,
            binding.role_ref.kind,
            binding.role_ref.name,
            subject.describe("")
        )
    } else {
        format!(
            "RoleBinding {:?} of {} {:?} to {}",
            format!("{}/{}", binding.name, binding.namespace),
            binding.role_ref.kind,
            binding.role_ref.name,
            subject.describe(&binding.namespace)
        )
    }
}

/// Upstream's aggregate error text: one error as itself, several (each
/// once) in brackets.
pub fn aggregate(errors: &[String]) -> String {
    let mut unique: Vec<&String> = Vec::new();
    for e in errors {
        if !unique.contains(&e) {
            unique.push(e);
        }
    }
    match unique.as_slice() {
        [] => String::new(),
        [one] => (*one).clone(),
        many => format!(
            "[{}]",
            many.iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// The RBAC authorizer.
pub struct Rbac {
    policy: RwLock<Policy>,
    /// Whether the policy has been loaded once.
    synced: watch::Sender<bool>,
    /// Told when a ClusterRole changes (ClusterRole aggregation).
    pub(crate) cluster_roles_changed: tokio::sync::Notify,
}

impl crate::store_reflector::Sink for Rbac {
    fn replace(&self, _prefix: &str, objects: &[(String, bytes::Bytes)]) {
        let mut policy = Policy::default();
        for (key, value) in objects {
            policy.put(key, value);
        }
        *self.policy.write().expect("poisoned") = policy;
        self.synced.send_replace(true);
        self.cluster_roles_changed.notify_one();
    }

    fn apply(&self, key: &str, value: Option<&[u8]>) {
        let mut policy = self.policy.write().expect("poisoned");
        match value {
            Some(v) => policy.put(key, v),
            None => policy.delete(key),
        }
        drop(policy);
        if key.starts_with(CLUSTER_ROLES) {
            self.cluster_roles_changed.notify_one();
        }
    }
}

/// How long a request waits for the policy's first load.
const SYNC_TIMEOUT: Duration = Duration::from_secs(3);

impl Rbac {
    /// An authorizer with an empty policy; [`Rbac::follow`] fills it.
    pub fn new() -> Arc<Self> {
        Arc::new(Rbac {
            policy: RwLock::new(Policy::default()),
            synced: watch::channel(false).0,
            cluster_roles_changed: tokio::sync::Notify::new(),
        })
    }

    /// Follows the store's RBAC objects until the authorizer is dropped.
    pub async fn follow(rbac: Weak<Self>, store: Arc<dyn Store>) {
        crate::store_reflector::follow(rbac, store, PREFIX.into(), "RBAC").await
    }

    /// The rules of the role a binding refers to (upstream's
    /// `GetRoleReferenceRules`), or its not-found text.
    pub fn role_reference_rules(
        &self,
        kind: &str,
        namespace: &str,
        name: &str,
    ) -> Result<Vec<PolicyRule>, String> {
        let binding = Binding {
            namespace: namespace.to_string(),
            role_ref: RoleRef {
                kind: kind.to_string(),
                name: name.to_string(),
            },
            ..Binding::default()
        };
        let policy = self.policy.read().expect("poisoned");
        policy.rules_of(&binding).map(|r| r.as_ref().clone())
    }

    /// A copy of every ClusterRole's aggregation inputs, by name.
    pub(crate) fn cluster_roles(&self) -> BTreeMap<String, ClusterRoleInfo> {
        self.policy.read().expect("poisoned").cluster_roles.clone()
    }

    /// Whether the policy has been loaded.
    pub fn synced(&self) -> bool {
        *self.synced.borrow()
    }

    /// Waits (a bounded while) for the policy's first load.
    pub async fn wait_synced(&self) {
        if *self.synced.borrow() {
            return;
        }
        let mut rx = self.synced.subscribe();
        let _ = tokio::time::timeout(SYNC_TIMEOUT, rx.wait_for(|s| *s)).await;
    }
}

impl Authorizer for Rbac {
    fn authorize(&self, a: &Attributes<'_>) -> Decision {
        let policy = self.policy.read().expect("poisoned");
        let namespace = a.resource.map_or("", |r| r.namespace.as_str());
        let mut allowed_by = None;
        let errors = policy.visit(a.user, namespace, |binding, subject, rule| {
            if rule.allows(a) {
                allowed_by = Some(describe(binding, subject));
                true
            } else {
                false
            }
        });
        if let Some(by) = allowed_by {
            return Decision::Allow(format!("RBAC: allowed by {by}"));
        }
        if errors.is_empty() {
            Decision::NoOpinion(String::new())
        } else {
            Decision::NoOpinion(format!("RBAC: {}", aggregate(&errors)))
        }
    }

    fn rules_for(&self, user: &UserInfo, namespace: &str) -> Rules {
        let policy = self.policy.read().expect("poisoned");
        let mut rules = Rules::default();
        let errors = policy.visit(user, namespace, |_, _, rule| {
            if !rule.resources.is_empty() {
                rules.resource.push(ResourceRule {
                    verbs: rule.verbs.clone(),
                    api_groups: rule.api_groups.clone(),
                    resources: rule.resources.clone(),
                    resource_names: rule.resource_names.clone(),
                });
            }
            if !rule.non_resource_urls.is_empty() {
                rules.non_resource.push(NonResourceRule {
                    verbs: rule.verbs.clone(),
                    non_resource_urls: rule.non_resource_urls.clone(),
                });
            }
            false
        });
        // As upstream's RBAC resolver: complete, with the errors reported.
        rules.errors = errors;
        rules
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::RequestInfo;

    fn user(name: &str, groups: &[&str]) -> UserInfo {
        UserInfo {
            name: name.into(),
            uid: String::new(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
            ..Default::default()
        }
    }

    fn request(
        verb: &str,
        group: &str,
        resource: &str,
        sub: &str,
        ns: &str,
        name: &str,
    ) -> RequestInfo {
        RequestInfo {
            group: group.into(),
            version: "v1".into(),
            namespace: ns.into(),
            resource: resource.into(),
            name: name.into(),
            subresource: sub.into(),
            verb: verb.into(),
            ..Default::default()
        }
    }

    fn rbac(objects: &[(&str, serde_json::Value)]) -> Arc<Rbac> {
        let r = Rbac::new();
        {
            let mut p = r.policy.write().unwrap();
            for (key, value) in objects {
                p.put(&format!("{PREFIX}{key}"), value.to_string().as_bytes());
            }
        }
        r
    }

    fn decide(r: &Rbac, u: &UserInfo, info: &RequestInfo) -> Decision {
        r.authorize(&Attributes {
            user: u,
            resource: Some(info),
            path: "",
            verb: info.verb.as_str(),
        })
    }

    #[test]
    fn rules_match_as_upstream() {
        let rule = |v: serde_json::Value| serde_json::from_value::<PolicyRule>(v).unwrap();
        let u = user("alice", &[]);
        let get_pod_log = request("get", "", "pods", "log", "ns", "p");
        let allows = |r: &PolicyRule, info: &RequestInfo| {
            r.allows(&Attributes {
                user: &u,
                resource: Some(info),
                path: "",
                verb: info.verb.as_str(),
            })
        };
        assert!(allows(
            &rule(
                serde_json::json!({"verbs": ["get"], "apiGroups": [""], "resources": ["pods/log"]})
            ),
            &get_pod_log
        ));
        assert!(allows(
            &rule(serde_json::json!({"verbs": ["*"], "apiGroups": ["*"], "resources": ["*/log"]})),
            &get_pod_log
        ));
        assert!(!allows(
            &rule(serde_json::json!({"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]})),
            &get_pod_log
        ));
        assert!(!allows(
            &rule(
                serde_json::json!({"verbs": ["get"], "apiGroups": [""], "resources": ["pods/log"], "resourceNames": ["q"]})
            ),
            &get_pod_log
        ));
        assert!(allows(
            &rule(
                serde_json::json!({"verbs": ["get"], "apiGroups": [""], "resources": ["pods/log"], "resourceNames": ["q", "p"]})
            ),
            &get_pod_log
        ));
        assert!(!allows(
            &rule(serde_json::json!({"verbs": ["list"], "apiGroups": [""], "resources": ["*"]})),
            &get_pod_log
        ));
        let path = |p: &str, urls: serde_json::Value| {
            rule(serde_json::json!({"verbs": ["get"], "nonResourceURLs": urls})).allows(
                &Attributes {
                    user: &u,
                    resource: None,
                    path: p,
                    verb: "get",
                },
            )
        };
        assert!(path("/healthz", serde_json::json!(["/healthz"])));
        assert!(path("/healthz/etcd", serde_json::json!(["/healthz/*"])));
        assert!(path("/api/v1", serde_json::json!(["/api", "/api/*"])));
        assert!(!path("/apis", serde_json::json!(["/api/*"])));
        assert!(path("/anything", serde_json::json!(["*"])));
    }

    #[test]
    fn covers_as_upstream() {
        let rules = |v: serde_json::Value| serde_json::from_value::<Vec<PolicyRule>>(v).unwrap();
        let owner = rules(serde_json::json!([
            {"verbs": ["get", "list"], "apiGroups": [""], "resources": ["pods", "*/status"]},
            {"verbs": ["get"], "nonResourceURLs": ["/api/*"]},
        ]));
        assert!(covers(&owner, &rules(serde_json::json!([{"verbs": ["get"], "apiGroups": [""], "resources": ["pods", "services/status"], "resourceNames": ["a"]}]))).0);
        assert!(
            covers(
                &owner,
                &rules(serde_json::json!([{"verbs": ["get"], "nonResourceURLs": ["/api/v1"]}]))
            )
            .0
        );
        let (ok, missing) = covers(
            &owner,
            &rules(
                serde_json::json!([{"verbs": ["get", "delete"], "apiGroups": [""], "resources": ["pods"]}]),
            ),
        );
        assert!(!ok);
        assert_eq!(
            missing,
            rules(
                serde_json::json!([{"verbs": ["delete"], "apiGroups": [""], "resources": ["pods"]}])
            )
        );
        // A rule limited to names does not cover one that is not.
        let named = rules(
            serde_json::json!([{"verbs": ["get"], "apiGroups": [""], "resources": ["pods"], "resourceNames": ["a"]}]),
        );
        assert!(!covers(&named, &rules(serde_json::json!([{"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]}]))).0);
    }

    #[test]
    fn bindings_decide_with_upstreams_reasons() {
        let r = rbac(&[
            (
                "clusterroles/view",
                serde_json::json!({"rules": [{"verbs": ["get", "list"], "apiGroups": [""], "resources": ["pods"]}]}),
            ),
            (
                "rolebindings/dev/alice-view",
                serde_json::json!({"roleRef": {"kind": "ClusterRole", "name": "view"}, "subjects": [{"kind": "User", "name": "alice"}]}),
            ),
            (
                "rolebindings/dev/robot",
                serde_json::json!({"roleRef": {"kind": "ClusterRole", "name": "view"}, "subjects": [{"kind": "ServiceAccount", "name": "robot"}]}),
            ),
            (
                "clusterrolebindings/broken",
                serde_json::json!({"roleRef": {"kind": "ClusterRole", "name": "gone"}, "subjects": [{"kind": "Group", "name": "devs"}]}),
            ),
        ]);
        let alice = user("alice", &["system:authenticated"]);
        assert_eq!(
            decide(&r, &alice, &request("list", "", "pods", "", "dev", "")),
            Decision::Allow(r#"RBAC: allowed by RoleBinding "alice-view/dev" of ClusterRole "view" to User "alice""#.into())
        );
        assert_eq!(
            decide(&r, &alice, &request("list", "", "pods", "", "prod", "")),
            Decision::NoOpinion(String::new())
        );
        assert_eq!(
            decide(&r, &alice, &request("delete", "", "pods", "", "dev", "p")),
            Decision::NoOpinion(String::new())
        );
        // A service account in the binding's namespace, named without one.
        let robot = user("system:serviceaccount:dev:robot", &[]);
        assert_eq!(
            decide(&r, &robot, &request("get", "", "pods", "", "dev", "p")),
            Decision::Allow(r#"RBAC: allowed by RoleBinding "robot/dev" of ClusterRole "view" to ServiceAccount "robot/dev""#.into())
        );
        let other = user("system:serviceaccount:prod:robot", &[]);
        assert!(!decide(&r, &other, &request("get", "", "pods", "", "dev", "p")).allowed());
        // A binding to a missing role is the reason when nothing allows.
        let dev = user("bob", &["devs"]);
        assert_eq!(
            decide(&r, &dev, &request("get", "", "pods", "", "dev", "p")),
            Decision::NoOpinion(
                r#"RBAC: clusterrole.rbac.authorization.k8s.io "gone" not found"#.into()
            )
        );
        let rules = r.rules_for(&alice, "dev");
        assert_eq!(rules.resource.len(), 1);
        assert!(!rules.incomplete);
        let broken = r.rules_for(&dev, "dev");
        assert!(!broken.incomplete);
        assert_eq!(
            broken.errors,
            [r#"clusterrole.rbac.authorization.k8s.io "gone" not found"#]
        );
        // Deleting the binding takes the access away.
        r.policy
            .write()
            .unwrap()
            .delete(&format!("{PREFIX}rolebindings/dev/alice-view"));
        assert!(!decide(&r, &alice, &request("list", "", "pods", "", "dev", "")).allowed());
    }
}
