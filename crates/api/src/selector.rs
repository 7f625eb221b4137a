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
    GreaterThan(i64),
    LessThan(i64),
}

/// A parsed label selector; the empty selector matches everything.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LabelSelector {
    requirements: Vec<(String, Op)>,
}

/// The tokens of upstream's label selector lexer (`labels/selector.go`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tok {
    Error,
    End,
    ClosedPar,
    Comma,
    DoesNotExist,
    DoubleEquals,
    Equals,
    GreaterThan,
    Identifier,
    In,
    LessThan,
    NotEquals,
    NotIn,
    OpenPar,
}

fn keyword(s: &str) -> Option<Tok> {
    Some(match s {
        ")" => Tok::ClosedPar,
        "," => Tok::Comma,
        "!" => Tok::DoesNotExist,
        "==" => Tok::DoubleEquals,
        "=" => Tok::Equals,
        ">" => Tok::GreaterThan,
        "in" => Tok::In,
        "<" => Tok::LessThan,
        "!=" => Tok::NotEquals,
        "notin" => Tok::NotIn,
        "(" => Tok::OpenPar,
        _ => return None,
    })
}

fn special(c: char) -> bool {
    matches!(c, '=' | '!' | '(' | ')' | ',' | '>' | '<')
}

/// Splits a selector into tokens as upstream's lexer does: special symbols
/// by their longest known run, identifiers up to whitespace or a symbol.
fn lex(s: &str) -> Vec<(Tok, String)> {
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    let mut out = Vec::new();
    loop {
        while i < chars.len() && matches!(chars[i], ' ' | '\t' | '\r' | '\n') {
            i += 1;
        }
        if i >= chars.len() {
            out.push((Tok::End, String::new()));
            return out;
        }
        if special(chars[i]) {
            let mut buffer = String::new();
            let mut last: Option<(Tok, String)> = None;
            while i < chars.len() && special(chars[i]) {
                buffer.push(chars[i]);
                match keyword(&buffer) {
                    Some(t) => {
                        last = Some((t, buffer.clone()));
                        i += 1;
                    }
                    None if last.is_some() => break,
                    None => i += 1,
                }
            }
            match last {
                Some(t) => out.push(t),
                None => {
                    out.push((
                        Tok::Error,
                        format!("error expected: keyword found '{buffer}'"),
                    ));
                    return out;
                }
            }
        } else {
            let start = i;
            // Upstream's whitespace, the same four as above (a form feed is
            // part of a word; `is_whitespace` here once left the lexer
            // spinning on one, pushing empty words forever).
            while i < chars.len()
                && !special(chars[i])
                && !matches!(chars[i], ' ' | '\t' | '\r' | '\n')
            {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            match keyword(&word) {
                Some(t @ (Tok::In | Tok::NotIn)) => out.push((t, word)),
                _ => out.push((Tok::Identifier, word)),
            }
        }
    }
}

/// Upstream's recursive-descent parser over the tokens; its errors are
/// upstream's texts.
struct Parser {
    tokens: Vec<(Tok, String)>,
    pos: usize,
}

impl Parser {
    /// The next token; in a values context `in` and `notin` are identifiers.
    fn lookahead(&self, values: bool) -> (Tok, String) {
        let (t, l) = self.tokens[self.pos.min(self.tokens.len() - 1)].clone();
        match t {
            Tok::In | Tok::NotIn if values => (Tok::Identifier, l),
            _ => (t, l),
        }
    }

    fn consume(&mut self, values: bool) -> (Tok, String) {
        let t = self.lookahead(values);
        if self.pos < self.tokens.len() - 1 {
            self.pos += 1;
        }
        t
    }

    fn parse(&mut self) -> Result<Vec<(String, Op)>, String> {
        let mut out = Vec::new();
        loop {
            let (t, lit) = self.lookahead(true);
            match t {
                Tok::Identifier | Tok::DoesNotExist => {
                    let r = self
                        .requirement()
                        .map_err(|e| format!("unable to parse requirement: {e}"))?;
                    out.push(r);
                    let (t, l) = self.consume(true);
                    match t {
                        Tok::End => return Ok(out),
                        Tok::Comma => {
                            let (t2, l2) = self.lookahead(true);
                            if t2 != Tok::Identifier && t2 != Tok::DoesNotExist {
                                return Err(format!(
                                    "found '{l2}', expected: identifier after ','"
                                ));
                            }
                        }
                        _ => return Err(format!("found '{l}', expected: ',' or 'end of string'")),
                    }
                }
                Tok::End => return Ok(out),
                _ => {
                    return Err(format!(
                        "found '{lit}', expected: !, identifier, or 'end of string'"
                    ));
                }
            }
        }
    }

    fn requirement(&mut self) -> Result<(String, Op), String> {
        let (mut t, mut lit) = self.consume(true);
        let mut not_exists = false;
        if t == Tok::DoesNotExist {
            not_exists = true;
            (t, lit) = self.consume(true);
        }
        if t != Tok::Identifier {
            return Err(format!("found '{lit}', expected: identifier"));
        }
        let key = lit;
        let problems = crate::validation::qualified_name_problems(&key);
        if !problems.is_empty() {
            return Err(format!(
                "<nil>: Invalid value: {}: {}",
                go_q(&key),
                problems.join("; ")
            ));
        }
        let (next, _) = self.lookahead(true);
        if matches!(next, Tok::End | Tok::Comma) {
            let op = if not_exists {
                Op::DoesNotExist
            } else {
                Op::Exists
            };
            return Ok((key, op));
        }
        let (t, lit) = self.consume(false);
        let op = match t {
            Tok::In | Tok::NotIn => {
                let values = self.values()?;
                if values.is_empty() {
                    return Err(
                        "values: Invalid value: []string{}: for 'in', 'notin' operators, values set can't be empty".into(),
                    );
                }
                check_values(&key, &values)?;
                if t == Tok::In {
                    Op::In(values)
                } else {
                    Op::NotIn(values)
                }
            }
            Tok::Equals | Tok::DoubleEquals | Tok::NotEquals | Tok::GreaterThan | Tok::LessThan => {
                let value = self.exact_value()?;
                check_values(&key, std::slice::from_ref(&value))?;
                match t {
                    Tok::NotEquals => Op::NotEquals(value),
                    Tok::GreaterThan | Tok::LessThan => {
                        let n = value.parse::<i64>().map_err(|_| {
                            format!(
                                "values[0]: Invalid value: {}: for 'Gt', 'Lt' operators, the value must be an integer",
                                go_q(&value)
                            )
                        })?;
                        if t == Tok::GreaterThan {
                            Op::GreaterThan(n)
                        } else {
                            Op::LessThan(n)
                        }
                    }
                    _ => Op::Equals(value),
                }
            }
            _ => {
                return Err(format!(
                    "found '{lit}', expected: in, notin, =, ==, !=, gt, lt"
                ));
            }
        };
        Ok((key, op))
    }

    /// `(a, b, ...)`, as a sorted set.
    fn values(&mut self) -> Result<Vec<String>, String> {
        let (t, lit) = self.consume(true);
        if t != Tok::OpenPar {
            return Err(format!("found '{lit}' expected: '('"));
        }
        let (t, lit) = self.lookahead(true);
        let mut set = std::collections::BTreeSet::new();
        match t {
            Tok::Identifier | Tok::Comma => {
                loop {
                    let (t, lit) = self.consume(true);
                    match t {
                        Tok::Identifier => {
                            set.insert(lit);
                            let (t2, l2) = self.lookahead(true);
                            match t2 {
                                Tok::Comma => continue,
                                Tok::ClosedPar => break,
                                _ => return Err(format!("found '{l2}', expected: ',' or ')'")),
                            }
                        }
                        Tok::Comma => {
                            if set.is_empty() {
                                set.insert(String::new());
                            }
                            let (t2, _) = self.lookahead(true);
                            if t2 == Tok::ClosedPar {
                                set.insert(String::new());
                                break;
                            }
                            if t2 == Tok::Comma {
                                self.consume(true);
                                set.insert(String::new());
                            }
                        }
                        _ => return Err(format!("found '{lit}', expected: ',', or identifier")),
                    }
                }
                let (t, _) = self.consume(true);
                if t != Tok::ClosedPar {
                    return Err(format!("found '{lit}', expected: ')'"));
                }
            }
            Tok::ClosedPar => {
                self.consume(true);
                set.insert(String::new());
            }
            _ => return Err(format!("found '{lit}', expected: ',', ')' or identifier")),
        }
        Ok(set.into_iter().collect())
    }

    fn exact_value(&mut self) -> Result<String, String> {
        let (t, _) = self.lookahead(true);
        if matches!(t, Tok::End | Tok::Comma) {
            return Ok(String::new());
        }
        let (t, lit) = self.consume(true);
        if t == Tok::Identifier {
            Ok(lit)
        } else {
            Err(format!("found '{lit}', expected: identifier"))
        }
    }
}

/// Go's `%q` of a string.
fn go_q(s: &str) -> String {
    crate::validation::common::go_quote(s)
}

/// Label values must be valid, as `NewRequirement` checks them.
fn check_values(key: &str, values: &[String]) -> Result<(), String> {
    let mut errors = Vec::new();
    for (i, v) in values.iter().enumerate() {
        let problems = crate::validation::label_value_problems(v);
        if !problems.is_empty() {
            errors.push(format!(
                "values[{i}][{key}]: Invalid value: {}: {}",
                go_q(v),
                problems.join("; ")
            ));
        }
    }
    match errors.len() {
        0 => Ok(()),
        1 => Err(errors.remove(0)),
        _ => Err(format!("[{}]", errors.join(", "))),
    }
}

impl LabelSelector {
    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// Parses a selector as upstream's `labels.Parse`; errors are 400s with
    /// its texts.
    pub fn parse(s: &str) -> Result<Self, ApiError> {
        let tokens = lex(s);
        if let Some((_, why)) = tokens.iter().find(|(t, _)| *t == Tok::Error) {
            return Err(ApiError::bad_request(format!(
                "unable to parse requirement: {why}"
            )));
        }
        let mut parser = Parser { tokens, pos: 0 };
        let requirements = parser.parse().map_err(ApiError::bad_request)?;
        Ok(LabelSelector { requirements })
    }

    pub fn matches(&self, labels: Option<&Map<String, Value>>) -> bool {
        let get = |k: &str| labels.and_then(|l| l.get(k)).and_then(Value::as_str);
        let int = |k: &str| get(k).and_then(|v| v.parse::<i64>().ok());
        self.requirements.iter().all(|(k, op)| match op {
            Op::Equals(v) => get(k) == Some(v.as_str()),
            Op::NotEquals(v) => get(k) != Some(v.as_str()),
            Op::In(set) => get(k).is_some_and(|x| set.iter().any(|s| s == x)),
            Op::NotIn(set) => get(k).is_none_or(|x| !set.iter().any(|s| s == x)),
            Op::Exists => get(k).is_some(),
            Op::DoesNotExist => get(k).is_none(),
            Op::GreaterThan(n) => int(k).is_some_and(|v| v > *n),
            Op::LessThan(n) => int(k).is_some_and(|v| v < *n),
        })
    }
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
    // (key, requirement) pairs, sorted by key as labels.Selector keeps them.
    let mut parts: Vec<(String, String)> = Vec::new();
    let plain = sel.get("matchExpressions").is_none() && sel.get("matchLabels").is_none();
    let labels = if plain {
        sel.as_object()
    } else {
        sel.get("matchLabels").and_then(Value::as_object)
    };
    for (k, v) in labels.into_iter().flatten() {
        if let Some(v) = v.as_str() {
            parts.push((k.clone(), format!("{k}={v}")));
        }
    }
    for e in sel
        .get("matchExpressions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let key = e.get("key").and_then(Value::as_str).unwrap_or("");
        let mut values: Vec<&str> = e
            .get("values")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        values.sort_unstable();
        values.dedup();
        let rendered = match e.get("operator").and_then(Value::as_str).unwrap_or("") {
            "In" => format!("{key} in ({})", values.join(",")),
            "NotIn" => format!("{key} notin ({})", values.join(",")),
            "Exists" => key.to_string(),
            "DoesNotExist" => format!("!{key}"),
            _ => continue,
        };
        parts.push((key.to_string(), rendered));
    }
    parts.sort_by(|a, b| a.0.cmp(&b.0));
    parts
        .into_iter()
        .map(|(_, r)| r)
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A form feed (or any whitespace upstream's lexer does not skip) is part
    /// of a word: the lexer once spun forever on one.
    #[test]
    fn unusual_whitespace_is_part_of_a_word() {
        let e = LabelSelector::parse("\u{c}n").unwrap_err();
        assert_eq!(e.code, 400);
        assert!(LabelSelector::parse("a=b\u{a0}c").is_err());
    }

    fn labels(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn label_selector_errors_are_upstreams() {
        let err = |s: &str| LabelSelector::parse(s).unwrap_err().message;
        assert!(LabelSelector::parse("env in(prod)").is_ok());
        assert!(LabelSelector::parse("env notin (a,b),!x,y").is_ok());
        assert!(LabelSelector::parse("metadata.name=a").is_ok());
        assert_eq!(
            err("env=prod bad"),
            "found 'bad', expected: ',' or 'end of string'"
        );
        assert_eq!(
            err("env!"),
            "unable to parse requirement: found '!', expected: in, notin, =, ==, !=, gt, lt"
        );
        assert_eq!(err("env,"), "found '', expected: identifier after ','");
        assert_eq!(
            err("metadata.name=a=b"),
            "found '=', expected: ',' or 'end of string'"
        );
        assert!(
            err(&format!("env={}", "a".repeat(64))).ends_with("must be no more than 63 characters")
        );
        assert!(err("*").starts_with(
            "unable to parse requirement: <nil>: Invalid value: \"*\": name part must consist of"
        ));
        let gt = LabelSelector::parse("n>3").unwrap();
        let labels = |n: &str| serde_json::json!({"n": n}).as_object().unwrap().clone();
        assert!(gt.matches(Some(&labels("4"))));
        assert!(!gt.matches(Some(&labels("3"))));
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
