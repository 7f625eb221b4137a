//! Discovery: `/api`, `/apis`, group and group-version documents, and aggregated
//! discovery (`apidiscovery.k8s.io/v2`, which kubectl 1.30+ asks for first), all
//! generated from the registry as it is when asked (resources added or
//! removed while the server runs appear and go at once).

use serde_json::{Value, json};
use skiff_api::{ApiError, ResourceDef};

use crate::ApiServer;
use crate::registry::{Group, GroupVersion, Snapshot};
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

fn group_version(group: &str, version: &str) -> String {
    if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    }
}

fn api_group(group: &Group) -> Value {
    let vs: Vec<Value> = group
        .versions
        .iter()
        .map(
            |v| json!({"groupVersion": group_version(group.name, v.version), "version": v.version}),
        )
        .collect();
    json!({"name": group.name, "versions": vs, "preferredVersion": vs[0]})
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

fn resource_list(group: &str, gv: &GroupVersion) -> Value {
    let version = gv.version;
    let mut resources = Vec::new();
    for d in gv.resources.iter().map(|r| r.def) {
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

fn aggregated_group(group: &Group) -> Value {
    let versions: Vec<Value> = group
        .versions
        .iter()
        .map(|gv| {
            let v = gv.version;
            let resources: Vec<Value> = gv
                .resources
                .iter()
                .map(|r| r.def)
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
    if !group.name.is_empty() {
        metadata["name"] = json!(group.name);
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
    let snapshot = server.inner.registry.snapshot();
    let groups = snapshot.groups();
    match route {
        Route::Root("api") => {
            if wants_aggregated(headers) {
                return Ok(aggregated(
                    snapshot
                        .group("")
                        .map(aggregated_group)
                        .into_iter()
                        .collect(),
                ));
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
                        .filter(|g| !g.name.is_empty())
                        .map(aggregated_group)
                        .collect(),
                ));
            }
            let list: Vec<Value> = groups
                .iter()
                .filter(|g| !g.name.is_empty())
                .map(api_group)
                .collect();
            Ok(response::json(
                200,
                &json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": list}),
            ))
        }
        Route::Group(g) => match snapshot.group(g).filter(|g| !g.name.is_empty()) {
            Some(group) => {
                let mut doc = api_group(group);
                doc["kind"] = json!("APIGroup");
                doc["apiVersion"] = json!("v1");
                Ok(response::json(200, &doc))
            }
            None => Err(ApiError::not_found_path()),
        },
        Route::GroupVersion(g, v) => {
            let Some(gv) = snapshot
                .group(g)
                .and_then(|group| group.versions.iter().find(|gv| gv.version == v))
            else {
                return Err(ApiError::not_found_path());
            };
            Ok(response::json(200, &resource_list(g, gv)))
        }
        _ => Err(ApiError::not_found_path()),
    }
}

/// The paths `/` lists.
pub fn paths(server: &ApiServer) -> Vec<String> {
    let mut out = vec![
        "/api".to_string(),
        "/api/v1".to_string(),
        "/apis".to_string(),
    ];
    let snapshot: std::sync::Arc<Snapshot> = server.inner.registry.snapshot();
    for g in snapshot.groups().iter().filter(|g| !g.name.is_empty()) {
        out.push(format!("/apis/{}", g.name));
        for v in &g.versions {
            out.push(format!("/apis/{}/{}", g.name, v.version));
        }
    }
    out.extend(["/healthz", "/livez", "/metrics", "/readyz", "/version"].map(String::from));
    out
}
