//! The `fake-cluster` control CLI: `init DIR [OPTIONS]` lays out a simulated cluster (state,
//! `bin/` symlinks, empty call log), `show DIR` prints a JSON summary for assertions,
//! `clear-faults DIR` drops the injected faults, and the verbs that play the world outside
//! the tool: nodes joining, leaving or failing, an API server outage, another run's lock.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use serde::Serialize;

use crate::scenario::{self, Gen, InitOptions, Stage};
use crate::sim::{self, view};
use crate::state::{
    now_ms, rfc3339, ClusterDir, Config, Datastore, Fault, FaultKind, Role, State, Style, Workload, CALLS,
};
use crate::unexpected;

/// `fake-cluster ARGS...` (argv[0] is not `kubectl`, `calicoctl` or `calico-upgrade`).
pub fn run(argv: &[String]) -> i32 {
    match argv.get(1).map(String::as_str) {
        Some("init") if argv.len() >= 3 => match parse_init(&argv[3..]) {
            Ok(options) => match init(Path::new(&argv[2]), &options) {
                Ok(()) => 0,
                Err(e) => fail(&e),
            },
            Err(reason) => unexpected(argv, Some(&reason)),
        },
        Some("show") if argv.len() == 3 => match show(Path::new(&argv[2])) {
            Ok(text) => {
                println!("{text}");
                0
            }
            Err(e) => fail(&e),
        },
        Some("outage") if argv.len() == 4 => match argv[3].parse::<u64>() {
            Ok(ms) => match outage(Path::new(&argv[2]), ms) {
                Ok(()) => 0,
                Err(e) => fail(&e),
            },
            Err(_) => unexpected(argv, Some("outage DIR MS: MS is a number of milliseconds")),
        },
        Some("add-node") if argv.len() == 3 => report(nodes(Path::new(&argv[2]), NodeChange::Add)),
        Some("remove-node") if argv.len() == 4 => report(nodes(Path::new(&argv[2]), NodeChange::Remove(&argv[3]))),
        Some("node-not-ready") if argv.len() == 4 => report(nodes(Path::new(&argv[2]), NodeChange::NotReady(&argv[3]))),
        Some("image-fault") if argv.len() == 6 && ["unpullable", "crash"].contains(&argv[5].as_str()) => {
            report(image_fault(Path::new(&argv[2]), &argv[3], &argv[4], &argv[5]))
        }
        Some("lock") if argv.len() >= 3 => match parse_lock(&argv[3..]) {
            Ok(lock) => report(plant_lock(Path::new(&argv[2]), lock)),
            Err(reason) => unexpected(argv, Some(&reason)),
        },
        Some("calico-object") if argv.len() == 6 => {
            report(calico_object(Path::new(&argv[2]), &argv[3], &argv[4], &argv[5]))
        }
        Some("clear-faults") if argv.len() == 3 => match clear_faults(Path::new(&argv[2])) {
            Ok(()) => 0,
            Err(e) => fail(&e),
        },
        _ => unexpected(argv, None),
    }
}

fn report(result: Result<(), String>) -> i32 {
    match result {
        Ok(()) => 0,
        Err(e) => fail(&e),
    }
}

enum NodeChange<'a> {
    Add,
    Remove(&'a str),
    NotReady(&'a str),
}

/// `add-node DIR` (`node-N+1` joins), `remove-node DIR NODE` (the node object is deleted and
/// the pod garbage collector deletes its pods), `node-not-ready DIR NODE` (its kubelet stops:
/// the node controller sets its pods' Ready condition to False).
fn nodes(dir: &Path, change: NodeChange) -> Result<(), String> {
    let cluster = ClusterDir::new(dir);
    let _lock = cluster.lock()?;
    let mut state = cluster.load()?;
    let now = now_ms().max(state.clock_ms);
    sim::advance(&mut state, now);
    match change {
        NodeChange::Add => state.config.nodes += 1,
        NodeChange::Remove(node) => {
            if !state.config.node_names().iter().any(|n| n == node) {
                return Err(format!("no node {node}"));
            }
            state.config.removed_nodes.push(node.to_string());
            for i in 0..state.pods.len() {
                if state.pods[i].node.as_deref() == Some(node) {
                    sim::delete_pod(&mut state, i, now);
                }
            }
        }
        NodeChange::NotReady(node) => {
            if !state.config.node_names().iter().any(|n| n == node) {
                return Err(format!("no node {node}"));
            }
            state.config.not_ready_nodes.push(node.to_string());
        }
    }
    // A Node object written (or deleted): a new resourceVersion.
    state.bump();
    sim::run_controllers(&mut state, now);
    cluster.save(&state)
}

/// `image-fault DIR NODE IMAGE unpullable|crash`: the node fails the image for the pods created
/// there from now on (see `Config::image_faults`).
fn image_fault(dir: &Path, node: &str, image: &str, how: &str) -> Result<(), String> {
    let cluster = ClusterDir::new(dir);
    let _lock = cluster.lock()?;
    let mut state = cluster.load()?;
    let now = now_ms().max(state.clock_ms);
    sim::advance(&mut state, now);
    if !state.config.node_names().iter().any(|n| n == node) {
        return Err(format!("no node {node}"));
    }
    state.config.image_faults.push((node.to_string(), image.to_string(), how.to_string()));
    cluster.save(&state)
}

/// What `lock DIR [--raw VALUE] [KEY=VALUE...]` plants.
struct PlantedLock {
    /// The annotation's whole value as given (`--raw`), instead of one made from `data`.
    raw: Option<String>,
    /// The fields as given, times still unresolved (`now-90s`).
    data: BTreeMap<String, String>,
}

/// The lock another run would hold: the tool's annotation `calico-downgrade/lock` on the
/// DaemonSet, a JSON object with the fields `host`, `user`, `pid`, `command`, `started`,
/// `renewed`, `lease-seconds`, each with a default that KEY=VALUE replaces (another key is
/// added); `pid` and `lease-seconds` are numbers when they read as one.
fn parse_lock(args: &[String]) -> Result<PlantedLock, String> {
    let mut lock = PlantedLock {
        raw: None,
        data: [
            ("host", "bastion-2"),
            ("user", "jane"),
            ("pid", "4242"),
            ("command", "calico-downgrade run --yes"),
            ("started", "now-1m"),
            ("renewed", "now"),
            ("lease-seconds", "30"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect(),
    };
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        if arg == "--raw" {
            i += 1;
            lock.raw = Some(args.get(i).cloned().ok_or("--raw needs a value")?);
        } else if let Some(v) = arg.strip_prefix("--raw=") {
            lock.raw = Some(v.to_string());
        } else if let Some((key, v)) = arg.split_once('=').filter(|(k, _)| !k.is_empty() && !k.starts_with('-')) {
            lock.data.insert(key.to_string(), v.to_string());
        } else {
            return Err(format!("lock DIR [--raw VALUE] [KEY=VALUE...]: `{arg}`"));
        }
        i += 1;
    }
    Ok(lock)
}

/// `now`, `now-DURATION` or `now+DURATION` (`90s`, `5m`, as humantime reads them) as RFC 3339
/// at `now`; anything else as it is (so a test can plant an unreadable time).
fn resolve_time(text: &str, now: u64) -> Result<String, String> {
    let Some(rest) = text.strip_prefix("now") else { return Ok(text.to_string()) };
    if rest.is_empty() {
        return Ok(rfc3339(now));
    }
    let (sign, duration) = rest.split_at(1);
    let ms = humantime::parse_duration(duration).map_err(|e| format!("`{text}`: {e}"))?.as_millis() as u64;
    match sign {
        "-" => Ok(rfc3339(now.saturating_sub(ms))),
        "+" => Ok(rfc3339(now + ms)),
        _ => Ok(text.to_string()),
    }
}

/// `lock DIR ...`: another run's lock on the DaemonSet, as that run's take (or a renewal) would
/// have written it: a new resourceVersion.
fn plant_lock(dir: &Path, lock: PlantedLock) -> Result<(), String> {
    let cluster = ClusterDir::new(dir);
    let _lock = cluster.lock()?;
    let mut state = cluster.load()?;
    let now = now_ms().max(state.clock_ms);
    sim::advance(&mut state, now);
    let value = match lock.raw {
        Some(raw) => raw,
        None => {
            let mut fields = serde_json::Map::new();
            for (key, value) in lock.data {
                let value = match key.as_str() {
                    "started" | "renewed" => serde_json::json!(resolve_time(&value, now)?),
                    "pid" | "lease-seconds" => {
                        value.parse::<u64>().map_or_else(|_| serde_json::json!(value), |n| serde_json::json!(n))
                    }
                    _ => serde_json::json!(value),
                };
                fields.insert(key, value);
            }
            serde_json::Value::Object(fields).to_string()
        }
    };
    state.bump();
    let daemonset = state.daemonset.as_mut().ok_or("lock: the cluster has no DaemonSet to carry it")?;
    daemonset.annotations.insert("calico-downgrade/lock".to_string(), value);
    cluster.save(&state)
}

/// `outage DIR MS`: the API server is down from now for MS milliseconds.
fn outage(dir: &Path, ms: u64) -> Result<(), String> {
    let cluster = ClusterDir::new(dir);
    let _lock = cluster.lock()?;
    let mut state = cluster.load()?;
    state.outage_until_ms = Some(now_ms().max(state.clock_ms) + ms);
    cluster.save(&state)
}

/// `calico-object DIR PLURAL [NAMESPACE/]NAME SPEC-JSON`: a Calico object in the Kubernetes API
/// datastore (a v3.0 NetworkPolicy, an IP pool named `default-ipv4-ippool`), as v3.0 wrote it.
fn calico_object(dir: &Path, plural: &str, reference: &str, spec: &str) -> Result<(), String> {
    if !crate::state::CALICO_CRDS.iter().any(|(p, _)| *p == plural) {
        return Err(format!("{plural} is not a Calico CRD"));
    }
    let spec: serde_json::Value = serde_json::from_str(spec).map_err(|e| format!("SPEC-JSON: {e}"))?;
    let (namespace, name) = match reference.split_once('/') {
        Some((namespace, name)) => (Some(namespace.to_string()), name.to_string()),
        None => (None, reference.to_string()),
    };
    let cluster = ClusterDir::new(dir);
    let _lock = cluster.lock()?;
    let mut state = cluster.load()?;
    if state.config.datastore != Datastore::Kubernetes {
        return Err("Calico objects live in CRDs only with the Kubernetes API datastore (init --datastore kdd)".into());
    }
    state.calico_objects.push(crate::state::CalicoObject { plural: plural.to_string(), namespace, name, spec });
    cluster.save(&state)
}

/// `clear-faults DIR`: drop every injected fault (a test's second run after an interruption).
fn clear_faults(dir: &Path) -> Result<(), String> {
    let cluster = ClusterDir::new(dir);
    let _lock = cluster.lock()?;
    let mut state = cluster.load()?;
    state.faults.clear();
    cluster.save(&state)
}

fn fail(message: &str) -> i32 {
    eprintln!("fake-cluster: {message}");
    98
}

pub(crate) fn parse_init(args: &[String]) -> Result<InitOptions, String> {
    let mut options = InitOptions {
        config: Config {
            kubectl_style: Style::V1_33,
            calicoctl_version: "v1.6.5".into(),
            calico_upgrade_version: "v1.0.5".into(),
            datastore: Datastore::Etcd,
            nodes: 3,
            pod_start_ms: 300,
            pod_stop_ms: 200,
            v3_cluster_information: false,
            role: Role::Admin,
            user: "kubernetes-admin".into(),
            removed_nodes: Vec::new(),
            not_ready_nodes: Vec::new(),
            image_faults: Vec::new(),
            contexts: vec![crate::kubectl::CONTEXT.to_string()],
            current_context: Some(crate::kubectl::CONTEXT.to_string()),
            watch_ends_ms: None,
            workload_labels: Default::default(),
        },
        stage: Stage::Upgraded,
        strategy: "RollingUpdate".into(),
        daemonset: Some("calico-node".into()),
        deployment: true,
        pruned_history: false,
        faults: Vec::new(),
        extra_pods: 2,
        ready_flag: None,
        typha: None,
        cni_config: None,
    };
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        let takes_value = !matches!(flag.as_str(), "--no-deployment" | "--pruned-history" | "--v3-cluster-information");
        let value = if !takes_value {
            if inline.is_some() {
                return Err(format!("{flag} takes no value"));
            }
            String::new()
        } else if let Some(v) = inline {
            v
        } else {
            i += 1;
            args.get(i).cloned().ok_or_else(|| format!("{flag} needs a value"))?
        };
        let number = |v: &str| v.parse::<u64>().map_err(|_| format!("{flag}: `{v}` is not a number"));
        match flag.as_str() {
            "--kubectl-style" => {
                options.config.kubectl_style = Style::parse(&value)
                    .ok_or_else(|| format!("--kubectl-style: `{value}` is not 1.9, 1.20 or 1.33"))?
            }
            "--calicoctl-version" => options.config.calicoctl_version = value,
            "--calico-upgrade-version" => options.config.calico_upgrade_version = value,
            "--datastore" => {
                options.config.datastore = match value.as_str() {
                    "etcd" => Datastore::Etcd,
                    "kubernetes" => Datastore::Kubernetes,
                    _ => return Err(format!("--datastore: `{value}` is not etcd or kubernetes")),
                }
            }
            "--state" => {
                options.stage = match value.as_str() {
                    "upgraded" => Stage::Upgraded,
                    "not-upgraded" => Stage::NotUpgraded,
                    "downgraded" => Stage::Downgraded,
                    _ => return Err(format!("--state: `{value}` is not upgraded, not-upgraded or downgraded")),
                }
            }
            "--strategy" => {
                if value != "RollingUpdate" && value != "OnDelete" {
                    return Err(format!("--strategy: `{value}` is not RollingUpdate or OnDelete"));
                }
                options.strategy = value;
            }
            "--nodes" => options.config.nodes = number(&value)? as u32,
            "--daemonset" => options.daemonset = if value == "none" { None } else { Some(value) },
            "--no-deployment" => options.deployment = false,
            "--pruned-history" => options.pruned_history = true,
            "--v3-cluster-information" => options.config.v3_cluster_information = true,
            "--role" => {
                options.config.role = match value.as_str() {
                    "admin" => Role::Admin,
                    "view" => Role::View,
                    "namespace" => Role::Namespace,
                    "namespace-no-configmaps" => Role::NamespaceNoConfigmaps,
                    _ => {
                        return Err(format!(
                            "--role: `{value}` is not admin, view, namespace or namespace-no-configmaps"
                        ))
                    }
                }
            }
            "--typha" => options.typha = Some(number(&value)? as u32),
            "--cni-config" => {
                options.cni_config = match value.as_str() {
                    "v2" => Some(Gen::V2),
                    "v3" => Some(Gen::V3),
                    _ => return Err(format!("--cni-config: `{value}` is not v2 or v3")),
                }
            }
            "--user" => options.config.user = value,
            "--label" => {
                let (key, label) =
                    value.split_once('=').ok_or_else(|| format!("--label: `{value}` is not KEY=VALUE"))?;
                options.config.workload_labels.insert(key.to_string(), label.to_string());
            }
            "--contexts" => {
                options.config.contexts = value.split(',').filter(|c| !c.is_empty()).map(str::to_string).collect();
                options.config.current_context = options.config.contexts.first().cloned();
            }
            "--current-context" => {
                options.config.current_context = if value == "none" { None } else { Some(value) };
            }
            "--pod-start-ms" => options.config.pod_start_ms = number(&value)?,
            "--pod-stop-ms" => options.config.pod_stop_ms = number(&value)?,
            "--watch-ends-ms" => options.config.watch_ends_ms = Some(number(&value)?),
            "--extra-pods" => options.extra_pods = number(&value)? as u32,
            "--ready-flag" => {
                options.ready_flag = match value.as_str() {
                    "true" => Some(true),
                    "false" => Some(false),
                    _ => return Err(format!("--ready-flag: `{value}` is not true or false")),
                }
            }
            "--fault" => options.faults.push(parse_fault(&value)?),
            _ => return Err(format!("unknown option {flag}")),
        }
        i += 1;
    }
    Ok(options)
}

/// `CALL=KIND` or `CALL=KIND*N` (only the next N calls).
fn parse_fault(text: &str) -> Result<Fault, String> {
    let (call, rest) = text.split_once('=').ok_or_else(|| format!("--fault `{text}` is not CALL=KIND"))?;
    let (kind_text, remaining) = match rest.split_once('*') {
        Some((k, n)) => (k, Some(n.parse::<u32>().map_err(|_| format!("--fault `{text}`: `{n}` is not a count"))?)),
        None => (rest, None),
    };
    if !CALLS.contains(&call) {
        return Err(format!("--fault: unknown call `{call}` (one of {})", CALLS.join(", ")));
    }
    let kind = FaultKind::parse(kind_text).ok_or_else(|| format!("--fault: unknown kind `{kind_text}`"))?;
    match kind {
        FaultKind::FalseSuccess if call != "calico-upgrade-abort" => {
            Err("--fault: false-success applies to calico-upgrade-abort only".into())
        }
        FaultKind::Stuck if call != "kubectl-undo-daemonset" => {
            Err("--fault: stuck applies to kubectl-undo-daemonset only".into())
        }
        _ => Ok(Fault { call: call.into(), kind, remaining }),
    }
}

fn init(dir: &Path, options: &InitOptions) -> Result<(), String> {
    let bin = dir.join("bin");
    fs::create_dir_all(&bin).map_err(|e| format!("cannot create {}: {e}", bin.display()))?;
    let exe = std::env::current_exe().map_err(|e| format!("cannot find the fake-cluster binary: {e}"))?;
    for name in ["kubectl", "calicoctl", "calico-upgrade"] {
        let link = bin.join(name);
        if fs::symlink_metadata(&link).is_ok() {
            fs::remove_file(&link).map_err(|e| format!("cannot replace {}: {e}", link.display()))?;
        }
        std::os::unix::fs::symlink(&exe, &link).map_err(|e| format!("cannot create {}: {e}", link.display()))?;
    }
    let cluster = ClusterDir::new(dir);
    let _lock = cluster.lock()?;
    let state = scenario::build(options, now_ms());
    cluster.save(&state)?;
    write_kubeconfig(dir, &state.config)?;
    fs::write(cluster.calls_path(), "").map_err(|e| format!("cannot create {}: {e}", cluster.calls_path().display()))
}

/// `DIR/kubeconfig`: a kubeconfig as an operator's looks (JSON, which is YAML), naming the
/// simulated contexts. The fakes never read it (they answer from the state); the tool checks
/// that the file kubectl would read exists.
fn write_kubeconfig(dir: &Path, config: &crate::state::Config) -> Result<(), String> {
    let contexts: Vec<serde_json::Value> = config
        .contexts
        .iter()
        .map(|name| serde_json::json!({"name": name, "context": {"cluster": "fake-cluster", "user": config.user}}))
        .collect();
    let kubeconfig = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "fake-cluster", "cluster": {"server": "https://127.0.0.1:6443"}}],
        "contexts": contexts,
        "current-context": config.current_context.clone().unwrap_or_default(),
        "users": [{"name": config.user, "user": {"token": "simulated"}}],
    });
    let path = dir.join("kubeconfig");
    fs::write(&path, format!("{kubeconfig:#}\n")).map_err(|e| format!("cannot create {}: {e}", path.display()))
}

#[derive(Serialize)]
struct RevisionSummary {
    number: u64,
    name: String,
    images: Vec<String>,
    created: String,
}

#[derive(Serialize)]
struct WorkloadSummary {
    name: String,
    namespace: String,
    strategy: String,
    /// `.spec.replicas` of a Deployment (`kubectl scale`).
    #[serde(skip_serializing_if = "Option::is_none")]
    replicas: Option<u32>,
    images: Vec<String>,
    revisions: Vec<RevisionSummary>,
    stuck: bool,
    /// The annotations beyond the API server's own (the cluster lock).
    annotations: BTreeMap<String, String>,
}

#[derive(Serialize)]
struct PodSummary {
    namespace: String,
    name: String,
    owner: Option<String>,
    node: Option<String>,
    phase: &'static str,
    status: &'static str,
    ready: bool,
    images: Vec<String>,
    deleting: bool,
    created: String,
}

#[derive(Serialize)]
struct ConfigMapSummary {
    namespace: String,
    name: String,
    #[serde(rename = "resourceVersion")]
    resource_version: String,
    created: String,
    data: BTreeMap<String, String>,
}

#[derive(Serialize)]
struct Summary {
    now: String,
    kubectl_style: &'static str,
    datastore: Datastore,
    daemonset: Option<WorkloadSummary>,
    deployment: Option<WorkloadSummary>,
    typha: Option<WorkloadSummary>,
    pods: Vec<PodSummary>,
    configmaps: Vec<ConfigMapSummary>,
    etcd_ready: bool,
    migration_in_progress: bool,
    calls: BTreeMap<String, u64>,
}

fn workload_summary(w: &Workload) -> WorkloadSummary {
    let mut revisions: Vec<RevisionSummary> = w
        .revisions
        .iter()
        .map(|r| RevisionSummary {
            number: r.number,
            name: r.name.clone(),
            images: r.template.images(),
            created: rfc3339(r.created_at_ms),
        })
        .collect();
    revisions.sort_by_key(|r| r.number);
    WorkloadSummary {
        name: w.name.clone(),
        namespace: w.namespace.clone(),
        strategy: w.strategy.clone(),
        replicas: (w.kind == crate::state::Kind::Deployment).then_some(w.replicas),
        images: w.template.images(),
        revisions,
        stuck: w.stuck,
        annotations: w.annotations.clone(),
    }
}

pub fn summary(state: &State, calls: BTreeMap<String, u64>) -> String {
    let t = state.clock_ms;
    let mut pods: Vec<PodSummary> = state
        .pods
        .iter()
        .map(|p| {
            let v = view(p, t);
            PodSummary {
                namespace: p.namespace.clone(),
                name: p.name.clone(),
                owner: p.owner.clone(),
                node: p.node.clone(),
                phase: v.phase,
                status: v.status,
                ready: v.all_ready(),
                images: p.images.clone(),
                deleting: p.deleting_at_ms.is_some(),
                created: rfc3339(p.created_at_ms),
            }
        })
        .collect();
    pods.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
    let summary = Summary {
        now: rfc3339(t),
        kubectl_style: state.config.kubectl_style.label(),
        datastore: state.config.datastore,
        daemonset: state.daemonset.as_ref().map(workload_summary),
        deployment: state.deployment.as_ref().map(workload_summary),
        typha: state.typha.as_ref().map(workload_summary),
        pods,
        configmaps: configmaps(state),
        etcd_ready: state.etcd_ready,
        migration_in_progress: state.migration_in_progress(),
        calls,
    };
    serde_json::to_string_pretty(&summary).expect("summary serializes")
}

/// The ConfigMaps by namespace, then name.
fn configmaps(state: &State) -> Vec<ConfigMapSummary> {
    let mut list: Vec<ConfigMapSummary> = state
        .configmaps
        .iter()
        .map(|c| ConfigMapSummary {
            namespace: c.namespace.clone(),
            name: c.name.clone(),
            resource_version: c.resource_version.to_string(),
            created: rfc3339(c.created_at_ms),
            data: c.data.clone(),
        })
        .collect();
    list.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
    list
}

fn show(dir: &Path) -> Result<String, String> {
    let cluster = ClusterDir::new(dir);
    let _lock = cluster.lock()?;
    let mut state = cluster.load()?;
    let now = now_ms().max(state.clock_ms);
    sim::advance(&mut state, now);
    cluster.save(&state)?;
    Ok(summary(&state, cluster.call_counts()))
}
