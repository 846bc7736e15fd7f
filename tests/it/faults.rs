//! The fault matrix, interruption and the journal: every external call the run makes, made to
//! fail in every way the simulated cluster can inject, must end the run at that task with the
//! documented exit code, a message naming the task, the command and the cause, no mutating
//! command afterwards, and a journal holding every command run up to the fault.

use std::time::{Duration, Instant};

use crate::support::fake::{interrupted_during_the_wait, signal, wait_for_call, FakeCluster};

/// One row per external call: the fault-injection name, the task it belongs to, and the words
/// of the command as the report spells it.
const CALLS: &[(&str, &str, &str)] = &[
    ("kubectl-version", "Find the tools", "kubectl version --client"),
    ("calico-upgrade-version", "Find the tools", "calico-upgrade version"),
    ("calicoctl-version", "Find the tools", "calicoctl version"),
    (
        "kubectl-get-objects",
        "Inspect the cluster",
        "kubectl get daemonsets,deployments,controllerrevisions,replicasets,jobs -n kube-system -o json",
    ),
    // Asked only where kubectl has no server dry run: that cell runs kubectl 1.9's.
    ("kubectl-auth-can-i", "Check permissions", "kubectl auth can-i patch daemonsets.apps/calico-node -n kube-system"),
    (
        "kubectl-undo-both-dry-run",
        "Check permissions",
        "kubectl rollout undo ds/calico-node deployment/calico-kube-controllers -n kube-system --dry-run=server",
    ),
    ("calico-upgrade-inprogress", "Abort the upgrade", "calico-upgrade inprogress"),
    ("calico-upgrade-abort", "Abort the upgrade", "calico-upgrade abort --no-prompts"),
    // Both rollbacks go to revision 1: one command does both; a retry is each one's own.
    (
        "kubectl-undo-both",
        "Roll back ds/calico-node",
        "kubectl rollout undo ds/calico-node deployment/calico-kube-controllers",
    ),
    ("kubectl-get-pods", "Wait for the pods", "kubectl get pods -n kube-system"),
    ("kubectl-patch-lock", "Lock the cluster", "kubectl patch ds/calico-node -n kube-system --type=json"),
];

/// Calls that only inform (the pods at risk, calico-config): whatever happens to them, the
/// downgrade goes on and ends converged, saying what could not be known.
const INFORMING: &[(&str, &str)] =
    &[("kubectl-get-pods-all", "skipped: unknown: "), ("kubectl-get-configmap", "configmap/calico-config: not read (")];

/// A command that changes Calico (the cluster lock's own commands aside): an undo or a scale
/// that is no dry run, the abort, a pod deleted.
fn is_mutating(call: &serde_json::Value) -> bool {
    let words: Vec<&str> = call["argv"].as_array().unwrap().iter().filter_map(|a| a.as_str()).collect();
    let dry = words.contains(&"--dry-run=server");
    match words.get(1..3) {
        Some(["rollout", "undo"]) | Some(["scale", _]) => !dry,
        Some(["delete", "pod"]) => true,
        Some(["abort", ..]) => true,
        _ => false,
    }
}

/// Run one cell and check everything the matrix promises; returns a line for the table.
/// Polling every 100ms, each command killed after 1s, the whole wait within 20s: a fault shows
/// quickly.
const QUICK_RUN: &[&str] = &["--no-watch", "--poll-interval", "100ms", "--command-timeout", "1s", "--timeout", "20s"];

fn cell(call: &str, task: &str, command: &str, kind: &str, expected: i32) -> String {
    let fault = format!("{call}={kind}");
    let mut init = vec!["--pod-start-ms", "100", "--pod-stop-ms", "50", "--fault", &fault];
    if call == "kubectl-auth-can-i" {
        init.extend(["--kubectl-style", "1.9"]);
    }
    // The rollback fails however it is sent: both in one command, then each on its own.
    let (ds, deployment) = (format!("kubectl-undo-daemonset={kind}"), format!("kubectl-undo-deployment={kind}"));
    if call == "kubectl-undo-both" {
        init.extend(["--fault", &ds, "--fault", &deployment]);
    }
    let cluster = FakeCluster::new(&init);
    let started = Instant::now();
    let run = cluster.run(&[&["run", "--yes"], QUICK_RUN].concat());
    let context = format!("cell {fault}\nstdout:\n{}\nstderr:\n{}", run.stdout, run.stderr);
    assert_eq!(run.code, Some(expected), "{context}");
    assert!(run.stdout.contains(&format!("FAILED [{task}]")), "the failure names the task: {context}");
    assert!(run.stdout.contains(command), "the failure names the command: {context}");
    assert!(run.stdout.contains("safe next: "), "{context}");
    let cause = match kind {
        "fail" => "injected failure",
        "garbage" => "%%% unrecognised output %%%",
        "hang" => "--command-timeout",
        "signal" => "signal 9",
        _ => unreachable!(),
    };
    assert!(run.stdout.contains(cause), "the failure quotes the cause `{cause}`: {context}");

    // No mutating command after the faulted one.
    let calls = cluster.calls();
    let faulted = calls.iter().position(|c| c["call"].as_str() == Some(call)).expect("the faulted call ran");
    // The one exception: an undo that hung is decided again on a fresh read of the template,
    // and run again (it names its revision) while that read shows it unchanged, up to 3 times.
    // After the undo of both, each workload's own undo is that retry.
    let undos = ["kubectl-undo-daemonset", "kubectl-undo-deployment"];
    let again = |c: &&serde_json::Value| {
        kind == "hang"
            && (c["argv"] == calls[faulted]["argv"]
                || (call == "kubectl-undo-both" && undos.iter().any(|u| c["call"] == *u)))
    };
    let after: Vec<_> = calls[faulted + 1..].iter().filter(|c| is_mutating(c)).collect();
    assert!(after.iter().all(again), "a mutating command ran after the fault: {context}");
    assert!(after.len() <= 4, "{context}");

    // The journal holds every command, the faulted one included (commands run together are
    // journaled as each ends, so the order within such a group may differ).
    let journal = cluster.journal_entries();
    assert_eq!(journal.len(), calls.len(), "one journal line per command: {context}");
    assert_eq!(argvs(&journal), argvs(&calls), "{context}");
    format!("| {call} | {kind} | exit {expected} | {:.1}s |", started.elapsed().as_secs_f64())
}

/// The arguments of each entry (journal lines or recorded calls), sorted.
fn argvs(entries: &[serde_json::Value]) -> Vec<Vec<String>> {
    let mut argvs: Vec<Vec<String>> = entries
        .iter()
        .map(|e| e["argv"].as_array().unwrap()[1..].iter().map(|a| a.as_str().unwrap().to_string()).collect())
        .collect();
    argvs.sort();
    argvs
}

fn matrix(kind: &str, expected: i32) {
    let mut table = Vec::new();
    for (call, task, command) in CALLS {
        table.push(cell(call, task, command, kind, expected));
    }
    for (call, said) in INFORMING {
        let fault = format!("{call}={kind}");
        let cluster = FakeCluster::new(&["--pod-start-ms", "100", "--pod-stop-ms", "50", "--fault", &fault]);
        let run = cluster.run(&[&["run", "--yes"], QUICK_RUN].concat());
        let context = format!("cell {fault}\nstdout:\n{}\nstderr:\n{}", run.stdout, run.stderr);
        assert_eq!(run.code, Some(0), "what only informs never stops the downgrade: {context}");
        assert!(run.stdout.contains(said), "the report says it is not known: {context}");
        table.push(format!("| {call} | {kind} | exit 0, said unknown |"));
    }
    println!("{}", table.join("\n"));
}

#[test]
fn every_call_that_fails_ends_the_run_with_exit_1() {
    matrix("fail", 1);
}

#[test]
fn every_call_that_prints_what_no_parser_knows_ends_the_run_with_exit_2() {
    matrix("garbage", 2);
}

#[test]
fn every_call_that_hangs_is_killed_after_the_command_timeout_with_exit_1() {
    matrix("hang", 1);
}

#[test]
fn every_call_killed_by_a_signal_ends_the_run_with_exit_1() {
    matrix("signal", 1);
}

/// Every command of the round before the first change (the inspection's query, `calico-config`,
/// the rights questions, the server dry runs, the lock's take), refused once as by an API
/// server restarting: the round runs it again after a backoff, and the run downgrades with
/// everything checked. The take is sent again too: a refused connection never reached the
/// server.
const ROUND: &[&str] =
    &["kubectl-get-objects", "kubectl-get-configmap", "kubectl-undo-both-dry-run", "kubectl-patch-lock"];

/// A run that rode out the refusals: downgraded, every check made, the retries said.
fn rode_out(cluster: &FakeCluster, run: &crate::support::fake::Run, context: &str) {
    assert_eq!(run.code, Some(0), "{context}");
    assert!(run.stdout.contains("no answer from https://127.0.0.1:6443"), "the retry is said: {context}");
    assert!(!run.stdout.contains("not read ("), "calico-config was checked: {context}");
    assert!(run.stdout.contains("ok: every change the run makes is allowed"), "{context}");
    assert!(cluster.show()["daemonset"]["images"].to_string().contains("v2.6.8"), "{context}");
}

#[test]
fn every_command_of_the_round_rides_out_a_refused_connection() {
    let mut table = Vec::new();
    for call in ROUND {
        let fault = format!("{call}=unreachable*1");
        let cluster = FakeCluster::new(&["--pod-start-ms", "100", "--pod-stop-ms", "50", "--fault", &fault]);
        let started = Instant::now();
        let run = cluster.run(&[&["run", "--yes"], QUICK_RUN].concat());
        let context = format!("cell {fault}\nstdout:\n{}\nstderr:\n{}", run.stdout, run.stderr);
        rode_out(&cluster, &run, &context);
        let tries = cluster.calls().iter().filter(|c| c["call"] == *call).count();
        assert!(tries >= 2, "{call} was run again ({tries}): {context}");
        table.push(format!("| {call} | refused once | exit 0, retried | {:.1}s |", started.elapsed().as_secs_f64()));
    }
    println!("{}", table.join("\n"));
}

/// The API server down when the run starts and back 1.5 s later (a control-plane node
/// rebooting): every command of the round is refused at first, and the run downgrades.
#[test]
fn an_api_server_down_as_the_run_starts_is_ridden_out() {
    let cluster = FakeCluster::new(&["--pod-start-ms", "100", "--pod-stop-ms", "50"]);
    cluster.control("outage", &["1500"]);
    let run = cluster.run(&[&["run", "--yes"], QUICK_RUN].concat());
    let context = format!("stdout:\n{}\nstderr:\n{}", run.stdout, run.stderr);
    rode_out(&cluster, &run, &context);
    assert!(run.stdout.contains(" commands in "), "the round's commands are retried together: {context}");
}

#[test]
fn a_missing_or_non_executable_tool_is_a_precondition_failure() {
    for tool in ["kubectl", "calicoctl", "calico-upgrade"] {
        for how in ["missing", "not-executable"] {
            let cluster = FakeCluster::new(&[]);
            let link = cluster.bin().join(tool);
            if how == "missing" {
                std::fs::remove_file(&link).unwrap();
            } else {
                let target = std::fs::read_link(&link).unwrap();
                std::fs::remove_file(&link).unwrap();
                std::fs::copy(target, &link).unwrap();
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&link, std::fs::Permissions::from_mode(0o644)).unwrap();
            }
            let run = cluster.run(&["run", "--yes"]);
            let context = format!("{tool} {how}\nstdout:\n{}\nstderr:\n{}", run.stdout, run.stderr);
            assert_eq!(run.code, Some(3), "{context}");
            assert!(run.stdout.contains(tool), "{context}");
            assert!(!cluster.calls().iter().any(is_mutating), "{context}");
        }
    }
}

#[test]
fn names_are_validated_before_anything_runs() {
    let cluster = FakeCluster::new(&[]);
    let cases = [
        ("--daemonset=calico node", "--daemonset"),
        ("--namespace=-n", "--namespace"),
        ("--context=--all", "--context"),
        ("--deployment=x;rm -rf /", "--deployment"),
        ("--apiconfigv1=-x", "--apiconfigv1"),
    ];
    for (arg, option) in cases {
        let run = cluster.run(&["run", "--yes", arg]);
        assert_eq!(run.code, Some(2), "{arg}: {}", run.stderr);
        assert!(run.stderr.contains(option), "{arg}: {}", run.stderr);
    }
    assert!(cluster.calls().is_empty(), "nothing ran");
}

#[test]
fn values_reach_the_child_as_one_argument_never_through_a_shell() {
    let cluster = FakeCluster::new(&["--contexts", "ctx with spaces; echo"]);
    // The kubeconfig must exist (the tool checks before kubectl falls back to localhost:8080).
    let kubeconfig = format!("{}/a b/$(touch pwned);'q'\"`id`", cluster.path().display());
    std::fs::create_dir_all(std::path::Path::new(&kubeconfig).parent().unwrap()).unwrap();
    std::fs::copy(cluster.kubeconfig(), &kubeconfig).unwrap();
    let run = cluster.run(&["plan", "--kubeconfig", &kubeconfig, "--context", "ctx with spaces; echo"]);
    assert_eq!(run.code, Some(0), "{}\n{}", run.stdout, run.stderr);
    let calls = cluster.calls();
    let kubectl_calls: Vec<_> = calls.iter().filter(|c| c["argv"][0].as_str().unwrap().ends_with("kubectl")).collect();
    assert!(!kubectl_calls.is_empty());
    for call in kubectl_calls.iter().filter(|c| c["argv"][1] != "version") {
        let argv: Vec<&str> = call["argv"].as_array().unwrap().iter().map(|a| a.as_str().unwrap()).collect();
        assert!(argv.contains(&format!("--kubeconfig={kubeconfig}").as_str()), "{argv:?}");
        assert!(argv.contains(&"--context=ctx with spaces; echo"), "{argv:?}");
    }
    assert!(!std::path::Path::new("pwned").exists());
}

/// Interrupt a run in each task, then run again: the second run completes the downgrade from
/// wherever the cluster is, without repeating a rollback or toggling.
#[test]
fn an_interrupted_run_exits_130_and_a_new_run_completes_without_toggling() {
    // One point in each task that runs a command (`Verify and report` runs none).
    let points = [
        ("calicoctl-version=hang", "\"calicoctl\""),
        ("kubectl-get-objects=hang", "controllerrevisions"),
        ("kubectl-get-pods-all=hang", "/api/v1/pods"),
        ("calico-upgrade-abort=hang", "\"abort\""),
        ("kubectl-undo-both=hang", "--to-revision"),
        ("none", "--watch"),
    ];
    for (fault, needle) in points {
        let mut args = vec!["--pod-start-ms", "600", "--pod-stop-ms", "100"];
        if fault != "none" {
            args.extend(["--fault", fault]);
        }
        let cluster = FakeCluster::new(&args);
        let child = cluster.command(&["run", "--yes"]).stdout(std::process::Stdio::piped()).spawn().unwrap();
        wait_for_call(&cluster, needle, Duration::from_secs(20));
        std::thread::sleep(Duration::from_millis(200));
        signal(&child, libc::SIGINT);
        let output = child.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert_eq!(output.status.code(), Some(130), "interrupt at {needle}:\n{stdout}");
        assert!(stdout.contains("RECAP") && stdout.contains("journal: "), "{stdout}");
        // Every journal line is whole JSON.
        let _ = cluster.journal_entries();

        cluster.clear_faults();
        let second = cluster.run(&["run", "--yes", "--timeout", "60s"]);
        assert_eq!(second.code, Some(0), "re-run after interrupt at {needle}:\n{}\n{}", second.stdout, second.stderr);
        let state = cluster.show();
        let images = state["daemonset"]["images"].to_string();
        assert!(images.contains("calico/node:v2.6.8"), "{state:#}");
        assert_eq!(state["daemonset"]["revisions"].as_array().unwrap().len(), 2, "no extra revision: {state:#}");
    }
}

#[test]
fn the_journal_survives_the_tool_being_killed() {
    // The read of calico-config hangs; what runs beside it in the inspection's round (the
    // inspection query, the server dry run, the lock's take) and the pods at risk's first page
    // end and are journaled the moment they do.
    let cluster = FakeCluster::new(&["--fault", "kubectl-get-configmap=hang*1"]);
    let child = cluster.command(&["run", "--yes"]).spawn().unwrap();
    wait_for_call(&cluster, "/configmaps/", Duration::from_secs(20));
    std::thread::sleep(Duration::from_millis(200));
    signal(&child, libc::SIGKILL);
    let _ = child.wait_with_output();
    // The hung child dies with the tool (PR_SET_PDEATHSIG): nothing is left behind.
    let deadline = Instant::now() + Duration::from_secs(2);
    while !cluster.leftovers().is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(cluster.leftovers(), [], "no child outlives a SIGKILLed tool");
    let journal = cluster.journal_entries();
    let calls = cluster.calls();
    assert_eq!(journal.len(), calls.len() - 1, "every finished command is in the journal; the hung one is not");
    let first_question = calls.iter().position(|c| c["call"] == "kubectl-get-configmap").unwrap();
    let hung: Vec<_> = vec![calls[first_question].clone()];
    let finished: Vec<_> =
        calls.iter().enumerate().filter(|(i, _)| *i != first_question).map(|(_, c)| c.clone()).collect();
    for beside in ["kubectl-get-objects", "kubectl-undo-both-dry-run", "kubectl-patch-lock", "kubectl-get-pods-all"] {
        assert!(finished.iter().any(|c| c["call"] == beside), "{beside}: {calls:#?}");
    }
    assert_eq!(hung.len(), 1);
    assert_eq!(argvs(&journal), argvs(&finished), "journal and calls agree");
    assert!(journal.iter().all(|e| e["exit_code"] == 0), "{journal:#?}");
}

/// The watch is an optimisation: when it fails, dies or stalls, the wait looks again and
/// watches again (with backoff), and the run still converges. Only rows it cannot read stop
/// the run. Its stderr goes to the journal and the progress, never raw to ours.
#[test]
fn a_broken_watch_is_re_established_and_the_run_converges() {
    for (kind, expected) in [("fail", 0), ("signal", 0), ("hang", 0), ("garbage", 2)] {
        let fault = format!("kubectl-watch-pods={kind}");
        let cluster = FakeCluster::new(&["--pod-start-ms", "700", "--pod-stop-ms", "50", "--fault", &fault]);
        let run =
            cluster.run(&["run", "--yes", "--poll-interval", "100ms", "--command-timeout", "5s", "--timeout", "30s"]);
        assert_eq!(run.code, Some(expected), "{fault}\n{}\n{}", run.stdout, run.stderr);
        let watches = cluster.calls().iter().filter(|c| c["call"] == "kubectl-watch-pods").count();
        assert!(watches >= 1, "{fault}: the watch was tried");
        if kind == "fail" || kind == "signal" {
            assert!(watches >= 2, "{fault}: a failed watch is established again ({watches})\n{}", run.stdout);
            assert!(run.stdout.contains("the watch failed"), "{fault}: said\n{}", run.stdout);
            assert!(
                !run.stderr.contains("injected failure"),
                "{fault}: kubectl's stderr is not passed raw: {}",
                run.stderr
            );
        }
        if kind == "fail" {
            assert!(run.stdout.contains("the watch failed (exit code 1: error: injected failure)"), "{}", run.stdout);
            let watch_stderr: Vec<String> = cluster
                .journal_entries()
                .iter()
                .filter(|e| e["argv"].to_string().contains("--watch") && e["argv"].to_string().contains("\"pods\""))
                .map(|e| e["stderr"].as_str().unwrap_or_default().to_string())
                .collect();
            assert!(watch_stderr.iter().all(|e| e.contains("error: injected failure")), "{watch_stderr:?}");
        }
        if expected == 0 {
            assert!(cluster.show()["daemonset"]["images"].to_string().contains("v2.6.8"));
        }
    }
}

#[test]
fn sigterm_during_the_wait_stops_the_watch_and_exits_130() {
    let cluster = FakeCluster::new(&["--pod-start-ms", "2000", "--pod-stop-ms", "100"]);
    let (code, stdout) = interrupted_during_the_wait(&cluster, libc::SIGTERM);
    assert_eq!(code, Some(130), "{stdout}");
    assert!(
        stdout.contains("INTERRUPTED [Wait for the pods]: interrupted by SIGTERM during `kubectl get pods"),
        "{stdout}"
    );
    assert!(stdout.contains("not run: Pods at risk, What Calico v2.6 will not read, Verify and report"), "{stdout}");
}

/// A `kubectl delete pod` (`--replace-pods`) that hangs past `--command-timeout` is killed; the
/// run then looks at the pods again and says what the look shows instead of guessing.
#[test]
fn a_delete_that_did_not_finish_is_read_back_before_the_run_says_what_changed() {
    let cluster = FakeCluster::new(&[
        "--strategy",
        "OnDelete",
        "--pod-start-ms",
        "100",
        "--pod-stop-ms",
        "50",
        "--fault",
        "kubectl-delete-pod=hang",
    ]);
    let run = cluster.run(&[&["run", "--yes", "--replace-pods"], QUICK_RUN].concat());
    let context = format!("stdout:\n{}\nstderr:\n{}", run.stdout, run.stderr);
    assert_eq!(run.code, Some(1), "{context}");
    assert!(run.stdout.contains("FAILED [Wait for the pods]"), "{context}");
    let calls = cluster.calls();
    let delete = calls.iter().position(|c| c["call"].as_str() == Some("kubectl-delete-pod")).expect("a delete ran");
    assert!(
        calls[delete + 1..].iter().any(|c| c["call"].as_str() == Some("kubectl-get-pods")),
        "the pods are read back after the delete: {context}"
    );
    assert!(
        run.stdout.contains("not changed: pod calico-node-") && run.stdout.contains(" is still there"),
        "{context}"
    );
}
