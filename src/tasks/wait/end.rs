//! How a wait ends, whichever strategy followed the pods: the rollback's check on the live
//! templates (`check_templates`), and the exit-4 report of what was last seen when `--timeout`
//! passed (`timed_out`, `not_converged`). Shared by the wait by watch events (`events`) and the
//! wait by looks (`looks`), which know nothing of each other.

use crate::convergence::{judge, PodRef, Progress, Target};
use crate::exit::Exit;
use crate::tasks::{Context, Stop};
use crate::tools::kubectl;

pub(super) fn pod_list(pods: &[PodRef]) -> Vec<String> {
    pods.iter()
        .map(|p| format!("{} on {}: {}", p.name, p.node.as_deref().unwrap_or("no node"), p.images.join(", ")))
        .collect()
}

/// The rollback's check, on the wait's view of the workloads: each live template carries the
/// target images (`Roll back` reports kubectl's answer; this sees the template itself).
pub(super) fn check_templates(targets: &[Target], statuses: &[kubectl::WorkloadStatus]) -> Result<(), Stop> {
    for target in targets {
        if let Some(status) = statuses.iter().find(|s| s.kind == target.kind && s.name == target.name) {
            if !crate::cluster::same_images(&status.images, &target.images) {
                return Err(Stop::new(
                    Exit::StepFailed,
                    format!(
                        "{}/{}'s live template runs {} instead of the rollback's {}",
                        target.kind.printed_kind(),
                        target.name,
                        status.images.join(", "),
                        target.images.join(", ")
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// The end of `--timeout`: what was last seen (nothing yet: every pod missing) and, when the
/// cluster did not answer at the end, kubectl's reason.
pub(super) fn timed_out(ctx: &Context, targets: &[Target], no_answer: Option<String>) -> Stop {
    let last = ctx.facts.progress.clone().unwrap_or_else(|| judge(targets, &[]));
    let mut stop = not_converged(ctx, &last);
    if let Some(cause) = no_answer {
        stop.details.insert(0, format!("no answer from the cluster at the end: {cause}"));
    }
    stop
}

pub(super) fn not_converged(ctx: &Context, progress: &[Progress]) -> Stop {
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
        if let Some(rollout) = &p.rollout {
            details.push(format!("  rollout: {rollout}"));
        }
        details.extend(
            p.not_ready
                .iter()
                .map(|r| format!("  not ready: {} on {}", r.name, r.node.as_deref().unwrap_or("no node"))),
        );
    }
    Stop::new(
        Exit::NotConverged,
        format!("the pods did not converge within {}", humantime::format_duration(ctx.options.timeout)),
    )
    .with_details(details)
}
