//! Strategic merge patch, applied as upstream's `strategicpatch.StrategicMergeMapPatch`
//! applies it on the server (`mergeMap` with `IgnoreUnmatchedNulls` and
//! `MergeParallelList`): the schema gives each field's patch strategy
//! (`merge`, `replace`, `retainKeys`) and a list's merge key; the patch's
//! directives (`$patch`, `$retainKeys`, `$setElementOrder/<list>`,
//! `$deleteFromPrimitiveList/<list>`) apply wherever they appear; merged lists
//! are ordered as upstream's `normalizeElementOrder` orders them.

use serde_json::{Map, Value};

use super::{MergeError, bad_request, go_string, go_type, internal, unprocessable};
use crate::schema::{self, Ty};

const DIRECTIVE: &str = "$patch";
const RETAIN_KEYS: &str = "$retainKeys";
const SET_ORDER: &str = "$setElementOrder";
const DELETE_PRIMITIVE: &str = "$deleteFromPrimitiveList";

/// Applies `patch` to `original`, a value of type `ty`.
pub fn merge(original: Value, patch: &Value, ty: Ty) -> Result<Value, MergeError> {
    match patch {
        Value::Object(p) => merge_map(original, p.clone(), ty),
        Value::Null => Ok(original),
        other => Ok(other.clone()),
    }
}

/// A field's patch metadata: (strategy without retainKeys, merge key, element or value type).
fn field_meta(ty: Ty, name: &str) -> (&'static str, &'static str, Ty) {
    let child = schema::child(ty, name);
    match schema::field(ty, name) {
        Some(f) => {
            let strategy = f
                .patch_strategy
                .split(',')
                .find(|s| *s != "retainKeys" && !s.is_empty())
                .unwrap_or("");
            let elem = match child {
                Ty::List(item, _) => *item,
                other => other,
            };
            (strategy, f.merge_key, elem)
        }
        None => ("", "", child),
    }
}

fn merge_map(original: Value, mut patch: Map<String, Value>, ty: Ty) -> Result<Value, MergeError> {
    if let Some(directive) = patch.get(DIRECTIVE) {
        return match directive.as_str() {
            Some("replace") => {
                patch.remove(DIRECTIVE);
                Ok(Value::Object(patch))
            }
            Some("delete") => Ok(Value::Object(Map::new())),
            _ => Err(bad_patch_type(directive, &patch)),
        };
    }
    let mut out = match original {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    if let Some(retain) = patch.remove(RETAIN_KEYS) {
        let Some(keys) = retain.as_array() else {
            return Err(bad_request("invalid patch format of retainKeys"));
        };
        let listed = |k: &str| keys.iter().any(|x| x.as_str() == Some(k));
        for (k, v) in &patch {
            if v.is_null() || k.starts_with(DELETE_PRIMITIVE) || k.starts_with(SET_ORDER) {
                continue;
            }
            if !listed(k) {
                return Err(bad_request("invalid patch format of retainKeys"));
            }
        }
        out.retain(|k, _| listed(k));
    }
    let orders: Vec<String> = patch
        .keys()
        .filter(|k| k.starts_with(SET_ORDER))
        .cloned()
        .collect();
    for key in orders {
        // Gone when another directive named it as its field
        // (`$setElementOrder/$setElementOrder/x`).
        let Some(order) = patch.remove(&key) else {
            continue;
        };
        let Value::Array(order) = order else {
            return Err(internal(format!(
                "expected a []interface {{}}, but received a {}",
                go_type(&order)
            )));
        };
        let field = directive_field(&key, SET_ORDER)?;
        let (strategy, merge_key, elem) = field_meta(ty, &field);
        let original_list = match out.get(&field) {
            Some(Value::Array(a)) => Some(a.clone()),
            Some(other) => {
                return Err(internal(format!(
                    "expected a []interface {{}}, but received a {}",
                    go_type(other)
                )));
            }
            None => None,
        };
        let patch_list = match patch.remove(&field) {
            Some(Value::Array(a)) => Some(a),
            Some(other) => {
                return Err(internal(format!(
                    "expected a []interface {{}}, but received a {}",
                    go_type(&other)
                )));
            }
            None => None,
        };
        validate_element_order(patch_list.as_deref().unwrap_or(&[]), &order, merge_key)?;
        // What upstream orders by: the original list as merging left its Go
        // backing array (deletions shift items left, appended items fill the
        // freed slots) — upstream's own tests depend on it.
        let mut server_view = None;
        let merged = match (&original_list, patch_list) {
            (Some(o), None) => o.clone(),
            (None, Some(p)) => remove_directives_list(p),
            (Some(o), Some(p)) if strategy == "merge" => {
                let (merged, view) = merge_slice_viewed(o.clone(), p, merge_key, elem, false)?;
                server_view = view;
                merged
            }
            (Some(_), Some(p)) => p,
            (None, None) => continue,
        };
        let server = server_view.or(original_list).unwrap_or_default();
        let (named, server_only) = partition(merged, &order, merge_key)?;
        out.insert(
            field,
            Value::Array(normalize_element_order(
                named,
                server_only,
                &order,
                &server,
                merge_key,
            )?),
        );
    }
    for (key, value) in patch {
        let (field, delete_list) = if key.starts_with(DELETE_PRIMITIVE) {
            (directive_field(&key, DELETE_PRIMITIVE)?, true)
        } else {
            (key, false)
        };
        if value.is_null() {
            out.remove(&field);
            continue;
        }
        let existing = out.remove(&field);
        let same_kind = existing
            .as_ref()
            .is_some_and(|e| go_type(e) == go_type(&value));
        if !same_kind {
            if let Some(e) = existing
                && delete_list
            {
                out.insert(field, e);
                continue;
            }
            if delete_list {
                continue;
            }
            if let Some(v) = clean(value) {
                out.insert(field, v);
            }
            continue;
        }
        let Some(existing) = existing else {
            continue;
        };
        let (strategy, merge_key, elem) = field_meta(ty, &field);
        let merged = match (existing, value) {
            (e @ Value::Object(_), Value::Object(p)) => {
                if strategy == "replace" {
                    Value::Object(p)
                } else {
                    merge_map(e, p, schema::child(ty, &field))?
                }
            }
            (Value::Array(e), Value::Array(p)) => {
                if strategy == "merge" || delete_list {
                    Value::Array(merge_slice(e, p, merge_key, elem, delete_list)?)
                } else {
                    Value::Array(p)
                }
            }
            (_, v) => match remove_directives(v) {
                Some(v) => v,
                None => continue,
            },
        };
        out.insert(field, merged);
    }
    Ok(Value::Object(out))
}

/// The list a `$setElementOrder/<list>` or `$deleteFromPrimitiveList/<list>` key names.
fn directive_field(key: &str, prefix: &str) -> Result<String, MergeError> {
    match key.split_once('/') {
        Some((p, field)) if p == prefix => Ok(field.to_string()),
        _ if prefix == DELETE_PRIMITIVE => {
            Err(bad_request("invalid patch format of primitive list"))
        }
        _ => Err(bad_request("invalid patch format of setElementOrder list")),
    }
}

fn bad_patch_type(directive: &Value, map: &Map<String, Value>) -> MergeError {
    internal(format!(
        "unknown patch type: {} in map: {}",
        go_string(directive),
        go_string(&Value::Object(map.clone()))
    ))
}

fn no_merge_key(item: &Value, key: &str) -> MergeError {
    internal(format!(
        "map: {} does not contain declared merge key: {key}",
        go_string(item)
    ))
}

/// A value taken whole where the original has nothing (or something of
/// another kind): null fields dropped, and objects carrying `$patch` dropped.
fn clean(mut v: Value) -> Option<Value> {
    discard_nulls(&mut v);
    remove_directives(v)
}

fn discard_nulls(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|_, x| !x.is_null());
            m.values_mut().for_each(discard_nulls);
        }
        Value::Array(a) => a.iter_mut().for_each(discard_nulls),
        _ => {}
    }
}

/// Drops every object that carries `$patch` (None: the value itself is one).
fn remove_directives(v: Value) -> Option<Value> {
    match v {
        Value::Object(m) => {
            if m.contains_key(DIRECTIVE) {
                return None;
            }
            Some(Value::Object(
                m.into_iter()
                    .filter_map(|(k, x)| remove_directives(x).map(|x| (k, x)))
                    .collect(),
            ))
        }
        Value::Array(a) => Some(Value::Array(remove_directives_list(a))),
        other => Some(other),
    }
}

fn remove_directives_list(a: Vec<Value>) -> Vec<Value> {
    a.into_iter().filter_map(remove_directives).collect()
}

/// The kind shared by every element of the lists (upstream's `sliceElementType`).
fn element_kind(original: &[Value], patch: &[Value]) -> Result<&'static str, MergeError> {
    let mut kind = None;
    for v in original.iter().chain(patch) {
        let k = go_type(v);
        match kind {
            None if v.is_array() => return Err(unprocessable("lists of lists are not supported")),
            None => kind = Some(k),
            Some(prev) if prev != k => {
                return Err(internal(format!(
                    "list element types are not identical: {}",
                    go_string(&Value::Array(vec![
                        Value::Array(original.to_vec()),
                        Value::Array(patch.to_vec())
                    ]))
                )));
            }
            Some(_) => {}
        }
    }
    kind.ok_or_else(|| internal("no elements in any of the given slices"))
}

/// Merges a patch list into an original list of a field with strategy `merge`
/// (or a `$deleteFromPrimitiveList`).
fn merge_slice(
    original: Vec<Value>,
    patch: Vec<Value>,
    merge_key: &str,
    elem: Ty,
    delete_list: bool,
) -> Result<Vec<Value>, MergeError> {
    merge_slice_viewed(original, patch, merge_key, elem, delete_list).map(|(merged, _)| merged)
}

/// `merge_slice`, and the original list's backing array as Go leaves it.
fn merge_slice_viewed(
    mut original: Vec<Value>,
    patch: Vec<Value>,
    merge_key: &str,
    elem: Ty,
    delete_list: bool,
) -> Result<(Vec<Value>, Option<Vec<Value>>), MergeError> {
    if original.is_empty() && patch.is_empty() {
        return Ok((original, None));
    }
    let kind = element_kind(&original, &patch)?;
    if kind != "map[string]interface {}" {
        if delete_list {
            original.retain(|v| !patch.contains(v));
            return Ok((original, None));
        }
        let server = original.clone();
        let mut merged = original;
        for v in &patch {
            if !merged.contains(v) {
                merged.push(v.clone());
            }
        }
        let (named, server_only) = partition(merged, &patch, "")?;
        return normalize_element_order(named, server_only, &patch, &server, "").map(|m| (m, None));
    }
    if merge_key.is_empty() {
        return Err(internal("cannot merge lists without merge key".to_string()));
    }
    let mut view = original.clone();
    let mut view_len = view.len();
    let mut items = Vec::new();
    let mut replace = false;
    for item in patch {
        let Some(directive) = item.get(DIRECTIVE) else {
            items.push(item);
            continue;
        };
        match directive.as_str() {
            Some("delete") => {
                let Some(id) = item.get(merge_key) else {
                    return Err(no_merge_key(&item, merge_key));
                };
                original.retain(|o| o.get(merge_key) != Some(id));
                while let Some(i) = view[..view_len]
                    .iter()
                    .position(|o| o.get(merge_key) == Some(id))
                {
                    // Go's `append(s[:i], s[i+1:]...)`: the tail shifts left and
                    // the last slot keeps its old value.
                    view[i..view_len].rotate_left(1);
                    if i + 1 < view_len {
                        view[view_len - 1] = view[view_len - 2].clone();
                    }
                    view_len -= 1;
                }
            }
            Some("replace") => replace = true,
            Some("merge") => {
                return Err(internal(
                    "merging lists cannot yet be specified in the patch",
                ));
            }
            _ => {
                let map = item.as_object().cloned().unwrap_or_default();
                return Err(bad_patch_type(directive, &map));
            }
        }
    }
    if replace {
        return Ok((items, None));
    }
    let server = original.clone();
    let mut merged = original;
    for item in &items {
        let Some(id) = item.get(merge_key) else {
            return Err(no_merge_key(item, merge_key));
        };
        match merged.iter().position(|o| o.get(merge_key) == Some(id)) {
            Some(i) => {
                let old = std::mem::take(&mut merged[i]);
                let patch_map = item.as_object().cloned().unwrap_or_default();
                merged[i] = merge_map(old, patch_map, elem)?;
            }
            None => {
                merged.push(item.clone());
                if view_len < view.len() {
                    view[view_len] = item.clone();
                    view_len += 1;
                }
            }
        }
    }
    let (named, server_only) = partition(merged, &items, merge_key)?;
    normalize_element_order(named, server_only, &items, &server, merge_key).map(|m| (m, Some(view)))
}

/// The identity of a list item: its merge key's value, or the item itself.
fn identity<'v>(v: &'v Value, merge_key: &str) -> Option<&'v Value> {
    if merge_key.is_empty() {
        Some(v)
    } else {
        v.get(merge_key)
    }
}

fn index_in(list: &[Value], v: &Value, merge_key: &str) -> Option<usize> {
    let id = identity(v, merge_key)?;
    list.iter().position(|x| identity(x, merge_key) == Some(id))
}

/// Splits a merged list into the items `by` names and the rest.
fn partition(
    merged: Vec<Value>,
    by: &[Value],
    merge_key: &str,
) -> Result<(Vec<Value>, Vec<Value>), MergeError> {
    let mut named = Vec::new();
    let mut rest = Vec::new();
    for v in merged {
        if !merge_key.is_empty() && v.get(merge_key).is_none() {
            return Err(no_merge_key(&v, merge_key));
        }
        if index_in(by, &v, merge_key).is_some() {
            named.push(v);
        } else {
            rest.push(v);
        }
    }
    Ok((named, rest))
}

/// Upstream's `normalizeElementOrder`: the named items in the patch's order,
/// the server-only items in the server's order, interleaved so that a
/// server-only item stays before the named items that followed it on the server.
fn normalize_element_order(
    mut named: Vec<Value>,
    mut server_only: Vec<Value>,
    patch_order: &[Value],
    server_order: &[Value],
    merge_key: &str,
) -> Result<Vec<Value>, MergeError> {
    if !merge_key.is_empty() {
        for v in named
            .iter()
            .chain(patch_order)
            .chain(&server_only)
            .chain(server_order)
        {
            if v.is_object() && v.get(merge_key).is_none() {
                return Err(no_merge_key(v, merge_key));
            }
        }
    }
    let rank = |order: &[Value], v: &Value| index_in(order, v, merge_key).unwrap_or(usize::MAX);
    named.sort_by_key(|v| rank(patch_order, v));
    server_only.sort_by_key(|v| rank(server_order, v));
    let mut out = Vec::with_capacity(named.len() + server_only.len());
    let mut named = named.into_iter().peekable();
    let mut server_only = server_only.into_iter().peekable();
    loop {
        let take_server = match (server_only.peek(), named.peek()) {
            (Some(s), Some(n)) => matches!(
                (index_in(server_order, s, merge_key), index_in(server_order, n, merge_key)),
                (Some(a), Some(b)) if a < b
            ),
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => break,
        };
        let next = if take_server {
            server_only.next()
        } else {
            named.next()
        };
        out.extend(next);
    }
    Ok(out)
}

/// Upstream's check that a patch list follows its `$setElementOrder` list.
fn validate_element_order(
    patch_list: &[Value],
    order: &[Value],
    merge_key: &str,
) -> Result<(), MergeError> {
    if patch_list.is_empty() || order.is_empty() {
        return Ok(());
    }
    let items: Vec<&Value> = patch_list
        .iter()
        .filter(|v| v.get(DIRECTIVE).is_none())
        .collect();
    let (mut p, mut o) = (0, 0);
    while p < items.len() && o < order.len() {
        let same = if merge_key.is_empty() {
            items[p] == &order[o]
        } else {
            let a = items[p]
                .get(merge_key)
                .ok_or_else(|| no_merge_key(items[p], merge_key))?;
            let b = order[o]
                .get(merge_key)
                .ok_or_else(|| no_merge_key(&order[o], merge_key))?;
            a == b
        };
        if same {
            p += 1;
        }
        o += 1;
    }
    if p < items.len() {
        return Err(internal(format!(
            "The order in patch list:\n{}\n doesn't match $setElementOrder list:\n{}\n",
            go_string(&Value::Array(patch_list.to_vec())),
            go_string(&Value::Array(order.to_vec()))
        )));
    }
    Ok(())
}
