//! Authorization: whether a user may do a verb on a resource or path, as
//! upstream's `authorizer.Authorizer`, and the chain kube-apiserver builds
//! from `--authorization-mode` (`pkg/kubeapiserver/authorizer/config.go`):
//! members of `system:masters` first (upstream's privileged-groups
//! authorizer), then each mode in order; the first that allows or denies
//! decides, and a request no one has an opinion on is forbidden with their
//! reasons.

use crate::UserInfo;
use crate::request::RequestInfo;

/// What a request asks to do (upstream's `authorizer.Attributes`).
pub struct Attributes<'a> {
    pub user: &'a UserInfo,
    /// The resource request, or None for a non-resource path.
    pub resource: Option<&'a RequestInfo>,
    pub path: &'a str,
    pub verb: &'a str,
}

/// An authorizer's answer, with its reason (upstream's `Decision` and
/// reason string).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    Allow(String),
    Deny(String),
    NoOpinion(String),
}

impl Decision {
    pub fn allowed(&self) -> bool {
        matches!(self, Decision::Allow(_))
    }

    pub fn reason(&self) -> &str {
        match self {
            Decision::Allow(r) | Decision::Deny(r) | Decision::NoOpinion(r) => r,
        }
    }
}

/// A rule a user holds on resources (upstream's `authorizer.ResourceRuleInfo`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ResourceRule {
    pub verbs: Vec<String>,
    pub api_groups: Vec<String>,
    pub resources: Vec<String>,
    pub resource_names: Vec<String>,
}

/// A rule a user holds on non-resource paths.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NonResourceRule {
    pub verbs: Vec<String>,
    pub non_resource_urls: Vec<String>,
}

/// What a user may do in a namespace (SelfSubjectRulesReview).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rules {
    pub resource: Vec<ResourceRule>,
    pub non_resource: Vec<NonResourceRule>,
    /// Whether the list may be missing rules (an authorizer that cannot
    /// list them); errors met while listing (a binding to a role that does
    /// not exist) are `errors`, as upstream's evaluationError.
    pub incomplete: bool,
    pub errors: Vec<String>,
}

pub trait Authorizer: Send + Sync {
    fn authorize(&self, attributes: &Attributes<'_>) -> Decision;

    /// The rules `user` holds in `namespace` (upstream's `RuleResolver`);
    /// an authorizer that cannot list them says the list is incomplete.
    fn rules_for(&self, _user: &UserInfo, _namespace: &str) -> Rules {
        Rules {
            incomplete: true,
            ..Rules::default()
        }
    }
}

/// The `--authorization-mode` values Skiff implements.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    AlwaysAllow,
    AlwaysDeny,
    Node,
    Rbac,
}

impl Mode {
    /// Parses upstream's comma-separated `--authorization-mode`.
    pub fn parse_list(value: &str) -> Result<Vec<Mode>, String> {
        let mut modes = Vec::new();
        for m in value.split(',').map(str::trim).filter(|m| !m.is_empty()) {
            let mode = match m {
                "AlwaysAllow" => Mode::AlwaysAllow,
                "AlwaysDeny" => Mode::AlwaysDeny,
                "RBAC" => Mode::Rbac,
                "Node" => Mode::Node,
                "Webhook" | "ABAC" => {
                    return Err(format!(
                        "authorization mode {m:?} is not implemented by this server"
                    ));
                }
                other => {
                    return Err(format!(
                        "authorization mode {other:?} is not supported: AlwaysAllow, AlwaysDeny, Node, RBAC"
                    ));
                }
            };
            if modes.contains(&mode) {
                return Err(format!("authorization mode {m:?} specified more than once"));
            }
            modes.push(mode);
        }
        if modes.is_empty() {
            return Err("at least one authorization mode must be passed".into());
        }
        Ok(modes)
    }
}

/// Upstream's `system:masters`: allowed everything, before any mode.
pub const PRIVILEGED_GROUP: &str = "system:masters";

/// Allows members of [`PRIVILEGED_GROUP`].
pub struct PrivilegedGroups;

impl Authorizer for PrivilegedGroups {
    fn authorize(&self, a: &Attributes<'_>) -> Decision {
        if a.user.groups.iter().any(|g| g == PRIVILEGED_GROUP) {
            Decision::Allow(String::new())
        } else {
            Decision::NoOpinion(String::new())
        }
    }

    // Not a rule resolver upstream: a master's rules are RBAC's
    // (cluster-admin's binding), listed once.
    fn rules_for(&self, _user: &UserInfo, _namespace: &str) -> Rules {
        Rules::default()
    }
}

/// Everything, as upstream's AlwaysAllow and cluster-admin list it (and
/// the authority an aggregation rule needs).
pub(crate) fn all_rules() -> Rules {
    Rules {
        resource: vec![ResourceRule {
            verbs: vec!["*".into()],
            api_groups: vec!["*".into()],
            resources: vec!["*".into()],
            resource_names: Vec::new(),
        }],
        non_resource: vec![NonResourceRule {
            verbs: vec!["*".into()],
            non_resource_urls: vec!["*".into()],
        }],
        ..Rules::default()
    }
}

/// `--authorization-mode=AlwaysAllow`.
pub struct AlwaysAllow;

impl Authorizer for AlwaysAllow {
    fn authorize(&self, _: &Attributes<'_>) -> Decision {
        Decision::Allow(String::new())
    }

    fn rules_for(&self, _: &UserInfo, _: &str) -> Rules {
        all_rules()
    }
}

/// `--authorization-mode=AlwaysDeny`.
pub struct AlwaysDeny;

impl Authorizer for AlwaysDeny {
    fn authorize(&self, _: &Attributes<'_>) -> Decision {
        Decision::NoOpinion("Everything is forbidden.".into())
    }

    fn rules_for(&self, _: &UserInfo, _: &str) -> Rules {
        Rules::default()
    }
}

/// Authorizers asked in order (upstream's union authorizer): the first
/// that allows or denies decides; otherwise no opinion, with every reason.
pub struct Chain(pub Vec<Box<dyn Authorizer>>);

impl Authorizer for Chain {
    fn authorize(&self, a: &Attributes<'_>) -> Decision {
        let mut reasons = Vec::new();
        for authorizer in &self.0 {
            match authorizer.authorize(a) {
                Decision::NoOpinion(r) => {
                    if !r.is_empty() {
                        reasons.push(r);
                    }
                }
                decided => return decided,
            }
        }
        Decision::NoOpinion(reasons.join("\n"))
    }

    fn rules_for(&self, user: &UserInfo, namespace: &str) -> Rules {
        let mut all = Rules::default();
        for authorizer in &self.0 {
            let rules = authorizer.rules_for(user, namespace);
            all.resource.extend(rules.resource);
            all.non_resource.extend(rules.non_resource);
            all.incomplete |= rules.incomplete;
            all.errors.extend(rules.errors);
        }
        all
    }
}
