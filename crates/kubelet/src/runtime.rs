//! The container runtime as the node agent sees it (upstream's
//! `kubecontainer.Runtime` over CRI's RuntimeService): a pod sandbox with
//! its IP, containers created and started in it, their states, and events
//! when a container exits (upstream's PLEG).

use futures::future::BoxFuture;
use k8s_openapi::api::core::v1::{Container, Pod};
use k8s_openapi::jiff::Timestamp;

/// What a runtime call failed with (upstream's `CreateContainerError`,
/// `RunContainerError`, ...: the reason shown in the container's waiting state).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{reason}: {message}")]
pub struct RuntimeError {
    pub reason: String,
    pub message: String,
}

/// A pod's sandbox: its id and network address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sandbox {
    pub id: String,
    pub ip: String,
}

/// A container's state as the runtime reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ContainerState {
    Running {
        started_at: Timestamp,
    },
    Exited {
        exit_code: i32,
        reason: String,
        started_at: Timestamp,
        finished_at: Timestamp,
    },
}

/// A started container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerInfo {
    /// `<runtime>://<id>`, as `containerStatuses[].containerID`.
    pub id: String,
    pub image_id: String,
    pub state: ContainerState,
}

/// Something happened to a pod's containers (upstream's `PodLifecycleEvent`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LifecycleEvent {
    /// The pod's uid.
    pub pod_uid: String,
    /// The container that exited.
    pub container_id: String,
}

/// A container runtime.
pub trait Runtime: Send + Sync + 'static {
    /// The runtime's name and version (`containerRuntimeVersion` of the node).
    fn version(&self) -> String;

    /// Creates the pod's sandbox (network namespace, IP).
    fn run_pod_sandbox(&self, pod: &Pod) -> BoxFuture<'static, Result<Sandbox, RuntimeError>>;

    /// Creates and starts one of the pod's containers in its sandbox.
    fn start_container(
        &self,
        sandbox: &Sandbox,
        pod: &Pod,
        container: &Container,
    ) -> BoxFuture<'static, Result<ContainerInfo, RuntimeError>>;

    /// A container's current state.
    fn container_state(&self, id: &str) -> Option<ContainerInfo>;

    /// Stops a container (its exit reported as by the runtime).
    fn stop_container(&self, id: &str, grace_seconds: i64) -> BoxFuture<'static, ()>;

    /// Removes the sandbox and what is left of its containers.
    fn remove_pod_sandbox(&self, sandbox: &Sandbox) -> BoxFuture<'static, ()>;
}
