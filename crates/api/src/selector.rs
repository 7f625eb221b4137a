//! Label selectors (`a=b,c!=d,e in (x,y),f notin (z),g,!h`) and field selectors
//! (`metadata.name=x,spec.nodeName!=y`), parsed and matched as upstream's
//! `labels.Parse` and `fields.ParseSelector` do.

use serde_json::{Map, Value};

use crate::errors::ApiError;

#[derive(Clone, Debug, PartialEq, Eq)]
enum Op {
    Equals(String),
    NotEquals(String),
    In(Vec<String>),
    NotIn(Vec<String>),
    Exists,
    DoesNotExist,
}

/// A parsed label selector; the empty selector matches everything.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LabelSelector {
    requirements: Vec<(String, Op)>,
}

impl LabelSelector {
    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    pub fn parse(s: &str) -> Result<Self, ApiError> {
        let mut requirements = Vec::new();
        let mut rest = s.trim();
        let bad = |why: &str| ApiError::bad_request(format!("unable to parse requirement: {why}"));
        while !rest.is_empty() {
            // One requirement: up to the next comma outside parentheses.
            let mut depth = 0;
            let mut end = rest.len();
            for (i, c) in rest.char_indices() {
                match c {
                    '(' => depth += 1,
                    ')' => depth -= 1,
                    ',' if depth == 0 => {
                        end = i;
                        break;
                    }
                    _ => {}
                }
            }
            let req = rest[..end].trim();
            rest = rest.get(end + 1..).unwrap_or("").trim();
            if req.is_empty() {
                return Err(bad("found '', expected: identifier"));
            }
            let parsed = if let Some(key) = req.strip_prefix('!') {
                (key.trim().to_string(), Op::DoesNotExist)
            } else if let Some((k, v)) = req.split_once("!=") {
                (k.trim().to_string(), Op::NotEquals(v.trim().to_string()))
            } else if let Some((k, v)) = req.split_once("==") {
                (k.trim().to_string(), Op::Equals(v.trim().to_string()))
            } else if let Some((k, v)) = req.split_once('=') {
                (k.trim().to_string(), Op::Equals(v.trim().to_string()))
            } else if let Some((k, set)) = split_set(req, " notin ") {
                (k, Op::NotIn(set?))
            } else if let Some((k, set)) = split_set(req, " in ") {
                (k, Op::In(set?))
            } else {
                (req.to_string(), Op::Exists)
            };
            if parsed.0.is_empty() || parsed.0.contains(char::is_whitespace) {
                return Err(bad(&format!("invalid label key {:?}", parsed.0)));
            }
            requirements.push(parsed);
        }
        Ok(LabelSelector { requirements })
    }

    pub fn matches(&self, labels: Option<&Map<String, Value>>) -> bool {
        let get = |k: &str| labels.and_then(|l| l.get(k)).and_then(Value::as_str);
        self.requirements.iter().all(|(k, op)| match op {
            Op::Equals(v) => get(k) == Some(v.as_str()),
            Op::NotEquals(v) => get(k) != Some(v.as_str()),
            Op::In(set) => get(k).is_some_and(|x| set.iter().any(|s| s == x)),
            Op::NotIn(set) => get(k).is_none_or(|x| !set.iter().any(|s| s == x)),
            Op::Exists => get(k).is_some(),
            Op::DoesNotExist => get(k).is_none(),
        })
    }
}

fn split_set(req: &str, op: &str) -> Option<(String, Result<Vec<String>, ApiError>)> {
    let (k, set) = req.split_once(op)?;
    let set = set.trim();
    let values = match set.strip_prefix('(').and_then(|s| s.strip_suffix(')')) {
        Some(inner) => Ok(inner
            .split(',')
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .collect()),
        None => Err(ApiError::bad_request(format!(
            "unable to parse requirement: found '{set}', expected: '('"
        ))),
    };
    Some((k.trim().to_string(), values))
}

/// A parsed field selector: `field=value`, `field==value`, `field!=value`, joined by commas.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FieldSelector {
    pub requirements: Vec<(String, bool, String)>,
}

impl FieldSelector {
    /// Parses a field selector as upstream's `fields.ParseSelector`: terms
    /// split at unescaped commas and sorted, each `label=value`,
    /// `label==value` or `label!=value` (the first operator from the left), the
    /// label taken as it is, the value unescaped (`\\`, `\,`, `\=`).
    pub fn parse(s: &str) -> Result<Self, ApiError> {
        let mut terms = Vec::new();
        let mut term = String::new();
        let mut chars = s.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => {
                    term.push(c);
                    if let Some(next) = chars.next() {
                        term.push(next);
                    }
                }
                ',' => terms.push(std::mem::take(&mut term)),
                c => term.push(c),
            }
        }
        terms.push(term);
        terms.sort();
        let mut requirements = Vec::new();
        for part in terms.iter().filter(|t| !t.is_empty()) {
            let op = (0..part.len())
                .filter(|i| part.is_char_boundary(*i))
                .find_map(|i| {
                    let rest = &part[i..];
                    ["!=", "==", "="]
                        .into_iter()
                        .find(|op| rest.starts_with(op))
                        .map(|op| (i, op))
                });
            let Some((at, op)) = op else {
                return Err(ApiError::bad_request(format!(
                    "invalid selector: '{s}'; can't understand '{part}'"
                )));
            };
            let value = unescape(&part[at + op.len()..]).map_err(ApiError::bad_request)?;
            requirements.push((part[..at].to_string(), op != "!=", value));
        }
        Ok(FieldSelector { requirements })
    }

    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// The value an `=` requirement on `field` pins, if any (used to narrow a
    /// watch or list to one object or namespace).
    pub fn pinned(&self, field: &str) -> Option<&str> {
        self.requirements
            .iter()
            .find(|(f, eq, _)| f == field && *eq)
            .map(|(_, _, v)| v.as_str())
    }

    /// Matches with `value_of` giving each field's value (None: unset, "").
    pub fn matches(&self, value_of: impl Fn(&str) -> Option<String>) -> bool {
        self.requirements.iter().all(|(f, eq, v)| {
            let actual = value_of(f).unwrap_or_default();
            (actual == *v) == *eq
        })
    }
}

/// A field selector value with its escapes (`\\`, `\,`, `\=`) undone, as
/// upstream's `fields.UnescapeValue`.
fn unescape(v: &str) -> Result<String, String> {
    let mut out = String::with_capacity(v.len());
    let mut chars = v.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(e @ ('\\' | ',' | '=')) => out.push(e),
                Some(e) => {
                    return Err(format!(
                        "invalid field selector: invalid escape sequence: \\{e}"
                    ));
                }
                None => return Err("invalid field selector: invalid escape sequence: \\".into()),
            },
            ',' | '=' => {
                return Err(format!(
                    "invalid field selector: unescaped character in value: {}",
                    c as u32
                ));
            }
            c => out.push(c),
        }
    }
    Ok(out)
}

/// A `metav1.LabelSelector` (or a plain label map, as Services and RCs have) as
/// the string form kubectl prints and Scale reports: `a=b,c in (x,y),!d`.
pub fn selector_string(sel: Option<&Value>) -> String {
    let Some(sel) = sel else { return String::new() };
    let mut parts: Vec<String> = Vec::new();
    let plain = sel.get("matchExpressions").is_none() && sel.get("matchLabels").is_none();
    let labels = if plain {
        sel.as_object()
    } else {
        sel.get("matchLabels").and_then(Value::as_object)
    };
    for (k, v) in labels.into_iter().flatten() {
        if let Some(v) = v.as_str() {
            parts.push(format!("{k}={v}"));
        }
    }
    for e in sel
        .get("matchExpressions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let key = e.get("key").and_then(Value::as_str).unwrap_or("");
        let values: Vec<&str> = e
            .get("values")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        match e.get("operator").and_then(Value::as_str).unwrap_or("") {
            "In" => parts.push(format!("{key} in ({})", values.join(","))),
            "NotIn" => parts.push(format!("{key} notin ({})", values.join(","))),
            "Exists" => parts.push(key.to_string()),
            "DoesNotExist" => parts.push(format!("!{key}")),
            _ => {}
        }
    }
    parts.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn labels(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn label_selectors_match_like_upstream() {
        let l = labels(json!({"app": "web", "tier": "front", "env": "prod"}));
        let cases = [
            ("app=web", true),
            ("app==web", true),
            ("app!=web", false),
            ("app=db", false),
            ("app in (web, db)", true),
            ("app notin (web)", false),
            ("missing notin (x)", true),
            ("tier", true),
            ("!tier", false),
            ("!missing", true),
            ("app=web,tier=front", true),
            ("app=web,tier=back", false),
            ("env in (prod),app", true),
            ("", true),
        ];
        for (sel, want) in cases {
            assert_eq!(
                LabelSelector::parse(sel).unwrap().matches(Some(&l)),
                want,
                "{sel}"
            );
        }
        assert!(LabelSelector::parse("a in x").is_err());
        assert!(LabelSelector::parse("a,,b").is_err());
    }

    #[test]
    fn field_selectors() {
        let s = FieldSelector::parse("metadata.name=x,spec.nodeName!=n1").unwrap();
        assert_eq!(s.pinned("metadata.name"), Some("x"));
        assert!(s.matches(|f| match f {
            "metadata.name" => Some("x".into()),
            _ => Some("n2".into()),
        }));
        assert!(!s.matches(|_| Some("n1".into())));
        assert!(FieldSelector::parse("nonsense").is_err());
    }
}

#[cfg(test)]
mod field_selector_tests {
    use super::FieldSelector;

    fn parse(s: &str) -> Result<Vec<(String, bool, String)>, String> {
        FieldSelector::parse(s)
            .map(|f| f.requirements)
            .map_err(|e| e.message)
    }

    #[test]
    fn grammar_as_upstream() {
        assert_eq!(
            parse("status.phase!=Running,spec.nodeName=n1").unwrap(),
            [
                ("spec.nodeName".into(), true, "n1".into()),
                ("status.phase".into(), false, "Running".into())
            ],
            "terms sorted"
        );
        assert_eq!(parse("a==b").unwrap(), [("a".into(), true, "b".into())]);
        assert_eq!(
            parse("a=x\\,y\\=z\\\\").unwrap(),
            [("a".into(), true, "x,y=z\\".into())]
        );
        assert_eq!(parse(",,").unwrap(), []);
        assert_eq!(
            parse(" a=b").unwrap(),
            [(" a".into(), true, "b".into())],
            "labels are not trimmed"
        );
        assert_eq!(
            parse("status.phase in (Running)").unwrap_err(),
            "invalid selector: 'status.phase in (Running)'; can't understand 'status.phase in (Running)'"
        );
        assert_eq!(
            parse("a=b=c").unwrap_err(),
            "invalid field selector: unescaped character in value: 61"
        );
        assert_eq!(
            parse("a=b\\x").unwrap_err(),
            "invalid field selector: invalid escape sequence: \\x"
        );
    }
}
