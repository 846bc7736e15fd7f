//! The reports as an operator reads them, snapshotted whole (exit code, stdout, stderr)
//! through the central filters (`FakeCluster::filters`): one failure of each exit code, `status`
//! before and after, `-v`, and the pods at risk.

use std::io::{BufRead, BufReader};
use std::time::{Duration, Instant};

use crate::assert_run;
use crate::support::fake::{FakeCluster, Run};

const FAST: [&str; 4] = ["--pod-start-ms", "150", "--pod-stop-ms", "100"];

fn cluster(extra: &[&str]) -> FakeCluster {
    let mut args = FAST.to_vec();
    args.extend_from_slice(extra);
    FakeCluster::new(&args)
}

/// Each fact once: the failed command, its exit code and stderr appear once in full.
fn assert_told_once(run: &Run, needle: &str) {
    assert_eq!(run.stdout.matches(needle).count(), 1, "{needle:?} is told once:\n{}", run.stdout);
}

#[test]
fn exit_1_a_command_that_says_no_is_told_once_with_its_stderr() {
    let cluster = cluster(&["--fault", "kubectl-get-objects=fail"]);
    let run = cluster.run(&["run", "--yes"]);
    assert_eq!(run.code, Some(1));
    assert_told_once(&run, "injected failure");
    assert_told_once(
        &run,
        "kubectl get daemonsets,deployments,controllerrevisions,replicasets,jobs -n kube-system -o json",
    );
    assert_run!(cluster, "exit_1_refused", run);
    // The journal keeps the command and its stderr.
    let journal = cluster.journal_entries();
    let failed = journal.iter().find(|e| e["argv"].to_string().contains("controllerrevisions,replicasets")).unwrap();
    assert_eq!(failed["exit_code"], 1, "{failed:#}");
    assert!(failed["stderr"].to_string().contains("injected failure"), "{failed:#}");
}

#[test]
fn exit_1_a_command_killed_at_the_timeout_reports_how_long_it_really_ran() {
    let cluster = cluster(&["--fault", "kubectl-get-objects=hang"]);
    let run = cluster.run(&["run", "--yes", "-v", "--command-timeout", "1s"]);
    assert_eq!(run.code, Some(1), "{}\n{}", run.stdout, run.stderr);
    // `-v` echoes each command as it starts (those run beside the hung one too), and the real
    // time the killed command ran.
    assert!(
        run.stdout.contains(
            "    $ kubectl rollout undo ds/calico-node deployment/calico-kube-controllers -n kube-system --dry-run=server\n"
        ),
        "{}",
        run.stdout
    );
    let ran = regex::Regex::new(r"-> no answer within 1s \(--command-timeout\); the command was killed after (\d+) ms")
        .unwrap()
        .captures(&run.stdout)
        .unwrap_or_else(|| panic!("the killed command's result:\n{}", run.stdout))[1]
        .parse::<u64>()
        .unwrap();
    assert!((1000..5000).contains(&ran), "ran {ran} ms");
    let journal = cluster.journal_entries();
    let killed = journal.iter().find(|e| e["argv"].to_string().contains("controllerrevisions,replicasets")).unwrap();
    let journalled = killed["duration_ms"].as_u64().unwrap();
    assert!(ran.abs_diff(journalled) < 500, "report {ran} ms, journal {journalled} ms");
    assert_run!(cluster, "exit_1_timed_out_verbose", run);
}

#[test]
fn verbose_echoes_a_command_when_it_starts() {
    let cluster = cluster(&["--fault", "kubectl-get-pods-all=hang"]);
    let mut child = cluster
        .command(&["run", "--yes", "-v", "--command-timeout", "3s"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let started = Instant::now();
    let mut seen_while_running = false;
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        if line.trim_start().starts_with("$ kubectl get --raw") {
            seen_while_running = child.try_wait().unwrap().is_none() && started.elapsed() < Duration::from_secs(3);
            break;
        }
    }
    // SAFETY: sends a signal to a child this test started; SIGINT lets it stop its own.
    unsafe {
        libc::kill(child.id() as libc::pid_t, libc::SIGINT);
    }
    assert_eq!(child.wait().unwrap().code(), Some(130));
    assert!(seen_while_running, "the hung command is on the screen while it runs");
}

#[test]
fn exit_2_output_no_parser_knows_quotes_it_once() {
    let cluster = cluster(&["--fault", "kubectl-get-objects=garbage"]);
    let run = cluster.run(&["run", "--yes"]);
    assert_eq!(run.code, Some(2));
    assert_run!(cluster, "exit_2_unrecognised", run);
}

#[test]
fn exit_3_pruned_history_points_at_the_v2_6_manifest() {
    let cluster = cluster(&["--pruned-history"]);
    let run = cluster.run(&["run", "--yes"]);
    assert_eq!(run.code, Some(3));
    assert!(run.stdout.contains("re-apply the Calico v2.6 manifest"), "{}", run.stdout);
    assert!(!run.stdout.contains("pass --to-revision"), "{}", run.stdout);
    assert_run!(cluster, "exit_3_pruned_history", run);
}

/// The addon manager's label on the workloads: stopped before any change (no abort, no
/// rollback), naming the reconciler and what to do first; `--despite-reconciler` goes on.
#[test]
fn exit_3_a_reconciler_that_would_re_apply_v3_is_named_before_any_change() {
    let cluster = cluster(&["--label", "addonmanager.kubernetes.io/mode=Reconcile"]);
    let run = cluster.run(&["run", "--yes"]);
    assert_eq!(run.code, Some(3));
    assert_run!(cluster, "exit_3_reconciler", run);
    // Nothing changed: no abort, no rollback (the lock taken ahead is released).
    let changes: Vec<String> = cluster
        .calls()
        .iter()
        .map(|c| c["argv"].to_string())
        .filter(|argv| argv.contains("\"abort\"") || (argv.contains("\"undo\"") && !argv.contains("--dry-run")))
        .collect();
    assert!(changes.is_empty(), "{changes:?}");
    let anyway = cluster.run(&["run", "--yes", "--despite-reconciler"]);
    assert_eq!(anyway.code, Some(0), "{}\n{}", anyway.stdout, anyway.stderr);
    assert!(anyway.stdout.contains("warning: going on despite it (--despite-reconciler)"), "{}", anyway.stdout);
}

#[test]
fn exit_4_pods_that_never_become_ready() {
    let cluster = cluster(&["--fault", "kubectl-undo-daemonset=stuck", "--nodes", "2", "--extra-pods", "0"]);
    let run = cluster.run(&["run", "--yes", "--stall-timeout", "2s", "--poll-interval", "200ms", "--no-watch"]);
    assert_eq!(run.code, Some(4));
    // Whether a poll was still running when the deadline came depends on timing, and so does
    // which of the Deployment's counts advanced last.
    let mut settings = cluster.settings();
    settings.add_filter(r"(?m)^    no answer from the cluster at the end: .*\n", "");
    settings.add_filter(r"ago: calico-.*", "ago: [WHAT ADVANCED LAST]");
    settings.bind(|| insta::assert_snapshot!("exit_4_not_converged", crate::support::fake::transcript(&run)));
}

#[test]
fn exit_130_a_ctrl_c_of_status_reads_as_an_interruption_of_a_read_only_command() {
    let cluster = cluster(&["--fault", "kubectl-get-pods=hang"]);
    let child = cluster.command(&["status"]).stdout(std::process::Stdio::piped()).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !cluster.calls().iter().any(|c| c["call"] == "kubectl-get-pods") {
        assert!(Instant::now() < deadline, "status never looked at the pods");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(200));
    // SAFETY: sends a signal to a child this test started.
    unsafe {
        libc::kill(child.id() as libc::pid_t, libc::SIGINT);
    }
    let output = child.wait_with_output().unwrap();
    let run = Run {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    };
    assert_eq!(run.code, Some(130));
    assert!(run.stdout.contains("interrupted by SIGINT during `kubectl get pods"), "{}", run.stdout);
    assert!(!run.stdout.contains("fix the cause"), "{}", run.stdout);
    // The journal records how long the interrupted command really ran (not 0 ms).
    let journal = cluster.journal_entries();
    let stopped = journal.iter().find(|e| e["error"].as_str().is_some_and(|e| e.contains("SIGINT"))).unwrap();
    assert!(stopped["duration_ms"].as_u64().unwrap() >= 150, "{stopped:#}");
    assert_run!(cluster, "exit_130_status_interrupted", run);
}

#[test]
fn status_before_the_downgrade_is_a_red_verdict_with_a_hint_and_watch_does_not_wait() {
    let cluster = cluster(&["--nodes", "2"]);
    let run = cluster.run(&["status"]);
    assert_eq!(run.code, Some(1));
    assert!(run.stdout.contains("failed=1"), "the recap agrees with the exit code:\n{}", run.stdout);
    assert_run!(cluster, "status_never_rolled_back", run);

    let started = Instant::now();
    let watch = cluster.run(&["status", "--watch", "--timeout", "60s", "--poll-interval", "100ms"]);
    assert_eq!(watch.code, Some(1));
    assert!(started.elapsed() < Duration::from_secs(20), "--watch on a never rolled back cluster does not wait");
    assert!(
        watch.stdout.contains("never rolled back") && watch.stdout.contains("--watch did not wait"),
        "{}",
        watch.stdout
    );
}

#[test]
fn status_after_the_downgrade_is_an_aligned_table_and_the_migration_state() {
    let cluster = cluster(&["--nodes", "2"]);
    assert_eq!(cluster.run(&["run", "--yes", "--timeout", "60s"]).code, Some(0));
    // The v3 pods may still be terminating just after the run: the table would list them.
    let deadline = Instant::now() + Duration::from_secs(10);
    while cluster.show()["pods"].as_array().unwrap().iter().any(|p| p["deleting"] == true) {
        assert!(Instant::now() < deadline, "the old pods never went away");
        std::thread::sleep(Duration::from_millis(50));
    }
    let run = cluster.run(&["status"]);
    assert_eq!(run.code, Some(0));
    assert!(
        run.stdout.contains("failed=0") && run.stdout.contains("data migration: not in progress"),
        "{}",
        run.stdout
    );
    assert_run!(cluster, "status_converged", run);
}

#[test]
fn many_pods_at_risk_are_counted_per_namespace_and_listed_in_the_json() {
    let cluster = cluster(&["--extra-pods", "30", "--nodes", "1"]);
    let run = cluster.run(&["plan"]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(
        run.stdout.contains("30 pod(s) outside the host network") && run.stdout.contains("per namespace: default: 30")
    );
    assert!(!run.stdout.contains("kubectl delete pod"), "{}", run.stdout);
    assert!(run.stdout.lines().all(|l| l.len() < 400), "no line is a list of 30 pods");
    let json = cluster.run(&["plan", "--output", "json"]);
    let document: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(document["pods_at_risk"].as_array().unwrap().len(), 30);
    // ... and in the journal, as a note.
    let notes = cluster.journal_notes();
    let listed = notes.iter().find(|n| n["note"] == "pods_at_risk").expect("a pods_at_risk note");
    assert_eq!(listed["value"]["pods"].as_array().unwrap().len(), 30, "{listed:#}");
    // What was planned did not run: no exit code, no duration.
    let planned: Vec<&serde_json::Value> = document["steps"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["commands"].as_array().unwrap())
        .filter(|c| c["planned"] == true)
        .collect();
    assert!(!planned.is_empty());
    assert!(planned.iter().all(|c| c["duration_ms"].is_null() && c["exit_code"].is_null()), "{planned:?}");
    // One shape for a version.
    assert!(document["tools"]["calicoctl"]["version"].is_string());
    assert!(document["tools"]["calicoctls"][0]["version"].is_string());
}

/// The pods-at-risk listing reads the API server's pages of 500 pods one after another, keeps
/// the pods at risk of each, and goes on from a page that failed once, read again.
#[test]
fn pods_at_risk_are_listed_page_by_page_and_a_failed_page_is_read_again() {
    let pages = |fake: &FakeCluster| -> Vec<(String, Option<i64>)> {
        fake.journal_entries()
            .iter()
            .filter(|e| e["argv"].to_string().contains("/api/v1/pods?limit=500"))
            .map(|e| (e["argv"][3].as_str().unwrap().to_string(), e["exit_code"].as_i64()))
            .collect()
    };
    let paged = cluster(&["--extra-pods", "1200", "--nodes", "1"]);
    let run = paged.run(&["run", "--yes", "--output", "json"]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let document: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(document["pods_at_risk"].as_array().unwrap().len(), 1200, "every page's pods at risk");
    let read = pages(&paged);
    assert_eq!(
        read.iter().map(|(path, _)| path.as_str()).collect::<Vec<_>>(),
        [
            "/api/v1/pods?limit=500",
            "/api/v1/pods?limit=500&continue=after500",
            "/api/v1/pods?limit=500&continue=after1000"
        ],
        "three pages, each from the token of the one before"
    );
    let step = document["steps"].as_array().unwrap().iter().find(|s| s["name"] == "Pods at risk").unwrap();
    assert_eq!(step["commands"].as_array().unwrap().len(), 3, "each page is one command of the task: {step:#}");
    let notes = paged.journal_notes();
    let note = notes.iter().find(|n| n["note"] == "pods_at_risk").expect("a pods_at_risk note");
    assert!(note["value"]["listed"].as_u64().unwrap() > 1200, "{note:#}");

    // The first page's API server away once: read again, then the rest.
    let blipped = cluster(&["--extra-pods", "1200", "--nodes", "1", "--fault", "kubectl-get-pods-all=unreachable*1"]);
    let run = blipped.run(&["plan"]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(run.stdout.contains("1200 pod(s) outside the host network"), "{}", run.stdout);
    assert!(
        run.stdout.contains("ridden out: 1 page read the cluster did not answer, retried (last: "),
        "{}",
        run.stdout
    );
    let read = pages(&blipped);
    assert_eq!(read.len(), 4, "{read:?}");
    assert_eq!(read[0].1, Some(1), "the failed page: {read:?}");
    assert!(read[1..].iter().all(|(_, code)| *code == Some(0)), "{read:?}");
}

#[test]
fn a_few_pods_at_risk_get_a_delete_command_per_namespace() {
    let cluster = cluster(&["--nodes", "1"]);
    let run = cluster.run(&["plan"]);
    let command =
        regex::Regex::new(r"kubectl delete pod -n default web-[0-9a-z]+-[0-9a-z]+ web-[0-9a-z]+-[0-9a-z]+").unwrap();
    assert!(command.is_match(&run.stdout), "{}", run.stdout);
    assert!(run.stdout.contains("created after the v3 upgrade began at"), "{}", run.stdout);
}

#[test]
fn a_refused_rollback_quotes_kubectl_once() {
    let cluster = cluster(&["--fault", "kubectl-undo-daemonset=fail", "--extra-pods", "0"]);
    let run = cluster.run(&["run", "--yes"]);
    assert_eq!(run.code, Some(1), "{}\n{}", run.stdout, run.stderr);
    assert_told_once(&run, "injected failure");
    assert_told_once(
        &run,
        "kubectl rollout undo ds/calico-node deployment/calico-kube-controllers -n kube-system --to-revision=1` failed",
    );
    assert!(run.stdout.contains("Roll back ds/calico-node failed (exit 1), see FAILED above"), "{}", run.stdout);
}
