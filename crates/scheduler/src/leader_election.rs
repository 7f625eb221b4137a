//! Leader election on a `coordination.k8s.io` Lease (client-go's
//! `tools/leaderelection` with the `leases` lock, as kube-scheduler runs
//! it): a candidate takes the Lease when it is free or its holder has not
//! renewed it for `leaseDuration` (15 s, measured on the candidate's own
//! clock from when it last saw the record change), renews it every
//! `retryPeriod` (2 s) while leading, and stops leading when it could not
//! renew for `renewDeadline` (10 s). So that several schedulers (or several
//! `skiff server`s on one etcd) place each pod once.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, PostParams};
use tokio::time::Instant;

/// Upstream's defaults.
pub const LEASE_DURATION: Duration = Duration::from_secs(15);
pub const RENEW_DEADLINE: Duration = Duration::from_secs(10);
pub const RETRY_PERIOD: Duration = Duration::from_secs(2);

/// One candidate for one Lease.
pub struct LeaderElector {
    leases: Api<Lease>,
    name: String,
    /// `holderIdentity` (upstream: `<hostname>_<uuid>`).
    pub identity: String,
    pub lease_duration: Duration,
    pub renew_deadline: Duration,
    pub retry_period: Duration,
    /// The last record seen, and when (on this clock) it last changed.
    observed: Option<(LeaseSpec, Instant)>,
}

impl LeaderElector {
    pub fn new(client: kube::Client, namespace: &str, name: &str, identity: &str) -> LeaderElector {
        LeaderElector {
            leases: Api::namespaced(client, namespace),
            name: name.to_string(),
            identity: identity.to_string(),
            lease_duration: LEASE_DURATION,
            renew_deadline: RENEW_DEADLINE,
            retry_period: RETRY_PERIOD,
            observed: None,
        }
    }

    fn spec(&self, previous: Option<&LeaseSpec>) -> LeaseSpec {
        let now = MicroTime(Timestamp::now());
        let ours =
            previous.and_then(|p| p.holder_identity.as_deref()) == Some(self.identity.as_str());
        let transitions = previous.and_then(|p| p.lease_transitions).unwrap_or(0);
        LeaseSpec {
            holder_identity: Some(self.identity.clone()),
            lease_duration_seconds: Some(self.lease_duration.as_secs() as i32),
            acquire_time: if ours {
                previous.and_then(|p| p.acquire_time.clone())
            } else {
                Some(now.clone())
            },
            renew_time: Some(now),
            lease_transitions: Some(if ours || previous.is_none() {
                transitions
            } else {
                transitions + 1
            }),
            ..Default::default()
        }
    }

    /// One attempt to take or renew the Lease (client-go's
    /// `tryAcquireOrRenew`); whether this candidate leads now.
    pub async fn try_acquire_or_renew(&mut self) -> Result<bool, kube::Error> {
        let now = Instant::now();
        let current = match self.leases.get_opt(&self.name).await? {
            None => {
                let lease = Lease {
                    metadata: ObjectMeta {
                        name: Some(self.name.clone()),
                        ..Default::default()
                    },
                    spec: Some(self.spec(None)),
                };
                let created = self.leases.create(&PostParams::default(), &lease).await?;
                self.observed = created.spec.map(|s| (s, now));
                return Ok(true);
            }
            Some(l) => l,
        };
        let spec = current.spec.clone().unwrap_or_default();
        match &self.observed {
            Some((seen, _)) if *seen == spec => {}
            _ => self.observed = Some((spec.clone(), now)),
        }
        let holder = spec.holder_identity.as_deref().unwrap_or("");
        let ours = holder == self.identity;
        if !ours && !holder.is_empty() {
            let duration = spec
                .lease_duration_seconds
                .map(|s| Duration::from_secs(s.max(0) as u64))
                .unwrap_or(self.lease_duration);
            let changed_at = self.observed.as_ref().map(|(_, t)| *t).unwrap_or(now);
            if changed_at + duration > now {
                return Ok(false); // held by another, not expired
            }
        }
        let mut lease = current;
        lease.spec = Some(self.spec(Some(&spec)));
        let updated = self
            .leases
            .replace(&self.name, &PostParams::default(), &lease)
            .await?;
        self.observed = updated.spec.map(|s| (s, Instant::now()));
        Ok(true)
    }

    /// Gives the Lease up (client-go's `release`, as kube-scheduler does
    /// with `ReleaseOnCancel`): no holder, a 1 s duration, so that another
    /// candidate takes over at once.
    pub async fn release(&mut self) {
        let Ok(Some(mut lease)) = self.leases.get_opt(&self.name).await else {
            return;
        };
        let spec = lease.spec.get_or_insert_with(Default::default);
        if spec.holder_identity.as_deref() != Some(self.identity.as_str()) {
            return;
        }
        let now = MicroTime(Timestamp::now());
        spec.holder_identity = None;
        spec.lease_duration_seconds = Some(1);
        spec.renew_time = Some(now.clone());
        spec.acquire_time = Some(now);
        if let Err(e) = self
            .leases
            .replace(&self.name, &PostParams::default(), &lease)
            .await
        {
            tracing::debug!(lease = %self.name, error = %e, "releasing the lease");
        }
    }

    /// Waits until this candidate leads (retrying every `retryPeriod`).
    pub async fn acquire(&mut self) {
        loop {
            match self.try_acquire_or_renew().await {
                Ok(true) => return,
                Ok(false) => {}
                Err(e) => tracing::debug!(lease = %self.name, error = %e, "acquiring the lease"),
            }
            tokio::time::sleep(self.retry_period).await;
        }
    }

    /// Renews while leading; returns when a renewal could not succeed
    /// within `renewDeadline` (leadership lost).
    pub async fn renew_until_lost(&mut self) {
        let mut last_renew = Instant::now();
        loop {
            tokio::time::sleep(self.retry_period).await;
            match self.try_acquire_or_renew().await {
                Ok(true) => last_renew = Instant::now(),
                Ok(false) => return,
                Err(e) => tracing::debug!(lease = %self.name, error = %e, "renewing the lease"),
            }
            if last_renew.elapsed() > self.renew_deadline {
                return;
            }
        }
    }
}
