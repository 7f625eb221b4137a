//! Kubernetes protobuf bodies (`application/vnd.kubernetes.protobuf`) decoded to
//! JSON objects, so the rest of the server sees one encoding, and JSON objects
//! encoded back for clients that ask for protobuf (`encode`). kubectl 1.32 and
//! client-go send and read built-in objects this way.
//!
//! The envelope is upstream's: the magic `k8s\0`, then a `runtime.Unknown`
//! (typeMeta {apiVersion, kind}, raw = the object's protobuf). Objects decode with
//! the field table in `proto/schema.rs` (generated from the published protos),
//! mapping apimachinery's special messages (Time, MicroTime, Duration, Quantity,
//! IntOrString, RawExtension, FieldsV1) to their JSON forms.

mod encode;
mod schema;

pub use encode::{encode, has_message, watch_frame};

use std::collections::HashMap;
use std::sync::OnceLock;

use base64::Engine;
use serde_json::{Map, Value, json};

use crate::errors::ApiError;
use crate::typed::{GoStruct, GoType};

/// The prefix of every Kubernetes protobuf body.
pub const MAGIC: &[u8] = b"k8s\0";

pub struct Message {
    pub name: &'static str,
    pub fields: &'static [Field],
}

pub struct Field {
    pub tag: u32,
    pub json: &'static str,
    pub kind: Kind,
    pub repeated: bool,
}

pub enum Kind {
    Scalar(Scalar),
    Message(&'static str),
    /// map<string, scalar>
    Map(Scalar),
    /// map<string, message>
    MapMessage(&'static str),
}

#[derive(Clone, Copy)]
pub enum Scalar {
    String,
    Bytes,
    Int32,
    Int64,
    Bool,
    Double,
    Float,
}

fn index() -> &'static HashMap<String, &'static Message> {
    static INDEX: OnceLock<HashMap<String, &'static Message>> = OnceLock::new();
    INDEX.get_or_init(|| {
        schema::MESSAGES
            .iter()
            .map(|m| (m.name.to_lowercase(), m))
            .collect()
    })
}

fn message(name: &str) -> Option<&'static Message> {
    index().get(&name.to_lowercase()).copied()
}

/// The message of a kind in an API group version.
pub fn message_for(api_version: &str, kind: &str) -> Option<&'static str> {
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    let package = match group {
        "" => format!("api::core::{version}"),
        "meta.k8s.io" => format!("apimachinery::pkg::apis::meta::{version}"),
        "apiextensions.k8s.io" => {
            format!("apiextensions_apiserver::pkg::apis::apiextensions::{version}")
        }
        "apiregistration.k8s.io" => {
            format!("kube_aggregator::pkg::apis::apiregistration::{version}")
        }
        g => format!("api::{}::{version}", g.split('.').next().unwrap_or(g)),
    };
    let found = message(&format!("{package}::{kind}")).or_else(|| {
        // DeleteOptions and friends travel under every group version.
        message(&format!("apimachinery::pkg::apis::meta::v1::{kind}"))
    });
    found.map(|m| m.name)
}

fn bad(why: impl std::fmt::Display) -> ApiError {
    ApiError::bad_request(format!("unable to decode the protobuf body: {why}"))
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn done(&self) -> bool {
        self.pos >= self.buf.len()
    }

    fn varint(&mut self) -> Result<u64, ApiError> {
        let mut out = 0u64;
        for shift in (0..64).step_by(7) {
            let b = *self
                .buf
                .get(self.pos)
                .ok_or_else(|| bad("truncated varint"))?;
            self.pos += 1;
            out |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(out);
            }
        }
        Err(bad("varint too long"))
    }

    fn bytes(&mut self) -> Result<&'a [u8], ApiError> {
        let len = self.varint()? as usize;
        let end = self
            .pos
            .checked_add(len)
            .filter(|e| *e <= self.buf.len())
            .ok_or_else(|| bad("truncated field"))?;
        let out = &self.buf[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    fn fixed(&mut self, n: usize) -> Result<&'a [u8], ApiError> {
        let end = self.pos + n;
        let out = self
            .buf
            .get(self.pos..end)
            .ok_or_else(|| bad("truncated fixed field"))?;
        self.pos = end;
        Ok(out)
    }

    /// The next field: (tag, wire type).
    fn key(&mut self) -> Result<(u32, u8), ApiError> {
        let k = self.varint()?;
        Ok(((k >> 3) as u32, (k & 7) as u8))
    }

    fn skip(&mut self, wire: u8) -> Result<(), ApiError> {
        match wire {
            0 => self.varint().map(|_| ()),
            1 => self.fixed(8).map(|_| ()),
            2 => self.bytes().map(|_| ()),
            5 => self.fixed(4).map(|_| ()),
            w => Err(bad(format!("unsupported wire type {w}"))),
        }
    }
}

/// A field value as read off the wire.
enum Raw<'a> {
    Varint(u64),
    Fixed64(&'a [u8]),
    Fixed32(&'a [u8]),
    Bytes(&'a [u8]),
}

fn read_raw<'a>(r: &mut Reader<'a>, wire: u8) -> Result<Raw<'a>, ApiError> {
    Ok(match wire {
        0 => Raw::Varint(r.varint()?),
        1 => Raw::Fixed64(r.fixed(8)?),
        2 => Raw::Bytes(r.bytes()?),
        5 => Raw::Fixed32(r.fixed(4)?),
        w => return Err(bad(format!("unsupported wire type {w}"))),
    })
}

fn scalar(kind: Scalar, raw: Raw<'_>) -> Result<Value, ApiError> {
    Ok(match (kind, raw) {
        (Scalar::String, Raw::Bytes(b)) => {
            Value::String(String::from_utf8(b.to_vec()).map_err(|_| bad("invalid UTF-8"))?)
        }
        (Scalar::Bytes, Raw::Bytes(b)) => {
            Value::String(base64::engine::general_purpose::STANDARD.encode(b))
        }
        (Scalar::Int32, Raw::Varint(v)) => json!(v as i32),
        (Scalar::Int64, Raw::Varint(v)) => json!(v as i64),
        (Scalar::Bool, Raw::Varint(v)) => json!(v != 0),
        (Scalar::Double, Raw::Fixed64(b)) => {
            json!(f64::from_le_bytes(b.try_into().expect("8 bytes")))
        }
        (Scalar::Float, Raw::Fixed32(b)) => {
            json!(f32::from_le_bytes(b.try_into().expect("4 bytes")))
        }
        _ => return Err(bad("a field has an unexpected wire type")),
    })
}

/// Packed repeated numbers.
fn packed(kind: Scalar, bytes: &[u8]) -> Result<Vec<Value>, ApiError> {
    let mut r = Reader { buf: bytes, pos: 0 };
    let mut out = Vec::new();
    while !r.done() {
        let raw = match kind {
            Scalar::Double => Raw::Fixed64(r.fixed(8)?),
            Scalar::Float => Raw::Fixed32(r.fixed(4)?),
            _ => Raw::Varint(r.varint()?),
        };
        out.push(scalar(kind, raw)?);
    }
    Ok(out)
}

const GO_ZERO_TIME: i64 = -62_135_596_800;

/// A Time or MicroTime from its Timestamp; None when the message was empty.
fn time(stamp: Option<(i64, i64)>, micro: bool) -> Value {
    // Go marshals a zero Time as an empty Timestamp; an explicit Go zero time
    // is zero too, and JSON prints it as null.
    let Some((seconds, nanos)) = stamp.filter(|(s, n)| !(*s == GO_ZERO_TIME && *n == 0)) else {
        return Value::Null;
    };
    // Upstream's Time keeps whole seconds; MicroTime keeps microseconds.
    let nanos = if micro { nanos } else { 0 };
    let Some(t) = chrono::DateTime::from_timestamp(seconds, nanos.max(0) as u32) else {
        return Value::Null;
    };
    Value::String(if micro {
        t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
    } else {
        t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
    })
}

/// Go's `time.Duration.String()`.
fn go_duration(ns: i64) -> String {
    if ns == 0 {
        return "0s".into();
    }
    let neg = ns < 0;
    let ns = ns.unsigned_abs();
    let mut out = String::new();
    if ns < 1_000_000_000 {
        let (v, unit) = if ns < 1_000 {
            (ns as f64, "ns")
        } else if ns < 1_000_000 {
            (ns as f64 / 1e3, "µs")
        } else {
            (ns as f64 / 1e6, "ms")
        };
        out = format!("{}{unit}", trim_float(v));
    } else {
        let h = ns / 3_600_000_000_000;
        let m = (ns / 60_000_000_000) % 60;
        let s = (ns % 60_000_000_000) as f64 / 1e9;
        if h > 0 {
            out.push_str(&format!("{h}h{m}m"));
        } else if m > 0 {
            out.push_str(&format!("{m}m"));
        }
        out.push_str(&format!("{}s", trim_float(s)));
    }
    if neg { format!("-{out}") } else { out }
}

fn trim_float(v: f64) -> String {
    let s = format!("{v:.9}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// The short name of an apimachinery message with a JSON form of its own
/// (Time, MicroTime, Duration, Quantity, IntOrString, RawExtension, FieldsV1,
/// apiextensions' JSON), or None.
fn special_message(name: &str) -> Option<&str> {
    let short = name.rsplit("::").next().unwrap_or("");
    let special = name.starts_with("apimachinery::") || short == "Json";
    (special
        && matches!(
            short,
            "Time"
                | "MicroTime"
                | "Duration"
                | "Quantity"
                | "IntOrString"
                | "RawExtension"
                | "FieldsV1"
                | "Json"
        ))
    .then_some(short)
}

/// Decodes one message into its JSON form.
fn decode_message(bytes: &[u8], name: &str, depth: usize) -> Result<Value, ApiError> {
    if depth > 64 {
        return Err(bad("nesting too deep"));
    }
    let msg = message(name).ok_or_else(|| bad(format!("unknown message {name}")))?;
    let mut r = Reader { buf: bytes, pos: 0 };
    let short = msg.name.rsplit("::").next().unwrap_or("");
    let special = msg.name.starts_with("apimachinery::") || short == "Json";
    let mut obj = Map::new();
    let mut specials: HashMap<u32, Raw<'_>> = HashMap::new();
    let go = go_struct(msg.name);
    while !r.done() {
        let (tag, wire) = r.key()?;
        let Some(field) = msg.fields.iter().find(|f| f.tag == tag) else {
            r.skip(wire)?;
            continue;
        };
        let raw = read_raw(&mut r, wire)?;
        if special_message(msg.name).is_some() {
            specials.insert(tag, raw);
            continue;
        }
        let value = match &field.kind {
            Kind::Scalar(k) => match (raw, field.repeated) {
                (Raw::Bytes(b), true) if !matches!(k, Scalar::String | Scalar::Bytes) => {
                    let items = packed(*k, b)?;
                    let list = obj
                        .entry(field.json)
                        .or_insert_with(|| Value::Array(Vec::new()));
                    if let Value::Array(a) = list {
                        a.extend(items);
                    }
                    continue;
                }
                (raw, _) => scalar(*k, raw)?,
            },
            Kind::Message(m) => match raw {
                Raw::Bytes(b) => decode_message(b, m, depth + 1)?,
                _ => return Err(bad("a message field has an unexpected wire type")),
            },
            Kind::Map(_) | Kind::MapMessage(_) => {
                let Raw::Bytes(entry) = raw else {
                    return Err(bad("a map entry has an unexpected wire type"));
                };
                let mut er = Reader { buf: entry, pos: 0 };
                let (mut key, mut val) = (String::new(), Value::Null);
                while !er.done() {
                    let (t, w) = er.key()?;
                    let raw = read_raw(&mut er, w)?;
                    match (t, &field.kind) {
                        (1, _) => {
                            key = scalar(Scalar::String, raw)?
                                .as_str()
                                .unwrap_or("")
                                .to_string()
                        }
                        (2, Kind::Map(k)) => val = scalar(*k, raw)?,
                        (2, Kind::MapMessage(m)) => match raw {
                            Raw::Bytes(b) => val = decode_message(b, m, depth + 1)?,
                            _ => return Err(bad("a map value has an unexpected wire type")),
                        },
                        _ => {}
                    }
                }
                if val.is_null() {
                    val = match &field.kind {
                        Kind::Map(Scalar::String) | Kind::Map(Scalar::Bytes) => json!(""),
                        _ => json!({}),
                    };
                }
                let map = obj
                    .entry(field.json)
                    .or_insert_with(|| Value::Object(Map::new()));
                if let Value::Object(m) = map {
                    m.insert(key, val);
                }
                continue;
            }
        };
        if field.repeated {
            let list = obj
                .entry(field.json)
                .or_insert_with(|| Value::Array(Vec::new()));
            if let Value::Array(a) = list {
                a.push(value);
            }
        } else if present(go, field.json, &value) {
            obj.insert(field.json.to_string(), value);
        }
    }
    if !specials.is_empty()
        || (special && msg.fields.is_empty())
        || matches!(
            short,
            "Time" | "MicroTime" | "Quantity" | "IntOrString" | "Duration"
        )
    {
        return special_value(short, specials);
    }
    Ok(Value::Object(obj))
}

/// The Go struct of a protobuf message (by its Go package and name).
fn go_struct(message: &str) -> Option<&'static GoStruct> {
    let (package, name) = message.rsplit_once("::")?;
    let path = [
        ("api::", "k8s.io/api/"),
        ("apimachinery::", "k8s.io/apimachinery/"),
        (
            "apiextensions_apiserver::",
            "k8s.io/apiextensions-apiserver/",
        ),
        ("kube_aggregator::", "k8s.io/kube-aggregator/"),
    ]
    .iter()
    .find_map(|(proto, go)| {
        package
            .strip_prefix(proto)
            .map(|rest| format!("{go}{}", rest.replace("::", "/")))
    })?;
    crate::typed::find_struct(&path, name)
}

/// Whether a singular field read off the wire is part of the object, as Go
/// decodes and then encodes it to JSON: Go's generated marshalers write a
/// pointer field when it is set (whatever its value: `replicas: 0`, `paused:
/// false`, `storageClassName: ""` are kept) and every other field always, which
/// JSON then leaves out when it is zero and `omitempty`.
fn present(go: Option<&'static GoStruct>, json: &str, value: &Value) -> bool {
    if value.is_null() {
        return false;
    }
    let zero = is_zero(value) || value.as_str() == Some("");
    match go.and_then(|s| s.get(json)) {
        Some(f) if matches!(f.ty, GoType::Pointer(_)) => true,
        Some(f) => !(zero && f.omitempty),
        None => !zero,
    }
}

/// Zero numbers and false.
fn is_zero(v: &Value) -> bool {
    v.as_i64() == Some(0) || v.as_bool() == Some(false)
}

fn int_of(raw: Option<&Raw<'_>>) -> i64 {
    match raw {
        Some(Raw::Varint(v)) => *v as i64,
        _ => 0,
    }
}

fn bytes_of<'a>(raw: Option<&Raw<'a>>) -> &'a [u8] {
    match raw {
        Some(Raw::Bytes(b)) => b,
        _ => &[],
    }
}

fn special_value(short: &str, f: HashMap<u32, Raw<'_>>) -> Result<Value, ApiError> {
    Ok(match short {
        "Time" | "MicroTime" => {
            let stamp = (!f.is_empty()).then(|| (int_of(f.get(&1)), int_of(f.get(&2))));
            time(stamp, short == "MicroTime")
        }
        "Duration" => Value::String(go_duration(int_of(f.get(&1)))),
        "Quantity" => Value::String(String::from_utf8_lossy(bytes_of(f.get(&1))).into_owned()),
        "IntOrString" => {
            if int_of(f.get(&1)) == 1 {
                Value::String(String::from_utf8_lossy(bytes_of(f.get(&3))).into_owned())
            } else {
                json!(int_of(f.get(&2)) as i32)
            }
        }
        // RawExtension, FieldsV1 and apiextensions' JSON carry raw JSON.
        _ => {
            let raw = bytes_of(f.get(&1));
            if raw.is_empty() {
                Value::Null
            } else {
                serde_json::from_slice(raw).map_err(|e| bad(format!("embedded JSON: {e}")))?
            }
        }
    })
}

/// Decodes a Kubernetes protobuf body into a JSON object.
pub fn decode(body: &[u8]) -> Result<Value, ApiError> {
    let rest = body
        .strip_prefix(MAGIC)
        .ok_or_else(|| bad("missing the k8s protobuf prefix"))?;
    let mut r = Reader { buf: rest, pos: 0 };
    let (mut api_version, mut kind, mut raw) = (String::new(), String::new(), &[][..]);
    while !r.done() {
        let (tag, wire) = r.key()?;
        match (tag, wire) {
            (1, 2) => {
                let mut tm = Reader {
                    buf: r.bytes()?,
                    pos: 0,
                };
                while !tm.done() {
                    let (t, w) = tm.key()?;
                    match (t, w) {
                        (1, 2) => api_version = String::from_utf8_lossy(tm.bytes()?).into_owned(),
                        (2, 2) => kind = String::from_utf8_lossy(tm.bytes()?).into_owned(),
                        (_, w) => tm.skip(w)?,
                    }
                }
            }
            (2, 2) => raw = r.bytes()?,
            (_, w) => r.skip(w)?,
        }
    }
    let name = message_for(&api_version, &kind)
        .ok_or_else(|| bad(format!("no protobuf schema for {api_version} {kind}")))?;
    let mut value = decode_message(raw, name, 0)?;
    if let Value::Object(m) = &mut value {
        if !api_version.is_empty() {
            m.insert("apiVersion".into(), json!(api_version));
        }
        if !kind.is_empty() {
            m.insert("kind".into(), json!(kind));
        }
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn varint(mut v: u64, out: &mut Vec<u8>) {
        loop {
            let b = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                out.push(b);
                return;
            }
            out.push(b | 0x80);
        }
    }

    fn field_bytes(tag: u32, data: &[u8], out: &mut Vec<u8>) {
        varint(u64::from(tag) << 3 | 2, out);
        varint(data.len() as u64, out);
        out.extend_from_slice(data);
    }

    fn field_varint(tag: u32, v: u64, out: &mut Vec<u8>) {
        varint(u64::from(tag) << 3, out);
        varint(v, out);
    }

    #[test]
    fn decodes_a_namespace_and_a_configmap() {
        // ObjectMeta{name: "demo", labels: {a: b}, creationTimestamp: zero}
        let mut meta = Vec::new();
        field_bytes(1, b"demo", &mut meta);
        let mut entry = Vec::new();
        field_bytes(1, b"a", &mut entry);
        field_bytes(2, b"b", &mut entry);
        field_bytes(11, &entry, &mut meta);
        let mut zero = Vec::new();
        field_varint(1, GO_ZERO_TIME as u64, &mut zero);
        field_bytes(8, &zero, &mut meta);
        let mut ns = Vec::new();
        field_bytes(1, &meta, &mut ns);
        let mut type_meta = Vec::new();
        field_bytes(1, b"v1", &mut type_meta);
        field_bytes(2, b"Namespace", &mut type_meta);
        let mut unknown = MAGIC.to_vec();
        field_bytes(1, &type_meta, &mut unknown);
        field_bytes(2, &ns, &mut unknown);
        let v = decode(&unknown).unwrap();
        assert_eq!(
            v,
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "demo", "labels": {"a": "b"}}})
        );
    }

    fn tag(message: &str, json: &str) -> u32 {
        super::message(message)
            .unwrap()
            .fields
            .iter()
            .find(|f| f.json == json)
            .unwrap()
            .tag
    }

    fn envelope(api_version: &str, kind: &str, object: &[u8]) -> Vec<u8> {
        let mut type_meta = Vec::new();
        field_bytes(1, api_version.as_bytes(), &mut type_meta);
        field_bytes(2, kind.as_bytes(), &mut type_meta);
        let mut unknown = MAGIC.to_vec();
        field_bytes(1, &type_meta, &mut unknown);
        field_bytes(2, object, &mut unknown);
        unknown
    }

    /// Field presence as client-go's generated marshalers write it: pointers
    /// when set (zero or not), everything else always.
    #[test]
    fn zero_values_of_pointers_are_kept() {
        let spec_msg = "api::apps::v1::DeploymentSpec";
        let mut spec = Vec::new();
        field_varint(tag(spec_msg, "replicas"), 0, &mut spec); // *int32
        field_varint(tag(spec_msg, "paused"), 0, &mut spec); // bool, omitempty
        field_varint(tag(spec_msg, "minReadySeconds"), 0, &mut spec); // int32, omitempty
        let mut meta = Vec::new();
        field_bytes(1, b"d", &mut meta);
        field_bytes(2, b"", &mut meta); // generateName: always written, omitempty
        let mut deploy = Vec::new();
        field_bytes(1, &meta, &mut deploy);
        field_bytes(2, &spec, &mut deploy);
        let v = decode(&envelope("apps/v1", "Deployment", &deploy)).unwrap();
        assert_eq!(v["spec"], json!({"replicas": 0}), "{v}");
        assert_eq!(v["metadata"], json!({"name": "d"}));

        let lease_msg = "api::coordination::v1::LeaseSpec";
        let mut lease_spec = Vec::new();
        field_varint(tag(lease_msg, "leaseTransitions"), 0, &mut lease_spec);
        let mut epoch = Vec::new();
        field_varint(1, 0, &mut epoch);
        field_bytes(tag(lease_msg, "acquireTime"), &epoch, &mut lease_spec);
        let mut lease = Vec::new();
        field_bytes(1, &meta, &mut lease);
        field_bytes(2, &lease_spec, &mut lease);
        let v = decode(&envelope("coordination.k8s.io/v1", "Lease", &lease)).unwrap();
        assert_eq!(
            v["spec"],
            json!({"leaseTransitions": 0, "acquireTime": "1970-01-01T00:00:00.000000Z"})
        );

        let port_msg = "api::core::v1::ContainerPort";
        let mut port = Vec::new();
        field_varint(tag(port_msg, "containerPort"), 0, &mut port); // int32, no omitempty
        field_bytes(tag(port_msg, "protocol"), b"", &mut port);
        let mut pvc = Vec::new();
        field_bytes(
            tag(
                "api::core::v1::PersistentVolumeClaimSpec",
                "storageClassName",
            ),
            b"",
            &mut pvc,
        );
        let claim = {
            let mut c = Vec::new();
            field_bytes(1, &meta, &mut c);
            field_bytes(2, &pvc, &mut c);
            c
        };
        let v = decode(&envelope("v1", "PersistentVolumeClaim", &claim)).unwrap();
        assert_eq!(
            v["spec"],
            json!({"storageClassName": ""}),
            "an empty *string is kept"
        );
        assert_eq!(
            super::decode_message(&port, port_msg, 0).unwrap(),
            json!({"containerPort": 0}),
            "a zero without omitempty is printed"
        );
    }

    #[test]
    fn special_messages() {
        assert_eq!(go_duration(90_000_000_000), "1m30s");
        assert_eq!(go_duration(3_600_000_000_000), "1h0m0s");
        assert_eq!(go_duration(1_500_000), "1.5ms");
        assert_eq!(time(None, false), Value::Null);
        assert_eq!(time(Some((GO_ZERO_TIME, 0)), false), Value::Null);
        assert_eq!(time(Some((0, 0)), false), json!("1970-01-01T00:00:00Z"));
        assert_eq!(
            time(Some((GO_ZERO_TIME + 1, 0)), false),
            json!("0001-01-01T00:00:01Z")
        );
        assert_eq!(
            time(Some((-86_400, 0)), false),
            json!("1969-12-31T00:00:00Z")
        );
        assert_eq!(
            time(Some((1_700_000_000, 5_000)), true),
            json!("2023-11-14T22:13:20.000005Z")
        );
        assert_eq!(
            time(Some((1_700_000_000, 0)), false),
            json!("2023-11-14T22:13:20Z")
        );
        assert!(message_for("apps/v1", "Deployment").is_some());
        assert!(message_for("storage.k8s.io/v1", "CSIDriver").is_some());
        assert!(message_for("v1", "DeleteOptions").is_some());
        assert!(bad("x").message.contains("protobuf"));
        assert!(decode(b"not protobuf").is_err());
    }
}
