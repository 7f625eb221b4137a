//! Nothing is stored that a typed client cannot read: wrongly typed bodies get
//! upstream's 400 (create, update, YAML), 422 (patches) or 500 (apply) with
//! its words, and a property test feeds every kind values of random shapes at
//! random fields and reads whatever was stored back into its k8s-openapi type,
//! as client-go and kube-rs informers would.

mod common;

use common::call;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{Value, json};
use skiff_api::typed::{GoStruct, GoType, find_kind};
use skiff_apiserver::ApiServer;

async fn server() -> (ApiServer, tempfile::TempDir) {
    common::server_with_namespace().await
}

const CONFIGMAPS: &str = "/api/v1/namespaces/ns/configmaps";
const DEPLOYMENTS: &str = "/apis/apps/v1/namespaces/ns/deployments";

fn deployment(name: &str) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
           "spec": {"selector": {"matchLabels": {"app": "a"}},
                    "template": {"metadata": {"labels": {"app": "a"}},
                                 "spec": {"containers": [{"name": "c", "image": "i"}]}}}})
}

#[tokio::test]
async fn wrongly_typed_bodies_get_upstreams_errors() {
    let (s, _dir) = server().await;
    // POST: 400 with the decoder's words; nothing stored.
    let r = call(
        &s,
        "POST",
        CONFIGMAPS,
        "application/json",
        r#"{"metadata":{"name":"a"},"data":{"a":1}}"#,
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(
        r.body,
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
               "message": "ConfigMap in version \"v1\" cannot be handled as a ConfigMap: json: cannot unmarshal number into Go struct field ConfigMap.data of type string",
               "reason": "BadRequest", "code": 400})
    );
    assert_eq!(
        call(&s, "GET", &format!("{CONFIGMAPS}/a"), "", "")
            .await
            .status,
        404
    );
    // The same from YAML.
    let r = call(
        &s,
        "POST",
        CONFIGMAPS,
        "application/yaml",
        "metadata: {name: a}\ndata: {a: 1}\n",
    )
    .await;
    assert_eq!(r.status, 400);
    assert!(
        r.body["message"]
            .as_str()
            .unwrap()
            .ends_with("Go struct field ConfigMap.data of type string"),
        "{}",
        r.body
    );
    // A malformed quantity is the decoder's 400, not a validation 422.
    let mut d = deployment("q");
    d["spec"]["template"]["spec"]["containers"][0]["resources"] =
        json!({"limits": {"cpu": "lots"}});
    let r = call(&s, "POST", DEPLOYMENTS, "application/json", d.to_string()).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(
        r.body["message"],
        "Deployment in version \"v1\" cannot be handled as a Deployment: quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
    );
    // PUT.
    let r = call(
        &s,
        "POST",
        DEPLOYMENTS,
        "application/json",
        deployment("d").to_string(),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let mut put = r.body.clone();
    put["spec"]["replicas"] = json!("three");
    let r = call(
        &s,
        "PUT",
        &format!("{DEPLOYMENTS}/d"),
        "application/json",
        put.to_string(),
    )
    .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.body["message"],
        "Deployment in version \"v1\" cannot be handled as a Deployment: json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of type int32"
    );
    // Merge and JSON patches: 422 on `patch` with the patched object.
    for (content_type, patch) in [
        (
            "application/merge-patch+json",
            r#"{"spec":{"replicas":"x"}}"#,
        ),
        (
            "application/json-patch+json",
            r#"[{"op":"replace","path":"/spec/replicas","value":"x"}]"#,
        ),
    ] {
        let r = call(
            &s,
            "PATCH",
            &format!("{DEPLOYMENTS}/d"),
            content_type,
            patch,
        )
        .await;
        assert_eq!(r.status, 422, "{content_type}: {}", r.body);
        assert_eq!(r.body["reason"], "Invalid");
        let cause = &r.body["details"]["causes"][0];
        assert_eq!(cause["field"], "patch");
        let message = cause["message"].as_str().unwrap();
        assert!(message.starts_with("Invalid value: \"{"), "{message}");
        assert!(
            message.ends_with("\": json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of type int32"),
            "{message}"
        );
        assert!(
            r.body["message"]
                .as_str()
                .unwrap()
                .starts_with(" \"\" is invalid: patch: Invalid value: "),
            "{}",
            r.body
        );
    }
    // Strategic merge patch: the unstructured converter's words, the patch as a Go map.
    let r = call(
        &s,
        "PATCH",
        &format!("{DEPLOYMENTS}/d"),
        "application/strategic-merge-patch+json",
        r#"{"spec":{"replicas":"x"}}"#,
    )
    .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(
        r.body["details"]["causes"][0]["message"],
        "Invalid value: \"map[spec:map[replicas:x]]\": unrecognized type: int32"
    );
    // Server-side apply: structured-merge-diff's plain error, a 500.
    let mut applied = deployment("d");
    applied["spec"]["replicas"] = json!("x");
    let r = call(
        &s,
        "PATCH",
        &format!("{DEPLOYMENTS}/d?fieldManager=m"),
        "application/apply-patch+yaml",
        applied.to_string(),
    )
    .await;
    assert_eq!(r.status, 500, "{}", r.body);
    assert!(r.body.get("reason").is_none(), "{}", r.body);
    assert!(
        r.body["message"]
            .as_str()
            .unwrap()
            .starts_with("failed to create typed patch object (/d; apps/v1, Kind=Deployment): "),
        "{}",
        r.body
    );
    // Nothing of it was stored.
    let r = call(&s, "GET", &format!("{DEPLOYMENTS}/d"), "", "").await;
    assert_eq!(r.body["spec"]["replicas"], 1);
    // `null` is what Go stores for it.
    let r = call(
        &s,
        "POST",
        CONFIGMAPS,
        "application/json",
        r#"{"metadata":{"name":"n","labels":null},"data":{"a":null}}"#,
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["data"], json!({"a": ""}));
    assert!(r.body["metadata"].get("labels").is_none());
}

/// A kind under test: its collection, a valid object and a reader of the
/// stored object into its k8s-openapi type.
struct Kind {
    group: &'static str,
    version: &'static str,
    kind: &'static str,
    collection: &'static str,
    fixture: Value,
    read: fn(&Value) -> Result<(), String>,
}

fn read_as<T: serde::de::DeserializeOwned>(v: &Value) -> Result<(), String> {
    serde_json::from_value::<T>(v.clone())
        .map(drop)
        .map_err(|e| e.to_string())
}

macro_rules! kind {
    ($group:expr, $version:expr, $kind:expr, $collection:expr, $ty:ty, $fixture:expr) => {
        Kind {
            group: $group,
            version: $version,
            kind: $kind,
            collection: $collection,
            fixture: $fixture,
            read: read_as::<$ty>,
        }
    };
}

fn kinds() -> Vec<Kind> {
    use k8s_openapi::api::{
        apps::v1 as apps, autoscaling::v2 as autoscaling, batch::v1 as batch,
        coordination::v1 as coordination, core::v1 as core, discovery::v1 as discovery,
        networking::v1 as networking, node::v1 as node, policy::v1 as policy, rbac::v1 as rbac,
        scheduling::v1 as scheduling, storage::v1 as storage,
    };
    let template = json!({"metadata": {"labels": {"app": "a"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}});
    let selector = json!({"matchLabels": {"app": "a"}});
    vec![
        kind!(
            "",
            "v1",
            "ConfigMap",
            "/api/v1/namespaces/ns/configmaps",
            core::ConfigMap,
            json!({"data": {"a": "b"}})
        ),
        kind!(
            "",
            "v1",
            "Secret",
            "/api/v1/namespaces/ns/secrets",
            core::Secret,
            json!({"data": {"a": "YQ=="}})
        ),
        kind!(
            "",
            "v1",
            "Service",
            "/api/v1/namespaces/ns/services",
            core::Service,
            json!({"spec": {"ports": [{"port": 80}]}})
        ),
        kind!(
            "",
            "v1",
            "Pod",
            "/api/v1/namespaces/ns/pods",
            core::Pod,
            template.clone()
        ),
        kind!(
            "",
            "v1",
            "ServiceAccount",
            "/api/v1/namespaces/ns/serviceaccounts",
            core::ServiceAccount,
            json!({})
        ),
        kind!(
            "",
            "v1",
            "Endpoints",
            "/api/v1/namespaces/ns/endpoints",
            core::Endpoints,
            json!({"subsets": [{"addresses": [{"ip": "10.0.0.1"}], "ports": [{"port": 80}]}]})
        ),
        kind!(
            "",
            "v1",
            "PersistentVolumeClaim",
            "/api/v1/namespaces/ns/persistentvolumeclaims",
            core::PersistentVolumeClaim,
            json!({"spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}})
        ),
        kind!(
            "",
            "v1",
            "LimitRange",
            "/api/v1/namespaces/ns/limitranges",
            core::LimitRange,
            json!({"spec": {"limits": [{"type": "Container", "max": {"cpu": "1"}}]}})
        ),
        kind!(
            "",
            "v1",
            "ResourceQuota",
            "/api/v1/namespaces/ns/resourcequotas",
            core::ResourceQuota,
            json!({"spec": {"hard": {"pods": "10"}}})
        ),
        kind!(
            "",
            "v1",
            "Event",
            "/api/v1/namespaces/ns/events",
            core::Event,
            json!({"involvedObject": {"kind": "Pod", "name": "p", "namespace": "ns"}, "reason": "R", "message": "m"})
        ),
        kind!(
            "",
            "v1",
            "PodTemplate",
            "/api/v1/namespaces/ns/podtemplates",
            core::PodTemplate,
            json!({"template": template})
        ),
        kind!(
            "",
            "v1",
            "ReplicationController",
            "/api/v1/namespaces/ns/replicationcontrollers",
            core::ReplicationController,
            json!({"spec": {"selector": {"app": "a"}, "template": template}})
        ),
        kind!(
            "",
            "v1",
            "Namespace",
            "/api/v1/namespaces",
            core::Namespace,
            json!({})
        ),
        kind!(
            "",
            "v1",
            "Node",
            "/api/v1/nodes",
            core::Node,
            json!({"spec": {"podCIDR": "10.1.0.0/24"}})
        ),
        kind!(
            "",
            "v1",
            "PersistentVolume",
            "/api/v1/persistentvolumes",
            core::PersistentVolume,
            json!({"spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"], "hostPath": {"path": "/x"}}})
        ),
        kind!(
            "apps",
            "v1",
            "Deployment",
            "/apis/apps/v1/namespaces/ns/deployments",
            apps::Deployment,
            json!({"spec": {"selector": selector, "template": template}})
        ),
        kind!(
            "apps",
            "v1",
            "ReplicaSet",
            "/apis/apps/v1/namespaces/ns/replicasets",
            apps::ReplicaSet,
            json!({"spec": {"selector": selector, "template": template}})
        ),
        kind!(
            "apps",
            "v1",
            "StatefulSet",
            "/apis/apps/v1/namespaces/ns/statefulsets",
            apps::StatefulSet,
            json!({"spec": {"serviceName": "s", "selector": selector, "template": template}})
        ),
        kind!(
            "apps",
            "v1",
            "DaemonSet",
            "/apis/apps/v1/namespaces/ns/daemonsets",
            apps::DaemonSet,
            json!({"spec": {"selector": selector, "template": template}})
        ),
        kind!(
            "batch",
            "v1",
            "Job",
            "/apis/batch/v1/namespaces/ns/jobs",
            batch::Job,
            json!({"spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "i"}]}}}})
        ),
        kind!(
            "batch",
            "v1",
            "CronJob",
            "/apis/batch/v1/namespaces/ns/cronjobs",
            batch::CronJob,
            json!({"spec": {"schedule": "* * * * *", "jobTemplate": {"spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "i"}]}}}}}})
        ),
        kind!(
            "autoscaling",
            "v2",
            "HorizontalPodAutoscaler",
            "/apis/autoscaling/v2/namespaces/ns/horizontalpodautoscalers",
            autoscaling::HorizontalPodAutoscaler,
            json!({"spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "d"}, "maxReplicas": 3}})
        ),
        kind!(
            "policy",
            "v1",
            "PodDisruptionBudget",
            "/apis/policy/v1/namespaces/ns/poddisruptionbudgets",
            policy::PodDisruptionBudget,
            json!({"spec": {"minAvailable": 1, "selector": selector}})
        ),
        kind!(
            "networking.k8s.io",
            "v1",
            "Ingress",
            "/apis/networking.k8s.io/v1/namespaces/ns/ingresses",
            networking::Ingress,
            json!({"spec": {"defaultBackend": {"service": {"name": "s", "port": {"number": 80}}}}})
        ),
        kind!(
            "networking.k8s.io",
            "v1",
            "NetworkPolicy",
            "/apis/networking.k8s.io/v1/namespaces/ns/networkpolicies",
            networking::NetworkPolicy,
            json!({"spec": {"podSelector": {}, "ingress": [{"ports": [{"port": 80}]}]}})
        ),
        kind!(
            "rbac.authorization.k8s.io",
            "v1",
            "Role",
            "/apis/rbac.authorization.k8s.io/v1/namespaces/ns/roles",
            rbac::Role,
            json!({"rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]})
        ),
        kind!(
            "rbac.authorization.k8s.io",
            "v1",
            "RoleBinding",
            "/apis/rbac.authorization.k8s.io/v1/namespaces/ns/rolebindings",
            rbac::RoleBinding,
            json!({"roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "r"}, "subjects": [{"kind": "User", "name": "u"}]})
        ),
        kind!(
            "rbac.authorization.k8s.io",
            "v1",
            "ClusterRole",
            "/apis/rbac.authorization.k8s.io/v1/clusterroles",
            rbac::ClusterRole,
            json!({"rules": [{"nonResourceURLs": ["/x"], "verbs": ["get"]}]})
        ),
        kind!(
            "coordination.k8s.io",
            "v1",
            "Lease",
            "/apis/coordination.k8s.io/v1/namespaces/ns/leases",
            coordination::Lease,
            json!({"spec": {"holderIdentity": "h", "leaseDurationSeconds": 10, "renewTime": "2024-01-01T00:00:00.000000Z"}})
        ),
        kind!(
            "discovery.k8s.io",
            "v1",
            "EndpointSlice",
            "/apis/discovery.k8s.io/v1/namespaces/ns/endpointslices",
            discovery::EndpointSlice,
            json!({"addressType": "IPv4", "endpoints": [{"addresses": ["10.0.0.1"]}], "ports": [{"port": 80}]})
        ),
        kind!(
            "scheduling.k8s.io",
            "v1",
            "PriorityClass",
            "/apis/scheduling.k8s.io/v1/priorityclasses",
            scheduling::PriorityClass,
            json!({"value": 10})
        ),
        kind!(
            "storage.k8s.io",
            "v1",
            "StorageClass",
            "/apis/storage.k8s.io/v1/storageclasses",
            storage::StorageClass,
            json!({"provisioner": "p"})
        ),
        kind!(
            "node.k8s.io",
            "v1",
            "RuntimeClass",
            "/apis/node.k8s.io/v1/runtimeclasses",
            node::RuntimeClass,
            json!({"handler": "h"})
        ),
    ]
}

/// JSON values of every shape, and some that look valid for common types.
fn any_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        (-3i64..70000).prop_map(Value::from),
        Just(json!(3_000_000_000u64)),
        Just(json!(-1)),
        Just(json!(1.5)),
        Just(json!("")),
        Just(json!("abc")),
        Just(json!("1Gi")),
        Just(json!("2024-01-01T00:00:00Z")),
        Just(json!("YWJj")),
        Just(json!("Always")),
        Just(json!("1éé")),
        Just(json!("2024-01-01T00:00:00+00:0é")),
        "\\PC{0,6}".prop_map(Value::from),
        "[a-z0-9.-]{1,12}".prop_map(Value::from),
    ];
    leaf.prop_recursive(2, 8, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(Value::from),
            prop::collection::btree_map("[a-z]{1,5}", inner, 0..3)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Sets `value` at a field chosen by `choices` (each picks a field of the
/// struct reached so far, descending into structs and the first item of
/// lists of structs).
fn mutate(obj: &mut Value, s: &'static GoStruct, choices: &[usize], value: Value) {
    let Some((first, rest)) = choices.split_first() else {
        return;
    };
    let fields: Vec<_> = s
        .fields
        .iter()
        .filter(|f| !matches!(f.json, "apiVersion" | "kind"))
        .collect();
    if fields.is_empty() || !obj.is_object() {
        return;
    }
    let field = fields[first % fields.len()];
    let slot = &mut obj[field.json];
    let target = match field.ty.indirect() {
        GoType::Struct(p, n) if !rest.is_empty() => Some((p, n, false)),
        GoType::Slice(inner) if !rest.is_empty() => match inner.indirect() {
            GoType::Struct(p, n) => Some((p, n, true)),
            _ => None,
        },
        _ => None,
    };
    match target.and_then(|(p, n, list)| Some((skiff_api::typed::find_struct(p, n)?, list))) {
        Some((inner, false)) => {
            if !slot.is_object() {
                *slot = json!({});
            }
            mutate(slot, inner, rest, value);
        }
        Some((inner, true)) => {
            if !slot
                .as_array()
                .is_some_and(|a| a.first().is_some_and(Value::is_object))
            {
                *slot = json!([{}]);
            }
            mutate(&mut slot[0], inner, rest, value);
        }
        None => *slot = value,
    }
}

/// Random values at random fields of every kind: whatever the server accepts
/// reads back into the kind's k8s-openapi type.
#[test]
fn whatever_is_stored_reads_back_typed() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (s, _dir) = rt.block_on(server());
    let cases: u32 = std::env::var("SKIFF_TYPED_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(48);
    let counter = std::cell::Cell::new(0u64);
    let stored = std::cell::Cell::new(0u64);
    for k in kinds() {
        let go = find_kind(k.group, k.version, k.kind)
            .unwrap_or_else(|| panic!("{} has a Go struct", k.kind));
        let mut runner = TestRunner::new(Config {
            cases,
            failure_persistence: None,
            ..Config::default()
        });
        let strategy = (prop::collection::vec(any::<usize>(), 1..5), any_value());
        let result = runner.run(&strategy, |(choices, value)| {
            counter.set(counter.get() + 1);
            let n = counter.get();
            let mut obj = k.fixture.clone();
            obj["apiVersion"] = json!(if k.group.is_empty() {
                k.version.to_string()
            } else {
                format!("{}/{}", k.group, k.version)
            });
            obj["kind"] = json!(k.kind);
            mutate(&mut obj, go, &choices, value);
            obj["metadata"] = match obj.get("metadata") {
                Some(Value::Object(m)) => Value::Object(m.clone()),
                _ => json!({}),
            };
            obj["metadata"]["name"] = json!(format!("x{n}"));
            let r = rt.block_on(call(
                &s,
                "POST",
                k.collection,
                "application/json",
                obj.to_string(),
            ));
            if r.status == 500 {
                return Err(TestCaseError::fail(format!(
                    "{}: 500 for {obj}: {}",
                    k.kind, r.body
                )));
            }
            if r.status != 201 {
                return Ok(());
            }
            stored.set(stored.get() + 1);
            (k.read)(&r.body).map_err(|e| {
                TestCaseError::fail(format!(
                    "{}: stored {obj}\nserved {}\ndoes not read back: {e}",
                    k.kind, r.body
                ))
            })?;
            let got = rt.block_on(call(&s, "GET", &format!("{}/x{n}", k.collection), "", ""));
            (k.read)(&got.body).map_err(|e| {
                TestCaseError::fail(format!("{}: GET does not read back: {e}", k.kind))
            })
        });
        if let Err(e) = result {
            panic!("{e}");
        }
    }
    let (stored, counter) = (stored.get(), counter.get());
    assert!(
        stored > 100,
        "only {stored} of {counter} random objects were stored: the fixtures are invalid"
    );
}
