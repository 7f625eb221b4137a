//! Prometheus metrics with upstream's names: `apiserver_request_total`,
//! `apiserver_request_duration_seconds`, `apiserver_current_inflight_requests`,
//! `apiserver_storage_objects` (sampled), and process metrics.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use crate::ApiServer;
use crate::response::{self, Body};

/// Upstream's request duration buckets (seconds).
const BUCKETS: &[f64] = &[
    0.005, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 1.25, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0,
    10.0, 15.0, 20.0, 30.0, 45.0, 60.0,
];

#[derive(Default)]
struct Histogram {
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

#[derive(Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(String, String, String, u16), u64>>,
    durations: Mutex<BTreeMap<(String, String, String), Histogram>>,
    /// Objects per resource, refreshed by the server's sampler.
    pub storage_objects: Mutex<BTreeMap<String, i64>>,
    /// Consistent LISTs that asked the watch cache, by resource, success
    /// and whether they fell back to the store.
    consistent_reads: Mutex<BTreeMap<(&'static str, bool, bool), u64>>,
    /// Metrics of the components running in this process (the scheduler,
    /// ...), served here as k3s serves them from one registry.
    pub sources: Mutex<Vec<MetricsSource>>,
}

/// Renders a component's metrics in the text format.
pub type MetricsSource = Box<dyn Fn() -> String + Send + Sync>;

impl Metrics {
    pub fn observe(
        &self,
        verb: &str,
        resource: &str,
        scope: &str,
        code: u16,
        took: Duration,
        long_running: bool,
    ) {
        let verb = verb.to_uppercase();
        *self
            .requests
            .lock()
            .expect("poisoned")
            .entry((verb.clone(), resource.to_string(), scope.to_string(), code))
            .or_default() += 1;
        if long_running {
            return;
        }
        let mut d = self.durations.lock().expect("poisoned");
        let h = d
            .entry((verb, resource.to_string(), scope.to_string()))
            .or_insert_with(|| Histogram {
                counts: vec![0; BUCKETS.len()],
                ..Default::default()
            });
        let secs = took.as_secs_f64();
        for (i, b) in BUCKETS.iter().enumerate() {
            if secs <= *b {
                h.counts[i] += 1;
            }
        }
        h.sum += secs;
        h.count += 1;
    }

    /// A consistent LIST that asked the watch cache (`resource` is the
    /// catalogue's plural): served by it, or by the store when the cache
    /// could not show it had caught up (`fallback`), successfully or not.
    pub fn consistent_read(&self, resource: &'static str, success: bool, fallback: bool) {
        *self
            .consistent_reads
            .lock()
            .expect("poisoned")
            .entry((resource, success, fallback))
            .or_default() += 1;
    }

    pub fn render(&self, server: &ApiServer) -> http::Response<Body> {
        let mut out = String::new();
        out.push_str("# HELP apiserver_request_total [STABLE] Counter of apiserver requests broken out for each verb, dry run value, group, version, resource, scope, component, and HTTP response code.\n# TYPE apiserver_request_total counter\n");
        for ((verb, resource, scope, code), n) in self.requests.lock().expect("poisoned").iter() {
            out.push_str(&format!("apiserver_request_total{{code=\"{code}\",component=\"apiserver\",resource=\"{resource}\",scope=\"{scope}\",verb=\"{verb}\"}} {n}\n"));
        }
        out.push_str("# HELP apiserver_request_duration_seconds [STABLE] Response latency distribution in seconds for each verb, dry run value, group, version, resource, subresource, scope and component.\n# TYPE apiserver_request_duration_seconds histogram\n");
        for ((verb, resource, scope), h) in self.durations.lock().expect("poisoned").iter() {
            let labels = format!(
                "component=\"apiserver\",resource=\"{resource}\",scope=\"{scope}\",verb=\"{verb}\""
            );
            for (i, b) in BUCKETS.iter().enumerate() {
                out.push_str(&format!(
                    "apiserver_request_duration_seconds_bucket{{{labels},le=\"{b}\"}} {}\n",
                    h.counts[i]
                ));
            }
            out.push_str(&format!(
                "apiserver_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}\n",
                h.count
            ));
            out.push_str(&format!(
                "apiserver_request_duration_seconds_sum{{{labels}}} {}\n",
                h.sum
            ));
            out.push_str(&format!(
                "apiserver_request_duration_seconds_count{{{labels}}} {}\n",
                h.count
            ));
        }
        out.push_str("# HELP apiserver_current_inflight_requests [STABLE] Maximal number of currently used inflight request limit of this apiserver per request kind in last second.\n# TYPE apiserver_current_inflight_requests gauge\n");
        let o = &server.inner.options;
        out.push_str(&format!(
            "apiserver_current_inflight_requests{{request_kind=\"mutating\"}} {}\napiserver_current_inflight_requests{{request_kind=\"readOnly\"}} {}\n",
            o.max_mutating_requests_inflight - server.inner.inflight_mutating.available_permits(),
            o.max_requests_inflight - server.inner.inflight.available_permits()
        ));
        out.push_str("# HELP apiserver_storage_objects [STABLE] Number of stored objects at the time of last check split by kind.\n# TYPE apiserver_storage_objects gauge\n");
        for (resource, n) in self.storage_objects.lock().expect("poisoned").iter() {
            out.push_str(&format!(
                "apiserver_storage_objects{{resource=\"{resource}\"}} {n}\n"
            ));
        }
        out.push_str("# HELP apiserver_watch_cache_consistent_read_total [ALPHA] Counter for consistent reads from cache.\n# TYPE apiserver_watch_cache_consistent_read_total counter\n");
        for ((resource, success, fallback), n) in
            self.consistent_reads.lock().expect("poisoned").iter()
        {
            out.push_str(&format!(
                "apiserver_watch_cache_consistent_read_total{{fallback=\"{fallback}\",resource=\"/{resource}\",success=\"{success}\"}} {n}\n"
            ));
        }
        let rss = std::fs::read_to_string("/proc/self/statm")
            .ok()
            .and_then(|s| {
                s.split_whitespace()
                    .nth(1)
                    .and_then(|p| p.parse::<u64>().ok())
            })
            .unwrap_or(0)
            * 4096;
        out.push_str(&format!("# HELP process_resident_memory_bytes Resident memory size in bytes.\n# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes {rss}\n"));
        for source in self.sources.lock().expect("poisoned").iter() {
            out.push_str(&source());
        }
        out.push_str(&format!("# HELP process_start_time_seconds Start time of the process since unix epoch in seconds.\n# TYPE process_start_time_seconds gauge\nprocess_start_time_seconds {}\n", server.inner.started_unix));
        response::bytes_response(200, "text/plain; version=0.0.4; charset=utf-8", out)
    }
}
