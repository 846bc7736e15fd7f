//! `status`: one look at the Calico pods, judged against the pre-upgrade images (or the live
//! ones when the cluster was never upgraded). Read-only; `status` exits 0 when converged.
//! `--watch` polls every `--poll-interval` until converged or `--timeout`.

use super::{wait, Context, Done, TaskResult};
use crate::convergence::{all_converged, judge, summary};

pub fn run(ctx: &mut Context) -> TaskResult {
    let targets = ctx.cluster().targets();
    let started = ctx.exec.now();
    let (pods, progress) = loop {
        let pods = wait::observe(ctx)?;
        let progress = judge(&targets, &pods);
        let done = all_converged(&progress) || !ctx.options.follow || ctx.exec.now() >= started + ctx.options.timeout;
        if done {
            break (pods, progress);
        }
        ctx.observer.progress(&summary(&progress));
        ctx.pause(ctx.options.poll_interval)?;
    };
    let details: Vec<String> = pods
        .iter()
        .filter(|pod| targets.iter().any(|t| t.owns(pod)))
        .map(|pod| {
            format!(
                "{}  {}  {}/{} ready{}  {}",
                pod.name,
                pod.phase.as_deref().unwrap_or("Pending"),
                pod.ready.iter().filter(|r| **r).count(),
                pod.images.len(),
                if pod.deleting { "  (terminating)" } else { "" },
                pod.images.join(",")
            )
        })
        .collect();
    let converged = all_converged(&progress);
    ctx.facts.pods = Some(pods);
    ctx.facts.progress = Some(progress.clone());
    let message = if converged {
        format!("converged: {}", summary(&progress))
    } else {
        format!("not converged: {}", summary(&progress))
    };
    Ok(Done::ok(message).with_details(details))
}
