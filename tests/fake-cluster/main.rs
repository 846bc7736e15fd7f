//! `fake-cluster`: a simulated Kubernetes cluster running Calico, for tests only.
//!
//! One binary, chosen by the file name of argv[0]: `kubectl`, `calicoctl` and `calico-upgrade`
//! answer from the state in `<dir of argv[0]>/../cluster.json`; any other name is the control
//! CLI (`fake-cluster init DIR [OPTIONS]`, `fake-cluster show DIR`). See README.md beside this
//! file for the contract. No environment variable is read, except PATH to find argv[0] when it
//! has no directory part. Anything unexpected: `fake-cluster: unexpected command: <argv>` on
//! stderr and exit 97.
// Cargo also finds this file as an integration test (`tests/*/main.rs`); there, main is unused.
#![cfg_attr(test, allow(dead_code))]

mod calico_upgrade;
mod calicoctl;
mod control;
mod kubectl;
mod objects;
mod scenario;
mod sim;
mod state;
mod table;
mod watch;

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use state::{now_ms, CallRecord, ClusterDir, FaultKind};

/// Exit code for a command or argument the fake does not expect.
pub const UNEXPECTED: i32 = 97;
/// Exit code for a broken simulated cluster (no state, unreadable files).
pub const BROKEN: i32 = 98;

/// What a command printed, and what the process does after printing it.
#[derive(Debug)]
pub struct Output {
    pub stdout: String,
    pub stderr: String,
    pub code: i32,
    pub then: Then,
}

#[derive(Debug)]
pub enum Then {
    Exit,
    /// Sleep until this wall-clock time, then exit (`kubectl delete` waiting for the pod).
    WaitUntil(u64),
    /// Keep following the pods or a workload (`kubectl get ... --watch`) until killed.
    Watch(Box<watch::Watch>),
}

/// Print the unexpected-command line (and why, on a second line) and return 97.
pub fn unexpected(argv: &[String], reason: Option<&str>) -> i32 {
    let mut words = vec![program_name(&argv[0])];
    words.extend(argv[1..].iter().cloned());
    eprintln!("fake-cluster: unexpected command: {}", words.join(" "));
    if let Some(reason) = reason {
        eprintln!("fake-cluster: ({reason})");
    }
    UNEXPECTED
}

fn program_name(arg0: &str) -> String {
    Path::new(arg0).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| arg0.to_string())
}

fn main() {
    // Die on a closed pipe like the real tools (Rust ignores SIGPIPE by default).
    // SAFETY: restoring the default disposition of a signal.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let argv: Vec<String> = std::env::args_os().map(|a| a.to_string_lossy().into_owned()).collect();
    let code = match program_name(argv.first().map(String::as_str).unwrap_or("fake-cluster")).as_str() {
        "kubectl" => run_tool(Tool::Kubectl, &argv),
        "calicoctl" => run_tool(Tool::Calicoctl, &argv),
        "calico-upgrade" => run_tool(Tool::CalicoUpgrade, &argv),
        _ => control::run(&argv),
    };
    std::process::exit(code);
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tool {
    Kubectl,
    Calicoctl,
    CalicoUpgrade,
}

enum Command {
    Kubectl(kubectl::Cmd),
    Calicoctl,
    CalicoUpgrade(calico_upgrade::Cmd),
}

impl Command {
    fn call(&self) -> &'static str {
        match self {
            Command::Kubectl(c) => c.call(),
            Command::Calicoctl => "calicoctl-version",
            Command::CalicoUpgrade(c) => c.call(),
        }
    }
}

/// `<dir of argv[0]>/..`, without resolving the symlink argv[0] names. A bare argv[0] is looked
/// up on `PATH`, as the shell that started it did (the only variable a fake reads).
#[allow(clippy::disallowed_methods)]
fn cluster_dir(arg0: &str) -> Option<PathBuf> {
    let path = Path::new(arg0);
    let exe = if arg0.contains('/') {
        path.to_path_buf()
    } else {
        let search = std::env::var_os("PATH")?;
        std::env::split_paths(&search).map(|dir| dir.join(arg0)).find(|candidate| candidate.exists())?
    };
    let bin = exe.parent()?;
    let bin = if bin.as_os_str().is_empty() { Path::new(".") } else { bin };
    Some(bin.join(".."))
}

fn run_tool(tool: Tool, argv: &[String]) -> i32 {
    let Some(dir) = cluster_dir(&argv[0]) else {
        eprintln!("fake-cluster: cannot find the directory of {}", argv[0]);
        return BROKEN;
    };
    let cluster = ClusterDir::new(dir);
    if !cluster.state_path().exists() {
        eprintln!("fake-cluster: no simulated cluster at {}", cluster.state_path().display());
        return BROKEN;
    }
    let args = &argv[1..];
    let parsed = match tool {
        Tool::Kubectl => kubectl::parse(args).map(Command::Kubectl),
        Tool::Calicoctl => calicoctl::parse(args).map(|()| Command::Calicoctl),
        Tool::CalicoUpgrade => calico_upgrade::parse(args).map(Command::CalicoUpgrade),
    };
    let mut logged_argv = vec![program_name(&argv[0])];
    logged_argv.extend(args.iter().cloned());
    let refuse = |logged_argv: Vec<String>, stdin: String, reason: &str| {
        let record = CallRecord {
            argv: logged_argv,
            stdin,
            at_ms: now_ms(),
            call: "unexpected".into(),
            kubeconfig: state::kubeconfig_env(),
        };
        if let Err(e) = cluster.lock().and_then(|_lock| cluster.log_call(&record)) {
            eprintln!("fake-cluster: {e}");
        }
        unexpected(argv, Some(reason))
    };
    let command = match parsed {
        Ok(command) => command,
        Err(reason) => return refuse(logged_argv, String::new(), &reason),
    };
    match run_command(&cluster, command, logged_argv) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("fake-cluster: {e}");
            BROKEN
        }
    }
}

/// Run a parsed command.
fn run_command(cluster: &ClusterDir, command: Command, logged_argv: Vec<String>) -> Result<i32, String> {
    // A prompt reads one line of stdin; read it before taking the lock.
    let stdin = match &command {
        Command::CalicoUpgrade(cmd) => {
            let needs = {
                let _lock = cluster.lock()?;
                calico_upgrade::needs_stdin(cmd, &cluster.load()?)
            };
            if needs {
                let mut line = String::new();
                let _ = std::io::stdin().lock().read_line(&mut line);
                line
            } else {
                String::new()
            }
        }
        _ => String::new(),
    };

    let call = command.call();
    let (fault, output) = {
        let _lock = cluster.lock()?;
        let mut state = cluster.load()?;
        let now = now_ms().max(state.clock_ms);
        sim::advance(&mut state, now);
        cluster.log_call(&CallRecord {
            argv: logged_argv,
            stdin: stdin.clone(),
            at_ms: now,
            call: call.into(),
            kubeconfig: state::kubeconfig_env(),
        })?;
        // A flag the configured kubectl does not have fails before any request: no fault, no
        // outage applies.
        let refusal = match &command {
            Command::Kubectl(cmd) => kubectl::flag_error(cmd, state.config.kubectl_style),
            _ => None,
        };
        // The undo of both workloads is also the process that carries each one's undo: a fault
        // injected on either applies to the whole process, but a failure, which kubectl
        // reports for that one and goes on past, and a stuck rollout, which is that one's
        // (`kubectl::execute` answers both).
        let within = match &command {
            Command::Kubectl(cmd) => cmd.calls_within(),
            _ => Vec::new(),
        };
        let mut fault = if refusal.is_some() {
            None
        } else {
            state.take_fault(call).or_else(|| {
                let whole = |kind: FaultKind| !matches!(kind, FaultKind::Fail | FaultKind::Stuck);
                let inner = within.iter().find(|inner| state.fault_on(inner).is_some_and(whole))?;
                state.take_fault(inner)
            })
        };
        // `kubectl version --client` and `kubectl config …` read only the local kubeconfig: an
        // outage of the API server does not reach them, as with real kubectl.
        let local = matches!(call, "kubectl-version" | "kubectl-config-view");
        if refusal.is_none() && state.in_outage(now) && call.starts_with("kubectl-") && !local {
            fault = Some(FaultKind::Unreachable);
        }
        let output = match fault {
            _ if refusal.is_some() => refusal,
            Some(
                FaultKind::Fail
                | FaultKind::Unreachable
                | FaultKind::UnknownHost
                | FaultKind::Untrusted
                | FaultKind::Unauthorized
                | FaultKind::Garbage
                | FaultKind::Hang
                | FaultKind::Signal,
            ) => None,
            _ => Some(match command {
                Command::Kubectl(cmd) => kubectl::execute(&mut state, cmd, now, fault == Some(FaultKind::Stuck)),
                Command::Calicoctl => calicoctl::version(&state),
                Command::CalicoUpgrade(cmd) => calico_upgrade::execute(&mut state, cmd, &stdin, fault),
            }),
        };
        cluster.save(&state)?;
        (fault, output)
    };

    let Some(output) = output else {
        return Ok(match fault {
            Some(FaultKind::Fail) => {
                eprintln!("error: injected failure");
                1
            }
            Some(FaultKind::Unreachable) => {
                eprint!("{}", kubectl::UNREACHABLE);
                1
            }
            Some(FaultKind::UnknownHost) => {
                eprint!("{}", kubectl::UNKNOWN_HOST);
                1
            }
            Some(FaultKind::Untrusted) => {
                eprint!("{}", kubectl::UNTRUSTED);
                1
            }
            Some(FaultKind::Unauthorized) => {
                eprint!("{}", kubectl::UNAUTHORIZED);
                1
            }
            Some(FaultKind::Garbage) => {
                println!("%%% unrecognised output %%%");
                0
            }
            Some(FaultKind::Hang) => {
                std::thread::sleep(Duration::from_secs(3600));
                0
            }
            _ => {
                // SAFETY: sending a signal to ourselves.
                unsafe {
                    libc::kill(libc::getpid(), libc::SIGKILL);
                }
                137
            }
        });
    };

    let mut stdout = std::io::stdout();
    let _ = stdout.write_all(output.stdout.as_bytes());
    let _ = stdout.flush();
    let mut stderr = std::io::stderr();
    let _ = stderr.write_all(output.stderr.as_bytes());
    let _ = stderr.flush();
    match output.then {
        Then::Exit => {}
        Then::WaitUntil(at) => {
            let now = now_ms();
            if at > now {
                std::thread::sleep(Duration::from_millis(at - now));
            }
        }
        Then::Watch(mut watch) => return Ok(watch::watch_loop(cluster, &mut watch)),
    }
    Ok(output.code)
}
