//! The wait against the simulated cluster when the control plane is unstable: failed polls,
//! API server outages shorter and longer than `--timeout`, nodes joining, leaving and going
//! NotReady, signals, and the watch's own failures.

use std::time::{Duration, Instant};

use crate::support::fake::FakeCluster;

fn wait_for_call(cluster: &FakeCluster, needle: &str, within: Duration) {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if cluster.calls().iter().any(|c| c["argv"].to_string().contains(needle)) {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("no call containing {needle} within {within:?}");
}

fn calls_named(cluster: &FakeCluster, call: &str) -> usize {
    cluster.calls().iter().filter(|c| c["call"] == call).count()
}

#[test]
fn one_failed_poll_is_retried_and_the_run_ends_with_exit_0() {
    let cluster = FakeCluster::new(&[
        "--pod-start-ms",
        "100",
        "--pod-stop-ms",
        "50",
        "--fault",
        "kubectl-get-pods=unreachable*1",
    ]);
    let run = cluster.run(&["run", "--yes", "--no-watch", "--poll-interval", "100ms", "--timeout", "30s"]);
    assert_eq!(run.code, Some(0), "{}\n{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("was refused") && run.stdout.contains("retry 1"), "the retry is shown\n{}", run.stdout);
    let refused: Vec<_> = cluster
        .journal_entries()
        .into_iter()
        .filter(|e| e["stderr"].as_str().unwrap_or_default().contains("was refused"))
        .collect();
    assert_eq!(refused.len(), 1, "the failed attempt is in the journal");
    assert!(cluster.show()["daemonset"]["images"].to_string().contains("v2.6.8"));
}

#[test]
fn an_api_server_outage_during_the_wait_is_ridden_out() {
    let cluster = FakeCluster::new(&["--pod-start-ms", "1500", "--pod-stop-ms", "100"]);
    let child =
        cluster.command(&["run", "--yes", "--timeout", "60s"]).stdout(std::process::Stdio::piped()).spawn().unwrap();
    wait_for_call(&cluster, "--watch", Duration::from_secs(20));
    cluster.control("outage", &["2000"]);
    let output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("was refused"), "the outage is shown\n{stdout}");
    let state = cluster.show();
    assert!(state["daemonset"]["images"].to_string().contains("v2.6.8"), "{state:#}");
}

#[test]
fn an_outage_longer_than_the_timeout_ends_with_exit_4_and_what_was_last_seen() {
    let cluster = FakeCluster::new(&["--pod-start-ms", "1500", "--pod-stop-ms", "100"]);
    let started = Instant::now();
    let child = cluster
        .command(&["run", "--yes", "--timeout", "4s", "--command-timeout", "30s"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_call(&cluster, "--watch", Duration::from_secs(20));
    cluster.control("outage", &["60000"]);
    let output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(4), "{stdout}");
    assert!(stdout.contains("did not converge within 4s"), "{stdout}");
    assert!(stdout.contains("was refused"), "{stdout}");
    assert!(started.elapsed() < Duration::from_secs(15), "ended near --timeout: {:?}", started.elapsed());
    assert!(calls_named(&cluster, "kubectl-get-pods") >= 2, "polled through the outage");
}
