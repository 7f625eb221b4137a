//! NodeName (upstream's `plugins/nodename`): a pod naming a node fits only there.

use k8s_openapi::api::core::v1::{Node, PodSpec};

use crate::framework::{ClusterEvent, CycleState, FilterPlugin, NodeInfo, PodInfo};
use crate::framework::{Code, Status};

/// A pod naming another node does not fit.
pub fn filter(pod: &PodSpec, node: &Node) -> Status {
    match pod.node_name.as_deref() {
        Some(name) if !name.is_empty() && Some(name) != node.metadata.name.as_deref() => {
            Status::new(
                Code::UnschedulableAndUnresolvable,
                vec!["node(s) didn't match the requested node name".into()],
            )
        }
        _ => Status::success(),
    }
}

/// The plugin (upstream's name `NodeName`).
pub struct NodeName;

pub const NAME: &str = "NodeName";

plugin!(
    NodeName,
    NAME,
    [filter],
    [ClusterEvent::NODE_ADD, ClusterEvent::NODE_UPDATE]
);

impl FilterPlugin for NodeName {
    fn filter(&self, _: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Status {
        filter(pod.spec(), &node.node)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_the_named_node() {
        let node: Node = serde_json::from_value(json!({"metadata": {"name": "n1"}})).unwrap();
        let named: PodSpec =
            serde_json::from_value(json!({"containers": [], "nodeName": "n2"})).unwrap();
        assert_eq!(
            filter(&named, &node).message(),
            "node(s) didn't match the requested node name"
        );
        let here: PodSpec =
            serde_json::from_value(json!({"containers": [], "nodeName": "n1"})).unwrap();
        assert!(filter(&here, &node).is_success());
        let any: PodSpec = serde_json::from_value(json!({"containers": []})).unwrap();
        assert!(filter(&any, &node).is_success());
    }
}
