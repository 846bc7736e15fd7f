//! Part of "Inspect the cluster": who else manages the two workloads (the addon manager, Argo
//! CD, Flux, kops, a Helm release), read before the first change from what the inspection's
//! round already holds: the workloads' labels, annotations and managedFields (the objects
//! query), and the namespace's Jobs (the same query lists them, so they cost no process of
//! their own).
//!
//! Reading Jobs is a right beyond the documented procedure's Role: refused, it only
//! informs ("not checked", with the command an admin can run), never stops the run. A
//! continuous reconciler stops `run` and `plan` with exit 3 before the first change
//! ([`require_no_reconciler`]) unless `--despite-reconciler`; a one-shot manager is a warning.
//! The judgements are `crate::reconcilers`'.

use super::{Context, Stop};
use crate::exit::Exit;
use crate::reconcilers::{self, NotChecked, Reconcilers};
use crate::tools::kubectl::{self, Objects};

/// Read the managers of the DaemonSet and the Deployment (`names`: the ones the run rolls
/// back) and the namespace's Jobs (`jobs_refused`: kubectl's words when the objects query could
/// not list them); the screen's lines and the evidence.
pub fn read(
    ctx: &Context,
    objects: &Objects,
    jobs_refused: Option<String>,
    names: &[&str],
) -> (Reconcilers, Vec<String>, Vec<String>) {
    let namespace = ctx.options.namespace.clone();
    let jobs = match jobs_refused {
        Some(message) => Err(message),
        None => Ok(objects.jobs.clone()),
    };
    let workloads: Vec<(String, &kubectl::Management)> = objects
        .daemonsets
        .iter()
        .map(|o| ("daemonset", o))
        .chain(objects.deployments.iter().map(|o| ("deployment", o)))
        .filter(|(_, o)| names.contains(&o.row.name.as_str()))
        .map(|(kind, o)| (format!("{kind}/{}", o.row.name), &o.management))
        .collect();
    let found = reconcilers::decide(&workloads, jobs.as_deref().ok());
    let jobs_not_checked = jobs.as_ref().err().map(|reason| NotChecked {
        reason: reason.clone(),
        command: ctx.kubectl().for_people().jobs_table(&namespace).to_string(),
    });
    let result = Reconcilers { found, jobs_not_checked, overridden: ctx.options.despite_reconciler };
    let (summary, details) = lines(&result, jobs.as_deref().ok());
    (result, summary, details)
}

/// The screen's lines (each manager, and the Jobs not checked) and the evidence.
fn lines(found: &Reconcilers, jobs: Option<&[kubectl::JobRow]>) -> (Vec<String>, Vec<String>) {
    let mut summary = Vec::new();
    let mut details = Vec::new();
    for reconciler in &found.found {
        let head = if reconciler.continuous {
            format!("re-applied by {}", reconciler.describe())
        } else {
            format!("warning: managed by {}", reconciler.describe())
        };
        summary.push(head);
        summary.push(format!("  {}", reconciler.first));
    }
    if found.overridden && found.continuous().next().is_some() {
        summary.push(
            "warning: going on despite it (--despite-reconciler): it may put v3.0 back during the wait or after the run"
                .to_string(),
        );
    }
    if let Some(not_checked) = &found.jobs_not_checked {
        summary.push(format!(
            "migration Jobs not checked ({}): an admin can list them with `{}`",
            not_checked.reason, not_checked.command
        ));
    }
    match jobs {
        Some([]) => details.push("jobs: none in the namespace".to_string()),
        Some(jobs) => {
            details.push(format!("jobs: {}", jobs.iter().map(|j| j.name.as_str()).collect::<Vec<_>>().join(", ")))
        }
        None => {}
    }
    if found.found.is_empty() {
        details
            .push("managers: no addon manager, Argo CD, Flux, kops or Helm label, annotation or field manager".into());
    }
    (summary, details)
}

/// Before the first change (`run`, `plan`): a continuous reconciler would undo the rollback,
/// so the run stops with exit 3 naming it and what to do first, unless `--despite-reconciler`.
pub fn require_no_reconciler(ctx: &Context) -> Result<(), Stop> {
    let Some(found) = &ctx.facts.reconcilers else { return Ok(()) };
    let continuous: Vec<_> = found.continuous().collect();
    if continuous.is_empty() || found.overridden {
        return Ok(());
    }
    let names: Vec<&str> = continuous.iter().map(|r| r.kind.title()).collect();
    let mut details = Vec::new();
    for reconciler in &continuous {
        details.push(reconciler.describe());
        details.push(format!("  first: {}", reconciler.first));
    }
    Err(Stop::new(
        Exit::Precondition,
        format!(
            "{} re-applies Calico's manifests: it would put v3.0 back after the rollback; nothing was changed",
            names.join(" and ")
        ),
    )
    .with_details(details)
    .with_safe_next(
        "nothing was changed; do what is named above first, then run again (or pass --despite-reconciler to go on anyway)",
    ))
}

/// The report's closing warnings: every manager found that may put v3.0 back after the run (a
/// one-shot manager's next apply; a continuous one the run went on despite).
pub fn warnings(ctx: &Context) -> Vec<String> {
    let Some(found) = &ctx.facts.reconcilers else { return Vec::new() };
    found.found.iter().map(|r| format!("warning: {} may put v3.0 back: {}", r.describe(), r.first)).collect()
}
