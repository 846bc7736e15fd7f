//! Who hears about tasks as they happen: the text report prints them live; JSON output and
//! tests use [`Silent`].

use super::{CommandRecord, Step};
use crate::exec::Invocation;

/// Hears about tasks as they happen (the text report prints them live).
pub trait Observer {
    fn task_started(&mut self, _name: &str) {}
    /// A progress update during a task (a retry, the wait changing strategy).
    fn progress(&mut self, _line: &str) {}
    /// The wait's view changed: what it shows (with the pace, and stalled), and its clock (how
    /// long the wait has run, how long nothing advanced, its limits). The lines carry no clock
    /// of their own.
    fn waiting(&mut self, _live: &crate::pace::Live) {}
    /// Something blocks the rollout: a line to keep on screen (above the live line).
    fn blocked(&mut self, _line: &str) {}
    fn task_finished(&mut self, _step: &Step) {}
    /// A command starts (`-v` echoes it whole).
    fn command_started(&mut self, _invocation: &Invocation) {}
    /// The command ended (or could not finish): its exit, signal or error and how long it ran.
    fn command_finished(&mut self, _record: &CommandRecord) {}
}

/// An observer that ignores everything (JSON output, tests).
pub struct Silent;
impl Observer for Silent {}
