//! Services, as upstream's `ValidateService` and `ValidateServiceUpdate`
//! (`pkg/apis/core/validation/validation.go`) check them: ports (required but
//! for headless and ExternalName services, numbers, names required when more
//! than one and unique, protocols, target ports as numbers or IANA names),
//! types, session affinity, traffic policies, node ports on ClusterIP
//! services, duplicates, and on update the cluster IPs that may not change
//! once set.
//!
//! Validation runs before the allocation that defaults a new Service's type,
//! protocols, target ports and cluster IP (the API server's `services.rs`), so
//! absent values read as upstream's defaults. On update, a Service that leaves
//! out its cluster IPs keeps the old ones, as upstream's REST update patches
//! allocated values in. The node port range and IP addresses are the
//! allocator's to check.

use std::collections::HashSet;

use serde_json::{Value, json};

use super::common::{
    arr_of, dns_label, go_quote, go_string_slice, int_of, labels, port_num_or_name,
    port_num_problems, qualified_name, str_of, subdomain_problems,
};
use super::pods::protocol;
use crate::errors::Cause;

fn spec(obj: &Value) -> &Value {
    static NULL: Value = Value::Null;
    obj.get("spec").unwrap_or(&NULL)
}

/// The type, ClusterIP when unset.
fn svc_type(spec: &Value) -> &str {
    match str_of(spec, "type") {
        "" => "ClusterIP",
        t => t,
    }
}

/// `spec.clusterIPs`, or `[spec.clusterIP]` before the strategy normalizes them.
fn cluster_ips(spec: &Value) -> Vec<String> {
    let ips: Vec<String> = arr_of(spec, "clusterIPs")
        .iter()
        .map(|v| v.as_str().unwrap_or("").to_string())
        .collect();
    if !ips.is_empty() {
        return ips;
    }
    match str_of(spec, "clusterIP") {
        "" => Vec::new(),
        ip => vec![ip.to_string()],
    }
}

fn is_headless(spec: &Value) -> bool {
    cluster_ips(spec) == ["None"]
}

/// A port's effective target port: the port itself when unset, 0 or "".
fn target_port(p: &Value) -> Value {
    match p.get("targetPort") {
        None | Some(Value::Null) => json!(int_of(p, "port").unwrap_or(0)),
        Some(Value::Number(n)) if n.as_i64() == Some(0) => json!(int_of(p, "port").unwrap_or(0)),
        Some(Value::String(s)) if s.is_empty() => json!(int_of(p, "port").unwrap_or(0)),
        Some(v) => v.clone(),
    }
}

fn proto(p: &Value) -> &str {
    match str_of(p, "protocol") {
        "" => "TCP",
        x => x,
    }
}

/// `core.ServicePort` as `%#v` prints the (protocol, port) key of a duplicate.
fn go_service_port_key(protocol: &str, port: i64) -> String {
    format!(
        "core.ServicePort{{Name:\"\", Protocol:{}, AppProtocol:(*string)(nil), Port:{port}, TargetPort:intstr.IntOrString{{Type:0, IntVal:0, StrVal:\"\"}}, NodePort:0}}",
        go_quote(protocol)
    )
}

/// `ValidateService` (its spec part).
pub fn validate_service(obj: &Value) -> Vec<Cause> {
    let spec = spec(obj);
    let mut causes = Vec::new();
    let ty = svc_type(spec);
    let ports = arr_of(spec, "ports");
    let headless = is_headless(spec);
    if ports.is_empty() && !headless && ty != "ExternalName" {
        causes.push(Cause::required("spec.ports"));
    }
    match ty {
        "LoadBalancer" | "NodePort" if headless => causes.push(Cause::invalid(
            "spec.clusterIPs[0]",
            &json!("None"),
            format!("may not be set to 'None' for {ty} services"),
        )),
        "ExternalName" => {
            if !cluster_ips(spec).is_empty() {
                causes.push(Cause::forbidden(
                    "spec.clusterIPs",
                    "may not be set for ExternalName services",
                ));
            }
            if !arr_of(spec, "ipFamilies").is_empty() {
                causes.push(Cause::forbidden(
                    "spec.ipFamilies",
                    "may not be set for ExternalName services",
                ));
            }
            if spec.get("ipFamilyPolicy").is_some_and(|v| !v.is_null()) {
                causes.push(Cause::forbidden(
                    "spec.ipFamilyPolicy",
                    "may not be set for ExternalName services",
                ));
            }
            let cname = str_of(spec, "externalName");
            let cname = cname.strip_suffix('.').unwrap_or(cname);
            if cname.is_empty() {
                causes.push(Cause::required("spec.externalName"));
            } else {
                for msg in subdomain_problems(cname) {
                    causes.push(Cause::invalid("spec.externalName", &json!(cname), msg));
                }
            }
        }
        _ => {}
    }
    let mut names = HashSet::new();
    for (i, p) in ports.iter().enumerate() {
        let pp = format!("spec.ports[{i}]");
        let name = str_of(p, "name");
        if ports.len() > 1 && name.is_empty() {
            causes.push(Cause::required(format!("{pp}.name")));
        } else if !name.is_empty() {
            dns_label(name, &format!("{pp}.name"), &mut causes);
            if !names.insert(name) {
                causes.push(Cause::duplicate(format!("{pp}.name"), &json!(name)));
            }
        }
        let port = int_of(p, "port").unwrap_or(0);
        for msg in port_num_problems(port) {
            causes.push(Cause::invalid(format!("{pp}.port"), &json!(port), msg));
        }
        protocol(p, &format!("{pp}.protocol"), &mut causes);
        port_num_or_name(
            Some(&target_port(p)),
            &format!("{pp}.targetPort"),
            &mut causes,
        );
        if let Some(ap) = p.get("appProtocol").and_then(Value::as_str) {
            qualified_name(ap, &format!("{pp}.appProtocol"), &mut causes);
        }
    }
    if spec.get("selector").is_some_and(|s| !s.is_null()) {
        labels(spec.get("selector"), "spec.selector", &mut causes);
    }
    let affinity = match str_of(spec, "sessionAffinity") {
        "" => "None",
        a => a,
    };
    let config = spec.get("sessionAffinityConfig").filter(|c| !c.is_null());
    match affinity {
        "ClientIP" => {
            if let Some(t) = config
                .and_then(|c| c.pointer("/clientIP/timeoutSeconds"))
                .and_then(Value::as_i64)
                && !(1..=86400).contains(&t)
            {
                causes.push(Cause::invalid(
                    "spec.sessionAffinityConfig.clientIP.timeoutSeconds",
                    &json!(t),
                    "must be greater than 0 and less than 86400",
                ));
            }
        }
        "None" => {
            if config.is_some() {
                causes.push(Cause::forbidden(
                    "spec.sessionAffinityConfig",
                    "must not be set when session affinity is None",
                ));
            }
        }
        other => causes.push(Cause::not_supported(
            "spec.sessionAffinity",
            &json!(other),
            &["ClientIP", "None"],
        )),
    }
    for (i, ip) in arr_of(spec, "externalIPs").iter().enumerate() {
        let s = ip.as_str().unwrap_or("");
        if s.parse::<std::net::IpAddr>().is_err() {
            causes.push(Cause::invalid(
                format!("spec.externalIPs[{i}]"),
                &json!(s),
                "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)",
            ));
        }
    }
    if !matches!(
        ty,
        "ClusterIP" | "NodePort" | "LoadBalancer" | "ExternalName"
    ) {
        causes.push(Cause::not_supported(
            "spec.type",
            &json!(ty),
            &["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"],
        ));
    }
    if ty == "ClusterIP" {
        for (i, p) in ports.iter().enumerate() {
            if int_of(p, "nodePort").unwrap_or(0) != 0 {
                causes.push(Cause::forbidden(
                    format!("spec.ports[{i}].nodePort"),
                    "may not be used when `type` is 'ClusterIP'",
                ));
            }
        }
    }
    let mut node_ports = HashSet::new();
    for (i, p) in ports.iter().enumerate() {
        let np = int_of(p, "nodePort").unwrap_or(0);
        if np != 0 && !node_ports.insert((proto(p), np)) {
            causes.push(Cause::duplicate(
                format!("spec.ports[{i}].nodePort"),
                &json!(np),
            ));
        }
    }
    let mut keys = HashSet::new();
    for (i, p) in ports.iter().enumerate() {
        let port = int_of(p, "port").unwrap_or(0);
        if !keys.insert((proto(p), port)) {
            causes.push(Cause::duplicate_rendered(
                format!("spec.ports[{i}]"),
                go_service_port_key(proto(p), port),
            ));
        }
    }
    if !arr_of(spec, "loadBalancerSourceRanges").is_empty() && ty != "LoadBalancer" {
        causes.push(Cause::forbidden(
            "spec.LoadBalancerSourceRanges",
            "may only be used when `type` is 'LoadBalancer'",
        ));
    }
    if spec
        .get("allocateLoadBalancerNodePorts")
        .is_some_and(|v| !v.is_null())
        && ty != "LoadBalancer"
    {
        causes.push(Cause::forbidden(
            "spec.allocateLoadBalancerNodePorts",
            "may only be used when `type` is 'LoadBalancer'",
        ));
    }
    if let Some(class) = spec.get("loadBalancerClass").and_then(Value::as_str) {
        if ty == "LoadBalancer" {
            qualified_name(class, "spec.loadBalancerClass", &mut causes);
        } else {
            causes.push(Cause::forbidden(
                "spec.loadBalancerClass",
                "may only be used when `type` is 'LoadBalancer'",
            ));
        }
    }
    let externally_accessible = matches!(ty, "LoadBalancer" | "NodePort")
        || (ty == "ClusterIP" && !arr_of(spec, "externalIPs").is_empty());
    let etp = str_of(spec, "externalTrafficPolicy");
    if !externally_accessible {
        if !etp.is_empty() {
            causes.push(Cause::invalid(
                "spec.externalTrafficPolicy",
                &json!(etp),
                "may only be set for externally-accessible services",
            ));
        }
    } else if !etp.is_empty() && etp != "Cluster" && etp != "Local" {
        causes.push(Cause::not_supported(
            "spec.externalTrafficPolicy",
            &json!(etp),
            &["Cluster", "Local"],
        ));
    }
    let needs_health_check = ty == "LoadBalancer" && etp == "Local";
    let hcnp = int_of(spec, "healthCheckNodePort").unwrap_or(0);
    if !needs_health_check && hcnp != 0 {
        causes.push(Cause::invalid(
            "spec.healthCheckNodePort",
            &json!(hcnp),
            "may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'",
        ));
    } else if needs_health_check && hcnp != 0 {
        for msg in port_num_problems(hcnp) {
            causes.push(Cause::invalid(
                "spec.healthCheckNodePort",
                &json!(hcnp),
                msg,
            ));
        }
    }
    if let Some(itp) = spec.get("internalTrafficPolicy").and_then(Value::as_str)
        && itp != "Cluster"
        && itp != "Local"
    {
        causes.push(Cause::not_supported(
            "spec.internalTrafficPolicy",
            &json!(itp),
            &["Cluster", "Local"],
        ));
    }
    if let Some(td) = spec.get("trafficDistribution").and_then(Value::as_str)
        && td != "PreferClose"
    {
        causes.push(Cause::not_supported(
            "spec.trafficDistribution",
            &json!(td),
            &["PreferClose"],
        ));
    }
    causes
}

/// `ValidateServiceUpdate`'s rules beyond those of a new Service: cluster IPs
/// and IP families may not change once set (unless to or from ExternalName),
/// nor the load balancer class, nor a needed health check node port.
pub fn validate_service_update(new: &Value, old: &Value) -> Vec<Cause> {
    let (ns, os) = (spec(new), spec(old));
    let mut causes = Vec::new();
    if svc_type(ns) == "ExternalName" || svc_type(os) == "ExternalName" {
        return causes;
    }
    let old_ips = cluster_ips(os);
    let mut new_ips = cluster_ips(ns);
    if new_ips.is_empty() {
        new_ips = old_ips.clone();
    }
    let rendered = || go_string_slice(Some(&json!(new_ips)));
    if !(is_headless(os) && new_ips == ["None"]) {
        let changed = "may not change once set";
        if old_ips.len() == new_ips.len() {
            for (i, ip) in old_ips.iter().enumerate() {
                if *ip != new_ips[i] {
                    causes.push(Cause::invalid_rendered(
                        format!("spec.clusterIPs[{i}]"),
                        rendered(),
                        changed,
                    ));
                }
            }
        } else if old_ips.len() > new_ips.len() {
            if new_ips[0] != old_ips[0] {
                causes.push(Cause::invalid_rendered(
                    "spec.clusterIPs[0]",
                    rendered(),
                    changed,
                ));
            }
            if new_ips.len() == 1 && str_of(ns, "ipFamilyPolicy") != "SingleStack" {
                causes.push(Cause::invalid_rendered(
                    "spec.ipFamilyPolicy",
                    match ns.get("ipFamilyPolicy").and_then(Value::as_str) {
                        Some(p) => go_quote(p),
                        None => "null".into(),
                    },
                    "must be set to 'SingleStack' when releasing the secondary clusterIP",
                ));
            }
        } else if !old_ips.is_empty() && new_ips[0] != old_ips[0] {
            causes.push(Cause::invalid_rendered(
                "spec.clusterIPs[0]",
                rendered(),
                changed,
            ));
        }
    }
    let (nf, of) = (arr_of(ns, "ipFamilies"), arr_of(os, "ipFamilies"));
    if !nf.is_empty()
        && nf.len() == of.len()
        && is_headless(ns) == is_headless(os)
        && !is_headless(ns)
    {
        let families: Vec<String> = nf
            .iter()
            .map(|f| go_quote(f.as_str().unwrap_or("")))
            .collect();
        for (i, f) in of.iter().enumerate() {
            if nf[i] != *f {
                causes.push(Cause::invalid_rendered(
                    "spec.ipFamilies[0]",
                    format!("[]core.IPFamily{{{}}}", families.join(", ")),
                    "may not change once set",
                ));
            }
        }
    }
    if svc_type(ns) == "LoadBalancer"
        && svc_type(os) == "LoadBalancer"
        && ns.get("loadBalancerClass") != os.get("loadBalancerClass")
    {
        causes.push(Cause::invalid_rendered(
            "spec.loadBalancerClass",
            match ns.get("loadBalancerClass").and_then(Value::as_str) {
                Some(c) => go_quote(c),
                None => "null".into(),
            },
            "may not change once set",
        ));
    }
    let needs =
        |s: &Value| svc_type(s) == "LoadBalancer" && str_of(s, "externalTrafficPolicy") == "Local";
    let (nh, oh) = (
        int_of(ns, "healthCheckNodePort").unwrap_or(0),
        int_of(os, "healthCheckNodePort").unwrap_or(0),
    );
    if needs(ns) && needs(os) && nh != 0 && nh != oh {
        causes.push(Cause::forbidden(
            "spec.healthCheckNodePort",
            "field is immutable",
        ));
    }
    causes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shown(causes: &[Cause]) -> Vec<String> {
        causes.iter().map(Cause::display).collect()
    }

    fn svc(spec: Value) -> Value {
        json!({"metadata": {"name": "web"}, "spec": spec})
    }

    #[test]
    fn valid_services_have_no_causes() {
        for spec in [
            json!({"selector": {"app": "web"}, "ports": [{"port": 80}]}),
            json!({"type": "NodePort", "ports": [{"name": "http", "port": 80, "targetPort": "http"}, {"name": "https", "port": 443, "protocol": "TCP"}]}),
            json!({"clusterIP": "None", "selector": {"app": "db"}}),
            json!({"type": "ExternalName", "externalName": "db.example.com."}),
        ] {
            assert_eq!(shown(&validate_service(&svc(spec))), Vec::<String>::new());
        }
    }

    #[test]
    fn ports_rules() {
        assert_eq!(
            shown(&validate_service(&svc(json!({"selector": {"app": "web"}})))),
            ["spec.ports: Required value"]
        );
        let s = svc(json!({"ports": [
            {"port": 0, "targetPort": 70000, "protocol": "ICMP"},
            {"name": "Web", "port": 80, "targetPort": "web--x"},
            {"name": "dns", "port": 80}
        ]}));
        assert_eq!(
            shown(&validate_service(&s)),
            [
                "spec.ports[0].name: Required value",
                "spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive",
                "spec.ports[0].protocol: Unsupported value: \"ICMP\": supported values: \"SCTP\", \"TCP\", \"UDP\"",
                "spec.ports[0].targetPort: Invalid value: 70000: must be between 1 and 65535, inclusive",
                "spec.ports[1].name: Invalid value: \"Web\": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')",
                "spec.ports[1].targetPort: Invalid value: \"web--x\": must not contain consecutive hyphens",
                "spec.ports[2]: Duplicate value: core.ServicePort{Name:\"\", Protocol:\"TCP\", AppProtocol:(*string)(nil), Port:80, TargetPort:intstr.IntOrString{Type:0, IntVal:0, StrVal:\"\"}, NodePort:0}",
            ]
        );
    }

    #[test]
    fn types_and_policies() {
        let s = svc(json!({"type": "Internal", "ports": [{"port": 80}]}));
        assert_eq!(
            shown(&validate_service(&s)),
            [
                "spec.type: Unsupported value: \"Internal\": supported values: \"ClusterIP\", \"ExternalName\", \"LoadBalancer\", \"NodePort\""
            ]
        );
        let s = svc(
            json!({"type": "NodePort", "clusterIP": "None", "sessionAffinity": "Sticky",
            "externalTrafficPolicy": "Nearest", "ports": [{"port": 80, "nodePort": 30080}, {"name": "b", "port": 81, "nodePort": 30080}]}),
        );
        assert_eq!(
            shown(&validate_service(&s)),
            [
                "spec.clusterIPs[0]: Invalid value: \"None\": may not be set to 'None' for NodePort services",
                "spec.ports[0].name: Required value",
                "spec.sessionAffinity: Unsupported value: \"Sticky\": supported values: \"ClientIP\", \"None\"",
                "spec.ports[1].nodePort: Duplicate value: 30080",
                "spec.externalTrafficPolicy: Unsupported value: \"Nearest\": supported values: \"Cluster\", \"Local\"",
            ]
        );
        let s = svc(
            json!({"ports": [{"port": 80, "nodePort": 30001}], "externalTrafficPolicy": "Local", "loadBalancerSourceRanges": ["10.0.0.0/8"]}),
        );
        assert_eq!(
            shown(&validate_service(&s)),
            [
                "spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'",
                "spec.LoadBalancerSourceRanges: Forbidden: may only be used when `type` is 'LoadBalancer'",
                "spec.externalTrafficPolicy: Invalid value: \"Local\": may only be set for externally-accessible services",
            ]
        );
        let s = svc(
            json!({"type": "ExternalName", "externalName": "Not_A_Host", "clusterIP": "10.96.0.9"}),
        );
        assert_eq!(
            shown(&validate_service(&s)),
            [
                "spec.clusterIPs: Forbidden: may not be set for ExternalName services",
                "spec.externalName: Invalid value: \"Not_A_Host\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
            ]
        );
    }

    #[test]
    fn cluster_ips_may_not_change() {
        let old = svc(
            json!({"type": "ClusterIP", "clusterIP": "10.96.0.10", "clusterIPs": ["10.96.0.10"], "ports": [{"port": 80}], "selector": {"app": "a"}}),
        );
        let mut new = old.clone();
        new["spec"]["selector"] = json!({"app": "b"});
        assert!(validate_service_update(&new, &old).is_empty());
        // Left out: kept from the old Service.
        new["spec"].as_object_mut().unwrap().remove("clusterIP");
        new["spec"].as_object_mut().unwrap().remove("clusterIPs");
        assert!(validate_service_update(&new, &old).is_empty());
        new["spec"]["clusterIP"] = json!("10.96.0.11");
        new["spec"]["clusterIPs"] = json!(["10.96.0.11"]);
        assert_eq!(
            shown(&validate_service_update(&new, &old)),
            [
                "spec.clusterIPs[0]: Invalid value: []string{\"10.96.0.11\"}: may not change once set"
            ]
        );
        // To ExternalName: allowed.
        let ext = svc(json!({"type": "ExternalName", "externalName": "x.example.com"}));
        assert!(validate_service_update(&ext, &old).is_empty());
    }
}
