//! The pod subresources that change part of a running pod's spec, as
//! upstream's `pods/ephemeralcontainers` and `pods/resize` strategies and
//! validation do (`pkg/registry/core/pod/strategy.go`,
//! `ValidatePodEphemeralContainersUpdate`, `ValidatePodResize`): what each
//! takes from the request (the rest comes from the stored pod, metadata as
//! `ResetObjectMetaForStatus` leaves it) and what it refuses.

use serde_json::{Value, json};

use crate::errors::Cause;
use crate::meta;
use crate::validation::common::arr_of;

/// Metadata the request may not change (upstream's `ResetObjectMetaForStatus`).
fn reset_meta_for_status(new: &mut Value, old: &Value) {
    meta::reset_fields(new, old, meta::RESET_FOR_STATUS);
}

/// `pods/ephemeralcontainers`: only `spec.ephemeralContainers` comes from the request.
pub fn prepare_ephemeral_containers(new: &mut Value, old: &Value) {
    let ephemeral = new.pointer("/spec/ephemeralContainers").cloned();
    let metadata = new.get("metadata").cloned();
    *new = old.clone();
    if let Some(m) = metadata {
        new["metadata"] = m;
    }
    match ephemeral {
        Some(e) => new["spec"]["ephemeralContainers"] = e,
        None => {
            if let Some(spec) = new.get_mut("spec").and_then(Value::as_object_mut) {
                spec.remove("ephemeralContainers");
            }
        }
    }
    reset_meta_for_status(new, old);
}

/// Fields an ephemeral container may not have.
const NOT_FOR_EPHEMERAL: &[&str] = &[
    "ports",
    "livenessProbe",
    "readinessProbe",
    "startupProbe",
    "lifecycle",
    "resources",
    "resizePolicy",
];

pub fn validate_ephemeral_containers_update(new: &Value, old: &Value) -> Vec<Cause> {
    let mut causes = Vec::new();
    let null = Value::Null;
    let (ns, os) = (
        new.get("spec").unwrap_or(&null),
        old.get("spec").unwrap_or(&null),
    );
    let news = arr_of(ns, "ephemeralContainers");
    for (i, o) in arr_of(os, "ephemeralContainers").iter().enumerate() {
        let name = o["name"].as_str().unwrap_or("");
        match news.iter().find(|n| n["name"] == o["name"]) {
            None => causes.push(Cause::forbidden(
                "spec",
                format!("existing ephemeral containers {name:?} may not be removed\n"),
            )),
            Some(n) if n != o => causes.push(Cause::forbidden(
                format!("spec.ephemeralContainers[{i}]"),
                format!("existing ephemeral containers {name:?} may not be changed\n"),
            )),
            Some(_) => {}
        }
    }
    let mut names: Vec<&str> = ["containers", "initContainers"]
        .iter()
        .flat_map(|l| arr_of(ns, l))
        .filter_map(|c| c["name"].as_str())
        .collect();
    for (i, c) in news.iter().enumerate() {
        let path = format!("spec.ephemeralContainers[{i}]");
        let name = c["name"].as_str().unwrap_or("");
        if name.is_empty() {
            causes.push(Cause::required(format!("{path}.name")));
        } else if names.contains(&name) {
            causes.push(Cause::duplicate(format!("{path}.name"), &json!(name)));
        } else {
            names.push(name);
        }
        if c["image"].as_str().is_none_or(str::is_empty) {
            causes.push(Cause::required(format!("{path}.image")));
        }
        for field in NOT_FOR_EPHEMERAL {
            if c.get(*field)
                .is_some_and(|v| !v.is_null() && v != &json!({}) && v != &json!([]))
            {
                causes.push(Cause::forbidden(
                    format!("{path}.{field}"),
                    "cannot be set for an Ephemeral Container",
                ));
            }
        }
        if let Some(target) = c["targetContainerName"].as_str().filter(|t| !t.is_empty())
            && !arr_of(ns, "containers")
                .iter()
                .chain(arr_of(ns, "initContainers"))
                .any(|x| x["name"] == target)
        {
            causes.push(Cause::not_found(
                format!("{path}.targetContainerName"),
                &json!(target),
            ));
        }
    }
    causes
}

/// `pods/resize`: only the containers' `resources` and `resizePolicy` come
/// from the request (the whole spec when its containers differ, for
/// validation to refuse).
pub fn prepare_resize(new: &mut Value, old: &Value) {
    let mut spec = old.get("spec").cloned().unwrap_or_else(|| json!({}));
    let null = Value::Null;
    let ns = new.get("spec").unwrap_or(&null);
    let same_shape = ["containers", "initContainers"].iter().all(|l| {
        let (a, b) = (arr_of(ns, l), arr_of(&spec, l));
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x["name"] == y["name"])
    });
    if same_shape {
        for list in ["containers", "initContainers"] {
            let from: Vec<Value> = arr_of(ns, list).to_vec();
            if let Some(to) = spec.get_mut(list).and_then(Value::as_array_mut) {
                for (t, f) in to.iter_mut().zip(&from) {
                    for field in ["resources", "resizePolicy"] {
                        match f.get(field) {
                            Some(v) => t[field] = v.clone(),
                            None => drop(t.as_object_mut().and_then(|o| o.remove(field))),
                        }
                    }
                }
            }
        }
    } else {
        spec = ns.clone();
    }
    let metadata = new.get("metadata").cloned();
    *new = old.clone();
    new["spec"] = spec;
    if let Some(m) = metadata {
        new["metadata"] = m;
    }
    reset_meta_for_status(new, old);
}

/// A pod's QoS class from its containers' requests and limits, as upstream's
/// `qos.GetPodQOS`: positive cpu and memory quantities summed over the
/// containers; Guaranteed when every container limits both and the sums of
/// requests equal the sums of limits (a missing request counts as its limit,
/// as defaulting sets it).
pub fn qos_class(spec: &Value) -> &'static str {
    use std::collections::BTreeMap;

    use crate::validation::quantity::Quantity;
    let mut requests: BTreeMap<&str, Quantity> = BTreeMap::new();
    let mut limits: BTreeMap<&str, Quantity> = BTreeMap::new();
    let mut guaranteed = true;
    let add = |sums: &mut BTreeMap<&'static str, Quantity>, name: &'static str, q: Quantity| {
        let total = match sums.get(name) {
            Some(prev) => prev.plus(&q).unwrap_or(q),
            None => q,
        };
        sums.insert(name, total);
    };
    for c in ["containers", "initContainers"]
        .iter()
        .flat_map(|l| arr_of(spec, l))
    {
        let mut limited = 0;
        for name in ["cpu", "memory"] {
            let positive = |kind: &str| {
                c.pointer(&format!("/resources/{kind}/{name}"))
                    .and_then(|v| Quantity::from_json(v).ok())
                    .filter(Quantity::is_positive)
            };
            let limit = positive("limits");
            if let Some(l) = &limit {
                limited += 1;
                add(&mut limits, name, l.clone());
            }
            if let Some(r) = positive("requests").or(limit) {
                add(&mut requests, name, r);
            }
        }
        if limited < 2 {
            guaranteed = false;
        }
    }
    if requests.is_empty() && limits.is_empty() {
        return "BestEffort";
    }
    let equal = requests.len() == limits.len()
        && requests.iter().all(|(name, r)| {
            limits.get(name).and_then(|l| l.compare(r)) == Some(std::cmp::Ordering::Equal)
        });
    if guaranteed && equal {
        "Guaranteed"
    } else {
        "Burstable"
    }
}

pub fn validate_resize(new: &Value, old: &Value) -> Vec<Cause> {
    let mut causes = Vec::new();
    let null = Value::Null;
    let (ns, os) = (
        new.get("spec").unwrap_or(&null),
        old.get("spec").unwrap_or(&null),
    );
    for list in ["containers", "initContainers"] {
        let (a, b) = (arr_of(ns, list), arr_of(os, list));
        if a.len() != b.len() || a.iter().zip(b).any(|(x, y)| x["name"] != y["name"]) {
            causes.push(Cause::forbidden(
                "spec",
                "only cpu and memory resources are mutable",
            ));
            return causes;
        }
        for (i, (x, y)) in a.iter().zip(b).enumerate() {
            for kind in ["requests", "limits"] {
                let get = |c: &Value| {
                    c.pointer(&format!("/resources/{kind}"))
                        .and_then(Value::as_object)
                        .cloned()
                        .unwrap_or_default()
                };
                let (xr, yr) = (get(x), get(y));
                let keys: std::collections::BTreeSet<&String> =
                    xr.keys().chain(yr.keys()).collect();
                if keys
                    .iter()
                    .any(|k| !matches!(k.as_str(), "cpu" | "memory") && xr.get(*k) != yr.get(*k))
                {
                    causes.push(Cause::forbidden(
                        format!("spec.{list}[{i}].resources.{kind}"),
                        "only cpu and memory resources are mutable",
                    ));
                }
            }
        }
    }
    if qos_class(ns) != qos_class(os) {
        causes.push(Cause::forbidden(
            "spec",
            "Pod QOS Class may not change as a result of resizing",
        ));
    }
    causes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod() -> Value {
        json!({"metadata": {"name": "p", "labels": {"a": "1"}},
               "spec": {"containers": [{"name": "c", "image": "i",
                                        "resources": {"requests": {"cpu": "100m"}, "limits": {"cpu": "200m"}}}]},
               "status": {"phase": "Running"}})
    }

    #[test]
    fn ephemeral_containers() {
        let old = pod();
        let mut new = pod();
        new["spec"]["ephemeralContainers"] =
            json!([{"name": "debug", "image": "busybox", "targetContainerName": "c"}]);
        new["spec"]["containers"][0]["image"] = json!("changed");
        new["metadata"]["labels"]["a"] = json!("2");
        prepare_ephemeral_containers(&mut new, &old);
        assert_eq!(
            new["spec"]["containers"][0]["image"], "i",
            "only ephemeral containers change"
        );
        assert_eq!(new["metadata"]["labels"]["a"], "1");
        assert!(validate_ephemeral_containers_update(&new, &old).is_empty());
        let mut removed = new.clone();
        removed["spec"]["ephemeralContainers"] = json!([]);
        let c = validate_ephemeral_containers_update(&removed, &new);
        assert_eq!(
            c[0].message,
            "Forbidden: existing ephemeral containers \"debug\" may not be removed\n"
        );
        let mut bad = old.clone();
        bad["spec"]["ephemeralContainers"] =
            json!([{"name": "c", "image": "i", "ports": [{"containerPort": 80}]}]);
        let c = validate_ephemeral_containers_update(&bad, &old);
        assert_eq!(c.len(), 2, "{c:?}");
    }

    #[test]
    fn resize() {
        let old = pod();
        let mut new = pod();
        new["spec"]["containers"][0]["resources"] =
            json!({"requests": {"cpu": "300m"}, "limits": {"cpu": "400m"}});
        new["spec"]["containers"][0]["image"] = json!("changed");
        prepare_resize(&mut new, &old);
        assert_eq!(new["spec"]["containers"][0]["image"], "i");
        assert_eq!(
            new["spec"]["containers"][0]["resources"]["requests"]["cpu"],
            "300m"
        );
        assert!(validate_resize(&new, &old).is_empty());
        let mut guaranteed = pod();
        guaranteed["spec"]["containers"][0]["resources"] = json!({"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"cpu": "1", "memory": "1Gi"}});
        prepare_resize(&mut guaranteed, &old);
        assert_eq!(
            validate_resize(&guaranteed, &old)[0].message,
            "Forbidden: Pod QOS Class may not change as a result of resizing"
        );
        let mut milli = pod();
        milli["spec"]["containers"][0]["resources"] = json!({"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"cpu": "1000m", "memory": "1024Mi"}});
        assert_eq!(
            qos_class(&milli["spec"]),
            "Guaranteed",
            "quantities compare by value"
        );
        let mut zero = pod();
        zero["spec"]["containers"][0]["resources"] = json!({"requests": {"cpu": "0"}});
        assert_eq!(
            qos_class(&zero["spec"]),
            "BestEffort",
            "zero quantities do not count"
        );
        let mut storage = pod();
        storage["spec"]["containers"][0]["resources"]["limits"]["ephemeral-storage"] = json!("1Gi");
        prepare_resize(&mut storage, &old);
        assert!(!validate_resize(&storage, &old).is_empty());
    }
}
