//! The HTTPS front: TLS (rustls, HTTP/1.1 and HTTP/2 by ALPN) with optional
//! client certificates verified against the cluster CA, request bodies limited
//! to 3 MiB, and authentication before [`ApiServer::handle`].

use std::future::Future;
use std::sync::Arc;

use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use skiff_api::ApiError;
use tokio::net::TcpListener;

use crate::pki::Pki;
use crate::response::{self, Body};
use crate::{ApiServer, Authenticator, MAX_REQUEST_BYTES, UserInfo};

/// Why the TLS configuration could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("reading PEM: {0}")]
    Pem(#[from] std::io::Error),
    #[error("no private key in the serving key file")]
    NoKey,
    #[error("TLS: {0}")]
    Rustls(#[from] rustls::Error),
    #[error("client certificate verifier: {0}")]
    Verifier(#[from] rustls::server::VerifierBuilderError),
}

/// The server's TLS configuration: its serving certificate, and client
/// certificates accepted (not required) when signed by the cluster CA.
pub fn tls_config(pki: &Pki) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pemfile::certs(&mut pki.ca_cert_pem.as_bytes()) {
        roots.add(cert?)?;
    }
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .allow_unauthenticated()
        .build()?;
    let certs: Vec<CertificateDer<'static>> =
        rustls_pemfile::certs(&mut pki.serving_cert_pem.as_bytes()).collect::<Result<_, _>>()?;
    let key: PrivateKeyDer<'static> =
        rustls_pemfile::private_key(&mut pki.serving_key_pem.as_bytes())?.ok_or(TlsError::NoKey)?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs, key)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Serves HTTPS on `listener` until `shutdown` completes.
pub async fn serve(
    server: ApiServer,
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    authn: Arc<Authenticator>,
    shutdown: impl Future<Output = ()>,
) {
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    tokio::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            _ = &mut shutdown => return,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = tcp.set_nodelay(true);
        let (acceptor, server, authn) = (acceptor.clone(), server.clone(), authn.clone());
        tokio::spawn(async move {
            let tls = match acceptor.accept(tcp).await {
                Ok(s) => s,
                Err(e) => {
                    tracing::debug!(%peer, error = %e, "TLS handshake failed");
                    return;
                }
            };
            let cert_user = tls
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|certs| certs.first())
                .and_then(|c| UserInfo::from_certificate(c.as_ref()));
            let service = hyper::service::service_fn(move |req: http::Request<Incoming>| {
                let (server, authn, cert_user) = (server.clone(), authn.clone(), cert_user.clone());
                async move {
                    Ok::<_, std::convert::Infallible>(
                        handle_http(&server, &authn, cert_user, peer, req).await,
                    )
                }
            });
            let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            // kube-apiserver's --http2-max-streams-per-connection default.
            builder.http2().max_concurrent_streams(1000);
            if let Err(e) = builder
                .serve_connection_with_upgrades(TokioIo::new(tls), service)
                .await
            {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
}

async fn handle_http(
    server: &ApiServer,
    authn: &Authenticator,
    cert_user: Option<UserInfo>,
    peer: std::net::SocketAddr,
    req: http::Request<Incoming>,
) -> http::Response<Body> {
    let (mut parts, body) = req.into_parts();
    parts.extensions.insert(crate::connect::PeerAddr(peer));
    let bytes = match Limited::new(body, MAX_REQUEST_BYTES).collect().await {
        Ok(b) => b.to_bytes(),
        Err(e)
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            return response::error(&ApiError::too_large(format!(
                "limit is {MAX_REQUEST_BYTES}"
            )));
        }
        Err(e) => {
            return response::error(&ApiError::bad_request(format!(
                "reading the request body: {e}"
            )));
        }
    };
    let header_user = parts
        .headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(|h| authn.authenticate_header(h));
    let user = match header_user {
        // As upstream's union authenticator: the first that succeeds.
        Some(Some(u)) => Some(u),
        Some(None) | None => cert_user,
    };
    server
        .handle(http::Request::from_parts(parts, bytes), user)
        .await
}
