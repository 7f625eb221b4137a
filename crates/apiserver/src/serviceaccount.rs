//! Service account tokens, as upstream's token issuer
//! (`pkg/serviceaccount/jwt.go`, `pkg/registry/core/serviceaccount/storage/token.go`):
//! `serviceaccounts/token` (TokenRequest) signs a JWT for a service account,
//! optionally bound to a Pod, Secret or Node, with upstream's claims
//! (`iss`, `sub` `system:serviceaccount:<ns>:<name>`, `aud`, `exp`, `iat`,
//! `nbf`, `jti` and the private `kubernetes.io` claim); and the issuer's
//! discovery documents (`/.well-known/openid-configuration`,
//! `/openid/v1/jwks`). The signing key is the cluster's (ES256, shared by
//! every server through the cluster data); its key id is upstream's: the
//! base64url SHA-256 of the public key's DER.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use serde_json::{Value, json};
use skiff_api::{ApiError, Cause, meta};

use crate::handlers::{Ctx, parse_body, read};
use crate::response::Body;

type Result<T, E = ApiError> = std::result::Result<T, E>;

/// The issuer of tokens when none is configured (upstream's
/// `--service-account-issuer` as kubeadm sets it).
pub const DEFAULT_ISSUER: &str = "https://kubernetes.default.svc.cluster.local";

/// The DER prefix of a P-256 SubjectPublicKeyInfo before the 65-byte point.
const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

/// Why a signing key is unusable.
#[derive(Debug, thiserror::Error)]
#[error("service account signing key: {0}")]
pub struct KeyError(String);

/// The issuer: its signing key, key id and name.
pub struct TokenIssuer {
    key: EcdsaKeyPair,
    key_id: String,
    pub issuer: String,
}

/// A new P-256 signing key, PKCS#8 DER.
pub fn generate_key() -> std::result::Result<Vec<u8>, KeyError> {
    EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
        .map(|d| d.as_ref().to_vec())
        .map_err(|e| KeyError(e.to_string()))
}

impl std::fmt::Debug for TokenIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenIssuer")
            .field("issuer", &self.issuer)
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

impl TokenIssuer {
    /// From a PKCS#8 DER key.
    pub fn new(pkcs8: &[u8], issuer: &str) -> std::result::Result<Self, KeyError> {
        let key = EcdsaKeyPair::from_pkcs8(
            &ECDSA_P256_SHA256_FIXED_SIGNING,
            pkcs8,
            &SystemRandom::new(),
        )
        .map_err(|e| KeyError(e.to_string()))?;
        let mut der = P256_SPKI_PREFIX.to_vec();
        der.extend_from_slice(key.public_key().as_ref());
        let key_id = B64URL.encode(ring::digest::digest(&ring::digest::SHA256, &der));
        Ok(TokenIssuer {
            key,
            key_id,
            issuer: issuer.to_string(),
        })
    }

    /// The public key as a JWK (`/openid/v1/jwks`).
    pub fn jwk(&self) -> Value {
        let point = self.key.public_key().as_ref();
        json!({"use": "sig", "kty": "EC", "kid": self.key_id, "crv": "P-256", "alg": "ES256",
               "x": B64URL.encode(&point[1..33]), "y": B64URL.encode(&point[33..65])})
    }

    /// A signed JWT of `claims`.
    pub fn sign(&self, claims: &Value) -> Result<String> {
        let header = json!({"alg": "ES256", "kid": self.key_id});
        let input = format!(
            "{}.{}",
            B64URL.encode(header.to_string()),
            B64URL.encode(claims.to_string())
        );
        let sig = self
            .key
            .sign(&SystemRandom::new(), input.as_bytes())
            .map_err(|e| ApiError::internal(format!("signing a token: {e}")))?;
        Ok(format!("{input}.{}", B64URL.encode(sig.as_ref())))
    }
}

impl TokenIssuer {
    /// The claims of a token this issuer signed, when its signature, issuer,
    /// validity period and audience check out (upstream's JWT token
    /// authenticator before it looks at the stored objects). `audiences`:
    /// the API server's (its issuer by default, as upstream's
    /// `--api-audiences`).
    pub fn verify(&self, token: &str, audiences: &[&str]) -> Option<Value> {
        use ring::signature::{ECDSA_P256_SHA256_FIXED, UnparsedPublicKey};
        let mut parts = token.split('.');
        let (header, claims, sig) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        let header: Value = serde_json::from_slice(&B64URL.decode(header).ok()?).ok()?;
        if header["alg"] != "ES256" {
            return None;
        }
        let input = &token[..token.len() - sig.len() - 1];
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, self.key.public_key().as_ref())
            .verify(input.as_bytes(), &B64URL.decode(sig).ok()?)
            .ok()?;
        let claims: Value = serde_json::from_slice(&B64URL.decode(claims).ok()?).ok()?;
        if claims["iss"] != self.issuer.as_str() {
            return None;
        }
        let now = chrono::Utc::now().timestamp();
        // Upstream's leeway for clock skew: a minute.
        if claims["exp"].as_i64().is_none_or(|exp| now >= exp + 60)
            || claims["nbf"].as_i64().is_some_and(|nbf| now < nbf - 60)
        {
            return None;
        }
        let aud = match &claims["aud"] {
            Value::String(a) => vec![a.as_str()],
            Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        aud.iter().any(|a| audiences.contains(a)).then_some(claims)
    }
}

/// The user a service account token stands for, once the objects it names
/// still exist as they were when it was issued (upstream's
/// `serviceaccount.Validator`): the service account with the same uid, and
/// the pod, secret or node it is bound to, none deleted more than a minute
/// ago. The audience is the API server's (its issuer).
pub async fn authenticate(server: &crate::ApiServer, token: &str) -> Option<crate::UserInfo> {
    let issuer = server.inner.token_issuer.as_ref()?;
    let audiences = [issuer.issuer.clone()];
    authenticate_for(server, token, &audiences)
        .await
        .map(|(user, _)| user)
}

/// [`authenticate`] for some of `audiences`; also the token's audiences
/// among them (TokenReview's `status.audiences`).
pub async fn authenticate_for(
    server: &crate::ApiServer,
    token: &str,
    audiences: &[String],
) -> Option<(crate::UserInfo, Vec<String>)> {
    let issuer = server.inner.token_issuer.as_ref()?;
    let wanted: Vec<&str> = audiences.iter().map(String::as_str).collect();
    let claims = issuer.verify(token, &wanted)?;
    let private = &claims["kubernetes.io"];
    let ns = private["namespace"].as_str()?;
    let sa_name = private.pointer("/serviceaccount/name")?.as_str()?;
    let sa_uid = private.pointer("/serviceaccount/uid")?.as_str()?;
    if claims["sub"] != format!("system:serviceaccount:{ns}:{sa_name}").as_str() {
        return None;
    }
    // Deleted objects keep their tokens valid for a minute, as upstream's
    // (a pod in its grace period still releases its lease).
    let invalid_before = chrono::Utc::now() - chrono::Duration::seconds(60);
    let live = |plural: &'static str, namespaced: bool, name: String, uid: String| async move {
        let obj = server
            .stored_core(plural, if namespaced { ns } else { "" }, &name)
            .await?;
        let deleted_long_ago = meta::deletion_timestamp(&obj)
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .is_some_and(|t| t < invalid_before);
        (meta::uid(&obj) == uid && !deleted_long_ago).then_some(())
    };
    live(
        "serviceaccounts",
        true,
        sa_name.to_string(),
        sa_uid.to_string(),
    )
    .await?;
    for (claim, plural, namespaced) in [
        ("pod", "pods", true),
        ("secret", "secrets", true),
        ("node", "nodes", false),
    ] {
        // A pod's token names its node for information only: only tokens
        // bound to the node itself end with it (upstream's validator).
        if claim == "node" && private.get("pod").is_some_and(Value::is_object) {
            continue;
        }
        if let Some(bound) = private.get(claim).filter(|b| b.is_object()) {
            let name = bound["name"].as_str()?.to_string();
            let uid = bound["uid"].as_str()?.to_string();
            live(plural, namespaced, name, uid).await?;
        }
    }
    let token_audiences: Vec<String> = match &claims["aud"] {
        Value::String(a) => vec![a.clone()],
        Value::Array(a) => a
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    };
    let matched = audiences
        .iter()
        .filter(|a| token_audiences.contains(a))
        .cloned()
        .collect();
    let mut user = crate::UserInfo::service_account(ns, sa_name, sa_uid);
    user.extra = token_extra(&claims);
    Some((user, matched))
}

/// The user extras a service account token carries (upstream's
/// `ServiceAccountInfo.UserInfo`): its pod, its node, its credential id.
fn token_extra(claims: &Value) -> std::collections::BTreeMap<String, Vec<String>> {
    let private = &claims["kubernetes.io"];
    let field = |claim: &str, f: &str| {
        private
            .pointer(&format!("/{claim}/{f}"))
            .and_then(Value::as_str)
            .filter(|v| !v.is_empty())
            .map(String::from)
    };
    let mut extra = std::collections::BTreeMap::new();
    if let (Some(pod), Some(uid)) = (field("pod", "name"), field("pod", "uid")) {
        extra.insert(POD_NAME_KEY.to_string(), vec![pod]);
        extra.insert(POD_UID_KEY.to_string(), vec![uid]);
    }
    if let Some(jti) = claims["jti"].as_str().filter(|j| !j.is_empty()) {
        extra.insert(CREDENTIAL_ID_KEY.to_string(), vec![credential_id(jti)]);
    }
    if let Some(node) = field("node", "name") {
        extra.insert(NODE_NAME_KEY.to_string(), vec![node]);
        if let Some(uid) = field("node", "uid") {
            extra.insert(NODE_UID_KEY.to_string(), vec![uid]);
        }
    }
    extra
}

/// Upstream's user extra keys of service account tokens.
const POD_NAME_KEY: &str = "authentication.kubernetes.io/pod-name";
const POD_UID_KEY: &str = "authentication.kubernetes.io/pod-uid";
const NODE_NAME_KEY: &str = "authentication.kubernetes.io/node-name";
const NODE_UID_KEY: &str = "authentication.kubernetes.io/node-uid";
const CREDENTIAL_ID_KEY: &str = "authentication.kubernetes.io/credential-id";
/// The audit annotation naming the credential a TokenRequest issued.
const ISSUED_CREDENTIAL_ID_KEY: &str = "authentication.kubernetes.io/issued-credential-id";

/// Upstream's `CredentialIDForJTI`.
fn credential_id(jti: &str) -> String {
    format!("JTI={jti}")
}

/// `/.well-known/openid-configuration` for a server reached at `host`.
pub fn discovery(issuer: &TokenIssuer, host: &str) -> Value {
    json!({"issuer": issuer.issuer, "jwks_uri": format!("https://{host}/openid/v1/jwks"),
           "response_types_supported": ["id_token"], "subject_types_supported": ["public"],
           "id_token_signing_alg_values_supported": ["ES256"]})
}

/// `/openid/v1/jwks`.
pub fn jwks(issuer: &TokenIssuer) -> Value {
    json!({"keys": [issuer.jwk()]})
}

fn invalid(causes: Vec<Cause>) -> ApiError {
    ApiError::invalid("authentication.k8s.io", "TokenRequest", "", causes)
}

/// The object a token is bound to: (claim name, object's name and uid).
async fn bound_object(
    ctx: &Ctx<'_>,
    reference: &Value,
    service_account: &str,
) -> Result<Option<(&'static str, Value)>> {
    if reference.is_null() {
        return Ok(None);
    }
    let kind = reference["kind"].as_str().unwrap_or("");
    let name = reference["name"].as_str().unwrap_or("");
    let (claim, plural, namespace) = match kind {
        "Pod" => ("pod", "pods", ctx.namespace()),
        "Secret" => ("secret", "secrets", ctx.namespace()),
        "Node" => ("node", "nodes", ""),
        other => {
            let api_version = reference["apiVersion"].as_str().unwrap_or("");
            let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
            return Err(ApiError::bad_request(format!(
                "cannot bind token to object of type {group}/{version}, Kind={other}"
            )));
        }
    };
    let res = ctx
        .server
        .inner
        .registry
        .resource("", "v1", plural)
        .ok_or_else(|| ApiError::internal(format!("no resource {plural}")))?;
    let (obj, _) = crate::registry::store::Store::new(ctx.server, &res, namespace)
        .get(name)
        .await?;
    if claim == "pod"
        && obj
            .pointer("/spec/serviceAccountName")
            .and_then(Value::as_str)
            != Some(service_account)
    {
        return Err(ApiError::bad_request(format!(
            "cannot bind token for serviceaccount {service_account:?} to pod running with different serviceaccount name."
        )));
    }
    let uid = meta::uid(&obj).to_string();
    if let Some(want) = reference["uid"].as_str().filter(|u| !u.is_empty())
        && want != uid
    {
        return Err(ApiError::conflict(
            "",
            &format!("{}s", kind.to_lowercase()),
            name,
            &format!(
                "the UID in the bound object reference ({want}) does not match the UID in record. The object might have been deleted and then recreated"
            ),
        ));
    }
    let mut reference = json!({"name": name, "uid": uid});
    if claim == "pod"
        && let Some(node_name) = obj
            .pointer("/spec/nodeName")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
        && let Some(node) = ctx.server.cached_core("nodes", "", node_name).await
    {
        reference["node"] = json!({"name": node_name, "uid": meta::uid(&node)});
    }
    Ok(Some((claim, reference)))
}

/// POST `serviceaccounts/<name>/token`.
pub async fn create_token(ctx: &Ctx<'_>, body: &[u8]) -> Result<http::Response<Body>> {
    let issuer = ctx
        .server
        .inner
        .token_issuer
        .as_ref()
        .ok_or_else(|| ApiError::internal("no service account signing key is configured"))?;
    let mut request = parse_body(ctx, body)?;
    use crate::admission::Operation;
    crate::admission::admit(ctx, Operation::Create, &mut request, None).await?;
    crate::admission::validate(ctx, Operation::Create, Some(&request), None).await?;
    let (sa, _) = read(ctx, &ctx.info.name).await?;
    let expiration = request
        .pointer("/spec/expirationSeconds")
        .and_then(Value::as_i64)
        .unwrap_or(3600);
    let mut causes = Vec::new();
    if expiration < 600 {
        causes.push(Cause::invalid(
            "spec.expirationSeconds",
            &json!(expiration),
            "may not specify a duration less than 10 minutes",
        ));
    } else if expiration > 1 << 32 {
        causes.push(Cause::invalid(
            "spec.expirationSeconds",
            &json!(expiration),
            "may not specify a duration larger than 2^32 seconds",
        ));
    }
    if !causes.is_empty() {
        return Err(invalid(causes));
    }
    let audiences = match request.pointer("/spec/audiences").and_then(Value::as_array) {
        Some(a) if !a.is_empty() => Value::Array(a.clone()),
        _ => json!([issuer.issuer]),
    };
    let bound = bound_object(
        ctx,
        request
            .pointer("/spec/boundObjectRef")
            .unwrap_or(&Value::Null),
        meta::name(&sa),
    )
    .await?;
    let now = chrono::Utc::now();
    let exp = now + chrono::Duration::seconds(expiration);
    let ns = ctx.namespace();
    let name = meta::name(&sa);
    let mut private =
        json!({"namespace": ns, "serviceaccount": {"name": name, "uid": meta::uid(&sa)}});
    if let Some((claim, obj)) = &bound {
        private[*claim] = obj.clone();
    }
    // A pod's token names the pod's node too, when it has one that exists
    // (upstream's ServiceAccountTokenPodNodeInfo; optional, as upstream's).
    if let Some(("pod", pod)) = &bound
        && let Some(node) = pod.get("node")
    {
        private["node"] = node.clone();
    }
    if let Some(obj) = private.get_mut("pod").and_then(Value::as_object_mut) {
        obj.remove("node");
    }
    let jti = meta::new_uid();
    let claims = json!({
        "aud": audiences, "exp": exp.timestamp(), "iat": now.timestamp(), "iss": issuer.issuer,
        "jti": jti, "kubernetes.io": private, "nbf": now.timestamp(),
        "sub": format!("system:serviceaccount:{ns}:{name}"),
    });
    ctx.audit_annotations
        .lock()
        .expect("audit annotations")
        .push((ISSUED_CREDENTIAL_ID_KEY.to_string(), credential_id(&jti)));
    let token = issuer.sign(&claims)?;
    request["apiVersion"] = json!("authentication.k8s.io/v1");
    request["kind"] = json!("TokenRequest");
    request["metadata"] = json!({"name": name, "namespace": ns, "creationTimestamp": null});
    request["spec"]["audiences"] = audiences;
    request["spec"]["expirationSeconds"] = json!(expiration);
    if request.pointer("/spec/boundObjectRef").is_none() {
        request["spec"]["boundObjectRef"] = Value::Null;
    }
    request["status"] = json!({"token": token, "expirationTimestamp": exp.format("%Y-%m-%dT%H:%M:%SZ").to_string()});
    Ok(crate::response::json(201, &request))
}

#[cfg(test)]
mod tests {
    use ring::signature::{ECDSA_P256_SHA256_FIXED, UnparsedPublicKey};

    use super::*;

    #[test]
    fn tokens_verify_with_the_published_key() {
        let issuer = TokenIssuer::new(&generate_key().unwrap(), DEFAULT_ISSUER).unwrap();
        let token = issuer
            .sign(&json!({"sub": "system:serviceaccount:ns:sa"}))
            .unwrap();
        let parts: Vec<&str> = token.split('.').collect();
        assert_eq!(parts.len(), 3);
        let header: Value = serde_json::from_slice(&B64URL.decode(parts[0]).unwrap()).unwrap();
        let jwk = &jwks(&issuer)["keys"][0];
        assert_eq!(header["kid"], jwk["kid"]);
        assert_eq!(header["alg"], "ES256");
        let mut point = vec![4u8];
        point.extend(B64URL.decode(jwk["x"].as_str().unwrap()).unwrap());
        point.extend(B64URL.decode(jwk["y"].as_str().unwrap()).unwrap());
        let input = format!("{}.{}", parts[0], parts[1]);
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &point)
            .verify(input.as_bytes(), &B64URL.decode(parts[2]).unwrap())
            .expect("the signature verifies");
        assert_eq!(
            discovery(&issuer, "h:6443")["jwks_uri"],
            "https://h:6443/openid/v1/jwks"
        );
    }

    #[test]
    fn tokens_are_verified_by_signature_issuer_time_and_audience() {
        let issuer = TokenIssuer::new(&generate_key().unwrap(), DEFAULT_ISSUER).unwrap();
        let other = TokenIssuer::new(&generate_key().unwrap(), DEFAULT_ISSUER).unwrap();
        let now = chrono::Utc::now().timestamp();
        let claims = |iss: &str, exp: i64, aud: Value| json!({"iss": iss, "exp": exp, "nbf": now, "aud": aud, "sub": "system:serviceaccount:ns:sa"});
        let auds = [DEFAULT_ISSUER];
        let good = issuer
            .sign(&claims(DEFAULT_ISSUER, now + 600, json!([DEFAULT_ISSUER])))
            .unwrap();
        assert!(issuer.verify(&good, &auds).is_some());
        // Another key, another issuer, expired, another audience, tampered.
        let forged = other
            .sign(&claims(DEFAULT_ISSUER, now + 600, json!([DEFAULT_ISSUER])))
            .unwrap();
        assert!(issuer.verify(&forged, &auds).is_none());
        let foreign = issuer
            .sign(&claims(
                "https://elsewhere",
                now + 600,
                json!([DEFAULT_ISSUER]),
            ))
            .unwrap();
        assert!(issuer.verify(&foreign, &auds).is_none());
        let expired = issuer
            .sign(&claims(DEFAULT_ISSUER, now - 120, json!([DEFAULT_ISSUER])))
            .unwrap();
        assert!(issuer.verify(&expired, &auds).is_none());
        let vault = issuer
            .sign(&claims(DEFAULT_ISSUER, now + 600, json!(["vault"])))
            .unwrap();
        assert!(issuer.verify(&vault, &auds).is_none());
        let mut parts: Vec<String> = good.split('.').map(str::to_string).collect();
        parts[1] =
            B64URL.encode(claims(DEFAULT_ISSUER, now + 6000, json!([DEFAULT_ISSUER])).to_string());
        assert!(issuer.verify(&parts.join("."), &auds).is_none());
        assert!(issuer.verify("not.a.token", &auds).is_none());
        assert!(issuer.verify("", &auds).is_none());
    }
}
