//! Task 6, "Wait for the pods" (the docs' `watch kubectl get pods -n kube-system`): wait until
//! the workloads' live rollout status is complete and every pod of the DaemonSet and the
//! Deployment is Running, its Ready condition True, on the rolled-back images, as many as the
//! live desired count (see `convergence`). It waits as long as the rollout progresses (see
//! `pace`: a pod updated or becoming ready, a workload's counts advancing), and gives up with
//! exit 4 after `--stall-timeout` with no progress, or at `--timeout` (an absolute limit, unset
//! unless given), naming when something last advanced and what, the pace, and what was last
//! seen: the pods on old images, the pods not ready and their nodes. The live line gives the
//! pace and how long is left at that pace.
//!
//! Two strategies hang from here and know nothing of each other: `events`, three exact watches
//! with watch events (kubectl 1.16+, a DaemonSet that replaces its own pods), and `looks`,
//! complete looks with the plain watch between them (older kubectl, `--no-watch`, OnDelete).
//! When the watches cannot be used after all, `events` says so and the task goes on by looks.
//! `end` holds what both end with.

pub mod blocked;
mod end;
mod events;
pub mod looks;

use super::{Context, Done, TaskResult};
use crate::pace::{duration_words, Pace, Patience};

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
        let limit = match ctx.options.timeout {
            Some(limit) => format!(", at most {}", duration_words(limit)),
            None => String::new(),
        };
        let message = format!(
            "would wait for {} ready on {}, giving up after {} without progress{limit}",
            goal.join(" and "),
            crate::calico::images_in_words(&images),
            duration_words(ctx.options.stall_timeout),
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
    let mut pace = Pace::new(Patience { stall: ctx.options.stall_timeout, limit: ctx.options.timeout }, targets.len());
    let hiccups_before = ctx.hiccups.len();
    let by_events =
        if events::usable(ctx) { events::wait(ctx, &targets, started, &mut pace) } else { Ok(events::Ending::Looks) };
    let result = match by_events {
        Ok(events::Ending::Converged(done)) => Ok(done),
        Ok(events::Ending::Looks) => looks::wait(ctx, &targets, started, &mut pace),
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
