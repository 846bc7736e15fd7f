//! `status`: one look at the Calico pods, judged against the pre-upgrade images (or the live
//! ones when the cluster was never upgraded), as a report read at a glance: an aligned table
//! (pod, node, phase, ready, the Calico release of its images), the data migration's state when
//! calico-upgrade can show it (etcd, calico-upgrade v1.0.4+), and a verdict. Read-only.
//!
//! Converged is `ok` (exit 0); not converged is a failed task (exit 1, red, `failed=1`) with a
//! hint: when the templates were never rolled back, the pods cannot converge, so `--watch` says
//! so at once instead of waiting. `--watch` otherwise follows the pods until converged, or
//! until nothing advanced for `--stall-timeout`, or `--timeout` when given.

use super::{wait, Context, Done, Stop, TaskResult};
use crate::calico;
use crate::cluster::{Datastore, RollbackPlan};
use crate::convergence::{all_converged, summary, Target};
use crate::exit::Exit;
use crate::pace::{duration_words, GaveUp, Pace, Patience};
use crate::tools::calico_upgrade::{self, Migration};
use crate::tools::kubectl::PodStatus;

/// The pods of the targets as an aligned table, header first.
pub fn pod_table(targets: &[Target], pods: &[PodStatus]) -> Vec<String> {
    let mut rows: Vec<[String; 6]> = vec![["POD", "NODE", "PHASE", "READY", "CALICO", "IMAGES"].map(str::to_string)];
    // By workload (the DaemonSet first), then node: the same order on every look.
    let mut owned: Vec<(usize, &PodStatus)> =
        pods.iter().filter_map(|pod| targets.iter().position(|t| t.owns(pod)).map(|i| (i, pod))).collect();
    owned.sort_by(|(a, p), (b, q)| (a, &p.node, &p.name).cmp(&(b, &q.node, &q.name)));
    for (_, pod) in owned {
        let phase = if pod.deleting { "Terminating" } else { pod.phase.as_deref().unwrap_or("Pending") };
        rows.push([
            pod.name.clone(),
            pod.node.clone().unwrap_or_else(|| "-".to_string()),
            phase.to_string(),
            // The pod's Ready condition (not its containers' flags: see `kubectl::POD_COLUMNS`).
            match pod.ready {
                Some(true) => "yes",
                Some(false) => "no",
                None => "-",
            }
            .to_string(),
            calico::release(&pod.images).unwrap_or_else(|| "?".to_string()),
            pod.images.join(","),
        ]);
    }
    let mut widths = [0usize; 6];
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    rows.iter()
        .map(|row| {
            let mut line = String::new();
            for (i, cell) in row.iter().enumerate() {
                if i + 1 == row.len() {
                    line.push_str(cell);
                } else {
                    line.push_str(&format!("{cell:<width$}  ", width = widths[i]));
                }
            }
            line.trim_end().to_string()
        })
        .collect()
}

/// What `calico-upgrade inprogress` says, in one line.
pub fn describe_migration(migration: &Migration) -> String {
    match migration {
        Migration::InProgress => {
            "data migration: in progress, the v1 Ready flag is false (Calico v2.x networking is paused until the abort)"
                .to_string()
        }
        Migration::NotInProgress { ready_flag: Some(true) } => {
            "data migration: not in progress, the v1 Ready flag is true".to_string()
        }
        Migration::NotInProgress { ready_flag: Some(false) } => {
            "data migration: not in progress, the v1 Ready flag is false".to_string()
        }
        Migration::NotInProgress { ready_flag: None } => {
            "data migration: not in progress (calico-upgrade does not show the v1 Ready flag once a v3 calico/node ran)"
                .to_string()
        }
        Migration::CheckFailed { message } => format!("data migration: could not be checked: {message}"),
    }
}

/// The migration state, when the datastore is etcd and calico-upgrade has `inprogress`;
/// a failure to read it is a line of the report, never the end of `status`.
fn migration(ctx: &mut Context) -> Option<String> {
    if ctx.cluster().datastore != Datastore::Etcd {
        return None;
    }
    let (Some(tool), Some(version)) =
        (ctx.facts.tools.calico_upgrade.clone(), ctx.facts.calico_upgrade_version.clone())
    else {
        return Some("data migration: not shown (calico-upgrade was not found)".to_string());
    };
    if !calico_upgrade::has_inprogress(&version) {
        return Some(format!("data migration: not shown (calico-upgrade {} has no `inprogress`)", tool.version));
    }
    let invocation = calico_upgrade::inprogress_invocation(&tool.path, &ctx.options.api());
    let line = match ctx.run(&invocation) {
        Ok(output) => match calico_upgrade::parse_inprogress(&output) {
            Ok(state) => {
                let line = describe_migration(&state);
                ctx.facts.migration_before = Some(state);
                line
            }
            Err(error) => format!(
                "data migration: `{}` printed what this tool cannot read: {}",
                invocation.short(),
                error.headline()
            ),
        },
        Err(stop) => format!("data migration: not shown: {}", stop.message),
    };
    Some(line)
}

pub fn run(ctx: &mut Context) -> TaskResult {
    let targets = ctx.cluster().targets();
    let cluster = ctx.cluster();
    // The templates not rolled back yet: their pods cannot reach the target images.
    let not_rolled_back: Vec<String> = std::iter::once((&cluster.daemonset, Some(&cluster.daemonset_plan)))
        .chain(cluster.deployment.as_ref().map(|d| (d, cluster.deployment_plan.as_ref())))
        .filter(|(_, plan)| matches!(plan, Some(RollbackPlan::RollBack { .. })))
        .map(|(workload, _)| format!("{} ({})", workload.reference(), calico::on_images(&workload.images)))
        .collect();
    let migration = migration(ctx);
    let started = ctx.exec.now();
    let mut pace = Pace::new(Patience { stall: ctx.options.stall_timeout, limit: ctx.options.timeout }, targets.len());
    let mut live = targets.clone();
    if ctx.options.follow {
        ctx.deadline = Some(started + pace.deadline());
    }
    // Judged as the wait judges, and followed as the wait follows (the watch between looks),
    // as long as the rollout progresses.
    let mut gave_up = None;
    let looked = (|| loop {
        let (pods, progress) = wait::looks::observe_judged(ctx, &mut live)?;
        let found = wait::blocked::new_causes(ctx, &live, pods.iter());
        wait::blocked::name(ctx, found)?;
        let at = ctx.exec.now().saturating_duration_since(started);
        pace.observe(at, &progress, ctx.facts.rollout.as_deref().unwrap_or(&[]));
        gave_up = pace.gave_up(at);
        let done = all_converged(&progress) || !ctx.options.follow || !not_rolled_back.is_empty() || gave_up.is_some();
        if done {
            break Ok((pods, progress));
        }
        ctx.observer.waiting(&pace.live(at, &progress));
        wait::looks::between_looks(ctx, &live, &pods, started, &mut pace)?;
    })();
    ctx.deadline = None;
    let (pods, progress) = looked?;
    let mut details = pod_table(&targets, &pods);
    details.extend(migration);
    let converged = all_converged(&progress);
    ctx.facts.pods = Some(pods);
    ctx.facts.progress = Some(progress.clone());
    wait::blocked::settle(ctx);
    if converged {
        // The table is what `status` is asked for: on the screen, not only with `-v`.
        return Ok(Done::ok(format!("converged: {}", summary(&progress))).with_summary(details));
    }
    let (message, safe_next) = if !not_rolled_back.is_empty() {
        (
            format!("not converged: {}; nothing was rolled back", summary(&progress)),
            format!(
                "the templates of {} were never rolled back, so their pods cannot converge{}; `calico-downgrade plan` shows what `calico-downgrade run` would do",
                not_rolled_back.join(" and "),
                if ctx.options.follow { " (--watch did not wait)" } else { "" }
            ),
        )
    } else if ctx.options.follow {
        let at = ctx.exec.now().saturating_duration_since(started);
        details.extend(pace.words(at, &progress));
        ctx.facts.wait = Some(pace.record(at, &progress));
        let why = match (gave_up, ctx.options.timeout) {
            (Some(GaveUp::Limit), Some(limit)) => format!("within --timeout {}", duration_words(limit)),
            _ => format!("no progress for {} (--stall-timeout)", duration_words(ctx.options.stall_timeout)),
        };
        (
            format!("not converged, {why}: {}", summary(&progress)),
            "the templates are rolled back; look at the pods that are not ready (`kubectl describe pod`), or watch longer with --stall-timeout".to_string(),
        )
    } else {
        (
            format!("not converged: {}", summary(&progress)),
            "the templates are rolled back; follow the pods with `calico-downgrade status --watch`".to_string(),
        )
    };
    // What blocks the rollout, as the wait names it.
    let blocked = ctx.facts.blockers.iter().filter(|b| b.still).map(|b| format!("blocked: {}", b.words()));
    details.splice(0..0, blocked.collect::<Vec<_>>());
    if let Some(wait) = ctx.facts.wait.as_mut() {
        wait.blockers = ctx.facts.blockers.clone();
    }
    Err(Stop::new(Exit::StepFailed, message).with_details(details).with_safe_next(safe_next))
}
