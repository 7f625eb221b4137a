//! Upstream's own examples (`policy/check_*_test.go`, the admission
//! tests), word for word.

use serde_json::{Value, json};

use super::*;

fn lv(s: &str) -> LevelVersion {
    let (l, v) = s.split_once(':').unwrap();
    LevelVersion {
        level: Level::parse(l).unwrap(),
        version: Version::parse(v).unwrap(),
    }
}

fn detail(level: &str, pod: Value) -> String {
    let meta = pod.get("metadata").cloned().unwrap_or(json!({}));
    forbidden_detail(&evaluate(lv(level), &meta, &pod["spec"]))
}

#[test]
fn the_canonical_restricted_refusal() {
    let pod = json!({"spec": {"containers": [{"name": "nginx", "image": "nginx"}]}});
    assert_eq!(
        detail("restricted:latest", pod.clone()),
        r#"allowPrivilegeEscalation != false (container "nginx" must set securityContext.allowPrivilegeEscalation=false), unrestricted capabilities (container "nginx" must set securityContext.capabilities.drop=["ALL"]), runAsNonRoot != true (pod or container "nginx" must set securityContext.runAsNonRoot=true), seccompProfile (pod or container "nginx" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")"#
    );
    assert_eq!(detail("baseline:latest", pod), "");
}

#[test]
fn the_smallest_restricted_pod_passes_at_every_version() {
    let pod = json!({"spec": {
        "securityContext": {"runAsNonRoot": true, "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [{"name": "c", "securityContext": {
            "allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}}}]}});
    for v in ["v1.0", "v1.8", "v1.19", "v1.22", "v1.25", "latest", "v1.99"] {
        assert_eq!(detail(&format!("restricted:{v}"), pod.clone()), "", "{v}");
    }
    // v1.0 asks only runAsNonRoot.
    let old = json!({"spec": {"securityContext": {"runAsNonRoot": true},
        "containers": [{"name": "c"}]}});
    assert_eq!(detail("restricted:v1.0", old.clone()), "");
    assert_ne!(detail("restricted:v1.8", old), "");
}

#[test]
fn baseline_checks_in_upstreams_order_and_words() {
    let pod = json!({
        "metadata": {"annotations": {
            "container.apparmor.security.beta.kubernetes.io/e": "unconfined",
            "container.apparmor.security.beta.kubernetes.io/f": "localhost/x"}},
        "spec": {
            "hostNetwork": true, "hostIPC": true,
            "securityContext": {"sysctls": [{"name": "a"}, {"name": "kernel.shm_rmid_forced"}, {"name": "b"}],
                "seLinuxOptions": {"type": "bad", "user": "u"}},
            "volumes": [{"name": "a", "hostPath": {"path": "/"}}, {"name": "b", "emptyDir": {}}],
            "initContainers": [{"name": "i", "securityContext": {"privileged": true}}],
            "containers": [
                {"name": "b", "ports": [{"containerPort": 1, "hostPort": 443}, {"containerPort": 2, "hostPort": 10000}],
                 "securityContext": {"capabilities": {"add": ["NET_RAW", "CHOWN", "FOO"]}, "procMount": "Unmasked"}},
                {"name": "c", "ports": [{"containerPort": 3, "hostPort": 8080}],
                 "securityContext": {"privileged": true, "seccompProfile": {"type": "Unconfined"},
                    "windowsOptions": {"hostProcess": true}}}
            ]
        }
    });
    let violations = evaluate(lv("baseline:latest"), &pod["metadata"], &pod["spec"]);
    let got: Vec<String> = violations
        .iter()
        .map(|v| format!("{} ({})", v.reason, v.detail))
        .collect();
    assert_eq!(
        got,
        [
            r#"forbidden AppArmor profile (annotation must not set AppArmor profile type to "container.apparmor.security.beta.kubernetes.io/e="unconfined"")"#,
            r#"non-default capabilities (container "b" must not include "FOO", "NET_RAW" in securityContext.capabilities.add)"#,
            "host namespaces (hostNetwork=true, hostIPC=true)",
            r#"hostPath volumes (volume "a")"#,
            r#"hostPort (containers "b", "c" use hostPorts 10000, 443, 8080)"#,
            r#"privileged (containers "i", "c" must not set securityContext.privileged=true)"#,
            r#"procMount (container "b" must not set securityContext.procMount to "Unmasked")"#,
            r#"seLinuxOptions (pod set forbidden securityContext.seLinuxOptions: type "bad"; user may not be set)"#,
            r#"seccompProfile (container "c" must not set securityContext.seccompProfile.type to "Unconfined")"#,
            "forbidden sysctls (a, b)",
            r#"hostProcess (container "c" must not set securityContext.windowsOptions.hostProcess=true)"#,
        ]
    );
    assert_eq!(
        forbidden_reason(&violations),
        "forbidden AppArmor profile, non-default capabilities, host namespaces, hostPath volumes, hostPort, privileged, procMount, seLinuxOptions, seccompProfile, forbidden sysctls, hostProcess"
    );
}

#[test]
fn restricted_details_name_explicit_setters_first() {
    let pod = json!({"spec": {
    "securityContext": {"runAsNonRoot": false, "runAsUser": 0},
    "volumes": [{"name": "n", "nfs": {}}, {"name": "x"}],
    "containers": [
        {"name": "a", "securityContext": {"allowPrivilegeEscalation": false,
            "capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE", "CHOWN"]},
            "seccompProfile": {"type": "Unconfined"}}},
        {"name": "b", "securityContext": {"runAsUser": 0, "allowPrivilegeEscalation": false,
            "capabilities": {"drop": ["ALL"]}}}
    ]}});
    assert_eq!(
        detail("restricted:latest", pod),
        concat!(
            r#"unrestricted capabilities (container "a" must not include "CHOWN" in securityContext.capabilities.add), "#,
            r#"restricted volume types (volumes "n", "x" use restricted volume types "nfs", "unknown"), "#,
            r#"runAsNonRoot != true (pod must not set securityContext.runAsNonRoot=false), "#,
            r#"runAsUser=0 (pod and container "b" must not set runAsUser=0), "#,
            r#"seccompProfile (container "a" must not set securityContext.seccompProfile.type to "Unconfined")"#
        )
    );
}

#[test]
fn windows_pods_skip_three_restricted_checks_from_1_25() {
    let pod = json!({"spec": {"os": {"name": "windows"},
        "securityContext": {"runAsNonRoot": true},
        "containers": [{"name": "w"}]}});
    assert_eq!(detail("restricted:v1.25", pod.clone()), "");
    assert!(detail("restricted:v1.24", pod).starts_with("allowPrivilegeEscalation != false"));
}

#[test]
fn labels_choose_the_policy_and_report_what_does_not_parse() {
    let labels = |v: Value| policy_from_labels(v.as_object());
    let (p, errors) = labels(json!({ENFORCE_LABEL: "baseline", ENFORCE_VERSION_LABEL: "v1.24"}));
    assert!(errors.is_empty());
    assert_eq!(p.enforce.to_string(), "baseline:v1.24");
    // Warn follows enforce when unset.
    assert_eq!(p.warn.to_string(), "baseline:v1.24");
    assert_eq!(p.audit.to_string(), "privileged:latest");

    let (p, errors) =
        labels(json!({ENFORCE_LABEL: "foo", WARN_VERSION_LABEL: "v2", AUDIT_LABEL: "bar"}));
    assert_eq!(p.enforce.level, Level::Restricted);
    assert_eq!(p.audit.level, Level::Privileged);
    assert_eq!(p.warn.level, Level::Privileged);
    assert_eq!(
        aggregate(&errors),
        r#"[metadata.labels[pod-security.kubernetes.io/enforce]: Invalid value: "foo": must be one of privileged, baseline, restricted, metadata.labels[pod-security.kubernetes.io/audit]: Invalid value: "bar": must be one of privileged, baseline, restricted, metadata.labels[pod-security.kubernetes.io/warn-version]: Invalid value: "v2": must be "latest" or "v1.x"]"#
    );
    for bad in ["v1.01", "V1.2", "v1.", "v1.2.3", "v0.1", " latest"] {
        assert!(Version::parse(bad).is_none(), "{bad}");
    }
    assert_eq!(Version::parse("v1.0"), Some(Version::V1(0)));
    assert_eq!(
        Version::parse("v1.99").unwrap().effective_minor(),
        MAX_MINOR
    );
}

#[test]
fn go_quoting() {
    assert_eq!(go_quote("a\"b\\c\n\u{1}é"), r#""a\"b\\c\n\x01é""#);
}
