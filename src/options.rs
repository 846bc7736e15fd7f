//! The options, defined once: each field's clap attributes make it a command-line option, a
//! `CALICO_DOWNGRADE_<NAME>` environment variable and (in snake_case, see [`crate::ansible`])
//! an Ansible module argument. Adding an option is adding a field here; `cli::unused` says
//! which commands do without it.
//!
//! Values are checked as they are parsed, so a value that cannot work is a usage error (exit
//! 2) naming the option before anything runs: durations within bounds, revision numbers from
//! 1, names passed to kubectl valid Kubernetes names (DNS-1123), and no value handed to a
//! child starting with `-` (the child would read it as an option of its own).

use std::path::PathBuf;
use std::time::Duration;

use clap::builder::BoolishValueParser;
use clap::{Args, ValueEnum};

use crate::tools::calico_upgrade::ApiConfig;
use crate::tools::kubectl::Connection;

/// What the run does and to what. The fields are the options (see the module comment); `check`
/// and `follow` come from the subcommand.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct Options {
    /// kubectl to run (default: the first on PATH)
    #[arg(long, global = true, env = "CALICO_DOWNGRADE_KUBECTL", value_name = "PATH", value_parser = program)]
    pub kubectl: Option<PathBuf>,
    /// calicoctl to check (default: the first; all on PATH are checked)
    #[arg(long, global = true, env = "CALICO_DOWNGRADE_CALICOCTL", value_name = "PATH", value_parser = program)]
    pub calicoctl: Option<PathBuf>,
    /// calico-upgrade to run (default: the first on PATH)
    #[arg(long, global = true, env = "CALICO_DOWNGRADE_CALICO_UPGRADE", value_name = "PATH", value_parser = program)]
    pub calico_upgrade: Option<PathBuf>,
    /// kubeconfig for every kubectl call (else KUBECONFIG, ~/.kube/config)
    #[arg(long, global = true, env = "CALICO_DOWNGRADE_KUBECONFIG", value_name = "PATH",
          allow_hyphen_values = true, value_parser = passed_on)]
    pub kubeconfig: Option<String>,
    /// kubeconfig context for every kubectl call
    #[arg(long, global = true, env = "CALICO_DOWNGRADE_CONTEXT", value_name = "NAME",
          allow_hyphen_values = true, value_parser = passed_on)]
    pub context: Option<String>,
    /// Namespace of the Calico workloads
    #[arg(short = 'n', long, global = true, env = "CALICO_DOWNGRADE_NAMESPACE", default_value = "kube-system",
          value_parser = namespace)]
    pub namespace: String,
    /// The calico/node DaemonSet (`canal` for canal)
    #[arg(long, global = true, env = "CALICO_DOWNGRADE_DAEMONSET", default_value = "calico-node",
          value_parser = object_name)]
    pub daemonset: String,
    /// The calico/kube-controllers Deployment
    #[arg(long, global = true, env = "CALICO_DOWNGRADE_DEPLOYMENT", default_value = "calico-kube-controllers",
          value_parser = object_name)]
    pub deployment: String,
    /// calico-upgrade's --apiconfigv1 (Calico v2.6 data)
    #[arg(long, global = true, env = "CALICO_DOWNGRADE_APICONFIGV1", value_name = "PATH",
          allow_hyphen_values = true, value_parser = passed_on)]
    pub apiconfigv1: Option<String>,
    /// calico-upgrade's --apiconfigv3 (Calico v3.0 data)
    #[arg(long, global = true, env = "CALICO_DOWNGRADE_APICONFIGV3", value_name = "PATH",
          allow_hyphen_values = true, value_parser = passed_on)]
    pub apiconfigv3: Option<String>,
    /// DaemonSet revision to roll back to (default: newest v2.x)
    #[arg(long, global = true, env = "CALICO_DOWNGRADE_TO_REVISION", value_name = "N",
          allow_hyphen_values = true, value_parser = revision)]
    pub to_revision: Option<u64>,
    /// Give up waiting for the pods after this long with no progress (1s to a week)
    #[arg(long, global = true, env = "CALICO_DOWNGRADE_STALL_TIMEOUT", value_name = "DURATION", default_value = "10m",
          allow_hyphen_values = true, value_parser = timeout)]
    pub stall_timeout: Duration,
    /// Give up waiting for the pods after this long, progress or not (1s to a week; default: no limit)
    #[arg(long, global = true, env = "CALICO_DOWNGRADE_TIMEOUT", value_name = "DURATION",
          allow_hyphen_values = true, value_parser = timeout)]
    pub timeout: Option<Duration>,
    /// How long one external command may take (1s to a day)
    #[arg(long, global = true, env = "CALICO_DOWNGRADE_COMMAND_TIMEOUT", value_name = "DURATION", default_value = "2m",
          allow_hyphen_values = true, value_parser = command_timeout)]
    pub command_timeout: Duration,
    /// Pause between two looks when polling (10ms to an hour)
    #[arg(long, global = true, env = "CALICO_DOWNGRADE_POLL_INTERVAL", value_name = "DURATION", default_value = "2s",
          allow_hyphen_values = true, value_parser = poll_interval)]
    pub poll_interval: Duration,
    /// Poll with `kubectl get pods` instead of watching
    #[arg(long, global = true, env = "CALICO_DOWNGRADE_NO_WATCH", value_parser = BoolishValueParser::new())]
    pub no_watch: bool,
    /// OnDelete DaemonSet: delete its old pods node by node
    #[arg(long, global = true, env = "CALICO_DOWNGRADE_REPLACE_PODS", value_parser = BoolishValueParser::new())]
    pub replace_pods: bool,
    /// Scale Calico v3.0's Typha to 0 once calico-node runs v2.6, which does not use it
    #[arg(long, global = true, env = "CALICO_DOWNGRADE_STOP_TYPHA", value_parser = BoolishValueParser::new())]
    pub stop_typha: bool,
    /// Roll back and wait before aborting the migration
    #[arg(long, global = true, env = "CALICO_DOWNGRADE_ROLLBACK_FIRST", value_parser = BoolishValueParser::new())]
    pub rollback_first: bool,
    /// Go on although the addon manager, Argo CD, Flux or kops re-applies Calico (it may put v3.0 back)
    #[arg(long, global = true, env = "CALICO_DOWNGRADE_DESPITE_RECONCILER", value_parser = BoolishValueParser::new())]
    pub despite_reconciler: bool,
    /// `abort`: abort although calico/node still runs Calico v3
    #[arg(long, global = true, env = "CALICO_DOWNGRADE_ABORT_WHILE_V3", value_parser = BoolishValueParser::new())]
    pub abort_while_v3: bool,
    /// Plan only: observe, never change (plan, `run --check`, `abort --check`, Ansible check mode).
    #[arg(skip)]
    pub check: bool,
    /// `status --watch`: keep looking until converged, no progress for `--stall-timeout`, or
    /// `--timeout`.
    #[arg(skip)]
    pub follow: bool,
}

/// How the run is reported and recorded, separate from what it does.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct Presentation {
    /// Report format
    #[arg(long, global = true, env = "CALICO_DOWNGRADE_OUTPUT", value_enum, default_value = "text")]
    pub output: OutputFormat,
    /// Journal file (default: one per run in $XDG_STATE_HOME/calico-downgrade/)
    #[arg(long, global = true, env = "CALICO_DOWNGRADE_JOURNAL", value_name = "PATH")]
    pub journal: Option<PathBuf>,
    /// Default journals to keep, the newest first (0 keeps them all)
    #[arg(long, global = true, env = "CALICO_DOWNGRADE_KEEP_JOURNALS", value_name = "N", default_value = "100")]
    pub keep_journals: u64,
    /// Do not ask (required when stdin is not a terminal)
    #[arg(short = 'y', long, global = true, env = "CALICO_DOWNGRADE_YES", value_parser = BoolishValueParser::new())]
    pub yes: bool,
    /// Show every detail, and each command as it runs; the journal keeps every output whole
    #[arg(short = 'v', long, global = true, env = "CALICO_DOWNGRADE_VERBOSE", value_parser = BoolishValueParser::new())]
    pub verbose: bool,
    /// Invoked as the Ansible module: the journal is required for every action.
    #[arg(skip)]
    pub module: bool,
    /// The module asked for Ansible's `diff` (`_ansible_diff`): the JSON document carries it.
    #[arg(skip)]
    pub diff: bool,
    /// Print only failures and the recap
    #[arg(short = 'q', long, global = true, env = "CALICO_DOWNGRADE_QUIET", value_parser = BoolishValueParser::new(),
          conflicts_with = "verbose")]
    pub quiet: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
}

/// The defaults come from the definitions above (no second list to keep in step); the
/// environment plays no part.
fn defaults<T: Args + clap::FromArgMatches>() -> T {
    let command = T::augment_args(clap::Command::new("defaults")).mut_args(|arg| arg.env(None));
    let matches = command.get_matches_from(["defaults"]);
    T::from_arg_matches(&matches).expect("the defaults parse")
}

impl Default for Options {
    fn default() -> Self {
        defaults()
    }
}

impl Default for Presentation {
    fn default() -> Self {
        defaults()
    }
}

/// The accepted range of a duration option, and its parser.
#[derive(Debug, Clone, Copy)]
struct Bounds {
    least: Duration,
    most: Duration,
    least_words: &'static str,
    most_words: &'static str,
}

const HOUR: Duration = Duration::from_secs(3600);

impl Bounds {
    /// Less than a second cannot see a pod replaced; more than a week is a typo.
    const TIMEOUT: Bounds = Bounds {
        least: Duration::from_secs(1),
        most: Duration::from_secs(7 * 24 * 3600),
        least_words: "1s",
        most_words: "a week",
    };
    /// kubectl's `--request-timeout` counts whole seconds.
    const COMMAND_TIMEOUT: Bounds = Bounds {
        least: Duration::from_secs(1),
        most: Duration::from_secs(24 * 3600),
        least_words: "1s",
        most_words: "a day",
    };
    /// Below 10ms polling is a busy loop against the API server.
    const POLL_INTERVAL: Bounds =
        Bounds { least: Duration::from_millis(10), most: HOUR, least_words: "10ms", most_words: "an hour" };

    fn parse(self, text: &str) -> Result<Duration, String> {
        let value = parse_duration(text)?;
        if value < self.least {
            Err(format!("`{text}` is too short: at least {}", self.least_words))
        } else if value > self.most {
            Err(format!("`{text}` is too long: at most {}", self.most_words))
        } else {
            Ok(value)
        }
    }
}

fn timeout(text: &str) -> Result<Duration, String> {
    Bounds::TIMEOUT.parse(text)
}

fn command_timeout(text: &str) -> Result<Duration, String> {
    Bounds::COMMAND_TIMEOUT.parse(text)
}

fn poll_interval(text: &str) -> Result<Duration, String> {
    Bounds::POLL_INTERVAL.parse(text)
}

/// `10m`, `90s`, `1h30m`, `500ms`; a bare number is refused because its unit would be a guess.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let trimmed = text.trim();
    if trimmed.starts_with('-') {
        return Err(format!("`{text}` is negative: a duration counts forward, such as 10m, 90s or 2s"));
    }
    if !trimmed.is_empty() && trimmed.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("`{text}` has no unit: write {trimmed}s for seconds or {trimmed}m for minutes"));
    }
    humantime::parse_duration(trimmed)
        .map_err(|_| format!("`{text}` is not a duration such as 10m, 90s, 1h30m or 500ms"))
}

/// A revision number as `kubectl rollout history` lists them: 1 or more.
fn revision(text: &str) -> Result<u64, String> {
    match text.trim().parse::<i128>() {
        Ok(0) => Err("0 is not a revision: kubectl reads it as \"the previous revision\", which toggles; name one from `kubectl rollout history` (1 or more)".into()),
        Ok(n) if n < 0 => Err(format!("`{text}` is not a revision: revisions are numbered from 1, as `kubectl rollout history` lists them")),
        Ok(n) => u64::try_from(n).map_err(|_| format!("`{text}` is too large to be a revision number")),
        Err(_) => Err(format!("`{text}` is not a revision number: a whole number from 1, as `kubectl rollout history` lists them")),
    }
}

impl Options {
    /// How to reach the cluster: passed to every kubectl call.
    pub fn connection(&self) -> Connection {
        Connection {
            kubeconfig: self.kubeconfig.clone(),
            context: self.context.clone(),
            request_timeout_secs: self.command_timeout.as_secs(),
        }
    }

    /// The apiconfig files passed to calico-upgrade.
    pub fn api(&self) -> ApiConfig {
        ApiConfig { v1: self.apiconfigv1.clone(), v3: self.apiconfigv3.clone() }
    }
}

/// DNS-1123 label (namespaces): lower-case alphanumerics and `-`, starting and ending with an
/// alphanumeric, at most 63 characters.
pub fn is_dns1123_label(name: &str) -> bool {
    let alphanumeric = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let bytes = name.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 63
        && bytes.iter().all(|&b| alphanumeric(b) || b == b'-')
        && alphanumeric(bytes[0])
        && alphanumeric(bytes[bytes.len() - 1])
}

/// DNS-1123 subdomain (DaemonSet and Deployment names): labels joined by dots, at most 253.
pub fn is_dns1123_subdomain(name: &str) -> bool {
    name.len() <= 253 && name.split('.').all(is_dns1123_label)
}

/// A namespace: a DNS-1123 label.
fn namespace(text: &str) -> Result<String, String> {
    if is_dns1123_label(text) {
        Ok(text.to_string())
    } else {
        Err(format!("`{text}` is not a valid namespace name (lower-case letters, digits and `-`, at most 63)"))
    }
}

/// A DaemonSet or Deployment name: a DNS-1123 subdomain.
fn object_name(text: &str) -> Result<String, String> {
    if is_dns1123_subdomain(text) {
        Ok(text.to_string())
    } else {
        Err(format!("`{text}` is not a valid Kubernetes name (lower-case letters, digits, `-` and `.`)"))
    }
}

/// A value handed to a child as `--option=VALUE`: not empty, and not starting with `-`, which
/// the child would read as an option of its own.
fn passed_on(text: &str) -> Result<String, String> {
    if text.is_empty() {
        Err("the value is empty".into())
    } else if text.starts_with('-') {
        Err(format!("`{text}` starts with `-`: it would be read as an option"))
    } else {
        Ok(text.to_string())
    }
}

/// A program to run: a non-empty path.
fn program(text: &str) -> Result<PathBuf, String> {
    if text.is_empty() {
        Err("the path is empty".into())
    } else {
        Ok(PathBuf::from(text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_kubernetes_refuses_are_refused() {
        assert!(is_dns1123_label("kube-system"));
        for bad in ["", "-n", "Kube", "a_b", "a b", "x;rm", "$(id)", &"a".repeat(64)] {
            assert!(!is_dns1123_label(bad), "{bad:?}");
        }
        assert!(is_dns1123_subdomain("calico-node"));
        assert!(is_dns1123_subdomain("canal.v1"));
        assert!(!is_dns1123_subdomain("calico node"));
    }

    #[test]
    fn values_that_cannot_work_are_refused_with_the_reason() {
        assert_eq!(passed_on("--all").unwrap_err(), "`--all` starts with `-`: it would be read as an option");
        assert_eq!(Bounds::TIMEOUT.parse("0s").unwrap_err(), "`0s` is too short: at least 1s");
        assert_eq!(Bounds::TIMEOUT.parse("8days").unwrap_err(), "`8days` is too long: at most a week");
        assert_eq!(Bounds::TIMEOUT.parse("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(
            parse_duration("banana").unwrap_err(),
            "`banana` is not a duration such as 10m, 90s, 1h30m or 500ms"
        );
        assert_eq!(parse_duration("600").unwrap_err(), "`600` has no unit: write 600s for seconds or 600m for minutes");
        assert!(revision("-3").unwrap_err().starts_with("`-3` is not a revision: revisions are numbered from 1"));
        assert!(revision("0").unwrap_err().starts_with("0 is not a revision"));
        assert!(revision("two").unwrap_err().starts_with("`two` is not a revision number"));
        assert_eq!(revision("3"), Ok(3));
        assert!(namespace("Kube").is_err() && object_name("calico node").is_err() && program("").is_err());
    }

    #[test]
    fn the_defaults_are_the_documented_ones() {
        let options = Options::default();
        assert_eq!(
            (options.namespace.as_str(), options.daemonset.as_str(), options.deployment.as_str()),
            ("kube-system", "calico-node", "calico-kube-controllers")
        );
        assert_eq!(
            (options.stall_timeout, options.timeout, options.command_timeout, options.poll_interval),
            (Duration::from_secs(600), None, Duration::from_secs(120), Duration::from_secs(2))
        );
        assert_eq!(Presentation::default().output, OutputFormat::Text);
    }
}
