//! Beyond the docs, end to end on the simulated cluster: OnDelete DaemonSets, the Kubernetes
//! API datastore, canal and custom installations, the rollback-first order, pruned history.

use crate::support::fake::FakeCluster;

fn node_images(cluster: &FakeCluster) -> String {
    cluster.show()["daemonset"]["images"].to_string()
}

fn position(cluster: &FakeCluster, needle: &str) -> usize {
    cluster
        .calls()
        .iter()
        .position(|c| c["argv"].to_string().contains(needle))
        .unwrap_or_else(|| panic!("no call with {needle}"))
}

#[test]
fn an_on_delete_daemonset_is_reported_with_exit_4_and_the_pods_on_v3() {
    let cluster = FakeCluster::new(&["--strategy", "OnDelete", "--pod-start-ms", "100", "--pod-stop-ms", "50"]);
    let plan = cluster.run(&["plan"]);
    assert!(plan.stdout.contains("3 pods, OnDelete"), "{}", plan.stdout);
    assert!(plan.stdout.contains("the rollback replaces no pod"), "{}", plan.stdout);
    let run = cluster.run(&["run", "--yes"]);
    assert_eq!(run.code, Some(4), "{}\n{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("OnDelete") && run.stdout.contains("--replace-pods"), "{}", run.stdout);
    let pods = cluster.show()["pods"].to_string();
    assert!(pods.contains("calico/node:v3.0.4"), "the pods still run v3: {pods}");
    let named = run.stdout.lines().filter(|l| l.contains("calico-node-") && l.contains("v3.0.4")).count();
    assert_eq!(named, 3, "every v3 pod is named: {}", run.stdout);
}

#[test]
fn replace_pods_replaces_an_on_delete_daemonset_one_node_at_a_time() {
    let cluster = FakeCluster::new(&["--strategy", "OnDelete", "--pod-start-ms", "400", "--pod-stop-ms", "50"]);
    let run = cluster.run(&["run", "--yes", "--replace-pods", "--timeout", "60s"]);
    assert_eq!(run.code, Some(0), "{}\n{}", run.stdout, run.stderr);
    // When each calico-node pod was deleted (calls.jsonl) ...
    let mut deletes: Vec<u64> = cluster
        .calls()
        .iter()
        .filter(|c| c["call"] == "kubectl-delete-pod")
        .map(|c| c["at_ms"].as_u64().unwrap())
        .collect();
    deletes.sort();
    assert_eq!(deletes.len(), 3, "one delete per node");
    // ... and when each replacement was Running and ready (the simulated cluster's state).
    let state = cluster.state();
    let mut replacements_ready: Vec<u64> = state["pods"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["name"].as_str().unwrap().starts_with("calico-node-"))
        .filter(|p| p["created_at_ms"].as_u64().unwrap() >= deletes[0])
        .map(|p| p["running_at_ms"].as_u64().unwrap().max(p["ready_at_ms"].as_u64().expect("ready")))
        .collect();
    replacements_ready.sort();
    assert_eq!(replacements_ready.len(), 3, "three replacements: {state:#}");
    // The timeline: delete 1, replacement 1 ready, delete 2, replacement 2 ready, delete 3.
    for k in 1..deletes.len() {
        assert!(
            replacements_ready[k - 1] <= deletes[k],
            "delete {} at {} ms came before replacement {k} was Running and ready at {} ms (deletes {deletes:?}, ready {replacements_ready:?})",
            k + 1,
            deletes[k],
            replacements_ready[k - 1]
        );
    }
    assert!(cluster.show()["pods"].to_string().matches("calico/node:v2.6.8").count() >= 3);
}

#[test]
fn the_kubernetes_api_datastore_needs_no_abort_and_no_calico_upgrade() {
    let cluster = FakeCluster::new(&[
        "--datastore",
        "kubernetes",
        "--no-deployment",
        "--pod-start-ms",
        "100",
        "--pod-stop-ms",
        "50",
    ]);
    std::fs::remove_file(cluster.bin().join("calico-upgrade")).unwrap();
    let run = cluster.run(&["run", "--yes", "--timeout", "60s"]);
    assert_eq!(run.code, Some(0), "{}\n{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("Kubernetes API datastore"), "{}", run.stdout);
    assert!(
        run.stdout.contains("skipped: Kubernetes API datastore: there is no data migration to abort"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("skipped: Kubernetes API datastore: there is no deployment/calico-kube-controllers"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("kubectl delete crd felixconfigurations.crd.projectcalico.org"),
        "KDD next steps: {}",
        run.stdout
    );
    assert!(node_images(&cluster).contains("v2.6.8"));
}

#[test]
fn a_canal_install_is_pointed_at_daemonset_and_then_converges_at_3_of_3() {
    let cluster = FakeCluster::new(&["--daemonset", "canal", "--pod-start-ms", "100", "--pod-stop-ms", "50"]);
    let refused = cluster.run(&["run", "--yes"]);
    assert_eq!(refused.code, Some(3), "{}", refused.stdout);
    assert!(
        refused.stdout.contains("canal installation") && refused.stdout.contains("--daemonset canal"),
        "{}",
        refused.stdout
    );
    let run = cluster.run(&["--daemonset", "canal", "run", "--yes", "--timeout", "60s", "-v"]);
    assert_eq!(run.code, Some(0), "{}\n{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("flannel"), "three containers, in the details (-v): {}", run.stdout);
}

#[test]
fn a_custom_installation_exits_3_explaining_the_docs_do_not_cover_it() {
    let cluster = FakeCluster::new(&["--daemonset", "none"]);
    let run = cluster.run(&["run", "--yes"]);
    assert_eq!(run.code, Some(3), "{}", run.stdout);
    assert!(
        run.stdout.contains("custom installation") && run.stdout.contains("calico-downgrade abort"),
        "{}",
        run.stdout
    );
}

#[test]
fn rollback_first_aborts_only_after_the_pods_run_v2() {
    let cluster = FakeCluster::new(&["--pod-start-ms", "100", "--pod-stop-ms", "50"]);
    let run = cluster.run(&["run", "--yes", "--rollback-first", "--timeout", "60s"]);
    assert_eq!(run.code, Some(0), "{}\n{}", run.stdout, run.stderr);
    let undo = cluster.calls().iter().position(crate::support::fake::is_undo).expect("an undo ran");
    assert!(undo < position(&cluster, "\"abort\""));
    assert!(position(&cluster, "--watch") < position(&cluster, "\"abort\""));
}

#[test]
fn pruned_history_exits_3_listing_the_revisions_and_to_revision_chooses_one() {
    let pruned = FakeCluster::new(&["--pruned-history"]);
    let run = pruned.run(&["run", "--yes"]);
    assert_eq!(run.code, Some(3), "{}", run.stdout);
    assert!(run.stdout.contains("revisionHistoryLimit") && run.stdout.contains("v3.0.4"), "{}", run.stdout);
    assert!(!pruned.calls().iter().any(crate::support::fake::is_undo));

    let cluster = FakeCluster::new(&["--pod-start-ms", "100", "--pod-stop-ms", "50"]);
    let run = cluster.run(&["run", "--yes", "--to-revision", "1", "--timeout", "60s"]);
    assert_eq!(run.code, Some(0), "{}\n{}", run.stdout, run.stderr);
    assert!(cluster.calls().iter().any(|c| c["argv"].to_string().contains("--to-revision=1")));
}

#[test]
fn a_cluster_that_was_never_upgraded_gets_only_the_abort() {
    let cluster = FakeCluster::new(&["--state", "not-upgraded"]);
    let run = cluster.run(&["run", "--yes"]);
    assert_eq!(run.code, Some(0), "{}\n{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("not upgraded"), "{}", run.stdout);
    assert!(!cluster.calls().iter().any(crate::support::fake::is_undo), "no rollback");
    assert!(cluster.calls().iter().any(|c| c["argv"][1] == "abort"));
}

/// Once a v3 calico/node has written a v3 calicoVersion, `calico-upgrade inprogress` says "NOT
/// in Progress" whatever the v1 Ready flag: that is no proof the abort is done, so it still runs.
#[test]
fn the_abort_runs_when_inprogress_cannot_show_the_ready_flag() {
    let cluster = FakeCluster::new(&["--v3-cluster-information", "--pod-start-ms", "100", "--pod-stop-ms", "50"]);
    assert_eq!(cluster.show()["etcd_ready"], false);
    let run = cluster.run(&["run", "--yes", "--timeout", "60s"]);
    assert_eq!(run.code, Some(0), "{}\n{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("the flag itself was not read back"), "{}", run.stdout);
    assert_eq!(cluster.show()["etcd_ready"], true, "the abort ran and resumed v1 networking");
    // A second run cannot see the flag either: it re-applies the (idempotent) abort, says so,
    // and repeats nothing else.
    let second = cluster.run(&["run", "--yes", "--timeout", "60s"]);
    assert_eq!(second.code, Some(0), "{}\n{}", second.stdout, second.stderr);
    assert!(second.stdout.contains("changed=1"), "{}", second.stdout);
    let undos = cluster.calls().iter().filter(|c| crate::support::fake::is_undo(c)).count();
    assert_eq!(undos, 1, "the rollbacks ran once (both in one command: they go to the same revision)");
}
