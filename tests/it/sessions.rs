//! Replays of real runs: each `fixtures/sessions/*.jsonl` is a run of `calico-downgrade` against
//! the project's real control plane (`scripts/capture-fixture`), command by command. The
//! replay runs the same playbook in-process with the same arguments, answering every command
//! with what the real kubectl printed then, and checks that the run ends the same way.
//!
//! This is also the tidy test for captured queries: when the tool now sends a command (argv)
//! that no capture recorded (a query was changed, or a new one added), the replay fails and
//! names it, so a changed query forces a recapture instead of leaving parsers proven on output
//! of a command the tool no longer sends.

use std::collections::{HashMap, VecDeque};
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::Parser;

use calico_downgrade::app::resolve;
use calico_downgrade::cli::Cli;
use calico_downgrade::exec::{Effect, Exec, ExecError, Flow, Invocation, Output, Tool};
use calico_downgrade::playbook;
use calico_downgrade::tasks::{Context, Environment, Silent};

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

#[derive(Debug, serde::Deserialize)]
struct Header {
    session: String,
    tool_args: Vec<String>,
    exit_code: i32,
    kubectl: String,
}

#[derive(Debug, serde::Deserialize)]
struct Simulated {
    stdout: String,
    stderr: String,
    code: Option<i32>,
}

#[derive(Debug, serde::Deserialize)]
struct Step {
    tool: String,
    args: Vec<String>,
    /// `kubectl/<folder>/<stem>`: the real output, in `<stem>.stdout|.stderr|.status`.
    fixture: Option<String>,
    /// The simulated calicoctl and calico-upgrade, whose output is kept inline.
    simulated: Option<Simulated>,
    signal: Option<i32>,
    error: Option<String>,
}

fn tool(name: &str) -> Tool {
    match name {
        "kubectl" => Tool::Kubectl,
        "calicoctl" => Tool::Calicoctl,
        "calico-upgrade" => Tool::CalicoUpgrade,
        other => panic!("a session names an unknown tool `{other}`"),
    }
}

/// What one recorded command answered.
#[derive(Debug, Clone)]
enum Answer {
    Output(Output),
    /// The command could not run to completion (timed out, say): replayed as the same error.
    Failed(String),
}

fn answer_of(step: &Step) -> Answer {
    if let Some(error) = &step.error {
        return Answer::Failed(error.clone());
    }
    let (stdout, stderr, code) = match (&step.fixture, &step.simulated) {
        (Some(stem), _) => {
            let base = fixtures_dir().join(stem);
            // Not `with_extension`: the stem holds the kubectl version's dots.
            let read = |extension: &str| fs::read_to_string(format!("{}.{extension}", base.display())).ok();
            let stdout =
                read("stdout").unwrap_or_else(|| panic!("the session names `{stem}.stdout`, which is missing"));
            let code = read("status").map_or(0, |s| s.trim().parse().expect("a status file holds an exit code"));
            (stdout, read("stderr").unwrap_or_default(), Some(code))
        }
        (None, Some(simulated)) => (simulated.stdout.clone(), simulated.stderr.clone(), simulated.code),
        (None, None) => panic!("a session step has neither a fixture nor simulated output: {step:?}"),
    };
    // A command stopped by a signal was recorded with status 128 + signal.
    let (code, signal) = match step.signal {
        Some(signal) => (None, Some(signal)),
        None => (code, None),
    };
    Answer::Output(Output { code, signal, stdout, stderr, duration: Duration::from_millis(10) })
}

/// Answers each command with the recorded outputs of the same argv, in the order they were
/// recorded; the last one repeats (a replay may look once more than the real run did).
struct Replay {
    session: String,
    answers: HashMap<(Tool, Vec<String>), VecDeque<Answer>>,
    recorded: Vec<String>,
    start: Instant,
    offset: Duration,
    check_mode: bool,
    pub sent: Vec<(String, Effect)>,
}

impl Replay {
    fn answer(&mut self, invocation: &Invocation) -> Result<Output, ExecError> {
        self.sent.push((invocation.to_string(), invocation.effect));
        if self.check_mode && invocation.effect == Effect::Mutating {
            return Err(ExecError::RefusedInCheckMode);
        }
        let key = (invocation.tool, invocation.args.clone());
        let Some(queue) = self.answers.get_mut(&key) else {
            panic!(
                "session `{}`: the tool now sends\n  {invocation}\nwhich the real run did not record; it recorded:\n  {}\n\
                 a query changed: recapture with `scripts/capture-fixture` (fixtures/README.md)",
                self.session,
                self.recorded.join("\n  ")
            );
        };
        let answer = if queue.len() > 1 { queue.pop_front().unwrap() } else { queue.front().cloned().unwrap() };
        self.offset += Duration::from_millis(10);
        match answer {
            Answer::Output(output) => Ok(output),
            Answer::Failed(message) => Err(ExecError::Io(message)),
        }
    }
}

impl Exec for Replay {
    fn run(&mut self, invocation: &Invocation) -> Result<Output, ExecError> {
        self.answer(invocation)
    }

    fn follow(
        &mut self,
        invocation: &Invocation,
        _deadline: Instant,
        on_line: &mut dyn FnMut(&str) -> Flow,
    ) -> Result<Output, ExecError> {
        let output = self.answer(invocation)?;
        for line in output.stdout.lines() {
            if on_line(line) == Flow::Stop {
                break;
            }
        }
        Ok(output)
    }

    fn now(&self) -> Instant {
        self.start + self.offset
    }

    fn sleep(&mut self, duration: Duration) -> Result<(), ExecError> {
        self.offset += duration;
        Ok(())
    }
}

fn sessions() -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = fs::read_dir(fixtures_dir().join("sessions"))
        .map(|dir| dir.map(|e| e.expect("read fixtures/sessions").path()).collect())
        .unwrap_or_default();
    paths.retain(|p| p.extension().is_some_and(|e| e == "jsonl"));
    paths.sort();
    paths
}

fn replay(path: &Path) -> (Header, i32, Vec<(String, Effect)>) {
    let text = fs::read_to_string(path).expect("read the session");
    let mut lines = text.lines();
    let header: Header = serde_json::from_str(lines.next().expect("a header line")).expect("the session header");
    let steps: Vec<Step> = lines.map(|l| serde_json::from_str(l).expect("a session step")).collect();
    let mut answers: HashMap<(Tool, Vec<String>), VecDeque<Answer>> = HashMap::new();
    let mut recorded = Vec::new();
    for step in &steps {
        let tool = tool(&step.tool);
        recorded.push(Invocation::read_only(tool, step.tool.clone(), step.args.clone()).to_string());
        answers.entry((tool, step.args.clone())).or_default().push_back(answer_of(step));
    }
    let cli = Cli::try_parse_from(std::iter::once("calico-downgrade".to_string()).chain(header.tool_args.clone()))
        .unwrap_or_else(|e| panic!("session `{}`: the recorded arguments no longer parse: {e}", header.session));
    let (command, options, _) = resolve(cli);
    let mut exec = Replay {
        session: header.session.clone(),
        answers,
        recorded,
        start: Instant::now(),
        offset: Duration::ZERO,
        check_mode: options.check,
        sent: Vec::new(),
    };
    let environment = Environment { path: None, cwd: PathBuf::from("/") };
    let mut observer = Silent;
    let outcome = {
        let mut ctx = Context::new(&options, &environment, &mut exec, &mut observer);
        playbook::execute(command, &mut ctx)
    };
    (header, outcome.exit.code(), exec.sent)
}

#[test]
fn real_runs_replay_through_the_playbook_to_the_same_end() {
    let paths = sessions();
    let mut summary = Vec::new();
    for path in &paths {
        let (header, exit, sent) = replay(path);
        assert_eq!(
            exit,
            header.exit_code,
            "session `{}` (kubectl {}): the real run exited {}, the replay {exit}; commands sent:\n  {}",
            header.session,
            header.kubectl,
            header.exit_code,
            sent.iter().map(|(c, _)| c.as_str()).collect::<Vec<_>>().join("\n  ")
        );
        if header.tool_args.first().map(String::as_str) == Some("plan") {
            assert!(sent.iter().all(|(_, e)| *e == Effect::ReadOnly), "plan sent a mutating command: {sent:?}");
        }
        summary.push(format!("{}-{}", header.session, header.kubectl));
    }
    // The captures exist: every session with kubectl 1.20, 1.27 and 1.33 at least.
    for session in ["plan", "empty", "run", "rerun", "status", "replace", "run-kdd"] {
        for version in ["1.20.", "1.27.", "1.33."] {
            assert!(
                summary.iter().any(|s| s.starts_with(&format!("{session}-{version}"))),
                "no real capture of session `{session}` with kubectl {version}x in fixtures/sessions: run `scripts/capture-fixture`; have: {summary:?}"
            );
        }
    }
}

#[test]
fn every_real_fixture_belongs_to_a_recorded_session() {
    let mut named = std::collections::BTreeSet::new();
    for path in sessions() {
        for line in fs::read_to_string(&path).unwrap().lines().skip(1) {
            let step: Step = serde_json::from_str(line).unwrap();
            if let Some(stem) = step.fixture {
                named.insert(stem);
            }
        }
    }
    let readme = fs::read_to_string(fixtures_dir().join("README.md")).unwrap();
    let orphans: Vec<&str> = readme
        .lines()
        .filter(|l| l.contains("| real: scripts/capture-fixture, session"))
        .filter_map(|l| l.strip_prefix("| `")?.split('`').next())
        .filter(|p| {
            let stem = p.rsplit_once('.').map_or(*p, |(s, _)| s);
            !named.contains(stem)
        })
        .collect();
    assert!(orphans.is_empty(), "real fixtures that no session records (recapture or delete them): {orphans:#?}");
}

#[test]
fn every_fixture_folder_is_read_by_a_parser_test() {
    let parsers = fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/parsers.rs")).unwrap();
    let mut unread = Vec::new();
    for tool in ["kubectl", "calicoctl", "calico-upgrade"] {
        for entry in fs::read_dir(fixtures_dir().join(tool)).unwrap() {
            let folder = entry.unwrap().file_name().to_string_lossy().into_owned();
            if !parsers.contains(&format!("\"{tool}/{folder}/*.stdout\"")) {
                unread.push(format!("{tool}/{folder}"));
            }
        }
    }
    assert!(
        unread.is_empty(),
        "fixture folders no parser test reads (add an `insta::glob!` in tests/it/parsers.rs): {unread:?}"
    );
}
