//! The JSON report: one document on stdout at the end of every command, also on failure.
//! Its top level is a valid Ansible module result (`changed`, `failed`, `rc`, `msg`); the rest
//! is described in the README ("JSON output").

use serde::Serialize;

use super::{summary_message, Recap};
use crate::cluster::Workload;
use crate::convergence::Progress;
use crate::playbook::{Command, Failure, Outcome};
use crate::tasks::{Step, Tools};
use crate::tools::calico_upgrade::Migration;
use crate::tools::kubectl::{PodStatus, PodSummary};

#[derive(Serialize)]
pub struct Document<'a> {
    /// Whether the cluster changed; in check mode (`run --check`, Ansible's check mode) whether
    /// it would. `plan` and `status` change nothing: always false for them.
    pub changed: bool,
    /// Changes that could neither be confirmed nor ruled out (a mutating command failed or was
    /// interrupted and the state could not be read back), each saying what to check.
    pub may_have_changed: &'a [String],
    /// Whether carrying the downgrade out would change the cluster (check mode and `plan`).
    pub would_change: Option<bool>,
    pub failed: bool,
    pub rc: i32,
    pub msg: String,
    pub command: Command,
    pub check_mode: bool,
    pub recap: Recap,
    pub steps: &'a [Step],
    pub not_run: &'a [String],
    /// The failure the exit code tells (the first).
    pub failure: Option<&'a Failure>,
    /// Every task that failed (more than one when tasks of one stage failed together: a tool
    /// and the kubeconfig, say).
    pub failures: &'a [Failure],
    pub tools: &'a Tools,
    /// Which cluster and datastore: kubectl's context, server and user, calico-upgrade's
    /// configuration (`destination::Destination`).
    pub cluster: Option<&'a crate::destination::Destination>,
    pub state_before: Option<StateBefore<'a>>,
    pub state_after: StateAfter<'a>,
    pub pods: Option<&'a [PodStatus]>,
    pub pods_at_risk: Option<&'a [PodSummary]>,
    /// What Calico v2.6 will not read or enforce of what v3.0 wrote (README "JSON output");
    /// null when it was not looked at.
    pub not_read_by_v2_6: Option<&'a crate::tasks::v3_data::NotRead>,
    /// Who else manages the workloads and may put v3.0 back (`reconcilers::Reconcilers`):
    /// `found` (kind, continuous, objects, evidence, name, first), `jobs_not_checked`
    /// (reason, command), `overridden`; `null` before the inspection.
    pub reconcilers: Option<&'a crate::reconcilers::Reconcilers>,
    pub journal: Option<&'a str>,
    /// Ansible's `diff`, only when the module was asked for it (`_ansible_diff`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diff: Option<Vec<super::diff::FileDiff>>,
}

#[derive(Serialize)]
pub struct StateBefore<'a> {
    /// Every field of the pod templates the rollback changes, per workload.
    pub template_changes: &'a [crate::tasks::TemplateChanges],
    /// The revisions live before the run, the commands that put the workloads back there, and
    /// what they cannot undo (the abort).
    pub way_back: &'a crate::tasks::WayBack,
    pub state: crate::cluster::UpgradeState,
    pub datastore: crate::cluster::Datastore,
    pub daemonset: &'a Workload,
    pub deployment: Option<&'a Workload>,
    pub daemonset_plan: &'a crate::cluster::RollbackPlan,
    pub deployment_plan: Option<&'a crate::cluster::RollbackPlan>,
    pub migration: Option<&'a Migration>,
    /// The namespace's other Calico workloads (Typha): the rollback does not touch them.
    pub others: &'a [crate::tasks::OtherWorkload],
    /// What `calico-config` holds that the rollback does not change (the CNI configuration).
    pub calico_config: Option<&'a crate::tasks::CalicoConfig>,
}

#[derive(Serialize)]
pub struct StateAfter<'a> {
    /// `None` when the pods were not observed (failure before the wait, check mode, `abort`).
    pub converged: Option<bool>,
    pub workloads: Option<&'a [Progress]>,
    /// How the wait went (`None` when there was none): its limits, when something last
    /// advanced and what, why it gave up, each workload's pace.
    pub wait: Option<&'a crate::pace::Record>,
    pub migration: Option<&'a Migration>,
}

pub fn document<'a>(outcome: &'a Outcome, journal: Option<&'a str>) -> Document<'a> {
    let facts = &outcome.facts;
    let state_before = facts.cluster.as_ref().map(|cluster| StateBefore {
        state: cluster.state,
        datastore: cluster.datastore,
        daemonset: &cluster.daemonset,
        deployment: cluster.deployment.as_ref(),
        daemonset_plan: &cluster.daemonset_plan,
        deployment_plan: cluster.deployment_plan.as_ref(),
        migration: facts.migration_before.as_ref(),
        template_changes: &cluster.template_changes,
        way_back: &cluster.way_back,
        others: &cluster.others,
        calico_config: cluster.calico_config.as_ref(),
    });
    let read_only = matches!(outcome.command, Command::Plan | Command::Status);
    Document {
        changed: facts.changed && !read_only,
        may_have_changed: &facts.may_have_changed,
        would_change: outcome.check.then_some(facts.changed),
        failed: outcome.exit != crate::exit::Exit::Done,
        rc: outcome.exit.code(),
        msg: summary_message(outcome),
        command: outcome.command,
        check_mode: outcome.check,
        recap: Recap::of(outcome),
        steps: &outcome.steps,
        not_run: &outcome.not_run,
        failure: outcome.failure(),
        failures: &outcome.failures,
        tools: &facts.tools,
        cluster: facts.destination.as_ref(),
        state_before,
        state_after: StateAfter {
            converged: facts.progress.as_deref().map(crate::convergence::all_converged),
            workloads: facts.progress.as_deref(),
            wait: facts.wait.as_ref(),
            migration: facts.migration_after.as_ref().or(facts.migration_before.as_ref()),
        },
        pods: facts.pods.as_deref(),
        pods_at_risk: facts.pods_at_risk.as_deref(),
        not_read_by_v2_6: facts.not_read_by_v2_6.as_ref(),
        reconcilers: facts.reconcilers.as_ref(),
        journal,
        diff: None,
    }
}

/// `diff`: with Ansible's `diff` ([`super::diff`]).
pub fn render(outcome: &Outcome, journal: Option<&str>, diff: bool) -> String {
    let document = Document { diff: diff.then(|| super::diff::of(outcome)), ..document(outcome, journal) };
    serde_json::to_string_pretty(&document).expect("the report always serializes")
}
