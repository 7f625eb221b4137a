//! Skiff's node agent (upstream's `pkg/kubelet`): what a node does with
//! the pods bound to it, over a container runtime behind the
//! [`runtime::Runtime`] trait (CRI-shaped: sandboxes and containers).
//!
//! - `runtime`: the trait, and the states it reports;
//! - `pod_worker`: one pod's lifecycle (upstream's `syncPod` /
//!   `syncTerminatingPod`): sandbox, init containers in order, containers,
//!   restarts by `restartPolicy`, stopping on deletion;
//! - `status`: the pod status the agent reports (upstream's
//!   `generateAPIPodStatus`: phase, conditions, container statuses, IPs);
//! - `node`: the Node it registers and keeps fresh (capacity, conditions,
//!   addresses, node info) and its Lease;
//! - `sim`: a simulated runtime (containers start at once or after a
//!   delay, Job pods finish after a set time), and a fleet of simulated
//!   nodes sharing one pod watch, for scale tests and benchmarks.
//!
//! The real runtime (containerd through CRI) implements the same trait.
#![forbid(unsafe_code)]

pub mod node;
pub mod pod_worker;
pub mod runtime;
pub mod sim;
pub mod status;
