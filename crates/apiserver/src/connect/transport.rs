//! The proxy under the connect subresources, as upstream's
//! `UpgradeAwareHandler` (apimachinery `pkg/util/proxy/upgradeaware.go`): one
//! HTTP/1.1 request to the backend, its response streamed back; a protocol
//! upgrade (SPDY or WebSocket, as `kubectl exec` and `port-forward` send) is
//! passed through, and both connections are then spliced byte for byte.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use crate::response::Body;

/// How long dialing a backend may take (upstream's kubelet and proxy dialers
/// use 30 s).
const DIAL_TIMEOUT: Duration = Duration::from_secs(30);

/// Headers that describe one hop and are never forwarded (RFC 9110 §7.6.1,
/// as Go's `httputil.ReverseProxy` removes them), except the upgrade pair
/// when the request asks for an upgrade.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "proxy-connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// TLS for an https backend.
#[derive(Clone, Debug)]
pub struct TlsClient(pub Arc<rustls::ClientConfig>);

impl TlsClient {
    /// Verifies the backend against `ca_pem` and presents `cert` (PEM
    /// certificate and key) if given.
    pub fn verified(ca_pem: &str, cert: Option<(&str, &str)>) -> Result<Self, TlsClientError> {
        let mut roots = rustls::RootCertStore::empty();
        for cert in rustls_pemfile::certs(&mut ca_pem.as_bytes()) {
            roots.add(cert?)?;
        }
        let builder = rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots);
        Ok(TlsClient(Arc::new(with_client_cert(builder, cert)?)))
    }

    /// No verification and no client certificate (one configuration, made
    /// once): upstream's proxy transport to pods and services, and its
    /// kubelet transport without a CA.
    pub fn unverified() -> Self {
        static UNVERIFIED: std::sync::OnceLock<TlsClient> = std::sync::OnceLock::new();
        UNVERIFIED
            .get_or_init(|| {
                TlsClient::insecure(None).expect("a TLS configuration without certificates")
            })
            .clone()
    }

    /// Does not verify the backend's certificate (upstream's proxy transport
    /// to pods and services, and `insecureSkipTLSVerifyBackend` for logs).
    pub fn insecure(cert: Option<(&str, &str)>) -> Result<Self, TlsClientError> {
        let builder = rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerification));
        Ok(TlsClient(Arc::new(with_client_cert(builder, cert)?)))
    }
}

/// TLS to kubelets: verified as configured, and unverified (with the same
/// client certificate) for `insecureSkipTLSVerifyBackend`.
#[derive(Clone, Debug)]
pub struct KubeletTls {
    pub verified: TlsClient,
    pub insecure: TlsClient,
}

impl KubeletTls {
    /// Verifies kubelets against `ca_pem` and presents the API server's
    /// kubelet client certificate (`cert_pem`, `key_pem`).
    pub fn new(ca_pem: &str, cert_pem: &str, key_pem: &str) -> Result<Self, TlsClientError> {
        Ok(KubeletTls {
            verified: TlsClient::verified(ca_pem, Some((cert_pem, key_pem)))?,
            insecure: TlsClient::insecure(Some((cert_pem, key_pem)))?,
        })
    }

    /// Upstream's default without `--kubelet-certificate-authority` or a
    /// client certificate: the kubelet is not verified, nothing presented.
    pub fn unverified() -> Self {
        let tls = TlsClient::unverified();
        KubeletTls {
            verified: tls.clone(),
            insecure: tls,
        }
    }
}

/// Why a TLS client configuration could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsClientError {
    #[error("reading PEM: {0}")]
    Pem(#[from] std::io::Error),
    #[error("TLS: {0}")]
    Rustls(#[from] rustls::Error),
    #[error("no private key in the client key PEM")]
    NoKey,
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn with_client_cert(
    builder: rustls::ConfigBuilder<rustls::ClientConfig, rustls::client::WantsClientCert>,
    cert: Option<(&str, &str)>,
) -> Result<rustls::ClientConfig, TlsClientError> {
    let mut config = match cert {
        Some((cert, key)) => {
            let certs: Vec<CertificateDer<'static>> =
                rustls_pemfile::certs(&mut cert.as_bytes()).collect::<Result<_, _>>()?;
            let key =
                rustls_pemfile::private_key(&mut key.as_bytes())?.ok_or(TlsClientError::NoKey)?;
            builder.with_client_auth_cert(certs, key)?
        }
        None => builder.with_no_client_auth(),
    };
    // Upgrades (SPDY, WebSocket) need HTTP/1.1.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

#[derive(Debug)]
struct NoVerification;

impl ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &provider().signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &provider().signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// Where a connect request goes.
#[derive(Clone, Debug)]
pub struct Location {
    /// `http` or `https`.
    pub scheme: &'static str,
    /// `host:port` (an IPv6 host in brackets).
    pub authority: String,
    /// The path and query to request.
    pub path_and_query: String,
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}://{}{}",
            self.scheme, self.authority, self.path_and_query
        )
    }
}

/// A connection to a backend: plain TCP or TLS over it.
trait Conn: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Conn for T {}

/// Why the backend could not be reached (before any response arrived).
#[derive(Debug, thiserror::Error)]
pub enum DialError {
    #[error("dial tcp {0}: i/o timeout")]
    Timeout(String),
    #[error("dial tcp {0}: {msg}", msg = go_connect_error(.1))]
    Tcp(String, std::io::Error),
    #[error("{msg}", msg = go_tls_error(.0))]
    Tls(std::io::Error),
    #[error("{0}")]
    Http(hyper::Error),
}

/// A failed connect as Go's net package words it.
fn go_connect_error(e: &std::io::Error) -> String {
    use std::io::ErrorKind::*;
    match e.kind() {
        ConnectionRefused => "connect: connection refused".into(),
        TimedOut => "i/o timeout".into(),
        HostUnreachable => "connect: no route to host".into(),
        NetworkUnreachable => "connect: network is unreachable".into(),
        _ => format!("connect: {e}"),
    }
}

/// A failed TLS handshake in Go's words where a client would grep for them.
fn go_tls_error(e: &std::io::Error) -> String {
    use rustls::{CertificateError, Error};
    let cert = |what: &str| format!("tls: failed to verify certificate: x509: {what}");
    match e.get_ref().and_then(|inner| inner.downcast_ref::<Error>()) {
        // A CA of the same name that did not sign it is, to Go, unknown too.
        Some(Error::InvalidCertificate(
            CertificateError::UnknownIssuer | CertificateError::BadSignature,
        )) => cert("certificate signed by unknown authority"),
        Some(Error::InvalidCertificate(
            CertificateError::Expired | CertificateError::NotValidYet,
        )) => cert("certificate has expired or is not yet valid"),
        Some(Error::InvalidCertificate(CertificateError::NotValidForName)) => {
            cert("certificate is not valid for the requested name")
        }
        _ => format!("tls: {e}"),
    }
}

async fn dial(loc: &Location, tls: Option<&TlsClient>) -> Result<Box<dyn Conn>, DialError> {
    // An authority without a port means the scheme's default (as Go's
    // transport dials it).
    let has_port = match loc.authority.rsplit_once(':') {
        Some((host, _)) => !host.starts_with('[') || host.ends_with(']'),
        None => false,
    };
    let address = if has_port {
        loc.authority.clone()
    } else {
        let port = if loc.scheme == "https" { 443 } else { 80 };
        format!("{}:{port}", loc.authority)
    };
    let tcp = match tokio::time::timeout(DIAL_TIMEOUT, TcpStream::connect(&address)).await {
        Err(_) => return Err(DialError::Timeout(loc.authority.clone())),
        Ok(Err(e)) => return Err(DialError::Tcp(loc.authority.clone(), e)),
        Ok(Ok(s)) => s,
    };
    let _ = tcp.set_nodelay(true);
    if loc.scheme != "https" {
        return Ok(Box::new(tcp));
    }
    let Some(tls) = tls else {
        return Ok(Box::new(tcp));
    };
    let host = address
        .rsplit_once(':')
        .map_or(address.as_str(), |(h, _)| h)
        .trim_start_matches('[')
        .trim_end_matches(']');
    let name = match host.parse::<std::net::IpAddr>() {
        Ok(ip) => ServerName::IpAddress(ip.into()),
        Err(_) => ServerName::try_from(host.to_string())
            .map_err(|e| DialError::Tls(std::io::Error::other(e)))?,
    };
    let stream = tokio_rustls::TlsConnector::from(tls.0.clone())
        .connect(name, tcp)
        .await
        .map_err(DialError::Tls)?;
    Ok(Box::new(stream))
}

/// What the caller gets back from the backend.
pub struct Forwarded {
    pub response: http::Response<Incoming>,
    /// The backend's side of an accepted upgrade.
    pub upgraded: Option<hyper::upgrade::OnUpgrade>,
}

/// Sends one request to `loc` (with `headers`, hop-by-hop ones removed
/// unless `upgrade`) and returns the backend's response head and body.
pub async fn send(
    loc: &Location,
    tls: Option<&TlsClient>,
    method: http::Method,
    headers: &http::HeaderMap,
    body: Bytes,
    upgrade: bool,
) -> Result<Forwarded, DialError> {
    let conn = dial(loc, tls).await?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(conn))
        .await
        .map_err(DialError::Http)?;
    tokio::spawn(async move {
        if let Err(e) = connection.with_upgrades().await {
            tracing::debug!(error = %e, "proxied connection ended with an error");
        }
    });
    let mut req = http::Request::builder()
        .method(method)
        .uri(&loc.path_and_query)
        .body(Full::new(body))
        .map_err(|e| DialError::Tls(std::io::Error::other(e)))?;
    for (name, value) in headers {
        let hop = HOP_BY_HOP.contains(&name.as_str());
        if (hop && !(upgrade && matches!(name.as_str(), "connection" | "upgrade")))
            || name == http::header::HOST
            || name == http::header::CONTENT_LENGTH
        {
            continue;
        }
        req.headers_mut().append(name.clone(), value.clone());
    }
    req.headers_mut().insert(
        http::header::HOST,
        http::HeaderValue::from_str(&loc.authority)
            .unwrap_or(http::HeaderValue::from_static("localhost")),
    );
    let mut response = sender.send_request(req).await.map_err(DialError::Http)?;
    let upgraded = (response.status() == http::StatusCode::SWITCHING_PROTOCOLS)
        .then(|| hyper::upgrade::on(&mut response));
    Ok(Forwarded { response, upgraded })
}

/// The backend's response as ours: status and end-to-end headers, the body
/// streamed as it arrives.
pub fn pass_through(response: http::Response<Incoming>) -> http::Response<Body> {
    let (parts, body) = response.into_parts();
    let mut out = http::Response::new(stream_body(body));
    *out.status_mut() = parts.status;
    for (name, value) in &parts.headers {
        if !HOP_BY_HOP.contains(&name.as_str()) && name != http::header::CONTENT_LENGTH {
            out.headers_mut().append(name.clone(), value.clone());
        }
    }
    out
}

/// A backend body as a response body; a backend that fails mid-stream ends it.
pub fn stream_body(body: Incoming) -> Body {
    let stream = futures::stream::unfold(Some(body), |state| async move {
        let mut body = state?;
        match body.frame().await {
            Some(Ok(frame)) => Some((Ok::<_, Infallible>(frame), Some(body))),
            _ => None,
        }
    });
    BodyExt::boxed(StreamBody::new(stream))
}

/// Completes an upgrade: answers the client with the backend's 101 and,
/// once both sides have switched, copies bytes both ways until either closes.
pub fn splice(
    client: hyper::upgrade::OnUpgrade,
    backend: hyper::upgrade::OnUpgrade,
    response_head: http::response::Parts,
) -> http::Response<Body> {
    tokio::spawn(async move {
        let (client, backend) = match tokio::try_join!(client, backend) {
            Ok(pair) => pair,
            Err(e) => {
                tracing::debug!(error = %e, "upgrade failed");
                return;
            }
        };
        let (mut client, mut backend) = (TokioIo::new(client), TokioIo::new(backend));
        if let Err(e) = tokio::io::copy_bidirectional(&mut client, &mut backend).await {
            tracing::debug!(error = %e, "upgraded connection ended with an error");
        }
    });
    let mut out = http::Response::new(crate::response::full(Bytes::new()));
    *out.status_mut() = response_head.status;
    *out.headers_mut() = response_head.headers;
    out
}
