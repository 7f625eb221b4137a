//! The checks of the Pod Security Standards (upstream's
//! `policy/check_*.go`), each with its level, the version it applies from,
//! the baseline check it replaces in `restricted`, and its messages.

use std::collections::BTreeSet;

use serde_json::Value;

use super::{Level, Violation, go_quote};

/// What a check sees: the pod's (or template's) metadata and spec.
pub struct Pod<'a> {
    pub metadata: &'a Value,
    pub spec: &'a Value,
}

impl<'a> Pod<'a> {
    /// Init containers, then containers, then ephemeral containers, as
    /// upstream's `visitContainers`.
    fn containers(&self) -> impl Iterator<Item = &'a Value> {
        let spec = self.spec;
        ["initContainers", "containers", "ephemeralContainers"]
            .into_iter()
            .flat_map(move |field| spec[field].as_array().into_iter().flatten())
    }

    fn pod_security_context(&self) -> &'a Value {
        &self.spec["securityContext"]
    }

    fn windows(&self) -> bool {
        self.spec.pointer("/os/name").and_then(Value::as_str) == Some("windows")
    }

    fn annotations(&self) -> impl Iterator<Item = (&'a String, &'a str)> {
        self.metadata["annotations"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, v)| (k, v.as_str().unwrap_or("")))
    }
}

/// A check as the registry holds it.
pub struct Check {
    pub id: &'static str,
    pub level: Level,
    /// The first minor version it applies to.
    pub since: u64,
    /// The baseline check it replaces in `restricted` (when it applies).
    pub overrides: Option<&'static str>,
    pub run: fn(&Pod<'_>, u64) -> Option<Violation>,
}

/// Every check, baseline then restricted, each sorted by id (byte order),
/// the order in which upstream evaluates and reports them.
const CHECKS: &[Check] = &[
    Check {
        id: "appArmorProfile",
        level: Level::Baseline,
        since: 0,
        overrides: None,
        run: app_armor_profile,
    },
    Check {
        id: "capabilities_baseline",
        level: Level::Baseline,
        since: 0,
        overrides: None,
        run: capabilities_baseline,
    },
    Check {
        id: "hostNamespaces",
        level: Level::Baseline,
        since: 0,
        overrides: None,
        run: host_namespaces,
    },
    Check {
        id: "hostPathVolumes",
        level: Level::Baseline,
        since: 0,
        overrides: None,
        run: host_path_volumes,
    },
    Check {
        id: "hostPorts",
        level: Level::Baseline,
        since: 0,
        overrides: None,
        run: host_ports,
    },
    Check {
        id: "privileged",
        level: Level::Baseline,
        since: 0,
        overrides: None,
        run: privileged,
    },
    Check {
        id: "procMount",
        level: Level::Baseline,
        since: 0,
        overrides: None,
        run: proc_mount,
    },
    Check {
        id: "seLinuxOptions",
        level: Level::Baseline,
        since: 0,
        overrides: None,
        run: se_linux_options,
    },
    Check {
        id: "seccompProfile_baseline",
        level: Level::Baseline,
        since: 0,
        overrides: None,
        run: seccomp_profile_baseline,
    },
    Check {
        id: "sysctls",
        level: Level::Baseline,
        since: 0,
        overrides: None,
        run: sysctls,
    },
    Check {
        id: "windowsHostProcess",
        level: Level::Baseline,
        since: 0,
        overrides: None,
        run: windows_host_process,
    },
    Check {
        id: "allowPrivilegeEscalation",
        level: Level::Restricted,
        since: 8,
        overrides: None,
        run: allow_privilege_escalation,
    },
    Check {
        id: "capabilities_restricted",
        level: Level::Restricted,
        since: 22,
        overrides: Some("capabilities_baseline"),
        run: capabilities_restricted,
    },
    Check {
        id: "restrictedVolumes",
        level: Level::Restricted,
        since: 0,
        overrides: Some("hostPathVolumes"),
        run: restricted_volumes,
    },
    Check {
        id: "runAsNonRoot",
        level: Level::Restricted,
        since: 0,
        overrides: None,
        run: run_as_non_root,
    },
    Check {
        id: "runAsUser",
        level: Level::Restricted,
        since: 23,
        overrides: None,
        run: run_as_user,
    },
    Check {
        id: "seccompProfile_restricted",
        level: Level::Restricted,
        since: 19,
        overrides: Some("seccompProfile_baseline"),
        run: seccomp_profile_restricted,
    },
];

/// The checks of `level` at `minor`, in evaluation order.
pub fn applicable(level: Level, minor: u64) -> Vec<&'static Check> {
    let active = |c: &&Check| c.since <= minor && c.level <= level;
    let overridden: Vec<&str> = if level == Level::Restricted {
        CHECKS
            .iter()
            .filter(active)
            .filter_map(|c| c.overrides)
            .collect()
    } else {
        Vec::new()
    };
    CHECKS
        .iter()
        .filter(active)
        .filter(|c| !overridden.contains(&c.id))
        .collect()
}

fn join_quote(items: &[String]) -> String {
    if items.is_empty() {
        return String::new();
    }
    format!("\"{}\"", items.join("\", \""))
}

fn pluralize<'s>(singular: &'s str, plural: &'s str, count: usize) -> &'s str {
    if count == 1 { singular } else { plural }
}

/// `container "a"` / `containers "a", "b"`.
fn containers_phrase(names: &[String]) -> String {
    format!(
        "{} {}",
        pluralize("container", "containers", names.len()),
        join_quote(names)
    )
}

fn name(c: &Value) -> String {
    c["name"].as_str().unwrap_or("").to_string()
}

fn violation(reason: impl Into<String>, detail: impl Into<String>) -> Option<Violation> {
    Some(Violation {
        reason: reason.into(),
        detail: detail.into(),
    })
}

fn sorted(set: BTreeSet<String>) -> Vec<String> {
    set.into_iter().collect()
}

fn privileged(pod: &Pod<'_>, _: u64) -> Option<Violation> {
    let bad: Vec<String> = pod
        .containers()
        .filter(|c| c["securityContext"]["privileged"] == true)
        .map(name)
        .collect();
    if bad.is_empty() {
        return None;
    }
    violation(
        "privileged",
        format!(
            "{} must not set securityContext.privileged=true",
            containers_phrase(&bad)
        ),
    )
}

fn host_namespaces(pod: &Pod<'_>, _: u64) -> Option<Violation> {
    let bad: Vec<&str> = [
        ("hostNetwork", "hostNetwork=true"),
        ("hostPID", "hostPID=true"),
        ("hostIPC", "hostIPC=true"),
    ]
    .into_iter()
    .filter(|(field, _)| pod.spec[field] == true)
    .map(|(_, s)| s)
    .collect();
    if bad.is_empty() {
        return None;
    }
    violation("host namespaces", bad.join(", "))
}

fn host_ports(pod: &Pod<'_>, _: u64) -> Option<Violation> {
    let mut containers = Vec::new();
    let mut ports = BTreeSet::new();
    for c in pod.containers() {
        let mut uses = false;
        for p in c["ports"].as_array().into_iter().flatten() {
            let port = p["hostPort"].as_i64().unwrap_or(0);
            if port != 0 {
                uses = true;
                ports.insert(port.to_string());
            }
        }
        if uses {
            containers.push(name(c));
        }
    }
    if containers.is_empty() {
        return None;
    }
    let ports = sorted(ports);
    violation(
        "hostPort",
        format!(
            "{} {} {} {} {}",
            pluralize("container", "containers", containers.len()),
            join_quote(&containers),
            pluralize("uses", "use", containers.len()),
            pluralize("hostPort", "hostPorts", ports.len()),
            ports.join(", ")
        ),
    )
}

fn host_path_volumes(pod: &Pod<'_>, _: u64) -> Option<Violation> {
    let bad: Vec<String> = pod.spec["volumes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|v| v.get("hostPath").is_some_and(|h| !h.is_null()))
        .map(name)
        .collect();
    if bad.is_empty() {
        return None;
    }
    violation(
        "hostPath volumes",
        format!(
            "{} {}",
            pluralize("volume", "volumes", bad.len()),
            join_quote(&bad)
        ),
    )
}

const BASELINE_CAPABILITIES: &[&str] = &[
    "AUDIT_WRITE",
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "MKNOD",
    "NET_BIND_SERVICE",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_CHROOT",
];

fn added_capabilities(c: &Value) -> impl Iterator<Item = &str> {
    c.pointer("/securityContext/capabilities/add")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|v| v.as_str().unwrap_or(""))
}

fn capabilities_baseline(pod: &Pod<'_>, _: u64) -> Option<Violation> {
    let mut containers = Vec::new();
    let mut caps = BTreeSet::new();
    for c in pod.containers() {
        let mut bad = false;
        for cap in added_capabilities(c) {
            if !BASELINE_CAPABILITIES.contains(&cap) {
                bad = true;
                caps.insert(cap.to_string());
            }
        }
        if bad {
            containers.push(name(c));
        }
    }
    if containers.is_empty() {
        return None;
    }
    violation(
        "non-default capabilities",
        format!(
            "{} must not include {} in securityContext.capabilities.add",
            containers_phrase(&containers),
            join_quote(&sorted(caps))
        ),
    )
}

const APP_ARMOR_PREFIX: &str = "container.apparmor.security.beta.kubernetes.io/";

fn app_armor_profile(pod: &Pod<'_>, _: u64) -> Option<Violation> {
    let bad_type = |sc: &Value| -> Option<String> {
        let profile = sc.get("appArmorProfile").filter(|p| !p.is_null())?;
        let t = profile["type"].as_str().unwrap_or("");
        (!matches!(t, "RuntimeDefault" | "Localhost")).then(|| t.to_string())
    };
    let mut setters = Vec::new();
    let mut values = BTreeSet::new();
    if let Some(t) = bad_type(pod.pod_security_context()) {
        setters.push("pod".to_string());
        values.insert(t);
    }
    let mut containers = Vec::new();
    for c in pod.containers() {
        if let Some(t) = bad_type(&c["securityContext"]) {
            values.insert(t);
            containers.push(name(c));
        }
    }
    if !containers.is_empty() {
        setters.push(containers_phrase(&containers));
    }
    let mut annotations: Vec<String> = pod
        .annotations()
        .filter(|(k, v)| {
            k.starts_with(APP_ARMOR_PREFIX)
                && !(v.is_empty() || *v == "runtime/default" || v.starts_with("localhost/"))
        })
        .map(|(k, v)| format!("{k}={}", go_quote(v)))
        .collect();
    annotations.sort();
    let mut list = sorted(values);
    if !annotations.is_empty() {
        setters.push(pluralize("annotation", "annotations", annotations.len()).to_string());
        list.extend(annotations);
    }
    if setters.is_empty() {
        return None;
    }
    violation(
        pluralize(
            "forbidden AppArmor profile",
            "forbidden AppArmor profiles",
            list.len(),
        ),
        format!(
            "{} must not set AppArmor profile type to {}",
            setters.join(" and "),
            join_quote(&list)
        ),
    )
}

fn proc_mount(pod: &Pod<'_>, _: u64) -> Option<Violation> {
    let mut containers = Vec::new();
    let mut values = BTreeSet::new();
    for c in pod.containers() {
        if let Some(m) = c
            .pointer("/securityContext/procMount")
            .filter(|m| !m.is_null())
        {
            let m = m.as_str().unwrap_or("");
            if m != "Default" {
                containers.push(name(c));
                values.insert(m.to_string());
            }
        }
    }
    if containers.is_empty() {
        return None;
    }
    violation(
        "procMount",
        format!(
            "{} must not set securityContext.procMount to {}",
            containers_phrase(&containers),
            join_quote(&sorted(values))
        ),
    )
}

fn se_linux_options(pod: &Pod<'_>, minor: u64) -> Option<Violation> {
    let mut types = BTreeSet::new();
    let (mut set_user, mut set_role) = (false, false);
    let mut check = |sc: &Value| -> bool {
        let Some(o) = sc.get("seLinuxOptions").filter(|o| !o.is_null()) else {
            return false;
        };
        let mut bad = false;
        let t = o["type"].as_str().unwrap_or("");
        let allowed = matches!(
            t,
            "" | "container_t" | "container_init_t" | "container_kvm_t"
        ) || (minor >= 31 && t == "container_engine_t");
        if !allowed {
            types.insert(t.to_string());
            bad = true;
        }
        if !o["user"].as_str().unwrap_or("").is_empty() {
            set_user = true;
            bad = true;
        }
        if !o["role"].as_str().unwrap_or("").is_empty() {
            set_role = true;
            bad = true;
        }
        bad
    };
    let mut setters = Vec::new();
    if check(pod.pod_security_context()) {
        setters.push("pod".to_string());
    }
    let containers: Vec<String> = pod
        .containers()
        .filter(|c| check(&c["securityContext"]))
        .map(name)
        .collect();
    if !containers.is_empty() {
        setters.push(containers_phrase(&containers));
    }
    if setters.is_empty() {
        return None;
    }
    let mut data = Vec::new();
    if !types.is_empty() {
        let types = sorted(types);
        data.push(format!(
            "{} {}",
            pluralize("type", "types", types.len()),
            join_quote(&types)
        ));
    }
    if set_user {
        data.push("user may not be set".to_string());
    }
    if set_role {
        data.push("role may not be set".to_string());
    }
    violation(
        "seLinuxOptions",
        format!(
            "{} set forbidden securityContext.seLinuxOptions: {}",
            setters.join(" and "),
            data.join("; ")
        ),
    )
}

fn seccomp_type(sc: &Value) -> Option<&str> {
    sc.get("seccompProfile")
        .filter(|p| !p.is_null())
        .map(|p| p["type"].as_str().unwrap_or(""))
}

fn seccomp_profile_baseline(pod: &Pod<'_>, minor: u64) -> Option<Violation> {
    if minor < 19 {
        // Before 1.19: the alpha annotations.
        let valid = |v: &str| {
            v == "runtime/default" || v == "docker/default" || v.starts_with("localhost/")
        };
        let annotations = &pod.metadata["annotations"];
        let mut bad = BTreeSet::new();
        let mut check = |key: String| {
            if let Some(v) = annotations.get(&key) {
                let v = v.as_str().unwrap_or("");
                if !valid(v) {
                    bad.insert(format!("{key}={}", go_quote(v)));
                }
            }
        };
        check("seccomp.security.alpha.kubernetes.io/pod".into());
        for c in pod.containers() {
            check(format!(
                "container.seccomp.security.alpha.kubernetes.io/{}",
                name(c)
            ));
        }
        if bad.is_empty() {
            return None;
        }
        let bad = sorted(bad);
        return violation(
            "seccompProfile",
            format!(
                "forbidden {} {}",
                pluralize("annotation", "annotations", bad.len()),
                bad.join(", ")
            ),
        );
    }
    let valid = |t: &str| matches!(t, "Localhost" | "RuntimeDefault");
    let mut setters = Vec::new();
    let mut types = BTreeSet::new();
    if let Some(t) = seccomp_type(pod.pod_security_context()).filter(|t| !valid(t)) {
        setters.push("pod".to_string());
        types.insert(t.to_string());
    }
    let mut containers = Vec::new();
    for c in pod.containers() {
        if let Some(t) = seccomp_type(&c["securityContext"]).filter(|t| !valid(t)) {
            containers.push(name(c));
            types.insert(t.to_string());
        }
    }
    if !containers.is_empty() {
        setters.push(containers_phrase(&containers));
    }
    if setters.is_empty() {
        return None;
    }
    violation(
        "seccompProfile",
        format!(
            "{} must not set securityContext.seccompProfile.type to {}",
            setters.join(" and "),
            join_quote(&sorted(types))
        ),
    )
}

fn sysctls(pod: &Pod<'_>, minor: u64) -> Option<Violation> {
    let mut allowed = vec![
        "kernel.shm_rmid_forced",
        "net.ipv4.ip_local_port_range",
        "net.ipv4.tcp_syncookies",
        "net.ipv4.ping_group_range",
        "net.ipv4.ip_unprivileged_port_start",
    ];
    if minor >= 27 {
        allowed.push("net.ipv4.ip_local_reserved_ports");
    }
    if minor >= 29 {
        allowed.extend([
            "net.ipv4.tcp_keepalive_time",
            "net.ipv4.tcp_fin_timeout",
            "net.ipv4.tcp_keepalive_intvl",
            "net.ipv4.tcp_keepalive_probes",
        ]);
    }
    if minor >= 32 {
        allowed.extend(["net.ipv4.tcp_rmem", "net.ipv4.tcp_wmem"]);
    }
    let bad: Vec<&str> = pod
        .pod_security_context()
        .get("sysctls")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|s| s["name"].as_str().unwrap_or(""))
        .filter(|n| !allowed.contains(n))
        .collect();
    if bad.is_empty() {
        return None;
    }
    violation("forbidden sysctls", bad.join(", "))
}

fn windows_host_process(pod: &Pod<'_>, _: u64) -> Option<Violation> {
    let setters = setters(pod, |sc| {
        sc.pointer("/windowsOptions/hostProcess") == Some(&Value::Bool(true))
    });
    if setters.is_empty() {
        return None;
    }
    violation(
        "hostProcess",
        format!(
            "{} must not set securityContext.windowsOptions.hostProcess=true",
            setters.join(" and ")
        ),
    )
}

/// `pod` when the pod's security context is `bad`, then the containers
/// whose own is.
fn setters(pod: &Pod<'_>, bad: impl Fn(&Value) -> bool) -> Vec<String> {
    let mut setters = Vec::new();
    if bad(pod.pod_security_context()) {
        setters.push("pod".to_string());
    }
    let containers: Vec<String> = pod
        .containers()
        .filter(|c| bad(&c["securityContext"]))
        .map(name)
        .collect();
    if !containers.is_empty() {
        setters.push(containers_phrase(&containers));
    }
    setters
}

fn allow_privilege_escalation(pod: &Pod<'_>, minor: u64) -> Option<Violation> {
    if minor >= 25 && pod.windows() {
        return None;
    }
    let bad: Vec<String> = pod
        .containers()
        .filter(|c| c["securityContext"]["allowPrivilegeEscalation"] != false)
        .map(name)
        .collect();
    if bad.is_empty() {
        return None;
    }
    violation(
        "allowPrivilegeEscalation != false",
        format!(
            "{} must set securityContext.allowPrivilegeEscalation=false",
            containers_phrase(&bad)
        ),
    )
}

fn capabilities_restricted(pod: &Pod<'_>, minor: u64) -> Option<Violation> {
    if minor >= 25 && pod.windows() {
        return None;
    }
    let mut missing_drop = Vec::new();
    let mut adding = Vec::new();
    let mut caps = BTreeSet::new();
    for c in pod.containers() {
        let Some(capabilities) = c
            .pointer("/securityContext/capabilities")
            .filter(|v| !v.is_null())
        else {
            missing_drop.push(name(c));
            continue;
        };
        let drops_all = capabilities["drop"]
            .as_array()
            .is_some_and(|d| d.iter().any(|v| v == "ALL"));
        if !drops_all {
            missing_drop.push(name(c));
        }
        let mut bad = false;
        for cap in added_capabilities(c) {
            if cap != "NET_BIND_SERVICE" {
                bad = true;
                caps.insert(cap.to_string());
            }
        }
        if bad {
            adding.push(name(c));
        }
    }
    let mut parts = Vec::new();
    if !missing_drop.is_empty() {
        parts.push(format!(
            "{} must set securityContext.capabilities.drop=[\"ALL\"]",
            containers_phrase(&missing_drop)
        ));
    }
    if !adding.is_empty() {
        parts.push(format!(
            "{} must not include {} in securityContext.capabilities.add",
            containers_phrase(&adding),
            join_quote(&sorted(caps))
        ));
    }
    if parts.is_empty() {
        return None;
    }
    violation("unrestricted capabilities", parts.join("; "))
}

const ALLOWED_VOLUMES: &[&str] = &[
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "image",
    "persistentVolumeClaim",
    "projected",
    "secret",
];

const RESTRICTED_VOLUMES: &[&str] = &[
    "hostPath",
    "gcePersistentDisk",
    "awsElasticBlockStore",
    "gitRepo",
    "nfs",
    "iscsi",
    "glusterfs",
    "rbd",
    "flexVolume",
    "cinder",
    "cephfs",
    "flocker",
    "fc",
    "azureFile",
    "vsphereVolume",
    "quobyte",
    "azureDisk",
    "photonPersistentDisk",
    "portworxVolume",
    "scaleIO",
    "storageos",
];

fn restricted_volumes(pod: &Pod<'_>, _: u64) -> Option<Violation> {
    let set = |v: &Value, field: &str| v.get(field).is_some_and(|s| !s.is_null());
    let mut names = Vec::new();
    let mut types = BTreeSet::new();
    for v in pod.spec["volumes"].as_array().into_iter().flatten() {
        if ALLOWED_VOLUMES.iter().any(|f| set(v, f)) {
            continue;
        }
        names.push(name(v));
        let t = RESTRICTED_VOLUMES
            .iter()
            .find(|f| set(v, f))
            .copied()
            .unwrap_or("unknown");
        types.insert(t.to_string());
    }
    if names.is_empty() {
        return None;
    }
    let types = sorted(types);
    violation(
        "restricted volume types",
        format!(
            "{} {} {} {} {}",
            pluralize("volume", "volumes", names.len()),
            join_quote(&names),
            pluralize("uses", "use", names.len()),
            pluralize(
                "restricted volume type",
                "restricted volume types",
                types.len()
            ),
            join_quote(&types)
        ),
    )
}

fn run_as_non_root(pod: &Pod<'_>, _: u64) -> Option<Violation> {
    let mut setters = Vec::new();
    let pod_value = &pod.pod_security_context()["runAsNonRoot"];
    if *pod_value == false {
        setters.push("pod".to_string());
    }
    let pod_non_root = *pod_value == true;
    let mut explicit = Vec::new();
    let mut implicit = Vec::new();
    for c in pod.containers() {
        match &c["securityContext"]["runAsNonRoot"] {
            Value::Bool(false) => explicit.push(name(c)),
            Value::Bool(true) => {}
            _ if !pod_non_root => implicit.push(name(c)),
            _ => {}
        }
    }
    if !explicit.is_empty() {
        setters.push(containers_phrase(&explicit));
    }
    if !setters.is_empty() {
        return violation(
            "runAsNonRoot != true",
            format!(
                "{} must not set securityContext.runAsNonRoot=false",
                setters.join(" and ")
            ),
        );
    }
    if !implicit.is_empty() {
        return violation(
            "runAsNonRoot != true",
            format!(
                "pod or {} must set securityContext.runAsNonRoot=true",
                containers_phrase(&implicit)
            ),
        );
    }
    None
}

fn run_as_user(pod: &Pod<'_>, _: u64) -> Option<Violation> {
    let setters = setters(pod, |sc| sc["runAsUser"].as_i64() == Some(0));
    if setters.is_empty() {
        return None;
    }
    violation(
        "runAsUser=0",
        format!("{} must not set runAsUser=0", setters.join(" and ")),
    )
}

fn seccomp_profile_restricted(pod: &Pod<'_>, minor: u64) -> Option<Violation> {
    if minor >= 25 && pod.windows() {
        return None;
    }
    let valid = |t: &str| matches!(t, "RuntimeDefault" | "Localhost");
    let mut setters = Vec::new();
    let mut values = BTreeSet::new();
    let mut pod_set = false;
    match seccomp_type(pod.pod_security_context()) {
        Some(t) if valid(t) => pod_set = true,
        Some(t) => {
            setters.push("pod".to_string());
            values.insert(t.to_string());
        }
        None => {}
    }
    let mut explicit = Vec::new();
    let mut implicit = Vec::new();
    for c in pod.containers() {
        match seccomp_type(&c["securityContext"]) {
            Some(t) if !valid(t) => {
                explicit.push(name(c));
                values.insert(t.to_string());
            }
            Some(_) => {}
            None if !pod_set => implicit.push(name(c)),
            None => {}
        }
    }
    if !explicit.is_empty() {
        setters.push(containers_phrase(&explicit));
    }
    if !setters.is_empty() {
        return violation(
            "seccompProfile",
            format!(
                "{} must not set securityContext.seccompProfile.type to {}",
                setters.join(" and "),
                join_quote(&sorted(values))
            ),
        );
    }
    if !implicit.is_empty() {
        return violation(
            "seccompProfile",
            format!(
                "pod or {} must set securityContext.seccompProfile.type to \"RuntimeDefault\" or \"Localhost\"",
                containers_phrase(&implicit)
            ),
        );
    }
    None
}
