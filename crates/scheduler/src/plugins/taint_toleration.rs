//! TaintToleration (upstream's `plugins/tainttoleration`): a node whose
//! NoSchedule or NoExecute taint the pod does not tolerate is refused; nodes
//! with fewer untolerated PreferNoSchedule taints score higher.

use k8s_openapi::api::core::v1::{Node, PodSpec, Taint, Toleration};

use super::helper::{default_normalize_score, tolerates};
use crate::framework::{Code, Status};
use std::sync::Arc;

use crate::framework::{
    ClusterEvent, CycleState, FilterPlugin, NodeInfo, PodInfo, PreScorePlugin, ScorePlugin,
};

fn taints(node: &Node) -> &[Taint] {
    node.spec
        .as_ref()
        .and_then(|s| s.taints.as_deref())
        .unwrap_or(&[])
}

/// The first NoSchedule / NoExecute taint no toleration tolerates
/// (upstream's `FindMatchingUntoleratedTaint`), as UnschedulableAndUnresolvable.
pub fn filter(pod: &PodSpec, node: &Node) -> Status {
    let tolerations = pod.tolerations.as_deref().unwrap_or(&[]);
    let untolerated = taints(node).iter().find(|t| {
        matches!(t.effect.as_str(), "NoSchedule" | "NoExecute")
            && !tolerations.iter().any(|tol| tolerates(tol, t))
    });
    match untolerated {
        None => Status::success(),
        Some(t) => Status::new(
            Code::UnschedulableAndUnresolvable,
            vec![format!(
                "node(s) had untolerated taint {{{}: {}}}",
                t.key,
                t.value.as_deref().unwrap_or("")
            )],
        ),
    }
}

/// The raw score: how many PreferNoSchedule taints the pod's
/// PreferNoSchedule (or effect-less) tolerations leave untolerated.
pub fn score(pod: &PodSpec, node: &Node) -> i64 {
    let tolerations: Vec<&Toleration> = pod
        .tolerations
        .iter()
        .flatten()
        .filter(|t| matches!(t.effect.as_deref().unwrap_or(""), "" | "PreferNoSchedule"))
        .collect();
    taints(node)
        .iter()
        .filter(|t| {
            t.effect == "PreferNoSchedule" && !tolerations.iter().any(|tol| tolerates(tol, t))
        })
        .count() as i64
}

/// Fewer untolerated taints, higher score (reversed default normalization).
pub fn normalize_score(scores: &mut [i64]) {
    default_normalize_score(scores, true);
}

/// The plugin (upstream's name `TaintToleration`, score weight 3).
pub struct TaintToleration;

pub const NAME: &str = "TaintToleration";

plugin!(
    TaintToleration,
    NAME,
    [filter, pre_score, score],
    [ClusterEvent::NODE_ADD, ClusterEvent::NODE_UPDATE]
);

impl FilterPlugin for TaintToleration {
    fn filter(&self, _: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Status {
        filter(pod.spec(), &node.node)
    }
}

impl PreScorePlugin for TaintToleration {
    fn pre_score(
        &self,
        _: &mut CycleState,
        _: &PodInfo,
        _: &[Arc<NodeInfo>],
        _: &[Arc<NodeInfo>],
    ) -> Status {
        Status::success()
    }
}

impl ScorePlugin for TaintToleration {
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

    fn node(taints: serde_json::Value) -> Node {
        serde_json::from_value(json!({"metadata": {"name": "n"}, "spec": {"taints": taints}}))
            .unwrap()
    }

    fn pod(tolerations: serde_json::Value) -> PodSpec {
        serde_json::from_value(json!({"containers": [], "tolerations": tolerations})).unwrap()
    }

    #[test]
    fn filter_as_upstream() {
        let n = node(json!([{"key": "dedicated", "value": "user1", "effect": "NoSchedule"}]));
        assert!(
            filter(
                &pod(json!([{"key": "dedicated", "value": "user1", "effect": "NoSchedule"}])),
                &n
            )
            .is_success()
        );
        assert!(
            filter(
                &pod(json!([{"key": "dedicated", "operator": "Exists"}])),
                &n
            )
            .is_success()
        );
        assert!(filter(&pod(json!([{"operator": "Exists"}])), &n).is_success());
        let refused = filter(
            &pod(json!([{"key": "dedicated", "value": "user2", "effect": "NoSchedule"}])),
            &n,
        );
        assert_eq!(refused.code, Code::UnschedulableAndUnresolvable);
        assert_eq!(
            refused.message(),
            "node(s) had untolerated taint {dedicated: user1}"
        );
        // PreferNoSchedule never refuses; an empty value prints as such.
        let soft = node(
            json!([{"key": "a", "effect": "PreferNoSchedule"}, {"key": "b", "effect": "NoExecute"}]),
        );
        assert_eq!(
            filter(&pod(json!([])), &soft).message(),
            "node(s) had untolerated taint {b: }"
        );
    }

    #[test]
    fn scores_as_upstream() {
        // After upstream's taint_toleration_test: the node with fewer
        // intolerable PreferNoSchedule taints scores higher.
        let p = pod(
            json!([{"key": "foo", "operator": "Equal", "value": "bar", "effect": "PreferNoSchedule"}]),
        );
        let nodes = [
            node(json!([{"key": "foo", "value": "bar", "effect": "PreferNoSchedule"}])),
            node(json!([{"key": "foo", "value": "blah", "effect": "PreferNoSchedule"}])),
            node(
                json!([{"key": "foo", "value": "blah", "effect": "PreferNoSchedule"}, {"key": "cpu-type", "value": "arm64", "effect": "PreferNoSchedule"}]),
            ),
        ];
        let mut scores: Vec<i64> = nodes.iter().map(|n| score(&p, n)).collect();
        assert_eq!(scores, [0, 1, 2]);
        normalize_score(&mut scores);
        assert_eq!(scores, [100, 50, 0]);
        let mut none = vec![0, 0];
        normalize_score(&mut none);
        assert_eq!(none, [100, 100]);
    }
}
