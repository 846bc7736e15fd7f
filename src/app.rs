//! Wiring: turn the parsed command line and the environment (read once in `main`) into
//! options, a runner, a journal and a report; run the playbook; print; return the exit code.

use std::ffi::OsString;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::SystemTime;

use crate::cli::{Cli, CommandArg};
use crate::destination::{self, datastore_access, Destination, DEFAULT_APICONFIGV1, DEFAULT_APICONFIGV3};
use crate::exec::journal::{self, Header, Journal};
use crate::exec::runner::Runner;
use crate::exec::{Exec, ExecError, Invocation, Output};
use crate::exit::Exit;
pub use crate::options::Presentation;
use crate::options::{Options, OutputFormat};
use crate::playbook::{self, Command, Outcome};
use crate::report::text::{Style, TextReport};
use crate::tasks::{Context, Environment, Observer, Silent};
use crate::tools::kubectl::{self, Kubectl};
use crate::tools::locate::locate;

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
    /// The command line, for the journal's header and the cluster lock.
    pub args: Vec<String>,
    /// This host's name (`uname -n`), for the cluster lock.
    pub host: String,
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

/// Ask on the terminal, one short question naming the namespace and the cluster; `Ok` when
/// the operator answers yes.
fn ask(
    command: Command,
    options: &Options,
    destination: &Destination,
    interrupted: &AtomicBool,
) -> Result<(), Refusal> {
    let what = if command == Command::Run { "Downgrade Calico" } else { "Abort the Calico data migration" };
    eprint!("{what} in {} of {}? [y/N] ", options.namespace, destination.short());
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

fn refusal(presentation: &Presentation, refused: Refusal) -> i32 {
    match refused {
        Refusal::Usage(message) => refuse_early(presentation, Exit::Unrecognised, &[message]),
        Refusal::NotConfirmed => {
            refuse_early(presentation, Exit::Precondition, &["not confirmed: nothing was changed".to_string()])
        }
        Refusal::Interrupted => refuse_early(
            presentation,
            Exit::Interrupted,
            &["interrupted at the prompt: nothing was changed".to_string()],
        ),
    }
}

/// A command that ran before the journal existed: recorded in it once it does.
type Call = (Invocation, SystemTime, Result<Output, ExecError>);

/// The calls `identify` ran, for the playbook, once: the first playbook run takes them (`Find
/// the cluster` its `config view`, `Find the tools` the version), so the report lists them
/// under the task they serve.
fn ready(calls: &mut Vec<Call>) -> Vec<Call> {
    std::mem::take(calls)
}

/// Which cluster and datastore: the kubeconfig kubectl will read (and where its path came
/// from), one read-only `kubectl config view --minify` (run before the journal exists, and
/// recorded in it right after its header), plus where calico-upgrade will look. `kubectl
/// version --client`, which `Find the tools` runs first, runs at the same time (both read only
/// the kubeconfig and the binary): its call comes second, handed to the playbook as
/// prefetched. When the context cannot be used, the contexts there are are listed (`kubectl
/// config get-contexts -o name`). No calls when kubectl was not found (`Find the tools` says
/// so), no `config view` when there is no kubeconfig to read.
fn identify(
    options: &Options,
    environment: &Environment,
    snapshot: &Snapshot,
    runner: &mut Runner,
) -> (Destination, Vec<Call>) {
    let found = locate("kubectl", options.kubectl.as_deref(), environment.path.as_deref(), &environment.cwd);
    let var = |name: &str| snapshot.var(name).map(str::to_string);
    let calico_upgrade = datastore_access(
        &options.api(),
        &var,
        Path::new(DEFAULT_APICONFIGV1).is_file(),
        Path::new(DEFAULT_APICONFIGV3).is_file(),
    );
    let kubeconfig = destination::kubeconfig(
        options.kubeconfig.as_deref(),
        snapshot.var_os("KUBECONFIG"),
        snapshot.var("HOME"),
        snapshot.var("KUBERNETES_SERVICE_HOST").is_some_and(|h| !h.is_empty()),
        &|path| path.is_file(),
    );
    let mut destination =
        Destination { kubeconfig, kube: None, kube_error: None, contexts: Vec::new(), calico_upgrade };
    let Some(program) = found.path().filter(|p| p.is_file()) else {
        return (destination, Vec::new());
    };
    let kubectl = Kubectl { program: program.to_path_buf(), connection: options.connection(), client: None };
    let version = kubectl.version();
    let started = SystemTime::now();
    if destination.kubeconfig.missing().is_some() {
        let result = runner.run(&version);
        return (destination, vec![(version, started, result)]);
    }
    let invocation = kubectl.config_view();
    let mut results = runner.run_all(&[&invocation, &version], None).into_iter();
    let (result, version_result) = (results.next().expect("two results"), results.next().expect("two results"));
    match &result {
        Ok(output) => match kubectl::parse_config_view(output) {
            Ok(kube) => destination.kube = Some(kube),
            Err(error) => destination.kube_error = Some(error),
        },
        Err(error) => destination.kube_error = Some(format!("`{invocation}` could not run: {error}")),
    }
    let mut calls = vec![(invocation, started, result), (version, started, version_result)];
    if destination.problem(options.context.as_deref()).is_some() {
        let contexts = kubectl.contexts();
        let started = SystemTime::now();
        let result = runner.run(&contexts);
        if let Ok(output) = &result {
            if output.success() {
                destination.contexts = kubectl::parse_context_names(&output.stdout);
            }
        }
        calls.push((contexts, started, result));
    }
    (destination, calls)
}

/// The command line as the lock and the journal show it: `calico-downgrade run --yes`.
fn command_line(args: &[String]) -> String {
    let mut words: Vec<String> =
        args.iter().map(|a| shlex::try_quote(a).map_or_else(|_| a.clone(), |q| q.into_owned())).collect();
    if let Some(first) = words.first_mut() {
        *first = std::path::Path::new(first.as_str())
            .file_name()
            .map_or_else(|| first.clone(), |n| n.to_string_lossy().into_owned());
    }
    words.join(" ")
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
///
/// A command that may change the cluster (`run`, `abort`, not in check mode) takes the run
/// lock and does not start without its journal (nor does the Ansible module); on a terminal
/// without `--yes` it shows the plan first, then asks, naming the cluster, and with nothing to
/// do it does not ask.
pub fn execute(
    command: Command,
    options: &Options,
    presentation: &Presentation,
    snapshot: &Snapshot,
    interrupted: Arc<AtomicBool>,
) -> i32 {
    let changes = matches!(command, Command::Run | Command::Abort) && !options.check;
    let ask_first = changes && !presentation.yes;
    if ask_first && !snapshot.stdin_is_terminal {
        return refusal(
            presentation,
            Refusal::Usage(format!(
                "`{}` changes the cluster and stdin is not a terminal, so nothing can be confirmed: pass --yes (or run `plan` first)",
                if command == Command::Run { "run" } else { "abort" }
            )),
        );
    }
    let mut runner = Runner::new(options.command_timeout, interrupted, options.check, snapshot.vars.clone());
    let environment = Environment {
        path: snapshot.var_os("PATH").map(Into::into),
        cwd: snapshot.cwd.clone(),
        host: snapshot.host.clone(),
        user: snapshot.var("USER").or_else(|| snapshot.var("LOGNAME")).unwrap_or_default().to_string(),
        pid: snapshot.pid,
        command_line: command_line(&snapshot.args),
    };
    let (destination, mut identity_calls) = identify(options, &environment, snapshot, &mut runner);

    let now = SystemTime::now();
    let started = humantime::format_rfc3339_seconds(now).to_string();
    let journal_path = presentation
        .journal
        .clone()
        .or_else(|| journal::default_path(snapshot.var("XDG_STATE_HOME"), snapshot.var("HOME"), now, snapshot.pid));
    let header = Header {
        tool: env!("CARGO_PKG_NAME"),
        version: env!("CARGO_PKG_VERSION"),
        command_line: snapshot.args.clone(),
        started,
        pid: snapshot.pid,
        context: destination.kube.as_ref().map(|k| k.context.clone()),
        server: destination.kube.as_ref().map(|k| k.server.clone()),
        user: destination.kube.as_ref().map(|k| k.user.clone()),
    };
    let must_record = changes || presentation.module;
    let journal = match journal_path.as_deref().map(|path| Journal::open(path, &header).map(|j| j.whole(presentation.verbose))) {
        Some(Ok(journal)) => {
            for (invocation, started, result) in &identity_calls {
                journal.record(invocation, *started, result);
            }
            // The default journals are kept to the newest few (`--keep-journals`) and to
            // `journal::KEEP_BYTES` together; one named with --journal is the user's.
            if presentation.journal.is_none() && presentation.keep_journals > 0 {
                if let Some(dir) = journal.path().parent() {
                    let keep = presentation.keep_journals as usize;
                    if let Err(error) = journal::prune(dir, keep, journal::KEEP_BYTES) {
                        eprintln!("warning: {error:#}");
                    }
                }
            }
            Some(journal)
        }
        Some(Err(error)) if must_record => {
            return refuse_early(
                presentation,
                Exit::Precondition,
                &[format!("{error:#}: nothing was changed; pass --journal PATH to keep the journal elsewhere")],
            )
        }
        Some(Err(error)) => {
            eprintln!("warning: {error:#}; continuing without a journal");
            None
        }
        None if must_record => {
            return refuse_early(
                presentation,
                Exit::Precondition,
                &["neither XDG_STATE_HOME nor HOME is set, so there is nowhere to keep the journal: nothing was changed; pass --journal PATH".to_string()],
            )
        }
        None => {
            eprintln!(
                "warning: neither XDG_STATE_HOME nor HOME is set and --journal was not given: no journal is kept"
            );
            None
        }
    };
    runner.journal = journal;
    let colour = snapshot.stdout_is_terminal
        && snapshot.var("NO_COLOR").is_none_or(str::is_empty)
        && snapshot.var("TERM") != Some("dumb");
    let style = Style {
        colour,
        live: snapshot.stdout_is_terminal && snapshot.var("TERM") != Some("dumb"),
        verbose: presentation.verbose,
        quiet: presentation.quiet,
    };

    let mut planned = Vec::new();
    if ask_first {
        // The plan first, as text (on stderr when stdout carries the JSON document).
        let plan_options = Options { check: true, ..options.clone() };
        runner.check_mode = true;
        let (out, plan_style): (Box<dyn std::io::Write>, Style) = match presentation.output {
            OutputFormat::Text => (Box::new(std::io::stdout()), style),
            OutputFormat::Json => (Box::new(std::io::stderr()), Style { live: false, colour: false, ..style }),
        };
        let mut text = TextReport::new(out, plan_style);
        let ready = ready(&mut identity_calls);
        let plan = run_playbook(command, &plan_options, &environment, &mut runner, &mut text, &destination, ready);
        text.finish(&plan, None);
        if plan.exit != Exit::Done || !plan.facts.changed {
            // The plan found a problem, or nothing to do: nothing to ask.
            if plan.exit == Exit::Done {
                eprintln!("nothing to do: nothing was changed");
            }
            return report(presentation, &runner, &plan, true);
        }
        if let Err(refused) = ask(command, options, &destination, &runner.interrupted) {
            return refusal(presentation, refused);
        }
        runner.check_mode = false;
        planned = plan.steps;
    }
    // Not `stdout().lock()`: indicatif's ticker thread writes to stdout too, and would wait
    // forever for a lock this thread held. After the plan, only what happens next is shown.
    let mut text = TextReport::new(std::io::stdout(), style).after_plan(&planned);
    let mut silent = Silent;
    let observer: &mut dyn Observer = match presentation.output {
        OutputFormat::Text => &mut text,
        OutputFormat::Json => &mut silent,
    };
    let outcome =
        run_playbook(command, options, &environment, &mut runner, observer, &destination, ready(&mut identity_calls));
    if presentation.output == OutputFormat::Text {
        text.finish(&outcome, runner.journal.as_ref().map(|j| j.path().display().to_string()).as_deref());
    }
    report(presentation, &runner, &outcome, false)
}

/// `ready`: commands already run for this playbook (`kubectl version --client`, run with the
/// `config view`), handed out when a task runs them.
fn run_playbook(
    command: Command,
    options: &Options,
    environment: &Environment,
    runner: &mut Runner,
    observer: &mut dyn Observer,
    destination: &Destination,
    ready: Vec<Call>,
) -> Outcome {
    let mut ctx = Context::new(options, environment, runner, observer);
    for (invocation, _, result) in ready {
        ctx.prefetched(invocation, result);
    }
    ctx.facts.destination = Some(destination.clone());
    playbook::execute(command, &mut ctx)
}

/// The end: a journal that could not be written is said so, and the JSON document printed.
/// `finished_text` when the text report was already closed (the plan shown before asking).
fn report(presentation: &Presentation, runner: &Runner, outcome: &Outcome, finished_text: bool) -> i32 {
    let journal_text = runner.journal.as_ref().map(|j| j.path().display().to_string());
    if let Some(error) = runner.journal.as_ref().and_then(|j| j.write_error()) {
        eprintln!("warning: {error}");
    }
    if finished_text && presentation.output == OutputFormat::Text {
        if let Some(journal) = &journal_text {
            let _ = print_stdout(format!("journal: {journal}\n").as_bytes());
        }
    }
    if presentation.output == OutputFormat::Json {
        let document = crate::report::json::render(outcome, journal_text.as_deref(), presentation.diff);
        let _ = print_stdout(format!("{document}\n").as_bytes());
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

/// The command line after `main` read the environment (the Ansible module, which sits above
/// this, has been ruled out): usage, completions and the manual page, or the playbook.
pub fn main_with(args: Vec<std::ffi::OsString>, snapshot: Snapshot, interrupted: Arc<AtomicBool>) -> i32 {
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
