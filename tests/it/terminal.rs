//! The interactive path through a real pseudo-terminal (rexpect): the plan, then one short
//! question naming the cluster; `n` changes nothing (exit 3); `y` shows only what happens next,
//! in colour, with the wait's live progress; the whole run fits one screen of a 120-column
//! terminal; nothing to do asks nothing; Ctrl-C at the question changes nothing (exit 130).

use std::os::fd::AsRawFd;

use rexpect::session::PtySession;

use crate::support::fake::FakeCluster;

const FAST: &[&str] = &["--pod-start-ms", "300", "--pod-stop-ms", "100"];
const QUESTION: &str =
    "Downgrade Calico in kube-system of context kubernetes-admin@fake-cluster (https://127.0.0.1:6443)? [y/N] ";

/// `calico-downgrade ARGS` on a pseudo-terminal of 120 columns, with a terminal's `TERM`.
fn on_a_terminal(cluster: &FakeCluster, args: &[&str]) -> PtySession {
    let mut command = cluster.bare_command(args);
    command.env("TERM", "xterm-256color");
    let session = rexpect::session::spawn_command(command, Some(60_000)).expect("a pseudo-terminal");
    let size = libc::winsize { ws_row: 50, ws_col: 120, ws_xpixel: 0, ws_ypixel: 0 };
    let pty = session.process().get_file_handle().expect("the terminal");
    // SAFETY: TIOCSWINSZ reads the winsize given, on a descriptor this test owns.
    assert_eq!(unsafe { libc::ioctl(pty.as_raw_fd(), libc::TIOCSWINSZ, &size) }, 0);
    session
}

/// The rows a transcript leaves on a 120-column screen: each line as it ends up (after its
/// last carriage return, escape sequences removed), wrapped at 120.
fn rows(transcript: &str) -> usize {
    let escapes = regex::Regex::new(r"\x1b\[[0-9;?]*[A-Za-z]").unwrap();
    transcript
        .split('\n')
        .map(|line| {
            let shown = line.rsplit('\r').find(|part| !escapes.replace_all(part, "").trim().is_empty()).unwrap_or("");
            let width = escapes.replace_all(shown, "").trim_end().chars().count();
            width.div_ceil(120).max(1)
        })
        .sum()
}

fn exit_code(session: &PtySession) -> Option<i32> {
    match session.process().wait().expect("the tool ends") {
        nix::sys::wait::WaitStatus::Exited(_, code) => Some(code),
        _ => None,
    }
}

#[test]
fn answering_no_changes_nothing_and_exits_3() {
    let cluster = FakeCluster::new(FAST);
    let mut session = on_a_terminal(&cluster, &["run"]);
    let plan = session.exp_string(QUESTION).expect("the question, after the plan");
    assert!(plan.contains("would run: kubectl rollout undo ds/calico-node deployment/calico-kube-controllers -n kube-system --to-revision=1"), "{plan}");
    session.send_line("n").unwrap();
    let rest = session.exp_eof().unwrap();
    assert!(rest.contains("not confirmed: nothing was changed"), "{rest}");
    assert_eq!(exit_code(&session), Some(3));
    assert!(!cluster.calls().iter().any(crate::support::fake::is_undo), "no undo ran");
}

#[test]
fn answering_yes_shows_only_what_happens_next_and_fits_one_screen() {
    // calico-config in v2.6's shape: nothing is left on v3.0, so the verdict is the claim.
    let cluster = FakeCluster::new(&[FAST, &["--cni-config", "v2"]].concat());
    let mut session = on_a_terminal(&cluster, &["run", "--timeout", "60s"]);
    let plan = session.exp_string(QUESTION).unwrap();
    session.send_line("y").unwrap();
    let run = session.exp_eof().unwrap();
    assert_eq!(exit_code(&session), Some(0), "{plan}{run}");
    // After the question, the tasks that found what the plan found are one line.
    assert!(run.contains("as planned: Find the tools, Find the cluster, Inspect the cluster"), "{run}");
    assert_eq!(run.matches("TASK [Inspect the cluster]").count(), 0, "{run}");
    // Colour on a terminal, and the verdict said once.
    assert!(run.contains("\x1b[33mchanged\x1b[0m: rolled back to revision 1"), "{run}");
    assert_eq!(format!("{plan}{run}").matches("Calico v2.6 is running").count(), 1, "{run}");
    // The wait's live line carries one clock: `[1.2s of 1m]`.
    assert!(regex::Regex::new(r"\[\d+\.\ds of 1m\] calico-node \d/3").unwrap().is_match(&run), "{run}");
    let screen = rows(&format!("{plan}{run}"));
    assert!(screen <= 70, "{screen} rows at 120 columns:\n{plan}{run}");
}

#[test]
fn with_nothing_to_do_there_is_no_question() {
    let cluster = FakeCluster::new(&["--state", "downgraded"]);
    let mut session = on_a_terminal(&cluster, &["run"]);
    let all = session.exp_eof().unwrap();
    assert_eq!(exit_code(&session), Some(0), "{all}");
    assert!(!all.contains("[y/N]") && all.contains("nothing to do"), "{all}");
}

#[test]
fn ctrl_c_at_the_question_changes_nothing_and_exits_130() {
    let cluster = FakeCluster::new(FAST);
    let mut session = on_a_terminal(&cluster, &["run"]);
    session.exp_string(QUESTION).unwrap();
    session.send_control('c').unwrap();
    let rest = session.exp_eof().unwrap();
    assert!(rest.contains("interrupted at the prompt: nothing was changed"), "{rest}");
    assert_eq!(exit_code(&session), Some(130));
    assert!(!cluster.calls().iter().any(crate::support::fake::is_undo));
}
