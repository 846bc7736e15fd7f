//! Replays of real runs: each `fixtures/sessions/*.jsonl` is a run of `calico-downgrade` against
//! the project's real control plane (`scripts/capture-fixture`), command by command. The
//! replay runs the same playbook in-process with the same arguments, answering every command
//! with what the real kubectl printed then, and checks that the run ends the same way.
//!
//! This is also the tidy test for captured queries: when the tool now sends a command (argv)
//! that no capture recorded (a query was changed, or a new one added), the replay fails and
//! names it, so a changed query forces a recapture instead of leaving parsers proven on output
//! of a command the tool no longer sends.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Parser;

use calico_downgrade::app::resolve;
use calico_downgrade::cli::Cli;
use calico_downgrade::destination::{self, Destination, Kubeconfig, KubeconfigFile, KubeconfigOrigin};
use calico_downgrade::exec::{Effect, ExecError, Invocation, Output, Tool};
use calico_downgrade::playbook;
use calico_downgrade::tasks::{Context, Environment, Silent};
use calico_downgrade::tools::kubectl;

use crate::support::scripted::{Answer, Scripted};

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
    /// Stopped by the tool (a watch that had shown enough).
    #[serde(default)]
    stopped: bool,
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

fn answer_of(step: &Step) -> Answer {
    if let Some(error) = &step.error {
        // The command could not run to completion (timed out, say): replayed as the same error.
        return Answer::Error(ExecError::Io(error.clone()));
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
    Answer::Exact(Output { code, signal, stdout, stderr, duration: Duration::from_millis(10), stopped: step.stopped })
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
    // Each recorded output answers the same command (its one spelling, as the tool builds it;
    // the program does not show), in the order recorded; the last one repeats.
    let mut exec = Scripted::new();
    let mut recorded = Vec::new();
    for step in &steps {
        let command = Invocation::read_only(tool(&step.tool), step.tool.clone(), step.args.clone()).to_string();
        // The lock's patches carry this run's host, pid and times: each answers whatever they are.
        if let Some(op) = crate::support::scripted::lock_write(&command) {
            exec.on_lock(op, answer_of(step));
        }
        exec.on(&command, answer_of(step));
        recorded.push(command);
    }
    exec.unscripted_hint = format!(
        "\nsession `{}`: the real run did not record that command; it recorded:\n  {}\n\
         a query changed: recapture with `scripts/capture-fixture` (fixtures/README.md)",
        header.session,
        recorded.join("\n  ")
    );
    let cli = Cli::try_parse_from(std::iter::once("calico-downgrade".to_string()).chain(header.tool_args.clone()))
        .unwrap_or_else(|e| panic!("session `{}`: the recorded arguments no longer parse: {e}", header.session));
    let (command, options, _) = resolve(cli);
    exec.check_mode = options.check;
    let environment = Environment { path: None, cwd: PathBuf::from("/"), ..Environment::default() };
    let destination = destination(&steps, &options);
    let mut observer = Silent;
    let outcome = {
        let mut ctx = Context::new(&options, &environment, &mut exec, &mut observer);
        ctx.facts.destination = Some(destination);
        playbook::execute(command, &mut ctx)
    };
    let sent = exec.log.iter().map(|(command, effect, _)| (command.clone(), *effect)).collect();
    (header, outcome.exit.code(), sent)
}

/// Which cluster the real run found before its playbook (`app::identify`): from what its
/// `kubectl config view --minify` and `config get-contexts` printed, with a kubeconfig that
/// existed (every capture had one).
fn destination(steps: &[Step], options: &calico_downgrade::options::Options) -> Destination {
    let printed = |words: [&str; 2]| {
        steps.iter().find(|s| s.tool == "kubectl" && s.args.starts_with(&words.map(String::from))).map(|step| {
            match answer_of(step) {
                Answer::Exact(output) => output,
                other => panic!("a recorded kubectl answers exactly: {other:?}"),
            }
        })
    };
    let view = printed(["config", "view"]).expect("every capture read the kubeconfig");
    let (kube, kube_error) = match kubectl::parse_config_view(&view) {
        Ok(kube) => (Some(kube), None),
        Err(error) => (None, Some(error)),
    };
    Destination {
        kubeconfig: Kubeconfig {
            origin: KubeconfigOrigin::Variable,
            files: vec![KubeconfigFile { path: "/captured/kubeconfig".into(), exists: true }],
        },
        kube,
        kube_error,
        contexts: printed(["config", "get-contexts"])
            .map_or_else(Vec::new, |o| kubectl::parse_context_names(&o.stdout)),
        calico_upgrade: destination::datastore_access(&options.api(), &|_| None, false, false),
    }
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
    for session in [
        "plan",
        "empty",
        "unknown-context",
        "untrusted-ca",
        "unresolvable",
        "refused",
        "lock-held",
        "minimal-role",
        "run",
        "rerun",
        "status",
        "replace",
        "run-kdd",
        "typha",
        "blocked",
    ] {
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
