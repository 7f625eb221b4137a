//! The scheduling.k8s.io group's strategies.

pub mod priority_classes;
