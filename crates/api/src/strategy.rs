//! Per-kind strategies, as upstream's `pkg/registry/<group>/<resource>/strategy.go`:
//! how a kind's names are validated, whether its status is a separate
//! subresource, whether `metadata.generation` tracks its spec, its initial
//! status, its selectable fields, and its kind-specific validation (the rules
//! themselves live in `validation`'s submodules).
//!
//! Defaulting of the built-in kinds' specs lives in `defaults` (per kind).

use serde_json::{Value, json};

use crate::catalogue::ResourceDef;
use crate::errors::Cause;
use crate::meta;
use crate::validation::{
    NameRule, apps, batch, config, namespaces, pods, rbac, scheduling, services, storage,
};

/// What the generic machinery needs to know of a kind.
#[derive(Clone, Copy)]
pub struct Strategy {
    pub name_rule: NameRule,
    /// The main resource ignores changes to `status`; the status subresource
    /// changes only `status`.
    pub status_split: bool,
    /// `metadata.generation` starts at 1 and grows with each spec change.
    pub generation: bool,
    /// Sets the status a new object starts with (after the main resource cleared it).
    pub initial_status: Option<fn(&mut Value)>,
    /// Whether create keeps the status the client sent (nodes: the kubelet
    /// registers with its status).
    pub keep_status_on_create: bool,
    /// The field selector labels the kind's group version accepts.
    pub field_labels: crate::fields::FieldLabels,
    /// Where the kind is stored (for its selectable fields' values).
    group: &'static str,
    plural: &'static str,
    /// Kind-specific validation of an object written (created, or replacing
    /// another through the main resource).
    pub validate: fn(&Value) -> Vec<Cause>,
    /// Kind-specific rules of an update of the main resource: what may not
    /// change between `old` (second) and `new` (first).
    pub validate_update: fn(&Value, &Value) -> Vec<Cause>,
    /// Kind-specific rules of an update through the status subresource.
    pub validate_status_update: fn(&Value, &Value) -> Vec<Cause>,
    /// Kind-specific rules of an update through `finalize` (namespaces).
    pub validate_finalize: fn(&Value, &Value) -> Vec<Cause>,
}

fn no_validation(_: &Value) -> Vec<Cause> {
    Vec::new()
}

fn no_update_rules(_: &Value, _: &Value) -> Vec<Cause> {
    Vec::new()
}

const GENERATION_KINDS: &[&str] = &[
    "deployments",
    "replicasets",
    "statefulsets",
    "daemonsets",
    "jobs",
    "cronjobs",
    "replicationcontrollers",
    "horizontalpodautoscalers",
    "poddisruptionbudgets",
    "ingresses",
    "networkpolicies",
    "customresourcedefinitions",
    "validatingwebhookconfigurations",
    "mutatingwebhookconfigurations",
    "validatingadmissionpolicies",
    "validatingadmissionpolicybindings",
    "flowschemas",
    "prioritylevelconfigurations",
];

impl Strategy {
    /// The strategy of a catalogue entry.
    pub fn of(def: &ResourceDef) -> Strategy {
        let status_split = def.subresource("status").is_some();
        let name_rule = match def.plural {
            "namespaces" => NameRule::Label,
            "services" => NameRule::Dns1035,
            "roles"
            | "clusterroles"
            | "rolebindings"
            | "clusterrolebindings"
            | "nodes"
            | "users"
            | "apiservices" => NameRule::PathSegment,
            _ => NameRule::Subdomain,
        };
        let mut s = Strategy {
            name_rule,
            status_split,
            generation: GENERATION_KINDS.contains(&def.plural),
            initial_status: None,
            keep_status_on_create: false,
            field_labels: crate::fields::labels(def.group, def.version, def.kind),
            group: def.group,
            plural: def.plural,
            validate: no_validation,
            validate_update: no_update_rules,
            validate_status_update: no_update_rules,
            validate_finalize: no_update_rules,
        };
        match (def.group, def.plural) {
            ("", "pods") => {
                s.initial_status = Some(|o| {
                    let qos = crate::validation::pod_subresources::qos_class(
                        o.get("spec").unwrap_or(&Value::Null),
                    );
                    o["status"] = json!({"phase": "Pending", "qosClass": qos});
                });
                s.validate = pods::validate_pod;
                s.validate_update = pods::validate_pod_update;
            }
            ("", "namespaces") => {
                s.initial_status = Some(|o| o["status"] = json!({"phase": "Active"}));
                s.validate = namespaces::validate_namespace;
                s.validate_status_update = namespaces::validate_namespace_status_update;
                s.validate_finalize = namespaces::validate_namespace_finalize;
            }
            ("", "nodes") => {
                s.keep_status_on_create = true;
            }
            ("", "persistentvolumes") => {
                s.initial_status = Some(|o| {
                    o["status"] =
                        json!({"phase": "Pending", "lastPhaseTransitionTime": meta::now()})
                });
            }
            ("", "persistentvolumeclaims") => {
                s.initial_status = Some(|o| o["status"] = json!({"phase": "Pending"}));
                s.validate_update = storage::validate_pvc_update;
            }
            ("storage.k8s.io", "storageclasses") => {
                s.validate_update = storage::validate_storage_class_update;
            }
            ("scheduling.k8s.io", "priorityclasses") => {
                s.validate_update = scheduling::validate_priority_class_update;
            }
            ("rbac.authorization.k8s.io", "rolebindings" | "clusterrolebindings") => {
                s.validate_update = rbac::validate_binding_update;
            }
            ("", "secrets") => {
                s.validate = config::validate_secret;
                s.validate_update = config::validate_secret_update;
            }
            ("", "configmaps") => {
                s.validate = config::validate_config_map;
                s.validate_update = config::validate_config_map_update;
            }
            ("", "services") => {
                s.validate = services::validate_service;
                s.validate_update = services::validate_service_update;
            }
            ("", "podtemplates") => s.validate = pods::validate_pod_template,
            ("", "replicationcontrollers") => {
                s.validate = apps::validate_replication_controller;
            }
            ("apps", "deployments") => {
                s.validate = apps::validate_deployment;
                s.validate_update = apps::validate_deployment_update;
            }
            ("apps", "replicasets") => {
                s.validate = apps::validate_replica_set;
                s.validate_update = apps::validate_replica_set_update;
            }
            ("apps", "statefulsets") => {
                s.validate = apps::validate_stateful_set;
                s.validate_update = apps::validate_stateful_set_update;
            }
            ("apps", "daemonsets") => {
                s.validate = apps::validate_daemon_set;
                s.validate_update = apps::validate_daemon_set_update;
            }
            ("batch", "jobs") => {
                s.validate = batch::validate_job;
                s.validate_update = batch::validate_job_update;
            }
            ("batch", "cronjobs") => s.validate = batch::validate_cron_job,
            _ => {}
        }
        s
    }

    /// Prepares a new object: clears or initializes what the client may not set.
    pub fn prepare_for_create(&self, obj: &mut Value) {
        // Upstream's defaulting of a Secret's type.
        if obj.get("kind").and_then(Value::as_str) == Some("Secret")
            && obj
                .get("type")
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
        {
            obj["type"] = json!("Opaque");
        }
        if self.status_split && !self.keep_status_on_create {
            if let Some(o) = obj.as_object_mut() {
                o.remove("status");
            }
            if let Some(init) = self.initial_status {
                init(obj);
            }
        }
        if self.generation {
            meta::set(obj, "generation", json!(1));
        }
        // The v1 form of a DaemonSet's internal template generation.
        if (self.group, self.plural) == ("apps", "daemonsets") {
            set_annotation(obj, DS_TEMPLATE_GENERATION, "1");
        }
    }

    /// Prepares an update of the main resource: keeps the stored status, bumps
    /// the generation when the spec changed.
    pub fn prepare_for_update(&self, new: &mut Value, old: &Value) {
        if self.status_split {
            copy_field(new, old, "status");
        }
        match (self.group, self.plural) {
            // spec.finalizers change only through /finalize.
            ("", "namespaces") => match old.pointer("/spec/finalizers") {
                Some(f) => new["spec"]["finalizers"] = f.clone(),
                None => {
                    if let Some(spec) = new.get_mut("spec").and_then(Value::as_object_mut) {
                        spec.remove("finalizers");
                    }
                }
            },
            // Through the main resource only metadata changes.
            ("certificates.k8s.io", "certificatesigningrequests") => copy_field(new, old, "spec"),
            // The template generation grows with each template change.
            ("apps", "daemonsets") => {
                let old_gen = meta::annotations(old)
                    .and_then(|a| a.get(DS_TEMPLATE_GENERATION))
                    .and_then(Value::as_str)
                    .and_then(|g| g.parse::<i64>().ok())
                    .unwrap_or(1);
                let changed = new.pointer("/spec/template") != old.pointer("/spec/template");
                let g = if changed { old_gen + 1 } else { old_gen };
                set_annotation(new, DS_TEMPLATE_GENERATION, &g.to_string());
            }
            ("", "services") => {
                use crate::validation::service_update as su;
                su::patch_allocated_values(new, old);
                su::normalize_cluster_ips(new, old);
                su::drop_type_dependent_fields(new, old);
            }
            _ => {}
        }
        self.carry_generation(new, old, true);
    }

    /// Prepares an update through the status subresource, as upstream's
    /// status strategies do: everything but `status` and `metadata` is the
    /// stored object's; metadata changes are kept except where the kind's
    /// strategy resets them.
    pub fn prepare_for_status_update(&self, new: &mut Value, old: &Value) {
        let mut merged = old.clone();
        copy_field(&mut merged, new, "status");
        copy_field(&mut merged, new, "metadata");
        let reset: &[&str] = match (self.group, self.plural) {
            // Old kubelets corrupt owner references.
            ("", "pods") => &["ownerReferences", "deletionTimestamp"],
            ("apps", "deployments") => &["labels"],
            ("apiregistration.k8s.io", "apiservices") => {
                &["labels", "annotations", "finalizers", "ownerReferences"]
            }
            ("storage.k8s.io", "volumeattachments")
            | ("admissionregistration.k8s.io", "validatingadmissionpolicies") => {
                meta::RESET_FOR_STATUS
            }
            _ => &[],
        };
        meta::reset_fields(&mut merged, old, reset);
        // Flow control keeps all of its metadata but the managed fields.
        if self.group == "flowcontrol.apiserver.k8s.io" {
            let managed = meta::metadata(new)
                .and_then(|m| m.get("managedFields"))
                .cloned();
            let rv = meta::resource_version(new).to_string();
            merged["metadata"] = old["metadata"].clone();
            match managed {
                Some(m) => meta::set(&mut merged, "managedFields", m),
                None => meta::remove(&mut merged, "managedFields"),
            }
            meta::set(&mut merged, "resourceVersion", json!(rv));
        }
        match (self.group, self.plural) {
            // Old kubelets drop the QoS class: it comes back from the stored pod.
            ("", "pods") if merged.pointer("/status/qosClass").is_none_or(|q| q == "") => {
                if let Some(q) = old.pointer("/status/qosClass") {
                    merged["status"]["qosClass"] = q.clone();
                }
            }
            // When the phase changes, so does its transition time (unless the client set it).
            ("", "persistentvolumes") => {
                let time = "/status/lastPhaseTransitionTime";
                let same_phase = merged.pointer("/status/phase") == old.pointer("/status/phase");
                let unset = merged.pointer(time).is_none_or(Value::is_null);
                if same_phase && unset {
                    if let Some(t) = old.pointer(time) {
                        merged["status"]["lastPhaseTransitionTime"] = t.clone();
                    }
                } else if !same_phase && (unset || merged.pointer(time) == old.pointer(time)) {
                    merged["status"]["lastPhaseTransitionTime"] = json!(meta::now());
                }
            }
            _ => {}
        }
        if (self.group, self.plural) == ("certificates.k8s.io", "certificatesigningrequests") {
            preserve_csr_conditions(&mut merged, old, "Approved");
            preserve_csr_conditions(&mut merged, old, "Denied");
            populate_condition_timestamps(&mut merged, old);
        }
        *new = merged;
        self.carry_generation(new, old, false);
    }

    /// Prepares an update through a CSR's `approval` subresource: only
    /// `status.conditions` change (and metadata).
    pub fn prepare_for_approval(&self, new: &mut Value, old: &Value) {
        populate_condition_timestamps(new, old);
        let conditions = new.pointer("/status/conditions").cloned();
        copy_field(new, old, "spec");
        copy_field(new, old, "status");
        match conditions {
            Some(c) => new["status"]["conditions"] = c,
            None => {
                if let Some(status) = new.get_mut("status").and_then(Value::as_object_mut) {
                    status.remove("conditions");
                }
            }
        }
    }

    fn carry_generation(&self, new: &mut Value, old: &Value, may_bump: bool) {
        if !self.generation {
            // Only the strategy moves the generation (upstream's BeforeUpdate).
            match meta::metadata(old).and_then(|m| m.get("generation")) {
                Some(g) => meta::set(new, "generation", g.clone()),
                None => meta::remove(new, "generation"),
            }
            return;
        }
        let old_gen = meta::metadata(old)
            .and_then(|m| m.get("generation"))
            .and_then(Value::as_i64)
            .unwrap_or(1);
        // A Deployment's generation also follows its annotations (upstream's
        // deployment strategy).
        let annotations_changed = (self.group, self.plural) == ("apps", "deployments")
            && meta::annotations(new) != meta::annotations(old);
        let spec_changed = may_bump && (spec_of(new) != spec_of(old) || annotations_changed);
        meta::set(
            new,
            "generation",
            json!(if spec_changed { old_gen + 1 } else { old_gen }),
        );
    }

    /// The value of a selectable field (by the field it selects, after
    /// [`crate::fields::FieldLabels::convert`]) of a stored object.
    pub fn field_value(&self, obj: &Value, field: &str) -> Option<String> {
        Some(crate::fields::value(self.group, self.plural, obj, field))
    }
}

/// The annotation a v1 DaemonSet carries its template generation in.
const DS_TEMPLATE_GENERATION: &str = "deprecated.daemonset.template.generation";

fn set_annotation(obj: &mut Value, key: &str, value: &str) {
    let mut annotations = meta::annotations(obj).cloned().unwrap_or_default();
    annotations.insert(key.to_string(), json!(value));
    meta::set(obj, "annotations", Value::Object(annotations));
}

/// Sets `to[field]` to `from[field]` (removing it when `from` has none).
fn copy_field(to: &mut Value, from: &Value, field: &str) {
    match from.get(field) {
        Some(v) => to[field] = v.clone(),
        None => {
            if let Some(o) = to.as_object_mut() {
                o.remove(field);
            }
        }
    }
}

fn conditions_of<'a>(obj: &'a Value, ty: &str) -> Vec<&'a Value> {
    obj.pointer("/status/conditions")
        .and_then(Value::as_array)
        .map(|c| c.iter().filter(|c| c["type"] == ty).collect())
        .unwrap_or_default()
}

/// A CSR's Approved or Denied conditions come back from the stored object
/// when their number did not change (upstream's `preserveConditionInstances`).
fn preserve_csr_conditions(new: &mut Value, old: &Value, ty: &str) {
    let olds: Vec<Value> = conditions_of(old, ty).into_iter().cloned().collect();
    if olds.len() != conditions_of(new, ty).len() {
        return;
    }
    let mut olds = olds.into_iter();
    if let Some(conditions) = new
        .pointer_mut("/status/conditions")
        .and_then(Value::as_array_mut)
    {
        for c in conditions.iter_mut().filter(|c| c["type"] == ty) {
            if let Some(o) = olds.next() {
                *c = o;
            }
        }
    }
}

/// Condition timestamps a client left empty: `lastUpdateTime` now,
/// `lastTransitionTime` the stored condition's of the same type and status, or now.
fn populate_condition_timestamps(new: &mut Value, old: &Value) {
    let now = meta::now();
    let olds: Vec<Value> = old
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if let Some(conditions) = new
        .pointer_mut("/status/conditions")
        .and_then(Value::as_array_mut)
    {
        for c in conditions.iter_mut() {
            if c.get("lastUpdateTime").is_none_or(Value::is_null) {
                c["lastUpdateTime"] = json!(now);
            }
            if c.get("lastTransitionTime").is_none_or(Value::is_null) {
                let before = olds
                    .iter()
                    .find(|o| o["type"] == c["type"] && o["status"] == c["status"])
                    .and_then(|o| o.get("lastTransitionTime"))
                    .filter(|t| !t.is_null())
                    .cloned();
                c["lastTransitionTime"] = before.unwrap_or_else(|| json!(now));
            }
        }
    }
}

/// Everything but metadata and status: what generation tracks.
fn spec_of(obj: &Value) -> Value {
    match obj.as_object() {
        Some(o) => Value::Object(
            o.iter()
                .filter(|(k, _)| {
                    !matches!(k.as_str(), "metadata" | "status" | "apiVersion" | "kind")
                })
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ),
        None => Value::Null,
    }
}
