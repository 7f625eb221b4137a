//! Discovery: `/api`, `/apis`, group and group-version documents, and aggregated
//! discovery (`apidiscovery.k8s.io/v2`, which kubectl 1.30+ asks for first), all
//! generated from the resource catalogue.

use serde_json::{Value, json};
use skiff_api::{ApiError, ResourceDef, catalogue};

use crate::ApiServer;
use crate::request::Route;
use crate::response::{self, Body};

const AGGREGATED: &str = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

fn wants_aggregated(headers: &http::HeaderMap) -> bool {
    headers
        .get(http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| {
            a.split(',').any(|p| {
                let p = p.replace(' ', "");
                p.contains("g=apidiscovery.k8s.io")
                    && p.contains("v=v2;")
                    && p.contains("as=APIGroupDiscoveryList")
                    || p.ends_with("v=v2") && p.contains("as=APIGroupDiscoveryList")
            })
        })
}

fn resources_of<'a>(
    group: &'a str,
    version: &'a str,
) -> impl Iterator<Item = &'static ResourceDef> + use<'a> {
    catalogue::builtin()
        .iter()
        .filter(move |d| d.group == group && d.version == version)
}

fn group_version(group: &str, version: &str) -> String {
    if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    }
}

fn api_group(group: &str, versions: &[&str]) -> Value {
    let vs: Vec<Value> = versions
        .iter()
        .map(|v| json!({"groupVersion": group_version(group, v), "version": v}))
        .collect();
    json!({"name": group, "versions": vs, "preferredVersion": vs[0]})
}

/// Upstream's storageVersionHash: base64 of the first 8 bytes of the SHA-256
/// of the storage `group/version/kind` (events.k8s.io Events are stored as
/// core v1 Events).
fn storage_version_hash(def: &ResourceDef) -> String {
    use base64::Engine;
    let gvk = match (def.group, def.kind) {
        ("events.k8s.io", "Event") => "/v1/Event".to_string(),
        _ => format!("{}/{}/{}", def.group, def.version, def.kind),
    };
    let digest = ring::digest::digest(&ring::digest::SHA256, gvk.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(&digest.as_ref()[..8])
}

fn resource_list(group: &str, version: &str) -> Value {
    let mut resources = Vec::new();
    for d in resources_of(group, version) {
        let mut r = json!({
            "name": d.plural,
            "singularName": d.singular,
            "namespaced": d.namespaced,
            "kind": d.kind,
            "verbs": d.verbs,
        });
        if !d.short_names.is_empty() {
            r["shortNames"] = json!(d.short_names);
        }
        if !d.categories.is_empty() {
            r["categories"] = json!(d.categories);
        }
        if d.has_verb("list") {
            r["storageVersionHash"] = json!(storage_version_hash(d));
        }
        resources.push(r);
        for s in d.subresources {
            let mut sr = json!({"name": format!("{}/{}", d.plural, s.name), "singularName": "", "namespaced": d.namespaced, "kind": s.kind, "verbs": s.verbs});
            if s.group != d.group || s.version != d.version {
                sr["group"] = json!(s.group);
                sr["version"] = json!(s.version);
            }
            resources.push(sr);
        }
    }
    json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version(group, version), "resources": resources})
}

fn aggregated_group(group: &str, versions: &[&str]) -> Value {
    let versions: Vec<Value> = versions
        .iter()
        .map(|v| {
            let resources: Vec<Value> = resources_of(group, v)
                .map(|d| {
                    let mut r = json!({
                        "resource": d.plural,
                        "responseKind": {"group": d.group, "version": d.version, "kind": d.kind},
                        "scope": if d.namespaced { "Namespaced" } else { "Cluster" },
                        "singularResource": d.singular,
                        "verbs": d.verbs,
                    });
                    if !d.short_names.is_empty() {
                        r["shortNames"] = json!(d.short_names);
                    }
                    if !d.categories.is_empty() {
                        r["categories"] = json!(d.categories);
                    }
                    if !d.subresources.is_empty() {
                        r["subresources"] = Value::Array(
                            d.subresources
                                .iter()
                                .map(|s| json!({"subresource": s.name, "responseKind": {"group": s.group, "version": s.version, "kind": s.kind}, "verbs": s.verbs}))
                                .collect(),
                        );
                    }
                    r
                })
                .collect();
            json!({"version": v, "resources": resources, "freshness": "Current"})
        })
        .collect();
    let mut metadata = json!({"creationTimestamp": null});
    if !group.is_empty() {
        metadata["name"] = json!(group);
    }
    json!({"metadata": metadata, "versions": versions})
}

fn aggregated(items: Vec<Value>) -> http::Response<Body> {
    let body = json!({"kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2", "metadata": {}, "items": items});
    let mut resp = response::json(200, &body);
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static(AGGREGATED),
    );
    resp.headers_mut()
        .insert(http::header::VARY, http::HeaderValue::from_static("Accept"));
    resp
}

/// Serves a discovery document.
pub fn serve(
    server: &ApiServer,
    route: &Route,
    headers: &http::HeaderMap,
) -> Result<http::Response<Body>, ApiError> {
    let groups = catalogue::builtin_groups();
    match route {
        Route::Root("api") => {
            if wants_aggregated(headers) {
                return Ok(aggregated(vec![aggregated_group("", &["v1"])]));
            }
            Ok(response::json(
                200,
                &json!({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server.inner.options.advertise_address}]}),
            ))
        }
        Route::Root(_) => {
            if wants_aggregated(headers) {
                return Ok(aggregated(
                    groups
                        .iter()
                        .filter(|(g, _)| !g.is_empty())
                        .map(|(g, vs)| aggregated_group(g, vs))
                        .collect(),
                ));
            }
            let list: Vec<Value> = groups
                .iter()
                .filter(|(g, _)| !g.is_empty())
                .map(|(g, vs)| api_group(g, vs))
                .collect();
            Ok(response::json(
                200,
                &json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": list}),
            ))
        }
        Route::Group(g) => match groups
            .iter()
            .find(|(name, _)| name == g && !name.is_empty())
        {
            Some((name, vs)) => {
                let mut doc = api_group(name, vs);
                doc["kind"] = json!("APIGroup");
                doc["apiVersion"] = json!("v1");
                Ok(response::json(200, &doc))
            }
            None => Err(ApiError::not_found_path()),
        },
        Route::GroupVersion(g, v) => {
            let served = groups
                .iter()
                .any(|(name, vs)| name == g && vs.contains(&v.as_str()));
            if !served {
                return Err(ApiError::not_found_path());
            }
            Ok(response::json(200, &resource_list(g, v)))
        }
        _ => Err(ApiError::not_found_path()),
    }
}

/// The paths `/` lists.
pub fn paths(_server: &ApiServer) -> Vec<String> {
    let mut out = vec![
        "/api".to_string(),
        "/api/v1".to_string(),
        "/apis".to_string(),
    ];
    for (g, vs) in catalogue::builtin_groups()
        .iter()
        .filter(|(g, _)| !g.is_empty())
    {
        out.push(format!("/apis/{g}"));
        for v in *vs {
            out.push(format!("/apis/{g}/{v}"));
        }
    }
    out.extend(["/healthz", "/livez", "/metrics", "/readyz", "/version"].map(String::from));
    out
}
