//! batch/v1 Jobs and CronJobs, as upstream's
//! `pkg/apis/batch/validation/validation.go` checks them: counts and limits,
//! completion modes, the generated selector and its labels, the pod template
//! (restart policy OnFailure or Never), what a Job update may not change
//! (completions unless indexed and in tandem with parallelism, selector,
//! template unless the Job is suspended and never started, completion mode,
//! ...), and CronJob schedules, parsed as `github.com/robfig/cron/v3`'s
//! `ParseStandard` parses them, with its error messages.
//!
//! Not covered: `podFailurePolicy` and `successPolicy` rules (only their
//! immutability), and time zone names beyond their syntax (upstream loads
//! the zone from its database).

use serde_json::{Value, json};

use super::common::{
    FIELD_IMMUTABLE, Selector, as_selector, go_label_selector, go_quote, go_string_map, int_of,
    label_selector, nonnegative, str_of, subdomain_problems,
};
use super::pods::validate_pod_template_spec;
use crate::errors::Cause;

const MAX_PARALLELISM_INDEXED: i64 = 100_000;
const MAX_FAILED_INDEXES: i64 = 100_000;
const COMPLETIONS_SOFT_LIMIT: i64 = 100_000;
const PARALLELISM_LIMIT_HIGH_COMPLETIONS: i64 = 10_000;
const MAX_FAILED_INDEXES_HIGH_COMPLETIONS: i64 = 10_000;

fn spec(obj: &Value) -> &Value {
    static NULL: Value = Value::Null;
    obj.get("spec").unwrap_or(&NULL)
}

/// A set pointer field (present and not null).
fn set<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    v.get(key).filter(|x| !x.is_null())
}

/// How `field.Error` prints a pointer value: the pointee, or null.
fn pointee(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => "null".into(),
        Some(Value::String(s)) => go_quote(s),
        Some(other) => other.to_string(),
    }
}

/// Validates a Job (`ValidateJob`).
pub fn validate_job(obj: &Value) -> Vec<Cause> {
    let mut causes = Vec::new();
    generated_selector(obj, &mut causes);
    let spec = spec(obj);
    job_spec(spec, "spec", &mut causes);
    match set(spec, "selector") {
        None => causes.push(Cause::required("spec.selector")),
        Some(s) => label_selector(Some(s), "spec.selector", &mut causes),
    }
    let sel = as_selector(spec.get("selector"));
    if sel != Selector::Invalid && !sel.matches(spec.pointer("/template/metadata/labels")) {
        causes.push(Cause::invalid_rendered(
            "spec.template.metadata.labels",
            go_string_map(spec.pointer("/template/metadata/labels")),
            "`selector` does not match template `labels`",
        ));
    }
    let completions = int_of(spec, "completions");
    if str_of(spec, "completionMode") == "Indexed"
        && let Some(c) = completions.filter(|c| *c > 0)
    {
        let name = crate::meta::name(obj);
        let host = format!("{name}-{}", c - 1);
        if !super::name_problems(super::NameRule::Label, &host).is_empty() {
            causes.push(Cause::invalid(
                "metadata.name",
                &json!(name),
                format!("will not able to create pod with invalid DNS label: {host}"),
            ));
        }
    }
    causes
}

/// `validateGeneratedSelector`: a generated selector must select the labels
/// generated on the template.
fn generated_selector(obj: &Value, causes: &mut Vec<Cause>) {
    let spec = spec(obj);
    if spec.get("manualSelector").and_then(Value::as_bool) == Some(true) {
        return;
    }
    let Some(sel) = set(spec, "selector") else {
        return;
    };
    let uid = crate::meta::uid(obj);
    if uid.is_empty() {
        causes.push(Cause::required("metadata.uid"));
    }
    let name = crate::meta::name(obj);
    let tl = spec.pointer("/template/metadata/labels");
    let expected = [
        ("controller-uid", uid),
        ("job-name", name),
        ("batch.kubernetes.io/controller-uid", uid),
        ("batch.kubernetes.io/job-name", name),
    ];
    for (key, want) in expected {
        let path = format!("spec.template.metadata.labels[{key}]");
        match tl.and_then(|l| l.get(key)).and_then(Value::as_str) {
            None => causes.push(Cause::required_because(path, format!("must be '{want}'"))),
            Some(v) if v != want => causes.push(Cause::invalid_rendered(
                path,
                go_string_map(tl),
                format!("must be '{want}'"),
            )),
            _ => {}
        }
    }
    let expected_labels: serde_json::Map<String, Value> = expected
        .iter()
        .map(|(k, v)| (k.to_string(), json!(v)))
        .collect();
    let converted = as_selector(Some(sel));
    if converted != Selector::Invalid && !converted.matches(Some(&Value::Object(expected_labels))) {
        causes.push(Cause::invalid_rendered(
            "spec.selector",
            go_label_selector(Some(sel)),
            "`selector` not auto-generated",
        ));
    }
}

/// `validateJobSpec` (shared by Jobs and CronJobs' job templates).
fn job_spec(spec: &Value, path: &str, causes: &mut Vec<Cause>) {
    for f in [
        "parallelism",
        "completions",
        "activeDeadlineSeconds",
        "backoffLimit",
        "ttlSecondsAfterFinished",
        "backoffLimitPerIndex",
    ] {
        nonnegative(int_of(spec, f), &format!("{path}.{f}"), causes);
    }
    let (parallelism, completions) = (int_of(spec, "parallelism"), int_of(spec, "completions"));
    let (blpi, mfi) = (
        set(spec, "backoffLimitPerIndex"),
        int_of(spec, "maxFailedIndexes"),
    );
    if let Some(m) = mfi {
        nonnegative(Some(m), &format!("{path}.maxFailedIndexes"), causes);
        if blpi.is_none() {
            causes.push(Cause::required_because(
                format!("{path}.backoffLimitPerIndex"),
                "when maxFailedIndexes is specified",
            ));
        }
    }
    if let Some(mb) = spec.get("managedBy").and_then(Value::as_str) {
        managed_by(mb, &format!("{path}.managedBy"), causes);
    }
    let mode = spec.get("completionMode").and_then(Value::as_str);
    if let Some(m) = mode {
        if m != "NonIndexed" && m != "Indexed" {
            causes.push(Cause::not_supported(
                format!("{path}.completionMode"),
                &json!(m),
                &["NonIndexed", "Indexed"],
            ));
        }
        if m == "Indexed" {
            if completions.is_none() {
                causes.push(Cause::required_because(
                    format!("{path}.completions"),
                    "when completion mode is Indexed",
                ));
            }
            if let Some(p) = parallelism.filter(|p| *p > MAX_PARALLELISM_INDEXED) {
                causes.push(Cause::invalid(
                    format!("{path}.parallelism"),
                    &json!(p),
                    format!("must be less than or equal to {MAX_PARALLELISM_INDEXED} when completion mode is Indexed"),
                ));
            }
            if let (Some(c), Some(m)) = (completions, mfi)
                && m > c
            {
                causes.push(Cause::invalid(
                    format!("{path}.maxFailedIndexes"),
                    &json!(m),
                    "must be less than or equal to completions",
                ));
            }
            if let Some(m) = mfi.filter(|m| *m > MAX_FAILED_INDEXES) {
                causes.push(Cause::invalid(
                    format!("{path}.maxFailedIndexes"),
                    &json!(m),
                    format!("must be less than or equal to {MAX_FAILED_INDEXES}"),
                ));
            }
            if completions.is_some_and(|c| c > COMPLETIONS_SOFT_LIMIT) && blpi.is_some() {
                if mfi.is_none() {
                    causes.push(Cause::required_because(
                        format!("{path}.maxFailedIndexes"),
                        format!(
                            "must be specified when completions is above {COMPLETIONS_SOFT_LIMIT}"
                        ),
                    ));
                }
                if let Some(p) = parallelism.filter(|p| *p > PARALLELISM_LIMIT_HIGH_COMPLETIONS) {
                    causes.push(Cause::invalid(
                        format!("{path}.parallelism"),
                        &json!(p),
                        format!("must be less than or equal to {PARALLELISM_LIMIT_HIGH_COMPLETIONS} when completions are above {COMPLETIONS_SOFT_LIMIT} and used with backoff limit per index"),
                    ));
                }
                if let Some(m) = mfi.filter(|m| *m > MAX_FAILED_INDEXES_HIGH_COMPLETIONS) {
                    causes.push(Cause::invalid(
                        format!("{path}.maxFailedIndexes"),
                        &json!(m),
                        format!("must be less than or equal to {MAX_FAILED_INDEXES_HIGH_COMPLETIONS} when completions are above {COMPLETIONS_SOFT_LIMIT} and used with backoff limit per index"),
                    ));
                }
            }
        }
    }
    if mode.is_none_or(|m| m == "NonIndexed") {
        if let Some(b) = blpi {
            causes.push(Cause::invalid(
                format!("{path}.backoffLimitPerIndex"),
                b,
                "requires indexed completion mode",
            ));
        }
        if let Some(m) = mfi {
            causes.push(Cause::invalid(
                format!("{path}.maxFailedIndexes"),
                &json!(m),
                "requires indexed completion mode",
            ));
        }
    }
    let pfp = set(spec, "podFailurePolicy").is_some();
    if let Some(prp) = spec.get("podReplacementPolicy").and_then(Value::as_str) {
        if pfp {
            if prp != "Failed" {
                causes.push(Cause::not_supported(
                    format!("{path}.podReplacementPolicy"),
                    &json!(prp),
                    &["Failed"],
                ));
            }
        } else if prp != "Failed" && prp != "TerminatingOrFailed" {
            causes.push(Cause::not_supported(
                format!("{path}.podReplacementPolicy"),
                &json!(prp),
                &["Failed", "TerminatingOrFailed"],
            ));
        }
    }
    let tpath = format!("{path}.template");
    validate_pod_template_spec(spec.get("template"), &tpath, causes);
    let rp_path = format!("{tpath}.spec.restartPolicy");
    match spec
        .pointer("/template/spec/restartPolicy")
        .and_then(Value::as_str)
        .unwrap_or("")
    {
        "Always" | "" => causes.push(Cause::required_because(
            rp_path,
            "valid values: \"OnFailure\", \"Never\"",
        )),
        "OnFailure" | "Never" if pfp && spec["template"]["spec"]["restartPolicy"] != "Never" => {
            causes.push(Cause::invalid(
                rp_path,
                &spec["template"]["spec"]["restartPolicy"],
                "only \"Never\" is supported when podFailurePolicy is specified",
            ))
        }
        "OnFailure" | "Never" => {}
        other => causes.push(Cause::not_supported(
            rp_path,
            &json!(other),
            &["OnFailure", "Never"],
        )),
    }
}

/// `IsDomainPrefixedPath` and the length limit of `managedBy`.
fn managed_by(v: &str, path: &str, causes: &mut Vec<Cause>) {
    if v.is_empty() {
        causes.push(Cause::required(path));
    } else {
        match v.split_once('/') {
            Some((host, rest)) if !host.is_empty() && !rest.is_empty() => {
                for msg in subdomain_problems(host) {
                    causes.push(Cause::invalid(path, &json!(host), msg));
                }
                let ok = rest
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "/-._~%!$&'()*+,;=:".contains(c));
                if !ok {
                    causes.push(Cause::invalid(
                        path,
                        &json!(rest),
                        "Invalid path (regex used for validation is '[A-Za-z0-9/\\-._~%!$&'()*+,;=:]+')",
                    ));
                }
            }
            _ => causes.push(Cause::invalid(
                path,
                &json!(v),
                "must be a domain-prefixed path (such as \"acme.io/foo\")",
            )),
        }
    }
    if v.len() > 63 {
        causes.push(Cause {
            reason: "FieldValueTooLong",
            message: "Too long: may not be longer than 63".into(),
            field: path.into(),
        });
    }
}

/// Job updates (`ValidateJobSpecUpdate` beyond the spec's own rules).
///
/// Upstream prints the Go dump of a changed template (`core.PodTemplateSpec{...}`)
/// or pod failure / success policy; those values are shown here as JSON.
pub fn validate_job_update(new: &Value, old: &Value) -> Vec<Cause> {
    let (ns, os) = (spec(new), spec(old));
    let mut causes = Vec::new();
    let null = Value::Null;
    // Completions: mutable only for indexed jobs, in tandem with parallelism.
    let (nc, oc) = (
        ns.get("completions").unwrap_or(&null),
        os.get("completions").unwrap_or(&null),
    );
    if str_of(ns, "completionMode") == "Indexed" {
        if nc != oc && !nc.is_null() && nc != ns.get("parallelism").unwrap_or(&null) {
            causes.push(Cause::invalid(
                "spec.completions",
                nc,
                "can only be modified in tandem with spec.parallelism",
            ));
        }
    } else if nc != oc {
        causes.push(Cause::invalid_rendered(
            "spec.completions",
            pointee(Some(nc)),
            FIELD_IMMUTABLE,
        ));
    }
    let (nsel, osel) = (
        ns.get("selector").unwrap_or(&null),
        os.get("selector").unwrap_or(&null),
    );
    if nsel != osel {
        causes.push(Cause::invalid_rendered(
            "spec.selector",
            go_label_selector(Some(nsel)),
            FIELD_IMMUTABLE,
        ));
    }
    // The template, with scheduling directives mutable while suspended and never started.
    let template = ns.get("template").unwrap_or(&null);
    let mut old_template = os.get("template").cloned().unwrap_or(Value::Null);
    let suspended = os.get("suspend").and_then(Value::as_bool) == Some(true);
    let not_started = old.pointer("/status/startTime").is_none_or(Value::is_null);
    if suspended && not_started {
        mutable_scheduling_directives(template, &mut old_template);
    }
    if *template != old_template {
        causes.push(Cause::invalid_rendered(
            "spec.template",
            template.to_string(),
            FIELD_IMMUTABLE,
        ));
    }
    for f in ["completionMode", "backoffLimitPerIndex", "managedBy"] {
        let (n, o) = (ns.get(f).unwrap_or(&null), os.get(f).unwrap_or(&null));
        if n != o {
            causes.push(Cause::invalid_rendered(
                format!("spec.{f}"),
                pointee(Some(n)),
                FIELD_IMMUTABLE,
            ));
        }
    }
    for f in ["podFailurePolicy", "successPolicy"] {
        let (n, o) = (ns.get(f).unwrap_or(&null), os.get(f).unwrap_or(&null));
        if n != o {
            causes.push(Cause::invalid_rendered(
                format!("spec.{f}"),
                n.to_string(),
                FIELD_IMMUTABLE,
            ));
        }
    }
    causes
}

/// What `validatePodTemplateUpdate` lets change in a suspended, never started Job.
fn mutable_scheduling_directives(new: &Value, old: &mut Value) {
    let Some(o) = old.as_object_mut() else { return };
    let null = Value::Null;
    let nspec = new.get("spec").unwrap_or(&null);
    let ospec = o.entry("spec").or_insert_with(|| json!({}));
    let (n_aff, o_aff) = (
        set(nspec, "affinity").cloned(),
        set(ospec, "affinity").cloned(),
    );
    match (n_aff, o_aff) {
        (None, Some(mut oa)) => {
            if let Some(m) = oa.as_object_mut() {
                m.remove("nodeAffinity");
            }
            if oa
                .as_object()
                .is_some_and(|m| m.values().all(Value::is_null))
            {
                ospec.as_object_mut().map(|m| m.remove("affinity"));
            } else {
                ospec["affinity"] = oa;
            }
        }
        (Some(na), None) => {
            ospec["affinity"] = match na.get("nodeAffinity") {
                Some(v) => json!({"nodeAffinity": v}),
                None => json!({}),
            };
        }
        (Some(na), Some(_)) => match na.get("nodeAffinity") {
            Some(v) => ospec["affinity"]["nodeAffinity"] = v.clone(),
            None => {
                ospec["affinity"]
                    .as_object_mut()
                    .map(|m| m.remove("nodeAffinity"));
            }
        },
        (None, None) => {}
    }
    for f in ["nodeSelector", "tolerations", "schedulingGates"] {
        match nspec.get(f) {
            Some(v) => ospec[f] = v.clone(),
            None => {
                ospec.as_object_mut().map(|m| m.remove(f));
            }
        }
    }
    let nmeta = new.get("metadata").unwrap_or(&null);
    let ometa = o.entry("metadata").or_insert_with(|| json!({}));
    for f in ["labels", "annotations"] {
        match nmeta.get(f) {
            Some(v) => ometa[f] = v.clone(),
            None => {
                ometa.as_object_mut().map(|m| m.remove(f));
            }
        }
    }
}

/// Validates a CronJob (`ValidateCronJobCreate`; the 52-character name limit
/// is create-only upstream, and names never change, so it holds on update too).
pub fn validate_cron_job(obj: &Value) -> Vec<Cause> {
    let spec = spec(obj);
    let mut causes = Vec::new();
    let schedule = str_of(spec, "schedule");
    if schedule.is_empty() {
        causes.push(Cause::required("spec.schedule"));
    } else {
        if let Err(e) = parse_standard(schedule) {
            causes.push(Cause::invalid("spec.schedule", &json!(schedule), e));
        }
        if schedule.contains("TZ") {
            causes.push(Cause::invalid(
                "spec.schedule",
                &json!(schedule),
                "cannot use TZ or CRON_TZ in schedule, use timeZone field instead",
            ));
        }
    }
    nonnegative(
        int_of(spec, "startingDeadlineSeconds"),
        "spec.startingDeadlineSeconds",
        &mut causes,
    );
    if let Some(tz) = spec.get("timeZone").and_then(Value::as_str) {
        time_zone(tz, &mut causes);
    }
    match str_of(spec, "concurrencyPolicy") {
        "" => causes.push(Cause::required("spec.concurrencyPolicy")),
        "Allow" | "Forbid" | "Replace" => {}
        other => causes.push(Cause::not_supported(
            "spec.concurrencyPolicy",
            &json!(other),
            &["Allow", "Forbid", "Replace"],
        )),
    }
    let null = Value::Null;
    let jt_spec = spec.pointer("/jobTemplate/spec").unwrap_or(&null);
    job_spec(jt_spec, "spec.jobTemplate.spec", &mut causes);
    if let Some(sel) = set(jt_spec, "selector") {
        causes.push(Cause::invalid_rendered(
            "spec.jobTemplate.spec.selector",
            go_label_selector(Some(sel)),
            "`selector` will be auto-generated",
        ));
    }
    if jt_spec.get("manualSelector").and_then(Value::as_bool) == Some(true) {
        causes.push(Cause::not_supported(
            "spec.jobTemplate.spec.manualSelector",
            &json!(true),
            &["nil", "false"],
        ));
    }
    for f in ["successfulJobsHistoryLimit", "failedJobsHistoryLimit"] {
        nonnegative(int_of(spec, f), &format!("spec.{f}"), &mut causes);
    }
    let name = crate::meta::name(obj);
    if name.len() > 52 {
        causes.push(Cause::invalid(
            "metadata.name",
            &json!(name),
            "must be no more than 52 characters",
        ));
    }
    causes
}

/// `validateTimeZone`, without loading the zone (no time zone database here).
fn time_zone(tz: &str, causes: &mut Vec<Cause>) {
    let path = "spec.timeZone";
    if tz.is_empty() {
        causes.push(Cause::invalid(
            path,
            &json!(tz),
            "timeZone must be nil or non-empty string",
        ));
        return;
    }
    let part_ok = |p: &str| {
        p != "."
            && p != ".."
            && !p.starts_with('-')
            && (1..=14).contains(&p.len())
            && p.chars()
                .all(|c| c.is_ascii_alphanumeric() || ".-_+".contains(c))
    };
    if !tz.split('/').all(part_ok) {
        causes.push(Cause::invalid(
            path,
            &json!(tz),
            format!("unknown time zone {tz}"),
        ));
        return;
    }
    if tz.eq_ignore_ascii_case("Local") {
        causes.push(Cause::invalid(
            path,
            &json!(tz),
            "timeZone must be an explicit time zone as defined in https://www.iana.org/time-zones",
        ));
    }
}

// --- cron -------------------------------------------------------------------

struct Bounds {
    min: u64,
    max: u64,
    names: &'static [&'static str],
    /// The value of `names[0]`.
    first: u64,
}

const MINUTES: Bounds = Bounds {
    min: 0,
    max: 59,
    names: &[],
    first: 0,
};
const HOURS: Bounds = Bounds {
    min: 0,
    max: 23,
    names: &[],
    first: 0,
};
const DOM: Bounds = Bounds {
    min: 1,
    max: 31,
    names: &[],
    first: 0,
};
const MONTHS: Bounds = Bounds {
    min: 1,
    max: 12,
    names: &[
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ],
    first: 1,
};
const DOW: Bounds = Bounds {
    min: 0,
    max: 6,
    names: &["sun", "mon", "tue", "wed", "thu", "fri", "sat"],
    first: 0,
};

/// Go's `strconv.Atoi`, with its error text.
fn atoi(s: &str) -> Result<i64, String> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()) {
        return Err(format!(
            "strconv.Atoi: parsing {}: invalid syntax",
            go_quote(s)
        ));
    }
    s.parse::<i64>()
        .map_err(|_| format!("strconv.Atoi: parsing {}: value out of range", go_quote(s)))
}

fn parse_int(expr: &str) -> Result<u64, String> {
    let n = atoi(expr).map_err(|e| format!("failed to parse int from {expr}: {e}"))?;
    if n < 0 {
        return Err(format!("negative number ({n}) not allowed: {expr}"));
    }
    Ok(n as u64)
}

fn parse_int_or_name(expr: &str, r: &Bounds) -> Result<u64, String> {
    let lower = expr.to_lowercase();
    if let Some(i) = r.names.iter().position(|n| *n == lower) {
        return Ok(r.first + i as u64);
    }
    parse_int(expr)
}

/// `getRange`: `number | number "-" number [ "/" number ]`, or `*`/`?`.
fn get_range(expr: &str, r: &Bounds) -> Result<(), String> {
    let range_and_step: Vec<&str> = expr.split('/').collect();
    let low_and_high: Vec<&str> = range_and_step[0].split('-').collect();
    let single = low_and_high.len() == 1;
    let (start, mut end);
    if low_and_high[0] == "*" || low_and_high[0] == "?" {
        start = r.min;
        end = r.max;
    } else {
        start = parse_int_or_name(low_and_high[0], r)?;
        end = match low_and_high.len() {
            1 => start,
            2 => parse_int_or_name(low_and_high[1], r)?,
            _ => return Err(format!("too many hyphens: {expr}")),
        };
    }
    let step = match range_and_step.len() {
        1 => 1,
        2 => {
            let s = parse_int(range_and_step[1])?;
            if single {
                end = r.max;
            }
            s
        }
        _ => return Err(format!("too many slashes: {expr}")),
    };
    if start < r.min {
        return Err(format!(
            "beginning of range ({start}) below minimum ({}): {expr}",
            r.min
        ));
    }
    if end > r.max {
        return Err(format!(
            "end of range ({end}) above maximum ({}): {expr}",
            r.max
        ));
    }
    if start > end {
        return Err(format!(
            "beginning of range ({start}) beyond end of range ({end}): {expr}"
        ));
    }
    if step == 0 {
        return Err(format!("step of range should be a positive number: {expr}"));
    }
    Ok(())
}

/// Go's `time.ParseDuration`, for `@every` (only whether it parses).
fn parse_duration(s: &str) -> Result<(), String> {
    let invalid = || format!("time: invalid duration {}", go_quote(s));
    let mut rest = s.strip_prefix(['+', '-']).unwrap_or(s);
    if rest == "0" {
        return Ok(());
    }
    if rest.is_empty() {
        return Err(invalid());
    }
    while !rest.is_empty() {
        let n = rest
            .find(|c: char| !c.is_ascii_digit() && c != '.')
            .unwrap_or(rest.len());
        let number = &rest[..n];
        if number.is_empty() || number == "." || number.matches('.').count() > 1 {
            return Err(invalid());
        }
        rest = &rest[n..];
        let u = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = &rest[..u];
        if unit.is_empty() {
            return Err(format!("time: missing unit in duration {}", go_quote(s)));
        }
        if !matches!(unit, "ns" | "us" | "µs" | "μs" | "ms" | "s" | "m" | "h") {
            return Err(format!(
                "time: unknown unit {} in duration {}",
                go_quote(unit),
                go_quote(s)
            ));
        }
        rest = &rest[u..];
    }
    Ok(())
}

/// `cron.ParseStandard`: five fields or a descriptor.
pub fn parse_standard(spec: &str) -> Result<(), String> {
    if spec.is_empty() {
        return Err("empty spec string".into());
    }
    let mut spec = spec;
    if spec.starts_with("TZ=") || spec.starts_with("CRON_TZ=") {
        // The location is not loaded here (no time zone database); the
        // schedule after it is parsed as upstream does.
        match spec.find(' ') {
            Some(i) => spec = spec[i..].trim(),
            None => return Ok(()),
        }
    }
    if spec.starts_with('@') {
        return match spec {
            "@yearly" | "@annually" | "@monthly" | "@weekly" | "@daily" | "@midnight"
            | "@hourly" => Ok(()),
            s if s.starts_with("@every ") => parse_duration(&s["@every ".len()..])
                .map_err(|e| format!("failed to parse duration {s}: {e}")),
            s => Err(format!("unrecognized descriptor: {s}")),
        };
    }
    let fields: Vec<&str> = spec.split_whitespace().collect();
    if fields.len() != 5 {
        return Err(format!(
            "expected exactly 5 fields, found {}: [{}]",
            fields.len(),
            fields.join(" ")
        ));
    }
    for (field, bounds) in fields.iter().zip([&MINUTES, &HOURS, &DOM, &MONTHS, &DOW]) {
        for expr in field.split(',').filter(|e| !e.is_empty()) {
            get_range(expr, bounds)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalogue::builtin;
    use crate::defaults;

    fn defaulted(plural: &str, mut obj: Value) -> Value {
        let def = builtin()
            .iter()
            .find(|d| d.group == "batch" && d.plural == plural)
            .unwrap();
        defaults::apply(def, &mut obj);
        obj
    }

    fn shown(causes: &[Cause]) -> Vec<String> {
        causes.iter().map(Cause::display).collect()
    }

    /// A Job as the create handler validates it: defaulted, with its uid and
    /// generated selector and labels.
    fn job(spec: Value) -> Value {
        let mut j = defaulted(
            "jobs",
            json!({"metadata": {"name": "pi", "uid": "u1"}, "spec": spec}),
        );
        j["spec"]["selector"] =
            json!({"matchLabels": {"batch.kubernetes.io/controller-uid": "u1"}});
        for (k, v) in [
            ("batch.kubernetes.io/controller-uid", "u1"),
            ("batch.kubernetes.io/job-name", "pi"),
            ("controller-uid", "u1"),
            ("job-name", "pi"),
        ] {
            j["spec"]["template"]["metadata"]["labels"][k] = json!(v);
        }
        j
    }

    fn pod_template(restart: &str) -> Value {
        json!({"spec": {"restartPolicy": restart, "containers": [{"name": "pi", "image": "perl"}]}})
    }

    #[test]
    fn a_valid_job_has_no_causes() {
        let j = job(json!({"template": pod_template("Never")}));
        assert_eq!(shown(&validate_job(&j)), Vec::<String>::new());
    }

    #[test]
    fn job_restart_policy_and_counts() {
        let j =
            job(json!({"template": {"spec": {"containers": [{"name": "pi", "image": "perl"}]}}}));
        assert_eq!(
            shown(&validate_job(&j)),
            [
                "spec.template.spec.restartPolicy: Required value: valid values: \"OnFailure\", \"Never\""
            ]
        );
        let j = job(
            json!({"parallelism": -1, "completions": -2, "backoffLimit": -3,
            "backoffLimitPerIndex": 1, "template": pod_template("Sometimes")}),
        );
        assert_eq!(
            shown(&validate_job(&j)),
            [
                "spec.parallelism: Invalid value: -1: must be greater than or equal to 0",
                "spec.completions: Invalid value: -2: must be greater than or equal to 0",
                "spec.backoffLimit: Invalid value: -3: must be greater than or equal to 0",
                "spec.backoffLimitPerIndex: Invalid value: 1: requires indexed completion mode",
                "spec.template.spec.restartPolicy: Unsupported value: \"Sometimes\": supported values: \"Always\", \"OnFailure\", \"Never\"",
                "spec.template.spec.restartPolicy: Unsupported value: \"Sometimes\": supported values: \"OnFailure\", \"Never\"",
            ]
        );
    }

    #[test]
    fn indexed_jobs() {
        let j = job(
            json!({"completionMode": "Indexed", "parallelism": 200000, "template": pod_template("Never")}),
        );
        let j = {
            let mut j = j;
            j["spec"].as_object_mut().unwrap().remove("completions");
            j
        };
        assert_eq!(
            shown(&validate_job(&j)),
            [
                "spec.completions: Required value: when completion mode is Indexed",
                "spec.parallelism: Invalid value: 200000: must be less than or equal to 100000 when completion mode is Indexed",
            ]
        );
    }

    #[test]
    fn job_updates() {
        let old =
            job(json!({"completions": 3, "parallelism": 3, "template": pod_template("Never")}));
        let mut new = old.clone();
        new["spec"]["parallelism"] = json!(1);
        assert!(validate_job_update(&new, &old).is_empty());
        new["spec"]["completions"] = json!(5);
        new["spec"]["template"]["spec"]["containers"][0]["image"] = json!("python");
        let causes = shown(&validate_job_update(&new, &old));
        assert_eq!(
            causes[0],
            "spec.completions: Invalid value: 5: field is immutable"
        );
        assert!(causes[1].starts_with("spec.template: Invalid value: {"));
        assert!(causes[1].ends_with("}: field is immutable"));
        assert_eq!(causes.len(), 2);

        // Indexed: completions change with parallelism.
        let old = job(
            json!({"completionMode": "Indexed", "completions": 3, "parallelism": 3, "template": pod_template("Never")}),
        );
        let mut new = old.clone();
        new["spec"]["completions"] = json!(4);
        assert_eq!(
            shown(&validate_job_update(&new, &old)),
            [
                "spec.completions: Invalid value: 4: can only be modified in tandem with spec.parallelism"
            ]
        );
        new["spec"]["parallelism"] = json!(4);
        assert!(validate_job_update(&new, &old).is_empty());

        // Suspended and never started: scheduling directives may change.
        let mut old = job(json!({"suspend": true, "template": pod_template("Never")}));
        old["spec"]["suspend"] = json!(true);
        let mut new = old.clone();
        new["spec"]["template"]["spec"]["nodeSelector"] = json!({"zone": "a"});
        new["spec"]["template"]["metadata"]["annotations"] = json!({"x": "y"});
        assert!(validate_job_update(&new, &old).is_empty());
        let mut started = old.clone();
        started["status"] = json!({"startTime": "2025-01-01T00:00:00Z"});
        assert_eq!(validate_job_update(&new, &started).len(), 1);
    }

    #[test]
    fn cron_schedules_parse_as_robfig_cron() {
        assert_eq!(parse_standard("*/5 * * * *"), Ok(()));
        assert_eq!(parse_standard("0 9-17 * jan-jun mon,FRI"), Ok(()));
        assert_eq!(parse_standard("@hourly"), Ok(()));
        assert_eq!(parse_standard("@every 1h30m"), Ok(()));
        assert_eq!(
            parse_standard("* * *"),
            Err("expected exactly 5 fields, found 3: [* * *]".into())
        );
        assert_eq!(
            parse_standard("60 * * * *"),
            Err("end of range (60) above maximum (59): 60".into())
        );
        assert_eq!(
            parse_standard("* * 0 * *"),
            Err("beginning of range (0) below minimum (1): 0".into())
        );
        assert_eq!(
            parse_standard("5-1 * * * *"),
            Err("beginning of range (5) beyond end of range (1): 5-1".into())
        );
        assert_eq!(
            parse_standard("x * * * *"),
            Err("failed to parse int from x: strconv.Atoi: parsing \"x\": invalid syntax".into())
        );
        assert_eq!(
            parse_standard("*/0 * * * *"),
            Err("step of range should be a positive number: */0".into())
        );
        assert_eq!(
            parse_standard("@fortnightly"),
            Err("unrecognized descriptor: @fortnightly".into())
        );
        assert_eq!(
            parse_standard("@every 1d"),
            Err(
                "failed to parse duration @every 1d: time: unknown unit \"d\" in duration \"1d\""
                    .into()
            )
        );
        assert_eq!(
            parse_standard("1-2-3 * * * *"),
            Err("too many hyphens: 1-2-3".into())
        );
    }

    #[test]
    fn cron_jobs() {
        let cj = defaulted(
            "cronjobs",
            json!({"metadata": {"name": "nightly"}, "spec": {
            "schedule": "0 3 * * *", "jobTemplate": {"spec": {"template": pod_template("OnFailure")}}}}),
        );
        assert_eq!(shown(&validate_cron_job(&cj)), Vec::<String>::new());
        let bad = defaulted(
            "cronjobs",
            json!({"metadata": {"name": "n".repeat(53)}, "spec": {
            "schedule": "0 25 * * *", "concurrencyPolicy": "Sometimes", "timeZone": "Mars/Olympus Mons",
            "successfulJobsHistoryLimit": -1,
            "jobTemplate": {"spec": {"selector": {"matchLabels": {"a": "b"}}, "template": pod_template("Always")}}}}),
        );
        assert_eq!(
            shown(&validate_cron_job(&bad)),
            [
                "spec.schedule: Invalid value: \"0 25 * * *\": end of range (25) above maximum (23): 25",
                "spec.timeZone: Invalid value: \"Mars/Olympus Mons\": unknown time zone Mars/Olympus Mons",
                "spec.concurrencyPolicy: Unsupported value: \"Sometimes\": supported values: \"Allow\", \"Forbid\", \"Replace\"",
                "spec.jobTemplate.spec.template.spec.restartPolicy: Required value: valid values: \"OnFailure\", \"Never\"",
                "spec.jobTemplate.spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string{\"a\":\"b\"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: `selector` will be auto-generated",
                "spec.successfulJobsHistoryLimit: Invalid value: -1: must be greater than or equal to 0",
                &format!(
                    "metadata.name: Invalid value: \"{}\": must be no more than 52 characters",
                    "n".repeat(53)
                ),
            ]
        );
        let empty = defaulted(
            "cronjobs",
            json!({"spec": {"jobTemplate": {"spec": {"template": pod_template("Never")}}}}),
        );
        assert_eq!(
            shown(&validate_cron_job(&empty)),
            ["spec.schedule: Required value"]
        );
    }
}
