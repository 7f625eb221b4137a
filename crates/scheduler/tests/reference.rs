//! Decisions equal to kube-scheduler's: seeded random clusters (node
//! sizes, zones and disk labels, taints, cordons, existing pods) and random
//! pods (requests, node selectors, tolerations, preferred node affinity),
//! scheduled by the default profile and by a straightforward reference
//! implementation of upstream's formulas written here from its plugin code
//! (NodeResourcesFit LeastAllocated with the 100m / 200 MiB scoring
//! defaults, BalancedAllocation, TaintToleration and NodeAffinity with
//! their normalizations, weights 1, 1, 3 and 2). For every pod the
//! feasible nodes and every feasible node's total score must match.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Node, Pod};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use skiff_scheduler::cache::{Cache, Snapshot};
use skiff_scheduler::framework::{CycleState, PodInfo};
use skiff_scheduler::plugins::Handle;
use skiff_scheduler::schedule_one::prioritize_nodes;

const MIB: i64 = 1024 * 1024;

struct RefNode {
    name: String,
    cpu: i64,
    mem: i64,
    pods: i64,
    labels: BTreeMap<String, String>,
    /// (key, value, effect)
    taints: Vec<(String, String, String)>,
    unschedulable: bool,
    /// Requested (real) and with defaults (non-zero), and pod count.
    used_cpu: i64,
    used_mem: i64,
    nz_cpu: i64,
    nz_mem: i64,
    count: i64,
}

struct RefPod {
    cpu: Option<i64>,
    mem: Option<i64>,
    selector: BTreeMap<String, String>,
    /// (key, value, effect) with operator Equal; ("", "", "") tolerates all.
    tolerations: Vec<(String, String, String)>,
    /// (weight, label key, label value)
    preferred: Vec<(i32, String, String)>,
}

fn random_cluster(rng: &mut StdRng) -> Vec<RefNode> {
    let n = rng.random_range(3..40);
    (0..n)
        .map(|i| {
            let mut labels = BTreeMap::new();
            labels.insert("kubernetes.io/hostname".to_string(), format!("n{i}"));
            labels.insert("zone".to_string(), format!("z{}", rng.random_range(0..3)));
            if rng.random_bool(0.5) {
                labels.insert(
                    "disk".to_string(),
                    ["ssd", "hdd"][rng.random_range(0..2)].to_string(),
                );
            }
            let mut taints = Vec::new();
            if rng.random_bool(0.2) {
                taints.push(("dedicated".into(), "infra".into(), "NoSchedule".into()));
            }
            if rng.random_bool(0.3) {
                taints.push(("flaky".into(), "yes".into(), "PreferNoSchedule".into()));
            }
            if rng.random_bool(0.2) {
                taints.push(("old".into(), "".into(), "PreferNoSchedule".into()));
            }
            RefNode {
                name: format!("n{i}"),
                cpu: 1000 * rng.random_range(1..9),
                mem: 1024 * MIB * rng.random_range(1..17),
                pods: rng.random_range(3..20),
                labels,
                taints,
                unschedulable: rng.random_bool(0.05),
                used_cpu: 0,
                used_mem: 0,
                nz_cpu: 0,
                nz_mem: 0,
                count: 0,
            }
        })
        .collect()
}

fn random_pod(rng: &mut StdRng) -> RefPod {
    let mut selector = BTreeMap::new();
    if rng.random_bool(0.2) {
        selector.insert("disk".to_string(), "ssd".to_string());
    }
    let mut tolerations = Vec::new();
    if rng.random_bool(0.3) {
        tolerations.push(("dedicated".into(), "infra".into(), "NoSchedule".into()));
    }
    if rng.random_bool(0.3) {
        tolerations.push(("flaky".into(), "yes".into(), "PreferNoSchedule".into()));
    }
    let mut preferred = Vec::new();
    for _ in 0..rng.random_range(0..3) {
        let zone = format!("z{}", rng.random_range(0..3));
        preferred.push((rng.random_range(1..100), "zone".to_string(), zone));
    }
    RefPod {
        cpu: rng.random_bool(0.8).then(|| 100 * rng.random_range(1..30)),
        mem: rng
            .random_bool(0.8)
            .then(|| 128 * MIB * rng.random_range(1..20)),
        selector,
        tolerations,
        preferred,
    }
}

fn node_object(n: &RefNode) -> Arc<Node> {
    let taints: Vec<Value> = n
        .taints
        .iter()
        .map(|(k, v, e)| json!({"key": k, "value": v, "effect": e}))
        .collect();
    Arc::new(
        serde_json::from_value(json!({
            "metadata": {"name": n.name, "labels": n.labels},
            "spec": {"taints": taints, "unschedulable": n.unschedulable},
            "status": {"allocatable": {"cpu": format!("{}m", n.cpu), "memory": n.mem.to_string(), "pods": n.pods.to_string()}},
        }))
        .unwrap(),
    )
}

fn pod_object(name: &str, p: &RefPod, node: Option<&str>) -> Pod {
    let mut requests = serde_json::Map::new();
    if let Some(c) = p.cpu {
        requests.insert("cpu".into(), json!(format!("{c}m")));
    }
    if let Some(m) = p.mem {
        requests.insert("memory".into(), json!(m.to_string()));
    }
    let tolerations: Vec<Value> = p
        .tolerations
        .iter()
        .map(|(k, v, e)| json!({"key": k, "operator": "Equal", "value": v, "effect": e}))
        .collect();
    let preferred: Vec<Value> = p
        .preferred
        .iter()
        .map(|(w, k, v)| json!({"weight": w, "preference": {"matchExpressions": [{"key": k, "operator": "In", "values": [v]}]}}))
        .collect();
    let mut spec = json!({
        "containers": [{"name": "c", "image": "i", "resources": {"requests": requests}}],
        "nodeSelector": p.selector,
        "tolerations": tolerations,
    });
    if !preferred.is_empty() {
        spec["affinity"] =
            json!({"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": preferred}});
    }
    if let Some(n) = node {
        spec["nodeName"] = json!(n);
    }
    serde_json::from_value(
        json!({"metadata": {"name": name, "namespace": "default", "uid": name}, "spec": spec}),
    )
    .unwrap()
}

/// Upstream's filters for these inputs.
fn ref_fits(n: &RefNode, p: &RefPod) -> bool {
    let tolerated = |effect: &str, key: &str, value: &str| {
        p.tolerations
            .iter()
            .any(|(k, v, e)| e == effect && k == key && v == value)
    };
    if n.unschedulable {
        return false;
    }
    if n.taints
        .iter()
        .any(|(k, v, e)| e == "NoSchedule" && !tolerated(e, k, v))
    {
        return false;
    }
    if p.selector.iter().any(|(k, v)| n.labels.get(k) != Some(v)) {
        return false;
    }
    if n.count + 1 > n.pods {
        return false;
    }
    let cpu = p.cpu.unwrap_or(0);
    let mem = p.mem.unwrap_or(0);
    !(cpu > 0 && cpu > n.cpu - n.used_cpu || mem > 0 && mem > n.mem - n.used_mem)
}

/// Upstream's weighted, normalized total per feasible node.
fn ref_scores(nodes: &[&RefNode], p: &RefPod) -> Vec<i64> {
    // TaintToleration: untolerated PreferNoSchedule taints, reversed.
    let raw_taint: Vec<i64> = nodes
        .iter()
        .map(|n| {
            n.taints
                .iter()
                .filter(|(k, v, e)| {
                    e == "PreferNoSchedule"
                        && !p.tolerations.iter().any(|(tk, tv, te)| {
                            (te.is_empty() || te == "PreferNoSchedule") && tk == k && tv == v
                        })
                })
                .count() as i64
        })
        .collect();
    let max_t = raw_taint.iter().copied().max().unwrap_or(0);
    let taint: Vec<i64> = raw_taint
        .iter()
        .map(|r| {
            if max_t == 0 {
                100
            } else {
                100 - 100 * r / max_t
            }
        })
        .collect();
    // NodeAffinity: preferred weights, normalized to the best.
    let raw_aff: Vec<i64> = nodes
        .iter()
        .map(|n| {
            p.preferred
                .iter()
                .filter(|(_, k, v)| n.labels.get(k) == Some(v))
                .map(|(w, _, _)| i64::from(*w))
                .sum()
        })
        .collect();
    let max_a = raw_aff.iter().copied().max().unwrap_or(0);
    let aff: Vec<i64> = raw_aff
        .iter()
        .map(|r| if max_a == 0 { 0 } else { 100 * r / max_a })
        .collect();
    let nz_cpu = p.cpu.unwrap_or(100);
    let nz_mem = p.mem.unwrap_or(200 * MIB);
    nodes
        .iter()
        .enumerate()
        .map(|(i, n)| {
            // LeastAllocated over cpu and memory with the scoring defaults.
            let least = |alloc: i64, req: i64| {
                if alloc == 0 || req > alloc {
                    0
                } else {
                    (alloc - req) * 100 / alloc
                }
            };
            let fit = (least(n.cpu, n.nz_cpu + nz_cpu) + least(n.mem, n.nz_mem + nz_mem)) / 2;
            // BalancedAllocation: real requests; skipped for best-effort pods.
            let balanced = if p.cpu.unwrap_or(0) == 0 && p.mem.unwrap_or(0) == 0 {
                0
            } else {
                let fc = ((n.used_cpu + p.cpu.unwrap_or(0)) as f64 / n.cpu as f64).min(1.0);
                let fm = ((n.used_mem + p.mem.unwrap_or(0)) as f64 / n.mem as f64).min(1.0);
                ((1.0 - (fc - fm).abs() / 2.0) * 100.0) as i64
            };
            3 * taint[i] + 2 * aff[i] + fit + balanced
        })
        .collect()
}

#[tokio::test]
async fn random_clusters_get_upstreams_feasible_nodes_and_scores() {
    let fwk = skiff_scheduler::KubeSchedulerConfiguration::default_config()
        .frameworks(&Handle::offline())
        .unwrap()
        .remove(0);
    let (mut compared, mut refused) = (0, 0);
    for seed in 0..30u64 {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut nodes = random_cluster(&mut rng);
        let mut cache = Cache::default();
        for n in &nodes {
            cache.add_node(node_object(n));
        }
        // Existing pods, placed where the reference says they fit.
        for i in 0..rng.random_range(0..60) {
            let p = random_pod(&mut rng);
            let j = rng.random_range(0..nodes.len());
            if !ref_fits(&nodes[j], &p) {
                continue;
            }
            let n = &mut nodes[j];
            n.used_cpu += p.cpu.unwrap_or(0);
            n.used_mem += p.mem.unwrap_or(0);
            n.nz_cpu += p.cpu.unwrap_or(100);
            n.nz_mem += p.mem.unwrap_or(200 * MIB);
            n.count += 1;
            cache.add_pod(Arc::new(PodInfo::new(Arc::new(pod_object(
                &format!("e{i}"),
                &p,
                Some(&n.name),
            )))));
        }
        let mut snapshot = Snapshot::default();
        cache.update_snapshot(&mut snapshot);
        for k in 0..20 {
            let p = random_pod(&mut rng);
            let info = PodInfo::new(Arc::new(pod_object(&format!("p{k}"), &p, None)));
            let mut state = CycleState::default();
            let (_, s) = fwk.run_pre_filter(&mut state, &info, &snapshot.nodes);
            assert!(s.is_success() || s.is_rejected(), "{s:?}");
            let feasible: Vec<_> = snapshot
                .nodes
                .iter()
                .filter(|n| s.is_success() && fwk.run_filter(&state, &info, n).is_success())
                .cloned()
                .collect();
            let names: Vec<&str> = feasible.iter().map(|n| n.name.as_str()).collect();
            let by_name: BTreeMap<&str, &RefNode> =
                nodes.iter().map(|n| (n.name.as_str(), n)).collect();
            let mut expected: Vec<&str> = snapshot
                .nodes
                .iter()
                .map(|n| n.name.as_str())
                .filter(|n| ref_fits(by_name[n], &p))
                .collect();
            let mut got = names.clone();
            got.sort();
            expected.sort();
            assert_eq!(got, expected, "seed {seed} pod {k}: feasible nodes");
            if feasible.is_empty() {
                refused += 1;
            }
            if feasible.len() < 2 {
                continue;
            }
            compared += 1;
            let totals =
                prioritize_nodes(&fwk, &mut state, &info, &feasible, &snapshot.nodes).unwrap();
            let refs: Vec<&RefNode> = names.iter().map(|n| by_name[n]).collect();
            assert_eq!(
                totals,
                ref_scores(&refs, &p),
                "seed {seed} pod {k}: scores of {names:?}"
            );
        }
    }
    // The cases exercised both verdicts and many score comparisons.
    assert!(
        compared > 300 && refused > 10,
        "compared {compared}, refused {refused}"
    );
}
