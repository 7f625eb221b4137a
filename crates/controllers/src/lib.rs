//! Skiff's controllers: the control loops of kube-controller-manager
//! (`cmd/kube-controller-manager/app/controllermanager.go`), each turning
//! what is stored towards what it should be. They are clients of the API
//! server like any other, through kube-rs (in `skiff server`, the API
//! server's in-process client); they never touch the store.
//!
//! Each controller is one module with upstream's name and one
//! `sync_<kind>` function that is idempotent: it is run for every change
//! of what it watches, and its errors are retried with backoff.
#![forbid(unsafe_code)]

pub mod certificates;
pub mod root_ca_publisher;
pub mod serviceaccounts;

use std::future::Future;
use std::time::Duration;

use kube::runtime::controller::Action;

/// What every controller's sync may fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Api(#[from] kube::Error),
    /// A sync that cannot go on (retried with backoff).
    #[error("{0}")]
    Sync(String),
}

/// Settings of the controllers.
#[derive(Clone)]
pub struct Options {
    /// The cluster CA bundle (PEM) the root CA publisher puts in every
    /// namespace's `kube-root-ca.crt` (upstream's `--root-ca-file`).
    pub root_ca: String,
    /// The CA key (PEM) the CSR signer signs with, beside `root_ca`
    /// (upstream's `--cluster-signing-cert-file` / `-key-file`); without it
    /// no CSR is signed.
    pub ca_key: Option<String>,
    /// How long signed certificates are valid at most
    /// (`--cluster-signing-duration`, a year by default).
    pub cluster_signing_duration: Duration,
}

/// Makes a client acting as service account `kube-system/<name>` (with its uid).
pub type AccountClient = Box<dyn Fn(&str, &str) -> kube::Client + Send + Sync>;

/// One controller's clients: it reads (its watches and gets) as the
/// controller manager, as upstream's shared informers do, and writes as
/// its own service account.
#[derive(Clone)]
pub struct ControllerClient {
    pub read: kube::Client,
    pub write: kube::Client,
}

/// How the controllers reach the API server: the controller manager's own
/// client, which makes each controller's service account in kube-system,
/// and a client per controller acting as its service account (upstream's
/// `--use-service-account-credentials`), so that each holds only its
/// `system:controller:<name>` role.
pub struct Clients {
    pub root: kube::Client,
    /// A client for the service account `kube-system/<name>` with `uid`.
    pub for_account: AccountClient,
}

impl Clients {
    /// The client of controller `name`, its service account made if missing.
    async fn controller(&self, name: &str) -> Result<ControllerClient, kube::Error> {
        use k8s_openapi::api::core::v1::ServiceAccount;
        use kube::api::{Api, ObjectMeta, PostParams};
        let accounts: Api<ServiceAccount> = Api::namespaced(self.root.clone(), "kube-system");
        let account = match accounts.get_opt(name).await? {
            Some(sa) => sa,
            None => {
                let sa = ServiceAccount {
                    metadata: ObjectMeta {
                        name: Some(name.to_string()),
                        ..Default::default()
                    },
                    ..Default::default()
                };
                match accounts.create(&PostParams::default(), &sa).await {
                    Ok(sa) => sa,
                    Err(e) if already_exists(&e) => accounts.get(name).await?,
                    Err(e) => return Err(e),
                }
            }
        };
        let uid = account.metadata.uid.unwrap_or_default();
        Ok(ControllerClient {
            read: self.root.clone(),
            write: (self.for_account)(name, &uid),
        })
    }

    /// [`Clients::controller`], retried until it succeeds or `stopped`.
    async fn controller_until(
        &self,
        name: &str,
        stopped: &mut tokio::sync::watch::Receiver<bool>,
    ) -> Option<ControllerClient> {
        let mut wait = Duration::from_millis(100);
        loop {
            match self.controller(name).await {
                Ok(c) => return Some(c),
                Err(e) => {
                    tracing::warn!(controller = name, error = %e, "making the controller's service account; retrying")
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = stopped.wait_for(|s| *s) => return None,
            }
            wait = (wait * 2).min(Duration::from_secs(10));
        }
    }
}

/// Runs every controller until `shutdown` completes.
pub async fn run(
    clients: Clients,
    options: Options,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let on_stop = {
        let stopped = stopped.clone();
        move || {
            let mut stopped = stopped.clone();
            async move {
                let _ = stopped.wait_for(|s| *s).await;
            }
        }
    };
    let stopper = async move {
        shutdown.await;
        let _ = stop.send(true);
    };
    let controllers = async {
        let mut watching = stopped.clone();
        let (Some(service_accounts), Some(root_ca), Some(certificates)) = (
            clients
                .controller_until("service-account-controller", &mut watching)
                .await,
            clients
                .controller_until("root-ca-cert-publisher", &mut watching)
                .await,
            clients
                .controller_until("certificate-controller", &mut watching)
                .await,
        ) else {
            return;
        };
        let serviceaccounts = serviceaccounts::run(service_accounts, on_stop());
        let approver = certificates::approver::run(certificates.clone(), on_stop());
        let signer = match &options.ca_key {
            Some(key) => match certificates::signer::Signer::new(
                &options.root_ca,
                key,
                options.cluster_signing_duration,
            ) {
                Ok(s) => Some(std::sync::Arc::new(s)),
                Err(e) => {
                    tracing::error!(error = %e, "the CSR signer cannot start");
                    None
                }
            },
            None => None,
        };
        let signing = {
            let stopped = on_stop();
            let certificates = certificates.clone();
            async move {
                if let Some(signer) = signer {
                    certificates::signer::run(certificates, signer, stopped).await;
                }
            }
        };
        let cleaner = certificates::cleaner::run(certificates.clone(), on_stop());
        let root_ca = root_ca_publisher::run(root_ca, options.root_ca.clone(), on_stop());
        tokio::join!(serviceaccounts, approver, signing, cleaner, root_ca);
    };
    tokio::join!(controllers, stopper);
}

/// A failed sync is retried after a while (the controller's per-object
/// backoff comes on top).
fn retry(_err: &Error) -> Action {
    Action::requeue(Duration::from_secs(5))
}

/// Whether a create was refused because its namespace is missing or
/// terminating (upstream's `NamespaceTerminatingCause`): nothing to retry.
fn namespace_gone(err: &kube::Error) -> bool {
    match err {
        kube::Error::Api(status) => {
            status.code == 404
                || status
                    .details
                    .as_ref()
                    .is_some_and(|d| d.causes.iter().any(|c| c.reason == "NamespaceTerminating"))
        }
        _ => false,
    }
}

/// Whether the object already exists (someone else created it first).
fn already_exists(err: &kube::Error) -> bool {
    matches!(err, kube::Error::Api(status) if status.code == 409)
}
