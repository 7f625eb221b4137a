//! The cluster's certificates: a CA generated into the data directory on first
//! start and reused after, a serving certificate for the API server, and client
//! certificates (the admin's: CN `admin`, O `system:masters`).

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

fn write(path: &Path, contents: &str, private: bool) -> Result<(), PkiError> {
    let io = |e| PkiError::Io {
        path: path.into(),
        source: e,
    };
    std::fs::write(path, contents).map_err(io)?;
    if private {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(io)?;
    }
    Ok(())
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
        std::fs::create_dir_all(dir).map_err(|e| PkiError::Io {
            path: dir.into(),
            source: e,
        })?;
        let (ca_cert, ca_key) = (dir.join("ca.crt"), dir.join("ca.key"));
        let (ca_cert_pem, ca_key_pem) = match (read(&ca_cert)?, read(&ca_key)?) {
            (Some(c), Some(k)) => (c, k),
            _ => {
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
                write(&ca_key, &key.serialize_pem(), true)?;
                write(&ca_cert, &cert.pem(), false)?;
                (cert.pem(), key.serialize_pem())
            }
        };
        let mut pki = Pki {
            ca_cert_pem,
            ca_key_pem,
            serving_cert_pem: String::new(),
            serving_key_pem: String::new(),
        };
        let (srv_cert, srv_key) = (dir.join("server.crt"), dir.join("server.key"));
        match (read(&srv_cert)?, read(&srv_key)?) {
            (Some(c), Some(k)) => {
                pki.serving_cert_pem = c;
                pki.serving_key_pem = k;
            }
            _ => {
                let mut names: Vec<String> = vec![
                    "localhost".into(),
                    "127.0.0.1".into(),
                    "::1".into(),
                    "kubernetes".into(),
                    "kubernetes.default".into(),
                    "kubernetes.default.svc".into(),
                    "kubernetes.default.svc.cluster.local".into(),
                ];
                names.extend(sans.iter().cloned());
                names.dedup();
                let (cert, key) = pki.issue(&names, "kube-apiserver", &[], true)?;
                write(&srv_key, &key, true)?;
                write(&srv_cert, &cert, false)?;
                pki.serving_cert_pem = cert;
                pki.serving_key_pem = key;
            }
        }
        Ok(pki)
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
