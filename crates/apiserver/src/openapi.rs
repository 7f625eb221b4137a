//! OpenAPI v3 (`/openapi/v3` and one document per group version, addressed by
//! hash), generated from the types Skiff serves: schemas from k8s-openapi's
//! JSON schemas (with upstream's descriptions), the `x-kubernetes-*` extensions
//! kubectl relies on (group-version-kind, list types, patch strategies and merge keys), and paths whose
//! operations declare the `fieldValidation` and `dryRun` parameters, so kubectl
//! sends `fieldValidation=Strict` and leaves validation to the server.
//!
//! The documents follow the registry: one per served group version, built
//! once per distinct set of resource definitions, so resources added or
//! removed while the server runs appear and go (kinds without a built-in
//! type as objects that keep unknown fields, until their definitions bring
//! schemas). The v2 document (`v2.rs`) is built from the v3 ones.
//!
//! The built-in schemas drive strict field validation (`unknown_fields`).

mod types;
pub mod v2;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, OnceLock};

use bytes::Bytes;
use k8s_openapi::schemars::generate::SchemaSettings;
use serde_json::{Map, Value, json};
use skiff_api::{ResourceDef, catalogue};

use crate::registry::Snapshot;

/// One group version's document.
pub struct Document {
    pub json: Bytes,
    pub hash: String,
    /// Component schemas by name, for validation.
    pub schemas: Map<String, Value>,
    /// The schema name of each kind.
    pub kinds: HashMap<String, String>,
}

fn hash(bytes: &[u8]) -> String {
    // FNV-1a, 64-bit, hex: stable across runs, changes with the document.
    let mut h: u64 = 0xcbf29ce484222325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x100000001b3);
    }
    format!("{h:016X}")
}

fn gv_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

/// Adds upstream's `x-kubernetes-*` extensions (from the built-in schema
/// table): group-version-kinds, and the list, map and patch extensions of the
/// properties that carry them.
fn annotate(schemas: &mut Map<String, Value>) {
    for (name, schema) in schemas.iter_mut() {
        let gvks: Vec<Value> = skiff_api::schema::kinds_of(name)
            .map(|(group, version, kind)| json!({"group": group, "version": version, "kind": kind}))
            .collect();
        if !gvks.is_empty() {
            schema["x-kubernetes-group-version-kind"] = Value::Array(gvks);
        }
        // k8s-openapi marks both as int-or-string; upstream: a Quantity is a
        // string, an IntOrString a string of format int-or-string.
        if let Some(m) = schema.as_object_mut() {
            match name.as_str() {
                "io.k8s.apimachinery.pkg.api.resource.Quantity" => {
                    m.remove("x-kubernetes-int-or-string");
                    m.insert("type".into(), json!("string"));
                }
                "io.k8s.apimachinery.pkg.util.intstr.IntOrString" => {
                    m.remove("x-kubernetes-int-or-string");
                    m.insert("type".into(), json!("string"));
                    m.insert("format".into(), json!("int-or-string"));
                }
                _ => {}
            }
        }
        // OpenAPI v3's enums (the v2 document drops them again).
        for e in skiff_api::schema::enums_of(name) {
            let Some(prop) = schema
                .get_mut("properties")
                .and_then(|p| p.get_mut(e.property))
            else {
                continue;
            };
            let target = if e.place.is_empty() {
                &mut *prop
            } else {
                &mut prop[e.place]
            };
            target["enum"] = json!(e.values);
            if !e.possible.is_empty()
                && let Some(d) = prop.get("description").and_then(Value::as_str)
            {
                prop["description"] = json!(format!("{d}\n\n{}", e.possible));
            }
        }
        let Some(def) = skiff_api::schema::def(name) else {
            continue;
        };
        if def.atomic {
            schema["x-kubernetes-map-type"] = json!("atomic");
        }
        if !def.overlay.is_empty() {
            let overlay: Value = serde_json::from_str(def.overlay).expect("generated JSON");
            merge_overlay(schema, &overlay);
            if schema.get("required").is_some_and(|r| r == &json!([])) {
                schema.as_object_mut().map(|m| m.remove("required"));
            }
        }
        for field in def.fields {
            if let Some(prop) = schema
                .get_mut("properties")
                .and_then(|p| p.get_mut(field.name))
                .and_then(Value::as_object_mut)
            {
                for (k, v) in field.extensions() {
                    prop.insert(k.to_string(), v);
                }
            }
        }
    }
}

/// Sets what `overlay` says on `schema`, recursively into objects.
fn merge_overlay(schema: &mut Value, overlay: &Value) {
    match (schema.as_object_mut(), overlay.as_object()) {
        (Some(s), Some(o)) => {
            for (k, v) in o {
                match s.get_mut(k) {
                    Some(existing) if existing.is_object() && v.is_object() => {
                        merge_overlay(existing, v)
                    }
                    _ => drop(s.insert(k.clone(), v.clone())),
                }
            }
        }
        _ => *schema = overlay.clone(),
    }
}

/// Rewrites an upstream v2 schema's references for a v3 document: `$ref`s
/// point into `components/schemas`, and a reference with a description becomes
/// upstream v3's `{"allOf": [{"$ref"}], "description"}`.
fn to_v3_refs(v: &mut Value) {
    match v {
        Value::Object(m) => {
            if let Some(Value::String(r)) = m.get("$ref") {
                let r = json!({"$ref": r.replace("#/definitions/", "#/components/schemas/")});
                if m.len() > 1 {
                    m.remove("$ref");
                    m.insert("allOf".into(), json!([r]));
                } else {
                    m.insert("$ref".into(), r["$ref"].clone());
                }
            }
            m.values_mut().for_each(to_v3_refs);
        }
        Value::Array(a) => a.iter_mut().for_each(to_v3_refs),
        _ => {}
    }
}

fn schema_ref(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

fn ref_name(schema: &Value) -> Option<String> {
    schema
        .get("$ref")?
        .as_str()?
        .rsplit('/')
        .next()
        .map(String::from)
}

fn parameters(names: &[(&str, &str)]) -> Vec<Value> {
    names
        .iter()
        .map(|(name, desc)| json!({"name": name, "in": "query", "description": desc, "schema": {"type": "string", "uniqueItems": true}}))
        .collect()
}

fn operation(
    def: &ResourceDef,
    action: &str,
    id: &str,
    schema: &Value,
    params: &[(&str, &str)],
    sub: &str,
) -> Value {
    let gvk = json!({"group": def.group, "version": def.version, "kind": def.kind});
    let content =
        json!({"application/json": {"schema": schema}, "application/yaml": {"schema": schema}});
    let mut op = json!({
        "description": format!("{action} {}{}", def.kind, if sub.is_empty() { String::new() } else { format!(" {sub}") }),
        "operationId": id,
        "tags": [if def.group.is_empty() { "core_v1".to_string() } else { format!("{}_{}", def.group.replace('.', "_"), def.version) }],
        "parameters": parameters(params),
        "responses": {"200": {"description": "OK", "content": content}, "401": {"description": "Unauthorized"}},
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": gvk,
    });
    if matches!(action, "post" | "put" | "patch") {
        let body = if action == "patch" {
            json!({"application/apply-patch+yaml": {"schema": {"type": "object"}}, "application/json-patch+json": {"schema": {"type": "object"}}, "application/merge-patch+json": {"schema": {"type": "object"}}, "application/strategic-merge-patch+json": {"schema": {"type": "object"}}})
        } else {
            json!({"*/*": {"schema": schema}})
        };
        op["requestBody"] = json!({"content": body, "required": true});
    }
    op
}

const WRITE_PARAMS: &[(&str, &str)] = &[
    (
        "dryRun",
        "When present, indicates that modifications should not be persisted.",
    ),
    (
        "fieldManager",
        "fieldManager is a name associated with the actor or entity that is making these changes.",
    ),
    (
        "fieldValidation",
        "fieldValidation instructs the server on how to handle objects in the request containing unknown or duplicate fields. Valid values are: Ignore, Warn, Strict.",
    ),
];
const LIST_PARAMS: &[(&str, &str)] = &[
    (
        "labelSelector",
        "A selector to restrict the list of returned objects by their labels.",
    ),
    (
        "fieldSelector",
        "A selector to restrict the list of returned objects by their fields.",
    ),
    (
        "limit",
        "limit is a maximum number of responses to return for a list call.",
    ),
    (
        "continue",
        "The continue option should be set when retrieving more results from the server.",
    ),
    (
        "resourceVersion",
        "resourceVersion sets a constraint on what resource versions a request may be served from.",
    ),
    (
        "resourceVersionMatch",
        "resourceVersionMatch determines how resourceVersion is applied to list calls.",
    ),
    ("watch", "Watch for changes to the described resources."),
    (
        "allowWatchBookmarks",
        "allowWatchBookmarks requests watch events with type BOOKMARK.",
    ),
    ("timeoutSeconds", "Timeout for the list/watch call."),
];

fn build(group: &str, version: &str, defs: &[&'static ResourceDef]) -> Document {
    let mut generator = SchemaSettings::openapi3().into_generator();
    let list_meta = ref_name(
        generator
            .subschema_for::<k8s_openapi::apimachinery::pkg::apis::meta::v1::ListMeta>()
            .as_value(),
    );
    let status = ref_name(
        generator
            .subschema_for::<k8s_openapi::apimachinery::pkg::apis::meta::v1::Status>()
            .as_value(),
    );
    let mut kinds: HashMap<String, String> = HashMap::new();
    let mut paths = BTreeMap::new();
    let mut extra: Vec<(String, Value)> = Vec::new();
    for def in defs.iter().copied() {
        let name = match types::schema_for(&mut generator, def.group, def.version, def.kind) {
            Some(schema) => match ref_name(schema.as_value()) {
                Some(name) => name,
                None => continue,
            },
            // A kind without a built-in type (served while the server runs):
            // any object with metadata, until its definition brings a schema.
            None => {
                let meta = ref_name(
                    generator
                        .subschema_for::<k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta>()
                        .as_value(),
                );
                let name = untyped_schema_name(def);
                extra.push((
                    name.clone(),
                    json!({
                        "type": "object",
                        "x-kubernetes-preserve-unknown-fields": true,
                        "properties": {
                            "apiVersion": {"type": "string"},
                            "kind": {"type": "string"},
                            "metadata": meta.as_deref().map(schema_ref).unwrap_or(json!({"type": "object"})),
                        },
                    }),
                ));
                name
            }
        };
        kinds.insert(def.kind.to_string(), name.clone());
        let item = schema_ref(&name);
        let list_name = format!("{name}List");
        if def.has_verb("list") {
            let list = match skiff_api::schema::list_schema(&list_name) {
                Some(text) => {
                    let mut v: Value = serde_json::from_str(text).expect("generated JSON");
                    to_v3_refs(&mut v);
                    v
                }
                None => json!({
                    "description": format!("{}List is a list of {}.", def.kind, def.kind),
                    "type": "object",
                    "required": ["items"],
                    "properties": {
                        "apiVersion": {"type": "string", "description": "APIVersion defines the versioned schema of this representation of an object."},
                        "kind": {"type": "string", "description": "Kind is a string value representing the REST resource this object represents."},
                        "items": {"type": "array", "items": schema_ref(&name)},
                        "metadata": list_meta.as_deref().map(schema_ref).unwrap_or(json!({"type": "object"})),
                    },
                    "x-kubernetes-group-version-kind": [{"group": def.group, "version": def.version, "kind": format!("{}List", def.kind)}],
                }),
            };
            extra.push((list_name.clone(), list));
        }
        let base = format!("/{}", gv_path(group, version));
        let (collection, single) = if def.namespaced {
            (
                format!("{base}/namespaces/{{namespace}}/{}", def.plural),
                format!("{base}/namespaces/{{namespace}}/{}/{{name}}", def.plural),
            )
        } else {
            (
                format!("{base}/{}", def.plural),
                format!("{base}/{}/{{name}}", def.plural),
            )
        };
        let id = format!("{}{}", def.kind, def.version);
        let mut coll = Map::new();
        let mut one = Map::new();
        for verb in def.verbs {
            match *verb {
                "list" => drop(coll.insert(
                    "get".into(),
                    operation(
                        def,
                        "list",
                        &format!("list{id}"),
                        &schema_ref(&list_name),
                        LIST_PARAMS,
                        "",
                    ),
                )),
                "create" => drop(coll.insert(
                    "post".into(),
                    operation(def, "post", &format!("create{id}"), &item, WRITE_PARAMS, ""),
                )),
                "deletecollection" => drop(coll.insert(
                    "delete".into(),
                    operation(
                        def,
                        "deletecollection",
                        &format!("deleteCollection{id}"),
                        &status.as_deref().map(schema_ref).unwrap_or(json!({})),
                        LIST_PARAMS,
                        "",
                    ),
                )),
                "get" => drop(one.insert(
                    "get".into(),
                    operation(def, "get", &format!("read{id}"), &item, &[], ""),
                )),
                "update" => drop(one.insert(
                    "put".into(),
                    operation(def, "put", &format!("replace{id}"), &item, WRITE_PARAMS, ""),
                )),
                "patch" => drop(one.insert(
                    "patch".into(),
                    operation(
                        def,
                        "patch",
                        &format!("patch{id}"),
                        &item,
                        &[
                            WRITE_PARAMS[0],
                            WRITE_PARAMS[1],
                            WRITE_PARAMS[2],
                            ("force", "Force is going to \"force\" Apply requests."),
                        ],
                        "",
                    ),
                )),
                "delete" => drop(one.insert(
                    "delete".into(),
                    operation(
                        def,
                        "delete",
                        &format!("delete{id}"),
                        &item,
                        &[
                            ("dryRun", ""),
                            ("gracePeriodSeconds", ""),
                            ("propagationPolicy", ""),
                        ],
                        "",
                    ),
                )),
                _ => {}
            }
        }
        if !coll.is_empty() {
            paths.insert(collection, Value::Object(coll));
        }
        if !one.is_empty() {
            paths.insert(single.clone(), Value::Object(one));
        }
        for sub in def.subresources {
            let sub_schema = types::schema_for(&mut generator, sub.group, sub.version, sub.kind)
                .map(|s| s.to_value())
                .unwrap_or(json!({"type": "object"}));
            let mut ops = Map::new();
            for verb in sub.verbs {
                let action = match *verb {
                    "get" => "get",
                    "update" => "put",
                    "patch" => "patch",
                    "create" => "post",
                    "delete" => "delete",
                    _ => continue,
                };
                let method = action;
                let params: &[(&str, &str)] = if matches!(action, "put" | "patch" | "post") {
                    WRITE_PARAMS
                } else {
                    &[]
                };
                ops.insert(
                    method.into(),
                    operation(
                        def,
                        action,
                        &format!("{action}{id}{}", sub.name),
                        &sub_schema,
                        params,
                        sub.name,
                    ),
                );
            }
            paths.insert(format!("{single}/{}", sub.name), Value::Object(ops));
        }
    }
    let mut schemas = generator.take_definitions(true);
    for (name, schema) in extra {
        schemas.insert(name, schema);
    }
    for def in defs {
        if let Some(name) = kinds.get(def.kind)
            && let Some(s) = schemas.get_mut(name)
        {
            s["x-kubernetes-group-version-kind"] =
                json!([{"group": def.group, "version": def.version, "kind": def.kind}]);
        }
    }
    annotate(&mut schemas);
    let doc = json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": format!("v{}.{}.0", crate::health::KUBERNETES_VERSION.0, crate::health::KUBERNETES_VERSION.1)},
        "paths": paths,
        "components": {"schemas": schemas},
    });
    let json = Bytes::from(serde_json::to_vec(&doc).expect("json"));
    let hash = hash(&json);
    let schemas = doc["components"]["schemas"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    Document {
        json,
        hash,
        schemas,
        kinds,
    }
}

/// The schema name of a kind without a built-in type, as upstream names
/// custom resources' (`com.example.v1.Widget` for `example.com/v1`).
fn untyped_schema_name(def: &ResourceDef) -> String {
    let mut parts: Vec<&str> = def.group.split('.').filter(|p| !p.is_empty()).collect();
    parts.reverse();
    parts.push(def.version);
    parts.push(def.kind);
    parts.join(".")
}

/// The identity of a set of definitions (definitions are `&'static` and
/// interned: the same set is the same pointers).
fn fingerprint(defs: &[&'static ResourceDef]) -> Vec<usize> {
    defs.iter()
        .map(|d| std::ptr::from_ref::<ResourceDef>(d) as usize)
        .collect()
}

/// The document of a group version serving `defs`, built once per
/// distinct set of definitions.
fn document_of(group: &str, version: &str, defs: &[&'static ResourceDef]) -> Arc<Document> {
    type Cache = Mutex<HashMap<String, (Vec<usize>, Arc<Document>)>>;
    static CACHE: OnceLock<Cache> = OnceLock::new();
    let path = gv_path(group, version);
    let key = fingerprint(defs);
    let cache = CACHE.get_or_init(Default::default);
    if let Some((k, doc)) = cache.lock().expect("openapi cache").get(&path)
        && *k == key
    {
        return doc.clone();
    }
    // Built outside the lock (a document takes a while); a race builds twice.
    let doc = Arc::new(build(group, version, defs));
    cache
        .lock()
        .expect("openapi cache")
        .insert(path, (key, doc.clone()));
    doc
}

/// The served group versions' document paths (`api/v1`, `apis/apps/v1`),
/// each with its group, version and definitions.
fn served(
    snapshot: &Snapshot,
) -> Vec<(
    String,
    &'static str,
    &'static str,
    Vec<&'static ResourceDef>,
)> {
    snapshot
        .groups()
        .iter()
        .flat_map(|g| {
            g.versions.iter().map(move |v| {
                (
                    gv_path(g.name, v.version),
                    g.name,
                    v.version,
                    v.resources.iter().map(|r| r.def).collect(),
                )
            })
        })
        .collect()
}

/// The document of one served group version (`api/v1`, `apis/apps/v1`).
pub fn document(snapshot: &Snapshot, path: &str) -> Option<Arc<Document>> {
    let (_, group, version, defs) = served(snapshot).into_iter().find(|(p, ..)| p == path)?;
    Some(document_of(group, version, &defs))
}

/// Every served group version's document, by path.
pub fn documents(snapshot: &Snapshot) -> Vec<(String, Arc<Document>)> {
    served(snapshot)
        .into_iter()
        .map(|(path, group, version, defs)| (path, document_of(group, version, &defs)))
        .collect()
}

/// The document of a built-in group version, as the catalogue defines it
/// (for field validation of built-in kinds).
fn builtin_document(group: &str, version: &str) -> Option<Arc<Document>> {
    let defs: Vec<&'static ResourceDef> = catalogue::builtin()
        .iter()
        .filter(|d| d.group == group && d.version == version)
        .collect();
    if defs.is_empty() {
        return None;
    }
    Some(document_of(group, version, &defs))
}

/// The `/openapi/v3` index of the served group versions.
pub fn index(snapshot: &Snapshot) -> Value {
    let paths: Map<String, Value> = documents(snapshot)
        .into_iter()
        .map(|(p, d)| {
            let url = format!("/openapi/v3/{p}?hash={}", d.hash);
            (p, json!({"serverRelativeURL": url}))
        })
        .collect();
    json!({"paths": paths})
}

/// Unknown fields of `obj` (a `kind` of the group version `group`/`version`),
/// as field paths (`spec.containers[0].imagee`), removed from `obj` (as
/// upstream's decoding drops them).
pub fn prune_unknown_fields(
    group: &str,
    version: &str,
    kind: &str,
    obj: &mut Value,
) -> Vec<String> {
    let Some(doc) = builtin_document(group, version) else {
        return Vec::new();
    };
    let Some(name) = doc.kinds.get(kind) else {
        return Vec::new();
    };
    let mut out = Unknown::default();
    walk(
        &doc.schemas,
        &schema_ref(name),
        obj,
        &mut String::new(),
        &mut out,
        0,
    );
    out.paths
}

/// The unknown fields found, reported within the bounds duplicates are
/// (every one is pruned; the first ones are named).
#[derive(Default)]
struct Unknown {
    paths: Vec<String>,
    bytes: usize,
}

impl Unknown {
    fn note(&mut self, path: &str) {
        if self.paths.len() < skiff_api::decode::MAX_REPORTED_DUPLICATES
            && self.bytes + path.len() <= skiff_api::decode::MAX_REPORTED_DUPLICATE_BYTES
        {
            self.bytes += path.len();
            self.paths.push(path.to_string());
        }
    }
}

#[cfg(test)]
fn unknown_fields(gv: &str, kind: &str, obj: &Value) -> Vec<String> {
    let (group, version) = match gv.strip_prefix("apis/") {
        Some(rest) => rest.split_once('/').unwrap(),
        None => ("", gv.trim_start_matches("api/")),
    };
    prune_unknown_fields(group, version, kind, &mut obj.clone())
}

fn walk(
    schemas: &Map<String, Value>,
    schema: &Value,
    value: &mut Value,
    path: &mut String,
    out: &mut Unknown,
    depth: usize,
) {
    if depth > 64 {
        return;
    }
    // `{"allOf": [{"$ref": ...}], "description": ...}` is a described reference.
    let schema = match schema
        .get("allOf")
        .and_then(Value::as_array)
        .filter(|a| a.len() == 1)
    {
        Some(all) => &all[0],
        None => schema,
    };
    let schema = match ref_name(schema) {
        Some(name) => match schemas.get(&name) {
            Some(s) => s,
            None => return,
        },
        None => schema,
    };
    match value {
        Value::Object(map) => {
            let props = schema.get("properties").and_then(Value::as_object);
            let additional = schema.get("additionalProperties");
            let mut unknown = Vec::new();
            for (k, v) in map.iter_mut() {
                // The path is one buffer, grown and cut: never copied per key.
                let len = path.len();
                if len > 0 {
                    path.push('.');
                }
                path.push_str(k);
                if let Some(p) = props.and_then(|p| p.get(k)) {
                    walk(schemas, p, v, path, out, depth + 1);
                } else if let Some(a) = additional.filter(|a| a.is_object()) {
                    walk(schemas, a, v, path, out, depth + 1);
                } else if props.is_some()
                    && additional.is_none()
                    && !matches!(k.as_str(), "apiVersion" | "kind")
                {
                    out.note(path);
                    unknown.push(k.clone());
                }
                path.truncate(len);
            }
            for k in unknown {
                map.remove(&k);
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                for (i, v) in items.iter_mut().enumerate() {
                    let len = path.len();
                    path.push_str(&format!("[{i}]"));
                    walk(schemas, item_schema, v, path, out, depth + 1);
                    path.truncate(len);
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_carry_kinds_and_extensions() {
        let snapshot = crate::registry::Registry::new().snapshot();
        let doc = document(&snapshot, "api/v1").unwrap();
        let pod = &doc.schemas[&doc.kinds["Pod"]];
        assert_eq!(pod["x-kubernetes-group-version-kind"][0]["kind"], "Pod");
        assert!(
            pod["description"]
                .as_str()
                .unwrap()
                .contains("Pod is a collection of containers")
        );
        let spec = &doc.schemas["io.k8s.api.core.v1.PodSpec"];
        assert_eq!(
            spec["properties"]["containers"]["x-kubernetes-patch-merge-key"],
            "name"
        );
        let v: Value = serde_json::from_slice(&doc.json).unwrap();
        let patch = &v["paths"]["/api/v1/namespaces/{namespace}/pods/{name}"]["patch"];
        assert_eq!(patch["x-kubernetes-group-version-kind"]["kind"], "Pod");
        assert!(
            patch["parameters"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["name"] == "fieldValidation")
        );
        assert!(
            index(&snapshot)["paths"]["apis/apps/v1"]["serverRelativeURL"]
                .as_str()
                .unwrap()
                .starts_with("/openapi/v3/apis/apps/v1?hash=")
        );
    }

    #[test]
    fn unknown_fields_are_found() {
        let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "labels": {"a": "b"}, "nmae": "x"},
            "spec": {"containers": [{"name": "c", "image": "i", "imagee": "typo", "resources": {"limits": {"cpu": "1"}}}]}});
        assert_eq!(
            unknown_fields("api/v1", "Pod", &pod),
            ["metadata.nmae", "spec.containers[0].imagee"]
        );
        let ok = json!({"metadata": {"name": "d"}, "spec": {"selector": {"matchLabels": {"a": "b"}}, "template": {"spec": {"containers": []}}}});
        assert!(unknown_fields("apis/apps/v1", "Deployment", &ok).is_empty());
    }
}
