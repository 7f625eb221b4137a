//! FlowSchemas and PriorityLevelConfigurations (upstream's
//! `pkg/registry/flowcontrol/<resource>/strategy.go`): generation tracked;
//! the status strategy keeps all of the stored metadata but the managed fields.

use serde_json::{Value, json};

use crate::catalogue::ResourceDef;
use crate::meta;
use crate::strategy::{self, Strategy, UpdateVia};

pub struct FlowControl(pub &'static ResourceDef);

impl Strategy for FlowControl {
    fn def(&self) -> &'static ResourceDef {
        self.0
    }

    fn tracks_generation(&self) -> bool {
        matches!(self.0.plural, "flowschemas" | "prioritylevelconfigurations")
    }

    fn prepare_for_update(&self, via: UpdateVia, new: &mut Value, old: &Value) {
        if via != UpdateVia::Status {
            return strategy::prepare_for_update(self, new, old);
        }
        let managed = meta::metadata(new)
            .and_then(|m| m.get("managedFields"))
            .cloned();
        let rv = meta::resource_version(new).to_string();
        strategy::prepare_for_status_update(self, new, old);
        new["metadata"] = old["metadata"].clone();
        match managed {
            Some(m) => meta::set(new, "managedFields", m),
            None => meta::remove(new, "managedFields"),
        }
        meta::set(new, "resourceVersion", json!(rv));
    }
}
