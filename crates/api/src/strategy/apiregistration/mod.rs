//! The apiregistration.k8s.io group's strategies.

pub mod api_services;
