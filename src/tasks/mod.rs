//! The tasks of the playbook, one file each: observe (read-only commands and parsers), decide
//! (a pure function), act (only if needed, never in check mode) and verify.
//!
//! A task returns [`Done`] (ok, changed or skipped, with what it observed) or [`Stop`] (the
//! exit code from the table and a message naming the command and the cause). [`Context`] runs
//! commands for the tasks, turning every way a command can fail into a `Stop`, recording each
//! command for the report, and carrying the [`Facts`] learned so far from task to task.

pub mod abort;
pub mod find_tools;
pub mod inspect;
pub mod pods_at_risk;
pub mod rollback;
pub mod status;
pub mod verify;
pub mod wait;

use std::ffi::OsString;
use std::path::PathBuf;

use serde::Serialize;

use crate::cluster::{Datastore, RollbackPlan, UpgradeState, Workload};
use crate::convergence::Progress;
use crate::exec::{Effect, Exec, ExecError, Invocation, Output};
use crate::exit::Exit;
use crate::options::Options;
use crate::tools::calico_upgrade::Migration;
use crate::tools::calicoctl::CalicoctlVersion;
use crate::tools::kubectl::{Kubectl, PodStatus, PodSummary};
use crate::tools::{excerpt, Unrecognised};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Changed,
    Skipped,
    Failed,
}

impl Status {
    pub fn word(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Changed => "changed",
            Status::Skipped => "skipped",
            Status::Failed => "failed",
        }
    }
}

/// One command as the report shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CommandRecord {
    /// The one spelling of the command (`Invocation`'s `Display`).
    pub command: String,
    pub argv: Vec<String>,
    pub effect: Effect,
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    pub duration_ms: u64,
    /// Why it could not run to completion, if so.
    pub error: Option<String>,
    /// Planned only (check mode): shown, not run.
    pub planned: bool,
}

/// A finished task, as the report shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Step {
    pub name: String,
    pub status: Status,
    pub message: String,
    pub details: Vec<String>,
    pub commands: Vec<CommandRecord>,
}

/// A task reached its goal (or had nothing to do).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Done {
    pub status: Status,
    pub message: String,
    pub details: Vec<String>,
}

impl Done {
    pub fn ok(message: impl Into<String>) -> Done {
        Done { status: Status::Ok, message: message.into(), details: Vec::new() }
    }
    pub fn changed(message: impl Into<String>) -> Done {
        Done { status: Status::Changed, message: message.into(), details: Vec::new() }
    }
    pub fn skipped(message: impl Into<String>) -> Done {
        Done { status: Status::Skipped, message: message.into(), details: Vec::new() }
    }
    pub fn with_details(mut self, details: Vec<String>) -> Done {
        self.details = details;
        self
    }
}

/// A task could not reach its goal: the run ends here with `exit`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stop {
    pub exit: Exit,
    pub message: String,
    pub details: Vec<String>,
    /// What is safe to do next, when the task's general advice does not fit this failure.
    pub safe_next: Option<String>,
}

impl Stop {
    pub fn new(exit: Exit, message: impl Into<String>) -> Stop {
        Stop { exit, message: message.into(), details: Vec::new(), safe_next: None }
    }
    pub fn with_details(mut self, details: Vec<String>) -> Stop {
        self.details = details;
        self
    }
    pub fn with_safe_next(mut self, safe_next: impl Into<String>) -> Stop {
        self.safe_next = Some(safe_next.into());
        self
    }
}

pub type TaskResult = Result<Done, Stop>;

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
    pub migration_before: Option<Migration>,
    pub migration_after: Option<Migration>,
    /// The last observation of the namespace's pods, and the verdict on it.
    pub pods: Option<Vec<PodStatus>>,
    pub progress: Option<Vec<Progress>>,
    /// Whether any task changed the cluster (or, in check mode, would).
    pub changed: bool,
}

/// What `main` read from the environment, once.
#[derive(Debug, Clone, Default)]
pub struct Environment {
    pub path: Option<OsString>,
    pub cwd: PathBuf,
}

/// Hears about tasks as they happen (the text report prints them live).
pub trait Observer {
    fn task_started(&mut self, _name: &str) {}
    /// A progress update during a long task (the wait).
    fn progress(&mut self, _line: &str) {}
    fn task_finished(&mut self, _step: &Step) {}
}

/// An observer that ignores everything (JSON output, tests).
pub struct Silent;
impl Observer for Silent {}

pub struct Context<'a> {
    pub options: &'a Options,
    pub environment: &'a Environment,
    pub exec: &'a mut dyn Exec,
    pub observer: &'a mut dyn Observer,
    pub facts: Facts,
    commands: Vec<CommandRecord>,
}

impl<'a> Context<'a> {
    pub fn new(
        options: &'a Options,
        environment: &'a Environment,
        exec: &'a mut dyn Exec,
        observer: &'a mut dyn Observer,
    ) -> Self {
        Context { options, environment, exec, observer, facts: Facts::default(), commands: Vec::new() }
    }

    /// The commands run since the last call (the current task's).
    pub fn take_commands(&mut self) -> Vec<CommandRecord> {
        std::mem::take(&mut self.commands)
    }

    /// Show a command that check mode will not run.
    pub fn plan_command(&mut self, invocation: &Invocation) {
        self.commands.push(CommandRecord {
            command: invocation.to_string(),
            argv: invocation.redacted_argv(),
            effect: invocation.effect,
            exit_code: None,
            signal: None,
            duration_ms: 0,
            error: None,
            planned: true,
        });
    }

    /// Record a command for the report. `run` does it; a command run directly through `exec`
    /// (the watch, whose closure needs the observer while `exec` is borrowed) calls it itself.
    pub fn record(&mut self, invocation: &Invocation, result: &Result<Output, ExecError>) {
        let (exit_code, signal, duration_ms, error) = match result {
            Ok(output) => (output.code, output.signal, output.duration.as_millis() as u64, None),
            Err(error) => (None, None, 0, Some(error.to_string())),
        };
        self.commands.push(CommandRecord {
            command: invocation.to_string(),
            argv: invocation.redacted_argv(),
            effect: invocation.effect,
            exit_code,
            signal,
            duration_ms,
            error,
            planned: false,
        });
    }

    /// Run a command to completion. A command that could not run (missing, not executable,
    /// timed out, interrupted) is a `Stop`; a non-zero exit is left to the caller.
    pub fn run(&mut self, invocation: &Invocation) -> Result<Output, Stop> {
        self.run_raw(invocation).map_err(|error| exec_stop(invocation, &error))
    }

    /// Run a command and record it, leaving a failure to run to the caller.
    pub fn run_raw(&mut self, invocation: &Invocation) -> Result<Output, ExecError> {
        let result = self.exec.run(invocation);
        self.record(invocation, &result);
        if result.is_ok() && invocation.effect == Effect::Mutating {
            self.facts.changed = true;
        }
        result
    }

    /// Run a command that must exit 0.
    pub fn run_ok(&mut self, invocation: &Invocation) -> Result<Output, Stop> {
        let output = self.run(invocation)?;
        if output.success() {
            Ok(output)
        } else {
            Err(refused(invocation, &output))
        }
    }

    pub fn kubectl(&self) -> &Kubectl {
        self.facts.kubectl.as_ref().expect("`Find the tools` runs before any task that needs kubectl")
    }

    /// Wait between two looks at the pods; a signal ends the wait (exit 130).
    pub fn pause(&mut self, duration: std::time::Duration) -> Result<(), Stop> {
        self.exec.sleep(duration).map_err(|error| {
            Stop::new(Exit::Interrupted, format!("interrupted while waiting between two looks at the pods: {error}"))
        })
    }

    /// `kubectl get pods` of the namespace, limited to the Calico workloads when it can be.
    pub fn pods_invocation(&self, watch: bool) -> Invocation {
        let cluster = self.cluster();
        let workloads: Vec<&Workload> =
            std::iter::once(&cluster.daemonset).chain(cluster.deployment.as_ref()).collect();
        let selector = crate::cluster::pod_selector(&workloads);
        let namespace = &self.options.namespace;
        if watch {
            self.kubectl().watch_pods(namespace, selector.as_deref())
        } else {
            self.kubectl().pods(namespace, selector.as_deref())
        }
    }

    /// The version a tool reported in `Find the tools`, for messages about its output.
    fn tool_version(&self, tool: crate::exec::Tool) -> Option<&str> {
        let tools = &self.facts.tools;
        let found = match tool {
            crate::exec::Tool::Kubectl => &tools.kubectl,
            crate::exec::Tool::Calicoctl => &tools.calicoctl,
            crate::exec::Tool::CalicoUpgrade => &tools.calico_upgrade,
        };
        found.as_ref().map(|t| t.version.as_str())
    }

    /// Output no parser recognised: exit 2, naming the command, the tool's version and quoting
    /// the output.
    pub fn unrecognised(&self, invocation: &Invocation, error: Unrecognised) -> Stop {
        unrecognised(invocation, error, self.tool_version(invocation.tool))
    }

    /// Output a parser could not read: a tool that also exited non-zero said no (exit 1,
    /// quoting its stderr); one that exited 0 printed something this tool does not know (exit 2).
    pub fn unreadable(&self, invocation: &Invocation, output: &Output, error: Unrecognised) -> Stop {
        if output.success() {
            self.unrecognised(invocation, error)
        } else {
            refused(invocation, output)
        }
    }

    pub fn cluster(&self) -> &Cluster {
        self.facts.cluster.as_ref().expect("`Inspect the cluster` runs before any task that needs its facts")
    }
}

/// A command that could not run to completion.
pub fn exec_stop(invocation: &Invocation, error: &ExecError) -> Stop {
    let exit = match error {
        ExecError::Interrupted => Exit::Interrupted,
        _ => Exit::StepFailed,
    };
    let mut stop = Stop::new(exit, format!("`{invocation}` failed: {error}"));
    if let ExecError::TimedOut { stderr, .. } = error {
        stop.details = excerpt(stderr).into_iter().map(|l| format!("stderr: {l}")).collect();
    }
    stop
}

/// A command that ran and said no (non-zero exit): exit 1, quoting stderr.
pub fn refused(invocation: &Invocation, output: &Output) -> Stop {
    let cause = crate::tools::kubectl::failure_message(&output.stderr);
    let cause = if cause.is_empty() {
        excerpt(&output.stdout).first().cloned().unwrap_or_else(|| "no message".to_string())
    } else {
        cause
    };
    Stop::new(Exit::StepFailed, format!("`{invocation}` failed with {}: {cause}", output.status_text()))
        .with_details(excerpt(&output.stderr).into_iter().map(|l| format!("stderr: {l}")).collect())
}

fn unrecognised(invocation: &Invocation, error: Unrecognised, tool_version: Option<&str>) -> Stop {
    let version = tool_version.map(|v| format!(" ({} {v})", invocation.tool)).unwrap_or_default();
    Stop::new(Exit::Unrecognised, format!("`{invocation}`{version}: {}", error.headline()))
        .with_details(error.excerpt.iter().map(|l| format!("| {l}")).collect())
}
