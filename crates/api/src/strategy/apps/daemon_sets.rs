//! DaemonSets (upstream's `pkg/registry/apps/daemonset/strategy.go`): the
//! template generation (in v1 the `deprecated.daemonset.template.generation`
//! annotation) starts at 1 and grows with each template change.

use serde_json::Value;

use crate::catalogue::ResourceDef;
use crate::errors::Cause;
use crate::meta;
use crate::strategy::{self, Strategy, UpdateVia, set_annotation};
use crate::validation::apps;

pub struct DaemonSets(pub &'static ResourceDef);

/// The annotation a v1 DaemonSet carries its template generation in.
const TEMPLATE_GENERATION: &str = "deprecated.daemonset.template.generation";

impl Strategy for DaemonSets {
    fn def(&self) -> &'static ResourceDef {
        self.0
    }

    fn tracks_generation(&self) -> bool {
        true
    }

    fn prepare_for_create(&self, obj: &mut Value) {
        strategy::prepare_for_create(self, obj);
        set_annotation(obj, TEMPLATE_GENERATION, "1");
    }

    fn prepare_for_update(&self, via: UpdateVia, new: &mut Value, old: &Value) {
        if via == UpdateVia::Status {
            return strategy::prepare_for_status_update(self, new, old);
        }
        strategy::prepare_for_update(self, new, old);
        let old_gen = meta::annotations(old)
            .and_then(|a| a.get(TEMPLATE_GENERATION))
            .and_then(Value::as_str)
            .and_then(|g| g.parse::<i64>().ok())
            .unwrap_or(1);
        let changed = new.pointer("/spec/template") != old.pointer("/spec/template");
        let g = if changed { old_gen + 1 } else { old_gen };
        set_annotation(new, TEMPLATE_GENERATION, &g.to_string());
    }

    fn validate(&self, obj: &Value) -> Vec<Cause> {
        apps::validate_daemon_set(obj)
    }

    fn validate_update(&self, via: UpdateVia, new: &Value, old: &Value) -> Vec<Cause> {
        match via {
            UpdateVia::Main => apps::validate_daemon_set_update(new, old),
            _ => Vec::new(),
        }
    }
}
