//! `calico-upgrade version|inprogress|abort`, printed the way its `cliHelper` prints
//! (`shared/formats/fixtures/calico-upgrade/`, FORMATS.md §2): everything on stdout, messages
//! word-wrapped at 79 columns, bullets at 76 with ` * ` / `   `, 79-dash separators between
//! blank lines. v1.0.0 has no `--no-prompts` (it reads `yes` from stdin); `inprogress` exists
//! from v1.0.4 on.

use crate::calicoctl::triple;
use crate::state::{exists, fnv32a, Datastore, FaultKind, State};
use crate::{Output, Then};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cmd {
    Version,
    InProgress,
    Abort { no_prompts: bool, v1: Option<String>, v3: Option<String>, args: Vec<String> },
}

impl Cmd {
    pub fn call(&self) -> &'static str {
        match self {
            Cmd::Version => "calico-upgrade-version",
            Cmd::InProgress => "calico-upgrade-inprogress",
            Cmd::Abort { .. } => "calico-upgrade-abort",
        }
    }
}

const DEFAULT_V1: &str = "/etc/calico/apiconfigv1.cfg";
const DEFAULT_V3: &str = "/etc/calico/apiconfigv3.cfg";

/// Parse `calico-upgrade ARGS...` (argv without argv[0]).
pub fn parse(args: &[String]) -> Result<Cmd, String> {
    let (command, rest) = args.split_first().ok_or("no subcommand")?;
    let mut no_prompts = false;
    let mut v1 = None;
    let mut v3 = None;
    let mut i = 0;
    while i < rest.len() {
        let arg = rest[i].as_str();
        let mut value = |flag: &str| -> Result<Option<String>, String> {
            if let Some(v) = arg.strip_prefix(flag).and_then(|r| r.strip_prefix('=')) {
                return Ok(Some(v.to_string()));
            }
            if arg == flag {
                i += 1;
                return rest.get(i).cloned().map(Some).ok_or_else(|| format!("{flag} needs a value"));
            }
            Ok(None)
        };
        if let Some(p) = value("--apiconfigv1")? {
            v1 = Some(p);
        } else if let Some(p) = value("--apiconfigv3")? {
            v3 = Some(p);
        } else if arg == "--no-prompts" && command == "abort" {
            no_prompts = true;
        } else {
            return Err(format!("unexpected argument {arg}"));
        }
        i += 1;
    }
    match command.as_str() {
        "version" if rest.is_empty() => Ok(Cmd::Version),
        "inprogress" => Ok(Cmd::InProgress),
        "abort" => Ok(Cmd::Abort { no_prompts, v1, v3, args: args.to_vec() }),
        _ => Err(format!("subcommand {command} is not simulated")),
    }
}

fn version_at_least(state: &State, wanted: (u64, u64, u64)) -> bool {
    triple(&state.config.calico_upgrade_version).is_none_or_ge(wanted)
}

/// A version that does not parse has every feature.
trait AtLeast {
    fn is_none_or_ge(&self, wanted: (u64, u64, u64)) -> bool;
}

impl AtLeast for Option<(u64, u64, u64)> {
    fn is_none_or_ge(&self, wanted: (u64, u64, u64)) -> bool {
        match self {
            None => true,
            Some(v) => *v >= wanted,
        }
    }
}

/// Whether the command will prompt, so the caller must read stdin (one line) first.
pub fn needs_stdin(cmd: &Cmd, state: &State) -> bool {
    match cmd {
        Cmd::Abort { no_prompts, v1, v3, .. } => {
            !no_prompts && state.config.datastore == Datastore::Etcd && config_error(v1, v3).is_none()
        }
        _ => false,
    }
}

/// Greedy word wrap on whitespace, honouring `\n`; empty segments vanish.
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    for segment in text.split('\n') {
        let mut line = String::new();
        for word in segment.split_whitespace() {
            if !line.is_empty() && line.len() + 1 + word.len() > width {
                lines.push(std::mem::take(&mut line));
            }
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
        if !line.is_empty() {
            lines.push(line);
        }
    }
    lines
}

fn msg(text: &str) -> String {
    wrap(text, 79).into_iter().map(|l| l + "\n").collect()
}

fn bullet(text: &str) -> String {
    wrap(text, 76)
        .into_iter()
        .enumerate()
        .map(|(i, l)| if i == 0 { format!(" * {l}\n") } else { format!("   {l}\n") })
        .collect()
}

fn separator() -> String {
    format!("\n{}\n\n", "-".repeat(79))
}

fn out(stdout: String, code: i32) -> Output {
    Output { stdout, stderr: String::new(), code, then: Then::Exit }
}

fn build_info(version: &str) -> (String, String) {
    match version {
        "v1.0.5" => ("2018-05-06T01:23:45+0000".into(), "3eefd49".into()),
        _ => {
            let hash = fnv32a(version.as_bytes());
            (
                format!("2018-0{}-{:02}T12:00:00+0000", 1 + hash % 5, 1 + hash % 28),
                format!("{:07x}", hash & 0x0fff_ffff),
            )
        }
    }
}

/// `LoadClients`: a non-default config path that does not exist is an error.
fn config_error(v1: &Option<String>, v3: &Option<String>) -> Option<String> {
    if let Some(p) = v3.as_deref().filter(|p| *p != DEFAULT_V3 && !exists(p)) {
        return Some(format!("Error reading apiconfigv3 file: {p}"));
    }
    if let Some(p) = v1.as_deref().filter(|p| *p != DEFAULT_V1 && !exists(p)) {
        return Some(format!("Error reading apiconfigv1 file: {p}"));
    }
    None
}

/// The top-level usage of v1.0.0–v1.0.3 (no `needed`/`inprogress`), printed with Println.
const OLD_USAGE: &str = "Usage:
  calico-upgrade [options] <command> [<args>...]

    dry-run   Perform a dry-run of the data migration. This validates that the
              v1 formatted data will be successfully converted and that the v3
              datastore is in the correct state for the data migration. This
              command outputs a full report of any migrated names, migration
              errors, or migrated name conflicts. See Description section
              below for details.
    start     Start the upgrade process. This does the following:
              -  performs a dry-run to verify the data will be migrated
                 successfully
              -  pauses Calico networking: this prevents new endpoints from
                 being created while allowing existing endpoints to remain
                 networked
              -  migrates the data from v1 to v3 format
    complete  This resumes Calico networking for the v3.x nodes.
    abort     This aborts the upgrade process by resuming Calico networking
              for the v2.x nodes.
    version   Display the version of calico-upgrade.

Options:
  -h --help               Show this screen.
  -l --log-level=<level>  Set the log level (one of panic, fatal, error,
                          warn, info, debug) [default: panic]

Description:
  The calico-upgrade command line tool is used to assist with the migration of
  v1-formatted data to the v3 format used by Calico v3.x.

  See 'calico-upgrade <command> --help' to read about a specific subcommand.
";

/// `calico-upgrade abort` usage of v1.0.0 (no `--no-prompts`), which docopt prints to stderr.
const OLD_ABORT_USAGE: &str = "Usage:
  calico-upgrade abort
      [--apiconfigv3=<V3_APICONFIG>]
      [--apiconfigv1=<V1_APICONFIG>]
";

const ABORT_INTRO: &str = "You are about to abort the upgrade process to Calico v3. At this point, all \
calico/node instances and orchestrator plugins (e.g. CNI) should be running Calico v2.x.";

const PROMPT: &str = "Type \"yes\" to proceed (any other input cancels): ";

/// Answer one command. `stdin` is what was read for a prompt.
pub fn execute(state: &mut State, cmd: Cmd, stdin: &str, fault: Option<FaultKind>) -> Output {
    match cmd {
        Cmd::Version => {
            let v = state.config.calico_upgrade_version.clone();
            let (date, commit) = build_info(&v);
            out(
                format!(
                    "{:<18} {v}\n{:<18} {date}\n{:<18} {commit}\n",
                    "Client Version:", "Build date:", "Git commit:"
                ),
                0,
            )
        }
        Cmd::InProgress => {
            if !version_at_least(state, (1, 0, 4)) {
                return Output {
                    stdout: format!("{OLD_USAGE}\n"),
                    stderr: "Unknown command: \"inprogress\"\n".into(),
                    code: 1,
                    then: Then::Exit,
                };
            }
            let mut text = separator();
            // `IsMigrationInProgress` = `ShouldMigrate && !Ready`: with KDD, or once the v3
            // ClusterInformation has a v3 calicoVersion, no migration is "needed" and the Ready
            // flag is not shown.
            if state.config.datastore == Datastore::Kubernetes || state.config.v3_cluster_information {
                text.push_str("Migration is NOT in Progress.\n\n");
                return out(text, 1);
            }
            if state.etcd_ready {
                text.push_str(&bullet("Ready flag is true."));
                text.push_str("Migration is NOT in Progress.\n\n");
                out(text, 1)
            } else {
                text.push_str(&bullet("Ready flag is false."));
                text.push_str("Migration is in Progress.\n\n");
                out(text, 0)
            }
        }
        Cmd::Abort { no_prompts, v1, v3, args } => {
            if no_prompts && !version_at_least(state, (1, 0, 1)) {
                return Output {
                    stdout: format!(
                        "Invalid option:\n  calico-upgrade {}\nUse flag '--help' to read about a specific subcommand.\n",
                        args.join(" ")
                    ),
                    stderr: OLD_ABORT_USAGE.into(),
                    code: 1,
                    then: Then::Exit,
                };
            }
            if let Some(error) = config_error(&v1, &v3) {
                let mut text = separator();
                text.push_str("Failed to abort the upgrade.\n");
                text.push_str(&bullet(&format!("Error accessing the Calico API: {error}")));
                text.push('\n');
                return out(text, 1);
            }
            if state.config.datastore == Datastore::Kubernetes {
                let mut text = separator();
                text.push_str(&msg(
                    "It is not necessary to abort the upgrade when using Kubernetes API as the datastore.  No action was taken.",
                ));
                text.push('\n');
                return out(text, 0);
            }
            let mut text = format!("\n{}\n", msg(ABORT_INTRO));
            if !no_prompts {
                text.push_str(PROMPT);
                let answer = stdin.split_whitespace().next().unwrap_or("");
                if !answer.eq_ignore_ascii_case("yes") {
                    text.push_str("User cancelled. Exiting.\n");
                    return out(text, 1);
                }
            }
            text.push_str("Aborting upgrade\n");
            text.push_str("Re-enabling Calico networking for v1\n");
            if fault == Some(FaultKind::FalseSuccess) {
                // v1.0.0–v1.0.3: setReadyV1 ignored the failed Apply and reported success.
                text.push_str(&bullet("failed to resume Calico networking in the v1 configuration"));
            } else {
                state.etcd_ready = true;
            }
            text.push_str(&bullet("successfully resumed Calico networking in the v1 configuration"));
            text.push_str("Upgrade aborted successfully\n");
            text.push_str(&separator());
            text.push_str("Successfully aborted the upgrade process.\n\n");
            out(text, 0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_matches_the_abort_intro_fixture() {
        assert_eq!(
            msg(ABORT_INTRO),
            "You are about to abort the upgrade process to Calico v3. At this point, all\n\
calico/node instances and orchestrator plugins (e.g. CNI) should be running\n\
Calico v2.x.\n"
        );
    }

    #[test]
    fn bullet_continues_with_three_spaces() {
        assert_eq!(
            bullet("Error accessing the Calico API: Error reading apiconfigv3 file: /tmp/missing.cfg"),
            " * Error accessing the Calico API: Error reading apiconfigv3 file:\n   /tmp/missing.cfg\n"
        );
    }
}
