//! API server benchmark: starts `skiff server` (release build), then drives it
//! over HTTPS with N concurrent clients, as kubectl and controllers would.
//!
//! Measures: time to ready; idle RSS; pod creates/s and latency with N clients;
//! GET latency; LIST of every pod (from the watch cache) and paginated LIST
//! (limit=500, from the store); an event's latency to W watchers; RSS with the
//! pods stored.
//!
//! Run: `cargo build --release -p skiff -p api-bench && target/release/api-bench`
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use api_bench::{client, pod, rss_kib};
use base64::Engine;
use clap::Parser;
use futures::StreamExt;
use hdrhistogram::Histogram;
use serde_json::{Value, json};

#[derive(Parser)]
struct Args {
    /// The skiff binary (a release build).
    #[arg(long, default_value = "target/release/skiff")]
    skiff: PathBuf,
    /// Pods to create.
    #[arg(long, default_value_t = 10_000)]
    pods: usize,
    /// Concurrent clients for creates and GETs.
    #[arg(long, default_value_t = 64)]
    clients: usize,
    /// Watchers in the fan-out test.
    #[arg(long, default_value_t = 1000)]
    watchers: usize,
    /// Data directory (default: a temporary directory).
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

struct Server {
    child: Child,
    base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn hist() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 120_000_000, 3).expect("bounds")
}

/// The clients' latencies together, once every client is done.
async fn merged(
    tasks: Vec<tokio::task::JoinHandle<Result<Histogram<u64>>>>,
) -> Result<Histogram<u64>> {
    let mut h = hist();
    for t in tasks {
        h.add(t.await??)?;
    }
    Ok(h)
}

fn ms(h: &Histogram<u64>, q: f64) -> f64 {
    h.value_at_quantile(q) as f64 / 1000.0
}

/// An HTTPS client presenting a bearer token (the cluster CA from the kubeconfig).
fn token_client(kubeconfig: &str, token: &str) -> Result<reqwest::Client> {
    let line = kubeconfig
        .lines()
        .find(|l| l.trim_start().starts_with("certificate-authority-data"))
        .context("certificate-authority-data in kubeconfig")?;
    let ca = reqwest::Certificate::from_pem(
        &base64::engine::general_purpose::STANDARD
            .decode(line.split(':').nth(1).unwrap_or("").trim())?,
    )?;
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        format!("Bearer {token}").parse()?,
    );
    Ok(reqwest::Client::builder()
        .use_rustls_tls()
        .add_root_certificate(ca)
        .default_headers(headers)
        .pool_max_idle_per_host(256)
        .build()?)
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let tmp = tempfile::tempdir()?;
    let data = args
        .data_dir
        .clone()
        .unwrap_or_else(|| tmp.path().join("data"));
    let port = skiff_testutil::free_port();
    let started = Instant::now();
    // A user authorized by RBAC (edit in the bench namespace) beside the
    // admin (system:masters, allowed before RBAC is asked).
    let tokens = tmp.path().join("tokens.csv");
    std::fs::write(&tokens, "bench-token,bench,2000,\n")?;
    let child = Command::new(&args.skiff)
        .args(["server", "--data-dir"])
        .arg(&data)
        .arg("--token-auth-file")
        .arg(&tokens)
        .args(["--secure-port", &port.to_string()])
        .env("SKIFF_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .with_context(|| format!("start {}", args.skiff.display()))?;
    let pid = child.id();
    let mut server = Server {
        child,
        base: format!("https://127.0.0.1:{port}"),
    };
    let kubeconfig_path = data.join("admin.kubeconfig");
    let http = loop {
        if let Ok(k) = std::fs::read_to_string(&kubeconfig_path) {
            let c = client(&k)?;
            if let Ok(r) = c.get(format!("{}/readyz", server.base)).send().await
                && r.status().is_success()
            {
                break c;
            }
        }
        if started.elapsed() > Duration::from_secs(30) {
            bail!("server not ready");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    let ready = started.elapsed();
    println!(
        "| time to ready (spawn → /readyz 200) | {:.0} ms |",
        ready.as_secs_f64() * 1000.0
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    println!("| idle RSS | {:.1} MiB |", rss_kib(pid) as f64 / 1024.0);

    let base = server.base.clone();
    let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "bench"}});
    http.post(format!("{base}/api/v1/namespaces"))
        .json(&ns)
        .send()
        .await?
        .error_for_status()?;

    let binding = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
        "metadata": {"name": "bench-edit", "namespace": "bench"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "edit"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "bench"}]});
    http.post(format!(
        "{base}/apis/rbac.authorization.k8s.io/v1/namespaces/bench/rolebindings"
    ))
    .json(&binding)
    .send()
    .await?
    .error_for_status()?;
    let rbac_user = token_client(&std::fs::read_to_string(&kubeconfig_path)?, "bench-token")?;
    // Until the binding (and edit's aggregated rules) are in the policy.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !rbac_user
        .get(format!("{base}/api/v1/namespaces/bench/pods?limit=1"))
        .send()
        .await?
        .status()
        .is_success()
    {
        if Instant::now() > deadline {
            bail!("the RBAC user was never allowed to list pods");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // And until the namespace's default ServiceAccount (pods run as it) is
    // there: a server with the ServiceAccount controller makes it at once
    // (one without it never does; 5 s at most).
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline
        && !http
            .get(format!(
                "{base}/api/v1/namespaces/bench/serviceaccounts/default"
            ))
            .send()
            .await?
            .status()
            .is_success()
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Creates: every other client as the RBAC user, at the same time, so
    // that both identities see the same server.
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let start = Instant::now();
    let mut rbac_tasks = Vec::new();
    let tasks: Vec<_> = (0..args.clients)
        .filter_map(|c| {
            let http = if c % 2 == 1 {
                rbac_user.clone()
            } else {
                http.clone()
            };
            let (base, next, total) = (base.clone(), next.clone(), args.pods);
            let task = tokio::spawn(async move {
                let mut h = hist();
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if i >= total {
                        return anyhow::Ok(h);
                    }
                    let t = Instant::now();
                    let r = http
                        .post(format!("{base}/api/v1/namespaces/bench/pods"))
                        .json(&pod(i))
                        .send()
                        .await?;
                    if r.status() != 201 {
                        bail!("create pod {i}: {}", r.status());
                    }
                    // Read the answer as every client does: a stream dropped
                    // unread is reset, and reqwest's h2 ends the connection
                    // (ENHANCE_YOUR_CALM) after 1 024 such resets.
                    r.bytes().await?;
                    h.record(t.elapsed().as_micros().max(1) as u64)?;
                }
            });
            if c % 2 == 1 {
                rbac_tasks.push(task);
                None
            } else {
                Some(task)
            }
        })
        .collect();
    let h = merged(tasks).await?;
    let h_rbac = merged(rbac_tasks).await?;
    let took = start.elapsed();
    let mut all = h.clone();
    all.add(&h_rbac)?;
    println!(
        "| pod creates, {} clients | {:.0} creates/s (p50 {:.2} ms, p99 {:.2} ms) |",
        args.clients,
        args.pods as f64 / took.as_secs_f64(),
        ms(&all, 0.5),
        ms(&all, 0.99)
    );
    println!(
        "| … as system:masters / as an RBAC user (edit) | p50 {:.2} / {:.2} ms, mean {:.2} / {:.2} ms |",
        ms(&h, 0.5),
        ms(&h_rbac, 0.5),
        h.mean() / 1000.0,
        h_rbac.mean() / 1000.0
    );

    // GETs.
    let gets = 5000usize;
    let tasks: Vec<_> = (0..args.clients)
        .map(|c| {
            let (http, base, total, clients, pods) =
                (http.clone(), base.clone(), gets, args.clients, args.pods);
            tokio::spawn(async move {
                let mut h = hist();
                for i in (c..total).step_by(clients) {
                    let t = Instant::now();
                    let r = http
                        .get(format!(
                            "{base}/api/v1/namespaces/bench/pods/pod-{:06}",
                            (i * 7919) % pods
                        ))
                        .send()
                        .await?;
                    if !r.status().is_success() {
                        bail!("get: {}", r.status());
                    }
                    r.bytes().await?;
                    h.record(t.elapsed().as_micros().max(1) as u64)?;
                }
                anyhow::Ok(h)
            })
        })
        .collect();
    let h = merged(tasks).await?;
    println!(
        "| GET pod, {} clients | p50 {:.2} ms, p99 {:.2} ms |",
        args.clients,
        ms(&h, 0.5),
        ms(&h, 0.99)
    );

    // LIST every pod (watch cache) and paginated (store).
    for (label, query) in [
        ("LIST all pods (cache, consistent)", ""),
        ("LIST all pods, resourceVersion=0", "?resourceVersion=0"),
    ] {
        let mut h = hist();
        let mut n = 0;
        for _ in 0..20 {
            let t = Instant::now();
            let body = http
                .get(format!("{base}/api/v1/namespaces/bench/pods{query}"))
                .send()
                .await?
                .bytes()
                .await?;
            h.record(t.elapsed().as_micros().max(1) as u64)?;
            n = body.len();
        }
        println!(
            "| {label}: {} pods, {:.1} MB | p50 {:.1} ms, p99 {:.1} ms |",
            args.pods,
            n as f64 / 1e6,
            ms(&h, 0.5),
            ms(&h, 0.99)
        );
    }
    let mut h = hist();
    for _ in 0..5 {
        let t = Instant::now();
        let mut cont = String::new();
        let mut count = 0;
        loop {
            let url = if cont.is_empty() {
                format!("{base}/api/v1/namespaces/bench/pods?limit=500")
            } else {
                format!("{base}/api/v1/namespaces/bench/pods?limit=500&continue={cont}")
            };
            let page: Value = serde_json::from_slice(&http.get(url).send().await?.bytes().await?)?;
            count += page["items"].as_array().map_or(0, Vec::len);
            match page["metadata"]["continue"].as_str() {
                Some(c) if !c.is_empty() => cont = c.to_string(),
                _ => break,
            }
        }
        if count != args.pods {
            bail!("paginated list returned {count} pods");
        }
        h.record(t.elapsed().as_micros().max(1) as u64)?;
    }
    println!(
        "| LIST all pods in pages of 500 (store, one snapshot) | p50 {:.1} ms, p99 {:.1} ms |",
        ms(&h, 0.5),
        ms(&h, 0.99)
    );
    // Consistent LISTs of a resource nobody writes while another one is
    // written: the cache learns from the store's progress reports that it
    // is current (before: it waited 100 ms, then read the store).
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (http, base, stop) = (http.clone(), base.clone(), stop.clone());
        tokio::spawn(async move {
            let mut i = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": format!("churn-{i}"), "namespace": "bench"}});
                http.post(format!("{base}/api/v1/namespaces/bench/configmaps"))
                    .json(&cm)
                    .send()
                    .await?
                    .bytes()
                    .await?;
                i += 1;
            }
            anyhow::Ok(i)
        })
    };
    let mut h = hist();
    for _ in 0..50 {
        let t = Instant::now();
        let r = http
            .get(format!("{base}/api/v1/namespaces/bench/secrets"))
            .send()
            .await?;
        if !r.status().is_success() {
            bail!("list secrets: {}", r.status());
        }
        r.bytes().await?;
        h.record(t.elapsed().as_micros().max(1) as u64)?;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let written = writer.await??;
    println!(
        "| consistent LIST of secrets while ConfigMaps are created ({written} during) | p50 {:.2} ms, p99 {:.2} ms |",
        ms(&h, 0.5),
        ms(&h, 0.99)
    );
    println!(
        "| RSS with {} pods | {:.1} MiB |",
        args.pods,
        rss_kib(pid) as f64 / 1024.0
    );

    // Watch fan-out: W watchers on one namespace's configmaps; 50 updates.
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "tick", "namespace": "bench"}, "data": {"t": "0"}});
    let created: Value = serde_json::from_slice(
        &http
            .post(format!("{base}/api/v1/namespaces/bench/configmaps"))
            .json(&cm)
            .send()
            .await?
            .bytes()
            .await?,
    )?;
    let rv = created["metadata"]["resourceVersion"]
        .as_str()
        .unwrap_or("0")
        .to_string();
    let epoch = Instant::now();
    let events = 50usize;
    let clients: Vec<reqwest::Client> = (0..(args.watchers / 100).max(1))
        .map(|_| client(&std::fs::read_to_string(&kubeconfig_path)?))
        .collect::<Result<_>>()?;
    let mut watchers = Vec::new();
    for w in 0..args.watchers {
        let http = clients[w % clients.len()].clone();
        let url = format!(
            "{base}/api/v1/namespaces/bench/configmaps?watch=1&resourceVersion={rv}&fieldSelector=metadata.name%3Dtick"
        );
        let resp = http.get(url).send().await?;
        watchers.push(tokio::spawn(async move {
            let mut stream = resp.bytes_stream();
            let mut h = hist();
            let mut buf = Vec::new();
            let mut seen = 0;
            while seen < events {
                let chunk = stream.next().await.context("watch ended")??;
                buf.extend_from_slice(&chunk);
                while let Some(nl) = buf.iter().position(|b| *b == b'\n') {
                    let line: Vec<u8> = buf.drain(..=nl).collect();
                    let now = epoch.elapsed().as_micros() as u64;
                    let ev: Value = serde_json::from_slice(&line)?;
                    if let Some(t) = ev["object"]["data"]["t"]
                        .as_str()
                        .and_then(|t| t.parse::<u64>().ok())
                        && t > 0
                    {
                        h.record(now.saturating_sub(t).max(1))?;
                        seen += 1;
                    }
                }
            }
            anyhow::Ok(h)
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut current = created;
    for _ in 0..events {
        current["data"]["t"] = json!(epoch.elapsed().as_micros().to_string());
        let r = http
            .put(format!("{base}/api/v1/namespaces/bench/configmaps/tick"))
            .json(&current)
            .send()
            .await?;
        current = serde_json::from_slice(&r.bytes().await?)?;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut h = hist();
    for w in watchers {
        h.add(tokio::time::timeout(Duration::from_secs(60), w).await???)?;
    }
    println!(
        "| event to {} watchers (write → each watcher) | p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms |",
        args.watchers,
        ms(&h, 0.5),
        ms(&h, 0.99),
        h.max() as f64 / 1000.0
    );
    // Contended writes without a precondition: 20 clients merge-patching one
    // ConfigMap (each its own key), as controllers updating one shared
    // object do. Upstream retries these on the new state; none may fail.
    let contended = 20usize;
    let per_client = 50usize;
    http.post(format!("{base}/api/v1/namespaces/bench/configmaps"))
        .json(&json!({"metadata": {"name": "shared"}}))
        .send()
        .await?
        .error_for_status()?;
    let conflicts = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let start = Instant::now();
    let tasks: Vec<_> = (0..contended)
        .map(|c| {
            let (http, base, conflicts) = (http.clone(), base.clone(), conflicts.clone());
            tokio::spawn(async move {
                let mut h = hist();
                for i in 0..per_client {
                    let t = Instant::now();
                    let r = http
                        .patch(format!("{base}/api/v1/namespaces/bench/configmaps/shared"))
                        .header("Content-Type", "application/merge-patch+json")
                        .body(json!({"data": {format!("c{c}"): i.to_string()}}).to_string())
                        .send()
                        .await?;
                    let status = r.status().as_u16();
                    r.bytes().await?;
                    match status {
                        200 => h.record(t.elapsed().as_micros().max(1) as u64)?,
                        409 => {
                            conflicts.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                        other => bail!("patch: {other}"),
                    }
                }
                anyhow::Ok(h)
            })
        })
        .collect();
    let h = merged(tasks).await?;
    let took = start.elapsed();
    println!(
        "| {contended} clients patching one ConfigMap, no precondition | {:.0} patches/s (p50 {:.2} ms, p99 {:.2} ms), {} of {} answered 409 |",
        (contended * per_client) as f64 / took.as_secs_f64(),
        ms(&h, 0.5),
        ms(&h, 0.99),
        conflicts.load(std::sync::atomic::Ordering::Relaxed),
        contended * per_client
    );

    // No-op writes: the same object PUT again; nothing is stored.
    let current: serde_json::Value = http
        .get(format!("{base}/api/v1/namespaces/bench/configmaps/shared"))
        .send()
        .await?
        .json()
        .await?;
    let rv = current["metadata"]["resourceVersion"].clone();
    let noops = 500usize;
    let start = Instant::now();
    let mut last = current.clone();
    for _ in 0..noops {
        last = http
            .put(format!("{base}/api/v1/namespaces/bench/configmaps/shared"))
            .json(&current)
            .send()
            .await?
            .json()
            .await?;
    }
    println!(
        "| identical PUTs, 1 client | {:.0} /s, resourceVersion {} |",
        noops as f64 / start.elapsed().as_secs_f64(),
        if last["metadata"]["resourceVersion"] == rv {
            "unchanged"
        } else {
            "CHANGED"
        }
    );
    println!(
        "| RSS at the end | {:.1} MiB |",
        rss_kib(pid) as f64 / 1024.0
    );
    server.base.clear();
    Ok(())
}
