//! Task 7, "Verify and report": what the last observation of the pods showed (it is the one
//! that confirmed convergence, so nothing is run again), the pods at risk, and the next steps
//! the docs require: delete the migrated v3 data before any new migration attempt.

use super::{Context, Done, TaskResult};
use crate::calico::{generation, Component, Generation};
use crate::cluster::Datastore;
use crate::convergence::all_converged;

pub const NAME: &str = "Verify and report";

pub fn next_steps(datastore: Option<Datastore>) -> Vec<String> {
    let mut steps = vec![
        "use only the calicoctl of Calico v2.6 (v1.6.x) from now on; the docs: \"Do not use versions of calicoctl v3.0+ after aborting the upgrade\"".to_string(),
    ];
    match datastore {
        Some(Datastore::Etcd) | None => steps.push(
            "before any new migration attempt, delete the migrated v3 data (the `/calico/` prefix in etcd v3, e.g. `ETCDCTL_API=3 etcdctl del --prefix /calico/`), as the docs require; this tool does not delete it".to_string(),
        ),
        Some(Datastore::Kubernetes) => steps.push(
            "before any new upgrade attempt, remove the Calico v3 custom resources and their definitions (the `*.crd.projectcalico.org` CRDs) that the v3.0 manifest created; this tool does not delete them".to_string(),
        ),
    }
    steps
}

pub fn run(ctx: &mut Context) -> TaskResult {
    if ctx.options.check {
        return Ok(Done::skipped("check mode: nothing to verify"));
    }
    let Some(progress) = ctx.facts.progress.clone() else {
        return Ok(Done::skipped("the pods were not observed"));
    };
    let mut details: Vec<String> = progress
        .iter()
        .map(|p| {
            format!(
                "{}/{}: {}/{} pods Running and ready on the target images",
                p.kind.printed_kind(),
                p.name,
                p.ready,
                p.desired
            )
        })
        .collect();
    if let Some(targets) = ctx.facts.cluster.as_ref().map(|cluster| cluster.targets()) {
        for target in targets {
            details.push(format!("{} images: {}", target.name, target.images.join(", ")));
        }
    }
    let at_risk = ctx.facts.pods_at_risk.clone().unwrap_or_default();
    if !at_risk.is_empty() {
        details.push(format!(
            "{} pod(s) created since the upgrade have lost networking and need to be recreated: {}",
            at_risk.len(),
            at_risk.iter().map(|p| format!("{}/{}", p.namespace, p.name)).collect::<Vec<_>>().join(", ")
        ));
    }
    let datastore = ctx.facts.cluster.as_ref().map(|c| c.datastore);
    details.extend(next_steps(datastore).into_iter().map(|s| format!("next: {s}")));
    let converged = all_converged(&progress);
    // `--to-revision` may name any revision: only claim Calico v2 when its images say so.
    let on_v2 = ctx.facts.cluster.as_ref().is_some_and(|_| {
        let targets = ctx.cluster().targets();
        targets.first().is_some_and(|ds| generation(&ds.images, Component::Node) == Generation::V2)
    });
    let message = match (converged, on_v2) {
        (true, true) => "Calico v2.6 is running: every pod Running, ready and on the pre-upgrade images".to_string(),
        (true, false) => {
            "every pod Running and ready on the chosen revision's images, which are not Calico v2.x".to_string()
        }
        (false, _) => "the pods have not converged".to_string(),
    };
    Ok(Done::ok(message).with_details(details))
}
