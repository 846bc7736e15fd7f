//! Who else manages calico-node and calico-kube-controllers, and would put Calico v3.0 back
//! after the rollback: pure judgements on what the inspection read (each workload's labels,
//! annotations and `metadata.managedFields` managers, and the namespace's Jobs).
//!
//! A continuous reconciler re-applies its manifests on its own, within minutes: the rollback
//! would be undone, so the run stops before its first change unless told to go on
//! (`--despite-reconciler`). A one-shot manager (a Helm release; a kops migration Job) only
//! re-applies v3.0 the next time someone runs it: a warning.
//!
//! The names come from each project's public source and documentation:
//! - the addon manager: label `addonmanager.kubernetes.io/mode`, `Reconcile` (re-applied
//!   periodically) or `EnsureExists` (created when missing, never changed back) —
//!   kubernetes/kubernetes `cluster/addons/addon-manager/README.md`;
//! - Argo CD: the tracking annotation `argocd.argoproj.io/tracking-id`, the label
//!   `app.kubernetes.io/instance` (its default tracking label until 2.x, also set by many Helm
//!   charts, so counted only beside an `argocd.argoproj.io/` annotation) or a custom
//!   `argocd.argoproj.io/instance`; the server-side apply manager `argocd-controller`
//!   (`ArgoCDSSAManager`) — argo-cd `docs/user-guide/resource_tracking.md`, `common/common.go`;
//! - Flux: the labels `kustomize.toolkit.fluxcd.io/name`/`namespace` and
//!   `helm.toolkit.fluxcd.io/name`/`namespace`; managers `kustomize-controller` and
//!   `helm-controller` — fluxcd/kustomize-controller and helm-controller docs;
//! - kops: the labels `addon.kops.k8s.io/name` and `app.kubernetes.io/managed-by: kops` that it
//!   puts on every addon object (kops `pkg/model/components/addonmanifests`, `addLabels`; its
//!   channels tool prunes by them), whose manifests it re-applies (kubernetes/kops#5162), and
//!   its `calico-complete-upgrade` Jobs (kops' Calico 3 migration docs);
//! - Helm: `app.kubernetes.io/managed-by: Helm` and the annotations `meta.helm.sh/release-name`
//!   and `release-namespace` (Helm 3.2+ release ownership), manager `helm`.

use serde::Serialize;

use crate::tools::kubectl::{FieldManager, JobRow, Management};

/// Which project manages the object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    AddonManager,
    ArgoCd,
    Flux,
    Kops,
    Helm,
}

impl Kind {
    pub fn title(self) -> &'static str {
        match self {
            Kind::AddonManager => "the Kubernetes addon manager",
            Kind::ArgoCd => "Argo CD",
            Kind::Flux => "Flux",
            Kind::Kops => "kops",
            Kind::Helm => "a Helm release",
        }
    }

    /// The kind a field manager's name belongs to, when it is one of the known ones.
    pub fn of_manager(manager: &str) -> Option<Kind> {
        match manager {
            "argocd-controller" | "argocd-application-controller" => Some(Kind::ArgoCd),
            "kustomize-controller" | "helm-controller" => Some(Kind::Flux),
            "kube-addon-manager" => Some(Kind::AddonManager),
            "helm" => Some(Kind::Helm),
            _ => None,
        }
    }
}

/// One manager found, with the objects it manages and what shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reconciler {
    pub kind: Kind,
    /// It re-applies on its own (stops the run); else only when someone runs it (a warning).
    pub continuous: bool,
    /// `daemonset/calico-node`, `job/calico-complete-upgrade-v331`.
    pub objects: Vec<String>,
    /// `label addonmanager.kubernetes.io/mode=Reconcile`, `field manager argocd-controller`.
    pub evidence: Vec<String>,
    /// The application, Kustomization or release it names, when it names one
    /// (`flux-system/calico`, `calico`).
    pub name: Option<String>,
    /// What to do first, before the rollback.
    pub first: String,
}

impl Reconciler {
    /// One line: `Argo CD application calico (annotation argocd.argoproj.io/tracking-id=… on
    /// daemonset/calico-node)`.
    pub fn describe(&self) -> String {
        let named = match (self.kind, self.name.as_deref()) {
            (_, None) => String::new(),
            (Kind::ArgoCd, Some(name)) => format!(" application {name}"),
            (Kind::Kops, Some(name)) => format!(" addon {name}"),
            (_, Some(name)) => format!(" {name}"),
        };
        format!("{}{named} ({} on {})", self.kind.title(), self.evidence.join(", "), self.objects.join(", "))
    }
}

/// What the inspection learned of the managers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Reconcilers {
    pub found: Vec<Reconciler>,
    /// Why the namespace's Jobs were not checked (forbidden, failed), and the command an
    /// admin can run; `None` when they were read.
    pub jobs_not_checked: Option<NotChecked>,
    /// The run goes on despite a continuous reconciler (`--despite-reconciler`).
    pub overridden: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NotChecked {
    pub reason: String,
    pub command: String,
}

impl Reconcilers {
    pub fn continuous(&self) -> impl Iterator<Item = &Reconciler> {
        self.found.iter().filter(|r| r.continuous)
    }
    pub fn one_shot(&self) -> impl Iterator<Item = &Reconciler> {
        self.found.iter().filter(|r| !r.continuous)
    }
}

struct Sign {
    kind: Kind,
    continuous: bool,
    evidence: String,
    name: Option<String>,
}

fn sign(kind: Kind, continuous: bool, evidence: String, name: Option<String>) -> Sign {
    Sign { kind, continuous, evidence, name }
}

/// `NAMESPACE/NAME` when both are there, else the name.
fn qualified(namespace: Option<&String>, name: &str) -> String {
    namespace.map_or_else(|| name.to_string(), |ns| format!("{ns}/{name}"))
}

/// What one object's metadata says of its managers.
fn signs(management: &Management) -> Vec<Sign> {
    let labels = &management.labels;
    let annotations = &management.annotations;
    let label = |key: &str| labels.get(key).map(|v| format!("label {key}={v}"));
    let mut signs = Vec::new();
    if labels.get("addonmanager.kubernetes.io/mode").map(String::as_str) == Some("Reconcile") {
        signs.push(sign(Kind::AddonManager, true, "label addonmanager.kubernetes.io/mode=Reconcile".into(), None));
    }
    // Argo CD.
    let argo_annotation = annotations.keys().any(|k| k.starts_with("argocd.argoproj.io/"));
    if let Some(id) = annotations.get("argocd.argoproj.io/tracking-id") {
        let app = id.split(':').next().filter(|a| !a.is_empty()).map(str::to_string);
        signs.push(sign(Kind::ArgoCd, true, format!("annotation argocd.argoproj.io/tracking-id={id}"), app));
    }
    for key in ["argocd.argoproj.io/instance", "app.kubernetes.io/instance"] {
        if key == "app.kubernetes.io/instance" && !argo_annotation {
            continue;
        }
        if let Some(evidence) = label(key) {
            signs.push(sign(Kind::ArgoCd, true, evidence, labels.get(key).cloned()));
        }
    }
    // Flux.
    for (group, what) in [("kustomize.toolkit.fluxcd.io", "kustomization"), ("helm.toolkit.fluxcd.io", "helmrelease")] {
        if let Some(name) = labels.get(&format!("{group}/name")) {
            let namespace = labels.get(&format!("{group}/namespace"));
            signs.push(sign(
                Kind::Flux,
                true,
                format!("label {group}/name={name}"),
                Some(format!("{what} {}", qualified(namespace, name))),
            ));
        }
    }
    // kops.
    let kops_keys: Vec<String> = labels
        .iter()
        .chain(annotations.iter())
        .filter(|(k, _)| k.starts_with("addon.kops.k8s.io/"))
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    if let Some(first) = kops_keys.first() {
        signs.push(sign(
            Kind::Kops,
            true,
            format!("addon.kops.k8s.io {first}"),
            labels.get("addon.kops.k8s.io/name").cloned(),
        ));
    } else if labels.get("app.kubernetes.io/managed-by").map(String::as_str) == Some("kops") {
        signs.push(sign(Kind::Kops, true, "label app.kubernetes.io/managed-by=kops".into(), None));
    }
    // Helm.
    let release = annotations.get("meta.helm.sh/release-name");
    let release = release.map(|r| qualified(annotations.get("meta.helm.sh/release-namespace"), r));
    if labels.get("app.kubernetes.io/managed-by").map(String::as_str) == Some("Helm") {
        signs.push(sign(Kind::Helm, false, "label app.kubernetes.io/managed-by=Helm".into(), release.clone()));
    } else if let Some(name) = &release {
        signs.push(sign(Kind::Helm, false, "annotation meta.helm.sh/release-name".into(), Some(name.clone())));
    }
    for manager in &management.managers {
        if let Some(kind) = Kind::of_manager(&manager.manager) {
            let continuous = kind != Kind::Helm;
            signs.push(sign(kind, continuous, format!("field manager {}", manager.manager), None));
        }
    }
    signs
}

/// A Job of a reconciler: kops' `calico-complete-upgrade` (named so, or carrying kops' labels).
fn job_signs(job: &JobRow) -> Vec<Sign> {
    let mut signs: Vec<Sign> = signs(&job.management).into_iter().filter(|s| s.kind != Kind::Kops).collect();
    let kops = job.name.starts_with("calico-complete-upgrade")
        || job.management.labels.keys().any(|k| k.starts_with("addon.kops.k8s.io/"))
        || job.management.labels.get("app.kubernetes.io/managed-by").map(String::as_str) == Some("kops");
    if kops {
        let state = if job.active > 0 {
            "running"
        } else if job.completed.is_some() {
            "completed"
        } else {
            "not complete"
        };
        // The Job alone runs once; kops runs it again when the cluster is updated.
        signs.push(sign(Kind::Kops, false, format!("migration Job ({state})"), None));
    }
    signs
}

/// What to do first about a manager, before rolling back.
fn first(kind: Kind, continuous: bool, name: Option<&str>) -> String {
    match kind {
        Kind::AddonManager => "replace Calico v3.0's manifest in the addon manager's directory on every master (`/etc/kubernetes/addons` by default) with the v2.6 one, or it re-applies v3.0 within a minute".to_string(),
        Kind::ArgoCd => format!(
            "suspend the application's auto-sync and self-heal (`argocd app set {} --sync-policy none`) and point it at the v2.6 manifests before enabling it again",
            name.unwrap_or("APP")
        ),
        Kind::Flux => format!(
            "`flux suspend {}`, and point its source at the v2.6 manifests before `flux resume`",
            flux_target(name)
        ),
        Kind::Kops if continuous => "change the cluster spec (`kops edit cluster`, then `kops update cluster --yes`) so that kops stops applying Calico v3.0: it re-applies its own Calico manifests".to_string(),
        Kind::Kops => "its next `kops update cluster` runs Calico v3.0's migration again: change the cluster spec first (`kops edit cluster`)".to_string(),
        Kind::Helm => format!(
            "the next `helm upgrade` of {} brings v3.0 back: change its chart or values to v2.6 first",
            name.map_or("the release".to_string(), |n| format!("release {n}"))
        ),
    }
}

/// `kustomization calico -n flux-system`, as `flux suspend` takes it.
fn flux_target(name: Option<&str>) -> String {
    let Some(name) = name else { return "kustomization NAME -n NAMESPACE".to_string() };
    let (what, object) = name.split_once(' ').unwrap_or(("kustomization", name));
    match object.split_once('/') {
        Some((namespace, object)) => format!("{what} {object} -n {namespace}"),
        None => format!("{what} {object}"),
    }
}

/// The managers of the workloads (each with its `daemonset/calico-node` reference) and of the
/// namespace's Jobs (`None`: they were not read), one entry per project, continuous first.
pub fn decide(workloads: &[(String, &Management)], jobs: Option<&[JobRow]>) -> Vec<Reconciler> {
    let mut found: Vec<Reconciler> = Vec::new();
    let from_jobs = jobs.unwrap_or_default().iter().map(|job| (format!("job/{}", job.name), job_signs(job)));
    let from_workloads = workloads.iter().map(|(reference, management)| (reference.clone(), signs(management)));
    for (object, signs) in from_workloads.chain(from_jobs) {
        for sign in signs {
            let entry = match found.iter_mut().position(|r| r.kind == sign.kind) {
                Some(at) => &mut found[at],
                None => {
                    found.push(Reconciler {
                        kind: sign.kind,
                        continuous: false,
                        objects: Vec::new(),
                        evidence: Vec::new(),
                        name: None,
                        first: String::new(),
                    });
                    found.last_mut().expect("just pushed")
                }
            };
            entry.continuous |= sign.continuous;
            if !entry.objects.contains(&object) {
                entry.objects.push(object.clone());
            }
            if !entry.evidence.contains(&sign.evidence) {
                entry.evidence.push(sign.evidence);
            }
            if entry.name.is_none() {
                entry.name = sign.name;
            }
        }
    }
    for reconciler in &mut found {
        reconciler.first = first(reconciler.kind, reconciler.continuous, reconciler.name.as_deref());
    }
    found.sort_by_key(|r| (!r.continuous, r.kind));
    found
}

/// Who set the live template's images, newest first: the managedFields entries that own a
/// container image of the pod template. An `Update` takes a field from its former owners, so
/// after a revert these are the ones that reverted it.
pub fn image_setters(management: &Management) -> Vec<&FieldManager> {
    let mut setters: Vec<&FieldManager> = management.managers.iter().filter(|m| m.sets_template_images).collect();
    // RFC 3339 times of one format compare as text.
    setters.sort_by(|a, b| b.time.cmp(&a.time));
    setters
}

#[cfg(test)]
mod tests {
    use super::*;

    fn management(labels: &[(&str, &str)], annotations: &[(&str, &str)], managers: &[&str]) -> Management {
        Management {
            labels: labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            annotations: annotations.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            managers: managers
                .iter()
                .map(|m| FieldManager {
                    manager: m.to_string(),
                    operation: "Update".into(),
                    time: Some("2026-12-07T21:00:00Z".into()),
                    sets_template_images: true,
                })
                .collect(),
        }
    }

    fn kinds(found: &[Reconciler]) -> Vec<(Kind, bool)> {
        found.iter().map(|r| (r.kind, r.continuous)).collect()
    }

    #[test]
    fn the_addon_manager_reconciles_only_in_reconcile_mode() {
        let reconcile = management(&[("addonmanager.kubernetes.io/mode", "Reconcile")], &[], &[]);
        let ensure = management(&[("addonmanager.kubernetes.io/mode", "EnsureExists")], &[], &[]);
        assert_eq!(
            kinds(&decide(&[("daemonset/calico-node".into(), &reconcile)], Some(&[]))),
            [(Kind::AddonManager, true)]
        );
        assert_eq!(decide(&[("daemonset/calico-node".into(), &ensure)], Some(&[])), []);
    }

    #[test]
    fn the_instance_label_alone_is_no_argo_cd_but_beside_its_annotation_it_is() {
        let helm_chart = management(&[("app.kubernetes.io/instance", "calico")], &[], &[]);
        assert_eq!(decide(&[("daemonset/calico-node".into(), &helm_chart)], None), []);
        let argo = management(
            &[("app.kubernetes.io/instance", "calico")],
            &[("argocd.argoproj.io/sync-options", "Prune=false")],
            &[],
        );
        let found = decide(&[("daemonset/calico-node".into(), &argo)], None);
        assert_eq!(kinds(&found), [(Kind::ArgoCd, true)]);
        assert_eq!(found[0].name.as_deref(), Some("calico"));
        assert_eq!(
            found[0].describe(),
            "Argo CD application calico (label app.kubernetes.io/instance=calico on daemonset/calico-node)"
        );
        assert!(found[0].first.contains("`argocd app set calico --sync-policy none`"), "{}", found[0].first);
    }

    #[test]
    fn flux_names_what_to_suspend_and_helm_only_warns() {
        let flux = management(
            &[("kustomize.toolkit.fluxcd.io/name", "calico"), ("kustomize.toolkit.fluxcd.io/namespace", "flux-system")],
            &[],
            &["kustomize-controller"],
        );
        let helm =
            management(&[("app.kubernetes.io/managed-by", "Helm")], &[("meta.helm.sh/release-name", "calico")], &[]);
        let found = decide(
            &[("daemonset/calico-node".into(), &flux), ("deployment/calico-kube-controllers".into(), &helm)],
            Some(&[]),
        );
        assert_eq!(kinds(&found), [(Kind::Flux, true), (Kind::Helm, false)]);
        assert!(found[0].first.starts_with("`flux suspend kustomization calico -n flux-system`"), "{}", found[0].first);
        assert_eq!(
            found[0].evidence,
            ["label kustomize.toolkit.fluxcd.io/name=calico", "field manager kustomize-controller"]
        );
        assert_eq!(found[1].objects, ["deployment/calico-kube-controllers"]);
    }

    #[test]
    fn a_kops_job_alone_warns_and_kops_labels_stop() {
        let job = JobRow {
            name: "calico-complete-upgrade-v331".into(),
            management: Management::default(),
            active: 0,
            completed: Some("2026-12-07T20:00:00Z".into()),
        };
        let plain = Management::default();
        let found = decide(&[("daemonset/calico-node".into(), &plain)], Some(std::slice::from_ref(&job)));
        assert_eq!(kinds(&found), [(Kind::Kops, false)]);
        assert_eq!(found[0].objects, ["job/calico-complete-upgrade-v331"]);
        let labelled = management(&[("addon.kops.k8s.io/name", "networking.projectcalico.org")], &[], &[]);
        let found = decide(&[("daemonset/calico-node".into(), &labelled)], Some(std::slice::from_ref(&job)));
        assert_eq!(kinds(&found), [(Kind::Kops, true)]);
        assert_eq!(found[0].objects, ["daemonset/calico-node", "job/calico-complete-upgrade-v331"]);
    }

    #[test]
    fn the_image_setters_are_the_owners_of_an_image_newest_first() {
        let mut m = management(&[], &[], &["kubectl-rollout", "kubectl-client-side-apply"]);
        m.managers[0].time = Some("2026-12-07T21:00:00Z".into());
        m.managers[1].time = Some("2026-12-07T21:00:05Z".into());
        m.managers.push(FieldManager {
            manager: "kube-controller-manager".into(),
            operation: "Update".into(),
            time: Some("2026-12-07T21:00:09Z".into()),
            sets_template_images: false,
        });
        let names: Vec<&str> = image_setters(&m).iter().map(|s| s.manager.as_str()).collect();
        assert_eq!(names, ["kubectl-client-side-apply", "kubectl-rollout"]);
    }
}
