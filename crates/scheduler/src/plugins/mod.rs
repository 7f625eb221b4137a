//! The default plugins, one module each with upstream's name
//! (`pkg/scheduler/framework/plugins/<name>`).

pub mod node_resources_balanced_allocation;
pub mod node_resources_fit;
