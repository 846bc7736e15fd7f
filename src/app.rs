//! Wiring: turn the parsed command line and the environment (read once in `main`) into
//! options, a runner, a journal and a report; run the playbook; print; return the exit code.

use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::SystemTime;

use crate::cli::{Cli, CommandArg, OutputFormat};
use crate::exec::journal::{self, Journal};
use crate::exec::runner::Runner;
use crate::exit::Exit;
use crate::options::Options;
use crate::playbook::{self, Command};
use crate::report::text::{Style, TextReport};
use crate::tasks::{Context, Environment, Observer, Silent};
use crate::tools::calico_upgrade::ApiConfig;
use crate::tools::kubectl::Connection;

/// Everything `main` read from the process environment.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub vars: Vec<(String, String)>,
    pub cwd: PathBuf,
    pub stdin_is_terminal: bool,
    pub stdout_is_terminal: bool,
    pub pid: u32,
}

impl Snapshot {
    pub fn var(&self, name: &str) -> Option<&str> {
        self.vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// Reporting preferences, separate from what the run does.
#[derive(Debug, Clone)]
pub struct Presentation {
    pub output: OutputFormat,
    pub verbose: bool,
    pub quiet: bool,
    pub journal: Option<PathBuf>,
    pub yes: bool,
}

pub fn options_from_cli(cli: &Cli) -> (Options, Presentation) {
    let g = &cli.global;
    let check = matches!(cli.command, CommandArg::Plan | CommandArg::Run { check: true } | CommandArg::Status { .. });
    let options = Options {
        kubectl: g.kubectl.clone(),
        calicoctl: g.calicoctl.clone(),
        calico_upgrade: g.calico_upgrade.clone(),
        connection: Connection {
            kubeconfig: g.kubeconfig.clone(),
            context: g.context.clone(),
            request_timeout_secs: g.command_timeout.as_secs(),
        },
        namespace: g.namespace.clone(),
        daemonset: g.daemonset.clone(),
        deployment: g.deployment.clone(),
        api: ApiConfig { v1: g.apiconfigv1.clone(), v3: g.apiconfigv3.clone() },
        to_revision: g.to_revision,
        timeout: g.timeout,
        command_timeout: g.command_timeout,
        poll_interval: g.poll_interval,
        no_watch: g.no_watch,
        replace_pods: g.replace_pods,
        rollback_first: g.rollback_first,
        check,
        follow: matches!(cli.command, CommandArg::Status { watch: true }),
    };
    let presentation =
        Presentation { output: g.output, verbose: g.verbose, quiet: g.quiet, journal: g.journal.clone(), yes: g.yes };
    (options, presentation)
}

/// Ask on the terminal before changing anything; refuse without `--yes` when nobody can answer.
/// Why nothing was started.
enum Refusal {
    Usage(String),
    NotConfirmed,
    Interrupted,
}

fn confirm(
    command: Command,
    options: &Options,
    presentation: &Presentation,
    snapshot: &Snapshot,
    interrupted: &AtomicBool,
) -> Result<(), Refusal> {
    let changes = matches!(command, Command::Run | Command::Abort) && !options.check;
    if !changes || presentation.yes {
        return Ok(());
    }
    if !snapshot.stdin_is_terminal {
        return Err(Refusal::Usage(format!(
            "`{}` changes the cluster and stdin is not a terminal, so nothing can be confirmed: pass --yes (or run `plan` first)",
            if command == Command::Run { "run" } else { "abort" }
        )));
    }
    eprint!(
        "This will {} in namespace {} ({}). Proceed? [y/N] ",
        if command == Command::Run {
            "abort the Calico data migration and roll calico back to v2.6"
        } else {
            "abort the Calico data migration"
        },
        options.namespace,
        options.connection.context.as_deref().unwrap_or("current context"),
    );
    let _ = std::io::stderr().flush();
    // The signal handler restarts an interrupted read, so the answer is read on a thread
    // while this one watches for Ctrl-C.
    let (sender, answers) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut answer = String::new();
        let _ = std::io::stdin().lock().read_line(&mut answer);
        let _ = sender.send(answer);
    });
    loop {
        if interrupted.load(Ordering::SeqCst) {
            eprintln!();
            return Err(Refusal::Interrupted);
        }
        match answers.recv_timeout(std::time::Duration::from_millis(50)) {
            Ok(answer) => {
                return match answer.trim().to_ascii_lowercase().as_str() {
                    "y" | "yes" => Ok(()),
                    _ => Err(Refusal::NotConfirmed),
                }
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return Err(Refusal::NotConfirmed),
        }
    }
}

/// Stop before anything ran: the reasons on stderr and, with `--output json`, a JSON result
/// on stdout all the same (scripts and Ansible always get one document).
pub fn refuse_early(presentation: &Presentation, exit: Exit, reasons: &[String]) -> i32 {
    for reason in reasons {
        eprintln!("error: {reason}");
    }
    if presentation.output == OutputFormat::Json {
        let document = serde_json::json!({
            "changed": false,
            "failed": true,
            "rc": exit.code(),
            "msg": reasons.join("; "),
            "steps": [],
        });
        println!("{document}");
    }
    exit.code()
}

/// Run one command of the playbook and report it; returns the exit code.
pub fn execute(
    command: Command,
    options: &Options,
    presentation: &Presentation,
    snapshot: &Snapshot,
    interrupted: Arc<AtomicBool>,
) -> i32 {
    let problems = options.problems();
    if !problems.is_empty() {
        return refuse_early(presentation, Exit::Unrecognised, &problems);
    }
    match confirm(command, options, presentation, snapshot, &interrupted) {
        Ok(()) => {}
        Err(Refusal::Usage(message)) => return refuse_early(presentation, Exit::Unrecognised, &[message]),
        Err(Refusal::NotConfirmed) => {
            return refuse_early(presentation, Exit::Precondition, &["not confirmed: nothing was changed".to_string()])
        }
        Err(Refusal::Interrupted) => {
            return refuse_early(
                presentation,
                Exit::Interrupted,
                &["interrupted at the prompt: nothing was changed".to_string()],
            )
        }
    }

    let journal_path = presentation.journal.clone().or_else(|| {
        journal::default_path(snapshot.var("XDG_STATE_HOME"), snapshot.var("HOME"), SystemTime::now(), snapshot.pid)
    });
    let journal = match journal_path.as_deref().map(Journal::open) {
        Some(Ok(journal)) => Some(journal),
        Some(Err(error)) => {
            eprintln!("warning: {error:#}; continuing without a journal");
            None
        }
        None => {
            eprintln!(
                "warning: neither XDG_STATE_HOME nor HOME is set and --journal was not given: no journal is kept"
            );
            None
        }
    };
    let mut runner = Runner {
        command_timeout: options.command_timeout,
        interrupted,
        check_mode: options.check,
        journal,
        env: snapshot.vars.clone(),
    };
    let environment = Environment { path: snapshot.var("PATH").map(Into::into), cwd: snapshot.cwd.clone() };
    let colour = snapshot.stdout_is_terminal
        && snapshot.var("NO_COLOR").is_none_or(str::is_empty)
        && snapshot.var("TERM") != Some("dumb");
    let style = Style {
        colour,
        live: snapshot.stdout_is_terminal && snapshot.var("TERM") != Some("dumb"),
        verbose: presentation.verbose,
        quiet: presentation.quiet,
    };
    // Not `stdout().lock()`: indicatif's ticker thread writes to stdout too, and would wait
    // forever for a lock this thread held.
    let mut text = TextReport::new(std::io::stdout(), style);
    let mut silent = Silent;
    let observer: &mut dyn Observer = match presentation.output {
        OutputFormat::Text => &mut text,
        OutputFormat::Json => &mut silent,
    };
    let outcome = {
        let mut ctx = Context::new(options, &environment, &mut runner, observer);
        playbook::execute(command, &mut ctx)
    };
    let journal_text = runner.journal.as_ref().map(|j| j.path().display().to_string());
    if let Some(error) = runner.journal.as_ref().and_then(|j| j.write_error.clone()) {
        eprintln!("warning: {error}");
    }
    match presentation.output {
        OutputFormat::Text => text.finish(&outcome, journal_text.as_deref()),
        OutputFormat::Json => {
            drop(text);
            println!("{}", crate::report::json::render(&outcome, journal_text.as_deref()));
        }
    }
    outcome.exit.code()
}

/// The whole program after argument parsing: `main` stays thin.
pub fn main_with(cli: Cli, snapshot: Snapshot, interrupted: Arc<AtomicBool>) -> i32 {
    let command = match &cli.command {
        CommandArg::Plan => Command::Plan,
        CommandArg::Run { .. } => Command::Run,
        CommandArg::Abort => Command::Abort,
        CommandArg::Status { .. } => Command::Status,
        CommandArg::Completions { shell } => {
            let mut command = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(*shell, &mut command, "calico-downgrade", &mut std::io::stdout());
            return 0;
        }
        CommandArg::Man => {
            let command = <Cli as clap::CommandFactory>::command();
            let mut out = std::io::stdout();
            return match clap_mangen::Man::new(command).render(&mut out) {
                Ok(()) => 0,
                Err(e) => {
                    eprintln!("error: failed to write the man page: {e}");
                    1
                }
            };
        }
    };
    let (options, presentation) = options_from_cli(&cli);
    execute(command, &options, &presentation, &snapshot, interrupted)
}
