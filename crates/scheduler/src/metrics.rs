//! The scheduler's Prometheus metrics with upstream's names, buckets and
//! labels (`pkg/scheduler/metrics/metrics.go`): attempts and their
//! durations by result and profile, pending pods by queue, attempts per
//! scheduled pod, the cache's size. Rendered in the text format, served
//! beside the API server's in `skiff server` as k3s does.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;

/// `ExponentialBuckets(start, factor, n)` as upstream computes them.
fn exponential(start: f64, factor: f64, n: usize) -> Vec<f64> {
    let mut b = Vec::with_capacity(n);
    let mut v = start;
    for _ in 0..n {
        b.push(v);
        v *= factor;
    }
    b
}

/// A float as Go's `strconv.FormatFloat(f, 'g', -1, 64)` writes it (as
/// Prometheus' Go client does for `le`): shortest digits, in exponent form
/// below 1e-4 and from 1e6 (`1e-05`, `2.2500000000000005e-05`, `1e+06`).
pub fn go_float(f: f64) -> String {
    if f == 0.0 || !f.is_finite() {
        return format!("{f}");
    }
    let e = format!("{f:e}");
    let (mantissa, exp) = e.split_once('e').unwrap_or((&e, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if (-4..6).contains(&exp) {
        return format!("{f}");
    }
    let sign = if exp < 0 { '-' } else { '+' };
    format!("{mantissa}e{sign}{:02}", exp.abs())
}

#[derive(Clone, Debug)]
struct Histogram {
    buckets: Vec<f64>,
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Histogram {
    fn new(buckets: Vec<f64>) -> Histogram {
        let n = buckets.len();
        Histogram {
            buckets,
            counts: vec![0; n],
            sum: 0.0,
            count: 0,
        }
    }

    fn observe(&mut self, v: f64) {
        for (b, c) in self.buckets.iter().zip(self.counts.iter_mut()) {
            if v <= *b {
                *c += 1;
            }
        }
        self.sum += v;
        self.count += 1;
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let sep = if labels.is_empty() { "" } else { "," };
        for (b, c) in self.buckets.iter().zip(&self.counts) {
            let _ = writeln!(
                out,
                "{name}_bucket{{{labels}{sep}le=\"{}\"}} {c}",
                go_float(*b)
            );
        }
        let _ = writeln!(
            out,
            "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {}",
            self.count
        );
        let braces = if labels.is_empty() {
            String::new()
        } else {
            format!("{{{labels}}}")
        };
        let _ = writeln!(out, "{name}_sum{braces} {}", self.sum);
        let _ = writeln!(out, "{name}_count{braces} {}", self.count);
    }
}

#[derive(Default)]
struct Inner {
    attempts: BTreeMap<(&'static str, String), u64>,
    attempt_durations: BTreeMap<(&'static str, String), Histogram>,
    pod_attempts: Option<Histogram>,
    pending: BTreeMap<&'static str, i64>,
    cache: BTreeMap<&'static str, i64>,
    preemption_attempts: u64,
    plugin_durations: BTreeMap<(&'static str, &'static str, &'static str), Histogram>,
    extension_point_durations: BTreeMap<(&'static str, &'static str, String), Histogram>,
}

/// A status's label (`Success`, `Unschedulable`, ...), as upstream's `Code.String()`.
pub fn status_label(code: crate::framework::Code) -> &'static str {
    use crate::framework::Code;
    match code {
        Code::Success => "Success",
        Code::Error => "Error",
        Code::Unschedulable => "Unschedulable",
        Code::UnschedulableAndUnresolvable => "UnschedulableAndUnresolvable",
        Code::Wait => "Wait",
        Code::Skip => "Skip",
        Code::Pending => "Pending",
    }
}

/// The scheduler's metrics.
#[derive(Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

/// A cycle's outcome (the `result` label).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Scheduled,
    Unschedulable,
    Error,
}

impl Outcome {
    fn label(self) -> &'static str {
        match self {
            Outcome::Scheduled => "scheduled",
            Outcome::Unschedulable => "unschedulable",
            Outcome::Error => "error",
        }
    }
}

impl Metrics {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A scheduling attempt ended (`scheduler_schedule_attempts_total`,
    /// `scheduler_scheduling_attempt_duration_seconds`).
    pub fn attempt(&self, outcome: Outcome, profile: &str, seconds: f64) {
        let mut m = self.lock();
        let key = (outcome.label(), profile.to_string());
        *m.attempts.entry(key.clone()).or_default() += 1;
        m.attempt_durations
            .entry(key)
            .or_insert_with(|| Histogram::new(exponential(0.001, 2.0, 15)))
            .observe(seconds);
    }

    /// A pod was scheduled after `attempts` attempts (`scheduler_pod_scheduling_attempts`).
    pub fn pod_scheduled_after(&self, attempts: u32) {
        self.lock()
            .pod_attempts
            .get_or_insert_with(|| Histogram::new(vec![1.0, 2.0, 4.0, 8.0, 16.0]))
            .observe(f64::from(attempts));
    }

    /// One plugin's run at one extension point
    /// (`scheduler_plugin_execution_duration_seconds`, sampled).
    pub fn plugin(
        &self,
        plugin: &'static str,
        point: &'static str,
        status: &'static str,
        seconds: f64,
    ) {
        self.lock()
            .plugin_durations
            .entry((plugin, point, status))
            .or_insert_with(|| Histogram::new(exponential(0.00001, 1.5, 20)))
            .observe(seconds);
    }

    /// One extension point's run (`scheduler_framework_extension_point_duration_seconds`).
    pub fn extension_point(
        &self,
        point: &'static str,
        status: &'static str,
        profile: &str,
        seconds: f64,
    ) {
        self.lock()
            .extension_point_durations
            .entry((point, status, profile.to_string()))
            .or_insert_with(|| Histogram::new(exponential(0.0001, 2.0, 12)))
            .observe(seconds);
    }

    pub fn preemption_attempt(&self) {
        self.lock().preemption_attempts += 1;
    }

    /// `scheduler_pending_pods` by queue.
    pub fn set_pending(&self, p: crate::queue::Pending) {
        let mut m = self.lock();
        m.pending.insert("active", p.active as i64);
        m.pending.insert("backoff", p.backoff as i64);
        m.pending.insert("unschedulable", p.unschedulable as i64);
        m.pending.insert("gated", p.gated as i64);
    }

    /// `scheduler_cache_size` by type.
    pub fn set_cache_size(&self, nodes: usize, pods: usize, assumed: usize) {
        let mut m = self.lock();
        m.cache.insert("nodes", nodes as i64);
        m.cache.insert("pods", pods as i64);
        m.cache.insert("assumed_pods", assumed as i64);
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let m = self.lock();
        let mut out = String::new();
        out.push_str("# HELP scheduler_schedule_attempts_total [STABLE] Number of attempts to schedule pods, by the result. 'unschedulable' means a pod could not be scheduled, while 'error' means an internal scheduler problem.\n# TYPE scheduler_schedule_attempts_total counter\n");
        for ((result, profile), n) in &m.attempts {
            let _ = writeln!(
                out,
                "scheduler_schedule_attempts_total{{profile=\"{profile}\",result=\"{result}\"}} {n}"
            );
        }
        out.push_str("# HELP scheduler_scheduling_attempt_duration_seconds [STABLE] Scheduling attempt latency in seconds (scheduling algorithm + binding)\n# TYPE scheduler_scheduling_attempt_duration_seconds histogram\n");
        for ((result, profile), h) in &m.attempt_durations {
            h.render(
                &mut out,
                "scheduler_scheduling_attempt_duration_seconds",
                &format!("profile=\"{profile}\",result=\"{result}\""),
            );
        }
        out.push_str("# HELP scheduler_pending_pods [STABLE] Number of pending pods, by the queue type. 'active' means number of pods in activeQ; 'backoff' means number of pods in backoffQ; 'unschedulable' means number of pods in unschedulablePods that the scheduler attempted to schedule and failed; 'gated' is the number of unschedulable pods that the scheduler never attempted to schedule because they are gated.\n# TYPE scheduler_pending_pods gauge\n");
        for (q, n) in &m.pending {
            let _ = writeln!(out, "scheduler_pending_pods{{queue=\"{q}\"}} {n}");
        }
        out.push_str("# HELP scheduler_pod_scheduling_attempts [STABLE] Number of attempts to successfully schedule a pod.\n# TYPE scheduler_pod_scheduling_attempts histogram\n");
        if let Some(h) = &m.pod_attempts {
            h.render(&mut out, "scheduler_pod_scheduling_attempts", "");
        }
        out.push_str("# HELP scheduler_preemption_attempts_total [STABLE] Total preemption attempts in the cluster till now\n# TYPE scheduler_preemption_attempts_total counter\n");
        let _ = writeln!(
            out,
            "scheduler_preemption_attempts_total {}",
            m.preemption_attempts
        );
        out.push_str("# HELP scheduler_framework_extension_point_duration_seconds [STABLE] Latency for running all plugins of a specific extension point.\n# TYPE scheduler_framework_extension_point_duration_seconds histogram\n");
        for ((point, status, profile), h) in &m.extension_point_durations {
            h.render(
                &mut out,
                "scheduler_framework_extension_point_duration_seconds",
                &format!("extension_point=\"{point}\",profile=\"{profile}\",status=\"{status}\""),
            );
        }
        out.push_str("# HELP scheduler_plugin_execution_duration_seconds [ALPHA] Duration for running a plugin at a specific extension point.\n# TYPE scheduler_plugin_execution_duration_seconds histogram\n");
        for ((plugin, point, status), h) in &m.plugin_durations {
            h.render(
                &mut out,
                "scheduler_plugin_execution_duration_seconds",
                &format!("extension_point=\"{point}\",plugin=\"{plugin}\",status=\"{status}\""),
            );
        }
        out.push_str("# HELP scheduler_cache_size [ALPHA] Number of nodes, pods, and assumed (bound) pods in the scheduler cache.\n# TYPE scheduler_cache_size gauge\n");
        for (t, n) in &m.cache {
            let _ = writeln!(out, "scheduler_cache_size{{type=\"{t}\"}} {n}");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_upstreams_names_and_buckets() {
        let m = Metrics::default();
        m.attempt(Outcome::Scheduled, "default-scheduler", 0.0015);
        m.pod_scheduled_after(1);
        let text = m.render();
        assert!(text.contains(
            "scheduler_schedule_attempts_total{profile=\"default-scheduler\",result=\"scheduled\"} 1"
        ));
        assert!(text.contains("scheduler_scheduling_attempt_duration_seconds_bucket{profile=\"default-scheduler\",result=\"scheduled\",le=\"0.001\"} 0"));
        assert!(text.contains("scheduler_scheduling_attempt_duration_seconds_bucket{profile=\"default-scheduler\",result=\"scheduled\",le=\"0.002\"} 1"));
        assert!(text.contains("le=\"16.384\""));
        assert!(text.contains("scheduler_pod_scheduling_attempts_bucket{le=\"1\"} 1"));
        m.plugin("NodeResourcesFit", "Filter", "Success", 0.00002);
        let text = m.render();
        assert!(text.contains("scheduler_plugin_execution_duration_seconds_bucket{extension_point=\"Filter\",plugin=\"NodeResourcesFit\",status=\"Success\",le=\"2.2500000000000005e-05\"} 1"), "{text}");
        assert_eq!(go_float(0.0001), "0.0001");
        assert_eq!(go_float(0.00001), "1e-05");
        assert_eq!(go_float(16.384), "16.384");
        assert_eq!(go_float(1e6), "1e+06");
        assert_eq!(go_float(5242.88), "5242.88");
    }
}
