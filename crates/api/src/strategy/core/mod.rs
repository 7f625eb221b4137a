//! The core group's strategies (upstream's `pkg/registry/core/<resource>/`).

pub mod config_maps;
pub mod endpoints;
pub mod events;
pub mod limit_ranges;
pub mod namespaces;
pub mod nodes;
pub mod persistent_volume_claims;
pub mod persistent_volumes;
pub mod pod_templates;
pub mod pods;
pub mod replication_controllers;
pub mod secrets;
pub mod service_accounts;
pub mod services;
