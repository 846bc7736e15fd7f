//! Which cluster and which Calico datastore a run acts on, shown in the plan, the prompt, the
//! report, the JSON and the journal's header: kubectl's context, server and user (from
//! `kubectl config view --minify`), and where calico-upgrade will find the etcd datastore (its
//! `--apiconfigv1`/`--apiconfigv3` files, else its default files, else its environment
//! variables). Endpoints only: never a password, key or token, and no `user:password@` in a URL.
//!
//! Pure: the caller reads the environment and looks for the default files.

use serde::Serialize;

use crate::tools::calico_upgrade::ApiConfig;
use crate::tools::kubectl::KubeContext;

/// calico-upgrade's default configuration files (FORMATS.md §2.3, `lib/upgrade/migrator/clients`).
pub const DEFAULT_APICONFIGV1: &str = "/etc/calico/apiconfigv1.cfg";
pub const DEFAULT_APICONFIGV3: &str = "/etc/calico/apiconfigv3.cfg";

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Destination {
    /// What `kubectl config view --minify` said; `None` with `kube_error` when it could not say.
    pub kube: Option<KubeContext>,
    pub kube_error: Option<String>,
    /// Where calico-upgrade reads the Calico v2.6 (etcdv2) and v3.0 (etcdv3) datastores.
    pub calico_upgrade: DatastoreAccess,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DatastoreAccess {
    pub v1: String,
    pub v3: String,
}

/// The variables calico-upgrade reads for each datastore (FORMATS.md §2.4), endpoints first;
/// each also works with a `CALICO_` prefix.
const V1_VARIABLES: &[&str] = &["APIV1_ETCD_ENDPOINTS", "APIV1_ETCD_AUTHORITY"];
const V3_VARIABLES: &[&str] = &["ETCD_ENDPOINTS"];

/// `https://user:secret@host:2379` → `https://***@host:2379`.
fn without_credentials(value: &str) -> String {
    value
        .split(',')
        .map(|endpoint| match (endpoint.find("://"), endpoint.find('@')) {
            (Some(scheme), Some(at)) if at > scheme => format!("{}://***{}", &endpoint[..scheme], &endpoint[at..]),
            (None, Some(at)) => format!("***{}", &endpoint[at..]),
            _ => endpoint.to_string(),
        })
        .collect::<Vec<_>>()
        .join(",")
}

fn describe(
    option: &str,
    given: Option<&str>,
    default: &str,
    default_exists: bool,
    variables: &[&str],
    var: &dyn Fn(&str) -> Option<String>,
) -> String {
    if let Some(path) = given {
        return format!("{option} {path}");
    }
    if default_exists {
        return format!("{default} (calico-upgrade's default file)");
    }
    for name in variables {
        for spelled in [name.to_string(), format!("CALICO_{name}")] {
            if let Some(value) = var(&spelled).filter(|v| !v.is_empty()) {
                return format!("{spelled}={}", without_credentials(&value));
            }
        }
    }
    format!("no {option}, no {default} and no {} set: calico-upgrade's built-in defaults", variables.join("/"))
}

/// Where calico-upgrade will look, given the options, the environment and whether its default
/// files exist.
pub fn datastore_access(
    api: &ApiConfig,
    var: &dyn Fn(&str) -> Option<String>,
    default_v1_exists: bool,
    default_v3_exists: bool,
) -> DatastoreAccess {
    let v3 = match var("DATASTORE_TYPE").or_else(|| var("CALICO_DATASTORE_TYPE")) {
        Some(kind) if api.v3.is_none() && !default_v3_exists && kind == "kubernetes" => {
            "DATASTORE_TYPE=kubernetes (the Kubernetes API datastore: nothing to abort)".to_string()
        }
        _ => describe("--apiconfigv3", api.v3.as_deref(), DEFAULT_APICONFIGV3, default_v3_exists, V3_VARIABLES, var),
    };
    DatastoreAccess {
        v1: describe("--apiconfigv1", api.v1.as_deref(), DEFAULT_APICONFIGV1, default_v1_exists, V1_VARIABLES, var),
        v3,
    }
}

impl Destination {
    /// One line naming the cluster, for the prompt and the report.
    pub fn cluster_line(&self) -> String {
        match (&self.kube, &self.kube_error) {
            (Some(kube), _) => format!(
                "context {}: cluster {} at {}, user {}",
                kube.context,
                if kube.cluster.is_empty() { "(unnamed)" } else { &kube.cluster },
                if kube.server.is_empty() { "(no server)" } else { &kube.server },
                if kube.user.is_empty() { "(none)" } else { &kube.user },
            ),
            (None, Some(error)) => format!("context unknown: {error}"),
            (None, None) => "context unknown: kubectl was not found".to_string(),
        }
    }

    /// The lines the report shows before the first task.
    pub fn lines(&self) -> Vec<String> {
        vec![
            self.cluster_line(),
            format!("calico-upgrade, Calico v2.6 data (etcdv2): {}", self.calico_upgrade.v1),
            format!("calico-upgrade, Calico v3.0 data (etcdv3): {}", self.calico_upgrade.v3),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string())
    }

    #[test]
    fn the_options_come_first_then_the_default_files_then_the_variables() {
        let api = ApiConfig { v1: Some("/srv/v1.cfg".into()), v3: None };
        let env = vars(&[
            ("ETCD_ENDPOINTS", "https://root:hunter2@10.0.0.5:2379,https://10.0.0.6:2379"),
            ("ETCD_PASSWORD", "x"),
        ]);
        let access = datastore_access(&api, &env, true, false);
        assert_eq!(access.v1, "--apiconfigv1 /srv/v1.cfg");
        assert_eq!(access.v3, "ETCD_ENDPOINTS=https://***@10.0.0.5:2379,https://10.0.0.6:2379");
        let access = datastore_access(
            &ApiConfig::default(),
            &vars(&[("CALICO_APIV1_ETCD_AUTHORITY", "etcd:2379")]),
            false,
            true,
        );
        assert_eq!(access.v1, "CALICO_APIV1_ETCD_AUTHORITY=etcd:2379");
        assert_eq!(access.v3, "/etc/calico/apiconfigv3.cfg (calico-upgrade's default file)");
        let access = datastore_access(&ApiConfig::default(), &vars(&[]), false, false);
        assert!(access.v1.starts_with("no --apiconfigv1, no /etc/calico/apiconfigv1.cfg"), "{}", access.v1);
        let kdd = datastore_access(&ApiConfig::default(), &vars(&[("DATASTORE_TYPE", "kubernetes")]), false, false);
        assert!(kdd.v3.starts_with("DATASTORE_TYPE=kubernetes"), "{}", kdd.v3);
    }
}
