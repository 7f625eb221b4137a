//! A plugin's verdict (upstream's `framework.Status`): a code and the
//! reasons a node was refused, which become the `FailedScheduling` message.

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
}

impl Status {
    pub fn success() -> Status {
        Status {
            code: Code::Success,
            reasons: Vec::new(),
        }
    }

    pub fn new(code: Code, reasons: Vec<String>) -> Status {
        Status { code, reasons }
    }

    pub fn is_success(&self) -> bool {
        self.code == Code::Success
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
