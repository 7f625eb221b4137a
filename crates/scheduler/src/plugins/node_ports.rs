//! NodePorts (upstream's `plugins/nodeports`): a pod's host ports must be
//! free on the node, `0.0.0.0` conflicting with every address.

use k8s_openapi::api::core::v1::PodSpec;

use crate::framework::{Code, Status};
use std::sync::Arc;

use crate::framework::{
    ClusterEvent, CycleState, FilterPlugin, NodeInfo, PodInfo, PreFilterPlugin, PreFilterResult,
};

pub use crate::framework::HostPort;

/// The host ports a pod's containers (and sidecars) declare, with
/// upstream's defaults (address `0.0.0.0`, protocol TCP).
pub fn wanted(pod: &PodSpec) -> Vec<HostPort> {
    let sidecars = pod
        .init_containers
        .iter()
        .flatten()
        .filter(|c| c.restart_policy.as_deref() == Some("Always"));
    pod.containers
        .iter()
        .chain(sidecars)
        .flat_map(|c| c.ports.iter().flatten())
        .filter(|p| p.host_port.is_some_and(|h| h > 0))
        .map(|p| HostPort {
            ip: p
                .host_ip
                .clone()
                .filter(|ip| !ip.is_empty())
                .unwrap_or_else(|| "0.0.0.0".into()),
            protocol: p
                .protocol
                .clone()
                .filter(|p| !p.is_empty())
                .unwrap_or_else(|| "TCP".into()),
            port: p.host_port.unwrap_or(0),
        })
        .collect()
}

/// Upstream's `HostPortInfo.CheckConflict`.
fn conflicts(want: &HostPort, used: &HostPort) -> bool {
    want.protocol == used.protocol
        && want.port == used.port
        && (want.ip == "0.0.0.0" || used.ip == "0.0.0.0" || want.ip == used.ip)
}

/// Refuses the node (Unschedulable) when a wanted port is in use there.
pub fn filter(wanted: &[HostPort], used: &[HostPort]) -> Status {
    if wanted.iter().any(|w| used.iter().any(|u| conflicts(w, u))) {
        return Status::new(
            Code::Unschedulable,
            vec!["node(s) didn't have free ports for the requested pod ports".into()],
        );
    }
    Status::success()
}

/// The plugin (upstream's name `NodePorts`).
pub struct NodePorts;

pub const NAME: &str = "NodePorts";

plugin!(
    NodePorts,
    NAME,
    [pre_filter, filter],
    [
        ClusterEvent::ASSIGNED_POD_DELETE,
        ClusterEvent::NODE_ADD,
        ClusterEvent::NODE_UPDATE
    ]
);

impl PreFilterPlugin for NodePorts {
    /// Skip when the pod wants no host port.
    fn pre_filter(
        &self,
        _: &mut CycleState,
        pod: &PodInfo,
        _: &[Arc<NodeInfo>],
    ) -> (Option<PreFilterResult>, Status) {
        if pod.host_ports.is_empty() {
            return (None, Status::skip());
        }
        (None, Status::success())
    }
}

impl FilterPlugin for NodePorts {
    fn filter(&self, _: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Status {
        filter(&pod.host_ports, &node.used_ports)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn port(ip: &str, protocol: &str, port: i32) -> HostPort {
        HostPort {
            ip: ip.into(),
            protocol: protocol.into(),
            port,
        }
    }

    #[test]
    fn conflicts_as_upstream() {
        let spec: PodSpec = serde_json::from_value(json!({"containers": [{"name": "c", "ports": [
            {"containerPort": 80, "hostPort": 8080},
            {"containerPort": 53, "hostPort": 53, "protocol": "UDP", "hostIP": "10.0.0.1"},
            {"containerPort": 9000}]}]}))
        .unwrap();
        let w = wanted(&spec);
        assert_eq!(
            w,
            [port("0.0.0.0", "TCP", 8080), port("10.0.0.1", "UDP", 53)]
        );
        assert!(filter(&w, &[]).is_success());
        // 0.0.0.0 wanted conflicts with any address; a specific address with
        // the same one or 0.0.0.0; protocols and ports must both match.
        assert!(!filter(&w, &[port("127.0.0.1", "TCP", 8080)]).is_success());
        assert!(!filter(&w, &[port("0.0.0.0", "UDP", 53)]).is_success());
        assert!(filter(&w, &[port("10.0.0.2", "UDP", 53)]).is_success());
        assert!(filter(&w, &[port("0.0.0.0", "UDP", 8080)]).is_success());
        assert_eq!(
            filter(&w, &[port("10.0.0.1", "UDP", 53)]).message(),
            "node(s) didn't have free ports for the requested pod ports"
        );
    }
}
