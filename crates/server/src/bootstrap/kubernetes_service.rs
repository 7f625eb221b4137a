//! The `kubernetes` Service in `default` and its endpoints, as upstream's
//! kubernetesservice controller and lease endpoint reconciler
//! (`pkg/controlplane/controller/kubernetesservice`,
//! `pkg/controlplane/reconcilers/lease.go`) keep them: the Service is created
//! when missing and its ports and type repaired when changed; every API server
//! keeps a lease `/registry/masterleases/<ip>` with a TTL, and the Endpoints and
//! EndpointSlice named `kubernetes` list the addresses of the live leases, so
//! servers that stop (or die) drop out of them.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde_json::{Value, json};
use skiff_store::{ListRequest, Store};

use super::BootstrapError;
use super::client::Loopback;

type Result<T> = std::result::Result<T, BootstrapError>;

/// Where the master leases live (upstream's `/masterleases/` under the prefix).
pub const LEASE_PREFIX: &str = "/registry/masterleases/";
/// How long a server's lease lives without renewal (upstream: 15 s).
pub const LEASE_TTL: Duration = Duration::from_secs(15);
/// The first address of the service CIDR.
pub const CLUSTER_IP: &str = "10.96.0.1";

const SERVICES: &str = "/api/v1/namespaces/default/services";
const ENDPOINTS: &str = "/api/v1/namespaces/default/endpoints";
const SLICES: &str = "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices";

/// The Service's ports: `https` on 443 to the server's secure port.
fn service_ports(port: u16) -> Value {
    json!([{"name": "https", "port": 443, "protocol": "TCP", "targetPort": port}])
}

fn desired_service(port: u16) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "kubernetes", "namespace": "default",
                     "labels": {"component": "apiserver", "provider": "kubernetes"}},
        "spec": {"type": "ClusterIP", "clusterIP": CLUSTER_IP, "sessionAffinity": "None",
                 "ports": service_ports(port)},
    })
}

/// Whether the stored Service's ports and type are what the server serves
/// (upstream's `checkServiceFormat`: each port's name, protocol, port and
/// target port, and the type).
fn service_format_correct(svc: &Value, port: u16) -> bool {
    let want = service_ports(port);
    let want = want.as_array().map(Vec::as_slice).unwrap_or_default();
    let have = svc
        .pointer("/spec/ports")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let ports_ok = have.len() == want.len()
        && have.iter().zip(want).all(|(h, w)| {
            ["name", "protocol", "port", "targetPort"]
                .iter()
                .all(|k| h.get(*k) == w.get(*k))
        });
    ports_ok && svc.pointer("/spec/type").and_then(Value::as_str) == Some("ClusterIP")
}

/// Creates the Service when missing and repairs its ports and type.
pub(crate) async fn reconcile_service(client: &Loopback, port: u16) -> Result<()> {
    client
        .reconcile(SERVICES, "kubernetes", &desired_service(port), |svc| {
            if service_format_correct(svc, port) {
                return false;
            }
            svc["spec"]["ports"] = service_ports(port);
            svc["spec"]["type"] = json!("ClusterIP");
            true
        })
        .await
        .map(drop)
}

/// This server's master lease.
pub(crate) struct MasterLease {
    store: Arc<dyn Store>,
    ip: IpAddr,
    port: u16,
}

impl MasterLease {
    pub(crate) fn new(store: Arc<dyn Store>, ip: IpAddr, port: u16) -> Self {
        MasterLease { store, ip, port }
    }

    fn key(&self) -> String {
        format!("{LEASE_PREFIX}{}", self.ip)
    }

    /// Writes or renews the lease for another TTL.
    pub(crate) async fn renew(&self) -> Result<()> {
        let key = self.key();
        let value = Bytes::from(
            serde_json::to_vec(&json!({
                "kind": "Endpoints", "apiVersion": "v1",
                "metadata": {"name": self.ip.to_string()},
                "subsets": [{"addresses": [{"ip": self.ip.to_string()}],
                             "ports": [{"name": "https", "port": self.port, "protocol": "TCP"}]}],
            }))
            .expect("JSON"),
        );
        let err = |e: skiff_store::StoreError| BootstrapError::new(&key, 500, e);
        for _ in 0..5 {
            let (_, current) = self.store.get(&key, 0).await.map_err(err)?;
            let outcome = match current {
                None => {
                    self.store
                        .create(&key, value.clone(), Some(LEASE_TTL))
                        .await
                }
                Some(kv) => {
                    self.store
                        .update(&key, value.clone(), kv.mod_revision, Some(LEASE_TTL))
                        .await
                }
            }
            .map_err(err)?;
            if outcome.is_written() {
                return Ok(());
            }
        }
        Err(BootstrapError::new(
            &key,
            409,
            "lease changed concurrently five times",
        ))
    }

    /// Removes the lease (on shutdown, as upstream's `RemoveEndpoints`), unless
    /// another server (same address, another port) holds it now.
    pub(crate) async fn release(&self) -> Result<()> {
        let key = self.key();
        let err = |e: skiff_store::StoreError| BootstrapError::new(&key, 500, e);
        let (_, current) = self.store.get(&key, 0).await.map_err(err)?;
        let Some(kv) = current else { return Ok(()) };
        let ours = serde_json::from_slice::<Value>(&kv.value)
            .ok()
            .and_then(|v| v.pointer("/subsets/0/ports/0/port").and_then(Value::as_i64))
            == Some(i64::from(self.port));
        if ours {
            self.store
                .delete(&key, Some(kv.mod_revision))
                .await
                .map_err(err)?;
        }
        Ok(())
    }

    /// The addresses and ports of the live leases, sorted by address.
    pub(crate) async fn live(&self) -> Result<Vec<(String, i64)>> {
        let page = self
            .store
            .list(ListRequest {
                prefix: LEASE_PREFIX.into(),
                ..Default::default()
            })
            .await
            .map_err(|e| BootstrapError::new(LEASE_PREFIX, 500, e))?;
        let mut out: Vec<(String, i64)> = page
            .kvs
            .iter()
            .filter_map(|kv| {
                let v: Value = serde_json::from_slice(&kv.value).ok()?;
                let ip = v
                    .pointer("/subsets/0/addresses/0/ip")?
                    .as_str()?
                    .to_string();
                let port = v.pointer("/subsets/0/ports/0/port")?.as_i64()?;
                Some((ip, port))
            })
            .collect();
        out.sort();
        Ok(out)
    }
}

/// Sets the `kubernetes` Endpoints and EndpointSlice to the live servers'
/// addresses (the port is this server's: every server of a cluster serves on
/// the same secure port, as upstream assumes). No live server: the objects keep
/// an empty address list, as upstream's reconciler leaves them.
pub(crate) async fn reconcile_endpoints(
    client: &Loopback,
    live: &[(String, i64)],
    port: u16,
) -> Result<()> {
    let addresses: Vec<Value> = live.iter().map(|(ip, _)| json!({"ip": ip})).collect();
    // No live server (the last one stopping): no subsets, as upstream's
    // RepackSubsets leaves them.
    let subsets = if addresses.is_empty() {
        Value::Null
    } else {
        json!([{"addresses": addresses, "ports": [{"name": "https", "port": port, "protocol": "TCP"}]}])
    };
    let endpoints = json!({
        "apiVersion": "v1", "kind": "Endpoints",
        "metadata": {"name": "kubernetes", "namespace": "default",
                     "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"}},
        "subsets": subsets,
    });
    client
        .reconcile(ENDPOINTS, "kubernetes", &endpoints, |cur| {
            let labels_ok = cur
                .pointer("/metadata/labels/endpointslice.kubernetes.io~1skip-mirror")
                == Some(&json!("true"));
            let subsets_ok = cur.get("subsets").unwrap_or(&Value::Null) == &endpoints["subsets"];
            if labels_ok && subsets_ok {
                return false;
            }
            cur["metadata"]["labels"]["endpointslice.kubernetes.io/skip-mirror"] = json!("true");
            match endpoints.get("subsets").filter(|s| !s.is_null()) {
                Some(s) => cur["subsets"] = s.clone(),
                None => drop(cur.as_object_mut().and_then(|o| o.remove("subsets"))),
            }
            true
        })
        .await?;
    let slice_endpoints: Vec<Value> = live
        .iter()
        .map(|(ip, _)| json!({"addresses": [ip], "conditions": {"ready": true}}))
        .collect();
    let slice_ports = if live.is_empty() {
        json!([])
    } else {
        json!([{"name": "https", "port": port, "protocol": "TCP"}])
    };
    let slice = json!({
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": "kubernetes", "namespace": "default",
                     "labels": {"kubernetes.io/service-name": "kubernetes"}},
        "addressType": "IPv4",
        "endpoints": slice_endpoints,
        "ports": slice_ports,
    });
    client
        .reconcile(SLICES, "kubernetes", &slice, |cur| {
            // Upstream's EnsureEndpointSliceFromEndpoints: endpoints, ports and
            // labels compared, and all three written as built when they differ.
            let same = |k: &str| cur.get(k).unwrap_or(&json!([])) == &slice[k];
            let labels_ok = cur.pointer("/metadata/labels") == slice.pointer("/metadata/labels");
            if labels_ok && same("endpoints") && same("ports") {
                return false;
            }
            cur["metadata"]["labels"] = slice["metadata"]["labels"].clone();
            cur["endpoints"] = slice["endpoints"].clone();
            cur["ports"] = slice["ports"].clone();
            true
        })
        .await
        .map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_format_checks_ports_and_type() {
        let svc = desired_service(6443);
        assert!(service_format_correct(&svc, 6443));
        assert!(!service_format_correct(&svc, 7443), "target port changed");
        let mut renamed = svc.clone();
        renamed["spec"]["ports"][0]["name"] = json!("web");
        assert!(!service_format_correct(&renamed, 6443));
        let mut extra = svc.clone();
        extra["spec"]["ports"]
            .as_array_mut()
            .unwrap()
            .push(json!({"name": "x", "port": 1, "protocol": "TCP", "targetPort": 1}));
        assert!(!service_format_correct(&extra, 6443));
        let mut node_port = svc.clone();
        node_port["spec"]["type"] = json!("NodePort");
        assert!(!service_format_correct(&node_port, 6443));
        let mut labelled = svc;
        labelled["metadata"]["labels"]["team"] = json!("a");
        assert!(
            service_format_correct(&labelled, 6443),
            "labels are the user's"
        );
    }
}
