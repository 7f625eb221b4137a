//! NodeResourcesBalancedAllocation (upstream's
//! `plugins/noderesources/balanced_allocation.go`): favours nodes whose cpu
//! and memory would be equally used, by the spread of their requested
//! fractions; pods that request nothing are not scored by it (1.33).

use crate::framework::{MAX_NODE_SCORE, NodeInfo};
use crate::resources::Resources;
use std::sync::Arc;

use crate::framework::{ClusterEvent, CycleState, PodInfo, PreScorePlugin, ScorePlugin, Status};

/// None when the pod requests neither cpu nor memory (the plugin skips it);
/// else `(1 - std) * 100` over the requested fractions (real requests, no
/// scoring defaults).
pub fn score(pod: &Resources, node: &NodeInfo) -> Option<i64> {
    if pod.milli_cpu == 0 && pod.memory == 0 {
        return None;
    }
    let mut fractions = Vec::new();
    for (alloc, req) in [
        (
            node.allocatable.milli_cpu,
            node.requested.milli_cpu + pod.milli_cpu,
        ),
        (node.allocatable.memory, node.requested.memory + pod.memory),
    ] {
        if alloc != 0 {
            fractions.push((req as f64 / alloc as f64).min(1.0));
        }
    }
    let std = match fractions.len() {
        2 => (fractions[0] - fractions[1]).abs() / 2.0,
        n if n > 2 => {
            let mean = fractions.iter().sum::<f64>() / n as f64;
            (fractions.iter().map(|f| (f - mean).powi(2)).sum::<f64>() / n as f64).sqrt()
        }
        _ => 0.0,
    };
    Some(((1.0 - std) * MAX_NODE_SCORE as f64) as i64)
}

/// The plugin (upstream's name `NodeResourcesBalancedAllocation`, weight 1).
pub struct NodeResourcesBalancedAllocation;

pub const NAME: &str = "NodeResourcesBalancedAllocation";

plugin!(
    NodeResourcesBalancedAllocation,
    NAME,
    [pre_score, score],
    [
        ClusterEvent::ASSIGNED_POD_DELETE,
        ClusterEvent::NODE_ADD,
        ClusterEvent::NODE_UPDATE
    ]
);

impl PreScorePlugin for NodeResourcesBalancedAllocation {
    /// Skip for pods that request neither cpu nor memory (1.33).
    fn pre_score(
        &self,
        _: &mut CycleState,
        pod: &PodInfo,
        _: &[Arc<NodeInfo>],
        _: &[Arc<NodeInfo>],
    ) -> Status {
        if pod.requests.milli_cpu == 0 && pod.requests.memory == 0 {
            return Status::skip();
        }
        Status::success()
    }
}

impl ScorePlugin for NodeResourcesBalancedAllocation {
    fn score(&self, _: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Result<i64, Status> {
        Ok(score(&pod.requests, node).unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn balanced_as_upstream() {
        // upstream's balanced_allocation_test: node 4000m / 10000, pod
        // 3000m / 5000: fractions 0.75 and 0.5 → std 0.125 → 87.
        let node = NodeInfo {
            allocatable: Resources {
                milli_cpu: 4000,
                memory: 10000,
                ..Default::default()
            },
            allowed_pods: 32,
            ..Default::default()
        };
        let pod = Resources {
            milli_cpu: 3000,
            memory: 5000,
            ..Default::default()
        };
        assert_eq!(score(&pod, &node), Some(87));
        // Equal fractions: 100; beyond capacity counts as full.
        let even = Resources {
            milli_cpu: 2000,
            memory: 5000,
            ..Default::default()
        };
        assert_eq!(score(&even, &node), Some(100));
        // A pod that requests nothing is skipped.
        assert_eq!(score(&Resources::default(), &node), None);
    }
}
