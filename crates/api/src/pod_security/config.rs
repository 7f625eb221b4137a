//! The PodSecurity admission plugin's configuration (upstream's
//! `PodSecurityConfiguration`, `pod-security.admission.config.k8s.io/v1`,
//! `v1beta1` or `v1alpha1`): the policy of namespaces without labels and the
//! exemptions (users, namespaces, runtime classes), defaulted and validated
//! as upstream's `admission/api`.

use serde_json::Value;

use super::{Level, LevelVersion, Policy, Version};
use crate::errors::Cause;
use crate::validation::{NameRule, name_problems};

/// Requests PodSecurity lets through unchecked.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Exemptions {
    pub usernames: Vec<String>,
    pub namespaces: Vec<String>,
    pub runtime_classes: Vec<String>,
}

/// The plugin's configuration: without one, everything privileged and
/// nothing exempt.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Config {
    pub defaults: Policy,
    pub exemptions: Exemptions,
}

const API_VERSIONS: &[&str] = &[
    "pod-security.admission.config.k8s.io/v1",
    "pod-security.admission.config.k8s.io/v1beta1",
    "pod-security.admission.config.k8s.io/v1alpha1",
];

impl Config {
    /// A `PodSecurityConfiguration` object (from YAML or JSON): defaulted
    /// (empty levels privileged, empty versions latest), then validated;
    /// the errors as upstream's field errors print.
    pub fn parse(v: &Value) -> Result<Config, Vec<String>> {
        let api_version = v.get("apiVersion").and_then(Value::as_str).unwrap_or("");
        let kind = v.get("kind").and_then(Value::as_str).unwrap_or("");
        if !API_VERSIONS.contains(&api_version) || kind != "PodSecurityConfiguration" {
            return Err(vec![format!(
                "expected PodSecurityConfiguration of {}, got {kind:?} of {api_version:?}",
                API_VERSIONS.join(", ")
            )]);
        }
        let mut causes = Vec::new();
        let defaults = v.get("defaults").unwrap_or(&Value::Null);
        let text = |key: &str| defaults.get(key).and_then(Value::as_str).unwrap_or("");
        let mut mode = |key: &str| {
            let level = match text(key) {
                "" => Level::Privileged,
                l => Level::parse(l).unwrap_or_else(|| {
                    causes.push(Cause::invalid(
                        format!("defaults.{key}"),
                        &Value::from(l),
                        super::LEVEL_ERROR,
                    ));
                    Level::Privileged
                }),
            };
            let version_key = format!("{key}-version");
            let version = match text(&version_key) {
                "" => Version::Latest,
                s => Version::parse(s).unwrap_or_else(|| {
                    causes.push(Cause::invalid(
                        format!("defaults.{version_key}"),
                        &Value::from(s),
                        super::VERSION_ERROR,
                    ));
                    Version::Latest
                }),
            };
            LevelVersion { level, version }
        };
        let defaults = Policy {
            enforce: mode("enforce"),
            audit: mode("audit"),
            warn: mode("warn"),
        };
        let exemptions = v.get("exemptions").unwrap_or(&Value::Null);
        let mut list = |key: &str, check: &dyn Fn(&str) -> Vec<String>| {
            let mut out: Vec<String> = Vec::new();
            let items = exemptions.get(key).and_then(Value::as_array);
            for (i, item) in items.into_iter().flatten().enumerate() {
                let item = item.as_str().unwrap_or("");
                let path = format!("exemptions.{key}[{i}]");
                let problems = check(item);
                if !problems.is_empty() {
                    causes.push(Cause::invalid(
                        path,
                        &Value::from(item),
                        problems.join(", "),
                    ));
                } else if out.iter().any(|o| o == item) {
                    causes.push(Cause::duplicate(path, &Value::from(item)));
                } else {
                    out.push(item.to_string());
                }
            }
            out
        };
        let namespaces = list("namespaces", &|n| name_problems(NameRule::Label, n));
        let runtime_classes = list("runtimeClasses", &|r| name_problems(NameRule::Subdomain, r));
        let usernames = list("usernames", &|u| {
            if u.is_empty() {
                vec!["username must not be empty".to_string()]
            } else {
                Vec::new()
            }
        });
        if !causes.is_empty() {
            return Err(causes.iter().map(Cause::display).collect());
        }
        Ok(Config {
            defaults,
            exemptions: Exemptions {
                usernames,
                namespaces,
                runtime_classes,
            },
        })
    }

    pub fn exempt_namespace(&self, namespace: &str) -> bool {
        !namespace.is_empty() && self.exemptions.namespaces.iter().any(|n| n == namespace)
    }

    pub fn exempt_user(&self, username: &str) -> bool {
        !username.is_empty() && self.exemptions.usernames.iter().any(|u| u == username)
    }

    /// Whether a pod spec's `runtimeClassName` is exempt.
    pub fn exempt_runtime_class(&self, spec: &Value) -> bool {
        spec.get("runtimeClassName")
            .and_then(Value::as_str)
            .filter(|r| !r.is_empty())
            .is_some_and(|r| self.exemptions.runtime_classes.iter().any(|e| e == r))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defaults_and_exemptions() {
        let c = Config::parse(&json!({
            "apiVersion": "pod-security.admission.config.k8s.io/v1",
            "kind": "PodSecurityConfiguration",
            "defaults": {"enforce": "baseline", "enforce-version": "v1.30", "warn": "restricted"},
            "exemptions": {"usernames": ["admin"], "namespaces": ["kube-system"], "runtimeClasses": ["kata"]},
        }))
        .unwrap();
        assert_eq!(c.defaults.enforce.to_string(), "baseline:v1.30");
        assert_eq!(c.defaults.audit.to_string(), "privileged:latest");
        assert_eq!(c.defaults.warn.to_string(), "restricted:latest");
        assert!(c.exempt_namespace("kube-system") && !c.exempt_namespace("default"));
        assert!(c.exempt_user("admin") && !c.exempt_user(""));
        assert!(c.exempt_runtime_class(&json!({"runtimeClassName": "kata"})));
        assert!(!c.exempt_runtime_class(&json!({})));
        // An empty configuration: upstream's defaults.
        let empty = Config::parse(&json!({
            "apiVersion": "pod-security.admission.config.k8s.io/v1beta1",
            "kind": "PodSecurityConfiguration",
        }))
        .unwrap();
        assert_eq!(empty, Config::default());
    }

    #[test]
    fn invalid_configurations_are_refused_with_upstreams_errors() {
        let errors = Config::parse(&json!({
            "apiVersion": "pod-security.admission.config.k8s.io/v1",
            "kind": "PodSecurityConfiguration",
            "defaults": {"enforce": "strict", "audit-version": "v2"},
            "exemptions": {"usernames": ["", "a", "a"], "namespaces": ["Bad_NS", "ok", "ok"]},
        }))
        .unwrap_err();
        assert_eq!(
            errors,
            [
                "defaults.enforce: Invalid value: \"strict\": must be one of privileged, baseline, restricted",
                "defaults.audit-version: Invalid value: \"v2\": must be \"latest\" or \"v1.x\"",
                "exemptions.namespaces[0]: Invalid value: \"Bad_NS\": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')",
                "exemptions.namespaces[2]: Duplicate value: \"ok\"",
                "exemptions.usernames[0]: Invalid value: \"\": username must not be empty",
                "exemptions.usernames[2]: Duplicate value: \"a\"",
            ]
        );
        assert!(Config::parse(&json!({"kind": "Other"})).is_err());
    }
}
