//! Request bodies decoded as upstream's strict decoder sees them, within
//! bounds no body can push past: JSON (the value, the last of duplicated
//! fields winning as in Go, and the paths of fields that appear twice in one
//! object — `metadata.name`, `spec.containers[0].image` — which
//! `fieldValidation` reports as `duplicate field "<path>"`, the first
//! [`MAX_REPORTED_DUPLICATES`] of them); YAML (aliases counted as often as
//! they expand, up to [`MAX_YAML_EXPANDED_BYTES`]; nesting refused past
//! [`MAX_DEPTH`] before the full parse), and its duplicate keys as goyaml's
//! `line N: key "x" already set in map` (`yaml`); and the [`depth`] of any
//! value, measured without recursion. Every walk here keeps the current path
//! in one buffer, so the work is linear in the body.

pub mod gojson;
mod yaml;

use std::collections::{HashMap, HashSet};
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// A decoded body and its duplicated fields, in document order.
pub struct Decoded {
    pub value: Value,
    pub duplicates: Vec<String>,
}

/// At most this many duplicated fields are reported, as upstream's warning
/// headers stop at 4 096 runes: a body of repeated keys cannot make a report
/// bigger than itself.
pub const MAX_REPORTED_DUPLICATES: usize = 256;
/// And at most this many bytes of their paths.
pub const MAX_REPORTED_DUPLICATE_BYTES: usize = 64 * 1024;

/// Decodes a JSON document, noting duplicated fields (the first
/// [`MAX_REPORTED_DUPLICATES`] of them). The work is linear in the body:
/// the current path is one buffer, grown and cut as the decoder descends and
/// returns, never copied per key.
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

/// The position of the first appearance of each of `paths` in a JSON
/// document, to report field errors in document order as upstream does.
/// Only the paths asked for are looked for; the comparison work is bounded
/// (a few times the body), past which the remaining paths are left out (and
/// sort last). Empty if the document does not parse.
pub fn document_order(bytes: &[u8], paths: &[String]) -> HashMap<String, usize> {
    let wanted: HashSet<&str> = paths.iter().map(String::as_str).collect();
    let mut state = State {
        order: Some(Order {
            longest: paths.iter().map(String::len).max().unwrap_or(0),
            wanted,
            found: HashMap::new(),
            seen: 0,
            budget: bytes.len().saturating_mul(4).saturating_add(1 << 20),
        }),
        ..State::default()
    };
    let mut de = serde_json::Deserializer::from_slice(bytes);
    match ValueSeed(&mut state).deserialize(&mut de) {
        Ok(_) => state.order.map(|o| o.found).unwrap_or_default(),
        Err(_) => HashMap::new(),
    }
}

/// What a YAML body may expand to (its aliases replayed), in bytes of
/// scalars plus a few per node: upstream's request body limit, so an alias
/// bomb ("billion laughs", CVE-2019-11253) is refused while it is still small.
pub const MAX_YAML_EXPANDED_BYTES: usize = 3 * 1024 * 1024;

/// A decoded YAML body and its duplicate keys, in goyaml's words.
#[derive(Debug)]
pub struct DecodedYaml {
    pub value: Value,
    pub duplicates: Vec<String>,
}

/// Decodes one YAML document into a JSON value, refusing one whose expansion
/// passes [`MAX_YAML_EXPANDED_BYTES`] (each scalar's bytes and 8 per node
/// count, aliases as often as they are replayed) or nests deeper than
/// [`MAX_DEPTH`] (found, with the duplicate keys, by one pass of an event
/// parser before the full parse).
pub fn yaml(bytes: &[u8]) -> Result<DecodedYaml, String> {
    let too_deep = || format!("the YAML document nests deeper than {MAX_DEPTH} levels");
    // Not UTF-8: the decoder below says so.
    let duplicates = match std::str::from_utf8(bytes) {
        Ok(text) => yaml::scan(text, MAX_DEPTH).ok_or_else(too_deep)?,
        Err(_) => Vec::new(),
    };
    let mut budget = YamlBudget {
        left: MAX_YAML_EXPANDED_BYTES,
        depth: 0,
    };
    let de = serde_yaml::Deserializer::from_slice(bytes);
    let value = YamlSeed(&mut budget)
        .deserialize(de)
        .map_err(|e| e.to_string())?;
    Ok(DecodedYaml { value, duplicates })
}

struct YamlBudget {
    left: usize,
    depth: usize,
}

struct YamlSeed<'b>(&'b mut YamlBudget);

impl YamlSeed<'_> {
    fn spend<E: serde::de::Error>(&mut self, bytes: usize) -> Result<(), E> {
        match self.0.left.checked_sub(bytes.saturating_add(8)) {
            Some(left) => {
                self.0.left = left;
                Ok(())
            }
            None => Err(E::custom(format!(
                "the YAML document expands to more than {MAX_YAML_EXPANDED_BYTES} bytes"
            ))),
        }
    }

    fn descend<E: serde::de::Error>(&mut self) -> Result<(), E> {
        self.spend(0)?;
        self.0.depth += 1;
        if self.0.depth > MAX_DEPTH {
            return Err(E::custom(format!(
                "the YAML document nests deeper than {MAX_DEPTH} levels"
            )));
        }
        Ok(())
    }
}

impl<'de> DeserializeSeed<'de> for YamlSeed<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for YamlSeed<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_bool<E: serde::de::Error>(mut self, v: bool) -> Result<Value, E> {
        self.spend(0)?;
        Ok(Value::Bool(v))
    }

    fn visit_i64<E: serde::de::Error>(mut self, v: i64) -> Result<Value, E> {
        self.spend(0)?;
        Ok(Value::from(v))
    }

    fn visit_u64<E: serde::de::Error>(mut self, v: u64) -> Result<Value, E> {
        self.spend(0)?;
        Ok(Value::from(v))
    }

    fn visit_f64<E: serde::de::Error>(mut self, v: f64) -> Result<Value, E> {
        self.spend(0)?;
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E: serde::de::Error>(mut self, v: &str) -> Result<Value, E> {
        self.spend(v.len())?;
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E: serde::de::Error>(mut self, v: String) -> Result<Value, E> {
        self.spend(v.len())?;
        Ok(Value::String(v))
    }

    fn visit_unit<E: serde::de::Error>(mut self) -> Result<Value, E> {
        self.spend(0)?;
        Ok(Value::Null)
    }

    fn visit_none<E: serde::de::Error>(self) -> Result<Value, E> {
        self.visit_unit()
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        self.deserialize(d)
    }

    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<Value, A::Error> {
        self.descend()?;
        let mut out = Vec::new();
        while let Some(v) = seq.next_element_seed(YamlSeed(&mut *self.0))? {
            out.push(v);
        }
        self.0.depth -= 1;
        Ok(Value::Array(out))
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<Value, A::Error> {
        self.descend()?;
        let mut out = Map::new();
        while let Some(key) = map.next_key_seed(YamlSeed(&mut *self.0))? {
            // YAML keys may be any scalar; JSON's are strings (as
            // sigs.k8s.io/yaml converts them).
            let key = match key {
                Value::String(s) => s,
                Value::Null => "null".to_string(),
                Value::Object(_) | Value::Array(_) => {
                    return Err(serde::de::Error::custom(
                        "a YAML mapping key must be a scalar",
                    ));
                }
                other => other.to_string(),
            };
            let value = map.next_value_seed(YamlSeed(&mut *self.0))?;
            out.insert(key, value);
        }
        self.0.depth -= 1;
        Ok(Value::Object(out))
    }
}

/// The deepest nesting of objects and lists an object may have: what the
/// decoder reads back (serde_json stops at 128 levels) with room for the
/// list, watch event and table that wrap it in responses. Upstream's Go
/// decoder stops at 10 000; no built-in kind comes near either.
pub const MAX_DEPTH: usize = 120;

/// How deeply `v` nests objects and lists (a scalar is 0, `{}` is 1),
/// measured without recursion, so any value can be measured.
pub fn depth(v: &Value) -> usize {
    let mut deepest = 0;
    let mut stack = vec![(v, 0usize)];
    while let Some((v, d)) = stack.pop() {
        let children: Box<dyn Iterator<Item = &Value>> = match v {
            Value::Object(m) => Box::new(m.values()),
            Value::Array(a) => Box::new(a.iter()),
            _ => continue,
        };
        deepest = deepest.max(d + 1);
        stack.extend(children.map(|c| (c, d + 1)));
    }
    deepest
}

#[derive(Default)]
struct State<'w> {
    /// The path of the value being decoded (`spec.containers[0].image`).
    path: String,
    duplicates: Vec<String>,
    duplicate_bytes: usize,
    order: Option<Order<'w>>,
}

/// What [`document_order`] looks for and has found.
struct Order<'w> {
    wanted: HashSet<&'w str>,
    /// The longest wanted path: a longer current path is never compared.
    longest: usize,
    found: HashMap<String, usize>,
    /// Fields visited so far (the order of the next one).
    seen: usize,
    /// Bytes of comparison left.
    budget: usize,
}

impl State<'_> {
    /// Descends into `key`; returns the length to cut the path back to.
    fn push_key(&mut self, key: &str) -> usize {
        let len = self.path.len();
        if len > 0 {
            self.path.push('.');
        }
        self.path.push_str(key);
        len
    }

    fn push_index(&mut self, i: usize) -> usize {
        let len = self.path.len();
        self.path.push('[');
        self.path.push_str(&i.to_string());
        self.path.push(']');
        len
    }

    /// Notes the current path as a duplicated field, within the bounds.
    fn duplicate(&mut self) {
        if self.duplicates.len() < MAX_REPORTED_DUPLICATES
            && self.duplicate_bytes + self.path.len() <= MAX_REPORTED_DUPLICATE_BYTES
        {
            self.duplicate_bytes += self.path.len();
            self.duplicates.push(self.path.clone());
        }
    }

    /// Notes the current path's first appearance if it is one looked for.
    fn visit(&mut self) {
        let Some(order) = &mut self.order else {
            return;
        };
        order.seen += 1;
        let len = self.path.len();
        if len > order.longest || order.budget < len {
            return;
        }
        order.budget -= len;
        if order.wanted.contains(self.path.as_str()) && !order.found.contains_key(&self.path) {
            order.found.insert(self.path.clone(), order.seen);
        }
    }
}

struct ValueSeed<'s, 'w>(&'s mut State<'w>);

impl<'de> DeserializeSeed<'de> for ValueSeed<'_, '_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ValueSeed<'_, '_> {
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
            let len = self.0.push_index(out.len());
            let next = seq.next_element_seed(ValueSeed(&mut *self.0));
            self.0.path.truncate(len);
            match next? {
                Some(v) => out.push(v),
                None => return Ok(Value::Array(out)),
            }
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let len = self.0.push_key(&key);
            if out.contains_key(&key) {
                self.0.duplicate();
            }
            self.0.visit();
            let value = map.next_value_seed(ValueSeed(&mut *self.0));
            self.0.path.truncate(len);
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
        let wanted: Vec<String> = ["metadata.name", "spec.a[0].q", "spec.z", "nowhere"]
            .map(String::from)
            .to_vec();
        let order = document_order(
            br#"{"spec":{"z":1,"a":[{"q":1}]},"metadata":{"name":"x"}}"#,
            &wanted,
        );
        let mut paths: Vec<(&String, &usize)> = order.iter().collect();
        paths.sort_by_key(|(_, i)| **i);
        let paths: Vec<&str> = paths.into_iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(paths, ["spec.z", "spec.a[0].q", "metadata.name"]);
    }

    /// A body of repeated keys under a long path: the report stays small and
    /// the work linear (before, every duplicate copied its whole path).
    #[test]
    fn duplicates_under_a_long_path_are_bounded() {
        let long = "k".repeat(100_000);
        let mut body = String::new();
        for _ in 0..20 {
            body.push_str(&format!("{{\"{long}\":"));
        }
        body.push('{');
        for i in 0..50_000 {
            if i > 0 {
                body.push(',');
            }
            body.push_str("\"d\":1");
        }
        body.push('}');
        body.push_str(&"}".repeat(20));
        let d = json(body.as_bytes()).unwrap();
        assert!(d.duplicates.is_empty(), "each path is over the byte bound");
        let wanted = vec![format!("{long}.d")];
        let order = document_order(body.as_bytes(), &wanted);
        assert!(order.is_empty());
        let short = br#"{"a":{"d":1,"d":2,"d":3}}"#.to_vec();
        let mut many = String::from("{");
        for i in 0..10_000 {
            if i > 0 {
                many.push(',');
            }
            many.push_str("\"d\":1");
        }
        many.push('}');
        let d = json(many.as_bytes()).unwrap();
        assert_eq!(d.duplicates.len(), MAX_REPORTED_DUPLICATES);
        assert_eq!(json(&short).unwrap().duplicates, ["a.d", "a.d"]);
    }

    #[test]
    fn yaml_alias_bombs_are_refused_by_their_expanded_size() {
        // Nine levels of ten aliases each: 10^9 leaves from a tiny body.
        let mut bomb = String::from(
            "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
        );
        for (i, name) in ["b", "c", "d", "e", "f", "g", "h", "i"].iter().enumerate() {
            let prev = ["a", "b", "c", "d", "e", "f", "g", "h"][i];
            bomb.push_str(&format!("{name}: &{name} [*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev}]\n"));
        }
        // (serde_yaml's own count of replayed events may stop it first.)
        let err = yaml(bomb.as_bytes()).unwrap_err();
        assert!(
            err.contains("expands to more than") || err.contains("repetition limit"),
            "{err}"
        );
        // Few aliases of one long string: refused by bytes, not by count.
        let long = "x".repeat(400_000);
        let wide = format!("a: &a {long}\nb: [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n");
        assert!(
            yaml(wide.as_bytes())
                .unwrap_err()
                .contains("expands to more than")
        );
        // An ordinary body with an alias decodes.
        let v = yaml(b"metadata: {name: &n x, labels: {app: *n}}\nn: 1\nt: true\nk: ~\n")
            .unwrap()
            .value;
        assert_eq!(
            v,
            json!({"metadata": {"name": "x", "labels": {"app": "x"}}, "n": 1, "t": true, "k": null})
        );
    }

    #[test]
    fn yaml_nests_no_deeper_than_the_bound() {
        // Refused before the quadratic scan of libyaml (minutes at this size).
        for deep in [
            format!("{}{}", "{a: ".repeat(100_000), "}".repeat(100_000)),
            format!("{}{}", "[".repeat(200_000), "]".repeat(200_000)),
            (0..200).map(|i| format!("{}a:\n", " ".repeat(i))).collect(),
            format!("x: \"{}\n{}", "[".repeat(200_000), "]".repeat(200_000)),
        ] {
            let err = yaml(deep.as_bytes()).unwrap_err();
            assert!(err.contains("nests deeper"), "{err}");
        }
        let deep = format!("{}{}", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1));
        assert!(yaml(deep.as_bytes()).is_err());
        let ok = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert!(yaml(ok.as_bytes()).is_ok());
    }

    #[test]
    fn depth_counts_containers() {
        assert_eq!(depth(&json!(1)), 0);
        assert_eq!(depth(&json!({})), 1);
        assert_eq!(depth(&json!({"a": [1, {"b": {}}]})), 4);
    }
}
