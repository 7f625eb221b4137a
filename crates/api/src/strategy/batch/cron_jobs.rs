//! CronJobs (upstream's `pkg/registry/batch/cronjob/strategy.go`).

use serde_json::Value;

use crate::catalogue::ResourceDef;
use crate::errors::Cause;
use crate::strategy::Strategy;
use crate::validation::batch;

pub struct CronJobs(pub &'static ResourceDef);

impl Strategy for CronJobs {
    fn def(&self) -> &'static ResourceDef {
        self.0
    }

    fn tracks_generation(&self) -> bool {
        true
    }

    fn validate(&self, obj: &Value) -> Vec<Cause> {
        batch::validate_cron_job(obj)
    }
}
