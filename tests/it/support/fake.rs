//! The end-to-end harness: a simulated cluster in a temporary directory (`fake-cluster init`),
//! and the real `calico-downgrade` binary run against it with a cleared environment whose
//! `PATH` holds only the fakes, so no test can reach a real kubectl or cluster.
// Tests spawn the binaries under test; the crate's own code may not (clippy.toml).
#![allow(clippy::disallowed_methods)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub const CALICO_DOWNGRADE: &str = env!("CARGO_BIN_EXE_calico-downgrade");
pub const FAKE_CLUSTER: &str = env!("CARGO_BIN_EXE_fake-cluster");

pub struct FakeCluster {
    pub dir: tempfile::TempDir,
}

#[derive(Debug)]
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl FakeCluster {
    /// `fake-cluster init DIR ARGS...`
    pub fn new(args: &[&str]) -> FakeCluster {
        let dir = tempfile::tempdir().expect("temporary directory");
        let output = Command::new(FAKE_CLUSTER)
            .arg("init")
            .arg(dir.path())
            .args(args)
            .env_clear()
            .output()
            .expect("fake-cluster init runs");
        assert!(output.status.success(), "fake-cluster init {args:?}: {}", String::from_utf8_lossy(&output.stderr));
        std::fs::create_dir_all(dir.path().join("home")).unwrap();
        FakeCluster { dir }
    }

    pub fn bin(&self) -> PathBuf {
        self.dir.path().join("bin")
    }

    pub fn journal(&self) -> PathBuf {
        self.dir.path().join("journal.jsonl")
    }

    /// The simulated cluster's state, as `fake-cluster show DIR` prints it.
    pub fn show(&self) -> serde_json::Value {
        let output = Command::new(FAKE_CLUSTER).arg("show").arg(self.dir.path()).env_clear().output().unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        serde_json::from_slice(&output.stdout).expect("show prints JSON")
    }

    /// Drop every injected fault (`fake-cluster clear-faults DIR`).
    pub fn clear_faults(&self) {
        let status = Command::new(FAKE_CLUSTER).arg("clear-faults").arg(self.dir.path()).env_clear().status().unwrap();
        assert!(status.success());
    }

    /// Run `fake-cluster VERB DIR ARGS...` (`outage`, `add-node`, ...), which must succeed.
    pub fn control(&self, verb: &str, args: &[&str]) {
        let output = Command::new(FAKE_CLUSTER).arg(verb).arg(self.dir.path()).args(args).env_clear().output().unwrap();
        assert!(output.status.success(), "fake-cluster {verb} {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    }

    /// Every call the fakes received, one JSON object each (`argv`, `stdin`, `at_ms`).
    pub fn calls(&self) -> Vec<serde_json::Value> {
        let text = std::fs::read_to_string(self.dir.path().join("calls.jsonl")).unwrap_or_default();
        text.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(CALICO_DOWNGRADE);
        command
            .args(args)
            .env_clear()
            .env("PATH", self.bin())
            .env("HOME", self.dir.path().join("home"))
            .env("CALICO_DOWNGRADE_JOURNAL", self.journal())
            .stdin(Stdio::null());
        command
    }

    /// Run calico-downgrade against this cluster, stdin closed.
    pub fn run(&self, args: &[&str]) -> Run {
        let output = self.command(args).output().expect("calico-downgrade runs");
        Run {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// The journal's entries.
    pub fn journal_entries(&self) -> Vec<serde_json::Value> {
        let text = std::fs::read_to_string(self.journal()).unwrap_or_default();
        text.lines().map(|l| serde_json::from_str(l).expect("every journal line is JSON")).collect()
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

/// Replace what varies from run to run (temporary paths, durations, times) in a report.
pub fn normalise(text: &str, cluster: &FakeCluster) -> String {
    let text = text.replace(&cluster.path().display().to_string(), "[TMP]");
    let rules = [
        (r"\b\d+(\.\d+)?s\b", "[TIME]"),
        (r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", "[DATE]"),
        (r"\[ *\[TIME\]\]", "[ELAPSED]"),
        (r"\d+ ms\b", "[MS]"),
    ];
    let mut text = text;
    for (pattern, replacement) in rules {
        text = regex::Regex::new(pattern).unwrap().replace_all(&text, replacement).into_owned();
    }
    text
}

/// A `kubectl rollout undo` that changes the cluster (not a `--dry-run=server`), from a call of
/// the simulated cluster's log.
pub fn is_undo(call: &serde_json::Value) -> bool {
    let argv = call["argv"].to_string();
    argv.contains("\"undo\"") && !argv.contains("--dry-run=server")
}
