//! The admission configuration file (`--admission-control-config-file`,
//! upstream's `AdmissionConfiguration` of `apiserver.config.k8s.io/v1`,
//! `v1alpha1` or `apiserver.k8s.io/v1alpha1`): each plugin's configuration,
//! embedded (`configuration`) or in a file of its own (`path`, relative to
//! the configuration file's directory), YAML or JSON. Plugins check theirs
//! when the server starts.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

/// Every plugin's configuration, by plugin name.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AdmissionConfig {
    plugins: BTreeMap<String, Value>,
}

const API_VERSIONS: &[&str] = &[
    "apiserver.config.k8s.io/v1",
    "apiserver.config.k8s.io/v1alpha1",
    "apiserver.k8s.io/v1alpha1",
];

fn read(path: &Path) -> Result<Value, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("unable to read {}: {e}", path.display()))?;
    serde_yaml::from_str(&text).map_err(|e| format!("unable to parse {}: {e}", path.display()))
}

impl AdmissionConfig {
    /// Reads the file and every plugin configuration it points to, then
    /// checks the configurations of the plugins that have one.
    pub fn load(path: &Path) -> Result<AdmissionConfig, String> {
        let doc = read(path)?;
        let dir = path.parent().unwrap_or(Path::new("."));
        let config = Self::from_value(&doc, dir)?;
        config.check()?;
        Ok(config)
    }

    /// The configuration of an `AdmissionConfiguration` object; plugin
    /// files are read relative to `dir`.
    pub fn from_value(doc: &Value, dir: &Path) -> Result<AdmissionConfig, String> {
        let api_version = doc.get("apiVersion").and_then(Value::as_str).unwrap_or("");
        let kind = doc.get("kind").and_then(Value::as_str).unwrap_or("");
        if kind != "AdmissionConfiguration" || !API_VERSIONS.contains(&api_version) {
            return Err(format!(
                "expected an AdmissionConfiguration of {}, got {kind:?} of {api_version:?}",
                API_VERSIONS.join(", ")
            ));
        }
        let mut plugins = BTreeMap::new();
        for p in doc
            .get("plugins")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let name = p.get("name").and_then(Value::as_str).unwrap_or("");
            if name.is_empty() {
                return Err("a plugin of the admission configuration has no name".into());
            }
            let file = p
                .get("path")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty());
            let value = match (file, p.get("configuration").filter(|c| !c.is_null())) {
                (Some(file), _) => read(&dir.join(file))?,
                (None, Some(embedded)) => embedded.clone(),
                (None, None) => continue,
            };
            plugins.insert(name.to_string(), value);
        }
        Ok(AdmissionConfig { plugins })
    }

    /// A plugin's configuration, when the file gives one.
    pub fn plugin(&self, name: &str) -> Option<&Value> {
        self.plugins.get(name)
    }

    /// Refuses configurations a plugin would not start with.
    fn check(&self) -> Result<(), String> {
        if let Some(v) = self.plugin("PodSecurity") {
            skiff_api::pod_security::config::Config::parse(v)
                .map_err(|errors| format!("PodSecurity: {}", errors.join(", ")))?;
        }
        if let Some(name) = self
            .plugins
            .keys()
            .find(|n| !super::PLUGINS.contains(&n.as_str()))
        {
            tracing::warn!(plugin = %name, "the admission configuration names a plugin Skiff does not have");
        }
        Ok(())
    }

    /// PodSecurity's configuration (upstream's defaults without one).
    pub fn pod_security(&self) -> skiff_api::pod_security::config::Config {
        self.plugin("PodSecurity")
            .and_then(|v| skiff_api::pod_security::config::Config::parse(v).ok())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn embedded_and_file_configurations() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("pss.yaml"),
            "apiVersion: pod-security.admission.config.k8s.io/v1\nkind: PodSecurityConfiguration\ndefaults:\n  enforce: baseline\nexemptions:\n  namespaces: [kube-system]\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("admission.yaml"),
            "apiVersion: apiserver.config.k8s.io/v1\nkind: AdmissionConfiguration\nplugins:\n- name: PodSecurity\n  path: pss.yaml\n",
        )
        .unwrap();
        let c = AdmissionConfig::load(&dir.path().join("admission.yaml")).unwrap();
        let pss = c.pod_security();
        assert_eq!(pss.defaults.enforce.to_string(), "baseline:latest");
        assert!(pss.exempt_namespace("kube-system"));
        let embedded = AdmissionConfig::from_value(
            &json!({"apiVersion": "apiserver.config.k8s.io/v1", "kind": "AdmissionConfiguration",
                    "plugins": [{"name": "PodSecurity", "configuration": {
                        "apiVersion": "pod-security.admission.config.k8s.io/v1",
                        "kind": "PodSecurityConfiguration",
                        "exemptions": {"usernames": ["admin"]}}}]}),
            dir.path(),
        )
        .unwrap();
        assert!(embedded.pod_security().exempt_user("admin"));
        assert_eq!(
            AdmissionConfig::default().pod_security(),
            Default::default()
        );
    }

    #[test]
    fn bad_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("admission.yaml"),
            "apiVersion: apiserver.config.k8s.io/v1\nkind: AdmissionConfiguration\nplugins:\n- name: PodSecurity\n  configuration:\n    apiVersion: pod-security.admission.config.k8s.io/v1\n    kind: PodSecurityConfiguration\n    defaults:\n      enforce: strict\n",
        )
        .unwrap();
        let err = AdmissionConfig::load(&dir.path().join("admission.yaml")).unwrap_err();
        assert!(
            err.starts_with("PodSecurity: defaults.enforce: Invalid value: \"strict\""),
            "{err}"
        );
        assert!(AdmissionConfig::load(&dir.path().join("missing.yaml")).is_err());
        let err = AdmissionConfig::from_value(&json!({"kind": "Policy"}), dir.path()).unwrap_err();
        assert!(err.contains("AdmissionConfiguration"), "{err}");
        std::fs::write(
            dir.path().join("admission.yaml"),
            "apiVersion: apiserver.config.k8s.io/v1\nkind: AdmissionConfiguration\nplugins:\n- name: PodSecurity\n  path: nowhere.yaml\n",
        )
        .unwrap();
        assert!(AdmissionConfig::load(&dir.path().join("admission.yaml")).is_err());
    }
}
