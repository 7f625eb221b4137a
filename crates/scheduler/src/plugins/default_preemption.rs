//! DefaultPreemption (upstream's `plugins/defaultpreemption` over
//! `framework/preemption`): when no node fits a pod, find nodes where
//! evicting pods of lower priority would make it fit — each node's victims
//! as few and as unimportant as possible, PodDisruptionBudgets respected
//! where they can be — pick the best node by upstream's criteria, nominate
//! it for the pod, and evict the victims (a `DisruptionTarget` condition,
//! a `Preempted` event, deletion) in the background.

use std::cmp::Ordering;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use rand::Rng;

use crate::framework::listers::{Budget, Listers};
use crate::framework::selector::{labels_of, matches};
use crate::framework::{
    Code, CycleState, Diagnosis, FitError, Framework, NodeInfo, NodeToStatus, PodInfo,
    PostFilterPlugin, Status,
};

pub const NAME: &str = "DefaultPreemption";

pub const NO_VICTIMS: &str = "No preemption victims found for incoming pod";
pub const NOT_HELPFUL: &str = "Preemption is not helpful for scheduling";

/// How victims are evicted (the API, and where to run it).
#[derive(Clone)]
pub struct Evictor {
    pub client: kube::Client,
    pub runtime: tokio::runtime::Handle,
    /// Records the victims' `Preempted` events.
    pub recorder: Option<crate::events::EventRecorder>,
}

pub struct DefaultPreemption {
    pub listers: Arc<Listers>,
    /// `minCandidateNodesPercentage` (10) and `minCandidateNodesAbsolute` (100).
    pub min_candidate_nodes_percentage: i64,
    pub min_candidate_nodes_absolute: i64,
    pub evictor: Option<Evictor>,
    /// Preemptions this scheduler started and has not seen finish: the
    /// preemptor's key → its nominated node and its victims' keys.
    preempting: std::sync::Mutex<std::collections::HashMap<String, (String, Vec<String>)>>,
}

impl DefaultPreemption {
    pub fn from_args(
        listers: Arc<Listers>,
        args: Option<&serde_json::Value>,
        evictor: Option<Evictor>,
    ) -> Result<Self, String> {
        let get = |k: &str, d: i64| {
            args.and_then(|a| a.get(k))
                .and_then(|v| v.as_i64())
                .unwrap_or(d)
        };
        let pct = get("minCandidateNodesPercentage", 10);
        let abs = get("minCandidateNodesAbsolute", 100);
        if !(0..=100).contains(&pct) {
            return Err(format!(
                "minCandidateNodesPercentage: Invalid value: {pct}: not in valid range [0, 100]"
            ));
        }
        if abs < 0 {
            return Err(format!(
                "minCandidateNodesAbsolute: Invalid value: {abs}: not in valid range [0, inf)"
            ));
        }
        if pct == 0 && abs == 0 {
            return Err("minCandidateNodesPercentage: Invalid value: 0: both minCandidateNodesPercentage and minCandidateNodesAbsolute cannot be zero".into());
        }
        Ok(DefaultPreemption {
            listers,
            min_candidate_nodes_percentage: pct,
            min_candidate_nodes_absolute: abs,
            evictor,
            preempting: Default::default(),
        })
    }
}

fn priority(p: &PodInfo) -> i32 {
    p.priority()
}

fn start_time(p: &PodInfo) -> Option<k8s_openapi::jiff::Timestamp> {
    p.pod
        .status
        .as_ref()
        .and_then(|s| s.start_time.as_ref())
        .map(|t| t.0)
}

/// Upstream's `MoreImportantPod`: higher priority, then started earlier
/// (a pod not started counts as starting now).
fn more_important(a: &PodInfo, b: &PodInfo) -> Ordering {
    let now = k8s_openapi::jiff::Timestamp::now();
    priority(b).cmp(&priority(a)).then_with(|| {
        start_time(a)
            .unwrap_or(now)
            .cmp(&start_time(b).unwrap_or(now))
    })
}

/// One node's victims.
#[derive(Clone, Debug)]
struct Candidate {
    node: String,
    victims: Vec<Arc<PodInfo>>,
    pdb_violations: usize,
}

/// Runs PreFilter on the snapshot with `node` in place of its original,
/// then the filters on it (upstream does the same through the PreFilter
/// extensions' AddPod / RemovePod).
fn fits(
    fwk: &Framework,
    pod: &PodInfo,
    nodes: &[Arc<NodeInfo>],
    index: usize,
    node: &NodeInfo,
) -> Status {
    let mut replaced: Vec<Arc<NodeInfo>> = nodes.to_vec();
    replaced[index] = Arc::new(node.clone());
    let mut state = CycleState::default();
    let (_, s) = fwk.run_pre_filter(&mut state, pod, &replaced);
    if !s.is_success() {
        return s;
    }
    fwk.run_filter(&state, pod, node)
}

impl DefaultPreemption {
    fn budgets(&self) -> Vec<Budget> {
        self.listers
            .pdbs
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect()
    }

    /// Upstream's `SelectVictimsOnNode`.
    fn select_victims(
        &self,
        fwk: &Framework,
        pod: &PodInfo,
        nodes: &[Arc<NodeInfo>],
        index: usize,
        budgets: &[Budget],
    ) -> Result<Candidate, Status> {
        let original = &nodes[index];
        let mut node: NodeInfo = (**original).clone();
        let mut potential: Vec<Arc<PodInfo>> = original
            .pods
            .iter()
            .filter(|p| priority(p) < priority(pod))
            .cloned()
            .collect();
        if potential.is_empty() {
            return Err(Status::with_reason(
                Code::UnschedulableAndUnresolvable,
                NO_VICTIMS,
            ));
        }
        for p in &potential {
            node.remove_pod(&p.key);
        }
        let s = fits(fwk, pod, nodes, index, &node);
        if !s.is_success() {
            return Err(s);
        }
        potential.sort_by(|a, b| more_important(a, b));
        // Split by whether evicting the pod would break a budget (counters
        // shared across the node's pods in this order).
        let mut allowed: Vec<i64> = budgets.iter().map(|b| b.disruptions_allowed).collect();
        let (mut violating, mut non_violating) = (Vec::new(), Vec::new());
        for p in potential {
            let labels = labels_of(p.pod.metadata.labels.as_ref());
            let mut violates = false;
            for (i, b) in budgets.iter().enumerate() {
                if b.namespace != p.namespace()
                    || b.selector.as_ref().is_none_or(|s| {
                        s.match_labels.as_ref().is_none_or(|m| m.is_empty())
                            && s.match_expressions.as_ref().is_none_or(|e| e.is_empty())
                    })
                    || !matches(b.selector.as_ref(), labels)
                    || b.disrupted_pods.contains(p.name())
                {
                    continue;
                }
                allowed[i] -= 1;
                if allowed[i] < 0 {
                    violates = true;
                }
            }
            if violates {
                violating.push(p);
            } else {
                non_violating.push(p);
            }
        }
        let mut victims = Vec::new();
        let mut pdb_violations = 0;
        let groups = [(violating, true), (non_violating, false)];
        let both = groups.iter().all(|(g, _)| !g.is_empty());
        for (group, violates) in groups {
            for p in group {
                node.add_pod(p.clone());
                if !fits(fwk, pod, nodes, index, &node).is_success() {
                    node.remove_pod(&p.key);
                    victims.push(p);
                    if violates {
                        pdb_violations += 1;
                    }
                }
            }
        }
        if both {
            victims.sort_by(|a, b| more_important(a, b));
        }
        if victims.is_empty() {
            return Err(Status::error(format!(
                "expected at least one victim pod on node {:?}",
                original.name
            )));
        }
        Ok(Candidate {
            node: original.name.clone(),
            victims,
            pdb_violations,
        })
    }
}

/// Upstream's `pickOneNodeForPreemption`: fewest budget violations, then
/// the lowest highest-priority victim, the smallest sum of priorities, the
/// fewest victims, the latest start of the most important victims.
fn pick(mut candidates: Vec<Candidate>) -> Option<Candidate> {
    let keep = |c: &mut Vec<Candidate>, score: &dyn Fn(&Candidate) -> i128| {
        let best = c.iter().map(score).max();
        c.retain(|x| Some(score(x)) == best);
    };
    keep(&mut candidates, &|c| -(c.pdb_violations as i128));
    keep(&mut candidates, &|c| -i128::from(priority(&c.victims[0])));
    keep(&mut candidates, &|c| {
        -c.victims
            .iter()
            .map(|v| i128::from(priority(v)) + i128::from(i32::MAX) + 1)
            .sum::<i128>()
    });
    keep(&mut candidates, &|c| -(c.victims.len() as i128));
    keep(&mut candidates, &|c| {
        let top = priority(&c.victims[0]);
        c.victims
            .iter()
            .filter(|v| priority(v) == top)
            .filter_map(|v| start_time(v))
            .min()
            .map(|t| i128::from(t.as_nanosecond() as i64))
            .unwrap_or(i128::MAX)
    });
    candidates.into_iter().next()
}

plugin!(DefaultPreemption, NAME, [post_filter], []);

impl PostFilterPlugin for DefaultPreemption {
    fn post_filter(
        &self,
        _state: &CycleState,
        pod: &PodInfo,
        statuses: &NodeToStatus,
        fwk: &Framework,
        nodes: &[Arc<NodeInfo>],
    ) -> (Option<String>, Status) {
        let unschedulable =
            |m: String| Status::with_reason(Code::Unschedulable, format!("preemption: {m}"));
        // Upstream's PodEligibleToPreemptOthers.
        if pod.spec().preemption_policy.as_deref() == Some("Never") {
            return (
                None,
                unschedulable("not eligible due to preemptionPolicy=Never.".into()),
            );
        }
        // A preemption of ours still under way (victims still on the node,
        // as far as this cycle's snapshot knows): wait for it, as upstream's
        // PreEnqueue holds a pod whose preemption is running.
        {
            let mut running = self.preempting.lock().unwrap_or_else(|e| e.into_inner());
            if let Some((node, victims)) = running.get(&pod.key) {
                let still = nodes
                    .iter()
                    .find(|n| n.name == *node)
                    .is_some_and(|n| n.pods.iter().any(|p| victims.contains(&p.key)));
                if still {
                    return (
                        None,
                        unschedulable(
                            "not eligible due to a terminating pod on the nominated node.".into(),
                        ),
                    );
                }
                running.remove(&pod.key);
            }
        }
        let nominated = pod
            .pod
            .status
            .as_ref()
            .and_then(|s| s.nominated_node_name.as_deref())
            .filter(|n| !n.is_empty());
        if let Some(n) = nominated
            && statuses
                .statuses
                .get(n)
                .is_none_or(|s| s.code != Code::UnschedulableAndUnresolvable)
            && let Some(info) = nodes.iter().find(|i| i.name == n)
            && info.pods.iter().any(|p| {
                priority(p) < priority(pod)
                    && p.pod.metadata.deletion_timestamp.is_some()
                    && p.pod
                        .status
                        .as_ref()
                        .and_then(|s| s.conditions.as_ref())
                        .is_some_and(|c| {
                            c.iter().any(|c| {
                                c.type_ == "DisruptionTarget"
                                    && c.status == "True"
                                    && c.reason.as_deref() == Some("PreemptionByScheduler")
                            })
                        })
            })
        {
            return (
                None,
                unschedulable(
                    "not eligible due to a terminating pod on the nominated node.".into(),
                ),
            );
        }
        // Nodes refused only by Unschedulable verdicts may be helped.
        let potential: Vec<usize> = nodes
            .iter()
            .enumerate()
            .filter(|(_, n)| {
                statuses
                    .statuses
                    .get(&n.name)
                    .is_some_and(|s| s.code == Code::Unschedulable)
            })
            .map(|(i, _)| i)
            .collect();
        let budgets = self.budgets();
        let mut dry_run = NodeToStatus {
            statuses: Default::default(),
            absent: Status::with_reason(Code::UnschedulableAndUnresolvable, NOT_HELPFUL),
        };
        let mut candidates: Vec<Candidate> = Vec::new();
        if !potential.is_empty() {
            let n = potential.len() as i64;
            let wanted = (n * self.min_candidate_nodes_percentage / 100)
                .max(self.min_candidate_nodes_absolute)
                .min(n) as usize;
            let offset = rand::rng().random_range(0..potential.len());
            let mut violating = 0usize;
            for i in 0..potential.len() {
                let index = potential[(offset + i) % potential.len()];
                match self.select_victims(fwk, pod, nodes, index, &budgets) {
                    Ok(c) => {
                        if c.pdb_violations > 0 {
                            violating += 1;
                        }
                        candidates.push(c);
                        let non_violating = candidates.len() - violating;
                        if non_violating > 0 && candidates.len() >= wanted {
                            break;
                        }
                    }
                    Err(s) if s.code == Code::Error => return (None, s),
                    Err(s) => {
                        dry_run.statuses.insert(nodes[index].name.clone(), s);
                    }
                }
            }
        }
        let Some(best) = pick(candidates) else {
            let fit = FitError {
                num_all_nodes: nodes.len(),
                diagnosis: Diagnosis {
                    node_to_status: dry_run,
                    ..Default::default()
                },
            };
            // No candidate: the pod's nomination (if any) is cleared.
            return (Some(String::new()), unschedulable(fit.to_string()));
        };
        self.preempting
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(
                pod.key.clone(),
                (
                    best.node.clone(),
                    best.victims.iter().map(|v| v.key.clone()).collect(),
                ),
            );
        if let Some(e) = &self.evictor {
            evict(e.clone(), pod, &best);
        }
        (Some(best.node), Status::success())
    }
}

/// Marks each victim as a disruption target, records its `Preempted`
/// event and deletes it, in the background (1.33's async preemption).
fn evict(e: Evictor, preemptor: &PodInfo, c: &Candidate) {
    let victims = c.victims.clone();
    let node = c.node.clone();
    let preemptor_uid = preemptor.uid().to_string();
    let preemptor_pod = preemptor.pod.clone();
    let scheduler_name = preemptor.scheduler_name().to_string();
    let runtime = e.runtime.clone();
    runtime.spawn(async move {
        let work = victims.into_iter().map(|v| {
            let e = e.clone();
            let (node, uid, preemptor) = (node.clone(), preemptor_uid.clone(), preemptor_pod.clone());
            let scheduler_name = scheduler_name.clone();
            async move {
                if v.pod.metadata.deletion_timestamp.is_some() {
                    return;
                }
                let api: Api<Pod> = Api::namespaced(e.client.clone(), v.namespace());
                let patch = serde_json::json!({"status": {"conditions": [{
                    "type": "DisruptionTarget",
                    "status": "True",
                    "reason": "PreemptionByScheduler",
                    "message": format!("{}: preempting to accommodate a higher priority pod", scheduler_name),
                    "lastTransitionTime": k8s_openapi::jiff::Timestamp::now().round(k8s_openapi::jiff::Unit::Second).unwrap_or_else(|_| k8s_openapi::jiff::Timestamp::now()).to_string(),
                }]}});
                if let Err(err) = api
                    .patch_status(v.name(), &PatchParams::default(), &Patch::Strategic(&patch))
                    .await
                {
                    tracing::debug!(victim = %v.key, error = %err, "marking a preemption victim");
                }
                if let Some(r) = &e.recorder {
                    r.record(crate::events::Record {
                        regarding: crate::scheduler::reference(&v.pod),
                        related: Some(crate::scheduler::reference(&preemptor)),
                        type_: "Normal",
                        reason: "Preempted",
                        action: "Preempting",
                        note: format!("Preempted by pod {uid} on node {node}"),
                    });
                }
                if let Err(err) = api.delete(v.name(), &DeleteParams::default()).await {
                    tracing::debug!(victim = %v.key, error = %err, "deleting a preemption victim");
                }
            }
        });
        futures::future::join_all(work).await;
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::FrameworkBuilder;
    use crate::plugins::testing::node;
    use serde_json::json;
    use std::collections::HashSet;

    fn pod(name: &str, prio: i32, cpu: &str) -> Arc<PodInfo> {
        crate::plugins::testing::pod(
            name,
            json!({"app": name}),
            json!({"priority": prio, "containers": [{"name": "c", "image": "i", "resources": {"requests": {"cpu": cpu}}}]}),
        )
    }

    fn framework() -> Framework {
        let mut b = FrameworkBuilder::default();
        for (name, weight) in crate::plugins::DEFAULT_PLUGINS {
            if *name == crate::plugins::default_binder::NAME || *name == NAME {
                continue;
            }
            let p = crate::plugins::new_in_tree(name, None, &Default::default()).unwrap();
            b.enable_everywhere(p, *weight);
        }
        b.build("default-scheduler", None)
    }

    fn statuses(nodes: &[Arc<NodeInfo>], fwk: &Framework, p: &PodInfo) -> NodeToStatus {
        let mut state = CycleState::default();
        fwk.run_pre_filter(&mut state, p, nodes);
        NodeToStatus {
            statuses: nodes
                .iter()
                .map(|n| (n.name.clone(), fwk.run_filter(&state, p, n)))
                .filter(|(_, s)| !s.is_success())
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn the_node_with_the_least_important_victims_is_chosen() {
        // Nodes of 4 cpu: n1 full with a priority-10 pod, n2 with two
        // priority-1 pods, n3 with one priority-5 pod of 3 cpu and a
        // priority-1 pod.
        let nodes = vec![
            node("n1", json!({}), &[pod("a", 10, "4")]),
            node("n2", json!({}), &[pod("b", 1, "2"), pod("c", 1, "2")]),
            node("n3", json!({}), &[pod("d", 5, "3"), pod("e", 1, "1")]),
        ];
        let fwk = framework();
        let incoming = pod("p", 100, "2");
        let st = statuses(&nodes, &fwk, &incoming);
        let plugin = DefaultPreemption::from_args(Arc::default(), None, None).unwrap();
        let (nominated, s) =
            plugin.post_filter(&CycleState::default(), &incoming, &st, &fwk, &nodes);
        assert!(s.is_success(), "{s:?}");
        // n2: one priority-1 victim (the other reprieved); n3 needs d (5).
        assert_eq!(nominated.as_deref(), Some("n2"));
        let c = plugin
            .select_victims(&fwk, &incoming, &nodes, 1, &[])
            .unwrap();
        assert_eq!(c.victims.len(), 1);
    }

    #[test]
    fn nothing_to_preempt_gives_upstreams_message() {
        let nodes = vec![
            node("n1", json!({}), &[pod("a", 1000, "4")]),
            node("n2", json!({"x": "y"}), &[]),
        ];
        let fwk = framework();
        let incoming = crate::plugins::testing::pod(
            "p",
            json!({}),
            json!({"priority": 100, "nodeSelector": {"x": "z"}, "containers": [{"name": "c", "image": "i", "resources": {"requests": {"cpu": "2"}}}]}),
        );
        let st = statuses(&nodes, &fwk, &incoming);
        let plugin = DefaultPreemption::from_args(Arc::default(), None, None).unwrap();
        let (nominated, s) =
            plugin.post_filter(&CycleState::default(), &incoming, &st, &fwk, &nodes);
        assert_eq!(nominated.as_deref(), Some(""));
        assert_eq!(
            s.message(),
            "preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling."
        );
        // Resources only, but nothing of lower priority.
        let incoming = pod("q", 100, "2");
        let nodes = vec![node("n1", json!({}), &[pod("a", 1000, "4")])];
        let st = statuses(&nodes, &fwk, &incoming);
        let (_, s) = plugin.post_filter(&CycleState::default(), &incoming, &st, &fwk, &nodes);
        assert_eq!(
            s.message(),
            "preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod."
        );
        // preemptionPolicy Never.
        let never = crate::plugins::testing::pod(
            "r",
            json!({}),
            json!({"priority": 100, "preemptionPolicy": "Never", "containers": [{"name": "c", "image": "i", "resources": {"requests": {"cpu": "2"}}}]}),
        );
        let (nominated, s) = plugin.post_filter(&CycleState::default(), &never, &st, &fwk, &nodes);
        assert_eq!(nominated, None);
        assert_eq!(
            s.message(),
            "preemption: not eligible due to preemptionPolicy=Never."
        );
    }

    #[test]
    fn budgets_are_respected_where_possible() {
        let nodes = vec![
            node("n1", json!({}), &[pod("guarded", 1, "4")]),
            node("n2", json!({}), &[pod("free", 1, "4")]),
        ];
        let budget = Budget {
            namespace: "default".into(),
            selector: serde_json::from_value(json!({"matchLabels": {"app": "guarded"}})).unwrap(),
            disruptions_allowed: 0,
            disrupted_pods: HashSet::new(),
        };
        let listers = Arc::new(Listers::default());
        listers
            .pdbs
            .write()
            .unwrap()
            .insert("default/pdb".into(), budget);
        let fwk = framework();
        let incoming = pod("p", 100, "2");
        let st = statuses(&nodes, &fwk, &incoming);
        for _ in 0..10 {
            // A fresh plugin each time: one remembers its running preemption.
            let plugin = DefaultPreemption::from_args(listers.clone(), None, None).unwrap();
            let (nominated, _) =
                plugin.post_filter(&CycleState::default(), &incoming, &st, &fwk, &nodes);
            assert_eq!(nominated.as_deref(), Some("n2"));
        }
    }
}
