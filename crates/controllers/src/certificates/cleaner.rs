//! The CSR cleaner, as upstream's `csrcleaner` controller
//! (`pkg/controller/certificates/cleaner/cleaner.go`): once an hour, every
//! CertificateSigningRequest is deleted that was issued (approved with a
//! certificate) more than an hour ago, denied or failed more than an hour
//! ago, left pending for a day, or whose certificate has expired — so that
//! automatically made and approved requests do not pile up.

use std::future::Future;
use std::time::Duration;

use chrono::{DateTime, Utc};
use k8s_openapi::api::certificates::v1::CertificateSigningRequest;
use kube::api::{Api, DeleteParams, ListParams};

use super::{has_certificate, has_condition};
use crate::Error;

/// How often every request is checked.
pub const POLLING_INTERVAL: Duration = Duration::from_secs(3600);
/// How long issued, denied and failed requests are kept.
const HANDLED_EXPIRATION: chrono::TimeDelta = chrono::TimeDelta::hours(1);
/// How long a request nobody handled is kept.
const PENDING_EXPIRATION: chrono::TimeDelta = chrono::TimeDelta::hours(24);

/// Cleans every [`POLLING_INTERVAL`] until `shutdown`.
pub async fn run(client: crate::ControllerClient, shutdown: impl Future<Output = ()> + Send) {
    tokio::pin!(shutdown);
    let mut tick = tokio::time::interval(POLLING_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = &mut shutdown => return,
            _ = tick.tick() => {
                if let Err(e) = clean(&client, Utc::now()).await {
                    tracing::warn!(error = %e, "csr cleaner: unable to list CSRs");
                }
            }
        }
    }
}

/// One pass at `now`: deletes what is due; returns the names deleted.
pub async fn clean(
    client: &crate::ControllerClient,
    now: DateTime<Utc>,
) -> Result<Vec<String>, Error> {
    let read: Api<CertificateSigningRequest> = Api::all(client.read.clone());
    let write: Api<CertificateSigningRequest> = Api::all(client.write.clone());
    let mut deleted = Vec::new();
    for csr in read.list(&ListParams::default()).await?.items {
        let name = csr.metadata.name.clone().unwrap_or_default();
        let why = match due(&csr, now) {
            Ok(Some(why)) => why,
            Ok(None) => continue,
            Err(e) => {
                tracing::warn!(csr = %name, error = %e, "csr cleaner: unable to check the request");
                continue;
            }
        };
        tracing::info!(csr = %name, reason = why, "cleaning CSR");
        match write.delete(&name, &DeleteParams::default()).await {
            Ok(_) => deleted.push(name),
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(e) => tracing::warn!(csr = %name, error = %e, "csr cleaner: unable to delete"),
        }
    }
    Ok(deleted)
}

/// Why a request is due for deletion at `now` (None: not yet), in
/// upstream's order of checks.
pub fn due(
    csr: &CertificateSigningRequest,
    now: DateTime<Utc>,
) -> Result<Option<&'static str>, String> {
    let conditions = csr
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_deref())
        .unwrap_or(&[]);
    let older = |t: Option<&k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>,
                 by: chrono::TimeDelta| {
        t.is_some_and(|t| now.timestamp() - t.0.as_second() > by.num_seconds())
    };
    let issued = has_certificate(csr);
    // First, as upstream: a certificate that does not parse stops the check.
    let issued_expired = issued && expired(csr, now)? && has_condition(csr, "Approved");
    let past = |kind: &str| {
        conditions
            .iter()
            .any(|c| c.type_ == kind && older(c.last_update_time.as_ref(), HANDLED_EXPIRATION))
    };
    if issued && past("Approved") {
        return Ok(Some("approved and issued more than an hour ago"));
    }
    if past("Denied") {
        return Ok(Some("denied more than an hour ago"));
    }
    if past("Failed") {
        return Ok(Some("failed more than an hour ago"));
    }
    if conditions.is_empty() && older(csr.metadata.creation_timestamp.as_ref(), PENDING_EXPIRATION)
    {
        return Ok(Some("pending for more than a day"));
    }
    if issued_expired {
        return Ok(Some("its certificate has expired"));
    }
    Ok(None)
}

/// Whether the issued certificate's `NotAfter` has passed.
fn expired(csr: &CertificateSigningRequest, now: DateTime<Utc>) -> Result<bool, String> {
    let Some(pem) = csr.status.as_ref().and_then(|s| s.certificate.as_ref()) else {
        return Ok(false);
    };
    let (_, block) = x509_parser::pem::parse_x509_pem(&pem.0).map_err(|_| {
        "expected the certificate associated with the CSR to be PEM encoded".to_string()
    })?;
    let cert = block
        .parse_x509()
        .map_err(|e| format!("unable to parse certificate data: {e}"))?;
    Ok(now.timestamp() > cert.validity().not_after.timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::ByteString;
    use k8s_openapi::api::certificates::v1::{
        CertificateSigningRequestCondition, CertificateSigningRequestStatus,
    };
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    fn time(t: DateTime<Utc>) -> Time {
        Time(k8s_openapi::jiff::Timestamp::from_second(t.timestamp()).unwrap())
    }

    fn csr(
        created: DateTime<Utc>,
        conditions: &[(&str, DateTime<Utc>)],
        cert: bool,
    ) -> CertificateSigningRequest {
        let mut c = CertificateSigningRequest::default();
        c.metadata.creation_timestamp = Some(time(created));
        c.status = Some(CertificateSigningRequestStatus {
            conditions: Some(
                conditions
                    .iter()
                    .map(|(t, at)| CertificateSigningRequestCondition {
                        type_: t.to_string(),
                        status: "True".into(),
                        last_update_time: Some(time(*at)),
                        ..Default::default()
                    })
                    .collect(),
            ),
            certificate: cert.then(|| ByteString(b"not a certificate".to_vec())),
        });
        c
    }

    /// A self-signed certificate valid until `not_after` seconds from now.
    fn certificate(not_after: i64) -> Vec<u8> {
        let mut params = rcgen::CertificateParams::new(vec!["n".to_string()]).unwrap();
        let now = time::OffsetDateTime::now_utc();
        params.not_before = now - time::Duration::hours(2);
        params.not_after = now + time::Duration::seconds(not_after);
        let key = rcgen::KeyPair::generate().unwrap();
        params.self_signed(&key).unwrap().pem().into_bytes()
    }

    #[test]
    fn what_is_due_as_upstream() {
        let now = Utc::now();
        let ago = |m: i64| now - chrono::TimeDelta::minutes(m);
        // Pending: kept a day.
        assert_eq!(due(&csr(ago(23 * 60), &[], false), now), Ok(None));
        assert_eq!(
            due(&csr(ago(25 * 60), &[], false), now),
            Ok(Some("pending for more than a day"))
        );
        // Issued: kept an hour after approval; approved without a certificate stays.
        let issued = |approved: DateTime<Utc>, not_after: i64| {
            let mut c = csr(ago(120), &[("Approved", approved)], false);
            c.status.as_mut().unwrap().certificate = Some(ByteString(certificate(not_after)));
            c
        };
        assert_eq!(
            due(&issued(ago(61), 3600), now),
            Ok(Some("approved and issued more than an hour ago"))
        );
        assert_eq!(due(&issued(ago(5), 3600), now), Ok(None));
        // An expired certificate goes at once.
        assert_eq!(
            due(&issued(ago(5), -60), now),
            Ok(Some("its certificate has expired"))
        );
        assert_eq!(
            due(&csr(ago(120), &[("Approved", ago(59))], false), now),
            Ok(None)
        );
        assert_eq!(
            due(&csr(ago(26 * 60), &[("Approved", ago(61))], false), now),
            Ok(None)
        );
        // Denied and failed: an hour.
        assert_eq!(
            due(&csr(ago(120), &[("Denied", ago(90))], false), now),
            Ok(Some("denied more than an hour ago"))
        );
        assert_eq!(
            due(&csr(ago(120), &[("Failed", ago(90))], false), now),
            Ok(Some("failed more than an hour ago"))
        );
        // A certificate that does not parse is reported, not deleted.
        assert!(due(&csr(ago(10), &[("Approved", ago(5))], true), now).is_err());
        assert!(due(&csr(ago(120), &[("Approved", ago(90))], true), now).is_err());
    }

    /// A pass against a real API server deletes what is due, and only that.
    #[tokio::test]
    async fn a_pass_deletes_what_is_due() {
        use kube::api::PostParams;
        let dir = tempfile::tempdir().unwrap();
        let store = std::sync::Arc::new(
            skiff_store::sqlite::SqliteStore::open(dir.path().join("state.db"), Default::default())
                .await
                .unwrap(),
        );
        let server = skiff_apiserver::ApiServer::new(store, Default::default());
        let admin = server.client();
        let client = crate::ControllerClient {
            read: admin.clone(),
            write: admin.clone(),
        };
        let api: Api<CertificateSigningRequest> = Api::all(admin);
        let pem = super::super::tests::csr_pem("system:node:n1", &["system:nodes"], &[]);
        let request: CertificateSigningRequest = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "old"},
            "spec": {"request": base64::Engine::encode(&base64::engine::general_purpose::STANDARD, pem),
                     "signerName": "kubernetes.io/kube-apiserver-client-kubelet",
                     "usages": ["client auth", "digital signature"]},
        }))
        .unwrap();
        api.create(&PostParams::default(), &request).await.unwrap();
        assert!(clean(&client, Utc::now()).await.unwrap().is_empty());
        let tomorrow = Utc::now() + chrono::TimeDelta::hours(25);
        assert_eq!(clean(&client, tomorrow).await.unwrap(), ["old"]);
        assert!(
            api.list(&ListParams::default())
                .await
                .unwrap()
                .items
                .is_empty()
        );
    }
}
