//! `kubectl get ... --watch`: the pods of a namespace (`get pods -n NS [-l SEL] --watch`) or
//! one named DaemonSet or Deployment (`get daemonset/NAME --watch`), with or without
//! `--output-watch-events` (kubectl 1.16+: an `EVENT:.type` column, the object under
//! `.object`).
//!
//! The first block is every current object (as `ADDED` events) aligned as one table; then
//! [`watch_loop`] polls the state every ~20 ms under the lock (advancing the simulation as any
//! call does, never sleeping with the lock held) and prints one row per event: `ADDED` for a
//! new object, `MODIFIED` for a change, `DELETED` with the object's last state when it is
//! gone. Without events a row is printed when its cells change; with events when the object
//! changes (a pod's phase, container and Ready flags, waiting reasons, restarts, deletion,
//! node; a workload's JSON), so,
//! as with real kubectl, a `MODIFIED` row may repeat the previous one. 1.9: every row through
//! a fresh tabwriter; 1.20/1.33: one tabwriter whose widths only grow. The API server going
//! down (`fake-cluster outage`) ends it: kubectl's message on stderr, exit 1; the API server
//! ending it (`--watch-ends-ms`, its `--min-request-timeout`) ends it with exit 0 and no word.

use std::collections::BTreeMap;
use std::io::Write;
use std::time::Duration;

use crate::kubectl::{cell, header, items, minwidth, selected, Field, Item, Resource, Selector, UNREACHABLE};
use crate::objects;
use crate::sim;
use crate::state::{now_ms, ClusterDir, Kind, State, Style};
use crate::table::{TabWriter, MINWIDTH_OLD};

/// What a watch follows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `get pods -n NS [-l SELECTOR] --watch`.
    Pods { namespace: String, selector: Option<Selector> },
    /// `get daemonset/NAME -n NS --watch` (or `deployment/NAME`).
    Object { kind: Kind, name: String, namespace: String },
}

/// One object as last printed: its cells (event columns left empty) and what tells a change.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Seen {
    row: Vec<String>,
    key: String,
}

/// A running `kubectl get ... --watch`.
#[derive(Debug)]
pub struct Watch {
    style: Style,
    target: Target,
    columns: Vec<(String, Field)>,
    /// `--output-watch-events`.
    events: bool,
    /// Per object name, what was printed last.
    last: BTreeMap<String, Seen>,
    /// 1.12+: one tabwriter with remembered widths for the whole stream.
    writer: TabWriter,
    header_printed: bool,
}

impl Watch {
    pub fn new(style: Style, target: Target, columns: Vec<(String, Field)>, events: bool) -> Self {
        Watch {
            style,
            target,
            columns,
            events,
            last: BTreeMap::new(),
            writer: TabWriter::new(minwidth(style), true),
            header_printed: false,
        }
    }

    /// The object's row and change key at `t`.
    fn snapshot(&self, state: &State, item: &Item, t: u64) -> Seen {
        let row: Vec<String> = self
            .columns
            .iter()
            .map(|(_, f)| if *f == Field::EventType { String::new() } else { cell(state, item, *f, t) })
            .collect();
        let key = match item {
            _ if !self.events => row.join("\t"),
            Item::Pod(_) => [
                Field::Phase,
                Field::Ready,
                Field::ReadyCondition,
                Field::Deletion,
                Field::Node,
                Field::Images,
                Field::Owner,
                // The kubelet's status updates: a reason to wait, a restart.
                Field::Waiting,
                Field::RestartCounts,
                Field::ContainersReadyCondition,
            ]
            .iter()
            .map(|f| cell(state, item, *f, t))
            .collect::<Vec<_>>()
            .join("\t"),
            Item::Workload(w) => objects::workload_json(state, w, t).to_string(),
            Item::Revision(w, r) => objects::revision_json(state, w, r, t).to_string(),
        };
        Seen { row, key }
    }

    /// Every object the watch follows, by name, as it is now.
    fn current(&self, state: &State) -> Vec<(String, Seen)> {
        let t = state.clock_ms;
        match &self.target {
            Target::Pods { namespace, selector } => {
                selected(state, items(state, Resource::Pods, Some(namespace)), selector.as_ref())
                    .iter()
                    .filter_map(|item| match item {
                        Item::Pod(p) => Some((p.name.clone(), self.snapshot(state, item, t))),
                        _ => None,
                    })
                    .collect()
            }
            Target::Object { kind, name, namespace } => state
                .find(*kind, name, namespace)
                .map(|w| (w.name.clone(), self.snapshot(state, &Item::Workload(w), t)))
                .into_iter()
                .collect(),
        }
    }

    /// The last state of an object that is gone: a pod as it was the instant before it
    /// disappeared; a workload as last printed.
    fn final_state(&self, state: &State, name: &str, last: &Seen) -> Seen {
        match &self.target {
            Target::Pods { .. } => state
                .tombstones
                .iter()
                .find(|p| p.name == name)
                .map(|p| self.snapshot(state, &Item::Pod(p), p.gone_at_ms.unwrap_or(state.clock_ms).saturating_sub(1)))
                .unwrap_or_else(|| last.clone()),
            Target::Object { .. } => last.clone(),
        }
    }

    /// The cells to print: the row with its event columns filled in.
    fn printed(&self, row: &[String], event: &str) -> Vec<String> {
        self.columns
            .iter()
            .zip(row)
            .map(|((_, f), cell)| if *f == Field::EventType { event.to_string() } else { cell.clone() })
            .collect()
    }

    /// The first listing: header and every current object (`ADDED`), aligned as one block;
    /// nothing when there is none (the header then comes with the first event).
    pub fn start(&mut self, state: &State) -> String {
        let mut table = Vec::new();
        for (name, seen) in self.current(state) {
            table.push(self.printed(&seen.row, "ADDED"));
            self.last.insert(name, seen);
        }
        if table.is_empty() {
            return String::new();
        }
        table.insert(0, header(&self.columns));
        self.header_printed = true;
        self.writer.format(&table)
    }

    /// One event row (with the header first if nothing was printed yet).
    fn event(&mut self, row: &[String], event: &str) -> String {
        let mut table = Vec::new();
        if !self.header_printed {
            table.push(header(&self.columns));
            self.header_printed = true;
        }
        table.push(self.printed(row, event));
        if self.style.is_old() {
            // kubectl ≤1.11 printed each event through a fresh tabwriter.
            TabWriter::new(MINWIDTH_OLD, false).format(&table)
        } else {
            self.writer.format(&table)
        }
    }

    /// Compare the state with what was printed; return the rows to print now.
    pub fn poll(&mut self, state: &State) -> String {
        let mut text = String::new();
        let current = self.current(state);
        for (name, seen) in &current {
            let event = match self.last.get(name) {
                None => "ADDED",
                Some(last) if last.key != seen.key => "MODIFIED",
                Some(_) => continue,
            };
            text.push_str(&self.event(&seen.row, event));
            self.last.insert(name.clone(), seen.clone());
        }
        let vanished: Vec<String> =
            self.last.keys().filter(|n| !current.iter().any(|(name, _)| name == *n)).cloned().collect();
        for name in vanished {
            let last = self.last.remove(&name).expect("listed above");
            // The final state (MODIFIED, if not printed yet), then the DELETED event (without
            // events the same row twice: real kubectl also shows `Terminating` twice).
            let gone = self.final_state(state, &name, &last);
            if gone.key != last.key {
                text.push_str(&self.event(&gone.row, "MODIFIED"));
            }
            text.push_str(&self.event(&gone.row, "DELETED"));
        }
        text
    }
}

/// Follow the cluster until killed: poll every ~20 ms, print a row per event, flush.
pub fn watch_loop(cluster: &ClusterDir, watch: &mut Watch) -> i32 {
    let mut stdout = std::io::stdout();
    let started = std::time::Instant::now();
    loop {
        std::thread::sleep(Duration::from_millis(20));
        let polled = (|| -> Result<Option<String>, String> {
            let _lock = cluster.lock()?;
            let mut state = cluster.load()?;
            let now = now_ms().max(state.clock_ms);
            sim::advance(&mut state, now);
            cluster.save(&state)?;
            if state.in_outage(now) {
                return Err(UNREACHABLE.to_string());
            }
            if state.config.watch_ends_ms.is_some_and(|ms| started.elapsed() >= Duration::from_millis(ms)) {
                return Ok(None);
            }
            Ok(Some(watch.poll(&state)))
        })();
        match polled {
            // The API server ended the watch (--min-request-timeout): kubectl exits 0, silent.
            Ok(None) => return 0,
            Ok(Some(text)) if text.is_empty() => {}
            Ok(Some(text)) => {
                if stdout.write_all(text.as_bytes()).and_then(|_| stdout.flush()).is_err() {
                    return 0;
                }
            }
            Err(e) if e == UNREACHABLE => {
                // A watch whose server went away: kubectl prints why and exits 1.
                eprint!("{e}");
                return 1;
            }
            Err(e) => {
                eprintln!("fake-cluster: {e}");
                return 98;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kubectl::{execute, flag_error, parse, Cmd};
    use crate::{control, scenario, Output, Then};

    const T0: u64 = 1_800_000_000_000;

    const POD_COLUMNS: &str = r#"custom-columns=EVENT:.type,NAME:.object.metadata.name,PHASE:.object.status.phase,READY:.object.status.conditions[?(@.type=="Ready")].status,DELETING:.object.metadata.deletionTimestamp"#;
    const DS_COLUMNS: &str = "custom-columns=EVENT:.type,NAME:.object.metadata.name,GENERATION:.object.metadata.generation,OBSERVED:.object.status.observedGeneration,DESIRED:.object.status.desiredNumberScheduled,UPDATED:.object.status.updatedNumberScheduled,AVAILABLE:.object.status.numberAvailable,REPLICAS:.object.status.replicas";

    fn cluster(options: &[&str]) -> State {
        let args: Vec<String> = options.iter().map(|s| s.to_string()).collect();
        scenario::build(&control::parse_init(&args).expect("options"), T0)
    }

    fn command(words: &[&str]) -> Cmd {
        parse(&words.iter().map(|s| s.to_string()).collect::<Vec<_>>()).expect("simulated")
    }

    fn run(state: &mut State, words: &[&str], t: u64) -> Output {
        sim::advance(state, t);
        execute(state, command(words), t, false)
    }

    /// Start a watch at T0, roll calico-node back at T0 + 10 ms, follow for 5 s of simulated
    /// time in 20 ms polls; everything printed.
    fn follow(state: &mut State, watch: &[&str]) -> String {
        let answer = run(state, watch, T0);
        let Then::Watch(mut w) = answer.then else { panic!("no watch: {answer:?}") };
        let mut text = answer.stdout;
        run(state, &["rollout", "undo", "ds/calico-node", "-n", "kube-system", "--to-revision=1"], T0 + 10);
        for t in (T0 + 20..T0 + 5000).step_by(20) {
            sim::advance(state, t);
            text.push_str(&w.poll(state));
        }
        text
    }

    #[test]
    fn pod_events_added_modified_deleted_with_growing_widths() {
        let mut state = cluster(&["--nodes", "2", "--no-deployment"]);
        let text = follow(
            &mut state,
            &["get", "pods", "-n", "kube-system", "-o", POD_COLUMNS, "--watch", "--output-watch-events"],
        );
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("EVENT   NAME   "), "{text}");
        assert!(lines[1].starts_with("ADDED   calico-node-") && lines[2].starts_with("ADDED   calico-node-"), "{text}");
        // Later rows keep the first block's widths and only grow (`MODIFIED` widens EVENT).
        assert!(lines[3].starts_with("MODIFIED   calico-node-"), "{text}");
        let events: Vec<&str> = lines[3..].iter().map(|l| l.split_whitespace().next().unwrap()).collect();
        assert_eq!(events.iter().filter(|e| **e == "DELETED").count(), 2, "{text}");
        assert_eq!(events.iter().filter(|e| **e == "ADDED").count(), 2, "{text}");
        let deleted = lines.iter().find(|l| l.starts_with("DELETED")).unwrap();
        assert!(deleted.contains("Running") && !deleted.ends_with("<none>"), "the last state, deleting: {deleted}");
        // The new pod: Pending, then (its containers created) the same cells again, then Running.
        let new_pod = lines.iter().find(|l| l.starts_with("ADDED      ")).unwrap().split_whitespace().nth(1).unwrap();
        let rows: Vec<Vec<&str>> = lines
            .iter()
            .map(|l| l.split_whitespace().collect::<Vec<_>>())
            .filter(|cells| cells[1] == new_pod)
            .collect();
        assert_eq!(
            rows.iter().map(|r| (r[0], r[2], r[3])).collect::<Vec<_>>(),
            [("ADDED", "Pending", "False"), ("MODIFIED", "Pending", "False"), ("MODIFIED", "Running", "True")]
        );
    }

    #[test]
    fn pod_watch_without_events_still_prints_changed_rows_only() {
        let mut state = cluster(&["--nodes", "1", "--no-deployment"]);
        let text = follow(
            &mut state,
            &[
                "get",
                "pods",
                "-n",
                "kube-system",
                "-o",
                "custom-columns=NAME:.metadata.name,PHASE:.status.phase,DELETING:.metadata.deletionTimestamp",
                "--watch",
            ],
        );
        let lines: Vec<&str> = text.lines().collect();
        // Header, the pod; its deletion and its replacement (Pending); the deleted pod's last
        // row once more; the replacement Running.
        assert_eq!(lines.len(), 1 + 1 + 2 + 1 + 1, "{text}");
        let deleting: Vec<&&str> = lines.iter().filter(|l| !l.ends_with("<none>") && !l.starts_with("NAME")).collect();
        assert_eq!(deleting.len(), 2, "{text}");
        assert_eq!(deleting[0], deleting[1], "the gone pod twice: {text}");
    }

    #[test]
    fn daemonset_watch_follows_the_rollout() {
        let mut state = cluster(&["--nodes", "2", "--no-deployment"]);
        let text = follow(
            &mut state,
            &[
                "get",
                "daemonset/calico-node",
                "-n",
                "kube-system",
                "-o",
                DS_COLUMNS,
                "--watch",
                "--output-watch-events",
            ],
        );
        let rows: Vec<Vec<&str>> = text.lines().map(|l| l.split_whitespace().collect()).collect();
        assert_eq!(rows[0], ["EVENT", "NAME", "GENERATION", "OBSERVED", "DESIRED", "UPDATED", "AVAILABLE", "REPLICAS"]);
        assert_eq!(rows[1], ["ADDED", "calico-node", "2", "2", "2", "2", "2", "<none>"]);
        assert!(text.lines().nth(2).unwrap().starts_with("MODIFIED   calico-node   3 "), "{text}");
        assert!(rows[2..].iter().all(|r| r[0] == "MODIFIED" && r[2] == "3"), "{text}");
        assert_eq!(rows.last().unwrap()[..7], ["MODIFIED", "calico-node", "3", "3", "2", "2", "2"]);
        let mut distinct = rows[2..].to_vec();
        distinct.dedup();
        assert_eq!(distinct.len(), rows.len() - 2, "a row per change: {text}");
    }

    #[test]
    fn a_missing_workload_two_kinds_and_old_kubectl_are_refused() {
        let mut state = cluster(&[]);
        let columns = "custom-columns=EVENT:.type,NAME:.object.metadata.name";
        let base = ["-n", "kube-system", "-o", columns, "--watch", "--output-watch-events"];
        let missing = run(&mut state, &[&["get", "daemonset/nope"][..], &base].concat(), T0);
        assert_eq!(
            (missing.stderr.as_str(), missing.code),
            ("Error from server (NotFound): daemonsets.apps \"nope\" not found\n", 1)
        );
        let both =
            run(&mut state, &[&["get", "ds/calico-node", "deploy/calico-kube-controllers"][..], &base].concat(), T0);
        assert_eq!(
            (both.stdout.as_str(), both.stderr.as_str(), both.code),
            ("", "error: you may only specify a single resource type\n", 1)
        );
        let cmd = command(&[&["get", "pods"][..], &base].concat());
        let refusal = flag_error(&cmd, Style::V1_9).expect("1.9 has no --output-watch-events");
        assert_eq!(
            (refusal.stderr.as_str(), refusal.code),
            ("Error: unknown flag: --output-watch-events\nSee 'kubectl get --help' for usage.\n", 1)
        );
        assert!(flag_error(&cmd, Style::V1_20).is_none());
    }
}
