//! PATCH bodies applied to an object: JSON patch (RFC 6902), JSON merge patch
//! (RFC 7386) and strategic merge patch, directed by the types' schema
//! (`schema`): lists merge by their `x-kubernetes-patch-merge-key` where the
//! patch strategy is `merge`, scalar lists with that strategy merge as sets, every
//! other list is replaced; directives `$patch` (replace, delete, merge),
//! `$retainKeys`, `$setElementOrder/<list>` and `$deleteFromPrimitiveList/<list>`
//! as upstream's `strategicpatch` package applies them.
//!
//! The same typed merge, keyed by `x-kubernetes-list-type` instead of the patch
//! strategy, merges an applied configuration into the live object for
//! server-side apply (`Mode::Apply`).

use serde_json::{Map, Value};

use crate::errors::ApiError;
use crate::schema::{self, ListType, Ty};

const DIRECTIVE: &str = "$patch";
const RETAIN_KEYS: &str = "$retainKeys";
const SET_ORDER: &str = "$setElementOrder/";
const DELETE_PRIMITIVE: &str = "$deleteFromPrimitiveList/";

/// Applies a patch of the given content type to `original`, an object of type `ty`
/// (`Ty::Untyped` when the kind has no built-in schema: strategic merge patch
/// is then refused, as upstream refuses it for custom resources).
pub fn apply(content_type: &str, original: &Value, body: &[u8], ty: Ty) -> Result<Value, ApiError> {
    if !matches!(
        content_type,
        "application/json-patch+json"
            | "application/merge-patch+json"
            | "application/strategic-merge-patch+json"
    ) || (content_type == "application/strategic-merge-patch+json" && ty == Ty::Untyped)
    {
        return Err(ApiError::unsupported_media_type(true));
    }
    let patch: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?;
    let mut doc = original.clone();
    match content_type {
        "application/json-patch+json" => {
            let p: json_patch::Patch = serde_json::from_value(patch)
                .map_err(|e| ApiError::bad_request(format!("the JSON patch is not valid: {e}")))?;
            json_patch::patch(&mut doc, &p).map_err(|e| rejected(e.to_string()))?;
        }
        "application/merge-patch+json" => {
            if !patch.is_object() {
                return Err(ApiError::bad_request("merge patch must be a JSON object"));
            }
            json_patch::merge(&mut doc, &patch);
        }
        _ => {
            let Value::Object(p) = &patch else {
                return Err(ApiError::bad_request(
                    "strategic merge patch must be a JSON object",
                ));
            };
            doc = merge_map(doc, p, ty, Mode::Strategic).map_err(|e| match e.status {
                400 => ApiError::bad_request(e.message),
                422 => rejected(e.message),
                _ => ApiError::internal(e.message),
            })?;
        }
    }
    Ok(doc)
}

/// Upstream's `NewGenericServerResponse(422, ...)`: a fixed message, the
/// patch engine's error as the cause.
fn rejected(message: String) -> ApiError {
    let mut e = ApiError::new(
        422,
        "Invalid",
        "the server rejected our request due to an error in our request",
    );
    e.details = Some(
        serde_json::json!({"causes": [{"reason": "UnexpectedServerResponse", "message": message}]}),
    );
    e
}

/// A JSON value as Go's `%v` prints the `map[string]interface{}` it decodes
/// to (keys sorted), as upstream's errors show patches.
pub fn go_string(v: &Value) -> String {
    match v {
        Value::Object(m) => {
            let items: Vec<String> = m
                .iter()
                .map(|(k, v)| format!("{k}:{}", go_string(v)))
                .collect();
            format!("map[{}]", items.join(" "))
        }
        Value::Array(a) => {
            let items: Vec<String> = a.iter().map(go_string).collect();
            format!("[{}]", items.join(" "))
        }
        Value::String(s) => s.clone(),
        Value::Null => "<nil>".into(),
        other => other.to_string(),
    }
}

/// The Go type a JSON value decodes to, as upstream's errors name it.
fn go_type(v: &Value) -> &'static str {
    match v {
        Value::Object(_) => "map[string]interface {}",
        Value::Array(_) => "[]interface {}",
        Value::String(_) => "string",
        Value::Number(n) if n.is_f64() => "float64",
        Value::Number(_) => "int64",
        Value::Bool(_) => "bool",
        Value::Null => "<nil>",
    }
}

/// Which metadata directs the merge of lists.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Strategic merge patch: `x-kubernetes-patch-strategy` and merge keys, with directives.
    Strategic,
    /// Server-side apply: `x-kubernetes-list-type` and list-map keys, atomic
    /// structs and maps replaced whole, no directives.
    Apply,
}

/// An error of a strategic merge patch, with upstream's status and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergeError {
    pub status: u16,
    pub message: String,
}

impl std::fmt::Display for MergeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

fn bad_request(message: impl Into<String>) -> MergeError {
    MergeError {
        status: 400,
        message: message.into(),
    }
}

fn unprocessable(message: impl Into<String>) -> MergeError {
    MergeError {
        status: 422,
        message: message.into(),
    }
}

fn internal(message: impl Into<String>) -> MergeError {
    MergeError {
        status: 500,
        message: message.into(),
    }
}

/// Merges `patch` into `original`, a value of type `ty`.
pub fn merge(original: Value, patch: &Value, ty: Ty, mode: Mode) -> Result<Value, MergeError> {
    match patch {
        Value::Object(p) => merge_map(original, p, ty, mode),
        _ => Ok(patch.clone()),
    }
}

fn merge_map(
    original: Value,
    patch: &Map<String, Value>,
    ty: Ty,
    mode: Mode,
) -> Result<Value, MergeError> {
    if mode == Mode::Apply && schema::is_atomic(ty) {
        return Ok(Value::Object(patch.clone()));
    }
    let mut patch = patch.clone();
    if mode == Mode::Strategic
        && let Some(directive) = patch.remove(DIRECTIVE)
    {
        match directive.as_str() {
            Some("replace") => return Ok(strip(Value::Object(patch))),
            Some("delete") => return Ok(Value::Object(Map::new())),
            Some("merge") => {}
            _ => {
                let mut shown = patch.clone();
                shown.insert(DIRECTIVE.into(), directive.clone());
                return Err(internal(format!(
                    "unknown patch type: {} in map: {}",
                    go_string(&directive),
                    go_string(&Value::Object(shown))
                )));
            }
        }
    }
    let mut out = match original {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    if mode == Mode::Strategic {
        if let Some(retain) = patch.remove(RETAIN_KEYS) {
            let Some(keys) = retain.as_array() else {
                return Err(bad_request("invalid patch format of retainKeys"));
            };
            let keys: Vec<&str> = keys.iter().filter_map(Value::as_str).collect();
            for k in patch.keys() {
                if !k.starts_with('$') && !keys.contains(&k.as_str()) {
                    return Err(unprocessable("patch content doesn't match retainKeys list"));
                }
            }
            out.retain(|k, _| keys.contains(&k.as_str()));
        }
        // Scalars to take out of primitive lists, before merging them.
        let deletions: Vec<(String, Value)> = patch
            .iter()
            .filter_map(|(k, v)| {
                k.strip_prefix(DELETE_PRIMITIVE)
                    .map(|f| (f.to_string(), v.clone()))
            })
            .collect();
        for (field, remove) in deletions {
            patch.remove(&format!("{DELETE_PRIMITIVE}{field}"));
            let Some(remove) = remove.as_array() else {
                return Err(bad_request("invalid patch format of primitive list"));
            };
            if let Some(Value::Array(list)) = out.get_mut(&field) {
                list.retain(|x| !remove.contains(x));
            }
        }
    }
    let orders: Vec<(String, Value)> = patch
        .iter()
        .filter_map(|(k, v)| {
            k.strip_prefix(SET_ORDER)
                .map(|f| (f.to_string(), v.clone()))
        })
        .collect();
    for (k, v) in patch {
        if k.starts_with(SET_ORDER) {
            continue;
        }
        if v.is_null() {
            out.remove(&k);
            continue;
        }
        let child_ty = schema::child(ty, &k);
        let field = schema::field(ty, &k);
        let merged = match (out.remove(&k), &v) {
            (Some(existing @ Value::Object(_)), Value::Object(p)) => {
                let replace =
                    mode == Mode::Strategic && field.is_some_and(|f| f.patch_strategy == "replace");
                if replace {
                    strip(v.clone())
                } else {
                    merge_map(existing, p, child_ty, mode)?
                }
            }
            (Some(Value::Array(existing)), Value::Array(items)) => {
                merge_list(existing, items, &k, ty, mode)?
            }
            (_, Value::Array(items)) if mode == Mode::Strategic => {
                merge_list(Vec::new(), items, &k, ty, mode)?
            }
            (_, Value::Object(p)) => merge_map(Value::Object(Map::new()), p, child_ty, mode)?,
            _ => v.clone(),
        };
        out.insert(k, merged);
    }
    for (field, order) in orders {
        let Some(order) = order.as_array() else {
            return Err(bad_request("invalid patch format of setElementOrder list"));
        };
        if let Some(Value::Array(list)) = out.get_mut(&field) {
            let key = schema::field(ty, &field)
                .map(|f| f.merge_key)
                .filter(|k| !k.is_empty());
            set_element_order(list, order, key);
        }
    }
    Ok(Value::Object(out))
}

/// How the list `field` of a value of type `parent` merges: by these keys, as a
/// set of scalars, or not at all (replaced).
enum ListMerge {
    Keys(Vec<&'static str>),
    Set,
    Replace,
}

fn list_merge(parent: Ty, field: &str, mode: Mode) -> (ListMerge, Ty) {
    let Some(f) = schema::field(parent, field) else {
        return (ListMerge::Replace, Ty::Untyped);
    };
    let Ty::List(item, list_type) = f.ty else {
        return (ListMerge::Replace, Ty::Untyped);
    };
    let how = match mode {
        Mode::Strategic if f.merges() && !f.merge_key.is_empty() => {
            ListMerge::Keys(vec![f.merge_key])
        }
        Mode::Strategic if f.merges() => ListMerge::Set,
        Mode::Strategic => ListMerge::Replace,
        Mode::Apply => match list_type {
            ListType::Map(keys) => ListMerge::Keys(keys.to_vec()),
            ListType::Set => ListMerge::Set,
            ListType::Atomic => ListMerge::Replace,
        },
    };
    (how, *item)
}

fn merge_list(
    mut existing: Vec<Value>,
    items: &[Value],
    field: &str,
    parent: Ty,
    mode: Mode,
) -> Result<Value, MergeError> {
    let (how, item_ty) = list_merge(parent, field, mode);
    match how {
        ListMerge::Replace => {
            if mode == Mode::Strategic && items.iter().any(|i| i.is_array()) {
                return Err(unprocessable("lists of lists are not supported"));
            }
            Ok(Value::Array(items.iter().cloned().map(strip).collect()))
        }
        ListMerge::Set => {
            if mode == Mode::Strategic
                && let Some(i) = items.iter().find(|i| i.is_object())
            {
                if i.get(DIRECTIVE).and_then(Value::as_str) == Some("replace") {
                    return Ok(Value::Array(
                        items.iter().filter(|x| !x.is_object()).cloned().collect(),
                    ));
                }
                let expected = existing
                    .iter()
                    .chain(items)
                    .find(|x| !x.is_object())
                    .map_or("string", go_type);
                return Err(internal(format!(
                    "expected a {expected}, but received a map[string]interface {{}}"
                )));
            }
            for item in items {
                if !existing.contains(item) {
                    existing.push(item.clone());
                }
            }
            Ok(Value::Array(existing))
        }
        ListMerge::Keys(keys) => {
            if mode == Mode::Strategic
                && items
                    .iter()
                    .any(|i| i.get(DIRECTIVE).and_then(Value::as_str) == Some("replace"))
            {
                return Ok(Value::Array(
                    items
                        .iter()
                        .filter(|i| i.get(DIRECTIVE).and_then(Value::as_str) != Some("replace"))
                        .cloned()
                        .map(strip)
                        .collect(),
                ));
            }
            for item in items {
                let Some(m) = item.as_object() else {
                    return Err(internal(format!(
                        "expected a map[string]interface {{}}, but received a {}",
                        go_type(item)
                    )));
                };
                let id: Option<Vec<&Value>> = keys.iter().map(|k| m.get(*k)).collect();
                let Some(id) = id else {
                    if mode == Mode::Strategic {
                        return Err(internal(format!(
                            "map: {} does not contain declared merge key: {}",
                            go_string(item),
                            keys.join(",")
                        )));
                    }
                    existing.push(item.clone());
                    continue;
                };
                let pos = existing.iter().position(|e| {
                    keys.iter()
                        .zip(&id)
                        .all(|(k, v)| e.get(*k).is_some_and(|x| x == *v))
                });
                let directive = if mode == Mode::Strategic {
                    m.get(DIRECTIVE).and_then(Value::as_str)
                } else {
                    None
                };
                match (directive, pos) {
                    (Some("delete"), Some(i)) => {
                        existing.remove(i);
                    }
                    (Some("delete"), None) => {}
                    (_, Some(i)) => {
                        let old = std::mem::take(&mut existing[i]);
                        existing[i] = merge_map(old, m, item_ty, mode)?;
                    }
                    (_, None) => {
                        existing.push(merge_map(Value::Object(Map::new()), m, item_ty, mode)?)
                    }
                }
            }
            Ok(Value::Array(existing))
        }
    }
}

/// Reorders a merged list as `$setElementOrder` asks: the items the order names
/// come in its order; the others (present only on the server) keep their place
/// relative to them, as upstream's `normalizeElementOrder` does.
fn set_element_order(list: &mut Vec<Value>, order: &[Value], key: Option<&str>) {
    let id = |v: &Value| -> Value {
        match key {
            Some(k) => v.get(k).cloned().unwrap_or(Value::Null),
            None => v.clone(),
        }
    };
    let wanted: Vec<Value> = order.iter().map(&id).collect();
    let rank = |v: &Value| wanted.iter().position(|w| *w == id(v));
    let server_pos: Vec<Value> = list.iter().map(&id).collect();
    let (mut named, mut rest): (Vec<Value>, Vec<Value>) =
        list.drain(..).partition(|v| rank(v).is_some());
    named.sort_by_key(|v| rank(v));
    // Interleave: take a server-only item before a named one when it came
    // first on the server.
    let pos = |v: &Value| server_pos.iter().position(|p| *p == id(v));
    rest.reverse();
    let mut named = named.into_iter().peekable();
    while named.peek().is_some() || !rest.is_empty() {
        let take_rest = match (named.peek(), rest.last()) {
            (Some(n), Some(r)) => match (pos(n), pos(r)) {
                (Some(a), Some(b)) => b < a,
                _ => false,
            },
            (None, Some(_)) => true,
            _ => false,
        };
        if take_rest {
            list.push(rest.pop().expect("checked"));
        } else if let Some(n) = named.next() {
            list.push(n);
        }
    }
}

/// Removes `$`-directives from a value taken whole.
fn strip(mut v: Value) -> Value {
    fn rec(v: &mut Value) {
        match v {
            Value::Object(m) => {
                m.retain(|k, _| !k.starts_with('$'));
                m.values_mut().for_each(rec);
            }
            Value::Array(a) => {
                a.retain(|x| {
                    !(x.get(DIRECTIVE).is_some() && x.as_object().is_some_and(|m| m.len() == 1))
                });
                a.iter_mut().for_each(rec);
            }
            _ => {}
        }
    }
    rec(&mut v);
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod() -> Ty {
        Ty::Struct("io.k8s.api.core.v1.Pod")
    }

    fn smp(original: Value, patch: Value) -> Value {
        merge(original, &patch, pod(), Mode::Strategic).unwrap()
    }

    #[test]
    fn containers_merge_by_name() {
        let doc = json!({"spec": {"containers": [{"name": "a", "image": "a:1"}, {"name": "b", "image": "b:1"}]}});
        let doc = smp(
            doc,
            json!({"spec": {"containers": [{"name": "b", "image": "b:2"}, {"name": "c", "image": "c:1"}]}}),
        );
        assert_eq!(
            doc,
            json!({"spec": {"containers": [{"name": "a", "image": "a:1"}, {"name": "b", "image": "b:2"}, {"name": "c", "image": "c:1"}]}})
        );
        let doc = smp(
            doc,
            json!({"spec": {"containers": [{"name": "a", "$patch": "delete"}]}}),
        );
        assert_eq!(doc["spec"]["containers"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn nested_lists_follow_the_schema() {
        // env merges by name inside a container; args (no strategy) is replaced.
        let doc = json!({"spec": {"containers": [{"name": "a", "args": ["x", "y"], "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]}]}});
        let out = smp(
            doc,
            json!({"spec": {"containers": [{"name": "a", "args": ["z"], "env": [{"name": "B", "value": "3"}, {"name": "C", "value": "4"}]}]}}),
        );
        assert_eq!(
            out["spec"]["containers"][0],
            json!({"name": "a", "args": ["z"], "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "3"}, {"name": "C", "value": "4"}]})
        );
        // Ports merge by containerPort; tolerations (no strategy) are replaced.
        let doc = json!({"spec": {"tolerations": [{"key": "a"}], "containers": [{"name": "a", "ports": [{"containerPort": 80}, {"containerPort": 443}]}]}});
        let out = smp(
            doc,
            json!({"spec": {"tolerations": [{"key": "b"}], "containers": [{"name": "a", "ports": [{"containerPort": 80, "name": "http"}]}]}}),
        );
        assert_eq!(
            out["spec"]["containers"][0]["ports"],
            json!([{"containerPort": 80, "name": "http"}, {"containerPort": 443}])
        );
        assert_eq!(out["spec"]["tolerations"], json!([{"key": "b"}]));
    }

    #[test]
    fn nulls_delete_and_replace_directive() {
        let doc = json!({"metadata": {"labels": {"a": "1", "b": "2"}}});
        let doc = smp(doc, json!({"metadata": {"labels": {"a": null, "c": "3"}}}));
        assert_eq!(doc, json!({"metadata": {"labels": {"b": "2", "c": "3"}}}));
        let doc = smp(
            doc,
            json!({"metadata": {"labels": {"$patch": "replace", "z": "9"}}}),
        );
        assert_eq!(doc, json!({"metadata": {"labels": {"z": "9"}}}));
        let doc = smp(doc, json!({"metadata": {"labels": {"$patch": "delete"}}}));
        assert_eq!(doc, json!({"metadata": {"labels": {}}}));
        let err = merge(
            json!({}),
            &json!({"spec": {"$patch": "bogus"}}),
            pod(),
            Mode::Strategic,
        )
        .unwrap_err();
        assert_eq!(
            (err.status, err.message.as_str()),
            (500, "unknown patch type: bogus in map: map[$patch:bogus]")
        );
    }

    #[test]
    fn finalizers_merge_as_a_set_and_delete_from_primitive_list() {
        let doc = json!({"metadata": {"finalizers": ["a", "b"]}});
        let doc = smp(doc, json!({"metadata": {"finalizers": ["b", "c"]}}));
        assert_eq!(doc["metadata"]["finalizers"], json!(["a", "b", "c"]));
        let doc = smp(
            doc,
            json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["a", "c"]}}),
        );
        assert_eq!(doc["metadata"]["finalizers"], json!(["b"]));
    }

    #[test]
    fn replace_directive_inside_a_list() {
        let doc = json!({"spec": {"containers": [{"name": "a"}, {"name": "b"}]}});
        let out = smp(
            doc,
            json!({"spec": {"containers": [{"name": "c"}, {"$patch": "replace"}]}}),
        );
        assert_eq!(out["spec"]["containers"], json!([{"name": "c"}]));
    }

    #[test]
    fn retain_keys_clears_the_other_members() {
        let deployment = Ty::Struct("io.k8s.api.apps.v1.Deployment");
        let doc = json!({"spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}}});
        let out = merge(
            doc,
            &json!({"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}}),
            deployment,
            Mode::Strategic,
        )
        .unwrap();
        assert_eq!(out, json!({"spec": {"strategy": {"type": "Recreate"}}}));
        let err = merge(
            json!({}),
            &json!({"spec": {"strategy": {"$retainKeys": ["type"], "rollingUpdate": {}}}}),
            deployment,
            Mode::Strategic,
        )
        .unwrap_err();
        assert_eq!(err.status, 422);
    }

    #[test]
    fn set_element_order_reorders_and_keeps_server_only_items_in_place() {
        let doc = json!({"spec": {"containers": [{"name": "a"}, {"name": "b"}, {"name": "c"}]}});
        let out = smp(
            doc,
            json!({"spec": {"$setElementOrder/containers": [{"name": "c"}, {"name": "a"}], "containers": [{"name": "c", "image": "x"}]}}),
        );
        let names: Vec<&str> = out["spec"]["containers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        // Upstream's mergeSortedSlice: b (server only) came before c on the
        // server, so it stays before it; c and a follow in the patch's order.
        assert_eq!(names, ["b", "c", "a"]);
        let doc = json!({"metadata": {"finalizers": ["x", "y"]}});
        let out = smp(
            doc,
            json!({"metadata": {"$setElementOrder/finalizers": ["z", "x", "y"], "finalizers": ["z"]}}),
        );
        assert_eq!(out["metadata"]["finalizers"], json!(["z", "x", "y"]));
    }

    #[test]
    fn merge_key_missing_is_upstreams_internal_error() {
        let err = merge(
            json!({}),
            &json!({"spec": {"containers": [{"image": "x"}]}}),
            pod(),
            Mode::Strategic,
        )
        .unwrap_err();
        assert_eq!(err.status, 500);
        assert_eq!(
            err.message,
            "map: map[image:x] does not contain declared merge key: name"
        );
    }

    #[test]
    fn apply_mode_uses_list_types_and_atomic_structs() {
        let deployment = Ty::Struct("io.k8s.api.apps.v1.Deployment");
        let live = json!({"spec": {"selector": {"matchLabels": {"a": "1", "b": "2"}}, "template": {"spec": {"containers": [{"name": "a", "ports": [{"containerPort": 80, "protocol": "TCP"}, {"containerPort": 80, "protocol": "UDP"}]}]}}}});
        let out = merge(
            live,
            &json!({"spec": {"selector": {"matchLabels": {"a": "1"}}, "template": {"spec": {"containers": [{"name": "a", "ports": [{"containerPort": 80, "protocol": "UDP", "name": "dns"}]}]}}}}),
            deployment,
            Mode::Apply,
        )
        .unwrap();
        // The selector is atomic: replaced whole.
        assert_eq!(out["spec"]["selector"], json!({"matchLabels": {"a": "1"}}));
        // Ports are keyed by (containerPort, protocol).
        assert_eq!(
            out["spec"]["template"]["spec"]["containers"][0]["ports"],
            json!([{"containerPort": 80, "protocol": "TCP"}, {"containerPort": 80, "protocol": "UDP", "name": "dns"}])
        );
    }

    #[test]
    fn json_and_merge_patches() {
        let doc = json!({"spec": {"replicas": 1, "paused": true}});
        let ty = Ty::Struct("io.k8s.api.apps.v1.Deployment");
        let out = apply(
            "application/merge-patch+json",
            &doc,
            br#"{"spec":{"replicas":3,"paused":null}}"#,
            ty,
        )
        .unwrap();
        assert_eq!(out, json!({"spec": {"replicas": 3}}));
        let out = apply(
            "application/json-patch+json",
            &doc,
            br#"[{"op":"replace","path":"/spec/replicas","value":5}]"#,
            ty,
        )
        .unwrap();
        assert_eq!(out["spec"]["replicas"], 5);
        assert_eq!(
            apply(
                "application/json-patch+json",
                &doc,
                br#"[{"op":"test","path":"/spec/replicas","value":9}]"#,
                ty
            )
            .unwrap_err()
            .code,
            422
        );
        assert_eq!(apply("text/plain", &doc, b"{}", ty).unwrap_err().code, 415);
        assert_eq!(
            apply(
                "application/strategic-merge-patch+json",
                &doc,
                b"{}",
                Ty::Untyped
            )
            .unwrap_err()
            .code,
            415
        );
    }
}
