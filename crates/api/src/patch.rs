//! PATCH bodies applied to an object: JSON patch (RFC 6902), JSON merge patch
//! (RFC 7386) and strategic merge patch (`strategic`), with upstream's errors
//! and statuses.

mod strategic;

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
            json_patch::patch(&mut doc, &p).map_err(|e| rejected(e.to_string()))?;
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
}
