//! The Ansible module end to end against the simulated cluster: Ansible's `diff`
//! (`_ansible_diff`), in check mode too, and the documented return values (the sidecar's
//! `RETURN`) checked against real results.
// Tests spawn the binary under test; the crate's own code may not (clippy.toml).
#![allow(clippy::disallowed_methods)]

use std::collections::BTreeSet;

use calico_downgrade::ansible::documentation::return_keys;
use serde_json::Value;

use crate::support::fake::FakeCluster;

const FAST: &[&str] = &["--pod-start-ms", "100", "--pod-stop-ms", "50", "--nodes", "1"];

/// Run the module with these arguments; its exit code and its result.
fn module(cluster: &FakeCluster, arguments: &str) -> (Option<i32>, Value) {
    let file = cluster.path().join("args.json");
    std::fs::write(&file, arguments).unwrap();
    let output = cluster.command(&[file.to_str().unwrap()]).output().unwrap();
    let result = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("one JSON document ({e}): {}", String::from_utf8_lossy(&output.stdout)));
    (output.status.code(), result)
}

fn keys(value: &Value) -> BTreeSet<String> {
    value.as_object().map(|object| object.keys().cloned().collect()).unwrap_or_default()
}

/// Each entry of a `diff` as its headers and texts, to read in the snapshot.
fn readable(diff: &Value) -> String {
    let text =
        |entry: &Value, key: &str| entry[key].as_str().unwrap_or_else(|| panic!("`{key}` in {entry}")).to_string();
    let entries = diff.as_array().expect("`diff` is a list");
    let shown = entries.iter().map(|entry| {
        let before = format!("--- {}\n{}", text(entry, "before_header"), text(entry, "before"));
        format!("{before}+++ {}\n{}", text(entry, "after_header"), text(entry, "after"))
    });
    shown.collect::<Vec<_>>().join("\n")
}

#[test]
fn the_diff_shows_each_workload_the_rollback_changes_in_check_mode_as_in_the_run() {
    let cluster = FakeCluster::new(FAST);
    let (code, planned) = module(&cluster, r#"{"action":"run","_ansible_check_mode":true,"_ansible_diff":true}"#);
    assert_eq!(code, Some(0), "{planned}");
    assert_eq!((planned["check_mode"].as_bool(), planned["changed"].as_bool()), (Some(true), Some(true)));
    let diff = &planned["diff"];
    insta::assert_snapshot!(readable(diff));

    let (_, without) = module(&cluster, r#"{"action":"run","_ansible_check_mode":true}"#);
    assert!(without.get("diff").is_none(), "no `diff` unless Ansible asks: {without}");

    let (code, done) = module(&cluster, r#"{"action":"run","timeout":"60s","_ansible_diff":"yes"}"#);
    assert_eq!(code, Some(0), "{done}");
    assert_eq!(&done["diff"], diff, "the run changes what check mode said it would");

    // Nothing left to roll back, and status rolls nothing back: an empty diff.
    let (code, again) = module(&cluster, r#"{"action":"run","timeout":"60s","_ansible_diff":true}"#);
    assert_eq!((code, again["changed"].as_bool()), (Some(0), Some(false)), "{again}");
    assert_eq!(again["diff"], serde_json::json!([]));
    let (_, status) = module(&cluster, r#"{"action":"status","_ansible_diff":true}"#);
    assert_eq!(status["diff"], serde_json::json!([]), "{status}");
}

#[test]
fn every_key_of_a_result_is_documented_in_return_and_every_documented_key_is_returned() {
    let cluster = FakeCluster::new(FAST);
    let (code, result) = module(&cluster, r#"{"action":"run","timeout":"60s","_ansible_diff":true}"#);
    assert_eq!(code, Some(0), "{result}");
    let documented: BTreeSet<String> = return_keys().iter().map(|(key, _)| key.to_string()).collect();
    assert_eq!(keys(&result), documented, "the result's keys (left) and RETURN's (right)");
    for (key, contains) in return_keys().into_iter().filter(|(_, contains)| !contains.is_empty()) {
        let value = &result[key];
        let object = value.as_array().and_then(|entries| entries.first()).unwrap_or(value);
        let contains: BTreeSet<String> = contains.iter().map(|k| k.to_string()).collect();
        assert_eq!(keys(object), contains, "`{key}`: the result's keys (left) and RETURN's `contains` (right)");
    }
    // Arguments refused before anything ran: a smaller result, every key of it documented.
    let (code, refused) = module(&cluster, r#"{"action":"run","timeout":"banana"}"#);
    assert_eq!(code, Some(2), "{refused}");
    assert!(keys(&refused).is_subset(&documented), "{refused}");
}
