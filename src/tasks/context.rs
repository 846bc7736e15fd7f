//! [`Context`]: runs commands for the tasks, turning every way a command can fail into a
//! [`Stop`], recording each command for the report, and carrying the [`Facts`] learned so far
//! from task to task.

use std::ffi::OsString;
use std::path::PathBuf;

use super::failures::{exec_stop, refused, unrecognised};
use super::{Cluster, CommandRecord, Facts, Observer, Stop};
use crate::cluster::Workload;
use crate::exec::{Effect, Exec, ExecError, Invocation, Output};
use crate::exit::Exit;
use crate::options::Options;
use crate::tools::kubectl::Kubectl;
use crate::tools::Unrecognised;

/// What `main` read from the environment, once.
#[derive(Debug, Clone, Default)]
pub struct Environment {
    pub path: Option<OsString>,
    pub cwd: PathBuf,
}

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
