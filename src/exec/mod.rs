//! Commands as values, and the one boundary where they become processes.
//!
//! Every external command the tool runs is an [`Invocation`]: which tool, the exact argv,
//! what goes to stdin, and whether it only reads or changes the cluster. Its `Display` is the
//! one spelling used in the plan, the report, error messages, the journal and test snapshots.
//! [`Exec`] is the seam between the tasks and the outside world: [`runner::Runner`] spawns real
//! processes (the only place in the crate that does), tests substitute a scripted one.

pub mod journal;
pub mod runner;

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// The three external tools, by the name an operator knows them by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Tool {
    Kubectl,
    Calicoctl,
    CalicoUpgrade,
}

impl Tool {
    /// The executable name looked up on `PATH`.
    pub fn binary_name(self) -> &'static str {
        match self {
            Tool::Kubectl => "kubectl",
            Tool::Calicoctl => "calicoctl",
            Tool::CalicoUpgrade => "calico-upgrade",
        }
    }
}

impl fmt::Display for Tool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.binary_name())
    }
}

/// Whether a command may change the cluster. Check mode refuses every `Mutating` one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Effect {
    ReadOnly,
    Mutating,
}

/// One external command, fully spelled out before it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    pub tool: Tool,
    /// The resolved executable. `Display` shows only the tool's name, the journal the full path.
    pub program: PathBuf,
    /// Arguments after the program, each one argv element (never interpreted by a shell).
    pub args: Vec<String>,
    /// Bytes written to stdin; `None` means stdin is `/dev/null`.
    pub stdin: Option<String>,
    pub effect: Effect,
    /// What the journal keeps of its stdout.
    pub journaled: Journaled,
}

/// What the journal keeps of a command's stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Journaled {
    /// All of it (or its delta from the previous run of the same argv).
    Whole,
    /// A page of `kubectl get --raw /api/v1/pods?limit=…`: its size, and of each pod only the
    /// fields the pods-at-risk listing reads (`tools::kubectl::pods_page_record`); whole when
    /// it is not a pod list (the record of unrecognised output is the output), or with `-v`.
    PodsPage,
    /// One pod read whole (`kubectl get pod NAME -o json`, 12 to 26 KB with managedFields):
    /// the fields the wait reads of it (`tools::kubectl::pod_record`); whole when it is not a
    /// pod, or with `-v`.
    Pod,
}

impl Invocation {
    pub fn read_only(tool: Tool, program: impl Into<PathBuf>, args: Vec<String>) -> Self {
        Invocation {
            tool,
            program: program.into(),
            args,
            stdin: None,
            effect: Effect::ReadOnly,
            journaled: Journaled::Whole,
        }
    }

    pub fn mutating(tool: Tool, program: impl Into<PathBuf>, args: Vec<String>) -> Self {
        Invocation {
            tool,
            program: program.into(),
            args,
            stdin: None,
            effect: Effect::Mutating,
            journaled: Journaled::Whole,
        }
    }

    pub fn journaled(mut self, journaled: Journaled) -> Self {
        self.journaled = journaled;
        self
    }

    pub fn with_stdin(mut self, stdin: impl Into<String>) -> Self {
        self.stdin = Some(stdin.into());
        self
    }

    /// The argv as the journal records it: the full program path, then the arguments with
    /// secret values (`--token`, `--password`, ...) replaced by `<redacted>`.
    pub fn redacted_argv(&self) -> Vec<String> {
        let mut argv = vec![self.program.display().to_string()];
        argv.extend(redact(&self.args));
        argv
    }
}

/// Options whose value is a secret, in `--flag value` or `--flag=value` form.
const SECRET_FLAGS: &[&str] = &["--token", "--password", "--client-key-data", "--auth-provider-arg"];

fn redact(args: &[String]) -> Vec<String> {
    let mut out = Vec::with_capacity(args.len());
    let mut hide_next = false;
    for arg in args {
        if hide_next {
            out.push("<redacted>".to_string());
            hide_next = false;
            continue;
        }
        match arg.split_once('=') {
            Some((flag, _)) if SECRET_FLAGS.contains(&flag) => out.push(format!("{flag}=<redacted>")),
            _ if SECRET_FLAGS.contains(&arg.as_str()) => {
                out.push(arg.clone());
                hide_next = true;
            }
            _ => out.push(arg.clone()),
        }
    }
    out
}

/// Output formats whose value is a long query, shortened to `custom-columns=…` in the report.
const QUERY_FORMATS: &[&str] = &["custom-columns=", "jsonpath=", "go-template=", "custom-columns-file="];

fn shorten_query(arg: &str) -> Option<String> {
    // A JSON patch (the cluster lock's `-p=[…]`): the journal and `-v` keep it whole.
    if arg.starts_with("-p=[") && arg.len() > 16 {
        return Some("-p=[…]".to_string());
    }
    let (flag, value) = match arg.split_once('=') {
        Some((flag @ ("-o" | "--output"), value)) => (Some(flag), value),
        _ => (None, arg),
    };
    let format = QUERY_FORMATS.iter().find(|f| value.starts_with(**f))?;
    if value.len() <= format.len() + 12 {
        return None;
    }
    Some(match flag {
        Some(flag) => format!("{flag}={format}…"),
        None => format!("{format}…"),
    })
}

/// An [`Invocation`] as the report and its messages show it: long `-o custom-columns=…`,
/// `jsonpath=…` and `go-template=…` queries shortened. The whole line is in `-v` and the journal.
pub struct Short<'a>(&'a Invocation);

impl Invocation {
    pub fn short(&self) -> Short<'_> {
        Short(self)
    }
}

impl fmt::Display for Short<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&shorten_line(&self.0.to_string(), &self.0.args))
    }
}

/// Replace each long query argument of `line` (an invocation's `Display`) by its short form.
pub fn shorten_line(line: &str, args: &[String]) -> String {
    let mut line = line.to_string();
    for arg in args {
        if let Some(short) = shorten_query(arg) {
            let shown = Invocation::display_arg(arg);
            line = line.replacen(&format!(" {shown}"), &format!(" {short}"), 1);
        }
    }
    line
}

impl Invocation {
    /// One argument as `Display` shows it: bare when no POSIX shell would misread it.
    fn display_arg(arg: &str) -> String {
        // shlex quotes conservatively (`--to-revision=1` too); words made only of
        // characters no POSIX shell treats specially are shown bare.
        let bare = !arg.is_empty() && arg.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_./=:,@%+".contains(&b));
        if bare {
            arg.to_string()
        } else {
            shlex::try_quote(arg).map(|q| q.into_owned()).unwrap_or_else(|_| arg.to_string())
        }
    }
}

impl fmt::Display for Invocation {
    /// `kubectl rollout undo ds/calico-node -n kube-system --to-revision=3`: the tool's name,
    /// then each (redacted) argument quoted for a POSIX shell only where it needs it, so the
    /// line can be pasted into a terminal.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.tool.binary_name())?;
        for arg in redact(&self.args) {
            write!(f, " {}", Invocation::display_arg(&arg))?;
        }
        // What goes to stdin, as a shell here-string: `<<< yes`, `<<< '{"apiVersion":…}'`.
        if let Some(stdin) = &self.stdin {
            write!(f, " <<< {}", Invocation::display_arg(stdin.trim_end_matches('\n')))?;
        }
        Ok(())
    }
}

/// What a finished command left behind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    /// The exit code, or `None` when the child was killed by a signal.
    pub code: Option<i32>,
    pub signal: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub duration: Duration,
    /// This tool stopped it (a watch, once it had seen enough or at its deadline): its exit
    /// status is the kill's, not the command's.
    pub stopped: bool,
}

impl Output {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }

    /// `exit code 1`, or `killed by signal 9`: for messages.
    pub fn status_text(&self) -> String {
        match (self.code, self.signal) {
            (Some(code), _) => format!("exit code {code}"),
            (None, Some(signal)) => format!("killed by signal {signal}"),
            (None, None) => "no exit status".to_string(),
        }
    }
}

/// Why a command could not be run to completion at all (as opposed to running and saying no).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExecError {
    /// The program does not exist.
    NotFound(PathBuf),
    /// The program exists but may not be executed.
    PermissionDenied(PathBuf),
    /// The program ran past `--command-timeout` and was killed with its process group.
    TimedOut { after: Duration, stdout: String, stderr: String },
    /// SIGINT, SIGTERM or SIGHUP arrived; the child was stopped.
    Interrupted,
    /// The caller's deadline (the end of `--timeout`) came first; the child was stopped.
    Deadline,
    /// Check mode refused a mutating command: a bug in a task, never an operator error.
    RefusedInCheckMode,
    /// The command ran, and said the cluster cannot be reached with this configuration at all
    /// (a name that does not resolve, an untrusted certificate, bad credentials), or did not
    /// answer within the inspection's retry budget, before anything was changed: the message
    /// and details name the kubeconfig, the context, the server and kubectl's own words.
    Unreachable { message: String, details: Vec<String> },
    /// Stopped unfinished because another command of the same round had already settled the
    /// run (`Exec::run_round`: kubectl said the cluster cannot be reached with this
    /// configuration): its answer could change nothing.
    Settled,
    /// Any other failure to spawn or wait.
    Io(String),
    /// The cluster lock was lost (another run took it over, or it could not be renewed within
    /// its lease): no command that changes the cluster runs any more.
    LockLost(String),
}

impl fmt::Display for ExecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExecError::NotFound(path) => write!(f, "no such file (`{}`)", path.display()),
            ExecError::PermissionDenied(path) => {
                write!(f, "permission denied (`{}`)", path.display())
            }
            ExecError::TimedOut { after, .. } => write!(
                f,
                "no answer within {} (--command-timeout); the command was killed",
                humantime::format_duration(*after)
            ),
            ExecError::Interrupted => write!(f, "{}; the command was stopped", interruption()),
            ExecError::Deadline => f.write_str("stopped at the end of --timeout"),
            ExecError::RefusedInCheckMode => {
                f.write_str("refused: check mode never runs a command that changes the cluster")
            }
            ExecError::Settled => {
                f.write_str("stopped unfinished: another answer of the same round had settled the run")
            }
            ExecError::Io(message) => f.write_str(message),
            ExecError::LockLost(why) => write!(f, "not run: the cluster lock was lost ({why})"),
            ExecError::Unreachable { message, .. } => f.write_str(message),
        }
    }
}

/// The signal that interrupted the run, set by the handler `main` installs
/// ([`signal_cell`]); 0 until one arrives.
static SIGNAL: std::sync::OnceLock<std::sync::Arc<std::sync::atomic::AtomicUsize>> = std::sync::OnceLock::new();

/// The cell the signal handler writes the signal number into.
pub fn signal_cell() -> std::sync::Arc<std::sync::atomic::AtomicUsize> {
    std::sync::Arc::clone(SIGNAL.get_or_init(Default::default))
}

/// `interrupted by SIGINT`, or `interrupted by a signal` when the handler did not say which.
pub fn interruption() -> String {
    let number = SIGNAL.get().map_or(0, |cell| cell.load(std::sync::atomic::Ordering::SeqCst));
    let name = match number as i32 {
        libc::SIGINT => "SIGINT",
        libc::SIGTERM => "SIGTERM",
        libc::SIGHUP => "SIGHUP",
        libc::SIGQUIT => "SIGQUIT",
        _ => return "interrupted by a signal".to_string(),
    };
    format!("interrupted by {name}")
}

/// What a line-by-line reader wants after each line of a long-running command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Continue,
    Stop,
}

/// A command started by `Exec::spawn`: done already (executors that cannot run anything in
/// the background), or running, to be collected.
#[derive(Debug)]
pub enum Pending {
    Done(Result<Output, ExecError>),
    Running(usize),
}

/// What keeps the cluster lock alive (`Exec::keep`): run every so often on an executor of its
/// own; `Err(why)` once the lock is lost.
pub type Renewal = Box<dyn FnMut(&mut dyn Exec) -> Result<(), String> + Send>;

/// What a listing read page by page does with each page it gets (`Exec::spawn_pages`): the
/// command that read it and its output; keeps what it needs of it and names the next page's
/// command, `None` after the last page (or when it cannot read this one, which it keeps to tell).
pub type Pager = Box<dyn FnMut(&Invocation, &Output) -> Option<Invocation> + Send>;

/// The seam between tasks and processes.
pub trait Exec {
    /// Run a command to completion (or until the command timeout) and capture its output.
    fn run(&mut self, invocation: &Invocation) -> Result<Output, ExecError>;

    /// Run a command as `run` does, but stop it at `deadline` if it is still running then
    /// (`Err(Deadline)`): no poll of the wait runs past `--timeout`.
    fn run_by(&mut self, invocation: &Invocation, deadline: Option<std::time::Instant>) -> Result<Output, ExecError> {
        let _ = deadline;
        self.run(invocation)
    }

    /// Run independent commands at the same time, each as `run_by` would: the results in the
    /// order given. The default runs them one after another.
    fn run_all(
        &mut self,
        invocations: &[&Invocation],
        deadline: Option<std::time::Instant>,
    ) -> Vec<Result<Output, ExecError>> {
        invocations.iter().map(|invocation| self.run_by(invocation, deadline)).collect()
    }

    /// [`Exec::run_all`], stopping the rest the moment one ends with an answer that `settles`
    /// (given its index and result) says settles the round: each command still running then is
    /// stopped with its process group and gets `Err(ExecError::Settled)`; those that ended
    /// before keep their own results. The default runs them one after another, and runs none
    /// after a settling answer.
    fn run_round(
        &mut self,
        invocations: &[&Invocation],
        deadline: Option<std::time::Instant>,
        settles: &dyn Fn(usize, &Result<Output, ExecError>) -> bool,
    ) -> Vec<Result<Output, ExecError>> {
        let mut settled = false;
        let mut results = Vec::with_capacity(invocations.len());
        for (index, invocation) in invocations.iter().enumerate() {
            if settled {
                results.push(Err(ExecError::Settled));
                continue;
            }
            let result = self.run_by(invocation, deadline);
            settled = settles(index, &result);
            results.push(result);
        }
        results
    }

    /// Follow several long-lived commands at once (the watch of the pods and one of each
    /// workload), handing each stdout line to `on_line` with the index of its command as it
    /// arrives, until `on_line` says stop, one of them ends, or `deadline` passes; then every
    /// one still running is stopped, and their outputs so far are returned in the order given.
    /// The default follows them one after another, each to its end (scripted executors).
    fn follow_all(
        &mut self,
        invocations: &[&Invocation],
        deadline: std::time::Instant,
        on_line: &mut dyn FnMut(usize, &str) -> Flow,
    ) -> Vec<Result<Output, ExecError>> {
        // After a stop, the rest are still started, and stopped at their first line.
        let mut stopped = false;
        let mut results = Vec::new();
        for (index, invocation) in invocations.iter().enumerate() {
            let result = self.follow(invocation, deadline, &mut |line| {
                if stopped {
                    return Flow::Stop;
                }
                let flow = on_line(index, line);
                stopped = flow == Flow::Stop;
                flow
            });
            results.push(result);
        }
        results
    }

    /// Run a long-lived command (`kubectl get pods -w`), handing each stdout line to
    /// `on_line` as it arrives, until `on_line` says stop, the command ends, or `deadline`
    /// passes (then the child is stopped and the output so far is returned, not an error).
    fn follow(
        &mut self,
        invocation: &Invocation,
        deadline: std::time::Instant,
        on_line: &mut dyn FnMut(&str) -> Flow,
    ) -> Result<Output, ExecError>;

    /// The moment now, as this executor sees it (scripted executors move time by hand).
    fn now(&self) -> std::time::Instant;

    /// Sleep (or, scripted, advance time); returns early with `Err(Interrupted)` on a signal.
    fn sleep(&mut self, duration: Duration) -> Result<(), ExecError>;

    /// Start a command and return at once, to `collect` its result later: a listing that only
    /// informs (the pods at risk) runs while the downgrade goes on, and the cluster lock's
    /// create and delete run beside other work (mutating commands are allowed as by `run`:
    /// refused in check mode and once the lock is lost). The default runs it to its end now.
    fn spawn(&mut self, invocation: &Invocation) -> Pending {
        Pending::Done(self.run(invocation))
    }

    /// Start a listing read page by page and return at once: `first`, then each command the
    /// `pager` names from the page before, one after another, each journaled as it ends; stops
    /// at the first page that fails, at the last page, or when collected at its deadline.
    /// `collect` gives the last page's result. Only the pages' commands run in the background,
    /// the pager keeping what it reads: no page outlives its turn in memory. The default reads
    /// every page now.
    fn spawn_pages(&mut self, first: &Invocation, mut pager: Pager) -> Pending {
        let mut invocation = first.clone();
        loop {
            match self.run(&invocation) {
                Ok(output) if output.success() => match pager(&invocation, &output) {
                    Some(next) => invocation = next,
                    None => return Pending::Done(Ok(output)),
                },
                other => return Pending::Done(other),
            }
        }
    }

    /// The result of a spawned command, waiting for it if it still runs (stopped at
    /// `deadline`, if given); journaled then.
    fn collect(&mut self, pending: Pending, _deadline: Option<std::time::Instant>) -> Result<Output, ExecError> {
        match pending {
            Pending::Done(result) => result,
            Pending::Running(_) => Err(ExecError::Io("this executor runs nothing in the background".into())),
        }
    }

    /// Keep a finding in the journal next to the commands it came from (the pods at risk,
    /// which the report may only count). Executors without a journal ignore it.
    fn note(&mut self, _what: &str, _value: serde_json::Value) {}

    /// The wall clock, for the times written into the cluster lock (scripted executors fix it).
    fn wall_clock(&self) -> std::time::SystemTime {
        std::time::SystemTime::now()
    }

    /// Keep the cluster lock alive in the background: `renewal` runs every `every` (its
    /// commands journaled like any other) until `stop_keeping`. Once it says the lock is lost,
    /// every command that changes the cluster is refused with `ExecError::LockLost`.
    /// Executors that cannot run anything in the background ignore it.
    fn keep(&mut self, _every: Duration, _renewal: Renewal) {}

    /// Stop the renewal; why the lock was lost, if it was.
    fn stop_keeping(&mut self) -> Option<String> {
        None
    }

    /// Run a command that must run even after a signal (the lock's release), for at most
    /// `within`.
    fn run_to_clean_up(&mut self, invocation: &Invocation, _within: Duration) -> Result<Output, ExecError> {
        self.run(invocation)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invocation(args: &[&str]) -> Invocation {
        Invocation::read_only(Tool::Kubectl, "/usr/bin/kubectl", args.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn secrets_are_redacted_in_both_flag_forms() {
        let inv = invocation(&["get", "pods", "--token", "s3cret", "--password=hunter2", "--context=prod"]);
        assert_eq!(
            inv.redacted_argv(),
            ["/usr/bin/kubectl", "get", "pods", "--token", "<redacted>", "--password=<redacted>", "--context=prod"]
        );
        assert!(!inv.to_string().contains("s3cret") && !inv.to_string().contains("hunter2"));
    }

    #[test]
    fn short_form_cuts_long_queries_and_keeps_everything_else() {
        let inv = invocation(&[
            "get",
            "pods",
            "--all-namespaces",
            "-o",
            "custom-columns=NAMESPACE:.metadata.namespace,NAME:.metadata.name",
            "--output=jsonpath={range .items[*]}{.x}{end}",
            "--request-timeout=120s",
        ]);
        assert_eq!(
            inv.short().to_string(),
            "kubectl get pods --all-namespaces -o custom-columns=… --output=jsonpath=… --request-timeout=120s"
        );
        assert!(inv.to_string().contains("NAMESPACE:.metadata.namespace"), "Display stays whole");
        let plain = invocation(&["rollout", "undo", "ds/calico-node", "--to-revision=3", "-o", "jsonpath={.x}"]);
        assert_eq!(plain.short().to_string(), plain.to_string(), "short queries are left alone");
    }

    #[test]
    fn display_quotes_only_what_a_shell_would_misread() {
        let inv = invocation(&[
            "rollout",
            "undo",
            "ds/calico-node",
            "--to-revision=3",
            "--context=a b",
            "-o",
            "jsonpath={.x}",
        ]);
        assert_eq!(
            inv.to_string(),
            "kubectl rollout undo ds/calico-node --to-revision=3 '--context=a b' -o 'jsonpath={.x}'"
        );
    }
}
