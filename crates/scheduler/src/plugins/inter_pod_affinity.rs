//! InterPodAffinity (upstream's `plugins/interpodaffinity`): a pod's
//! required affinity terms need a pod they select in the same topology
//! domain (the first pod of a group may go anywhere it would match
//! itself); its required anti-affinity terms, and those of existing pods
//! that select it, forbid domains holding such pods; preferred terms of
//! both sides (and existing pods' required affinity, with
//! `hardPodAffinityWeight`) score domains up or down, normalized to 0..100.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Pod, PodAffinityTerm, WeightedPodAffinityTerm};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

use crate::framework::listers::Listers;
use crate::framework::selector::{labels_of, matches};
use crate::framework::{
    ClusterEvent, Code, CycleState, FilterPlugin, MAX_NODE_SCORE, NodeInfo, PodInfo,
    PreFilterPlugin, PreFilterResult, PreScorePlugin, ScorePlugin, Status,
};

pub const NAME: &str = "InterPodAffinity";

pub const AFFINITY_RULES_NOT_MATCH: &str = "node(s) didn't match pod affinity rules";
pub const ANTI_AFFINITY_RULES_NOT_MATCH: &str = "node(s) didn't match pod anti-affinity rules";
pub const EXISTING_ANTI_AFFINITY_RULES_NOT_MATCH: &str =
    "node(s) didn't satisfy existing pods anti-affinity rules";

pub struct InterPodAffinity {
    pub listers: Arc<Listers>,
    /// Upstream's `hardPodAffinityWeight` (1 by default).
    pub hard_pod_affinity_weight: i64,
    /// Upstream's `ignorePreferredTermsOfExistingPods`.
    pub ignore_preferred_terms_of_existing_pods: bool,
}

impl InterPodAffinity {
    pub fn from_args(
        listers: Arc<Listers>,
        args: Option<&serde_json::Value>,
    ) -> Result<Self, String> {
        let weight = args
            .and_then(|a| a.get("hardPodAffinityWeight"))
            .and_then(|w| w.as_i64())
            .unwrap_or(1);
        if !(0..=100).contains(&weight) {
            return Err(format!(
                "hardPodAffinityWeight: Invalid value: {weight}: not in valid range [0-100]"
            ));
        }
        Ok(InterPodAffinity {
            listers,
            hard_pod_affinity_weight: weight,
            ignore_preferred_terms_of_existing_pods: args
                .and_then(|a| a.get("ignorePreferredTermsOfExistingPods"))
                .and_then(|v| v.as_bool())
                .unwrap_or(false),
        })
    }
}

/// A term with its namespaces resolved (upstream's `AffinityTerm`),
/// computed once per pod.
#[derive(Debug)]
pub struct Term {
    /// Explicit namespaces (the owner's when neither these nor a selector is set).
    namespaces: BTreeSet<String>,
    namespace_selector: Option<LabelSelector>,
    selector: Option<LabelSelector>,
    pub topology_key: String,
}

impl Term {
    fn new(owner_namespace: &str, term: &PodAffinityTerm) -> Term {
        let mut namespaces: BTreeSet<String> = term.namespaces.iter().flatten().cloned().collect();
        if namespaces.is_empty() && term.namespace_selector.is_none() {
            namespaces.insert(owner_namespace.to_string());
        }
        Term {
            namespaces,
            namespace_selector: term.namespace_selector.clone(),
            selector: term.label_selector.clone(),
            topology_key: term.topology_key.clone(),
        }
    }

    /// Whether `pod` is selected: in one of the namespaces, and its labels.
    fn matches(&self, pod: &PodInfo, listers: &Listers) -> bool {
        let ns = pod.namespace();
        let in_namespace = self.namespaces.contains(ns)
            || self
                .namespace_selector
                .as_ref()
                .is_some_and(|s| matches(Some(s), &listers.namespace_labels(ns)));
        in_namespace
            && matches(
                self.selector.as_ref(),
                labels_of(pod.pod.metadata.labels.as_ref()),
            )
    }
}

/// A pod's affinity terms, parsed once (upstream keeps them in `PodInfo`).
#[derive(Debug, Default)]
pub struct AffinityTerms {
    pub required_affinity: Vec<Term>,
    pub required_anti_affinity: Vec<Term>,
    pub preferred_affinity: Vec<(i64, Term)>,
    pub preferred_anti_affinity: Vec<(i64, Term)>,
}

impl AffinityTerms {
    /// The pod's terms, None when it has no pod (anti-)affinity.
    pub fn of(pod: &Pod) -> Option<AffinityTerms> {
        let a = pod.spec.as_ref()?.affinity.as_ref()?;
        if a.pod_affinity.is_none() && a.pod_anti_affinity.is_none() {
            return None;
        }
        let ns = pod.metadata.namespace.as_deref().unwrap_or("");
        let required = |list: Option<&Vec<PodAffinityTerm>>| -> Vec<Term> {
            list.into_iter()
                .flatten()
                .map(|t| Term::new(ns, t))
                .collect()
        };
        let preferred = |list: Option<&Vec<WeightedPodAffinityTerm>>| -> Vec<(i64, Term)> {
            list.into_iter()
                .flatten()
                .map(|w| (i64::from(w.weight), Term::new(ns, &w.pod_affinity_term)))
                .collect()
        };
        let aff = a.pod_affinity.as_ref();
        let anti = a.pod_anti_affinity.as_ref();
        Some(AffinityTerms {
            required_affinity: required(aff.and_then(|a| {
                a.required_during_scheduling_ignored_during_execution
                    .as_ref()
            })),
            required_anti_affinity: required(anti.and_then(|a| {
                a.required_during_scheduling_ignored_during_execution
                    .as_ref()
            })),
            preferred_affinity: preferred(aff.and_then(|a| {
                a.preferred_during_scheduling_ignored_during_execution
                    .as_ref()
            })),
            preferred_anti_affinity: preferred(anti.and_then(|a| {
                a.preferred_during_scheduling_ignored_during_execution
                    .as_ref()
            })),
        })
    }
}

static NO_TERMS: std::sync::LazyLock<AffinityTerms> =
    std::sync::LazyLock::new(AffinityTerms::default);

fn terms(pod: &PodInfo) -> &AffinityTerms {
    pod.affinity.as_deref().unwrap_or(&NO_TERMS)
}

fn node_labels(node: &NodeInfo) -> &BTreeMap<String, String> {
    labels_of(node.node.metadata.labels.as_ref())
}

/// Counts by topology key, then value.
#[derive(Default)]
struct Counts(HashMap<String, HashMap<String, i64>>);

impl Counts {
    fn add(&mut self, key: &str, value: &str, n: i64) {
        let by_value = match self.0.get_mut(key) {
            Some(m) => m,
            None => self.0.entry(key.to_string()).or_default(),
        };
        match by_value.get_mut(value) {
            Some(c) => *c += n,
            None => {
                by_value.insert(value.to_string(), n);
            }
        }
    }

    fn get(&self, key: &str, value: &str) -> i64 {
        self.0
            .get(key)
            .and_then(|m| m.get(value))
            .copied()
            .unwrap_or(0)
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// What PreFilter counts (upstream's `preFilterState`).
#[derive(Default)]
struct PreFilterState {
    /// Domains holding pods whose required anti-affinity selects the pod.
    existing_anti_affinity: Counts,
    /// Domains holding pods that match all of the pod's affinity terms.
    affinity: Counts,
    /// Domains holding pods one of the pod's anti-affinity terms selects.
    anti_affinity: Counts,
    /// The pod's required affinity terms' keys, and whether the pod
    /// matches all of them itself.
    affinity_keys: Vec<String>,
    matches_own_affinity: bool,
    anti_affinity_keys: Vec<String>,
}

const STATE: &str = "PreFilterInterPodAffinity";
const SCORE_STATE: &str = "PreScoreInterPodAffinity";

plugin!(
    InterPodAffinity,
    NAME,
    [pre_filter, filter, pre_score, score],
    [
        ClusterEvent::ASSIGNED_POD_ADD,
        ClusterEvent::ASSIGNED_POD_UPDATE,
        ClusterEvent::ASSIGNED_POD_DELETE,
        ClusterEvent::NODE_ADD,
        ClusterEvent::NODE_UPDATE
    ]
);

impl PreFilterPlugin for InterPodAffinity {
    fn pre_filter(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        nodes: &[Arc<NodeInfo>],
    ) -> (Option<PreFilterResult>, Status) {
        let own = terms(pod);
        let (affinity_terms, anti_terms) = (&own.required_affinity, &own.required_anti_affinity);
        let any_existing = nodes
            .iter()
            .any(|n| !n.pods_with_required_anti_affinity.is_empty());
        if affinity_terms.is_empty() && anti_terms.is_empty() && !any_existing {
            return (None, Status::skip());
        }
        let mut s = PreFilterState {
            affinity_keys: affinity_terms
                .iter()
                .map(|t| t.topology_key.clone())
                .collect(),
            anti_affinity_keys: anti_terms.iter().map(|t| t.topology_key.clone()).collect(),
            matches_own_affinity: affinity_terms.iter().all(|t| t.matches(pod, &self.listers)),
            ..Default::default()
        };
        for node in nodes {
            let labels = node_labels(node);
            // Existing pods' required anti-affinity selecting this pod.
            for existing in &node.pods_with_required_anti_affinity {
                for t in &terms(existing).required_anti_affinity {
                    if let Some(v) = labels.get(&t.topology_key)
                        && t.matches(pod, &self.listers)
                    {
                        s.existing_anti_affinity.add(&t.topology_key, v, 1);
                    }
                }
            }
            if affinity_terms.is_empty() && anti_terms.is_empty() {
                continue;
            }
            for existing in &node.pods {
                if !affinity_terms.is_empty()
                    && affinity_terms
                        .iter()
                        .all(|t| t.matches(existing, &self.listers))
                {
                    for t in affinity_terms {
                        if let Some(v) = labels.get(&t.topology_key) {
                            s.affinity.add(&t.topology_key, v, 1);
                        }
                    }
                }
                for t in anti_terms {
                    if let Some(v) = labels.get(&t.topology_key)
                        && t.matches(existing, &self.listers)
                    {
                        s.anti_affinity.add(&t.topology_key, v, 1);
                    }
                }
            }
        }
        state.write(STATE, s);
        (None, Status::success())
    }
}

impl FilterPlugin for InterPodAffinity {
    fn filter(&self, state: &CycleState, _pod: &PodInfo, node: &NodeInfo) -> Status {
        let Some(s) = state.read::<PreFilterState>(STATE) else {
            return Status::error("reading PreFilterInterPodAffinity from cycle state");
        };
        let labels = node_labels(node);
        // Required affinity: every term's domain on this node holds a match
        // — or no pod anywhere matches and the pod matches itself.
        if !s.affinity_keys.is_empty() {
            let ok = s
                .affinity_keys
                .iter()
                .all(|key| labels.get(key).is_some_and(|v| s.affinity.get(key, v) > 0));
            if !ok {
                let first_pod = s.affinity.is_empty()
                    && s.matches_own_affinity
                    && s.affinity_keys.iter().all(|k| labels.contains_key(k));
                if !first_pod {
                    return Status::with_reason(
                        Code::UnschedulableAndUnresolvable,
                        AFFINITY_RULES_NOT_MATCH,
                    );
                }
            }
        }
        for key in &s.anti_affinity_keys {
            if let Some(v) = labels.get(key)
                && s.anti_affinity.get(key, v) > 0
            {
                return Status::with_reason(Code::Unschedulable, ANTI_AFFINITY_RULES_NOT_MATCH);
            }
        }
        if !s.existing_anti_affinity.is_empty() {
            for (key, by_value) in &s.existing_anti_affinity.0 {
                if let Some(v) = labels.get(key)
                    && by_value.get(v).is_some_and(|c| *c > 0)
                {
                    return Status::with_reason(
                        Code::Unschedulable,
                        EXISTING_ANTI_AFFINITY_RULES_NOT_MATCH,
                    );
                }
            }
        }
        Status::success()
    }
}

impl PreScorePlugin for InterPodAffinity {
    /// Upstream's PreScore: a score per topology domain from both sides'
    /// preferred terms and existing pods' required affinity.
    fn pre_score(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        _feasible: &[Arc<NodeInfo>],
        nodes: &[Arc<NodeInfo>],
    ) -> Status {
        let own = terms(pod);
        let has_own = !own.preferred_affinity.is_empty() || !own.preferred_anti_affinity.is_empty();
        if self.ignore_preferred_terms_of_existing_pods && !has_own {
            return Status::skip();
        }
        let mut scores = Counts::default();
        for node in nodes {
            let existing_pods: &[Arc<PodInfo>] = if has_own {
                &node.pods
            } else {
                &node.pods_with_affinity
            };
            let labels = node_labels(node);
            let mut add = |key: &str, w: i64| {
                if let Some(v) = labels.get(key) {
                    scores.add(key, v, w);
                }
            };
            for existing in existing_pods {
                for (w, t) in &own.preferred_affinity {
                    if t.matches(existing, &self.listers) {
                        add(&t.topology_key, *w);
                    }
                }
                for (w, t) in &own.preferred_anti_affinity {
                    if t.matches(existing, &self.listers) {
                        add(&t.topology_key, -*w);
                    }
                }
                let theirs = terms(existing);
                if self.hard_pod_affinity_weight > 0 {
                    for t in &theirs.required_affinity {
                        if t.matches(pod, &self.listers) {
                            add(&t.topology_key, self.hard_pod_affinity_weight);
                        }
                    }
                }
                if !self.ignore_preferred_terms_of_existing_pods {
                    for (w, t) in &theirs.preferred_affinity {
                        if t.matches(pod, &self.listers) {
                            add(&t.topology_key, *w);
                        }
                    }
                    for (w, t) in &theirs.preferred_anti_affinity {
                        if t.matches(pod, &self.listers) {
                            add(&t.topology_key, -*w);
                        }
                    }
                }
            }
        }
        if scores.is_empty() {
            return Status::skip();
        }
        state.write(SCORE_STATE, scores);
        Status::success()
    }
}

impl ScorePlugin for InterPodAffinity {
    fn score(&self, state: &CycleState, _pod: &PodInfo, node: &NodeInfo) -> Result<i64, Status> {
        let Some(scores) = state.read::<Counts>(SCORE_STATE) else {
            return Err(Status::error(
                "reading PreScoreInterPodAffinity from cycle state",
            ));
        };
        let labels = node_labels(node);
        Ok(scores
            .0
            .iter()
            .filter_map(|(key, by_value)| labels.get(key).and_then(|v| by_value.get(v)))
            .sum())
    }

    /// `100 * (score - min) / (max - min)`, min and max including 0.
    fn normalize_score(
        &self,
        _: &CycleState,
        _: &PodInfo,
        _: &[Arc<NodeInfo>],
        scores: &mut [i64],
    ) -> Status {
        let max = scores.iter().copied().max().unwrap_or(0).max(0);
        let min = scores.iter().copied().min().unwrap_or(0).min(0);
        let diff = max - min;
        for s in scores.iter_mut() {
            *s = if diff > 0 {
                (MAX_NODE_SCORE as f64 * ((*s - min) as f64 / diff as f64)) as i64
            } else {
                0
            };
        }
        Status::success()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::testing::{node, pod};
    use serde_json::json;

    fn plugin() -> InterPodAffinity {
        InterPodAffinity::from_args(Arc::default(), None).unwrap()
    }

    fn filter_all(
        p: &InterPodAffinity,
        incoming: &PodInfo,
        nodes: &[Arc<NodeInfo>],
    ) -> Vec<Status> {
        let mut state = CycleState::default();
        let (_, s) = p.pre_filter(&mut state, incoming, nodes);
        if s.is_skip() {
            return nodes.iter().map(|_| Status::success()).collect();
        }
        nodes
            .iter()
            .map(|n| p.filter(&state, incoming, n))
            .collect()
    }

    fn term(key: &str, labels: serde_json::Value) -> serde_json::Value {
        json!({"labelSelector": {"matchLabels": labels}, "topologyKey": key})
    }

    #[test]
    fn required_affinity_needs_a_match_in_the_domain() {
        // After upstream's filtering_test: affinity to service=securityscan by region.
        let existing = pod("e", json!({"service": "securityscan"}), json!({}));
        let nodes = [
            node("n1", json!({"region": "r1", "zone": "z1"}), &[existing]),
            node("n2", json!({"region": "r1", "zone": "z2"}), &[]),
            node("n3", json!({"region": "r2", "zone": "z3"}), &[]),
            node("n4", json!({"zone": "z4"}), &[]),
        ];
        let incoming = pod(
            "p",
            json!({}),
            json!({"affinity": {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
                term("region", json!({"service": "securityscan"}))
            ]}}}),
        );
        let got = filter_all(&plugin(), &incoming, &nodes);
        assert!(got[0].is_success() && got[1].is_success());
        assert_eq!(got[2].code, Code::UnschedulableAndUnresolvable);
        assert_eq!(got[2].message(), AFFINITY_RULES_NOT_MATCH);
        assert!(
            !got[3].is_success(),
            "the topology key must exist on the node"
        );
    }

    #[test]
    fn the_first_pod_of_a_self_affine_group_goes_anywhere_with_the_key() {
        let nodes = [
            node("n1", json!({"zone": "z1"}), &[]),
            node("n2", json!({}), &[]),
        ];
        let incoming = pod(
            "p",
            json!({"app": "db"}),
            json!({"affinity": {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
                term("zone", json!({"app": "db"}))
            ]}}}),
        );
        let got = filter_all(&plugin(), &incoming, &nodes);
        assert!(got[0].is_success());
        assert!(!got[1].is_success());
    }

    #[test]
    fn anti_affinity_both_ways() {
        let web = pod("web-0", json!({"app": "web"}), json!({}));
        let guard = pod(
            "guard",
            json!({"app": "guard"}),
            json!({"affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
                term("kubernetes.io/hostname", json!({"app": "web"}))
            ]}}}),
        );
        let nodes = [
            node(
                "n1",
                json!({"kubernetes.io/hostname": "n1", "zone": "z1"}),
                &[web],
            ),
            node(
                "n2",
                json!({"kubernetes.io/hostname": "n2", "zone": "z1"}),
                &[guard],
            ),
            node(
                "n3",
                json!({"kubernetes.io/hostname": "n3", "zone": "z2"}),
                &[],
            ),
        ];
        // The incoming pod's anti-affinity against app=web by zone.
        let incoming = pod(
            "p",
            json!({"app": "web"}),
            json!({"affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
                term("zone", json!({"app": "web"}))
            ]}}}),
        );
        let got = filter_all(&plugin(), &incoming, &nodes);
        assert_eq!(got[0].message(), ANTI_AFFINITY_RULES_NOT_MATCH);
        assert_eq!(got[0].code, Code::Unschedulable);
        assert_eq!(
            got[1].message(),
            ANTI_AFFINITY_RULES_NOT_MATCH,
            "same zone as web-0"
        );
        assert!(got[2].is_success());
        // A plain web pod: only the guard's node refuses it.
        let plain = pod("q", json!({"app": "web"}), json!({}));
        let got = filter_all(&plugin(), &plain, &nodes);
        assert!(got[0].is_success());
        assert_eq!(got[1].message(), EXISTING_ANTI_AFFINITY_RULES_NOT_MATCH);
        assert!(got[2].is_success());
    }

    #[test]
    fn preferred_terms_score_domains_normalized() {
        let s1 = pod("s1", json!({"security": "S1"}), json!({}));
        let s2 = pod("s2", json!({"security": "S2"}), json!({}));
        let nodes = [
            node("n1", json!({"region": "china"}), &[s1]),
            node("n2", json!({"region": "india"}), &[s2]),
            node("n3", json!({"region": "china"}), &[]),
            node("n4", json!({"region": "us"}), &[]),
        ];
        let incoming = pod(
            "p",
            json!({}),
            json!({"affinity": {
                "podAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
                    {"weight": 5, "podAffinityTerm": term("region", json!({"security": "S1"}))}
                ]},
                "podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
                    {"weight": 5, "podAffinityTerm": term("region", json!({"security": "S2"}))}
                ]},
            }}),
        );
        let p = plugin();
        let mut state = CycleState::default();
        assert!(
            p.pre_score(&mut state, &incoming, &nodes, &nodes)
                .is_success()
        );
        let mut scores: Vec<i64> = nodes
            .iter()
            .map(|n| p.score(&state, &incoming, n).unwrap())
            .collect();
        assert_eq!(scores, [5, -5, 5, 0]);
        p.normalize_score(&state, &incoming, &nodes, &mut scores);
        assert_eq!(scores, [100, 0, 100, 50]);
        // Nothing preferred anywhere: the plugin skips scoring.
        let plain = pod("q", json!({}), json!({}));
        let mut state = CycleState::default();
        assert!(p.pre_score(&mut state, &plain, &nodes, &nodes).is_skip());
    }
}
