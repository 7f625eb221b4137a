//! The scheduling cycle alone, without the API: upstream's scheduler_perf
//! scenarios run on the scheduler's cache and framework in one thread
//! (each pod's binding confirmed at once), to show what the algorithm
//! costs apart from the API writes that bound `sched-bench`.
//!
//! Run: `cargo run --release -p api-bench --bin sched-cycle`

use std::sync::Arc;
use std::time::Instant;

use serde_json::{Value, json};
use skiff_scheduler::KubeSchedulerConfiguration;
use skiff_scheduler::cache::{Cache, Snapshot};
use skiff_scheduler::framework::{CycleState, PodInfo};
use skiff_scheduler::plugins::Handle;
use skiff_scheduler::schedule_one::Algorithm;

fn node(i: usize) -> Arc<k8s_openapi::api::core::v1::Node> {
    Arc::new(
        serde_json::from_value(json!({
            "metadata": {"name": format!("node-{i}"), "labels": {
                "kubernetes.io/hostname": format!("node-{i}"),
                "topology.kubernetes.io/zone": format!("zone-{}", i % 10),
            }},
            "status": {"allocatable": {"cpu": "4", "memory": "32Gi", "pods": "110"}},
        }))
        .unwrap(),
    )
}

fn pod(name: &str, extra: Value, priority: i32, cpu: &str) -> PodInfo {
    let mut spec = json!({
        "priority": priority,
        "containers": [{"name": "pause", "image": "registry.k8s.io/pause:3.10",
            "resources": {"requests": {"cpu": cpu, "memory": "500Mi"}, "limits": {"cpu": cpu, "memory": "500Mi"}}}],
    });
    let mut labels = json!({"app": "bench"});
    if let Some(o) = extra.as_object() {
        for (k, v) in o {
            if k == "labels" {
                labels = v.clone();
            } else {
                spec[k] = v.clone();
            }
        }
    }
    PodInfo::new(Arc::new(
        serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": "bench", "uid": name, "labels": labels},
            "spec": spec,
        }))
        .unwrap(),
    ))
}

struct Run {
    cache: Cache,
    snapshot: Snapshot,
    alg: Algorithm,
    fwk: Arc<skiff_scheduler::framework::Framework>,
}

impl Run {
    fn new(nodes: usize) -> Run {
        let mut cache = Cache::default();
        for i in 0..nodes {
            cache.add_node(node(i));
        }
        let fwk = KubeSchedulerConfiguration::default_config()
            .frameworks(&Handle::offline())
            .unwrap()
            .remove(0);
        Run {
            cache,
            snapshot: Snapshot::default(),
            alg: Algorithm::default(),
            fwk,
        }
    }

    /// Schedules a pod and confirms it at once; whether it found a node.
    fn schedule(&mut self, p: PodInfo) -> bool {
        self.cache.update_snapshot(&mut self.snapshot);
        let mut state = CycleState::default();
        match self
            .alg
            .schedule_pod(&self.fwk, &mut state, &p, &self.snapshot)
        {
            Ok(r) => {
                let mut bound = (*p.pod).clone();
                bound.spec.as_mut().unwrap().node_name = Some(r.node);
                self.cache.add_pod(Arc::new(PodInfo::new(Arc::new(bound))));
                true
            }
            Err(skiff_scheduler::schedule_one::ScheduleError::Fit(fit)) => {
                // As the scheduler does: preemption on a fit error.
                let (nominated, _) = self.fwk.run_post_filter(
                    &state,
                    &p,
                    &fit.diagnosis.node_to_status,
                    &self.snapshot.nodes,
                );
                if let Some(n) = nominated.filter(|n| !n.is_empty()) {
                    // The victims go at once, then the pod is placed there.
                    let victims: Vec<String> = self
                        .snapshot
                        .get(&n)
                        .unwrap()
                        .pods
                        .iter()
                        .filter(|v| v.priority() < p.priority())
                        .map(|v| v.key.clone())
                        .collect();
                    for v in victims.iter().take(1) {
                        self.cache.remove_pod(v);
                    }
                }
                false
            }
            Err(_) => false,
        }
    }
}

fn measure(
    name: &str,
    nodes: usize,
    init: impl Fn(usize) -> PodInfo,
    init_n: usize,
    pods: impl Fn(usize) -> PodInfo,
    n: usize,
) {
    // `sched-cycle NAME` runs only the scenarios whose name contains NAME.
    if let Some(only) = std::env::args().nth(1)
        && !name.contains(&only)
    {
        return;
    }
    let mut run = Run::new(nodes);
    for i in 0..init_n {
        run.schedule(init(i));
    }
    let started = Instant::now();
    let mut scheduled = 0;
    for i in 0..n {
        let p = pods(i);
        if run.schedule(p) {
            scheduled += 1;
        } else if run.schedule(pods(i)) {
            // preempted room: the retry lands
            scheduled += 1;
        }
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "| {name} | {nodes} | {init_n} | {n} | {scheduled} | {:.0} pods/s | {:.0} µs |",
        scheduled as f64 / secs,
        secs * 1e6 / n as f64
    );
}

fn main() {
    // The profile's DefaultBinder holds a client (never called here), whose
    // making needs a runtime.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let _guard = runtime.enter();
    println!("| scenario | nodes | init pods | measured pods | scheduled | throughput | per pod |");
    println!("|---|---|---|---|---|---|---|");
    let basic = |i: usize| pod(&format!("p-{i}"), json!({}), 0, "100m");
    measure(
        "SchedulingBasic",
        5000,
        basic,
        1000,
        |i| pod(&format!("m-{i}"), json!({}), 0, "100m"),
        10_000,
    );
    let anti = |prefix: &'static str| {
        move |i: usize| {
            pod(
                &format!("{prefix}-{i}"),
                json!({"labels": {"color": "green"}, "affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
                    {"labelSelector": {"matchLabels": {"color": "green"}}, "topologyKey": "kubernetes.io/hostname"}
                ]}}}),
                0,
                "100m",
            )
        }
    };
    measure(
        "SchedulingPodAntiAffinity",
        5000,
        anti("i"),
        1000,
        anti("m"),
        1000,
    );
    let spread = |prefix: &'static str| {
        move |i: usize| {
            pod(
                &format!("{prefix}-{i}"),
                json!({"labels": {"app": "spread"}, "topologySpreadConstraints": [
                    {"maxSkew": 5, "topologyKey": "topology.kubernetes.io/zone", "whenUnsatisfiable": "DoNotSchedule",
                     "labelSelector": {"matchLabels": {"app": "spread"}}}
                ]}),
                0,
                "100m",
            )
        }
    };
    measure(
        "SchedulingTopologySpread",
        5000,
        spread("i"),
        1000,
        spread("m"),
        5000,
    );
    // Preemption: 500 nodes full of low-priority pods; high-priority pods evict.
    measure(
        "PreemptionBasic",
        500,
        |i| pod(&format!("low-{i}"), json!({}), 1, "900m"),
        2000,
        |i| pod(&format!("high-{i}"), json!({}), 100, "900m"),
        500,
    );
}
