//! ServiceAccount, as upstream's admission plugin
//! (`plugin/pkg/admission/serviceaccount`): a new pod runs as a service
//! account that exists (`default` when it names none), mounts its token,
//! the cluster CA and its namespace as the projected volume
//! `kube-api-access-<random>` at `/var/run/secrets/kubernetes.io/serviceaccount`
//! in every container (unless the pod or the account opts out, or a
//! container already mounts something there), and takes the account's
//! image pull secrets when it has none. An account annotated
//! `kubernetes.io/enforce-mountable-secrets: "true"` limits the secrets its
//! pods reference to its own. Mirror pods (the kubelet's static pods) may
//! reference no service account, secret or token.

use serde_json::{Value, json};
use skiff_api::ApiError;

use super::{Attributes, Operation, Plugin, Result};

pub struct ServiceAccount;

pub const DEFAULT_SERVICE_ACCOUNT: &str = "default";
/// Where pods find their token (upstream's `DefaultAPITokenMountPath`).
pub const TOKEN_MOUNT_PATH: &str = "/var/run/secrets/kubernetes.io/serviceaccount";
const VOLUME_PREFIX: &str = "kube-api-access-";
const MIRROR_ANNOTATION: &str = "kubernetes.io/config.mirror";
const ENFORCE_MOUNTABLE_SECRETS: &str = "kubernetes.io/enforce-mountable-secrets";
/// The projected token's lifetime: upstream's
/// `WarnOnlyBoundTokenExpirationSeconds` (an hour and 7 seconds).
const TOKEN_EXPIRATION_SECONDS: i64 = 3607;

/// Whether the plugin looks at the request: pods, on create (and
/// ephemeral containers added later).
fn handles(a: &Attributes<'_, '_>) -> bool {
    a.is("", "pods") && matches!(a.subresource(), "" | "ephemeralcontainers")
}

fn mirror(pod: &Value) -> bool {
    pod.pointer("/metadata/annotations")
        .and_then(|a| a.get(MIRROR_ANNOTATION))
        .is_some()
}

fn forbidden(pod: &Value, why: &str) -> ApiError {
    ApiError::forbidden_object("", "pods", skiff_api::meta::name(pod), why)
}

#[async_trait::async_trait]
impl Plugin for ServiceAccount {
    fn name(&self) -> &'static str {
        "ServiceAccount"
    }

    async fn admit(&self, a: &Attributes<'_, '_>, pod: &mut Value) -> Result<()> {
        if !handles(a) || a.operation != Operation::Create || mirror(pod) {
            return Ok(());
        }
        let spec = &mut pod["spec"];
        let named = spec["serviceAccountName"].as_str().unwrap_or("");
        let name = if named.is_empty() {
            DEFAULT_SERVICE_ACCOUNT.to_string()
        } else {
            named.to_string()
        };
        spec["serviceAccountName"] = json!(name);
        // The deprecated alias follows, as upstream's conversion fills it.
        spec["serviceAccount"] = json!(name);
        let account = lookup(a, &name).await.map_err(|e| forbidden(pod, &e))?;
        let spec = &mut pod["spec"];
        if automount(&account, spec) {
            mount_token(spec);
        }
        let has_pull_secrets = spec["imagePullSecrets"]
            .as_array()
            .is_some_and(|s| !s.is_empty());
        if !has_pull_secrets
            && let Some(secrets) = account["imagePullSecrets"]
                .as_array()
                .filter(|s| !s.is_empty())
        {
            spec["imagePullSecrets"] = json!(
                secrets
                    .iter()
                    .map(|s| json!({"name": s["name"]}))
                    .collect::<Vec<_>>()
            );
        }
        Ok(())
    }

    async fn validate(&self, a: &Attributes<'_, '_>, obj: Option<&Value>) -> Result<()> {
        let Some(pod) = obj.filter(|_| handles(a)) else {
            return Ok(());
        };
        let ephemeral =
            a.operation == Operation::Update && a.subresource() == "ephemeralcontainers";
        if a.operation != Operation::Create && !ephemeral {
            return Ok(());
        }
        if mirror(pod) {
            return validate_mirror(pod);
        }
        let name = pod["spec"]["serviceAccountName"].as_str().unwrap_or("");
        if name.is_empty() {
            return Err(forbidden(
                pod,
                &format!(
                    "no service account specified for pod {}/{}",
                    a.namespace(),
                    skiff_api::meta::name(pod)
                ),
            ));
        }
        let account = lookup(a, name).await.map_err(|e| forbidden(pod, &e))?;
        // Go's strconv.ParseBool, as upstream reads the annotation.
        if matches!(
            account
                .pointer("/metadata/annotations")
                .and_then(|m| m.get(ENFORCE_MOUNTABLE_SECRETS))
                .and_then(Value::as_str),
            Some("1" | "t" | "T" | "true" | "TRUE" | "True")
        ) {
            let only_ephemeral = ephemeral;
            limit_secret_references(&account, pod, only_ephemeral)
                .map_err(|why| forbidden(pod, &why))?;
        }
        Ok(())
    }
}

/// The service account, from the watch cache, else the store; the `default`
/// one is waited for a little (its controller makes it just after its
/// namespace), as upstream retries it ten times.
async fn lookup(a: &Attributes<'_, '_>, name: &str) -> std::result::Result<Value, String> {
    let server = a.ctx.server;
    let attempts = if name == DEFAULT_SERVICE_ACCOUNT {
        10
    } else {
        1
    };
    for attempt in 0..attempts {
        if attempt > 0 {
            let jitter = u64::from(rand::random::<u8>() % 100);
            tokio::time::sleep(std::time::Duration::from_millis(100 + jitter)).await;
        }
        let found = if attempt == 0 {
            server
                .cached_core("serviceaccounts", a.namespace(), name)
                .await
        } else {
            server
                .stored_core("serviceaccounts", a.namespace(), name)
                .await
        };
        if let Some(sa) = found {
            return Ok(sa);
        }
    }
    Err(format!(
        "error looking up service account {}/{name}: serviceaccount {name:?} not found",
        a.namespace()
    ))
}

/// The pod's choice, else the account's, else true.
fn automount(account: &Value, spec: &Value) -> bool {
    spec["automountServiceAccountToken"]
        .as_bool()
        .or_else(|| account["automountServiceAccountToken"].as_bool())
        .unwrap_or(true)
}

/// Upstream's `mountServiceAccountToken`.
fn mount_token(spec: &mut Value) {
    let existing = spec["volumes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v["name"].as_str())
        .find(|n| n.starts_with(VOLUME_PREFIX))
        .map(str::to_string);
    let volume = existing
        .clone()
        .unwrap_or_else(|| skiff_api::meta::generated_name(VOLUME_PREFIX));
    let mut needed = false;
    for list in ["initContainers", "containers"] {
        let Some(containers) = spec.get_mut(list).and_then(Value::as_array_mut) else {
            continue;
        };
        for c in containers {
            let mounted = c["volumeMounts"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|m| m["mountPath"] == TOKEN_MOUNT_PATH);
            if mounted {
                continue;
            }
            let mount = json!({"name": volume, "readOnly": true, "mountPath": TOKEN_MOUNT_PATH});
            match c.get_mut("volumeMounts").and_then(Value::as_array_mut) {
                Some(mounts) => mounts.push(mount),
                None => c["volumeMounts"] = json!([mount]),
            }
            needed = true;
        }
    }
    if existing.is_none() && needed {
        let source = json!({
            "name": volume,
            "projected": {
                "defaultMode": 420,
                "sources": [
                    {"serviceAccountToken": {"expirationSeconds": TOKEN_EXPIRATION_SECONDS, "path": "token"}},
                    {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                    {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}}
                ]
            }
        });
        match spec.get_mut("volumes").and_then(Value::as_array_mut) {
            Some(volumes) => volumes.push(source),
            None => spec["volumes"] = json!([source]),
        }
    }
}

/// Mirror pods may not reference service accounts, secrets or tokens.
fn validate_mirror(pod: &Value) -> Result<()> {
    let spec = &pod["spec"];
    if !spec["serviceAccountName"].as_str().unwrap_or("").is_empty() {
        return Err(forbidden(
            pod,
            "a mirror pod may not reference service accounts",
        ));
    }
    if !skiff_api::podutil::secret_names(spec).is_empty() {
        return Err(forbidden(pod, "a mirror pod may not reference secrets"));
    }
    let token_projection = spec["volumes"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|v| v.pointer("/projected/sources").and_then(Value::as_array))
        .flatten()
        .any(|s| s.get("serviceAccountToken").is_some_and(|t| !t.is_null()));
    if token_projection {
        return Err(forbidden(
            pod,
            "a mirror pod may not use ServiceAccountToken volume projections",
        ));
    }
    Ok(())
}

/// Upstream's `limitSecretReferences` (and, for ephemeral containers
/// added later, `limitEphemeralContainerSecretReferences`).
fn limit_secret_references(
    account: &Value,
    pod: &Value,
    only_ephemeral: bool,
) -> std::result::Result<(), String> {
    let account_name = skiff_api::meta::name(account);
    let mountable: Vec<&str> = account["secrets"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["name"].as_str())
        .collect();
    let spec = &pod["spec"];
    let not_referenced = |what: String, secret: &str| {
        format!(
            "{what} with envFrom referencing secret.secretName=\"{secret}\" is not allowed because service account {account_name} does not reference that secret"
        )
    };
    let lists: &[(&str, &str)] = if only_ephemeral {
        &[("ephemeralContainers", "ephemeral container")]
    } else {
        &[
            ("initContainers", "init container"),
            ("containers", "container"),
        ]
    };
    if !only_ephemeral {
        for v in spec["volumes"].as_array().into_iter().flatten() {
            if let Some(secret) = v.pointer("/secret/secretName").and_then(Value::as_str)
                && !mountable.contains(&secret)
            {
                return Err(format!(
                    "volume with secret.secretName=\"{secret}\" is not allowed because service account {account_name} does not reference that secret"
                ));
            }
        }
    }
    for (list, what) in lists {
        for c in spec[*list].as_array().into_iter().flatten() {
            let container = format!("{what} {}", c["name"].as_str().unwrap_or(""));
            for e in c["env"].as_array().into_iter().flatten() {
                if let Some(secret) = e
                    .pointer("/valueFrom/secretKeyRef/name")
                    .and_then(Value::as_str)
                    && !mountable.contains(&secret)
                {
                    return Err(format!(
                        "{container} with envVar {} referencing secret.secretName=\"{secret}\" is not allowed because service account {account_name} does not reference that secret",
                        e["name"].as_str().unwrap_or("")
                    ));
                }
            }
            for e in c["envFrom"].as_array().into_iter().flatten() {
                if let Some(secret) = e.pointer("/secretRef/name").and_then(Value::as_str)
                    && !mountable.contains(&secret)
                {
                    return Err(not_referenced(container, secret));
                }
            }
        }
    }
    if !only_ephemeral {
        let pull: Vec<&str> = account["imagePullSecrets"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s["name"].as_str())
            .collect();
        for (i, s) in spec["imagePullSecrets"]
            .as_array()
            .into_iter()
            .flatten()
            .enumerate()
        {
            let name = s["name"].as_str().unwrap_or("");
            if !pull.contains(&name) {
                return Err(format!(
                    "imagePullSecrets[{i}].name=\"{name}\" is not allowed because service account {account_name} does not reference that imagePullSecret"
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_volume_is_mounted_once_where_nothing_else_is() {
        let mut spec = json!({"containers": [
            {"name": "a"},
            {"name": "b", "volumeMounts": [{"name": "own", "mountPath": TOKEN_MOUNT_PATH}]}
        ], "initContainers": [{"name": "i", "volumeMounts": []}]});
        mount_token(&mut spec);
        let volume = spec["volumes"][0]["name"].as_str().unwrap().to_string();
        assert!(
            volume.starts_with("kube-api-access-") && volume.len() == 21,
            "{volume}"
        );
        assert_eq!(
            spec["volumes"][0]["projected"]["sources"][0]["serviceAccountToken"]["expirationSeconds"],
            3607
        );
        assert_eq!(spec["volumes"][0]["projected"]["defaultMode"], 420);
        assert_eq!(spec["initContainers"][0]["volumeMounts"][0]["name"], volume);
        assert_eq!(
            spec["containers"][0]["volumeMounts"][0],
            json!({"name": volume, "readOnly": true, "mountPath": TOKEN_MOUNT_PATH})
        );
        assert_eq!(
            spec["containers"][1]["volumeMounts"]
                .as_array()
                .unwrap()
                .len(),
            1
        );
        // Lists the pod does not have stay absent (not null).
        let mut bare = json!({"containers": [{"name": "a"}]});
        mount_token(&mut bare);
        assert!(bare.get("initContainers").is_none(), "{bare}");
        let mut opted_out = json!({"containers": [{"name": "a", "volumeMounts": [{"name": "x", "mountPath": TOKEN_MOUNT_PATH}]}]});
        mount_token(&mut opted_out);
        assert!(opted_out.get("volumes").is_none(), "{opted_out}");
        // Again (an existing kube-api-access volume): nothing more.
        let before = spec.clone();
        mount_token(&mut spec);
        assert_eq!(spec, before);
    }

    #[test]
    fn the_pods_choice_wins_over_the_accounts() {
        let sa_off = json!({"automountServiceAccountToken": false});
        assert!(!automount(&sa_off, &json!({})));
        assert!(automount(
            &sa_off,
            &json!({"automountServiceAccountToken": true})
        ));
        assert!(automount(&json!({}), &json!({})));
    }

    #[test]
    fn enforced_accounts_limit_the_secrets_referenced() {
        let sa = json!({"metadata": {"name": "robot"}, "secrets": [{"name": "ok"}], "imagePullSecrets": [{"name": "pull"}]});
        let pod = |spec: Value| json!({"spec": spec});
        assert!(limit_secret_references(&sa, &pod(json!({"volumes": [{"name": "v", "secret": {"secretName": "ok"}}], "imagePullSecrets": [{"name": "pull"}]})), false).is_ok());
        assert_eq!(
            limit_secret_references(
                &sa,
                &pod(json!({"volumes": [{"name": "v", "secret": {"secretName": "other"}}]})),
                false
            )
            .unwrap_err(),
            r#"volume with secret.secretName="other" is not allowed because service account robot does not reference that secret"#
        );
        assert_eq!(
            limit_secret_references(&sa, &pod(json!({"containers": [{"name": "c", "env": [{"name": "x", "valueFrom": {"secretKeyRef": {"name": "other", "key": "k"}}}]}]})), false).unwrap_err(),
            r#"container c with envVar x referencing secret.secretName="other" is not allowed because service account robot does not reference that secret"#
        );
        assert_eq!(
            limit_secret_references(
                &sa,
                &pod(json!({"imagePullSecrets": [{"name": "x"}]})),
                false
            )
            .unwrap_err(),
            r#"imagePullSecrets[0].name="x" is not allowed because service account robot does not reference that imagePullSecret"#
        );
    }
}
