//! Pod specs, as upstream's `pkg/apis/core/validation/validation.go` checks
//! them (`ValidatePodSpec` and what it calls: volumes, containers and init
//! containers, ports, env, volume mounts, resources, probes, lifecycle
//! handlers, restart and DNS policies, tolerations, security context IDs):
//! for pods, for every pod template (`ValidatePodTemplateSpec`, used by the
//! workload and batch kinds) and for PodTemplates; and the rules of a pod
//! update (`ValidatePodUpdate`: only images, `activeDeadlineSeconds`, added
//! tolerations and removed scheduling gates may change).
//!
//! Field paths carry the prefix of the spec they validate
//! (`spec.template.spec.containers[0].image`). Fields that upstream's
//! defaulting fills when empty (protocols, pull and restart policies, probe
//! schemes...) are read as their default when absent or "".

use std::collections::{HashMap, HashSet};

use serde_json::{Value, json};

use super::common::{
    IS_NEGATIVE, annotations, arr_of, config_key_problems, dns_label, dns_subdomain,
    env_var_name_problems, go_string_slice, inclusive_range_error, int_of, labels, nonnegative,
    obj_of, port_name_problems, port_num_or_name, port_num_problems, qualified_name, sorted,
    str_of, subdomain_problems,
};
use super::quantity::Quantity;
use crate::errors::Cause;

/// `PodValidationOptions` that differ between pods and pod templates.
#[derive(Clone, Copy, Debug, Default)]
pub struct PodOpts {
    /// The spec is a Pod's own (not a template's).
    pub resource_is_pod: bool,
}

const FILE_MODE_MSG: &str = "must be a number between 0 and 0777 (octal), both inclusive";
const MAX_INT32: i64 = 2147483647;

/// Validates a Pod (`ValidatePodCreate` without its create-only rules, and
/// `validatePodMetadataAndSpec`'s pod-only checks).
pub fn validate_pod(obj: &Value) -> Vec<Cause> {
    let mut causes = Vec::new();
    let spec = obj.get("spec").unwrap_or(&Value::Null);
    validate_pod_spec(
        spec,
        "spec",
        PodOpts {
            resource_is_pod: true,
        },
        &mut causes,
    );
    if str_of(spec, "serviceAccountName").is_empty() {
        for (vi, v) in arr_of(spec, "volumes").iter().enumerate() {
            if let Some(projected) = v.get("projected") {
                for (si, s) in arr_of(projected, "sources").iter().enumerate() {
                    if s.get("serviceAccountToken").is_some_and(|t| !t.is_null()) {
                        causes.push(Cause::forbidden(
                            format!(
                                "spec.volumes[{vi}].projected.sources[{si}].serviceAccountToken"
                            ),
                            "must not be specified when serviceAccountName is not set",
                        ));
                    }
                }
            }
        }
    }
    for list in ["containers", "initContainers"] {
        for (i, c) in arr_of(spec, list).iter().enumerate() {
            image_whitespace(c, &format!("spec.{list}[{i}].image"), &mut causes);
        }
    }
    causes
}

fn image_whitespace(c: &Value, path: &str, causes: &mut Vec<Cause>) {
    let image = str_of(c, "image");
    if image.trim() != image {
        causes.push(Cause::invalid(
            path,
            &json!(image),
            "must not have leading or trailing whitespace",
        ));
    }
}

/// The fields a pod update may change, as upstream lists them in its message.
const UPDATABLE_POD_SPEC_FIELDS: &[&str] = &[
    "`spec.containers[*].image`",
    "`spec.initContainers[*].image`",
    "`spec.activeDeadlineSeconds`",
    "`spec.tolerations` (only additions to existing tolerations)",
    "`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)",
];

/// `ValidatePodUpdate`'s rules beyond those of a new pod.
///
/// Upstream appends a diff of the old and munged specs (`cmp.Diff`) to the
/// Forbidden message on `spec`; it is left out here, so the message ends
/// with the list of updatable fields.
pub fn validate_pod_update(new: &Value, old: &Value) -> Vec<Cause> {
    let mut causes = Vec::new();
    let null = Value::Null;
    let (ns, os) = (
        new.get("spec").unwrap_or(&null),
        old.get("spec").unwrap_or(&null),
    );
    for list in ["containers", "initContainers"] {
        let (nc, oc) = (arr_of(ns, list), arr_of(os, list));
        if nc.len() != oc.len() {
            causes.push(Cause::forbidden(
                format!("spec.{list}"),
                "pod updates may not add or remove containers",
            ));
            return causes;
        }
        for (i, c) in nc.iter().enumerate() {
            if str_of(c, "image").is_empty() {
                causes.push(Cause::required(format!("spec.{list}[{i}].image")));
            }
            image_whitespace(c, &format!("spec.{list}[{i}].image"), &mut causes);
        }
    }
    let (new_ads, old_ads) = (
        int_of(ns, "activeDeadlineSeconds"),
        int_of(os, "activeDeadlineSeconds"),
    );
    match (new_ads, old_ads) {
        (Some(n), _) if !(0..=MAX_INT32).contains(&n) => {
            causes.push(Cause::invalid(
                "spec.activeDeadlineSeconds",
                &json!(n),
                inclusive_range_error(0, MAX_INT32),
            ));
            return causes;
        }
        (Some(n), Some(o)) if o < n => {
            causes.push(Cause::invalid(
                "spec.activeDeadlineSeconds",
                &json!(n),
                "must be less than or equal to previous value",
            ));
            return causes;
        }
        (None, Some(_)) => causes.push(Cause::invalid(
            "spec.activeDeadlineSeconds",
            &Value::Null,
            "must not update from a positive integer to nil value",
        )),
        _ => {}
    }
    // Only additions to tolerations (tolerationSeconds of existing ones may change).
    let new_tol = arr_of(ns, "tolerations");
    let strip = |t: &Value| {
        let mut t = t.clone();
        if let Some(m) = t.as_object_mut() {
            m.remove("tolerationSeconds");
        }
        t
    };
    let kept = arr_of(os, "tolerations")
        .iter()
        .all(|o| new_tol.iter().any(|n| strip(n) == strip(o)));
    if !kept {
        causes.push(Cause::forbidden(
            "spec.tolerations",
            "existing toleration can not be modified except its tolerationSeconds",
        ));
    } else {
        tolerations(new_tol, "spec.tolerations", &mut causes);
    }
    // Only deletions of scheduling gates.
    let old_gates: HashSet<&str> = arr_of(os, "schedulingGates")
        .iter()
        .map(|g| str_of(g, "name"))
        .collect();
    for (i, g) in arr_of(ns, "schedulingGates").iter().enumerate() {
        let name = str_of(g, "name");
        if !old_gates.contains(name) {
            causes.push(Cause::forbidden(
                format!("spec.schedulingGates[{i}].name"),
                format!("only deletion is allowed, but found new scheduling gate '{name}'"),
            ));
        }
    }
    if ns == os {
        return causes;
    }
    // Munge what may change to its old value; anything else left is forbidden.
    let mut munged = ns.clone();
    for list in ["containers", "initContainers"] {
        if let Some(cs) = munged.get_mut(list).and_then(Value::as_array_mut) {
            for (i, c) in cs.iter_mut().enumerate() {
                if let Some(m) = c.as_object_mut() {
                    match arr_of(os, list)[i].get("image") {
                        Some(img) => m.insert("image".into(), img.clone()),
                        None => m.remove("image"),
                    };
                }
            }
        }
    }
    if let Some(m) = munged.as_object_mut() {
        for field in ["activeDeadlineSeconds", "schedulingGates", "tolerations"] {
            match os.get(field) {
                Some(v) => m.insert(field.into(), v.clone()),
                None => m.remove(field),
            };
        }
        if int_of(os, "terminationGracePeriodSeconds").is_some_and(|g| g < 0)
            && int_of(ns, "terminationGracePeriodSeconds") == Some(1)
        {
            m.insert(
                "terminationGracePeriodSeconds".into(),
                os["terminationGracePeriodSeconds"].clone(),
            );
        }
    }
    if munged != *os {
        causes.push(Cause::forbidden(
            "spec",
            format!(
                "pod updates may not change fields other than {}",
                UPDATABLE_POD_SPEC_FIELDS.join(",")
            ),
        ));
    }
    causes
}

/// Validates a PodTemplate (`ValidatePodTemplate`).
pub fn validate_pod_template(obj: &Value) -> Vec<Cause> {
    let mut causes = Vec::new();
    validate_pod_template_spec(obj.get("template"), "template", &mut causes);
    causes
}

/// `ValidatePodTemplateSpec`: the template's labels and annotations (at
/// `<path>.labels` and `<path>.annotations`, as upstream names them) and its spec.
pub fn validate_pod_template_spec(t: Option<&Value>, path: &str, causes: &mut Vec<Cause>) {
    let null = Value::Null;
    let t = t.unwrap_or(&null);
    let meta = t.get("metadata").unwrap_or(&null);
    labels(meta.get("labels"), &format!("{path}.labels"), causes);
    annotations(
        meta.get("annotations"),
        &format!("{path}.annotations"),
        causes,
    );
    let spec = t.get("spec").unwrap_or(&null);
    validate_pod_spec(spec, &format!("{path}.spec"), PodOpts::default(), causes);
    if !arr_of(spec, "ephemeralContainers").is_empty() {
        causes.push(Cause::forbidden(
            format!("{path}.spec.ephemeralContainers"),
            "ephemeral containers not allowed in pod template",
        ));
    }
}

/// `ValidatePodSpec`.
pub fn validate_pod_spec(spec: &Value, path: &str, opts: PodOpts, causes: &mut Vec<Cause>) {
    if int_of(spec, "terminationGracePeriodSeconds").is_none() {
        causes.push(Cause::required(format!(
            "{path}.terminationGracePeriodSeconds"
        )));
    }
    let grace = int_of(spec, "terminationGracePeriodSeconds");
    let vols = volumes(arr_of(spec, "volumes"), &format!("{path}.volumes"), causes);
    containers(spec, &vols, grace, path, causes);
    init_containers(spec, &vols, grace, path, causes);
    host_network_deps(spec, path, opts, causes);
    match spec
        .get("restartPolicy")
        .and_then(Value::as_str)
        .unwrap_or("")
    {
        "" | "Always" | "OnFailure" | "Never" => {}
        other => causes.push(Cause::not_supported(
            format!("{path}.restartPolicy"),
            &json!(other),
            &["Always", "OnFailure", "Never"],
        )),
    }
    let dns_policy = str_of(spec, "dnsPolicy");
    match dns_policy {
        "" | "ClusterFirstWithHostNet" | "ClusterFirst" | "Default" | "None" => {}
        other => causes.push(Cause::not_supported(
            format!("{path}.dnsPolicy"),
            &json!(other),
            &["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"],
        )),
    }
    labels(
        spec.get("nodeSelector"),
        &format!("{path}.nodeSelector"),
        causes,
    );
    security_context(
        spec.get("securityContext"),
        &format!("{path}.securityContext"),
        causes,
    );
    dns_config(spec, dns_policy, path, causes);
    for (i, g) in arr_of(spec, "readinessGates").iter().enumerate() {
        qualified_name(
            str_of(g, "conditionType"),
            &format!("{path}.readinessGates[{i}].conditionType"),
            causes,
        );
    }
    let mut gates = HashSet::new();
    for (i, g) in arr_of(spec, "schedulingGates").iter().enumerate() {
        let name = str_of(g, "name");
        qualified_name(name, &format!("{path}.schedulingGates[{i}]"), causes);
        if !gates.insert(name) {
            causes.push(Cause::duplicate(
                format!("{path}.schedulingGates[{i}]"),
                &json!(name),
            ));
        }
    }
    let sa = str_of(spec, "serviceAccountName");
    if !sa.is_empty() {
        dns_subdomain(sa, &format!("{path}.serviceAccountName"), causes);
    }
    let node = str_of(spec, "nodeName");
    if !node.is_empty() {
        dns_subdomain(node, &format!("{path}.nodeName"), causes);
    }
    if let Some(ads) = int_of(spec, "activeDeadlineSeconds")
        && !(1..=MAX_INT32).contains(&ads)
    {
        causes.push(Cause::invalid(
            format!("{path}.activeDeadlineSeconds"),
            &json!(ads),
            inclusive_range_error(1, MAX_INT32),
        ));
    }
    for field in ["hostname", "subdomain"] {
        let v = str_of(spec, field);
        if !v.is_empty() {
            dns_label(v, &format!("{path}.{field}"), causes);
        }
    }
    tolerations(
        arr_of(spec, "tolerations"),
        &format!("{path}.tolerations"),
        causes,
    );
    let pc = str_of(spec, "priorityClassName");
    if !pc.is_empty() {
        dns_subdomain(pc, &format!("{path}.priorityClassName"), causes);
    }
    if let Some(rc) = spec.get("runtimeClassName").and_then(Value::as_str) {
        for p in subdomain_problems(rc) {
            causes.push(Cause::invalid(
                format!("{path}.runtimeClassName"),
                &json!(rc),
                p,
            ));
        }
    }
    if let Some(pp) = spec.get("preemptionPolicy").and_then(Value::as_str) {
        match pp {
            "PreemptLowerPriority" | "Never" => {}
            "" => causes.push(Cause::required(format!("{path}.preemptionPolicy"))),
            other => causes.push(Cause::not_supported(
                format!("{path}.preemptionPolicy"),
                &json!(other),
                &["PreemptLowerPriority", "Never"],
            )),
        }
    }
}

/// `validateVolumeSource`'s volume types, in upstream's order, with the
/// child name its "more than 1 volume type" error uses.
const VOLUME_TYPES: &[(&str, &str)] = &[
    ("emptyDir", "emptyDir"),
    ("hostPath", "hostPath"),
    ("gitRepo", "gitRepo"),
    ("gcePersistentDisk", "gcePersistentDisk"),
    ("awsElasticBlockStore", "awsElasticBlockStore"),
    ("secret", "secret"),
    ("nfs", "nfs"),
    ("iscsi", "iscsi"),
    ("glusterfs", "glusterfs"),
    ("flocker", "flocker"),
    ("persistentVolumeClaim", "persistentVolumeClaim"),
    ("rbd", "rbd"),
    ("cinder", "cinder"),
    ("cephfs", "cephFS"),
    ("quobyte", "quobyte"),
    ("downwardAPI", "downwarAPI"),
    ("fc", "fc"),
    ("flexVolume", "flexVolume"),
    ("configMap", "configMap"),
    ("azureFile", "azureFile"),
    ("vsphereVolume", "vsphereVolume"),
    ("photonPersistentDisk", "photonPersistentDisk"),
    ("portworxVolume", "portworxVolume"),
    ("azureDisk", "azureDisk"),
    ("storageos", "storageos"),
    ("projected", "projected"),
    ("scaleIO", "scaleIO"),
    ("csi", "csi"),
    ("ephemeral", "ephemeral"),
    ("image", "image"),
];

/// `ValidateVolumes`: returns the volumes that validated, by name, with
/// whether they are claim-backed (for volume devices).
fn volumes(list: &[Value], path: &str, causes: &mut Vec<Cause>) -> HashMap<String, bool> {
    let mut ok = HashMap::new();
    for (i, vol) in list.iter().enumerate() {
        let idx = format!("{path}[{i}]");
        let mut el = Vec::new();
        volume_source(vol, &idx, &mut el);
        let name = str_of(vol, "name");
        if name.is_empty() {
            el.push(Cause::required(format!("{idx}.name")));
        } else {
            dns_label(name, &format!("{idx}.name"), &mut el);
        }
        if ok.contains_key(name) {
            el.push(Cause::duplicate(format!("{idx}.name"), &json!(name)));
        }
        if el.is_empty() {
            let claim = vol
                .get("persistentVolumeClaim")
                .is_some_and(|v| !v.is_null())
                || vol.get("ephemeral").is_some_and(|v| !v.is_null());
            ok.insert(name.to_string(), claim);
        } else {
            causes.extend(el);
        }
    }
    ok
}

fn file_mode(v: &Value, key: &str, path: &str, causes: &mut Vec<Cause>) {
    if let Some(m) = int_of(v, key)
        && !(0..=0o777).contains(&m)
    {
        causes.push(Cause::invalid(
            format!("{path}.{key}"),
            &json!(m),
            FILE_MODE_MSG,
        ));
    }
}

fn key_to_paths(src: &Value, path: &str, causes: &mut Vec<Cause>) {
    for (i, kp) in arr_of(src, "items").iter().enumerate() {
        let p = format!("{path}.items[{i}]");
        if str_of(kp, "key").is_empty() {
            causes.push(Cause::required(format!("{p}.key")));
        }
        if str_of(kp, "path").is_empty() {
            causes.push(Cause::required(format!("{p}.path")));
        }
        file_mode(kp, "mode", &p, causes);
    }
}

fn volume_source(vol: &Value, idx: &str, causes: &mut Vec<Cause>) {
    let mut n = 0;
    for (key, child) in VOLUME_TYPES {
        let Some(src) = vol.get(*key).filter(|s| !s.is_null()) else {
            continue;
        };
        if n > 0 {
            causes.push(Cause::forbidden(
                format!("{idx}.{child}"),
                "may not specify more than 1 volume type",
            ));
            continue;
        }
        n += 1;
        let p = format!("{idx}.{key}");
        let required = |field: &str, causes: &mut Vec<Cause>| {
            if str_of(src, field).is_empty() {
                causes.push(Cause::required(format!("{p}.{field}")));
            }
        };
        match *key {
            "emptyDir" => {
                if let Some(limit) = src.get("sizeLimit")
                    && Quantity::from_json(limit).is_ok_and(|q| q.is_negative())
                {
                    causes.push(Cause::forbidden(
                        format!("{p}.sizeLimit"),
                        "SizeLimit field must be a valid resource quantity",
                    ));
                }
            }
            "hostPath" => required("path", causes),
            "secret" => {
                required("secretName", causes);
                file_mode(src, "defaultMode", &p, causes);
                key_to_paths(src, &p, causes);
            }
            "configMap" => {
                required("name", causes);
                file_mode(src, "defaultMode", &p, causes);
                key_to_paths(src, &p, causes);
            }
            "persistentVolumeClaim" => required("claimName", causes),
            "nfs" => {
                required("server", causes);
                required("path", causes);
                let np = str_of(src, "path");
                if !np.starts_with('/') {
                    causes.push(Cause::invalid(
                        format!("{p}.path"),
                        &json!(np),
                        "must be an absolute path",
                    ));
                }
            }
            "downwardAPI" | "projected" => file_mode(src, "defaultMode", &p, causes),
            "csi" => {
                let driver = str_of(src, "driver");
                if driver.is_empty() {
                    causes.push(Cause::required(format!("{p}.driver")));
                }
                if driver.len() > 63 {
                    causes.push(Cause::too_long(format!("{p}.driver"), 63));
                }
                for msg in subdomain_problems(&driver.to_lowercase()) {
                    causes.push(Cause::invalid(format!("{p}.driver"), &json!(driver), msg));
                }
            }
            "ephemeral" if src.get("volumeClaimTemplate").is_none_or(Value::is_null) => {
                causes.push(Cause::required(format!("{p}.volumeClaimTemplate")));
            }
            _ => {}
        }
    }
    if n == 0 {
        causes.push(Cause::required_because(idx, "must specify a volume type"));
    }
}

/// `validateContainers`.
fn containers(
    spec: &Value,
    vols: &HashMap<String, bool>,
    grace: Option<i64>,
    path: &str,
    causes: &mut Vec<Cause>,
) {
    let list = arr_of(spec, "containers");
    let fld = format!("{path}.containers");
    if list.is_empty() {
        causes.push(Cause::required(fld));
        return;
    }
    let mut names = HashSet::new();
    for (i, c) in list.iter().enumerate() {
        let p = format!("{fld}[{i}]");
        container_common(c, vols, &p, causes);
        let name = str_of(c, "name");
        if !names.insert(name) {
            causes.push(Cause::duplicate(format!("{p}.name"), &json!(name)));
        }
        if let Some(l) = c.get("lifecycle").filter(|l| !l.is_null()) {
            lifecycle(l, grace, &format!("{p}.lifecycle"), causes);
        }
        probes(c, &p, causes);
        if c.get("restartPolicy").is_some_and(|r| !r.is_null()) {
            causes.push(Cause::forbidden(
                format!("{p}.restartPolicy"),
                "may not be set for non-init containers",
            ));
        }
    }
    host_port_conflicts(list, &fld, causes);
}

/// `validateInitContainers`.
fn init_containers(
    spec: &Value,
    vols: &HashMap<String, bool>,
    grace: Option<i64>,
    path: &str,
    causes: &mut Vec<Cause>,
) {
    let fld = format!("{path}.initContainers");
    let mut names: HashSet<&str> = arr_of(spec, "containers")
        .iter()
        .map(|c| str_of(c, "name"))
        .collect();
    for (i, c) in arr_of(spec, "initContainers").iter().enumerate() {
        let p = format!("{fld}[{i}]");
        container_common(c, vols, &p, causes);
        let mut restart_always = false;
        if let Some(rp) = c.get("restartPolicy").and_then(Value::as_str) {
            if rp != "Always" {
                causes.push(Cause::not_supported(
                    format!("{p}.restartPolicy"),
                    &json!(rp),
                    &["Always"],
                ));
            }
            restart_always = rp == "Always";
        }
        let name = str_of(c, "name");
        if names.contains(name) {
            causes.push(Cause::duplicate(format!("{p}.name"), &json!(name)));
        } else if !name.is_empty() {
            names.insert(name);
        }
        // Init containers run one by one: conflicts within each (at index 0,
        // as upstream passes a one-container list).
        host_port_conflicts(std::slice::from_ref(c), &fld, causes);
        if restart_always {
            if let Some(l) = c.get("lifecycle").filter(|l| !l.is_null()) {
                lifecycle(l, grace, &format!("{p}.lifecycle"), causes);
            }
            probes(c, &p, causes);
        } else {
            for f in [
                "lifecycle",
                "livenessProbe",
                "readinessProbe",
                "startupProbe",
            ] {
                if c.get(f).is_some_and(|v| !v.is_null()) {
                    causes.push(Cause::forbidden(
                        format!("{p}.{f}"),
                        "may not be set for init containers without restartPolicy=Always",
                    ));
                }
            }
        }
    }
}

/// `validateContainerCommon`.
fn container_common(c: &Value, vols: &HashMap<String, bool>, p: &str, causes: &mut Vec<Cause>) {
    let name = str_of(c, "name");
    if name.is_empty() {
        causes.push(Cause::required(format!("{p}.name")));
    } else {
        dns_label(name, &format!("{p}.name"), causes);
    }
    if str_of(c, "image").is_empty() {
        causes.push(Cause::required(format!("{p}.image")));
    }
    match str_of(c, "terminationMessagePolicy") {
        "" | "File" | "FallbackToLogsOnError" => {}
        other => causes.push(Cause::not_supported(
            format!("{p}.terminationMessagePolicy"),
            &json!(other),
            &["File", "FallbackToLogsOnError"],
        )),
    }
    ports(arr_of(c, "ports"), &format!("{p}.ports"), causes);
    env(arr_of(c, "env"), &format!("{p}.env"), causes);
    env_from(arr_of(c, "envFrom"), &format!("{p}.envFrom"), causes);
    volume_mounts(c, vols, &format!("{p}.volumeMounts"), causes);
    match str_of(c, "imagePullPolicy") {
        "" | "Always" | "IfNotPresent" | "Never" => {}
        other => causes.push(Cause::not_supported(
            format!("{p}.imagePullPolicy"),
            &json!(other),
            &["Always", "IfNotPresent", "Never"],
        )),
    }
    resources(c.get("resources"), &format!("{p}.resources"), causes);
}

/// `validateContainerPorts`.
fn ports(list: &[Value], path: &str, causes: &mut Vec<Cause>) {
    let mut names = HashSet::new();
    for (i, port) in list.iter().enumerate() {
        let idx = format!("{path}[{i}]");
        let name = str_of(port, "name");
        if !name.is_empty() {
            let problems = port_name_problems(name);
            if !problems.is_empty() {
                for msg in problems {
                    causes.push(Cause::invalid(format!("{idx}.name"), &json!(name), msg));
                }
            } else if !names.insert(name) {
                causes.push(Cause::duplicate(format!("{idx}.name"), &json!(name)));
            }
        }
        let cp = int_of(port, "containerPort").unwrap_or(0);
        if cp == 0 {
            causes.push(Cause::required(format!("{idx}.containerPort")));
        } else {
            for msg in port_num_problems(cp) {
                causes.push(Cause::invalid(
                    format!("{idx}.containerPort"),
                    &json!(cp),
                    msg,
                ));
            }
        }
        let hp = int_of(port, "hostPort").unwrap_or(0);
        if hp != 0 {
            for msg in port_num_problems(hp) {
                causes.push(Cause::invalid(format!("{idx}.hostPort"), &json!(hp), msg));
            }
        }
        protocol(port, &format!("{idx}.protocol"), causes);
    }
}

/// A port's protocol: TCP when unset (upstream defaults it).
pub(crate) fn protocol(port: &Value, path: &str, causes: &mut Vec<Cause>) {
    match str_of(port, "protocol") {
        "" | "TCP" | "UDP" | "SCTP" => {}
        other => causes.push(Cause::not_supported(
            path,
            &json!(other),
            &["SCTP", "TCP", "UDP"],
        )),
    }
}

fn host_port_conflicts(list: &[Value], fld: &str, causes: &mut Vec<Cause>) {
    let mut seen = HashSet::new();
    for (ci, c) in list.iter().enumerate() {
        for (pi, port) in arr_of(c, "ports").iter().enumerate() {
            let hp = int_of(port, "hostPort").unwrap_or(0);
            if hp == 0 {
                continue;
            }
            let proto = match str_of(port, "protocol") {
                "" => "TCP",
                p => p,
            };
            let key = format!("{proto}/{}/{hp}", str_of(port, "hostIP"));
            if !seen.insert(key.clone()) {
                causes.push(Cause::duplicate(
                    format!("{fld}[{ci}].ports[{pi}].hostPort"),
                    &json!(key),
                ));
            }
        }
    }
}

/// `validatePodHostNetworkDeps`.
fn host_network_deps(spec: &Value, path: &str, opts: PodOpts, causes: &mut Vec<Cause>) {
    if spec.get("hostNetwork").and_then(Value::as_bool) != Some(true) {
        return;
    }
    for (i, c) in arr_of(spec, "containers").iter().enumerate() {
        for (j, port) in arr_of(c, "ports").iter().enumerate() {
            let hp = int_of(port, "hostPort").unwrap_or(0);
            let cp = int_of(port, "containerPort").unwrap_or(0);
            if (opts.resource_is_pod || hp != 0) && hp != cp {
                causes.push(Cause::invalid(
                    format!("{path}.containers[{i}].ports[{j}].hostPort"),
                    &json!(hp),
                    "must match `containerPort` when `hostNetwork` is true",
                ));
            }
        }
    }
}

const ENV_FIELD_PATHS: &[&str] = &[
    "metadata.name",
    "metadata.namespace",
    "metadata.uid",
    "spec.nodeName",
    "spec.serviceAccountName",
    "status.hostIP",
    "status.hostIPs",
    "status.podIP",
    "status.podIPs",
];

const RESOURCE_FIELD_PATHS: &[&str] = &[
    "limits.cpu",
    "limits.ephemeral-storage",
    "limits.memory",
    "requests.cpu",
    "requests.ephemeral-storage",
    "requests.memory",
];

/// `ValidateEnv`.
fn env(list: &[Value], path: &str, causes: &mut Vec<Cause>) {
    for (i, ev) in list.iter().enumerate() {
        let idx = format!("{path}[{i}]");
        let name = str_of(ev, "name");
        if name.is_empty() {
            causes.push(Cause::required(format!("{idx}.name")));
        } else {
            for msg in env_var_name_problems(name) {
                causes.push(Cause::invalid(format!("{idx}.name"), &json!(name), msg));
            }
        }
        let Some(from) = ev.get("valueFrom").filter(|v| !v.is_null()) else {
            continue;
        };
        let fp = format!("{idx}.valueFrom");
        let mut n = 0;
        if let Some(fr) = from.get("fieldRef").filter(|v| !v.is_null()) {
            n += 1;
            field_ref(fr, &format!("{fp}.fieldRef"), causes);
        }
        if let Some(rr) = from.get("resourceFieldRef").filter(|v| !v.is_null()) {
            n += 1;
            let rp = format!("{fp}.resourceFieldRef");
            let res = str_of(rr, "resource");
            if res.is_empty() {
                causes.push(Cause::required(format!("{rp}.resource")));
            } else if !RESOURCE_FIELD_PATHS.contains(&res)
                && !res.starts_with("requests.hugepages-")
                && !res.starts_with("limits.hugepages-")
            {
                causes.push(Cause::not_supported(
                    format!("{rp}.resource"),
                    &json!(res),
                    RESOURCE_FIELD_PATHS,
                ));
            }
        }
        for key in ["configMapKeyRef", "secretKeyRef"] {
            if let Some(r) = from.get(key).filter(|v| !v.is_null()) {
                n += 1;
                let rp = format!("{fp}.{key}");
                let name = str_of(r, "name");
                for msg in subdomain_problems(name) {
                    causes.push(Cause::invalid(format!("{rp}.name"), &json!(name), msg));
                }
                let k = str_of(r, "key");
                if k.is_empty() {
                    causes.push(Cause::required(format!("{rp}.key")));
                } else {
                    for msg in config_key_problems(k) {
                        causes.push(Cause::invalid(format!("{rp}.key"), &json!(k), msg));
                    }
                }
            }
        }
        if n == 0 {
            causes.push(Cause::invalid(
                &fp,
                &json!(""),
                "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`",
            ));
        } else if !str_of(ev, "value").is_empty() {
            causes.push(Cause::invalid(
                &fp,
                &json!(""),
                "may not be specified when `value` is not empty",
            ));
        } else if n > 1 {
            causes.push(Cause::invalid(
                &fp,
                &json!(""),
                "may not have more than one field specified at a time",
            ));
        }
    }
}

/// `validateObjectFieldSelector` for env (with `ConvertDownwardAPIFieldLabel`).
fn field_ref(fr: &Value, path: &str, causes: &mut Vec<Cause>) {
    let version = str_of(fr, "apiVersion");
    if version.is_empty() {
        causes.push(Cause::required(format!("{path}.apiVersion")));
        return;
    }
    let fp = str_of(fr, "fieldPath");
    if fp.is_empty() {
        causes.push(Cause::required(format!("{path}.fieldPath")));
        return;
    }
    let subscripted = fp
        .strip_suffix("']")
        .and_then(|s| s.split_once("['"))
        .filter(|(p, _)| !p.is_empty());
    let converted = if version != "v1" {
        Err(format!("unsupported pod version: {version}"))
    } else if let Some((p, _)) = subscripted {
        match p {
            "metadata.annotations" | "metadata.labels" => Ok(fp.to_string()),
            _ => Err(format!("field label does not support subscript: {fp}")),
        }
    } else {
        match fp {
            "metadata.annotations"
            | "metadata.labels"
            | "metadata.name"
            | "metadata.namespace"
            | "metadata.uid"
            | "spec.nodeName"
            | "spec.restartPolicy"
            | "spec.serviceAccountName"
            | "spec.schedulerName"
            | "status.phase"
            | "status.hostIP"
            | "status.hostIPs"
            | "status.podIP"
            | "status.podIPs" => Ok(fp.to_string()),
            "spec.host" => Ok("spec.nodeName".to_string()),
            _ => Err(format!("field label not supported: {fp}")),
        }
    };
    let internal = match converted {
        Ok(p) => p,
        Err(e) => {
            causes.push(Cause::invalid(
                format!("{path}.fieldPath"),
                &json!(fp),
                format!("error converting fieldPath: {e}"),
            ));
            return;
        }
    };
    if let Some((p, sub)) = subscripted {
        match p {
            "metadata.annotations" => qualified_name(&sub.to_lowercase(), path, causes),
            _ => qualified_name(sub, path, causes),
        }
    } else if !ENV_FIELD_PATHS.contains(&internal.as_str()) {
        causes.push(Cause::not_supported(
            format!("{path}.fieldPath"),
            &json!(internal),
            ENV_FIELD_PATHS,
        ));
    }
}

/// `ValidateEnvFrom`.
fn env_from(list: &[Value], path: &str, causes: &mut Vec<Cause>) {
    for (i, ev) in list.iter().enumerate() {
        let idx = format!("{path}[{i}]");
        let prefix = str_of(ev, "prefix");
        if !prefix.is_empty() {
            for msg in env_var_name_problems(prefix) {
                causes.push(Cause::invalid(format!("{idx}.prefix"), &json!(prefix), msg));
            }
        }
        let mut n = 0;
        for key in ["configMapRef", "secretRef"] {
            if let Some(r) = ev.get(key).filter(|v| !v.is_null()) {
                n += 1;
                let name = str_of(r, "name");
                if name.is_empty() {
                    causes.push(Cause::required(format!("{idx}.{key}.name")));
                } else {
                    dns_subdomain(name, &format!("{idx}.{key}.name"), causes);
                }
            }
        }
        if n == 0 {
            causes.push(Cause::invalid(
                path,
                &json!(""),
                "must specify one of: `configMapRef` or `secretRef`",
            ));
        } else if n > 1 {
            causes.push(Cause::invalid(
                path,
                &json!(""),
                "may not have more than one field specified at a time",
            ));
        }
    }
}

/// `ValidateVolumeMounts` (and the name checks of `ValidateVolumeDevices`).
fn volume_mounts(c: &Value, vols: &HashMap<String, bool>, path: &str, causes: &mut Vec<Cause>) {
    let devices: HashMap<&str, &str> = arr_of(c, "volumeDevices")
        .iter()
        .map(|d| (str_of(d, "name"), str_of(d, "devicePath")))
        .collect();
    let mut mount_points = HashSet::new();
    for (i, m) in arr_of(c, "volumeMounts").iter().enumerate() {
        let idx = format!("{path}[{i}]");
        let name = str_of(m, "name");
        if name.is_empty() {
            causes.push(Cause::required(format!("{idx}.name")));
        }
        if !vols.contains_key(name) {
            causes.push(Cause::not_found(format!("{idx}.name"), &json!(name)));
        }
        let mp = str_of(m, "mountPath");
        if mp.is_empty() {
            causes.push(Cause::required(format!("{idx}.mountPath")));
        }
        if !mount_points.insert(mp) {
            causes.push(Cause::invalid(
                format!("{idx}.mountPath"),
                &json!(mp),
                "must be unique",
            ));
        }
        if devices.contains_key(name) {
            causes.push(Cause::invalid(
                format!("{idx}.name"),
                &json!(name),
                "must not already exist in volumeDevices",
            ));
        }
        if devices.values().any(|p| *p == mp) {
            causes.push(Cause::invalid(
                format!("{idx}.mountPath"),
                &json!(mp),
                "must not already exist as a path in volumeDevices",
            ));
        }
        let (sub, expr) = (str_of(m, "subPath"), str_of(m, "subPathExpr"));
        if !sub.is_empty() && !expr.is_empty() {
            causes.push(Cause::invalid(
                format!("{idx}.subPathExpr"),
                &json!(expr),
                "subPathExpr and subPath are mutually exclusive",
            ));
        }
    }
    let dev_path = path.replace("volumeMounts", "volumeDevices");
    for (i, d) in arr_of(c, "volumeDevices").iter().enumerate() {
        let idx = format!("{dev_path}[{i}]");
        let name = str_of(d, "name");
        if name.is_empty() {
            causes.push(Cause::required(format!("{idx}.name")));
        }
        match vols.get(name) {
            Some(false) => causes.push(Cause::invalid(
                format!("{idx}.name"),
                &json!(name),
                "can only use volume source type of PersistentVolumeClaim or Ephemeral for block mode",
            )),
            None => causes.push(Cause::not_found(format!("{idx}.name"), &json!(name))),
            Some(true) => {}
        }
        if str_of(d, "devicePath").is_empty() {
            causes.push(Cause::required(format!("{idx}.devicePath")));
        }
    }
}

// --- resources ------------------------------------------------------------

const STANDARD_RESOURCES: &[&str] = &[
    "cpu",
    "memory",
    "ephemeral-storage",
    "requests.cpu",
    "requests.memory",
    "requests.ephemeral-storage",
    "limits.cpu",
    "limits.memory",
    "limits.ephemeral-storage",
    "pods",
    "resourcequotas",
    "services",
    "replicationcontrollers",
    "secrets",
    "configmaps",
    "persistentvolumeclaims",
    "storage",
    "requests.storage",
    "services.nodeports",
    "services.loadbalancers",
];

const INTEGER_RESOURCES: &[&str] = &[
    "pods",
    "resourcequotas",
    "services",
    "replicationcontrollers",
    "secrets",
    "configmaps",
    "persistentvolumeclaims",
    "services.nodeports",
    "services.loadbalancers",
];

fn is_huge_pages(name: &str) -> bool {
    name.starts_with("hugepages-")
}

fn is_native(name: &str) -> bool {
    !name.contains('/') || name.contains("kubernetes.io/")
}

fn is_extended(name: &str) -> bool {
    !is_native(name)
        && !name.starts_with("requests.")
        && super::qualified_name_problems(&format!("requests.{name}")).is_empty()
}

fn overcommit_allowed(name: &str) -> bool {
    is_native(name) && !is_huge_pages(name)
}

/// `validateContainerResourceName`.
fn resource_name(name: &str, path: &str, causes: &mut Vec<Cause>) {
    let problems = super::qualified_name_problems(name);
    if !problems.is_empty() {
        for msg in problems {
            causes.push(Cause::invalid(path, &json!(name), msg));
        }
    } else if !name.contains('/')
        && !STANDARD_RESOURCES.contains(&name)
        && !is_huge_pages(name)
        && !name.starts_with("requests.hugepages-")
        && !name.starts_with("limits.hugepages-")
    {
        causes.push(Cause::invalid(
            path,
            &json!(name),
            "must be a standard resource type or fully qualified",
        ));
    }
    if !name.contains('/') {
        if !matches!(name, "cpu" | "memory" | "ephemeral-storage") && !is_huge_pages(name) {
            causes.push(Cause::invalid(
                path,
                &json!(name),
                "must be a standard resource for containers",
            ));
        }
    } else if !is_native(name) && !is_extended(name) {
        causes.push(Cause::invalid(
            path,
            &json!(name),
            "doesn't follow extended resource name standard",
        ));
    }
}

/// One quantity of a resource list: name, parse and value checks.
/// Returns the parsed quantity.
fn resource_quantity(
    name: &str,
    v: &Value,
    path: &str,
    causes: &mut Vec<Cause>,
) -> Option<Quantity> {
    resource_name(name, path, causes);
    // Upstream rejects a malformed quantity while decoding the body (a 400
    // "... cannot be handled as a Pod: <this message>"); here it is a cause.
    let q = match Quantity::from_json(v) {
        Ok(q) => q,
        Err(msg) => {
            causes.push(Cause::invalid(path, v, msg));
            return None;
        }
    };
    if q.is_negative() {
        causes.push(Cause::invalid(path, &json!(q.canonical()), IS_NEGATIVE));
    }
    let integer = INTEGER_RESOURCES.contains(&name) || is_extended(name);
    if integer && !q.is_integer() {
        // A Quantity prints through its String method: unquoted.
        causes.push(Cause::invalid_rendered(
            path,
            q.canonical(),
            "must be an integer",
        ));
    }
    Some(q)
}

/// `ValidateContainerResourceRequirements` (claims left out).
fn resources(res: Option<&Value>, path: &str, causes: &mut Vec<Cause>) {
    let Some(res) = res.filter(|r| r.is_object()) else {
        return;
    };
    let (lim_path, req_path) = (format!("{path}.limits"), format!("{path}.requests"));
    let mut limits = HashMap::new();
    let (mut lim_cpu_mem, mut req_cpu_mem, mut huge) = (false, false, false);
    if let Some(m) = obj_of(res, "limits") {
        for (name, v) in sorted(m) {
            if let Some(q) = resource_quantity(name, v, &format!("{lim_path}[{name}]"), causes) {
                limits.insert(name.as_str(), q);
            }
            huge |= is_huge_pages(name);
            lim_cpu_mem |= matches!(name.as_str(), "cpu" | "memory");
        }
    }
    if let Some(m) = obj_of(res, "requests") {
        for (name, v) in sorted(m) {
            let q = resource_quantity(name, v, &format!("{req_path}[{name}]"), causes);
            match (q, limits.get(name.as_str())) {
                (Some(q), Some(limit)) => {
                    let ord = q.compare(limit);
                    if ord.is_some_and(|o| o.is_ne()) && !overcommit_allowed(name) {
                        causes.push(Cause::invalid(
                            &req_path,
                            &json!(q.canonical()),
                            format!("must be equal to {name} limit of {}", limit.canonical()),
                        ));
                    } else if ord.is_some_and(|o| o.is_gt()) {
                        causes.push(Cause::invalid(
                            &req_path,
                            &json!(q.canonical()),
                            format!(
                                "must be less than or equal to {name} limit of {}",
                                limit.canonical()
                            ),
                        ));
                    }
                }
                (_, None) if !overcommit_allowed(name) => {
                    causes.push(Cause::required_because(
                        &lim_path,
                        "Limit must be set for non overcommitable resources",
                    ));
                }
                _ => {}
            }
            huge |= is_huge_pages(name);
            req_cpu_mem |= matches!(name.as_str(), "cpu" | "memory");
        }
    }
    if !lim_cpu_mem && !req_cpu_mem && huge {
        causes.push(Cause::forbidden(path, "HugePages require cpu or memory"));
    }
}

// --- probes and handlers ----------------------------------------------------

fn probes(c: &Value, p: &str, causes: &mut Vec<Cause>) {
    for kind in ["livenessProbe", "readinessProbe", "startupProbe"] {
        let Some(probe) = c.get(kind).filter(|v| !v.is_null()) else {
            continue;
        };
        let pp = format!("{p}.{kind}");
        handler(
            probe,
            &["exec", "httpGet", "tcpSocket", "grpc"],
            None,
            &pp,
            causes,
        );
        for f in [
            "initialDelaySeconds",
            "timeoutSeconds",
            "periodSeconds",
            "successThreshold",
            "failureThreshold",
        ] {
            nonnegative(int_of(probe, f), &format!("{pp}.{f}"), causes);
        }
        let tgps = int_of(probe, "terminationGracePeriodSeconds");
        if let Some(t) = tgps
            && t <= 0
        {
            causes.push(Cause::invalid(
                format!("{pp}.terminationGracePeriodSeconds"),
                &json!(t),
                "must be greater than 0",
            ));
        }
        match kind {
            "readinessProbe" => {
                if let Some(t) = tgps {
                    causes.push(Cause::invalid(
                        format!("{pp}.terminationGracePeriodSeconds"),
                        &json!(t),
                        "must not be set for readinessProbes",
                    ));
                }
            }
            _ => {
                let st = int_of(probe, "successThreshold").unwrap_or(0);
                if st != 1 {
                    causes.push(Cause::invalid(
                        format!("{pp}.successThreshold"),
                        &json!(st),
                        "must be 1",
                    ));
                }
            }
        }
    }
}

fn lifecycle(l: &Value, grace: Option<i64>, path: &str, causes: &mut Vec<Cause>) {
    for hook in ["postStart", "preStop"] {
        if let Some(h) = l.get(hook).filter(|v| !v.is_null()) {
            handler(
                h,
                &["exec", "httpGet", "tcpSocket", "sleep"],
                grace,
                &format!("{path}.{hook}"),
                causes,
            );
        }
    }
}

/// `validateHandler`: exactly one handler type, each checked.
fn handler(h: &Value, kinds: &[&str], grace: Option<i64>, path: &str, causes: &mut Vec<Cause>) {
    let mut n = 0;
    for kind in kinds {
        let Some(a) = h.get(*kind).filter(|v| !v.is_null()) else {
            continue;
        };
        let ap = format!("{path}.{kind}");
        if n > 0 {
            causes.push(Cause::forbidden(
                ap,
                "may not specify more than 1 handler type",
            ));
            continue;
        }
        n += 1;
        match *kind {
            "exec" if arr_of(a, "command").is_empty() => {
                causes.push(Cause::required(format!("{ap}.command")));
            }
            "httpGet" => {
                if str_of(a, "path").is_empty() {
                    causes.push(Cause::required(format!("{ap}.path")));
                }
                port_num_or_name(a.get("port"), &format!("{ap}.port"), causes);
                match str_of(a, "scheme") {
                    "" | "HTTP" | "HTTPS" => {}
                    other => causes.push(Cause::not_supported(
                        format!("{ap}.scheme"),
                        &json!(other),
                        &["HTTP", "HTTPS"],
                    )),
                }
            }
            "tcpSocket" => port_num_or_name(a.get("port"), &format!("{ap}.port"), causes),
            "grpc" => {
                let port = int_of(a, "port").unwrap_or(0);
                for msg in port_num_problems(port) {
                    causes.push(Cause::invalid(format!("{ap}.port"), &json!(port), msg));
                }
            }
            "sleep" => {
                // PodLifecycleSleepActionAllowZero is on by default in 1.33.
                let secs = int_of(a, "seconds").unwrap_or(0);
                if let Some(g) = grace
                    && (secs < 0 || secs > g)
                {
                    causes.push(Cause::invalid(
                        &ap,
                        &json!(secs),
                        format!(
                            "must be non-negative and less than terminationGracePeriodSeconds ({g})"
                        ),
                    ));
                }
            }
            _ => {}
        }
    }
    if n == 0 {
        causes.push(Cause::required_because(path, "must specify a handler type"));
    }
}

// --- pod-level fields ---------------------------------------------------------

/// `ValidateTolerations`.
pub(crate) fn tolerations(list: &[Value], path: &str, causes: &mut Vec<Cause>) {
    for (i, t) in list.iter().enumerate() {
        let idx = format!("{path}[{i}]");
        let (key, op, effect) = (str_of(t, "key"), str_of(t, "operator"), str_of(t, "effect"));
        if !key.is_empty() {
            qualified_name(key, &format!("{idx}.key"), causes);
        }
        if key.is_empty() && op != "Exists" {
            causes.push(Cause::invalid(
                format!("{idx}.operator"),
                &json!(op),
                "operator must be Exists when `key` is empty, which means \"match all values and all keys\"",
            ));
        }
        if t.get("tolerationSeconds").is_some_and(|s| !s.is_null()) && effect != "NoExecute" {
            causes.push(Cause::invalid(
                format!("{idx}.effect"),
                &json!(effect),
                "effect must be 'NoExecute' when `tolerationSeconds` is set",
            ));
        }
        let value = str_of(t, "value");
        match op {
            "Equal" | "" => {
                let problems = super::label_value_problems(value);
                if !problems.is_empty() {
                    causes.push(Cause::invalid(
                        format!("{idx}.operator"),
                        &json!(value),
                        problems.join(";"),
                    ));
                }
            }
            "Exists" => {
                if !value.is_empty() {
                    causes.push(Cause::invalid(
                        format!("{idx}.operator"),
                        &json!(value),
                        "value must be empty when `operator` is 'Exists'",
                    ));
                }
            }
            other => causes.push(Cause::not_supported(
                format!("{idx}.operator"),
                &json!(other),
                &["Equal", "Exists"],
            )),
        }
        if !effect.is_empty() && !matches!(effect, "NoSchedule" | "PreferNoSchedule" | "NoExecute")
        {
            causes.push(Cause::not_supported(
                format!("{idx}.effect"),
                &json!(effect),
                &["NoSchedule", "PreferNoSchedule", "NoExecute"],
            ));
        }
    }
}

/// The ID checks of `validatePodSpecSecurityContext`.
fn security_context(sc: Option<&Value>, path: &str, causes: &mut Vec<Cause>) {
    let Some(sc) = sc.filter(|s| s.is_object()) else {
        return;
    };
    let id_range = |v: i64| !(0..=0xffff_ffff).contains(&v);
    for f in ["fsGroup", "runAsUser", "runAsGroup"] {
        if let Some(v) = int_of(sc, f)
            && id_range(v)
        {
            causes.push(Cause::invalid(
                format!("{path}.{f}"),
                &json!(v),
                inclusive_range_error(0, 0xffff_ffff),
            ));
        }
    }
    for (g, gid) in arr_of(sc, "supplementalGroups").iter().enumerate() {
        let v = gid.as_i64().unwrap_or(0);
        if id_range(v) {
            causes.push(Cause::invalid(
                format!("{path}.supplementalGroups[{g}]"),
                &json!(v),
                inclusive_range_error(0, 0xffff_ffff),
            ));
        }
    }
}

/// `validatePodDNSConfig` (nameserver and search counts; addresses unchecked).
fn dns_config(spec: &Value, policy: &str, path: &str, causes: &mut Vec<Cause>) {
    let cfg = spec.get("dnsConfig").filter(|c| !c.is_null());
    let p = format!("{path}.dnsConfig");
    if policy == "None" {
        let Some(c) = cfg else {
            causes.push(Cause::required_because(
                &p,
                "must provide `dnsConfig` when `dnsPolicy` is None",
            ));
            return;
        };
        if arr_of(c, "nameservers").is_empty() {
            causes.push(Cause::required_because(
                format!("{p}.nameservers"),
                "must provide at least one DNS nameserver when `dnsPolicy` is None",
            ));
            return;
        }
    }
    let Some(c) = cfg else { return };
    if arr_of(c, "nameservers").len() > 3 {
        causes.push(Cause::invalid_rendered(
            format!("{p}.nameservers"),
            go_string_slice(c.get("nameservers")),
            "must not have more than 3 nameservers",
        ));
    }
    if arr_of(c, "searches").len() > 32 {
        causes.push(Cause::invalid_rendered(
            format!("{p}.searches"),
            go_string_slice(c.get("searches")),
            "must not have more than 32 search paths",
        ));
    }
    for (i, o) in arr_of(c, "options").iter().enumerate() {
        if str_of(o, "name").is_empty() {
            causes.push(Cause::required_because(
                format!("{p}.options[{i}]"),
                "must not be empty",
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalogue::builtin;
    use crate::defaults;

    /// A pod as the handlers validate it: defaulted.
    fn pod(spec: Value) -> Value {
        let mut p = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "default"}, "spec": spec});
        let def = builtin()
            .iter()
            .find(|d| d.group.is_empty() && d.plural == "pods")
            .unwrap();
        defaults::apply(def, &mut p);
        p
    }

    fn shown(causes: &[Cause]) -> Vec<String> {
        causes.iter().map(Cause::display).collect()
    }

    #[test]
    fn a_valid_pod_has_no_causes() {
        let p = pod(json!({
            "containers": [{"name": "web", "image": "nginx:1.27",
                "ports": [{"name": "http", "containerPort": 80}],
                "env": [{"name": "MODE", "value": "prod"}, {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
                "resources": {"requests": {"cpu": "250m", "memory": "64Mi"}, "limits": {"cpu": "1", "memory": "128Mi"}},
                "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                "livenessProbe": {"httpGet": {"port": "http"}}}],
            "volumes": [{"name": "data", "emptyDir": {}}]
        }));
        assert_eq!(shown(&validate_pod(&p)), Vec::<String>::new());
    }

    #[test]
    fn containers_names_and_images() {
        assert_eq!(
            shown(&validate_pod(&pod(json!({})))),
            ["spec.containers: Required value"]
        );
        let p = pod(json!({
            "containers": [{"name": "Web", "image": ""}, {"name": "db", "image": "pg"}],
            "initContainers": [{"name": "db", "image": " x"}]
        }));
        assert_eq!(
            shown(&validate_pod(&p)),
            [
                "spec.containers[0].name: Invalid value: \"Web\": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')",
                "spec.containers[0].image: Required value",
                "spec.initContainers[0].name: Duplicate value: \"db\"",
                "spec.initContainers[0].image: Invalid value: \" x\": must not have leading or trailing whitespace",
            ]
        );
    }

    #[test]
    fn ports() {
        let p = pod(json!({"containers": [{"name": "c", "image": "i", "ports": [
            {"name": "http", "containerPort": 70000, "hostPort": -1},
            {"name": "http", "containerPort": 81, "protocol": "HTTP"},
            {"name": "80", "containerPort": 0}
        ]}]}));
        assert_eq!(
            shown(&validate_pod(&p)),
            [
                "spec.containers[0].ports[0].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive",
                "spec.containers[0].ports[0].hostPort: Invalid value: -1: must be between 1 and 65535, inclusive",
                "spec.containers[0].ports[1].name: Duplicate value: \"http\"",
                "spec.containers[0].ports[1].protocol: Unsupported value: \"HTTP\": supported values: \"SCTP\", \"TCP\", \"UDP\"",
                "spec.containers[0].ports[2].name: Invalid value: \"80\": must contain at least one letter (a-z)",
                "spec.containers[0].ports[2].containerPort: Required value",
            ]
        );
    }

    #[test]
    fn host_ports_conflict_and_host_network() {
        let p = pod(json!({"containers": [
            {"name": "a", "image": "i", "ports": [{"containerPort": 80, "hostPort": 8080}]},
            {"name": "b", "image": "i", "ports": [{"containerPort": 81, "hostPort": 8080}]}
        ]}));
        assert_eq!(
            shown(&validate_pod(&p)),
            ["spec.containers[1].ports[0].hostPort: Duplicate value: \"TCP//8080\""]
        );
        let p = pod(json!({"hostNetwork": true, "containers": [
            {"name": "a", "image": "i", "ports": [{"containerPort": 80, "hostPort": 81}]}
        ]}));
        assert_eq!(
            shown(&validate_pod(&p)),
            [
                "spec.containers[0].ports[0].hostPort: Invalid value: 81: must match `containerPort` when `hostNetwork` is true"
            ]
        );
    }

    #[test]
    fn env_and_env_from() {
        let p = pod(json!({"containers": [{"name": "c", "image": "i",
            "env": [
                {"name": ""},
                {"name": "A=B", "value": "x"},
                {"name": "C", "valueFrom": {}},
                {"name": "D", "value": "v", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}},
                {"name": "E", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "a/b"}, "fieldRef": {"fieldPath": "spec.nope"}}},
                {"name": "F", "valueFrom": {"fieldRef": {"fieldPath": "status.phase"}}}
            ],
            "envFrom": [{"prefix": "P_"}]
        }]}));
        assert_eq!(
            shown(&validate_pod(&p)),
            [
                "spec.containers[0].env[0].name: Required value",
                "spec.containers[0].env[1].name: Invalid value: \"A=B\": a valid environment variable name must consist only of printable ASCII characters other than '='",
                "spec.containers[0].env[2].valueFrom: Invalid value: \"\": must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`",
                "spec.containers[0].env[3].valueFrom: Invalid value: \"\": may not be specified when `value` is not empty",
                "spec.containers[0].env[4].valueFrom.fieldRef.fieldPath: Invalid value: \"spec.nope\": error converting fieldPath: field label not supported: spec.nope",
                "spec.containers[0].env[4].valueFrom.configMapKeyRef.key: Invalid value: \"a/b\": a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')",
                "spec.containers[0].env[4].valueFrom: Invalid value: \"\": may not have more than one field specified at a time",
                "spec.containers[0].env[5].valueFrom.fieldRef.fieldPath: Unsupported value: \"status.phase\": supported values: \"metadata.name\", \"metadata.namespace\", \"metadata.uid\", \"spec.nodeName\", \"spec.serviceAccountName\", \"status.hostIP\", \"status.hostIPs\", \"status.podIP\", \"status.podIPs\"",
                "spec.containers[0].envFrom: Invalid value: \"\": must specify one of: `configMapRef` or `secretRef`",
            ]
        );
    }

    #[test]
    fn resources() {
        let p = pod(
            json!({"containers": [{"name": "c", "image": "i", "resources": {
                "limits": {"cpu": "500m", "memory": "1Gb", "nvidia.com/gpu": "1", "foo": "1"},
                "requests": {"cpu": "1.5", "memory": "-1", "nvidia.com/gpu": "500m", "example.com/dongle": 2}
            }}]}),
        );
        assert_eq!(
            shown(&validate_pod(&p)),
            [
                "spec.containers[0].resources.limits[foo]: Invalid value: \"foo\": must be a standard resource type or fully qualified",
                "spec.containers[0].resources.limits[foo]: Invalid value: \"foo\": must be a standard resource for containers",
                "spec.containers[0].resources.limits[memory]: Invalid value: \"1Gb\": quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'",
                "spec.containers[0].resources.requests: Invalid value: \"1500m\": must be less than or equal to cpu limit of 500m",
                "spec.containers[0].resources.limits: Required value: Limit must be set for non overcommitable resources",
                // Defaulting copied the limit of foo into the requests, as upstream's does.
                "spec.containers[0].resources.requests[foo]: Invalid value: \"foo\": must be a standard resource type or fully qualified",
                "spec.containers[0].resources.requests[foo]: Invalid value: \"foo\": must be a standard resource for containers",
                "spec.containers[0].resources.requests[memory]: Invalid value: \"-1\": must be greater than or equal to 0",
                "spec.containers[0].resources.requests[nvidia.com/gpu]: Invalid value: 500m: must be an integer",
                "spec.containers[0].resources.requests: Invalid value: \"500m\": must be equal to nvidia.com/gpu limit of 1",
            ]
        );
    }

    #[test]
    fn volumes_and_mounts() {
        let p = pod(json!({
            "containers": [{"name": "c", "image": "i", "volumeMounts": [
                {"name": "cfg", "mountPath": "/etc/cfg"},
                {"name": "missing", "mountPath": "/etc/cfg"},
                {"name": "both", "mountPath": "/b"}
            ]}],
            "volumes": [
                {"name": "cfg", "configMap": {"name": "app", "defaultMode": 1000}},
                {"name": "cfg", "emptyDir": {}},
                {"name": "both", "emptyDir": {}, "secret": {"secretName": "s"}},
                {"name": "none"},
                {"name": "Bad_Name", "persistentVolumeClaim": {}}
            ]
        }));
        assert_eq!(
            shown(&validate_pod(&p)),
            [
                "spec.volumes[0].configMap.defaultMode: Invalid value: 1000: must be a number between 0 and 0777 (octal), both inclusive",
                "spec.volumes[2].secret: Forbidden: may not specify more than 1 volume type",
                // volumes[3] has no source: defaulting made it an emptyDir, as upstream's does.
                "spec.volumes[4].persistentVolumeClaim.claimName: Required value",
                "spec.volumes[4].name: Invalid value: \"Bad_Name\": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')",
                "spec.containers[0].volumeMounts[1].name: Not found: \"missing\"",
                "spec.containers[0].volumeMounts[1].mountPath: Invalid value: \"/etc/cfg\": must be unique",
                "spec.containers[0].volumeMounts[2].name: Not found: \"both\"",
            ]
        );
    }

    #[test]
    fn policies_deadlines_and_probes() {
        let p = pod(json!({
            "restartPolicy": "Sometimes", "dnsPolicy": "Google", "activeDeadlineSeconds": 0,
            "containers": [{"name": "c", "image": "i", "imagePullPolicy": "Maybe",
                "livenessProbe": {"successThreshold": 2},
                "readinessProbe": {"tcpSocket": {"port": 0}, "exec": {"command": ["true"]}, "periodSeconds": -1}}]
        }));
        assert_eq!(
            shown(&validate_pod(&p)),
            [
                "spec.containers[0].imagePullPolicy: Unsupported value: \"Maybe\": supported values: \"Always\", \"IfNotPresent\", \"Never\"",
                "spec.containers[0].livenessProbe: Required value: must specify a handler type",
                "spec.containers[0].livenessProbe.successThreshold: Invalid value: 2: must be 1",
                "spec.containers[0].readinessProbe.tcpSocket: Forbidden: may not specify more than 1 handler type",
                "spec.containers[0].readinessProbe.periodSeconds: Invalid value: -1: must be greater than or equal to 0",
                "spec.restartPolicy: Unsupported value: \"Sometimes\": supported values: \"Always\", \"OnFailure\", \"Never\"",
                "spec.dnsPolicy: Unsupported value: \"Google\": supported values: \"ClusterFirstWithHostNet\", \"ClusterFirst\", \"Default\", \"None\"",
                "spec.activeDeadlineSeconds: Invalid value: 0: must be between 1 and 2147483647, inclusive",
            ]
        );
    }

    #[test]
    fn tolerations_and_dns_none() {
        let p = pod(
            json!({"dnsPolicy": "None", "containers": [{"name": "c", "image": "i"}],
            "tolerations": [{"operator": "Equal", "value": "x"}, {"key": "k", "operator": "Exists", "value": "v", "tolerationSeconds": 5}]}),
        );
        assert_eq!(
            shown(&validate_pod(&p)),
            [
                "spec.dnsConfig: Required value: must provide `dnsConfig` when `dnsPolicy` is None",
                "spec.tolerations[0].operator: Invalid value: \"Equal\": operator must be Exists when `key` is empty, which means \"match all values and all keys\"",
                "spec.tolerations[1].effect: Invalid value: \"\": effect must be 'NoExecute' when `tolerationSeconds` is set",
                "spec.tolerations[1].operator: Invalid value: \"v\": value must be empty when `operator` is 'Exists'",
            ]
        );
    }

    #[test]
    fn pod_updates_may_change_only_images_deadlines_and_tolerations() {
        let mut old = pod(
            json!({"activeDeadlineSeconds": 100, "containers": [{"name": "c", "image": "nginx:1"}]}),
        );
        // As admission (DefaultTolerationSeconds) stored it.
        old["spec"]["tolerations"] = json!([
            {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
            {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}
        ]);
        let old = old;
        let mut new = old.clone();
        new["spec"]["containers"][0]["image"] = json!("nginx:2");
        new["spec"]["activeDeadlineSeconds"] = json!(50);
        new["spec"]["tolerations"]
            .as_array_mut()
            .unwrap()
            .push(json!({"key": "k", "operator": "Exists"}));
        assert_eq!(
            shown(&validate_pod_update(&new, &old)),
            Vec::<String>::new()
        );

        let mut bad = new.clone();
        bad["spec"]["activeDeadlineSeconds"] = json!(200);
        assert_eq!(
            shown(&validate_pod_update(&bad, &old)),
            [
                "spec.activeDeadlineSeconds: Invalid value: 200: must be less than or equal to previous value"
            ]
        );

        let mut bad = new.clone();
        bad["spec"]["containers"][0]["env"] = json!([{"name": "A", "value": "b"}]);
        bad["spec"]["tolerations"] = json!([]);
        assert_eq!(
            shown(&validate_pod_update(&bad, &old)),
            [
                "spec.tolerations: Forbidden: existing toleration can not be modified except its tolerationSeconds",
                "spec: Forbidden: pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)",
            ]
        );

        let mut bad = old.clone();
        bad["spec"]["containers"]
            .as_array_mut()
            .unwrap()
            .push(json!({"name": "d", "image": "i"}));
        assert_eq!(
            shown(&validate_pod_update(&bad, &old)),
            ["spec.containers: Forbidden: pod updates may not add or remove containers"]
        );
    }

    #[test]
    fn templates_report_their_prefix() {
        let mut causes = Vec::new();
        validate_pod_template_spec(
            Some(
                &json!({"metadata": {"labels": {"app": "-bad"}}, "spec": {"containers": [{"name": "c"}], "ephemeralContainers": [{"name": "e"}]}}),
            ),
            "spec.template",
            &mut causes,
        );
        assert_eq!(
            shown(&causes),
            [
                "spec.template.labels: Invalid value: \"-bad\": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')",
                "spec.template.spec.terminationGracePeriodSeconds: Required value",
                "spec.template.spec.containers[0].image: Required value",
                "spec.template.spec.ephemeralContainers: Forbidden: ephemeral containers not allowed in pod template",
            ]
        );
    }
}
