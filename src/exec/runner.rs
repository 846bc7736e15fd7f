//! The real executor: the only code in the crate that spawns processes (`clippy.toml` bans
//! `std::process::Command::new` everywhere else).
//!
//! Every child runs with stdin from `/dev/null` or from explicit bytes, stdout and stderr
//! captured, in a process group of its own (so a timeout or a signal stops it together with
//! anything it started), under `--command-timeout`. Each finished command is appended to the
//! journal before the result is handed back, so nothing is lost if the tool itself dies next.

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant, SystemTime};

use super::journal::Journal;
use super::{Effect, Exec, ExecError, Flow, Invocation, Output, Pager, Pending, Renewal};

/// How often a waiting loop looks at the clock and the signal flag.
const TICK: Duration = Duration::from_millis(20);

pub struct Runner {
    pub command_timeout: Duration,
    /// Set by the SIGINT/SIGTERM/SIGHUP handler installed in `main`.
    pub interrupted: Arc<AtomicBool>,
    /// Refuse every [`Effect::Mutating`] invocation (plan, `run --check`, Ansible check mode).
    pub check_mode: bool,
    pub journal: Option<Journal>,
    /// The environment every child gets: the tool's own environment as `main` read it.
    /// Kept as `OsString`: nothing is dropped for not being UTF-8.
    pub env: Vec<(std::ffi::OsString, std::ffi::OsString)>,
    /// The cluster lock's renewal, running on a thread of its own (`keep`).
    pub keeper: Option<Keeper>,
    /// Why the cluster lock was lost, once it was: mutating commands are refused then.
    pub lost: Arc<std::sync::Mutex<Option<String>>>,
    /// Commands started in the background (`spawn`), until collected.
    background: Vec<Option<Background>>,
}

/// The thread that renews the cluster lock, and how to stop it.
pub struct Keeper {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<()>,
}

impl Runner {
    /// A runner of its own for work that must go on regardless of this one's state (the lock's
    /// renewal, its release after a signal): the same environment and journal, no signal flag,
    /// not in check mode, each command at most `timeout` long.
    fn helper(&self, timeout: Duration) -> Runner {
        let mut helper = Runner::new(timeout, Arc::new(AtomicBool::new(false)), false, self.env.clone());
        helper.journal = self.journal.clone();
        helper
    }

    /// A runner for the tool's commands: no journal yet, no lock.
    pub fn new(
        command_timeout: Duration,
        interrupted: Arc<AtomicBool>,
        check_mode: bool,
        env: Vec<(std::ffi::OsString, std::ffi::OsString)>,
    ) -> Runner {
        Runner {
            command_timeout,
            interrupted,
            check_mode,
            journal: None,
            env,
            keeper: None,
            lost: Arc::default(),
            background: Vec::new(),
        }
    }

    // The one place allowed to spawn (clippy.toml bans it everywhere else).
    #[allow(clippy::disallowed_methods)]
    fn expression(&self, invocation: &Invocation) -> duct::Expression {
        let parent = std::process::id();
        let mut expression = duct::cmd(&invocation.program, &invocation.args)
            .full_env(self.env.iter().map(|(k, v)| (k.clone(), v.clone())))
            .unchecked()
            .before_spawn(move |command| {
                command.process_group(0);
                // SAFETY: between fork and exec the closure only makes async-signal-safe
                // calls (prctl, getppid, raise) and allocates nothing.
                unsafe {
                    command.pre_exec(move || die_with_parent(parent));
                }
                Ok(())
            });
        expression = match &invocation.stdin {
            Some(bytes) => expression.stdin_bytes(bytes.clone()),
            None => expression.stdin_null(),
        };
        expression
    }

    fn check_allowed(&self, invocation: &Invocation) -> Result<(), ExecError> {
        if self.check_mode && invocation.effect == Effect::Mutating {
            return Err(ExecError::RefusedInCheckMode);
        }
        if invocation.effect == Effect::Mutating {
            if let Some(why) = self.lost.lock().ok().and_then(|lost| lost.clone()) {
                return Err(ExecError::LockLost(why));
            }
        }
        if self.interrupted.load(Ordering::SeqCst) {
            return Err(ExecError::Interrupted);
        }
        Ok(())
    }

    /// Spawn a long-lived command whose stdout is read line by line by a thread of its own,
    /// each line sent as `(index, Some(line))` and the end of the pipe as `(index, None)`.
    /// stderr is captured (for the journal and the report), never passed to ours.
    fn start_followed(
        &self,
        invocation: &Invocation,
        index: usize,
        sender: mpsc::Sender<(usize, Option<String>)>,
    ) -> Result<Followed, ExecError> {
        self.check_allowed(invocation)?;
        let started = SystemTime::now();
        let clock = Instant::now();
        let reader = Arc::new(
            self.expression(invocation).stderr_capture().reader().map_err(|e| spawn_error(&invocation.program, e))?,
        );
        let pipe = Arc::clone(&reader);
        let thread = std::thread::spawn(move || {
            let mut buffered = BufReader::new(&*pipe);
            let mut line = Vec::new();
            loop {
                line.clear();
                // Bytes, not `read_line`: a line that is not UTF-8 is passed on (lossily)
                // instead of ending the watch.
                match buffered.read_until(b'\n', &mut line) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        let text = String::from_utf8_lossy(&line);
                        if sender.send((index, Some(text.trim_end_matches(['\n', '\r']).to_string()))).is_err() {
                            return;
                        }
                    }
                }
            }
            let _ = sender.send((index, None));
        });
        Ok(Followed { started, clock, reader, thread: Some(thread), stdout: String::new() })
    }

    /// Spawn a command with its output captured; the clock of its `--command-timeout` starts now.
    fn start(&self, invocation: &Invocation) -> Result<Running, ExecError> {
        self.check_allowed(invocation)?;
        let started = SystemTime::now();
        let clock = Instant::now();
        let capture = Capture::new().map_err(|e| ExecError::Io(format!("failed to capture output: {e}")))?;
        let handle = capture
            .redirect(self.expression(invocation))
            .map_err(|e| ExecError::Io(format!("failed to capture output: {e}")))?
            .start()
            .map_err(|e| spawn_error(&invocation.program, e))?;
        Ok(Running { started, clock, capture, handle })
    }

    /// Wait for a started command until it exits, `--command-timeout` passes (killed:
    /// `TimedOut`), `by` passes (killed: `Deadline`) or a signal arrives (killed:
    /// `Interrupted`); journal it and hand back the result.
    fn finish(
        &mut self,
        invocation: &Invocation,
        running: Result<Running, ExecError>,
        by: Option<Instant>,
    ) -> Result<Output, ExecError> {
        let started = running.as_ref().map_or_else(|_| SystemTime::now(), |r| r.started);
        let result = running.and_then(|running| supervise(running, self.command_timeout, by, &self.interrupted, None));
        self.record(invocation, started, &result);
        result
    }

    fn record(&mut self, invocation: &Invocation, started: SystemTime, result: &Result<Output, ExecError>) {
        if let Some(journal) = &self.journal {
            journal.record(invocation, started, result);
        }
    }
}

/// Wait for a started command until it exits, `timeout` after it started passes (killed:
/// `TimedOut`), `by` passes or `stop` is set (killed: `Deadline`), or a signal arrives (killed:
/// `Interrupted`).
fn supervise(
    running: Running,
    timeout: Duration,
    by: Option<Instant>,
    interrupted: &AtomicBool,
    stop: Option<&AtomicBool>,
) -> Result<Output, ExecError> {
    let Running { clock, capture, handle, .. } = running;
    let timeout_at = clock + timeout;
    let deadline = by.map_or(timeout_at, |by| by.min(timeout_at));
    loop {
        let slice = (deadline.saturating_duration_since(Instant::now())).min(TICK * 5);
        match handle.wait_timeout(slice) {
            Ok(Some(output)) => return Ok(capture.collect(to_output(output, clock.elapsed()))),
            Ok(None) => {}
            Err(e) => return Err(ExecError::Io(e.to_string())),
        }
        let interrupted = interrupted.load(Ordering::SeqCst);
        let stopped = stop.is_some_and(|stop| stop.load(Ordering::SeqCst));
        if interrupted || stopped || Instant::now() >= deadline {
            kill_group(&handle.pids());
            let partial = handle.wait().map(|o| capture.collect(to_output(o, clock.elapsed())));
            if interrupted {
                return Err(ExecError::Interrupted);
            }
            if stopped || deadline < timeout_at {
                return Err(ExecError::Deadline);
            }
            let (stdout, stderr) = partial.map(|o| (o.stdout, o.stderr)).unwrap_or_default();
            return Err(ExecError::TimedOut { after: timeout, stdout, stderr });
        }
    }
}

/// A command started by `Runner::spawn`: a thread of its own waits for it, journals it the
/// moment it ends (a tool killed right after loses nothing), and keeps its result.
struct Background {
    /// Set by `collect` at its deadline: the thread stops the command.
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<Result<Output, ExecError>>,
}

/// In the child, before exec: the child gets SIGKILL when the tool dies, however it ends
/// (SIGKILL of the tool included), so no kubectl outlives it.
#[cfg(target_os = "linux")]
fn die_with_parent(parent: u32) -> std::io::Result<()> {
    // SAFETY: prctl, getppid and raise are async-signal-safe and touch no memory of ours.
    unsafe {
        if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong, 0, 0, 0) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        // The tool may have died before the prctl: then the parent is no longer the tool.
        if libc::getppid() as u32 != parent {
            libc::raise(libc::SIGKILL);
        }
    }
    Ok(())
}

#[cfg(not(target_os = "linux"))]
fn die_with_parent(_parent: u32) -> std::io::Result<()> {
    Ok(())
}

fn spawn_error(program: &std::path::Path, error: std::io::Error) -> ExecError {
    match error.kind() {
        std::io::ErrorKind::NotFound => ExecError::NotFound(program.to_path_buf()),
        std::io::ErrorKind::PermissionDenied => ExecError::PermissionDenied(program.to_path_buf()),
        _ => ExecError::Io(format!("failed to start `{}`: {error}", program.display())),
    }
}

/// A command started by [`Runner::start`], not yet waited for.
struct Running {
    started: SystemTime,
    clock: Instant,
    capture: Capture,
    handle: duct::Handle,
}

/// A long-lived command started by [`Runner::start_followed`].
struct Followed {
    started: SystemTime,
    clock: Instant,
    reader: Arc<duct::ReaderHandle>,
    thread: Option<std::thread::JoinHandle<()>>,
    stdout: String,
}

/// Where a command's stdout and stderr go until it exits. On Linux: two in-memory files
/// (memfd), read once the child is gone, so no reader thread is started per stream (a run
/// makes some twenty commands, and those threads were most of the tool's own CPU time);
/// elsewhere duct's capture pipes and threads. memfd rather than `tempfile::tempfile()`: as
/// fast or faster (README, "Dependencies"), and it needs no writable temporary directory.
struct Capture {
    #[cfg(target_os = "linux")]
    files: [std::fs::File; 2],
}

impl Capture {
    #[cfg(target_os = "linux")]
    fn new() -> std::io::Result<Capture> {
        use rustix::fs::{memfd_create, MemfdFlags};
        let memfd = |name: &str| -> std::io::Result<std::fs::File> {
            Ok(std::fs::File::from(memfd_create(name, MemfdFlags::CLOEXEC)?))
        };
        Ok(Capture { files: [memfd("calico-downgrade-stdout")?, memfd("calico-downgrade-stderr")?] })
    }

    #[cfg(not(target_os = "linux"))]
    fn new() -> std::io::Result<Capture> {
        Ok(Capture {})
    }

    #[cfg(target_os = "linux")]
    fn redirect(&self, expression: duct::Expression) -> std::io::Result<duct::Expression> {
        Ok(expression.stdout_file(self.files[0].try_clone()?).stderr_file(self.files[1].try_clone()?))
    }

    #[cfg(not(target_os = "linux"))]
    fn redirect(&self, expression: duct::Expression) -> std::io::Result<duct::Expression> {
        Ok(expression.stdout_capture().stderr_capture())
    }

    /// Fill in what the child wrote (the memfds share their offset with the child's copies).
    #[cfg(target_os = "linux")]
    fn collect(&self, mut output: Output) -> Output {
        use std::io::{Read, Seek};
        let read = |mut file: &std::fs::File| {
            let mut bytes = Vec::new();
            let _ = file.seek(std::io::SeekFrom::Start(0)).and_then(|_| file.read_to_end(&mut bytes));
            String::from_utf8_lossy(&bytes).into_owned()
        };
        output.stdout = read(&self.files[0]);
        output.stderr = read(&self.files[1]);
        output
    }

    #[cfg(not(target_os = "linux"))]
    fn collect(&self, output: Output) -> Output {
        output
    }
}

/// Stop every child of a round that has no result yet (but `except`, which just ended) with
/// its process group.
fn kill_unfinished(
    running: &[Result<Running, ExecError>],
    results: &[Option<Result<Output, ExecError>>],
    except: usize,
) {
    for (index, child) in running.iter().enumerate() {
        if let (Ok(child), None) = (child, &results[index]) {
            if index != except {
                kill_group(&child.handle.pids());
            }
        }
    }
}

/// Stop a child and everything in its process group.
fn kill_group(pids: &[u32]) {
    for &pid in pids {
        // SAFETY: killpg only sends a signal; a stale group id at worst yields ESRCH.
        unsafe {
            libc::killpg(pid as libc::pid_t, libc::SIGKILL);
        }
    }
}

fn to_output(output: &std::process::Output, duration: Duration) -> Output {
    use std::os::unix::process::ExitStatusExt;
    Output {
        code: output.status.code(),
        signal: output.status.signal(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        duration,
        stopped: false,
    }
}

impl Exec for Runner {
    fn run(&mut self, invocation: &Invocation) -> Result<Output, ExecError> {
        self.run_by(invocation, None)
    }

    fn run_by(&mut self, invocation: &Invocation, by: Option<Instant>) -> Result<Output, ExecError> {
        let running = self.start(invocation);
        self.finish(invocation, running, by)
    }

    /// Every command is started before the first is waited for: independent reads take the
    /// time of the slowest instead of the sum. Each is journaled as it is collected.
    fn run_all(&mut self, invocations: &[&Invocation], by: Option<Instant>) -> Vec<Result<Output, ExecError>> {
        self.run_round(invocations, by, &|_, _| false)
    }

    /// `run_all`, and the moment a command's answer settles the round, every command still
    /// running is killed with its process group (their results `Err(Settled)`): the round ends
    /// with that answer, not with the slowest.
    fn run_round(
        &mut self,
        invocations: &[&Invocation],
        by: Option<Instant>,
        settles: &dyn Fn(usize, &Result<Output, ExecError>) -> bool,
    ) -> Vec<Result<Output, ExecError>> {
        let running: Vec<Result<Running, ExecError>> =
            invocations.iter().map(|invocation| self.start(invocation)).collect();
        let mut results: Vec<Option<Result<Output, ExecError>>> = vec![None; running.len()];
        std::thread::scope(|scope| {
            // A thread per child only waits for it (SIGCHLD, no polling) and says which one
            // ended, so each is journaled as soon as it is done, whichever finishes first.
            let (sender, ended) = mpsc::channel::<usize>();
            let mut pending = 0;
            for (index, child) in running.iter().enumerate() {
                match child {
                    Ok(child) => {
                        pending += 1;
                        let sender = sender.clone();
                        scope.spawn(move || {
                            let _ = child.handle.wait();
                            let _ = sender.send(index);
                        });
                    }
                    Err(error) => {
                        let result = Err(error.clone());
                        self.record(invocations[index], SystemTime::now(), &result);
                        results[index] = Some(result);
                    }
                }
            }
            drop(sender);
            let mut stop: Option<ExecError> = None;
            while pending > 0 {
                match ended.recv_timeout(TICK) {
                    Ok(index) => {
                        pending -= 1;
                        let Ok(child) = &running[index] else { continue };
                        let collected =
                            child.handle.wait().map(|o| child.capture.collect(to_output(o, child.clock.elapsed())));
                        // One that exited by itself before the stop keeps its own result.
                        let killed = collected.as_ref().is_ok_and(|o| o.signal == Some(libc::SIGKILL));
                        let reason = if killed { stop.clone() } else { None };
                        let result = match (&reason, collected) {
                            (Some(ExecError::TimedOut { after, .. }), Ok(partial)) => Err(ExecError::TimedOut {
                                after: *after,
                                stdout: partial.stdout,
                                stderr: partial.stderr,
                            }),
                            (Some(reason), _) => Err(reason.clone()),
                            (None, Ok(output)) => Ok(output),
                            (None, Err(e)) => Err(ExecError::Io(e.to_string())),
                        };
                        self.record(invocations[index], child.started, &result);
                        if stop.is_none() && settles(index, &result) {
                            stop = Some(ExecError::Settled);
                            kill_unfinished(&running, &results, index);
                        }
                        results[index] = Some(result);
                    }
                    Err(mpsc::RecvTimeoutError::Timeout) if stop.is_none() => {
                        let now = Instant::now();
                        let timeout_at =
                            running.iter().flatten().map(|c| c.clock).min().unwrap_or(now) + self.command_timeout;
                        stop = if self.interrupted.load(Ordering::SeqCst) {
                            Some(ExecError::Interrupted)
                        } else if by.is_some_and(|by| now >= by && by < timeout_at) {
                            Some(ExecError::Deadline)
                        } else if now >= timeout_at {
                            Some(ExecError::TimedOut {
                                after: self.command_timeout,
                                stdout: String::new(),
                                stderr: String::new(),
                            })
                        } else {
                            None
                        };
                        if stop.is_some() {
                            kill_unfinished(&running, &results, usize::MAX);
                        }
                    }
                    Err(mpsc::RecvTimeoutError::Timeout) => {}
                    Err(mpsc::RecvTimeoutError::Disconnected) => break,
                }
            }
        });
        results.into_iter().map(|r| r.unwrap_or_else(|| Err(ExecError::Io("no result".into())))).collect()
    }

    fn follow(
        &mut self,
        invocation: &Invocation,
        deadline: Instant,
        on_line: &mut dyn FnMut(&str) -> Flow,
    ) -> Result<Output, ExecError> {
        self.follow_all(&[invocation], deadline, &mut |_, line| on_line(line)).remove(0)
    }

    fn follow_all(
        &mut self,
        invocations: &[&Invocation],
        deadline: Instant,
        on_line: &mut dyn FnMut(usize, &str) -> Flow,
    ) -> Vec<Result<Output, ExecError>> {
        // A thread per child turns its pipe into lines on one channel (and says when the pipe
        // closes), so the loop below can keep an eye on the clock and the signal flag while no
        // line arrives.
        let (sender, lines) = mpsc::channel::<(usize, Option<String>)>();
        let mut children: Vec<Result<Followed, ExecError>> = invocations
            .iter()
            .enumerate()
            .map(|(index, invocation)| self.start_followed(invocation, index, sender.clone()))
            .collect();
        drop(sender);
        let mut interrupted = false;
        if children.iter().all(Result::is_ok) {
            loop {
                if self.interrupted.load(Ordering::SeqCst) {
                    interrupted = true;
                    break;
                }
                let now = Instant::now();
                if now >= deadline {
                    break;
                }
                match lines.recv_timeout((deadline - now).min(TICK * 5)) {
                    Ok((index, Some(line))) => {
                        if let Ok(child) = &mut children[index] {
                            child.stdout.push_str(&line);
                            child.stdout.push('\n');
                        }
                        if on_line(index, &line) == Flow::Stop {
                            break;
                        }
                    }
                    // One of them ended: the caller looks again and watches again.
                    Ok((_, None)) | Err(mpsc::RecvTimeoutError::Disconnected) => break,
                    Err(mpsc::RecvTimeoutError::Timeout) => {}
                }
            }
        }
        // Stop whatever still runs, then reap each (briefly) for its status and stderr.
        let mut stopped = vec![false; children.len()];
        for (index, child) in children.iter().enumerate() {
            if let Ok(child) = child {
                if child.reader.try_wait().ok().flatten().is_none() {
                    kill_group(&child.reader.pids());
                    stopped[index] = true;
                }
            }
        }
        let results: Vec<Result<Output, ExecError>> = children
            .iter_mut()
            .zip(stopped)
            .map(|(child, stopped)| {
                let child = child.as_mut().map_err(|e| e.clone())?;
                if let Some(thread) = child.thread.take() {
                    let _ = thread.join();
                }
                if interrupted {
                    return Err(ExecError::Interrupted);
                }
                let reaped_by = Instant::now() + TICK * 50;
                let status = loop {
                    match child.reader.try_wait() {
                        Ok(Some(output)) => break Some(to_output(output, child.clock.elapsed())),
                        Ok(None) if Instant::now() < reaped_by => std::thread::sleep(TICK / 4),
                        _ => break None,
                    }
                };
                let (code, signal, stderr) = match status {
                    Some(o) => (o.code, o.signal, o.stderr),
                    None => (None, Some(libc::SIGKILL), String::new()),
                };
                Ok(Output {
                    code,
                    signal,
                    stdout: std::mem::take(&mut child.stdout),
                    stderr,
                    duration: child.clock.elapsed(),
                    stopped,
                })
            })
            .collect();
        for ((invocation, child), result) in invocations.iter().zip(&children).zip(&results) {
            let started = child.as_ref().map_or_else(|_| SystemTime::now(), |c| c.started);
            self.record(invocation, started, result);
        }
        results
    }

    fn now(&self) -> Instant {
        Instant::now()
    }

    fn note(&mut self, what: &str, value: serde_json::Value) {
        if let Some(journal) = &self.journal {
            journal.note(what, &value);
        }
    }

    /// A thread with a runner of its own (the same environment and journal, no signal flag: it
    /// renews until told to stop, after a signal too, so the lock is held until it is
    /// released) runs `renewal` every `every`; each command at most `every` long.
    fn keep(&mut self, every: Duration, mut renewal: Renewal) {
        self.stop_keeping();
        let stop = Arc::new(AtomicBool::new(false));
        let mut background = self.helper(every.min(self.command_timeout));
        let lost = Arc::clone(&self.lost);
        let stopping = Arc::clone(&stop);
        let thread = std::thread::spawn(move || loop {
            let until = Instant::now() + every;
            while Instant::now() < until {
                if stopping.load(Ordering::SeqCst) {
                    return;
                }
                std::thread::sleep(TICK);
            }
            if let Err(why) = renewal(&mut background) {
                if let Ok(mut lost) = lost.lock() {
                    *lost = Some(why);
                }
                return;
            }
        });
        self.keeper = Some(Keeper { stop, thread });
    }

    /// The child starts now; its output goes to memory files (no reader thread), read when it
    /// is collected.
    fn spawn(&mut self, invocation: &Invocation) -> Pending {
        let running = match self.start(invocation) {
            Ok(running) => running,
            Err(error) => {
                let result = Err(error);
                self.record(invocation, SystemTime::now(), &result);
                return Pending::Done(result);
            }
        };
        let stop = Arc::new(AtomicBool::new(false));
        let (journal, invocation, timeout) = (self.journal.clone(), invocation.clone(), self.command_timeout);
        let (stopping, interrupted) = (Arc::clone(&stop), Arc::clone(&self.interrupted));
        let thread = std::thread::spawn(move || {
            let started = running.started;
            let result = supervise(running, timeout, None, &interrupted, Some(&stopping));
            if let Some(journal) = &journal {
                journal.record(&invocation, started, &result);
            }
            result
        });
        self.background.push(Some(Background { stop, thread }));
        Pending::Running(self.background.len() - 1)
    }

    /// The pages run on a thread with a runner of its own (the same environment, journal and
    /// signal flag), each under `--command-timeout`, the one running stopped when collected at
    /// its deadline.
    fn spawn_pages(&mut self, first: &Invocation, mut pager: Pager) -> Pending {
        let stop = Arc::new(AtomicBool::new(false));
        let mut pages = self.helper(self.command_timeout);
        pages.interrupted = Arc::clone(&self.interrupted);
        let (stopping, first) = (Arc::clone(&stop), first.clone());
        let thread = std::thread::spawn(move || {
            let mut invocation = first;
            loop {
                let running = pages.start(&invocation);
                let started = running.as_ref().map_or_else(|_| SystemTime::now(), |r| r.started);
                let result = running.and_then(|running| {
                    supervise(running, pages.command_timeout, None, &pages.interrupted, Some(&stopping))
                });
                pages.record(&invocation, started, &result);
                match result {
                    Ok(output) if output.success() => match pager(&invocation, &output) {
                        Some(next) if !stopping.load(Ordering::SeqCst) => invocation = next,
                        Some(_) => return Err(ExecError::Deadline),
                        None => return Ok(output),
                    },
                    other => return other,
                }
            }
        });
        self.background.push(Some(Background { stop, thread }));
        Pending::Running(self.background.len() - 1)
    }

    /// Waits for the command's thread; at `deadline` it stops the command.
    fn collect(&mut self, pending: Pending, deadline: Option<Instant>) -> Result<Output, ExecError> {
        let index = match pending {
            Pending::Done(result) => return result,
            Pending::Running(index) => index,
        };
        let Some(background) = self.background.get_mut(index).and_then(Option::take) else {
            return Err(ExecError::Io("collected twice".into()));
        };
        while !background.thread.is_finished() {
            if deadline.is_some_and(|d| Instant::now() >= d) {
                background.stop.store(true, Ordering::SeqCst);
            }
            std::thread::sleep(TICK);
        }
        background.thread.join().unwrap_or_else(|_| Err(ExecError::Io("the command's thread failed".into())))
    }

    fn stop_keeping(&mut self) -> Option<String> {
        if let Some(keeper) = self.keeper.take() {
            keeper.stop.store(true, Ordering::SeqCst);
            let _ = keeper.thread.join();
        }
        self.lost.lock().ok().and_then(|lost| lost.clone())
    }

    /// After a signal too: the release of the cluster lock must run. Never in check mode.
    fn run_to_clean_up(&mut self, invocation: &Invocation, within: Duration) -> Result<Output, ExecError> {
        if self.check_mode && invocation.effect == Effect::Mutating {
            return Err(ExecError::RefusedInCheckMode);
        }
        self.helper(within).run(invocation)
    }

    fn sleep(&mut self, duration: Duration) -> Result<(), ExecError> {
        let until = Instant::now() + duration;
        loop {
            if self.interrupted.load(Ordering::SeqCst) {
                return Err(ExecError::Interrupted);
            }
            let now = Instant::now();
            if now >= until {
                return Ok(());
            }
            std::thread::sleep((until - now).min(TICK));
        }
    }
}
