//! A pod as the scheduler sees it (upstream's `framework.PodInfo`): the
//! object with what every cycle needs of it computed once — its requests
//! (as they are and with the scoring defaults), its host ports, its
//! priority — and a host port (upstream's `HostPortInfo` entries).

use std::sync::Arc;

use k8s_openapi::api::core::v1::{Pod, PodSpec};

use crate::resources::{Resources, pod_requests};

/// A host port in use or wanted: address, protocol, port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostPort {
    pub ip: String,
    pub protocol: String,
    pub port: i32,
}

/// A pod with what scheduling needs of it, computed when it is seen.
#[derive(Debug)]
pub struct PodInfo {
    pub pod: Arc<Pod>,
    /// `namespace/name`, the key of the queue and the cache.
    pub key: String,
    /// Upstream's `PodRequests` (NodeResourcesFit's filter, BalancedAllocation).
    pub requests: Resources,
    /// The same with 100m / 200 MiB for missing cpu / memory requests (scoring).
    pub non_zero_requests: Resources,
    /// The host ports its containers and sidecars declare.
    pub host_ports: Vec<HostPort>,
    /// It has pod affinity or anti-affinity terms.
    pub has_affinity: bool,
    /// It has required pod anti-affinity terms.
    pub has_required_anti_affinity: bool,
    /// Its pod (anti-)affinity terms, parsed.
    pub affinity: Option<Arc<crate::plugins::inter_pod_affinity::AffinityTerms>>,
}

static EMPTY_SPEC: std::sync::LazyLock<PodSpec> = std::sync::LazyLock::new(PodSpec::default);

impl PodInfo {
    pub fn new(pod: Arc<Pod>) -> PodInfo {
        let spec = pod.spec.as_ref().unwrap_or(&EMPTY_SPEC);
        let requests = pod_requests(spec, false);
        let non_zero_requests = pod_requests(spec, true);
        let host_ports = crate::plugins::node_ports::wanted(spec);
        let key = key_of(&pod);
        let affinity = crate::plugins::inter_pod_affinity::AffinityTerms::of(&pod).map(Arc::new);
        let has_affinity = affinity.is_some();
        let has_required_anti_affinity = affinity
            .as_ref()
            .is_some_and(|a| !a.required_anti_affinity.is_empty());
        PodInfo {
            pod,
            key,
            requests,
            non_zero_requests,
            host_ports,
            has_affinity,
            has_required_anti_affinity,
            affinity,
        }
    }

    pub fn spec(&self) -> &PodSpec {
        self.pod.spec.as_ref().unwrap_or(&EMPTY_SPEC)
    }

    pub fn namespace(&self) -> &str {
        self.pod.metadata.namespace.as_deref().unwrap_or("")
    }

    pub fn name(&self) -> &str {
        self.pod.metadata.name.as_deref().unwrap_or("")
    }

    pub fn uid(&self) -> &str {
        self.pod.metadata.uid.as_deref().unwrap_or("")
    }

    /// `spec.priority` (set by the Priority admission plugin), 0 when unset.
    pub fn priority(&self) -> i32 {
        self.spec().priority.unwrap_or(0)
    }

    /// `spec.schedulerName`, `default-scheduler` when unset.
    pub fn scheduler_name(&self) -> &str {
        self.spec()
            .scheduler_name
            .as_deref()
            .filter(|s| !s.is_empty())
            .unwrap_or(crate::DEFAULT_SCHEDULER_NAME)
    }

    /// `spec.nodeName`, empty while unassigned.
    pub fn node_name(&self) -> &str {
        self.spec().node_name.as_deref().unwrap_or("")
    }
}

/// `namespace/name` of a pod.
pub fn key_of(pod: &Pod) -> String {
    format!(
        "{}/{}",
        pod.metadata.namespace.as_deref().unwrap_or(""),
        pod.metadata.name.as_deref().unwrap_or("")
    )
}
