//! Task 2, "Inspect the cluster" (kubectl only, read-only): the DaemonSet and Deployment,
//! their live images, update strategy, revision history with each revision's images, and the
//! datastore type from the calico-node environment; then the pure decisions: is the cluster
//! upgraded, which revision is the pre-upgrade one, and are the preconditions met.
//!
//! One kubectl call: `kubectl get daemonsets,deployments,controllerrevisions,replicasets -o
//! json` carries every field needed, the calico-node environment and both revisions' pod
//! templates (for the plan's template diff) included; the namespaces are listed only when that
//! finds nothing at all (a mistyped `-n`).

use super::{Cluster, Context, Done, LiveRevision, Stop, TaskResult, TemplateChanges, WayBack};
use crate::calico::Generation;
use crate::cluster::{
    closest_names, decide_rollback, decide_state, describe_revisions, did_you_mean, live_revision, template_changes,
    template_summary, Datastore, Revision, RollbackPlan, UpgradeState, Workload,
};
use crate::exit::Exit;
use crate::tools::kubectl::{self, EnvVar, Objects, RevisionRow, WorkloadKind, WorkloadRow};

pub const NAME: &str = "Inspect the cluster";

fn revisions(rows: Vec<RevisionRow>, owner: &str) -> Vec<Revision> {
    let mut revisions: Vec<Revision> = rows
        .into_iter()
        .filter(|row| row.owner.as_deref() == Some(owner))
        .filter_map(|row| {
            Some(Revision { number: row.revision?, name: row.name, images: row.images, created: row.created })
        })
        .collect();
    revisions.sort_by_key(|r| r.number);
    revisions
}

fn workload(kind: WorkloadKind, row: WorkloadRow, revisions: Vec<Revision>) -> Result<Workload, Stop> {
    let desired = row.desired.ok_or_else(|| {
        Stop::new(
            Exit::Precondition,
            format!(
                "{}/{} reports no desired pod count yet; wait for its controller and run again",
                kind.resource(),
                row.name
            ),
        )
    })?;
    Ok(Workload { kind, name: row.name, desired, strategy: row.strategy, images: row.images, app: row.app, revisions })
}

/// The datastore from the calico-node environment: `DATASTORE_TYPE=kubernetes` is the
/// Kubernetes API datastore; absent, or `etcdv2`/`etcdv3`, is etcd.
pub fn decide_datastore(env: &[EnvVar]) -> Result<Datastore, String> {
    match env.iter().find(|var| var.name == "DATASTORE_TYPE") {
        None => Ok(Datastore::Etcd),
        Some(var) if var.value_from => Err(
            "DATASTORE_TYPE of calico-node is set from a ConfigMap or Secret, so the datastore type cannot be read from the DaemonSet"
                .to_string(),
        ),
        Some(var) => match var.value.as_deref() {
            Some("kubernetes") => Ok(Datastore::Kubernetes),
            Some("etcdv2") | Some("etcdv3") | Some("etcd") | None | Some("") => Ok(Datastore::Etcd),
            Some(other) => Err(format!("DATASTORE_TYPE `{other}` is not a datastore type this tool knows")),
        },
    }
}

pub fn run(ctx: &mut Context) -> TaskResult {
    let options = ctx.options;
    let namespace = options.namespace.as_str();
    let kubectl = ctx.kubectl().clone();

    let invocation = kubectl.objects(namespace);
    // The pods-at-risk query needs nothing from this one: it starts now too (a read wasted
    // only when the cluster turns out never upgraded).
    let result = ctx.prefetch(&[&invocation], vec![kubectl.all_pods()]).remove(0);
    let output = super::succeeded(&invocation, result)?;
    let objects = kubectl::parse_objects(&output).map_err(|e| ctx.unrecognised(&invocation, e))?;
    let daemonsets: Vec<WorkloadRow> = objects.daemonsets.iter().map(|d| d.row.clone()).collect();
    let Some(ds) = objects.daemonsets.iter().find(|d| d.row.name == options.daemonset) else {
        if objects.daemonsets.is_empty() && objects.deployments.is_empty() {
            if let Some(stop) = missing_namespace(ctx, &kubectl, namespace) {
                return Err(stop);
            }
        }
        return Err(no_daemonset(&options.daemonset, namespace, &daemonsets));
    };
    let datastore = decide_datastore(&ds.env).map_err(|why| Stop::new(Exit::Precondition, why))?;
    let rows = objects.controller_revisions.iter().map(|r| r.row.clone()).collect();
    let daemonset = workload(WorkloadKind::DaemonSet, ds.row.clone(), revisions(rows, &options.daemonset))?;

    let deployments: Vec<WorkloadRow> = objects.deployments.iter().map(|d| d.row.clone()).collect();
    let deployment = match deployments.iter().find(|d| d.name == options.deployment).cloned() {
        None => {
            no_deployment(&options.deployment, namespace, datastore, &deployments)?;
            None
        }
        Some(row) => {
            let rows = objects.replica_sets.iter().map(|r| r.row.clone()).collect();
            Some(workload(WorkloadKind::Deployment, row, revisions(rows, &options.deployment))?)
        }
    };

    let Some(state) = decide_state(&daemonset) else {
        return Err(Stop::new(
            Exit::Precondition,
            format!(
                "cannot tell which Calico release {} runs: its images are {} (no calico/node image with a version tag)",
                daemonset.reference(),
                daemonset.images.join(", ")
            ),
        ));
    };
    let to_revision = options.to_revision;
    let daemonset_plan = match state {
        // Not upgraded: only the abort applies, whatever the history says.
        UpgradeState::NotUpgraded if to_revision.is_none() => RollbackPlan::AlreadyThere,
        _ => decide_rollback(&daemonset, to_revision).map_err(|e| Stop::new(Exit::Precondition, e.0))?,
    };
    let deployment_plan = match &deployment {
        None => None,
        Some(deployment) if deployment.generation() == Generation::Unknown => {
            return Err(Stop::new(
                Exit::Precondition,
                format!(
                    "cannot tell which Calico release {} runs: its images are {}",
                    deployment.reference(),
                    deployment.images.join(", ")
                ),
            ))
        }
        Some(deployment) => Some(decide_rollback(deployment, None).map_err(|e| Stop::new(Exit::Precondition, e.0))?),
    };

    let mut message = vec![match datastore {
        Datastore::Etcd => "etcd datastore".to_string(),
        Datastore::Kubernetes => "Kubernetes API datastore".to_string(),
    }];
    message.push(match state {
        UpgradeState::Upgraded => "upgraded (Calico v3.x live)".to_string(),
        UpgradeState::NotUpgraded => "not upgraded (Calico v2.x live, no v3.x revision)".to_string(),
        UpgradeState::AlreadyDowngraded => "already rolled back (Calico v2.x live, v3.x in history)".to_string(),
    });
    let mut details = vec![describe(&daemonset, &daemonset_plan)];
    match (&deployment, &deployment_plan) {
        (Some(deployment), Some(plan)) => details.push(describe(deployment, plan)),
        _ => details.push(format!(
            "deployment/{}: not present in {namespace}, as in the Kubernetes API datastore manifests, which run no calico-kube-controllers",
            options.deployment
        )),
    }
    let planned: Vec<(&Workload, &RollbackPlan)> = std::iter::once((&daemonset, &daemonset_plan))
        .chain(deployment.as_ref().zip(deployment_plan.as_ref()))
        .collect();
    let mut template_changes = Vec::new();
    let mut way_back = WayBack::default();
    for (workload, plan) in planned {
        let RollbackPlan::RollBack { revision, .. } = plan else { continue };
        let Some(live) = live_revision(workload) else {
            details.push(format!(
                "{}: no revision carries the live images, so the way back cannot be named",
                workload.reference()
            ));
            continue;
        };
        way_back.live_revisions.push(LiveRevision {
            workload: workload.reference(),
            revision: live.number,
            images: live.images.clone(),
        });
        way_back.commands.push(kubectl.rollout_undo(workload.kind, namespace, &workload.name, live.number).to_string());
        if let Some(target) = workload.revisions.iter().find(|r| r.number == *revision) {
            let changes = changes(&objects, workload, live, target)?;
            details.push(format!(
                "{}: the rollback changes the pod template (revision {} → {}):",
                workload.reference(),
                live.number,
                target.number
            ));
            details.extend(changes.changes.iter().map(|c| format!("  {c}")));
            template_changes.push(changes);
        }
    }
    if datastore == Datastore::Etcd && state != UpgradeState::NotUpgraded {
        way_back.cannot_undo.push(
            "the abort (the v1 Ready flag set, Calico v2.x networking resumed): going forward again means starting the migration anew with `calico-upgrade start`, after deleting the migrated v3 data".to_string(),
        );
    }
    for command in &way_back.commands {
        details.push(format!("way back: `{command}`"));
    }
    ctx.facts.cluster = Some(Cluster {
        datastore,
        state,
        daemonset,
        deployment,
        daemonset_plan,
        deployment_plan,
        template_changes,
        way_back,
    });
    Ok(Done::ok(message.join(", ")).with_details(details))
}

/// The fields of the pod template the rollback changes: both revisions' templates, as the
/// inspection query returned them.
fn changes(
    objects: &Objects,
    workload: &Workload,
    live: &Revision,
    target: &Revision,
) -> Result<TemplateChanges, Stop> {
    let revisions = match workload.kind {
        WorkloadKind::DaemonSet => &objects.controller_revisions,
        WorkloadKind::Deployment => &objects.replica_sets,
    };
    let template = |name: &str| revisions.iter().find(|r| r.row.name == name).map(|r| &r.template);
    let (Some(from), Some(to)) = (template(&live.name), template(&target.name)) else {
        return Err(Stop::new(
            Exit::Unrecognised,
            format!("the inspection did not return both {} and {}", live.name, target.name),
        ));
    };
    Ok(TemplateChanges {
        workload: workload.reference(),
        from_revision: live.number,
        to_revision: target.number,
        changes: template_changes(from, to),
        before: template_summary(from),
        after: template_summary(to),
    })
}

fn describe(workload: &Workload, plan: &RollbackPlan) -> String {
    let action = match plan {
        RollbackPlan::RollBack { revision, images } => {
            format!("roll back to revision {revision} ({})", images.join(", "))
        }
        RollbackPlan::AlreadyThere => "no rollback needed".to_string(),
    };
    format!(
        "{}: {} desired, strategy {}, live {}; revisions {}; {action}",
        workload.reference(),
        workload.desired,
        workload.strategy.as_deref().unwrap_or("unset"),
        workload.images.join(", "),
        describe_revisions(workload),
    )
}

/// An empty namespace may be a namespace that does not exist (kubectl answers `No resources
/// found in kube-sytem namespace.` all the same): list the namespaces and, when it is missing,
/// say so with the closest names. `None` when it exists or the list cannot be read (a user who
/// may not list namespaces still gets the "no DaemonSet" message).
pub(crate) fn missing_namespace(ctx: &mut Context, kubectl: &kubectl::Kubectl, namespace: &str) -> Option<Stop> {
    let invocation = kubectl.namespaces();
    let output = ctx.run(&invocation).ok().filter(|o| o.success())?;
    let names = kubectl::parse_names(&output).ok()?;
    if names.is_empty() || names.iter().any(|n| n == namespace) {
        return None;
    }
    let suggestions = closest_names(namespace, names.iter().map(String::as_str));
    Some(
        Stop::new(Exit::Precondition, format!("there is no namespace {namespace}{}", did_you_mean("-n", &suggestions)))
            .with_details(vec![format!("namespaces found: {}", names.join(", "))]),
    )
}

/// No Deployment by the given name. The Kubernetes API datastore manifests of Calico v3.0 run no
/// calico-kube-controllers, so there it is expected (unless a close name exists: a typo); with
/// etcd, the v3.0 manifests always run one, so a missing one is a wrong name or namespace, and
/// going on would leave kube-controllers on v3 while the report said the downgrade was done.
fn no_deployment(name: &str, namespace: &str, datastore: Datastore, present: &[WorkloadRow]) -> Result<(), Stop> {
    let suggestions = closest_names(name, present.iter().map(|d| d.name.as_str()));
    if datastore == Datastore::Kubernetes && suggestions.is_empty() {
        return Ok(());
    }
    let why = match datastore {
        Datastore::Etcd => "with the etcd datastore the Calico v3.0 manifests run calico-kube-controllers, so it must be rolled back too",
        Datastore::Kubernetes => "a Deployment of a close name exists",
    };
    let found = if present.is_empty() {
        "no Deployments found".to_string()
    } else {
        format!("Deployments found: {}", present.iter().map(|d| d.name.as_str()).collect::<Vec<_>>().join(", "))
    };
    Err(Stop::new(
        Exit::Precondition,
        format!("there is no deployment/{name} in {namespace}: {why}{}", did_you_mean("--deployment", &suggestions)),
    )
    .with_details(vec![found]))
}

/// No DaemonSet by the given name: a typo (the closest names are offered), a canal install, or
/// a custom installation, whose downgrade the docs leave "coming soon".
pub(crate) fn no_daemonset(name: &str, namespace: &str, present: &[WorkloadRow]) -> Stop {
    let suggestions = closest_names(name, present.iter().map(|d| d.name.as_str()));
    let canal = present.iter().find(|d| d.name == "canal" || d.name == "canal-node");
    let message = match canal {
        _ if !suggestions.is_empty() => {
            format!("there is no daemonset/{name} in {namespace}{}", did_you_mean("--daemonset", &suggestions))
        }
        Some(canal) => format!(
            "there is no daemonset/{name} in {namespace}, but there is daemonset/{}: this is a canal installation; \
             run again with --daemonset {} to downgrade it",
            canal.name, canal.name
        ),
        None => format!(
            "there is no daemonset/{name} in {namespace}: this looks like a custom installation, whose downgrade the Calico \
             docs do not cover (\"Docs for this coming soon!\"); `calico-downgrade abort` can still abort the data migration. \
             If Calico runs under another name or namespace, pass --daemonset and --namespace"
        ),
    };
    let found = if present.is_empty() {
        "no DaemonSets found".to_string()
    } else {
        format!("DaemonSets found: {}", present.iter().map(|d| d.name.as_str()).collect::<Vec<_>>().join(", "))
    };
    Stop::new(Exit::Precondition, message).with_details(vec![found])
}

/// `plan` and `run` with an etcd datastore need calico-upgrade for the abort; checked right
/// after inspection, before anything changes (with `--rollback-first` the abort comes last).
pub fn require_calico_upgrade(ctx: &Context) -> Result<(), Stop> {
    if ctx.cluster().datastore == Datastore::Etcd && ctx.facts.tools.calico_upgrade.is_none() {
        return Err(Stop::new(
            Exit::Precondition,
            "the datastore is etcd, so the data migration must be aborted with `calico-upgrade abort`, but calico-upgrade was not found; install it or pass --calico-upgrade",
        ));
    }
    Ok(())
}
