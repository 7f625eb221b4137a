//! The generic registry store (upstream's
//! `k8s.io/apiserver/pkg/registry/generic/registry.Store`): get, create,
//! update and delete of one resource's objects, with options structs and no
//! HTTP. It owns what happens between a decoded, admitted object and the key
//! value store: the strategy's hooks (`BeforeCreate`, `BeforeUpdate`),
//! system metadata, the namespace guard, optimistic concurrency, dry runs,
//! graceful deletion and finalizers. What the request brings — admission,
//! field managers, the registry hooks that allocate (Service addresses) —
//! reaches it through [`Hooks`].

use skiff_api::StatusReason;
use std::future::Future;

use bytes::Bytes;
use serde_json::{Value, json};
use skiff_api::strategy::UpdateVia;
use skiff_api::{ApiError, meta, validation};
use skiff_store::{Guard, Outcome};

use super::{Resource, decode, encode, store_error, with_resource_version};
use crate::ApiServer;
use crate::admission::Operation;
use crate::services::Allocation;

/// Why a write failed.
#[derive(Debug)]
pub enum Error {
    /// The object is not at the resource version the write was based on
    /// (upstream's "the object has been modified" Conflict): writers that
    /// sent no precondition read again and retry.
    Conflict(ApiError),
    /// Any other refusal, as the client sees it.
    Api(ApiError),
}

impl From<ApiError> for Error {
    fn from(e: ApiError) -> Self {
        Error::Api(e)
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        match e {
            Error::Conflict(e) | Error::Api(e) => e,
        }
    }
}

/// Upstream's `metav1.CreateOptions`, as the store needs them.
#[derive(Clone, Copy, Debug, Default)]
pub struct CreateOptions {
    /// Validate and admit, answer what would be stored, store nothing.
    pub dry_run: bool,
}

/// How an update was asked for: a replacement (PUT) or a patch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpdateMethod {
    Put,
    Patch,
}

/// Upstream's `metav1.UpdateOptions` plus what the store must know of the
/// request: the subresource's strategy and whether it replaces or patches.
#[derive(Clone, Copy, Debug)]
pub struct UpdateOptions {
    pub dry_run: bool,
    pub via: UpdateVia,
    pub method: UpdateMethod,
}

/// Upstream's `metav1.DeletionPropagation`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PropagationPolicy {
    Orphan,
    Background,
    Foreground,
}

/// Upstream's `metav1.Preconditions`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Preconditions {
    pub uid: Option<String>,
    pub resource_version: Option<String>,
}

/// Upstream's `metav1.DeleteOptions` (validated by the endpoint).
#[derive(Clone, Debug, Default)]
pub struct DeleteOptions {
    pub dry_run: bool,
    pub grace_period_seconds: Option<i64>,
    pub preconditions: Preconditions,
    /// `propagationPolicy`, or the deprecated `orphanDependents` read as one.
    pub propagation_policy: Option<PropagationPolicy>,
}

impl DeleteOptions {
    /// The options of a `DeleteOptions` object (its JSON form; `dryRun` is
    /// the caller's to check and set).
    pub fn from_value(v: &Value) -> DeleteOptions {
        let policy = match v.get("propagationPolicy").and_then(Value::as_str) {
            Some("Orphan") => Some(PropagationPolicy::Orphan),
            Some("Background") => Some(PropagationPolicy::Background),
            Some("Foreground") => Some(PropagationPolicy::Foreground),
            _ => v.get("orphanDependents").and_then(Value::as_bool).map(|o| {
                if o {
                    PropagationPolicy::Orphan
                } else {
                    PropagationPolicy::Background
                }
            }),
        };
        let pre = v.get("preconditions");
        let field = |f: &str| {
            pre.and_then(|p| p.get(f))
                .and_then(Value::as_str)
                .map(String::from)
        };
        DeleteOptions {
            dry_run: false,
            grace_period_seconds: v.get("gracePeriodSeconds").and_then(Value::as_i64),
            preconditions: Preconditions {
                uid: field("uid"),
                resource_version: field("resourceVersion"),
            },
            propagation_policy: policy,
        }
    }
}

/// What a request brings to a write: admission (mutating and validating),
/// the registry hooks beside it, and the field manager's record.
pub trait Hooks: Sync {
    /// Mutating admission of an update (creates are admitted before the
    /// store is called, as upstream's create handler does).
    fn admit(
        &self,
        operation: Operation,
        obj: &mut Value,
        old: Option<&Value>,
    ) -> impl Future<Output = Result<(), ApiError>> + Send;

    /// Validating admission (upstream's `createValidation`,
    /// `updateValidation`, `deleteValidation`).
    fn validate(
        &self,
        operation: Operation,
        obj: Option<&Value>,
        old: Option<&Value>,
    ) -> impl Future<Output = Result<(), ApiError>> + Send;

    /// What the resource's registry reserves for a written object (a
    /// Service's addresses and ports), committed once the write lands.
    fn allocate(
        &self,
        obj: &mut Value,
        old: Option<&Value>,
        via: UpdateVia,
    ) -> impl Future<Output = Result<Option<Allocation>, ApiError>> + Send;

    /// An object is gone from the store (its reservations are released).
    fn removed(&self, obj: &Value);

    /// Records the write in `metadata.managedFields` (keeping the stored
    /// object's entries when the written one has none).
    fn record_update(&self, old: Option<&Value>, obj: &mut Value, via: UpdateVia);
}

/// How often a write without a precondition is retried on a concurrent
/// change before it gives up (each retry means another writer succeeded).
pub const WRITE_ATTEMPTS: usize = 100;

/// Creates retried when the namespace changes between its check and the write.
const NAMESPACE_GUARD_ATTEMPTS: usize = 5;

/// Delete attempts when the object changes between its read and its write.
const DELETE_ATTEMPTS: usize = 5;

/// One resource's objects in one namespace ("" for cluster-scoped
/// resources and for all namespaces).
pub struct Store<'a> {
    pub(super) server: &'a ApiServer,
    pub(super) res: &'a Resource,
    pub(super) namespace: &'a str,
}

impl<'a> Store<'a> {
    pub fn new(server: &'a ApiServer, res: &'a Resource, namespace: &'a str) -> Self {
        let namespace = if res.def.namespaced { namespace } else { "" };
        Store {
            server,
            res,
            namespace,
        }
    }

    fn key(&self, name: &str) -> String {
        self.res.key(self.namespace, name)
    }

    fn not_found(&self, name: &str) -> ApiError {
        ApiError::not_found(self.res.def.group, self.res.def.plural, name)
    }

    fn modified(&self, name: &str) -> Error {
        Error::Conflict(ApiError::modified(
            self.res.def.group,
            self.res.def.plural,
            name,
        ))
    }

    /// The stored form of an object served by this resource.
    pub fn encode(&self, obj: &Value) -> Bytes {
        if skiff_api::conversion::converted(self.res.def) {
            encode(&skiff_api::conversion::to_storage(
                self.res.def,
                obj.clone(),
            ))
        } else {
            encode(obj)
        }
    }

    /// An object as stored (404 when there is none).
    async fn get_stored(&self, name: &str) -> Result<skiff_store::KeyValue, ApiError> {
        let (_, kv) = self
            .server
            .inner
            .store
            .get(&self.key(name), 0)
            .await
            .map_err(store_error)?;
        kv.ok_or_else(|| self.not_found(name))
    }

    /// An object as served, and its resource version.
    pub async fn get(&self, name: &str) -> Result<(Value, i64), ApiError> {
        let kv = self.get_stored(name).await?;
        let obj = decode(&kv.value, kv.mod_revision)?;
        Ok((
            skiff_api::conversion::from_storage(self.res.def, obj),
            kv.mod_revision,
        ))
    }

    /// An object's stored bytes as served (with its resource version).
    pub async fn get_bytes(&self, name: &str) -> Result<Bytes, ApiError> {
        let kv = self.get_stored(name).await?;
        Ok(with_resource_version(&kv.value, kv.mod_revision))
    }

    /// The store's latest revision (a list's resource version when it
    /// answers what a write left).
    pub async fn current_revision(&self) -> Result<i64, ApiError> {
        self.server
            .inner
            .store
            .current_revision()
            .await
            .map_err(store_error)
    }

    /// Every object of the resource in the namespace (in all of them when
    /// the store's namespace is ""), as served, at the latest revision.
    pub async fn list_all(&self) -> Result<Vec<Value>, ApiError> {
        let page = self
            .server
            .inner
            .store
            .list(skiff_store::ListRequest {
                prefix: self.res.namespace_prefix(self.namespace),
                ..Default::default()
            })
            .await
            .map_err(store_error)?;
        // An object that does not decode is passed over (and logged), not
        // allowed to stop what reads the rest.
        Ok(page
            .kvs
            .iter()
            .filter_map(|kv| match decode(&kv.value, kv.mod_revision) {
                Ok(obj) => Some(skiff_api::conversion::from_storage(self.res.def, obj)),
                Err(e) => {
                    tracing::warn!(key = %kv.key, error = %e.message, "an object that does not decode");
                    None
                }
            })
            .collect())
    }

    /// Writes `obj` over the object stored at `rev` as it is, bypassing the
    /// strategy (upstream's `GuaranteedUpdate` with the subresource's own
    /// rules, as a pod's binding, which sets spec and status at once).
    /// Returns the new resource version.
    pub async fn write_as_is(&self, obj: &Value, rev: i64) -> Result<i64, Error> {
        let name = meta::name(obj).to_string();
        let mut obj = obj.clone();
        meta::remove(&mut obj, "resourceVersion");
        match self
            .server
            .inner
            .store
            .update(
                &self.key(&name),
                self.encode(&obj),
                rev,
                self.res.strategy.ttl(),
            )
            .await
            .map_err(store_error)?
        {
            Outcome::Written { revision, .. } => Ok(revision),
            Outcome::Failed { current: None } => Err(self.not_found(&name).into()),
            Outcome::Failed { .. } => Err(self.modified(&name)),
        }
    }

    /// Removes `obj`, stored at `rev`, as it is (its finalizers all gone),
    /// releasing what its storage holds for it; false when it changed or
    /// went meanwhile.
    pub async fn remove_as_is(&self, obj: &Value, rev: i64) -> Result<bool, ApiError> {
        let outcome = self
            .server
            .inner
            .store
            .delete(&self.key(meta::name(obj)), Some(rev))
            .await
            .map_err(store_error)?;
        let removed = matches!(outcome, Outcome::Written { .. });
        if removed && let Some(rest) = &self.res.rest {
            rest.after_delete(self.server, obj);
        }
        Ok(removed)
    }

    /// Namespaced objects may only be created in a namespace that exists
    /// and is not terminating (upstream's NamespaceLifecycle). The namespace
    /// as read guards the write: a create commits only while the namespace is
    /// still at that revision, so none can slip in after the namespace's
    /// deletion has begun (and its content been listed).
    pub async fn namespace_guard(&self, obj: &Value) -> Result<Option<Guard>, ApiError> {
        let ns = self.namespace;
        if ns.is_empty() {
            return Ok(None);
        }
        let key = format!("/registry/core/namespaces/{ns}");
        let (_, kv) = self
            .server
            .inner
            .store
            .get(&key, 0)
            .await
            .map_err(store_error)?;
        let Some(kv) = kv else {
            return Err(ApiError::not_found("", "namespaces", ns));
        };
        let ns_obj: Value = serde_json::from_slice(&kv.value).unwrap_or(Value::Null);
        if meta::deletion_timestamp(&ns_obj).is_some() {
            let def = self.res.def;
            // Upstream names the object (or its generateName, else "Unknown").
            let name = [meta::name(obj), meta::generate_name(obj)]
                .into_iter()
                .find(|n| !n.is_empty())
                .unwrap_or("Unknown");
            let mut details = json!({"name": name, "group": def.group, "kind": def.plural, "causes": [{"reason": "NamespaceTerminating", "message": format!("namespace {ns} is being terminated"), "field": "metadata.namespace"}]});
            if def.group.is_empty() {
                details.as_object_mut().map(|d| d.remove("group"));
            }
            return Err(ApiError {
                details: Some(details),
                ..ApiError::new(
                    403,
                    StatusReason::Forbidden,
                    format!(
                        "{} {name:?} is forbidden: unable to create new content in namespace {ns} because it is being terminated",
                        skiff_api::errors::qualified(def.group, def.plural),
                    ),
                )
            });
        }
        Ok(Some(Guard {
            key,
            mod_revision: kv.mod_revision,
        }))
    }

    fn invalid(&self, obj: &Value, causes: Vec<skiff_api::Cause>) -> Result<(), ApiError> {
        if causes.is_empty() {
            return Ok(());
        }
        Err(ApiError::invalid(
            self.res.def.group,
            self.res.def.kind,
            meta::name(obj),
            causes,
        ))
    }

    /// Upstream's `Store.Create`: `BeforeCreate` (the strategy's preparation,
    /// system metadata, validation), validating admission, the registry's
    /// allocations, the field manager, then the guarded write. `obj` has been
    /// decoded, defaulted and admitted; `guard` is its namespace as checked.
    pub async fn create(
        &self,
        mut obj: Value,
        mut guard: Option<Guard>,
        opts: CreateOptions,
        hooks: &impl Hooks,
    ) -> Result<Bytes, ApiError> {
        let def = self.res.def;
        let strategy = &self.res.strategy;
        if meta::name(&obj).is_empty() && !meta::generate_name(&obj).is_empty() {
            let name = meta::generated_name(meta::generate_name(&obj));
            meta::set(&mut obj, "name", json!(name));
        }
        strategy.prepare_for_create(&mut obj);
        // What Go's encoder writes for the zero values the object leaves out
        // (after the strategy, which resets the status).
        skiff_api::typed::fill_zero_fields(def.group, def.version, def.kind, &mut obj);
        for field in [
            "resourceVersion",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "selfLink",
        ] {
            meta::remove(&mut obj, field);
        }
        meta::set(&mut obj, "uid", json!(meta::new_uid()));
        meta::set(&mut obj, "creationTimestamp", json!(meta::now()));
        strategy.complete_create(&mut obj);
        let mut causes =
            validation::validate_object_meta(&obj, def.namespaced, strategy.name_rule());
        causes.extend(strategy.validate(&obj));
        self.invalid(&obj, causes)?;
        hooks.validate(Operation::Create, Some(&obj), None).await?;
        let allocation = hooks.allocate(&mut obj, None, UpdateVia::Main).await?;
        hooks.record_update(None, &mut obj, UpdateVia::Main);
        let name = meta::name(&obj).to_string();
        let stored = self.encode(&obj);
        let kv = &self.server.inner.store;
        let key = self.key(&name);
        if opts.dry_run {
            let (_, existing) = kv.get(&key, 0).await.map_err(store_error)?;
            if existing.is_some() {
                return Err(ApiError::already_exists(def.group, def.plural, &name));
            }
            return Ok(stored);
        }
        let ttl = strategy.ttl();
        for _ in 0..NAMESPACE_GUARD_ATTEMPTS {
            let outcome = match &guard {
                Some(g) => kv.create_guarded(&key, stored.clone(), ttl, g).await,
                None => kv.create(&key, stored.clone(), ttl).await,
            }
            .map_err(store_error)?;
            match outcome {
                Outcome::Written { revision, .. } => {
                    if let Some(a) = allocation {
                        a.commit();
                    }
                    return Ok(with_resource_version(&stored, revision));
                }
                Outcome::Failed { current: Some(_) } => {
                    return Err(ApiError::already_exists(def.group, def.plural, &name));
                }
                // The namespace changed since it was read: terminating now (403),
                // gone (404), or changed otherwise (try again).
                Outcome::Failed { current: None } => guard = self.namespace_guard(&obj).await?,
            }
        }
        Err(ApiError::conflict(
            "",
            "namespaces",
            self.namespace,
            "the namespace kept changing while the object was created; please retry",
        ))
    }

    /// Upstream's `Store.Update` of one attempt: `obj` (decoded and
    /// defaulted) replaces `old`, read at `old_rev`. Preconditions, mutating
    /// admission, `BeforeUpdate` (the strategy behind `opts.via`, what the
    /// client may not change, validation), validating admission, the
    /// registry's allocations, the field manager, then the compare-and-swap.
    /// An object whose finalizers are all gone while it is being deleted is
    /// removed instead.
    pub async fn update(
        &self,
        mut obj: Value,
        old: Value,
        old_rev: i64,
        opts: UpdateOptions,
        hooks: &impl Hooks,
    ) -> Result<Bytes, Error> {
        let def = self.res.def;
        let name = meta::name(&old).to_string();
        // "0" reads as no resource version: an unconditional update, which a
        // few kinds do not allow (upstream's AllowUnconditionalUpdate).
        let sent_rv = match meta::resource_version(&obj) {
            "0" => "",
            rv => rv,
        }
        .to_string();
        if !sent_rv.is_empty() && sent_rv != old_rev.to_string() {
            return Err(self.modified(&name));
        }
        let put = opts.method == UpdateMethod::Put && opts.via == UpdateVia::Main;
        let strategy = &self.res.strategy;
        if put && sent_rv.is_empty() && !strategy.allow_unconditional_update() {
            return Err(ApiError::invalid(
                def.group,
                def.plural,
                &name,
                vec![skiff_api::Cause::invalid_rendered(
                    "metadata.resourceVersion",
                    "0x0",
                    "must be specified for an update",
                )],
            )
            .into());
        }
        // A uid that is not the stored object's: a failed precondition on PUT,
        // an immutable field on PATCH.
        let sent_uid = meta::uid(&obj).to_string();
        if !sent_uid.is_empty() && sent_uid != meta::uid(&old) {
            if put {
                let key = if def.namespaced {
                    format!("/registry/{}/{}/{name}", def.plural, meta::namespace(&old))
                } else {
                    format!("/registry/{}/{name}", def.plural)
                };
                return Err(ApiError::conflict(
                    def.group,
                    def.plural,
                    &name,
                    &format!(
                        "StorageError: invalid object, Code: 4, Key: {key}, ResourceVersion: 0, AdditionalErrorMsg: Precondition failed: UID in precondition: {sent_uid}, UID in object meta: {}",
                        meta::uid(&old)
                    ),
                )
                .into());
            }
            if opts.method == UpdateMethod::Patch {
                return Err(ApiError::invalid(
                    def.group,
                    def.kind,
                    &name,
                    vec![skiff_api::Cause::invalid(
                        "metadata.uid",
                        &json!(sent_uid),
                        "field is immutable",
                    )],
                )
                .into());
            }
        }
        if def.namespaced && meta::namespace(&obj).is_empty() {
            meta::set(&mut obj, "namespace", json!(meta::namespace(&old)));
        }
        if meta::name(&obj).is_empty() {
            meta::set(&mut obj, "name", json!(name));
        }
        hooks.admit(Operation::Update, &mut obj, Some(&old)).await?;
        let via = opts.via;
        strategy.prepare_for_update(via, &mut obj, &old);
        // What the client may not change.
        for field in [
            "uid",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
        ] {
            match meta::metadata(&old).and_then(|m| m.get(field)) {
                Some(v) => meta::set(&mut obj, field, v.clone()),
                None => meta::remove(&mut obj, field),
            }
        }
        meta::remove(&mut obj, "resourceVersion");
        let mut causes =
            validation::validate_object_meta(&obj, def.namespaced, strategy.name_rule());
        causes.extend(validation::validate_object_meta_update(&obj, &old));
        causes.extend(strategy.validate_update(via, &obj, &old));
        causes.extend(strategy.validate(&obj));
        self.invalid(&obj, causes)?;
        hooks
            .validate(Operation::Update, Some(&obj), Some(&old))
            .await?;
        let allocation = hooks.allocate(&mut obj, Some(&old), via).await?;
        let commit = |allocation: Option<Allocation>| {
            if let Some(a) = allocation {
                a.commit();
            }
        };
        let kv = &self.server.inner.store;
        // Finalization complete: the object goes.
        if meta::deletion_timestamp(&obj).is_some()
            && meta::finalizers(&obj).is_empty()
            && !namespace_pending(&obj)
        {
            if opts.dry_run {
                return Ok(self.encode(&obj));
            }
            return match kv
                .delete(&self.key(&name), Some(old_rev))
                .await
                .map_err(store_error)?
            {
                Outcome::Written { revision, .. } => {
                    hooks.removed(&old);
                    Ok(with_resource_version(&self.encode(&obj), revision))
                }
                Outcome::Failed { .. } => Err(self.modified(&name)),
            };
        }
        hooks.record_update(Some(&old), &mut obj, via);
        let stored = self.encode(&obj);
        if opts.dry_run {
            return Ok(with_resource_version(&stored, old_rev));
        }
        if same_but_times(&obj, &old) {
            // Nothing changed: no write, the stored object as it is (as upstream).
            commit(allocation);
            return Ok(with_resource_version(&self.encode(&old), old_rev));
        }
        match kv
            .update(&self.key(&name), stored.clone(), old_rev, strategy.ttl())
            .await
            .map_err(store_error)?
        {
            Outcome::Written { revision, .. } => {
                commit(allocation);
                // A deleting owner given a propagation finalizer by an update.
                if meta::deletion_timestamp(&obj).is_some()
                    && crate::dependents::has_propagation_finalizer(&obj)
                {
                    crate::dependents::owner_deleting(
                        self.server,
                        std::sync::Arc::new(self.res.clone()),
                        self.namespace,
                        &name,
                    );
                }
                Ok(with_resource_version(&stored, revision))
            }
            Outcome::Failed { current: None } => Err(self.not_found(&name).into()),
            Outcome::Failed { .. } => Err(self.modified(&name)),
        }
    }

    /// Upstream's `Store.Delete`: preconditions, validating admission, then
    /// at once (no finalizers, no grace period), or marked for deletion
    /// (`deletionTimestamp`, the propagation policy's finalizer, a
    /// namespace's Terminating phase) until its finalizers or its node let
    /// go. Returns the object as it now is (or as it was) and whether it is gone.
    pub async fn delete(
        &self,
        name: &str,
        opts: &DeleteOptions,
        hooks: &impl Hooks,
    ) -> Result<(Bytes, bool), ApiError> {
        let def = self.res.def;
        let strategy = &self.res.strategy;
        let kv = &self.server.inner.store;
        for _ in 0..DELETE_ATTEMPTS {
            let (mut obj, rev) = self.get(name).await?;
            if let Some(uid) = &opts.preconditions.uid
                && uid != meta::uid(&obj)
            {
                return Err(ApiError::conflict(
                    def.group,
                    def.plural,
                    name,
                    &format!(
                        "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                        meta::uid(&obj)
                    ),
                ));
            }
            if let Some(rv) = &opts.preconditions.resource_version
                && *rv != rev.to_string()
            {
                return Err(ApiError::conflict(
                    def.group,
                    def.plural,
                    name,
                    &format!(
                        "Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {rev}"
                    ),
                ));
            }
            hooks.validate(Operation::Delete, None, Some(&obj)).await?;
            let mut finalizers = meta::finalizers(&obj);
            match opts.propagation_policy {
                Some(PropagationPolicy::Orphan) if !finalizers.iter().any(|f| f == "orphan") => {
                    finalizers.push("orphan".into())
                }
                Some(PropagationPolicy::Foreground)
                    if !finalizers.iter().any(|f| f == "foregroundDeletion") =>
                {
                    finalizers.push("foregroundDeletion".into())
                }
                _ => {}
            }
            let grace = strategy.graceful_delete_seconds(&obj, opts.grace_period_seconds);
            let namespace_terminating = def.group.is_empty() && def.plural == "namespaces";
            if finalizers.is_empty() && grace == 0 && !namespace_terminating {
                // Marked first, at once, where the strategy asks for it
                // (watchers see MODIFIED, then DELETED).
                let mut rev = rev;
                if strategy.marks_immediate_delete() && meta::deletion_timestamp(&obj).is_none() {
                    meta::set(&mut obj, "deletionTimestamp", json!(meta::now()));
                    meta::set(&mut obj, "deletionGracePeriodSeconds", json!(0));
                    if !opts.dry_run {
                        meta::remove(&mut obj, "resourceVersion");
                        match kv
                            .update(&self.key(name), self.encode(&obj), rev, None)
                            .await
                            .map_err(store_error)?
                        {
                            Outcome::Written { revision, .. } => rev = revision,
                            Outcome::Failed { current: None } => {
                                return Err(self.not_found(name));
                            }
                            Outcome::Failed { .. } => continue,
                        }
                    }
                }
                if opts.dry_run {
                    return Ok((with_resource_version(&self.encode(&obj), rev), true));
                }
                match kv
                    .delete(&self.key(name), Some(rev))
                    .await
                    .map_err(store_error)?
                {
                    Outcome::Written { .. } => {
                        hooks.removed(&obj);
                        return Ok((with_resource_version(&self.encode(&obj), rev), true));
                    }
                    Outcome::Failed { current: None } => return Err(self.not_found(name)),
                    Outcome::Failed { .. } => continue,
                }
            }
            // The object stays, marked for deletion, until its finalizers (or its node) let go.
            let before = obj.clone();
            if meta::deletion_timestamp(&obj).is_none() {
                let at = chrono::Utc::now() + chrono::Duration::seconds(grace);
                meta::set(
                    &mut obj,
                    "deletionTimestamp",
                    json!(at.format("%Y-%m-%dT%H:%M:%SZ").to_string()),
                );
                meta::set(&mut obj, "deletionGracePeriodSeconds", json!(grace));
            } else if grace
                < meta::metadata(&obj)
                    .and_then(|m| m.get("deletionGracePeriodSeconds"))
                    .and_then(Value::as_i64)
                    .unwrap_or(0)
            {
                meta::set(&mut obj, "deletionGracePeriodSeconds", json!(grace));
            }
            meta::set_finalizers(&mut obj, &finalizers);
            if namespace_terminating {
                obj["status"]["phase"] = json!("Terminating");
            }
            let unchanged = obj == before;
            meta::remove(&mut obj, "resourceVersion");
            let stored = self.encode(&obj);
            if opts.dry_run {
                return Ok((with_resource_version(&stored, rev), false));
            }
            // Already marked as this delete would mark it: nothing to write (a
            // namespace deleter asking again must not rewrite what it waits on).
            if unchanged {
                if namespace_terminating {
                    crate::namespace_deleter::namespace_deleted(self.server, name);
                }
                return Ok((with_resource_version(&stored, rev), false));
            }
            match kv
                .update(&self.key(name), stored.clone(), rev, None)
                .await
                .map_err(store_error)?
            {
                Outcome::Written { revision, .. } => {
                    if namespace_terminating {
                        crate::namespace_deleter::namespace_deleted(self.server, name);
                    }
                    if crate::dependents::has_propagation_finalizer(&obj) {
                        crate::dependents::owner_deleting(
                            self.server,
                            std::sync::Arc::new(self.res.clone()),
                            self.namespace,
                            name,
                        );
                    }
                    return Ok((with_resource_version(&stored, revision), false));
                }
                Outcome::Failed { current: None } => return Err(self.not_found(name)),
                Outcome::Failed { .. } => continue,
            }
        }
        Err(ApiError::modified(def.group, def.plural, name))
    }
}

/// Whether an update changes nothing but managedFields' times (upstream's
/// `IgnoreManagedFieldsTimestampsTransformer` keeps the old ones then, and
/// the store skips identical bytes).
fn same_but_times(new: &Value, old: &Value) -> bool {
    let strip = |v: &Value| {
        let mut v = v.clone();
        meta::remove(&mut v, "resourceVersion");
        if let Some(list) = v
            .pointer_mut("/metadata/managedFields")
            .and_then(Value::as_array_mut)
        {
            for e in list {
                if let Some(e) = e.as_object_mut() {
                    e.remove("time");
                }
            }
        }
        v
    };
    strip(new) == strip(old)
}

/// A namespace keeps existing while its spec finalizers are pending.
fn namespace_pending(obj: &Value) -> bool {
    obj.get("kind").and_then(Value::as_str) == Some("Namespace")
        && obj
            .pointer("/spec/finalizers")
            .and_then(Value::as_array)
            .is_some_and(|a| !a.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delete_options_read_as_upstream() {
        let o = DeleteOptions::from_value(&json!({
            "gracePeriodSeconds": 5,
            "preconditions": {"uid": "u1", "resourceVersion": "7"},
            "propagationPolicy": "Foreground",
        }));
        assert_eq!(o.grace_period_seconds, Some(5));
        assert_eq!(o.preconditions.uid.as_deref(), Some("u1"));
        assert_eq!(o.preconditions.resource_version.as_deref(), Some("7"));
        assert_eq!(o.propagation_policy, Some(PropagationPolicy::Foreground));
        // The deprecated orphanDependents as the policy it stands for.
        let orphan = DeleteOptions::from_value(&json!({"orphanDependents": true}));
        assert_eq!(orphan.propagation_policy, Some(PropagationPolicy::Orphan));
        let not = DeleteOptions::from_value(&json!({"orphanDependents": false}));
        assert_eq!(not.propagation_policy, Some(PropagationPolicy::Background));
        let none = DeleteOptions::from_value(&json!({}));
        assert_eq!(none.propagation_policy, None);
        assert_eq!(none.preconditions, Preconditions::default());
    }
}
