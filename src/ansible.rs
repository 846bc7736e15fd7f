//! The Ansible binary module: invoked as `calico-downgrade <file>` with a single argument that
//! is a JSON file, it reads `action` (plan, run, abort, status) and the options in snake_case,
//! honours `_ansible_check_mode`, never prompts, and prints the JSON report.

use std::ffi::OsString;
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use serde::Deserialize;

use crate::app::{execute, refuse_early, Presentation, Snapshot};
use crate::cli::OutputFormat;
use crate::exit::Exit;
use crate::options::Options;
use crate::playbook::Command;
use crate::tools::calico_upgrade::ApiConfig;
use crate::tools::kubectl::Connection;

#[derive(Debug, Deserialize)]
pub struct ModuleArgs {
    pub action: String,
    pub kubectl: Option<String>,
    pub calicoctl: Option<String>,
    pub calico_upgrade: Option<String>,
    pub kubeconfig: Option<String>,
    pub context: Option<String>,
    pub namespace: Option<String>,
    pub daemonset: Option<String>,
    pub deployment: Option<String>,
    pub apiconfigv1: Option<String>,
    pub apiconfigv3: Option<String>,
    pub to_revision: Option<u64>,
    pub timeout: Option<String>,
    pub command_timeout: Option<String>,
    pub poll_interval: Option<String>,
    pub no_watch: Option<bool>,
    pub replace_pods: Option<bool>,
    pub rollback_first: Option<bool>,
    pub journal: Option<String>,
    #[serde(rename = "_ansible_check_mode")]
    pub check_mode: Option<bool>,
    // Ansible passes these internal keys to every module; they are accepted and ignored.
    #[serde(flatten)]
    pub internal: std::collections::BTreeMap<String, serde_json::Value>,
}

/// Ansible's own keys all start with `_ansible_`; anything else unknown is an error.
fn unknown_keys(args: &ModuleArgs) -> Vec<String> {
    args.internal.keys().filter(|k| !k.starts_with("_ansible_")).cloned().collect()
}

/// Arguments the module cannot use: a `failed` result naming the problem (Ansible reads the
/// result from stdout; a non-zero exit with a JSON result is reported as that result).
fn failed(msg: String) -> i32 {
    let presentation =
        Presentation { output: OutputFormat::Json, verbose: false, quiet: true, journal: None, yes: true };
    refuse_early(&presentation, Exit::Unrecognised, &[msg])
}

fn duration(name: &str, value: &Option<String>, default: std::time::Duration) -> Result<std::time::Duration, String> {
    match value {
        None => Ok(default),
        Some(text) => humantime::parse_duration(text).map_err(|e| format!("{name}: `{text}` is not a duration: {e}")),
    }
}

/// `Some(exit code)` when invoked as an Ansible module, `None` for an ordinary command line.
pub fn try_module(args: &[OsString], snapshot: &Snapshot, interrupted: Arc<AtomicBool>) -> Option<i32> {
    if args.len() != 2 {
        return None;
    }
    let path = Path::new(&args[1]);
    if !path.is_file() {
        return None;
    }
    let text = std::fs::read_to_string(path).ok()?;
    let trimmed = text.trim_start();
    if !trimmed.starts_with('{') {
        return None;
    }
    let args: ModuleArgs = match serde_json::from_str(&text) {
        Ok(args) => args,
        Err(e) => return Some(failed(format!("cannot read the module arguments in `{}`: {e}", path.display()))),
    };
    let unknown = unknown_keys(&args);
    if !unknown.is_empty() {
        return Some(failed(format!("unsupported option(s): {}", unknown.join(", "))));
    }
    let command = match args.action.as_str() {
        "plan" => Command::Plan,
        "run" => Command::Run,
        "abort" => Command::Abort,
        "status" => Command::Status,
        other => return Some(failed(format!("action `{other}` is not one of plan, run, abort, status"))),
    };
    let defaults = Options::default();
    let timeouts = (|| {
        Ok::<_, String>((
            duration("timeout", &args.timeout, defaults.timeout)?,
            duration("command_timeout", &args.command_timeout, defaults.command_timeout)?,
            duration("poll_interval", &args.poll_interval, defaults.poll_interval)?,
        ))
    })();
    let (timeout, command_timeout, poll_interval) = match timeouts {
        Ok(t) => t,
        Err(msg) => return Some(failed(msg)),
    };
    let check = args.check_mode.unwrap_or(false) || matches!(command, Command::Plan | Command::Status);
    let options = Options {
        kubectl: args.kubectl.map(Into::into),
        calicoctl: args.calicoctl.map(Into::into),
        calico_upgrade: args.calico_upgrade.map(Into::into),
        connection: Connection {
            kubeconfig: args.kubeconfig,
            context: args.context,
            request_timeout_secs: command_timeout.as_secs(),
        },
        namespace: args.namespace.unwrap_or(defaults.namespace),
        daemonset: args.daemonset.unwrap_or(defaults.daemonset),
        deployment: args.deployment.unwrap_or(defaults.deployment),
        api: ApiConfig { v1: args.apiconfigv1, v3: args.apiconfigv3 },
        to_revision: args.to_revision,
        timeout,
        command_timeout,
        poll_interval,
        no_watch: args.no_watch.unwrap_or(false),
        replace_pods: args.replace_pods.unwrap_or(false),
        rollback_first: args.rollback_first.unwrap_or(false),
        check,
        follow: false,
    };
    let presentation = Presentation {
        output: OutputFormat::Json,
        verbose: false,
        quiet: true,
        journal: args.journal.map(Into::into),
        yes: true,
    };
    Some(execute(command, &options, &presentation, snapshot, interrupted))
}
