//! Skiff's scheduler, as kube-scheduler (`pkg/scheduler`): the scheduling
//! framework's types (`framework`: statuses, node information), the default
//! plugins with upstream's semantics, messages and formulas (`plugins/`),
//! and the requests a pod makes of a node (`resources`). The queue, cache,
//! profiles and the binding loop build on these.
#![forbid(unsafe_code)]

pub mod framework;
pub mod plugins;
pub mod resources;
