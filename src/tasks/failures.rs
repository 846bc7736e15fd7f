//! How a command's failure becomes a [`Stop`], and with which exit code: a command that could
//! not run (1, or 130 when interrupted), one that ran and said no (1), output no parser
//! recognised (2).

use super::Stop;
use crate::exec::{ExecError, Invocation, Output};
use crate::exit::Exit;
use crate::tools::{excerpt, Unrecognised};

/// A command that could not run to completion: stopped by a signal (130), killed at
/// `--command-timeout`, or never started (1).
pub fn exec_stop(invocation: &Invocation, error: &ExecError) -> Stop {
    let command = invocation.short();
    match error {
        ExecError::Interrupted => Stop::new(
            Exit::Interrupted,
            format!("{} during `{command}`; the command was stopped", crate::exec::interruption()),
        ),
        ExecError::TimedOut { after, stderr, .. } => Stop::new(
            Exit::StepFailed,
            format!(
                "`{command}` gave no answer within {} (--command-timeout) and was killed",
                humantime::format_duration(*after)
            ),
        )
        .with_details(excerpt(stderr).into_iter().map(|l| format!("stderr: {l}")).collect()),
        ExecError::Deadline => Stop::new(Exit::StepFailed, format!("`{command}` was stopped at the end of --timeout")),
        ExecError::Unreachable { message, details } => {
            Stop::new(Exit::Precondition, message.clone()).with_details(details.clone())
        }
        _ => Stop::new(Exit::StepFailed, format!("`{command}` could not run: {error}")),
    }
}

/// A command that ran and said no (non-zero exit): exit 1, with the tool's own words once:
/// the line that says why in the message, any other stderr lines below it.
pub fn refused(invocation: &Invocation, output: &Output) -> Stop {
    let cause = crate::tools::kubectl::failure_message(&output.stderr);
    let cause = if cause.is_empty() {
        excerpt(&output.stdout).first().cloned().unwrap_or_else(|| "no message".to_string())
    } else {
        cause
    };
    let others: Vec<String> = excerpt(&output.stderr)
        .into_iter()
        .filter(|line| line.trim() != cause)
        .map(|l| format!("stderr: {l}"))
        .collect();
    Stop::new(Exit::StepFailed, format!("`{}` failed with {}: {cause}", invocation.short(), output.status_text()))
        .with_details(others)
}

pub(super) fn unrecognised(invocation: &Invocation, error: Unrecognised, tool_version: Option<&str>) -> Stop {
    let version = tool_version.map(|v| format!(" ({} {v})", invocation.tool)).unwrap_or_default();
    let message = format!("`{}`{version}: {}", invocation.short(), error.headline());
    // The output is quoted once: lines the headline already quotes are not repeated.
    let quoted: Vec<String> =
        error.excerpt.iter().filter(|l| !message.contains(l.trim())).map(|l| format!("| {l}")).collect();
    Stop::new(Exit::Unrecognised, message).with_details(quoted)
}

/// A command that must have run and exited 0: its output, or the `Stop` for why not.
pub fn succeeded(invocation: &Invocation, result: Result<Output, ExecError>) -> Result<Output, Stop> {
    let output = result.map_err(|error| exec_stop(invocation, &error))?;
    if output.success() {
        Ok(output)
    } else {
        Err(refused(invocation, &output))
    }
}
