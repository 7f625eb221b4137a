//! Lifecycle glue of `skiff server`: the configuration (flags > `SKIFF_*`
//! environment > config file > defaults), the data directory (store, certificates,
//! admin kubeconfig), the objects a cluster starts with, and running the API
//! server on its store until shutdown.
#![forbid(unsafe_code)]

pub mod bootstrap;
pub mod cluster_data;
pub mod config;

use std::sync::Arc;

use base64::Engine;
use std::time::Instant;

use skiff_apiserver::pki::Pki;
use skiff_apiserver::{ApiServer, Authenticator, Options};
use skiff_store::Store;
use skiff_store::etcd::{EtcdOptions, EtcdStore};
use skiff_store::sqlite::{SqliteOptions, SqliteStore};

pub use config::{Config, StoreKind};

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("store: {0}")]
    Store(#[from] skiff_store::StoreError),
    #[error("certificates: {0}")]
    Pki(#[from] skiff_apiserver::pki::PkiError),
    #[error("TLS: {0}")]
    Tls(#[from] skiff_apiserver::TlsError),
    #[error("token file: {0}")]
    Tokens(#[from] skiff_apiserver::authn::TokenFileError),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("service account signing key: {0}")]
    ServiceAccountKey(String),
    #[error("cluster data: {0}")]
    ClusterData(#[from] cluster_data::ClusterDataError),
    #[error("kubelet client TLS: {0}")]
    KubeletTls(#[from] skiff_apiserver::connect::TlsClientError),
    #[error("scheduler: {0}")]
    Scheduler(String),
    #[error("simulated nodes: {0}")]
    Sim(String),
}

/// The simulated nodes' options, when there are any.
fn sim_options(config: &Config) -> Result<Option<skiff_kubelet::sim::FleetOptions>, ServerError> {
    if config.sim_nodes == 0 {
        return Ok(None);
    }
    let template = match &config.sim_config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| ServerError::Sim(format!("{}: {e}", path.display())))?;
            skiff_kubelet::sim::SimConfig::parse(&text)
                .map_err(|e| ServerError::Sim(format!("{}: {e}", path.display())))?
        }
        None => Default::default(),
    };
    template
        .options(config.sim_nodes)
        .map(Some)
        .map_err(ServerError::Sim)
}

/// The built-in scheduler's configuration: the file's, or upstream's default.
fn scheduler_config(
    config: &Config,
) -> Result<Option<skiff_scheduler::KubeSchedulerConfiguration>, ServerError> {
    if config.disable_scheduler {
        return Ok(None);
    }
    let Some(path) = &config.scheduler_config else {
        return Ok(Some(
            skiff_scheduler::KubeSchedulerConfiguration::default_config(),
        ));
    };
    let text = std::fs::read_to_string(path)
        .map_err(|e| ServerError::Scheduler(format!("{}: {e}", path.display())))?;
    let parsed = skiff_scheduler::KubeSchedulerConfiguration::parse(&text)
        .map_err(|e| ServerError::Scheduler(format!("{}: {e}", path.display())))?;
    // Checked now, so a bad file stops the start rather than the scheduler.
    let offline = skiff_scheduler::plugins::Handle::offline();
    parsed
        .frameworks(&offline)
        .map_err(|e| ServerError::Scheduler(format!("{}: {e}", path.display())))?;
    Ok(Some(parsed))
}

/// The API server's way to kubelets: their serving certificates verified
/// against the cluster CA (node agents' certificates are signed by it, as
/// k3s passes `--kubelet-certificate-authority`), and a client certificate
/// of its own, `kube-apiserver-kubelet-client` as kubeadm names it.
fn kubelet_tls(pki: &Pki) -> Result<skiff_apiserver::connect::KubeletTls, ServerError> {
    let (cert, key) = pki.client_certificate("kube-apiserver-kubelet-client", &[])?;
    Ok(skiff_apiserver::connect::KubeletTls::new(
        &pki.ca_cert_pem,
        &cert,
        &key,
    )?)
}

/// Runs the control plane until `shutdown` completes.
pub async fn run(
    config: Config,
    shutdown: impl std::future::Future<Output = ()> + Send,
) -> Result<(), ServerError> {
    let started = Instant::now();
    let io = |context: String| move |source| ServerError::Io { context, source };
    let scheduler_config = scheduler_config(&config)?;
    let sim_options = sim_options(&config)?;
    std::fs::create_dir_all(&config.data_dir)
        .map_err(io(format!("create {}", config.data_dir.display())))?;
    let store: Arc<dyn Store> = match config.store {
        StoreKind::Sqlite => Arc::new(
            SqliteStore::open(config.data_dir.join("state.db"), SqliteOptions::default()).await?,
        ),
        StoreKind::Etcd => {
            let mut options = EtcdOptions::new(config.etcd_servers.clone());
            if config.etcd_cafile.is_some()
                || config.etcd_certfile.is_some()
                || config.etcd_keyfile.is_some()
            {
                options.tls = Some(skiff_store::etcd::EtcdTls {
                    ca_file: config.etcd_cafile.clone(),
                    cert_file: config.etcd_certfile.clone(),
                    key_file: config.etcd_keyfile.clone(),
                });
            }
            Arc::new(EtcdStore::connect(options).await?)
        }
    };
    let address = format!("{}:{}", config.bind_address, config.secure_port);
    // The CA is the cluster's, shared through the store; the serving
    // certificate is this server's, for its own addresses.
    let token = cluster_data::token(config.token.as_deref(), &config.data_dir)?;
    let tls_dir = config.data_dir.join("tls");
    let (ca_cert_pem, ca_key_pem) = match Pki::load_ca(&tls_dir)? {
        Some(ca) => ca,
        None => Pki::generate_ca()?,
    };
    let shared = cluster_data::shared(
        store.as_ref(),
        &token,
        cluster_data::ClusterData {
            ca_cert_pem,
            ca_key_pem,
            service_account_key: base64::engine::general_purpose::STANDARD.encode(
                skiff_apiserver::serviceaccount::generate_key()
                    .map_err(|e| ServerError::ServiceAccountKey(e.to_string()))?,
            ),
        },
    )
    .await?;
    let token_issuer = base64::engine::general_purpose::STANDARD
        .decode(&shared.service_account_key)
        .map_err(|e| ServerError::ServiceAccountKey(e.to_string()))
        .and_then(|der| {
            skiff_apiserver::serviceaccount::TokenIssuer::new(
                &der,
                skiff_apiserver::serviceaccount::DEFAULT_ISSUER,
            )
            .map_err(|e| ServerError::ServiceAccountKey(e.to_string()))
        })?;
    let advertise_ip = config
        .advertise_address
        .unwrap_or_else(|| advertise_ip(config.bind_address));
    let mut sans = vec![config.bind_address.to_string()];
    if advertise_ip != config.bind_address {
        sans.push(advertise_ip.to_string());
    }
    let pki = Pki::with_ca(&tls_dir, shared.ca_cert_pem, shared.ca_key_pem, &sans)?;
    let tls = skiff_apiserver::tls_config(&pki)?;
    let authn = match &config.token_auth_file {
        Some(path) => Authenticator::from_token_file(path)?,
        None => Authenticator::default(),
    };
    let listener = tokio::net::TcpListener::bind(&address)
        .await
        .map_err(io(format!("listen on {address}")))?;
    let local = listener.local_addr().map_err(io("local address".into()))?;
    let advertise = std::net::SocketAddr::new(advertise_ip, local.port());
    let audit = match (&config.audit_policy_file, &config.audit_log_path) {
        (Some(policy), Some(path)) => {
            let policy = skiff_apiserver::audit::Policy::from_file(policy)
                .map_err(|e| io("audit policy".into())(std::io::Error::other(e.to_string())))?;
            let log = skiff_apiserver::audit::LogOptions {
                path: path.clone(),
                max_age_days: config.audit_log_maxage,
                max_backups: config.audit_log_maxbackup,
                max_size_mb: config.audit_log_maxsize,
            };
            let auditor = skiff_apiserver::audit::Auditor::new(policy, log)
                .map_err(|e| io("audit log".into())(std::io::Error::other(e.to_string())))?;
            Some(Arc::new(auditor))
        }
        _ => None,
    };
    let admission_config = match &config.admission_control_config_file {
        Some(path) => skiff_apiserver::admission::AdmissionConfig::load(path).map_err(|e| {
            io(format!("admission configuration {}", path.display()))(std::io::Error::other(e))
        })?,
        None => Default::default(),
    };
    let server = ApiServer::new(
        store.clone(),
        Options {
            max_requests_inflight: config.max_requests_inflight,
            max_mutating_requests_inflight: config.max_mutating_requests_inflight,
            advertise_address: advertise.to_string(),
            token_issuer: Some(Arc::new(token_issuer)),
            kubelet_tls: Some(kubelet_tls(&pki)?),
            authorization_modes: config.authorization_modes.clone(),
            anonymous_auth: config.anonymous_auth,
            audit,
            disable_admission_plugins: config.disable_admission_plugins.clone(),
            admission_config,
        },
    );
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(skiff_apiserver::serve(
        server.clone(),
        listener,
        tls,
        Arc::new(authn),
        async {
            let _ = stop_rx.await;
        },
    ));
    server.resume().await?;
    let bootstrap = Arc::new(bootstrap::Bootstrap::new(
        server.clone(),
        store.clone(),
        advertise,
    ));
    bootstrap.start(std::time::Duration::from_secs(30)).await;
    bootstrap::write_kubeconfig(&pki, &config.data_dir.join("admin.kubeconfig"), &local)
        .map_err(io("write admin.kubeconfig".into()))?;
    server.set_ready();
    tracing::info!(address = %local, store = store.backend(), ready_in = ?started.elapsed(), "skiff server ready");
    let compactor = tokio::spawn(skiff_store::compactor::run(
        store.clone(),
        Default::default(),
    ));
    let sampler = {
        let server = server.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(30));
            loop {
                tick.tick().await;
                server.sample_storage_objects().await;
            }
        })
    };
    // The controllers, through the in-process client (kube-controller-manager
    // in one process with the API server).
    let (controllers_stop, controllers_stopped) = tokio::sync::oneshot::channel::<()>();
    let control_loops = tokio::spawn(skiff_controllers::run(
        {
            let agent = format!(
                "kube-controller-manager/v1.33.0 (linux/amd64) skiff/{}",
                env!("CARGO_PKG_VERSION")
            );
            let for_accounts = server.clone();
            skiff_controllers::Clients {
                // The controller manager's own identity, as upstream's
                // (bound to `system:kube-controller-manager`).
                root: server.client_as(
                    &agent,
                    skiff_apiserver::UserInfo {
                        name: "system:kube-controller-manager".into(),
                        uid: String::new(),
                        groups: vec!["system:authenticated".into()],
                        ..Default::default()
                    },
                ),
                for_account: Box::new(move |name, uid| {
                    for_accounts.client_as(
                        &format!("{agent}/{name}"),
                        skiff_apiserver::UserInfo::service_account("kube-system", name, uid),
                    )
                }),
            }
        },
        skiff_controllers::Options {
            root_ca: pki.ca_cert_pem.clone(),
            ca_key: Some(pki.ca_key_pem().to_string()),
            cluster_signing_duration: config.cluster_signing_duration,
        },
        async {
            let _ = controllers_stopped.await;
        },
    ));
    // The scheduler, through the in-process client as `system:kube-scheduler`
    // (kube-scheduler in one process with the API server, as k3s runs it).
    let (scheduler_stop, scheduler_stopped) = tokio::sync::oneshot::channel::<()>();
    let scheduling = match scheduler_config {
        Some(sconfig) => {
            let client = server.client_as(
                &format!(
                    "kube-scheduler/v1.33.0 (linux/amd64) skiff/{}",
                    env!("CARGO_PKG_VERSION")
                ),
                skiff_apiserver::UserInfo {
                    name: "system:kube-scheduler".into(),
                    uid: String::new(),
                    groups: vec!["system:authenticated".into()],
                    ..Default::default()
                },
            );
            let instance = hostname();
            let metrics = std::sync::Arc::new(skiff_scheduler::metrics::Metrics::default());
            {
                let metrics = metrics.clone();
                server.add_metrics_source(move || metrics.render());
            }
            Some(tokio::spawn(async move {
                if let Err(e) =
                    skiff_scheduler::run_leading(client, sconfig, instance, metrics, async {
                        let _ = scheduler_stopped.await;
                    })
                    .await
                {
                    tracing::error!(error = %e, "the scheduler stopped");
                }
            }))
        }
        None => None,
    };
    // Simulated nodes, each acting as `system:node:<name>`.
    let (sim_stop, sim_stopped) = tokio::sync::oneshot::channel::<()>();
    let simulating = sim_options.map(|options| {
        let agent = format!(
            "kubelet/v1.33.0 (linux/amd64) skiff-sim/{}",
            env!("CARGO_PKG_VERSION")
        );
        let for_nodes = server.clone();
        let client_for: skiff_kubelet::sim::NodeClient = std::sync::Arc::new(move |name: &str| {
            for_nodes.client_as(
                &agent,
                skiff_apiserver::UserInfo {
                    name: format!("system:node:{name}"),
                    uid: String::new(),
                    groups: vec!["system:nodes".into(), "system:authenticated".into()],
                    ..Default::default()
                },
            )
        });
        // A node may watch only its own pods (upstream's node authorizer
        // with AuthorizeNodeWithSelectors); the fleet's one watch over the
        // pods of all its nodes reads as the simulator itself, as kwok runs
        // with the cluster's admin.
        let read = server.client_as(
            &format!("skiff-sim/{}", env!("CARGO_PKG_VERSION")),
            skiff_apiserver::UserInfo {
                name: "skiff:sim".into(),
                uid: String::new(),
                groups: vec!["system:masters".into(), "system:authenticated".into()],
                ..Default::default()
            },
        );
        let fleet = skiff_kubelet::sim::Fleet::new(&options, read, client_for);
        tokio::spawn(fleet.run(async {
            let _ = sim_stopped.await;
        }))
    });
    let (bootstrap_stop, bootstrap_stopped) = tokio::sync::oneshot::channel::<()>();
    let controllers = {
        let bootstrap = bootstrap.clone();
        tokio::spawn(async move {
            bootstrap
                .run(async {
                    let _ = bootstrap_stopped.await;
                })
                .await
        })
    };
    shutdown.await;
    tracing::info!("shutting down");
    let _ = controllers_stop.send(());
    let _ = scheduler_stop.send(());
    let _ = sim_stop.send(());
    if let Some(s) = simulating {
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), s).await;
    }
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), control_loops).await;
    if let Some(s) = scheduling {
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), s).await;
    }
    // Out of the `kubernetes` endpoints first, while the server still serves.
    let _ = bootstrap_stop.send(());
    // As upstream's Stop: at most twice the endpoint interval.
    if tokio::time::timeout(2 * bootstrap::ENDPOINT_INTERVAL, controllers)
        .await
        .is_err()
    {
        tracing::warn!("RemoveEndpoints() timed out");
    }
    let _ = stop_tx.send(());
    compactor.abort();
    sampler.abort();
    let _ = serving.await;
    Ok(())
}

/// This machine's name (reporting instances, node names).
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

/// The address to advertise when none is configured, as upstream's
/// `--advertise-address` default: the bind address, or when bound to every
/// interface the host's address on its default route (loopback if it has
/// none).
fn advertise_ip(bind: std::net::IpAddr) -> std::net::IpAddr {
    if !bind.is_unspecified() {
        return bind;
    }
    default_route_ip().unwrap_or(std::net::IpAddr::from([127, 0, 0, 1]))
}

/// The source address the kernel picks for the default route: connecting a
/// UDP socket sends nothing, it only routes.
fn default_route_ip() -> Option<std::net::IpAddr> {
    let socket = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    // Any address outside local networks (TEST-NET-3, never answered).
    socket.connect("203.0.113.1:9").ok()?;
    let ip = socket.local_addr().ok()?.ip();
    (!ip.is_unspecified() && !ip.is_loopback()).then_some(ip)
}
