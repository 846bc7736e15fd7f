//! The command line: the subcommands, their help, and parsing. The options themselves are
//! defined once in [`crate::options`]; here each command says which of them it does without
//! ([`unused`]): those are left out of its `--help` and its completions, and refused when given
//! on its command line (set from the environment, they are ignored, so one exported
//! `CALICO_DOWNGRADE_YES=1` does not break `status`).
//!
//! Usage errors name what the operator wrote: the option, or the environment variable when
//! the value came from one.

use std::ffi::OsString;

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::parser::ValueSource;
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::exit::Exit;
use crate::options::{Options, Presentation};

const ABOUT_ORDERS: &str = "\
Orders: by default the docs' (\"Downgrading a self-hosted installation\"): abort
the data migration, then roll back. --rollback-first rolls back and waits
first, as the Calico troubleshooting page and calico-upgrade's own abort prompt
ask (\"all calico/node instances ... should be running Calico v2.x\").";

const ENVIRONMENT: &str = "\
Every option can also be set from CALICO_DOWNGRADE_<NAME>, as in
CALICO_DOWNGRADE_NAMESPACE=calico or CALICO_DOWNGRADE_YES=1.";

// Every example fits an 80-column terminal on one line (a test renders the help at 80).
const EXAMPLES: &str = "\
Examples:
  calico-downgrade plan                      what would be done, and how
  calico-downgrade run                       show the plan, ask, then downgrade
  calico-downgrade run --yes --output json   unattended: one JSON document
  calico-downgrade run --rollback-first      roll back and wait, then abort
  calico-downgrade run --replace-pods        an OnDelete DaemonSet: replace pods
  calico-downgrade abort                     only \"Aborting the upgrade\"
  calico-downgrade status --watch            follow the pods until converged
  kubectl calico-downgrade plan              as a kubectl plugin
Each command's own options: calico-downgrade <COMMAND> --help";

const PLAN_EXAMPLES: &str = "\
Examples:
  calico-downgrade plan                          what `run` would do
  calico-downgrade plan --context prod           on another context
  calico-downgrade plan --output json            the plan as one JSON document
  calico-downgrade plan --rollback-first         in the troubleshooting order";

const RUN_EXAMPLES: &str = "\
Examples:
  calico-downgrade run                           show the plan, ask, then act
  calico-downgrade run --yes --output json       unattended: one JSON document
  calico-downgrade run --replace-pods --yes      OnDelete: replace the pods too
  calico-downgrade run --stop-typha --yes        also scale Typha down to 0
  calico-downgrade run --stall-timeout 30m       wait while the rollout moves

The wait goes on as long as the rollout progresses (a pod updated or becoming
ready, a workload's counts advancing) and gives up after --stall-timeout
(default 10m) with no progress; --timeout, unset unless given, is a limit in
all. The live line shows the pace and about how long is left.";

const ABORT_EXAMPLES: &str = "\
Examples:
  calico-downgrade abort --check                 what the abort would run
  calico-downgrade abort --yes                   abort the data migration
  calico-downgrade abort --apiconfigv1 v1.yaml   with calico-upgrade's files";

const STATUS_EXAMPLES: &str = "\
Examples:
  calico-downgrade status                        one look at the Calico pods
  calico-downgrade status --watch --timeout 5m   follow them until converged
  calico-downgrade status --output json          the pods and the verdict";

const STATUS_EXIT_CODES: &str = "\
Exit codes:
  0    converged: every pod Running, ready, on the pre-upgrade images
  1    not converged (or a command failed)
  2    usage error, or output the tool could not read
  3    a precondition is not met (kubectl missing, no such DaemonSet)
  130  interrupted (SIGINT, SIGTERM, SIGHUP)";

/// The rows of the exit-code table that apply to a command.
fn exit_codes(codes: &[&str]) -> String {
    let mut lines = crate::exit::TABLE.lines();
    let title = lines.next().unwrap_or_default();
    let rows = lines.filter(|line| codes.contains(&line.split_whitespace().next().unwrap_or_default()));
    std::iter::once(title).chain(rows).collect::<Vec<_>>().join("\n")
}

fn help(examples: &str, codes: &[&str]) -> String {
    format!("{examples}\n\n{}", exit_codes(codes))
}

#[derive(Debug, Parser)]
#[command(
    name = "calico-downgrade",
    version,
    about = "Take a Kubernetes cluster from Calico v3.0 back to Calico v2.6, as the Calico docs prescribe",
    after_help = format!("{EXAMPLES}\n\n{ENVIRONMENT}\n\n{}", crate::exit::TABLE),
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: CommandArg,
    #[command(flatten)]
    pub options: Options,
    #[command(flatten)]
    pub presentation: Presentation,
}

#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum CommandArg {
    /// Read-only: find the tools, inspect the cluster, print the plan and the exact commands
    #[command(after_help = help(PLAN_EXAMPLES, &["0", "1", "2", "3", "130"]))]
    Plan,
    /// Carry out the downgrade: abort the migration, roll back, wait, verify
    #[command(after_help = format!("{}\n\n{ABOUT_ORDERS}", help(RUN_EXAMPLES, &["0", "1", "2", "3", "4", "130"])))]
    Run {
        /// Only show what would be done (the same as `plan`)
        #[arg(long)]
        check: bool,
    },
    /// Only the "Aborting the upgrade" section (Calico components never upgraded)
    #[command(after_help = help(ABORT_EXAMPLES, &["0", "1", "2", "3", "130"]))]
    Abort {
        /// Only show what would be done
        #[arg(long)]
        check: bool,
    },
    /// Show the Calico pods and whether the downgrade has converged (exit 0 if so, 1 if not)
    #[command(after_help = format!("{STATUS_EXAMPLES}\n\n{STATUS_EXIT_CODES}"))]
    Status {
        /// Follow the pods until they converge, or nothing advances for --stall-timeout
        #[arg(long)]
        watch: bool,
    },
    /// Print shell completions (bash, zsh, fish, elvish, powershell)
    #[command(after_help = "Example:\n  calico-downgrade completions bash > /etc/bash_completion.d/calico-downgrade")]
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff)
    #[command(after_help = "Example:\n  calico-downgrade man > /usr/local/share/man/man1/calico-downgrade.1")]
    Man,
}

/// Every option (by its id, the field name) that a command of the playbook does without.
/// Options not listed are used by every such command; `completions`, `man` and `help` use
/// none ([`uses_options`]).
pub fn unused(command: &str) -> &'static [&'static str] {
    match command {
        // A plan never changes anything, so there is nothing to confirm, and it never waits.
        "plan" => &["yes", "abort_while_v3", "stall_timeout", "timeout", "poll_interval", "no_watch"],
        "run" => &["abort_while_v3"],
        // The abort neither rolls back nor waits.
        "abort" => &[
            "to_revision",
            "stall_timeout",
            "timeout",
            "poll_interval",
            "no_watch",
            "replace_pods",
            "rollback_first",
            "stop_typha",
            "despite_reconciler",
        ],
        // Status only looks (the migration state included); it changes nothing.
        "status" => &[
            "calicoctl",
            "to_revision",
            "replace_pods",
            "rollback_first",
            "yes",
            "abort_while_v3",
            "stop_typha",
            "despite_reconciler",
        ],
        _ => &[],
    }
}

/// Whether a command runs the playbook and so takes the options at all.
pub fn uses_options(command: &str) -> bool {
    matches!(command, "plan" | "run" | "abort" | "status")
}

/// The clap command with each subcommand's unused options hidden from its help and completions.
pub fn command() -> clap::Command {
    // The variables are named once, after the examples (`ENVIRONMENT`), not beside each option:
    // the option list then fits an 80-column terminal in two columns.
    let command = Cli::command().mut_args(|arg| arg.hide_env(true));
    let globals: Vec<clap::Arg> = command.get_arguments().filter(|arg| arg.is_global_set()).cloned().collect();
    // clap copies each global option into every subcommand that lacks it when the command is
    // built; a hidden copy put there first is kept instead.
    command.mut_subcommands(|mut sub| {
        let name = sub.get_name().to_string();
        let unused_here = |arg: &&clap::Arg| !uses_options(&name) || unused(&name).contains(&arg.get_id().as_str());
        for arg in globals.iter().filter(unused_here) {
            sub = sub.arg(arg.clone().hide(true));
        }
        sub
    })
}

/// Text for roff: backslashes and dashes escaped, no line read as a request.
fn roff(text: &str) -> String {
    text.lines()
        .map(|line| {
            let line = line.replace('\\', "\\e").replace('-', "\\-").replace('\'', "\\(aq");
            if line.starts_with('.') {
                format!("\\&{line}")
            } else {
                line
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The manual page: one page for the tool and every command (with the options each uses, its
/// examples and exit codes), so it refers to no page that is not installed.
pub fn man_page() -> Vec<u8> {
    let mut command = command();
    command.build();
    let man = clap_mangen::Man::new(command.clone());
    let mut out = Vec::new();
    type Section = fn(&clap_mangen::Man, &mut dyn std::io::Write) -> std::io::Result<()>;
    let sections: [Section; 5] = [
        clap_mangen::Man::render_title,
        clap_mangen::Man::render_name_section,
        clap_mangen::Man::render_synopsis_section,
        clap_mangen::Man::render_description_section,
        clap_mangen::Man::render_options_section,
    ];
    for section in sections {
        section(&man, &mut out).expect("writing to memory cannot fail");
    }
    let mut page = String::from(".SH COMMANDS\n");
    for sub in command.get_subcommands().filter(|sub| sub.get_name() != "help") {
        let options: Vec<String> = sub
            .get_arguments()
            .filter(|arg| !arg.is_hide_set())
            .filter_map(|arg| arg.get_long().filter(|long| *long != "help").map(|long| format!("--{long}")))
            .collect();
        page.push_str(&format!(".SS \"{}\"\n", roff(&format!("calico-downgrade {}", sub.get_name()))));
        page.push_str(&format!("{}\n", roff(&sub.get_about().map(ToString::to_string).unwrap_or_default())));
        if !options.is_empty() {
            page.push_str(&format!(".PP\nOptions: {}\n", roff(&options.join(", "))));
        }
        if let Some(after) = sub.get_after_help() {
            page.push_str(&format!(".PP\n.nf\n{}\n.fi\n", roff(&after.to_string())));
        }
    }
    if let Some(after) = command.get_after_help() {
        page.push_str(&format!(".SH EXTRA\n.nf\n{}\n.fi\n", roff(&after.to_string())));
    }
    page.push_str(&format!(
        ".SH \"SEE ALSO\"\n{}\n.SH VERSION\nv{}\n",
        roff("calico-downgrade COMMAND --help; the Calico v3.0 documentation, \"Downgrading Calico\" (https://docs.projectcalico.org/v3.0/getting-started/kubernetes/upgrade/downgrade)."),
        env!("CARGO_PKG_VERSION"),
    ));
    out.extend_from_slice(page.as_bytes());
    out
}

/// The names that are subcommands (also `help`), which are never read as a file name.
pub fn subcommand_names() -> Vec<String> {
    let command = Cli::command();
    let mut names: Vec<String> = command
        .get_subcommands()
        .flat_map(|s| std::iter::once(s.get_name().to_string()).chain(s.get_all_aliases().map(str::to_string)))
        .collect();
    names.push("help".into());
    names
}

/// Why the command line did not give a command to run.
#[derive(Debug)]
pub struct Usage {
    /// What to print (help and version on stdout, errors on stderr).
    pub message: String,
    /// 0 for `--help` and `--version`, 2 for an error.
    pub exit: i32,
    /// The clap error, to print with its colours on a terminal.
    pub error: clap::Error,
    /// `--output json` was asked for, so an error is also a JSON document.
    pub json: bool,
}

/// Parse the command line; `vars` is the environment as `main` read it (clap reads the
/// `CALICO_DOWNGRADE_*` variables itself; `vars` only lets an error name the variable).
pub fn parse(args: &[OsString], vars: &[(String, String)]) -> Result<Cli, Box<Usage>> {
    let json = wants_json(args, vars);
    let usage = |error: clap::Error| {
        let exit = if error.use_stderr() { Exit::Unrecognised.code() } else { 0 };
        Box::new(Usage { message: error.render().to_string(), exit, error, json })
    };
    let mut command = command();
    let matches = command
        .try_get_matches_from_mut(args)
        .map_err(|error| usage(name_the_variable(error, &command, args, vars)))?;
    if let Some((name, sub)) = matches.subcommand() {
        let given: Vec<(String, String)> = command
            .get_arguments()
            .filter(|arg| arg.is_global_set())
            .filter(|arg| !uses_options(name) || unused(name).contains(&arg.get_id().as_str()))
            .filter(|arg| sub.value_source(arg.get_id().as_str()) == Some(ValueSource::CommandLine))
            .map(|arg| (arg.get_id().to_string(), arg.get_long().unwrap_or_default().to_string()))
            .collect();
        if let Some((_, flag)) = given.first() {
            let message = format!("`{name}` does not use --{flag} (see `calico-downgrade {name} --help`)");
            let error = match command.find_subcommand_mut(name) {
                Some(sub) => sub.error(ErrorKind::ArgumentConflict, message),
                None => command.error(ErrorKind::ArgumentConflict, message),
            };
            return Err(usage(error));
        }
    }
    Cli::from_arg_matches(&matches).map_err(|error| usage(error.with_cmd(&command)))
}

/// Whether `--output json` was asked for, on the command line or in the environment; read
/// leniently, because it decides how a command line that did not parse is reported.
fn wants_json(args: &[OsString], vars: &[(String, String)]) -> bool {
    let args: Vec<&str> = args.iter().filter_map(|a| a.to_str()).collect();
    for (index, arg) in args.iter().enumerate().rev() {
        if *arg == "--output" {
            return args.get(index + 1) == Some(&"json");
        }
        if let Some(value) = arg.strip_prefix("--output=") {
            return value == "json";
        }
    }
    vars.iter().any(|(name, value)| name == "CALICO_DOWNGRADE_OUTPUT" && value == "json")
}

/// A value that clap refused and that came from a `CALICO_DOWNGRADE_*` variable: say so, with
/// the variable's name (clap names only the option).
fn name_the_variable(
    error: clap::Error,
    command: &clap::Command,
    args: &[OsString],
    vars: &[(String, String)],
) -> clap::Error {
    if !matches!(error.kind(), ErrorKind::InvalidValue | ErrorKind::ValueValidation) {
        return error;
    }
    let (Some(ContextValue::String(shown)), Some(ContextValue::String(value))) =
        (error.get(ContextKind::InvalidArg), error.get(ContextKind::InvalidValue))
    else {
        return error;
    };
    let Some(arg) = command.get_arguments().find(|arg| arg.to_string() == *shown) else {
        return error;
    };
    let Some(variable) = arg.get_env().and_then(|e| e.to_str()) else {
        return error;
    };
    let long = arg.get_long().map(|l| format!("--{l}"));
    let short = arg.get_short().map(|s| format!("-{s}"));
    let on_the_command_line = args.iter().skip(1).filter_map(|a| a.to_str()).any(|a| {
        long.as_deref().is_some_and(|l| a == l || a.starts_with(&format!("{l}=")))
            || short.as_deref().is_some_and(|s| a.starts_with(s))
    });
    let from_the_variable = vars.iter().any(|(name, set)| name == variable && set == value);
    if on_the_command_line || !from_the_variable {
        return error;
    }
    let reason = std::error::Error::source(&error).map(|cause| format!(": {cause}")).unwrap_or_default();
    let accepted = if arg.get_num_args().is_some_and(|n| n.takes_values()) {
        String::new()
    } else {
        " (a flag: 1/0, true/false, yes/no, on/off)".to_string()
    };
    command.clone().error(
        ErrorKind::ValueValidation,
        format!("invalid value '{value}' in the environment variable {variable}, which sets {shown}{accepted}{reason}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Vec<OsString> {
        std::iter::once("calico-downgrade").chain(line.split_whitespace()).map(OsString::from).collect()
    }

    fn error(line: &str, vars: &[(&str, &str)]) -> String {
        let vars: Vec<(String, String)> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let usage = parse(&args(line), &vars).expect_err("refused");
        assert_eq!(usage.exit, 2, "{}", usage.message);
        usage.message.lines().next().unwrap_or_default().to_string()
    }

    #[test]
    fn the_command_definition_is_consistent() {
        command().debug_assert();
    }

    #[test]
    fn every_option_has_its_variable_and_every_unused_id_exists() {
        let command = Cli::command();
        let ids: Vec<String> = command.get_arguments().map(|a| a.get_id().to_string()).collect();
        for arg in command.get_arguments().filter(|a| a.get_long().is_some_and(|l| l != "help" && l != "version")) {
            let expected = format!("CALICO_DOWNGRADE_{}", arg.get_id().as_str().to_ascii_uppercase());
            assert_eq!(arg.get_env().and_then(|e| e.to_str()), Some(expected.as_str()), "{}", arg.get_id());
        }
        for name in subcommand_names() {
            for id in unused(&name) {
                assert!(ids.iter().any(|i| i == id), "unused({name}) names `{id}`, which is no option");
            }
        }
    }

    #[test]
    fn values_that_cannot_work_are_usage_errors_in_words() {
        assert_eq!(
            error("run --timeout 0s", &[]),
            "error: invalid value '0s' for '--timeout <DURATION>': `0s` is too short: at least 1s"
        );
        assert_eq!(
            error("run --timeout banana", &[]),
            "error: invalid value 'banana' for '--timeout <DURATION>': `banana` is not a duration such as 10m, 90s, 1h30m or 500ms"
        );
        assert!(error("run --to-revision -3", &[]).starts_with(
            "error: invalid value '-3' for '--to-revision <N>': `-3` is not a revision: revisions are numbered from 1"
        ));
        assert!(error("run --to-revision 0", &[])
            .starts_with("error: invalid value '0' for '--to-revision <N>': 0 is not a revision"));
        assert_eq!(
            error("run --context=--all", &[]),
            "error: invalid value '--all' for '--context <NAME>': `--all` starts with `-`: it would be read as an option"
        );
    }

    #[test]
    fn an_option_a_command_does_not_use_is_refused_on_its_command_line() {
        assert_eq!(
            error("status --replace-pods", &[]),
            "error: `status` does not use --replace-pods (see `calico-downgrade status --help`)"
        );
        assert_eq!(error("plan --yes", &[]), "error: `plan` does not use --yes (see `calico-downgrade plan --help`)");
        assert_eq!(
            error("completions zsh --namespace x", &[]),
            "error: `completions` does not use --namespace (see `calico-downgrade completions --help`)"
        );
    }

    #[test]
    fn a_value_on_the_command_line_is_named_as_the_option_even_with_the_variable_set() {
        // The variable holds the same value, but the command line set it: the option is named.
        // (clap reads the process environment itself; tests/it/cli.rs sets variables for real.)
        assert_eq!(
            error("run --yes --timeout 0s", &[("CALICO_DOWNGRADE_TIMEOUT", "0s")]),
            "error: invalid value '0s' for '--timeout <DURATION>': `0s` is too short: at least 1s",
            "a value on the command line is named as the option"
        );
    }

    #[test]
    fn a_subcommand_name_is_never_a_file_name() {
        let names = subcommand_names();
        for name in ["plan", "run", "abort", "status", "completions", "man", "help"] {
            assert!(names.iter().any(|n| n == name), "{name}");
        }
    }

    #[test]
    fn every_help_fits_an_80_column_terminal_without_wrapping_an_example() {
        let mut command = command().term_width(80);
        command.build();
        let mut helps = vec![("calico-downgrade".to_string(), command.render_long_help().to_string())];
        for sub in command.get_subcommands_mut() {
            helps.push((sub.get_name().to_string(), sub.render_long_help().to_string()));
        }
        for (name, help) in helps {
            let examples = help.split("Examples:").nth(1).unwrap_or_default();
            for line in examples.lines().filter(|l| l.starts_with("  ") && !l.starts_with("   ")) {
                let first = line.trim_start();
                assert!(
                    first.starts_with("calico-downgrade")
                        || first.starts_with("kubectl ")
                        || first.chars().next().is_some_and(|c| c.is_ascii_digit()),
                    "{name}: a wrapped example or exit-code line: {line:?}\n{help}"
                );
            }
            assert!(help.lines().all(|l| l.chars().count() <= 80), "{name}:\n{help}");
        }
    }

    #[test]
    fn plan_does_without_the_wait_s_options() {
        for option in ["timeout", "poll_interval", "no_watch", "yes"] {
            assert!(unused("plan").contains(&option), "{option}");
        }
    }

    #[test]
    fn each_command_help_shows_only_the_options_it_uses() {
        let mut command = command();
        let status = command.find_subcommand_mut("status").unwrap().render_help().to_string();
        assert!(!status.contains("--replace-pods") && !status.contains("--yes"), "{status}");
        assert!(status.contains("--watch") && status.contains("--timeout") && status.contains("Examples:"), "{status}");
        let abort = command.find_subcommand_mut("abort").unwrap().render_help().to_string();
        assert!(
            abort.contains("--check") && abort.contains("--apiconfigv1") && !abort.contains("--to-revision"),
            "{abort}"
        );
        assert!(abort.contains("Exit codes:") && !abort.contains("  4  "), "{abort}");
        let top = command.render_help().to_string();
        assert!(top.contains("man ") && top.contains("completions"), "{top}");
    }

    #[test]
    fn the_man_page_covers_every_command_and_names_no_page_that_is_not_installed() {
        let page = String::from_utf8(man_page()).unwrap();
        for section in [".SH COMMANDS", ".SS \"calico\\-downgrade status\"", ".SH \"SEE ALSO\"", "Exit codes:"] {
            assert!(page.contains(section), "{section}");
        }
        let references: Vec<&str> = page.split_whitespace().filter(|word| word.contains("(1)")).collect();
        assert!(references.is_empty(), "refers to pages: {references:?}");
        let status = &page[page.find(".SS \"calico\\-downgrade status\"").unwrap()..];
        let status = &status[..status[4..].find(".SS").unwrap()];
        assert!(status.contains("\\-\\-watch") && !status.contains("replace\\-pods"), "{status}");
    }
}
