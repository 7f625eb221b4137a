//! ConfigMaps and Secrets, as upstream's `ValidateConfigMap`,
//! `ValidateConfigMapUpdate`, `ValidateSecret` and `ValidateSecretUpdate`
//! (`pkg/apis/core/validation/validation.go`) check them: keys are config
//! keys, the data is at most 1 MiB, a Secret's type requires its keys, the
//! type never changes, and `immutable: true` freezes the data.
//!
//! A Secret's `stringData` is merged into `data` before upstream validates
//! it; its keys and sizes count here as the `data[<key>]` they become.

use base64::Engine;
use serde_json::{Map, Value, json};

use super::common::{config_key_problems, obj_of, sorted, str_of};
use crate::errors::Cause;

/// `core.MaxSecretSize` (ConfigMaps use the same limit).
pub const MAX_SIZE: usize = 1024 * 1024;

const IMMUTABLE_MSG: &str = "field is immutable when `immutable` is set";

fn decoded_len(v: &Value) -> usize {
    let s = v.as_str().unwrap_or("");
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .map_or(s.len(), |b| b.len())
}

fn keys(map: Option<&Map<String, Value>>, path: &str, causes: &mut Vec<Cause>) {
    for (k, _) in map.map(sorted).unwrap_or_default() {
        for msg in config_key_problems(k) {
            causes.push(Cause::invalid(format!("{path}[{k}]"), &json!(k), msg));
        }
    }
}

/// `ValidateConfigMap`.
pub fn validate_config_map(obj: &Value) -> Vec<Cause> {
    let mut causes = Vec::new();
    let (data, binary) = (obj_of(obj, "data"), obj_of(obj, "binaryData"));
    let mut total = 0;
    for (k, v) in data.map(sorted).unwrap_or_default() {
        for msg in config_key_problems(k) {
            causes.push(Cause::invalid(format!("data[{k}]"), &json!(k), msg));
        }
        if binary.is_some_and(|b| b.contains_key(k)) {
            causes.push(Cause::invalid(
                format!("data[{k}]"),
                &json!(k),
                "duplicate of key present in binaryData",
            ));
        }
        total += v.as_str().map_or(0, str::len);
    }
    keys(binary, "binaryData", &mut causes);
    total += binary.map_or(0, |b| b.values().map(decoded_len).sum());
    if total > MAX_SIZE {
        // Upstream's path is "": the error concerns the whole object.
        causes.push(Cause::too_long("", MAX_SIZE));
    }
    causes
}

fn is_immutable(obj: &Value) -> bool {
    obj.get("immutable").and_then(Value::as_bool) == Some(true)
}

/// `ValidateConfigMapUpdate`'s immutability rules.
pub fn validate_config_map_update(new: &Value, old: &Value) -> Vec<Cause> {
    let mut causes = Vec::new();
    if is_immutable(old) {
        if !is_immutable(new) {
            causes.push(Cause::forbidden("immutable", IMMUTABLE_MSG));
        }
        for f in ["data", "binaryData"] {
            if new.get(f) != old.get(f) {
                causes.push(Cause::forbidden(f, IMMUTABLE_MSG));
            }
        }
    }
    causes
}

/// A Secret's type, Opaque when unset (upstream defaults it).
fn secret_type(obj: &Value) -> &str {
    match str_of(obj, "type") {
        "" => "Opaque",
        t => t,
    }
}

/// `ValidateSecret`.
pub fn validate_secret(obj: &Value) -> Vec<Cause> {
    let mut causes = Vec::new();
    let data = obj_of(obj, "data");
    let string_data = obj_of(obj, "stringData");
    keys(data, "data", &mut causes);
    keys(string_data, "data", &mut causes);
    let total: usize = data.map_or(0, |d| d.values().map(decoded_len).sum::<usize>())
        + string_data.map_or(0, |d| {
            d.values().map(|v| v.as_str().map_or(0, str::len)).sum()
        });
    if total > MAX_SIZE {
        causes.push(Cause::too_long("data", MAX_SIZE));
    }
    let has = |k: &str| {
        data.is_some_and(|d| d.contains_key(k)) || string_data.is_some_and(|d| d.contains_key(k))
    };
    let non_empty = |k: &str| {
        data.and_then(|d| d.get(k))
            .is_some_and(|v| decoded_len(v) > 0)
            || string_data
                .and_then(|d| d.get(k))
                .and_then(Value::as_str)
                .is_some_and(|s| !s.is_empty())
    };
    match secret_type(obj) {
        "kubernetes.io/service-account-token" => {
            let name = obj
                .pointer("/metadata/annotations/kubernetes.io~1service-account.name")
                .and_then(Value::as_str)
                .unwrap_or("");
            if name.is_empty() {
                causes.push(Cause::required(
                    "metadata.annotations[kubernetes.io/service-account.name]",
                ));
            }
        }
        ty @ ("kubernetes.io/dockercfg" | "kubernetes.io/dockerconfigjson") => {
            let key = if ty == "kubernetes.io/dockercfg" {
                ".dockercfg"
            } else {
                ".dockerconfigjson"
            };
            let path = format!("data[{key}]");
            // stringData is merged over data before upstream validates.
            let content: Option<Vec<u8>> = match string_data.and_then(|d| d.get(key)) {
                Some(v) => Some(v.as_str().unwrap_or("").as_bytes().to_vec()),
                None => data.and_then(|d| d.get(key)).map(|v| {
                    use base64::Engine;
                    base64::engine::general_purpose::STANDARD
                        .decode(v.as_str().unwrap_or(""))
                        .unwrap_or_default()
                }),
            };
            match content {
                None => causes.push(Cause::required(path)),
                Some(bytes) => {
                    if let Some(e) = crate::decode::gojson::unmarshal_map_error(&bytes) {
                        causes.push(Cause::invalid(
                            path,
                            &serde_json::json!("<secret contents redacted>"),
                            e,
                        ));
                    }
                }
            }
        }
        "kubernetes.io/basic-auth" if !has("username") && !has("password") => {
            causes.push(Cause::required("data[username]"));
            causes.push(Cause::required("data[password]"));
        }
        "kubernetes.io/ssh-auth" if !non_empty("ssh-privatekey") => {
            causes.push(Cause::required("data[ssh-privatekey]"));
        }
        "kubernetes.io/tls" => {
            if !has("tls.crt") {
                causes.push(Cause::required("data[tls.crt]"));
            }
            if !has("tls.key") {
                causes.push(Cause::required("data[tls.key]"));
            }
        }
        _ => {}
    }
    causes
}

/// `ValidateSecretUpdate`'s rules: the type never changes; an immutable
/// Secret's data does not either.
pub fn validate_secret_update(new: &Value, old: &Value) -> Vec<Cause> {
    let mut causes = Vec::new();
    let (nt, ot) = (secret_type(new), secret_type(old));
    if nt != ot {
        causes.push(Cause::invalid(
            "type",
            &json!(nt),
            super::common::FIELD_IMMUTABLE,
        ));
    }
    if is_immutable(old) {
        if !is_immutable(new) {
            causes.push(Cause::forbidden("immutable", IMMUTABLE_MSG));
        }
        if new.get("data") != old.get("data") || new.get("stringData").is_some_and(|v| !v.is_null())
        {
            causes.push(Cause::forbidden("data", IMMUTABLE_MSG));
        }
    }
    causes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shown(causes: &[Cause]) -> Vec<String> {
        causes.iter().map(Cause::display).collect()
    }

    #[test]
    fn config_map_keys_and_size() {
        let cm = json!({"data": {"app.properties": "x", "bad/key": "y", "dup": "z"}, "binaryData": {"dup": "AAEC", "..": ""}});
        assert_eq!(
            shown(&validate_config_map(&cm)),
            [
                "data[bad/key]: Invalid value: \"bad/key\": a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')",
                "data[dup]: Invalid value: \"dup\": duplicate of key present in binaryData",
                "binaryData[..]: Invalid value: \"..\": must not be '..'",
            ]
        );
        let big = json!({"data": {"a": "x".repeat(MAX_SIZE), "b": "y"}});
        assert_eq!(
            shown(&validate_config_map(&big)),
            ["Too long: may not be more than 1048576 bytes"]
        );
    }

    #[test]
    fn immutable_config_maps_keep_their_data() {
        let old = json!({"immutable": true, "data": {"a": "1"}});
        let mut new = old.clone();
        assert!(validate_config_map_update(&new, &old).is_empty());
        new["data"]["a"] = json!("2");
        new["immutable"] = json!(false);
        assert_eq!(
            shown(&validate_config_map_update(&new, &old)),
            [
                "immutable: Forbidden: field is immutable when `immutable` is set",
                "data: Forbidden: field is immutable when `immutable` is set",
            ]
        );
        // Not immutable: anything goes, and it may become immutable.
        let old = json!({"data": {"a": "1"}});
        let new = json!({"immutable": true, "data": {"a": "2"}});
        assert!(validate_config_map_update(&new, &old).is_empty());
    }

    #[test]
    fn secrets() {
        let s = json!({"type": "kubernetes.io/tls", "data": {"tls.crt": "YQ==", "x y": "YQ=="}});
        assert_eq!(
            shown(&validate_secret(&s)),
            [
                "data[x y]: Invalid value: \"x y\": a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')",
                "data[tls.key]: Required value",
            ]
        );
        let s = json!({"type": "kubernetes.io/basic-auth", "stringData": {"note": "x"}});
        assert_eq!(
            shown(&validate_secret(&s)),
            [
                "data[username]: Required value",
                "data[password]: Required value"
            ]
        );
        let s = json!({"type": "kubernetes.io/service-account-token"});
        assert_eq!(
            shown(&validate_secret(&s)),
            ["metadata.annotations[kubernetes.io/service-account.name]: Required value"]
        );
        assert!(
            validate_secret(&json!({"type": "Opaque", "stringData": {"password": "s3cr3t"}}))
                .is_empty()
        );
    }

    #[test]
    fn secret_updates() {
        let old = json!({"type": "Opaque", "immutable": true, "data": {"a": "YQ=="}});
        let mut new = old.clone();
        new["type"] = json!("kubernetes.io/tls");
        new["data"]["a"] = json!("Yg==");
        assert_eq!(
            shown(&validate_secret_update(&new, &old)),
            [
                "type: Invalid value: \"kubernetes.io/tls\": field is immutable",
                "data: Forbidden: field is immutable when `immutable` is set",
            ]
        );
        // A PUT that leaves out the type keeps Opaque.
        let mut same = old.clone();
        same.as_object_mut().unwrap().remove("type");
        assert!(validate_secret_update(&same, &old).is_empty());
    }
}
