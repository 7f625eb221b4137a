//! Temporary minimal table (replaced by builtin.rs).
use super::{ResourceDef, SubresourceDef};

const RW: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];
const STATUS: SubresourceDef = SubresourceDef {
    name: "status",
    group: "",
    version: "v1",
    kind: "",
    verbs: &["get", "patch", "update"],
};

pub(super) const GROUPS: &[(&str, &[&str])] = &[("", &["v1"]), ("apps", &["v1"])];

pub(super) const BUILTIN: &[ResourceDef] = &[
    ResourceDef {
        group: "",
        version: "v1",
        kind: "ConfigMap",
        plural: "configmaps",
        singular: "configmap",
        namespaced: true,
        verbs: RW,
        short_names: &["cm"],
        categories: &[],
        subresources: &[],
    },
    ResourceDef {
        group: "",
        version: "v1",
        kind: "Namespace",
        plural: "namespaces",
        singular: "namespace",
        namespaced: false,
        verbs: &[
            "create", "delete", "get", "list", "patch", "update", "watch",
        ],
        short_names: &["ns"],
        categories: &[],
        subresources: &[
            SubresourceDef {
                kind: "Namespace",
                ..STATUS
            },
            SubresourceDef {
                name: "finalize",
                group: "",
                version: "v1",
                kind: "Namespace",
                verbs: &["update"],
            },
        ],
    },
    ResourceDef {
        group: "",
        version: "v1",
        kind: "Pod",
        plural: "pods",
        singular: "pod",
        namespaced: true,
        verbs: RW,
        short_names: &["po"],
        categories: &["all"],
        subresources: &[
            SubresourceDef {
                kind: "Pod",
                ..STATUS
            },
            SubresourceDef {
                name: "binding",
                group: "",
                version: "v1",
                kind: "Binding",
                verbs: &["create"],
            },
            SubresourceDef {
                name: "eviction",
                group: "policy",
                version: "v1",
                kind: "Eviction",
                verbs: &["create"],
            },
        ],
    },
    ResourceDef {
        group: "",
        version: "v1",
        kind: "Service",
        plural: "services",
        singular: "service",
        namespaced: true,
        verbs: RW,
        short_names: &["svc"],
        categories: &["all"],
        subresources: &[SubresourceDef {
            kind: "Service",
            ..STATUS
        }],
    },
    ResourceDef {
        group: "",
        version: "v1",
        kind: "Endpoints",
        plural: "endpoints",
        singular: "endpoints",
        namespaced: true,
        verbs: RW,
        short_names: &["ep"],
        categories: &[],
        subresources: &[],
    },
    ResourceDef {
        group: "scheduling.k8s.io",
        version: "v1",
        kind: "PriorityClass",
        plural: "priorityclasses",
        singular: "priorityclass",
        namespaced: false,
        verbs: RW,
        short_names: &["pc"],
        categories: &[],
        subresources: &[],
    },
    ResourceDef {
        group: "apps",
        version: "v1",
        kind: "Deployment",
        plural: "deployments",
        singular: "deployment",
        namespaced: true,
        verbs: RW,
        short_names: &["deploy"],
        categories: &["all"],
        subresources: &[
            SubresourceDef {
                group: "apps",
                kind: "Deployment",
                ..STATUS
            },
            SubresourceDef {
                name: "scale",
                group: "autoscaling",
                version: "v1",
                kind: "Scale",
                verbs: &["get", "patch", "update"],
            },
        ],
    },
];
