//! Service cluster IP and node port allocation, race-free across requests
//! and servers, as upstream 1.33's allocators
//! (`pkg/registry/core/service/ipallocator` with `MultiCIDRServiceAllocator`,
//! `portallocator`, `storage/alloc.go`):
//!
//! - every cluster IP in use is an `networking.k8s.io/v1` IPAddress object
//!   named by the address, whose `spec.parentRef` is its Service; creating
//!   it is the reservation (the store's create is a compare-and-swap, so two
//!   requests can never hold one address);
//! - every node port in use is a reservation key
//!   `/registry/ranges/servicenodeports/<port>` naming its Service (one port
//!   number serves every protocol of one Service port).
//!
//! A request reserves what its Service needs before it is stored; an
//! [`Allocation`] not committed (the write failed, the request was refused)
//! releases its new reservations, a committed one releases what the Service
//! no longer holds. A reservation whose Service does not hold it (a crash
//! between the two writes) is taken over once it is older than
//! [`RECLAIM_AFTER`]; `repair` re-creates missing reservations on start
//! (data written before reservations existed, or restored from a backup).

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::time::Duration;

use serde_json::{Value, json};
use skiff_api::validation::service_update::{needs_cluster_ip, needs_node_port, node_ports};
use skiff_api::{ApiError, Cause, meta};
use skiff_store::{ListRequest, Outcome};

use crate::ApiServer;
use crate::handlers::Ctx;
use crate::registry::{encode, store_error};

type Result<T, E = ApiError> = std::result::Result<T, E>;

/// The service CIDR: 10.96.0.0/12, as kubeadm's default; the first address is
/// the `kubernetes` Service's.
pub const SERVICE_CIDR: (Ipv4Addr, u8) = (Ipv4Addr::new(10, 96, 0, 0), 12);
pub const NODE_PORT_RANGE: (i64, i64) = (30000, 32767);

/// Where node port reservations live.
const NODE_PORT_PREFIX: &str = "/registry/ranges/servicenodeports/";

/// How old a reservation its Service does not hold must be before another
/// Service may take it (a younger one may belong to a create in flight).
pub const RECLAIM_AFTER: Duration = Duration::from_secs(30);

/// Attempts at a free value when others take the candidates meanwhile.
const ATTEMPTS: usize = 16;

/// One reserved value.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Reservation {
    Ip(String),
    NodePort(i64),
}

/// The reservations a Service write made, released unless committed.
pub struct Allocation {
    server: ApiServer,
    namespace: String,
    name: String,
    reserved: Vec<Reservation>,
    release_on_commit: Vec<Reservation>,
    committed: bool,
}

impl Allocation {
    fn new(ctx: &Ctx<'_>, obj: &Value) -> Self {
        Allocation {
            server: ctx.server.clone(),
            namespace: meta::namespace(obj).to_string(),
            name: meta::name(obj).to_string(),
            reserved: Vec::new(),
            release_on_commit: Vec::new(),
            committed: false,
        }
    }

    /// The Service was stored: what it no longer holds is released.
    pub fn commit(mut self) {
        self.committed = true;
        let old = std::mem::take(&mut self.release_on_commit);
        spawn_release(&self.server, &self.namespace, &self.name, old);
    }
}

impl Drop for Allocation {
    fn drop(&mut self) {
        if !self.committed {
            let new = std::mem::take(&mut self.reserved);
            spawn_release(&self.server, &self.namespace, &self.name, new);
        }
    }
}

fn spawn_release(server: &ApiServer, namespace: &str, name: &str, what: Vec<Reservation>) {
    if what.is_empty() {
        return;
    }
    let (server, namespace, name) = (server.clone(), namespace.to_string(), name.to_string());
    tokio::spawn(async move {
        for r in what {
            if let Err(e) = release(&server, &namespace, &name, &r).await {
                tracing::warn!(?r, error = %e, "releasing a service allocation");
            }
        }
    });
}

/// Releases everything a deleted Service held.
pub fn released(server: &ApiServer, svc: &Value) {
    spawn_release(
        server,
        meta::namespace(svc),
        meta::name(svc),
        held(svc).into_iter().collect(),
    );
}

/// One address as Go's `%#v` prints a `[]string`.
fn go_slice(ip: &str) -> String {
    format!("[]string{{{ip:?}}}")
}

fn service_error(name: &str, cause: Cause) -> ApiError {
    ApiError::invalid("", "Service", name, vec![cause])
}

/// The cluster IPs and node ports a stored Service holds.
fn held(svc: &Value) -> BTreeSet<Reservation> {
    let mut out = BTreeSet::new();
    if needs_cluster_ip(svc) {
        for ip in svc
            .pointer("/spec/clusterIPs")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .filter(|ip| !ip.is_empty() && *ip != "None")
        {
            out.insert(Reservation::Ip(ip.to_string()));
        }
    }
    for p in node_ports(svc) {
        out.insert(Reservation::NodePort(p));
    }
    out
}

fn ip_key(server: &ApiServer, ip: &str) -> String {
    server
        .inner
        .registry
        .resource("networking.k8s.io", "v1", "ipaddresses")
        .map(|r| r.key("", ip))
        .unwrap_or_else(|| format!("/registry/networking.k8s.io/ipaddresses/{ip}"))
}

fn key_of(server: &ApiServer, r: &Reservation) -> String {
    match r {
        Reservation::Ip(ip) => ip_key(server, ip),
        Reservation::NodePort(p) => format!("{NODE_PORT_PREFIX}{p}"),
    }
}

/// The stored form of a reservation for Service `namespace/name`.
fn record(r: &Reservation, namespace: &str, name: &str) -> Value {
    match r {
        Reservation::Ip(ip) => json!({
            "apiVersion": "networking.k8s.io/v1",
            "kind": "IPAddress",
            "metadata": {
                "name": ip,
                "uid": meta::new_uid(),
                "creationTimestamp": meta::now(),
                "labels": {
                    "ipaddress.kubernetes.io/ip-family": "IPv4",
                    "ipaddress.kubernetes.io/managed-by": "ipallocator.k8s.io",
                },
            },
            "spec": {"parentRef": {
                "group": "",
                "resource": "services",
                "namespace": namespace,
                "name": name,
            }},
        }),
        Reservation::NodePort(_) => json!({
            "metadata": {"creationTimestamp": meta::now()},
            "service": {"namespace": namespace, "name": name},
        }),
    }
}

/// The Service (namespace, name) a stored reservation names.
fn owner_of(stored: &Value) -> (String, String) {
    let o = stored
        .pointer("/spec/parentRef")
        .or_else(|| stored.get("service"))
        .cloned()
        .unwrap_or_default();
    let field = |k: &str| o.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    (field("namespace"), field("name"))
}

/// Whether Service `namespace/name` as stored now holds `r`.
async fn service_holds(
    server: &ApiServer,
    namespace: &str,
    name: &str,
    r: &Reservation,
) -> Result<bool> {
    let key = format!("/registry/core/services/{namespace}/{name}");
    let (_, kv) = server.inner.store.get(&key, 0).await.map_err(store_error)?;
    Ok(kv
        .and_then(|kv| serde_json::from_slice::<Value>(&kv.value).ok())
        .is_some_and(|svc| held(&svc).contains(r)))
}

/// Reserves `r` for Service `namespace/name`: Ok(true) if it is now its
/// (or already was), Ok(false) if another Service holds it.
async fn reserve(server: &ApiServer, namespace: &str, name: &str, r: &Reservation) -> Result<bool> {
    let key = key_of(server, r);
    let value = encode(&record(r, namespace, name));
    let store = &server.inner.store;
    for _ in 0..ATTEMPTS {
        match store
            .create(&key, value.clone(), None)
            .await
            .map_err(store_error)?
        {
            Outcome::Written { .. } => return Ok(true),
            Outcome::Failed { current: None } => continue,
            Outcome::Failed {
                current: Some(current),
            } => {
                let stored: Value = serde_json::from_slice(&current.value).unwrap_or_default();
                let (o_ns, o_name) = owner_of(&stored);
                if (o_ns.as_str(), o_name.as_str()) == (namespace, name) {
                    return Ok(true);
                }
                if service_holds(server, &o_ns, &o_name, r).await? || !stale(&stored) {
                    return Ok(false);
                }
                // Nobody holds it: take it over, unless it changed meanwhile.
                if let Outcome::Written { .. } = store
                    .update(&key, value.clone(), current.mod_revision, None)
                    .await
                    .map_err(store_error)?
                {
                    return Ok(true);
                }
            }
        }
    }
    Ok(false)
}

/// Whether a reservation is older than [`RECLAIM_AFTER`].
fn stale(stored: &Value) -> bool {
    let created = stored
        .pointer("/metadata/creationTimestamp")
        .and_then(Value::as_str)
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok());
    created.is_none_or(|t| {
        chrono::Utc::now().signed_duration_since(t)
            > chrono::Duration::from_std(RECLAIM_AFTER).unwrap_or_default()
    })
}

/// Removes the reservation of `r` if Service `namespace/name` has it.
async fn release(server: &ApiServer, namespace: &str, name: &str, r: &Reservation) -> Result<()> {
    let key = key_of(server, r);
    let (_, kv) = server.inner.store.get(&key, 0).await.map_err(store_error)?;
    let Some(kv) = kv else { return Ok(()) };
    let stored: Value = serde_json::from_slice(&kv.value).unwrap_or_default();
    let (o_ns, o_name) = owner_of(&stored);
    if (o_ns.as_str(), o_name.as_str()) == (namespace, name) {
        server
            .inner
            .store
            .delete(&key, Some(kv.mod_revision))
            .await
            .map_err(store_error)?;
    }
    Ok(())
}

/// Whether `r` is free for Service `namespace/name` (for dry runs: nothing
/// is reserved).
async fn available(
    server: &ApiServer,
    namespace: &str,
    name: &str,
    r: &Reservation,
) -> Result<bool> {
    let (_, kv) = server
        .inner
        .store
        .get(&key_of(server, r), 0)
        .await
        .map_err(store_error)?;
    let Some(kv) = kv else { return Ok(true) };
    let stored: Value = serde_json::from_slice(&kv.value).unwrap_or_default();
    let (o_ns, o_name) = owner_of(&stored);
    if (o_ns.as_str(), o_name.as_str()) == (namespace, name) {
        return Ok(true);
    }
    Ok(stale(&stored) && !service_holds(server, &o_ns, &o_name, r).await?)
}

/// The values reserved under a prefix now (a snapshot to pick candidates).
async fn taken(server: &ApiServer, prefix: String) -> Result<BTreeSet<String>> {
    let page = server
        .inner
        .store
        .list(ListRequest {
            prefix: prefix.clone(),
            ..Default::default()
        })
        .await
        .map_err(store_error)?;
    Ok(page
        .kvs
        .iter()
        .map(|kv| kv.key.trim_start_matches(prefix.as_str()).to_string())
        .collect())
}

/// Takes `r` for the Service: reserves it, or (dry run) checks it is free.
async fn take(ctx: &Ctx<'_>, alloc: &mut Allocation, r: Reservation) -> Result<bool> {
    if ctx.dry_run() {
        return available(ctx.server, &alloc.namespace, &alloc.name, &r).await;
    }
    let ok = reserve(ctx.server, &alloc.namespace, &alloc.name, &r).await?;
    if ok {
        alloc.reserved.push(r);
    }
    Ok(ok)
}

/// A free cluster IP, reserved (or, on a dry run, just found).
async fn allocate_ip(ctx: &Ctx<'_>, alloc: &mut Allocation) -> Result<String> {
    let (base, bits) = SERVICE_CIDR;
    let size = 1u32 << (32 - bits);
    let base = u32::from(base);
    let prefix = ip_key(ctx.server, "");
    for _ in 0..ATTEMPTS {
        let used = taken(ctx.server, prefix.clone()).await?;
        // Random start, then the next free address (not the network's, not
        // the first: that is the `kubernetes` Service's).
        let start = rand::random::<u32>() % (size - 2);
        let candidate = (0..size - 2)
            .map(|i| Ipv4Addr::from(base + 2 + (start + i) % (size - 2)).to_string())
            .find(|c| !used.contains(c));
        let Some(ip) = candidate else { break };
        if take(ctx, alloc, Reservation::Ip(ip.clone())).await? {
            return Ok(ip);
        }
    }
    Err(ApiError::internal(
        "failed to allocate a serviceIP: range is full",
    ))
}

/// A free node port, reserved (or, on a dry run, just found).
async fn allocate_node_port(
    ctx: &Ctx<'_>,
    alloc: &mut Allocation,
    avoid: &BTreeSet<i64>,
) -> Result<i64> {
    let (lo, hi) = NODE_PORT_RANGE;
    let span = hi - lo + 1;
    for _ in 0..ATTEMPTS {
        let used = taken(ctx.server, NODE_PORT_PREFIX.into()).await?;
        let start = (rand::random::<u64>() % span as u64) as i64;
        let candidate = (0..span)
            .map(|k| lo + (start + k) % span)
            .find(|p| !used.contains(&p.to_string()) && !avoid.contains(p));
        let Some(port) = candidate else { break };
        if take(ctx, alloc, Reservation::NodePort(port)).await? {
            return Ok(port);
        }
    }
    Err(ApiError::internal(
        "failed to allocate a nodePort: range is full",
    ))
}

/// Allocates what a new Service needs (its type and defaults checked first).
pub async fn allocate_create(ctx: &Ctx<'_>, obj: &mut Value) -> Result<Allocation> {
    let name = meta::name(obj).to_string();
    let Some(spec) = obj.get_mut("spec").filter(|s| s.is_object()) else {
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
    let ports_empty = spec
        .get("ports")
        .and_then(Value::as_array)
        .is_none_or(Vec::is_empty);
    let requested = spec
        .get("clusterIP")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if ty != "ExternalName" && ports_empty && requested != "None" {
        return Err(service_error(&name, Cause::required("spec.ports")));
    }
    allocate_update(ctx, obj, &json!({})).await
}

/// Allocates what a Service needs beyond what `old` held (nothing, for a
/// new one): a cluster IP when it leaves ExternalName, node ports new or
/// left out.
pub async fn allocate_update(ctx: &Ctx<'_>, obj: &mut Value, old: &Value) -> Result<Allocation> {
    let mut alloc = Allocation::new(ctx, obj);
    let name = alloc.name.clone();
    let before = held(old);
    if needs_cluster_ip(obj) {
        let requested = obj
            .pointer("/spec/clusterIP")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let ip = if requested == "None" {
            requested
        } else if requested.is_empty() {
            allocate_ip(ctx, &mut alloc).await?
        } else {
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
            let (base, bits) = SERVICE_CIDR;
            let n = u32::from(addr);
            let base = u32::from(base);
            let failed = |why: String| {
                service_error(
                    &name,
                    Cause::invalid_rendered(
                        "spec.clusterIPs",
                        go_slice(&requested),
                        format!("failed to allocate IP {requested}: {why}"),
                    ),
                )
            };
            if n < base || n >= base + (1u32 << (32 - bits)) {
                return Err(failed(format!(
                    "the provided IP ({requested}) is not in the valid range. The range of valid IPs is 10.96.0.0/12"
                )));
            }
            let r = Reservation::Ip(requested.clone());
            if !before.contains(&r) && !take(ctx, &mut alloc, r).await? {
                return Err(failed("provided IP is already allocated".into()));
            }
            requested
        };
        let spec = obj.get_mut("spec").expect("spec checked");
        spec["clusterIP"] = json!(ip);
        spec["clusterIPs"] = json!([ip]);
        if ip != "None" || spec.get("ipFamilies").is_none() {
            spec["ipFamilies"] = json!(["IPv4"]);
            spec["ipFamilyPolicy"] = json!("SingleStack");
        }
    }
    if needs_node_port(obj) {
        let (lo, hi) = NODE_PORT_RANGE;
        let mut ports: Vec<Value> = obj
            .pointer("/spec/ports")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        // One allocation per Service port number: TCP and UDP of one port
        // share their node port.
        let mut by_port: std::collections::HashMap<i64, i64> = Default::default();
        let mut mine: BTreeSet<i64> = BTreeSet::new();
        for (i, p) in ports.iter_mut().enumerate() {
            let port = p.get("port").and_then(Value::as_i64).unwrap_or(0);
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
                    let already = |why: &str| {
                        service_error(
                            &name,
                            Cause::invalid(format!("spec.ports[{i}].nodePort"), &json!(np), why),
                        )
                    };
                    // TCP and UDP of one port share it; two ports may not.
                    if by_port.get(&port) != Some(&np) {
                        let r = Reservation::NodePort(np);
                        if mine.contains(&np)
                            || (!before.contains(&r) && !take(ctx, &mut alloc, r).await?)
                        {
                            return Err(already("provided port is already allocated"));
                        }
                    }
                    by_port.insert(port, np);
                    mine.insert(np);
                }
                _ => {
                    let np = match by_port.get(&port) {
                        Some(np) => *np,
                        None => {
                            let np = allocate_node_port(ctx, &mut alloc, &mine).await?;
                            by_port.insert(port, np);
                            mine.insert(np);
                            np
                        }
                    };
                    p["nodePort"] = json!(np);
                }
            }
        }
        obj["spec"]["ports"] = json!(ports);
    }
    let after = held(obj);
    alloc.release_on_commit = before.difference(&after).cloned().collect();
    Ok(alloc)
}

/// Re-creates the reservations of every stored Service (on start): data
/// written before reservations existed, or a reservation lost.
pub async fn repair(server: &ApiServer) -> Result<()> {
    let page = server
        .inner
        .store
        .list(ListRequest {
            prefix: "/registry/core/services/".into(),
            ..Default::default()
        })
        .await
        .map_err(store_error)?;
    for kv in page.kvs {
        let Ok(svc) = serde_json::from_slice::<Value>(&kv.value) else {
            continue;
        };
        for r in held(&svc) {
            if !reserve(server, meta::namespace(&svc), meta::name(&svc), &r).await? {
                tracing::warn!(
                    service = %format!("{}/{}", meta::namespace(&svc), meta::name(&svc)),
                    ?r,
                    "a stored Service holds a value another Service has reserved"
                );
            }
        }
    }
    Ok(())
}
