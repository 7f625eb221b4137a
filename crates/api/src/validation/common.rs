//! What the kind-specific validations share: upstream's value checks of
//! `k8s.io/apimachinery/pkg/util/validation` (port numbers and names, config
//! keys, environment variable names, ranges), label and annotation maps and
//! label selectors (`apis/meta/v1/validation`), immutable fields, and the
//! rendering of values the way `field.Error` prints them (Go's `%#v` for maps,
//! slices and structs: `map[string]string{"app":"web"}`).
//!
//! Objects arrive as JSON after defaulting, so readers here treat an absent
//! field as Go's zero value.

use serde_json::{Map, Value, json};

use super::{NameRule, label_value_problems, name_problems, qualified_name_problems};
use crate::errors::Cause;

/// `apimachineryvalidation.FieldImmutableErrorMsg`.
pub const FIELD_IMMUTABLE: &str = "field is immutable";
/// `apimachineryvalidation.IsNegativeErrorMsg`.
pub const IS_NEGATIVE: &str = "must be greater than or equal to 0";

/// `validation.InclusiveRangeError`.
pub fn inclusive_range_error(lo: i64, hi: i64) -> String {
    format!("must be between {lo} and {hi}, inclusive")
}

/// The string at `key` of an object, "" when absent (Go's zero value).
pub fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

/// The array at `key`, empty when absent.
pub fn arr_of<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    v.get(key)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

/// The object at `key`, if any.
pub fn obj_of<'a>(v: &'a Value, key: &str) -> Option<&'a Map<String, Value>> {
    v.get(key).and_then(Value::as_object)
}

/// The integer at `key`, if set.
pub fn int_of(v: &Value, key: &str) -> Option<i64> {
    v.get(key).and_then(Value::as_i64)
}

/// A map's entries in key order (causes come out in a stable order).
pub fn sorted(m: &Map<String, Value>) -> Vec<(&String, &Value)> {
    let mut v: Vec<_> = m.iter().collect();
    v.sort_by(|a, b| a.0.cmp(b.0));
    v
}

/// `ValidateNonnegativeField`.
pub fn nonnegative(value: Option<i64>, path: &str, causes: &mut Vec<Cause>) {
    if let Some(v) = value
        && v < 0
    {
        causes.push(Cause::invalid(path, &json!(v), IS_NEGATIVE));
    }
}

/// `ValidateDNS1123Label`: one Invalid cause per problem.
pub fn dns_label(value: &str, path: &str, causes: &mut Vec<Cause>) {
    for p in name_problems(NameRule::Label, value) {
        causes.push(Cause::invalid(path, &json!(value), p));
    }
}

/// `ValidateDNS1123Subdomain` (and `NameIsDNSSubdomain` for references).
pub fn dns_subdomain(value: &str, path: &str, causes: &mut Vec<Cause>) {
    for p in subdomain_problems(value) {
        causes.push(Cause::invalid(path, &json!(value), p));
    }
}

/// `IsDNS1123Subdomain` (an empty value is invalid too).
pub fn subdomain_problems(value: &str) -> Vec<String> {
    name_problems(NameRule::Subdomain, value)
}

/// `ValidateQualifiedName`.
pub fn qualified_name(value: &str, path: &str, causes: &mut Vec<Cause>) {
    for p in qualified_name_problems(value) {
        causes.push(Cause::invalid(path, &json!(value), p));
    }
}

/// `IsValidPortNum`.
pub fn port_num_problems(port: i64) -> Vec<String> {
    if (1..=65535).contains(&port) {
        Vec::new()
    } else {
        vec![inclusive_range_error(1, 65535)]
    }
}

/// `IsValidPortName` (IANA_SVC_NAME).
pub fn port_name_problems(port: &str) -> Vec<String> {
    let mut out = Vec::new();
    if port.len() > 15 {
        out.push("must be no more than 15 characters".into());
    }
    if port.is_empty()
        || !port
            .bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
    {
        out.push("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)".into());
    }
    if !port.bytes().any(|c| c.is_ascii_lowercase()) {
        out.push("must contain at least one letter (a-z)".into());
    }
    if port.contains("--") {
        out.push("must not contain consecutive hyphens".into());
    }
    if port.starts_with('-') || port.ends_with('-') {
        out.push("must not begin or end with a hyphen".into());
    }
    out
}

/// `ValidatePortNumOrName` of an IntOrString.
pub fn port_num_or_name(v: Option<&Value>, path: &str, causes: &mut Vec<Cause>) {
    match v {
        Some(Value::String(s)) => {
            for p in port_name_problems(s) {
                causes.push(Cause::invalid(path, &json!(s), p));
            }
        }
        other => {
            let n = other.and_then(Value::as_i64).unwrap_or(0);
            for p in port_num_problems(n) {
                causes.push(Cause::invalid(path, &json!(n), p));
            }
        }
    }
}

fn has_chdir_prefix(value: &str) -> Option<&'static str> {
    match value {
        "." => Some("must not be '.'"),
        ".." => Some("must not be '..'"),
        v if v.starts_with("..") => Some("must not start with '..'"),
        _ => None,
    }
}

/// `IsConfigMapKey`.
pub fn config_key_problems(key: &str) -> Vec<String> {
    let mut out = Vec::new();
    if key.len() > 253 {
        out.push("must be no more than 253 characters".into());
    }
    if key.is_empty()
        || !key
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_' || c == b'.')
    {
        out.push("a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')".into());
    }
    out.extend(has_chdir_prefix(key).map(String::from));
    out
}

/// `IsRelaxedEnvVarName`: what 1.33 applies to env names and envFrom prefixes
/// (RelaxedEnvironmentVariableValidation is on by default since 1.32).
pub fn env_var_name_problems(name: &str) -> Vec<String> {
    let mut out = Vec::new();
    if name.is_empty() {
        out.push("environment variable name must be non-empty".into());
    }
    if name.chars().any(|c| !(' '..='~').contains(&c) || c == '=') {
        out.push(
            "a valid environment variable name must consist only of printable ASCII characters other than '='"
                .into(),
        );
    }
    out
}

/// `unversionedvalidation.ValidateLabels`: every problem is reported at `path`.
pub fn labels(map: Option<&Value>, path: &str, causes: &mut Vec<Cause>) {
    let Some(m) = map.and_then(Value::as_object) else {
        return;
    };
    for (k, v) in sorted(m) {
        qualified_name(k, path, causes);
        let s = v.as_str().unwrap_or("");
        for p in label_value_problems(s) {
            causes.push(Cause::invalid(path, &json!(s), p));
        }
    }
}

/// `ValidateAnnotations` of a template's annotations.
pub fn annotations(map: Option<&Value>, path: &str, causes: &mut Vec<Cause>) {
    let Some(m) = map.and_then(Value::as_object) else {
        return;
    };
    let mut total = 0;
    for (k, v) in sorted(m) {
        for p in qualified_name_problems(&k.to_lowercase()) {
            causes.push(Cause::invalid(path, &json!(k), p));
        }
        total += k.len() + v.as_str().map_or(0, str::len);
    }
    if total > super::TOTAL_ANNOTATION_SIZE_LIMIT {
        causes.push(Cause::too_long(path, super::TOTAL_ANNOTATION_SIZE_LIMIT));
    }
}

/// `ValidateLabelSelector` (strict: values of expressions must be label values).
pub fn label_selector(sel: Option<&Value>, path: &str, causes: &mut Vec<Cause>) {
    let Some(sel) = sel.filter(|s| s.is_object()) else {
        return;
    };
    labels(
        sel.get("matchLabels"),
        &format!("{path}.matchLabels"),
        causes,
    );
    for (i, expr) in arr_of(sel, "matchExpressions").iter().enumerate() {
        let p = format!("{path}.matchExpressions[{i}]");
        let values = arr_of(expr, "values");
        match str_of(expr, "operator") {
            "In" | "NotIn" => {
                if values.is_empty() {
                    causes.push(Cause::required_because(
                        format!("{p}.values"),
                        "must be specified when `operator` is 'In' or 'NotIn'",
                    ));
                }
            }
            "Exists" | "DoesNotExist" => {
                if !values.is_empty() {
                    causes.push(Cause::forbidden(
                        format!("{p}.values"),
                        "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                    ));
                }
            }
            op => causes.push(Cause::invalid(
                format!("{p}.operator"),
                &json!(op),
                "not a valid selector operator",
            )),
        }
        qualified_name(str_of(expr, "key"), &format!("{p}.key"), causes);
        for (j, v) in values.iter().enumerate() {
            let s = v.as_str().unwrap_or("");
            for msg in label_value_problems(s) {
                causes.push(Cause::invalid(format!("{p}.values[{j}]"), &json!(s), msg));
            }
        }
    }
}

/// What `metav1.LabelSelectorAsSelector` makes of a selector.
#[derive(Debug, PartialEq, Eq)]
pub enum Selector<'a> {
    /// A nil selector: matches nothing (and is not "empty").
    Nothing,
    /// `{}`: matches everything (and is "empty").
    Everything,
    /// Requirements to check.
    Some(&'a Value),
    /// The selector does not convert (a bad key, value or operator).
    Invalid,
}

/// Converts a `metav1.LabelSelector` as `LabelSelectorAsSelector` does.
pub fn as_selector(sel: Option<&Value>) -> Selector<'_> {
    let Some(s) = sel.filter(|s| !s.is_null()) else {
        return Selector::Nothing;
    };
    let mut probe = Vec::new();
    label_selector(Some(s), "", &mut probe);
    if !probe.is_empty() {
        return Selector::Invalid;
    }
    let n = obj_of(s, "matchLabels").map_or(0, Map::len) + arr_of(s, "matchExpressions").len();
    if n == 0 {
        Selector::Everything
    } else {
        Selector::Some(s)
    }
}

impl Selector<'_> {
    /// `selector.Empty()`.
    pub fn is_empty(&self) -> bool {
        matches!(self, Selector::Everything)
    }

    /// `selector.Matches(labels.Set(labels))`.
    pub fn matches(&self, labels: Option<&Value>) -> bool {
        let get = |k: &str| labels.and_then(|l| l.get(k)).and_then(Value::as_str);
        match self {
            Selector::Nothing | Selector::Invalid => false,
            Selector::Everything => true,
            Selector::Some(s) => {
                let labels_ok = obj_of(s, "matchLabels")
                    .into_iter()
                    .flatten()
                    .all(|(k, v)| get(k) == v.as_str());
                labels_ok
                    && arr_of(s, "matchExpressions").iter().all(|e| {
                        let key = str_of(e, "key");
                        let vals: Vec<&str> = arr_of(e, "values")
                            .iter()
                            .filter_map(Value::as_str)
                            .collect();
                        match str_of(e, "operator") {
                            "In" => get(key).is_some_and(|v| vals.contains(&v)),
                            "NotIn" => get(key).is_none_or(|v| !vals.contains(&v)),
                            "Exists" => get(key).is_some(),
                            "DoesNotExist" => get(key).is_none(),
                            _ => false,
                        }
                    })
            }
        }
    }
}

/// `ValidateImmutableField` with a value rendered by the caller.
pub fn immutable(new: &Value, old: &Value, path: &str, rendered: String, causes: &mut Vec<Cause>) {
    if new != old {
        causes.push(Cause::invalid_rendered(path, rendered, FIELD_IMMUTABLE));
    }
}

// --- Go `%#v` rendering -------------------------------------------------

/// A string as Go's `%q` (and `%#v`) quote it.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A `map[string]string` as `%#v` prints it (keys sorted, as fmt sorts them).
pub fn go_string_map(v: Option<&Value>) -> String {
    match v.and_then(Value::as_object) {
        None => "map[string]string(nil)".into(),
        Some(m) => {
            let parts: Vec<String> = sorted(m)
                .into_iter()
                .map(|(k, v)| format!("{}:{}", go_quote(k), go_quote(v.as_str().unwrap_or(""))))
                .collect();
            format!("map[string]string{{{}}}", parts.join(", "))
        }
    }
}

/// A `[]string` as `%#v` prints it.
pub fn go_string_slice(v: Option<&Value>) -> String {
    match v.and_then(Value::as_array) {
        None => "[]string(nil)".into(),
        Some(a) => {
            let parts: Vec<String> = a
                .iter()
                .map(|s| go_quote(s.as_str().unwrap_or("")))
                .collect();
            format!("[]string{{{}}}", parts.join(", "))
        }
    }
}

/// A `metav1.LabelSelector` as `%#v` prints it (`v1.LabelSelector{...}`).
pub fn go_label_selector(v: Option<&Value>) -> String {
    let Some(v) = v.filter(|v| v.is_object()) else {
        return "(*v1.LabelSelector)(nil)".into();
    };
    let exprs = match v.get("matchExpressions").and_then(Value::as_array) {
        None => "[]v1.LabelSelectorRequirement(nil)".to_string(),
        Some(a) => {
            let parts: Vec<String> = a
                .iter()
                .map(|e| {
                    format!(
                        "v1.LabelSelectorRequirement{{Key:{}, Operator:{}, Values:{}}}",
                        go_quote(str_of(e, "key")),
                        go_quote(str_of(e, "operator")),
                        go_string_slice(e.get("values"))
                    )
                })
                .collect();
            format!("[]v1.LabelSelectorRequirement{{{}}}", parts.join(", "))
        }
    };
    format!(
        "v1.LabelSelector{{MatchLabels:{}, MatchExpressions:{}}}",
        go_string_map(v.get("matchLabels")),
        exprs
    )
}

/// An `intstr.IntOrString` as `%#v` prints it (its String method has a
/// pointer receiver, so `field.Error` falls back to the struct dump).
pub fn go_int_or_string(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => format!(
            "intstr.IntOrString{{Type:1, IntVal:0, StrVal:{}}}",
            go_quote(s)
        ),
        other => format!(
            "intstr.IntOrString{{Type:0, IntVal:{}, StrVal:\"\"}}",
            other.and_then(Value::as_i64).unwrap_or(0)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_names_as_upstream() {
        assert!(port_name_problems("http").is_empty());
        assert_eq!(
            port_name_problems("80"),
            ["must contain at least one letter (a-z)"]
        );
        assert_eq!(
            port_name_problems("Web--"),
            [
                "must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)",
                "must not contain consecutive hyphens",
                "must not begin or end with a hyphen"
            ]
        );
        assert_eq!(
            port_name_problems("a-very-long-port-name"),
            ["must be no more than 15 characters"]
        );
    }

    #[test]
    fn keys_and_env_names_as_upstream() {
        assert!(config_key_problems("app.properties").is_empty());
        assert_eq!(config_key_problems("..x"), ["must not start with '..'"]);
        assert!(config_key_problems("a/b")[0].starts_with("a valid config key"));
        assert!(env_var_name_problems("1_WEIRD-but.ok name").is_empty());
        assert_eq!(
            env_var_name_problems("A=B"),
            [
                "a valid environment variable name must consist only of printable ASCII characters other than '='"
            ]
        );
    }

    #[test]
    fn selectors_convert_and_match_as_upstream() {
        let labels = json!({"app": "web", "tier": "front"});
        assert_eq!(as_selector(None), Selector::Nothing);
        assert!(!Selector::Nothing.matches(Some(&labels)));
        assert!(as_selector(Some(&json!({}))).is_empty());
        let s = json!({"matchLabels": {"app": "web"}, "matchExpressions": [{"key": "tier", "operator": "In", "values": ["front", "back"]}, {"key": "x", "operator": "DoesNotExist"}]});
        assert!(as_selector(Some(&s)).matches(Some(&labels)));
        let bad = json!({"matchExpressions": [{"key": "tier", "operator": "Has"}]});
        assert_eq!(as_selector(Some(&bad)), Selector::Invalid);
        let mut causes = Vec::new();
        label_selector(Some(&bad), "spec.selector", &mut causes);
        assert_eq!(
            causes[0].display(),
            "spec.selector.matchExpressions[0].operator: Invalid value: \"Has\": not a valid selector operator"
        );
    }

    #[test]
    fn go_rendering() {
        assert_eq!(
            go_string_map(Some(&json!({"b": "2", "a": "1"}))),
            r#"map[string]string{"a":"1", "b":"2"}"#
        );
        assert_eq!(go_string_map(None), "map[string]string(nil)");
        assert_eq!(
            go_label_selector(Some(&json!({"matchLabels": {"app": "web"}}))),
            r#"v1.LabelSelector{MatchLabels:map[string]string{"app":"web"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}"#
        );
        assert_eq!(
            go_int_or_string(Some(&json!("0%"))),
            r#"intstr.IntOrString{Type:1, IntVal:0, StrVal:"0%"}"#
        );
        assert_eq!(
            go_int_or_string(Some(&json!(0))),
            r#"intstr.IntOrString{Type:0, IntVal:0, StrVal:""}"#
        );
    }
}
