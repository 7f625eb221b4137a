//! The CSR approver, as upstream's `csrapproving` controller
//! (`pkg/controller/certificates/approver/sarapprove.go`): a request for a
//! node client certificate (`kube-apiserver-client-kubelet`, valid by the
//! kubelet client rules) is approved when its requester may
//! `create certificatesigningrequests/selfnodeclient` (renewing its own,
//! CN = its user name) or `.../nodeclient` (joining, as a bootstrap token
//! may), asked with a SubjectAccessReview for the requester.

use std::future::Future;
use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::api::authorization::v1::SubjectAccessReview;
use k8s_openapi::api::certificates::v1::CertificateSigningRequest;
use kube::api::{Api, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::watcher;
use serde_json::json;

use super::{KUBE_APISERVER_CLIENT_KUBELET, has_certificate, has_condition, parse, usages};
use crate::Error;

/// Follows CertificateSigningRequests until `shutdown`.
pub async fn run(
    client: crate::ControllerClient,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) {
    let api: Api<CertificateSigningRequest> = Api::all(client.read.clone());
    Controller::new(api, watcher::Config::default())
        .graceful_shutdown_on(shutdown)
        .run(
            |csr, client| async move { sync_certificate_signing_request(&csr, &client.write).await },
            |_, err, _| crate::retry(err),
            Arc::new(client),
        )
        .for_each(|result| async move {
            if let Err(e) = result {
                tracing::debug!(error = %e, "csr approver");
            }
        })
        .await;
}

/// Approves a node client request its requester is allowed to make.
pub async fn sync_certificate_signing_request(
    csr: &CertificateSigningRequest,
    client: &kube::Client,
) -> Result<Action, Error> {
    if has_certificate(csr) || has_condition(csr, "Approved") || has_condition(csr, "Denied") {
        return Ok(Action::await_change());
    }
    if csr.spec.signer_name != KUBE_APISERVER_CLIENT_KUBELET {
        return Ok(Action::await_change());
    }
    let name = csr.metadata.name.clone().unwrap_or_default();
    let request = parse(&csr.spec.request.0)
        .map_err(|e| Error::Sync(format!("unable to parse csr {name:?}: {e}")))?;
    if super::validate_kubelet_client(&request, &usages(csr)).is_err() {
        return Ok(Action::await_change());
    }
    let own = csr.spec.username.as_deref() == Some(request.common_name.as_str());
    let recognized: Vec<(&str, &str)> = [
        (
            own,
            "selfnodeclient",
            "Auto approving self kubelet client certificate after SubjectAccessReview.",
        ),
        (
            true,
            "nodeclient",
            "Auto approving kubelet client certificate after SubjectAccessReview.",
        ),
    ]
    .into_iter()
    .filter(|(applies, _, _)| *applies)
    .map(|(_, sub, message)| (sub, message))
    .collect();
    for (subresource, message) in &recognized {
        if allowed(client, csr, subresource).await? {
            let mut approved = csr.clone();
            approved
                .status
                .get_or_insert_with(Default::default)
                .conditions
                .get_or_insert_with(Vec::new)
                .push(
                    serde_json::from_value(json!({
                        "type": "Approved",
                        "status": "True",
                        "reason": "AutoApproved",
                        "message": message,
                        "lastUpdateTime": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                    }))
                    .expect("a condition"),
                );
            let api: Api<CertificateSigningRequest> = Api::all(client.clone());
            api.replace_subresource("approval", &name, &PostParams::default(), &approved)
                .await?;
            return Ok(Action::await_change());
        }
    }
    tracing::debug!(
        csr = %name,
        tried = ?recognized.iter().map(|(s, _)| *s).collect::<Vec<_>>(),
        "recognized a node client request but its subject access review was not approved"
    );
    Ok(Action::await_change())
}

/// Whether the requester may `create certificatesigningrequests/<subresource>`.
async fn allowed(
    client: &kube::Client,
    csr: &CertificateSigningRequest,
    subresource: &str,
) -> Result<bool, Error> {
    let spec = &csr.spec;
    let review: SubjectAccessReview = serde_json::from_value(json!({
        "spec": {
            "user": spec.username,
            "uid": spec.uid,
            "groups": spec.groups,
            "extra": spec.extra,
            "resourceAttributes": {
                "group": "certificates.k8s.io",
                "resource": "certificatesigningrequests",
                "verb": "create",
                "subresource": subresource,
                "version": "*",
            },
        }
    }))
    .expect("a review");
    let api: Api<SubjectAccessReview> = Api::all(client.clone());
    let answer = api.create(&PostParams::default(), &review).await?;
    Ok(answer.status.is_some_and(|s| s.allowed))
}
