//! The scheduler as a running component (upstream's `scheduler.go`,
//! `eventhandlers.go`, `schedule_one.go`): informers on nodes and on pods
//! not yet finished feed the cache (assigned pods) and the queue (pods
//! without a node, of one of its profiles); a dedicated thread pops the
//! queue and runs each pod's scheduling cycle on a fresh snapshot; the
//! chosen node is assumed in the cache and the binding cycle (PreBind,
//! Bind, PostBind) runs asynchronously, so the next cycle does not wait
//! for the API. Failures record `FailedScheduling` and the pod's
//! `PodScheduled=False` condition and send the pod back to the queue.
//!
//! It is an API client like any other: it never assumes it is the only
//! writer (a pod bound elsewhere leaves the queue; a binding refused
//! because the pod is gone or already bound is forgotten).

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Node, ObjectReference, Pod};
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::watcher;

use crate::cache::{Cache, Snapshot};
use crate::events::{EventRecorder, Record};
use crate::framework::listers::{Listers, Selecting};
use crate::framework::{ClusterEvent, CycleState, Framework, PodInfo, key_of};
use crate::metrics::{Metrics, Outcome};
use crate::plugins::Handle;
use crate::profile::{ConfigError, KubeSchedulerConfiguration};
use crate::queue::{QueuedPodInfo, SchedulingQueue};
use crate::schedule_one::{Algorithm, ScheduleError};

/// What stops the scheduler from starting.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Config(#[from] ConfigError),
}

/// The shared state of the event handlers, the scheduling thread and the
/// binding tasks.
pub struct Scheduler {
    cache: Mutex<Cache>,
    queue: Arc<SchedulingQueue>,
    profiles: HashMap<String, Arc<Framework>>,
    client: kube::Client,
    recorders: HashMap<String, EventRecorder>,
    pub metrics: Arc<Metrics>,
    percentage_of_nodes_to_score: i32,
    listers: Arc<Listers>,
    /// Pods nominated to nodes (upstream's nominator): pod key → node and pod.
    nominator: Mutex<HashMap<String, (String, Arc<PodInfo>)>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The reference of a pod for its events.
pub(crate) fn reference(pod: &Pod) -> ObjectReference {
    ObjectReference {
        api_version: Some("v1".into()),
        kind: Some("Pod".into()),
        name: pod.metadata.name.clone(),
        namespace: pod.metadata.namespace.clone(),
        uid: pod.metadata.uid.clone(),
        resource_version: pod.metadata.resource_version.clone(),
        ..Default::default()
    }
}

fn assigned(pod: &Pod) -> bool {
    pod.spec
        .as_ref()
        .and_then(|s| s.node_name.as_deref())
        .is_some_and(|n| !n.is_empty())
}

/// Whether a node changed in a way that may make pods fit (upstream's
/// `nodeSchedulingPropertiesChange`): not for heartbeats.
fn node_scheduling_properties_changed(old: &Node, new: &Node) -> bool {
    let spec = |n: &Node| n.spec.as_ref().map(|s| (s.unschedulable, s.taints.clone()));
    let alloc = |n: &Node| n.status.as_ref().and_then(|s| s.allocatable.clone());
    let conditions = |n: &Node| {
        n.status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .map(|c| {
                c.iter()
                    .map(|c| (c.type_.clone(), c.status.clone()))
                    .collect::<Vec<_>>()
            })
    };
    let images = |n: &Node| n.status.as_ref().and_then(|s| s.images.clone());
    old.metadata.labels != new.metadata.labels
        || old.metadata.annotations != new.metadata.annotations
        || spec(old) != spec(new)
        || alloc(old) != alloc(new)
        || conditions(old) != conditions(new)
        || images(old) != images(new)
}

impl Scheduler {
    /// The scheduler for `config`'s profiles, acting through `client`.
    pub fn new(
        client: kube::Client,
        config: &KubeSchedulerConfiguration,
        instance: &str,
    ) -> Result<Arc<Scheduler>, Error> {
        Self::with_metrics(client, config, instance, Arc::default())
    }

    /// The same, counting into `metrics` (kept across leaderships).
    pub fn with_metrics(
        client: kube::Client,
        config: &KubeSchedulerConfiguration,
        instance: &str,
        metrics: Arc<Metrics>,
    ) -> Result<Arc<Scheduler>, Error> {
        let recorders: HashMap<String, EventRecorder> = config
            .profile_names()
            .into_iter()
            .map(|name| {
                let recorder =
                    EventRecorder::spawn(client.clone(), &name, &format!("{name}-{instance}"));
                (name, recorder)
            })
            .collect();
        // Plugins' events (preemption's `Preempted`) go out as the default
        // profile, or the first.
        let plugin_recorder = recorders
            .get(crate::DEFAULT_SCHEDULER_NAME)
            .or_else(|| recorders.values().next())
            .cloned();
        let handle = Handle {
            client: Some(client.clone()),
            listers: Arc::default(),
            runtime: tokio::runtime::Handle::try_current().ok(),
            recorder: plugin_recorder,
        };
        let frameworks = config.frameworks(&handle)?;
        for f in &frameworks {
            f.set_metrics(metrics.clone());
        }
        let profiles: HashMap<String, Arc<Framework>> = frameworks
            .iter()
            .map(|f| (f.scheduler_name.clone(), f.clone()))
            .collect();
        let mut events: HashMap<&'static str, Vec<ClusterEvent>> = HashMap::new();
        for f in &frameworks {
            for (name, evs) in f.events_to_register() {
                events.entry(name).or_default().extend(evs);
            }
        }
        let pre_enqueue = {
            let profiles = profiles.clone();
            Arc::new(move |p: &PodInfo| match profiles.get(p.scheduler_name()) {
                Some(f) => f.run_pre_enqueue(p),
                None => crate::framework::Status::success(),
            })
        };
        let queue = Arc::new(SchedulingQueue::new(
            config.initial_backoff(),
            config.max_backoff(),
            pre_enqueue,
            events,
        ));
        Ok(Arc::new(Scheduler {
            cache: Mutex::new(Cache::default()),
            queue,
            profiles,
            client,
            recorders,
            metrics,
            percentage_of_nodes_to_score: config.percentage_of_nodes_to_score.unwrap_or(0),
            listers: handle.listers.clone(),
            nominator: Mutex::default(),
        }))
    }

    fn record(
        &self,
        profile: &str,
        pod: &Pod,
        type_: &'static str,
        reason: &'static str,
        action: &'static str,
        note: String,
    ) {
        if let Some(r) = self.recorders.get(profile) {
            r.record(Record {
                regarding: reference(pod),
                related: None,
                type_,
                reason,
                action,
                note,
            });
        }
    }

    // ---- event handlers (upstream's eventhandlers.go) ----

    fn responsible(&self, pod: &Pod) -> bool {
        let name = pod
            .spec
            .as_ref()
            .and_then(|s| s.scheduler_name.as_deref())
            .filter(|s| !s.is_empty())
            .unwrap_or(crate::DEFAULT_SCHEDULER_NAME);
        self.profiles.contains_key(name)
    }

    /// A pod was added or changed.
    pub fn on_pod(&self, pod: Pod, was_assigned: Option<bool>) {
        let info = Arc::new(PodInfo::new(Arc::new(pod)));
        let now = Instant::now();
        if assigned(&info.pod) {
            self.queue.delete(&info.key);
            lock(&self.nominator).remove(&info.key);
            lock(&self.cache).add_pod(info);
            let event = if was_assigned == Some(true) {
                ClusterEvent::ASSIGNED_POD_UPDATE
            } else {
                ClusterEvent::ASSIGNED_POD_ADD
            };
            self.queue.move_all(event, now);
        } else if self.responsible(&info.pod) {
            if lock(&self.cache).is_assumed(&info.key) {
                return; // being bound: the informer will show it assigned
            }
            // Nominations other schedulers (or earlier runs) made count too.
            let nnn = info
                .pod
                .status
                .as_ref()
                .and_then(|s| s.nominated_node_name.clone())
                .unwrap_or_default();
            if !nnn.is_empty() {
                self.nominate(&info, &nnn);
            }
            self.queue.add(info, now);
        }
    }

    /// The nominated pods by node.
    fn nominated_by_node(&self) -> HashMap<String, Vec<Arc<PodInfo>>> {
        let mut by_node: HashMap<String, Vec<Arc<PodInfo>>> = HashMap::new();
        for (node, pod) in lock(&self.nominator).values() {
            by_node.entry(node.clone()).or_default().push(pod.clone());
        }
        by_node
    }

    /// Records (or, with an empty node, clears) a pod's nomination.
    fn nominate(&self, pod: &Arc<PodInfo>, node: &str) {
        let mut n = lock(&self.nominator);
        if node.is_empty() {
            n.remove(&pod.key);
        } else {
            n.insert(pod.key.clone(), (node.to_string(), pod.clone()));
        }
    }

    /// A pod was deleted (or finished, leaving the informer's selection).
    pub fn on_pod_delete(&self, key: &str, was_assigned: bool) {
        self.queue.delete(key);
        lock(&self.nominator).remove(key);
        if was_assigned {
            lock(&self.cache).remove_pod(key);
            self.queue
                .move_all(ClusterEvent::ASSIGNED_POD_DELETE, Instant::now());
        }
    }

    /// A node was added or changed (`old`: its previous object).
    pub fn on_node(&self, node: Arc<Node>, old: Option<&Node>) {
        let event = match old {
            None => Some(ClusterEvent::NODE_ADD),
            Some(old) if node_scheduling_properties_changed(old, &node) => {
                Some(ClusterEvent::NODE_UPDATE)
            }
            Some(_) => None,
        };
        lock(&self.cache).add_node(node);
        if let Some(e) = event {
            self.queue.move_all(e, Instant::now());
        }
    }

    pub fn on_node_delete(&self, name: &str) {
        lock(&self.cache).remove_node(name);
    }

    // ---- the scheduling loop (upstream's schedule_one.go) ----

    /// Pops and schedules pods until the queue is closed.
    pub fn scheduling_loop(self: &Arc<Self>, runtime: tokio::runtime::Handle) {
        let mut alg = Algorithm {
            next_start_node_index: 0,
            percentage_of_nodes_to_score: self.percentage_of_nodes_to_score,
            nominated: HashMap::new(),
        };
        let mut snapshot = Snapshot::default();
        while let Some(qpi) = self.queue.pop() {
            self.schedule_one(&mut alg, &mut snapshot, qpi, &runtime);
        }
    }

    /// One pod's scheduling cycle; its binding cycle is spawned on `runtime`.
    pub fn schedule_one(
        self: &Arc<Self>,
        alg: &mut Algorithm,
        snapshot: &mut Snapshot,
        mut qpi: QueuedPodInfo,
        runtime: &tokio::runtime::Handle,
    ) {
        let start = Instant::now();
        let pod = qpi.pod.clone();
        let profile_name = pod.scheduler_name().to_string();
        let Some(fwk) = self.profiles.get(&profile_name).cloned() else {
            self.queue.done(&pod.key);
            return;
        };
        if pod.pod.metadata.deletion_timestamp.is_some() {
            self.record(
                &profile_name,
                &pod.pod,
                "Warning",
                "FailedScheduling",
                "Scheduling",
                format!(
                    "skip schedule deleting pod: {}/{}",
                    pod.namespace(),
                    pod.name()
                ),
            );
            self.queue.done(&pod.key);
            return;
        }
        lock(&self.cache).update_snapshot(snapshot);
        alg.nominated = self.nominated_by_node();
        let mut state = CycleState::default();
        // Upstream's pluginMetricsSamplePercent: 10 % of cycles.
        state.record_plugin_metrics = rand::random_range(0..100) < 10;
        let result = alg.schedule_pod(&fwk, &mut state, &pod, snapshot);
        let node = match result {
            Ok(r) => r.node,
            Err(e) => {
                let mut nomination: Option<String> = None;
                let (message, outcome, reason) = match e {
                    ScheduleError::Fit(mut fit) => {
                        if fwk.has_post_filter_plugins() {
                            self.metrics.preemption_attempt();
                            let (nominated, s) = fwk.run_post_filter(
                                &state,
                                &pod,
                                &fit.diagnosis.node_to_status,
                                &snapshot.nodes,
                            );
                            if !s.is_success() && !s.reasons.is_empty() {
                                fit.diagnosis.post_filter_msg = s.message();
                            }
                            nomination = nominated;
                        }
                        qpi.unschedulable_plugins = fit.diagnosis.unschedulable_plugins.clone();
                        qpi.unschedulable_plugins
                            .extend(fit.diagnosis.pending_plugins.iter().copied());
                        (fit.to_string(), Outcome::Unschedulable, "Unschedulable")
                    }
                    ScheduleError::NoNodes => (
                        crate::schedule_one::NO_NODES_AVAILABLE.to_string(),
                        Outcome::Unschedulable,
                        "Unschedulable",
                    ),
                    ScheduleError::Error(s) => (s.message(), Outcome::Error, "SchedulerError"),
                };
                self.metrics
                    .attempt(outcome, &profile_name, start.elapsed().as_secs_f64());
                self.failure(&profile_name, qpi, message, reason, nomination, runtime);
                return;
            }
        };
        // Assume: the pod counts on the node from now on.
        let mut bound = (*pod.pod).clone();
        if let Some(spec) = bound.spec.as_mut() {
            spec.node_name = Some(node.clone());
        }
        let assumed = Arc::new(PodInfo {
            pod: Arc::new(bound),
            key: pod.key.clone(),
            requests: pod.requests.clone(),
            non_zero_requests: pod.non_zero_requests.clone(),
            host_ports: pod.host_ports.clone(),
            has_affinity: pod.has_affinity,
            has_required_anti_affinity: pod.has_required_anti_affinity,
            affinity: pod.affinity.clone(),
        });
        lock(&self.cache).assume_pod(assumed.clone(), &node);
        let s = fwk.run_reserve(&state, &assumed, &node);
        let s = if s.is_success() {
            fwk.run_permit(&state, &assumed, &node)
        } else {
            s
        };
        if !s.is_success() {
            fwk.run_unreserve(&state, &assumed, &node);
            lock(&self.cache).forget_pod(&pod.key);
            if s.is_rejected() && !s.plugin.is_empty() {
                qpi.unschedulable_plugins.insert(s.plugin);
            }
            self.metrics
                .attempt(Outcome::Error, &profile_name, start.elapsed().as_secs_f64());
            self.failure(
                &profile_name,
                qpi,
                s.message(),
                "SchedulerError",
                None,
                runtime,
            );
            return;
        }
        // The binding cycle, while the next pod is scheduled.
        let this = self.clone();
        let state = Arc::new(state);
        let rt = runtime.clone();
        runtime.spawn(async move {
            let mut s = fwk
                .run_pre_bind(state.clone(), assumed.clone(), &node)
                .await;
            if s.is_success() {
                s = fwk.run_bind(state.clone(), assumed.clone(), &node).await;
            }
            if s.is_success() {
                fwk.run_post_bind(&state, &assumed, &node);
                this.metrics.attempt(
                    Outcome::Scheduled,
                    &profile_name,
                    start.elapsed().as_secs_f64(),
                );
                this.metrics.pod_scheduled_after(qpi.attempts);
                this.record(
                    &profile_name,
                    &pod.pod,
                    "Normal",
                    "Scheduled",
                    "Binding",
                    format!(
                        "Successfully assigned {}/{} to {}",
                        pod.namespace(),
                        pod.name(),
                        node
                    ),
                );
                this.queue.done(&pod.key);
            } else {
                fwk.run_unreserve(&state, &assumed, &node);
                lock(&this.cache).forget_pod(&pod.key);
                this.metrics
                    .attempt(Outcome::Error, &profile_name, start.elapsed().as_secs_f64());
                let message = format!("Binding rejected: {}", s.message());
                this.failure(&profile_name, qpi, message, "SchedulerError", None, &rt);
            }
        });
    }

    /// Upstream's `handleSchedulingFailure`: the event, back to the queue,
    /// and the pod's `PodScheduled` condition.
    fn failure(
        &self,
        profile: &str,
        qpi: QueuedPodInfo,
        message: String,
        reason: &'static str,
        nomination: Option<String>,
        runtime: &tokio::runtime::Handle,
    ) {
        let pod = qpi.pod.pod.clone();
        // The node preemption nominated (or "" to clear a nomination).
        let current_nomination = pod
            .status
            .as_ref()
            .and_then(|s| s.nominated_node_name.clone())
            .unwrap_or_default();
        let nomination = nomination.filter(|n| *n != current_nomination);
        if let Some(n) = &nomination {
            self.nominate(&qpi.pod, n);
        }
        self.queue.add_unschedulable(qpi, Instant::now());
        self.record(
            profile,
            &pod,
            "Warning",
            "FailedScheduling",
            "Scheduling",
            message.clone(),
        );
        // Unchanged condition: nothing to write.
        let current = pod
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .and_then(|c| c.iter().find(|c| c.type_ == "PodScheduled"));
        if nomination.is_none()
            && current.is_some_and(|c| {
                c.status == "False"
                    && c.reason.as_deref() == Some(reason)
                    && c.message.as_deref() == Some(message.as_str())
            })
        {
            return;
        }
        let transition = match current {
            Some(c) if c.status == "False" => c.last_transition_time.clone(),
            _ => None,
        }
        .map(|t| serde_json::to_value(t).unwrap_or_default())
        .unwrap_or_else(|| {
            serde_json::Value::String(
                k8s_openapi::jiff::Timestamp::now()
                    .round(k8s_openapi::jiff::Unit::Second)
                    .unwrap_or_else(|_| k8s_openapi::jiff::Timestamp::now())
                    .to_string(),
            )
        });
        let mut patch = serde_json::json!({"status": {"conditions": [{
            "type": "PodScheduled",
            "status": "False",
            "reason": reason,
            "message": message,
            "lastProbeTime": null,
            "lastTransitionTime": transition,
        }]}});
        if let Some(n) = nomination {
            patch["status"]["nominatedNodeName"] = if n.is_empty() {
                serde_json::Value::Null
            } else {
                serde_json::Value::String(n)
            };
        }
        let api: Api<Pod> = Api::namespaced(
            self.client.clone(),
            pod.metadata.namespace.as_deref().unwrap_or_default(),
        );
        let name = pod.metadata.name.clone().unwrap_or_default();
        runtime.spawn(async move {
            if let Err(e) = api
                .patch_status(&name, &PatchParams::default(), &Patch::Strategic(&patch))
                .await
            {
                tracing::debug!(pod = %name, error = %e, "updating the PodScheduled condition");
            }
        });
    }

    /// The queue's timers: backoff every second, leftovers every 30 s, and
    /// the gauges.
    async fn flush_loop(self: Arc<Self>) {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        let mut n = 0u64;
        loop {
            tick.tick().await;
            let now = Instant::now();
            self.queue.flush_backoff_completed(now);
            n += 1;
            if n.is_multiple_of(30) {
                self.queue.flush_unschedulable_leftover(now);
            }
            self.metrics.set_pending(self.queue.pending());
            let (nodes, pods, assumed) = lock(&self.cache).sizes();
            self.metrics.set_cache_size(nodes, pods, assumed);
        }
    }

    /// The informers: nodes, and pods that have not finished.
    async fn watch_nodes(self: Arc<Self>, synced: tokio::sync::oneshot::Sender<()>) {
        let api: Api<Node> = Api::all(self.client.clone());
        // The objects seen, shared with the cache: to tell what changed.
        let mut known: HashMap<String, Arc<Node>> = HashMap::new();
        let mut listing: HashSet<String> = HashSet::new();
        let mut synced = Some(synced);
        let mut stream = watcher(api, watcher::Config::default()).boxed();
        while let Some(ev) = stream.next().await {
            match ev {
                Ok(watcher::Event::Init) => listing.clear(),
                Ok(watcher::Event::InitApply(mut n)) | Ok(watcher::Event::Apply(mut n)) => {
                    n.metadata.managed_fields = None;
                    let name = n.metadata.name.clone().unwrap_or_default();
                    listing.insert(name.clone());
                    let n = Arc::new(n);
                    self.on_node(n.clone(), known.get(&name).map(|o| &**o));
                    known.insert(name, n);
                }
                Ok(watcher::Event::InitDone) => {
                    let gone: Vec<String> = known
                        .keys()
                        .filter(|k| !listing.contains(*k))
                        .cloned()
                        .collect();
                    for name in gone {
                        known.remove(&name);
                        self.on_node_delete(&name);
                    }
                    if let Some(s) = synced.take() {
                        let _ = s.send(());
                    }
                }
                Ok(watcher::Event::Delete(n)) => {
                    let name = n.metadata.name.clone().unwrap_or_default();
                    known.remove(&name);
                    self.on_node_delete(&name);
                }
                Err(e) => {
                    tracing::debug!(error = %e, "watching nodes");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        }
    }

    async fn watch_pods(self: Arc<Self>, synced: tokio::sync::oneshot::Sender<()>) {
        let api: Api<Pod> = Api::all(self.client.clone());
        // Upstream's scheduler informer leaves finished pods out.
        let config =
            watcher::Config::default().fields("status.phase!=Succeeded,status.phase!=Failed");
        let mut known: HashMap<String, bool> = HashMap::new();
        let mut listing: HashSet<String> = HashSet::new();
        let mut synced = Some(synced);
        let mut stream = watcher(api, config).boxed();
        while let Some(ev) = stream.next().await {
            match ev {
                Ok(watcher::Event::Init) => listing.clear(),
                Ok(watcher::Event::InitApply(mut p)) | Ok(watcher::Event::Apply(mut p)) => {
                    // As upstream's informer transform: the scheduler never
                    // reads managed fields, and they are most of a pod.
                    p.metadata.managed_fields = None;
                    let key = key_of(&p);
                    let is_assigned = assigned(&p);
                    let was = known.insert(key.clone(), is_assigned);
                    listing.insert(key);
                    self.on_pod(p, was);
                }
                Ok(watcher::Event::InitDone) => {
                    let gone: Vec<(String, bool)> = known
                        .iter()
                        .filter(|(k, _)| !listing.contains(*k))
                        .map(|(k, a)| (k.clone(), *a))
                        .collect();
                    for (key, was) in gone {
                        known.remove(&key);
                        self.on_pod_delete(&key, was);
                    }
                    if let Some(s) = synced.take() {
                        let _ = s.send(());
                    }
                }
                Ok(watcher::Event::Delete(p)) => {
                    let key = key_of(&p);
                    let was = known.remove(&key).unwrap_or(assigned(&p));
                    self.on_pod_delete(&key, was);
                }
                Err(e) => {
                    tracing::debug!(error = %e, "watching pods");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        }
    }
}

/// Keeps a lister's map current from a watch of `api` (`entry` gives an
/// object's key and value, None for objects that select nothing).
async fn watch_into<K, V>(
    api: Api<K>,
    map: Arc<Listers>,
    slot: fn(&Listers) -> &std::sync::RwLock<HashMap<String, V>>,
    entry: fn(&K) -> Option<(String, V)>,
    key: fn(&K) -> String,
    notify: Option<(Arc<SchedulingQueue>, ClusterEvent)>,
) where
    K: kube::Resource + Clone + std::fmt::Debug + serde::de::DeserializeOwned + Send + 'static,
{
    let mut stream = watcher(api, watcher::Config::default()).boxed();
    let mut listing: HashSet<String> = HashSet::new();
    while let Some(ev) = stream.next().await {
        let m = || slot(&map).write().unwrap_or_else(|e| e.into_inner());
        match ev {
            Ok(watcher::Event::Init) => listing.clear(),
            Ok(watcher::Event::InitApply(o)) | Ok(watcher::Event::Apply(o)) => {
                listing.insert(key(&o));
                match entry(&o) {
                    Some((k, v)) => {
                        m().insert(k, v);
                    }
                    None => {
                        m().remove(&key(&o));
                    }
                }
            }
            Ok(watcher::Event::InitDone) => m().retain(|k, _| listing.contains(k)),
            Ok(watcher::Event::Delete(o)) => {
                m().remove(&key(&o));
            }
            Err(e) => {
                tracing::debug!(error = %e, "watching for the scheduler's listers");
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
        }
        // A change that may help pods waiting for it.
        if let Some((queue, event)) = &notify {
            queue.move_all(*event, Instant::now());
        }
    }
}

fn ns_name<K: kube::Resource>(o: &K) -> String {
    format!(
        "{}/{}",
        o.meta().namespace.as_deref().unwrap_or(""),
        o.meta().name.as_deref().unwrap_or("")
    )
}

fn selecting<K: kube::Resource>(
    o: &K,
    selector: Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector>,
) -> Option<(String, Selecting)> {
    Some((
        ns_name(o),
        Selecting {
            namespace: o.meta().namespace.clone().unwrap_or_default(),
            name: o.meta().name.clone().unwrap_or_default(),
            selector: selector?,
        },
    ))
}

fn map_selector(
    m: Option<&std::collections::BTreeMap<String, String>>,
) -> Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector> {
    m.map(
        |m| k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector {
            match_labels: Some(m.clone()),
            match_expressions: None,
        },
    )
}

fn budget(
    p: &k8s_openapi::api::policy::v1::PodDisruptionBudget,
) -> Option<(String, crate::framework::listers::Budget)> {
    let status = p.status.as_ref();
    Some((
        ns_name(p),
        crate::framework::listers::Budget {
            namespace: p.metadata.namespace.clone().unwrap_or_default(),
            selector: p.spec.as_ref().and_then(|s| s.selector.clone()),
            disruptions_allowed: status
                .map(|s| i64::from(s.disruptions_allowed))
                .unwrap_or(0),
            disrupted_pods: status
                .and_then(|s| s.disrupted_pods.as_ref())
                .map(|m| m.keys().cloned().collect())
                .unwrap_or_default(),
        },
    ))
}

fn name_of<K: kube::Resource>(o: &K) -> String {
    o.meta().name.clone().unwrap_or_default()
}

/// The listers' informers: namespaces, Services, RCs, ReplicaSets,
/// StatefulSets, PodDisruptionBudgets, and the volume objects (whose
/// changes retry pods VolumeBinding turned away).
fn spawn_listers(
    client: &kube::Client,
    listers: &Arc<Listers>,
    queue: &Arc<SchedulingQueue>,
) -> Vec<tokio::task::JoinHandle<()>> {
    use crate::framework::{ActionType, Resource};
    use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim};
    use k8s_openapi::api::storage::v1::StorageClass;
    let event = |r: Resource, label: &'static str| {
        Some((queue.clone(), ClusterEvent::new(r, ActionType::All, label)))
    };
    let mut volumes = vec![
        tokio::spawn(watch_into(
            Api::<PersistentVolumeClaim>::all(client.clone()),
            listers.clone(),
            |l| &l.pvcs,
            |o: &PersistentVolumeClaim| {
                let mut o = o.clone();
                o.metadata.managed_fields = None;
                Some((ns_name(&o), o))
            },
            ns_name,
            event(Resource::PersistentVolumeClaim, "PvcChange"),
        )),
        tokio::spawn(watch_into(
            Api::<PersistentVolume>::all(client.clone()),
            listers.clone(),
            |l| &l.pvs,
            |o: &PersistentVolume| {
                let mut o = o.clone();
                o.metadata.managed_fields = None;
                Some((name_of(&o), o))
            },
            name_of,
            event(Resource::PersistentVolume, "PvChange"),
        )),
        tokio::spawn(watch_into(
            Api::<StorageClass>::all(client.clone()),
            listers.clone(),
            |l| &l.storage_classes,
            |o: &StorageClass| Some((name_of(o), o.clone())),
            name_of,
            event(Resource::StorageClass, "StorageClassChange"),
        )),
    ];
    volumes.extend(spawn_selectors(client, listers));
    volumes
}

/// The informers of namespaces and selecting objects.
fn spawn_selectors(
    client: &kube::Client,
    listers: &Arc<Listers>,
) -> Vec<tokio::task::JoinHandle<()>> {
    use k8s_openapi::api::apps::v1::{ReplicaSet, StatefulSet};
    use k8s_openapi::api::core::v1::{Namespace, ReplicationController, Service};
    vec![
        tokio::spawn(watch_into(
            Api::<Namespace>::all(client.clone()),
            listers.clone(),
            |l| &l.namespaces,
            |n: &Namespace| {
                Some((
                    n.metadata.name.clone().unwrap_or_default(),
                    n.metadata.labels.clone().unwrap_or_default(),
                ))
            },
            |n: &Namespace| n.metadata.name.clone().unwrap_or_default(),
            None,
        )),
        tokio::spawn(watch_into(
            Api::<Service>::all(client.clone()),
            listers.clone(),
            |l| &l.services,
            |s: &Service| {
                selecting(
                    s,
                    map_selector(s.spec.as_ref().and_then(|s| s.selector.as_ref())),
                )
            },
            ns_name,
            None,
        )),
        tokio::spawn(watch_into(
            Api::<ReplicationController>::all(client.clone()),
            listers.clone(),
            |l| &l.replication_controllers,
            |r: &ReplicationController| {
                selecting(
                    r,
                    map_selector(r.spec.as_ref().and_then(|s| s.selector.as_ref())),
                )
            },
            ns_name,
            None,
        )),
        tokio::spawn(watch_into(
            Api::<ReplicaSet>::all(client.clone()),
            listers.clone(),
            |l| &l.replica_sets,
            |r: &ReplicaSet| selecting(r, r.spec.as_ref().map(|s| s.selector.clone())),
            ns_name,
            None,
        )),
        tokio::spawn(watch_into(
            Api::<k8s_openapi::api::policy::v1::PodDisruptionBudget>::all(client.clone()),
            listers.clone(),
            |l| &l.pdbs,
            budget,
            ns_name,
            None,
        )),
        tokio::spawn(watch_into(
            Api::<StatefulSet>::all(client.clone()),
            listers.clone(),
            |l| &l.stateful_sets,
            |r: &StatefulSet| selecting(r, r.spec.as_ref().map(|s| s.selector.clone())),
            ns_name,
            None,
        )),
    ]
}

/// Runs the scheduler until `shutdown` completes: informers, then (once
/// they have listed, as upstream's `WaitForCacheSync`) the scheduling
/// thread and the queue's timers.
pub async fn run(scheduler: Arc<Scheduler>, shutdown: impl Future<Output = ()> + Send + 'static) {
    let (nodes_synced, nodes_ready) = tokio::sync::oneshot::channel();
    let (pods_synced, pods_ready) = tokio::sync::oneshot::channel();
    let listers = spawn_listers(&scheduler.client, &scheduler.listers, &scheduler.queue);
    let nodes = tokio::spawn(scheduler.clone().watch_nodes(nodes_synced));
    let pods = tokio::spawn(scheduler.clone().watch_pods(pods_synced));
    let ready = async {
        let _ = nodes_ready.await;
        let _ = pods_ready.await;
    };
    tokio::pin!(shutdown);
    tokio::select! {
        _ = ready => {}
        _ = &mut shutdown => {
            nodes.abort();
            pods.abort();
            listers.iter().for_each(|l| l.abort());
            return;
        }
    }
    tracing::info!(profiles = ?scheduler.profiles.keys().collect::<Vec<_>>(), "scheduler started");
    let flush = tokio::spawn(scheduler.clone().flush_loop());
    let runtime = tokio::runtime::Handle::current();
    let looping = {
        let scheduler = scheduler.clone();
        std::thread::Builder::new()
            .name("scheduler".into())
            .spawn(move || scheduler.scheduling_loop(runtime))
            .expect("spawning the scheduling thread")
    };
    shutdown.await;
    scheduler.queue.close();
    nodes.abort();
    pods.abort();
    flush.abort();
    listers.iter().for_each(|l| l.abort());
    let _ = tokio::task::spawn_blocking(move || looping.join()).await;
}

/// Runs the scheduler while this process leads (upstream's
/// `leaderElection`, on by default, Lease `kube-system/kube-scheduler`):
/// a fresh scheduler each time leadership is won, stopped when it is lost;
/// until `shutdown` completes.
pub async fn run_leading(
    client: kube::Client,
    config: KubeSchedulerConfiguration,
    instance: String,
    metrics: Arc<Metrics>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    // Profiles are checked before any election (nothing is started for it).
    config.frameworks(&Handle {
        client: Some(client.clone()),
        ..Default::default()
    })?;
    let election = config.leader_election.clone().unwrap_or_default();
    if !election.leader_elect.unwrap_or(true) {
        let scheduler = Scheduler::with_metrics(client, &config, &instance, metrics)?;
        run(scheduler, shutdown).await;
        return Ok(());
    }
    tokio::pin!(shutdown);
    let namespace = election
        .resource_namespace
        .unwrap_or_else(|| "kube-system".into());
    let name = election
        .resource_name
        .unwrap_or_else(|| "kube-scheduler".into());
    let identity = format!("{instance}_{:032x}", rand::random::<u128>());
    let mut elector =
        crate::leader_election::LeaderElector::new(client.clone(), &namespace, &name, &identity);
    loop {
        tokio::select! {
            _ = elector.acquire() => {}
            _ = &mut shutdown => return Ok(()),
        }
        tracing::info!(lease = %format!("{namespace}/{name}"), %identity, "successfully acquired lease; scheduling");
        let scheduler =
            Scheduler::with_metrics(client.clone(), &config, &instance, metrics.clone())?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let running = tokio::spawn(run(scheduler, async {
            let _ = stopped.await;
        }));
        let lost = tokio::select! {
            _ = elector.renew_until_lost() => true,
            _ = &mut shutdown => false,
        };
        let _ = stop.send(());
        let _ = running.await;
        if !lost {
            elector.release().await;
            return Ok(());
        }
        tracing::error!(lease = %format!("{namespace}/{name}"), "leaderelection lost; scheduling stopped until the lease is won again");
    }
}
