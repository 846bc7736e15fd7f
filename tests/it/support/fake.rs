//! The end-to-end harness: a simulated cluster in a temporary directory (`fake-cluster init`),
//! and the real `calico-downgrade` binary run against it with a cleared environment whose
//! `PATH` holds only the fakes, so no test can reach a real kubectl or cluster.
// Tests spawn the binaries under test; the crate's own code may not (clippy.toml).
#![allow(clippy::disallowed_methods)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

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

    /// The simulated cluster's kubeconfig (`fake-cluster init` writes it), as `KUBECONFIG`.
    pub fn kubeconfig(&self) -> PathBuf {
        self.dir.path().join("kubeconfig")
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

    /// Every call the fakes received, one JSON object each (`argv`, `stdin`, `at_ms`). Read while
    /// fakes still run: a line being appended right now (no newline yet; the lock's patches
    /// make lines of some 700 bytes) is not a call yet.
    pub fn calls(&self) -> Vec<serde_json::Value> {
        let text = std::fs::read_to_string(self.dir.path().join("calls.jsonl")).unwrap_or_default();
        text.split_inclusive('\n').filter(|l| l.ends_with('\n')).map(|l| serde_json::from_str(l).unwrap()).collect()
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = self.bare_command(args);
        command.stdin(Stdio::null());
        command
    }

    /// The command with its standard streams left as they are: for a pseudo-terminal.
    pub fn bare_command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(CALICO_DOWNGRADE);
        command
            .args(args)
            .env_clear()
            .env("PATH", self.bin())
            .env("HOME", self.dir.path().join("home"))
            .env("KUBECONFIG", self.kubeconfig())
            .env("CALICO_DOWNGRADE_JOURNAL", self.journal());
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

    /// The journal's entries (one per command; the header lines left out).
    pub fn journal_entries(&self) -> Vec<serde_json::Value> {
        self.journal_lines()
            .into_iter()
            .filter(|line| line.get("header").is_none() && line.get("note").is_none())
            .collect()
    }

    /// The journal's notes (`{"note": WHAT, "value": ...}`), findings kept next to the commands.
    pub fn journal_notes(&self) -> Vec<serde_json::Value> {
        self.journal_lines().into_iter().filter(|line| line.get("note").is_some()).collect()
    }

    /// Every line of the journal, headers included.
    pub fn journal_lines(&self) -> Vec<serde_json::Value> {
        let text = std::fs::read_to_string(self.journal()).unwrap_or_default();
        text.lines().map(|l| serde_json::from_str(l).expect("every journal line is JSON")).collect()
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl FakeCluster {
    /// The raw state file (`cluster.json`): every pod's `created_at_ms`, `running_at_ms`,
    /// `ready_at_ms`, `deleting_at_ms`, on the same clock as `calls.jsonl`'s `at_ms`.
    pub fn state(&self) -> serde_json::Value {
        let text = std::fs::read_to_string(self.dir.path().join("cluster.json")).expect("cluster.json");
        serde_json::from_str(&text).expect("cluster.json is JSON")
    }

    /// Processes still running from this cluster's `bin/` (a fake the tool started and did
    /// not stop), as `(pid, argv)`.
    pub fn leftovers(&self) -> Vec<(u32, String)> {
        let bin = format!("{}/", self.bin().display());
        let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
        entries
            .filter_map(|entry| {
                let pid: u32 = entry.ok()?.file_name().to_str()?.parse().ok()?;
                let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
                let argv: Vec<String> =
                    cmdline.split(|b| *b == 0).map(|a| String::from_utf8_lossy(a).into_owned()).collect();
                argv.iter().any(|a| a.starts_with(&bin)).then(|| (pid, argv.join(" ").trim().to_string()))
            })
            .collect()
    }

    /// Stop whatever [`leftovers`](Self::leftovers) finds; returns what it found.
    pub fn kill_leftovers(&self) -> Vec<(u32, String)> {
        let found = self.leftovers();
        for (pid, _) in &found {
            // SAFETY: sends a signal to a process this test's cluster started.
            unsafe {
                libc::kill(*pid as libc::pid_t, libc::SIGKILL);
            }
        }
        found
    }

    /// What every snapshot of a run against this cluster goes through, in one place (as uv's
    /// `context.filters()`): the temporary directory, times and durations, generated pod
    /// names, the lock holder's host and pid, and the live progress lines whose number depends
    /// on timing.
    pub fn filters(&self) -> Vec<(String, String)> {
        let path = regex::escape(&self.path().display().to_string());
        [
            (path.as_str(), "[TMP]"),
            (r"(?m)^  \[ *\d+(\.\d+)?s[^\]]*\] .*\n", ""),
            // The pace measured over milliseconds.
            (r"\b\d+(\.\d+)?/min\b", "[N]/min"),
            (r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", "[DATE]"),
            (r"\b\d+ ms\b", "[MS]"),
            (r"\b\d+(\.\d+)?s\b", "[TIME]"),
            (r"calico-node-[0-9a-z]{5}\b", "calico-node-[ID]"),
            // The lock's holder: this machine and this process, in the annotation's JSON value
            // (its quotes escaped once or more, as the patch is quoted in a command or a document).
            (r#"host(\\*"):(\\*")[^"\\]*"#, "host$1:$2[HOST]"),
            (r#"pid(\\*"):\d+"#, "pid$1:[PID]"),
            (r"calico-kube-controllers-[0-9a-z]{8,10}-[0-9a-z]{5}\b", "calico-kube-controllers-[HASH]-[ID]"),
        ]
        .into_iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
    }

    /// Insta settings with [`filters`](Self::filters).
    pub fn settings(&self) -> insta::Settings {
        let mut settings = insta::Settings::clone_current();
        for (pattern, replacement) in self.filters() {
            settings.add_filter(&pattern, replacement);
        }
        settings.set_prepend_module_to_snapshot(true);
        settings
    }
}

impl Drop for FakeCluster {
    /// No test leaves a process behind: a fake still running when its cluster goes away is
    /// stopped, and fails the test (unless it is failing already).
    fn drop(&mut self) {
        let left = self.kill_leftovers();
        if !left.is_empty() && !std::thread::panicking() {
            panic!("processes left behind by the test: {left:?}");
        }
    }
}

/// A run as a snapshot shows it whole: the exit code, stdout and stderr (as uv's).
pub fn transcript(run: &Run) -> String {
    format!(
        "exit_code: {}\n----- stdout -----\n{}\n----- stderr -----\n{}",
        run.code.map_or("none (killed)".to_string(), |c| c.to_string()),
        run.stdout,
        run.stderr
    )
}

/// Snapshot a run whole through the cluster's filters: `assert_run!(cluster, "name", run)`.
#[macro_export]
macro_rules! assert_run {
    ($cluster:expr, $name:expr, $run:expr) => {
        $cluster.settings().bind(|| insta::assert_snapshot!($name, $crate::support::fake::transcript(&$run)))
    };
}

/// Replace what varies from run to run (temporary paths, durations, times, pod names) in a
/// report: the cluster's [`filters`](FakeCluster::filters), for text snapshotted in pieces.
pub fn normalise(text: &str, cluster: &FakeCluster) -> String {
    let mut text = text.to_string();
    for (pattern, replacement) in cluster.filters() {
        text = regex::Regex::new(&pattern).unwrap().replace_all(&text, replacement.as_str()).into_owned();
    }
    text
}

/// A `kubectl rollout undo` that changes the cluster (not a `--dry-run=server`), from a call of
/// the simulated cluster's log.
pub fn is_undo(call: &serde_json::Value) -> bool {
    let argv = call["argv"].to_string();
    argv.contains("\"undo\"") && !argv.contains("--dry-run=server")
}

/// Wait until the cluster has seen a call whose argv contains `needle`.
pub fn wait_for_call(cluster: &FakeCluster, needle: &str, within: Duration) {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if cluster.calls().iter().any(|c| c["argv"].to_string().contains(needle)) {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("no call containing {needle} within {within:?}");
}

pub fn signal(child: &std::process::Child, signal: i32) {
    // SAFETY: sends a signal to a child this test started.
    unsafe {
        libc::kill(child.id() as libc::pid_t, signal);
    }
}

/// `run --yes` on slow pods, sent `signal` once the wait follows the watch: its exit code and
/// stdout.
pub fn interrupted_during_the_wait(cluster: &FakeCluster, sig: i32) -> (Option<i32>, String) {
    let child = cluster.command(&["run", "--yes"]).stdout(std::process::Stdio::piped()).spawn().unwrap();
    wait_for_call(cluster, "--watch", Duration::from_secs(20));
    std::thread::sleep(Duration::from_millis(200));
    signal(&child, sig);
    let output = child.wait_with_output().unwrap();
    (output.status.code(), String::from_utf8_lossy(&output.stdout).into_owned())
}
