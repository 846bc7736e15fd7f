//! Task 6, "Wait for the pods" (the docs' `watch kubectl get pods -n kube-system`): wait until
//! every pod of the DaemonSet and the Deployment is Running, ready, on the rolled-back
//! images, and as many as desired (see `convergence`), or until `--timeout` (exit 4).
//!
//! By default it follows `kubectl get pods --watch`: one long-lived kubectl whose rows are
//! judged as they arrive. The watch never says that a pod is gone (a deleted pod's last row is
//! simply its last), so a verdict from the watch is only a candidate, confirmed by one
//! `kubectl get pods` before the tool says "converged": never early. With `--no-watch` it
//! polls every `--poll-interval` instead. An OnDelete DaemonSet never replaces its pods: the
//! task reports which pods still run the v3 images and stops with exit 4, unless
//! `--replace-pods`, which deletes them one at a time, each replacement ready before the next.

use std::collections::BTreeMap;
use std::time::Instant;

use super::{Context, Done, Stop, TaskResult};
use crate::convergence::{all_converged, judge, summary, PodRef, Progress, Target};
use crate::exec::{ExecError, Flow};
use crate::exit::Exit;
use crate::tools::kubectl::{self, PodStatus, PodWatch};

pub const NAME: &str = "Wait for the pods";

/// One `kubectl get pods` of the namespace.
pub fn observe(ctx: &mut Context) -> Result<Vec<PodStatus>, Stop> {
    let invocation = ctx.pods_invocation(false);
    let output = ctx.run_ok(&invocation)?;
    kubectl::parse_pods(&output).map_err(|e| ctx.unrecognised(&invocation, e))
}

fn pod_list(pods: &[PodRef]) -> Vec<String> {
    pods.iter()
        .map(|p| format!("{} on {}: {}", p.name, p.node.as_deref().unwrap_or("no node"), p.images.join(", ")))
        .collect()
}

pub fn run(ctx: &mut Context) -> TaskResult {
    let targets = ctx.cluster().targets();
    if ctx.options.check {
        let invocation = ctx.pods_invocation(!ctx.options.no_watch);
        ctx.plan_command(&invocation);
        let goal =
            targets.iter().map(|t| format!("{} {}× {}", t.name, t.desired, t.images.join(", "))).collect::<Vec<_>>();
        let mut message = format!(
            "check mode: would wait up to {} for {}",
            humantime::format_duration(ctx.options.timeout),
            goal.join("; ")
        );
        if ctx.cluster().daemonset.is_on_delete() {
            message.push_str(if ctx.options.replace_pods {
                "; the DaemonSet is OnDelete: its old pods would be deleted one node at a time (--replace-pods)"
            } else {
                "; the DaemonSet is OnDelete: the rollback replaces no pod, so the run would stop with exit 4 naming the pods still on v3 (pass --replace-pods)"
            });
        }
        return Ok(Done::skipped(message));
    }
    let started = ctx.exec.now();
    let deadline = started + ctx.options.timeout;
    ctx.deadline = Some(deadline);
    let result = wait(ctx, &targets, started, deadline);
    ctx.deadline = None;
    result
}

/// What one confirming look found: the pods, or no answer before the deadline (the API
/// server unreachable through every retry), with kubectl's reason.
enum Look {
    Seen(Vec<PodStatus>),
    Lost(String),
}

/// One `kubectl get pods`, retried through transient failures until the deadline.
fn look(ctx: &mut Context) -> Result<Look, Stop> {
    let invocation = ctx.pods_invocation(false);
    match ctx.run_raw(&invocation) {
        Err(ExecError::Deadline) => {
            Ok(Look::Lost(format!("`{}` was still running", super::context::short_name(&invocation))))
        }
        Err(error) => Err(super::exec_stop(&invocation, &error)),
        Ok(output) if output.success() => {
            kubectl::parse_pods(&output).map(Look::Seen).map_err(|e| ctx.unrecognised(&invocation, e))
        }
        Ok(output) => match kubectl::transient_failure(&output.stderr) {
            Some(cause) => Ok(Look::Lost(cause)),
            None => Err(super::refused(&invocation, &output)),
        },
    }
}

fn wait(ctx: &mut Context, targets: &[Target], started: Instant, deadline: Instant) -> TaskResult {
    let targets = targets.to_vec();
    let on_delete = ctx.cluster().daemonset.is_on_delete();
    // Right after a rollback, the first look is the watch's own opening listing: no poll
    // before it. Each candidate the watch finds is then confirmed by the poll at the top of
    // the loop. When nothing changed (a second run), one poll is all it takes.
    let mut watching = !ctx.options.no_watch;
    if watching && !on_delete && ctx.facts.changed {
        watching = follow_until_candidate(ctx, &targets, &[], deadline)?;
    }
    loop {
        let pods = match look(ctx)? {
            Look::Seen(pods) => pods,
            Look::Lost(cause) => {
                let last = ctx.facts.progress.clone().unwrap_or_else(|| judge(&targets, &[]));
                let mut stop = not_converged(ctx, &last);
                stop.details.insert(0, format!("no answer from the cluster at the end: {cause}"));
                return Err(stop);
            }
        };
        let progress = judge(&targets, &pods);
        let elapsed = ctx.exec.now().saturating_duration_since(started);
        ctx.observer.progress(&summary(&progress));
        ctx.facts.pods = Some(pods.clone());
        ctx.facts.progress = Some(progress.clone());
        if all_converged(&progress) {
            return Ok(Done::ok(format!("converged after {:.1}s: {}", elapsed.as_secs_f64(), summary(&progress))));
        }
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
        if ctx.exec.now() >= deadline {
            return Err(not_converged(ctx, &progress));
        }
        if watching {
            watching = follow_until_candidate(ctx, &targets, &pods, deadline)?;
        } else {
            ctx.pause(ctx.options.poll_interval)?;
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
    let output = ctx.run(&invocation)?;
    let deleted = kubectl::parse_delete(&pod.name, &output).map_err(|e| ctx.unreadable(&invocation, &output, e))?;
    // kubectl reported the deletion: the cluster changed.
    ctx.facts.changed |= deleted;
    if !deleted {
        // Already gone is fine (another actor deleted it); anything else is a failure.
        if !kubectl::is_not_found(&output.stderr) {
            return Err(super::refused(&invocation, &output));
        }
    }
    ctx.observer.progress(&format!(
        "replacing {} on {} (OnDelete, --replace-pods)",
        pod.name,
        pod.node.as_deref().unwrap_or("no node")
    ));
    Ok(())
}

fn not_converged(ctx: &Context, progress: &[Progress]) -> Stop {
    let mut details = Vec::new();
    for p in progress.iter().filter(|p| !p.converged) {
        details.push(format!(
            "{}/{}: {}/{} ready on the target images",
            p.kind.printed_kind(),
            p.name,
            p.ready,
            p.desired
        ));
        details.extend(
            p.on_other_images
                .iter()
                .zip(pod_list(&p.on_other_images))
                .map(|(pod, line)| format!("  still {}: {line}", crate::calico::on_images(&pod.images))),
        );
        details.extend(p.not_ready.iter().map(|r| format!("  not ready: {}", r.name)));
    }
    Stop::new(
        Exit::NotConverged,
        format!("the pods did not converge within {}", humantime::format_duration(ctx.options.timeout)),
    )
    .with_details(details)
}

/// Follow `kubectl get pods --watch` until the rows it prints make the workloads look
/// converged (a candidate, to be confirmed by a poll), or a pod being deleted needs a fresh
/// look (no row says when it is gone), or the watch ends, or the deadline passes. Returns
/// whether watching is still worth it (false once a watch failed).
fn follow_until_candidate(
    ctx: &mut Context,
    targets: &[Target],
    seed: &[PodStatus],
    deadline: Instant,
) -> Result<bool, Stop> {
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
    let started = ctx.exec.now();
    let replacing = ctx.options.replace_pods && ctx.cluster().daemonset.is_on_delete();
    ctx.command_started(&invocation);
    let observer = &mut *ctx.observer;
    let result = ctx.exec.follow(&invocation, until, &mut |line| match watch.feed(line) {
        Ok(None) => Flow::Continue,
        Ok(Some(pod)) => {
            if view.get(&pod.name) == Some(&pod) {
                return Flow::Continue;
            }
            view.insert(pod.name.clone(), pod);
            let progress = judge(targets, view.values().filter(|p| !p.deleting));
            observer.progress(&summary(&progress));
            // With --replace-pods on an OnDelete DaemonSet, a ready replacement (and no pod
            // being deleted) is the moment to replace the next pod: stop watching then too.
            let next_replacement = replacing
                && progress[0].not_ready.is_empty()
                && !progress[0].on_other_images.is_empty()
                && view.values().filter(|p| !p.deleting && targets[0].owns(p)).count() == targets[0].desired as usize;
            if all_converged(&progress) || next_replacement {
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
    let output = result.map_err(|e| super::exec_stop(&invocation, &e))?;
    if let Some(error) = parse_error {
        return Err(ctx.unrecognised(&invocation, error));
    }
    // A watch that ended by itself: after a clean end (the API server closed it) the loop
    // polls and watches again, resting one interval if it was short-lived; a failed watch
    // (kubectl exited non-zero or was killed: no permission to watch, say) is not retried:
    // the wait polls from then on, and says so once.
    let ended_early = !candidate && ctx.exec.now() < until;
    if !ended_early {
        return Ok(true);
    }
    if !output.success() {
        let cause = kubectl::failure_message(&output.stderr);
        ctx.observer.progress(&format!(
            "the watch failed ({}{}): polling every {} instead",
            output.status_text(),
            if cause.is_empty() { String::new() } else { format!(": {cause}") },
            humantime::format_duration(ctx.options.poll_interval)
        ));
        return Ok(false);
    }
    if ctx.exec.now().saturating_duration_since(started) < ctx.options.poll_interval {
        ctx.pause(ctx.options.poll_interval)?;
    }
    Ok(true)
}
