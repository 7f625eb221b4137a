//! Workload defaults: apps/v1 Deployments, ReplicaSets, StatefulSets and
//! DaemonSets (pkg/apis/apps/v1/defaults.go), batch/v1 Jobs and CronJobs
//! (pkg/apis/batch/v1/defaults.go) and autoscaling v2 and v1
//! HorizontalPodAutoscalers (pkg/apis/autoscaling/v2/defaults.go,
//! pkg/apis/autoscaling/v1/defaults.go).

use serde_json::{Map, Value, json};

use super::pod::{pvc_spec, template};
use super::{
    child, default, default_zero, ensure, is_empty_list, is_empty_map, items, template_labels,
};

/// SetDefaults_Deployment.
pub(super) fn deployment(m: &mut Map<String, Value>) {
    let Some(spec) = ensure(m, "spec") else {
        return;
    };
    default(spec, "replicas", json!(1));
    if let Some(strategy) = ensure(spec, "strategy") {
        default_zero(strategy, "type", json!("RollingUpdate"));
        if strategy.get("type") == Some(&json!("RollingUpdate"))
            && let Some(ru) = ensure(strategy, "rollingUpdate")
        {
            default(ru, "maxUnavailable", json!("25%"));
            default(ru, "maxSurge", json!("25%"));
        }
    }
    default(spec, "revisionHistoryLimit", json!(10));
    default(spec, "progressDeadlineSeconds", json!(600));
    template(spec);
}

/// SetDefaults_ReplicaSet.
pub(super) fn replica_set(m: &mut Map<String, Value>) {
    let Some(spec) = ensure(m, "spec") else {
        return;
    };
    default(spec, "replicas", json!(1));
    template(spec);
}

/// SetDefaults_StatefulSet, and the claim defaults of its volumeClaimTemplates.
pub(super) fn stateful_set(m: &mut Map<String, Value>) {
    let Some(spec) = ensure(m, "spec") else {
        return;
    };
    default_zero(spec, "podManagementPolicy", json!("OrderedReady"));
    if let Some(us) = ensure(spec, "updateStrategy") {
        if super::is_zero(us, "type") {
            us.insert("type".into(), json!("RollingUpdate"));
            default(us, "rollingUpdate", json!({}));
        }
        if us.get("type") == Some(&json!("RollingUpdate"))
            && let Some(ru) = child(us, "rollingUpdate")
        {
            default(ru, "partition", json!(0));
        }
    }
    // StatefulSetAutoDeletePVC: GA in 1.32.
    if let Some(policy) = ensure(spec, "persistentVolumeClaimRetentionPolicy") {
        default_zero(policy, "whenDeleted", json!("Retain"));
        default_zero(policy, "whenScaled", json!("Retain"));
    }
    default(spec, "replicas", json!(1));
    default(spec, "revisionHistoryLimit", json!(10));
    template(spec);
    for claim in items(spec, "volumeClaimTemplates") {
        if let Some(status) = ensure(claim, "status") {
            default_zero(status, "phase", json!("Pending"));
        }
        if let Some(s) = ensure(claim, "spec") {
            pvc_spec(s);
        }
    }
}

/// SetDefaults_DaemonSet.
pub(super) fn daemon_set(m: &mut Map<String, Value>) {
    let Some(spec) = ensure(m, "spec") else {
        return;
    };
    if let Some(us) = ensure(spec, "updateStrategy") {
        default_zero(us, "type", json!("RollingUpdate"));
        if us.get("type") == Some(&json!("RollingUpdate"))
            && let Some(ru) = ensure(us, "rollingUpdate")
        {
            default(ru, "maxUnavailable", json!(1));
            default(ru, "maxSurge", json!(0));
        }
    }
    default(spec, "revisionHistoryLimit", json!(10));
    template(spec);
}

/// SetDefaults_Job (with JobPodReplacementPolicy and JobBackoffLimitPerIndex
/// on, as in 1.33).
pub(super) fn job(m: &mut Map<String, Value>) {
    let labels = template_labels(m);
    if let Some(labels) = labels
        && let Some(md) = ensure(m, "metadata")
        && is_empty_map(md, "labels")
    {
        md.insert("labels".into(), labels);
    }
    let Some(spec) = ensure(m, "spec") else {
        return;
    };
    if super::is_nil(spec, "completions") && super::is_nil(spec, "parallelism") {
        spec.insert("completions".into(), json!(1));
        spec.insert("parallelism".into(), json!(1));
    }
    default(spec, "parallelism", json!(1));
    if super::is_nil(spec, "backoffLimit") {
        let limit = if super::is_nil(spec, "backoffLimitPerIndex") {
            6
        } else {
            i32::MAX
        };
        spec.insert("backoffLimit".into(), json!(limit));
    }
    default(spec, "completionMode", json!("NonIndexed"));
    default(spec, "suspend", json!(false));
    if super::is_nil(spec, "podReplacementPolicy") {
        let policy = if super::is_nil(spec, "podFailurePolicy") {
            "TerminatingOrFailed"
        } else {
            "Failed"
        };
        spec.insert("podReplacementPolicy".into(), json!(policy));
    }
    default(spec, "manualSelector", json!(false));
    job_spec_nested(spec);
}

/// What a JobSpec gets wherever it is (a Job, a CronJob's jobTemplate): its
/// pod template's defaults and SetDefaults_PodFailurePolicyOnPodConditionsPattern.
fn job_spec_nested(spec: &mut Map<String, Value>) {
    if let Some(pfp) = child(spec, "podFailurePolicy") {
        for rule in items(pfp, "rules") {
            for pattern in items(rule, "onPodConditions") {
                default_zero(pattern, "status", json!("True"));
            }
        }
    }
    template(spec);
}

/// SetDefaults_CronJob. SetDefaults_Job takes a Job, so a jobTemplate's spec
/// gets only what is nested in it.
pub(super) fn cron_job(m: &mut Map<String, Value>) {
    let Some(spec) = ensure(m, "spec") else {
        return;
    };
    default_zero(spec, "concurrencyPolicy", json!("Allow"));
    default(spec, "suspend", json!(false));
    default(spec, "successfulJobsHistoryLimit", json!(3));
    default(spec, "failedJobsHistoryLimit", json!(1));
    if let Some(jt) = ensure(spec, "jobTemplate")
        && let Some(js) = ensure(jt, "spec")
    {
        job_spec_nested(js);
    }
}

/// SetDefaults_HorizontalPodAutoscaler (autoscaling/v2): minReplicas 1, a
/// CPU utilization target of 80% without metrics, and a behavior's rules
/// completed from the defaults (scale up: 4 pods or 100% per 15s, no
/// stabilization; scale down: 100% per 15s, the controller's stabilization).
pub(super) fn hpa_v2(m: &mut Map<String, Value>) {
    let Some(spec) = ensure(m, "spec") else {
        return;
    };
    default(spec, "minReplicas", json!(1));
    if is_empty_list(spec, "metrics") {
        spec.insert(
            "metrics".into(),
            json!([{"type": "Resource", "resource": {"name": "cpu",
                "target": {"type": "Utilization", "averageUtilization": 80}}}]),
        );
    }
    if let Some(behavior) = child(spec, "behavior") {
        let up = json!({
            "stabilizationWindowSeconds": 0,
            "selectPolicy": "Max",
            "policies": [
                {"type": "Pods", "value": 4, "periodSeconds": 15},
                {"type": "Percent", "value": 100, "periodSeconds": 15}
            ]
        });
        let down = json!({
            "selectPolicy": "Max",
            "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}]
        });
        for (key, defaults) in [("scaleUp", up), ("scaleDown", down)] {
            let Some(rules) = ensure(behavior, key) else {
                continue;
            };
            if let Value::Object(d) = defaults {
                for (k, v) in d {
                    default(rules, &k, v);
                }
            }
        }
    }
}

/// autoscaling/v1: SetDefaults_HorizontalPodAutoscaler sets minReplicas 1.
/// Upstream stores HPAs as autoscaling/v2 and defaults them when reading them
/// back, which adds the 80% CPU metric to one created without a target: read
/// as v1, that is `targetCPUUtilizationPercentage: 80`. Skiff defaults before
/// storing, so it sets it here.
pub(super) fn hpa_v1(m: &mut Map<String, Value>) {
    let Some(spec) = ensure(m, "spec") else {
        return;
    };
    default(spec, "minReplicas", json!(1));
    default(spec, "targetCPUUtilizationPercentage", json!(80));
}

#[cfg(test)]
mod tests {
    use super::super::tests::defaulted;
    use super::*;

    fn pod_template() -> Value {
        json!({"metadata": {"labels": {"app": "a"}}, "spec": {"containers": [{"name": "c", "image": "x:1"}]}})
    }

    /// The PodSpec defaults of a template of `pod_template()`.
    fn defaulted_template() -> Value {
        json!({"metadata": {"labels": {"app": "a"}}, "spec": {
            "containers": [{"name": "c", "image": "x:1", "imagePullPolicy": "IfNotPresent",
                "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File", "resources": {}}],
            "dnsPolicy": "ClusterFirst", "restartPolicy": "Always", "securityContext": {},
            "terminationGracePeriodSeconds": 30, "schedulerName": "default-scheduler"}})
    }

    #[test]
    fn deployments_and_replica_sets() {
        let d = defaulted(
            "apps",
            "v1",
            "deployments",
            json!({"spec": {"template": pod_template()}}),
        );
        assert_eq!(
            d["spec"],
            json!({"replicas": 1, "revisionHistoryLimit": 10, "progressDeadlineSeconds": 600,
                   "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}},
                   "template": defaulted_template()})
        );
        let partial = defaulted(
            "apps",
            "v1",
            "deployments",
            json!({"spec": {"replicas": 0, "strategy": {"rollingUpdate": {"maxSurge": 0}}, "template": pod_template()}}),
        );
        assert_eq!(partial["spec"]["replicas"], 0);
        assert_eq!(
            partial["spec"]["strategy"],
            json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": 0}})
        );
        let recreate = defaulted(
            "apps",
            "v1",
            "deployments",
            json!({"spec": {"strategy": {"type": "Recreate"}, "template": pod_template()}}),
        );
        assert_eq!(recreate["spec"]["strategy"], json!({"type": "Recreate"}));
        let rs = defaulted(
            "apps",
            "v1",
            "replicasets",
            json!({"spec": {"template": pod_template()}}),
        );
        assert_eq!(
            rs["spec"],
            json!({"replicas": 1, "template": defaulted_template()})
        );
    }

    #[test]
    fn stateful_sets() {
        let s = defaulted(
            "apps",
            "v1",
            "statefulsets",
            json!({"spec": {"template": pod_template(), "volumeClaimTemplates": [
                {"metadata": {"name": "data"}, "spec": {"accessModes": ["ReadWriteOnce"]}}
            ]}}),
        );
        assert_eq!(
            s["spec"],
            json!({
                "replicas": 1, "revisionHistoryLimit": 10, "podManagementPolicy": "OrderedReady",
                "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}},
                "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Retain", "whenScaled": "Retain"},
                "template": defaulted_template(),
                "volumeClaimTemplates": [{"metadata": {"name": "data"},
                    "spec": {"accessModes": ["ReadWriteOnce"], "volumeMode": "Filesystem"},
                    "status": {"phase": "Pending"}}]
            })
        );
        // An explicit RollingUpdate without rollingUpdate stays so, as upstream.
        let explicit = defaulted(
            "apps",
            "v1",
            "statefulsets",
            json!({"spec": {"updateStrategy": {"type": "RollingUpdate"}, "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Delete"}}}),
        );
        assert_eq!(
            explicit["spec"]["updateStrategy"],
            json!({"type": "RollingUpdate"})
        );
        assert_eq!(
            explicit["spec"]["persistentVolumeClaimRetentionPolicy"],
            json!({"whenDeleted": "Delete", "whenScaled": "Retain"})
        );
        let with_ru = defaulted(
            "apps",
            "v1",
            "statefulsets",
            json!({"spec": {"updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 2}}}}),
        );
        assert_eq!(
            with_ru["spec"]["updateStrategy"],
            json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 2, "partition": 0}})
        );
    }

    #[test]
    fn daemon_sets() {
        let d = defaulted(
            "apps",
            "v1",
            "daemonsets",
            json!({"spec": {"template": pod_template()}}),
        );
        assert_eq!(
            d["spec"],
            json!({"revisionHistoryLimit": 10,
                   "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}},
                   "template": defaulted_template()})
        );
        let partial = defaulted(
            "apps",
            "v1",
            "daemonsets",
            json!({"spec": {"updateStrategy": {"rollingUpdate": {"maxSurge": "10%"}}}}),
        );
        assert_eq!(
            partial["spec"]["updateStrategy"],
            json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": "10%"}})
        );
        let on_delete = defaulted(
            "apps",
            "v1",
            "daemonsets",
            json!({"spec": {"updateStrategy": {"type": "OnDelete"}}}),
        );
        assert_eq!(
            on_delete["spec"]["updateStrategy"],
            json!({"type": "OnDelete"})
        );
    }

    #[test]
    fn jobs() {
        let j = defaulted(
            "batch",
            "v1",
            "jobs",
            json!({"spec": {"template": pod_template()}}),
        );
        assert_eq!(j["metadata"], json!({"labels": {"app": "a"}}));
        assert_eq!(
            j["spec"],
            json!({"completions": 1, "parallelism": 1, "backoffLimit": 6, "completionMode": "NonIndexed",
                   "suspend": false, "podReplacementPolicy": "TerminatingOrFailed", "manualSelector": false,
                   "template": defaulted_template()})
        );
        let indexed = defaulted(
            "batch",
            "v1",
            "jobs",
            json!({"metadata": {"labels": {"mine": "x"}}, "spec": {
                "completions": 5, "completionMode": "Indexed", "backoffLimitPerIndex": 1,
                "podFailurePolicy": {"rules": [{"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]}]},
                "template": pod_template()}}),
        );
        assert_eq!(indexed["metadata"], json!({"labels": {"mine": "x"}}));
        let spec = &indexed["spec"];
        assert_eq!(
            (
                &spec["completions"],
                &spec["parallelism"],
                &spec["backoffLimit"],
                &spec["completionMode"],
                &spec["podReplacementPolicy"],
            ),
            (
                &json!(5),
                &json!(1),
                &json!(2147483647),
                &json!("Indexed"),
                &json!("Failed"),
            )
        );
        assert_eq!(
            spec["podFailurePolicy"],
            json!({"rules": [{"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]}]})
        );
        let parallel = defaulted(
            "batch",
            "v1",
            "jobs",
            json!({"spec": {"parallelism": 3, "template": pod_template()}}),
        );
        assert!(parallel["spec"].get("completions").is_none());
        assert_eq!(parallel["spec"]["parallelism"], 3);
    }

    #[test]
    fn cron_jobs_default_their_own_fields_and_the_pod_template_only() {
        let c = defaulted(
            "batch",
            "v1",
            "cronjobs",
            json!({"spec": {"schedule": "* * * * *", "jobTemplate": {"spec": {"template": pod_template()}}}}),
        );
        assert_eq!(
            c["spec"],
            json!({"schedule": "* * * * *", "concurrencyPolicy": "Allow", "suspend": false,
                   "successfulJobsHistoryLimit": 3, "failedJobsHistoryLimit": 1,
                   "jobTemplate": {"spec": {"template": defaulted_template()}}})
        );
    }

    #[test]
    fn hpa_v2_metrics_and_behavior() {
        let h = defaulted(
            "autoscaling",
            "v2",
            "horizontalpodautoscalers",
            json!({"spec": {"maxReplicas": 5, "scaleTargetRef": {"kind": "Deployment", "name": "d", "apiVersion": "apps/v1"}}}),
        );
        assert_eq!(
            h["spec"],
            json!({"maxReplicas": 5, "minReplicas": 1,
                   "scaleTargetRef": {"kind": "Deployment", "name": "d", "apiVersion": "apps/v1"},
                   "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}}]})
        );
        let b = defaulted(
            "autoscaling",
            "v2",
            "horizontalpodautoscalers",
            json!({"spec": {"maxReplicas": 5, "minReplicas": 2,
                "metrics": [{"type": "Resource", "resource": {"name": "memory", "target": {"type": "AverageValue", "averageValue": "1Gi"}}}],
                "behavior": {"scaleDown": {"stabilizationWindowSeconds": 60, "selectPolicy": "Min"}}}}),
        );
        assert_eq!(b["spec"]["minReplicas"], 2);
        assert_eq!(b["spec"]["metrics"][0]["resource"]["name"], json!("memory"));
        assert_eq!(
            b["spec"]["behavior"],
            json!({
                "scaleUp": {"stabilizationWindowSeconds": 0, "selectPolicy": "Max", "policies": [
                    {"type": "Pods", "value": 4, "periodSeconds": 15},
                    {"type": "Percent", "value": 100, "periodSeconds": 15}]},
                "scaleDown": {"stabilizationWindowSeconds": 60, "selectPolicy": "Min", "policies": [
                    {"type": "Percent", "value": 100, "periodSeconds": 15}]}
            })
        );
    }

    #[test]
    fn hpa_v1() {
        let h = defaulted(
            "autoscaling",
            "v1",
            "horizontalpodautoscalers",
            json!({"spec": {"maxReplicas": 3}}),
        );
        assert_eq!(
            h["spec"],
            json!({"maxReplicas": 3, "minReplicas": 1, "targetCPUUtilizationPercentage": 80})
        );
        let set = defaulted(
            "autoscaling",
            "v1",
            "horizontalpodautoscalers",
            json!({"spec": {"maxReplicas": 3, "minReplicas": 2, "targetCPUUtilizationPercentage": 50}}),
        );
        assert_eq!(
            set["spec"],
            json!({"maxReplicas": 3, "minReplicas": 2, "targetCPUUtilizationPercentage": 50})
        );
    }
}
