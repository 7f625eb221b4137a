//! The Node a node agent registers and keeps fresh (upstream's
//! `kubelet_node_status.go` and `nodelease`): capacity and allocatable,
//! the conditions with upstream's reasons and messages, addresses, node
//! info, the daemon endpoint; registration that adopts an existing Node of
//! the same name; the node's Lease in `kube-node-lease`, renewed every 10
//! s with a 40 s duration, owned by the Node.

use std::collections::BTreeMap;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::api::core::v1::{
    DaemonEndpoint, Node, NodeAddress, NodeCondition, NodeDaemonEndpoints, NodeSpec, NodeStatus,
    NodeSystemInfo, Taint,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, OwnerReference, Time};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, Patch, PatchParams, PostParams};

/// Upstream's `nodeLeaseDurationSeconds` default.
pub const LEASE_DURATION_SECONDS: i32 = 40;
/// Upstream renews at a quarter of the duration.
pub const LEASE_RENEW_INTERVAL: std::time::Duration = std::time::Duration::from_secs(10);
/// Upstream's `nodeStatusReportFrequency`: an unchanged status is written this often.
pub const NODE_STATUS_REPORT_FREQUENCY: std::time::Duration = std::time::Duration::from_secs(300);
/// The namespace of node leases.
pub const LEASE_NAMESPACE: &str = "kube-node-lease";

/// What a node is: its resources, labels, taints, addresses and runtime.
#[derive(Clone, Debug)]
pub struct NodeConfig {
    pub name: String,
    /// Capacity (allocatable is the same: no reservations).
    pub resources: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
    pub taints: Vec<Taint>,
    pub internal_ip: String,
    pub pod_cidr: Option<String>,
    pub runtime_version: String,
    pub kernel_version: String,
    pub os_image: String,
}

/// The conditions of a healthy node, heartbeat `now`, with upstream's
/// reasons and messages (transition times kept from `previous`).
pub fn conditions(previous: &[NodeCondition], now: Timestamp) -> Vec<NodeCondition> {
    let c = |type_: &str, status: &str, reason: &str, message: &str| {
        let transition = previous
            .iter()
            .find(|p| p.type_ == type_ && p.status == status)
            .and_then(|p| p.last_transition_time.clone())
            .unwrap_or(Time(now));
        NodeCondition {
            type_: type_.into(),
            status: status.into(),
            reason: Some(reason.into()),
            message: Some(message.into()),
            last_heartbeat_time: Some(Time(now)),
            last_transition_time: Some(transition),
        }
    };
    vec![
        c(
            "MemoryPressure",
            "False",
            "KubeletHasSufficientMemory",
            "kubelet has sufficient memory available",
        ),
        c(
            "DiskPressure",
            "False",
            "KubeletHasNoDiskPressure",
            "kubelet has no disk pressure",
        ),
        c(
            "PIDPressure",
            "False",
            "KubeletHasSufficientPID",
            "kubelet has sufficient PID available",
        ),
        c(
            "Ready",
            "True",
            "KubeletReady",
            "kubelet is posting ready status",
        ),
    ]
}

impl NodeConfig {
    fn quantities(&self) -> BTreeMap<String, Quantity> {
        self.resources
            .iter()
            .map(|(k, v)| (k.clone(), Quantity(v.clone())))
            .collect()
    }

    /// The node's status at `now`.
    pub fn status(&self, previous: &[NodeCondition], now: Timestamp) -> NodeStatus {
        NodeStatus {
            capacity: Some(self.quantities()),
            allocatable: Some(self.quantities()),
            conditions: Some(conditions(previous, now)),
            addresses: Some(vec![
                NodeAddress {
                    type_: "InternalIP".into(),
                    address: self.internal_ip.clone(),
                },
                NodeAddress {
                    type_: "Hostname".into(),
                    address: self.name.clone(),
                },
            ]),
            daemon_endpoints: Some(NodeDaemonEndpoints {
                kubelet_endpoint: Some(DaemonEndpoint { port: 10250 }),
            }),
            node_info: Some(NodeSystemInfo {
                architecture: "amd64".into(),
                boot_id: String::new(),
                container_runtime_version: self.runtime_version.clone(),
                kernel_version: self.kernel_version.clone(),
                kube_proxy_version: String::new(),
                kubelet_version: "v1.33.0".into(),
                machine_id: String::new(),
                operating_system: "linux".into(),
                os_image: self.os_image.clone(),
                system_uuid: String::new(),
                swap: None,
            }),
            ..Default::default()
        }
    }

    /// The Node to register (upstream's `initialNode`).
    pub fn node(&self) -> Node {
        let mut labels = self.labels.clone();
        labels.insert("kubernetes.io/hostname".into(), self.name.clone());
        labels.insert("kubernetes.io/os".into(), "linux".into());
        labels.insert("kubernetes.io/arch".into(), "amd64".into());
        labels.insert("beta.kubernetes.io/os".into(), "linux".into());
        labels.insert("beta.kubernetes.io/arch".into(), "amd64".into());
        Node {
            metadata: ObjectMeta {
                name: Some(self.name.clone()),
                labels: Some(labels),
                annotations: Some(BTreeMap::from([(
                    "volumes.kubernetes.io/controller-managed-attach-detach".to_string(),
                    "true".to_string(),
                )])),
                ..Default::default()
            },
            spec: Some(NodeSpec {
                pod_cidr: self.pod_cidr.clone(),
                pod_cidrs: self.pod_cidr.clone().map(|c| vec![c]),
                taints: (!self.taints.is_empty()).then(|| self.taints.clone()),
                ..Default::default()
            }),
            status: Some(self.status(&[], Timestamp::now())),
        }
    }
}

/// Registers the node (upstream's `registerWithAPIServer`): created, or
/// when it exists its status brought up to date.
pub async fn register(client: &kube::Client, config: &NodeConfig) -> Result<Node, kube::Error> {
    let nodes: Api<Node> = Api::all(client.clone());
    match nodes.create(&PostParams::default(), &config.node()).await {
        Ok(n) => Ok(n),
        Err(kube::Error::Api(s)) if s.code == 409 => {
            let existing = nodes.get(&config.name).await?;
            let previous = existing
                .status
                .as_ref()
                .and_then(|s| s.conditions.clone())
                .unwrap_or_default();
            update_status(client, config, &previous).await
        }
        Err(e) => Err(e),
    }
}

/// Writes the node's status with fresh heartbeats.
pub async fn update_status(
    client: &kube::Client,
    config: &NodeConfig,
    previous: &[NodeCondition],
) -> Result<Node, kube::Error> {
    let nodes: Api<Node> = Api::all(client.clone());
    let patch = serde_json::json!({"status": config.status(previous, Timestamp::now())});
    nodes
        .patch_status(
            &config.name,
            &PatchParams::default(),
            &Patch::Strategic(&patch),
        )
        .await
}

/// The node's Lease, owned by its Node (upstream's `newLease`).
pub fn lease(node: &str, node_uid: &str) -> Lease {
    Lease {
        metadata: ObjectMeta {
            name: Some(node.to_string()),
            namespace: Some(LEASE_NAMESPACE.into()),
            owner_references: (!node_uid.is_empty()).then(|| {
                vec![OwnerReference {
                    api_version: "v1".into(),
                    kind: "Node".into(),
                    name: node.to_string(),
                    uid: node_uid.to_string(),
                    ..Default::default()
                }]
            }),
            ..Default::default()
        },
        spec: Some(LeaseSpec {
            holder_identity: Some(node.to_string()),
            lease_duration_seconds: Some(LEASE_DURATION_SECONDS),
            renew_time: Some(MicroTime(Timestamp::now())),
            ..Default::default()
        }),
    }
}

/// Renews the node's Lease (upstream's `nodelease.controller`): an update
/// of the last one seen, created when missing, read again after a conflict.
pub async fn renew_lease(
    client: &kube::Client,
    node: &str,
    node_uid: &str,
    cached: &mut Option<Lease>,
) -> Result<(), kube::Error> {
    let leases: Api<Lease> = Api::namespaced(client.clone(), LEASE_NAMESPACE);
    let mut lease = match cached.take() {
        Some(l) => l,
        None => match leases.get_opt(node).await? {
            Some(l) => l,
            None => {
                *cached = Some(
                    leases
                        .create(&PostParams::default(), &lease(node, node_uid))
                        .await?,
                );
                return Ok(());
            }
        },
    };
    let spec = lease.spec.get_or_insert_with(Default::default);
    spec.renew_time = Some(MicroTime(Timestamp::now()));
    spec.holder_identity = Some(node.to_string());
    spec.lease_duration_seconds = Some(LEASE_DURATION_SECONDS);
    *cached = Some(leases.replace(node, &PostParams::default(), &lease).await?);
    Ok(())
}
