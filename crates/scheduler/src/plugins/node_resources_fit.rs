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
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScoringStrategy {
    /// Upstream's default: the emptier the node, the better.
    LeastAllocated,
    MostAllocated,
}

impl ScoringStrategy {
    /// From NodeResourcesFitArgs (`scoringStrategy.type`), LeastAllocated
    /// by default.
    pub fn from_args(args: Option<&serde_json::Value>) -> Result<ScoringStrategy, String> {
        let kind = args
            .and_then(|a| a.pointer("/scoringStrategy/type"))
            .and_then(|t| t.as_str())
            .unwrap_or("LeastAllocated");
        match kind {
            "LeastAllocated" => Ok(ScoringStrategy::LeastAllocated),
            "MostAllocated" => Ok(ScoringStrategy::MostAllocated),
            other => Err(format!(
                "scoringStrategy.type: Unsupported value: {other:?}: supported values: \"LeastAllocated\", \"MostAllocated\""
            )),
        }
    }
}

/// The node's score for a pod whose requests (with the scoring defaults)
/// are `pod_non_zero`, over cpu and memory weighted 1 each (upstream's
/// default resources), against the node's `non_zero_requested`.
pub fn score(strategy: ScoringStrategy, pod_non_zero: &Resources, node: &NodeInfo) -> i64 {
    let resources = [
        (
            node.allocatable.milli_cpu,
            node.non_zero_requested.milli_cpu + pod_non_zero.milli_cpu,
        ),
        (
            node.allocatable.memory,
            node.non_zero_requested.memory + pod_non_zero.memory,
        ),
    ];
    let (mut total, mut weights) = (0i64, 0i64);
    for (alloc, req) in resources {
        if alloc == 0 {
            continue;
        }
        let s = match strategy {
            ScoringStrategy::LeastAllocated if req > alloc => 0,
            ScoringStrategy::LeastAllocated => (alloc - req) * MAX_NODE_SCORE / alloc,
            ScoringStrategy::MostAllocated => req.min(alloc) * MAX_NODE_SCORE / alloc,
        };
        total += s;
        weights += 1;
    }
    if weights == 0 { 0 } else { total / weights }
}

/// The plugin (upstream's name `NodeResourcesFit`, score weight 1).
pub struct NodeResourcesFit {
    pub strategy: ScoringStrategy,
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
        Ok(score(self.strategy, &pod.non_zero_requests, node))
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

    #[test]
    fn scores_as_upstream() {
        // upstream's least_allocated_test: node 4000m / 10000 with nothing
        // requested, pod 3000m / 5000 → cpu (4000-3000)*100/4000 = 25,
        // memory (10000-5000)*100/10000 = 50 → 37.
        let n = node(4000, 10000, 32, 0, 0, 0);
        assert_eq!(
            score(ScoringStrategy::LeastAllocated, &req(3000, 5000), &n),
            37
        );
        // Most allocated: 75 and 50 → 62.
        assert_eq!(
            score(ScoringStrategy::MostAllocated, &req(3000, 5000), &n),
            62
        );
        // Over capacity: 0 for that resource (least), capped at 100 (most).
        assert_eq!(
            score(ScoringStrategy::LeastAllocated, &req(5000, 5000), &n),
            25
        );
        assert_eq!(
            score(ScoringStrategy::MostAllocated, &req(5000, 5000), &n),
            75
        );
    }
}
