//! When is the downgrade done? A pure judgement over the pods kubectl listed.
//!
//! Running pods are not proof (SPEC §1.4): right after `rollout undo` the old pods are all
//! still Running; with an OnDelete DaemonSet they stay so forever; v3 calico-node reads `1/2`
//! before `calico-upgrade complete`. A workload has converged when its live rollout status says
//! the rollout is complete (what `kubectl rollout status` checks: the controller saw the latest
//! template, every desired pod updated and available), AND every pod it owns that is not being
//! deleted is Running with its `Ready` condition True on exactly the target images, as many as
//! the live desired count (nodes join and leave during a wait).

use serde::Serialize;

use crate::cluster::{same_images, RollbackPlan, Workload};
use crate::tools::kubectl::{PodStatus, WorkloadKind, WorkloadStatus};

/// What one workload must look like when the downgrade is done.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Target {
    pub kind: WorkloadKind,
    pub name: String,
    pub desired: u32,
    pub images: Vec<String>,
}

/// What the workloads must look like at the end: the rollback target's images, or the live
/// ones when a workload is already there.
pub fn targets(daemonset: (&Workload, &RollbackPlan), deployment: Option<(&Workload, &RollbackPlan)>) -> Vec<Target> {
    let target = |kind, (workload, plan): (&Workload, &RollbackPlan)| Target {
        kind,
        name: workload.name.clone(),
        desired: workload.desired,
        images: match plan {
            RollbackPlan::RollBack { images, .. } => images.clone(),
            RollbackPlan::AlreadyThere => workload.images.clone(),
        },
    };
    std::iter::once(target(WorkloadKind::DaemonSet, daemonset))
        .chain(deployment.map(|d| target(WorkloadKind::Deployment, d)))
        .collect()
}

impl Target {
    /// DaemonSet pods name the DaemonSet as owner; Deployment pods name a ReplicaSet called
    /// `<deployment>-<pod-template-hash>`.
    pub fn owns(&self, pod: &PodStatus) -> bool {
        let Some(owner) = pod.owner.as_deref() else { return false };
        match self.kind {
            WorkloadKind::DaemonSet => owner == self.name,
            WorkloadKind::Deployment => owner
                .strip_prefix(&self.name)
                .and_then(|rest| rest.strip_prefix('-'))
                .is_some_and(|hash| !hash.is_empty() && hash.bytes().all(|b| b.is_ascii_alphanumeric())),
        }
    }
}

/// How far one workload has come.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Progress {
    pub kind: WorkloadKind,
    pub name: String,
    pub desired: u32,
    /// Pods Running and ready on the target images.
    pub ready: u32,
    /// Their names (for the pace: a pod that became ready is counted once, whatever the order
    /// in which a fresh list shows the pods). Not in the report: the count says it.
    #[serde(skip)]
    pub ready_names: Vec<String>,
    /// Pods still on other images (name, node), e.g. v3 pods under an OnDelete DaemonSet.
    pub on_other_images: Vec<PodRef>,
    /// Pods on the target images that are not (yet) Running and ready, or being deleted.
    pub not_ready: Vec<PodRef>,
    /// Why the live rollout status is not complete yet (`None`: complete, or not looked at).
    pub rollout: Option<String>,
    pub converged: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PodRef {
    pub name: String,
    pub node: Option<String>,
    pub images: Vec<String>,
}

impl From<&PodStatus> for PodRef {
    fn from(pod: &PodStatus) -> Self {
        PodRef { name: pod.name.clone(), node: pod.node.clone(), images: pod.images.clone() }
    }
}

pub fn judge_one<'a>(target: &Target, pods: impl IntoIterator<Item = &'a PodStatus>) -> Progress {
    let mut ready = 0;
    let mut ready_names = Vec::new();
    let mut on_other_images = Vec::new();
    let mut not_ready = Vec::new();
    for pod in pods.into_iter().filter(|pod| target.owns(pod)) {
        if !same_images(&pod.images, &target.images) {
            on_other_images.push(PodRef::from(pod));
        } else if pod.is_running_and_ready() {
            ready += 1;
            ready_names.push(pod.name.clone());
        } else {
            not_ready.push(PodRef::from(pod));
        }
    }
    let converged = on_other_images.is_empty() && not_ready.is_empty() && ready == target.desired;
    Progress {
        kind: target.kind,
        name: target.name.clone(),
        desired: target.desired,
        ready,
        ready_names,
        on_other_images,
        not_ready,
        rollout: None,
        converged,
    }
}

/// Judge every target against the live rollout status as well as the pods: each target's
/// desired count is the live one, and its rollout must be complete.
pub fn judge_live<'a, I>(targets: &[Target], statuses: &[WorkloadStatus], pods: I) -> Vec<Progress>
where
    I: IntoIterator<Item = &'a PodStatus>,
    I::IntoIter: Clone,
{
    let pods = pods.into_iter();
    targets
        .iter()
        .map(|target| {
            let status = statuses.iter().find(|s| s.kind == target.kind && s.name == target.name);
            let live = Target { desired: status.map_or(target.desired, |s| s.desired), ..target.clone() };
            let mut progress = judge_one(&live, pods.clone());
            progress.rollout = match status {
                Some(status) => status.incomplete(),
                None => Some("not in the rollout status".to_string()),
            };
            progress.converged &= progress.rollout.is_none();
            progress
        })
        .collect()
}

/// What a view of the pods says before the rollout status is read: every pod seen on the
/// target images and ready. The count is not judged here: only the live rollout status knows
/// how many are desired now (a node may have joined or left). Only a candidate.
pub fn looks_done(progress: &[Progress]) -> bool {
    progress.iter().all(|p| p.on_other_images.is_empty() && p.not_ready.is_empty() && p.ready > 0)
}

/// The targets with the live desired counts of the last rollout status seen.
pub fn with_live_desired(targets: &[Target], statuses: &[WorkloadStatus]) -> Vec<Target> {
    targets
        .iter()
        .map(|t| {
            let live = statuses.iter().find(|s| s.kind == t.kind && s.name == t.name);
            Target { desired: live.map_or(t.desired, |s| s.desired), ..t.clone() }
        })
        .collect()
}

/// Judge every target over the same pods (a slice, or the live rows of a watch's view,
/// without copying them).
pub fn judge<'a, I>(targets: &[Target], pods: I) -> Vec<Progress>
where
    I: IntoIterator<Item = &'a PodStatus>,
    I::IntoIter: Clone,
{
    let pods = pods.into_iter();
    targets.iter().map(|target| judge_one(target, pods.clone())).collect()
}

pub fn all_converged(progress: &[Progress]) -> bool {
    progress.iter().all(|p| p.converged)
}

/// `calico-node 2/3 ready on target images, calico-kube-controllers 1/1`: one line for the
/// progress display and the report.
pub fn summary(progress: &[Progress]) -> String {
    summary_paced(progress, &[])
}

/// [`summary`] with each workload's pace where one is known (`paces` in the order of
/// `progress`): `calico-node 120/300 (180 on v3.0 images; 8/min, about 22 min left)`.
pub fn summary_paced(progress: &[Progress], paces: &[Option<String>]) -> String {
    progress
        .iter()
        .enumerate()
        .map(|(index, p)| {
            let mut line = format!("{} {}/{}", p.name, p.ready, p.desired);
            // `(3 on v3.0 images)`: the release the pods are still on, by name.
            let mut groups: Vec<(String, usize)> = Vec::new();
            for pod in &p.on_other_images {
                let label = crate::calico::on_images(&pod.images);
                match groups.iter_mut().find(|(l, _)| *l == label) {
                    Some((_, count)) => *count += 1,
                    None => groups.push((label, 1)),
                }
            }
            let mut parts: Vec<String> = Vec::new();
            if !groups.is_empty() {
                parts.push(
                    groups.iter().map(|(label, count)| format!("{count} {label}")).collect::<Vec<_>>().join(", "),
                );
            }
            if let Some(Some(pace)) = paces.get(index) {
                parts.push(pace.clone());
            }
            if !parts.is_empty() {
                line.push_str(&format!(" ({})", parts.join("; ")));
            }
            // The pods are all there but the workload's own status has not caught up: said
            // without a second count that would contradict the first (the reason is in the
            // exit-4 report).
            if p.rollout.is_some() && p.on_other_images.is_empty() && p.ready >= p.desired {
                line.push_str(", its rollout status not complete yet");
            }
            line
        })
        .collect::<Vec<_>>()
        .join(", ")
}
