//! What the run has learned so far ([`Facts`]): the tools found, the cluster as inspected and
//! the decisions taken from it, the last look at the pods. Each task adds to it.

use std::path::PathBuf;

use serde::Serialize;

use crate::cluster::{Datastore, RollbackPlan, UpgradeState, Workload};
use crate::convergence::{Progress, Target};
use crate::tools::calico_upgrade::Migration;
use crate::tools::calicoctl::CalicoctlVersion;
use crate::tools::kubectl::{Kubectl, PodStatus, PodSummary, WorkloadStatus};

/// The tools as found and checked.
#[derive(Debug, Clone, Serialize)]
pub struct FoundTool {
    pub path: PathBuf,
    pub version: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Tools {
    pub kubectl: Option<FoundTool>,
    pub calicoctl: Option<FoundTool>,
    pub calico_upgrade: Option<FoundTool>,
    /// Every calicoctl on PATH (and the chosen one), with what `calicoctl version` said.
    pub calicoctls: Vec<CalicoctlSeen>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CalicoctlSeen {
    pub path: PathBuf,
    /// Flattened: `version` is the client version string, as in `tools.calicoctl`.
    #[serde(flatten)]
    pub version: CalicoctlVersion,
}

/// The cluster as inspected, and the decisions taken from it.
#[derive(Debug, Clone, Serialize)]
pub struct Cluster {
    pub datastore: Datastore,
    pub state: UpgradeState,
    pub daemonset: Workload,
    pub deployment: Option<Workload>,
    pub daemonset_plan: RollbackPlan,
    pub deployment_plan: Option<RollbackPlan>,
    /// Per workload the rollback changes: every field of the pod template it changes.
    pub template_changes: Vec<TemplateChanges>,
    /// The commands that put the workloads back where they were before the run (a rollback to
    /// the revision that was live), and what cannot be undone.
    pub way_back: WayBack,
    /// Every other workload of the namespace that runs a Calico image (Typha, say): the
    /// rollback does not touch them.
    pub others: Vec<OtherWorkload>,
    /// What `calico-config` holds that the rollback does not change.
    pub calico_config: Option<CalicoConfig>,
}

/// A Calico workload of the namespace that the rollback does not touch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OtherWorkload {
    pub kind: crate::tools::kubectl::WorkloadKind,
    pub name: String,
    /// Desired pods (a Deployment's replicas, a DaemonSet's scheduled count).
    pub desired: u32,
    pub images: Vec<String>,
    /// The newest Calico release its images belong to (`v3.0`), when it can be told.
    pub release: Option<String>,
    /// It runs `calico/typha`: Calico v2.6 does not use it.
    pub typha: bool,
}

impl OtherWorkload {
    /// `deployment/calico-typha`.
    pub fn reference(&self) -> String {
        format!("{}/{}", self.kind.resource(), self.name)
    }

    /// `2 replicas`, `1 pod`: its size as its kind counts it.
    pub fn size(&self) -> String {
        let noun = match self.kind {
            crate::tools::kubectl::WorkloadKind::DaemonSet => "pod",
            crate::tools::kubectl::WorkloadKind::Deployment => "replica",
        };
        format!("{} {noun}{}", self.desired, if self.desired == 1 { "" } else { "s" })
    }

    /// It runs pods on Calico v3 images: what the run leaves on v3.
    pub fn runs_v3(&self) -> bool {
        self.desired > 0 && crate::calico::newest_release(&self.images).is_some_and(|r| r >= (3, 0))
    }
}

/// `calico-config` (the ConfigMap the calico-node template reads its CNI configuration from).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CalicoConfig {
    /// The ConfigMap's name and the key of the CNI configuration (`cni_network_config`).
    pub name: String,
    pub cni_key: String,
    /// The CNI configuration's shape; `None` when it was not read (`unread` says why).
    pub cni: Option<crate::calico::CniConfig>,
    /// `typha_service_name`, when the ConfigMap has it (Calico v3.0's KDD manifests).
    pub typha_service_name: Option<String>,
    pub unread: Option<String>,
}

impl CalicoConfig {
    /// It holds Calico v3.0's CNI conflist, which v2.6 would install as `10-calico.conf`.
    pub fn holds_v3_conflist(&self) -> bool {
        matches!(self.cni, Some(crate::calico::CniConfig::Conflist { .. }))
    }

    /// The way out of a v3.0 conflist, for `it` (the ConfigMap, as the sentence names it):
    /// `rolled_back`, the templates run v2.6 already, so the pods must be restarted too.
    pub fn conflist_step(it: &str, rolled_back: bool) -> String {
        if rolled_back {
            format!("re-apply {it} from your v2.6 manifest, restart calico-node's pods, remove 10-calico.conflist on each node")
        } else {
            format!("re-apply {it} from your v2.6 manifest before the rollback, then delete 10-calico.conflist on each node")
        }
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct TemplateChanges {
    /// `ds/calico-node`.
    pub workload: String,
    pub from_revision: u64,
    pub to_revision: u64,
    pub changes: Vec<String>,
    /// The pod template's containers before (the live revision) and after (the target).
    pub before: Vec<crate::cluster::ContainerSummary>,
    pub after: Vec<crate::cluster::ContainerSummary>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct WayBack {
    /// Per workload rolled back: the revision live before the run.
    pub live_revisions: Vec<LiveRevision>,
    pub commands: Vec<String>,
    /// What no command here undoes (the abort).
    pub cannot_undo: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct LiveRevision {
    pub workload: String,
    pub revision: u64,
    pub images: Vec<String>,
}

impl Cluster {
    /// What the workloads must look like at the end (`convergence::targets`).
    pub fn targets(&self) -> Vec<Target> {
        let deployment = self.deployment.as_ref().zip(self.deployment_plan.as_ref());
        crate::convergence::targets((&self.daemonset, &self.daemonset_plan), deployment)
    }
}

/// What the run has learned so far; each task adds to it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Facts {
    pub tools: Tools,
    #[serde(skip)]
    pub kubectl: Option<Kubectl>,
    #[serde(skip)]
    pub calico_upgrade_version: Option<semver::Version>,
    pub cluster: Option<Cluster>,
    pub pods_at_risk: Option<Vec<PodSummary>>,
    /// What Calico v2.6 will not read or enforce of what v3.0 wrote (`v3_data`).
    pub not_read_by_v2_6: Option<super::v3_data::NotRead>,
    /// Who else manages the workloads (the addon manager, Argo CD, Flux, kops, Helm), read by
    /// the inspection.
    pub reconcilers: Option<crate::reconcilers::Reconcilers>,
    pub migration_before: Option<Migration>,
    pub migration_after: Option<Migration>,
    /// The last observation of the namespace's pods, and the verdict on it.
    pub pods: Option<Vec<PodStatus>>,
    pub progress: Option<Vec<Progress>>,
    /// Which cluster and datastore the run acts on (`kubectl config view --minify`).
    pub destination: Option<crate::destination::Destination>,
    /// The last live rollout status of the workloads the wait read.
    pub rollout: Option<Vec<WorkloadStatus>>,
    /// How the wait went: its limits, its last progress, why it gave up, each workload's pace.
    pub wait: Option<crate::pace::Record>,
    /// What blocked the rollout during the wait, each named once.
    #[serde(skip)]
    pub blockers: Vec<crate::blockers::Blocker>,
    /// Whether any task changed the cluster (or, in check mode, would): only from what was
    /// observed (a mutating command that said so and a state read back), never from a command
    /// merely having been started.
    pub changed: bool,
    /// Changes that could not be confirmed or ruled out (a mutating command failed or was
    /// interrupted and the state could not be read back), each saying what to check.
    pub may_have_changed: Vec<String>,
}
