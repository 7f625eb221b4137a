//! Admission, as upstream's chain (`k8s.io/apiserver/pkg/admission`): on
//! create, update and delete every plugin of [`plugins`], in upstream's
//! order (`pkg/kubeapiserver/options/plugins.go`), first mutates the object
//! (before the strategy prepares and validates it), then validates it
//! (after the strategy's validation, before the store). A plugin sees
//! upstream's `admission.Attributes`: the operation, the resource and
//! subresource, namespace, name, user, dry run, the object and the stored
//! one. Webhooks, LimitRanger and ResourceQuota take their places in the
//! same chain when they exist.
//!
//! What upstream does in a resource's storage rather than in admission
//! (Services' allocations, RBAC's escalation checks, a CSR's requester) is
//! the resource's `registry::rest` module.

mod certificates;
pub mod config;
mod default_toleration_seconds;
mod node_restriction;
mod pod_security;
mod priority;
mod service_account;
mod storage_object_in_use_protection;

use serde_json::Value;
use skiff_api::ApiError;

pub use config::AdmissionConfig;

use crate::UserInfo;
use crate::handlers::Ctx;

type Result<T, E = ApiError> = std::result::Result<T, E>;

/// What a request does to an object, as upstream's `admission.Operation`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    Create,
    Update,
    Delete,
}

impl Operation {
    /// Upstream's spelling (audit annotations, webhooks' AdmissionReview).
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Create => "CREATE",
            Operation::Update => "UPDATE",
            Operation::Delete => "DELETE",
        }
    }
}

/// One request as admission sees it (upstream's `admission.Attributes`).
pub struct Attributes<'a, 'c> {
    pub ctx: &'a Ctx<'c>,
    pub operation: Operation,
    /// The stored object, on update and delete.
    pub old: Option<&'a Value>,
}

impl Attributes<'_, '_> {
    /// Whether the request is for `group`'s `plural` (any subresource).
    pub fn is(&self, group: &str, plural: &str) -> bool {
        self.ctx.res.def.group == group && self.ctx.res.def.plural == plural
    }

    pub fn subresource(&self) -> &str {
        &self.ctx.info.subresource
    }

    pub fn namespace(&self) -> &str {
        self.ctx.namespace()
    }

    /// The object's name (empty on a create that generates it).
    pub fn name(&self) -> &str {
        &self.ctx.info.name
    }

    pub fn user(&self) -> &UserInfo {
        self.ctx.user
    }

    pub fn dry_run(&self) -> bool {
        self.ctx.dry_run()
    }
}

/// An admission plugin: mutating, validating or both (upstream's
/// `MutationInterface` and `ValidationInterface`); each says by itself which
/// requests it handles.
#[async_trait::async_trait]
pub trait Plugin: Send + Sync {
    /// Upstream's name for it (`--enable-admission-plugins`).
    fn name(&self) -> &'static str;

    /// Changes the object before the strategy prepares and validates it.
    async fn admit(&self, _a: &Attributes<'_, '_>, _obj: &mut Value) -> Result<()> {
        Ok(())
    }

    /// Refuses a request after the strategy validated it; `obj` is None on
    /// delete.
    async fn validate(&self, _a: &Attributes<'_, '_>, _obj: Option<&Value>) -> Result<()> {
        Ok(())
    }
}

/// Every plugin Skiff has, in upstream's order; all are on unless
/// `--disable-admission-plugins` names them.
pub const PLUGINS: &[&str] = &[
    "ServiceAccount",
    "NodeRestriction",
    "PodSecurity",
    "Priority",
    "DefaultTolerationSeconds",
    "StorageObjectInUseProtection",
    "CertificateApproval",
    "CertificateSigning",
    "CertificateSubjectRestriction",
];

fn plugin(name: &str, config: &AdmissionConfig) -> Option<Box<dyn Plugin>> {
    Some(match name {
        "ServiceAccount" => Box::new(service_account::ServiceAccount),
        "NodeRestriction" => Box::new(node_restriction::NodeRestriction),
        "PodSecurity" => Box::new(pod_security::PodSecurity::new(config.pod_security())),
        "Priority" => Box::new(priority::Priority),
        "DefaultTolerationSeconds" => {
            Box::new(default_toleration_seconds::DefaultTolerationSeconds)
        }
        "StorageObjectInUseProtection" => {
            Box::new(storage_object_in_use_protection::StorageObjectInUseProtection)
        }
        "CertificateApproval" => Box::new(certificates::CertificateApproval),
        "CertificateSigning" => Box::new(certificates::CertificateSigning),
        "CertificateSubjectRestriction" => Box::new(certificates::CertificateSubjectRestriction),
        _ => return None,
    })
}

/// Names in `--enable-admission-plugins` / `--disable-admission-plugins`
/// that are no plugin of Skiff's, in upstream's words.
pub fn check_names(flag: &str, names: &[String]) -> std::result::Result<(), String> {
    match names.iter().find(|n| !PLUGINS.contains(&n.as_str())) {
        Some(n) => Err(format!("{flag} plugin {n:?} is unknown")),
        None => Ok(()),
    }
}

/// The server's plugins, in order.
pub struct Chain(Vec<Box<dyn Plugin>>);

impl Chain {
    /// Every plugin but the disabled ones.
    pub fn new(disabled: &[String], config: &AdmissionConfig) -> Chain {
        Chain(
            PLUGINS
                .iter()
                .filter(|n| !disabled.iter().any(|d| d == *n))
                .filter_map(|n| plugin(n, config))
                .collect(),
        )
    }
}

fn refused(a: &Attributes<'_, '_>, plugin: &dyn Plugin, e: &ApiError) {
    tracing::debug!(
        plugin = plugin.name(),
        operation = a.operation.as_str(),
        resource = a.ctx.res.def.plural,
        subresource = a.subresource(),
        namespace = a.namespace(),
        name = a.name(),
        user = %a.user().name,
        dry_run = a.dry_run(),
        code = e.code,
        "admission refused the request"
    );
}

/// Runs the mutating half of the chain.
pub async fn admit(
    ctx: &Ctx<'_>,
    operation: Operation,
    obj: &mut Value,
    old: Option<&Value>,
) -> Result<()> {
    let a = Attributes {
        ctx,
        operation,
        old,
    };
    for plugin in &ctx.server.inner.admission.0 {
        plugin
            .admit(&a, obj)
            .await
            .inspect_err(|e| refused(&a, plugin.as_ref(), e))?;
    }
    Ok(())
}

/// Runs the validating half of the chain.
pub async fn validate(
    ctx: &Ctx<'_>,
    operation: Operation,
    obj: Option<&Value>,
    old: Option<&Value>,
) -> Result<()> {
    let a = Attributes {
        ctx,
        operation,
        old,
    };
    for plugin in &ctx.server.inner.admission.0 {
        plugin
            .validate(&a, obj)
            .await
            .inspect_err(|e| refused(&a, plugin.as_ref(), e))?;
    }
    Ok(())
}
