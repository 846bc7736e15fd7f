//! How a command's failure becomes a [`Stop`], and with which exit code: a command that could
//! not run (1, or 130 when interrupted), one that ran and said no (1), output no parser
//! recognised (2).

use super::Stop;
use crate::exec::{ExecError, Invocation, Output};
use crate::exit::Exit;
use crate::tools::{excerpt, Unrecognised};

/// A command that could not run to completion.
pub fn exec_stop(invocation: &Invocation, error: &ExecError) -> Stop {
    let exit = match error {
        ExecError::Interrupted => Exit::Interrupted,
        _ => Exit::StepFailed,
    };
    let mut stop = Stop::new(exit, format!("`{invocation}` failed: {error}"));
    if let ExecError::TimedOut { stderr, .. } = error {
        stop.details = excerpt(stderr).into_iter().map(|l| format!("stderr: {l}")).collect();
    }
    stop
}

/// A command that ran and said no (non-zero exit): exit 1, quoting stderr.
pub fn refused(invocation: &Invocation, output: &Output) -> Stop {
    let cause = crate::tools::kubectl::failure_message(&output.stderr);
    let cause = if cause.is_empty() {
        excerpt(&output.stdout).first().cloned().unwrap_or_else(|| "no message".to_string())
    } else {
        cause
    };
    Stop::new(Exit::StepFailed, format!("`{invocation}` failed with {}: {cause}", output.status_text()))
        .with_details(excerpt(&output.stderr).into_iter().map(|l| format!("stderr: {l}")).collect())
}

pub(super) fn unrecognised(invocation: &Invocation, error: Unrecognised, tool_version: Option<&str>) -> Stop {
    let version = tool_version.map(|v| format!(" ({} {v})", invocation.tool)).unwrap_or_default();
    Stop::new(Exit::Unrecognised, format!("`{invocation}`{version}: {}", error.headline()))
        .with_details(error.excerpt.iter().map(|l| format!("| {l}")).collect())
}
