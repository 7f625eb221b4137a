//! What a pod asks of a node (upstream's `component-helpers/resource`
//! `PodRequests` and the scheduler's `calculateResource`): the sum of its
//! containers' requests, or the largest init container's when larger
//! (restartable init containers — sidecars — run beside the rest and count
//! for everything after them), plus the pod's overhead. For scoring, a
//! container without a cpu or memory request counts 100m / 200 MiB.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, PodSpec};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use skiff_api::validation::quantity::Quantity as Parsed;

/// Upstream's `schedutil.DefaultMilliCPURequest`.
pub const DEFAULT_MILLI_CPU_REQUEST: i64 = 100;
/// Upstream's `schedutil.DefaultMemoryRequest`.
pub const DEFAULT_MEMORY_REQUEST: i64 = 200 * 1024 * 1024;

/// Amounts of resources: cpu in millicores, the rest in units.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Resources {
    pub milli_cpu: i64,
    pub memory: i64,
    pub ephemeral_storage: i64,
    /// Extended resources, hugepages and attachable volumes, by name.
    pub scalar: BTreeMap<String, i64>,
}

/// A quantity in units (`milli`: in thousandths, as cpu), 0 when unparsable.
pub fn value(q: &Quantity, milli: bool) -> i64 {
    Parsed::parse(&q.0)
        .map(|p| p.scaled_value(if milli { -3 } else { 0 }))
        .unwrap_or(0)
}

impl Resources {
    /// The amounts of a resource list (`requests`, `allocatable`, `overhead`).
    pub fn from_list(list: &BTreeMap<String, Quantity>) -> Resources {
        let mut r = Resources::default();
        for (name, q) in list {
            match name.as_str() {
                "cpu" => r.milli_cpu = value(q, true),
                "memory" => r.memory = value(q, false),
                "ephemeral-storage" => r.ephemeral_storage = value(q, false),
                "pods" => {}
                other if is_scalar(other) => {
                    r.scalar.insert(other.to_string(), value(q, false));
                }
                _ => {}
            }
        }
        r
    }

    pub fn add(&mut self, other: &Resources) {
        self.milli_cpu += other.milli_cpu;
        self.memory += other.memory;
        self.ephemeral_storage += other.ephemeral_storage;
        for (k, v) in &other.scalar {
            *self.scalar.entry(k.clone()).or_default() += v;
        }
    }

    /// Takes `other` away (a pod leaving a node).
    pub fn sub(&mut self, other: &Resources) {
        self.milli_cpu -= other.milli_cpu;
        self.memory -= other.memory;
        self.ephemeral_storage -= other.ephemeral_storage;
        for (k, v) in &other.scalar {
            *self.scalar.entry(k.clone()).or_default() -= v;
        }
    }

    /// Each resource at the larger of the two.
    pub fn max(&mut self, other: &Resources) {
        self.milli_cpu = self.milli_cpu.max(other.milli_cpu);
        self.memory = self.memory.max(other.memory);
        self.ephemeral_storage = self.ephemeral_storage.max(other.ephemeral_storage);
        for (k, v) in &other.scalar {
            let e = self.scalar.entry(k.clone()).or_default();
            *e = (*e).max(*v);
        }
    }

    /// Whether nothing is asked for.
    pub fn is_zero(&self) -> bool {
        self.milli_cpu == 0
            && self.memory == 0
            && self.ephemeral_storage == 0
            && self.scalar.values().all(|v| *v == 0)
    }
}

/// Extended resources (`example.com/gpu`), hugepages and attachable volumes:
/// the resources upstream keeps as "scalar".
pub fn is_scalar(name: &str) -> bool {
    name.starts_with("hugepages-")
        || name.starts_with("attachable-volumes-")
        || (name.contains('/') && !name.starts_with("kubernetes.io/"))
}

/// A container's requests; with `non_zero`, a missing cpu or memory
/// request counts as the scoring default (an explicit 0 stays 0).
fn container_requests(c: &Container, non_zero: bool) -> Resources {
    let empty = BTreeMap::new();
    let list = c
        .resources
        .as_ref()
        .and_then(|r| r.requests.as_ref())
        .unwrap_or(&empty);
    let mut r = Resources::from_list(list);
    if non_zero {
        if !list.contains_key("cpu") {
            r.milli_cpu = DEFAULT_MILLI_CPU_REQUEST;
        }
        if !list.contains_key("memory") {
            r.memory = DEFAULT_MEMORY_REQUEST;
        }
    }
    r
}

/// Upstream's `PodRequests` of a pending pod (`non_zero`: with the scoring
/// defaults, as `NonZeroRequested`).
pub fn pod_requests(spec: &PodSpec, non_zero: bool) -> Resources {
    let mut reqs = Resources::default();
    for c in &spec.containers {
        reqs.add(&container_requests(c, non_zero));
    }
    let mut restartable = Resources::default();
    let mut init_max = Resources::default();
    for ic in spec.init_containers.iter().flatten() {
        let r = container_requests(ic, non_zero);
        let candidate = if ic.restart_policy.as_deref() == Some("Always") {
            reqs.add(&r);
            restartable.add(&r);
            restartable.clone()
        } else {
            let mut c = r;
            c.add(&restartable);
            c
        };
        init_max.max(&candidate);
    }
    reqs.max(&init_max);
    if let Some(overhead) = &spec.overhead {
        reqs.add(&Resources::from_list(overhead));
    }
    reqs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(v: serde_json::Value) -> PodSpec {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn requests_as_upstream() {
        // Containers add up; the largest init container wins when larger.
        let s = spec(serde_json::json!({
            "containers": [
                {"name": "a", "resources": {"requests": {"cpu": "100m", "memory": "1Gi"}}},
                {"name": "b", "resources": {"requests": {"cpu": "200m", "example.com/gpu": "1"}}},
            ],
            "initContainers": [
                {"name": "i", "resources": {"requests": {"cpu": "1", "memory": "100Mi"}}},
            ],
            "overhead": {"cpu": "10m"},
        }));
        let r = pod_requests(&s, false);
        assert_eq!(r.milli_cpu, 1000 + 10);
        assert_eq!(r.memory, 1 << 30);
        assert_eq!(r.scalar["example.com/gpu"], 1);
        // Sidecars run beside everything after them.
        let s = spec(serde_json::json!({
            "containers": [{"name": "a", "resources": {"requests": {"cpu": "500m"}}}],
            "initContainers": [
                {"name": "side", "restartPolicy": "Always", "resources": {"requests": {"cpu": "300m"}}},
                {"name": "init", "resources": {"requests": {"cpu": "600m"}}},
            ],
        }));
        // max(500 + 300, 300 + 600) = 900
        assert_eq!(pod_requests(&s, false).milli_cpu, 900);
        // Scoring defaults for missing requests, not for explicit zeros.
        let s = spec(serde_json::json!({
            "containers": [
                {"name": "a"},
                {"name": "b", "resources": {"requests": {"cpu": "0"}}},
            ],
        }));
        let r = pod_requests(&s, true);
        assert_eq!(r.milli_cpu, DEFAULT_MILLI_CPU_REQUEST);
        assert_eq!(r.memory, 2 * DEFAULT_MEMORY_REQUEST);
        assert!(pod_requests(&s, false).is_zero());
    }
}
