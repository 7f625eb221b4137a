//! What a Service update does to the new object before validation, as
//! upstream's Service REST storage and strategy
//! (`pkg/registry/core/service/storage/storage.go` `patchAllocatedValues`,
//! `normalizeClusterIPs`; `strategy.go` `dropTypeDependentFields`): values
//! the client left out keep what was allocated, and fields the new type does
//! not use are cleared when the client did not change them.

use std::collections::BTreeSet;

use serde_json::{Value, json};

fn spec(obj: &Value) -> &Value {
    static NULL: Value = Value::Null;
    obj.get("spec").unwrap_or(&NULL)
}

fn str_at<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or("")
}

fn svc_type(obj: &Value) -> &str {
    match str_at(spec(obj), "type") {
        "" => "ClusterIP",
        t => t,
    }
}

/// Whether a Service of this type holds cluster IPs ("None" counts).
pub fn needs_cluster_ip(obj: &Value) -> bool {
    svc_type(obj) != "ExternalName"
}

/// Whether a Service of this type holds node ports.
pub fn needs_node_port(obj: &Value) -> bool {
    match svc_type(obj) {
        "NodePort" => true,
        "LoadBalancer" => spec(obj)
            .get("allocateLoadBalancerNodePorts")
            .and_then(Value::as_bool)
            .unwrap_or(true),
        _ => false,
    }
}

/// Whether a Service holds a health check node port.
pub fn needs_health_check_node_port(obj: &Value) -> bool {
    svc_type(obj) == "LoadBalancer" && str_at(spec(obj), "externalTrafficPolicy") == "Local"
}

fn cluster_ips(obj: &Value) -> Vec<String> {
    spec(obj)
        .get("clusterIPs")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|v| v.as_str().unwrap_or("").to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// The non-zero node ports of a Service.
pub fn node_ports(obj: &Value) -> BTreeSet<i64> {
    spec(obj)
        .get("ports")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|p| p.get("nodePort").and_then(Value::as_i64))
        .filter(|n| *n != 0)
        .collect()
}

fn spec_mut(obj: &mut Value) -> Option<&mut serde_json::Map<String, Value>> {
    if !obj.get("spec").is_some_and(Value::is_object) {
        obj["spec"] = json!({});
    }
    obj.get_mut("spec").and_then(Value::as_object_mut)
}

/// `patchAllocatedValues`: a client that leaves out the cluster IPs, a node
/// port or the health check node port keeps the allocated ones (node ports
/// by port name, unless the new spec uses that number elsewhere).
pub fn patch_allocated_values(new: &mut Value, old: &Value) {
    if needs_cluster_ip(old) && needs_cluster_ip(new) {
        let old_ip = str_at(spec(old), "clusterIP").to_string();
        let old_ips = cluster_ips(old);
        let Some(s) = spec_mut(new) else { return };
        if s.get("clusterIP")
            .and_then(Value::as_str)
            .unwrap_or("")
            .is_empty()
            && !old_ip.is_empty()
        {
            s.insert("clusterIP".into(), json!(old_ip));
        }
        let empty = s
            .get("clusterIPs")
            .and_then(Value::as_array)
            .is_none_or(Vec::is_empty);
        if empty && !old_ips.is_empty() {
            s.insert("clusterIPs".into(), json!(old_ips));
        }
    }
    if needs_node_port(old) && needs_node_port(new) {
        let used: BTreeSet<i64> = node_ports(old)
            .intersection(&node_ports(new))
            .copied()
            .collect();
        let by_name: std::collections::HashMap<String, i64> = spec(old)
            .get("ports")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|p| {
                (
                    str_at(p, "name").to_string(),
                    p.get("nodePort").and_then(Value::as_i64).unwrap_or(0),
                )
            })
            .collect();
        if let Some(ports) = new.pointer_mut("/spec/ports").and_then(Value::as_array_mut) {
            for p in ports {
                if p.get("nodePort").and_then(Value::as_i64).unwrap_or(0) == 0 {
                    let old_value = by_name.get(str_at(p, "name")).copied().unwrap_or(0);
                    if old_value != 0 && !used.contains(&old_value) {
                        p["nodePort"] = json!(old_value);
                    }
                }
            }
        }
    }
    if needs_health_check_node_port(old) && needs_health_check_node_port(new) {
        let old_hc = spec(old)
            .get("healthCheckNodePort")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        if let Some(s) = spec_mut(new)
            && s.get("healthCheckNodePort")
                .and_then(Value::as_i64)
                .unwrap_or(0)
                == 0
            && old_hc != 0
        {
            s.insert("healthCheckNodePort".into(), json!(old_hc));
        }
    }
}

/// `normalizeClusterIPs` on update: a changed `clusterIP` with the old
/// `clusterIPs` means the singular was meant (cleared with it, or it leads).
pub fn normalize_cluster_ips(new: &mut Value, old: &Value) {
    let new_ip = str_at(spec(new), "clusterIP").to_string();
    if new_ip == str_at(spec(old), "clusterIP") {
        return;
    }
    let same_plural = cluster_ips(new) == cluster_ips(old);
    let Some(s) = spec_mut(new) else { return };
    if new_ip.is_empty() {
        if same_plural {
            s.remove("clusterIPs");
        }
    } else if same_plural || !s.contains_key("clusterIPs") {
        s.insert("clusterIPs".into(), json!([new_ip]));
    }
}

/// `dropTypeDependentFields`: a Service changing type loses what the old
/// type used and the new one does not, where the client left it unchanged.
pub fn drop_type_dependent_fields(new: &mut Value, old: &Value) {
    let same = |k: &str, new: &Value| spec(new).get(k) == spec(old).get(k);
    if needs_cluster_ip(old) && !needs_cluster_ip(new) {
        let same_ips = cluster_ips(new) == cluster_ips(old)
            || (cluster_ips(new).is_empty() && str_at(spec(new), "clusterIP").is_empty());
        let same_families = same("ipFamilies", new) || spec(new).get("ipFamilies").is_none();
        let same_policy = same("ipFamilyPolicy", new) || spec(new).get("ipFamilyPolicy").is_none();
        if let Some(s) = spec_mut(new) {
            if same_ips {
                s.remove("clusterIP");
                s.remove("clusterIPs");
            }
            if same_families {
                s.remove("ipFamilies");
            }
            if same_policy {
                s.remove("ipFamilyPolicy");
            }
        }
    }
    if needs_node_port(old)
        && !needs_node_port(new)
        && node_ports(old).is_superset(&node_ports(new))
        && let Some(ports) = new.pointer_mut("/spec/ports").and_then(Value::as_array_mut)
    {
        for p in ports {
            if let Some(p) = p.as_object_mut() {
                p.remove("nodePort");
            }
        }
    }
    if needs_health_check_node_port(old)
        && !needs_health_check_node_port(new)
        && same("healthCheckNodePort", new)
        && let Some(s) = spec_mut(new)
    {
        s.remove("healthCheckNodePort");
    }
    let was_lb = svc_type(old) == "LoadBalancer";
    let is_lb = svc_type(new) == "LoadBalancer";
    if was_lb && !is_lb {
        let both_set = spec(new).get("allocateLoadBalancerNodePorts").is_some()
            && spec(old).get("allocateLoadBalancerNodePorts").is_some();
        let same_alloc = same("allocateLoadBalancerNodePorts", new);
        let same_class = same("loadBalancerClass", new);
        if let Some(s) = spec_mut(new) {
            if both_set && same_alloc {
                s.remove("allocateLoadBalancerNodePorts");
            }
            if same_class {
                s.remove("loadBalancerClass");
            }
        }
    }
    // External traffic policy applies to NodePort and LoadBalancer Services.
    let etp_applies = |o: &Value| matches!(svc_type(o), "NodePort" | "LoadBalancer");
    if etp_applies(old)
        && !etp_applies(new)
        && same("externalTrafficPolicy", new)
        && let Some(s) = spec_mut(new)
    {
        s.remove("externalTrafficPolicy");
    }
    if !is_lb && new.pointer("/status/loadBalancer").is_some() {
        new["status"]["loadBalancer"] = json!({});
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_put_without_allocated_values_keeps_them() {
        let old = json!({"spec": {"type": "NodePort", "clusterIP": "10.96.0.9", "clusterIPs": ["10.96.0.9"],
            "ports": [{"name": "http", "port": 80, "nodePort": 30080}, {"name": "dns", "port": 53, "nodePort": 30053}]}});
        let mut new = json!({"spec": {"type": "NodePort",
            "ports": [{"name": "dns", "port": 53}, {"name": "http", "port": 8080}]}});
        patch_allocated_values(&mut new, &old);
        assert_eq!(new["spec"]["clusterIP"], "10.96.0.9");
        assert_eq!(new["spec"]["clusterIPs"], json!(["10.96.0.9"]));
        assert_eq!(new["spec"]["ports"][0]["nodePort"], 30053);
        assert_eq!(new["spec"]["ports"][1]["nodePort"], 30080);
        // A number the new spec uses elsewhere is not patched in again.
        let mut new = json!({"spec": {"type": "NodePort",
            "ports": [{"name": "dns", "port": 53, "nodePort": 30080}, {"name": "http", "port": 80}]}});
        patch_allocated_values(&mut new, &old);
        assert_eq!(new["spec"]["ports"][1].get("nodePort"), None);
    }

    #[test]
    fn type_changes_drop_what_the_new_type_does_not_use() {
        let old = json!({"spec": {"type": "NodePort", "clusterIP": "10.96.0.9", "clusterIPs": ["10.96.0.9"],
            "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack", "externalTrafficPolicy": "Cluster",
            "ports": [{"port": 80, "nodePort": 30080}]}});
        let mut to_cluster_ip = old.clone();
        to_cluster_ip["spec"]["type"] = json!("ClusterIP");
        drop_type_dependent_fields(&mut to_cluster_ip, &old);
        assert_eq!(to_cluster_ip["spec"]["ports"][0].get("nodePort"), None);
        assert_eq!(to_cluster_ip["spec"].get("externalTrafficPolicy"), None);
        assert_eq!(to_cluster_ip["spec"]["clusterIP"], "10.96.0.9");
        let mut to_external = old.clone();
        to_external["spec"]["type"] = json!("ExternalName");
        to_external["spec"]["externalName"] = json!("example.com");
        drop_type_dependent_fields(&mut to_external, &old);
        for k in ["clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"] {
            assert_eq!(to_external["spec"].get(k), None, "{k}");
        }
        // A new node port on a ClusterIP Service stays, for validation to refuse.
        let mut changed = old.clone();
        changed["spec"]["type"] = json!("ClusterIP");
        changed["spec"]["ports"][0]["nodePort"] = json!(30081);
        drop_type_dependent_fields(&mut changed, &old);
        assert_eq!(changed["spec"]["ports"][0]["nodePort"], 30081);
    }

    #[test]
    fn a_changed_cluster_ip_leads_the_plural() {
        let old = json!({"spec": {"clusterIP": "10.96.0.9", "clusterIPs": ["10.96.0.9"]}});
        let mut new = json!({"spec": {"clusterIP": "10.96.0.10", "clusterIPs": ["10.96.0.9"]}});
        normalize_cluster_ips(&mut new, &old);
        assert_eq!(new["spec"]["clusterIPs"], json!(["10.96.0.10"]));
    }
}
