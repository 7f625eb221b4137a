//! The CSR signer, as upstream's `csrsigning` controller
//! (`pkg/controller/certificates/signer`): approved requests for
//! `kubernetes.io/kube-apiserver-client`, `kube-apiserver-client-kubelet`
//! and `kubelet-serving` are signed by the cluster CA (subject and SANs as
//! requested, usages as `spec.usages` says, valid from five minutes ago for
//! `spec.expirationSeconds` or `--cluster-signing-duration`, never beyond
//! the CA); a request a signer's rules refuse is marked Failed with
//! `SignerValidationFailure`.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::certificates::v1::CertificateSigningRequest;
use kube::api::{Api, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::watcher;
use serde_json::json;

use super::{
    KUBE_APISERVER_CLIENT, KUBE_APISERVER_CLIENT_KUBELET, KUBELET_SERVING, has_certificate,
    has_condition, parse, usages,
};
use crate::Error;

/// How far back a certificate's validity starts (clock skew).
const BACKDATE: Duration = Duration::from_secs(5 * 60);
/// Below this lifetime a certificate is not shortened by the backdate.
const SHORT: Duration = Duration::from_secs(8 * 3600);

/// The cluster CA and how long what it signs is valid.
pub struct Signer {
    ca_cert_pem: String,
    ca_key_pem: String,
    ca_not_after: time::OffsetDateTime,
    /// `--cluster-signing-duration` (upstream's default: a year).
    duration: Duration,
}

impl Signer {
    pub fn new(ca_cert_pem: &str, ca_key_pem: &str, duration: Duration) -> Result<Signer, String> {
        let (_, pem) = x509_parser::pem::parse_x509_pem(ca_cert_pem.as_bytes())
            .map_err(|e| format!("the CA certificate: {e}"))?;
        let cert = pem
            .parse_x509()
            .map_err(|e| format!("the CA certificate: {e}"))?;
        Ok(Signer {
            ca_cert_pem: ca_cert_pem.to_string(),
            ca_key_pem: ca_key_pem.to_string(),
            ca_not_after: cert.validity().not_after.to_datetime(),
            duration,
        })
    }

    /// Signs `request` (PEM) for `usages`, valid for `expiration` (or the
    /// signer's duration, whichever is shorter).
    pub fn sign(
        &self,
        request: &str,
        usages: &std::collections::BTreeSet<String>,
        expiration: Option<Duration>,
    ) -> Result<String, String> {
        use rcgen::{ExtendedKeyUsagePurpose as Eku, KeyUsagePurpose as Ku};
        let checked = super::parse(request.as_bytes())?;
        if checked.organizations.len() > 1 {
            return Err(
                "signing a subject with more than one organization is not supported".into(),
            );
        }
        let mut csr = rcgen::CertificateSigningRequestParams::from_pem(request)
            .map_err(|e| format!("unable to parse csr: {e}"))?;
        let params = &mut csr.params;
        // The subject signed is the one checked: its one common name and
        // organization, whatever else the request's name holds.
        let dn = &mut params.distinguished_name;
        dn.remove(rcgen::DnType::CommonName);
        dn.remove(rcgen::DnType::OrganizationName);
        if !checked.common_name.is_empty() {
            dn.push(rcgen::DnType::CommonName, checked.common_name.as_str());
        }
        if let Some(o) = checked.organizations.first() {
            dn.push(rcgen::DnType::OrganizationName, o.as_str());
        }
        params.key_usages.clear();
        params.extended_key_usages.clear();
        for usage in usages {
            match usage.as_str() {
                "digital signature" => params.key_usages.push(Ku::DigitalSignature),
                "content commitment" => params.key_usages.push(Ku::ContentCommitment),
                "key encipherment" => params.key_usages.push(Ku::KeyEncipherment),
                "key agreement" => params.key_usages.push(Ku::KeyAgreement),
                "data encipherment" => params.key_usages.push(Ku::DataEncipherment),
                "cert sign" => params.key_usages.push(Ku::KeyCertSign),
                "crl sign" => params.key_usages.push(Ku::CrlSign),
                "encipher only" => params.key_usages.push(Ku::EncipherOnly),
                "decipher only" => params.key_usages.push(Ku::DecipherOnly),
                "server auth" => params.extended_key_usages.push(Eku::ServerAuth),
                "client auth" => params.extended_key_usages.push(Eku::ClientAuth),
                "code signing" => params.extended_key_usages.push(Eku::CodeSigning),
                "email protection" => params.extended_key_usages.push(Eku::EmailProtection),
                "timestamping" => params.extended_key_usages.push(Eku::TimeStamping),
                "ocsp signing" => params.extended_key_usages.push(Eku::OcspSigning),
                _ => {}
            }
        }
        params.is_ca = rcgen::IsCa::ExplicitNoCa;
        let serial: [u8; 16] = rand::random();
        params.serial_number = Some(rcgen::SerialNumber::from_slice(&serial));
        // Upstream's PermissiveSigningPolicy: valid from five minutes ago;
        // a short-lived certificate (under 8 h) gets its whole ttl from now,
        // a longer one loses the five minutes; never past the CA.
        let ttl = expiration.map_or(self.duration, |e| e.min(self.duration));
        let now = time::OffsetDateTime::now_utc();
        if now >= self.ca_not_after {
            return Err(format!(
                "refusing to sign a certificate that expired in the past: NotAfter={}",
                self.ca_not_after
            ));
        }
        params.not_before = now - BACKDATE;
        params.not_after = if ttl < SHORT {
            now + ttl
        } else {
            now + ttl - BACKDATE
        }
        .min(self.ca_not_after);
        let key = rcgen::KeyPair::from_pem(&self.ca_key_pem).map_err(|e| e.to_string())?;
        let issuer =
            rcgen::Issuer::from_ca_cert_pem(&self.ca_cert_pem, key).map_err(|e| e.to_string())?;
        let cert = csr.signed_by(&issuer).map_err(|e| e.to_string())?;
        Ok(cert.pem())
    }
}

/// Follows CertificateSigningRequests until `shutdown`.
pub async fn run(
    client: crate::ControllerClient,
    signer: Arc<Signer>,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) {
    let api: Api<CertificateSigningRequest> = Api::all(client.read.clone());
    Controller::new(api, watcher::Config::default())
        .graceful_shutdown_on(shutdown)
        .run(
            |csr, ctx| async move { sync_certificate_signing_request(&csr, &ctx.0, &ctx.1).await },
            |_, err, _| crate::retry(err),
            Arc::new((client.write, signer)),
        )
        .for_each(|result| async move {
            if let Err(e) = result {
                tracing::debug!(error = %e, "csr signer");
            }
        })
        .await;
}

/// Signs an approved request for one of the built-in signers.
pub async fn sync_certificate_signing_request(
    csr: &CertificateSigningRequest,
    client: &kube::Client,
    signer: &Signer,
) -> Result<Action, Error> {
    if !has_condition(csr, "Approved") || has_condition(csr, "Failed") || has_certificate(csr) {
        return Ok(Action::await_change());
    }
    let signer_name = csr.spec.signer_name.as_str();
    if ![
        KUBE_APISERVER_CLIENT,
        KUBE_APISERVER_CLIENT_KUBELET,
        KUBELET_SERVING,
    ]
    .contains(&signer_name)
    {
        return Ok(Action::await_change());
    }
    let name = csr.metadata.name.clone().unwrap_or_default();
    let usages = usages(csr);
    let expiration = csr
        .spec
        .expiration_seconds
        .map(|s| Duration::from_secs(u64::try_from(s).unwrap_or(0)));
    // A request that does not parse, that this signer's rules refuse, or
    // that it cannot sign, fails (it is not retried forever).
    let outcome = parse(&csr.spec.request.0)
        .map_err(|e| format!("unable to parse csr {name:?}: {e}"))
        .and_then(|request| {
            match signer_name {
                KUBE_APISERVER_CLIENT => super::validate_client_usages(&usages),
                KUBE_APISERVER_CLIENT_KUBELET => super::validate_kubelet_client(&request, &usages),
                _ => super::validate_kubelet_serving(&request, &usages),
            }?;
            signer.sign(&request.pem, &usages, expiration)
        });
    let api: Api<CertificateSigningRequest> = Api::all(client.clone());
    let mut updated = csr.clone();
    let status = updated.status.get_or_insert_with(Default::default);
    match outcome {
        Ok(pem) => status.certificate = Some(k8s_openapi::ByteString(pem.into_bytes())),
        Err(why) => status.conditions.get_or_insert_with(Vec::new).push(
            serde_json::from_value(json!({
                "type": "Failed",
                "status": "True",
                "reason": "SignerValidationFailure",
                "message": why,
                "lastUpdateTime": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            }))
            .expect("a condition"),
        ),
    }
    api.replace_status(&name, &PostParams::default(), &updated)
        .await?;
    Ok(Action::await_change())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_with_the_requested_usages_for_the_shorter_time() {
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(rcgen::DnType::CommonName, "test-ca");
        let ca_cert = ca.self_signed(&ca_key).unwrap();
        let signer = Signer::new(
            &ca_cert.pem(),
            &ca_key.serialize_pem(),
            Duration::from_secs(365 * 24 * 3600),
        )
        .unwrap();
        let request = super::super::tests::csr_pem("system:node:n1", &["system:nodes"], &[]);
        let usages = ["digital signature", "client auth"]
            .map(String::from)
            .into_iter()
            .collect();
        let pem = signer
            .sign(&request, &usages, Some(Duration::from_secs(3600)))
            .unwrap();
        let (_, pem) = x509_parser::pem::parse_x509_pem(pem.as_bytes()).unwrap();
        let cert = pem.parse_x509().unwrap();
        assert_eq!(
            cert.subject().to_string(),
            "CN=system:node:n1, O=system:nodes"
        );
        assert_eq!(cert.issuer().to_string(), "CN=test-ca");
        let lifetime =
            cert.validity().not_after.timestamp() - cert.validity().not_before.timestamp();
        // Short-lived: the whole hour from now, valid from five minutes ago.
        assert_eq!(lifetime, 3600 + 300);
        let eku = cert.extended_key_usage().unwrap().unwrap().value;
        assert!(eku.client_auth && !eku.server_auth);
        assert!(!cert.is_ca());
    }
}
