//! `kubectl`: the commands the README lists, parsed by hand, answered from the state in the
//! byte format of the configured kubectl (1.9, 1.20 or 1.33); a `--watch` answers its first
//! block here and goes on in `watch.rs`.
//!
//! Output shapes come from `shared/formats/real/kubectl-{1.20.2-debian,1.33.1}` (real captures)
//! and `shared/formats/fixtures/kubectl` (1.9, from the source): custom-columns tables through
//! the tabwriter of `table.rs`; "nothing found" on stderr with exit 0; `kind "name" result`
//! (1.9) or `kind.apps/name result` (1.20+); jsonpath of objects as Go syntax before 1.19 and
//! as JSON after.

use crate::objects;
use crate::sim::{self, view, Undo};
use crate::state::{rfc3339, Access, EnvVar, Kind, Pod, Revision, Role, State, Style, ValueFrom, Workload};
use crate::table::{TabWriter, MINWIDTH_NEW, MINWIDTH_OLD};
use crate::watch::{Target, Watch};
use crate::{Output, Then};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    DaemonSets,
    ControllerRevisions,
    Deployments,
    ReplicaSets,
    Pods,
}

/// A custom-columns field the fake knows how to fill.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Name,
    Namespace,
    Created,
    Desired,
    Strategy,
    Images,
    ContainerNames,
    Revision,
    Owner,
    HostNetwork,
    Node,
    Phase,
    Ready,
    /// `.status.conditions[?(@.type=="Ready")].status`: `True`/`False`.
    ReadyCondition,
    /// `.status.containerStatuses[*].state.waiting.reason`.
    Waiting,
    /// `.status.containerStatuses[*].restartCount`.
    RestartCounts,
    /// `.status.conditions[?(@.type=="PodScheduled")].reason`: every pod of the fake is
    /// scheduled (no reason).
    ScheduledReason,
    /// `.status.conditions[?(@.type=="ContainersReady")].status`: the containers' flags (a
    /// NotReady node's pods keep theirs).
    ContainersReadyCondition,
    Deletion,
    /// `.metadata.generation` and `.status.observedGeneration` (the fake's controllers see a
    /// new template at once: both are the template's revision number).
    Generation,
    ObservedGeneration,
    /// DaemonSet `.status.updatedNumberScheduled` / Deployment `.status.updatedReplicas`.
    Updated,
    /// DaemonSet `.status.numberAvailable` / Deployment `.status.availableReplicas`.
    Available,
    /// Deployment `.status.replicas`: its pods not being deleted, of every ReplicaSet.
    StatusReplicas,
    /// The default table's `READY` (`2/2`), `STATUS`, `RESTARTS` and `AGE`.
    ReadyCount,
    /// `.spec.selector.matchLabels.k8s-app`: the workload's name, as in Calico's manifests.
    App,
    Status,
    Restarts,
    Age,
    /// `--output-watch-events`: `.type`, the event (`ADDED`, `MODIFIED`, `DELETED`).
    EventType,
    /// A path the object has not (prints `<none>`): with `--output-watch-events` a path that
    /// is not under `.object`, on a named workload a field of the other kind.
    Missing,
}

/// `kubectl get pods -n NS` with no `-o`: the default table (server-side printing).
const DEFAULT_POD_COLUMNS: [(&str, Field); 5] = [
    ("NAME", Field::Name),
    ("READY", Field::ReadyCount),
    ("STATUS", Field::Status),
    ("RESTARTS", Field::Restarts),
    ("AGE", Field::Age),
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Containers {
    All,
    Index(usize),
    /// The line-per-variable form the tool asks for ([`ENV_LINES_JSONPATH`]).
    Lines,
}

/// kubectl's stderr with the API server down, in every version (1.20, 1.27, 1.33: real
/// captures `unreachable-get-pods.err`, the server address being the fake's own).
pub const UNREACHABLE: &str =
    "The connection to the server 127.0.0.1:6443 was refused - did you specify the right host or port?\n";

/// kubectl 1.33's stderr when the server's name does not resolve, its certificate is not
/// trusted, or it refuses the credentials (real captures against kube-apiserver 1.20,
/// `fixtures/kubectl/get-objects/unreachable-*`; the server being the fake's own).
pub const UNKNOWN_HOST: &str = "E1205 00:35:07.967621    5245 memcache.go:265] \"Unhandled Error\" err=\"couldn't get current server API group list: Get \\\"https://no-such-host.invalid:6443/api?timeout=2m0s\\\": dial tcp: lookup no-such-host.invalid on 10.255.255.53:53: no such host\"\nUnable to connect to the server: dial tcp: lookup no-such-host.invalid on 10.255.255.53:53: no such host\n";
pub const UNTRUSTED: &str = "E1205 00:35:07.836346    5229 memcache.go:265] \"Unhandled Error\" err=\"couldn't get current server API group list: Get \\\"https://127.0.0.1:6443/api?timeout=2m0s\\\": tls: failed to verify certificate: x509: certificate signed by unknown authority\"\nUnable to connect to the server: tls: failed to verify certificate: x509: certificate signed by unknown authority\n";
pub const UNAUTHORIZED: &str = "E1205 00:35:08.222927    5277 memcache.go:265] \"Unhandled Error\" err=\"couldn't get current server API group list: the server has asked for the client to provide credentials\"\nerror: You must be logged in to the server (the server has asked for the client to provide credentials)\n";

/// What `calico-downgrade` asks for the calico-node environment.
pub const ENV_LINES_JSONPATH: &str =
    "jsonpath={range .spec.template.spec.containers[*].env[*]}{.name}{\"\\t\"}{.value}{\"\\t\"}{.valueFrom}{\"\\n\"}{end}";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cmd {
    Version,
    /// `get RESOURCE -n NS|--all-namespaces -o custom-columns=... [--watch]`.
    List {
        /// `-l k8s-app in (a,b)` / `-l k8s-app=a`: pods only.
        selector: Option<Selector>,
        resource: Resource,
        namespace: Option<String>,
        columns: Vec<(String, Field)>,
        watch: bool,
        /// `--output-watch-events` (with `watch`).
        events: bool,
    },
    /// `get daemonset NAME -n NS -o jsonpath={.spec.template.spec.containers[*].env}`.
    Env {
        name: String,
        namespace: String,
        containers: Containers,
    },
    Undo {
        kind: Kind,
        name: String,
        namespace: String,
        to_revision: Option<u64>,
        /// `--dry-run=server`: judged on a copy of the state, nothing kept.
        dry_run: bool,
    },
    /// `get daemonset/NAME [deployment/NAME] -n NS -o custom-columns=...`: one table, a row per
    /// object in the order named (kubectl's `printGeneric` prints them as one list).
    Objects {
        objects: Vec<(Resource, String)>,
        namespace: String,
        columns: Vec<String>,
    },
    DeletePod {
        name: String,
        namespace: String,
        /// `--wait=false` (kubectl 1.11+): return once the deletion is accepted.
        wait: bool,
    },
    /// `get namespaces -o custom-columns=NAME:.metadata.name`.
    Namespaces,
    /// `auth can-i VERB RESOURCE[/NAME] -n NS|--all-namespaces [--subresource=S]`.
    CanI {
        verb: String,
        resource: String,
        /// `None`: `--all-namespaces` (the cluster scope).
        namespace: Option<String>,
        subresource: Option<String>,
    },
    /// `config view --minify -o jsonpath={.contexts[0].context.user}`.
    ConfigUser,
    /// `config view --minify -o jsonpath=...` (the tool's [`CONFIG_VIEW_JSONPATH`]).
    ConfigView {
        context: Option<String>,
    },
    /// `config get-contexts -o name`.
    Contexts,
    /// `get pod NAME -n NS -o json`: one pod, whole.
    PodJson {
        name: String,
        namespace: String,
    },
    /// `get controllerrevisions|replicasets NAME... -n NS -o json`: the objects, whole.
    RevisionObjects {
        kind: Kind,
        names: Vec<String>,
        namespace: String,
    },
    /// `get daemonset/NAME -n NS -o custom-columns=... --watch [--output-watch-events]` (or
    /// `deployment/NAME`): follow one workload. Several objects are kubectl's errors.
    WatchObject {
        objects: Vec<(Resource, String)>,
        namespace: String,
        /// Resolved for the first object's kind.
        columns: Vec<(String, Field)>,
        events: bool,
    },
    /// `get daemonsets,deployments,controllerrevisions,replicasets -n NS -o json` (one or more
    /// of those types): every object of them as one `List`.
    ObjectsJson {
        resources: Vec<Resource>,
        namespace: String,
        /// `--show-managed-fields` (kubectl 1.21+; the fake's objects carry no managedFields).
        managed_fields: bool,
    },
    /// `get --raw /apis/batch/v1/namespaces/NS/jobs`: the namespace's Jobs (the fake has none).
    Jobs {
        namespace: String,
    },
    /// `get --raw /api/v1/pods?limit=N[&continue=T]`: one page of every pod, the API server's
    /// `PodList` as kubectl passes it through (compact JSON, no newline at the end).
    PodsPage {
        limit: usize,
        /// Where the page starts (the fake's continue token is `after<N>`).
        after: usize,
    },
    /// `get --raw /apis/crd.projectcalico.org/v1/PLURAL`: every object of a Calico CRD.
    CalicoList {
        plural: String,
    },
    /// `get configmap/NAME -n NS -o json` (also `configmap NAME`, `cm`), or `raw`: `get --raw
    /// /api/v1/namespaces/NS/configmaps/NAME`.
    GetConfigMap {
        name: String,
        namespace: String,
        raw: bool,
    },
    /// `patch ds/NAME -n NS --type=json -p=PATCH -o name`: the tool's cluster lock, an
    /// annotation of the DaemonSet (only `/metadata/annotations/KEY` paths are simulated).
    PatchLock {
        name: String,
        namespace: String,
        patch: String,
    },
    /// `scale deployment/NAME -n NS --replicas=N [--dry-run=server]`.
    Scale {
        name: String,
        namespace: String,
        replicas: u32,
        dry_run: bool,
    },
}

/// What `calico-downgrade` asks of the kubeconfig: context, cluster, server, user.
pub const CONFIG_VIEW_JSONPATH: &str = "jsonpath={.current-context}{\"\\t\"}{.contexts[0].context.cluster}{\"\\t\"}{.clusters[0].cluster.server}{\"\\t\"}{.contexts[0].context.user}{\"\\n\"}";

/// The simulated kubeconfig's one context, as `kubectl config view --minify` shows it.
pub const CONTEXT: &str = "kubernetes-admin@fake-cluster";

impl Cmd {
    /// The call name faults and `calls.jsonl` use.
    pub fn call(&self) -> &'static str {
        match self {
            Cmd::Version => "kubectl-version",
            Cmd::List { resource, namespace, watch, .. } => match (resource, namespace, watch) {
                (Resource::DaemonSets, _, _) => "kubectl-get-daemonsets",
                (Resource::ControllerRevisions, _, _) => "kubectl-get-controllerrevisions",
                (Resource::Deployments, _, _) => "kubectl-get-deployments",
                (Resource::ReplicaSets, _, _) => "kubectl-get-replicasets",
                (Resource::Pods, _, true) => "kubectl-watch-pods",
                (Resource::Pods, None, false) => "kubectl-get-pods-all",
                (Resource::Pods, Some(_), false) => "kubectl-get-pods",
            },
            Cmd::Env { .. } => "kubectl-get-env",
            Cmd::Undo { kind: Kind::DaemonSet, dry_run: false, .. } => "kubectl-undo-daemonset",
            Cmd::Undo { kind: Kind::Deployment, dry_run: false, .. } => "kubectl-undo-deployment",
            Cmd::Undo { kind: Kind::DaemonSet, dry_run: true, .. } => "kubectl-undo-daemonset-dry-run",
            Cmd::Undo { kind: Kind::Deployment, dry_run: true, .. } => "kubectl-undo-deployment-dry-run",
            Cmd::DeletePod { .. } => "kubectl-delete-pod",
            Cmd::Namespaces => "kubectl-get-namespaces",
            Cmd::CanI { .. } => "kubectl-auth-can-i",
            Cmd::ConfigUser => "kubectl-config-view",
            Cmd::ConfigView { .. } => "kubectl-config-view",
            Cmd::Contexts => "kubectl-config-view",
            Cmd::PodJson { .. } => "kubectl-get-pod",
            Cmd::RevisionObjects { .. } => "kubectl-get-revision-objects",
            Cmd::ObjectsJson { .. } => "kubectl-get-objects",
            Cmd::Jobs { .. } => "kubectl-get-jobs",
            Cmd::PodsPage { .. } => "kubectl-get-pods-all",
            Cmd::CalicoList { .. } => "kubectl-get-calico",
            Cmd::WatchObject { .. } => "kubectl-watch-workload",
            Cmd::Objects { .. } => "kubectl-get-workloads",
            Cmd::GetConfigMap { .. } => "kubectl-get-configmap",
            Cmd::PatchLock { .. } => "kubectl-patch-lock",
            Cmd::Scale { dry_run: false, .. } => "kubectl-scale",
            Cmd::Scale { dry_run: true, .. } => "kubectl-scale-dry-run",
        }
    }
}

/// Flags seen on a kubectl command line.
#[derive(Debug, Default)]
struct Flags {
    positional: Vec<String>,
    namespace: Option<String>,
    all_namespaces: bool,
    output: Option<String>,
    watch: bool,
    /// `--output-watch-events`: print each watch event's type (kubectl 1.16+).
    watch_events: bool,
    client: bool,
    to_revision: Option<String>,
    selector: Option<String>,
    no_wait: bool,
    dry_run: Option<String>,
    context: Option<String>,
    minify: bool,
    /// `--type` of `patch` (only `json` is simulated).
    patch_type: Option<String>,
    /// `-p PATCH` of `patch`.
    patch: Option<String>,
    replicas: Option<String>,
    subresource: Option<String>,
    raw: Option<String>,
    show_managed_fields: bool,
}

fn set(slot: &mut Option<String>, value: String) -> Result<(), String> {
    if slot.is_some() {
        return Err("flag given twice".into());
    }
    *slot = Some(value);
    Ok(())
}

fn flags(args: &[String]) -> Result<Flags, String> {
    let mut f = Flags::default();
    let mut i = 0;
    let next = |i: &mut usize| -> Result<String, String> {
        *i += 1;
        args.get(*i).cloned().ok_or_else(|| format!("{} needs a value", args[*i - 1]))
    };
    while i < args.len() {
        let arg = args[i].as_str();
        match arg {
            "--kubeconfig" | "--request-timeout" => {
                next(&mut i)?;
            }
            "--context" => set(&mut f.context, next(&mut i)?)?,
            _ if arg.starts_with("--context=") => set(&mut f.context, arg["--context=".len()..].into())?,
            _ if ["--kubeconfig=", "--request-timeout="].iter().any(|p| arg.starts_with(p)) => {}
            "-n" | "--namespace" => set(&mut f.namespace, next(&mut i)?)?,
            _ if arg.starts_with("--namespace=") => set(&mut f.namespace, arg["--namespace=".len()..].into())?,
            "-A" | "--all-namespaces" | "--all-namespaces=true" => f.all_namespaces = true,
            "-o" | "--output" => set(&mut f.output, next(&mut i)?)?,
            _ if arg.starts_with("--output=") => set(&mut f.output, arg["--output=".len()..].into())?,
            _ if arg.starts_with("-o=") => set(&mut f.output, arg[3..].into())?,
            _ if arg.starts_with("-o") && arg.len() > 2 && !arg.starts_with("--") => {
                set(&mut f.output, arg[2..].into())?
            }
            "-w" | "--watch" | "--watch=true" => f.watch = true,
            "--output-watch-events" | "--output-watch-events=true" => f.watch_events = true,
            "-l" | "--selector" => set(&mut f.selector, next(&mut i)?)?,
            _ if arg.starts_with("--selector=") => set(&mut f.selector, arg["--selector=".len()..].into())?,
            "--client" | "--client=true" => f.client = true,
            "--wait=false" => f.no_wait = true,
            "--dry-run" => set(&mut f.dry_run, "unset".into())?,
            _ if arg.starts_with("--dry-run=") => set(&mut f.dry_run, arg["--dry-run=".len()..].into())?,
            "--minify" | "--minify=true" => f.minify = true,
            "--type" => set(&mut f.patch_type, next(&mut i)?)?,
            _ if arg.starts_with("--type=") => set(&mut f.patch_type, arg["--type=".len()..].into())?,
            "-p" | "--patch" => set(&mut f.patch, next(&mut i)?)?,
            _ if arg.starts_with("-p=") => set(&mut f.patch, arg["-p=".len()..].into())?,
            _ if arg.starts_with("--patch=") => set(&mut f.patch, arg["--patch=".len()..].into())?,
            "--replicas" => set(&mut f.replicas, next(&mut i)?)?,
            _ if arg.starts_with("--replicas=") => set(&mut f.replicas, arg["--replicas=".len()..].into())?,
            "--raw" => set(&mut f.raw, next(&mut i)?)?,
            "--show-managed-fields" | "--show-managed-fields=true" => f.show_managed_fields = true,
            _ if arg.starts_with("--raw=") => set(&mut f.raw, arg["--raw=".len()..].into())?,
            "--subresource" => set(&mut f.subresource, next(&mut i)?)?,
            _ if arg.starts_with("--subresource=") => set(&mut f.subresource, arg["--subresource=".len()..].into())?,
            "--to-revision" => set(&mut f.to_revision, next(&mut i)?)?,
            _ if arg.starts_with("--to-revision=") => set(&mut f.to_revision, arg["--to-revision=".len()..].into())?,
            _ if arg.starts_with('-') => return Err(format!("unknown flag {arg}")),
            _ => f.positional.push(arg.to_string()),
        }
        i += 1;
    }
    Ok(f)
}

fn resource(word: &str) -> Option<Resource> {
    match word {
        "daemonsets" | "daemonset" | "ds" | "daemonsets.apps" | "daemonsets.extensions" => Some(Resource::DaemonSets),
        "controllerrevisions" | "controllerrevision" | "controllerrevisions.apps" => {
            Some(Resource::ControllerRevisions)
        }
        "deployments" | "deployment" | "deploy" | "deployments.apps" | "deployments.extensions" => {
            Some(Resource::Deployments)
        }
        "replicasets" | "replicaset" | "rs" | "replicasets.apps" | "replicasets.extensions" => {
            Some(Resource::ReplicaSets)
        }
        "pods" | "pod" | "po" => Some(Resource::Pods),
        _ => None,
    }
}

fn field(resource: Resource, path: &str) -> Option<Field> {
    let common = match path {
        ".metadata.name" => Some(Field::Name),
        ".metadata.namespace" => Some(Field::Namespace),
        ".metadata.creationTimestamp" => Some(Field::Created),
        _ => None,
    };
    common.or(match (resource, path) {
        (Resource::DaemonSets, ".status.desiredNumberScheduled") => Some(Field::Desired),
        (Resource::DaemonSets, ".spec.updateStrategy.type") => Some(Field::Strategy),
        (Resource::DaemonSets | Resource::Deployments, ".spec.selector.matchLabels.k8s-app") => Some(Field::App),
        (Resource::Deployments, ".spec.replicas") => Some(Field::Desired),
        (Resource::Deployments, ".spec.strategy.type") => Some(Field::Strategy),
        (
            Resource::DaemonSets | Resource::Deployments | Resource::ReplicaSets,
            ".spec.template.spec.containers[*].image",
        ) => Some(Field::Images),
        (
            Resource::DaemonSets | Resource::Deployments | Resource::ReplicaSets,
            ".spec.template.spec.containers[*].name",
        ) => Some(Field::ContainerNames),
        (Resource::ControllerRevisions, ".revision") => Some(Field::Revision),
        (Resource::ControllerRevisions, ".data.spec.template.spec.containers[*].image") => Some(Field::Images),
        (Resource::ReplicaSets, r".metadata.annotations.deployment\.kubernetes\.io/revision") => Some(Field::Revision),
        (
            Resource::ControllerRevisions | Resource::ReplicaSets | Resource::Pods,
            ".metadata.ownerReferences[0].name",
        ) => Some(Field::Owner),
        (Resource::Pods, ".spec.hostNetwork") => Some(Field::HostNetwork),
        (Resource::Pods, ".spec.nodeName") => Some(Field::Node),
        (Resource::Pods, ".status.phase") => Some(Field::Phase),
        (Resource::Pods, ".status.containerStatuses[*].ready") => Some(Field::Ready),
        (Resource::Pods, r#".status.conditions[?(@.type=="Ready")].status"#) => Some(Field::ReadyCondition),
        (Resource::DaemonSets | Resource::Deployments, ".metadata.generation") => Some(Field::Generation),
        (Resource::DaemonSets | Resource::Deployments, ".status.observedGeneration") => Some(Field::ObservedGeneration),
        (Resource::DaemonSets, ".status.updatedNumberScheduled") => Some(Field::Updated),
        (Resource::DaemonSets, ".status.numberAvailable") => Some(Field::Available),
        (Resource::Deployments, ".status.replicas") => Some(Field::StatusReplicas),
        (Resource::Deployments, ".status.updatedReplicas") => Some(Field::Updated),
        (Resource::Deployments, ".status.availableReplicas") => Some(Field::Available),
        (Resource::Pods, ".spec.containers[*].image") => Some(Field::Images),
        (Resource::Pods, ".spec.containers[*].name") => Some(Field::ContainerNames),
        (Resource::Pods, ".metadata.deletionTimestamp") => Some(Field::Deletion),
        (Resource::Pods, ".status.containerStatuses[*].state.waiting.reason") => Some(Field::Waiting),
        (Resource::Pods, ".status.containerStatuses[*].restartCount") => Some(Field::RestartCounts),
        (Resource::Pods, r#".status.conditions[?(@.type=="PodScheduled")].reason"#) => Some(Field::ScheduledReason),
        (Resource::Pods, r#".status.conditions[?(@.type=="ContainersReady")].status"#) => {
            Some(Field::ContainersReadyCondition)
        }
        _ => None,
    })
}

/// The fields of `-o custom-columns=SPEC`. With `--output-watch-events` the printed object is
/// the event: `.type` is its type, `.object.X` the field `.X` of the object, and a known path
/// not under `.object` finds nothing (`<none>`). `lenient`: an unknown path is `<none>` too (a
/// named workload's columns name fields of both kinds); else the fake refuses it.
fn columns(resource: Resource, spec: &str, events: bool, lenient: bool) -> Result<Vec<(String, Field)>, String> {
    spec.split(',')
        .map(|column| {
            let (header, path) =
                column.split_once(':').ok_or_else(|| format!("column `{column}` is not HEADER:PATH"))?;
            let found = match (events, path) {
                (true, ".type") => Some(Field::EventType),
                (true, _) => match path.strip_prefix(".object") {
                    Some(inner) if inner.starts_with('.') => field(resource, inner),
                    _ => field(resource, path).map(|_| Field::Missing),
                },
                (false, _) => field(resource, path),
            };
            let field = match found {
                Some(f) => f,
                None if lenient => Field::Missing,
                None => return Err(format!("the fake has no field `{path}`")),
            };
            Ok((header.to_string(), field))
        })
        .collect()
}

/// Parse `kubectl ARGS...` (argv without argv[0]).
pub fn parse(args: &[String]) -> Result<Cmd, String> {
    let f = flags(args)?;
    let words: Vec<&str> = f.positional.iter().map(String::as_str).collect();
    let namespace = || f.namespace.clone().unwrap_or_else(|| "default".into());
    let only = |allowed: &[&str]| -> Result<(), String> {
        let used = [
            ("namespace", f.namespace.is_some() || f.all_namespaces),
            ("output", f.output.is_some()),
            ("watch", f.watch),
            ("output-watch-events", f.watch_events),
            ("client", f.client),
            ("to-revision", f.to_revision.is_some()),
            ("selector", f.selector.is_some()),
            ("wait", f.no_wait),
            ("dry-run", f.dry_run.is_some()),
            ("minify", f.minify),
            ("type", f.patch_type.is_some()),
            ("patch", f.patch.is_some()),
            ("replicas", f.replicas.is_some()),
            ("subresource", f.subresource.is_some()),
            ("show-managed-fields", f.show_managed_fields),
        ];
        match used.iter().find(|(name, on)| *on && !allowed.contains(name)) {
            Some((name, _)) => Err(format!("flag {name} not expected here")),
            None => Ok(()),
        }
    };
    match words.as_slice() {
        ["version"] if f.client => {
            only(&["client"])?;
            Ok(Cmd::Version)
        }
        ["get", "namespaces" | "namespace" | "ns"] => {
            only(&["output"])?;
            match f.output.as_deref() {
                Some("custom-columns=NAME:.metadata.name") => Ok(Cmd::Namespaces),
                _ => Err("only -o custom-columns=NAME:.metadata.name is simulated for namespaces".into()),
            }
        }
        ["get"] if f.raw.is_some() => {
            only(&["raw"])?;
            raw_get(f.raw.as_deref().unwrap_or_default())
        }
        ["auth", "can-i", verb, resource] => {
            only(&["namespace", "subresource"])?;
            if f.namespace.is_none() && !f.all_namespaces {
                return Err("the tool always names the namespace (or --all-namespaces)".into());
            }
            if f.namespace.is_some() && f.all_namespaces {
                return Err("-n and --all-namespaces together".into());
            }
            Ok(Cmd::CanI {
                verb: verb.to_string(),
                resource: resource.to_string(),
                namespace: if f.all_namespaces { None } else { f.namespace.clone() },
                subresource: f.subresource.clone(),
            })
        }
        ["get", target] if configmap_name(target).is_some() => {
            only(&["namespace", "output"])?;
            get_configmap(configmap_name(target).unwrap_or_default(), &f, namespace())
        }
        ["get", "configmap" | "configmaps" | "cm", name] => {
            only(&["namespace", "output"])?;
            get_configmap(name, &f, namespace())
        }
        ["patch", target] => {
            only(&["namespace", "output", "type", "patch"])?;
            let name = match target.split_once('/') {
                Some(("ds" | "daemonset" | "daemonsets" | "daemonset.apps", name)) if !name.is_empty() => name,
                _ => return Err("only `patch ds/NAME` (the cluster lock) is simulated".into()),
            };
            if f.patch_type.as_deref() != Some("json") || f.output.as_deref() != Some("name") {
                return Err("only `patch --type=json -o name` is simulated".into());
            }
            let patch = f.patch.clone().ok_or("patch without -p")?;
            Ok(Cmd::PatchLock { name: name.to_string(), namespace: namespace(), patch })
        }
        ["scale", target] => {
            only(&["namespace", "replicas", "dry-run"])?;
            let (kind, name) = target.split_once('/').ok_or("expected deployment/NAME")?;
            scale_cmd(kind, name, &f, namespace())
        }
        ["scale", kind, name] => {
            only(&["namespace", "replicas", "dry-run"])?;
            scale_cmd(kind, name, &f, namespace())
        }
        ["config", "view"] => {
            only(&["output", "minify"])?;
            match (f.minify, f.output.as_deref()) {
                (true, Some("jsonpath={.contexts[0].context.user}")) => Ok(Cmd::ConfigUser),
                (true, Some(CONFIG_VIEW_JSONPATH)) => Ok(Cmd::ConfigView { context: f.context.clone() }),
                _ => Err("only `config view --minify` with the user's or the tool's jsonpath is simulated".into()),
            }
        }
        ["config", "get-contexts"] => {
            only(&["output"])?;
            match f.output.as_deref() {
                Some("name") => Ok(Cmd::Contexts),
                _ => Err("only `config get-contexts -o name` is simulated".into()),
            }
        }
        ["get", objects @ ..] if !objects.is_empty() && objects.iter().all(|o| o.contains('/')) => {
            only(&["namespace", "output", "watch", "output-watch-events"])?;
            if f.watch_events && !f.watch {
                return Err("--output-watch-events only with --watch".into());
            }
            let objects = objects
                .iter()
                .map(|o| {
                    let (kind, name) = o.split_once('/').unwrap_or_default();
                    match resource(kind) {
                        Some(r @ (Resource::DaemonSets | Resource::Deployments)) if !name.is_empty() => {
                            Ok((r, name.to_string()))
                        }
                        _ => Err(format!("only daemonset/NAME and deployment/NAME are simulated, not {o}")),
                    }
                })
                .collect::<Result<Vec<_>, _>>()?;
            let spec = f
                .output
                .as_deref()
                .and_then(|o| o.strip_prefix("custom-columns="))
                .ok_or("only -o custom-columns=... is simulated for named objects")?;
            if f.watch {
                let columns = columns(objects[0].0, spec, f.watch_events, true)?;
                return Ok(Cmd::WatchObject { objects, namespace: namespace(), columns, events: f.watch_events });
            }
            Ok(Cmd::Objects { objects, namespace: namespace(), columns: spec.split(',').map(str::to_string).collect() })
        }
        ["get", what] if f.output.as_deref() == Some("json") => {
            only(&["namespace", "output", "show-managed-fields"])?;
            let mut resources = Vec::new();
            for word in what.split(',') {
                match resource(word) {
                    Some(Resource::Pods) | None => {
                        return Err(format!("only daemonsets, deployments, controllerrevisions and replicasets are simulated as JSON lists, not {word}"))
                    }
                    // kubectl drops a type named twice (also by a synonym).
                    Some(r) if resources.contains(&r) => {}
                    Some(r) => resources.push(r),
                }
            }
            Ok(Cmd::ObjectsJson { resources, namespace: namespace(), managed_fields: f.show_managed_fields })
        }
        ["get", what] => {
            let resource = resource(what).ok_or_else(|| format!("unknown resource {what}"))?;
            only(&["namespace", "output", "watch", "selector", "output-watch-events"])?;
            if f.watch_events && !f.watch {
                return Err("--output-watch-events only with --watch".into());
            }
            let selector = f.selector.as_deref().map(Selector::parse).transpose()?;
            if selector.is_some() && resource != Resource::Pods {
                return Err("-l only for pods".into());
            }
            if f.output.is_none() && resource == Resource::Pods && !f.all_namespaces && !f.watch {
                let columns = DEFAULT_POD_COLUMNS.iter().map(|(h, f)| (h.to_string(), *f)).collect();
                return Ok(Cmd::List {
                    resource,
                    namespace: Some(namespace()),
                    columns,
                    watch: false,
                    events: false,
                    selector,
                });
            }
            let spec = f
                .output
                .as_deref()
                .and_then(|o| o.strip_prefix("custom-columns="))
                .ok_or("only -o custom-columns=... (or the default pods table) is simulated for lists")?;
            if f.watch && (resource != Resource::Pods || f.all_namespaces) {
                return Err("--watch only for the pods of one namespace".into());
            }
            if f.all_namespaces && (resource != Resource::Pods || f.namespace.is_some()) {
                return Err("--all-namespaces only for pods".into());
            }
            let namespace = if f.all_namespaces { None } else { Some(namespace()) };
            let columns = columns(resource, spec, f.watch_events, false)?;
            Ok(Cmd::List { resource, namespace, columns, watch: f.watch, events: f.watch_events, selector })
        }
        ["get", what, names @ ..]
            if matches!(resource(what), Some(Resource::ControllerRevisions | Resource::ReplicaSets))
                && !names.is_empty() =>
        {
            only(&["namespace", "output"])?;
            if f.output.as_deref() != Some("json") {
                return Err("only -o json is simulated for revision objects by name".into());
            }
            let kind =
                if resource(what) == Some(Resource::ControllerRevisions) { Kind::DaemonSet } else { Kind::Deployment };
            Ok(Cmd::RevisionObjects {
                kind,
                names: names.iter().map(|n| n.to_string()).collect(),
                namespace: namespace(),
            })
        }
        ["get", what, name] if resource(what) == Some(Resource::Pods) => {
            only(&["namespace", "output"])?;
            if f.output.as_deref() != Some("json") {
                return Err("only -o json is simulated for a pod by name".into());
            }
            Ok(Cmd::PodJson { name: name.to_string(), namespace: namespace() })
        }
        ["get", what, name] if resource(what) == Some(Resource::DaemonSets) => {
            only(&["namespace", "output"])?;
            let containers = match f.output.as_deref() {
                Some("jsonpath={.spec.template.spec.containers[*].env}") => Containers::All,
                Some(ENV_LINES_JSONPATH) => Containers::Lines,
                Some(o) => {
                    let index = o
                        .strip_prefix("jsonpath={.spec.template.spec.containers[")
                        .and_then(|r| r.strip_suffix("].env}"))
                        .and_then(|n| n.parse().ok())
                        .ok_or("only the containers' env jsonpath is simulated")?;
                    Containers::Index(index)
                }
                None => return Err("only the containers' env jsonpath is simulated".into()),
            };
            Ok(Cmd::Env { name: name.to_string(), namespace: namespace(), containers })
        }
        ["rollout", "undo", target] => {
            only(&["namespace", "to-revision", "dry-run"])?;
            let (kind, name) = target.split_once('/').ok_or("expected KIND/NAME")?;
            undo_cmd(kind, name, &f, namespace())
        }
        ["rollout", "undo", kind, name] => {
            only(&["namespace", "to-revision", "dry-run"])?;
            undo_cmd(kind, name, &f, namespace())
        }
        ["delete", "pod" | "pods" | "po", name] => {
            only(&["namespace", "wait"])?;
            Ok(Cmd::DeletePod { name: name.to_string(), namespace: namespace(), wait: !f.no_wait })
        }
        ["delete", target] if target.starts_with("pod/") || target.starts_with("pods/") => {
            only(&["namespace", "wait"])?;
            let name = target.split_once('/').map(|(_, n)| n).unwrap_or_default();
            Ok(Cmd::DeletePod { name: name.to_string(), namespace: namespace(), wait: !f.no_wait })
        }
        _ => Err("not a command the fake simulates".into()),
    }
}

/// `configmap/NAME` (also `configmaps/`, `cm/`): the name.
fn configmap_name(target: &str) -> Option<&str> {
    let (kind, name) = target.split_once('/')?;
    (matches!(kind, "configmap" | "configmaps" | "cm") && !name.is_empty()).then_some(name)
}

fn get_configmap(name: &str, f: &Flags, namespace: String) -> Result<Cmd, String> {
    if f.output.as_deref() != Some("json") {
        return Err("only -o json is simulated for a ConfigMap".into());
    }
    Ok(Cmd::GetConfigMap { name: name.to_string(), namespace, raw: false })
}

fn scale_cmd(kind: &str, name: &str, f: &Flags, namespace: String) -> Result<Cmd, String> {
    if resource(kind) != Some(Resource::Deployments) || name.is_empty() {
        return Err(format!("only deployment/NAME is simulated for scale, not {kind}/{name}"));
    }
    let replicas = f.replicas.as_deref().ok_or("scale without --replicas")?;
    let replicas = replicas.parse::<u32>().map_err(|_| format!("--replicas `{replicas}` is not a count"))?;
    let dry_run = match f.dry_run.as_deref() {
        None => false,
        Some("server") => true,
        Some(other) => return Err(format!("only --dry-run=server is simulated, not {other}")),
    };
    Ok(Cmd::Scale { name: name.to_string(), namespace, replicas, dry_run })
}

fn undo_cmd(kind: &str, name: &str, f: &Flags, namespace: String) -> Result<Cmd, String> {
    let kind = match resource(kind) {
        Some(Resource::DaemonSets) => Kind::DaemonSet,
        Some(Resource::Deployments) => Kind::Deployment,
        _ => return Err(format!("cannot roll back {kind}")),
    };
    let to_revision = match &f.to_revision {
        None => None,
        Some(n) => Some(n.parse::<u64>().map_err(|_| format!("--to-revision `{n}` is not a number"))?),
    };
    if name.is_empty() {
        return Err("empty name".into());
    }
    let dry_run = match f.dry_run.as_deref() {
        None => false,
        Some("server") => true,
        Some(other) => return Err(format!("only --dry-run=server is simulated, not {other}")),
    };
    Ok(Cmd::Undo { kind, name: name.to_string(), namespace, to_revision, dry_run })
}

// ---------------------------------------------------------------------------------------------
// Answers
// ---------------------------------------------------------------------------------------------

fn out(stdout: impl Into<String>) -> Output {
    Output { stdout: stdout.into(), stderr: String::new(), code: 0, then: Then::Exit }
}

fn err(stderr: impl Into<String>, code: i32) -> Output {
    Output { stdout: String::new(), stderr: stderr.into(), code, then: Then::Exit }
}

pub(crate) fn minwidth(style: Style) -> usize {
    if style.is_old() {
        MINWIDTH_OLD
    } else {
        MINWIDTH_NEW
    }
}

/// The raw paths the tool reads: `/api/v1/pods?limit=N[&continue=afterM]`,
/// `/api/v1/namespaces/NS/configmaps/NAME` and `/apis/crd.projectcalico.org/v1/PLURAL`.
fn raw_get(path: &str) -> Result<Cmd, String> {
    if let Some(plural) = path.strip_prefix("/apis/crd.projectcalico.org/v1/") {
        if plural.is_empty() || !plural.bytes().all(|b| b.is_ascii_lowercase()) {
            return Err(format!("raw path {path} is not simulated"));
        }
        return Ok(Cmd::CalicoList { plural: plural.to_string() });
    }
    if let Some(rest) = path.strip_prefix("/apis/batch/v1/namespaces/") {
        return match rest.split('/').collect::<Vec<_>>().as_slice() {
            [namespace, "jobs"] => Ok(Cmd::Jobs { namespace: namespace.to_string() }),
            _ => Err(format!("raw path {path} is not simulated")),
        };
    }
    if let Some(rest) = path.strip_prefix("/api/v1/namespaces/") {
        return match rest.split('/').collect::<Vec<_>>().as_slice() {
            [namespace, "configmaps", name] => {
                Ok(Cmd::GetConfigMap { name: name.to_string(), namespace: namespace.to_string(), raw: true })
            }
            _ => Err(format!("raw path {path} is not simulated")),
        };
    }
    let query = path.strip_prefix("/api/v1/pods?").ok_or_else(|| format!("raw path {path} is not simulated"))?;
    let (mut limit, mut after) = (None, 0);
    for pair in query.split('&') {
        match pair.split_once('=') {
            Some(("limit", n)) => limit = Some(n.parse::<usize>().map_err(|_| format!("limit {n}"))?),
            Some(("continue", token)) => {
                after = token
                    .strip_prefix("after")
                    .and_then(|n| n.parse().ok())
                    .ok_or_else(|| format!("continue token {token} is not one the fake gave"))?
            }
            _ => return Err(format!("query {pair} is not simulated")),
        }
    }
    Ok(Cmd::PodsPage { limit: limit.ok_or("the tool always pages (limit=)")?, after })
}

/// Answer one command at time `now` (the state has been advanced to `now`).
pub fn execute(state: &mut State, cmd: Cmd, now: u64, stuck: bool) -> Output {
    let style = state.config.kubectl_style;
    if let Some(refusal) = refused(state, &cmd) {
        return refusal;
    }
    match cmd {
        Cmd::Version => out(version(style)),
        Cmd::List { resource, namespace, columns, watch, events, selector } => {
            list(state, resource, namespace, columns, (watch, events), selector, now)
        }
        Cmd::WatchObject { objects, namespace, columns, events } => {
            watch_object(state, &objects, namespace, columns, events, now)
        }
        Cmd::Env { name, namespace, containers } => env(state, &name, &namespace, &containers),
        Cmd::Undo { kind, name, namespace, to_revision, dry_run: false } => {
            match forbidden_undo(state, kind, &name, &namespace, to_revision) {
                Some(refusal) => refusal,
                None => undo(state, kind, &name, &namespace, to_revision, now, stuck),
            }
        }
        Cmd::Undo { kind, name, namespace, to_revision, dry_run: true } => {
            server_dry_run(state, kind, &name, &namespace, to_revision, now)
        }
        Cmd::DeletePod { name, namespace, wait } => match forbidden(state, "delete", ("pods", ""), &name, &namespace) {
            Some(refusal) => refusal,
            None => delete(state, &name, &namespace, now, wait),
        },
        Cmd::Namespaces => namespaces(state),
        Cmd::CanI { verb, resource, namespace, subresource } => {
            if can_i(state, &verb, &resource, namespace.as_deref(), subresource.as_deref()) {
                out("yes\n")
            } else {
                Output { stdout: "no\n".into(), stderr: String::new(), code: 1, then: Then::Exit }
            }
        }
        Cmd::ConfigUser => out(state.config.user.clone()),
        Cmd::ConfigView { context } => match context.or_else(|| state.config.current_context.clone()) {
            // kubectl 1.20 and 1.33 against a kubeconfig without, or with an unknown, context.
            None => err("error: current-context must exist in order to minify\n", 1),
            Some(name) if !state.config.contexts.contains(&name) => {
                err(format!("error: cannot locate context {name}\n"), 1)
            }
            Some(name) => out(format!("{name}\tfake-cluster\thttps://127.0.0.1:6443\t{}\n", state.config.user)),
        },
        Cmd::Contexts => out(state.config.contexts.iter().map(|c| format!("{c}\n")).collect::<String>()),
        Cmd::RevisionObjects { kind, names, namespace } => revision_objects(state, kind, &names, &namespace, now),
        Cmd::PodJson { name, namespace } => {
            match state.pods.iter().find(|p| p.name == name && p.namespace == namespace) {
                Some(pod) => out(objects::pretty(&objects::pod_json(state, pod, now))),
                None => err(format!("Error from server (NotFound): pods \"{name}\" not found\n"), 1),
            }
        }
        Cmd::ObjectsJson { resources, namespace, .. } => objects_json(state, &resources, &namespace, now),
        // The API server's compact `JobList` as `get --raw` passes it through (real v1.20.2,
        // `fixtures/kubectl/get-jobs/`).
        Cmd::Jobs { .. } => {
            out(r#"{"kind":"JobList","apiVersion":"batch/v1","metadata":{"resourceVersion":"4242"},"items":[]}"#)
        }
        Cmd::PodsPage { limit, after } => {
            let pods: Vec<&crate::state::Pod> = items(state, Resource::Pods, None)
                .into_iter()
                .filter_map(|item| if let Item::Pod(p) = item { Some(p) } else { None })
                .collect();
            out(crate::objects::pods_page(&pods, limit, after, now))
        }
        Cmd::CalicoList { plural } => calico_list(state, &plural),
        Cmd::Objects { objects, namespace, columns } => named(state, &objects, &namespace, &columns, now),
        Cmd::GetConfigMap { name, namespace, raw } => get_configmap_json(state, &name, &namespace, raw),
        Cmd::PatchLock { name, namespace, patch } => patch_lock(state, &name, &namespace, &patch),
        Cmd::Scale { name, namespace, replicas, dry_run } => scale(state, &name, &namespace, replicas, dry_run, now),
    }
}

/// The resource and API group RBAC names for a resource of the fake.
fn rbac(resource: Resource) -> (&'static str, &'static str) {
    match resource {
        Resource::DaemonSets => ("daemonsets", "apps"),
        Resource::ControllerRevisions => ("controllerrevisions", "apps"),
        Resource::Deployments => ("deployments", "apps"),
        Resource::ReplicaSets => ("replicasets", "apps"),
        Resource::Pods => ("pods", ""),
    }
}

/// The API server's refusal of a read the user's role does not grant, checked before the
/// command runs (writes are checked where they happen, after the reads they start with).
fn refused(state: &State, cmd: &Cmd) -> Option<Output> {
    let denied = |verb: &str, what: (&str, &str), name: Option<&str>, namespace: Option<&str>| {
        refusal(state, verb, what, name, namespace)
            .map(|message| err(format!("Error from server (Forbidden): {message}\n"), 1))
    };
    match cmd {
        Cmd::List { resource, namespace, watch, .. } => {
            let what = rbac(*resource);
            denied("list", what, None, namespace.as_deref()).or_else(|| {
                if *watch {
                    denied("watch", what, None, namespace.as_deref())
                } else {
                    None
                }
            })
        }
        Cmd::Env { name, namespace, .. } => denied("get", rbac(Resource::DaemonSets), Some(name), Some(namespace)),
        Cmd::WatchObject { objects, namespace, .. } => objects.iter().find_map(|(resource, name)| {
            denied("get", rbac(*resource), Some(name), Some(namespace))
                .or_else(|| denied("watch", rbac(*resource), Some(name), Some(namespace)))
        }),
        Cmd::RevisionObjects { kind, names, namespace } => {
            let resource = if *kind == Kind::DaemonSet { Resource::ControllerRevisions } else { Resource::ReplicaSets };
            names.iter().find_map(|name| denied("get", rbac(resource), Some(name), Some(namespace)))
        }
        Cmd::Namespaces => denied("list", ("namespaces", ""), None, None),
        Cmd::PodJson { name, namespace } => denied("get", rbac(Resource::Pods), Some(name), Some(namespace)),
        Cmd::PodsPage { .. } => denied("list", rbac(Resource::Pods), None, None),
        Cmd::CalicoList { plural } => denied("list", (plural.as_str(), "crd.projectcalico.org"), None, None),
        Cmd::Jobs { namespace } => denied("list", ("jobs", "batch"), None, Some(namespace)),
        // kubectl reads the workload before it patches it.
        Cmd::Undo { kind, name, namespace, .. } => denied("get", kind_resource(*kind), Some(name), Some(namespace)),
        _ => None,
    }
}

/// `auth can-i VERB RESOURCE[/NAME]`: the role's answer. `admin` and `view` answer by the verb
/// for any resource, as before; the namespace roles by their rules, so a resource the fake does
/// not know (which they never grant) is `no`.
fn can_i(state: &State, verb: &str, target: &str, namespace: Option<&str>, subresource: Option<&str>) -> bool {
    let word = target.split_once('/').map_or(target, |(r, _)| r);
    let (base, group) = match word.split_once('.') {
        Some((base, group)) => (base, Some(group)),
        None => (word, None),
    };
    let known = match base {
        "configmaps" | "configmap" | "cm" => Some(("configmaps", "")),
        "namespaces" | "namespace" | "ns" => Some(("namespaces", "")),
        _ => resource(base).map(rbac),
    };
    let Some((name, core_group)) = known.filter(|(_, g)| group.is_none_or(|asked| asked == *g)) else {
        return match state.config.role {
            Role::Admin | Role::View => {
                state.config.role.allows(Access { verb, resource: target, group: "", namespace })
            }
            Role::Namespace | Role::NamespaceNoConfigmaps => false,
        };
    };
    let full = match subresource {
        Some(sub) => format!("{name}/{sub}"),
        None => name.to_string(),
    };
    state.config.role.allows(Access { verb, resource: &full, group: core_group, namespace })
}

/// `kubectl get ds/A deployment/B -o custom-columns=…`: a field the object's kind has not is
/// `<none>` (as jsonpath finds nothing); a missing object is NotFound on stderr, exit 1, after
/// the rows of the others.
fn named(state: &State, objects: &[(Resource, String)], namespace: &str, columns: &[String], t: u64) -> Output {
    let style = state.config.kubectl_style;
    let mut specs = Vec::new();
    for column in columns {
        let Some((header, path)) = column.split_once(':') else {
            return err(
                format!("error: unexpected custom-columns spec: {column}, expected <header>:<json-path-expr>\n"),
                1,
            );
        };
        specs.push((header.to_string(), path.to_string()));
    }
    let mut table = vec![specs.iter().map(|(h, _)| h.clone()).collect::<Vec<_>>()];
    let mut stderr = String::new();
    for (resource, name) in objects {
        let kind = if *resource == Resource::DaemonSets { Kind::DaemonSet } else { Kind::Deployment };
        if let Some(message) = refusal(state, "get", rbac(*resource), Some(name), Some(namespace)) {
            stderr.push_str(&format!("Error from server (Forbidden): {message}\n"));
            continue;
        }
        let Some(w) = state.find(kind, name, namespace) else {
            stderr.push_str(&not_found(style, kind, name));
            continue;
        };
        let item = Item::Workload(w);
        table.push(
            specs
                .iter()
                .map(|(_, path)| match field(*resource, path) {
                    Some(f) => cell(state, &item, f, t),
                    None => "<none>".to_string(),
                })
                .collect(),
        );
    }
    let stdout = if table.len() > 1 { TabWriter::new(minwidth(style), false).format(&table) } else { String::new() };
    Output { stdout, code: if stderr.is_empty() { 0 } else { 1 }, stderr, then: Then::Exit }
}

/// `kubectl get daemonset/NAME -n NS -o custom-columns=... --watch [--output-watch-events]`:
/// the object's row, then one per change (`watch.rs`). Two kinds: kubectl's builder refuses
/// them (`SingleResourceType`); a missing object: NotFound; two objects of one kind: kubectl
/// 1.12+ prints both rows and then cannot watch two sources, 1.9 refuses at once.
fn watch_object(
    state: &State,
    objects: &[(Resource, String)],
    namespace: String,
    columns: Vec<(String, Field)>,
    events: bool,
    t: u64,
) -> Output {
    let style = state.config.kubectl_style;
    if objects.iter().any(|(r, _)| *r != objects[0].0) {
        return err("error: you may only specify a single resource type\n", 1);
    }
    let kind = if objects[0].0 == Resource::DaemonSets { Kind::DaemonSet } else { Kind::Deployment };
    let mut found = Vec::new();
    for (_, name) in objects {
        match state.find(kind, name, &namespace) {
            Some(w) => found.push(w),
            None => return err(not_found(style, kind, name), 1),
        }
    }
    if found.len() > 1 && style.is_old() {
        return err(
            format!(
                "error: watch is only supported on individual resources and resource collections - {} resources were found\n",
                found.len()
            ),
            1,
        );
    }
    if found.len() > 1 {
        let mut table = vec![header(&columns)];
        for w in found {
            let item = Item::Workload(w);
            let event =
                |f: &Field| if *f == Field::EventType { "ADDED".to_string() } else { cell(state, &item, *f, t) };
            table.push(columns.iter().map(|(_, f)| event(f)).collect());
        }
        return Output {
            stdout: TabWriter::new(minwidth(style), true).format(&table),
            stderr: "error: you may only watch a single resource or type of resource at a time\n".into(),
            code: 1,
            then: Then::Exit,
        };
    }
    let target = Target::Object { kind, name: objects[0].1.clone(), namespace };
    let mut watch = Watch::new(style, target, columns, events);
    let stdout = watch.start(state);
    Output { stdout, stderr: String::new(), code: 0, then: Then::Watch(Box::new(watch)) }
}

/// A flag the configured kubectl does not have: cobra refuses it before any request.
/// `--output-watch-events` came with kubectl 1.16, `scale --dry-run` with 1.18.
pub fn flag_error(cmd: &Cmd, style: Style) -> Option<Output> {
    // `--show-managed-fields` came with kubectl 1.21.
    if style != Style::V1_33 && matches!(cmd, Cmd::ObjectsJson { managed_fields: true, .. }) {
        return Some(err("Error: unknown flag: --show-managed-fields\nSee 'kubectl get --help' for usage.\n", 1));
    }
    if !style.is_old() {
        return None;
    }
    match cmd {
        Cmd::List { events: true, .. } | Cmd::WatchObject { events: true, .. } => {
            Some(err("Error: unknown flag: --output-watch-events\nSee 'kubectl get --help' for usage.\n", 1))
        }
        // `kubectl scale` had no `--dry-run` before 1.18.
        Cmd::Scale { dry_run: true, .. } => {
            Some(err("Error: unknown flag: --dry-run\nSee 'kubectl scale --help' for usage.\n", 1))
        }
        _ => None,
    }
}

fn version(style: Style) -> &'static str {
    match style {
        Style::V1_9 => {
            "Client Version: version.Info{Major:\"1\", Minor:\"9\", GitVersion:\"v1.9.11\", \
GitCommit:\"1bfeeb6f212135a22dc787b73e1980e5bccef13d\", GitTreeState:\"clean\", \
BuildDate:\"2018-09-28T21:35:22Z\", GoVersion:\"go1.9.3\", Compiler:\"gc\", Platform:\"linux/amd64\"}\n"
        }
        Style::V1_20 => {
            "Client Version: version.Info{Major:\"1\", Minor:\"20\", GitVersion:\"v1.20.2\", \
GitCommit:\"faecb196815e248d3ecfb03c680a4507229c2a56\", GitTreeState:\"archive\", \
BuildDate:\"2025-06-08T22:40:27Z\", GoVersion:\"go1.19.8\", Compiler:\"gc\", Platform:\"linux/amd64\"}\n"
        }
        Style::V1_33 => "Client Version: v1.33.1\nKustomize Version: v5.6.0\n",
    }
}

fn nothing_found(style: Style, namespace: Option<&str>) -> String {
    match (style.is_old(), namespace) {
        (true, _) => "No resources found.\n".into(),
        (false, Some(ns)) => format!("No resources found in {ns} namespace.\n"),
        (false, None) => "No resources found\n".into(),
    }
}

/// One object a table row is made from.
pub(crate) enum Item<'a> {
    Workload(&'a Workload),
    Revision(&'a Workload, &'a Revision),
    Pod(&'a Pod),
}

fn none_if_empty(text: String) -> String {
    if text.is_empty() {
        "<none>".into()
    } else {
        text
    }
}

pub(crate) fn cell(state: &State, item: &Item, field: Field, t: u64) -> String {
    let text = match (item, field) {
        (Item::Workload(w), Field::Name) => w.name.clone(),
        (Item::Workload(w), Field::Namespace) => w.namespace.clone(),
        (Item::Workload(w), Field::Created) => rfc3339(w.created_at_ms),
        (Item::Workload(w), Field::Desired) => objects::desired(state, w).to_string(),
        (Item::Workload(w), Field::Generation | Field::ObservedGeneration) => objects::generation(w).to_string(),
        (Item::Workload(w), Field::Updated | Field::Available | Field::StatusReplicas) => {
            let counts = objects::counts(state, w, t);
            let count = match field {
                Field::Updated => counts.updated,
                Field::Available => counts.available,
                _ => counts.live,
            };
            // The API omits a zero counter (`omitempty`): custom-columns prints `<none>`.
            if count == 0 {
                String::new()
            } else {
                count.to_string()
            }
        }
        (Item::Workload(w), Field::Strategy) => w.strategy.clone(),
        (Item::Workload(w), Field::App) => w.name.clone(),
        (Item::Workload(w), Field::Images) => w.template.images().join(","),
        (Item::Workload(w), Field::ContainerNames) => names(&w.template.containers),
        (Item::Revision(_, r), Field::Name) => r.name.clone(),
        (Item::Revision(w, _), Field::Namespace) => w.namespace.clone(),
        (Item::Revision(_, r), Field::Created) => rfc3339(r.created_at_ms),
        (Item::Revision(_, r), Field::Revision) => r.number.to_string(),
        (Item::Revision(w, _), Field::Owner) => w.name.clone(),
        (Item::Revision(_, r), Field::Images) => r.template.images().join(","),
        (Item::Revision(_, r), Field::ContainerNames) => names(&r.template.containers),
        (Item::Pod(p), Field::Name) => p.name.clone(),
        (Item::Pod(p), Field::Namespace) => p.namespace.clone(),
        (Item::Pod(p), Field::Created) => rfc3339(p.created_at_ms),
        (Item::Pod(p), Field::HostNetwork) => {
            if p.host_network {
                "true".into()
            } else {
                String::new()
            }
        }
        (Item::Pod(p), Field::Node) => p.node.clone().unwrap_or_default(),
        (Item::Pod(p), Field::Phase) => view(p, t).phase.to_string(),
        (Item::Pod(p), Field::Ready) => {
            view(p, t).ready.map(|r| r.iter().map(|x| x.to_string()).collect::<Vec<_>>().join(",")).unwrap_or_default()
        }
        (Item::Pod(p), Field::ReadyCondition) => {
            if sim::ready_condition(state, p, t) { "True" } else { "False" }.to_string()
        }
        (Item::Pod(p), Field::Images) => p.images.join(","),
        (Item::Pod(p), Field::ContainerNames) => {
            (0..p.images.len()).map(|i| format!("container-{i}")).collect::<Vec<_>>().join(",")
        }
        (Item::Pod(p), Field::Owner) => p.owner.clone().unwrap_or_default(),
        (Item::Pod(p), Field::Deletion) => p.gone_at_ms.map(rfc3339).unwrap_or_default(),
        (Item::Pod(p), Field::ReadyCount) => {
            let ready = view(p, t).ready.map_or(0, |r| r.iter().filter(|x| **x).count());
            format!("{ready}/{}", p.images.len())
        }
        (Item::Pod(p), Field::Status) => view(p, t).status.to_string(),
        (Item::Pod(_), Field::Restarts) => "0".into(),
        (Item::Pod(p), Field::Waiting) => {
            sim::waiting(state, p, t).into_iter().filter(|w| !w.is_empty()).collect::<Vec<_>>().join(",")
        }
        (Item::Pod(p), Field::RestartCounts) => match view(p, t).ready {
            // No container statuses before the kubelet reported any.
            None => String::new(),
            Some(_) => sim::restarts(state, p, t).iter().map(u64::to_string).collect::<Vec<_>>().join(","),
        },
        (Item::Pod(_), Field::ScheduledReason) => String::new(),
        (Item::Pod(p), Field::ContainersReadyCondition) => match view(p, t).ready {
            None => String::new(),
            Some(_) if view(p, t).all_ready() => "True".into(),
            Some(_) => "False".into(),
        },
        (Item::Pod(p), Field::Age) => format!("{}s", t.saturating_sub(p.created_at_ms) / 1000),
        _ => String::new(),
    };
    none_if_empty(text)
}

fn names(containers: &[crate::state::Container]) -> String {
    containers.iter().map(|c| c.name.clone()).collect::<Vec<_>>().join(",")
}

/// A label selector as the tool writes it: `KEY in (A,B)` or `KEY=A`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selector {
    key: String,
    values: Vec<String>,
}

impl Selector {
    fn parse(text: &str) -> Result<Selector, String> {
        let refuse = || format!("the fake understands only `KEY in (A,B)` and `KEY=A` selectors, not `{text}`");
        if let Some((key, rest)) = text.split_once(" in (") {
            let values = rest.strip_suffix(')').ok_or_else(refuse)?;
            let values: Vec<String> = values.split(',').map(|v| v.trim().to_string()).collect();
            return Ok(Selector { key: key.trim().to_string(), values });
        }
        let (key, value) = text.split_once('=').ok_or_else(refuse)?;
        Ok(Selector { key: key.to_string(), values: vec![value.to_string()] })
    }
}

/// The `k8s-app` label of a pod: the name of the DaemonSet or Deployment that made it (as in
/// Calico's manifests); other pods carry `app` labels only.
fn k8s_app(state: &State, pod: &Pod) -> Option<String> {
    state.owner_of(pod).map(|w| w.name.clone())
}

pub(crate) fn selected<'a>(state: &State, items: Vec<Item<'a>>, selector: Option<&Selector>) -> Vec<Item<'a>> {
    let Some(selector) = selector else { return items };
    items
        .into_iter()
        .filter(|item| match item {
            Item::Pod(p) => {
                selector.key == "k8s-app" && k8s_app(state, p).is_some_and(|app| selector.values.contains(&app))
            }
            _ => true,
        })
        .collect()
}

pub(crate) fn items<'a>(state: &'a State, resource: Resource, namespace: Option<&str>) -> Vec<Item<'a>> {
    let in_ns = |ns: &str| namespace.is_none_or_eq(ns);
    let mut items: Vec<(String, String, Item)> = Vec::new();
    match resource {
        Resource::DaemonSets | Resource::Deployments => {
            let kind = if resource == Resource::DaemonSets { Kind::DaemonSet } else { Kind::Deployment };
            for w in state.workloads().filter(|w| w.kind == kind && in_ns(&w.namespace)) {
                items.push((w.namespace.clone(), w.name.clone(), Item::Workload(w)));
            }
        }
        Resource::ControllerRevisions | Resource::ReplicaSets => {
            let kind = if resource == Resource::ControllerRevisions { Kind::DaemonSet } else { Kind::Deployment };
            for w in state.workloads().filter(|w| w.kind == kind && in_ns(&w.namespace)) {
                for r in &w.revisions {
                    items.push((w.namespace.clone(), r.name.clone(), Item::Revision(w, r)));
                }
            }
        }
        Resource::Pods => {
            for p in state.pods.iter().filter(|p| in_ns(&p.namespace)) {
                items.push((p.namespace.clone(), p.name.clone(), Item::Pod(p)));
            }
        }
    }
    // The API server lists by key: namespace, then name.
    items.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    items.into_iter().map(|(_, _, item)| item).collect()
}

/// `Option<&str>` as a namespace filter: `None` matches every namespace.
trait NamespaceFilter {
    fn is_none_or_eq(&self, ns: &str) -> bool;
}

impl NamespaceFilter for Option<&str> {
    fn is_none_or_eq(&self, ns: &str) -> bool {
        match self {
            None => true,
            Some(want) => *want == ns,
        }
    }
}

pub(crate) fn header(columns: &[(String, Field)]) -> Vec<String> {
    columns.iter().map(|(h, _)| h.clone()).collect()
}

fn rows(
    state: &State,
    resource: Resource,
    namespace: Option<&str>,
    columns: &[(String, Field)],
    selector: Option<&Selector>,
    t: u64,
) -> Vec<Vec<String>> {
    selected(state, items(state, resource, namespace), selector)
        .iter()
        .map(|item| columns.iter().map(|(_, f)| cell(state, item, *f, t)).collect())
        .collect()
}

fn list(
    state: &State,
    resource: Resource,
    namespace: Option<String>,
    columns: Vec<(String, Field)>,
    (watch, events): (bool, bool),
    selector: Option<Selector>,
    t: u64,
) -> Output {
    let style = state.config.kubectl_style;
    if watch {
        let target = Target::Pods { namespace: namespace.unwrap_or_default(), selector };
        let mut watch = Watch::new(style, target, columns, events);
        let stdout = watch.start(state);
        return Output { stdout, stderr: String::new(), code: 0, then: Then::Watch(Box::new(watch)) };
    }
    let body = rows(state, resource, namespace.as_deref(), &columns, selector.as_ref(), t);
    if body.is_empty() {
        return err(nothing_found(style, namespace.as_deref()), 0);
    }
    let mut table = vec![header(&columns)];
    table.extend(body);
    out(TabWriter::new(minwidth(style), false).format(&table))
}

fn env(state: &State, name: &str, namespace: &str, containers: &Containers) -> Output {
    let style = state.config.kubectl_style;
    let Some(ds) = state.daemonset.as_ref().filter(|d| d.name == name && d.namespace == namespace) else {
        return err(not_found(style, Kind::DaemonSet, name), 1);
    };
    if let Containers::Lines = containers {
        // One `NAME<TAB>VALUE<TAB>VALUEFROM` line per variable of every container; jsonpath
        // prints a string as is and an object as JSON (1.19+) or Go's `%v` (older).
        let mut text = String::new();
        for var in ds.template.containers.iter().flat_map(|c| c.env.iter()) {
            let value_from = match (&var.value_from, style.is_old()) {
                (None, _) => String::new(),
                (Some(_), false) => {
                    let json = env_json(std::slice::from_ref(var));
                    let at = json.find("\"valueFrom\":").map(|i| i + "\"valueFrom\":".len()).unwrap_or(0);
                    json[at..json.len() - 2].to_string()
                }
                (Some(_), true) => {
                    let go = env_go(std::slice::from_ref(var));
                    let at = go.find("valueFrom:").map(|i| i + "valueFrom:".len()).unwrap_or(0);
                    go[at..go.len() - 2].to_string()
                }
            };
            text.push_str(&format!("{}\t{}\t{}\n", var.name, var.value.as_deref().unwrap_or(""), value_from));
        }
        return out(text);
    }
    let selected: Vec<&crate::state::Container> = match containers {
        Containers::Lines => unreachable!("handled above"),
        Containers::All => ds.template.containers.iter().collect(),
        Containers::Index(i) => ds.template.containers.get(*i).into_iter().collect(),
    };
    let arrays: Vec<String> = selected
        .iter()
        .filter(|c| !c.env.is_empty())
        .map(|c| if style.is_old() { env_go(&c.env) } else { env_json(&c.env) })
        .collect();
    // jsonpath joins several results with one space and prints no newline.
    out(arrays.join(" "))
}

fn json_string(text: &str) -> String {
    serde_json::to_string(text).expect("string serializes")
}

/// kubectl 1.19+: each env array as JSON with sorted keys (Go `json.Marshal` of a map).
pub fn env_json(env: &[EnvVar]) -> String {
    let vars: Vec<String> = env
        .iter()
        .map(|v| {
            let mut text = format!("{{\"name\":{}", json_string(&v.name));
            if let Some(value) = v.value.as_deref().filter(|s| !s.is_empty()) {
                text.push_str(&format!(",\"value\":{}", json_string(value)));
            }
            match &v.value_from {
                Some(ValueFrom::ConfigMapKeyRef { name, key }) => text.push_str(&format!(
                    ",\"valueFrom\":{{\"configMapKeyRef\":{{\"key\":{},\"name\":{}}}}}",
                    json_string(key),
                    json_string(name)
                )),
                Some(ValueFrom::FieldRef { field_path }) => text.push_str(&format!(
                    ",\"valueFrom\":{{\"fieldRef\":{{\"apiVersion\":\"v1\",\"fieldPath\":{}}}}}",
                    json_string(field_path)
                )),
                None => {}
            }
            text.push('}');
            text
        })
        .collect();
    format!("[{}]", vars.join(","))
}

/// kubectl before 1.19 printed jsonpath objects with Go's `%v`: `[map[name:X value:Y] ...]`
/// (map keys sorted here; Go 1.9 itself printed them in random order).
pub fn env_go(env: &[EnvVar]) -> String {
    let vars: Vec<String> = env
        .iter()
        .map(|v| {
            let mut parts = vec![format!("name:{}", v.name)];
            if let Some(value) = v.value.as_deref().filter(|s| !s.is_empty()) {
                parts.push(format!("value:{value}"));
            }
            match &v.value_from {
                Some(ValueFrom::ConfigMapKeyRef { name, key }) => {
                    parts.push(format!("valueFrom:map[configMapKeyRef:map[key:{key} name:{name}]]"))
                }
                Some(ValueFrom::FieldRef { field_path }) => {
                    parts.push(format!("valueFrom:map[fieldRef:map[apiVersion:v1 fieldPath:{field_path}]]"))
                }
                None => {}
            }
            format!("map[{}]", parts.join(" "))
        })
        .collect();
    format!("[{}]", vars.join(" "))
}

fn not_found(style: Style, kind: Kind, name: &str) -> String {
    let group = if style.is_old() { "extensions" } else { "apps" };
    let resource = match kind {
        Kind::DaemonSet => "daemonsets",
        Kind::Deployment => "deployments",
    };
    format!("Error from server (NotFound): {resource}.{group} \"{name}\" not found\n")
}

fn undo(state: &mut State, kind: Kind, name: &str, namespace: &str, to: Option<u64>, now: u64, stuck: bool) -> Output {
    let style = state.config.kubectl_style;
    let printed = match kind {
        Kind::DaemonSet => "daemonset",
        Kind::Deployment => "deployment",
    };
    let subject = if style.is_old() { format!("{printed} \"{name}\"") } else { format!("{printed}.apps/{name}") };
    let Some(workload) = state.find_mut(kind, name, namespace) else {
        return err(not_found(style, kind, name), 1);
    };
    if stuck {
        workload.stuck = true;
    }
    // kubectl ≤1.12 rolled Deployments back on the server, which answers with events.
    let server_side = style.is_old() && kind == Kind::Deployment;
    let result = sim::undo(workload, to);
    if let Undo::RolledBack { .. } = result {
        state.bump();
    }
    let answer = match result {
        Undo::RolledBack { .. } => out(format!("{subject} rolled back\n")),
        Undo::Skipped if server_side => out(format!(
            "{subject} skipped rollback (DeploymentRollbackTemplateUnchanged: The rollback revision contains the same template as current deployment \"{name}\")\n"
        )),
        Undo::Skipped => out(format!(
            "{subject} skipped rollback (current template already matches revision {})\n",
            to.unwrap_or(0)
        )),
        Undo::NoPrevious if server_side => {
            out(format!("{subject} skipped rollback (DeploymentRollbackRevisionNotFound: Unable to find last revision.)\n"))
        }
        Undo::NoPrevious => match kind {
            Kind::DaemonSet => err("error: no last revision to roll back to\n", 1),
            Kind::Deployment => err(format!("error: no rollout history found for deployment \"{name}\"\n"), 1),
        },
        Undo::NotFound(_) if server_side => out(format!(
            "{subject} skipped rollback (DeploymentRollbackRevisionNotFound: Unable to find the revision to rollback to.)\n"
        )),
        Undo::NotFound(n) => err(format!("error: unable to find specified revision {n} in history\n"), 1),
    };
    sim::run_controllers(state, now);
    answer
}

/// The resource and API group of a workload kind, as RBAC names them.
fn kind_resource(kind: Kind) -> (&'static str, &'static str) {
    match kind {
        Kind::DaemonSet => ("daemonsets", "apps"),
        Kind::Deployment => ("deployments", "apps"),
    }
}

/// Why the API server refuses a request the user's role does not grant (kube-apiserver 1.20's
/// wording, without kubectl's `Error from server (Forbidden): `): `configmaps "NAME" is
/// forbidden: User "U" cannot get resource "configmaps" in API group "" in the namespace "NS"`;
/// without a name (a list, a create) `pods is forbidden: ...`; `None` (namespace): `at the
/// cluster scope`. A subresource (`deployments/scale`) is named in the reason, not the subject.
/// `None` when allowed.
fn refusal(
    state: &State,
    verb: &str,
    (resource, group): (&str, &str),
    name: Option<&str>,
    namespace: Option<&str>,
) -> Option<String> {
    if state.config.role.allows(Access { verb, resource, group, namespace }) {
        return None;
    }
    let base = resource.split('/').next().unwrap_or(resource);
    let qualified = if group.is_empty() { base.to_string() } else { format!("{base}.{group}") };
    let subject = match name {
        Some(name) => format!("{qualified} \"{name}\""),
        None => qualified,
    };
    let scope = match namespace {
        Some(namespace) => format!("in the namespace \"{namespace}\""),
        None => "at the cluster scope".to_string(),
    };
    Some(format!(
        "{subject} is forbidden: User \"{}\" cannot {verb} resource \"{resource}\" in API group \"{group}\" {scope}",
        state.config.user
    ))
}

/// The API server's refusal as kubectl prints it, exit 1; `None` when allowed.
fn forbidden(state: &State, verb: &str, what: (&str, &str), name: &str, namespace: &str) -> Option<Output> {
    refusal(state, verb, what, Some(name), Some(namespace))
        .map(|message| err(format!("Error from server (Forbidden): {message}\n"), 1))
}

/// kubectl's rollback wraps the API server's refusal of the patch: `error: failed restoring
/// revision N: daemonsets.apps "NAME" is forbidden: User ...` (real kubectl against v1.20.2,
/// `fixtures/kubectl/rollout-undo/ds-dry-run-server-forbidden-1.32.stderr`).
fn forbidden_undo(state: &State, kind: Kind, name: &str, namespace: &str, to: Option<u64>) -> Option<Output> {
    let mut refusal = forbidden(state, "patch", kind_resource(kind), name, namespace)?;
    let message = refusal.stderr.trim_start_matches("Error from server (Forbidden): ").to_string();
    refusal.stderr = format!("error: failed restoring revision {}: {message}", to.unwrap_or(0));
    Some(refusal)
}

/// `rollout undo --dry-run=server` (kubectl 1.18+): the same answer as the undo would give, on
/// a copy of the state, with ` (server dry run)` after `rolled back`; the user must be allowed
/// to patch, as the API server authorizes a dry run like the real request.
fn server_dry_run(state: &State, kind: Kind, name: &str, namespace: &str, to: Option<u64>, now: u64) -> Output {
    if state.config.kubectl_style.is_old() {
        return err(
            "error: invalid argument \"server\" for \"--dry-run\" flag: strconv.ParseBool: parsing \"server\": invalid syntax\n",
            1,
        );
    }
    if let Some(refusal) = forbidden_undo(state, kind, name, namespace, to) {
        return refusal;
    }
    let mut copy = state.clone();
    let mut answer = undo(&mut copy, kind, name, namespace, to, now, false);
    // kubectl says so after whatever it printed: `rolled back (server dry run)`, and a skip too
    // (`skipped rollback (current template already matches revision 13) (server dry run)`, real
    // kubectl 1.33, `fixtures/kubectl/rollout-undo/ds-dry-run-already-matches-1.33.stdout`).
    if answer.code == 0 {
        if let Some(line) = answer.stdout.strip_suffix('\n') {
            answer.stdout = format!("{line} (server dry run)\n");
        }
    }
    answer
}

/// `get controllerrevisions|replicasets NAME... -o json`: one object, or a `List` of several,
/// printed as kubectl prints JSON (4-space indentation); a name that does not exist is
/// NotFound (exit 1).
fn revision_objects(state: &State, kind: Kind, names: &[String], namespace: &str, t: u64) -> Output {
    let group = if state.config.kubectl_style.is_old() { "extensions" } else { "apps" };
    let (resource, group) = match kind {
        Kind::DaemonSet => ("controllerrevisions", "apps"),
        Kind::Deployment => ("replicasets", group),
    };
    let mut items = Vec::new();
    for name in names {
        let found = state
            .workloads()
            .filter(|w| w.kind == kind && w.namespace == namespace)
            .find_map(|w| w.revisions.iter().find(|r| &r.name == name).map(|r| (w, r)));
        let Some((w, r)) = found else {
            return err(format!("Error from server (NotFound): {resource}.{group} \"{name}\" not found\n"), 1);
        };
        items.push(objects::revision_json(state, w, r, t));
    }
    let document = if items.len() == 1 { items.remove(0) } else { objects::list(items) };
    out(objects::pretty(&document))
}

/// `get daemonsets,deployments,controllerrevisions,replicasets -n NS -o json`: a `List` of
/// every object of those types in the namespace, type by type in the order named, each type
/// sorted by name as the API server lists it; none: the empty `List`, exit 0.
fn objects_json(state: &State, resources: &[Resource], namespace: &str, t: u64) -> Output {
    let mut documents = Vec::new();
    let mut stderr = String::new();
    for resource in resources {
        // kubectl goes on past a type it may not list (`ContinueOnError`): the List holds the
        // others, each refusal is a line on stderr, exit 1.
        if let Some(message) = refusal(state, "list", rbac(*resource), None, Some(namespace)) {
            stderr.push_str(&format!("Error from server (Forbidden): {message}\n"));
            continue;
        }
        for item in items(state, *resource, Some(namespace)) {
            documents.push(match item {
                Item::Workload(w) => objects::workload_json(state, w, t),
                Item::Revision(w, r) => objects::revision_json(state, w, r, t),
                Item::Pod(_) => unreachable!("pods are not listed as JSON"),
            });
        }
    }
    let code = if stderr.is_empty() { 0 } else { 1 };
    Output { stdout: objects::pretty(&objects::list(documents)), stderr, code, then: Then::Exit }
}

/// Every namespace: the four a cluster starts with and those the objects are in, by name.
fn namespaces(state: &State) -> Output {
    let mut names: std::collections::BTreeSet<String> =
        ["default", "kube-node-lease", "kube-public", "kube-system"].iter().map(|s| s.to_string()).collect();
    names.extend(state.workloads().map(|w| w.namespace.clone()));
    names.extend(state.pods.iter().map(|p| p.namespace.clone()));
    names.extend(state.configmaps.iter().map(|c| c.namespace.clone()));
    let mut rows = vec![vec!["NAME".to_string()]];
    rows.extend(names.into_iter().map(|name| vec![name]));
    out(TabWriter::new(minwidth(state.config.kubectl_style), false).format(&rows))
}

fn delete(state: &mut State, name: &str, namespace: &str, now: u64, wait: bool) -> Output {
    if !wait && state.config.kubectl_style.is_old() {
        // kubectl 1.9 has no --wait flag (it came in 1.11).
        return err("Error: unknown flag: --wait\n", 1);
    }
    let Some(index) = state.pods.iter().position(|p| p.name == name && p.namespace == namespace) else {
        return err(format!("Error from server (NotFound): pods \"{name}\" not found\n"), 1);
    };
    sim::delete_pod(state, index, now);
    state.bump();
    let gone = state.pods[index].gone_at_ms.unwrap_or(now);
    sim::run_controllers(state, now);
    let mut answer = out(format!("pod \"{name}\" deleted\n"));
    // kubectl 1.11+ waits until the pod is gone unless `--wait=false`.
    if wait && !state.config.kubectl_style.is_old() {
        answer.then = Then::WaitUntil(gone);
    }
    answer
}

// ---------------------------------------------------------------------------------------------
// ConfigMaps (calico-config, the run lock) and scale
// ---------------------------------------------------------------------------------------------

fn configmap_not_found(name: &str) -> String {
    format!("Error from server (NotFound): configmaps \"{name}\" not found\n")
}

/// `get configmap/NAME -n NS -o json`.
/// `get configmap/NAME -o json` (kubectl's indented print) or `get --raw …/configmaps/NAME` (the
/// API server's compact JSON, passed through).
fn get_configmap_json(state: &State, name: &str, namespace: &str, raw: bool) -> Output {
    if let Some(refusal) = forbidden(state, "get", ("configmaps", ""), name, namespace) {
        return refusal;
    }
    match state.configmap(name, namespace) {
        Some(configmap) if raw => out(objects::configmap_json(configmap).to_string()),
        Some(configmap) => out(objects::pretty(&objects::configmap_json(configmap))),
        None => err(configmap_not_found(name), 1),
    }
}

/// What kubectl prints when kube-apiserver (v1.20.2) refuses a JSON patch that does not apply
/// (a failed `test`, a `replace` or `remove` of a missing key): 422 with the library's words in
/// the causes, which kubectl does not print (real kubectl 1.20 and 1.33, `fixtures/kubectl/patch-lock/`).
pub fn patch_does_not_apply(style: Style) -> String {
    if style == Style::V1_33 {
        "The request is invalid: the server rejected our request due to an error in our request\n".to_string()
    } else {
        "The request is invalid\n".to_string()
    }
}

/// `patch ds/NAME --type=json -p=PATCH -o name`: the operations applied in order to the
/// DaemonSet's annotations under the state's lock, all or none, as the API server applies a
/// JSON patch (RFC 6902, with its JSON patch library's reading of `test` with `"value": null`:
/// the key is absent). Metadata only: no new generation, no rollout.
fn patch_lock(state: &mut State, name: &str, namespace: &str, patch: &str) -> Output {
    if let Some(refusal) = forbidden(state, "patch", ("daemonsets", "apps"), name, namespace) {
        return refusal;
    }
    let Some(daemonset) = state.daemonset.as_ref().filter(|d| d.name == name && d.namespace == namespace) else {
        return err(format!("Error from server (NotFound): daemonsets.apps \"{name}\" not found\n"), 1);
    };
    let Ok(serde_json::Value::Array(ops)) = serde_json::from_str::<serde_json::Value>(patch) else {
        return err("error: unable to parse the patch as a JSON patch\n", 1);
    };
    let mut annotations = daemonset.annotations.clone();
    for op in &ops {
        let path = op["path"].as_str().unwrap_or_default();
        let Some(key) = path.strip_prefix("/metadata/annotations/") else {
            return err(format!("fake-cluster: only /metadata/annotations/KEY paths are simulated, not `{path}`\n"), 1);
        };
        let key = key.replace("~1", "/").replace("~0", "~");
        let value = op.get("value").and_then(|v| v.as_str()).map(str::to_string);
        match op["op"].as_str() {
            Some("test") => {
                let expected = op.get("value").cloned().unwrap_or(serde_json::Value::Null);
                let actual = annotations.get(&key).map_or(serde_json::Value::Null, |v| serde_json::json!(v));
                if expected != actual {
                    return err(patch_does_not_apply(state.config.kubectl_style), 1);
                }
            }
            Some("add") => {
                annotations.insert(key, value.unwrap_or_default());
            }
            Some("replace") if annotations.contains_key(&key) => {
                annotations.insert(key, value.unwrap_or_default());
            }
            Some("remove") if annotations.contains_key(&key) => {
                annotations.remove(&key);
            }
            Some("replace" | "remove") => return err(patch_does_not_apply(state.config.kubectl_style), 1),
            Some(other) => return err(format!("fake-cluster: JSON patch op `{other}` is not simulated\n"), 1),
            None => return err("error: a JSON patch operation without `op`\n", 1),
        }
    }
    state.bump();
    if let Some(daemonset) = state.daemonset.as_mut() {
        daemonset.annotations = annotations;
    }
    out(format!("daemonset.apps/{name}\n"))
}

/// `scale deployment/NAME --replicas=N [--dry-run=server]`: kubectl reads the Deployment, then
/// patches its `scale` subresource; the Deployment controller then creates or deletes pods.
/// A missing (or unreadable) Deployment: kubectl 1.33 prints the API server's error, 1.20
/// its own `error: no objects passed to scale ...` around it. With `--dry-run=server` the
/// request is authorized and answered but nothing changes; 1.33 says so, 1.20 does not.
fn scale(state: &mut State, name: &str, namespace: &str, replicas: u32, dry_run: bool, now: u64) -> Output {
    let style = state.config.kubectl_style;
    let read_error = |reason: &str, message: String| {
        if style == Style::V1_20 {
            err(format!("error: no objects passed to scale {message}\n"), 1)
        } else {
            err(format!("Error from server ({reason}): {message}\n"), 1)
        }
    };
    let (resource, group) = kind_resource(Kind::Deployment);
    if let Some(message) = refusal(state, "get", (resource, group), Some(name), Some(namespace)) {
        return read_error("Forbidden", message);
    }
    if state.find(Kind::Deployment, name, namespace).is_none() {
        let group = if style.is_old() { "extensions" } else { "apps" };
        return read_error("NotFound", format!("deployments.{group} \"{name}\" not found"));
    }
    if let Some(refusal) = forbidden(state, "patch", ("deployments/scale", "apps"), name, namespace) {
        return refusal;
    }
    let done =
        if style.is_old() { format!("deployment \"{name}\" scaled") } else { format!("deployment.apps/{name} scaled") };
    if dry_run {
        let suffix = if style == Style::V1_33 { " (server dry run)" } else { "" };
        return out(format!("{done}{suffix}\n"));
    }
    if let Some(deployment) = state.find_mut(Kind::Deployment, name, namespace) {
        deployment.replicas = replicas;
    }
    state.bump();
    sim::run_controllers(state, now);
    out(format!("{done}\n"))
}

/// `get --raw /apis/crd.projectcalico.org/v1/PLURAL`: the API server's list, compact, as
/// kubectl passes it through; with the Kubernetes API datastore both releases' CRDs exist, with
/// etcd none (real kubectl's `NotFound` for a resource the server does not serve,
/// `fixtures/kubectl/get-raw-calico/`).
fn calico_list(state: &State, plural: &str) -> Output {
    let kind = crate::state::CALICO_CRDS.iter().find(|(p, _)| *p == plural).map(|(_, kind)| *kind);
    let Some(kind) = kind.filter(|_| state.config.datastore == crate::state::Datastore::Kubernetes) else {
        return err("Error from server (NotFound): the server could not find the requested resource\n", 1);
    };
    let items: Vec<serde_json::Value> = state
        .calico_objects
        .iter()
        .filter(|o| o.plural == plural)
        .map(|o| {
            let mut metadata = serde_json::json!({ "name": o.name, "resourceVersion": "4242" });
            if let Some(namespace) = &o.namespace {
                metadata["namespace"] = serde_json::json!(namespace);
            }
            serde_json::json!({ "apiVersion": "crd.projectcalico.org/v1", "kind": kind, "metadata": metadata, "spec": o.spec })
        })
        .collect();
    let list = serde_json::json!({
        "apiVersion": "crd.projectcalico.org/v1",
        "items": items,
        "kind": format!("{kind}List"),
        "metadata": { "continue": "", "resourceVersion": "4242" },
    });
    out(list.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::scenario::testing::{cluster, T0};

    /// `kubectl LINE` at `t` (words split on spaces; `_stdin` is read by no simulated command).
    fn kubectl(state: &mut State, line: &str, _stdin: &str, t: u64) -> Output {
        let args: Vec<String> = line.split(' ').map(str::to_string).collect();
        let cmd = parse(&args).expect("simulated");
        sim::advance(state, t);
        execute(state, cmd, t, false)
    }

    fn answer(output: &Output) -> (&str, &str, i32) {
        (output.stdout.as_str(), output.stderr.as_str(), output.code)
    }

    /// The shape of the real sample (kubectl 1.33 against kube-apiserver 1.20): keys sorted,
    /// 4-space indentation, the server's metadata.
    #[test]
    fn calico_config_prints_as_a_stored_configmap() {
        let mut state = cluster(&[]);
        let text = kubectl(&mut state, "get configmap/calico-config -n kube-system -o json", "", T0).stdout;
        assert!(text.starts_with("{\n    \"apiVersion\": \"v1\",\n    \"data\": {\n        \"calico_backend\": \"bird\",\n        \"cni_network_config\": \"{\\n  \\\"name\\\": \\\"k8s-pod-network\\\",\\n  \\\"cniVersion\\\": \\\"0.3.0\\\",\\n  \\\"plugins\\\": ["), "{text}");
        let tail = format!(
            "        \"etcd_endpoints\": \"http://10.96.232.136:6666\"\n    }},\n    \"kind\": \"ConfigMap\",\n    \"metadata\": {{\n        \"creationTimestamp\": \"{}\",\n        \"name\": \"calico-config\",\n        \"namespace\": \"kube-system\",\n        \"resourceVersion\": \"301\",\n        \"uid\": \"{}\"\n    }}\n}}\n",
            rfc3339(T0 - 3 * 3_600_000),
            crate::state::uid("kube-system/calico-config")
        );
        assert!(text.ends_with(&tail), "{text}");
        let document: serde_json::Value = serde_json::from_str(&text).unwrap();
        let cni: serde_json::Value =
            serde_json::from_str(document["data"]["cni_network_config"].as_str().unwrap()).unwrap();
        assert_eq!(cni["plugins"][1]["type"], "portmap");

        let before = cluster(&["--state", "not-upgraded", "--datastore", "kubernetes"]);
        let data = &before.configmap("calico-config", "kube-system").unwrap().data;
        assert_eq!(data.keys().collect::<Vec<_>>(), ["cni_network_config"]);
        assert!(data["cni_network_config"].contains("\"cniVersion\": \"0.1.0\""));
        let missing = kubectl(&mut state, "get configmap/nope -n kube-system -o json", "", T0);
        assert_eq!(answer(&missing), ("", "Error from server (NotFound): configmaps \"nope\" not found\n", 1));
    }

    /// Taken when absent, swapped only from the value seen, removed only when still that value;
    /// a failed `test` changes nothing.
    #[test]
    fn the_lock_annotation_is_written_only_after_its_test() {
        let mut state = cluster(&[]);
        let generation = |state: &State| {
            crate::objects::workload_json(state, state.daemonset.as_ref().unwrap(), T0)["metadata"]["generation"]
                .clone()
        };
        sim::advance(&mut state, T0);
        let before = generation(&state);
        let path = "/metadata/annotations/calico-downgrade~1lock";
        let patch =
            |ops: serde_json::Value| format!("patch ds/calico-node -n kube-system --type=json -p={ops} -o name");
        let take = patch(
            serde_json::json!([{"op": "test", "path": path, "value": null}, {"op": "add", "path": path, "value": "a"}]),
        );
        assert_eq!(answer(&kubectl(&mut state, &take, "", T0)), ("daemonset.apps/calico-node\n", "", 0));
        assert_eq!(state.daemonset.as_ref().unwrap().annotations["calico-downgrade/lock"], "a");
        let again = kubectl(&mut state, &take, "", T0);
        assert_eq!(
            answer(&again),
            ("", "The request is invalid: the server rejected our request due to an error in our request\n", 1)
        );
        let swap = |from: &str, to: &str| {
            patch(
                serde_json::json!([{"op": "test", "path": path, "value": from}, {"op": "replace", "path": path, "value": to}]),
            )
        };
        assert_eq!(kubectl(&mut state, &swap("b", "c"), "", T0).code, 1);
        assert_eq!(kubectl(&mut state, &swap("a", "b"), "", T0).code, 0);
        let release = |seen: &str| {
            patch(serde_json::json!([{"op": "test", "path": path, "value": seen}, {"op": "remove", "path": path}]))
        };
        assert_eq!(kubectl(&mut state, &release("a"), "", T0).code, 1);
        assert_eq!(kubectl(&mut state, &release("b"), "", T0).code, 0);
        assert!(state.daemonset.as_ref().unwrap().annotations.is_empty());
        assert_eq!(generation(&state), before, "the lock starts no rollout");
    }

    /// Typha's pods go (Terminating, then gone) when it is scaled to 0 and come back spread
    /// over the nodes; a server dry run changes nothing.
    #[test]
    fn scaling_typha_deletes_and_creates_its_pods() {
        let mut state = cluster(&["--datastore", "kubernetes", "--typha", "2"]);
        let typha = |state: &State| -> Vec<Pod> {
            state.pods.iter().filter(|p| p.name.starts_with("calico-typha-")).cloned().collect()
        };
        assert_eq!(typha(&state).len(), 2);
        let dry =
            kubectl(&mut state, "scale deployment/calico-typha -n kube-system --replicas=0 --dry-run=server", "", T0);
        assert_eq!(answer(&dry), ("deployment.apps/calico-typha scaled (server dry run)\n", "", 0));
        assert!(typha(&state).iter().all(|p| p.deleting_at_ms.is_none()));

        let scaled = kubectl(&mut state, "scale deployment/calico-typha -n kube-system --replicas=0", "", T0);
        assert_eq!(answer(&scaled), ("deployment.apps/calico-typha scaled\n", "", 0));
        assert!(typha(&state).iter().all(|p| p.deleting_at_ms == Some(T0)));
        sim::advance(&mut state, T0 + 1_000);
        assert!(typha(&state).is_empty());
        assert_eq!(state.typha.as_ref().unwrap().replicas, 0);

        kubectl(&mut state, "scale deployment/calico-typha -n kube-system --replicas=3", "", T0 + 2_000);
        let mut nodes: Vec<String> = typha(&state).iter().filter_map(|p| p.node.clone()).collect();
        nodes.sort();
        assert_eq!(nodes, ["node-1", "node-2", "node-3"]);

        let missing = kubectl(&mut state, "scale deployment/nope -n kube-system --replicas=0", "", T0 + 3_000);
        assert_eq!(missing.stderr, "Error from server (NotFound): deployments.apps \"nope\" not found\n");
    }

    /// A user bound in kube-system: refused at the cluster scope and elsewhere, served there;
    /// without ConfigMap rights no lock.
    #[test]
    fn a_namespace_role_is_refused_outside_its_namespace() {
        let mut state = cluster(&["--role", "namespace", "--user", "jane"]);
        let all = kubectl(&mut state, "get pods --all-namespaces -o custom-columns=NAME:.metadata.name", "", T0);
        assert_eq!(answer(&all), ("", "Error from server (Forbidden): pods is forbidden: User \"jane\" cannot list resource \"pods\" in API group \"\" at the cluster scope\n", 1));
        let namespaces = kubectl(&mut state, "get namespaces -o custom-columns=NAME:.metadata.name", "", T0);
        assert_eq!(namespaces.stderr, "Error from server (Forbidden): namespaces is forbidden: User \"jane\" cannot list resource \"namespaces\" in API group \"\" at the cluster scope\n");
        assert_eq!(
            kubectl(&mut state, "get pods -n kube-system -o custom-columns=NAME:.metadata.name", "", T0).code,
            0
        );
        let can = |state: &mut State, line: &str| kubectl(state, &format!("auth can-i {line}"), "", T0).stdout;
        assert_eq!(can(&mut state, "update configmaps/calico-downgrade-lock -n kube-system"), "no\n");
        assert_eq!(can(&mut state, "patch deployments.apps/calico-typha -n kube-system"), "yes\n");
        assert_eq!(can(&mut state, "patch daemonsets.apps/calico-node -n default"), "no\n");
        assert_eq!(can(&mut state, "list pods --all-namespaces"), "no\n");
        assert_eq!(can(&mut state, "delete pods -n kube-system"), "no\n");

        let mut bare = cluster(&["--role", "namespace-no-configmaps", "--user", "jane"]);
        let config = kubectl(&mut bare, "get configmap/calico-config -n kube-system -o json", "", T0);
        assert_eq!(config.stderr, "Error from server (Forbidden): configmaps \"calico-config\" is forbidden: User \"jane\" cannot get resource \"configmaps\" in API group \"\" in the namespace \"kube-system\"\n");
    }
}
