//! Skiff's API server: the Kubernetes REST API over a [`skiff_store::Store`].
//!
//! The request path is upstream's: TLS → authentication (x509 client
//! certificates, bearer tokens) → request info (group, version, resource, verb)
//! → authorization → decode → strategy (prepare, defaults, validation) → store
//! compare-and-swap. Resources are served from the registry (`registry/`): the
//! built-in catalogue at start, others added and removed while the server runs;
//! nothing here is specific to a kind beyond what the catalogue and strategies say.
//!
//! [`ApiServer::handle`] is the whole server as one async function of a request,
//! so the same code serves HTTPS connections and in-process clients.
#![forbid(unsafe_code)]

pub mod admission;
pub mod audit;
pub mod authn;
pub mod authz;
mod bootstrap_token;
mod cacher;
mod client;
mod clusterrole_aggregation;
pub mod connect;
mod dependents;
mod discovery;
pub(crate) mod filters;
mod handlers;
mod health;
mod list;
mod metrics;
mod namespace_deleter;
mod negotiation;
pub mod node_authz;
mod openapi;
pub mod pki;
pub mod rbac;
mod registry;
mod request;
mod response;
mod reviews;
mod serve;
pub mod serviceaccount;
mod services;
mod store_reflector;
mod subresources;
mod table;
mod watch;

use std::sync::Arc;

use bytes::Bytes;
use skiff_store::Store;

pub use authn::{Authenticator, UserInfo};
pub use response::Body;
pub use serve::{TlsError, serve, tls_config};
pub use services::SERVICE_CIDR;

/// The built-in group versions served, as (group, versions) in discovery order.
pub fn served_group_versions() -> &'static [(&'static str, &'static [&'static str])] {
    skiff_api::catalogue::builtin_groups()
}

/// Largest request body accepted (upstream: 3 MiB).
pub const MAX_REQUEST_BYTES: usize = 3 * 1024 * 1024;

/// Settings of the API server.
#[derive(Clone, Debug)]
pub struct Options {
    /// Non-mutating requests served at once before 429 (upstream default 400).
    pub max_requests_inflight: usize,
    /// Mutating requests served at once before 429 (upstream default 200).
    pub max_mutating_requests_inflight: usize,
    /// The address clients reach the server at (for discovery's serverAddressByClientCIDRs).
    pub advertise_address: String,
    /// Signs service account tokens (`serviceaccounts/token`); without it
    /// token requests fail.
    pub token_issuer: Option<Arc<serviceaccount::TokenIssuer>>,
    /// TLS to kubelets (logs, exec, attach, port-forward, node proxies):
    /// verified against the cluster CA with the server's kubelet client
    /// certificate. Without it the kubelet's certificate is not verified and
    /// none is presented (upstream's default without
    /// `--kubelet-certificate-authority`).
    pub kubelet_tls: Option<connect::KubeletTls>,
    /// `--authorization-mode`, after `system:masters` (always allowed).
    pub authorization_modes: Vec<authz::Mode>,
    /// `--anonymous-auth`: a request without credentials is
    /// `system:anonymous` (group `system:unauthenticated`) and authorized
    /// as such, instead of refused with 401.
    pub anonymous_auth: bool,
    /// `--audit-policy-file` with `--audit-log-*`: None audits nothing.
    pub audit: Option<Arc<audit::Auditor>>,
    /// `--disable-admission-plugins`: plugins of [`admission::PLUGINS`]
    /// left out of the chain.
    pub disable_admission_plugins: Vec<String>,
    /// `--admission-control-config-file`, as read and checked.
    pub admission_config: admission::AdmissionConfig,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            max_requests_inflight: 400,
            max_mutating_requests_inflight: 200,
            advertise_address: "127.0.0.1:6443".into(),
            token_issuer: None,
            kubelet_tls: None,
            authorization_modes: vec![authz::Mode::Node, authz::Mode::Rbac],
            anonymous_auth: true,
            audit: None,
            disable_admission_plugins: Vec::new(),
            admission_config: Default::default(),
        }
    }
}

/// The shared RBAC authorizer as a member of the chain.
struct RbacHandle(Arc<rbac::Rbac>);

impl authz::Authorizer for RbacHandle {
    fn authorize(&self, a: &authz::Attributes<'_>) -> authz::Decision {
        self.0.authorize(a)
    }

    fn rules_for(&self, user: &UserInfo, namespace: &str) -> authz::Rules {
        self.0.rules_for(user, namespace)
    }
}

/// The API server: cheap to clone, shared by every connection.
#[derive(Clone)]
pub struct ApiServer {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) registry: registry::Registry,
    pub(crate) caches: cacher::Caches,
    pub(crate) authorizer: Box<dyn authz::Authorizer>,
    pub(crate) admission: admission::Chain,
    /// The RBAC authorizer when it is one of the modes: requests wait for
    /// its policy's first load.
    pub(crate) rbac: Option<Arc<rbac::Rbac>>,
    /// The Node authorizer's graph when it is one of the modes.
    pub(crate) node_graph: Option<Arc<node_authz::graph::Graph>>,
    pub(crate) options: Options,
    pub(crate) metrics: metrics::Metrics,
    pub(crate) started_unix: u64,
    pub(crate) inflight: tokio::sync::Semaphore,
    pub(crate) inflight_mutating: tokio::sync::Semaphore,
    pub(crate) ready: std::sync::atomic::AtomicBool,
    /// The last store health check: when, and whether it passed.
    pub(crate) store_health: tokio::sync::Mutex<Option<(tokio::time::Instant, bool)>>,
    pub(crate) token_issuer: Option<Arc<serviceaccount::TokenIssuer>>,
    /// Background deletions running, by key: owners' `orphan`/`foregroundDeletion`
    /// finalizers, namespaces being emptied.
    pub(crate) deleting_owners: std::sync::Mutex<std::collections::HashSet<String>>,
}

impl ApiServer {
    /// Serves a resource from now on (a custom resource, an aggregated
    /// API's), with its strategy; discovery lists it at once. Objects live
    /// under `/registry/<group>/<plural>/`. A resource of the same group,
    /// version and plural is replaced.
    pub fn add_resource(
        &self,
        def: &'static skiff_api::ResourceDef,
        strategy: Arc<dyn skiff_api::strategy::Strategy>,
    ) {
        self.inner
            .registry
            .add(registry::Resource::new(def, strategy, def.group));
    }

    /// Stops serving a resource (its stored objects stay); whether it was served.
    pub fn remove_resource(&self, group: &str, version: &str, plural: &str) -> bool {
        self.inner.registry.remove(group, version, plural).is_some()
    }

    pub fn new(store: Arc<dyn Store>, options: Options) -> Self {
        let token_issuer = options.token_issuer.clone();
        let inflight = tokio::sync::Semaphore::new(options.max_requests_inflight);
        let inflight_mutating = tokio::sync::Semaphore::new(options.max_mutating_requests_inflight);
        let registry = registry::Registry::new();
        let mut rbac = None;
        let mut node_graph = None;
        let mut chain: Vec<Box<dyn authz::Authorizer>> = vec![Box::new(authz::PrivilegedGroups)];
        for mode in &options.authorization_modes {
            match mode {
                authz::Mode::Node => {
                    let prefix = |group: &str, plural: &str| {
                        registry
                            .resource(group, "v1", plural)
                            .map(|r| r.prefix())
                            .unwrap_or_default()
                    };
                    let graph = Arc::new(node_authz::graph::Graph::new(
                        prefix("", "pods"),
                        prefix("", "persistentvolumes"),
                        prefix("storage.k8s.io", "volumeattachments"),
                    ));
                    match tokio::runtime::Handle::try_current() {
                        Ok(rt) => {
                            for p in graph.prefixes() {
                                rt.spawn(store_reflector::follow(
                                    Arc::downgrade(&graph),
                                    store.clone(),
                                    p,
                                    "node authorizer",
                                ));
                            }
                        }
                        Err(_) => tracing::error!("the Node authorizer needs a tokio runtime"),
                    }
                    chain.push(Box::new(node_authz::NodeAuthorizer {
                        graph: graph.clone(),
                    }));
                    node_graph = Some(graph);
                }
                authz::Mode::AlwaysAllow => chain.push(Box::new(authz::AlwaysAllow)),
                authz::Mode::AlwaysDeny => chain.push(Box::new(authz::AlwaysDeny)),
                authz::Mode::Rbac => {
                    let r = rbac::Rbac::new();
                    match tokio::runtime::Handle::try_current() {
                        Ok(rt) => {
                            rt.spawn(rbac::Rbac::follow(Arc::downgrade(&r), store.clone()));
                        }
                        Err(_) => tracing::error!("RBAC needs a tokio runtime to load its policy"),
                    }
                    chain.push(Box::new(RbacHandle(r.clone())));
                    rbac = Some(r);
                }
            }
        }
        let server = ApiServer {
            inner: Arc::new(Inner {
                registry,
                caches: cacher::Caches::default(),
                authorizer: Box::new(authz::Chain(chain)),
                admission: admission::Chain::new(
                    &options.disable_admission_plugins,
                    &options.admission_config,
                ),
                rbac,
                node_graph,
                store,
                options,
                metrics: metrics::Metrics::default(),
                started_unix: std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_secs())
                    .unwrap_or(0),
                inflight,
                inflight_mutating,
                ready: std::sync::atomic::AtomicBool::new(false),
                store_health: tokio::sync::Mutex::new(None),
                token_issuer,
                deleting_owners: Default::default(),
            }),
        };
        if server.inner.rbac.is_some()
            && let Ok(rt) = tokio::runtime::Handle::try_current()
        {
            rt.spawn(clusterrole_aggregation::run(Arc::downgrade(&server.inner)));
        }
        server
    }

    /// The resource and store key of a core/v1 object (`namespace` empty
    /// for a cluster-scoped one).
    fn core_key(&self, plural: &str, namespace: &str, name: &str) -> Option<(String, String)> {
        let res = self.inner.registry.resource("", "v1", plural)?;
        let key = format!("{}{name}", res.namespace_prefix(namespace));
        Some((res.prefix(), key))
    }

    /// A core/v1 object as stored (through the generic registry store), or
    /// None when it is absent or unreadable: what authenticators look up,
    /// failing closed.
    pub(crate) async fn stored_core(
        &self,
        plural: &str,
        namespace: &str,
        name: &str,
    ) -> Option<serde_json::Value> {
        let res = self.inner.registry.resource("", "v1", plural)?;
        registry::store::Store::new(self, &res, namespace)
            .get(name)
            .await
            .ok()
            .map(|(obj, _)| obj)
    }

    /// A core/v1 object as the watch cache holds it (what upstream's
    /// admission plugins read through listers: it may trail the store by
    /// a moment), else as stored.
    pub(crate) async fn cached_core(
        &self,
        plural: &str,
        namespace: &str,
        name: &str,
    ) -> Option<serde_json::Value> {
        let (prefix, key) = self.core_key(plural, namespace, name)?;
        if let Some(cacher) = self.inner.caches.get(&prefix, &self.inner.store).await
            && let Some(kv) = cacher.get(&key)
        {
            return serde_json::from_slice(&kv.value).ok();
        }
        self.stored_core(plural, namespace, name).await
    }

    /// Marks the server ready (`/readyz` answers 200) once bootstrapping is done.
    pub fn set_ready(&self) {
        self.inner
            .ready
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// Picks up work a previous run left: owners being deleted with the
    /// `orphan` or `foregroundDeletion` finalizer, namespaces terminating, and
    /// Services' allocations missing their reservations.
    pub async fn resume(&self) -> Result<(), skiff_store::StoreError> {
        if let Err(e) = dependents::resume(self).await {
            tracing::warn!(error = %e.message, "resuming deletions with propagation finalizers");
        }
        if let Err(e) = services::repair(self).await {
            tracing::warn!(error = %e.message, "repairing service allocations");
        }
        namespace_deleter::resume(self).await;
        Ok(())
    }

    /// Counts the stored objects of every resource for `apiserver_storage_objects`.
    pub async fn sample_storage_objects(&self) {
        let mut counts = std::collections::BTreeMap::new();
        for (name, prefix) in self.inner.registry.storage_prefixes() {
            let req = skiff_store::ListRequest {
                prefix,
                limit: 1,
                ..Default::default()
            };
            if let Ok(page) = self.inner.store.list(req).await {
                counts.insert(name, page.count);
            }
        }
        *self.inner.metrics.storage_objects.lock().expect("poisoned") = counts;
    }

    /// Adds a component's metrics to what `/metrics` serves.
    pub fn add_metrics_source(&self, source: impl Fn() -> String + Send + Sync + 'static) {
        self.inner
            .metrics
            .sources
            .lock()
            .expect("poisoned")
            .push(Box::new(source));
    }

    /// Serves one request from an authenticated (or anonymous) user.
    pub async fn handle(
        &self,
        req: http::Request<Bytes>,
        user: Option<UserInfo>,
    ) -> http::Response<Body> {
        let credentials = match user {
            Some(u) => filters::Credentials::User(u),
            None => filters::Credentials::None,
        };
        filters::handle(self, req.map(handlers::RequestBody::Read), credentials).await
    }

    /// Serves one request as it arrives on a connection: its body is read
    /// only after authentication, the in-flight limit and authorization.
    pub(crate) async fn handle_wire(
        &self,
        req: http::Request<hyper::body::Incoming>,
        credentials: filters::Credentials,
    ) -> http::Response<Body> {
        filters::handle(self, req.map(handlers::RequestBody::Wire), credentials).await
    }
}
