//! [`Context`]: runs commands for the tasks, turning every way a command can fail into a
//! [`Stop`], recording each command for the report, and carrying the [`Facts`] learned so far
//! from task to task.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::failures::{exec_stop, refused, unrecognised};
use super::{Cluster, CommandRecord, Facts, Observer, Stop};
use crate::cluster::Workload;
use crate::exec::{Effect, Exec, ExecError, Invocation, Output};
use crate::exit::Exit;
use crate::options::Options;
use crate::tools::kubectl::Kubectl;
use crate::tools::Unrecognised;

/// What `main` read from the environment, once.
#[derive(Debug, Clone, Default)]
pub struct Environment {
    pub path: Option<OsString>,
    pub cwd: PathBuf,
    /// Who runs: this host's name, the user (`USER`), the pid and the command line, as the
    /// cluster lock names its holder.
    pub host: String,
    pub user: String,
    pub pid: u32,
    pub command_line: String,
}

pub struct Context<'a> {
    pub options: &'a Options,
    pub environment: &'a Environment,
    pub exec: &'a mut dyn Exec,
    pub observer: &'a mut dyn Observer,
    pub facts: Facts,
    /// The end of the current task's time (the wait's `--timeout`): read-only kubectl
    /// commands are retried until then, and none runs past it. `None`: inspection, where a
    /// transient failure is retried within [`INSPECTION_RETRY_BUDGET`].
    pub deadline: Option<Instant>,
    commands: Vec<CommandRecord>,
    /// Read-only commands a task started early for the next one (`prefetch`), with their
    /// results: `run` hands such a result out instead of running the command again.
    prefetched: Vec<Had>,
    /// When the command now running started (by the executor's clock), for its duration.
    started: Option<std::time::Instant>,
    /// Read-only commands started in the background for a later task (`start_in_background`),
    /// with when they started: `run_raw` collects one when that task runs it.
    background: Vec<(Invocation, crate::exec::Pending, Instant)>,
    /// What later tasks of this command will need, so that the inspection starts their
    /// commands with its own (set by the playbook).
    pub ahead: Ahead,
    /// This run's hold on the cluster lock, from its take to its release (`tasks/lock.rs`).
    pub lock: LockHold,
    /// Every failure a retry rode out (a read retried, a watch started again), with kubectl's
    /// cause: a task that ends well still says the cluster did not always answer.
    pub hiccups: Vec<String>,
    /// The pods-at-risk listing the inspection started, as its pages are read.
    pub pods_listing: Option<super::pods_listing::SharedListing>,
    /// The pods at risk's first page had been read when `Check permissions` began: the user may
    /// list pods everywhere, so also in the Calico namespace, for the wait.
    pub pods_listed: bool,
    /// The undo of both workloads, run by the DaemonSet's rollback, and its answer: the
    /// Deployment's rollback takes its own line from it.
    pub undone_together: Option<(Invocation, Result<crate::exec::Output, crate::exec::ExecError>)>,
    /// The Calico lists (`v3_data`) the inspection started, as they are read.
    pub calico_lists: Option<super::v3_data::SharedLists>,
}

/// Where this run stands with the cluster lock (an annotation on the DaemonSet, `lease`).
#[derive(Debug, Default)]
pub enum LockHold {
    #[default]
    Free,
    /// The annotation as the inspection read it (`None`: free), in a run that is not taking the
    /// lock (a plan): all `Lock the cluster` needs to say what `run` would find.
    Seen(Option<String>),
    /// Its take, for this holder, started with the inspection; `seen`: the annotation as the
    /// inspection read it, once it has. `Lock the cluster` takes the result.
    Taking { holder: crate::lease::Holder, seen: Option<Option<String>> },
    /// This run holds it. `used`: false when it was taken ahead for a run that ended before
    /// `Lock the cluster` (its release is then a step of the report only when it fails).
    /// `value`: the annotation's value as last written, kept current by the renewal thread.
    Held { used: bool, holder: crate::lease::Holder, value: std::sync::Arc<std::sync::Mutex<String>> },
    /// Its release runs in the background since the last change was made.
    Releasing { holder: crate::lease::Holder, patch: Invocation, pending: crate::exec::Pending, started: Instant },
    /// Its renewal said it was lost.
    Lost(String),
}

/// A command run ahead for a later task, every attempt of it (a round retries what failed in
/// a way a retry fixes), and what is left of the round's retry budget.
#[derive(Debug)]
struct Had {
    invocation: Invocation,
    tries: Vec<Try>,
    /// The end of the round's retry budget, and how many retries the round made: a task that
    /// takes a result that still failed so goes on within what is left, never a new budget.
    until: Option<Instant>,
    retried: u32,
}

/// What is left of a round's retry budget for a command it ran: the budget's end, and the
/// retries the round made.
type Budget = (Option<Instant>, u32);

/// One attempt of a command run ahead: its result and how long it took.
#[derive(Debug)]
struct Try {
    result: Result<Output, ExecError>,
    took: Duration,
}

/// What a round of commands run together came to (`Context::round`).
struct Round {
    /// Per command, every attempt, the last one its result.
    tries: Vec<Vec<Try>>,
    until: Option<Instant>,
    retried: u32,
    /// The answer that settled the run (an unreachable cluster before any change, a signal):
    /// the round stopped there.
    settled: Option<ExecError>,
}

/// The later tasks of the command that the inspection starts commands for.
#[derive(Debug, Clone, Copy, Default)]
pub struct Ahead {
    /// `Check permissions` follows: its questions and the rollbacks' server dry runs.
    pub preflight: bool,
    /// `Lock the cluster` follows in a command that changes the cluster: the lock's take.
    pub lock: bool,
    /// `What Calico v2.6 will not read` follows: the Calico lists, in the background.
    pub calico_lists: bool,
    /// `Pods at risk` follows: its listing starts with the round (its first page also answers
    /// whether the wait may list the Calico namespace's pods).
    pub pods_page: bool,
}

/// How long inspection keeps retrying a read-only kubectl command that failed transiently.
pub const INSPECTION_RETRY_BUDGET: Duration = Duration::from_secs(20);
/// The first pause before a retry; doubled after every failure up to [`RETRY_CAP`].
pub const RETRY_FIRST: Duration = Duration::from_millis(250);
pub const RETRY_CAP: Duration = Duration::from_secs(4);

/// The pause before retry number `attempt` (1 for the first): capped exponential backoff.
pub fn backoff(attempt: u32) -> Duration {
    RETRY_FIRST.saturating_mul(1u32 << attempt.saturating_sub(1).min(8)).min(RETRY_CAP)
}

/// `ridden out: 7 reads or watches the cluster did not answer, retried (last: CAUSE)`, for a task
/// that ended well after `hiccups` (its share of [`Context::hiccups`]): said in its result, not
/// only in live lines a terminal overwrites. `None` when nothing was retried.
pub fn ridden_out(hiccups: &[String], (one, many): (&str, &str)) -> Option<String> {
    let last = hiccups.last()?;
    let count = hiccups.len();
    let what = if count == 1 { one } else { many };
    Some(format!("ridden out: {count} {what} the cluster did not answer, retried (last: {last})"))
}

/// Why a kubectl answer says the cluster cannot be reached with this configuration at all
/// (`kubectl::unreachable`), or `None`.
fn unreachable_answer(
    invocation: &Invocation,
    result: &Result<Output, ExecError>,
) -> Option<crate::tools::kubectl::Unreachable> {
    match result {
        Ok(output) if invocation.tool == crate::exec::Tool::Kubectl && !output.success() => {
            crate::tools::kubectl::unreachable(&output.stderr)
        }
        _ => None,
    }
}

/// kubectl's cause when a read-only kubectl command failed in a way a retry can fix
/// (`kubectl::transient_failure`), or `None`. `restarting`: the server was refusing or failing
/// requests a moment ago, so a resource type its discovery does not list yet is the API server
/// starting (`kubectl::no_resource_type`), which a retry fixes too.
fn retryable(invocation: &Invocation, result: &Result<Output, ExecError>, restarting: bool) -> Option<String> {
    match result {
        Ok(output)
            if invocation.tool == crate::exec::Tool::Kubectl
                && invocation.effect == Effect::ReadOnly
                && !output.success() =>
        {
            let starting = restarting && crate::tools::kubectl::no_resource_type(&output.stderr);
            crate::tools::kubectl::transient_failure(&output.stderr)
                .or_else(|| starting.then(|| crate::tools::kubectl::failure_message(&output.stderr)))
        }
        _ => None,
    }
}

/// `kubectl get pods`: the tool and the words before the first flag, for progress lines.
pub fn short_name(invocation: &Invocation) -> String {
    std::iter::once(invocation.tool.binary_name())
        .chain(invocation.args.iter().map(String::as_str).take_while(|a| !a.starts_with('-')))
        .collect::<Vec<_>>()
        .join(" ")
}

impl<'a> Context<'a> {
    pub fn new(
        options: &'a Options,
        environment: &'a Environment,
        exec: &'a mut dyn Exec,
        observer: &'a mut dyn Observer,
    ) -> Self {
        Context {
            options,
            environment,
            exec,
            observer,
            facts: Facts::default(),
            deadline: None,
            commands: Vec::new(),
            prefetched: Vec::new(),
            started: None,
            background: Vec::new(),
            ahead: Ahead::default(),
            lock: LockHold::Free,
            hiccups: Vec::new(),
            pods_listing: None,
            pods_listed: false,
            undone_together: None,
            calico_lists: None,
        }
    }

    /// The commands run since the last call (the current task's).
    pub fn take_commands(&mut self) -> Vec<CommandRecord> {
        std::mem::take(&mut self.commands)
    }

    /// Show a command that check mode will not run.
    pub fn plan_command(&mut self, invocation: &Invocation) {
        self.commands.push(CommandRecord {
            command: invocation.to_string(),
            argv: invocation.redacted_argv(),
            effect: invocation.effect,
            exit_code: None,
            signal: None,
            duration_ms: None,
            error: None,
            planned: true,
        });
    }

    /// A command is about to run: the observer hears of it (`-v` echoes it) and its duration
    /// is measured from now. `run` does it; the watch calls it itself.
    pub fn command_started(&mut self, invocation: &Invocation) {
        self.observer.command_started(invocation);
        self.started = Some(self.exec.now());
    }

    /// [`Context::record`] of a command started at `started` (in the background).
    pub fn record_started_at(&mut self, invocation: &Invocation, result: &Result<Output, ExecError>, started: Instant) {
        self.started = Some(started);
        self.record(invocation, result);
    }

    /// Record a command for the report and tell the observer. `run` does it; a command run
    /// directly through `exec` (the watch, whose closure needs the observer while `exec` is
    /// borrowed) calls it itself. A command that could not finish (killed at the timeout,
    /// interrupted) is recorded with the time it really ran.
    pub fn record(&mut self, invocation: &Invocation, result: &Result<Output, ExecError>) {
        let measured = self.started.take().map(|started| self.exec.now().saturating_duration_since(started));
        let (exit_code, signal, duration, error) = match result {
            Ok(output) => (output.code, output.signal, Some(output.duration), None),
            Err(ExecError::RefusedInCheckMode) => (None, None, None, Some(ExecError::RefusedInCheckMode.to_string())),
            Err(error) => (None, None, measured, Some(error.to_string())),
        };
        let record = CommandRecord {
            command: invocation.to_string(),
            argv: invocation.redacted_argv(),
            effect: invocation.effect,
            exit_code,
            signal,
            duration_ms: duration.map(|d| d.as_millis() as u64),
            error,
            planned: false,
        };
        self.observer.command_finished(&record);
        self.commands.push(record);
    }

    /// Record commands run together (`Exec::follow_all`), all started at `started`.
    pub fn record_all(&mut self, invocations: &[&Invocation], results: &[Result<Output, ExecError>], started: Instant) {
        for (invocation, result) in invocations.iter().zip(results) {
            self.started = Some(started);
            self.record(invocation, result);
        }
    }

    /// Run a command to completion. A command that could not run (missing, not executable,
    /// timed out, interrupted) is a `Stop`; a non-zero exit is left to the caller.
    pub fn run(&mut self, invocation: &Invocation) -> Result<Output, Stop> {
        self.run_raw(invocation).map_err(|error| exec_stop(invocation, &error))
    }

    /// Run a command and record it, leaving a failure to run to the caller. A read-only
    /// kubectl command that failed in a way a retry can fix (`kubectl::transient_failure`) is
    /// run again after a capped exponential backoff, until [`Context::deadline`] or within
    /// [`INSPECTION_RETRY_BUDGET`]; each attempt is recorded (report and journal) and every
    /// retry is shown in the progress. A mutating command is never repeated here: its caller
    /// inspects again and decides again.
    pub fn run_raw(&mut self, invocation: &Invocation) -> Result<Output, ExecError> {
        self.retrying(invocation, None, None)
    }

    /// Run independent commands at the same time as one round ([`Context::prefetch`]), each
    /// recorded as `run_raw` records it; those that failed in a way a retry can fix are retried
    /// together, within one budget. The results come in the order given.
    pub fn run_all_raw(&mut self, invocations: &[&Invocation]) -> Vec<Result<Output, ExecError>> {
        self.prefetch(invocations, Vec::new())
    }

    /// [`Context::run_all_raw`], a command that could not run being a `Stop` as in `run`.
    pub fn run_all(&mut self, invocations: &[&Invocation]) -> Vec<Result<Output, Stop>> {
        let results = self.run_all_raw(invocations);
        invocations
            .iter()
            .zip(results)
            .map(|(invocation, result)| result.map_err(|e| exec_stop(invocation, &e)))
            .collect()
    }

    /// Start read-only commands that a later task will run, at the same time as `now` (this
    /// task's own), as one round ([`Context::round`]): those that fail in a way a retry fixes
    /// are run again together, within one budget; an answer that says the cluster cannot be
    /// reached at all settles the round at once. `now`'s results are returned, the others kept
    /// until that task runs them (`run_raw` takes them; each attempt is recorded then, with the
    /// time it really ran, so the report lists it under the task that used it). Mutating
    /// commands are never prefetched.
    pub fn prefetch(&mut self, now: &[&Invocation], later: Vec<Invocation>) -> Vec<Result<Output, ExecError>> {
        let known = |this: &Self, i: &Invocation| this.prefetched.iter().any(|had| had.invocation == *i);
        let later: Vec<Invocation> =
            later.into_iter().filter(|i| i.effect == Effect::ReadOnly && !known(self, i)).collect();
        // This task's own commands that were prefetched already are taken, not run again.
        let fresh: Vec<&Invocation> = now.iter().copied().filter(|i| !known(self, i)).collect();
        let all: Vec<&Invocation> = fresh.iter().copied().chain(later.iter()).collect();
        // Each is echoed (`-v`) as it starts, the later ones too; they are recorded when taken.
        for invocation in &all {
            self.observer.command_started(invocation);
        }
        let Round { tries, until, retried, settled } = self.round(&all);
        let mut tries = tries.into_iter();
        let mut mine = Vec::with_capacity(fresh.len());
        for invocation in &fresh {
            mine.push(self.record_tries(invocation, tries.next().expect("one result per command")));
        }
        if let Some(settled) = settled {
            // No later task will take them: recorded here. What runs in the background is
            // stopped now, its result kept for whoever started it (the lock's create, released
            // at the end if it was made).
            for (invocation, tries) in later.iter().zip(tries) {
                let _ = self.record_tries(invocation, tries);
            }
            self.stop_background();
            return now.iter().map(|_| Err(settled.clone())).collect();
        }
        self.prefetched.extend(later.into_iter().zip(tries).map(|(invocation, tries)| Had {
            invocation,
            tries,
            until,
            retried,
        }));
        let mut mine = mine.into_iter();
        now.iter()
            .map(|invocation| {
                let first = if fresh.iter().any(|f| std::ptr::eq(*f, *invocation)) { mine.next() } else { None };
                let budget = first.is_some().then_some((until, retried));
                self.retrying(invocation, first, budget)
            })
            .collect()
    }

    /// Run `all` at the same time (`Exec::run_round`), and again together those that failed in
    /// a way a retry fixes (read-only kubectl commands, `kubectl::transient_failure`), after
    /// capped exponential backoff, until none did or the budget is spent: `Context::deadline`
    /// during the wait, else [`INSPECTION_RETRY_BUDGET`] from the first failure, started anew
    /// after an attempt in which the cluster answered some of them. Before any
    /// change, the first answer that says the cluster cannot be reached with this configuration
    /// (`kubectl::unreachable`) settles it: the commands still running are stopped, and the
    /// round ends with that answer (`ExecError::Unreachable`). Each retry is shown and counted
    /// in [`Context::hiccups`]; nothing is recorded here (see `record_tries`).
    fn round(&mut self, all: &[&Invocation]) -> Round {
        let mut tries: Vec<Vec<Try>> = all.iter().map(|_| Vec::new()).collect();
        let mut until = self.deadline;
        let mut pending: Vec<usize> = (0..all.len()).collect();
        let mut retried = 0;
        let mut told: Option<String> = None;
        let before_any_change = self.before_any_change();
        let settles = |invocation: &Invocation, result: &Result<Output, ExecError>| {
            before_any_change && unreachable_answer(invocation, result).is_some()
        };
        loop {
            let batch: Vec<&Invocation> = pending.iter().map(|&i| all[i]).collect();
            let at = self.exec.now();
            let results = if batch.is_empty() {
                Vec::new()
            } else {
                self.exec.run_round(&batch, self.deadline, &|i, result| settles(batch[i], result))
            };
            let took = self.exec.now().saturating_duration_since(at);
            for (&i, result) in pending.iter().zip(results) {
                tries[i].push(Try { result, took });
            }
            let last = |i: usize| &tries[i].last().expect("each pending command ran").result;
            let settled = pending.iter().find_map(|&i| {
                let kind = unreachable_answer(all[i], last(i)).filter(|_| before_any_change)?;
                let stderr = last(i).as_ref().map(|o| o.stderr.clone()).unwrap_or_default();
                Some((kind, stderr))
            });
            if let Some((kind, stderr)) = settled {
                let settled = self.unreachable(kind.meaning(), &stderr);
                return Round { tries, until, retried, settled: Some(settled) };
            }
            let restarting = retried > 0;
            let retry: Vec<usize> =
                pending.iter().copied().filter(|&i| retryable(all[i], last(i), restarting).is_some()).collect();
            let Some(&first) = retry.first() else { break };
            let cause = retryable(all[first], last(first), restarting).expect("retryable");
            let now = self.exec.now();
            // The budget runs from the first failure; an attempt in which the cluster answered
            // some of the commands (it is up again, slow to answer the rest: a restarting API
            // server whose discovery still times out) starts it anew for the rest. The batch
            // shrinks each time, so this ends.
            let answered = retry.len() < pending.len();
            if until.is_none() || (answered && self.deadline.is_none()) {
                until = Some(self.deadline.unwrap_or(now + INSPECTION_RETRY_BUDGET));
            }
            let until = until.expect("set above");
            let pause = backoff(retried + 1);
            if now + pause >= until {
                break;
            }
            retried += 1;
            self.hiccups.extend(retry.iter().map(|&i| retryable(all[i], last(i), restarting).expect("retryable")));
            let why = if told.as_deref() == Some(cause.as_str()) { String::new() } else { format!(" ({cause})") };
            told = Some(cause);
            let commands = if retry.len() == 1 { String::new() } else { format!(" of {} commands", retry.len()) };
            self.observer.progress(&format!(
                "no answer from {}{why}: retry {retried}{commands} in {:.1}s, for up to {:.0}s more",
                self.server(),
                pause.as_secs_f64(),
                until.saturating_duration_since(now).as_secs_f64()
            ));
            if let Err(error) = self.exec.sleep(pause) {
                return Round { tries, until: Some(until), retried, settled: Some(error) };
            }
            for &i in &retry {
                self.observer.command_started(all[i]);
            }
            pending = retry;
        }
        Round { tries, until, retried, settled: None }
    }

    /// Record every attempt of a command run in a round, each with the time it took; the last
    /// attempt's result is returned.
    fn record_tries(&mut self, invocation: &Invocation, tries: Vec<Try>) -> Result<Output, ExecError> {
        let mut last = Err(ExecError::Io("the command did not run".into()));
        for Try { result, took } in tries {
            let now = self.exec.now();
            self.started = Some(now.checked_sub(took).unwrap_or(now));
            self.record(invocation, &result);
            last = result;
        }
        last
    }

    /// Start a read-only command that a later task will run, and go on at once: it runs while
    /// the tasks between work (the pods-at-risk listing during the rollout). Mutating commands
    /// never run in the background.
    pub fn start_in_background(&mut self, invocation: Invocation) {
        if invocation.effect != Effect::ReadOnly || self.background.iter().any(|(i, _, _)| *i == invocation) {
            return;
        }
        self.spawn_background(invocation);
    }

    fn spawn_background(&mut self, invocation: Invocation) {
        self.observer.command_started(&invocation);
        let started = self.exec.now();
        let pending = self.exec.spawn(&invocation);
        self.background.push((invocation, pending, started));
    }

    /// Start a listing read page by page in the background (`Exec::spawn_pages`, read-only
    /// pages only) for a later task to take with [`Context::take_pages`].
    pub fn start_pages_in_background(&mut self, first: Invocation, pager: crate::exec::Pager) {
        if first.effect != Effect::ReadOnly || self.background.iter().any(|(i, _, _)| *i == first) {
            return;
        }
        self.observer.command_started(&first);
        let started = self.exec.now();
        let pending = self.exec.spawn_pages(&first, pager);
        self.background.push((first, pending, started));
    }

    /// The result of the listing started with `first` (its last page's, or that of the page
    /// that failed), waited for until the deadline; not recorded: the task records its pages.
    pub fn take_pages(&mut self, first: &Invocation) -> Option<Result<Output, ExecError>> {
        let at = self.background.iter().position(|(i, _, _)| i == first)?;
        let (_, pending, _) = self.background.remove(at);
        Some(self.exec.collect(pending, self.deadline))
    }

    /// Start the cluster lock's take (`kubectl patch`) in the background, for `Lock the cluster`
    /// to collect (`take_if_prefetched`); the only mutating command ever started early: it
    /// changes nothing of Calico (an annotation), and a lock taken for a run that ends before
    /// needing it is released.
    pub fn start_lock_in_background(&mut self, invocation: Invocation) {
        if !self.options.check {
            self.spawn_background(invocation);
        }
    }

    /// Stop whatever still runs in the background now (a round was settled: the run ends), each
    /// result kept as if prefetched, for the task that started it to take.
    fn stop_background(&mut self) {
        for (invocation, pending, started) in std::mem::take(&mut self.background) {
            let now = self.exec.now();
            let result = self.exec.collect(pending, Some(now));
            let took = self.exec.now().saturating_duration_since(started);
            self.prefetched.push(Had { invocation, tries: vec![Try { result, took }], until: None, retried: 0 });
        }
    }

    /// Stop and record whatever still runs in the background (a task that would have collected
    /// it did not run): nothing started is left out of the journal.
    pub fn settle_background(&mut self) {
        for (invocation, pending, started) in std::mem::take(&mut self.background) {
            let result = self.exec.collect(pending, Some(self.exec.now()));
            self.started = Some(started);
            self.record(&invocation, &result);
        }
    }

    /// Run this task's command (`now`, which may change the cluster) at the same time as an
    /// independent one the next task of the same stage runs (`with`: the two `rollout undo`).
    /// `with`'s result is kept for that task, recorded when it runs the command (never run
    /// twice); `now`'s is returned, retried as `run_raw` retries.
    pub fn run_together(&mut self, now: &Invocation, with: Invocation) -> Result<Output, ExecError> {
        self.observer.command_started(now);
        self.observer.command_started(&with);
        let started = self.exec.now();
        let mut results = self.exec.run_all(&[now, &with], self.deadline).into_iter();
        let (mine, theirs) = (results.next().expect("two results"), results.next().expect("two results"));
        self.started = Some(started);
        self.record(now, &mine);
        let took = self.exec.now().saturating_duration_since(started);
        self.prefetched.push(Had {
            invocation: with,
            tries: vec![Try { result: theirs, took }],
            until: None,
            retried: 0,
        });
        self.retrying(now, Some(mine), None)
    }

    /// A command already run (and journaled) before this context existed, for a task to take.
    pub fn prefetched(&mut self, invocation: Invocation, result: Result<Output, ExecError>) {
        self.prefetched.push(Had {
            invocation,
            tries: vec![Try { result, took: Duration::ZERO }],
            until: None,
            retried: 0,
        });
    }

    /// The retry loop of `run_raw`, from a first attempt already made (`first`) or not.
    ///
    /// Before anything changed and outside the wait, a failure that says the cluster cannot be
    /// reached with this configuration at all (`kubectl::unreachable`) is not retried, and one
    /// that a retry could fix but that outlasts the budget is the end too: both become
    /// `ExecError::Unreachable`, exit 3, naming the kubeconfig, the context, the server and
    /// kubectl's words.
    ///
    /// `budget`: the end of the budget and the retries made, when `first` comes from a round
    /// that retried already; a result taken from a round carries its own.
    fn retrying(
        &mut self,
        invocation: &Invocation,
        mut first: Option<Result<Output, ExecError>>,
        budget: Option<Budget>,
    ) -> Result<Output, ExecError> {
        let retry = invocation.tool == crate::exec::Tool::Kubectl && invocation.effect == Effect::ReadOnly;
        let (mut until, mut attempt) = budget.unwrap_or((self.deadline, 0));
        let mut told: Option<String> = None;
        loop {
            let prefetched = match first.take() {
                Some(result) => Some(result),
                None => self.take_ahead(invocation).map(|(result, budget)| {
                    if let Some((had_until, retried)) = budget {
                        (until, attempt) = (had_until.or(until), retried);
                    }
                    result
                }),
            };
            let result = match prefetched {
                Some(result) => result,
                None => {
                    self.command_started(invocation);
                    let result = self.exec.run_by(invocation, self.deadline);
                    self.record(invocation, &result);
                    result
                }
            };
            let failed = match &result {
                Ok(output) if retry && !output.success() => output,
                _ => return result,
            };
            let before_any_change = self.before_any_change();
            if let Some(kind) = crate::tools::kubectl::unreachable(&failed.stderr).filter(|_| before_any_change) {
                return Err(self.unreachable(kind.meaning(), &failed.stderr));
            }
            let Some(cause) = retryable(invocation, &result, attempt > 0) else { return result };
            attempt += 1;
            let now = self.exec.now();
            let until = *until.get_or_insert(now + INSPECTION_RETRY_BUDGET);
            let pause = backoff(attempt);
            if now + pause >= until {
                if before_any_change {
                    let budget = humantime::format_duration(INSPECTION_RETRY_BUDGET);
                    return Err(self.unreachable(&format!("no answer within {budget} of retries"), &failed.stderr));
                }
                self.observer.progress(&format!("{} failed: {cause}; no time left to retry", short_name(invocation)));
                return result;
            }
            let left = until.saturating_duration_since(now);
            self.hiccups.push(cause.clone());
            // kubectl's words once, and again only when they change.
            let why = if told.as_deref() == Some(cause.as_str()) { String::new() } else { format!(" ({cause})") };
            told = Some(cause.clone());
            self.observer.progress(&format!(
                "no answer from {}{why}: retry {attempt} in {:.1}s, for up to {:.0}s more",
                self.server(),
                pause.as_secs_f64(),
                left.as_secs_f64()
            ));
            self.exec.sleep(pause)?;
        }
    }

    /// Nothing was changed yet (or this is check mode), and this is not the wait: a failure to
    /// reach the cluster still means "nothing was changed".
    fn before_any_change(&self) -> bool {
        self.deadline.is_none()
            && (self.options.check || (!self.facts.changed && self.facts.may_have_changed.is_empty()))
    }

    /// Say that a command is sent again after a failure a retry fixes, and keep the cause for
    /// the result (`ridden_out`): `no answer from SERVER (CAUSE; WHY): `COMMAND` again in 0.4s,
    /// for up to 19s more`.
    pub fn say_retry(&mut self, invocation: &Invocation, cause: &str, why: &str, pause: Duration, until: Instant) {
        self.hiccups.push(cause.to_string());
        let left = until.saturating_duration_since(self.exec.now());
        self.observer.progress(&format!(
            "no answer from {} ({cause}; {why}): `{}` again in {:.1}s, for up to {:.0}s more",
            self.server(),
            short_name(invocation),
            pause.as_secs_f64(),
            left.as_secs_f64()
        ));
    }

    /// The API server the kubeconfig names, for messages.
    fn server(&self) -> String {
        match self.facts.destination.as_ref().and_then(|d| d.kube.as_ref()) {
            Some(kube) if !kube.server.is_empty() => kube.server.clone(),
            _ => "the API server".to_string(),
        }
    }

    /// The cluster cannot be reached: why, with the kubeconfig, context, server and user, and
    /// kubectl's own words.
    fn unreachable(&self, why: &str, stderr: &str) -> ExecError {
        let destination = self.facts.destination.as_ref();
        let mut details = Vec::new();
        if let Some(destination) = destination {
            details.push(format!("kubeconfig: {}", destination.kubeconfig.describe()));
            details.push(destination.cluster_line());
        }
        details.extend(crate::tools::kubectl::stderr_lines(stderr).into_iter().map(|l| format!("kubectl: {l}")));
        ExecError::Unreachable {
            message: format!("cannot reach {}: {why}; nothing was changed", self.server()),
            details,
        }
    }

    /// A result for this command that was had ahead (run before the playbook by
    /// `app::identify`, prefetched by an earlier task, or started in the background, which is
    /// waited for until the deadline, if any), recorded now under the running task; `None`
    /// when it was not run ahead.
    pub fn take_if_prefetched(&mut self, invocation: &Invocation) -> Option<Result<Output, ExecError>> {
        self.take_ahead(invocation).map(|(result, _)| result)
    }

    /// [`Context::take_if_prefetched`], with the budget its round left (the end of it, the
    /// retries made) when it was run in one.
    fn take_ahead(&mut self, invocation: &Invocation) -> Option<(Result<Output, ExecError>, Option<Budget>)> {
        if let Some(at) = self.background.iter().position(|(i, _, _)| i == invocation) {
            let (_, pending, started) = self.background.remove(at);
            let result = self.exec.collect(pending, self.deadline);
            self.started = Some(started);
            self.record(invocation, &result);
            return Some((result, None));
        }
        let at = self.prefetched.iter().position(|had| had.invocation == *invocation)?;
        let Had { tries, until, retried, .. } = self.prefetched.remove(at);
        let result = self.record_tries(invocation, tries);
        Some((result, Some((until, retried))))
    }

    /// A read-only command of the wait, retried through transient failures until the deadline
    /// (`run_raw`): its output, or `Ok(Err(cause))` when the deadline came first with no
    /// answer (the API server unreachable through every retry), with kubectl's reason.
    pub fn read_through(&mut self, invocation: &Invocation) -> Result<Result<Output, String>, Stop> {
        match self.run_raw(invocation) {
            Err(ExecError::Deadline) => Ok(Err(format!("`{}` was still running", short_name(invocation)))),
            Err(error) => Err(exec_stop(invocation, &error)),
            Ok(output) if output.success() => Ok(Ok(output)),
            Ok(output) => match crate::tools::kubectl::transient_failure(&output.stderr) {
                Some(cause) => Ok(Err(cause)),
                None => Err(refused(invocation, &output)),
            },
        }
    }

    /// Run a command that must exit 0.
    pub fn run_ok(&mut self, invocation: &Invocation) -> Result<Output, Stop> {
        let result = self.run_raw(invocation);
        super::failures::succeeded(invocation, result)
    }

    pub fn kubectl(&self) -> &Kubectl {
        self.facts.kubectl.as_ref().expect("`Find the tools` runs before any task that needs kubectl")
    }

    /// Wait between two looks at the pods; a signal ends the wait (exit 130).
    pub fn pause(&mut self, duration: std::time::Duration) -> Result<(), Stop> {
        self.pause_between(duration, "two looks at the pods")
    }

    /// Wait between two looks at `what`; a signal ends the wait (exit 130).
    pub fn pause_between(&mut self, duration: std::time::Duration, what: &str) -> Result<(), Stop> {
        self.exec.sleep(duration).map_err(|_| {
            Stop::new(Exit::Interrupted, format!("{} while waiting between {what}", crate::exec::interruption()))
        })
    }

    /// `kubectl get pods` of the namespace, limited to the Calico workloads when it can be.
    pub fn pods_invocation(&self, watch: bool) -> Invocation {
        let cluster = self.cluster();
        let workloads: Vec<&Workload> =
            std::iter::once(&cluster.daemonset).chain(cluster.deployment.as_ref()).collect();
        let selector = crate::cluster::pod_selector(&workloads);
        let namespace = &self.options.namespace;
        if watch {
            self.kubectl().watch_pods(namespace, selector.as_deref())
        } else {
            self.kubectl().pods(namespace, selector.as_deref())
        }
    }

    /// `kubectl get pods --watch --output-watch-events` of the Calico workloads' pods.
    pub fn pod_events_invocation(&self) -> Invocation {
        let cluster = self.cluster();
        let workloads: Vec<&Workload> =
            std::iter::once(&cluster.daemonset).chain(cluster.deployment.as_ref()).collect();
        let selector = crate::cluster::pod_selector(&workloads);
        self.kubectl().watch_pod_events(&self.options.namespace, selector.as_deref())
    }

    /// `kubectl get daemonset/NAME deployment/NAME`: the workloads' live rollout status.
    pub fn workload_status_invocation(&self) -> Invocation {
        let cluster = self.cluster();
        let deployment = cluster.deployment.as_ref().map(|d| d.name.as_str());
        self.kubectl().workload_status(&self.options.namespace, &cluster.daemonset.name, deployment)
    }

    /// The version a tool reported in `Find the tools`, for messages about its output.
    fn tool_version(&self, tool: crate::exec::Tool) -> Option<&str> {
        let tools = &self.facts.tools;
        let found = match tool {
            crate::exec::Tool::Kubectl => &tools.kubectl,
            crate::exec::Tool::Calicoctl => &tools.calicoctl,
            crate::exec::Tool::CalicoUpgrade => &tools.calico_upgrade,
        };
        found.as_ref().map(|t| t.version.as_str())
    }

    /// Output no parser recognised: exit 2, naming the command, the tool's version and quoting
    /// the output.
    pub fn unrecognised(&self, invocation: &Invocation, error: Unrecognised) -> Stop {
        unrecognised(invocation, error, self.tool_version(invocation.tool))
    }

    /// Output a parser could not read: a tool that also exited non-zero said no (exit 1,
    /// quoting its stderr); one that exited 0 printed something this tool does not know (exit 2).
    pub fn unreadable(&self, invocation: &Invocation, output: &Output, error: Unrecognised) -> Stop {
        if output.success() {
            self.unrecognised(invocation, error)
        } else {
            refused(invocation, output)
        }
    }

    pub fn cluster(&self) -> &Cluster {
        self.facts.cluster.as_ref().expect("`Inspect the cluster` runs before any task that needs its facts")
    }
}
