//! What blocks the rollout, named during the wait as soon as it is seen (`crate::blockers`
//! judges the rows): each pod of the workloads that shows a new blocking reason is read whole
//! once (`kubectl get pod NAME -o json`, retried as the wait's reads are) when that adds the
//! image and the kubelet's or the scheduler's message, then told (a line above the live line,
//! a line of text output) and kept for the result and the JSON (`state_after.wait.blockers`).
//! `status` names them from its looks the same way.

use std::collections::BTreeSet;
use std::time::SystemTime;

use crate::blockers::{self, Blocker, Cause};
use crate::convergence::Target;
use crate::tasks::{Context, Stop};
use crate::tools::kubectl::{self, PodStatus};

/// The blockers already named: pod and reason family.
pub(crate) fn named(ctx: &Context) -> BTreeSet<(String, String)> {
    ctx.facts.blockers.iter().map(|b| blockers::key(&b.pod, &b.reason)).collect()
}

/// What blocks `pod` that was not named yet, if it is a pod of the workloads.
pub(crate) fn new_cause(
    targets: &[Target],
    named: &BTreeSet<(String, String)>,
    pod: &PodStatus,
    now: SystemTime,
) -> Option<Cause> {
    if !targets.iter().any(|t| t.owns(pod)) {
        return None;
    }
    let cause = blockers::cause(pod, now)?;
    (!named.contains(&blockers::key(&pod.name, &cause.reason()))).then_some(cause)
}

/// Every pod of `pods` that blocks and was not named yet.
pub(crate) fn new_causes<'a>(
    ctx: &Context,
    targets: &[Target],
    pods: impl IntoIterator<Item = &'a PodStatus>,
) -> Vec<(PodStatus, Cause)> {
    let named = named(ctx);
    let now = ctx.exec.wall_clock();
    pods.into_iter().filter_map(|p| new_cause(targets, &named, p, now).map(|c| (p.clone(), c))).collect()
}

/// Name each: the pod read whole when that adds to its row (a pod gone meanwhile, or a read
/// that failed, is named from its row, saying why the message is missing), then told and kept.
pub(crate) fn name(ctx: &mut Context, found: Vec<(PodStatus, Cause)>) -> Result<(), Stop> {
    let namespace = ctx.options.namespace.clone();
    for (pod, cause) in found {
        let detail = if cause.wants_detail() {
            let invocation = ctx.kubectl().pod(&namespace, &pod.name);
            Some(match ctx.read_through(&invocation) {
                Ok(Ok(output)) => kubectl::parse_pod(&output).map_err(|e| e.headline()),
                Ok(Err(cause)) => Err(cause),
                // A signal ends the wait as anywhere else.
                Err(stop) if stop.exit == crate::exit::Exit::Interrupted => return Err(stop),
                // NotFound (the pod went meanwhile), Forbidden: the row still names it.
                Err(stop) => Err(stop.message),
            })
        } else {
            None
        };
        let look_further = ctx.kubectl().for_people().describe_pod(&namespace, &pod.name).to_string();
        let detail = match &detail {
            Some(Ok(detail)) => Ok(detail),
            Some(Err(why)) => Err(why.as_str()),
            None => Err("not read"),
        };
        let blocker = Blocker::new(&pod, &cause, detail, look_further);
        ctx.observer.blocked(&format!("blocked: {}", blocker.words()));
        ctx.facts.blockers.push(blocker);
    }
    Ok(())
}

/// At the end of the wait: which blockers the last view still shows.
pub(crate) fn settle(ctx: &mut Context) {
    let now = ctx.exec.wall_clock();
    let pods = ctx.facts.pods.clone().unwrap_or_default();
    for blocker in &mut ctx.facts.blockers {
        let key = blockers::key(&blocker.pod, &blocker.reason);
        blocker.still = pods.iter().any(|p| {
            p.name == blocker.pod && blockers::cause(p, now).is_some_and(|c| blockers::key(&p.name, &c.reason()) == key)
        });
    }
}
