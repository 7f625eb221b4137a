//! VolumeBinding (upstream's `plugins/volumebinding`), its basics: a pod's
//! PersistentVolumeClaims must exist and not be terminating; a claim not
//! yet bound must wait for its consumer (`WaitForFirstConsumer`), else the
//! pod waits for the claim; a node must satisfy the node affinity of the
//! volumes bound to its claims, and for waiting claims either hold a
//! matching available volume or be served by the class's provisioner —
//! which PreBind tells the chosen node (`volume.kubernetes.io/selected-node`
//! on the claim), as upstream does for dynamic provisioning.

use std::sync::Arc;

use futures::FutureExt;
use futures::future::BoxFuture;
use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim, Pod};
use k8s_openapi::api::storage::v1::StorageClass;
use kube::api::{Api, Patch, PatchParams};

use crate::framework::listers::Listers;
use crate::framework::selector::labels_of;
use crate::framework::{
    ActionType, ClusterEvent, Code, CycleState, FilterPlugin, NodeInfo, PodInfo, PreBindPlugin,
    PreFilterPlugin, PreFilterResult, Resource, Status,
};

pub const NAME: &str = "VolumeBinding";

pub const UNBOUND_IMMEDIATE: &str = "pod has unbound immediate PersistentVolumeClaims";
pub const NODE_CONFLICT: &str = "node(s) didn't match PersistentVolume's node affinity";
pub const BIND_CONFLICT: &str = "node(s) didn't find available persistent volumes to bind";
pub const PV_NOT_EXIST: &str =
    "node(s) unavailable due to one or more pvc(s) bound to non-existent pv(s)";
/// The annotation that tells a provisioner where the consumer runs.
pub const SELECTED_NODE: &str = "volume.kubernetes.io/selected-node";

pub struct VolumeBinding {
    pub listers: Arc<Listers>,
    pub client: Option<kube::Client>,
}

/// What PreFilter found of the pod's claims.
#[derive(Default)]
struct State {
    /// Volumes bound to its claims (None: the volume does not exist).
    bound: Vec<Option<PersistentVolume>>,
    /// Claims waiting for their first consumer, with their class.
    waiting: Vec<(PersistentVolumeClaim, Option<StorageClass>)>,
}

const STATE: &str = "PreFilterVolumeBinding";

plugin!(
    VolumeBinding,
    NAME,
    [pre_filter, filter, pre_bind],
    [
        ClusterEvent::NODE_ADD,
        ClusterEvent::NODE_UPDATE,
        ClusterEvent::new(
            Resource::PersistentVolumeClaim,
            ActionType::All,
            "PvcChange"
        ),
        ClusterEvent::new(Resource::PersistentVolume, ActionType::All, "PvChange"),
        ClusterEvent::new(
            Resource::StorageClass,
            ActionType::All,
            "StorageClassChange"
        )
    ]
);

fn claims(pod: &Pod) -> Vec<String> {
    pod.spec
        .as_ref()
        .and_then(|s| s.volumes.as_ref())
        .into_iter()
        .flatten()
        .filter_map(|v| {
            v.persistent_volume_claim
                .as_ref()
                .map(|c| c.claim_name.clone())
        })
        .collect()
}

/// Whether the volume's required node affinity admits the node.
fn volume_fits(pv: &PersistentVolume, node: &NodeInfo) -> bool {
    let Some(required) = pv
        .spec
        .as_ref()
        .and_then(|s| s.node_affinity.as_ref())
        .and_then(|a| a.required.as_ref())
    else {
        return true;
    };
    let labels = labels_of(node.node.metadata.labels.as_ref());
    required.node_selector_terms.iter().any(|t| {
        let exprs = t.match_expressions.as_deref().unwrap_or(&[]);
        !exprs.is_empty()
            && exprs.iter().all(|r| {
                super::node_affinity::requirement_matches(r, labels.get(&r.key).map(String::as_str))
            })
    })
}

/// Whether an available volume could serve the claim on the node.
fn matching_volume(
    claim: &PersistentVolumeClaim,
    class: &str,
    volumes: &[PersistentVolume],
    node: &NodeInfo,
) -> bool {
    let spec = claim.spec.clone().unwrap_or_default();
    let wanted = spec
        .resources
        .as_ref()
        .and_then(|r| r.requests.as_ref())
        .and_then(|r| r.get("storage"))
        .map(|q| crate::resources::value(q, false))
        .unwrap_or(0);
    let modes = spec.access_modes.unwrap_or_default();
    volumes.iter().any(|pv| {
        let Some(s) = pv.spec.as_ref() else {
            return false;
        };
        let available = pv.status.as_ref().and_then(|st| st.phase.as_deref()) == Some("Available")
            && s.claim_ref.is_none();
        let capacity = s
            .capacity
            .as_ref()
            .and_then(|c| c.get("storage"))
            .map(|q| crate::resources::value(q, false))
            .unwrap_or(0);
        let pv_modes = s.access_modes.clone().unwrap_or_default();
        available
            && s.storage_class_name.as_deref().unwrap_or("") == class
            && capacity >= wanted
            && modes.iter().all(|m| pv_modes.contains(m))
            && volume_fits(pv, node)
    })
}

impl PreFilterPlugin for VolumeBinding {
    fn pre_filter(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        _nodes: &[Arc<NodeInfo>],
    ) -> (Option<PreFilterResult>, Status) {
        let names = claims(&pod.pod);
        if names.is_empty() {
            return (None, Status::skip());
        }
        let uu = |m: String| {
            (
                None,
                Status::with_reason(Code::UnschedulableAndUnresolvable, m),
            )
        };
        let pvcs = self.listers.pvcs.read().unwrap_or_else(|e| e.into_inner());
        let pvs = self.listers.pvs.read().unwrap_or_else(|e| e.into_inner());
        let classes = self
            .listers
            .storage_classes
            .read()
            .unwrap_or_else(|e| e.into_inner());
        let mut s = State::default();
        for name in names {
            let Some(claim) = pvcs.get(&format!("{}/{name}", pod.namespace())) else {
                return uu(format!("persistentvolumeclaim {name:?} not found"));
            };
            if claim.metadata.deletion_timestamp.is_some() {
                return uu(format!("persistentvolumeclaim {name:?} is being deleted"));
            }
            let spec = claim.spec.clone().unwrap_or_default();
            if let Some(volume) = spec.volume_name.filter(|v| !v.is_empty()) {
                s.bound.push(pvs.get(&volume).cloned());
                continue;
            }
            let class_name = spec.storage_class_name.clone().unwrap_or_default();
            let class = classes.get(&class_name).cloned();
            let waits = class
                .as_ref()
                .and_then(|c| c.volume_binding_mode.as_deref())
                == Some("WaitForFirstConsumer");
            if !waits {
                return uu(UNBOUND_IMMEDIATE.into());
            }
            s.waiting.push((claim.clone(), class));
        }
        state.write(STATE, s);
        (None, Status::success())
    }
}

impl FilterPlugin for VolumeBinding {
    fn filter(&self, state: &CycleState, _pod: &PodInfo, node: &NodeInfo) -> Status {
        let Some(s) = state.read::<State>(STATE) else {
            return Status::error("reading PreFilterVolumeBinding from cycle state");
        };
        let uu = |m: &str| Status::with_reason(Code::UnschedulableAndUnresolvable, m);
        for pv in &s.bound {
            match pv {
                None => return uu(PV_NOT_EXIST),
                Some(pv) if !volume_fits(pv, node) => return uu(NODE_CONFLICT),
                Some(_) => {}
            }
        }
        if !s.waiting.is_empty() {
            let volumes: Vec<PersistentVolume> = self
                .listers
                .pvs
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .values()
                .cloned()
                .collect();
            for (claim, class) in &s.waiting {
                let class_name = claim
                    .spec
                    .as_ref()
                    .and_then(|s| s.storage_class_name.clone())
                    .unwrap_or_default();
                let provisioned = class
                    .as_ref()
                    .is_some_and(|c| c.provisioner != "kubernetes.io/no-provisioner");
                if !provisioned && !matching_volume(claim, &class_name, &volumes, node) {
                    return uu(BIND_CONFLICT);
                }
            }
        }
        Status::success()
    }
}

impl PreBindPlugin for VolumeBinding {
    /// Tells the provisioner of each waiting claim where its consumer goes.
    fn pre_bind(
        &self,
        state: Arc<CycleState>,
        pod: Arc<PodInfo>,
        node: String,
    ) -> BoxFuture<'static, Status> {
        let client = self.client.clone();
        let claims: Vec<String> = state
            .read::<State>(STATE)
            .map(|s| {
                s.waiting
                    .iter()
                    .filter(|(c, _)| {
                        c.metadata
                            .annotations
                            .as_ref()
                            .and_then(|a| a.get(SELECTED_NODE))
                            .is_none()
                    })
                    .filter_map(|(c, _)| c.metadata.name.clone())
                    .collect()
            })
            .unwrap_or_default();
        async move {
            let Some(client) = client else {
                return Status::success();
            };
            let api: Api<PersistentVolumeClaim> = Api::namespaced(client, pod.namespace());
            for name in claims {
                let patch = serde_json::json!({"metadata": {"annotations": {SELECTED_NODE: node}}});
                if let Err(e) = api
                    .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                    .await
                {
                    return Status::error(format!(
                        "selecting node {node:?} for claim {name:?}: {e}"
                    ));
                }
            }
            Status::success()
        }
        .boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::testing::{node, pod};
    use serde_json::json;

    fn listers() -> Arc<Listers> {
        let l = Arc::new(Listers::default());
        let pvc = |name: &str, v: serde_json::Value| -> PersistentVolumeClaim {
            let mut o = json!({"metadata": {"name": name, "namespace": "default"}, "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}});
            for (k, val) in v.as_object().unwrap() {
                o["spec"][k] = val.clone();
            }
            serde_json::from_value(o).unwrap()
        };
        {
            let mut pvcs = l.pvcs.write().unwrap();
            pvcs.insert(
                "default/bound".into(),
                pvc("bound", json!({"volumeName": "pv-a"})),
            );
            pvcs.insert(
                "default/dangling".into(),
                pvc("dangling", json!({"volumeName": "gone"})),
            );
            pvcs.insert(
                "default/now".into(),
                pvc("now", json!({"storageClassName": "immediate"})),
            );
            pvcs.insert(
                "default/later".into(),
                pvc("later", json!({"storageClassName": "local"})),
            );
            pvcs.insert(
                "default/static".into(),
                pvc("static", json!({"storageClassName": "manual"})),
            );
        }
        let pv = |name: &str, zone: &str, class: &str, phase: &str| -> PersistentVolume {
            serde_json::from_value(json!({
                "metadata": {"name": name},
                "spec": {"capacity": {"storage": "5Gi"}, "accessModes": ["ReadWriteOnce"], "storageClassName": class,
                         "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [{"key": "zone", "operator": "In", "values": [zone]}]}]}}},
                "status": {"phase": phase},
            }))
            .unwrap()
        };
        {
            let mut pvs = l.pvs.write().unwrap();
            pvs.insert("pv-a".into(), pv("pv-a", "a", "", "Bound"));
            pvs.insert(
                "pv-static".into(),
                pv("pv-static", "b", "manual", "Available"),
            );
        }
        let class = |name: &str, mode: &str, provisioner: &str| -> StorageClass {
            serde_json::from_value(json!({"metadata": {"name": name}, "provisioner": provisioner, "volumeBindingMode": mode})).unwrap()
        };
        {
            let mut c = l.storage_classes.write().unwrap();
            c.insert(
                "immediate".into(),
                class("immediate", "Immediate", "example.com/p"),
            );
            c.insert(
                "local".into(),
                class("local", "WaitForFirstConsumer", "rancher.io/local-path"),
            );
            c.insert(
                "manual".into(),
                class(
                    "manual",
                    "WaitForFirstConsumer",
                    "kubernetes.io/no-provisioner",
                ),
            );
        }
        l
    }

    fn with_claim(name: &str) -> Arc<PodInfo> {
        pod(
            "p",
            json!({}),
            json!({"volumes": [{"name": "v", "persistentVolumeClaim": {"claimName": name}}]}),
        )
    }

    fn run(claim: &str) -> (Status, Vec<Status>) {
        let p = VolumeBinding {
            listers: listers(),
            client: None,
        };
        let nodes = [
            node("na", json!({"zone": "a"}), &[]),
            node("nb", json!({"zone": "b"}), &[]),
        ];
        let mut state = CycleState::default();
        let (_, s) = p.pre_filter(&mut state, &with_claim(claim), &nodes);
        if !s.is_success() {
            return (s, Vec::new());
        }
        let f = nodes
            .iter()
            .map(|n| p.filter(&state, &with_claim(claim), n))
            .collect();
        (s, f)
    }

    #[test]
    fn claims_and_volumes_as_upstream() {
        let (s, _) = run("missing");
        assert_eq!(s.code, Code::UnschedulableAndUnresolvable);
        assert_eq!(s.message(), "persistentvolumeclaim \"missing\" not found");
        assert_eq!(run("now").0.message(), UNBOUND_IMMEDIATE);
        // Bound: only nodes in the volume's zone.
        let (_, f) = run("bound");
        assert!(f[0].is_success());
        assert_eq!(f[1].message(), NODE_CONFLICT);
        let (_, f) = run("dangling");
        assert_eq!(f[0].message(), PV_NOT_EXIST);
        // Waiting for the consumer: a provisioner serves any node.
        let (_, f) = run("later");
        assert!(f.iter().all(Status::is_success));
        // Without a provisioner, only where an available volume matches.
        let (_, f) = run("static");
        assert_eq!(f[0].message(), BIND_CONFLICT);
        assert!(f[1].is_success());
        // No claims: skipped.
        let p = VolumeBinding {
            listers: listers(),
            client: None,
        };
        let (_, s) = p.pre_filter(
            &mut CycleState::default(),
            &pod("q", json!({}), json!({})),
            &[],
        );
        assert!(s.is_skip());
    }
}
