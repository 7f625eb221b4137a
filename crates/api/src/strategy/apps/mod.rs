//! The apps group's strategies (upstream's `pkg/registry/apps/<resource>/`).

pub mod daemon_sets;
pub mod deployments;
pub mod replica_sets;
pub mod stateful_sets;
