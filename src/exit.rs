//! The exit-code table, the one place it is defined (also printed by `--help` and the README).

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(into = "i32")]
pub enum Exit {
    /// 0: done, or nothing to do (already downgraded).
    Done,
    /// 1: a step failed: a tool or the cluster said no; later steps were not attempted.
    StepFailed,
    /// 2: usage error, or output the tool could not understand (nothing further was attempted).
    Unrecognised,
    /// 3: a precondition is not met (or the prompt was answered no): nothing was changed.
    Precondition,
    /// 4: changes were made but the pods did not converge: nothing advanced for
    /// `--stall-timeout`, or `--timeout` (when given) passed.
    NotConverged,
    /// 130: interrupted (SIGINT, SIGTERM, SIGHUP): children stopped, what was done is reported.
    Interrupted,
}

impl Exit {
    pub fn code(self) -> i32 {
        match self {
            Exit::Done => 0,
            Exit::StepFailed => 1,
            Exit::Unrecognised => 2,
            Exit::Precondition => 3,
            Exit::NotConverged => 4,
            Exit::Interrupted => 130,
        }
    }
}

impl From<Exit> for i32 {
    fn from(exit: Exit) -> i32 {
        exit.code()
    }
}

/// The table as `--help` and the README show it.
pub const TABLE: &str = "\
Exit codes:
  0    done, or nothing to do (already downgraded)
  1    a step failed (a tool or the cluster said no); later steps did not run
  2    usage error, or output the tool could not read; nothing further ran
  3    a precondition is not met, or the prompt was answered no: no change
  4    changes made; the pods stalled (--stall-timeout) or --timeout passed
  130  interrupted (SIGINT, SIGTERM, SIGHUP): children stopped, work reported";
