//! The storage.k8s.io group's strategies (upstream's `pkg/registry/storage/<resource>/`).

pub mod storage_classes;
pub mod volume_attachments;
