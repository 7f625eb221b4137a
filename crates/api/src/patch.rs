//! PATCH bodies applied to an object: JSON patch (RFC 6902), JSON merge patch
//! (RFC 7386) and strategic merge patch with the merge keys of the built-in
//! types (containers by name, ports by containerPort, ...).

use serde_json::{Map, Value};

use crate::errors::ApiError;

/// Applies a patch of the given content type to `original`.
pub fn apply(content_type: &str, original: &Value, body: &[u8]) -> Result<Value, ApiError> {
    let patch: Value = match content_type {
        "application/apply-patch+yaml" => {
            return Err(ApiError::unsupported_media_type(true));
        }
        _ => serde_json::from_slice(body)
            .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?,
    };
    let mut doc = original.clone();
    match content_type {
        "application/json-patch+json" => {
            let p: json_patch::Patch = serde_json::from_value(patch)
                .map_err(|e| ApiError::bad_request(format!("the JSON patch is not valid: {e}")))?;
            json_patch::patch(&mut doc, &p).map_err(|e| {
                ApiError::new(
                    422,
                    "Invalid",
                    format!("the server rejected our request due to an error in our request: {e}"),
                )
            })?;
        }
        "application/merge-patch+json" => {
            if !patch.is_object() {
                return Err(ApiError::bad_request("merge patch must be a JSON object"));
            }
            json_patch::merge(&mut doc, &patch);
        }
        "application/strategic-merge-patch+json" => {
            if !patch.is_object() {
                return Err(ApiError::bad_request(
                    "strategic merge patch must be a JSON object",
                ));
            }
            strategic_merge(&mut doc, &patch, "");
        }
        _ => return Err(ApiError::unsupported_media_type(true)),
    }
    Ok(doc)
}

/// The merge key of a list field, by its name and parent path (upstream's
/// `patchMergeKey` tags), or None for an atomic list.
fn merge_key(path: &str, field: &str) -> Option<&'static str> {
    Some(match field {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "env"
        | "volumes"
        | "imagePullSecrets"
        | "resourceClaims"
        | "schedulingGates"
        | "readinessGates" => match field {
            "readinessGates" => "conditionType",
            _ => "name",
        },
        "volumeMounts" => "mountPath",
        "volumeDevices" => "devicePath",
        "ports" if path.ends_with("spec") && !path.contains("containers") => "port",
        "ports" => "containerPort",
        "hostAliases" => "ip",
        "conditions" => "type",
        "ownerReferences" => "uid",
        "topologySpreadConstraints" => "topologyKey",
        "addresses" if path.ends_with("status") => "type",
        _ => return None,
    })
}

/// Lists of primitives merged as sets.
fn primitive_set(field: &str) -> bool {
    matches!(field, "finalizers")
}

/// Strategic merge of `patch` into `doc` at `path` (dotted, for merge keys).
pub fn strategic_merge(doc: &mut Value, patch: &Value, path: &str) {
    let Some(p) = patch.as_object() else {
        *doc = patch.clone();
        return;
    };
    match p.get("$patch").and_then(Value::as_str) {
        Some("replace") => {
            let mut replaced = p.clone();
            replaced.remove("$patch");
            *doc = Value::Object(replaced);
            return;
        }
        Some("delete") => {
            *doc = Value::Null;
            return;
        }
        _ => {}
    }
    if !doc.is_object() {
        *doc = Value::Object(Map::new());
    }
    let target = doc.as_object_mut().expect("object");
    let retain: Option<Vec<String>> = p.get("$retainKeys").and_then(Value::as_array).map(|a| {
        a.iter()
            .filter_map(|k| k.as_str().map(String::from))
            .collect()
    });
    for (k, v) in p {
        if k == "$patch" || k == "$retainKeys" || k.starts_with("$setElementOrder/") {
            continue;
        }
        if let Some(field) = k.strip_prefix("$deleteFromPrimitiveList/") {
            if let (Some(list), Some(remove)) = (
                target.get_mut(field).and_then(Value::as_array_mut),
                v.as_array(),
            ) {
                list.retain(|x| !remove.contains(x));
            }
            continue;
        }
        let child = if path.is_empty() {
            k.clone()
        } else {
            format!("{path}.{k}")
        };
        if v.is_null() {
            target.remove(k);
            continue;
        }
        match (target.get_mut(k), v) {
            (Some(existing @ Value::Object(_)), Value::Object(_)) => {
                strategic_merge(existing, v, &child);
                if existing.is_null() {
                    target.remove(k);
                }
            }
            (Some(Value::Array(existing)), Value::Array(items)) => {
                if let Some(key) = merge_key(path, k) {
                    merge_list(existing, items, key, &child);
                } else if primitive_set(k) {
                    for item in items {
                        if !existing.contains(item) {
                            existing.push(item.clone());
                        }
                    }
                } else {
                    *existing = items.clone();
                }
            }
            _ => {
                let mut fresh = v.clone();
                strip_directives(&mut fresh);
                target.insert(k.clone(), fresh);
            }
        }
    }
    if let Some(keep) = retain {
        target.retain(|k, _| keep.contains(k));
    }
}

fn merge_list(existing: &mut Vec<Value>, items: &[Value], key: &str, path: &str) {
    for item in items {
        let id = item.get(key);
        let directive = item.get("$patch").and_then(Value::as_str);
        let pos = id.and_then(|id| existing.iter().position(|e| e.get(key) == Some(id)));
        match (directive, pos) {
            (Some("delete"), Some(i)) => {
                existing.remove(i);
            }
            (Some("delete"), None) => {}
            (_, Some(i)) => strategic_merge(&mut existing[i], item, path),
            (_, None) => {
                let mut fresh = item.clone();
                strip_directives(&mut fresh);
                existing.push(fresh);
            }
        }
    }
}

/// Removes `$`-directives from a value inserted as a whole.
fn strip_directives(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|k, _| !k.starts_with('$'));
            for child in m.values_mut() {
                strip_directives(child);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(strip_directives),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn containers_merge_by_name() {
        let mut doc = json!({"spec": {"containers": [{"name": "a", "image": "a:1"}, {"name": "b", "image": "b:1"}]}});
        strategic_merge(
            &mut doc,
            &json!({"spec": {"containers": [{"name": "b", "image": "b:2"}, {"name": "c", "image": "c:1"}]}}),
            "",
        );
        assert_eq!(
            doc,
            json!({"spec": {"containers": [{"name": "a", "image": "a:1"}, {"name": "b", "image": "b:2"}, {"name": "c", "image": "c:1"}]}})
        );
        strategic_merge(
            &mut doc,
            &json!({"spec": {"containers": [{"name": "a", "$patch": "delete"}]}}),
            "",
        );
        assert_eq!(doc["spec"]["containers"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn nulls_delete_and_replace_directive() {
        let mut doc = json!({"metadata": {"labels": {"a": "1", "b": "2"}}});
        strategic_merge(
            &mut doc,
            &json!({"metadata": {"labels": {"a": null, "c": "3"}}}),
            "",
        );
        assert_eq!(doc, json!({"metadata": {"labels": {"b": "2", "c": "3"}}}));
        strategic_merge(
            &mut doc,
            &json!({"metadata": {"labels": {"$patch": "replace", "z": "9"}}}),
            "",
        );
        assert_eq!(doc, json!({"metadata": {"labels": {"z": "9"}}}));
    }

    #[test]
    fn json_and_merge_patches() {
        let doc = json!({"spec": {"replicas": 1, "paused": true}});
        let out = apply(
            "application/merge-patch+json",
            &doc,
            br#"{"spec":{"replicas":3,"paused":null}}"#,
        )
        .unwrap();
        assert_eq!(out, json!({"spec": {"replicas": 3}}));
        let out = apply(
            "application/json-patch+json",
            &doc,
            br#"[{"op":"replace","path":"/spec/replicas","value":5}]"#,
        )
        .unwrap();
        assert_eq!(out["spec"]["replicas"], 5);
        assert_eq!(
            apply(
                "application/json-patch+json",
                &doc,
                br#"[{"op":"test","path":"/spec/replicas","value":9}]"#
            )
            .unwrap_err()
            .code,
            422
        );
        assert_eq!(apply("text/plain", &doc, b"{}").unwrap_err().code, 415);
    }
}
