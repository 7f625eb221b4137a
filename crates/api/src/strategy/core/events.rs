//! Events, core/v1 and events.k8s.io/v1 (upstream's
//! `pkg/registry/core/event/strategy.go`): they live an hour (the
//! apiserver's default `--event-ttl`) and may be created by PUT.

use std::time::Duration;

use crate::catalogue::ResourceDef;
use crate::strategy::Strategy;

pub struct Events(pub &'static ResourceDef);

impl Strategy for Events {
    fn def(&self) -> &'static ResourceDef {
        self.0
    }

    fn allow_create_on_update(&self) -> bool {
        true
    }

    fn ttl(&self) -> Option<Duration> {
        Some(Duration::from_secs(3600))
    }
}
