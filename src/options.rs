//! The options of a run, resolved from the command line (or an Ansible arguments file) and
//! validated before anything runs: names passed to kubectl must be valid Kubernetes names, and
//! no value may start with `-` (it would be read as an option by the child).

use std::path::PathBuf;
use std::time::Duration;

use crate::tools::calico_upgrade::ApiConfig;
use crate::tools::kubectl::Connection;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    pub kubectl: Option<PathBuf>,
    pub calicoctl: Option<PathBuf>,
    pub calico_upgrade: Option<PathBuf>,
    pub connection: Connection,
    pub namespace: String,
    pub daemonset: String,
    pub deployment: String,
    pub api: ApiConfig,
    pub to_revision: Option<u64>,
    pub timeout: Duration,
    pub command_timeout: Duration,
    pub poll_interval: Duration,
    pub no_watch: bool,
    pub replace_pods: bool,
    pub rollback_first: bool,
    /// Plan only: observe, never change (plan, `run --check`, Ansible check mode).
    pub check: bool,
    /// `status --watch`: keep looking until converged or `--timeout`.
    pub follow: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            kubectl: None,
            calicoctl: None,
            calico_upgrade: None,
            connection: Connection::default(),
            namespace: "kube-system".into(),
            daemonset: "calico-node".into(),
            deployment: "calico-kube-controllers".into(),
            api: ApiConfig::default(),
            to_revision: None,
            timeout: Duration::from_secs(600),
            command_timeout: Duration::from_secs(120),
            poll_interval: Duration::from_secs(2),
            no_watch: false,
            replace_pods: false,
            rollback_first: false,
            check: false,
            follow: false,
        }
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

impl Options {
    /// Every problem with the options, each naming the option; empty when all is well.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if !is_dns1123_label(&self.namespace) {
            problems.push(format!(
                "--namespace `{}` is not a valid namespace name (lower-case letters, digits and `-`, at most 63)",
                self.namespace
            ));
        }
        for (option, value) in [("--daemonset", &self.daemonset), ("--deployment", &self.deployment)] {
            if !is_dns1123_subdomain(value) {
                problems.push(format!(
                    "{option} `{value}` is not a valid Kubernetes name (lower-case letters, digits, `-` and `.`)"
                ));
            }
        }
        let values = [
            ("--context", self.connection.context.as_deref()),
            ("--kubeconfig", self.connection.kubeconfig.as_deref()),
            ("--apiconfigv1", self.api.v1.as_deref()),
            ("--apiconfigv3", self.api.v3.as_deref()),
        ];
        for (option, value) in values {
            match value {
                Some(v) if v.starts_with('-') => {
                    problems.push(format!("{option} `{v}` starts with `-`: it would be read as an option"))
                }
                Some("") => problems.push(format!("{option} is empty")),
                _ => {}
            }
        }
        for (option, path) in
            [("--kubectl", &self.kubectl), ("--calicoctl", &self.calicoctl), ("--calico-upgrade", &self.calico_upgrade)]
        {
            if let Some(path) = path {
                if path.as_os_str().is_empty() {
                    problems.push(format!("{option} is empty"));
                }
            }
        }
        const HOUR: Duration = Duration::from_secs(3600);
        let bounds = [
            ("--timeout", self.timeout, Duration::ZERO, 24 * 7 * HOUR, "a week"),
            ("--command-timeout", self.command_timeout, Duration::from_millis(1), 24 * HOUR, "a day"),
            ("--poll-interval", self.poll_interval, Duration::from_millis(1), HOUR, "an hour"),
        ];
        for (option, value, least, most, most_words) in bounds {
            if value < least {
                problems.push(format!("{option} must be more than zero"));
            } else if value > most {
                problems.push(format!("{option} {} is more than {most_words}", humantime::format_duration(value)));
            }
        }
        if self.to_revision == Some(0) {
            problems.push("--to-revision must be a revision number (1 or more); 0 means \"the previous one\" to kubectl, which toggles".into());
        }
        problems
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
    fn a_value_starting_with_a_dash_is_refused() {
        let options = Options {
            connection: Connection { context: Some("--all".into()), ..Connection::default() },
            ..Options::default()
        };
        assert_eq!(options.problems(), ["--context `--all` starts with `-`: it would be read as an option"]);
    }
}
