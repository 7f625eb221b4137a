//! Kubernetes protobuf on the wire, checked with an independent implementation
//! (k8s-pb's prost types, the protos client-go's are generated from): request
//! bodies keep proto2 field presence (a pointer set to zero stays zero) and
//! times before 1970; responses are served in protobuf when asked for —
//! objects, lists, Status errors and watch streams of `WatchEvent` frames.

mod common;

use bytes::Bytes;
use common::call;
use http_body_util::BodyExt;
use k8s_pb::api::apps::v1 as apps;
use k8s_pb::api::coordination::v1 as coordination;
use k8s_pb::apimachinery::pkg::apis::meta::v1 as meta;
use k8s_pb::apimachinery::pkg::runtime::{TypeMeta, Unknown};
use prost::Message;
use serde_json::{Value, json};
use skiff_apiserver::{ApiServer, UserInfo};

const PROTOBUF: &str = "application/vnd.kubernetes.protobuf";
const DEPLOYMENTS: &str = "/apis/apps/v1/namespaces/ns/deployments";
const LEASES: &str = "/apis/coordination.k8s.io/v1/namespaces/ns/leases";

/// An object in the `k8s\0` envelope, as client-go's protobuf serializer writes it.
fn envelope(api_version: &str, kind: &str, object: &impl Message) -> Vec<u8> {
    let unknown = Unknown {
        type_meta: Some(TypeMeta {
            api_version: Some(api_version.into()),
            kind: Some(kind.into()),
        }),
        raw: Some(object.encode_to_vec()),
        content_encoding: Some(String::new()),
        content_type: Some(String::new()),
    };
    let mut out = b"k8s\0".to_vec();
    out.extend(unknown.encode_to_vec());
    out
}

/// The object inside a protobuf response body.
fn open(body: &[u8]) -> Unknown {
    let raw = body
        .strip_prefix(b"k8s\0")
        .expect("the k8s protobuf prefix");
    Unknown::decode(raw).expect("an Unknown")
}

fn meta_named(name: &str) -> meta::ObjectMeta {
    meta::ObjectMeta {
        name: Some(name.into()),
        ..Default::default()
    }
}

/// One request with headers: (status, content type, body bytes).
async fn raw(
    s: &ApiServer,
    method: &str,
    path: &str,
    accept: &str,
    content_type: &str,
    body: Vec<u8>,
) -> (u16, String, Bytes) {
    let req = http::Request::builder()
        .method(method)
        .uri(path)
        .header("Accept", accept)
        .header("Content-Type", content_type)
        .body(Bytes::from(body))
        .unwrap();
    let resp = s.handle(req, Some(UserInfo::loopback())).await;
    let status = resp.status().as_u16();
    let ct = resp
        .headers()
        .get("Content-Type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (status, ct, bytes)
}

fn deployment(name: &str, replicas: i32) -> apps::Deployment {
    let labels = [("app".to_string(), "a".to_string())].into_iter().collect();
    apps::Deployment {
        metadata: Some(meta_named(name)),
        spec: Some(apps::DeploymentSpec {
            replicas: Some(replicas),
            paused: Some(false),
            min_ready_seconds: Some(0),
            selector: Some(meta::LabelSelector {
                match_labels: labels,
                ..Default::default()
            }),
            template: Some(k8s_pb::api::core::v1::PodTemplateSpec {
                metadata: Some(meta::ObjectMeta {
                    labels: [("app".to_string(), "a".to_string())].into_iter().collect(),
                    ..Default::default()
                }),
                spec: Some(k8s_pb::api::core::v1::PodSpec {
                    containers: vec![k8s_pb::api::core::v1::Container {
                        name: Some("c".into()),
                        image: Some("busybox".into()),
                        ..Default::default()
                    }],
                    ..Default::default()
                }),
            }),
            ..Default::default()
        }),
        status: None,
    }
}

#[tokio::test]
async fn request_bodies_keep_field_presence_and_old_times() {
    let (s, _dir) = common::server_with_namespace().await;
    // A Deployment at zero replicas (client-go's `Replicas: ptr(0)`).
    let body = envelope("apps/v1", "Deployment", &deployment("zero", 0));
    let (status, _, bytes) = raw(&s, "POST", DEPLOYMENTS, "application/json", PROTOBUF, body).await;
    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&bytes));
    let created: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(created["spec"]["replicas"], 0, "{created}");
    assert!(
        created["spec"].get("paused").is_none(),
        "a false non-pointer omitempty bool is left out, as upstream prints it"
    );
    // A Lease with zero transitions and times before the epoch.
    let lease = coordination::Lease {
        metadata: Some(meta_named("l")),
        spec: Some(coordination::LeaseSpec {
            holder_identity: Some("h".into()),
            lease_duration_seconds: Some(15),
            lease_transitions: Some(0),
            acquire_time: Some(meta::MicroTime {
                seconds: Some(-86_400),
                nanos: Some(5_000),
            }),
            renew_time: Some(meta::MicroTime {
                seconds: Some(-62_135_596_800 + 1),
                nanos: Some(0),
            }),
            ..Default::default()
        }),
    };
    let body = envelope("coordination.k8s.io/v1", "Lease", &lease);
    let (status, _, bytes) = raw(&s, "POST", LEASES, "application/json", PROTOBUF, body).await;
    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&bytes));
    let created: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(
        created["spec"],
        json!({"holderIdentity": "h", "leaseDurationSeconds": 15, "leaseTransitions": 0,
               "acquireTime": "1969-12-31T00:00:00.000005Z", "renewTime": "0001-01-01T00:00:01.000000Z"})
    );
}

#[tokio::test]
async fn responses_in_protobuf() {
    let (s, _dir) = common::server_with_namespace().await;
    let body = envelope("apps/v1", "Deployment", &deployment("d", 0));
    let (status, ct, bytes) = raw(
        &s,
        "POST",
        DEPLOYMENTS,
        &format!("{PROTOBUF}, */*"),
        PROTOBUF,
        body,
    )
    .await;
    assert_eq!(status, 201);
    assert_eq!(ct, PROTOBUF);
    // An object.
    let (status, ct, bytes2) = raw(
        &s,
        "GET",
        &format!("{DEPLOYMENTS}/d"),
        &format!("{PROTOBUF}, */*"),
        "",
        vec![],
    )
    .await;
    assert_eq!((status, ct.as_str()), (200, PROTOBUF));
    assert_eq!(bytes, bytes2, "the create's answer is the stored object");
    let unknown = open(&bytes2);
    let tm = unknown.type_meta.clone().unwrap();
    assert_eq!(
        (tm.api_version.as_deref(), tm.kind.as_deref()),
        (Some("apps/v1"), Some("Deployment"))
    );
    let d = apps::Deployment::decode(unknown.raw.as_deref().unwrap()).unwrap();
    let m = d.metadata.as_ref().unwrap();
    assert_eq!(m.name.as_deref(), Some("d"));
    assert_eq!(m.namespace.as_deref(), Some("ns"));
    assert!(m.uid.as_deref().is_some_and(|u| !u.is_empty()));
    assert!(
        m.creation_timestamp
            .as_ref()
            .and_then(|t| t.seconds)
            .is_some_and(|s| s > 1_600_000_000)
    );
    assert_eq!(m.generation, Some(1));
    assert!(!m.managed_fields.is_empty());
    let json_get = call(&s, "GET", &format!("{DEPLOYMENTS}/d"), "", "")
        .await
        .body;
    assert_eq!(
        m.resource_version.as_deref(),
        json_get["metadata"]["resourceVersion"].as_str()
    );
    let spec = d.spec.unwrap();
    assert_eq!(spec.replicas, Some(0));
    assert_eq!(spec.revision_history_limit, Some(10), "defaults are served");
    let strategy = spec.strategy.unwrap();
    assert_eq!(strategy.r#type.as_deref(), Some("RollingUpdate"));
    let surge = strategy.rolling_update.unwrap().max_surge.unwrap();
    assert_eq!(surge.str_val.as_deref(), Some("25%"));
    // A list.
    let (status, ct, bytes) = raw(&s, "GET", DEPLOYMENTS, PROTOBUF, "", vec![]).await;
    assert_eq!((status, ct.as_str()), (200, PROTOBUF));
    let unknown = open(&bytes);
    assert_eq!(
        unknown.type_meta.unwrap().kind.as_deref(),
        Some("DeploymentList")
    );
    let list = apps::DeploymentList::decode(unknown.raw.as_deref().unwrap()).unwrap();
    assert_eq!(list.items.len(), 1);
    assert!(
        list.metadata
            .unwrap()
            .resource_version
            .is_some_and(|rv| !rv.is_empty())
    );
    // A Status error.
    let (status, ct, bytes) = raw(
        &s,
        "GET",
        &format!("{DEPLOYMENTS}/missing"),
        PROTOBUF,
        "",
        vec![],
    )
    .await;
    assert_eq!((status, ct.as_str()), (404, PROTOBUF));
    let unknown = open(&bytes);
    assert_eq!(unknown.type_meta.unwrap().kind.as_deref(), Some("Status"));
    let st = meta::Status::decode(unknown.raw.as_deref().unwrap()).unwrap();
    assert_eq!(st.code, Some(404));
    assert_eq!(st.reason.as_deref(), Some("NotFound"));
    assert_eq!(
        st.message.as_deref(),
        Some("deployments.apps \"missing\" not found")
    );
    // JSON stays the default.
    let (_, ct, _) = raw(
        &s,
        "GET",
        &format!("{DEPLOYMENTS}/d"),
        "application/json, */*",
        "",
        vec![],
    )
    .await;
    assert_eq!(ct, "application/json");
}

/// Splits a protobuf watch stream into its events: (type, object kind, name).
fn frames(mut body: &[u8]) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    while body.len() >= 4 {
        let len = u32::from_be_bytes(body[..4].try_into().unwrap()) as usize;
        let event = meta::WatchEvent::decode(&body[4..4 + len]).unwrap();
        body = &body[4 + len..];
        let unknown = open(event.object.unwrap().raw.as_deref().unwrap());
        let kind = unknown.type_meta.unwrap().kind.unwrap_or_default();
        let name = match kind.as_str() {
            "Deployment" => apps::Deployment::decode(unknown.raw.as_deref().unwrap())
                .unwrap()
                .metadata
                .unwrap()
                .name
                .unwrap_or_default(),
            _ => String::new(),
        };
        out.push((event.r#type.unwrap(), kind, name));
    }
    assert!(body.is_empty(), "a partial frame");
    out
}

#[tokio::test]
async fn watch_streams_in_protobuf() {
    let (s, _dir) = common::server_with_namespace().await;
    for name in ["a", "b"] {
        let body = envelope("apps/v1", "Deployment", &deployment(name, 1));
        assert_eq!(
            raw(&s, "POST", DEPLOYMENTS, PROTOBUF, PROTOBUF, body)
                .await
                .0,
            201
        );
    }
    let (status, ct, bytes) = raw(
        &s,
        "GET",
        &format!(
            "{DEPLOYMENTS}?watch=1&timeoutSeconds=1&allowWatchBookmarks=true&resourceVersion=0"
        ),
        PROTOBUF,
        "",
        vec![],
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(ct, "application/vnd.kubernetes.protobuf;stream=watch");
    let events: Vec<_> = frames(&bytes)
        .into_iter()
        .filter(|(t, _, _)| t != "BOOKMARK")
        .collect();
    assert_eq!(
        events,
        [
            ("ADDED".into(), "Deployment".into(), "a".into()),
            ("ADDED".into(), "Deployment".into(), "b".into()),
        ]
    );
}
