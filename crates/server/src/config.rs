//! `skiff server` configuration with upstream-style precedence: a flag beats its
//! `SKIFF_*` environment variable, which beats the config file (`--config`,
//! YAML with the flags' names), which beats the default.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Which store backs the cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreKind {
    Sqlite,
    Etcd,
}

impl std::str::FromStr for StoreKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "sqlite" => Ok(StoreKind::Sqlite),
            "etcd" => Ok(StoreKind::Etcd),
            other => Err(format!("unknown store {other:?} (expected sqlite or etcd)")),
        }
    }
}

/// The authorizers a cluster runs with unless told otherwise (kubeadm's and
/// k3s's).
pub const DEFAULT_AUTHORIZATION_MODE: &str = "Node,RBAC";

/// The resolved configuration.
#[derive(Clone, PartialEq, Eq)]
pub struct Config {
    pub data_dir: PathBuf,
    pub bind_address: IpAddr,
    /// The address this server is reached at by the cluster (the `kubernetes`
    /// Endpoints); the bind address when unset.
    pub advertise_address: Option<IpAddr>,
    pub secure_port: u16,
    pub store: StoreKind,
    pub etcd_servers: Vec<String>,
    /// TLS to etcd: the CA of its members, this server's client certificate
    /// and key (kube-apiserver's `--etcd-cafile`, `--etcd-certfile`,
    /// `--etcd-keyfile`).
    pub etcd_cafile: Option<PathBuf>,
    pub etcd_certfile: Option<PathBuf>,
    pub etcd_keyfile: Option<PathBuf>,
    pub token_auth_file: Option<PathBuf>,
    /// The cluster's shared secret: it encrypts the cluster data in the store
    /// and every server of the cluster is started with it.
    pub token: Option<String>,
    pub max_requests_inflight: usize,
    pub max_mutating_requests_inflight: usize,
    /// `--authorization-mode`: the authorizers after `system:masters`, in order.
    pub authorization_modes: Vec<skiff_apiserver::authz::Mode>,
    /// `--anonymous-auth`: requests without credentials are
    /// `system:anonymous` (default true, as upstream).
    pub anonymous_auth: bool,
    /// `--audit-policy-file` and `--audit-log-path` (both needed to audit),
    /// `--audit-log-maxage` (days), `--audit-log-maxbackup`,
    /// `--audit-log-maxsize` (MB).
    pub audit_policy_file: Option<PathBuf>,
    pub audit_log_path: Option<PathBuf>,
    pub audit_log_maxage: u64,
    pub audit_log_maxbackup: usize,
    pub audit_log_maxsize: u64,
    /// `--disable-admission-plugins`: plugins left out of the chain.
    pub disable_admission_plugins: Vec<String>,
    /// `--admission-control-config-file`: an AdmissionConfiguration with
    /// plugins' configurations (PodSecurity's defaults and exemptions).
    pub admission_control_config_file: Option<PathBuf>,
    /// `--cluster-signing-duration`: the longest a certificate the CSR
    /// signer issues is valid (a year by default).
    pub cluster_signing_duration: std::time::Duration,
    /// `--disable-scheduler`: another scheduler places pods (as k3s's flag).
    pub disable_scheduler: bool,
    /// `--scheduler-config`: a KubeSchedulerConfiguration
    /// (`kubescheduler.config.k8s.io/v1`) for the built-in scheduler.
    pub scheduler_config: Option<PathBuf>,
    /// `--sim-nodes`: simulated nodes run in the server (for scale tests).
    pub sim_nodes: usize,
    /// `--sim-config`: their template (resources, labels, zones, taints,
    /// container start delay, Job pod duration).
    pub sim_config: Option<PathBuf>,
}

impl std::fmt::Debug for Config {
    /// Every setting but the token's value.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("data_dir", &self.data_dir)
            .field("bind_address", &self.bind_address)
            .field("advertise_address", &self.advertise_address)
            .field("secure_port", &self.secure_port)
            .field("store", &self.store)
            .field("etcd_servers", &self.etcd_servers)
            .field("etcd_cafile", &self.etcd_cafile)
            .field("etcd_certfile", &self.etcd_certfile)
            .field("etcd_keyfile", &self.etcd_keyfile)
            .field("token_auth_file", &self.token_auth_file)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("max_requests_inflight", &self.max_requests_inflight)
            .field(
                "max_mutating_requests_inflight",
                &self.max_mutating_requests_inflight,
            )
            .field("authorization_modes", &self.authorization_modes)
            .field("anonymous_auth", &self.anonymous_auth)
            .field("audit_policy_file", &self.audit_policy_file)
            .field("audit_log_path", &self.audit_log_path)
            .field("audit_log_maxage", &self.audit_log_maxage)
            .field("audit_log_maxbackup", &self.audit_log_maxbackup)
            .field("audit_log_maxsize", &self.audit_log_maxsize)
            .field("disable_admission_plugins", &self.disable_admission_plugins)
            .field(
                "admission_control_config_file",
                &self.admission_control_config_file,
            )
            .field("cluster_signing_duration", &self.cluster_signing_duration)
            .field("disable_scheduler", &self.disable_scheduler)
            .field("scheduler_config", &self.scheduler_config)
            .field("sim_nodes", &self.sim_nodes)
            .field("sim_config", &self.sim_config)
            .finish()
    }
}

/// One layer of settings (flags with environment, or the file): unset fields
/// fall through to the next layer.
#[derive(Clone, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Layer {
    pub data_dir: Option<PathBuf>,
    pub bind_address: Option<IpAddr>,
    pub advertise_address: Option<IpAddr>,
    pub secure_port: Option<u16>,
    pub store: Option<StoreKind>,
    pub etcd_servers: Option<Vec<String>>,
    pub etcd_cafile: Option<PathBuf>,
    pub etcd_certfile: Option<PathBuf>,
    pub etcd_keyfile: Option<PathBuf>,
    pub token_auth_file: Option<PathBuf>,
    pub token: Option<String>,
    pub max_requests_inflight: Option<usize>,
    pub max_mutating_requests_inflight: Option<usize>,
    pub authorization_mode: Option<String>,
    pub anonymous_auth: Option<bool>,
    pub audit_policy_file: Option<PathBuf>,
    pub audit_log_path: Option<PathBuf>,
    pub audit_log_maxage: Option<u64>,
    pub audit_log_maxbackup: Option<usize>,
    pub audit_log_maxsize: Option<u64>,
    /// Comma separated, as upstream's flags.
    pub enable_admission_plugins: Option<String>,
    pub disable_admission_plugins: Option<String>,
    pub admission_control_config_file: Option<PathBuf>,
    /// A Go duration (`8760h0m0s`, `24h`, `90m`).
    pub cluster_signing_duration: Option<String>,
    pub disable_scheduler: Option<bool>,
    pub scheduler_config: Option<PathBuf>,
    pub sim_nodes: Option<usize>,
    pub sim_config: Option<PathBuf>,
}

/// Why a configuration is unusable.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config file {path}: {why}")]
    File { path: String, why: String },
    #[error("--data-dir is required (flag, SKIFF_DATA_DIR, or data-dir in the config file)")]
    NoDataDir,
    #[error("--store etcd needs --etcd-servers")]
    NoEtcdServers,
    #[error("--authorization-mode: {0}")]
    AuthorizationMode(String),
    #[error("{0}")]
    AdmissionPlugins(String),
    #[error("--cluster-signing-duration: {0}")]
    Duration(String),
}

impl Layer {
    /// Reads a YAML config file.
    pub fn from_file(path: &Path) -> Result<Layer, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::File {
            path: path.display().to_string(),
            why: e.to_string(),
        })?;
        serde_yaml::from_str(&text).map_err(|e| ConfigError::File {
            path: path.display().to_string(),
            why: e.to_string(),
        })
    }

    /// `self` over `lower`.
    pub fn over(self, lower: Layer) -> Layer {
        Layer {
            data_dir: self.data_dir.or(lower.data_dir),
            bind_address: self.bind_address.or(lower.bind_address),
            advertise_address: self.advertise_address.or(lower.advertise_address),
            secure_port: self.secure_port.or(lower.secure_port),
            store: self.store.or(lower.store),
            etcd_servers: self.etcd_servers.or(lower.etcd_servers),
            etcd_cafile: self.etcd_cafile.or(lower.etcd_cafile),
            etcd_certfile: self.etcd_certfile.or(lower.etcd_certfile),
            etcd_keyfile: self.etcd_keyfile.or(lower.etcd_keyfile),
            token_auth_file: self.token_auth_file.or(lower.token_auth_file),
            token: self.token.or(lower.token),
            max_requests_inflight: self.max_requests_inflight.or(lower.max_requests_inflight),
            max_mutating_requests_inflight: self
                .max_mutating_requests_inflight
                .or(lower.max_mutating_requests_inflight),
            authorization_mode: self.authorization_mode.or(lower.authorization_mode),
            anonymous_auth: self.anonymous_auth.or(lower.anonymous_auth),
            audit_policy_file: self.audit_policy_file.or(lower.audit_policy_file),
            audit_log_path: self.audit_log_path.or(lower.audit_log_path),
            audit_log_maxage: self.audit_log_maxage.or(lower.audit_log_maxage),
            audit_log_maxbackup: self.audit_log_maxbackup.or(lower.audit_log_maxbackup),
            audit_log_maxsize: self.audit_log_maxsize.or(lower.audit_log_maxsize),
            enable_admission_plugins: self
                .enable_admission_plugins
                .or(lower.enable_admission_plugins),
            disable_admission_plugins: self
                .disable_admission_plugins
                .or(lower.disable_admission_plugins),
            admission_control_config_file: self
                .admission_control_config_file
                .or(lower.admission_control_config_file),
            cluster_signing_duration: self
                .cluster_signing_duration
                .or(lower.cluster_signing_duration),
            disable_scheduler: self.disable_scheduler.or(lower.disable_scheduler),
            scheduler_config: self.scheduler_config.or(lower.scheduler_config),
            sim_nodes: self.sim_nodes.or(lower.sim_nodes),
            sim_config: self.sim_config.or(lower.sim_config),
        }
    }

    /// Applies the defaults and checks the result.
    pub fn resolve(self) -> Result<Config, ConfigError> {
        let store = self.store.unwrap_or(StoreKind::Sqlite);
        let etcd_servers = self.etcd_servers.unwrap_or_default();
        if store == StoreKind::Etcd && etcd_servers.is_empty() {
            return Err(ConfigError::NoEtcdServers);
        }
        let authorization_modes = skiff_apiserver::authz::Mode::parse_list(
            self.authorization_mode
                .as_deref()
                .unwrap_or(DEFAULT_AUTHORIZATION_MODE),
        )
        .map_err(ConfigError::AuthorizationMode)?;
        let plugins = |list: &Option<String>| -> Vec<String> {
            list.as_deref()
                .unwrap_or("")
                .split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(str::to_string)
                .collect()
        };
        let enable = plugins(&self.enable_admission_plugins);
        let disable = plugins(&self.disable_admission_plugins);
        // Every plugin Skiff has is on by default: enabling one only checks
        // its name.
        skiff_apiserver::admission::check_names("enable-admission-plugins", &enable)
            .and_then(|()| {
                skiff_apiserver::admission::check_names("disable-admission-plugins", &disable)
            })
            .map_err(ConfigError::AdmissionPlugins)?;
        if let Some(both) = enable.iter().find(|p| disable.contains(p)) {
            return Err(ConfigError::AdmissionPlugins(format!(
                "{both} is both enabled and disabled"
            )));
        }
        let cluster_signing_duration = match &self.cluster_signing_duration {
            Some(d) => go_duration(d).map_err(ConfigError::Duration)?,
            None => std::time::Duration::from_secs(365 * 24 * 3600),
        };
        Ok(Config {
            data_dir: self.data_dir.ok_or(ConfigError::NoDataDir)?,
            bind_address: self.bind_address.unwrap_or(IpAddr::from([127, 0, 0, 1])),
            advertise_address: self.advertise_address,
            secure_port: self.secure_port.unwrap_or(6443),
            store,
            etcd_servers,
            etcd_cafile: self.etcd_cafile,
            etcd_certfile: self.etcd_certfile,
            etcd_keyfile: self.etcd_keyfile,
            token_auth_file: self.token_auth_file,
            token: self.token,
            max_requests_inflight: self.max_requests_inflight.unwrap_or(400),
            max_mutating_requests_inflight: self.max_mutating_requests_inflight.unwrap_or(200),
            authorization_modes,
            anonymous_auth: self.anonymous_auth.unwrap_or(true),
            audit_policy_file: self.audit_policy_file,
            audit_log_path: self.audit_log_path,
            audit_log_maxage: self.audit_log_maxage.unwrap_or(0),
            audit_log_maxbackup: self.audit_log_maxbackup.unwrap_or(0),
            audit_log_maxsize: self.audit_log_maxsize.unwrap_or(0),
            disable_admission_plugins: disable,
            admission_control_config_file: self.admission_control_config_file,
            cluster_signing_duration,
            disable_scheduler: self.disable_scheduler.unwrap_or(false),
            scheduler_config: self.scheduler_config,
            sim_nodes: self.sim_nodes.unwrap_or(0),
            sim_config: self.sim_config,
        })
    }
}

/// A Go `time.Duration` string of hours, minutes and seconds (`8760h0m0s`).
fn go_duration(s: &str) -> Result<std::time::Duration, String> {
    let invalid = || format!("invalid duration {s:?}");
    let mut total = 0f64;
    let mut number = String::new();
    let mut any = false;
    for c in s.chars() {
        if c.is_ascii_digit() || c == '.' {
            number.push(c);
            continue;
        }
        let n: f64 = number.parse().map_err(|_| invalid())?;
        number.clear();
        total += n * match c {
            'h' => 3600.0,
            'm' => 60.0,
            's' => 1.0,
            _ => return Err(invalid()),
        };
        any = true;
    }
    if !number.is_empty() || !any || total <= 0.0 {
        return Err(invalid());
    }
    Ok(std::time::Duration::from_secs_f64(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        assert_eq!(go_duration("8760h0m0s").unwrap().as_secs(), 8760 * 3600);
        assert_eq!(go_duration("1h30m").unwrap().as_secs(), 5400);
        assert_eq!(go_duration("90s").unwrap().as_secs(), 90);
        for bad in ["", "10", "5d", "-1h", "h"] {
            assert!(go_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn precedence_flag_env_file_default() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("skiff.yaml");
        std::fs::write(
            &file,
            "data-dir: /from/file\nsecure-port: 7000\nbind-address: 0.0.0.0\n",
        )
        .unwrap();
        // The flags layer (clap merges env into it) sets only the port.
        let flags = Layer {
            secure_port: Some(8000),
            ..Default::default()
        };
        let config = flags
            .over(Layer::from_file(&file).unwrap())
            .resolve()
            .unwrap();
        assert_eq!(config.secure_port, 8000, "flag beats file");
        assert_eq!(
            config.data_dir,
            PathBuf::from("/from/file"),
            "file beats default"
        );
        assert_eq!(config.bind_address.to_string(), "0.0.0.0");
        assert_eq!(config.store, StoreKind::Sqlite, "default");
        std::fs::write(&file, "data-dirr: /typo\n").unwrap();
        assert!(Layer::from_file(&file).is_err(), "unknown keys are refused");
        assert!(matches!(
            Layer::default().resolve(),
            Err(ConfigError::NoDataDir)
        ));
    }
}
