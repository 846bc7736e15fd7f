//! Which cluster and which Calico datastore a run acts on, shown in the plan, the prompt, the
//! report, the JSON and the journal's header: the kubeconfig kubectl reads and where its path
//! came from (`--kubeconfig`, `KUBECONFIG`, `~/.kube/config`, or the in-cluster service
//! account), kubectl's context, server and user (from `kubectl config view --minify`), and
//! where calico-upgrade will find the etcd datastore (its `--apiconfigv1`/`--apiconfigv3`
//! files, else its default files, else its environment variables). Endpoints only: never a
//! password, key or token, and no `user:password@` in a URL.
//!
//! [`Destination::problem`] says, before any request reaches the network, why kubectl cannot
//! reach a cluster at all: no kubeconfig file, no current context, an unknown `--context`, a
//! context whose cluster has no server. No retry fixes those.
//!
//! Pure: the caller reads the environment and looks for the files.

use serde::Serialize;

use crate::tools::calico_upgrade::ApiConfig;
use crate::tools::kubectl::KubeContext;

/// Where kubectl's configuration comes from, as kubectl decides it: `--kubeconfig` (one file,
/// which must exist), else `KUBECONFIG` (a `:`-separated list, files that do not exist being
/// skipped), else `~/.kube/config`; with none of them, inside a pod, the service account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Kubeconfig {
    pub origin: KubeconfigOrigin,
    /// The files kubectl reads, in order, each with whether it exists.
    pub files: Vec<KubeconfigFile>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum KubeconfigOrigin {
    /// `--kubeconfig` (or `CALICO_DOWNGRADE_KUBECONFIG`).
    Option,
    /// The `KUBECONFIG` environment variable.
    Variable,
    /// `~/.kube/config`, kubectl's default.
    Default,
    /// No kubeconfig, but `KUBERNETES_SERVICE_HOST` is set: kubectl uses the pod's service account.
    InCluster,
    /// No kubeconfig, no `HOME`, not in a pod.
    Nowhere,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KubeconfigFile {
    pub path: String,
    pub exists: bool,
}

/// Which kubeconfig kubectl will read. `kubeconfig_variable` is `KUBECONFIG` as the OS gave it
/// (a path that is not UTF-8 is looked for as it is, and shown lossily), `exists` tells
/// whether a file exists.
pub fn kubeconfig(
    option: Option<&str>,
    kubeconfig_variable: Option<&std::ffi::OsStr>,
    home: Option<&str>,
    in_cluster: bool,
    exists: &dyn Fn(&std::path::Path) -> bool,
) -> Kubeconfig {
    let file = |path: &std::path::Path| KubeconfigFile { path: path.display().to_string(), exists: exists(path) };
    if let Some(path) = option {
        return Kubeconfig { origin: KubeconfigOrigin::Option, files: vec![file(std::path::Path::new(path))] };
    }
    if let Some(list) = kubeconfig_variable.filter(|v| !v.is_empty()) {
        // `:`-separated, as kubectl splits it (`filepath.SplitList`).
        let files = std::env::split_paths(list).filter(|p| !p.as_os_str().is_empty()).map(|p| file(&p)).collect();
        return Kubeconfig { origin: KubeconfigOrigin::Variable, files };
    }
    if let Some(home) = home.filter(|h| !h.is_empty()) {
        let default = std::path::Path::new(home).join(".kube/config");
        let found = file(&default);
        if found.exists || !in_cluster {
            return Kubeconfig { origin: KubeconfigOrigin::Default, files: vec![found] };
        }
    }
    let origin = if in_cluster { KubeconfigOrigin::InCluster } else { KubeconfigOrigin::Nowhere };
    Kubeconfig { origin, files: Vec::new() }
}

impl Kubeconfig {
    /// `/root/.kube/config (kubectl's default, ~/.kube/config)`, `a, b (KUBECONFIG)`.
    pub fn describe(&self) -> String {
        let paths = self.files.iter().map(|f| f.path.as_str()).collect::<Vec<_>>().join(", ");
        match self.origin {
            KubeconfigOrigin::Option => format!("{paths} (--kubeconfig)"),
            KubeconfigOrigin::Variable => format!("{paths} (KUBECONFIG)"),
            KubeconfigOrigin::Default => format!("{paths} (kubectl's default, ~/.kube/config)"),
            KubeconfigOrigin::InCluster => {
                "the pod's service account (no kubeconfig; KUBERNETES_SERVICE_HOST is set)".into()
            }
            KubeconfigOrigin::Nowhere => "none (no --kubeconfig, no KUBECONFIG, no HOME)".into(),
        }
    }

    /// Why kubectl has no configuration to read, if so: it would fall back to `localhost:8080`.
    pub fn missing(&self) -> Option<String> {
        let absent: Vec<&str> = self.files.iter().filter(|f| !f.exists).map(|f| f.path.as_str()).collect();
        match self.origin {
            KubeconfigOrigin::Option if !absent.is_empty() => {
                Some(format!("the kubeconfig `{}` given with --kubeconfig does not exist", absent[0]))
            }
            KubeconfigOrigin::Variable if self.files.is_empty() => Some("KUBECONFIG names no file".to_string()),
            KubeconfigOrigin::Variable if absent.len() == self.files.len() => Some(format!(
                "no kubeconfig: {} named by KUBECONFIG {}",
                absent.iter().map(|p| format!("`{p}`")).collect::<Vec<_>>().join(", "),
                if absent.len() == 1 { "does not exist" } else { "do not exist" }
            )),
            KubeconfigOrigin::Default if !absent.is_empty() => Some(format!(
                "no kubeconfig: KUBECONFIG is not set and `{}` (kubectl's default) does not exist",
                absent[0]
            )),
            KubeconfigOrigin::Nowhere => {
                Some("no kubeconfig: neither --kubeconfig nor KUBECONFIG is set, and there is no HOME".to_string())
            }
            _ => None,
        }
    }
}

/// calico-upgrade's default configuration files (FORMATS.md §2.3, `lib/upgrade/migrator/clients`).
pub const DEFAULT_APICONFIGV1: &str = "/etc/calico/apiconfigv1.cfg";
pub const DEFAULT_APICONFIGV3: &str = "/etc/calico/apiconfigv3.cfg";

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Destination {
    /// The kubeconfig kubectl reads, and why that one.
    pub kubeconfig: Kubeconfig,
    /// What `kubectl config view --minify` said; `None` with `kube_error` when it could not say.
    pub kube: Option<KubeContext>,
    pub kube_error: Option<String>,
    /// The contexts the kubeconfig holds, read (`kubectl config get-contexts -o name`) only
    /// when the one asked for could not be used.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub contexts: Vec<String>,
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

impl DatastoreAccess {
    /// `calico-upgrade reads v2.6 data from …, v3.0 data from …`, short: only what was found.
    pub fn short(&self) -> String {
        let short = |text: &str| match text.split_once(": calico-upgrade's built-in defaults") {
            Some(_) => "its built-in defaults".to_string(),
            None => text.to_string(),
        };
        if self.v1 == self.v3 || short(&self.v1) == short(&self.v3) {
            return format!("calico-upgrade reads the v2.6 and v3.0 data from {}", short(&self.v1));
        }
        format!("calico-upgrade reads v2.6 data from {}, v3.0 data from {}", short(&self.v1), short(&self.v3))
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

    /// `context prod (https://10.0.0.1:6443)`: the cluster in a few words, for the prompt.
    pub fn short(&self) -> String {
        match &self.kube {
            Some(kube) if !kube.server.is_empty() => format!("context {} ({})", kube.context, kube.server),
            Some(kube) => format!("context {}", kube.context),
            None => "the cluster kubectl reaches".to_string(),
        }
    }

    /// Why kubectl cannot reach any cluster with this configuration (no retry fixes it), with
    /// what there is to choose from; `None` when it names a server. `context` is the
    /// `--context` asked for, if any.
    pub fn problem(&self, context: Option<&str>) -> Option<(String, Vec<String>)> {
        let contexts = || {
            if self.contexts.is_empty() {
                vec![format!("the kubeconfig holds no context: {}", self.kubeconfig.describe())]
            } else {
                vec![format!("contexts in the kubeconfig: {}", self.contexts.join(", "))]
            }
        };
        if let Some(missing) = self.kubeconfig.missing() {
            return Some((
                format!("{missing}; kubectl would fall back to localhost:8080, which is no cluster"),
                vec!["pass --kubeconfig PATH, set KUBECONFIG, or create ~/.kube/config".to_string()],
            ));
        }
        if self.kubeconfig.origin == KubeconfigOrigin::InCluster && self.kube.is_none() {
            return None;
        }
        let error = self.kube_error.as_deref().unwrap_or_default();
        if let Some(kube) = &self.kube {
            if kube.server.is_empty() {
                return Some((
                    format!(
                        "context {} of {} names a cluster with no server; kubectl would fall back to localhost:8080",
                        kube.context,
                        self.kubeconfig.describe()
                    ),
                    contexts(),
                ));
            }
            return None;
        }
        if error.contains("cannot locate context") {
            let name = context.map_or_else(|| error.rsplit(' ').next().unwrap_or_default().to_string(), str::to_string);
            let given = if context.is_some() { "given with --context" } else { "the kubeconfig's current context" };
            return Some((
                format!("there is no context `{name}` ({given}) in {}", self.kubeconfig.describe()),
                contexts(),
            ));
        }
        if error.contains("current-context must exist") {
            return Some((
                format!("{} has no current context; pass --context NAME", self.kubeconfig.describe()),
                contexts(),
            ));
        }
        if !error.is_empty() {
            return Some((format!("kubectl cannot read {}: {error}", self.kubeconfig.describe()), Vec::new()));
        }
        None
    }

    /// Every fact about the destination, one per line (`-v`, the journal).
    pub fn lines(&self) -> Vec<String> {
        vec![
            format!("kubeconfig: {}", self.kubeconfig.describe()),
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

    fn exists_only(paths: &'static [&'static str]) -> impl Fn(&std::path::Path) -> bool {
        move |path| paths.iter().any(|p| std::path::Path::new(p) == path)
    }

    fn destination(kubeconfig: Kubeconfig, kube: Option<KubeContext>, error: Option<&str>) -> Destination {
        Destination {
            kubeconfig,
            kube,
            kube_error: error.map(str::to_string),
            contexts: vec!["prod".into(), "staging".into()],
            calico_upgrade: DatastoreAccess { v1: String::new(), v3: String::new() },
        }
    }

    #[test]
    fn the_kubeconfig_comes_from_the_option_then_the_variable_then_home() {
        let exists = exists_only(&["/etc/k/a", "/home/jane/.kube/config"]);
        let option = kubeconfig(Some("/etc/k/b"), Some("/etc/k/a".as_ref()), Some("/home/jane"), false, &exists);
        assert_eq!(option.origin, KubeconfigOrigin::Option);
        assert_eq!(option.missing().unwrap(), "the kubeconfig `/etc/k/b` given with --kubeconfig does not exist");
        // KUBECONFIG: files that do not exist are skipped, as kubectl skips them; all missing is no kubeconfig.
        let list = kubeconfig(None, Some("/nope:/etc/k/a".as_ref()), None, false, &exists);
        assert_eq!((list.origin, list.missing()), (KubeconfigOrigin::Variable, None));
        let none = kubeconfig(None, Some("/nope".as_ref()), Some("/home/jane"), false, &exists);
        assert_eq!(none.missing().unwrap(), "no kubeconfig: `/nope` named by KUBECONFIG does not exist");
        let home = kubeconfig(None, None, Some("/home/joe"), false, &exists);
        assert_eq!(
            home.missing().unwrap(),
            "no kubeconfig: KUBECONFIG is not set and `/home/joe/.kube/config` (kubectl's default) does not exist"
        );
        // In a pod, kubectl uses the service account when there is no kubeconfig.
        let pod = kubeconfig(None, None, Some("/root"), true, &exists);
        assert_eq!((pod.origin, pod.missing()), (KubeconfigOrigin::InCluster, None));
    }

    #[test]
    fn a_context_that_cannot_be_used_is_named_with_the_contexts_there_are() {
        let config = kubeconfig(None, Some("/etc/k/a".as_ref()), None, false, &exists_only(&["/etc/k/a"]));
        let unknown =
            destination(config.clone(), None, Some("`kubectl config view --minify` failed: cannot locate context prd"));
        let (message, details) = unknown.problem(Some("prd")).unwrap();
        assert_eq!(message, "there is no context `prd` (given with --context) in /etc/k/a (KUBECONFIG)");
        assert_eq!(details, ["contexts in the kubeconfig: prod, staging"]);
        let none = destination(
            config.clone(),
            None,
            Some("`kubectl config view --minify` failed: current-context must exist in order to minify"),
        );
        assert_eq!(none.problem(None).unwrap().0, "/etc/k/a (KUBECONFIG) has no current context; pass --context NAME");
        let serverless =
            KubeContext { context: "prod".into(), cluster: "c".into(), server: String::new(), user: "u".into() };
        assert!(destination(config.clone(), Some(serverless), None).problem(None).unwrap().0.contains("no server"));
        let fine = KubeContext {
            context: "prod".into(),
            cluster: "c".into(),
            server: "https://x:6443".into(),
            user: "u".into(),
        };
        assert_eq!(destination(config, Some(fine), None).problem(None), None);
    }
}
