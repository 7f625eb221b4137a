//! The in-tree plugins, one module each with upstream's name
//! (`pkg/scheduler/framework/plugins/<name>`), and the registry that makes
//! them by name for a profile (upstream's `plugins/registry.go`), with the
//! default profile's list and weights (`apis/config/v1/default_plugins.go`).

pub mod default_binder;
mod helper;
pub mod node_affinity;
pub mod node_name;
pub mod node_ports;
pub mod node_resources_balanced_allocation;
pub mod node_resources_fit;
pub mod node_unschedulable;
pub mod queue_sort;
pub mod scheduling_gates;
pub mod taint_toleration;

use std::sync::Arc;

use crate::framework::Plugin;

/// What plugins may use of the scheduler (upstream's `framework.Handle`):
/// the API client, when there is one (binding needs it).
#[derive(Clone, Default)]
pub struct Handle {
    pub client: Option<kube::Client>,
}

impl Handle {
    /// A handle whose client goes nowhere: to check a configuration's
    /// profiles before the API is up (nothing is called through it).
    pub fn offline() -> Handle {
        let config = kube::Config::new("http://127.0.0.1:1".parse().expect("a valid URL"));
        Handle {
            client: kube::Client::try_from(config).ok(),
        }
    }
}

/// The default profile's plugins with their score weights, in upstream's
/// MultiPoint order (those Skiff does not have yet are left out).
pub const DEFAULT_PLUGINS: &[(&str, i64)] = &[
    (scheduling_gates::NAME, 0),
    (queue_sort::NAME, 0),
    (node_unschedulable::NAME, 0),
    (node_name::NAME, 0),
    (taint_toleration::NAME, 3),
    (node_affinity::NAME, 2),
    (node_ports::NAME, 0),
    (node_resources_fit::NAME, 1),
    (node_resources_balanced_allocation::NAME, 1),
    (default_binder::NAME, 0),
];

/// Makes the in-tree plugin `name` with its `args` (the plugin's entry of
/// a profile's `pluginConfig`), or says why it cannot.
pub fn new_in_tree(
    name: &str,
    args: Option<&serde_json::Value>,
    handle: &Handle,
) -> Result<Arc<dyn Plugin>, String> {
    Ok(match name {
        scheduling_gates::NAME => Arc::new(scheduling_gates::SchedulingGates),
        queue_sort::NAME => Arc::new(queue_sort::PrioritySort),
        node_unschedulable::NAME => Arc::new(node_unschedulable::NodeUnschedulable),
        node_name::NAME => Arc::new(node_name::NodeName),
        taint_toleration::NAME => Arc::new(taint_toleration::TaintToleration),
        node_affinity::NAME => Arc::new(node_affinity::NodeAffinity),
        node_ports::NAME => Arc::new(node_ports::NodePorts),
        node_resources_fit::NAME => Arc::new(node_resources_fit::NodeResourcesFit {
            strategy: node_resources_fit::ScoringStrategy::from_args(args)?,
        }),
        node_resources_balanced_allocation::NAME => {
            Arc::new(node_resources_balanced_allocation::NodeResourcesBalancedAllocation)
        }
        default_binder::NAME => match &handle.client {
            Some(client) => Arc::new(default_binder::DefaultBinder {
                client: client.clone(),
            }),
            None => return Err("DefaultBinder needs an API client".into()),
        },
        other => return Err(format!("plugin {other:?} does not exist")),
    })
}
