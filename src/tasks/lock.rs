//! Task "Lock the cluster", right before the first change (`run`, `abort`): two runs against one
//! cluster, from two shells or two bastions, never interleave their changes. The lock is a
//! ConfigMap in the Calico namespace ([`crate::lease`]): `kubectl create` makes it atomically,
//! a thread renews it while the run works, and [`release`] deletes it on every way the run ends
//! (signals included; a second signal or SIGKILL leaves it to expire).
//!
//! Held by a live run: exit 3, nothing changed, naming who holds it (host, user, pid, command),
//! since when, and how old its last renewal is. Held by a run whose lease clearly expired: taken
//! over (a compare-and-swap), and the report says whose it was. In check mode (`plan`) the lock
//! is only read: the plan says whether `run` would find it free.
//!
//! The lock does not stand in for inspection: a run that waited for another, or that comes
//! after one, decides from what it reads (a rollback to an explicit revision is skipped when
//! the template already has its images, and a revision renumbered by another run is looked up
//! again by its images).

use std::time::SystemTime;

use super::{refused, Context, Done, LockHold, Stop, TaskResult};
use crate::exec::Invocation;
use crate::exit::Exit;
use crate::lease::{self, Found, Holder};
use crate::tools::kubectl::{self, Kubectl};

pub const NAME: &str = "Lock the cluster";

/// `configmap/calico-downgrade-lock in kube-system`.
fn object(namespace: &str) -> String {
    format!("configmap/{} in {namespace}", lease::NAME)
}

/// This run, as the lock names it.
fn me(ctx: &Context, now: SystemTime) -> Holder {
    let environment = ctx.environment;
    Holder {
        host: environment.host.clone(),
        user: environment.user.clone(),
        pid: environment.pid,
        command: environment.command_line.clone(),
        started: lease::rfc3339(now),
        renewed: lease::rfc3339(now),
        lease_seconds: lease::LEASE.as_secs(),
    }
}

/// Start the lock's `kubectl create` with the inspection (`run`): it runs while the cluster is
/// read and the rights checked, and `Lock the cluster` takes its result, so taking the lock
/// adds no round trip before the first change.
pub fn start_ahead(ctx: &mut Context) {
    if ctx.options.check || !matches!(ctx.lock, LockHold::Free) {
        return;
    }
    let holder = me(ctx, ctx.exec.wall_clock());
    let create = ctx.kubectl().create_lock(&ctx.options.namespace, &holder.data());
    ctx.start_lock_in_background(create);
    ctx.lock = LockHold::Creating(holder);
}

/// A run that ended before `Lock the cluster` took the create started ahead: wait for it, and
/// when it made the lock, hand it to [`release`].
pub fn settle_ahead(ctx: &mut Context) {
    if !matches!(ctx.lock, LockHold::Creating(_)) {
        return;
    }
    let LockHold::Creating(holder) = std::mem::take(&mut ctx.lock) else { return };
    let create = ctx.kubectl().create_lock(&ctx.options.namespace, &holder.data());
    if let Some(Ok(output)) = ctx.take_if_prefetched(&create) {
        if output.success() {
            ctx.lock = LockHold::Held { used: false };
        }
    }
}

pub fn run(ctx: &mut Context) -> TaskResult {
    let namespace = ctx.options.namespace.clone();
    let kubectl = ctx.kubectl().clone();
    if ctx.options.check {
        return look(ctx, &kubectl, &namespace);
    }
    // The create started with the inspection, if it was (its result is taken below).
    let holder = match std::mem::take(&mut ctx.lock) {
        LockHold::Creating(holder) => holder,
        _ => me(ctx, ctx.exec.wall_clock()),
    };
    for _ in 0..2 {
        let create = kubectl.create_lock(&namespace, &holder.data());
        // A create the server never received (refused: the API server restarting) is made
        // again; one whose answer was lost is not repeated: it fails below, saying that the
        // lock may exist and when it expires.
        let output = match ctx.run_mutation(&create, &mut |_| Ok(super::Landed::Unknown))? {
            super::Mutation::Answered(result) | super::Mutation::Landed(result) => {
                result.map_err(|error| super::exec_stop(&create, &error))?
            }
        };
        if output.success() {
            let created = kubectl::parse_config_map(&output)
                .map_err(|e| ctx.unrecognised(&create, e))?
                .ok_or_else(|| ctx.unrecognised(&create, not_a_config_map(&output)))?;
            keep(ctx, &kubectl, &namespace, created.resource_version, holder);
            return Ok(Done::ok(format!("{} is this run's until it ends", object(&namespace))).with_details(vec![
                format!(
                    "a {}s lease renewed every {}s; a run that finds it held stops, one that finds its lease over by {}s takes it over",
                    lease::LEASE.as_secs(),
                    lease::RENEW_EVERY.as_secs(),
                    lease::MARGIN.as_secs()
                ),
            ]));
        }
        if !kubectl::is_already_exists(&output.stderr) {
            let stop = refused(&create, &output);
            if output.stderr.contains("forbidden") {
                return Err(Stop { exit: Exit::Precondition, ..stop }.with_safe_next(
                    "nothing was changed: the lock could not be taken (the rights to create a ConfigMap in the namespace are needed)",
                ));
            }
            // It may have been created all the same: it expires unless renewed.
            return Err(stop.with_safe_next(format!(
                "nothing of Calico was changed; if {} exists, it is this run's and expires {}s after it was made (or delete it: `kubectl delete configmap/{} -n {namespace}`); run again",
                object(&namespace),
                lease::LEASE.as_secs() + lease::MARGIN.as_secs(),
                lease::NAME
            )));
        }
        // Held: by whom, and is it still alive?
        let read = kubectl.config_map(&namespace, lease::NAME);
        let output = ctx.run(&read)?;
        let Some(found) = kubectl::parse_config_map(&output).map_err(|e| ctx.unreadable(&read, &output, e))? else {
            // Released between the two commands: try again.
            continue;
        };
        let other = Holder::from_data(&found.data);
        match lease::judge(other.as_ref(), ctx.exec.wall_clock()) {
            Found::Held { started_ago, renewed_ago } => {
                let other = other.expect("a lock judged held has a holder");
                return Err(held(&namespace, &other, started_ago, renewed_ago));
            }
            Found::Unreadable => {
                return Err(Stop::new(
                    Exit::Precondition,
                    format!("{} exists but is not a lock this tool can read: nothing was changed", object(&namespace)),
                )
                .with_details(
                    found.data.iter().map(|(k, v)| format!("{k}: {v}")).chain([format!(
                        "if no calico-downgrade runs against this cluster, delete it: `kubectl delete configmap/{} -n {namespace}`",
                        lease::NAME
                    )])
                    .collect(),
                ));
            }
            Found::Expired { renewed_ago } => {
                let other = other.expect("a lock judged expired has a holder");
                let takeover =
                    kubectl.replace_lock(&namespace, lease::replacement(&namespace, &found.resource_version, &holder));
                let output = ctx.run(&takeover)?;
                if !output.success() {
                    if kubectl::is_conflict(&output.stderr) || kubectl::is_not_found(&output.stderr) {
                        // Another run renewed or took it first: look again.
                        continue;
                    }
                    return Err(Stop { exit: Exit::Precondition, ..refused(&takeover, &output) });
                }
                let taken = kubectl::parse_config_map(&output)
                    .map_err(|e| ctx.unrecognised(&takeover, e))?
                    .ok_or_else(|| ctx.unrecognised(&takeover, not_a_config_map(&output)))?;
                keep(ctx, &kubectl, &namespace, taken.resource_version, holder);
                return Ok(Done::ok(format!(
                    "{} taken over from {}, whose lease ended {} ago (last renewed {} ago)",
                    object(&namespace),
                    other.who(),
                    lease::ago(renewed_ago.saturating_sub(std::time::Duration::from_secs(other.lease_seconds))),
                    lease::ago(renewed_ago)
                )));
            }
        }
    }
    Err(Stop::new(
        Exit::Precondition,
        format!(
            "{} changed hands twice while this run tried to take it: nothing was changed; run again",
            object(&namespace)
        ),
    ))
}

fn not_a_config_map(output: &crate::exec::Output) -> crate::tools::Unrecognised {
    crate::tools::Unrecognised::new("`kubectl` output", "expected the ConfigMap it wrote", &output.stdout)
}

/// Held by a live run: exit 3 naming it.
fn held(
    namespace: &str,
    other: &Holder,
    started_ago: Option<std::time::Duration>,
    renewed_ago: Option<std::time::Duration>,
) -> Stop {
    let since = started_ago.map_or_else(String::new, |ago| format!(" ({} ago)", lease::ago(ago)));
    let renewed = renewed_ago.map_or_else(String::new, |ago| format!(", its lease renewed {} ago", lease::ago(ago)));
    Stop::new(
        Exit::Precondition,
        format!("another calico-downgrade is changing this cluster: {}: nothing was changed", other.who()),
    )
    .with_details(vec![
        format!("started {}{since}{renewed}; it holds {}", other.started, object(namespace)),
        format!(
            "wait for it to end and run again (its report says what it did); a run that died leaves the lock to expire {}s after its last renewal",
            other.lease_seconds + lease::MARGIN.as_secs()
        ),
    ])
    .with_safe_next("nothing was changed; run again once the other run has ended")
}

/// Check mode: read the lock, and say what `run` would find.
fn look(ctx: &mut Context, kubectl: &Kubectl, namespace: &str) -> TaskResult {
    let read = kubectl.config_map(namespace, lease::NAME);
    let output = ctx.run(&read)?;
    if !output.success() && !kubectl::is_not_found(&output.stderr) {
        // Only informs: the plan goes on.
        return Ok(Done::ok(format!(
            "would take {} (it could not be read: {})",
            object(namespace),
            kubectl::failure_message(&output.stderr)
        )));
    }
    let found = kubectl::parse_config_map(&output).map_err(|e| ctx.unreadable(&read, &output, e))?;
    let Some(found) = found else {
        return Ok(Done::ok(format!("free: `run` would take {}", object(namespace))));
    };
    let other = Holder::from_data(&found.data);
    Ok(match (lease::judge(other.as_ref(), ctx.exec.wall_clock()), other) {
        (Found::Held { renewed_ago, .. }, Some(other)) => Done::ok(format!(
            "held by {} (lease renewed {} ago): `run` would stop with exit 3 until it ends",
            other.who(),
            renewed_ago.map_or("?".to_string(), lease::ago)
        )),
        (Found::Expired { renewed_ago }, Some(other)) => Done::ok(format!(
            "held by {}, whose lease ended (renewed {} ago): `run` would take it over",
            other.who(),
            lease::ago(renewed_ago)
        )),
        _ => {
            Done::ok(format!("{} exists but is not this tool's lock: `run` would stop with exit 3", object(namespace)))
        }
    })
}

/// Renew the lock in the background until [`release`].
fn keep(ctx: &mut Context, kubectl: &Kubectl, namespace: &str, resource_version: String, holder: Holder) {
    let kubectl = kubectl.clone();
    let namespace = namespace.to_string();
    let mut resource_version = resource_version;
    let mut last_renewed = ctx.exec.now();
    ctx.lock = LockHold::Held { used: true };
    ctx.exec.keep(
        lease::RENEW_EVERY,
        Box::new(move |exec| {
            let body = lease::replacement(&namespace, &resource_version, &holder.renewed_at(exec.wall_clock()));
            let renew = kubectl.replace_lock(&namespace, body);
            match exec.run(&renew) {
                Ok(output) if output.success() => {
                    if let Ok(Some(map)) = kubectl::parse_config_map(&output) {
                        resource_version = map.resource_version;
                        last_renewed = exec.now();
                        return Ok(());
                    }
                    Err("its renewal printed what this tool cannot read".to_string())
                }
                Ok(output) if kubectl::is_conflict(&output.stderr) || kubectl::is_not_found(&output.stderr) => {
                    Err(format!("another run changed or removed it: {}", kubectl::failure_message(&output.stderr)))
                }
                // A renewal that failed otherwise is tried again, until the lease would end.
                _ if exec.now().saturating_duration_since(last_renewed) + lease::RENEW_EVERY < lease::LEASE => Ok(()),
                _ => Err(format!("it could not be renewed within its {}s lease", lease::LEASE.as_secs())),
            }
        }),
    );
}

/// How long the release may take, after a signal too.
const RELEASE_WITHIN: std::time::Duration = std::time::Duration::from_secs(10);

/// Once the run's last change is made, nothing is left for the lock to guard: stop renewing it
/// and start its delete in the background, so that the end of the run does not wait for it
/// ([`release`] collects it).
pub fn start_release(ctx: &mut Context) {
    if !matches!(ctx.lock, LockHold::Held { .. }) {
        return;
    }
    if let Some(why) = ctx.exec.stop_keeping() {
        ctx.lock = LockHold::Lost(why);
        return;
    }
    let delete = ctx.kubectl().delete_lock(&ctx.options.namespace);
    ctx.command_started(&delete);
    let started = ctx.exec.now();
    let pending = ctx.exec.spawn(&delete);
    ctx.lock = LockHold::Releasing(delete, pending, started);
}

/// The end of a run that took the lock, however it ended: stop renewing it and delete it (after
/// a signal too). Returns the step the report shows, `None` when no lock was taken.
pub fn release(ctx: &mut Context) -> Option<super::Step> {
    let (lost, started_early, used) = match std::mem::take(&mut ctx.lock) {
        LockHold::Free | LockHold::Creating(_) => return None,
        LockHold::Lost(why) => (Some(why), None, true),
        LockHold::Releasing(_, pending, started) => (None, Some((pending, started)), true),
        LockHold::Held { used } => (ctx.exec.stop_keeping(), None, used),
    };
    let namespace = ctx.options.namespace.clone();
    let delete: Invocation = ctx.kubectl().delete_lock(&namespace);
    // Not done is `skipped`, with why: the run's own outcome is told by the tasks before.
    let (status, message) = if let Some(why) = lost {
        (super::Status::Skipped, format!("the lock was lost during the run ({why}); it was not deleted"))
    } else {
        let started_early = started_early
            .map(|(pending, started)| (ctx.exec.collect(pending, Some(ctx.exec.now() + RELEASE_WITHIN)), started));
        let result = match started_early {
            // Stopped by a signal before it finished: run again, as after a signal.
            Some((Err(crate::exec::ExecError::Interrupted), _)) | None => {
                ctx.command_started(&delete);
                let result = ctx.exec.run_to_clean_up(&delete, RELEASE_WITHIN);
                ctx.record(&delete, &result);
                result
            }
            Some((result, started)) => {
                ctx.record_started_at(&delete, &result, started);
                result
            }
        };
        match result {
            Ok(output) if output.success() || kubectl::is_not_found(&output.stderr) => {
                (super::Status::Ok, format!("{} released", object(&namespace)))
            }
            Ok(output) => (
                super::Status::Skipped,
                format!(
                    "{} could not be deleted ({}): it expires {}s after its last renewal, or delete it: `kubectl delete configmap/{} -n {namespace}`",
                    object(&namespace),
                    kubectl::failure_message(&output.stderr),
                    lease::LEASE.as_secs() + lease::MARGIN.as_secs(),
                    lease::NAME
                ),
            ),
            Err(error) => (
                super::Status::Skipped,
                format!(
                    "{} could not be deleted ({error}): it expires {}s after its last renewal",
                    object(&namespace),
                    lease::LEASE.as_secs() + lease::MARGIN.as_secs()
                ),
            ),
        }
    };
    let commands = ctx.take_commands();
    // A lock no task used, released: nothing for the report (the journal has both commands).
    if !used && status == super::Status::Ok {
        return None;
    }
    Some(super::Step { name: RELEASE.to_string(), status, message, summary: Vec::new(), details: Vec::new(), commands })
}

pub const RELEASE: &str = "Release the cluster lock";
