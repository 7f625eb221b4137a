//! The in-tree plugins, one module each with upstream's name
//! (`pkg/scheduler/framework/plugins/<name>`), and the registry that makes
//! them by name for a profile (upstream's `plugins/registry.go`), with the
//! default profile's list and weights (`apis/config/v1/default_plugins.go`).

/// Implements [`Plugin`](crate::framework::Plugin) for a plugin type: its
/// name, the extension points it serves (each a trait it implements) and
/// the cluster events after which its rejections are retried.
macro_rules! plugin {
    ($ty:ty, $name:expr, [$($point:ident),* $(,)?], [$($event:expr),* $(,)?]) => {
        impl $crate::framework::Plugin for $ty {
            fn name(&self) -> &'static str {
                $name
            }
            $(plugin!(@point $point);)*
            fn events_to_register(&self) -> Vec<$crate::framework::ClusterEvent> {
                vec![$($event),*]
            }
        }
    };
    (@point pre_enqueue) => {
        fn as_pre_enqueue(&self) -> Option<&dyn $crate::framework::PreEnqueuePlugin> { Some(self) }
    };
    (@point queue_sort) => {
        fn is_queue_sort(&self) -> bool { true }
    };
    (@point pre_filter) => {
        fn as_pre_filter(&self) -> Option<&dyn $crate::framework::PreFilterPlugin> { Some(self) }
    };
    (@point filter) => {
        fn as_filter(&self) -> Option<&dyn $crate::framework::FilterPlugin> { Some(self) }
    };
    (@point post_filter) => {
        fn as_post_filter(&self) -> Option<&dyn $crate::framework::PostFilterPlugin> { Some(self) }
    };
    (@point pre_score) => {
        fn as_pre_score(&self) -> Option<&dyn $crate::framework::PreScorePlugin> { Some(self) }
    };
    (@point score) => {
        fn as_score(&self) -> Option<&dyn $crate::framework::ScorePlugin> { Some(self) }
    };
    (@point pre_bind) => {
        fn as_pre_bind(&self) -> Option<&dyn $crate::framework::PreBindPlugin> { Some(self) }
    };
    (@point bind) => {
        fn as_bind(&self) -> Option<&dyn $crate::framework::BindPlugin> { Some(self) }
    };
}

pub mod default_binder;
pub mod default_preemption;
mod helper;
pub mod image_locality;
pub mod inter_pod_affinity;
pub mod node_affinity;
pub mod node_name;
pub mod node_ports;
pub mod node_resources_balanced_allocation;
pub mod node_resources_fit;
pub mod node_unschedulable;
pub mod pod_topology_spread;
pub mod queue_sort;
pub mod scheduling_gates;
pub mod taint_toleration;
pub mod volume_binding;

use std::sync::Arc;

use crate::framework::Plugin;

/// What plugins may use of the scheduler (upstream's `framework.Handle`):
/// the API client, when there is one (binding needs it).
#[derive(Clone, Default)]
pub struct Handle {
    pub client: Option<kube::Client>,
    /// What the informers know of other objects.
    pub listers: std::sync::Arc<crate::framework::listers::Listers>,
    /// Where background work (evictions) runs.
    pub runtime: Option<tokio::runtime::Handle>,
    /// Records events of plugins (preemption's `Preempted`).
    pub recorder: Option<crate::events::EventRecorder>,
}

impl Handle {
    /// A handle whose client goes nowhere: to check a configuration's
    /// profiles before the API is up (nothing is called through it).
    pub fn offline() -> Handle {
        let config = kube::Config::new("http://127.0.0.1:1".parse().expect("a valid URL"));
        Handle {
            client: kube::Client::try_from(config).ok(),
            ..Default::default()
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
    (volume_binding::NAME, 0),
    (pod_topology_spread::NAME, 2),
    (inter_pod_affinity::NAME, 2),
    (default_preemption::NAME, 0),
    (node_resources_balanced_allocation::NAME, 1),
    (image_locality::NAME, 1),
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
            scoring: node_resources_fit::Scoring::from_args(args)?,
        }),
        node_resources_balanced_allocation::NAME => {
            Arc::new(node_resources_balanced_allocation::NodeResourcesBalancedAllocation)
        }
        pod_topology_spread::NAME => Arc::new(pod_topology_spread::PodTopologySpread::from_args(
            handle.listers.clone(),
            args,
        )?),
        inter_pod_affinity::NAME => Arc::new(inter_pod_affinity::InterPodAffinity::from_args(
            handle.listers.clone(),
            args,
        )?),
        image_locality::NAME => Arc::new(image_locality::ImageLocality),
        volume_binding::NAME => Arc::new(volume_binding::VolumeBinding {
            listers: handle.listers.clone(),
            client: handle.client.clone(),
        }),
        default_preemption::NAME => {
            let evictor = match (&handle.client, &handle.runtime) {
                (Some(client), Some(runtime)) => Some(default_preemption::Evictor {
                    client: client.clone(),
                    runtime: runtime.clone(),
                    recorder: handle.recorder.clone(),
                }),
                _ => None,
            };
            Arc::new(default_preemption::DefaultPreemption::from_args(
                handle.listers.clone(),
                args,
                evictor,
            )?)
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

/// Helpers of the plugins' tests: nodes with labels and pods, pods from JSON.
#[cfg(test)]
pub(crate) mod testing {
    use std::sync::Arc;

    use serde_json::{Value, json};

    use crate::framework::{NodeInfo, PodInfo};

    /// A pod from the given metadata and spec fragments (namespace `default`).
    pub fn pod(name: &str, labels: Value, spec: Value) -> Arc<PodInfo> {
        let mut s = json!({"containers": [{"name": "c", "image": "i"}]});
        if let (Some(base), Some(extra)) = (s.as_object_mut(), spec.as_object()) {
            base.extend(extra.clone());
        }
        Arc::new(PodInfo::new(Arc::new(
            serde_json::from_value(json!({
                "metadata": {"name": name, "namespace": "default", "labels": labels},
                "spec": s,
            }))
            .unwrap(),
        )))
    }

    /// A node with labels and the given pods on it.
    pub fn node(name: &str, labels: Value, pods: &[Arc<PodInfo>]) -> Arc<NodeInfo> {
        let mut info = NodeInfo::new(Arc::new(
            serde_json::from_value(json!({
                "metadata": {"name": name, "labels": labels},
                "status": {"allocatable": {"cpu": "4", "memory": "8Gi", "pods": "110"}},
            }))
            .unwrap(),
        ));
        for p in pods {
            info.add_pod(p.clone());
        }
        Arc::new(info)
    }
}
