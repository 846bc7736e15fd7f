//! The entry point: read the environment once, install the SIGINT/SIGTERM/SIGHUP flag, then
//! either run as the Ansible module ([`calico_downgrade::ansible::try_module`], one argument
//! naming a JSON file) or hand the command line to [`calico_downgrade::app::main_with`], and
//! exit with the documented code. Both entry points sit above the application they drive.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use calico_downgrade::ansible::try_module;
use calico_downgrade::app::{main_with, Snapshot};

// The one place that reads the environment (clippy.toml bans it everywhere else).
#[allow(clippy::disallowed_methods)]
fn main() -> ExitCode {
    let interrupted = Arc::new(AtomicBool::new(false));
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    for signal in [SIGINT, SIGTERM, SIGHUP] {
        // The first signal sets the flag: the runner stops the running child (in its own
        // process group) and the run ends with its report, exit 130. A second one, the flag
        // being set, exits at once with 130; every child dies with the tool (PR_SET_PDEATHSIG).
        // A hang-up (the SSH session dropped) is an interruption like Ctrl-C.
        let installed = signal_hook::flag::register_conditional_shutdown(signal, 130, Arc::clone(&interrupted))
            .and_then(|_| signal_hook::flag::register(signal, Arc::clone(&interrupted)))
            // Which signal it was, for the report (`interrupted by SIGINT during ...`).
            .and_then(|_| {
                signal_hook::flag::register_usize(signal, calico_downgrade::exec::signal_cell(), signal as usize)
            });
        if let Err(error) = installed {
            eprintln!("warning: failed to install the handler for signal {signal}: {error}");
        }
    }
    let snapshot = Snapshot {
        vars: std::env::vars_os().collect(),
        cwd: std::env::current_dir().unwrap_or_default(),
        stdin_is_terminal: std::io::stdin().is_terminal(),
        stdout_is_terminal: std::io::stdout().is_terminal(),
        pid: std::process::id(),
        args: std::env::args_os().map(|a| a.to_string_lossy().into_owned()).collect(),
        host: rustix::system::uname().nodename().to_string_lossy().into_owned(),
    };
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if let Some(code) = try_module(&args, &snapshot, Arc::clone(&interrupted)) {
        return exit_code(code);
    }
    exit_code(main_with(rewrite_plugin_name(args), snapshot, interrupted))
}

/// Installed as `kubectl-calico_downgrade`, kubectl runs it as `kubectl calico-downgrade`;
/// clap only needs a consistent program name for its messages.
fn rewrite_plugin_name(mut args: Vec<std::ffi::OsString>) -> Vec<std::ffi::OsString> {
    if let Some(first) = args.first_mut() {
        let name = std::path::Path::new(first).file_name().map(|n| n.to_string_lossy().into_owned());
        if name.as_deref() == Some("kubectl-calico_downgrade") {
            *first = "kubectl calico-downgrade".into();
        }
    }
    args
}

fn exit_code(code: i32) -> ExitCode {
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}
