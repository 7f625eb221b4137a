//! What the scheduler knows of a node (upstream's `framework.NodeInfo`):
//! the Node, its allocatable resources, and the pods assigned or assumed
//! to it with the sums of their requests (as they are and with the scoring
//! defaults) and the host ports they hold.

use std::sync::Arc;

use k8s_openapi::api::core::v1::Node;

use super::types::{HostPort, PodInfo};
use crate::resources::Resources;

#[derive(Clone, Debug, Default)]
pub struct NodeInfo {
    pub name: String,
    /// The Node object (empty while only its pods are known: upstream's
    /// "imaginary" node, kept out of snapshots).
    pub node: Arc<Node>,
    /// The node's allocatable resources (`status.allocatable`).
    pub allocatable: Resources,
    /// How many pods the node takes (`status.allocatable.pods`).
    pub allowed_pods: i64,
    /// The pods assigned or assumed to it.
    pub pods: Vec<Arc<PodInfo>>,
    /// The sum of their requests.
    pub requested: Resources,
    /// The same with the scoring defaults for missing cpu / memory requests.
    pub non_zero_requested: Resources,
    /// The host ports their containers hold.
    pub used_ports: Vec<HostPort>,
    /// Those of its pods with pod (anti-)affinity terms.
    pub pods_with_affinity: Vec<Arc<PodInfo>>,
    /// Those of its pods with required pod anti-affinity terms.
    pub pods_with_required_anti_affinity: Vec<Arc<PodInfo>>,
    /// The images it holds, by every name (normalized), with their sizes.
    pub image_sizes: std::collections::HashMap<String, i64>,
}

impl NodeInfo {
    /// The node's information with no pods.
    pub fn new(node: Arc<Node>) -> NodeInfo {
        let mut info = NodeInfo::default();
        info.set_node(node);
        info
    }

    /// Takes the node's (new) object: its name and allocatable resources.
    pub fn set_node(&mut self, node: Arc<Node>) {
        let allocatable = node.status.as_ref().and_then(|s| s.allocatable.as_ref());
        self.allocatable = allocatable.map(Resources::from_list).unwrap_or_default();
        self.allowed_pods = allocatable
            .and_then(|a| a.get("pods"))
            .map(|q| crate::resources::value(q, false))
            .unwrap_or(0);
        self.name = node.metadata.name.clone().unwrap_or_default();
        self.image_sizes = node
            .status
            .as_ref()
            .and_then(|s| s.images.as_ref())
            .into_iter()
            .flatten()
            .flat_map(|i| {
                let size = i.size_bytes.unwrap_or(0);
                i.names
                    .iter()
                    .flatten()
                    .map(move |n| (crate::plugins::image_locality::normalized(n), size))
            })
            .collect();
        self.node = node;
    }

    /// Counts a pod on the node.
    pub fn add_pod(&mut self, pod: Arc<PodInfo>) {
        self.requested.add(&pod.requests);
        self.non_zero_requested.add(&pod.non_zero_requests);
        self.used_ports.extend(pod.host_ports.iter().cloned());
        if pod.has_affinity {
            self.pods_with_affinity.push(pod.clone());
        }
        if pod.has_required_anti_affinity {
            self.pods_with_required_anti_affinity.push(pod.clone());
        }
        self.pods.push(pod);
    }

    /// Takes the pod with `key` off the node; whether it was there.
    pub fn remove_pod(&mut self, key: &str) -> bool {
        let Some(i) = self.pods.iter().position(|p| p.key == key) else {
            return false;
        };
        let pod = self.pods.swap_remove(i);
        self.pods_with_affinity.retain(|p| p.key != key);
        self.pods_with_required_anti_affinity
            .retain(|p| p.key != key);
        self.requested.sub(&pod.requests);
        self.non_zero_requested.sub(&pod.non_zero_requests);
        for port in &pod.host_ports {
            if let Some(j) = self.used_ports.iter().position(|u| u == port) {
                self.used_ports.swap_remove(j);
            }
        }
        true
    }
}
