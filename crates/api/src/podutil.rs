//! What a pod spec refers to, as upstream's `pkg/api/pod/util.go`
//! (`VisitPodSecretNames`, `VisitPodConfigmapNames`) and
//! `pkg/api/v1/persistentvolume/util.go` (`VisitPVSecretNames`): the
//! secrets, config maps, claims and service account a pod needs, and the
//! secrets a persistent volume's kubelet needs. The Node authorizer,
//! NodeRestriction and ServiceAccount admission read them.

use serde_json::Value;

fn containers(spec: &Value) -> impl Iterator<Item = &Value> {
    ["initContainers", "containers", "ephemeralContainers"]
        .into_iter()
        .flat_map(move |list| spec[list].as_array().into_iter().flatten())
}

fn volumes(spec: &Value) -> impl Iterator<Item = &Value> {
    spec["volumes"].as_array().into_iter().flatten()
}

fn push(out: &mut Vec<String>, v: Option<&Value>) {
    if let Some(n) = v.and_then(Value::as_str).filter(|n| !n.is_empty()) {
        out.push(n.to_string());
    }
}

/// The secrets a pod spec names: image pull secrets, every container's
/// `env` and `envFrom`, and volumes (each volume's source).
pub fn secret_names(spec: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for s in spec["imagePullSecrets"].as_array().into_iter().flatten() {
        push(&mut out, s.get("name"));
    }
    for c in containers(spec) {
        for e in c["envFrom"].as_array().into_iter().flatten() {
            push(&mut out, e.pointer("/secretRef/name"));
        }
        for e in c["env"].as_array().into_iter().flatten() {
            push(&mut out, e.pointer("/valueFrom/secretKeyRef/name"));
        }
    }
    for v in volumes(spec) {
        for path in [
            "/azureFile/secretName",
            "/cephfs/secretRef/name",
            "/cinder/secretRef/name",
            "/flexVolume/secretRef/name",
            "/rbd/secretRef/name",
            "/secret/secretName",
            "/scaleIO/secretRef/name",
            "/iscsi/secretRef/name",
            "/storageos/secretRef/name",
            "/csi/nodePublishSecretRef/name",
        ] {
            push(&mut out, v.pointer(path));
        }
        for s in projected_sources(v) {
            push(&mut out, s.pointer("/secret/name"));
        }
    }
    out
}

fn projected_sources(v: &Value) -> impl Iterator<Item = &Value> {
    v.pointer("/projected/sources")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

/// The config maps a pod spec names: every container's `env` and
/// `envFrom`, and `configMap` volumes and projections.
pub fn config_map_names(spec: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for c in containers(spec) {
        for e in c["envFrom"].as_array().into_iter().flatten() {
            push(&mut out, e.pointer("/configMapRef/name"));
        }
        for e in c["env"].as_array().into_iter().flatten() {
            push(&mut out, e.pointer("/valueFrom/configMapKeyRef/name"));
        }
    }
    for v in volumes(spec) {
        push(&mut out, v.pointer("/configMap/name"));
        for s in projected_sources(v) {
            push(&mut out, s.pointer("/configMap/name"));
        }
    }
    out
}

/// The claims a pod's volumes use: `persistentVolumeClaim` volumes, and
/// `<pod>-<volume>` for generic ephemeral volumes.
pub fn claim_names(pod_name: &str, spec: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for v in volumes(spec) {
        push(&mut out, v.pointer("/persistentVolumeClaim/claimName"));
        if v.get("ephemeral").is_some_and(|e| !e.is_null()) {
            out.push(format!("{pod_name}-{}", v["name"].as_str().unwrap_or("")));
        }
    }
    out
}

/// The ResourceClaims a pod's `resourceClaims` resolve to: a named claim,
/// or the one its status records for a template (upstream's
/// `resourceclaim.Name`).
pub fn resource_claim_names(pod: &Value) -> Vec<String> {
    let statuses = pod
        .pointer("/status/resourceClaimStatuses")
        .and_then(Value::as_array);
    let mut out = Vec::new();
    for c in pod
        .pointer("/spec/resourceClaims")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(n) = c["resourceClaimName"].as_str().filter(|n| !n.is_empty()) {
            out.push(n.to_string());
        } else if c["resourceClaimTemplateName"]
            .as_str()
            .is_some_and(|t| !t.is_empty())
        {
            let status = statuses
                .into_iter()
                .flatten()
                .find(|s| s["name"] == c["name"]);
            push(&mut out, status.and_then(|s| s.get("resourceClaimName")));
        }
    }
    out
}

/// The secrets a persistent volume's kubelet reads, as (namespace, name):
/// the first source that has one, namespaced as upstream's
/// `VisitPVSecretNames` resolves them (`claim_namespace` when unset);
/// the CSI controller secrets are the controller's, not the kubelet's.
pub fn pv_kubelet_secrets(pv: &Value) -> Vec<(String, String)> {
    let spec = &pv["spec"];
    let claim_ns = spec
        .pointer("/claimRef/namespace")
        .and_then(Value::as_str)
        .unwrap_or("");
    let s = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or("").to_string();
    let mut out = Vec::new();
    let mut add = |ns: String, name: String| {
        if !name.is_empty() {
            out.push((ns, name));
        }
    };
    let or_claim = |ns: String| {
        if ns.is_empty() {
            claim_ns.to_string()
        } else {
            ns
        }
    };
    if let Some(a) = spec.get("azureFile").filter(|a| !a.is_null()) {
        add(
            or_claim(s(a.get("secretNamespace"))),
            s(a.get("secretName")),
        );
    } else if let Some(r) = ["cephfs", "flexVolume", "rbd", "scaleIO", "iscsi"]
        .iter()
        .find_map(|k| spec.get(*k).filter(|v| !v.is_null()))
    {
        add(
            or_claim(s(r.pointer("/secretRef/namespace"))),
            s(r.pointer("/secretRef/name")),
        );
    } else if let Some(r) = ["cinder", "storageos"]
        .iter()
        .find_map(|k| spec.get(*k).filter(|v| !v.is_null()))
    {
        add(
            s(r.pointer("/secretRef/namespace")),
            s(r.pointer("/secretRef/name")),
        );
    } else if let Some(csi) = spec.get("csi").filter(|v| !v.is_null()) {
        for field in [
            "nodePublishSecretRef",
            "nodeStageSecretRef",
            "nodeExpandSecretRef",
        ] {
            if let Some(r) = csi.get(field) {
                add(s(r.get("namespace")), s(r.get("name")));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_pods_references() {
        let spec = json!({
        "imagePullSecrets": [{"name": "pull"}, {"name": ""}],
        "initContainers": [{"name": "i", "envFrom": [{"secretRef": {"name": "init-env"}}, {"configMapRef": {"name": "init-cm"}}]}],
        "containers": [{"name": "c", "env": [
            {"name": "a", "valueFrom": {"secretKeyRef": {"name": "env-secret", "key": "k"}}},
            {"name": "b", "valueFrom": {"configMapKeyRef": {"name": "env-cm", "key": "k"}}}]}],
        "ephemeralContainers": [{"name": "e", "envFrom": [{"secretRef": {"name": "debug"}}]}],
        "volumes": [
            {"name": "s", "secret": {"secretName": "vol-secret"}},
            {"name": "m", "configMap": {"name": "vol-cm"}},
            {"name": "p", "projected": {"sources": [{"secret": {"name": "proj-secret"}}, {"configMap": {"name": "proj-cm"}}, {"serviceAccountToken": {"path": "t"}}]}},
            {"name": "claim", "persistentVolumeClaim": {"claimName": "data"}},
            {"name": "scratch", "ephemeral": {"volumeClaimTemplate": {"spec": {}}}},
            {"name": "csi", "csi": {"driver": "d", "nodePublishSecretRef": {"name": "csi-secret"}}}
        ]});
        assert_eq!(
            secret_names(&spec),
            [
                "pull",
                "init-env",
                "env-secret",
                "debug",
                "vol-secret",
                "proj-secret",
                "csi-secret"
            ]
        );
        assert_eq!(
            config_map_names(&spec),
            ["init-cm", "env-cm", "vol-cm", "proj-cm"]
        );
        assert_eq!(claim_names("web", &spec), ["data", "web-scratch"]);
    }

    #[test]
    fn a_volumes_kubelet_secrets() {
        let pv = json!({"spec": {"claimRef": {"namespace": "apps", "name": "data"},
            "rbd": {"monitors": ["m"], "image": "i", "secretRef": {"name": "ceph"}}}});
        assert_eq!(
            pv_kubelet_secrets(&pv),
            [("apps".to_string(), "ceph".to_string())]
        );
        let csi = json!({"spec": {"csi": {"driver": "d",
            "controllerPublishSecretRef": {"namespace": "x", "name": "controller"},
            "nodeStageSecretRef": {"namespace": "x", "name": "stage"}}}});
        assert_eq!(
            pv_kubelet_secrets(&csi),
            [("x".to_string(), "stage".to_string())]
        );
    }
}
