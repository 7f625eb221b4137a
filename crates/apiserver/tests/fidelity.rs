//! API fidelity through the generic handlers, in-process: field validation of
//! unknown and duplicate fields in upstream's words and order, strategic merge
//! patch directed by the schema, server-side apply by list type, and the
//! OpenAPI extensions clients read.

mod common;

use common::call;
use serde_json::{Value, json};
use skiff_apiserver::ApiServer;

async fn server() -> (ApiServer, tempfile::TempDir) {
    common::server_with_namespace().await
}

const DEPLOYMENTS: &str = "/apis/apps/v1/namespaces/ns/deployments";

/// A deployment body with duplicated and unknown fields, as upstream's field
/// validation integration test builds one.
const INVALID_DEPLOYMENT: &str = r#"{
  "apiVersion": "apps/v1",
  "kind": "Deployment",
  "metadata": {"name": "d", "name": "d", "unknownMeta": "x", "labels": {"app": "d"}},
  "spec": {
    "unknown1": "a",
    "unknownDupe": "b",
    "unknownDupe": "c",
    "paused": true,
    "paused": false,
    "selector": {"matchLabels": {"app": "d"}},
    "template": {
      "metadata": {"labels": {"app": "d"}},
      "spec": {"containers": [{"name": "c", "image": "nginx", "unknownNested": "x", "imagePullPolicy": "Always", "imagePullPolicy": "Never"}]}
    }
  }
}"#;

#[tokio::test]
async fn strict_field_validation_reports_duplicates_and_unknowns_in_document_order() {
    let (s, _dir) = server().await;
    let r = call(
        &s,
        "POST",
        &format!("{DEPLOYMENTS}?fieldValidation=Strict"),
        "application/json",
        INVALID_DEPLOYMENT,
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.body["reason"], "BadRequest");
    assert_eq!(
        r.body["message"],
        "Deployment in version \"v1\" cannot be handled as a Deployment: strict decoding error: \
         duplicate field \"metadata.name\", unknown field \"metadata.unknownMeta\", \
         unknown field \"spec.unknown1\", unknown field \"spec.unknownDupe\", \
         duplicate field \"spec.paused\", \
         unknown field \"spec.template.spec.containers[0].unknownNested\", \
         duplicate field \"spec.template.spec.containers[0].imagePullPolicy\""
    );
    // Nothing was stored.
    let get = call(&s, "GET", &format!("{DEPLOYMENTS}/d"), "", "").await;
    assert_eq!(get.status, 404);

    // Warn: created, each problem a warning; the last duplicate wins.
    let r = call(
        &s,
        "POST",
        &format!("{DEPLOYMENTS}?fieldValidation=Warn"),
        "application/json",
        INVALID_DEPLOYMENT,
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.warnings.len(), 7, "{:?}", r.warnings);
    assert_eq!(
        r.warnings[0],
        "299 - \"duplicate field \\\"metadata.name\\\"\""
    );
    // The last `paused` (false) wins, and Go's encoder omits it.
    assert_eq!(r.body["spec"].get("paused"), None);
    assert_eq!(
        r.body["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"],
        "Never"
    );
    assert!(r.body["spec"].get("unknown1").is_none());

    // Ignore: silent.
    let body = INVALID_DEPLOYMENT.replacen("\"d\", \"name\": \"d\"", "\"e\", \"name\": \"e\"", 1);
    let r = call(
        &s,
        "POST",
        &format!("{DEPLOYMENTS}?fieldValidation=Ignore"),
        "application/json",
        body,
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
}

#[tokio::test]
async fn strategic_merge_patch_follows_the_schema() {
    let (s, _dir) = server().await;
    let d = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
        "spec": {"selector": {"matchLabels": {"app": "d"}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 2}},
            "template": {"metadata": {"labels": {"app": "d"}}, "spec": {
                "tolerations": [{"key": "a", "operator": "Exists"}],
                "containers": [{"name": "c", "image": "nginx", "args": ["x"], "env": [{"name": "A", "value": "1"}]}]}}}});
    let r = call(&s, "POST", DEPLOYMENTS, "application/json", d.to_string()).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let patch = json!({"spec": {
        "strategy": {"$retainKeys": ["type"], "type": "Recreate"},
        "template": {"spec": {
            "tolerations": [{"key": "b", "operator": "Exists"}],
            "containers": [{"name": "c", "args": ["y"], "env": [{"name": "B", "value": "2"}]},
                           {"name": "side", "image": "busybox"}]}}}});
    let r = call(
        &s,
        "PATCH",
        &format!("{DEPLOYMENTS}/d"),
        "application/strategic-merge-patch+json",
        patch.to_string(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let spec = &r.body["spec"];
    assert_eq!(spec["strategy"], json!({"type": "Recreate"}));
    let pod = &spec["template"]["spec"];
    assert_eq!(
        pod["tolerations"],
        json!([{"key": "b", "operator": "Exists"}])
    );
    let containers = pod["containers"].as_array().unwrap();
    assert_eq!(containers.len(), 2);
    assert_eq!(containers[0]["args"], json!(["y"]));
    // Merged by name; a new item goes first, as upstream orders it.
    assert_eq!(
        containers[0]["env"],
        json!([{"name": "B", "value": "2"}, {"name": "A", "value": "1"}])
    );
    // Defaults reach the added container.
    assert_eq!(containers[1]["imagePullPolicy"], "Always");

    // A list item without its merge key: upstream's (internal) error.
    let r = call(
        &s,
        "PATCH",
        &format!("{DEPLOYMENTS}/d"),
        "application/strategic-merge-patch+json",
        r#"{"spec":{"template":{"spec":{"containers":[{"image":"x"}]}}}}"#,
    )
    .await;
    assert_eq!(r.status, 500, "{}", r.body);
    assert_eq!(
        r.body["message"],
        "map: map[image:x] does not contain declared merge key: name"
    );
    assert!(r.body.get("reason").is_none(), "{}", r.body);
    // $retainKeys not naming a field the patch sets: upstream's 400.
    let r = call(
        &s,
        "PATCH",
        &format!("{DEPLOYMENTS}/d"),
        "application/strategic-merge-patch+json",
        r#"{"spec":{"strategy":{"$retainKeys":["type"],"rollingUpdate":{"maxSurge":1}}}}"#,
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.body["message"], "invalid patch format of retainKeys");
}

#[tokio::test]
async fn server_side_apply_owns_fields_by_list_type() {
    let (s, _dir) = server().await;
    let apply = |manager: &'static str, force: bool, body: Value| {
        let s = &s;
        async move {
            call(
                s,
                "PATCH",
                &format!("{DEPLOYMENTS}/d?fieldManager={manager}&force={force}"),
                "application/apply-patch+yaml",
                body.to_string(),
            )
            .await
        }
    };
    let base = |ports: Value| {
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
            "spec": {"selector": {"matchLabels": {"app": "d"}},
                "template": {"metadata": {"labels": {"app": "d"}}, "spec": {
                    "containers": [{"name": "c", "image": "nginx", "ports": ports}]}}}})
    };
    let r = apply(
        "alice",
        false,
        base(json!([{"containerPort": 53, "protocol": "UDP"}])),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    // bob adds the TCP port 53: another key of the (containerPort, protocol) map.
    let r = apply(
        "bob",
        false,
        base(json!([{"containerPort": 53, "protocol": "TCP"}])),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let ports = &r.body["spec"]["template"]["spec"]["containers"][0]["ports"];
    assert_eq!(ports.as_array().unwrap().len(), 2, "{ports}");
    let bob = r.body["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["manager"] == "bob")
        .unwrap()
        .clone();
    let c =
        &bob["fieldsV1"]["f:spec"]["f:template"]["f:spec"]["f:containers"]["k:{\"name\":\"c\"}"];
    assert!(
        c["f:ports"]["k:{\"containerPort\":53,\"protocol\":\"TCP\"}"].is_object(),
        "{bob}"
    );
    // The selector is atomic: bob applying another one conflicts as a whole.
    let mut other = base(json!([{"containerPort": 53, "protocol": "TCP"}]));
    other["spec"]["selector"] = json!({"matchLabels": {"app": "d", "x": "y"}});
    let r = apply("bob", false, other).await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert_eq!(
        r.body["message"],
        "Apply failed with 1 conflict: conflict with \"alice\" using apps/v1: .spec.selector"
    );
}

#[tokio::test]
async fn openapi_carries_upstreams_list_and_map_extensions() {
    let (s, _dir) = server().await;
    let v3 = call(&s, "GET", "/openapi/v3/apis/apps/v1", "", "").await;
    assert_eq!(v3.status, 200);
    let schemas = &v3.body["components"]["schemas"];
    let pod_spec = &schemas["io.k8s.api.core.v1.PodSpec"]["properties"];
    assert_eq!(pod_spec["tolerations"]["x-kubernetes-list-type"], "atomic");
    assert_eq!(pod_spec["containers"]["x-kubernetes-list-type"], "map");
    assert_eq!(
        pod_spec["containers"]["x-kubernetes-list-map-keys"],
        json!(["name"])
    );
    assert_eq!(pod_spec["nodeSelector"]["x-kubernetes-map-type"], "atomic");
    let ports = &schemas["io.k8s.api.core.v1.Container"]["properties"]["ports"];
    assert_eq!(
        ports["x-kubernetes-list-map-keys"],
        json!(["containerPort", "protocol"])
    );
    assert_eq!(ports["x-kubernetes-patch-merge-key"], "containerPort");
    assert_eq!(
        schemas["io.k8s.api.apps.v1.DeploymentSpec"]["properties"]["strategy"]["x-kubernetes-patch-strategy"],
        "retainKeys"
    );
    assert_eq!(
        schemas["io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelector"]["x-kubernetes-map-type"],
        "atomic"
    );
    // Lists, required fields and group-version-kinds in upstream's words.
    assert_eq!(
        schemas["io.k8s.api.apps.v1.DeploymentList"]["description"],
        "DeploymentList is a list of Deployments."
    );
    assert!(
        schemas["io.k8s.api.apps.v1.Deployment"]
            .get("required")
            .is_none()
    );
    assert_eq!(
        schemas["io.k8s.api.apps.v1.DeploymentSpec"]["required"],
        json!(["selector", "template"])
    );
    assert_eq!(
        schemas["io.k8s.api.autoscaling.v1.Scale"]["x-kubernetes-group-version-kind"],
        json!([{"group": "autoscaling", "kind": "Scale", "version": "v1"}])
    );
    // v3's enums, with upstream's "Possible enum values" text; none in v2.
    let strategy_type = &schemas["io.k8s.api.apps.v1.DeploymentStrategy"]["properties"]["type"];
    assert_eq!(strategy_type["enum"], json!(["Recreate", "RollingUpdate"]));
    assert!(
        strategy_type["description"]
            .as_str()
            .unwrap()
            .ends_with("\n\nPossible enum values:\n - `\"Recreate\"` Kill all existing pods before creating new ones.\n - `\"RollingUpdate\"` Replace the old ReplicaSets by new one using rolling update i.e gradually scale down the old ReplicaSets and scale up the new one."),
        "{strategy_type}"
    );
    let v2 = call(&s, "GET", "/openapi/v2", "", "").await;
    let v2_type =
        &v2.body["definitions"]["io.k8s.api.apps.v1.DeploymentStrategy"]["properties"]["type"];
    assert!(v2_type.get("enum").is_none(), "{v2_type}");
    assert!(
        !v2_type["description"]
            .as_str()
            .unwrap()
            .contains("Possible enum values"),
        "{v2_type}"
    );
    assert_eq!(
        v2.body["definitions"]["io.k8s.apimachinery.pkg.util.intstr.IntOrString"],
        json!({"description": v2.body["definitions"]["io.k8s.apimachinery.pkg.util.intstr.IntOrString"]["description"], "type": "string", "format": "int-or-string"})
    );
    assert_eq!(
        v2.body["definitions"]["io.k8s.api.core.v1.PodSpec"]["properties"]["volumes"]["x-kubernetes-patch-strategy"],
        "merge,retainKeys"
    );
}

#[tokio::test]
async fn patches_and_applies_validate_fields_as_upstreams_patcher() {
    let (s, _dir) = server().await;
    let cm = "/api/v1/namespaces/ns/configmaps";
    let r = call(
        &s,
        "POST",
        cm,
        "application/json",
        r#"{"metadata":{"name":"c"},"data":{"a":"1"}}"#,
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    // Merge patch: a duplicate in the patch and an unknown field in the result.
    let r = call(
        &s,
        "PATCH",
        &format!("{cm}/c?fieldValidation=Strict"),
        "application/merge-patch+json",
        r#"{"data":{"a":"2","a":"3"},"dta":{"x":"y"}}"#,
    )
    .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(r.body["reason"], "Invalid");
    let message = r.body["message"].as_str().unwrap();
    assert!(
        message.starts_with(" \"\" is invalid: patch: Invalid value: \"{"),
        "{message}"
    );
    assert!(
        message
            .ends_with("strict decoding error: duplicate field \"data.a\", unknown field \"dta\""),
        "{message}"
    );
    assert_eq!(r.body["details"]["causes"][0]["field"], "patch");
    // Strategic merge patch: the patch is shown as Go prints the map.
    let r = call(
        &s,
        "PATCH",
        &format!("{cm}/c?fieldValidation=Strict"),
        "application/strategic-merge-patch+json",
        r#"{"dta":{"x":"y"},"data":{"b":"2"}}"#,
    )
    .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(
        r.body["message"],
        " \"\" is invalid: patch: Invalid value: \"map[data:map[b:2] dta:map[x:y]]\": strict decoding error: unknown field \"dta\""
    );
    // Warn: applied without the unknown field, with warnings.
    let r = call(
        &s,
        "PATCH",
        &format!("{cm}/c?fieldValidation=Warn"),
        "application/merge-patch+json",
        r#"{"data":{"a":"2","a":"3"},"dta":{"x":"y"}}"#,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["data"]["a"], "3");
    assert!(r.body.get("dta").is_none());
    assert_eq!(r.warnings.len(), 2, "{:?}", r.warnings);
    // Server-side apply refuses undeclared fields whatever fieldValidation says.
    let r = call(
        &s,
        "PATCH",
        &format!("{cm}/c?fieldManager=m&fieldValidation=Ignore"),
        "application/apply-patch+yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: ns}\ndta: {x: y}\n",
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(
        r.body["message"],
        "failed to create typed patch object (ns/c; /v1, Kind=ConfigMap): .dta: field not declared in schema"
    );
}

#[tokio::test]
async fn invalid_specs_get_every_cause_and_immutable_fields_hold() {
    let (s, _dir) = server().await;
    // Selector not matching the template's labels, and a port out of range: both reported.
    let bad = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
        "spec": {"selector": {"matchLabels": {"app": "x"}},
            "template": {"metadata": {"labels": {"app": "y"}}, "spec": {
                "containers": [{"name": "c", "image": "nginx", "ports": [{"containerPort": 70000}]}]}}}});
    let r = call(&s, "POST", DEPLOYMENTS, "application/json", bad.to_string()).await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(r.body["reason"], "Invalid");
    let causes = r.body["details"]["causes"].as_array().unwrap();
    let fields: Vec<&str> = causes
        .iter()
        .map(|c| c["field"].as_str().unwrap())
        .collect();
    assert!(
        fields.contains(&"spec.template.metadata.labels")
            && fields.contains(&"spec.template.spec.containers[0].ports[0].containerPort"),
        "{}",
        r.body
    );
    assert!(
        r.body["message"]
            .as_str()
            .unwrap()
            .contains("`selector` does not match template `labels`"),
        "{}",
        r.body
    );
    // A valid one, then a changed selector: immutable.
    let mut good = bad.clone();
    good["spec"]["template"]["metadata"]["labels"] = json!({"app": "x"});
    good["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = json!(80);
    let r = call(
        &s,
        "POST",
        DEPLOYMENTS,
        "application/json",
        good.to_string(),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let r = call(
        &s,
        "PATCH",
        &format!("{DEPLOYMENTS}/d"),
        "application/merge-patch+json",
        r#"{"spec":{"selector":{"matchLabels":{"app":"z"}},"template":{"metadata":{"labels":{"app":"z"}}}}}"#,
    )
    .await;
    assert_eq!(r.status, 422, "{}", r.body);
    let causes = r.body["details"]["causes"].as_array().unwrap();
    assert!(
        causes.iter().any(|c| c["field"] == "spec.selector"
            && c["message"]
                .as_str()
                .unwrap()
                .ends_with("field is immutable")),
        "{}",
        r.body
    );
}

#[tokio::test]
async fn quantities_come_back_canonical_and_string_data_becomes_data() {
    let (s, _dir) = server().await;
    let pod = json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "nginx",
        "resources": {"requests": {"cpu": 0.5, "memory": "1.5Gi"}, "limits": {"cpu": "1000m"}}}]}});
    let r = call(
        &s,
        "POST",
        "/api/v1/namespaces/ns/pods",
        "application/json",
        pod.to_string(),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(
        r.body["spec"]["containers"][0]["resources"],
        json!({"requests": {"cpu": "500m", "memory": "1536Mi"}, "limits": {"cpu": "1"}})
    );
    let secret = json!({"metadata": {"name": "s"}, "stringData": {"password": "hunter2"}});
    let r = call(
        &s,
        "POST",
        "/api/v1/namespaces/ns/secrets",
        "application/json",
        secret.to_string(),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["data"], json!({"password": "aHVudGVyMg=="}));
    assert!(r.body.get("stringData").is_none());
}

/// Polls `path` until `done` holds for its reply (10 s at most).
async fn eventually(
    s: &ApiServer,
    path: &str,
    done: impl Fn(&common::Reply) -> bool,
) -> common::Reply {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let r = call(s, "GET", path, "", "").await;
        if done(&r) {
            return r;
        }
        assert!(std::time::Instant::now() < deadline, "{path}: {}", r.body);
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// Orphan and foreground deletion finish without a garbage collector: the
/// orphan loses its owner reference; a foreground owner waits for a
/// dependent that blocks it, and goes once the dependent is gone.
#[tokio::test]
async fn orphan_and_foreground_deletion_complete() {
    let (s, _dir) = server().await;
    const CMS: &str = "/api/v1/namespaces/ns/configmaps";
    let owner = |name: &str| json!({"metadata": {"name": name}});
    let dependent = |name: &str, uid: &str, block: bool, finalizers: Value| {
        json!({"metadata": {"name": name, "finalizers": finalizers, "ownerReferences": [
            {"apiVersion": "v1", "kind": "ConfigMap", "name": "o", "uid": uid, "blockOwnerDeletion": block}]}})
    };
    // Orphan.
    let o = call(&s, "POST", CMS, "application/json", owner("o").to_string()).await;
    let uid = o.body["metadata"]["uid"].as_str().unwrap().to_string();
    for name in ["d1", "d2"] {
        let r = call(
            &s,
            "POST",
            CMS,
            "application/json",
            dependent(name, &uid, true, json!([])).to_string(),
        )
        .await;
        assert_eq!(r.status, 201, "{}", r.body);
    }
    let r = call(
        &s,
        "DELETE",
        &format!("{CMS}/o?propagationPolicy=Orphan"),
        "",
        "",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    eventually(&s, &format!("{CMS}/o"), |r| r.status == 404).await;
    for name in ["d1", "d2"] {
        let d = call(&s, "GET", &format!("{CMS}/{name}"), "", "").await;
        assert!(
            d.body["metadata"].get("ownerReferences").is_none(),
            "{}",
            d.body
        );
    }
    // Foreground, with a dependent held by a finalizer of its own.
    let o = call(&s, "POST", CMS, "application/json", owner("f").to_string()).await;
    let uid = o.body["metadata"]["uid"].as_str().unwrap().to_string();
    call(
        &s,
        "POST",
        CMS,
        "application/json",
        dependent("held", &uid, true, json!(["example.com/hold"])).to_string(),
    )
    .await;
    call(
        &s,
        "POST",
        CMS,
        "application/json",
        dependent("free", &uid, false, json!([])).to_string(),
    )
    .await;
    let r = call(
        &s,
        "DELETE",
        &format!("{CMS}/f?propagationPolicy=Foreground"),
        "",
        "",
    )
    .await;
    assert_eq!(r.status, 200);
    assert!(
        r.body["metadata"]["finalizers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f == "foregroundDeletion")
    );
    eventually(&s, &format!("{CMS}/free"), |r| r.status == 404).await;
    let held = eventually(&s, &format!("{CMS}/held"), |r| {
        r.body["metadata"]["deletionTimestamp"].is_string()
    })
    .await;
    let owner_now = call(&s, "GET", &format!("{CMS}/f"), "", "").await;
    assert_eq!(
        owner_now.status, 200,
        "the owner waits for the blocking dependent"
    );
    // Its own finalizer released (an object being deleted gains none); the
    // deleter may still be writing it, so a conflict is read again.
    let mut current = held.body.clone();
    let mut r;
    let mut attempts = 0;
    loop {
        attempts += 1;
        let mut release = current.clone();
        release["metadata"]["finalizers"]
            .as_array_mut()
            .unwrap()
            .retain(|f| f != "example.com/hold");
        r = call(
            &s,
            "PUT",
            &format!("{CMS}/held"),
            "application/json",
            release.to_string(),
        )
        .await;
        if r.status != 409 || attempts == 10 {
            break;
        }
        current = call(&s, "GET", &format!("{CMS}/held"), "", "").await.body;
    }
    assert_eq!(r.status, 200, "{}", r.body);
    eventually(&s, &format!("{CMS}/held"), |r| r.status == 404).await;
    eventually(&s, &format!("{CMS}/f"), |r| r.status == 404).await;
}

/// Upstream's YAML body with duplicate keys (its field validation integration test).
const INVALID_DEPLOYMENT_YAML: &str = include_str!("../../api/testdata/deployment-duplicates.yaml");

#[tokio::test]
async fn yaml_duplicate_keys_as_upstream() {
    let (s, _dir) = server().await;
    let r = call(
        &s,
        "POST",
        &format!("{DEPLOYMENTS}?fieldValidation=Strict"),
        "application/yaml",
        INVALID_DEPLOYMENT_YAML,
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(
        r.body["message"],
        "Deployment in version \"v1\" cannot be handled as a Deployment: strict decoding error: yaml: unmarshal errors:\n  \
         line 5: key \"name\" already set in map\n  line 12: key \"unknownDupe\" already set in map\n  \
         line 14: key \"paused\" already set in map\n  line 28: key \"imagePullPolicy\" already set in map, \
         unknown field \"metadata.unknownMeta\", unknown field \"spec.template.spec.containers[0].unknownNested\", \
         unknown field \"spec.unknown1\", unknown field \"spec.unknownDupe\""
    );
    let r = call(
        &s,
        "POST",
        DEPLOYMENTS,
        "application/yaml",
        INVALID_DEPLOYMENT_YAML,
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let warnings: Vec<&str> = r
        .warnings
        .iter()
        .map(|w| w.trim_start_matches("299 - "))
        .collect();
    assert_eq!(
        warnings,
        [
            "\"line 5: key \\\"name\\\" already set in map\"",
            "\"line 12: key \\\"unknownDupe\\\" already set in map\"",
            "\"line 14: key \\\"paused\\\" already set in map\"",
            "\"line 28: key \\\"imagePullPolicy\\\" already set in map\"",
            "\"unknown field \\\"metadata.unknownMeta\\\"\"",
            "\"unknown field \\\"spec.template.spec.containers[0].unknownNested\\\"\"",
            "\"unknown field \\\"spec.unknown1\\\"\"",
            "\"unknown field \\\"spec.unknownDupe\\\"\"",
        ]
    );
    assert_eq!(r.body["metadata"]["name"], "y", "the last value wins");
    // The last `paused` (false) wins, and Go's encoder omits it.
    assert_eq!(r.body["spec"].get("paused"), None);
}

/// A review has no table: a client that accepts nothing else gets upstream's
/// 406; one with a plain fallback (kubectl's Accept) gets the review.
#[tokio::test]
async fn tables_of_reviews_are_not_acceptable() {
    let (s, _dir) = server().await;
    let body = r#"{"apiVersion":"authorization.k8s.io/v1","kind":"SelfSubjectAccessReview","spec":{"resourceAttributes":{"verb":"get","resource":"pods"}}}"#;
    let post = |accept: &'static str| {
        let req = http::Request::builder()
            .method("POST")
            .uri("/apis/authorization.k8s.io/v1/selfsubjectaccessreviews")
            .header("Content-Type", "application/json")
            .header("Accept", accept)
            .body(bytes::Bytes::from(body))
            .unwrap();
        s.handle(req, Some(skiff_apiserver::UserInfo::loopback()))
    };
    let resp = post("application/json;as=Table;v=v1;g=meta.k8s.io").await;
    assert_eq!(resp.status(), 406);
    let bytes = http_body_util::BodyExt::collect(resp.into_body())
        .await
        .unwrap()
        .to_bytes();
    let status: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(status["reason"], "NotAcceptable");
    assert_eq!(
        status["message"],
        "only the following media types are accepted: application/json, application/yaml, application/vnd.kubernetes.protobuf"
    );
    let resp = post("application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json").await;
    assert_eq!(resp.status(), 201);
}

/// Field selectors: each group version's labels, upstream's values and refusals.
#[tokio::test]
async fn field_selectors_as_upstream() {
    let (s, _dir) = server().await;
    const PODS: &str = "/api/v1/namespaces/ns/pods";
    for (name, node, host_network) in [("a", "n1", false), ("b", "n2", true)] {
        let pod = json!({"metadata": {"name": name}, "spec": {"nodeName": node, "hostNetwork": host_network,
                         "containers": [{"name": "c", "image": "i"}]}});
        let r = call(&s, "POST", PODS, "application/json", pod.to_string()).await;
        assert_eq!(r.status, 201, "{}", r.body);
    }
    let names = |r: &common::Reply| -> Vec<String> {
        r.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["metadata"]["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        names(
            &call(
                &s,
                "GET",
                &format!("{PODS}?fieldSelector=spec.nodeName%3Dn2"),
                "",
                ""
            )
            .await
        ),
        ["b"]
    );
    assert_eq!(
        names(
            &call(
                &s,
                "GET",
                &format!("{PODS}?fieldSelector=spec.host%3Dn1"),
                "",
                ""
            )
            .await
        ),
        ["a"],
        "the legacy label"
    );
    assert_eq!(
        names(
            &call(
                &s,
                "GET",
                &format!("{PODS}?fieldSelector=spec.hostNetwork%3Dfalse"),
                "",
                ""
            )
            .await
        ),
        ["a"],
        "an unset boolean reads false"
    );
    assert_eq!(
        names(
            &call(
                &s,
                "GET",
                &format!("{PODS}?fieldSelector=status.phase%3DPending,metadata.name!%3Da"),
                "",
                ""
            )
            .await
        ),
        ["b"]
    );
    let r = call(
        &s,
        "GET",
        &format!("{PODS}?fieldSelector=spec.foo%3Dbar"),
        "",
        "",
    )
    .await;
    assert_eq!(
        (r.status, r.body["message"].as_str()),
        (400, Some("field label not supported: spec.foo"))
    );
    let r = call(
        &s,
        "GET",
        "/apis/apps/v1/namespaces/ns/replicasets?fieldSelector=status.replicas%3D0",
        "",
        "",
    )
    .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.body["message"],
        "\"status.replicas\" is not a known field selector: only \"metadata.name\", \"metadata.namespace\""
    );
    let r = call(
        &s,
        "GET",
        "/api/v1/nodes?fieldSelector=metadata.namespace%3D",
        "",
        "",
    )
    .await;
    assert_eq!(
        r.body["message"],
        "field label not supported: metadata.namespace"
    );
    // events.k8s.io/v1 names for the core Event's fields.
    let event = json!({"metadata": {"name": "e"}, "involvedObject": {"kind": "Pod", "name": "a", "namespace": "ns"},
                       "reason": "Started", "message": "m", "reportingComponent": "kubelet", "source": {}});
    assert_eq!(
        call(
            &s,
            "POST",
            "/api/v1/namespaces/ns/events",
            "application/json",
            event.to_string()
        )
        .await
        .status,
        201
    );
    let r = call(&s, "GET", "/apis/events.k8s.io/v1/namespaces/ns/events?fieldSelector=regarding.name%3Da,reportingController%3Dkubelet", "", "").await;
    assert_eq!(names(&r), ["e"], "{}", r.body);
    let r = call(
        &s,
        "GET",
        "/api/v1/namespaces/ns/events?fieldSelector=source%3Dkubelet",
        "",
        "",
    )
    .await;
    assert_eq!(
        names(&r),
        ["e"],
        "source falls back to the reporting component"
    );
    let r = call(
        &s,
        "GET",
        "/apis/events.k8s.io/v1/namespaces/ns/events?fieldSelector=involvedObject.name%3Da",
        "",
        "",
    )
    .await;
    assert_eq!(
        r.body["message"],
        "field label not supported: involvedObject.name"
    );
}

/// Status updates keep what each kind's status strategy keeps: spec from the
/// stored object, metadata changes but those the kind resets.
#[tokio::test]
async fn status_strategies_per_kind() {
    let (s, _dir) = server().await;
    let d = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d", "labels": {"a": "1"}},
                   "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "d"}},
                            "template": {"metadata": {"labels": {"app": "d"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}}});
    let r = call(&s, "POST", DEPLOYMENTS, "application/json", d.to_string()).await;
    let mut st = r.body.clone();
    st["spec"]["replicas"] = json!(5);
    st["metadata"]["labels"]["a"] = json!("2");
    st["metadata"]["annotations"] = json!({"note": "kept"});
    st["status"] = json!({"replicas": 3});
    let r = call(
        &s,
        "PUT",
        &format!("{DEPLOYMENTS}/d/status"),
        "application/json",
        st.to_string(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["spec"]["replicas"], 1, "spec from the stored object");
    assert_eq!(r.body["status"]["replicas"], 3);
    assert_eq!(
        r.body["metadata"]["labels"]["a"], "1",
        "a deployment's labels reset"
    );
    assert_eq!(r.body["metadata"]["annotations"]["note"], "kept");
    assert_eq!(r.body["metadata"]["generation"], 1);
    // Pods keep label changes but not owner references.
    let pod =
        json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "i"}]}});
    let r = call(
        &s,
        "POST",
        "/api/v1/namespaces/ns/pods",
        "application/json",
        pod.to_string(),
    )
    .await;
    let mut st = r.body.clone();
    st["metadata"]["labels"] = json!({"x": "y"});
    st["metadata"]["ownerReferences"] =
        json!([{"apiVersion": "v1", "kind": "Node", "name": "n", "uid": "u"}]);
    st["status"]["phase"] = json!("Running");
    let r = call(
        &s,
        "PUT",
        "/api/v1/namespaces/ns/pods/p/status",
        "application/json",
        st.to_string(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["metadata"]["labels"]["x"], "y");
    assert!(r.body["metadata"].get("ownerReferences").is_none());
    assert_eq!(r.body["status"]["phase"], "Running");
    // A namespace's spec.finalizers change only through /finalize.
    let r = call(&s, "GET", "/api/v1/namespaces/ns", "", "").await;
    let mut ns = r.body.clone();
    ns["spec"]["finalizers"] = json!([]);
    let r = call(
        &s,
        "PUT",
        "/api/v1/namespaces/ns",
        "application/json",
        ns.to_string(),
    )
    .await;
    assert_eq!(r.body["spec"]["finalizers"], json!(["kubernetes"]));
}

/// A CSR is approved through /approval only; /status may set the certificate once.
#[tokio::test]
async fn csr_approval_and_status() {
    let (s, _dir) = server().await;
    const CSRS: &str = "/apis/certificates.k8s.io/v1/certificatesigningrequests";
    let csr = json!({"apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest", "metadata": {"name": "c"},
                     "spec": {"request": "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURSBSRVFVRVNULS0tLS0KLS0tLS1FTkQgQ0VSVElGSUNBVEUgUkVRVUVTVC0tLS0tCg==",
                              "signerName": "example.com/signer", "usages": ["client auth"]}});
    let r = call(&s, "POST", CSRS, "application/json", csr.to_string()).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let mut approve = r.body.clone();
    approve["status"] = json!({"conditions": [{"type": "Approved", "status": "True", "reason": "Test", "message": "ok"}]});
    // Not through /status...
    let r = call(
        &s,
        "PUT",
        &format!("{CSRS}/c/status"),
        "application/json",
        approve.to_string(),
    )
    .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(
        r.body["message"]
            .as_str()
            .unwrap()
            .contains("updates may not add a condition of type \"Approved\""),
        "{}",
        r.body
    );
    // ...but through /approval, with timestamps filled in.
    let r = call(
        &s,
        "PUT",
        &format!("{CSRS}/c/approval"),
        "application/json",
        approve.to_string(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let cond = &r.body["status"]["conditions"][0];
    assert_eq!(cond["type"], "Approved");
    assert!(cond["lastUpdateTime"].is_string() && cond["lastTransitionTime"].is_string());
    // The main resource changes neither spec nor status.
    let mut main = r.body.clone();
    main["status"]["certificate"] = json!("LS0t");
    main["metadata"]["labels"] = json!({"l": "v"});
    let r = call(
        &s,
        "PUT",
        &format!("{CSRS}/c"),
        "application/json",
        main.to_string(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body["status"].get("certificate").is_none());
    assert_eq!(r.body["metadata"]["labels"]["l"], "v");
    // The signer sets the certificate through /status.
    let mut issued = r.body.clone();
    issued["status"]["certificate"] = json!("LS0t");
    let r = call(
        &s,
        "PUT",
        &format!("{CSRS}/c/status"),
        "application/json",
        issued.to_string(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["status"]["certificate"], "LS0t");
    // An approval cannot be taken back.
    let mut revoke = r.body.clone();
    revoke["status"]["conditions"] = json!([]);
    let r = call(
        &s,
        "PUT",
        &format!("{CSRS}/c/approval"),
        "application/json",
        revoke.to_string(),
    )
    .await;
    assert_eq!(r.status, 422);
}

/// `kubectl debug` adds an ephemeral container with a strategic merge patch
/// of pods/ephemeralcontainers; pods/resize changes container resources only.
#[tokio::test]
async fn ephemeral_containers_and_resize() {
    let (s, _dir) = server().await;
    const POD: &str = "/api/v1/namespaces/ns/pods/p";
    let pod = json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "i",
                     "resources": {"requests": {"cpu": "100m"}, "limits": {"cpu": "200m"}}}]}});
    call(
        &s,
        "POST",
        "/api/v1/namespaces/ns/pods",
        "application/json",
        pod.to_string(),
    )
    .await;
    let patch = json!({"spec": {"ephemeralContainers": [{"name": "debugger", "image": "busybox", "targetContainerName": "c",
                                                          "stdin": true, "tty": true}]}});
    let r = call(
        &s,
        "PATCH",
        &format!("{POD}/ephemeralcontainers"),
        "application/strategic-merge-patch+json",
        patch.to_string(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["spec"]["ephemeralContainers"][0]["name"], "debugger");
    let r = call(
        &s,
        "PATCH",
        &format!("{POD}/ephemeralcontainers"),
        "application/json-patch+json",
        r#"[{"op":"remove","path":"/spec/ephemeralContainers/0"}]"#,
    )
    .await;
    assert_eq!(r.status, 422, "{}", r.body);
    let resize = json!({"spec": {"containers": [{"name": "c", "resources": {"requests": {"cpu": "300m"}, "limits": {"cpu": "400m"}}}],
                                 "activeDeadlineSeconds": 5}});
    let r = call(
        &s,
        "PATCH",
        &format!("{POD}/resize"),
        "application/strategic-merge-patch+json",
        resize.to_string(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.body["spec"]["containers"][0]["resources"]["limits"]["cpu"],
        "400m"
    );
    assert!(
        r.body["spec"].get("activeDeadlineSeconds").is_none(),
        "only resources change through resize"
    );
    let r = call(&s, "GET", &format!("{POD}/resize"), "", "").await;
    assert_eq!(r.body["kind"], "Pod");
}

/// `serviceaccounts/token`: a signed token with upstream's claims, checked
/// against the published key; upstream's refusals.
#[tokio::test]
async fn service_account_tokens() {
    use base64::Engine;
    let issuer = skiff_apiserver::serviceaccount::TokenIssuer::new(
        &skiff_apiserver::serviceaccount::generate_key().unwrap(),
        skiff_apiserver::serviceaccount::DEFAULT_ISSUER,
    )
    .unwrap();
    let options = skiff_apiserver::Options {
        token_issuer: Some(std::sync::Arc::new(issuer)),
        ..Default::default()
    };
    let (s, _dir) = common::server_with_namespace_and(options).await;
    let sa = call(
        &s,
        "POST",
        "/api/v1/namespaces/ns/serviceaccounts",
        "application/json",
        r#"{"metadata":{"name":"robot"}}"#,
    )
    .await;
    let pod = json!({"metadata": {"name": "p"}, "spec": {"serviceAccountName": "robot", "containers": [{"name": "c", "image": "i"}]}});
    let pod = call(
        &s,
        "POST",
        "/api/v1/namespaces/ns/pods",
        "application/json",
        pod.to_string(),
    )
    .await;
    let request = json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                         "spec": {"audiences": ["api"], "expirationSeconds": 600,
                                  "boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": "p", "uid": pod.body["metadata"]["uid"]}}});
    let r = call(
        &s,
        "POST",
        "/api/v1/namespaces/ns/serviceaccounts/robot/token",
        "application/json",
        request.to_string(),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["kind"], "TokenRequest");
    assert!(r.body["status"]["expirationTimestamp"].is_string());
    let token = r.body["status"]["token"].as_str().unwrap();
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(token.split('.').nth(1).unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(claims["sub"], "system:serviceaccount:ns:robot");
    assert_eq!(claims["aud"], json!(["api"]));
    assert_eq!(
        claims["iss"],
        "https://kubernetes.default.svc.cluster.local"
    );
    assert_eq!(
        claims["kubernetes.io"]["serviceaccount"]["uid"],
        sa.body["metadata"]["uid"]
    );
    assert_eq!(claims["kubernetes.io"]["pod"]["name"], "p");
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        600
    );
    let jwks = call(&s, "GET", "/openid/v1/jwks", "", "").await;
    let header: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(token.split('.').next().unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(header["kid"], jwks.body["keys"][0]["kid"]);
    let discovery = call(&s, "GET", "/.well-known/openid-configuration", "", "").await;
    assert_eq!(
        discovery.body["issuer"],
        "https://kubernetes.default.svc.cluster.local"
    );
    // Refusals.
    let short = json!({"spec": {"expirationSeconds": 599}});
    let r = call(
        &s,
        "POST",
        "/api/v1/namespaces/ns/serviceaccounts/robot/token",
        "application/json",
        short.to_string(),
    )
    .await;
    assert_eq!(r.status, 422);
    assert!(
        r.body["message"]
            .as_str()
            .unwrap()
            .contains("may not specify a duration less than 10 minutes"),
        "{}",
        r.body
    );
    let r = call(
        &s,
        "POST",
        "/api/v1/namespaces/ns/serviceaccounts/nobody/token",
        "application/json",
        "{}",
    )
    .await;
    assert_eq!(r.status, 404);
    let stale = json!({"spec": {"boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": "p", "uid": "other"}}});
    let r = call(
        &s,
        "POST",
        "/api/v1/namespaces/ns/serviceaccounts/robot/token",
        "application/json",
        stale.to_string(),
    )
    .await;
    assert_eq!(r.status, 409, "{}", r.body);
}

/// A pod starts with its QoS class; a PV's phase carries its transition time.
#[tokio::test]
async fn initial_status_as_upstream() {
    let (s, _dir) = server().await;
    let pod = json!({"metadata": {"name": "q"}, "spec": {"containers": [{"name": "c", "image": "i",
                     "resources": {"limits": {"cpu": "1", "memory": "1Gi"}}}]}});
    let r = call(
        &s,
        "POST",
        "/api/v1/namespaces/ns/pods",
        "application/json",
        pod.to_string(),
    )
    .await;
    assert_eq!(
        r.body["status"],
        json!({"phase": "Pending", "qosClass": "Guaranteed"})
    );
    let mut st = r.body.clone();
    st["status"] = json!({"phase": "Running"});
    let r = call(
        &s,
        "PUT",
        "/api/v1/namespaces/ns/pods/q/status",
        "application/json",
        st.to_string(),
    )
    .await;
    assert_eq!(
        r.body["status"]["qosClass"], "Guaranteed",
        "kept from the stored pod"
    );
    let pv = json!({"metadata": {"name": "v"}, "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"], "hostPath": {"path": "/x"}}});
    let r = call(
        &s,
        "POST",
        "/api/v1/persistentvolumes",
        "application/json",
        pv.to_string(),
    )
    .await;
    assert_eq!(r.body["status"]["phase"], "Pending");
    assert!(
        r.body["status"]["lastPhaseTransitionTime"].is_string(),
        "{}",
        r.body
    );
}

/// A continue token whose snapshot was compacted: 410 Expired with
/// upstream's text and a token that goes on at the latest version.
#[tokio::test]
async fn an_expired_continue_token_says_where_to_go_on() {
    let (s, store, _d) = common::server(skiff_apiserver::Options::default()).await;
    let ns = call(
        &s,
        "POST",
        "/api/v1/namespaces",
        "application/json",
        r#"{"metadata":{"name":"ns"}}"#,
    )
    .await;
    assert_eq!(ns.status, 201);
    for name in ["a", "b", "c"] {
        let r = call(
            &s,
            "POST",
            "/api/v1/namespaces/ns/configmaps",
            "application/json",
            json!({"metadata": {"name": name}}).to_string(),
        )
        .await;
        assert_eq!(r.status, 201);
    }
    let first = call(
        &s,
        "GET",
        "/api/v1/namespaces/ns/configmaps?limit=1",
        "",
        "",
    )
    .await;
    let token = first.body["metadata"]["continue"]
        .as_str()
        .unwrap()
        .to_string();
    // A write after the snapshot, then compaction past it.
    let r = call(
        &s,
        "PATCH",
        "/api/v1/namespaces/ns/configmaps/c",
        "application/merge-patch+json",
        r#"{"data":{"x":"y"}}"#,
    )
    .await;
    assert_eq!(r.status, 200);
    let rv: i64 = r.body["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    store.compact(rv).await.unwrap();
    let r = call(
        &s,
        "GET",
        &format!("/api/v1/namespaces/ns/configmaps?limit=1&continue={token}"),
        "",
        "",
    )
    .await;
    assert_eq!(r.status, 410, "{}", r.body);
    assert_eq!(r.body["reason"], "Expired");
    assert!(
        r.body["message"]
            .as_str()
            .unwrap()
            .starts_with("The provided continue parameter is too old")
    );
    let next = r.body["metadata"]["continue"].as_str().unwrap().to_string();
    let rest = call(
        &s,
        "GET",
        &format!("/api/v1/namespaces/ns/configmaps?continue={next}"),
        "",
        "",
    )
    .await;
    assert_eq!(rest.status, 200, "{}", rest.body);
    let names: Vec<&str> = rest.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["b", "c"]);
}
