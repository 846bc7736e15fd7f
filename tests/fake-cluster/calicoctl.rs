//! `calicoctl version`, in the layout of the configured calicoctl version
//! (`shared/formats/fixtures/calicoctl/`, FORMATS.md §1): v1.0–v1.3 three `Version:` lines;
//! v1.4–v1.6 five lines reading the v1 (etcdv2) data; v2.0–v3.3 five lines reading the v3
//! `ClusterInformation` (error on stdout, exit 1, when it is missing); v3.4 four lines;
//! v3.5–v3.7 swallow the error (exit 0); v3.8+ print it on stderr (exit 1).

use crate::state::{fnv32a, State};
use crate::Output;

pub fn parse(args: &[String]) -> Result<(), String> {
    match args {
        [cmd] if cmd == "version" => Ok(()),
        _ => Err("only `calicoctl version` is simulated".into()),
    }
}

/// `v1.6.3` → (1, 6, 3); pre-release suffixes are ignored (`v2.0.0-beta1` → (2, 0, 0)).
pub fn triple(version: &str) -> Option<(u64, u64, u64)> {
    let core = version.strip_prefix('v').unwrap_or(version);
    let core = core.split(['-', '+']).next()?;
    let mut parts = core.split('.').map(|p| p.parse::<u64>().ok());
    let t = (parts.next()??, parts.next()??, parts.next()??);
    parts.next().is_none().then_some(t)
}

/// Build date and commit: the real ones where FORMATS.md has them, else made up from the
/// version text.
fn build_info(version: &str) -> (String, String) {
    let known = match version {
        "v1.3.0" => Some(("2017-06-12T18:36:12+0000", "d2babb6")),
        "v1.4.0" => Some(("2017-07-21T19:33:04+0000", "d2babb6")),
        "v1.6.3" => Some(("2017-12-01T01:06:48+0000", "d4cfc95")),
        "v2.0.0" => Some(("2017-12-20T15:15:17+0000", "8006d58")),
        "v3.1.3" => Some(("2018-05-29T20:30:32+0000", "231083c")),
        "v3.4.0" => Some(("2018-12-07T00:17:46+0000", "a7e09d5")),
        "v3.21.5" => Some(("2022-03-10T19:41:39+0000", "ac39949")),
        "v3.30.0" => Some(("2025-05-07T18:02:11+0000", "572a32dd9b")),
        _ => None,
    };
    match known {
        Some((date, commit)) => (date.to_string(), commit.to_string()),
        None => {
            let hash = fnv32a(version.as_bytes());
            let day = 1 + hash % 28;
            let month = 1 + (hash / 28) % 12;
            (format!("2018-{month:02}-{day:02}T12:00:00+0000"), format!("{:07x}", hash & 0x0fff_ffff))
        }
    }
}

fn line(label: &str, value: &str) -> String {
    // Go: fmt.Println("<label padded to 18>", value) — one more space before the value.
    format!("{label:<18} {value}\n")
}

/// Which layout a calicoctl version prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    /// v1.0–v1.3: `Version:`, `Build date:`, `Git commit:` (13-byte labels).
    Old,
    /// v1.4–v1.6 (and unparseable versions): five lines from the v1 data, always exit 0.
    V1,
    /// v2.0–v3.3: five lines from the v3 ClusterInformation; missing: stdout, exit 1.
    V3WithDate,
    /// v3.4: no `Build date:`; missing: stdout, exit 1.
    V3,
    /// v3.5+: four lines; missing: dropped (v3.5–v3.7) or stderr with exit 1 (v3.8+).
    Modern,
}

fn layout(version: &str) -> Layout {
    match triple(version) {
        Some((1, minor, _)) if minor < 4 => Layout::Old,
        Some((0 | 1, _, _)) | None => Layout::V1,
        Some((2, _, _)) => Layout::V3WithDate,
        Some((3, minor, _)) if minor <= 3 => Layout::V3WithDate,
        Some((3, 4, _)) => Layout::V3,
        Some(_) => Layout::Modern,
    }
}

pub fn version(state: &State) -> Output {
    let v = state.config.calicoctl_version.clone();
    let (date, commit) = build_info(&v);
    let cluster_type =
        if state.daemonset.as_ref().is_some_and(|d| d.name.starts_with("canal")) { "k8s,canal" } else { "k8s,bgp" };
    let missing = "resource does not exist: ClusterInformation(default)";
    let mut stdout = String::new();
    let mut stderr = String::new();
    let mut code = 0;
    let layout = layout(&v);
    if layout == Layout::Old {
        stdout.push_str(&format!("{:<13} {v}\n", "Version:"));
        stdout.push_str(&format!("{:<13} {date}\n", "Build date:"));
        stdout.push_str(&format!("{:<13} {commit}\n", "Git commit:"));
        return Output { stdout, stderr, code, then: crate::Then::Exit };
    }
    stdout.push_str(&line("Client Version:", &v));
    if matches!(layout, Layout::V1 | Layout::V3WithDate) {
        stdout.push_str(&line("Build date:", &date));
    }
    stdout.push_str(&line("Git commit:", &commit));
    // v1.x reads the v1 data, where calico/node v2.6 wrote its version.
    let cluster = if layout == Layout::V1 { Some("v2.6.8".to_string()) } else { state.cluster_information.clone() };
    match cluster {
        Some(c) => {
            stdout.push_str(&line("Cluster Version:", &c));
            stdout.push_str(&line("Cluster Type:", cluster_type));
        }
        None if layout == Layout::Modern => {
            let (_, minor, _) = triple(&v).unwrap_or((3, 30, 0));
            let swallowed = triple(&v).is_some_and(|(major, _, _)| major == 3) && (5..=7).contains(&minor);
            if !swallowed {
                stderr.push_str(&format!("Unable to retrieve Cluster Version or Type: {missing}\n"));
                code = 1;
            }
        }
        None => {
            // fmt.Println("Unable to retrieve Cluster Version or Type: ", err): two spaces.
            stdout.push_str(&format!("Unable to retrieve Cluster Version or Type:  {missing}\n"));
            code = 1;
        }
    }
    Output { stdout, stderr, code, then: crate::Then::Exit }
}
