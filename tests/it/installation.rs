//! The rest of what the v3.0 manifests changed, and the rights operators really hold, on the
//! simulated cluster: Typha (named with its command; stopped only with `--stop-typha`, after the
//! wait, read back and reversible), `calico-config`'s CNI conflist (named, with the way out), the
//! final claim (made only when nothing is left on v3.0), and a namespace Role (the pods at risk
//! unknown, the downgrade done; the lock's rights missing: exit 3 before any change).

use crate::support::fake::FakeCluster;

const FAST: [&str; 4] = ["--pod-start-ms", "150", "--pod-stop-ms", "100"];
const CLAIM: &str = "Calico v2.6 is running: every pod Running, ready and on the pre-upgrade images";

fn cluster(extra: &[&str]) -> FakeCluster {
    FakeCluster::new(&[&FAST[..], extra].concat())
}

fn kdd_with_typha(replicas: &str, cni: &str) -> FakeCluster {
    cluster(&["--datastore", "kubernetes", "--no-deployment", "--typha", replicas, "--cni-config", cni])
}

fn typha_replicas(cluster: &FakeCluster) -> serde_json::Value {
    cluster.show()["typha"]["replicas"].clone()
}

#[test]
fn typha_is_named_in_the_plan_and_left_alone_without_the_flag() {
    let cluster = kdd_with_typha("2", "v2");
    let plan = cluster.run(&["plan"]);
    assert_eq!(plan.code, Some(0), "{}", plan.stdout);
    assert!(
        plan.stdout.contains("deployment/calico-typha: 2 replicas of Calico v3.0 Typha, which v2.6 does not use")
            && plan
                .stdout
                .contains("`kubectl scale deployment/calico-typha -n kube-system --replicas=0` (or pass --stop-typha)"),
        "{}",
        plan.stdout
    );
    assert!(plan.stdout.contains("typha_service_name in calico-config"), "{}", plan.stdout);
    let run = cluster.run(&["run", "--yes"]);
    assert_eq!(run.code, Some(0), "{}", run.stdout);
    // Never claimed: Typha still runs v3.0.
    assert!(!run.stdout.contains(CLAIM), "{}", run.stdout);
    assert!(
        run.stdout.contains("ok: calico-node runs Calico v2.6; left on v3.0: deployment/calico-typha (2 replicas)"),
        "{}",
        run.stdout
    );
    assert_eq!(typha_replicas(&cluster), 2, "untouched without --stop-typha");
    assert!(!cluster.calls().iter().any(|c| c["call"] == "kubectl-scale"));
}

#[test]
fn stop_typha_scales_it_to_0_after_the_wait_and_gives_the_way_back() {
    let cluster = kdd_with_typha("3", "v2");
    let run = cluster.run(&["run", "--yes", "--stop-typha", "--output", "json"]);
    assert_eq!(run.code, Some(0), "{}", run.stdout);
    let document: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let names: Vec<&str> = document["steps"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    let at = |name: &str| names.iter().position(|n| *n == name).unwrap_or_else(|| panic!("{name}: {names:?}"));
    assert!(at("Wait for the pods") < at("Stop Typha"), "after convergence: {names:?}");
    let step = &document["steps"][at("Stop Typha")];
    assert_eq!(step["status"], "changed");
    assert!(step["details"].to_string().contains("read back"), "{step:#}");
    assert_eq!(typha_replicas(&cluster), 0);
    // Nothing left on v3.0: the claim is made, and the way back puts Typha back as it was.
    assert_eq!(document["msg"], CLAIM, "{}", document["msg"]);
    let way_back = document["state_before"]["way_back"]["commands"].to_string();
    assert!(way_back.contains("kubectl scale deployment/calico-typha -n kube-system --replicas=3"), "{way_back}");
    // The scale was tried on the server first (a dry run in the permission check).
    let scales: Vec<String> =
        cluster.calls().iter().filter(|c| c["argv"][1] == "scale").map(|c| c["argv"].to_string()).collect();
    assert_eq!(scales.len(), 2, "{scales:?}");
    assert!(scales[0].contains("--dry-run=server") && !scales[1].contains("--dry-run"), "{scales:?}");
}

#[test]
fn stop_typha_in_check_mode_changes_nothing_and_says_what_it_would_run() {
    let cluster = kdd_with_typha("2", "v2");
    let run = cluster.run(&["run", "--check", "--stop-typha"]);
    assert_eq!(run.code, Some(0), "{}", run.stdout);
    assert!(
        run.stdout.contains("would run: kubectl scale deployment/calico-typha -n kube-system --replicas=0"),
        "{}",
        run.stdout
    );
    assert_eq!(typha_replicas(&cluster), 2);
}

#[test]
fn a_typha_already_at_0_is_not_left_on_v3_and_needs_no_flag() {
    // The v3.0 KDD manifest ships Typha with 0 replicas: nothing runs, nothing is left.
    let cluster = kdd_with_typha("0", "v2");
    let run = cluster.run(&["run", "--yes"]);
    assert_eq!(run.code, Some(0), "{}", run.stdout);
    assert!(run.stdout.contains(CLAIM), "{}", run.stdout);
}

#[test]
fn a_v3_conflist_in_calico_config_is_named_with_the_way_out_and_blocks_the_claim() {
    let cluster = cluster(&[]);
    let plan = cluster.run(&["plan", "-v"]);
    assert_eq!(plan.code, Some(0), "{}", plan.stdout);
    assert!(
        plan.stdout.contains(
            "configmap/calico-config holds Calico v3.0's CNI conflist, which v2.6 would install as 10-calico.conf"
        ),
        "{}",
        plan.stdout
    );
    assert!(plan.stdout.contains("re-apply it from your v2.6 manifest before the rollback"), "{}", plan.stdout);
    // `-v`: the evidence, without claiming which file the kubelet reads.
    assert!(plan.stdout.contains("cniVersion 0.3.0, plugins calico, portmap"), "{}", plan.stdout);
    assert!(plan.stdout.contains("which of the two the kubelet reads depends on its version"), "{}", plan.stdout);
    let run = cluster.run(&["run", "--yes"]);
    assert_eq!(run.code, Some(0), "{}", run.stdout);
    assert!(!run.stdout.contains(CLAIM), "{}", run.stdout);
    assert!(run.stdout.contains("left on v3.0: calico-config's CNI conflist"), "{}", run.stdout);
    assert!(
        run.stdout.contains("left: re-apply calico-config from your v2.6 manifest, restart calico-node's pods, remove 10-calico.conflist on each node"),
        "{}",
        run.stdout
    );
    // The tool never writes calico-config: the operator's manifest is the source.
    assert!(!cluster.calls().iter().any(|c| c["argv"].to_string().contains("calico-config") && c["argv"][1] != "get"));
}

#[test]
fn a_v2_calico_config_lets_the_claim_be_made() {
    let cluster = cluster(&["--cni-config", "v2"]);
    let run = cluster.run(&["run", "--yes"]);
    assert_eq!(run.code, Some(0), "{}", run.stdout);
    assert!(run.stdout.contains(CLAIM), "{}", run.stdout);
    assert!(!run.stdout.contains("conflist"), "{}", run.stdout);
}

#[test]
fn a_namespace_role_downgrades_with_the_pods_at_risk_unknown() {
    let cluster = cluster(&["--role", "namespace", "--user", "mina"]);
    let run = cluster.run(&["run", "--yes", "--output", "json"]);
    assert_eq!(run.code, Some(0), "{}", run.stdout);
    let document: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(document["pods_at_risk"], serde_json::Value::Null, "unknown, not empty");
    let step = document["steps"].as_array().unwrap().iter().find(|s| s["name"] == "Pods at risk").unwrap();
    assert_eq!(step["status"], "skipped", "{step:#}");
    let said = step.to_string();
    assert!(said.contains("unknown:") && said.contains("cannot list resource \\\"pods\\\""), "{said}");
    assert!(said.contains("an admin can list them: `kubectl get pods --all-namespaces"), "{said}");
    assert!(cluster.show()["daemonset"]["images"].to_string().contains("v2.6.8"));
}

/// Exactly the documented commands' rights (no right on ConfigMaps at all): the downgrade runs
/// to its end, `calico-config` and the pods at risk unknown; the lock needs no right of its own.
#[test]
fn the_documented_commands_rights_alone_downgrade() {
    let cluster = cluster(&["--role", "namespace-no-configmaps", "--user", "mina"]);
    let run = cluster.run(&["run", "--yes"]);
    assert_eq!(run.code, Some(0), "{}", run.stdout);
    assert!(run.stdout.contains("ok: every change the run makes is allowed"), "{}", run.stdout);
    assert!(
        run.stdout.contains("ok: annotation calico-downgrade/lock of ds/calico-node in kube-system is this run's"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("configmap/calico-config: not read ("), "{}", run.stdout);
    assert!(cluster.show()["daemonset"]["images"].to_string().contains("v2.6.8"));
    assert!(cluster.show()["daemonset"]["annotations"].as_object().unwrap().is_empty(), "the lock is released");
}

#[test]
fn a_calico_config_that_could_not_be_read_is_never_claimed_to_be_on_v2_6() {
    let cluster = cluster(&["--cni-config", "v2", "--fault", "kubectl-get-configmap=fail"]);
    let run = cluster.run(&["run", "--yes"]);
    assert_eq!(run.code, Some(0), "what only informs never stops the downgrade: {}", run.stdout);
    assert!(!run.stdout.contains(CLAIM), "{}", run.stdout);
    assert!(
        run.stdout.contains("ok: calico-node and calico-kube-controllers run Calico v2.6; not checked: calico-config's CNI configuration ("),
        "{}",
        run.stdout
    );
}
