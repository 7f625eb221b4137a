//! PodSecurity, as upstream's admission plugin
//! (`plugin/pkg/admission/security/podsecurity` over
//! `k8s.io/pod-security-admission/admission`): a namespace's
//! `pod-security.kubernetes.io/*` labels choose a Pod Security Standard per
//! mode. Pods that violate the `enforce` level are refused (403); what
//! violates `warn` comes back as warnings; workload templates (Deployments,
//! Jobs, ...) are never refused, only warned about. Labels that do not parse
//! are refused on namespaces (422); tightening `enforce` warns about the
//! namespace's pods that would be refused; the `audit` mode's violations,
//! the enforced policy and label errors are audit annotations
//! (`pod-security.kubernetes.io/audit-violations`, `enforce-policy`,
//! `error`). The standards themselves are
//! `skiff_api::pod_security`. The admission configuration file's
//! `PodSecurityConfiguration` gives the policy of namespaces without labels
//! and the exemptions (users, namespaces, runtime classes: allowed, audited
//! as `pod-security.kubernetes.io/exempt`); without one, everything is
//! privileged and nothing exempt, as upstream's default.

use serde_json::{Map, Value};
use skiff_api::pod_security::config::Config;
use skiff_api::pod_security::{
    self as pss, Level, LevelVersion, Policy, Violation, evaluate, forbidden_detail,
    forbidden_reason, policy_to_evaluate,
};
use skiff_api::{ApiError, Cause};

use super::{Attributes, Operation, Plugin, Result};

pub struct PodSecurity {
    config: Config,
}

impl PodSecurity {
    pub fn new(config: Config) -> Self {
        PodSecurity { config }
    }
}

/// Pod subresources that carry no pod spec change to check.
const IGNORED_POD_SUBRESOURCES: &[&str] = &[
    "exec",
    "attach",
    "binding",
    "eviction",
    "log",
    "portforward",
    "proxy",
    "status",
];

/// At most this many pods are checked when `enforce` tightens.
const NAMESPACE_POD_LIMIT: usize = 3000;
/// And for at most this long (upstream's default).
const NAMESPACE_CHECK_TIME: std::time::Duration = std::time::Duration::from_secs(1);

#[async_trait::async_trait]
impl Plugin for PodSecurity {
    fn name(&self) -> &'static str {
        "PodSecurity"
    }

    async fn validate(&self, a: &Attributes<'_, '_>, obj: Option<&Value>) -> Result<()> {
        let Some(obj) = obj else {
            return Ok(());
        };
        if !matches!(a.operation, Operation::Create | Operation::Update) {
            return Ok(());
        }
        let def = a.ctx.res.def;
        let c = &self.config;
        match (def.group, def.plural) {
            ("", "namespaces") => validate_namespace(c, a, obj).await,
            ("", "pods") => validate_pod(c, a, obj).await,
            ("", "replicationcontrollers" | "podtemplates")
            | ("apps", "replicasets" | "deployments" | "statefulsets" | "daemonsets")
            | ("batch", "jobs" | "cronjobs") => validate_pod_controller(c, a, obj).await,
            _ => Ok(()),
        }
    }
}

/// The policy of the request's namespace, from its labels over the
/// configured defaults.
async fn namespace_policy(
    c: &Config,
    a: &Attributes<'_, '_>,
) -> Option<(Policy, Vec<pss::LabelError>)> {
    let ns = a
        .ctx
        .server
        .cached_core("namespaces", "", a.namespace())
        .await?;
    Some(policy_to_evaluate(labels(&ns), c.defaults))
}

/// Why the request is exempt (`namespace`, `user`), checked in upstream's order.
fn exempt(c: &Config, a: &Attributes<'_, '_>) -> Option<&'static str> {
    if c.exempt_namespace(a.namespace()) {
        Some("namespace")
    } else if c.exempt_user(&a.user().name) {
        Some("user")
    } else {
        None
    }
}

fn labels(obj: &Value) -> Option<&Map<String, Value>> {
    obj.pointer("/metadata/labels").and_then(Value::as_object)
}

/// The results of each level-version evaluated once per request.
struct Evaluations<'v> {
    metadata: &'v Value,
    spec: &'v Value,
    done: Vec<(LevelVersion, Vec<Violation>)>,
}

impl<'v> Evaluations<'v> {
    fn new(metadata: &'v Value, spec: &'v Value) -> Self {
        Evaluations {
            metadata,
            spec,
            done: Vec::new(),
        }
    }

    fn of(&mut self, lv: LevelVersion) -> &[Violation] {
        if let Some(i) = self.done.iter().position(|(l, _)| *l == lv) {
            return &self.done[i].1;
        }
        let result = evaluate(lv, self.metadata, self.spec);
        self.done.push((lv, result));
        &self.done.last().expect("just pushed").1
    }
}

/// Adds `pod-security.kubernetes.io/<key>` to the request's audit event.
fn annotate(a: &Attributes<'_, '_>, key: &str, value: String) {
    a.ctx
        .audit_annotations
        .lock()
        .expect("poisoned")
        .push((format!("pod-security.kubernetes.io/{key}"), value));
}

/// Audit annotations for label errors and the `audit` mode's violations
/// (upstream's `EvaluatePod`, for pods and workload templates alike).
fn audit_mode(
    a: &Attributes<'_, '_>,
    policy: &Policy,
    errors: &[pss::LabelError],
    results: &mut Evaluations<'_>,
) {
    if !errors.is_empty() {
        annotate(
            a,
            "error",
            format!("Failed to parse policy: {}", pss::aggregate(errors)),
        );
    }
    let audited = results.of(policy.audit);
    if !audited.is_empty() {
        let v = would_violate(policy.audit, audited);
        annotate(a, "audit-violations", v);
    }
}

fn would_violate(lv: LevelVersion, violations: &[Violation]) -> String {
    format!(
        "would violate PodSecurity {}: {}",
        pss::go_quote(&lv.to_string()),
        forbidden_detail(violations)
    )
}

async fn validate_pod(c: &Config, a: &Attributes<'_, '_>, pod: &Value) -> Result<()> {
    if IGNORED_POD_SUBRESOURCES.contains(&a.subresource()) {
        return Ok(());
    }
    if let Some(why) = exempt(c, a) {
        annotate(a, "exempt", why.into());
        return Ok(());
    }
    let Some((policy, errors)) = namespace_policy(c, a).await else {
        return Err(ApiError::internal(format!(
            "failed to lookup namespace {:?}",
            a.namespace()
        )));
    };
    if errors.is_empty() && policy.fully_privileged() {
        annotate(a, "enforce-policy", LevelVersion::PRIVILEGED.to_string());
        return Ok(());
    }
    if a.operation == Operation::Update
        && let Some(old) = a.old
        && !significant_pod_update(pod, old)
    {
        return Ok(());
    }
    let empty = Value::Null;
    let metadata = pod.get("metadata").unwrap_or(&empty);
    let spec = pod.get("spec").unwrap_or(&empty);
    if c.exempt_runtime_class(spec) {
        annotate(a, "exempt", "runtimeClass".into());
        return Ok(());
    }
    let mut results = Evaluations::new(metadata, spec);
    annotate(a, "enforce-policy", policy.enforce.to_string());
    let enforced = results.of(policy.enforce).to_vec();
    audit_mode(a, &policy, &errors, &mut results);
    if !enforced.is_empty() {
        let why = format!(
            "violates PodSecurity {}: {}",
            pss::go_quote(&policy.enforce.to_string()),
            forbidden_detail(&enforced)
        );
        return Err(ApiError::forbidden_object(
            "",
            "pods",
            skiff_api::meta::name(pod),
            &why,
        ));
    }
    let warned = results.of(policy.warn);
    if !warned.is_empty() {
        let warning = would_violate(policy.warn, warned);
        a.ctx.warnings.lock().expect("poisoned").push(warning);
    }
    Ok(())
}

/// Upstream's `isSignificantPodUpdate`: containers added or removed, an
/// image changed, an ephemeral container added or changed.
fn significant_pod_update(pod: &Value, old: &Value) -> bool {
    let list = |o: &Value, field: &str| -> Vec<Value> {
        o.pointer(&format!("/spec/{field}"))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    for field in ["containers", "initContainers"] {
        let (new, old) = (list(pod, field), list(old, field));
        if new.len() != old.len() || new.iter().zip(&old).any(|(n, o)| n["image"] != o["image"]) {
            return true;
        }
    }
    let old_ephemeral = list(old, "ephemeralContainers");
    list(pod, "ephemeralContainers").iter().any(|n| {
        !old_ephemeral
            .iter()
            .any(|o| o["name"] == n["name"] && o["image"] == n["image"])
    })
}

/// The pod template a workload holds (upstream's `DefaultPodSpecExtractor`).
fn template(a: &Attributes<'_, '_>, obj: &Value) -> Option<Value> {
    let pointer = match a.ctx.res.def.plural {
        "podtemplates" => "/template",
        "cronjobs" => "/spec/jobTemplate/spec/template",
        _ => "/spec/template",
    };
    obj.pointer(pointer).filter(|t| !t.is_null()).cloned()
}

async fn validate_pod_controller(c: &Config, a: &Attributes<'_, '_>, obj: &Value) -> Result<()> {
    if !a.subresource().is_empty() {
        return Ok(());
    }
    if let Some(why) = exempt(c, a) {
        annotate(a, "exempt", why.into());
        return Ok(());
    }
    // A namespace that cannot be read: allowed (upstream only annotates).
    let Some((policy, errors)) = namespace_policy(c, a).await else {
        annotate(
            a,
            "error",
            format!("failed to lookup namespace {:?}", a.namespace()),
        );
        return Ok(());
    };
    if errors.is_empty()
        && policy.warn.level == Level::Privileged
        && policy.audit.level == Level::Privileged
    {
        return Ok(());
    }
    let Some(template) = template(a, obj) else {
        return Ok(());
    };
    let empty = Value::Null;
    let spec = template.get("spec").unwrap_or(&empty);
    if c.exempt_runtime_class(spec) {
        annotate(a, "exempt", "runtimeClass".into());
        return Ok(());
    }
    let mut results = Evaluations::new(template.get("metadata").unwrap_or(&empty), spec);
    audit_mode(a, &policy, &errors, &mut results);
    let warned = results.of(policy.warn);
    if !warned.is_empty() {
        let warning = would_violate(policy.warn, warned);
        a.ctx.warnings.lock().expect("poisoned").push(warning);
    }
    Ok(())
}

async fn validate_namespace(c: &Config, a: &Attributes<'_, '_>, ns: &Value) -> Result<()> {
    if !a.subresource().is_empty() {
        return Ok(());
    }
    let name = skiff_api::meta::name(ns);
    let (policy, errors) = policy_to_evaluate(labels(ns), c.defaults);
    let warn_exempt = || {
        if let Some(w) = exempt_namespace_warning(c, name, &policy, labels(ns)) {
            a.ctx.warnings.lock().expect("poisoned").push(w);
        }
    };
    let invalid = |errors: &[pss::LabelError]| {
        let causes = errors
            .iter()
            .map(|e| Cause::invalid_rendered(e.field(), pss::go_quote(&e.value), e.message))
            .collect();
        ApiError::invalid("", "Namespace", name, causes)
    };
    match (a.operation, a.old) {
        (Operation::Create, _) => {
            if !errors.is_empty() {
                return Err(invalid(&errors));
            }
            // A namespace is its own request namespace on create.
            if c.exempt_namespace(name) {
                warn_exempt();
            }
            Ok(())
        }
        (Operation::Update, Some(old)) => {
            let (old_policy, old_errors) = policy_to_evaluate(labels(old), c.defaults);
            if !errors.is_empty() && (old_errors.is_empty() || errors != old_errors) {
                return Err(invalid(&errors));
            }
            let (new, old) = (policy.enforce, old_policy.enforce);
            if new == old
                || new.level == Level::Privileged
                || (new.version == old.version && new.level <= old.level)
            {
                return Ok(());
            }
            if c.exempt_namespace(name) {
                warn_exempt();
                return Ok(());
            }
            let warnings = check_existing_pods(c, a, name, new).await;
            a.ctx.warnings.lock().expect("poisoned").extend(warnings);
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Upstream's `exemptNamespaceWarning`: what an exempt namespace's labels
/// ask that will be ignored (none when the policy is fully privileged or
/// the configured default's equivalent).
fn exempt_namespace_warning(
    c: &Config,
    name: &str,
    policy: &Policy,
    labels: Option<&Map<String, Value>>,
) -> Option<String> {
    let equivalent = |a: LevelVersion, b: LevelVersion| {
        (a.level == Level::Privileged && b.level == Level::Privileged) || a == b
    };
    let d = &c.defaults;
    if policy.fully_privileged()
        || (equivalent(policy.enforce, d.enforce)
            && equivalent(policy.audit, d.audit)
            && equivalent(policy.warn, d.warn))
    {
        return None;
    }
    let has = |label: &str| labels.is_some_and(|l| l.contains_key(label));
    let modes = [
        (
            "enforce",
            policy.enforce,
            pss::ENFORCE_LABEL,
            pss::ENFORCE_VERSION_LABEL,
        ),
        (
            "audit",
            policy.audit,
            pss::AUDIT_LABEL,
            pss::AUDIT_VERSION_LABEL,
        ),
        (
            "warn",
            policy.warn,
            pss::WARN_LABEL,
            pss::WARN_VERSION_LABEL,
        ),
    ];
    let parts: Vec<String> = modes
        .iter()
        .filter(|(_, lv, level, version)| {
            lv.level != Level::Privileged && (has(level) || has(version))
        })
        .map(|(mode, lv, ..)| format!("{mode}={lv}"))
        .collect();
    Some(format!(
        "namespace {name:?} is exempt from Pod Security, and the policy ({}) will be ignored",
        parts.join(", ")
    ))
}

/// Upstream's `EvaluatePodsInNamespace`: which of the namespace's pods the
/// new `enforce` level would refuse, one line per set of reasons.
async fn check_existing_pods(
    c: &Config,
    a: &Attributes<'_, '_>,
    ns: &str,
    lv: LevelVersion,
) -> Vec<String> {
    let started = std::time::Instant::now();
    let Some(res) = a.ctx.server.inner.registry.resource("", "v1", "pods") else {
        return Vec::new();
    };
    let listed = crate::registry::store::Store::new(a.ctx.server, &res, ns)
        .list_all()
        .await;
    let Ok(pods) = listed else {
        return vec!["failed to list pods while checking new PodSecurity enforce level".into()];
    };
    // One pod per controller first, then the others of each controller.
    let mut first = Vec::new();
    let mut duplicates = Vec::new();
    let mut controllers = std::collections::HashSet::new();
    for pod in &pods {
        // Pods of exempt runtime classes do not count.
        if pod
            .get("spec")
            .is_some_and(|spec| c.exempt_runtime_class(spec))
        {
            continue;
        }
        let controller = pod
            .pointer("/metadata/ownerReferences")
            .and_then(Value::as_array)
            .and_then(|refs| refs.iter().find(|r| r["controller"] == true))
            .and_then(|r| r["uid"].as_str());
        match controller {
            Some(uid) if !controllers.insert(uid.to_string()) => duplicates.push(pod),
            _ => first.push(pod),
        }
    }
    first.extend(duplicates);
    let total = first.len();
    let mut checked = 0;
    // By reasons: how many pods, the first name by order.
    let mut by_reason: Vec<(String, usize, String)> = Vec::new();
    let empty = Value::Null;
    for pod in first.iter().take(NAMESPACE_POD_LIMIT) {
        checked += 1;
        let violations = evaluate(
            lv,
            pod.get("metadata").unwrap_or(&empty),
            pod.get("spec").unwrap_or(&empty),
        );
        if !violations.is_empty() {
            let reason = forbidden_reason(&violations);
            let name = skiff_api::meta::name(pod).to_string();
            match by_reason.iter_mut().find(|(r, _, _)| *r == reason) {
                Some((_, count, smallest)) => {
                    *count += 1;
                    if name < *smallest {
                        *smallest = name;
                    }
                }
                None => by_reason.push((reason, 1, name)),
            }
        }
        if started.elapsed() > NAMESPACE_CHECK_TIME {
            break;
        }
    }
    let mut warnings = Vec::new();
    if checked < total {
        warnings.push(format!(
            "new PodSecurity enforce level only checked against the first {checked} of {total} existing pods"
        ));
    }
    if !by_reason.is_empty() {
        warnings.push(format!(
            "existing pods in namespace {} violate the new PodSecurity enforce level {}",
            pss::go_quote(ns),
            pss::go_quote(&lv.to_string())
        ));
        let mut lines: Vec<String> = by_reason
            .into_iter()
            .map(|(reason, count, pod)| match count {
                1 => format!("{pod}: {reason}"),
                2 => format!("{pod} (and 1 other pod): {reason}"),
                n => format!("{pod} (and {} other pods): {reason}", n - 1),
            })
            .collect();
        lines.sort();
        warnings.extend(lines);
    }
    warnings
}
