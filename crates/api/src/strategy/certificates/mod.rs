//! The certificates.k8s.io group's strategies (upstream's
//! `pkg/registry/certificates/<resource>/`).

pub mod certificate_signing_requests;
