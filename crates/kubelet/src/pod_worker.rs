//! One pod's lifecycle on the node (upstream's `kubelet.syncPod`,
//! `kuberuntime.SyncPod` and `syncTerminatingPod`): the sandbox first;
//! then the init containers one after another (a restartable init
//! container — a sidecar — is started and left running); then every
//! container; exited containers restarted as `restartPolicy` says, with
//! upstream's crash-loop back-off (10 s doubling to 5 min); and on
//! deletion every container stopped and the sandbox removed.
//!
//! The runtime does the work; this module decides what to ask of it and
//! keeps what the status is generated from.

use std::time::Duration;

use tokio::time::Instant;

use k8s_openapi::api::core::v1::{Container, Pod};
use k8s_openapi::jiff::Timestamp;

use crate::runtime::{ContainerInfo, ContainerState, Runtime, RuntimeError, Sandbox};

/// Upstream's crash-loop back-off: 10 s, doubling, at most 5 minutes.
pub const BACKOFF_INITIAL: Duration = Duration::from_secs(10);
pub const BACKOFF_MAX: Duration = Duration::from_secs(300);

/// One container of the pod as the agent tracks it.
#[derive(Clone, Debug, Default)]
pub struct ContainerRecord {
    pub name: String,
    /// The current instance, once started.
    pub current: Option<ContainerInfo>,
    /// The previous instance, once restarted (`lastState`).
    pub last: Option<ContainerInfo>,
    pub restart_count: i32,
    /// Why it is not running (`ContainerCreating`, `CrashLoopBackOff`,
    /// a runtime error), with a message.
    pub waiting: Option<(String, String)>,
    /// Not restarted before this time (crash-loop back-off).
    pub backoff_until: Option<Instant>,
}

impl ContainerRecord {
    fn new(name: &str) -> ContainerRecord {
        ContainerRecord {
            name: name.to_string(),
            ..Default::default()
        }
    }

    pub fn running(&self) -> bool {
        matches!(
            self.current.as_ref().map(|c| &c.state),
            Some(ContainerState::Running { .. })
        )
    }

    /// The exit code of the current instance, when it has exited.
    pub fn exit_code(&self) -> Option<i32> {
        match self.current.as_ref().map(|c| &c.state) {
            Some(ContainerState::Exited { exit_code, .. }) => Some(*exit_code),
            _ => None,
        }
    }
}

/// What the agent knows of one pod's runtime side.
#[derive(Clone, Debug, Default)]
pub struct PodState {
    /// When the agent took the pod (`status.startTime`).
    pub start_time: Option<Timestamp>,
    pub sandbox: Option<Sandbox>,
    pub sandbox_error: Option<RuntimeError>,
    pub init_containers: Vec<ContainerRecord>,
    pub containers: Vec<ContainerRecord>,
    /// Its containers were stopped for deletion.
    pub terminated: bool,
}

fn is_sidecar(c: &Container) -> bool {
    c.restart_policy.as_deref() == Some("Always")
}

fn restart_policy(pod: &Pod) -> &str {
    pod.spec
        .as_ref()
        .and_then(|s| s.restart_policy.as_deref())
        .unwrap_or("Always")
}

/// Whether an exited container is started again (upstream's
/// `ShouldContainerBeRestarted`).
fn should_restart(policy: &str, exit_code: i32) -> bool {
    match policy {
        "Never" => false,
        "OnFailure" => exit_code != 0,
        _ => true,
    }
}

/// The back-off after `restarts` restarts.
pub fn backoff(restarts: i32) -> Duration {
    let mut d = BACKOFF_INITIAL;
    for _ in 0..restarts.max(0) {
        d = (d * 2).min(BACKOFF_MAX);
    }
    d.min(BACKOFF_MAX)
}

async fn start(
    runtime: &dyn Runtime,
    sandbox: &Sandbox,
    pod: &Pod,
    container: &Container,
    record: &mut ContainerRecord,
    now: Instant,
) {
    if let Some(until) = record.backoff_until
        && now < until
    {
        record.waiting = Some((
            "CrashLoopBackOff".into(),
            format!(
                "back-off {}s restarting failed container={} pod={}_{}({})",
                backoff(record.restart_count - 1).as_secs(),
                container.name,
                pod.metadata.name.as_deref().unwrap_or(""),
                pod.metadata.namespace.as_deref().unwrap_or(""),
                pod.metadata.uid.as_deref().unwrap_or("")
            ),
        ));
        return;
    }
    match runtime.start_container(sandbox, pod, container).await {
        Ok(info) => {
            if let Some(prev) = record.current.take() {
                record.last = Some(prev);
                record.restart_count += 1;
            }
            record.current = Some(info);
            record.waiting = None;
            record.backoff_until = None;
        }
        Err(e) => record.waiting = Some((e.reason, e.message)),
    }
}

/// Takes what the runtime says now of every started container.
fn refresh(runtime: &dyn Runtime, state: &mut PodState) {
    for r in state
        .init_containers
        .iter_mut()
        .chain(state.containers.iter_mut())
    {
        if let Some(info) = r
            .current
            .as_ref()
            .and_then(|c| runtime.container_state(&c.id))
        {
            r.current = Some(info);
        }
    }
}

/// Brings the pod's containers where its spec wants them; returns when it
/// should be synced again at the latest (a back-off ending).
pub async fn sync_pod(runtime: &dyn Runtime, pod: &Pod, state: &mut PodState) -> Option<Instant> {
    let now = Instant::now();
    let spec = pod.spec.as_ref()?;
    state.start_time.get_or_insert_with(Timestamp::now);
    if state.terminated {
        return None;
    }
    let inits = spec.init_containers.as_deref().unwrap_or(&[]);
    if state.init_containers.len() != inits.len() {
        state.init_containers = inits
            .iter()
            .map(|c| ContainerRecord::new(&c.name))
            .collect();
    }
    if state.containers.len() != spec.containers.len() {
        state.containers = spec
            .containers
            .iter()
            .map(|c| ContainerRecord::new(&c.name))
            .collect();
    }
    let sandbox = match &state.sandbox {
        Some(s) => s.clone(),
        None => match runtime.run_pod_sandbox(pod).await {
            Ok(s) => {
                state.sandbox = Some(s.clone());
                state.sandbox_error = None;
                s
            }
            Err(e) => {
                state.sandbox_error = Some(e);
                return Some(now + BACKOFF_INITIAL);
            }
        },
    };
    refresh(runtime, state);
    let policy = restart_policy(pod).to_string();
    let mut next: Option<Instant> = None;
    let mut resync_at = |at: Instant| next = Some(next.map_or(at, |n: Instant| n.min(at)));
    // Init containers, in order.
    for (c, r) in inits.iter().zip(state.init_containers.iter_mut()) {
        if is_sidecar(c) {
            if !r.running() {
                if r.current.is_some() && r.backoff_until.is_none() {
                    r.backoff_until = Some(now + backoff(r.restart_count));
                }
                start(runtime, &sandbox, pod, c, r, now).await;
                if let Some(until) = r.backoff_until {
                    resync_at(until);
                }
            }
            continue;
        }
        match r.exit_code() {
            Some(0) => continue,
            Some(code) => {
                // A failed init container is retried unless the pod never restarts.
                if policy == "Never" {
                    return None;
                }
                if r.backoff_until.is_none() {
                    r.backoff_until = Some(now + backoff(r.restart_count));
                }
                let _ = code;
                start(runtime, &sandbox, pod, c, r, now).await;
                if let Some(until) = r.backoff_until {
                    resync_at(until);
                }
                return next;
            }
            None if r.current.is_none() => {
                start(runtime, &sandbox, pod, c, r, now).await;
                return next;
            }
            None => return next, // running: wait for it to exit
        }
    }
    for (c, r) in spec.containers.iter().zip(state.containers.iter_mut()) {
        match (&r.current, r.exit_code()) {
            (None, _) => start(runtime, &sandbox, pod, c, r, now).await,
            (Some(_), Some(code)) if should_restart(&policy, code) => {
                if r.backoff_until.is_none() {
                    r.backoff_until = Some(now + backoff(r.restart_count));
                }
                start(runtime, &sandbox, pod, c, r, now).await;
                if let Some(until) = r.backoff_until {
                    resync_at(until);
                }
            }
            _ => {}
        }
    }
    next
}

/// Stops every container (the pod is being deleted) and removes the sandbox.
pub async fn terminate_pod(runtime: &dyn Runtime, pod: &Pod, state: &mut PodState) {
    let grace = pod
        .metadata
        .deletion_grace_period_seconds
        .or_else(|| {
            pod.spec
                .as_ref()
                .and_then(|s| s.termination_grace_period_seconds)
        })
        .unwrap_or(30);
    let ids: Vec<String> = state
        .containers
        .iter()
        .chain(state.init_containers.iter())
        .filter(|r| r.running())
        .filter_map(|r| r.current.as_ref().map(|c| c.id.clone()))
        .collect();
    futures::future::join_all(ids.iter().map(|id| runtime.stop_container(id, grace))).await;
    refresh(runtime, state);
    for r in state
        .init_containers
        .iter_mut()
        .chain(state.containers.iter_mut())
    {
        r.waiting = None;
    }
    if let Some(s) = state.sandbox.take() {
        runtime.remove_pod_sandbox(&s).await;
    }
    state.terminated = true;
}
