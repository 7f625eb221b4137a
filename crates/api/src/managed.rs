//! Field ownership, as upstream's structured-merge-diff does it for server-side
//! apply: `metadata.managedFields` records, per manager and operation (Apply or
//! Update), the set of fields it last set (`fieldsV1`); applies conflict with
//! other managers that own a field with another value; a manager that stops
//! applying a field it alone owned removes it.
//!
//! Field paths use upstream's element syntax: `f:<field>`, `k:{"name":"c"}` for
//! items of lists keyed by their merge keys, `v:"x"` for set members.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};

use crate::errors::{ApiError, Cause};
use crate::meta;
use crate::schema::{self, ListType, Ty};

pub type Path = Vec<String>;
pub type FieldSet = BTreeSet<Path>;

/// Top-level metadata that nobody owns.
const UNOWNED_META: &[&str] = &[
    "name",
    "namespace",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "managedFields",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "selfLink",
    "generateName",
];

fn key_element(item: &Value, keys: &[&str]) -> Option<String> {
    let mut m = Map::new();
    for k in keys {
        m.insert((*k).to_string(), key_value(item, k)?);
    }
    Some(format!("k:{}", Value::Object(m)))
}

/// Whether a list item has the key values of a `k:` path element.
fn has_key(item: &Value, key: &Map<String, Value>) -> bool {
    key.iter()
        .all(|(k, v)| key_value(item, k).as_ref() == Some(v))
}

/// The set of fields an object of type `ty` sets: leaves, atomic lists, maps
/// and structs as a whole, keyed list items themselves and their fields, set members.
pub fn field_set(obj: &Value, skip_status: bool, ty: Ty) -> FieldSet {
    from_fields_v1(&fields_v1(obj, skip_status, ty))
}

/// The fields an object of type `ty` sets, as `fieldsV1` (what a new object's
/// creator owns; `field_set` reads it as a set).
pub fn fields_v1(obj: &Value, skip_status: bool, ty: Ty) -> Value {
    let mut root = Map::new();
    if let Some(m) = obj.as_object() {
        for (k, v) in m {
            match k.as_str() {
                "apiVersion" | "kind" => {}
                "status" if skip_status => {}
                "metadata" => {
                    let meta_ty = schema::child(ty, "metadata");
                    if let Some(meta) = v.as_object() {
                        for (mk, mv) in meta {
                            if !UNOWNED_META.contains(&mk.as_str()) {
                                let node = child_node(
                                    child_node(&mut root, "f:metadata"),
                                    &format!("f:{mk}"),
                                );
                                walk(mv, meta_ty, mk, node);
                            }
                        }
                    }
                }
                _ => walk(v, ty, k, child_node(&mut root, &format!("f:{k}"))),
            }
        }
    }
    Value::Object(root)
}

fn child_node<'m>(node: &'m mut Map<String, Value>, el: &str) -> &'m mut Map<String, Value> {
    node.entry(el.to_string())
        .or_insert_with(|| Value::Object(Map::new()))
        .as_object_mut()
        .expect("fieldsV1 nodes are objects")
}

/// Adds, under `node`, the fields of `v`, the value of `field` in a value of
/// type `parent` (a leaf leaves `node` empty).
fn walk(v: &Value, parent: Ty, field: &str, node: &mut Map<String, Value>) {
    let ty = schema::child(parent, field);
    match v {
        Value::Object(m) if !m.is_empty() && !schema::is_atomic(ty) => {
            for (k, child) in m {
                walk(child, ty, k, child_node(node, &format!("f:{k}")));
            }
        }
        Value::Array(items) if !items.is_empty() => match ty {
            Ty::List(item_ty, ListType::Map(keys)) => {
                for item in items {
                    let Some(el) = key_element(item, keys) else {
                        continue;
                    };
                    let item_node = child_node(node, &el);
                    item_node.insert(".".into(), Value::Object(Map::new()));
                    if let Some(m) = item.as_object()
                        && !schema::is_atomic(*item_ty)
                    {
                        for (k, child) in m {
                            walk(child, *item_ty, k, child_node(item_node, &format!("f:{k}")));
                        }
                    }
                }
            }
            Ty::List(_, ListType::Set) => {
                for item in items {
                    child_node(node, &format!("v:{item}"));
                }
            }
            _ => {}
        },
        _ => {}
    }
}

/// The value at a path (None if absent).
pub fn get<'a>(obj: &'a Value, path: &[String]) -> Option<&'a Value> {
    let mut cur = obj;
    for el in path {
        cur = step(cur, el)?;
    }
    Some(cur)
}

fn step<'a>(cur: &'a Value, el: &str) -> Option<&'a Value> {
    if let Some(f) = el.strip_prefix("f:") {
        return cur.get(f);
    }
    if let Some(k) = el.strip_prefix("k:") {
        let key: Map<String, Value> = serde_json::from_str(k).ok()?;
        return cur.as_array()?.iter().find(|item| has_key(item, &key));
    }
    if let Some(v) = el.strip_prefix("v:") {
        let v: Value = serde_json::from_str(v).ok()?;
        return cur.as_array()?.iter().find(|x| **x == v);
    }
    None
}

/// Removes the value at a path.
pub fn remove(obj: &mut Value, path: &[String]) {
    let Some((last, parent_path)) = path.split_last() else {
        return;
    };
    let mut cur = obj;
    for el in parent_path {
        let next = if let Some(f) = el.strip_prefix("f:") {
            cur.get_mut(f)
        } else if let Some(k) = el.strip_prefix("k:") {
            let Ok(key) = serde_json::from_str::<Map<String, Value>>(k) else {
                return;
            };
            cur.as_array_mut()
                .and_then(|a| a.iter_mut().find(|item| has_key(item, &key)))
        } else {
            None
        };
        match next {
            Some(n) => cur = n,
            None => return,
        }
    }
    if let Some(f) = last.strip_prefix("f:") {
        if let Some(m) = cur.as_object_mut() {
            m.remove(f);
        }
    } else if let Some(k) = last.strip_prefix("k:") {
        if let (Ok(key), Some(a)) = (
            serde_json::from_str::<Map<String, Value>>(k),
            cur.as_array_mut(),
        ) {
            a.retain(|item| !has_key(item, &key));
        }
    } else if let Some(v) = last.strip_prefix("v:")
        && let (Ok(v), Some(a)) = (serde_json::from_str::<Value>(v), cur.as_array_mut())
    {
        a.retain(|x| *x != v);
    }
}

/// A field set as `fieldsV1` JSON.
pub fn to_fields_v1(set: &FieldSet) -> Value {
    let mut root = Map::new();
    for path in set {
        let mut cur = &mut root;
        for (i, el) in path.iter().enumerate() {
            let entry = cur.entry(el.clone()).or_insert_with(|| json!({}));
            if i + 1 == path.len() && el.starts_with("k:") {
                entry
                    .as_object_mut()
                    .expect("object")
                    .insert(".".into(), json!({}));
            }
            cur = entry.as_object_mut().expect("object");
        }
    }
    Value::Object(root)
}

/// `fieldsV1` JSON as a field set.
pub fn from_fields_v1(v: &Value) -> FieldSet {
    let mut out = FieldSet::new();
    fn rec(v: &Value, path: &mut Path, out: &mut FieldSet) {
        let Some(m) = v.as_object() else { return };
        if m.is_empty() {
            if !path.is_empty() {
                out.insert(path.clone());
            }
            return;
        }
        for (k, child) in m {
            if k == "." {
                out.insert(path.clone());
                continue;
            }
            path.push(k.clone());
            rec(child, path, out);
            path.pop();
        }
    }
    rec(v, &mut Vec::new(), &mut out);
    out
}

/// One `managedFields` entry.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    pub manager: String,
    pub operation: String,
    pub api_version: String,
    pub subresource: String,
    pub time: String,
    pub fields: FieldSet,
}

pub fn entries(obj: &Value) -> Vec<Entry> {
    meta::metadata(obj)
        .and_then(|m| m.get("managedFields"))
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .map(|e| Entry {
                    manager: e
                        .get("manager")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .into(),
                    operation: e
                        .get("operation")
                        .and_then(Value::as_str)
                        .unwrap_or("Update")
                        .into(),
                    api_version: e
                        .get("apiVersion")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .into(),
                    subresource: e
                        .get("subresource")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .into(),
                    time: e.get("time").and_then(Value::as_str).unwrap_or("").into(),
                    fields: e.get("fieldsV1").map(from_fields_v1).unwrap_or_default(),
                })
                .collect()
        })
        .unwrap_or_default()
}

pub fn set_entries(obj: &mut Value, list: &[Entry]) {
    let v: Vec<Value> = list
        .iter()
        .filter(|e| !e.fields.is_empty())
        .map(|e| {
            let mut m = json!({"manager": e.manager, "operation": e.operation, "apiVersion": e.api_version, "time": e.time, "fieldsType": "FieldsV1", "fieldsV1": to_fields_v1(&e.fields)});
            if !e.subresource.is_empty() {
                m["subresource"] = json!(e.subresource);
            }
            m
        })
        .collect();
    if v.is_empty() {
        meta::remove(obj, "managedFields");
    } else {
        meta::set(obj, "managedFields", Value::Array(v));
    }
}

/// The managedFields a client sent with an update, as upstream's field
/// manager reads them (`decodeLiveOrNew`): `[]` or `[{}]` resets them, a
/// valid list replaces the stored one; None (the stored ones stand) when
/// absent or not a valid list.
fn client_entries(new: &Value) -> Option<Vec<Entry>> {
    let list = meta::metadata(new)?.get("managedFields")?.as_array()?;
    let reset =
        list.is_empty() || (list.len() == 1 && list[0].as_object().is_some_and(|m| m.is_empty()));
    if reset {
        return Some(Vec::new());
    }
    let valid = list.iter().all(|e| {
        matches!(
            e.get("operation").and_then(Value::as_str),
            Some("Apply" | "Update")
        ) && e
            .get("apiVersion")
            .and_then(Value::as_str)
            .is_some_and(|v| !v.is_empty())
            && e.get("fieldsType").and_then(Value::as_str) == Some("FieldsV1")
            && e.get("fieldsV1").is_none_or(Value::is_object)
    });
    valid.then(|| entries(new))
}

/// Records an Update by `manager`: it now owns the fields it changed; nobody
/// else does.
pub fn record_update(
    old: Option<&Value>,
    new: &mut Value,
    manager: &str,
    api_version: &str,
    subresource: &str,
    skip_status: bool,
    ty: Ty,
) {
    let Some(old) = old else {
        // A new object: its creator owns every field it set.
        let tree = fields_v1(new, skip_status, ty);
        if tree.as_object().is_some_and(|m| !m.is_empty()) {
            let mut entry = json!({"manager": manager, "operation": "Update", "apiVersion": api_version, "time": meta::now(), "fieldsType": "FieldsV1", "fieldsV1": tree});
            if !subresource.is_empty() {
                entry["subresource"] = json!(subresource);
            }
            meta::set(new, "managedFields", json!([entry]));
        } else {
            meta::remove(new, "managedFields");
        }
        return;
    };
    let mut list = if subresource.is_empty() {
        client_entries(new).unwrap_or_else(|| entries(old))
    } else {
        // A subresource request's managedFields are never the client's.
        entries(old)
    };
    let old = Some(old);
    let before = old
        .map(|o| field_set(o, skip_status, ty))
        .unwrap_or_default();
    let after = field_set(new, skip_status, ty);
    let changed: FieldSet = after
        .iter()
        .filter(|p| !before.contains(*p) || old.and_then(|o| get(o, p)) != get(new, p))
        .cloned()
        .collect();
    // Fields that no longer exist are owned by nobody.
    for e in &mut list {
        e.fields
            .retain(|p| after.contains(p) && !changed.contains(p));
    }
    if !changed.is_empty() {
        match list.iter_mut().find(|e| {
            e.manager == manager && e.operation == "Update" && e.subresource == subresource
        }) {
            Some(e) => {
                e.fields.extend(changed);
                e.time = meta::now();
                e.api_version = api_version.into();
            }
            None => list.push(Entry {
                manager: manager.into(),
                operation: "Update".into(),
                api_version: api_version.into(),
                subresource: subresource.into(),
                time: meta::now(),
                fields: changed,
            }),
        }
    }
    set_entries(new, &list);
}

fn path_string(path: &Path) -> String {
    let mut out = String::new();
    for el in path {
        if let Some(f) = el.strip_prefix("f:") {
            out.push('.');
            out.push_str(f);
        } else if let Some(k) = el.strip_prefix("k:") {
            out.push_str(&format!(
                "[{}]",
                k.trim_start_matches('{')
                    .trim_end_matches('}')
                    .replace("\":", "=")
                    .replace('"', "")
            ));
        } else if let Some(v) = el.strip_prefix("v:") {
            out.push_str(&format!("[={v}]"));
        }
    }
    out
}

/// Merges an applied configuration into the live object, as structured-merge-diff
/// merges them: lists by their list type (map lists by their keys, sets as
/// unions, atomic lists replaced), atomic structs and maps replaced whole,
/// other maps field by field; new list items go after the live ones.
pub fn merge_applied(live: Value, config: &Value, ty: Ty) -> Value {
    let Value::Object(config) = config else {
        return config.clone();
    };
    if schema::is_atomic(ty) {
        return Value::Object(config.clone());
    }
    let mut out = match live {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    for (k, v) in config {
        if v.is_null() {
            out.remove(k);
            continue;
        }
        let child = schema::child(ty, k);
        let merged = match (out.remove(k), v) {
            (Some(existing @ Value::Object(_)), Value::Object(_)) => {
                merge_applied(existing, v, child)
            }
            (Some(Value::Array(existing)), Value::Array(items)) => {
                Value::Array(merge_applied_list(existing, items, child))
            }
            _ => v.clone(),
        };
        out.insert(k.clone(), merged);
    }
    Value::Object(out)
}

/// The identity of a list item: its key values (None without them).
type Identity = Box<dyn Fn(&Value) -> Option<Vec<Value>>>;

/// Merges applied list items into live ones as structured-merge-diff's
/// `visitListItems` does: items the configuration has come in its order, live
/// items it does not have keep their place among them.
fn merge_applied_list(live: Vec<Value>, items: &[Value], ty: Ty) -> Vec<Value> {
    let (item_ty, identity): (Ty, Identity) = match ty {
        Ty::List(item_ty, ListType::Map(keys)) => (
            *item_ty,
            Box::new(move |v: &Value| keys.iter().map(|k| key_value(v, k)).collect()),
        ),
        Ty::List(item_ty, ListType::Set) => (*item_ty, Box::new(|v: &Value| Some(vec![v.clone()]))),
        _ => return items.to_vec(),
    };
    let lhs: Vec<(Option<Vec<Value>>, Value)> =
        live.into_iter().map(|v| (identity(&v), v)).collect();
    let rhs: Vec<(Option<Vec<Value>>, &Value)> = items.iter().map(|v| (identity(v), v)).collect();
    let in_rhs = |id: &Option<Vec<Value>>| id.is_some() && rhs.iter().any(|(r, _)| r == id);
    let lhs_item = |id: &Option<Vec<Value>>| {
        lhs.iter()
            .find(|(l, _)| id.is_some() && l == id)
            .map(|(_, v)| v.clone())
    };
    let mut shared = rhs
        .iter()
        .filter(|(id, _)| id.is_some() && lhs.iter().any(|(l, _)| l == id))
        .filter_map(|(id, _)| id.clone());
    let mut next_shared = shared.next();
    let mut out = Vec::with_capacity(lhs.len().max(rhs.len()));
    let (mut l, mut r) = (0, 0);
    while l < lhs.len() || r < rhs.len() {
        if l < lhs.len() && r < rhs.len() {
            let id = &lhs[l].0;
            if id.is_some() && *id == rhs[r].0 {
                out.push(merge_applied(lhs[l].1.clone(), rhs[r].1, item_ty));
                l += 1;
                r += 1;
                next_shared = shared.next();
                continue;
            }
            if in_rhs(id) && next_shared.as_ref().is_some_and(|n| Some(n) != id.as_ref()) {
                l += 1;
                continue;
            }
        }
        if l < lhs.len() && !in_rhs(&lhs[l].0) {
            out.push(lhs[l].1.clone());
            l += 1;
            continue;
        }
        if r < rhs.len() {
            let (id, item) = &rhs[r];
            out.push(match lhs_item(id) {
                Some(live) => merge_applied(live, item, item_ty),
                None => (*item).clone(),
            });
            r += 1;
            if next_shared.is_some() && next_shared.as_ref() == id.as_ref() {
                next_shared = shared.next();
            }
        } else {
            // A live item the configuration has, but already merged.
            l += 1;
        }
    }
    out
}

/// A list-map key's value, with the defaults upstream's keys have (a port's protocol).
fn key_value(item: &Value, key: &str) -> Option<Value> {
    match item.get(key) {
        Some(v) => Some(v.clone()),
        None if key == "protocol" => Some(json!("TCP")),
        None => None,
    }
}

/// Server-side apply of `config` by `manager` onto `live` (None: the object is
/// new). Returns the merged object with its managed fields.
pub struct Apply<'a> {
    pub manager: &'a str,
    /// The API version the configuration is applied through.
    pub api_version: &'a str,
    /// Take fields other managers own (`--force-conflicts`).
    pub force: bool,
    /// The status belongs to the status subresource, not to appliers of the object.
    pub skip_status: bool,
    /// The object's type.
    pub ty: Ty,
    /// For errors: the resource's group, plural and the object's name.
    pub group: &'a str,
    pub resource: &'a str,
    pub name: &'a str,
}

pub fn apply(live: Option<&Value>, config: &Value, a: &Apply<'_>) -> Result<Value, ApiError> {
    let applied = field_set(config, a.skip_status, a.ty);
    let mut list = live.map(entries).unwrap_or_default();
    let empty = json!({});
    let live_obj = live.unwrap_or(&empty);
    // Conflicts: fields another manager owns with a different value.
    let mut conflicts: BTreeMap<(String, String), Vec<Path>> = BTreeMap::new();
    for e in list
        .iter()
        .filter(|e| !(e.manager == a.manager && e.operation == "Apply"))
    {
        for p in e.fields.intersection(&applied) {
            if p.last().is_some_and(|l| l.starts_with("k:")) {
                continue;
            }
            if get(live_obj, p) != get(config, p) {
                conflicts
                    .entry((e.manager.clone(), e.api_version.clone()))
                    .or_default()
                    .push(p.clone());
            }
        }
    }
    if !conflicts.is_empty() && !a.force {
        let total: usize = conflicts.values().map(Vec::len).sum();
        let mut causes = Vec::new();
        let mut parts = Vec::new();
        for ((m, v), paths) in &conflicts {
            for p in paths {
                causes.push(Cause {
                    reason: "FieldManagerConflict",
                    message: format!("conflict with \"{m}\" using {v}"),
                    field: path_string(p),
                });
            }
            if paths.len() == 1 {
                parts.push(format!(
                    "conflict with \"{m}\" using {v}: {}",
                    path_string(&paths[0])
                ));
            } else {
                let list: Vec<String> = paths
                    .iter()
                    .map(|p| format!("- {}", path_string(p)))
                    .collect();
                parts.push(format!(
                    "conflicts with \"{m}\" using {v}:\n{}",
                    list.join("\n")
                ));
            }
        }
        let plural = if total == 1 { "conflict" } else { "conflicts" };
        let mut err = ApiError::conflict(a.group, a.resource, a.name, "");
        err.message = format!("Apply failed with {total} {plural}: {}", parts.join("\n"));
        err.details = Some(
            json!({"name": a.name, "group": a.group, "kind": a.resource, "causes": causes.iter().map(|c| json!({"reason": c.reason, "message": c.message, "field": c.field})).collect::<Vec<_>>()}),
        );
        return Err(err);
    }
    // Forced: the others lose the conflicting fields.
    for ((m, _), paths) in &conflicts {
        for e in list.iter_mut().filter(|e| &e.manager == m) {
            for p in paths {
                e.fields.remove(p);
            }
        }
    }
    let mut merged = live_obj.clone();
    // Fields this manager applied before, no longer applies, and nobody else owns: removed.
    if let Some(prev) = list
        .iter()
        .find(|e| e.manager == a.manager && e.operation == "Apply")
    {
        let others: FieldSet = list
            .iter()
            .filter(|e| !(e.manager == a.manager && e.operation == "Apply"))
            .flat_map(|e| e.fields.iter().cloned())
            .collect();
        let mut gone: Vec<Path> = prev
            .fields
            .iter()
            .filter(|p| !applied.contains(*p) && !others.contains(*p))
            .cloned()
            .collect();
        gone.sort_by_key(|p| std::cmp::Reverse(p.len()));
        for p in gone {
            remove(&mut merged, &p);
        }
    }
    let mut cfg = config.clone();
    if let Some(m) = cfg.as_object_mut() {
        m.remove("status");
        if let Some(md) = m.get_mut("metadata").and_then(Value::as_object_mut) {
            md.remove("managedFields");
            md.remove("resourceVersion");
        }
    }
    let mut merged = merge_applied(merged, &cfg, a.ty);
    // Ownership: the applier owns what it applied; others keep the rest.
    for e in list
        .iter_mut()
        .filter(|e| !(e.manager == a.manager && e.operation == "Apply"))
    {
        e.fields
            .retain(|p| !applied.contains(p) || get(&merged, p) == get(live_obj, p));
    }
    match list
        .iter_mut()
        .find(|e| e.manager == a.manager && e.operation == "Apply")
    {
        Some(e) => {
            e.fields = applied;
            e.time = meta::now();
            e.api_version = a.api_version.into();
        }
        None => list.push(Entry {
            manager: a.manager.into(),
            operation: "Apply".into(),
            api_version: a.api_version.into(),
            subresource: String::new(),
            time: meta::now(),
            fields: applied,
        }),
    }
    set_entries(&mut merged, &list);
    Ok(merged)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cm_apply(manager: &str, force: bool) -> Apply<'_> {
        Apply {
            manager,
            api_version: "v1",
            force,
            skip_status: true,
            ty: Ty::Struct("io.k8s.api.core.v1.ConfigMap"),
            group: "",
            resource: "configmaps",
            name: "c",
        }
    }

    #[test]
    fn applied_lists_merge_in_structured_merge_diffs_order() {
        let pod = Ty::Struct("io.k8s.api.core.v1.Pod");
        let names = |v: &Value| -> Vec<String> {
            v["spec"]["containers"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["name"].as_str().unwrap().to_string())
                .collect()
        };
        let live = |names: &[&str]| json!({"spec": {"containers": names.iter().map(|n| json!({"name": n, "image": "x"})).collect::<Vec<_>>()}});
        // The configuration's order wins for its items; live-only items keep their place.
        let out = merge_applied(live(&["a", "b", "c"]), &live(&["c", "a"]), pod);
        assert_eq!(names(&out), ["b", "c", "a"]);
        let out = merge_applied(live(&["a", "b"]), &live(&["b", "a"]), pod);
        assert_eq!(names(&out), ["b", "a"]);
        let out = merge_applied(live(&["a"]), &live(&["n", "a"]), pod);
        assert_eq!(names(&out), ["n", "a"]);
        let out = merge_applied(live(&["a", "z"]), &live(&["a", "n"]), pod);
        assert_eq!(names(&out), ["a", "z", "n"]);
    }

    #[test]
    fn field_sets_follow_list_and_map_types() {
        let ty = Ty::Struct("io.k8s.api.apps.v1.Deployment");
        let obj = json!({"spec": {"selector": {"matchLabels": {"app": "x"}},
            "template": {"spec": {"tolerations": [{"key": "k"}], "containers": [{"name": "c", "args": ["a"], "ports": [{"containerPort": 53, "protocol": "UDP"}]}]}}}});
        let set = field_set(&obj, true, ty);
        let p = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Path>();
        // LabelSelector is an atomic struct: owned whole.
        assert!(set.contains(&p(&["f:spec", "f:selector"])));
        assert!(!set.iter().any(|x| x.len() > 2 && x[1] == "f:selector"));
        // Tolerations and args are atomic lists; ports are keyed by port and protocol.
        assert!(set.contains(&p(&["f:spec", "f:template", "f:spec", "f:tolerations"])));
        let c = [
            "f:spec",
            "f:template",
            "f:spec",
            "f:containers",
            "k:{\"name\":\"c\"}",
        ];
        assert!(set.contains(&p(&[&c[..], &["f:args"]].concat())));
        assert!(
            set.contains(&p(&[
                &c[..],
                &[
                    "f:ports",
                    "k:{\"containerPort\":53,\"protocol\":\"UDP\"}",
                    "f:protocol"
                ]
            ]
            .concat()))
        );
    }

    #[test]
    fn field_sets_round_trip_fields_v1() {
        let obj = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d", "labels": {"app": "x"}, "finalizers": ["a"]},
            "spec": {"replicas": 2, "template": {"spec": {"containers": [{"name": "c", "image": "i", "ports": [{"containerPort": 80}]}]}}}});
        let set = field_set(&obj, true, Ty::Struct("io.k8s.api.apps.v1.Deployment"));
        assert!(set.contains(&vec!["f:spec".to_string(), "f:replicas".to_string()]));
        assert!(set.contains(&vec![
            "f:metadata".into(),
            "f:labels".into(),
            "f:app".into()
        ]));
        assert!(set.contains(&vec![
            "f:metadata".into(),
            "f:finalizers".into(),
            "v:\"a\"".into()
        ]));
        let v1 = to_fields_v1(&set);
        assert!(
            v1["f:spec"]["f:template"]["f:spec"]["f:containers"]["k:{\"name\":\"c\"}"]["."]
                .is_object()
        );
        assert_eq!(from_fields_v1(&v1), set);
    }

    #[test]
    fn apply_conflicts_force_and_removal() {
        let first = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "1", "b": "2"}});
        let live = apply(None, &first, &cm_apply("alice", false)).unwrap();
        assert_eq!(live["data"], json!({"a": "1", "b": "2"}));
        // bob applies a different value for a field alice owns: conflict.
        let bob = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "9"}});
        let err = apply(Some(&live), &bob, &cm_apply("bob", false)).unwrap_err();
        assert_eq!(err.code, 409);
        assert_eq!(
            err.message,
            "Apply failed with 1 conflict: conflict with \"alice\" using v1: .data.a"
        );
        // Forced: bob takes the field.
        let live = apply(Some(&live), &bob, &cm_apply("bob", true)).unwrap();
        assert_eq!(live["data"]["a"], "9");
        // alice stops applying b (she alone owned it): it goes; a is bob's now and stays.
        let alice2 = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}});
        let live = apply(Some(&live), &alice2, &cm_apply("alice", false)).unwrap();
        assert_eq!(live["data"], json!({"a": "9"}));
        let managers: Vec<String> = entries(&live).into_iter().map(|e| e.manager).collect();
        assert_eq!(managers, ["bob"]);
    }
}
