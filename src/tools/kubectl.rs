//! kubectl: the commands the tool runs and the pure parsers of what they print.
//!
//! Inspection reads one `-o json` list (every DaemonSet, Deployment, ControllerRevision and
//! ReplicaSet of the namespace, their templates included); the other queries use
//! `-o custom-columns` (every field the tool needs in one table, cells that never contain
//! spaces), the wait's watches with `--output-watch-events`. Shapes differ across kubectl 1.7–1.33 (see `fixtures/README.md`):
//! `rollout undo` prints `daemonset "x" rolled back` (1.7–1.9), `daemonset.extensions "x"
//! rolled back` (1.10) or `daemonset.apps/x rolled back` (1.11+); "nothing found" is a
//! message on stderr whose wording changed in 1.17. Every parser says which shape it read
//! or returns [`Unrecognised`].

use std::path::PathBuf;

use semver::Version;
use serde::Serialize;

use super::table::{self, Table};
use super::{version, Unrecognised};
use crate::exec::{Invocation, Output, Tool};

/// How to reach the cluster: passed to every kubectl call.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Connection {
    pub kubeconfig: Option<String>,
    pub context: Option<String>,
    /// kubectl's own `--request-timeout`, in whole seconds (0: kubectl's default).
    pub request_timeout_secs: u64,
}

/// Builds every kubectl [`Invocation`] the tool runs.
#[derive(Debug, Clone)]
pub struct Kubectl {
    pub program: PathBuf,
    pub connection: Connection,
    /// The client's version once known (`kubectl version --client`): flags newer than the
    /// oldest supported kubectl are passed only to clients that have them.
    pub client: Option<Version>,
}

pub const DAEMONSET_COLUMNS: &str = "NAME:.metadata.name,DESIRED:.status.desiredNumberScheduled,STRATEGY:.spec.updateStrategy.type,IMAGES:.spec.template.spec.containers[*].image,APP:.spec.selector.matchLabels.k8s-app";
/// The live rollout status of the DaemonSet and the Deployment, in one table (the fields
/// `kubectl rollout status` reads): DaemonSet rows fill DESIRED/UPDATED/AVAILABLE, Deployment
/// rows SPEC/REPLICAS/UPDATEDREPLICAS/AVAILABLEREPLICAS; counters left out of the status are 0.
/// IMAGES is the live template's: the rollback is checked on it.
pub const WORKLOAD_STATUS_COLUMNS: &str = "NAME:.metadata.name,GENERATION:.metadata.generation,OBSERVED:.status.observedGeneration,DESIRED:.status.desiredNumberScheduled,UPDATED:.status.updatedNumberScheduled,AVAILABLE:.status.numberAvailable,SPEC:.spec.replicas,REPLICAS:.status.replicas,UPDATEDREPLICAS:.status.updatedReplicas,AVAILABLEREPLICAS:.status.availableReplicas,IMAGES:.spec.template.spec.containers[*].image";
pub const ALL_PODS_COLUMNS: &str = "NAMESPACE:.metadata.namespace,NAME:.metadata.name,CREATED:.metadata.creationTimestamp,HOSTNETWORK:.spec.hostNetwork,NODE:.spec.nodeName";
/// `READY` is the pod's `Ready` condition, not its containers' flags: when a node goes
/// NotReady the node controller sets the condition to False while the flags stay true.
///
/// What may block the rollout rides along in space-free columns (a kubelet's message has
/// spaces: the one pod is read whole when it first shows a blocking reason, [`Kubectl::pod`]):
/// `WAITING` each waiting container's reason, `RESTARTS` each container's restarts, `SCHEDULED`
/// the PodScheduled condition's reason (`Unschedulable`), `CONTAINERS` the ContainersReady
/// condition (the kubelet sets it with `Ready`; the node lifecycle controller, when the node
/// stops heartbeating, sets only `Ready` to False), `DELETING` the deletion timestamp (the end
/// of the grace period).
pub const POD_COLUMNS: &str = "NAME:.metadata.name,PHASE:.status.phase,READY:.status.conditions[?(@.type==\"Ready\")].status,IMAGES:.spec.containers[*].image,OWNER:.metadata.ownerReferences[0].name,DELETING:.metadata.deletionTimestamp,NODE:.spec.nodeName,WAITING:.status.containerStatuses[*].state.waiting.reason,RESTARTS:.status.containerStatuses[*].restartCount,SCHEDULED:.status.conditions[?(@.type==\"PodScheduled\")].reason,CONTAINERS:.status.conditions[?(@.type==\"ContainersReady\")].status";
/// The context, its cluster's server and its user, tab-separated on one line. `--minify` keeps
/// only the context in use, so each list has one entry. Real output (kubectl 1.20.2 and 1.33.1,
/// `fixtures/kubectl/config-view/`):
/// ```text
/// admin@prod-eu<TAB>prod-eu<TAB>https://10.20.0.1:6443<TAB>admin
/// ```
/// With no current context it prints nothing and exits 1 (`error: current-context must exist
/// in order to minify`); an unknown `--context`: `error: cannot locate context nope`.
pub const CONFIG_VIEW_JSONPATH: &str = r#"jsonpath={.current-context}{"\t"}{.contexts[0].context.cluster}{"\t"}{.clusters[0].cluster.server}{"\t"}{.contexts[0].context.user}{"\n"}"#;

/// Which cluster kubectl reaches: from `kubectl config view --minify`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KubeContext {
    pub context: String,
    pub cluster: String,
    pub server: String,
    pub user: String,
}

/// Read `kubectl config view --minify -o jsonpath=...` ([`CONFIG_VIEW_JSONPATH`]). A non-zero
/// exit is kubectl saying it has no such context: its message, without klog's warnings.
pub fn parse_config_view(output: &Output) -> Result<KubeContext, String> {
    if output.code != Some(0) {
        let message = output
            .stderr
            .lines()
            .rev()
            .find(|line| line.starts_with("error: "))
            .or_else(|| output.stderr.lines().rev().find(|line| !line.trim().is_empty()))
            .unwrap_or("no message");
        return Err(format!("`kubectl config view --minify` failed: {}", message.trim_start_matches("error: ")));
    }
    let line = output.stdout.trim_end_matches('\n');
    match line.split('\t').collect::<Vec<_>>()[..] {
        [context, cluster, server, user] if !context.is_empty() && !line.contains('\n') => Ok(KubeContext {
            context: context.to_string(),
            cluster: cluster.to_string(),
            server: server.to_string(),
            user: user.to_string(),
        }),
        _ => Err(Unrecognised::new(
            "`kubectl config view --minify` output",
            "expected one line: context, cluster, server, user",
            &output.stdout,
        )
        .to_string()),
    }
}

/// Read `kubectl config get-contexts -o name`: one name per line (kubectl 1.20, 1.33; nothing,
/// exit 0, when there is no kubeconfig).
pub fn parse_context_names(stdout: &str) -> Vec<String> {
    stdout.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_string).collect()
}

/// The two workload kinds the downgrade rolls back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum WorkloadKind {
    DaemonSet,
    Deployment,
}

impl WorkloadKind {
    /// The resource prefix in `kubectl rollout undo ds/NAME`, as the docs spell it.
    pub fn resource(self) -> &'static str {
        match self {
            WorkloadKind::DaemonSet => "ds",
            WorkloadKind::Deployment => "deployment",
        }
    }

    /// The lower-case kind kubectl prints in `kind.group/name` and `kind "name"`.
    pub fn printed_kind(self) -> &'static str {
        match self {
            WorkloadKind::DaemonSet => "daemonset",
            WorkloadKind::Deployment => "deployment",
        }
    }
}

impl Kubectl {
    /// The arguments of a command that changes the cluster: the connection only. It is shown
    /// for the operator to paste (`would run`, the way back) and the tool stops it at
    /// `--command-timeout` itself, so it carries no `--request-timeout`.
    fn invocation(&self, mut args: Vec<String>) -> Vec<String> {
        if let Some(kubeconfig) = &self.connection.kubeconfig {
            args.push(format!("--kubeconfig={kubeconfig}"));
        }
        if let Some(context) = &self.connection.context {
            args.push(format!("--context={context}"));
        }
        args
    }

    /// A read: the connection, and kubectl's own `--request-timeout` (a watch is ended by it,
    /// a fresh list then started).
    fn read(&self, args: &[&str]) -> Invocation {
        let mut args = self.invocation(args.iter().map(|s| s.to_string()).collect());
        if self.connection.request_timeout_secs > 0 {
            args.push(format!("--request-timeout={}s", self.connection.request_timeout_secs));
        }
        Invocation::read_only(Tool::Kubectl, &self.program, args)
    }

    /// The same kubectl for commands shown to people to paste (the way back): without the
    /// `--request-timeout` the tool gives its own commands.
    pub fn for_people(&self) -> Kubectl {
        Kubectl { connection: Connection { request_timeout_secs: 0, ..self.connection.clone() }, ..self.clone() }
    }

    /// `kubectl version --client`: needs no cluster.
    pub fn version(&self) -> Invocation {
        Invocation::read_only(Tool::Kubectl, &self.program, vec!["version".into(), "--client".into()])
    }

    /// `kubectl config view --minify`: which context, cluster, server and user this kubectl
    /// reaches with these options. Local, read-only, needs no cluster; only the four names are
    /// asked for ([`CONFIG_VIEW_JSONPATH`]), so no credential reaches the journal.
    pub fn config_view(&self) -> Invocation {
        let mut args: Vec<String> = ["config", "view", "--minify", "-o", CONFIG_VIEW_JSONPATH].map(String::from).into();
        if let Some(kubeconfig) = &self.connection.kubeconfig {
            args.push(format!("--kubeconfig={kubeconfig}"));
        }
        if let Some(context) = &self.connection.context {
            args.push(format!("--context={context}"));
        }
        Invocation::read_only(Tool::Kubectl, &self.program, args)
    }

    /// `kubectl config get-contexts -o name`: the contexts of the kubeconfig, one per line
    /// (local, read-only), to list when the one asked for cannot be used.
    pub fn contexts(&self) -> Invocation {
        let mut args: Vec<String> = ["config", "get-contexts", "-o", "name"].map(String::from).into();
        if let Some(kubeconfig) = &self.connection.kubeconfig {
            args.push(format!("--kubeconfig={kubeconfig}"));
        }
        Invocation::read_only(Tool::Kubectl, &self.program, args)
    }

    pub fn daemonsets(&self, namespace: &str) -> Invocation {
        self.read(&["get", "daemonsets", "-n", namespace, "-o", &format!("custom-columns={DAEMONSET_COLUMNS}")])
    }

    /// `kubectl get daemonsets,deployments,controllerrevisions,replicasets -n NS -o json`:
    /// everything inspection reads, in one call ([`parse_objects`]).
    ///
    /// kubectl 1.21+ leaves `metadata.managedFields` out of `-o json` unless asked
    /// (`--show-managed-fields`, kubernetes/kubernetes#96878); 1.20 has no such flag and shows
    /// them (real kubectl 1.20 and 1.27–1.33). They say who last set the templates' images.
    pub fn objects(&self, namespace: &str) -> Invocation {
        let mut args = vec!["get", OBJECT_KINDS, "-n", namespace, "-o", "json"];
        if self.client.as_ref().is_some_and(has_show_managed_fields) {
            args.push("--show-managed-fields");
        }
        self.read(&args)
    }

    /// `kubectl get jobs -n NS`: the Jobs as a table, for an admin to read (the tool's own read
    /// refused).
    pub fn jobs_table(&self, namespace: &str) -> Invocation {
        self.read(&["get", "jobs", "-n", namespace])
    }

    /// `kubectl get --raw /apis/batch/v1/namespaces/NS/jobs`: the Jobs of the namespace, for a
    /// migration Job of a reconciler (kops' `calico-complete-upgrade`). Raw, so the process skips
    /// API discovery in the round before the first change; `batch/v1` Jobs are served by every
    /// API server since Kubernetes 1.2. Read by [`parse_jobs`].
    pub fn jobs(&self, namespace: &str) -> Invocation {
        let path = format!("/apis/batch/v1/namespaces/{}/jobs", segment(namespace));
        self.read(&["get", "--raw", &path])
    }

    /// `kubectl get --raw /api/v1/namespaces/NS/configmaps/NAME`: one ConfigMap (`calico-config`)
    /// as the API server sends it, read by [`parse_config_map`]. Raw, so that
    /// the process skips API discovery: one process fewer discovering the API in the round
    /// before the first change (measured over 50 ms: about 0.07 s off that round, 0.1 s direct,
    /// where it is CPU-bound). A missing one is kubectl's usual `Error from server (NotFound)`.
    pub fn config_map(&self, namespace: &str, name: &str) -> Invocation {
        let path = format!("/api/v1/namespaces/{}/configmaps/{}", segment(namespace), segment(name));
        self.read(&["get", "--raw", &path])
    }

    /// `kubectl patch ds/NAME -n NS --type=json -p=PATCH -o name`: the cluster lock taken,
    /// renewed, taken over or released ([`crate::lease`]: an annotation on the DaemonSet, each
    /// patch a `test` then a write, so the API server refuses it when the lock is not as this
    /// run last saw it). `-o name` prints `daemonset.apps/NAME` ([`parse_lock_patched`]).
    pub fn patch_lock(&self, namespace: &str, daemonset: &str, patch: String) -> Invocation {
        let args = self.invocation(vec![
            "patch".into(),
            format!("ds/{daemonset}"),
            "-n".into(),
            namespace.into(),
            "--type=json".into(),
            format!("-p={patch}"),
            "-o".into(),
            "name".into(),
        ]);
        Invocation::mutating(Tool::Kubectl, &self.program, args)
    }

    /// One page of every pod in the cluster, for the pods-at-risk list: `kubectl get --raw
    /// /api/v1/pods?limit=500[&continue=TOKEN]`. The API server's own pages: kubectl passes
    /// each through as it came (about 50 MB of memory whatever the cluster's size, where any
    /// `kubectl get pods` decodes every pod first: 285 MB for 3000 pods), skips API discovery,
    /// and no page holds more than [`PODS_PAGE`] pods. The core `v1` pod list is the one path
    /// every API server since 1.0 serves.
    pub fn pods_page(&self, continue_token: Option<&str>) -> Invocation {
        let mut path = format!("/api/v1/pods?limit={PODS_PAGE}");
        if let Some(token) = continue_token {
            path.push_str("&continue=");
            path.push_str(&segment(token));
        }
        self.read(&["get", "--raw", &path]).journaled(crate::exec::Journaled::PodsPage)
    }

    /// Every object of one Calico custom resource (`crd.projectcalico.org/v1`), in all
    /// namespaces: `kubectl get --raw /apis/crd.projectcalico.org/v1/PLURAL`, read by
    /// [`super::calico_crds::parse_calico_list`]. Raw, as the pods pages: no API discovery, the
    /// API server's own `List`; a CRD that is not installed is its `NotFound`, a user who may
    /// not list it its `Forbidden` ([`super::calico_crds::list_failure`]).
    pub fn calico_objects(&self, plural: &str) -> Invocation {
        let path = format!("/apis/{}/v1/{}", super::calico_crds::GROUP, segment(plural));
        self.read(&["get", "--raw", &path])
    }

    /// `kubectl get KIND.crd.projectcalico.org,… --all-namespaces -o yaml`, for an admin to read
    /// the Calico objects the tool could not list.
    pub fn calico_objects_for_people(&self, plurals: &[&str]) -> Invocation {
        let kinds: Vec<String> = plurals.iter().map(|p| format!("{p}.{}", super::calico_crds::GROUP)).collect();
        self.read(&["get", &kinds.join(","), "--all-namespaces", "-o", "yaml"])
    }

    /// Every pod in the cluster as a table, newest last, for an admin to read (the pods at risk
    /// that the tool could not list).
    pub fn all_pods(&self) -> Invocation {
        self.read(&["get", "pods", "--all-namespaces", "-o", &format!("custom-columns={ALL_PODS_COLUMNS}")])
    }

    /// The pods of the namespace with what convergence needs: phase, readiness of each
    /// container, images, owner, deletion; only the Calico workloads' pods when their label
    /// selector is known (`-l k8s-app in (calico-node,calico-kube-controllers)`).
    pub fn pods(&self, namespace: &str, selector: Option<&str>) -> Invocation {
        let columns = format!("custom-columns={POD_COLUMNS}");
        let mut args = vec!["get", "pods", "-n", namespace];
        if let Some(selector) = selector {
            args.extend(["-l", selector]);
        }
        args.extend(["-o", &columns]);
        self.read(&args)
    }

    /// `kubectl get pod NAME -n NS -o json`: one pod whole, read once when it first shows what
    /// blocks the rollout, for what the pods table cannot carry (messages have spaces): the
    /// image, the kubelet's and the scheduler's words, the last termination ([`parse_pod`]).
    pub fn pod(&self, namespace: &str, name: &str) -> Invocation {
        self.read(&["get", "pod", name, "-n", namespace, "-o", "json"]).journaled(crate::exec::Journaled::Pod)
    }

    /// `kubectl describe pod NAME -n NS`, for people to look further.
    pub fn describe_pod(&self, namespace: &str, name: &str) -> Invocation {
        Invocation::read_only(
            Tool::Kubectl,
            &self.program,
            self.invocation(["describe", "pod", name, "-n", namespace].map(String::from).into()),
        )
    }

    /// `kubectl get daemonset/NAME [deployment/NAME] -n NS -o custom-columns=…`: the live
    /// rollout status of the workloads, one row each.
    pub fn workload_status(&self, namespace: &str, daemonset: &str, deployment: Option<&str>) -> Invocation {
        let columns = format!("custom-columns={WORKLOAD_STATUS_COLUMNS}");
        let daemonset = format!("daemonset/{daemonset}");
        let deployment = deployment.map(|d| format!("deployment/{d}"));
        let mut args = vec!["get", daemonset.as_str()];
        args.extend(deployment.as_deref());
        args.extend(["-n", namespace, "-o", &columns]);
        self.read(&args)
    }

    /// The rollout status of one workload (`kubectl get deployment/NAME …`), the same table.
    pub fn one_workload_status(&self, kind: WorkloadKind, namespace: &str, name: &str) -> Invocation {
        let columns = format!("custom-columns={WORKLOAD_STATUS_COLUMNS}");
        let object = format!("{}/{name}", kind.printed_kind());
        self.read(&["get", &object, "-n", namespace, "-o", &columns])
    }

    /// The same table, followed: one more row per change, until stopped.
    pub fn watch_pods(&self, namespace: &str, selector: Option<&str>) -> Invocation {
        let mut invocation = self.pods(namespace, selector);
        let at = invocation.args.iter().position(|a| a.starts_with("custom-columns=")).map_or(0, |i| i + 1);
        invocation.args.insert(at, "--watch".to_string());
        invocation
    }

    /// `kubectl get pods … --watch --output-watch-events` (kubectl 1.16+, [`has_watch_events`]):
    /// the current pods as `ADDED` rows, then one row per event, `DELETED` included, so the
    /// rows alone are an exact view ([`WatchEvents`]). The columns are [`POD_COLUMNS`] read
    /// from the event's `.object`, after `EVENT:.type`.
    pub fn watch_pod_events(&self, namespace: &str, selector: Option<&str>) -> Invocation {
        let columns = format!("custom-columns={}", event_columns(POD_COLUMNS));
        let mut args = vec!["get", "pods", "-n", namespace];
        if let Some(selector) = selector {
            args.extend(["-l", selector]);
        }
        args.extend(["-o", &columns, "--watch", "--output-watch-events"]);
        self.read(&args)
    }

    /// `kubectl get daemonset/NAME -n NS … --watch --output-watch-events`: one workload's
    /// rollout status ([`WORKLOAD_STATUS_COLUMNS`] from the event's `.object`), a row per
    /// change. kubectl watches one resource type per call, so each workload has its own.
    pub fn watch_workload(&self, kind: WorkloadKind, namespace: &str, name: &str) -> Invocation {
        let columns = format!("custom-columns={}", event_columns(WORKLOAD_STATUS_COLUMNS));
        let object = format!("{}/{name}", kind.printed_kind());
        self.read(&["get", &object, "-n", namespace, "-o", &columns, "--watch", "--output-watch-events"])
    }

    /// `rollout undo KIND/NAME -n NS`, then `extra`, then the connection flags.
    fn undo_args(&self, kind: WorkloadKind, namespace: &str, name: &str, extra: &[String]) -> Vec<String> {
        let mut args =
            vec!["rollout".into(), "undo".into(), format!("{}/{name}", kind.resource()), "-n".into(), namespace.into()];
        args.extend_from_slice(extra);
        self.invocation(args)
    }

    /// `kubectl rollout undo ds/NAME -n NS --to-revision=N`: always with an explicit revision,
    /// so that running it again is a no-op instead of a toggle back to v3.
    pub fn rollout_undo(&self, kind: WorkloadKind, namespace: &str, name: &str, revision: u64) -> Invocation {
        let args = self.undo_args(kind, namespace, name, &[format!("--to-revision={revision}")]);
        Invocation::mutating(Tool::Kubectl, &self.program, args)
    }

    /// `kubectl rollout undo … --dry-run=server`: the API server runs the whole change
    /// (authorization, admission, validation) and stores nothing. kubectl 1.18+ (see
    /// [`has_server_dry_run`]); it prints `daemonset.apps/calico-node rolled back (server dry run)`.
    pub fn rollout_undo_server_dry_run(
        &self,
        kind: WorkloadKind,
        namespace: &str,
        name: &str,
        revision: u64,
    ) -> Invocation {
        let extra = [format!("--to-revision={revision}"), "--dry-run=server".to_string()];
        Invocation::read_only(Tool::Kubectl, &self.program, self.undo_args(kind, namespace, name, &extra))
    }

    /// `kubectl rollout undo KIND/NAME -n NS --dry-run=server` without `--to-revision`: the
    /// rollback to the previous revision (kubectl's choice: the second highest revision
    /// number, [`crate::cluster::previous_revision`]). Started with the inspection, before the
    /// target is known; it stands for the rollback's own dry run when the target is that
    /// revision, so the permission check needs no second round trip.
    pub fn rollout_undo_previous_server_dry_run(&self, kind: WorkloadKind, namespace: &str, name: &str) -> Invocation {
        let extra = ["--dry-run=server".to_string()];
        Invocation::read_only(Tool::Kubectl, &self.program, self.undo_args(kind, namespace, name, &extra))
    }

    /// `kubectl auth can-i VERB RESOURCE[/NAME] -n NS` (or `--all-namespaces`): a
    /// SelfSubjectAccessReview. Prints `yes` (exit 0) or `no`, possibly ` - REASON` (exit 1).
    pub fn can_i(&self, verb: &str, resource: &str, namespace: Option<&str>) -> Invocation {
        let mut args = vec!["auth", "can-i", verb, resource];
        match namespace {
            Some(namespace) => args.extend(["-n", namespace]),
            None => args.push("--all-namespaces"),
        }
        self.read(&args)
    }

    /// The kubeconfig user of the context in use (`--minify` keeps only that context), to name
    /// who was refused. Reads the kubeconfig only, never the cluster.
    pub fn config_user(&self) -> Invocation {
        self.read(&["config", "view", "--minify", "-o", "jsonpath={.contexts[0].context.user}"])
    }

    /// Every namespace's name, to suggest one for a `--namespace` that does not exist.
    pub fn namespaces(&self) -> Invocation {
        self.read(&["get", "namespaces", "-o", "custom-columns=NAME:.metadata.name"])
    }

    /// `kubectl scale deployment/NAME -n NS --replicas=N` (Typha to 0 with `--stop-typha`, and
    /// back, the way back).
    pub fn scale(&self, namespace: &str, name: &str, replicas: u32) -> Invocation {
        let args = self.invocation(vec![
            "scale".into(),
            format!("deployment/{name}"),
            "-n".into(),
            namespace.into(),
            format!("--replicas={replicas}"),
        ]);
        Invocation::mutating(Tool::Kubectl, &self.program, args)
    }

    /// The same with `--dry-run=server` (kubectl 1.18+): authorized and admitted as the change
    /// itself, stored nowhere.
    pub fn scale_server_dry_run(&self, namespace: &str, name: &str, replicas: u32) -> Invocation {
        let mut invocation = self.scale(namespace, name, replicas);
        let at = invocation.args.iter().position(|a| a.starts_with("--replicas=")).map_or(0, |i| i + 1);
        invocation.args.insert(at, "--dry-run=server".to_string());
        Invocation::read_only(Tool::Kubectl, &invocation.program, invocation.args)
    }

    /// Delete one pod (OnDelete DaemonSets, `--replace-pods`). With `--wait=false` (kubectl
    /// 1.11+; older ones never waited): kubectl returns once the deletion is accepted instead
    /// of blocking until the pod is gone, which a pod on an unreachable node never is; the
    /// wait then follows the pods itself.
    pub fn delete_pod(&self, namespace: &str, name: &str) -> Invocation {
        let mut args = vec!["delete".into(), "pod".into(), name.into(), "-n".into(), namespace.into()];
        if self.client.as_ref().is_none_or(|v| (v.major, v.minor) >= (1, 11)) {
            args.push("--wait=false".into());
        }
        let args = self.invocation(args);
        Invocation::mutating(Tool::Kubectl, &self.program, args)
    }
}

/// `EVENT:.type,NAME:.object.metadata.name,…`: custom columns read from a watch event, whose
/// object is under `.object` (with `--output-watch-events`, the plain paths print `<none>` in
/// every cell: real kubectl 1.20 and 1.33, `fixtures/kubectl/watch-events/`).
pub fn event_columns(columns: &str) -> String {
    std::iter::once("EVENT:.type".to_string())
        .chain(columns.split(',').map(|column| match column.split_once(":.") {
            Some((header, path)) => format!("{header}:.object.{path}"),
            None => column.to_string(),
        }))
        .collect::<Vec<_>>()
        .join(",")
}

/// `--output-watch-events` came with kubectl 1.16 (kubernetes/kubernetes#72416); proven on
/// real 1.20, 1.27 and 1.33 (`fixtures/kubectl/watch-events/`).
pub fn has_watch_events(client: &Version) -> bool {
    (client.major, client.minor) >= (1, 16)
}

/// `--show-managed-fields` came with kubectl 1.21, which hid `metadata.managedFields` by
/// default (kubernetes/kubernetes#96878); kubectl 1.20 refuses the flag (`unknown flag`) and
/// prints them (real kubectl 1.20.2 and 1.27–1.33).
pub fn has_show_managed_fields(client: &Version) -> bool {
    (client.major, client.minor) >= (1, 21)
}

/// `--dry-run=server` came with kubectl 1.18 (`--server-dry-run` before, from 1.13).
pub fn has_server_dry_run(client: &Version) -> bool {
    (client.major, client.minor) >= (1, 18)
}

// ---------------------------------------------------------------------------------------------
// kubectl version --client
// ---------------------------------------------------------------------------------------------

/// Read the client version from `kubectl version --client`.
///
/// 1.28+ (`fixtures/kubectl/version-client/1.33.stdout`):
/// ```text
/// Client Version: v1.33.1
/// Kustomize Version: v5.6.0
/// ```
/// up to 1.27 (`fixtures/kubectl/version-client/1.20.stdout`):
/// ```text
/// Client Version: version.Info{Major:"1", Minor:"20", GitVersion:"v1.20.2", GitCommit:"faec…", …}
/// ```
pub fn parse_client_version(stdout: &str) -> Result<Version, Unrecognised> {
    let what = "`kubectl version --client` output";
    let line = stdout
        .lines()
        .find_map(|line| line.strip_prefix("Client Version:"))
        .ok_or_else(|| Unrecognised::new(what, "no `Client Version:` line", stdout))?
        .trim();
    let text = match line.strip_prefix("version.Info{") {
        Some(info) => {
            // `GitVersion:"v1.20.2"`: the value between the quotes after the key.
            info.split_once(r#"GitVersion:""#)
                .and_then(|(_, rest)| rest.split_once('"'))
                .map(|(value, _)| value.to_string())
                .ok_or_else(|| Unrecognised::new(what, "no `GitVersion` in `version.Info{…}`", stdout))?
        }
        None => line.to_string(),
    };
    version::parse_lenient(&text).ok_or_else(|| Unrecognised::new(what, format!("`{text}` is not a version"), stdout))
}

// ---------------------------------------------------------------------------------------------
// "Nothing found", stderr, exit 0
// ---------------------------------------------------------------------------------------------

/// kubectl's "nothing found" notice on stderr (exit 0, empty stdout): `No resources found.`
/// (<=1.16), `No resources found in kube-system namespace.` or `No resources found` (1.17+).
pub fn is_nothing_found(stderr: &str) -> bool {
    stderr.lines().any(|line| line.trim_start().starts_with("No resources found"))
}

/// A custom-columns table, or the empty table when kubectl found nothing.
fn custom_columns<'a>(what: &str, output: &'a Output, expected: &[&str]) -> Result<Table<'a>, Unrecognised> {
    if output.stdout.trim().is_empty() {
        if is_nothing_found(&output.stderr) || output.stderr.trim().is_empty() {
            return Ok(Table { headers: Vec::new(), rows: Vec::new() });
        }
        return Err(Unrecognised::new(what, "no table on stdout", &output.stderr));
    }
    let table = table::parse(what, &output.stdout)?;
    table::expect_headers(what, &table, expected, &output.stdout)?;
    Ok(table)
}

/// A custom-columns cell: `<none>` means the field is absent.
fn present(cell: &str) -> Option<&str> {
    (cell != "<none>").then_some(cell)
}

/// `quay.io/calico/node:v3.0.4,quay.io/calico/cni:v2.0.2` (custom-columns joins with `,`).
fn images(cell: &str) -> Vec<String> {
    present(cell).map(|c| c.split(',').map(str::to_string).collect()).unwrap_or_default()
}

fn number<T: std::str::FromStr>(what: &str, column: &str, cell: &str, text: &str) -> Result<Option<T>, Unrecognised> {
    match present(cell) {
        None => Ok(None),
        Some(value) => value
            .parse()
            .map(Some)
            .map_err(|_| Unrecognised::new(what, format!("`{value}` in column {column} is not a number"), text)),
    }
}

// ---------------------------------------------------------------------------------------------
// DaemonSets and Deployments
// ---------------------------------------------------------------------------------------------

/// One DaemonSet or Deployment as the custom-columns table shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WorkloadRow {
    pub name: String,
    /// DaemonSet: `status.desiredNumberScheduled`; Deployment: `spec.replicas`.
    pub desired: Option<u32>,
    /// `RollingUpdate`, `OnDelete` (DaemonSet), `Recreate` (Deployment); `None` if unset.
    pub strategy: Option<String>,
    pub images: Vec<String>,
    /// The `k8s-app` label of the workload's selector (`calico-node`), if it selects by one.
    pub app: Option<String>,
}

/// Read `kubectl get daemonsets|deployments -o custom-columns=NAME,DESIRED,STRATEGY,IMAGES,APP`
/// (`fixtures/kubectl/get-daemonsets/*`):
/// ```text
/// NAME          DESIRED   STRATEGY        IMAGES                                                 APP
/// calico-node   3         RollingUpdate   quay.io/calico/node:v3.0.4,quay.io/calico/cni:v2.0.2   calico-node
/// ```
pub fn parse_workloads(what: &str, output: &Output) -> Result<Vec<WorkloadRow>, Unrecognised> {
    let table = custom_columns(what, output, &["NAME", "DESIRED", "STRATEGY", "IMAGES", "APP"])?;
    table
        .rows
        .iter()
        .map(|row| {
            Ok(WorkloadRow {
                name: row[0].to_string(),
                desired: number(what, "DESIRED", row[1], &output.stdout)?,
                strategy: present(row[2]).map(str::to_string),
                images: images(row[3]),
                app: present(row[4]).map(str::to_string),
            })
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Inspection in one query: the namespace's workloads and their revisions, as JSON
// ---------------------------------------------------------------------------------------------

/// What [`Kubectl::objects`] asks for, in the order kubectl prints them.
pub const OBJECT_KINDS: &str = "daemonsets,deployments,controllerrevisions,replicasets";

/// A DaemonSet or Deployment of the namespace, read from its JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WorkloadObject {
    pub row: WorkloadRow,
    /// Every variable of every container of the pod template, in order.
    pub env: Vec<EnvVar>,
    /// The cluster lock's annotation ([`crate::lease::ANNOTATION`]), when the object carries it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lock: Option<String>,
    /// Who manages it: its labels, annotations and field managers.
    pub management: Management,
}

/// Who manages an object, as its metadata says: labels, annotations and the managers of
/// `metadata.managedFields` (read by `crate::reconcilers`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Management {
    pub labels: std::collections::BTreeMap<String, String>,
    /// Every annotation but `kubectl.kubernetes.io/last-applied-configuration` (a whole copy
    /// of the object, which names no manager).
    pub annotations: std::collections::BTreeMap<String, String>,
    /// `metadata.managedFields`, in the API server's order.
    pub managers: Vec<FieldManager>,
}

/// One entry of `metadata.managedFields`: who wrote which fields, how and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldManager {
    /// `kubectl-client-side-apply`, `kubectl-rollout`, `argocd-controller`, `helm`…
    pub manager: String,
    /// `Update` or `Apply` (server-side apply).
    pub operation: String,
    /// When it last changed its fields (RFC 3339, to the second), as the API server wrote it.
    pub time: Option<String>,
    /// It owns the image of a container of the pod template (`f:spec` → `f:template` → `f:spec`
    /// → `f:containers` → `k:{"name":…}` → `f:image`): it was the last to set that image.
    pub sets_template_images: bool,
}

/// Whether a managedFields entry's `fieldsV1` holds a container image of the pod template.
fn sets_template_images(fields: Option<&serde_json::Value>) -> bool {
    let containers = fields.and_then(|f| f.pointer("/f:spec/f:template/f:spec/f:containers"));
    containers.and_then(|c| c.as_object()).is_some_and(|map| {
        map.iter().any(|(key, container)| key.starts_with("k:") && container.get("f:image").is_some())
    })
}

fn management(metadata: &Metadata) -> Management {
    Management {
        labels: metadata.labels.clone(),
        annotations: metadata
            .annotations
            .iter()
            .filter(|(key, _)| key.as_str() != "kubectl.kubernetes.io/last-applied-configuration")
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        managers: metadata
            .managed_fields
            .iter()
            .map(|entry| FieldManager {
                manager: entry.manager.clone(),
                operation: entry.operation.clone(),
                time: entry.time.clone(),
                sets_template_images: sets_template_images(entry.fields_v1.as_ref()),
            })
            .collect(),
    }
}

/// A ControllerRevision or ReplicaSet: the revision and the pod template it restores.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RevisionObject {
    pub row: RevisionRow,
    /// The pod template, without the `$patch` key of a ControllerRevision's patch and the
    /// `pod-template-hash` label the Deployment controller adds to a ReplicaSet's (neither is
    /// part of what a rollback restores).
    pub template: serde_json::Value,
}

/// Everything inspection reads, from one `kubectl get daemonsets,deployments,controllerrevisions,replicasets -o json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Objects {
    pub daemonsets: Vec<WorkloadObject>,
    pub deployments: Vec<WorkloadObject>,
    pub controller_revisions: Vec<RevisionObject>,
    pub replica_sets: Vec<RevisionObject>,
}

/// The fields of an object this tool reads; the rest of the JSON is ignored.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct Item {
    kind: String,
    metadata: Metadata,
    spec: Spec,
    status: WorkloadStatusJson,
    /// ControllerRevision: its revision number and the template patch.
    revision: Option<u64>,
    data: Option<serde_json::Value>,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct Metadata {
    name: String,
    creation_timestamp: String,
    annotations: std::collections::BTreeMap<String, String>,
    labels: std::collections::BTreeMap<String, String>,
    owner_references: Vec<OwnerReference>,
    managed_fields: Vec<ManagedFieldsEntry>,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct ManagedFieldsEntry {
    manager: String,
    operation: String,
    time: Option<String>,
    #[serde(rename = "fieldsV1")]
    fields_v1: Option<serde_json::Value>,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
struct OwnerReference {
    name: String,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct Spec {
    replicas: Option<u32>,
    selector: Selector,
    update_strategy: Strategy,
    strategy: Strategy,
    template: Option<serde_json::Value>,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct Selector {
    match_labels: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
struct Strategy {
    #[serde(rename = "type")]
    kind: Option<String>,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct WorkloadStatusJson {
    desired_number_scheduled: Option<u32>,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
struct TemplateJson {
    spec: PodSpecJson,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
struct PodSpecJson {
    containers: Vec<ContainerJson>,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct ContainerJson {
    image: String,
    env: Vec<EnvJson>,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct EnvJson {
    name: String,
    value: Option<String>,
    value_from: Option<serde_json::Value>,
}

fn template_of(template: Option<&serde_json::Value>) -> Result<TemplateJson, String> {
    match template {
        None => Ok(TemplateJson::default()),
        Some(value) => {
            TemplateJson::deserialize(value).map_err(|e| format!("a pod template this tool cannot read: {e}"))
        }
    }
}

use serde::Deserialize as _;

/// Read `kubectl get daemonsets,deployments,controllerrevisions,replicasets -n NS -o json`
/// (`fixtures/kubectl/get-objects/*`): a `List` of every such object of the namespace (empty:
/// `{"items": [], "kind": "List", …}`, exit 0, nothing on stderr). JSON is what every kubectl
/// prints alike, where tables and jsonpath differ across versions.
pub fn parse_objects(output: &Output) -> Result<Objects, Unrecognised> {
    let what = "`kubectl get daemonsets,deployments,controllerrevisions,replicasets -o json` output";
    let text = &output.stdout;
    let refuse = |reason: String| Unrecognised::new(what, reason, text);
    let document: serde_json::Value = serde_json::from_str(text).map_err(|e| refuse(format!("not JSON: {e}")))?;
    if document.get("kind").and_then(|k| k.as_str()) != Some("List") {
        return Err(refuse("not a `List`".to_string()));
    }
    let items =
        document.get("items").and_then(|i| i.as_array()).ok_or_else(|| refuse("a `List` without `items`".into()))?;
    let mut objects = Objects::default();
    for value in items {
        let item = Item::deserialize(value).map_err(|e| refuse(format!("an object this tool cannot read: {e}")))?;
        let name = item.metadata.name.clone();
        if name.is_empty() {
            return Err(refuse(format!("a {} without a name", item.kind)));
        }
        let owner = item.metadata.owner_references.first().map(|o| o.name.clone()).filter(|o| !o.is_empty());
        match item.kind.as_str() {
            "DaemonSet" | "Deployment" => {
                let template = template_of(item.spec.template.as_ref()).map_err(|e| refuse(format!("{name}: {e}")))?;
                let daemonset = item.kind == "DaemonSet";
                let row = WorkloadRow {
                    name,
                    desired: if daemonset { item.status.desired_number_scheduled } else { item.spec.replicas },
                    strategy: if daemonset { item.spec.update_strategy.kind } else { item.spec.strategy.kind },
                    images: template.spec.containers.iter().map(|c| c.image.clone()).collect(),
                    app: item.spec.selector.match_labels.get("k8s-app").cloned(),
                };
                let env = template
                    .spec
                    .containers
                    .iter()
                    .flat_map(|c| &c.env)
                    .map(|e| EnvVar {
                        name: e.name.clone(),
                        value: e.value.clone().filter(|v| !v.is_empty()),
                        value_from: e.value_from.is_some(),
                        config_map: e.value_from.as_ref().and_then(|from| {
                            let reference = from.get("configMapKeyRef")?;
                            let text = |field: &str| Some(reference.get(field)?.as_str()?.to_string());
                            Some((text("name")?, text("key")?))
                        }),
                    })
                    .collect();
                let lock = item.metadata.annotations.get(crate::lease::ANNOTATION).cloned();
                let object = WorkloadObject { row, env, lock, management: management(&item.metadata) };
                if daemonset {
                    objects.daemonsets.push(object);
                } else {
                    objects.deployments.push(object);
                }
            }
            "ControllerRevision" | "ReplicaSet" => {
                let revision_set = item.kind == "ControllerRevision";
                let (revision, mut template) = if revision_set {
                    (item.revision, item.data.as_ref().and_then(|d| d.pointer("/spec/template")).cloned())
                } else {
                    let revision = match item.metadata.annotations.get("deployment.kubernetes.io/revision") {
                        None => None,
                        Some(text) => Some(text.parse::<u64>().map_err(|_| {
                            refuse(format!("{name}: the revision annotation `{text}` is not a number"))
                        })?),
                    };
                    (revision, item.spec.template.clone())
                };
                if let Some(serde_json::Value::Object(map)) = &mut template {
                    map.remove("$patch");
                }
                if let Some(labels) =
                    template.as_mut().and_then(|t| t.pointer_mut("/metadata/labels")).and_then(|l| l.as_object_mut())
                {
                    labels.remove("pod-template-hash");
                }
                let images = template_of(template.as_ref())
                    .map_err(|e| refuse(format!("{name}: {e}")))?
                    .spec
                    .containers
                    .iter()
                    .map(|c| c.image.clone())
                    .collect();
                let row = RevisionRow { name, revision, created: item.metadata.creation_timestamp, owner, images };
                let object = RevisionObject { row, template: template.unwrap_or(serde_json::Value::Null) };
                if revision_set {
                    objects.controller_revisions.push(object);
                } else {
                    objects.replica_sets.push(object);
                }
            }
            other => return Err(refuse(format!("an object of kind `{other}`, which was not asked for"))),
        }
    }
    Ok(objects)
}

/// A ConfigMap as `-o json` shows it: its resourceVersion and data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConfigMap {
    pub resource_version: String,
    pub data: std::collections::BTreeMap<String, String>,
}

/// Read `kubectl get --raw /api/v1/namespaces/NS/configmaps/NAME` (the API server's compact JSON;
/// `fixtures/kubectl/get-configmap/*`): the ConfigMap's resourceVersion and `data`, key by key;
/// `None` when kubectl said
/// it does not exist (`Error from server (NotFound): configmaps "calico-config" not found`).
pub fn parse_config_map(output: &Output) -> Result<Option<ConfigMap>, Unrecognised> {
    let what = "`kubectl … configmap -o json` output";
    if !output.success() && is_not_found(&output.stderr) {
        return Ok(None);
    }
    let refuse = |reason: String| Unrecognised::new(what, reason, &output.stdout);
    let document: serde_json::Value =
        serde_json::from_str(&output.stdout).map_err(|e| refuse(format!("not JSON: {e}")))?;
    if document.get("kind").and_then(|k| k.as_str()) != Some("ConfigMap") {
        return Err(refuse("not a `ConfigMap`".into()));
    }
    let data = match document.get("data") {
        None | Some(serde_json::Value::Null) => Default::default(),
        Some(serde_json::Value::Object(map)) => map
            .iter()
            .map(|(key, value)| {
                value
                    .as_str()
                    .map(|v| (key.clone(), v.to_string()))
                    .ok_or_else(|| refuse(format!("`data.{key}` is not a string")))
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(refuse("`data` is not an object".into())),
    };
    let resource_version =
        document.pointer("/metadata/resourceVersion").and_then(|v| v.as_str()).unwrap_or_default().to_string();
    Ok(Some(ConfigMap { resource_version, data }))
}

/// What `kubectl patch ds/NAME … -o name` printed of the lock's patch: `daemonset.apps/NAME`
/// (`fixtures/kubectl/patch-lock/*`). `Ok(())` for that, an error for anything else (exit 0).
pub fn parse_lock_patched(name: &str, output: &Output) -> Result<(), Unrecognised> {
    let printed = output.stdout.trim();
    let (_, printed_name) = printed.rsplit_once('/').unwrap_or(("", printed));
    if printed.starts_with("daemonset") && printed_name == name && !printed.contains('\n') {
        return Ok(());
    }
    Err(Unrecognised::new(
        "`kubectl patch -o name` output",
        format!("expected `daemonset.apps/{name}`"),
        &output.stdout,
    ))
}

/// A Job of the namespace, as [`parse_jobs`] reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JobRow {
    pub name: String,
    pub management: Management,
    /// Pods running now (`status.active`).
    pub active: u32,
    /// RFC 3339; `None` while it runs or after it failed.
    pub completed: Option<String>,
}

/// Read `kubectl get --raw /apis/batch/v1/namespaces/NS/jobs` (the API server's compact
/// `JobList`; `fixtures/kubectl/get-jobs/*`): each Job's name, labels, annotations, running pods
/// and completion time. A namespace without Jobs is a `JobList` whose `items` is empty.
pub fn parse_jobs(output: &Output) -> Result<Vec<JobRow>, Unrecognised> {
    let what = "`kubectl get --raw /apis/batch/v1/namespaces/NS/jobs` output";
    let refuse = |reason: String| Unrecognised::new(what, reason, &output.stdout);
    let document: serde_json::Value =
        serde_json::from_str(&output.stdout).map_err(|e| refuse(format!("not JSON: {e}")))?;
    if document.get("kind").and_then(|k| k.as_str()) != Some("JobList") {
        return Err(refuse("not a `JobList`".into()));
    }
    let items = match document.get("items") {
        // The API server writes `"items":[]` for none; a `null` is read as none too.
        None | Some(serde_json::Value::Null) => Vec::new(),
        Some(serde_json::Value::Array(items)) => items.clone(),
        Some(_) => return Err(refuse("`items` is not a list".into())),
    };
    items
        .iter()
        .map(|value| {
            #[derive(Default, serde::Deserialize)]
            #[serde(default, rename_all = "camelCase")]
            struct JobStatus {
                active: u32,
                completion_time: Option<String>,
            }
            #[derive(Default, serde::Deserialize)]
            #[serde(default)]
            struct Job {
                metadata: Metadata,
                status: JobStatus,
            }
            let job = Job::deserialize(value).map_err(|e| refuse(format!("a Job this tool cannot read: {e}")))?;
            if job.metadata.name.is_empty() {
                return Err(refuse("a Job without a name".into()));
            }
            Ok(JobRow {
                name: job.metadata.name.clone(),
                management: management(&job.metadata),
                active: job.status.active,
                completed: job.status.completion_time,
            })
        })
        .collect()
}

/// The API server refused a JSON patch because it does not apply to the object as it is: a
/// `test` that failed (the lock is not as this run last saw it), or a `replace`/`remove` of an
/// annotation that is not there. kube-apiserver answers 422 with the JSON patch library's words
/// in the status's causes, which kubectl does not print: `The request is invalid` (1.20), `The
/// request is invalid: the server rejected our request due to an error in our request` (1.27,
/// 1.33; `fixtures/kubectl/patch-lock/`). A value the API server finds invalid (an annotation
/// too long) reads `The DaemonSet "…" is invalid: …` instead. Either way the lock is read back
/// before anything is decided.
pub fn is_test_failed(stderr: &str) -> bool {
    stderr.lines().map(str::trim).any(|line| {
        line == "The request is invalid"
            || line == "The request is invalid: the server rejected our request due to an error in our request"
    })
}

// ---------------------------------------------------------------------------------------------
// Revision history: ControllerRevisions (DaemonSet) and ReplicaSets (Deployment)
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RevisionRow {
    pub name: String,
    /// `None` for a ReplicaSet that carries no revision annotation.
    pub revision: Option<u64>,
    /// RFC 3339, as the API server prints it (`2026-11-23T20:22:59Z`).
    pub created: String,
    pub owner: Option<String>,
    pub images: Vec<String>,
}

// ---------------------------------------------------------------------------------------------
// The calico-node environment: which datastore
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EnvVar {
    pub name: String,
    /// A literal value; `None` when unset or taken from elsewhere (`valueFrom`).
    pub value: Option<String>,
    /// Set from a ConfigMap, Secret or field reference: the value is not in the template.
    pub value_from: bool,
    /// Set from a ConfigMap: its name and key (`calico-config`, `cni_network_config`).
    pub config_map: Option<(String, String)>,
}

// ---------------------------------------------------------------------------------------------
// Pods
// ---------------------------------------------------------------------------------------------

/// A pod anywhere in the cluster, for the pods-at-risk list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PodSummary {
    pub namespace: String,
    pub name: String,
    pub created: String,
    pub host_network: bool,
    /// The node it was scheduled to; `None`: never scheduled (no `spec.nodeName`).
    pub node: Option<String>,
    /// `status.phase` (`Pending`, `Running`, `Succeeded`, `Failed`, `Unknown`), when set.
    pub phase: Option<String>,
}

/// What a raw API path may carry unescaped: letters, digits, `-`, `.`, `_` (RFC 3986's
/// unreserved characters but `~`), which covers every Kubernetes name and continue token;
/// anything else is percent-encoded, so that no value read from the cluster can reshape a path.
const UNRESERVED: &percent_encoding::AsciiSet =
    &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_');

/// One segment or query value of a raw API path, percent-encoded where it needs to be.
fn segment(value: &str) -> String {
    percent_encoding::utf8_percent_encode(value, UNRESERVED).to_string()
}

/// Pods per page of [`Kubectl::pods_page`]: kubectl's own `--chunk-size` default.
pub const PODS_PAGE: usize = 500;

/// One page of [`Kubectl::pods_page`], read: the pods kept, how many the page held, and the
/// token of the next page (`None`: the last one).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PodsPage {
    pub kept: Vec<PodSummary>,
    pub count: usize,
    pub next: Option<String>,
}

/// The fields of a pod the pods-at-risk list reads; the rest of each object is ignored.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct PodJson {
    metadata: PodMetadataJson,
    spec: PodPlacementJson,
    status: PodPhaseJson,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct PodMetadataJson {
    namespace: String,
    name: String,
    creation_timestamp: String,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct PodPlacementJson {
    host_network: bool,
    node_name: Option<String>,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
struct PodPhaseJson {
    phase: Option<String>,
}

#[derive(Debug, serde::Deserialize)]
struct PodListJson {
    kind: String,
    #[serde(default)]
    metadata: ListMetadataJson,
    items: Option<Vec<PodJson>>,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct ListMetadataJson {
    #[serde(rename = "continue")]
    next: Option<String>,
}

/// Read one page of `kubectl get --raw /api/v1/pods?limit=N[&continue=T]`
/// (`fixtures/kubectl/get-raw-pods/*`): the API server's `PodList`, `metadata.continue` naming
/// the next page (absent or empty on the last). Keeps only the pods `keep` wants, so that no
/// copy of every pod stays in memory (the pods at risk are a few of them).
pub fn parse_pods_page(output: &Output, mut keep: impl FnMut(&PodSummary) -> bool) -> Result<PodsPage, Unrecognised> {
    let what = "`kubectl get --raw /api/v1/pods` page";
    let text = &output.stdout;
    let refuse = |reason: String| Unrecognised::new(what, reason, text);
    let list: PodListJson = serde_json::from_str(text).map_err(|e| refuse(format!("not a pod list: {e}")))?;
    if list.kind != "PodList" {
        return Err(refuse(format!("a `{}`, not a `PodList`", list.kind)));
    }
    let items = list.items.unwrap_or_default();
    let count = items.len();
    let mut kept = Vec::new();
    for pod in items {
        if pod.metadata.name.is_empty() || pod.metadata.namespace.is_empty() {
            return Err(refuse("a pod without a name or a namespace".into()));
        }
        let summary = PodSummary {
            namespace: pod.metadata.namespace,
            name: pod.metadata.name,
            created: pod.metadata.creation_timestamp,
            host_network: pod.spec.host_network,
            node: pod.spec.node_name.filter(|n| !n.is_empty()),
            phase: pod.status.phase.filter(|p| !p.is_empty()),
        };
        if keep(&summary) {
            kept.push(summary);
        }
    }
    Ok(PodsPage { kept, count, next: list.metadata.next.filter(|n| !n.is_empty()) })
}

/// What the journal keeps of one pod read whole ([`Kubectl::pod`], `Journaled::Pod`): what
/// [`parse_pod`] reads of it, a few hundred bytes where kubectl prints 12 to 26 KB. `None`
/// when the text is not a pod: the journal then keeps it whole.
pub fn pod_record(text: &str) -> Option<serde_json::Value> {
    let output = Output {
        code: Some(0),
        signal: None,
        stdout: text.to_string(),
        stderr: String::new(),
        duration: std::time::Duration::ZERO,
        stopped: false,
    };
    parse_pod(&output).ok().and_then(|detail| serde_json::to_value(detail).ok())
}

/// What the journal keeps of a page of [`Kubectl::pods_page`] (`Journaled::PodsPage`): its
/// kind, pod count and next token, and of each pod the fields the listing reads, `[namespace,
/// name, creationTimestamp, hostNetwork, nodeName]`, about 100 bytes where the API server
/// sends 3 to 12 KB. `None` when the text is not a pod list: the journal then keeps it whole.
pub fn pods_page_record(text: &str) -> Option<serde_json::Value> {
    let list: PodListJson = serde_json::from_str(text).ok()?;
    let items = list.items?;
    if list.kind != "PodList" {
        return None;
    }
    let pods: Vec<serde_json::Value> = items
        .into_iter()
        .map(|pod| {
            serde_json::json!([
                pod.metadata.namespace,
                pod.metadata.name,
                pod.metadata.creation_timestamp,
                pod.spec.host_network,
                pod.spec.node_name
            ])
        })
        .collect();
    Some(serde_json::json!({
        "kind": list.kind,
        "count": pods.len(),
        "continue": list.metadata.next,
        "fields": ["namespace", "name", "creationTimestamp", "hostNetwork", "nodeName"],
        "pods": pods,
    }))
}

/// A pod of the namespace, with what convergence needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PodStatus {
    pub name: String,
    /// `Pending`, `Running`, `Succeeded`, `Failed`, `Unknown`.
    pub phase: Option<String>,
    /// The `Ready` condition: `None` before the pod has one (unscheduled).
    pub ready: Option<bool>,
    pub images: Vec<String>,
    pub owner: Option<String>,
    /// The pod has a deletion timestamp (`Terminating`).
    pub deleting: bool,
    pub node: Option<String>,
    /// The deletion timestamp: when its grace period ends.
    pub deletion: Option<String>,
    /// The reasons the containers that wait give (`ContainerCreating`, `ImagePullBackOff`, …).
    pub waiting: Vec<String>,
    /// The containers' restarts, together.
    pub restarts: u64,
    /// The PodScheduled condition's reason (`Unschedulable`), when it has one.
    pub scheduling: Option<String>,
    /// The ContainersReady condition.
    pub containers_ready: Option<bool>,
}

impl PodStatus {
    /// Running, not being deleted, its `Ready` condition True.
    pub fn is_running_and_ready(&self) -> bool {
        self.phase.as_deref() == Some("Running") && !self.deleting && self.ready == Some(true)
    }
}

const POD_HEADERS: [&str; 11] =
    ["NAME", "PHASE", "READY", "IMAGES", "OWNER", "DELETING", "NODE", "WAITING", "RESTARTS", "SCHEDULED", "CONTAINERS"];

/// A condition's status cell: `True`, `False` or `Unknown` (not true), `<none>` (no condition).
fn condition(what: &str, header: &str, cell: &str, text: &str) -> Result<Option<bool>, Unrecognised> {
    match present(cell) {
        None => Ok(None),
        Some("True") => Ok(Some(true)),
        Some("False" | "Unknown") => Ok(Some(false)),
        Some(other) => Err(Unrecognised::new(what, format!("{header} `{other}` is not True, False or Unknown"), text)),
    }
}

fn pod_row(what: &str, row: &[&str], text: &str) -> Result<PodStatus, Unrecognised> {
    let ready = condition(what, "READY", row[2], text)?;
    let mut restarts = 0u64;
    for count in images(row[8]) {
        restarts += count
            .parse::<u64>()
            .map_err(|_| Unrecognised::new(what, format!("RESTARTS `{}` is not a list of counts", row[8]), text))?;
    }
    Ok(PodStatus {
        name: row[0].to_string(),
        phase: present(row[1]).map(str::to_string),
        ready,
        images: images(row[3]),
        owner: present(row[4]).map(str::to_string),
        deleting: present(row[5]).is_some(),
        node: present(row[6]).map(str::to_string),
        deletion: present(row[5]).map(str::to_string),
        waiting: images(row[7]),
        restarts,
        scheduling: present(row[9]).map(str::to_string),
        containers_ready: condition(what, "CONTAINERS", row[10], text)?,
    })
}

/// Read `kubectl get pods -n NS -o custom-columns=NAME,PHASE,READY,IMAGES,OWNER,DELETING,NODE,
/// WAITING,RESTARTS,SCHEDULED,CONTAINERS` ([`POD_COLUMNS`], `fixtures/kubectl/get-pods-status/*`):
/// ```text
/// NAME                PHASE     READY   IMAGES                       OWNER         DELETING   NODE     WAITING            RESTARTS   SCHEDULED   CONTAINERS
/// calico-node-nx2f6   Running   True    quay.io/calico/node:v3.0.4   calico-node   <none>     node-1   <none>             0          <none>      True
/// calico-node-7xk2p   Pending   False   quay.io/calico/node:v2.6.12  calico-node   <none>     node-2   ImagePullBackOff   0          <none>      False
/// ```
pub fn parse_pods(output: &Output) -> Result<Vec<PodStatus>, Unrecognised> {
    let what = "`kubectl get pods` table";
    let table = custom_columns(what, output, &POD_HEADERS)?;
    table.rows.iter().map(|row| pod_row(what, row, &output.stdout)).collect()
}

/// One container of a pod read whole ([`parse_pod`]): what its status says beyond the table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ContainerDetail {
    pub name: String,
    pub image: String,
    /// The reason it waits and the kubelet's message, when it waits.
    pub waiting_reason: Option<String>,
    pub waiting_message: Option<String>,
    pub restarts: u64,
    /// Why it last ended (`Error`, `OOMKilled`, …) and with what exit code, after a restart.
    pub last_termination: Option<String>,
    pub last_exit_code: Option<i64>,
}

/// A pod read whole: its containers, the scheduler's word, its deletion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PodDetail {
    pub name: String,
    pub node: Option<String>,
    pub containers: Vec<ContainerDetail>,
    /// The PodScheduled condition's message when it is False (the scheduler's words).
    pub unschedulable_message: Option<String>,
    /// The Ready condition's reason and message when it is not True.
    pub not_ready: Option<String>,
    pub deletion_timestamp: Option<String>,
    pub deletion_grace_seconds: Option<i64>,
}

/// Read `kubectl get pod NAME -n NS -o json` (`fixtures/kubectl/get-pod/*`): a `Pod`.
pub fn parse_pod(output: &Output) -> Result<PodDetail, Unrecognised> {
    let what = "`kubectl get pod NAME -o json` output";
    let text = &output.stdout;
    let refuse = |reason: String| Unrecognised::new(what, reason, text);
    let pod: serde_json::Value = serde_json::from_str(text).map_err(|e| refuse(format!("not JSON: {e}")))?;
    if pod.get("kind").and_then(|k| k.as_str()) != Some("Pod") {
        return Err(refuse("not a `Pod`".to_string()));
    }
    let string = |value: &serde_json::Value, path: &[&str]| -> Option<String> {
        path.iter().try_fold(value, |v, key| v.get(key)).and_then(|v| v.as_str()).map(str::to_string)
    };
    let name = string(&pod, &["metadata", "name"]).ok_or_else(|| refuse("a pod without a name".into()))?;
    let empty = Vec::new();
    let statuses = pod.pointer("/status/containerStatuses").and_then(|v| v.as_array()).unwrap_or(&empty);
    let specs = pod.pointer("/spec/containers").and_then(|v| v.as_array()).unwrap_or(&empty);
    let mut containers = Vec::new();
    for spec in specs {
        let container = string(spec, &["name"]).ok_or_else(|| refuse("a container without a name".into()))?;
        let status = statuses.iter().find(|s| s.get("name").and_then(|n| n.as_str()) == Some(container.as_str()));
        let field = |path: &[&str]| status.and_then(|s| string(s, path));
        containers.push(ContainerDetail {
            image: field(&["image"]).or_else(|| string(spec, &["image"])).unwrap_or_default(),
            waiting_reason: field(&["state", "waiting", "reason"]),
            waiting_message: field(&["state", "waiting", "message"]),
            restarts: status.and_then(|s| s.get("restartCount")).and_then(|c| c.as_u64()).unwrap_or(0),
            last_termination: field(&["lastState", "terminated", "reason"]),
            last_exit_code: status.and_then(|s| s.pointer("/lastState/terminated/exitCode")).and_then(|c| c.as_i64()),
            name: container,
        });
    }
    let conditions = pod.pointer("/status/conditions").and_then(|v| v.as_array()).unwrap_or(&empty);
    let condition = |kind: &str| conditions.iter().find(|c| c.get("type").and_then(|t| t.as_str()) == Some(kind));
    let unschedulable_message = condition("PodScheduled")
        .filter(|c| c.get("status").and_then(|s| s.as_str()) == Some("False"))
        .map(|c| string(c, &["message"]).unwrap_or_default());
    let not_ready = condition("Ready").filter(|c| c.get("status").and_then(|s| s.as_str()) != Some("True")).map(|c| {
        [string(c, &["reason"]), string(c, &["message"])].into_iter().flatten().collect::<Vec<_>>().join(": ")
    });
    Ok(PodDetail {
        name,
        node: string(&pod, &["spec", "nodeName"]),
        containers,
        unschedulable_message,
        not_ready,
        deletion_timestamp: string(&pod, &["metadata", "deletionTimestamp"]),
        deletion_grace_seconds: pod.pointer("/metadata/deletionGracePeriodSeconds").and_then(|g| g.as_i64()),
    })
}

/// Reads `kubectl get pods --watch` line by line: the header first, then one row per event
/// (a pod appears again each time it changes; the last row seen for a name is its state).
#[derive(Debug, Default)]
pub struct PodWatch {
    header_seen: bool,
}

impl PodWatch {
    /// Feed one line; `Ok(None)` for the header, a repeated header or a blank line.
    pub fn feed(&mut self, line: &str) -> Result<Option<PodStatus>, Unrecognised> {
        let what = "`kubectl get pods --watch` stream";
        let row = table::cells(line);
        if row.is_empty() {
            return Ok(None);
        }
        if row.iter().copied().eq(POD_HEADERS) {
            self.header_seen = true;
            return Ok(None);
        }
        if !self.header_seen {
            return Err(Unrecognised::new(what, format!("expected the header {}", POD_HEADERS.join(" ")), line));
        }
        if row.len() != POD_HEADERS.len() {
            return Err(Unrecognised::new(
                what,
                format!("a row has {} cells where the header has {}", row.len(), POD_HEADERS.len()),
                line,
            ));
        }
        pod_row(what, &row, line).map(Some)
    }
}

// ---------------------------------------------------------------------------------------------
// Live rollout status
// ---------------------------------------------------------------------------------------------

/// One workload's rollout status, as [`WORKLOAD_STATUS_COLUMNS`] shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WorkloadStatus {
    pub kind: WorkloadKind,
    pub name: String,
    pub generation: u64,
    pub observed_generation: u64,
    /// DaemonSet `desiredNumberScheduled`; Deployment `spec.replicas`.
    pub desired: u32,
    /// DaemonSet `updatedNumberScheduled`; Deployment `status.updatedReplicas`.
    pub updated: u32,
    /// DaemonSet `numberAvailable`; Deployment `status.availableReplicas`.
    pub available: u32,
    /// Deployment `status.replicas` (old pods included); a DaemonSet's is its `desired`.
    pub current: u32,
    /// The live pod template's images.
    pub images: Vec<String>,
}

impl WorkloadStatus {
    /// Why `kubectl rollout status` would still wait, or `None` when the rollout is complete:
    /// the controller saw the latest template, every desired pod is updated and available, and
    /// (Deployment) no old replica is left.
    pub fn incomplete(&self) -> Option<String> {
        if self.observed_generation < self.generation {
            return Some(format!(
                "the controller has not seen the latest template yet (observed generation {} < {})",
                self.observed_generation, self.generation
            ));
        }
        if self.updated < self.desired {
            return Some(format!("{} of {} pods updated", self.updated, self.desired));
        }
        if self.current > self.updated {
            return Some(format!("{} old pods pending termination", self.current - self.updated));
        }
        if self.available < self.desired {
            return Some(format!("{} of {} updated pods available", self.available, self.desired));
        }
        None
    }
}

const WORKLOAD_STATUS_HEADERS: [&str; 11] = [
    "NAME",
    "GENERATION",
    "OBSERVED",
    "DESIRED",
    "UPDATED",
    "AVAILABLE",
    "SPEC",
    "REPLICAS",
    "UPDATEDREPLICAS",
    "AVAILABLEREPLICAS",
    "IMAGES",
];

/// Read [`WORKLOAD_STATUS_COLUMNS`] (`fixtures/kubectl/get-workload-status/*`): a row with
/// DESIRED is a DaemonSet (`desiredNumberScheduled` is always printed), one with SPEC a
/// Deployment; `<none>` in a counter is 0 (the API omits zero counters).
/// ```text
/// NAME                      GENERATION   OBSERVED   DESIRED   UPDATED   AVAILABLE   SPEC     REPLICAS   UPDATEDREPLICAS   AVAILABLEREPLICAS   IMAGES
/// calico-node               3            3          3         3         3           <none>   <none>     <none>            <none>              quay.io/calico/node:v2.6.8,quay.io/calico/cni:v1.11.4
/// calico-kube-controllers   3            3          <none>    <none>    <none>      1        1          1                 1                   quay.io/calico/kube-controllers:v1.0.3
/// ```
pub fn parse_workload_status(output: &Output) -> Result<Vec<WorkloadStatus>, Unrecognised> {
    let what = "`kubectl get daemonset/… deployment/…` rollout status table";
    let table = custom_columns(what, output, &WORKLOAD_STATUS_HEADERS)?;
    table.rows.iter().map(|row| workload_status_row(what, row, &output.stdout)).collect()
}

fn workload_status_row(what: &str, row: &[&str], text: &str) -> Result<WorkloadStatus, Unrecognised> {
    let count = |i: usize| -> Result<u64, Unrecognised> {
        Ok(number::<u64>(what, WORKLOAD_STATUS_HEADERS[i], row[i], text)?.unwrap_or(0))
    };
    let small = |i: usize| -> Result<u32, Unrecognised> {
        Ok(number::<u32>(what, WORKLOAD_STATUS_HEADERS[i], row[i], text)?.unwrap_or(0))
    };
    let generation = count(1)?;
    let observed_generation = count(2)?;
    let name = row[0].to_string();
    let images = images(row[10]);
    if present(row[3]).is_some() {
        let desired = small(3)?;
        Ok(WorkloadStatus {
            kind: WorkloadKind::DaemonSet,
            name,
            generation,
            observed_generation,
            desired,
            updated: small(4)?,
            available: small(5)?,
            current: desired,
            images,
        })
    } else if present(row[6]).is_some() {
        Ok(WorkloadStatus {
            kind: WorkloadKind::Deployment,
            name,
            generation,
            observed_generation,
            desired: small(6)?,
            updated: small(8)?,
            available: small(9)?,
            current: small(7)?,
            images,
        })
    } else {
        Err(Unrecognised::new(what, format!("row `{}` has neither DESIRED nor SPEC", row[0]), text))
    }
}

// ---------------------------------------------------------------------------------------------
// Watch events (`--output-watch-events`)
// ---------------------------------------------------------------------------------------------

/// The `EVENT` column of a watch with `--output-watch-events`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum WatchEvent {
    /// In the first block, an object that exists; later, a new one.
    Added,
    Modified,
    /// The object is gone; the row is its last state.
    Deleted,
}

/// Reads a `--output-watch-events` stream line by line (`fixtures/kubectl/watch-events/*`):
/// the header (`EVENT` and the columns asked for) once, then one row per event. The first
/// block is aligned as one table; later rows keep those widths and may widen, so cells are
/// split on runs of spaces (no cell of these columns holds one).
/// ```text
/// EVENT   NAME          GENERATION   OBSERVED   DESIRED   UPDATED   AVAILABLE   …
/// ADDED   calico-node   2            2          3         3         3           …
/// MODIFIED   calico-node   3            3          3         <none>    2        …
/// ```
#[derive(Debug)]
pub struct WatchEvents<T> {
    what: &'static str,
    headers: &'static [&'static str],
    header_seen: bool,
    row: fn(&str, &[&str], &str) -> Result<T, Unrecognised>,
}

impl WatchEvents<PodStatus> {
    /// The pods' watch ([`Kubectl::watch_pod_events`]).
    pub fn pods() -> Self {
        WatchEvents {
            what: "`kubectl get pods --watch --output-watch-events` stream",
            headers: &POD_HEADERS,
            header_seen: false,
            row: pod_row,
        }
    }
}

impl WatchEvents<WorkloadStatus> {
    /// A workload's watch ([`Kubectl::watch_workload`]).
    pub fn workload() -> Self {
        WatchEvents {
            what: "`kubectl get daemonset|deployment/NAME --watch --output-watch-events` stream",
            headers: &WORKLOAD_STATUS_HEADERS,
            header_seen: false,
            row: workload_status_row,
        }
    }
}

impl<T> WatchEvents<T> {
    /// The header has been read: the stream is the one asked for.
    pub fn header_seen(&self) -> bool {
        self.header_seen
    }

    /// Feed one line; `Ok(None)` for the header or a blank line.
    pub fn feed(&mut self, line: &str) -> Result<Option<(WatchEvent, T)>, Unrecognised> {
        let cells = table::cells(line);
        if cells.is_empty() {
            return Ok(None);
        }
        if cells[0] == "EVENT" && cells[1..].iter().copied().eq(self.headers.iter().copied()) {
            self.header_seen = true;
            return Ok(None);
        }
        if !self.header_seen {
            return Err(Unrecognised::new(
                self.what,
                format!("expected the header EVENT {}", self.headers.join(" ")),
                line,
            ));
        }
        if cells.len() != self.headers.len() + 1 {
            return Err(Unrecognised::new(
                self.what,
                format!("a row has {} cells where the header has {}", cells.len(), self.headers.len() + 1),
                line,
            ));
        }
        let event = match cells[0] {
            "ADDED" => WatchEvent::Added,
            "MODIFIED" => WatchEvent::Modified,
            "DELETED" => WatchEvent::Deleted,
            other => {
                return Err(Unrecognised::new(
                    self.what,
                    format!("`{other}` is not a watch event this tool knows (ADDED, MODIFIED, DELETED)"),
                    line,
                ))
            }
        };
        (self.row)(self.what, &cells[1..], line).map(|value| Some((event, value)))
    }
}

// ---------------------------------------------------------------------------------------------
// rollout undo
// ---------------------------------------------------------------------------------------------

/// What `kubectl rollout undo` reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "kebab-case")]
pub enum UndoResult {
    /// `daemonset.apps/calico-node rolled back`
    RolledBack,
    /// `daemonset.apps/calico-node rolled back (server dry run)`: `--dry-run=server` says the
    /// API server would accept the rollback; nothing was stored.
    WouldRollBack,
    /// `… skipped rollback (current template already matches revision N)`: already there.
    AlreadyAtRevision { revision: u64 },
    /// `… skipped rollback (DeploymentRollback…: …)` with exit 0 (kubectl <=1.12): nothing was
    /// done, and it is not the target state either.
    SkippedByServer { reason: String },
    /// A non-zero exit: kubectl (or the cluster) said no. `message` is the stderr line.
    Refused { message: String },
}

/// Read `kubectl rollout undo KIND/NAME` in every known shape
/// (`fixtures/kubectl/rollout-undo/*`):
/// ```text
/// daemonset "calico-node" rolled back                         (1.7–1.9)
/// daemonset.extensions "calico-node" rolled back              (1.10)
/// daemonset.apps/calico-node rolled back                      (1.11+; .extensions/ with servers <=1.15)
/// daemonset.apps/calico-node skipped rollback (current template already matches revision 3)
/// daemonset.apps/calico-node rolled back (server dry run)    (--dry-run=server, 1.18+)
/// daemonset.apps/calico-node skipped rollback (current template already matches revision 13) (server dry run)
/// error: unable to find specified revision 99 in history      (stderr, exit 1)
/// ```
pub fn parse_undo(kind: WorkloadKind, name: &str, output: &Output) -> Result<UndoResult, Unrecognised> {
    let what = format!("`kubectl rollout undo {}/{name}` output", kind.resource());
    if !output.success() {
        let message = failure_message(&output.stderr);
        return Ok(UndoResult::Refused { message });
    }
    // `daemonset "x" …`, `daemonset.extensions "x" …`, `daemonset.apps/x …` (and `.extensions/`).
    let kind_printed = kind.printed_kind();
    let subjects: Vec<String> = ["", ".extensions", ".apps"]
        .iter()
        .flat_map(|group| [format!("{kind_printed}{group} \"{name}\" "), format!("{kind_printed}{group}/{name} ")])
        .collect();
    let Some(rest) = output.stdout.lines().find_map(|line| {
        let line = line.trim_end();
        subjects.iter().find_map(|subject| line.strip_prefix(subject.as_str()))
    }) else {
        return Err(Unrecognised::new(what, format!("no line names {kind_printed}/{name}"), &output.stdout));
    };
    if rest == "rolled back" {
        return Ok(UndoResult::RolledBack);
    }
    if rest == "rolled back (server dry run)" {
        return Ok(UndoResult::WouldRollBack);
    }
    // A server dry run says so after a skip too: the live template already is the target (the
    // cluster moved since it was read: another run rolled back first).
    let rest = rest.strip_suffix(" (server dry run)").unwrap_or(rest);
    let already = rest
        .strip_prefix("skipped rollback (current template already matches revision ")
        .and_then(|r| r.strip_suffix(')'))
        .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
    if let Some(number) = already {
        let revision = number.parse().map_err(|_| Unrecognised::new(&what, "revision out of range", &output.stdout))?;
        return Ok(UndoResult::AlreadyAtRevision { revision });
    }
    if let Some(reason) = rest.strip_prefix("skipped rollback (").and_then(|r| r.strip_suffix(')')) {
        return Ok(UndoResult::SkippedByServer { reason: reason.to_string() });
    }
    Err(Unrecognised::new(what, format!("unknown result `{rest}`"), &output.stdout))
}

/// Read `kubectl delete pod NAME` (`fixtures/kubectl/delete-pod/*`): `true` when kubectl
/// reports the deletion, `false` when it exited non-zero (the caller reads stderr).
/// ```text
/// pod "calico-node-hvvg8" deleted                              (1.7-1.33)
/// pod "calico-node-hvvg8" deleted from kube-system namespace   (newer kubectl)
/// ```
pub fn parse_delete(name: &str, output: &Output) -> Result<bool, Unrecognised> {
    if !output.success() {
        return Ok(false);
    }
    let subject = format!("pod \"{name}\" deleted");
    let reported = output.stdout.lines().map(str::trim_end).any(|line| {
        line.strip_prefix(subject.as_str()).is_some_and(|rest| {
            rest.is_empty() || rest.strip_prefix(" from ").is_some_and(|ns| ns.ends_with(" namespace"))
        })
    });
    if reported {
        Ok(true)
    } else {
        Err(Unrecognised::new(
            format!("`kubectl delete pod {name}` output"),
            format!("expected `{subject}`"),
            &output.stdout,
        ))
    }
}

/// Read `kubectl scale deployment/NAME …` (`fixtures/kubectl/scale/*`): `Ok(true)` when kubectl
/// reports the new size accepted, `Ok(false)` when it said no (a non-zero exit: its stderr
/// says why).
/// ```text
/// deployment.apps/calico-typha scaled                    (1.20, 1.33)
/// deployment.apps/calico-typha scaled (server dry run)   (1.33 with --dry-run=server; 1.20 prints the line above)
/// ```
pub fn parse_scale(name: &str, output: &Output) -> Result<bool, Unrecognised> {
    if !output.success() {
        return Ok(false);
    }
    let reported = output.stdout.lines().map(str::trim_end).any(|line| {
        ["deployment.apps/", "deployment.extensions/", "deployment/"].iter().any(|prefix| {
            line.strip_prefix(prefix)
                .and_then(|rest| rest.strip_prefix(name))
                .is_some_and(|rest| rest == " scaled" || rest == " scaled (server dry run)")
        })
    });
    if reported {
        Ok(true)
    } else {
        Err(Unrecognised::new(
            format!("`kubectl scale deployment/{name}` output"),
            format!("expected `deployment.apps/{name} scaled`"),
            &output.stdout,
        ))
    }
}

// ---------------------------------------------------------------------------------------------
// auth can-i, config view, namespaces
// ---------------------------------------------------------------------------------------------

/// What `kubectl auth can-i` answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "answer", rename_all = "lowercase")]
pub enum CanI {
    Yes,
    /// `no`, with the authorizer's reason or evaluation error when it gave one.
    No {
        reason: Option<String>,
    },
}

/// Read `kubectl auth can-i VERB RESOURCE` (`fixtures/kubectl/auth-can-i/*`). kubectl's
/// `RunAccessCheck` prints `yes`, or `no` followed by ` - REASON` and ` - EVALUATION ERROR`
/// when the review carries them, on stdout, and exits 1 when the answer is no (`--quiet`
/// would print nothing, so it is not used). Warnings (`Warning: resource 'x' is not namespace
/// scoped`) go to stderr. A non-zero exit without an answer is a failure of the review itself.
/// ```text
/// yes
/// no
/// no - RBAC: role.rbac.authorization.k8s.io "calico-view" not found
/// ```
pub fn parse_can_i(output: &Output) -> Result<CanI, Unrecognised> {
    let what = "`kubectl auth can-i` answer";
    let line = output.stdout.lines().map(str::trim_end).find(|l| !l.is_empty()).unwrap_or("");
    let answer = if line == "yes" {
        CanI::Yes
    } else if line == "no" {
        CanI::No { reason: None }
    } else if let Some(reason) = line.strip_prefix("no - ") {
        CanI::No { reason: Some(reason.to_string()) }
    } else {
        return Err(Unrecognised::new(what, "expected `yes` or `no`", &output.stdout));
    };
    match (&answer, output.code) {
        (CanI::Yes, Some(0)) | (CanI::No { .. }, Some(1)) => Ok(answer),
        _ => Err(Unrecognised::new(
            what,
            format!("the answer does not match the {}", output.status_text()),
            &output.stdout,
        )),
    }
}

/// Read `kubectl config view --minify -o jsonpath={.contexts[0].context.user}`: the user's
/// name, printed bare without a newline; `None` when the context names none.
pub fn parse_config_user(stdout: &str) -> Option<String> {
    let user = stdout.trim();
    (!user.is_empty()).then(|| user.to_string())
}

/// Read `kubectl get namespaces -o custom-columns=NAME:.metadata.name`
/// (`fixtures/kubectl/get-namespaces/*`).
pub fn parse_names(output: &Output) -> Result<Vec<String>, Unrecognised> {
    let what = "`kubectl get namespaces` table";
    let table = custom_columns(what, output, &["NAME"])?;
    Ok(table.rows.iter().map(|row| row[0].to_string()).collect())
}

/// The message kubectl gave for a failure: the last `error:`/`Error from server` line of
/// stderr, else its last non-empty line.
pub fn failure_message(stderr: &str) -> String {
    stderr
        .lines()
        .rev()
        .find(|line| {
            line.starts_with("error:") || line.starts_with("Error from server") || line.starts_with("The connection")
        })
        .or_else(|| stderr.lines().rev().find(|line| !line.trim().is_empty()))
        .unwrap_or("")
        .trim()
        .to_string()
}

/// Whether kubectl said the object does not exist (`Error from server (NotFound): …`).
pub fn is_not_found(stderr: &str) -> bool {
    stderr.lines().any(|line| line.starts_with("Error from server (NotFound)"))
}

// ---------------------------------------------------------------------------------------------
// Failures a retry can fix
// ---------------------------------------------------------------------------------------------

/// What kubectl prints when the API server is briefly out of reach or overloaded: a retry of a
/// read-only command can fix these (real stderr of an unreachable server:
/// `fixtures/kubectl/get-empty/unreachable-*.stderr`, `The connection to the server 127.0.0.1:6999 was refused -
/// did you specify the right host or port?` in every version).
const TRANSIENT: &[&str] = &[
    "connection refused",
    "was refused",
    "connection reset by peer",
    "i/o timeout",
    "tls handshake timeout",
    "unexpected eof",
    "http2: client connection lost",
    "unable to connect to the server",
    "the server is currently unable to handle the request",
    "etcdserver: leader changed",
    "etcdserver: request timed out",
    "(toomanyrequests)",
    "(internalerror)",
    "(serviceunavailable)",
    "(servertimeout)",
    "(timeout)",
    "the server has received too many requests",
    "an error on the server",
    "context deadline exceeded",
    "net/http: request canceled",
    "no route to host",
];

/// Whether a failure that a retry may fix (`transient_failure`) also says that the request
/// never reached the API server, so that a command that changes the cluster can be run again
/// without reading back: the connection was refused (`The connection to the server HOST was
/// refused`, `dial tcp HOST: connect: connection refused`), there was no route, or the dial or
/// the TLS handshake timed out. A reset, an `EOF`, a timeout waiting for the answer, a 5xx or an
/// etcd leader change may come after the server had the request: not so.
pub fn never_sent(stderr: &str) -> bool {
    let lower = stderr.to_ascii_lowercase();
    let dial = lower
        .lines()
        .any(|line| line.contains("dial tcp") && (line.contains("i/o timeout") || line.contains("connect: ")));
    lower.contains("connection refused")
        || lower.contains("was refused")
        || lower.contains("no route to host")
        || lower.contains("tls handshake timeout")
        || dial
}

/// What no retry fixes: the caller's permissions, a missing object, an unknown flag.
const PERMANENT: &[&str] = &[
    "(forbidden)",
    "(unauthorized)",
    "(notfound)",
    "(badrequest)",
    "(invalid)",
    "unknown flag",
    "unknown shorthand flag",
    "unknown command",
    NO_RESOURCE_TYPE,
    "you must be logged in",
];

/// Whether kubectl said that the server has no such resource type (its API discovery did not
/// list it). Every type the tool names exists on every server it supports, so right after the
/// server refused connections this is an API server that has just started and does not serve
/// every group yet (kube-apiserver v1.20.2 restarted: `fixtures/kubectl/rollout-undo/
/// ds-dry-run-server-no-type-after-restart-1.33.stderr`; the same command succeeded 8 s later).
pub fn no_resource_type(stderr: &str) -> bool {
    stderr.to_ascii_lowercase().contains(NO_RESOURCE_TYPE)
}

/// kubectl's words for a resource type its API discovery did not find.
const NO_RESOURCE_TYPE: &str = "error: the server doesn't have a resource type";

/// Why kubectl could not reach the cluster, when no retry within a run can fix it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unreachable {
    /// The server's name does not resolve (`no such host`).
    UnknownHost,
    /// The server's certificate is not trusted by the kubeconfig (`x509: …`).
    UntrustedCertificate,
    /// The server refused the credentials (`Unauthorized`, `You must be logged in`).
    Unauthorized,
    /// kubectl found no server and fell back to `localhost:8080`.
    NoServer,
    /// The kubeconfig names a context that does not exist.
    UnknownContext,
}

impl Unreachable {
    /// What it means, in words.
    pub fn meaning(self) -> &'static str {
        match self {
            Unreachable::UnknownHost => "the server's name does not resolve",
            Unreachable::UntrustedCertificate => {
                "the server's certificate is not trusted by the kubeconfig's certificate authority"
            }
            Unreachable::Unauthorized => "the server does not accept the kubeconfig's credentials",
            Unreachable::NoServer => "kubectl found no cluster in its configuration and fell back to localhost:8080",
            Unreachable::UnknownContext => "the kubeconfig's context does not exist",
        }
    }
}

/// Whether a kubectl failure says the cluster cannot be reached with this configuration at all
/// (real stderr of kubectl 1.20 and 1.33 against kube-apiserver 1.20:
/// `fixtures/kubectl/get-objects/unreachable-*.stderr`): `Unable to connect to the server: x509:
/// certificate signed by unknown authority` (1.33: `tls: failed to verify certificate: x509: …`),
/// `Unable to connect to the server: dial tcp: lookup NAME on …: no such host`, `error: You
/// must be logged in to the server (Unauthorized)` (1.33: `(the server has asked for the client
/// to provide credentials)`), `The connection to the server localhost:8080 was refused`,
/// `Error in configuration: context was not found for specified context: NAME`.
pub fn unreachable(stderr: &str) -> Option<Unreachable> {
    let lower = stderr.to_ascii_lowercase();
    if lower.contains("no such host") {
        Some(Unreachable::UnknownHost)
    } else if lower.contains("x509: ") {
        Some(Unreachable::UntrustedCertificate)
    } else if lower.contains("you must be logged in to the server") || lower.contains("(unauthorized)") {
        Some(Unreachable::Unauthorized)
    } else if lower.contains("the connection to the server localhost:8080 was refused") {
        Some(Unreachable::NoServer)
    } else if lower.contains("context was not found for specified context") {
        Some(Unreachable::UnknownContext)
    } else {
        None
    }
}

/// kubectl's own words on a failure, once each: its stderr lines without klog's prefixed
/// repetitions (`E1205 00:35:07.836346 5229 memcache.go:265] "Unhandled Error" …`, printed once
/// per retry of discovery and then summed up on the last line), without blank lines and
/// duplicates, whole. When klog's lines are all there is, they are kept (deduplicated).
pub fn stderr_lines(stderr: &str) -> Vec<String> {
    let klog = |line: &str| {
        let mut chars = line.chars();
        matches!(chars.next(), Some('E' | 'W' | 'I' | 'F'))
            && line.get(1..5).is_some_and(|d| d.bytes().all(|b| b.is_ascii_digit()))
            && line.get(5..6) == Some(" ")
    };
    let lines: Vec<&str> = stderr.lines().map(str::trim_end).filter(|l| !l.trim().is_empty()).collect();
    let plain: Vec<&str> = lines.iter().copied().filter(|l| !klog(l)).collect();
    let chosen = if plain.is_empty() { lines } else { plain };
    let mut out: Vec<String> = Vec::new();
    for line in chosen {
        if !out.iter().any(|o| o == line) {
            out.push(line.to_string());
        }
    }
    out
}

/// The stderr line that makes a kubectl failure transient (a retry may succeed), or `None`:
/// a failure is transient only when one line names a transient cause and none a permanent one.
///
/// kubectl whose API discovery failed for a transient cause goes on without it and then says
/// `error: the server doesn't have a resource type "ds"` (kubectl 1.33 against an API server
/// that was starting: `fixtures/kubectl/rollout-undo/ds-dry-run-server-discovery-failed-1.33.stderr`):
/// that is the discovery's failure, transient, not a resource the server lacks. The cause is
/// then klog's error text (`couldn't get current server API group list: … TLS handshake timeout`).
pub fn transient_failure(stderr: &str) -> Option<String> {
    let lower = stderr.to_ascii_lowercase();
    let discovery_failed = lower.contains("couldn't get current server api group list");
    let permanent = PERMANENT.iter().filter(|p| !(discovery_failed && **p == NO_RESOURCE_TYPE));
    if permanent.into_iter().any(|p| lower.contains(p)) {
        return None;
    }
    let line = stderr.lines().rev().find(|line| {
        let line = line.to_ascii_lowercase();
        // `Get "https://…/api/v1/pods": EOF`: the server closed the connection mid-request.
        line.trim_end().ends_with(": eof") || TRANSIENT.iter().any(|t| line.contains(t))
    })?;
    // klog's `E1207 … memcache.go:265] "Unhandled Error" err="…"`: its error text.
    let line = match line.split_once(" err=\"") {
        Some((_, error)) => error.trim_end().trim_end_matches('"').replace("\\\"", "\""),
        None => line.trim().to_string(),
    };
    Some(line)
}
