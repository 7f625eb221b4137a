//! Scheduler benchmark after upstream's scheduler_perf `SchedulingBasic`:
//! `skiff server --sim-nodes N` (release build) with upstream's node
//! template (4 cpu, 32 GiB, 110 pods) spread over zones, then pods of
//! upstream's default template (100m / 500Mi) created over HTTPS by
//! concurrent clients — first the init pods, then the measured ones —
//! while a watch records when each is bound. Reports the scheduling
//! throughput (average over the measured pods and per-second samples as
//! scheduler_perf's `SchedulingThroughput`), the time until every pod is
//! Running on its simulated node, the time to register the nodes, memory
//! per 1 000 simulated nodes and the idle CPU of the fleet.
//!
//! Run: `cargo build --release -p skiff -p api-bench && target/release/sched-bench`

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use api_bench::{client, cpu_seconds, rss_kib};
use clap::Parser;
use futures::StreamExt;
use serde_json::{Value, json};

#[derive(Parser)]
struct Args {
    /// The skiff binary (a release build).
    #[arg(long, default_value = "target/release/skiff")]
    skiff: PathBuf,
    /// Simulated nodes.
    #[arg(long, default_value_t = 5000)]
    nodes: usize,
    /// Pods created before the measured ones (scheduler_perf's initPods).
    #[arg(long, default_value_t = 1000)]
    init_pods: usize,
    /// Measured pods.
    #[arg(long, default_value_t = 10_000)]
    pods: usize,
    /// Concurrent creating clients.
    #[arg(long, default_value_t = 32)]
    clients: usize,
    /// Seconds of idle CPU measurement with the nodes registered.
    #[arg(long, default_value_t = 30)]
    idle_seconds: u64,
}

struct Server {
    child: Child,
    base: String,
    http: reqwest::Client,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start(skiff: &PathBuf, dir: &std::path::Path, nodes: usize) -> Result<Server> {
    let data = dir.join(format!("data-{nodes}"));
    let template = dir.join("sim.yaml");
    std::fs::write(
        &template,
        "resources: {cpu: \"4\", memory: 32Gi, pods: \"110\"}\nzones: 10\n",
    )?;
    let port = skiff_testutil::free_port();
    let child = Command::new(skiff)
        .args(["server", "--data-dir"])
        .arg(&data)
        .args(["--secure-port", &port.to_string()])
        .args(["--sim-nodes", &nodes.to_string()])
        .arg("--sim-config")
        .arg(&template)
        .env("SKIFF_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .with_context(|| format!("start {}", skiff.display()))?;
    let base = format!("https://127.0.0.1:{port}");
    let started = Instant::now();
    loop {
        if let Ok(k) = std::fs::read_to_string(data.join("admin.kubeconfig")) {
            let http = client(&k)?;
            if let Ok(r) = http.get(format!("{base}/readyz")).send().await
                && r.status().is_success()
            {
                return Ok(Server { child, base, http });
            }
        }
        if started.elapsed() > Duration::from_secs(60) {
            bail!("server not ready");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// upstream's `config/templates/pod-default.yaml`.
fn pod(name: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "bench"},
        "spec": {"containers": [{
            "name": "pause", "image": "registry.k8s.io/pause:3.10",
            "ports": [{"containerPort": 80}],
            "resources": {
                "limits": {"cpu": "100m", "memory": "500Mi"},
                "requests": {"cpu": "100m", "memory": "500Mi"},
            },
        }]},
    })
}

async fn ready_nodes(s: &Server) -> Result<usize> {
    let v: Value = s
        .http
        .get(format!("{}/api/v1/nodes?resourceVersion=0", s.base))
        .send()
        .await?
        .json()
        .await?;
    Ok(v["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter(|n| {
                    n["status"]["conditions"].as_array().is_some_and(|c| {
                        c.iter()
                            .any(|c| c["type"] == "Ready" && c["status"] == "True")
                    })
                })
                .count()
        })
        .unwrap_or(0))
}

async fn create(s: &Server, names: Vec<String>, clients: usize) -> Result<()> {
    let url = format!("{}/api/v1/namespaces/bench/pods", s.base);
    let results: Vec<Result<()>> = futures::stream::iter(names)
        .map(|name| {
            let (http, url) = (s.http.clone(), url.clone());
            async move {
                let r = http.post(url).json(&pod(&name)).send().await?;
                let status = r.status();
                let body = r.bytes().await?;
                if !status.is_success() {
                    bail!(
                        "create {name}: {status}: {}",
                        String::from_utf8_lossy(&body)
                    );
                }
                Ok(())
            }
        })
        .buffer_unordered(clients)
        .collect()
        .await;
    results.into_iter().collect()
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let tmp = tempfile::tempdir()?;

    // Memory without simulated nodes, for the per-node figure.
    let baseline = {
        let s = start(&args.skiff, tmp.path(), 0).await?;
        tokio::time::sleep(Duration::from_secs(3)).await;
        rss_kib(s.child.id())
    };

    let s = start(&args.skiff, tmp.path(), args.nodes).await?;
    let pid = s.child.id();
    let registering = Instant::now();
    loop {
        let n = ready_nodes(&s).await.unwrap_or(0);
        if n >= args.nodes {
            break;
        }
        if registering.elapsed() > Duration::from_secs(600) {
            bail!("only {n} of {} nodes registered", args.nodes);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let registered = registering.elapsed();
    tokio::time::sleep(Duration::from_secs(10)).await;
    let (cpu0, t0) = (cpu_seconds(pid), Instant::now());
    tokio::time::sleep(Duration::from_secs(args.idle_seconds)).await;
    let idle_cpu = (cpu_seconds(pid) - cpu0) / t0.elapsed().as_secs_f64();
    let idle_rss = rss_kib(pid);

    s.http
        .post(format!("{}/api/v1/namespaces", s.base))
        .json(&json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "bench"}}))
        .send()
        .await?
        .error_for_status()?;
    // Bind times, from a watch opened before the first create.
    let list: Value = s
        .http
        .get(format!("{}/api/v1/namespaces/bench/pods", s.base))
        .send()
        .await?
        .json()
        .await?;
    let rv = list["metadata"]["resourceVersion"]
        .as_str()
        .unwrap_or("0")
        .to_string();
    let bound: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let running: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let resp = s
        .http
        .get(format!(
            "{}/api/v1/namespaces/bench/pods?watch=1&resourceVersion={rv}&allowWatchBookmarks=true",
            s.base
        ))
        .send()
        .await?;
    let watcher = {
        let (bound, running) = (bound.clone(), running.clone());
        tokio::spawn(async move {
            let mut stream = resp.bytes_stream();
            let mut buf = Vec::new();
            while let Some(Ok(chunk)) = stream.next().await {
                buf.extend_from_slice(&chunk);
                while let Some(nl) = buf.iter().position(|b| *b == b'\n') {
                    let line: Vec<u8> = buf.drain(..=nl).collect();
                    let now = Instant::now();
                    let Ok(ev) = serde_json::from_slice::<Value>(&line) else {
                        continue;
                    };
                    let o = &ev["object"];
                    let Some(name) = o["metadata"]["name"].as_str() else {
                        continue;
                    };
                    if o["spec"]["nodeName"].as_str().is_some() {
                        bound.lock().unwrap().entry(name.to_string()).or_insert(now);
                    }
                    if o["status"]["phase"] == "Running" {
                        running
                            .lock()
                            .unwrap()
                            .entry(name.to_string())
                            .or_insert(now);
                    }
                }
            }
        })
    };

    let init: Vec<String> = (0..args.init_pods)
        .map(|i| format!("init-{i:06}"))
        .collect();
    create(&s, init, args.clients).await?;
    let wait_for = |names: usize,
                    map: Arc<Mutex<HashMap<String, Instant>>>,
                    prefix: &'static str| async move {
        let deadline = Instant::now() + Duration::from_secs(600);
        loop {
            let n = map
                .lock()
                .unwrap()
                .keys()
                .filter(|k| k.starts_with(prefix))
                .count();
            if n >= names {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("only {n} of {names} {prefix} pods");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    wait_for(args.init_pods, bound.clone(), "init-").await?;

    let measured: Vec<String> = (0..args.pods).map(|i| format!("pod-{i:06}")).collect();
    let (cpu1, started) = (cpu_seconds(pid), Instant::now());
    create(&s, measured, args.clients).await?;
    let created = started.elapsed();
    wait_for(args.pods, bound.clone(), "pod-").await?;
    let scheduled = started.elapsed();
    let sched_cpu = cpu_seconds(pid) - cpu1;
    wait_for(args.pods, running.clone(), "pod-").await?;
    let all_running = started.elapsed();
    let loaded_rss = rss_kib(pid);
    watcher.abort();

    // Per-second samples of bound pods, as scheduler_perf's throughput collector.
    let times: Vec<Instant> = bound
        .lock()
        .unwrap()
        .iter()
        .filter(|(k, _)| k.starts_with("pod-"))
        .map(|(_, t)| *t)
        .collect();
    let last = times.iter().max().copied().unwrap_or(started);
    let seconds = last.duration_since(started).as_secs_f64().ceil().max(1.0) as usize;
    let mut samples = vec![0f64; seconds];
    for t in &times {
        let i = (t.duration_since(started).as_secs_f64() as usize).min(seconds - 1);
        samples[i] += 1.0;
    }
    samples.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let avg = args.pods as f64 / last.duration_since(started).as_secs_f64();

    println!("| measure | value |");
    println!("|---|---|");
    println!(
        "| nodes registered and Ready | {} in {:.1} s |",
        args.nodes,
        registered.as_secs_f64()
    );
    println!(
        "| memory per 1 000 simulated nodes (idle RSS {:.1} MiB − {:.1} MiB without nodes) | {:.1} MiB |",
        idle_rss as f64 / 1024.0,
        baseline as f64 / 1024.0,
        (idle_rss.saturating_sub(baseline)) as f64 / 1024.0 / (args.nodes as f64 / 1000.0)
    );
    println!(
        "| idle CPU with {} nodes (leases every 10 s) | {:.1} % of one core |",
        args.nodes,
        idle_cpu * 100.0
    );
    println!(
        "| {} pods created ({} clients) | {:.2} s ({:.0}/s) |",
        args.pods,
        args.clients,
        created.as_secs_f64(),
        args.pods as f64 / created.as_secs_f64()
    );
    println!(
        "| all bound (first create → last bind) | {:.2} s |",
        scheduled.as_secs_f64()
    );
    println!("| **SchedulingThroughput average** | **{avg:.0} pods/s** |");
    println!(
        "| per-second samples p50 / p90 / p99 / max | {:.0} / {:.0} / {:.0} / {:.0} pods/s |",
        percentile(&samples, 0.5),
        percentile(&samples, 0.9),
        percentile(&samples, 0.99),
        samples.last().copied().unwrap_or(0.0)
    );
    println!(
        "| all Running on their nodes | {:.2} s |",
        all_running.as_secs_f64()
    );
    println!(
        "| server CPU while creating and scheduling | {:.1} s |",
        sched_cpu
    );
    println!(
        "| RSS with {} pods | {:.1} MiB |",
        args.init_pods + args.pods,
        loaded_rss as f64 / 1024.0
    );
    Ok(())
}
