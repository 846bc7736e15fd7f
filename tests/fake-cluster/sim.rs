//! Time and the controllers: pod lifecycles computed from timestamps, the DaemonSet controller
//! (RollingUpdate with maxUnavailable 1, or OnDelete), the Deployment controller (Recreate),
//! `rollout undo` and pod deletion.
//!
//! [`advance`] replays every controller decision between the last simulated time and now, at
//! the exact time it would have happened (a replacement pod created the moment the previous
//! one became ready has that creation time, however late the next kubectl call comes).

use crate::state::{Kind, Pod, Revision, State, Template, Workload};

/// What a pod looks like at one instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodView {
    /// `.status.phase`: `Pending` or `Running`.
    pub phase: &'static str,
    /// `.status.containerStatuses[*].ready`; `None` before the kubelet reported any.
    pub ready: Option<Vec<bool>>,
    /// What `kubectl get pods` would call it: Pending, ContainerCreating, Running, Terminating.
    pub status: &'static str,
}

impl PodView {
    pub fn all_ready(&self) -> bool {
        self.ready.as_ref().is_some_and(|r| !r.is_empty() && r.iter().all(|x| *x))
    }
}

/// Pending for the first third of the start time (no container statuses), then
/// ContainerCreating (phase Pending, containers not ready), then Running.
pub fn view(pod: &Pod, t: u64) -> PodView {
    let containers = pod.images.len();
    // Never running (an image its node cannot pull): its containers wait from the start.
    let start = if pod.running_at_ms == u64::MAX { 0 } else { pod.running_at_ms.saturating_sub(pod.created_at_ms) };
    let (phase, ready, mut status) = if t >= pod.running_at_ms {
        let ready = pod.ready_at_ms.is_some_and(|r| t >= r);
        ("Running", Some(vec![ready; containers]), "Running")
    } else if t >= pod.created_at_ms + start / 3 {
        ("Pending", Some(vec![false; containers]), "ContainerCreating")
    } else {
        ("Pending", None, "Pending")
    };
    if pod.deleting_at_ms.is_some_and(|d| t >= d) {
        status = "Terminating";
    }
    PodView { phase, ready, status }
}

/// Each container's waiting reason at `t` (empty: not waiting): `ContainerCreating` while the
/// pod starts; with an image its node fails (`Config::image_faults`), `ErrImagePull` and
/// `ImagePullBackOff` a second each, or `CrashLoopBackOff` once it has run.
pub fn waiting(state: &State, pod: &Pod, t: u64) -> Vec<&'static str> {
    if pod.deleting_at_ms.is_some_and(|d| t >= d) {
        return vec![""; pod.images.len()];
    }
    let fault = state.config.image_fault(pod.node.as_deref(), &pod.images);
    let status = view(pod, t).status;
    (0..pod.images.len())
        .map(|index| match fault {
            Some((at, "unpullable")) if at == index && status == "ContainerCreating" => {
                if (t.saturating_sub(pod.created_at_ms) / 1000).is_multiple_of(2) {
                    "ErrImagePull"
                } else {
                    "ImagePullBackOff"
                }
            }
            Some((at, "crash")) if at == index && status == "Running" => "CrashLoopBackOff",
            _ if status == "ContainerCreating" => "ContainerCreating",
            _ => "",
        })
        .collect()
}

/// Each container's restarts at `t`: a crashing one restarts every 2 s once it has run.
pub fn restarts(state: &State, pod: &Pod, t: u64) -> Vec<u64> {
    let fault = state.config.image_fault(pod.node.as_deref(), &pod.images);
    (0..pod.images.len())
        .map(|index| match fault {
            Some((at, "crash")) if at == index && t >= pod.running_at_ms => 1 + (t - pod.running_at_ms) / 2000,
            _ => 0,
        })
        .collect()
}

/// The pod's `Ready` condition at `t`: its containers ready and its node Ready (the node
/// controller marks the pods of a NotReady node not ready; their container flags stay).
pub fn ready_condition(state: &State, pod: &Pod, t: u64) -> bool {
    view(pod, t).all_ready() && state.config.node_ready(pod.node.as_deref())
}

/// Running, Ready, not being deleted: what maxUnavailable counts as available.
pub fn available(state: &State, pod: &Pod, t: u64) -> bool {
    pod.deleting_at_ms.is_none() && ready_condition(state, pod, t)
}

/// Bring the simulation up to `now`. Returns nothing; the state says what happened.
pub fn advance(state: &mut State, now: u64) {
    let mut t = state.clock_ms;
    loop {
        run_controllers(state, t);
        let next = state
            .pods
            .iter()
            .flat_map(|p| [p.ready_at_ms, p.gone_at_ms, Some(p.running_at_ms)])
            .flatten()
            .filter(|&x| x > t && x <= now)
            .min();
        match next {
            Some(n) => {
                t = n;
                remove_gone(state, t);
            }
            None => break,
        }
    }
    if now > state.clock_ms {
        state.clock_ms = now;
    }
    let keep_after = state.clock_ms.saturating_sub(60_000);
    state.tombstones.retain(|p| p.gone_at_ms.unwrap_or(0) >= keep_after);
}

fn remove_gone(state: &mut State, t: u64) {
    let (gone, kept): (Vec<Pod>, Vec<Pod>) =
        std::mem::take(&mut state.pods).into_iter().partition(|p| p.gone_at_ms.is_some_and(|g| g <= t));
    state.pods = kept;
    for pod in gone {
        state.tombstones.retain(|p| p.name != pod.name);
        state.tombstones.push(pod);
    }
}

/// Let both controllers act at time `t` until neither has anything left to do.
pub fn run_controllers(state: &mut State, t: u64) {
    for _ in 0..1000 {
        let changed = daemonset_controller(state, t) | deployment_controller(state, t);
        if !changed {
            return;
        }
    }
}

/// Mark a pod deleted at `t`; it disappears after the grace period.
pub fn delete_pod(state: &mut State, index: usize, t: u64) {
    let stop = state.config.pod_stop_ms;
    let pod = &mut state.pods[index];
    if pod.deleting_at_ms.is_none() {
        pod.deleting_at_ms = Some(t);
        pod.gone_at_ms = Some(t + stop);
    }
}

fn new_pod(state: &mut State, workload: &Workload, owner: String, node: String, t: u64) -> Pod {
    let name = state.pod_name(&owner);
    let start = state.config.pod_start_ms;
    let starts = !workload.stuck && state.config.node_ready(Some(&node));
    let images = workload.template.images();
    let fault = state.config.image_fault(Some(&node), &images).map(|(_, how)| how.to_string());
    Pod {
        name,
        namespace: workload.namespace.clone(),
        owner: Some(owner),
        controller: Some(workload.kind),
        template_hash: workload.template.hash(),
        node: Some(node),
        images,
        host_network: true,
        created_at_ms: t,
        // An image that cannot be pulled: never running.
        running_at_ms: if fault.as_deref() == Some("unpullable") { u64::MAX } else { t + start },
        // A pod on a node whose kubelet stopped, or with an image its node fails, never starts.
        ready_at_ms: if starts && fault.is_none() { Some(t + start) } else { None },
        deleting_at_ms: None,
        gone_at_ms: None,
    }
}

fn daemonset_controller(state: &mut State, t: u64) -> bool {
    let Some(ds) = state.daemonset.clone() else { return false };
    let current = ds.template.hash();
    let nodes = state.config.node_names();
    let mut changed = false;
    let live_on = |state: &State, node: &str| -> Vec<usize> {
        state
            .pods
            .iter()
            .enumerate()
            .filter(|(_, p)| {
                p.controller == Some(Kind::DaemonSet)
                    && p.owner.as_deref() == Some(ds.name.as_str())
                    && p.node.as_deref() == Some(node)
                    && p.deleting_at_ms.is_none()
            })
            .map(|(i, _)| i)
            .collect()
    };
    // Every node runs one pod: create the missing ones from the current template.
    for node in &nodes {
        if live_on(state, node).is_empty() {
            let pod = new_pod(state, &ds, ds.name.clone(), node.clone(), t);
            state.pods.push(pod);
            changed = true;
        }
    }
    if ds.strategy != "RollingUpdate" {
        return changed;
    }
    // RollingUpdate, maxUnavailable 1: old pods that are unavailable go at once; otherwise one
    // old pod goes when every node has an available pod.
    let mut old = Vec::new();
    let mut unavailable = 0;
    for node in &nodes {
        for i in live_on(state, node) {
            let pod = &state.pods[i];
            if !available(state, pod, t) {
                unavailable += 1;
            }
            if pod.template_hash != current {
                old.push(i);
            }
        }
    }
    if let Some(&i) = old.iter().find(|&&i| !available(state, &state.pods[i], t)) {
        delete_pod(state, i, t);
        return true;
    }
    if let Some(&i) = old.first() {
        if unavailable == 0 {
            delete_pod(state, i, t);
            return true;
        }
    }
    changed
}

/// Every Deployment's controller (calico-kube-controllers, calico-typha) at `t`.
fn deployment_controller(state: &mut State, t: u64) -> bool {
    let deployments: Vec<Workload> = state.workloads().filter(|w| w.kind == Kind::Deployment).cloned().collect();
    let mut changed = false;
    for deploy in &deployments {
        changed |= one_deployment(state, deploy, t);
    }
    changed
}

/// Recreate: the old ReplicaSets' pods go first, the new one's come when they are all gone;
/// then the new ReplicaSet is kept at `.spec.replicas` (`kubectl scale`): missing pods are
/// created at once, surplus ones deleted.
fn one_deployment(state: &mut State, deploy: &Workload, t: u64) -> bool {
    let current_rs = deploy.revision_name(&deploy.template);
    let ours: Vec<usize> = state.pods.iter().enumerate().filter(|(_, p)| deploy.owns(p)).map(|(i, _)| i).collect();
    let old: Vec<usize> =
        ours.iter().copied().filter(|&i| state.pods[i].owner.as_deref() != Some(&current_rs)).collect();
    let old_live: Vec<usize> = old.iter().copied().filter(|&i| state.pods[i].deleting_at_ms.is_none()).collect();
    if !old_live.is_empty() {
        // Recreate: scale the old ReplicaSet to zero first.
        for i in old_live {
            delete_pod(state, i, t);
        }
        return true;
    }
    if !old.is_empty() {
        // ... and start the new one only when every old pod is gone.
        return false;
    }
    let mut live: Vec<usize> = ours.iter().copied().filter(|&i| state.pods[i].deleting_at_ms.is_none()).collect();
    let wanted = deploy.replicas as usize;
    if live.len() > wanted {
        // Scaled down: the ReplicaSet controller deletes the pods it values least first: not
        // running, then not ready, then the newest.
        live.sort_by_key(|&i| {
            let pod = &state.pods[i];
            let running = t >= pod.running_at_ms;
            (running, ready_condition(state, pod, t), std::cmp::Reverse(pod.created_at_ms), pod.name.clone())
        });
        for &i in &live[..live.len() - wanted] {
            delete_pod(state, i, t);
        }
        return true;
    }
    if live.len() == wanted {
        return false;
    }
    let nodes = state.config.node_names();
    for _ in live.len()..wanted {
        let node = spread(state, deploy, &nodes);
        let pod = new_pod(state, deploy, current_rs.clone(), node, t);
        state.pods.push(pod);
    }
    true
}

/// The node for a Deployment's next pod: one with the fewest of its live pods (the scheduler
/// spreads a ReplicaSet's pods), the first such from a place that moves with the name
/// counter, so a lone replica lands where it always did.
fn spread(state: &State, deploy: &Workload, nodes: &[String]) -> String {
    if nodes.is_empty() {
        return "node-1".to_string();
    }
    let start = (state.name_seq as usize) % nodes.len();
    let load = |node: &str| {
        state
            .pods
            .iter()
            .filter(|p| deploy.owns(p) && p.deleting_at_ms.is_none() && p.node.as_deref() == Some(node))
            .count()
    };
    (0..nodes.len()).map(|k| &nodes[(start + k) % nodes.len()]).min_by_key(|n| load(n)).expect("nodes").clone()
}

/// What `rollout undo` decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Undo {
    /// The template changed; the target revision was re-numbered to `new_number`.
    RolledBack { from: u64, new_number: u64 },
    /// The target's template is already live (N = the `--to-revision` value, 0 if none).
    Skipped,
    /// No `--to-revision` and fewer than two revisions.
    NoPrevious,
    /// `--to-revision=N` not in history.
    NotFound(u64),
}

/// kubectl's rollback: without a revision the second-highest revision (so twice toggles
/// back), with one that revision. An identical template is re-used under number max+1, so
/// the old number disappears from history.
pub fn undo(workload: &mut Workload, to_revision: Option<u64>) -> Undo {
    let mut numbers: Vec<u64> = workload.revisions.iter().map(|r| r.number).collect();
    numbers.sort_unstable();
    let target = match to_revision.filter(|n| *n != 0) {
        None => {
            if numbers.len() < 2 {
                return Undo::NoPrevious;
            }
            numbers[numbers.len() - 2]
        }
        Some(n) => {
            if !numbers.contains(&n) {
                return Undo::NotFound(n);
            }
            n
        }
    };
    let max = workload.max_revision();
    let revision: &mut Revision = workload.revisions.iter_mut().find(|r| r.number == target).expect("target exists");
    if revision.template == workload.template {
        return Undo::Skipped;
    }
    revision.number = max + 1;
    workload.template = revision.template.clone();
    Undo::RolledBack { from: target, new_number: max + 1 }
}

/// A revision (ControllerRevision or ReplicaSet) for a template, named by its hash.
pub fn revision_for(workload: &Workload, template: &Template, number: u64, created_at_ms: u64) -> Revision {
    Revision { number, name: workload.revision_name(template), template: template.clone(), created_at_ms }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::Container;

    fn template(image: &str) -> Template {
        Template { containers: vec![Container { name: "calico-node".into(), image: image.into(), env: vec![] }] }
    }

    fn daemonset() -> Workload {
        let v2 = template("quay.io/calico/node:v2.6.8");
        let v3 = template("quay.io/calico/node:v3.0.4");
        let mut ds = Workload {
            kind: Kind::DaemonSet,
            name: "calico-node".into(),
            namespace: "kube-system".into(),
            strategy: "RollingUpdate".into(),
            replicas: 0,
            template: v3.clone(),
            revisions: vec![],
            created_at_ms: 0,
            stuck: false,
            annotations: Default::default(),
        };
        ds.revisions = vec![revision_for(&ds, &v2, 1, 0), revision_for(&ds, &v3, 2, 10)];
        ds
    }

    fn numbers(ds: &Workload) -> Vec<(u64, String)> {
        let mut v: Vec<(u64, String)> =
            ds.revisions.iter().map(|r| (r.number, r.template.containers[0].image.clone())).collect();
        v.sort();
        v
    }

    #[test]
    fn undo_without_revision_toggles() {
        let mut ds = daemonset();
        assert_eq!(undo(&mut ds, None), Undo::RolledBack { from: 1, new_number: 3 });
        assert_eq!(ds.template.images(), vec!["quay.io/calico/node:v2.6.8"]);
        assert_eq!(
            numbers(&ds),
            vec![(2, "quay.io/calico/node:v3.0.4".to_string()), (3, "quay.io/calico/node:v2.6.8".to_string())]
        );
        // The second undo goes back to v3, which becomes revision 4.
        assert_eq!(undo(&mut ds, None), Undo::RolledBack { from: 2, new_number: 4 });
        assert_eq!(ds.template.images(), vec!["quay.io/calico/node:v3.0.4"]);
        assert_eq!(
            numbers(&ds),
            vec![(3, "quay.io/calico/node:v2.6.8".to_string()), (4, "quay.io/calico/node:v3.0.4".to_string())]
        );
    }

    #[test]
    fn undo_to_revision_renumbers_and_repeating_it_fails() {
        let mut ds = daemonset();
        let name_before = ds.revisions[0].name.clone();
        assert_eq!(undo(&mut ds, Some(1)), Undo::RolledBack { from: 1, new_number: 3 });
        // Same ControllerRevision object, new number: revision 1 is gone.
        assert_eq!(ds.revisions.iter().find(|r| r.number == 3).unwrap().name, name_before);
        assert_eq!(undo(&mut ds, Some(1)), Undo::NotFound(1));
        assert_eq!(undo(&mut ds, Some(3)), Undo::Skipped);
        assert_eq!(ds.template.images(), vec!["quay.io/calico/node:v2.6.8"]);
    }

    #[test]
    fn undo_with_single_revision_has_no_previous() {
        let mut ds = daemonset();
        ds.revisions.retain(|r| r.number == 2);
        assert_eq!(undo(&mut ds, None), Undo::NoPrevious);
        assert_eq!(undo(&mut ds, Some(2)), Undo::Skipped);
    }
}
