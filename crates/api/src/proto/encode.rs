//! JSON objects encoded as Kubernetes protobuf (`application/vnd.kubernetes.protobuf`),
//! the inverse of the decoder: the `k8s\0` envelope around a `runtime.Unknown`
//! whose raw bytes are the object's message, fields in tag order, maps by
//! sorted key (as Go's generated marshalers write them), and apimachinery's
//! special messages from their JSON forms. Watch events are `WatchEvent`
//! messages with the enveloped object inside, framed by a 4-byte big-endian
//! length (upstream's stream serializer).

use base64::Engine;
use serde_json::Value;

use super::{Kind, MAGIC, Scalar, message, message_for, special_message};
use crate::errors::ApiError;

fn varint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn key(tag: u32, wire: u8, out: &mut Vec<u8>) {
    varint(u64::from(tag) << 3 | u64::from(wire), out);
}

fn bytes_field(tag: u32, data: &[u8], out: &mut Vec<u8>) {
    key(tag, 2, out);
    varint(data.len() as u64, out);
    out.extend_from_slice(data);
}

fn varint_field(tag: u32, v: u64, out: &mut Vec<u8>) {
    key(tag, 0, out);
    varint(v, out);
}

/// A scalar value; a value of another JSON type than the field's is left out.
fn scalar(tag: u32, kind: Scalar, v: &Value, out: &mut Vec<u8>) {
    match kind {
        Scalar::String => {
            if let Some(s) = v.as_str() {
                bytes_field(tag, s.as_bytes(), out);
            }
        }
        Scalar::Bytes => {
            if let Some(b) = v
                .as_str()
                .and_then(|s| base64::engine::general_purpose::STANDARD.decode(s).ok())
            {
                bytes_field(tag, &b, out);
            }
        }
        // Negative int32s are sign-extended to 64 bits, as Go writes them.
        Scalar::Int32 | Scalar::Int64 => {
            if let Some(i) = v.as_i64() {
                varint_field(tag, i as u64, out);
            }
        }
        Scalar::Bool => {
            if let Some(b) = v.as_bool() {
                varint_field(tag, u64::from(b), out);
            }
        }
        Scalar::Double => {
            if let Some(f) = v.as_f64() {
                key(tag, 1, out);
                out.extend_from_slice(&f.to_le_bytes());
            }
        }
        Scalar::Float => {
            if let Some(f) = v.as_f64() {
                key(tag, 5, out);
                out.extend_from_slice(&(f as f32).to_le_bytes());
            }
        }
    }
}

/// Seconds and nanoseconds of an RFC 3339 time.
fn timestamp(s: &str) -> Option<(i64, i64)> {
    let t = chrono::DateTime::parse_from_rfc3339(s).ok()?;
    Some((t.timestamp(), i64::from(t.timestamp_subsec_nanos())))
}

/// Go's `time.ParseDuration` for the forms `Duration.String()` writes.
fn duration_ns(s: &str) -> Option<i64> {
    let (neg, mut rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    if rest == "0" {
        return Some(0);
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let n = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let value: f64 = rest[..n].parse().ok()?;
        rest = &rest[n..];
        let u = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = match &rest[..u] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        total += value * unit;
        rest = &rest[u..];
    }
    let ns = total.round() as i64;
    Some(if neg { -ns } else { ns })
}

/// The body of a special message from its JSON form; None leaves it out.
fn special(short: &str, v: &Value) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    match short {
        "Time" | "MicroTime" => {
            let (secs, nanos) = timestamp(v.as_str()?)?;
            varint_field(1, secs as u64, &mut out);
            let nanos = if short == "MicroTime" { nanos } else { 0 };
            varint_field(2, nanos as u64, &mut out);
        }
        "Duration" => varint_field(1, duration_ns(v.as_str()?)? as u64, &mut out),
        "Quantity" => {
            let s = match v {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                _ => return None,
            };
            bytes_field(1, s.as_bytes(), &mut out);
        }
        "IntOrString" => match v {
            Value::String(s) => {
                varint_field(1, 1, &mut out);
                varint_field(2, 0, &mut out);
                bytes_field(3, s.as_bytes(), &mut out);
            }
            Value::Number(n) => {
                varint_field(1, 0, &mut out);
                varint_field(2, n.as_i64()? as u64, &mut out);
                bytes_field(3, b"", &mut out);
            }
            _ => return None,
        },
        // RawExtension, FieldsV1 and apiextensions' JSON carry raw JSON.
        "RawExtension" | "FieldsV1" | "Json" => {
            bytes_field(1, &serde_json::to_vec(v).ok()?, &mut out);
        }
        _ => return None,
    }
    Some(out)
}

/// The message `name` for `v`.
fn encode_message(name: &str, v: &Value, depth: usize) -> Result<Vec<u8>, ApiError> {
    if depth > 64 {
        return Err(ApiError::internal("object nested too deep for protobuf"));
    }
    if let Some(short) = special_message(name) {
        return Ok(special(short, v).unwrap_or_default());
    }
    let msg =
        message(name).ok_or_else(|| ApiError::internal(format!("no protobuf message {name}")))?;
    let mut out = Vec::new();
    let Value::Object(obj) = v else {
        return Ok(out);
    };
    let mut fields: Vec<_> = msg.fields.iter().collect();
    fields.sort_by_key(|f| f.tag);
    for field in fields {
        let Some(value) = obj.get(field.json).filter(|v| !v.is_null()) else {
            continue;
        };
        let items: Vec<&Value> = match (field.repeated, value) {
            (true, Value::Array(items)) => items.iter().collect(),
            (true, _) => continue,
            (false, v) => vec![v],
        };
        for item in items {
            match &field.kind {
                Kind::Scalar(k) => scalar(field.tag, *k, item, &mut out),
                Kind::Message(m) => {
                    if special_message(m).is_some()
                        && special(special_message(m).unwrap_or(""), item).is_none()
                    {
                        continue;
                    }
                    let body = encode_message(m, item, depth + 1)?;
                    bytes_field(field.tag, &body, &mut out);
                }
                Kind::Map(_) | Kind::MapMessage(_) => {
                    let Value::Object(map) = item else { continue };
                    let mut keys: Vec<&String> = map.keys().collect();
                    keys.sort();
                    for k in keys {
                        let mut entry = Vec::new();
                        bytes_field(1, k.as_bytes(), &mut entry);
                        match &field.kind {
                            Kind::Map(s) => scalar(2, *s, &map[k], &mut entry),
                            Kind::MapMessage(m) => {
                                let body = encode_message(m, &map[k], depth + 1)?;
                                bytes_field(2, &body, &mut entry);
                            }
                            _ => {}
                        }
                        bytes_field(field.tag, &entry, &mut out);
                    }
                }
            }
        }
    }
    Ok(out)
}

/// Whether objects of this kind have a protobuf form.
pub fn has_message(api_version: &str, kind: &str) -> bool {
    message_for(api_version, kind).is_some()
}

/// An object as a protobuf body: the envelope with its `apiVersion` and
/// `kind`, and the object's message.
pub fn encode(v: &Value) -> Result<Vec<u8>, ApiError> {
    let api_version = v.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    let kind = v.get("kind").and_then(Value::as_str).unwrap_or("");
    let name = message_for(api_version, kind)
        .ok_or_else(|| ApiError::internal(format!("no protobuf form for {api_version} {kind}")))?;
    let raw = encode_message(name, v, 0)?;
    let mut type_meta = Vec::new();
    bytes_field(1, api_version.as_bytes(), &mut type_meta);
    bytes_field(2, kind.as_bytes(), &mut type_meta);
    let mut out = MAGIC.to_vec();
    bytes_field(1, &type_meta, &mut out);
    bytes_field(2, &raw, &mut out);
    bytes_field(3, b"", &mut out);
    bytes_field(4, b"", &mut out);
    Ok(out)
}

/// One frame of a protobuf watch stream: a `WatchEvent` of `event_type` with
/// the enveloped object, after its 4-byte big-endian length.
pub fn watch_frame(event_type: &str, object: &[u8]) -> Vec<u8> {
    let mut raw = Vec::new();
    bytes_field(1, object, &mut raw);
    let mut event = Vec::new();
    bytes_field(1, event_type.as_bytes(), &mut event);
    bytes_field(2, &raw, &mut event);
    let mut out = (event.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(&event);
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::proto::decode;

    /// Objects survive a round trip through protobuf, every field shape included.
    #[test]
    fn round_trips() {
        let objects = [
            json!({"apiVersion": "v1", "kind": "ConfigMap",
                   "metadata": {"name": "c", "namespace": "ns", "labels": {"b": "2", "a": "1"},
                                "creationTimestamp": "2024-01-02T03:04:05Z", "resourceVersion": "12",
                                "managedFields": [{"manager": "m", "operation": "Update", "apiVersion": "v1",
                                                   "time": "2024-01-02T03:04:05Z", "fieldsType": "FieldsV1",
                                                   "fieldsV1": {"f:data": {"f:a": {}}}}]},
                   "data": {"a": "x"}, "binaryData": {"b": "AAEC"}, "immutable": false}),
            json!({"apiVersion": "apps/v1", "kind": "Deployment",
                   "metadata": {"name": "d", "generation": 3, "creationTimestamp": "0001-01-01T00:00:01Z"},
                   "spec": {"replicas": 0, "selector": {"matchLabels": {"app": "a"}},
                            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 1}},
                            "template": {"metadata": {"labels": {"app": "a"}},
                                         "spec": {"containers": [{"name": "c", "image": "i", "args": ["a", "b"],
                                                                  "ports": [{"containerPort": 80, "protocol": "TCP"}],
                                                                  "resources": {"limits": {"cpu": "500m", "memory": "1Gi"}}}],
                                                  "securityContext": {"runAsUser": -1}}}},
                   "status": {"replicas": 2, "conditions": [{"type": "Available", "status": "True",
                                                             "lastTransitionTime": "1969-12-31T23:59:59Z"}]}}),
            json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "l"},
                   "spec": {"holderIdentity": "h", "leaseDurationSeconds": 15, "leaseTransitions": 0,
                            "renewTime": "2024-01-02T03:04:05.123456Z"}}),
            json!({"apiVersion": "v1", "kind": "Status", "metadata": {}, "status": "Failure",
                   "message": "configmaps \"x\" not found", "reason": "NotFound",
                   "details": {"name": "x", "kind": "configmaps"}, "code": 404}),
        ];
        for obj in objects {
            let bytes = encode(&obj).unwrap();
            assert!(bytes.starts_with(MAGIC));
            assert_eq!(decode(&bytes).unwrap(), obj, "{obj}");
        }
    }

    #[test]
    fn watch_frames_and_durations() {
        let obj =
            encode(&json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "n"}}))
                .unwrap();
        let frame = watch_frame("ADDED", &obj);
        let len = u32::from_be_bytes(frame[..4].try_into().unwrap()) as usize;
        assert_eq!(len, frame.len() - 4);
        assert!(frame.windows(obj.len()).any(|w| w == obj.as_slice()));
        assert_eq!(duration_ns("1m30s"), Some(90_000_000_000));
        assert_eq!(duration_ns("1.5ms"), Some(1_500_000));
        assert_eq!(duration_ns("0s"), Some(0));
        assert_eq!(duration_ns("x"), None);
    }
}
