//! The text report: one block per task in the style of Ansible (`TASK [Roll back ds/calico-node]`,
//! then `ok:`, `changed:`, `skipped:` or `failed:` and what was observed), printed as each task
//! finishes; a live progress line during the wait on a terminal (one line per change
//! otherwise); and a closing recap. Colour only on a terminal, never with `NO_COLOR` or
//! `TERM=dumb`. The report goes to stdout; nothing here writes to stderr.
//!
//! Screens are for people, the journal for the record: a task shows its message and its few
//! summary lines; its details (every revision, the whole template diff, each permission
//! answer, the read-only commands it would run) only with `-v` (they are always in the journal
//! and the JSON). A failure is told once, whole. After a plan shown before the prompt, the
//! tasks that find what the plan found are not shown again: only what happens next.

use std::io::Write;
use std::time::Duration;

use super::{brief_summary, Recap};
use crate::exec::{Effect, Invocation};
use crate::playbook::Outcome;
use crate::tasks::{CommandRecord, Observer, Status, Step};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Style {
    pub colour: bool,
    /// stdout is a terminal: progress rewrites one line.
    pub live: bool,
    pub verbose: bool,
    pub quiet: bool,
}

pub struct TextReport<W: Write> {
    out: W,
    style: Style,
    /// The live progress line on a terminal (indicatif, drawn on stdout), cleared before the
    /// next output.
    bar: Option<indicatif::ProgressBar>,
    /// The last progress line, without its clock: an unchanged line is not printed again.
    last_progress: String,
    /// The wait's line and clock as last told, and when: the live line's clock keeps running
    /// from it between two changes of the view (a stalled rollout shows none for minutes), and
    /// its pace turns to since when it stalled.
    live_clock: std::sync::Arc<std::sync::Mutex<Option<(std::time::Instant, crate::pace::Live)>>>,
    /// `-v`: the commands echoed as started and not finished yet. A result that does not
    /// follow its own command alone names it.
    running: Vec<String>,
    /// The plan shown before the prompt: a task that finds just what it found is not shown
    /// again.
    planned: Vec<Step>,
    /// The task started and its header not printed yet (held back while it may be as planned).
    pending: Option<String>,
    /// Tasks found as planned since the last one shown, named in one line before the next.
    as_planned: Vec<String>,
    /// The last task shown failed and its failure is told by `finish`.
    failed_before: bool,
}

fn paint(colour: bool, code: &str, text: &str) -> String {
    if colour {
        format!("\x1b[{code}m{text}\x1b[0m")
    } else {
        text.to_string()
    }
}

fn status_colour(status: Status) -> &'static str {
    match status {
        Status::Ok => "32",
        Status::Changed => "33",
        Status::Skipped => "36",
        Status::Failed => "31",
    }
}

/// `12.3s`, `4m 12s of 1h` (with `--timeout`), and once nothing has advanced for a tenth of
/// `--stall-timeout`, `no progress for 1m 5s of 10m`.
fn clock(clock: &crate::pace::Clock) -> String {
    let mut words = crate::pace::duration_words(clock.elapsed);
    if let Some(limit) = clock.patience.limit {
        words.push_str(&format!(" of {}", crate::pace::duration_words(limit)));
    }
    if clock.stalled() {
        words.push_str(&format!(
            ", no progress for {} of {}",
            crate::pace::duration_words(clock.quiet),
            crate::pace::duration_words(clock.patience.stall)
        ));
    }
    words
}

impl<W: Write> TextReport<W> {
    pub fn new(out: W, style: Style) -> Self {
        TextReport {
            out,
            style,
            bar: None,
            last_progress: String::new(),
            live_clock: Default::default(),
            running: Vec::new(),
            planned: Vec::new(),
            pending: None,
            as_planned: Vec::new(),
            failed_before: false,
        }
    }

    /// After the plan was shown: tasks that find what these steps found are not shown again.
    pub fn after_plan(mut self, planned: &[Step]) -> Self {
        self.planned = planned.to_vec();
        self
    }

    fn clear_progress(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }

    /// Print the held-back task header (and, before it, which tasks were as planned).
    fn flush_header(&mut self) {
        let Some(name) = self.pending.take() else { return };
        self.clear_progress();
        if !self.as_planned.is_empty() {
            let _ = writeln!(self.out, "as planned: {}", self.as_planned.join(", "));
            self.as_planned.clear();
        }
        // No blank line between tasks: the starred header separates them, and a run fits one screen.
        let header = format!("TASK [{name}] ");
        let stars = 80usize.saturating_sub(header.chars().count()).max(3);
        let _ = writeln!(self.out, "{header}{}", "*".repeat(stars));
        let _ = self.out.flush();
    }

    /// The line on screen for a progress update: drawn live on a terminal, else printed when
    /// it says something new.
    /// A progress line, with the wait's clock when it is the wait's: on a terminal one line
    /// rewritten (its clock running on its own), otherwise one line per change.
    fn show_progress(&mut self, line: &str, wait: Option<&crate::pace::Live>) {
        if let Ok(mut live) = self.live_clock.lock() {
            *live = wait.map(|live| (std::time::Instant::now(), live.clone()));
        }
        if self.style.quiet || line == self.last_progress {
            return;
        }
        self.flush_header();
        self.last_progress = line.to_string();
        if self.style.live {
            let _ = self.out.flush();
            let live = self.live_clock.clone();
            let bar = self.bar.get_or_insert_with(|| {
                let bar = indicatif::ProgressBar::with_draw_target(None, indicatif::ProgressDrawTarget::stdout());
                let template =
                    if self.style.colour { "  {spinner:.cyan} {wait}{msg}" } else { "  {spinner} {wait}{msg}" };
                let style = indicatif::ProgressStyle::with_template(template).expect("static template").with_key(
                    "wait",
                    move |_: &indicatif::ProgressState, out: &mut dyn std::fmt::Write| {
                        if let Some((since, told)) = live.lock().ok().as_ref().and_then(|l| l.as_ref()) {
                            let (line, now) = told.after(since.elapsed());
                            let _ = write!(out, "[{}] {line}", clock(&now));
                        }
                    },
                );
                bar.set_style(style);
                bar.enable_steady_tick(std::time::Duration::from_millis(120));
                bar
            });
            // The wait's line is drawn by its key, from the live state.
            bar.set_message(if wait.is_some() { String::new() } else { line.to_string() });
        } else {
            match wait {
                Some(wait) => {
                    let _ = writeln!(self.out, "  [{}] {line}", clock(&wait.clock));
                }
                None => {
                    let _ = writeln!(self.out, "  {line}");
                }
            }
        }
        let _ = self.out.flush();
    }

    /// The closing lines: each failure, told once in full (what failed, the tool's own words,
    /// what is safe to do next), the tasks not run, the recap (in a plan, what would change),
    /// a one-line reference to the failure or the run's verdict unless the last task just said
    /// it, and the journal's path.
    pub fn finish(&mut self, outcome: &Outcome, journal: Option<&str>) {
        self.clear_progress();
        self.pending = None;
        let out = &mut self.out;
        let colour = self.style.colour;
        for failure in &outcome.failures {
            let word = if outcome.exit == crate::exit::Exit::Interrupted { "INTERRUPTED" } else { "FAILED" };
            let header = format!("{word} [{}]:", failure.task);
            let _ = writeln!(out, "{} {}", paint(colour, "31", &header), failure.message);
            for detail in &failure.details {
                let _ = writeln!(out, "    {detail}");
            }
            let _ = writeln!(out, "safe next: {}", failure.safe_next);
        }
        if !outcome.not_run.is_empty() {
            let _ = writeln!(out, "not run: {}", outcome.not_run.join(", "));
        }
        let _ = writeln!(out);
        let _ = writeln!(out, "RECAP {}", "*".repeat(74));
        let recap = Recap::of(outcome);
        let verdict_colour = match outcome.exit {
            crate::exit::Exit::Done if recap.changed > 0 => "33",
            crate::exit::Exit::Done => "32",
            _ => "31",
        };
        let counts = if outcome.check && outcome.command != crate::playbook::Command::Status {
            format!("ok={} would change={} failed={} skipped={}", recap.ok, recap.changed, recap.failed, recap.skipped)
        } else {
            recap.to_string()
        };
        let _ = writeln!(out, "{}", paint(colour, verdict_colour, &counts));
        let summary = brief_summary(outcome);
        let last = super::verdict(outcome).map(|s| s.message.as_str());
        if outcome.failures.is_empty() && last == Some(summary.as_str()) {
            // The verdict is the last task's message, just printed above.
        } else {
            let _ = writeln!(out, "{summary}");
        }
        if let Some(journal) = journal {
            let _ = writeln!(out, "journal: {journal}");
        }
        let _ = out.flush();
    }
}

impl<W: Write> Observer for TextReport<W> {
    fn task_started(&mut self, name: &str) {
        if self.style.quiet {
            return;
        }
        self.clear_progress();
        if std::mem::take(&mut self.failed_before) {
            // The failure is told at the end; a task reported in between (the other rollback,
            // the lock's release) must not read as the failed task's result.
            let _ = writeln!(self.out, "{}: told in full at the end", paint(self.style.colour, "31", "failed"));
        }
        self.pending = Some(name.to_string());
        if !self.planned.iter().any(|step| step.name == name) {
            self.flush_header();
        }
    }

    fn progress(&mut self, line: &str) {
        self.show_progress(line, None);
    }

    fn waiting(&mut self, live: &crate::pace::Live) {
        let line = live.after(Duration::ZERO).0.to_string();
        self.show_progress(&line, Some(live));
    }

    fn blocked(&mut self, line: &str) {
        if self.style.quiet {
            return;
        }
        // Kept on screen: the live line is drawn again below it with the next view.
        self.clear_progress();
        self.flush_header();
        self.last_progress.clear();
        let _ = writeln!(self.out, "  {}", paint(self.style.colour, "31", line));
        let _ = self.out.flush();
    }

    fn task_finished(&mut self, step: &Step) {
        self.clear_progress();
        // A failure is told once, in full, by `finish`.
        if self.style.quiet || step.status == Status::Failed {
            self.failed_before = step.status == Status::Failed && self.pending.is_none();
            self.pending = None;
            return;
        }
        let same = |planned: &Step| {
            planned.name == step.name
                && planned.status == step.status
                && planned.message == step.message
                && planned.summary == step.summary
        };
        if self.pending.is_some() && self.planned.iter().any(same) {
            self.pending = None;
            self.as_planned.push(step.name.clone());
            return;
        }
        self.flush_header();
        let colour = self.style.colour;
        let verbose = self.style.verbose;
        let out = &mut self.out;
        let _ = writeln!(out, "{}: {}", paint(colour, status_colour(step.status), step.status.word()), step.message);
        for line in &step.summary {
            let _ = writeln!(out, "    {line}");
        }
        if verbose {
            for detail in &step.details {
                let _ = writeln!(out, "    {detail}");
            }
        }
        // What a plan would change, as commands to paste; `-v` shows the reads too.
        for command in step.commands.iter().filter(|c| c.planned && (verbose || c.effect == Effect::Mutating)) {
            let _ = writeln!(out, "    would run: {}", command.command);
        }
        let _ = out.flush();
    }

    fn command_started(&mut self, invocation: &Invocation) {
        if !self.style.verbose || self.style.quiet {
            return;
        }
        self.flush_header();
        self.clear_progress();
        let _ = writeln!(self.out, "    $ {invocation}");
        let _ = self.out.flush();
        self.running.push(invocation.to_string());
    }

    fn command_finished(&mut self, record: &CommandRecord) {
        if !self.style.verbose || self.style.quiet {
            return;
        }
        self.flush_header();
        self.clear_progress();
        // Alone in flight, the result follows its own command; with others (commands run
        // together, or one started by the task before) it names the command.
        let alone = self.running.len() == 1 && self.running[0] == record.command;
        self.running.retain(|c| *c != record.command);
        if alone {
            let _ = writeln!(self.out, "      {}", command_result(record));
        } else {
            let name: Vec<&str> = record.command.split(' ').take_while(|w| !w.starts_with('-')).collect();
            let _ = writeln!(self.out, "      {} ({})", command_result(record), name.join(" "));
        }
        let _ = self.out.flush();
    }
}

/// `-> exit 0 after 12 ms`, `-> killed by signal 9 after 4000 ms`, `-> no answer within ... after 4001 ms`.
pub fn command_result(record: &CommandRecord) -> String {
    let status = match (record.exit_code, record.signal, &record.error) {
        (_, _, Some(error)) => error.clone(),
        (Some(code), _, None) => format!("exit {code}"),
        (None, Some(signal), None) => format!("killed by signal {signal}"),
        (None, None, None) => "no exit status".to_string(),
    };
    match record.duration_ms {
        Some(ms) => format!("-> {status} after {ms} ms"),
        None => format!("-> {status}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exit::Exit;
    use crate::playbook::{Command, Failure};

    fn step(name: &str, status: Status, message: &str) -> Step {
        Step {
            name: name.into(),
            status,
            message: message.into(),
            summary: Vec::new(),
            details: Vec::new(),
            commands: Vec::new(),
        }
    }

    fn render(outcome: &Outcome, colour: bool) -> String {
        let mut out = Vec::new();
        let style = Style { colour, live: false, verbose: false, quiet: false };
        let mut report = TextReport::new(&mut out, style);
        for step in &outcome.steps {
            report.task_started(&step.name);
            report.task_finished(step);
        }
        report.finish(outcome, None);
        drop(report);
        String::from_utf8(out).unwrap()
    }

    fn status_outcome(converged: bool) -> Outcome {
        let last = if converged {
            step("Observe the pods", Status::Ok, "converged: calico-node 3/3")
        } else {
            step("Observe the pods", Status::Failed, "not converged: calico-node 0/3 (3 on v3.0 images)")
        };
        Outcome {
            command: Command::Status,
            check: true,
            steps: vec![step("Find the tools", Status::Ok, "kubectl v1.33.1"), last.clone()],
            not_run: Vec::new(),
            exit: if converged { Exit::Done } else { Exit::StepFailed },
            failures: (!converged)
                .then(|| Failure {
                    task: last.name.clone(),
                    message: last.message.clone(),
                    details: vec!["stderr: one more line".into()],
                    safe_next: "`calico-downgrade plan` shows what `run` would do".into(),
                })
                .into_iter()
                .collect(),
            facts: Default::default(),
        }
    }

    #[test]
    fn the_last_line_names_the_failure_up_to_its_first_clause_and_never_cuts_a_url() {
        let mut outcome = status_outcome(false);
        outcome.exit = Exit::Precondition;
        outcome.failures[0].message =
            "cannot reach https://127.0.0.1:6443: the server's certificate is not trusted; nothing was changed".into();
        assert_eq!(
            super::super::brief_summary(&outcome),
            "Observe the pods failed (exit 3): cannot reach https://127.0.0.1:6443, see FAILED above"
        );
        outcome.failures[0].message = "not converged; nothing was rolled back".into();
        assert_eq!(
            super::super::brief_summary(&outcome),
            "Observe the pods failed (exit 3): not converged, see FAILED above"
        );
    }

    #[test]
    fn the_verdict_colour_and_the_recap_agree_with_the_exit_code() {
        let failed = render(&status_outcome(false), true);
        assert!(failed.contains("\x1b[31mok=1 changed=0 failed=1 skipped=0\x1b[0m"), "{failed}");
        assert!(failed.contains("\x1b[31mFAILED [Observe the pods]:\x1b[0m not converged"), "{failed}");
        let ok = render(&status_outcome(true), true);
        assert!(ok.contains("\x1b[32mok=2 changed=0 failed=0 skipped=0\x1b[0m"), "{ok}");
        assert!(ok.contains("\x1b[32mok\x1b[0m: converged"), "{ok}");
    }

    #[test]
    fn a_failure_is_told_once_and_the_recap_refers_to_it() {
        let text = render(&status_outcome(false), false);
        assert_eq!(text.matches("not converged: calico-node 0/3").count(), 1, "{text}");
        assert_eq!(text.matches("one more line").count(), 1, "{text}");
        assert_eq!(text.matches("safe next:").count(), 1, "{text}");
        assert!(text.contains("Observe the pods failed (exit 1): not converged, see FAILED above"), "{text}");
    }
}
