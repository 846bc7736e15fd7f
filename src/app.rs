//! Wiring: turn the parsed command line and the environment (read once in `main`) into
//! options, a runner, a journal and a report; run the playbook; print; return the exit code.

use std::ffi::OsString;
use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::SystemTime;

use crate::cli::{Cli, CommandArg};
use crate::exec::journal::{self, Journal};
use crate::exec::runner::Runner;
use crate::exit::Exit;
pub use crate::options::Presentation;
use crate::options::{Options, OutputFormat};
use crate::playbook::{self, Command};
use crate::report::text::{Style, TextReport};
use crate::tasks::{Context, Environment, Observer, Silent};

/// Everything `main` read from the process environment.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// As the OS gave them: a value that is not UTF-8 (a `KUBECONFIG` path in Latin-1) still
    /// reaches every child, so kubectl never falls back to `~/.kube/config`, another cluster.
    pub vars: Vec<(OsString, OsString)>,
    pub cwd: PathBuf,
    pub stdin_is_terminal: bool,
    pub stdout_is_terminal: bool,
    pub pid: u32,
}

impl Snapshot {
    /// A variable the tool reads itself, when it is UTF-8.
    pub fn var(&self, name: &str) -> Option<&str> {
        self.var_os(name).and_then(|v| v.to_str())
    }

    pub fn var_os(&self, name: &str) -> Option<&std::ffi::OsStr> {
        self.vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_os_str())
    }

    /// The UTF-8 variables, for messages that name the variable a value came from.
    pub fn utf8_vars(&self) -> Vec<(String, String)> {
        self.vars.iter().filter_map(|(k, v)| Some((k.to_str()?.to_string(), v.to_str()?.to_string()))).collect()
    }
}

/// The command to run and its options, from a parsed command line (also the Ansible
/// module's, which is turned into one): what the subcommand implies is set here.
pub fn resolve(cli: Cli) -> (Command, Options, Presentation) {
    let Cli { command, mut options, presentation } = cli;
    let (command, check) = match command {
        CommandArg::Plan => (Command::Plan, true),
        CommandArg::Run { check } => (Command::Run, check),
        CommandArg::Abort { check } => (Command::Abort, check),
        CommandArg::Status { watch } => {
            options.follow = watch;
            (Command::Status, true)
        }
        CommandArg::Completions { .. } | CommandArg::Man => unreachable!("handled before the playbook"),
    };
    options.check = check;
    (command, options, presentation)
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
        options.context.as_deref().unwrap_or("current context"),
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
        let _ = print_stdout(format!("{document}\n").as_bytes());
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
    let environment = Environment { path: snapshot.var_os("PATH").map(Into::into), cwd: snapshot.cwd.clone() };
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
            let document = crate::report::json::render(&outcome, journal_text.as_deref());
            let _ = print_stdout(format!("{document}\n").as_bytes());
        }
    }
    outcome.exit.code()
}

/// Write what goes to stdout in one piece. A closed stdout (`| head`) ends the output quietly,
/// as ripgrep does: the reader has what it wanted, and the exit code still tells the outcome.
pub fn print_stdout(text: &[u8]) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e),
        _ => Ok(()),
    }
}

/// A command line that did not parse: help and version on stdout (exit 0), an error on stderr
/// (exit 2), and with `--output json` also a JSON result on stdout.
fn usage(usage: &crate::cli::Usage) -> i32 {
    if usage.exit == 0 {
        // Help and version; clap colours them on a terminal. A closed stdout is not an error.
        let _ = usage.error.print();
        return 0;
    }
    if usage.json {
        let first = usage.message.lines().next().unwrap_or_default();
        let message = first.strip_prefix("error: ").unwrap_or(first).to_string();
        let presentation = Presentation { output: OutputFormat::Json, ..Presentation::default() };
        return refuse_early(&presentation, Exit::Unrecognised, &[message]);
    }
    let _ = usage.error.print();
    usage.exit
}

/// The whole program after `main` read the environment: the Ansible module or the command
/// line, then the playbook. `main` stays thin.
pub fn main_with(args: Vec<std::ffi::OsString>, snapshot: Snapshot, interrupted: Arc<AtomicBool>) -> i32 {
    if let Some(code) = crate::ansible::try_module(&args, &snapshot, Arc::clone(&interrupted)) {
        return code;
    }
    let cli = match crate::cli::parse(&args, &snapshot.utf8_vars()) {
        Ok(cli) => cli,
        Err(refused) => return usage(&refused),
    };
    let generated = match &cli.command {
        CommandArg::Completions { shell } => {
            let mut text = Vec::new();
            clap_complete::generate(*shell, &mut crate::cli::command(), "calico-downgrade", &mut text);
            Some(text)
        }
        CommandArg::Man => Some(crate::cli::man_page()),
        _ => None,
    };
    if let Some(text) = generated {
        return match print_stdout(&text) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("error: failed to write to stdout: {e}");
                1
            }
        };
    }
    let (command, options, presentation) = resolve(cli);
    execute(command, &options, &presentation, &snapshot, interrupted)
}
