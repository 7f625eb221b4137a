//! Request info, as upstream's `WithRequestInfo`: what a request asks —
//! its route (a resource request's group, version, resource, name,
//! subresource and verb, or one of the API's documents) — and the labels
//! its metrics carry, which come only from what the server knows (upstream's
//! CVE-2020-8552): a resource of the registry or none, a method of HTTP's or
//! "other"; no request can add series.

use std::collections::HashMap;

use crate::ApiServer;
use crate::request::{Route, query, route};

pub struct Info {
    pub path: String,
    pub params: HashMap<String, String>,
    pub route: Route,
    pub verb: String,
    /// The resource for metrics: a served one, or empty.
    pub metric_resource: String,
    pub scope: &'static str,
    pub mutating: bool,
    /// Upstream's `--long-running-request-regexp`: watches, proxies, logs,
    /// exec, attach and port-forward.
    pub long_running: bool,
}

impl Info {
    pub fn resource(&self) -> Option<&crate::request::RequestInfo> {
        match &self.route {
            Route::Resource(i) => Some(i),
            _ => None,
        }
    }
}

pub fn resolve(server: &ApiServer, parts: &http::request::Parts) -> Info {
    let params = query(parts.uri.query());
    let path = parts.uri.path().to_string();
    let routed = route(&parts.method, &path, &params);
    let (verb, metric_resource, scope) = match &routed {
        Route::Resource(i) => (
            i.verb.as_str().to_string(),
            if server
                .inner
                .registry
                .resource(&i.group, &i.version, &i.resource)
                .is_some()
            {
                i.resource.clone()
            } else {
                String::new()
            },
            if !i.name.is_empty() {
                "resource"
            } else if !i.namespace.is_empty() {
                "namespace"
            } else {
                "cluster"
            },
        ),
        _ => (
            match parts.method.as_str() {
                m @ ("GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE" | "OPTIONS"
                | "CONNECT") => m.to_lowercase(),
                _ => "other".to_string(),
            },
            String::new(),
            "",
        ),
    };
    let mutating = matches!(
        verb.as_str(),
        "create" | "update" | "patch" | "delete" | "deletecollection"
    );
    let long_running = verb == "watch"
        || matches!(&routed, Route::Resource(i) if matches!(
            i.subresource.as_str(),
            "proxy" | "log" | "exec" | "attach" | "portforward"
        ));
    Info {
        path,
        params,
        route: routed,
        verb,
        metric_resource,
        scope,
        mutating,
        long_running,
    }
}
