//! The status a node agent reports for a pod (upstream's
//! `generateAPIPodStatus`, `getPhase`, `status.GeneratePodReadyCondition`
//! and friends): phase, the agent's conditions (PodReadyToStartContainers,
//! Initialized, Ready, ContainersReady) beside those others own
//! (PodScheduled, DisruptionTarget, ...), init and container statuses, the
//! node's and the pod's IPs and the start time. Transition times move only
//! when a condition's status changes.

use k8s_openapi::api::core::v1::{
    ContainerState as ApiState, ContainerStateRunning, ContainerStateTerminated,
    ContainerStateWaiting, ContainerStatus, HostIP, Pod, PodCondition, PodIP, PodStatus,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;

use crate::pod_worker::{ContainerRecord, PodState};
use crate::runtime::{ContainerInfo, ContainerState};

/// The conditions the agent owns.
const OWNED: [&str; 4] = [
    "PodReadyToStartContainers",
    "Initialized",
    "Ready",
    "ContainersReady",
];

fn api_state(info: &ContainerInfo) -> ApiState {
    match &info.state {
        ContainerState::Running { started_at } => ApiState {
            running: Some(ContainerStateRunning {
                started_at: Some(Time(*started_at)),
            }),
            ..Default::default()
        },
        ContainerState::Exited {
            exit_code,
            reason,
            started_at,
            finished_at,
        } => ApiState {
            terminated: Some(ContainerStateTerminated {
                exit_code: *exit_code,
                reason: Some(reason.clone()),
                started_at: Some(Time(*started_at)),
                finished_at: Some(Time(*finished_at)),
                container_id: Some(info.id.clone()),
                ..Default::default()
            }),
            ..Default::default()
        },
    }
}

fn container_status(r: &ContainerRecord, image: &str, default_waiting: &str) -> ContainerStatus {
    let state = match (&r.waiting, &r.current) {
        (Some((reason, message)), _) => ApiState {
            waiting: Some(ContainerStateWaiting {
                reason: Some(reason.clone()),
                message: Some(message.clone()).filter(|m| !m.is_empty()),
            }),
            ..Default::default()
        },
        (None, Some(info)) => api_state(info),
        (None, None) => ApiState {
            waiting: Some(ContainerStateWaiting {
                reason: Some(default_waiting.into()),
                message: None,
            }),
            ..Default::default()
        },
    };
    let running = r.running() && r.waiting.is_none();
    ContainerStatus {
        name: r.name.clone(),
        image: image.to_string(),
        image_id: r
            .current
            .as_ref()
            .map(|c| c.image_id.clone())
            .unwrap_or_default(),
        container_id: r.current.as_ref().map(|c| c.id.clone()),
        ready: running,
        started: Some(running),
        restart_count: r.restart_count,
        state: Some(state),
        // Waiting to restart: the exited instance is the last state.
        last_state: Some(
            match (&r.waiting, &r.current) {
                (Some(_), Some(c)) if matches!(c.state, ContainerState::Exited { .. }) => Some(c),
                _ => r.last.as_ref(),
            }
            .map(api_state)
            .unwrap_or_default(),
        ),
        ..Default::default()
    }
}

/// Upstream's `getPhase`, over the statuses generated for the pod.
pub fn phase(pod: &Pod, init: &[ContainerStatus], containers: &[ContainerStatus]) -> &'static str {
    let Some(spec) = pod.spec.as_ref() else {
        return "Pending";
    };
    let find = |list: &[ContainerStatus], name: &str| list.iter().find(|s| s.name == name).cloned();
    let terminated = |s: &ContainerStatus| s.state.as_ref().and_then(|st| st.terminated.clone());
    let running = |s: &ContainerStatus| s.state.as_ref().is_some_and(|st| st.running.is_some());
    let last_terminated =
        |s: &ContainerStatus| s.last_state.as_ref().and_then(|st| st.terminated.clone());
    let (mut pending_sidecars, mut pending_init, mut failed_init) = (0, 0, 0);
    for c in spec.init_containers.iter().flatten() {
        let status = find(init, &c.name);
        if c.restart_policy.as_deref() == Some("Always") {
            if !status.as_ref().is_some_and(running) {
                pending_sidecars += 1;
            }
            continue;
        }
        let Some(s) = status else {
            pending_init += 1;
            continue;
        };
        if running(&s) {
            pending_init += 1;
        } else if let Some(t) = terminated(&s) {
            if t.exit_code != 0 {
                failed_init += 1;
            }
        } else if let Some(t) = last_terminated(&s) {
            if t.exit_code != 0 {
                failed_init += 1;
            }
        } else {
            pending_init += 1;
        }
    }
    let (mut unknown, mut run, mut waiting, mut stopped, mut succeeded) = (0, 0, 0, 0, 0);
    for c in &spec.containers {
        let Some(s) = find(containers, &c.name) else {
            unknown += 1;
            continue;
        };
        if running(&s) {
            run += 1;
        } else if let Some(t) = terminated(&s) {
            stopped += 1;
            if t.exit_code == 0 {
                succeeded += 1;
            }
        } else if last_terminated(&s).is_some() {
            stopped += 1;
        } else if s.state.as_ref().is_some_and(|st| st.waiting.is_some()) {
            waiting += 1;
        } else {
            unknown += 1;
        }
    }
    let policy = spec.restart_policy.as_deref().unwrap_or("Always");
    if failed_init > 0 && policy == "Never" {
        return "Failed";
    }
    if pending_init > 0 || failed_init > 0 || (pending_sidecars > 0 && run + stopped == 0) {
        return "Pending";
    }
    if waiting > 0 {
        return "Pending";
    }
    if run > 0 && unknown == 0 {
        return "Running";
    }
    if run == 0 && stopped > 0 && unknown == 0 {
        if policy == "Always" {
            return "Running";
        }
        if stopped == succeeded {
            return "Succeeded";
        }
        if policy == "Never" {
            return "Failed";
        }
        return "Running";
    }
    "Pending"
}

fn condition(
    previous: &[PodCondition],
    type_: &str,
    ok: bool,
    reason: Option<&str>,
    message: Option<String>,
    now: Timestamp,
) -> PodCondition {
    let status = if ok { "True" } else { "False" };
    let transition = previous
        .iter()
        .find(|c| c.type_ == type_ && c.status == status)
        .and_then(|c| c.last_transition_time.clone())
        .unwrap_or(Time(now));
    PodCondition {
        type_: type_.into(),
        status: status.into(),
        reason: reason.map(str::to_string),
        message,
        last_transition_time: Some(transition),
        last_probe_time: None,
        observed_generation: None,
    }
}

/// The pod's status from the agent's state, on the node at `host_ip`.
pub fn generate(pod: &Pod, state: &PodState, host_ip: &str) -> PodStatus {
    let now = Timestamp::now();
    let old = pod.status.clone().unwrap_or_default();
    let previous = old.conditions.clone().unwrap_or_default();
    let spec = pod.spec.clone().unwrap_or_default();
    let image_of = |name: &str, list: &[k8s_openapi::api::core::v1::Container]| {
        list.iter()
            .find(|c| c.name == name)
            .and_then(|c| c.image.clone())
            .unwrap_or_default()
    };
    let inits = spec.init_containers.clone().unwrap_or_default();
    let init_statuses: Vec<ContainerStatus> = state
        .init_containers
        .iter()
        .map(|r| container_status(r, &image_of(&r.name, &inits), "PodInitializing"))
        .collect();
    let initialized = inits.iter().zip(&state.init_containers).all(|(c, r)| {
        if c.restart_policy.as_deref() == Some("Always") {
            r.running()
        } else {
            r.exit_code() == Some(0)
        }
    }) && state.init_containers.len() == inits.len();
    let waiting_reason = if initialized {
        "ContainerCreating"
    } else {
        "PodInitializing"
    };
    let statuses: Vec<ContainerStatus> = state
        .containers
        .iter()
        .map(|r| container_status(r, &image_of(&r.name, &spec.containers), waiting_reason))
        .collect();
    let phase = phase(pod, &init_statuses, &statuses);
    let completed = matches!(phase, "Succeeded" | "Failed");
    let unready: Vec<&str> = statuses
        .iter()
        .filter(|s| !s.ready)
        .map(|s| s.name.as_str())
        .collect();
    let ready = unready.is_empty() && !statuses.is_empty() && !completed;
    let (ready_reason, ready_message) = if completed {
        (Some("PodCompleted"), None)
    } else if ready {
        (None, None)
    } else {
        (
            Some("ContainersNotReady"),
            Some(format!(
                "containers with unready status: [{}]",
                unready.join(" ")
            )),
        )
    };
    let uninitialized: Vec<&str> = inits
        .iter()
        .zip(
            state
                .init_containers
                .iter()
                .map(Some)
                .chain(std::iter::repeat(None)),
        )
        .filter(|(c, r)| {
            c.restart_policy.as_deref() != Some("Always")
                && r.is_none_or(|r| r.exit_code() != Some(0))
        })
        .map(|(c, _)| c.name.as_str())
        .collect();
    let (init_reason, init_message) = if completed && initialized {
        (Some("PodCompleted"), None)
    } else if initialized {
        (None, None)
    } else {
        (
            Some("ContainersNotInitialized"),
            Some(format!(
                "containers with incomplete status: [{}]",
                uninitialized.join(" ")
            )),
        )
    };
    let mut conditions = vec![
        condition(
            &previous,
            "PodReadyToStartContainers",
            state.sandbox.is_some(),
            None,
            None,
            now,
        ),
        condition(
            &previous,
            "Initialized",
            initialized,
            init_reason,
            init_message,
            now,
        ),
        condition(
            &previous,
            "Ready",
            ready,
            ready_reason,
            ready_message.clone(),
            now,
        ),
        condition(
            &previous,
            "ContainersReady",
            ready,
            ready_reason,
            ready_message,
            now,
        ),
    ];
    conditions.extend(
        previous
            .into_iter()
            .filter(|c| !OWNED.contains(&c.type_.as_str())),
    );
    let pod_ip = state
        .sandbox
        .as_ref()
        .map(|s| s.ip.clone())
        .filter(|ip| !ip.is_empty());
    PodStatus {
        phase: Some(phase.into()),
        conditions: Some(conditions),
        host_ip: Some(host_ip.to_string()),
        host_ips: Some(vec![HostIP {
            ip: host_ip.to_string(),
        }]),
        pod_ip: pod_ip.clone(),
        pod_ips: pod_ip.map(|ip| vec![PodIP { ip }]),
        start_time: state.start_time.map(Time),
        init_container_statuses: (!init_statuses.is_empty()).then_some(init_statuses),
        container_statuses: Some(statuses),
        qos_class: old.qos_class,
        nominated_node_name: old.nominated_node_name,
        ..Default::default()
    }
}
