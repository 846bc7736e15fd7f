//! Task "What Calico v2.6 will not read": the rollback puts v2.6's pod templates back, but the
//! Calico data v3.0 wrote stays, and v2.6 does not read all of it. This task names it, so that
//! neither the plan nor the verdict claims the cluster is back where it was before v3.0 while a
//! policy created under v3.0 silently stops being enforced.
//!
//! - **Kubernetes API datastore.** Every object of the kinds only v3.0 reads
//!   (`networkpolicies`, namespaced, no longer enforced; `felixconfigurations`,
//!   `bgpconfigurations`, `clusterinformations`), and the objects of the kinds both read that v2.6
//!   skips or reads differently (`ippools`, `bgppeers`, `globalnetworkpolicies`): the judgement
//!   and its sources are `crate::calico_kdd`. Each kind is one `kubectl get --raw
//!   /apis/crd.projectcalico.org/v1/PLURAL`; kubectl's own words tell a CRD that is not installed
//!   ("none": no such CRD) from a user who may not list it ("not checked", with the command an
//!   admin can run) from a list, empty or not.
//! - **etcd.** One line: the v3 data (`calico-upgrade start`'s copy, and whatever calicoctl v3
//!   wrote after `calico-upgrade complete`) is never read by v2.6; how to list what only it holds
//!   before deleting it. Nothing is run for it.
//!
//! It only informs and never stops the run, so it costs nothing before the first change: the
//! inspection starts it ([`start`]) once it knows the datastore and that v3.0 ran, and its lists
//! are read one after another on a thread ([`crate::exec::Exec::spawn_pages`], one kubectl at a
//! time); `run` collects it after the wait, `plan` right after the inspection. The first list
//! that fails ends that thread: the kinds after it are read here, together, when it is
//! collected. Its result is `not_read_by_v2_6` in the JSON.

use std::sync::{Arc, Mutex, PoisonError};

use serde::Serialize;

use super::{Context, Done, TaskResult};
use crate::calico_kdd::{self, Finding, Kind, KINDS};
use crate::cluster::{upgrade_time, Datastore};
use crate::exec::{ExecError, Invocation, Output, Pager};
use crate::tools::calico_crds::{self, CalicoObject, ListFailure};
use crate::tools::kubectl::Kubectl;

pub const NAME: &str = "What Calico v2.6 will not read";

/// Up to this many objects of a v3-only kind are named in the text report; beyond, they are
/// counted, and the JSON names them all.
pub const LIST_LIMIT: usize = 20;

/// What the run found that Calico v2.6 will not read or enforce (`not_read_by_v2_6` in the
/// JSON).
#[derive(Debug, Clone, Serialize)]
pub struct NotRead {
    pub datastore: Datastore,
    /// Kubernetes API datastore: each kind, as it was listed (empty with etcd).
    pub kinds: Vec<KindChecked>,
    /// When a kind could not be listed: the command an admin can run to list those kinds.
    pub admin_command: Option<String>,
    /// etcd: what the v3 data is, and how to list it before deleting it.
    pub v3_data: Option<String>,
}

impl NotRead {
    /// Every object named, over all kinds.
    pub fn found(&self) -> usize {
        self.kinds.iter().map(|k| k.objects.len()).sum()
    }

    /// The kinds that could not be listed.
    pub fn unchecked(&self) -> Vec<&KindChecked> {
        self.kinds.iter().filter(|k| matches!(k.checked, Checked::NotChecked { .. })).collect()
    }

    /// For the verdict: `not read by v2.6: 2 networkpolicies, 1 ippools; not checked:
    /// felixconfigurations`; `None` when there is nothing to say.
    pub fn verdict(&self) -> Option<String> {
        let mut parts = Vec::new();
        let found: Vec<String> = self
            .kinds
            .iter()
            .filter(|k| !k.objects.is_empty())
            .map(|k| format!("{} {}", k.objects.len(), k.plural))
            .collect();
        if !found.is_empty() {
            parts.push(format!("not read or enforced by v2.6 as v3.0 did: {}", found.join(", ")));
        }
        let unchecked: Vec<&str> = self.unchecked().iter().map(|k| k.plural.as_str()).collect();
        if !unchecked.is_empty() {
            parts.push(format!("not checked what v2.6 will not read: {}", unchecked.join(", ")));
        }
        (!parts.is_empty()).then(|| parts.join("; "))
    }
}

/// One kind, as it was listed.
#[derive(Debug, Clone, Serialize)]
pub struct KindChecked {
    /// `networkpolicies.crd.projectcalico.org`.
    pub resource: String,
    pub plural: String,
    pub namespaced: bool,
    /// Only v3.0 reads it: every object is named.
    pub v3_only: bool,
    #[serde(flatten)]
    pub checked: Checked,
    /// What v2.6 will not read or enforce as v3.0 did, each with what it means.
    pub objects: Vec<Finding>,
}

/// How a kind's list went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum Checked {
    /// Listed: `count` objects, of which `objects` are named.
    Listed { count: usize },
    /// The API server serves no such resource: its CRD is not installed, so there is none.
    NoCrd,
    /// Could not be listed (forbidden, the API server away, output this tool cannot read).
    NotChecked { why: String },
}

/// The lists as they are read, shared with the thread that reads them.
#[derive(Debug, Default)]
pub struct Lists {
    /// The index in [`KINDS`] of the list being read (the one that failed, once the thread
    /// ended on a failure).
    at: usize,
    /// Each list read, by index in [`KINDS`]: its objects, or why they could not be read.
    read: Vec<(usize, Result<Vec<CalicoObject>, String>)>,
    /// Each command the thread ran, its output without the objects, for the report.
    records: Vec<(Invocation, Output)>,
}

pub type SharedLists = Arc<Mutex<Lists>>;

/// The first list read, and the next after each.
fn list(kubectl: &Kubectl, at: usize) -> Invocation {
    kubectl.calico_objects(KINDS[at].plural)
}

fn pager(lists: &SharedLists, kubectl: Kubectl) -> Pager {
    let shared = Arc::clone(lists);
    Box::new(move |invocation, output| {
        let mut lists = shared.lock().unwrap_or_else(PoisonError::into_inner);
        lists.records.push((invocation.clone(), Output { stdout: String::new(), ..output.clone() }));
        let at = lists.at;
        let read = calico_crds::parse_calico_list(KINDS[at].plural, output).map_err(|e| e.headline());
        lists.read.push((at, read));
        lists.at += 1;
        (lists.at < KINDS.len()).then(|| list(&kubectl, lists.at))
    })
}

/// Start reading the Calico lists in the background (the inspection does, once it knows the
/// datastore is the Kubernetes API and that v3.0 ran). Started once per run.
pub fn start(ctx: &mut Context) {
    if ctx.calico_lists.is_some() {
        return;
    }
    let kubectl = ctx.kubectl().clone();
    let lists: SharedLists = Arc::default();
    ctx.start_pages_in_background(list(&kubectl, 0), pager(&lists, kubectl));
    ctx.calico_lists = Some(lists);
}

/// The line about etcd's v3 data: what it is and how to list it with the v3 tools.
pub fn etcd_line(apiconfigv3: &str) -> String {
    format!(
        "etcd: v2.6 never reads the v3 data, where policies and profiles created with calicoctl v3 after `calico-upgrade complete` live; before deleting it, list them with calicoctl v3 and the v3 apiconfig: `calicoctl get networkpolicies --all-namespaces -o yaml --config={apiconfigv3}` (and `globalnetworkpolicies`, `profiles`)"
    )
}

pub fn run(ctx: &mut Context) -> TaskResult {
    let cluster = ctx.cluster();
    let datastore = cluster.datastore;
    if upgrade_time(&cluster.daemonset).is_none() {
        return Ok(Done::skipped("no v3.x revision of the DaemonSet: Calico v3.0 never ran, so it wrote nothing"));
    }
    if datastore == Datastore::Etcd {
        let apiconfig =
            ctx.options.apiconfigv3.clone().unwrap_or_else(|| crate::destination::DEFAULT_APICONFIGV3.to_string());
        let line = etcd_line(&apiconfig);
        ctx.facts.not_read_by_v2_6 =
            Some(NotRead { datastore, kinds: Vec::new(), admin_command: None, v3_data: Some(line.clone()) });
        return Ok(Done::ok(line));
    }
    start(ctx);
    let lists = ctx.calico_lists.take().expect("the lists were started");
    let kubectl = ctx.kubectl().clone();
    let first = list(&kubectl, 0);
    let result = ctx.take_pages(&first).unwrap_or_else(|| Err(ExecError::Io("the lists never started".into())));
    let mut lists = std::mem::take(&mut *lists.lock().unwrap_or_else(PoisonError::into_inner));
    for (invocation, output) in std::mem::take(&mut lists.records) {
        ctx.record(&invocation, &Ok(output));
    }
    let mut outcomes: Vec<Option<Result<Vec<CalicoObject>, Checked>>> = vec![None; KINDS.len()];
    for (at, read) in lists.read {
        outcomes[at] = Some(read.map_err(|why| Checked::NotChecked { why }));
    }
    // The thread ended before the last list: the one that failed, then those after it.
    if lists.at < KINDS.len() && !result.as_ref().is_ok_and(Output::success) {
        let failed = list(&kubectl, lists.at);
        ctx.record(&failed, &result);
        if let Err(ExecError::Interrupted) = result {
            return Err(super::failures::exec_stop(&failed, &ExecError::Interrupted));
        }
        let mut again: Vec<usize> = Vec::new();
        match &result {
            Ok(output) if crate::tools::kubectl::transient_failure(&output.stderr).is_some() => again.push(lists.at),
            Err(ExecError::TimedOut { .. }) => again.push(lists.at),
            _ => outcomes[lists.at] = Some(read_one(KINDS[lists.at].plural, result)),
        }
        again.extend(lists.at + 1..KINDS.len());
        let invocations: Vec<Invocation> = again.iter().map(|&at| list(&kubectl, at)).collect();
        let refs: Vec<&Invocation> = invocations.iter().collect();
        let results = ctx.run_all_raw(&refs);
        for ((&at, invocation), result) in again.iter().zip(&invocations).zip(results) {
            if let Err(ExecError::Interrupted) = result {
                return Err(super::failures::exec_stop(invocation, &ExecError::Interrupted));
            }
            outcomes[at] = Some(read_one(KINDS[at].plural, result));
        }
    }
    let kinds: Vec<KindChecked> = KINDS
        .iter()
        .zip(outcomes)
        .map(|(kind, outcome)| {
            let outcome = outcome.unwrap_or_else(|| Err(Checked::NotChecked { why: "not listed".into() }));
            checked(kind, outcome)
        })
        .collect();
    let unchecked: Vec<&str> =
        kinds.iter().filter(|k| matches!(k.checked, Checked::NotChecked { .. })).map(|k| k.plural.as_str()).collect();
    let admin_command = (!unchecked.is_empty()).then(|| admin_command(&kubectl, &unchecked));
    let not_read = NotRead { datastore, kinds, admin_command, v3_data: None };
    let done = report(&not_read);
    ctx.exec.note("not_read_by_v2_6", serde_json::to_value(&not_read).unwrap_or_default());
    ctx.facts.not_read_by_v2_6 = Some(not_read);
    Ok(done)
}

/// One list's result read: its objects, the CRD not installed, or why it could not be had.
fn read_one(plural: &str, result: Result<Output, ExecError>) -> Result<Vec<CalicoObject>, Checked> {
    match result {
        Ok(output) if output.success() => {
            calico_crds::parse_calico_list(plural, &output).map_err(|e| Checked::NotChecked { why: e.headline() })
        }
        Ok(output) => match calico_crds::list_failure(&output.stderr) {
            ListFailure::NoCrd => Err(Checked::NoCrd),
            ListFailure::Forbidden(why) | ListFailure::Other(why) => Err(Checked::NotChecked { why }),
        },
        Err(error) => Err(Checked::NotChecked { why: format!("the list did not finish: {error}") }),
    }
}

fn checked(kind: &Kind, outcome: Result<Vec<CalicoObject>, Checked>) -> KindChecked {
    let (checked, objects) = match outcome {
        Ok(objects) => (Checked::Listed { count: objects.len() }, calico_kdd::judge(kind, &objects)),
        Err(checked) => (checked, Vec::new()),
    };
    KindChecked {
        resource: format!("{}.{}", kind.plural, calico_crds::GROUP),
        plural: kind.plural.to_string(),
        namespaced: kind.namespaced,
        v3_only: kind.v3_only,
        checked,
        objects,
    }
}

/// What an admin runs to list the kinds this user could not.
fn admin_command(kubectl: &Kubectl, plurals: &[&str]) -> String {
    let mut command = kubectl.for_people().calico_objects_for_people(plurals);
    command.args.retain(|a| !a.starts_with("--kubeconfig=") && !a.starts_with("--context="));
    command.to_string()
}

/// The task's result: a headline, the objects grouped by kind (namespaced ones with their
/// namespace) with what each means, what could not be checked and how an admin can.
pub fn report(not_read: &NotRead) -> Done {
    let mut summary = Vec::new();
    let mut details = Vec::new();
    let mut empty = Vec::new();
    let mut absent = Vec::new();
    for kind in &not_read.kinds {
        match &kind.checked {
            Checked::NotChecked { why } => summary.push(format!("{}: not checked ({why})", kind.resource)),
            Checked::NoCrd => absent.push(kind.plural.as_str()),
            Checked::Listed { count } if kind.objects.is_empty() => {
                empty.push(kind.plural.as_str());
                details.push(format!("{}: {count} listed, none that v2.6 will not read", kind.resource));
            }
            Checked::Listed { count } if kind.v3_only => {
                let meaning = calico_kdd::kind(&kind.plural).map_or("", |k| k.meaning);
                summary.push(format!("{}, a kind only v3.0 reads ({count}): {meaning}", kind.resource));
                let names: Vec<String> = kind.objects.iter().map(Finding::reference).collect();
                if names.len() <= LIST_LIMIT {
                    summary.push(format!("  {}", names.join(", ")));
                } else {
                    summary.push(format!(
                        "  {} objects; the full list: `not_read_by_v2_6` in `--output json`, and the journal",
                        names.len()
                    ));
                }
                details.push(format!("{}: {}", kind.resource, names.join(", ")));
            }
            Checked::Listed { count } => {
                summary.push(format!("{} ({} of {count}):", kind.resource, kind.objects.len()));
                for object in kind.objects.iter().take(LIST_LIMIT) {
                    summary.push(format!("  {}: {}", object.reference(), object.meaning));
                }
                if kind.objects.len() > LIST_LIMIT {
                    summary.push(format!(
                        "  and {} more: `not_read_by_v2_6` in `--output json`",
                        kind.objects.len() - LIST_LIMIT
                    ));
                }
                details
                    .extend(kind.objects.iter().map(|o| format!("{} {}: {}", kind.resource, o.reference(), o.meaning)));
            }
        }
    }
    if !empty.is_empty() || !absent.is_empty() {
        let mut none = Vec::new();
        if !empty.is_empty() {
            none.push(format!("nothing to name in {}", empty.join(", ")));
        }
        if !absent.is_empty() {
            none.push(format!("no CRD (so none) for {}", absent.join(", ")));
        }
        summary.push(none.join("; "));
    }
    if let Some(command) = &not_read.admin_command {
        summary.push(format!("an admin can list what was not checked: `{command}`"));
    }
    let found = not_read.found();
    let unchecked = not_read.unchecked().len();
    let message = match (found, unchecked) {
        (0, 0) => "none: every Calico object listed is one v2.6 reads as v3.0 did".to_string(),
        (0, n) => format!("none found, but {n} kind(s) not checked"),
        (n, 0) => format!("{n} Calico object(s) v2.6 will not read or enforce as v3.0 did"),
        (n, m) => format!("{n} Calico object(s) v2.6 will not read or enforce as v3.0 did; {m} kind(s) not checked"),
    };
    Done::ok(message).with_summary(summary).with_details(details)
}
