//! Skiff's API model, with no IO: the resource catalogue, `metav1.Status` errors,
//! object metadata helpers, label and field selectors, name and metadata
//! validation, per-kind strategies (spec/status split, generation, selectable
//! fields), defaulting, patches and server-side apply with managed fields,
//! conversion between versions sharing a stored form, and the decoder of
//! Kubernetes protobuf bodies — what the API server's generic machinery applies.
//!
//! Objects are `serde_json::Value`s as they travel on the wire and in the store;
//! strategies that need typed access deserialize what they need.
#![forbid(unsafe_code)]

pub mod catalogue;
pub mod conversion;
pub mod decode;
pub mod defaults;
pub mod errors;
pub mod fields;
pub mod managed;
pub mod meta;
pub mod patch;
pub mod pod_security;
pub mod podutil;
pub mod proto;
pub mod schema;
pub mod selector;
pub mod strategy;
pub mod typed;
pub mod validation;
pub mod version;
pub mod x509;

pub use catalogue::{ResourceDef, SubresourceDef};
pub use errors::{ApiError, Cause, StatusReason};
