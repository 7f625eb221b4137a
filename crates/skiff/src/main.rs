//! The `skiff` binary: parses the command line, builds the tokio runtime and runs
//! the chosen role. Everything else lives in library crates.
#![forbid(unsafe_code)]

use std::net::IpAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use skiff_server::config::{Layer, StoreKind};

#[derive(Parser)]
#[command(name = "skiff", version, about = "Kubernetes in one small binary")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the control plane: API server on its store.
    Server(Box<ServerArgs>),
    /// Run the scheduler against an API server (as kube-scheduler).
    Scheduler(SchedulerArgs),
    /// Run simulated nodes against an API server (as kwok does).
    Sim(SimArgs),
}

/// Flags of `skiff scheduler`, as kube-scheduler's.
#[derive(clap::Args)]
struct SchedulerArgs {
    /// The kubeconfig of the scheduler's identity (system:kube-scheduler).
    #[arg(long, env = "SKIFF_KUBECONFIG")]
    kubeconfig: PathBuf,
    /// A KubeSchedulerConfiguration (kubescheduler.config.k8s.io/v1).
    #[arg(long, env = "SKIFF_SCHEDULER_CONFIG")]
    config: Option<PathBuf>,
}

/// Flags of `skiff sim`.
#[derive(clap::Args)]
struct SimArgs {
    /// A kubeconfig allowed to impersonate nodes (an admin's): each node acts
    /// as system:node:<name>.
    #[arg(long, env = "SKIFF_KUBECONFIG")]
    kubeconfig: PathBuf,
    /// How many nodes to simulate.
    #[arg(long, env = "SKIFF_SIM_NODES")]
    nodes: usize,
    /// The nodes' template (YAML: resources, labels, zones, taints,
    /// startDelay, jobDuration, prefix).
    #[arg(long, env = "SKIFF_SIM_CONFIG")]
    sim_config: Option<PathBuf>,
}

/// A client from a kubeconfig file.
async fn kube_client(path: &std::path::Path) -> anyhow::Result<kube::Client> {
    let kubeconfig = kube::config::Kubeconfig::read_from(path)
        .with_context(|| format!("reading {}", path.display()))?;
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
        .await
        .with_context(|| format!("using {}", path.display()))?;
    Ok(kube::Client::try_from(config)?)
}

/// A client that sends through `base` (its connections shared) as `user`
/// in `groups`, by impersonation.
fn impersonating(base: kube::Client, user: &str, groups: &[&str]) -> kube::Client {
    let user = http::HeaderValue::from_str(user).expect("a valid user name");
    let groups: Vec<http::HeaderValue> = groups
        .iter()
        .map(|g| http::HeaderValue::from_str(g).expect("a valid group name"))
        .collect();
    let service = tower::service_fn(move |mut req: http::Request<kube::client::Body>| {
        let base = base.clone();
        let headers = req.headers_mut();
        headers.insert("Impersonate-User", user.clone());
        for g in &groups {
            headers.append("Impersonate-Group", g.clone());
        }
        async move { base.send(req).await }
    });
    kube::Client::new(service, "default")
}

async fn run_scheduler(args: SchedulerArgs) -> anyhow::Result<()> {
    let config = match &args.config {
        Some(path) => skiff_scheduler::KubeSchedulerConfiguration::parse(
            &std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?,
        )?,
        None => skiff_scheduler::KubeSchedulerConfiguration::default_config(),
    };
    let client = kube_client(&args.kubeconfig).await?;
    let instance = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".into());
    skiff_scheduler::run_leading(
        client,
        config,
        instance,
        Default::default(),
        shutdown_signal(),
    )
    .await?;
    Ok(())
}

async fn run_sim(args: SimArgs) -> anyhow::Result<()> {
    let template = match &args.sim_config {
        Some(path) => skiff_kubelet::sim::SimConfig::parse(
            &std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?,
        )
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?,
        None => Default::default(),
    };
    let options = template.options(args.nodes).map_err(anyhow::Error::msg)?;
    let base = kube_client(&args.kubeconfig).await?;
    let for_nodes = base.clone();
    let client_for: skiff_kubelet::sim::NodeClient = std::sync::Arc::new(move |name: &str| {
        impersonating(
            for_nodes.clone(),
            &format!("system:node:{name}"),
            &["system:nodes", "system:authenticated"],
        )
    });
    let fleet = skiff_kubelet::sim::Fleet::new(&options, base, client_for);
    fleet.run(shutdown_signal()).await;
    Ok(())
}

/// Flags of `skiff server`; each also reads its `SKIFF_*` environment variable.
#[derive(clap::Args)]
struct ServerArgs {
    /// Directory for the store, certificates and the admin kubeconfig.
    #[arg(long, env = "SKIFF_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Address to serve HTTPS on.
    #[arg(long, env = "SKIFF_BIND_ADDRESS")]
    bind_address: Option<IpAddr>,
    /// Address advertised to the cluster (the `kubernetes` Endpoints); the bind
    /// address by default.
    #[arg(long, env = "SKIFF_ADVERTISE_ADDRESS")]
    advertise_address: Option<IpAddr>,
    /// Port to serve HTTPS on.
    #[arg(long, env = "SKIFF_SECURE_PORT")]
    secure_port: Option<u16>,
    /// Store backend: sqlite (embedded) or etcd.
    #[arg(long, env = "SKIFF_STORE")]
    store: Option<StoreKind>,
    /// etcd client URLs, comma separated (with --store etcd).
    #[arg(long, env = "SKIFF_ETCD_SERVERS", value_delimiter = ',')]
    etcd_servers: Option<Vec<String>>,
    /// CA file the etcd members' certificates are checked against.
    #[arg(long, env = "SKIFF_ETCD_CAFILE")]
    etcd_cafile: Option<PathBuf>,
    /// Client certificate presented to etcd (with --etcd-keyfile).
    #[arg(long, env = "SKIFF_ETCD_CERTFILE")]
    etcd_certfile: Option<PathBuf>,
    /// Key of the client certificate presented to etcd.
    #[arg(long, env = "SKIFF_ETCD_KEYFILE")]
    etcd_keyfile: Option<PathBuf>,
    /// Static bearer tokens: CSV of token,user,uid,"group1,group2".
    #[arg(long, env = "SKIFF_TOKEN_AUTH_FILE")]
    token_auth_file: Option<PathBuf>,
    /// The cluster's shared secret: servers on the same store must share it
    /// (default: <data-dir>/token, generated on first start).
    #[arg(long, env = "SKIFF_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Read-only requests served at once before 429.
    #[arg(long, env = "SKIFF_MAX_REQUESTS_INFLIGHT")]
    max_requests_inflight: Option<usize>,
    /// Mutating requests served at once before 429.
    #[arg(long, env = "SKIFF_MAX_MUTATING_REQUESTS_INFLIGHT")]
    max_mutating_requests_inflight: Option<usize>,
    /// Authorizers in order after system:masters: RBAC, AlwaysAllow, AlwaysDeny
    /// (comma separated; default RBAC).
    #[arg(long, env = "SKIFF_AUTHORIZATION_MODE")]
    authorization_mode: Option<String>,
    /// Requests without credentials act as system:anonymous, authorized as
    /// such (true, as upstream); false answers them 401.
    #[arg(long, env = "SKIFF_ANONYMOUS_AUTH")]
    anonymous_auth: Option<bool>,
    /// Admission plugins to turn on (comma separated; every plugin Skiff
    /// has is on by default).
    #[arg(long, env = "SKIFF_ENABLE_ADMISSION_PLUGINS")]
    enable_admission_plugins: Option<String>,
    /// Admission plugins to turn off (comma separated), e.g. ServiceAccount.
    #[arg(long, env = "SKIFF_DISABLE_ADMISSION_PLUGINS")]
    disable_admission_plugins: Option<String>,
    /// An AdmissionConfiguration (apiserver.config.k8s.io/v1) with the
    /// plugins' configurations, e.g. PodSecurity's defaults and exemptions.
    #[arg(long, env = "SKIFF_ADMISSION_CONTROL_CONFIG_FILE")]
    admission_control_config_file: Option<PathBuf>,
    /// The longest a certificate signed for a CertificateSigningRequest is
    /// valid (a Go duration; 8760h0m0s by default).
    #[arg(long, env = "SKIFF_CLUSTER_SIGNING_DURATION")]
    cluster_signing_duration: Option<String>,
    /// An audit.k8s.io/v1 Policy: what is audited, at which level.
    #[arg(long, env = "SKIFF_AUDIT_POLICY_FILE")]
    audit_policy_file: Option<PathBuf>,
    /// Where audit events go, as JSON lines ("-": standard output).
    #[arg(long, env = "SKIFF_AUDIT_LOG_PATH")]
    audit_log_path: Option<PathBuf>,
    /// Days to keep rotated audit logs (0: no limit).
    #[arg(long, env = "SKIFF_AUDIT_LOG_MAXAGE")]
    audit_log_maxage: Option<u64>,
    /// Rotated audit logs to keep (0: no limit).
    #[arg(long, env = "SKIFF_AUDIT_LOG_MAXBACKUP")]
    audit_log_maxbackup: Option<usize>,
    /// Megabytes of audit log before it is rotated (0: never).
    #[arg(long, env = "SKIFF_AUDIT_LOG_MAXSIZE")]
    audit_log_maxsize: Option<u64>,
    /// Do not run the built-in scheduler (another one places pods).
    #[arg(long, env = "SKIFF_DISABLE_SCHEDULER", num_args = 0..=1, default_missing_value = "true")]
    disable_scheduler: Option<bool>,
    /// A KubeSchedulerConfiguration (kubescheduler.config.k8s.io/v1) for the
    /// built-in scheduler: profiles, plugins and their arguments.
    #[arg(long, env = "SKIFF_SCHEDULER_CONFIG")]
    scheduler_config: Option<PathBuf>,
    /// Run this many simulated nodes in the server (sim-0, sim-1, ...): their
    /// pods run through a simulated container runtime, for scale tests.
    #[arg(long, env = "SKIFF_SIM_NODES")]
    sim_nodes: Option<usize>,
    /// The simulated nodes' template (YAML: resources, labels, zones,
    /// taints, startDelay, jobDuration).
    #[arg(long, env = "SKIFF_SIM_CONFIG")]
    sim_config: Option<PathBuf>,
    /// YAML file with the same settings (kebab-case keys), under flags and environment.
    #[arg(long, env = "SKIFF_CONFIG")]
    config: Option<PathBuf>,
}

impl ServerArgs {
    fn layer(self) -> (Layer, Option<PathBuf>) {
        (
            Layer {
                data_dir: self.data_dir,
                bind_address: self.bind_address,
                advertise_address: self.advertise_address,
                secure_port: self.secure_port,
                store: self.store,
                etcd_servers: self.etcd_servers,
                etcd_cafile: self.etcd_cafile,
                etcd_certfile: self.etcd_certfile,
                etcd_keyfile: self.etcd_keyfile,
                token_auth_file: self.token_auth_file,
                token: self.token,
                max_requests_inflight: self.max_requests_inflight,
                max_mutating_requests_inflight: self.max_mutating_requests_inflight,
                authorization_mode: self.authorization_mode,
                anonymous_auth: self.anonymous_auth,
                audit_policy_file: self.audit_policy_file,
                audit_log_path: self.audit_log_path,
                audit_log_maxage: self.audit_log_maxage,
                audit_log_maxbackup: self.audit_log_maxbackup,
                audit_log_maxsize: self.audit_log_maxsize,
                enable_admission_plugins: self.enable_admission_plugins,
                disable_admission_plugins: self.disable_admission_plugins,
                admission_control_config_file: self.admission_control_config_file,
                cluster_signing_duration: self.cluster_signing_duration,
                disable_scheduler: self.disable_scheduler,
                scheduler_config: self.scheduler_config,
                sim_nodes: self.sim_nodes,
                sim_config: self.sim_config,
            },
            self.config,
        )
    }
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SKIFF_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match cli.command {
        Command::Server(args) => {
            let (flags, file) = (*args).layer();
            let layer = match file {
                Some(path) => flags.over(Layer::from_file(&path)?),
                None => flags,
            };
            let config = layer.resolve()?;
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("tokio runtime")?;
            runtime.block_on(skiff_server::run(config, shutdown_signal()))?;
        }
        Command::Scheduler(args) => runtime()?.block_on(run_scheduler(args))?,
        Command::Sim(args) => runtime()?.block_on(run_sim(args))?,
    }
    Ok(())
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("tokio runtime")
}

async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
