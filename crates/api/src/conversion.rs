//! Conversion between the versions of a resource that share one stored form:
//! events.k8s.io/v1 Events are stored as core/v1 Events; autoscaling/v1
//! HorizontalPodAutoscalers as autoscaling/v2 (the storage version), as upstream.

use serde_json::{Map, Value, json};

use crate::catalogue::ResourceDef;

/// Whether objects of `def` are stored in another version's form.
pub fn converted(def: &ResourceDef) -> bool {
    matches!(
        (def.group, def.version, def.plural),
        ("events.k8s.io", _, "events") | ("autoscaling", "v1", "horizontalpodautoscalers")
    )
}

/// The stored form of an object written through `def`.
pub fn to_storage(def: &ResourceDef, obj: Value) -> Value {
    match (def.group, def.version, def.plural) {
        ("events.k8s.io", _, "events") => rename(obj, EVENT_FIELDS, false, "v1"),
        ("autoscaling", "v1", "horizontalpodautoscalers") => hpa_v1_to_v2(obj),
        _ => obj,
    }
}

/// The form of a stored object as `def` serves it.
pub fn from_storage(def: &ResourceDef, obj: Value) -> Value {
    match (def.group, def.version, def.plural) {
        ("events.k8s.io", _, "events") => rename(obj, EVENT_FIELDS, true, "events.k8s.io/v1"),
        ("autoscaling", "v1", "horizontalpodautoscalers") => hpa_v2_to_v1(obj),
        _ => obj,
    }
}

/// (core/v1 name, events.k8s.io/v1 name)
const EVENT_FIELDS: &[(&str, &str)] = &[
    ("involvedObject", "regarding"),
    ("message", "note"),
    ("reportingComponent", "reportingController"),
    ("source", "deprecatedSource"),
    ("firstTimestamp", "deprecatedFirstTimestamp"),
    ("lastTimestamp", "deprecatedLastTimestamp"),
    ("count", "deprecatedCount"),
];

fn rename(obj: Value, fields: &[(&str, &str)], forward: bool, api_version: &str) -> Value {
    let Value::Object(mut m) = obj else {
        return obj;
    };
    let mut out = Map::new();
    for (core, events) in fields {
        let (from, to) = if forward {
            (core, events)
        } else {
            (events, core)
        };
        if let Some(v) = m.remove(*from) {
            out.insert(to.to_string(), v);
        }
    }
    m.extend(out);
    m.insert("apiVersion".into(), json!(api_version));
    Value::Object(m)
}

fn cpu_metric(utilization: &Value, current: bool) -> Value {
    let key = if current { "current" } else { "target" };
    let mut target = json!({"averageUtilization": utilization});
    if !current {
        target["type"] = json!("Utilization");
    }
    json!({"type": "Resource", "resource": {"name": "cpu", key: target}})
}

fn hpa_v1_to_v2(obj: Value) -> Value {
    let mut obj = obj;
    obj["apiVersion"] = json!("autoscaling/v2");
    if let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut)
        && let Some(cpu) = spec.remove("targetCPUUtilizationPercentage")
    {
        spec.insert("metrics".into(), json!([cpu_metric(&cpu, false)]));
    }
    if let Some(status) = obj.get_mut("status").and_then(Value::as_object_mut)
        && let Some(cpu) = status.remove("currentCPUUtilizationPercentage")
    {
        status.insert("currentMetrics".into(), json!([cpu_metric(&cpu, true)]));
    }
    obj
}

fn cpu_of(metrics: Option<&Value>, key: &str) -> Option<Value> {
    metrics?.as_array()?.iter().find_map(|m| {
        (m.get("type")?.as_str()? == "Resource" && m.pointer("/resource/name")?.as_str()? == "cpu")
            .then(|| {
                m.pointer(&format!("/resource/{key}/averageUtilization"))
                    .cloned()
            })
            .flatten()
    })
}

fn hpa_v2_to_v1(obj: Value) -> Value {
    let mut obj = obj;
    obj["apiVersion"] = json!("autoscaling/v1");
    if let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) {
        let cpu = cpu_of(spec.get("metrics"), "target");
        spec.remove("metrics");
        spec.remove("behavior");
        if let Some(cpu) = cpu {
            spec.insert("targetCPUUtilizationPercentage".into(), cpu);
        }
    }
    if let Some(status) = obj.get_mut("status").and_then(Value::as_object_mut) {
        let cpu = cpu_of(status.get("currentMetrics"), "current");
        status.remove("currentMetrics");
        status.remove("conditions");
        if let Some(cpu) = cpu {
            status.insert("currentCPUUtilizationPercentage".into(), cpu);
        }
    }
    obj
}

#[cfg(test)]
mod tests {
    use super::*;

    fn def(
        group: &'static str,
        version: &'static str,
        plural: &'static str,
    ) -> &'static ResourceDef {
        crate::catalogue::builtin()
            .iter()
            .find(|d| d.group == group && d.version == version && d.plural == plural)
            .unwrap()
    }

    #[test]
    fn events_round_trip() {
        let d = def("events.k8s.io", "v1", "events");
        let new = json!({"apiVersion": "events.k8s.io/v1", "kind": "Event", "note": "hi", "regarding": {"kind": "Pod"}, "reason": "X"});
        let stored = to_storage(d, new.clone());
        assert_eq!(
            stored,
            json!({"apiVersion": "v1", "kind": "Event", "message": "hi", "involvedObject": {"kind": "Pod"}, "reason": "X"})
        );
        assert_eq!(from_storage(d, stored), new);
    }

    #[test]
    fn hpa_round_trip() {
        let d = def("autoscaling", "v1", "horizontalpodautoscalers");
        let v1 = json!({"apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler", "spec": {"maxReplicas": 5, "targetCPUUtilizationPercentage": 70}});
        let stored = to_storage(d, v1.clone());
        assert_eq!(stored["apiVersion"], "autoscaling/v2");
        assert_eq!(
            stored["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"],
            70
        );
        assert_eq!(from_storage(d, stored), v1);
    }
}
