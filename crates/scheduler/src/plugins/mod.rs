//! The default plugins, one module each with upstream's name
//! (`pkg/scheduler/framework/plugins/<name>`).

mod helper;
pub mod node_affinity;
pub mod node_name;
pub mod node_ports;
pub mod node_resources_balanced_allocation;
pub mod node_resources_fit;
pub mod node_unschedulable;
pub mod taint_toleration;
