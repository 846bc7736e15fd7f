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
    Inspect,
    PodsAtRisk,
    /// Before the first change: every verb the run needs is allowed.
    Preflight,
    /// `abort`: calico/node must not run Calico v3 (unless `--abort-while-v3`).
    CheckNode,
    Abort,
    RollBack(WorkloadKind),
    Wait,
    Verify,
    /// `status`: one look at the pods.
    ObservePods,
}

impl Task {
    pub fn name(self, options: &Options) -> String {
        match self {
            Task::FindTools | Task::FindKubectl => tasks::find_tools::NAME.to_string(),
            Task::Inspect => tasks::inspect::NAME.to_string(),
            Task::PodsAtRisk => tasks::pods_at_risk::NAME.to_string(),
            Task::Preflight => tasks::preflight::NAME.to_string(),
            Task::CheckNode => tasks::abort::CHECK_NODE.to_string(),
            Task::Abort => tasks::abort::NAME.to_string(),
            Task::RollBack(kind) => tasks::rollback::name(kind, options),
            Task::Wait => tasks::wait::NAME.to_string(),
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
            Task::PodsAtRisk => "Downgrading Calico (pods created after `calico-upgrade complete`)",
            Task::Inspect | Task::Verify | Task::Preflight => "Downgrading a self-hosted installation",
        }
    }

    /// What is safe to do when this task fails.
    pub fn safe_next(self) -> &'static str {
        match self {
            Task::FindTools
            | Task::FindKubectl
            | Task::Inspect
            | Task::PodsAtRisk
            | Task::Preflight
            | Task::CheckNode
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
            Task::Verify => "run `calico-downgrade status` to look again",
        }
    }

    /// What is safe to do when a signal stopped this task (Ctrl-C, SIGTERM).
    pub fn safe_next_interrupted(self, command: Command) -> String {
        match (self, command) {
            (_, Command::Status) => "`status` only reads: nothing was changed; run it again when you like".to_string(),
            (_, Command::Plan) => "`plan` only reads: nothing was changed; run it again when you like".to_string(),
            (Task::FindTools | Task::FindKubectl | Task::Inspect | Task::PodsAtRisk | Task::Preflight | Task::CheckNode | Task::ObservePods, _) => {
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
            (Task::Verify, _) => "run `calico-downgrade status` to look again".to_string(),
        }
    }

    fn run(self, ctx: &mut Context) -> TaskResult {
        match self {
            Task::FindTools => tasks::find_tools::run(ctx, true),
            Task::FindKubectl => tasks::find_tools::run(ctx, false),
            Task::Inspect => tasks::inspect::run(ctx),
            Task::PodsAtRisk => tasks::pods_at_risk::run(ctx),
            Task::Preflight => tasks::preflight::run(ctx),
            Task::CheckNode => tasks::abort::check_node(ctx),
            Task::Abort => tasks::abort::run(ctx),
            Task::RollBack(kind) => tasks::rollback::run(ctx, kind),
            Task::Wait => tasks::wait::run(ctx),
            Task::Verify => tasks::verify::run(ctx),
            Task::ObservePods => tasks::status::run(ctx),
        }
    }
}

/// The tasks of a command, in order.
pub fn tasks_for(command: Command, options: &Options) -> Vec<Task> {
    let rollback = [Task::RollBack(WorkloadKind::DaemonSet), Task::RollBack(WorkloadKind::Deployment), Task::Wait];
    match command {
        Command::Abort => vec![Task::FindTools, Task::CheckNode, Task::Abort],
        Command::Status => vec![Task::FindKubectl, Task::Inspect, Task::ObservePods],
        Command::Plan | Command::Run => {
            let mut list = vec![Task::FindTools, Task::Inspect, Task::PodsAtRisk, Task::Preflight];
            if options.rollback_first {
                list.extend(rollback);
                list.push(Task::Abort);
            } else {
                list.push(Task::Abort);
                list.extend(rollback);
            }
            list.push(Task::Verify);
            list
        }
    }
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
    pub failure: Option<Failure>,
    pub facts: Facts,
}

/// Run the tasks of `command` in order, stopping at the first failure.
pub fn execute(command: Command, ctx: &mut Context) -> Outcome {
    let options = ctx.options;
    let list = tasks_for(command, options);
    let mut steps = Vec::new();
    let mut failure = None;
    let mut exit = Exit::Done;
    let mut not_run = Vec::new();
    for (index, task) in list.iter().enumerate() {
        let name = task.name(options);
        ctx.observer.task_started(&name);
        let mut result = task.run(ctx);
        if *task == Task::Inspect && matches!(command, Command::Run | Command::Plan) {
            result = result.and_then(|done| tasks::inspect::require_calico_upgrade(ctx).map(|()| done));
        }
        let commands = ctx.take_commands();
        let step = match result {
            Ok(done) => {
                // A task says `changed` only from what it observed (or, in check mode, would).
                if done.status == Status::Changed {
                    ctx.facts.changed = true;
                }
                Step { name, status: done.status, message: done.message, details: done.details, commands }
            }
            Err(Stop { exit: stop_exit, message, details, safe_next }) => {
                exit = stop_exit;
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
                failure =
                    Some(Failure { task: name.clone(), message: message.clone(), details: details.clone(), safe_next });
                Step { name, status: Status::Failed, message, details, commands }
            }
        };
        ctx.observer.task_finished(&step);
        let failed = step.status == Status::Failed;
        steps.push(step);
        if failed {
            not_run = list[index + 1..].iter().map(|t| t.name(options)).collect();
            break;
        }
    }
    if failure.is_none() && command == Command::Status {
        // `status` exits 1 when the pods have not converged.
        let converged = ctx.facts.progress.as_deref().is_some_and(crate::convergence::all_converged);
        if !converged {
            exit = Exit::StepFailed;
        }
    }
    Outcome { command, check: options.check, steps, not_run, exit, failure, facts: ctx.facts.clone() }
}
