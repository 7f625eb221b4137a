//! Field selectors as upstream serves them, in its two tables:
//!
//! - which labels a group/version/kind accepts, and what each means (the field
//!   label conversion funcs, `pkg/apis/<group>/<version>/conversion.go`): most
//!   kinds accept only `metadata.name` and `metadata.namespace`
//!   (`DefaultMetaV1FieldSelectorConversion`); events.k8s.io/v1 maps
//!   `regarding.*` to the core Event's `involvedObject.*`;
//! - the value of each selectable field of a stored object (the strategies'
//!   `GetAttrs`/`ToSelectableFields`, `pkg/registry/<group>/<resource>/strategy.go`):
//!   booleans as `true`/`false`, counts in decimal, a missing field `""`.

use serde_json::Value;

use crate::meta;

/// How a kind refuses a label it does not accept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Refusal {
    /// `field label not supported: X` (core/v1, certificates, events).
    NotSupported,
    /// `"X" is not a known field selector: only "metadata.name", "metadata.namespace"`.
    Default,
    /// `field label "X" not supported for Job`.
    Job,
}

/// The labels a group/version/kind accepts: (label, the field it selects).
#[derive(Clone, Copy, Debug)]
pub struct FieldLabels {
    accepted: &'static [(&'static str, &'static str)],
    refusal: Refusal,
}

const META: &[(&str, &str)] = &[
    ("metadata.name", "metadata.name"),
    ("metadata.namespace", "metadata.namespace"),
];

const POD: &[(&str, &str)] = &[
    ("metadata.name", "metadata.name"),
    ("metadata.namespace", "metadata.namespace"),
    ("spec.nodeName", "spec.nodeName"),
    ("spec.restartPolicy", "spec.restartPolicy"),
    ("spec.schedulerName", "spec.schedulerName"),
    ("spec.serviceAccountName", "spec.serviceAccountName"),
    ("spec.hostNetwork", "spec.hostNetwork"),
    ("status.phase", "status.phase"),
    ("status.podIP", "status.podIP"),
    ("status.podIPs", "status.podIPs"),
    ("status.nominatedNodeName", "status.nominatedNodeName"),
    // The legacy name of spec.nodeName.
    ("spec.host", "spec.nodeName"),
];

const CORE_EVENT: &[(&str, &str)] = &[
    ("involvedObject.kind", "involvedObject.kind"),
    ("involvedObject.namespace", "involvedObject.namespace"),
    ("involvedObject.name", "involvedObject.name"),
    ("involvedObject.uid", "involvedObject.uid"),
    ("involvedObject.apiVersion", "involvedObject.apiVersion"),
    (
        "involvedObject.resourceVersion",
        "involvedObject.resourceVersion",
    ),
    ("involvedObject.fieldPath", "involvedObject.fieldPath"),
    ("reason", "reason"),
    ("reportingComponent", "reportingComponent"),
    ("source", "source"),
    ("type", "type"),
    ("metadata.namespace", "metadata.namespace"),
    ("metadata.name", "metadata.name"),
];

/// events.k8s.io/v1 names for the core Event's fields (the two versions
/// share one storage).
const EVENT: &[(&str, &str)] = &[
    ("reason", "reason"),
    ("regarding.kind", "involvedObject.kind"),
    ("regarding.namespace", "involvedObject.namespace"),
    ("regarding.name", "involvedObject.name"),
    ("regarding.uid", "involvedObject.uid"),
    ("regarding.apiVersion", "involvedObject.apiVersion"),
    (
        "regarding.resourceVersion",
        "involvedObject.resourceVersion",
    ),
    ("regarding.fieldPath", "involvedObject.fieldPath"),
    ("reportingController", "reportingComponent"),
    ("source", "source"),
    ("type", "type"),
    ("metadata.namespace", "metadata.namespace"),
    ("metadata.name", "metadata.name"),
];

/// The labels `group/version, kind` accepts.
pub fn labels(group: &str, version: &str, kind: &str) -> FieldLabels {
    use Refusal::*;
    let (accepted, refusal): (&'static [(&'static str, &'static str)], Refusal) =
        match (group, version, kind) {
            ("", "v1", "Pod") => (POD, NotSupported),
            ("", "v1", "Node") => (
                &[
                    ("metadata.name", "metadata.name"),
                    ("spec.unschedulable", "spec.unschedulable"),
                ],
                NotSupported,
            ),
            ("", "v1", "ReplicationController") => (
                &[
                    ("metadata.name", "metadata.name"),
                    ("metadata.namespace", "metadata.namespace"),
                    ("status.replicas", "status.replicas"),
                ],
                NotSupported,
            ),
            ("", "v1", "Event") => (CORE_EVENT, NotSupported),
            ("", "v1", "Namespace") => (
                &[
                    ("status.phase", "status.phase"),
                    ("metadata.name", "metadata.name"),
                ],
                NotSupported,
            ),
            ("", "v1", "Secret") => (
                &[
                    ("type", "type"),
                    ("metadata.namespace", "metadata.namespace"),
                    ("metadata.name", "metadata.name"),
                ],
                NotSupported,
            ),
            ("", "v1", "Service") => (
                &[
                    ("metadata.namespace", "metadata.namespace"),
                    ("metadata.name", "metadata.name"),
                    ("spec.clusterIP", "spec.clusterIP"),
                    ("spec.type", "spec.type"),
                ],
                NotSupported,
            ),
            ("batch", "v1", "Job") => (
                &[
                    ("metadata.name", "metadata.name"),
                    ("metadata.namespace", "metadata.namespace"),
                    ("status.successful", "status.successful"),
                ],
                Job,
            ),
            ("certificates.k8s.io", "v1", "CertificateSigningRequest") => (
                &[
                    ("metadata.name", "metadata.name"),
                    ("spec.signerName", "spec.signerName"),
                ],
                NotSupported,
            ),
            ("events.k8s.io", "v1", "Event") => (EVENT, NotSupported),
            _ => (META, Default),
        };
    FieldLabels { accepted, refusal }
}

impl FieldLabels {
    /// The field `label` selects, or upstream's refusal.
    pub fn convert(&self, label: &str) -> Result<&'static str, String> {
        if let Some((_, field)) = self.accepted.iter().find(|(l, _)| *l == label) {
            return Ok(field);
        }
        Err(match self.refusal {
            Refusal::NotSupported => format!("field label not supported: {label}"),
            Refusal::Default => format!(
                "{label:?} is not a known field selector: only \"metadata.name\", \"metadata.namespace\""
            ),
            Refusal::Job => format!("field label {label:?} not supported for Job"),
        })
    }
}

fn string_at(obj: &Value, pointer: &str) -> String {
    match obj.pointer(pointer) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Bool(b)) => b.to_string(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

fn bool_at(obj: &Value, pointer: &str) -> String {
    (obj.pointer(pointer).and_then(Value::as_bool) == Some(true)).to_string()
}

fn count_at(obj: &Value, pointer: &str) -> String {
    obj.pointer(pointer)
        .and_then(Value::as_i64)
        .unwrap_or(0)
        .to_string()
}

/// The value of a selectable `field` of a stored object of `group/plural`
/// (a field the kind does not compute reads `""`, as upstream's map lookup).
pub fn value(group: &str, plural: &str, obj: &Value, field: &str) -> String {
    match (group, plural, field) {
        (_, _, "metadata.name") => meta::name(obj).to_string(),
        (_, _, "metadata.namespace") => meta::namespace(obj).to_string(),
        ("", "pods", "spec.hostNetwork") => bool_at(obj, "/spec/hostNetwork"),
        ("", "pods", "status.podIP") => obj
            .pointer("/status/podIPs/0/ip")
            .or_else(|| obj.pointer("/status/podIP"))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
        // Accepted, but never computed upstream.
        ("", "pods", "status.podIPs") => String::new(),
        (
            "",
            "pods",
            "spec.nodeName"
            | "spec.restartPolicy"
            | "spec.schedulerName"
            | "spec.serviceAccountName"
            | "status.phase"
            | "status.nominatedNodeName",
        ) => string_at(obj, &format!("/{}", field.replace('.', "/"))),
        ("", "nodes", "spec.unschedulable") => bool_at(obj, "/spec/unschedulable"),
        ("", "namespaces", "status.phase") => string_at(obj, "/status/phase"),
        ("", "secrets", "type") => string_at(obj, "/type"),
        ("", "services", "spec.clusterIP") => string_at(obj, "/spec/clusterIP"),
        ("", "services", "spec.type") => string_at(obj, "/spec/type"),
        ("", "replicationcontrollers", "status.replicas")
        | ("apps", "replicasets", "status.replicas") => count_at(obj, "/status/replicas"),
        ("batch", "jobs", "status.successful") => count_at(obj, "/status/succeeded"),
        ("certificates.k8s.io", "certificatesigningrequests", "spec.signerName") => {
            string_at(obj, "/spec/signerName")
        }
        // Core and events.k8s.io Events are stored in the core form.
        ("" | "events.k8s.io", "events", f) => match f {
            "source" => {
                let component = string_at(obj, "/source/component");
                if component.is_empty() {
                    string_at(obj, "/reportingComponent")
                } else {
                    component
                }
            }
            "reason" | "reportingComponent" | "type" => string_at(obj, &format!("/{f}")),
            f => match f.strip_prefix("involvedObject.") {
                Some(rest) => string_at(obj, &format!("/involvedObject/{rest}")),
                None => String::new(),
            },
        },
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn accepted_labels_and_refusals_as_upstream() {
        let pods = labels("", "v1", "Pod");
        assert_eq!(pods.convert("spec.host"), Ok("spec.nodeName"));
        assert_eq!(
            pods.convert("spec.foo"),
            Err("field label not supported: spec.foo".into())
        );
        assert_eq!(
            labels("apps", "v1", "ReplicaSet").convert("status.replicas"),
            Err("\"status.replicas\" is not a known field selector: only \"metadata.name\", \"metadata.namespace\"".into())
        );
        assert_eq!(
            labels("batch", "v1", "Job").convert("status.failed"),
            Err("field label \"status.failed\" not supported for Job".into())
        );
        assert!(
            labels("", "v1", "Node")
                .convert("metadata.namespace")
                .is_err()
        );
        assert!(
            labels("", "v1", "Namespace")
                .convert("metadata.namespace")
                .is_err()
        );
        assert!(
            labels("rbac.authorization.k8s.io", "v1", "ClusterRole")
                .convert("metadata.namespace")
                .is_ok()
        );
        let events = labels("events.k8s.io", "v1", "Event");
        assert_eq!(events.convert("regarding.name"), Ok("involvedObject.name"));
        assert_eq!(
            events.convert("reportingController"),
            Ok("reportingComponent")
        );
        assert!(events.convert("involvedObject.name").is_err());
        assert!(events.convert("note").is_err());
    }

    #[test]
    fn values_as_upstream() {
        let pod = json!({"metadata": {"name": "p", "namespace": "ns"}, "spec": {"nodeName": "n1"},
                         "status": {"podIPs": [{"ip": "10.0.0.2"}], "podIP": "10.0.0.2"}});
        assert_eq!(value("", "pods", &pod, "spec.hostNetwork"), "false");
        assert_eq!(value("", "pods", &pod, "spec.nodeName"), "n1");
        assert_eq!(value("", "pods", &pod, "status.podIP"), "10.0.0.2");
        assert_eq!(value("", "pods", &pod, "status.podIPs"), "");
        assert_eq!(value("", "pods", &pod, "status.phase"), "");
        let job = json!({"status": {"succeeded": 3}});
        assert_eq!(value("batch", "jobs", &job, "status.successful"), "3");
        assert_eq!(value("batch", "jobs", &json!({}), "status.successful"), "0");
        let event =
            json!({"reportingComponent": "kubelet", "source": {}, "involvedObject": {"name": "p"}});
        assert_eq!(value("", "events", &event, "source"), "kubelet");
        assert_eq!(
            value("events.k8s.io", "events", &event, "involvedObject.name"),
            "p"
        );
        assert_eq!(
            value(
                "",
                "nodes",
                &json!({"spec": {"unschedulable": true}}),
                "spec.unschedulable"
            ),
            "true"
        );
    }
}
