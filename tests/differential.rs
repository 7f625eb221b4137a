//! The differential suite: requests and the answers upstream 1.33 gives them
//! (written from upstream's code, cited per case), sent to the real `skiff
//! server` binary over HTTPS. Cases live in `tests/differential/*.yaml`, one
//! test per file, each case in a namespace of its own.
//!
//! A case is a list of steps. A step is one request (`GET|POST|PUT|PATCH|
//! DELETE: path`) with an optional `body` (YAML, sent as JSON; a string is
//! sent as is) and `type` (json, merge, strategic, jsonpatch, apply, yaml),
//! and what to expect: `status`, `expect` (a subset of the JSON answer:
//! objects by key, arrays element by element and of equal length; the string
//! `<any>` matches any present value, a string ending in `<...>` any string
//! starting with what precedes it), `absent` (dotted paths that must not be
//! there), `text` (the whole body), `headers` (values of response headers),
//! `accept` (the request's Accept header), `request_headers` (more of them)
//! and `save` (variables from dotted paths, or `header:<name>`); `wait: seconds` repeats
//! the step until it holds (for what controllers do in the background). An
//! expected array starting with `<contains>` matches elements in any order.
//! A watch's answer (a stream of events) is matched as the array of its events. `{ns}` and saved
//! `{variables}` are substituted in paths and bodies.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{Context, Result, bail};
use serde_json::Value;
use skiff_testutil::http::Client;
use skiff_testutil::server::SkiffServer;

/// Looks up a dotted path (`metadata.labels.a`, `items.0.kind`).
fn lookup<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    let mut cur = v;
    for part in path.split('.') {
        cur = match cur {
            Value::Array(a) => a.get(part.parse::<usize>().ok()?)?,
            Value::Object(m) => m.get(part)?,
            _ => return None,
        };
    }
    Some(cur)
}

/// Whether `actual` has everything `expected` has.
fn contains(actual: &Value, expected: &Value, at: &str) -> Result<(), String> {
    match (expected, actual) {
        (Value::String(s), a) if s == "<any>" && !a.is_null() => Ok(()),
        // "text<...>": the actual string starts with "text".
        (Value::String(e), Value::String(a)) if e.ends_with("<...>") => {
            let prefix = e.trim_end_matches("<...>");
            if a.starts_with(prefix) {
                Ok(())
            } else {
                Err(format!("{at}: {a:?}, expected it to start with {prefix:?}"))
            }
        }
        (Value::Object(e), Value::Object(a)) => {
            for (k, ev) in e {
                let av = a.get(k).unwrap_or(&Value::Null);
                if av.is_null() && !ev.is_null() {
                    return Err(format!("{at}.{k}: missing, expected {ev}"));
                }
                contains(av, ev, &format!("{at}.{k}"))?;
            }
            Ok(())
        }
        // ["<contains>", x, y]: x and y are among the elements, in any order.
        (Value::Array(e), Value::Array(a)) if e.first() == Some(&Value::from("<contains>")) => {
            for ev in &e[1..] {
                if !a.iter().any(|av| contains(av, ev, at).is_ok()) {
                    return Err(format!(
                        "{at}: no element matches {ev} in {}",
                        Value::Array(a.clone())
                    ));
                }
            }
            Ok(())
        }
        (Value::Array(e), Value::Array(a)) => {
            if e.len() != a.len() {
                return Err(format!(
                    "{at}: {} elements, expected {}: {}",
                    a.len(),
                    e.len(),
                    Value::Array(a.clone())
                ));
            }
            for (i, (ev, av)) in e.iter().zip(a).enumerate() {
                contains(av, ev, &format!("{at}.{i}"))?;
            }
            Ok(())
        }
        (e, a) if e == a => Ok(()),
        (e, a) => Err(format!("{at}: {a}, expected {e}")),
    }
}

/// Replaces `{name}` placeholders in every string of a value.
fn substitute(v: &Value, vars: &HashMap<String, String>) -> Value {
    match v {
        Value::String(s) => Value::String(substitute_str(s, vars)),
        Value::Array(a) => Value::Array(a.iter().map(|x| substitute(x, vars)).collect()),
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, x)| (substitute_str(k, vars), substitute(x, vars)))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn substitute_str(s: &str, vars: &HashMap<String, String>) -> String {
    let mut out = s.to_string();
    for (k, v) in vars {
        out = out.replace(&format!("{{{k}}}"), v);
    }
    out
}

fn content_type(kind: &str) -> Result<&'static str> {
    Ok(match kind {
        "json" => "application/json",
        "merge" => "application/merge-patch+json",
        "strategic" => "application/strategic-merge-patch+json",
        "jsonpatch" => "application/json-patch+json",
        "apply" => "application/apply-patch+yaml",
        "yaml" => "application/yaml",
        other => bail!("unknown body type {other}"),
    })
}

/// Runs one step; with `wait: seconds`, again until it holds or the time is up.
fn step(client: &Client, s: &Value, vars: &mut HashMap<String, String>) -> Result<()> {
    let Some(wait) = s.get("wait").and_then(Value::as_f64) else {
        return step_once(client, s, vars);
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs_f64(wait);
    loop {
        match step_once(client, s, vars) {
            Ok(()) => return Ok(()),
            Err(e) if std::time::Instant::now() > deadline => {
                return Err(e.context(format!("still failing after {wait} s")));
            }
            Err(_) => std::thread::sleep(std::time::Duration::from_millis(200)),
        }
    }
}

fn step_once(client: &Client, s: &Value, vars: &mut HashMap<String, String>) -> Result<()> {
    let map = s.as_object().context("a step is a map")?;
    let (method, path) = ["GET", "POST", "PUT", "PATCH", "DELETE"]
        .iter()
        .find_map(|m| map.get(*m).and_then(Value::as_str).map(|p| (*m, p)))
        .context("a step needs GET|POST|PUT|PATCH|DELETE: path")?;
    let path = substitute_str(path, vars);
    let kind = map
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or(match method {
            "PATCH" => "merge",
            _ => "json",
        });
    let body = match map.get("body").map(|b| substitute(b, vars)) {
        None => Vec::new(),
        Some(Value::String(raw)) => raw.into_bytes(),
        Some(v) => serde_json::to_vec(&v)?,
    };
    let ct = (!body.is_empty() || method != "GET")
        .then(|| content_type(kind))
        .transpose()?;
    let accept = map
        .get("accept")
        .and_then(Value::as_str)
        .unwrap_or("application/json");
    let mut headers = vec![("Accept".to_string(), accept.to_string())];
    if let Some(ct) = ct {
        headers.push(("Content-Type".to_string(), ct.to_string()));
    }
    for (name, value) in map
        .get("request_headers")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        headers.push((
            name.clone(),
            substitute_str(value.as_str().unwrap_or(""), vars),
        ));
    }
    let headers: Vec<(&str, &str)> = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let reply = client.request_with(method, &path, &headers, &body)?;
    // A watch answers a stream of JSON events: read as their array.
    let watch = path.contains("watch=1") || path.contains("watch=true") || path.contains("/watch/");
    let answer = match reply.json() {
        _ if watch && reply.status == 200 => Value::Array(
            serde_json::Deserializer::from_slice(&reply.body)
                .into_iter::<Value>()
                .filter_map(Result::ok)
                .collect(),
        ),
        // A YAML answer is compared as the value it spells.
        Value::Null if reply.header("content-type") == Some("application/yaml") => {
            serde_yaml::from_slice(&reply.body).unwrap_or(Value::Null)
        }
        Value::Null if !reply.body.is_empty() => Value::Array(
            serde_json::Deserializer::from_slice(&reply.body)
                .into_iter::<Value>()
                .filter_map(Result::ok)
                .collect(),
        ),
        v => v,
    };
    let what = format!("{method} {path} → {} {}", reply.status, reply.text());
    if let Some(status) = map.get("status").and_then(Value::as_u64)
        && u64::from(reply.status) != status
    {
        bail!("status {}, expected {status}: {what}", reply.status);
    }
    if let Some(text) = map.get("text").and_then(Value::as_str) {
        let text = substitute_str(text, vars);
        if reply.text() != text {
            bail!("body {:?}, expected {text:?}: {what}", reply.text());
        }
    }
    for (name, value) in map
        .get("headers")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        let want = substitute_str(value.as_str().unwrap_or(""), vars);
        let got = reply.header(&name.to_ascii_lowercase());
        if got != Some(want.as_str()) {
            bail!("header {name}: {got:?}, expected {want:?}: {what}");
        }
    }
    if let Some(expected) = map.get("expect") {
        contains(&answer, &substitute(expected, vars), "")
            .map_err(|e| anyhow::anyhow!("{e}\n  in {what}"))?;
    }
    for path in map
        .get("absent")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let path = path.as_str().context("absent: dotted paths")?;
        if lookup(&answer, path).is_some_and(|v| !v.is_null()) {
            bail!("{path} is present: {what}");
        }
    }
    for (var, path) in map
        .get("save")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        let path = path.as_str().context("save: dotted paths")?;
        if let Some(header) = path.strip_prefix("header:") {
            let value = reply
                .header(header)
                .with_context(|| format!("save {path}: {what}"))?;
            vars.insert(var.clone(), value.to_string());
            continue;
        }
        let value = lookup(&answer, path).with_context(|| format!("save {path}: {what}"))?;
        let text = match value {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        vars.insert(var.clone(), text);
    }
    Ok(())
}

/// Runs every case of one file against a fresh server.
fn run_file(name: &str) {
    let file = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("differential")
        .join(format!("{name}.yaml"));
    let text = std::fs::read_to_string(&file).unwrap();
    let cases: Vec<Value> = serde_yaml::from_str(&text).unwrap();
    let dir = tempfile::tempdir().unwrap();
    // The API server alone, as the cases' upstream answers were taken: no
    // scheduler marking the cases' pods unschedulable between their steps.
    let mut server = SkiffServer::new(
        &dir.path().join("data"),
        "127.0.0.1",
        skiff_testutil::free_port(),
        &["--disable-scheduler"],
    );
    server.start().unwrap();
    let client = Client::from_kubeconfig(&server.kubeconfig()).unwrap();
    let mut failures = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        let title = case["case"].as_str().unwrap_or("?").to_string();
        let ns = format!("{}-{i}", name.replace('_', "-"));
        let created = client
            .request(
                "POST",
                "/api/v1/namespaces",
                Some("application/json"),
                format!(r#"{{"metadata":{{"name":"{ns}"}}}}"#).as_bytes(),
            )
            .unwrap();
        assert_eq!(created.status, 201, "{}", created.text());
        let mut vars = HashMap::from([("ns".to_string(), ns)]);
        for (j, s) in case["steps"].as_array().into_iter().flatten().enumerate() {
            if let Err(e) = step(&client, s, &mut vars) {
                failures.push(format!("{name}: {title} (step {}): {e:#}", j + 1));
                break;
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ from upstream:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn dry_run() {
    run_file("dry_run");
}

#[test]
fn namespaces() {
    run_file("namespaces");
}

#[test]
fn services() {
    run_file("services");
}

#[test]
fn writes() {
    run_file("writes");
}

#[test]
fn semantics() {
    run_file("semantics");
}

#[test]
fn negotiation() {
    run_file("negotiation");
}

#[test]
fn validation() {
    run_file("validation");
}

#[test]
fn discovery() {
    run_file("discovery");
}

#[test]
fn tables() {
    run_file("tables");
}
