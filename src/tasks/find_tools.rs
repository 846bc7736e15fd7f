//! Task 1, "Find the tools": resolve kubectl, calicoctl and calico-upgrade, run each one's
//! version command, and check that every calicoctl on `PATH` is the Calico v2.6 client (v1.x).
//!
//! The docs say "Remove any upgraded `calicoctl` instances and install the previous
//! `calicoctl`". The trap: the calicoctl of Calico v3.0.0–v3.0.9 is numbered v2.0.x, so a check
//! for "below v3.0" would accept it. Only a v1.x client passes; every other calicoctl found is
//! named with its path and version. calico-upgrade may be missing here: it is only required
//! for an etcd datastore, which inspection decides.

use std::path::{Path, PathBuf};

use super::{exec_stop, refused, CalicoctlSeen, Context, Done, FoundTool, Stop, TaskResult};
use crate::exec::{ExecError, Invocation, Output, Tool};
use crate::exit::Exit;
use crate::tools::kubectl::Kubectl;
use crate::tools::locate::{all_on_path, locate, Found};
use crate::tools::version::display;
use crate::tools::{calico_upgrade, calicoctl, kubectl};

pub const NAME: &str = "Find the tools";

fn missing(tool: Tool, option: &str) -> Stop {
    Stop::new(
        Exit::Precondition,
        format!(
            "`{tool}` was not found on PATH; install it or pass {option} (or CALICO_DOWNGRADE_{})",
            option.trim_start_matches("--").replace('-', "_").to_uppercase()
        ),
    )
}

/// `all`: also calico-upgrade and every calicoctl (`status` needs kubectl only). Every tool is
/// looked at before the task says what is wrong, so one run names every tool to install or
/// replace.
pub fn run(ctx: &mut Context, all: bool) -> TaskResult {
    let options = ctx.options;
    let environment = ctx.environment;
    let search_path = environment.path.as_deref();
    let mut problems: Vec<Stop> = Vec::new();

    // Every version command is independent of the others: they start together.
    let kubectl_path =
        locate("kubectl", options.kubectl.as_deref(), search_path, &environment.cwd).path().map(Path::to_path_buf);
    let upgrade_found = locate("calico-upgrade", options.calico_upgrade.as_deref(), search_path, &environment.cwd);
    let chosen = locate("calicoctl", options.calicoctl.as_deref(), search_path, &environment.cwd);
    let mut paths: Vec<PathBuf> = chosen.path().map(Path::to_path_buf).into_iter().collect();
    for path in all_on_path("calicoctl", search_path, &environment.cwd) {
        if !paths.contains(&path) {
            paths.push(path);
        }
    }
    let builder =
        kubectl_path.clone().map(|program| Kubectl { program, connection: options.connection(), client: None });
    let mut later: Vec<Invocation> = upgrade_found.path().map(calico_upgrade::version_invocation).into_iter().collect();
    if all {
        later.extend(paths.iter().map(|path| calicoctl::version_invocation(path)));
    }
    let first: Vec<Invocation> = builder.iter().map(Kubectl::version).collect();
    let mut results = ctx.prefetch(&first.iter().collect::<Vec<_>>(), later).into_iter();

    // kubectl
    match (&builder, first.first()) {
        (Some(builder), Some(invocation)) => {
            let parsed = version_output(ctx, invocation, results.next()).and_then(|output| {
                kubectl::parse_client_version(&output.stdout).map_err(|e| ctx.unreadable(invocation, &output, e))
            });
            match parsed {
                Ok(version) => {
                    ctx.facts.tools.kubectl =
                        Some(FoundTool { path: builder.program.clone(), version: display(&version) });
                    ctx.facts.kubectl = Some(Kubectl { client: Some(version), ..builder.clone() });
                }
                Err(stop) => problems.push(stop),
            }
        }
        _ => problems.push(missing(Tool::Kubectl, "--kubectl")),
    }

    // calico-upgrade (optional until the datastore is known; `status` shows the migration
    // state with it)
    if let Some(path) = upgrade_found.path().map(Path::to_path_buf) {
        let invocation = calico_upgrade::version_invocation(&path);
        let parsed = version_output(ctx, &invocation, None).and_then(|output| {
            calico_upgrade::parse_version(&output.stdout).map_err(|e| ctx.unreadable(&invocation, &output, e))
        });
        match parsed {
            Ok(version) => {
                ctx.facts.tools.calico_upgrade = Some(FoundTool { path, version: display(&version) });
                ctx.facts.calico_upgrade_version = Some(version);
            }
            Err(stop) => problems.push(stop),
        }
    }

    // calicoctl: the chosen one, and every one on PATH.
    if all {
        if paths.is_empty() {
            problems.push(missing(Tool::Calicoctl, "--calicoctl"));
        }
        let mut offending = Vec::new();
        for path in &paths {
            let invocation = calicoctl::version_invocation(path);
            let parsed = version_output(ctx, &invocation, None).and_then(|output| {
                calicoctl::parse_version(&output).map_err(|e| ctx.unreadable(&invocation, &output, e))
            });
            let parsed = match parsed {
                Ok(parsed) => parsed,
                Err(stop) => {
                    problems.push(stop);
                    continue;
                }
            };
            if !parsed.is_v2_6_client() {
                offending.push(format!(
                    "`{}` is calicoctl {}, {}",
                    path.display(),
                    parsed.client_text,
                    if parsed.client.major == 2 && parsed.client.minor == 0 {
                        "the client of Calico v3.0 (numbered v2.0.x), which speaks the v3 data model"
                    } else {
                        "a client of Calico v3.x or later"
                    }
                ));
            }
            if chosen.path() == Some(path.as_path()) {
                ctx.facts.tools.calicoctl = Some(FoundTool { path: path.clone(), version: parsed.client_text.clone() });
            }
            ctx.facts.tools.calicoctls.push(CalicoctlSeen { path: path.clone(), version: parsed });
        }
        if !offending.is_empty() {
            problems.push(
                Stop::new(
                    Exit::Precondition,
                    "a calicoctl newer than Calico v2.6's is installed; the docs: \"Do not use versions of calicoctl v3.0+ after aborting the upgrade\"",
                )
                .with_details(
                    offending
                        .into_iter()
                        .chain(["remove or rename it, and install the calicoctl of Calico v2.6 (v1.6.x, e.g. v1.6.5 for Calico v2.6.12)".to_string()])
                        .collect(),
                ),
            );
        }
    }

    if !problems.is_empty() {
        if all && matches!(upgrade_found, Found::Missing) {
            problems.push(Stop::new(
                Exit::Precondition,
                "calico-upgrade was not found on PATH: it is needed if the datastore is etcd (install it or pass --calico-upgrade)",
            ));
        }
        return Err(together(problems));
    }

    let tools = &ctx.facts.tools;
    let mut message = vec![format!("kubectl {}", tools.kubectl.as_ref().map_or("", |t| t.version.as_str()))];
    if let Some(calicoctl) = &tools.calicoctl {
        message.push(format!("calicoctl {}", calicoctl.version));
    }
    match &tools.calico_upgrade {
        Some(upgrade) => message.push(format!("calico-upgrade {}", upgrade.version)),
        None if all => message.push("calico-upgrade not found (needed only with an etcd datastore)".to_string()),
        None => {}
    }
    let mut details: Vec<String> = Vec::new();
    if let Some(t) = &tools.kubectl {
        details.push(format!("kubectl: {}", t.path.display()));
    }
    for seen in &tools.calicoctls {
        details.push(format!("calicoctl: {} ({})", seen.path.display(), seen.version.client_text));
    }
    if let Some(t) = &tools.calico_upgrade {
        details.push(format!("calico-upgrade: {}", t.path.display()));
    }
    if all && matches!(upgrade_found, Found::Missing) {
        details.push("calico-upgrade: not on PATH".to_string());
    }
    Ok(Done::ok(message.join(", ")).with_details(details))
}

/// Several problems as one: the first one's exit code, every message as a line.
fn together(mut problems: Vec<Stop>) -> Stop {
    if problems.len() == 1 {
        return problems.remove(0);
    }
    let exit = problems[0].exit;
    let message = format!("{} problems with the tools: nothing was changed", problems.len());
    let details = problems
        .into_iter()
        .flat_map(|stop| std::iter::once(stop.message).chain(stop.details.into_iter().map(|d| format!("  {d}"))))
        .collect();
    Stop::new(exit, message).with_details(details)
}

/// Run a version command; a binary that is missing or not executable is a precondition
/// failure (exit 3), any other failure to run is exit 1.
fn version_output(
    ctx: &mut Context,
    invocation: &Invocation,
    result: Option<Result<Output, ExecError>>,
) -> Result<Output, Stop> {
    let result = match result {
        Some(result) => result,
        None => ctx.run_raw(invocation),
    };
    let output = result.map_err(|error| {
        let stop = exec_stop(invocation, &error);
        match error {
            ExecError::NotFound(_) | ExecError::PermissionDenied(_) => Stop { exit: Exit::Precondition, ..stop },
            _ => stop,
        }
    })?;
    if output.success() || invocation.tool == Tool::Calicoctl {
        // calicoctl's exit code says nothing about the client version (v2.0.x exits 1 when
        // the datastore has no ClusterInformation): its text decides.
        Ok(output)
    } else {
        Err(refused(invocation, &output))
    }
}
