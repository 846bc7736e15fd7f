//! Before the first change, end to end: which cluster (in the report, the JSON, the journal's
//! header and the prompt), the plan shown before the question on a terminal, the journal that
//! must be writable, private and headed, and the lock that keeps two runs apart.
// Tests spawn the binary under test; the crate's own code may not (clippy.toml).
#![allow(clippy::disallowed_methods)]

use std::os::unix::fs::PermissionsExt;

use crate::support::fake::FakeCluster;

const FAST: &[&str] = &["--pod-start-ms", "100", "--pod-stop-ms", "50"];

fn mutating_calls(cluster: &FakeCluster) -> usize {
    cluster
        .calls()
        .iter()
        .filter(|c| {
            let argv = c["argv"].to_string();
            // A server-side dry run (the permission check) stores nothing.
            (argv.contains("\"undo\"") || argv.contains("\"abort\"") || argv.contains("\"delete\""))
                && !argv.contains("--dry-run=server")
        })
        .count()
}

#[test]
fn the_journal_is_private_and_its_header_names_the_cluster() {
    let cluster = FakeCluster::new(FAST);
    let run = cluster.run(&["run", "--yes", "--timeout", "60s"]);
    assert_eq!(run.code, Some(0), "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains(
            "ok: context kubernetes-admin@fake-cluster at https://127.0.0.1:6443 as kubernetes-admin, kubeconfig "
        ),
        "{}",
        run.stdout
    );
    let mode = std::fs::metadata(cluster.journal()).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let lines = cluster.journal_lines();
    let header = &lines[0]["header"];
    assert_eq!(header["context"], "kubernetes-admin@fake-cluster");
    assert_eq!(header["server"], "https://127.0.0.1:6443");
    assert_eq!(header["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(
        header["command_line"].as_array().unwrap()[1..],
        serde_json::json!(["run", "--yes", "--timeout", "60s"]).as_array().unwrap()[..]
    );
    // The one read-only call that named the cluster is the first entry.
    assert_eq!(
        lines[1]["argv"].as_array().unwrap()[1..4],
        serde_json::json!(["config", "view", "--minify"]).as_array().unwrap()[..]
    );
}

#[test]
fn run_abort_and_the_module_refuse_before_any_change_when_the_journal_cannot_be_written() {
    let cluster = FakeCluster::new(FAST);
    let blocker = cluster.path().join("not-a-directory");
    std::fs::write(&blocker, "").unwrap();
    let unwritable = blocker.join("journal.jsonl");
    for args in [&["run", "--yes"][..], &["abort", "--yes"]] {
        let output = cluster.command(args).env("CALICO_DOWNGRADE_JOURNAL", &unwritable).output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(3), "{args:?}: {stderr}");
        assert!(stderr.contains("failed to create the journal directory") && stderr.contains("--journal"), "{stderr}");
    }
    let module_args = cluster.path().join("args.json");
    std::fs::write(&module_args, format!(r#"{{"action":"run","journal":"{}"}}"#, unwritable.display())).unwrap();
    let output = cluster.command(&[module_args.to_str().unwrap()]).output().unwrap();
    assert_eq!(output.status.code(), Some(3));
    let document: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert!(document["msg"].as_str().unwrap().contains("nothing was changed"), "{document}");
    assert_eq!(mutating_calls(&cluster), 0, "nothing was changed");
    // A read-only command goes on without a journal, saying so.
    let plan = cluster.command(&["plan"]).env("CALICO_DOWNGRADE_JOURNAL", &unwritable).output().unwrap();
    assert_eq!(plan.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&plan.stderr).contains("continuing without a journal"));
}

#[test]
fn a_wait_by_looks_journals_each_repeated_look_as_what_changed() {
    use calico_downgrade::exec::journal::{apply, Edit};
    // Slow pods: many looks (--no-watch, every 50 ms) see the same table again.
    let cluster = FakeCluster::new(&["--pod-start-ms", "1500", "--pod-stop-ms", "100"]);
    let run = cluster.run(&["run", "--yes", "--no-watch", "--poll-interval", "50ms", "--timeout", "60s"]);
    assert_eq!(run.code, Some(0), "{}\n{}", run.stdout, run.stderr);
    let mut last: std::collections::HashMap<String, String> = std::collections::HashMap::new();
    let (mut looks, mut deltas, mut written, mut whole) = (0, 0, 0, 0);
    let mut final_table = String::new();
    for entry in cluster.journal_entries() {
        let argv = entry["argv"].to_string();
        let stdout = match entry.get("stdout_delta") {
            Some(edits) => {
                let edits: Vec<Edit> = serde_json::from_value(edits.clone()).unwrap();
                let base = last.get(&argv).expect("a delta follows an earlier stdout of the same argv");
                deltas += 1;
                apply(base, &edits).expect("the edits fit their base")
            }
            // A pods page keeps its size and the fields the listing read, not its text.
            None if entry.get("stdout_kept").is_some() => continue,
            None => entry["stdout"].as_str().expect("stdout, stdout_delta or stdout_kept").to_string(),
        };
        if argv.contains("\"pods\"") && !argv.contains("--raw") {
            looks += 1;
            written += entry.to_string().len();
            whole += stdout.len();
            final_table = stdout.clone();
        }
        last.insert(argv, stdout);
    }
    assert!(looks >= 10 && deltas >= looks / 2, "{looks} looks, {deltas} deltas");
    // The last look, put back together, is the converged table kubectl printed.
    assert!(final_table.contains("v2.6.8") && !final_table.contains("v3.0"), "{final_table}");
    assert!(written < whole, "the looks took {written} bytes in the journal for {whole} bytes of tables");
}
