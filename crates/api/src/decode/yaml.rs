//! Duplicate keys of a YAML body, as upstream's strict YAML conversion
//! (sigs.k8s.io/yaml's `YAMLToJSONStrict`, goyaml.v2's `UnmarshalStrict`)
//! reports them: `line 5: key "name" already set in map`, the line (1-based)
//! of the duplicate's value, the key as Go's `%#v` prints it. Upstream keeps
//! the last value, as the lenient conversion does.

use std::collections::HashSet;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// What a collection on the stack is waiting for.
enum Frame {
    /// A mapping: the keys seen, whether the next node is a key, and the
    /// duplicated key waiting for its value's line.
    Map {
        seen: HashSet<String>,
        key_next: bool,
        pending: Option<String>,
    },
    Seq,
}

#[derive(Default)]
struct Receiver {
    stack: Vec<Frame>,
    found: Vec<String>,
}

/// A plain scalar as goyaml resolves a map key (an integer, a boolean, null)
/// or, for anything else, a Go-quoted string.
fn go_key(value: &str, style: TScalarStyle) -> String {
    let plain = style == TScalarStyle::Plain;
    if plain
        && (value.parse::<i64>().is_ok()
            || matches!(
                value,
                "true" | "false" | "True" | "False" | "TRUE" | "FALSE"
            ))
    {
        return value.to_lowercase();
    }
    if plain && matches!(value, "~" | "null" | "Null" | "NULL" | "") {
        return "<nil>".into();
    }
    serde_json::to_string(value).unwrap_or_default()
}

impl Receiver {
    /// A node starts (a scalar, an alias, or a collection) at `mark`.
    fn node(&mut self, key: Option<String>, mark: Marker) {
        let Some(Frame::Map {
            seen,
            key_next,
            pending,
        }) = self.stack.last_mut()
        else {
            return;
        };
        if *key_next {
            *key_next = false;
            if let Some(k) = key
                && !seen.insert(k.clone())
            {
                *pending = Some(k);
            }
        } else {
            *key_next = true;
            if let Some(k) = pending.take() {
                self.found
                    .push(format!("line {}: key {k} already set in map", mark.line()));
            }
        }
    }
}

impl MarkedEventReceiver for Receiver {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        match ev {
            Event::Scalar(value, style, ..) => {
                let key = go_key(&value, style);
                self.node(Some(key), mark);
            }
            Event::Alias(_) => self.node(None, mark),
            Event::MappingStart(..) => {
                self.node(None, mark);
                self.stack.push(Frame::Map {
                    seen: HashSet::new(),
                    key_next: true,
                    pending: None,
                });
            }
            Event::SequenceStart(..) => {
                self.node(None, mark);
                self.stack.push(Frame::Seq);
            }
            Event::MappingEnd | Event::SequenceEnd => {
                self.stack.pop();
            }
            _ => {}
        }
    }
}

/// The duplicate keys of a YAML document, in document order; empty when it
/// does not parse (the lenient decoder reports that).
#[cfg(test)]
fn duplicate_keys(text: &str) -> Vec<String> {
    scan(text, usize::MAX).unwrap_or_default()
}

/// One pass of the event parser over a YAML body, before the full parse:
/// the duplicate keys of its first document (empty when it does not parse),
/// or None when it nests deeper than `max` collections (libyaml's scanner is
/// quadratic in the nesting of flow collections: 100 000 `{a: ` take two
/// minutes). The pass stops at the first collection too deep, in time linear
/// in what it read; where the body does not parse at all, a count of
/// unclosed brackets stands in for its depth (quotes ignored: it can only
/// refuse too much, and only a body with `max` brackets open at once).
pub(super) fn scan(text: &str, max: usize) -> Option<Vec<String>> {
    let mut parser = Parser::new_from_str(text);
    let mut receiver = Receiver::default();
    let mut first_document = true;
    loop {
        match parser.next_token() {
            Ok((Event::StreamEnd, _)) => return Some(receiver.found),
            // Upstream reads the first document only.
            Ok((Event::DocumentEnd, _)) => first_document = false,
            Ok((event, mark)) => {
                if first_document {
                    receiver.on_event(event, mark);
                } else {
                    // Later documents are only measured.
                    match event {
                        Event::MappingStart(..) | Event::SequenceStart(..) => {
                            receiver.stack.push(Frame::Seq)
                        }
                        Event::MappingEnd | Event::SequenceEnd => {
                            receiver.stack.pop();
                        }
                        _ => {}
                    }
                }
                if receiver.stack.len() > max {
                    return None;
                }
            }
            Err(_) => return brackets_within(text, max).then(Vec::new),
        }
    }
}

fn brackets_within(text: &str, max: usize) -> bool {
    let mut open = 0usize;
    for b in text.bytes() {
        match b {
            b'[' | b'{' => {
                open += 1;
                if open > max {
                    return false;
                }
            }
            b']' | b'}' => open = open.saturating_sub(1),
            _ => {}
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::duplicate_keys;

    /// Upstream's field validation test body (test/integration/apiserver/field_validation_test.go).
    #[test]
    fn upstreams_deployment() {
        let body = include_str!("../../testdata/deployment-duplicates.yaml");
        assert_eq!(
            duplicate_keys(body),
            [
                "line 5: key \"name\" already set in map",
                "line 12: key \"unknownDupe\" already set in map",
                "line 14: key \"paused\" already set in map",
                "line 28: key \"imagePullPolicy\" already set in map",
            ]
        );
    }

    #[test]
    fn nested_values_and_key_types() {
        let body = "a:\n  x: 1\na:\n  y: 2\nm:\n  1: a\n  1: b\n  \"1\": c\n";
        assert_eq!(
            duplicate_keys(body),
            [
                "line 4: key \"a\" already set in map",
                "line 7: key 1 already set in map"
            ]
        );
        assert!(duplicate_keys("a: 1\nb: [1, 1]\n").is_empty());
        assert!(
            duplicate_keys(": : :\n\t").is_empty(),
            "unparsable: the lenient decoder reports it"
        );
    }
}
