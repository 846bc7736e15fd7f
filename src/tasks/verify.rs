//! Task 7, "Verify and report": what the last observation of the pods showed (it is the one
//! that confirmed convergence, so nothing is run again), what of Calico v3.0 the rollback left
//! (a Typha still running, `calico-config`'s v3.0 CNI configuration), the next steps the docs
//! require (delete the migrated v3 data before any new migration attempt) and the way back.
//!
//! The claim "Calico v2.6 is running" is made only when the pods converged on v2.x images,
//! nothing of the namespace's Calico installation still runs v3.0 or went unread, and no Calico
//! object v3.0 wrote is one v2.6 will not read or enforce (`v3_data`), or went unchecked;
//! otherwise the message says what remains and what was not checked.

use super::{Context, Done, TaskResult};
use crate::calico::{generation, Component, Generation};
use crate::cluster::Datastore;
use crate::convergence::all_converged;

pub const NAME: &str = "Verify and report";

/// The CustomResourceDefinitions (group `crd.projectcalico.org`) of the Kubernetes API datastore
/// manifests, as the Calico docs published them (projectcalico/calico):
/// - v2.6: `v2.6/getting-started/kubernetes/installation/hosted/kubernetes-datastore/calico-networking/1.7/calico.yaml`
///   (and `policy-only/1.7/calico.yaml`, which has all but bgppeers);
/// - v3.0: `v3.0/getting-started/kubernetes/installation/hosted/kubernetes-datastore/calico-networking/1.7/calico.yaml`
///   (and `policy-only/1.7/calico.yaml`).
pub const V2_6_KDD_CRDS: &[&str] =
    &["globalfelixconfigs", "bgppeers", "globalbgpconfigs", "ippools", "globalnetworkpolicies"];
pub const V3_0_KDD_CRDS: &[&str] = &[
    "felixconfigurations",
    "bgppeers",
    "bgpconfigurations",
    "ippools",
    "clusterinformations",
    "globalnetworkpolicies",
    "networkpolicies",
];

/// The CRDs Calico v3.0 added that v2.6 does not use: the only ones safe to remove after the
/// downgrade (bgppeers, ippools and globalnetworkpolicies hold the live v2.6 configuration).
pub fn v3_only_crds() -> Vec<String> {
    V3_0_KDD_CRDS
        .iter()
        .filter(|crd| !V2_6_KDD_CRDS.contains(crd))
        .map(|crd| format!("{crd}.crd.projectcalico.org"))
        .collect()
}

/// The next steps, each as (a short line for the screen, the whole sentence).
pub fn next_steps(datastore: Option<Datastore>) -> Vec<(String, String)> {
    let mut steps = vec![(
        "use only calicoctl v1.6.x (Calico v2.6's) from now on".to_string(),
        "use only the calicoctl of Calico v2.6 (v1.6.x) from now on; the docs: \"Do not use versions of calicoctl v3.0+ after aborting the upgrade\"".to_string(),
    )];
    match datastore {
        Some(Datastore::Etcd) | None => steps.push((
            "before any new migration attempt, delete the migrated v3 data: `ETCDCTL_API=3 etcdctl del --prefix /calico/`".to_string(),
            "before any new migration attempt, delete the migrated v3 data (the `/calico/` prefix in etcd v3, e.g. `ETCDCTL_API=3 etcdctl del --prefix /calico/`), as the docs require; this tool does not delete it".to_string(),
        )),
        Some(Datastore::Kubernetes) => {
            let crds = v3_only_crds();
            steps.push((
                format!("before any new upgrade attempt, you may remove the CRDs only v3.0 uses: `kubectl delete crd {}`", crds.join(" ")),
                format!(
                    "before any new upgrade attempt, you may remove the CRDs that Calico v3.0 added and v2.6 does not use, with the v3 objects in them: `kubectl delete crd {}`; never delete {}: Calico v2.6 keeps its configuration there; this tool deletes nothing",
                    crds.join(" "),
                    V2_6_KDD_CRDS.iter().map(|c| format!("{c}.crd.projectcalico.org")).collect::<Vec<_>>().join(", ")
                ),
            ))
        }
    }
    steps
}

/// What of Calico v3.0 the run leaves in the namespace, each as (what, the step that fits).
pub fn remains(cluster: &super::Cluster, namespace: &str) -> Vec<(String, String)> {
    let typha_service = cluster.calico_config.as_ref().and_then(|c| c.typha_service_name.clone());
    let mut left: Vec<(String, String)> = cluster
        .others
        .iter()
        .filter_map(|other| {
            let step = super::inspect::other_step(other, namespace, typha_service.as_deref())?;
            Some((format!("{} ({})", other.reference(), other.size()), step))
        })
        .collect();
    if let Some(config) = cluster.calico_config.as_ref().filter(|c| c.holds_v3_conflist()) {
        left.push((format!("{}'s CNI conflist", config.name), super::CalicoConfig::conflist_step(&config.name, true)));
    }
    left
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
    let mut summary = Vec::new();
    let datastore = ctx.facts.cluster.as_ref().map(|c| c.datastore);
    for (short, whole) in next_steps(datastore) {
        summary.push(format!("next: {short}"));
        details.push(format!("next: {whole}"));
    }
    let left = ctx.facts.cluster.as_ref().map(|c| remains(c, &ctx.options.namespace)).unwrap_or_default();
    summary.extend(left.iter().map(|(_, step)| format!("left: {step}")));
    summary.extend(super::managers::warnings(ctx));
    if let Some(cluster) = &ctx.facts.cluster {
        for command in &cluster.way_back.commands {
            summary.push(format!("way back: {command}"));
        }
        for what in &cluster.way_back.cannot_undo {
            details.push(format!("cannot be undone here: {what}"));
        }
    }
    let converged = all_converged(&progress);
    // `--to-revision` may name any revision: only claim Calico v2 when its images say so.
    let on_v2 = ctx.facts.cluster.as_ref().is_some_and(|_| {
        let targets = ctx.cluster().targets();
        targets.first().is_some_and(|ds| generation(&ds.images, Component::Node) == Generation::V2)
    });
    let workloads = progress.iter().map(|p| p.name.as_str()).collect::<Vec<_>>().join(" and ");
    // What could not be read cannot be claimed to be on v2.6 either.
    let unchecked = ctx.facts.cluster.as_ref().and_then(|c| c.calico_config.as_ref()).and_then(|config| {
        config.unread.as_ref().map(|why| format!("not checked: {}'s CNI configuration ({why})", config.name))
    });
    // What v3.0 wrote that v2.6 will not read or enforce (a Calico NetworkPolicy no longer
    // enforced), or could not be checked: named in the verdict, never passed over.
    let not_read = ctx.facts.not_read_by_v2_6.as_ref().and_then(super::v3_data::NotRead::verdict);
    let message = match (converged, on_v2) {
        (true, true) if left.is_empty() && unchecked.is_none() && not_read.is_none() => {
            "Calico v2.6 is running: every pod Running, ready and on the pre-upgrade images".to_string()
        }
        (true, true) => {
            let mut message = format!("{workloads} {} Calico v2.6", if progress.len() == 1 { "runs" } else { "run" });
            if !left.is_empty() {
                let what: Vec<&str> = left.iter().map(|(what, _)| what.as_str()).collect();
                message.push_str(&format!("; left on v3.0: {}", what.join(", ")));
            }
            if let Some(unchecked) = unchecked {
                message.push_str(&format!("; {unchecked}"));
            }
            if let Some(not_read) = not_read {
                message.push_str(&format!("; {not_read}"));
            }
            message
        }
        (true, false) => {
            "every pod Running and ready on the chosen revision's images, which are not Calico v2.x".to_string()
        }
        (false, _) => "the pods have not converged".to_string(),
    };
    Ok(Done::ok(message).with_summary(summary).with_details(details))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_advice_never_names_a_crd_that_calico_v2_6_uses() {
        assert_eq!(
            v3_only_crds(),
            [
                "felixconfigurations.crd.projectcalico.org",
                "bgpconfigurations.crd.projectcalico.org",
                "clusterinformations.crd.projectcalico.org",
                "networkpolicies.crd.projectcalico.org"
            ]
        );
        let advice =
            next_steps(Some(Datastore::Kubernetes)).into_iter().map(|(_, whole)| whole).collect::<Vec<_>>().join("\n");
        let command = advice.split('`').nth(1).unwrap();
        for crd in V2_6_KDD_CRDS {
            assert!(!command.split(' ').any(|w| w == format!("{crd}.crd.projectcalico.org")), "{command}");
        }
    }
}
