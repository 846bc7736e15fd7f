//! The API objects as kubectl prints them with `-o json`: DaemonSet, Deployment,
//! ControllerRevision and ReplicaSet built from the state (the fields the simulation has, with
//! the API server's names, `omitempty` counters left out), their pod templates, ConfigMaps,
//! the `List` envelope, and kubectl's JSON printing (4-space indentation, Go's escapes).
//!
//! Shapes follow real kubectl 1.33 against kube-apiserver 1.20 (`get
//! daemonsets,deployments,controllerrevisions,replicasets -o json`). The counters are the ones
//! the custom-columns answers print (`Counts`), so a table and a JSON document of the same
//! instant agree. JSON is the same for every kubectl style.

use serde_json::{json, Value};

use crate::kubectl::env_json;
use crate::sim;
use crate::state::{rfc3339, ConfigMap, Kind, Pod, Revision, State, Template, Workload};

/// `.metadata.generation` and `.status.observedGeneration`: the live template's revision
/// number (the fake's controllers see a new template at once).
pub fn generation(w: &Workload) -> u64 {
    w.revisions.iter().find(|r| r.template == w.template).map_or(w.max_revision(), |r| r.number)
}

/// What a workload's controller reports about its pods at `t`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    /// Pods not being deleted (`currentNumberScheduled`, Deployment `.status.replicas`).
    pub live: usize,
    /// Of those, made from the live template.
    pub updated: usize,
    /// Of those, with the Ready condition True (`numberReady`, `readyReplicas`).
    pub ready: usize,
    /// Ready and not being deleted (minReadySeconds 0): `numberAvailable`, `availableReplicas`.
    pub available: usize,
}

/// The pods of a workload's kind and namespace at `t`, counted as its controller does.
pub fn counts(state: &State, w: &Workload, t: u64) -> Counts {
    let current = w.template.hash();
    let live: Vec<&Pod> = state.pods.iter().filter(|p| w.owns(p) && p.deleting_at_ms.is_none()).collect();
    Counts {
        live: live.len(),
        updated: live.iter().filter(|p| p.template_hash == current).count(),
        ready: live.iter().filter(|p| sim::ready_condition(state, p, t)).count(),
        available: live.iter().filter(|p| sim::available(state, p, t)).count(),
    }
}

/// DaemonSet `.status.desiredNumberScheduled` / Deployment `.spec.replicas`.
pub fn desired(state: &State, w: &Workload) -> usize {
    match w.kind {
        Kind::DaemonSet => state.config.node_names().len(),
        Kind::Deployment => w.replicas as usize,
    }
}

/// Set `key` to `n` unless it is zero (a Go `omitempty` integer).
fn omitempty(object: &mut Value, key: &str, n: usize) {
    if n != 0 {
        object[key] = json!(n);
    }
}

/// A pod template as the API server returns it (the fields the simulation has); `hash`: the
/// `pod-template-hash` label a ReplicaSet's template carries.
pub fn template_json(workload: &Workload, template: &Template, hash: Option<&str>) -> Value {
    let mut labels = json!({ "k8s-app": workload.name });
    if let Some(hash) = hash {
        labels["pod-template-hash"] = Value::String(hash.to_string());
    }
    let containers: Vec<Value> = template
        .containers
        .iter()
        .map(|c| {
            let mut container = json!({ "image": c.image, "name": c.name });
            if !c.env.is_empty() {
                container["env"] = serde_json::from_str(&env_json(&c.env)).expect("env JSON");
            }
            container
        })
        .collect();
    json!({
        "metadata": { "creationTimestamp": null, "labels": labels },
        "spec": { "containers": containers, "hostNetwork": true },
    })
}

fn owner_reference(kind: &str, name: &str) -> Value {
    json!([{ "apiVersion": "apps/v1", "blockOwnerDeletion": true, "controller": true, "kind": kind, "name": name }])
}

/// A Deployment's `.spec.strategy` as the API server defaults it (Typha's RollingUpdate gets
/// the default 25 % surge and unavailability).
fn deployment_strategy(strategy: &str) -> Value {
    if strategy == "RollingUpdate" {
        json!({ "rollingUpdate": { "maxSurge": "25%", "maxUnavailable": "25%" }, "type": "RollingUpdate" })
    } else {
        json!({ "type": strategy })
    }
}

/// The DaemonSet or Deployment at `t`.
pub fn workload_json(state: &State, w: &Workload, t: u64) -> Value {
    let generation = generation(w);
    let counts = counts(state, w, t);
    let desired = desired(state, w);
    let selector = json!({ "matchLabels": { "k8s-app": w.name } });
    let template = template_json(w, &w.template, None);
    let mut labels = json!({ "k8s-app": w.name });
    for (key, value) in &state.config.workload_labels {
        labels[key] = json!(value);
    }
    let mut metadata = json!({
        "creationTimestamp": rfc3339(w.created_at_ms),
        "generation": generation,
        "labels": labels,
        "name": w.name,
        "namespace": w.namespace,
    });
    match w.kind {
        Kind::DaemonSet => {
            let mut annotations = json!({ "deprecated.daemonset.template.generation": generation.to_string() });
            for (key, value) in &w.annotations {
                annotations[key] = json!(value);
            }
            metadata["annotations"] = annotations;
            let strategy = if w.strategy == "RollingUpdate" {
                json!({ "rollingUpdate": { "maxUnavailable": 1 }, "type": "RollingUpdate" })
            } else {
                json!({ "type": w.strategy })
            };
            let mut status = json!({
                "currentNumberScheduled": counts.live,
                "desiredNumberScheduled": desired,
                "numberMisscheduled": 0,
                "numberReady": counts.ready,
                "observedGeneration": generation,
            });
            omitempty(&mut status, "updatedNumberScheduled", counts.updated);
            omitempty(&mut status, "numberAvailable", counts.available);
            omitempty(&mut status, "numberUnavailable", desired.saturating_sub(counts.available));
            json!({
                "apiVersion": "apps/v1",
                "kind": "DaemonSet",
                "metadata": metadata,
                "spec": {
                    "revisionHistoryLimit": 10,
                    "selector": selector,
                    "template": template,
                    "updateStrategy": strategy,
                },
                "status": status,
            })
        }
        Kind::Deployment => {
            metadata["annotations"] = json!({ "deployment.kubernetes.io/revision": generation.to_string() });
            let mut status = json!({ "observedGeneration": generation });
            omitempty(&mut status, "replicas", counts.live);
            omitempty(&mut status, "updatedReplicas", counts.updated);
            omitempty(&mut status, "readyReplicas", counts.ready);
            omitempty(&mut status, "availableReplicas", counts.available);
            omitempty(&mut status, "unavailableReplicas", desired.saturating_sub(counts.available));
            json!({
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": metadata,
                "spec": {
                    "progressDeadlineSeconds": 600,
                    "replicas": w.replicas,
                    "revisionHistoryLimit": 10,
                    "selector": selector,
                    "strategy": deployment_strategy(&w.strategy),
                    "template": template,
                },
                "status": status,
            })
        }
    }
}

/// A DaemonSet's ControllerRevision or a Deployment's ReplicaSet at `t`.
pub fn revision_json(state: &State, w: &Workload, r: &Revision, t: u64) -> Value {
    let hash = r.name.rsplit('-').next().unwrap_or("");
    let mut metadata = json!({
        "creationTimestamp": rfc3339(r.created_at_ms),
        "name": r.name,
        "namespace": w.namespace,
    });
    match w.kind {
        Kind::DaemonSet => {
            metadata["labels"] = json!({ "controller-revision-hash": hash, "k8s-app": w.name });
            metadata["ownerReferences"] = owner_reference("DaemonSet", &w.name);
            let template = template_json(w, &r.template, None);
            json!({
                "apiVersion": "apps/v1",
                "data": { "spec": { "template": {
                    "$patch": "replace",
                    "metadata": template["metadata"],
                    "spec": template["spec"],
                } } },
                "kind": "ControllerRevision",
                "metadata": metadata,
                "revision": r.number,
            })
        }
        Kind::Deployment => {
            // Recreate: only the live template's ReplicaSet is scaled up.
            let replicas = if r.template == w.template { w.replicas } else { 0 };
            metadata["annotations"] = json!({
                "deployment.kubernetes.io/desired-replicas": w.replicas.to_string(),
                "deployment.kubernetes.io/max-replicas": w.replicas.to_string(),
                "deployment.kubernetes.io/revision": r.number.to_string(),
            });
            metadata["labels"] = json!({ "k8s-app": w.name, "pod-template-hash": hash });
            metadata["ownerReferences"] = owner_reference("Deployment", &w.name);
            let live: Vec<&Pod> = state
                .pods
                .iter()
                .filter(|p| p.owner.as_deref() == Some(&r.name) && p.deleting_at_ms.is_none())
                .collect();
            let ready = live.iter().filter(|p| sim::ready_condition(state, p, t)).count();
            let available = live.iter().filter(|p| sim::available(state, p, t)).count();
            // `replicas` is the one ReplicaSet counter without omitempty.
            let mut status = json!({ "replicas": live.len() });
            omitempty(&mut status, "fullyLabeledReplicas", live.len());
            omitempty(&mut status, "readyReplicas", ready);
            omitempty(&mut status, "availableReplicas", available);
            json!({
                "apiVersion": "apps/v1",
                "kind": "ReplicaSet",
                "metadata": metadata,
                "spec": {
                    "replicas": replicas,
                    "selector": { "matchLabels": { "k8s-app": w.name, "pod-template-hash": hash } },
                    "template": template_json(w, &r.template, Some(hash)),
                },
                "status": status,
            })
        }
    }
}

/// A ConfigMap as the API server returns it: `data` (left out when empty, `omitempty`) and
/// the metadata a stored object has (no `managedFields`: kubectl 1.21+ hides them, and the
/// fake keeps no `last-applied-configuration` annotation).
pub fn configmap_json(configmap: &ConfigMap) -> Value {
    let mut object = json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "creationTimestamp": rfc3339(configmap.created_at_ms),
            "name": configmap.name,
            "namespace": configmap.namespace,
            "resourceVersion": configmap.resource_version.to_string(),
            "uid": configmap.uid,
        },
    });
    if !configmap.data.is_empty() {
        object["data"] = json!(configmap.data);
    }
    object
}

/// kubectl's `List` of several objects (`printGeneric`: `resourceVersion` empty).
pub fn list(items: Vec<Value>) -> Value {
    json!({ "apiVersion": "v1", "items": items, "kind": "List", "metadata": { "resourceVersion": "" } })
}

/// As kubectl prints JSON: keys sorted, 4-space indentation, a final newline, and Go's
/// `encoding/json` escapes in strings (`<`, `>`, `&`, U+2028, U+2029 as `\u003c` ...), which
/// serde_json does not make; those characters only ever stand inside strings.
pub fn pretty(document: &Value) -> String {
    let mut bytes = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut serializer = serde_json::Serializer::with_formatter(&mut bytes, formatter);
    serde::Serialize::serialize(document, &mut serializer).expect("JSON");
    let text = String::from_utf8(bytes).expect("UTF-8");
    let mut escaped = String::with_capacity(text.len() + 1);
    for c in text.chars() {
        match c {
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => escaped.push_str(&format!("\\u{:04x}", u32::from(c))),
            _ => escaped.push(c),
        }
    }
    escaped + "\n"
}

/// One page of `GET /api/v1/pods?limit=N&continue=T` as the API server sends it and `kubectl
/// get --raw` passes it through: compact JSON, `metadata.continue` on every page but the last
/// (`fixtures/kubectl/get-raw-pods/*`), each pod with the fields the fake has and its phase at
/// `now`.
/// `kubectl get pod NAME -o json`: the pod with its conditions and container statuses, the
/// waiting messages as kubelet 1.20 with Docker words them (real captures,
/// `fixtures/kubectl/get-pod/`).
pub fn pod_json(state: &State, pod: &Pod, t: u64) -> Value {
    let view = crate::sim::view(pod, t);
    let waiting = crate::sim::waiting(state, pod, t);
    let restarts = crate::sim::restarts(state, pod, t);
    let uid = format!("{:08x}-0000-4000-8000-000000000000", pod.created_at_ms % 0xffff_ffff);
    let names: Vec<String> = (0..pod.images.len()).map(|i| format!("container-{i}")).collect();
    let statuses: Vec<Value> = match &view.ready {
        None => Vec::new(),
        Some(ready) => (0..pod.images.len())
            .map(|i| {
                let image = &pod.images[i];
                let state_of = match waiting[i] {
                    "" => json!({ "running": { "startedAt": rfc3339(pod.running_at_ms) } }),
                    "ErrImagePull" => json!({ "waiting": { "reason": "ErrImagePull", "message": format!("rpc error: code = Unknown desc = Error response from daemon: manifest for {image} not found: manifest unknown: manifest unknown") } }),
                    "ImagePullBackOff" => json!({ "waiting": { "reason": "ImagePullBackOff", "message": format!("Back-off pulling image \"{image}\"") } }),
                    "CrashLoopBackOff" => json!({ "waiting": { "reason": "CrashLoopBackOff", "message": format!("back-off 10s restarting failed container={} pod={}_{}({uid})", names[i], pod.name, pod.namespace) } }),
                    other => json!({ "waiting": { "reason": other } }),
                };
                let mut status = json!({
                    "name": names[i], "image": image, "imageID": "", "ready": ready[i], "restartCount": restarts[i],
                    "started": ready[i], "state": state_of, "lastState": {},
                });
                if restarts[i] > 0 {
                    status["lastState"] = json!({ "terminated": { "exitCode": 1, "reason": "Error" } });
                }
                status
            })
            .collect(),
    };
    let condition = |kind: &str, status: bool| json!({ "type": kind, "status": if status { "True" } else { "False" } });
    let mut metadata = json!({ "name": pod.name, "namespace": pod.namespace, "uid": uid, "creationTimestamp": rfc3339(pod.created_at_ms) });
    if let Some(owner) = &pod.owner {
        metadata["ownerReferences"] = json!([{ "name": owner }]);
    }
    if let Some(deleting) = pod.deleting_at_ms.filter(|d| t >= *d) {
        metadata["deletionTimestamp"] = json!(rfc3339(pod.gone_at_ms.unwrap_or(deleting)));
        metadata["deletionGracePeriodSeconds"] = json!(state.config.pod_stop_ms / 1000);
    }
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": metadata,
        "spec": {
            "nodeName": pod.node,
            "containers": (0..pod.images.len()).map(|i| json!({ "name": names[i], "image": pod.images[i] })).collect::<Vec<_>>(),
        },
        "status": {
            "phase": view.phase,
            "conditions": [
                condition("Ready", crate::sim::ready_condition(state, pod, t)),
                condition("ContainersReady", view.all_ready()),
                condition("PodScheduled", true),
            ],
            "containerStatuses": statuses,
        },
    })
}

pub fn pods_page(pods: &[&Pod], limit: usize, after: usize, now: u64) -> String {
    let end = (after + limit.max(1)).min(pods.len());
    let items: Vec<Value> = pods[after.min(end)..end]
        .iter()
        .map(|p| {
            let mut spec = json!({ "containers": p.images.iter().map(|i| json!({ "image": i })).collect::<Vec<_>>() });
            if p.host_network {
                spec["hostNetwork"] = json!(true);
            }
            if let Some(node) = &p.node {
                spec["nodeName"] = json!(node);
            }
            json!({
                "metadata": { "name": p.name, "namespace": p.namespace, "creationTimestamp": rfc3339(p.created_at_ms) },
                "spec": spec,
                "status": { "phase": crate::sim::view(p, now).phase },
            })
        })
        .collect();
    let mut metadata = json!({ "resourceVersion": "4242" });
    if end < pods.len() {
        metadata["continue"] = json!(format!("after{end}"));
        metadata["remainingItemCount"] = json!(pods.len() - end);
    }
    json!({ "kind": "PodList", "apiVersion": "v1", "metadata": metadata, "items": items }).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kubectl::{execute, parse};
    use crate::sim;

    use crate::scenario::testing::{cluster, T0};

    fn kubectl(state: &mut State, line: &str, t: u64) -> crate::Output {
        let args: Vec<String> = line.split(' ').map(str::to_string).collect();
        sim::advance(state, t);
        execute(state, parse(&args).expect("simulated"), t, false)
    }

    /// `empty.json` of the probe captures, byte for byte.
    #[test]
    fn an_empty_namespace_is_the_empty_list() {
        let mut state = cluster(&[]);
        let answer =
            kubectl(&mut state, "get daemonsets,deployments,controllerrevisions,replicasets -n nope -o json", T0);
        let expected = "{\n    \"apiVersion\": \"v1\",\n    \"items\": [],\n    \"kind\": \"List\",\n    \"metadata\": {\n        \"resourceVersion\": \"\"\n    }\n}\n";
        assert_eq!((answer.stdout.as_str(), answer.stderr.as_str(), answer.code), (expected, "", 0));
    }

    /// Types in the order named, each by name; templates and counters agree with the other
    /// answers of the same instant.
    #[test]
    fn the_combined_query_agrees_with_the_tables() {
        let mut state = cluster(&[]);
        let t = T0 + 10;
        kubectl(&mut state, "rollout undo ds/calico-node -n kube-system", t);
        let answer =
            kubectl(&mut state, "get daemonsets,deployments,controllerrevisions,replicasets -n kube-system -o json", t);
        let document: Value = serde_json::from_str(&answer.stdout).expect("JSON");
        let items = document["items"].as_array().expect("items");
        let kinds: Vec<&str> = items.iter().map(|i| i["kind"].as_str().unwrap()).collect();
        assert_eq!(
            kinds,
            ["DaemonSet", "Deployment", "ControllerRevision", "ControllerRevision", "ReplicaSet", "ReplicaSet"]
        );
        let names: Vec<&str> = items[2..4].iter().map(|i| i["metadata"]["name"].as_str().unwrap()).collect();
        assert!(names[0] < names[1], "{names:?}");

        let ds = &items[0];
        assert_eq!(ds["metadata"]["generation"], 3);
        assert_eq!(ds["status"]["observedGeneration"], 3);
        let live = items[2..4].iter().find(|r| r["revision"] == 3).expect("revision 3");
        let mut revision_template = live["data"]["spec"]["template"].clone();
        revision_template.as_object_mut().unwrap().remove("$patch");
        assert_eq!(ds["spec"]["template"], revision_template);
        assert_eq!(live["metadata"]["ownerReferences"][0]["kind"], "DaemonSet");

        let table = kubectl(
            &mut state,
            "get daemonset/calico-node -n kube-system -o custom-columns=DESIRED:.status.desiredNumberScheduled,UPDATED:.status.updatedNumberScheduled,AVAILABLE:.status.numberAvailable",
            t,
        );
        let cells: Vec<&str> = table.stdout.lines().nth(1).unwrap().split_whitespace().collect();
        let status = &ds["status"];
        let printed = |key: &str| status.get(key).map_or("<none>".to_string(), |v| v.to_string());
        assert_eq!(
            cells,
            [printed("desiredNumberScheduled"), printed("updatedNumberScheduled"), printed("numberAvailable")]
        );
        // The undo deleted one old pod and made one new one, not ready yet.
        assert_eq!((printed("updatedNumberScheduled").as_str(), printed("numberAvailable").as_str()), ("1", "2"));

        // The same ControllerRevision by name is the same object.
        let name = live["metadata"]["name"].as_str().unwrap();
        let by_name = kubectl(&mut state, &format!("get controllerrevisions {name} -n kube-system -o json"), t);
        assert_eq!(serde_json::from_str::<Value>(&by_name.stdout).unwrap(), *live);

        let rs: Vec<&Value> = items[4..].iter().filter(|r| r["spec"]["replicas"] == 1).collect();
        assert_eq!(rs.len(), 1);
        assert_eq!(rs[0]["metadata"]["annotations"]["deployment.kubernetes.io/revision"], "2");
    }
}
