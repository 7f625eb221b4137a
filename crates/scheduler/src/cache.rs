//! The scheduler's cache (upstream's `backend/cache`): every node with the
//! pods assigned to it — and the pods assumed to it between a cycle's
//! decision and the binding's confirmation by the informer — kept up to
//! date incrementally from the informers, and the [`Snapshot`] each
//! cycle reads, refreshed from it by copying only the nodes that changed.
//!
//! Nodes are listed in upstream's node-tree order: zones in the order they
//! appeared, and the nodes of every zone taken in turn, so that a cycle
//! that looks at a fraction of the nodes still sees every zone.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use k8s_openapi::api::core::v1::Node;

use crate::framework::{NodeInfo, PodInfo};

/// A pod the cache counts on a node.
#[derive(Debug)]
struct PodState {
    node: String,
    /// Placed by the scheduler, not yet seen bound by the informer.
    assumed: bool,
}

/// Upstream's `utilnode.GetZoneKey`: region and zone labels, empty when
/// the node has neither.
pub fn zone_key(node: &Node) -> String {
    let labels = node.metadata.labels.as_ref();
    let get = |a: &str, b: &str| {
        labels
            .and_then(|l| l.get(a).or_else(|| l.get(b)))
            .cloned()
            .unwrap_or_default()
    };
    let region = get(
        "topology.kubernetes.io/region",
        "failure-domain.beta.kubernetes.io/region",
    );
    let zone = get(
        "topology.kubernetes.io/zone",
        "failure-domain.beta.kubernetes.io/zone",
    );
    if region.is_empty() && zone.is_empty() {
        return String::new();
    }
    format!("{region}:\x00:{zone}")
}

/// Nodes by zone, in the order they appeared (upstream's `nodeTree`).
#[derive(Debug, Default)]
struct NodeTree {
    zones: Vec<String>,
    by_zone: HashMap<String, Vec<String>>,
    zone_of: HashMap<String, String>,
}

impl NodeTree {
    fn add(&mut self, name: &str, zone: String) {
        if let Some(old) = self.zone_of.get(name) {
            if *old == zone {
                return;
            }
            self.remove(name);
        }
        if !self.by_zone.contains_key(&zone) {
            self.zones.push(zone.clone());
        }
        self.by_zone
            .entry(zone.clone())
            .or_default()
            .push(name.to_string());
        self.zone_of.insert(name.to_string(), zone);
    }

    fn remove(&mut self, name: &str) -> bool {
        let Some(zone) = self.zone_of.remove(name) else {
            return false;
        };
        if let Some(names) = self.by_zone.get_mut(&zone) {
            names.retain(|n| n != name);
            if names.is_empty() {
                self.by_zone.remove(&zone);
                self.zones.retain(|z| *z != zone);
            }
        }
        true
    }

    /// Node 0 of every zone, then node 1 of every zone, ...
    fn list(&self) -> Vec<&str> {
        let mut out = Vec::with_capacity(self.zone_of.len());
        let mut i = 0;
        while out.len() < self.zone_of.len() {
            for z in &self.zones {
                if let Some(n) = self.by_zone[z].get(i) {
                    out.push(n.as_str());
                }
            }
            i += 1;
        }
        out
    }
}

/// What one scheduling cycle reads: the nodes in tree order.
#[derive(Default)]
pub struct Snapshot {
    pub nodes: Vec<Arc<NodeInfo>>,
    index: HashMap<String, usize>,
    tree_generation: u64,
}

impl Snapshot {
    pub fn get(&self, name: &str) -> Option<&Arc<NodeInfo>> {
        self.index.get(name).map(|&i| &self.nodes[i])
    }
}

/// The cache: nodes and pods, and what changed since the last snapshot.
#[derive(Debug, Default)]
pub struct Cache {
    nodes: HashMap<String, Arc<NodeInfo>>,
    tree: NodeTree,
    pods: HashMap<String, PodState>,
    dirty: HashSet<String>,
    /// Changes when a node is added or removed (the snapshot's list is rebuilt).
    tree_generation: u64,
}

impl Cache {
    fn node_mut(&mut self, name: &str) -> &mut NodeInfo {
        self.dirty.insert(name.to_string());
        let info = self.nodes.entry(name.to_string()).or_insert_with(|| {
            Arc::new(NodeInfo {
                name: name.to_string(),
                ..Default::default()
            })
        });
        Arc::make_mut(info)
    }

    /// A node was added or changed.
    pub fn add_node(&mut self, node: Arc<Node>) {
        let name = node.metadata.name.clone().unwrap_or_default();
        let zone = zone_key(&node);
        self.node_mut(&name).set_node(node);
        let before = self.tree.zone_of.get(&name).cloned();
        if before.as_deref() != Some(zone.as_str()) {
            self.tree.add(&name, zone);
            self.tree_generation += 1;
        }
    }

    /// A node was deleted; its pods' accounting stays until they go.
    pub fn remove_node(&mut self, name: &str) {
        if self.tree.remove(name) {
            self.tree_generation += 1;
        }
        let empty = self.nodes.get(name).is_some_and(|n| n.pods.is_empty());
        if empty {
            self.nodes.remove(name);
        } else if let Some(info) = self.nodes.get_mut(name) {
            Arc::make_mut(info).node = Arc::new(Node::default());
        }
        self.dirty.remove(name);
    }

    fn place(&mut self, info: Arc<PodInfo>, node: &str, assumed: bool) {
        let key = info.key.clone();
        self.node_mut(node).add_pod(info);
        self.pods.insert(
            key,
            PodState {
                node: node.to_string(),
                assumed,
            },
        );
    }

    fn unplace(&mut self, key: &str) -> Option<PodState> {
        let state = self.pods.remove(key)?;
        let gone = {
            let n = self.node_mut(&state.node);
            n.remove_pod(key);
            n.pods.is_empty() && n.node.metadata.name.is_none()
        };
        if gone {
            self.nodes.remove(&state.node);
            self.dirty.remove(&state.node);
        }
        Some(state)
    }

    /// An assigned pod seen by the informer (added or updated): counted on
    /// its node, confirming an assumption.
    pub fn add_pod(&mut self, info: Arc<PodInfo>) {
        let node = info.node_name().to_string();
        self.unplace(&info.key);
        self.place(info, &node, false);
    }

    /// An assigned pod was deleted (or finished).
    pub fn remove_pod(&mut self, key: &str) {
        self.unplace(key);
    }

    /// The scheduler placed `info` on `node` (before binding).
    pub fn assume_pod(&mut self, info: Arc<PodInfo>, node: &str) {
        self.unplace(&info.key);
        self.place(info, node, true);
    }

    /// Binding failed: the assumption is undone (unless the informer has
    /// meanwhile confirmed the pod somewhere).
    pub fn forget_pod(&mut self, key: &str) {
        if self.pods.get(key).is_some_and(|p| p.assumed) {
            self.unplace(key);
        }
    }

    pub fn is_assumed(&self, key: &str) -> bool {
        self.pods.get(key).is_some_and(|p| p.assumed)
    }

    /// Whether the pod is counted on some node.
    pub fn has_pod(&self, key: &str) -> bool {
        self.pods.contains_key(key)
    }

    /// Nodes, pods and assumed pods (`scheduler_cache_size`).
    pub fn sizes(&self) -> (usize, usize, usize) {
        let assumed = self.pods.values().filter(|p| p.assumed).count();
        (self.tree.zone_of.len(), self.pods.len(), assumed)
    }

    /// Brings `snapshot` up to date: the list rebuilt when nodes came or
    /// went, else only the changed nodes replaced.
    pub fn update_snapshot(&mut self, snapshot: &mut Snapshot) {
        if snapshot.tree_generation != self.tree_generation || snapshot.nodes.is_empty() {
            let names = self.tree.list();
            snapshot.nodes = names.iter().map(|n| self.nodes[*n].clone()).collect();
            snapshot.index = names
                .iter()
                .enumerate()
                .map(|(i, n)| (n.to_string(), i))
                .collect();
            snapshot.tree_generation = self.tree_generation;
        } else {
            for name in &self.dirty {
                if let (Some(&i), Some(info)) = (snapshot.index.get(name), self.nodes.get(name)) {
                    snapshot.nodes[i] = info.clone();
                }
            }
        }
        self.dirty.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn node(name: &str, zone: Option<&str>) -> Arc<Node> {
        let mut labels = json!({});
        if let Some(z) = zone {
            labels["topology.kubernetes.io/zone"] = json!(z);
        }
        Arc::new(
            serde_json::from_value(json!({
                "metadata": {"name": name, "labels": labels},
                "status": {"allocatable": {"cpu": "4", "memory": "8Gi", "pods": "110"}},
            }))
            .unwrap(),
        )
    }

    fn pod(name: &str, node: &str, cpu: &str) -> Arc<PodInfo> {
        Arc::new(PodInfo::new(Arc::new(
            serde_json::from_value(json!({
                "metadata": {"name": name, "namespace": "default"},
                "spec": {"nodeName": node, "containers": [
                    {"name": "c", "resources": {"requests": {"cpu": cpu}}}
                ]},
            }))
            .unwrap(),
        )))
    }

    #[test]
    fn nodes_are_listed_zone_by_zone_as_upstreams_node_tree() {
        let mut cache = Cache::default();
        for (n, z) in [
            ("a1", "a"),
            ("a2", "a"),
            ("b1", "b"),
            ("a3", "a"),
            ("c1", "c"),
        ] {
            cache.add_node(node(n, Some(z)));
        }
        let mut snap = Snapshot::default();
        cache.update_snapshot(&mut snap);
        let names: Vec<&str> = snap.nodes.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(names, ["a1", "b1", "c1", "a2", "a3"]);
        cache.remove_node("b1");
        cache.update_snapshot(&mut snap);
        let names: Vec<&str> = snap.nodes.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(names, ["a1", "c1", "a2", "a3"]);
    }

    #[test]
    fn pods_assumed_confirmed_and_forgotten_update_the_snapshot_incrementally() {
        let mut cache = Cache::default();
        cache.add_node(node("n1", None));
        cache.add_node(node("n2", None));
        let mut snap = Snapshot::default();
        cache.update_snapshot(&mut snap);
        let before_n2 = snap.get("n2").unwrap().clone();

        cache.assume_pod(pod("p", "n1", "1"), "n1");
        assert!(cache.is_assumed("default/p"));
        cache.update_snapshot(&mut snap);
        assert_eq!(snap.get("n1").unwrap().requested.milli_cpu, 1000);
        // Untouched nodes are shared, not copied.
        assert!(Arc::ptr_eq(&before_n2, snap.get("n2").unwrap()));

        // The informer confirms it.
        cache.add_pod(pod("p", "n1", "1"));
        assert!(!cache.is_assumed("default/p"));
        cache.forget_pod("default/p");
        cache.update_snapshot(&mut snap);
        assert_eq!(snap.get("n1").unwrap().pods.len(), 1);

        // A forgotten assumption gives the resources back.
        cache.assume_pod(pod("q", "n2", "2"), "n2");
        cache.forget_pod("default/q");
        cache.update_snapshot(&mut snap);
        assert_eq!(snap.get("n2").unwrap().requested.milli_cpu, 0);

        // A pod seen before its node is kept, and counted when the node comes.
        cache.add_pod(pod("r", "n3", "500m"));
        cache.add_node(node("n3", None));
        cache.update_snapshot(&mut snap);
        assert_eq!(snap.get("n3").unwrap().requested.milli_cpu, 500);
        cache.remove_pod("default/r");
        cache.update_snapshot(&mut snap);
        assert_eq!(snap.get("n3").unwrap().requested.milli_cpu, 0);
        assert_eq!(cache.sizes(), (3, 1, 0));
    }
}
