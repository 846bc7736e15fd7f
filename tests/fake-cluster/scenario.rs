//! The cluster `fake-cluster init` builds: Calico v2.6 and v3.0 pod templates (images and
//! environment as in the Calico manifests, etcd or Kubernetes datastore, calico-node or canal),
//! their revision history for the chosen `--state`, running pods, Calico v3.0's Typha
//! (`--typha N`) and the `calico-config` ConfigMap of the manifest last applied.

use std::collections::BTreeMap;

use crate::sim::revision_for;
use crate::state::{
    fnv32a, safe_encode, uid, Config, ConfigMap, Container, Datastore, EnvVar, Fault, Kind, Pod, State, Template,
    ValueFrom, Workload, CALICO_NAMESPACE,
};

pub const NODE_V2: &str = "quay.io/calico/node:v2.6.8";
pub const CNI_V2: &str = "quay.io/calico/cni:v1.11.4";
pub const KUBE_CONTROLLERS_V2: &str = "quay.io/calico/kube-controllers:v1.0.3";
pub const NODE_V3: &str = "quay.io/calico/node:v3.0.4";
pub const CNI_V3: &str = "quay.io/calico/cni:v2.0.2";
pub const KUBE_CONTROLLERS_V3: &str = "quay.io/calico/kube-controllers:v2.0.2";
pub const FLANNEL: &str = "quay.io/coreos/flannel:v0.9.1";
pub const TYPHA_V3: &str = "quay.io/calico/typha:v0.6.3";
/// `etcd_endpoints` of the kubeadm-hosted manifests (their own calico-etcd Service).
pub const ETCD_ENDPOINTS: &str = "http://10.96.232.136:6666";

/// The cluster's place in the upgrade.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// v2.6 live, nothing in history but v2.6 (`calico-upgrade start` may have run).
    NotUpgraded,
    /// Revision 1 = v2.6, revision 2 = v3.0 live.
    Upgraded,
    /// Revision 2 = v3.0, revision 3 = v2.6 live (already rolled back).
    Downgraded,
}

/// Everything `fake-cluster init` accepts.
#[derive(Debug, Clone)]
pub struct InitOptions {
    pub config: Config,
    pub stage: Stage,
    pub strategy: String,
    /// `None`: no DaemonSet (`--daemonset none`).
    pub daemonset: Option<String>,
    pub deployment: bool,
    pub pruned_history: bool,
    pub faults: Vec<Fault>,
    pub extra_pods: u32,
    /// `/calico/v1/Ready`; `None`: false for not-upgraded/upgraded, true for downgraded.
    pub ready_flag: Option<bool>,
    /// `--typha N`: Calico v3.0's Typha Deployment with N replicas.
    pub typha: Option<u32>,
    /// `--cni-config v2|v3`: whose CNI configuration calico-config holds; `None`: that of the
    /// manifest last applied (v2.6 before the upgrade, v3.0 after, the downgrade keeping it).
    pub cni_config: Option<Gen>,
}

/// A Calico release whose manifests the fake knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gen {
    V2,
    V3,
}

fn lit(name: &str, value: &str) -> EnvVar {
    EnvVar { name: name.into(), value: Some(value.into()), value_from: None }
}

fn empty(name: &str) -> EnvVar {
    EnvVar { name: name.into(), value: None, value_from: None }
}

fn config_map(name: &str, map: &str, key: &str) -> EnvVar {
    EnvVar {
        name: name.into(),
        value: None,
        value_from: Some(ValueFrom::ConfigMapKeyRef { name: map.into(), key: key.into() }),
    }
}

fn field(name: &str, path: &str) -> EnvVar {
    EnvVar { name: name.into(), value: None, value_from: Some(ValueFrom::FieldRef { field_path: path.into() }) }
}

fn calico_node_env(gen: Gen, datastore: Datastore, canal: bool) -> Vec<EnvVar> {
    let map = if canal { "canal-config" } else { "calico-config" };
    let ipip = if gen == Gen::V3 { "Always" } else { "always" };
    let mut env = Vec::new();
    match datastore {
        Datastore::Etcd => env.push(config_map("ETCD_ENDPOINTS", map, "etcd_endpoints")),
        Datastore::Kubernetes => {
            env.push(lit("DATASTORE_TYPE", "kubernetes"));
            if gen == Gen::V3 && !canal {
                env.push(config_map("FELIX_TYPHAK8SSERVICENAME", map, "typha_service_name"));
            }
            env.push(lit("WAIT_FOR_DATASTORE", "true"));
            env.push(field("NODENAME", "spec.nodeName"));
        }
    }
    if canal {
        env.push(lit("CALICO_NETWORKING_BACKEND", "none"));
        env.push(lit("CLUSTER_TYPE", "k8s,canal"));
    } else {
        env.push(config_map("CALICO_NETWORKING_BACKEND", map, "calico_backend"));
        env.push(lit("CLUSTER_TYPE", "k8s,bgp"));
    }
    env.push(lit("CALICO_DISABLE_FILE_LOGGING", "true"));
    if gen == Gen::V3 && datastore == Datastore::Etcd {
        env.push(field("CALICO_K8S_NODE_REF", "spec.nodeName"));
    }
    env.push(lit("FELIX_DEFAULTENDPOINTTOHOSTACTION", "ACCEPT"));
    if !canal {
        env.push(lit("CALICO_IPV4POOL_CIDR", "192.168.0.0/16"));
        env.push(lit("CALICO_IPV4POOL_IPIP", ipip));
    }
    env.push(lit("FELIX_IPV6SUPPORT", "false"));
    env.push(lit("FELIX_LOGSEVERITYSCREEN", "info"));
    env.push(empty("IP"));
    env.push(lit("FELIX_HEALTHENABLED", "true"));
    env
}

fn install_cni_env(gen: Gen, datastore: Datastore, canal: bool) -> Vec<EnvVar> {
    let map = if canal { "canal-config" } else { "calico-config" };
    let mut env = Vec::new();
    if gen == Gen::V3 {
        env.push(lit("CNI_CONF_NAME", if canal { "10-canal.conflist" } else { "10-calico.conflist" }));
    }
    match datastore {
        Datastore::Etcd => {
            env.push(config_map("ETCD_ENDPOINTS", map, "etcd_endpoints"));
            env.push(config_map("CNI_NETWORK_CONFIG", map, "cni_network_config"));
        }
        Datastore::Kubernetes => {
            env.push(config_map("CNI_NETWORK_CONFIG", map, "cni_network_config"));
            env.push(field("KUBERNETES_NODE_NAME", "spec.nodeName"));
        }
    }
    env
}

fn flannel_env() -> Vec<EnvVar> {
    vec![
        field("POD_NAME", "metadata.name"),
        field("POD_NAMESPACE", "metadata.namespace"),
        config_map("FLANNELD_IFACE", "canal-config", "canal_iface"),
        config_map("FLANNELD_IP_MASQ", "canal-config", "masquerade"),
    ]
}

fn node_template(gen: Gen, datastore: Datastore, canal: bool) -> Template {
    let (node, cni) = match gen {
        Gen::V2 => (NODE_V2, CNI_V2),
        Gen::V3 => (NODE_V3, CNI_V3),
    };
    let mut containers = vec![
        Container { name: "calico-node".into(), image: node.into(), env: calico_node_env(gen, datastore, canal) },
        Container { name: "install-cni".into(), image: cni.into(), env: install_cni_env(gen, datastore, canal) },
    ];
    if canal {
        containers.push(Container { name: "kube-flannel".into(), image: FLANNEL.into(), env: flannel_env() });
    }
    Template { containers }
}

fn kube_controllers_template(gen: Gen) -> Template {
    let image = match gen {
        Gen::V2 => KUBE_CONTROLLERS_V2,
        Gen::V3 => KUBE_CONTROLLERS_V3,
    };
    Template {
        containers: vec![Container {
            name: "calico-kube-controllers".into(),
            image: image.into(),
            env: vec![
                config_map("ETCD_ENDPOINTS", "calico-config", "etcd_endpoints"),
                lit("ENABLED_CONTROLLERS", "policy,profile,workloadendpoint,node"),
            ],
        }],
    }
}

/// Calico v3.0's `calico-typha` container (the Kubernetes-datastore manifest).
fn typha_template() -> Template {
    Template {
        containers: vec![Container {
            name: "calico-typha".into(),
            image: TYPHA_V3.into(),
            env: vec![
                lit("TYPHA_LOGSEVERITYSCREEN", "info"),
                lit("TYPHA_LOGFILEPATH", "none"),
                lit("TYPHA_LOGSEVERITYSYS", "none"),
                lit("TYPHA_CONNECTIONREBALANCINGMODE", "kubernetes"),
                lit("TYPHA_DATASTORETYPE", "kubernetes"),
                lit("TYPHA_HEALTHENABLED", "true"),
            ],
        }],
    }
}

/// `cni_network_config` as the manifests write it (a YAML `|-` block: the JSON text with its
/// line breaks): v2.6's single plugin configuration (CNI 0.1.0), v3.0's conflist with the
/// portmap plugin (CNI 0.3.0).
fn cni_network_config(gen: Gen, datastore: Datastore) -> String {
    let calico = match datastore {
        Datastore::Etcd => {
            r#""type": "calico",
"etcd_endpoints": "__ETCD_ENDPOINTS__",
"log_level": "info",
"mtu": 1500,
"ipam": {
    "type": "calico-ipam"
},
"policy": {
    "type": "k8s",
    "k8s_api_root": "https://__KUBERNETES_SERVICE_HOST__:__KUBERNETES_SERVICE_PORT__",
    "k8s_auth_token": "__SERVICEACCOUNT_TOKEN__"
},
"kubernetes": {
    "kubeconfig": "/etc/cni/net.d/__KUBECONFIG_FILENAME__"
}"#
        }
        Datastore::Kubernetes => {
            r#""type": "calico",
"log_level": "info",
"datastore_type": "kubernetes",
"nodename": "__KUBERNETES_NODE_NAME__",
"mtu": 1500,
"ipam": {
    "type": "host-local",
    "subnet": "usecalico"
},
"policy": {
    "type": "k8s",
    "k8s_auth_token": "__SERVICEACCOUNT_TOKEN__"
},
"kubernetes": {
    "k8s_api_root": "https://__KUBERNETES_SERVICE_HOST__:__KUBERNETES_SERVICE_PORT__",
    "kubeconfig": "__KUBECONFIG_FILEPATH__"
}"#
        }
    };
    let indent = |text: &str, by: usize| -> String {
        text.lines().map(|l| format!("{}{l}", " ".repeat(by))).collect::<Vec<_>>().join("\n")
    };
    match gen {
        Gen::V2 => format!(
            "{{\n  \"name\": \"k8s-pod-network\",\n  \"cniVersion\": \"0.1.0\",\n{}\n}}",
            indent(calico, 2)
        ),
        Gen::V3 => format!(
            "{{\n  \"name\": \"k8s-pod-network\",\n  \"cniVersion\": \"0.3.0\",\n  \"plugins\": [\n    {{\n{}\n    }},\n    {{\n      \"type\": \"portmap\",\n      \"snat\": true,\n      \"capabilities\": {{\"portMappings\": true}}\n    }}\n  ]\n}}",
            indent(calico, 6)
        ),
    }
}

/// calico-config's data: that of the manifest last applied (`manifest`), with the CNI
/// configuration of `cni` (an operator may have re-applied another release's ConfigMap).
/// etcd: `etcd_endpoints`, `calico_backend`, `cni_network_config`; Kubernetes datastore:
/// `cni_network_config` and, from v3.0 (or with Typha), `typha_service_name`.
fn calico_config(manifest: Gen, cni: Gen, datastore: Datastore, typha: Option<u32>) -> BTreeMap<String, String> {
    let mut data = BTreeMap::new();
    data.insert("cni_network_config".to_string(), cni_network_config(cni, datastore));
    if datastore == Datastore::Etcd {
        data.insert("etcd_endpoints".to_string(), ETCD_ENDPOINTS.to_string());
        data.insert("calico_backend".to_string(), "bird".to_string());
    }
    let typha_service = match typha {
        Some(n) if n > 0 => Some("calico-typha"),
        Some(_) => Some("none"),
        None if datastore == Datastore::Kubernetes && manifest == Gen::V3 => Some("none"),
        None => None,
    };
    if let Some(service) = typha_service {
        data.insert("typha_service_name".to_string(), service.to_string());
    }
    data
}

const SECOND: u64 = 1000;
const MINUTE: u64 = 60 * SECOND;
const HOUR: u64 = 60 * MINUTE;

/// Build a workload with its history for the stage; returns it and when its live pods started.
fn workload(
    kind: Kind,
    name: &str,
    strategy: &str,
    replicas: u32,
    (v2, v3): (Template, Template),
    options: &InitOptions,
    now: u64,
) -> (Workload, u64) {
    let mut w = Workload {
        kind,
        name: name.into(),
        namespace: CALICO_NAMESPACE.into(),
        strategy: strategy.into(),
        replicas,
        template: v2.clone(),
        revisions: Vec::new(),
        created_at_ms: now - 3 * HOUR,
        stuck: false,
        annotations: Default::default(),
    };
    let (live, revisions, pods_from) = match options.stage {
        Stage::NotUpgraded => (v2.clone(), vec![(v2.clone(), 1, now - 3 * HOUR)], now - 3 * HOUR),
        Stage::Upgraded => (v3.clone(), vec![(v2.clone(), 1, now - 3 * HOUR), (v3.clone(), 2, now - HOUR)], now - HOUR),
        Stage::Downgraded => {
            (v2.clone(), vec![(v3.clone(), 2, now - HOUR), (v2.clone(), 3, now - 3 * HOUR)], now - 10 * MINUTE)
        }
    };
    w.template = live;
    for (template, number, created) in revisions {
        if options.pruned_history && template != w.template {
            continue;
        }
        let revision = revision_for(&w, &template, number, created);
        w.revisions.push(revision);
    }
    (w, pods_from)
}

fn running_pod(state: &State, w: &Workload, owner: &str, name: String, node: &str, created: u64) -> Pod {
    let start = state.config.pod_start_ms;
    Pod {
        name,
        namespace: w.namespace.clone(),
        owner: Some(owner.into()),
        controller: Some(w.kind),
        template_hash: w.template.hash(),
        node: Some(node.into()),
        images: w.template.images(),
        host_network: true,
        created_at_ms: created,
        running_at_ms: created + start,
        ready_at_ms: Some(created + start),
        deleting_at_ms: None,
        gone_at_ms: None,
    }
}

/// The initial state for `fake-cluster init`, at wall-clock time `now`.
pub fn build(options: &InitOptions, now: u64) -> State {
    let config = options.config.clone();
    let datastore = config.datastore;
    let ready = match datastore {
        Datastore::Kubernetes => true,
        Datastore::Etcd => options.ready_flag.unwrap_or(options.stage == Stage::Downgraded),
    };
    let cluster_information = match options.stage {
        Stage::Upgraded | Stage::Downgraded => Some("v3.0.4".to_string()),
        Stage::NotUpgraded if !ready => Some("v2.6.8".to_string()),
        Stage::NotUpgraded => None,
    };
    let mut state = State {
        config,
        clock_ms: now,
        name_seq: 0,
        daemonset: None,
        deployment: None,
        pods: Vec::new(),
        tombstones: Vec::new(),
        etcd_ready: ready,
        cluster_information,
        faults: options.faults.clone(),
        outage_until_ms: None,
        typha: None,
        configmaps: Vec::new(),
        // Where a young kubeadm cluster's etcd revision might be.
        resource_version: 300,
        calico_objects: Vec::new(),
    };
    let nodes = state.config.node_names();

    if let Some(name) = &options.daemonset {
        let canal = name.starts_with("canal");
        let (ds, pods_from) = workload(
            Kind::DaemonSet,
            name,
            &options.strategy,
            0,
            (node_template(Gen::V2, datastore, canal), node_template(Gen::V3, datastore, canal)),
            options,
            now,
        );
        for (i, node) in nodes.iter().enumerate() {
            let pod_name = state.pod_name(&ds.name);
            let created = pods_from + (i as u64 + 1) * 7 * SECOND;
            let pod = running_pod(&state, &ds, &ds.name, pod_name, node, created);
            state.pods.push(pod);
        }
        state.daemonset = Some(ds);
    }

    if options.deployment && datastore == Datastore::Etcd {
        let (deploy, pods_from) = workload(
            Kind::Deployment,
            "calico-kube-controllers",
            "Recreate",
            1,
            (kube_controllers_template(Gen::V2), kube_controllers_template(Gen::V3)),
            options,
            now,
        );
        let rs = deploy.revision_name(&deploy.template);
        let pod_name = state.pod_name(&rs);
        let node = nodes.last().cloned().unwrap_or_else(|| "node-1".into());
        let pod = running_pod(&state, &deploy, &rs, pod_name, &node, pods_from + 30 * SECOND);
        state.pods.push(pod);
        state.deployment = Some(deploy);
    }

    if options.extra_pods > 0 {
        let rs = format!("web-{}", safe_encode(&fnv32a(b"web nginx:1.13").to_string()));
        for i in 0..options.extra_pods {
            let name = state.pod_name(&rs);
            let created = now - 30 * MINUTE + u64::from(i) * MINUTE;
            let node = if nodes.is_empty() { None } else { Some(nodes[i as usize % nodes.len()].clone()) };
            state.pods.push(Pod {
                name,
                namespace: "default".into(),
                owner: Some(rs.clone()),
                controller: None,
                template_hash: String::new(),
                node,
                images: vec!["nginx:1.13".into()],
                host_network: false,
                created_at_ms: created,
                running_at_ms: created + 2 * SECOND,
                ready_at_ms: Some(created + 2 * SECOND),
                deleting_at_ms: None,
                gone_at_ms: None,
            });
        }
        let name = state.pod_name("node-exporter");
        let created = now - 20 * MINUTE;
        state.pods.push(Pod {
            name,
            namespace: "default".into(),
            owner: Some("node-exporter".into()),
            controller: None,
            template_hash: String::new(),
            node: nodes.first().cloned(),
            images: vec!["prom/node-exporter:v0.15.2".into()],
            host_network: true,
            created_at_ms: created,
            running_at_ms: created + 2 * SECOND,
            ready_at_ms: Some(created + 2 * SECOND),
            deleting_at_ms: None,
            gone_at_ms: None,
        });
    }

    // Built last, so that without it every other name is what it always was.
    if let Some(replicas) = options.typha {
        let template = typha_template();
        let mut typha = Workload {
            kind: Kind::Deployment,
            name: "calico-typha".into(),
            namespace: CALICO_NAMESPACE.into(),
            strategy: "RollingUpdate".into(),
            replicas,
            template: template.clone(),
            revisions: Vec::new(),
            created_at_ms: now - HOUR,
            stuck: false,
            annotations: Default::default(),
        };
        let revision = revision_for(&typha, &template, 1, now - HOUR);
        typha.revisions.push(revision);
        let rs = typha.revision_name(&template);
        for i in 0..replicas {
            let name = state.pod_name(&rs);
            let node = if nodes.is_empty() { "node-1".to_string() } else { nodes[i as usize % nodes.len()].clone() };
            let created = now - HOUR + 20 * SECOND + u64::from(i) * SECOND;
            let pod = running_pod(&state, &typha, &rs, name, &node, created);
            state.pods.push(pod);
        }
        state.typha = Some(typha);
    }

    // calico-config came with the first manifest (v2.6) and was overwritten by each apply.
    let manifest = if options.stage == Stage::NotUpgraded { Gen::V2 } else { Gen::V3 };
    let data = calico_config(manifest, options.cni_config.unwrap_or(manifest), datastore, options.typha);
    let resource_version = state.bump();
    state.configmaps.push(ConfigMap {
        name: "calico-config".into(),
        namespace: CALICO_NAMESPACE.into(),
        data,
        created_at_ms: now - 3 * HOUR,
        resource_version,
        uid: uid(&format!("{CALICO_NAMESPACE}/calico-config")),
    });
    state
}

/// A cluster laid out as `fake-cluster init OPTIONS` would, at a fixed time, for unit tests.
#[cfg(test)]
pub mod testing {
    use crate::state::State;

    pub const T0: u64 = 1_800_000_000_000;

    pub fn cluster(options: &[&str]) -> State {
        let args: Vec<String> = options.iter().map(|s| s.to_string()).collect();
        super::build(&crate::control::parse_init(&args).expect("options"), T0)
    }
}
