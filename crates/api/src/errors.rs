//! `metav1.Status` errors with upstream's reasons, codes and messages
//! (k8s.io/apimachinery/pkg/api/errors).

use serde_json::{Value, json};

/// One cause of an Invalid (or other) error, as `metav1.StatusCause`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cause {
    /// `FieldValueRequired`, `FieldValueInvalid`, `FieldValueDuplicate`, ...
    pub reason: &'static str,
    pub message: String,
    /// The field path, e.g. `spec.containers[0].name`.
    pub field: String,
}

impl Cause {
    pub fn required(field: impl Into<String>) -> Self {
        Cause {
            reason: "FieldValueRequired",
            message: "Required value".into(),
            field: field.into(),
        }
    }

    pub fn invalid(field: impl Into<String>, value: &Value, detail: impl AsRef<str>) -> Self {
        Cause {
            reason: "FieldValueInvalid",
            message: format!(
                "Invalid value: {}: {}",
                render_value(value),
                detail.as_ref()
            ),
            field: field.into(),
        }
    }

    pub fn forbidden(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Cause {
            reason: "FieldValueForbidden",
            message: format!("Forbidden: {}", detail.into()),
            field: field.into(),
        }
    }

    pub fn duplicate(field: impl Into<String>, value: &Value) -> Self {
        Cause {
            reason: "FieldValueDuplicate",
            message: format!("Duplicate value: {}", render_value(value)),
            field: field.into(),
        }
    }

    pub fn not_supported(field: impl Into<String>, value: &Value, supported: &[&str]) -> Self {
        let list: Vec<String> = supported.iter().map(|s| format!("\"{s}\"")).collect();
        Cause {
            reason: "FieldValueNotSupported",
            message: format!(
                "Unsupported value: {}: supported values: {}",
                render_value(value),
                list.join(", ")
            ),
            field: field.into(),
        }
    }

    /// `field.TooLong`: the value itself is never shown.
    pub fn too_long(field: impl Into<String>, max: usize) -> Self {
        Cause {
            reason: "FieldValueTooLong",
            message: format!("Too long: may not be more than {max} bytes"),
            field: field.into(),
        }
    }

    /// `field.TooMany`: a list with more than `max` items.
    pub fn too_many(field: impl Into<String>, actual: usize, max: usize) -> Self {
        Cause {
            reason: "FieldValueTooMany",
            message: format!("Too many: {actual}: must have at most {max} items"),
            field: field.into(),
        }
    }

    /// `field.NotFound`: a reference to something that does not exist.
    pub fn not_found(field: impl Into<String>, value: &Value) -> Self {
        Cause {
            reason: "FieldValueNotFound",
            message: format!("Not found: {}", render_value(value)),
            field: field.into(),
        }
    }

    /// `field.Required` with a detail: `Required value: <detail>`.
    pub fn required_because(field: impl Into<String>, detail: impl AsRef<str>) -> Self {
        Cause {
            reason: "FieldValueRequired",
            message: format!("Required value: {}", detail.as_ref()),
            field: field.into(),
        }
    }

    /// `field.Invalid` with a value already rendered as upstream prints it
    /// (Go's `%#v` of a struct, map or slice: `map[string]string{"a":"b"}`).
    pub fn invalid_rendered(
        field: impl Into<String>,
        rendered: impl AsRef<str>,
        detail: impl AsRef<str>,
    ) -> Self {
        let detail = detail.as_ref();
        Cause {
            reason: "FieldValueInvalid",
            message: if detail.is_empty() {
                format!("Invalid value: {}", rendered.as_ref())
            } else {
                format!("Invalid value: {}: {detail}", rendered.as_ref())
            },
            field: field.into(),
        }
    }

    /// `field.NotSupported` with a value already rendered as upstream prints it.
    pub fn not_supported_rendered(
        field: impl Into<String>,
        rendered: impl AsRef<str>,
        supported: &[&str],
    ) -> Self {
        let list: Vec<String> = supported.iter().map(|s| format!("{s:?}")).collect();
        Cause {
            reason: "FieldValueNotSupported",
            message: format!(
                "Unsupported value: {}: supported values: {}",
                rendered.as_ref(),
                list.join(", ")
            ),
            field: field.into(),
        }
    }

    /// `field.Duplicate` with a value already rendered as upstream prints it.
    pub fn duplicate_rendered(field: impl Into<String>, rendered: impl AsRef<str>) -> Self {
        Cause {
            reason: "FieldValueDuplicate",
            message: format!("Duplicate value: {}", rendered.as_ref()),
            field: field.into(),
        }
    }

    /// `field: message`, as the Invalid message lists it.
    pub fn display(&self) -> String {
        if self.field.is_empty() {
            self.message.clone()
        } else {
            format!("{}: {}", self.field, self.message)
        }
    }
}

/// How field.ErrorList renders a value: strings quoted, numbers and bools bare.
fn render_value(v: &Value) -> String {
    match v {
        Value::String(s) => format!("{s:?}"),
        Value::Null => "null".into(),
        other => other.to_string(),
    }
}

/// Upstream's `metav1.StatusReason`: why a request failed, as machines
/// branch on it (`Unknown` is the empty reason, left out of a Status).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatusReason {
    Unknown,
    Unauthorized,
    Forbidden,
    NotFound,
    AlreadyExists,
    Conflict,
    Gone,
    Invalid,
    ServerTimeout,
    StoreReadError,
    Timeout,
    TooManyRequests,
    BadRequest,
    MethodNotAllowed,
    NotAcceptable,
    RequestEntityTooLarge,
    UnsupportedMediaType,
    InternalError,
    Expired,
    ServiceUnavailable,
}

impl StatusReason {
    /// Upstream's spelling in a Status.
    pub fn as_str(self) -> &'static str {
        match self {
            StatusReason::Unknown => "",
            StatusReason::Unauthorized => "Unauthorized",
            StatusReason::Forbidden => "Forbidden",
            StatusReason::NotFound => "NotFound",
            StatusReason::AlreadyExists => "AlreadyExists",
            StatusReason::Conflict => "Conflict",
            StatusReason::Gone => "Gone",
            StatusReason::Invalid => "Invalid",
            StatusReason::ServerTimeout => "ServerTimeout",
            StatusReason::StoreReadError => "StoreReadError",
            StatusReason::Timeout => "Timeout",
            StatusReason::TooManyRequests => "TooManyRequests",
            StatusReason::BadRequest => "BadRequest",
            StatusReason::MethodNotAllowed => "MethodNotAllowed",
            StatusReason::NotAcceptable => "NotAcceptable",
            StatusReason::RequestEntityTooLarge => "RequestEntityTooLarge",
            StatusReason::UnsupportedMediaType => "UnsupportedMediaType",
            StatusReason::InternalError => "InternalError",
            StatusReason::Expired => "Expired",
            StatusReason::ServiceUnavailable => "ServiceUnavailable",
        }
    }
}

impl std::fmt::Display for StatusReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An API error: becomes a `metav1.Status` response.
#[derive(Clone, Debug, PartialEq)]
pub struct ApiError {
    pub code: u16,
    pub reason: StatusReason,
    pub message: String,
    pub details: Option<Value>,
    /// The Status's `metadata.continue`: where a list whose continue token
    /// expired may go on (at the latest resource version).
    pub list_continue: Option<String>,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}): {}", self.code, self.reason, self.message)
    }
}

impl std::error::Error for ApiError {}

/// What an authorizer refused: a resource request, or a path.
#[derive(Debug, Default, Clone, Copy)]
pub struct Forbidden<'a> {
    pub verb: &'a str,
    pub group: &'a str,
    pub resource: &'a str,
    pub subresource: &'a str,
    pub namespace: &'a str,
    pub name: &'a str,
    /// A non-resource request's path (then the rest is empty).
    pub path: Option<&'a str>,
}

/// "pods" or "deployments.apps": the resource as errors name it.
pub fn qualified(group: &str, resource: &str) -> String {
    if group.is_empty() {
        resource.to_string()
    } else {
        format!("{resource}.{group}")
    }
}

fn details(name: &str, group: &str, kind: &str) -> Value {
    let mut d = serde_json::Map::new();
    if !name.is_empty() {
        d.insert("name".into(), json!(name));
    }
    if !group.is_empty() {
        d.insert("group".into(), json!(group));
    }
    d.insert("kind".into(), json!(kind));
    Value::Object(d)
}

impl ApiError {
    pub fn new(code: u16, reason: StatusReason, message: impl Into<String>) -> Self {
        ApiError {
            list_continue: None,
            code,
            reason,
            message: message.into(),
            details: None,
        }
    }

    pub fn not_found(group: &str, resource: &str, name: &str) -> Self {
        ApiError {
            list_continue: None,
            code: 404,
            reason: StatusReason::NotFound,
            message: format!("{} \"{name}\" not found", qualified(group, resource)),
            details: Some(details(name, group, resource)),
        }
    }

    /// A 404 for a path that names no resource.
    pub fn not_found_path() -> Self {
        ApiError {
            list_continue: None,
            code: 404,
            reason: StatusReason::NotFound,
            message: "the server could not find the requested resource".into(),
            details: Some(json!({})),
        }
    }

    /// Upstream's `NewForbidden(qualifiedResource, name, err)`: an object
    /// refused for a reason of its own (escalation, a terminating namespace).
    pub fn forbidden_object(group: &str, resource: &str, name: &str, why: &str) -> Self {
        ApiError {
            list_continue: None,
            code: 403,
            reason: StatusReason::Forbidden,
            message: format!(
                "{} {name:?} is forbidden: {why}",
                qualified(group, resource)
            ),
            details: Some(details(name, group, resource)),
        }
    }

    pub fn already_exists(group: &str, resource: &str, name: &str) -> Self {
        ApiError {
            list_continue: None,
            code: 409,
            reason: StatusReason::AlreadyExists,
            message: format!("{} \"{name}\" already exists", qualified(group, resource)),
            details: Some(details(name, group, resource)),
        }
    }

    pub fn conflict(group: &str, resource: &str, name: &str, why: &str) -> Self {
        ApiError {
            list_continue: None,
            code: 409,
            reason: StatusReason::Conflict,
            message: format!(
                "Operation cannot be fulfilled on {} \"{name}\": {why}",
                qualified(group, resource)
            ),
            details: Some(details(name, group, resource)),
        }
    }

    /// The optimistic-concurrency conflict.
    pub fn modified(group: &str, resource: &str, name: &str) -> Self {
        Self::conflict(
            group,
            resource,
            name,
            "the object has been modified; please apply your changes to the latest version and try again",
        )
    }

    pub fn invalid(group: &str, kind: &str, name: &str, causes: Vec<Cause>) -> Self {
        let list: Vec<String> = causes.iter().map(Cause::display).collect();
        let summary = if list.len() == 1 {
            list[0].clone()
        } else {
            format!("[{}]", list.join(", "))
        };
        let mut d = details(name, group, kind);
        d["causes"] = Value::Array(
            causes
                .iter()
                .map(|c| json!({"reason": c.reason, "message": c.message, "field": c.field}))
                .collect(),
        );
        ApiError {
            list_continue: None,
            code: 422,
            reason: StatusReason::Invalid,
            // The qualified kind, as Go's GroupKind.String().
            message: if group.is_empty() {
                format!("{kind} \"{name}\" is invalid: {summary}")
            } else {
                format!("{kind}.{group} \"{name}\" is invalid: {summary}")
            },
            details: Some(d),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, StatusReason::BadRequest, message)
    }

    pub fn method_not_allowed() -> Self {
        ApiError {
            details: Some(json!({})),
            ..Self::new(
                405,
                StatusReason::MethodNotAllowed,
                "the server does not allow this method on the requested resource",
            )
        }
    }

    /// 410 Expired: a resource version or continue token too old to serve.
    pub fn expired(message: impl Into<String>) -> Self {
        Self::new(410, StatusReason::Expired, message)
    }

    pub fn gone(message: impl Into<String>) -> Self {
        Self::new(410, StatusReason::Gone, message)
    }

    pub fn too_large(message: impl Into<String>) -> Self {
        Self::new(
            413,
            StatusReason::RequestEntityTooLarge,
            format!("Request entity too large: {}", message.into()),
        )
    }

    /// 415 for a body whose media type the request does not take; `patch`
    /// selects the PATCH list.
    pub fn unsupported_media_type(patch: bool) -> Self {
        let accepted = if patch {
            "application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json, application/apply-patch+yaml"
        } else {
            "application/json, application/yaml, application/vnd.kubernetes.protobuf"
        };
        Self::new(
            415,
            StatusReason::UnsupportedMediaType,
            format!(
                "the body of the request was in an unknown format - accepted media types include: {accepted}"
            ),
        )
    }

    /// No media type the client accepts can be served (upstream's negotiation
    /// error, which lists the serializers' media types).
    pub fn not_acceptable() -> Self {
        Self::new(
            406,
            StatusReason::NotAcceptable,
            "only the following media types are accepted: application/json, application/yaml, application/vnd.kubernetes.protobuf",
        )
    }

    pub fn too_many_requests(retry_after: u32) -> Self {
        ApiError {
            list_continue: None,
            code: 429,
            reason: StatusReason::TooManyRequests,
            message: "Too many requests, please try again later.".into(),
            details: Some(json!({"causes": [], "retryAfterSeconds": retry_after})),
        }
    }

    pub fn unauthorized() -> Self {
        Self::new(401, StatusReason::Unauthorized, "Unauthorized")
    }

    /// Upstream's `ForbiddenStatusError`: what the authorizer refused, as
    /// `NewForbidden` words it (`users "bob" is forbidden: User "alice"
    /// cannot impersonate resource "users" in API group "" at the cluster
    /// scope`), with the authorizer's reason after it when there is one.
    pub fn forbidden(user: &str, request: &Forbidden<'_>, why: &str) -> Self {
        let message = match request.path {
            Some(path) => format!("User \"{user}\" cannot {} path \"{path}\"", request.verb),
            None => {
                let resource = if request.subresource.is_empty() {
                    request.resource.to_string()
                } else {
                    format!("{}/{}", request.resource, request.subresource)
                };
                let scope = if request.namespace.is_empty() {
                    "at the cluster scope".to_string()
                } else {
                    format!("in the namespace \"{}\"", request.namespace)
                };
                format!(
                    "User \"{user}\" cannot {} resource \"{resource}\" in API group \"{}\" {scope}",
                    request.verb, request.group
                )
            }
        };
        // Go's sanitizer: nothing that reads as HTML.
        let message = message
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;");
        let message = if why.is_empty() {
            message
        } else {
            format!("{message}: {why}")
        };
        let qualified = qualified(request.group, request.resource);
        let message = if request.resource.is_empty() {
            format!("forbidden: {message}")
        } else if request.name.is_empty() {
            format!("{qualified} is forbidden: {message}")
        } else {
            format!("{qualified} \"{}\" is forbidden: {message}", request.name)
        };
        let mut details = json!({"group": request.group, "kind": request.resource});
        if !request.name.is_empty() {
            details["name"] = json!(request.name);
        }
        ApiError {
            list_continue: None,
            code: 403,
            reason: StatusReason::Forbidden,
            message,
            details: Some(details),
        }
    }

    pub fn internal(message: impl std::fmt::Display) -> Self {
        ApiError {
            list_continue: None,
            code: 500,
            reason: StatusReason::InternalError,
            message: format!("Internal error occurred: {message}"),
            details: Some(json!({"causes": [{"message": message.to_string()}]})),
        }
    }

    pub fn timeout(message: impl Into<String>) -> Self {
        ApiError {
            details: Some(json!({"retryAfterSeconds": 1})),
            ..Self::new(
                504,
                StatusReason::Timeout,
                format!("Timeout: {}", message.into()),
            )
        }
    }

    /// A read at a resource version the store has not reached (after waiting).
    pub fn too_large_resource_version(requested: i64, current: i64) -> Self {
        ApiError {
            details: Some(
                json!({"causes": [{"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}], "retryAfterSeconds": 1}),
            ),
            ..Self::timeout(format!(
                "Too large resource version: {requested}, current: {current}"
            ))
        }
    }

    /// The `metav1.Status` object.
    pub fn status(&self) -> Value {
        let mut s = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason.as_str(),
            "code": self.code,
        });
        if self.reason == StatusReason::Unknown {
            // StatusReasonUnknown: omitted, as upstream's omitempty does.
            s.as_object_mut().map(|m| m.remove("reason"));
        }
        if let Some(d) = &self.details {
            s["details"] = d.clone();
        }
        if let Some(c) = &self.list_continue {
            s["metadata"]["continue"] = json!(c);
        }
        s
    }

    /// An error upstream does not interpret (a plain Go error), as
    /// `ErrorToAPIStatus` answers it: 500, no reason, the error's text.
    pub fn unknown(message: impl Into<String>) -> Self {
        Self::new(500, StatusReason::Unknown, message)
    }
}

/// A `metav1.Status` of success (e.g. for deletes that remove at once with no object).
pub fn success_status(details: Value) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details})
}
