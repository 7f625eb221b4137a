//! What a cluster starts with and keeps, reconciled as upstream's bootstrap
//! controllers and post-start hooks do: read, create when missing, repair when
//! changed, on every start and then periodically, so a restart on existing data,
//! a second server on the same store, or a user's change to a system object
//! never stops the server and is put right. The objects are written through the
//! API server itself (loopback identity, the same admission and validation as
//! any client). Also the admin kubeconfig.
//!
//! - `namespaces`: `default`, `kube-system`, `kube-public`, `kube-node-lease`;
//! - `kubernetes_service`: the `kubernetes` Service, its Endpoints and
//!   EndpointSlice from every live server's master lease;
//! - `rbac`: upstream's bootstrap policy (ClusterRoles, ClusterRoleBindings,
//!   the kube-system and kube-public Roles and RoleBindings);
//! - `priority_classes`: `system-node-critical`, `system-cluster-critical`;
//! - `apiservices`: the local APIService of every built-in group version;
//! - `flowcontrol`: API Priority and Fairness' mandatory and suggested
//!   configuration;
//! - `service_cidr`: the default ServiceCIDR `kubernetes`, Ready.

mod apiservices;
mod client;
mod flowcontrol;
pub mod kubernetes_service;
pub mod namespaces;
mod priorities;
pub mod priority_classes;
pub mod rbac;
pub mod service_cidr;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use skiff_apiserver::ApiServer;
use skiff_apiserver::pki::Pki;
use skiff_store::Store;

use client::Loopback;
use kubernetes_service::MasterLease;

/// A bootstrap step that failed: what was asked and what the server answered.
#[derive(Debug, thiserror::Error)]
#[error("{what}: {status}: {message}")]
pub struct BootstrapError {
    pub what: String,
    pub status: u16,
    pub message: String,
}

impl BootstrapError {
    pub(crate) fn new(what: &str, status: u16, message: impl std::fmt::Display) -> Self {
        BootstrapError {
            what: what.to_string(),
            status,
            message: message.to_string(),
        }
    }

    pub(crate) fn status(method: &str, path: &str, status: u16, body: &serde_json::Value) -> Self {
        let message = body
            .get("message")
            .and_then(serde_json::Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| body.to_string());
        BootstrapError::new(&format!("{method} {path}"), status, message)
    }
}

/// The current time as the API writes it (RFC 3339, seconds, UTC).
pub(crate) fn now() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// How often the `kubernetes` Service, this server's lease and the endpoints
/// are reconciled (upstream's endpoint reconciler interval: 10 s).
pub const ENDPOINT_INTERVAL: Duration = Duration::from_secs(10);
/// How often the rest is (upstream's system namespaces controller: 1 min).
pub const SYSTEM_INTERVAL: Duration = Duration::from_secs(60);

/// The bootstrap controllers of one server.
pub struct Bootstrap {
    client: Loopback,
    lease: MasterLease,
    /// The address other components reach this server at (the Endpoints' address).
    advertise: SocketAddr,
    /// Whether the post-start hooks (bootstrap policy, system priority
    /// classes) have succeeded since this server started.
    post_start_done: std::sync::atomic::AtomicBool,
}

impl Bootstrap {
    pub fn new(server: ApiServer, store: Arc<dyn Store>, advertise: SocketAddr) -> Self {
        Bootstrap {
            client: Loopback::new(server),
            lease: MasterLease::new(store, advertise.ip(), advertise.port()),
            advertise,
            post_start_done: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// The `kubernetes` Service, this server's lease and the endpoints.
    pub async fn reconcile_endpoints(&self) -> Result<(), BootstrapError> {
        let port = self.advertise.port();
        // The lease first: whatever fails below, this server stays listed.
        self.lease.renew().await?;
        kubernetes_service::reconcile_service(&self.client, port).await?;
        let live = self.lease.live().await?;
        kubernetes_service::reconcile_endpoints(&self.client, &live, port).await
    }

    /// Everything else: the system namespaces, the post-start hooks until
    /// they succeed once, the default ServiceCIDR, APIServices, flow control.
    pub async fn reconcile_system(&self) -> Result<(), BootstrapError> {
        namespaces::reconcile(&self.client).await?;
        self.post_start_hooks().await?;
        service_cidr::reconcile(&self.client).await?;
        apiservices::reconcile(&self.client).await?;
        flowcontrol::reconcile(&self.client).await
    }

    /// Upstream's post-start hooks `rbac/bootstrap-roles` and
    /// `scheduling/bootstrap-system-priority-classes`: the bootstrap policy
    /// and the system priority classes are reconciled once per start (a
    /// role an administrator deletes stays deleted until the next start).
    async fn post_start_hooks(&self) -> Result<(), BootstrapError> {
        use std::sync::atomic::Ordering;
        if self.post_start_done.load(Ordering::Acquire) {
            return Ok(());
        }
        rbac::reconcile(&self.client).await?;
        priority_classes::reconcile(&self.client).await?;
        self.post_start_done.store(true, Ordering::Release);
        Ok(())
    }

    /// One full round, as on start.
    pub async fn reconcile(&self) -> Result<(), BootstrapError> {
        namespaces::reconcile(&self.client).await?;
        self.reconcile_endpoints().await?;
        self.reconcile_system().await
    }

    /// The first round, retried (with backoff, for `deadline` at most) until it
    /// succeeds, as upstream's post-start hooks retry; a round that still
    /// fails is logged and left to the periodic reconciliation, so that a
    /// broken system object never keeps the server from serving.
    pub async fn start(&self, deadline: Duration) {
        let until = tokio::time::Instant::now() + deadline;
        let mut wait = Duration::from_millis(100);
        loop {
            match self.reconcile().await {
                Ok(()) => return,
                Err(e) if tokio::time::Instant::now() + wait < until => {
                    tracing::info!(error = %e, "bootstrap: retrying");
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(Duration::from_secs(2));
                }
                Err(e) => {
                    tracing::error!(error = %e, "bootstrap: not complete; the periodic reconciliation goes on");
                    return;
                }
            }
        }
    }

    /// Keeps reconciling until `shutdown`; then releases this server's lease and
    /// takes its address out of the endpoints (upstream's `RemoveEndpoints`).
    pub async fn run(&self, shutdown: impl std::future::Future<Output = ()>) {
        let mut endpoints = tokio::time::interval(ENDPOINT_INTERVAL);
        let mut system = tokio::time::interval(SYSTEM_INTERVAL);
        endpoints.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        system.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // Both fire at once; the first round already ran on start.
        endpoints.tick().await;
        system.tick().await;
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                _ = endpoints.tick() => {
                    if let Err(e) = self.reconcile_endpoints().await {
                        tracing::warn!(error = %e, "bootstrap: endpoints");
                    }
                }
                _ = system.tick() => {
                    if let Err(e) = self.reconcile_system().await {
                        tracing::warn!(error = %e, "bootstrap: system objects");
                    }
                }
            }
        }
        self.stop().await;
    }

    /// Releases this server's lease and updates the endpoints without it.
    pub async fn stop(&self) {
        let result = async {
            self.lease.release().await?;
            let live = self.lease.live().await?;
            kubernetes_service::reconcile_endpoints(&self.client, &live, self.advertise.port())
                .await
        }
        .await;
        if let Err(e) = result {
            tracing::warn!(error = %e, "bootstrap: removing this server from the endpoints");
        }
    }
}

/// Writes a kubeconfig for the admin (CN admin, O system:masters).
pub fn write_kubeconfig(pki: &Pki, path: &Path, address: &SocketAddr) -> std::io::Result<()> {
    let (cert, key) = pki
        .client_certificate("admin", &["system:masters"])
        .map_err(std::io::Error::other)?;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s.as_bytes());
    let server = match address.ip() {
        ip if ip.is_unspecified() => format!("https://127.0.0.1:{}", address.port()),
        ip => format!("https://{}", SocketAddr::new(ip, address.port())),
    };
    let config = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n    certificate-authority-data: {}\n    server: {server}\n  name: skiff\ncontexts:\n- context:\n    cluster: skiff\n    user: admin\n  name: skiff\ncurrent-context: skiff\nusers:\n- name: admin\n  user:\n    client-certificate-data: {}\n    client-key-data: {}\n",
        b64(&pki.ca_cert_pem),
        b64(&cert),
        b64(&key)
    );
    skiff_apiserver::pki::write_file(path, &config, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    async fn status(server: &ApiServer, method: &str, path: &str) -> u16 {
        let req = http::Request::builder()
            .method(method)
            .uri(path)
            .body(bytes::Bytes::new())
            .unwrap();
        let resp = server
            .handle(req, Some(skiff_apiserver::UserInfo::loopback()))
            .await;
        let status = resp.status().as_u16();
        let _ = resp.into_body().collect().await;
        status
    }

    /// The bootstrap policy is reconciled once per start, as upstream's
    /// post-start hook: a role deleted afterwards stays deleted until the
    /// next start; the system namespaces' round goes on.
    #[tokio::test]
    async fn the_bootstrap_policy_is_reconciled_once_per_start() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(
            skiff_store::sqlite::SqliteStore::open(dir.path().join("state.db"), Default::default())
                .await
                .unwrap(),
        );
        let server = ApiServer::new(store.clone(), Default::default());
        let advertise: SocketAddr = "127.0.0.1:6443".parse().unwrap();
        let first = Bootstrap::new(server.clone(), store.clone(), advertise);
        first.reconcile().await.unwrap();
        let view = "/apis/rbac.authorization.k8s.io/v1/clusterroles/view";
        assert_eq!(status(&server, "GET", view).await, 200);
        assert_eq!(status(&server, "DELETE", view).await, 200);
        first.reconcile_system().await.unwrap();
        assert_eq!(status(&server, "GET", view).await, 404);
        // The next start puts it back.
        let second = Bootstrap::new(server.clone(), store, advertise);
        second.reconcile().await.unwrap();
        assert_eq!(status(&server, "GET", view).await, 200);
    }
}
