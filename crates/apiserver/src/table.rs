//! `meta.k8s.io/v1` Table output with upstream's columns for the common kinds
//! (pkg/printers/internalversion/printers.go) and the default Name / Created At
//! table for the rest.

use std::collections::HashMap;

use serde_json::{Value, json};
use skiff_api::meta;
use skiff_api::selector::selector_string;

use crate::registry::Resource;

type Cell = fn(&Value) -> Value;

struct Column {
    name: &'static str,
    kind: &'static str,
    priority: i64,
    cell: Cell,
}

const fn col(name: &'static str, kind: &'static str, priority: i64, cell: Cell) -> Column {
    Column {
        name,
        kind,
        priority,
        cell,
    }
}

fn s(v: &Value, ptr: &str) -> String {
    v.pointer(ptr)
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string()
}

fn i(v: &Value, ptr: &str) -> i64 {
    v.pointer(ptr).and_then(Value::as_i64).unwrap_or(0)
}

fn or_none(s: String) -> Value {
    json!(if s.is_empty() {
        "<none>".to_string()
    } else {
        s
    })
}

/// Upstream's `duration.HumanDuration`.
pub fn human_duration(secs: i64) -> String {
    if secs < -1 {
        return "<invalid>".into();
    }
    if secs < 0 {
        return "0s".into();
    }
    if secs < 120 {
        return format!("{secs}s");
    }
    let minutes = secs / 60;
    if minutes < 10 {
        let s = secs % 60;
        return if s == 0 {
            format!("{minutes}m")
        } else {
            format!("{minutes}m{s}s")
        };
    }
    if minutes < 180 {
        return format!("{minutes}m");
    }
    let hours = secs / 3600;
    if hours < 8 {
        let m = minutes % 60;
        return if m == 0 {
            format!("{hours}h")
        } else {
            format!("{hours}h{m}m")
        };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        let h = hours % 24;
        return if h == 0 {
            format!("{}d", hours / 24)
        } else {
            format!("{}d{h}h", hours / 24)
        };
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    if hours < 24 * 365 * 8 {
        let dy = (hours / 24) % 365;
        return if dy == 0 {
            format!("{}y", hours / 24 / 365)
        } else {
            format!("{}y{dy}d", hours / 24 / 365)
        };
    }
    format!("{}y", hours / 24 / 365)
}

fn since(ts: &str) -> String {
    match chrono::DateTime::parse_from_rfc3339(ts) {
        Ok(t) => human_duration((chrono::Utc::now() - t.with_timezone(&chrono::Utc)).num_seconds()),
        Err(_) => "<unknown>".into(),
    }
}

fn age(v: &Value) -> Value {
    json!(since(&s(v, "/metadata/creationTimestamp")))
}

fn name(v: &Value) -> Value {
    json!(meta::name(v))
}

fn created_at(v: &Value) -> Value {
    json!(s(v, "/metadata/creationTimestamp"))
}

fn arr<'a>(v: &'a Value, ptr: &str) -> &'a [Value] {
    v.pointer(ptr)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

/// Every container's name and image, joined (upstream's
/// layoutContainerCells: one entry per container, empty or not).
fn containers_of(template_spec: &Value) -> (String, String) {
    let cs = arr(template_spec, "/containers");
    let field = |k: &str| {
        cs.iter()
            .map(|c| c.get(k).and_then(Value::as_str).unwrap_or(""))
            .collect::<Vec<_>>()
            .join(",")
    };
    (field("name"), field("image"))
}

// === Pods ===

/// What upstream's printPod computes for a pod's READY, STATUS and RESTARTS:
/// sidecar (always-restarting) init containers count as containers once
/// started, the first unfinished init container names the status, then the
/// last containers' states; a deleted pod is Terminating unless terminal.
struct PodSummary {
    ready: String,
    reason: String,
    restarts: String,
}

fn pod_summary(v: &Value) -> PodSummary {
    let flag = |c: &Value, k: &str| c.get(k).and_then(Value::as_bool) == Some(true);
    let str_at = |c: &Value, p: &str| s(c, p);
    let sidecar = |name: &str| {
        arr(v, "/spec/initContainers").iter().any(|c| {
            c.get("name").and_then(Value::as_str) == Some(name)
                && c.get("restartPolicy").and_then(Value::as_str) == Some("Always")
        })
    };
    let phase = s(v, "/status/phase");
    let mut reason = match s(v, "/status/reason") {
        r if r.is_empty() => phase.clone(),
        r => r,
    };
    if arr(v, "/status/conditions").iter().any(|c| {
        c.get("type").and_then(Value::as_str) == Some("PodScheduled")
            && c.get("reason").and_then(Value::as_str) == Some("SchedulingGated")
    }) {
        reason = "SchedulingGated".into();
    }
    let init_specs = arr(v, "/spec/initContainers");
    let mut total = arr(v, "/spec/containers").len();
    total += init_specs
        .iter()
        .filter(|c| c.get("restartPolicy").and_then(Value::as_str) == Some("Always"))
        .count();
    let mut ready = 0;
    let mut restarts = 0i64;
    let mut sidecar_restarts = 0i64;
    let mut last_restart = String::new();
    let mut last_sidecar_restart = String::new();
    let later = |cur: &mut String, t: String| {
        if !t.is_empty() && (cur.is_empty() || t > *cur) {
            *cur = t;
        }
    };
    let mut initializing = false;
    for (i, c) in arr(v, "/status/initContainerStatuses").iter().enumerate() {
        let name = str_at(c, "/name");
        let count = c.get("restartCount").and_then(Value::as_i64).unwrap_or(0);
        restarts += count;
        let finished = str_at(c, "/lastState/terminated/finishedAt");
        later(&mut last_restart, finished.clone());
        let is_sidecar = sidecar(&name);
        if is_sidecar {
            sidecar_restarts += count;
            later(&mut last_sidecar_restart, finished);
        }
        let term = c.pointer("/state/terminated");
        if term.is_some_and(|t| t.get("exitCode").and_then(Value::as_i64) == Some(0)) {
            continue;
        }
        if is_sidecar && flag(c, "started") {
            if flag(c, "ready") {
                ready += 1;
            }
            continue;
        }
        if let Some(t) = term {
            let r = str_at(t, "/reason");
            reason = if r.is_empty() {
                match t.get("signal").and_then(Value::as_i64) {
                    Some(sig) if sig != 0 => format!("Init:Signal:{sig}"),
                    _ => format!(
                        "Init:ExitCode:{}",
                        t.get("exitCode").and_then(Value::as_i64).unwrap_or(0)
                    ),
                }
            } else {
                format!("Init:{r}")
            };
        } else {
            let waiting = str_at(c, "/state/waiting/reason");
            reason = if !waiting.is_empty() && waiting != "PodInitializing" {
                format!("Init:{waiting}")
            } else {
                format!("Init:{i}/{}", init_specs.len())
            };
        }
        initializing = true;
        break;
    }
    let initialized = arr(v, "/status/conditions").iter().any(|c| {
        c.get("type").and_then(Value::as_str) == Some("Initialized")
            && c.get("status").and_then(Value::as_str) == Some("True")
    });
    if !initializing || initialized {
        restarts = sidecar_restarts;
        last_restart = last_sidecar_restart;
        let mut has_running = false;
        for c in arr(v, "/status/containerStatuses").iter().rev() {
            restarts += c.get("restartCount").and_then(Value::as_i64).unwrap_or(0);
            later(
                &mut last_restart,
                str_at(c, "/lastState/terminated/finishedAt"),
            );
            let waiting = str_at(c, "/state/waiting/reason");
            if !waiting.is_empty() {
                reason = waiting;
            } else if let Some(t) = c.pointer("/state/terminated") {
                let r = str_at(t, "/reason");
                reason = if !r.is_empty() {
                    r
                } else {
                    match t.get("signal").and_then(Value::as_i64) {
                        Some(sig) if sig != 0 => format!("Signal:{sig}"),
                        _ => format!(
                            "ExitCode:{}",
                            t.get("exitCode").and_then(Value::as_i64).unwrap_or(0)
                        ),
                    }
                };
            } else if flag(c, "ready") && c.pointer("/state/running").is_some() {
                has_running = true;
                ready += 1;
            }
        }
        if reason == "Completed" && has_running {
            reason = if arr(v, "/status/conditions").iter().any(|c| {
                c.get("type").and_then(Value::as_str) == Some("Ready")
                    && c.get("status").and_then(Value::as_str) == Some("True")
            }) {
                "Running".into()
            } else {
                "NotReady".into()
            };
        }
    }
    if meta::deletion_timestamp(v).is_some() {
        if s(v, "/status/reason") == "NodeLost" {
            reason = "Unknown".into();
        } else if !matches!(phase.as_str(), "Succeeded" | "Failed") {
            reason = "Terminating".into();
        }
    }
    let restarts = if restarts != 0 && !last_restart.is_empty() {
        format!("{restarts} ({} ago)", since(&last_restart))
    } else {
        restarts.to_string()
    };
    PodSummary {
        ready: format!("{ready}/{total}"),
        reason,
        restarts,
    }
}

fn pod_ready(v: &Value) -> Value {
    json!(pod_summary(v).ready)
}

fn pod_status(v: &Value) -> Value {
    json!(pod_summary(v).reason)
}

fn pod_restarts(v: &Value) -> Value {
    json!(pod_summary(v).restarts)
}

/// A finished pod's row condition, as upstream's printPod sets it.
fn pod_row_conditions(v: &Value) -> Option<Value> {
    match s(v, "/status/phase").as_str() {
        "Succeeded" => Some(
            json!([{"type": "Completed", "status": "True", "reason": "Succeeded", "message": "The pod has completed successfully."}]),
        ),
        "Failed" => Some(
            json!([{"type": "Completed", "status": "True", "reason": "Failed", "message": "The pod failed."}]),
        ),
        _ => None,
    }
}

fn pod_ip(v: &Value) -> Value {
    or_none(s(v, "/status/podIPs/0/ip"))
}

fn pod_node(v: &Value) -> Value {
    or_none(s(v, "/spec/nodeName"))
}

fn pod_nominated(v: &Value) -> Value {
    or_none(s(v, "/status/nominatedNodeName"))
}

fn pod_gates(v: &Value) -> Value {
    let gates = arr(v, "/spec/readinessGates");
    if gates.is_empty() {
        return json!("<none>");
    }
    let ok = gates
        .iter()
        .filter(|g| {
            let t = g.get("conditionType").and_then(Value::as_str).unwrap_or("");
            arr(v, "/status/conditions").iter().any(|c| {
                c.get("type").and_then(Value::as_str) == Some(t)
                    && c.get("status").and_then(Value::as_str) == Some("True")
            })
        })
        .count();
    json!(format!("{ok}/{}", gates.len()))
}

const POD: &[Column] = &[
    col("Name", "string", 0, name),
    col("Ready", "string", 0, pod_ready),
    col("Status", "string", 0, pod_status),
    col("Restarts", "string", 0, pod_restarts),
    col("Age", "string", 0, age),
    col("IP", "string", 1, pod_ip),
    col("Node", "string", 1, pod_node),
    col("Nominated Node", "string", 1, pod_nominated),
    col("Readiness Gates", "string", 1, pod_gates),
];

// === Workloads ===

const DEPLOYMENT: &[Column] = &[
    col("Name", "string", 0, name),
    col("Ready", "string", 0, |v| {
        json!(format!(
            "{}/{}",
            i(v, "/status/readyReplicas"),
            i(v, "/spec/replicas")
        ))
    }),
    col("Up-to-date", "integer", 0, |v| {
        json!(i(v, "/status/updatedReplicas"))
    }),
    col("Available", "integer", 0, |v| {
        json!(i(v, "/status/availableReplicas"))
    }),
    col("Age", "string", 0, age),
    col("Containers", "string", 1, |v| {
        json!(containers_of(v.pointer("/spec/template/spec").unwrap_or(&Value::Null)).0)
    }),
    col("Images", "string", 1, |v| {
        json!(containers_of(v.pointer("/spec/template/spec").unwrap_or(&Value::Null)).1)
    }),
    col("Selector", "string", 1, |v| {
        or_none(selector_string(v.pointer("/spec/selector")))
    }),
];

const REPLICASET: &[Column] = &[
    col("Name", "string", 0, name),
    col("Desired", "integer", 0, |v| json!(i(v, "/spec/replicas"))),
    col("Current", "integer", 0, |v| json!(i(v, "/status/replicas"))),
    col("Ready", "integer", 0, |v| {
        json!(i(v, "/status/readyReplicas"))
    }),
    col("Age", "string", 0, age),
    col("Containers", "string", 1, |v| {
        json!(containers_of(v.pointer("/spec/template/spec").unwrap_or(&Value::Null)).0)
    }),
    col("Images", "string", 1, |v| {
        json!(containers_of(v.pointer("/spec/template/spec").unwrap_or(&Value::Null)).1)
    }),
    col("Selector", "string", 1, |v| {
        or_none(selector_string(v.pointer("/spec/selector")))
    }),
];

const STATEFULSET: &[Column] = &[
    col("Name", "string", 0, name),
    col("Ready", "string", 0, |v| {
        json!(format!(
            "{}/{}",
            i(v, "/status/readyReplicas"),
            i(v, "/spec/replicas")
        ))
    }),
    col("Age", "string", 0, age),
    col("Containers", "string", 1, |v| {
        json!(containers_of(v.pointer("/spec/template/spec").unwrap_or(&Value::Null)).0)
    }),
    col("Images", "string", 1, |v| {
        json!(containers_of(v.pointer("/spec/template/spec").unwrap_or(&Value::Null)).1)
    }),
];

const DAEMONSET: &[Column] = &[
    col("Name", "string", 0, name),
    col("Desired", "integer", 0, |v| {
        json!(i(v, "/status/desiredNumberScheduled"))
    }),
    col("Current", "integer", 0, |v| {
        json!(i(v, "/status/currentNumberScheduled"))
    }),
    col("Ready", "integer", 0, |v| {
        json!(i(v, "/status/numberReady"))
    }),
    col("Up-to-date", "integer", 0, |v| {
        json!(i(v, "/status/updatedNumberScheduled"))
    }),
    col("Available", "integer", 0, |v| {
        json!(i(v, "/status/numberAvailable"))
    }),
    col("Node Selector", "string", 0, |v| {
        let m = v
            .pointer("/spec/template/spec/nodeSelector")
            .and_then(Value::as_object);
        or_none(
            m.map(|m| {
                m.iter()
                    .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .unwrap_or_default(),
        )
    }),
    col("Age", "string", 0, age),
    col("Containers", "string", 1, |v| {
        json!(containers_of(v.pointer("/spec/template/spec").unwrap_or(&Value::Null)).0)
    }),
    col("Images", "string", 1, |v| {
        json!(containers_of(v.pointer("/spec/template/spec").unwrap_or(&Value::Null)).1)
    }),
    col("Selector", "string", 1, |v| {
        or_none(selector_string(v.pointer("/spec/selector")))
    }),
];

fn job_status(v: &Value) -> Value {
    let conds = arr(v, "/status/conditions");
    let has = |t: &str| {
        conds.iter().any(|c| {
            c.get("type").and_then(Value::as_str) == Some(t)
                && c.get("status").and_then(Value::as_str) == Some("True")
        })
    };
    json!(if has("Complete") {
        "Complete"
    } else if has("Failed") {
        "Failed"
    } else if meta::deletion_timestamp(v).is_some() {
        "Terminating"
    } else if has("Suspended") {
        "Suspended"
    } else if has("FailureTarget") {
        "FailureTarget"
    } else {
        "Running"
    })
}

const JOB: &[Column] = &[
    col("Name", "string", 0, name),
    col("Status", "string", 0, job_status),
    col("Completions", "string", 0, |v| {
        let succeeded = i(v, "/status/succeeded");
        match v.pointer("/spec/completions").and_then(Value::as_i64) {
            Some(c) => json!(format!("{succeeded}/{c}")),
            None => match v.pointer("/spec/parallelism").and_then(Value::as_i64) {
                Some(p) if p > 1 => json!(format!("{succeeded}/1 of {p}")),
                _ => json!(format!("{succeeded}/1")),
            },
        }
    }),
    col("Duration", "string", 0, |v| {
        let start = s(v, "/status/startTime");
        if start.is_empty() {
            return json!("");
        }
        let end = s(v, "/status/completionTime");
        let (Ok(a), b) = (
            chrono::DateTime::parse_from_rfc3339(&start),
            chrono::DateTime::parse_from_rfc3339(&end),
        ) else {
            return json!("");
        };
        let secs = match b {
            Ok(b) => (b - a).num_seconds(),
            Err(_) => (chrono::Utc::now() - a.with_timezone(&chrono::Utc)).num_seconds(),
        };
        json!(human_duration(secs))
    }),
    col("Age", "string", 0, age),
    col("Containers", "string", 1, |v| {
        json!(containers_of(v.pointer("/spec/template/spec").unwrap_or(&Value::Null)).0)
    }),
    col("Images", "string", 1, |v| {
        json!(containers_of(v.pointer("/spec/template/spec").unwrap_or(&Value::Null)).1)
    }),
    col("Selector", "string", 1, |v| {
        or_none(selector_string(v.pointer("/spec/selector")))
    }),
];

const CRONJOB: &[Column] = &[
    col("Name", "string", 0, name),
    col("Schedule", "string", 0, |v| json!(s(v, "/spec/schedule"))),
    col("Timezone", "string", 0, |v| or_none(s(v, "/spec/timeZone"))),
    // Declared boolean, printed as text (upstream's printCronJob).
    col("Suspend", "boolean", 0, |v| {
        json!(match v.pointer("/spec/suspend").and_then(Value::as_bool) {
            Some(true) => "True",
            Some(false) => "False",
            None => "<unset>",
        })
    }),
    col("Active", "integer", 0, |v| {
        json!(arr(v, "/status/active").len())
    }),
    col("Last Schedule", "string", 0, |v| {
        let t = s(v, "/status/lastScheduleTime");
        json!(if t.is_empty() {
            "<none>".into()
        } else {
            since(&t)
        })
    }),
    col("Age", "string", 0, age),
    col("Containers", "string", 1, |v| {
        let spec = v.pointer("/spec/jobTemplate/spec/template/spec");
        json!(containers_of(spec.unwrap_or(&Value::Null)).0)
    }),
    col("Images", "string", 1, |v| {
        let spec = v.pointer("/spec/jobTemplate/spec/template/spec");
        json!(containers_of(spec.unwrap_or(&Value::Null)).1)
    }),
    col("Selector", "string", 1, |v| {
        or_none(selector_string(
            v.pointer("/spec/jobTemplate/spec/selector"),
        ))
    }),
];

// === Services and networking ===

fn service_external_ip(v: &Value) -> Value {
    let ty = s(v, "/spec/type");
    let external: Vec<String> = arr(v, "/spec/externalIPs")
        .iter()
        .filter_map(|x| x.as_str().map(String::from))
        .collect();
    // loadBalancerStatusStringer: each ingress's IP (else hostname), as a
    // sorted set.
    let ingress: Vec<String> = arr(v, "/status/loadBalancer/ingress")
        .iter()
        .filter_map(|i| {
            [s(i, "/ip"), s(i, "/hostname")]
                .into_iter()
                .find(|x| !x.is_empty())
        })
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    json!(match ty.as_str() {
        "ClusterIP" | "" | "NodePort" => {
            if external.is_empty() {
                "<none>".to_string()
            } else {
                external.join(",")
            }
        }
        "LoadBalancer" => {
            let mut all = ingress;
            all.extend(external);
            if all.is_empty() {
                "<pending>".to_string()
            } else {
                all.join(",")
            }
        }
        "ExternalName" => s(v, "/spec/externalName"),
        _ => "<unknown>".to_string(),
    })
}

/// A value, or `<unknown>` when empty.
fn unknown(s: String) -> Value {
    json!(if s.is_empty() {
        "<unknown>".to_string()
    } else {
        s
    })
}

fn service_ports(v: &Value) -> Value {
    let ports: Vec<String> = arr(v, "/spec/ports")
        .iter()
        .map(|p| {
            let port = p.get("port").and_then(Value::as_i64).unwrap_or(0);
            let proto = p.get("protocol").and_then(Value::as_str).unwrap_or("TCP");
            match p.get("nodePort").and_then(Value::as_i64) {
                Some(np) if np != 0 => format!("{port}:{np}/{proto}"),
                _ => format!("{port}/{proto}"),
            }
        })
        .collect();
    or_none(ports.join(","))
}

const SERVICE: &[Column] = &[
    col("Name", "string", 0, name),
    col("Type", "string", 0, |v| json!(s(v, "/spec/type"))),
    col("Cluster-IP", "string", 0, |v| {
        or_none(s(v, "/spec/clusterIP"))
    }),
    col("External-IP", "string", 0, service_external_ip),
    col("Port(s)", "string", 0, service_ports),
    col("Age", "string", 0, age),
    col("Selector", "string", 1, |v| {
        or_none(selector_string(v.pointer("/spec/selector")))
    }),
];

/// Upstream's formatEndpoints: per subset, per port, per address (ports
/// first), `host:port` with IPv6 in brackets, three at most and how many more.
fn format_endpoints(v: &Value) -> Value {
    let subsets = arr(v, "/subsets");
    if subsets.is_empty() {
        return json!("<none>");
    }
    let (mut list, mut more, mut count) = (Vec::new(), false, 0usize);
    for ss in subsets {
        let addresses = arr(ss, "/addresses");
        let ports = arr(ss, "/ports");
        if ports.is_empty() {
            count += addresses.len();
            for a in addresses {
                if list.len() == 3 {
                    more = true;
                    break;
                }
                list.push(s(a, "/ip"));
            }
            continue;
        }
        for p in ports {
            count += addresses.len();
            for a in addresses {
                if list.len() == 3 {
                    more = true;
                    break;
                }
                let port = p.get("port").and_then(Value::as_i64).unwrap_or(0);
                list.push(join_host_port(&s(a, "/ip"), port));
            }
        }
    }
    let joined = list.join(",");
    json!(if more {
        format!("{joined} + {} more...", count - 3)
    } else {
        joined
    })
}

/// Go's `net.JoinHostPort`.
fn join_host_port(host: &str, port: i64) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

const ENDPOINTS: &[Column] = &[
    col("Name", "string", 0, name),
    col("Endpoints", "string", 0, format_endpoints),
    col("Age", "string", 0, age),
];

const INGRESS: &[Column] = &[
    col("Name", "string", 0, name),
    col("Class", "string", 0, |v| {
        or_none(s(v, "/spec/ingressClassName"))
    }),
    // formatHosts: the first three rules' hosts, then how many more rules.
    col("Hosts", "string", 0, |v| {
        let rules = arr(v, "/spec/rules");
        let mut list: Vec<String> = Vec::new();
        let mut more = false;
        for r in rules {
            if list.len() == 3 {
                more = true;
            }
            let host = s(r, "/host");
            if !more && !host.is_empty() {
                list.push(host);
            }
        }
        json!(if list.is_empty() {
            "*".to_string()
        } else if more {
            format!("{} + {} more...", list.join(","), rules.len() - 3)
        } else {
            list.join(",")
        })
    }),
    // The load balancer's addresses as a sorted set.
    col("Address", "string", 0, |v| {
        let a: std::collections::BTreeSet<String> = arr(v, "/status/loadBalancer/ingress")
            .iter()
            .filter_map(|i| {
                [s(i, "/ip"), s(i, "/hostname")]
                    .into_iter()
                    .find(|x| !x.is_empty())
            })
            .collect();
        json!(a.into_iter().collect::<Vec<_>>().join(","))
    }),
    col("Ports", "string", 0, |v| {
        json!(if arr(v, "/spec/tls").is_empty() {
            "80"
        } else {
            "80, 443"
        })
    }),
    col("Age", "string", 0, age),
];

// === Cluster ===

fn node_status(v: &Value) -> Value {
    let mut out: Vec<String> = Vec::new();
    let ready = arr(v, "/status/conditions")
        .iter()
        .find(|c| c.get("type").and_then(Value::as_str) == Some("Ready"));
    out.push(
        match ready.and_then(|c| c.get("status").and_then(Value::as_str)) {
            Some("True") => "Ready".into(),
            _ => "NotReady".into(),
        },
    );
    if ready.is_none() {
        out[0] = "Unknown".into();
    }
    if v.pointer("/spec/unschedulable").and_then(Value::as_bool) == Some(true) {
        out.push("SchedulingDisabled".into());
    }
    json!(out.join(","))
}

fn node_roles(v: &Value) -> Value {
    let mut roles: Vec<String> = meta::labels(v)
        .map(|l| {
            l.iter()
                .filter_map(|(k, val)| {
                    if let Some(r) = k.strip_prefix("node-role.kubernetes.io/") {
                        Some(r.to_string())
                    } else if k == "kubernetes.io/role" {
                        val.as_str().map(String::from)
                    } else {
                        None
                    }
                })
                .filter(|r| !r.is_empty())
                .collect()
        })
        .unwrap_or_default();
    roles.sort();
    or_none(roles.join(","))
}

fn node_address(v: &Value, kind: &str) -> Value {
    or_none(
        arr(v, "/status/addresses")
            .iter()
            .find(|a| a.get("type").and_then(Value::as_str) == Some(kind))
            .and_then(|a| a.get("address").and_then(Value::as_str))
            .unwrap_or("")
            .to_string(),
    )
}

const NODE: &[Column] = &[
    col("Name", "string", 0, name),
    col("Status", "string", 0, node_status),
    col("Roles", "string", 0, node_roles),
    col("Age", "string", 0, age),
    col("Version", "string", 0, |v| {
        json!(s(v, "/status/nodeInfo/kubeletVersion"))
    }),
    col("Internal-IP", "string", 1, |v| {
        node_address(v, "InternalIP")
    }),
    col("External-IP", "string", 1, |v| {
        node_address(v, "ExternalIP")
    }),
    col("OS-Image", "string", 1, |v| {
        unknown(s(v, "/status/nodeInfo/osImage"))
    }),
    col("Kernel-Version", "string", 1, |v| {
        unknown(s(v, "/status/nodeInfo/kernelVersion"))
    }),
    col("Container-Runtime", "string", 1, |v| {
        unknown(s(v, "/status/nodeInfo/containerRuntimeVersion"))
    }),
];

const NAMESPACE: &[Column] = &[
    col("Name", "string", 0, name),
    col("Status", "string", 0, |v| json!(s(v, "/status/phase"))),
    col("Age", "string", 0, age),
];

fn data_count(v: &Value) -> Value {
    let n = v
        .get("data")
        .and_then(Value::as_object)
        .map_or(0, |m| m.len())
        + v.get("binaryData")
            .and_then(Value::as_object)
            .map_or(0, |m| m.len());
    json!(n)
}

const CONFIGMAP: &[Column] = &[
    col("Name", "string", 0, name),
    col("Data", "integer", 0, data_count),
    col("Age", "string", 0, age),
];

const SECRET: &[Column] = &[
    col("Name", "string", 0, name),
    col("Type", "string", 0, |v| json!(s(v, "/type"))),
    col("Data", "integer", 0, |v| {
        json!(
            v.get("data")
                .and_then(Value::as_object)
                .map_or(0, |m| m.len())
        )
    }),
    col("Age", "string", 0, age),
];

const SERVICEACCOUNT: &[Column] = &[
    col("Name", "string", 0, name),
    col("Secrets", "integer", 0, |v| json!(arr(v, "/secrets").len())),
    col("Age", "string", 0, age),
];

fn event_object(v: &Value) -> Value {
    let kind = s(v, "/involvedObject/kind").to_lowercase();
    let name = s(v, "/involvedObject/name");
    json!(if name.is_empty() {
        kind
    } else {
        format!("{kind}/{name}")
    })
}

/// Upstream's printEvent times: first seen from firstTimestamp (else
/// eventTime), last seen from lastTimestamp (else first seen), a series'
/// last observation over both.
fn event_first_seen(v: &Value) -> Value {
    let t = [s(v, "/firstTimestamp"), s(v, "/eventTime")]
        .into_iter()
        .find(|t| !t.is_empty());
    json!(t.map_or_else(|| "<unknown>".to_string(), |t| since(&t)))
}

fn event_last_seen(v: &Value) -> Value {
    let series = s(v, "/series/lastObservedTime");
    if !series.is_empty() {
        return json!(since(&series));
    }
    match s(v, "/lastTimestamp") {
        t if t.is_empty() => event_first_seen(v),
        t => json!(since(&t)),
    }
}

fn event_count(v: &Value) -> Value {
    if v.get("series").is_some_and(|s| !s.is_null()) {
        return json!(i(v, "/series/count"));
    }
    json!(match i(v, "/count") {
        0 => 1,
        n => n,
    })
}

fn event_source(v: &Value) -> Value {
    let component = [s(v, "/source/component"), s(v, "/reportingComponent")]
        .into_iter()
        .find(|c| !c.is_empty())
        .unwrap_or_default();
    let host = [s(v, "/source/host"), s(v, "/reportingInstance")]
        .into_iter()
        .find(|h| !h.is_empty())
        .unwrap_or_default();
    json!(if host.is_empty() {
        component
    } else {
        format!("{component}, {host}")
    })
}

const EVENT: &[Column] = &[
    col("Last Seen", "string", 0, event_last_seen),
    col("Type", "string", 0, |v| json!(s(v, "/type"))),
    col("Reason", "string", 0, |v| json!(s(v, "/reason"))),
    col("Object", "string", 0, event_object),
    col("Subobject", "string", 1, |v| {
        json!(s(v, "/involvedObject/fieldPath"))
    }),
    col("Source", "string", 1, event_source),
    col("Message", "string", 0, |v| json!(s(v, "/message").trim())),
    col("First Seen", "string", 1, event_first_seen),
    col("Count", "string", 1, event_count),
    col("Name", "string", 1, name),
];

const PVC: &[Column] = &[
    col("Name", "string", 0, name),
    col("Status", "string", 0, |v| json!(s(v, "/status/phase"))),
    col("Volume", "string", 0, |v| json!(s(v, "/spec/volumeName"))),
    col("Capacity", "string", 0, |v| {
        json!(s(v, "/status/capacity/storage"))
    }),
    col("Access Modes", "string", 0, |v| {
        json!(access_modes(arr(v, "/status/accessModes")))
    }),
    col("StorageClass", "string", 0, |v| {
        json!(s(v, "/spec/storageClassName"))
    }),
    col("VolumeAttributesClass", "string", 0, |v| {
        unset(s(v, "/spec/volumeAttributesClassName"))
    }),
    col("Age", "string", 0, age),
    col("VolumeMode", "string", 1, |v| {
        unset(s(v, "/spec/volumeMode"))
    }),
];

/// A value, or `<unset>` when empty.
fn unset(s: String) -> Value {
    json!(if s.is_empty() {
        "<unset>".to_string()
    } else {
        s
    })
}

fn access_modes(modes: &[Value]) -> String {
    modes
        .iter()
        .filter_map(Value::as_str)
        .map(|m| match m {
            "ReadWriteOnce" => "RWO",
            "ReadOnlyMany" => "ROX",
            "ReadWriteMany" => "RWX",
            "ReadWriteOncePod" => "RWOP",
            other => other,
        })
        .collect::<Vec<_>>()
        .join(",")
}

// === More kinds ===

fn int_or_str(v: &Value, ptr: &str) -> Value {
    match v.pointer(ptr) {
        Some(Value::Number(n)) => json!(n.to_string()),
        Some(Value::String(s)) => json!(s),
        _ => json!("N/A"),
    }
}

const PRIORITYCLASS: &[Column] = &[
    col("Name", "string", 0, name),
    col("Value", "integer", 0, |v| json!(i(v, "/value"))),
    col("Global-Default", "boolean", 0, |v| {
        json!(
            v.get("globalDefault")
                .and_then(Value::as_bool)
                .unwrap_or(false)
        )
    }),
    col("Age", "string", 0, age),
    col("PreemptionPolicy", "string", 0, |v| {
        json!(s(v, "/preemptionPolicy"))
    }),
];

/// Upstream's `formatHPAMetrics` over the internal (v2-shaped) metrics: an
/// autoscaling/v1 object's CPU target is its one Resource metric.
fn hpa_targets(v: &Value) -> Value {
    if let Some(t) = v
        .pointer("/spec/targetCPUUtilizationPercentage")
        .and_then(Value::as_i64)
    {
        let current = v
            .pointer("/status/currentCPUUtilizationPercentage")
            .and_then(Value::as_i64)
            .map_or("<unknown>".to_string(), |c| format!("{c}%"));
        return json!(format!("cpu: {current}/{t}%"));
    }
    let metrics = arr(v, "/spec/metrics");
    if metrics.is_empty() {
        return json!("<none>");
    }
    let statuses = arr(v, "/status/currentMetrics");
    const MAX: usize = 2;
    let list: Vec<String> = metrics
        .iter()
        .enumerate()
        .map(|(i, spec)| hpa_metric(spec, statuses.get(i)))
        .collect();
    let mut out = list[..list.len().min(MAX)].join(", ");
    if list.len() > MAX {
        out.push_str(&format!(" + {} more...", list.len() - MAX));
    }
    json!(out)
}

/// One metric of `formatHPAMetrics`: `current/target`, the resource's name
/// first for Resource and ContainerResource metrics, `(avg)` after an
/// External or Object average value.
fn hpa_metric(spec: &Value, status: Option<&Value>) -> String {
    // A quantity as Go's `(*Quantity).String` prints it (stored canonical).
    let quantity = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or("<nil>").to_string();
    let ty = spec.get("type").and_then(Value::as_str).unwrap_or("");
    let field = match ty {
        "External" => "external",
        "Pods" => "pods",
        "Object" => "object",
        "Resource" => "resource",
        "ContainerResource" => "containerResource",
        _ => return "<unknown type>".into(),
    };
    let target = spec
        .pointer(&format!("/{field}/target"))
        .unwrap_or(&Value::Null);
    let current = status
        .and_then(|s| s.get(field))
        .filter(|c| !c.is_null())
        .map(|c| c.get("current").unwrap_or(&Value::Null));
    let average = target.get("averageValue").filter(|a| !a.is_null());
    match ty {
        "External" | "Object" => match average {
            Some(avg) => {
                let cur = current
                    .and_then(|c| c.get("averageValue"))
                    .map_or("<unknown>".into(), |a| quantity(Some(a)));
                format!("{cur}/{} (avg)", quantity(Some(avg)))
            }
            None => {
                let cur = current.map_or("<unknown>".into(), |c| quantity(c.get("value")));
                format!("{cur}/{}", quantity(target.get("value")))
            }
        },
        "Pods" => {
            let cur = current.map_or("<unknown>".into(), |c| quantity(c.get("averageValue")));
            format!("{cur}/{}", quantity(average))
        }
        _ => {
            let name = spec
                .pointer(&format!("/{field}/name"))
                .and_then(Value::as_str)
                .unwrap_or("");
            match average {
                Some(avg) => {
                    let cur =
                        current.map_or("<unknown>".into(), |c| quantity(c.get("averageValue")));
                    format!("{name}: {cur}/{}", quantity(Some(avg)))
                }
                None => {
                    let percent =
                        |v: Option<&Value>| v.and_then(Value::as_i64).map(|p| format!("{p}%"));
                    let cur = current
                        .and_then(|c| percent(c.get("averageUtilization")))
                        .unwrap_or_else(|| "<unknown>".into());
                    let tgt = percent(target.get("averageUtilization"))
                        .unwrap_or_else(|| "<auto>".into());
                    format!("{name}: {cur}/{tgt}")
                }
            }
        }
    }
}

const HPA: &[Column] = &[
    col("Name", "string", 0, name),
    col("Reference", "string", 0, |v| {
        json!(format!(
            "{}/{}",
            s(v, "/spec/scaleTargetRef/kind"),
            s(v, "/spec/scaleTargetRef/name")
        ))
    }),
    col("Targets", "string", 0, hpa_targets),
    col("MinPods", "string", 0, |v| {
        json!(
            v.pointer("/spec/minReplicas")
                .and_then(Value::as_i64)
                .map_or("<unset>".to_string(), |m| m.to_string())
        )
    }),
    col("MaxPods", "string", 0, |v| json!(i(v, "/spec/maxReplicas"))),
    col("Replicas", "string", 0, |v| {
        json!(i(v, "/status/currentReplicas"))
    }),
    col("Age", "string", 0, age),
];

const PV: &[Column] = &[
    col("Name", "string", 0, name),
    col("Capacity", "string", 0, |v| {
        json!(s(v, "/spec/capacity/storage"))
    }),
    col("Access Modes", "string", 0, |v| {
        json!(access_modes(arr(v, "/spec/accessModes")))
    }),
    col("Reclaim Policy", "string", 0, |v| {
        json!(s(v, "/spec/persistentVolumeReclaimPolicy"))
    }),
    col("Status", "string", 0, |v| json!(s(v, "/status/phase"))),
    col("Claim", "string", 0, |v| {
        let n = s(v, "/spec/claimRef/name");
        json!(if n.is_empty() {
            String::new()
        } else {
            format!("{}/{n}", s(v, "/spec/claimRef/namespace"))
        })
    }),
    col("StorageClass", "string", 0, |v| {
        json!(s(v, "/spec/storageClassName"))
    }),
    col("VolumeAttributesClass", "string", 0, |v| {
        unset(s(v, "/spec/volumeAttributesClassName"))
    }),
    col("Reason", "string", 0, |v| json!(s(v, "/status/reason"))),
    col("Age", "string", 0, age),
    col("VolumeMode", "string", 1, |v| {
        unset(s(v, "/spec/volumeMode"))
    }),
];

const BINDING: &[Column] = &[
    col("Name", "string", 0, name),
    col("Role", "string", 0, |v| {
        json!(format!(
            "{}/{}",
            s(v, "/roleRef/kind"),
            s(v, "/roleRef/name")
        ))
    }),
    col("Age", "string", 0, age),
    col("Users", "string", 1, |v| json!(subjects(v, "User"))),
    col("Groups", "string", 1, |v| json!(subjects(v, "Group"))),
    col("ServiceAccounts", "string", 1, |v| {
        json!(subjects(v, "ServiceAccount"))
    }),
];

/// A binding's subjects of one kind, joined as upstream's printer does
/// (service accounts as namespace/name).
fn subjects(v: &Value, kind: &str) -> String {
    arr(v, "/subjects")
        .iter()
        .filter(|sub| sub.get("kind").and_then(Value::as_str) == Some(kind))
        .map(|sub| {
            let name = s(sub, "/name");
            if kind == "ServiceAccount" {
                format!("{}/{name}", s(sub, "/namespace"))
            } else {
                name
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

const PDB: &[Column] = &[
    col("Name", "string", 0, name),
    col("Min Available", "string", 0, |v| {
        int_or_str(v, "/spec/minAvailable")
    }),
    col("Max Unavailable", "string", 0, |v| {
        int_or_str(v, "/spec/maxUnavailable")
    }),
    col("Allowed Disruptions", "integer", 0, |v| {
        json!(i(v, "/status/disruptionsAllowed"))
    }),
    col("Age", "string", 0, age),
];

const LEASE: &[Column] = &[
    col("Name", "string", 0, name),
    col("Holder", "string", 0, |v| {
        json!(s(v, "/spec/holderIdentity"))
    }),
    col("Age", "string", 0, age),
];

const STORAGECLASS: &[Column] = &[
    col("Name", "string", 0, |v| {
        let default = meta::metadata(v)
            .and_then(|m| m.get("annotations"))
            .is_some_and(|a| {
                // storageutil.IsDefaultAnnotation: the GA or the beta annotation.
                [
                    "storageclass.kubernetes.io/is-default-class",
                    "storageclass.beta.kubernetes.io/is-default-class",
                ]
                .iter()
                .any(|k| a.get(*k).and_then(Value::as_str) == Some("true"))
            });
        json!(if default {
            format!("{} (default)", meta::name(v))
        } else {
            meta::name(v).to_string()
        })
    }),
    col("Provisioner", "string", 0, |v| json!(s(v, "/provisioner"))),
    col("ReclaimPolicy", "string", 0, |v| {
        json!(
            v.get("reclaimPolicy")
                .and_then(Value::as_str)
                .unwrap_or("Delete")
        )
    }),
    col("VolumeBindingMode", "string", 0, |v| {
        json!(
            v.get("volumeBindingMode")
                .and_then(Value::as_str)
                .unwrap_or("Immediate")
        )
    }),
    col("AllowVolumeExpansion", "string", 0, |v| {
        json!(
            v.get("allowVolumeExpansion")
                .and_then(Value::as_bool)
                .unwrap_or(false)
        )
    }),
    col("Age", "string", 0, age),
];

const ENDPOINTSLICE: &[Column] = &[
    col("Name", "string", 0, name),
    col("AddressType", "string", 0, |v| json!(s(v, "/addressType"))),
    col("Ports", "string", 0, |v| {
        // formatDiscoveryPorts: the number, else the name, else `*`; three
        // at most, then how many more.
        let ports = arr(v, "/ports");
        let mut out = ports
            .iter()
            .take(3)
            .map(|p| {
                match (
                    p.get("port").and_then(Value::as_i64),
                    p.get("name").and_then(Value::as_str),
                ) {
                    (Some(n), _) => n.to_string(),
                    (None, Some(name)) => name.to_string(),
                    (None, None) => "*".to_string(),
                }
            })
            .collect::<Vec<_>>()
            .join(",");
        if ports.len() > 3 {
            out.push_str(&format!(" + {} more...", ports.len() - 3));
        }
        json!(if out.is_empty() {
            "<unset>".to_string()
        } else {
            out
        })
    }),
    col("Endpoints", "string", 0, |v| {
        let addrs: Vec<String> = arr(v, "/endpoints")
            .iter()
            .flat_map(|e| {
                arr(e, "/addresses")
                    .iter()
                    .filter_map(|a| a.as_str().map(String::from))
                    .collect::<Vec<_>>()
            })
            .collect();
        let more = addrs.len().saturating_sub(3);
        let mut out = addrs.into_iter().take(3).collect::<Vec<_>>().join(",");
        if more > 0 {
            out.push_str(&format!(" + {more} more..."));
        }
        json!(if out.is_empty() {
            "<unset>".to_string()
        } else {
            out
        })
    }),
    col("Age", "string", 0, age),
];

/// Upstream's `printFlowSchema`.
const FLOWSCHEMA: &[Column] = &[
    col("Name", "string", 0, name),
    col("PriorityLevel", "string", 0, |v| {
        json!(s(v, "/spec/priorityLevelConfiguration/name"))
    }),
    col("MatchingPrecedence", "string", 0, |v| {
        json!(i(v, "/spec/matchingPrecedence"))
    }),
    col("DistinguisherMethod", "string", 0, |v| {
        or_none(s(v, "/spec/distinguisherMethod/type"))
    }),
    col("Age", "string", 0, age),
    col("MissingPL", "string", 0, |v| {
        let dangling = arr(v, "/status/conditions")
            .iter()
            .find(|c| c["type"] == "Dangling")
            .and_then(|c| c["status"].as_str().map(String::from));
        json!(dangling.unwrap_or_else(|| "?".into()))
    }),
];

/// A PriorityLevelConfiguration's limited number at `ptr`, or `<none>`.
fn limited(v: &Value, ptr: &str) -> Value {
    match v.pointer(ptr) {
        Some(n) if n.is_number() => n.clone(),
        _ => json!("<none>"),
    }
}

/// Upstream's `printPriorityLevelConfiguration`.
const PRIORITYLEVEL: &[Column] = &[
    col("Name", "string", 0, name),
    col("Type", "string", 0, |v| json!(s(v, "/spec/type"))),
    col("NominalConcurrencyShares", "string", 0, |v| {
        limited(v, "/spec/limited/nominalConcurrencyShares")
    }),
    col("Queues", "string", 0, |v| {
        limited(v, "/spec/limited/limitResponse/queuing/queues")
    }),
    col("HandSize", "string", 0, |v| {
        limited(v, "/spec/limited/limitResponse/queuing/handSize")
    }),
    col("QueueLengthLimit", "string", 0, |v| {
        limited(v, "/spec/limited/limitResponse/queuing/queueLengthLimit")
    }),
    col("Age", "string", 0, age),
];

const INGRESSCLASS: &[Column] = &[
    col("Name", "string", 0, name),
    col("Controller", "string", 0, |v| {
        json!(s(v, "/spec/controller"))
    }),
    col("Parameters", "string", 0, |v| {
        // `Kind[.apiGroup]/name`, or `<none>` without parameters.
        let Some(p) = v.pointer("/spec/parameters").filter(|p| p.is_object()) else {
            return json!("<none>");
        };
        let mut out = s(p, "/kind");
        if let Some(group) = p.get("apiGroup").and_then(Value::as_str) {
            out.push('.');
            out.push_str(group);
        }
        json!(format!("{out}/{}", s(p, "/name")))
    }),
    col("Age", "string", 0, age),
];

const NETWORKPOLICY: &[Column] = &[
    col("Name", "string", 0, name),
    col("Pod-Selector", "string", 0, |v| {
        let sel = selector_string(v.pointer("/spec/podSelector"));
        json!(if sel.is_empty() {
            "<none>".to_string()
        } else {
            sel
        })
    }),
    col("Age", "string", 0, age),
];

const RUNTIMECLASS: &[Column] = &[
    col("Name", "string", 0, name),
    col("Handler", "string", 0, |v| json!(s(v, "/handler"))),
    col("Age", "string", 0, age),
];

const CONTROLLERREVISION: &[Column] = &[
    col("Name", "string", 0, name),
    col("Controller", "string", 0, |v| {
        let owner = arr(v, "/metadata/ownerReferences")
            .iter()
            .find(|o| o.get("controller").and_then(Value::as_bool) == Some(true));
        json!(owner.map_or("<none>".to_string(), |o| {
            // formatResourceName: the lower-cased GroupKind (`daemonset.apps`).
            let kind = o.get("kind").and_then(Value::as_str).unwrap_or("");
            let api_version = o.get("apiVersion").and_then(Value::as_str).unwrap_or("");
            let group = api_version.rsplit_once('/').map_or("", |(g, _)| g);
            let name = o.get("name").and_then(Value::as_str).unwrap_or("");
            match (kind, group) {
                ("", "") => name.to_string(),
                (k, "") => format!("{}/{name}", k.to_lowercase()),
                (k, g) => format!("{}/{name}", format!("{k}.{g}").to_lowercase()),
            }
        }))
    }),
    col("Revision", "string", 0, |v| json!(i(v, "/revision"))),
    col("Age", "string", 0, age),
];

const WEBHOOKCONFIG: &[Column] = &[
    col("Name", "string", 0, name),
    col("Webhooks", "integer", 0, |v| {
        json!(arr(v, "/webhooks").len())
    }),
    col("Age", "string", 0, age),
];

const APISERVICE: &[Column] = &[
    col("Name", "string", 0, name),
    col("Service", "string", 0, |v| {
        let n = s(v, "/spec/service/name");
        json!(if n.is_empty() {
            "Local".to_string()
        } else {
            format!("{}/{n}", s(v, "/spec/service/namespace"))
        })
    }),
    col("Available", "string", 0, |v| {
        let c = arr(v, "/status/conditions")
            .iter()
            .find(|c| c.get("type").and_then(Value::as_str) == Some("Available"));
        // kube-aggregator's ConvertToTable: the reason only when there is one.
        let status = c.and_then(|c| c.get("status")).and_then(Value::as_str);
        let reason = c
            .and_then(|c| c.get("reason"))
            .and_then(Value::as_str)
            .unwrap_or("");
        json!(match status {
            Some("True") => "True".to_string(),
            Some("False") if reason.is_empty() => "False".to_string(),
            Some("False") => format!("False ({reason})"),
            _ => "Unknown".to_string(),
        })
    }),
    col("Age", "string", 0, age),
];

const CSR: &[Column] = &[
    col("Name", "string", 0, name),
    col("Age", "string", 0, age),
    col("SignerName", "string", 0, |v| {
        or_none(s(v, "/spec/signerName"))
    }),
    col("Requestor", "string", 0, |v| json!(s(v, "/spec/username"))),
    col("RequestedDuration", "string", 0, |v| {
        json!(
            v.pointer("/spec/expirationSeconds")
                .and_then(Value::as_i64)
                .map_or("<none>".to_string(), human_duration)
        )
    }),
    col("Condition", "string", 0, |v| {
        // extractCSRStatus: Denied over Approved over Pending, then Failed
        // and Issued.
        let conds = arr(v, "/status/conditions");
        let has = |t: &str| {
            conds
                .iter()
                .any(|c| c.get("type").and_then(Value::as_str) == Some(t))
        };
        let mut status = if has("Denied") {
            "Denied"
        } else if has("Approved") {
            "Approved"
        } else {
            "Pending"
        }
        .to_string();
        if has("Failed") {
            status.push_str(",Failed");
        }
        if !s(v, "/status/certificate").is_empty() {
            status.push_str(",Issued");
        }
        json!(status)
    }),
];

// === Kinds of the storage, admission and networking groups ===

const PODTEMPLATE: &[Column] = &[
    col("Name", "string", 0, name),
    col("Containers", "string", 0, |v| {
        json!(containers_of(v.pointer("/template/spec").unwrap_or(&Value::Null)).0)
    }),
    col("Images", "string", 0, |v| {
        json!(containers_of(v.pointer("/template/spec").unwrap_or(&Value::Null)).1)
    }),
    col("Pod Labels", "string", 0, |v| {
        or_none(format_labels(v.pointer("/template/metadata/labels")))
    }),
];

/// `labels.FormatLabels`: `k=v` sorted by key, joined with commas.
fn format_labels(m: Option<&Value>) -> String {
    let mut pairs: Vec<String> = m
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
        .collect();
    pairs.sort();
    pairs.join(",")
}

/// A ComponentStatus's first Healthy condition.
fn healthy(v: &Value) -> Option<&Value> {
    arr(v, "/conditions")
        .iter()
        .find(|c| c.get("type").and_then(Value::as_str) == Some("Healthy"))
}

const COMPONENTSTATUS: &[Column] = &[
    col("Name", "string", 0, name),
    col("Status", "string", 0, |v| {
        json!(match healthy(v) {
            Some(c) if c.get("status").and_then(Value::as_str) == Some("True") => "Healthy",
            Some(_) => "Unhealthy",
            None => "Unknown",
        })
    }),
    col("Message", "string", 0, |v| {
        json!(healthy(v).map(|c| s(c, "/message")).unwrap_or_default())
    }),
    col("Error", "string", 0, |v| {
        json!(healthy(v).map(|c| s(c, "/error")).unwrap_or_default())
    }),
];

/// A ResourceQuota's `<key>: <used>/<hard>` for the keys of one bucket
/// (`limits.*`, or every other), sorted.
fn quota(v: &Value, limits: bool) -> Value {
    let hard = v.pointer("/status/hard").and_then(Value::as_object);
    let mut keys: Vec<&String> = hard.into_iter().flat_map(|h| h.keys()).collect();
    keys.sort();
    let parts: Vec<String> = keys
        .into_iter()
        .filter(|k| {
            let mut pieces = k.split('.');
            let is_limit = pieces.next() == Some("limits") && pieces.next().is_some();
            is_limit == limits
        })
        .map(|k| {
            let used = v
                .pointer(&format!(
                    "/status/used/{}",
                    k.replace('~', "~0").replace('/', "~1")
                ))
                .and_then(Value::as_str)
                .unwrap_or("0");
            let h = hard
                .and_then(|h| h.get(k))
                .and_then(Value::as_str)
                .unwrap_or("0");
            format!("{k}: {used}/{h}")
        })
        .collect();
    json!(parts.join(", "))
}

const RESOURCEQUOTA: &[Column] = &[
    col("Name", "string", 0, name),
    col("Request", "string", 0, |v| quota(v, false)),
    col("Limit", "string", 0, |v| quota(v, true)),
    col("Age", "string", 0, age),
];

fn bool_or(v: &Value, ptr: &str, default: bool) -> Value {
    json!(v.pointer(ptr).and_then(Value::as_bool).unwrap_or(default))
}

const CSIDRIVER: &[Column] = &[
    col("Name", "string", 0, name),
    col("AttachRequired", "boolean", 0, |v| {
        bool_or(v, "/spec/attachRequired", true)
    }),
    col("PodInfoOnMount", "boolean", 0, |v| {
        bool_or(v, "/spec/podInfoOnMount", false)
    }),
    col("StorageCapacity", "boolean", 0, |v| {
        bool_or(v, "/spec/storageCapacity", false)
    }),
    col("TokenRequests", "string", 0, |v| {
        match v.pointer("/spec/tokenRequests").and_then(Value::as_array) {
            None => json!("<unset>"),
            Some(list) => json!(
                list.iter()
                    .map(|t| s(t, "/audience"))
                    .collect::<Vec<_>>()
                    .join(",")
            ),
        }
    }),
    col("RequiresRepublish", "boolean", 0, |v| {
        bool_or(v, "/spec/requiresRepublish", false)
    }),
    col("Modes", "string", 0, |v| {
        or_none(
            arr(v, "/spec/volumeLifecycleModes")
                .iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(","),
        )
    }),
    col("Age", "string", 0, age),
];

const CSINODE: &[Column] = &[
    col("Name", "string", 0, name),
    col("Drivers", "integer", 0, |v| {
        json!(arr(v, "/spec/drivers").len())
    }),
    col("Age", "string", 0, age),
];

const CSISTORAGECAPACITY: &[Column] = &[
    col("Name", "string", 0, name),
    col("StorageClassName", "string", 0, |v| {
        json!(s(v, "/storageClassName"))
    }),
    col("Capacity", "string", 0, |v| unset(s(v, "/capacity"))),
];

const VOLUMEATTACHMENT: &[Column] = &[
    col("Name", "string", 0, name),
    col("Attacher", "string", 0, |v| json!(s(v, "/spec/attacher"))),
    col("PV", "string", 0, |v| {
        json!(s(v, "/spec/source/persistentVolumeName"))
    }),
    col("Node", "string", 0, |v| json!(s(v, "/spec/nodeName"))),
    col("Attached", "boolean", 0, |v| {
        bool_or(v, "/status/attached", false)
    }),
    col("Age", "string", 0, age),
];

const VALIDATINGADMISSIONPOLICY: &[Column] = &[
    col("Name", "string", 0, name),
    col("Validations", "integer", 0, |v| {
        json!(arr(v, "/spec/validations").len())
    }),
    col("ParamKind", "string", 0, |v| {
        json!(match v.pointer("/spec/paramKind") {
            None | Some(Value::Null) => "<unset>".to_string(),
            Some(k) => format!("{}/{}", s(k, "/apiVersion"), s(k, "/kind")),
        })
    }),
    col("Age", "string", 0, age),
];

const VALIDATINGADMISSIONPOLICYBINDING: &[Column] = &[
    col("Name", "string", 0, name),
    col("PolicyName", "string", 0, |v| {
        json!(s(v, "/spec/policyName"))
    }),
    col("ParamRef", "string", 0, |v| {
        json!(match v.pointer("/spec/paramRef") {
            None | Some(Value::Null) => "<unset>".to_string(),
            Some(r) if !s(r, "/name").is_empty() => {
                let ns = s(r, "/namespace");
                format!(
                    "{}/{}",
                    if ns.is_empty() { "*" } else { &ns },
                    s(r, "/name")
                )
            }
            Some(r) => selector_string(r.get("selector")),
        })
    }),
    col("Age", "string", 0, age),
];

const SERVICECIDR: &[Column] = &[
    col("Name", "string", 0, name),
    col("CIDRs", "string", 0, |v| {
        json!(
            arr(v, "/spec/cidrs")
                .iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(",")
        )
    }),
    col("Age", "string", 0, age),
];

/// Upstream declares two columns for IPAddresses but writes three cells
/// (the age has no definition); so does Skiff.
const IPADDRESS: &[Column] = &[
    col("Name", "string", 0, name),
    col("ParentRef", "string", 0, |v| {
        let Some(r) = v.pointer("/spec/parentRef").filter(|r| !r.is_null()) else {
            return json!("<none>");
        };
        let group = s(r, "/group");
        let resource = s(r, "/resource");
        let mut out = if group.is_empty() {
            resource
        } else {
            format!("{resource}.{group}")
        }
        .to_lowercase();
        let ns = s(r, "/namespace");
        if !ns.is_empty() {
            out = format!("{out}/{ns}");
        }
        json!(format!("{out}/{}", s(r, "/name")))
    }),
    col("Age", "string", 0, age),
];

const DEFAULT: &[Column] = &[
    col("Name", "string", 0, name),
    col("Created At", "date", 0, created_at),
];

/// How a resource prints as a Table (upstream's `TableConvertor` of its
/// storage): chosen once, when the resource is registered.
#[derive(Clone, Copy)]
pub struct Printer {
    columns: &'static [Column],
    /// Upstream's column definitions, where they are recorded.
    upstream: Option<&'static Vec<Value>>,
}

impl Printer {
    /// The printer of a resource: upstream's columns for the kinds
    /// `pkg/printers/internalversion` prints, Name / Created At otherwise.
    pub fn of(def: &skiff_api::ResourceDef) -> Printer {
        Printer {
            columns: columns(def),
            upstream: upstream_columns(def),
        }
    }
}

fn columns(def: &skiff_api::ResourceDef) -> &'static [Column] {
    match (def.group, def.plural) {
        ("", "pods") => POD,
        ("apps", "deployments") => DEPLOYMENT,
        ("apps", "replicasets") | ("", "replicationcontrollers") => REPLICASET,
        ("apps", "statefulsets") => STATEFULSET,
        ("apps", "daemonsets") => DAEMONSET,
        ("batch", "jobs") => JOB,
        ("batch", "cronjobs") => CRONJOB,
        ("", "services") => SERVICE,
        ("", "endpoints") => ENDPOINTS,
        ("networking.k8s.io", "ingresses") => INGRESS,
        ("", "nodes") => NODE,
        ("", "namespaces") => NAMESPACE,
        ("", "configmaps") => CONFIGMAP,
        ("", "secrets") => SECRET,
        ("", "serviceaccounts") => SERVICEACCOUNT,
        ("", "events") | ("events.k8s.io", "events") => EVENT,
        ("", "persistentvolumeclaims") => PVC,
        ("", "persistentvolumes") => PV,
        ("scheduling.k8s.io", "priorityclasses") => PRIORITYCLASS,
        ("autoscaling", "horizontalpodautoscalers") => HPA,
        ("rbac.authorization.k8s.io", "rolebindings" | "clusterrolebindings") => BINDING,
        ("policy", "poddisruptionbudgets") => PDB,
        ("coordination.k8s.io", "leases") => LEASE,
        ("storage.k8s.io", "storageclasses") => STORAGECLASS,
        ("discovery.k8s.io", "endpointslices") => ENDPOINTSLICE,
        ("networking.k8s.io", "ingressclasses") => INGRESSCLASS,
        ("networking.k8s.io", "networkpolicies") => NETWORKPOLICY,
        ("node.k8s.io", "runtimeclasses") => RUNTIMECLASS,
        ("apps", "controllerrevisions") => CONTROLLERREVISION,
        (
            "admissionregistration.k8s.io",
            "validatingwebhookconfigurations" | "mutatingwebhookconfigurations",
        ) => WEBHOOKCONFIG,
        ("apiregistration.k8s.io", "apiservices") => APISERVICE,
        ("certificates.k8s.io", "certificatesigningrequests") => CSR,
        ("flowcontrol.apiserver.k8s.io", "flowschemas") => FLOWSCHEMA,
        ("flowcontrol.apiserver.k8s.io", "prioritylevelconfigurations") => PRIORITYLEVEL,
        ("", "podtemplates") => PODTEMPLATE,
        ("", "componentstatuses") => COMPONENTSTATUS,
        ("", "resourcequotas") => RESOURCEQUOTA,
        ("storage.k8s.io", "csidrivers") => CSIDRIVER,
        ("storage.k8s.io", "csinodes") => CSINODE,
        ("storage.k8s.io", "csistoragecapacities") => CSISTORAGECAPACITY,
        ("storage.k8s.io", "volumeattachments") => VOLUMEATTACHMENT,
        ("admissionregistration.k8s.io", "validatingadmissionpolicies") => {
            VALIDATINGADMISSIONPOLICY
        }
        ("admissionregistration.k8s.io", "validatingadmissionpolicybindings") => {
            VALIDATINGADMISSIONPOLICYBINDING
        }
        ("networking.k8s.io", "servicecidrs") => SERVICECIDR,
        ("networking.k8s.io", "ipaddresses") => IPADDRESS,
        _ => DEFAULT,
    }
}

/// Upstream's column definitions of a resource's table (names, types,
/// formats, priorities, descriptions), where they are recorded.
fn upstream_columns(def: &skiff_api::ResourceDef) -> Option<&'static Vec<Value>> {
    static COLUMNS: std::sync::OnceLock<Value> = std::sync::OnceLock::new();
    let all = COLUMNS.get_or_init(|| {
        serde_json::from_str(include_str!("table_columns.json")).expect("table_columns.json")
    });
    let group = match (def.group, def.plural) {
        ("events.k8s.io", "events") => "",
        (g, _) => g,
    };
    let key = skiff_api::errors::qualified(group, def.plural);
    all["kinds"].get(&key).and_then(Value::as_array)
}

/// A Table of `objects`; rows carry the object as `includeObject` asks
/// (default: its PartialObjectMetadata).
pub fn table(
    res: &Resource,
    objects: Vec<Value>,
    rv: &str,
    continue_token: Option<String>,
    params: &HashMap<String, String>,
) -> Value {
    let mut objects = objects;
    // Upstream's printFlowSchemaList orders by matching precedence, then name.
    if (res.def.group, res.def.plural) == ("flowcontrol.apiserver.k8s.io", "flowschemas") {
        objects.sort_by(|a, b| {
            (i(a, "/spec/matchingPrecedence"), meta::name(a))
                .cmp(&(i(b, "/spec/matchingPrecedence"), meta::name(b)))
        });
    }
    // events.k8s.io Events print as the core Events they are stored as.
    if (res.def.group, res.def.plural) == ("events.k8s.io", "events") {
        objects = objects
            .into_iter()
            .map(|o| skiff_api::conversion::to_storage(res.def, o))
            .collect();
    }
    let cols = res.printer.columns;
    let include = params
        .get("includeObject")
        .map(String::as_str)
        .unwrap_or("Metadata");
    let upstream = res.printer.upstream;
    let column_definitions: Vec<Value> = cols
        .iter()
        .filter_map(|c| {
            if let Some(def) = upstream.and_then(|u| u.iter().find(|d| d["name"] == c.name)) {
                return Some(def.clone());
            }
            // IPAddresses' age cell has no definition upstream.
            if (res.def.group, res.def.plural) == ("networking.k8s.io", "ipaddresses") {
                return None;
            }
            let mut d = json!({"name": c.name, "type": c.kind, "format": "", "description": "", "priority": c.priority});
            if c.name == "Name" {
                d["format"] = json!("name");
                d["description"] = json!("Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names");
            }
            if c.name == "Age" {
                d["description"] = json!("CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata");
            }
            if c.kind == "date" {
                d["description"] = json!("CreationTimestamp is a timestamp representing the server time when this object was created.");
            }
            Some(d)
        })
        .collect();
    let rows: Vec<Value> = objects
        .iter()
        .map(|o| {
            let cells: Vec<Value> = cols.iter().map(|c| (c.cell)(o)).collect();
            let mut row = json!({"cells": cells});
            if (res.def.group, res.def.plural) == ("", "pods")
                && let Some(conditions) = pod_row_conditions(o)
            {
                row["conditions"] = conditions;
            }
            match include {
                "None" => {}
                "Object" => row["object"] = o.clone(),
                _ => {
                    row["object"] = json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": o.get("metadata").cloned().unwrap_or(json!({}))})
                }
            }
            row
        })
        .collect();
    let mut metadata = json!({"resourceVersion": rv});
    if let Some(c) = continue_token {
        metadata["continue"] = json!(c);
    }
    json!({"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": metadata, "columnDefinitions": column_definitions, "rows": rows})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_durations() {
        for (secs, want) in [
            (5, "5s"),
            (119, "119s"),
            (125, "2m5s"),
            (600, "10m"),
            (3 * 3600 + 60, "3h1m"),
            (30 * 3600, "30h"),
            (3 * 86400 + 3600, "3d1h"),
            (400 * 86400, "400d"),
        ] {
            assert_eq!(human_duration(secs), want, "{secs}");
        }
    }

    #[test]
    fn pod_status_cells() {
        let running = json!({"spec": {"containers": [{"name": "a"}]}, "status": {"phase": "Running", "containerStatuses": [{"ready": true, "restartCount": 0, "state": {"running": {}}}]}});
        assert_eq!(pod_status(&running), "Running");
        assert_eq!(pod_ready(&running), "1/1");
        let waiting = json!({"spec": {"containers": [{"name": "a"}]}, "status": {"phase": "Pending", "containerStatuses": [{"ready": false, "restartCount": 3, "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]}});
        assert_eq!(pod_status(&waiting), "CrashLoopBackOff");
        assert_eq!(pod_restarts(&waiting), "3");
        let deleting = json!({"metadata": {"deletionTimestamp": "2026-01-01T00:00:00Z"}, "status": {"phase": "Running"}});
        assert_eq!(pod_status(&deleting), "Terminating");
    }

    #[test]
    fn csr_conditions_and_autoscaler_targets() {
        let cell = |cols: &[Column], name: &str, v: &Value| {
            (cols.iter().find(|c| c.name == name).expect("column").cell)(v)
        };
        let csr = |conds: Value, cert: &str| json!({"status": {"conditions": conds, "certificate": cert}});
        assert_eq!(cell(CSR, "Condition", &csr(json!([]), "")), "Pending");
        assert_eq!(
            cell(
                CSR,
                "Condition",
                &csr(json!([{"type": "Approved"}, {"type": "Failed"}]), "")
            ),
            "Approved,Failed"
        );
        assert_eq!(
            cell(
                CSR,
                "Condition",
                &csr(json!([{"type": "Approved"}, {"type": "Denied"}]), "x")
            ),
            "Denied,Issued"
        );
        assert_eq!(cell(CSR, "SignerName", &json!({})), "<none>");
        let v1 = json!({"spec": {"targetCPUUtilizationPercentage": 80}, "status": {"currentCPUUtilizationPercentage": 12}});
        assert_eq!(hpa_targets(&v1), "cpu: 12%/80%");
        let v2 = json!({"spec": {"metrics": [
            {"type": "Object", "object": {"target": {"type": "Value", "value": "5"}}},
            {"type": "External", "external": {"target": {"type": "AverageValue", "averageValue": "30"}}},
        ]}, "status": {"currentMetrics": [{"type": "Object", "object": {"current": {"value": "3"}}}]}});
        assert_eq!(hpa_targets(&v2), "3/5, <unknown>/30 (avg)");
        let auto = json!({"spec": {"metrics": [{"type": "ContainerResource", "containerResource": {"name": "memory", "container": "c", "target": {"type": "Utilization"}}}]}});
        assert_eq!(hpa_targets(&auto), "memory: <unknown>/<auto>");
    }
}
