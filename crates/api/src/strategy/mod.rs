//! Per-kind strategies, as upstream's `pkg/registry/<group>/<resource>/strategy.go`
//! (`rest.RESTCreateStrategy`, `RESTUpdateStrategy`, `RESTDeleteStrategy`,
//! `RESTGracefulDeleteStrategy`, the status and other subresource strategies):
//! what the generic registry store asks of a kind. [`Strategy`] is the trait,
//! its provided methods the generic behaviour (status split, generation, the
//! status subresource's merge); one module per resource overrides what that
//! resource does differently, and [`of`] wires each catalogue entry to its
//! strategy (upstream's storage providers).
//!
//! The rules themselves live in `validation`'s submodules, defaulting in
//! `defaults`, selectable fields in `fields`.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use crate::catalogue::ResourceDef;
use crate::errors::{ApiError, Cause};
use crate::meta;
use crate::validation::NameRule;

mod admissionregistration;
mod apiregistration;
mod apps;
mod batch;
mod certificates;
mod coordination;
mod core;
mod flowcontrol;
mod internal;
mod rbac;
mod scheduling;
mod storage;

/// How an update reaches an object: through the main resource or one of the
/// subresources that write it (each with its own strategy upstream).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpdateVia {
    Main,
    Status,
    /// A namespace's `finalize`: only `spec.finalizers` change.
    Finalize,
    /// A CertificateSigningRequest's `approval`.
    Approval,
    /// A pod's `ephemeralcontainers`.
    EphemeralContainers,
    /// A pod's `resize`.
    Resize,
}

impl UpdateVia {
    /// The subresource a request names ("" for the main resource); `None`
    /// for subresources that do not update their object.
    pub fn of_subresource(sub: &str) -> Option<UpdateVia> {
        Some(match sub {
            "" => UpdateVia::Main,
            "status" => UpdateVia::Status,
            "finalize" => UpdateVia::Finalize,
            "approval" => UpdateVia::Approval,
            "ephemeralcontainers" => UpdateVia::EphemeralContainers,
            "resize" => UpdateVia::Resize,
            _ => return None,
        })
    }

    /// The subresource's name in URLs and managed fields ("" for the main resource).
    pub fn subresource(self) -> &'static str {
        match self {
            UpdateVia::Main => "",
            UpdateVia::Status => "status",
            UpdateVia::Finalize => "finalize",
            UpdateVia::Approval => "approval",
            UpdateVia::EphemeralContainers => "ephemeralcontainers",
            UpdateVia::Resize => "resize",
        }
    }
}

/// What the generic registry store needs to know of a kind: upstream's
/// strategy interfaces as one trait object per served resource.
pub trait Strategy: Send + Sync {
    /// The catalogue entry the strategy serves.
    fn def(&self) -> &'static ResourceDef;

    /// How names are validated.
    fn name_rule(&self) -> NameRule {
        NameRule::Subdomain
    }

    /// The main resource ignores changes to `status`; the status subresource
    /// changes only `status`.
    fn status_split(&self) -> bool {
        self.def().subresource("status").is_some()
    }

    /// `metadata.generation` starts at 1 and grows with each spec change.
    fn tracks_generation(&self) -> bool {
        false
    }

    /// Whether a spec change bumps the generation (after [`Strategy::tracks_generation`]).
    fn generation_changed(&self, new: &Value, old: &Value) -> bool {
        spec_of(new) != spec_of(old)
    }

    /// Whether create keeps the status the client sent (nodes: the kubelet
    /// registers with its status).
    fn keeps_status_on_create(&self) -> bool {
        false
    }

    /// Sets the status a new object starts with (after the main resource cleared it).
    fn initial_status(&self, _obj: &mut Value) {}

    /// Upstream's `PrepareForCreate`: clears or initializes what the client may not set.
    fn prepare_for_create(&self, obj: &mut Value) {
        prepare_for_create(self, obj);
    }

    /// What a new object gets once its system fields (uid, creation time)
    /// are set, before it is validated (a Job's generated selector).
    fn complete_create(&self, _obj: &mut Value) {}

    /// Upstream's `PrepareForUpdate` of the strategy behind `via`.
    fn prepare_for_update(&self, via: UpdateVia, new: &mut Value, old: &Value) {
        match via {
            UpdateVia::Status => prepare_for_status_update(self, new, old),
            _ => prepare_for_update(self, new, old),
        }
    }

    /// Metadata the status subresource keeps as stored (upstream's status
    /// strategies' `ResetFieldsFor`/`PrepareForUpdate`).
    fn status_resets(&self) -> &'static [&'static str] {
        &[]
    }

    /// Kind-specific validation of an object written (created, or updated
    /// through any of its strategies).
    fn validate(&self, _obj: &Value) -> Vec<Cause> {
        Vec::new()
    }

    /// Kind-specific rules of an update through `via`: what may not change
    /// between `old` and `new`.
    fn validate_update(&self, _via: UpdateVia, _new: &Value, _old: &Value) -> Vec<Cause> {
        Vec::new()
    }

    /// Upstream's `AllowCreateOnUpdate`: a PUT of a missing object creates it.
    fn allow_create_on_update(&self) -> bool {
        false
    }

    /// Upstream's `AllowUnconditionalUpdate`: a PUT may leave out the
    /// resource version.
    fn allow_unconditional_update(&self) -> bool {
        true
    }

    /// Upstream's `ReturnDeletedObject`: an immediate delete answers the
    /// object rather than a Status.
    fn return_deleted_object(&self) -> bool {
        false
    }

    /// Upstream's `CheckGracefulDelete`: the seconds a delete of `obj`
    /// waits (`requested` by the client's options); 0 deletes at once.
    fn graceful_delete_seconds(&self, _obj: &Value, _requested: Option<i64>) -> i64 {
        0
    }

    /// Whether a delete marks the object (`deletionTimestamp`, zero grace)
    /// before removing it, so watchers see it modified, then deleted.
    fn marks_immediate_delete(&self) -> bool {
        false
    }

    /// Refuses a delete of the named object the resource never allows.
    fn check_delete(&self, _name: &str) -> Result<(), ApiError> {
        Ok(())
    }

    /// How long objects live in the store (upstream's `TTLFunc`; events).
    fn ttl(&self) -> Option<Duration> {
        None
    }

    /// The field selector labels the kind's group version accepts.
    fn field_labels(&self) -> crate::fields::FieldLabels {
        let d = self.def();
        crate::fields::labels(d.group, d.version, d.kind)
    }

    /// The value of a selectable field (by the field it selects, after
    /// [`crate::fields::FieldLabels::convert`]) of a stored object.
    fn field_value(&self, obj: &Value, field: &str) -> Option<String> {
        let d = self.def();
        Some(crate::fields::value(d.group, d.plural, obj, field))
    }
}

/// The strategy of a catalogue entry (upstream's storage providers: which
/// resource is served by which registry package).
pub fn of(def: &'static ResourceDef) -> Arc<dyn Strategy> {
    match (def.group, def.plural) {
        ("", "pods") => Arc::new(core::pods::Pods(def)),
        ("", "namespaces") => Arc::new(core::namespaces::Namespaces(def)),
        ("", "nodes") => Arc::new(core::nodes::Nodes(def)),
        ("", "persistentvolumes") => Arc::new(core::persistent_volumes::PersistentVolumes(def)),
        ("", "persistentvolumeclaims") => {
            Arc::new(core::persistent_volume_claims::PersistentVolumeClaims(def))
        }
        ("", "secrets") => Arc::new(core::secrets::Secrets(def)),
        ("", "serviceaccounts") => Arc::new(core::service_accounts::ServiceAccounts(def)),
        ("", "configmaps") => Arc::new(core::config_maps::ConfigMaps(def)),
        ("", "services") => Arc::new(core::services::Services(def)),
        ("", "podtemplates") => Arc::new(core::pod_templates::PodTemplates(def)),
        ("", "replicationcontrollers") => {
            Arc::new(core::replication_controllers::ReplicationControllers(def))
        }
        ("", "events") | ("events.k8s.io", "events") => Arc::new(core::events::Events(def)),
        ("", "endpoints") => Arc::new(core::endpoints::Endpoints(def)),
        ("", "limitranges") => Arc::new(core::limit_ranges::LimitRanges(def)),
        ("apps", "deployments") => Arc::new(apps::deployments::Deployments(def)),
        ("apps", "replicasets") => Arc::new(apps::replica_sets::ReplicaSets(def)),
        ("apps", "statefulsets") => Arc::new(apps::stateful_sets::StatefulSets(def)),
        ("apps", "daemonsets") => Arc::new(apps::daemon_sets::DaemonSets(def)),
        ("batch", "jobs") => Arc::new(batch::jobs::Jobs(def)),
        ("batch", "cronjobs") => Arc::new(batch::cron_jobs::CronJobs(def)),
        ("certificates.k8s.io", "certificatesigningrequests") => {
            Arc::new(certificates::certificate_signing_requests::CertificateSigningRequests(def))
        }
        ("storage.k8s.io", "storageclasses") => {
            Arc::new(storage::storage_classes::StorageClasses(def))
        }
        ("storage.k8s.io", "volumeattachments") => {
            Arc::new(storage::volume_attachments::VolumeAttachments(def))
        }
        ("scheduling.k8s.io", "priorityclasses") => {
            Arc::new(scheduling::priority_classes::PriorityClasses(def))
        }
        ("rbac.authorization.k8s.io", "roles" | "clusterroles") => {
            Arc::new(rbac::roles::Roles(def))
        }
        ("rbac.authorization.k8s.io", "rolebindings" | "clusterrolebindings") => {
            Arc::new(rbac::bindings::Bindings(def))
        }
        ("coordination.k8s.io", "leases" | "leasecandidates") => {
            Arc::new(coordination::leases::Leases(def))
        }
        ("flowcontrol.apiserver.k8s.io", _) => Arc::new(flowcontrol::FlowControl(def)),
        ("apiregistration.k8s.io", "apiservices") => {
            Arc::new(apiregistration::api_services::ApiServices(def))
        }
        ("admissionregistration.k8s.io", "validatingadmissionpolicies") => Arc::new(
            admissionregistration::validating_admission_policies::ValidatingAdmissionPolicies(def),
        ),
        ("internal.apiserver.k8s.io", "storageversions") => {
            Arc::new(internal::storage_versions::StorageVersions(def))
        }
        ("autoscaling", "horizontalpodautoscalers")
        | ("policy", "poddisruptionbudgets")
        | ("networking.k8s.io", "ingresses" | "networkpolicies")
        | ("apiextensions.k8s.io", "customresourcedefinitions")
        | (
            "admissionregistration.k8s.io",
            "validatingwebhookconfigurations"
            | "mutatingwebhookconfigurations"
            | "validatingadmissionpolicybindings",
        ) => Arc::new(Generic::new(def, NameRule::Subdomain, true)),
        _ => Arc::new(Generic::new(def, NameRule::Subdomain, false)),
    }
}

/// The strategy of a resource with no behaviour of its own.
pub struct Generic {
    def: &'static ResourceDef,
    name_rule: NameRule,
    generation: bool,
}

impl Generic {
    pub fn new(def: &'static ResourceDef, name_rule: NameRule, generation: bool) -> Generic {
        Generic {
            def,
            name_rule,
            generation,
        }
    }
}

impl Strategy for Generic {
    fn def(&self) -> &'static ResourceDef {
        self.def
    }
    fn name_rule(&self) -> NameRule {
        self.name_rule
    }
    fn tracks_generation(&self) -> bool {
        self.generation
    }
}

/// The generic `PrepareForCreate`: a status-split kind starts with its
/// initial status, a generation-tracking one at generation 1.
pub fn prepare_for_create<S: Strategy + ?Sized>(s: &S, obj: &mut Value) {
    if s.status_split() && !s.keeps_status_on_create() {
        if let Some(o) = obj.as_object_mut() {
            o.remove("status");
        }
        s.initial_status(obj);
    }
    if s.tracks_generation() {
        meta::set(obj, "generation", json!(1));
    }
}

/// The generic `PrepareForUpdate` of the main resource: keeps the stored
/// status, bumps the generation when the spec changed.
pub fn prepare_for_update<S: Strategy + ?Sized>(s: &S, new: &mut Value, old: &Value) {
    if s.status_split() {
        copy_field(new, old, "status");
    }
    carry_generation(s, new, old, true);
}

/// The generic status strategy: everything but `status` and `metadata` is
/// the stored object's; metadata changes are kept except those
/// [`Strategy::status_resets`] names.
pub fn prepare_for_status_update<S: Strategy + ?Sized>(s: &S, new: &mut Value, old: &Value) {
    let mut merged = old.clone();
    copy_field(&mut merged, new, "status");
    copy_field(&mut merged, new, "metadata");
    meta::reset_fields(&mut merged, old, s.status_resets());
    *new = merged;
    carry_generation(s, new, old, false);
}

/// Only the strategy moves the generation (upstream's `BeforeUpdate`).
fn carry_generation<S: Strategy + ?Sized>(s: &S, new: &mut Value, old: &Value, may_bump: bool) {
    if !s.tracks_generation() {
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
    let changed = may_bump && s.generation_changed(new, old);
    meta::set(
        new,
        "generation",
        json!(if changed { old_gen + 1 } else { old_gen }),
    );
}

pub(crate) fn set_annotation(obj: &mut Value, key: &str, value: &str) {
    let mut annotations = meta::annotations(obj).cloned().unwrap_or_default();
    annotations.insert(key.to_string(), json!(value));
    meta::set(obj, "annotations", Value::Object(annotations));
}

/// Sets `to[field]` to `from[field]` (removing it when `from` has none).
pub(crate) fn copy_field(to: &mut Value, from: &Value, field: &str) {
    match from.get(field) {
        Some(v) => to[field] = v.clone(),
        None => {
            if let Some(o) = to.as_object_mut() {
                o.remove(field);
            }
        }
    }
}

/// Everything but metadata and status: what generation tracks.
pub(crate) fn spec_of(obj: &Value) -> Value {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalogue;

    fn strategy(group: &str, plural: &str) -> Arc<dyn Strategy> {
        let def = catalogue::builtin()
            .iter()
            .find(|d| d.group == group && d.plural == plural)
            .expect("in the catalogue");
        of(def)
    }

    #[test]
    fn every_resource_is_wired_to_a_strategy_of_itself() {
        for def in catalogue::builtin() {
            let s = of(def);
            assert!(std::ptr::eq(s.def(), def), "{}/{}", def.group, def.plural);
        }
    }

    #[test]
    fn generation_is_tracked_where_upstream_tracks_it() {
        let tracked: Vec<&str> = catalogue::builtin()
            .iter()
            .filter(|d| of(d).tracks_generation())
            .map(|d| d.plural)
            .collect();
        for plural in [
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
        ] {
            assert!(tracked.contains(&plural), "{plural}");
        }
        for plural in ["pods", "services", "configmaps", "namespaces", "leases"] {
            assert!(!tracked.contains(&plural), "{plural}");
        }
    }

    #[test]
    fn storage_behaviour_per_resource() {
        assert_eq!(
            strategy("", "events").ttl(),
            Some(Duration::from_secs(3600))
        );
        assert_eq!(
            strategy("events.k8s.io", "events").ttl(),
            Some(Duration::from_secs(3600))
        );
        assert_eq!(strategy("", "configmaps").ttl(), None);
        assert!(!strategy("coordination.k8s.io", "leases").allow_unconditional_update());
        assert!(strategy("coordination.k8s.io", "leases").allow_create_on_update());
        assert!(!strategy("", "configmaps").allow_create_on_update());
        // Upstream's strategies with AllowCreateOnUpdate.
        let mut creating: Vec<(&str, &str)> = catalogue::builtin()
            .iter()
            .filter(|d| of(d).allow_create_on_update())
            .map(|d| (d.group, d.plural))
            .collect();
        creating.sort();
        assert_eq!(
            creating,
            [
                ("", "endpoints"),
                ("", "events"),
                ("", "limitranges"),
                ("", "services"),
                ("coordination.k8s.io", "leases"),
                ("events.k8s.io", "events"),
                ("rbac.authorization.k8s.io", "clusterrolebindings"),
                ("rbac.authorization.k8s.io", "clusterroles"),
                ("rbac.authorization.k8s.io", "rolebindings"),
                ("rbac.authorization.k8s.io", "roles"),
            ]
        );
        let mut conditional: Vec<(&str, &str)> = catalogue::builtin()
            .iter()
            .filter(|d| !of(d).allow_unconditional_update())
            .map(|d| (d.group, d.plural))
            .collect();
        conditional.sort();
        assert_eq!(conditional, [("coordination.k8s.io", "leases")]);
        // Upstream's stores with ReturnDeletedObject.
        let returning: Vec<(&str, &str)> = catalogue::builtin()
            .iter()
            .filter(|d| of(d).return_deleted_object())
            .map(|d| (d.group, d.plural))
            .collect();
        assert_eq!(
            returning,
            [
                ("", "namespaces"),
                ("", "persistentvolumeclaims"),
                ("", "persistentvolumes"),
                ("", "pods"),
                ("", "serviceaccounts"),
                ("", "services"),
                ("storage.k8s.io", "storageclasses"),
            ]
        );
        assert!(
            strategy("scheduling.k8s.io", "priorityclasses")
                .check_delete("system-node-critical")
                .is_err()
        );
        assert!(
            strategy("scheduling.k8s.io", "priorityclasses")
                .check_delete("mine")
                .is_ok()
        );
    }

    #[test]
    fn pods_wait_for_their_node_unless_unscheduled_or_finished() {
        let pods = strategy("", "pods");
        let bound = json!({"spec": {"nodeName": "n1", "terminationGracePeriodSeconds": 12}});
        assert_eq!(pods.graceful_delete_seconds(&bound, None), 12);
        assert_eq!(pods.graceful_delete_seconds(&bound, Some(3)), 3);
        assert_eq!(
            pods.graceful_delete_seconds(&json!({"spec": {"nodeName": "n1"}}), None),
            30
        );
        assert_eq!(
            pods.graceful_delete_seconds(&json!({"spec": {}}), Some(9)),
            0
        );
        let done = json!({"spec": {"nodeName": "n1"}, "status": {"phase": "Succeeded"}});
        assert_eq!(pods.graceful_delete_seconds(&done, None), 0);
        assert_eq!(
            pods.graceful_delete_seconds(&bound, Some(i64::MAX)),
            100 * 365 * 24 * 3600
        );
        assert_eq!(
            strategy("", "configmaps").graceful_delete_seconds(&bound, Some(5)),
            0
        );
    }

    #[test]
    fn subresources_name_their_update_strategy() {
        for via in [
            UpdateVia::Main,
            UpdateVia::Status,
            UpdateVia::Finalize,
            UpdateVia::Approval,
            UpdateVia::EphemeralContainers,
            UpdateVia::Resize,
        ] {
            assert_eq!(UpdateVia::of_subresource(via.subresource()), Some(via));
        }
        assert_eq!(UpdateVia::of_subresource("scale"), None);
    }
}
