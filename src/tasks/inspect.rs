//! Task 2, "Inspect the cluster" (kubectl only, read-only): the DaemonSet and Deployment,
//! their live images, update strategy, revision history with each revision's images, and the
//! datastore type from the calico-node environment; then the pure decisions: is the cluster
//! upgraded, which revision is the pre-upgrade one, and are the preconditions met.
//!
//! One kubectl call: `kubectl get daemonsets,deployments,controllerrevisions,replicasets -o
//! json` carries every field needed, the calico-node environment and both revisions' pod
//! templates (for the plan's template diff) included; the namespaces are listed only when that
//! finds nothing at all (a mistyped `-n`).

use super::{
    CalicoConfig, Cluster, Context, Done, LiveRevision, OtherWorkload, Stop, TaskResult, TemplateChanges, WayBack,
};
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

/// One workload read again, with its revision history (the same query as the inspection):
/// after a rollback the cluster refused because it moved under it (a revision renumbered by
/// another run's rollback, the object modified), the next decision is taken on what is there
/// now. `None` when the workload is gone.
pub fn read_workload(ctx: &mut Context, kind: WorkloadKind, name: &str) -> Result<Option<Workload>, Stop> {
    let kubectl = ctx.kubectl().clone();
    let invocation = kubectl.objects(&ctx.options.namespace);
    let output = ctx.run_ok(&invocation)?;
    let objects = kubectl::parse_objects(&output).map_err(|e| ctx.unrecognised(&invocation, e))?;
    let (rows, history) = match kind {
        WorkloadKind::DaemonSet => (&objects.daemonsets, &objects.controller_revisions),
        WorkloadKind::Deployment => (&objects.deployments, &objects.replica_sets),
    };
    let Some(object) = rows.iter().find(|o| o.row.name == name) else { return Ok(None) };
    let revisions = revisions(history.iter().map(|r| r.row.clone()).collect(), name);
    workload(kind, object.row.clone(), revisions).map(Some)
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

    let invocation = kubectl.objects_and_jobs(namespace);
    // One round trip for what the run needs before its first change: this query, with the
    // commands of later tasks that depend on nothing it reads (`calico-config`, the permission
    // questions, the rollbacks' server dry run to the previous revision, the lock's take; the
    // lock itself is an annotation on the DaemonSet, and the migration Jobs (who else manages
    // Calico) are listed by this query too). Started together even without kubectl's discovery
    // cache: each process then discovers the API on its own, which costs CPU but less time
    // than a second round (measured over a 50 ms link: 0.8 s for eight at once, 0.55 + 0.45 s
    // in two rounds).
    let mut later = vec![kubectl.config_map(namespace, DEFAULT_CALICO_CONFIG)];
    if ctx.ahead.preflight {
        later.extend(super::preflight::ahead(ctx));
    }
    if ctx.ahead.lock {
        super::lock::start_ahead(ctx);
    }
    // The pods at risk's listing, with the round but outside it: it only informs, so no answer
    // of the round waits for it.
    if ctx.ahead.pods_page {
        super::pods_at_risk::start_early(ctx);
    }
    let result = ctx.prefetch(&[&invocation], later).remove(0);
    // The Jobs alone refused (a Role without `list jobs`): the rest is whole, the Jobs "not
    // checked".
    let jobs_refused = result.as_ref().ok().and_then(kubectl::jobs_refused);
    let output = match result {
        Ok(output) if jobs_refused.is_some() => output,
        result => super::succeeded(&invocation, result)?,
    };
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
    super::lock::seen(ctx, ds.lock.clone());
    let datastore = decide_datastore(&ds.env).map_err(|why| Stop::new(Exit::Precondition, why))?;
    let rows = objects.controller_revisions.iter().map(|r| r.row.clone()).collect();
    let daemonset = workload(WorkloadKind::DaemonSet, ds.row.clone(), revisions(rows, &options.daemonset))?;
    // The pods-at-risk listing only informs: it runs in the background from now on, page by
    // page, its cost (the cluster's pod count) waited for by nobody. So do the Calico lists of
    // what v2.6 will not read (Kubernetes API datastore), one after another.
    if let Some(since) = crate::cluster::upgrade_time(&daemonset) {
        super::pods_at_risk::start(ctx, since);
        if datastore == Datastore::Kubernetes && ctx.ahead.calico_lists {
            super::v3_data::start(ctx);
        }
    }

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
    let mut summary = Vec::new();
    for (workload, plan) in &planned {
        let RollbackPlan::RollBack { revision, .. } = plan else {
            summary.push(short(workload, plan, None));
            continue;
        };
        let Some(live) = live_revision(workload) else {
            summary.push(short(workload, plan, None));
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
        way_back
            .commands
            .push(kubectl.for_people().rollout_undo(workload.kind, namespace, &workload.name, live.number).to_string());
        match workload.revisions.iter().find(|r| r.number == *revision) {
            Some(target) => {
                let changes = changes(&objects, workload, live, target)?;
                summary.push(short(workload, plan, Some((live, changes.changes.len()))));
                details.push(format!(
                    "{}: the rollback changes the pod template (revision {} → {}):",
                    workload.reference(),
                    live.number,
                    target.number
                ));
                details.extend(changes.changes.iter().map(|c| format!("  {c}")));
                template_changes.push(changes);
            }
            None => summary.push(short(workload, plan, None)),
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

    // The rest of the Calico installation: what the rollback leaves as it is.
    let others = other_workloads(&objects, &options.daemonset, deployment.as_ref().map(|d| d.name.as_str()));
    let to_v2 = matches!(daemonset_plan, RollbackPlan::RollBack { ref images, .. } if crate::calico::generation(images, crate::calico::Component::Node) == Generation::V2)
        || state == UpgradeState::AlreadyDowngraded;
    let calico_config = calico_config(ctx, &kubectl, namespace, &ds.env);
    let typha_service = calico_config.as_ref().and_then(|c| c.typha_service_name.clone());
    for other in &others {
        details.push(format!(
            "{}: {} desired, {} ({})",
            other.reference(),
            other.desired,
            other.images.join(", "),
            other.release.as_deref().map_or("release unknown".to_string(), |r| format!("Calico {r}"))
        ));
        if let Some(line) = other_step(other, namespace, typha_service.as_deref()) {
            summary.push(line);
        }
    }
    if let Some(config) = &calico_config {
        let rolled_back = state == UpgradeState::AlreadyDowngraded;
        let (screen, evidence) = config_lines(config, to_v2, rolled_back);
        summary.extend(screen);
        details.extend(evidence);
    }
    // Who else manages the two workloads: read from this round, judged before the first change.
    let names: Vec<&str> =
        std::iter::once(daemonset.name.as_str()).chain(deployment.as_ref().map(|d| d.name.as_str())).collect();
    let (reconcilers, lines, evidence) = super::managers::read(ctx, &objects, jobs_refused, &names);
    summary.extend(lines);
    details.extend(evidence);
    ctx.facts.reconcilers = Some(reconcilers);
    ctx.facts.cluster = Some(Cluster {
        datastore,
        state,
        daemonset,
        deployment,
        daemonset_plan,
        deployment_plan,
        template_changes,
        way_back,
        others,
        calico_config,
    });
    Ok(Done::ok(message.join(", ")).with_summary(summary).with_details(details))
}

/// The name of the ConfigMap in every Calico manifest; the DaemonSet's template may name another.
pub const DEFAULT_CALICO_CONFIG: &str = "calico-config";

/// One workload in a line for the screen: `ds/calico-node: 3 pods, RollingUpdate; revision 2
/// (v3.0) live → revision 1 (v2.6), 4 template fields change`.
fn short(workload: &Workload, plan: &RollbackPlan, live: Option<(&Revision, usize)>) -> String {
    let release = |images: &[String]| {
        crate::calico::newest_release(images).map_or_else(|| "?".to_string(), crate::calico::release_name)
    };
    let pods = format!(
        "{} {}, {}",
        workload.desired,
        if workload.desired == 1 { "pod" } else { "pods" },
        workload.strategy.as_deref().unwrap_or("no strategy")
    );
    match (plan, live) {
        (RollbackPlan::AlreadyThere, _) => {
            format!("{}: {pods}, on {} images: no rollback", workload.reference(), release(&workload.images))
        }
        (RollbackPlan::RollBack { revision, images }, Some((live, fields))) => format!(
            "{}: {pods}; revision {} ({}) live → revision {revision} ({}), {fields} field{} change",
            workload.reference(),
            live.number,
            release(&live.images),
            release(images),
            if fields == 1 { "" } else { "s" }
        ),
        (RollbackPlan::RollBack { revision, images }, None) => format!(
            "{}: {pods}, on {} images → revision {revision} ({})",
            workload.reference(),
            release(&workload.images),
            release(images)
        ),
    }
}

/// Every DaemonSet and Deployment of the namespace, besides the two the rollback takes back,
/// that runs a Calico image (`quay.io/calico/*`, or `calico/*` from any registry or mirror).
fn other_workloads(objects: &Objects, daemonset: &str, deployment: Option<&str>) -> Vec<OtherWorkload> {
    let daemonsets =
        objects.daemonsets.iter().filter(|d| d.row.name != daemonset).map(|d| (WorkloadKind::DaemonSet, d));
    let deployments = objects
        .deployments
        .iter()
        .filter(|d| Some(d.row.name.as_str()) != deployment)
        .map(|d| (WorkloadKind::Deployment, d));
    daemonsets
        .chain(deployments)
        .filter(|(_, object)| object.row.images.iter().any(|image| crate::calico::is_calico(image)))
        .map(|(kind, object)| OtherWorkload {
            kind,
            name: object.row.name.clone(),
            desired: object.row.desired.unwrap_or(0),
            images: object.row.images.clone(),
            release: crate::calico::newest_release(&object.row.images).map(crate::calico::release_name),
            typha: object
                .row
                .images
                .iter()
                .any(|i| crate::calico::component(i) == Some(crate::calico::Component::Typha)),
        })
        .collect()
}

/// What to do about a Calico workload the rollback leaves on v3 images, in one line; `None`
/// when it runs no v3 pod.
pub fn other_step(other: &OtherWorkload, namespace: &str, typha_service: Option<&str>) -> Option<String> {
    if !other.runs_v3() {
        return None;
    }
    let release = other.release.as_deref().unwrap_or("v3");
    Some(if other.typha {
        let service = match typha_service {
            Some(name) if name != "none" => {
                format!("; then set typha_service_name in calico-config to \"none\" (it names `{name}`)")
            }
            _ => String::new(),
        };
        format!(
            "{}: {} of Calico {release} Typha, which v2.6 does not use: once calico-node runs v2.6, `kubectl scale {} -n {namespace} --replicas=0` (or pass --stop-typha){service}",
            other.reference(),
            other.size(),
            other.reference()
        )
    } else {
        format!(
            "{}: runs Calico {release} images ({}), which the documented downgrade does not roll back: roll it back to its pre-upgrade revision yourself",
            other.reference(),
            other.images.join(", ")
        )
    })
}

/// `calico-config`, as the calico-node template names it (`CNI_NETWORK_CONFIG` from a
/// ConfigMap key), read with the inspection; `None` when the template takes its CNI
/// configuration from no ConfigMap. A ConfigMap that cannot be read is said so, never a stop:
/// what it holds only informs.
fn calico_config(
    ctx: &mut Context,
    kubectl: &kubectl::Kubectl,
    namespace: &str,
    env: &[EnvVar],
) -> Option<CalicoConfig> {
    let (name, key) = env.iter().find(|var| var.name == "CNI_NETWORK_CONFIG")?.config_map.clone()?;
    // The default name was read with the inspection query (`run_raw` takes that result, with
    // every retry its round made, and retries within what is left of the budget); another one
    // is read now, and the default's read is only recorded.
    let default = kubectl.config_map(namespace, DEFAULT_CALICO_CONFIG);
    if name != DEFAULT_CALICO_CONFIG {
        ctx.take_if_prefetched(&default);
    }
    let result = ctx.run_raw(&kubectl.config_map(namespace, &name));
    let mut config =
        CalicoConfig { name: name.clone(), cni_key: key.clone(), cni: None, typha_service_name: None, unread: None };
    match result {
        Ok(output) => match kubectl::parse_config_map(&output) {
            Ok(Some(map)) => {
                let data = map.data;
                config.typha_service_name = data.get("typha_service_name").cloned();
                match data.get(&key) {
                    Some(text) => config.cni = Some(crate::calico::cni_config(text)),
                    None => config.unread = Some(format!("it has no key `{key}`")),
                }
            }
            Ok(None) => config.unread = Some(format!("there is no configmap/{name} in {namespace}")),
            Err(_) if !output.success() => {
                config.unread = Some(kubectl::failure_message(&output.stderr));
            }
            Err(error) => config.unread = Some(error.headline()),
        },
        Err(error) => config.unread = Some(error.to_string()),
    }
    Some(config)
}

/// The screen's lines and the evidence about `calico-config`: its CNI configuration is Calico
/// v3.0's conflist while the rollback goes to v2.6, whose installer writes it as
/// `10-calico.conf` beside the stale `10-calico.conflist` of v3.0 (which file the kubelet then
/// reads depends on its version).
/// `rolled_back`: the templates are on v2.6 already, so the pods must be recreated too.
fn config_lines(config: &CalicoConfig, to_v2: bool, rolled_back: bool) -> (Vec<String>, Vec<String>) {
    let reference = format!("configmap/{}", config.name);
    match (&config.cni, &config.unread) {
        (_, Some(why)) => (
            vec![format!("{reference}: not read ({why}): its CNI configuration was not checked")],
            Vec::new(),
        ),
        (Some(crate::calico::CniConfig::Conflist { cni_version, plugins }), _) if to_v2 => (
            vec![
                format!("{reference} holds Calico v3.0's CNI conflist, which v2.6 would install as 10-calico.conf"),
                format!("  {}", CalicoConfig::conflist_step("it", rolled_back)),
            ],
            vec![format!(
                "{reference}: {} is a conflist (cniVersion {}, plugins {}), the shape of Calico v3.0's manifests; v2.6's install-cni (no CNI_CONF_NAME) writes it to 10-calico.conf and leaves v3.0's 10-calico.conflist in place; which of the two the kubelet reads depends on its version",
                config.cni_key,
                cni_version.as_deref().unwrap_or("unset"),
                plugins.join(", ")
            )],
        ),
        (Some(cni), _) => (Vec::new(), vec![format!("{reference}: {}: {cni:?}", config.cni_key)]),
        (None, None) => (Vec::new(), Vec::new()),
    }
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
