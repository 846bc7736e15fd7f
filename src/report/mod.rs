//! Reporting an [`Outcome`]: `text` (Ansible-style task lines, live, then a recap), `json`
//! (one document at the end, also a valid Ansible module result, with Ansible's `diff` from
//! `diff` when asked) and `progress` (the live line during the wait).

pub mod diff;
pub mod json;
pub mod text;

use crate::playbook::Outcome;
use crate::tasks::Status;

/// `ok=5 changed=3 failed=0 skipped=1`
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Recap {
    pub ok: usize,
    pub changed: usize,
    pub failed: usize,
    pub skipped: usize,
}

impl Recap {
    pub fn of(outcome: &Outcome) -> Recap {
        let mut recap = Recap::default();
        for step in &outcome.steps {
            match step.status {
                Status::Ok => recap.ok += 1,
                Status::Changed => recap.changed += 1,
                Status::Failed => recap.failed += 1,
                Status::Skipped => recap.skipped += 1,
            }
        }
        recap
    }
}

impl std::fmt::Display for Recap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ok={} changed={} failed={} skipped={}", self.ok, self.changed, self.failed, self.skipped)
    }
}

/// The recap's last line: [`summary_message`], except that a failure, told in full just
/// above, is only referred to: its task, its exit code and the message's first clause when
/// that is short and names no command.
pub fn brief_summary(outcome: &Outcome) -> String {
    let Some(failure) = outcome.failure() else {
        return summary_message(outcome);
    };
    let code = outcome.exit.code();
    if outcome.exit == crate::exit::Exit::Interrupted {
        return format!("{} interrupted (exit {code}), see INTERRUPTED above", failure.task);
    }
    let first = failure.message.lines().next().unwrap_or_default();
    // Up to the first clause: `: ` or `; ` (never the colon of a URL or a time).
    let head = first.split(": ").next().unwrap_or_default().split("; ").next().unwrap_or_default();
    if !head.contains('`') && !head.is_empty() && head.chars().count() <= 100 {
        format!("{} failed (exit {code}): {head}, see FAILED above", failure.task)
    } else {
        format!("{} failed (exit {code}), see FAILED above", failure.task)
    }
}

/// The step whose message is the run's verdict: the last one but the lock's release.
pub fn verdict(outcome: &Outcome) -> Option<&crate::tasks::Step> {
    outcome.steps.iter().rev().find(|s| s.name != crate::tasks::lock::RELEASE)
}

/// One sentence for the whole run (`msg` in JSON, the last line of the text report).
pub fn summary_message(outcome: &Outcome) -> String {
    if let Some(failure) = outcome.failure() {
        return format!("{} failed: {}", failure.task, failure.message);
    }
    let last = verdict(outcome).map(|s| s.message.clone()).unwrap_or_default();
    match outcome.command {
        crate::playbook::Command::Status => last,
        _ if outcome.check => {
            let would: Vec<&str> =
                outcome.steps.iter().filter(|s| s.status == Status::Changed).map(|s| s.name.as_str()).collect();
            if would.is_empty() {
                "check mode: nothing to do, the cluster is already downgraded".to_string()
            } else {
                format!("would change: {}", would.join(", "))
            }
        }
        crate::playbook::Command::Abort => last,
        _ if !outcome.facts.changed => format!("nothing to do: {last}"),
        _ => last,
    }
}
