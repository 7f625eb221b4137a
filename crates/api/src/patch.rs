//! PATCH bodies applied to an object: JSON patch (RFC 6902), JSON merge patch
//! (RFC 7386) and strategic merge patch (`strategic`), with upstream's errors
//! and statuses.

mod strategic;

use crate::errors::StatusReason;
use serde_json::Value;

use crate::decode::Decoded;
use crate::errors::ApiError;
use crate::schema::Ty;

/// Decodes a PATCH body of the given content type for a value of type `ty`
/// (`Ty::Untyped` when the kind has no built-in schema: strategic merge patch
/// is then refused, as upstream refuses it for custom resources), noting the
/// fields it sets twice.
pub fn decode(content_type: &str, body: &[u8], ty: Ty) -> Result<Decoded, ApiError> {
    if !matches!(
        content_type,
        "application/json-patch+json"
            | "application/merge-patch+json"
            | "application/strategic-merge-patch+json"
    ) || (content_type == "application/strategic-merge-patch+json" && ty == Ty::Untyped)
    {
        return Err(ApiError::unsupported_media_type(true));
    }
    crate::decode::json(body)
        .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))
}

/// Applies a decoded patch of the given content type to `original`, a value of type `ty`.
pub fn apply(
    content_type: &str,
    original: &Value,
    patch: &Value,
    ty: Ty,
) -> Result<Value, ApiError> {
    let mut doc = original.clone();
    match content_type {
        "application/json-patch+json" => {
            let p: json_patch::Patch = serde_json::from_value(patch.clone())
                .map_err(|e| ApiError::bad_request(format!("the JSON patch is not valid: {e}")))?;
            json_patch_bounded(&mut doc, &p.0)?;
        }
        "application/merge-patch+json" => {
            if !patch.is_object() {
                return Err(ApiError::bad_request("merge patch must be a JSON object"));
            }
            json_patch::merge(&mut doc, patch);
        }
        _ => {
            if !patch.is_object() {
                return Err(ApiError::bad_request(
                    "strategic merge patch must be a JSON object",
                ));
            }
            doc = strategic::merge(doc, patch, ty).map_err(|e| match e.status {
                400 => ApiError::bad_request(e.message),
                422 => rejected(e.message),
                _ => ApiError::unknown(e.message),
            })?;
        }
    }
    // Merge patches nest no deeper than the object and the patch together,
    // but the result must read back (see MAX_DEPTH).
    if crate::decode::depth(&doc) > crate::decode::MAX_DEPTH {
        return Err(rejected(too_deep()));
    }
    Ok(doc)
}

/// Upstream's `maxJSONPatchOperations`.
pub const MAX_JSON_PATCH_OPERATIONS: usize = 10_000;
/// Upstream's `JSONPatchMaxCopyBytes` (json-patch's
/// `AccumulatedCopySizeLimit`): what `copy` operations may add, together.
pub const MAX_JSON_PATCH_COPY_BYTES: usize = 3 * 1024 * 1024;

fn too_deep() -> String {
    format!(
        "the patched object would nest deeper than {} levels",
        crate::decode::MAX_DEPTH
    )
}

/// Applies a JSON patch as upstream does, within its bounds: at most
/// [`MAX_JSON_PATCH_OPERATIONS`] operations (413), `copy` operations adding
/// at most [`MAX_JSON_PATCH_COPY_BYTES`] together (each doubling chain
/// stops there), and a result no deeper than [`crate::decode::MAX_DEPTH`]:
/// an upper bound of the document's depth is carried from operation to
/// operation, so no operation can build a value too deep to drop or encode.
fn json_patch_bounded(doc: &mut Value, ops: &[json_patch::PatchOperation]) -> Result<(), ApiError> {
    use json_patch::PatchOperation as Op;
    if ops.len() > MAX_JSON_PATCH_OPERATIONS {
        return Err(ApiError::too_large(format!(
            "The allowed maximum operations in a JSON patch is {MAX_JSON_PATCH_OPERATIONS}, got {}",
            ops.len()
        )));
    }
    let tokens = |p: &json_patch::jsonptr::Pointer| p.count();
    let mut depth = crate::decode::depth(doc);
    let mut copied = 0usize;
    for op in ops {
        let bound = match op {
            Op::Add(o) => tokens(&o.path) + crate::decode::depth(&o.value),
            Op::Replace(o) => tokens(&o.path) + crate::decode::depth(&o.value),
            Op::Move(o) => (tokens(&o.path) + depth).saturating_sub(tokens(&o.from)),
            Op::Copy(o) => {
                if let Some(v) = doc.pointer(o.from.as_str()) {
                    copied = copied.saturating_add(encoded_len(v));
                    if copied > MAX_JSON_PATCH_COPY_BYTES {
                        return Err(rejected(format!(
                            "Unable to complete the copy, the accumulated size increase of copy is {copied}, exceeding the limit {MAX_JSON_PATCH_COPY_BYTES}"
                        )));
                    }
                }
                (tokens(&o.path) + depth).saturating_sub(tokens(&o.from))
            }
            Op::Remove(_) | Op::Test(_) => 0,
        };
        depth = depth.max(bound);
        if depth > crate::decode::MAX_DEPTH {
            return Err(rejected(too_deep()));
        }
        json_patch::patch_unsafe(doc, std::slice::from_ref(op))
            .map_err(|e| rejected(e.to_string()))?;
    }
    Ok(())
}

/// The length of a value's JSON encoding, without encoding it.
fn encoded_len(v: &Value) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut c = Count(0);
    let _ = serde_json::to_writer(&mut c, v);
    c.0
}

/// Upstream's `NewGenericServerResponse(422, ...)`: a fixed message, the
/// patch engine's error as the cause.
fn rejected(message: String) -> ApiError {
    let mut e = ApiError::new(
        422,
        StatusReason::Invalid,
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

/// Applies a strategic merge patch to `original`, a value of type `ty`.
pub fn strategic_merge(original: Value, patch: &Value, ty: Ty) -> Result<Value, MergeError> {
    strategic::merge(original, patch, ty)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Cases from upstream's `patch_test.go` (mapped onto real fields:
    /// mergingList → containers, mergingIntList → finalizers, simpleMap →
    /// labels, retainKeysMap → a Deployment's strategy, retainKeysMergingList →
    /// volumes) and Pod/Deployment cases computed with a port of upstream's
    /// apply path; each with its result or upstream's error and status.
    #[test]
    fn upstream_cases() {
        let mut failures = Vec::new();
        let cases = include_str!("patch/testdata/smp.jsonl");
        for line in cases.lines().filter(|l| !l.trim().is_empty()) {
            let case: Value = serde_json::from_str(line).unwrap();
            let name = case["name"].as_str().unwrap();
            let ty = match case["type"].as_str().unwrap() {
                "io.k8s.api.apps.v1.Deployment" => Ty::Struct("io.k8s.api.apps.v1.Deployment"),
                _ => Ty::Struct("io.k8s.api.core.v1.Pod"),
            };
            let got = strategic_merge(case["original"].clone(), &case["patch"], ty);
            let ok = match (&got, case.get("result"), case.get("error")) {
                (Ok(v), Some(want), _) => v == want,
                (Err(e), _, Some(want)) => {
                    e.message == want.as_str().unwrap()
                        && u64::from(e.status) == case["status"].as_u64().unwrap()
                }
                _ => false,
            };
            if !ok {
                failures.push(format!("{name}: got {got:?}"));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
        assert!(cases.lines().count() >= 50);
    }

    /// Decodes and applies a patch body, as the API server does.
    fn apply_bytes(
        content_type: &str,
        doc: &Value,
        body: &[u8],
        ty: Ty,
    ) -> Result<Value, ApiError> {
        let patch = decode(content_type, body, ty)?;
        apply(content_type, doc, &patch.value, ty)
    }

    #[test]
    fn json_and_merge_patches() {
        let doc = json!({"spec": {"replicas": 1, "paused": true}});
        let ty = Ty::Struct("io.k8s.api.apps.v1.Deployment");
        let out = apply_bytes(
            "application/merge-patch+json",
            &doc,
            br#"{"spec":{"replicas":3,"paused":null}}"#,
            ty,
        )
        .unwrap();
        assert_eq!(out, json!({"spec": {"replicas": 3}}));
        let out = apply_bytes(
            "application/json-patch+json",
            &doc,
            br#"[{"op":"replace","path":"/spec/replicas","value":5}]"#,
            ty,
        )
        .unwrap();
        assert_eq!(out["spec"]["replicas"], 5);
        let failed = apply_bytes(
            "application/json-patch+json",
            &doc,
            br#"[{"op":"test","path":"/spec/replicas","value":9}]"#,
            ty,
        )
        .unwrap_err();
        assert_eq!(failed.code, 422);
        assert_eq!(
            failed.message,
            "the server rejected our request due to an error in our request"
        );
        assert_eq!(
            apply_bytes("text/plain", &doc, b"{}", ty).unwrap_err().code,
            415
        );
        let untyped = apply_bytes(
            "application/strategic-merge-patch+json",
            &doc,
            b"{}",
            Ty::Untyped,
        );
        assert_eq!(untyped.unwrap_err().code, 415);
    }

    #[test]
    fn go_strings_as_fmt_prints_them() {
        assert_eq!(
            go_string(&json!({"b": [1, "x", null], "a": {"c": true}})),
            "map[a:map[c:true] b:[1 x <nil>]]"
        );
    }

    /// Upstream's CVE-2019-1002100: each `copy` of the root doubles the
    /// document. The copies stop at 3 MiB added, the operations at 10 000.
    #[test]
    fn json_patches_are_bounded() {
        let jp = "application/json-patch+json";
        let doc = json!({"data": {"a": "x".repeat(1000)}});
        let doubling: Vec<Value> = (0..40)
            .map(|i| json!({"op": "copy", "from": "/data", "path": format!("/data/c{i}")}))
            .collect();
        let e = apply(jp, &doc, &Value::Array(doubling), Ty::Untyped).unwrap_err();
        assert_eq!(e.code, 422);
        let cause = e.details.unwrap()["causes"][0]["message"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(
            cause.starts_with(
                "Unable to complete the copy, the accumulated size increase of copy is "
            ),
            "{cause}"
        );
        assert!(cause.ends_with(", exceeding the limit 3145728"), "{cause}");
        let many = Value::Array(vec![
            json!({"op": "test", "path": "/data", "value": {}});
            10_001
        ]);
        let e = apply(jp, &doc, &many, Ty::Untyped).unwrap_err();
        assert_eq!(
            (e.code, e.message.as_str()),
            (
                413,
                "Request entity too large: The allowed maximum operations in a JSON patch is 10000, got 10001"
            )
        );
        // Values nested under one another past the bound: refused before
        // the document is built.
        let nested =
            json!({"a": {"a": {"a": {"a": {"a": {"a": {"a": {"a": {"a": {"a": {}}}}}}}}}}});
        let mut ops = vec![json!({"op": "add", "path": "/n", "value": nested})];
        let mut path = String::from("/n");
        for _ in 0..20 {
            path.push_str("/a/a/a/a/a/a/a/a/a/a");
            ops.push(json!({"op": "add", "path": format!("{path}/a"), "value": nested}));
        }
        let e = apply(jp, &doc, &Value::Array(ops), Ty::Untyped).unwrap_err();
        assert_eq!(e.code, 422);
        // A move of a subtree under another, repeated: the same bound.
        let chain = json!({"a": nested, "b": nested});
        let moves: Vec<Value> = (0..20)
            .map(|i| json!({"op": "move", "from": if i % 2 == 0 { "/a" } else { "/b" }, "path": if i % 2 == 0 { "/b/a/a/a/a/a/a/a/a/a/a/x" } else { "/a" }}))
            .collect();
        assert!(apply(jp, &chain, &Value::Array(moves), Ty::Untyped).is_err());
        // Ordinary patches apply.
        let ok = json!([{"op": "add", "path": "/data/b", "value": "y"}, {"op": "copy", "from": "/data/b", "path": "/data/c"}]);
        let out = apply(jp, &doc, &ok, Ty::Untyped).unwrap();
        assert_eq!(out["data"]["c"], "y");
    }

    /// A directive naming another directive as its field once panicked.
    #[test]
    fn strategic_directives_naming_directives_do_not_panic() {
        let ty = Ty::Struct("io.k8s.api.core.v1.Pod");
        let patch = json!({"spec": {"$setElementOrder/$setElementOrder/containers": [{"name": "a"}], "$setElementOrder/containers": [{"name": "a"}]}});
        let _ = apply(
            "application/strategic-merge-patch+json",
            &json!({"spec": {}}),
            &patch,
            ty,
        );
    }
}
