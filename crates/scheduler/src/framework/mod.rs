//! The scheduling framework (upstream's `pkg/scheduler/framework`): a
//! plugin's [`Status`], a pod's [`PodInfo`] and a node's [`NodeInfo`], the
//! plugin interfaces with their extension points, the per-cycle
//! [`CycleState`], and the [`Framework`] that runs a profile's plugins at
//! each point.

mod cycle_state;
mod interface;
pub mod listers;
mod node_info;
mod runtime;
pub mod selector;
mod status;
mod types;

pub use cycle_state::CycleState;
pub use interface::{
    ActionType, BindPlugin, ClusterEvent, FilterPlugin, PermitPlugin, Plugin, PostBindPlugin,
    PostFilterPlugin, PreBindPlugin, PreEnqueuePlugin, PreFilterPlugin, PreFilterResult,
    PreScorePlugin, ReservePlugin, Resource, ScorePlugin,
};
pub use node_info::NodeInfo;
pub use runtime::{Diagnosis, FitError, Framework, FrameworkBuilder, NodeToStatus, Point};
pub use status::{Code, Status};
pub use types::{HostPort, PodInfo, key_of};

/// The highest score a plugin gives a node after normalizing.
pub const MAX_NODE_SCORE: i64 = 100;
