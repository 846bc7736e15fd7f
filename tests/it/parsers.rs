//! Parser snapshots over every file in `fixtures/`: one `insta::glob!` per parser, one snapshot
//! per fixture, of the typed result (`Ok` or the `Unrecognised` error). Then property tests:
//! no parser panics, on arbitrary text or on real fixtures with random byte-level mutations.
//! Then the tidy checks: every fixture is listed in `fixtures/README.md` (with its provenance),
//! and every module in `src/` and `tests/` starts with a `//!` comment.
//!
//! A case is `<tool>/<subcommand>/<case>.stdout`, with `<case>.stderr` (absent: empty) and
//! `<case>.status` (the exit code; absent: 0) beside it.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use calico_downgrade::exec::Output;
use calico_downgrade::tools::kubectl::{self, PodWatch, WorkloadKind};
use calico_downgrade::tools::{calico_crds, calico_upgrade, calicoctl, table};
use proptest::prelude::*;

/// `fixtures/`, as `insta::glob!` wants it: relative to this file's directory.
const FIXTURES: &str = "../../fixtures";

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// The case of a `.stdout` file: its stdout, stderr and exit code, as the runner returns them.
fn output(stdout_path: &Path) -> Output {
    let stdout_text = stdout_path.to_str().expect("fixture paths are UTF-8");
    let stem = stdout_text.strip_suffix(".stdout").expect("a glob over `*.stdout`");
    let sibling = |extension: &str| fs::read_to_string(format!("{stem}.{extension}")).ok();
    let code = match sibling("status") {
        Some(status) => status.trim().parse().unwrap_or_else(|_| panic!("`{stem}.status` holds `{status}`")),
        None => 0,
    };
    Output {
        code: Some(code),
        signal: None,
        stdout: fs::read_to_string(stdout_path).expect("read the fixture"),
        stderr: sibling("stderr").unwrap_or_default(),
        duration: Duration::ZERO,
        stopped: false,
    }
}

/// The rows of `fixtures/README.md`'s table: fixture path (relative to `fixtures/`) to the
/// command that printed it.
fn readme_commands() -> &'static BTreeMap<String, String> {
    static COMMANDS: OnceLock<BTreeMap<String, String>> = OnceLock::new();
    COMMANDS.get_or_init(|| {
        let readme = fs::read_to_string(fixtures_dir().join("README.md")).expect("fixtures/README.md");
        readme
            .lines()
            .filter_map(|line| {
                let cells: Vec<&str> = line.strip_prefix("| `")?.split(" | ").collect();
                let path = cells.first()?.strip_suffix('`')?;
                let command = cells.get(3)?.trim_end_matches(" |").trim().trim_matches('`');
                Some((path.to_string(), command.replace("\\|", "|")))
            })
            .collect()
    })
}

fn relative(path: &Path) -> String {
    path.strip_prefix(fixtures_dir()).expect("a fixture").to_string_lossy().into_owned()
}

// ---------------------------------------------------------------------------------------------
// kubectl
// ---------------------------------------------------------------------------------------------

#[test]
fn kubectl_client_version_is_read_from_every_version_layout() {
    insta::glob!(FIXTURES, "kubectl/version-client/*.stdout", |path| {
        insta::assert_debug_snapshot!(kubectl::parse_client_version(&output(path).stdout));
    });
}

#[test]
fn kubectl_config_view_names_the_context_server_and_user_or_says_why_not() {
    insta::glob!(FIXTURES, "kubectl/config-view/*.stdout", |path| {
        insta::assert_debug_snapshot!(kubectl::parse_config_view(&output(path)));
    });
}

#[test]
fn kubectl_config_get_contexts_lists_the_contexts_of_the_kubeconfig() {
    insta::glob!(FIXTURES, "kubectl/config-get-contexts/*.stdout", |path| {
        insta::assert_debug_snapshot!(kubectl::parse_context_names(&output(path).stdout));
    });
}

/// Every failure kubectl printed, as the tool classifies it: a cluster that cannot be reached
/// with this configuration at all (no retry helps), a failure a retry can fix, or neither.
#[test]
fn kubectl_failures_are_told_apart_unreachable_transient_or_neither() {
    insta::glob!(FIXTURES, "kubectl/*/*.stderr", |path| {
        let stderr = fs::read_to_string(path).unwrap();
        insta::assert_debug_snapshot!((
            kubectl::unreachable(&stderr).map(|kind| kind.meaning()),
            kubectl::transient_failure(&stderr),
            kubectl::stderr_lines(&stderr),
        ));
    });
}

/// `calico-config` as `kubectl get --raw` prints a ConfigMap (or that it is missing).
#[test]
fn kubectl_configmaps_are_read() {
    insta::glob!(FIXTURES, "kubectl/get-configmap/*.stdout", |path| {
        insta::assert_debug_snapshot!(kubectl::parse_config_map(&output(path)));
    });
}

/// The namespace's Jobs (`kubectl get --raw …/jobs`), for a reconciler's migration Job: the
/// list when it was read, kubectl's words when it was refused (a Role without `list jobs`).
#[test]
fn kubectl_jobs_are_read_or_refused_in_kubectls_words() {
    insta::glob!(FIXTURES, "kubectl/get-jobs/*.stdout", |path| {
        let output = output(path);
        if output.success() {
            insta::assert_debug_snapshot!(kubectl::parse_jobs(&output));
        } else {
            insta::assert_debug_snapshot!((output.status_text(), kubectl::failure_message(&output.stderr)));
        }
    });
}

/// The cluster lock's patches (`kubectl patch ds/NAME --type=json … -o name`): patched, or a
/// failed `test` (the lock is not as the run last saw it), or another refusal.
#[test]
fn kubectl_lock_patches_say_patched_or_that_their_test_failed() {
    insta::glob!(FIXTURES, "kubectl/patch-lock/*.stdout", |path| {
        let output = output(path);
        insta::assert_debug_snapshot!((
            output.success().then(|| kubectl::parse_lock_patched("calico-node", &output)),
            kubectl::is_test_failed(&output.stderr),
            kubectl::failure_message(&output.stderr),
        ));
    });
}

/// `kubectl scale deployment/NAME`, the name read from the fixture's command in the README.
#[test]
fn kubectl_scale_is_read_in_every_known_shape() {
    insta::glob!(FIXTURES, "kubectl/scale/*.stdout", |path| {
        let key = relative(path);
        let command = readme_commands().get(&key).unwrap_or_else(|| panic!("`{key}` has no row in fixtures/README.md"));
        let name = command
            .split_whitespace()
            .find_map(|w| w.strip_prefix("deployment/"))
            .unwrap_or_else(|| panic!("no deployment/NAME in `{command}`"));
        insta::assert_debug_snapshot!(kubectl::parse_scale(name, &output(path)));
    });
}

/// `rollout undo ds/NAME` or `deployment/NAME`, read from the fixture's command in the README.
fn undo_target(path: &Path) -> (WorkloadKind, String) {
    let key = relative(path);
    let command = readme_commands().get(&key).unwrap_or_else(|| panic!("`{key}` has no row in fixtures/README.md"));
    let target = command
        .split_whitespace()
        .find_map(|word| word.strip_prefix("ds/").map(|n| (WorkloadKind::DaemonSet, n)))
        .or_else(|| {
            command
                .split_whitespace()
                .find_map(|word| word.strip_prefix("deployment/").map(|n| (WorkloadKind::Deployment, n)))
        })
        .unwrap_or_else(|| panic!("no `ds/NAME` or `deployment/NAME` in `{command}`"));
    (target.0, target.1.to_string())
}

#[test]
fn kubectl_rollout_undo_is_read_in_every_known_shape() {
    insta::glob!(FIXTURES, "kubectl/rollout-undo/*.stdout", |path| {
        let (kind, name) = undo_target(path);
        insta::assert_debug_snapshot!(kubectl::parse_undo(kind, &name, &output(path)));
    });
}

#[test]
fn kubectl_auth_can_i_is_read_with_its_exit_code() {
    insta::glob!(FIXTURES, "kubectl/auth-can-i/*.stdout", |path| {
        insta::assert_debug_snapshot!(kubectl::parse_can_i(&output(path)));
    });
}

#[test]
fn kubectl_namespaces_table_is_read() {
    insta::glob!(FIXTURES, "kubectl/get-namespaces/*.stdout", |path| {
        insta::assert_debug_snapshot!(kubectl::parse_names(&output(path)));
    });
}

/// The pod of `kubectl delete pod NAME ...`, read from the fixture's command in the README.
fn deleted_pod(path: &Path) -> String {
    let key = relative(path);
    let command = readme_commands().get(&key).unwrap_or_else(|| panic!("`{key}` has no row in fixtures/README.md"));
    let words: Vec<&str> = command.split_whitespace().collect();
    let at =
        words.windows(2).position(|w| w == ["delete", "pod"]).unwrap_or_else(|| panic!("`{command}` deletes no pod"));
    words[at + 2].to_string()
}

#[test]
fn kubectl_delete_pod_is_read_in_every_known_shape() {
    insta::glob!(FIXTURES, "kubectl/delete-pod/*.stdout", |path| {
        insta::assert_debug_snapshot!(kubectl::parse_delete(&deleted_pod(path), &output(path)));
    });
}

/// Everything inspection reads, from one query: each workload's row and environment, each
/// revision's row and the pod-spec fields its template sets (the whole template is what the
/// plan compares; the snapshot keeps what can be reviewed).
#[test]
fn kubectl_objects_of_the_namespace_are_read_from_one_json_list() {
    insta::glob!(FIXTURES, "kubectl/get-objects/*.stdout", |path| {
        let read = kubectl::parse_objects(&output(path)).map(|objects| {
            let revisions = |list: &[kubectl::RevisionObject]| -> Vec<_> {
                list.iter()
                    .map(|r| {
                        let fields: Vec<String> = r
                            .template
                            .get("spec")
                            .and_then(|s| s.as_object())
                            .map(|s| s.keys().cloned().collect())
                            .unwrap_or_default();
                        (r.row.clone(), fields)
                    })
                    .collect()
            };
            (
                objects.daemonsets.clone(),
                objects.deployments.clone(),
                revisions(&objects.controller_revisions),
                revisions(&objects.replica_sets),
            )
        });
        insta::assert_debug_snapshot!(read);
    });
}

/// The fields the rollback changes, between the newest and the oldest revision of each
/// workload in the real captures (live and pre-upgrade, in the upgraded state).
#[test]
fn template_changes_between_the_captured_revisions() {
    insta::glob!(FIXTURES, "kubectl/get-objects/*.stdout", |path| {
        let Ok(objects) = kubectl::parse_objects(&output(path)) else { return };
        let changes: Vec<_> = [&objects.controller_revisions, &objects.replica_sets]
            .into_iter()
            .filter(|list| list.len() >= 2)
            .map(|list| {
                let mut list: Vec<_> = list.iter().collect();
                list.sort_by_key(|r| r.row.revision);
                let (oldest, newest) = (list[0], list[list.len() - 1]);
                (
                    newest.row.name.clone(),
                    calico_downgrade::cluster::template_changes(&newest.template, &oldest.template),
                )
            })
            .collect();
        insta::assert_debug_snapshot!(changes);
    });
}

/// Each line of a `--output-watch-events` stream of the pods, as the wait reads it.
#[test]
fn kubectl_pod_watch_events_are_read_row_by_row() {
    insta::glob!(FIXTURES, "kubectl/watch-pod-events/*.stdout", |path| {
        let mut watch = kubectl::WatchEvents::pods();
        let rows: Vec<_> = output(path).stdout.lines().map(|line| watch.feed(line)).collect();
        insta::assert_debug_snapshot!(rows);
    });
}

/// Each line of a `--output-watch-events` stream of one workload's rollout status.
#[test]
fn kubectl_workload_watch_events_are_read_row_by_row() {
    insta::glob!(FIXTURES, "kubectl/watch-workload/*.stdout", |path| {
        let mut watch = kubectl::WatchEvents::workload();
        let rows: Vec<_> = output(path)
            .stdout
            .lines()
            .map(|line| watch.feed(line).map(|row| row.map(|(event, s)| (event, s.incomplete(), s))))
            .collect();
        insta::assert_debug_snapshot!(rows);
    });
}

#[test]
fn kubectl_daemonsets_table_is_read_by_columns() {
    insta::glob!(FIXTURES, "kubectl/get-daemonsets/*.stdout", |path| {
        insta::assert_debug_snapshot!(kubectl::parse_workloads("`kubectl get daemonsets` table", &output(path)));
    });
}

#[test]
fn kubectl_raw_pods_pages_tell_host_network_pods_apart_and_name_the_next_page() {
    insta::glob!(FIXTURES, "kubectl/get-raw-pods/*.stdout", |path| {
        // A page holds up to 500 pods: what it holds is summed up, and its first pods shown.
        let summary = kubectl::parse_pods_page(&output(path), |_| true).map(|page| {
            let host_network = page.kept.iter().filter(|p| p.host_network).count();
            let first: Vec<_> = page.kept.iter().take(3).cloned().collect();
            (page.count, page.next.map(|token| token.len()), host_network, first)
        });
        insta::assert_debug_snapshot!(summary);
    });
}

/// `kubectl get --raw /apis/crd.projectcalico.org/v1/PLURAL`: a list (judged: what v2.6 will
/// not read of it), a CRD that is not installed, or a user who may not list it.
#[test]
fn kubectl_raw_calico_lists_are_judged_or_tell_a_missing_crd_from_a_refusal() {
    insta::glob!(FIXTURES, "kubectl/get-raw-calico/*.stdout", |path| {
        let command = readme_commands().get(&relative(path)).expect("a README row for the fixture");
        let plural = command
            .split(' ')
            .find_map(|word| word.strip_prefix("/apis/crd.projectcalico.org/v1/"))
            .expect("the command names the list it read");
        let kind = calico_downgrade::calico_kdd::kind(plural).expect("a kind the tool lists");
        let output = output(path);
        let read = if output.success() {
            Ok(calico_crds::parse_calico_list(plural, &output)
                .map(|objects| (objects.len(), calico_downgrade::calico_kdd::judge(kind, &objects))))
        } else {
            Err(calico_crds::list_failure(&output.stderr))
        };
        insta::assert_debug_snapshot!((plural, read));
    });
}

#[test]
fn kubectl_pods_table_is_read_mid_rollout_and_when_empty() {
    insta::glob!(FIXTURES, "kubectl/get-pods-status/*.stdout", |path| {
        insta::assert_debug_snapshot!(kubectl::parse_pods(&output(path)));
    });
}

/// `kubectl get pod NAME -o json`: a pod that blocks the rollout, read whole once for its image,
/// the kubelet's message and its last termination; then named as the wait names it.
#[test]
fn kubectl_pod_read_whole_names_what_blocks_it() {
    insta::glob!(FIXTURES, "kubectl/get-pod/*.stdout", |path| {
        let detail = kubectl::parse_pod(&output(path));
        let named = detail.as_ref().ok().map(|detail| {
            let container = detail.containers.iter().find(|c| c.waiting_reason.is_some());
            let row = kubectl::PodStatus {
                name: detail.name.clone(),
                phase: None,
                ready: Some(false),
                images: detail.containers.iter().map(|c| c.image.clone()).collect(),
                owner: None,
                deleting: false,
                node: detail.node.clone(),
                deletion: None,
                waiting: container.and_then(|c| c.waiting_reason.clone()).into_iter().collect(),
                restarts: 0,
                scheduling: None,
                containers_ready: Some(false),
            };
            let cause = calico_downgrade::blockers::cause(&row, std::time::SystemTime::UNIX_EPOCH);
            cause.map(|cause| {
                calico_downgrade::blockers::Blocker::new(&row, &cause, Ok(detail), "kubectl describe pod …".into())
                    .words()
            })
        });
        insta::assert_debug_snapshot!((detail, named));
    });
}

#[test]
fn kubectl_workload_rollout_status_is_read_with_omitted_counters_as_zero() {
    insta::glob!(FIXTURES, "kubectl/get-workload-status/*.stdout", |path| {
        let statuses = kubectl::parse_workload_status(&output(path));
        let verdicts: Vec<_> = statuses.iter().flatten().map(|s| (s.name.clone(), s.incomplete())).collect();
        insta::assert_debug_snapshot!((statuses, verdicts));
    });
}

#[test]
fn kubectl_pods_table_is_empty_only_when_kubectl_found_nothing() {
    insta::glob!(FIXTURES, "kubectl/get-empty/*.stdout", |path| {
        insta::assert_debug_snapshot!(kubectl::parse_pods(&output(path)));
    });
}

#[test]
fn kubectl_nothing_found_notice_is_recognised_in_every_wording() {
    insta::glob!(FIXTURES, "kubectl/get-empty/*.stdout", |path| {
        insta::assert_debug_snapshot!(kubectl::is_nothing_found(&output(path).stderr));
    });
}

#[test]
fn kubectl_pod_watch_reads_rows_however_they_are_padded() {
    insta::glob!(FIXTURES, "kubectl/get-pods-watch/*.stdout", |path| {
        let mut watch = PodWatch::default();
        let events: Vec<_> = output(path).stdout.lines().map(|line| watch.feed(line)).collect();
        insta::assert_debug_snapshot!(events);
    });
}

#[test]
fn kubectl_default_tables_are_split_at_cell_boundaries() {
    insta::glob!(FIXTURES, "kubectl/get-pods/*.stdout", |path| {
        insta::assert_debug_snapshot!(table::parse("`kubectl get pods` table", &output(path).stdout));
    });
}

#[test]
fn kubectl_rollout_history_tables_are_split_at_cell_boundaries() {
    insta::glob!(FIXTURES, "kubectl/rollout-history/*.stdout", |path| {
        // The first line names the object (`daemonset.apps/calico-node `); the table follows.
        let stdout = output(path).stdout;
        let history = stdout.split_once('\n').map_or("", |(_, rest)| rest);
        insta::assert_debug_snapshot!(table::parse("`kubectl rollout history` table", history));
    });
}

// ---------------------------------------------------------------------------------------------
// calicoctl and calico-upgrade
// ---------------------------------------------------------------------------------------------

#[test]
fn calicoctl_version_is_read_from_every_layout_whatever_the_exit_code() {
    insta::glob!(FIXTURES, "calicoctl/version/*.stdout", |path| {
        insta::assert_debug_snapshot!(calicoctl::parse_version(&output(path)));
    });
}

#[test]
fn calico_upgrade_version_is_read() {
    insta::glob!(FIXTURES, "calico-upgrade/version/*.stdout", |path| {
        insta::assert_debug_snapshot!(calico_upgrade::parse_version(&output(path).stdout));
    });
}

#[test]
fn calico_upgrade_abort_is_judged_on_its_text_as_well_as_its_exit_code() {
    insta::glob!(FIXTURES, "calico-upgrade/abort/*.stdout", |path| {
        insta::assert_debug_snapshot!(calico_upgrade::parse_abort(&output(path)));
    });
}

#[test]
fn calico_upgrade_inprogress_is_read_from_text_and_exit_code() {
    insta::glob!(FIXTURES, "calico-upgrade/inprogress/*.stdout", |path| {
        insta::assert_debug_snapshot!(calico_upgrade::parse_inprogress(&output(path)));
    });
}

// ---------------------------------------------------------------------------------------------
// Property tests: no parser panics
// ---------------------------------------------------------------------------------------------

/// Run every parser on one output; only a panic can fail.
fn run_every_parser(output: &Output, name: &str) {
    let _ = kubectl::parse_client_version(&output.stdout);
    let _ = kubectl::parse_workloads("workloads", output);
    let _ = kubectl::parse_pods_page(output, |_| true);
    let _ = kubectl::parse_pods(output);
    let _ = kubectl::is_nothing_found(&output.stderr);
    let _ = kubectl::parse_can_i(output);
    let _ = kubectl::parse_names(output);
    let _ = kubectl::parse_config_user(&output.stdout);
    for kind in [WorkloadKind::DaemonSet, WorkloadKind::Deployment] {
        let _ = kubectl::parse_undo(kind, name, output);
        let _ = kubectl::parse_undo(kind, "calico-node", output);
        let _ = kubectl::parse_delete(name, output);
    }
    let mut watch = PodWatch::default();
    let mut pod_events = kubectl::WatchEvents::pods();
    let mut workload_events = kubectl::WatchEvents::workload();
    for line in output.stdout.lines() {
        let _ = watch.feed(line);
        let _ = pod_events.feed(line);
        let _ = workload_events.feed(line);
    }
    let _ = kubectl::parse_objects(output);
    let _ = kubectl::parse_workload_status(output);
    let _ = table::parse("table", &output.stdout);
    let _ = calicoctl::parse_version(output);
    let _ = calico_upgrade::parse_version(&output.stdout);
    let _ = calico_upgrade::parse_abort(output);
    let _ = calico_upgrade::parse_inprogress(output);
}

/// Every fixture case, loaded once: (stdout, stderr, exit code).
fn all_cases() -> &'static [(String, String, i32)] {
    static CASES: OnceLock<Vec<(String, String, i32)>> = OnceLock::new();
    CASES.get_or_init(|| {
        let mut cases = Vec::new();
        for path in files_under(&fixtures_dir()) {
            if path.extension().is_some_and(|e| e == "stdout") {
                let output = output(&path);
                cases.push((output.stdout, output.stderr, output.code.unwrap_or(0)));
            }
        }
        assert!(cases.len() > 100, "the fixtures were not found");
        cases
    })
}

#[derive(Debug, Clone)]
enum Mutation {
    Insert(usize, Vec<u8>),
    Delete(usize, usize),
    Replace(usize, u8),
    Truncate(usize),
    DuplicateLine(usize),
    DeleteLine(usize),
}

/// Bytes that mean something to one parser or another.
const INTERESTING: &[u8] = b" \n\t\r:,()[]{}<>\"'/.-*0123456789vV";

fn mutation() -> impl Strategy<Value = Mutation> {
    let byte = prop_oneof![3 => proptest::sample::select(INTERESTING), 1 => any::<u8>()];
    prop_oneof![
        (any::<usize>(), proptest::collection::vec(byte.clone(), 1..4)).prop_map(|(at, b)| Mutation::Insert(at, b)),
        (any::<usize>(), 1usize..8).prop_map(|(at, n)| Mutation::Delete(at, n)),
        (any::<usize>(), byte).prop_map(|(at, b)| Mutation::Replace(at, b)),
        any::<usize>().prop_map(Mutation::Truncate),
        any::<usize>().prop_map(Mutation::DuplicateLine),
        any::<usize>().prop_map(Mutation::DeleteLine),
    ]
}

fn mutate(text: &str, mutations: &[Mutation]) -> String {
    let mut bytes = text.as_bytes().to_vec();
    for mutation in mutations {
        let len = bytes.len();
        match mutation {
            Mutation::Insert(at, inserted) => {
                let at = at % (len + 1);
                bytes.splice(at..at, inserted.iter().copied());
            }
            Mutation::Delete(at, n) if len > 0 => {
                let at = at % len;
                bytes.drain(at..(at + n).min(len));
            }
            Mutation::Replace(at, byte) if len > 0 => bytes[at % len] = *byte,
            Mutation::Truncate(at) => bytes.truncate(at % (len + 1)),
            Mutation::DuplicateLine(index) | Mutation::DeleteLine(index) => {
                let mut lines: Vec<Vec<u8>> = bytes.split(|b| *b == b'\n').map(<[u8]>::to_vec).collect();
                let index = index % lines.len();
                if matches!(mutation, Mutation::DuplicateLine(_)) {
                    lines.insert(index, lines[index].clone());
                } else {
                    lines.remove(index);
                }
                bytes = lines.join(&b'\n');
            }
            _ => {}
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

fn code() -> impl Strategy<Value = Option<i32>> {
    prop_oneof![Just(Some(0)), Just(Some(1)), Just(Some(2)), Just(Some(124)), Just(None), any::<i32>().prop_map(Some)]
}

fn case_output(stdout: String, stderr: String, code: Option<i32>) -> Output {
    Output { code, signal: code.is_none().then_some(9), stdout, stderr, duration: Duration::ZERO, stopped: false }
}

/// 256 cases each in the test suite; `scripts/fuzz` runs a million or more through
/// `CALICO_DOWNGRADE_FUZZ_CASES`.
#[allow(clippy::disallowed_methods)] // a test knob, not the tool's environment
fn fuzz_cases() -> u32 {
    std::env::var("CALICO_DOWNGRADE_FUZZ_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(256)
}

proptest! {
    #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::with_cases(fuzz_cases()) })]

    #[test]
    fn no_parser_panics_on_arbitrary_text(stdout in any::<String>(), stderr in any::<String>(), code in code(), name in any::<String>()) {
        run_every_parser(&case_output(stdout, stderr, code), &name);
    }

    #[test]
    fn no_parser_panics_on_table_like_text(
        stdout in "([ -~]{0,12}( {1,4}| \\(|\\)|<none>|,|\n|\t)){0,40}",
        stderr in "(No resources found|error: |Error from server|[ -~]{0,20}|\n){0,4}",
        code in code(),
    ) {
        run_every_parser(&case_output(stdout, stderr, code), "calico-node");
    }

    #[test]
    fn no_parser_panics_on_mutated_fixtures(
        index in any::<usize>(),
        stdout_mutations in proptest::collection::vec(mutation(), 0..6),
        stderr_mutations in proptest::collection::vec(mutation(), 0..3),
        keep_code in any::<bool>(),
        other_code in code(),
    ) {
        let cases = all_cases();
        let (stdout, stderr, fixture_code) = &cases[index % cases.len()];
        let code = if keep_code { Some(*fixture_code) } else { other_code };
        let output = case_output(mutate(stdout, &stdout_mutations), mutate(stderr, &stderr_mutations), code);
        run_every_parser(&output, "calico-kube-controllers");
    }
}

// ---------------------------------------------------------------------------------------------
// Tidy
// ---------------------------------------------------------------------------------------------

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in fs::read_dir(&dir).unwrap_or_else(|e| panic!("read `{}`: {e}", dir.display())) {
            let path = entry.expect("directory entry").path();
            if path.is_dir() {
                pending.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

#[test]
fn every_fixture_is_listed_with_its_provenance_in_the_fixtures_readme() {
    let listed = readme_commands();
    let unlisted: Vec<String> = files_under(&fixtures_dir())
        .iter()
        .map(|path| relative(path))
        .filter(|path| path != "README.md" && !listed.contains_key(path))
        .collect();
    assert!(unlisted.is_empty(), "fixtures missing from fixtures/README.md: {unlisted:#?}");
    let missing: Vec<&String> = listed.keys().filter(|path| !fixtures_dir().join(path).is_file()).collect();
    assert!(missing.is_empty(), "fixtures/README.md lists files that do not exist: {missing:#?}");
}

#[test]
fn every_module_starts_with_a_doc_comment() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let undocumented: Vec<String> = ["src", "tests"]
        .iter()
        .flat_map(|dir| files_under(&root.join(dir)))
        .filter(|path| path.extension().is_some_and(|e| e == "rs"))
        .filter(|path| !fs::read_to_string(path).expect("read a module").starts_with("//!"))
        .map(|path| path.strip_prefix(root).expect("under the crate").display().to_string())
        .collect();
    assert!(undocumented.is_empty(), "modules without a `//!` comment at the top: {undocumented:#?}");
}

/// Real stderr of an unreachable API server is a failure a retry can fix; a missing object,
/// a missing kubeconfig or a refusal by RBAC is not.
#[test]
fn transient_kubectl_failures_are_told_from_permanent_ones() {
    use calico_downgrade::tools::kubectl::transient_failure;
    let dir = fixtures_dir().join("kubectl/get-empty");
    for version in ["1.20", "1.27", "1.33"] {
        let stderr = std::fs::read_to_string(dir.join(format!("unreachable-{version}.stderr"))).unwrap();
        let cause = transient_failure(&stderr).unwrap_or_else(|| panic!("{version}: {stderr}"));
        assert!(cause.starts_with("The connection to the server 127.0.0.1:6999 was refused"), "{cause}");
    }
    let missing = std::fs::read_to_string(dir.join("missing-kubeconfig-flag-1.33.stderr")).unwrap();
    assert_eq!(transient_failure(&missing), None, "{missing}");
    for permanent in [
        "Error from server (Forbidden): pods is forbidden: User \"ops\" cannot list resource \"pods\"",
        "Error from server (NotFound): daemonsets.apps \"calico-node\" not found",
        "error: You must be logged in to the server (Unauthorized)",
        "error: unknown flag: --output-watch-events",
        "Error from server (Forbidden): etcdserver: request timed out",
    ] {
        assert_eq!(transient_failure(permanent), None, "{permanent}");
    }
    for transient in [
        "Unable to connect to the server: net/http: TLS handshake timeout",
        "Unable to connect to the server: dial tcp 10.0.0.1:6443: i/o timeout",
        "Error from server: etcdserver: leader changed",
        "Error from server: etcdserver: request timed out",
        "Error from server (ServiceUnavailable): the server is currently unable to handle the request (get pods)",
        "Error from server (InternalError): an error on the server (\"\") has prevented the request from succeeding",
        "Error from server (TooManyRequests): the server has received too many requests and has asked us to try again later",
        "The connection to the server 10.0.0.1:6443 was refused - did you specify the right host or port?",
        "Get \"https://10.0.0.1:6443/api/v1/namespaces/kube-system/pods\": EOF",
        "read tcp 10.0.0.2:51234->10.0.0.1:6443: read: connection reset by peer",
    ] {
        assert!(transient_failure(transient).is_some(), "{transient}");
    }
}

/// A refused connection never reached the API server (real stderr of kubectl 1.20, 1.27 and
/// 1.33 against a closed port), so a command that changes the cluster may run again; a reset, an
/// EOF, a 5xx or an etcd leader change may come after the server had the request: read back
/// first.
#[test]
fn a_request_that_never_reached_the_server_is_told_from_one_whose_answer_was_lost() {
    use calico_downgrade::tools::kubectl::{never_sent, transient_failure};
    let dir = fixtures_dir().join("kubectl/get-empty");
    for version in ["1.20", "1.27", "1.33"] {
        let stderr = std::fs::read_to_string(dir.join(format!("unreachable-{version}.stderr"))).unwrap();
        assert!(never_sent(&stderr), "{version}: {stderr}");
    }
    for sent in [
        "Error from server: etcdserver: leader changed",
        "Error from server (ServiceUnavailable): the server is currently unable to handle the request (get pods)",
        "Error from server (InternalError): an error on the server (\"\") has prevented the request from succeeding",
        "Get \"https://10.0.0.1:6443/api/v1/namespaces/kube-system/pods\": EOF",
        "read tcp 10.0.0.2:51234->10.0.0.1:6443: read: connection reset by peer",
        "Error from server (Timeout): the server was unable to return a response in the time allotted",
    ] {
        assert!(!never_sent(sent), "{sent}");
    }
    for unsent in [
        "Unable to connect to the server: net/http: TLS handshake timeout",
        "Unable to connect to the server: dial tcp 10.0.0.1:6443: i/o timeout",
        "Unable to connect to the server: dial tcp 10.0.0.1:6443: connect: no route to host",
    ] {
        assert!(never_sent(unsent) && transient_failure(unsent).is_some(), "{unsent}");
    }
}
