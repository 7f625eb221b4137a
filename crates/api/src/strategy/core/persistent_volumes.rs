//! PersistentVolumes (upstream's `pkg/registry/core/persistentvolume/strategy.go`):
//! the initial Pending phase and its transition time, kept up by status updates.

use serde_json::{Value, json};

use crate::catalogue::ResourceDef;
use crate::meta;
use crate::strategy::{self, Strategy, UpdateVia};

pub struct PersistentVolumes(pub &'static ResourceDef);

impl Strategy for PersistentVolumes {
    fn def(&self) -> &'static ResourceDef {
        self.0
    }

    fn initial_status(&self, o: &mut Value) {
        o["status"] = json!({"phase": "Pending", "lastPhaseTransitionTime": meta::now()});
    }

    fn prepare_for_update(&self, via: UpdateVia, new: &mut Value, old: &Value) {
        if via != UpdateVia::Status {
            return strategy::prepare_for_update(self, new, old);
        }
        strategy::prepare_for_status_update(self, new, old);
        // When the phase changes, so does its transition time (unless the client set it).
        let time = "/status/lastPhaseTransitionTime";
        let same_phase = new.pointer("/status/phase") == old.pointer("/status/phase");
        let unset = new.pointer(time).is_none_or(Value::is_null);
        if same_phase && unset {
            if let Some(t) = old.pointer(time) {
                new["status"]["lastPhaseTransitionTime"] = t.clone();
            }
        } else if !same_phase && (unset || new.pointer(time) == old.pointer(time)) {
            new["status"]["lastPhaseTransitionTime"] = json!(meta::now());
        }
    }

    fn return_deleted_object(&self) -> bool {
        true
    }
}
