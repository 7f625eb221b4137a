//! What the benchmark binaries share: the pod every create sends, the
//! admin's HTTPS client, a process's resident memory.

use anyhow::{Context, Result};
use base64::Engine;
use serde_json::{Value, json};

/// A process's resident memory in KiB.
pub fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// A process's CPU time (user + system) in seconds.
pub fn cpu_seconds(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            // Fields after the command name (which may hold spaces).
            let rest = &s[s.rfind(')')? + 2..];
            let f: Vec<&str> = rest.split_whitespace().collect();
            let utime: f64 = f.get(11)?.parse().ok()?;
            let stime: f64 = f.get(12)?.parse().ok()?;
            Some((utime + stime) / 100.0)
        })
        .unwrap_or(0.0)
}

/// An HTTPS client with the admin's certificate from the kubeconfig.
pub fn client(kubeconfig: &str) -> Result<reqwest::Client> {
    let field = |name: &str| -> Result<Vec<u8>> {
        let line = kubeconfig
            .lines()
            .find(|l| l.trim_start().starts_with(name))
            .with_context(|| format!("{name} in kubeconfig"))?;
        Ok(base64::engine::general_purpose::STANDARD
            .decode(line.split(':').nth(1).unwrap_or("").trim())?)
    };
    let ca = reqwest::Certificate::from_pem(&field("certificate-authority-data")?)?;
    let mut identity = field("client-certificate-data")?;
    identity.extend(field("client-key-data")?);
    Ok(reqwest::Client::builder()
        .use_rustls_tls()
        .add_root_certificate(ca)
        .identity(reqwest::Identity::from_pem(&identity)?)
        .pool_max_idle_per_host(256)
        .build()?)
}

/// The body of the `i`th pod the benchmarks create (≈650 bytes, a realistic spec).
pub fn pod(i: usize) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": format!("pod-{i:06}"), "namespace": "bench", "labels": {"app": "bench", "shard": (i % 16).to_string()}},
        "spec": {
            "containers": [{
                "name": "app", "image": "registry.example/app:1.0", "imagePullPolicy": "IfNotPresent",
                "ports": [{"containerPort": 8080, "protocol": "TCP"}],
                "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}},
                "env": [{"name": "MODE", "value": "bench"}],
            }],
            "restartPolicy": "Always", "terminationGracePeriodSeconds": 30, "dnsPolicy": "ClusterFirst",
        },
    })
}
