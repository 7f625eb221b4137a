//! What a cluster starts with, created through the API server itself (loopback
//! identity, same admission and validation as any client): the namespaces
//! `default`, `kube-system`, `kube-public`, `kube-node-lease`, the `kubernetes`
//! Service and its Endpoints, and the built-in PriorityClasses. Also the admin
//! kubeconfig.

use std::net::SocketAddr;
use std::path::Path;

use base64::Engine;
use bytes::Bytes;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use skiff_apiserver::pki::Pki;
use skiff_apiserver::{ApiServer, UserInfo};

async fn call(
    server: &ApiServer,
    method: http::Method,
    path: &str,
    body: &Value,
) -> Result<(u16, Value), String> {
    let req = http::Request::builder()
        .method(method)
        .uri(path)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(Bytes::from(
            serde_json::to_vec(body).map_err(|e| e.to_string())?,
        ))
        .map_err(|e| e.to_string())?;
    let resp = server.handle(req, Some(UserInfo::loopback())).await;
    let status = resp.status().as_u16();
    let bytes = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| format!("{e:?}"))?
        .to_bytes();
    Ok((
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    ))
}

/// Creates `obj` at `path` unless it exists.
async fn ensure_object(server: &ApiServer, path: &str, obj: Value) -> Result<(), String> {
    let (status, body) = call(server, http::Method::POST, path, &obj).await?;
    match status {
        200 | 201 | 409 => Ok(()),
        other => Err(format!("POST {path}: {other}: {body}")),
    }
}

/// Creates the objects every cluster has.
pub async fn ensure(server: &ApiServer, address: &SocketAddr) -> Result<(), String> {
    for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        ensure_object(
            server,
            "/api/v1/namespaces",
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
        )
        .await?;
    }
    ensure_object(
        server,
        "/api/v1/namespaces/default/services",
        json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "kubernetes", "namespace": "default", "labels": {"component": "apiserver", "provider": "kubernetes"}},
            "spec": {"type": "ClusterIP", "clusterIP": "10.96.0.1", "sessionAffinity": "None",
                     "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": address.port()}]},
        }),
    )
    .await?;
    ensure_object(
        server,
        "/api/v1/namespaces/default/endpoints",
        json!({
            "apiVersion": "v1", "kind": "Endpoints",
            "metadata": {"name": "kubernetes", "namespace": "default", "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"}},
            "subsets": [{"addresses": [{"ip": address.ip().to_string()}], "ports": [{"name": "https", "port": address.port(), "protocol": "TCP"}]}],
        }),
    )
    .await?;
    for (name, value, description) in [
        (
            "system-node-critical",
            2000001000,
            "Used for system critical pods that must not be moved from their current node.",
        ),
        (
            "system-cluster-critical",
            2000000000,
            "Used for system critical pods that must run in the cluster, but can be moved to another node if necessary.",
        ),
    ] {
        ensure_object(
            server,
            "/apis/scheduling.k8s.io/v1/priorityclasses",
            json!({"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass", "metadata": {"name": name}, "value": value, "globalDefault": false, "description": description, "preemptionPolicy": "PreemptLowerPriority"}),
        )
        .await?;
    }
    // The APIService of every built-in group version, served locally (upstream's
    // autoregister controller).
    let groups = skiff_apiserver::served_group_versions();
    for (order, (group, versions)) in groups.iter().enumerate() {
        for (vi, version) in versions.iter().enumerate() {
            let name = format!("{version}.{group}");
            let mut spec = json!({"version": version, "groupPriorityMinimum": 18000 - 100 * order as i64, "versionPriority": 15 - vi as i64});
            if !group.is_empty() {
                spec["group"] = json!(group);
            }
            ensure_object(
                server,
                "/apis/apiregistration.k8s.io/v1/apiservices",
                json!({"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService", "metadata": {"name": name, "labels": {"kube-aggregator.kubernetes.io/automanaged": "onstart"}}, "spec": spec}),
            )
            .await?;
            let (status, current) = call(
                server,
                http::Method::GET,
                &format!("/apis/apiregistration.k8s.io/v1/apiservices/{name}"),
                &Value::Null,
            )
            .await?;
            if status == 200 && current.pointer("/status/conditions").is_none() {
                let mut updated = current.clone();
                updated["status"] = json!({"conditions": [{"type": "Available", "status": "True", "lastTransitionTime": current.pointer("/metadata/creationTimestamp"), "reason": "Local", "message": "Local APIServices are always available"}]});
                call(
                    server,
                    http::Method::PUT,
                    &format!("/apis/apiregistration.k8s.io/v1/apiservices/{name}/status"),
                    &updated,
                )
                .await?;
            }
        }
    }
    Ok(())
}

/// Writes a kubeconfig for the admin (CN admin, O system:masters).
pub fn write_kubeconfig(pki: &Pki, path: &Path, address: &SocketAddr) -> std::io::Result<()> {
    let (cert, key) = pki
        .client_certificate("admin", &["system:masters"])
        .map_err(std::io::Error::other)?;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s.as_bytes());
    let server = match address.ip() {
        ip if ip.is_unspecified() => format!("https://127.0.0.1:{}", address.port()),
        ip => format!("https://{}", SocketAddr::new(ip, address.port())),
    };
    let config = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n    certificate-authority-data: {}\n    server: {server}\n  name: skiff\ncontexts:\n- context:\n    cluster: skiff\n    user: admin\n  name: skiff\ncurrent-context: skiff\nusers:\n- name: admin\n  user:\n    client-certificate-data: {}\n    client-key-data: {}\n",
        b64(&pki.ca_cert_pem),
        b64(&cert),
        b64(&key)
    );
    std::fs::write(path, config)?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
}
