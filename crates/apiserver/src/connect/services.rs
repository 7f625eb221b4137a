//! `services/proxy`: a reverse proxy to one ready endpoint of a Service, as
//! upstream's `pkg/registry/core/service/storage` `ResourceLocation` (still
//! over the Endpoints object in 1.33).

use rand::Rng;
use serde_json::Value;
use skiff_api::ApiError;
use skiff_api::StatusReason;

use super::transport::Location;
use super::{Result, get_core, join_host_port, split_scheme_name_port};
use crate::handlers::Ctx;
use crate::response::Body;

fn unavailable(message: String) -> ApiError {
    ApiError::new(503, StatusReason::ServiceUnavailable, message)
}

pub(super) async fn proxy(ctx: &Ctx<'_>) -> Result<http::Response<Body>> {
    let id = ctx.info.name.as_str();
    let ns = ctx.info.namespace.as_str();
    let (scheme, name, port) = split_scheme_name_port(id)
        .ok_or_else(|| ApiError::bad_request(format!("invalid service request {id:?}")))?;
    // A numeric port names the Service port with that number.
    let mut port_name = port.to_string();
    if let Ok(number) = port.parse::<i64>() {
        let svc = get_core(ctx, "services", ns, name).await?;
        let found = svc
            .pointer("/spec/ports")
            .and_then(Value::as_array)
            .and_then(|ports| {
                ports
                    .iter()
                    .find(|p| p.get("port").and_then(Value::as_i64) == Some(number))
            })
            .map(|p| {
                p.get("name")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string()
            });
        port_name = found.ok_or_else(|| {
            unavailable(format!(
                "no service port {number} found for service {name:?}"
            ))
        })?;
    }
    let eps = get_core(ctx, "endpoints", ns, name).await?;
    let empty = Vec::new();
    let subsets = eps
        .get("subsets")
        .and_then(Value::as_array)
        .unwrap_or(&empty);
    if subsets.is_empty() {
        return Err(unavailable(format!(
            "no endpoints available for service {name:?}"
        )));
    }
    // Upstream starts at a random subset and a random address, so that
    // requests spread over the endpoints.
    let start = rand::rng().random_range(0..subsets.len());
    for i in 0..subsets.len() {
        let subset = &subsets[(start + i) % subsets.len()];
        let addresses = subset
            .get("addresses")
            .and_then(Value::as_array)
            .unwrap_or(&empty);
        if addresses.is_empty() {
            continue;
        }
        let ports = subset
            .get("ports")
            .and_then(Value::as_array)
            .unwrap_or(&empty);
        for p in ports {
            if p.get("name").and_then(Value::as_str).unwrap_or("") != port_name {
                continue;
            }
            let Some(number) = p.get("port").and_then(Value::as_i64) else {
                continue;
            };
            let first = rand::rng().random_range(0..addresses.len());
            for j in 0..addresses.len() {
                let addr = &addresses[(first + j) % addresses.len()];
                let ip = addr.get("ip").and_then(Value::as_str).unwrap_or("");
                if valid_address(ctx, ns, addr, ip).await {
                    let loc = Location {
                        scheme: if scheme.is_empty() { "http" } else { scheme },
                        authority: join_host_port(ip, &number.to_string()),
                        path_and_query: String::new(),
                    };
                    let tls = super::TlsClient::unverified();
                    return super::proxy::serve(ctx, loc, Some(&tls)).await;
                }
            }
        }
    }
    Err(unavailable(format!(
        "no endpoints available for service {id:?}"
    )))
}

/// An endpoint address may be proxied to only if it is a pod of the same
/// namespace that has that IP (upstream's `isValidAddress`: endpoints are
/// writable by users, pods' IPs only by kubelets).
async fn valid_address(ctx: &Ctx<'_>, ns: &str, addr: &Value, ip: &str) -> bool {
    let Some(target) = addr.get("targetRef") else {
        return false;
    };
    let field = |k: &str| target.get(k).and_then(Value::as_str).unwrap_or("");
    if field("kind") != "Pod" || field("namespace") != ns {
        return false;
    }
    let Ok(pod) = get_core(ctx, "pods", ns, field("name")).await else {
        return false;
    };
    pod.pointer("/status/podIPs")
        .and_then(Value::as_array)
        .is_some_and(|ips| {
            ips.iter()
                .any(|p| p.get("ip").and_then(Value::as_str) == Some(ip))
        })
}
