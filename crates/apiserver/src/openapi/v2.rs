//! OpenAPI v2 (`/openapi/v2`), assembled from the v3 documents, as JSON or as
//! the protobuf form (gnostic's `openapi.v2.Document`) that kubectl up to 1.28
//! asks for. Field numbers are those of gnostic's OpenAPIv2.proto.

use std::sync::{Arc, Mutex, OnceLock};

use bytes::Bytes;
use serde_json::{Map, Value, json};

use crate::registry::Snapshot;

/// The protobuf media type kubectl asks for.
pub const PROTOBUF: &str = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf";

fn rewrite_refs(v: &mut Value) {
    match v {
        Value::Object(m) => {
            // v3's described reference, `{"allOf": [{"$ref"}], "description"}`, is a
            // plain `$ref` with a description in v2.
            if let Some(Value::Array(all)) = m.get("allOf")
                && all.len() == 1
                && all[0].get("$ref").is_some()
            {
                let r = all[0]["$ref"].clone();
                m.remove("allOf");
                m.insert("$ref".into(), r);
            }
            if let Some(Value::String(r)) = m.get_mut("$ref") {
                *r = r.replace("#/components/schemas/", "#/definitions/");
            }
            // v3's `nullable: true` has no v2 form (a property named
            // `nullable`, as JSONSchemaProps has, stays).
            if m.get("nullable").is_some_and(Value::is_boolean) {
                m.remove("nullable");
            }
            // Upstream's v2 document has no enums: neither the keyword nor the
            // "Possible enum values" text of v3's descriptions.
            if m.get("enum").is_some_and(Value::is_array) {
                m.remove("enum");
            }
            if let Some(Value::String(d)) = m.get_mut("description")
                && let Some(i) = d.find("\n\nPossible enum values:")
            {
                d.truncate(i);
            }
            for child in m.values_mut() {
                rewrite_refs(child);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(rewrite_refs),
        _ => {}
    }
}

/// The v2 operation of a v3 one.
fn operation(op: &Value) -> Value {
    let mut out = Map::new();
    for k in [
        "description",
        "operationId",
        "tags",
        "x-kubernetes-action",
        "x-kubernetes-group-version-kind",
    ] {
        if let Some(v) = op.get(k) {
            out.insert(k.into(), v.clone());
        }
    }
    out.insert("consumes".into(), json!(["*/*"]));
    out.insert(
        "produces".into(),
        json!(["application/json", "application/yaml"]),
    );
    let mut params: Vec<Value> = op
        .get("parameters")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|p| json!({"name": p["name"], "in": "query", "description": p["description"], "type": "string", "uniqueItems": true}))
        .collect();
    if let Some(schema) = op
        .pointer("/requestBody/content/*~1*/schema")
        .or_else(|| op.pointer("/requestBody/content/application~1json-patch+json/schema"))
    {
        params.push(json!({"name": "body", "in": "body", "required": true, "schema": schema}));
    }
    out.insert("parameters".into(), Value::Array(params));
    let schema = op
        .pointer("/responses/200/content/application~1json/schema")
        .cloned()
        .unwrap_or(json!({}));
    out.insert("responses".into(), json!({"200": {"description": "OK", "schema": schema}, "401": {"description": "Unauthorized"}}));
    Value::Object(out)
}

/// The v2 document of a registry, in both forms with their entity tags.
pub struct V2 {
    pub json: Bytes,
    pub json_etag: String,
    document: Value,
    protobuf: OnceLock<(Bytes, String)>,
}

impl V2 {
    /// The document as gnostic's protobuf, and its entity tag (encoded on
    /// first use).
    pub fn protobuf(&self) -> &(Bytes, String) {
        self.protobuf.get_or_init(|| {
            let bytes = Bytes::from(encode_document(&self.document));
            let tag = etag_of(&bytes);
            (bytes, tag)
        })
    }
}

/// The whole v2 document of what the registry serves, built once per
/// distinct registry.
pub fn served(snapshot: &Snapshot) -> Arc<V2> {
    /// The last document, by the v3 documents' hashes it was built from.
    type Cache = Mutex<Option<(Vec<String>, Arc<V2>)>>;
    static CACHE: OnceLock<Cache> = OnceLock::new();
    let documents = super::documents(snapshot);
    // The v3 documents' hashes name their content.
    let key: Vec<String> = documents.iter().map(|(_, d)| d.hash.clone()).collect();
    let cache = CACHE.get_or_init(Default::default);
    if let Some((k, v2)) = cache.lock().expect("openapi v2 cache").as_ref()
        && *k == key
    {
        return v2.clone();
    }
    let mut paths = Map::new();
    let mut definitions = Map::new();
    for (_, doc) in &documents {
        let v3: Value = serde_json::from_slice(&doc.json).unwrap_or(Value::Null);
        for (p, item) in v3["paths"].as_object().into_iter().flatten() {
            let ops: Map<String, Value> = item
                .as_object()
                .into_iter()
                .flatten()
                .map(|(m, op)| (m.clone(), operation(op)))
                .collect();
            paths.insert(p.clone(), Value::Object(ops));
        }
        for (name, schema) in v3["components"]["schemas"]
            .as_object()
            .into_iter()
            .flatten()
        {
            definitions.insert(name.clone(), schema.clone());
        }
    }
    let mut document = json!({
        "swagger": "2.0",
        "info": {"title": "Kubernetes", "version": format!("v{}.{}.0", crate::health::KUBERNETES_VERSION.0, crate::health::KUBERNETES_VERSION.1)},
        "paths": paths,
        "definitions": definitions,
    });
    rewrite_refs(&mut document);
    let json = Bytes::from(serde_json::to_vec(&document).expect("json"));
    let v2 = Arc::new(V2 {
        json_etag: etag_of(&json),
        json,
        document,
        protobuf: OnceLock::new(),
    });
    *cache.lock().expect("openapi v2 cache") = Some((key, v2.clone()));
    v2
}

/// kube-openapi's entity tag: the quoted upper-case hex SHA-512 of the bytes.
fn etag_of(bytes: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA512, bytes);
    let hex: String = digest.as_ref().iter().map(|b| format!("{b:02X}")).collect();
    format!("\"{hex}\"")
}

// === Protobuf encoding ===

#[derive(Default)]
struct W(Vec<u8>);

impl W {
    fn varint(&mut self, mut v: u64) {
        loop {
            let b = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                self.0.push(b);
                return;
            }
            self.0.push(b | 0x80);
        }
    }
    fn key(&mut self, tag: u32, wire: u8) {
        self.varint(u64::from(tag) << 3 | u64::from(wire));
    }
    fn bytes(&mut self, tag: u32, b: &[u8]) {
        self.key(tag, 2);
        self.varint(b.len() as u64);
        self.0.extend_from_slice(b);
    }
    fn string(&mut self, tag: u32, s: &str) {
        if !s.is_empty() {
            self.bytes(tag, s.as_bytes());
        }
    }
    fn boolean(&mut self, tag: u32, b: bool) {
        if b {
            self.key(tag, 0);
            self.varint(1);
        }
    }
    fn message(&mut self, tag: u32, m: W) {
        self.bytes(tag, &m.0);
    }
}

/// gnostic's `Any`: the value as YAML text (JSON is YAML).
fn any(v: &Value) -> W {
    let mut w = W::default();
    w.string(2, &v.to_string());
    w
}

fn named_any(name: &str, v: &Value) -> W {
    let mut w = W::default();
    w.string(1, name);
    w.message(2, any(v));
    w
}

fn vendor_extensions(w: &mut W, tag: u32, obj: &Value) {
    for (k, v) in obj.as_object().into_iter().flatten() {
        if k.starts_with("x-") {
            w.message(tag, named_any(k, v));
        }
    }
}

fn str_of<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or("")
}

fn schema(s: &Value) -> W {
    let mut w = W::default();
    w.string(1, str_of(s, "$ref"));
    w.string(2, str_of(s, "format"));
    w.string(3, str_of(s, "title"));
    w.string(4, str_of(s, "description"));
    if let Some(d) = s.get("default") {
        w.message(5, any(d));
    }
    for r in s
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(r) = r.as_str() {
            w.string(19, r);
        }
    }
    for e in s
        .get("enum")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        w.message(20, any(e));
    }
    match s.get("additionalProperties") {
        Some(Value::Bool(b)) => {
            let mut a = W::default();
            a.key(2, 0);
            a.varint(u64::from(*b));
            w.message(21, a);
        }
        Some(inner @ Value::Object(_)) => {
            let mut a = W::default();
            a.message(1, schema(inner));
            w.message(21, a);
        }
        _ => {}
    }
    if let Some(t) = s.get("type").and_then(Value::as_str) {
        let mut ti = W::default();
        ti.string(1, t);
        w.message(22, ti);
    }
    if let Some(items) = s.get("items").filter(|i| i.is_object()) {
        let mut ii = W::default();
        ii.message(1, schema(items));
        w.message(23, ii);
    }
    for a in s
        .get("allOf")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        w.message(24, schema(a));
    }
    if let Some(props) = s.get("properties").and_then(Value::as_object) {
        let mut p = W::default();
        for (name, ps) in props {
            let mut ns = W::default();
            ns.string(1, name);
            ns.message(2, schema(ps));
            p.message(1, ns);
        }
        w.message(25, p);
    }
    vendor_extensions(&mut w, 31, s);
    w
}

fn parameter(p: &Value) -> W {
    let mut param = W::default();
    if str_of(p, "in") == "body" {
        let mut b = W::default();
        b.string(1, str_of(p, "description"));
        b.string(2, str_of(p, "name"));
        b.string(3, "body");
        b.boolean(
            4,
            p.get("required").and_then(Value::as_bool).unwrap_or(false),
        );
        b.message(5, schema(&p["schema"]));
        param.message(1, b);
    } else {
        let mut q = W::default();
        q.string(2, "query");
        q.string(3, str_of(p, "description"));
        q.string(4, str_of(p, "name"));
        q.string(6, str_of(p, "type"));
        q.boolean(
            20,
            p.get("uniqueItems")
                .and_then(Value::as_bool)
                .unwrap_or(false),
        );
        let mut nb = W::default();
        nb.message(3, q);
        param.message(2, nb);
    }
    let mut item = W::default();
    item.message(1, param);
    item
}

fn operation_pb(op: &Value) -> W {
    let mut w = W::default();
    for t in op
        .get("tags")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        w.string(1, t.as_str().unwrap_or(""));
    }
    w.string(3, str_of(op, "description"));
    w.string(5, str_of(op, "operationId"));
    for p in op
        .get("produces")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        w.string(6, p.as_str().unwrap_or(""));
    }
    for c in op
        .get("consumes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        w.string(7, c.as_str().unwrap_or(""));
    }
    for p in op
        .get("parameters")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        w.message(8, parameter(p));
    }
    let mut responses = W::default();
    for (code, r) in op
        .get("responses")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        let mut resp = W::default();
        resp.string(1, str_of(r, "description"));
        if let Some(s) = r
            .get("schema")
            .filter(|s| s.as_object().is_some_and(|m| !m.is_empty()))
        {
            let mut si = W::default();
            si.message(1, schema(s));
            resp.message(2, si);
        }
        let mut rv = W::default();
        rv.message(1, resp);
        let mut named = W::default();
        named.string(1, code);
        named.message(2, rv);
        responses.message(1, named);
    }
    w.message(9, responses);
    vendor_extensions(&mut w, 13, op);
    w
}

fn encode_document(doc: &Value) -> Vec<u8> {
    let mut w = W::default();
    w.string(1, "2.0");
    let mut info = W::default();
    info.string(1, str_of(&doc["info"], "title"));
    info.string(2, str_of(&doc["info"], "version"));
    w.message(2, info);
    let mut paths = W::default();
    for (p, item) in doc["paths"].as_object().into_iter().flatten() {
        let mut pi = W::default();
        for (method, tag) in [
            ("get", 2),
            ("put", 3),
            ("post", 4),
            ("delete", 5),
            ("patch", 8),
        ] {
            if let Some(op) = item.get(method) {
                pi.message(tag, operation_pb(op));
            }
        }
        let mut named = W::default();
        named.string(1, p);
        named.message(2, pi);
        paths.message(2, named);
    }
    w.message(8, paths);
    let mut defs = W::default();
    for (name, s) in doc["definitions"].as_object().into_iter().flatten() {
        let mut ns = W::default();
        ns.string(1, name);
        ns.message(2, schema(s));
        defs.message(1, ns);
    }
    w.message(9, defs);
    w.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v2_has_definitions_with_gvk_and_v2_refs() {
        let v2 = served(&crate::registry::Registry::new().snapshot());
        let doc = &v2.document;
        assert_eq!(doc["swagger"], "2.0");
        let pod = &doc["definitions"]["io.k8s.api.core.v1.Pod"];
        assert_eq!(pod["x-kubernetes-group-version-kind"][0]["kind"], "Pod");
        assert_eq!(
            pod["properties"]["spec"]["$ref"],
            "#/definitions/io.k8s.api.core.v1.PodSpec"
        );
        assert!(doc["definitions"]["io.k8s.api.apps.v1.Deployment"].is_object());
        let (pb, _) = v2.protobuf();
        assert!(pb.len() > 100_000, "{}", pb.len());
        assert_eq!(
            &pb[..5],
            &[0x0a, 0x03, b'2', b'.', b'0'],
            "swagger field first"
        );
    }
}
