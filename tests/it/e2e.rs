//! End-to-end: the real binary against the simulated cluster (`tests/fake-cluster`), with a
//! cleared environment and a `PATH` holding only the fakes.

use crate::support::fake::{normalise, FakeCluster};

fn images(state: &serde_json::Value, workload: &str) -> Vec<String> {
    state[workload]["images"]
        .as_array()
        .map(|a| a.iter().map(|v| v.as_str().unwrap().to_string()).collect())
        .unwrap_or_default()
}

const FAST: &[&str] = &["--pod-start-ms", "150", "--pod-stop-ms", "100"];

fn fast(extra: &[&'static str]) -> Vec<&'static str> {
    let mut args = FAST.to_vec();
    args.extend_from_slice(extra);
    args
}

fn run_downgrades_with_kubectl_style(style: &'static str) {
    let cluster = FakeCluster::new(&fast(&["--kubectl-style", style]));
    let run = cluster.run(&["run", "--yes", "--timeout", "60s"]);
    assert_eq!(run.code, Some(0), "stdout:\n{}\nstderr:\n{}", run.stdout, run.stderr);
    let state = cluster.show();
    assert!(images(&state, "daemonset").iter().any(|i| i.ends_with("calico/node:v2.6.8")), "{state:#}");
    assert!(images(&state, "deployment").iter().any(|i| i.ends_with("calico/kube-controllers:v1.0.3")), "{state:#}");
    assert!(run.stdout.contains("ok=") && run.stdout.contains("changed=3"), "{}", run.stdout);
    assert!(run.stdout.contains("journal: "), "{}", run.stdout);
}

#[test]
fn run_downgrades_an_upgraded_cluster_with_kubectl_1_33() {
    run_downgrades_with_kubectl_style("1.33");
}

#[test]
fn run_downgrades_an_upgraded_cluster_with_kubectl_1_9() {
    run_downgrades_with_kubectl_style("1.9");
}

#[test]
fn run_report_reads_like_an_ansible_task_list() {
    let cluster = FakeCluster::new(&fast(&[]));
    let run = cluster.run(&["run", "--yes", "--no-watch", "--poll-interval", "100ms"]);
    assert_eq!(run.code, Some(0), "{}\n{}", run.stdout, run.stderr);
    // Progress lines depend on timing; the tasks and their results do not.
    let report: String =
        run.stdout.lines().filter(|l| !l.trim_start().starts_with('[')).map(|l| format!("{l}\n")).collect();
    insta::assert_snapshot!(normalise(&report, &cluster));
}

#[test]
fn a_second_run_is_a_no_op_and_never_toggles_back_to_v3() {
    let cluster = FakeCluster::new(&fast(&[]));
    assert_eq!(cluster.run(&["run", "--yes"]).code, Some(0));
    let revisions_after_first = cluster.show()["daemonset"]["revisions"].as_array().unwrap().len();
    let second = cluster.run(&["run", "--yes"]);
    assert_eq!(second.code, Some(0), "{}\n{}", second.stdout, second.stderr);
    assert!(second.stdout.contains("changed=0"), "{}", second.stdout);
    let state = cluster.show();
    assert!(images(&state, "daemonset").iter().any(|i| i.ends_with("calico/node:v2.6.8")));
    assert_eq!(state["daemonset"]["revisions"].as_array().unwrap().len(), revisions_after_first);
    // Both go back to revision 1: one `rollout undo ds/… deployment/…` does both.
    let undo_calls: Vec<_> = cluster.calls().into_iter().filter(crate::support::fake::is_undo).collect();
    assert_eq!(undo_calls.len(), 1, "one undo of both workloads, in the first run only: {undo_calls:#?}");
    let argv = undo_calls[0]["argv"].to_string();
    assert!(argv.contains("ds/calico-node") && argv.contains("deployment/calico-kube-controllers"), "{argv}");
}

#[test]
fn run_refuses_a_v2_0_calicoctl_with_exit_3_and_changes_nothing() {
    let cluster = FakeCluster::new(&fast(&["--calicoctl-version", "v2.0.0"]));
    let run = cluster.run(&["run", "--yes"]);
    assert_eq!(run.code, Some(3), "{}\n{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("calicoctl v2.0.0") && run.stdout.contains("v1.6.x"), "{}", run.stdout);
    assert!(images(&cluster.show(), "daemonset").iter().any(|i| i.ends_with("calico/node:v3.0.4")));
}

#[test]
fn calico_upgrade_v1_0_0_is_answered_on_stdin() {
    let cluster = FakeCluster::new(&fast(&["--calico-upgrade-version", "v1.0.0"]));
    let run = cluster.run(&["run", "--yes"]);
    assert_eq!(run.code, Some(0), "{}\n{}", run.stdout, run.stderr);
    let abort = cluster.calls().into_iter().find(|c| c["argv"].to_string().contains("\"abort\"")).expect("abort ran");
    assert_eq!(abort["stdin"], "yes\n");
    assert!(!abort["argv"].to_string().contains("--no-prompts"));
}

#[test]
fn the_v1_0_3_false_success_is_caught_and_nothing_is_rolled_back() {
    let cluster = FakeCluster::new(&fast(&[
        "--calico-upgrade-version",
        "v1.0.3",
        "--fault",
        "calico-upgrade-abort=false-success",
    ]));
    let run = cluster.run(&["run", "--yes"]);
    assert_eq!(run.code, Some(1), "{}\n{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("failed to resume"), "{}", run.stdout);
    assert!(!cluster.calls().iter().any(crate::support::fake::is_undo), "no rollback after a failed abort");
}

#[test]
fn pods_that_never_become_ready_end_in_exit_4_after_the_timeout() {
    let cluster = FakeCluster::new(&fast(&["--fault", "kubectl-undo-daemonset=stuck"]));
    let run = cluster.run(&["run", "--yes", "--timeout", "2s", "--poll-interval", "200ms"]);
    assert_eq!(run.code, Some(4), "{}\n{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("did not converge within --timeout 2s"), "{}", run.stdout);
}

#[test]
fn plan_changes_nothing_and_prints_the_commands() {
    let cluster = FakeCluster::new(&fast(&[]));
    let run = cluster.run(&["plan"]);
    assert_eq!(run.code, Some(0), "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("would run: kubectl rollout undo ds/calico-node deployment/calico-kube-controllers -n kube-system --to-revision=1"),
        "{}",
        run.stdout
    );
    let journal = cluster.journal_entries();
    assert!(!journal.is_empty());
    assert!(journal.iter().all(|e| e["effect"] == "read-only"), "plan ran a mutating command");
    assert!(images(&cluster.show(), "daemonset").iter().any(|i| i.ends_with("calico/node:v3.0.4")));
}

#[test]
fn run_without_yes_on_a_closed_stdin_refuses() {
    let cluster = FakeCluster::new(&fast(&[]));
    let run = cluster.run(&["run"]);
    assert_eq!(run.code, Some(2), "{}\n{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("--yes"), "{}", run.stderr);
    assert!(cluster.calls().is_empty());
}

#[test]
fn status_exits_1_before_and_0_after_the_downgrade() {
    let cluster = FakeCluster::new(&fast(&[]));
    assert_eq!(cluster.run(&["status"]).code, Some(1));
    assert_eq!(cluster.run(&["run", "--yes"]).code, Some(0));
    let status = cluster.run(&["status"]);
    assert_eq!(status.code, Some(0), "{}\n{}", status.stdout, status.stderr);
}

#[test]
fn json_output_is_one_ansible_result_document() {
    let cluster = FakeCluster::new(&fast(&[]));
    let run = cluster.run(&["run", "--yes", "--output", "json"]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let document: serde_json::Value = serde_json::from_str(&run.stdout).expect("stdout is one JSON document");
    assert_eq!(document["changed"], true);
    assert_eq!(document["failed"], false);
    assert_eq!(document["rc"], 0);
    assert_eq!(document["state_after"]["converged"], true);
    assert_eq!(document["state_before"]["state"], "upgraded");
    assert!(document["journal"].as_str().unwrap().ends_with("journal.jsonl"));
}

#[test]
fn json_output_is_a_document_even_when_the_options_are_refused() {
    let cluster = FakeCluster::new(&[]);
    let run = cluster.run(&["run", "--yes", "--output", "json", "--daemonset=Not A Name"]);
    assert_eq!(run.code, Some(2));
    let document: serde_json::Value = serde_json::from_str(&run.stdout).expect("stdout is one JSON document");
    assert_eq!(document["failed"], true);
    assert_eq!(document["rc"], 2);
    assert!(document["msg"].as_str().unwrap().contains("--daemonset"));
}

/// The JSON document's shape, with what varies from run to run (paths, times, durations, pod
/// names) replaced.
#[test]
fn json_document_schema_snapshot() {
    let cluster = FakeCluster::new(&fast(&["--nodes", "1", "--extra-pods", "0"]));
    let run = cluster.run(&["run", "--yes", "--output", "json", "--no-watch", "--poll-interval", "100ms"]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let mut document: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    // The pods and the wait's polls depend on timing: their shape is shown by the first entry.
    document["pods"].as_array_mut().unwrap().truncate(1);
    for step in document["steps"].as_array_mut().unwrap() {
        if step["name"] == "Wait for the pods" {
            step["commands"].as_array_mut().unwrap().truncate(1);
            // Which pods became ready during the wait, rather than before its first look,
            // depends on timing too.
            step["details"].as_array_mut().unwrap().retain(|d| !d.as_str().unwrap().contains(" became ready "));
        }
    }
    let pace = document["state_after"]["wait"]["pace"].as_array_mut().unwrap();
    assert!(!pace.is_empty(), "no workload became ready during the wait: {pace:?}");
    pace.truncate(1);
    pace[0]["name"] = "[WORKLOAD]".into();
    let text = serde_json::to_string_pretty(&document).unwrap();
    let text = regex::Regex::new(r#""duration_ms": \d+"#).unwrap().replace_all(&text, r#""duration_ms": "[MS]""#);
    // The wait's times and pace, and which count advanced last, depend on timing too.
    let text = regex::Regex::new(r#""(elapsed_secs|at_secs|left_secs|per_minute)": [0-9.]+"#)
        .unwrap()
        .replace_all(&text, r#""$1": "[MEASURED]""#);
    let text = regex::Regex::new(r#"(ago: |"what": ")calico-[^"]*""#).unwrap().replace_all(&text, r#"$1[WHAT]""#);
    let text = regex::Regex::new(r"calico-(node|kube-controllers)-[0-9a-z]+(-[0-9a-z]+)?")
        .unwrap()
        .replace_all(&text, "calico-$1-[SUFFIX]");
    insta::assert_snapshot!(normalise(&text, &cluster));
}

#[test]
fn help_carries_examples_and_the_exit_code_table() {
    let cluster = FakeCluster::new(&[]);
    let help = cluster.run(&["--help"]);
    assert_eq!(help.code, Some(0));
    for needle in [
        "Examples:",
        "calico-downgrade run --rollback-first",
        "Exit codes:",
        "130  interrupted (SIGINT, SIGTERM, SIGHUP)",
        "CALICO_DOWNGRADE_NAMESPACE=calico",
    ] {
        assert!(help.stdout.contains(needle), "--help lacks {needle:?}:\n{}", help.stdout);
    }
}

#[test]
fn completions_and_the_man_page_come_from_the_same_definitions() {
    let cluster = FakeCluster::new(&[]);
    for shell in ["bash", "zsh", "fish"] {
        let run = cluster.run(&["completions", shell]);
        assert_eq!(run.code, Some(0), "{shell}: {}", run.stderr);
        assert!(run.stdout.contains("rollback-first"), "{shell}");
    }
    let man = cluster.run(&["man"]);
    assert_eq!(man.code, Some(0));
    assert!(man.stdout.starts_with(".ie") || man.stdout.contains(".TH calico-downgrade"), "{}", &man.stdout[..200]);
}
