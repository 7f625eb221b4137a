//! Properties of defaulting over a full set of objects, one or more of every
//! built-in kind: applying defaults twice gives what applying them once gives,
//! defaults keep every value the client set, and every kind upstream defaults
//! gets something.

use serde_json::{Value, json};
use skiff_api::ResourceDef;
use skiff_api::catalogue::builtin;
use skiff_api::defaults::apply;

fn pod_spec() -> Value {
    json!({
        "hostNetwork": true,
        "containers": [{
            "name": "app", "image": "registry.example.com/app",
            "ports": [{"containerPort": 8080}],
            "resources": {"limits": {"cpu": "1"}},
            "env": [{"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}],
            "livenessProbe": {"httpGet": {"port": 8080}},
            "readinessProbe": {"grpc": {"port": 9000}},
            "startupProbe": {"tcpSocket": {"port": 8080}},
            "lifecycle": {"preStop": {"httpGet": {"port": 8080}}}
        }],
        "initContainers": [{"name": "init", "image": "busybox:1.36"}],
        "volumes": [
            {"name": "tmp"},
            {"name": "host", "hostPath": {"path": "/var"}},
            {"name": "cfg", "configMap": {"name": "cfg"}},
            {"name": "sec", "secret": {"secretName": "sec"}},
            {"name": "token", "projected": {"sources": [{"serviceAccountToken": {"path": "t"}},
                {"downwardAPI": {"items": [{"path": "n", "fieldRef": {"fieldPath": "metadata.name"}}]}}]}},
            {"name": "dapi", "downwardAPI": {"items": [{"path": "l", "fieldRef": {"fieldPath": "metadata.labels"}}]}},
            {"name": "eph", "ephemeral": {"volumeClaimTemplate": {"spec": {"accessModes": ["ReadWriteOnce"]}}}},
            {"name": "az", "azureDisk": {"diskName": "d", "diskURI": "u"}}
        ]
    })
}

fn template() -> Value {
    json!({"metadata": {"labels": {"app": "web"}}, "spec": pod_spec()})
}

/// (group, version, plural, object) for every kind upstream defaults, and a
/// few that it does not.
fn samples() -> Vec<(&'static str, &'static str, &'static str, Value)> {
    vec![
        (
            "",
            "v1",
            "pods",
            json!({"metadata": {"name": "p"}, "spec": pod_spec()}),
        ),
        ("", "v1", "podtemplates", json!({"template": template()})),
        (
            "",
            "v1",
            "replicationcontrollers",
            json!({"spec": {"template": template()}}),
        ),
        (
            "",
            "v1",
            "services",
            json!({"spec": {"type": "LoadBalancer", "sessionAffinity": "ClientIP", "ports": [{"port": 80}]}}),
        ),
        (
            "",
            "v1",
            "services",
            json!({"spec": {"ports": [{"port": 80, "targetPort": "http"}]}}),
        ),
        ("", "v1", "secrets", json!({"data": {"k": "dg=="}})),
        ("", "v1", "namespaces", json!({"metadata": {"name": "ns"}})),
        (
            "",
            "v1",
            "nodes",
            json!({"status": {"capacity": {"cpu": "2"}}}),
        ),
        (
            "",
            "v1",
            "persistentvolumes",
            json!({"spec": {"iscsi": {"targetPortal": "t", "iqn": "i", "lun": 0}}}),
        ),
        (
            "",
            "v1",
            "persistentvolumeclaims",
            json!({"spec": {"accessModes": ["ReadWriteOnce"]}}),
        ),
        (
            "",
            "v1",
            "endpoints",
            json!({"subsets": [{"ports": [{"port": 80}]}]}),
        ),
        (
            "",
            "v1",
            "limitranges",
            json!({"spec": {"limits": [{"type": "Container", "max": {"cpu": "1"}, "min": {"memory": "1Mi"}}]}}),
        ),
        ("", "v1", "configmaps", json!({"data": {"a": "b"}})),
        (
            "apps",
            "v1",
            "deployments",
            json!({"spec": {"template": template()}}),
        ),
        (
            "apps",
            "v1",
            "replicasets",
            json!({"spec": {"template": template()}}),
        ),
        (
            "apps",
            "v1",
            "statefulsets",
            json!({"spec": {"template": template(),
            "volumeClaimTemplates": [{"metadata": {"name": "d"}, "spec": {"accessModes": ["ReadWriteOnce"]}}]}}),
        ),
        (
            "apps",
            "v1",
            "daemonsets",
            json!({"spec": {"template": template()}}),
        ),
        (
            "batch",
            "v1",
            "jobs",
            json!({"spec": {"template": template(),
            "podFailurePolicy": {"rules": [{"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]}]}}}),
        ),
        (
            "batch",
            "v1",
            "cronjobs",
            json!({"spec": {"schedule": "@hourly", "jobTemplate": {"spec": {"template": template()}}}}),
        ),
        (
            "autoscaling",
            "v2",
            "horizontalpodautoscalers",
            json!({"spec": {"maxReplicas": 3, "behavior": {}}}),
        ),
        (
            "autoscaling",
            "v1",
            "horizontalpodautoscalers",
            json!({"spec": {"maxReplicas": 3}}),
        ),
        (
            "networking.k8s.io",
            "v1",
            "networkpolicies",
            json!({"spec": {"podSelector": {}, "egress": [{"ports": [{"port": 53}]}]}}),
        ),
        (
            "networking.k8s.io",
            "v1",
            "ingressclasses",
            json!({"spec": {"controller": "c", "parameters": {"kind": "K", "name": "n"}}}),
        ),
        (
            "rbac.authorization.k8s.io",
            "v1",
            "rolebindings",
            json!({"roleRef": {"kind": "Role", "name": "r"},
            "subjects": [{"kind": "User", "name": "u"}]}),
        ),
        (
            "rbac.authorization.k8s.io",
            "v1",
            "clusterrolebindings",
            json!({"roleRef": {"kind": "ClusterRole", "name": "r"},
            "subjects": [{"kind": "Group", "name": "g"}]}),
        ),
        (
            "storage.k8s.io",
            "v1",
            "storageclasses",
            json!({"provisioner": "p"}),
        ),
        ("storage.k8s.io", "v1", "csidrivers", json!({"spec": {}})),
        (
            "storage.k8s.io",
            "v1",
            "volumeattachments",
            json!({"spec": {"source": {"inlineVolumeSpec": {"hostPath": {"path": "/x"}}}}}),
        ),
        (
            "scheduling.k8s.io",
            "v1",
            "priorityclasses",
            json!({"value": 1}),
        ),
        (
            "admissionregistration.k8s.io",
            "v1",
            "mutatingwebhookconfigurations",
            json!({"webhooks": [{"name": "a.b.c",
            "clientConfig": {"service": {"namespace": "n", "name": "s"}}, "rules": [{"operations": ["*"]}]}]}),
        ),
        (
            "admissionregistration.k8s.io",
            "v1",
            "validatingwebhookconfigurations",
            json!({"webhooks": [{"name": "a.b.c"}]}),
        ),
        (
            "admissionregistration.k8s.io",
            "v1",
            "validatingadmissionpolicies",
            json!({"spec": {"matchConstraints": {}}}),
        ),
        (
            "admissionregistration.k8s.io",
            "v1",
            "validatingadmissionpolicybindings",
            json!({"spec": {"matchResources": {}}}),
        ),
        (
            "flowcontrol.apiserver.k8s.io",
            "v1",
            "flowschemas",
            json!({"spec": {}}),
        ),
        (
            "flowcontrol.apiserver.k8s.io",
            "v1",
            "prioritylevelconfigurations",
            json!({"spec": {"type": "Limited",
            "limited": {"limitResponse": {"type": "Queue", "queuing": {}}}}}),
        ),
        (
            "apiextensions.k8s.io",
            "v1",
            "customresourcedefinitions",
            json!({"spec": {"names": {"kind": "Foo"},
            "versions": [{"name": "v1", "storage": true}]}}),
        ),
        (
            "apiregistration.k8s.io",
            "v1",
            "apiservices",
            json!({"spec": {"service": {"name": "s", "namespace": "n"}}}),
        ),
        (
            "discovery.k8s.io",
            "v1",
            "endpointslices",
            json!({"ports": [{"port": 80}]}),
        ),
    ]
}

fn def(group: &str, version: &str, plural: &str) -> &'static ResourceDef {
    builtin()
        .iter()
        .find(|d| d.group == group && d.version == version && d.plural == plural)
        .unwrap_or_else(|| panic!("{group}/{version} {plural} is not served"))
}

/// Whether every value set in `sent` (other than Go zero values, which
/// upstream treats as unset) is in `got` unchanged.
fn keeps(sent: &Value, got: &Value, path: &str) -> Result<(), String> {
    match (sent, got) {
        (Value::Null, _) => Ok(()),
        (Value::String(s), _) if s.is_empty() => Ok(()),
        (Value::Number(n), _) if n.as_f64() == Some(0.0) => Ok(()),
        (Value::Object(a), Value::Object(b)) => a.iter().try_for_each(|(k, v)| {
            let p = format!("{path}.{k}");
            keeps(v, b.get(k).ok_or(format!("{p} removed"))?, &p)
        }),
        (Value::Array(a), Value::Array(b)) if a.len() <= b.len() => a
            .iter()
            .zip(b)
            .enumerate()
            .try_for_each(|(i, (x, y))| keeps(x, y, &format!("{path}[{i}]"))),
        _ if sent == got => Ok(()),
        _ => Err(format!("{path}: {sent} became {got}")),
    }
}

#[test]
fn defaults_are_idempotent_keep_client_values_and_apply_to_every_defaulted_kind() {
    for (group, version, plural, sent) in samples() {
        let d = def(group, version, plural);
        let mut once = sent.clone();
        apply(d, &mut once);
        let mut twice = once.clone();
        apply(d, &mut twice);
        assert_eq!(twice, once, "{group}/{version} {plural}: not idempotent");
        keeps(&sent, &once, plural).unwrap_or_else(|e| panic!("{group}/{version} {plural}: {e}"));
        if plural != "configmaps" {
            assert_ne!(once, sent, "{group}/{version} {plural}: nothing defaulted");
        }
    }
}

#[test]
fn every_served_kind_accepts_objects_of_any_shape() {
    for d in builtin() {
        for mut obj in [
            json!({}),
            json!({"spec": null, "status": null}),
            json!({"spec": "x", "template": 1, "webhooks": {}, "subjects": "s"}),
            json!([1, 2]),
        ] {
            apply(d, &mut obj);
            let once = obj.clone();
            apply(d, &mut obj);
            assert_eq!(obj, once, "{} {}", d.api_version(), d.plural);
        }
    }
}
