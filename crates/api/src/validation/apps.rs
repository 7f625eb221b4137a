//! Workload controllers: apps/v1 Deployments, ReplicaSets, StatefulSets and
//! DaemonSets (upstream's `pkg/apis/apps/validation/validation.go`, plus the
//! selector immutability their registry strategies add for apps/v1) and core
//! ReplicationControllers (`ValidateReplicationControllerSpec` in
//! `pkg/apis/core/validation/validation.go`).
//!
//! Selectors must be set, valid and non-empty and must match the template's
//! labels; templates are pod templates (see `pods`) whose restart policy must
//! be Always. StatefulSets, as upstream, validate only their template's labels
//! and annotations, not its pod spec.

use serde_json::{Value, json};

use super::common::{
    FIELD_IMMUTABLE, Selector, annotations, arr_of, as_selector, go_int_or_string,
    go_label_selector, go_string_map, int_of, label_selector, labels, nonnegative, obj_of, str_of,
};
use super::pods::validate_pod_template_spec;
use crate::errors::Cause;

const SELECTOR_MISMATCH: &str = "`selector` does not match template `labels`";
const PERCENT_MSG: &str = "a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')";

fn spec(obj: &Value) -> &Value {
    static NULL: Value = Value::Null;
    obj.get("spec").unwrap_or(&NULL)
}

fn template_labels(spec: &Value) -> Option<&Value> {
    spec.pointer("/template/metadata/labels")
}

/// A restart policy as defaulted: Always when unset.
fn restart_policy(spec: &Value) -> &str {
    match spec
        .pointer("/template/spec/restartPolicy")
        .and_then(Value::as_str)
        .unwrap_or("")
    {
        "" => "Always",
        p => p,
    }
}

/// The Always-only restart policy and the activeDeadlineSeconds ban of
/// controllers' templates.
fn always_restarting(spec: &Value, kind: &str, causes: &mut Vec<Cause>) {
    let rp = restart_policy(spec);
    if rp != "Always" {
        causes.push(Cause::not_supported(
            "spec.template.spec.restartPolicy",
            &json!(rp),
            &["Always"],
        ));
    }
    if spec
        .pointer("/template/spec/activeDeadlineSeconds")
        .is_some_and(|v| !v.is_null())
    {
        causes.push(Cause::forbidden(
            "spec.template.spec.activeDeadlineSeconds",
            format!("activeDeadlineSeconds in {kind} is not Supported"),
        ));
    }
}

fn mismatch(spec: &Value) -> Cause {
    Cause::invalid_rendered(
        "spec.template.metadata.labels",
        go_string_map(template_labels(spec)),
        SELECTOR_MISMATCH,
    )
}

/// A required, valid, non-empty `metav1.LabelSelector` (deployments and
/// replica sets; upstream's message says "deployment" for both).
fn required_selector(spec: &Value, kind: &str, causes: &mut Vec<Cause>) {
    match spec.get("selector").filter(|s| !s.is_null()) {
        None => causes.push(Cause::required("spec.selector")),
        Some(sel) => {
            label_selector(Some(sel), "spec.selector", causes);
            let n = obj_of(sel, "matchLabels").map_or(0, |m| m.len())
                + arr_of(sel, "matchExpressions").len();
            if n == 0 {
                causes.push(Cause::invalid_rendered(
                    "spec.selector",
                    go_label_selector(Some(sel)),
                    format!("empty selector is invalid for {kind}"),
                ));
            }
        }
    }
}

/// `ValidatePodTemplateSpecForReplicaSet` after the selector converted.
fn replica_set_template(spec: &Value, kind: &str, causes: &mut Vec<Cause>) {
    let sel = spec.get("selector");
    match as_selector(sel) {
        Selector::Invalid => causes.push(Cause::invalid_rendered(
            "spec.selector",
            go_label_selector(sel),
            "invalid label selector",
        )),
        s => {
            if !s.is_empty() && !s.matches(template_labels(spec)) {
                causes.push(mismatch(spec));
            }
            validate_pod_template_spec(spec.get("template"), "spec.template", causes);
            always_restarting(spec, kind, causes);
        }
    }
}

fn percent_value(v: &str) -> Option<i64> {
    let digits = v.strip_suffix('%')?;
    if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    Some(digits.parse().unwrap_or(i64::MAX))
}

/// `getIntOrPercentValue`: a percent's number, an int, or what `IntValue`
/// makes of another string (its integer, else 0).
fn int_or_percent_value(v: Option<&Value>) -> i64 {
    match v {
        Some(Value::String(s)) => percent_value(s).unwrap_or_else(|| s.parse().unwrap_or(0)),
        other => other.and_then(Value::as_i64).unwrap_or(0),
    }
}

/// `ValidatePositiveIntOrPercent`.
fn positive_int_or_percent(v: Option<&Value>, path: &str, causes: &mut Vec<Cause>) {
    match v {
        Some(Value::String(s)) => {
            if percent_value(s).is_none() {
                causes.push(Cause::invalid_rendered(
                    path,
                    go_int_or_string(v),
                    PERCENT_MSG,
                ));
            }
        }
        other => nonnegative(
            Some(other.and_then(Value::as_i64).unwrap_or(0)),
            path,
            causes,
        ),
    }
}

/// `IsNotMoreThan100Percent`.
fn not_more_than_100_percent(v: Option<&Value>, path: &str, causes: &mut Vec<Cause>) {
    if let Some(Value::String(s)) = v
        && percent_value(s).is_some_and(|p| p > 100)
    {
        causes.push(Cause::invalid_rendered(
            path,
            go_int_or_string(v),
            "must not be greater than 100%",
        ));
    }
}

/// How Go's `%#v` shows a pointer field of a struct: `(*T)(nil)`, else an
/// address (which cannot be reproduced; shown as `(*T)(…)`).
fn go_pointer(v: Option<&Value>, ty: &str) -> String {
    match v.filter(|v| !v.is_null()) {
        None => format!("(*{ty})(nil)"),
        Some(_) => format!("(*{ty})(…)"),
    }
}

fn selector_immutable(new: &Value, old: &Value) -> Vec<Cause> {
    let (n, o) = (spec(new).get("selector"), spec(old).get("selector"));
    if n != o {
        vec![Cause::invalid_rendered(
            "spec.selector",
            go_label_selector(n),
            FIELD_IMMUTABLE,
        )]
    } else {
        Vec::new()
    }
}

// --- Deployments ------------------------------------------------------------

/// `ValidateDeploymentSpec`.
pub fn validate_deployment(obj: &Value) -> Vec<Cause> {
    let spec = spec(obj);
    let mut causes = Vec::new();
    nonnegative(int_of(spec, "replicas"), "spec.replicas", &mut causes);
    required_selector(spec, "deployment", &mut causes);
    replica_set_template(spec, "ReplicaSet", &mut causes);
    deployment_strategy(spec.get("strategy"), &mut causes);
    let min_ready = int_of(spec, "minReadySeconds");
    nonnegative(min_ready, "spec.minReadySeconds", &mut causes);
    nonnegative(
        int_of(spec, "revisionHistoryLimit"),
        "spec.revisionHistoryLimit",
        &mut causes,
    );
    if let Some(pds) = int_of(spec, "progressDeadlineSeconds") {
        nonnegative(Some(pds), "spec.progressDeadlineSeconds", &mut causes);
        if pds <= min_ready.unwrap_or(0) {
            causes.push(Cause::invalid(
                "spec.progressDeadlineSeconds",
                &json!(pds),
                "must be greater than minReadySeconds",
            ));
        }
    }
    causes
}

/// `ValidateDeploymentStrategy`.
fn deployment_strategy(strategy: Option<&Value>, causes: &mut Vec<Cause>) {
    let null = Value::Null;
    let s = strategy.unwrap_or(&null);
    let ru = s.get("rollingUpdate").filter(|r| !r.is_null());
    match str_of(s, "type") {
        "Recreate" => {
            if ru.is_some() {
                causes.push(Cause::forbidden(
                    "spec.strategy.rollingUpdate",
                    "may not be specified when strategy `type` is 'Recreate'",
                ));
            }
        }
        "RollingUpdate" => match ru {
            None => causes.push(Cause::required_because(
                "spec.strategy.rollingUpdate",
                "this should be defaulted and never be nil",
            )),
            Some(ru) => {
                let p = "spec.strategy.rollingUpdate";
                let (mu, ms) = (ru.get("maxUnavailable"), ru.get("maxSurge"));
                positive_int_or_percent(mu, &format!("{p}.maxUnavailable"), causes);
                positive_int_or_percent(ms, &format!("{p}.maxSurge"), causes);
                if int_or_percent_value(mu) == 0 && int_or_percent_value(ms) == 0 {
                    causes.push(Cause::invalid_rendered(
                        format!("{p}.maxUnavailable"),
                        go_int_or_string(mu),
                        "may not be 0 when `maxSurge` is 0",
                    ));
                }
                not_more_than_100_percent(mu, &format!("{p}.maxUnavailable"), causes);
            }
        },
        other => causes.push(Cause::not_supported_rendered(
            "spec.strategy",
            format!(
                "apps.DeploymentStrategy{{Type:{}, RollingUpdate:{}}}",
                super::common::go_quote(other),
                go_pointer(ru, "apps.RollingUpdateDeployment")
            ),
            &["Recreate", "RollingUpdate"],
        )),
    }
}

/// Deployment updates: the selector is immutable in apps/v1.
pub fn validate_deployment_update(new: &Value, old: &Value) -> Vec<Cause> {
    selector_immutable(new, old)
}

// --- ReplicaSets -------------------------------------------------------------

/// `ValidateReplicaSetSpec`.
pub fn validate_replica_set(obj: &Value) -> Vec<Cause> {
    let spec = spec(obj);
    let mut causes = Vec::new();
    nonnegative(int_of(spec, "replicas"), "spec.replicas", &mut causes);
    nonnegative(
        int_of(spec, "minReadySeconds"),
        "spec.minReadySeconds",
        &mut causes,
    );
    required_selector(spec, "deployment", &mut causes);
    replica_set_template(spec, "ReplicaSet", &mut causes);
    causes
}

/// ReplicaSet updates: the selector is immutable in apps/v1.
pub fn validate_replica_set_update(new: &Value, old: &Value) -> Vec<Cause> {
    selector_immutable(new, old)
}

// --- StatefulSets --------------------------------------------------------------

/// `ValidateStatefulSetSpec`.
pub fn validate_stateful_set(obj: &Value) -> Vec<Cause> {
    let spec = spec(obj);
    let mut causes = Vec::new();
    match str_of(spec, "podManagementPolicy") {
        "" => causes.push(Cause::required("spec.podManagementPolicy")),
        "OrderedReady" | "Parallel" => {}
        other => causes.push(Cause::invalid(
            "spec.podManagementPolicy",
            &json!(other),
            "must be 'OrderedReady' or 'Parallel'",
        )),
    }
    let null = Value::Null;
    let us = spec.get("updateStrategy").unwrap_or(&null);
    let ru = us.get("rollingUpdate").filter(|r| !r.is_null());
    let ru_path = "spec.updateStrategy.rollingUpdate";
    match str_of(us, "type") {
        "" => causes.push(Cause::required("spec.updateStrategy")),
        "OnDelete" => {
            if let Some(r) = ru {
                causes.push(Cause::invalid_rendered(
                    ru_path,
                    format!(
                        "apps.RollingUpdateStatefulSetStrategy{{Partition:{}, MaxUnavailable:{}}}",
                        int_of(r, "partition").unwrap_or(0),
                        go_pointer(r.get("maxUnavailable"), "intstr.IntOrString")
                    ),
                    "only allowed for updateStrategy 'RollingUpdate'",
                ));
            }
        }
        "RollingUpdate" => {
            if let Some(r) = ru {
                nonnegative(
                    int_of(r, "partition"),
                    &format!("{ru_path}.partition"),
                    &mut causes,
                );
                if let Some(mu) = r.get("maxUnavailable").filter(|m| !m.is_null()) {
                    let p = format!("{ru_path}.maxUnavailable");
                    positive_int_or_percent(Some(mu), &p, &mut causes);
                    if int_or_percent_value(Some(mu)) == 0 {
                        causes.push(Cause::invalid_rendered(
                            &p,
                            go_int_or_string(Some(mu)),
                            "cannot be 0",
                        ));
                    }
                    not_more_than_100_percent(Some(mu), &p, &mut causes);
                }
            }
        }
        other => causes.push(Cause::invalid_rendered(
            "spec.updateStrategy",
            format!(
                "apps.StatefulSetUpdateStrategy{{Type:{}, RollingUpdate:{}}}",
                super::common::go_quote(other),
                go_pointer(ru, "apps.RollingUpdateStatefulSetStrategy")
            ),
            "must be 'RollingUpdate' or 'OnDelete'",
        )),
    }
    if let Some(policy) = spec
        .get("persistentVolumeClaimRetentionPolicy")
        .filter(|p| !p.is_null())
    {
        for f in ["whenDeleted", "whenScaled"] {
            match str_of(policy, f) {
                "" | "Retain" | "Delete" => {}
                other => causes.push(Cause::not_supported(
                    format!("spec.persistentVolumeClaimRetentionPolicy.{f}"),
                    &json!(other),
                    &["Retain", "Delete"],
                )),
            }
        }
    }
    nonnegative(int_of(spec, "replicas"), "spec.replicas", &mut causes);
    nonnegative(
        int_of(spec, "minReadySeconds"),
        "spec.minReadySeconds",
        &mut causes,
    );
    if let Some(ord) = spec.get("ordinals").filter(|o| !o.is_null()) {
        nonnegative(int_of(ord, "start"), "spec.ordinals.start", &mut causes);
    }
    let sel = spec.get("selector").filter(|s| !s.is_null());
    match sel {
        None => causes.push(Cause::required("spec.selector")),
        Some(s) => {
            label_selector(Some(s), "spec.selector", &mut causes);
            if as_selector(Some(s)) == Selector::Everything {
                causes.push(Cause::invalid_rendered(
                    "spec.selector",
                    go_label_selector(Some(s)),
                    "empty selector is invalid for statefulset",
                ));
            }
        }
    }
    match as_selector(sel) {
        Selector::Invalid => causes.push(Cause::invalid_rendered(
            "spec.selector",
            go_label_selector(sel),
            "",
        )),
        s => {
            if !s.is_empty() && !s.matches(template_labels(spec)) {
                causes.push(mismatch(spec));
            }
            let meta = spec.pointer("/template/metadata").unwrap_or(&null);
            labels(meta.get("labels"), "spec.template.labels", &mut causes);
            annotations(
                meta.get("annotations"),
                "spec.template.annotations",
                &mut causes,
            );
        }
    }
    always_restarting(spec, "StatefulSet", &mut causes);
    causes
}

/// `ValidateStatefulSetUpdate`: only replicas, ordinals, template, update
/// strategy, PVC retention policy and minReadySeconds may change.
pub fn validate_stateful_set_update(new: &Value, old: &Value) -> Vec<Cause> {
    let (ns, os) = (spec(new), spec(old));
    let mut munged = ns.clone();
    if let Some(m) = munged.as_object_mut() {
        for f in [
            "replicas",
            "template",
            "updateStrategy",
            "minReadySeconds",
            "ordinals",
            "persistentVolumeClaimRetentionPolicy",
        ] {
            match os.get(f) {
                Some(v) => m.insert(f.into(), v.clone()),
                None => m.remove(f),
            };
        }
    }
    if munged != *os {
        vec![Cause::forbidden(
            "spec",
            "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden",
        )]
    } else {
        Vec::new()
    }
}

// --- DaemonSets ------------------------------------------------------------------

/// `ValidateDaemonSetSpec`.
pub fn validate_daemon_set(obj: &Value) -> Vec<Cause> {
    let spec = spec(obj);
    let mut causes = Vec::new();
    let sel = spec.get("selector").filter(|s| !s.is_null());
    label_selector(sel, "spec.selector", &mut causes);
    let converted = as_selector(sel);
    if converted != Selector::Invalid && !converted.matches(template_labels(spec)) {
        causes.push(mismatch(spec));
    }
    if converted == Selector::Everything {
        causes.push(Cause::invalid_rendered(
            "spec.selector",
            go_label_selector(sel),
            "empty selector is invalid for daemonset",
        ));
    }
    validate_pod_template_spec(spec.get("template"), "spec.template", &mut causes);
    always_restarting(spec, "DaemonSet", &mut causes);
    nonnegative(
        int_of(spec, "minReadySeconds"),
        "spec.minReadySeconds",
        &mut causes,
    );
    nonnegative(
        int_of(spec, "templateGeneration"),
        "spec.templateGeneration",
        &mut causes,
    );
    let null = Value::Null;
    let us = spec.get("updateStrategy").unwrap_or(&null);
    let ru = us.get("rollingUpdate").filter(|r| !r.is_null());
    match str_of(us, "type") {
        "OnDelete" => {}
        "RollingUpdate" => match ru {
            None => causes.push(Cause::required("spec.updateStrategy.rollingUpdate")),
            Some(r) => {
                let p = "spec.updateStrategy.rollingUpdate";
                let (mu, ms) = (r.get("maxUnavailable"), r.get("maxSurge"));
                positive_int_or_percent(mu, &format!("{p}.maxUnavailable"), &mut causes);
                positive_int_or_percent(ms, &format!("{p}.maxSurge"), &mut causes);
                not_more_than_100_percent(mu, &format!("{p}.maxUnavailable"), &mut causes);
                not_more_than_100_percent(ms, &format!("{p}.maxSurge"), &mut causes);
                let has_unavailable = int_or_percent_value(mu) != 0;
                let has_surge = int_or_percent_value(ms) != 0;
                if has_unavailable && has_surge {
                    causes.push(Cause::invalid_rendered(
                        format!("{p}.maxSurge"),
                        go_int_or_string(ms),
                        "may not be set when maxUnavailable is non-zero",
                    ));
                } else if !has_unavailable && !has_surge {
                    causes.push(Cause::required_because(
                        format!("{p}.maxUnavailable"),
                        "cannot be 0 when maxSurge is 0",
                    ));
                }
            }
        },
        other => causes.push(Cause::not_supported_rendered(
            "spec.updateStrategy",
            format!(
                "apps.DaemonSetUpdateStrategy{{Type:{}, RollingUpdate:{}}}",
                super::common::go_quote(other),
                go_pointer(ru, "apps.RollingUpdateDaemonSet")
            ),
            &["RollingUpdate", "OnDelete"],
        )),
    }
    nonnegative(
        int_of(spec, "revisionHistoryLimit"),
        "spec.revisionHistoryLimit",
        &mut causes,
    );
    causes
}

/// DaemonSet updates: the selector is immutable in apps/v1.
pub fn validate_daemon_set_update(new: &Value, old: &Value) -> Vec<Cause> {
    selector_immutable(new, old)
}

// --- ReplicationControllers ------------------------------------------------------------

/// `ValidateReplicationControllerSpec`: a plain label-map selector.
pub fn validate_replication_controller(obj: &Value) -> Vec<Cause> {
    let spec = spec(obj);
    let mut causes = Vec::new();
    nonnegative(
        int_of(spec, "minReadySeconds"),
        "spec.minReadySeconds",
        &mut causes,
    );
    let selector = obj_of(spec, "selector").filter(|m| !m.is_empty());
    if selector.is_none() {
        causes.push(Cause::required("spec.selector"));
    }
    nonnegative(int_of(spec, "replicas"), "spec.replicas", &mut causes);
    if spec.get("template").is_none_or(Value::is_null) {
        causes.push(Cause::required("spec.template"));
        return causes;
    }
    if let Some(sel) = selector {
        let tl = template_labels(spec);
        let matches = sel
            .iter()
            .all(|(k, v)| tl.and_then(|l| l.get(k)).and_then(Value::as_str) == v.as_str());
        if !matches {
            causes.push(mismatch(spec));
        }
    }
    validate_pod_template_spec(spec.get("template"), "spec.template", &mut causes);
    always_restarting(spec, "ReplicationController", &mut causes);
    causes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalogue::builtin;
    use crate::defaults;

    fn defaulted(group: &str, plural: &str, mut obj: Value) -> Value {
        let def = builtin()
            .iter()
            .find(|d| d.group == group && d.plural == plural)
            .unwrap();
        defaults::apply(def, &mut obj);
        obj
    }

    fn shown(causes: &[Cause]) -> Vec<String> {
        causes.iter().map(Cause::display).collect()
    }

    fn template(labels: Value) -> Value {
        json!({"metadata": {"labels": labels}, "spec": {"containers": [{"name": "web", "image": "nginx"}]}})
    }

    fn deployment(spec: Value) -> Value {
        defaulted(
            "apps",
            "deployments",
            json!({"metadata": {"name": "d"}, "spec": spec}),
        )
    }

    #[test]
    fn a_valid_deployment_has_no_causes() {
        let d = deployment(
            json!({"selector": {"matchLabels": {"app": "web"}}, "template": template(json!({"app": "web"}))}),
        );
        assert_eq!(shown(&validate_deployment(&d)), Vec::<String>::new());
    }

    #[test]
    fn deployment_selector_required_and_matching() {
        let d = deployment(json!({"template": template(json!({"app": "web"}))}));
        assert_eq!(
            shown(&validate_deployment(&d)),
            [
                "spec.selector: Required value",
                "spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"web\"}: `selector` does not match template `labels`",
            ]
        );
        let d = deployment(
            json!({"selector": {"matchLabels": {"app": "api"}}, "template": template(json!({"app": "web"}))}),
        );
        assert_eq!(
            shown(&validate_deployment(&d)),
            [
                "spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"web\"}: `selector` does not match template `labels`"
            ]
        );
        let d = deployment(json!({"selector": {}, "template": template(json!({"app": "web"}))}));
        assert_eq!(
            shown(&validate_deployment(&d)),
            [
                "spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string(nil), MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: empty selector is invalid for deployment"
            ]
        );
        let d = deployment(
            json!({"selector": {"matchExpressions": [{"key": "app", "operator": "In"}]}, "template": template(json!({"app": "web"}))}),
        );
        assert_eq!(
            shown(&validate_deployment(&d)),
            [
                "spec.selector.matchExpressions[0].values: Required value: must be specified when `operator` is 'In' or 'NotIn'",
                "spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string(nil), MatchExpressions:[]v1.LabelSelectorRequirement{v1.LabelSelectorRequirement{Key:\"app\", Operator:\"In\", Values:[]string(nil)}}}: invalid label selector",
            ]
        );
    }

    #[test]
    fn deployment_numbers_strategy_and_template() {
        let mut t = template(json!({"app": "web"}));
        t["spec"]["restartPolicy"] = json!("Never");
        t["spec"]["containers"][0]["image"] = json!("");
        let d = deployment(json!({
            "replicas": -1, "revisionHistoryLimit": -2, "minReadySeconds": 700,
            "selector": {"matchLabels": {"app": "web"}}, "template": t,
            "strategy": {"rollingUpdate": {"maxUnavailable": 0, "maxSurge": "0%"}}
        }));
        assert_eq!(
            shown(&validate_deployment(&d)),
            [
                "spec.replicas: Invalid value: -1: must be greater than or equal to 0",
                "spec.template.spec.containers[0].image: Required value",
                "spec.template.spec.restartPolicy: Unsupported value: \"Never\": supported values: \"Always\"",
                "spec.strategy.rollingUpdate.maxUnavailable: Invalid value: intstr.IntOrString{Type:0, IntVal:0, StrVal:\"\"}: may not be 0 when `maxSurge` is 0",
                "spec.revisionHistoryLimit: Invalid value: -2: must be greater than or equal to 0",
                "spec.progressDeadlineSeconds: Invalid value: 600: must be greater than minReadySeconds",
            ]
        );
        let d = deployment(json!({
            "selector": {"matchLabels": {"app": "web"}}, "template": template(json!({"app": "web"})),
            "strategy": {"type": "Recreate", "rollingUpdate": {"maxSurge": "150%", "maxUnavailable": "x"}}
        }));
        assert_eq!(
            shown(&validate_deployment(&d)),
            [
                "spec.strategy.rollingUpdate: Forbidden: may not be specified when strategy `type` is 'Recreate'"
            ]
        );
        let d = deployment(json!({
            "selector": {"matchLabels": {"app": "web"}}, "template": template(json!({"app": "web"})),
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": "150%"}}
        }));
        assert_eq!(
            shown(&validate_deployment(&d)),
            [
                "spec.strategy.rollingUpdate.maxUnavailable: Invalid value: intstr.IntOrString{Type:1, IntVal:0, StrVal:\"150%\"}: must not be greater than 100%"
            ]
        );
        let d = deployment(json!({
            "selector": {"matchLabels": {"app": "web"}}, "template": template(json!({"app": "web"})),
            "strategy": {"type": "BlueGreen"}
        }));
        assert_eq!(
            shown(&validate_deployment(&d)),
            [
                "spec.strategy: Unsupported value: apps.DeploymentStrategy{Type:\"BlueGreen\", RollingUpdate:(*apps.RollingUpdateDeployment)(nil)}: supported values: \"Recreate\", \"RollingUpdate\""
            ]
        );
    }

    #[test]
    fn deployment_selector_is_immutable() {
        let old = deployment(
            json!({"selector": {"matchLabels": {"app": "web"}}, "template": template(json!({"app": "web", "v": "1"}))}),
        );
        let mut new = old.clone();
        new["spec"]["replicas"] = json!(3);
        assert!(validate_deployment_update(&new, &old).is_empty());
        new["spec"]["selector"] = json!({"matchLabels": {"app": "web", "v": "1"}});
        assert_eq!(
            shown(&validate_deployment_update(&new, &old)),
            [
                "spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string{\"app\":\"web\", \"v\":\"1\"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable"
            ]
        );
    }

    #[test]
    fn replica_sets() {
        let rs = defaulted(
            "apps",
            "replicasets",
            json!({"spec": {"replicas": -3, "selector": {"matchLabels": {"app": "web"}}, "template": template(json!({"app": "db"}))}}),
        );
        assert_eq!(
            shown(&validate_replica_set(&rs)),
            [
                "spec.replicas: Invalid value: -3: must be greater than or equal to 0",
                "spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"db\"}: `selector` does not match template `labels`",
            ]
        );
        let mut new = rs.clone();
        new["spec"]["selector"] = json!({"matchLabels": {"app": "db"}});
        assert_eq!(validate_replica_set_update(&new, &rs).len(), 1);
    }

    #[test]
    fn stateful_sets() {
        let ss = defaulted(
            "apps",
            "statefulsets",
            json!({"spec": {
            "selector": {"matchLabels": {"app": "db"}}, "template": template(json!({"app": "db"})),
            "serviceName": "db"}}),
        );
        assert_eq!(shown(&validate_stateful_set(&ss)), Vec::<String>::new());
        let bad = defaulted(
            "apps",
            "statefulsets",
            json!({"spec": {
            "podManagementPolicy": "Random", "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": -1, "maxUnavailable": 0}},
            "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Keep"},
            "template": {"metadata": {"labels": {"app": "db"}}, "spec": {"restartPolicy": "OnFailure", "containers": []}}}}),
        );
        assert_eq!(
            shown(&validate_stateful_set(&bad)),
            [
                "spec.podManagementPolicy: Invalid value: \"Random\": must be 'OrderedReady' or 'Parallel'",
                "spec.updateStrategy.rollingUpdate.partition: Invalid value: -1: must be greater than or equal to 0",
                "spec.updateStrategy.rollingUpdate.maxUnavailable: Invalid value: intstr.IntOrString{Type:0, IntVal:0, StrVal:\"\"}: cannot be 0",
                "spec.persistentVolumeClaimRetentionPolicy.whenDeleted: Unsupported value: \"Keep\": supported values: \"Retain\", \"Delete\"",
                "spec.selector: Required value",
                "spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"db\"}: `selector` does not match template `labels`",
                "spec.template.spec.restartPolicy: Unsupported value: \"OnFailure\": supported values: \"Always\"",
            ]
        );
    }

    #[test]
    fn stateful_set_updates_are_limited() {
        let old = defaulted(
            "apps",
            "statefulsets",
            json!({"spec": {
            "selector": {"matchLabels": {"app": "db"}}, "template": template(json!({"app": "db"})), "serviceName": "db"}}),
        );
        let mut new = old.clone();
        new["spec"]["replicas"] = json!(5);
        new["spec"]["template"]["spec"]["containers"][0]["image"] = json!("postgres:17");
        assert!(validate_stateful_set_update(&new, &old).is_empty());
        new["spec"]["serviceName"] = json!("other");
        assert_eq!(
            shown(&validate_stateful_set_update(&new, &old)),
            [
                "spec: Forbidden: updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden"
            ]
        );
    }

    #[test]
    fn daemon_sets() {
        let ds = defaulted(
            "apps",
            "daemonsets",
            json!({"spec": {"selector": {"matchLabels": {"app": "agent"}}, "template": template(json!({"app": "agent"}))}}),
        );
        assert_eq!(shown(&validate_daemon_set(&ds)), Vec::<String>::new());
        let mut bad = ds.clone();
        bad["spec"]["updateStrategy"]["rollingUpdate"] =
            json!({"maxUnavailable": 1, "maxSurge": "10%"});
        bad["spec"]["template"]["spec"]["activeDeadlineSeconds"] = json!(10);
        assert_eq!(
            shown(&validate_daemon_set(&bad)),
            [
                "spec.template.spec.activeDeadlineSeconds: Forbidden: activeDeadlineSeconds in DaemonSet is not Supported",
                "spec.updateStrategy.rollingUpdate.maxSurge: Invalid value: intstr.IntOrString{Type:1, IntVal:0, StrVal:\"10%\"}: may not be set when maxUnavailable is non-zero",
            ]
        );
        let nosel = defaulted(
            "apps",
            "daemonsets",
            json!({"spec": {"template": template(json!({"app": "agent"}))}}),
        );
        assert_eq!(
            shown(&validate_daemon_set(&nosel)),
            [
                "spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"agent\"}: `selector` does not match template `labels`"
            ]
        );
    }

    #[test]
    fn replication_controllers() {
        // The selector defaults to the template's labels.
        let rc = defaulted(
            "",
            "replicationcontrollers",
            json!({"metadata": {"name": "rc"}, "spec": {"template": template(json!({"app": "web"}))}}),
        );
        assert_eq!(rc["spec"]["selector"], json!({"app": "web"}));
        assert_eq!(
            shown(&validate_replication_controller(&rc)),
            Vec::<String>::new()
        );
        let bad = defaulted(
            "",
            "replicationcontrollers",
            json!({"spec": {"replicas": -1, "selector": {"app": "api"}, "template": template(json!({"app": "web"}))}}),
        );
        assert_eq!(
            shown(&validate_replication_controller(&bad)),
            [
                "spec.replicas: Invalid value: -1: must be greater than or equal to 0",
                "spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"web\"}: `selector` does not match template `labels`",
            ]
        );
        let empty = defaulted("", "replicationcontrollers", json!({"spec": {}}));
        assert_eq!(
            shown(&validate_replication_controller(&empty)),
            [
                "spec.selector: Required value",
                "spec.template: Required value"
            ]
        );
    }
}
