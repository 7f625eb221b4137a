//! Core (v1) defaults other than the PodSpec's: Services, Secrets, Namespaces,
//! Nodes, PersistentVolumes and claims, Endpoints, LimitRanges, PodTemplates and
//! ReplicationControllers (pkg/apis/core/v1/defaults.go, zz_generated.defaults.go).

use serde_json::{Map, Value, json};

use super::pod::{pvc_spec, template, volume_source};
use super::{
    child, default, default_zero, ensure, is_empty_map, is_nil, is_zero, items, template_labels,
};

/// SetObjectDefaults_PodTemplate.
pub(super) fn pod_template(m: &mut Map<String, Value>) {
    template(m);
}

/// SetDefaults_ReplicationController: selector and labels from the template's
/// labels; replicas 1 (`+default=1`).
pub(super) fn replication_controller(m: &mut Map<String, Value>) {
    let labels = template_labels(m);
    // (An empty map would be omitted on upstream's output.)
    if let Some(labels) = labels {
        if let Some(spec) = child(m, "spec")
            && is_empty_map(spec, "selector")
        {
            spec.insert("selector".into(), labels.clone());
        }
        if let Some(md) = ensure(m, "metadata")
            && is_empty_map(md, "labels")
        {
            md.insert("labels".into(), labels);
        }
    }
    let Some(spec) = ensure(m, "spec") else {
        return;
    };
    default(spec, "replicas", json!(1));
    // The template is a pointer here: defaulted only when sent.
    if let Some(t) = child(spec, "template")
        && let Some(ps) = ensure(t, "spec")
    {
        super::pod::pod_spec(ps);
    }
}

/// SetDefaults_Service and the ServicePort protocol `+default`.
pub(super) fn service(m: &mut Map<String, Value>) {
    let Some(spec) = ensure(m, "spec") else {
        return;
    };
    default_zero(spec, "sessionAffinity", json!("None"));
    match spec.get("sessionAffinity").and_then(Value::as_str) {
        Some("None") => {
            spec.remove("sessionAffinityConfig");
        }
        Some("ClientIP") => {
            let timeout = spec
                .get("sessionAffinityConfig")
                .and_then(|c| c.get("clientIP"))
                .and_then(|c| c.get("timeoutSeconds"))
                .is_some_and(|t| !t.is_null());
            if !timeout {
                spec.insert(
                    "sessionAffinityConfig".into(),
                    json!({"clientIP": {"timeoutSeconds": 10800}}),
                );
            }
        }
        _ => {}
    }
    default_zero(spec, "type", json!("ClusterIP"));
    for p in items(spec, "ports") {
        default_zero(p, "protocol", json!("TCP"));
        if is_zero(p, "targetPort")
            && let Some(port) = p.get("port").cloned()
        {
            p.insert("targetPort".into(), port);
        }
    }
    let ty = spec
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let external_ips = spec
        .get("externalIPs")
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty());
    let externally_accessible =
        ty == "LoadBalancer" || ty == "NodePort" || (ty == "ClusterIP" && external_ips);
    if externally_accessible {
        default_zero(spec, "externalTrafficPolicy", json!("Cluster"));
    }
    if matches!(ty.as_str(), "NodePort" | "LoadBalancer" | "ClusterIP") {
        default(spec, "internalTrafficPolicy", json!("Cluster"));
    }
    if ty == "LoadBalancer" {
        default(spec, "allocateLoadBalancerNodePorts", json!(true));
        if let Some(lb) = child(m, "status").and_then(|s| child(s, "loadBalancer")) {
            for ing in items(lb, "ingress") {
                if !is_zero(ing, "ip") {
                    default(ing, "ipMode", json!("VIP"));
                }
            }
        }
    }
}

/// SetDefaults_Secret.
pub(super) fn secret(m: &mut Map<String, Value>) {
    default_zero(m, "type", json!("Opaque"));
    // Not a default but upstream's decoding (Convert_v1_Secret_To_core_Secret):
    // `stringData` is written into `data` (its values win) and never stored.
    if let Some(Value::Object(string_data)) = m.remove("stringData")
        && !string_data.is_empty()
    {
        use base64::Engine as _;
        if !m.get("data").is_some_and(Value::is_object) {
            m.insert("data".into(), json!({}));
        }
        let data = m
            .get_mut("data")
            .and_then(Value::as_object_mut)
            .expect("an object");
        for (k, v) in string_data {
            let text = match v {
                Value::String(s) => s,
                other => other.to_string(),
            };
            data.insert(
                k,
                json!(base64::engine::general_purpose::STANDARD.encode(text)),
            );
        }
    }
}

/// SetDefaults_Namespace (the `kubernetes.io/metadata.name` label, always the
/// name) and SetDefaults_NamespaceStatus.
pub(super) fn namespace(m: &mut Map<String, Value>) {
    let name = m
        .get("metadata")
        .and_then(|md| md.get("name"))
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if !name.is_empty()
        && let Some(md) = ensure(m, "metadata")
        && let Some(labels) = ensure(md, "labels")
    {
        labels.insert("kubernetes.io/metadata.name".into(), json!(name));
    }
    if let Some(status) = ensure(m, "status") {
        default_zero(status, "phase", json!("Active"));
    }
}

/// SetDefaults_NodeStatus: allocatable is the capacity when unset.
pub(super) fn node(m: &mut Map<String, Value>) {
    if let Some(status) = child(m, "status")
        && is_nil(status, "allocatable")
        && let Some(capacity) = status.get("capacity").filter(|c| c.is_object()).cloned()
    {
        status.insert("allocatable".into(), capacity);
    }
}

/// SetDefaults_PersistentVolume and its sources' defaults.
pub(super) fn persistent_volume(m: &mut Map<String, Value>) {
    if let Some(status) = ensure(m, "status") {
        default_zero(status, "phase", json!("Pending"));
    }
    let Some(spec) = ensure(m, "spec") else {
        return;
    };
    default_zero(spec, "persistentVolumeReclaimPolicy", json!("Retain"));
    default(spec, "volumeMode", json!("Filesystem"));
    pv_source(spec);
}

/// The defaults of a PersistentVolumeSource (inline in a PV's spec, or in a
/// VolumeAttachment's inlineVolumeSpec).
pub(super) fn pv_source(spec: &mut Map<String, Value>) {
    if let Some(hp) = child(spec, "hostPath") {
        default(hp, "type", json!(""));
    }
    volume_source(spec);
}

/// SetDefaults_PersistentVolumeClaim and SetDefaults_PersistentVolumeClaimSpec.
pub(super) fn persistent_volume_claim(m: &mut Map<String, Value>) {
    if let Some(status) = ensure(m, "status") {
        default_zero(status, "phase", json!("Pending"));
    }
    if let Some(spec) = ensure(m, "spec") {
        pvc_spec(spec);
    }
}

/// SetDefaults_Endpoints: ports' protocol TCP.
pub(super) fn endpoints(m: &mut Map<String, Value>) {
    for subset in items(m, "subsets") {
        for p in items(subset, "ports") {
            default_zero(p, "protocol", json!("TCP"));
        }
    }
}

/// SetDefaults_LimitRangeItem: for Container items, default limits from max,
/// default requests from default limits, then from min.
pub(super) fn limit_range(m: &mut Map<String, Value>) {
    let Some(spec) = child(m, "spec") else {
        return;
    };
    for item in items(spec, "limits") {
        if item.get("type").and_then(Value::as_str) != Some("Container") {
            continue;
        }
        let get = |item: &Map<String, Value>, key: &str| {
            item.get(key)
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default()
        };
        let mut dflt = get(item, "default");
        for (k, v) in get(item, "max") {
            dflt.entry(k).or_insert(v);
        }
        let mut request = get(item, "defaultRequest");
        for (k, v) in dflt.clone() {
            request.entry(k).or_insert(v);
        }
        for (k, v) in get(item, "min") {
            request.entry(k).or_insert(v);
        }
        // Empty maps are omitted on upstream's output.
        if !dflt.is_empty() {
            item.insert("default".into(), Value::Object(dflt));
        }
        if !request.is_empty() {
            item.insert("defaultRequest".into(), Value::Object(request));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::defaulted;
    use super::*;

    #[test]
    fn services_get_upstreams_defaults_by_type() {
        let svc = defaulted(
            "",
            "v1",
            "services",
            json!({"spec": {"ports": [{"port": 80}, {"port": 53, "protocol": "UDP", "targetPort": "dns"}, {"port": 81, "targetPort": 0}]}}),
        );
        assert_eq!(
            svc["spec"],
            json!({
                "type": "ClusterIP", "sessionAffinity": "None", "internalTrafficPolicy": "Cluster",
                "ports": [
                    {"port": 80, "protocol": "TCP", "targetPort": 80},
                    {"port": 53, "protocol": "UDP", "targetPort": "dns"},
                    {"port": 81, "protocol": "TCP", "targetPort": 81}
                ]
            })
        );
        let lb = defaulted(
            "",
            "v1",
            "services",
            json!({"spec": {"type": "LoadBalancer", "sessionAffinity": "ClientIP", "ports": [{"port": 443}]},
                   "status": {"loadBalancer": {"ingress": [{"ip": "1.2.3.4"}, {"hostname": "lb.example"}]}}}),
        );
        assert_eq!(
            lb,
            json!({
                "spec": {
                    "type": "LoadBalancer", "sessionAffinity": "ClientIP",
                    "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 10800}},
                    "externalTrafficPolicy": "Cluster", "internalTrafficPolicy": "Cluster",
                    "allocateLoadBalancerNodePorts": true,
                    "ports": [{"port": 443, "protocol": "TCP", "targetPort": 443}]
                },
                "status": {"loadBalancer": {"ingress": [{"ip": "1.2.3.4", "ipMode": "VIP"}, {"hostname": "lb.example"}]}}
            })
        );
        let ext = defaulted(
            "",
            "v1",
            "services",
            json!({"spec": {"type": "ExternalName", "externalName": "example.com",
                            "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 5}}}}),
        );
        assert_eq!(
            ext["spec"],
            json!({"type": "ExternalName", "externalName": "example.com", "sessionAffinity": "None"})
        );
        let ips = defaulted(
            "",
            "v1",
            "services",
            json!({"spec": {"externalIPs": ["1.1.1.1"], "externalTrafficPolicy": "Local", "internalTrafficPolicy": "Local",
                            "sessionAffinity": "ClientIP", "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 60}},
                            "ports": [{"port": 80}]}}),
        );
        assert_eq!(ips["spec"]["externalTrafficPolicy"], "Local");
        assert_eq!(ips["spec"]["internalTrafficPolicy"], "Local");
        assert_eq!(
            ips["spec"]["sessionAffinityConfig"],
            json!({"clientIP": {"timeoutSeconds": 60}})
        );
        let np = defaulted(
            "",
            "v1",
            "services",
            json!({"spec": {"type": "NodePort", "ports": [{"port": 80}]}}),
        );
        assert_eq!(np["spec"]["externalTrafficPolicy"], "Cluster");
        assert!(np["spec"].get("allocateLoadBalancerNodePorts").is_none());
    }

    #[test]
    fn secret_string_data_is_written_into_data() {
        let s = defaulted(
            "",
            "v1",
            "secrets",
            json!({"data": {"a": "eA==", "b": "eQ=="}, "stringData": {"b": "hello", "c": ""}}),
        );
        assert_eq!(
            s,
            json!({"type": "Opaque", "data": {"a": "eA==", "b": "aGVsbG8=", "c": ""}})
        );
        let s = defaulted("", "v1", "secrets", json!({"stringData": {}}));
        assert_eq!(s, json!({"type": "Opaque"}));
    }

    #[test]
    fn secrets_namespaces_and_nodes() {
        assert_eq!(
            defaulted("", "v1", "secrets", json!({"data": {}}))["type"],
            "Opaque"
        );
        assert_eq!(
            defaulted("", "v1", "secrets", json!({"type": "kubernetes.io/tls"}))["type"],
            "kubernetes.io/tls"
        );
        assert_eq!(
            defaulted(
                "",
                "v1",
                "namespaces",
                json!({"metadata": {"name": "team", "labels": {"a": "b", "kubernetes.io/metadata.name": "other"}}})
            ),
            json!({"metadata": {"name": "team", "labels": {"a": "b", "kubernetes.io/metadata.name": "team"}}, "status": {"phase": "Active"}})
        );
        assert_eq!(
            defaulted(
                "",
                "v1",
                "nodes",
                json!({"status": {"capacity": {"cpu": "4", "pods": "110"}}})
            ),
            json!({"status": {"capacity": {"cpu": "4", "pods": "110"}, "allocatable": {"cpu": "4", "pods": "110"}}})
        );
        assert_eq!(
            defaulted("", "v1", "nodes", json!({"spec": {}})),
            json!({"spec": {}})
        );
    }

    #[test]
    fn volumes_claims_endpoints_and_limit_ranges() {
        assert_eq!(
            defaulted(
                "",
                "v1",
                "persistentvolumes",
                json!({"spec": {"capacity": {"storage": "1Gi"}, "hostPath": {"path": "/data"}}})
            ),
            json!({"spec": {"capacity": {"storage": "1Gi"}, "hostPath": {"path": "/data", "type": ""},
                            "persistentVolumeReclaimPolicy": "Retain", "volumeMode": "Filesystem"},
                   "status": {"phase": "Pending"}})
        );
        assert_eq!(
            defaulted(
                "",
                "v1",
                "persistentvolumeclaims",
                json!({"spec": {"volumeMode": "Block"}})
            ),
            json!({"spec": {"volumeMode": "Block"}, "status": {"phase": "Pending"}})
        );
        assert_eq!(
            defaulted(
                "",
                "v1",
                "endpoints",
                json!({"subsets": [{"ports": [{"port": 80}, {"port": 53, "protocol": "UDP"}]}]})
            ),
            json!({"subsets": [{"ports": [{"port": 80, "protocol": "TCP"}, {"port": 53, "protocol": "UDP"}]}]})
        );
        assert_eq!(
            defaulted(
                "",
                "v1",
                "limitranges",
                json!({"spec": {"limits": [
                    {"type": "Container", "max": {"cpu": "2", "memory": "1Gi"}, "min": {"cpu": "100m", "ephemeral-storage": "1Gi"}, "default": {"cpu": "1"}},
                    {"type": "Pod", "max": {"cpu": "4"}}
                ]}})
            ),
            json!({"spec": {"limits": [
                {"type": "Container", "max": {"cpu": "2", "memory": "1Gi"}, "min": {"cpu": "100m", "ephemeral-storage": "1Gi"},
                 "default": {"cpu": "1", "memory": "1Gi"},
                 "defaultRequest": {"cpu": "1", "memory": "1Gi", "ephemeral-storage": "1Gi"}},
                {"type": "Pod", "max": {"cpu": "4"}}
            ]}})
        );
    }

    #[test]
    fn replication_controllers_and_pod_templates() {
        let rc = defaulted(
            "",
            "v1",
            "replicationcontrollers",
            json!({"spec": {"template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "nginx:1"}]}}}}),
        );
        assert_eq!(rc["metadata"]["labels"], json!({"app": "web"}));
        assert_eq!(rc["spec"]["selector"], json!({"app": "web"}));
        assert_eq!(rc["spec"]["replicas"], 1);
        assert_eq!(rc["spec"]["template"]["spec"]["dnsPolicy"], "ClusterFirst");
        // Pod-only defaults stay off templates.
        assert!(
            rc["spec"]["template"]["spec"]
                .get("enableServiceLinks")
                .is_none()
        );
        let kept = defaulted(
            "",
            "v1",
            "replicationcontrollers",
            json!({"metadata": {"labels": {"x": "y"}}, "spec": {"replicas": 0, "selector": {"app": "web", "tier": "f"},
                   "template": {"metadata": {"labels": {"app": "web", "tier": "f"}}}}}),
        );
        assert_eq!(kept["metadata"]["labels"], json!({"x": "y"}));
        assert_eq!(kept["spec"]["selector"], json!({"app": "web", "tier": "f"}));
        assert_eq!(kept["spec"]["replicas"], 0);
        let pt = defaulted(
            "",
            "v1",
            "podtemplates",
            json!({"template": {"spec": {"containers": [{"name": "c", "image": "nginx"}]}}}),
        );
        assert_eq!(
            pt["template"]["spec"],
            json!({"containers": [{"name": "c", "image": "nginx", "imagePullPolicy": "Always",
                                   "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File", "resources": {}}],
                   "dnsPolicy": "ClusterFirst", "restartPolicy": "Always", "securityContext": {},
                   "terminationGracePeriodSeconds": 30, "schedulerName": "default-scheduler"})
        );
    }
}
