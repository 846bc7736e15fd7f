//! Task 4, "Abort the upgrade": `calico-upgrade abort`, which sets the v1 Ready flag so that
//! Calico v2.x networking resumes (etcd datastore only; with the Kubernetes API datastore there
//! is no data migration to abort).
//!
//! Observe: from v1.0.4, `calico-upgrade inprogress`; only its ` * Ready flag is true.` proves
//! there is nothing to abort (`ok`). "NOT in Progress" without that bullet proves nothing: once
//! a v3 calico/node has written a v3 `calicoVersion`, calico-upgrade considers no migration
//! "needed" and stops showing the flag, paused or not. Act: `abort --no-prompts` (v1.0.1+) or
//! `abort` with `yes` on stdin (v1.0.0); the abort is idempotent (it sets the flag). Verify: a
//! non-zero exit **or** any ` * failed to resume` line is a failure (v1.0.0–v1.0.3 print it and
//! still exit 0); from v1.0.4 the state is read back, and the report says whether the flag could
//! be seen.

use super::inspect;
use super::{refused, Context, Done, Stop, TaskResult};
use crate::calico::{generation, Component, Generation};
use crate::cluster::closest_names;
use crate::cluster::Datastore;
use crate::exec::Invocation;
use crate::exit::Exit;
use crate::tools::calico_upgrade::{self, AbortResult, Migration};
use crate::tools::kubectl;

pub const NAME: &str = "Abort the upgrade";
pub const CHECK_NODE: &str = "Check calico/node";

/// `abort` alone: the docs' "Aborting the upgrade" is for a cluster whose components were
/// never upgraded (calico/node still on v2.x). With calico/node on v3 the abort resumes Calico
/// v2.x networking under v3 nodes; `run` follows the docs' order instead (abort, then roll back
/// and wait). So v3 live is exit 3 pointing at `run`, unless `--abort-while-v3`. A DaemonSet
/// that does not exist stops the run when a close name exists (a typo) or the namespace does
/// not; otherwise (a custom installation, no calico-node DaemonSet) the abort goes on, as the
/// docs allow.
pub fn check_node(ctx: &mut Context) -> TaskResult {
    let namespace = ctx.options.namespace.clone();
    let name = ctx.options.daemonset.clone();
    let kubectl = ctx.kubectl().clone();
    let invocation = kubectl.daemonsets(&namespace);
    let output = ctx.run_ok(&invocation)?;
    let rows = kubectl::parse_workloads("`kubectl get daemonsets` table", &output)
        .map_err(|e| ctx.unrecognised(&invocation, e))?;
    let Some(row) = rows.iter().find(|r| r.name == name) else {
        if rows.is_empty() {
            if let Some(stop) = inspect::missing_namespace(ctx, &kubectl, &namespace) {
                return Err(stop);
            }
        }
        if !closest_names(&name, rows.iter().map(|r| r.name.as_str())).is_empty() {
            return Err(inspect::no_daemonset(&name, &namespace, &rows));
        }
        return Ok(Done::skipped(format!(
            "there is no daemonset/{name} in {namespace} (a custom installation?): which Calico release calico/node runs cannot be seen"
        )));
    };
    let images = row.images.join(", ");
    match generation(&row.images, Component::Node) {
        Generation::V3 if ctx.options.abort_while_v3 => Ok(Done::ok(format!(
            "ds/{name} runs Calico v3 ({images}); aborting all the same, as --abort-while-v3 asks"
        ))),
        Generation::V3 => Err(Stop::new(
            Exit::Precondition,
            format!(
                "ds/{name} still runs Calico v3 ({images}): the docs' \"Aborting the upgrade\" is for components that were never upgraded; \
                 run `calico-downgrade run`, which aborts and rolls back in the docs' order, or pass --abort-while-v3 if you mean to abort with v3 running"
            ),
        )
        .with_safe_next("nothing was changed; `calico-downgrade plan` shows what `run` would do")),
        Generation::V2 => Ok(Done::ok(format!("ds/{name} runs Calico v2.x ({images})"))),
        Generation::Unknown => Ok(Done::ok(format!(
            "ds/{name} runs no calico/node image with a version tag ({images}): its release cannot be told"
        ))),
    }
}

fn inprogress(ctx: &mut Context, invocation: &Invocation) -> Result<Migration, Stop> {
    let output = ctx.run(invocation)?;
    match calico_upgrade::parse_inprogress(&output).map_err(|e| ctx.unreadable(invocation, &output, e))? {
        Migration::CheckFailed { message } => {
            Err(Stop::new(Exit::StepFailed, format!("`{invocation}` could not check the migration state: {message}")))
        }
        state => Ok(state),
    }
}

pub fn run(ctx: &mut Context) -> TaskResult {
    if let Some(cluster) = &ctx.facts.cluster {
        if cluster.datastore == Datastore::Kubernetes {
            return Ok(Done::skipped(
                "Kubernetes API datastore: there is no data migration to abort (calico-upgrade would take no action)",
            ));
        }
    }
    let (Some(tool), Some(version)) =
        (ctx.facts.tools.calico_upgrade.clone(), ctx.facts.calico_upgrade_version.clone())
    else {
        return Err(Stop::new(Exit::Precondition, "calico-upgrade was not found; install it or pass --calico-upgrade"));
    };
    let api = ctx.options.api();
    let can_check = calico_upgrade::has_inprogress(&version);
    let check = calico_upgrade::inprogress_invocation(&tool.path, &api);
    if can_check {
        let before = inprogress(ctx, &check)?;
        ctx.facts.migration_before = Some(before.clone());
        if before.ready() {
            return Ok(Done::ok("the v1 Ready flag is true (`calico-upgrade inprogress`): nothing to abort"));
        }
    }
    let abort = calico_upgrade::abort_invocation(&tool.path, &version, &api);
    if ctx.options.check {
        ctx.plan_command(&abort);
        ctx.facts.changed = true;
        let reads = ctx.facts.destination.as_ref().map(|d| d.calico_upgrade.short()).into_iter().collect();
        return Ok(Done::changed(if can_check {
            "would abort the data migration in progress".to_string()
        } else {
            format!(
                "would abort the data migration (calico-upgrade {} cannot report whether one is in progress)",
                tool.version
            )
        })
        .with_summary(reads));
    }
    let check = can_check.then_some(check);
    let output = ctx.run(&abort).map_err(|stop| settle(ctx, check.as_ref(), stop))?;
    let result = calico_upgrade::parse_abort(&output)
        .map_err(|e| ctx.unreadable(&abort, &output, e))
        .map_err(|stop| settle(ctx, check.as_ref(), stop))?;
    match result {
        AbortResult::Aborted => {}
        AbortResult::NotNecessary => {
            return Ok(Done::ok("calico-upgrade reports a Kubernetes API datastore: no action was needed"));
        }
        AbortResult::Cancelled => {
            return Err(Stop::new(
                Exit::StepFailed,
                format!("`{abort}` was cancelled at its prompt: nothing was aborted"),
            ));
        }
        AbortResult::Failed { reason, false_success } => {
            let mut stop = if output.success() {
                Stop::new(Exit::StepFailed, format!("`{abort}` failed: {reason}"))
            } else {
                let mut stop = refused(&abort, &output);
                stop.message = format!("`{abort}` failed with {}: {reason}", output.status_text());
                stop
            };
            if false_success {
                stop.details.push(format!(
                    "calico-upgrade {} reported success and exit 0, but its output says the v1 Ready flag was not set \
                     (a known bug of v1.0.0–v1.0.3); Calico v2.x networking is still paused",
                    tool.version
                ));
                stop.details.push("not changed: the v1 Ready flag was not set".to_string());
                return Err(stop);
            }
            return Err(settle(ctx, check.as_ref(), stop));
        }
    }
    if let Some(check) = &check {
        let after = inprogress(ctx, check)?;
        ctx.facts.migration_after = Some(after.clone());
        return match after {
            Migration::NotInProgress { ready_flag: Some(true) } => Ok(Done::changed(
                "aborted the data migration; `calico-upgrade inprogress` shows the v1 Ready flag true",
            )),
            Migration::NotInProgress { ready_flag: None } => Ok(Done::changed(
                "aborted the data migration (calico-upgrade reported success; it cannot show the v1 Ready flag once \
                 the v3 data carries a v3 calicoVersion, so the flag itself was not read back)",
            )),
            _ => Err(Stop::new(
                Exit::StepFailed,
                format!("`{abort}` reported success, but `{check}` still reports the migration in progress"),
            )
            .with_details(vec!["not changed: the v1 Ready flag is still false".to_string()])),
        };
    }
    Ok(Done::changed(format!(
        "aborted the data migration (calico-upgrade {} cannot read the state back; its output reported no failure)",
        tool.version
    )))
}

/// After an abort that failed or could not finish: read the state back and say what it shows,
/// changed (the Ready flag is now true), not changed, or "may have changed" with what to check
/// (calico-upgrade before v1.0.4 cannot read it back; an interrupted run runs nothing more).
fn settle(ctx: &mut Context, check: Option<&Invocation>, mut stop: Stop) -> Stop {
    let seen = check.map(|check| (check, inprogress(ctx, check)));
    let what = match seen {
        Some((_, Ok(Migration::NotInProgress { ready_flag: Some(true) }))) => {
            ctx.facts.changed = true;
            "changed: `calico-upgrade inprogress` now shows the v1 Ready flag true".to_string()
        }
        Some((_, Ok(Migration::InProgress | Migration::NotInProgress { ready_flag: Some(false) }))) => {
            "not changed: the v1 Ready flag is still false".to_string()
        }
        Some((_, Ok(state))) => {
            ctx.facts.migration_after = Some(state);
            let note = "the abort may have changed the datastore: `calico-upgrade inprogress` cannot show the v1 Ready flag; check it in etcd (v2 API, key /calico/v1/Ready)".to_string();
            ctx.facts.may_have_changed.push(note.clone());
            note
        }
        Some((check, Err(error))) => {
            let note = format!(
                "the abort may have changed the datastore: reading it back failed ({}); run `{check}`",
                error.message
            );
            ctx.facts.may_have_changed.push(note.clone());
            note
        }
        None => {
            let note = "the abort may have changed the datastore: this calico-upgrade cannot read the state back; check the v1 Ready flag in etcd (v2 API, key /calico/v1/Ready)".to_string();
            ctx.facts.may_have_changed.push(note.clone());
            note
        }
    };
    stop.details.push(what);
    stop
}
