//! The Ansible binary module: invoked as `calico-downgrade <file>` with a single argument that
//! is a JSON file (and not a subcommand name), it reads `action` (plan, run, abort, status) and
//! the options in snake_case, honours `_ansible_check_mode`, never prompts, and prints the JSON
//! report.
//!
//! The arguments are turned into the command line they stand for and parsed by the same clap
//! definitions ([`crate::options`]), so every option is a module argument without a second
//! list. Values are read as Ansible sends them, as its own modules read them: booleans as
//! yes/no, true/false, on/off, 1/0 in any case, numbers and durations also as strings
//! (`to_revision: "1"`, a templated `"{{ rev }}"`). Errors name the argument.
//!
//! With `_ansible_diff` (`ansible-playbook --diff`) the result also carries Ansible's `diff`
//! ([`crate::report::diff`]). Its documentation for `ansible-doc` is generated from the same
//! definitions ([`documentation`]).

pub mod documentation;

use std::ffi::OsString;
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use clap::error::{ContextKind, ContextValue};
use serde_json::Value;

use crate::app::{execute, refuse_early, resolve, Snapshot};
use crate::exit::Exit;
use crate::options::{OutputFormat, Presentation};

/// The module's `action`: the subcommands that run the playbook.
pub const ACTIONS: [&str; 4] = ["plan", "run", "abort", "status"];

/// Options the module sets itself: it always prints JSON, never prompts, and takes check mode
/// from Ansible's `_ansible_check_mode`.
const SET_BY_THE_MODULE: &[&str] = &["output", "yes", "verbose", "quiet", "check", "help", "version"];

/// Arguments the module cannot use: a `failed` result naming the problem (Ansible reads the
/// result from stdout; a non-zero exit with a JSON result is reported as that result).
fn failed(msg: String) -> i32 {
    let presentation = Presentation { output: OutputFormat::Json, quiet: true, yes: true, ..Presentation::default() };
    refuse_early(&presentation, Exit::Unrecognised, &[msg])
}

/// Whether `args` is a module invocation: one argument that is no subcommand name and names a
/// file that holds a JSON object. A file called `plan` in the working directory leaves
/// `calico-downgrade plan` a subcommand.
pub fn module_file(args: &[OsString]) -> Option<&Path> {
    let [_, argument] = args else { return None };
    let text = argument.to_str();
    if text.is_some_and(|t| t.starts_with('-') || crate::cli::subcommand_names().iter().any(|n| n == t)) {
        return None;
    }
    let path = Path::new(argument);
    path.is_file().then_some(path)
}

/// `Some(exit code)` when invoked as an Ansible module, `None` for an ordinary command line.
pub fn try_module(args: &[OsString], snapshot: &Snapshot, interrupted: Arc<AtomicBool>) -> Option<i32> {
    let path = module_file(args)?;
    let text = std::fs::read_to_string(path).ok()?;
    if !text.trim_start().starts_with('{') {
        return None;
    }
    let call = command_line(&text).and_then(|argv| Ok((argv, diff_mode(&text)?)));
    Some(match call {
        Ok((argv, diff)) => match crate::cli::parse(&argv, &snapshot.utf8_vars()) {
            Ok(cli) => {
                let (command, options, mut presentation) = resolve(cli);
                presentation.output = OutputFormat::Json;
                presentation.quiet = true;
                presentation.yes = true;
                presentation.module = true;
                presentation.diff = diff;
                execute(command, &options, &presentation, snapshot, interrupted)
            }
            Err(usage) => failed(describe(&usage.error)),
        },
        Err(message) => failed(message),
    })
}

/// The module arguments as a JSON object.
fn arguments(text: &str) -> Result<serde_json::Map<String, Value>, String> {
    match serde_json::from_str(text) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err("the module arguments are not a JSON object".into()),
        Err(e) => Err(format!("the module arguments are not valid JSON: {e}")),
    }
}

/// Whether Ansible asks for the `diff` (`_ansible_diff`, `ansible-playbook --diff`).
pub fn diff_mode(text: &str) -> Result<bool, String> {
    match arguments(text)?.get("_ansible_diff") {
        None | Some(Value::Null) => Ok(false),
        Some(value) => boolean(value).ok_or_else(|| format!("`_ansible_diff`: {value} is not a boolean")),
    }
}

/// The options an action takes as module arguments: its own and the global ones it uses, less
/// those the module sets itself.
pub fn usable<'a>(command: &'a clap::Command, action: &str) -> Vec<&'a clap::Arg> {
    let sub = command.find_subcommand(action).expect("every action is a subcommand");
    sub.get_arguments()
        .chain(command.get_arguments())
        .filter(|arg| {
            let id = arg.get_id().as_str();
            !crate::cli::unused(action).contains(&id) && !SET_BY_THE_MODULE.contains(&id)
        })
        .collect()
}

/// The command line that the module arguments stand for.
pub fn command_line(text: &str) -> Result<Vec<OsString>, String> {
    let arguments = arguments(text)?;
    let action = match arguments.get("action") {
        Some(Value::String(action)) if ACTIONS.contains(&action.as_str()) => action.clone(),
        Some(other) => return Err(format!("option `action`: {other} is not one of plan, run, abort, status")),
        None => return Err("option `action` is required: plan, run, abort or status".into()),
    };
    let check_mode = match arguments.get("_ansible_check_mode") {
        None | Some(Value::Null) => false,
        Some(value) => boolean(value).ok_or_else(|| format!("`_ansible_check_mode`: {value} is not a boolean"))?,
    };
    let command = crate::cli::command();
    let usable = usable(&command, &action);
    let mut argv: Vec<OsString> = vec!["calico-downgrade".into(), action.clone().into()];
    let mut unknown = Vec::new();
    for (key, value) in &arguments {
        if key == "action" || key.starts_with("_ansible_") || value.is_null() {
            continue;
        }
        let Some(arg) = usable.iter().find(|arg| arg.get_id() == key.as_str()) else {
            unknown.push(key.clone());
            continue;
        };
        let long = arg.get_long().expect("every option has a long name");
        if arg.get_action().takes_values() {
            let text = match value {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                _ => return Err(format!("option `{key}`: expected a string or a number, not {value}")),
            };
            argv.push(format!("--{long}={text}").into());
        } else {
            match boolean(value) {
                Some(true) => argv.push(format!("--{long}").into()),
                Some(false) => {}
                None => {
                    return Err(format!("option `{key}`: {value} is not a boolean (yes/no, true/false, on/off, 1/0)"))
                }
            }
        }
    }
    if !unknown.is_empty() {
        return Err(format!("unsupported option(s) for action `{action}`: {}", unknown.join(", ")));
    }
    if check_mode && matches!(action.as_str(), "run" | "abort") {
        argv.push("--check".into());
    }
    Ok(argv)
}

/// A boolean as Ansible's `boolean()` reads one.
fn boolean(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => match n.as_f64() {
            Some(1.0) => Some(true),
            Some(0.0) => Some(false),
            _ => None,
        },
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "y" | "yes" | "on" | "1" | "true" | "t" => Some(true),
            "n" | "no" | "off" | "0" | "false" | "f" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// A clap error in the module's words: the argument's snake_case name instead of `--flag`.
fn describe(error: &clap::Error) -> String {
    let mut command = crate::cli::command();
    command.build();
    let argument = match error.get(ContextKind::InvalidArg) {
        Some(ContextValue::String(shown)) => {
            command.get_arguments().find(|a| a.to_string() == *shown).map(|a| a.get_id().to_string())
        }
        _ => None,
    };
    match (argument, error.get(ContextKind::InvalidValue)) {
        (Some(name), Some(ContextValue::String(value))) => {
            let cause = std::error::Error::source(error).map(|c| format!(": {c}")).unwrap_or_default();
            format!("option `{name}`: invalid value `{value}`{cause}")
        }
        _ => {
            let rendered = error.render().to_string();
            let first = rendered.lines().next().unwrap_or_default();
            first.strip_prefix("error: ").unwrap_or(first).to_string()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(json: &str) -> Result<Vec<String>, String> {
        command_line(json).map(|argv| argv.into_iter().map(|a| a.into_string().unwrap()).collect())
    }

    fn refusal(json: &str) -> String {
        let argv = command_line(json).expect("the arguments convert");
        describe(&crate::cli::parse(&argv, &[]).expect_err("refused").error)
    }

    #[test]
    fn values_are_read_as_ansible_sends_them() {
        assert_eq!(
            line(r#"{"action":"run","to_revision":"1","rollback_first":"yes","replace_pods":"Off","timeout":"90s","_ansible_check_mode":true}"#)
                .unwrap(),
            ["calico-downgrade", "run", "--rollback-first", "--timeout=90s", "--to-revision=1", "--check"]
        );
        assert_eq!(
            line(r#"{"action":"run","to_revision":2,"no_watch":1}"#).unwrap(),
            ["calico-downgrade", "run", "--no-watch", "--to-revision=2"]
        );
        for yes in ["yes", "YES", "True", "on", "1", "y", "t"] {
            assert_eq!(boolean(&Value::String(yes.into())), Some(true), "{yes}");
        }
        for no in ["no", "False", "OFF", "0", "n", "f"] {
            assert_eq!(boolean(&Value::String(no.into())), Some(false), "{no}");
        }
        let argv = command_line(r#"{"action":"run","to_revision":"1","rollback_first":"yes"}"#).unwrap();
        let cli = crate::cli::parse(&argv, &[]).expect("parses");
        assert_eq!((cli.options.to_revision, cli.options.rollback_first), (Some(1), true));
    }

    #[test]
    fn errors_name_the_argument() {
        assert_eq!(
            line(r#"{"action":"run","rollback_first":"maybe"}"#).unwrap_err(),
            r#"option `rollback_first`: "maybe" is not a boolean (yes/no, true/false, on/off, 1/0)"#
        );
        assert_eq!(
            refusal(r#"{"action":"run","timeout":"banana"}"#),
            "option `timeout`: invalid value `banana`: `banana` is not a duration such as 10m, 90s, 1h30m or 500ms"
        );
        assert!(refusal(r#"{"action":"run","to_revision":"0"}"#)
            .starts_with("option `to_revision`: invalid value `0`: 0 is not a revision"));
        assert_eq!(
            line(r#"{"action":"status","replace_pods":true,"yes":true,"bogus":1}"#).unwrap_err(),
            "unsupported option(s) for action `status`: bogus, replace_pods, yes"
        );
        assert_eq!(
            line(r#"{"action":"destroy"}"#).unwrap_err(),
            r#"option `action`: "destroy" is not one of plan, run, abort, status"#
        );
        assert_eq!(line(r#"["run"]"#).unwrap_err(), "the module arguments are not a JSON object");
    }

    #[test]
    fn the_diff_is_asked_for_with_ansible_diff_as_ansible_sends_it() {
        assert_eq!(diff_mode(r#"{"action":"run"}"#), Ok(false));
        assert_eq!(diff_mode(r#"{"action":"run","_ansible_diff":true}"#), Ok(true));
        assert_eq!(diff_mode(r#"{"action":"run","_ansible_diff":"False"}"#), Ok(false));
        assert_eq!(diff_mode(r#"{"action":"run","_ansible_diff":null}"#), Ok(false));
        assert_eq!(
            diff_mode(r#"{"action":"run","_ansible_diff":"perhaps"}"#),
            Err(r#"`_ansible_diff`: "perhaps" is not a boolean"#.to_string())
        );
        // Not an option of the tool: the command line is the same with or without it.
        assert_eq!(line(r#"{"action":"plan","_ansible_diff":true}"#).unwrap(), ["calico-downgrade", "plan"]);
    }

    #[test]
    fn a_subcommand_name_is_not_a_module_file_even_when_such_a_file_exists() {
        let dir = tempfile::tempdir().unwrap();
        let plan = dir.path().join("plan");
        std::fs::write(&plan, r#"{"action":"run"}"#).unwrap();
        // A file path is a module file; the bare subcommand name never is.
        assert_eq!(module_file(&["x".into(), plan.clone().into()]), Some(plan.as_path()));
        assert_eq!(module_file(&["x".into(), "plan".into()]), None);
        assert_eq!(module_file(&["x".into(), "--help".into()]), None);
    }
}
