//! `nodes/proxy` and the way to a node's kubelet: upstream's
//! `pkg/registry/core/node/strategy.go` (`ResourceLocation`) and
//! `pkg/kubelet/client` (`NodeConnectionInfoGetter`).

use serde_json::Value;
use skiff_api::ApiError;

use super::transport::{KubeletTls, Location, TlsClient};
use super::{Result, get_core, global_unicast, join_host_port, split_scheme_name_port};
use crate::handlers::Ctx;
use crate::response::Body;

/// kube-apiserver's `--kubelet-preferred-address-types` default.
const PREFERRED_ADDRESS_TYPES: [&str; 5] = [
    "Hostname",
    "InternalDNS",
    "InternalIP",
    "ExternalDNS",
    "ExternalIP",
];

/// kube-apiserver's `--kubelet-port` default, for nodes that report none.
const KUBELET_PORT: i64 = 10250;

/// Where a node's kubelet listens.
pub(super) struct ConnectionInfo {
    pub host: String,
    pub port: String,
}

impl ConnectionInfo {
    /// The kubelet at `path_and_query`, over https.
    pub fn location(&self, path_and_query: String) -> Location {
        Location {
            scheme: "https",
            authority: join_host_port(&self.host, &self.port),
            path_and_query,
        }
    }
}

/// The node's kubelet: its first address of the preferred types, and its
/// reported kubelet port.
pub(super) async fn connection_info(ctx: &Ctx<'_>, node: &str) -> Result<ConnectionInfo> {
    let obj = get_core(ctx, "nodes", "", node).await?;
    let empty = Vec::new();
    let addresses = obj
        .pointer("/status/addresses")
        .and_then(Value::as_array)
        .unwrap_or(&empty);
    let field = |a: &Value, k: &str| a.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let host = PREFERRED_ADDRESS_TYPES.iter().find_map(|ty| {
        addresses
            .iter()
            .find(|a| a.get("type").and_then(Value::as_str) == Some(ty))
            .map(|a| field(a, "address"))
    });
    let Some(host) = host else {
        // Go's %v of []NodeAddress.
        let known: Vec<String> = addresses
            .iter()
            .map(|a| format!("{{{} {}}}", field(a, "type"), field(a, "address")))
            .collect();
        return Err(ApiError::unknown(format!(
            "no preferred addresses found; known addresses: [{}]",
            known.join(" ")
        )));
    };
    let port = obj
        .pointer("/status/daemonEndpoints/kubeletEndpoint/Port")
        .and_then(Value::as_i64)
        .filter(|p| *p > 0)
        .unwrap_or(KUBELET_PORT);
    Ok(ConnectionInfo {
        host,
        port: port.to_string(),
    })
}

/// The kubelet TLS configuration in use.
pub(super) fn kubelet_tls(ctx: &Ctx<'_>) -> KubeletTls {
    ctx.server
        .inner
        .options
        .kubelet_tls
        .clone()
        .unwrap_or_else(KubeletTls::unverified)
}

/// Refuses hosts that resolve to addresses one may not proxy to (loopback,
/// link-local, ...), as upstream's `isProxyableHostname`.
async fn proxyable_hostname(host: &str) -> Result<()> {
    let not_allowed = || ApiError::bad_request("address not allowed");
    if let Ok(ip) = host.parse::<std::net::IpAddr>() {
        return if global_unicast(ip) {
            Ok(())
        } else {
            Err(not_allowed())
        };
    }
    let resolved: Vec<std::net::SocketAddr> = tokio::net::lookup_host((host, 0))
        .await
        .map_err(|e| ApiError::bad_request(format!("lookup {host}: {e}")))?
        .collect();
    if resolved.is_empty() {
        return Err(ApiError::bad_request("no addresses for hostname"));
    }
    if resolved.iter().any(|a| !global_unicast(a.ip())) {
        return Err(not_allowed());
    }
    Ok(())
}

/// `nodes/<name>[:port]/proxy/...`: the kubelet (no port, or the kubelet's)
/// or another port on the node.
pub(super) async fn proxy(ctx: &Ctx<'_>) -> Result<http::Response<Body>> {
    let id = ctx.info.name.as_str();
    let (scheme, name, port) = split_scheme_name_port(id)
        .ok_or_else(|| ApiError::bad_request(format!("invalid node request {id:?}")))?;
    let info = connection_info(ctx, name).await?;
    proxyable_hostname(&info.host).await?;
    let kubelet = kubelet_tls(ctx);
    if port.is_empty() || port == info.port {
        let loc = info.location(String::new());
        return super::proxy::serve(ctx, loc, Some(&kubelet.verified)).await;
    }
    let loc = Location {
        scheme: if scheme.is_empty() { "http" } else { scheme },
        authority: join_host_port(&info.host, port),
        path_and_query: String::new(),
    };
    super::proxy::serve(ctx, loc, Some(&TlsClient::unverified())).await
}
