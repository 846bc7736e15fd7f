//! Safe in an operator's hands, end to end on the simulated cluster: names that do not exist
//! stop the run with the closest existing ones, a user who may only read is stopped before the
//! first change, the permission checks show in the plan, and `abort` with calico/node on v3
//! refuses unless told it is meant.

use crate::support::fake::FakeCluster;

/// A call that changes the cluster (a `--dry-run=server` changes nothing).
fn is_mutating(call: &serde_json::Value) -> bool {
    let argv = call["argv"].to_string();
    // Questions, and the cluster lock (taken and released around the changes), change no Calico.
    if argv.contains("\"can-i\"") || argv.contains("calico-downgrade~1lock") {
        return false;
    }
    (argv.contains("\"undo\"") && !argv.contains("--dry-run=server"))
        || argv.contains("\"abort\"")
        || argv.contains("\"delete\"")
}

#[test]
fn a_read_only_user_is_stopped_before_the_abort_with_exit_3_and_nothing_changed() {
    let cluster = FakeCluster::new(&["--role", "view", "--user", "jane"]);
    let before = cluster.show();
    let run = cluster.run(&["run", "--yes"]);
    let context = format!("stdout:\n{}\nstderr:\n{}", run.stdout, run.stderr);
    assert_eq!(run.code, Some(3), "{context}");
    assert!(run.stdout.contains("FAILED [Check permissions]"), "{context}");
    assert!(
        run.stdout.contains("user `jane` may not patch daemonsets.apps/calico-node in kube-system"),
        "the verb, the resource and the user are named: {context}"
    );
    assert!(!cluster.calls().iter().any(is_mutating), "nothing changed, not even the abort: {context}");
    let after = cluster.show();
    assert_eq!(before["daemonset"]["images"], after["daemonset"]["images"]);
    assert_eq!(before["etcd_ready"], after["etcd_ready"], "the migration was not aborted");

    let json = cluster.run(&["run", "--yes", "--output", "json"]);
    let document: serde_json::Value = serde_json::from_str(&json.stdout).expect(&json.stdout);
    assert_eq!(document["changed"], false);
    assert_eq!(document["rc"], 3);
}

#[test]
fn plan_shows_the_permission_checks_and_the_server_dry_runs() {
    let cluster = FakeCluster::new(&[]);
    // The screen says the run is allowed; `-v` shows the evidence.
    let plan = cluster.run(&["plan"]);
    assert_eq!(plan.code, Some(0), "{}\n{}", plan.stdout, plan.stderr);
    assert!(
        plan.stdout.contains("TASK [Check permissions] ****")
            && plan.stdout.contains("ok: every change the run makes is allowed\n"),
        "{}",
        plan.stdout
    );
    assert!(!plan.stdout.contains("allowed: patch"), "{}", plan.stdout);
    let plan = cluster.run(&["plan", "-v"]);
    assert_eq!(plan.code, Some(0), "{}\n{}", plan.stdout, plan.stderr);
    assert!(plan.stdout.contains("allowed: patch daemonsets.apps/calico-node in kube-system"), "{}", plan.stdout);
    assert!(
        plan.stdout.contains(
            "the API server accepts `kubectl rollout undo ds/calico-node deployment/calico-kube-controllers -n kube-system --dry-run=server`, a server dry run of the rollback to revision 1"
        ),
        "{}",
        plan.stdout
    );
    assert!(!cluster.calls().iter().any(is_mutating));
    // The dry runs changed nothing.
    assert!(cluster.show()["daemonset"]["images"].to_string().contains("v3.0.4"));
}

#[test]
fn a_typo_in_a_name_stops_run_and_status_offering_the_closest_name() {
    let cluster = FakeCluster::new(&[]);
    let run = cluster.run(&["run", "--yes", "--deployment", "calico-kube-controler"]);
    let context = format!("stdout:\n{}\nstderr:\n{}", run.stdout, run.stderr);
    assert_eq!(run.code, Some(3), "{context}");
    assert!(run.stdout.contains("did you mean --deployment calico-kube-controllers?"), "{context}");
    assert!(!run.stdout.contains("Calico v2.6 is running"), "{context}");
    assert!(!cluster.calls().iter().any(is_mutating), "{context}");

    let status = cluster.run(&["status", "--deployment", "calico-kube-controler"]);
    assert_eq!(status.code, Some(3), "{}", status.stdout);
    assert!(!status.stdout.contains("converged:"), "{}", status.stdout);

    let run = cluster.run(&["run", "--yes", "--daemonset", "calico-nodes"]);
    assert_eq!(run.code, Some(3), "{}", run.stdout);
    assert!(run.stdout.contains("did you mean --daemonset calico-node?"), "{}", run.stdout);

    let run = cluster.run(&["run", "--yes", "-n", "kube-sytem"]);
    assert_eq!(run.code, Some(3), "{}", run.stdout);
    assert!(run.stdout.contains("there is no namespace kube-sytem; did you mean -n kube-system?"), "{}", run.stdout);
    assert!(!cluster.calls().iter().any(is_mutating));
}

#[test]
fn abort_with_calico_node_on_v3_refuses_and_points_at_run_unless_told_it_is_meant() {
    let cluster = FakeCluster::new(&[]);
    let abort = cluster.run(&["abort", "--yes"]);
    let context = format!("stdout:\n{}\nstderr:\n{}", abort.stdout, abort.stderr);
    assert_eq!(abort.code, Some(3), "{context}");
    assert!(abort.stdout.contains("FAILED [Check calico/node]"), "{context}");
    assert!(
        abort.stdout.contains("still runs Calico v3") && abort.stdout.contains("`calico-downgrade run`"),
        "{context}"
    );
    assert!(!cluster.calls().iter().any(is_mutating), "{context}");
    assert_eq!(cluster.show()["etcd_ready"], false, "the migration was not aborted");

    let meant = cluster.run(&["abort", "--yes", "--abort-while-v3"]);
    assert_eq!(meant.code, Some(0), "{}\n{}", meant.stdout, meant.stderr);
    assert!(meant.stdout.contains("aborting all the same, as --abort-while-v3 asks"), "{}", meant.stdout);
    assert_eq!(cluster.show()["etcd_ready"], true, "the abort ran");

    // The option is refused where it means nothing.
    let run = cluster.run(&["run", "--yes", "--abort-while-v3"]);
    assert_eq!(run.code, Some(2), "{}\n{}", run.stdout, run.stderr);
}

#[test]
fn abort_on_a_cluster_never_upgraded_goes_ahead() {
    let cluster = FakeCluster::new(&["--state", "not-upgraded", "--ready-flag", "false"]);
    let abort = cluster.run(&["abort", "--yes"]);
    assert_eq!(abort.code, Some(0), "{}\n{}", abort.stdout, abort.stderr);
    assert!(abort.stdout.contains("ok: ds/calico-node runs Calico v2.x"), "{}", abort.stdout);
    assert_eq!(cluster.show()["etcd_ready"], true);
}

#[test]
fn a_kubeconfig_that_is_not_utf8_reaches_every_kubectl_intact() {
    use std::os::unix::ffi::OsStrExt;
    let cluster = FakeCluster::new(&[]);
    let mut bytes = cluster.path().as_os_str().as_bytes().to_vec();
    bytes.extend_from_slice(b"/admin-\xe9t\xe9.kubeconfig");
    let kubeconfig = std::ffi::OsStr::from_bytes(&bytes);
    std::fs::copy(cluster.kubeconfig(), kubeconfig).unwrap();
    let output = cluster.command(&["plan"]).env("KUBECONFIG", kubeconfig).output().unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stdout));
    let kubectl_calls: Vec<serde_json::Value> =
        cluster.calls().into_iter().filter(|c| c["argv"][0] == "kubectl").collect();
    assert!(!kubectl_calls.is_empty());
    for call in kubectl_calls {
        let recorded = call["kubeconfig"].as_str().unwrap();
        assert!(recorded.starts_with(&cluster.path().display().to_string()), "{call}");
        assert!(recorded.ends_with("/admin-\\xe9t\\xe9.kubeconfig"), "{call}");
    }
}

#[test]
fn a_refused_undo_reports_changed_false_from_the_template_read_back() {
    // Both rollbacks run together: the Deployment's goes through while the DaemonSet's is refused.
    let cluster = FakeCluster::new(&["--fault", "kubectl-undo-daemonset=fail"]);
    let run = cluster.run(&["run", "--yes", "--rollback-first", "--output", "json"]);
    assert_eq!(run.code, Some(1), "{}\n{}", run.stdout, run.stderr);
    let document: serde_json::Value = serde_json::from_str(&run.stdout).expect(&run.stdout);
    assert_eq!(document["failed"], true);
    assert_eq!(document["may_have_changed"], serde_json::json!([]));
    let step = |name: &str| {
        document["steps"].as_array().unwrap().iter().find(|s| s["name"] == name).unwrap_or_else(|| panic!("{name}"))
    };
    assert_eq!(step("Roll back ds/calico-node")["status"], "failed");
    assert_eq!(step("Roll back deployment/calico-kube-controllers")["status"], "changed");
    // The whole run changed the cluster (the Deployment), read back from the templates.
    assert_eq!(document["changed"], true, "{document:#}");
    let details = document["failure"]["details"].to_string();
    assert!(details.contains("not changed: ds/calico-node still carries"), "{details}");
    let state = cluster.show();
    assert!(state["daemonset"]["images"].to_string().contains("v3.0.4"), "{state:#}");
    assert!(state["deployment"]["images"].to_string().contains("v1.0.3"), "{state:#}");
}
