//! Defaulting, as upstream's `SetDefaults_*` functions (and the default-on
//! admission that sets fields, such as DefaultTolerationSeconds): applied to
//! every object written, on create and on update, before validation.

use serde_json::{Map, Value, json};

use crate::catalogue::ResourceDef;

fn obj_mut<'a>(v: &'a mut Value, key: &str) -> &'a mut Map<String, Value> {
    if !v.get(key).is_some_and(Value::is_object) {
        v[key] = json!({});
    }
    v[key].as_object_mut().expect("object")
}

/// The object at `key` of a map, made one if absent or not an object.
fn obj_mut_in<'a>(m: &'a mut Map<String, Value>, key: &str) -> &'a mut Map<String, Value> {
    if !m.get(key).is_some_and(Value::is_object) {
        m.insert(key.to_string(), json!({}));
    }
    m.get_mut(key)
        .and_then(Value::as_object_mut)
        .expect("object")
}

fn default(m: &mut Map<String, Value>, key: &str, value: Value) {
    if m.get(key).is_none_or(Value::is_null) {
        m.insert(key.to_string(), value);
    }
}

/// Applies the defaults of `def`'s kind to `obj`.
pub fn apply(def: &ResourceDef, obj: &mut Value) {
    if !obj.is_object() {
        return;
    }
    match (def.group, def.plural) {
        ("", "pods") => {
            let spec = obj_mut(obj, "spec");
            pod_spec(spec);
            host_network_ports(spec);
            pod_admission(obj);
        }
        ("", "podtemplates") => {
            if let Some(t) = obj.get_mut("template") {
                template(t);
            }
        }
        ("", "replicationcontrollers") => {
            // SetDefaults_ReplicationController: selector and labels from the
            // template's labels when empty.
            let tl = obj
                .pointer("/spec/template/metadata/labels")
                .filter(|l| l.is_object())
                .cloned();
            if let Some(tl) = tl {
                let empty =
                    |v: Option<&Value>| v.and_then(Value::as_object).is_none_or(Map::is_empty);
                if empty(obj.pointer("/spec/selector")) {
                    obj_mut(obj, "spec").insert("selector".into(), tl.clone());
                }
                if empty(obj.pointer("/metadata/labels")) {
                    obj_mut(obj, "metadata").insert("labels".into(), tl);
                }
            }
            let spec = obj_mut(obj, "spec");
            default(spec, "replicas", json!(1));
            if let Some(t) = spec.get_mut("template") {
                template(t);
            }
        }
        ("", "namespaces") => {
            let name = obj
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            if !name.is_empty() {
                let meta = obj_mut(obj, "metadata");
                let labels = meta.entry("labels").or_insert_with(|| json!({}));
                if let Some(l) = labels.as_object_mut() {
                    l.insert("kubernetes.io/metadata.name".into(), json!(name));
                }
            }
        }
        ("", "persistentvolumeclaims") => {
            default(obj_mut(obj, "spec"), "volumeMode", json!("Filesystem"))
        }
        ("", "persistentvolumes") => {
            let spec = obj_mut(obj, "spec");
            default(spec, "persistentVolumeReclaimPolicy", json!("Retain"));
            default(spec, "volumeMode", json!("Filesystem"));
        }
        ("", "endpoints") => {
            for subset in obj
                .get_mut("subsets")
                .and_then(Value::as_array_mut)
                .into_iter()
                .flatten()
            {
                for p in subset
                    .get_mut("ports")
                    .and_then(Value::as_array_mut)
                    .into_iter()
                    .flatten()
                {
                    if let Some(m) = p.as_object_mut() {
                        default(m, "protocol", json!("TCP"));
                    }
                }
            }
        }
        ("apps", "deployments") => {
            let spec = obj_mut(obj, "spec");
            default(spec, "replicas", json!(1));
            default(spec, "revisionHistoryLimit", json!(10));
            default(spec, "progressDeadlineSeconds", json!(600));
            let strategy = spec.entry("strategy").or_insert_with(|| json!({}));
            if let Some(st) = strategy.as_object_mut() {
                default(st, "type", json!("RollingUpdate"));
                if st.get("type").and_then(Value::as_str) == Some("RollingUpdate") {
                    let ru = st.entry("rollingUpdate").or_insert_with(|| json!({}));
                    if let Some(ru) = ru.as_object_mut() {
                        default(ru, "maxUnavailable", json!("25%"));
                        default(ru, "maxSurge", json!("25%"));
                    }
                }
            }
            if let Some(t) = spec.get_mut("template") {
                template(t);
            }
        }
        ("apps", "replicasets") => {
            let spec = obj_mut(obj, "spec");
            default(spec, "replicas", json!(1));
            if let Some(t) = spec.get_mut("template") {
                template(t);
            }
        }
        ("apps", "statefulsets") => {
            let spec = obj_mut(obj, "spec");
            default(spec, "replicas", json!(1));
            default(spec, "podManagementPolicy", json!("OrderedReady"));
            default(spec, "revisionHistoryLimit", json!(10));
            // SetDefaults_StatefulSet: a RollingUpdate strategy with partition 0.
            let us = obj_mut_in(spec, "updateStrategy");
            if us
                .get("type")
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
            {
                us.insert("type".into(), json!("RollingUpdate"));
            }
            if us.get("type").and_then(Value::as_str) == Some("RollingUpdate") {
                default(us, "rollingUpdate", json!({}));
                if let Some(ru) = us.get_mut("rollingUpdate").and_then(Value::as_object_mut) {
                    default(ru, "partition", json!(0));
                }
            }
            default(
                spec,
                "persistentVolumeClaimRetentionPolicy",
                json!({"whenDeleted": "Retain", "whenScaled": "Retain"}),
            );
            if let Some(t) = spec.get_mut("template") {
                template(t);
            }
        }
        ("apps", "daemonsets") => {
            let spec = obj_mut(obj, "spec");
            default(spec, "revisionHistoryLimit", json!(10));
            // SetDefaults_DaemonSet: RollingUpdate, maxUnavailable 1, maxSurge 0.
            let us = obj_mut_in(spec, "updateStrategy");
            if us
                .get("type")
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
            {
                us.insert("type".into(), json!("RollingUpdate"));
            }
            if us.get("type").and_then(Value::as_str) == Some("RollingUpdate") {
                default(us, "rollingUpdate", json!({}));
                if let Some(ru) = us.get_mut("rollingUpdate").and_then(Value::as_object_mut) {
                    default(ru, "maxUnavailable", json!(1));
                    default(ru, "maxSurge", json!(0));
                }
            }
            if let Some(t) = spec.get_mut("template") {
                template(t);
            }
        }
        ("batch", "jobs") => job_spec(obj_mut(obj, "spec")),
        ("batch", "cronjobs") => {
            let spec = obj_mut(obj, "spec");
            default(spec, "concurrencyPolicy", json!("Allow"));
            default(spec, "suspend", json!(false));
            default(spec, "successfulJobsHistoryLimit", json!(3));
            default(spec, "failedJobsHistoryLimit", json!(1));
            if let Some(js) = spec
                .get_mut("jobTemplate")
                .and_then(|j| j.get_mut("spec"))
                .and_then(Value::as_object_mut)
            {
                job_spec(js);
            }
        }
        ("scheduling.k8s.io", "priorityclasses") => default(
            obj.as_object_mut().expect("object"),
            "preemptionPolicy",
            json!("PreemptLowerPriority"),
        ),
        ("storage.k8s.io", "storageclasses") => {
            let m = obj.as_object_mut().expect("object");
            default(m, "reclaimPolicy", json!("Delete"));
            default(m, "volumeBindingMode", json!("Immediate"));
        }
        _ => {}
    }
}

fn job_spec(spec: &mut Map<String, Value>) {
    if spec.get("completions").is_none() && spec.get("parallelism").is_none() {
        spec.insert("completions".into(), json!(1));
        spec.insert("parallelism".into(), json!(1));
    }
    default(spec, "parallelism", json!(1));
    default(spec, "backoffLimit", json!(6));
    default(spec, "completionMode", json!("NonIndexed"));
    default(spec, "suspend", json!(false));
    default(spec, "podReplacementPolicy", json!("TerminatingOrFailed"));
    if let Some(t) = spec.get_mut("template") {
        template(t);
    }
}

fn template(t: &mut Value) {
    if t.is_object() {
        pod_spec(obj_mut(t, "spec"));
    }
}

/// `imagePullPolicy`: Always for `:latest` or an untagged image, else IfNotPresent.
fn pull_policy(image: &str) -> &'static str {
    if image.contains('@') {
        return "IfNotPresent";
    }
    let last = image.rsplit('/').next().unwrap_or(image);
    match last.rsplit_once(':') {
        Some((_, "latest")) | None => "Always",
        Some(_) => "IfNotPresent",
    }
}

fn container(c: &mut Value) {
    let Some(m) = c.as_object_mut() else { return };
    let image = m
        .get("image")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if !image.is_empty() {
        default(m, "imagePullPolicy", json!(pull_policy(&image)));
    }
    default(m, "terminationMessagePath", json!("/dev/termination-log"));
    default(m, "terminationMessagePolicy", json!("File"));
    default(m, "resources", json!({}));
    for p in m
        .get_mut("ports")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
    {
        if let Some(pm) = p.as_object_mut() {
            default(pm, "protocol", json!("TCP"));
        }
    }
    for probe in ["livenessProbe", "readinessProbe", "startupProbe"] {
        if let Some(pr) = m.get_mut(probe).and_then(Value::as_object_mut) {
            default(pr, "timeoutSeconds", json!(1));
            default(pr, "periodSeconds", json!(10));
            default(pr, "successThreshold", json!(1));
            default(pr, "failureThreshold", json!(3));
            if let Some(h) = pr.get_mut("httpGet").and_then(Value::as_object_mut) {
                default(h, "scheme", json!("HTTP"));
                default(h, "path", json!("/"));
            }
        }
    }
    for e in m
        .get_mut("env")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
    {
        if let Some(fr) = e
            .pointer_mut("/valueFrom/fieldRef")
            .and_then(Value::as_object_mut)
        {
            default(fr, "apiVersion", json!("v1"));
        }
    }
}

fn pod_spec(spec: &mut Map<String, Value>) {
    default(spec, "restartPolicy", json!("Always"));
    default(spec, "dnsPolicy", json!("ClusterFirst"));
    default(spec, "terminationGracePeriodSeconds", json!(30));
    default(spec, "securityContext", json!({}));
    default(spec, "schedulerName", json!("default-scheduler"));
    default(spec, "enableServiceLinks", json!(true));
    for list in ["containers", "initContainers"] {
        for c in spec
            .get_mut(list)
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
        {
            container(c);
        }
    }
    for v in spec
        .get_mut("volumes")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
    {
        for kind in ["configMap", "secret"] {
            if let Some(src) = v.get_mut(kind).and_then(Value::as_object_mut) {
                default(src, "defaultMode", json!(420));
            }
        }
    }
}

/// A Pod on the host network: host ports default to container ports (pods
/// only; templates keep 0, as upstream since 1.28).
fn host_network_ports(spec: &mut Map<String, Value>) {
    if spec.get("hostNetwork").and_then(Value::as_bool) != Some(true) {
        return;
    }
    for list in ["containers", "initContainers"] {
        for c in spec
            .get_mut(list)
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
        {
            for p in c
                .get_mut("ports")
                .and_then(Value::as_array_mut)
                .into_iter()
                .flatten()
            {
                if p.get("hostPort").and_then(Value::as_i64).unwrap_or(0) == 0
                    && let Some(cp) = p.get("containerPort").cloned()
                {
                    p["hostPort"] = cp;
                }
            }
        }
    }
}

/// What default-on admission plugins set on pods: priority 0 without a
/// priority class (Priority), tolerations for not-ready and unreachable nodes
/// (DefaultTolerationSeconds).
fn pod_admission(obj: &mut Value) {
    let spec = obj_mut(obj, "spec");
    if spec.get("priorityClassName").is_none() {
        default(spec, "priority", json!(0));
    }
    let tolerations = spec.entry("tolerations").or_insert_with(|| json!([]));
    if let Some(list) = tolerations.as_array_mut() {
        for key in [
            "node.kubernetes.io/not-ready",
            "node.kubernetes.io/unreachable",
        ] {
            let present = list.iter().any(|t| {
                t.get("key").and_then(Value::as_str) == Some(key)
                    && t.get("effect")
                        .and_then(Value::as_str)
                        .is_none_or(|e| e == "NoExecute")
            });
            if !present {
                list.push(json!({"key": key, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn def(group: &'static str, plural: &'static str) -> &'static ResourceDef {
        crate::catalogue::builtin()
            .iter()
            .find(|d| d.group == group && d.plural == plural)
            .unwrap()
    }

    #[test]
    fn pods_and_deployments_get_upstreams_defaults() {
        let mut pod = json!({"spec": {"containers": [{"name": "c", "image": "nginx"}, {"name": "d", "image": "nginx:1.27", "ports": [{"containerPort": 80}]}]}});
        apply(def("", "pods"), &mut pod);
        assert_eq!(pod["spec"]["restartPolicy"], "Always");
        assert_eq!(pod["spec"]["schedulerName"], "default-scheduler");
        assert_eq!(pod["spec"]["containers"][0]["imagePullPolicy"], "Always");
        assert_eq!(
            pod["spec"]["containers"][1]["imagePullPolicy"],
            "IfNotPresent"
        );
        assert_eq!(pod["spec"]["containers"][1]["ports"][0]["protocol"], "TCP");
        assert_eq!(pod["spec"]["tolerations"].as_array().unwrap().len(), 2);
        let mut d = json!({"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "x:1"}]}}}});
        apply(def("apps", "deployments"), &mut d);
        assert_eq!(
            d["spec"]["strategy"],
            json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}})
        );
        assert_eq!(
            (
                d["spec"]["replicas"].as_i64(),
                d["spec"]["revisionHistoryLimit"].as_i64(),
                d["spec"]["progressDeadlineSeconds"].as_i64()
            ),
            (Some(1), Some(10), Some(600))
        );
        assert_eq!(
            d["spec"]["template"]["spec"]["terminationGracePeriodSeconds"],
            30
        );
        let mut job = json!({"spec": {"template": {"spec": {"containers": []}}}});
        apply(def("batch", "jobs"), &mut job);
        assert_eq!(
            (
                job["spec"]["completions"].as_i64(),
                job["spec"]["parallelism"].as_i64(),
                job["spec"]["backoffLimit"].as_i64()
            ),
            (Some(1), Some(1), Some(6))
        );
        assert_eq!(job["spec"]["completionMode"], "NonIndexed");
    }
}
