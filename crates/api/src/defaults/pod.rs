//! Pod and pod template defaults: upstream's `SetDefaults_Pod`,
//! `SetDefaults_PodSpec`, `SetDefaults_Container`, `SetDefaults_Probe`,
//! `SetDefaults_HTTPGetAction`, the volume source defaulters and the
//! declarative `+default`s reached from a PodSpec
//! (pkg/apis/core/v1/defaults.go, zz_generated.defaults.go)
//! (`serviceAccountName` and its deprecated alias `serviceAccount` kept
//! equal). Admission plugins (ServiceAccount, Priority, ...) are the API
//! server's.

use serde_json::{Map, Value, json};

use super::{child, default, default_zero, ensure, is_zero, items};

/// A Pod: SetObjectDefaults_Pod, then the admission plugins' defaults.
pub(super) fn pod(m: &mut Map<String, Value>) {
    let Some(spec) = ensure(m, "spec") else {
        return;
    };
    pod_only(spec);
    pod_spec(spec);
    service_account_names(spec);
}

/// A pod template (non-pointer in its owner: defaulted even when absent).
pub(super) fn template(owner: &mut Map<String, Value>) {
    if let Some(t) = ensure(owner, "template")
        && let Some(spec) = ensure(t, "spec")
    {
        pod_spec(spec);
    }
}

/// What `SetDefaults_Pod` adds to the PodSpec defaults: only on Pods, not on
/// templates (requests from limits, enableServiceLinks, host ports).
fn pod_only(spec: &mut Map<String, Value>) {
    for list in ["containers", "initContainers"] {
        for c in items(spec, list) {
            requests_from_limits(c);
        }
    }
    default(spec, "enableServiceLinks", json!(true));
    if spec.get("hostNetwork") == Some(&json!(true)) {
        for list in ["containers", "initContainers"] {
            for c in items(spec, list) {
                for p in items(c, "ports") {
                    if is_zero(p, "hostPort")
                        && let Some(cp) = p.get("containerPort").cloned()
                    {
                        p.insert("hostPort".into(), cp);
                    }
                }
            }
        }
    }
}

/// Requests default to limits, resource by resource, when limits are set.
fn requests_from_limits(c: &mut Map<String, Value>) {
    let Some(limits) = c
        .get("resources")
        .and_then(|r| r.get("limits"))
        .and_then(Value::as_object)
        .filter(|l| !l.is_empty())
        .cloned()
    else {
        return;
    };
    let Some(resources) = child(c, "resources") else {
        return;
    };
    let Some(requests) = ensure(resources, "requests") else {
        return;
    };
    for (k, v) in limits {
        requests.entry(k).or_insert(v);
    }
}

/// SetDefaults_PodSpec and everything nested in a PodSpec.
pub(super) fn pod_spec(spec: &mut Map<String, Value>) {
    default_zero(spec, "dnsPolicy", json!("ClusterFirst"));
    default_zero(spec, "restartPolicy", json!("Always"));
    default(spec, "securityContext", json!({}));
    default(spec, "terminationGracePeriodSeconds", json!(30));
    default_zero(spec, "schedulerName", json!("default-scheduler"));
    service_account_names(spec);
    for v in items(spec, "volumes") {
        volume(v);
    }
    for list in ["initContainers", "containers", "ephemeralContainers"] {
        for c in items(spec, list) {
            container(c);
        }
    }
}

/// `serviceAccount` is the deprecated alias of `serviceAccountName`: the
/// round trip through upstream's internal version fills each from the other.
fn service_account_names(spec: &mut Map<String, Value>) {
    if is_zero(spec, "serviceAccountName")
        && let Some(sa) = spec.get("serviceAccount").filter(|v| !is_zero_value(v))
    {
        let sa = sa.clone();
        spec.insert("serviceAccountName".into(), sa);
    }
    if is_zero(spec, "serviceAccount")
        && let Some(sa) = spec.get("serviceAccountName").filter(|v| !is_zero_value(v))
    {
        let sa = sa.clone();
        spec.insert("serviceAccount".into(), sa);
    }
}

fn is_zero_value(v: &Value) -> bool {
    v.is_null() || v.as_str() == Some("")
}

/// SetDefaults_Container (also for ephemeral containers) with its ports, env,
/// probes and lifecycle handlers.
fn container(c: &mut Map<String, Value>) {
    if is_zero(c, "imagePullPolicy") {
        let image = c.get("image").and_then(Value::as_str).unwrap_or("");
        c.insert("imagePullPolicy".into(), json!(pull_policy(image)));
    }
    default_zero(c, "terminationMessagePath", json!("/dev/termination-log"));
    default_zero(c, "terminationMessagePolicy", json!("File"));
    // A non-pointer struct: always there on upstream's output.
    default(c, "resources", json!({}));
    for p in items(c, "ports") {
        default_zero(p, "protocol", json!("TCP"));
    }
    for e in items(c, "env") {
        if let Some(fr) = child(e, "valueFrom").and_then(|vf| child(vf, "fieldRef")) {
            field_ref(fr);
        }
    }
    for probe in ["livenessProbe", "readinessProbe", "startupProbe"] {
        if let Some(p) = child(c, probe) {
            default_zero(p, "timeoutSeconds", json!(1));
            default_zero(p, "periodSeconds", json!(10));
            default_zero(p, "successThreshold", json!(1));
            default_zero(p, "failureThreshold", json!(3));
            handler(p);
            if let Some(g) = child(p, "grpc") {
                default(g, "service", json!(""));
            }
        }
    }
    if let Some(lc) = child(c, "lifecycle") {
        for hook in ["postStart", "preStop"] {
            if let Some(h) = child(lc, hook) {
                handler(h);
            }
        }
    }
}

/// SetDefaults_HTTPGetAction on a probe's or lifecycle hook's `httpGet`.
fn handler(h: &mut Map<String, Value>) {
    if let Some(g) = child(h, "httpGet") {
        default_zero(g, "path", json!("/"));
        default_zero(g, "scheme", json!("HTTP"));
    }
}

/// SetDefaults_ObjectFieldSelector.
fn field_ref(fr: &mut Map<String, Value>) {
    default_zero(fr, "apiVersion", json!("v1"));
}

/// `imagePullPolicy` as SetDefaults_Container chooses it: Always when the tag
/// parsers.ParseImageName finds is "latest" (which it is for a reference
/// with neither tag nor digest), else IfNotPresent (also for a reference it
/// cannot parse, such as "" or one with upper case in its path).
pub(super) fn pull_policy(image: &str) -> &'static str {
    if image_tag(image).as_deref() == Some("latest") {
        "Always"
    } else {
        "IfNotPresent"
    }
}

/// The tag of an image reference as upstream's parser reports it: "latest"
/// when there is neither tag nor digest, "" with a digest only; None when the
/// reference does not parse.
fn image_tag(image: &str) -> Option<String> {
    if image.is_empty() || image.len() > 255 + 128 + 72 {
        return None;
    }
    let (name, digest) = match image.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (image, None),
    };
    if let Some(d) = digest {
        let (algo, hex) = d.split_once(':')?;
        let algo_ok = !algo.is_empty()
            && algo
                .chars()
                .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || "+._-".contains(ch));
        if !algo_ok || hex.len() < 32 || !hex.chars().all(|ch| ch.is_ascii_hexdigit()) {
            return None;
        }
    }
    let last_slash = name.rfind('/').map_or(0, |i| i + 1);
    let (repo, tag) = match name[last_slash..].rfind(':') {
        Some(i) => (&name[..last_slash + i], Some(&name[last_slash + i + 1..])),
        None => (name, None),
    };
    if let Some(t) = tag {
        let mut chars = t.chars();
        let first_ok = chars
            .next()
            .is_some_and(|ch| ch.is_ascii_alphanumeric() || ch == '_');
        if !first_ok
            || t.len() > 128
            || !chars.all(|ch| ch.is_ascii_alphanumeric() || "_.-".contains(ch))
        {
            return None;
        }
    }
    if !valid_repository(repo) {
        return None;
    }
    Some(match (tag, digest) {
        (Some(t), _) => t.to_string(),
        (None, Some(_)) => String::new(),
        (None, None) => "latest".to_string(),
    })
}

/// A repository name: an optional domain, then lowercase path components
/// (`[a-z0-9]+` joined by '.', '_', "__" or dashes), at most 255 characters.
fn valid_repository(repo: &str) -> bool {
    if repo.is_empty() || repo.len() > 255 {
        return false;
    }
    let mut parts: Vec<&str> = repo.split('/').collect();
    if parts.len() > 1 {
        let first = parts[0];
        let is_domain = first.contains('.')
            || first.contains(':')
            || first == "localhost"
            || first.chars().any(|c| c.is_ascii_uppercase());
        if is_domain {
            let (host, port) = match first.rsplit_once(':') {
                Some((h, p)) if !h.starts_with('[') || h.ends_with(']') => (h, Some(p)),
                _ => (first, None),
            };
            let host_ok = !host.is_empty()
                && host
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || ".-[]:".contains(c));
            if !host_ok
                || port.is_some_and(|p| p.is_empty() || !p.chars().all(|c| c.is_ascii_digit()))
            {
                return false;
            }
            parts.remove(0);
        }
    } else if repo.len() == 64 && repo.chars().all(|c| c.is_ascii_hexdigit()) {
        // A bare 64-hex-digit name is refused as ambiguous with an image ID.
        return false;
    }
    parts.iter().all(|p| path_component(p))
}

fn path_component(p: &str) -> bool {
    let b = p.as_bytes();
    if b.is_empty() || !is_alnum(b[0]) || !is_alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if is_alnum(b[i]) {
            i += 1;
            continue;
        }
        // A separator: '.', '_', "__" or one or more '-', between alphanumerics.
        let start = i;
        while i < b.len() && !is_alnum(b[i]) {
            i += 1;
        }
        let sep = &p[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.chars().all(|c| c == '-');
        if !ok {
            return false;
        }
    }
    true
}

fn is_alnum(c: u8) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit()
}

/// SetDefaults_Volume and the defaulters of its source.
fn volume(v: &mut Map<String, Value>) {
    let has_source = v.iter().any(|(k, val)| k != "name" && !val.is_null());
    if !has_source {
        v.insert("emptyDir".into(), json!({}));
    }
    if let Some(hp) = child(v, "hostPath") {
        default(hp, "type", json!(""));
    }
    for (kind, mode) in [
        ("secret", 420),
        ("configMap", 420),
        ("downwardAPI", 420),
        ("projected", 420),
    ] {
        if let Some(src) = child(v, kind) {
            default(src, "defaultMode", json!(mode));
        }
    }
    if let Some(d) = child(v, "downwardAPI") {
        downward_api_items(d);
    }
    if let Some(p) = child(v, "projected") {
        for s in items(p, "sources") {
            if let Some(d) = child(s, "downwardAPI") {
                downward_api_items(d);
            }
            if let Some(t) = child(s, "serviceAccountToken") {
                default(t, "expirationSeconds", json!(3600));
            }
        }
    }
    volume_source(v);
    if let Some(spec) = child(v, "ephemeral")
        .and_then(|e| child(e, "volumeClaimTemplate"))
        .and_then(|t| child(t, "spec"))
    {
        pvc_spec(spec);
    }
}

fn downward_api_items(d: &mut Map<String, Value>) {
    for item in items(d, "items") {
        if let Some(fr) = child(item, "fieldRef") {
            field_ref(fr);
        }
    }
}

/// The sources a Volume shares with a PersistentVolumeSpec: iscsi, rbd,
/// azureDisk, scaleIO (their `+default`s and SetDefaults_AzureDiskVolumeSource,
/// SetDefaults_ScaleIO[Persistent]VolumeSource).
pub(super) fn volume_source(v: &mut Map<String, Value>) {
    if let Some(s) = child(v, "iscsi") {
        default_zero(s, "iscsiInterface", json!("default"));
    }
    if let Some(s) = child(v, "rbd") {
        default_zero(s, "pool", json!("rbd"));
        default_zero(s, "user", json!("admin"));
        default_zero(s, "keyring", json!("/etc/ceph/keyring"));
    }
    if let Some(s) = child(v, "azureDisk") {
        default(s, "cachingMode", json!("ReadWrite"));
        default(s, "kind", json!("Shared"));
        default(s, "fsType", json!("ext4"));
        default(s, "readOnly", json!(false));
    }
    if let Some(s) = child(v, "scaleIO") {
        default_zero(s, "storageMode", json!("ThinProvisioned"));
        default_zero(s, "fsType", json!("xfs"));
    }
}

/// SetDefaults_PersistentVolumeClaimSpec.
pub(super) fn pvc_spec(spec: &mut Map<String, Value>) {
    default(spec, "volumeMode", json!("Filesystem"));
}

#[cfg(test)]
mod tests {
    use super::super::tests::defaulted;
    use super::*;

    #[test]
    fn image_pull_policy_follows_the_tag_upstream_parses() {
        for (image, policy) in [
            ("nginx", "Always"),
            ("nginx:latest", "Always"),
            ("nginx:1.27", "IfNotPresent"),
            ("registry.k8s.io/pause:3.10", "IfNotPresent"),
            ("localhost:5000/app", "Always"),
            ("localhost:5000/app:v1", "IfNotPresent"),
            (
                "nginx@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
                "IfNotPresent",
            ),
            (
                "nginx:latest@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
                "Always",
            ),
            ("", "IfNotPresent"),
            ("NGINX", "IfNotPresent"),
            ("Registry.Example.com/app", "Always"),
            ("app:", "IfNotPresent"),
        ] {
            assert_eq!(pull_policy(image), policy, "{image}");
        }
    }

    #[test]
    fn pod_gets_pod_spec_container_and_admission_defaults() {
        let pod = defaulted(
            "",
            "v1",
            "pods",
            json!({"spec": {
                "hostNetwork": true,
                "serviceAccountName": "builder",
                "containers": [{
                    "name": "c", "image": "nginx:1.27",
                    "ports": [{"containerPort": 80}, {"containerPort": 53, "protocol": "UDP", "hostPort": 5353}],
                    "resources": {"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "500m"}},
                    "env": [{"name": "N", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
                    "livenessProbe": {"httpGet": {"port": 80}},
                    "readinessProbe": {"grpc": {"port": 9000}, "periodSeconds": 5},
                    "startupProbe": {"exec": {"command": ["true"]}, "failureThreshold": 30},
                    "lifecycle": {"preStop": {"httpGet": {"port": 80, "path": "/quit"}}, "postStart": {"exec": {"command": ["x"]}}}
                }],
                "initContainers": [{"name": "i", "image": "busybox", "resources": {"limits": {"cpu": "100m"}}}],
                "ephemeralContainers": [{"name": "e", "image": "busybox:latest", "targetContainerName": "c"}]
            }}),
        );
        assert_eq!(
            pod["spec"],
            json!({
                "hostNetwork": true,
                "serviceAccountName": "builder",
                "serviceAccount": "builder",
                "enableServiceLinks": true,
                "dnsPolicy": "ClusterFirst",
                "restartPolicy": "Always",
                "securityContext": {},
                "terminationGracePeriodSeconds": 30,
                "schedulerName": "default-scheduler",
                "containers": [{
                    "name": "c", "image": "nginx:1.27", "imagePullPolicy": "IfNotPresent",
                    "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File",
                    "ports": [
                        {"containerPort": 80, "hostPort": 80, "protocol": "TCP"},
                        {"containerPort": 53, "protocol": "UDP", "hostPort": 5353}
                    ],
                    "resources": {"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "500m", "memory": "1Gi"}},
                    "env": [{"name": "N", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name", "apiVersion": "v1"}}}],
                    "livenessProbe": {"httpGet": {"port": 80, "path": "/", "scheme": "HTTP"},
                        "timeoutSeconds": 1, "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 3},
                    "readinessProbe": {"grpc": {"port": 9000, "service": ""},
                        "timeoutSeconds": 1, "periodSeconds": 5, "successThreshold": 1, "failureThreshold": 3},
                    "startupProbe": {"exec": {"command": ["true"]},
                        "timeoutSeconds": 1, "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 30},
                    "lifecycle": {"preStop": {"httpGet": {"port": 80, "path": "/quit", "scheme": "HTTP"}}, "postStart": {"exec": {"command": ["x"]}}}
                }],
                "initContainers": [{
                    "name": "i", "image": "busybox", "imagePullPolicy": "Always",
                    "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File",
                    "resources": {"limits": {"cpu": "100m"}, "requests": {"cpu": "100m"}}
                }],
                "ephemeralContainers": [{
                    "name": "e", "image": "busybox:latest", "targetContainerName": "c", "imagePullPolicy": "Always",
                    "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File",
                    "resources": {}
                }]
            })
        );
    }

    #[test]
    fn pod_volumes_get_their_sources_defaults() {
        let pod = defaulted(
            "",
            "v1",
            "pods",
            json!({"spec": {"containers": [], "volumes": [
                {"name": "scratch"},
                {"name": "host", "hostPath": {"path": "/var/log"}},
                {"name": "s", "secret": {"secretName": "s"}},
                {"name": "cm", "configMap": {"name": "cm", "defaultMode": 256}},
                {"name": "d", "downwardAPI": {"items": [{"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}}]}},
                {"name": "p", "projected": {"sources": [
                    {"serviceAccountToken": {"path": "token"}},
                    {"downwardAPI": {"items": [{"path": "ns", "fieldRef": {"fieldPath": "metadata.namespace"}}]}}
                ]}},
                {"name": "i", "iscsi": {"targetPortal": "10.0.0.1:3260", "iqn": "iqn.x", "lun": 0}},
                {"name": "r", "rbd": {"monitors": ["m"], "image": "img"}},
                {"name": "a", "azureDisk": {"diskName": "d", "diskURI": "u"}},
                {"name": "sc", "scaleIO": {"gateway": "g", "system": "s", "secretRef": {"name": "x"}}},
                {"name": "eph", "ephemeral": {"volumeClaimTemplate": {"spec": {"accessModes": ["ReadWriteOnce"]}}}}
            ]}}),
        );
        assert_eq!(
            pod["spec"]["volumes"],
            json!([
                {"name": "scratch", "emptyDir": {}},
                {"name": "host", "hostPath": {"path": "/var/log", "type": ""}},
                {"name": "s", "secret": {"secretName": "s", "defaultMode": 420}},
                {"name": "cm", "configMap": {"name": "cm", "defaultMode": 256}},
                {"name": "d", "downwardAPI": {"defaultMode": 420, "items": [{"path": "labels", "fieldRef": {"fieldPath": "metadata.labels", "apiVersion": "v1"}}]}},
                {"name": "p", "projected": {"defaultMode": 420, "sources": [
                    {"serviceAccountToken": {"path": "token", "expirationSeconds": 3600}},
                    {"downwardAPI": {"items": [{"path": "ns", "fieldRef": {"fieldPath": "metadata.namespace", "apiVersion": "v1"}}]}}
                ]}},
                {"name": "i", "iscsi": {"targetPortal": "10.0.0.1:3260", "iqn": "iqn.x", "lun": 0, "iscsiInterface": "default"}},
                {"name": "r", "rbd": {"monitors": ["m"], "image": "img", "pool": "rbd", "user": "admin", "keyring": "/etc/ceph/keyring"}},
                {"name": "a", "azureDisk": {"diskName": "d", "diskURI": "u", "cachingMode": "ReadWrite", "kind": "Shared", "fsType": "ext4", "readOnly": false}},
                {"name": "sc", "scaleIO": {"gateway": "g", "system": "s", "secretRef": {"name": "x"}, "storageMode": "ThinProvisioned", "fsType": "xfs"}},
                {"name": "eph", "ephemeral": {"volumeClaimTemplate": {"spec": {"accessModes": ["ReadWriteOnce"], "volumeMode": "Filesystem"}}}}
            ])
        );
    }

    #[test]
    fn client_values_are_kept() {
        let pod = defaulted(
            "",
            "v1",
            "pods",
            json!({"spec": {
                "restartPolicy": "Never", "dnsPolicy": "Default", "schedulerName": "mine",
                "terminationGracePeriodSeconds": 0, "securityContext": {"runAsUser": 1000},
                "enableServiceLinks": false, "priorityClassName": "system-node-critical",
                "tolerations": [{"operator": "Exists"}],
                "containers": [{"name": "c", "image": "nginx", "imagePullPolicy": "Never"}]
            }}),
        );
        let spec = &pod["spec"];
        assert_eq!(
            (
                &spec["restartPolicy"],
                &spec["dnsPolicy"],
                &spec["schedulerName"],
                &spec["terminationGracePeriodSeconds"],
                &spec["securityContext"],
                &spec["enableServiceLinks"],
            ),
            (
                &json!("Never"),
                &json!("Default"),
                &json!("mine"),
                &json!(0),
                &json!({"runAsUser": 1000}),
                &json!(false),
            )
        );
        assert_eq!(spec["tolerations"], json!([{"operator": "Exists"}]));
        assert_eq!(spec["containers"][0]["imagePullPolicy"], "Never");
        let custom = defaulted(
            "",
            "v1",
            "pods",
            json!({"spec": {"priorityClassName": "high", "containers": []}}),
        );
        assert!(custom["spec"].get("priority").is_none());
        assert!(custom["spec"].get("preemptionPolicy").is_none());
        // The service account is admission's (ServiceAccount), not defaulting's.
        assert!(custom["spec"].get("serviceAccountName").is_none());
        assert!(custom["spec"].get("serviceAccount").is_none());
        let deprecated = defaulted(
            "",
            "v1",
            "pods",
            json!({"spec": {"serviceAccount": "old", "containers": []}}),
        );
        assert_eq!(deprecated["spec"]["serviceAccountName"], "old");
        let mirror = defaulted(
            "",
            "v1",
            "pods",
            json!({"metadata": {"annotations": {"kubernetes.io/config.mirror": "x"}}, "spec": {"containers": []}}),
        );
        assert!(mirror["spec"].get("serviceAccountName").is_none());
    }
}
