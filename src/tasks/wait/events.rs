//! The wait by watch events, where kubectl has `--output-watch-events` (1.16+) and the
//! DaemonSet replaces its own pods (RollingUpdate): three watches at once, the pods and each
//! workload's rollout status, and nothing else but, when a pod first shows what blocks the
//! rollout (`blocked`), one read of that pod: the watches are stopped, the pod named, and the
//! watches started again from fresh lists.
//!
//! With events (`ADDED`, `MODIFIED`, `DELETED`), the rows alone are an exact view: the first
//! block is the current list (kubectl lists, then watches from that list's resourceVersion),
//! every later row one change, a deletion included. So no confirming poll is needed: the
//! verdict is judged on the whole view after every row (`convergence::judge_live`), and
//! converged is claimed the moment the view says so, never earlier: every workload's rollout
//! status complete (as `kubectl rollout status` judges it) and every pod that is not being
//! deleted Running, Ready, on the target images, as many as the live desired count. The
//! workloads' rows also carry the live template's images, which are checked against the
//! rollback's target on sight (the rollback's own check, at no extra command).
//!
//! A watch that ends or fails ends all three (the view is rebuilt from fresh lists); they are
//! started again at once after a clean end, after a capped backoff after a failure a retry can
//! fix (every retry shown in the progress and journaled; after three in a row, one `kubectl get
//! pods` retried until the API server answers), never past `--timeout`, and every
//! `--command-timeout` anyway (a fresh list). A watch that fails otherwise, or shows nothing
//! within `--command-timeout` (hung), hands the rest of the wait to the wait by looks
//! (`looks`, which the task starts: this strategy only says so), whose polls are judged as every read is: the watch alone never
//! fails the run, except for rows it cannot read or a template that is not the target.

use std::collections::BTreeMap;
use std::time::Instant;

use super::end::{self, check_templates, converged, timed_out};
use crate::convergence::{all_converged, judge_live, Progress, Target};
use crate::exec::{ExecError, Flow, Invocation, Output};
use crate::exit::Exit;
use crate::pace::Pace;
use crate::tasks::{Context, Done, Stop};
use crate::tools::kubectl::{self, PodStatus, WatchEvent, WatchEvents, WorkloadStatus};
use crate::tools::Unrecognised;

/// The exact watch can be used: watching is not turned off, kubectl has watch events, and
/// the DaemonSet's pods are replaced by its controller (OnDelete takes the look-based wait,
/// which names the pods to replace from a complete listing).
pub fn usable(ctx: &Context) -> bool {
    !ctx.options.no_watch
        && !ctx.cluster().daemonset.is_on_delete()
        && ctx.kubectl().client.as_ref().is_some_and(kubectl::has_watch_events)
}

/// What the three watches have shown so far.
struct View {
    pods: BTreeMap<String, PodStatus>,
    statuses: Vec<Option<WorkloadStatus>>,
}

/// Watches that fail this many times in a row (none showing its object) wait for the API
/// server with one read retried until it answers, then watch again.
const WATCH_ATTEMPTS: u32 = 3;

/// Why the watches were stopped from inside.
enum Verdict {
    Converged(Vec<Progress>),
    /// The workload was deleted: exit 1 with this message.
    Broken(String),
    /// A workload's live template does not carry the rollback's target images.
    Reverted(super::end::Reverted),
    Unreadable(usize, Unrecognised),
    /// A pod shows what blocks the rollout, not named yet: named, then the watches go on.
    Blocked(PodStatus, crate::blockers::Cause),
}

/// How the wait by watch events ended: converged, or the watches cannot be used (the progress
/// has said why) and the wait must go on by looks.
pub enum Ending {
    Converged(Done),
    Looks,
}

pub fn wait(ctx: &mut Context, targets: &[Target], started: Instant, pace: &mut Pace) -> Result<Ending, Stop> {
    let mut failures = 0u32;
    // The watches failed WATCH_ATTEMPTS times, then a plain read was answered, and no round of
    // watches has shown its objects since.
    let mut answered = false;
    let mut lost: Option<String> = None;
    loop {
        let deadline = end::deadline(ctx, started, pace);
        if ctx.exec.now() >= deadline {
            return Err(timed_out(ctx, targets, pace, started, lost));
        }
        let invocations = invocations(ctx, targets);
        let refs: Vec<&Invocation> = invocations.iter().collect();
        let Followed { verdict, results, began, shown, pods: view_pods } =
            follow(ctx, targets, &refs, started, deadline, pace);
        if shown.iter().all(|s| *s) {
            failures = 0;
            answered = false;
        }
        match verdict {
            Some(Verdict::Converged(progress)) => {
                ctx.facts.progress = Some(progress.clone());
                return Ok(Ending::Converged(converged(ctx, pace, started, &progress)));
            }
            Some(Verdict::Broken(message)) => return Err(Stop::new(Exit::StepFailed, message)),
            Some(Verdict::Reverted(reverted)) => return Err(super::end::reverted(ctx, reverted)),
            Some(Verdict::Unreadable(index, error)) => return Err(ctx.unrecognised(refs[index], error)),
            Some(Verdict::Blocked(pod, cause)) => {
                // Named at once (its pod read whole), then watched again from a fresh list,
                // every other pod that blocks named as it comes.
                let mut found = super::blocked::new_causes(ctx, targets, view_pods.iter());
                if !found.iter().any(|(p, _)| p.name == pod.name) {
                    found.insert(0, (pod, cause));
                }
                super::blocked::name(ctx, found)?;
                continue;
            }
            None => {}
        }
        if let Some((invocation, _)) = refs.iter().zip(&results).find(|(_, r)| matches!(r, Err(ExecError::Interrupted)))
        {
            return Err(crate::tasks::exec_stop(invocation, &ExecError::Interrupted));
        }
        // Progress during the watches moves the deadline on.
        let deadline = end::deadline(ctx, started, pace);
        let now = ctx.exec.now();
        if now >= deadline {
            continue;
        }
        if now >= began + ctx.options.command_timeout && !results.iter().any(ended_by_itself) {
            if !shown.iter().all(|s| *s) {
                // A watch that printed nothing within --command-timeout hangs.
                ctx.observer.progress("a watch showed nothing within --command-timeout: looking at the pods instead");
                return Ok(Ending::Looks);
            }
            // Quiet for a while: the watches are started again, their lists a fresh check.
            continue;
        }
        // A watch ended on its own: the one that did says why.
        match ended(&refs, &results) {
            Ended::Cleanly => {
                // The API server closes watches now and then; one that ends at once is not
                // started again in a tight loop.
                lost = None;
                let lasted = ctx.exec.now().saturating_duration_since(began);
                if lasted < ctx.options.poll_interval {
                    ctx.pause(ctx.options.poll_interval.min(deadline.saturating_duration_since(ctx.exec.now())))?;
                }
            }
            Ended::Retry(cause) if failures + 1 >= WATCH_ATTEMPTS && answered => {
                // The API server answers a plain read, yet the watches keep failing.
                ctx.observer.progress(&format!(
                    "the watch keeps failing ({cause}) while the API server answers: looking at the pods instead"
                ));
                return Ok(Ending::Looks);
            }
            Ended::Retry(cause) if failures + 1 >= WATCH_ATTEMPTS => {
                ctx.hiccups.push(cause.clone());
                // The API server is away: one `kubectl get pods`, retried until it answers or
                // the deadline (`Context::run_raw`), instead of starting three watches a time.
                ctx.observer.progress(&format!(
                    "the watch failed {WATCH_ATTEMPTS} times in a row ({cause}): waiting for an answer to `kubectl get pods`, then watching again"
                ));
                let invocation = ctx.pods_invocation(false);
                match ctx.read_through(&invocation)? {
                    Ok(_) => {
                        failures = 0;
                        lost = None;
                        answered = true;
                    }
                    // No answer with no time left to retry: the end of the wait.
                    Err(cause) => return Err(timed_out(ctx, targets, pace, started, Some(cause))),
                }
            }
            Ended::Retry(cause) => {
                failures += 1;
                ctx.hiccups.push(cause.clone());
                let pause =
                    crate::tasks::context::backoff(failures).min(deadline.saturating_duration_since(ctx.exec.now()));
                ctx.observer
                    .progress(&format!("the watch failed ({cause}): watching again in {:.1}s", pause.as_secs_f64()));
                lost = Some(cause);
                ctx.pause(pause)?;
            }
            Ended::Fallback(cause) => {
                // Not a failure a retry fixes, nor the verdict's: the wait goes on by looks
                // (whose own failures are judged as every read's are).
                ctx.observer.progress(&format!("the watch failed ({cause}): looking at the pods instead"));
                return Ok(Ending::Looks);
            }
        }
    }
}

/// The pods' watch, then one per workload, in the order of `targets`.
pub fn invocations(ctx: &Context, targets: &[Target]) -> Vec<Invocation> {
    let namespace = ctx.options.namespace.as_str();
    let pods = ctx.pod_events_invocation();
    let kubectl = ctx.kubectl();
    std::iter::once(pods).chain(targets.iter().map(|t| kubectl.watch_workload(t.kind, namespace, &t.name))).collect()
}

/// Follow the watches until the view converges, a template is wrong, a row cannot be read,
/// one of them ends, `--command-timeout` passes, or the deadline; each is recorded.
fn follow(
    ctx: &mut Context,
    targets: &[Target],
    invocations: &[&Invocation],
    started: Instant,
    deadline: Instant,
    pace: &mut Pace,
) -> Followed {
    for invocation in invocations {
        ctx.observer.command_started(invocation);
    }
    let began = ctx.exec.now();
    let mut view = View { pods: BTreeMap::new(), statuses: vec![None; targets.len()] };
    // What blocks the rollout, judged on each pod's row as it comes (the wall clock for the
    // grace periods, read once and moved on with the monotonic one).
    let named = super::blocked::named(ctx);
    let (wall, real) = (ctx.exec.wall_clock(), Instant::now());
    let mut pods = WatchEvents::pods();
    let mut workloads: Vec<WatchEvents<WorkloadStatus>> = targets.iter().map(|_| WatchEvents::workload()).collect();
    let mut verdict = None;
    let mut shown = vec![false; invocations.len()];
    let mut last_line = String::new();
    let mut last_progress = None;
    // The rows carry no time: elapsed is read from the clock that `now` reads in production.
    let since = Instant::now().checked_sub(began.saturating_duration_since(started)).unwrap_or(started);
    let observer = &mut *ctx.observer;
    // Started again after --command-timeout at the latest: a hung watch is found out, and a
    // quiet one gets a fresh list.
    let until = deadline.min(began + ctx.options.command_timeout);
    let results = ctx.exec.follow_all(invocations, until, &mut |index, line| {
        let changed = if index == 0 {
            match pods.feed(line) {
                Ok(None) => false,
                Ok(Some((WatchEvent::Deleted, pod))) => {
                    shown[0] = true;
                    view.pods.remove(&pod.name).is_some()
                }
                Ok(Some((_, pod))) => {
                    shown[0] = true;
                    let changed = view.pods.insert(pod.name.clone(), pod.clone()).as_ref() != Some(&pod);
                    if changed {
                        if let Some(cause) = super::blocked::new_cause(targets, &named, &pod, wall + real.elapsed()) {
                            verdict = Some(Verdict::Blocked(pod, cause));
                            return Flow::Stop;
                        }
                    }
                    changed
                }
                Err(error) => {
                    verdict = Some(Verdict::Unreadable(index, error));
                    return Flow::Stop;
                }
            }
        } else {
            let target = &targets[index - 1];
            match workloads[index - 1].feed(line) {
                Ok(None) => false,
                Ok(Some((event, status))) => {
                    shown[index] = true;
                    if event == WatchEvent::Deleted {
                        verdict = Some(Verdict::Broken(format!(
                            "{}/{} was deleted during the wait",
                            target.kind.printed_kind(),
                            target.name
                        )));
                        return Flow::Stop;
                    }
                    if let Err(reverted) = check_templates(std::slice::from_ref(target), std::slice::from_ref(&status))
                    {
                        verdict = Some(Verdict::Reverted(reverted));
                        return Flow::Stop;
                    }
                    let slot = &mut view.statuses[index - 1];
                    let changed = slot.as_ref() != Some(&status);
                    *slot = Some(status);
                    changed
                }
                Err(error) => {
                    verdict = Some(Verdict::Unreadable(index, error));
                    return Flow::Stop;
                }
            }
        };
        // A verdict only once every watch has shown its object: a complete view.
        if !changed || view.statuses.iter().any(Option::is_none) {
            return Flow::Continue;
        }
        let statuses: Vec<WorkloadStatus> = view.statuses.iter().flatten().cloned().collect();
        let progress = judge_live(targets, &statuses, view.pods.values().filter(|p| !p.deleting));
        let at = since.elapsed();
        let advanced = pace.observe(at, &progress, &statuses).is_some();
        let live = pace.live(at, &progress);
        let line = live.after(std::time::Duration::ZERO).0.to_string();
        // Also when only a count the line does not show advanced: the clock's "no progress
        // for" starts again.
        if advanced || line != last_line {
            observer.waiting(&live);
            last_line = line;
        }
        let done = all_converged(&progress);
        last_progress = Some((progress, statuses));
        if done {
            verdict = last_progress.as_ref().map(|(p, _)| Verdict::Converged(p.clone()));
            return Flow::Stop;
        }
        Flow::Continue
    });
    ctx.record_all(invocations, &results, began);
    // The pods' watch has shown itself once its header is read (no pod is a valid list).
    shown[0] |= pods.header_seen();
    let seen: Vec<PodStatus> = view.pods.into_values().collect();
    if let Some((progress, statuses)) = last_progress {
        ctx.facts.progress = Some(progress);
        ctx.facts.rollout = Some(statuses);
        ctx.facts.pods = Some(seen.clone());
    }
    Followed { verdict, results, began, shown, pods: seen }
}

/// What one round of the three watches left: why they were stopped from inside (if they
/// were), each one's result, when they were started, and which of them showed its object.
struct Followed {
    verdict: Option<Verdict>,
    results: Vec<Result<Output, ExecError>>,
    began: Instant,
    shown: Vec<bool>,
    /// The pods the watch showed.
    pods: Vec<PodStatus>,
}

/// How the watches ended when nothing inside stopped them.
enum Ended {
    /// kubectl ended a watch with exit 0 (the API server closed it).
    Cleanly,
    /// A watch failed in a way a retry can fix (or was cut without a word): why.
    Retry(String),
    /// A watch failed otherwise, or could not be started: why.
    Fallback(String),
}

/// A watch that exited, or could not run, rather than being stopped by this tool.
fn ended_by_itself(result: &Result<Output, ExecError>) -> bool {
    result.as_ref().map_or(true, |output| !output.stopped)
}

fn ended(invocations: &[&Invocation], results: &[Result<Output, ExecError>]) -> Ended {
    for (invocation, result) in invocations.iter().zip(results) {
        match result {
            Err(error) => {
                return Ended::Fallback(format!("`{}`: {error}", crate::tasks::context::short_name(invocation)))
            }
            Ok(output) if !output.success() && ended_by_itself(result) => {
                let message = kubectl::failure_message(&output.stderr);
                if let Some(cause) = kubectl::transient_failure(&output.stderr) {
                    return Ended::Retry(cause);
                }
                if message.is_empty() || output.code.is_none() {
                    return Ended::Retry(output.status_text());
                }
                return Ended::Fallback(format!("{}: {message}", output.status_text()));
            }
            Ok(_) => {}
        }
    }
    Ended::Cleanly
}
