//! A scripted executor for in-process scenario tests: each command (by its one spelling,
//! `Invocation`'s `Display`) answers from a queue of canned outputs, time moves only when the
//! playbook sleeps, and any command nobody scripted fails the test loudly.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use calico_downgrade::exec::{Effect, Exec, ExecError, Flow, Invocation, Output};

#[derive(Debug, Clone)]
pub enum Answer {
    Output {
        code: i32,
        stdout: String,
        stderr: String,
    },
    /// An output exactly as recorded (a replayed real run: a watch stopped by a signal, say).
    Exact(Output),
    Error(ExecError),
}

pub fn ok(stdout: &str) -> Answer {
    Answer::Output { code: 0, stdout: stdout.to_string(), stderr: String::new() }
}

pub fn exit(code: i32, stdout: &str, stderr: &str) -> Answer {
    Answer::Output { code, stdout: stdout.to_string(), stderr: stderr.to_string() }
}

/// The scripted wall clock: 2026-12-05T01:00:00Z plus the time scripted so far.
pub fn wall_clock_at(offset: Duration) -> std::time::SystemTime {
    std::time::UNIX_EPOCH + Duration::from_secs(1_796_432_400) + offset
}

pub struct Scripted {
    /// Per command: the answers in order; the last one repeats.
    answers: BTreeMap<String, VecDeque<Answer>>,
    pub log: Vec<(String, Effect, Option<String>)>,
    start: Instant,
    offset: Duration,
    pub check_mode: bool,
    /// Said after `unscripted command: …` (a replay names the capture to redo).
    pub unscripted_hint: String,
    /// The answers to the cluster lock's patches (`kubectl patch ds/… --type=json`), by their
    /// write (`add`: the take, `replace`: a renewal or takeover, `remove`: the release), whatever
    /// holder and times they carry (these come from the wall clock when the lock is taken); the
    /// last one of each repeats.
    pub lock_answers: BTreeMap<&'static str, VecDeque<Answer>>,
}

impl Scripted {
    pub fn new() -> Self {
        Scripted {
            answers: BTreeMap::new(),
            log: Vec::new(),
            start: Instant::now(),
            offset: Duration::ZERO,
            check_mode: false,
            unscripted_hint: String::new(),
            lock_answers: BTreeMap::new(),
        }
    }

    pub fn on(&mut self, command: &str, answer: Answer) -> &mut Self {
        self.answers.entry(command.to_string()).or_default().push_back(answer);
        self
    }

    /// Answer `command` with this alone from now on, dropping earlier answers.
    pub fn set(&mut self, command: &str, answer: Answer) -> &mut Self {
        self.answers.insert(command.to_string(), VecDeque::from([answer]));
        self
    }

    /// The commands run, one spelling each.
    pub fn commands(&self) -> Vec<String> {
        self.log.iter().map(|(c, _, _)| c.clone()).collect()
    }

    /// Answer the cluster lock's patch that writes with `op` (`add`, `replace`, `remove`) with
    /// `answer`, after those given before.
    pub fn on_lock(&mut self, op: &'static str, answer: Answer) -> &mut Self {
        self.lock_answers.entry(op).or_default().push_back(answer);
        self
    }

    /// The commands that changed Calico: the mutating ones but the cluster lock's own (taken
    /// before the first change and released at the end of every `run`).
    pub fn mutating(&self) -> Vec<String> {
        self.log.iter().filter(|(c, e, _)| *e == Effect::Mutating && !is_lock(c)).map(|(c, _, _)| c.clone()).collect()
    }

    fn answer(&mut self, invocation: &Invocation) -> Result<Output, ExecError> {
        let key = invocation.to_string();
        self.log.push((key.clone(), invocation.effect, invocation.stdin.clone()));
        if self.check_mode && invocation.effect == Effect::Mutating {
            return Err(ExecError::RefusedInCheckMode);
        }
        let hint = &self.unscripted_hint;
        let lock = lock_write(&key).and_then(|op| self.lock_answers.get_mut(op));
        let next = |queue: &mut VecDeque<Answer>| {
            if queue.len() > 1 {
                queue.pop_front().unwrap()
            } else {
                queue.front().cloned().unwrap()
            }
        };
        let answer = match (self.answers.get_mut(&key), lock) {
            (Some(queue), _) => next(queue),
            (None, Some(queue)) if !queue.is_empty() => next(queue),
            (None, _) => panic!("unscripted command: {key}{hint}"),
        };
        self.offset += Duration::from_millis(10);
        match answer {
            Answer::Output { code, stdout, stderr } => Ok(Output {
                code: Some(code),
                signal: None,
                stdout,
                stderr,
                duration: Duration::from_millis(10),
                stopped: false,
            }),
            Answer::Exact(output) => Ok(output),
            Answer::Error(error) => Err(error),
        }
    }
}

/// Whether the command is one of the cluster lock's patches.
pub fn is_lock(command: &str) -> bool {
    command.starts_with("kubectl patch ds/") && command.contains("calico-downgrade~1lock")
}

/// Which write a lock patch makes: `add` (the take), `replace` (a renewal, a takeover) or
/// `remove` (the release).
pub fn lock_write(command: &str) -> Option<&'static str> {
    if !is_lock(command) {
        return None;
    }
    // Shell-quoted in the spelling: the patch's quotes may come escaped.
    let command = command.replace('\\', "");
    ["add", "replace", "remove"].into_iter().find(|op| command.contains(&format!("\"op\":\"{op}\"")))
}

impl Exec for Scripted {
    fn run(&mut self, invocation: &Invocation) -> Result<Output, ExecError> {
        self.answer(invocation)
    }

    fn follow(
        &mut self,
        invocation: &Invocation,
        _deadline: Instant,
        on_line: &mut dyn FnMut(&str) -> Flow,
    ) -> Result<Output, ExecError> {
        let output = self.answer(invocation)?;
        for line in output.stdout.lines() {
            if on_line(line) == Flow::Stop {
                break;
            }
        }
        Ok(output)
    }

    fn now(&self) -> Instant {
        self.start + self.offset
    }

    /// A fixed wall clock, moved with the scripted one: the times written into the cluster
    /// lock are part of the commands' spelling.
    fn wall_clock(&self) -> std::time::SystemTime {
        wall_clock_at(self.offset)
    }

    fn sleep(&mut self, duration: Duration) -> Result<(), ExecError> {
        self.offset += duration;
        Ok(())
    }
}
