//! A plugin's verdict (upstream's `framework.Status`): a code, the reasons
//! a node was refused (they become the `FailedScheduling` message), and
//! the plugin that gave it.

/// Upstream's status codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Code {
    Success,
    Error,
    /// The node does not fit now; preemption may make it fit.
    Unschedulable,
    /// The node cannot fit whatever is preempted.
    UnschedulableAndUnresolvable,
    Wait,
    Skip,
    Pending,
}

/// A code with its reasons.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    pub code: Code,
    pub reasons: Vec<String>,
    /// The plugin that returned it (upstream's `FailedPlugin`), set by the
    /// framework.
    pub plugin: &'static str,
}

impl Status {
    pub fn success() -> Status {
        Status::new(Code::Success, Vec::new())
    }

    pub fn skip() -> Status {
        Status::new(Code::Skip, Vec::new())
    }

    pub fn new(code: Code, reasons: Vec<String>) -> Status {
        Status {
            code,
            reasons,
            plugin: "",
        }
    }

    /// A status with one reason.
    pub fn with_reason(code: Code, reason: impl Into<String>) -> Status {
        Status::new(code, vec![reason.into()])
    }

    /// An Error status (something failed, not a verdict on the node).
    pub fn error(message: impl Into<String>) -> Status {
        Status::with_reason(Code::Error, message)
    }

    /// The same status, attributed to `plugin`.
    pub fn by(mut self, plugin: &'static str) -> Status {
        self.plugin = plugin;
        self
    }

    pub fn is_success(&self) -> bool {
        self.code == Code::Success
    }

    pub fn is_skip(&self) -> bool {
        self.code == Code::Skip
    }

    /// Whether the node is refused (Unschedulable, UnschedulableAndUnresolvable, Pending).
    pub fn is_rejected(&self) -> bool {
        matches!(
            self.code,
            Code::Unschedulable | Code::UnschedulableAndUnresolvable | Code::Pending
        )
    }

    /// Upstream's `Message`: the reasons joined by ", ".
    pub fn message(&self) -> String {
        self.reasons.join(", ")
    }
}
