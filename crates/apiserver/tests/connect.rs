//! The connect subresources against real backends on this machine: an HTTP
//! server standing in for a pod, and an HTTPS server speaking the kubelet's
//! paths (`/containerLogs`, `/exec`) until Skiff's node agent lands. Proxied
//! requests reach them at the machine's own non-loopback address, as a
//! pod's or node's IP would be (loopback is refused as upstream refuses it).

mod common;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use bytes::Bytes;
use common::{Reply, call};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use skiff_apiserver::{ApiServer, Options, UserInfo};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// This machine's address on its default route (a global unicast IP).
fn host_ip() -> IpAddr {
    let socket = std::net::UdpSocket::bind("0.0.0.0:0").unwrap();
    socket.connect("192.0.2.1:9").unwrap();
    socket.local_addr().unwrap().ip()
}

/// An HTTP server that answers every request with what it received, as JSON;
/// `/redirect` answers 302 to its own `/target`.
async fn echo_backend() -> SocketAddr {
    let listener = TcpListener::bind("0.0.0.0:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let addr = SocketAddr::new(host_ip(), port);
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            tokio::spawn(async move {
                let service =
                    hyper::service::service_fn(move |req: http::Request<Incoming>| async move {
                        let (parts, body) = req.into_parts();
                        let body = body.collect().await.unwrap().to_bytes();
                        let header = |k: &str| {
                            parts
                                .headers
                                .get(k)
                                .map(|v| v.to_str().unwrap().to_string())
                        };
                        let echo = json!({
                            "method": parts.method.as_str(),
                            "uri": parts.uri.to_string(),
                            "authorization": header("authorization"),
                            "forwardedUri": header("x-forwarded-uri"),
                            "forwardedFor": header("x-forwarded-for"),
                            "body": String::from_utf8_lossy(&body),
                        });
                        let mut resp = http::Response::builder()
                            .header("Content-Type", "application/json")
                            .header("Access-Control-Allow-Origin", "*")
                            .header("X-Backend", "echo");
                        if parts.uri.path() == "/redirect" {
                            resp = resp
                                .status(302)
                                .header("Location", format!("http://{addr}/target"));
                        }
                        Ok::<_, std::convert::Infallible>(
                            resp.body(Full::new(Bytes::from(echo.to_string()))).unwrap(),
                        )
                    });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tcp), service)
                    .await;
            });
        }
    });
    addr
}

/// An HTTPS server on the kubelet's paths: logs answer with the request's
/// query; `/exec` upgrades and then echoes, after a first line naming the
/// path it was asked for; a log request for container `gone` is a 404.
async fn kubelet(cert_pem: &str, key_pem: &str) -> SocketAddr {
    let certs = rustls_pemfile::certs(&mut cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = rustls_pemfile::private_key(&mut key_pem.as_bytes())
        .unwrap()
        .unwrap();
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .unwrap();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("0.0.0.0:0").await.unwrap();
    let addr = SocketAddr::new(host_ip(), listener.local_addr().unwrap().port());
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let service =
                    hyper::service::service_fn(|mut req: http::Request<Incoming>| async move {
                        let path = req.uri().to_string();
                        let resp = if path.starts_with("/containerLogs/ns/p/gone") {
                            http::Response::builder()
                                .status(404)
                                .body(Full::new(Bytes::from("no such container")))
                        } else if path.starts_with("/containerLogs/") {
                            http::Response::builder()
                                .body(Full::new(Bytes::from(format!("log of {path}\n"))))
                        } else if path.starts_with("/exec/") && !path.contains("output=1") {
                            http::Response::builder()
                                .status(400)
                                .body(Full::new(Bytes::from(
                                    "you must specify at least 1 of stdin, stdout, stderr",
                                )))
                        } else if path.starts_with("/exec/") {
                            let upgrade = hyper::upgrade::on(&mut req);
                            tokio::spawn(async move {
                                let mut io = TokioIo::new(upgrade.await.unwrap());
                                io.write_all(format!("{path}\n").as_bytes()).await.unwrap();
                                let mut buf = [0u8; 1024];
                                loop {
                                    let n = io.read(&mut buf).await.unwrap_or(0);
                                    if n == 0 || io.write_all(&buf[..n]).await.is_err() {
                                        return;
                                    }
                                }
                            });
                            http::Response::builder()
                                .status(101)
                                .header("Connection", "Upgrade")
                                .header("Upgrade", "SPDY/3.1")
                                .body(Full::new(Bytes::new()))
                        } else {
                            http::Response::builder()
                                .body(Full::new(Bytes::from(format!("kubelet {path}"))))
                        };
                        Ok::<_, std::convert::Infallible>(resp.unwrap())
                    });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), service)
                    .with_upgrades()
                    .await;
            });
        }
    });
    addr
}

/// A certificate for this machine's address, from a CA of its own.
fn kubelet_certificate(dir: &std::path::Path) -> skiff_apiserver::pki::Pki {
    skiff_apiserver::pki::Pki::ensure(dir, &[host_ip().to_string()]).unwrap()
}

async fn setup(options: Options) -> (ApiServer, tempfile::TempDir) {
    common::server_with_namespace_and(options).await
}

async fn create(s: &ApiServer, path: &str, body: Value) {
    let r = call(s, "POST", path, "application/json", body.to_string()).await;
    assert_eq!(r.status, 201, "{}", r.body);
}

async fn node(s: &ApiServer, name: &str, address: &str, port: u16) {
    create(
        s,
        "/api/v1/nodes",
        json!({"metadata": {"name": name}, "status": {
            "addresses": [{"type": "InternalIP", "address": address}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": port}},
        }}),
    )
    .await;
}

fn pod(name: &str, node: &str, containers: &[&str], port: Option<u16>) -> Value {
    let containers: Vec<Value> = containers
        .iter()
        .map(|c| {
            let mut c = json!({"name": c, "image": "busybox"});
            if let Some(p) = port {
                c["ports"] = json!([{"containerPort": p}]);
            }
            c
        })
        .collect();
    let mut spec = json!({"containers": containers});
    if !node.is_empty() {
        spec["nodeName"] = json!(node);
    }
    json!({"metadata": {"name": name}, "spec": spec})
}

/// Sets a pod's IP through `pods/status`, as a kubelet reports it.
async fn pod_ip(s: &ApiServer, name: &str, ip: &str) {
    let r = call(
        s,
        "PATCH",
        &format!("/api/v1/namespaces/ns/pods/{name}/status"),
        "application/merge-patch+json",
        json!({"status": {"podIP": ip, "podIPs": [{"ip": ip}]}}).to_string(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
}

/// A GET through `handle` with the raw body as text.
async fn get_text(s: &ApiServer, path: &str) -> (u16, http::HeaderMap, String) {
    let req = http::Request::builder()
        .uri(path)
        .header("Authorization", "Bearer secret")
        .body(Bytes::new())
        .unwrap();
    let resp = s.handle(req, Some(UserInfo::loopback())).await;
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, headers, String::from_utf8_lossy(&body).into_owned())
}

fn assert_status(r: &Reply, code: u16, reason: Option<&str>, message: &str) {
    assert_eq!(r.status, code, "{}", r.body);
    assert_eq!(r.body["reason"].as_str(), reason, "{}", r.body);
    assert_eq!(r.body["message"], message, "{}", r.body);
}

#[tokio::test]
async fn pod_logs_stream_from_the_kubelet_with_upstreams_errors() {
    let dir = tempfile::tempdir().unwrap();
    let pki = kubelet_certificate(dir.path());
    let kubelet = kubelet(&pki.serving_cert_pem, &pki.serving_key_pem).await;
    let (s, _d) = setup(Options::default()).await;
    node(&s, "n1", &kubelet.ip().to_string(), kubelet.port()).await;
    create(
        &s,
        "/api/v1/namespaces/ns/pods",
        pod("p", "n1", &["c"], None),
    )
    .await;
    create(
        &s,
        "/api/v1/namespaces/ns/pods",
        pod("two", "n1", &["a", "b"], None),
    )
    .await;
    create(
        &s,
        "/api/v1/namespaces/ns/pods",
        pod("pending", "", &["c"], None),
    )
    .await;

    let (status, headers, body) = get_text(
        &s,
        "/api/v1/namespaces/ns/pods/p/log?follow=true&tailLines=2&timestamps=1&sinceTime=2026-01-02T03:04:05%2B01:00",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(headers["content-type"], "text/plain");
    assert_eq!(
        body,
        "log of /containerLogs/ns/p/c?follow=true&sinceTime=2026-01-02T02%3A04%3A05Z&tailLines=2&timestamps=true\n"
    );

    // No node yet: an empty 204.
    let (status, _, body) = get_text(&s, "/api/v1/namespaces/ns/pods/pending/log").await;
    assert_eq!((status, body.as_str()), (204, ""));

    let get = |path: &'static str| {
        let s = s.clone();
        async move { call(&s, "GET", path, "", "").await }
    };
    assert_status(
        &get("/api/v1/namespaces/ns/pods/two/log").await,
        400,
        Some("BadRequest"),
        "a container name must be specified for pod two, choose one of: [a b]",
    );
    assert_status(
        &get("/api/v1/namespaces/ns/pods/p/log?container=x").await,
        400,
        Some("BadRequest"),
        "container x is not valid for pod p",
    );
    assert_status(
        &get("/api/v1/namespaces/ns/pods/p/log?tailLines=-1").await,
        422,
        Some("Invalid"),
        "PodLogOptions \"p\" is invalid: tailLines: Invalid value: -1: must be greater than or equal to 0",
    );
    assert_status(
        &get("/api/v1/namespaces/ns/pods/p/log?stream=All").await,
        422,
        Some("Invalid"),
        "PodLogOptions \"p\" is invalid: stream: Forbidden: may not be specified",
    );
    assert_status(
        &get("/api/v1/namespaces/ns/pods/p/log?limitBytes=x").await,
        400,
        Some("BadRequest"),
        "strconv.ParseInt: parsing \"x\": invalid syntax",
    );
    assert_status(
        &get("/api/v1/namespaces/ns/pods/nope/log").await,
        404,
        Some("NotFound"),
        "pods \"nope\" not found",
    );
}

#[tokio::test]
async fn pod_log_failures_name_the_kubelet() {
    let dir = tempfile::tempdir().unwrap();
    let pki = kubelet_certificate(dir.path());
    let kubelet = kubelet(&pki.serving_cert_pem, &pki.serving_key_pem).await;
    let (s, _d) = setup(Options::default()).await;
    node(&s, "n1", &kubelet.ip().to_string(), kubelet.port()).await;
    let closed = {
        let l = std::net::TcpListener::bind("0.0.0.0:0").unwrap();
        l.local_addr().unwrap().port()
    };
    node(&s, "down", &kubelet.ip().to_string(), closed).await;
    create(&s, "/api/v1/nodes", json!({"metadata": {"name": "noaddr"}})).await;
    let mut p = pod("p", "n1", &["c", "gone"], None);
    create(&s, "/api/v1/namespaces/ns/pods", p.clone()).await;
    p["metadata"]["name"] = json!("q");
    p["spec"]["nodeName"] = json!("down");
    create(&s, "/api/v1/namespaces/ns/pods", p.clone()).await;
    p["metadata"]["name"] = json!("r");
    p["spec"]["nodeName"] = json!("noaddr");
    create(&s, "/api/v1/namespaces/ns/pods", p).await;

    let r = call(
        &s,
        "GET",
        "/api/v1/namespaces/ns/pods/p/log?container=gone",
        "",
        "",
    )
    .await;
    assert_status(
        &r,
        404,
        Some("NotFound"),
        "the server could not find the requested resource ( pods/log p)",
    );
    assert_eq!(r.body["details"], json!({"name": "p", "kind": "pods/log"}));

    let r = call(
        &s,
        "GET",
        "/api/v1/namespaces/ns/pods/q/log?container=c",
        "",
        "",
    )
    .await;
    assert_status(
        &r,
        500,
        None,
        &format!(
            "Get \"https://{ip}:{closed}/containerLogs/ns/q/c\": dial tcp {ip}:{closed}: connect: connection refused",
            ip = kubelet.ip()
        ),
    );
    let r = call(
        &s,
        "GET",
        "/api/v1/namespaces/ns/pods/r/log?container=c",
        "",
        "",
    )
    .await;
    assert_status(
        &r,
        500,
        None,
        "no preferred addresses found; known addresses: []",
    );

    // A kubelet whose certificate the cluster CA did not sign is refused
    // when kubelets are verified, unless the request says to skip it.
    let ca_dir = tempfile::tempdir().unwrap();
    let cluster = skiff_apiserver::pki::Pki::ensure(ca_dir.path(), &[]).unwrap();
    let (cert, key) = cluster
        .client_certificate("kube-apiserver-kubelet-client", &[])
        .unwrap();
    let verified = Options {
        kubelet_tls: Some(
            skiff_apiserver::connect::KubeletTls::new(&cluster.ca_cert_pem, &cert, &key).unwrap(),
        ),
        ..Options::default()
    };
    let (s2, _d2) = setup(verified).await;
    node(&s2, "n1", &kubelet.ip().to_string(), kubelet.port()).await;
    create(
        &s2,
        "/api/v1/namespaces/ns/pods",
        pod("p", "n1", &["c"], None),
    )
    .await;
    let r = call(&s2, "GET", "/api/v1/namespaces/ns/pods/p/log", "", "").await;
    assert_eq!(r.status, 500, "{}", r.body);
    let message = r.body["message"].as_str().unwrap();
    assert!(
        message.contains("x509: certificate signed by unknown authority"),
        "{message}"
    );
    let (status, _, body) = get_text(
        &s2,
        "/api/v1/namespaces/ns/pods/p/log?insecureSkipTLSVerifyBackend=true",
    )
    .await;
    assert_eq!(
        (status, body.as_str()),
        (200, "log of /containerLogs/ns/p/c\n")
    );
}

#[tokio::test]
async fn pod_proxy_reaches_the_pod_ip() {
    let backend = echo_backend().await;
    let (s, _d) = setup(Options::default()).await;
    create(
        &s,
        "/api/v1/namespaces/ns/pods",
        pod("web", "", &["c"], Some(backend.port())),
    )
    .await;
    // No IP yet, then a loopback one: neither may be proxied to.
    let r = call(&s, "GET", "/api/v1/namespaces/ns/pods/web/proxy/", "", "").await;
    assert_status(&r, 400, Some("BadRequest"), "address not allowed");
    pod_ip(&s, "web", "127.0.0.1").await;
    let r = call(&s, "GET", "/api/v1/namespaces/ns/pods/web/proxy/", "", "").await;
    assert_status(&r, 400, Some("BadRequest"), "address not allowed");
    pod_ip(&s, "web", &backend.ip().to_string()).await;

    // Without a path: redirected below the proxy, query kept.
    let (status, headers, _) = get_text(&s, "/api/v1/namespaces/ns/pods/web/proxy?a=1").await;
    assert_eq!(status, 301);
    assert_eq!(
        headers["location"],
        "/api/v1/namespaces/ns/pods/web/proxy/?a=1"
    );

    let (status, headers, body) =
        get_text(&s, "/api/v1/namespaces/ns/pods/web/proxy/x/../y/z/?q=1&r=2").await;
    assert_eq!(status, 200, "{body}");
    let echo: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(echo["uri"], "/y/z/?q=1&r=2");
    assert_eq!(
        echo["authorization"],
        Value::Null,
        "credentials are not forwarded"
    );
    assert_eq!(
        echo["forwardedUri"],
        "/api/v1/namespaces/ns/pods/web/proxy/x/../y/z/"
    );
    assert_eq!(headers["x-backend"], "echo");
    assert!(headers.get("access-control-allow-origin").is_none());

    // A named port (by number here), a body, and a redirect kept behind the proxy.
    let r = call(
        &s,
        "POST",
        &format!(
            "/api/v1/namespaces/ns/pods/web:{}/proxy/submit",
            backend.port()
        ),
        "text/plain",
        "hello",
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        (r.body["method"].as_str(), r.body["body"].as_str()),
        (Some("POST"), Some("hello"))
    );
    let (status, headers, _) = get_text(&s, "/api/v1/namespaces/ns/pods/web/proxy/redirect").await;
    assert_eq!(status, 302);
    assert_eq!(
        headers["location"],
        "/api/v1/namespaces/ns/pods/web/proxy/target"
    );

    let closed = {
        let l = std::net::TcpListener::bind("0.0.0.0:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let r = call(
        &s,
        "GET",
        &format!("/api/v1/namespaces/ns/pods/web:{closed}/proxy/"),
        "",
        "",
    )
    .await;
    assert_status(
        &r,
        503,
        Some("ServiceUnavailable"),
        &format!(
            "error trying to reach service: dial tcp {}:{closed}: connect: connection refused",
            backend.ip()
        ),
    );
    let r = call(
        &s,
        "GET",
        "/api/v1/namespaces/ns/pods/ftp:web:80/proxy/",
        "",
        "",
    )
    .await;
    assert_status(
        &r,
        400,
        Some("BadRequest"),
        "invalid pod request \"ftp:web:80\"",
    );
}

#[tokio::test]
async fn service_proxy_picks_a_pod_endpoint() {
    let backend = echo_backend().await;
    let ip = backend.ip().to_string();
    let (s, _d) = setup(Options::default()).await;
    create(
        &s,
        "/api/v1/namespaces/ns/pods",
        pod("web", "", &["c"], None),
    )
    .await;
    pod_ip(&s, "web", &ip).await;
    create(
        &s,
        "/api/v1/namespaces/ns/services",
        json!({"metadata": {"name": "s"}, "spec": {"ports": [
            {"name": "http", "port": 80, "targetPort": backend.port()}
        ]}}),
    )
    .await;
    let r = call(
        &s,
        "GET",
        "/api/v1/namespaces/ns/services/s:http/proxy/x",
        "",
        "",
    )
    .await;
    assert_status(&r, 404, Some("NotFound"), "endpoints \"s\" not found");
    create(
        &s,
        "/api/v1/namespaces/ns/endpoints",
        json!({"metadata": {"name": "s"}, "subsets": []}),
    )
    .await;
    let r = call(
        &s,
        "GET",
        "/api/v1/namespaces/ns/services/s:http/proxy/x",
        "",
        "",
    )
    .await;
    assert_status(
        &r,
        503,
        Some("ServiceUnavailable"),
        "no endpoints available for service \"s\"",
    );
    // An address that is no pod's is never proxied to.
    let eps = |target: Value| {
        json!({"metadata": {"name": "s"}, "subsets": [{
            "addresses": [{"ip": ip, "targetRef": target}],
            "ports": [{"name": "http", "port": backend.port()}],
        }]})
    };
    let r = call(
        &s,
        "PUT",
        "/api/v1/namespaces/ns/endpoints/s",
        "application/json",
        eps(Value::Null).to_string(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = call(
        &s,
        "GET",
        "/api/v1/namespaces/ns/services/s:http/proxy/x",
        "",
        "",
    )
    .await;
    assert_status(
        &r,
        503,
        Some("ServiceUnavailable"),
        "no endpoints available for service \"s:http\"",
    );
    let r = call(
        &s,
        "PUT",
        "/api/v1/namespaces/ns/endpoints/s",
        "application/json",
        eps(json!({"kind": "Pod", "namespace": "ns", "name": "web"})).to_string(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = call(
        &s,
        "GET",
        "/api/v1/namespaces/ns/services/s:http/proxy/x?y=1",
        "",
        "",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["uri"], "/x?y=1");
    // A port number names the Service port.
    let r = call(
        &s,
        "GET",
        "/api/v1/namespaces/ns/services/s:80/proxy/n",
        "",
        "",
    )
    .await;
    assert_eq!((r.status, r.body["uri"].as_str()), (200, Some("/n")));
    let r = call(
        &s,
        "GET",
        "/api/v1/namespaces/ns/services/s:81/proxy/n",
        "",
        "",
    )
    .await;
    assert_status(
        &r,
        503,
        Some("ServiceUnavailable"),
        "no service port 81 found for service \"s\"",
    );
}

#[tokio::test]
async fn node_proxy_reaches_the_kubelet_or_another_port() {
    let dir = tempfile::tempdir().unwrap();
    let pki = kubelet_certificate(dir.path());
    let kubelet = kubelet(&pki.serving_cert_pem, &pki.serving_key_pem).await;
    let backend = echo_backend().await;
    let (s, _d) = setup(Options::default()).await;
    node(&s, "n1", &kubelet.ip().to_string(), kubelet.port()).await;
    node(&s, "local", "127.0.0.1", kubelet.port()).await;
    let (status, _, body) = get_text(&s, "/api/v1/nodes/n1/proxy/healthz?verbose").await;
    assert_eq!((status, body.as_str()), (200, "kubelet /healthz?verbose"));
    let (status, _, body) = get_text(
        &s,
        &format!("/api/v1/nodes/n1:{}/proxy/other", backend.port()),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["uri"],
        "/other"
    );
    let r = call(&s, "GET", "/api/v1/nodes/local/proxy/healthz", "", "").await;
    assert_status(&r, 400, Some("BadRequest"), "address not allowed");
    let r = call(&s, "GET", "/api/v1/nodes/nope/proxy/healthz", "", "").await;
    assert_status(&r, 404, Some("NotFound"), "nodes \"nope\" not found");
}

/// Exec over a real HTTPS connection: the upgrade is passed to the kubelet
/// and the two connections are spliced.
#[tokio::test]
async fn exec_upgrades_and_splices_to_the_kubelet() {
    let dir = tempfile::tempdir().unwrap();
    let pki = kubelet_certificate(dir.path());
    let kubelet = kubelet(&pki.serving_cert_pem, &pki.serving_key_pem).await;
    let (s, _d) = setup(Options::default()).await;
    node(&s, "n1", &kubelet.ip().to_string(), kubelet.port()).await;
    create(
        &s,
        "/api/v1/namespaces/ns/pods",
        pod("p", "n1", &["c"], None),
    )
    .await;
    create(
        &s,
        "/api/v1/namespaces/ns/pods",
        pod("pending", "", &["c"], None),
    )
    .await;

    // Without an upgrade, and for a pod with no node: upstream's 400s.
    let r = call(
        &s,
        "POST",
        "/api/v1/namespaces/ns/pods/p/exec?command=ls",
        "",
        "",
    )
    .await;
    assert_status(&r, 400, Some("BadRequest"), "Upgrade request required");
    let r = call(
        &s,
        "POST",
        "/api/v1/namespaces/ns/pods/pending/exec?command=ls",
        "",
        "",
    )
    .await;
    assert_status(
        &r,
        400,
        Some("BadRequest"),
        "pod pending does not have a host assigned",
    );
    let r = call(
        &s,
        "POST",
        "/api/v1/namespaces/ns/pods/p/exec?command=ls&dryRun=All",
        "",
        "",
    )
    .await;
    assert_status(&r, 400, Some("BadRequest"), "dryRun is not supported");

    // The server over TLS, with a token.
    let api_dir = tempfile::tempdir().unwrap();
    let api_pki = skiff_apiserver::pki::Pki::ensure(api_dir.path(), &["127.0.0.1".into()]).unwrap();
    let tokens = api_dir.path().join("tokens.csv");
    std::fs::write(&tokens, "secret,admin,1,system:masters\n").unwrap();
    let authn = skiff_apiserver::Authenticator::from_token_file(&tokens).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api = listener.local_addr().unwrap();
    tokio::spawn(skiff_apiserver::serve(
        s.clone(),
        listener,
        skiff_apiserver::tls_config(&api_pki).unwrap(),
        Arc::new(authn),
        std::future::pending(),
    ));
    let connect = || async {
        let tls =
            skiff_apiserver::connect::TlsClient::verified(&api_pki.ca_cert_pem, None).unwrap();
        let tcp = tokio::net::TcpStream::connect(api).await.unwrap();
        tokio_rustls::TlsConnector::from(tls.0.clone())
            .connect("127.0.0.1".try_into().unwrap(), tcp)
            .await
            .unwrap()
    };
    let request = |query: &str| {
        format!(
            "POST /api/v1/namespaces/ns/pods/p/exec?{query} HTTP/1.1\r\nHost: {api}\r\n\
             Authorization: Bearer secret\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n\
             X-Stream-Protocol-Version: v4.channel.k8s.io\r\nContent-Length: 0\r\n\r\n"
        )
    };
    let mut conn = connect().await;
    conn.write_all(request("command=echo&command=hi%20there&stdout=true&stderr=1").as_bytes())
        .await
        .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let expected_path = "/exec/ns/p/c?command=echo&command=hi+there&error=1&output=1\n";
    while !String::from_utf8_lossy(&got).contains(expected_path) {
        let n = conn.read(&mut buf).await.unwrap();
        assert!(n > 0, "closed early: {}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&got).to_string();
    assert!(text.starts_with("HTTP/1.1 101"), "{text}");
    assert!(
        text.to_ascii_lowercase().contains("upgrade: spdy/3.1"),
        "{text}"
    );
    conn.write_all(b"ping").await.unwrap();
    let mut echoed = [0u8; 4];
    conn.read_exact(&mut echoed).await.unwrap();
    assert_eq!(&echoed, b"ping");

    // The kubelet's refusal reaches the client as it answered.
    let mut conn = connect().await;
    conn.write_all(request("command=ls").as_bytes())
        .await
        .unwrap();
    let mut got = Vec::new();
    while !String::from_utf8_lossy(&got).contains("you must specify") {
        let n = conn.read(&mut buf).await.unwrap();
        assert!(n > 0, "closed early: {}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&buf[..n]);
    }
    assert!(String::from_utf8_lossy(&got).starts_with("HTTP/1.1 400"));

    // The real kubectl reads logs and a node's kubelet through the server.
    use base64::Engine;
    let kubeconfig = api_dir.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://{api}\n    certificate-authority-data: {}\nusers:\n- name: u\n  user:\n    token: secret\ncontexts:\n- name: c\n  context: {{cluster: c, user: u, namespace: ns}}\ncurrent-context: c\n",
            base64::engine::general_purpose::STANDARD.encode(&api_pki.ca_cert_pem)
        ),
    )
    .unwrap();
    let kubectl = |args: &[&str]| {
        let kubeconfig = kubeconfig.clone();
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        async move {
            let out = tokio::process::Command::new("kubectl")
                .arg("--kubeconfig")
                .arg(&kubeconfig)
                .args(&args)
                .output()
                .await
                .expect("kubectl on the PATH");
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8(out.stdout).unwrap()
        }
    };
    assert_eq!(
        kubectl(&["logs", "p", "--tail=2", "--timestamps"]).await,
        "log of /containerLogs/ns/p/c?tailLines=2&timestamps=true\n"
    );
    assert_eq!(
        kubectl(&["get", "--raw", "/api/v1/nodes/n1/proxy/configz"]).await,
        "kubelet /configz"
    );
}
