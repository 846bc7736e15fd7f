//! calicoctl: `calicoctl version`, the only command the tool runs with it, and its parser.
//!
//! The layout changed several times (`fixtures/calicoctl/`): v1.0–v1.3 print `Version:`,
//! `Build date:`, `Git commit:`; v1.4–v3.3 five lines starting with `Client Version:`; v3.4+
//! drop `Build date:`. The exit code says nothing about the datastore (v1.6.x prints
//! `Cluster Version:   unknown (<error>)` and exits 0, its error may span lines; v2.0.x prints
//! `Unable to retrieve Cluster Version or Type:  <error>` on stdout and exits 1), so the tool
//! reads the client version from the text alone and keeps the rest for the report.

use semver::Version;
use serde::Serialize;

use super::{version, Unrecognised};
use crate::exec::{Invocation, Output, Tool};

pub fn version_invocation(program: &std::path::Path) -> Invocation {
    Invocation::read_only(Tool::Calicoctl, program, vec!["version".into()])
}

/// What `calicoctl version` said.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CalicoctlVersion {
    /// The client version exactly as printed (`v1.6.3`, `v2.0.0-beta1`); `version` in JSON,
    /// the one shape of a version everywhere.
    #[serde(rename = "version")]
    pub client_text: String,
    #[serde(skip)]
    pub client: Version,
    /// `Cluster Version:` as printed (`v2.6.5`, `unknown`, `unknown (<error>)`), if present.
    pub cluster_version: Option<String>,
    pub cluster_type: Option<String>,
    /// A line saying the datastore could not be read, if any.
    pub datastore_error: Option<String>,
}

impl CalicoctlVersion {
    /// The calicoctl that matches Calico v2.6 is v1.x (v1.6.x). The Calico v3.0 client is
    /// numbered v2.0.x, and later clients carry the Calico version: both are refused, and so is
    /// any v2.0.0 pre-release (semver's `< 2.0.0` would wrongly accept `v2.0.0-beta1`).
    pub fn is_v2_6_client(&self) -> bool {
        self.client.major == 1
    }
}

const ERROR_PREFIXES: &[&str] = &[
    "Unable to retrieve Cluster Version or Type:",
    "Unable to detect installed Calico version",
    "Error reading config file:",
];

/// Read `calicoctl version` (stdout and stderr), e.g. `fixtures/calicoctl/version/v1.6.3.stdout`:
/// ```text
/// Client Version:    v1.6.3
/// Build date:        2017-12-01T01:06:48+0000
/// Git commit:        d4cfc95
/// Cluster Version:   v2.6.5
/// Cluster Type:      k8s,bgp
/// ```
pub fn parse_version(output: &Output) -> Result<CalicoctlVersion, Unrecognised> {
    let what = "`calicoctl version` output";
    let mut client_text = None;
    let mut cluster_version = None;
    let mut cluster_type = None;
    let mut datastore_error = None;
    let mut lines = output.stdout.lines().chain(output.stderr.lines());
    while let Some(line) = lines.next() {
        if ERROR_PREFIXES.iter().any(|p| line.starts_with(p)) {
            datastore_error.get_or_insert_with(|| line.trim().to_string());
            continue;
        }
        let Some((label, value)) = line.split_once(':') else { continue };
        let mut value = value.trim().to_string();
        // v1.6.x: `unknown (<etcd error>\n)`: the etcd client ends each of its errors with a
        // newline (`…refused\n; error #1: …\n`), so the `)` lands on a line of its own. Join the
        // lines back the way the error read before the newlines were added.
        if value.starts_with("unknown (") && !value.ends_with(')') {
            for next in lines.by_ref() {
                let next = next.trim();
                if !next.starts_with([')', ';']) {
                    value.push(' ');
                }
                value.push_str(next);
                if next.ends_with(')') {
                    break;
                }
            }
        }
        match label.trim() {
            "Client Version" | "Version" => {
                client_text.get_or_insert(value);
            }
            "Cluster Version" => cluster_version = Some(value),
            "Cluster Type" => cluster_type = Some(value),
            _ => {}
        }
    }
    let Some(client_text) = client_text else {
        let all = format!("{}{}", output.stdout, output.stderr);
        return Err(Unrecognised::new(what, "no `Client Version:` (or v1.0–v1.3 `Version:`) line", &all));
    };
    let client = version::parse_lenient(&client_text).ok_or_else(|| {
        Unrecognised::new(what, format!("the client version `{client_text}` is not a version"), &output.stdout)
    })?;
    if cluster_version.as_deref().is_some_and(|v| v.starts_with("unknown (")) {
        datastore_error.get_or_insert_with(|| cluster_version.clone().unwrap_or_default());
    }
    Ok(CalicoctlVersion { client_text, client, cluster_version, cluster_type, datastore_error })
}
