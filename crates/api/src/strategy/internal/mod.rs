//! The internal.apiserver.k8s.io group's strategies.

pub mod storage_versions;
