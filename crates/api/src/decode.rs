//! JSON request bodies decoded as upstream's strict decoder sees them: the
//! value (the last of duplicated fields wins, as in Go), and the paths of the
//! fields that appear twice in one object (`metadata.name`,
//! `spec.containers[0].image`), which `fieldValidation` reports as
//! `duplicate field "<path>"`; and the duplicate keys of YAML bodies, which
//! it reports as goyaml's `line N: key "x" already set in map` (`yaml`).

pub mod gojson;
mod yaml;

use std::collections::HashMap;
use std::fmt;

pub use yaml::duplicate_keys as yaml_duplicate_keys;

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// A decoded body and its duplicated fields, in document order.
pub struct Decoded {
    pub value: Value,
    pub duplicates: Vec<String>,
}

/// Decodes a JSON document, noting duplicated fields.
pub fn json(bytes: &[u8]) -> Result<Decoded, serde_json::Error> {
    let mut state = State::default();
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = ValueSeed(&mut state).deserialize(&mut de)?;
    de.end()?;
    Ok(Decoded {
        value,
        duplicates: state.duplicates,
    })
}

/// The position of each field path's first appearance in a JSON document, to
/// report field errors in document order as upstream does. Empty if the
/// document does not parse.
pub fn document_order(bytes: &[u8]) -> HashMap<String, usize> {
    let mut state = State {
        order: Some(HashMap::new()),
        ..State::default()
    };
    let mut de = serde_json::Deserializer::from_slice(bytes);
    match ValueSeed(&mut state).deserialize(&mut de) {
        Ok(_) => state.order.unwrap_or_default(),
        Err(_) => HashMap::new(),
    }
}

enum Segment {
    Key(String),
    Index(usize),
}

#[derive(Default)]
struct State {
    path: Vec<Segment>,
    duplicates: Vec<String>,
    order: Option<HashMap<String, usize>>,
}

impl State {
    fn path_string(&self) -> String {
        let mut out = String::new();
        for s in &self.path {
            match s {
                Segment::Key(k) => {
                    if !out.is_empty() {
                        out.push('.');
                    }
                    out.push_str(k);
                }
                Segment::Index(i) => {
                    out.push('[');
                    out.push_str(&i.to_string());
                    out.push(']');
                }
            }
        }
        out
    }
}

struct ValueSeed<'s>(&'s mut State);

impl<'de> DeserializeSeed<'de> for ValueSeed<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ValueSeed<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        self.deserialize(d)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        loop {
            self.0.path.push(Segment::Index(out.len()));
            let next = seq.next_element_seed(ValueSeed(&mut *self.0));
            self.0.path.pop();
            match next? {
                Some(v) => out.push(v),
                None => return Ok(Value::Array(out)),
            }
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            self.0.path.push(Segment::Key(key));
            let seen = match self.0.path.last() {
                Some(Segment::Key(k)) => out.contains_key(k),
                _ => false,
            };
            if seen || self.0.order.is_some() {
                let path = self.0.path_string();
                if seen {
                    self.0.duplicates.push(path.clone());
                }
                if let Some(order) = &mut self.0.order {
                    let next = order.len();
                    order.entry(path).or_insert(next);
                }
            }
            let value = map.next_value_seed(ValueSeed(&mut *self.0));
            let Some(Segment::Key(key)) = self.0.path.pop() else {
                unreachable!("pushed a key")
            };
            out.insert(key, value?);
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn duplicates_are_found_at_every_depth_and_the_last_wins() {
        let body = br#"{"metadata":{"name":"a","name":"b"},"spec":{"paused":true,"containers":[{"name":"c","image":"x","image":"y"}],"paused":false}}"#;
        let d = json(body).unwrap();
        assert_eq!(
            d.duplicates,
            ["metadata.name", "spec.containers[0].image", "spec.paused"]
        );
        assert_eq!(d.value["metadata"]["name"], "b");
        assert_eq!(d.value["spec"]["paused"], false);
        assert_eq!(d.value["spec"]["containers"][0]["image"], "y");
        assert_eq!(
            serde_json::from_slice::<Value>(body).unwrap(),
            d.value,
            "same value as serde_json"
        );
    }

    #[test]
    fn decodes_like_serde_json() {
        let body = br#"{"a":[1,-2,3.5,"s",null,true,{"b":[]}],"big":18446744073709551615}"#;
        let d = json(body).unwrap();
        assert!(d.duplicates.is_empty());
        assert_eq!(d.value, serde_json::from_slice::<Value>(body).unwrap());
        assert_eq!(d.value["a"][6], json!({"b": []}));
        assert!(json(b"{\"a\":1").is_err());
        assert!(json(b"{} x").is_err());
    }

    #[test]
    fn document_order_is_first_appearance() {
        let order = document_order(br#"{"spec":{"z":1,"a":[{"q":1}]},"metadata":{"name":"x"}}"#);
        let mut paths: Vec<(&String, &usize)> = order.iter().collect();
        paths.sort_by_key(|(_, i)| **i);
        let paths: Vec<&str> = paths.into_iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(
            paths,
            [
                "spec",
                "spec.z",
                "spec.a",
                "spec.a[0].q",
                "metadata",
                "metadata.name"
            ]
        );
    }
}
