//! The rbac.authorization.k8s.io group's strategies (upstream's
//! `pkg/registry/rbac/<resource>/`). Escalation checks are the registry's
//! (`apiserver::rbac::escalation`), as upstream's policy-based storage.

pub mod bindings;
pub mod roles;
