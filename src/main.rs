//! The entry point: read the environment once, install the SIGINT/SIGTERM flag, hand the
//! arguments to [`calico_downgrade::app::main_with`] (the command line or an Ansible arguments
//! file), and exit with the documented code.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use calico_downgrade::app::{main_with, Snapshot};

// The one place that reads the environment (clippy.toml bans it everywhere else).
#[allow(clippy::disallowed_methods)]
fn main() -> ExitCode {
    let interrupted = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        // Children run in their own process groups, so the runner stops them itself.
        if let Err(error) = signal_hook::flag::register(signal, Arc::clone(&interrupted)) {
            eprintln!("warning: failed to install the handler for signal {signal}: {error}");
        }
    }
    let snapshot = Snapshot {
        vars: std::env::vars_os().filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?))).collect(),
        cwd: std::env::current_dir().unwrap_or_default(),
        stdin_is_terminal: std::io::stdin().is_terminal(),
        stdout_is_terminal: std::io::stdout().is_terminal(),
        pid: std::process::id(),
    };
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
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
