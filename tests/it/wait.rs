//! The wait against the simulated cluster when the control plane is unstable: failed polls,
//! API server outages shorter and longer than `--timeout`, watches the API server ends, nodes
//! joining, leaving and going NotReady, signals, and the watch's own failures.

use std::time::{Duration, Instant};

use crate::support::fake::{interrupted_during_the_wait, signal, wait_for_call, FakeCluster};

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
    assert!(
        run.stdout.contains("was refused") && run.stdout.contains("retry 1 in"),
        "the retry is shown\n{}",
        run.stdout
    );
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
    // ... and stays said in the result, not only in progress lines a terminal overwrites.
    let converged = stdout.lines().skip_while(|l| !l.starts_with("ok: converged after")).nth(1).unwrap_or_default();
    assert!(converged.starts_with("    ridden out: ") && converged.contains("was refused"), "{stdout}");
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
    assert!(stdout.contains("did not converge within --timeout 4s"), "{stdout}");
    assert!(stdout.contains("was refused"), "{stdout}");
    assert!(started.elapsed() < Duration::from_secs(15), "ended near --timeout: {:?}", started.elapsed());
    assert!(calls_named(&cluster, "kubectl-get-pods") >= 2, "polled through the outage");
}

/// The pids of the processes running one of this cluster's fakes (argv[0] under its `bin/`).
fn fakes_running(cluster: &FakeCluster) -> Vec<u32> {
    let bin = cluster.bin().display().to_string();
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else { continue };
        let argv0 = cmdline.split(|b| *b == 0).next().unwrap_or_default();
        if String::from_utf8_lossy(argv0).starts_with(&bin) {
            pids.push(pid);
        }
    }
    pids
}

fn none_left(cluster: &FakeCluster) {
    let deadline = Instant::now() + Duration::from_secs(3);
    while !fakes_running(cluster).is_empty() {
        assert!(Instant::now() < deadline, "children outlived the tool: {:?}", fakes_running(cluster));
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn sighup_during_the_wait_is_an_interruption_with_the_report() {
    let cluster = FakeCluster::new(&["--pod-start-ms", "2000", "--pod-stop-ms", "100"]);
    let (code, stdout) = interrupted_during_the_wait(&cluster, libc::SIGHUP);
    assert_eq!(code, Some(130), "{stdout}");
    assert!(stdout.contains("INTERRUPTED [Wait for the pods]: interrupted by SIGHUP during"), "{stdout}");
    assert!(stdout.contains("RECAP"), "{stdout}");
    none_left(&cluster);
}

#[test]
fn a_second_signal_exits_at_once_and_no_child_is_left() {
    let cluster = FakeCluster::new(&["--fault", "calico-upgrade-abort=hang"]);
    let child = cluster.command(&["run", "--yes"]).stdout(std::process::Stdio::piped()).spawn().unwrap();
    wait_for_call(&cluster, "\"abort\"", Duration::from_secs(20));
    std::thread::sleep(Duration::from_millis(200));
    signal(&child, libc::SIGINT);
    signal(&child, libc::SIGINT);
    let started = Instant::now();
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(130));
    assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
    none_left(&cluster);
}

#[test]
fn no_child_outlives_the_tool_killed_with_sigkill() {
    let cluster = FakeCluster::new(&["--fault", "kubectl-get-objects=hang"]);
    let child = cluster.command(&["run", "--yes"]).spawn().unwrap();
    wait_for_call(&cluster, "controllerrevisions,replicasets", Duration::from_secs(20));
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(fakes_running(&cluster).len(), 1, "the hung kubectl runs");
    signal(&child, libc::SIGKILL);
    let _ = child.wait_with_output();
    none_left(&cluster);
}

#[test]
fn no_background_child_outlives_the_tool_killed_with_sigkill() {
    // The pods-at-risk listing runs beside the downgrade: hung, it must die with the tool too.
    let cluster = FakeCluster::new(&["--fault", "kubectl-get-pods-all=hang", "--pod-start-ms", "5000"]);
    let child = cluster.command(&["run", "--yes"]).spawn().unwrap();
    wait_for_call(&cluster, "--watch", Duration::from_secs(20));
    std::thread::sleep(Duration::from_millis(200));
    assert!(fakes_running(&cluster).len() >= 2, "the hung listing and the watch run");
    signal(&child, libc::SIGKILL);
    let _ = child.wait_with_output();
    none_left(&cluster);
}

fn run_with(cluster: &FakeCluster, args: &[&str], during: impl FnOnce()) -> (Option<i32>, String) {
    let child = cluster.command(args).stdout(std::process::Stdio::piped()).spawn().unwrap();
    wait_for_call(cluster, "--watch", Duration::from_secs(20));
    during();
    let output = child.wait_with_output().unwrap();
    (output.status.code(), String::from_utf8_lossy(&output.stdout).into_owned())
}

fn calico_node_pods(cluster: &FakeCluster) -> Vec<serde_json::Value> {
    cluster.show()["pods"].as_array().unwrap().iter().filter(|p| p["owner"] == "calico-node").cloned().collect()
}

#[test]
fn a_node_joining_during_the_wait_is_followed_to_the_live_desired_count() {
    let cluster = FakeCluster::new(&["--pod-start-ms", "800", "--pod-stop-ms", "100"]);
    let (code, stdout) = run_with(&cluster, &["run", "--yes", "--timeout", "60s"], || cluster.control("add-node", &[]));
    assert_eq!(code, Some(0), "{stdout}");
    assert!(stdout.contains("converged after") && stdout.contains("calico-node 4/4"), "{stdout}");
    let pods = calico_node_pods(&cluster);
    assert_eq!(pods.len(), 4, "{pods:#?}");
    assert!(pods.iter().all(|p| p["images"].to_string().contains("v2.6.8")), "{pods:#?}");
}

#[test]
fn a_node_leaving_during_the_wait_is_followed_to_the_live_desired_count() {
    let cluster = FakeCluster::new(&["--pod-start-ms", "800", "--pod-stop-ms", "100"]);
    let (code, stdout) =
        run_with(&cluster, &["run", "--yes", "--timeout", "60s"], || cluster.control("remove-node", &["node-3"]));
    assert_eq!(code, Some(0), "{stdout}");
    assert!(stdout.contains("converged after") && stdout.contains("calico-node 2/2"), "{stdout}");
}

#[test]
fn a_node_that_stays_not_ready_means_not_converged_and_the_report_names_it() {
    let cluster = FakeCluster::new(&["--pod-start-ms", "800", "--pod-stop-ms", "100"]);
    let (code, stdout) = run_with(&cluster, &["run", "--yes", "--stall-timeout", "4s"], || {
        cluster.control("node-not-ready", &["node-2"])
    });
    assert_eq!(code, Some(4), "{stdout}");
    assert!(stdout.contains("the pods made no progress for 4s (--stall-timeout)"), "{stdout}");
    assert!(stdout.contains("    last progress "), "the exit-4 report says when something last advanced\n{stdout}");
    let named = stdout
        .lines()
        .any(|l| l.contains("not ready: calico-node-") && l.contains(" on node-2 (`kubectl describe pod calico-node-"));
    assert!(named, "the exit-4 report names the pod and its node\n{stdout}");
}

const NODE_V2: &str = "quay.io/calico/node:v2.6.8";

#[test]
fn an_image_that_cannot_be_pulled_is_named_as_seen_and_in_the_exit_4_result() {
    let cluster = FakeCluster::new(&["--pod-start-ms", "600", "--pod-stop-ms", "100"]);
    cluster.control("image-fault", &["node-2", NODE_V2, "unpullable"]);
    let run = cluster.run(&["run", "--yes", "--stall-timeout", "4s"]);
    assert_eq!(run.code, Some(4), "{}\n{}", run.stdout, run.stderr);
    let named = |line: &&str| {
        line.contains("blocked: calico-node-")
            && line.contains(" on node-2: ")
            && (line.contains("ErrImagePull, image ") || line.contains("ImagePullBackOff, image "))
            && line.contains(&format!("image {NODE_V2}: "))
            && line.contains("(`kubectl describe pod calico-node-")
    };
    let (during, result) = run.stdout.split_once("failed: told in full at the end").unwrap();
    assert!(during.lines().any(|l| l.starts_with("  blocked: ") && named(&l)), "named as seen:\n{}", run.stdout);
    assert!(result.lines().any(|l| l.starts_with("    blocked: ") && named(&l)), "named at exit 4:\n{}", run.stdout);
    // Read once, not at each of its back-offs.
    let reads = cluster.calls().iter().filter(|c| c["argv"].to_string().contains("\"pod\",\"calico-node-")).count();
    assert_eq!(reads, 1, "{:#?}", cluster.calls());
    // The journal keeps what the wait read of it, not the whole pod.
    let read = cluster
        .journal_entries()
        .into_iter()
        .find(|e| e["argv"].as_array().unwrap().iter().any(|a| a == "pod"))
        .unwrap();
    assert_eq!(read["stdout_kept"]["containers"][0]["image"], NODE_V2, "{read:#}");
    assert!(read.get("stdout").is_none(), "{read:#}");
}

#[test]
fn status_names_what_blocks_the_rollout_as_the_wait_does() {
    let cluster = FakeCluster::new(&["--pod-start-ms", "600", "--pod-stop-ms", "100"]);
    cluster.control("image-fault", &["node-2", NODE_V2, "unpullable"]);
    let run = cluster.run(&["run", "--yes", "--stall-timeout", "2s"]);
    assert_eq!(run.code, Some(4), "{}\n{}", run.stdout, run.stderr);
    let status = cluster.run(&["status"]);
    assert_eq!(status.code, Some(1), "{}\n{}", status.stdout, status.stderr);
    let failure = status.stdout.split_once("FAILED [Observe the pods]").map(|(_, f)| f).unwrap_or_default();
    let named = failure.lines().any(|l| {
        l.starts_with("    blocked: calico-node-")
            && l.contains(" on node-2: ")
            && l.contains(&format!("image {NODE_V2}: "))
            && l.contains("(`kubectl describe pod calico-node-")
    });
    assert!(named, "{}", status.stdout);
}

#[test]
fn blockers_are_in_the_json_with_their_image_message_and_whether_they_still_block() {
    let cluster = FakeCluster::new(&["--pod-start-ms", "600", "--pod-stop-ms", "100"]);
    cluster.control("image-fault", &["node-3", NODE_V2, "crash"]);
    let run = cluster.run(&["run", "--yes", "--stall-timeout", "4s", "--output", "json"]);
    assert_eq!(run.code, Some(4), "{}\n{}", run.stdout, run.stderr);
    let document: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let blockers = document["state_after"]["wait"]["blockers"].as_array().unwrap();
    assert_eq!(blockers.len(), 1, "{blockers:#?}");
    let blocker = &blockers[0];
    assert_eq!(
        (&blocker["node"], &blocker["reason"], &blocker["image"], &blocker["still"]),
        (&"node-3".into(), &"CrashLoopBackOff".into(), &NODE_V2.into(), &true.into()),
        "{blocker:#?}"
    );
    assert!(blocker["restarts"].as_u64().unwrap() >= 1, "{blocker:#?}");
    assert_eq!(blocker["last_termination"], "Error, exit code 1", "{blocker:#?}");
    assert!(
        blocker["message"].as_str().unwrap().starts_with("back-off 10s restarting failed container="),
        "{blocker:#?}"
    );
    let command = format!("kubectl describe pod {} -n kube-system", blocker["pod"].as_str().unwrap());
    assert!(blocker["look_further"].as_str().unwrap().starts_with(&command), "{blocker:#?}");
}

#[test]
fn a_stalled_wait_says_stalled_since_when_instead_of_a_pace() {
    let cluster = FakeCluster::new(&["--pod-start-ms", "800", "--pod-stop-ms", "100"]);
    // The watches are started again every 2 s: each fresh list shows the view anew.
    let args = ["run", "--yes", "--stall-timeout", "8s", "--command-timeout", "2s"];
    let (code, stdout) = run_with(&cluster, &args, || cluster.control("node-not-ready", &["node-2"]));
    assert_eq!(code, Some(4), "{stdout}");
    let stalled = stdout.lines().rfind(|l| l.contains("stalled since")).unwrap_or_else(|| panic!("{stdout}"));
    assert!(stalled.contains("no progress for") && stalled.contains("calico-node 1/3"), "{stdout}");
    assert!(!stalled.contains(" left)"), "no time left is promised once stalled: {stalled}");
}

#[test]
fn watches_the_api_server_ends_are_resumed_from_fresh_lists_and_the_run_converges() {
    // kube-apiserver ends every watch after its --min-request-timeout; real kubectl then exits 0
    // without a word (tier case watch-ends). Here every watch ends after 400 ms, many times
    // during a rollout of several seconds.
    let cluster = FakeCluster::new(&["--pod-start-ms", "1500", "--pod-stop-ms", "300", "--watch-ends-ms", "400"]);
    let run = cluster.run(&["run", "--yes", "--timeout", "60s", "--poll-interval", "100ms"]);
    assert_eq!(run.code, Some(0), "{}\n{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("ok: converged after"), "{}", run.stdout);
    let watches: Vec<serde_json::Value> =
        cluster.journal_entries().into_iter().filter(|e| e["argv"].to_string().contains("\"--watch\"")).collect();
    let ended = watches.iter().filter(|e| e.get("stopped").is_none() && e["exit_code"] == 0).count();
    assert!(ended >= 3, "{ended} watches ended by the server of {}", watches.len());
    // Never taken for a failure: no retry, no fallback to looks.
    assert!(
        !run.stdout.contains("the watch failed") && !run.stdout.contains("looking at the pods instead"),
        "{}",
        run.stdout
    );
    let state = cluster.show();
    assert!(state["daemonset"]["images"].to_string().contains("v2.6.8"), "{state:#}");
}
