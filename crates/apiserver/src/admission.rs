//! Built-in admission: what the API server does to objects of particular kinds
//! on their way in, beyond their strategy. Services get their cluster IP (from
//! the service CIDR) and node ports (30000–32767) allocated — released simply by
//! deleting the Service, since allocation reads what existing Services hold;
//! namespaces get their `kubernetes` finalizer (`namespace_deleter.rs` releases
//! it once their content is gone).

use std::collections::HashSet;
use std::net::Ipv4Addr;

use serde_json::{Value, json};
use skiff_api::{ApiError, Cause, meta};
use skiff_store::ListRequest;

use crate::handlers::Ctx;
use crate::registry::store_error;

type Result<T, E = ApiError> = std::result::Result<T, E>;

/// The service CIDR: 10.96.0.0/12, as kubeadm's default; the first address is
/// the `kubernetes` Service's.
pub const SERVICE_CIDR: (Ipv4Addr, u8) = (Ipv4Addr::new(10, 96, 0, 0), 12);
pub const NODE_PORT_RANGE: (i64, i64) = (30000, 32767);

pub async fn on_create(ctx: &Ctx<'_>, obj: &mut Value) -> Result<()> {
    match (ctx.res.def.group, ctx.res.def.plural) {
        ("", "namespaces") => {
            let finalizers = obj
                .pointer("/spec/finalizers")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            if !finalizers.iter().any(|f| f == "kubernetes") {
                let mut f = finalizers;
                f.push(json!("kubernetes"));
                obj["spec"]["finalizers"] = json!(f);
            }
            Ok(())
        }
        ("", "services") => allocate_service(ctx, obj).await,
        _ => Ok(()),
    }
}

pub async fn on_create_failed(_ctx: &Ctx<'_>, _obj: &Value) {}

fn service_error(name: &str, cause: Cause) -> ApiError {
    ApiError::invalid("", "Service", name, vec![cause])
}

/// Checks a Service's type and allocates its cluster IP and node ports (the
/// rest of its defaults are `skiff_api::defaults`').
async fn allocate_service(ctx: &Ctx<'_>, obj: &mut Value) -> Result<()> {
    let name = meta::name(obj).to_string();
    let spec = obj.get_mut("spec").filter(|s| s.is_object());
    let Some(spec) = spec else {
        return Err(service_error(&name, Cause::required("spec.ports")));
    };
    let ty = spec
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("ClusterIP")
        .to_string();
    spec["type"] = json!(ty);
    if !matches!(
        ty.as_str(),
        "ClusterIP" | "NodePort" | "LoadBalancer" | "ExternalName"
    ) {
        return Err(service_error(
            &name,
            Cause::not_supported(
                "spec.type",
                &json!(ty),
                &["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"],
            ),
        ));
    }
    if ty == "ExternalName" {
        return Ok(());
    }
    let ports_empty = spec
        .get("ports")
        .and_then(Value::as_array)
        .is_none_or(Vec::is_empty);
    let requested = spec
        .get("clusterIP")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if ports_empty && requested != "None" {
        return Err(service_error(&name, Cause::required("spec.ports")));
    }
    // What existing Services hold.
    let page = ctx
        .server
        .inner
        .store
        .list(ListRequest {
            prefix: "/registry/core/services/".into(),
            ..Default::default()
        })
        .await
        .map_err(store_error)?;
    let mut ips = HashSet::new();
    let mut node_ports = HashSet::new();
    for kv in &page.kvs {
        let Ok(s) = serde_json::from_slice::<Value>(&kv.value) else {
            continue;
        };
        if let Some(ip) = s.pointer("/spec/clusterIP").and_then(Value::as_str) {
            ips.insert(ip.to_string());
        }
        for p in s
            .pointer("/spec/ports")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(np) = p.get("nodePort").and_then(Value::as_i64) {
                node_ports.insert(np);
            }
        }
    }
    let (base, bits) = SERVICE_CIDR;
    let size = 1u32 << (32 - bits);
    let base = u32::from(base);
    let ip = if requested == "None" {
        "None".to_string()
    } else if !requested.is_empty() {
        let Ok(addr) = requested.parse::<Ipv4Addr>() else {
            return Err(service_error(
                &name,
                Cause::invalid(
                    "spec.clusterIPs[0]",
                    &json!(requested),
                    "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)",
                ),
            ));
        };
        let n = u32::from(addr);
        if n < base || n >= base + size {
            return Err(service_error(
                &name,
                Cause::invalid(
                    "spec.clusterIPs",
                    &json!([requested]),
                    "failed to allocate IP: the provided IP is not in the valid range. The range of valid IPs is 10.96.0.0/12",
                ),
            ));
        }
        if ips.contains(&requested) {
            return Err(service_error(
                &name,
                Cause::invalid(
                    "spec.clusterIPs",
                    &json!([requested]),
                    format!("failed to allocate IP {requested}: provided IP is already allocated"),
                ),
            ));
        }
        requested
    } else {
        // Random start, then the next free address (skipping network and first).
        let start = (rand::random::<u32>() % (size - 2)) + 2;
        let mut found = None;
        for i in 0..size - 2 {
            let off = 2 + (start - 2 + i) % (size - 2);
            let candidate = Ipv4Addr::from(base + off).to_string();
            if !ips.contains(&candidate) {
                found = Some(candidate);
                break;
            }
        }
        found.ok_or_else(|| ApiError::internal("failed to allocate a serviceIP: range is full"))?
    };
    spec["clusterIP"] = json!(ip);
    spec["clusterIPs"] = json!([ip]);
    if ip != "None" || spec.get("ipFamilies").is_none() {
        spec["ipFamilies"] = json!(["IPv4"]);
        spec["ipFamilyPolicy"] = json!("SingleStack");
    }
    if matches!(ty.as_str(), "NodePort" | "LoadBalancer") {
        let (lo, hi) = NODE_PORT_RANGE;
        let span = hi - lo + 1;
        if let Some(ports) = spec.get_mut("ports").and_then(Value::as_array_mut) {
            for (i, p) in ports.iter_mut().enumerate() {
                match p.get("nodePort").and_then(Value::as_i64) {
                    Some(np) if np != 0 => {
                        if np < lo || np > hi {
                            return Err(service_error(
                                &name,
                                Cause::invalid(
                                    format!("spec.ports[{i}].nodePort"),
                                    &json!(np),
                                    "provided port is not in the valid range. The range of valid ports is 30000-32767",
                                ),
                            ));
                        }
                        if !node_ports.insert(np) {
                            return Err(service_error(
                                &name,
                                Cause::invalid(
                                    format!("spec.ports[{i}].nodePort"),
                                    &json!(np),
                                    "provided port is already allocated",
                                ),
                            ));
                        }
                    }
                    _ => {
                        let start = (rand::random::<u64>() % span as u64) as i64;
                        let np = (0..span)
                            .map(|k| lo + (start + k) % span)
                            .find(|np| !node_ports.contains(np));
                        let np = np.ok_or_else(|| {
                            ApiError::internal("failed to allocate a nodePort: range is full")
                        })?;
                        node_ports.insert(np);
                        p["nodePort"] = json!(np);
                    }
                }
            }
        }
    }
    Ok(())
}
