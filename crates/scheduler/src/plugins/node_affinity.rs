//! NodeAffinity (upstream's `plugins/nodeaffinity` over
//! `component-helpers/scheduling/corev1/nodeaffinity`): a pod fits nodes
//! that carry all of its `nodeSelector` labels and match one of its
//! required node selector terms; preferred terms add their weights to the
//! score, normalized so the best node gets 100.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Node, NodeSelectorRequirement, NodeSelectorTerm, PodSpec};

use super::helper::default_normalize_score;
use crate::framework::{
    ClusterEvent, Code, CycleState, FilterPlugin, NodeInfo, PodInfo, PreFilterPlugin,
    PreFilterResult, PreScorePlugin, ScorePlugin, Status,
};

static NO_LABELS: BTreeMap<String, String> = BTreeMap::new();

fn labels(node: &Node) -> &BTreeMap<String, String> {
    node.metadata.labels.as_ref().unwrap_or(&NO_LABELS)
}

/// One requirement on a label (or a field) value, as `labels.Requirement`.
pub(crate) fn requirement_matches(r: &NodeSelectorRequirement, value: Option<&str>) -> bool {
    let values = r.values.as_deref().unwrap_or(&[]);
    let int = |s: &str| s.parse::<i64>().ok();
    match r.operator.as_str() {
        "In" => value.is_some_and(|v| values.iter().any(|x| x == v)),
        "NotIn" => value.is_none_or(|v| !values.iter().any(|x| x == v)),
        "Exists" => value.is_some(),
        "DoesNotExist" => value.is_none(),
        "Gt" | "Lt" => {
            let (Some(have), Some(bound)) =
                (value.and_then(int), values.first().and_then(|v| int(v)))
            else {
                return false;
            };
            if r.operator == "Gt" {
                have > bound
            } else {
                have < bound
            }
        }
        _ => false,
    }
}

/// Whether a term matches: all of its label expressions and all of its
/// field expressions (only `metadata.name`); an empty term matches nothing.
fn term_matches(term: &NodeSelectorTerm, node: &Node) -> bool {
    let exprs = term.match_expressions.as_deref().unwrap_or(&[]);
    let fields = term.match_fields.as_deref().unwrap_or(&[]);
    if exprs.is_empty() && fields.is_empty() {
        return false;
    }
    let labels = labels(node);
    exprs
        .iter()
        .all(|r| requirement_matches(r, labels.get(&r.key).map(String::as_str)))
        && fields.iter().all(|r| {
            r.key == "metadata.name" && requirement_matches(r, node.metadata.name.as_deref())
        })
}

/// The pod's required node selector, if any.
fn required(pod: &PodSpec) -> Option<&k8s_openapi::api::core::v1::NodeSelector> {
    pod.affinity
        .as_ref()
        .and_then(|a| a.node_affinity.as_ref())
        .and_then(|n| {
            n.required_during_scheduling_ignored_during_execution
                .as_ref()
        })
}

/// Upstream's `GetRequiredNodeAffinity(pod).Match(node)`.
pub fn filter(pod: &PodSpec, node: &Node) -> Status {
    let labels = labels(node);
    let selector_ok = pod
        .node_selector
        .iter()
        .flatten()
        .all(|(k, v)| labels.get(k) == Some(v));
    let affinity_ok =
        required(pod).is_none_or(|r| r.node_selector_terms.iter().any(|t| term_matches(t, node)));
    if selector_ok && affinity_ok {
        Status::success()
    } else {
        Status::new(
            Code::UnschedulableAndUnresolvable,
            vec!["node(s) didn't match Pod's node affinity/selector".into()],
        )
    }
}

/// The raw score: the weights of the preferred terms the node matches.
pub fn score(pod: &PodSpec, node: &Node) -> i64 {
    pod.affinity
        .as_ref()
        .and_then(|a| a.node_affinity.as_ref())
        .and_then(|n| {
            n.preferred_during_scheduling_ignored_during_execution
                .as_ref()
        })
        .into_iter()
        .flatten()
        .filter(|p| p.weight != 0 && term_matches(&p.preference, node))
        .map(|p| i64::from(p.weight))
        .sum()
}

/// The best node gets 100, the rest in proportion.
pub fn normalize_score(scores: &mut [i64]) {
    default_normalize_score(scores, false);
}

/// The plugin (upstream's name `NodeAffinity`, score weight 2).
pub struct NodeAffinity;

pub const NAME: &str = "NodeAffinity";

fn preferred(pod: &PodSpec) -> &[k8s_openapi::api::core::v1::PreferredSchedulingTerm] {
    pod.affinity
        .as_ref()
        .and_then(|a| a.node_affinity.as_ref())
        .and_then(|n| {
            n.preferred_during_scheduling_ignored_during_execution
                .as_deref()
        })
        .unwrap_or(&[])
}

plugin!(
    NodeAffinity,
    NAME,
    [pre_filter, filter, pre_score, score],
    [ClusterEvent::NODE_ADD, ClusterEvent::NODE_UPDATE]
);

impl PreFilterPlugin for NodeAffinity {
    /// Skip without a nodeSelector or required terms; the named nodes when
    /// every required term names nodes by `metadata.name In`.
    fn pre_filter(
        &self,
        _: &mut CycleState,
        pod: &PodInfo,
        _: &[Arc<NodeInfo>],
    ) -> (Option<PreFilterResult>, Status) {
        let spec = pod.spec();
        let no_selector = spec.node_selector.as_ref().is_none_or(|s| s.is_empty());
        let Some(required) = required(spec) else {
            return if no_selector {
                (None, Status::skip())
            } else {
                (None, Status::success())
            };
        };
        // The names each term allows through `metadata.name In`, if all do.
        let mut names: Option<BTreeSet<String>> = None;
        for term in &required.node_selector_terms {
            let mut term_names: Option<BTreeSet<String>> = None;
            for r in term.match_fields.iter().flatten() {
                if r.key == "metadata.name" && r.operator == "In" {
                    let set: BTreeSet<String> = r.values.iter().flatten().cloned().collect();
                    term_names = Some(match term_names {
                        None => set,
                        Some(prev) => prev.intersection(&set).cloned().collect(),
                    });
                }
            }
            let Some(term_names) = term_names else {
                return (None, Status::success());
            };
            names.get_or_insert_with(BTreeSet::new).extend(term_names);
        }
        match names {
            Some(n) if n.is_empty() => (
                None,
                Status::with_reason(
                    Code::UnschedulableAndUnresolvable,
                    "pod affinity terms conflict",
                ),
            ),
            Some(n) => (
                Some(PreFilterResult {
                    node_names: Some(n),
                }),
                Status::success(),
            ),
            None => (None, Status::success()),
        }
    }
}

impl FilterPlugin for NodeAffinity {
    fn filter(&self, _: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Status {
        filter(pod.spec(), &node.node)
    }
}

impl PreScorePlugin for NodeAffinity {
    /// Skip without preferred terms.
    fn pre_score(
        &self,
        _: &mut CycleState,
        pod: &PodInfo,
        _: &[Arc<NodeInfo>],
        _: &[Arc<NodeInfo>],
    ) -> Status {
        if preferred(pod.spec()).is_empty() {
            return Status::skip();
        }
        Status::success()
    }
}

impl ScorePlugin for NodeAffinity {
    fn score(&self, _: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Result<i64, Status> {
        Ok(score(pod.spec(), &node.node))
    }
    fn normalize_score(
        &self,
        _: &CycleState,
        _: &PodInfo,
        _: &[Arc<NodeInfo>],
        scores: &mut [i64],
    ) -> Status {
        normalize_score(scores);
        Status::success()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn node(name: &str, labels: serde_json::Value) -> Node {
        serde_json::from_value(json!({"metadata": {"name": name, "labels": labels}})).unwrap()
    }

    fn pod(v: serde_json::Value) -> PodSpec {
        let mut spec = json!({"containers": []});
        spec.as_object_mut()
            .unwrap()
            .extend(v.as_object().unwrap().clone());
        serde_json::from_value(spec).unwrap()
    }

    fn required(terms: serde_json::Value) -> PodSpec {
        pod(
            json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": terms}}}}),
        )
    }

    #[test]
    fn required_affinity_and_selector_as_upstream() {
        let n = node("n1", json!({"foo": "bar", "gpu": "4"}));
        assert!(filter(&pod(json!({"nodeSelector": {"foo": "bar"}})), &n).is_success());
        let refused = filter(&pod(json!({"nodeSelector": {"foo": "baz"}})), &n);
        assert_eq!(refused.code, Code::UnschedulableAndUnresolvable);
        assert_eq!(
            refused.message(),
            "node(s) didn't match Pod's node affinity/selector"
        );
        let t = |op: &str, values: serde_json::Value| {
            required(
                json!([{"matchExpressions": [{"key": "gpu", "operator": op, "values": values}]}]),
            )
        };
        assert!(filter(&t("In", json!(["4", "8"])), &n).is_success());
        assert!(!filter(&t("NotIn", json!(["4"])), &n).is_success());
        assert!(filter(&t("Gt", json!(["3"])), &n).is_success());
        assert!(!filter(&t("Lt", json!(["3"])), &n).is_success());
        assert!(filter(&t("Exists", json!(null)), &n).is_success());
        assert!(!filter(&t("DoesNotExist", json!(null)), &n).is_success());
        // Terms are ORed; an empty term matches nothing; fields name the node.
        assert!(filter(&required(json!([{}, {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n1"]}]}])), &n).is_success());
        assert!(!filter(&required(json!([{}])), &n).is_success());
        // NotIn matches a node without the label.
        let bare = node("n2", json!({}));
        assert!(filter(&t("NotIn", json!(["4"])), &bare).is_success());
    }

    #[test]
    fn preferred_terms_score_their_weights() {
        // After upstream's node_affinity_test: weights 2, 4, 5 over three nodes.
        let p = pod(
            json!({"affinity": {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
                {"weight": 2, "preference": {"matchExpressions": [{"key": "foo", "operator": "In", "values": ["bar"]}]}},
                {"weight": 4, "preference": {"matchExpressions": [{"key": "key", "operator": "In", "values": ["value"]}]}},
                {"weight": 5, "preference": {"matchExpressions": [
                    {"key": "foo", "operator": "In", "values": ["bar"]},
                    {"key": "key", "operator": "In", "values": ["value"]},
                    {"key": "az", "operator": "In", "values": ["az1"]}]}},
            ]}}}),
        );
        let nodes = [
            node("a", json!({"foo": "bar"})),
            node("b", json!({"foo": "bar", "key": "value", "az": "az1"})),
            node("c", json!({"key": "value"})),
        ];
        let mut scores: Vec<i64> = nodes.iter().map(|n| score(&p, n)).collect();
        assert_eq!(scores, [2, 11, 4]);
        normalize_score(&mut scores);
        assert_eq!(scores, [18, 100, 36]);
    }
}
