//! Defaulting, as upstream's `SetDefaults_*` functions and declarative
//! `+default` markers of Kubernetes 1.33 (`pkg/apis/<group>/<version>/defaults.go`
//! and `zz_generated.defaults.go`), with the feature gates at their 1.33
//! defaults, plus what default-on admission sets on pods (Priority,
//! DefaultTolerationSeconds): applied to every object written, on create and on
//! update, before validation, on the object in its served version.
//!
//! This file owns the dispatch on the kind and the helpers every defaulter
//! uses; the defaults themselves live in the submodules, one per area.
//!
//! Upstream defaults a field when it holds its Go zero value: a pointer field
//! when nil (absent or `null` here, see [`default`]), a plain string or number
//! when empty or 0 (see [`default_zero`]). Defaults never replace a value the
//! client set, except where upstream itself does (a Service's
//! `sessionAffinityConfig` is dropped when `sessionAffinity` is None), and
//! applying them twice gives what applying them once gives.

mod cluster;
mod core;
mod pod;
mod workloads;

use serde_json::{Map, Value};

use crate::catalogue::ResourceDef;

/// Applies the defaults of `def`'s kind to `obj`.
pub fn apply(def: &ResourceDef, obj: &mut Value) {
    let Some(m) = obj.as_object_mut() else {
        return;
    };
    match (def.group, def.version, def.plural) {
        ("", _, "pods") => pod::pod(m),
        ("", _, "podtemplates") => core::pod_template(m),
        ("", _, "replicationcontrollers") => core::replication_controller(m),
        ("", _, "services") => core::service(m),
        ("", _, "secrets") => core::secret(m),
        ("", _, "namespaces") => core::namespace(m),
        ("", _, "nodes") => core::node(m),
        ("", _, "persistentvolumes") => core::persistent_volume(m),
        ("", _, "persistentvolumeclaims") => core::persistent_volume_claim(m),
        ("", _, "endpoints") => core::endpoints(m),
        ("", _, "limitranges") => core::limit_range(m),
        ("apps", _, "deployments") => workloads::deployment(m),
        ("apps", _, "replicasets") => workloads::replica_set(m),
        ("apps", _, "statefulsets") => workloads::stateful_set(m),
        ("apps", _, "daemonsets") => workloads::daemon_set(m),
        ("batch", _, "jobs") => workloads::job(m),
        ("batch", _, "cronjobs") => workloads::cron_job(m),
        ("autoscaling", "v2", "horizontalpodautoscalers") => workloads::hpa_v2(m),
        ("autoscaling", "v1", "horizontalpodautoscalers") => workloads::hpa_v1(m),
        ("networking.k8s.io", _, "networkpolicies") => cluster::network_policy(m),
        ("networking.k8s.io", _, "ingressclasses") => cluster::ingress_class(m),
        ("rbac.authorization.k8s.io", _, "rolebindings" | "clusterrolebindings") => {
            cluster::role_binding(m)
        }
        ("storage.k8s.io", _, "storageclasses") => cluster::storage_class(m),
        ("storage.k8s.io", _, "csidrivers") => cluster::csi_driver(m),
        ("storage.k8s.io", _, "volumeattachments") => cluster::volume_attachment(m),
        ("scheduling.k8s.io", _, "priorityclasses") => cluster::priority_class(m),
        ("admissionregistration.k8s.io", _, "validatingwebhookconfigurations") => {
            cluster::webhook_configuration(m, false)
        }
        ("admissionregistration.k8s.io", _, "mutatingwebhookconfigurations") => {
            cluster::webhook_configuration(m, true)
        }
        ("admissionregistration.k8s.io", _, "validatingadmissionpolicies") => {
            cluster::validating_admission_policy(m)
        }
        ("admissionregistration.k8s.io", _, "validatingadmissionpolicybindings") => {
            cluster::validating_admission_policy_binding(m)
        }
        ("flowcontrol.apiserver.k8s.io", _, "flowschemas") => cluster::flow_schema(m),
        ("flowcontrol.apiserver.k8s.io", _, "prioritylevelconfigurations") => {
            cluster::priority_level_configuration(m)
        }
        ("apiextensions.k8s.io", _, "customresourcedefinitions") => {
            cluster::custom_resource_definition(m)
        }
        ("apiregistration.k8s.io", _, "apiservices") => cluster::api_service(m),
        ("discovery.k8s.io", _, "endpointslices") => cluster::endpoint_slice(m),
        _ => {}
    }
    // Quantities as upstream's decoding leaves them: in canonical form.
    if let Some(d) = crate::schema::of_kind(def.group, def.version, def.kind) {
        crate::schema::canonicalize_quantities(obj, crate::schema::Ty::Struct(d.name));
    }
}

/// Whether `m[key]` is unset as a Go pointer is: absent or `null`.
fn is_nil(m: &Map<String, Value>, key: &str) -> bool {
    m.get(key).is_none_or(Value::is_null)
}

/// Whether `m[key]` holds its Go zero value: absent, `null`, "", 0 or false.
fn is_zero(m: &Map<String, Value>, key: &str) -> bool {
    match m.get(key) {
        None | Some(Value::Null) => true,
        Some(Value::String(s)) => s.is_empty(),
        Some(Value::Number(n)) => n.as_f64() == Some(0.0),
        Some(Value::Bool(b)) => !b,
        Some(_) => false,
    }
}

/// Whether `m[key]` is an empty list (absent, `null` or `[]`): Go's `len(x) == 0`.
fn is_empty_list(m: &Map<String, Value>, key: &str) -> bool {
    m.get(key)
        .is_none_or(|v| v.is_null() || v.as_array().is_some_and(Vec::is_empty))
}

/// Whether `m[key]` is an empty map (absent, `null` or `{}`): Go's `len(x) == 0`.
/// The non-empty labels of an object's `spec.template`, which a replication
/// controller's or a job's selector and labels default to.
fn template_labels(m: &Map<String, Value>) -> Option<Value> {
    m.get("spec")
        .and_then(|s| s.get("template"))
        .and_then(|t| t.get("metadata"))
        .and_then(|md| md.get("labels"))
        .filter(|l| l.as_object().is_some_and(|o| !o.is_empty()))
        .cloned()
}

fn is_empty_map(m: &Map<String, Value>, key: &str) -> bool {
    m.get(key)
        .is_none_or(|v| v.is_null() || v.as_object().is_some_and(Map::is_empty))
}

/// Defaults a pointer field: sets `value` when `key` is absent or `null`.
fn default(m: &mut Map<String, Value>, key: &str, value: Value) {
    if is_nil(m, key) {
        m.insert(key.to_string(), value);
    }
}

/// Defaults a plain (non-pointer) string or number field: sets `value` when
/// `key` is absent, `null`, "" or 0.
fn default_zero(m: &mut Map<String, Value>, key: &str, value: Value) {
    if is_zero(m, key) {
        m.insert(key.to_string(), value);
    }
}

/// The object at `m[key]`, when there is one (a pointer struct: only defaulted
/// when set).
fn child<'a>(m: &'a mut Map<String, Value>, key: &str) -> Option<&'a mut Map<String, Value>> {
    m.get_mut(key).and_then(Value::as_object_mut)
}

/// The object at `m[key]`, created empty when absent or `null` (a non-pointer
/// struct: upstream defaults it whether sent or not). None when `m[key]` is
/// something other than an object, which validation reports.
fn ensure<'a>(m: &'a mut Map<String, Value>, key: &str) -> Option<&'a mut Map<String, Value>> {
    if is_nil(m, key) {
        m.insert(key.to_string(), Value::Object(Map::new()));
    }
    m.get_mut(key).and_then(Value::as_object_mut)
}

/// The objects of the list at `m[key]`.
fn items<'a>(
    m: &'a mut Map<String, Value>,
    key: &str,
) -> impl Iterator<Item = &'a mut Map<String, Value>> {
    m.get_mut(key)
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
        .filter_map(Value::as_object_mut)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;

    pub(crate) fn def(group: &str, version: &str, plural: &str) -> &'static ResourceDef {
        crate::catalogue::builtin()
            .iter()
            .find(|d| d.group == group && d.version == version && d.plural == plural)
            .unwrap_or_else(|| panic!("no {group}/{version} {plural}"))
    }

    /// Defaults `obj` as `group/version` `plural`.
    pub(crate) fn defaulted(group: &str, version: &str, plural: &str, mut obj: Value) -> Value {
        apply(def(group, version, plural), &mut obj);
        obj
    }

    #[test]
    fn zero_values_are_unset_as_upstream_sees_them() {
        let m = json!({"a": null, "b": "", "c": 0, "d": false, "e": "x", "f": [], "g": {}});
        let m = m.as_object().unwrap();
        assert!(is_nil(m, "a") && is_nil(m, "z") && !is_nil(m, "b"));
        assert!(["a", "b", "c", "d", "z"].iter().all(|k| is_zero(m, k)));
        assert!(!is_zero(m, "e") && !is_zero(m, "f"));
        assert!(is_empty_list(m, "f") && is_empty_list(m, "z") && !is_empty_list(m, "e"));
        assert!(is_empty_map(m, "g") && is_empty_map(m, "a"));
    }

    #[test]
    fn kinds_without_defaults_are_left_alone() {
        for (group, version, plural) in [
            ("", "v1", "configmaps"),
            ("", "v1", "serviceaccounts"),
            ("networking.k8s.io", "v1", "ingresses"),
            ("policy", "v1", "poddisruptionbudgets"),
            ("coordination.k8s.io", "v1", "leases"),
            ("node.k8s.io", "v1", "runtimeclasses"),
            ("certificates.k8s.io", "v1", "certificatesigningrequests"),
        ] {
            let obj = json!({"metadata": {"name": "x"}, "spec": {"a": 1}, "data": {}});
            assert_eq!(
                defaulted(group, version, plural, obj.clone()),
                obj,
                "{plural}"
            );
        }
    }
}
