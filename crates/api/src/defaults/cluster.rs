//! Defaults of the non-workload groups: networking.k8s.io, rbac, storage.k8s.io,
//! scheduling.k8s.io, admissionregistration.k8s.io, flowcontrol.apiserver.k8s.io,
//! apiextensions.k8s.io, apiregistration.k8s.io and discovery.k8s.io (each
//! group's `pkg/apis/<group>/v1/defaults.go`; apiextensions' and
//! apiregistration's under staging/). policy, certificates, coordination,
//! node, events and the review kinds have none.

use serde_json::{Map, Value, json};

use super::{child, default, default_zero, ensure, is_empty_list, is_zero, items};

/// SetDefaults_NetworkPolicy (policyTypes: Ingress, plus Egress with egress
/// rules) and SetDefaults_NetworkPolicyPort (protocol TCP).
pub(super) fn network_policy(m: &mut Map<String, Value>) {
    let Some(spec) = ensure(m, "spec") else {
        return;
    };
    if is_empty_list(spec, "policyTypes") {
        let mut types = vec![json!("Ingress")];
        if !is_empty_list(spec, "egress") {
            types.push(json!("Egress"));
        }
        spec.insert("policyTypes".into(), Value::Array(types));
    }
    for direction in ["ingress", "egress"] {
        for rule in items(spec, direction) {
            for p in items(rule, "ports") {
                default(p, "protocol", json!("TCP"));
            }
        }
    }
}

/// SetDefaults_IngressClass: parameters' scope Cluster.
pub(super) fn ingress_class(m: &mut Map<String, Value>) {
    if let Some(p) = child(m, "spec").and_then(|s| child(s, "parameters")) {
        default(p, "scope", json!("Cluster"));
    }
}

const RBAC_GROUP: &str = "rbac.authorization.k8s.io";

/// SetDefaults_RoleBinding / SetDefaults_ClusterRoleBinding and
/// SetDefaults_Subject.
pub(super) fn role_binding(m: &mut Map<String, Value>) {
    if let Some(role_ref) = ensure(m, "roleRef") {
        default_zero(role_ref, "apiGroup", json!(RBAC_GROUP));
    }
    for s in items(m, "subjects") {
        // ServiceAccount: "" (omitted); other kinds fail validation.
        if is_zero(s, "apiGroup")
            && matches!(
                s.get("kind").and_then(Value::as_str),
                Some("User" | "Group")
            )
        {
            s.insert("apiGroup".into(), json!(RBAC_GROUP));
        }
    }
}

/// SetDefaults_StorageClass.
pub(super) fn storage_class(m: &mut Map<String, Value>) {
    default(m, "reclaimPolicy", json!("Delete"));
    default(m, "volumeBindingMode", json!("Immediate"));
}

/// SetDefaults_CSIDriver (SELinuxMountReadWriteOncePod on in 1.33).
pub(super) fn csi_driver(m: &mut Map<String, Value>) {
    let Some(spec) = ensure(m, "spec") else {
        return;
    };
    default(spec, "attachRequired", json!(true));
    default(spec, "podInfoOnMount", json!(false));
    default(spec, "storageCapacity", json!(false));
    default(spec, "fsGroupPolicy", json!("ReadWriteOnceWithFSType"));
    if is_empty_list(spec, "volumeLifecycleModes") {
        spec.insert("volumeLifecycleModes".into(), json!(["Persistent"]));
    }
    default(spec, "requiresRepublish", json!(false));
    default(spec, "seLinuxMount", json!(false));
}

/// A VolumeAttachment's inline PersistentVolumeSpec gets its sources' defaults.
pub(super) fn volume_attachment(m: &mut Map<String, Value>) {
    if let Some(pv) = child(m, "spec")
        .and_then(|s| child(s, "source"))
        .and_then(|s| child(s, "inlineVolumeSpec"))
    {
        super::core::pv_source(pv);
    }
}

/// SetDefaults_PriorityClass.
pub(super) fn priority_class(m: &mut Map<String, Value>) {
    default(m, "preemptionPolicy", json!("PreemptLowerPriority"));
}

/// SetDefaults_ValidatingWebhook / SetDefaults_MutatingWebhook, with
/// SetDefaults_Rule and SetDefaults_ServiceReference.
pub(super) fn webhook_configuration(m: &mut Map<String, Value>, mutating: bool) {
    for w in items(m, "webhooks") {
        default(w, "failurePolicy", json!("Fail"));
        default(w, "matchPolicy", json!("Equivalent"));
        default(w, "namespaceSelector", json!({}));
        default(w, "objectSelector", json!({}));
        default(w, "timeoutSeconds", json!(10));
        if mutating {
            default(w, "reinvocationPolicy", json!("Never"));
        }
        for r in items(w, "rules") {
            default(r, "scope", json!("*"));
        }
        if let Some(svc) = child(w, "clientConfig").and_then(|c| child(c, "service")) {
            default(svc, "port", json!(443));
        }
    }
}

/// SetDefaults_ValidatingAdmissionPolicySpec and SetDefaults_MatchResources.
pub(super) fn validating_admission_policy(m: &mut Map<String, Value>) {
    let Some(spec) = ensure(m, "spec") else {
        return;
    };
    default(spec, "failurePolicy", json!("Fail"));
    if let Some(mc) = child(spec, "matchConstraints") {
        match_resources(mc);
    }
}

/// SetDefaults_MatchResources on a binding's matchResources.
pub(super) fn validating_admission_policy_binding(m: &mut Map<String, Value>) {
    if let Some(mr) = child(m, "spec").and_then(|s| child(s, "matchResources")) {
        match_resources(mr);
    }
}

fn match_resources(mr: &mut Map<String, Value>) {
    default(mr, "matchPolicy", json!("Equivalent"));
    default(mr, "namespaceSelector", json!({}));
    default(mr, "objectSelector", json!({}));
    for list in ["resourceRules", "excludeResourceRules"] {
        for r in items(mr, list) {
            default(r, "scope", json!("*"));
        }
    }
}

/// SetDefaults_FlowSchemaSpec: matchingPrecedence 1000.
pub(super) fn flow_schema(m: &mut Map<String, Value>) {
    if let Some(spec) = ensure(m, "spec") {
        default_zero(spec, "matchingPrecedence", json!(1000));
    }
}

/// SetDefaults_ExemptPriorityLevelConfiguration,
/// SetDefaults_LimitedPriorityLevelConfiguration and
/// SetDefaults_QueuingConfiguration (flowcontrol v1).
pub(super) fn priority_level_configuration(m: &mut Map<String, Value>) {
    let Some(spec) = child(m, "spec") else {
        return;
    };
    if let Some(e) = child(spec, "exempt") {
        default(e, "nominalConcurrencyShares", json!(0));
        default(e, "lendablePercent", json!(0));
    }
    if let Some(l) = child(spec, "limited") {
        default(l, "nominalConcurrencyShares", json!(30));
        default(l, "lendablePercent", json!(0));
        if let Some(q) = child(l, "limitResponse").and_then(|r| child(r, "queuing")) {
            default_zero(q, "handSize", json!(8));
            default_zero(q, "queues", json!(64));
            default_zero(q, "queueLengthLimit", json!(50));
        }
    }
}

/// SetDefaults_CustomResourceDefinition(Spec) (apiextensions v1): singular and
/// listKind from the kind, conversion None, the webhook service's port 443,
/// storedVersions from the storage version.
pub(super) fn custom_resource_definition(m: &mut Map<String, Value>) {
    let Some(spec) = ensure(m, "spec") else {
        return;
    };
    if let Some(names) = ensure(spec, "names") {
        let kind = names
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        default_zero(names, "singular", json!(kind.to_lowercase()));
        if !kind.is_empty() {
            default_zero(names, "listKind", json!(format!("{kind}List")));
        }
    }
    default(spec, "conversion", json!({"strategy": "None"}));
    if let Some(svc) = child(spec, "conversion")
        .and_then(|c| child(c, "webhook"))
        .and_then(|w| child(w, "clientConfig"))
        .and_then(|c| child(c, "service"))
    {
        default(svc, "port", json!(443));
    }
    let storage = spec
        .get("versions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|v| v.get("storage") == Some(&json!(true)))
        .and_then(|v| v.get("name"))
        .cloned();
    if let Some(storage) = storage
        && let Some(status) = ensure(m, "status")
        && is_empty_list(status, "storedVersions")
    {
        status.insert("storedVersions".into(), json!([storage]));
    }
}

/// SetDefaults_ServiceReference (apiregistration v1): port 443.
pub(super) fn api_service(m: &mut Map<String, Value>) {
    if let Some(svc) = child(m, "spec").and_then(|s| child(s, "service")) {
        default(svc, "port", json!(443));
    }
}

/// SetDefaults_EndpointPort (discovery v1): name "" and protocol TCP.
pub(super) fn endpoint_slice(m: &mut Map<String, Value>) {
    for p in items(m, "ports") {
        default(p, "name", json!(""));
        default(p, "protocol", json!("TCP"));
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::defaulted;
    use super::*;

    #[test]
    fn network_policies_and_ingress_classes() {
        let np = defaulted(
            "networking.k8s.io",
            "v1",
            "networkpolicies",
            json!({"spec": {"podSelector": {}, "ingress": [{"ports": [{"port": 80}, {"port": 53, "protocol": "UDP"}]}],
                            "egress": [{"ports": [{"port": 443}]}]}}),
        );
        assert_eq!(
            np["spec"],
            json!({"podSelector": {}, "policyTypes": ["Ingress", "Egress"],
                   "ingress": [{"ports": [{"port": 80, "protocol": "TCP"}, {"port": 53, "protocol": "UDP"}]}],
                   "egress": [{"ports": [{"port": 443, "protocol": "TCP"}]}]})
        );
        let ingress_only = defaulted(
            "networking.k8s.io",
            "v1",
            "networkpolicies",
            json!({"spec": {"podSelector": {}}}),
        );
        assert_eq!(ingress_only["spec"]["policyTypes"], json!(["Ingress"]));
        let egress_set = defaulted(
            "networking.k8s.io",
            "v1",
            "networkpolicies",
            json!({"spec": {"podSelector": {}, "policyTypes": ["Egress"]}}),
        );
        assert_eq!(egress_set["spec"]["policyTypes"], json!(["Egress"]));
        let ic = defaulted(
            "networking.k8s.io",
            "v1",
            "ingressclasses",
            json!({"spec": {"controller": "x/y", "parameters": {"kind": "P", "name": "p"}}}),
        );
        assert_eq!(
            ic["spec"]["parameters"],
            json!({"kind": "P", "name": "p", "scope": "Cluster"})
        );
        let ic_none = defaulted(
            "networking.k8s.io",
            "v1",
            "ingressclasses",
            json!({"spec": {"controller": "x/y"}}),
        );
        assert_eq!(ic_none["spec"], json!({"controller": "x/y"}));
    }

    #[test]
    fn role_bindings_default_api_groups() {
        for plural in ["rolebindings", "clusterrolebindings"] {
            let b = defaulted(
                "rbac.authorization.k8s.io",
                "v1",
                plural,
                json!({"roleRef": {"kind": "ClusterRole", "name": "view"}, "subjects": [
                    {"kind": "User", "name": "jane"},
                    {"kind": "Group", "name": "devs", "apiGroup": "rbac.authorization.k8s.io"},
                    {"kind": "ServiceAccount", "name": "default", "namespace": "ns"}
                ]}),
            );
            assert_eq!(
                b,
                json!({"roleRef": {"kind": "ClusterRole", "name": "view", "apiGroup": "rbac.authorization.k8s.io"}, "subjects": [
                    {"kind": "User", "name": "jane", "apiGroup": "rbac.authorization.k8s.io"},
                    {"kind": "Group", "name": "devs", "apiGroup": "rbac.authorization.k8s.io"},
                    {"kind": "ServiceAccount", "name": "default", "namespace": "ns"}
                ]})
            );
        }
    }

    #[test]
    fn storage_kinds() {
        assert_eq!(
            defaulted(
                "storage.k8s.io",
                "v1",
                "storageclasses",
                json!({"provisioner": "p"})
            ),
            json!({"provisioner": "p", "reclaimPolicy": "Delete", "volumeBindingMode": "Immediate"})
        );
        assert_eq!(
            defaulted(
                "storage.k8s.io",
                "v1",
                "storageclasses",
                json!({"provisioner": "p", "reclaimPolicy": "Retain", "volumeBindingMode": "WaitForFirstConsumer"})
            ),
            json!({"provisioner": "p", "reclaimPolicy": "Retain", "volumeBindingMode": "WaitForFirstConsumer"})
        );
        assert_eq!(
            defaulted(
                "storage.k8s.io",
                "v1",
                "csidrivers",
                json!({"spec": {"attachRequired": false}})
            ),
            json!({"spec": {"attachRequired": false, "podInfoOnMount": false, "storageCapacity": false,
                            "fsGroupPolicy": "ReadWriteOnceWithFSType", "volumeLifecycleModes": ["Persistent"],
                            "requiresRepublish": false, "seLinuxMount": false}})
        );
        assert_eq!(
            defaulted(
                "storage.k8s.io",
                "v1",
                "volumeattachments",
                json!({"spec": {"attacher": "a", "nodeName": "n", "source": {"inlineVolumeSpec": {"rbd": {"monitors": ["m"], "image": "i"}}}}})
            )["spec"]["source"]["inlineVolumeSpec"],
            json!({"rbd": {"monitors": ["m"], "image": "i", "pool": "rbd", "user": "admin", "keyring": "/etc/ceph/keyring"}})
        );
        assert_eq!(
            defaulted(
                "scheduling.k8s.io",
                "v1",
                "priorityclasses",
                json!({"value": 10})
            ),
            json!({"value": 10, "preemptionPolicy": "PreemptLowerPriority"})
        );
    }

    #[test]
    fn webhooks_and_admission_policies() {
        let w = defaulted(
            "admissionregistration.k8s.io",
            "v1",
            "mutatingwebhookconfigurations",
            json!({"webhooks": [{"name": "w.example.com", "sideEffects": "None", "admissionReviewVersions": ["v1"],
                "clientConfig": {"service": {"namespace": "ns", "name": "svc"}},
                "rules": [{"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods"]}]}]}),
        );
        assert_eq!(
            w["webhooks"][0],
            json!({"name": "w.example.com", "sideEffects": "None", "admissionReviewVersions": ["v1"],
                "clientConfig": {"service": {"namespace": "ns", "name": "svc", "port": 443}},
                "rules": [{"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods"], "scope": "*"}],
                "failurePolicy": "Fail", "matchPolicy": "Equivalent", "namespaceSelector": {}, "objectSelector": {},
                "timeoutSeconds": 10, "reinvocationPolicy": "Never"})
        );
        let v = defaulted(
            "admissionregistration.k8s.io",
            "v1",
            "validatingwebhookconfigurations",
            json!({"webhooks": [{"name": "v.example.com", "failurePolicy": "Ignore", "timeoutSeconds": 3,
                "clientConfig": {"url": "https://x"}}]}),
        );
        assert_eq!(
            v["webhooks"][0],
            json!({"name": "v.example.com", "failurePolicy": "Ignore", "timeoutSeconds": 3,
                "clientConfig": {"url": "https://x"}, "matchPolicy": "Equivalent",
                "namespaceSelector": {}, "objectSelector": {}})
        );
        let p = defaulted(
            "admissionregistration.k8s.io",
            "v1",
            "validatingadmissionpolicies",
            json!({"spec": {"matchConstraints": {"resourceRules": [{"apiGroups": ["apps"], "apiVersions": ["v1"],
                "operations": ["CREATE"], "resources": ["deployments"]}]}, "validations": [{"expression": "true"}]}}),
        );
        assert_eq!(
            p["spec"],
            json!({"failurePolicy": "Fail", "validations": [{"expression": "true"}],
                "matchConstraints": {"matchPolicy": "Equivalent", "namespaceSelector": {}, "objectSelector": {},
                    "resourceRules": [{"apiGroups": ["apps"], "apiVersions": ["v1"], "operations": ["CREATE"],
                        "resources": ["deployments"], "scope": "*"}]}})
        );
        let b = defaulted(
            "admissionregistration.k8s.io",
            "v1",
            "validatingadmissionpolicybindings",
            json!({"spec": {"policyName": "p", "validationActions": ["Deny"], "matchResources": {"excludeResourceRules": [{"resources": ["x"]}]}}}),
        );
        assert_eq!(
            b["spec"]["matchResources"],
            json!({"matchPolicy": "Equivalent", "namespaceSelector": {}, "objectSelector": {},
                   "excludeResourceRules": [{"resources": ["x"], "scope": "*"}]})
        );
        let unbound = defaulted(
            "admissionregistration.k8s.io",
            "v1",
            "validatingadmissionpolicybindings",
            json!({"spec": {"policyName": "p"}}),
        );
        assert_eq!(unbound["spec"], json!({"policyName": "p"}));
    }

    #[test]
    fn flow_control() {
        assert_eq!(
            defaulted(
                "flowcontrol.apiserver.k8s.io",
                "v1",
                "flowschemas",
                json!({"spec": {"priorityLevelConfiguration": {"name": "x"}}})
            )["spec"]["matchingPrecedence"],
            1000
        );
        assert_eq!(
            defaulted(
                "flowcontrol.apiserver.k8s.io",
                "v1",
                "prioritylevelconfigurations",
                json!({"spec": {"type": "Limited", "limited": {"limitResponse": {"type": "Queue", "queuing": {"queues": 16}}}}})
            ),
            json!({"spec": {"type": "Limited", "limited": {"nominalConcurrencyShares": 30, "lendablePercent": 0,
                "limitResponse": {"type": "Queue", "queuing": {"queues": 16, "handSize": 8, "queueLengthLimit": 50}}}}})
        );
        assert_eq!(
            defaulted(
                "flowcontrol.apiserver.k8s.io",
                "v1",
                "prioritylevelconfigurations",
                json!({"spec": {"type": "Limited", "limited": {"nominalConcurrencyShares": 0, "limitResponse": {"type": "Reject"}}}})
            ),
            json!({"spec": {"type": "Limited", "limited": {"nominalConcurrencyShares": 0, "lendablePercent": 0,
                "limitResponse": {"type": "Reject"}}}})
        );
        assert_eq!(
            defaulted(
                "flowcontrol.apiserver.k8s.io",
                "v1",
                "prioritylevelconfigurations",
                json!({"spec": {"type": "Exempt", "exempt": {}}})
            ),
            json!({"spec": {"type": "Exempt", "exempt": {"nominalConcurrencyShares": 0, "lendablePercent": 0}}})
        );
    }

    #[test]
    fn crds_api_services_and_endpoint_slices() {
        let crd = defaulted(
            "apiextensions.k8s.io",
            "v1",
            "customresourcedefinitions",
            json!({"spec": {"group": "example.com", "scope": "Namespaced", "names": {"kind": "Widget", "plural": "widgets"},
                "versions": [{"name": "v1beta1", "served": true, "storage": false}, {"name": "v1", "served": true, "storage": true}]}}),
        );
        assert_eq!(
            crd["spec"]["names"],
            json!({"kind": "Widget", "plural": "widgets", "singular": "widget", "listKind": "WidgetList"})
        );
        assert_eq!(crd["spec"]["conversion"], json!({"strategy": "None"}));
        assert_eq!(crd["status"], json!({"storedVersions": ["v1"]}));
        let webhook = defaulted(
            "apiextensions.k8s.io",
            "v1",
            "customresourcedefinitions",
            json!({"spec": {"names": {"kind": "W", "singular": "dub", "listKind": "Ws"}, "conversion": {"strategy": "Webhook",
                "webhook": {"conversionReviewVersions": ["v1"], "clientConfig": {"service": {"namespace": "n", "name": "s"}}}}}}),
        );
        assert_eq!(
            webhook["spec"],
            json!({"names": {"kind": "W", "singular": "dub", "listKind": "Ws"}, "conversion": {"strategy": "Webhook",
                "webhook": {"conversionReviewVersions": ["v1"], "clientConfig": {"service": {"namespace": "n", "name": "s", "port": 443}}}}})
        );
        assert_eq!(
            defaulted(
                "apiregistration.k8s.io",
                "v1",
                "apiservices",
                json!({"spec": {"group": "metrics.k8s.io", "service": {"namespace": "kube-system", "name": "metrics"}}})
            )["spec"]["service"],
            json!({"namespace": "kube-system", "name": "metrics", "port": 443})
        );
        assert_eq!(
            defaulted(
                "discovery.k8s.io",
                "v1",
                "endpointslices",
                json!({"addressType": "IPv4", "endpoints": [], "ports": [{"port": 80}, {"name": "dns", "port": 53, "protocol": "UDP"}]})
            ),
            json!({"addressType": "IPv4", "endpoints": [], "ports": [
                {"port": 80, "name": "", "protocol": "TCP"},
                {"name": "dns", "port": 53, "protocol": "UDP"}]})
        );
    }
}
