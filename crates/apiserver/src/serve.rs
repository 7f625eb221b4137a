//! The HTTPS front: TLS (rustls, HTTP/1.1 and HTTP/2 by ALPN) with optional
//! client certificates verified against the cluster CA, authentication on the
//! headers before any body is read, and kube-apiserver's connection limits
//! (its secure serving's): 32 s for the TLS handshake and for a request's
//! headers (on HTTP/1.1 from the first byte of each, as Go's server), 90 s
//! for an idle connection, 1 000 HTTP/2 streams per connection with 256 KiB
//! frames and stream windows, 1 MiB of headers; and at most
//! [`MAX_CONNECTIONS`] connections at once (further ones wait in the listen
//! backlog), so no slow or idle client holds the server forever.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use tokio::net::TcpListener;

use crate::pki::Pki;
use crate::response::Body;
use crate::{ApiServer, Authenticator, UserInfo};

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

/// A TLS handshake must end within this (upstream: the read-header timeout
/// bounds it).
pub const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(32);
/// A request's headers must arrive within this (upstream's ReadHeaderTimeout).
pub const READ_HEADER_TIMEOUT: Duration = Duration::from_secs(32);
/// A connection with no request in flight is closed after this (upstream's
/// IdleTimeout, HTTP/1.1 and HTTP/2).
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(90);
/// Connections served at once.
pub const MAX_CONNECTIONS: usize = 10_000;
/// kube-apiserver's `--http2-max-streams-per-connection` default.
pub const HTTP2_MAX_STREAMS: u32 = 1000;
/// Upstream's HTTP/2 frame size and per-stream upload buffer (256 KiB: 99% of
/// objects fit one frame).
const HTTP2_FRAME_BYTES: u32 = 256 * 1024;
/// Upstream's MaxHeaderBytes.
const MAX_HEADER_BYTES: usize = 1 << 20;

/// Serves HTTPS on `listener` until `shutdown` completes.
pub async fn serve(
    server: ApiServer,
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    authn: Arc<Authenticator>,
    shutdown: impl Future<Output = ()>,
) {
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    tokio::pin!(shutdown);
    loop {
        let slot = tokio::select! {
            _ = &mut shutdown => return,
            slot = slots.clone().acquire_owned() => match slot {
                Ok(s) => s,
                Err(_) => return,
            },
        };
        let (tcp, peer) = tokio::select! {
            _ = &mut shutdown => return,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = tcp.set_nodelay(true);
        let (acceptor, server, authn) = (acceptor.clone(), server.clone(), authn.clone());
        tokio::spawn(async move {
            let _slot = slot;
            let tls = match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await
            {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    tracing::debug!(%peer, error = %e, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!(%peer, "TLS handshake timed out");
                    return;
                }
            };
            let cert_user = tls
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|certs| certs.first())
                .and_then(|c| UserInfo::from_certificate(c.as_ref()));
            // HTTP/1.1 (no ALPN, or http/1.1): the header clock, as Go's
            // server runs it, starts with the connection and again with the
            // first byte after a response; HTTP/2 has only the idle timeout.
            let http1 = tls.get_ref().1.alpn_protocol() != Some(b"h2");
            let activity = Arc::new(Activity::new(http1));
            let service = {
                let activity = activity.clone();
                hyper::service::service_fn(move |req: http::Request<Incoming>| {
                    let (server, authn, cert_user) =
                        (server.clone(), authn.clone(), cert_user.clone());
                    let busy = activity.begin();
                    async move {
                        let resp = handle_http(&server, &authn, cert_user, peer, req).await;
                        // The response body (a watch's stream) keeps the
                        // connection busy until it ends.
                        Ok::<_, std::convert::Infallible>(resp.map(|b| guarded(b, busy)))
                    }
                })
            };
            let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            // Not hyper's header timeout: it runs while a keep-alive
            // connection waits for its next request, closing it at 32 s
            // where upstream keeps it for 90.
            builder
                .http1()
                .timer(TokioTimer::new())
                .header_read_timeout(None)
                .max_buf_size(MAX_HEADER_BYTES + 64 * 1024);
            builder
                .http2()
                .timer(TokioTimer::new())
                .max_concurrent_streams(HTTP2_MAX_STREAMS)
                .max_frame_size(HTTP2_FRAME_BYTES)
                .initial_stream_window_size(HTTP2_FRAME_BYTES)
                .initial_connection_window_size(16 * 1024 * 1024)
                .max_header_list_size(MAX_HEADER_BYTES as u32);
            let io = Watched {
                inner: tls,
                activity: activity.clone(),
            };
            let conn = builder.serve_connection_with_upgrades(TokioIo::new(io), service);
            tokio::pin!(conn);
            let mut closing = false;
            loop {
                tokio::select! {
                    result = conn.as_mut() => {
                        if let Err(e) = result {
                            tracing::debug!(%peer, error = %e, "connection ended with an error");
                        }
                        return;
                    }
                    _ = activity.idle_for(IDLE_TIMEOUT), if !closing => {
                        // Upstream's IdleTimeout: no request for 90 s.
                        closing = true;
                        conn.as_mut().graceful_shutdown();
                    }
                    () = activity.headers_overdue(READ_HEADER_TIMEOUT) => {
                        // Upstream's ReadHeaderTimeout: the connection is closed.
                        tracing::debug!(%peer, "request headers timed out");
                        return;
                    }
                }
            }
        });
    }
}

/// Requests in flight on one connection, and when it last had one, for the
/// idle timeout; and, on HTTP/1.1, since when the next request's headers
/// have been arriving, for the header timeout.
struct Activity {
    busy: AtomicUsize,
    changed: tokio::sync::Notify,
    /// Whether the header clock runs (HTTP/1.1).
    http1: bool,
    /// When the headers now awaited began: the connection's start, then the
    /// first byte read after a response; None while a request is served or
    /// the connection waits idle.
    headers_since: std::sync::Mutex<Option<tokio::time::Instant>>,
}

/// A request (and its response body) in flight.
pub(crate) struct Busy(Arc<Activity>);

impl Activity {
    fn new(http1: bool) -> Self {
        Activity {
            busy: AtomicUsize::new(0),
            changed: tokio::sync::Notify::new(),
            http1,
            headers_since: std::sync::Mutex::new(http1.then(tokio::time::Instant::now)),
        }
    }

    fn begin(self: &Arc<Self>) -> Busy {
        self.busy.fetch_add(1, Ordering::SeqCst);
        *self.headers_since.lock().expect("poisoned") = None;
        self.changed.notify_waiters();
        Busy(self.clone())
    }

    /// Bytes arrived: on an HTTP/1.1 connection serving nothing, the next
    /// request's headers have begun.
    fn read(&self) {
        if !self.http1 || self.busy.load(Ordering::SeqCst) > 0 {
            return;
        }
        let mut since = self.headers_since.lock().expect("poisoned");
        if since.is_none() {
            *since = Some(tokio::time::Instant::now());
            drop(since);
            self.changed.notify_waiters();
        }
    }

    /// Resolves once the connection has had nothing in flight for `idle`.
    async fn idle_for(&self, idle: Duration) {
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if self.busy.load(Ordering::SeqCst) > 0 {
                changed.await;
                continue;
            }
            if tokio::time::timeout(idle, changed).await.is_err() {
                return;
            }
        }
    }

    /// Resolves once a request's headers have taken longer than `limit`.
    async fn headers_overdue(&self, limit: Duration) {
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            let since = *self.headers_since.lock().expect("poisoned");
            match since {
                Some(t) => {
                    if tokio::time::timeout_at(t + limit, changed).await.is_err() {
                        return;
                    }
                }
                None => changed.await,
            }
        }
    }
}

/// The connection's stream, telling its [`Activity`] when bytes arrive.
struct Watched<S> {
    inner: S,
    activity: Arc<Activity>,
}

impl<S: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for Watched<S> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = std::pin::Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.read();
        }
        polled
    }
}

impl<S: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for Watched<S> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// A response body that keeps its connection busy until it is done.
fn guarded(inner: Body, busy: Busy) -> Body {
    crate::response::holding(inner, busy)
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.busy.fetch_sub(1, Ordering::SeqCst);
        self.0.changed.notify_waiters();
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
    let header = parts
        .headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    // Only a bearer token is a credential here; another scheme (Basic) is
    // none, as upstream's bearer token authenticator has no opinion on it.
    let header = header.filter(|h| crate::authn::bearer_token(h).is_some());
    let mut header_user = header.map(|h| authn.authenticate_header(h));
    // Not a static token: a service account's (a JWT the server signed),
    // or a bootstrap token.
    if let (Some(None), Some(h)) = (&header_user, header)
        && let Some(token) = crate::authn::bearer_token(h)
    {
        header_user = Some(match token.matches('.').count() {
            2 => crate::serviceaccount::authenticate(server, token).await,
            1 => crate::bootstrap_token::authenticate(server, token).await,
            _ => None,
        });
    }
    use crate::filters::Credentials;
    let credentials = match (header_user, cert_user) {
        // As upstream's union authenticator: the first that succeeds.
        (Some(Some(u)), _) => Credentials::User(u),
        // Credentials that fail are a 401 even with anonymous requests
        // allowed (those are requests without any).
        (Some(None), None) => Credentials::Failed("bearer"),
        (_, Some(u)) => Credentials::User(u),
        (None, None) => Credentials::None,
    };
    server
        .handle_wire(http::Request::from_parts(parts, body), credentials)
        .await
}
