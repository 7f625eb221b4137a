//! APIServices (upstream's `k8s.io/kube-aggregator/pkg/registry/apiservice/strategy.go`):
//! any path segment as a name; the status strategy keeps labels,
//! annotations, finalizers and owner references as stored.

use crate::catalogue::ResourceDef;
use crate::strategy::Strategy;
use crate::validation::NameRule;

pub struct ApiServices(pub &'static ResourceDef);

impl Strategy for ApiServices {
    fn def(&self) -> &'static ResourceDef {
        self.0
    }

    fn name_rule(&self) -> NameRule {
        NameRule::PathSegment
    }

    fn status_resets(&self) -> &'static [&'static str] {
        &["labels", "annotations", "finalizers", "ownerReferences"]
    }
}
