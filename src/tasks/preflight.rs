//! Task "Check permissions", before the first change: every verb the run needs must be allowed,
//! so that a user who may read but not patch (ClusterRole `view`) is stopped before the abort
//! instead of half-way, after it (the "50% of the stack upgraded and then the playbook failed"
//! of kubespray).
//!
//! Observe, read-only only:
//! - what inspection already did proves itself: listing DaemonSets, ControllerRevisions,
//!   Deployments, ReplicaSets (and pods in every namespace, when the pods at risk were listed);
//! - `kubectl auth can-i` for the rest: `patch` on each workload to roll back, `watch pods`
//!   for the wait (`list pods` when nothing listed them yet), `delete pods` with
//!   `--replace-pods`;
//! - each planned `rollout undo` once with `--dry-run=server` (kubectl 1.18+), which the API
//!   server authorizes, admits and validates like the real change, and stores nothing.
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
    for (workload, plan) in workloads {
        if matches!(plan, Some(RollbackPlan::RollBack { .. })) {
            needs.push(Need { verb: "patch", resource: qualified(workload), why: "`kubectl rollout undo`" });
        }
    }
    if upgrade_time(&cluster.daemonset).is_none() {
        needs.push(Need { verb: "list", resource: "pods".into(), why: "the wait's look at the pods" });
    }
    if !options.no_watch {
        needs.push(Need { verb: "watch", resource: "pods".into(), why: "the wait's watch of the pods" });
    }
    if options.replace_pods {
        needs.push(Need { verb: "delete", resource: "pods".into(), why: "--replace-pods" });
    }
    needs
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
    let namespace = ctx.options.namespace.clone();
    let kubectl = ctx.kubectl().clone();
    let mut details = vec![format!(
        "allowed (read during inspection): list daemonsets.apps, controllerrevisions.apps, deployments.apps, replicasets.apps in {namespace}{}",
        if upgrade_time(&ctx.cluster().daemonset).is_some() { "; list pods in all namespaces" } else { "" }
    )];

    let mut denied = Vec::new();
    for need in needs(ctx) {
        let invocation = kubectl.can_i(need.verb, &need.resource, Some(&namespace));
        let output = ctx.run(&invocation)?;
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
    if !denied.is_empty() {
        let who = user(ctx).map_or_else(|| "the current kubeconfig user".to_string(), |u| format!("user `{u}`"));
        let what: Vec<&str> = denied.iter().map(|(what, _)| what.as_str()).collect();
        let mut stop = Stop::new(Exit::Precondition, format!("{who} may not {}: nothing was changed", what.join(", ")))
            .with_details(denied.iter().map(|(_, detail)| detail.clone()).collect());
        stop.details.push("ask for a role that may patch the Calico workloads in the namespace (ClusterRole `edit` or `admin` there), or run as such a user".into());
        return Err(stop);
    }

    dry_runs(ctx, &mut details)?;
    Ok(Done::ok("every change the run makes is allowed").with_details(details))
}

/// Each planned rollback once with `--dry-run=server`, where kubectl has it.
fn dry_runs(ctx: &mut Context, details: &mut Vec<String>) -> Result<(), Stop> {
    let cluster = ctx.cluster().clone();
    let planned: Vec<(Workload, u64)> = std::iter::once((&cluster.daemonset, Some(&cluster.daemonset_plan)))
        .chain(cluster.deployment.as_ref().map(|d| (d, cluster.deployment_plan.as_ref())))
        .filter_map(|(w, plan)| match plan {
            Some(RollbackPlan::RollBack { revision, .. }) => Some((w.clone(), *revision)),
            _ => None,
        })
        .collect();
    if planned.is_empty() {
        return Ok(());
    }
    let version = ctx.kubectl().client.clone();
    if !version.as_ref().is_some_and(kubectl::has_server_dry_run) {
        details.push(format!(
            "not tried on the server: kubectl {} has no `--dry-run=server` (1.18+)",
            ctx.facts.tools.kubectl.as_ref().map_or("?", |t| t.version.as_str())
        ));
        return Ok(());
    }
    let kubectl = ctx.kubectl().clone();
    let namespace = ctx.options.namespace.clone();
    for (workload, revision) in planned {
        let invocation = kubectl.rollout_undo_server_dry_run(workload.kind, &namespace, &workload.name, revision);
        let output = ctx.run(&invocation)?;
        let result = kubectl::parse_undo(workload.kind, &workload.name, &output)
            .map_err(|e| ctx.unreadable(&invocation, &output, e))?;
        match result {
            UndoResult::WouldRollBack => {
                details.push(format!("the API server accepts `{invocation}` (server dry run)"));
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
                    return Err(Stop::new(
                        Exit::Precondition,
                        format!("the API server refuses `{invocation}`: {message}; nothing was changed"),
                    ));
                }
                return Err(refused(&invocation, &output));
            }
        }
    }
    Ok(())
}
