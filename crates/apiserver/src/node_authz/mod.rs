//! The Node authorizer, as upstream's (`plugin/pkg/auth/authorizer/node`):
//! a kubelet (`system:node:<name>` in `system:nodes`) may read the secrets,
//! config maps, claims, volumes and service account tokens of the pods
//! bound to it (the [`graph::Graph`]), its own Node and Lease and CSINode,
//! and list or watch only its own pods (`spec.nodeName` field selector);
//! the rest of what a kubelet needs is upstream's static `NodeRules()`.
//! It never denies: what it does not allow is no opinion, with upstream's
//! reason, so another authorizer may still allow it. NodeRestriction
//! admission narrows the writes it allows to the node's own objects.

pub mod graph;

use std::sync::{Arc, LazyLock};

use graph::{Graph, Kind};

use crate::UserInfo;
use crate::authz::{Attributes, Authorizer, Decision, Rules};
use crate::rbac::PolicyRule;
use crate::request::RequestInfo;

/// The node a user is, as upstream's `nodeidentifier`: `Some("")` for
/// `system:node:` (a node whose name is unknown), None for a non-node.
pub fn node_name(user: &UserInfo) -> Option<&str> {
    let name = user.name.strip_prefix("system:node:")?;
    user.groups
        .iter()
        .any(|g| g == "system:nodes")
        .then_some(name)
}

/// Upstream's `NodeRules()` under 1.33's default feature gates: what every
/// node may do beyond its graph.
fn node_rules() -> &'static [PolicyRule] {
    static RULES: LazyLock<Vec<PolicyRule>> = LazyLock::new(|| {
        let rule = |verbs: &[&str], group: &str, resources: &[&str]| {
            serde_json::from_value(serde_json::json!({
                "verbs": verbs, "apiGroups": [group], "resources": resources,
            }))
            .expect("a policy rule")
        };
        let read = ["get", "list", "watch"];
        vec![
            rule(&["create"], "authentication.k8s.io", &["tokenreviews"]),
            rule(
                &["create"],
                "authorization.k8s.io",
                &["subjectaccessreviews", "localsubjectaccessreviews"],
            ),
            rule(&read, "", &["services"]),
            rule(&["create", "get", "list", "watch"], "", &["nodes"]),
            rule(&["update", "patch"], "", &["nodes/status"]),
            rule(&["update", "patch"], "", &["nodes"]),
            rule(&["create", "update", "patch"], "", &["events"]),
            rule(&read, "", &["pods"]),
            rule(&["create", "delete"], "", &["pods"]),
            rule(&["update", "patch"], "", &["pods/status"]),
            rule(&["create"], "", &["pods/eviction"]),
            rule(&read, "", &["secrets", "configmaps"]),
            rule(
                &["get"],
                "",
                &["persistentvolumeclaims", "persistentvolumes"],
            ),
            rule(&["get"], "", &["endpoints"]),
            rule(
                &["create", "get", "list", "watch"],
                "certificates.k8s.io",
                &["certificatesigningrequests"],
            ),
            rule(
                &["get", "create", "update", "patch", "delete"],
                "coordination.k8s.io",
                &["leases"],
            ),
            rule(&["get"], "storage.k8s.io", &["volumeattachments"]),
            rule(&["create"], "", &["serviceaccounts/token"]),
            rule(
                &["get", "update", "patch"],
                "",
                &["persistentvolumeclaims/status"],
            ),
            rule(&["get", "watch", "list"], "storage.k8s.io", &["csidrivers"]),
            rule(
                &["get", "create", "update", "patch", "delete"],
                "storage.k8s.io",
                &["csinodes"],
            ),
            rule(&read, "node.k8s.io", &["runtimeclasses"]),
        ]
    });
    &RULES
}

pub struct NodeAuthorizer {
    pub graph: Arc<Graph>,
}

fn allow() -> Decision {
    Decision::Allow(String::new())
}

fn no(reason: impl Into<String>) -> Decision {
    Decision::NoOpinion(reason.into())
}

/// Whether a field selector pins `spec.nodeName` to `node` (upstream's
/// `AuthorizeWithSelectors`: any one `=` or `==` requirement).
fn selects_node(r: &RequestInfo, node: &str) -> bool {
    skiff_api::selector::FieldSelector::parse(&r.field_selector).is_ok_and(|s| {
        s.requirements
            .iter()
            .any(|(f, eq, v)| f == "spec.nodeName" && *eq && v == node)
    })
}

impl NodeAuthorizer {
    fn related(&self, node: &str, r: &RequestInfo, found: bool) -> Decision {
        if r.authorization_name().is_empty() {
            return no("No Object name found");
        }
        if found {
            allow()
        } else {
            no(format!(
                "no relationship found between node '{node}' and this object"
            ))
        }
    }

    fn graph_kind(&self, node: &str, r: &RequestInfo, kind: Kind) -> Decision {
        let name = r.authorization_name();
        let found = self.graph.related(node, kind, &r.namespace, name);
        self.related(node, r, found)
    }

    /// Upstream's `authorizeGet`.
    fn get(
        &self,
        node: &str,
        r: &RequestInfo,
        verb: &str,
        found: impl FnOnce() -> bool,
    ) -> Decision {
        if verb != "get" {
            return no("can only get individual resources of this type");
        }
        if !r.subresource.is_empty() {
            return no("cannot get subresource");
        }
        let found = !r.authorization_name().is_empty() && found();
        self.related(node, r, found)
    }

    fn read_namespaced(&self, node: &str, r: &RequestInfo, verb: &str, kind: Kind) -> Decision {
        if !matches!(verb, "get" | "list" | "watch") {
            return no("can only read resources of this type");
        }
        if !r.subresource.is_empty() {
            return no("cannot read subresource");
        }
        if r.namespace.is_empty() {
            return no("can only read namespaced object of this type");
        }
        self.graph_kind(node, r, kind)
    }

    fn node(&self, node: &str, r: &RequestInfo, verb: &str) -> Decision {
        match r.subresource.as_str() {
            "" => match verb {
                "create" | "update" | "patch" => allow(),
                "get" | "list" | "watch" => {
                    let name = r.authorization_name();
                    if name == node {
                        allow()
                    } else if name.is_empty() {
                        no(format!(
                            "node '{node}' cannot read all nodes, only its own Node object"
                        ))
                    } else {
                        no(format!(
                            "node '{node}' cannot read '{name}', only its own Node object"
                        ))
                    }
                }
                _ => no(""),
            },
            "status" if matches!(verb, "update" | "patch") => allow(),
            _ => no(""),
        }
    }

    fn pod(&self, node: &str, r: &RequestInfo, verb: &str) -> Decision {
        match (r.subresource.as_str(), verb) {
            ("", "get") => self.get(node, r, verb, || {
                self.graph
                    .pod_on(node, &r.namespace, r.authorization_name())
            }),
            ("", "list" | "watch") => {
                if selects_node(r, node) {
                    allow()
                } else if !r.authorization_name().is_empty() {
                    let found = self
                        .graph
                        .pod_on(node, &r.namespace, r.authorization_name());
                    self.related(node, r, found)
                } else {
                    no("can only list/watch pods with spec.nodeName field selector")
                }
            }
            ("", "create" | "delete") => allow(),
            ("status", "update" | "patch") => allow(),
            ("eviction", "create") => allow(),
            _ => no(""),
        }
    }

    fn lease(node: &str, r: &RequestInfo, verb: &str) -> Decision {
        if !matches!(verb, "get" | "create" | "update" | "patch" | "delete") {
            return no("can only get, create, update, patch, or delete a node lease");
        }
        if r.namespace != "kube-node-lease" {
            return no("can only access leases in the \"kube-node-lease\" system namespace");
        }
        if verb != "create" && r.authorization_name() != node {
            return no("can only access node lease with the same name as the requesting node");
        }
        allow()
    }

    fn csinode(node: &str, r: &RequestInfo, verb: &str) -> Decision {
        if !matches!(verb, "get" | "create" | "update" | "patch" | "delete") {
            return no("can only get, create, update, patch, or delete a CSINode");
        }
        if !r.subresource.is_empty() {
            return no("cannot authorize CSINode subresources");
        }
        if verb != "create" && r.authorization_name() != node {
            return no("can only access CSINode with the same name as the requesting node");
        }
        allow()
    }

    fn resource_slice(&self, node: &str, r: &RequestInfo, verb: &str) -> Decision {
        if !r.subresource.is_empty() {
            return no("cannot authorize ResourceSlice subresources");
        }
        match verb {
            "create" => allow(),
            // Slices are not in the graph while DynamicResourceAllocation is
            // off (1.33's default).
            "get" | "update" | "patch" | "delete" => self.related(node, r, false),
            "watch" | "list" | "deletecollection" => {
                if selects_node(r, node) {
                    allow()
                } else {
                    no(
                        "can only list/watch/deletecollection resourceslices with nodeName field selector",
                    )
                }
            }
            _ => no(
                "only the following verbs are allowed for a ResourceSlice: get, watch, list, create, update, patch, delete, deletecollection",
            ),
        }
    }
}

impl Authorizer for NodeAuthorizer {
    fn authorize(&self, a: &Attributes<'_>) -> Decision {
        let Some(node) = node_name(a.user) else {
            return no("");
        };
        if node.is_empty() {
            return no(format!("unknown node for user {:?}", a.user.name));
        }
        let verb = a.verb;
        if let Some(r) = a.resource {
            match (r.group.as_str(), r.resource.as_str()) {
                ("", "secrets") => return self.read_namespaced(node, r, verb, Kind::Secret),
                ("", "configmaps") => return self.read_namespaced(node, r, verb, Kind::ConfigMap),
                ("", "persistentvolumeclaims") => {
                    if r.subresource == "status" {
                        if !matches!(verb, "update" | "patch") {
                            return no("can only get/update/patch this type");
                        }
                        return self.graph_kind(node, r, Kind::Pvc);
                    }
                    return self.get(node, r, verb, || {
                        self.graph
                            .related(node, Kind::Pvc, &r.namespace, r.authorization_name())
                    });
                }
                ("", "persistentvolumes") => {
                    return self.get(node, r, verb, || {
                        self.graph.pv_related(node, r.authorization_name())
                    });
                }
                ("resource.k8s.io", "resourceclaims") => {
                    return self.get(node, r, verb, || {
                        self.graph.related(
                            node,
                            Kind::ResourceClaim,
                            &r.namespace,
                            r.authorization_name(),
                        )
                    });
                }
                ("storage.k8s.io", "volumeattachments") => {
                    return self.get(node, r, verb, || {
                        self.graph.attachment_on(node, r.authorization_name())
                    });
                }
                ("", "serviceaccounts") => {
                    if verb != "create" || r.authorization_name().is_empty() {
                        return no("can only create tokens for individual service accounts");
                    }
                    if r.subresource != "token" {
                        return no("can only create token subresource of serviceaccount");
                    }
                    return self.graph_kind(node, r, Kind::ServiceAccount);
                }
                ("coordination.k8s.io", "leases") => return Self::lease(node, r, verb),
                ("storage.k8s.io", "csinodes") => return Self::csinode(node, r, verb),
                ("resource.k8s.io", "resourceslices") => {
                    return self.resource_slice(node, r, verb);
                }
                ("", "nodes") => return self.node(node, r, verb),
                ("", "pods") => return self.pod(node, r, verb),
                _ => {}
            }
        }
        if node_rules().iter().any(|rule| rule.allows(a)) {
            allow()
        } else {
            no("")
        }
    }

    fn rules_for(&self, user: &UserInfo, _namespace: &str) -> Rules {
        match node_name(user) {
            Some(_) => Rules {
                incomplete: true,
                errors: vec!["node authorizer does not support user rule resolution".into()],
                ..Rules::default()
            },
            None => Rules::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store_reflector::Sink;

    fn node(name: &str) -> UserInfo {
        UserInfo {
            name: format!("system:node:{name}"),
            groups: vec!["system:nodes".into(), "system:authenticated".into()],
            uid: String::new(),
            ..Default::default()
        }
    }

    fn ask(
        authz: &NodeAuthorizer,
        user: &UserInfo,
        verb: &str,
        group_resource: &str,
        sub: &str,
        ns: &str,
        name: &str,
    ) -> Decision {
        let (group, resource) = group_resource
            .rsplit_once('/')
            .unwrap_or(("", group_resource));
        let info = RequestInfo {
            group: group.into(),
            resource: resource.into(),
            subresource: sub.into(),
            namespace: ns.into(),
            name: name.into(),
            verb: verb.into(),
            ..RequestInfo::default()
        };
        authz.authorize(&Attributes {
            user,
            resource: Some(&info),
            path: "",
            verb,
        })
    }

    #[test]
    fn decisions_and_reasons_as_upstream() {
        let graph = Arc::new(Graph::new("/p/".into(), "/pv/".into(), "/va/".into()));
        graph.replace("/p/", &[]);
        let authz = NodeAuthorizer { graph };
        let n1 = node("n1");
        let lease = |verb, ns, name| {
            ask(
                &authz,
                &n1,
                verb,
                "coordination.k8s.io/leases",
                "",
                ns,
                name,
            )
        };
        assert!(lease("update", "kube-node-lease", "n1").allowed());
        assert!(lease("create", "kube-node-lease", "other").allowed());
        assert_eq!(
            lease("update", "kube-node-lease", "n2"),
            no("can only access node lease with the same name as the requesting node")
        );
        assert_eq!(
            lease("get", "default", "n1"),
            no("can only access leases in the \"kube-node-lease\" system namespace")
        );
        assert_eq!(
            lease("list", "kube-node-lease", ""),
            no("can only get, create, update, patch, or delete a node lease")
        );
        assert_eq!(
            ask(&authz, &n1, "get", "storage.k8s.io/csinodes", "", "", "n2"),
            no("can only access CSINode with the same name as the requesting node")
        );
        assert_eq!(
            ask(&authz, &n1, "list", "nodes", "", "", ""),
            no("node 'n1' cannot read all nodes, only its own Node object")
        );
        assert_eq!(ask(&authz, &n1, "delete", "nodes", "", "", "n1"), no(""));
        assert!(ask(&authz, &n1, "patch", "nodes", "status", "", "n1").allowed());
        assert_eq!(
            ask(&authz, &n1, "get", "serviceaccounts", "", "ns", "default"),
            no("can only create tokens for individual service accounts")
        );
        assert_eq!(
            ask(&authz, &n1, "delete", "secrets", "", "ns", "s"),
            no("can only read resources of this type")
        );
        assert_eq!(
            ask(&authz, &n1, "get", "persistentvolumes", "", "", "pv"),
            no("no relationship found between node 'n1' and this object")
        );
        // Static rules.
        assert!(ask(&authz, &n1, "create", "events", "", "ns", "").allowed());
        assert!(ask(&authz, &n1, "list", "services", "", "", "").allowed());
        assert_eq!(
            ask(&authz, &n1, "list", "apps/deployments", "", "", ""),
            no("")
        );
        // Not a node: no opinion, no reason; a node without a name: its reason.
        let mut impostor = node("n1");
        impostor.groups.retain(|g| g != "system:nodes");
        assert_eq!(ask(&authz, &impostor, "get", "nodes", "", "", "n1"), no(""));
        assert_eq!(
            ask(&authz, &node(""), "get", "nodes", "", "", "n1"),
            no("unknown node for user \"system:node:\"")
        );
    }
}
