//! NodeResourcesFit (upstream's `plugins/noderesources/fit.go`,
//! `least_allocated.go`, `most_allocated.go`): a node fits a pod when its
//! allocatable resources cover what its pods already request plus the
//! pod's requests; scores favour the least (by default) or most allocated
//! nodes, by cpu and memory with weight 1 each.

use crate::framework::{ClusterEvent, CycleState, FilterPlugin, PodInfo, ScorePlugin};
use crate::framework::{Code, MAX_NODE_SCORE, NodeInfo, Status};
use crate::resources::Resources;

/// Upstream's `fitsRequest`: every resource the node lacks, one reason
/// each (`Too many pods`, `Insufficient cpu`, ...), Unschedulable.
pub fn filter(pod: &Resources, node: &NodeInfo) -> Status {
    let mut reasons = Vec::new();
    if node.pods.len() as i64 + 1 > node.allowed_pods {
        reasons.push("Too many pods".to_string());
    }
    if !pod.is_zero() {
        let (alloc, used) = (&node.allocatable, &node.requested);
        if pod.milli_cpu > 0 && pod.milli_cpu > alloc.milli_cpu - used.milli_cpu {
            reasons.push("Insufficient cpu".into());
        }
        if pod.memory > 0 && pod.memory > alloc.memory - used.memory {
            reasons.push("Insufficient memory".into());
        }
        if pod.ephemeral_storage > 0
            && pod.ephemeral_storage > alloc.ephemeral_storage - used.ephemeral_storage
        {
            reasons.push("Insufficient ephemeral-storage".into());
        }
        for (name, want) in &pod.scalar {
            if *want == 0 {
                continue;
            }
            let have = alloc.scalar.get(name).copied().unwrap_or(0)
                - used.scalar.get(name).copied().unwrap_or(0);
            if *want > have {
                reasons.push(format!("Insufficient {name}"));
            }
        }
    }
    if reasons.is_empty() {
        Status::success()
    } else {
        Status::new(Code::Unschedulable, reasons)
    }
}

/// How requests are scored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ScoringStrategy {
    /// Upstream's default: the emptier the node, the better.
    LeastAllocated,
    MostAllocated,
    /// A broken-linear function of utilization: (utilization 0..=100,
    /// score 0..=10) points, increasing in utilization.
    RequestedToCapacityRatio(Vec<(i64, i64)>),
}

/// How requests are scored: the strategy and the resources with weights
/// (upstream's `scoringStrategy`; cpu and memory weighted 1 by default).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scoring {
    pub strategy: ScoringStrategy,
    pub resources: Vec<(String, i64)>,
}

impl Default for Scoring {
    fn default() -> Self {
        Scoring {
            strategy: ScoringStrategy::LeastAllocated,
            resources: vec![("cpu".into(), 1), ("memory".into(), 1)],
        }
    }
}

impl Scoring {
    /// From NodeResourcesFitArgs (`scoringStrategy`), with upstream's
    /// defaults and checks.
    pub fn from_args(args: Option<&serde_json::Value>) -> Result<Scoring, String> {
        let mut scoring = Scoring::default();
        let Some(st) = args.and_then(|a| a.get("scoringStrategy")) else {
            return Ok(scoring);
        };
        if let Some(list) = st.get("resources").and_then(|r| r.as_array()) {
            scoring.resources.clear();
            for (i, r) in list.iter().enumerate() {
                let name = r
                    .get("name")
                    .and_then(|n| n.as_str())
                    .unwrap_or("")
                    .to_string();
                let weight = r.get("weight").and_then(|w| w.as_i64()).unwrap_or(0);
                let weight = if weight == 0 { 1 } else { weight };
                if !(1..=100).contains(&weight) {
                    return Err(format!(
                        "scoringStrategy.resources[{i}].weight: Invalid value: {weight}: resource weight of {name} should be in range [1, 100]"
                    ));
                }
                scoring.resources.push((name, weight));
            }
        }
        let kind = st
            .get("type")
            .and_then(|t| t.as_str())
            .unwrap_or("LeastAllocated");
        scoring.strategy = match kind {
            "LeastAllocated" => ScoringStrategy::LeastAllocated,
            "MostAllocated" => ScoringStrategy::MostAllocated,
            "RequestedToCapacityRatio" => {
                let shape: Vec<(i64, i64)> = st
                    .pointer("/requestedToCapacityRatio/shape")
                    .and_then(|s| s.as_array())
                    .into_iter()
                    .flatten()
                    .map(|p| {
                        (
                            p.get("utilization").and_then(|u| u.as_i64()).unwrap_or(0),
                            p.get("score").and_then(|u| u.as_i64()).unwrap_or(0),
                        )
                    })
                    .collect();
                if shape.is_empty() {
                    return Err("scoringStrategy.requestedToCapacityRatio.shape: Required value: at least one point must be specified".into());
                }
                for (i, (u, sc)) in shape.iter().enumerate() {
                    if !(0..=100).contains(u) {
                        return Err(format!(
                            "scoringStrategy.requestedToCapacityRatio.shape[{i}].utilization: Invalid value: {u}: not in valid range [0, 100]"
                        ));
                    }
                    if !(0..=10).contains(sc) {
                        return Err(format!(
                            "scoringStrategy.requestedToCapacityRatio.shape[{i}].score: Invalid value: {sc}: not in valid range [0, 10]"
                        ));
                    }
                    if i > 0 && *u <= shape[i - 1].0 {
                        return Err(format!(
                            "scoringStrategy.requestedToCapacityRatio.shape[{i}].utilization: Invalid value: {u}: utilization values must be sorted in increasing order"
                        ));
                    }
                }
                ScoringStrategy::RequestedToCapacityRatio(shape)
            }
            other => {
                return Err(format!(
                    "scoringStrategy.type: Unsupported value: {other:?}: supported values: \"LeastAllocated\", \"MostAllocated\", \"RequestedToCapacityRatio\""
                ));
            }
        };
        Ok(scoring)
    }
}

/// Upstream's `buildBrokenLinearFunction` over points scaled to 0..=100.
fn broken_linear(shape: &[(i64, i64)], p: i64) -> i64 {
    for (i, (u, s)) in shape.iter().enumerate() {
        if p <= *u {
            if i == 0 {
                return *s;
            }
            let (pu, ps) = shape[i - 1];
            return ps + (s - ps) * (p - pu) / (u - pu);
        }
    }
    shape.last().map(|(_, s)| *s).unwrap_or(0)
}

/// The node's score for a pod: cpu and memory from the requests with the
/// scoring defaults (`pod_non_zero` against the node's
/// `non_zero_requested`), other resources from the real requests (scalar
/// ones only when the pod asks for them), weighted as configured.
pub fn score(scoring: &Scoring, pod_non_zero: &Resources, pod: &Resources, node: &NodeInfo) -> i64 {
    let (alloc, nz, real) = (&node.allocatable, &node.non_zero_requested, &node.requested);
    let (mut total, mut weights) = (0i64, 0i64);
    for (name, weight) in &scoring.resources {
        let (capacity, requested) = match name.as_str() {
            "cpu" => (alloc.milli_cpu, nz.milli_cpu + pod_non_zero.milli_cpu),
            "memory" => (alloc.memory, nz.memory + pod_non_zero.memory),
            "ephemeral-storage" => (
                alloc.ephemeral_storage,
                real.ephemeral_storage + pod.ephemeral_storage,
            ),
            other => {
                let want = pod.scalar.get(other).copied().unwrap_or(0);
                if want == 0 {
                    continue;
                }
                (
                    alloc.scalar.get(other).copied().unwrap_or(0),
                    real.scalar.get(other).copied().unwrap_or(0) + want,
                )
            }
        };
        if capacity == 0 {
            continue;
        }
        let s = match &scoring.strategy {
            ScoringStrategy::LeastAllocated if requested > capacity => 0,
            ScoringStrategy::LeastAllocated => (capacity - requested) * MAX_NODE_SCORE / capacity,
            ScoringStrategy::MostAllocated => requested.min(capacity) * MAX_NODE_SCORE / capacity,
            ScoringStrategy::RequestedToCapacityRatio(shape) => {
                let scaled: Vec<(i64, i64)> = shape
                    .iter()
                    .map(|(u, s)| (*u, s * MAX_NODE_SCORE / 10))
                    .collect();
                let utilization = if requested > capacity {
                    100
                } else {
                    requested * 100 / capacity
                };
                let s = broken_linear(&scaled, utilization);
                if s <= 0 {
                    continue; // only positive scores count
                }
                s
            }
        };
        total += s * weight;
        weights += weight;
    }
    if weights == 0 {
        return 0;
    }
    match scoring.strategy {
        ScoringStrategy::RequestedToCapacityRatio(_) => {
            (total as f64 / weights as f64).round() as i64
        }
        _ => total / weights,
    }
}

/// The plugin (upstream's name `NodeResourcesFit`, score weight 1).
pub struct NodeResourcesFit {
    pub scoring: Scoring,
}

pub const NAME: &str = "NodeResourcesFit";

plugin!(
    NodeResourcesFit,
    NAME,
    [filter, score],
    [
        ClusterEvent::ASSIGNED_POD_DELETE,
        ClusterEvent::ASSIGNED_POD_UPDATE,
        ClusterEvent::NODE_ADD,
        ClusterEvent::NODE_UPDATE
    ]
);

impl FilterPlugin for NodeResourcesFit {
    fn filter(&self, _: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Status {
        filter(&pod.requests, node)
    }
}

impl ScorePlugin for NodeResourcesFit {
    fn score(&self, _: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Result<i64, Status> {
        Ok(score(
            &self.scoring,
            &pod.non_zero_requests,
            &pod.requests,
            node,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn node(cpu: i64, mem: i64, pods: i64, used_cpu: i64, used_mem: i64, n: usize) -> NodeInfo {
        let used = Resources {
            milli_cpu: used_cpu,
            memory: used_mem,
            ..Default::default()
        };
        let filler = Arc::new(PodInfo::new(Arc::new(Default::default())));
        NodeInfo {
            name: "n".into(),
            allocatable: Resources {
                milli_cpu: cpu,
                memory: mem,
                ..Default::default()
            },
            allowed_pods: pods,
            pods: vec![filler; n],
            requested: used.clone(),
            non_zero_requested: used,
            ..Default::default()
        }
    }

    fn req(cpu: i64, mem: i64) -> Resources {
        Resources {
            milli_cpu: cpu,
            memory: mem,
            ..Default::default()
        }
    }

    #[test]
    fn filter_as_upstream() {
        // Cases after upstream's fit_test: enough, too little of one, of both, too many pods.
        assert!(filter(&req(1, 1), &node(10, 20, 32, 5, 5, 1)).is_success());
        assert_eq!(
            filter(&req(8, 1), &node(10, 20, 32, 5, 5, 1)).reasons,
            ["Insufficient cpu"]
        );
        assert_eq!(
            filter(&req(8, 19), &node(10, 20, 32, 5, 5, 1)).reasons,
            ["Insufficient cpu", "Insufficient memory"]
        );
        let full = filter(&req(0, 0), &node(10, 20, 1, 0, 0, 1));
        assert_eq!(full.code, Code::Unschedulable);
        assert_eq!(full.reasons, ["Too many pods"]);
        let mut gpu = req(1, 1);
        gpu.scalar.insert("example.com/gpu".into(), 2);
        assert_eq!(
            filter(&gpu, &node(10, 20, 32, 0, 0, 0)).message(),
            "Insufficient example.com/gpu"
        );
    }

    fn least() -> Scoring {
        Scoring::default()
    }

    fn most() -> Scoring {
        Scoring {
            strategy: ScoringStrategy::MostAllocated,
            ..Scoring::default()
        }
    }

    #[test]
    fn requested_to_capacity_ratio_as_upstream() {
        // upstream's requested_to_capacity_ratio_test: shape (0, 10), (100, 0)
        // (scaled to 100 → 0), node 4000m / 10000, pod 3000m / 5000 →
        // cpu utilization 75 → 25, memory 50 → 50 → (25 + 50) / 2 = 37.5 → 38.
        let args = serde_json::json!({"scoringStrategy": {"type": "RequestedToCapacityRatio",
            "requestedToCapacityRatio": {"shape": [{"utilization": 0, "score": 10}, {"utilization": 100, "score": 0}]}}});
        let s = Scoring::from_args(Some(&args)).unwrap();
        let n = node(4000, 10000, 32, 0, 0, 0);
        assert_eq!(score(&s, &req(3000, 5000), &req(3000, 5000), &n), 38);
        // Weights: memory 3, cpu 1 → (25 + 3 * 50) / 4 = 43.75 → 44.
        let args = serde_json::json!({"scoringStrategy": {"type": "RequestedToCapacityRatio",
            "resources": [{"name": "cpu", "weight": 1}, {"name": "memory", "weight": 3}],
            "requestedToCapacityRatio": {"shape": [{"utilization": 0, "score": 10}, {"utilization": 100, "score": 0}]}}});
        let s = Scoring::from_args(Some(&args)).unwrap();
        assert_eq!(score(&s, &req(3000, 5000), &req(3000, 5000), &n), 44);
        // Bad shapes are refused with upstream's field paths.
        let bad = serde_json::json!({"scoringStrategy": {"type": "RequestedToCapacityRatio",
            "requestedToCapacityRatio": {"shape": [{"utilization": 50, "score": 11}]}}});
        assert!(
            Scoring::from_args(Some(&bad))
                .unwrap_err()
                .contains("shape[0].score")
        );
        let bad = serde_json::json!({"scoringStrategy": {"type": "Bogus"}});
        assert!(Scoring::from_args(Some(&bad)).is_err());
    }

    #[test]
    fn scores_as_upstream() {
        // upstream's least_allocated_test: node 4000m / 10000 with nothing
        // requested, pod 3000m / 5000 → cpu (4000-3000)*100/4000 = 25,
        // memory (10000-5000)*100/10000 = 50 → 37.
        let n = node(4000, 10000, 32, 0, 0, 0);
        assert_eq!(score(&least(), &req(3000, 5000), &req(3000, 5000), &n), 37);
        // Most allocated: 75 and 50 → 62.
        assert_eq!(score(&most(), &req(3000, 5000), &req(3000, 5000), &n), 62);
        // Over capacity: 0 for that resource (least), capped at 100 (most).
        assert_eq!(score(&least(), &req(5000, 5000), &req(5000, 5000), &n), 25);
        assert_eq!(score(&most(), &req(5000, 5000), &req(5000, 5000), &n), 75);
    }
}
