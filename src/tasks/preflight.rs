//! Task "Check permissions", before the first change: every verb the run needs must be allowed,
//! so that a user who may read but not patch (ClusterRole `view`) is stopped before the abort
//! instead of half-way, after it (the "50% of the stack upgraded and then the playbook failed"
//! of kubespray).
//!
//! Observe, read-only only:
//! - what inspection already did proves itself: listing DaemonSets, ControllerRevisions,
//!   Deployments, ReplicaSets (and pods in every namespace, when the pods at risk were listed);
//! - each planned `rollout undo` once with `--dry-run=server` (kubectl 1.18+), which the API
//!   server authorizes (as the patch it is), admits and validates like the real change, and
//!   stores nothing;
//! - `kubectl auth can-i` for the rest: `list pods` for the wait when nothing listed them yet
//!   (the pods at risk's first page, started with the inspection's round, lists them in every
//!   namespace when it has been read by then), `delete pods` with `--replace-pods`, and `patch` on each workload to roll back
//!   where kubectl has no server dry run. `watch pods` is not needed: a wait that may not watch
//!   looks at the pods instead (`watch`: a watch refused is not the run's failure).
//!
//! All of them are read-only and independent: the inspection starts them in its round, the two
//! rollbacks' dry runs to their previous revisions as one `kubectl rollout undo ds/… deployment/…
//! --dry-run=server`. What only this task can ask (a dry run to another revision, `list pods`
//! when the first page was refused) runs here, at the same time.
//!
//! A `no` or a refused dry run is exit 3 naming the verb, the resource and the user; nothing was
//! changed. The calico-upgrade abort needs no Kubernetes verb (it talks to etcd).

use super::{refused, Context, Done, Stop, TaskResult};
use crate::cluster::{upgrade_time, RollbackPlan, Workload};
use crate::exit::Exit;
use crate::tools::kubectl::{self, CanI, UndoResult};

pub const NAME: &str = "Check permissions";

/// One verb the run needs, as `kubectl auth can-i` asks it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Need {
    pub verb: &'static str,
    /// `daemonsets.apps/calico-node`, `pods`.
    pub resource: String,
    /// What the run does with it.
    pub why: &'static str,
}

/// The verbs the run needs beyond what inspection proved, from the plan and the options.
pub fn needs(ctx: &Context) -> Vec<Need> {
    let cluster = ctx.cluster();
    let options = ctx.options;
    let mut needs = Vec::new();
    let workloads = std::iter::once((&cluster.daemonset, Some(&cluster.daemonset_plan)))
        .chain(cluster.deployment.as_ref().map(|d| (d, cluster.deployment_plan.as_ref())));
    // The server dry run of each undo is authorized as the undo itself (a patch): where
    // kubectl has it, asking `auth can-i patch` as well would only add a process.
    if !server_dry_run(ctx) {
        for (workload, plan) in workloads {
            if matches!(plan, Some(RollbackPlan::RollBack { .. })) {
                needs.push(Need { verb: "patch", resource: qualified(workload), why: "`kubectl rollout undo`" });
            }
        }
    }
    if options.stop_typha && !server_dry_run(ctx) {
        for typha in super::typha::running(ctx) {
            needs.push(Need {
                verb: "patch",
                resource: format!("deployments.apps/{}", typha.name),
                why: "`kubectl scale` (--stop-typha)",
            });
        }
    }
    needs.extend(fixed_needs(ctx));
    needs
}

/// What the run needs whatever the cluster holds: listing pods (unless the pods at risk's first
/// page, read by now, listed them in every namespace), `--replace-pods`. The cluster lock needs nothing more:
/// it is written with the right to patch the DaemonSet, which the rollback's server dry run (or
/// `auth can-i patch`) checks, and its take, started with the inspection, proves it.
fn fixed_needs(ctx: &Context) -> Vec<Need> {
    let mut needs = Vec::new();
    if !ctx.pods_listed {
        needs.push(list_pods());
    }
    needs.extend(option_needs(ctx.options));
    needs
}

/// `list pods` in the Calico namespace, for the wait.
fn list_pods() -> Need {
    Need { verb: "list", resource: "pods".into(), why: "the wait's look at the pods" }
}

/// What the options alone need: deleting pods with `--replace-pods`.
fn option_needs(options: &crate::options::Options) -> Vec<Need> {
    let mut needs = Vec::new();
    if options.replace_pods {
        needs.push(Need { verb: "delete", resource: "pods".into(), why: "--replace-pods" });
    }
    needs
}

/// kubectl has `--dry-run=server` (1.18+): each planned undo is tried on the server.
fn server_dry_run(ctx: &Context) -> bool {
    ctx.kubectl().client.as_ref().is_some_and(kubectl::has_server_dry_run)
}

/// The planned rollbacks: each workload with the revision it goes back to.
fn planned(ctx: &Context) -> Vec<(Workload, u64)> {
    let cluster = ctx.cluster();
    std::iter::once((&cluster.daemonset, Some(&cluster.daemonset_plan)))
        .chain(cluster.deployment.as_ref().map(|d| (d, cluster.deployment_plan.as_ref())))
        .filter_map(|(w, plan)| match plan {
            Some(RollbackPlan::RollBack { revision, .. }) => Some((w.clone(), *revision)),
            _ => None,
        })
        .collect()
}

/// Every command this task runs, in order: the `auth can-i` questions, then the server dry
/// runs (each once: one answers both rollbacks when it is the inspection's), then Typha's. All
/// read-only and independent, so they run at the same time; the inspection started most of
/// them in its round already (`Context::prefetch`).
pub fn reads(ctx: &Context) -> Vec<crate::exec::Invocation> {
    let mut reads: Vec<_> = needs(ctx).iter().map(|need| can_i(ctx, need)).collect();
    if server_dry_run(ctx) {
        for (w, revision) in planned(ctx) {
            let dry_run = dry_run(ctx, &w, revision);
            if !reads.contains(&dry_run) {
                reads.push(dry_run);
            }
        }
        reads.extend(scale_dry_runs(ctx));
    }
    reads
}

/// `kubectl auth can-i VERB RESOURCE -n NS` for one need.
fn can_i(ctx: &Context, need: &Need) -> crate::exec::Invocation {
    ctx.kubectl().can_i(need.verb, &need.resource, Some(&ctx.options.namespace))
}

/// The server dry run that stands for the rollback of `workload` to `revision`: the one the
/// inspection started ahead ([`ahead`], both workloads, no `--to-revision`) when `revision` is
/// the one kubectl picks without it, else the rollback's own.
fn dry_run(ctx: &Context, workload: &Workload, revision: u64) -> crate::exec::Invocation {
    let kubectl = ctx.kubectl();
    let namespace = ctx.options.namespace.as_str();
    if ctx.ahead.preflight && crate::cluster::previous_revision(workload) == Some(revision) {
        previous_dry_run(ctx)
    } else {
        kubectl.rollout_undo_server_dry_run(workload.kind, namespace, &workload.name, revision)
    }
}

/// `kubectl rollout undo ds/NAME deployment/NAME -n NS --dry-run=server`: both rollbacks to
/// their previous revisions, as the inspection starts it (the names are the options', since
/// the cluster is not read yet).
fn previous_dry_run(ctx: &Context) -> crate::exec::Invocation {
    let options = ctx.options;
    ctx.kubectl().rollout_undo_previous_server_dry_run(
        &[
            (kubectl::WorkloadKind::DaemonSet, options.daemonset.as_str()),
            (kubectl::WorkloadKind::Deployment, options.deployment.as_str()),
        ],
        &options.namespace,
    )
}

/// What the inspection can start for this task before it knows the cluster: the questions
/// that depend on the options alone, and the server dry run of both rollbacks to their
/// previous revisions (the usual targets; [`dry_run`] uses it only for a workload whose target
/// it is). `list pods` is not asked ahead when the pods at risk are listed: their first page,
/// started with the round, answers it when the user may list pods everywhere.
pub fn ahead(ctx: &Context) -> Vec<crate::exec::Invocation> {
    let kubectl = ctx.kubectl();
    let options = ctx.options;
    let namespace = options.namespace.as_str();
    let mut needs = option_needs(options);
    if !ctx.ahead.pods_page {
        needs.push(list_pods());
    }
    let mut reads: Vec<_> =
        needs.iter().map(|need| kubectl.can_i(need.verb, &need.resource, Some(namespace))).collect();
    if server_dry_run(ctx) {
        reads.push(previous_dry_run(ctx));
    }
    reads
}

/// With `--stop-typha`, each Typha's `kubectl scale … --replicas=0 --dry-run=server`.
fn scale_dry_runs(ctx: &Context) -> Vec<crate::exec::Invocation> {
    if !ctx.options.stop_typha {
        return Vec::new();
    }
    let kubectl = ctx.kubectl();
    super::typha::running(ctx)
        .iter()
        .map(|typha| kubectl.scale_server_dry_run(&ctx.options.namespace, &typha.name, 0))
        .collect()
}

/// `daemonsets.apps/calico-node`: the resource, its API group and the name, as `auth can-i`
/// and RBAC spell them.
fn qualified(workload: &Workload) -> String {
    let resource = match workload.kind {
        kubectl::WorkloadKind::DaemonSet => "daemonsets.apps",
        kubectl::WorkloadKind::Deployment => "deployments.apps",
    };
    format!("{resource}/{}", workload.name)
}

/// The kubeconfig user, to name who was refused: from the one `kubectl config view --minify`
/// that named the cluster before the run (`destination`), else asked here.
fn user(ctx: &mut Context) -> Option<String> {
    if let Some(kube) = ctx.facts.destination.as_ref().and_then(|d| d.kube.as_ref()) {
        return Some(kube.user.clone()).filter(|user| !user.is_empty());
    }
    let invocation = ctx.kubectl().config_user();
    let output = ctx.run(&invocation).ok().filter(|o| o.success())?;
    kubectl::parse_config_user(&output.stdout)
}

pub fn run(ctx: &mut Context) -> TaskResult {
    // Decided once, now: the questions and their answers must agree.
    ctx.pods_listed = super::pods_at_risk::first_page_read(ctx);
    let namespace = ctx.options.namespace.clone();
    let kubectl = ctx.kubectl().clone();
    let mut details = vec![format!(
        "allowed (read during inspection): list daemonsets.apps, controllerrevisions.apps, deployments.apps, replicasets.apps in {namespace}"
    )];
    if ctx.pods_listed {
        details.push(format!(
            "allowed (read during inspection): list pods in every namespace (the pods at risk's first page), so in {namespace} for the wait"
        ));
    } else if upgrade_time(&ctx.cluster().daemonset).is_some() {
        details.push(
            "not needed: list pods in all namespaces (the pods at risk only inform: without it they are unknown)"
                .into(),
        );
    }
    if !ctx.options.no_watch {
        details.push(format!("not needed: watch pods in {namespace} (without it the wait looks at the pods instead)"));
    }

    let mut denied = Vec::new();
    let reads = reads(ctx);
    let needs = needs(ctx);
    let invocations: Vec<&crate::exec::Invocation> = reads.iter().collect();
    let mut outputs = ctx.run_all(&invocations).into_iter();
    for need in needs {
        let invocation = kubectl.can_i(need.verb, &need.resource, Some(&namespace));
        let output = outputs.next().expect("one answer per question")?;
        match kubectl::parse_can_i(&output).map_err(|e| ctx.unreadable(&invocation, &output, e))? {
            CanI::Yes => {
                details.push(format!("allowed: {} {} in {namespace} ({})", need.verb, need.resource, need.why))
            }
            CanI::No { reason } => {
                let reason = reason.map(|r| format!(": {r}")).unwrap_or_default();
                denied.push((
                    format!("{} {} in {namespace}", need.verb, need.resource),
                    format!(
                        "denied: {} {}, needed for {}: `{invocation}` answered no{reason}",
                        need.verb, need.resource, need.why
                    ),
                ));
            }
        }
    }
    // The rest, in the order of `reads`: the server dry runs, then Typha's.
    let mut outputs: Vec<_> = reads[reads.len() - outputs.len()..].iter().cloned().zip(outputs).collect();
    let scales: Vec<_> = if server_dry_run(ctx) {
        let count = scale_dry_runs(ctx).len();
        outputs.split_off(outputs.len().saturating_sub(count)).into_iter().map(|(_, output)| output).collect()
    } else {
        Vec::new()
    };
    dry_runs(ctx, outputs, &mut details, &mut denied)?;
    for (invocation, output) in scale_dry_runs(ctx).iter().zip(scales) {
        let output = output?;
        let name = invocation.args.get(1).and_then(|a| a.strip_prefix("deployment/")).unwrap_or_default().to_string();
        if kubectl::parse_scale(&name, &output).map_err(|e| ctx.unreadable(invocation, &output, e))? {
            details.push(format!(
                "allowed: scale deployments.apps/{name} in {namespace} (a server dry run of `{invocation}`)"
            ));
        } else {
            let message = kubectl::failure_message(&output.stderr);
            if message.contains("(Forbidden)") || message.contains(" is forbidden: ") {
                denied.push((
                    format!("scale deployments.apps/{name} in {namespace}"),
                    format!("denied: scale deployments.apps/{name}, needed for --stop-typha: {message}"),
                ));
            } else {
                return Err(refused(invocation, &output));
            }
        }
    }
    if !denied.is_empty() {
        let who = user(ctx).map_or_else(|| "the current kubeconfig user".to_string(), |u| format!("user `{u}`"));
        let what: Vec<&str> = denied.iter().map(|(what, _)| what.as_str()).collect();
        let mut stop = Stop::new(Exit::Precondition, format!("{who} may not {}: nothing was changed", what.join(", ")))
            .with_details(denied.iter().map(|(_, detail)| detail.clone()).collect());
        stop.details.push(format!("ask for the rights of the README's Role `calico-downgrade` in {namespace} (the documented commands': get, list, watch and patch the Calico workloads and their revisions; get, list and watch pods), or run as a user who has them"));
        return Err(stop);
    }
    Ok(Done::ok("every change the run makes is allowed").with_details(details))
}

/// Each planned rollback once with `--dry-run=server`, where kubectl has it: `outputs` are
/// the dry runs' answers, run with the questions (`reads`), each once (the inspection's answers
/// both rollbacks to their previous revisions, a line each: `kubectl::undo_of`).
/// A refusal (Forbidden) is added to `denied` as `auth can-i` would put it: the server dry
/// run is authorized as the patch itself.
fn dry_runs(
    ctx: &mut Context,
    outputs: Vec<(crate::exec::Invocation, Result<crate::exec::Output, Stop>)>,
    details: &mut Vec<String>,
    denied: &mut Vec<(String, String)>,
) -> Result<(), Stop> {
    let planned = planned(ctx);
    if planned.is_empty() {
        return Ok(());
    }
    if !server_dry_run(ctx) {
        details.push(format!(
            "not tried on the server: kubectl {} has no `--dry-run=server` (1.18+)",
            ctx.facts.tools.kubectl.as_ref().map_or("?", |t| t.version.as_str())
        ));
        return Ok(());
    }
    let namespace = ctx.options.namespace.clone();
    for (workload, revision) in planned {
        let invocation = dry_run(ctx, &workload, revision);
        let at = outputs.iter().position(|(i, _)| *i == invocation).expect("one answer per dry run");
        let output = match &outputs[at].1 {
            Ok(output) => output.clone(),
            Err(stop) => return Err(stop.clone()),
        };
        // The shared dry run's answer for this workload is its own line, or the error lines
        // that name it (`undo_of`).
        let result = if invocation == previous_dry_run(ctx) {
            kubectl::undo_of(workload.kind, &workload.name, &output)
        } else {
            kubectl::parse_undo(workload.kind, &workload.name, &output)
        };
        let result = result.map_err(|e| ctx.unreadable(&invocation, &output, e))?;
        match result {
            UndoResult::WouldRollBack => {
                details.push(format!(
                    "allowed: patch {} in {namespace} (the API server accepts `{invocation}`, a server dry run of the rollback to revision {revision})",
                    qualified(&workload)
                ));
            }
            UndoResult::AlreadyAtRevision { .. } | UndoResult::RolledBack => {
                details.push(format!("`{invocation}`: {}", output.stdout.trim()));
            }
            UndoResult::SkippedByServer { reason } => {
                return Err(Stop::new(
                    Exit::Precondition,
                    format!("`{invocation}`: the API server would skip the rollback ({reason}): nothing was changed"),
                ));
            }
            UndoResult::Refused { message } => {
                // `Error from server (Forbidden): …`, or for the DaemonSet (real kubectl against
                // v1.20.2, `fixtures/kubectl/rollout-undo/ds-dry-run-server-forbidden-1.32.stderr`)
                // `error: failed restoring revision 1: daemonsets.apps "calico-node" is forbidden: User …`.
                if message.contains("(Forbidden)") || message.contains(" is forbidden: ") {
                    denied.push((
                        format!("patch {} in {namespace}", qualified(&workload)),
                        format!("denied: patch {}, needed for `kubectl rollout undo`: the API server refuses `{invocation}`: {message}", qualified(&workload)),
                    ));
                    continue;
                }
                return Err(refused(&invocation, &output));
            }
        }
    }
    Ok(())
}
