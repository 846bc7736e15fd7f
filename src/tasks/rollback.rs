//! Task 5, "Roll back": `kubectl rollout undo ds/calico-node -n kube-system --to-revision=N`
//! and the same for the Deployment.
//!
//! The docs' `kubectl rollout undo` without `--to-revision` goes to "the revision before the
//! current one", so running the procedure twice re-applies v3. This task always names the
//! revision that inspection identified as the pre-upgrade one, and does nothing when the live
//! template already has its images: a second run is a no-op. After the undo it reads the
//! workload back and checks that the live template now carries the target images.

use super::{Context, Done, Stop, TaskResult};
use crate::cluster::{same_images, RollbackPlan, UpgradeState, Workload};
use crate::exec::Invocation;
use crate::exit::Exit;
use crate::tools::kubectl::{self, UndoResult, WorkloadKind};

pub fn name(kind: WorkloadKind, options: &crate::options::Options) -> String {
    match kind {
        WorkloadKind::DaemonSet => format!("Roll back ds/{}", options.daemonset),
        WorkloadKind::Deployment => format!("Roll back deployment/{}", options.deployment),
    }
}

pub fn run(ctx: &mut Context, kind: WorkloadKind) -> TaskResult {
    let cluster = ctx.cluster().clone();
    let (workload, plan) = match kind {
        WorkloadKind::DaemonSet => (cluster.daemonset.clone(), cluster.daemonset_plan.clone()),
        WorkloadKind::Deployment => match (cluster.deployment.clone(), cluster.deployment_plan.clone()) {
            (Some(workload), Some(plan)) => (workload, plan),
            _ => {
                return Ok(Done::skipped(format!(
                    "Kubernetes API datastore: there is no deployment/{} in {}, as its manifests run no calico-kube-controllers",
                    ctx.options.deployment, ctx.options.namespace
                )))
            }
        },
    };
    let (revision, target_images) = match plan {
        RollbackPlan::AlreadyThere => {
            let why = if cluster.state == UpgradeState::NotUpgraded && kind == WorkloadKind::DaemonSet {
                "not upgraded: nothing to roll back"
            } else {
                "already on the pre-upgrade images"
            };
            return Ok(Done::ok(format!("{why} ({})", workload.images.join(", "))));
        }
        RollbackPlan::RollBack { revision, images } => (revision, images),
    };
    let kubectl = ctx.kubectl().clone();
    let namespace = ctx.options.namespace.clone();
    let undo = kubectl.rollout_undo(kind, &namespace, &workload.name, revision);
    if ctx.options.check {
        ctx.plan_command(&undo);
        ctx.facts.changed = true;
        return Ok(Done::changed(format!(
            "would roll back to revision {revision}: {} → {}",
            workload.images.join(", "),
            target_images.join(", ")
        )));
    }
    let result = act(ctx, kind, &workload, revision, &target_images, &undo);
    result.map_err(|stop| settle(ctx, kind, &workload, &target_images, &undo, stop))
}

/// Run the undo, verify the template: `Ok` only when the live template carries the target
/// images (changed, or already there).
fn act(
    ctx: &mut Context,
    kind: WorkloadKind,
    workload: &Workload,
    revision: u64,
    target_images: &[String],
    undo: &Invocation,
) -> TaskResult {
    let kubectl = ctx.kubectl().clone();
    let namespace = ctx.options.namespace.clone();
    let output = ctx.run(undo)?;
    let result = kubectl::parse_undo(kind, &workload.name, &output).map_err(|e| ctx.unreadable(undo, &output, e))?;
    let rolled_back = match result {
        UndoResult::RolledBack => true,
        UndoResult::AlreadyAtRevision { .. } => false,
        UndoResult::WouldRollBack => {
            return Err(Stop::new(
                Exit::StepFailed,
                format!("`{undo}` answered as a dry run (`rolled back (server dry run)`): nothing was rolled back"),
            ));
        }
        UndoResult::SkippedByServer { reason } => {
            return Err(Stop::new(
                Exit::StepFailed,
                format!("`{undo}` did not roll back: skipped rollback ({reason})"),
            ));
        }
        UndoResult::Refused { message } => {
            let mut stop = super::refused(undo, &output);
            // kubectl's own words, once: only when `refused` has not quoted them already.
            if !stop.message.contains(message.trim()) && !stop.details.iter().any(|d| d.contains(message.trim())) {
                stop.details.push(format!("kubectl: {message}"));
            }
            return Err(stop);
        }
    };

    // Verify: the live template now carries the target images.
    let invocation = match kind {
        WorkloadKind::DaemonSet => kubectl.daemonsets(&namespace),
        WorkloadKind::Deployment => kubectl.deployments(&namespace),
    };
    let output = ctx.run_ok(&invocation)?;
    let rows = kubectl::parse_workloads("workload table", &output).map_err(|e| ctx.unrecognised(&invocation, e))?;
    let live = rows
        .into_iter()
        .find(|row| row.name == workload.name)
        .ok_or_else(|| Stop::new(Exit::StepFailed, format!("{} disappeared after `{undo}`", workload.reference())))?;
    if !same_images(&live.images, target_images) {
        return Err(Stop::new(
            Exit::StepFailed,
            format!(
                "after `{undo}`, {} still runs {} instead of {}",
                workload.reference(),
                live.images.join(", "),
                target_images.join(", ")
            ),
        ));
    }
    let message = format!("revision {revision}: {} → {}", workload.images.join(", "), live.images.join(", "));
    Ok(if rolled_back { Done::changed(message) } else { Done::ok(format!("already at {message}")) })
}

/// The live images of the workload, read back; `None` when they cannot be read.
fn live_images(ctx: &mut Context, kind: WorkloadKind, name: &str) -> Result<Option<Vec<String>>, String> {
    let kubectl = ctx.kubectl().clone();
    let namespace = ctx.options.namespace.clone();
    let invocation = match kind {
        WorkloadKind::DaemonSet => kubectl.daemonsets(&namespace),
        WorkloadKind::Deployment => kubectl.deployments(&namespace),
    };
    let output = ctx.run_ok(&invocation).map_err(|stop| stop.message)?;
    let rows = kubectl::parse_workloads("workload table", &output).map_err(|e| e.headline())?;
    Ok(rows.into_iter().find(|row| row.name == name).map(|row| row.images))
}

/// After an undo that failed or could not finish: read the template back and say what it
/// shows, changed (the target images are live: the rollback took effect), not changed (still
/// the images from before), or "may have changed" with what to check.
fn settle(
    ctx: &mut Context,
    kind: WorkloadKind,
    workload: &Workload,
    target_images: &[String],
    undo: &Invocation,
    mut stop: Stop,
) -> Stop {
    let reference = workload.reference();
    let what = match live_images(ctx, kind, &workload.name) {
        Ok(Some(live)) if same_images(&live, target_images) => {
            ctx.facts.changed = true;
            format!(
                "changed: {reference} now carries the target images ({}): the rollback took effect",
                live.join(", ")
            )
        }
        Ok(Some(live)) if same_images(&live, &workload.images) => {
            format!("not changed: {reference} still carries {}", live.join(", "))
        }
        Ok(live) => {
            let note = format!(
                "{reference} may have changed: after `{undo}` its template reads {}; check `kubectl rollout history {reference} -n {}`",
                live.map_or_else(|| "nothing (it is gone)".to_string(), |l| l.join(", ")),
                ctx.options.namespace
            );
            ctx.facts.may_have_changed.push(note.clone());
            note
        }
        Err(why) => {
            let note = format!(
                "{reference} may have changed: `{undo}` did not finish and its template could not be read back ({why}); check `kubectl rollout history {reference} -n {}`",
                ctx.options.namespace
            );
            ctx.facts.may_have_changed.push(note.clone());
            note
        }
    };
    stop.details.push(what);
    stop
}
