//! The whole simulated cluster as stored in `DIR/cluster.json`, and how it is read and written:
//! under an exclusive `flock` on `DIR/cluster.lock`, written to a temporary file and renamed,
//! with every call appended to `DIR/calls.jsonl`.
//!
//! Times are wall-clock milliseconds since the Unix epoch. Pods carry the timestamps their
//! lifecycle is computed from (see `sim.rs`); nothing here moves time forward.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// Which kubectl the fake imitates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Style {
    #[serde(rename = "1.9")]
    V1_9,
    #[serde(rename = "1.20")]
    V1_20,
    #[serde(rename = "1.33")]
    V1_33,
}

impl Style {
    pub fn parse(text: &str) -> Option<Style> {
        match text {
            "1.9" => Some(Style::V1_9),
            "1.20" => Some(Style::V1_20),
            "1.33" => Some(Style::V1_33),
            _ => None,
        }
    }

    /// kubectl ≤1.11: client-side printing, minwidth 10, watch rows padded on their own,
    /// `kind "name" result` messages, `extensions` API group.
    pub fn is_old(self) -> bool {
        self == Style::V1_9
    }

    pub fn label(self) -> &'static str {
        match self {
            Style::V1_9 => "1.9",
            Style::V1_20 => "1.20",
            Style::V1_33 => "1.33",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Datastore {
    Etcd,
    Kubernetes,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Config {
    pub kubectl_style: Style,
    pub calicoctl_version: String,
    pub calico_upgrade_version: String,
    pub datastore: Datastore,
    pub nodes: u32,
    /// Pending + ContainerCreating time of a new pod.
    pub pod_start_ms: u64,
    /// Terminating time of a deleted pod (its grace period).
    pub pod_stop_ms: u64,
    /// The v3 ClusterInformation carries `calicoVersion: v3.0.4` (a v3 calico/node ran), so
    /// calico-upgrade's `ShouldMigrate` is false and `inprogress` can no longer see the v1
    /// Ready flag: it says "NOT in Progress" whatever the flag.
    #[serde(default)]
    pub v3_cluster_information: bool,
    /// What the kubeconfig user may do: `admin` (everything), `view` (the ClusterRole `view`:
    /// get, list and watch only), or a RoleBinding in the Calico namespace (`namespace`,
    /// `namespace-no-configmaps`; see [`Role::allows`]).
    #[serde(default)]
    pub role: Role,
    /// The kubeconfig user's name (`kubectl config view --minify`), named in Forbidden errors.
    #[serde(default = "default_user")]
    pub user: String,
    /// Nodes removed while the cluster runs (`fake-cluster remove-node`): `node-N` is gone.
    #[serde(default)]
    pub removed_nodes: Vec<String>,
    /// Nodes whose kubelet stopped (`fake-cluster node-not-ready`): still desired by the
    /// DaemonSet, their pods' Ready condition False (containers still flagged ready), and a
    /// pod created there never starts.
    #[serde(default)]
    pub not_ready_nodes: Vec<String>,
    /// Images a node fails (`fake-cluster image-fault DIR NODE IMAGE HOW`): `(node, image,
    /// how)`, `how` being `unpullable` (the container waits with ErrImagePull, then
    /// ImagePullBackOff, a second each; the pod stays Pending) or `crash` (it runs, exits 1 and
    /// waits in CrashLoopBackOff, a restart every 2 s). For the pods created there from then on.
    #[serde(default)]
    pub image_faults: Vec<(String, String, String)>,
    /// The kubeconfig's contexts (`config get-contexts -o name`); `--context` must name one.
    #[serde(default = "default_contexts")]
    pub contexts: Vec<String>,
    /// The kubeconfig's current context; `None`: `config view --minify` fails as kubectl's does.
    #[serde(default = "default_current_context")]
    pub current_context: Option<String>,
    /// The API server ends every watch this long after it started (its
    /// `--min-request-timeout`, 1800 s by default, there randomised to 1-2x); kubectl then
    /// exits 0 without a word, as real `kubectl get --watch` does (it drops the watch's end).
    #[serde(default)]
    pub watch_ends_ms: Option<u64>,
    /// Labels `init --label KEY=VALUE` puts on calico-node and calico-kube-controllers beside
    /// `k8s-app` (a reconciler's, say: `addonmanager.kubernetes.io/mode=Reconcile`).
    #[serde(default)]
    pub workload_labels: BTreeMap<String, String>,
}

fn default_contexts() -> Vec<String> {
    vec![crate::kubectl::CONTEXT.to_string()]
}

fn default_current_context() -> Option<String> {
    Some(crate::kubectl::CONTEXT.to_string())
}

fn default_user() -> String {
    "kubernetes-admin".into()
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    #[default]
    Admin,
    View,
    /// A Role bound in the Calico namespace with what the tool needs there and nothing more:
    /// nothing at the cluster scope (no `--all-namespaces` listing, no namespaces).
    Namespace,
    /// The same without any right on ConfigMaps: exactly the documented commands' rights (no
    /// calico-config).
    NamespaceNoConfigmaps,
}

/// What one request asks of the authorizer: the verb, the resource (with its subresource, as
/// RBAC names it: `deployments/scale`), its API group (`""` for the core group) and the
/// namespace (`None`: the cluster scope).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Access<'a> {
    pub verb: &'a str,
    pub resource: &'a str,
    pub group: &'a str,
    pub namespace: Option<&'a str>,
}

/// The rules of the `namespace` role: (API group, resources, verbs). `deployments/scale` is
/// there because `kubectl scale` patches that subresource, which a rule on `deployments`
/// does not cover.
const NAMESPACE_RULES: &[(&str, &[&str], &[&str])] = &[
    ("apps", &["daemonsets", "deployments", "replicasets", "controllerrevisions"], &["get", "list", "watch", "patch"]),
    ("apps", &["deployments/scale"], &["get", "patch"]),
    ("", &["pods"], &["get", "list", "watch"]),
    // `calico-config` (the README's Role names it; RBAC here has no resource names).
    ("", &["configmaps"], &["get"]),
];

impl Role {
    /// Whether the role grants this request. `admin` and `view` are cluster-wide (`view`:
    /// get, list and watch on anything); the namespace roles grant their rules in the Calico
    /// namespace only, so never at the cluster scope.
    pub fn allows(self, access: Access) -> bool {
        match self {
            Role::Admin => true,
            Role::View => matches!(access.verb, "get" | "list" | "watch"),
            Role::Namespace | Role::NamespaceNoConfigmaps => {
                access.namespace == Some(CALICO_NAMESPACE)
                    && NAMESPACE_RULES.iter().any(|(group, resources, verbs)| {
                        *group == access.group
                            && resources.contains(&access.resource)
                            && verbs.contains(&access.verb)
                            && !(self == Role::NamespaceNoConfigmaps && access.resource == "configmaps")
                    })
            }
        }
    }
}

/// Where `init` puts Calico (the workloads, calico-config) and where the namespace roles are
/// bound.
pub const CALICO_NAMESPACE: &str = "kube-system";

impl Config {
    /// The nodes now: `node-1`..`node-N` (N grows with `add-node`) less the removed ones.
    pub fn node_names(&self) -> Vec<String> {
        (1..=self.nodes).map(|i| format!("node-{i}")).filter(|n| !self.removed_nodes.contains(n)).collect()
    }

    pub fn node_ready(&self, node: Option<&str>) -> bool {
        node.is_none_or(|n| !self.not_ready_nodes.iter().any(|x| x == n))
    }

    /// The container of a pod with these images on this node that the node fails, and how.
    pub fn image_fault(&self, node: Option<&str>, images: &[String]) -> Option<(usize, &str)> {
        let node = node?;
        self.image_faults
            .iter()
            .filter(|(n, _, _)| n == node)
            .find_map(|(_, image, how)| images.iter().position(|i| i == image).map(|index| (index, how.as_str())))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    DaemonSet,
    Deployment,
}

/// Where a variable's value comes from when it is not written in the template.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ValueFrom {
    ConfigMapKeyRef { name: String, key: String },
    FieldRef { field_path: String },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvVar {
    pub name: String,
    /// `None` (or empty, which the API server drops) prints as `{"name":"IP"}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_from: Option<ValueFrom>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Container {
    pub name: String,
    pub image: String,
    #[serde(default)]
    pub env: Vec<EnvVar>,
}

/// A pod template: what `rollout undo` restores and what decides a revision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Template {
    pub containers: Vec<Container>,
}

impl Template {
    pub fn images(&self) -> Vec<String> {
        self.containers.iter().map(|c| c.image.clone()).collect()
    }

    /// Kubernetes-style hash of the template: FNV-32a, printed in decimal, each digit mapped
    /// onto `bcdfghjklmnpqrstvwxz2456789` (apimachinery `rand.SafeEncodeString`).
    pub fn hash(&self) -> String {
        let text = serde_json::to_string(self).expect("template serializes");
        safe_encode(&fnv32a(text.as_bytes()).to_string())
    }
}

pub fn fnv32a(bytes: &[u8]) -> u32 {
    let mut hash: u32 = 0x811c_9dc5;
    for b in bytes {
        hash ^= u32::from(*b);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    hash
}

/// The alphabet of generated Kubernetes names (no vowels, no confusable digits).
pub const ALPHANUMS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

pub fn safe_encode(text: &str) -> String {
    text.bytes().map(|b| ALPHANUMS[usize::from(b) % ALPHANUMS.len()] as char).collect()
}

/// A UID as the API server prints one (a version-4 UUID), made from `seed` so that the same
/// history of calls gives the same UIDs.
pub fn uid(seed: &str) -> String {
    let hex: String = (0u8..4).map(|i| format!("{:08x}", fnv32a(format!("{i}:{seed}").as_bytes()))).collect();
    let variant = ["8", "9", "a", "b"][usize::from(hex.as_bytes()[16]) % 4];
    format!("{}-{}-4{}-{variant}{}-{}", &hex[0..8], &hex[8..12], &hex[13..16], &hex[17..20], &hex[20..32])
}

/// One ControllerRevision (DaemonSet) or ReplicaSet (Deployment).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revision {
    pub number: u64,
    /// `calico-node-<hash>` / `calico-kube-controllers-<hash>`: the same template always has
    /// the same name, which is why an undo re-numbers the old object instead of adding one.
    pub name: String,
    pub template: Template,
    pub created_at_ms: u64,
}

/// The DaemonSet or the Deployment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Workload {
    pub kind: Kind,
    pub name: String,
    pub namespace: String,
    /// DaemonSet: `RollingUpdate` / `OnDelete`; Deployment: `Recreate`.
    pub strategy: String,
    /// Deployment `.spec.replicas` (a DaemonSet has one pod per node).
    pub replicas: u32,
    pub template: Template,
    pub revisions: Vec<Revision>,
    pub created_at_ms: u64,
    /// Fault `stuck`: pods created from now on never become ready.
    #[serde(default)]
    pub stuck: bool,
    /// Annotations beyond those the API server keeps (the tool's cluster lock).
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

impl Workload {
    /// The object name for a template: `<name>-<hash>`.
    pub fn revision_name(&self, template: &Template) -> String {
        format!("{}-{}", self.name, template.hash())
    }

    pub fn max_revision(&self) -> u64 {
        self.revisions.iter().map(|r| r.number).max().unwrap_or(0)
    }

    /// Whether the pod is this workload's: a DaemonSet's pods name it as their owner, a
    /// Deployment's name one of its ReplicaSets (two Deployments share a namespace).
    pub fn owns(&self, pod: &Pod) -> bool {
        pod.controller == Some(self.kind)
            && pod.namespace == self.namespace
            && match self.kind {
                Kind::DaemonSet => pod.owner.as_deref() == Some(self.name.as_str()),
                Kind::Deployment => {
                    pod.owner.as_ref().is_some_and(|owner| self.revisions.iter().any(|r| r.name == *owner))
                }
            }
    }
}

/// A ConfigMap: `calico-config` (from `init`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigMap {
    pub name: String,
    pub namespace: String,
    #[serde(default)]
    pub data: BTreeMap<String, String>,
    pub created_at_ms: u64,
    /// `.metadata.resourceVersion`: the state's counter at the object's last write.
    pub resource_version: u64,
    pub uid: String,
}

/// One pod. Its phase and readiness at a time `t` follow from these timestamps (`sim.rs`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pod {
    pub name: String,
    pub namespace: String,
    /// `.metadata.ownerReferences[0].name`: the DaemonSet, or the ReplicaSet of a Deployment.
    #[serde(default)]
    pub owner: Option<String>,
    /// Which simulated controller manages the pod (`None`: nobody, it just runs).
    #[serde(default)]
    pub controller: Option<Kind>,
    /// Hash of the template the pod was made from.
    #[serde(default)]
    pub template_hash: String,
    #[serde(default)]
    pub node: Option<String>,
    pub images: Vec<String>,
    pub host_network: bool,
    pub created_at_ms: u64,
    /// When the containers run (phase Running); before: Pending, then ContainerCreating.
    pub running_at_ms: u64,
    /// When all containers are ready; `None`: never (fault `stuck`).
    pub ready_at_ms: Option<u64>,
    /// When `kubectl delete` (or a controller) deleted it.
    #[serde(default)]
    pub deleting_at_ms: Option<u64>,
    /// When it disappears: `deleting_at_ms` + the grace period.
    #[serde(default)]
    pub gone_at_ms: Option<u64>,
}

/// What an injected fault does (README "Faults").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FaultKind {
    Fail,
    /// The API server out of reach: what real kubectl prints then.
    Unreachable,
    /// The server's name does not resolve, its certificate is not trusted, or it refuses the
    /// credentials: what real kubectl 1.33 prints then (no retry fixes these).
    UnknownHost,
    Untrusted,
    Unauthorized,
    Garbage,
    Hang,
    Signal,
    FalseSuccess,
    Stuck,
}

impl FaultKind {
    pub fn parse(text: &str) -> Option<FaultKind> {
        match text {
            "fail" => Some(FaultKind::Fail),
            "unreachable" => Some(FaultKind::Unreachable),
            "unknown-host" => Some(FaultKind::UnknownHost),
            "untrusted" => Some(FaultKind::Untrusted),
            "unauthorized" => Some(FaultKind::Unauthorized),
            "garbage" => Some(FaultKind::Garbage),
            "hang" => Some(FaultKind::Hang),
            "signal" => Some(FaultKind::Signal),
            "false-success" => Some(FaultKind::FalseSuccess),
            "stuck" => Some(FaultKind::Stuck),
            _ => None,
        }
    }
}

/// The calls faults can name (README "Faults").
pub const CALLS: &[&str] = &[
    "kubectl-version",
    "kubectl-get-daemonsets",
    "kubectl-get-env",
    "kubectl-get-controllerrevisions",
    "kubectl-get-deployments",
    "kubectl-get-replicasets",
    "kubectl-get-pods-all",
    "kubectl-get-pods",
    "kubectl-watch-pods",
    "kubectl-watch-workload",
    "kubectl-undo-daemonset",
    "kubectl-undo-deployment",
    "kubectl-delete-pod",
    "kubectl-undo-daemonset-dry-run",
    "kubectl-undo-deployment-dry-run",
    "kubectl-get-namespaces",
    "kubectl-auth-can-i",
    "kubectl-config-view",
    "kubectl-get-revision-objects",
    "kubectl-get-objects",
    "kubectl-get-workloads",
    "kubectl-get-configmap",
    "kubectl-patch-lock",
    "kubectl-scale",
    "kubectl-scale-dry-run",
    "calicoctl-version",
    "calico-upgrade-version",
    "calico-upgrade-inprogress",
    "calico-upgrade-abort",
];

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fault {
    pub call: String,
    pub kind: FaultKind,
    /// How many more calls it applies to; `None`: every call.
    #[serde(default)]
    pub remaining: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    pub config: Config,
    /// The time up to which the controllers have been simulated.
    pub clock_ms: u64,
    /// Counter behind generated pod names (deterministic for a given history of calls).
    pub name_seq: u64,
    pub daemonset: Option<Workload>,
    /// `calico-kube-controllers`.
    pub deployment: Option<Workload>,
    /// Calico v3.0's `calico-typha` Deployment (`init --typha N`).
    #[serde(default)]
    pub typha: Option<Workload>,
    pub pods: Vec<Pod>,
    /// Pods that disappeared lately, so a running `--watch` can print their last row.
    #[serde(default)]
    pub tombstones: Vec<Pod>,
    /// etcd v1 `/calico/v1/Ready`: false while a migration is in progress.
    pub etcd_ready: bool,
    /// v3 `ClusterInformation` `calicoVersion`, if that resource exists.
    #[serde(default)]
    pub cluster_information: Option<String>,
    #[serde(default)]
    pub faults: Vec<Fault>,
    /// Until when the API server is down (`fake-cluster outage DIR MS`): every kubectl call
    /// but `version --client` answers as `unreachable`, and a running watch ends so.
    #[serde(default)]
    pub outage_until_ms: Option<u64>,
    #[serde(default)]
    pub configmaps: Vec<ConfigMap>,
    /// The last `resourceVersion` handed out: one counter for the whole state, bumped by
    /// every write a command makes (not by the controllers' own pod changes). The API server
    /// uses etcd's revision the same way, so versions only grow and a compare-and-swap on one
    /// object sees any write to it.
    #[serde(default)]
    pub resource_version: u64,
    /// Calico objects in the Kubernetes API datastore's CRDs (`fake-cluster calico-object`).
    #[serde(default)]
    pub calico_objects: Vec<CalicoObject>,
}

/// One object of a `crd.projectcalico.org` resource, as `kubectl get --raw
/// /apis/crd.projectcalico.org/v1/PLURAL` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CalicoObject {
    pub plural: String,
    pub namespace: Option<String>,
    pub name: String,
    pub spec: serde_json::Value,
}

/// The CRDs of Calico v2.6's and v3.0's Kubernetes API datastore manifests (both installed on
/// a cluster upgraded from one to the other), with each one's kind.
pub const CALICO_CRDS: &[(&str, &str)] = &[
    ("globalfelixconfigs", "GlobalFelixConfig"),
    ("globalbgpconfigs", "GlobalBGPConfig"),
    ("felixconfigurations", "FelixConfiguration"),
    ("bgpconfigurations", "BGPConfiguration"),
    ("clusterinformations", "ClusterInformation"),
    ("ippools", "IPPool"),
    ("bgppeers", "BGPPeer"),
    ("globalnetworkpolicies", "GlobalNetworkPolicy"),
    ("networkpolicies", "NetworkPolicy"),
];

impl State {
    pub fn migration_in_progress(&self) -> bool {
        self.config.datastore == Datastore::Etcd && !self.etcd_ready
    }

    /// Every workload: the DaemonSet, then the Deployments.
    pub fn workloads(&self) -> impl Iterator<Item = &Workload> {
        self.daemonset.iter().chain(self.deployment.iter()).chain(self.typha.iter())
    }

    /// The workload of this kind, name and namespace.
    pub fn find(&self, kind: Kind, name: &str, namespace: &str) -> Option<&Workload> {
        self.workloads().find(|w| w.kind == kind && w.name == name && w.namespace == namespace)
    }

    pub fn find_mut(&mut self, kind: Kind, name: &str, namespace: &str) -> Option<&mut Workload> {
        self.daemonset
            .iter_mut()
            .chain(self.deployment.iter_mut())
            .chain(self.typha.iter_mut())
            .find(|w| w.kind == kind && w.name == name && w.namespace == namespace)
    }

    /// The workload whose controller made the pod, if any.
    pub fn owner_of(&self, pod: &Pod) -> Option<&Workload> {
        self.workloads().find(|w| w.owns(pod))
    }

    /// The next `resourceVersion` (a write).
    pub fn bump(&mut self) -> u64 {
        self.resource_version += 1;
        self.resource_version
    }

    pub fn configmap(&self, name: &str, namespace: &str) -> Option<&ConfigMap> {
        self.configmaps.iter().find(|c| c.name == name && c.namespace == namespace)
    }

    /// The fault that applies to this call, if any (counting it down).
    pub fn in_outage(&self, t: u64) -> bool {
        self.outage_until_ms.is_some_and(|until| t < until)
    }

    pub fn take_fault(&mut self, call: &str) -> Option<FaultKind> {
        let fault = self.faults.iter_mut().find(|f| f.call == call && f.remaining != Some(0))?;
        if let Some(n) = fault.remaining.as_mut() {
            *n -= 1;
        }
        Some(fault.kind)
    }

    /// A fresh 5-character pod-name suffix that no pod of `prefix` uses.
    pub fn pod_name(&mut self, prefix: &str) -> String {
        loop {
            self.name_seq += 1;
            let mut x = self.name_seq.wrapping_mul(0x9E37_79B9_7F4A_7C15);
            x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            x ^= x >> 31;
            let suffix: String =
                (0..5).map(|i| ALPHANUMS[((x >> (i * 8)) % ALPHANUMS.len() as u64) as usize] as char).collect();
            let name = format!("{prefix}-{suffix}");
            if !self.pods.iter().chain(&self.tombstones).any(|p| p.name == name) {
                return name;
            }
        }
    }
}

pub fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// `2026-11-23T20:22:59Z`, as the API server prints `creationTimestamp`.
pub fn rfc3339(ms: u64) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_millis(ms)).to_string()
}

/// The files of one simulated cluster.
#[derive(Debug, Clone)]
pub struct ClusterDir {
    pub dir: PathBuf,
}

/// Holds the exclusive lock until dropped.
pub struct Lock {
    _file: File,
}

impl ClusterDir {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        ClusterDir { dir: dir.into() }
    }

    pub fn state_path(&self) -> PathBuf {
        self.dir.join("cluster.json")
    }

    pub fn calls_path(&self) -> PathBuf {
        self.dir.join("calls.jsonl")
    }

    pub fn lock(&self) -> Result<Lock, String> {
        let path = self.dir.join("cluster.lock");
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
        loop {
            // SAFETY: flock on a file descriptor we own; it is released when `file` closes.
            let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
            if rc == 0 {
                return Ok(Lock { _file: file });
            }
            let err = std::io::Error::last_os_error();
            if err.kind() != std::io::ErrorKind::Interrupted {
                return Err(format!("cannot lock {}: {err}", path.display()));
            }
        }
    }

    pub fn load(&self) -> Result<State, String> {
        let path = self.state_path();
        let text = fs::read_to_string(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        serde_json::from_str(&text).map_err(|e| format!("cannot parse {}: {e}", path.display()))
    }

    pub fn save(&self, state: &State) -> Result<(), String> {
        let path = self.state_path();
        let tmp = self.dir.join("cluster.json.tmp");
        let text = serde_json::to_string_pretty(state).expect("state serializes");
        fs::write(&tmp, text + "\n").map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
        fs::rename(&tmp, &path).map_err(|e| format!("cannot replace {}: {e}", path.display()))
    }

    /// Append one line to `calls.jsonl` (the caller holds the lock).
    pub fn log_call(&self, record: &CallRecord) -> Result<(), String> {
        let path = self.calls_path();
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
        // One write of the whole line: a fake the tool kills (a watch it stopped) never leaves
        // half a line for the next one to continue.
        let line = format!("{}\n", serde_json::to_string(record).expect("record serializes"));
        file.write_all(line.as_bytes()).map_err(|e| format!("cannot write {}: {e}", path.display()))
    }

    /// How many calls of each kind `calls.jsonl` holds.
    pub fn call_counts(&self) -> BTreeMap<String, u64> {
        let mut counts = BTreeMap::new();
        let text = fs::read_to_string(self.calls_path()).unwrap_or_default();
        for line in text.lines() {
            if let Ok(record) = serde_json::from_str::<CallRecord>(line) {
                *counts.entry(record.call).or_insert(0) += 1;
            }
        }
        counts
    }
}

/// One line of `calls.jsonl`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallRecord {
    /// The argv, with argv[0] reduced to its file name (`kubectl`).
    pub argv: Vec<String>,
    pub stdin: String,
    pub at_ms: u64,
    /// The fault/call name (`kubectl-get-pods`), or `unexpected`.
    pub call: String,
    /// The `KUBECONFIG` the call was given, byte for byte: printable ASCII as is, every other
    /// byte as `\xNN` (so a value that is not UTF-8 shows that it arrived intact).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubeconfig: Option<String>,
}

/// The `KUBECONFIG` of this process, escaped as [`CallRecord::kubeconfig`] says.
#[allow(clippy::disallowed_methods)]
pub fn kubeconfig_env() -> Option<String> {
    use std::os::unix::ffi::OsStrExt;
    let value = std::env::var_os("KUBECONFIG")?;
    Some(
        value
            .as_bytes()
            .iter()
            .map(
                |&b| {
                    if (0x20..0x7f).contains(&b) && b != b'\\' {
                        (b as char).to_string()
                    } else {
                        format!("\\x{b:02x}")
                    }
                },
            )
            .collect(),
    )
}

/// Whether a path exists (for `--apiconfigv1/3` files).
pub fn exists(path: &str) -> bool {
    Path::new(path).exists()
}
