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

/// Runs every controller until `shutdown` completes.
pub async fn run(
    client: kube::Client,
    options: Options,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let on_stop = move || {
        let mut stopped = stopped.clone();
        async move {
            let _ = stopped.wait_for(|s| *s).await;
        }
    };
    let serviceaccounts = serviceaccounts::run(client.clone(), on_stop());
    let approver = certificates::approver::run(client.clone(), on_stop());
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
        let (client, stopped) = (client.clone(), on_stop());
        async move {
            if let Some(signer) = signer {
                certificates::signer::run(client, signer, stopped).await;
            }
        }
    };
    let root_ca = root_ca_publisher::run(client, options.root_ca, on_stop());
    let stopper = async move {
        shutdown.await;
        let _ = stop.send(true);
    };
    tokio::join!(serviceaccounts, approver, signing, root_ca, stopper);
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
