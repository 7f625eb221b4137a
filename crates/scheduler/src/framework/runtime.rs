//! A profile's plugins at each extension point, and how they are run
//! (upstream's `framework/runtime/framework.go`), with the outcome of a
//! cycle that found no node (upstream's `Diagnosis` and `FitError`, whose
//! text is the `FailedScheduling` message).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;

use super::{ClusterEvent, Code, CycleState, MAX_NODE_SCORE, NodeInfo, Plugin, PodInfo, Status};

/// The extension points a plugin can be enabled at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Point {
    PreEnqueue,
    QueueSort,
    PreFilter,
    Filter,
    PostFilter,
    PreScore,
    Score,
    Reserve,
    Permit,
    PreBind,
    Bind,
    PostBind,
}

impl Point {
    pub const ALL: [Point; 12] = [
        Point::PreEnqueue,
        Point::QueueSort,
        Point::PreFilter,
        Point::Filter,
        Point::PostFilter,
        Point::PreScore,
        Point::Score,
        Point::Reserve,
        Point::Permit,
        Point::PreBind,
        Point::Bind,
        Point::PostBind,
    ];

    /// Whether `plugin` implements this point.
    pub fn served_by(self, plugin: &dyn Plugin) -> bool {
        match self {
            Point::PreEnqueue => plugin.as_pre_enqueue().is_some(),
            Point::QueueSort => plugin.is_queue_sort(),
            Point::PreFilter => plugin.as_pre_filter().is_some(),
            Point::Filter => plugin.as_filter().is_some(),
            Point::PostFilter => plugin.as_post_filter().is_some(),
            Point::PreScore => plugin.as_pre_score().is_some(),
            Point::Score => plugin.as_score().is_some(),
            Point::Reserve => plugin.as_reserve().is_some(),
            Point::Permit => plugin.as_permit().is_some(),
            Point::PreBind => plugin.as_pre_bind().is_some(),
            Point::Bind => plugin.as_bind().is_some(),
            Point::PostBind => plugin.as_post_bind().is_some(),
        }
    }
}

/// The status of each node a cycle looked at, and of those it did not
/// (upstream's `NodeToStatus`: absent nodes were cut by a PreFilter
/// result, UnschedulableAndUnresolvable with no reason by default).
#[derive(Clone, Debug)]
pub struct NodeToStatus {
    pub statuses: BTreeMap<String, Status>,
    pub absent: Status,
}

impl Default for NodeToStatus {
    fn default() -> Self {
        NodeToStatus {
            statuses: BTreeMap::new(),
            absent: Status::new(Code::UnschedulableAndUnresolvable, Vec::new()),
        }
    }
}

/// Why a cycle found no node (upstream's `Diagnosis`).
#[derive(Clone, Debug, Default)]
pub struct Diagnosis {
    pub node_to_status: NodeToStatus,
    /// The plugins that rejected the pod somewhere (to requeue it on the
    /// events they registered).
    pub unschedulable_plugins: BTreeSet<&'static str>,
    pub pending_plugins: BTreeSet<&'static str>,
    /// A PreFilter's rejection message, when it rejected the pod outright.
    pub pre_filter_msg: String,
    /// PostFilter's (preemption's) message.
    pub post_filter_msg: String,
}

/// No node fits the pod (upstream's `FitError`); its text is the
/// `FailedScheduling` message.
#[derive(Clone, Debug)]
pub struct FitError {
    pub num_all_nodes: usize,
    pub diagnosis: Diagnosis,
}

impl fmt::Display for FitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0/{} nodes are available:", self.num_all_nodes)?;
        let d = &self.diagnosis;
        if !d.pre_filter_msg.is_empty() {
            write!(f, " {}.", d.pre_filter_msg)?;
        } else {
            let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
            for status in d.node_to_status.statuses.values() {
                for r in &status.reasons {
                    *counts.entry(r).or_default() += 1;
                }
            }
            let explicit = d.node_to_status.statuses.len();
            if explicit < self.num_all_nodes {
                for r in &d.node_to_status.absent.reasons {
                    *counts.entry(r).or_default() += self.num_all_nodes - explicit;
                }
            }
            // Upstream sorts the "count reason" strings byte-wise.
            let mut items: Vec<String> = counts.iter().map(|(r, n)| format!("{n} {r}")).collect();
            items.sort();
            if !items.is_empty() {
                write!(f, " {}.", items.join(", "))?;
            }
        }
        if !d.post_filter_msg.is_empty() {
            write!(f, " {}", d.post_filter_msg)?;
        }
        Ok(())
    }
}

/// One plugin enabled at a point.
#[derive(Clone)]
struct Enabled {
    plugin: Arc<dyn Plugin>,
    weight: i64,
}

/// Collects a profile's plugins, point by point, in order.
#[derive(Default)]
pub struct FrameworkBuilder {
    points: BTreeMap<Point, Vec<Enabled>>,
    all: Vec<Arc<dyn Plugin>>,
}

impl FrameworkBuilder {
    /// Enables `plugin` at `point` (a score `weight` of 0 counts as 1); a
    /// plugin already enabled there is left as it is.
    pub fn enable(&mut self, point: Point, plugin: Arc<dyn Plugin>, weight: i64) -> &mut Self {
        let list = self.points.entry(point).or_default();
        if !list.iter().any(|e| e.plugin.name() == plugin.name()) {
            list.push(Enabled {
                plugin: plugin.clone(),
                weight: if weight == 0 { 1 } else { weight },
            });
        }
        if !self.all.iter().any(|p| p.name() == plugin.name()) {
            self.all.push(plugin);
        }
        self
    }

    /// Enables `plugin` at every point it serves (upstream's MultiPoint).
    pub fn enable_everywhere(&mut self, plugin: Arc<dyn Plugin>, weight: i64) -> &mut Self {
        for point in Point::ALL {
            if point.served_by(plugin.as_ref()) {
                self.enable(point, plugin.clone(), weight);
            }
        }
        self
    }

    /// Disables the plugin named `name` at `point`.
    pub fn disable(&mut self, point: Point, name: &str) -> &mut Self {
        if let Some(list) = self.points.get_mut(&point) {
            list.retain(|e| e.plugin.name() != name);
        }
        self
    }

    /// The names enabled at `point`, in order.
    pub fn enabled(&self, point: Point) -> Vec<&'static str> {
        self.points
            .get(&point)
            .map(|l| l.iter().map(|e| e.plugin.name()).collect())
            .unwrap_or_default()
    }

    pub fn build(
        self,
        scheduler_name: &str,
        percentage_of_nodes_to_score: Option<i32>,
    ) -> Framework {
        let at = |p: Point| self.points.get(&p).cloned().unwrap_or_default();
        Framework {
            scheduler_name: scheduler_name.to_string(),
            percentage_of_nodes_to_score,
            pre_enqueue: at(Point::PreEnqueue),
            pre_filter: at(Point::PreFilter),
            filter: at(Point::Filter),
            post_filter: at(Point::PostFilter),
            pre_score: at(Point::PreScore),
            score: at(Point::Score),
            reserve: at(Point::Reserve),
            permit: at(Point::Permit),
            pre_bind: at(Point::PreBind),
            bind: at(Point::Bind),
            post_bind: at(Point::PostBind),
            all: self.all,
            metrics: Default::default(),
        }
    }
}

/// A profile: its scheduler name and its plugins at each point.
pub struct Framework {
    pub scheduler_name: String,
    /// The profile's `percentageOfNodesToScore` (None: the global value).
    pub percentage_of_nodes_to_score: Option<i32>,
    pre_enqueue: Vec<Enabled>,
    pre_filter: Vec<Enabled>,
    filter: Vec<Enabled>,
    post_filter: Vec<Enabled>,
    pre_score: Vec<Enabled>,
    score: Vec<Enabled>,
    reserve: Vec<Enabled>,
    permit: Vec<Enabled>,
    pre_bind: Vec<Enabled>,
    bind: Vec<Enabled>,
    post_bind: Vec<Enabled>,
    all: Vec<Arc<dyn Plugin>>,
    metrics: std::sync::OnceLock<Arc<crate::metrics::Metrics>>,
}

/// How long since `start`, in seconds.
fn since(start: std::time::Instant) -> f64 {
    start.elapsed().as_secs_f64()
}

impl Framework {
    /// Where the framework records its durations.
    pub fn set_metrics(&self, metrics: Arc<crate::metrics::Metrics>) {
        let _ = self.metrics.set(metrics);
    }

    fn plugin_metric(
        &self,
        state: &CycleState,
        plugin: &'static str,
        point: &'static str,
        status: &Status,
        start: Option<std::time::Instant>,
    ) {
        if let (true, Some(m), Some(start)) =
            (state.record_plugin_metrics, self.metrics.get(), start)
        {
            m.plugin(
                plugin,
                point,
                crate::metrics::status_label(status.code),
                since(start),
            );
        }
    }

    fn point_metric(&self, point: &'static str, status: &Status, start: std::time::Instant) {
        if let Some(m) = self.metrics.get() {
            m.extension_point(
                point,
                crate::metrics::status_label(status.code),
                &self.scheduler_name,
                since(start),
            );
        }
    }

    pub fn has_filter_plugins(&self) -> bool {
        !self.filter.is_empty()
    }

    pub fn has_score_plugins(&self) -> bool {
        !self.score.is_empty()
    }

    pub fn has_post_filter_plugins(&self) -> bool {
        !self.post_filter.is_empty()
    }

    /// The names of the plugins at each point (for logs and tests).
    pub fn list(&self, point: Point) -> Vec<(&'static str, i64)> {
        let l = match point {
            Point::PreEnqueue => &self.pre_enqueue,
            Point::QueueSort => return Vec::new(),
            Point::PreFilter => &self.pre_filter,
            Point::Filter => &self.filter,
            Point::PostFilter => &self.post_filter,
            Point::PreScore => &self.pre_score,
            Point::Score => &self.score,
            Point::Reserve => &self.reserve,
            Point::Permit => &self.permit,
            Point::PreBind => &self.pre_bind,
            Point::Bind => &self.bind,
            Point::PostBind => &self.post_bind,
        };
        l.iter().map(|e| (e.plugin.name(), e.weight)).collect()
    }

    /// The events after which each plugin's rejections are retried.
    pub fn events_to_register(&self) -> Vec<(&'static str, Vec<ClusterEvent>)> {
        self.all
            .iter()
            .map(|p| (p.name(), p.events_to_register()))
            .collect()
    }

    /// Upstream's `RunPreFilterPlugins` (its duration recorded).
    pub fn run_pre_filter(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        nodes: &[Arc<NodeInfo>],
    ) -> (Option<BTreeSet<String>>, Status) {
        let start = std::time::Instant::now();
        let out = self.run_pre_filter_inner(state, pod, nodes);
        self.point_metric("PreFilter", &out.1, start);
        out
    }
    /// Upstream's `RunPreScorePlugins` (its duration recorded).
    pub fn run_pre_score(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        nodes: &[Arc<NodeInfo>],
        all: &[Arc<NodeInfo>],
    ) -> Status {
        let start = std::time::Instant::now();
        let out = self.run_pre_score_inner(state, pod, nodes, all);
        self.point_metric("PreScore", &out, start);
        out
    }
    /// Upstream's `RunScorePlugins` (its duration recorded).
    pub fn run_score(
        &self,
        state: &CycleState,
        pod: &PodInfo,
        nodes: &[Arc<NodeInfo>],
    ) -> Result<Vec<i64>, Status> {
        let start = std::time::Instant::now();
        let out = self.run_score_inner(state, pod, nodes);
        let status = match &out {
            Ok(_) => Status::success(),
            Err(s) => s.clone(),
        };
        self.point_metric("Score", &status, start);
        out
    }

    /// Upstream's `RunPreEnqueuePlugins`: the first refusal.
    pub fn run_pre_enqueue(&self, pod: &PodInfo) -> Status {
        for e in &self.pre_enqueue {
            let s = e.plugin.as_pre_enqueue().map(|p| p.pre_enqueue(pod));
            if let Some(s) = s.filter(|s| !s.is_success()) {
                return s.by(e.plugin.name());
            }
        }
        Status::success()
    }

    /// Upstream's `RunPreFilterPlugins`: plugins returning Skip have their
    /// Filter skipped; the first rejection stops; node sets are intersected.
    fn run_pre_filter_inner(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        nodes: &[Arc<NodeInfo>],
    ) -> (Option<BTreeSet<String>>, Status) {
        let mut result: Option<BTreeSet<String>> = None;
        let mut narrowed_by: Vec<&'static str> = Vec::new();
        for e in &self.pre_filter {
            let name = e.plugin.name();
            let Some(p) = e.plugin.as_pre_filter() else {
                continue;
            };
            let start = state.record_plugin_metrics.then(std::time::Instant::now);
            let (r, s) = p.pre_filter(state, pod, nodes);
            self.plugin_metric(state, name, "PreFilter", &s, start);
            if s.is_skip() {
                state.skip_filter.insert(name);
                continue;
            }
            if !s.is_success() {
                if s.is_rejected() {
                    return (None, s.by(name));
                }
                return (
                    None,
                    Status::error(format!(
                        "running PreFilter plugin {name:?}: {}",
                        s.message()
                    ))
                    .by(name),
                );
            }
            if let Some(names) = r.and_then(|r| r.node_names) {
                narrowed_by.push(name);
                result = Some(match result {
                    None => names,
                    Some(prev) => prev.intersection(&names).cloned().collect(),
                });
                if result.as_ref().is_some_and(|r| r.is_empty()) {
                    let msg = if narrowed_by.len() == 1 {
                        format!("node(s) didn't satisfy plugin {name}")
                    } else {
                        narrowed_by.sort();
                        format!(
                            "node(s) didn't satisfy plugin(s) [{}] simultaneously",
                            narrowed_by.join(" ")
                        )
                    };
                    return (
                        None,
                        Status::with_reason(Code::UnschedulableAndUnresolvable, msg).by(name),
                    );
                }
            }
        }
        if result.is_some() {
            narrowed_by.sort();
            state.write(NARROWED_BY, narrowed_by);
        }
        (result, Status::success())
    }

    /// The status of nodes a PreFilter result left out: `node(s) didn't
    /// satisfy plugin(s) [..]`.
    pub fn absent_status(state: &CycleState) -> Option<Status> {
        let by = state.read::<Vec<&'static str>>(NARROWED_BY)?;
        Some(Status::with_reason(
            Code::UnschedulableAndUnresolvable,
            format!("node(s) didn't satisfy plugin(s) [{}]", by.join(" ")),
        ))
    }

    /// Upstream's `RunFilterPlugins`: the first plugin that refuses the
    /// node decides (its reasons only).
    pub fn run_filter(&self, state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Status {
        for e in &self.filter {
            let name = e.plugin.name();
            if state.skip_filter.contains(name) {
                continue;
            }
            let Some(p) = e.plugin.as_filter() else {
                continue;
            };
            let start = state.record_plugin_metrics.then(std::time::Instant::now);
            let s = p.filter(state, pod, node);
            self.plugin_metric(state, name, "Filter", &s, start);
            if !s.is_success() {
                if !s.is_rejected() {
                    return Status::error(format!(
                        "running {name:?} filter plugin: {}",
                        s.message()
                    ))
                    .by(name);
                }
                return s.by(name);
            }
        }
        Status::success()
    }

    /// Upstream's `RunPostFilterPlugins`: the first success wins; the
    /// reasons of those that found nothing are kept.
    pub fn run_post_filter(
        &self,
        state: &CycleState,
        pod: &PodInfo,
        statuses: &NodeToStatus,
        nodes: &[Arc<NodeInfo>],
    ) -> (Option<String>, Status) {
        let mut reasons = Vec::new();
        for e in &self.post_filter {
            let Some(p) = e.plugin.as_post_filter() else {
                continue;
            };
            let (nominated, s) = p.post_filter(state, pod, statuses, self, nodes);
            if s.is_success() {
                return (nominated, s);
            }
            if s.code == Code::UnschedulableAndUnresolvable {
                return (nominated, s.by(e.plugin.name()));
            }
            if s.code != Code::Unschedulable {
                return (None, s.by(e.plugin.name()));
            }
            reasons.extend(s.reasons);
        }
        (None, Status::new(Code::Unschedulable, reasons))
    }

    /// Upstream's `RunPreScorePlugins`: Skip skips that plugin's Score.
    fn run_pre_score_inner(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        nodes: &[Arc<NodeInfo>],
        all: &[Arc<NodeInfo>],
    ) -> Status {
        for e in &self.pre_score {
            let name = e.plugin.name();
            let Some(p) = e.plugin.as_pre_score() else {
                continue;
            };
            let start = state.record_plugin_metrics.then(std::time::Instant::now);
            let s = p.pre_score(state, pod, nodes, all);
            self.plugin_metric(state, name, "PreScore", &s, start);
            if s.is_skip() {
                state.skip_score.insert(name);
            } else if !s.is_success() {
                return Status::error(format!("running PreScore plugin {name:?}: {}", s.message()))
                    .by(name);
            }
        }
        Status::success()
    }

    /// Upstream's `RunScorePlugins`: each plugin scores every node, then
    /// normalizes; the total is the sum of weighted scores.
    fn run_score_inner(
        &self,
        state: &CycleState,
        pod: &PodInfo,
        nodes: &[Arc<NodeInfo>],
    ) -> Result<Vec<i64>, Status> {
        let mut totals = vec![0i64; nodes.len()];
        let mut scores = vec![0i64; nodes.len()];
        for e in &self.score {
            let name = e.plugin.name();
            if state.skip_score.contains(name) {
                continue;
            }
            let Some(p) = e.plugin.as_score() else {
                continue;
            };
            for (slot, node) in scores.iter_mut().zip(nodes) {
                let start = state.record_plugin_metrics.then(std::time::Instant::now);
                let scored = p.score(state, pod, node);
                if start.is_some() {
                    let s = match &scored {
                        Ok(_) => Status::success(),
                        Err(e) => e.clone(),
                    };
                    self.plugin_metric(state, name, "Score", &s, start);
                }
                *slot = scored.map_err(|s| {
                    Status::error(format!("plugin {name:?} failed with: {}", s.message())).by(name)
                })?;
            }
            let s = p.normalize_score(state, pod, nodes, &mut scores);
            if !s.is_success() {
                return Err(Status::error(format!(
                    "running Normalize on Score plugins: plugin {name:?} failed with: {}",
                    s.message()
                ))
                .by(name));
            }
            for (total, score) in totals.iter_mut().zip(&scores) {
                if !(0..=MAX_NODE_SCORE).contains(score) {
                    return Err(Status::error(format!(
                        "applying score defaultWeights on Score plugins: plugin {name:?} returns an invalid score {score}, it should in the range of [0, {MAX_NODE_SCORE}] after normalizing"
                    ))
                    .by(name));
                }
                *total += score * e.weight;
            }
        }
        Ok(totals)
    }

    /// Upstream's `RunReservePluginsReserve`.
    pub fn run_reserve(&self, state: &CycleState, pod: &PodInfo, node: &str) -> Status {
        for e in &self.reserve {
            let Some(p) = e.plugin.as_reserve() else {
                continue;
            };
            let s = p.reserve(state, pod, node);
            if !s.is_success() {
                return s.by(e.plugin.name());
            }
        }
        Status::success()
    }

    /// Upstream's `RunReservePluginsUnreserve`: in reverse order.
    pub fn run_unreserve(&self, state: &CycleState, pod: &PodInfo, node: &str) {
        for e in self.reserve.iter().rev() {
            if let Some(p) = e.plugin.as_reserve() {
                p.unreserve(state, pod, node);
            }
        }
    }

    /// Upstream's `RunPermitPlugins` (no plugin of the default profile
    /// waits; a Wait is treated as allowed).
    pub fn run_permit(&self, state: &CycleState, pod: &PodInfo, node: &str) -> Status {
        for e in &self.permit {
            let Some(p) = e.plugin.as_permit() else {
                continue;
            };
            let s = p.permit(state, pod, node);
            if !s.is_success() && s.code != Code::Wait {
                return s.by(e.plugin.name());
            }
        }
        Status::success()
    }

    /// Upstream's `RunPreBindPlugins`.
    pub async fn run_pre_bind(
        &self,
        state: Arc<CycleState>,
        pod: Arc<PodInfo>,
        node: &str,
    ) -> Status {
        for e in &self.pre_bind {
            let Some(p) = e.plugin.as_pre_bind() else {
                continue;
            };
            let s = p
                .pre_bind(state.clone(), pod.clone(), node.to_string())
                .await;
            if !s.is_success() {
                return s.by(e.plugin.name());
            }
        }
        Status::success()
    }

    /// Upstream's `RunBindPlugins`: the first binder that does not skip.
    pub async fn run_bind(&self, state: Arc<CycleState>, pod: Arc<PodInfo>, node: &str) -> Status {
        for e in &self.bind {
            let Some(p) = e.plugin.as_bind() else {
                continue;
            };
            let s = p.bind(state.clone(), pod.clone(), node.to_string()).await;
            if s.is_skip() {
                continue;
            }
            return s.by(e.plugin.name());
        }
        Status::skip()
    }

    /// Upstream's `RunPostBindPlugins`.
    pub fn run_post_bind(&self, state: &CycleState, pod: &PodInfo, node: &str) {
        for e in &self.post_bind {
            if let Some(p) = e.plugin.as_post_bind() {
                p.post_bind(state, pod, node);
            }
        }
    }
}

/// Where run_pre_filter leaves the plugins that narrowed the nodes.
const NARROWED_BY: &str = "framework/narrowed-by";
