//! Task "Stop Typha" (`--stop-typha`): Calico v3.0's Kubernetes-API-datastore manifests add a
//! `calico-typha` Deployment, which Calico v2.6 neither ships nor uses (its calico-node template
//! has no `FELIX_TYPHAK8SSERVICENAME`), so there is no revision to roll it back to. Once
//! calico-node runs v2.6 (the task comes right after the wait converged), it is scaled to 0:
//! `kubectl scale deployment/calico-typha -n NS --replicas=0`, recorded with the command that
//! puts it back (`--replicas=N`, its size before), then read back until the Deployment's
//! controller reports no replica left (`.status.replicas`, which counts the pods not being
//! deleted), within `--timeout`: the report claims Typha stopped only from that read. Without
//! the flag the report names the command and the tool changes nothing.

use super::{Context, Done, OtherWorkload, Stop, TaskResult};
use crate::exit::Exit;
use crate::tools::kubectl::{self, WorkloadKind};

pub const NAME: &str = "Stop Typha";

/// The Typha workloads that run Calico v3 pods.
pub fn running(ctx: &Context) -> Vec<OtherWorkload> {
    ctx.cluster().others.iter().filter(|o| o.typha && o.runs_v3()).cloned().collect()
}

pub fn run(ctx: &mut Context) -> TaskResult {
    let typhas = running(ctx);
    if typhas.is_empty() {
        return Ok(Done::skipped("no Calico v3 Typha runs in the namespace"));
    }
    let namespace = ctx.options.namespace.clone();
    let kubectl = ctx.kubectl().clone();
    let mut done = Vec::new();
    let mut way_back = Vec::new();
    for typha in &typhas {
        let scale = kubectl.scale(&namespace, &typha.name, 0);
        let back = kubectl.for_people().scale(&namespace, &typha.name, typha.desired).to_string();
        if ctx.options.check {
            ctx.plan_command(&scale);
            done.push(format!("{} ({} → 0 replicas)", typha.reference(), typha.desired));
            way_back.push(back);
            continue;
        }
        let output = ctx.run(&scale)?;
        let scaled = kubectl::parse_scale(&typha.name, &output).map_err(|e| ctx.unreadable(&scale, &output, e))?;
        if !scaled {
            return Err(super::refused(&scale, &output));
        }
        ctx.facts.changed = true;
        stopped(ctx, &namespace, &typha.name)?;
        if let Some(other) = ctx.facts.cluster.as_mut().and_then(|c| c.others.iter_mut().find(|o| o.name == typha.name))
        {
            other.desired = 0;
        }
        done.push(format!("{} ({} → 0 replicas)", typha.reference(), typha.desired));
        way_back.push(back);
    }
    if let Some(cluster) = ctx.facts.cluster.as_mut() {
        cluster.way_back.commands.extend(way_back.iter().cloned());
    }
    let verb = if ctx.options.check { "would scale" } else { "scaled" };
    let mut details = Vec::new();
    if !ctx.options.check {
        details.push("read back: each Deployment's controller counts no replica".to_string());
    }
    Ok(Done::changed(format!("{verb} Typha to 0, which Calico v2.6 does not use: {}", done.join(", ")))
        .with_summary(way_back.iter().map(|c| format!("way back: {c}")).collect())
        .with_details(details))
}

/// Read `deployment/NAME` back every `--poll-interval` until its controller has seen the new
/// size and counts no replica; a failure (exit 4) when that does not happen within
/// `--stall-timeout` (or `--timeout`, when given and shorter): scaling to 0 is one step.
fn stopped(ctx: &mut Context, namespace: &str, name: &str) -> Result<(), Stop> {
    let read = ctx.kubectl().one_workload_status(WorkloadKind::Deployment, namespace, name);
    let limit = ctx.options.timeout.map_or(ctx.options.stall_timeout, |t| t.min(ctx.options.stall_timeout));
    let deadline = ctx.exec.now() + limit;
    loop {
        let output = ctx.run(&read)?;
        if !output.success() {
            return Err(super::refused(&read, &output));
        }
        let statuses = kubectl::parse_workload_status(&output).map_err(|e| ctx.unreadable(&read, &output, e))?;
        let Some(status) = statuses.into_iter().find(|s| s.name == name) else {
            let missing = crate::tools::Unrecognised::new(
                "`kubectl get deployment/… -o custom-columns=…` table",
                format!("no row for deployment/{name}"),
                &output.stdout,
            );
            return Err(ctx.unreadable(&read, &output, missing));
        };
        if status.observed_generation >= status.generation && status.current == 0 && status.desired == 0 {
            return Ok(());
        }
        if ctx.exec.now() >= deadline {
            return Err(Stop::new(
                Exit::NotConverged,
                format!(
                    "deployment/{name} was scaled to 0, but its controller still counts {} replica(s) after {}",
                    status.current,
                    crate::pace::duration_words(limit)
                ),
            )
            .with_safe_next(format!("look at its pods: `kubectl get pods -n {namespace} -l k8s-app={name}`")));
        }
        ctx.observer.progress(&format!("deployment/{name}: {} replica(s) left", status.current));
        ctx.pause_between(ctx.options.poll_interval, &format!("two looks at deployment/{name}"))?;
    }
}
