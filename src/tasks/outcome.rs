//! What a task ends with and what the report shows of it: [`Done`] (ok, changed, skipped) or
//! [`Stop`] (an exit code from the table, a message, what is safe next), and the [`Step`] and
//! [`CommandRecord`]s the report prints.

use serde::Serialize;

use crate::exec::Effect;
use crate::exit::Exit;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Changed,
    Skipped,
    Failed,
}

impl Status {
    pub fn word(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Changed => "changed",
            Status::Skipped => "skipped",
            Status::Failed => "failed",
        }
    }
}

/// One command as the report shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CommandRecord {
    /// The one spelling of the command (`Invocation`'s `Display`).
    pub command: String,
    pub argv: Vec<String>,
    pub effect: Effect,
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    /// How long it ran; `null` when it did not run (planned, refused in check mode).
    pub duration_ms: Option<u64>,
    /// Why it could not run to completion, if so.
    pub error: Option<String>,
    /// Planned only (check mode): shown, not run.
    pub planned: bool,
}

/// A finished task, as the report shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Step {
    pub name: String,
    pub status: Status,
    pub message: String,
    pub details: Vec<String>,
    pub commands: Vec<CommandRecord>,
}

/// A task reached its goal (or had nothing to do).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Done {
    pub status: Status,
    pub message: String,
    pub details: Vec<String>,
}

impl Done {
    pub fn ok(message: impl Into<String>) -> Done {
        Done { status: Status::Ok, message: message.into(), details: Vec::new() }
    }
    pub fn changed(message: impl Into<String>) -> Done {
        Done { status: Status::Changed, message: message.into(), details: Vec::new() }
    }
    pub fn skipped(message: impl Into<String>) -> Done {
        Done { status: Status::Skipped, message: message.into(), details: Vec::new() }
    }
    pub fn with_details(mut self, details: Vec<String>) -> Done {
        self.details = details;
        self
    }
}

/// A task could not reach its goal: the run ends here with `exit`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stop {
    pub exit: Exit,
    pub message: String,
    pub details: Vec<String>,
    /// What is safe to do next, when the task's general advice does not fit this failure.
    pub safe_next: Option<String>,
}

impl Stop {
    pub fn new(exit: Exit, message: impl Into<String>) -> Stop {
        Stop { exit, message: message.into(), details: Vec::new(), safe_next: None }
    }
    pub fn with_details(mut self, details: Vec<String>) -> Stop {
        self.details = details;
        self
    }
    pub fn with_safe_next(mut self, safe_next: impl Into<String>) -> Stop {
        self.safe_next = Some(safe_next.into());
        self
    }
}

pub type TaskResult = Result<Done, Stop>;
