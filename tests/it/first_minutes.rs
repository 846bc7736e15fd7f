//! An operator's first five minutes, on the simulated cluster: a kubeconfig that names no
//! cluster, an unknown context, a server name that does not resolve, a certificate that is not
//! trusted, credentials the server refuses: each ends at once (exit 3, nothing changed), naming
//! the kubeconfig, the context, the server and kubectl's own words. A server that refuses
//! connections is ridden out within the inspection's retry budget, saying what it waits for.
//! Every missing tool is named in one run. Timings are asserted loosely (seconds).

use std::time::{Duration, Instant};

use crate::support::fake::{FakeCluster, Run};

/// `calico-downgrade ARGS` with `env` added, and how long it took.
fn timed(cluster: &FakeCluster, args: &[&str], env: &[(&str, &str)]) -> (Run, Duration) {
    let mut command = cluster.command(args);
    for (key, value) in env {
        command.env(key, value);
    }
    let started = Instant::now();
    let output = command.output().expect("calico-downgrade runs");
    let took = started.elapsed();
    let run = Run {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    };
    (run, took)
}

/// Nothing but reads reached the simulated cluster.
fn nothing_changed(cluster: &FakeCluster) {
    let state = cluster.show();
    assert!(state["daemonset"]["images"].to_string().contains("v3.0.4"), "{state:#}");
    assert_eq!(state["etcd_ready"], false, "the migration was not aborted: {state:#}");
}

#[test]
fn a_kubeconfig_that_does_not_exist_is_named_with_where_it_came_from_at_once() {
    let cluster = FakeCluster::new(&[]);
    let (run, took) = timed(&cluster, &["plan"], &[("KUBECONFIG", "/nonexistent/kubeconfig")]);
    assert_eq!(run.code, Some(3), "{}", run.stdout);
    assert!(took < Duration::from_secs(3), "{took:?}");
    assert!(
        run.stdout.contains(
            "FAILED [Find the cluster]: no kubeconfig: `/nonexistent/kubeconfig` named by KUBECONFIG does not exist"
        ),
        "{}",
        run.stdout
    );
    // kubectl was never asked to reach a cluster (it would fall back to localhost:8080).
    assert!(cluster.calls().iter().all(|c| !c["argv"].to_string().contains("\"get\"")), "{:?}", cluster.calls());

    // The same named by --kubeconfig, and the default path when nothing names one.
    let (run, _) = timed(&cluster, &["plan", "--kubeconfig", "/tmp/no/such/file"], &[]);
    assert_eq!(run.code, Some(3));
    assert!(
        run.stdout.contains("the kubeconfig `/tmp/no/such/file` given with --kubeconfig does not exist"),
        "{}",
        run.stdout
    );
    let mut command = cluster.command(&["plan"]);
    command.env_remove("KUBECONFIG");
    let output = command.output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(3), "{stdout}");
    assert!(stdout.contains("home/.kube/config"), "the default path is named: {stdout}");
    nothing_changed(&cluster);
}

#[test]
fn an_unknown_context_lists_the_contexts_that_exist() {
    let cluster = FakeCluster::new(&["--contexts", "prod,staging-eu"]);
    let (run, took) = timed(&cluster, &["plan", "--context", "staging"], &[]);
    assert_eq!(run.code, Some(3), "{}", run.stdout);
    assert!(took < Duration::from_secs(3), "{took:?}");
    assert!(run.stdout.contains("there is no context `staging` (given with --context)"), "{}", run.stdout);
    assert!(run.stdout.contains("contexts in the kubeconfig: prod, staging-eu"), "{}", run.stdout);
    nothing_changed(&cluster);
}

#[test]
fn a_kubeconfig_without_a_current_context_says_so() {
    let cluster = FakeCluster::new(&["--contexts", "prod,staging", "--current-context", "none"]);
    let (run, took) = timed(&cluster, &["plan"], &[]);
    assert_eq!(run.code, Some(3), "{}", run.stdout);
    assert!(took < Duration::from_secs(3), "{took:?}");
    assert!(run.stdout.contains("FAILED [Find the cluster]"), "{}", run.stdout);
    assert!(run.stdout.contains("current context") && run.stdout.contains("prod, staging"), "{}", run.stdout);
    nothing_changed(&cluster);
}

/// A failure no retry can fix: exit 3 within `limit`, with the meaning and kubectl's words.
fn ends_at_once(fault: &str, meaning: &str, kubectl_says: &str, limit: Duration) {
    let cluster = FakeCluster::new(&["--fault", fault]);
    let (run, took) = timed(&cluster, &["run", "--yes"], &[]);
    assert_eq!(run.code, Some(3), "{fault}: {}", run.stdout);
    assert!(took < limit, "{fault}: {took:?}");
    assert!(
        run.stdout.contains("FAILED [Inspect the cluster]: cannot reach https://127.0.0.1:6443: "),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains(meaning), "{fault}: {}", run.stdout);
    let said = run.stdout.lines().find(|l| l.starts_with("    kubectl: ")).unwrap_or_default();
    assert!(said.contains(kubectl_says), "{fault}: kubectl's words: {}", run.stdout);
    assert!(run.stdout.contains("context kubernetes-admin@fake-cluster"), "{}", run.stdout);
    assert!(!run.stdout.contains("retry"), "{fault} is not retried: {}", run.stdout);
    // kubectl's words once on the screen, whole.
    assert_eq!(run.stdout.matches(kubectl_says).count(), 1, "{}", run.stdout);
    nothing_changed(&cluster);
}

#[test]
fn a_server_name_that_does_not_resolve_ends_at_once() {
    ends_at_once(
        "kubectl-get-objects=unknown-host",
        "the server's name does not resolve",
        "dial tcp: lookup",
        Duration::from_secs(5),
    );
}

#[test]
fn an_untrusted_certificate_ends_at_once() {
    ends_at_once(
        "kubectl-get-objects=untrusted",
        "the server's certificate is not trusted by the kubeconfig's certificate authority",
        "x509: certificate signed by unknown authority",
        Duration::from_secs(3),
    );
}

#[test]
fn refused_credentials_end_at_once() {
    ends_at_once(
        "kubectl-get-objects=unauthorized",
        "the server does not accept the kubeconfig's credentials",
        "You must be logged in to the server",
        Duration::from_secs(3),
    );
}

/// The round before the first change decides on the first answer that settles it: one command
/// says the cluster cannot be reached with this configuration while another hangs (a resolver
/// retrying its lookup, say). The run ends with exit 3 at once, the hung kubectl stopped, none
/// left running (`FakeCluster`'s drop check, and checked here at the run's end).
#[test]
fn the_first_answer_no_retry_fixes_ends_the_round_without_waiting_for_the_others() {
    let cases = [
        // The inspection's own query hangs; the server dry run started with it does not resolve.
        ("kubectl-get-objects=hang", "kubectl-undo-both-dry-run=unknown-host", "dial tcp: lookup"),
        // The rights check (the server dry run of both rollbacks) hangs; the inspection's query
        // does not resolve.
        ("kubectl-undo-both-dry-run=hang*1", "kubectl-get-objects=unknown-host", "dial tcp: lookup"),
        // The lock's take, started with the round, hangs; calico-config's read meets a
        // certificate the kubeconfig does not trust.
        ("kubectl-patch-lock=hang", "kubectl-get-configmap=untrusted", "x509: certificate signed by unknown"),
    ];
    for (slow, settles, kubectl_says) in cases {
        let cluster = FakeCluster::new(&["--fault", slow, "--fault", settles]);
        let (run, took) = timed(&cluster, &["run", "--yes"], &[]);
        let context = format!("{slow} + {settles} ({took:?}):\n{}", run.stdout);
        assert_eq!(run.code, Some(3), "{context}");
        assert!(took < Duration::from_secs(3), "not held up by the slow answer: {context}");
        assert!(
            run.stdout.contains("FAILED [Inspect the cluster]: cannot reach https://127.0.0.1:6443: "),
            "{context}"
        );
        assert!(run.stdout.contains(kubectl_says), "{context}");
        assert!(!run.stdout.contains("retry"), "nothing retried: {context}");
        assert_eq!(cluster.leftovers(), [], "every kubectl of the round stopped: {context}");
        // The hung command is journaled, stopped unfinished.
        let journal = cluster.journal_entries();
        assert!(
            journal.iter().any(|e| e["error"].as_str().is_some_and(|e| e.starts_with("stopped"))),
            "{context}\n{journal:#?}"
        );
        nothing_changed(&cluster);
        let state = cluster.show();
        let lock = &state["daemonset"]["annotations"]["calico-downgrade/lock"];
        assert!(lock.is_null(), "no lock left behind: {state:#}");
    }
}

#[test]
fn a_server_that_refuses_connections_for_a_while_is_ridden_out() {
    // A control plane restarting: the first reads are refused, then it answers.
    let cluster = FakeCluster::new(&["--fault", "kubectl-get-objects=unreachable*3", "--pod-start-ms", "100"]);
    let (run, took) = timed(&cluster, &["plan"], &[]);
    assert_eq!(run.code, Some(0), "{}", run.stdout);
    assert!(took < Duration::from_secs(10), "{took:?}");
    let retries: Vec<&str> =
        run.stdout.lines().filter(|l| l.contains("no answer from https://127.0.0.1:6443")).collect();
    assert_eq!(retries.len(), 3, "{}", run.stdout);
    assert!(retries[0].contains("(The connection to the server 127.0.0.1:6443 was refused"), "{}", retries[0]);
    assert!(retries[0].contains("retry 1 in 0.2s, for up to 20s more"), "{}", retries[0]);
    // kubectl's words once; the next lines say only what changes.
    assert!(retries[1..].iter().all(|l| !l.contains("was refused")), "{retries:#?}");
}

#[test]
fn a_server_that_never_answers_ends_after_the_retry_budget_with_exit_3() {
    let cluster = FakeCluster::new(&["--fault", "kubectl-get-objects=unreachable"]);
    let (run, took) = timed(&cluster, &["plan"], &[]);
    assert_eq!(run.code, Some(3), "{}", run.stdout);
    assert!((Duration::from_secs(10)..Duration::from_secs(40)).contains(&took), "{took:?}");
    assert!(
        run.stdout.contains("FAILED [Inspect the cluster]: cannot reach https://127.0.0.1:6443: no answer within 20s of retries; nothing was changed"),
        "{}",
        run.stdout
    );
    nothing_changed(&cluster);
}

#[test]
fn every_missing_tool_is_named_in_one_run() {
    let cluster = FakeCluster::new(&[]);
    // Only kubectl on PATH.
    let only_kubectl = cluster.path().join("only-kubectl");
    std::fs::create_dir_all(&only_kubectl).unwrap();
    std::os::unix::fs::symlink(cluster.bin().join("kubectl"), only_kubectl.join("kubectl")).unwrap();
    let (run, took) = timed(&cluster, &["run", "--yes"], &[("PATH", only_kubectl.to_str().unwrap())]);
    assert_eq!(run.code, Some(3), "{}", run.stdout);
    assert!(took < Duration::from_secs(3), "{took:?}");
    assert!(run.stdout.contains("FAILED [Find the tools]"), "{}", run.stdout);
    assert!(run.stdout.contains("calicoctl") && run.stdout.contains("calico-upgrade"), "{}", run.stdout);
    assert_eq!(run.stdout.matches("FAILED [").count(), 1, "one failure names both: {}", run.stdout);
    nothing_changed(&cluster);
}
