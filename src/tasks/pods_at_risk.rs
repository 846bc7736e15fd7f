//! Task 3, "Pods at risk": the docs warn that "any pods created after `calico-upgrade
//! complete` and before downgrading will lose networking", and leave it there. This task
//! lists them: pods in all namespaces, not on the host network, created after the first
//! v3.x revision of the DaemonSet (the moment the upgrade reached calico-node; no command
//! reports when `complete` ran, so this errs on the side of listing too many).

use super::{Context, Done, TaskResult};
use crate::cluster::{decide_pods_at_risk, upgrade_time, UpgradeState};
use crate::tools::kubectl;

pub const NAME: &str = "Pods at risk";

pub const WARNING: &str = "pods created after `calico-upgrade complete` and before the downgrade lose networking; \
recreate them (delete them so that their controllers replace them) once the downgrade is done";

pub fn run(ctx: &mut Context) -> TaskResult {
    let Some(since) = upgrade_time(&ctx.cluster().daemonset).map(str::to_string) else {
        ctx.facts.pods_at_risk = Some(Vec::new());
        return Ok(Done::skipped("no v3.x revision of the DaemonSet: no pod was created under Calico v3"));
    };
    let invocation = ctx.kubectl().all_pods();
    let output = ctx.run_ok(&invocation)?;
    let pods = kubectl::parse_all_pods(&output).map_err(|e| ctx.unrecognised(&invocation, e))?;
    let at_risk = decide_pods_at_risk(&pods, &since);
    let done = if at_risk.is_empty() {
        Done::ok(format!("no pod outside the host network was created since the upgrade ({since})"))
    } else {
        let mut details: Vec<String> =
            at_risk.iter().map(|p| format!("{}/{} (created {})", p.namespace, p.name, p.created)).collect();
        details.push(format!("warning: {WARNING}"));
        let verb = if ctx.cluster().state == UpgradeState::AlreadyDowngraded {
            // Some of them may have been created after the rollback, with v2 networking.
            "may have lost networking"
        } else {
            "will lose networking"
        };
        Done::ok(format!("{} pod(s) created since the upgrade ({since}) {verb}", at_risk.len())).with_details(details)
    };
    ctx.facts.pods_at_risk = Some(at_risk);
    Ok(done)
}
