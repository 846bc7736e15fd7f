//! Task "Lock the cluster", right before the first change (`run`, `abort`): two runs against one
//! cluster, from two shells or two bastions, never interleave their changes. The lock is an
//! annotation on the calico-node DaemonSet ([`crate::lease`]), so it needs no right beyond the
//! documented procedure's (`patch` on that DaemonSet). Each write is a `kubectl patch
//! --type=json` that `test`s the annotation first: taken when absent, renewed by a thread while
//! the run works, and removed by [`release`] on every way the run ends (signals included; a
//! second signal or SIGKILL leaves it to expire).
//!
//! The take starts with the inspection, whose query reads the DaemonSet and so the annotation:
//! held by a live run, exit 3, nothing changed, naming who holds it (host, user, pid, command),
//! since when, and how old its last renewal is. Held by a run whose lease clearly expired: taken
//! over (a swap that `test`s the value seen), and the report says whose it was. Unreadable:
//! never taken over. A take whose answer never came (the API server refused the connection, or
//! the answer was lost) is decided on the annotation read back: this run's (it took effect),
//! absent (it did not: taken again), another run's (judged as above). In check mode (`plan`) the
//! lock is only read, by the inspection: the plan says whether `run` would find it free.
//!
//! The lock does not stand in for inspection: a run that waited for another, or that comes
//! after one, decides from what it reads (a rollback to an explicit revision is skipped when
//! the template already has its images, and a revision renumbered by another run is looked up
//! again by its images).

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use super::failures::exec_stop;
use super::{refused, Context, Done, LockHold, Stop, TaskResult};
use crate::exec::{Exec, ExecError, Invocation, Output};
use crate::exit::Exit;
use crate::lease::{self, Found, Holder};
use crate::tools::kubectl::{self, Kubectl};

pub const NAME: &str = "Lock the cluster";
pub const RELEASE: &str = "Release the cluster lock";

/// How many times the take is tried: a lock freed or taken over between two looks, a refused
/// connection or a lost answer (these within the inspection's retry budget).
const ATTEMPTS: u32 = 8;

/// `annotation calico-downgrade/lock of ds/calico-node in kube-system`.
fn object(namespace: &str, daemonset: &str) -> String {
    format!("annotation {} of ds/{daemonset} in {namespace}", lease::ANNOTATION)
}

/// The command that removes the lock by hand.
fn remove_by_hand(namespace: &str, daemonset: &str) -> String {
    format!("`kubectl annotate ds/{daemonset} -n {namespace} {}-`", lease::ANNOTATION)
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

fn patch(ctx: &Context, body: String) -> Invocation {
    ctx.kubectl().patch_lock(&ctx.options.namespace, &ctx.options.daemonset, body)
}

/// Start the lock's take with the inspection (`run`, `abort`): it runs while the cluster is read
/// and the rights checked, and `Lock the cluster` takes its result, so taking the lock adds no
/// round trip before the first change.
pub fn start_ahead(ctx: &mut Context) {
    if ctx.options.check || !matches!(ctx.lock, LockHold::Free) {
        return;
    }
    let holder = me(ctx, ctx.exec.wall_clock());
    let take = patch(ctx, lease::take(&holder));
    ctx.start_lock_in_background(take);
    ctx.lock = LockHold::Taking { holder, seen: None };
}

/// The inspection read the DaemonSet: its lock annotation (`None`: free), for `Lock the cluster`.
pub fn seen(ctx: &mut Context, annotation: Option<String>) {
    match &mut ctx.lock {
        LockHold::Taking { seen, .. } => *seen = Some(annotation),
        LockHold::Free | LockHold::Seen(_) => ctx.lock = LockHold::Seen(annotation),
        _ => {}
    }
}

/// Whether a write that did not say it succeeded may have reached the API server all the same
/// (its answer lost: a timeout, a reset connection, a 5xx), so that the lock must be read back
/// before anything else. A refused connection, no route, a dial or TLS handshake timeout
/// (`kubectl::never_sent`) or a name that does not resolve never reached it; an answer from the
/// server (a failed `test`, Forbidden) is an answer.
fn may_have_reached(result: &Result<Output, ExecError>) -> bool {
    match result {
        Ok(output) if output.success() => false,
        Ok(output) => {
            let stderr = &output.stderr;
            kubectl::unreachable(stderr).is_none()
                && kubectl::transient_failure(stderr).is_some()
                && !kubectl::never_sent(stderr)
        }
        Err(ExecError::TimedOut { .. }) => true,
        Err(_) => false,
    }
}

/// A run that ended before `Lock the cluster` took the take started ahead: wait for it, and
/// when it took the lock (or may have: read back), hand it to [`release`].
pub fn settle_ahead(ctx: &mut Context) {
    if !matches!(ctx.lock, LockHold::Taking { .. }) {
        return;
    }
    let LockHold::Taking { holder, .. } = std::mem::take(&mut ctx.lock) else { return };
    let take = patch(ctx, lease::take(&holder));
    let Some(result) = ctx.take_if_prefetched(&take) else { return };
    let ours = match &result {
        Ok(output) if output.success() => Some(holder.value()),
        _ if may_have_reached(&result) => {
            read_lock(ctx).ok().flatten().filter(|v| Holder::from_value(v).is_some_and(|h| h.same_run(&holder)))
        }
        _ => None,
    };
    if let Some(value) = ours {
        ctx.lock = LockHold::Held { used: false, holder, value: Arc::new(Mutex::new(value)) };
    }
}

/// The annotation now, read with the inspection's own query (`None`: free).
fn read_lock(ctx: &mut Context) -> Result<Option<String>, Stop> {
    let read = ctx.kubectl().objects(&ctx.options.namespace);
    let output = ctx.run_ok(&read)?;
    let objects = kubectl::parse_objects(&output).map_err(|e| ctx.unrecognised(&read, e))?;
    let name = &ctx.options.daemonset;
    match objects.daemonsets.into_iter().find(|d| &d.row.name == name) {
        Some(daemonset) => Ok(daemonset.lock),
        None => Err(Stop::new(
            Exit::Precondition,
            format!(
                "ds/{name} in {} is gone: the lock it carries cannot be taken; nothing was changed",
                ctx.options.namespace
            ),
        )),
    }
}

/// What the lock found (read back, or as the inspection saw it) means for this run.
enum Next {
    /// This run's: a write whose answer was lost took effect.
    Ours(String),
    /// Free: take it (again).
    Take,
    /// Another run's, expired: take it over from the value seen, saying so.
    TakeOver(String, String),
}

/// Judge the lock found (`None`: free) for `holder`; held or unreadable is the end (exit 3).
fn judge(ctx: &Context, holder: &Holder, found: Option<String>) -> Result<Next, Stop> {
    let namespace = &ctx.options.namespace;
    let daemonset = &ctx.options.daemonset;
    let Some(value) = found else { return Ok(Next::Take) };
    let other = Holder::from_value(&value);
    if other.as_ref().is_some_and(|other| other.same_run(holder)) {
        return Ok(Next::Ours(value));
    }
    match lease::judge(other.as_ref(), ctx.exec.wall_clock()) {
        Found::Held { started_ago, renewed_ago } => {
            let other = other.expect("a lock judged held has a holder");
            Err(held_by(namespace, daemonset, &other, started_ago, renewed_ago))
        }
        Found::Unreadable => Err(Stop::new(
            Exit::Precondition,
            format!("the {} is not a lock this tool can read: nothing was changed", object(namespace, daemonset)),
        )
        .with_details(vec![
            format!("{}: {value}", lease::ANNOTATION),
            format!(
                "if no calico-downgrade runs against this cluster, remove it: {}",
                remove_by_hand(namespace, daemonset)
            ),
        ])),
        Found::Expired { renewed_ago } => {
            let other = other.expect("a lock judged expired has a holder");
            let said = format!(
                "{} taken over from {}, whose lease ended {} ago (last renewed {} ago)",
                object(namespace, daemonset),
                other.who(),
                lease::ago(renewed_ago.saturating_sub(Duration::from_secs(other.lease_seconds))),
                lease::ago(renewed_ago)
            );
            Ok(Next::TakeOver(value, said))
        }
    }
}

pub fn run(ctx: &mut Context) -> TaskResult {
    let namespace = ctx.options.namespace.clone();
    let daemonset = ctx.options.daemonset.clone();
    if ctx.options.check {
        return look(ctx, &namespace, &daemonset);
    }
    // The take started with the inspection, if it was, and what the inspection read.
    let (holder, mut first, mut seen) = match std::mem::take(&mut ctx.lock) {
        LockHold::Taking { holder, seen } => {
            let take = patch(ctx, lease::take(&holder));
            let first = ctx.take_if_prefetched(&take);
            (holder, first, seen.flatten())
        }
        _ => (me(ctx, ctx.exec.wall_clock()), None, None),
    };
    let mut write = patch(ctx, lease::take(&holder));
    let mut taken_over: Option<String> = None;
    let until = ctx.exec.now() + super::context::INSPECTION_RETRY_BUDGET;
    let mut attempt = 0;
    loop {
        attempt += 1;
        let result = match first.take() {
            Some(result) => result,
            None => ctx.run_raw(&write),
        };
        // What is there now, when this write did not say it was made.
        let found = match &result {
            Ok(output) if output.success() => {
                if let Err(error) = kubectl::parse_lock_patched(&daemonset, output) {
                    // Made or not, the release removes it if it is this run's.
                    let value = holder.value();
                    ctx.lock = LockHold::Held { used: true, holder, value: Arc::new(Mutex::new(value)) };
                    return Err(ctx.unrecognised(&write, error));
                }
                let value = holder.value();
                return Ok(hold(ctx, holder, value, taken_over));
            }
            Err(ExecError::Interrupted) => {
                // It may have been made: the release removes it if it is this run's.
                let value = holder.value();
                ctx.lock = LockHold::Held { used: true, holder, value: Arc::new(Mutex::new(value)) };
                return Err(exec_stop(&write, &ExecError::Interrupted));
            }
            // No answer within --command-timeout: read back, and no second wait.
            Err(error @ ExecError::TimedOut { .. }) => {
                let found = read_lock(ctx)?;
                match judge(ctx, &holder, found)? {
                    Next::Ours(value) => return Ok(hold(ctx, holder, value, taken_over)),
                    _ => return Err(exec_stop(&write, error)),
                }
            }
            Err(error) => return Err(exec_stop(&write, error)),
            Ok(output) if kubectl::is_test_failed(&output.stderr) => {
                // Not as this run saw it; the inspection's read answers once, when it saw a holder.
                match seen.take() {
                    Some(value) if attempt == 1 => Some(value),
                    _ => read_lock(ctx)?,
                }
            }
            Ok(output) if kubectl::transient_failure(&output.stderr).is_some() => {
                if ctx.exec.now() >= until {
                    return Err(refused(&write, output).with_safe_next(format!(
                        "nothing of Calico was changed; the API server did not answer the lock's {} within {}: run again",
                        short_write(&write),
                        humantime::format_duration(super::context::INSPECTION_RETRY_BUDGET)
                    )));
                }
                let reached = may_have_reached(&result);
                let cause = kubectl::transient_failure(&output.stderr).unwrap_or_default();
                let why =
                    if reached { "read back first: its answer may be lost" } else { "it never reached the server" };
                let pause = super::context::backoff(attempt);
                ctx.say_retry(&write, &cause, why, pause, until);
                ctx.exec.sleep(pause).map_err(|e| exec_stop(&write, &e))?;
                if reached {
                    read_lock(ctx)?
                } else {
                    // Never reached the API server (connection refused): the same write again.
                    continue;
                }
            }
            Ok(output) => {
                let stop = refused(&write, output);
                let message = kubectl::failure_message(&output.stderr);
                if message.contains("(Forbidden)") || message.contains(" is forbidden: ") {
                    return Err(Stop { exit: Exit::Precondition, ..stop }.with_safe_next(format!(
                        "nothing was changed: the lock could not be taken (the {}, written with the right to patch ds/{daemonset} that the rollback needs too)",
                        object(&namespace, &daemonset)
                    )));
                }
                return Err(stop.with_safe_next(format!(
                    "nothing of Calico was changed; the {} could not be written: run again",
                    object(&namespace, &daemonset)
                )));
            }
        };
        let next = judge(ctx, &holder, found)?;
        if let Next::Ours(value) = next {
            return Ok(hold(ctx, holder, value, taken_over));
        }
        if attempt >= ATTEMPTS {
            break;
        }
        match next {
            Next::TakeOver(value, said) => {
                write = patch(ctx, lease::swap(&value, &holder));
                taken_over = Some(said);
            }
            _ => {
                write = patch(ctx, lease::take(&holder));
                taken_over = None;
            }
        }
    }
    Err(Stop::new(
        Exit::Precondition,
        format!(
            "the {} changed hands {ATTEMPTS} times while this run tried to take it: nothing was changed; run again",
            object(&namespace, &daemonset)
        ),
    ))
}

/// `take`, `takeover`: which write of the lock a patch is, for messages.
fn short_write(write: &Invocation) -> &'static str {
    if write.args.iter().any(|a| a.contains("\"op\":\"replace\"")) {
        "takeover"
    } else {
        "take"
    }
}

/// This run holds the lock (its annotation is `value`): renew it until [`release`].
fn hold(ctx: &mut Context, holder: Holder, value: String, taken_over: Option<String>) -> Done {
    let namespace = ctx.options.namespace.clone();
    let daemonset = ctx.options.daemonset.clone();
    keep(ctx, holder, value);
    let message =
        taken_over.unwrap_or_else(|| format!("{} is this run's until it ends", object(&namespace, &daemonset)));
    Done::ok(message).with_details(vec![format!(
        "a {}s lease renewed every {}s; a run that finds it held stops, one that finds its lease over by {}s takes it over",
        lease::LEASE.as_secs(),
        lease::RENEW_EVERY.as_secs(),
        lease::MARGIN.as_secs()
    )])
}

/// Held by a live run: exit 3 naming it.
fn held_by(
    namespace: &str,
    daemonset: &str,
    other: &Holder,
    started_ago: Option<Duration>,
    renewed_ago: Option<Duration>,
) -> Stop {
    let since = started_ago.map_or_else(String::new, |ago| format!(" ({} ago)", lease::ago(ago)));
    let renewed = renewed_ago.map_or_else(String::new, |ago| format!(", its lease renewed {} ago", lease::ago(ago)));
    Stop::new(
        Exit::Precondition,
        format!("another calico-downgrade is changing this cluster: {}: nothing was changed", other.who()),
    )
    .with_details(vec![
        format!("started {}{since}{renewed}; it holds the {}", other.started, object(namespace, daemonset)),
        format!(
            "wait for it to end and run again (its report says what it did); a run that died leaves the lock to expire {}s after its last renewal",
            other.lease_seconds + lease::MARGIN.as_secs()
        ),
    ])
    .with_safe_next("nothing was changed; run again once the other run has ended")
}

/// Check mode: say what `run` would find, from the inspection's read of the DaemonSet.
fn look(ctx: &mut Context, namespace: &str, daemonset: &str) -> TaskResult {
    let found = match std::mem::take(&mut ctx.lock) {
        LockHold::Seen(found) => found,
        _ => read_lock(ctx)?,
    };
    let Some(value) = found else {
        return Ok(Done::ok(format!("free: `run` would take the {}", object(namespace, daemonset))));
    };
    let other = Holder::from_value(&value);
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
        _ => Done::ok(format!(
            "the {} is not this tool's lock: `run` would stop with exit 3",
            object(namespace, daemonset)
        )),
    })
}

/// The lock's annotation read by `exec` (the renewal thread's), `None` when it cannot be read.
fn read_back(exec: &mut dyn Exec, kubectl: &Kubectl, namespace: &str, daemonset: &str) -> Option<Option<String>> {
    let output = exec.run(&kubectl.objects(namespace)).ok().filter(Output::success)?;
    let objects = kubectl::parse_objects(&output).ok()?;
    Some(objects.daemonsets.into_iter().find(|d| d.row.name == daemonset).and_then(|d| d.lock))
}

/// Renew the lock in the background until [`release`]: each renewal swaps the value last
/// written for a new one. One that finds another value reads the lock back: a renewal whose
/// answer was lost took effect (the value is this run's, renewed), anything else is the lock lost.
fn keep(ctx: &mut Context, holder: Holder, value: String) {
    let kubectl = ctx.kubectl().clone();
    let namespace = ctx.options.namespace.clone();
    let daemonset = ctx.options.daemonset.clone();
    let shared = Arc::new(Mutex::new(value));
    let mut last_renewed = ctx.exec.now();
    ctx.lock = LockHold::Held { used: true, holder: holder.clone(), value: Arc::clone(&shared) };
    ctx.exec.keep(
        lease::RENEW_EVERY,
        Box::new(move |exec| {
            let seen = shared.lock().map(|v| v.clone()).unwrap_or_default();
            let renewed = holder.renewed_at(exec.wall_clock());
            let renew = kubectl.patch_lock(&namespace, &daemonset, lease::swap(&seen, &renewed));
            let result = exec.run(&renew);
            match &result {
                Ok(output) if output.success() => {
                    if let Ok(mut value) = shared.lock() {
                        *value = renewed.value();
                    }
                    last_renewed = exec.now();
                    return Ok(());
                }
                Ok(output) if kubectl::is_test_failed(&output.stderr) => {
                    match read_back(exec, &kubectl, &namespace, &daemonset) {
                        Some(Some(found)) if Holder::from_value(&found).is_some_and(|h| h.same_run(&holder)) => {
                            if let Ok(mut value) = shared.lock() {
                                *value = found;
                            }
                            return Ok(());
                        }
                        Some(found) => {
                            return Err(format!(
                                "another run changed or removed it: {}",
                                found.as_deref().and_then(Holder::from_value).map_or_else(
                                    || kubectl::failure_message(&output.stderr),
                                    |other| format!("now held by {}", other.who())
                                )
                            ))
                        }
                        None => {}
                    }
                }
                Ok(output) if kubectl::is_not_found(&output.stderr) => {
                    return Err(format!("the DaemonSet is gone: {}", kubectl::failure_message(&output.stderr)))
                }
                _ => {}
            }
            // A renewal that failed otherwise is tried again, until the lease would end.
            if exec.now().saturating_duration_since(last_renewed) + lease::RENEW_EVERY < lease::LEASE {
                Ok(())
            } else {
                Err(format!("it could not be renewed within its {}s lease", lease::LEASE.as_secs()))
            }
        }),
    );
}

/// How long the release may take, after a signal too.
const RELEASE_WITHIN: Duration = Duration::from_secs(10);

/// Once the run's last change is made, nothing is left for the lock to guard: stop renewing it
/// and start its removal in the background, so that the end of the run does not wait for it
/// ([`release`] collects it).
pub fn start_release(ctx: &mut Context) {
    if !matches!(ctx.lock, LockHold::Held { .. }) {
        return;
    }
    if let Some(why) = ctx.exec.stop_keeping() {
        ctx.lock = LockHold::Lost(why);
        return;
    }
    let LockHold::Held { holder, value, .. } = std::mem::take(&mut ctx.lock) else { return };
    let value = value.lock().map(|v| v.clone()).unwrap_or_default();
    let remove = patch(ctx, lease::release(&value));
    ctx.command_started(&remove);
    let started = ctx.exec.now();
    let pending = ctx.exec.spawn(&remove);
    ctx.lock = LockHold::Releasing { holder, patch: remove, pending, started };
}

/// Run one command of the release (after a signal too) and record it.
fn clean_up(ctx: &mut Context, invocation: &Invocation) -> Result<Output, ExecError> {
    ctx.command_started(invocation);
    let result = ctx.exec.run_to_clean_up(invocation, RELEASE_WITHIN);
    ctx.record(invocation, &result);
    result
}

/// The end of a run that took the lock, however it ended: stop renewing it and remove it (after
/// a signal too). Returns the step the report shows, `None` when no lock was taken.
pub fn release(ctx: &mut Context) -> Option<super::Step> {
    let (status, message, used) = match std::mem::take(&mut ctx.lock) {
        LockHold::Free | LockHold::Seen(_) | LockHold::Taking { .. } => return None,
        LockHold::Lost(why) => {
            (super::Status::Skipped, format!("the lock was lost during the run ({why}); it was not removed"), true)
        }
        LockHold::Held { used, holder, value } => match ctx.exec.stop_keeping() {
            Some(why) => {
                (super::Status::Skipped, format!("the lock was lost during the run ({why}); it was not removed"), used)
            }
            None => {
                let value = value.lock().map(|v| v.clone()).unwrap_or_default();
                let remove = patch(ctx, lease::release(&value));
                let result = clean_up(ctx, &remove);
                let (status, message) = removed(ctx, &holder, result);
                (status, message, used)
            }
        },
        LockHold::Releasing { holder, patch: remove, pending, started } => {
            let result = match ctx.exec.collect(pending, Some(ctx.exec.now() + RELEASE_WITHIN)) {
                // Stopped by a signal before it finished: run again, as after a signal.
                Err(ExecError::Interrupted) => clean_up(ctx, &remove),
                result => {
                    ctx.record_started_at(&remove, &result, started);
                    result
                }
            };
            let (status, message) = removed(ctx, &holder, result);
            (status, message, true)
        }
    };
    let commands = ctx.take_commands();
    // A lock no task used, released: nothing for the report (the journal has both commands).
    if !used && status == super::Status::Ok {
        return None;
    }
    Some(super::Step { name: RELEASE.to_string(), status, message, summary: Vec::new(), details: Vec::new(), commands })
}

/// What the release's removal came to. A failed `test` reads the lock back: gone (released),
/// this run's with another value (a renewal whose answer was lost took effect: removed with that
/// value), another run's (taken over: left alone).
fn removed(ctx: &mut Context, holder: &Holder, result: Result<Output, ExecError>) -> (super::Status, String) {
    let namespace = ctx.options.namespace.clone();
    let daemonset = ctx.options.daemonset.clone();
    let released = (super::Status::Ok, format!("{} released", object(&namespace, &daemonset)));
    let expires = format!(
        "it expires {}s after its last renewal, or remove it: {}",
        lease::LEASE.as_secs() + lease::MARGIN.as_secs(),
        remove_by_hand(&namespace, &daemonset)
    );
    let output = match result {
        Ok(output) if output.success() => {
            return match kubectl::parse_lock_patched(&daemonset, &output) {
                Ok(()) => released,
                Err(error) => (
                    super::Status::Skipped,
                    format!(
                        "the {} may not have been removed ({}): {expires}",
                        object(&namespace, &daemonset),
                        error.headline()
                    ),
                ),
            }
        }
        Ok(output) => output,
        Err(error) => {
            return (
                super::Status::Skipped,
                format!("the {} could not be removed ({error}): {expires}", object(&namespace, &daemonset)),
            )
        }
    };
    if !kubectl::is_test_failed(&output.stderr) {
        return (
            super::Status::Skipped,
            format!(
                "the {} could not be removed ({}): {expires}",
                object(&namespace, &daemonset),
                kubectl::failure_message(&output.stderr)
            ),
        );
    }
    let read = ctx.kubectl().objects(&namespace);
    let found = clean_up(ctx, &read)
        .ok()
        .filter(Output::success)
        .and_then(|output| kubectl::parse_objects(&output).ok())
        .map(|objects| objects.daemonsets.into_iter().find(|d| d.row.name == daemonset).and_then(|d| d.lock));
    match found {
        Some(None) => released,
        Some(Some(value)) if Holder::from_value(&value).is_some_and(|h| h.same_run(holder)) => {
            let remove = patch(ctx, lease::release(&value));
            match clean_up(ctx, &remove) {
                Ok(output) if output.success() => released,
                Ok(output) => (
                    super::Status::Skipped,
                    format!(
                        "the {} could not be removed ({}): {expires}",
                        object(&namespace, &daemonset),
                        kubectl::failure_message(&output.stderr)
                    ),
                ),
                Err(error) => (
                    super::Status::Skipped,
                    format!("the {} could not be removed ({error}): {expires}", object(&namespace, &daemonset)),
                ),
            }
        }
        Some(Some(value)) => (
            super::Status::Skipped,
            format!(
                "the {} is no longer this run's ({}): left as it is",
                object(&namespace, &daemonset),
                Holder::from_value(&value)
                    .map_or_else(|| "unreadable".to_string(), |other| format!("held by {}", other.who()))
            ),
        ),
        None => (
            super::Status::Skipped,
            format!(
                "the {} could not be removed ({}) nor read back: {expires}",
                object(&namespace, &daemonset),
                kubectl::failure_message(&output.stderr)
            ),
        ),
    }
}
