//! The connect subresources: the API server as the way in to nodes and pods,
//! as upstream's `pkg/registry/core/{pod,node,service}/rest` over
//! apimachinery's `UpgradeAwareHandler`.
//!
//! - `pods/log`: streams `/containerLogs/...` from the pod's kubelet;
//! - `pods/exec`, `pods/attach`, `pods/portforward`: upgrade the connection
//!   (SPDY or WebSocket) and splice it to the kubelet's `/exec`, `/attach`,
//!   `/portForward`;
//! - `pods/proxy`, `services/proxy`, `nodes/proxy`: HTTP reverse proxies to a
//!   pod's IP, a ready endpoint of a service, or a node's kubelet.
//!
//! Kubelets are reached at the node's preferred address and its
//! `status.daemonEndpoints.kubeletEndpoint.Port` over TLS
//! ([`Options::kubelet_tls`](crate::Options)); pods and services over plain
//! HTTP or unverified TLS, as upstream's proxy transport.

mod nodes;
mod pods;
mod proxy;
mod services;
mod transport;

use std::net::SocketAddr;

use bytes::Bytes;
use serde_json::Value;
use skiff_api::ApiError;

pub use transport::{KubeletTls, TlsClient, TlsClientError};

use crate::handlers::Ctx;
use crate::response::Body;

type Result<T, E = ApiError> = std::result::Result<T, E>;

/// The client's address, put in the request's extensions by the HTTPS front
/// (for `X-Forwarded-For`).
#[derive(Clone, Copy, Debug)]
pub struct PeerAddr(pub SocketAddr);

/// Whether `sub` of `resource` is a connect subresource served here.
pub fn is_connect(resource: &str, sub: &str) -> bool {
    matches!(
        (resource, sub),
        ("pods", "log" | "exec" | "attach" | "portforward" | "proxy")
            | ("services" | "nodes", "proxy")
    )
}

/// Serves a connect subresource (`is_connect` said yes).
pub async fn serve(ctx: &Ctx<'_>) -> Result<http::Response<Body>> {
    let sub = ctx.info.subresource.as_str();
    if sub != "log" && ctx.params.contains_key("dryRun") {
        return Err(ApiError::bad_request("dryRun is not supported"));
    }
    match (ctx.info.resource.as_str(), sub) {
        ("pods", "log") => pods::log(ctx).await,
        ("pods", "exec" | "attach" | "portforward") => pods::stream(ctx, sub).await,
        ("pods", "proxy") => pods::proxy(ctx).await,
        ("services", "proxy") => services::proxy(ctx).await,
        ("nodes", "proxy") => nodes::proxy(ctx).await,
        _ => Err(ApiError::not_found_path()),
    }
}

/// Reads a core/v1 object (`plural` in `namespace`) as stored.
async fn get_core(ctx: &Ctx<'_>, plural: &str, namespace: &str, name: &str) -> Result<Value> {
    let res = crate::handlers::other_resource(ctx, ("", "v1", plural))?;
    crate::registry::store::Store::new(ctx.server, &res, namespace)
        .get(name)
        .await
        .map(|(obj, _)| obj)
}

/// Splits a proxy id as apimachinery's `SplitSchemeNamePort`: `name`,
/// `name:port` or `scheme:name:port` (scheme "", "http" or "https").
fn split_scheme_name_port(id: &str) -> Option<(&'static str, &str, &str)> {
    let parts: Vec<&str> = id.split(':').collect();
    let (scheme, name, port) = match parts.as_slice() {
        [name] => ("", *name, ""),
        [name, port] => ("", *name, *port),
        [scheme, name, port] => (*scheme, *name, *port),
        _ => return None,
    };
    let scheme = match scheme {
        "" => "",
        "http" => "http",
        "https" => "https",
        _ => return None,
    };
    (!name.is_empty()).then_some((scheme, name, port))
}

/// Whether an IP may be proxied to: Go's `IsGlobalUnicast` (not loopback,
/// link-local, multicast, unspecified or broadcast).
fn global_unicast(ip: std::net::IpAddr) -> bool {
    match ip {
        std::net::IpAddr::V4(v4) => {
            !(v4.is_loopback()
                || v4.is_link_local()
                || v4.is_multicast()
                || v4.is_unspecified()
                || v4.is_broadcast())
        }
        std::net::IpAddr::V6(v6) => {
            !(v6.is_loopback()
                || v6.is_multicast()
                || v6.is_unspecified()
                || (v6.segments()[0] & 0xffc0) == 0xfe80)
        }
    }
}

/// `host:port`, an IPv6 host in brackets (Go's `net.JoinHostPort`).
fn join_host_port(host: &str, port: &str) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Percent-encodes a query value as Go's `url.QueryEscape`.
fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Encodes query pairs as Go's `url.Values.Encode`: sorted by key, values
/// of one key in the order given.
fn encode_query(mut pairs: Vec<(&str, String)>) -> String {
    pairs.sort_by(|a, b| a.0.cmp(b.0));
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", query_escape(k), query_escape(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// The request's headers as sent on to a backend: credentials removed (as
/// upstream's authentication and impersonation filters do once they have
/// read them) and the client's address appended to `X-Forwarded-For`.
fn forwarded_headers(ctx: &Ctx<'_>) -> http::HeaderMap {
    let mut headers = ctx.headers.clone();
    headers.remove(http::header::AUTHORIZATION);
    let drop: Vec<http::HeaderName> = headers
        .keys()
        .filter(|k| {
            let k = k.as_str();
            k.starts_with("impersonate-")
                || k.starts_with("x-remote-extra-")
                || matches!(k, "x-remote-user" | "x-remote-uid" | "x-remote-group")
        })
        .cloned()
        .collect();
    for k in drop {
        headers.remove(k);
    }
    if let Some(PeerAddr(peer)) = ctx.parts.extensions.get::<PeerAddr>() {
        let ip = peer.ip().to_string();
        let value = match headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()) {
            Some(prior) => format!("{prior}, {ip}"),
            None => ip,
        };
        if let Ok(v) = http::HeaderValue::from_str(&value) {
            headers.insert("x-forwarded-for", v);
        }
    }
    if !headers.contains_key(http::header::HOST)
        && let Some(authority) = ctx.parts.uri.authority()
        && let Ok(v) = http::HeaderValue::from_str(authority.as_str())
    {
        headers.insert(http::header::HOST, v);
    }
    headers
}

/// Whether the request asks for a protocol upgrade (`Connection: Upgrade`,
/// as apimachinery's `httpstream.IsUpgradeRequest`).
fn is_upgrade_request(headers: &http::HeaderMap) -> bool {
    headers
        .get_all(http::header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.to_ascii_lowercase().contains("upgrade"))
}

/// Sends an upgrade request to `loc` and completes it: the backend's 101 is
/// the client's and the connections are spliced; a backend that refuses
/// (≥ 400) answers the client directly.
async fn upgrade(
    ctx: &Ctx<'_>,
    loc: &transport::Location,
    tls: Option<&TlsClient>,
) -> Result<http::Response<Body>> {
    let Some(client) = ctx
        .parts
        .extensions
        .get::<hyper::upgrade::OnUpgrade>()
        .cloned()
    else {
        // Served without a connection to take over (in-process clients).
        return Err(ApiError::bad_request("Upgrade request required"));
    };
    let sent = transport::send(
        loc,
        tls,
        ctx.parts.method.clone(),
        &forwarded_headers(ctx),
        Bytes::new(),
        true,
    )
    .await
    .map_err(|e| ApiError::unknown(format!("error dialing backend: {e}")))?;
    let status = sent.response.status();
    match sent.upgraded {
        Some(backend) => {
            let (head, _) = sent.response.into_parts();
            Ok(transport::splice(client, backend, head))
        }
        None if status.as_u16() >= 400 => Ok(transport::pass_through(sent.response)),
        None => Err(ApiError::unknown(format!(
            "invalid upgrade response: status code {}",
            status.as_u16()
        ))),
    }
}
