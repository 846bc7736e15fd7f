//! How a wait goes on and ends, whichever strategy followed the pods: the moving deadline
//! (`deadline`: no progress for `--stall-timeout`, or `--timeout`), each complete view taken
//! into the pace (`seen`), the rollback's check on the live templates (`check_templates`), the
//! result of a converged wait (`converged`) and the exit-4 report of what was last seen, when
//! something last advanced and the pace (`timed_out`, `not_converged`). Shared by the wait by
//! watch events (`events`) and the wait by looks (`looks`), which know nothing of each other.

use std::time::Instant;

use crate::convergence::{judge, PodRef, Progress, Target};
use crate::exit::Exit;
use crate::pace::{duration_words, GaveUp, Pace};
use crate::tasks::{Context, Done, Stop};
use crate::tools::kubectl;

/// Where the wait gives up now unless something advances first; the reads the wait retries
/// are retried until then.
pub(super) fn deadline(ctx: &mut Context, started: Instant, pace: &Pace) -> Instant {
    let deadline = started + pace.deadline();
    ctx.deadline = Some(deadline);
    deadline
}

/// A converged wait's result: how long it took, the counts, and (JSON, `-v`) the pace.
pub(super) fn converged(ctx: &mut Context, pace: &Pace, started: Instant, progress: &[Progress]) -> Done {
    let at = ctx.exec.now().saturating_duration_since(started);
    super::blocked::settle(ctx);
    let mut record = pace.record(at, progress);
    record.blockers = ctx.facts.blockers.clone();
    ctx.facts.wait = Some(record);
    Done::ok(format!("converged after {:.1}s: {}", at.as_secs_f64(), crate::convergence::summary(progress)))
        .with_details(pace.words(at, progress))
}

pub(super) fn pod_list(pods: &[PodRef]) -> Vec<String> {
    pods.iter()
        .map(|p| format!("{} on {}: {}", p.name, p.node.as_deref().unwrap_or("no node"), p.images.join(", ")))
        .collect()
}

/// A workload whose live template no longer carries the rollback's target images: something
/// changed it back during the wait.
pub(super) struct Reverted {
    target: Target,
    live: Vec<String>,
}

impl Reverted {
    fn reference(&self) -> String {
        format!("{}/{}", self.target.kind.printed_kind(), self.target.name)
    }

    /// What the wait saw: the live images and the rollback's.
    fn message(&self) -> String {
        format!(
            "{}'s live template runs {} instead of the rollback's {}",
            self.reference(),
            self.live.join(", "),
            self.target.images.join(", ")
        )
    }
}

/// The rollback's check, on the wait's view of the workloads: each live template carries the
/// target images (`Roll back` reports kubectl's answer; this sees the template itself).
pub(super) fn check_templates(targets: &[Target], statuses: &[kubectl::WorkloadStatus]) -> Result<(), Reverted> {
    for target in targets {
        if let Some(status) = statuses.iter().find(|s| s.kind == target.kind && s.name == target.name) {
            if !crate::cluster::same_images(&status.images, &target.images) {
                return Err(Reverted { target: target.clone(), live: status.images.clone() });
            }
        }
    }
    Ok(())
}

/// The rollback was undone during the wait: the workload is read once more (the inspection's
/// query, managedFields included) to name who set the template's images and when (the
/// managedFields entries that own them: an update takes a field from its former owner), and
/// the advice points at that manager, or at the reconciler the inspection found, instead of a
/// run that would only start the same tug-of-war again.
pub(super) fn reverted(ctx: &mut Context, reverted: Reverted) -> Stop {
    let invocation = ctx.kubectl().objects(&ctx.options.namespace);
    let read = match ctx.run_raw(&invocation) {
        Ok(output) if output.success() => kubectl::parse_objects(&output).map_err(|e| e.headline()),
        Ok(output) => Err(kubectl::failure_message(&output.stderr)),
        Err(error) => Err(error.to_string()),
    };
    let target = &reverted.target;
    let management = read.as_ref().map(|objects| {
        let list = match target.kind {
            kubectl::WorkloadKind::DaemonSet => &objects.daemonsets,
            kubectl::WorkloadKind::Deployment => &objects.deployments,
        };
        list.iter().find(|o| o.row.name == target.name).map(|o| o.management.clone())
    });
    let setters: Vec<kubectl::FieldManager> = match &management {
        Ok(Some(management)) => crate::reconcilers::image_setters(management).into_iter().cloned().collect(),
        _ => Vec::new(),
    };
    let mut details = vec![reverted.message()];
    details.extend(setters.iter().map(|s| {
        format!("images set by `{}` ({}) at {}", s.manager, s.operation, s.time.as_deref().unwrap_or("an unknown time"))
    }));
    match &management {
        Err(why) => details.push(format!("who changed it could not be read: `{}`: {why}", invocation.short())),
        Ok(None) => details.push(format!("{} is gone", reverted.reference())),
        Ok(Some(_)) if setters.is_empty() => {
            details.push("no managedFields entry owns the template's images: who changed it is not recorded".into())
        }
        Ok(Some(_)) => {}
    }
    let by = setters.first().map(|s| {
        let when = s.time.as_deref().map(|t| format!(" at {t}")).unwrap_or_default();
        format!(" by `{}`{when}", s.manager)
    });
    let message = format!(
        "the rollback was undone: {}'s live template was changed back to {}{} during the wait",
        reverted.reference(),
        reverted.live.join(", "),
        by.clone().unwrap_or_default()
    );
    // Who to stop first: the reconciler the manager's name belongs to, else the continuous ones
    // the inspection found (`--despite-reconciler`), else whoever ran that manager.
    let known = ctx.facts.reconcilers.as_ref().map(|r| r.found.clone()).unwrap_or_default();
    let kind = setters.first().and_then(|s| crate::reconcilers::Kind::of_manager(&s.manager));
    let culprit = known.iter().find(|r| Some(r.kind) == kind).or_else(|| known.iter().find(|r| r.continuous));
    let safe_next = match (culprit, setters.first()) {
        (Some(reconciler), _) => format!(
            "running again now would only start the same tug-of-war: stop {} first ({}), then run again",
            reconciler.kind.title(),
            reconciler.first
        ),
        (None, Some(setter)) => format!(
            "running again now would only start the same tug-of-war: find what re-applied the template with `{}` (a script, a CI job, a person re-applying Calico v3.0's manifest, a reconciler) and stop it, then run again",
            setter.manager
        ),
        (None, None) => "running again now would only start the same tug-of-war: find what changed the template back and stop it, then run again".to_string(),
    };
    Stop::new(Exit::StepFailed, message).with_details(details).with_safe_next(safe_next)
}

/// The end of the wait without convergence: what was last seen (nothing yet: every pod
/// missing) and, when the cluster did not answer at the end, kubectl's reason.
pub(super) fn timed_out(
    ctx: &mut Context,
    targets: &[Target],
    pace: &Pace,
    started: Instant,
    no_answer: Option<String>,
) -> Stop {
    let last = ctx.facts.progress.clone().unwrap_or_else(|| judge(targets, &[]));
    let mut stop = not_converged(ctx, &last, pace, started);
    if let Some(cause) = no_answer {
        stop.details.insert(0, format!("no answer from the cluster at the end: {cause}"));
    }
    stop
}

/// Exit 4: nothing advanced for `--stall-timeout` (or `--timeout` passed), with when
/// something last advanced and what, the pace so far, and the workloads that are not there.
pub(super) fn not_converged(ctx: &mut Context, progress: &[Progress], pace: &Pace, started: Instant) -> Stop {
    let at = ctx.exec.now().saturating_duration_since(started);
    super::blocked::settle(ctx);
    let mut record = pace.record(at, progress);
    record.blockers = ctx.facts.blockers.clone();
    // Given up at the deadline, or just before it when no retry could end in time.
    record.gave_up = Some(record.gave_up.unwrap_or(pace.deadline_cause()));
    let message = match (&record.gave_up, pace.patience.limit) {
        (Some(GaveUp::Limit), Some(limit)) => {
            format!("the pods did not converge within --timeout {}", duration_words(limit))
        }
        _ => format!("the pods made no progress for {} (--stall-timeout)", duration_words(pace.patience.stall)),
    };
    ctx.facts.wait = Some(record);
    let mut details = pace.words(at, progress);
    // What blocks the rollout first: the reason it stalled, in the kubelet's own words.
    details.extend(ctx.facts.blockers.iter().filter(|b| b.still).map(|b| format!("blocked: {}", b.words())));
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
        if let Some(rollout) = &p.rollout {
            details.push(format!("  rollout: {rollout}"));
        }
        // Why is for the kubelet's and the scheduler's own words: one command away (named
        // above when the wait saw what blocks it).
        details.extend(
            p.not_ready.iter().filter(|r| !ctx.facts.blockers.iter().any(|b| b.still && b.pod == r.name)).map(|r| {
                format!(
                    "  not ready: {} on {} (`kubectl describe pod {} -n {}`)",
                    r.name,
                    r.node.as_deref().unwrap_or("no node"),
                    r.name,
                    ctx.options.namespace
                )
            }),
        );
    }
    Stop::new(Exit::NotConverged, message).with_details(details)
}
