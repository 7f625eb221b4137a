//! What plugins read of other objects (upstream's shared informer
//! listers as `framework.Handle` offers them): namespaces' labels (for
//! affinity terms' namespace selectors), and the selectors of Services,
//! ReplicationControllers, ReplicaSets and StatefulSets (for
//! PodTopologySpread's default constraints), PodDisruptionBudgets (for
//! preemption). The scheduler's informers
//! keep them current.

use std::collections::{BTreeMap, HashMap};
use std::sync::RwLock;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

/// A selecting object: its namespace and selector.
#[derive(Clone, Debug)]
pub struct Selecting {
    pub namespace: String,
    pub name: String,
    pub selector: LabelSelector,
}

/// A PodDisruptionBudget as preemption reads it.
#[derive(Clone, Debug)]
pub struct Budget {
    pub namespace: String,
    pub selector: Option<LabelSelector>,
    pub disruptions_allowed: i64,
    /// Pods already being disrupted (`status.disruptedPods`).
    pub disrupted_pods: std::collections::HashSet<String>,
}

#[derive(Default)]
pub struct Listers {
    /// Namespace name → labels.
    pub namespaces: RwLock<HashMap<String, BTreeMap<String, String>>>,
    /// By `namespace/name`.
    pub services: RwLock<HashMap<String, Selecting>>,
    pub replication_controllers: RwLock<HashMap<String, Selecting>>,
    pub replica_sets: RwLock<HashMap<String, Selecting>>,
    pub stateful_sets: RwLock<HashMap<String, Selecting>>,
    /// PodDisruptionBudgets by `namespace/name`.
    pub pdbs: RwLock<HashMap<String, Budget>>,
    /// PersistentVolumeClaims by `namespace/name`, PersistentVolumes and
    /// StorageClasses by name (for VolumeBinding).
    pub pvcs: RwLock<HashMap<String, k8s_openapi::api::core::v1::PersistentVolumeClaim>>,
    pub pvs: RwLock<HashMap<String, k8s_openapi::api::core::v1::PersistentVolume>>,
    pub storage_classes: RwLock<HashMap<String, k8s_openapi::api::storage::v1::StorageClass>>,
}

impl Listers {
    /// A namespace's labels (empty when unknown).
    pub fn namespace_labels(&self, name: &str) -> BTreeMap<String, String> {
        self.namespaces
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
            .cloned()
            .unwrap_or_default()
    }
}
