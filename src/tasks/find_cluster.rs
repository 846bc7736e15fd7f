//! Task "Find the cluster": which cluster kubectl reaches with the run's kubeconfig and context,
//! read before anything touches the network (`app::identify`: the kubeconfig's path and where
//! it came from, `kubectl config view --minify`, and the contexts when the one asked for
//! cannot be used). No kubeconfig, no current context, an unknown context or a context whose
//! cluster has no server stop the run here with exit 3: kubectl would otherwise fall back to
//! `localhost:8080` and the run would spend its retries on a cluster that is not there.
//!
//! It runs beside `Find the tools` (the same stage of the playbook), so a run that lacks a tool
//! and a kubeconfig says both at once.

use super::{Context, Done, Stop, TaskResult};
use crate::exit::Exit;

pub const NAME: &str = "Find the cluster";

pub fn run(ctx: &mut Context) -> TaskResult {
    let Some(destination) = ctx.facts.destination.clone() else {
        return Ok(Done::skipped("which cluster kubectl reaches was not read"));
    };
    // The commands `app::identify` ran for it, listed under this task.
    if let Some(kubectl) = ctx.facts.kubectl.clone() {
        for invocation in [kubectl.config_view(), kubectl.contexts()] {
            ctx.take_if_prefetched(&invocation);
        }
    }
    if let Some((message, details)) = destination.problem(ctx.options.context.as_deref()) {
        return Err(Stop::new(Exit::Precondition, format!("{message}: nothing was changed")).with_details(details));
    }
    let details = destination.lines();
    let message = match &destination.kube {
        Some(kube) => format!(
            "context {} at {}{}, kubeconfig {}",
            kube.context,
            kube.server,
            if kube.user.is_empty() { String::new() } else { format!(" as {}", kube.user) },
            destination.kubeconfig.describe()
        ),
        None => destination.kubeconfig.describe(),
    };
    Ok(Done::ok(message).with_details(details))
}
