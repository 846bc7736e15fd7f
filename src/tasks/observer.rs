//! Who hears about tasks as they happen: the text report prints them live; JSON output and
//! tests use [`Silent`].

use super::Step;

/// Hears about tasks as they happen (the text report prints them live).
pub trait Observer {
    fn task_started(&mut self, _name: &str) {}
    /// A progress update during a long task (the wait).
    fn progress(&mut self, _line: &str) {}
    fn task_finished(&mut self, _step: &Step) {}
}

/// An observer that ignores everything (JSON output, tests).
pub struct Silent;
impl Observer for Silent {}
