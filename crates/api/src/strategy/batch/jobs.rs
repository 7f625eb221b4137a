//! Jobs (upstream's `pkg/registry/batch/job/strategy.go`): the selector and
//! pod labels generated from the Job's uid unless `manualSelector`.

use serde_json::{Value, json};

use crate::catalogue::ResourceDef;
use crate::errors::Cause;
use crate::meta;
use crate::strategy::{Strategy, UpdateVia};
use crate::validation::batch;

pub struct Jobs(pub &'static ResourceDef);

impl Strategy for Jobs {
    fn def(&self) -> &'static ResourceDef {
        self.0
    }

    fn tracks_generation(&self) -> bool {
        true
    }

    fn complete_create(&self, obj: &mut Value) {
        // A Job without labels of its own has its template's (defaulting),
        // one map in upstream, so they gain the selector's labels too.
        let template_labels = obj.pointer("/spec/template/metadata/labels").cloned();
        let shared = template_labels.is_some()
            && (meta::labels(obj).is_none_or(|l| l.is_empty())
                || meta::metadata(obj).and_then(|m| m.get("labels")) == template_labels.as_ref());
        generate_selector(obj);
        if shared && let Some(labels) = obj.pointer("/spec/template/metadata/labels").cloned() {
            meta::set(obj, "labels", labels);
        }
    }

    fn validate(&self, obj: &Value) -> Vec<Cause> {
        batch::validate_job(obj)
    }

    fn validate_update(&self, via: UpdateVia, new: &Value, old: &Value) -> Vec<Cause> {
        match via {
            UpdateVia::Main => batch::validate_job_update(new, old),
            _ => Vec::new(),
        }
    }
}

/// A Job's selector and pod labels from its uid, unless the user manages the
/// selector (upstream's `generateSelector`).
fn generate_selector(obj: &mut Value) {
    if obj.pointer("/spec/manualSelector").and_then(Value::as_bool) == Some(true) {
        return;
    }
    let uid = meta::uid(obj).to_string();
    let name = meta::name(obj).to_string();
    obj["spec"]["selector"] = json!({"matchLabels": {"batch.kubernetes.io/controller-uid": uid}});
    let labels = [
        ("batch.kubernetes.io/controller-uid", uid.as_str()),
        ("batch.kubernetes.io/job-name", name.as_str()),
        ("controller-uid", uid.as_str()),
        ("job-name", name.as_str()),
    ];
    for (k, v) in labels {
        obj["spec"]["template"]["metadata"]["labels"][k] = json!(v);
    }
}
