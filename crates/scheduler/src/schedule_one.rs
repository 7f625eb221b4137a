//! One pod's scheduling cycle (upstream's `schedule_one.go`
//! `schedulePod`): PreFilter, then Filter over the nodes from where the
//! last cycle stopped until enough feasible ones are found (upstream's
//! adaptive `percentageOfNodesToScore`), then PreScore and Score over
//! them, and the highest total wins, ties broken at random. What it finds
//! is pure computation on a snapshot; binding is the caller's.

use std::collections::HashMap;
use std::sync::Arc;

use rand::Rng;

use crate::cache::Snapshot;
use crate::framework::{
    Code, CycleState, Diagnosis, FitError, Framework, NodeInfo, PodInfo, Status,
};

/// Upstream's `minFeasibleNodesToFind`.
pub const MIN_FEASIBLE_NODES_TO_FIND: usize = 100;
/// Upstream's `minFeasibleNodesPercentageToFind`.
pub const MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND: i64 = 5;
/// Upstream's `ErrNoNodesAvailable`.
pub const NO_NODES_AVAILABLE: &str = "no nodes available to schedule pods";

/// Where the pod goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScheduleResult {
    pub node: String,
    /// Nodes the filters looked at.
    pub evaluated_nodes: usize,
    pub feasible_nodes: usize,
}

/// Why it goes nowhere.
#[derive(Clone, Debug)]
pub enum ScheduleError {
    /// No node fits: the `FailedScheduling` message and the plugins to wait on.
    Fit(Box<FitError>),
    /// There are no nodes at all.
    NoNodes,
    /// A plugin failed (not a verdict on the nodes).
    Error(Status),
}

impl std::fmt::Display for ScheduleError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ScheduleError::Fit(e) => e.fmt(f),
            ScheduleError::NoNodes => f.write_str(NO_NODES_AVAILABLE),
            ScheduleError::Error(s) => f.write_str(&s.message()),
        }
    }
}

/// Upstream's `numFeasibleNodesToFind`: every node below 100; else a
/// share of them falling from 50% by 1% per 125 nodes to at least 5%, and
/// never fewer than 100.
pub fn num_feasible_nodes_to_find(percentage: i32, num_all_nodes: usize) -> usize {
    if num_all_nodes < MIN_FEASIBLE_NODES_TO_FIND {
        return num_all_nodes;
    }
    let mut p = i64::from(percentage);
    if p == 0 {
        p = 50 - num_all_nodes as i64 / 125;
        if p < MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND {
            p = MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND;
        }
    }
    let n = (num_all_nodes as i64 * p / 100) as usize;
    n.max(MIN_FEASIBLE_NODES_TO_FIND)
}

/// The scheduling algorithm's state across cycles.
#[derive(Default)]
pub struct Algorithm {
    /// Where the next cycle starts filtering (upstream's `nextStartNodeIndex`).
    pub next_start_node_index: usize,
    /// The global `percentageOfNodesToScore` (0: adaptive).
    pub percentage_of_nodes_to_score: i32,
    /// Pods nominated to each node by preemption (upstream's nominator),
    /// set by the scheduler before each cycle.
    pub nominated: HashMap<String, Vec<Arc<PodInfo>>>,
}

/// Upstream's `RunFilterPluginsWithNominatedPods`: a node must fit the pod
/// both with the pods of equal or higher priority nominated to it and
/// without them.
fn filter_with_nominated(
    fwk: &Framework,
    state: &CycleState,
    pod: &PodInfo,
    node: &NodeInfo,
    nominated: &HashMap<String, Vec<Arc<PodInfo>>>,
) -> Status {
    let extra: Vec<&Arc<PodInfo>> = nominated
        .get(&node.name)
        .into_iter()
        .flatten()
        .filter(|p| p.key != pod.key && p.priority() >= pod.priority())
        .collect();
    if extra.is_empty() {
        return fwk.run_filter(state, pod, node);
    }
    let mut with = node.clone();
    for p in extra {
        with.add_pod(p.clone());
    }
    let s = fwk.run_filter(state, pod, &with);
    if !s.is_success() {
        return s;
    }
    fwk.run_filter(state, pod, node)
}

impl Algorithm {
    /// Upstream's `schedulePod`.
    pub fn schedule_pod(
        &mut self,
        fwk: &Framework,
        state: &mut CycleState,
        pod: &PodInfo,
        snapshot: &Snapshot,
    ) -> Result<ScheduleResult, ScheduleError> {
        if snapshot.nodes.is_empty() {
            return Err(ScheduleError::NoNodes);
        }
        let (feasible, diagnosis) = self.find_nodes_that_fit(fwk, state, pod, snapshot)?;
        if feasible.is_empty() {
            return Err(ScheduleError::Fit(Box::new(FitError {
                num_all_nodes: snapshot.nodes.len(),
                diagnosis,
            })));
        }
        let evaluated_nodes = feasible.len() + diagnosis.node_to_status.statuses.len();
        if feasible.len() == 1 {
            return Ok(ScheduleResult {
                node: feasible[0].name.clone(),
                evaluated_nodes,
                feasible_nodes: 1,
            });
        }
        let totals = prioritize_nodes(fwk, state, pod, &feasible, &snapshot.nodes)?;
        Ok(ScheduleResult {
            node: select_host(&feasible, &totals),
            evaluated_nodes,
            feasible_nodes: feasible.len(),
        })
    }

    /// Upstream's `findNodesThatFitPod` and `findNodesThatPassFilters`.
    fn find_nodes_that_fit(
        &mut self,
        fwk: &Framework,
        state: &mut CycleState,
        pod: &PodInfo,
        snapshot: &Snapshot,
    ) -> Result<(Vec<Arc<NodeInfo>>, Diagnosis), ScheduleError> {
        let mut diagnosis = Diagnosis::default();
        let all = &snapshot.nodes;
        let (narrowed, status) = fwk.run_pre_filter(state, pod, all);
        if !status.is_success() {
            if !status.is_rejected() {
                return Err(ScheduleError::Error(status));
            }
            diagnosis.pre_filter_msg = status.message();
            if !status.plugin.is_empty() {
                diagnosis.unschedulable_plugins.insert(status.plugin);
            }
            diagnosis.node_to_status.absent = status;
            return Ok((Vec::new(), diagnosis));
        }
        let narrowed_nodes: Vec<Arc<NodeInfo>>;
        let nodes: &[Arc<NodeInfo>] = match &narrowed {
            Some(names) => {
                narrowed_nodes = names
                    .iter()
                    .filter_map(|n| snapshot.get(n).cloned())
                    .collect();
                if let Some(absent) = Framework::absent_status(state) {
                    diagnosis.node_to_status.absent = absent;
                }
                &narrowed_nodes
            }
            None => all,
        };
        let pct = fwk
            .percentage_of_nodes_to_score
            .unwrap_or(self.percentage_of_nodes_to_score);
        let to_find = if !fwk.has_score_plugins() {
            1
        } else {
            num_feasible_nodes_to_find(pct, nodes.len())
        };
        // The node preemption nominated is tried first, alone.
        let nominated_node = pod
            .pod
            .status
            .as_ref()
            .and_then(|s| s.nominated_node_name.as_deref())
            .filter(|n| !n.is_empty())
            .and_then(|n| nodes.iter().find(|i| i.name == n));
        if let Some(node) = nominated_node {
            let s = filter_with_nominated(fwk, state, pod, node, &self.nominated);
            if s.is_success() {
                return Ok((vec![node.clone()], diagnosis));
            }
        }
        let mut feasible = Vec::with_capacity(to_find.min(nodes.len()));
        let statuses = &mut diagnosis.node_to_status;
        let len = nodes.len();
        for i in 0..len {
            let node = &nodes[(self.next_start_node_index + i) % len];
            let s = filter_with_nominated(fwk, state, pod, node, &self.nominated);
            if s.is_success() {
                feasible.push(node.clone());
                if feasible.len() >= to_find {
                    break;
                }
            } else if s.is_rejected() {
                if s.code == Code::Pending {
                    diagnosis.pending_plugins.insert(s.plugin);
                } else {
                    diagnosis.unschedulable_plugins.insert(s.plugin);
                }
                statuses.statuses.insert(node.name.clone(), s);
            } else {
                return Err(ScheduleError::Error(s));
            }
        }
        let processed = feasible.len() + statuses.statuses.len();
        self.next_start_node_index = (self.next_start_node_index + processed) % all.len();
        Ok((feasible, diagnosis))
    }
}

/// Upstream's `prioritizeNodes`: PreScore, Score (weighted, summed); every
/// node scores 1 when no plugin scores.
pub fn prioritize_nodes(
    fwk: &Framework,
    state: &mut CycleState,
    pod: &PodInfo,
    nodes: &[Arc<NodeInfo>],
    all: &[Arc<NodeInfo>],
) -> Result<Vec<i64>, ScheduleError> {
    if !fwk.has_score_plugins() {
        return Ok(vec![1; nodes.len()]);
    }
    let s = fwk.run_pre_score(state, pod, nodes, all);
    if !s.is_success() {
        return Err(ScheduleError::Error(s));
    }
    fwk.run_score(state, pod, nodes)
        .map_err(ScheduleError::Error)
}

/// Upstream's `selectHost`: the highest total, chosen uniformly at random
/// among ties (reservoir sampling).
pub fn select_host(nodes: &[Arc<NodeInfo>], totals: &[i64]) -> String {
    let mut rng = rand::rng();
    let mut best = 0usize;
    let mut ties = 0u32;
    for (i, &t) in totals.iter().enumerate() {
        if i == 0 || t > totals[best] {
            best = i;
            ties = 1;
        } else if t == totals[best] {
            ties += 1;
            if rng.random_range(0..ties) == 0 {
                best = i;
            }
        }
    }
    nodes[best].name.clone()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::Cache;
    use crate::framework::{FrameworkBuilder, Point};
    use crate::plugins::{self, Handle};
    use serde_json::json;

    fn framework() -> Framework {
        let mut b = FrameworkBuilder::default();
        for (name, weight) in plugins::DEFAULT_PLUGINS {
            if *name == plugins::default_binder::NAME {
                continue;
            }
            let p = plugins::new_in_tree(name, None, &Handle::default()).unwrap();
            b.enable_everywhere(p, *weight);
        }
        assert!(!b.enabled(Point::Filter).is_empty());
        b.build("default-scheduler", None)
    }

    fn node(
        name: &str,
        cpu: &str,
        taints: serde_json::Value,
    ) -> Arc<k8s_openapi::api::core::v1::Node> {
        Arc::new(
            serde_json::from_value(json!({
                "metadata": {"name": name},
                "spec": {"taints": taints},
                "status": {"allocatable": {"cpu": cpu, "memory": "8Gi", "pods": "110"}},
            }))
            .unwrap(),
        )
    }

    fn pod(cpu: &str) -> PodInfo {
        PodInfo::new(Arc::new(
            serde_json::from_value(json!({
                "metadata": {"name": "p", "namespace": "default"},
                "spec": {"containers": [{"name": "c", "resources": {"requests": {"cpu": cpu}}}]},
            }))
            .unwrap(),
        ))
    }

    #[test]
    fn nodes_to_find_as_upstream() {
        assert_eq!(num_feasible_nodes_to_find(0, 50), 50);
        assert_eq!(num_feasible_nodes_to_find(0, 100), 100);
        assert_eq!(num_feasible_nodes_to_find(0, 150), 100);
        assert_eq!(num_feasible_nodes_to_find(0, 1000), 420);
        assert_eq!(num_feasible_nodes_to_find(0, 5000), 500);
        assert_eq!(num_feasible_nodes_to_find(0, 6000), 300);
        assert_eq!(num_feasible_nodes_to_find(30, 1000), 300);
    }

    #[test]
    fn no_fit_gives_upstreams_message_and_the_emptiest_node_wins() {
        let fwk = framework();
        let mut cache = Cache::default();
        cache.add_node(node(
            "tainted",
            "8",
            json!([{"key": "k", "value": "v", "effect": "NoSchedule"}]),
        ));
        cache.add_node(node("small-1", "1", json!([])));
        cache.add_node(node("small-2", "1", json!([])));
        let mut snap = Snapshot::default();
        cache.update_snapshot(&mut snap);
        let mut alg = Algorithm::default();
        let err = alg
            .schedule_pod(&fwk, &mut CycleState::default(), &pod("2"), &snap)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "0/3 nodes are available: 1 node(s) had untolerated taint {k: v}, 2 Insufficient cpu."
        );
        let ScheduleError::Fit(fit) = err else {
            panic!()
        };
        assert_eq!(
            fit.diagnosis
                .unschedulable_plugins
                .iter()
                .copied()
                .collect::<Vec<_>>(),
            ["NodeResourcesFit", "TaintToleration"]
        );
        // A big enough node appears: the only feasible one is chosen;
        // with two, the least allocated.
        cache.add_node(node("big", "4", json!([])));
        cache.add_node(node("bigger", "16", json!([])));
        cache.update_snapshot(&mut snap);
        let r = alg
            .schedule_pod(&fwk, &mut CycleState::default(), &pod("2"), &snap)
            .unwrap();
        assert_eq!(r.node, "bigger");
        assert_eq!(r.feasible_nodes, 2);
        assert_eq!(r.evaluated_nodes, 5);
        // No nodes at all.
        let empty = Snapshot::default();
        let err = alg
            .schedule_pod(&fwk, &mut CycleState::default(), &pod("1"), &empty)
            .unwrap_err();
        assert_eq!(err.to_string(), "no nodes available to schedule pods");
    }

    #[test]
    fn a_pre_filter_rejection_is_the_whole_message() {
        let fwk = framework();
        let mut cache = Cache::default();
        cache.add_node(node("n1", "8", json!([])));
        let mut snap = Snapshot::default();
        cache.update_snapshot(&mut snap);
        let p = PodInfo::new(Arc::new(
            serde_json::from_value(json!({
                "metadata": {"name": "p", "namespace": "default"},
                "spec": {"containers": [], "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                    {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["a"]},
                                     {"key": "metadata.name", "operator": "In", "values": ["b"]}]}
                ]}}}},
            }))
            .unwrap(),
        ));
        let err = Algorithm::default()
            .schedule_pod(&fwk, &mut CycleState::default(), &p, &snap)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "0/1 nodes are available: pod affinity terms conflict."
        );
        // Names that exist narrow the search; others are reported absent.
        let p = PodInfo::new(Arc::new(
            serde_json::from_value(json!({
                "metadata": {"name": "p", "namespace": "default"},
                "spec": {"containers": [{"name": "c", "resources": {"requests": {"cpu": "100"}}}],
                         "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                    {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n1"]}]}
                ]}}}},
            }))
            .unwrap(),
        ));
        cache.add_node(node("n2", "8", json!([])));
        cache.update_snapshot(&mut snap);
        let err = Algorithm::default()
            .schedule_pod(&fwk, &mut CycleState::default(), &p, &snap)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "0/2 nodes are available: 1 Insufficient cpu, 1 node(s) didn't satisfy plugin(s) [NodeAffinity]."
        );
    }
}
