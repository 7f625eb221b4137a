//! The cluster's certificates: a CA (generated on first start, shared by every
//! server of the cluster through the store, see `skiff_server::cluster_data`), a
//! serving certificate for each API server issued for its own addresses, and
//! client certificates (the admin's: CN `admin`, O `system:masters`).

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};

/// Why the certificates could not be loaded or made.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("certificate generation: {0}")]
    Rcgen(#[from] rcgen::Error),
}

/// PEM-encoded material of the cluster.
pub struct Pki {
    pub ca_cert_pem: String,
    ca_key_pem: String,
    pub serving_cert_pem: String,
    pub serving_key_pem: String,
}

fn read(path: &Path) -> Result<Option<String>, PkiError> {
    match std::fs::read_to_string(path) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(PkiError::Io {
            path: path.into(),
            source: e,
        }),
    }
}

/// Writes `contents` to `path`; a private file (a key) is created with mode
/// 0600 from the start, never readable by others even for a moment.
pub fn write_file(path: &Path, contents: &str, private: bool) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    if private {
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    if private {
        // An older file keeps its mode on open: make sure.
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    file.write_all(contents.as_bytes())?;
    file.sync_all()
}

fn write(path: &Path, contents: &str, private: bool) -> Result<(), PkiError> {
    write_file(path, contents, private).map_err(|e| PkiError::Io {
        path: path.into(),
        source: e,
    })
}

/// A short, stable digest of a PEM text (which CA issued a certificate).
fn fingerprint(pem: &str) -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, pem.as_bytes());
    d.as_ref()[..8].iter().map(|b| format!("{b:02x}")).collect()
}

fn validity(params: &mut CertificateParams, years: i64) {
    let now = chrono::Utc::now();
    let from = now - chrono::Duration::hours(1);
    let to = now + chrono::Duration::days(365 * years);
    params.not_before = rcgen::date_time_ymd(
        from.format("%Y").to_string().parse().unwrap_or(2025),
        from.format("%m").to_string().parse().unwrap_or(1),
        from.format("%d").to_string().parse().unwrap_or(1),
    );
    params.not_after = rcgen::date_time_ymd(
        to.format("%Y").to_string().parse().unwrap_or(2035),
        to.format("%m").to_string().parse().unwrap_or(1),
        to.format("%d").to_string().parse().unwrap_or(1),
    );
}

impl Pki {
    /// Loads the certificates in `dir`, generating what is missing. The serving
    /// certificate covers `sans` (DNS names or IP addresses) besides the usual
    /// in-cluster names.
    pub fn ensure(dir: &Path, sans: &[String]) -> Result<Pki, PkiError> {
        let (cert, key) = match Self::load_ca(dir)? {
            Some(ca) => ca,
            None => Self::generate_ca()?,
        };
        Self::with_ca(dir, cert, key, sans)
    }

    /// The CA (certificate PEM, key PEM) stored in `dir`, if any.
    pub fn load_ca(dir: &Path) -> Result<Option<(String, String)>, PkiError> {
        match (read(&dir.join("ca.crt"))?, read(&dir.join("ca.key"))?) {
            (Some(c), Some(k)) => Ok(Some((c, k))),
            _ => Ok(None),
        }
    }

    /// A new self-signed cluster CA: (certificate PEM, key PEM).
    pub fn generate_ca() -> Result<(String, String), PkiError> {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.distinguished_name = DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, "skiff-ca");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        validity(&mut params, 10);
        let cert = params.self_signed(&key)?;
        Ok((cert.pem(), key.serialize_pem()))
    }

    /// The certificates of a server of the cluster whose CA is given (shared by
    /// every server of the cluster): the CA is written to `dir`, and the serving
    /// certificate in `dir` reused while it was issued by this CA for the same
    /// names, else issued anew (a server that moves to another address, or joins
    /// a cluster, gets a certificate valid for its own address).
    pub fn with_ca(
        dir: &Path,
        ca_cert_pem: String,
        ca_key_pem: String,
        sans: &[String],
    ) -> Result<Pki, PkiError> {
        std::fs::create_dir_all(dir).map_err(|e| PkiError::Io {
            path: dir.into(),
            source: e,
        })?;
        if read(&dir.join("ca.crt"))?.as_deref() != Some(ca_cert_pem.as_str())
            || read(&dir.join("ca.key"))?.as_deref() != Some(ca_key_pem.as_str())
        {
            write(&dir.join("ca.key"), &ca_key_pem, true)?;
            write(&dir.join("ca.crt"), &ca_cert_pem, false)?;
        }
        let mut pki = Pki {
            ca_cert_pem,
            ca_key_pem,
            serving_cert_pem: String::new(),
            serving_key_pem: String::new(),
        };
        let mut names: Vec<String> = vec![
            "localhost".into(),
            "127.0.0.1".into(),
            "::1".into(),
            "kubernetes".into(),
            "kubernetes.default".into(),
            "kubernetes.default.svc".into(),
            "kubernetes.default.svc.cluster.local".into(),
            "10.96.0.1".into(),
        ];
        for n in sans {
            if !names.contains(n) {
                names.push(n.clone());
            }
        }
        // What the serving certificate was issued for: its names and its CA.
        let stamp = format!("{}\n{}", names.join(","), fingerprint(&pki.ca_cert_pem));
        let (srv_cert, srv_key, srv_stamp) = (
            dir.join("server.crt"),
            dir.join("server.key"),
            dir.join("server.issued-for"),
        );
        match (read(&srv_cert)?, read(&srv_key)?, read(&srv_stamp)?) {
            (Some(c), Some(k), Some(s)) if s == stamp => {
                pki.serving_cert_pem = c;
                pki.serving_key_pem = k;
            }
            _ => {
                let (cert, key) = pki.issue(&names, "kube-apiserver", &[], true)?;
                write(&srv_key, &key, true)?;
                write(&srv_cert, &cert, false)?;
                write(&srv_stamp, &stamp, false)?;
                pki.serving_cert_pem = cert;
                pki.serving_key_pem = key;
            }
        }
        Ok(pki)
    }

    /// The CA key (PEM), shared by the cluster's servers.
    pub fn ca_key_pem(&self) -> &str {
        &self.ca_key_pem
    }

    /// A client certificate for `user` in `groups`: (certificate PEM, key PEM).
    pub fn client_certificate(
        &self,
        user: &str,
        groups: &[&str],
    ) -> Result<(String, String), PkiError> {
        self.issue(&[], user, groups, false)
    }

    fn issue(
        &self,
        names: &[String],
        cn: &str,
        orgs: &[&str],
        server: bool,
    ) -> Result<(String, String), PkiError> {
        let ca_key = KeyPair::from_pem(&self.ca_key_pem)?;
        let issuer = Issuer::from_ca_cert_pem(&self.ca_cert_pem, ca_key)?;
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.distinguished_name = DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, cn);
        for o in orgs {
            params.distinguished_name.push(DnType::OrganizationName, *o);
        }
        for n in names {
            params
                .subject_alt_names
                .push(match n.parse::<std::net::IpAddr>() {
                    Ok(ip) => SanType::IpAddress(ip),
                    Err(_) => SanType::DnsName(n.clone().try_into()?),
                });
        }
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![if server {
            ExtendedKeyUsagePurpose::ServerAuth
        } else {
            ExtendedKeyUsagePurpose::ClientAuth
        }];
        validity(&mut params, if server { 10 } else { 1 });
        let cert = params.signed_by(&key, &issuer)?;
        Ok((cert.pem(), key.serialize_pem()))
    }
}

/// The subject common name of a CertificateSigningRequest's `spec.request`
/// (base64 of a PEM `CERTIFICATE REQUEST`), with upstream's parse error.
pub fn csr_common_name(request_base64: &str) -> Result<String, String> {
    csr_subject(request_base64).map(|(cn, _)| cn)
}

/// The subject's common name and organizations of a CSR's `spec.request`.
pub fn csr_subject(request_base64: &str) -> Result<(String, Vec<String>), String> {
    use base64::Engine;
    use x509_parser::prelude::FromDer;
    let pem = base64::engine::general_purpose::STANDARD
        .decode(request_base64.trim())
        .map_err(|e| e.to_string())?;
    let (_, pem) = x509_parser::pem::parse_x509_pem(&pem)
        .map_err(|_| "PEM block type must be CERTIFICATE REQUEST".to_string())?;
    if pem.label != "CERTIFICATE REQUEST" {
        return Err("PEM block type must be CERTIFICATE REQUEST".into());
    }
    let (_, csr) =
        x509_parser::certification_request::X509CertificationRequest::from_der(&pem.contents)
            .map_err(|e| e.to_string())?;
    skiff_api::x509::subject(&csr.certification_request_info.subject)
}
