//! Task 5, "Roll back": `kubectl rollout undo ds/calico-node -n kube-system --to-revision=N`
//! and the same for the Deployment.
//!
//! The docs' `kubectl rollout undo` without `--to-revision` goes to "the revision before the
//! current one", so running the procedure twice re-applies v3. This task always names the
//! revision that inspection identified as the pre-upgrade one, and does nothing when the live
//! template already has its images: a second run is a no-op. `changed` is kubectl's report of
//! the server's answer (`rolled back`); the wait's first view of the workload then checks that
//! the live template carries the target images. An undo that failed or did not finish is read
//! back (`settle`).

use super::{Context, Done, Stop, TaskResult};
use crate::calico::{images_in_words, transition};
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
            return Ok(Done::ok(format!("{why} ({})", images_in_words(&workload.images)))
                .with_details(vec![format!("live images: {}", workload.images.join(", "))]));
        }
        RollbackPlan::RollBack { revision, images } => (revision, images),
    };
    let kubectl = ctx.kubectl().clone();
    let namespace = ctx.options.namespace.clone();
    let mut undo = kubectl.rollout_undo(kind, &namespace, &workload.name, revision);
    // Both to the same revision number: one `kubectl rollout undo ds/… deployment/…` does both
    // (in the docs' order, each on its own: kubectl goes on past a failure, as two commands
    // would); the DaemonSet's rollback runs it, the Deployment's takes its line of the answer.
    let both = undo_of_both(ctx);
    if ctx.options.check {
        let mut details = vec![images_line(&workload.images, &target_images)];
        match (&both, kind) {
            (Some(both), WorkloadKind::Deployment) => {
                details.push(format!("with the DaemonSet's rollback, in one command: `{both}`"))
            }
            (Some(both), WorkloadKind::DaemonSet) => ctx.plan_command(both),
            (None, _) => ctx.plan_command(&undo),
        }
        ctx.facts.changed = true;
        return Ok(Done::changed(format!(
            "would roll back to revision {revision} ({})",
            transition(&workload.images, &target_images)
        ))
        .with_details(details));
    }
    // A failure a retry could fix (the API server unreachable, a timeout) leaves the cluster
    // unknown: never repeated blindly, the undo is decided again on a fresh look at the
    // template, within the inspection's retry budget.
    let until = ctx.exec.now() + super::context::INSPECTION_RETRY_BUDGET;
    let mut attempt = 0;
    let (mut revision, mut target_images) = (revision, target_images);
    // What happened to the attempts before the one that worked, for the report.
    let mut earlier: Vec<String> = Vec::new();
    // Otherwise the Deployment's undo is independent of the DaemonSet's: both start at once,
    // and the Deployment's task (next, in the same stage) takes its result.
    let mut together = None;
    let mut ran = match (kind, both) {
        (WorkloadKind::DaemonSet, Some(both)) => {
            let result = ctx.run_raw(&both);
            ctx.undone_together = Some((both.clone(), result.clone()));
            Some((both, result))
        }
        (WorkloadKind::DaemonSet, None) => {
            together = deployment_undo(ctx);
            None
        }
        (WorkloadKind::Deployment, _) => ctx.undone_together.take(),
    };
    loop {
        // The first attempt may be the shared undo's; any other is this workload's own.
        let this = ran.as_ref().map_or_else(|| undo.clone(), |(both, _)| both.clone());
        let acted = act(ctx, kind, &workload, revision, &target_images, &this, together.take(), ran.take());
        let stop = match acted {
            Ok(mut done) => {
                done.details.splice(0..0, earlier);
                return Ok(done);
            }
            Err(Failure::Final(stop)) => return Err(settle(ctx, kind, &workload, &target_images, &this, stop)),
            Err(Failure::Moved(cause, stop)) if attempt + 1 < UNDO_ATTEMPTS => {
                // The cluster moved under the rollback: read the workload again and decide again.
                attempt += 1;
                let Some(fresh) = super::inspect::read_workload(ctx, kind, &workload.name)? else {
                    return Err(settle(ctx, kind, &workload, &target_images, &this, stop));
                };
                if same_images(&fresh.images, &target_images) {
                    return Ok(Done::ok(format!(
                        "already at {} ({}): `{this}` found the cluster moved ({cause}), and read again, the rollback had been done",
                        images_in_words(&target_images),
                        workload.reference()
                    ))
                    .with_details(earlier));
                }
                let to_revision = if kind == WorkloadKind::DaemonSet { ctx.options.to_revision } else { None };
                match crate::cluster::decide_rollback(&fresh, to_revision) {
                    Ok(RollbackPlan::RollBack { revision: next, images }) => {
                        earlier.push(format!(
                            "attempt {attempt}: `{this}` found the cluster moved ({cause}); read again, revision {next} carries the target images"
                        ));
                        revision = next;
                        target_images = images;
                        undo = kubectl.rollout_undo(kind, &namespace, &workload.name, revision);
                        continue;
                    }
                    _ => return Err(settle(ctx, kind, &workload, &target_images, &this, stop)),
                }
            }
            Err(Failure::Moved(_, stop)) => return Err(settle(ctx, kind, &workload, &target_images, &this, stop)),
            Err(Failure::Transient(cause, stop)) => (cause, stop),
        };
        let (cause, stop) = stop;
        attempt += 1;
        let pause = super::context::backoff(attempt);
        let read = live_images(ctx, kind, &workload.name);
        match &read {
            Ok(Some(live)) if same_images(live, &target_images) => {
                ctx.facts.changed = true;
                return Ok(Done::changed(format!(
                    "rolled back to revision {revision} ({}): `{this}` failed ({cause}), but read back, the rollback had taken effect",
                    transition(&workload.images, live)
                ))
                .with_details(vec![images_line(&workload.images, live)]));
            }
            Ok(Some(live))
                if same_images(live, &workload.images) && attempt < UNDO_ATTEMPTS && ctx.exec.now() + pause < until =>
            {
                let line = format!(
                    "{} failed: {cause}; {} still carries {}: rolling back again in {:.1}s",
                    super::context::short_name(&this),
                    workload.reference(),
                    live.join(", "),
                    pause.as_secs_f64()
                );
                ctx.observer.progress(&line);
                earlier.push(format!("attempt {attempt}: {line}"));
                ctx.exec.sleep(pause).map_err(|e| super::exec_stop(&this, &e))?;
            }
            // What the read showed decides: nothing is read twice.
            _ => return Err(settle_with(ctx, &workload, &target_images, &this, read, stop)),
        }
    }
}

/// At most this many undos of one workload in a run: each after a read that showed the
/// template unchanged.
const UNDO_ATTEMPTS: u32 = 3;

/// Why an undo did not end in the target state: a failure a retry could fix (its cause), after
/// which the template is read again and the undo decided again; the cluster moved under it (a
/// revision renumbered by another rollback, the object modified), after which the workload is
/// read again and the rollback decided again; or one that ends the task.
enum Failure {
    Transient(String, Stop),
    Moved(String, Stop),
    Final(Stop),
}

/// The Deployment's undo, when its rollback is planned: run together with the DaemonSet's.
fn deployment_undo(ctx: &Context) -> Option<Invocation> {
    let cluster = ctx.cluster();
    match (&cluster.deployment, &cluster.deployment_plan) {
        (Some(deployment), Some(RollbackPlan::RollBack { revision, .. })) => Some(ctx.kubectl().rollout_undo(
            WorkloadKind::Deployment,
            &ctx.options.namespace,
            &deployment.name,
            *revision,
        )),
        _ => None,
    }
}

/// `kubectl rollout undo ds/NAME deployment/NAME -n NS --to-revision=N`, when both rollbacks
/// are planned to the same revision number `N`.
fn undo_of_both(ctx: &Context) -> Option<Invocation> {
    let cluster = ctx.cluster();
    match (&cluster.daemonset_plan, &cluster.deployment, &cluster.deployment_plan) {
        (
            RollbackPlan::RollBack { revision, .. },
            Some(deployment),
            Some(RollbackPlan::RollBack { revision: other, .. }),
        ) if revision == other => Some(ctx.kubectl().rollout_undo_together(
            &[
                (WorkloadKind::DaemonSet, cluster.daemonset.name.as_str()),
                (WorkloadKind::Deployment, deployment.name.as_str()),
            ],
            &ctx.options.namespace,
            *revision,
        )),
        _ => None,
    }
}

/// kubectl's words when the cluster moved under an undo: `error: unable to find specified
/// revision 9 in history` (a Deployment rollback renumbers the revision it restores), `…the
/// object has been modified; please apply your changes to the latest version…` (Conflict).
fn moved(message: &str) -> bool {
    message.contains("unable to find specified revision") || message.contains("the object has been modified")
}

impl From<Stop> for Failure {
    fn from(stop: Stop) -> Self {
        Failure::Final(stop)
    }
}

/// Run the undo: `Ok` when kubectl reports the rollback (changed) or that the template already
/// matches the revision. `ran`: the undo of both workloads already run, and its answer
/// (`undo` is then that command, and this workload's part of the answer is its own line).
#[allow(clippy::too_many_arguments)]
fn act(
    ctx: &mut Context,
    kind: WorkloadKind,
    workload: &Workload,
    revision: u64,
    target_images: &[String],
    undo: &Invocation,
    together: Option<Invocation>,
    ran: Option<(Invocation, Result<crate::exec::Output, crate::exec::ExecError>)>,
) -> Result<Done, Failure> {
    let shared = ran.is_some();
    let first = match (ran, together) {
        (Some((_, result)), _) => result,
        (None, Some(other)) => ctx.run_together(undo, other),
        (None, None) => ctx.run_raw(undo),
    };
    let output = match first {
        Ok(output) => output,
        Err(error @ crate::exec::ExecError::TimedOut { .. }) => {
            return Err(Failure::Transient(error.to_string(), super::exec_stop(undo, &error)))
        }
        Err(error) => return Err(Failure::Final(super::exec_stop(undo, &error))),
    };
    let result = if shared {
        kubectl::undo_of(kind, &workload.name, &output)
    } else {
        kubectl::parse_undo(kind, &workload.name, &output)
    };
    // A failure a retry can fix is this workload's when kubectl printed no line of it.
    if !output.success() && matches!(result, Ok(UndoResult::Refused { .. })) {
        if let Some(cause) = kubectl::transient_failure(&output.stderr) {
            return Err(Failure::Transient(cause, super::refused(undo, &output)));
        }
    }
    let result = result.map_err(|e| ctx.unreadable(undo, &output, e))?;
    let rolled_back = match result {
        UndoResult::RolledBack => true,
        UndoResult::AlreadyAtRevision { .. } => false,
        UndoResult::WouldRollBack => {
            return Err(Failure::Final(Stop::new(
                Exit::StepFailed,
                format!("`{undo}` answered as a dry run (`rolled back (server dry run)`): nothing was rolled back"),
            )));
        }
        UndoResult::SkippedByServer { reason } => {
            return Err(Failure::Final(Stop::new(
                Exit::StepFailed,
                format!("`{undo}` did not roll back: skipped rollback ({reason})"),
            )));
        }
        UndoResult::Refused { message } => {
            let mut stop = super::refused(undo, &output);
            // kubectl's own words, once: only when `refused` has not quoted them already.
            if !stop.message.contains(message.trim()) && !stop.details.iter().any(|d| d.contains(message.trim())) {
                stop.details.push(format!("kubectl: {message}"));
            }
            if moved(&message) || (!shared && moved(&output.stderr)) {
                return Err(Failure::Moved(message.trim().to_string(), stop));
            }
            return Err(Failure::Final(stop));
        }
    };

    // kubectl reports the server's answer to the patch; the live template is checked on the
    // wait's first view of the workload (`wait`: its rollout status carries the template's
    // images), which costs no command of its own.
    let images = images_line(&workload.images, target_images);
    let mut done = if rolled_back {
        Done::changed(format!("rolled back to revision {revision} ({})", transition(&workload.images, target_images)))
            .with_details(vec![
                images,
                format!(
                    "kubectl: `{}`; the wait checks that the live template carries these images",
                    own_line(&output.stdout, &workload.name)
                ),
            ])
    } else {
        Done::ok(format!("already at revision {revision} ({})", images_in_words(target_images)))
            .with_details(vec![images])
    };
    // The command is listed under the DaemonSet's rollback, which ran it for both.
    if shared && kind == WorkloadKind::Deployment {
        done.details.push(format!("with the DaemonSet's rollback, in one command: `{undo}`"));
    }
    Ok(done)
}

/// kubectl's line about `name` (an undo of both prints one each), else all it printed.
fn own_line<'a>(stdout: &'a str, name: &str) -> &'a str {
    let named = |line: &&str| line.contains(&format!("/{name} ")) || line.contains(&format!("\"{name}\""));
    stdout.lines().find(named).unwrap_or(stdout).trim()
}

/// `images: A, B → C, D`: the whole images, for the details.
fn images_line(from: &[String], to: &[String]) -> String {
    format!("images: {} → {}", from.join(", "), to.join(", "))
}

/// The live images of the workload, read back; `None` when they cannot be read.
fn live_images(ctx: &mut Context, kind: WorkloadKind, name: &str) -> Result<Option<Vec<String>>, String> {
    let kubectl = ctx.kubectl().clone();
    let namespace = ctx.options.namespace.clone();
    let invocation = kubectl.one_workload_status(kind, &namespace, name);
    let output = ctx.run(&invocation).map_err(|stop| stop.message)?;
    if !output.success() && kubectl::is_not_found(&output.stderr) {
        return Ok(None);
    }
    if !output.success() {
        return Err(kubectl::failure_message(&output.stderr));
    }
    let rows = kubectl::parse_workload_status(&output).map_err(|e| e.headline())?;
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
    stop: Stop,
) -> Stop {
    let read = live_images(ctx, kind, &workload.name);
    settle_with(ctx, workload, target_images, undo, read, stop)
}

/// `settle` with the template already read back (`live_images`).
fn settle_with(
    ctx: &mut Context,
    workload: &Workload,
    target_images: &[String],
    undo: &Invocation,
    read: Result<Option<Vec<String>>, String>,
    mut stop: Stop,
) -> Stop {
    let reference = workload.reference();
    let what = match read {
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
