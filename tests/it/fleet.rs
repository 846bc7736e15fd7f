//! Fleets and colleagues, on the simulated cluster: the cluster lock (another run's held lock
//! stops `run` before any change, naming its holder; an expired one is taken over; the lock is
//! held from before the first change to the last and released at every end; one taken over under a
//! running run stops its next change), two runs started at once on one cluster (exactly one changes it),
//! and two clusters downgraded at once from one HOME (nothing on the host is shared but the
//! journal folder, where each run writes its own file).

use std::time::Duration;

use crate::support::fake::{signal, wait_for_call, FakeCluster, Run};

const FAST: [&str; 4] = ["--pod-start-ms", "150", "--pod-stop-ms", "100"];

/// The lock's annotation on the DaemonSet, its value read as the JSON object it is (an
/// unreadable one as a string).
fn lock_of(cluster: &FakeCluster) -> Option<serde_json::Value> {
    let value = cluster.show()["daemonset"]["annotations"]["calico-downgrade/lock"].as_str()?.to_string();
    Some(serde_json::from_str(&value).unwrap_or(serde_json::Value::String(value)))
}

fn undos(cluster: &FakeCluster) -> usize {
    cluster.calls().iter().filter(|c| crate::support::fake::is_undo(c)).count()
}

#[test]
fn a_lock_another_run_holds_stops_run_before_any_change_naming_the_holder() {
    let cluster = FakeCluster::new(&FAST);
    cluster.control("lock", &["host=bastion-2", "user=alice", "pid=4242"]);
    let run = cluster.run(&["run", "--yes"]);
    assert_eq!(run.code, Some(3), "{}", run.stdout);
    assert!(
        run.stdout.contains(
            "FAILED [Lock the cluster]: another calico-downgrade is changing this cluster: alice@bastion-2, pid 4242, `calico-downgrade run --yes`: nothing was changed"
        ),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("safe next: nothing was changed; run again once the other run has ended"),
        "{}",
        run.stdout
    );
    assert_eq!(undos(&cluster), 0);
    assert_eq!(cluster.show()["etcd_ready"], false, "the migration was not aborted");
    // The other run's lock is left as it was.
    assert_eq!(lock_of(&cluster).unwrap()["user"], "alice");

    // `plan` says so and still plans (exit 0): it changes nothing.
    let plan = cluster.run(&["plan"]);
    assert_eq!(plan.code, Some(0), "{}", plan.stdout);
    assert!(plan.stdout.contains("ok: held by alice@bastion-2, pid 4242"), "{}", plan.stdout);
    assert!(plan.stdout.contains("`run` would stop with exit 3 until it ends"), "{}", plan.stdout);

    // JSON: the failure is the lock's, rc 3, nothing changed.
    let json = cluster.run(&["run", "--yes", "--output", "json"]);
    let document: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!((document["rc"].as_i64(), document["changed"].as_bool()), (Some(3), Some(false)));
    assert_eq!(document["failure"]["task"], "Lock the cluster");
}

#[test]
fn an_expired_lock_is_taken_over_and_the_run_goes_on() {
    let cluster = FakeCluster::new(&FAST);
    cluster.control("lock", &["renewed=now-10m", "started=now-15m", "user=bob"]);
    let run = cluster.run(&["run", "--yes"]);
    assert_eq!(run.code, Some(0), "{}", run.stdout);
    assert!(
        run.stdout.contains(
            "ok: annotation calico-downgrade/lock of ds/calico-node in kube-system taken over from bob@bastion-2"
        ),
        "{}",
        run.stdout
    );
    // 10 minutes, and the seconds the run took to get there on a busy machine.
    assert!(regex::Regex::new(r"\(last renewed 10m( \d+s)? ago\)").unwrap().is_match(&run.stdout), "{}", run.stdout);
    assert!(lock_of(&cluster).is_none(), "released at the end");
}

#[test]
fn a_lock_with_an_unreadable_time_is_not_taken_over() {
    // A holder whose times cannot be read may be alive: never assumed dead.
    let cluster = FakeCluster::new(&FAST);
    cluster.control("lock", &["renewed=yesterday-ish"]);
    let run = cluster.run(&["run", "--yes"]);
    assert_eq!(run.code, Some(3), "{}", run.stdout);
    assert!(run.stdout.contains("FAILED [Lock the cluster]"), "{}", run.stdout);
    assert_eq!(undos(&cluster), 0);
}

#[test]
fn the_lock_is_held_from_before_the_first_change_to_the_last_and_released_at_every_end() {
    // Held while the abort runs (here it hangs), with this run's host, user and command.
    let cluster = FakeCluster::new(&[&FAST[..], &["--fault", "calico-upgrade-abort=hang"]].concat());
    let mut child =
        cluster.command(&["run", "--yes"]).env("USER", "carol").stdout(std::process::Stdio::null()).spawn().unwrap();
    wait_for_call(&cluster, "\"abort\"", Duration::from_secs(20));
    let lock = lock_of(&cluster).expect("the lock is held during the abort");
    assert_eq!(lock["user"], "carol", "{lock:#}");
    assert_eq!(lock["command"], "calico-downgrade run --yes", "{lock:#}");
    assert_eq!(lock["pid"], child.id(), "{lock:#}");
    assert_eq!(lock["lease-seconds"], 30, "{lock:#}");
    // Interrupted: released on the way out.
    signal(&child, libc::SIGINT);
    assert_eq!(child.wait().unwrap().code(), Some(130));
    assert!(lock_of(&cluster).is_none(), "released after SIGINT");

    // Once the rollbacks are made nothing is left to guard: free during the wait.
    let cluster = FakeCluster::new(&["--pod-start-ms", "3000", "--pod-stop-ms", "100"]);
    let child = cluster.command(&["run", "--yes"]).stdout(std::process::Stdio::null()).spawn().unwrap();
    wait_for_call(&cluster, "--watch", Duration::from_secs(20));
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while lock_of(&cluster).is_some() {
        assert!(std::time::Instant::now() < deadline, "the lock is still held during the wait");
        std::thread::sleep(Duration::from_millis(20));
    }
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(0));

    // With --rollback-first the abort comes after the wait: held through it.
    let cluster = FakeCluster::new(&["--pod-start-ms", "1500", "--pod-stop-ms", "100"]);
    let child =
        cluster.command(&["run", "--yes", "--rollback-first"]).stdout(std::process::Stdio::null()).spawn().unwrap();
    wait_for_call(&cluster, "--watch", Duration::from_secs(20));
    std::thread::sleep(Duration::from_millis(300));
    assert!(lock_of(&cluster).is_some(), "held during the wait before the abort");
    assert_eq!(child.wait_with_output().unwrap().status.code(), Some(0));
    assert!(lock_of(&cluster).is_none());

    // A failed run releases it too.
    let cluster = FakeCluster::new(&["--fault", "kubectl-undo-daemonset=fail"]);
    assert_eq!(cluster.run(&["run", "--yes"]).code, Some(1));
    assert!(lock_of(&cluster).is_none(), "released after a failure");
}

fn run_in(cluster: &FakeCluster, home: &std::path::Path) -> std::process::Child {
    std::fs::create_dir_all(home).unwrap();
    cluster
        .command(&["run", "--yes", "--output", "json"])
        .env("HOME", home)
        .env_remove("CALICO_DOWNGRADE_JOURNAL")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

fn finish(child: std::process::Child) -> (Run, serde_json::Value) {
    let output = child.wait_with_output().unwrap();
    let run = Run {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    };
    let document = serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}: {}", run.stdout));
    (run, document)
}

#[test]
fn two_runs_started_at_once_on_one_cluster_never_both_change_it() {
    for _ in 0..3 {
        let cluster = FakeCluster::new(&FAST);
        let first = run_in(&cluster, &cluster.path().join("home-1"));
        let second = run_in(&cluster, &cluster.path().join("home-2"));
        let runs = [finish(first), finish(second)];
        let changed: Vec<&serde_json::Value> = runs.iter().map(|(_, d)| d).filter(|d| d["changed"] == true).collect();
        assert_eq!(
            changed.len(),
            1,
            "exactly one run changes the cluster: {:#?}",
            runs.iter().map(|(_, d)| &d["msg"]).collect::<Vec<_>>()
        );
        for (run, document) in &runs {
            match run.code {
                // The other one finds the lock held, or comes after and finds nothing to do.
                Some(0) => {}
                Some(3) => assert_eq!(document["failure"]["task"], "Lock the cluster", "{}", document["msg"]),
                other => panic!("exit {other:?}: {}", document["msg"]),
            }
        }
        // Each workload rolled back once (both in one command: they go to the same revision).
        assert_eq!(undos(&cluster), 1, "{:?}", cluster.calls());
        assert!(lock_of(&cluster).is_none());
    }
}

#[test]
fn two_clusters_are_downgraded_at_once_from_one_home() {
    let east = FakeCluster::new(&FAST);
    let west = FakeCluster::new(&FAST);
    let home = east.path().join("shared-home");
    let runs = [finish(run_in(&east, &home)), finish(run_in(&west, &home))];
    for (run, document) in &runs {
        assert_eq!(run.code, Some(0), "{}", document["msg"]);
        assert_eq!(document["changed"], true);
    }
    for cluster in [&east, &west] {
        assert!(cluster.show()["daemonset"]["images"].to_string().contains("v2.6.8"));
    }
    // One journal each, side by side in the shared HOME.
    let journals: Vec<String> = runs.iter().map(|(_, d)| d["journal"].as_str().unwrap().to_string()).collect();
    assert_ne!(journals[0], journals[1]);
    for journal in &journals {
        assert!(journal.starts_with(&home.join(".local/state/calico-downgrade").display().to_string()), "{journal}");
        assert!(std::path::Path::new(journal).exists());
    }
}

/// A lock that changes hands while the run holds it (another run took it over: the operator's
/// run stalled past its lease, say) is lost at the next renewal: its `test` fails, the lock read
/// back is another run's, and from then on the runner refuses every command that changes the
/// cluster. With `--rollback-first` the abort comes after the wait, the lock held through it:
/// the abort is never run, and the other run's lock is left as it is.
#[test]
fn a_lock_taken_over_under_a_running_run_stops_its_next_change() {
    let cluster = FakeCluster::new(&["--pod-start-ms", "5000", "--pod-stop-ms", "100"]);
    let child =
        cluster.command(&["run", "--yes", "--rollback-first"]).stdout(std::process::Stdio::piped()).spawn().unwrap();
    wait_for_call(&cluster, "--watch", Duration::from_secs(20));
    assert_eq!(lock_of(&cluster).unwrap()["user"], "", "this run's lock, taken before the rollbacks");
    cluster.control("lock", &["user=bob", "host=bastion-3"]);
    let output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("FAILED [Abort the upgrade]"), "{stdout}");
    assert!(
        stdout.contains("the cluster lock was lost (another run changed or removed it: now held by bob@bastion-3"),
        "{stdout}"
    );
    assert!(!cluster.calls().iter().any(|c| c["call"] == "calico-upgrade-abort"), "the abort never ran");
    assert_eq!(lock_of(&cluster).unwrap()["user"], "bob", "the other run's lock is left as it is");
}
