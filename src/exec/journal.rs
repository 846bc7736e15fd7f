//! The journal: one JSON line per external command, appended and flushed as each finishes.
//!
//! A line holds the argv (secrets redacted), the start time, the duration, the exit code (or
//! the signal, or why the command could not run), the full stderr and the full stdout, or,
//! when the same argv ran before, its stdout as line edits of that earlier one
//! (`stdout_delta`, [`delta`]): a wait that looks or watches for hours repeats the same table,
//! and only what changed is written again. The file is opened in append mode and never
//! truncated; each line is written with a single `write` and flushed before the tool acts on
//! the result, so it survives the tool being killed.
//!
//! The first line is a [`Header`]: the tool's version, its command line and the cluster it
//! acts on. A finding the report only summarises (the pods at risk) and each task's whole
//! result are kept as `note` lines. Files are created 0600 (they hold the clusters' output) in
//! a 0700 directory; only the newest default journals are kept ([`prune`]). Two runs against
//! one cluster are kept apart by the cluster lock (`lease`), not here: a host may change many
//! clusters at once.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::Serialize;

use super::{ExecError, Invocation, Output};

/// The journal of one run. Cloning it shares the file: the command that renews the cluster
/// lock in the background (`Runner::keep`) is journaled in the same file, line by line.
#[derive(Debug, Clone)]
pub struct Journal {
    path: PathBuf,
    file: std::sync::Arc<std::sync::Mutex<Written>>,
    /// Keep every stdout whole, pods pages included (`-v`).
    whole: bool,
}

#[derive(Debug)]
struct Written {
    file: File,
    /// Set once a write failed, so the report can say the journal is incomplete.
    error: Option<String>,
    /// The stdout last journaled for each of the few argvs seen last (newest last), the base
    /// of the next `stdout_delta` of the same argv.
    last: Vec<(Vec<String>, String)>,
}

/// How many argvs' last stdout are kept for deltas (a wait repeats at most three at a time),
/// and the largest stdout kept (a pods page, 2 MB, is never repeated: its token differs).
const DELTA_BASES: usize = 8;
const DELTA_BASE_BYTES: usize = 1 << 20;

/// One edit of [`delta`]: keep the base's next lines, drop them, or insert a new line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(untagged)]
pub enum Edit {
    /// `n` > 0 keeps the base's next `n` lines, `n` < 0 skips `-n` of them.
    Lines(i64),
    /// A line (with its line end, if it had one) that the base does not have there.
    Insert(String),
}

/// `text` as edits of `base`, line by line (each line with its `\n`): walking both, a line
/// equal to the base's next one is kept; one found further on in the base skips the base's
/// lines up to it; any other is inserted. Exact whatever the two texts ([`apply`] gives `text`
/// back), and short when they are tables of the same rows in the same order, as kubectl
/// prints them from one look to the next.
pub fn delta(base: &str, text: &str) -> Vec<Edit> {
    let old: Vec<&str> = base.split_inclusive('\n').collect();
    let mut at: std::collections::HashMap<&str, Vec<usize>> = std::collections::HashMap::new();
    for (index, line) in old.iter().enumerate() {
        at.entry(line).or_default().push(index);
    }
    let mut edits: Vec<Edit> = Vec::new();
    let push = |edit: Edit, edits: &mut Vec<Edit>| match (edits.last_mut(), &edit) {
        (Some(Edit::Lines(n)), Edit::Lines(m)) if (*n > 0) == (*m > 0) => *n += m,
        _ => edits.push(edit),
    };
    let mut i = 0;
    for line in text.split_inclusive('\n') {
        if old.get(i) == Some(&line) {
            push(Edit::Lines(1), &mut edits);
            i += 1;
            continue;
        }
        let further = at.get(line).and_then(|places| places.iter().copied().find(|&p| p > i));
        match further {
            Some(p) => {
                push(Edit::Lines(-((p - i) as i64)), &mut edits);
                push(Edit::Lines(1), &mut edits);
                i = p + 1;
            }
            None => push(Edit::Insert(line.to_string()), &mut edits),
        }
    }
    edits
}

/// The text that `edits` make of `base` (the inverse of [`delta`]); `None` when they do not
/// fit it (a base that is not the one they were made from).
pub fn apply(base: &str, edits: &[Edit]) -> Option<String> {
    let old: Vec<&str> = base.split_inclusive('\n').collect();
    let mut text = String::new();
    let mut i = 0usize;
    for edit in edits {
        match edit {
            Edit::Lines(n) if *n >= 0 => {
                let end = i.checked_add(usize::try_from(*n).ok()?)?;
                text.extend(old.get(i..end)?.iter().copied());
                i = end;
            }
            Edit::Lines(n) => i = i.checked_add(usize::try_from(n.unsigned_abs()).ok()?)?,
            Edit::Insert(line) => text.push_str(line),
        }
    }
    Some(text)
}

#[derive(Serialize)]
struct Entry<'a> {
    argv: Vec<String>,
    effect: super::Effect,
    started: String,
    duration_ms: u128,
    exit_code: Option<i32>,
    signal: Option<i32>,
    /// Stopped by this tool (a watch that had shown enough): the signal is the tool's.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    stopped: bool,
    error: Option<String>,
    stdin: Option<&'a str>,
    /// The whole stdout, unless `stdout_delta` says it as edits of the previous stdout of the
    /// same argv (see [`delta`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    stdout: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stdout_delta: Option<Vec<Edit>>,
    /// A pods page's size in bytes and what the listing read of it (`Journaled::PodsPage`),
    /// instead of its stdout.
    #[serde(skip_serializing_if = "Option::is_none")]
    stdout_bytes: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stdout_kept: Option<serde_json::Value>,
    stderr: &'a str,
}

/// The journal's first line: what ran, and against which cluster.
#[derive(Debug, Clone, Serialize)]
pub struct Header {
    pub tool: &'static str,
    pub version: &'static str,
    pub command_line: Vec<String>,
    pub started: String,
    pub pid: u32,
    pub context: Option<String>,
    pub server: Option<String>,
    pub user: Option<String>,
}

/// Create `dir` (and its parents) as the state directory: 0700, since what is kept there
/// holds the clusters' output.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)
}

impl Journal {
    /// Open (creating it, 0600, and its directory if needed) the journal at `path`, for
    /// appending, and write the header line. Any failure is an error: a run that changes the
    /// cluster does not start without its record.
    pub fn open(path: &Path, header: &Header) -> anyhow::Result<Journal> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            create_private_dir(dir)
                .map_err(|e| anyhow::anyhow!("failed to create the journal directory `{}`: {e}", dir.display()))?;
        }
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(path)
            .map_err(|e| anyhow::anyhow!("failed to open the journal `{}`: {e}", path.display()))?;
        let mut line = serde_json::to_string(&serde_json::json!({ "header": header }))
            .expect("a journal header always serializes");
        line.push('\n');
        file.write_all(line.as_bytes())
            .and_then(|()| file.flush())
            .map_err(|e| anyhow::anyhow!("failed to write the journal `{}`: {e}", path.display()))?;
        Ok(Journal {
            path: path.to_path_buf(),
            file: std::sync::Arc::new(std::sync::Mutex::new(Written { file, error: None, last: Vec::new() })),
            whole: false,
        })
    }

    /// Keep every stdout whole, a pods page's too (`-v`: every detail).
    pub fn whole(mut self, whole: bool) -> Journal {
        self.whole = whole;
        self
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The first write that failed, if any: the journal is incomplete.
    pub fn write_error(&self) -> Option<String> {
        self.file.lock().ok().and_then(|w| w.error.clone())
    }

    /// Append one line with a single `write`, flushed; a failure is kept for `write_error`.
    fn append(&self, line: String) {
        let Ok(mut written) = self.file.lock() else { return };
        self.append_locked(&mut written, line);
    }

    fn append_locked(&self, written: &mut Written, mut line: String) {
        line.push('\n');
        if let Err(e) = written.file.write_all(line.as_bytes()).and_then(|()| written.file.flush()) {
            written.error.get_or_insert_with(|| format!("failed to write the journal `{}`: {e}", self.path.display()));
        }
    }

    pub fn record(&self, invocation: &Invocation, started: SystemTime, result: &Result<Output, ExecError>) {
        let empty = String::new();
        let stopped = result.as_ref().is_ok_and(|o| o.stopped);
        let (exit_code, signal, error, stdout, stderr, duration) = match result {
            Ok(output) => (output.code, output.signal, None, &output.stdout, &output.stderr, output.duration),
            Err(ExecError::TimedOut { stdout, stderr, after }) => {
                (None, None, Some(result.as_ref().unwrap_err().to_string()), stdout, stderr, *after)
            }
            // Interrupted, or it could not start: as long as it really ran.
            Err(other) => (
                None,
                None,
                Some(other.to_string()),
                &empty,
                &empty,
                SystemTime::now().duration_since(started).unwrap_or_default(),
            ),
        };
        let argv = invocation.redacted_argv();
        let kept = match invocation.journaled {
            super::Journaled::PodsPage if !self.whole => crate::tools::kubectl::pods_page_record(stdout),
            super::Journaled::Pod if !self.whole => crate::tools::kubectl::pod_record(stdout),
            _ => None,
        };
        // Under the lock from the base's lookup to the write: the base of a delta is always
        // the line before it in the file with the same argv.
        let Ok(mut written) = self.file.lock() else { return };
        let base = written.last.iter().position(|(seen, _)| *seen == argv);
        let stdout_delta =
            base.filter(|_| kept.is_none()).map(|index| delta(&written.last[index].1, stdout)).filter(|edits| {
                // Only when shorter than the text itself.
                edits.iter().map(|e| if let Edit::Insert(line) = e { line.len() + 4 } else { 8 }).sum::<usize>()
                    < stdout.len()
            });
        if let Some(index) = base {
            written.last.remove(index);
        }
        if stdout.len() <= DELTA_BASE_BYTES && kept.is_none() {
            if written.last.len() >= DELTA_BASES {
                written.last.remove(0);
            }
            written.last.push((argv.clone(), stdout.clone()));
        }
        let entry = Entry {
            argv,
            effect: invocation.effect,
            started: humantime::format_rfc3339_millis(started).to_string(),
            duration_ms: duration.as_millis(),
            exit_code,
            signal,
            stopped,
            error,
            stdin: invocation.stdin.as_deref(),
            stdout: (stdout_delta.is_none() && kept.is_none()).then_some(stdout.as_str()),
            stdout_delta,
            stdout_bytes: kept.is_some().then_some(stdout.len()),
            stdout_kept: kept,
            stderr,
        };
        let line = serde_json::to_string(&entry).expect("a journal entry always serializes");
        self.append_locked(&mut written, line);
    }
}

impl Journal {
    /// A finding as one line, `{"note": WHAT, "value": ...}`, between the commands.
    pub fn note(&self, what: &str, value: &serde_json::Value) {
        self.append(
            serde_json::to_string(&serde_json::json!({ "note": what, "value": value }))
                .expect("a journal note always serializes"),
        );
    }
}

/// Together the default journals kept weigh at most this much (the newest always stays).
pub const KEEP_BYTES: u64 = 100 * 1024 * 1024;

/// Delete all but the newest `keep` default journals in `dir` (`journal-<time>-<pid>.jsonl`,
/// whose names sort by time), and the older ones beyond `bytes` together (the newest is always
/// kept): a tool tried for an afternoon, or run for hours on a big cluster, leaves no pile.
/// Other files, and journals kept with `--journal`, are never touched. Returns how many were
/// removed.
pub fn prune(dir: &Path, keep: usize, bytes: u64) -> anyhow::Result<usize> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| anyhow::anyhow!("failed to list the journals in `{}`: {e}", dir.display()))?;
    let mut journals: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| {
            path.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("journal-") && n.ends_with(".jsonl"))
        })
        .collect();
    journals.sort();
    // From the newest: kept while within both bounds; every older one goes.
    let mut total = 0u64;
    let kept = journals
        .iter()
        .rev()
        .take(keep.max(1))
        .take_while(|path| {
            total += std::fs::metadata(path).map_or(0, |m| m.len());
            total <= bytes
        })
        .count()
        .max(1);
    let excess = journals.len().saturating_sub(kept);
    for path in &journals[..excess] {
        std::fs::remove_file(path)
            .map_err(|e| anyhow::anyhow!("failed to remove the old journal `{}`: {e}", path.display()))?;
    }
    Ok(excess)
}

/// The state directory: `$XDG_STATE_HOME/calico-downgrade/` (or `~/.local/state/calico-downgrade/`).
pub fn state_dir(xdg_state_home: Option<&str>, home: Option<&str>) -> Option<PathBuf> {
    let base = match (xdg_state_home.filter(|s| !s.is_empty()), home.filter(|s| !s.is_empty())) {
        (Some(state), _) => PathBuf::from(state),
        (None, Some(home)) => Path::new(home).join(".local/state"),
        (None, None) => return None,
    };
    Some(base.join("calico-downgrade"))
}

/// The default journal path: `$XDG_STATE_HOME/calico-downgrade/` (or
/// `~/.local/state/calico-downgrade/`), one file per run named by its start time and pid.
pub fn default_path(xdg_state_home: Option<&str>, home: Option<&str>, now: SystemTime, pid: u32) -> Option<PathBuf> {
    let stamp = humantime::format_rfc3339_seconds(now).to_string().replace(':', "");
    Some(state_dir(xdg_state_home, home)?.join(format!("journal-{stamp}-{pid}.jsonl")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn header() -> Header {
        Header {
            tool: "calico-downgrade",
            version: "0.0.0",
            command_line: vec!["calico-downgrade".into(), "run".into()],
            started: "2026-01-01T00:00:00Z".into(),
            pid: 1,
            context: Some("prod".into()),
            server: Some("https://10.0.0.1:6443".into()),
            user: Some("admin".into()),
        }
    }

    #[test]
    fn a_journal_is_private_and_starts_with_its_header() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state/calico-downgrade/journal.jsonl");
        drop(Journal::open(&path, &header()).unwrap());
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!((mode(&path), mode(path.parent().unwrap())), (0o600, 0o700));
        let text = std::fs::read_to_string(&path).unwrap();
        let first: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
        assert_eq!(first["header"]["server"], "https://10.0.0.1:6443");
        assert_eq!(first["header"]["command_line"][1], "run");
    }

    #[test]
    fn a_journal_that_cannot_be_written_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let blocker = dir.path().join("file");
        std::fs::write(&blocker, "").unwrap();
        let error = Journal::open(&blocker.join("journal.jsonl"), &header()).expect_err("refused");
        assert!(error.to_string().starts_with("failed to create the journal directory"), "{error}");
    }

    #[test]
    fn a_delta_gives_its_text_back_exactly() {
        let base = "NAME READY\na 1/1\nb 0/1\nc 1/1\n";
        for text in [
            base,
            "NAME READY\na 1/1\nb 1/1\nc 1/1\n",
            "NAME READY\nc 1/1\n",
            "NAME READY\na 1/1\nb 0/1\nc 1/1\nd 0/1\n",
            "no line end",
            "",
            "c 1/1\na 1/1\nc 1/1\nc 1/1\n",
        ] {
            let edits = delta(base, text);
            assert_eq!(apply(base, &edits).as_deref(), Some(text), "{edits:?}");
        }
        assert_eq!(delta(base, base), [Edit::Lines(4)]);
        assert_eq!(
            delta(base, "NAME READY\na 1/1\nb 1/1\nc 1/1\n"),
            [Edit::Lines(2), Edit::Insert("b 1/1\n".into()), Edit::Lines(-1), Edit::Lines(1)]
        );
        assert_eq!(apply("a\n", &[Edit::Lines(2)]), None, "edits beyond their base");
    }

    fn entries(path: &Path) -> Vec<serde_json::Value> {
        std::fs::read_to_string(path).unwrap().lines().skip(1).map(|l| serde_json::from_str(l).unwrap()).collect()
    }

    #[test]
    fn a_repeated_command_keeps_its_output_as_a_delta_of_the_previous_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.jsonl");
        let journal = Journal::open(&path, &header()).unwrap();
        let look = Invocation::read_only(super::super::Tool::Kubectl, "kubectl", vec!["get".into(), "pods".into()]);
        let other = Invocation::read_only(super::super::Tool::Kubectl, "kubectl", vec!["get".into(), "ds".into()]);
        let table = |ready: &str| {
            let mut text = String::from("NAME READY STATUS\n");
            for n in 0..50 {
                text.push_str(&format!("calico-node-{n:02} {} Running\n", if n == 7 { ready } else { "1/1" }));
            }
            text
        };
        let output = |stdout: String| -> Result<Output, ExecError> {
            Ok(Output {
                code: Some(0),
                signal: None,
                stdout,
                stderr: String::new(),
                duration: Default::default(),
                stopped: false,
            })
        };
        let now = SystemTime::now();
        journal.record(&look, now, &output(table("0/1")));
        journal.record(&other, now, &output("ds\n".into()));
        journal.record(&look, now, &output(table("0/1")));
        journal.record(&look, now, &output(table("1/1")));
        let lines = entries(&path);
        assert_eq!(lines[0]["stdout"], table("0/1"), "the first is whole");
        assert_eq!(lines[1]["stdout"], "ds\n", "a short output is whole");
        assert_eq!(lines[2]["stdout_delta"], serde_json::json!([51]), "the same table again is one number");
        assert!(lines[3].get("stdout").is_none());
        let mut text = table("0/1");
        for line in &lines[2..] {
            let edits: Vec<Edit> = serde_json::from_value(line["stdout_delta"].clone()).unwrap();
            text = apply(&text, &edits).unwrap();
        }
        assert_eq!(text, table("1/1"), "each delta applies to the stdout of the previous same argv");
        let bytes = std::fs::read_to_string(&path).unwrap().lines().nth(4).unwrap().len();
        assert!(bytes < table("1/1").len() / 2, "a changed row costs the row: {bytes} bytes");
    }

    #[test]
    fn a_pods_page_keeps_its_size_and_the_fields_the_listing_reads_and_all_of_it_with_v() {
        // A real first page of the `plan` session (its number moves with every recapture).
        let folder = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/kubectl/get-raw-pods");
        let mut pages: Vec<_> = std::fs::read_dir(folder)
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .filter(|path| {
                let name = path.file_name().unwrap().to_string_lossy().into_owned();
                name.starts_with("plan-") && name.ends_with("-1.33.1.stdout")
            })
            .collect();
        pages.sort();
        let page = std::fs::read_to_string(pages.first().expect("a plan session's pods page")).unwrap();
        let kubectl =
            crate::tools::kubectl::Kubectl { program: "kubectl".into(), connection: Default::default(), client: None };
        let invocation = kubectl.pods_page(None);
        let output = |stdout: &str| -> Result<Output, ExecError> {
            Ok(Output {
                code: Some(0),
                signal: None,
                stdout: stdout.into(),
                stderr: String::new(),
                duration: Default::default(),
                stopped: false,
            })
        };
        let dir = tempfile::tempdir().unwrap();
        for verbose in [false, true] {
            let path = dir.path().join(format!("journal-{verbose}.jsonl"));
            let journal = Journal::open(&path, &header()).unwrap().whole(verbose);
            journal.record(&invocation, SystemTime::now(), &output(&page));
            journal.record(&invocation, SystemTime::now(), &output("not json at all\n"));
            let lines = entries(&path);
            if verbose {
                assert_eq!(lines[0]["stdout"], page.as_str(), "-v keeps the page whole");
                continue;
            }
            let kept = &lines[0]["stdout_kept"];
            assert_eq!(lines[0]["stdout_bytes"], page.len());
            assert!(lines[0].get("stdout").is_none());
            let pods = kept["pods"].as_array().unwrap();
            assert_eq!(kept["count"], pods.len());
            assert!(pods.iter().any(|p| p[0] == "kube-system" && p[1].as_str().unwrap().starts_with("calico-node-")));
            assert!(
                lines[0].to_string().len() * 5 < page.len(),
                "{} bytes kept of {}",
                lines[0].to_string().len(),
                page.len()
            );
            assert_eq!(lines[1]["stdout"], "not json at all\n", "what no parser reads is kept whole");
        }
    }

    #[test]
    fn a_pod_read_whole_keeps_what_the_wait_reads_of_it_and_all_of_it_with_v() {
        // The real pod of the `blocked` session, with kubectl 1.20's managedFields.
        let folder = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/kubectl/get-pod");
        let path = std::fs::read_dir(folder)
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .find(|path| path.to_string_lossy().ends_with("-1.20.2.stdout"))
            .expect("a blocked session's pod");
        let pod = std::fs::read_to_string(path).unwrap();
        let kubectl =
            crate::tools::kubectl::Kubectl { program: "kubectl".into(), connection: Default::default(), client: None };
        let invocation = kubectl.pod("kube-system", "calico-node-x");
        let output = |stdout: &str| -> Result<Output, ExecError> {
            Ok(Output {
                code: Some(0),
                signal: None,
                stdout: stdout.into(),
                stderr: String::new(),
                duration: Default::default(),
                stopped: false,
            })
        };
        let dir = tempfile::tempdir().unwrap();
        for verbose in [false, true] {
            let path = dir.path().join(format!("journal-{verbose}.jsonl"));
            let journal = Journal::open(&path, &header()).unwrap().whole(verbose);
            journal.record(&invocation, SystemTime::now(), &output(&pod));
            journal.record(&invocation, SystemTime::now(), &output("not json at all\n"));
            let lines = entries(&path);
            if verbose {
                assert_eq!(lines[0]["stdout"], pod.as_str(), "-v keeps the pod whole");
                continue;
            }
            let kept = &lines[0]["stdout_kept"];
            assert_eq!(lines[0]["stdout_bytes"], pod.len());
            assert!(lines[0].get("stdout").is_none());
            assert_eq!(kept["containers"][0]["image"], "quay.io/calico/node:v2.6.8");
            assert!(kept["containers"][0]["waiting_message"].as_str().unwrap().contains("quay.io/calico/node:v2.6.8"));
            assert!(
                lines[0].to_string().len() * 10 < pod.len(),
                "{} bytes kept of {}",
                lines[0].to_string().len(),
                pod.len()
            );
            assert_eq!(lines[1]["stdout"], "not json at all\n", "what no parser reads is kept whole");
        }
    }

    #[test]
    fn journals_beyond_the_byte_budget_go_oldest_first_and_the_newest_always_stays() {
        let dir = tempfile::tempdir().unwrap();
        for (stamp, size) in [("000001Z-1", 40), ("000002Z-1", 40), ("000003Z-1", 40), ("000004Z-1", 500)] {
            std::fs::write(dir.path().join(format!("journal-2026-01-01T{stamp}.jsonl")), "x".repeat(size)).unwrap();
        }
        let left = |dir: &Path| {
            let mut names: Vec<String> =
                std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
            names.sort();
            names
        };
        assert_eq!(prune(dir.path(), 100, 600).unwrap(), 1, "500 + 40 + 40 fit in 600, not a third 40");
        assert_eq!(
            left(dir.path()),
            [
                "journal-2026-01-01T000002Z-1.jsonl",
                "journal-2026-01-01T000003Z-1.jsonl",
                "journal-2026-01-01T000004Z-1.jsonl"
            ]
        );
        assert_eq!(prune(dir.path(), 100, 100).unwrap(), 2, "the newest stays even alone over the budget");
        assert_eq!(left(dir.path()), ["journal-2026-01-01T000004Z-1.jsonl"]);
    }

    #[test]
    fn only_the_newest_default_journals_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        for stamp in ["2026-01-01T000001Z-1", "2026-01-01T000003Z-1", "2026-01-01T000002Z-7"] {
            std::fs::write(dir.path().join(format!("journal-{stamp}.jsonl")), "").unwrap();
        }
        std::fs::write(dir.path().join("mine.jsonl"), "").unwrap();
        assert_eq!(prune(dir.path(), 2, KEEP_BYTES).unwrap(), 1);
        let mut left: Vec<String> =
            std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        left.sort();
        assert_eq!(left, ["journal-2026-01-01T000002Z-7.jsonl", "journal-2026-01-01T000003Z-1.jsonl", "mine.jsonl"]);
    }
}
