//! Simulated nodes (as kwok does, but with the agent's own pod lifecycle):
//! [`SimRuntime`] is a container runtime whose containers start at once
//! (or after a set delay) and, in pods owned by a Job, exit successfully
//! after a set time; a [`Fleet`] registers many nodes in one process,
//! keeps their Leases and statuses fresh with one timer for all, and runs
//! the pods bound to them through [`crate::pod_worker`] and
//! [`crate::status`] — the code a real node runs — over one shared pod
//! watch rather than a watch per node.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt};
use k8s_openapi::api::core::v1::{Container, Pod, Taint};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DeleteParams, Patch, PatchParams, Preconditions};
use kube::runtime::watcher;
use tokio::sync::mpsc;

use crate::node::{self, NodeConfig};
use crate::pod_worker::{self, PodState};
use crate::runtime::{
    ContainerInfo, ContainerState, LifecycleEvent, Runtime, RuntimeError, Sandbox,
};
use crate::status;

/// How simulated containers behave.
#[derive(Clone, Debug, Default)]
pub struct SimBehaviour {
    /// How long a container takes to start.
    pub start_delay: Duration,
    /// How long containers of Job pods run before exiting 0 (None: forever).
    pub job_duration: Option<Duration>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// One simulated node's runtime: containers are entries in a map.
pub struct SimRuntime {
    /// The node's pod network, `a.b.c.` of its /24.
    prefix: String,
    behaviour: SimBehaviour,
    containers: Arc<Mutex<HashMap<String, ContainerInfo>>>,
    /// Which sandbox each container runs in.
    sandbox_of: Arc<Mutex<HashMap<String, String>>>,
    used_ips: Mutex<HashSet<u8>>,
    ips: Mutex<HashMap<String, u8>>,
    events: mpsc::UnboundedSender<LifecycleEvent>,
    next_id: Arc<AtomicU64>,
}

impl SimRuntime {
    pub fn new(
        prefix: String,
        behaviour: SimBehaviour,
        events: mpsc::UnboundedSender<LifecycleEvent>,
        ids: Arc<AtomicU64>,
    ) -> SimRuntime {
        SimRuntime {
            prefix,
            behaviour,
            containers: Arc::default(),
            sandbox_of: Arc::default(),
            used_ips: Mutex::default(),
            ips: Mutex::default(),
            events,
            next_id: ids,
        }
    }

    fn id(&self) -> String {
        format!("{:064x}", self.next_id.fetch_add(1, Ordering::Relaxed))
    }
}

fn owned_by_job(pod: &Pod) -> bool {
    pod.metadata
        .owner_references
        .iter()
        .flatten()
        .any(|o| o.kind == "Job" && o.controller == Some(true))
}

impl Runtime for SimRuntime {
    fn version(&self) -> String {
        "sim://1.0.0".into()
    }

    fn run_pod_sandbox(&self, pod: &Pod) -> BoxFuture<'static, Result<Sandbox, RuntimeError>> {
        let host_network = pod
            .spec
            .as_ref()
            .and_then(|s| s.host_network)
            .unwrap_or(false);
        let id = self.id();
        let ip = if host_network {
            String::new()
        } else {
            let mut used = lock(&self.used_ips);
            match (2..=254u8).find(|i| !used.contains(i)) {
                Some(i) => {
                    used.insert(i);
                    lock(&self.ips).insert(id.clone(), i);
                    format!("{}{i}", self.prefix)
                }
                None => {
                    return futures::future::ready(Err(RuntimeError {
                        reason: "FailedCreatePodSandBox".into(),
                        message: "no IP addresses available in range set".into(),
                    }))
                    .boxed();
                }
            }
        };
        futures::future::ready(Ok(Sandbox { id, ip })).boxed()
    }

    fn start_container(
        &self,
        sandbox: &Sandbox,
        pod: &Pod,
        container: &Container,
    ) -> BoxFuture<'static, Result<ContainerInfo, RuntimeError>> {
        let id = format!("sim://{}", self.id());
        let delay = self.behaviour.start_delay;
        // Init containers (not sidecars) complete at once; Job pods'
        // containers after the configured time.
        let init = pod
            .spec
            .as_ref()
            .and_then(|s| s.init_containers.as_ref())
            .is_some_and(|inits| inits.iter().any(|c| c.name == container.name))
            && container.restart_policy.as_deref() != Some("Always");
        let run_for = if init {
            Some(Duration::ZERO)
        } else {
            self.behaviour.job_duration.filter(|_| owned_by_job(pod))
        };
        let containers = self.containers.clone();
        let events = self.events.clone();
        let pod_uid = pod.metadata.uid.clone().unwrap_or_default();
        lock(&self.sandbox_of).insert(id.clone(), sandbox.id.clone());
        async move {
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            let started_at = Timestamp::now();
            let info = ContainerInfo {
                id: id.clone(),
                image_id: "sim://image".into(),
                state: ContainerState::Running { started_at },
            };
            lock(&containers).insert(id.clone(), info.clone());
            if let Some(d) = run_for {
                tokio::spawn(async move {
                    if !d.is_zero() {
                        tokio::time::sleep(d).await;
                    }
                    if let Some(c) = lock(&containers).get_mut(&id)
                        && matches!(c.state, ContainerState::Running { .. })
                    {
                        c.state = ContainerState::Exited {
                            exit_code: 0,
                            reason: "Completed".into(),
                            started_at,
                            finished_at: Timestamp::now(),
                        };
                    }
                    let _ = events.send(LifecycleEvent {
                        pod_uid,
                        container_id: id,
                    });
                });
            }
            Ok(info)
        }
        .boxed()
    }

    fn container_state(&self, id: &str) -> Option<ContainerInfo> {
        lock(&self.containers).get(id).cloned()
    }

    fn stop_container(&self, id: &str, _grace_seconds: i64) -> BoxFuture<'static, ()> {
        if let Some(c) = lock(&self.containers).get_mut(id)
            && let ContainerState::Running { started_at } = c.state
        {
            // The simulated process exits on SIGTERM, successfully.
            c.state = ContainerState::Exited {
                exit_code: 0,
                reason: "Completed".into(),
                started_at,
                finished_at: Timestamp::now(),
            };
        }
        futures::future::ready(()).boxed()
    }

    fn remove_pod_sandbox(&self, sandbox: &Sandbox) -> BoxFuture<'static, ()> {
        let mut of = lock(&self.sandbox_of);
        let ids: Vec<String> = of
            .iter()
            .filter(|(_, s)| **s == sandbox.id)
            .map(|(c, _)| c.clone())
            .collect();
        let mut containers = lock(&self.containers);
        for id in ids {
            of.remove(&id);
            containers.remove(&id);
        }
        if let Some(i) = lock(&self.ips).remove(&sandbox.id) {
            lock(&self.used_ips).remove(&i);
        }
        futures::future::ready(()).boxed()
    }
}

/// What the simulated nodes look like.
#[derive(Clone, Debug)]
pub struct FleetOptions {
    /// How many nodes, named `<prefix><i>`.
    pub nodes: usize,
    pub prefix: String,
    /// Capacity of each (cpu, memory, pods, ...).
    pub resources: BTreeMap<String, String>,
    /// Labels of each; `topology.kubernetes.io/zone` spread over `zones`.
    pub labels: BTreeMap<String, String>,
    pub zones: usize,
    pub taints: Vec<Taint>,
    pub behaviour: SimBehaviour,
}

impl Default for FleetOptions {
    fn default() -> Self {
        FleetOptions {
            nodes: 0,
            prefix: "sim-".into(),
            resources: BTreeMap::from([
                ("cpu".to_string(), "32".to_string()),
                ("memory".to_string(), "256Gi".to_string()),
                ("pods".to_string(), "110".to_string()),
                ("ephemeral-storage".to_string(), "100Gi".to_string()),
            ]),
            labels: BTreeMap::new(),
            zones: 3,
            taints: Vec::new(),
            behaviour: SimBehaviour::default(),
        }
    }
}

/// A fleet's template as a file gives it (`--sim-config`): every field
/// optional, e.g.
///
/// ```yaml
/// resources: {cpu: "32", memory: 256Gi, pods: "110"}
/// labels: {node.kubernetes.io/instance-type: sim.large}
/// zones: 3
/// taints: [{key: dedicated, value: sim, effect: NoSchedule}]
/// startDelay: 2s
/// jobDuration: 30s
/// ```
#[derive(Clone, Debug, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SimConfig {
    pub resources: Option<BTreeMap<String, String>>,
    pub labels: Option<BTreeMap<String, String>>,
    pub zones: Option<usize>,
    pub taints: Option<Vec<Taint>>,
    pub start_delay: Option<String>,
    pub job_duration: Option<String>,
    pub prefix: Option<String>,
}

/// A duration as `1.5s`, `250ms`, `2m`, `1h`.
fn duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (number, unit) = s
        .find(|c: char| c.is_ascii_alphabetic())
        .map(|i| s.split_at(i))
        .ok_or_else(|| format!("invalid duration {s:?}: no unit"))?;
    let n: f64 = number
        .parse()
        .map_err(|_| format!("invalid duration {s:?}"))?;
    let seconds = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(format!("invalid duration {s:?}: unit {unit:?}")),
    };
    if !(seconds >= 0.0 && seconds.is_finite()) {
        return Err(format!("invalid duration {s:?}"));
    }
    Ok(Duration::from_secs_f64(seconds))
}

impl SimConfig {
    /// Reads a template file (YAML or JSON).
    pub fn parse(text: &str) -> Result<SimConfig, String> {
        serde_yaml::from_str(text).map_err(|e| e.to_string())
    }

    /// The fleet of `nodes` nodes this template describes.
    pub fn options(&self, nodes: usize) -> Result<FleetOptions, String> {
        let mut o = FleetOptions {
            nodes,
            ..Default::default()
        };
        if let Some(r) = &self.resources {
            o.resources.extend(r.clone());
        }
        if let Some(l) = &self.labels {
            o.labels = l.clone();
        }
        if let Some(z) = self.zones {
            o.zones = z;
        }
        if let Some(t) = &self.taints {
            o.taints = t.clone();
        }
        if let Some(p) = &self.prefix {
            o.prefix = p.clone();
        }
        if let Some(d) = &self.start_delay {
            o.behaviour.start_delay = duration(d).map_err(|e| format!("startDelay: {e}"))?;
        }
        if let Some(d) = &self.job_duration {
            o.behaviour.job_duration = Some(duration(d).map_err(|e| format!("jobDuration: {e}"))?);
        }
        Ok(o)
    }
}

/// Makes the client a node acts through (`system:node:<name>`).
pub type NodeClient = Arc<dyn Fn(&str) -> kube::Client + Send + Sync>;

/// One simulated node.
struct SimNode {
    config: NodeConfig,
    client: kube::Client,
    runtime: Arc<SimRuntime>,
    uid: Mutex<String>,
    lease: tokio::sync::Mutex<Option<k8s_openapi::api::coordination::v1::Lease>>,
}

/// What a pod worker is told.
enum Update {
    Pod(Arc<Pod>),
    Lifecycle,
    Removed,
}

/// Many simulated nodes in one process.
pub struct Fleet {
    nodes: HashMap<String, Arc<SimNode>>,
    order: Vec<String>,
    read: kube::Client,
    workers: Mutex<HashMap<String, mpsc::UnboundedSender<Update>>>,
}

impl Fleet {
    /// The fleet's nodes, each acting through `client_for(name)`; the pod
    /// watch reads through `read`.
    pub fn new(options: &FleetOptions, read: kube::Client, client_for: NodeClient) -> Arc<Fleet> {
        let ids = Arc::new(AtomicU64::new(1));
        let (events_tx, events_rx) = mpsc::unbounded_channel::<LifecycleEvent>();
        let mut nodes = HashMap::new();
        let mut order = Vec::new();
        for i in 0..options.nodes {
            let name = format!("{}{i}", options.prefix);
            let (a, b) = (128 + i / 256, i % 256);
            let mut labels = options.labels.clone();
            if options.zones > 0 {
                labels.insert(
                    "topology.kubernetes.io/zone".into(),
                    format!("zone-{}", i % options.zones),
                );
            }
            labels.insert("type".into(), "skiff-sim".into());
            let config = NodeConfig {
                name: name.clone(),
                resources: options.resources.clone(),
                labels,
                taints: options.taints.clone(),
                // Node addresses from 10.64.0.1 up, pod networks from 10.128.0.0/24.
                internal_ip: std::net::Ipv4Addr::from(0x0A40_0001u32 + i as u32).to_string(),
                pod_cidr: Some(format!("10.{a}.{b}.0/24")),
                runtime_version: "sim://1.0.0".into(),
                kernel_version: "simulated".into(),
                os_image: "Skiff simulated node".into(),
            };
            let runtime = Arc::new(SimRuntime::new(
                format!("10.{a}.{b}."),
                options.behaviour.clone(),
                events_tx.clone(),
                ids.clone(),
            ));
            nodes.insert(
                name.clone(),
                Arc::new(SimNode {
                    client: client_for(&name),
                    config,
                    runtime,
                    uid: Mutex::default(),
                    lease: tokio::sync::Mutex::new(None),
                }),
            );
            order.push(name);
        }
        let fleet = Arc::new(Fleet {
            nodes,
            order,
            read,
            workers: Mutex::default(),
        });
        tokio::spawn(fleet.clone().lifecycle_events(events_rx));
        fleet
    }

    pub fn node_names(&self) -> &[String] {
        &self.order
    }

    /// Registers every node and its Lease, a few at a time.
    pub async fn register(&self) {
        futures::stream::iter(self.order.iter())
            .for_each_concurrent(32, |name| async move {
                let n = &self.nodes[name];
                loop {
                    match node::register(&n.client, &n.config).await {
                        Ok(created) => {
                            *lock(&n.uid) = created.metadata.uid.unwrap_or_default();
                            break;
                        }
                        Err(e) => {
                            tracing::warn!(node = %name, error = %e, "registering the node; retrying");
                            tokio::time::sleep(Duration::from_secs(1)).await;
                        }
                    }
                }
                let uid = lock(&n.uid).clone();
                let mut lease = n.lease.lock().await;
                if let Err(e) = node::renew_lease(&n.client, name, &uid, &mut lease).await {
                    tracing::debug!(node = %name, error = %e, "creating the node lease");
                }
            })
            .await;
    }

    /// Renews every node's Lease each 10 s and writes each node's status
    /// each 5 minutes, spread evenly over the interval by one timer.
    pub async fn heartbeats(self: Arc<Self>) {
        const TICK: Duration = Duration::from_millis(100);
        let ticks_per_lease = (node::LEASE_RENEW_INTERVAL.as_millis() / TICK.as_millis()) as usize;
        let ticks_per_status =
            (node::NODE_STATUS_REPORT_FREQUENCY.as_millis() / TICK.as_millis()) as usize;
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let n = self.order.len();
        let mut t: usize = 0;
        let this: &Fleet = &self;
        loop {
            tick.tick().await;
            // The nodes whose slot this tick is, for each period.
            let due = |ticks: usize| {
                let slot = t % ticks;
                let (lo, hi) = ((slot * n).div_ceil(ticks), ((slot + 1) * n).div_ceil(ticks));
                &this.order[lo.min(n)..hi.min(n)]
            };
            let leases = due(ticks_per_lease);
            let statuses = due(ticks_per_status);
            let renew = futures::future::join_all(leases.iter().map(|name| async move {
                let node = &this.nodes[name];
                let uid = lock(&node.uid).clone();
                let mut cached = node.lease.lock().await;
                if let Err(e) = node::renew_lease(&node.client, name, &uid, &mut cached).await {
                    tracing::debug!(node = %name, error = %e, "renewing the node lease");
                }
            }));
            let report = futures::future::join_all(statuses.iter().map(|name| async move {
                let node = &this.nodes[name];
                let nodes: Api<k8s_openapi::api::core::v1::Node> = Api::all(node.client.clone());
                let previous = match nodes.get_opt(name).await {
                    Ok(Some(n)) => n.status.and_then(|s| s.conditions).unwrap_or_default(),
                    Ok(None) => {
                        // Deleted: register again, as a kubelet does on restart.
                        if let Ok(n) = node::register(&node.client, &node.config).await {
                            *lock(&node.uid) = n.metadata.uid.unwrap_or_default();
                        }
                        return;
                    }
                    Err(_) => return,
                };
                if let Err(e) = node::update_status(&node.client, &node.config, &previous).await {
                    tracing::debug!(node = %name, error = %e, "updating the node status");
                }
            }));
            tokio::join!(renew, report);
            t = t.wrapping_add(1);
        }
    }

    /// Container exits reported by the runtimes wake their pods' workers.
    async fn lifecycle_events(self: Arc<Self>, mut rx: mpsc::UnboundedReceiver<LifecycleEvent>) {
        while let Some(ev) = rx.recv().await {
            if let Some(tx) = lock(&self.workers).get(&ev.pod_uid) {
                let _ = tx.send(Update::Lifecycle);
            }
        }
    }

    fn dispatch(self: &Arc<Self>, pod: Arc<Pod>) {
        let Some(node) = pod
            .spec
            .as_ref()
            .and_then(|s| s.node_name.as_deref())
            .and_then(|n| self.nodes.get(n))
            .cloned()
        else {
            return;
        };
        let uid = pod.metadata.uid.clone().unwrap_or_default();
        let mut workers = lock(&self.workers);
        if let Some(tx) = workers.get(&uid)
            && tx.send(Update::Pod(pod.clone())).is_ok()
        {
            return;
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let _ = tx.send(Update::Pod(pod));
        workers.insert(uid.clone(), tx);
        let fleet = self.clone();
        tokio::spawn(async move {
            pod_worker_loop(node, rx).await;
            lock(&fleet.workers).remove(&uid);
        });
    }

    fn removed(&self, uid: &str) {
        if let Some(tx) = lock(&self.workers).get(uid) {
            let _ = tx.send(Update::Removed);
        }
    }

    /// Watches the pods bound to any node and runs those of the fleet's.
    pub async fn run_pods(self: Arc<Self>) {
        let api: Api<Pod> = Api::all(self.read.clone());
        let config = watcher::Config::default().fields("spec.nodeName!=");
        // The uids of the pods seen, to find those a re-list no longer has.
        let mut known: HashSet<String> = HashSet::new();
        let mut listing: HashSet<String> = HashSet::new();
        let mut stream = watcher(api, config).boxed();
        while let Some(ev) = stream.next().await {
            match ev {
                Ok(watcher::Event::Init) => listing.clear(),
                Ok(watcher::Event::InitApply(mut p)) | Ok(watcher::Event::Apply(mut p)) => {
                    // Nothing here reads managed fields; they are most of a pod.
                    p.metadata.managed_fields = None;
                    let uid = p.metadata.uid.clone().unwrap_or_default();
                    listing.insert(uid.clone());
                    known.insert(uid);
                    self.dispatch(Arc::new(p));
                }
                Ok(watcher::Event::InitDone) => {
                    known.retain(|uid| {
                        let still = listing.contains(uid);
                        if !still {
                            self.removed(uid);
                        }
                        still
                    });
                }
                Ok(watcher::Event::Delete(p)) => {
                    let uid = p.metadata.uid.clone().unwrap_or_default();
                    known.remove(&uid);
                    self.removed(&uid);
                }
                Err(e) => {
                    tracing::debug!(error = %e, "watching pods");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        }
    }

    /// Registers the nodes, then runs heartbeats and pods until `shutdown`.
    pub async fn run(self: Arc<Self>, shutdown: impl std::future::Future<Output = ()>) {
        let started = Instant::now();
        tokio::pin!(shutdown);
        tokio::select! {
            _ = self.register() => {}
            _ = &mut shutdown => return,
        }
        tracing::info!(nodes = self.order.len(), took = ?started.elapsed(), "simulated nodes registered");
        let heartbeats = tokio::spawn(self.clone().heartbeats());
        let pods = tokio::spawn(self.clone().run_pods());
        shutdown.await;
        heartbeats.abort();
        pods.abort();
    }
}

/// One pod's worker (upstream's `podWorkerLoop`): syncs on every update,
/// writes the status when it changed, and on deletion stops the pod,
/// reports its final status and deletes it.
async fn pod_worker_loop(node: Arc<SimNode>, mut rx: mpsc::UnboundedReceiver<Update>) {
    let mut state = PodState::default();
    let mut latest: Option<Arc<Pod>> = None;
    let mut deleted = false;
    let mut wake: Option<tokio::time::Instant> = None;
    loop {
        let update = match wake {
            Some(at) => tokio::select! {
                u = rx.recv() => u,
                _ = tokio::time::sleep_until(at) => Some(Update::Lifecycle),
            },
            None => rx.recv().await,
        };
        let Some(mut update) = update else { break };
        // Only the newest of what is waiting counts.
        while let Ok(u) = rx.try_recv() {
            update = match (update, u) {
                (Update::Removed, _) | (_, Update::Removed) => Update::Removed,
                (_, Update::Pod(p)) => Update::Pod(p),
                (u, Update::Lifecycle) => u,
            };
        }
        match update {
            Update::Removed => {
                if let Some(s) = state.sandbox.take() {
                    node.runtime.remove_pod_sandbox(&s).await;
                }
                break;
            }
            Update::Pod(p) => latest = Some(p),
            Update::Lifecycle => {}
        }
        let Some(pod) = latest.clone() else { continue };
        if deleted {
            continue;
        }
        let terminal = matches!(
            pod.status.as_ref().and_then(|s| s.phase.as_deref()),
            Some("Succeeded" | "Failed")
        );
        if pod.metadata.deletion_timestamp.is_some() {
            pod_worker::terminate_pod(node.runtime.as_ref(), &pod, &mut state).await;
            write_status(&node, &pod, &state).await;
            delete_pod(&node, &pod).await;
            deleted = true;
            continue;
        }
        if terminal && state.sandbox.is_none() {
            continue; // finished before this agent saw it
        }
        wake = pod_worker::sync_pod(node.runtime.as_ref(), &pod, &mut state).await;
        write_status(&node, &pod, &state).await;
    }
}

/// Patches the pod's status when it differs from what is stored, with the
/// pod's uid as precondition (upstream's status manager).
async fn write_status(node: &SimNode, pod: &Pod, state: &PodState) {
    let mut status = status::generate(pod, state, &node.config.internal_ip);
    if let Some(old) = &pod.status {
        if old.start_time.is_some() {
            status.start_time = old.start_time.clone();
        }
        if same_status(old, &status) {
            return;
        }
    }
    let api: Api<Pod> = Api::namespaced(
        node.client.clone(),
        pod.metadata.namespace.as_deref().unwrap_or_default(),
    );
    let patch = serde_json::json!({
        "metadata": {"uid": pod.metadata.uid},
        "status": status,
    });
    let name = pod.metadata.name.as_deref().unwrap_or_default();
    if let Err(e) = api
        .patch_status(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
    {
        tracing::debug!(pod = %name, error = %e, "updating the pod status");
    }
}

/// Whether two statuses differ only in times of things that did not change.
fn same_status(
    a: &k8s_openapi::api::core::v1::PodStatus,
    b: &k8s_openapi::api::core::v1::PodStatus,
) -> bool {
    a.phase == b.phase
        && a.pod_ip == b.pod_ip
        && a.container_statuses == b.container_statuses
        && a.init_container_statuses == b.init_container_statuses
        && a.conditions.as_ref().map(|c| {
            c.iter()
                .map(|c| (&c.type_, &c.status, &c.reason))
                .collect::<Vec<_>>()
        }) == b.conditions.as_ref().map(|c| {
            c.iter()
                .map(|c| (&c.type_, &c.status, &c.reason))
                .collect::<Vec<_>>()
        })
}

/// Deletes the stopped pod for good (grace 0, the pod's uid as precondition).
async fn delete_pod(node: &SimNode, pod: &Pod) {
    let api: Api<Pod> = Api::namespaced(
        node.client.clone(),
        pod.metadata.namespace.as_deref().unwrap_or_default(),
    );
    let params = DeleteParams {
        grace_period_seconds: Some(0),
        preconditions: Some(Preconditions {
            uid: pod.metadata.uid.clone(),
            resource_version: None,
        }),
        ..Default::default()
    };
    let name = pod.metadata.name.as_deref().unwrap_or_default();
    if let Err(e) = api.delete(name, &params).await {
        tracing::debug!(pod = %name, error = %e, "deleting the stopped pod");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(v: serde_json::Value) -> Pod {
        let mut p = json!({
            "metadata": {"name": "p", "namespace": "default", "uid": "u1"},
            "spec": {"containers": [{"name": "app", "image": "busybox"}], "nodeName": "sim-0"},
        });
        json_merge(&mut p, v);
        serde_json::from_value(p).unwrap()
    }

    fn json_merge(a: &mut serde_json::Value, b: serde_json::Value) {
        match (a, b) {
            (serde_json::Value::Object(a), serde_json::Value::Object(b)) => {
                for (k, v) in b {
                    json_merge(a.entry(k).or_insert(serde_json::Value::Null), v);
                }
            }
            (a, b) => *a = b,
        }
    }

    fn runtime(job: Option<Duration>) -> (SimRuntime, mpsc::UnboundedReceiver<LifecycleEvent>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let r = SimRuntime::new(
            "10.128.0.".into(),
            SimBehaviour {
                start_delay: Duration::ZERO,
                job_duration: job,
            },
            tx,
            Arc::new(AtomicU64::new(1)),
        );
        (r, rx)
    }

    fn condition(s: &k8s_openapi::api::core::v1::PodStatus, t: &str) -> String {
        s.conditions
            .iter()
            .flatten()
            .find(|c| c.type_ == t)
            .map(|c| c.status.clone())
            .unwrap_or_default()
    }

    #[tokio::test(start_paused = true)]
    async fn a_pod_runs_and_is_ready_with_an_ip() {
        let (rt, _rx) = runtime(None);
        let p = pod(json!({}));
        let mut state = PodState::default();
        pod_worker::sync_pod(&rt, &p, &mut state).await;
        let s = status::generate(&p, &state, "10.64.0.1");
        assert_eq!(s.phase.as_deref(), Some("Running"));
        assert_eq!(s.pod_ip.as_deref(), Some("10.128.0.2"));
        assert_eq!(condition(&s, "Ready"), "True");
        assert_eq!(condition(&s, "PodReadyToStartContainers"), "True");
        let cs = &s.container_statuses.as_ref().unwrap()[0];
        assert!(cs.ready && cs.started == Some(true));
        assert!(cs.state.as_ref().unwrap().running.is_some());
        // Deleted: stopped, its sandbox and IP released, phase final.
        pod_worker::terminate_pod(&rt, &p, &mut state).await;
        let s = status::generate(&p, &state, "10.64.0.1");
        assert_eq!(
            s.phase.as_deref(),
            Some("Running"),
            "restartPolicy Always: still Running until removed"
        );
        assert_eq!(condition(&s, "Ready"), "False");
        assert!(
            rt.run_pod_sandbox(&p).await.unwrap().ip.ends_with(".2"),
            "the IP is free again"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn init_containers_complete_in_order_before_the_containers_start() {
        let (rt, mut rx) = runtime(None);
        let p = pod(json!({"spec": {"initContainers": [
            {"name": "first", "image": "busybox"},
            {"name": "side", "image": "busybox", "restartPolicy": "Always"},
            {"name": "second", "image": "busybox"},
        ]}}));
        let mut state = PodState::default();
        pod_worker::sync_pod(&rt, &p, &mut state).await;
        let s = status::generate(&p, &state, "10.64.0.1");
        assert_eq!(s.phase.as_deref(), Some("Pending"));
        assert_eq!(condition(&s, "Initialized"), "False");
        let waiting = s.container_statuses.as_ref().unwrap()[0]
            .state
            .as_ref()
            .unwrap()
            .waiting
            .as_ref()
            .unwrap()
            .reason
            .clone();
        assert_eq!(waiting.as_deref(), Some("PodInitializing"));
        // Each init container's exit wakes the worker, as the runtime's events do.
        for _ in 0..3 {
            if state.containers.iter().all(|c| c.running()) {
                break;
            }
            let _ = tokio::time::timeout(Duration::from_secs(5), rx.recv()).await;
            pod_worker::sync_pod(&rt, &p, &mut state).await;
        }
        let s = status::generate(&p, &state, "10.64.0.1");
        assert_eq!(s.phase.as_deref(), Some("Running"));
        assert_eq!(condition(&s, "Initialized"), "True");
        let inits = s.init_container_statuses.unwrap();
        assert_eq!(
            inits[0]
                .state
                .as_ref()
                .unwrap()
                .terminated
                .as_ref()
                .unwrap()
                .reason
                .as_deref(),
            Some("Completed")
        );
        assert!(
            inits[1].state.as_ref().unwrap().running.is_some(),
            "the sidecar keeps running"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn job_pods_finish_after_their_time_and_succeed() {
        let (rt, mut rx) = runtime(Some(Duration::from_secs(30)));
        let p = pod(json!({
            "metadata": {"ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job", "name": "j", "uid": "j1", "controller": true}]},
            "spec": {"restartPolicy": "Never"},
        }));
        let mut state = PodState::default();
        pod_worker::sync_pod(&rt, &p, &mut state).await;
        assert_eq!(
            status::generate(&p, &state, "h").phase.as_deref(),
            Some("Running")
        );
        let ev = tokio::time::timeout(Duration::from_secs(31), rx.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(ev.pod_uid, "u1");
        pod_worker::sync_pod(&rt, &p, &mut state).await;
        let s = status::generate(&p, &state, "h");
        assert_eq!(s.phase.as_deref(), Some("Succeeded"));
        assert_eq!(condition(&s, "Ready"), "False");
        let ready = s
            .conditions
            .unwrap()
            .into_iter()
            .find(|c| c.type_ == "Ready")
            .unwrap();
        assert_eq!(ready.reason.as_deref(), Some("PodCompleted"));
    }

    #[tokio::test(start_paused = true)]
    async fn exited_containers_restart_with_crash_loop_back_off() {
        // A container that exits under restartPolicy Always restarts after 10 s.
        let (rt, mut rx) = runtime(Some(Duration::from_secs(1)));
        let p = pod(json!({
            "metadata": {"ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job", "name": "j", "uid": "j1", "controller": true}]},
        }));
        let mut state = PodState::default();
        pod_worker::sync_pod(&rt, &p, &mut state).await;
        rx.recv().await.unwrap();
        let wake = pod_worker::sync_pod(&rt, &p, &mut state)
            .await
            .expect("a back-off to wait for");
        let s = status::generate(&p, &state, "h");
        let cs = &s.container_statuses.as_ref().unwrap()[0];
        assert_eq!(
            cs.state
                .as_ref()
                .unwrap()
                .waiting
                .as_ref()
                .unwrap()
                .reason
                .as_deref(),
            Some("CrashLoopBackOff")
        );
        assert_eq!(s.phase.as_deref(), Some("Running"));
        tokio::time::sleep_until(wake).await;
        pod_worker::sync_pod(&rt, &p, &mut state).await;
        let s = status::generate(&p, &state, "h");
        let cs = &s.container_statuses.as_ref().unwrap()[0];
        assert_eq!(cs.restart_count, 1);
        assert!(cs.state.as_ref().unwrap().running.is_some());
        assert!(cs.last_state.as_ref().unwrap().terminated.is_some());
        assert_eq!(pod_worker::backoff(1), Duration::from_secs(20));
        assert_eq!(pod_worker::backoff(10), Duration::from_secs(300));
    }

    #[test]
    fn templates_parse_with_their_durations() {
        let c = SimConfig::parse(
            "resources: {cpu: \"4\"}\nzones: 2\ntaints: [{key: k, value: v, effect: NoSchedule}]\nstartDelay: 250ms\njobDuration: 1m\n",
        )
        .unwrap();
        let o = c.options(3).unwrap();
        assert_eq!(o.resources["cpu"], "4");
        assert_eq!(o.resources["pods"], "110");
        assert_eq!(o.behaviour.start_delay, Duration::from_millis(250));
        assert_eq!(o.behaviour.job_duration, Some(Duration::from_secs(60)));
        assert!(SimConfig::parse("bogus: 1\n").is_err());
        assert!(
            SimConfig {
                start_delay: Some("5".into()),
                ..Default::default()
            }
            .options(1)
            .is_err()
        );
    }
}
