//! The certificate controllers, as kube-controller-manager's
//! `csrapproving` and `csrsigning` (`pkg/controller/certificates/`): node
//! client certificates approved after a SubjectAccessReview, and approved
//! requests for the built-in signers signed by the cluster CA. With
//! bootstrap tokens this is how a node joins: token → CSR → certificate.
//! The CSR rules of `pkg/apis/certificates/helpers.go` live here too.

pub mod approver;
pub mod cleaner;
pub mod signer;

use std::collections::BTreeSet;

use k8s_openapi::api::certificates::v1::CertificateSigningRequest;
use x509_parser::extensions::GeneralName;

pub const KUBE_APISERVER_CLIENT: &str = "kubernetes.io/kube-apiserver-client";
pub const KUBE_APISERVER_CLIENT_KUBELET: &str = "kubernetes.io/kube-apiserver-client-kubelet";
pub const KUBELET_SERVING: &str = "kubernetes.io/kubelet-serving";

/// What a certificate request asks for (the parts upstream's rules read).
#[derive(Debug, Default)]
pub struct Request {
    pub common_name: String,
    pub organizations: Vec<String>,
    pub dns_names: Vec<String>,
    pub ip_addresses: Vec<std::net::IpAddr>,
    pub emails: Vec<String>,
    pub uris: Vec<String>,
    /// The request as PEM, for signing.
    pub pem: String,
}

/// Parses `spec.request` (PEM bytes), as upstream's `ParseCSR`.
pub fn parse(request: &[u8]) -> Result<Request, String> {
    use x509_parser::prelude::FromDer;
    let (_, pem) = x509_parser::pem::parse_x509_pem(request)
        .map_err(|_| "PEM block type must be CERTIFICATE REQUEST".to_string())?;
    if pem.label != "CERTIFICATE REQUEST" {
        return Err("PEM block type must be CERTIFICATE REQUEST".into());
    }
    let (_, csr) =
        x509_parser::certification_request::X509CertificationRequest::from_der(&pem.contents)
            .map_err(|e| e.to_string())?;
    let info = &csr.certification_request_info;
    let mut out = Request {
        pem: String::from_utf8_lossy(request).into_owned(),
        ..Request::default()
    };
    let (common_name, organizations) = skiff_api::x509::subject(&info.subject)?;
    out.common_name = common_name;
    out.organizations = organizations;
    if let Some(extensions) = csr.requested_extensions() {
        for ext in extensions {
            if let x509_parser::extensions::ParsedExtension::SubjectAlternativeName(san) = ext {
                for name in &san.general_names {
                    match name {
                        GeneralName::DNSName(d) => out.dns_names.push(d.to_string()),
                        GeneralName::RFC822Name(e) => out.emails.push(e.to_string()),
                        GeneralName::URI(u) => out.uris.push(u.to_string()),
                        GeneralName::IPAddress(ip) => match ip.len() {
                            4 => out
                                .ip_addresses
                                .push(<[u8; 4]>::try_from(*ip).expect("4 bytes").into()),
                            16 => out
                                .ip_addresses
                                .push(<[u8; 16]>::try_from(*ip).expect("16 bytes").into()),
                            _ => {}
                        },
                        _ => {}
                    }
                }
            }
        }
    }
    Ok(out)
}

fn usages(csr: &CertificateSigningRequest) -> BTreeSet<String> {
    csr.spec
        .usages
        .clone()
        .unwrap_or_default()
        .into_iter()
        .collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// Upstream's `ValidateKubeletClientCSR`.
pub fn validate_kubelet_client(req: &Request, usages: &BTreeSet<String>) -> Result<(), String> {
    if req.organizations != ["system:nodes"] {
        return Err("subject organization is not system:nodes".into());
    }
    if !req.dns_names.is_empty() {
        return Err("DNS subjectAltNames are not allowed".into());
    }
    if !req.emails.is_empty() {
        return Err("Email subjectAltNames are not allowed".into());
    }
    if !req.ip_addresses.is_empty() {
        return Err("IP subjectAltNames are not allowed".into());
    }
    if !req.uris.is_empty() {
        return Err("URI subjectAltNames are not allowed".into());
    }
    if !req.common_name.starts_with("system:node:") {
        return Err("subject common name does not begin with system:node:".into());
    }
    let required = set(&["digital signature", "key encipherment", "client auth"]);
    if *usages != required && *usages != set(&["digital signature", "client auth"]) {
        return Err(format!("usages did not match {}", go_list(&required)));
    }
    Ok(())
}

/// Upstream's `ValidateKubeletServingCSR`.
pub fn validate_kubelet_serving(req: &Request, usages: &BTreeSet<String>) -> Result<(), String> {
    if req.organizations != ["system:nodes"] {
        return Err("subject organization is not system:nodes".into());
    }
    if req.dns_names.is_empty() && req.ip_addresses.is_empty() {
        return Err("DNS or IP subjectAltName is required".into());
    }
    if !req.emails.is_empty() {
        return Err("Email subjectAltNames are not allowed".into());
    }
    if !req.uris.is_empty() {
        return Err("URI subjectAltNames are not allowed".into());
    }
    if !req.common_name.starts_with("system:node:") {
        return Err("subject common name does not begin with system:node:".into());
    }
    let required = set(&["digital signature", "key encipherment", "server auth"]);
    if *usages != required && *usages != set(&["digital signature", "server auth"]) {
        return Err(format!("usages did not match {}", go_list(&required)));
    }
    Ok(())
}

/// Upstream's `validAPIServerClientUsages`.
pub fn validate_client_usages(usages: &BTreeSet<String>) -> Result<(), String> {
    let mut client_auth = false;
    for u in usages {
        match u.as_str() {
            "digital signature" | "key encipherment" => {}
            "client auth" => client_auth = true,
            other => return Err(format!("invalid usage for client certificate: {other}")),
        }
    }
    if !client_auth {
        return Err("missing required usage for client certificate: client auth".into());
    }
    Ok(())
}

/// Go's `%v` of a sorted string list.
fn go_list(items: &BTreeSet<String>) -> String {
    format!("[{}]", items.iter().cloned().collect::<Vec<_>>().join(" "))
}

/// Whether the request has a condition of `kind` set to True.
pub fn has_condition(csr: &CertificateSigningRequest, kind: &str) -> bool {
    csr.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == kind && c.status == "True"))
}

pub fn has_certificate(csr: &CertificateSigningRequest) -> bool {
    csr.status
        .as_ref()
        .and_then(|s| s.certificate.as_ref())
        .is_some_and(|c| !c.0.is_empty())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub fn csr_pem(cn: &str, orgs: &[&str], dns: &[&str]) -> String {
        let mut params =
            rcgen::CertificateParams::new(dns.iter().map(|d| d.to_string()).collect::<Vec<_>>())
                .unwrap();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, cn);
        for o in orgs {
            params
                .distinguished_name
                .push(rcgen::DnType::OrganizationName, *o);
        }
        let key = rcgen::KeyPair::generate().unwrap();
        params.serialize_request(&key).unwrap().pem().unwrap()
    }

    #[test]
    fn kubelet_rules_as_upstream() {
        let client = set(&["digital signature", "client auth"]);
        let ok = parse(csr_pem("system:node:n1", &["system:nodes"], &[]).as_bytes()).unwrap();
        assert_eq!(ok.common_name, "system:node:n1");
        assert!(validate_kubelet_client(&ok, &client).is_ok());
        assert_eq!(
            validate_kubelet_client(&ok, &set(&["client auth"])).unwrap_err(),
            "usages did not match [client auth digital signature key encipherment]"
        );
        let other = parse(csr_pem("alice", &["system:nodes"], &[]).as_bytes()).unwrap();
        assert_eq!(
            validate_kubelet_client(&other, &client).unwrap_err(),
            "subject common name does not begin with system:node:"
        );
        let with_dns =
            parse(csr_pem("system:node:n1", &["system:nodes"], &["n1"]).as_bytes()).unwrap();
        assert_eq!(
            validate_kubelet_client(&with_dns, &client).unwrap_err(),
            "DNS subjectAltNames are not allowed"
        );
        assert!(
            validate_kubelet_serving(&with_dns, &set(&["digital signature", "server auth"]))
                .is_ok()
        );
        assert_eq!(
            validate_kubelet_serving(&ok, &set(&["digital signature", "server auth"])).unwrap_err(),
            "DNS or IP subjectAltName is required"
        );
        assert_eq!(
            validate_client_usages(&set(&["server auth", "client auth"])).unwrap_err(),
            "invalid usage for client certificate: server auth"
        );
        assert!(parse(b"junk").is_err());
        // Two common names: which one is signed would be ambiguous.
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "system:node:n1");
        params.distinguished_name.push(
            rcgen::DnType::CustomDnType(vec![2, 5, 4, 3]),
            "system:node:n2",
        );
        let key = rcgen::KeyPair::generate().unwrap();
        let two = params.serialize_request(&key).unwrap().pem().unwrap();
        assert_eq!(
            parse(two.as_bytes()).unwrap_err(),
            "a subject may have at most one common name"
        );
    }
}
