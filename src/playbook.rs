//! The documented procedure as data: which tasks each command runs, in which order, each
//! citing the section of "Downgrading Calico" it automates and saying what is safe to do
//! when it fails. [`execute`] runs them until the first failure; no later task runs after it.
//!
//! Orders: the docs' "Downgrading a self-hosted installation" aborts first, then rolls back;
//! `--rollback-first` rolls back and waits before aborting, the order of the Calico
//! troubleshooting page and of calico-upgrade's own prompt ("all calico/node instances ...
//! should be running Calico v2.x").

use serde::Serialize;

use crate::exit::Exit;
use crate::options::Options;
use crate::tasks::{self, Context, Facts, Status, Step, Stop, TaskResult};
use crate::tools::kubectl::WorkloadKind;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Command {
    Plan,
    Run,
    Abort,
    Status,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Task {
    FindTools,
    /// `status` needs only kubectl.
    FindKubectl,
    /// Which cluster kubectl reaches: a kubeconfig, a context, a server.
    FindCluster,
    Inspect,
    PodsAtRisk,
    /// What Calico v2.6 will not read of what v3.0 wrote: only informs.
    NotReadByV26,
    /// Before the first change: every verb the run needs is allowed.
    Preflight,
    /// `abort`: calico/node must not run Calico v3 (unless `--abort-while-v3`).
    CheckNode,
    /// Before the first change: the cluster lock (another run changing the cluster stops this one).
    Lock,
    Abort,
    RollBack(WorkloadKind),
    Wait,
    /// `--stop-typha`: Typha to 0 once calico-node runs v2.6.
    StopTypha,
    Verify,
    /// `status`: one look at the pods.
    ObservePods,
}

impl Task {
    pub fn name(self, options: &Options) -> String {
        match self {
            Task::FindTools | Task::FindKubectl => tasks::find_tools::NAME.to_string(),
            Task::FindCluster => tasks::find_cluster::NAME.to_string(),
            Task::Inspect => tasks::inspect::NAME.to_string(),
            Task::PodsAtRisk => tasks::pods_at_risk::NAME.to_string(),
            Task::NotReadByV26 => tasks::v3_data::NAME.to_string(),
            Task::Preflight => tasks::preflight::NAME.to_string(),
            Task::CheckNode => tasks::abort::CHECK_NODE.to_string(),
            Task::Lock => tasks::lock::NAME.to_string(),
            Task::Abort => tasks::abort::NAME.to_string(),
            Task::RollBack(kind) => tasks::rollback::name(kind, options),
            Task::Wait => tasks::wait::NAME.to_string(),
            Task::StopTypha => tasks::typha::NAME.to_string(),
            Task::Verify => tasks::verify::NAME.to_string(),
            Task::ObservePods => "Observe the pods".to_string(),
        }
    }

    /// The section of the docs (seed `downgrade.md`) the task automates.
    pub fn doc_section(self) -> &'static str {
        match self {
            Task::Abort | Task::CheckNode => "Aborting the upgrade, step 1",
            Task::FindTools | Task::FindKubectl => "Aborting the upgrade, step 2 (the previous calicoctl)",
            Task::RollBack(_) => "Downgrading a self-hosted installation, step 2",
            Task::Wait | Task::ObservePods => "Downgrading a self-hosted installation, step 3",
            Task::StopTypha => "Downgrading a self-hosted installation (what v3.0's manifests added)",
            Task::PodsAtRisk => "Downgrading Calico (pods created after `calico-upgrade complete`)",
            Task::NotReadByV26 => "Downgrading Calico (what v3.0 wrote that v2.6 does not read)",
            Task::Inspect | Task::Verify | Task::Preflight | Task::FindCluster | Task::Lock => {
                "Downgrading a self-hosted installation"
            }
        }
    }

    /// What is safe to do when this task fails.
    pub fn safe_next(self) -> &'static str {
        match self {
            Task::FindTools
            | Task::FindKubectl
            | Task::FindCluster
            | Task::Inspect
            | Task::PodsAtRisk
            | Task::NotReadByV26
            | Task::Preflight
            | Task::CheckNode
            | Task::Lock
            | Task::ObservePods => {
                "nothing was changed; fix the cause and run again"
            }
            Task::Abort => {
                "the abort is idempotent: fix the cause (see the journal for calico-upgrade's full output) and run again"
            }
            Task::RollBack(_) => {
                "running `calico-downgrade run` again is safe: it rolls back to an explicit revision and skips what is done, never toggling back to v3"
            }
            Task::Wait => {
                "the rollback is done; follow the pods with `calico-downgrade status --watch`, or run again to wait again"
            }
            Task::StopTypha => {
                "calico-node runs v2.6 and Typha is not used by it; scale it to 0 with the command above, or run again"
            }
            Task::Verify => "run `calico-downgrade status` to look again",
        }
    }

    /// What is safe to do when a signal stopped this task (Ctrl-C, SIGTERM).
    pub fn safe_next_interrupted(self, command: Command) -> String {
        match (self, command) {
            (_, Command::Status) => "`status` only reads: nothing was changed; run it again when you like".to_string(),
            (_, Command::Plan) => "`plan` only reads: nothing was changed; run it again when you like".to_string(),
            (Task::FindTools | Task::FindKubectl | Task::FindCluster | Task::Inspect | Task::PodsAtRisk | Task::NotReadByV26 | Task::Preflight | Task::CheckNode | Task::Lock | Task::ObservePods, _) => {
                "nothing was changed yet; run the same command again to carry on".to_string()
            }
            (Task::Abort, _) => {
                "`calico-upgrade abort` was stopped before it finished; the abort is idempotent: run the same command again to complete it".to_string()
            }
            (Task::RollBack(_), _) => {
                "the rollback may or may not have been applied; running `calico-downgrade run` again is safe: it reads the template back, skips what is done and never toggles back to v3".to_string()
            }
            (Task::Wait, _) => {
                "the rollback is done and the pods are being replaced; follow them with `calico-downgrade status --watch`".to_string()
            }
            (Task::StopTypha, _) => {
                "`kubectl scale` may or may not have reached the API server; `kubectl get deployment -n NAMESPACE` shows Typha's replicas".to_string()
            }
            (Task::Verify, _) => "run `calico-downgrade status` to look again".to_string(),
        }
    }

    /// The task may change the cluster (not in check mode): the lock guards it.
    fn may_change(self, options: &Options) -> bool {
        match self {
            Task::Abort | Task::RollBack(_) | Task::StopTypha => true,
            // `--replace-pods` deletes pods during the wait.
            Task::Wait => options.replace_pods,
            _ => false,
        }
    }

    fn run(self, ctx: &mut Context) -> TaskResult {
        match self {
            Task::FindTools => tasks::find_tools::run(ctx, true),
            Task::FindKubectl => tasks::find_tools::run(ctx, false),
            Task::FindCluster => tasks::find_cluster::run(ctx),
            Task::Inspect => tasks::inspect::run(ctx),
            Task::PodsAtRisk => tasks::pods_at_risk::run(ctx),
            Task::NotReadByV26 => tasks::v3_data::run(ctx),
            Task::Preflight => tasks::preflight::run(ctx),
            Task::CheckNode => tasks::abort::check_node(ctx),
            Task::Lock => tasks::lock::run(ctx),
            Task::Abort => tasks::abort::run(ctx),
            Task::RollBack(kind) => tasks::rollback::run(ctx, kind),
            Task::Wait => tasks::wait::run(ctx),
            Task::StopTypha => tasks::typha::run(ctx),
            Task::Verify => tasks::verify::run(ctx),
            Task::ObservePods => tasks::status::run(ctx),
        }
    }
}

/// The tasks of a command, in order, in stages: the tasks of a stage all run, and the run stops
/// after a stage in which one failed (the tools and the kubeconfig are checked together, so an
/// operator learns everything to fix at once).
pub fn stages_for(command: Command, options: &Options) -> Vec<Vec<Task>> {
    // The two rollbacks are independent: one stage, their undos run at once, and both are
    // reported even when one fails.
    let mut rollback =
        vec![vec![Task::RollBack(WorkloadKind::DaemonSet), Task::RollBack(WorkloadKind::Deployment)], vec![Task::Wait]];
    if options.stop_typha {
        rollback.push(vec![Task::StopTypha]);
    }
    match command {
        Command::Abort => {
            vec![vec![Task::FindTools, Task::FindCluster], vec![Task::CheckNode], vec![Task::Lock], vec![Task::Abort]]
        }
        Command::Status => {
            vec![vec![Task::FindKubectl, Task::FindCluster], vec![Task::Inspect], vec![Task::ObservePods]]
        }
        Command::Plan | Command::Run => {
            // The pods at risk only inform: a plan shows them with the inspection; a run
            // reports them with the result, their listing having run meanwhile.
            let mut list = vec![vec![Task::FindTools, Task::FindCluster], vec![Task::Inspect]];
            if command == Command::Plan || options.check {
                list.extend([vec![Task::PodsAtRisk], vec![Task::NotReadByV26]]);
            }
            list.extend([vec![Task::Preflight], vec![Task::Lock]]);
            if options.rollback_first {
                list.extend(rollback);
                list.push(vec![Task::Abort]);
            } else {
                list.push(vec![Task::Abort]);
                list.extend(rollback);
            }
            // Check mode verifies nothing: no task for it.
            if !(command == Command::Plan || options.check) {
                list.extend([vec![Task::PodsAtRisk], vec![Task::NotReadByV26]]);
                list.push(vec![Task::Verify]);
            }
            list
        }
    }
}

/// The tasks of a command, in order.
pub fn tasks_for(command: Command, options: &Options) -> Vec<Task> {
    stages_for(command, options).into_iter().flatten().collect()
}

/// The failed task, with the advice the report prints.
#[derive(Debug, Clone, Serialize)]
pub struct Failure {
    pub task: String,
    pub message: String,
    pub details: Vec<String>,
    pub safe_next: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub command: Command,
    pub check: bool,
    pub steps: Vec<Step>,
    /// Tasks not run because an earlier one failed.
    pub not_run: Vec<String>,
    pub exit: Exit,
    /// Every task that failed, in order (more than one only within one stage); the run's exit
    /// code is the first one's.
    pub failures: Vec<Failure>,
    pub facts: Facts,
}

impl Outcome {
    /// The first failure: the one the exit code tells.
    pub fn failure(&self) -> Option<&Failure> {
        self.failures.first()
    }
}

/// Run the stages of `command` in order, stopping after the first one in which a task failed.
pub fn execute(command: Command, ctx: &mut Context) -> Outcome {
    let options = ctx.options;
    let stages = stages_for(command, options);
    let list: Vec<Task> = stages.iter().flatten().copied().collect();
    // The inspection starts what later tasks need (their commands depend on nothing it reads,
    // or are checked against it when it is done): one round trip instead of three.
    ctx.ahead = tasks::Ahead {
        preflight: list.contains(&Task::Preflight),
        lock: list.contains(&Task::Lock) && !options.check && list.contains(&Task::Inspect),
        calico_lists: list.contains(&Task::NotReadByV26),
        pods_page: list.contains(&Task::PodsAtRisk) && list.contains(&Task::Inspect),
    };
    // After the last task that may change the cluster, the lock has nothing left to guard.
    let last_change = list.iter().rposition(|task| task.may_change(options));
    let mut steps = Vec::new();
    let mut failures = Vec::new();
    let mut exit = Exit::Done;
    let mut not_run = Vec::new();
    let mut index = 0;
    for stage in &stages {
        for task in stage {
            let name = task.name(options);
            ctx.observer.task_started(&name);
            let mut result = task.run(ctx);
            if *task == Task::Inspect && matches!(command, Command::Run | Command::Plan) {
                result = result.and_then(|done| tasks::inspect::require_calico_upgrade(ctx).map(|()| done));
                result = result.and_then(|done| tasks::managers::require_no_reconciler(ctx).map(|()| done));
            }
            let commands = ctx.take_commands();
            let step = match result {
                Ok(done) => {
                    // A task says `changed` only from what it observed (or, in check mode, would).
                    if done.status == Status::Changed {
                        ctx.facts.changed = true;
                    }
                    Step {
                        name,
                        status: done.status,
                        message: done.message,
                        summary: done.summary,
                        details: done.details,
                        commands,
                    }
                }
                Err(Stop { exit: stop_exit, message, details, safe_next }) => {
                    if failures.is_empty() {
                        exit = stop_exit;
                    }
                    let mut safe_next = safe_next.unwrap_or_else(|| {
                        if stop_exit == Exit::Interrupted {
                            task.safe_next_interrupted(command)
                        } else {
                            task.safe_next().to_string()
                        }
                    });
                    // With --rollback-first the abort comes last: say so when it never ran.
                    if list[index + 1..].contains(&Task::Abort)
                        && list[..index].iter().any(|t| matches!(t, Task::RollBack(_)))
                    {
                        safe_next.push_str(
                            "; the data migration has not been aborted yet: run `calico-downgrade abort` once every calico/node pod runs Calico v2.x",
                        );
                    }
                    failures.push(Failure {
                        task: name.clone(),
                        message: message.clone(),
                        details: details.clone(),
                        safe_next,
                    });
                    Step { name, status: Status::Failed, message, summary: Vec::new(), details, commands }
                }
            };
            ctx.observer.task_finished(&step);
            // The task's whole result, beside its commands: the screen shows less.
            ctx.exec.note(
                "step",
                serde_json::json!({
                    "name": step.name, "status": step.status, "message": step.message,
                    "summary": step.summary, "details": step.details,
                }),
            );
            steps.push(step);
            index += 1;
        }
        if !failures.is_empty() {
            not_run = list[index..].iter().map(|t| t.name(options)).collect();
            break;
        }
        if last_change.is_some_and(|last| last < index) {
            tasks::lock::start_release(ctx);
        }
    }
    // A lock create started ahead that no task took (the run ended before): released below.
    tasks::lock::settle_ahead(ctx);
    // What runs in the background and was not collected is stopped and journaled.
    ctx.settle_background();
    // The cluster lock, if this run took it: released however the run ended.
    if let Some(step) = tasks::lock::release(ctx) {
        ctx.observer.task_started(&step.name);
        ctx.observer.task_finished(&step);
        steps.push(step);
    }
    if failures.is_empty() && command == Command::Status {
        // `status` exits 1 when the pods have not converged.
        let converged = ctx.facts.progress.as_deref().is_some_and(crate::convergence::all_converged);
        if !converged {
            exit = Exit::StepFailed;
        }
    }
    // A change was made: exit 3 ("nothing was changed") would not be true any more.
    if exit == Exit::Precondition && !options.check && (ctx.facts.changed || !ctx.facts.may_have_changed.is_empty()) {
        exit = Exit::StepFailed;
    }
    Outcome { command, check: options.check, steps, not_run, exit, failures, facts: ctx.facts.clone() }
}
