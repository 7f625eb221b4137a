//! Profiles from a `KubeSchedulerConfiguration` (upstream's
//! `apis/config/v1`, `kubescheduler.config.k8s.io/v1`): the settings of the
//! scheduler and, per `schedulerName`, which plugins run at which
//! extension point with which weights and arguments.
//!
//! As upstream: the default plugins are enabled under `multiPoint`; a
//! profile's `plugins` are merged into them (`disabled` removes, `*` all;
//! an `enabled` plugin already there takes its place with its weight,
//! others are appended); then each point gets first the plugins enabled
//! for it explicitly, in their order, then the multi-point ones, minus
//! those disabled at that point.

use std::collections::HashMap;
use std::sync::Arc;

use serde::Deserialize;

use crate::framework::{Framework, FrameworkBuilder, Plugin, Point};
use crate::plugins::{self, DEFAULT_PLUGINS, Handle};

/// Upstream's `KubeSchedulerConfiguration` (the fields Skiff reads).
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KubeSchedulerConfiguration {
    #[serde(default)]
    pub api_version: String,
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub parallelism: Option<i32>,
    #[serde(default)]
    pub percentage_of_nodes_to_score: Option<i32>,
    #[serde(default)]
    pub pod_initial_backoff_seconds: Option<i64>,
    #[serde(default)]
    pub pod_max_backoff_seconds: Option<i64>,
    #[serde(default)]
    pub profiles: Vec<Profile>,
    #[serde(default)]
    pub leader_election: Option<LeaderElection>,
    #[serde(default)]
    pub client_connection: Option<ClientConnection>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LeaderElection {
    pub leader_elect: Option<bool>,
    pub resource_namespace: Option<String>,
    pub resource_name: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientConnection {
    pub kubeconfig: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Profile {
    #[serde(default)]
    pub scheduler_name: Option<String>,
    #[serde(default)]
    pub percentage_of_nodes_to_score: Option<i32>,
    #[serde(default)]
    pub plugins: Option<Plugins>,
    #[serde(default)]
    pub plugin_config: Vec<PluginConfig>,
}

impl Profile {
    /// `schedulerName`, `default-scheduler` when unset.
    pub fn scheduler_name(&self) -> String {
        self.scheduler_name
            .clone()
            .unwrap_or_else(|| crate::DEFAULT_SCHEDULER_NAME.to_string())
    }
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Plugins {
    pub pre_enqueue: Option<PluginSet>,
    pub queue_sort: Option<PluginSet>,
    pub pre_filter: Option<PluginSet>,
    pub filter: Option<PluginSet>,
    pub post_filter: Option<PluginSet>,
    pub pre_score: Option<PluginSet>,
    pub score: Option<PluginSet>,
    pub reserve: Option<PluginSet>,
    pub permit: Option<PluginSet>,
    pub pre_bind: Option<PluginSet>,
    pub bind: Option<PluginSet>,
    pub post_bind: Option<PluginSet>,
    pub multi_point: Option<PluginSet>,
}

impl Plugins {
    fn at(&self, p: Point) -> Option<&PluginSet> {
        match p {
            Point::PreEnqueue => self.pre_enqueue.as_ref(),
            Point::QueueSort => self.queue_sort.as_ref(),
            Point::PreFilter => self.pre_filter.as_ref(),
            Point::Filter => self.filter.as_ref(),
            Point::PostFilter => self.post_filter.as_ref(),
            Point::PreScore => self.pre_score.as_ref(),
            Point::Score => self.score.as_ref(),
            Point::Reserve => self.reserve.as_ref(),
            Point::Permit => self.permit.as_ref(),
            Point::PreBind => self.pre_bind.as_ref(),
            Point::Bind => self.bind.as_ref(),
            Point::PostBind => self.post_bind.as_ref(),
        }
    }
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct PluginSet {
    #[serde(default)]
    pub enabled: Vec<PluginRef>,
    #[serde(default)]
    pub disabled: Vec<PluginRef>,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct PluginRef {
    pub name: String,
    #[serde(default)]
    pub weight: Option<i64>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct PluginConfig {
    pub name: String,
    #[serde(default)]
    pub args: serde_json::Value,
}

/// A configuration that cannot be used, with upstream's wording where it has one.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("decoding the scheduler configuration: {0}")]
    Decode(String),
    #[error("{0}")]
    Invalid(String),
}

impl KubeSchedulerConfiguration {
    /// Reads a configuration file (YAML or JSON).
    pub fn parse(text: &str) -> Result<KubeSchedulerConfiguration, ConfigError> {
        let c: KubeSchedulerConfiguration =
            serde_yaml::from_str(text).map_err(|e| ConfigError::Decode(e.to_string()))?;
        if c.api_version != "kubescheduler.config.k8s.io/v1" {
            return Err(ConfigError::Decode(format!(
                "no kind \"{}\" is registered for version \"{}\" in scheme",
                c.kind, c.api_version
            )));
        }
        if c.kind != "KubeSchedulerConfiguration" {
            return Err(ConfigError::Decode(format!(
                "no kind \"{}\" is registered for version \"{}\" in scheme",
                c.kind, c.api_version
            )));
        }
        Ok(c)
    }

    /// Upstream's default configuration (one profile, `default-scheduler`).
    pub fn default_config() -> KubeSchedulerConfiguration {
        KubeSchedulerConfiguration {
            api_version: "kubescheduler.config.k8s.io/v1".into(),
            kind: "KubeSchedulerConfiguration".into(),
            parallelism: None,
            percentage_of_nodes_to_score: None,
            pod_initial_backoff_seconds: None,
            pod_max_backoff_seconds: None,
            profiles: Vec::new(),
            leader_election: None,
            client_connection: None,
        }
    }

    pub fn initial_backoff(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.pod_initial_backoff_seconds.unwrap_or(1).max(0) as u64)
    }

    pub fn max_backoff(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.pod_max_backoff_seconds.unwrap_or(10).max(0) as u64)
    }

    /// The profiles' scheduler names (upstream's default profile alone
    /// when none is configured).
    pub fn profile_names(&self) -> Vec<String> {
        if self.profiles.is_empty() {
            return vec![crate::DEFAULT_SCHEDULER_NAME.to_string()];
        }
        self.profiles.iter().map(Profile::scheduler_name).collect()
    }

    /// The profiles' frameworks by scheduler name.
    pub fn frameworks(&self, handle: &Handle) -> Result<Vec<Arc<Framework>>, ConfigError> {
        if let Some(p) = self.percentage_of_nodes_to_score
            && !(0..=100).contains(&p)
        {
            return Err(ConfigError::Invalid(format!(
                "percentageOfNodesToScore: Invalid value: {p}: not in valid range [0-100]"
            )));
        }
        let (ib, mb) = (self.initial_backoff(), self.max_backoff());
        if ib.is_zero() || mb < ib {
            return Err(ConfigError::Invalid(
                "podInitialBackoffSeconds and podMaxBackoffSeconds must be positive, initial at most max".into(),
            ));
        }
        let defaults = [Profile::default()];
        let profiles: &[Profile] = if self.profiles.is_empty() {
            &defaults
        } else {
            &self.profiles
        };
        let mut seen = std::collections::HashSet::new();
        let mut out = Vec::new();
        for (i, profile) in profiles.iter().enumerate() {
            let name = profile.scheduler_name();
            if !seen.insert(name.clone()) {
                return Err(ConfigError::Invalid(format!(
                    "profiles[{i}].schedulerName: Duplicate value: {name:?}"
                )));
            }
            out.push(Arc::new(build(profile, &name, handle).map_err(|e| {
                ConfigError::Invalid(format!("profiles[{i}]: {e}"))
            })?));
        }
        Ok(out)
    }
}

/// Upstream's `mergePluginSet` of the defaults' multi-point set with a
/// profile's.
fn merge_multi_point(custom: Option<&PluginSet>) -> Vec<(String, i64)> {
    let mut out: Vec<(String, i64)> = DEFAULT_PLUGINS
        .iter()
        .map(|(n, w)| (n.to_string(), *w))
        .collect();
    let Some(custom) = custom else { return out };
    if custom.disabled.iter().any(|d| d.name == "*") {
        out.clear();
    } else {
        out.retain(|(n, _)| !custom.disabled.iter().any(|d| d.name == *n));
    }
    for e in &custom.enabled {
        match out.iter_mut().find(|(n, _)| *n == e.name) {
            Some(slot) => slot.1 = e.weight.unwrap_or(slot.1),
            None => out.push((e.name.clone(), e.weight.unwrap_or(0))),
        }
    }
    out
}

fn build(profile: &Profile, name: &str, handle: &Handle) -> Result<Framework, String> {
    let args: HashMap<&str, &serde_json::Value> = profile
        .plugin_config
        .iter()
        .map(|c| (c.name.as_str(), &c.args))
        .collect();
    let mut made: HashMap<String, Arc<dyn Plugin>> = HashMap::new();
    let mut make = |n: &str| -> Result<Arc<dyn Plugin>, String> {
        if let Some(p) = made.get(n) {
            return Ok(p.clone());
        }
        let p = plugins::new_in_tree(n, args.get(n).copied(), handle)?;
        made.insert(n.to_string(), p.clone());
        Ok(p)
    };
    let empty = Plugins::default();
    let custom = profile.plugins.as_ref().unwrap_or(&empty);
    let multi = merge_multi_point(custom.multi_point.as_ref());
    let mut builder = FrameworkBuilder::default();
    for point in Point::ALL {
        let set = custom.at(point);
        let disabled_all = set.is_some_and(|s| s.disabled.iter().any(|d| d.name == "*"));
        let disabled =
            |n: &str| disabled_all || set.is_some_and(|s| s.disabled.iter().any(|d| d.name == n));
        let explicit: Vec<&PluginRef> = set.map(|s| s.enabled.iter().collect()).unwrap_or_default();
        // Part 1: explicitly enabled plugins that are also multi-point, in their order.
        for e in explicit
            .iter()
            .filter(|e| multi.iter().any(|(n, _)| *n == e.name))
        {
            let p = make(&e.name)?;
            let w = e.weight.unwrap_or_else(|| {
                multi
                    .iter()
                    .find(|(n, _)| *n == e.name)
                    .map(|m| m.1)
                    .unwrap_or(0)
            });
            builder.enable(point, p, w);
        }
        // Part 2: multi-point plugins serving the point.
        for (n, w) in &multi {
            if disabled(n) || explicit.iter().any(|e| e.name == *n) {
                continue;
            }
            let p = make(n)?;
            if point.served_by(p.as_ref()) {
                builder.enable(point, p, *w);
            }
        }
        // Part 3: explicitly enabled plugins not in the multi-point set.
        for e in explicit
            .iter()
            .filter(|e| !multi.iter().any(|(n, _)| *n == e.name))
        {
            let p = make(&e.name)?;
            if !point.served_by(p.as_ref()) {
                return Err(format!(
                    "plugin {:?} does not extend {point:?} plugin",
                    e.name
                ));
            }
            builder.enable(point, p, e.weight.unwrap_or(0));
        }
    }
    if builder.enabled(Point::QueueSort).len() != 1 {
        return Err(
            "plugins.queueSort: Invalid value: one queue sort plugin required for profile".into(),
        );
    }
    if builder.enabled(Point::Bind).is_empty() {
        return Err("plugins.bind: Invalid value: at least one bind plugin is needed".into());
    }
    Ok(builder.build(name, profile.percentage_of_nodes_to_score))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn handle() -> Handle {
        // DefaultBinder needs a client; one that is never called will do.
        Handle::offline()
    }

    #[tokio::test]
    async fn the_default_profile_has_upstreams_points_order_and_weights() {
        let fws = KubeSchedulerConfiguration::default_config()
            .frameworks(&handle())
            .unwrap();
        assert_eq!(fws.len(), 1);
        let f = &fws[0];
        assert_eq!(f.scheduler_name, "default-scheduler");
        let names = |p| f.list(p).into_iter().map(|(n, _)| n).collect::<Vec<_>>();
        assert_eq!(
            names(Point::Filter),
            [
                "NodeUnschedulable",
                "NodeName",
                "TaintToleration",
                "NodeAffinity",
                "NodePorts",
                "NodeResourcesFit",
                "VolumeBinding",
                "PodTopologySpread",
                "InterPodAffinity"
            ]
        );
        assert_eq!(names(Point::PreBind), ["VolumeBinding"]);
        assert_eq!(
            names(Point::PreFilter),
            [
                "NodeAffinity",
                "NodePorts",
                "VolumeBinding",
                "PodTopologySpread",
                "InterPodAffinity"
            ]
        );
        assert_eq!(
            f.list(Point::Score),
            [
                ("TaintToleration", 3),
                ("NodeAffinity", 2),
                ("NodeResourcesFit", 1),
                ("PodTopologySpread", 2),
                ("InterPodAffinity", 2),
                ("NodeResourcesBalancedAllocation", 1),
                ("ImageLocality", 1)
            ]
        );
        assert_eq!(names(Point::PreEnqueue), ["SchedulingGates"]);
        assert_eq!(names(Point::PostFilter), ["DefaultPreemption"]);
        assert_eq!(names(Point::Bind), ["DefaultBinder"]);
    }

    #[tokio::test]
    async fn profiles_merge_as_upstream() {
        let c = KubeSchedulerConfiguration::parse(
            r#"
apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
profiles:
- schedulerName: default-scheduler
- schedulerName: bin-packing
  plugins:
    score:
      disabled:
      - name: NodeResourcesBalancedAllocation
      enabled:
      - name: NodeResourcesFit
        weight: 5
  pluginConfig:
  - name: NodeResourcesFit
    args:
      scoringStrategy:
        type: MostAllocated
- schedulerName: no-scoring
  plugins:
    multiPoint:
      disabled:
      - name: TaintToleration
    score:
      disabled:
      - name: "*"
"#,
        )
        .unwrap();
        let fws = c.frameworks(&handle()).unwrap();
        assert_eq!(fws[1].scheduler_name, "bin-packing");
        assert_eq!(
            fws[1].list(Point::Score),
            [
                ("NodeResourcesFit", 5),
                ("TaintToleration", 3),
                ("NodeAffinity", 2),
                ("PodTopologySpread", 2),
                ("InterPodAffinity", 2),
                ("ImageLocality", 1)
            ]
        );
        assert!(fws[2].list(Point::Score).is_empty());
        assert!(
            !fws[2]
                .list(Point::Filter)
                .iter()
                .any(|(n, _)| *n == "TaintToleration")
        );

        let bad = KubeSchedulerConfiguration::parse(
            "apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\nprofiles:\n- plugins:\n    filter:\n      enabled:\n      - name: Nope\n",
        )
        .unwrap();
        let err = bad.frameworks(&handle()).err().unwrap().to_string();
        assert!(err.contains("plugin \"Nope\" does not exist"), "{err}");
        let dup = KubeSchedulerConfiguration::parse(
            "apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\nprofiles:\n- {}\n- {}\n",
        )
        .unwrap();
        assert!(dup.frameworks(&handle()).is_err());
        assert!(
            KubeSchedulerConfiguration::parse("apiVersion: v1\nkind: KubeSchedulerConfiguration\n")
                .is_err()
        );
    }
}
