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

/// A finished task, as the report shows it: on the screen its message and summary lines, with
/// `-v`, in the journal and in the JSON also every detail (the whole evidence).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Step {
    pub name: String,
    pub status: Status,
    pub message: String,
    /// Short lines the screen shows under the message (what an operator acts on).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub summary: Vec<String>,
    /// Every fact behind the message, one per line: shown with `-v`, kept in the journal and
    /// the JSON. A failure's details are its evidence and are always shown.
    pub details: Vec<String>,
    pub commands: Vec<CommandRecord>,
}

/// A task reached its goal (or had nothing to do).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Done {
    pub status: Status,
    pub message: String,
    /// Short lines for the screen (see [`Step::summary`]).
    pub summary: Vec<String>,
    pub details: Vec<String>,
}

impl Done {
    fn new(status: Status, message: impl Into<String>) -> Done {
        Done { status, message: message.into(), summary: Vec::new(), details: Vec::new() }
    }
    pub fn ok(message: impl Into<String>) -> Done {
        Done::new(Status::Ok, message)
    }
    pub fn changed(message: impl Into<String>) -> Done {
        Done::new(Status::Changed, message)
    }
    pub fn skipped(message: impl Into<String>) -> Done {
        Done::new(Status::Skipped, message)
    }
    /// The whole evidence (`-v`, the journal, the JSON).
    pub fn with_details(mut self, details: Vec<String>) -> Done {
        self.details = details;
        self
    }
    /// The short lines the screen shows.
    pub fn with_summary(mut self, summary: Vec<String>) -> Done {
        self.summary = summary;
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
