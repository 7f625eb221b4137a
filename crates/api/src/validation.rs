//! Validation with upstream's rules, field paths and messages: here, object
//! metadata and names (k8s.io/apimachinery/pkg/util/validation and
//! api/validation/objectmeta.go); in the submodules, the specs of the common
//! built-in kinds and what their updates may not change
//! (pkg/apis/{core,apps,batch}/validation): `pods` (pod specs and templates),
//! `apps` (workload controllers), `batch` (jobs and cron jobs), `services`,
//! `config` (config maps and secrets), over the shared checks of `common` and
//! the resource quantities of `quantity`. Every rule reports its cause; one
//! object gets all of them.

pub mod apps;
pub mod batch;
pub mod certificates;
pub mod common;
pub mod config;
pub mod namespaces;
pub mod pod_subresources;
pub mod pods;
pub mod quantity;
pub mod rbac;
pub mod scheduling;
pub mod service_update;
pub mod services;
pub mod storage;

use serde_json::Value;

use crate::errors::Cause;
use crate::meta;

const DNS1123_LABEL_FMT: &str = "[a-z0-9]([-a-z0-9]*[a-z0-9])?";
const DNS1123_LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character";
const DNS1123_SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character";
const DNS1035_LABEL_MSG: &str = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character";

/// How a kind's names are validated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NameRule {
    /// DNS-1123 subdomain (most kinds).
    Subdomain,
    /// DNS-1123 label (namespaces, nodes' leases...).
    Label,
    /// DNS-1035 label (services).
    Dns1035,
    /// Any path segment: not "." or "..", no "/" or "%" (RBAC kinds, ...).
    PathSegment,
}

fn is_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

fn is_subdomain(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(is_label)
}

fn is_dns1035(s: &str) -> bool {
    is_label(s) && s.as_bytes()[0].is_ascii_lowercase()
}

fn with_regex(msg: &str, example: &str, regex: &str) -> String {
    format!("{msg} (e.g. {example}, regex used for validation is '{regex}')")
}

/// Problems with a name under a rule, as upstream's messages.
pub fn name_problems(rule: NameRule, name: &str) -> Vec<String> {
    let mut out = Vec::new();
    match rule {
        NameRule::Subdomain => {
            if name.len() > 253 {
                out.push("must be no more than 253 characters".into());
            }
            if !name.split('.').all(is_label) {
                out.push(with_regex(
                    DNS1123_SUBDOMAIN_MSG,
                    "'example.com'",
                    &format!("{DNS1123_LABEL_FMT}(\\.{DNS1123_LABEL_FMT})*"),
                ));
            }
        }
        NameRule::Label => {
            if name.len() > 63 {
                out.push("must be no more than 63 characters".into());
            }
            if !is_label(&name[..name.len().min(63)]) || name.is_empty() {
                out.push(with_regex(
                    DNS1123_LABEL_MSG,
                    "'my-name',  or '123-abc'",
                    DNS1123_LABEL_FMT,
                ));
            }
        }
        NameRule::Dns1035 => {
            if name.len() > 63 {
                out.push("must be no more than 63 characters".into());
            }
            if !is_dns1035(&name[..name.len().min(63)]) {
                out.push(with_regex(
                    DNS1035_LABEL_MSG,
                    "'my-name',  or 'abc-123'",
                    "[a-z]([-a-z0-9]*[a-z0-9])?",
                ));
            }
        }
        NameRule::PathSegment => {
            if name == "." || name == ".." {
                out.push(format!("may not be '{name}'"));
            }
            for bad in ["/", "%"] {
                if name.contains(bad) {
                    out.push(format!("may not contain '{bad}'"));
                }
            }
        }
    }
    out
}

/// Whether `name` may appear in a URL path at all (checked before anything else).
pub fn path_segment_problems(name: &str) -> Vec<String> {
    name_problems(NameRule::PathSegment, name)
}

/// A qualified name (label keys, annotation keys, finalizers): `[prefix/]name`.
pub(crate) fn qualified_name_problems(key: &str) -> Vec<String> {
    let mut out = Vec::new();
    let (prefix, name) = match key.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    if let Some(p) = prefix {
        if p.is_empty() {
            out.push("prefix part must be non-empty".into());
        } else if !is_subdomain(p) {
            out.push(format!(
                "prefix part {}",
                with_regex(
                    DNS1123_SUBDOMAIN_MSG,
                    "'example.com'",
                    &format!("{DNS1123_LABEL_FMT}(\\.{DNS1123_LABEL_FMT})*")
                )
            ));
        }
    }
    if name.is_empty() {
        out.push("name part must be non-empty".into());
    } else {
        if name.len() > 63 {
            out.push("name part must be no more than 63 characters".into());
        }
        let ok = name
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_' || c == b'.')
            && name.as_bytes()[0].is_ascii_alphanumeric()
            && name.as_bytes()[name.len() - 1].is_ascii_alphanumeric();
        if !ok {
            out.push("name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')".into());
        }
    }
    out
}

pub(crate) fn label_value_problems(v: &str) -> Vec<String> {
    let mut out = Vec::new();
    if v.len() > 63 {
        out.push("must be no more than 63 characters".into());
    }
    if !v.is_empty() {
        let ok = v
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_' || c == b'.')
            && v.as_bytes()[0].is_ascii_alphanumeric()
            && v.as_bytes()[v.len() - 1].is_ascii_alphanumeric();
        if !ok {
            out.push("a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')".into());
        }
    }
    out
}

/// Most bytes all annotations of an object may take.
pub const TOTAL_ANNOTATION_SIZE_LIMIT: usize = 256 * 1024;

/// Validates `metadata` of a new object: name (unless generated), namespace
/// presence by scope, labels, annotations, finalizers.
pub fn validate_object_meta(obj: &Value, namespaced: bool, rule: NameRule) -> Vec<Cause> {
    let mut causes = Vec::new();
    let name = meta::name(obj);
    if name.is_empty() {
        if meta::generate_name(obj).is_empty() {
            causes.push(
                Cause::required("metadata.name").with_message("name or generateName is required"),
            );
        }
    } else {
        for p in name_problems(rule, name) {
            causes.push(Cause::invalid(
                "metadata.name",
                &Value::String(name.into()),
                p,
            ));
        }
    }
    let ns = meta::namespace(obj);
    if namespaced {
        if ns.is_empty() {
            causes.push(Cause::required("metadata.namespace"));
        } else {
            for p in name_problems(NameRule::Label, ns) {
                causes.push(Cause::invalid(
                    "metadata.namespace",
                    &Value::String(ns.into()),
                    p,
                ));
            }
        }
    } else if !ns.is_empty() {
        causes.push(Cause::forbidden(
            "metadata.namespace",
            "not allowed on this type",
        ));
    }
    if let Some(labels) = meta::labels(obj) {
        for (k, v) in labels {
            for p in qualified_name_problems(k) {
                causes.push(Cause::invalid(
                    "metadata.labels",
                    &Value::String(k.clone()),
                    p,
                ));
            }
            match v.as_str() {
                Some(s) => {
                    for p in label_value_problems(s) {
                        causes.push(Cause::invalid("metadata.labels".to_string(), v, p));
                    }
                }
                None => causes.push(Cause::invalid("metadata.labels", v, "must be a string")),
            }
        }
    }
    if let Some(ann) = meta::metadata(obj)
        .and_then(|m| m.get("annotations"))
        .and_then(Value::as_object)
    {
        let mut total = 0;
        for (k, v) in ann {
            for p in qualified_name_problems(&k.to_lowercase()) {
                causes.push(Cause::invalid(
                    "metadata.annotations",
                    &Value::String(k.clone()),
                    p,
                ));
            }
            total += k.len() + v.as_str().map_or(0, str::len);
        }
        if total > TOTAL_ANNOTATION_SIZE_LIMIT {
            causes.push(Cause::too_long(
                "metadata.annotations",
                TOTAL_ANNOTATION_SIZE_LIMIT,
            ));
        }
    }
    causes.extend(validate_finalizers(&meta::finalizers(obj)));
    causes.extend(validate_owner_references(obj));
    causes
}

/// The finalizers the built-in kinds' names need no domain for.
pub(crate) fn is_standard_finalizer(name: &str) -> bool {
    matches!(name, "kubernetes" | "orphan" | "foregroundDeletion")
}

/// apimachinery's `ValidateFinalizers` (qualified names, not both orphan
/// and foreground) and core's `validateKubeFinalizerName` per entry.
fn validate_finalizers(finalizers: &[String]) -> Vec<Cause> {
    let mut causes = Vec::new();
    for f in finalizers {
        for p in qualified_name_problems(f) {
            causes.push(Cause::invalid(
                "metadata.finalizers",
                &Value::String(f.clone()),
                p,
            ));
        }
    }
    let has = |n: &str| finalizers.iter().any(|f| f == n);
    if has("orphan") && has("foregroundDeletion") {
        let list: Vec<String> = finalizers.iter().map(|f| format!("{f:?}")).collect();
        causes.push(Cause::invalid_rendered(
            "metadata.finalizers",
            format!("[]string{{{}}}", list.join(", ")),
            "finalizer orphan and foregroundDeletion cannot be both set",
        ));
    }
    for (i, f) in finalizers.iter().enumerate() {
        if !f.contains('/') && !is_standard_finalizer(f) {
            causes.push(Cause::invalid(
                format!("metadata.finalizers[{i}]"),
                &Value::String(f.clone()),
                "name is neither a standard finalizer name nor is it fully qualified",
            ));
        }
    }
    causes
}

/// apimachinery's `ValidateOwnerReferences`: each reference names a
/// version, kind, name and uid; at most one is the controller.
fn validate_owner_references(obj: &Value) -> Vec<Cause> {
    let mut causes = Vec::new();
    let refs = meta::metadata(obj)
        .and_then(|m| m.get("ownerReferences"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let path = "metadata.ownerReferences";
    let mut controller: Option<String> = None;
    for r in &refs {
        let field = |k: &str| r.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        let api_version = field("apiVersion");
        // schema.ParseGroupVersion: "v", "g/v"; anything else has no version.
        let version = match api_version.split('/').collect::<Vec<_>>().as_slice() {
            [v] => v.to_string(),
            [_, v] => v.to_string(),
            _ => String::new(),
        };
        if version.is_empty() {
            causes.push(Cause::invalid(
                format!("{path}.apiVersion"),
                &Value::String(api_version.clone()),
                "version must not be empty",
            ));
        }
        for (k, what) in [("kind", "kind"), ("name", "name"), ("uid", "uid")] {
            if field(k).is_empty() {
                causes.push(Cause::invalid(
                    format!("{path}.{k}"),
                    &Value::String(String::new()),
                    format!("{what} must not be empty"),
                ));
            }
        }
        if r.get("controller").and_then(Value::as_bool) == Some(true) {
            let this = format!("{}/{}", field("kind"), field("name"));
            match &controller {
                None => controller = Some(this),
                Some(first) => causes.push(Cause::invalid_rendered(
                    path,
                    go_owner_references(&refs),
                    format!(
                        "Only one reference can have Controller set to true. Found \"true\" in references for {first} and {this}"
                    ),
                )),
            }
        }
    }
    causes
}

/// `%#v` of a `[]metav1.OwnerReference` (pointers as Go prints them: an
/// address, here a fixed one).
fn go_owner_references(refs: &[Value]) -> String {
    let ptr = |v: Option<&Value>| match v.and_then(Value::as_bool) {
        Some(_) => "(*bool)(0xc000010000)".to_string(),
        None => "(*bool)(nil)".to_string(),
    };
    let items: Vec<String> = refs
        .iter()
        .map(|r| {
            let f = |k: &str| r.get(k).and_then(Value::as_str).unwrap_or("").to_string();
            format!(
                "v1.OwnerReference{{APIVersion:{:?}, Kind:{:?}, Name:{:?}, UID:{:?}, Controller:{}, BlockOwnerDeletion:{}}}",
                f("apiVersion"),
                f("kind"),
                f("name"),
                f("uid"),
                ptr(r.get("controller")),
                ptr(r.get("blockOwnerDeletion"))
            )
        })
        .collect();
    format!("[]v1.OwnerReference{{{}}}", items.join(", "))
}

/// Validates that an update keeps what metadata may not change.
pub fn validate_object_meta_update(new: &Value, old: &Value) -> Vec<Cause> {
    let mut causes = Vec::new();
    for field in ["name", "namespace", "uid", "creationTimestamp"] {
        let (n, o) = (
            meta::metadata(new).and_then(|m| m.get(field)),
            meta::metadata(old).and_then(|m| m.get(field)),
        );
        if n.is_some() && n != o {
            causes.push(Cause::invalid(
                format!("metadata.{field}"),
                n.unwrap_or(&Value::Null),
                "field is immutable",
            ));
        }
    }
    // An object being deleted may lose finalizers, not gain them.
    if meta::deletion_timestamp(old).is_some() {
        let before = meta::finalizers(old);
        let added: Vec<String> = meta::finalizers(new)
            .into_iter()
            .filter(|f| !before.contains(f))
            .map(|f| format!("{f:?}"))
            .collect();
        if !added.is_empty() {
            causes.push(Cause::forbidden(
                "metadata.finalizers",
                format!(
                    "no new finalizers can be added if the object is being deleted, found new finalizers []string{{{}}}",
                    added.join(", ")
                ),
            ));
        }
    }
    causes
}

impl Cause {
    /// The same cause with another message.
    pub fn with_message(mut self, message: impl Into<String>) -> Self {
        self.message = message.into();
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names() {
        assert!(name_problems(NameRule::Subdomain, "my-app.example").is_empty());
        assert!(!name_problems(NameRule::Subdomain, "My_App").is_empty());
        assert!(name_problems(NameRule::Label, "kube-system").is_empty());
        assert!(!name_problems(NameRule::Label, "a.b").is_empty());
        assert!(!name_problems(NameRule::Dns1035, "1abc").is_empty());
        assert!(name_problems(NameRule::PathSegment, "system:admin").is_empty());
        assert!(!name_problems(NameRule::PathSegment, "a/b").is_empty());
    }

    #[test]
    fn metadata_causes() {
        let obj =
            json!({"metadata": {"name": "Bad_Name", "labels": {"app": "ok", "bad key": "x"}}});
        let causes = validate_object_meta(&obj, true, NameRule::Subdomain);
        let fields: Vec<_> = causes.iter().map(|c| c.field.as_str()).collect();
        assert_eq!(
            fields,
            ["metadata.name", "metadata.namespace", "metadata.labels"]
        );
        assert!(
            causes[0]
                .message
                .starts_with("Invalid value: \"Bad_Name\": a lowercase RFC 1123 subdomain")
        );
    }
}
