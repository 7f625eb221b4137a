//! The scheduler and simulated nodes as a user meets them: the real
//! `skiff server --sim-nodes` driven by the real kubectl. Pods land on
//! nodes that fit and run there; node selectors, taints and tolerations,
//! cordons and resource requests decide where, and a pod that fits nowhere
//! gets upstream's `FailedScheduling` message and `PodScheduled=False`
//! condition, then is placed as soon as the cluster changes for it. The
//! server restarts on the same data with its pods still running.

use std::time::{Duration, Instant};

use serde_json::Value;
use skiff_testutil::free_port;
use skiff_testutil::server::SkiffServer;

const SIM: &str = "resources: {cpu: \"2\", memory: 4Gi, pods: \"10\"}\nzones: 2\n";

fn server(dir: &std::path::Path) -> SkiffServer {
    let template = dir.join("sim.yaml");
    std::fs::write(&template, SIM).unwrap();
    let mut s = SkiffServer::new(
        &dir.join("data"),
        "127.0.0.1",
        free_port(),
        &[
            "--sim-nodes",
            "4",
            "--sim-config",
            template.to_str().unwrap(),
        ],
    );
    s.start().unwrap();
    s
}

/// Polls `f` until it gives Some, for at most 30 s.
fn eventually<T>(what: &str, s: &SkiffServer, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(v) = f() {
            return v;
        }
        if Instant::now() > deadline {
            panic!("timed out waiting for {what}\nserver log:\n{}", s.log());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn pod(s: &SkiffServer, name: &str) -> Value {
    s.json(&["get", "pod", name])
}

fn node_of(s: &SkiffServer, name: &str) -> Option<String> {
    pod(s, name)["spec"]["nodeName"]
        .as_str()
        .map(str::to_string)
}

/// The FailedScheduling messages of a pod, oldest first.
fn failed_schedulings(s: &SkiffServer, name: &str) -> Vec<String> {
    let events = s.json(&[
        "get",
        "events",
        "--field-selector",
        &format!("involvedObject.name={name},reason=FailedScheduling"),
        "--sort-by=.metadata.creationTimestamp",
    ]);
    events["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["message"].as_str().map(str::to_string))
        .collect()
}

/// The newest FailedScheduling message of a pod.
fn failed_scheduling(s: &SkiffServer, name: &str) -> Option<String> {
    failed_schedulings(s, name).pop()
}

fn run_pod(s: &SkiffServer, yaml: &str) {
    s.apply_stdin(&["apply", "-f", "-"], yaml);
}

#[test]
fn pods_run_on_simulated_nodes_where_they_fit() {
    let dir = tempfile::tempdir().unwrap();
    let s = server(dir.path());
    eventually("four Ready nodes", &s, || {
        let nodes = s.json(&["get", "nodes"]);
        let ready = nodes["items"].as_array()?.iter().filter(|n| {
            n["status"]["conditions"].as_array().is_some_and(|c| {
                c.iter()
                    .any(|c| c["type"] == "Ready" && c["status"] == "True")
            })
        });
        (ready.count() == 4).then_some(())
    });

    // A pod lands on a node, runs, and is ready with an IP from the node's range.
    s.ok(&["run", "web", "--image=busybox", "--restart=Never"]);
    s.ok(&["wait", "--for=condition=Ready", "pod/web", "--timeout=30s"]);
    let p = pod(&s, "web");
    let node = p["spec"]["nodeName"].as_str().unwrap().to_string();
    assert!(node.starts_with("sim-"), "{node}");
    assert!(
        p["status"]["podIP"]
            .as_str()
            .unwrap()
            .starts_with("10.128.")
    );
    assert_eq!(p["status"]["phase"], "Running");
    let events = s.ok(&[
        "get",
        "events",
        "--field-selector",
        "involvedObject.name=web",
    ]);
    assert!(
        events.contains(&format!("Successfully assigned default/web to {node}")),
        "{events}"
    );

    // A node selector picks the labelled node.
    s.ok(&["label", "node", "sim-3", "disk=ssd"]);
    run_pod(
        &s,
        "apiVersion: v1\nkind: Pod\nmetadata: {name: ssd}\nspec:\n  nodeSelector: {disk: ssd}\n  containers: [{name: c, image: busybox}]\n",
    );
    assert_eq!(eventually("ssd bound", &s, || node_of(&s, "ssd")), "sim-3");

    // Every node tainted: a pod without the toleration fits nowhere, with
    // upstream's message and condition; one with it is placed.
    for n in ["sim-0", "sim-1", "sim-2", "sim-3"] {
        s.ok(&["taint", "node", n, "dedicated=infra:NoSchedule"]);
    }
    s.ok(&["run", "plain", "--image=busybox", "--restart=Never"]);
    let message = eventually("FailedScheduling", &s, || failed_scheduling(&s, "plain"));
    assert_eq!(
        message,
        "0/4 nodes are available: 4 node(s) had untolerated taint {dedicated: infra}. preemption: 0/4 nodes are available: 4 Preemption is not helpful for scheduling."
    );
    let condition = eventually("PodScheduled=False", &s, || {
        pod(&s, "plain")["status"]["conditions"]
            .as_array()?
            .iter()
            .find(|c| c["type"] == "PodScheduled")
            .cloned()
    });
    assert_eq!(condition["status"], "False");
    assert_eq!(condition["reason"], "Unschedulable");
    assert_eq!(condition["message"], message.as_str());
    run_pod(
        &s,
        "apiVersion: v1\nkind: Pod\nmetadata: {name: tolerant}\nspec:\n  tolerations: [{key: dedicated, operator: Equal, value: infra, effect: NoSchedule}]\n  containers: [{name: c, image: busybox}]\n",
    );
    eventually("tolerant bound", &s, || node_of(&s, "tolerant"));

    // Untainting one node, cordoned meanwhile, then uncordoned: the parked
    // pod goes exactly there once it can.
    s.ok(&["cordon", "sim-1"]);
    s.ok(&["taint", "node", "sim-1", "dedicated-"]);
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(node_of(&s, "plain"), None, "cordoned");
    let message = eventually("the cordon in the message", &s, || {
        failed_scheduling(&s, "plain").filter(|m| m.contains("unschedulable"))
    });
    assert_eq!(
        message,
        "0/4 nodes are available: 1 node(s) were unschedulable, 3 node(s) had untolerated taint {dedicated: infra}. preemption: 0/4 nodes are available: 4 Preemption is not helpful for scheduling."
    );
    s.ok(&["uncordon", "sim-1"]);
    assert_eq!(
        eventually("plain bound", &s, || node_of(&s, "plain")),
        "sim-1"
    );
    s.ok(&[
        "wait",
        "--for=condition=Ready",
        "pod/plain",
        "--timeout=30s",
    ]);

    // Requests beyond every node's allocatable.
    for n in ["sim-0", "sim-2", "sim-3"] {
        s.ok(&["taint", "node", n, "dedicated-"]);
    }
    run_pod(
        &s,
        "apiVersion: v1\nkind: Pod\nmetadata: {name: huge}\nspec:\n  containers: [{name: c, image: busybox, resources: {requests: {cpu: \"3\", memory: 8Gi}}}]\n",
    );
    let message = eventually("huge refused", &s, || failed_scheduling(&s, "huge"));
    assert_eq!(
        message,
        "0/4 nodes are available: 4 Insufficient cpu, 4 Insufficient memory. preemption: 0/4 nodes are available: 4 No preemption victims found for incoming pod."
    );

    // Deleting a running pod: the node stops it and it is gone.
    s.ok(&["delete", "pod", "web", "--timeout=30s"]);
    assert!(s.kubectl(&["get", "pod", "web"]).is_err());

    // The scheduler's metrics are served with upstream's names (the
    // gauges are refreshed every second).
    eventually("the scheduler's metrics", &s, || {
        let metrics = s.ok(&["get", "--raw", "/metrics"]);
        (metrics.contains(
            "scheduler_schedule_attempts_total{profile=\"default-scheduler\",result=\"scheduled\"}",
        ) && metrics.contains("scheduler_pending_pods{queue=\"unschedulable\"} 1")
            && metrics.contains(
                "scheduler_framework_extension_point_duration_seconds_bucket{extension_point=\"PreFilter\",profile=\"default-scheduler\",status=\"Success\",le=\"0.0001\"}",
            ))
        .then_some(())
    });
}

#[test]
fn a_restarted_server_keeps_its_running_pods_and_schedules_new_ones() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = server(dir.path());
    for name in ["a", "b", "c"] {
        s.ok(&["run", name, "--image=busybox", "--restart=Never"]);
    }
    for name in ["a", "b", "c"] {
        s.ok(&[
            "wait",
            "--for=condition=Ready",
            &format!("pod/{name}"),
            "--timeout=30s",
        ]);
    }
    let before: Vec<Option<String>> = ["a", "b", "c"].iter().map(|n| node_of(&s, n)).collect();
    s.terminate().unwrap();
    s.start().unwrap();
    let after: Vec<Option<String>> = ["a", "b", "c"].iter().map(|n| node_of(&s, n)).collect();
    assert_eq!(before, after, "bindings survive the restart");
    s.ok(&["run", "d", "--image=busybox", "--restart=Never"]);
    s.ok(&["wait", "--for=condition=Ready", "pod/d", "--timeout=30s"]);
    for name in ["a", "b", "c"] {
        s.ok(&[
            "wait",
            "--for=condition=Ready",
            &format!("pod/{name}"),
            "--timeout=30s",
        ]);
    }
    // SIGKILL too: the nodes register again and pods keep running.
    s.kill();
    s.start().unwrap();
    s.ok(&["run", "e", "--image=busybox", "--restart=Never"]);
    s.ok(&["wait", "--for=condition=Ready", "pod/e", "--timeout=30s"]);
    assert_eq!(
        s.json(&["get", "nodes"])["items"].as_array().unwrap().len(),
        4
    );
}

#[test]
fn affinity_spreading_and_preemption_as_upstream() {
    let dir = tempfile::tempdir().unwrap();
    let s = server(dir.path());
    eventually("four nodes", &s, || {
        (s.json(&["get", "nodes"])["items"].as_array()?.len() == 4).then_some(())
    });

    // Required anti-affinity by hostname: three replicas on three nodes.
    for i in 0..3 {
        run_pod(
            &s,
            &format!(
                "apiVersion: v1\nkind: Pod\nmetadata: {{name: db-{i}, labels: {{app: db}}}}\nspec:\n  affinity:\n    podAntiAffinity:\n      requiredDuringSchedulingIgnoredDuringExecution:\n      - labelSelector: {{matchLabels: {{app: db}}}}\n        topologyKey: kubernetes.io/hostname\n  containers: [{{name: c, image: busybox}}]\n"
            ),
        );
        eventually("db bound", &s, || node_of(&s, &format!("db-{i}")));
    }
    let mut nodes: Vec<String> = (0..3)
        .map(|i| node_of(&s, &format!("db-{i}")).unwrap())
        .collect();
    nodes.sort();
    nodes.dedup();
    assert_eq!(nodes.len(), 3, "one per node: {nodes:?}");

    // Required affinity to a db pod's zone.
    let zone_of = |node: &str| {
        s.json(&["get", "node", node])["metadata"]["labels"]["topology.kubernetes.io/zone"]
            .as_str()
            .unwrap()
            .to_string()
    };
    run_pod(
        &s,
        "apiVersion: v1\nkind: Pod\nmetadata: {name: cache}\nspec:\n  affinity:\n    podAffinity:\n      requiredDuringSchedulingIgnoredDuringExecution:\n      - labelSelector: {matchLabels: {app: db}}\n        topologyKey: topology.kubernetes.io/zone\n  containers: [{name: c, image: busybox}]\n",
    );
    let cache_node = eventually("cache bound", &s, || node_of(&s, "cache"));
    assert!(["zone-0", "zone-1"].contains(&zone_of(&cache_node).as_str()));
    // Affinity to nothing: refused with upstream's words.
    run_pod(
        &s,
        "apiVersion: v1\nkind: Pod\nmetadata: {name: lonely}\nspec:\n  affinity:\n    podAffinity:\n      requiredDuringSchedulingIgnoredDuringExecution:\n      - labelSelector: {matchLabels: {app: nothing}}\n        topologyKey: topology.kubernetes.io/zone\n  containers: [{name: c, image: busybox}]\n",
    );
    let message = eventually("lonely refused", &s, || failed_scheduling(&s, "lonely"));
    assert!(
        message.starts_with("0/4 nodes are available: 4 node(s) didn't match pod affinity rules."),
        "{message}"
    );
    // A fourth db replica fits nowhere but the node without one.
    run_pod(
        &s,
        "apiVersion: v1\nkind: Pod\nmetadata: {name: db-3, labels: {app: db}}\nspec:\n  affinity:\n    podAntiAffinity:\n      requiredDuringSchedulingIgnoredDuringExecution:\n      - labelSelector: {matchLabels: {app: db}}\n        topologyKey: kubernetes.io/hostname\n  containers: [{name: c, image: busybox}]\n",
    );
    let last = eventually("db-3 bound", &s, || node_of(&s, "db-3"));
    assert!(!nodes.contains(&last));

    // Topology spread over zones, DoNotSchedule, maxSkew 1: four pods, two per zone.
    for i in 0..4 {
        run_pod(
            &s,
            &format!(
                "apiVersion: v1\nkind: Pod\nmetadata: {{name: web-{i}, labels: {{app: web}}}}\nspec:\n  topologySpreadConstraints:\n  - maxSkew: 1\n    topologyKey: topology.kubernetes.io/zone\n    whenUnsatisfiable: DoNotSchedule\n    labelSelector: {{matchLabels: {{app: web}}}}\n  containers: [{{name: c, image: busybox}}]\n"
            ),
        );
        eventually("web bound", &s, || node_of(&s, &format!("web-{i}")));
    }
    let mut per_zone = std::collections::BTreeMap::new();
    for i in 0..4 {
        *per_zone
            .entry(zone_of(&node_of(&s, &format!("web-{i}")).unwrap()))
            .or_insert(0) += 1;
    }
    assert_eq!(
        per_zone.values().copied().collect::<Vec<_>>(),
        [2, 2],
        "{per_zone:?}"
    );

    // Preemption: low-priority pods fill every node's cpu; a high-priority
    // pod evicts one of them, is nominated, then bound.
    s.apply_stdin(
        &["apply", "-f", "-"],
        "apiVersion: scheduling.k8s.io/v1\nkind: PriorityClass\nmetadata: {name: low}\nvalue: 10\n---\napiVersion: scheduling.k8s.io/v1\nkind: PriorityClass\nmetadata: {name: high}\nvalue: 1000\n",
    );
    for i in 0..4 {
        run_pod(
            &s,
            &format!(
                "apiVersion: v1\nkind: Pod\nmetadata: {{name: filler-{i}}}\nspec:\n  priorityClassName: low\n  containers: [{{name: c, image: busybox, resources: {{requests: {{cpu: 1500m}}}}}}]\n"
            ),
        );
        eventually("filler bound", &s, || node_of(&s, &format!("filler-{i}")));
    }
    run_pod(
        &s,
        "apiVersion: v1\nkind: Pod\nmetadata: {name: vip}\nspec:\n  priorityClassName: high\n  containers: [{name: c, image: busybox, resources: {requests: {cpu: 1500m}}}]\n",
    );
    let vip_node = eventually("vip bound", &s, || node_of(&s, "vip"));
    // Preemption succeeded: no preemption suffix (later attempts, while
    // the victim terminates, say so).
    let first = eventually("vip's FailedScheduling", &s, || {
        failed_schedulings(&s, "vip").into_iter().next()
    });
    assert_eq!(first, "0/4 nodes are available: 4 Insufficient cpu.");
    let fillers: Vec<String> = (0..4)
        .filter(|i| s.kubectl(&["get", "pod", &format!("filler-{i}")]).is_ok())
        .map(|i| format!("filler-{i}"))
        .collect();
    assert_eq!(fillers.len(), 3, "exactly one victim: {fillers:?}");
    let events = s.ok(&["get", "events", "--field-selector", "reason=Preempted"]);
    assert!(events.contains(&format!("on node {vip_node}")), "{events}");
    // A pod that may not preempt (its class says Never) says so.
    s.apply_stdin(
        &["apply", "-f", "-"],
        "apiVersion: scheduling.k8s.io/v1\nkind: PriorityClass\nmetadata: {name: high-polite}\nvalue: 1000\npreemptionPolicy: Never\n",
    );
    run_pod(
        &s,
        "apiVersion: v1\nkind: Pod\nmetadata: {name: polite}\nspec:\n  priorityClassName: high-polite\n  containers: [{name: c, image: busybox, resources: {requests: {cpu: 1500m}}}]\n",
    );
    // A claim that does not exist: refused before any node is looked at.
    run_pod(
        &s,
        "apiVersion: v1\nkind: Pod\nmetadata: {name: claims}\nspec:\n  volumes: [{name: v, persistentVolumeClaim: {claimName: data}}]\n  containers: [{name: c, image: busybox}]\n",
    );
    let message = eventually("claims refused", &s, || failed_scheduling(&s, "claims"));
    assert_eq!(
        message,
        "0/4 nodes are available: persistentvolumeclaim \"data\" not found. preemption: 0/4 nodes are available: 4 Preemption is not helpful for scheduling."
    );
    let message = eventually("polite refused", &s, || failed_scheduling(&s, "polite"));
    assert_eq!(
        message,
        "0/4 nodes are available: 4 Insufficient cpu. preemption: not eligible due to preemptionPolicy=Never."
    );
}

/// A `skiff scheduler` process against the server, killed when dropped.
struct Remote(std::process::Child);

impl Drop for Remote {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn remote_scheduler(s: &SkiffServer, log: &std::path::Path) -> Remote {
    let log = std::fs::File::create(log).unwrap();
    Remote(
        std::process::Command::new(skiff_testutil::server::skiff_binary())
            .args(["scheduler", "--kubeconfig"])
            .arg(s.kubeconfig())
            .stderr(log)
            .spawn()
            .unwrap(),
    )
}

#[test]
fn two_schedulers_elect_one_leader_and_the_other_takes_over() {
    let dir = tempfile::tempdir().unwrap();
    let template = dir.path().join("sim.yaml");
    std::fs::write(&template, SIM).unwrap();
    let mut s = SkiffServer::new(
        &dir.path().join("data"),
        "127.0.0.1",
        free_port(),
        &[
            "--disable-scheduler",
            "--sim-nodes",
            "2",
            "--sim-config",
            template.to_str().unwrap(),
        ],
    );
    s.start().unwrap();
    let mut a = Some(remote_scheduler(&s, &dir.path().join("a.log")));
    let _b = remote_scheduler(&s, &dir.path().join("b.log"));
    let lease = eventually("the scheduler's lease", &s, || {
        s.kubectl(&[
            "get",
            "lease",
            "-n",
            "kube-system",
            "kube-scheduler",
            "-o",
            "json",
        ])
        .ok()
        .and_then(|o| serde_json::from_str::<Value>(&o).ok())
    });
    assert_eq!(lease["spec"]["leaseDurationSeconds"], 15);
    let holder = lease["spec"]["holderIdentity"]
        .as_str()
        .unwrap()
        .to_string();
    s.ok(&["run", "first", "--image=busybox", "--restart=Never"]);
    eventually("first bound", &s, || node_of(&s, "first"));
    // One leader at a time: the holder stays while both run.
    std::thread::sleep(Duration::from_secs(3));
    let still = s.json(&["get", "lease", "-n", "kube-system", "kube-scheduler"]);
    assert_eq!(still["spec"]["holderIdentity"], holder.as_str());
    // Killing one: pods are still placed, by whichever remains (within the
    // 15 s lease duration and a retry when it was the leader).
    drop(a.take());
    s.ok(&["run", "second", "--image=busybox", "--restart=Never"]);
    let deadline = Instant::now() + Duration::from_secs(40);
    while node_of(&s, "second").is_none() {
        assert!(
            Instant::now() < deadline,
            "no scheduler took over\n{}",
            s.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}
