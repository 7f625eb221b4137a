//! Upstream's messages for wrongly typed bodies, as seen from real 1.33
//! servers (research digest: Go's encoding/json `UnmarshalTypeError` and the
//! API machinery's unmarshalers).

use serde_json::{Value, json};

use super::{Decoder, check};

fn err(group: &str, kind: &str, obj: serde_json::Value) -> String {
    check(group, "v1", kind, &obj, Decoder::Json).unwrap_or_else(|| panic!("{obj} decodes"))
}

#[test]
fn real_messages() {
    assert_eq!(
        err("", "ConfigMap", json!({"data": {"a": 1}})),
        "json: cannot unmarshal number into Go struct field ConfigMap.data of type string"
    );
    assert_eq!(
        err("", "ConfigMap", json!({"data": {"a": {}}})),
        "json: cannot unmarshal object into Go struct field ConfigMap.data of type string"
    );
    assert_eq!(
        err("", "ConfigMap", json!({"data": []})),
        "json: cannot unmarshal array into Go struct field ConfigMap.data of type map[string]string"
    );
    assert_eq!(
        err("", "ConfigMap", json!({"metadata": "x"})),
        "json: cannot unmarshal string into Go struct field ConfigMap.metadata of type v1.ObjectMeta"
    );
    assert_eq!(
        err("", "ConfigMap", json!({"metadata": {"labels": {"a": 1}}})),
        "json: cannot unmarshal number into Go struct field ObjectMeta.metadata.labels of type string"
    );
    assert_eq!(
        err("apps", "Deployment", json!({"spec": {"replicas": "x"}})),
        "json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of type int32"
    );
    assert_eq!(
        err("apps", "Deployment", json!({"spec": []})),
        "json: cannot unmarshal array into Go struct field Deployment.spec of type v1.DeploymentSpec"
    );
    let containers =
        |c: serde_json::Value| json!({"spec": {"template": {"spec": {"containers": [c]}}}});
    assert_eq!(
        err(
            "apps",
            "Deployment",
            containers(json!({"name": "a", "env": [{"name": "x", "value": 1}]}))
        ),
        "json: cannot unmarshal number into Go struct field EnvVar.spec.template.spec.containers.env.value of type string"
    );
    assert_eq!(
        err(
            "apps",
            "Deployment",
            containers(json!({"ports": [{"containerPort": "80"}]}))
        ),
        "json: cannot unmarshal string into Go struct field ContainerPort.spec.template.spec.containers.ports.containerPort of type int32"
    );
    assert_eq!(
        err("apps", "Deployment", containers(json!({"ports": ["80"]}))),
        "json: cannot unmarshal string into Go struct field Container.spec.template.spec.containers.ports of type v1.ContainerPort"
    );
    assert_eq!(
        err(
            "apps",
            "Deployment",
            containers(json!({"livenessProbe": []}))
        ),
        "json: cannot unmarshal array into Go struct field Container.spec.template.spec.containers.livenessProbe of type v1.Probe"
    );
    assert_eq!(
        err(
            "apps",
            "Deployment",
            containers(json!({"imagePullPolicy": 1}))
        ),
        "json: cannot unmarshal number into Go struct field Container.spec.template.spec.containers.imagePullPolicy of type v1.PullPolicy"
    );
    assert_eq!(
        err("", "Pod", json!({"spec": {"containers": [{"args": [1]}]}})),
        "json: cannot unmarshal number into Go struct field Container.spec.containers.args of type string"
    );
    assert_eq!(
        err("", "Pod", json!({"spec": {"containers": {"a": 1}}})),
        "json: cannot unmarshal object into Go struct field PodSpec.spec.containers of type []v1.Container"
    );
    assert_eq!(
        err("", "Service", json!({"spec": {"ports": [{"port": "80"}]}})),
        "json: cannot unmarshal string into Go struct field ServicePort.spec.ports.port of type int32"
    );
    assert_eq!(
        err("", "Secret", json!({"data": {"a": true}})),
        "json: cannot unmarshal bool into Go struct field Secret.data of type []uint8"
    );
    assert_eq!(
        err("", "Secret", json!({"data": "x"})),
        "json: cannot unmarshal string into Go struct field Secret.data of type map[string][]uint8"
    );
    assert_eq!(
        err("", "Secret", json!({"data": {"a": "admin"}})),
        "illegal base64 data at input byte 4"
    );
    assert_eq!(
        err(
            "",
            "Pod",
            json!({"spec": {"containers": [{"ports": [{"containerPort": 3000000000u64}]}]}})
        ),
        "json: cannot unmarshal number 3000000000 into Go struct field ContainerPort.spec.containers.ports.containerPort of type int32"
    );
    assert_eq!(
        err(
            "",
            "Pod",
            json!({"spec": {"containers": [{"ports": [{"containerPort": 1.5}]}]}})
        ),
        "json: cannot unmarshal number 1.5 into Go struct field ContainerPort.spec.containers.ports.containerPort of type int32"
    );
}

#[test]
fn unmarshalers() {
    let regex = "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";
    let limits = |q: serde_json::Value| json!({"spec": {"containers": [{"resources": {"limits": {"cpu": q}}}]}});
    assert_eq!(err("", "Pod", limits(json!("abc"))), regex);
    assert_eq!(err("", "Pod", limits(json!(true))), regex);
    assert_eq!(
        err("", "Pod", limits(json!("32MMi"))),
        "unable to parse quantity's suffix"
    );
    assert!(
        check("", "v1", "Pod", &limits(json!(0.5)), Decoder::Json).is_none(),
        "numbers are quantities"
    );
    assert!(check("", "v1", "Pod", &limits(json!("100m")), Decoder::Json).is_none());
    // An unmarshaler's error ends decoding and beats an earlier type error.
    let both = json!({"metadata": {"labels": {"a": 1}}, "spec": {"containers": [{"resources": {"limits": {"cpu": "x"}}}]}});
    assert_eq!(err("", "Pod", both), regex);
    assert_eq!(
        err(
            "",
            "ConfigMap",
            json!({"metadata": {"creationTimestamp": "bad"}})
        ),
        "parsing time \"bad\" as \"2006-01-02T15:04:05Z07:00\": cannot parse \"bad\" as \"2006\""
    );
    assert_eq!(
        err(
            "",
            "ConfigMap",
            json!({"metadata": {"creationTimestamp": 5}})
        ),
        "json: cannot unmarshal number into Go struct field ObjectMeta.metadata.creationTimestamp of type string"
    );
    let port = |p: serde_json::Value| json!({"spec": {"ports": [{"port": 80, "targetPort": p}]}});
    assert!(check("", "v1", "Service", &port(json!("http")), Decoder::Json).is_none());
    assert!(check("", "v1", "Service", &port(json!(8080)), Decoder::Json).is_none());
    assert_eq!(
        err("", "Service", port(json!(true))),
        "json: cannot unmarshal bool into Go struct field ServicePort.spec.ports.targetPort of type int32"
    );
    assert_eq!(
        err("", "Service", port(json!(1.5))),
        "json: cannot unmarshal number 1.5 into Go struct field ServicePort.spec.ports.targetPort of type int32"
    );
}

#[test]
fn what_decodes() {
    // null anywhere, unknown fields, free-form JSON, and the first error only.
    for (group, kind, obj) in [
        (
            "",
            "ConfigMap",
            json!({"metadata": null, "data": {"a": null}, "unknown": 5}),
        ),
        (
            "apps",
            "ControllerRevision",
            json!({"data": {"anything": [1, "two", {"x": null}]}}),
        ),
        (
            "",
            "Secret",
            json!({"data": {"a": "YWRtaW4=", "b": "YR=="}}),
        ),
        (
            "",
            "Event",
            json!({"eventTime": "2024-01-02T03:04:05.123456Z"}),
        ),
        (
            "coordination.k8s.io",
            "Lease",
            json!({"spec": {"renewTime": null, "leaseDurationSeconds": 15}}),
        ),
    ] {
        assert_eq!(check(group, "v1", kind, &obj, Decoder::Json), None, "{obj}");
    }
    assert_eq!(
        err(
            "",
            "ConfigMap",
            json!({"binaryData": {"a": 1}, "data": {"a": 1}})
        ),
        "json: cannot unmarshal number into Go struct field ConfigMap.binaryData of type []uint8",
        "the first error in document (here: key) order"
    );
}

#[test]
fn converter_messages() {
    let conv = |kind: &str, group: &str, obj: serde_json::Value| {
        check(group, "v1", kind, &obj, Decoder::Converter).unwrap()
    };
    assert_eq!(
        conv("Deployment", "apps", json!({"spec": {"replicas": "x"}})),
        "unrecognized type: int32"
    );
    assert_eq!(
        conv("ConfigMap", "", json!({"data": {"a": 1}})),
        "cannot convert int64 to string"
    );
    assert_eq!(
        conv("Deployment", "apps", json!({"spec": "x"})),
        "cannot restore struct from: string"
    );
    assert_eq!(
        conv("Pod", "", json!({"spec": {"containers": {}}})),
        "cannot restore slice from map"
    );
    assert_eq!(
        conv("ConfigMap", "", json!({"data": "x"})),
        "cannot restore map from string"
    );
    assert_eq!(
        conv("Secret", "", json!({"data": {"a": "admin"}})),
        "error decoding from json: illegal base64 data at input byte 4"
    );
}

#[test]
fn nulls_become_what_go_stores() {
    let mut obj = json!({
        "metadata": {"name": "a", "labels": null, "annotations": {"x": null}, "deletionTimestamp": null},
        "data": {"k": null},
        "immutable": null,
    });
    super::normalize_nulls("", "v1", "ConfigMap", &mut obj);
    assert_eq!(
        obj,
        json!({"metadata": {"name": "a", "annotations": {"x": ""}}, "data": {"k": ""}})
    );
    let mut pod = json!({"spec": {"containers": [null, {"name": null, "ports": [{"containerPort": null}],
        "resources": {"limits": {"cpu": null}}}], "restartPolicy": null}});
    super::normalize_nulls("", "v1", "Pod", &mut pod);
    assert_eq!(
        pod,
        json!({"spec": {"containers": [{}, {"name": "", "ports": [{"containerPort": 0}],
            "resources": {"limits": {"cpu": "0"}}}]}})
    );
}

#[test]
fn absent_fields_become_what_go_writes() {
    let mut deploy = json!({"metadata": {"name": "web"}, "spec": {"template": {"metadata": {"labels": {"a": "b"}},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}});
    super::fill_zero_fields("apps", "v1", "Deployment", &mut deploy);
    assert_eq!(deploy["metadata"]["creationTimestamp"], Value::Null);
    assert_eq!(
        deploy["spec"]["template"]["metadata"],
        json!({"labels": {"a": "b"}, "creationTimestamp": null})
    );
    assert_eq!(
        deploy["spec"]["template"]["spec"]["containers"][0]["resources"],
        json!({})
    );
    assert_eq!(deploy["spec"]["selector"], Value::Null);
    assert_eq!(deploy["status"], json!({}));
    assert!(
        deploy["spec"].get("replicas").is_none(),
        "a nil pointer with omitempty stays out"
    );
    let mut svc = json!({"spec": {"ports": [{"port": 80}]}});
    super::fill_zero_fields("", "v1", "Service", &mut svc);
    assert_eq!(svc["status"], json!({"loadBalancer": {}}));
    assert_eq!(svc["spec"]["ports"][0]["targetPort"], json!(0));
    let mut role = json!({"metadata": {"name": "r"}});
    super::fill_zero_fields("rbac.authorization.k8s.io", "v1", "Role", &mut role);
    assert_eq!(role["rules"], Value::Null);
    let mut event = json!({"involvedObject": {"kind": "Pod"}});
    super::fill_zero_fields("", "v1", "Event", &mut event);
    assert_eq!(event["eventTime"], Value::Null);
    assert_eq!(event["firstTimestamp"], Value::Null);
    assert_eq!(event["reportingComponent"], json!(""));
    assert_eq!(event["source"], json!({}));
    // Filling twice changes nothing.
    let again = deploy.clone();
    super::fill_zero_fields("apps", "v1", "Deployment", &mut deploy);
    assert_eq!(deploy, again);
}
