//! The journal: one JSON line per external command, appended and flushed as each finishes.
//!
//! A line holds the argv (secrets redacted), the start time, the duration, the exit code (or
//! the signal, or why the command could not run) and the full stdout and stderr. The file is
//! opened in append mode and never truncated; each line is written with a single `write` and
//! flushed before the tool acts on the result, so it survives the tool being killed.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::Serialize;

use super::{ExecError, Invocation, Output};

pub struct Journal {
    path: PathBuf,
    file: File,
    /// Set once a write failed, so the report can say the journal is incomplete.
    pub write_error: Option<String>,
}

#[derive(Serialize)]
struct Entry<'a> {
    argv: Vec<String>,
    effect: super::Effect,
    started: String,
    duration_ms: u128,
    exit_code: Option<i32>,
    signal: Option<i32>,
    error: Option<String>,
    stdin: Option<&'a str>,
    stdout: &'a str,
    stderr: &'a str,
}

impl Journal {
    /// Open (creating it and its directory if needed) the journal at `path`, for appending.
    pub fn open(path: &Path) -> anyhow::Result<Journal> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| anyhow::anyhow!("failed to create the journal directory `{}`: {e}", dir.display()))?;
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| anyhow::anyhow!("failed to open the journal `{}`: {e}", path.display()))?;
        Ok(Journal { path: path.to_path_buf(), file, write_error: None })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn record(&mut self, invocation: &Invocation, started: SystemTime, result: &Result<Output, ExecError>) {
        let empty = String::new();
        let (exit_code, signal, error, stdout, stderr, duration) = match result {
            Ok(output) => (output.code, output.signal, None, &output.stdout, &output.stderr, output.duration),
            Err(ExecError::TimedOut { stdout, stderr, after }) => {
                (None, None, Some(result.as_ref().unwrap_err().to_string()), stdout, stderr, *after)
            }
            Err(other) => (None, None, Some(other.to_string()), &empty, &empty, std::time::Duration::ZERO),
        };
        let entry = Entry {
            argv: invocation.redacted_argv(),
            effect: invocation.effect,
            started: humantime::format_rfc3339_millis(started).to_string(),
            duration_ms: duration.as_millis(),
            exit_code,
            signal,
            error,
            stdin: invocation.stdin.as_deref(),
            stdout,
            stderr,
        };
        let mut line = serde_json::to_string(&entry).expect("a journal entry always serializes");
        line.push('\n');
        if let Err(e) = self.file.write_all(line.as_bytes()).and_then(|()| self.file.flush()) {
            self.write_error
                .get_or_insert_with(|| format!("failed to write the journal `{}`: {e}", self.path.display()));
        }
    }
}

/// The default journal path: `$XDG_STATE_HOME/calico-downgrade/` (or
/// `~/.local/state/calico-downgrade/`), one file per run named by its start time and pid.
pub fn default_path(xdg_state_home: Option<&str>, home: Option<&str>, now: SystemTime, pid: u32) -> Option<PathBuf> {
    let base = match (xdg_state_home.filter(|s| !s.is_empty()), home.filter(|s| !s.is_empty())) {
        (Some(state), _) => PathBuf::from(state),
        (None, Some(home)) => Path::new(home).join(".local/state"),
        (None, None) => return None,
    };
    let stamp = humantime::format_rfc3339_seconds(now).to_string().replace(':', "");
    Some(base.join("calico-downgrade").join(format!("journal-{stamp}-{pid}.jsonl")))
}
