//! The batch group's strategies (upstream's `pkg/registry/batch/<resource>/`).

pub mod cron_jobs;
pub mod jobs;
