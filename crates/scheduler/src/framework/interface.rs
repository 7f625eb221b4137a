//! The plugin interfaces (upstream's `framework/interface.go`): a plugin
//! has a name and implements any of the extension points; the framework
//! asks each for the points it serves (`Plugin::filter()` and so on, the
//! type assertions of upstream's runtime).

use std::collections::BTreeSet;
use std::sync::Arc;

use futures::future::BoxFuture;

use super::{CycleState, NodeInfo, PodInfo, Status};

/// A kind of object whose changes may make a pod schedulable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Resource {
    Pod,
    /// A pod with a node: its requests, ports and labels count there.
    AssignedPod,
    Node,
    PersistentVolume,
    PersistentVolumeClaim,
    StorageClass,
    Service,
    /// Matches every resource (upstream's `WildCard`).
    All,
}

/// What happened to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ActionType {
    Add,
    Update,
    Delete,
    All,
}

/// A cluster event (upstream's `framework.ClusterEvent`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ClusterEvent {
    pub resource: Resource,
    pub action: ActionType,
    /// Upstream's label for metrics (`NodeAdd`, `AssignedPodDelete`, ...).
    pub label: &'static str,
}

impl ClusterEvent {
    pub const NODE_ADD: ClusterEvent =
        ClusterEvent::new(Resource::Node, ActionType::Add, "NodeAdd");
    pub const NODE_UPDATE: ClusterEvent =
        ClusterEvent::new(Resource::Node, ActionType::Update, "NodeUpdate");
    pub const ASSIGNED_POD_ADD: ClusterEvent =
        ClusterEvent::new(Resource::AssignedPod, ActionType::Add, "AssignedPodAdd");
    pub const ASSIGNED_POD_UPDATE: ClusterEvent = ClusterEvent::new(
        Resource::AssignedPod,
        ActionType::Update,
        "AssignedPodUpdate",
    );
    pub const ASSIGNED_POD_DELETE: ClusterEvent = ClusterEvent::new(
        Resource::AssignedPod,
        ActionType::Delete,
        "AssignedPodDelete",
    );
    /// Pods left unschedulable too long are retried (upstream's
    /// `UnschedulableTimeout`).
    pub const UNSCHEDULABLE_TIMEOUT: ClusterEvent =
        ClusterEvent::new(Resource::All, ActionType::All, "UnschedulableTimeout");
    /// Everything may have changed (a forced move).
    pub const WILDCARD: ClusterEvent =
        ClusterEvent::new(Resource::All, ActionType::All, "WildCard");

    pub const fn new(resource: Resource, action: ActionType, label: &'static str) -> ClusterEvent {
        ClusterEvent {
            resource,
            action,
            label,
        }
    }

    /// Whether an event a plugin registered for covers this one.
    pub fn covers(&self, event: &ClusterEvent) -> bool {
        let resource = self.resource == Resource::All
            || event.resource == Resource::All
            || self.resource == event.resource
            // A plugin that watches pods sees assigned pods too.
            || (self.resource == Resource::Pod && event.resource == Resource::AssignedPod);
        let action = self.action == ActionType::All
            || event.action == ActionType::All
            || self.action == event.action;
        resource && action
    }
}

/// A PreFilter's narrowing of the nodes to consider (upstream's
/// `PreFilterResult`): None means every node.
#[derive(Clone, Debug, Default)]
pub struct PreFilterResult {
    pub node_names: Option<BTreeSet<String>>,
}

/// A scheduling plugin: its name, the extension points it serves, and the
/// cluster events that may make a pod it rejected schedulable.
pub trait Plugin: Send + Sync {
    fn name(&self) -> &'static str;
    fn as_pre_enqueue(&self) -> Option<&dyn PreEnqueuePlugin> {
        None
    }
    fn as_pre_filter(&self) -> Option<&dyn PreFilterPlugin> {
        None
    }
    fn as_filter(&self) -> Option<&dyn FilterPlugin> {
        None
    }
    fn as_post_filter(&self) -> Option<&dyn PostFilterPlugin> {
        None
    }
    fn as_pre_score(&self) -> Option<&dyn PreScorePlugin> {
        None
    }
    fn as_score(&self) -> Option<&dyn ScorePlugin> {
        None
    }
    fn as_reserve(&self) -> Option<&dyn ReservePlugin> {
        None
    }
    fn as_permit(&self) -> Option<&dyn PermitPlugin> {
        None
    }
    fn as_pre_bind(&self) -> Option<&dyn PreBindPlugin> {
        None
    }
    fn as_bind(&self) -> Option<&dyn BindPlugin> {
        None
    }
    fn as_post_bind(&self) -> Option<&dyn PostBindPlugin> {
        None
    }
    /// Whether it is the queue's sort (upstream's QueueSort point).
    fn is_queue_sort(&self) -> bool {
        false
    }
    /// The events after which a pod this plugin rejected is retried
    /// (upstream's `EventsToRegister`).
    fn events_to_register(&self) -> Vec<ClusterEvent> {
        Vec::new()
    }
}

/// Decides whether a pod may enter the active queue at all.
pub trait PreEnqueuePlugin {
    fn pre_enqueue(&self, pod: &PodInfo) -> Status;
}

/// Runs once per cycle before the filters: may narrow the nodes, skip its
/// Filter (a `Skip` status) or reject the pod.
pub trait PreFilterPlugin {
    fn pre_filter(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        nodes: &[Arc<NodeInfo>],
    ) -> (Option<PreFilterResult>, Status);
}

/// Whether the pod may run on one node.
pub trait FilterPlugin {
    fn filter(&self, state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Status;
}

/// Runs when no node fits (preemption): may nominate a node.
pub trait PostFilterPlugin {
    /// The node to nominate (`Some("")`: clear the pod's nomination; None:
    /// leave it), given the statuses of the cycle's nodes; `framework` and
    /// `nodes` (the snapshot) let it re-run the filters.
    fn post_filter(
        &self,
        state: &CycleState,
        pod: &PodInfo,
        statuses: &super::NodeToStatus,
        framework: &super::Framework,
        nodes: &[Arc<NodeInfo>],
    ) -> (Option<String>, Status);
}

/// Runs once per cycle before scoring the feasible nodes (a `Skip` status
/// skips its Score).
pub trait PreScorePlugin {
    /// `feasible`: the nodes to score; `all`: every node of the snapshot.
    fn pre_score(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        feasible: &[Arc<NodeInfo>],
        all: &[Arc<NodeInfo>],
    ) -> Status;
}

/// Scores one feasible node, then normalizes the scores of all of them to
/// 0..=100.
pub trait ScorePlugin {
    fn score(&self, state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Result<i64, Status>;
    /// `scores[i]` is the score of `nodes[i]`.
    fn normalize_score(
        &self,
        _state: &CycleState,
        _pod: &PodInfo,
        _nodes: &[Arc<NodeInfo>],
        _scores: &mut [i64],
    ) -> Status {
        Status::success()
    }
}

/// Holds (or releases) what the pod needs on its node before binding.
pub trait ReservePlugin {
    fn reserve(&self, state: &CycleState, pod: &PodInfo, node: &str) -> Status;
    fn unreserve(&self, state: &CycleState, pod: &PodInfo, node: &str);
}

/// Allows, refuses or delays the binding.
pub trait PermitPlugin {
    fn permit(&self, state: &CycleState, pod: &PodInfo, node: &str) -> Status;
}

/// Work before binding (volumes).
pub trait PreBindPlugin {
    fn pre_bind(
        &self,
        state: Arc<CycleState>,
        pod: Arc<PodInfo>,
        node: String,
    ) -> BoxFuture<'static, Status>;
}

/// Binds the pod to the node (a `Skip` status passes to the next binder).
pub trait BindPlugin {
    fn bind(
        &self,
        state: Arc<CycleState>,
        pod: Arc<PodInfo>,
        node: String,
    ) -> BoxFuture<'static, Status>;
}

/// Told of a successful binding.
pub trait PostBindPlugin {
    fn post_bind(&self, state: &CycleState, pod: &PodInfo, node: &str);
}
