//! Auditing, as upstream's (`k8s.io/apiserver/pkg/audit`, the log backend
//! and `--audit-policy-file`): every request gets an audit ID (the
//! `Audit-Id` response header); with a policy, the first rule that matches
//! a request sets its level — `None`, `Metadata` (who did what to which
//! object, and the answer), `Request` (and the request's object),
//! `RequestResponse` (and the response's) — and `audit.k8s.io/v1` Events are
//! written as JSON lines at the stages `RequestReceived`, `ResponseStarted`
//! (long-running requests) and `ResponseComplete`, to `--audit-log-path`
//! (`-`: standard output), rotated by size, age and count as upstream's
//! lumberjack logger does.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Mutex;

use serde::Deserialize;
use serde_json::{Value, json};

use crate::UserInfo;
use crate::request::RequestInfo;

/// How much of a request is recorded.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    #[default]
    None,
    Metadata,
    Request,
    RequestResponse,
}

impl Level {
    fn name(self) -> &'static str {
        match self {
            Level::None => "None",
            Level::Metadata => "Metadata",
            Level::Request => "Request",
            Level::RequestResponse => "RequestResponse",
        }
    }
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct GroupResources {
    group: String,
    resources: Vec<String>,
    resource_names: Vec<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct Rule {
    level: Level,
    users: Vec<String>,
    user_groups: Vec<String>,
    verbs: Vec<String>,
    resources: Vec<GroupResources>,
    namespaces: Vec<String>,
    #[serde(rename = "nonResourceURLs")]
    non_resource_urls: Vec<String>,
    omit_stages: Vec<String>,
}

/// An `audit.k8s.io/v1` Policy.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Policy {
    rules: Vec<Rule>,
    omit_stages: Vec<String>,
    omit_managed_fields: bool,
}

/// Why audit settings are unusable.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("--audit-policy-file {path}: {why}")]
    Policy { path: String, why: String },
    #[error("--audit-log-path {path}: {source}")]
    Log {
        path: String,
        source: std::io::Error,
    },
}

impl Policy {
    /// Reads a policy file (YAML or JSON).
    pub fn from_file(path: &std::path::Path) -> Result<Policy, AuditError> {
        let err = |why: String| AuditError::Policy {
            path: path.display().to_string(),
            why,
        };
        let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
        let value: Value = serde_yaml::from_str(&text).map_err(|e| err(e.to_string()))?;
        match (value["apiVersion"].as_str(), value["kind"].as_str()) {
            (Some("audit.k8s.io/v1"), Some("Policy")) => {}
            (v, k) => {
                return Err(err(format!(
                    "not an audit.k8s.io/v1 Policy (apiVersion {v:?}, kind {k:?})"
                )));
            }
        }
        let policy: Policy = serde_json::from_value(value).map_err(|e| err(e.to_string()))?;
        if policy.rules.is_empty() {
            return Err(err("the policy has no rules".into()));
        }
        Ok(policy)
    }

    /// The level and the stages left out for a request (upstream's
    /// `policy.Checker`): the first matching rule's, else None.
    fn level_for(&self, a: &Attrs<'_>) -> (Level, Vec<String>) {
        for rule in &self.rules {
            if rule.matches(a) {
                let mut omit = self.omit_stages.clone();
                omit.extend(rule.omit_stages.iter().cloned());
                return (rule.level, omit);
            }
        }
        (Level::None, Vec::new())
    }
}

impl Rule {
    fn matches(&self, a: &Attrs<'_>) -> bool {
        let any = |list: &[String], v: &str| list.is_empty() || list.iter().any(|x| x == v);
        if !any(&self.users, &a.user.name) {
            return false;
        }
        if !self.user_groups.is_empty()
            && !a.user.groups.iter().any(|g| self.user_groups.contains(g))
        {
            return false;
        }
        if !any(&self.verbs, a.verb) {
            return false;
        }
        match a.resource {
            Some(r) => {
                if !self.non_resource_urls.is_empty() && self.resources.is_empty() {
                    return false;
                }
                if !self.namespaces.is_empty() && !self.namespaces.contains(&r.namespace) {
                    return false;
                }
                self.resources.is_empty()
                    || self.resources.iter().any(|g| {
                        let combined = if r.subresource.is_empty() {
                            r.resource.clone()
                        } else {
                            format!("{}/{}", r.resource, r.subresource)
                        };
                        g.group == r.group
                            && (g.resources.is_empty()
                                || g.resources.iter().any(|res| {
                                    res == "*"
                                        || *res == combined
                                        || (res.starts_with("*/")
                                            && !r.subresource.is_empty()
                                            && res[2..] == r.subresource)
                                        || (res.ends_with("/*")
                                            && res[..res.len() - 2] == r.resource)
                                }))
                            && (g.resource_names.is_empty() || g.resource_names.contains(&r.name))
                    })
            }
            None => {
                if !self.resources.is_empty() || !self.namespaces.is_empty() {
                    return false;
                }
                self.non_resource_urls.is_empty()
                    || self.non_resource_urls.iter().any(|u| {
                        u == a.path
                            || (u.ends_with('*') && a.path.starts_with(u.trim_end_matches('*')))
                    })
            }
        }
    }
}

/// What the policy looks at.
struct Attrs<'a> {
    user: &'a UserInfo,
    verb: &'a str,
    resource: Option<&'a RequestInfo>,
    path: &'a str,
}

/// `--audit-log-*`: where events go and how the file is rotated.
#[derive(Clone, Debug, Default)]
pub struct LogOptions {
    /// A file, or `-` for standard output.
    pub path: PathBuf,
    /// Days to keep rotated files (0: no limit).
    pub max_age_days: u64,
    /// Rotated files kept (0: no limit).
    pub max_backups: usize,
    /// Megabytes before the file is rotated (0: never).
    pub max_size_mb: u64,
}

/// The log backend.
struct Log {
    options: LogOptions,
    file: Option<std::fs::File>,
    size: u64,
}

impl Log {
    fn open(options: LogOptions) -> Result<Log, AuditError> {
        if options.path.as_os_str() == "-" {
            return Ok(Log {
                options,
                file: None,
                size: 0,
            });
        }
        let err = |source| AuditError::Log {
            path: options.path.display().to_string(),
            source,
        };
        if let Some(dir) = options.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(err)?;
        }
        let file = open_append(&options.path).map_err(err)?;
        let size = file.metadata().map(|m| m.len()).unwrap_or(0);
        Ok(Log {
            options,
            file: Some(file),
            size,
        })
    }

    fn write(&mut self, line: &[u8]) {
        let Some(file) = &mut self.file else {
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(line);
            return;
        };
        if let Err(e) = file.write_all(line) {
            tracing::error!(error = %e, "writing the audit log");
        }
        self.size += line.len() as u64;
        let max = self.options.max_size_mb * 1024 * 1024;
        if max > 0 && self.size >= max {
            self.rotate();
        }
    }

    /// lumberjack's rotation: the file is renamed `<name>-<time>.<ext>`,
    /// a new one started, and old ones beyond the count or age removed.
    fn rotate(&mut self) {
        let path = &self.options.path;
        let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("audit");
        let ext = path
            .extension()
            .and_then(|s| s.to_str())
            .map(|e| format!(".{e}"))
            .unwrap_or_default();
        let stamp = chrono::Utc::now().format("%Y-%m-%dT%H-%M-%S%.3f");
        let mut rotated = path.with_file_name(format!("{stem}-{stamp}{ext}"));
        // Two rotations in one millisecond: the second gets a suffix.
        let mut n = 1;
        while rotated.exists() {
            rotated = path.with_file_name(format!("{stem}-{stamp}.{n}{ext}"));
            n += 1;
        }
        if let Err(e) = std::fs::rename(path, &rotated) {
            tracing::error!(error = %e, "rotating the audit log");
            return;
        }
        match open_append(path) {
            Ok(f) => {
                self.file = Some(f);
                self.size = 0;
            }
            Err(e) => tracing::error!(error = %e, "reopening the audit log"),
        }
        let dir = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(std::path::Path::new("."));
        let prefix = format!("{stem}-");
        let mut backups: Vec<(std::time::SystemTime, PathBuf)> = std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| {
                e.file_name()
                    .to_str()
                    .is_some_and(|n| n.starts_with(&prefix) && n.ends_with(&ext))
            })
            .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
            .collect();
        backups.sort();
        backups.reverse();
        let max_age = std::time::Duration::from_secs(self.options.max_age_days * 86_400);
        for (i, (modified, p)) in backups.iter().enumerate() {
            let too_many = self.options.max_backups > 0 && i >= self.options.max_backups;
            let too_old =
                self.options.max_age_days > 0 && modified.elapsed().is_ok_and(|age| age > max_age);
            if too_many || too_old {
                let _ = std::fs::remove_file(p);
            }
        }
    }
}

fn open_append(path: &std::path::Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
}

/// The auditor: a policy and a backend.
pub struct Auditor {
    policy: Policy,
    log: Mutex<Log>,
}

impl std::fmt::Debug for Auditor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auditor")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl Auditor {
    pub fn new(policy: Policy, log: LogOptions) -> Result<Auditor, AuditError> {
        Ok(Auditor {
            policy,
            log: Mutex::new(Log::open(log)?),
        })
    }

    fn write(&self, event: &Value) {
        let mut line = serde_json::to_vec(event).unwrap_or_default();
        line.push(b'\n');
        self.log.lock().expect("poisoned").write(&line);
    }
}

/// A request body as an object, whatever it was sent as (JSON, patches,
/// YAML, protobuf).
fn decode(body: &[u8], content_type: &str) -> Option<Value> {
    let mime = content_type.split(';').next().unwrap_or("").trim();
    let value = match mime {
        "application/vnd.kubernetes.protobuf" => skiff_api::proto::decode(body).ok()?,
        "application/yaml"
        | "application/x-yaml"
        | "text/yaml"
        | "application/apply-patch+yaml" => skiff_api::decode::yaml(body).ok()?.value,
        _ => serde_json::from_slice(body).ok()?,
    };
    (value.is_object() || value.is_array()).then_some(value)
}

/// Upstream's timestamps: RFC 3339 with microseconds.
fn micro_time(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// Annotations the request's handling adds to its audit event (admission
/// plugins': `pod-security.kubernetes.io/enforce-policy`, ...), shared
/// between the audit filter and the endpoint.
pub type Annotations = std::sync::Arc<std::sync::Mutex<Vec<(String, String)>>>;

/// What the endpoint owes the audit event: its request body (when the
/// level records it) and annotations.
pub struct EndpointAudit {
    pub record_body: bool,
    pub annotations: Annotations,
}

/// One request's audit record, from its start to its answer.
pub struct Event {
    auditor: std::sync::Arc<Auditor>,
    level: Level,
    omit: Vec<String>,
    event: Value,
    /// The request's body and content type (Request level and above).
    pub request_body: Option<(bytes::Bytes, String)>,
}

/// Everything an event says about its request.
pub struct Request<'a> {
    pub audit_id: &'a str,
    pub user: &'a UserInfo,
    /// The authenticated user when it impersonates `user`.
    pub impersonator: Option<&'a UserInfo>,
    pub verb: &'a str,
    pub resource: Option<&'a RequestInfo>,
    pub path: &'a str,
    pub uri: &'a str,
    pub source_ips: Vec<String>,
    pub user_agent: Option<&'a str>,
    pub received: chrono::DateTime<chrono::Utc>,
}

fn user_json(u: &UserInfo) -> Value {
    // No user (a request that failed authentication): `{}`.
    if u.name.is_empty() && u.groups.is_empty() {
        return json!({});
    }
    u.to_json()
}

impl Event {
    /// Starts the record of a request, or None when the policy says None;
    /// writes `RequestReceived`.
    pub fn begin(auditor: &std::sync::Arc<Auditor>, r: &Request<'_>) -> Option<Event> {
        let e = Self::prepare(auditor, r)?;
        e.emit("RequestReceived");
        Some(e)
    }

    /// The record of a request at the policy's level, no stage written yet.
    pub fn prepare(auditor: &std::sync::Arc<Auditor>, r: &Request<'_>) -> Option<Event> {
        let (level, omit) = auditor.policy.level_for(&Attrs {
            user: r.impersonator.unwrap_or(r.user),
            verb: r.verb,
            resource: r.resource,
            path: r.path,
        });
        if level == Level::None {
            return None;
        }
        let mut event = json!({
            "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": level.name(),
            "auditID": r.audit_id, "stage": "RequestReceived", "requestURI": r.uri, "verb": r.verb,
            "sourceIPs": r.source_ips,
            "requestReceivedTimestamp": micro_time(r.received),
        });
        match r.impersonator {
            Some(by) => {
                event["user"] = user_json(by);
                event["impersonatedUser"] = user_json(r.user);
            }
            None => event["user"] = user_json(r.user),
        }
        if let Some(ua) = r.user_agent {
            event["userAgent"] = json!(ua);
        }
        if let Some(i) = r.resource {
            let mut object = json!({"resource": i.resource});
            for (field, value) in [
                ("namespace", &i.namespace),
                ("name", &i.name),
                ("apiGroup", &i.group),
                ("apiVersion", &i.version),
                ("subresource", &i.subresource),
            ] {
                if !value.is_empty() {
                    object[field] = json!(value);
                }
            }
            event["objectRef"] = object;
        }
        Some(Event {
            auditor: auditor.clone(),
            level,
            omit,
            event,
            request_body: None,
        })
    }

    /// Whether the request's object is recorded.
    pub fn wants_request(&self) -> bool {
        self.level >= Level::Request
    }

    /// Whether the response's object is recorded.
    pub fn wants_response(&self) -> bool {
        self.level >= Level::RequestResponse
    }

    /// Adds annotations to the event.
    pub fn annotate(&mut self, annotations: &[(String, String)]) {
        if annotations.is_empty() {
            return;
        }
        let map = &mut self.event["annotations"];
        if !map.is_object() {
            *map = json!({});
        }
        for (k, v) in annotations {
            map[k.as_str()] = json!(v);
        }
    }

    /// Records the user the request acts as (impersonation).
    pub fn impersonated(&mut self, user: &UserInfo) {
        self.event["impersonatedUser"] = user_json(user);
    }

    /// Records the authorizer's decision.
    pub fn authorized(&mut self, allowed: bool, reason: &str) {
        let annotations = &mut self.event["annotations"];
        if !annotations.is_object() {
            *annotations = json!({});
        }
        annotations["authorization.k8s.io/decision"] =
            json!(if allowed { "allow" } else { "forbid" });
        if !reason.is_empty() {
            annotations["authorization.k8s.io/reason"] = json!(reason);
        }
    }

    /// Records the answer (`status`: a failure's Status, when it was one).
    pub fn respond(&mut self, code: u16, status: Option<&Value>, response: Option<&[u8]>) {
        let mut response_status = json!({"metadata": {}, "code": code});
        if let Some(s) = status {
            for field in ["status", "message", "reason", "details"] {
                if let Some(v) = s.get(field) {
                    response_status[field] = v.clone();
                }
            }
        }
        self.event["responseStatus"] = response_status;
        if self.wants_request()
            && let Some((body, content_type)) = &self.request_body
            && let Some(obj) = decode(body, content_type)
        {
            self.event["requestObject"] = self.trimmed(obj);
        }
        if self.wants_response()
            && let Some(body) = response
            && let Ok(obj) = serde_json::from_slice::<Value>(body)
        {
            self.event["responseObject"] = self.trimmed(obj);
        }
    }

    fn trimmed(&self, mut obj: Value) -> Value {
        if self.auditor.policy.omit_managed_fields
            && let Some(m) = obj.get_mut("metadata").and_then(Value::as_object_mut)
        {
            m.remove("managedFields");
        }
        obj
    }

    /// Writes the event at `stage`, unless the policy omits it.
    pub fn emit(&self, stage: &str) {
        if self.omit.iter().any(|s| s == stage) {
            return;
        }
        let mut event = self.event.clone();
        event["stage"] = json!(stage);
        event["stageTimestamp"] = json!(micro_time(chrono::Utc::now()));
        self.auditor.write(&event);
    }
}

/// Completes a long-running request's audit event when its response body
/// ends (or is dropped); held by the body ([`crate::response::holding`]).
pub struct CompleteOnDrop(pub Event);

impl Drop for CompleteOnDrop {
    fn drop(&mut self) {
        self.0.emit("ResponseComplete");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs<'a>(
        user: &'a UserInfo,
        verb: &'a str,
        r: Option<&'a RequestInfo>,
        path: &'a str,
    ) -> Attrs<'a> {
        Attrs {
            user,
            verb,
            resource: r,
            path,
        }
    }

    #[test]
    fn the_log_rotates_by_size_and_keeps_max_backups() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        let mut log = Log::open(LogOptions {
            path: path.clone(),
            max_age_days: 0,
            max_backups: 2,
            max_size_mb: 1,
        })
        .unwrap();
        let line = vec![b'x'; 1023]
            .into_iter()
            .chain([b'\n'])
            .collect::<Vec<_>>();
        // Four files' worth: three rotations.
        for _ in 0..4 * 1024 {
            log.write(&line);
        }
        let mut names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names.len(), 3, "{names:?}");
        assert!(
            names
                .iter()
                .filter(|n| n.starts_with("audit-") && n.ends_with(".log"))
                .count()
                == 2
        );
        assert!(std::fs::metadata(&path).unwrap().len() < 1024 * 1024);
    }

    #[test]
    fn the_first_matching_rule_decides() {
        let policy: Policy = serde_yaml::from_str(
            "apiVersion: audit.k8s.io/v1\nkind: Policy\nomitStages: [RequestReceived]\nrules:\n\
             - level: None\n  nonResourceURLs: [/healthz*, /version]\n\
             - level: None\n  users: [system:kube-proxy]\n  verbs: [watch]\n\
             - level: Metadata\n  resources: [{group: \"\", resources: [secrets, configmaps]}]\n\
             - level: RequestResponse\n  resources: [{group: \"\", resources: [pods/log]}]\n\
             - level: Request\n  namespaces: [dev]\n",
        )
        .unwrap();
        let alice = UserInfo {
            name: "alice".into(),
            uid: String::new(),
            groups: vec![],
            ..Default::default()
        };
        let info = |resource: &str, sub: &str, ns: &str| RequestInfo {
            group: String::new(),
            version: "v1".into(),
            namespace: ns.into(),
            resource: resource.into(),
            name: String::new(),
            subresource: sub.into(),
            verb: "get".into(),
            ..Default::default()
        };
        assert_eq!(
            policy
                .level_for(&attrs(&alice, "get", None, "/healthz/etcd"))
                .0,
            Level::None
        );
        let secrets = info("secrets", "", "dev");
        let (level, omit) = policy.level_for(&attrs(&alice, "get", Some(&secrets), ""));
        assert_eq!(
            (level, omit),
            (Level::Metadata, vec!["RequestReceived".to_string()])
        );
        let log = info("pods", "log", "prod");
        assert_eq!(
            policy.level_for(&attrs(&alice, "get", Some(&log), "")).0,
            Level::RequestResponse
        );
        let pods = info("pods", "", "dev");
        assert_eq!(
            policy
                .level_for(&attrs(&alice, "create", Some(&pods), ""))
                .0,
            Level::Request
        );
        let prod = info("pods", "", "prod");
        assert_eq!(
            policy
                .level_for(&attrs(&alice, "create", Some(&prod), ""))
                .0,
            Level::None
        );
        assert_eq!(
            policy.level_for(&attrs(&alice, "get", None, "/metrics")).0,
            Level::None
        );
    }
}
