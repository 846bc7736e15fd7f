//! Task 6, "Wait for the pods" (the docs' `watch kubectl get pods -n kube-system`): wait until
//! the workloads' live rollout status is complete and every pod of the DaemonSet and the
//! Deployment is Running, its Ready condition True, on the rolled-back images, as many as the
//! live desired count (see `convergence`), or until `--timeout` (exit 4, naming what was last
//! seen: the pods on old images, the pods not ready and their nodes).
//!
//! Two strategies hang from here and know nothing of each other: `events`, three exact watches
//! with watch events (kubectl 1.16+, a DaemonSet that replaces its own pods), and `looks`,
//! complete looks with the plain watch between them (older kubectl, `--no-watch`, OnDelete).
//! When the watches cannot be used after all, `events` says so and the task goes on by looks.
//! `end` holds what both end with.

mod end;
mod events;
pub mod looks;

use super::{Context, Done, TaskResult};

pub const NAME: &str = "Wait for the pods";

pub fn run(ctx: &mut Context) -> TaskResult {
    let targets = ctx.cluster().targets();
    if ctx.options.check {
        if events::usable(ctx) {
            for invocation in events::invocations(ctx, &targets) {
                ctx.plan_command(&invocation);
            }
        } else {
            let invocation = ctx.pods_invocation(!ctx.options.no_watch);
            ctx.plan_command(&invocation);
        }
        let goal = targets.iter().map(|t| format!("{} {}/{}", t.name, t.desired, t.desired)).collect::<Vec<_>>();
        let images: Vec<String> = targets.iter().flat_map(|t| t.images.clone()).collect();
        let message = format!(
            "would wait up to {} for {} ready on {}",
            humantime::format_duration(ctx.options.timeout),
            goal.join(" and "),
            crate::calico::images_in_words(&images)
        );
        let mut summary = Vec::new();
        if ctx.cluster().daemonset.is_on_delete() {
            summary.push(if ctx.options.replace_pods {
                "the DaemonSet is OnDelete: its old pods would be deleted one node at a time (--replace-pods)"
            } else {
                "the DaemonSet is OnDelete: the rollback replaces no pod, so the run would stop with exit 4 naming the pods still on v3 (pass --replace-pods)"
            }
            .to_string());
        }
        let details = targets.iter().map(|t| format!("{} images: {}", t.name, t.images.join(", "))).collect();
        return Ok(Done::skipped(message).with_summary(summary).with_details(details));
    }
    let started = ctx.exec.now();
    let deadline = started + ctx.options.timeout;
    ctx.deadline = Some(deadline);
    let hiccups_before = ctx.hiccups.len();
    let by_events =
        if events::usable(ctx) { events::wait(ctx, &targets, started, deadline) } else { Ok(events::Ending::Looks) };
    let result = match by_events {
        Ok(events::Ending::Converged(done)) => Ok(done),
        Ok(events::Ending::Looks) => looks::wait(ctx, &targets, started, deadline),
        Err(stop) => Err(stop),
    };
    ctx.deadline = None;
    // Converged after the cluster stopped answering for a while: said, not only in the live line.
    let ridden_out = super::context::ridden_out(&ctx.hiccups[hiccups_before..], ("read or watch", "reads or watches"));
    result.map(|mut done| {
        done.summary.extend(ridden_out);
        done
    })
}
