//! The certificate admission plugins, as upstream's
//! (`plugin/pkg/admission/certificates/`): CertificateApproval (approving
//! or denying a CSR needs `approve` on its signer), CertificateSigning
//! (setting its certificate or its Failed condition needs `sign`), both
//! asked of the authorizer on `signers` in `certificates.k8s.io` by the
//! signer's name or `<domain>/*`; and CertificateSubjectRestriction (no
//! `kubernetes.io/kube-apiserver-client` request for `system:masters`).

use serde_json::Value;
use skiff_api::ApiError;

use super::{Attributes, Operation, Plugin, Result};
use crate::authz::Attributes as AuthzAttributes;
use crate::request::RequestInfo;

fn is_csr(a: &Attributes<'_, '_>) -> bool {
    a.is("certificates.k8s.io", "certificatesigningrequests")
}

fn signer(csr: &Value) -> &str {
    csr.pointer("/spec/signerName")
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// Upstream's `IsAuthorizedForSignerName`: `verb` on the signer by name,
/// or on every signer of its domain (`example.com/*`).
fn authorized_for_signer(a: &Attributes<'_, '_>, verb: &str, signer: &str) -> bool {
    let ask = |name: &str| {
        let info = RequestInfo {
            group: "certificates.k8s.io".into(),
            version: "*".into(),
            resource: "signers".into(),
            name: name.to_string(),
            verb: verb.into(),
            ..RequestInfo::default()
        };
        a.ctx
            .server
            .inner
            .authorizer
            .authorize(&AuthzAttributes {
                user: a.user(),
                resource: Some(&info),
                path: "",
                verb,
            })
            .allowed()
    };
    if ask(signer) {
        return true;
    }
    match signer.split_once('/') {
        Some((domain, _)) => ask(&format!("{domain}/*")),
        None => false,
    }
}

fn forbidden(a: &Attributes<'_, '_>, csr: &Value, why: String) -> ApiError {
    let name = Some(a.name())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| skiff_api::meta::name(csr));
    ApiError::forbidden_object(
        "certificates.k8s.io",
        "certificatesigningrequests",
        name,
        &why,
    )
}

pub struct CertificateApproval;

#[async_trait::async_trait]
impl Plugin for CertificateApproval {
    fn name(&self) -> &'static str {
        "CertificateApproval"
    }

    async fn validate(&self, a: &Attributes<'_, '_>, obj: Option<&Value>) -> Result<()> {
        let Some(csr) = obj else { return Ok(()) };
        if !is_csr(a) || a.operation != Operation::Update || a.subresource() != "approval" {
            return Ok(());
        }
        let signer = signer(csr);
        if !authorized_for_signer(a, "approve", signer) {
            return Err(forbidden(
                a,
                csr,
                format!("user not permitted to approve requests with signerName {signer:?}"),
            ));
        }
        Ok(())
    }
}

pub struct CertificateSigning;

#[async_trait::async_trait]
impl Plugin for CertificateSigning {
    fn name(&self) -> &'static str {
        "CertificateSigning"
    }

    async fn validate(&self, a: &Attributes<'_, '_>, obj: Option<&Value>) -> Result<()> {
        let (Some(csr), Some(old)) = (obj, a.old) else {
            return Ok(());
        };
        if !is_csr(a) || a.operation != Operation::Update || a.subresource() != "status" {
            return Ok(());
        }
        let unchanged = |field: &str| csr.pointer(field) == old.pointer(field);
        if unchanged("/status/certificate") && unchanged("/status/conditions") {
            return Ok(());
        }
        let signer = signer(old);
        if !authorized_for_signer(a, "sign", signer) {
            return Err(forbidden(
                a,
                csr,
                format!("user not permitted to sign requests with signerName {signer:?}"),
            ));
        }
        Ok(())
    }
}

pub struct CertificateSubjectRestriction;

#[async_trait::async_trait]
impl Plugin for CertificateSubjectRestriction {
    fn name(&self) -> &'static str {
        "CertificateSubjectRestriction"
    }

    async fn validate(&self, a: &Attributes<'_, '_>, obj: Option<&Value>) -> Result<()> {
        let Some(csr) = obj else { return Ok(()) };
        if !is_csr(a) || a.operation != Operation::Create || !a.subresource().is_empty() {
            return Ok(());
        }
        let signer = signer(csr);
        if signer != "kubernetes.io/kube-apiserver-client" {
            return Ok(());
        }
        let request = csr
            .pointer("/spec/request")
            .and_then(Value::as_str)
            .unwrap_or("");
        let (_, organizations) = crate::pki::csr_subject(request)
            .map_err(|e| ApiError::bad_request(format!("failed to parse CSR: {e}")))?;
        if organizations.iter().any(|o| o == "system:masters") {
            return Err(forbidden(
                a,
                csr,
                format!("use of {signer} signer with system:masters group is not allowed"),
            ));
        }
        Ok(())
    }
}
