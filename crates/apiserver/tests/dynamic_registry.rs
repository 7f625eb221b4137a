//! The registry changes while the server runs: a resource added is served
//! at once (REST verbs, discovery legacy and aggregated), one removed stops
//! being served while its stored objects stay, and group versions are
//! ordered as upstream orders them. Custom resources build on this.

mod common;

use std::sync::Arc;

use common::{call, server_with_namespace};
use serde_json::{Value, json};
use skiff_api::catalogue::{ResourceSpec, SubresourceSpec};
use skiff_api::strategy::Generic;
use skiff_api::validation::NameRule;
use skiff_apiserver::ApiServer;

fn widgets(version: &str) -> ResourceSpec {
    let verbs = [
        "create",
        "delete",
        "deletecollection",
        "get",
        "list",
        "patch",
        "update",
        "watch",
    ];
    ResourceSpec {
        group: "example.com".into(),
        version: version.into(),
        kind: "Widget".into(),
        plural: "widgets".into(),
        singular: "widget".into(),
        namespaced: true,
        verbs: verbs.map(String::from).to_vec(),
        short_names: vec!["wd".into()],
        categories: vec!["all".into()],
        subresources: vec![SubresourceSpec {
            name: "status".into(),
            group: "example.com".into(),
            version: version.into(),
            kind: "Widget".into(),
            verbs: vec!["get".into(), "patch".into(), "update".into()],
        }],
    }
}

fn add(server: &ApiServer, version: &str) {
    let def = widgets(version).intern();
    server.add_resource(def, Arc::new(Generic::new(def, NameRule::Subdomain, true)));
}

async fn get(server: &ApiServer, path: &str) -> (u16, Value) {
    let r = call(server, "GET", path, "", "").await;
    (r.status, r.body)
}

async fn aggregated_groups(server: &ApiServer) -> Value {
    let req = http::Request::builder()
        .uri("/apis")
        .header(
            "Accept",
            "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList",
        )
        .body(bytes::Bytes::new())
        .unwrap();
    let resp = server
        .handle(req, Some(skiff_apiserver::UserInfo::loopback()))
        .await;
    use http_body_util::BodyExt;
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    serde_json::from_slice(&bytes).unwrap()
}

fn group_names(groups: &Value) -> Vec<String> {
    groups["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn resources_come_and_go_while_the_server_runs() {
    let (server, _dir) = server_with_namespace().await;
    let collection = "/apis/example.com/v1/namespaces/ns/widgets";
    assert_eq!(get(&server, collection).await.0, 404);
    assert_eq!(get(&server, "/apis/example.com/v1").await.0, 404);
    let builtin_groups = group_names(&get(&server, "/apis").await.1);
    assert!(!builtin_groups.contains(&"example.com".to_string()));

    add(&server, "v1");

    // Discovery, legacy and aggregated, lists it at once, after the built-in groups.
    let groups = group_names(&get(&server, "/apis").await.1);
    assert_eq!(groups[..groups.len() - 1], builtin_groups[..]);
    assert_eq!(groups.last().unwrap(), "example.com");
    let (status, list) = get(&server, "/apis/example.com/v1").await;
    assert_eq!(status, 200);
    let names: Vec<&str> = list["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["widgets", "widgets/status"]);
    assert_eq!(list["resources"][0]["shortNames"], json!(["wd"]));
    assert_eq!(list["resources"][0]["kind"], "Widget");
    let aggregated = aggregated_groups(&server).await;
    let example = aggregated["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["metadata"]["name"] == "example.com")
        .expect("aggregated discovery lists the group");
    assert_eq!(
        example["versions"][0]["resources"][0]["resource"],
        "widgets"
    );
    assert_eq!(
        example["versions"][0]["resources"][0]["subresources"][0]["subresource"],
        "status"
    );

    // OpenAPI v3 and v2 describe it (any object, until its definition
    // brings a schema) and drop it once it goes.
    let (_, index) = get(&server, "/openapi/v3").await;
    let url = index["paths"]["apis/example.com/v1"]["serverRelativeURL"]
        .as_str()
        .expect("the group version has a document")
        .to_string();
    let (status, v3) = get(&server, &url).await;
    assert_eq!(status, 200);
    assert!(
        v3["paths"]["/apis/example.com/v1/namespaces/{namespace}/widgets/{name}"]["get"]
            .is_object()
    );
    let schema = &v3["components"]["schemas"]["com.example.v1.Widget"];
    assert_eq!(
        schema["x-kubernetes-group-version-kind"][0]["kind"],
        "Widget"
    );
    assert_eq!(schema["x-kubernetes-preserve-unknown-fields"], true);
    let (_, v2) = get(&server, "/openapi/v2").await;
    assert!(v2["paths"]["/apis/example.com/v1/namespaces/{namespace}/widgets"].is_object());
    assert!(v2["paths"]["/api/v1/namespaces/{namespace}/pods"].is_object());

    // Served as any resource: create, get, list, update, status.
    let created = call(
        &server,
        "POST",
        collection,
        "application/json",
        r#"{"apiVersion":"example.com/v1","kind":"Widget","metadata":{"name":"w1"},"spec":{"size":3},"status":{"ready":true}}"#,
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.body["spec"]["size"], 3);
    assert_eq!(created.body["metadata"]["generation"], 1);
    assert!(
        created.body.get("status").is_none(),
        "status is the subresource's"
    );
    let (status, w1) = get(&server, &format!("{collection}/w1")).await;
    assert_eq!(status, 200);
    assert_eq!(w1["metadata"]["uid"], created.body["metadata"]["uid"]);
    let (_, listed) = get(&server, collection).await;
    assert_eq!(listed["kind"], "WidgetList");
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);
    let patched = call(
        &server,
        "PATCH",
        &format!("{collection}/w1/status"),
        "application/merge-patch+json",
        r#"{"status":{"ready":true}}"#,
    )
    .await;
    assert_eq!(patched.status, 200, "{}", patched.body);
    assert_eq!(patched.body["status"]["ready"], true);
    assert_eq!(patched.body["metadata"]["generation"], 1);

    // Removed: no longer served, nor discovered; its objects stay stored.
    assert!(server.remove_resource("example.com", "v1", "widgets"));
    assert!(!server.remove_resource("example.com", "v1", "widgets"));
    assert_eq!(get(&server, &format!("{collection}/w1")).await.0, 404);
    assert_eq!(get(&server, "/apis/example.com").await.0, 404);
    assert_eq!(group_names(&get(&server, "/apis").await.1), builtin_groups);
    let (_, index) = get(&server, "/openapi/v3").await;
    assert!(index["paths"].get("apis/example.com/v1").is_none());
    assert!(index["paths"].get("apis/apps/v1").is_some());
    let (_, v2) = get(&server, "/openapi/v2").await;
    assert!(
        v2["paths"]
            .get("/apis/example.com/v1/namespaces/{namespace}/widgets")
            .is_none()
    );
    add(&server, "v1");
    let (status, again) = get(&server, &format!("{collection}/w1")).await;
    assert_eq!(status, 200);
    assert_eq!(again["metadata"]["uid"], created.body["metadata"]["uid"]);
}

#[tokio::test]
async fn a_groups_versions_are_ordered_as_upstream_prefers_them() {
    let (server, _dir) = server_with_namespace().await;
    for v in ["v1beta1", "v1", "v2alpha1", "v2"] {
        add(&server, v);
    }
    let (_, group) = get(&server, "/apis/example.com").await;
    let versions: Vec<&str> = group["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_str().unwrap())
        .collect();
    assert_eq!(versions, ["v2", "v1", "v1beta1", "v2alpha1"]);
    assert_eq!(group["preferredVersion"]["version"], "v2");
    assert!(server.remove_resource("example.com", "v2", "widgets"));
    let (_, group) = get(&server, "/apis/example.com").await;
    assert_eq!(group["preferredVersion"]["version"], "v1");
}
