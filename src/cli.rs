//! The command line (clap definitions only). Every option can also be set from an environment
//! variable `CALICO_DOWNGRADE_<NAME>`.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

const AFTER_HELP: &str = "\
Examples:
  calico-downgrade plan                          read-only: what would be done, with the exact commands
  calico-downgrade run                           abort the migration, roll back, wait, verify (asks first)
  calico-downgrade run --yes --output json       unattended, one JSON document at the end
  calico-downgrade run --check                   the same as plan
  calico-downgrade run --rollback-first --yes    roll back and wait before aborting the migration
  calico-downgrade run --replace-pods --yes      also replace the pods of an OnDelete DaemonSet
  calico-downgrade abort --yes                   only \"Aborting the upgrade\" (components never upgraded)
  calico-downgrade status --watch                follow the Calico pods until converged
  kubectl calico-downgrade plan                  as a kubectl plugin (installed as kubectl-calico_downgrade)

Orders: by default the docs' order (\"Downgrading a self-hosted installation\"): abort the data
migration, then roll back. --rollback-first rolls back and waits first, as the Calico
troubleshooting page and calico-upgrade's own abort prompt ask (\"all calico/node instances ...
should be running Calico v2.x\").

";

#[derive(Debug, Parser)]
#[command(
    name = "calico-downgrade",
    version,
    about = "Take a Kubernetes cluster from Calico v3.0 back to Calico v2.6, as the Calico docs prescribe",
    after_help = format!("{AFTER_HELP}{}", crate::exit::TABLE),
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: CommandArg,
    #[command(flatten)]
    pub global: GlobalArgs,
}

#[derive(Debug, Subcommand)]
pub enum CommandArg {
    /// Read-only: find the tools, inspect the cluster, print the plan and the exact commands
    Plan,
    /// Carry out the downgrade: abort the migration, roll back, wait, verify
    Run {
        /// Only show what would be done (the same as `plan`)
        #[arg(long)]
        check: bool,
    },
    /// Only the "Aborting the upgrade" section (Calico components never upgraded)
    Abort,
    /// Show the Calico pods and whether the downgrade has converged (exit 0 if so, 1 if not)
    Status {
        /// Follow the pods until they converge or --timeout passes
        #[arg(long)]
        watch: bool,
    },
    /// Print shell completions
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff)
    #[command(hide = true)]
    Man,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
}

fn duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text).map_err(|e| format!("`{text}` is not a duration such as 10m, 90s or 2s: {e}"))
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// kubectl to use (default: the first on PATH)
    #[arg(long, global = true, env = "CALICO_DOWNGRADE_KUBECTL", value_name = "PATH")]
    pub kubectl: Option<PathBuf>,
    /// calicoctl to use (default: the first on PATH); every calicoctl on PATH is checked
    #[arg(long, global = true, env = "CALICO_DOWNGRADE_CALICOCTL", value_name = "PATH")]
    pub calicoctl: Option<PathBuf>,
    /// calico-upgrade to use (default: the first on PATH)
    #[arg(long, global = true, env = "CALICO_DOWNGRADE_CALICO_UPGRADE", value_name = "PATH")]
    pub calico_upgrade: Option<PathBuf>,
    /// kubeconfig passed to every kubectl call (KUBECONFIG is honoured as kubectl honours it)
    #[arg(long, global = true, env = "CALICO_DOWNGRADE_KUBECONFIG", value_name = "PATH")]
    pub kubeconfig: Option<String>,
    /// kubeconfig context passed to every kubectl call
    #[arg(long, global = true, env = "CALICO_DOWNGRADE_CONTEXT", value_name = "NAME")]
    pub context: Option<String>,
    /// Namespace of the Calico workloads
    #[arg(short = 'n', long, global = true, env = "CALICO_DOWNGRADE_NAMESPACE", default_value = "kube-system")]
    pub namespace: String,
    /// The calico/node DaemonSet (`canal` for canal installs)
    #[arg(long, global = true, env = "CALICO_DOWNGRADE_DAEMONSET", default_value = "calico-node")]
    pub daemonset: String,
    /// The calico/kube-controllers Deployment (absent in Kubernetes-API-datastore installs)
    #[arg(long, global = true, env = "CALICO_DOWNGRADE_DEPLOYMENT", default_value = "calico-kube-controllers")]
    pub deployment: String,
    /// Passed to calico-upgrade as --apiconfigv1
    #[arg(long, global = true, env = "CALICO_DOWNGRADE_APICONFIGV1", value_name = "PATH")]
    pub apiconfigv1: Option<String>,
    /// Passed to calico-upgrade as --apiconfigv3
    #[arg(long, global = true, env = "CALICO_DOWNGRADE_APICONFIGV3", value_name = "PATH")]
    pub apiconfigv3: Option<String>,
    /// Roll the DaemonSet back to this revision instead of the newest one with v2.x images
    #[arg(long, global = true, env = "CALICO_DOWNGRADE_TO_REVISION", value_name = "N")]
    pub to_revision: Option<u64>,
    /// How long to wait for the pods, in all
    #[arg(long, global = true, env = "CALICO_DOWNGRADE_TIMEOUT", default_value = "10m", value_parser = duration)]
    pub timeout: Duration,
    /// How long any one external command may take
    #[arg(long, global = true, env = "CALICO_DOWNGRADE_COMMAND_TIMEOUT", default_value = "2m", value_parser = duration)]
    pub command_timeout: Duration,
    /// Interval between two looks at the pods when polling
    #[arg(long, global = true, env = "CALICO_DOWNGRADE_POLL_INTERVAL", default_value = "2s", value_parser = duration)]
    pub poll_interval: Duration,
    /// Poll with `kubectl get pods` instead of following `kubectl get pods --watch`
    #[arg(long, global = true, env = "CALICO_DOWNGRADE_NO_WATCH")]
    pub no_watch: bool,
    /// With an OnDelete DaemonSet, delete its old pods one node at a time
    #[arg(long, global = true, env = "CALICO_DOWNGRADE_REPLACE_PODS")]
    pub replace_pods: bool,
    /// Roll back and wait before aborting the data migration
    #[arg(long, global = true, env = "CALICO_DOWNGRADE_ROLLBACK_FIRST")]
    pub rollback_first: bool,
    /// Report format
    #[arg(long, global = true, env = "CALICO_DOWNGRADE_OUTPUT", value_enum, default_value = "text")]
    pub output: OutputFormat,
    /// Journal file (default: under $XDG_STATE_HOME/calico-downgrade/)
    #[arg(long, global = true, env = "CALICO_DOWNGRADE_JOURNAL", value_name = "PATH")]
    pub journal: Option<PathBuf>,
    /// Do not ask for confirmation (required when stdin is not a terminal)
    #[arg(short = 'y', long, global = true, env = "CALICO_DOWNGRADE_YES")]
    pub yes: bool,
    /// Echo each command as it runs
    #[arg(short = 'v', long, global = true, env = "CALICO_DOWNGRADE_VERBOSE")]
    pub verbose: bool,
    /// Print only failures and the recap
    #[arg(short = 'q', long, global = true, env = "CALICO_DOWNGRADE_QUIET", conflicts_with = "verbose")]
    pub quiet: bool,
}
