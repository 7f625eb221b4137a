//! The Pod Security Standards, as upstream's `k8s.io/pod-security-admission`
//! (`api/` and `policy/`): the levels `privileged`, `baseline` and
//! `restricted`, policy versions (`latest`, `v1.x`), the namespace labels
//! that choose a policy per mode (`pod-security.kubernetes.io/enforce`,
//! `audit`, `warn` and their `-version`s), and the evaluation of a pod's
//! metadata and spec against a level at a version, with upstream's reasons
//! and details word for word. The admission plugin that applies them lives
//! in the API server.

mod checks;
pub mod config;

use std::fmt;

use serde_json::{Map, Value};

pub use crate::validation::common::go_quote;

/// The newest version with its own checks (1.33 has none newer than 1.32):
/// later versions, and `latest`, are evaluated as this one.
pub const MAX_MINOR: u64 = 32;

/// A Pod Security Standard, least to most strict.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Privileged,
    Baseline,
    Restricted,
}

impl Level {
    /// Upstream's `ParseLevel`: an unknown level is an error.
    pub fn parse(s: &str) -> Option<Level> {
        match s {
            "privileged" => Some(Level::Privileged),
            "baseline" => Some(Level::Baseline),
            "restricted" => Some(Level::Restricted),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Level::Privileged => "privileged",
            Level::Baseline => "baseline",
            Level::Restricted => "restricted",
        }
    }
}

/// A policy version: `latest` or `v1.<minor>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    Latest,
    V1(u64),
}

impl Version {
    /// Upstream's `ParseVersion`: `latest`, or `v1.` and a minor without
    /// leading zeros.
    pub fn parse(s: &str) -> Option<Version> {
        if s == "latest" {
            return Some(Version::Latest);
        }
        let minor = s.strip_prefix("v1.")?;
        if minor.is_empty()
            || !minor.bytes().all(|b| b.is_ascii_digit())
            || (minor.len() > 1 && minor.starts_with('0'))
        {
            return None;
        }
        minor.parse().ok().map(Version::V1)
    }

    /// The minor version whose checks apply.
    pub fn effective_minor(self) -> u64 {
        match self {
            Version::Latest => MAX_MINOR,
            Version::V1(m) => m.min(MAX_MINOR),
        }
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Version::Latest => f.write_str("latest"),
            Version::V1(m) => write!(f, "v1.{m}"),
        }
    }
}

/// A level at a version (`restricted:latest`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LevelVersion {
    pub level: Level,
    pub version: Version,
}

impl LevelVersion {
    pub const PRIVILEGED: LevelVersion = LevelVersion {
        level: Level::Privileged,
        version: Version::Latest,
    };
}

impl fmt::Display for LevelVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.level.as_str(), self.version)
    }
}

/// The policy of a namespace: one level and version per mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy {
    pub enforce: LevelVersion,
    pub audit: LevelVersion,
    pub warn: LevelVersion,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            enforce: LevelVersion::PRIVILEGED,
            audit: LevelVersion::PRIVILEGED,
            warn: LevelVersion::PRIVILEGED,
        }
    }
}

impl Policy {
    pub fn fully_privileged(&self) -> bool {
        [self.enforce, self.audit, self.warn]
            .iter()
            .all(|lv| lv.level == Level::Privileged)
    }
}

pub const ENFORCE_LABEL: &str = "pod-security.kubernetes.io/enforce";
pub const ENFORCE_VERSION_LABEL: &str = "pod-security.kubernetes.io/enforce-version";
pub const AUDIT_LABEL: &str = "pod-security.kubernetes.io/audit";
pub const AUDIT_VERSION_LABEL: &str = "pod-security.kubernetes.io/audit-version";
pub const WARN_LABEL: &str = "pod-security.kubernetes.io/warn";
pub const WARN_VERSION_LABEL: &str = "pod-security.kubernetes.io/warn-version";

pub(crate) const LEVEL_ERROR: &str = "must be one of privileged, baseline, restricted";
pub(crate) const VERSION_ERROR: &str = "must be \"latest\" or \"v1.x\"";

/// A namespace label that does not parse.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LabelError {
    pub label: &'static str,
    pub value: String,
    pub message: &'static str,
}

impl LabelError {
    /// The field path, as upstream's `metadata.labels[<label>]`.
    pub fn field(&self) -> String {
        format!("metadata.labels[{}]", self.label)
    }
}

impl fmt::Display for LabelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: Invalid value: {}: {}",
            self.field(),
            go_quote(&self.value),
            self.message
        )
    }
}

/// Upstream's `PolicyToEvaluate` with the default (privileged) policy: the
/// policy the labels choose, and what did not parse (an invalid enforce
/// level enforces `restricted`; invalid audit and warn levels are
/// privileged; an invalid version is `latest`).
pub fn policy_from_labels(labels: Option<&Map<String, Value>>) -> (Policy, Vec<LabelError>) {
    policy_to_evaluate(labels, Policy::default())
}

/// Upstream's `PolicyToEvaluate`: the namespace's labels over the
/// configured `defaults`.
pub fn policy_to_evaluate(
    labels: Option<&Map<String, Value>>,
    defaults: Policy,
) -> (Policy, Vec<LabelError>) {
    let mut policy = defaults;
    let mut errors = Vec::new();
    let Some(labels) = labels.filter(|l| !l.is_empty()) else {
        return (policy, errors);
    };
    let get = |key: &str| labels.get(key).and_then(Value::as_str);
    let level = |key: &'static str, invalid: Level, errors: &mut Vec<LabelError>| {
        get(key).map(|v| {
            Level::parse(v).unwrap_or_else(|| {
                errors.push(LabelError {
                    label: key,
                    value: v.to_string(),
                    message: LEVEL_ERROR,
                });
                invalid
            })
        })
    };
    let version = |key: &'static str, errors: &mut Vec<LabelError>| {
        get(key).map(|v| {
            Version::parse(v).unwrap_or_else(|| {
                errors.push(LabelError {
                    label: key,
                    value: v.to_string(),
                    message: VERSION_ERROR,
                });
                Version::Latest
            })
        })
    };
    let mut has_enforce_level = false;
    if let Some(l) = level(ENFORCE_LABEL, Level::Restricted, &mut errors) {
        has_enforce_level = get(ENFORCE_LABEL).and_then(Level::parse).is_some();
        policy.enforce.level = l;
    }
    if let Some(v) = version(ENFORCE_VERSION_LABEL, &mut errors) {
        policy.enforce.version = v;
    }
    if let Some(l) = level(AUDIT_LABEL, Level::Privileged, &mut errors) {
        policy.audit.level = l;
    }
    if let Some(v) = version(AUDIT_VERSION_LABEL, &mut errors) {
        policy.audit.version = v;
    }
    let has_warn_level = get(WARN_LABEL).is_some();
    if let Some(l) = level(WARN_LABEL, Level::Privileged, &mut errors) {
        policy.warn.level = l;
    }
    let has_warn_version = get(WARN_VERSION_LABEL).is_some();
    if let Some(v) = version(WARN_VERSION_LABEL, &mut errors) {
        policy.warn.version = v;
    }
    // Warn at least as strictly as enforce when warn is not set.
    if !has_warn_level && has_enforce_level && policy.enforce.level > policy.warn.level {
        policy.warn.level = policy.enforce.level;
        if !has_warn_version {
            policy.warn.version = policy.enforce.version;
        }
    }
    (policy, errors)
}

/// Upstream's aggregate of field errors: one message as it is, several in
/// brackets; identical messages once.
pub fn aggregate(errors: &[LabelError]) -> String {
    let mut messages: Vec<String> = Vec::new();
    for e in errors {
        let m = e.to_string();
        if !messages.contains(&m) {
            messages.push(m);
        }
    }
    match messages.len() {
        1 => messages.remove(0),
        _ => format!("[{}]", messages.join(", ")),
    }
}

/// One failed check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    pub reason: String,
    pub detail: String,
}

/// Every check of `lv` the pod (its metadata and spec, or a template's)
/// fails, in upstream's order.
pub fn evaluate(lv: LevelVersion, metadata: &Value, spec: &Value) -> Vec<Violation> {
    if lv.level == Level::Privileged {
        return Vec::new();
    }
    let minor = lv.version.effective_minor();
    let pod = checks::Pod { metadata, spec };
    checks::applicable(lv.level, minor)
        .into_iter()
        .filter_map(|check| (check.run)(&pod, minor))
        .collect()
}

/// Upstream's `ForbiddenReason`: the reasons, comma separated.
pub fn forbidden_reason(violations: &[Violation]) -> String {
    violations
        .iter()
        .map(|v| v.reason.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Upstream's `ForbiddenDetail`: each reason with its detail in parentheses.
pub fn forbidden_detail(violations: &[Violation]) -> String {
    violations
        .iter()
        .map(|v| {
            if v.detail.is_empty() {
                v.reason.clone()
            } else {
                format!("{} ({})", v.reason, v.detail)
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests;
