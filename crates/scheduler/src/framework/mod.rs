//! The scheduling framework's types (upstream's `pkg/scheduler/framework`):
//! a plugin's [`Status`], a node's [`NodeInfo`], scores.

mod node_info;
mod status;

pub use node_info::NodeInfo;
pub use status::{Code, Status};

/// The highest score a plugin gives a node after normalizing.
pub const MAX_NODE_SCORE: i64 = 100;
