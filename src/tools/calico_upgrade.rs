//! calico-upgrade: `version`, `inprogress` and `abort`, and the parsers of what they print.
//!
//! Everything it prints goes to stdout, word-wrapped at 79 columns (bullets at 76, continued
//! with three spaces), between blank lines and 79-dash separators (`fixtures/calico-upgrade/`).
//! Traps: v1.0.0 has no `--no-prompts` and reads `yes` from stdin (EOF cancels, exit 1);
//! v1.0.0–v1.0.3 `abort` can print ` * failed to resume Calico networking in the v1
//! configuration` and still report success with exit 0; only v1.0.4+ has `inprogress`
//! (exit 0 = in progress, 1 = not, 2 = error).

use std::path::Path;

use semver::Version;
use serde::Serialize;

use super::{version, Unrecognised};
use crate::exec::{Invocation, Output, Tool};

/// `--apiconfigv1` / `--apiconfigv3`, passed through when given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApiConfig {
    pub v1: Option<String>,
    pub v3: Option<String>,
}

impl ApiConfig {
    fn args(&self) -> Vec<String> {
        let mut args = Vec::new();
        if let Some(v1) = &self.v1 {
            args.push(format!("--apiconfigv1={v1}"));
        }
        if let Some(v3) = &self.v3 {
            args.push(format!("--apiconfigv3={v3}"));
        }
        args
    }
}

pub fn version_invocation(program: &Path) -> Invocation {
    Invocation::read_only(Tool::CalicoUpgrade, program, vec!["version".into()])
}

/// `--no-prompts` exists from v1.0.1 on.
pub fn has_no_prompts(version: &Version) -> bool {
    (version.major, version.minor, version.patch) >= (1, 0, 1)
}

/// `inprogress` (and the fixed abort) exist from v1.0.4 on.
pub fn has_inprogress(version: &Version) -> bool {
    (version.major, version.minor, version.patch) >= (1, 0, 4)
}

/// `calico-upgrade abort --no-prompts [--apiconfigv1=…] [--apiconfigv3=…]`, or for v1.0.0
/// the same without `--no-prompts` and `yes` on stdin.
pub fn abort_invocation(program: &Path, version: &Version, api: &ApiConfig) -> Invocation {
    let mut args = vec!["abort".to_string()];
    if has_no_prompts(version) {
        args.push("--no-prompts".into());
    }
    args.extend(api.args());
    let invocation = Invocation::mutating(Tool::CalicoUpgrade, program, args);
    if has_no_prompts(version) {
        invocation
    } else {
        invocation.with_stdin("yes\n")
    }
}

pub fn inprogress_invocation(program: &Path, api: &ApiConfig) -> Invocation {
    let mut args = vec!["inprogress".to_string()];
    args.extend(api.args());
    Invocation::read_only(Tool::CalicoUpgrade, program, args)
}

/// Read `calico-upgrade version` (`fixtures/calico-upgrade/version/v1.0.5.stdout`):
/// ```text
/// Client Version:    v1.0.5
/// Build date:        2018-05-06T01:23:45+0000
/// Git commit:        3eefd49
/// ```
pub fn parse_version(stdout: &str) -> Result<Version, Unrecognised> {
    let what = "`calico-upgrade version` output";
    let text = stdout
        .lines()
        .find_map(|line| line.strip_prefix("Client Version:"))
        .ok_or_else(|| Unrecognised::new(what, "no `Client Version:` line", stdout))?
        .trim();
    version::parse_lenient(text).ok_or_else(|| Unrecognised::new(what, format!("`{text}` is not a version"), stdout))
}

/// What `calico-upgrade abort` reported, judged on its text as well as its exit code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "kebab-case")]
pub enum AbortResult {
    /// `Successfully aborted the upgrade process.`, no failure bullet, exit 0.
    Aborted,
    /// KDD: `It is not necessary to abort the upgrade when using Kubernetes API as the
    /// datastore. No action was taken.`
    NotNecessary,
    /// The prompt was answered with anything but `yes` (or stdin closed): `User cancelled.`
    Cancelled,
    /// A failure: non-zero exit, or (v1.0.0–v1.0.3) a ` * failed to resume` bullet despite a
    /// success line and exit 0. `reason` quotes the lines that say so.
    Failed { reason: String, false_success: bool },
}

/// Join calico-upgrade's wrapped lines back into sentences: a line starting with three spaces
/// continues the bullet above it; other non-blank lines continue a paragraph.
fn paragraphs(stdout: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut open = false;
    for line in stdout.lines() {
        let trimmed = line.trim_end();
        if trimmed.is_empty() || trimmed.chars().all(|c| c == '-') {
            open = false;
            continue;
        }
        let continues_bullet = trimmed.starts_with("   ") && !trimmed.starts_with("   *");
        let is_bullet = trimmed.starts_with(" * ");
        match out.last_mut() {
            Some(last) if open && (continues_bullet || (!is_bullet && !last.starts_with(" * "))) => {
                last.push(' ');
                last.push_str(trimmed.trim_start());
            }
            _ => out.push(trimmed.to_string()),
        }
        open = true;
    }
    out
}

/// Read `calico-upgrade abort` (`fixtures/calico-upgrade/abort/*`), e.g. the v1.0.0–v1.0.3
/// false success:
/// ```text
///  * failed to resume Calico networking in the v1 configuration
///  * successfully resumed Calico networking in the v1 configuration
/// Successfully aborted the upgrade process.
/// ```
pub fn parse_abort(output: &Output) -> Result<AbortResult, Unrecognised> {
    let what = "`calico-upgrade abort` output";
    let text = paragraphs(&output.stdout);
    let has = |needle: &str| text.iter().any(|p| p.contains(needle));
    let failed_bullets: Vec<&String> =
        text.iter().filter(|p| p.contains("failed to resume Calico networking")).collect();
    if has("User cancelled.") {
        return Ok(AbortResult::Cancelled);
    }
    if !failed_bullets.is_empty() {
        let false_success = output.success() && has("Successfully aborted the upgrade process.");
        let mut reason = format!("{} ({}×)", failed_bullets[0].trim(), failed_bullets.len());
        if let Some(cause) = text.iter().find(|p| p.trim_start().starts_with("* cause:")) {
            reason.push_str(&format!("; {}", cause.trim()));
        }
        return Ok(AbortResult::Failed { reason, false_success });
    }
    if !output.success() {
        // `Failed to abort the upgrade.` / `Failed to aborted the upgrade process.` (sic) and
        // the bullets after it, or an invalid-option notice.
        let reason = text
            .iter()
            .position(|p| {
                p.starts_with("Failed to abort") || p.starts_with("ERROR:") || p.starts_with("Invalid option")
            })
            .map(|i| text[i..].iter().take(3).map(|p| p.trim()).collect::<Vec<_>>().join(" "))
            .or_else(|| output.stderr.lines().find(|l| !l.trim().is_empty()).map(|l| l.trim().to_string()))
            .unwrap_or_else(|| format!("{} with no message", output.status_text()));
        return Ok(AbortResult::Failed { reason, false_success: false });
    }
    if has("It is not necessary to abort the upgrade when using Kubernetes API as the datastore.") {
        return Ok(AbortResult::NotNecessary);
    }
    if has("Successfully aborted the upgrade process.") {
        return Ok(AbortResult::Aborted);
    }
    Err(Unrecognised::new(what, "exit 0 without `Successfully aborted the upgrade process.`", &output.stdout))
}

/// What `calico-upgrade inprogress` (v1.0.4+) reported. It answers libcalico-go's
/// `ShouldMigrate && !Ready`: once the v3 data carries a v3 `calicoVersion` (a v3 calico/node
/// ran, or `complete`), no migration is "needed", so it says "NOT in Progress" and no longer
/// shows the v1 Ready flag, whatever that flag is. Only ` * Ready flag is true.` proves that
/// Calico v2.x networking is not paused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "kebab-case")]
pub enum Migration {
    /// exit 0, ` * Ready flag is false.`, `Migration is in Progress.`
    InProgress,
    /// exit 1, `Migration is NOT in Progress.`, with the Ready flag when it is shown.
    NotInProgress { ready_flag: Option<bool> },
    /// exit 2, `There was an error checking …` and its ` * Error: …` bullet.
    CheckFailed { message: String },
}

impl Migration {
    /// The v1 Ready flag is known to be true: there is nothing to abort.
    pub fn ready(&self) -> bool {
        matches!(self, Migration::NotInProgress { ready_flag: Some(true) })
    }
}

/// Read `calico-upgrade inprogress` (`fixtures/calico-upgrade/inprogress/*`):
/// ```text
/// -------------------------------------------------------------------------------
///
///  * Ready flag is false.
/// Migration is in Progress.
/// ```
pub fn parse_inprogress(output: &Output) -> Result<Migration, Unrecognised> {
    let what = "`calico-upgrade inprogress` output";
    let text = paragraphs(&output.stdout);
    let says = |s: &str| text.iter().any(|p| p.trim() == s);
    let ready_flag = if says("* Ready flag is true.") {
        Some(true)
    } else if says("* Ready flag is false.") {
        Some(false)
    } else {
        None
    };
    match output.code {
        Some(0) if says("Migration is in Progress.") => Ok(Migration::InProgress),
        Some(1) if says("Migration is NOT in Progress.") => Ok(Migration::NotInProgress { ready_flag }),
        Some(2) if !text.is_empty() => Ok(Migration::CheckFailed { message: text.join(" ") }),
        _ => Err(Unrecognised::new(
            what,
            format!(
                "{} without `Migration is in Progress.` (exit 0) or `Migration is NOT in Progress.` (exit 1)",
                output.status_text()
            ),
            &format!("{}{}", output.stdout, output.stderr),
        )),
    }
}
