//! What the scheduler knows of a node (upstream's `framework.NodeInfo`):
//! its allocatable resources, and the requests of the pods assigned or
//! assumed to it, as they are and with the scoring defaults.

use crate::resources::Resources;

#[derive(Clone, Debug, Default)]
pub struct NodeInfo {
    pub name: String,
    /// The node's allocatable resources (`status.allocatable`).
    pub allocatable: Resources,
    /// How many pods the node takes (`status.allocatable.pods`).
    pub allowed_pods: i64,
    /// How many pods are assigned or assumed to it.
    pub pods: usize,
    /// The sum of their requests.
    pub requested: Resources,
    /// The same with the scoring defaults for missing cpu / memory requests.
    pub non_zero_requested: Resources,
}

impl NodeInfo {
    /// Counts a pod with its `requests` and `non_zero` requests on the node.
    pub fn add_pod(&mut self, requests: &Resources, non_zero: &Resources) {
        self.pods += 1;
        self.requested.add(requests);
        self.non_zero_requested.add(non_zero);
    }
}
