//! The admissionregistration.k8s.io group's strategies.

pub mod validating_admission_policies;
