//! PodTopologySpread (upstream's `plugins/podtopologyspread`): a pod's
//! `DoNotSchedule` constraints refuse nodes whose domain would hold
//! `maxSkew` more matching pods than the emptiest eligible domain (fewer
//! than `minDomains` domains count the minimum as 0); its
//! `ScheduleAnyway` constraints — or, when it has none, the cluster's
//! default constraints (hostname skew 3, zone skew 5) over the selectors
//! of the Services and the controller that select it — score emptier
//! domains higher, each constraint weighted by ln(domains + 2).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Pod, TopologySpreadConstraint};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};

use super::helper::tolerates;
use crate::framework::listers::Listers;
use crate::framework::selector::{labels_of, matches};
use crate::framework::{
    ClusterEvent, Code, CycleState, FilterPlugin, MAX_NODE_SCORE, NodeInfo, PodInfo,
    PreFilterPlugin, PreFilterResult, PreScorePlugin, ScorePlugin, Status,
};

pub const NAME: &str = "PodTopologySpread";

pub const CONSTRAINTS_NOT_MATCH: &str = "node(s) didn't match pod topology spread constraints";
pub const NODE_LABEL_NOT_MATCH: &str =
    "node(s) didn't match pod topology spread constraints (missing required label)";

const HOSTNAME: &str = "kubernetes.io/hostname";
const ZONE: &str = "topology.kubernetes.io/zone";

/// How the cluster's default constraints are chosen (`defaultingType`).
#[derive(Clone, Debug, PartialEq)]
pub enum Defaulting {
    /// Upstream's built-in defaults (hostname 3, zone 5, ScheduleAnyway).
    System,
    /// The `defaultConstraints` of the plugin's arguments.
    List(Vec<TopologySpreadConstraint>),
}

pub struct PodTopologySpread {
    pub listers: Arc<Listers>,
    pub defaulting: Defaulting,
}

impl PodTopologySpread {
    pub fn from_args(
        listers: Arc<Listers>,
        args: Option<&serde_json::Value>,
    ) -> Result<Self, String> {
        let kind = args
            .and_then(|a| a.get("defaultingType"))
            .and_then(|t| t.as_str())
            .unwrap_or("System");
        let listed: Vec<TopologySpreadConstraint> =
            match args.and_then(|a| a.get("defaultConstraints")) {
                Some(v) => serde_json::from_value(v.clone())
                    .map_err(|e| format!("defaultConstraints: {e}"))?,
                None => Vec::new(),
            };
        let defaulting = match kind {
            "System" if listed.is_empty() => Defaulting::System,
            "System" => {
                return Err(
                    "defaultConstraints: Invalid value: when .defaultingType is \"System\"".into(),
                );
            }
            "List" => Defaulting::List(listed),
            other => {
                return Err(format!(
                    "defaultingType: Unsupported value: {other:?}: supported values: \"System\", \"List\""
                ));
            }
        };
        Ok(PodTopologySpread {
            listers,
            defaulting,
        })
    }
}

/// A constraint as the plugin uses it (upstream's `topologySpreadConstraint`).
#[derive(Clone, Debug)]
struct Constraint {
    max_skew: i64,
    key: String,
    selector: LabelSelector,
    min_domains: i64,
    honor_affinity: bool,
    honor_taints: bool,
}

/// The pod's constraints with `whenUnsatisfiable == when`, `matchLabelKeys`
/// merged into their selectors.
fn own_constraints(pod: &Pod, when: &str) -> Vec<Constraint> {
    let labels = labels_of(pod.metadata.labels.as_ref());
    pod.spec
        .as_ref()
        .and_then(|s| s.topology_spread_constraints.as_ref())
        .into_iter()
        .flatten()
        .filter(|c| c.when_unsatisfiable == when)
        .map(|c| {
            let mut selector = c.label_selector.clone().unwrap_or_default();
            let no_selector = c.label_selector.is_none();
            for key in c.match_label_keys.iter().flatten() {
                if let Some(v) = labels.get(key) {
                    selector
                        .match_expressions
                        .get_or_insert_with(Vec::new)
                        .push(LabelSelectorRequirement {
                            key: key.clone(),
                            operator: "In".into(),
                            values: Some(vec![v.clone()]),
                        });
                }
            }
            Constraint {
                max_skew: i64::from(c.max_skew),
                key: c.topology_key.clone(),
                // A nil selector selects nothing (as LabelSelectorAsSelector).
                selector: if no_selector && c.match_label_keys.is_none() {
                    nothing()
                } else {
                    selector
                },
                min_domains: i64::from(c.min_domains.unwrap_or(1)),
                honor_affinity: c.node_affinity_policy.as_deref() != Some("Ignore"),
                honor_taints: c.node_taints_policy.as_deref() == Some("Honor"),
            }
        })
        .collect()
}

/// A selector that selects nothing.
fn nothing() -> LabelSelector {
    LabelSelector {
        match_expressions: Some(vec![LabelSelectorRequirement {
            key: "\u{0}".into(),
            operator: "In".into(),
            values: Some(Vec::new()),
        }]),
        match_labels: None,
    }
}

impl PodTopologySpread {
    /// Upstream's `helper.DefaultSelector`: the selectors of the Services
    /// selecting the pod and of its controlling RC, ReplicaSet or
    /// StatefulSet, merged; None when empty.
    fn default_selector(&self, pod: &Pod) -> Option<LabelSelector> {
        let ns = pod.metadata.namespace.as_deref().unwrap_or("");
        let labels = labels_of(pod.metadata.labels.as_ref());
        let mut set: BTreeMap<String, String> = BTreeMap::new();
        let mut expressions: Vec<LabelSelectorRequirement> = Vec::new();
        let read = |m: &std::sync::RwLock<
            HashMap<String, crate::framework::listers::Selecting>,
        >| { m.read().unwrap_or_else(|e| e.into_inner()).clone() };
        for svc in read(&self.listers.services).values() {
            if svc.namespace == ns
                && svc.selector.match_labels.is_some()
                && matches(Some(&svc.selector), labels)
            {
                set.extend(svc.selector.match_labels.clone().unwrap_or_default());
            }
        }
        if let Some(owner) = pod
            .metadata
            .owner_references
            .iter()
            .flatten()
            .find(|o| o.controller == Some(true))
        {
            let key = format!("{ns}/{}", owner.name);
            let group = owner.api_version.split('/').next().unwrap_or("");
            let lister = match (owner.kind.as_str(), owner.api_version.as_str()) {
                ("ReplicationController", "v1") => Some(&self.listers.replication_controllers),
                ("ReplicaSet", _) if group == "apps" => Some(&self.listers.replica_sets),
                ("StatefulSet", _) if group == "apps" => Some(&self.listers.stateful_sets),
                _ => None,
            };
            if let Some(sel) = lister.and_then(|l| read(l).get(&key).map(|s| s.selector.clone())) {
                set.extend(sel.match_labels.unwrap_or_default());
                expressions.extend(sel.match_expressions.unwrap_or_default());
            }
        }
        if set.is_empty() && expressions.is_empty() {
            return None;
        }
        Some(LabelSelector {
            match_labels: (!set.is_empty()).then_some(set),
            match_expressions: (!expressions.is_empty()).then_some(expressions),
        })
    }

    /// The scoring constraints: the pod's ScheduleAnyway ones, else the
    /// defaults; and whether they are the system's defaults.
    fn scoring_constraints(&self, pod: &Pod) -> (Vec<Constraint>, bool) {
        let has_own = pod
            .spec
            .as_ref()
            .and_then(|s| s.topology_spread_constraints.as_ref())
            .is_some_and(|c| !c.is_empty());
        if has_own {
            return (own_constraints(pod, "ScheduleAnyway"), false);
        }
        let Some(selector) = self.default_selector(pod) else {
            return (Vec::new(), self.defaulting == Defaulting::System);
        };
        let make = |key: &str, skew: i64| Constraint {
            max_skew: skew,
            key: key.into(),
            selector: selector.clone(),
            min_domains: 1,
            honor_affinity: true,
            honor_taints: false,
        };
        match &self.defaulting {
            Defaulting::System => (vec![make(HOSTNAME, 3), make(ZONE, 5)], true),
            Defaulting::List(list) => (
                list.iter()
                    .filter(|c| c.when_unsatisfiable == "ScheduleAnyway")
                    .map(|c| make(&c.topology_key, i64::from(c.max_skew)))
                    .collect(),
                false,
            ),
        }
    }
}

/// Whether the node counts for a constraint (its inclusion policies).
fn includes(c: &Constraint, pod: &PodInfo, node: &NodeInfo) -> bool {
    if c.honor_affinity && !super::node_affinity::filter(pod.spec(), &node.node).is_success() {
        return false;
    }
    if c.honor_taints {
        let tolerations = pod.spec().tolerations.as_deref().unwrap_or(&[]);
        let untolerated = node
            .node
            .spec
            .as_ref()
            .and_then(|s| s.taints.as_deref())
            .unwrap_or(&[])
            .iter()
            .any(|t| {
                matches!(t.effect.as_str(), "NoSchedule" | "NoExecute")
                    && !tolerations.iter().any(|tol| tolerates(tol, t))
            });
        if untolerated {
            return false;
        }
    }
    true
}

/// Pods on the node in `namespace`, not terminating, that `selector` selects.
fn count_matching(node: &NodeInfo, selector: &LabelSelector, namespace: &str) -> i64 {
    node.pods
        .iter()
        .filter(|p| {
            p.namespace() == namespace
                && p.pod.metadata.deletion_timestamp.is_none()
                && matches(Some(selector), labels_of(p.pod.metadata.labels.as_ref()))
        })
        .count() as i64
}

fn has_all_keys(node: &NodeInfo, constraints: &[Constraint]) -> bool {
    let labels = labels_of(node.node.metadata.labels.as_ref());
    constraints.iter().all(|c| labels.contains_key(&c.key))
}

/// PreFilter's counts (upstream's `preFilterState`).
struct FilterState {
    constraints: Vec<Constraint>,
    /// Per constraint: matching pods per domain.
    counts: Vec<HashMap<String, i64>>,
    /// Per constraint: the smallest count (0 below `minDomains` domains).
    min: Vec<i64>,
    /// Per constraint: whether it selects the incoming pod itself.
    self_match: Vec<i64>,
}

struct ScoreState {
    constraints: Vec<Constraint>,
    ignored: HashSet<String>,
    counts: Vec<HashMap<String, i64>>,
    weights: Vec<f64>,
}

const STATE: &str = "PreFilterPodTopologySpread";
const SCORE_STATE: &str = "PreScorePodTopologySpread";

plugin!(
    PodTopologySpread,
    NAME,
    [pre_filter, filter, pre_score, score],
    [
        ClusterEvent::ASSIGNED_POD_ADD,
        ClusterEvent::ASSIGNED_POD_UPDATE,
        ClusterEvent::ASSIGNED_POD_DELETE,
        ClusterEvent::NODE_ADD,
        ClusterEvent::NODE_UPDATE
    ]
);

impl PreFilterPlugin for PodTopologySpread {
    fn pre_filter(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        nodes: &[Arc<NodeInfo>],
    ) -> (Option<PreFilterResult>, Status) {
        let constraints = own_constraints(&pod.pod, "DoNotSchedule");
        if constraints.is_empty() {
            return (None, Status::skip());
        }
        // Without a node selector, required node affinity or a taint
        // policy, every node with the keys counts.
        let spec = pod.spec();
        let plain = constraints.iter().all(|c| !c.honor_taints)
            && spec.node_selector.as_ref().is_none_or(|s| s.is_empty())
            && spec
                .affinity
                .as_ref()
                .and_then(|a| a.node_affinity.as_ref())
                .and_then(|n| {
                    n.required_during_scheduling_ignored_during_execution
                        .as_ref()
                })
                .is_none();
        // Domains borrowed from the nodes' labels while counting.
        let mut borrowed: Vec<rustc_hash::FxHashMap<&str, i64>> =
            vec![Default::default(); constraints.len()];
        for node in nodes {
            let labels = labels_of(node.node.metadata.labels.as_ref());
            if !constraints.iter().all(|c| labels.contains_key(&c.key)) {
                continue;
            }
            for (i, c) in constraints.iter().enumerate() {
                if !plain && !includes(c, pod, node) {
                    continue;
                }
                let n = if node.pods.is_empty() {
                    0
                } else {
                    count_matching(node, &c.selector, pod.namespace())
                };
                *borrowed[i].entry(labels[&c.key].as_str()).or_default() += n;
            }
        }
        let counts: Vec<HashMap<String, i64>> = borrowed
            .into_iter()
            .map(|m| m.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
            .collect();
        let min = constraints
            .iter()
            .zip(&counts)
            .map(|(c, counts)| {
                if (counts.len() as i64) < c.min_domains {
                    0
                } else {
                    counts
                        .values()
                        .copied()
                        .min()
                        .unwrap_or(i64::from(i32::MAX))
                }
            })
            .collect();
        let pod_labels = labels_of(pod.pod.metadata.labels.as_ref());
        let self_match = constraints
            .iter()
            .map(|c| i64::from(matches(Some(&c.selector), pod_labels)))
            .collect();
        state.write(
            STATE,
            FilterState {
                constraints,
                counts,
                min,
                self_match,
            },
        );
        (None, Status::success())
    }
}

impl FilterPlugin for PodTopologySpread {
    fn filter(&self, state: &CycleState, _pod: &PodInfo, node: &NodeInfo) -> Status {
        let Some(s) = state.read::<FilterState>(STATE) else {
            return Status::error("reading PreFilterPodTopologySpread from cycle state");
        };
        let labels = labels_of(node.node.metadata.labels.as_ref());
        for (i, (c, counts)) in s.constraints.iter().zip(&s.counts).enumerate() {
            let Some(value) = labels.get(&c.key) else {
                return Status::with_reason(
                    Code::UnschedulableAndUnresolvable,
                    NODE_LABEL_NOT_MATCH,
                );
            };
            let skew = counts.get(value).copied().unwrap_or(0) + s.self_match[i] - s.min[i];
            if skew > c.max_skew {
                return Status::with_reason(Code::Unschedulable, CONSTRAINTS_NOT_MATCH);
            }
        }
        Status::success()
    }
}

impl PreScorePlugin for PodTopologySpread {
    fn pre_score(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        feasible: &[Arc<NodeInfo>],
        all: &[Arc<NodeInfo>],
    ) -> Status {
        let (constraints, system_defaulted) = self.scoring_constraints(&pod.pod);
        if constraints.is_empty() {
            return Status::skip();
        }
        let has_own = pod
            .spec()
            .topology_spread_constraints
            .as_ref()
            .is_some_and(|c| !c.is_empty());
        let require_all = has_own || !system_defaulted;
        let mut ignored = HashSet::new();
        let mut counts: Vec<HashMap<String, i64>> = vec![HashMap::new(); constraints.len()];
        for node in feasible {
            if require_all && !has_all_keys(node, &constraints) {
                ignored.insert(node.name.clone());
                continue;
            }
            let labels = labels_of(node.node.metadata.labels.as_ref());
            for (i, c) in constraints.iter().enumerate() {
                if c.key == HOSTNAME {
                    continue;
                }
                if let Some(v) = labels.get(&c.key) {
                    counts[i].entry(v.clone()).or_insert(0);
                }
            }
        }
        let weights: Vec<f64> = constraints
            .iter()
            .zip(&counts)
            .map(|(c, values)| {
                let size = if c.key == HOSTNAME {
                    feasible.len() - ignored.len()
                } else {
                    values.len()
                };
                ((size + 2) as f64).ln()
            })
            .collect();
        let mut s = ScoreState {
            constraints,
            ignored,
            counts,
            weights,
        };
        Self::count_all(&mut s, pod, all, require_all);
        state.write(SCORE_STATE, s);
        Status::success()
    }
}

impl PodTopologySpread {
    /// Counts matching pods over every node in the domains of feasible
    /// nodes (upstream's `processAllNode`).
    fn count_all(s: &mut ScoreState, pod: &PodInfo, all: &[Arc<NodeInfo>], require_all: bool) {
        for node in all {
            if require_all && !has_all_keys(node, &s.constraints) {
                continue;
            }
            let labels = labels_of(node.node.metadata.labels.as_ref());
            for (i, c) in s.constraints.iter().enumerate() {
                if c.key == HOSTNAME || !includes(c, pod, node) {
                    continue;
                }
                let Some(v) = labels.get(&c.key) else {
                    continue;
                };
                if let Some(slot) = s.counts[i].get_mut(v) {
                    *slot += count_matching(node, &c.selector, pod.namespace());
                }
            }
        }
    }
}

impl ScorePlugin for PodTopologySpread {
    fn score(&self, state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Result<i64, Status> {
        let Some(s) = state.read::<ScoreState>(SCORE_STATE) else {
            return Err(Status::error(
                "reading PreScorePodTopologySpread from cycle state",
            ));
        };
        if s.ignored.contains(&node.name) {
            return Ok(0);
        }
        let labels = labels_of(node.node.metadata.labels.as_ref());
        let mut score = 0f64;
        for (i, c) in s.constraints.iter().enumerate() {
            let Some(v) = labels.get(&c.key) else {
                continue;
            };
            let cnt = if c.key == HOSTNAME {
                count_matching(node, &c.selector, pod.namespace())
            } else {
                s.counts[i].get(v).copied().unwrap_or(0)
            };
            score += cnt as f64 * s.weights[i] + (c.max_skew - 1) as f64;
        }
        Ok(score.round() as i64)
    }

    fn normalize_score(
        &self,
        state: &CycleState,
        _: &PodInfo,
        nodes: &[Arc<NodeInfo>],
        scores: &mut [i64],
    ) -> Status {
        let Some(s) = state.read::<ScoreState>(SCORE_STATE) else {
            return Status::error("reading PreScorePodTopologySpread from cycle state");
        };
        let (mut min, mut max) = (i64::MAX, 0i64);
        for (node, score) in nodes.iter().zip(scores.iter()) {
            if s.ignored.contains(&node.name) {
                continue;
            }
            min = min.min(*score);
            max = max.max(*score);
        }
        for (node, score) in nodes.iter().zip(scores.iter_mut()) {
            if s.ignored.contains(&node.name) {
                *score = 0;
            } else if max == 0 {
                *score = MAX_NODE_SCORE;
            } else {
                *score = MAX_NODE_SCORE * (max + min - *score) / max;
            }
        }
        Status::success()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::testing::{node, pod};
    use serde_json::json;

    fn plugin() -> PodTopologySpread {
        PodTopologySpread::from_args(Arc::default(), None).unwrap()
    }

    fn foo(name: &str) -> Arc<PodInfo> {
        pod(name, json!({"foo": ""}), json!({}))
    }

    /// zone1: node-a (2 matching pods), node-b (1); zone2: node-x (0), node-y (2).
    fn cluster() -> Vec<Arc<NodeInfo>> {
        let l = |zone: &str, name: &str| json!({"zone": zone, "kubernetes.io/hostname": name});
        vec![
            node("node-a", l("zone1", "node-a"), &[foo("a1"), foo("a2")]),
            node("node-b", l("zone1", "node-b"), &[foo("b1")]),
            node("node-x", l("zone2", "node-x"), &[]),
            node("node-y", l("zone2", "node-y"), &[foo("y1"), foo("y2")]),
        ]
    }

    fn constraint(key: &str, when: &str) -> serde_json::Value {
        json!({"maxSkew": 1, "topologyKey": key, "whenUnsatisfiable": when,
               "labelSelector": {"matchExpressions": [{"key": "foo", "operator": "Exists"}]}})
    }

    #[test]
    fn skew_beyond_max_skew_is_refused() {
        let p = plugin();
        let nodes = cluster();
        let incoming = pod(
            "p",
            json!({"foo": ""}),
            json!({"topologySpreadConstraints": [constraint("zone", "DoNotSchedule")]}),
        );
        let mut state = CycleState::default();
        assert!(p.pre_filter(&mut state, &incoming, &nodes).1.is_success());
        let got: Vec<Status> = nodes
            .iter()
            .map(|n| p.filter(&state, &incoming, n))
            .collect();
        // zone1: 3 + 1 - 2 = 2 > 1; zone2: 2 + 1 - 2 = 1.
        assert_eq!(got[0].code, Code::Unschedulable);
        assert_eq!(got[0].message(), CONSTRAINTS_NOT_MATCH);
        assert!(!got[1].is_success());
        assert!(got[2].is_success() && got[3].is_success());
        // By hostname: min 0 (node-x), only node-x takes it.
        let incoming = pod(
            "p",
            json!({"foo": ""}),
            json!({"topologySpreadConstraints": [constraint("kubernetes.io/hostname", "DoNotSchedule")]}),
        );
        let mut state = CycleState::default();
        p.pre_filter(&mut state, &incoming, &nodes);
        let ok: Vec<bool> = nodes
            .iter()
            .map(|n| p.filter(&state, &incoming, n).is_success())
            .collect();
        assert_eq!(ok, [false, false, true, false]);
        // A node without the key.
        let bare = node("bare", json!({}), &[]);
        let s = p.filter(&state, &incoming, &bare);
        assert_eq!(s.code, Code::UnschedulableAndUnresolvable);
        assert_eq!(s.message(), NODE_LABEL_NOT_MATCH);
        // minDomains above the number of domains: the minimum counts as 0.
        let mut c = constraint("zone", "DoNotSchedule");
        c["minDomains"] = json!(3);
        c["maxSkew"] = json!(2);
        let incoming = pod(
            "p",
            json!({"foo": ""}),
            json!({"topologySpreadConstraints": [c]}),
        );
        let mut state = CycleState::default();
        p.pre_filter(&mut state, &incoming, &nodes);
        let ok: Vec<bool> = nodes
            .iter()
            .map(|n| p.filter(&state, &incoming, n).is_success())
            .collect();
        assert_eq!(
            ok,
            [false, false, false, false],
            "3 + 1 - 0 > 2 and 2 + 1 - 0 > 2"
        );
    }

    #[test]
    fn scores_favour_emptier_domains_as_upstream() {
        let p = plugin();
        let nodes = cluster();
        let incoming = pod(
            "p",
            json!({"foo": ""}),
            json!({"topologySpreadConstraints": [constraint("zone", "ScheduleAnyway")]}),
        );
        let mut state = CycleState::default();
        assert!(
            p.pre_score(&mut state, &incoming, &nodes, &nodes)
                .is_success()
        );
        let mut scores: Vec<i64> = nodes
            .iter()
            .map(|n| p.score(&state, &incoming, n).unwrap())
            .collect();
        // ln(2 + 2) = 1.386: zone1 3 pods → 4, zone2 2 pods → 3.
        assert_eq!(scores, [4, 4, 3, 3]);
        p.normalize_score(&state, &incoming, &nodes, &mut scores);
        assert_eq!(scores, [75, 75, 100, 100]);
    }

    #[test]
    fn without_constraints_the_defaults_follow_the_pods_services() {
        let listers = Arc::new(Listers::default());
        listers.services.write().unwrap().insert(
            "default/svc".into(),
            crate::framework::listers::Selecting {
                namespace: "default".into(),
                name: "svc".into(),
                selector: serde_json::from_value(json!({"matchLabels": {"foo": ""}})).unwrap(),
            },
        );
        let p = PodTopologySpread::from_args(listers, None).unwrap();
        let nodes = cluster();
        let incoming = pod("p", json!({"foo": ""}), json!({}));
        let mut state = CycleState::default();
        assert!(
            p.pre_score(&mut state, &incoming, &nodes, &nodes)
                .is_success()
        );
        let mut scores: Vec<i64> = nodes
            .iter()
            .map(|n| p.score(&state, &incoming, n).unwrap())
            .collect();
        p.normalize_score(&state, &incoming, &nodes, &mut scores);
        assert_eq!(
            scores.iter().position(|s| *s == 100),
            Some(2),
            "node-x, emptiest, best: {scores:?}"
        );
        // A pod no Service or controller selects: nothing to spread.
        let alone = pod("q", json!({"other": "x"}), json!({}));
        let mut state = CycleState::default();
        assert!(p.pre_score(&mut state, &alone, &nodes, &nodes).is_skip());
    }
}
