//! API Priority and Fairness' bootstrap configuration, as upstream's ensurer
//! (`pkg/registry/flowcontrol/ensurer`, post-start hook
//! `priority-and-fairness-config-producer`) keeps it. The objects are upstream
//! 1.33's (`apiserver/pkg/apis/flowcontrol/bootstrap/default.go`, in
//! `flowcontrol.json`), each annotated `apf.kubernetes.io/autoupdate-spec: "true"`:
//!
//! - a missing object, mandatory or suggested, is created;
//! - a mandatory one is put back to its spec (the `exempt` level keeps the
//!   operator's `nominalConcurrencyShares` and `lendablePercent`);
//! - a suggested one is updated while its annotation says `true`; without the
//!   annotation, while it was never edited (`generation` 1), else it is
//!   annotated `false` and left alone;
//! - an object outside the configuration annotated `true` is deleted.
//!
//! Each FlowSchema's status says whether its priority level exists (the
//! `Dangling` condition, which upstream's configuration consumer writes).

use std::sync::OnceLock;

use serde_json::{Value, json};

use super::BootstrapError;
use super::client::{Loopback, Updated};

const GROUP: &str = "/apis/flowcontrol.apiserver.k8s.io/v1";
const AUTOUPDATE: &str = "apf.kubernetes.io/autoupdate-spec";

/// Upstream's bootstrap objects: (mandatory, plural, object).
fn configuration() -> &'static [(bool, &'static str, Value)] {
    static CONFIG: OnceLock<Vec<(bool, &'static str, Value)>> = OnceLock::new();
    CONFIG.get_or_init(|| {
        let data: Value =
            serde_json::from_str(include_str!("flowcontrol.json")).expect("flowcontrol.json");
        let mut out = Vec::new();
        // Upstream's order: suggested levels, suggested schemas, mandatory levels, mandatory schemas.
        for (set, mandatory) in [("suggested", false), ("mandatory", true)] {
            for (key, plural) in [
                ("priorityLevelConfigurations", "prioritylevelconfigurations"),
                ("flowSchemas", "flowschemas"),
            ] {
                for obj in data[set][key].as_array().expect("a list of objects") {
                    out.push((mandatory, plural, obj.clone()));
                }
            }
        }
        out
    })
}

fn name(obj: &Value) -> &str {
    obj.pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
}

fn annotation(obj: &Value) -> Option<bool> {
    match obj
        .pointer("/metadata/annotations/apf.kubernetes.io~1autoupdate-spec")
        .and_then(Value::as_str)?
    {
        "true" | "1" | "t" | "T" | "TRUE" | "True" => Some(true),
        "false" | "0" | "f" | "F" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

/// The spec `desired` would have against `current` (the `exempt` level's
/// tunable numbers are the operator's).
fn wanted_spec(desired: &Value, current: &Value) -> Value {
    let mut spec = desired["spec"].clone();
    if name(desired) == "exempt" && spec.get("exempt").is_some() {
        for k in ["nominalConcurrencyShares", "lendablePercent"] {
            if let Some(v) = current.pointer(&format!("/spec/exempt/{k}")) {
                spec["exempt"][k] = v.clone();
            }
        }
    }
    spec
}

/// Upstream's `ReviseIfNeeded`: whether `current` changed.
fn revise(mandatory: bool, desired: &Value, current: &mut Value) -> bool {
    let annotated = annotation(current);
    let auto_update = mandatory
        || annotated.unwrap_or_else(|| current.pointer("/metadata/generation") == Some(&json!(1)));
    let mut changed = false;
    if annotated != Some(auto_update) {
        current["metadata"]["annotations"][AUTOUPDATE] = json!(auto_update.to_string());
        changed = true;
    }
    if auto_update {
        let spec = wanted_spec(desired, current);
        if current.get("spec") != Some(&spec) {
            current["spec"] = spec;
            changed = true;
        }
    }
    changed
}

pub(crate) async fn reconcile(client: &Loopback) -> Result<(), BootstrapError> {
    let config = configuration();
    for (mandatory, plural, desired) in config {
        let collection = format!("{GROUP}/{plural}");
        client
            .reconcile(&collection, name(desired), desired, |cur| {
                revise(*mandatory, desired, cur)
            })
            .await?;
    }
    // What is annotated for automatic update but no longer part of the configuration.
    for plural in ["flowschemas", "prioritylevelconfigurations"] {
        let collection = format!("{GROUP}/{plural}");
        for item in client.list(&collection).await? {
            let known = config
                .iter()
                .any(|(_, p, d)| *p == plural && name(d) == name(&item));
            if !known && annotation(&item) == Some(true) {
                client
                    .delete(&format!("{collection}/{}", name(&item)))
                    .await?;
            }
        }
    }
    reconcile_dangling(client).await
}

/// Sets each FlowSchema's `Dangling` condition from whether its priority level exists.
async fn reconcile_dangling(client: &Loopback) -> Result<(), BootstrapError> {
    let levels: Vec<String> = client
        .list(&format!("{GROUP}/prioritylevelconfigurations"))
        .await?
        .iter()
        .map(|l| name(l).to_string())
        .collect();
    for mut schema in client.list(&format!("{GROUP}/flowschemas")).await? {
        let level = schema
            .pointer("/spec/priorityLevelConfiguration/name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let exists = levels.contains(&level);
        let (status, reason, message) = if exists {
            (
                "False",
                "Found",
                format!(
                    "This FlowSchema references the PriorityLevelConfiguration object named \"{level}\" and it exists"
                ),
            )
        } else {
            (
                "True",
                "NotFound",
                format!(
                    "This FlowSchema references the PriorityLevelConfiguration object named \"{level}\" but there is no such object"
                ),
            )
        };
        let current = schema
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .and_then(|c| c.iter().find(|c| c["type"] == "Dangling"));
        if current.is_some_and(|c| c["status"] == status && c["reason"] == reason) {
            continue;
        }
        let now = crate::bootstrap::now();
        schema["status"] = json!({"conditions": [{"type": "Dangling", "status": status,
            "lastTransitionTime": now, "reason": reason, "message": message}]});
        let path = format!("{GROUP}/flowschemas/{}/status", name(&schema));
        if let Updated::Stale = client.update(&path, &schema).await? {
            tracing::debug!(flowschema = %name(&schema), "status written concurrently");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn level(name: &str, spec: Value, annotations: Value, generation: i64) -> Value {
        json!({"metadata": {"name": name, "annotations": annotations, "generation": generation}, "spec": spec})
    }

    #[test]
    fn upstream_configuration_is_complete() {
        let config = configuration();
        assert_eq!(config.iter().filter(|(m, _, _)| *m).count(), 4);
        assert_eq!(config.iter().filter(|(m, _, _)| !*m).count(), 17);
        for (_, _, obj) in config {
            assert_eq!(annotation(obj), Some(true), "{}", name(obj));
        }
    }

    #[test]
    fn revise_as_upstream() {
        let desired = level(
            "system",
            json!({"type": "Limited", "limited": {"nominalConcurrencyShares": 30}}),
            json!({AUTOUPDATE: "true"}),
            1,
        );
        // A suggested object a user edited and opted out of is left alone.
        let mut opted_out = level(
            "system",
            json!({"type": "Limited", "limited": {"nominalConcurrencyShares": 99}}),
            json!({AUTOUPDATE: "false"}),
            3,
        );
        assert!(!revise(false, &desired, &mut opted_out));
        // Without the annotation: edited → annotated false, spec kept.
        let mut edited = level(
            "system",
            json!({"type": "Limited", "limited": {"nominalConcurrencyShares": 99}}),
            json!({}),
            2,
        );
        assert!(revise(false, &desired, &mut edited));
        assert_eq!(annotation(&edited), Some(false));
        assert_eq!(edited["spec"]["limited"]["nominalConcurrencyShares"], 99);
        // Never edited → annotated true and spec restored.
        let mut pristine = level("system", json!({}), json!({}), 1);
        assert!(revise(false, &desired, &mut pristine));
        assert_eq!(pristine["spec"], desired["spec"]);
        // Mandatory: always restored, even when annotated false.
        let mut forced = level("system", json!({}), json!({AUTOUPDATE: "false"}), 5);
        assert!(revise(true, &desired, &mut forced));
        assert_eq!(annotation(&forced), Some(true));
        assert_eq!(forced["spec"], desired["spec"]);
        // The exempt level keeps its tuned numbers.
        let exempt = level(
            "exempt",
            json!({"type": "Exempt", "exempt": {"nominalConcurrencyShares": 0, "lendablePercent": 0}}),
            json!({AUTOUPDATE: "true"}),
            1,
        );
        let mut tuned = level(
            "exempt",
            json!({"type": "Exempt", "exempt": {"nominalConcurrencyShares": 7, "lendablePercent": 5}}),
            json!({AUTOUPDATE: "true"}),
            2,
        );
        assert!(!revise(true, &exempt, &mut tuned));
    }

    #[test]
    fn timestamps_are_rfc3339() {
        let now = crate::bootstrap::now();
        assert_eq!(now.len(), 20, "{now}");
        assert!(now.starts_with("20") && now.ends_with('Z'));
    }
}
