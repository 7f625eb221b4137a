//! The cluster's shared secrets, kept in the datastore so that every server on
//! the same store serves the same cluster (k3s's "bootstrap data"): the
//! cluster CA (certificate and key), from which each server issues its own
//! serving certificate and the admin's client certificate, and the service
//! account signing key, so that a token one server issues verifies on all.
//!
//! The record lives at `/bootstrap/data`, encrypted with AES-256-GCM (its key
//! name as associated data) under a key derived from the server token by
//! PBKDF2-HMAC-SHA256 with a random salt, so the store (an etcd shared with
//! others, a backup) never holds the CA key in the clear, nor anything that
//! checks a guessed token faster than the key derivation. The token is
//! `--token` / `SKIFF_TOKEN`, else `<data-dir>/token`, generated on first start
//! as k3s does. A server whose token does not open the record refuses to start
//! rather than serve a second cluster on the same data.

use std::num::NonZeroU32;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::Bytes;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Serialize};
use skiff_store::{Outcome, Store};

const PBKDF2_ROUNDS: u32 = 100_000;
const SALT_LEN: usize = 16;

/// Why the cluster data could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum ClusterDataError {
    #[error("store: {0}")]
    Store(#[from] skiff_store::StoreError),
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the datastore holds the data of a cluster started with another token ({key}); \
         start this server with that cluster's --token (its first server's <data-dir>/token)"
    )]
    OtherCluster { key: String },
    #[error("{key}: {why}")]
    Corrupt { key: String, why: String },
    #[error("no random numbers from the system")]
    Random,
}

/// The shared secrets.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterData {
    pub ca_cert_pem: String,
    pub ca_key_pem: String,
    /// The service account signing key, PKCS#8 DER in base64 (absent from
    /// records written before it existed: added on the next start).
    #[serde(default)]
    pub service_account_key: String,
}

/// The stored form of a record.
#[derive(Serialize, Deserialize)]
struct Sealed {
    salt: String,
    nonce: String,
    ciphertext: String,
}

/// The server token: `configured` if given (and written to
/// `<data-dir>/token` when that is absent, so a later start without it finds
/// it, as k3s keeps it), else the one in `<data-dir>/token`, else a new random
/// one written there (mode 0600).
pub fn token(configured: Option<&str>, data_dir: &Path) -> Result<String, ClusterDataError> {
    let path = data_dir.join("token");
    let io = |source| ClusterDataError::Io {
        path: path.display().to_string(),
        source,
    };
    if let Some(t) = configured.filter(|t| !t.is_empty()) {
        if !path.exists() {
            skiff_apiserver::pki::write_file(&path, &format!("{t}\n"), true).map_err(io)?;
        }
        return Ok(t.to_string());
    }
    match std::fs::read_to_string(&path) {
        Ok(t) if !t.trim().is_empty() => return Ok(t.trim().to_string()),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(e)),
    }
    let mut raw = [0u8; 24];
    SystemRandom::new()
        .fill(&mut raw)
        .map_err(|_| ClusterDataError::Random)?;
    let token: String = raw.iter().map(|b| format!("{b:02x}")).collect();
    skiff_apiserver::pki::write_file(&path, &format!("{token}\n"), true).map_err(io)?;
    Ok(token)
}

/// The store key of the record.
pub const KEY: &str = "/bootstrap/data";

fn derive(token: &str, salt: &[u8]) -> LessSafeKey {
    let mut key = [0u8; 32];
    ring::pbkdf2::derive(
        ring::pbkdf2::PBKDF2_HMAC_SHA256,
        NonZeroU32::new(PBKDF2_ROUNDS).expect("non-zero"),
        salt,
        token.as_bytes(),
        &mut key,
    );
    LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &key).expect("32-byte key"))
}

/// Encrypts `data` under `token`.
pub fn seal(token: &str, data: &ClusterData) -> Result<Vec<u8>, ClusterDataError> {
    let rng = SystemRandom::new();
    let mut salt = [0u8; SALT_LEN];
    let mut nonce = [0u8; NONCE_LEN];
    rng.fill(&mut salt).map_err(|_| ClusterDataError::Random)?;
    rng.fill(&mut nonce).map_err(|_| ClusterDataError::Random)?;
    let mut buf = serde_json::to_vec(data).expect("JSON");
    derive(token, &salt)
        .seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(KEY.as_bytes()),
            &mut buf,
        )
        .map_err(|_| ClusterDataError::Random)?;
    Ok(serde_json::to_vec(&Sealed {
        salt: B64.encode(salt),
        nonce: B64.encode(nonce),
        ciphertext: B64.encode(buf),
    })
    .expect("JSON"))
}

/// Decrypts a record written by [`seal`] under `token`.
pub fn open(token: &str, key: &str, sealed: &[u8]) -> Result<ClusterData, ClusterDataError> {
    let corrupt = |why: &str| ClusterDataError::Corrupt {
        key: key.to_string(),
        why: why.to_string(),
    };
    let sealed: Sealed = serde_json::from_slice(sealed).map_err(|e| corrupt(&e.to_string()))?;
    let salt = B64.decode(&sealed.salt).map_err(|_| corrupt("bad salt"))?;
    let nonce: [u8; NONCE_LEN] = B64
        .decode(&sealed.nonce)
        .ok()
        .and_then(|n| n.try_into().ok())
        .ok_or_else(|| corrupt("bad nonce"))?;
    let mut buf = B64
        .decode(&sealed.ciphertext)
        .map_err(|_| corrupt("bad ciphertext"))?;
    let plain = derive(token, &salt)
        .open_in_place(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(KEY.as_bytes()),
            &mut buf,
        )
        .map_err(|_| ClusterDataError::OtherCluster {
            key: key.to_string(),
        })?;
    // The decoder's error could quote secret text: a fixed message.
    serde_json::from_slice(plain).map_err(|_| corrupt("undecodable record"))
}

/// The cluster's data: the record in the store if there is one; else
/// `candidate` (what this data directory already holds, on the first start
/// after an upgrade, or newly generated), written to the store unless another
/// server got there first, in which case that server's data wins.
pub async fn shared(
    store: &dyn Store,
    token: &str,
    candidate: ClusterData,
) -> Result<ClusterData, ClusterDataError> {
    let key = KEY.to_string();
    for _ in 0..5 {
        let (_, existing) = store.get(&key, 0).await?;
        if let Some(kv) = existing {
            let mut data = open(token, &key, &kv.value)?;
            if !data.service_account_key.is_empty() {
                return Ok(data);
            }
            // A record from before the signing key: this server's key is added.
            data.service_account_key = candidate.service_account_key.clone();
            let sealed = Bytes::from(seal(token, &data)?);
            if let Outcome::Written { .. } =
                store.update(&key, sealed, kv.mod_revision, None).await?
            {
                return Ok(data);
            }
            continue;
        }
        match store
            .create(&key, Bytes::from(seal(token, &candidate)?), None)
            .await?
        {
            Outcome::Written { .. } => return Ok(candidate),
            // Another server created it first: read theirs.
            Outcome::Failed { .. } => continue,
        }
    }
    Err(ClusterDataError::Corrupt {
        key,
        why: "written concurrently five times in a row".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data() -> ClusterData {
        ClusterData {
            ca_cert_pem: "cert".into(),
            ca_key_pem: "key".into(),
            service_account_key: "sa".into(),
        }
    }

    #[test]
    fn sealed_data_opens_with_its_token_only() {
        let sealed = seal("t0k3n", &data()).unwrap();
        assert!(!String::from_utf8_lossy(&sealed).contains("key\""));
        assert_eq!(open("t0k3n", "k", &sealed).unwrap(), data());
        assert!(matches!(
            open("other", "k", &sealed),
            Err(ClusterDataError::OtherCluster { .. })
        ));
        assert!(matches!(
            open("t0k3n", "k", b"not json"),
            Err(ClusterDataError::Corrupt { .. })
        ));
    }

    #[test]
    fn a_token_is_generated_once_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let first = token(None, dir.path()).unwrap();
        assert_eq!(first.len(), 48);
        assert_eq!(token(None, dir.path()).unwrap(), first);
        assert_eq!(token(Some("given"), dir.path()).unwrap(), "given");
        assert_eq!(token(Some(""), dir.path()).unwrap(), first);
        let other = tempfile::tempdir().unwrap();
        assert_eq!(token(Some("flag"), other.path()).unwrap(), "flag");
        assert_eq!(
            token(None, other.path()).unwrap(),
            "flag",
            "a given token is kept"
        );
    }
}
