//! Task "Pods at risk": the docs warn that "any pods created after `calico-upgrade complete`
//! and before downgrading will lose networking", and leave it there. This task lists the
//! candidates: pods in all namespaces, not on the host network, created after the first v3.x
//! revision of the DaemonSet (the moment the upgrade reached calico-node), that have a network
//! to lose: scheduled to a node and not finished (`cluster::at_risk`). No command reports
//! when `complete` ran, so the list is worded as what was observed, never as fact, and it errs
//! on the side of listing too many.
//!
//! It only informs, so it never stands in the way: the inspection starts it ([`start`]) and it
//! runs in the background; `run` collects it after the wait (reported with the result), `plan`
//! right after the inspection. Its cost grows with the cluster's pod count, none of which waits
//! for it. It reads the API server's own pages ([`kubectl::PODS_PAGE`] pods each, `kubectl get --raw`),
//! one after another on a thread, and keeps only the pods at risk of each: the memory of the
//! tool and of each kubectl is one page's, whatever the cluster's size. A page that fails in a
//! way a retry can fix is read again, and the listing goes on from there. When it cannot be
//! had (a user who may list pods only in the Calico namespace, the API server away, output this
//! tool cannot read), the pods at risk are "unknown", with why and the command an admin can
//! run: never the run's failure.
//!
//! The report groups them by namespace with a ready-to-paste `kubectl delete pod -n NS …`; past
//! [`LIST_LIMIT`] pods it gives the count per namespace only, and the full list is in the JSON
//! (`pods_at_risk`) and in the journal (a `pods_at_risk` note line).

use std::collections::BTreeMap;
use std::sync::PoisonError;

use super::pods_listing::{self, read_page};
use super::{Context, Done, TaskResult};
use crate::cluster::{upgrade_time, UpgradeState};
use crate::exec::{ExecError, Output};
use crate::tools::kubectl::{self, PodSummary};

pub const NAME: &str = "Pods at risk";

/// Up to this many pods are named in the text report; beyond, they are counted per namespace.
pub const LIST_LIMIT: usize = 20;

/// What was observed, in one line: `3 pod(s) outside the host network were created after the
/// v3 upgrade began at T`.
pub fn headline(count: usize, since: &str) -> String {
    format!("{count} pod(s) outside the host network were created after the v3 upgrade began at {since}")
}

/// The warning and what to do, grouped by namespace: a `kubectl delete pod -n NS a b c` per
/// namespace, or past [`LIST_LIMIT`] the count per namespace and where the full list is.
pub fn advice(pods: &[PodSummary], when: &str) -> Vec<String> {
    let mut by_namespace: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for pod in pods {
        by_namespace.entry(&pod.namespace).or_default().push(&pod.name);
    }
    let mut lines = vec![format!(
        "pods created after `calico-upgrade complete` lose networking: recreate these {when} (delete them so that their controllers replace them)"
    )];
    if pods.len() <= LIST_LIMIT {
        for (namespace, names) in &by_namespace {
            lines.push(format!("kubectl delete pod -n {namespace} {}", names.join(" ")));
        }
    } else {
        let counts: Vec<String> =
            by_namespace.iter().map(|(namespace, names)| format!("{namespace}: {}", names.len())).collect();
        lines.push(format!("per namespace: {}", counts.join(", ")));
        lines.push(
            "the full list: `pods_at_risk` in `--output json`, and the `pods_at_risk` note in the journal".to_string(),
        );
    }
    lines
}

/// Start the listing of the pods created after `since` in the background: its first page now,
/// each next one as the one before ends. The inspection starts it with its round, before it
/// knows `since` ([`start_early`]), and says `since` once it does; any other caller starts it
/// knowing `since`. Started once per run: a listing already going on is left to go on.
pub fn start(ctx: &mut Context, since: &str) {
    if let Some(listing) = &ctx.pods_listing {
        let mut listing = listing.lock().unwrap_or_else(PoisonError::into_inner);
        if listing.since.is_empty() {
            listing.since = since.to_string();
        }
        return;
    }
    let kubectl = ctx.kubectl().clone();
    let listing = pods_listing::shared(since);
    ctx.start_pages_in_background(kubectl.pods_page(None), pods_listing::pager(&listing, kubectl));
    ctx.pods_listing = Some(listing);
}

/// Start the listing with the inspection's round, before the DaemonSet says from when pods are
/// at risk: the pages read until then keep every pod that could be (`run` keeps those created
/// after that moment). Its first page also answers whether the user may list pods, which
/// `Check permissions` would otherwise ask ([`first_page_read`]).
pub fn start_early(ctx: &mut Context) {
    start(ctx, "");
}

/// The listing's first page was read (the user may list pods in every namespace, so in the
/// Calico namespace): known without waiting, `false` while it is still being read.
pub fn first_page_read(ctx: &Context) -> bool {
    ctx.pods_listing
        .as_ref()
        .is_some_and(|listing| !listing.lock().unwrap_or_else(PoisonError::into_inner).read.is_empty())
}

pub fn run(ctx: &mut Context) -> TaskResult {
    let Some(since) = upgrade_time(&ctx.cluster().daemonset).map(str::to_string) else {
        ctx.facts.pods_at_risk = Some(Vec::new());
        return Ok(Done::skipped("no v3.x revision of the DaemonSet: no pod was created under Calico v3"));
    };
    let admin = admin_command(ctx.kubectl());
    let unknown = |why: String| {
        Done::skipped(format!("unknown: {why}")).with_summary(vec![format!(
            "an admin can list them: `{admin}`; those created after {since}, not on the host network, lose networking"
        )])
    };
    let kubectl = ctx.kubectl().clone();
    let first = kubectl.pods_page(None);
    // The inspection started it (then this does nothing).
    start(ctx, &since);
    let listing = ctx.pods_listing.take().expect("the listing was started");
    let what = "`kubectl get --raw /api/v1/pods`";
    let hiccups_before = ctx.hiccups.len();
    let result = ctx.take_pages(&first).unwrap_or_else(|| Err(ExecError::Io("the listing never started".into())));
    let mut listing = std::mem::take(&mut *listing.lock().unwrap_or_else(PoisonError::into_inner));
    for (invocation, output) in std::mem::take(&mut listing.read) {
        ctx.record(&invocation, &Ok(output));
    }
    if !result.as_ref().is_ok_and(Output::success) {
        // The page that failed, recorded; read again in the foreground when a retry can fix
        // its failure (`run_raw` retries those, each attempt recorded), and the listing goes on
        // from there, page by page.
        let mut page = listing.next.clone().unwrap_or_else(|| first.clone());
        ctx.record(&page, &result);
        if let Err(ExecError::Interrupted) = result {
            // The operator stops the run: here, not at the next task's command.
            return Err(super::failures::exec_stop(&page, &ExecError::Interrupted));
        }
        let why = |failed: Result<Output, ExecError>| match failed {
            Ok(output) => format!("{what} failed: {}", kubectl::failure_message(&output.stderr)),
            Err(error) => format!("{what} did not finish: {error}"),
        };
        let retry = match &result {
            Ok(output) => kubectl::transient_failure(&output.stderr),
            Err(ExecError::TimedOut { after, .. }) => {
                Some(format!("no answer within {}", humantime::format_duration(*after)))
            }
            Err(_) => None,
        };
        let Some(cause) = retry else { return Ok(unknown(why(result))) };
        ctx.hiccups.push(cause);
        loop {
            let output = match ctx.run_raw(&page) {
                Ok(output) if output.success() => output,
                failed => return Ok(unknown(why(failed))),
            };
            match read_page(&mut listing, &kubectl, &output) {
                Some(next) => page = next,
                None => break,
            }
        }
    }
    // Pages read before the DaemonSet was read kept every pod that could be at risk.
    listing.at_risk.retain(|pod| crate::cluster::at_risk(pod, &since));
    if let Some(unreadable) = listing.unreadable {
        return Ok(unknown(format!("{} (the journal has its output)", unreadable.headline())));
    }
    let ridden_out = super::context::ridden_out(&ctx.hiccups[hiccups_before..], ("page read", "page reads"));
    let at_risk = listing.at_risk;
    ctx.exec.note("pods_at_risk", serde_json::json!({ "since": since, "pods": at_risk, "listed": listing.pods }));
    let mut done = if at_risk.is_empty() {
        Done::ok(format!(
            "no scheduled, unfinished pod outside the host network was created after the v3 upgrade began at {since}"
        ))
    } else {
        let when = if ctx.cluster().state == UpgradeState::AlreadyDowngraded {
            // Some of them may have been created after the rollback, with v2 networking.
            "unless they were created after the rollback"
        } else if ctx.options.check {
            "once the downgrade is done"
        } else {
            "now"
        };
        Done::ok(headline(at_risk.len(), &since)).with_summary(advice(&at_risk, when))
    };
    ctx.facts.pods_at_risk = Some(at_risk);
    done.summary.extend(ridden_out);
    Ok(done)
}

/// What an admin runs to list every pod with its creation time, newest last.
fn admin_command(kubectl: &kubectl::Kubectl) -> String {
    let mut command = kubectl.for_people().all_pods();
    command.args.retain(|a| !a.starts_with("--kubeconfig=") && !a.starts_with("--context="));
    command.args.push("--sort-by=.metadata.creationTimestamp".to_string());
    command.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(namespace: &str, name: &str) -> PodSummary {
        PodSummary {
            namespace: namespace.into(),
            name: name.into(),
            created: "2026-11-23T21:31:37Z".into(),
            host_network: false,
            node: Some("node-1".into()),
            phase: Some("Running".into()),
        }
    }

    #[test]
    fn a_few_pods_get_one_delete_command_per_namespace() {
        let pods = [pod("default", "web-1"), pod("shop", "cart-1"), pod("default", "web-2")];
        let lines = advice(&pods, "once the downgrade is done");
        assert_eq!(lines[1..], ["kubectl delete pod -n default web-1 web-2", "kubectl delete pod -n shop cart-1"]);
        assert!(lines[0].contains("once the downgrade is done"), "{lines:?}");
    }

    #[test]
    fn many_pods_are_counted_per_namespace() {
        let pods: Vec<PodSummary> =
            (0..300).map(|i| pod(if i % 3 == 0 { "shop" } else { "default" }, &format!("web-{i}"))).collect();
        let lines = advice(&pods, "now");
        assert_eq!(lines.len(), 3, "{lines:?}");
        assert_eq!(lines[1], "per namespace: default: 200, shop: 100");
        assert!(lines.iter().all(|l| l.len() < 200), "{lines:?}");
    }
}
