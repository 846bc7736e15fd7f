//! Who hears about tasks as they happen: the text report prints them live; JSON output and
//! tests use [`Silent`].

use super::{CommandRecord, Step};
use crate::exec::Invocation;

/// Hears about tasks as they happen (the text report prints them live).
pub trait Observer {
    /// Which cluster and datastore the run acts on, before the first task.
    fn destination(&mut self, _destination: &crate::destination::Destination) {}
    fn task_started(&mut self, _name: &str) {}
    /// A progress update during a long task (the wait).
    fn progress(&mut self, _line: &str) {}
    fn task_finished(&mut self, _step: &Step) {}
    /// A command starts (`-v` echoes it whole).
    fn command_started(&mut self, _invocation: &Invocation) {}
    /// The command ended (or could not finish): its exit, signal or error and how long it ran.
    fn command_finished(&mut self, _record: &CommandRecord) {}
}

/// An observer that ignores everything (JSON output, tests).
pub struct Silent;
impl Observer for Silent {}
