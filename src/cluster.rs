//! What the tool knows about the cluster, and the pure decisions it takes from that.
//!
//! [`Workload`] gathers one DaemonSet or Deployment with its revision history, as inspection
//! observed it. The `decide_*` functions never run anything: given the facts they say which
//! revision to roll back to, whether the cluster is upgraded, which pods are at risk.

use serde::Serialize;

use crate::calico::{generation, Component, Generation};
use crate::tools::kubectl::{PodSummary, WorkloadKind};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Revision {
    pub number: u64,
    /// The ControllerRevision's or ReplicaSet's name (`calico-node-98648fc54`).
    #[serde(default)]
    pub name: String,
    pub images: Vec<String>,
    /// RFC 3339 creation time of the ControllerRevision / ReplicaSet.
    pub created: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Workload {
    pub kind: WorkloadKind,
    pub name: String,
    pub desired: u32,
    pub strategy: Option<String>,
    /// The images of the live pod template.
    pub images: Vec<String>,
    /// The `k8s-app` label the workload selects its pods by, if any.
    pub app: Option<String>,
    /// Oldest first.
    pub revisions: Vec<Revision>,
}

/// The revision `kubectl rollout undo` without `--to-revision` rolls back to: the second
/// highest revision number of the history (kubectl's `findHistory` for DaemonSets,
/// `deploymentutil.LastRevision` for Deployments), `None` with fewer than two.
pub fn previous_revision(workload: &Workload) -> Option<u64> {
    let mut numbers: Vec<u64> = workload.revisions.iter().map(|r| r.number).collect();
    numbers.sort_unstable();
    numbers.dedup();
    numbers.iter().rev().nth(1).copied()
}

impl Workload {
    /// calico/node defines the DaemonSet's generation, calico/kube-controllers the Deployment's.
    pub fn defining_component(&self) -> Component {
        match self.kind {
            WorkloadKind::DaemonSet => Component::Node,
            WorkloadKind::Deployment => Component::KubeControllers,
        }
    }

    pub fn generation(&self) -> Generation {
        generation(&self.images, self.defining_component())
    }

    pub fn revision_generation(&self, revision: &Revision) -> Generation {
        generation(&revision.images, self.defining_component())
    }

    pub fn is_on_delete(&self) -> bool {
        self.strategy.as_deref() == Some("OnDelete")
    }

    /// `ds/calico-node`, as in the docs' commands.
    pub fn reference(&self) -> String {
        format!("{}/{}", self.kind.resource(), self.name)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Datastore {
    Etcd,
    Kubernetes,
}

/// Where the cluster stands, judged from the live DaemonSet and its history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum UpgradeState {
    /// v2.x images live and no v3.x revision in history: only the abort applies.
    NotUpgraded,
    /// v3.x images live.
    Upgraded,
    /// v2.x images live, and a v3.x revision in history: rolled back already.
    AlreadyDowngraded,
}

pub fn decide_state(daemonset: &Workload) -> Option<UpgradeState> {
    let has_v3_revision = daemonset.revisions.iter().any(|r| daemonset.revision_generation(r) == Generation::V3);
    match daemonset.generation() {
        Generation::V3 => Some(UpgradeState::Upgraded),
        Generation::V2 if has_v3_revision => Some(UpgradeState::AlreadyDowngraded),
        Generation::V2 => Some(UpgradeState::NotUpgraded),
        Generation::Unknown => None,
    }
}

/// What to do with one workload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "kebab-case")]
pub enum RollbackPlan {
    /// `kubectl rollout undo KIND/NAME --to-revision=N`.
    RollBack { revision: u64, images: Vec<String> },
    /// The live template already has the target images.
    AlreadyThere,
}

/// Why no rollback target can be chosen: a precondition, nothing was changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoTarget(pub String);

/// The revision to roll back to: the one `--to-revision` names (DaemonSet only), else the newest
/// whose defining image is from Calico v2.x. `AlreadyThere` when the live template has those
/// images (so a second run is a no-op, never a toggle). A named revision must be a Calico v2.x
/// one; once rolled back to, Kubernetes renumbers it, so a missing revision with v2.x images
/// already live is `AlreadyThere` too (the same command can be run again).
pub fn decide_rollback(workload: &Workload, to_revision: Option<u64>) -> Result<RollbackPlan, NoTarget> {
    let component = match workload.defining_component() {
        Component::Node => "calico/node",
        _ => "calico/kube-controllers",
    };
    let target = match to_revision {
        Some(number) => match workload.revisions.iter().find(|r| r.number == number) {
            None if workload.generation() == Generation::V2 => return Ok(RollbackPlan::AlreadyThere),
            None => {
                return Err(NoTarget(format!(
                    "{} has no revision {number}; its revisions are: {}",
                    workload.reference(),
                    describe_revisions(workload)
                )))
            }
            Some(target) if workload.revision_generation(target) != Generation::V2 => {
                return Err(NoTarget(format!(
                    "revision {number} of {} runs {}, not a Calico v2.x {component}: --to-revision must name a revision to downgrade to; its revisions are: {}",
                    workload.reference(),
                    target.images.join(", "),
                    describe_revisions(workload)
                )))
            }
            Some(target) => target,
        },
        None => {
            if workload.generation() == Generation::V2 {
                return Ok(RollbackPlan::AlreadyThere);
            }
            // No revision to roll back to: --to-revision cannot help, the v2.6 manifest can.
            let hint = format!(
                "the way back is to re-apply the Calico v2.6 manifest the cluster was installed from (`kubectl apply -f` it), which puts {} on v2.6 images; then run `calico-downgrade run` again to abort the migration and wait for the pods",
                workload.reference()
            );
            workload
                .revisions
                .iter()
                .filter(|r| workload.revision_generation(r) == Generation::V2)
                .max_by_key(|r| r.number)
                .ok_or_else(|| {
                    NoTarget(format!(
                        "no revision of {} carries a Calico v2.x {component} image (was the history pruned by revisionHistoryLimit?); \
                         its revisions are: {}; {hint}",
                        workload.reference(),
                        describe_revisions(workload)
                    ))
                })?
        }
    };
    if same_images(&target.images, &workload.images) {
        Ok(RollbackPlan::AlreadyThere)
    } else {
        Ok(RollbackPlan::RollBack { revision: target.number, images: target.images.clone() })
    }
}

/// The names among `candidates` closest to `wanted` (a typo: `calico-kube-controler` →
/// `calico-kube-controllers`), nearest first, at most three: those within an edit distance of a
/// third of the name's length (at least 2), transpositions counting as one edit.
pub fn closest_names<'a>(wanted: &str, candidates: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
    let limit = (wanted.chars().count() / 3).max(2);
    let mut scored: Vec<(usize, &str)> = candidates
        .into_iter()
        .filter(|c| *c != wanted)
        .map(|c| (strsim::damerau_levenshtein(wanted, c), c))
        .filter(|(distance, _)| *distance <= limit)
        .collect();
    scored.sort();
    scored.dedup();
    scored.into_iter().take(3).map(|(_, c)| c).collect()
}

/// ` (did you mean calico-kube-controllers?)`, or nothing when no name is close.
pub fn did_you_mean(option: &str, suggestions: &[&str]) -> String {
    match suggestions {
        [] => String::new(),
        [one] => format!("; did you mean {option} {one}?"),
        many => {
            format!("; did you mean {}?", many.iter().map(|s| format!("{option} {s}")).collect::<Vec<_>>().join(" or "))
        }
    }
}

/// Image lists compare as sets: container order is not part of "the same release".
pub fn same_images(a: &[String], b: &[String]) -> bool {
    let mut a: Vec<&String> = a.iter().collect();
    let mut b: Vec<&String> = b.iter().collect();
    a.sort();
    b.sort();
    a == b
}

pub fn describe_revisions(workload: &Workload) -> String {
    if workload.revisions.is_empty() {
        return "none".to_string();
    }
    workload.revisions.iter().map(|r| format!("{} ({})", r.number, r.images.join(", "))).collect::<Vec<_>>().join("; ")
}

/// The revision whose template is live: the newest one (the controller makes a revision of
/// every template it runs, and an undo re-numbers the revision it restores to the newest).
/// Rolling back to it again puts the workload back where it was before the run.
pub fn live_revision(workload: &Workload) -> Option<&Revision> {
    workload.revisions.iter().max_by_key(|r| r.number).filter(|r| same_images(&r.images, &workload.images))
}

/// What changes in the pod template when going from `from` to `to` (both `.spec.template` as
/// JSON), one line per field: `spec.containers[calico-node].image: A → B`, `... env[X]: added
/// (...)`. Lists whose items all have a `name` (containers, env, volumes, volume mounts, init
/// containers) are matched by name, so a reordering is no change. Empty when they are the same.
pub fn template_changes(from: &serde_json::Value, to: &serde_json::Value) -> Vec<String> {
    let mut out = Vec::new();
    diff_values("", Some(from), Some(to), &mut out);
    out
}

fn short(value: &serde_json::Value) -> String {
    let text = match value {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if text.chars().count() > 160 {
        format!("{}…", text.chars().take(160).collect::<String>())
    } else {
        text
    }
}

fn named(items: &[serde_json::Value]) -> Option<Vec<(&str, &serde_json::Value)>> {
    items.iter().map(|item| Some((item.get("name")?.as_str()?, item))).collect()
}

fn diff_values(path: &str, from: Option<&serde_json::Value>, to: Option<&serde_json::Value>, out: &mut Vec<String>) {
    use serde_json::Value;
    let join = |key: &str| if path.is_empty() { key.to_string() } else { format!("{path}.{key}") };
    match (from, to) {
        (Some(a), Some(b)) if a == b => {}
        (Some(Value::Object(a)), Some(Value::Object(b))) => {
            let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
            keys.sort();
            keys.dedup();
            for key in keys {
                diff_values(&join(key), a.get(key), b.get(key), out);
            }
        }
        (Some(Value::Array(a)), Some(Value::Array(b))) => match (named(a), named(b)) {
            (Some(a), Some(b)) => {
                let mut names: Vec<&str> = a.iter().map(|(n, _)| *n).collect();
                names.extend(b.iter().map(|(n, _)| *n).filter(|n| !a.iter().any(|(m, _)| m == n)));
                for name in names {
                    let before = a.iter().find(|(n, _)| *n == name).map(|(_, v)| *v);
                    let after = b.iter().find(|(n, _)| *n == name).map(|(_, v)| *v);
                    diff_values(&format!("{path}[{name}]"), before, after, out);
                }
            }
            _ => out.push(format!("{path}: {} → {}", short(&Value::Array(a.clone())), short(&Value::Array(b.clone())))),
        },
        (Some(a), None) => out.push(format!("{path}: removed ({})", short(a))),
        (None, Some(b)) => out.push(format!("{path}: added ({})", short(b))),
        (Some(a), Some(b)) => out.push(format!("{path}: {} → {}", short(a), short(b))),
        (None, None) => {}
    }
}

/// One container of a pod template as a diff shows it: its image and environment, each
/// variable as `NAME=value` or, set from elsewhere, `NAME from configMap calico-config/key`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ContainerSummary {
    pub name: String,
    pub image: String,
    pub env: Vec<String>,
}

/// The containers (init containers first) of a pod template, for a before/after diff.
pub fn template_summary(template: &serde_json::Value) -> Vec<ContainerSummary> {
    let spec = template.get("spec");
    let lists = ["initContainers", "containers"].map(|key| spec.and_then(|s| s.get(key)).and_then(|c| c.as_array()));
    lists
        .into_iter()
        .flatten()
        .flatten()
        .map(|container| {
            let text = |key: &str| container.get(key).and_then(|v| v.as_str()).unwrap_or_default().to_string();
            let env = container.get("env").and_then(|e| e.as_array()).into_iter().flatten().map(describe_env).collect();
            ContainerSummary { name: text("name"), image: text("image"), env }
        })
        .collect()
}

/// `NAME=value`, or where the value comes from (`valueFrom`).
fn describe_env(var: &serde_json::Value) -> String {
    let name = var.get("name").and_then(|n| n.as_str()).unwrap_or_default();
    if let Some(value) = var.get("value").and_then(|v| v.as_str()) {
        return format!("{name}={value}");
    }
    let Some(from) = var.get("valueFrom").and_then(|f| f.as_object()) else {
        return format!("{name}=");
    };
    let source = |kind: &str, key: &str| {
        let reference = from.get(key)?;
        let text = |field: &str| reference.get(field).and_then(|v| v.as_str()).unwrap_or_default();
        Some(format!("{name} from {kind} {}/{}", text("name"), text("key")))
    };
    source("configMap", "configMapKeyRef")
        .or_else(|| source("secret", "secretKeyRef"))
        .or_else(|| {
            let path = from.get("fieldRef")?.get("fieldPath")?.as_str()?;
            Some(format!("{name} from field {path}"))
        })
        .unwrap_or_else(|| format!("{name} from {}", serde_json::Value::Object(from.clone())))
}

/// The label selector for the pods of the Calico workloads (`k8s-app in (calico-node,
/// calico-kube-controllers)`), when every workload selects by `k8s-app`; otherwise `None`, and
/// the namespace's pods are listed whole (they are matched to workloads by owner anyway).
pub fn pod_selector(workloads: &[&Workload]) -> Option<String> {
    let apps: Option<Vec<&str>> = workloads.iter().map(|w| w.app.as_deref()).collect();
    let apps = apps.filter(|a| !a.is_empty())?;
    Some(format!("k8s-app in ({})", apps.join(",")))
}

/// When the upgrade reached the DaemonSet: the creation time of its oldest v3.x revision.
pub fn upgrade_time(daemonset: &Workload) -> Option<&str> {
    daemonset
        .revisions
        .iter()
        .filter(|r| daemonset.revision_generation(r) == Generation::V3)
        .map(|r| r.created.as_str())
        .min()
}

/// Pods that lose networking on the downgrade: not host-network, created after the first
/// v3.x revision of the DaemonSet, and with a network to lose: scheduled to a node (a pod with
/// no `spec.nodeName` never had a sandbox, and gets its network from v2.6 once scheduled) and
/// not finished (a `Succeeded` or `Failed` pod runs nothing any more; its sandbox is gone).
/// RFC 3339 UTC times with a `Z` compare as strings; a time that does not parse counts as at
/// risk rather than being dropped silently.
pub fn decide_pods_at_risk(pods: &[PodSummary], since: &str) -> Vec<PodSummary> {
    pods.iter().filter(|pod| at_risk(pod, since)).cloned().collect()
}

/// One pod of [`decide_pods_at_risk`]: not on the host network, scheduled, not finished,
/// created after `since` (or when either time cannot be read: listed rather than missed).
pub fn at_risk(pod: &PodSummary, since: &str) -> bool {
    let finished = matches!(pod.phase.as_deref(), Some("Succeeded" | "Failed"));
    !pod.host_network
        && pod.node.is_some()
        && !finished
        && match (humantime::parse_rfc3339(since), humantime::parse_rfc3339(&pod.created)) {
            (Ok(since), Ok(created)) => created > since,
            _ => true,
        }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn workload(name: &str, app: Option<&str>) -> Workload {
        Workload {
            kind: WorkloadKind::DaemonSet,
            name: name.into(),
            desired: 1,
            strategy: None,
            images: Vec::new(),
            app: app.map(Into::into),
            revisions: Vec::new(),
        }
    }

    fn revision(number: u64, node: &str) -> Revision {
        Revision {
            number,
            name: format!("calico-node-{number}"),
            images: vec![format!("quay.io/calico/node:{node}")],
            created: String::new(),
        }
    }

    #[test]
    fn the_previous_revision_is_the_second_highest_number_as_kubectl_chooses_it() {
        let mut ds = workload("calico-node", None);
        assert_eq!(previous_revision(&ds), None);
        ds.revisions = vec![revision(1, "v2.6.8")];
        assert_eq!(previous_revision(&ds), None, "one revision: kubectl has nothing to undo to");
        // Oldest first is not assumed: kubectl sorts by number.
        ds.revisions = vec![revision(3, "v3.0.4"), revision(1, "v2.6.8"), revision(4, "v2.6.8")];
        assert_eq!(previous_revision(&ds), Some(3));
    }

    #[test]
    fn to_revision_must_name_a_v2_revision_and_can_be_repeated_after_the_renumbering() {
        let mut ds = workload("calico-node", None);
        ds.images = vec!["quay.io/calico/node:v3.0.4".into()];
        ds.revisions = vec![revision(1, "v2.6.8"), revision(2, "v3.0.4")];
        assert!(matches!(decide_rollback(&ds, Some(1)), Ok(RollbackPlan::RollBack { revision: 1, .. })));
        let refused = decide_rollback(&ds, Some(2)).unwrap_err();
        assert!(refused.0.contains("not a Calico v2.x calico/node"), "{}", refused.0);
        // After the rollback Kubernetes renumbers revision 1 to 3.
        ds.images = vec!["quay.io/calico/node:v2.6.8".into()];
        ds.revisions = vec![revision(2, "v3.0.4"), revision(3, "v2.6.8")];
        assert_eq!(decide_rollback(&ds, Some(1)), Ok(RollbackPlan::AlreadyThere));
        assert_eq!(decide_rollback(&ds, Some(3)), Ok(RollbackPlan::AlreadyThere));
    }

    #[test]
    fn template_changes_name_every_field_and_match_lists_by_name() {
        let v3 = serde_json::json!({"metadata": {"labels": {"k8s-app": "calico-node"}}, "spec": {"containers": [
            {"name": "calico-node", "image": "quay.io/calico/node:v3.0.4",
             "env": [{"name": "CALICO_K8S_NODE_REF", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
                     {"name": "CALICO_IPV4POOL_IPIP", "value": "Always"}]},
            {"name": "install-cni", "image": "quay.io/calico/cni:v2.0.2"}],
            "volumes": [{"name": "var-lib-calico", "hostPath": {"path": "/var/lib/calico"}}]}});
        let v2 = serde_json::json!({"metadata": {"labels": {"k8s-app": "calico-node"}}, "spec": {"containers": [
            {"name": "install-cni", "image": "quay.io/calico/cni:v1.11.4"},
            {"name": "calico-node", "image": "quay.io/calico/node:v2.6.8",
             "env": [{"name": "CALICO_IPV4POOL_IPIP", "value": "always"}]}]}});
        assert_eq!(
            template_changes(&v3, &v2),
            [
                "spec.containers[calico-node].env[CALICO_K8S_NODE_REF]: removed ({\"name\":\"CALICO_K8S_NODE_REF\",\"valueFrom\":{\"fieldRef\":{\"fieldPath\":\"spec.nodeName\"}}})",
                "spec.containers[calico-node].env[CALICO_IPV4POOL_IPIP].value: Always → always",
                "spec.containers[calico-node].image: quay.io/calico/node:v3.0.4 → quay.io/calico/node:v2.6.8",
                "spec.containers[install-cni].image: quay.io/calico/cni:v2.0.2 → quay.io/calico/cni:v1.11.4",
                "spec.volumes: removed ([{\"hostPath\":{\"path\":\"/var/lib/calico\"},\"name\":\"var-lib-calico\"}])",
            ]
        );
        assert!(template_changes(&v2, &v2).is_empty());
    }

    #[test]
    fn typos_are_matched_to_the_closest_existing_names() {
        let names = ["calico-kube-controllers", "coredns", "metrics-server"];
        assert_eq!(closest_names("calico-kube-controler", names), ["calico-kube-controllers"]);
        assert_eq!(closest_names("calico-kube-contrlolers", names), ["calico-kube-controllers"]);
        assert_eq!(closest_names("kube-sytem", ["default", "kube-public", "kube-system"]), ["kube-system"]);
        assert!(closest_names("flannel", names).is_empty());
        assert_eq!(
            did_you_mean("--deployment", &["calico-kube-controllers"]),
            "; did you mean --deployment calico-kube-controllers?"
        );
        assert_eq!(did_you_mean("-n", &[]), "");
    }

    #[test]
    fn the_pod_selector_needs_every_workload_to_select_by_k8s_app() {
        let node = workload("calico-node", Some("calico-node"));
        let controllers = workload("calico-kube-controllers", Some("calico-kube-controllers"));
        let custom = workload("custom", None);
        assert_eq!(
            pod_selector(&[&node, &controllers]).as_deref(),
            Some("k8s-app in (calico-node,calico-kube-controllers)")
        );
        assert_eq!(pod_selector(&[&node]).as_deref(), Some("k8s-app in (calico-node)"));
        assert_eq!(pod_selector(&[&node, &custom]), None);
    }

    #[test]
    fn only_pods_that_can_lose_a_network_are_at_risk() {
        let since = "2026-11-23T21:00:00Z";
        let pod = |name: &str, node: Option<&str>, phase: Option<&str>, host_network: bool| PodSummary {
            namespace: "default".into(),
            name: name.into(),
            created: "2026-11-23T21:31:37Z".into(),
            host_network,
            node: node.map(str::to_string),
            phase: phase.map(str::to_string),
        };
        let pods = [
            pod("running", Some("node-1"), Some("Running"), false),
            pod("pending-on-a-node", Some("node-1"), Some("Pending"), false),
            pod("no-phase-yet", Some("node-2"), None, false),
            pod("never-scheduled", None, Some("Pending"), false),
            pod("done", Some("node-1"), Some("Succeeded"), false),
            pod("crashed-out", Some("node-1"), Some("Failed"), false),
            pod("host", Some("node-1"), Some("Running"), true),
        ];
        let names: Vec<String> = decide_pods_at_risk(&pods, since).into_iter().map(|p| p.name).collect();
        assert_eq!(names, ["running", "pending-on-a-node", "no-phase-yet"]);
        let older = PodSummary { created: "2026-11-23T20:59:59Z".into(), ..pods[0].clone() };
        assert!(!at_risk(&older, since));
        let unreadable = PodSummary { created: "yesterday".into(), ..pods[0].clone() };
        assert!(at_risk(&unreadable, since), "a time that cannot be read is listed, not missed");
    }
}
