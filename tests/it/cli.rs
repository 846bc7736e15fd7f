//! The front door, end to end: subcommands that stay subcommands, values as people write them
//! (on the command line, in `CALICO_DOWNGRADE_*` variables, from Ansible), usage errors before
//! anything runs, help that fits each command, and a closed stdout.
// Tests spawn the binary under test; the crate's own code may not (clippy.toml).
#![allow(clippy::disallowed_methods)]

use std::process::Stdio;

use crate::support::fake::{FakeCluster, Run};

const FAST: &[&str] = &["--pod-start-ms", "100", "--pod-stop-ms", "50"];

fn node_images(cluster: &FakeCluster) -> String {
    cluster.show()["daemonset"]["images"].to_string()
}

fn run_with_env(cluster: &FakeCluster, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut command = cluster.command(args);
    command.envs(env.iter().copied());
    let output = command.output().expect("calico-downgrade runs");
    Run {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// The whole of a refused command line: exit code, stdout, stderr.
fn whole(run: &Run, cluster: &FakeCluster) -> String {
    let text = format!("exit_code: {:?}\n--- stdout\n{}--- stderr\n{}", run.code, run.stdout, run.stderr);
    text.replace(&cluster.path().display().to_string(), "[TMP]")
}

#[test]
fn a_file_named_like_a_subcommand_changes_nothing() {
    let cluster = FakeCluster::new(FAST);
    let work = cluster.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    for name in ["plan", "run", "status", "abort"] {
        std::fs::write(work.join(name), r#"{"action":"run","timeout":"60s"}"#).unwrap();
    }
    let plan = cluster.command(&["plan"]).current_dir(&work).output().unwrap();
    assert_eq!(plan.status.code(), Some(0), "{}", String::from_utf8_lossy(&plan.stderr));
    assert!(String::from_utf8_lossy(&plan.stdout).contains("would run: kubectl rollout undo"), "plan ran as plan");
    let run = cluster.command(&["run"]).current_dir(&work).output().unwrap();
    assert_eq!(run.status.code(), Some(2), "`run` without --yes on a closed stdin is refused, not a module call");
    assert!(cluster.journal_entries().iter().all(|e| e["effect"] == "read-only"), "nothing mutating ran");
    assert!(node_images(&cluster).contains("calico/node:v3.0.4"), "still on v3");
    // The same file named by a path is a module call.
    let module = cluster.command(&["./run"]).current_dir(&work).output().unwrap();
    assert_eq!(module.status.code(), Some(0), "{}", String::from_utf8_lossy(&module.stdout));
    assert!(node_images(&cluster).contains("calico/node:v2.6.8"));
}

#[test]
fn flags_from_the_environment_read_1_0_yes_no_and_an_error_names_the_variable() {
    let cluster = FakeCluster::new(FAST);
    let status =
        run_with_env(&cluster, &["status"], &[("CALICO_DOWNGRADE_VERBOSE", "1"), ("CALICO_DOWNGRADE_YES", "1")]);
    assert_eq!(status.code, Some(1), "status is not broken by the variables: {}", status.stderr);
    let refused = run_with_env(&cluster, &["run"], &[("CALICO_DOWNGRADE_YES", "maybe")]);
    let refused_timeout = run_with_env(&cluster, &["run"], &[("CALICO_DOWNGRADE_TIMEOUT", "0s")]);
    assert!(cluster.calls().iter().all(|c| !c["argv"].to_string().contains("undo")));
    insta::assert_snapshot!(format!("{}\n{}", whole(&refused, &cluster), whole(&refused_timeout, &cluster)), @r"
    exit_code: Some(2)
    --- stdout
    --- stderr
    error: invalid value 'maybe' in the environment variable CALICO_DOWNGRADE_YES, which sets --yes (a flag: 1/0, true/false, yes/no, on/off): value was not a boolean

    Usage: calico-downgrade [OPTIONS] <COMMAND>

    For more information, try '--help'.

    exit_code: Some(2)
    --- stdout
    --- stderr
    error: invalid value '0s' in the environment variable CALICO_DOWNGRADE_TIMEOUT, which sets --timeout <DURATION>: `0s` is too short: at least 1s

    Usage: calico-downgrade [OPTIONS] <COMMAND>

    For more information, try '--help'.
    ");
    let run = run_with_env(&cluster, &["run", "--timeout", "60s"], &[("CALICO_DOWNGRADE_YES", "1")]);
    assert_eq!(run.code, Some(0), "CALICO_DOWNGRADE_YES=1 confirms: {}\n{}", run.stdout, run.stderr);
}

#[test]
fn values_that_cannot_work_are_usage_errors_before_anything_runs() {
    let cluster = FakeCluster::new(FAST);
    let mut report = String::new();
    for args in [
        &["run", "--yes", "--timeout", "0s"][..],
        &["run", "--yes", "--timeout", "banana"],
        &["run", "--yes", "--to-revision", "-3"],
        &["run", "--yes", "--to-revision", "0"],
        &["status", "--replace-pods"],
    ] {
        let run = cluster.run(args);
        report.push_str(&format!("$ calico-downgrade {}\n{}\n", args.join(" "), whole(&run, &cluster)));
    }
    assert!(cluster.calls().is_empty(), "nothing ran");
    insta::assert_snapshot!(report);
}

#[test]
fn a_usage_error_with_output_json_is_a_json_document() {
    let cluster = FakeCluster::new(&[]);
    for args in [
        &["run", "--yes", "--output", "json", "--timeout", "banana"][..],
        &["run", "--output=json", "--no-such-option"],
        &["--output", "json", "status", "--yes"],
    ] {
        let run = cluster.run(args);
        assert_eq!(run.code, Some(2), "{args:?}");
        let document: serde_json::Value = serde_json::from_str(&run.stdout).expect("stdout is one JSON document");
        assert_eq!((document["failed"].as_bool(), document["rc"].as_i64()), (Some(true), Some(2)), "{document}");
        assert!(!document["msg"].as_str().unwrap().is_empty());
    }
    let run = run_with_env(&cluster, &["plan", "--timeout", "0s"], &[("CALICO_DOWNGRADE_OUTPUT", "json")]);
    let document: serde_json::Value = serde_json::from_str(&run.stdout).expect("stdout is one JSON document");
    assert_eq!(document["msg"], "invalid value '0s' for '--timeout <DURATION>': `0s` is too short: at least 1s");
}

#[test]
fn each_command_help_shows_its_options_examples_and_exit_codes() {
    let cluster = FakeCluster::new(&[]);
    let status = cluster.run(&["status", "--help"]);
    assert_eq!(status.code, Some(0));
    for absent in ["--replace-pods", "--yes", "--to-revision", "--rollback-first"] {
        assert!(!status.stdout.contains(absent), "status --help shows {absent}:\n{}", status.stdout);
    }
    for present in ["--watch", "--timeout", "Examples:", "calico-downgrade status --watch", "Exit codes:"] {
        assert!(status.stdout.contains(present), "status --help lacks {present}:\n{}", status.stdout);
    }
    let abort = cluster.run(&["abort", "--help"]);
    assert!(abort.stdout.contains("--check") && !abort.stdout.contains("--replace-pods"), "{}", abort.stdout);
    let top = cluster.run(&["--help"]);
    assert!(top.stdout.contains("  man ") && top.stdout.contains("kubectl calico-downgrade plan"), "{}", top.stdout);
    let man = cluster.run(&["man", "--help"]);
    assert!(man.stdout.contains("calico-downgrade man >"), "{}", man.stdout);
    let zsh = cluster.run(&["completions", "zsh"]);
    assert!(zsh.stdout.contains("rollback-first") && zsh.stdout.contains("'man:"), "{}", zsh.stdout);
}

#[test]
fn abort_check_plans_the_abort_and_changes_nothing() {
    // Never upgraded: the case the docs' "Aborting the upgrade" is for.
    let cluster = FakeCluster::new(&[FAST, &["--state", "not-upgraded"]].concat());
    let run = cluster.run(&["abort", "--check"]);
    assert_eq!(run.code, Some(0), "{}\n{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("would run: calico-upgrade"), "{}", run.stdout);
    assert!(
        cluster.journal_entries().iter().all(|e| e["effect"] == "read-only"),
        "abort --check ran a mutating command"
    );
}

#[test]
fn the_module_reads_values_as_ansible_sends_them_and_errors_name_the_option() {
    let cluster = FakeCluster::new(FAST);
    let args = cluster.path().join("args.json");
    let module = |json: &str| {
        std::fs::write(&args, json).unwrap();
        let output = cluster.command(&[args.to_str().unwrap()]).output().unwrap();
        let document: serde_json::Value = serde_json::from_slice(&output.stdout).expect("one JSON document");
        (output.status.code(), document)
    };
    let (code, refused) = module(r#"{"action":"run","timeout":"banana","_ansible_check_mode":false}"#);
    assert_eq!(code, Some(2));
    let msg = refused["msg"].as_str().unwrap();
    assert!(msg.starts_with("option `timeout`: invalid value `banana`"), "{msg}");
    assert!(!msg.contains("args.json"), "the message names the option, not the file: {msg}");
    let (code, planned) =
        module(r#"{"action":"run","to_revision":"1","rollback_first":"yes","_ansible_check_mode":"True"}"#);
    assert_eq!(code, Some(0), "{planned}");
    assert_eq!((planned["check_mode"].as_bool(), planned["changed"].as_bool()), (Some(true), Some(true)), "{planned}");
    let (code, done) =
        module(r#"{"action":"run","to_revision":"1","rollback_first":"yes","no_watch":"no","timeout":"60s"}"#);
    assert_eq!(code, Some(0), "{done}");
    assert_eq!(done["state_after"]["converged"], true);
    assert!(node_images(&cluster).contains("calico/node:v2.6.8"));
}

/// Run with stdout a pipe whose reading end is already closed, the strictest `| head`.
fn closed_stdout(cluster: &FakeCluster, args: &[&str]) -> (Option<i32>, String) {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let output = cluster.command(args).stdout(writer).stderr(Stdio::piped()).output().unwrap();
    (output.status.code(), String::from_utf8_lossy(&output.stderr).into_owned())
}

#[test]
fn a_closed_stdout_ends_the_tool_quietly() {
    let cluster = FakeCluster::new(FAST);
    for args in [&["completions", "zsh"][..], &["man"], &["--help"], &["status", "--help"], &["--version"]] {
        assert_eq!(closed_stdout(&cluster, args), (Some(0), String::new()), "{args:?}");
    }
    // The report's exit code still tells the outcome: status exits 1 when not converged.
    assert_eq!(closed_stdout(&cluster, &["status", "--output", "json"]), (Some(1), String::new()));
    assert_eq!(closed_stdout(&cluster, &["status"]), (Some(1), String::new()));
    assert_eq!(closed_stdout(&cluster, &["plan"]).0, Some(0));
}
