//! The module's documentation for `ansible-doc`: the sidecar file `calico_downgrade.yml` that
//! ansible-core (2.14+) reads beside a module written in another language than Python, with
//! the keys `DOCUMENTATION` (a mapping), `EXAMPLES` (text) and `RETURN` (a mapping).
//!
//! Generated, never written by hand: the options, their types, defaults, choices and help
//! come from the clap definitions ([`crate::options`], [`crate::cli`]) through the same
//! [`super::usable`] that turns module arguments into a command line, so the documentation
//! lists exactly the arguments the module accepts; which actions do without an option comes
//! from [`crate::cli::unused`]; `rc` from the exit-code table. The committed file is compared
//! with [`sidecar`] by a test (`UPDATE_ANSIBLE_DOC=1 cargo test --all-features --lib
//! ansible::documentation` writes it), and the return values are checked against a real
//! result by `tests/it/ansible.rs`.
//!
//! The YAML is written here (a few lines, [`Yaml`]) rather than by a serializer crate: the
//! file is small and of a fixed shape, every string that is not a plain word is written as a
//! JSON string (valid YAML, escaped by serde_json, which the crate already has), and the
//! maintained YAML serializers would add a dependency to a static binary for one file.

use std::any::TypeId;
use std::collections::BTreeMap;
use std::time::Duration;

use super::ACTIONS;

/// Where the sidecar lives in the repository (the collection's source, `ansible/`).
pub const SIDECAR_PATH: &str = "ansible/plugins/modules/calico_downgrade.yml";

/// The collection that ships the module (`ansible/galaxy.yml`) and the module's full name.
pub const COLLECTION: &str = "calico_downgrade.fleet";
pub const MODULE: &str = "calico_downgrade.fleet.calico_downgrade";

/// The version of the collection that first shipped the module.
const VERSION_ADDED: &str = "0.1.0";

const EXAMPLES: &str = r#"- name: See what the downgrade would do (changes nothing)
  calico_downgrade.fleet.calico_downgrade:
    action: plan
    kubeconfig: /etc/kubernetes/admin.conf
  register: plan

- name: Downgrade Calico to v2.6 (abort the migration, roll back, wait, verify)
  calico_downgrade.fleet.calico_downgrade:
    action: run
    kubeconfig: /etc/kubernetes/admin.conf
    context: prod-eu-1
    stall_timeout: 20m
  register: downgrade

- name: The pods created while Calico v3 ran (recreate them once the downgrade is done)
  ansible.builtin.debug:
    msg: "{{ downgrade.pods_at_risk | map(attribute='name') | list }}"

- name: Roll back and wait before aborting the data migration
  calico_downgrade.fleet.calico_downgrade:
    action: run
    rollback_first: true

- name: A canal installation whose DaemonSet updates OnDelete
  calico_downgrade.fleet.calico_downgrade:
    action: run
    daemonset: canal
    replace_pods: true

- name: Follow the Calico pods until they converge (fails if nothing advances for 5 minutes, or after an hour)
  calico_downgrade.fleet.calico_downgrade:
    action: status
    watch: true
    stall_timeout: 5m
    timeout: 1h

# A fleet, each inventory host a cluster, a canary then waves: the collection's playbook
#   ansible-playbook -i clusters.yml calico_downgrade.fleet.downgrade --check --diff
"#;

/// A top-level key of the JSON document: its type, when it is there, what it says, and (for
/// some) the keys of its objects.
struct ReturnValue {
    key: &'static str,
    kind: &'static str,
    elements: Option<&'static str>,
    returned: &'static str,
    description: &'static str,
    contains: &'static [(&'static str, &'static str, &'static str)],
}

const ALWAYS: &str = "always";
const RAN: &str = "when the action ran (not when the arguments were refused)";

/// The return values, in the order of the document. `tests/it/ansible.rs` checks them against
/// a real result: every key of the document is here and every key here is in the document.
const RETURN_VALUES: &[ReturnValue] = &[
    ReturnValue {
        key: "changed",
        kind: "bool",
        elements: None,
        returned: ALWAYS,
        description: "Whether the cluster changed, from what was observed (a command that said so and the state read back); in check mode whether it would. Always false for V(plan) and V(status).",
        contains: &[],
    },
    ReturnValue {
        key: "may_have_changed",
        kind: "list",
        elements: Some("str"),
        returned: RAN,
        description: "Changes that could neither be confirmed nor ruled out (a mutating command failed or was interrupted and the state could not be read back), each saying what to check.",
        contains: &[],
    },
    ReturnValue {
        key: "would_change",
        kind: "bool",
        elements: None,
        returned: RAN,
        description: "In check mode and for V(plan): whether carrying the downgrade out would change the cluster; null otherwise.",
        contains: &[],
    },
    ReturnValue {
        key: "failed",
        kind: "bool",
        elements: None,
        returned: ALWAYS,
        description: "Whether the action failed (C(rc) is not 0).",
        contains: &[],
    },
    ReturnValue {
        key: "rc",
        kind: "int",
        elements: None,
        returned: ALWAYS,
        description: "",
        contains: &[],
    },
    ReturnValue {
        key: "msg",
        kind: "str",
        elements: None,
        returned: ALWAYS,
        description: "One sentence: what was done, or why not.",
        contains: &[],
    },
    ReturnValue {
        key: "command",
        kind: "str",
        elements: None,
        returned: RAN,
        description: "The action that ran (V(plan), V(run), V(abort) or V(status)).",
        contains: &[],
    },
    ReturnValue {
        key: "check_mode",
        kind: "bool",
        elements: None,
        returned: RAN,
        description: "Whether nothing was to be changed (check mode, V(plan), V(status)).",
        contains: &[],
    },
    ReturnValue {
        key: "recap",
        kind: "dict",
        elements: None,
        returned: RAN,
        description: "How many of the tool's own tasks ended each way.",
        contains: &[
            ("ok", "int", "Tasks that found nothing to change."),
            ("changed", "int", "Tasks that changed the cluster (or would, in check mode)."),
            ("failed", "int", "Tasks that failed (at most one: the run stops there)."),
            ("skipped", "int", "Tasks with nothing to do."),
        ],
    },
    ReturnValue {
        key: "steps",
        kind: "list",
        elements: Some("dict"),
        returned: ALWAYS,
        description: "The tool's tasks in order: C(name), C(status), C(message), C(summary) (the lines the screen shows under it; absent when none), C(details), C(commands) (each with C(command), C(argv), C(effect), C(exit_code), C(signal), C(duration_ms), C(error), C(planned)). Empty when the arguments were refused.",
        contains: &[],
    },
    ReturnValue {
        key: "not_run",
        kind: "list",
        elements: Some("str"),
        returned: RAN,
        description: "The tasks not attempted after a failure.",
        contains: &[],
    },
    ReturnValue {
        key: "failure",
        kind: "dict",
        elements: None,
        returned: RAN,
        description: "The failure, told once in full: C(task), C(message), C(details), C(safe_next) (what is safe to do now); null when nothing failed.",
        contains: &[],
    },
    ReturnValue {
        key: "failures",
        kind: "list",
        elements: Some("dict"),
        returned: RAN,
        description: "Every task that failed, each shaped like C(failure): more than one when checks made together failed together (a missing tool and a kubeconfig that names no cluster, say). Empty when nothing failed.",
        contains: &[],
    },
    ReturnValue {
        key: "tools",
        kind: "dict",
        elements: None,
        returned: RAN,
        description: "The tools found and their versions as they printed them: C(kubectl), C(calicoctl), C(calico_upgrade) (C(path), C(version)) and C(calicoctls) (every calicoctl found).",
        contains: &[],
    },
    ReturnValue {
        key: "cluster",
        kind: "dict",
        elements: None,
        returned: RAN,
        description: "Which cluster and datastore the run acted on: C(kube) (C(context), C(cluster), C(server), C(user)) or C(kube_error); C(calico_upgrade) (where calico-upgrade reads each datastore). Never a secret.",
        contains: &[],
    },
    ReturnValue {
        key: "state_before",
        kind: "dict",
        elements: None,
        returned: "when the cluster was inspected",
        description: "The cluster as inspected: C(state) (V(upgraded), V(not-upgraded), V(already-downgraded)), C(datastore), the workloads and their rollback plans, C(migration), C(template_changes) (per workload the rollback changes: C(workload), C(from_revision), C(to_revision), C(changes), the containers C(before) and C(after)), C(way_back) (the revisions live before the run and the commands that put them back), C(others) (the namespace's other Calico workloads, Typha say, that the rollback does not touch: C(kind), C(name), C(desired), C(images), C(release), C(typha)) and C(calico_config) (the CNI configuration in C(calico-config) that the rollback does not change: C(name), C(cni_key), C(cni), C(typha_service_name), C(unread)).",
        contains: &[],
    },
    ReturnValue {
        key: "state_after",
        kind: "dict",
        elements: None,
        returned: RAN,
        description: "The end state: C(converged) (null when the pods were not observed), C(workloads) (ready of desired, pods on other images than the target, pods not ready), C(wait) (null when there was no wait: C(stall_timeout_secs), C(timeout_secs), C(elapsed_secs), C(last_progress) (C(at_secs) into the wait and C(what)), C(gave_up) (V(stalled), V(limit) or null), C(pace) (per workload: C(name), C(became_ready), C(per_minute), C(left_pods), C(left_secs)), C(blockers) (what blocked the rollout, each named once as seen: C(pod), C(node), C(reason) (a container's waiting reason such as V(ImagePullBackOff) or V(CrashLoopBackOff), V(Unschedulable), V(Terminating), V(NodeNotReady)), C(image), C(message), C(restarts), C(last_termination), C(look_further), C(still))), C(migration).",
        contains: &[],
    },
    ReturnValue {
        key: "pods",
        kind: "list",
        elements: Some("dict"),
        returned: RAN,
        description: "The last observation of the Calico namespace's pods; null when the pods were not looked at.",
        contains: &[],
    },
    ReturnValue {
        key: "pods_at_risk",
        kind: "list",
        elements: Some("dict"),
        returned: RAN,
        description: "The pods at risk: in all namespaces, not on the host network, scheduled to a node and not finished (neither Succeeded nor Failed), created after the first Calico v3 revision of the DaemonSet; the Calico docs warn that they may lose networking, so recreate them once the downgrade is done. Null when they could not be listed.",
        contains: &[
            ("namespace", "str", "The pod's namespace."),
            ("name", "str", "The pod's name."),
            ("created", "str", "When it was created (RFC 3339)."),
            ("host_network", "bool", "Whether it uses the host's network."),
            ("node", "str", "Its node (the pods at risk are all scheduled)."),
            ("phase", "str", "Its phase (C(Pending), C(Running), C(Unknown)), null when the API server gave none."),
        ],
    },
    ReturnValue {
        key: "not_read_by_v2_6",
        kind: "dict",
        elements: None,
        returned: RAN,
        description: "What Calico v2.6 will not read or enforce of what v3.0 wrote. Kubernetes API datastore: per kind of C(crd.projectcalico.org) (C(resource), C(plural), C(namespaced), C(v3_only)), its C(status) (C(listed) with C(count), C(no-crd), or C(not-checked) with C(why)) and C(objects) (C(namespace), C(name), C(meaning)); etcd: C(v3_data), what the v3 data is and how to list it. Null when not looked at (Calico v3.0 never ran, or the run ended before).",
        contains: &[
            ("datastore", "str", "C(kubernetes) or C(etcd)."),
            ("kinds", "list", "Each kind as it was listed, the kinds only v3.0 reads first."),
            ("admin_command", "str", "The command an admin can run to list the kinds this user could not; null when every kind was checked."),
            ("v3_data", "str", "etcd: the v3 data v2.6 never reads, and how to list it with calicoctl v3 before deleting it."),
        ],
    },
    ReturnValue {
        key: "reconcilers",
        kind: "dict",
        elements: None,
        returned: RAN,
        description: "Null before the inspection; then who else manages calico-node and calico-kube-controllers and may put Calico v3.0 back: C(found) (each with C(kind): V(addon-manager), V(argo-cd), V(flux), V(kops) or V(helm); C(continuous): it re-applies on its own, which stops V(run) and V(plan) with rc 3 unless C(despite_reconciler); C(objects), C(evidence) (the label, annotation, field manager or Job), C(name) (the application, Kustomization or release), C(first) (what to do before the rollback)); C(jobs_not_checked) (C(reason), C(command) an admin can run) when the namespace's Jobs could not be read, else null; C(overridden).",
        contains: &[],
    },
    ReturnValue {
        key: "journal",
        kind: "str",
        elements: None,
        returned: RAN,
        description: "The journal of the run on the host that ran the module: every command, its output and exit code.",
        contains: &[],
    },
    ReturnValue {
        key: "diff",
        kind: "list",
        elements: Some("dict"),
        returned: "with C(--diff) (C(_ansible_diff)), when the action ran",
        description: "Ansible's diff: one entry per workload the rollback changes (or would, in check mode and V(plan)), its containers' images and environment at the live revision and at the target. Empty when nothing is rolled back.",
        contains: &[
            ("before_header", "str", "The workload and its live revision, e.g. V(ds/calico-node (revision 2, live))."),
            ("after_header", "str", "The workload and the revision it is rolled back to, e.g. V(ds/calico-node (revision 1, target))."),
            ("before", "str", "Each container's name, image and environment at the live revision."),
            ("after", "str", "The same at the target revision."),
        ],
    },
];

/// The documented top-level keys of the result, and for those documented with `contains`,
/// the keys of their objects (of a list's entries).
pub fn return_keys() -> Vec<(&'static str, Vec<&'static str>)> {
    RETURN_VALUES.iter().map(|value| (value.key, value.contains.iter().map(|(key, _, _)| *key).collect())).collect()
}

/// The sidecar file: what `ansible-doc` shows for the module.
pub fn sidecar() -> String {
    let document = Yaml::Map(vec![
        ("DOCUMENTATION".into(), documentation()),
        ("EXAMPLES".into(), Yaml::Block(EXAMPLES.into())),
        ("RETURN".into(), returns()),
    ]);
    format!(
        "# The documentation of the module calico_downgrade for ansible-doc (a sidecar file, ansible-core 2.14+).\n\
         # Generated from the options model by src/ansible/documentation.rs: do not edit; regenerate with\n\
         #   UPDATE_ANSIBLE_DOC=1 cargo test --all-features --lib ansible::documentation\n{}",
        document.render()
    )
}

fn text(text: impl Into<String>) -> Yaml {
    Yaml::Text(text.into())
}

fn map(entries: Vec<(&str, Yaml)>) -> Yaml {
    Yaml::Map(entries.into_iter().map(|(key, value)| (key.to_string(), value)).collect())
}

fn list<T: Into<String>>(items: impl IntoIterator<Item = T>) -> Yaml {
    Yaml::List(items.into_iter().map(|item| Yaml::Text(item.into())).collect())
}

fn documentation() -> Yaml {
    let command = crate::cli::command();
    let about = command.get_about().map(|a| a.to_string()).unwrap_or_default();
    let mut options: Vec<(String, Yaml)> = vec![("action".into(), action(&command))];
    options.extend(module_options(&command).into_iter().map(|(id, (arg, actions))| (id, option(arg, &actions))));
    map(vec![
        ("module", text("calico_downgrade")),
        ("short_description", text("Downgrade Calico v3.0 to v2.6 on a Kubernetes cluster")),
        ("version_added", text(VERSION_ADDED)),
        ("description", list([
            sentence(&about),
            "It runs the operator's own C(kubectl), C(calico-upgrade) and C(calicoctl) where the module runs and reads what they print. For a fleet, each inventory host is a cluster, reached with C(connection: local) and O(kubeconfig) and O(context) as host variables (the collection's playbook C(calico_downgrade.fleet.downgrade)).".to_string(),
            "A binary module: the C(calico-downgrade) command-line tool itself. O(action) is one of its commands, each option one of its options (C(--to-revision) is O(to_revision)). Values are read as Ansible sends them: booleans also as V(yes)/V(no), numbers and durations also as strings.".to_string(),
            "Each option may also be set in the environment of the module as C(CALICO_DOWNGRADE_<OPTION>), for example C(CALICO_DOWNGRADE_TIMEOUT); a module argument wins.".to_string(),
            "The result is the tool's JSON report (see RETURN). An unknown option, or one the action does not take, is a failed result that names it.".to_string(),
        ])),
        ("options", Yaml::Map(options)),
        ("attributes", map(vec![
            ("check_mode", map(vec![
                ("support", text("full")),
                ("description", text("O(action=run) and O(action=abort) plan in check mode and change nothing (a mutating command is refused, never run); V(plan) and V(status) never change anything.")),
            ])),
            ("diff_mode", map(vec![
                ("support", text("full")),
                ("description", text("The result carries C(diff): each workload the rollback changes, its containers' images and environment at the live revision and at the target; in check mode too.")),
            ])),
            ("platform", map(vec![
                ("support", text("full")),
                ("platforms", text("posix")),
            ])),
        ])),
        ("requirements", list([
            "C(kubectl), C(calicoctl) of Calico v2.6 (v1.x) and, for the etcd datastore, C(calico-upgrade), where the module runs (found on C(PATH), or O(kubectl), O(calicoctl), O(calico_upgrade))",
        ])),
        ("notes", list([
            "A second run is a no-op: each rollback names its revision and is skipped when the live template already matches, never a toggle back to v3.",
            "Every command is kept in a journal where the module runs (its path is the result's C(journal); O(journal) chooses it); the module refuses to act when it cannot keep one.",
            "V(status) fails (C(rc=1)) while the pods have not converged.",
        ])),
        ("seealso", Yaml::List(vec![map(vec![
            ("name", text("Downgrading Calico (Calico v3.0)")),
            ("description", text("The procedure the module carries out.")),
            ("link", text("https://docs.projectcalico.org/v3.0/getting-started/kubernetes/upgrade/downgrade")),
        ])])),
        ("author", list(["The calico-downgrade maintainers"])),
    ])
}

/// `action`: required, one of the actions, each described by its command's help.
fn action(command: &clap::Command) -> Yaml {
    let mut description = vec!["What to do:".to_string()];
    for name in ACTIONS {
        let sub = command.find_subcommand(name).expect("every action is a subcommand");
        let about = sub.get_about().map(|a| a.to_string()).unwrap_or_default();
        description.push(format!("V({name}): {}", sentence(&about)));
    }
    map(vec![
        ("description", list(description)),
        ("type", text("str")),
        ("required", Yaml::Bool(true)),
        ("choices", list(ACTIONS)),
    ])
}

/// Every option some action takes, by id, with the actions that take it (in [`ACTIONS`] order).
fn module_options(command: &clap::Command) -> BTreeMap<String, (&clap::Arg, Vec<&'static str>)> {
    let mut options: BTreeMap<String, (&clap::Arg, Vec<&'static str>)> = BTreeMap::new();
    for name in ACTIONS {
        for arg in super::usable(command, name) {
            options.entry(arg.get_id().to_string()).or_insert((arg, Vec::new())).1.push(name);
        }
    }
    options
}

/// Ansible's type of an option: flags are `bool`, values named `PATH` are `path`, numbers
/// `int`, the rest (durations included) `str`.
fn kind(arg: &clap::Arg) -> &'static str {
    let parser = arg.get_value_parser().type_id();
    if !arg.get_action().takes_values() {
        "bool"
    } else if arg.get_value_names().is_some_and(|names| names.iter().any(|n| n.as_str() == "PATH")) {
        "path"
    } else if parser == TypeId::of::<u64>() {
        "int"
    } else {
        "str"
    }
}

fn option(arg: &clap::Arg, actions: &[&str]) -> Yaml {
    let kind = kind(arg);
    let help = arg.get_long_help().or(arg.get_help()).map(|h| h.to_string()).unwrap_or_default();
    let mut description = vec![sentence(&help)];
    if arg.get_value_parser().type_id() == TypeId::of::<Duration>() {
        description.push("A duration such as V(10m), V(90s), V(1h30m) or V(500ms).".into());
    }
    let without: Vec<String> =
        ACTIONS.iter().filter(|a| !actions.contains(a)).map(|a| format!("O(action={a})")).collect();
    match (actions, without.as_slice()) {
        (_, []) => {}
        ([only], _) => description.push(format!("Only with O(action={only}).")),
        (_, [one]) => description.push(format!("{one} does not take it (setting it there fails the task).")),
        (_, many) => {
            description.push(format!("{} do not take it (setting it there fails the task).", many.join(" and ")))
        }
    }
    let mut entries = vec![("description", list(description)), ("type", text(kind))];
    let defaults: Vec<String> = arg.get_default_values().iter().map(|d| d.to_string_lossy().into_owned()).collect();
    match (kind, defaults.as_slice()) {
        ("bool", _) => entries.push(("default", Yaml::Bool(false))),
        ("int", [value]) => entries.push(("default", Yaml::Int(value.parse().expect("a numeric default")))),
        (_, [value]) => entries.push(("default", text(value))),
        _ => {}
    }
    let choices: Vec<String> =
        arg.get_possible_values().iter().filter(|v| !v.is_hide_set()).map(|v| v.get_name().to_string()).collect();
    if kind == "str" && !choices.is_empty() {
        entries.push(("choices", list(choices)));
    }
    map(entries)
}

fn returns() -> Yaml {
    let rows = crate::exit::TABLE.lines().skip(1).map(|row| {
        let (code, meaning) = row.trim().split_once(' ').unwrap_or((row, ""));
        format!(
            "V({code}): {}",
            meaning.trim().replace("--stall-timeout", "O(stall_timeout)").replace("--timeout", "O(timeout)")
        )
    });
    let rc: Vec<String> = std::iter::once("The exit code of the tool:".to_string()).chain(rows).collect();
    Yaml::Map(
        RETURN_VALUES
            .iter()
            .map(|value| {
                let description = if value.key == "rc" { list(rc.clone()) } else { text(value.description) };
                let mut entries =
                    vec![("description", description), ("returned", text(value.returned)), ("type", text(value.kind))];
                if let Some(elements) = value.elements {
                    entries.push(("elements", text(elements)));
                }
                if !value.contains.is_empty() {
                    let contains = value.contains.iter().map(|(key, kind, description)| {
                        (key.to_string(), map(vec![("description", text(*description)), ("type", text(*kind))]))
                    });
                    entries.push(("contains", Yaml::Map(contains.collect())));
                }
                (value.key.to_string(), map(entries))
            })
            .collect(),
    )
}

/// Help text as an Ansible description sentence: `code` as C(code), ended with a full stop.
fn sentence(help: &str) -> String {
    let mut out = String::new();
    for (index, part) in help.trim().split('`').enumerate() {
        if index % 2 == 1 {
            out.push_str(&format!("C({part})"));
        } else {
            out.push_str(part);
        }
    }
    if !out.ends_with('.') {
        out.push('.');
    }
    out
}

/// The little YAML this file needs, in a fixed order.
#[derive(Debug, Clone)]
enum Yaml {
    Map(Vec<(String, Yaml)>),
    List(Vec<Yaml>),
    Text(String),
    /// A literal block (`|`): text of several lines, shown as written.
    Block(String),
    Int(u64),
    Bool(bool),
}

impl Yaml {
    fn render(&self) -> String {
        let mut out = String::new();
        match self {
            Yaml::Map(entries) => write_map(entries, 0, &mut out),
            other => write_after_key(other, 0, &mut out),
        }
        out
    }
}

/// A string as a YAML scalar: plain when it is a simple word no YAML reader takes for
/// anything else (a boolean, a number, null), otherwise double-quoted with JSON's escapes,
/// which YAML reads the same way.
fn scalar(text: &str) -> String {
    const KEYWORDS: [&str; 13] =
        ["y", "n", "yes", "no", "true", "false", "on", "off", "null", "none", "~", "nan", "inf"];
    let plain = text.starts_with(|c: char| c.is_ascii_alphabetic())
        && text.chars().all(|c| c.is_ascii_alphanumeric() || "_./-".contains(c))
        && !KEYWORDS.contains(&text.to_ascii_lowercase().as_str());
    if plain {
        text.to_string()
    } else {
        serde_json::to_string(text).expect("a string serializes")
    }
}

fn write_map(entries: &[(String, Yaml)], indent: usize, out: &mut String) {
    for (key, value) in entries {
        out.push_str(&format!("{:indent$}{}:", "", scalar(key)));
        write_after_key(value, indent, out);
    }
}

/// A value after `key:` (or after `- `), at the indentation of its key.
fn write_after_key(value: &Yaml, indent: usize, out: &mut String) {
    match value {
        Yaml::Map(entries) if entries.is_empty() => out.push_str(" {}\n"),
        Yaml::Map(entries) => {
            out.push('\n');
            write_map(entries, indent + 2, out);
        }
        Yaml::List(items) if items.is_empty() => out.push_str(" []\n"),
        Yaml::List(items) => {
            out.push('\n');
            write_list(items, indent + 2, out);
        }
        Yaml::Block(text) => {
            out.push_str(" |\n");
            for line in text.lines() {
                if line.is_empty() {
                    out.push('\n');
                } else {
                    out.push_str(&format!("{:width$}{line}\n", "", width = indent + 2));
                }
            }
        }
        Yaml::Text(text) => out.push_str(&format!(" {}\n", scalar(text))),
        Yaml::Int(number) => out.push_str(&format!(" {number}\n")),
        Yaml::Bool(value) => out.push_str(&format!(" {value}\n")),
    }
}

fn write_list(items: &[Yaml], indent: usize, out: &mut String) {
    for item in items {
        match item {
            // The first key on the dash's line, the others under it.
            Yaml::Map(entries) if !entries.is_empty() => {
                let mut nested = String::new();
                write_map(entries, indent + 2, &mut nested);
                out.push_str(&format!("{:indent$}- {}", "", &nested[indent + 2..]));
            }
            Yaml::List(nested) if !nested.is_empty() => {
                out.push_str(&format!("{:indent$}-\n", ""));
                write_list(nested, indent + 2, out);
            }
            other => {
                out.push_str(&format!("{:indent$}-", ""));
                write_after_key(other, indent, out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repository_file(path: &str) -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
    }

    #[test]
    #[allow(clippy::disallowed_methods)] // a test knob, not the tool's environment
    fn the_committed_sidecar_is_the_one_the_options_model_generates() {
        let path = repository_file(SIDECAR_PATH);
        let generated = sidecar();
        if std::env::var_os("UPDATE_ANSIBLE_DOC").is_some_and(|v| v == "1") {
            std::fs::write(&path, &generated).unwrap();
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == generated,
            "`{SIDECAR_PATH}` is not what the options model generates; review the difference and regenerate it with\n  \
             UPDATE_ANSIBLE_DOC=1 cargo test --all-features --lib ansible::documentation\n\
             --- committed\n{committed}\n+++ generated\n{generated}"
        );
    }

    #[test]
    fn every_argument_the_module_accepts_is_documented_with_its_type_and_default() {
        let doc = sidecar();
        let command = crate::cli::command();
        let options = module_options(&command);
        for id in options.keys() {
            assert!(doc.contains(&format!("\n    {id}:\n")), "`{id}` is not documented");
        }
        for set_by_the_module in ["output", "yes", "verbose", "quiet", "check"] {
            assert!(!options.contains_key(set_by_the_module), "`{set_by_the_module}` is the module's to set");
        }
        let kinds: Vec<(&str, &str)> = options.iter().map(|(id, (arg, _))| (id.as_str(), kind(arg))).collect();
        for expected in [
            ("kubeconfig", "path"),
            ("journal", "path"),
            ("context", "str"),
            ("to_revision", "int"),
            ("timeout", "str"),
            ("rollback_first", "bool"),
            ("watch", "bool"),
        ] {
            assert!(kinds.contains(&expected), "{expected:?} in {kinds:?}");
        }
        assert_eq!(options["watch"].1, ["status"]);
        assert_eq!(options["abort_while_v3"].1, ["abort"]);
        assert_eq!(options["namespace"].1, ACTIONS);
        let timeout = option(options["timeout"].0, &options["timeout"].1);
        let rendered = Yaml::Map(vec![("timeout".into(), timeout)]).render();
        assert_eq!(
            rendered,
            "timeout:\n  description:\n    - \"Give up waiting for the pods after this long, progress or not (1s to a week; default: no limit).\"\n    \
             - \"A duration such as V(10m), V(90s), V(1h30m) or V(500ms).\"\n    \
             - \"O(action=plan) and O(action=abort) do not take it (setting it there fails the task).\"\n  type: str\n"
        );
    }

    #[test]
    fn the_examples_use_only_arguments_the_module_accepts() {
        let command = crate::cli::command();
        let options = module_options(&command);
        let mut in_call = false;
        for line in EXAMPLES.lines() {
            if line.starts_with("  calico_downgrade.fleet.calico_downgrade:") {
                in_call = true;
            } else if let Some(argument) = line.strip_prefix("    ").filter(|_| in_call) {
                let name = argument.split(':').next().unwrap_or_default();
                assert!(name == "action" || options.contains_key(name), "EXAMPLES use `{name}`, which is no option");
            } else {
                in_call = false;
            }
        }
    }

    #[test]
    fn strings_that_yaml_would_read_as_something_else_are_quoted() {
        assert_eq!(scalar("kube-system"), "kube-system");
        assert_eq!(scalar("10m"), "\"10m\"");
        assert_eq!(scalar("yes"), "\"yes\"");
        assert_eq!(scalar("Off"), "\"Off\"");
        assert_eq!(scalar("a: b # c"), "\"a: b # c\"");
        assert_eq!(scalar("say \"hi\"\n"), "\"say \\\"hi\\\"\\n\"");
        assert_eq!(scalar(""), "\"\"");
        let nested = Yaml::Map(vec![
            ("list".into(), Yaml::List(vec![map(vec![("a", text("x")), ("b", Yaml::Int(1))]), text("z")])),
            ("empty".into(), Yaml::List(vec![])),
            ("block".into(), Yaml::Block("one\n\n  two\n".into())),
        ]);
        assert_eq!(nested.render(), "list:\n  - a: x\n    b: 1\n  - z\nempty: []\nblock: |\n  one\n\n    two\n");
    }

    #[test]
    fn the_collection_version_is_the_crate_version() {
        let galaxy = std::fs::read_to_string(repository_file("ansible/galaxy.yml")).unwrap();
        let version = galaxy.lines().find_map(|line| line.strip_prefix("version: ")).map(str::trim);
        assert_eq!(version, Some(env!("CARGO_PKG_VERSION")), "ansible/galaxy.yml's version");
        let names = ["namespace: ", "name: "].map(|key| galaxy.lines().find_map(|l| l.strip_prefix(key)).unwrap_or(""));
        assert_eq!(format!("{}.{}", names[0], names[1]), COLLECTION);
    }
}
