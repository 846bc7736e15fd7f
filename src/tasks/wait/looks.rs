//! The wait by looks (the docs' `watch kubectl get pods -n kube-system`), for kubectl without
//! watch events, `--no-watch`, an OnDelete DaemonSet, and when the exact watch cannot be used: wait until
//! the workloads' live rollout status is complete and every pod of the DaemonSet and the
//! Deployment is Running, its Ready condition True, on the rolled-back images, as many as the
//! live desired count (see `convergence`), or until `--timeout` (exit 4, naming what was last
//! seen: the pods on old images, the pods not ready and their nodes).
//!
//! Each look is a complete view: `kubectl get pods`, then, when the pods look done, the
//! workloads' rollout status. Between looks it follows `kubectl get pods --watch`, its view
//! seeded with the last look, so progress always counts the whole view; a watch row is only a
//! candidate, confirmed by the next look: never early. A watch that ends or fails is
//! established again after a look (with backoff after failures); its stderr goes to the
//! journal and the progress. Read-only commands ride out transient failures until the deadline
//! (`Context::run_raw`); none runs past it. With `--no-watch` it polls every `--poll-interval`.
//! An OnDelete DaemonSet never replaces its pods: the task reports which pods still run the v3
//! images and stops with exit 4, unless `--replace-pods`, which deletes them one at a time
//! (`--wait=false`), each replacement ready before the next.

use std::collections::BTreeMap;
use std::time::Instant;

use super::end::{self, check_templates, converged, not_converged, pod_list, timed_out};
use crate::convergence::{judge, judge_live, looks_done, with_live_desired, Progress, Target};
use crate::exec::{ExecError, Flow, Invocation};
use crate::exit::Exit;
use crate::pace::Pace;
use crate::tasks::{Context, Stop, TaskResult};
use crate::tools::kubectl::{self, PodStatus, PodWatch};

/// One `kubectl get pods` of the namespace.
pub fn observe(ctx: &mut Context) -> Result<Vec<PodStatus>, Stop> {
    let invocation = ctx.pods_invocation(false);
    let output = ctx.run_ok(&invocation)?;
    kubectl::parse_pods(&output).map_err(|e| ctx.unrecognised(&invocation, e))
}

/// One complete look for `status`, judged as the wait judges (the pods' Ready condition, the
/// live rollout status): the pods and the verdict. `targets` takes the live desired counts.
pub fn observe_judged(ctx: &mut Context, targets: &mut Vec<Target>) -> Result<(Vec<PodStatus>, Vec<Progress>), Stop> {
    match look(ctx, targets)? {
        Look::Seen { pods, progress } => Ok((pods, progress)),
        Look::Lost(cause) => Err(Stop::new(Exit::StepFailed, format!("no answer from the cluster: {cause}"))),
    }
}

/// Between two looks of `status --watch`: follow the watch, seeded with the last look, until
/// it shows a candidate (or rest one interval with `--no-watch`, or after the watch ended).
pub fn between_looks(
    ctx: &mut Context,
    targets: &[Target],
    seed: &[PodStatus],
    started: Instant,
    pace: &mut Pace,
) -> Result<(), Stop> {
    if ctx.options.no_watch {
        return ctx.pause(ctx.options.poll_interval);
    }
    let deadline = end::deadline(ctx, started, pace);
    match follow_until_candidate(ctx, targets, seed, started, deadline, pace)? {
        WatchEnd::Candidate | WatchEnd::Quiet => Ok(()),
        WatchEnd::Closed | WatchEnd::Failed(_) => {
            ctx.pause(ctx.options.poll_interval.min(deadline.saturating_duration_since(ctx.exec.now())))
        }
    }
}

/// What one confirming look found, or no answer before the deadline (the API server
/// unreachable through every retry), with kubectl's reason.
enum Look {
    Seen { pods: Vec<PodStatus>, progress: Vec<Progress> },
    Lost(String),
}

/// One confirming look: `kubectl get pods`, then, when the pods look done, the workloads'
/// live rollout status (desired count, updated, available, observed generation), which the
/// verdict needs as well. `targets` takes the live desired counts.
fn look(ctx: &mut Context, targets: &mut Vec<Target>) -> Result<Look, Stop> {
    let invocation = ctx.pods_invocation(false);
    let output = match ctx.read_through(&invocation)? {
        Ok(output) => output,
        Err(cause) => return Ok(Look::Lost(cause)),
    };
    let pods = kubectl::parse_pods(&output).map_err(|e| ctx.unrecognised(&invocation, e))?;
    let progress = judge(targets.as_slice(), &pods);
    if !looks_done(&progress) {
        return Ok(Look::Seen { pods, progress });
    }
    let invocation = ctx.workload_status_invocation();
    let output = match ctx.read_through(&invocation)? {
        Ok(output) => output,
        Err(cause) => return Ok(Look::Lost(cause)),
    };
    let statuses = kubectl::parse_workload_status(&output).map_err(|e| ctx.unrecognised(&invocation, e))?;
    *targets = with_live_desired(targets, &statuses);
    let progress = judge_live(targets.as_slice(), &statuses, &pods);
    ctx.facts.rollout = Some(statuses);
    Ok(Look::Seen { pods, progress })
}

/// The wait by looks: a complete `kubectl get pods` (then the rollout status), the watch's
/// rows between looks only candidates. For kubectl without watch events, `--no-watch`, OnDelete,
/// and when the exact watch cannot be used (`watch`).
pub fn wait(ctx: &mut Context, targets: &[Target], started: Instant, pace: &mut Pace) -> TaskResult {
    let mut targets = targets.to_vec();
    let on_delete = ctx.cluster().daemonset.is_on_delete();
    // Every verdict, and every progress line, comes from a complete view: a poll first, then
    // the watch seeded with it, whose candidates are confirmed by the next poll.
    let mut watch_failures = 0u32;
    let mut watch_refused = false;
    loop {
        end::deadline(ctx, started, pace);
        let (pods, progress) = match look(ctx, &mut targets)? {
            Look::Seen { pods, progress } => (pods, progress),
            Look::Lost(cause) => return Err(timed_out(ctx, &targets, pace, started, Some(cause))),
        };
        if let Some(statuses) = &ctx.facts.rollout {
            if let Err(reverted) = check_templates(&targets, statuses) {
                return Err(super::end::reverted(ctx, reverted));
            }
        }
        let at = ctx.exec.now().saturating_duration_since(started);
        pace.observe(at, &progress, ctx.facts.rollout.as_deref().unwrap_or(&[]));
        ctx.observer.waiting(&pace.live(at, &progress));
        let found = super::blocked::new_causes(ctx, &targets, pods.iter());
        super::blocked::name(ctx, found)?;
        ctx.facts.pods = Some(pods.clone());
        ctx.facts.progress = Some(progress.clone());
        if crate::convergence::all_converged(&progress) {
            return Ok(converged(ctx, pace, started, &progress));
        }
        let deadline = end::deadline(ctx, started, pace);
        let daemonset = &progress[0];
        let ds_target = &targets[0];
        let ds_deleting = pods.iter().any(|p| ds_target.owns(p) && p.deleting);
        if on_delete && !daemonset.on_other_images.is_empty() && !ds_deleting {
            if !ctx.options.replace_pods {
                return Err(Stop::new(
                    Exit::NotConverged,
                    format!(
                        "daemonset/{} uses the OnDelete update strategy: its pods are not replaced by the rollback, and {} still run{} the v3 images",
                        ds_target.name,
                        daemonset.on_other_images.len(),
                        if daemonset.on_other_images.len() == 1 { "s" } else { "" }
                    ),
                )
                .with_details(
                    pod_list(&daemonset.on_other_images)
                        .into_iter()
                        .chain(["run again with --replace-pods to delete them one node at a time, or delete them yourself".to_string()])
                        .collect(),
                )
                .with_safe_next(
                    "run again with --replace-pods: the rollback is done and will not be repeated, and the pods are then replaced one node at a time",
                ));
            }
            // One node at a time: the previous replacement must exist and be ready (as many
            // live pods as desired, none pending) before the next pod is deleted.
            let live = pods.iter().filter(|p| ds_target.owns(p) && !p.deleting).count();
            if daemonset.not_ready.is_empty() && live == ds_target.desired as usize && ctx.exec.now() < deadline {
                replace_one(ctx, daemonset)?;
                continue;
            }
        }
        if pace.gave_up(ctx.exec.now().saturating_duration_since(started)).is_some() {
            return Err(not_converged(ctx, &progress, pace, started));
        }
        if ctx.options.no_watch || watch_refused {
            ctx.pause(ctx.options.poll_interval)?;
            continue;
        }
        match follow_until_candidate(ctx, &targets, &pods, started, deadline, pace)? {
            WatchEnd::Candidate | WatchEnd::Quiet => watch_failures = 0,
            WatchEnd::Closed => {
                // The API server closes watches now and then: watch again after a short rest.
                ctx.pause(ctx.options.poll_interval.min(deadline.saturating_duration_since(ctx.exec.now())))?;
            }
            WatchEnd::Failed(cause) if cause.contains("(Forbidden)") || cause.contains(" is forbidden: ") => {
                // May list but not watch: the rest of the wait polls.
                ctx.observer.progress(&format!(
                    "the watch is refused ({cause}): looking every {}",
                    humantime::format_duration(ctx.options.poll_interval)
                ));
                watch_refused = true;
            }
            WatchEnd::Failed(cause) => {
                watch_failures += 1;
                ctx.hiccups.push(cause.clone());
                let pause = crate::tasks::context::backoff(watch_failures)
                    .max(ctx.options.poll_interval)
                    .min(deadline.saturating_duration_since(ctx.exec.now()));
                ctx.observer.progress(&format!(
                    "the watch failed ({cause}): looking again in {:.1}s, then watching again",
                    pause.as_secs_f64()
                ));
                ctx.pause(pause)?;
            }
        }
    }
}

/// Delete the first pod (by node) not yet on the target images; the loop then waits for its
/// replacement before the next.
fn replace_one(ctx: &mut Context, daemonset: &Progress) -> Result<(), Stop> {
    let mut old = daemonset.on_other_images.clone();
    old.sort_by(|a, b| (&a.node, &a.name).cmp(&(&b.node, &b.name)));
    let pod = &old[0];
    let invocation = ctx.kubectl().delete_pod(&ctx.options.namespace, &pod.name);
    let output = match ctx.run(&invocation) {
        Ok(output) => output,
        Err(stop) => return Err(settle_delete(ctx, &pod.name, &invocation, stop)),
    };
    let deleted = kubectl::parse_delete(&pod.name, &output).map_err(|e| ctx.unreadable(&invocation, &output, e))?;
    // kubectl reported the deletion: the cluster changed.
    ctx.facts.changed |= deleted;
    if !deleted {
        // Already gone is fine (another actor deleted it); anything else is a failure.
        if !kubectl::is_not_found(&output.stderr) {
            return Err(crate::tasks::refused(&invocation, &output));
        }
    }
    ctx.observer.progress(&format!(
        "replacing {} on {} (OnDelete, --replace-pods)",
        pod.name,
        pod.node.as_deref().unwrap_or("no node")
    ));
    Ok(())
}

/// After a `kubectl delete pod` that could not finish (timed out, interrupted): look at the
/// pods again and say what the look shows, changed (the pod is gone or being deleted), not
/// changed (still there), or "may have changed" with what to check when no look is possible
/// (after a signal the runner starts nothing more).
fn settle_delete(ctx: &mut Context, pod: &str, delete: &Invocation, mut stop: Stop) -> Stop {
    let namespace = ctx.options.namespace.clone();
    let what = match observe(ctx) {
        Ok(pods) => match pods.iter().find(|p| p.name == pod) {
            Some(p) if !p.deleting => format!("not changed: pod {pod} is still there"),
            _ => {
                ctx.facts.changed = true;
                format!("changed: pod {pod} is gone or being deleted: the deletion took effect")
            }
        },
        Err(look) => {
            let note = format!(
                "pod {pod} may have been deleted: `{delete}` did not finish and the pods could not be read back ({}); check `kubectl get pod {pod} -n {namespace}`",
                look.message
            );
            ctx.facts.may_have_changed.push(note.clone());
            note
        }
    };
    stop.details.push(what);
    stop
}

/// How a watch ended.
enum WatchEnd {
    /// Its rows make the workloads look done (or, with `--replace-pods`, ready for the next
    /// replacement): a candidate for the confirming look.
    Candidate,
    /// Time to look again: a pod being deleted (no row says when it is gone), a stalled
    /// watch, or the deadline.
    Quiet,
    /// kubectl ended it cleanly (the API server closes watches now and then).
    Closed,
    /// kubectl failed (exit code or signal, and its stderr).
    Failed(String),
}

/// Follow `kubectl get pods --watch`, its view seeded with the last complete look, until its
/// rows make the workloads look done (a candidate, confirmed by the next look), a pod being
/// deleted needs a fresh look, the watch ends, or the deadline passes. Each change it shows
/// is judged on the whole view (the seed plus every row since), never on rows alone.
fn follow_until_candidate(
    ctx: &mut Context,
    targets: &[Target],
    seed: &[PodStatus],
    started: Instant,
    deadline: Instant,
    pace: &mut Pace,
) -> Result<WatchEnd, Stop> {
    let mut view: BTreeMap<String, PodStatus> = seed.iter().map(|p| (p.name.clone(), p.clone())).collect();
    let deleting_pending = seed.iter().any(|p| p.deleting && targets.iter().any(|t| t.owns(p)));
    // A pod being deleted needs a fresh look after one poll interval (no row says when it is
    // gone); otherwise a stalled watch is still re-checked every ten intervals.
    let look_again = if deleting_pending { ctx.options.poll_interval } else { ctx.options.poll_interval * 10 };
    let until = deadline.min(ctx.exec.now() + look_again);
    let invocation = ctx.pods_invocation(true);
    let mut watch = PodWatch::default();
    let mut parse_error = None;
    let mut candidate = false;
    let replacing = ctx.options.replace_pods && ctx.cluster().daemonset.is_on_delete();
    ctx.command_started(&invocation);
    // The rows carry no time: elapsed is read from the clock that `now` reads in production.
    let since = Instant::now().checked_sub(ctx.exec.now().saturating_duration_since(started)).unwrap_or(started);
    let observer = &mut *ctx.observer;
    let result = ctx.exec.follow(&invocation, until, &mut |line| match watch.feed(line) {
        Ok(None) => Flow::Continue,
        Ok(Some(pod)) => {
            if view.get(&pod.name) == Some(&pod) {
                return Flow::Continue;
            }
            view.insert(pod.name.clone(), pod);
            let progress = judge(targets, view.values().filter(|p| !p.deleting));
            let at = since.elapsed();
            // The view is the last look plus every row since: a pod that appears on the target
            // images or becomes ready is progress, as seen (a count that falls is never read as
            // progress, so a row this view lacks cannot fake any).
            pace.observe(at, &progress, &[]);
            observer.waiting(&pace.live(at, &progress));
            // With --replace-pods on an OnDelete DaemonSet, a ready replacement (and no pod
            // being deleted) is the moment to replace the next pod: stop watching then too.
            let next_replacement = replacing
                && progress[0].not_ready.is_empty()
                && !progress[0].on_other_images.is_empty()
                && view.values().filter(|p| !p.deleting && targets[0].owns(p)).count() == targets[0].desired as usize;
            if looks_done(&progress) || next_replacement {
                candidate = true;
                Flow::Stop
            } else {
                Flow::Continue
            }
        }
        Err(error) => {
            parse_error = Some(error);
            Flow::Stop
        }
    });
    ctx.record(&invocation, &result);
    let output = match result {
        Ok(output) => output,
        Err(ExecError::Interrupted) => return Err(crate::tasks::exec_stop(&invocation, &ExecError::Interrupted)),
        // Could not start it (or it hung past every limit): the loop looks again, then watches again.
        Err(error) => return Ok(WatchEnd::Failed(error.to_string())),
    };
    if let Some(error) = parse_error {
        return Err(ctx.unrecognised(&invocation, error));
    }
    if candidate {
        return Ok(WatchEnd::Candidate);
    }
    if ctx.exec.now() >= until {
        return Ok(WatchEnd::Quiet);
    }
    if output.success() {
        return Ok(WatchEnd::Closed);
    }
    let cause = kubectl::failure_message(&output.stderr);
    Ok(WatchEnd::Failed(if cause.is_empty() {
        output.status_text()
    } else {
        format!("{}: {cause}", output.status_text())
    }))
}
