//! NodeUnschedulable (upstream's `plugins/nodeunschedulable`): cordoned
//! nodes take only pods that tolerate
//! `node.kubernetes.io/unschedulable:NoSchedule`.

use k8s_openapi::api::core::v1::{Node, PodSpec, Taint};

use super::helper::tolerates;
use crate::framework::{ClusterEvent, CycleState, FilterPlugin, NodeInfo, PodInfo};
use crate::framework::{Code, Status};

/// The taint a cordoned node behaves as having.
pub const UNSCHEDULABLE_TAINT: &str = "node.kubernetes.io/unschedulable";

pub fn filter(pod: &PodSpec, node: &Node) -> Status {
    let cordoned = node
        .spec
        .as_ref()
        .and_then(|s| s.unschedulable)
        .unwrap_or(false);
    if !cordoned {
        return Status::success();
    }
    let taint = Taint {
        key: UNSCHEDULABLE_TAINT.into(),
        effect: "NoSchedule".into(),
        ..Default::default()
    };
    if pod
        .tolerations
        .iter()
        .flatten()
        .any(|t| tolerates(t, &taint))
    {
        return Status::success();
    }
    Status::new(
        Code::UnschedulableAndUnresolvable,
        vec!["node(s) were unschedulable".into()],
    )
}

/// The plugin (upstream's name `NodeUnschedulable`).
pub struct NodeUnschedulable;

pub const NAME: &str = "NodeUnschedulable";

plugin!(
    NodeUnschedulable,
    NAME,
    [filter],
    [ClusterEvent::NODE_ADD, ClusterEvent::NODE_UPDATE]
);

impl FilterPlugin for NodeUnschedulable {
    fn filter(&self, _: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Status {
        filter(pod.spec(), &node.node)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn cordoned_nodes_take_tolerant_pods_only() {
        let cordoned: Node = serde_json::from_value(
            json!({"metadata": {"name": "n1"}, "spec": {"unschedulable": true}}),
        )
        .unwrap();
        let plain: PodSpec = serde_json::from_value(json!({"containers": []})).unwrap();
        assert_eq!(
            filter(&plain, &cordoned).message(),
            "node(s) were unschedulable"
        );
        let tolerant: PodSpec = serde_json::from_value(json!({"containers": [], "tolerations": [
            {"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"}]}))
        .unwrap();
        assert!(filter(&tolerant, &cordoned).is_success());
    }
}
