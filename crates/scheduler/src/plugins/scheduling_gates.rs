//! SchedulingGates (upstream's `plugins/schedulinggates`): a pod with
//! `spec.schedulingGates` waits outside the active queue until they are
//! all removed.

use crate::framework::{Code, PodInfo, PreEnqueuePlugin, Status};

pub const NAME: &str = "SchedulingGates";

pub struct SchedulingGates;

// The pod's own update lifts gates: the queue runs PreEnqueue again on every
// update of a gated pod, so no cluster event is registered.
plugin!(SchedulingGates, NAME, [pre_enqueue], []);

impl PreEnqueuePlugin for SchedulingGates {
    fn pre_enqueue(&self, pod: &PodInfo) -> Status {
        let gates = pod.spec().scheduling_gates.as_deref().unwrap_or(&[]);
        if gates.is_empty() {
            return Status::success();
        }
        let names: Vec<&str> = gates.iter().map(|g| g.name.as_str()).collect();
        Status::with_reason(
            Code::UnschedulableAndUnresolvable,
            format!("waiting for scheduling gates: [{}]", names.join(" ")),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn gated_pods_wait_with_upstreams_message() {
        let pod: k8s_openapi::api::core::v1::Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "p", "namespace": "default"},
            "spec": {"containers": [], "schedulingGates": [{"name": "a"}, {"name": "b"}]},
        }))
        .unwrap();
        let s = SchedulingGates.pre_enqueue(&PodInfo::new(Arc::new(pod)));
        assert_eq!(s.code, Code::UnschedulableAndUnresolvable);
        assert_eq!(s.message(), "waiting for scheduling gates: [a b]");
        let open: k8s_openapi::api::core::v1::Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "p", "namespace": "default"},
            "spec": {"containers": []},
        }))
        .unwrap();
        assert!(
            SchedulingGates
                .pre_enqueue(&PodInfo::new(Arc::new(open)))
                .is_success()
        );
    }
}
