//! Skiff's scheduler, as kube-scheduler (`pkg/scheduler`): the scheduling
//! framework (`framework`: statuses, pod and node information, plugin
//! interfaces, the runtime that runs a profile's plugins), the default
//! plugins with upstream's semantics, messages and formulas (`plugins/`),
//! profiles from a KubeSchedulerConfiguration (`profile`), the scheduling
//! queue (`queue`), the cache and its snapshots (`cache`), one pod's
//! scheduling cycle (`schedule_one`), events and metrics, the running
//! component that ties them to the API (`scheduler`), and leader election
//! on a Lease (`leader_election`).
#![forbid(unsafe_code)]

pub mod cache;
pub mod events;
pub mod framework;
pub mod leader_election;
pub mod metrics;
pub mod plugins;
pub mod profile;
pub mod queue;
pub mod resources;
pub mod schedule_one;
pub mod scheduler;

pub use profile::KubeSchedulerConfiguration;
pub use scheduler::{Scheduler, run, run_leading};

/// The scheduler name of pods that do not name one, and of the default profile.
pub const DEFAULT_SCHEDULER_NAME: &str = "default-scheduler";
