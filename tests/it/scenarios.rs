//! In-process scenarios: the whole playbook against a scripted executor, one canned answer per
//! command, so each test states exactly which commands run, in which order, and proves that
//! check mode and failures never reach a mutating command.

use calico_downgrade::exec::{Effect, ExecError};
use calico_downgrade::exit::Exit;
use calico_downgrade::options::Options;
use calico_downgrade::playbook::{execute, Command, Outcome};
use calico_downgrade::tasks::{Context, Environment, Silent, Status};
use calico_downgrade::tools::calico_upgrade::{self, ApiConfig};
use calico_downgrade::tools::calicoctl;
use calico_downgrade::tools::kubectl::{Kubectl, WorkloadKind};

use crate::support::scripted::{exit, lock_write, ok, Answer, Scripted};

const NODE_V2: &str = "quay.io/calico/node:v2.6.8,quay.io/calico/cni:v1.11.4";
const NODE_V3: &str = "quay.io/calico/node:v3.0.4,quay.io/calico/cni:v2.0.2";
const KC_V2: &str = "quay.io/calico/kube-controllers:v1.0.3";
const KC_V3: &str = "quay.io/calico/kube-controllers:v2.0.2";

fn options() -> Options {
    Options {
        kubectl: Some("/fake/kubectl".into()),
        calicoctl: Some("/fake/calicoctl".into()),
        calico_upgrade: Some("/fake/calico-upgrade".into()),
        ..Options::default()
    }
}

fn kubectl() -> Kubectl {
    Kubectl { program: "/fake/kubectl".into(), connection: options().connection(), client: Some(version("1.33.1")) }
}

fn version(v: &str) -> semver::Version {
    semver::Version::parse(v).unwrap()
}

/// A Calico cluster in a given state, scripted command by command.
struct Cluster {
    exec: Scripted,
    upgrade_version: String,
    /// What `kubectl get daemonsets,deployments,controllerrevisions,replicasets -o json`
    /// answers (`render` after each change).
    model: Model,
}

/// The namespace's workloads and revisions, as the inspection query shows them.
#[derive(Clone)]
struct Model {
    daemonset: String,
    strategy: String,
    node_images: String,
    /// `NAME<TAB>VALUE<TAB>VALUEFROM` lines, as the environment was once written here.
    env: String,
    revisions: Vec<(u64, String, String)>,
    /// `None`: no Deployment in the namespace.
    deployment: Option<String>,
    replica_sets: Vec<(u64, String)>,
    /// The cluster lock's annotation on the DaemonSet, when someone holds it.
    lock: Option<String>,
    /// Extra metadata of both workloads (labels, annotations, managedFields), merged in.
    metadata: serde_json::Value,
}

/// A pod template with one container per image (comma-separated), and these variables.
fn template(images: &str, env: &[serde_json::Value]) -> serde_json::Value {
    let containers: Vec<serde_json::Value> = images
        .split(',')
        .enumerate()
        .map(|(i, image)| {
            let name = image.rsplit('/').next().unwrap().split(':').next().unwrap();
            let mut container = serde_json::json!({"name": name, "image": image});
            if i == 0 && !env.is_empty() {
                container["env"] = serde_json::Value::Array(env.to_vec());
            }
            container
        })
        .collect();
    serde_json::json!({"metadata": {"labels": {"k8s-app": "x"}}, "spec": {"containers": containers}})
}

impl Model {
    fn json(&self) -> String {
        let env: Vec<serde_json::Value> = self
            .env
            .lines()
            .filter(|l| !l.is_empty())
            .map(|line| {
                let mut fields = line.split('\t');
                let name = fields.next().unwrap_or_default();
                let value = fields.next().unwrap_or_default();
                let from = fields.next().unwrap_or_default();
                if from.is_empty() {
                    serde_json::json!({"name": name, "value": value})
                } else {
                    serde_json::json!({"name": name, "valueFrom": {"configMapKeyRef": {"key": "k", "name": "calico-config"}}})
                }
            })
            .collect();
        let mut items = vec![serde_json::json!({
            "apiVersion": "apps/v1", "kind": "DaemonSet",
            "metadata": {"name": self.daemonset, "namespace": "kube-system", "generation": 3,
                         "annotations": self.lock.iter().map(|v| (calico_downgrade::lease::ANNOTATION, v)).collect::<std::collections::BTreeMap<_, _>>()},
            "spec": {"selector": {"matchLabels": {"k8s-app": self.daemonset}}, "updateStrategy": {"type": self.strategy},
                     "template": template(&self.node_images, &env)},
            "status": {"desiredNumberScheduled": 3}
        })];
        if let Some(images) = &self.deployment {
            items.push(serde_json::json!({
                "apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": "calico-kube-controllers", "namespace": "kube-system", "generation": 3},
                "spec": {"replicas": 1, "selector": {"matchLabels": {"k8s-app": "calico-kube-controllers"}},
                         "strategy": {"type": "Recreate"}, "template": template(images, &[])},
                "status": {}
            }));
        }
        for (n, images, created) in &self.revisions {
            items.push(serde_json::json!({
                "apiVersion": "apps/v1", "kind": "ControllerRevision",
                "metadata": {"name": format!("{}-{n:09}", self.daemonset), "creationTimestamp": created,
                             "ownerReferences": [{"kind": "DaemonSet", "name": self.daemonset}]},
                "revision": n,
                "data": {"spec": {"template": template(images, &env)}}
            }));
        }
        if self.deployment.is_some() {
            for (n, images) in &self.replica_sets {
                items.push(serde_json::json!({
                    "apiVersion": "apps/v1", "kind": "ReplicaSet",
                    "metadata": {"name": format!("calico-kube-controllers-{n:09}"), "creationTimestamp": format!("2026-11-23T20:2{n}:00Z"),
                                 "annotations": {"deployment.kubernetes.io/revision": n.to_string()},
                                 "ownerReferences": [{"kind": "Deployment", "name": "calico-kube-controllers"}]},
                    "spec": {"replicas": 0, "template": template(images, &[])}
                }));
            }
        }
        for item in items.iter_mut().filter(|i| i["kind"] == "DaemonSet" || i["kind"] == "Deployment") {
            for (key, value) in self.metadata.as_object().into_iter().flatten() {
                item["metadata"][key] = value.clone();
            }
        }
        serde_json::json!({"apiVersion": "v1", "items": items, "kind": "List", "metadata": {"resourceVersion": ""}})
            .to_string()
    }
}

fn objects_command() -> String {
    kubectl().objects_and_jobs("kube-system").to_string()
}

/// The same query without the Jobs: the workloads read again (the lock, who changed them).
fn reread_command() -> String {
    kubectl().objects("kube-system").to_string()
}

/// The dry run of both rollbacks to their previous revisions, started with the inspection.
fn previous_dry_run_command() -> String {
    kubectl()
        .rollout_undo_previous_server_dry_run(
            &[(WorkloadKind::DaemonSet, "calico-node"), (WorkloadKind::Deployment, "calico-kube-controllers")],
            "kube-system",
        )
        .to_string()
}

impl Cluster {
    /// Upgraded: revision 1 has v2.6 images, revision 2 (live) v3.0; etcd datastore;
    /// calico-upgrade v1.0.5 with a migration in progress.
    fn upgraded() -> Cluster {
        let model = Model {
            daemonset: "calico-node".into(),
            strategy: "RollingUpdate".into(),
            node_images: NODE_V3.into(),
            env: "CLUSTER_TYPE\tk8s,bgp\t\n".into(),
            revisions: vec![
                (1, NODE_V2.into(), "2026-11-23T20:22:59Z".into()),
                (2, NODE_V3.into(), "2026-11-23T21:30:32Z".into()),
            ],
            deployment: Some(KC_V3.into()),
            replica_sets: vec![(1, KC_V2.into()), (2, KC_V3.into())],
            lock: None,
            metadata: serde_json::json!({}),
        };
        let mut cluster = Cluster { exec: Scripted::new(), upgrade_version: "1.0.5".into(), model };
        cluster.tools("v1.6.5", "v1.0.5");
        cluster.render();
        cluster.all_pods();
        cluster.rollout(ROLLOUT_COMPLETE);
        cluster.allowed(true);
        cluster.dry_runs(1, 1);
        cluster.calico_config();
        cluster.lock_free();
        cluster
    }

    /// `calico-config`, read with the inspection: not there (the model's template takes no CNI
    /// configuration from a ConfigMap, so nothing is judged on it).
    fn calico_config(&mut self) {
        let command = kubectl().config_map("kube-system", "calico-config").to_string();
        self.exec.set(&command, exit(1, "", "Error from server (NotFound): configmaps \"calico-config\" not found\n"));
    }

    /// The cluster lock: free (the inspection query shows no annotation), taken and released
    /// (each patch answers as real kubectl does, whatever holder and times it carries).
    fn lock_free(&mut self) {
        let patched = ok("daemonset.apps/calico-node\n");
        self.exec.on_lock("add", patched.clone()).on_lock("remove", patched);
    }

    /// Answer the inspection query from the model.
    fn render(&mut self) {
        let json = self.model.json();
        self.exec.set(&objects_command(), ok(&json));
        // Read again without the Jobs (the lock, a rollback decided again).
        self.exec.set(&kubectl().objects("kube-system").to_string(), ok(&json));
        // A kubectl before 1.21 (`old_kubectl`) shows managedFields without being asked.
        let old = Kubectl { client: Some(version("1.15.12")), ..kubectl() };
        self.exec.set(&old.objects_and_jobs("kube-system").to_string(), ok(&json));
        self.exec.set(&old.objects("kube-system").to_string(), ok(&json));
    }

    /// A kubectl older than 1.16 (no `--output-watch-events`, no `--dry-run=server`): the
    /// wait by looks, the watch's rows only candidates.
    fn old_kubectl(&mut self) {
        self.exec.set(
            &kubectl().version().to_string(),
            ok("Client Version: version.Info{Major:\"1\", Minor:\"15\", GitVersion:\"v1.15.12\", GitCommit:\"x\"}\n"),
        );
    }

    /// `kubectl get daemonset/calico-node deployment/calico-kube-controllers`: the live
    /// rollout status (the last answer repeats).
    fn rollout(&mut self, table: &str) {
        let command = kubectl().workload_status("kube-system", "calico-node", Some("calico-kube-controllers"));
        self.exec.set(&command.to_string(), ok(table));
    }

    /// `kubectl auth can-i` for every verb the run may need: all `yes`, or all `no`.
    fn allowed(&mut self, yes: bool) {
        let k = kubectl();
        let answer = if yes { ok("yes\n") } else { exit(1, "no\n", "") };
        for (verb, resource) in [
            ("patch", "daemonsets.apps/calico-node"),
            ("patch", "deployments.apps/calico-kube-controllers"),
            ("list", "pods"),
            ("watch", "pods"),
            ("delete", "pods"),
        ] {
            self.exec.set(&k.can_i(verb, resource, Some("kube-system")).to_string(), answer.clone());
        }
        self.exec.set(&k.config_user().to_string(), ok("jane"));
        if !yes {
            // The server dry runs are authorized as the patch (what real kubectl printed for a
            // user bound to ClusterRole view, a real capture, and its Deployment twin).
            let forbidden = include_str!("../../fixtures/kubectl/rollout-undo/ds-dry-run-server-forbidden-1.32.stderr");
            let deployment_forbidden = "Error from server (Forbidden): deployments.apps \"calico-kube-controllers\" is forbidden: User \"jane\" cannot patch resource \"deployments\" in API group \"apps\" in the namespace \"kube-system\"\n";
            for (kind, name, stderr) in [
                (WorkloadKind::DaemonSet, "calico-node", forbidden),
                (WorkloadKind::Deployment, "calico-kube-controllers", deployment_forbidden),
            ] {
                self.exec
                    .set(&k.rollout_undo_server_dry_run(kind, "kube-system", name, 1).to_string(), exit(1, "", stderr));
            }
            self.exec.set(&previous_dry_run_command(), exit(1, "", &format!("{forbidden}{deployment_forbidden}")));
        }
    }

    /// `rollout undo --dry-run=server` of both workloads to these revisions, and to the previous
    /// one (started with the inspection): accepted.
    fn dry_runs(&mut self, daemonset: u64, deployment: u64) {
        let k = kubectl();
        self.exec.set(
            &previous_dry_run_command(),
            ok("daemonset.apps/calico-node rolled back (server dry run)\ndeployment.apps/calico-kube-controllers rolled back (server dry run)\n"),
        );
        self.exec.set(
            &k.rollout_undo_server_dry_run(WorkloadKind::DaemonSet, "kube-system", "calico-node", daemonset)
                .to_string(),
            ok("daemonset.apps/calico-node rolled back (server dry run)\n"),
        );
        self.exec.set(
            &k.rollout_undo_server_dry_run(
                WorkloadKind::Deployment,
                "kube-system",
                "calico-kube-controllers",
                deployment,
            )
            .to_string(),
            ok("deployment.apps/calico-kube-controllers rolled back (server dry run)\n"),
        );
    }

    /// The dry runs to the previous revision that the inspection starts ahead, for a
    /// DaemonSet and a Deployment of these names that do not exist (typos).
    fn missing_dry_runs(&mut self, daemonset: &str, deployment: &str) {
        let k = kubectl();
        let both = [(WorkloadKind::DaemonSet, daemonset), (WorkloadKind::Deployment, deployment)];
        self.exec.set(
            &k.rollout_undo_previous_server_dry_run(&both, "kube-system").to_string(),
            exit(1, "", &format!("Error from server (NotFound): daemonsets.apps \"{daemonset}\" not found\nError from server (NotFound): deployments.apps \"{deployment}\" not found\n")),
        );
    }

    fn tools(&mut self, calicoctl_version: &str, upgrade_version: &str) {
        self.upgrade_version = upgrade_version.trim_start_matches('v').to_string();
        let k = kubectl();
        self.exec.set(&k.version().to_string(), ok("Client Version: v1.33.1\nKustomize Version: v5.6.0\n"));
        self.exec.set(
            &calicoctl::version_invocation("/fake/calicoctl".as_ref()).to_string(),
            ok(&format!("Client Version:    {calicoctl_version}\nBuild date:        2017-12-01T01:06:48+0000\nGit commit:        d4cfc95\nCluster Version:   v2.6.8\nCluster Type:      k8s,bgp\n")),
        );
        self.exec.set(
            &calico_upgrade::version_invocation("/fake/calico-upgrade".as_ref()).to_string(),
            ok(&format!("Client Version:    {upgrade_version}\nBuild date:        2018-05-06T01:23:45+0000\nGit commit:        3eefd49\n")),
        );
    }

    fn daemonset(&mut self, strategy: &str, images: &str) {
        self.model.strategy = strategy.into();
        self.model.node_images = images.into();
        self.render();
    }

    fn env(&mut self, lines: &str) {
        self.model.env = lines.into();
        self.render();
    }

    fn revisions(&mut self, revisions: &[(u64, &str, &str)]) {
        self.model.revisions = revisions.iter().map(|(n, i, c)| (*n, i.to_string(), c.to_string())).collect();
        self.render();
    }

    fn deployment(&mut self, images: &str) {
        self.model.deployment = Some(images.into());
        self.render();
    }

    fn replica_sets(&mut self, revisions: &[(u64, &str)]) {
        self.model.replica_sets = revisions.iter().map(|(n, i)| (*n, i.to_string())).collect();
        self.render();
    }

    fn all_pods(&mut self) {
        // The API server's page, as `kubectl get --raw` passes it through (one line, compact).
        self.exec.set(
            &kubectl().pods_page(None).to_string(),
            ok(r#"{"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":"4242"},"items":[{"metadata":{"name":"calico-node-aaaaa","namespace":"kube-system","creationTimestamp":"2026-11-23T21:31:34Z"},"spec":{"hostNetwork":true,"nodeName":"node-1"}},{"metadata":{"name":"web-1","namespace":"default","creationTimestamp":"2026-11-23T22:00:00Z"},"spec":{"nodeName":"node-2"}},{"metadata":{"name":"old-1","namespace":"default","creationTimestamp":"2026-11-23T19:00:00Z"},"spec":{"nodeName":"node-2"}}]}"#),
        );
    }

    /// The Calico lists of the Kubernetes API datastore (`What Calico v2.6 will not read`):
    /// each kind answers `answers`' answer for it, or an empty list as the API server sends it.
    fn calico_lists(&mut self, answers: Vec<(&str, Answer)>) {
        let mut answers: std::collections::BTreeMap<&str, Answer> = answers.into_iter().collect();
        for kind in calico_downgrade::calico_kdd::KINDS {
            let empty = r#"{"apiVersion":"crd.projectcalico.org/v1","items":[],"kind":"List","metadata":{"continue":"","resourceVersion":"4242"}}"#;
            let answer = answers.remove(kind.plural).unwrap_or_else(|| ok(empty));
            self.exec.set(&kubectl().calico_objects(kind.plural).to_string(), answer);
        }
    }

    fn inprogress(&mut self, answers: &[bool]) {
        let key =
            calico_upgrade::inprogress_invocation("/fake/calico-upgrade".as_ref(), &ApiConfig::default()).to_string();
        for in_progress in answers {
            let answer = if *in_progress {
                exit(0, "\n---\n\n * Ready flag is false.\nMigration is in Progress.\n\n", "")
            } else {
                exit(1, "\n---\n\n * Ready flag is true.\nMigration is NOT in Progress.\n\n", "")
            };
            self.exec.on(&key, answer);
        }
    }

    fn abort(&mut self, answer: Answer) {
        let key = calico_upgrade::abort_invocation(
            "/fake/calico-upgrade".as_ref(),
            &version(&self.upgrade_version),
            &ApiConfig::default(),
        )
        .to_string();
        self.exec.on(&key, answer);
    }

    fn undo(&mut self, kind: WorkloadKind, name: &str, revision: u64, answer: Answer) {
        self.exec.on(&kubectl().rollout_undo(kind, "kube-system", name, revision).to_string(), answer);
    }

    /// `kubectl rollout undo ds/calico-node deployment/calico-kube-controllers --to-revision=N`:
    /// both rollbacks in one command, when they go to the same revision.
    fn undo_both(&mut self, revision: u64, answer: Answer) {
        let both = [(WorkloadKind::DaemonSet, "calico-node"), (WorkloadKind::Deployment, "calico-kube-controllers")];
        self.exec.on(&kubectl().rollout_undo_together(&both, "kube-system", revision).to_string(), answer);
    }

    /// The live templates read back after a `rollout undo` that failed (`settle`), one
    /// workload at a time.
    fn after_undo(&mut self, node: &str, kube_controllers: &str) {
        let k = kubectl();
        let ds =
            format!("{STATUS_HEADER}\ncalico-node   3   3   3   3   3   <none>   <none>   <none>   <none>   {node}\n");
        self.exec
            .on(&k.one_workload_status(WorkloadKind::DaemonSet, "kube-system", "calico-node").to_string(), ok(&ds));
        let deploy = format!("{STATUS_HEADER}\ncalico-kube-controllers   3   3   <none>   <none>   <none>   1   1   1   1   {kube_controllers}\n");
        self.exec.on(
            &k.one_workload_status(WorkloadKind::Deployment, "kube-system", "calico-kube-controllers").to_string(),
            ok(&deploy),
        );
    }

    /// The commands of a downgrade that goes well with kubectl 1.33: a migration in progress,
    /// aborted, both workloads rolled back to revision 1 and read back with v2 images.
    fn downgrades(&mut self, strategy: &str) {
        self.inprogress(&[true, false]);
        self.abort(ok(ABORT_OK));
        self.undo_both(
            1,
            ok("daemonset.apps/calico-node rolled back\ndeployment.apps/calico-kube-controllers rolled back\n"),
        );
        let _ = strategy;
    }

    /// `kubectl get pods` answers, in order (the last repeats).
    fn pods(&mut self, tables: &[&str]) {
        for table in tables {
            let selector = "k8s-app in (calico-node,calico-kube-controllers)";
            self.exec.on(&kubectl().pods("kube-system", Some(selector)).to_string(), ok(table));
        }
    }

    /// The workloads' event watches: the DaemonSet's rows, and the Deployment's rollout
    /// complete on v1.
    fn workload_watches(&mut self, daemonset: Answer) {
        self.exec.set(&workload_watch_command(WorkloadKind::DaemonSet, "calico-node"), daemonset);
        let deployment = workload_watch_command(WorkloadKind::Deployment, "calico-kube-controllers");
        self.exec.set(&deployment, ok(&deployment_done()));
    }

    /// How many times `command` ran.
    fn count(&self, command: &str) -> usize {
        self.exec.commands().iter().filter(|c| *c == command).count()
    }

    fn run(&mut self, command: Command, options: &Options) -> Outcome {
        self.exec.check_mode = options.check;
        let environment = Environment::default();
        let mut observer = Silent;
        let mut ctx = Context::new(options, &environment, &mut self.exec, &mut observer);
        execute(command, &mut ctx)
    }
}

const STATUS_HEADER: &str =
    "NAME   GENERATION   OBSERVED   DESIRED   UPDATED   AVAILABLE   SPEC   REPLICAS   UPDATEDREPLICAS   AVAILABLEREPLICAS   IMAGES";
const ROLLOUT_COMPLETE: &str = "NAME                      GENERATION   OBSERVED   DESIRED   UPDATED   AVAILABLE   SPEC     REPLICAS   UPDATEDREPLICAS   AVAILABLEREPLICAS   IMAGES\ncalico-node               3            3          3         3         3           <none>   <none>     <none>            <none>              quay.io/calico/node:v2.6.8,quay.io/calico/cni:v1.11.4\ncalico-kube-controllers   3            3          <none>    <none>    <none>      1        1          1                 1                   quay.io/calico/kube-controllers:v1.0.3\n";

const ABORT_OK: &str = "\nAborting upgrade\nRe-enabling Calico networking for v1\n * successfully resumed Calico networking in the v1 configuration\nUpgrade aborted successfully\n\n-------------------------------------------------------------------------------\n\nSuccessfully aborted the upgrade process.\n\n";

fn pods_table(rows: &[(&str, &str, &str, &str, &str, &str)]) -> String {
    let mut table =
        "NAME   PHASE   READY   IMAGES   OWNER   DELETING   NODE   WAITING   RESTARTS   SCHEDULED   CONTAINERS\n"
            .to_string();
    for (name, phase, ready, images, owner, deleting) in rows {
        // The kubelet sets ContainersReady with Ready.
        table.push_str(&format!(
            "{name}   {phase}   {ready}   {images}   {owner}   {deleting}   node-1   <none>   0   <none>   {ready}\n"
        ));
    }
    table
}

fn converged_v2() -> String {
    pods_table(&[
        ("calico-node-a", "Running", "True", NODE_V2, "calico-node", "<none>"),
        ("calico-node-b", "Running", "True", NODE_V2, "calico-node", "<none>"),
        ("calico-node-c", "Running", "True", NODE_V2, "calico-node", "<none>"),
        ("calico-kube-controllers-5d7-x", "Running", "True", KC_V2, "calico-kube-controllers-5d7", "<none>"),
    ])
}

fn still_v3() -> String {
    pods_table(&[
        ("calico-node-a", "Running", "True", NODE_V3, "calico-node", "<none>"),
        ("calico-node-b", "Running", "True", NODE_V3, "calico-node", "<none>"),
        ("calico-node-c", "Running", "True", NODE_V3, "calico-node", "<none>"),
        ("calico-kube-controllers-6f8-y", "Running", "True", KC_V3, "calico-kube-controllers-6f8", "<none>"),
    ])
}

fn statuses(outcome: &Outcome) -> Vec<(String, Status)> {
    outcome.steps.iter().map(|s| (s.name.clone(), s.status)).collect()
}

fn no_watch() -> Options {
    Options { no_watch: true, ..options() }
}

/// Rollbacks to different revision numbers are two commands, run together; to the same one, one
/// command does both, and the Deployment's step says so.
#[test]
fn rollbacks_to_one_revision_share_one_command_and_to_two_run_as_two() {
    let mut cluster = Cluster::upgraded();
    cluster.replica_sets(&[(3, KC_V2), (4, KC_V3)]);
    cluster.inprogress(&[true, false]);
    cluster.abort(ok(ABORT_OK));
    cluster.undo(WorkloadKind::DaemonSet, "calico-node", 1, ok("daemonset.apps/calico-node rolled back\n"));
    cluster.undo(
        WorkloadKind::Deployment,
        "calico-kube-controllers",
        3,
        ok("deployment.apps/calico-kube-controllers rolled back\n"),
    );
    // Run to its end; the undos it sent.
    let undos = |cluster: &mut Cluster| {
        cluster.pods(&[&converged_v2()]);
        let outcome = cluster.run(Command::Run, &no_watch());
        assert_eq!(outcome.exit, Exit::Done, "{:#?}", outcome.failures);
        let sent: Vec<String> = cluster.exec.mutating().into_iter().filter(|c| c.contains("rollout undo")).collect();
        (outcome, sent)
    };
    assert_eq!(
        undos(&mut cluster).1,
        [
            "kubectl rollout undo ds/calico-node -n kube-system --to-revision=1",
            "kubectl rollout undo deployment/calico-kube-controllers -n kube-system --to-revision=3"
        ],
        "two revisions, two commands"
    );

    let mut cluster = Cluster::upgraded();
    cluster.downgrades("RollingUpdate");
    let (outcome, sent) = undos(&mut cluster);
    let both = "kubectl rollout undo ds/calico-node deployment/calico-kube-controllers -n kube-system --to-revision=1";
    assert_eq!(sent, [both]);
    let deployment = outcome.steps.iter().find(|s| s.name == "Roll back deployment/calico-kube-controllers").unwrap();
    assert_eq!(deployment.status, Status::Changed);
    assert!(
        deployment.details.iter().any(|d| *d == format!("with the DaemonSet's rollback, in one command: `{both}`")),
        "{:#?}",
        deployment.details
    );
    assert!(
        deployment
            .details
            .iter()
            .any(|d| d.starts_with("kubectl: `deployment.apps/calico-kube-controllers rolled back`")),
        "its own line: {:#?}",
        deployment.details
    );

    // The plan says the one command the run will send, not two.
    let mut cluster = Cluster::upgraded();
    cluster.inprogress(&[true]);
    let outcome = cluster.run(Command::Plan, &Options { check: true, ..options() });
    assert_eq!(outcome.exit, Exit::Done, "{:#?}", outcome.failures);
    let planned: Vec<String> = outcome
        .steps
        .iter()
        .flat_map(|s| &s.commands)
        .filter(|c| c.planned && c.command.contains("rollout undo"))
        .map(|c| c.command.clone())
        .collect();
    assert_eq!(planned, [both]);
    let deployment = outcome.steps.iter().find(|s| s.name == "Roll back deployment/calico-kube-controllers").unwrap();
    assert!(deployment.details.iter().any(|d| d.ends_with(&format!("in one command: `{both}`"))), "{deployment:#?}");
}

#[test]
fn run_downgrades_an_upgraded_etcd_cluster_in_the_documented_order() {
    let mut cluster = Cluster::upgraded();
    cluster.downgrades("RollingUpdate");
    cluster.pods(&[&still_v3(), &converged_v2()]);
    let outcome = cluster.run(Command::Run, &no_watch());
    assert_eq!(outcome.exit, Exit::Done, "{:#?}", outcome.failures);
    insta::assert_debug_snapshot!(statuses(&outcome));
    insta::assert_snapshot!(cluster.exec.commands().join("\n"));
    let at_risk: Vec<String> = outcome.facts.pods_at_risk.unwrap().iter().map(|p| p.name.clone()).collect();
    assert_eq!(at_risk, ["web-1"], "host-network pods and pods older than the upgrade are not at risk");
}

#[test]
fn plan_runs_no_mutating_command_and_shows_the_commands_it_would_run() {
    let mut cluster = Cluster::upgraded();
    cluster.inprogress(&[true]);
    let outcome = cluster.run(Command::Plan, &Options { check: true, ..options() });
    assert_eq!(outcome.exit, Exit::Done, "{:#?}", outcome.failures);
    assert!(cluster.exec.mutating().is_empty(), "{:?}", cluster.exec.mutating());
    let planned: Vec<String> =
        outcome.steps.iter().flat_map(|s| s.commands.iter().filter(|c| c.planned).map(|c| c.command.clone())).collect();
    insta::assert_snapshot!(planned.join("\n"));
    assert!(outcome.facts.changed, "check mode predicts a change");
}

#[test]
fn a_second_run_on_a_downgraded_cluster_changes_nothing() {
    let mut cluster = Cluster::upgraded();
    cluster.daemonset("RollingUpdate", NODE_V2);
    cluster.revisions(&[(2, NODE_V3, "2026-11-23T21:30:32Z"), (3, NODE_V2, "2026-11-23T20:22:59Z")]);
    cluster.deployment(KC_V2);
    cluster.replica_sets(&[(2, KC_V3), (3, KC_V2)]);
    cluster.inprogress(&[false]);
    cluster.pods(&[&converged_v2()]);
    let outcome = cluster.run(Command::Run, &no_watch());
    assert_eq!(outcome.exit, Exit::Done, "{:#?}", outcome.failures);
    assert!(cluster.exec.mutating().is_empty(), "{:?}", cluster.exec.mutating());
    assert!(!outcome.facts.changed);
    assert!(statuses(&outcome).iter().all(|(_, s)| *s != Status::Changed), "{:?}", statuses(&outcome));
}

#[test]
fn run_refuses_when_calicoctl_is_the_v3_0_client_numbered_v2_0() {
    for bad in ["v2.0.0", "v2.0.0-beta1", "v3.30.0"] {
        let mut cluster = Cluster::upgraded();
        cluster.tools(bad, "v1.0.5");
        let outcome = cluster.run(Command::Run, &no_watch());
        assert_eq!(outcome.exit, Exit::Precondition, "{bad}");
        let failure = outcome.failure().cloned().unwrap();
        assert!(failure.details.iter().any(|d| d.contains(bad) && d.contains("/fake/calicoctl")), "{failure:?}");
        assert!(cluster.exec.mutating().is_empty());
    }
}

#[test]
fn a_false_success_of_calico_upgrade_v1_0_3_fails_the_run_before_any_rollback() {
    let mut cluster = Cluster::upgraded();
    cluster.tools("v1.6.5", "v1.0.3");
    cluster.abort(ok(" * failed to resume Calico networking in the v1 configuration\n * successfully resumed Calico networking in the v1 configuration\nUpgrade aborted successfully\n\n---\n\nSuccessfully aborted the upgrade process.\n"));
    let outcome = cluster.run(Command::Run, &no_watch());
    assert_eq!(outcome.exit, Exit::StepFailed);
    assert_eq!(cluster.exec.mutating().len(), 1, "only the abort ran: {:?}", cluster.exec.mutating());
    let failure = outcome.failure().cloned().unwrap();
    assert_eq!(failure.task, "Abort the upgrade");
    assert!(failure.details.iter().any(|d| d.contains("known bug")), "{failure:?}");
}

#[test]
fn calico_upgrade_v1_0_0_is_answered_yes_on_stdin_and_has_no_no_prompts() {
    let mut cluster = Cluster::upgraded();
    cluster.tools("v1.6.5", "v1.0.0");
    cluster.abort(ok(ABORT_OK));
    cluster.undo_both(
        1,
        ok("daemonset \"calico-node\" rolled back\ndeployment \"calico-kube-controllers\" rolled back\n"),
    );
    cluster.pods(&[&converged_v2()]);
    let outcome = cluster.run(Command::Run, &no_watch());
    assert_eq!(outcome.exit, Exit::Done, "{:#?}", outcome.failures);
    let (abort, _, stdin) =
        cluster.exec.log.iter().find(|(c, e, _)| *e == Effect::Mutating && c.contains("abort")).unwrap();
    assert!(!abort.contains("--no-prompts"), "{abort}");
    assert_eq!(stdin.as_deref(), Some("yes\n"));
}

#[test]
fn pruned_history_is_a_precondition_failure_naming_the_revisions() {
    let mut cluster = Cluster::upgraded();
    cluster.revisions(&[(2, NODE_V3, "2026-11-23T21:30:32Z")]);
    let outcome = cluster.run(Command::Run, &no_watch());
    assert_eq!(outcome.exit, Exit::Precondition);
    let message = outcome.failure().cloned().unwrap().message;
    assert!(message.contains("revisionHistoryLimit") && message.contains("2 (quay.io/calico/node:v3.0.4"), "{message}");
}

#[test]
fn an_on_delete_daemonset_stops_with_exit_4_naming_the_pods_still_on_v3() {
    let mut cluster = Cluster::upgraded();
    cluster.daemonset("OnDelete", NODE_V3);
    cluster.downgrades("OnDelete");
    cluster.pods(&[&still_v3()]);
    let outcome = cluster.run(Command::Run, &no_watch());
    assert_eq!(outcome.exit, Exit::NotConverged);
    let failure = outcome.failure().cloned().unwrap();
    assert!(failure.message.contains("OnDelete"), "{failure:?}");
    assert!(failure.details.iter().any(|d| d.contains("calico-node-a") && d.contains("v3.0.4")), "{failure:?}");
    assert!(failure.details.iter().any(|d| d.contains("--replace-pods")), "{failure:?}");
}

#[test]
fn the_wait_times_out_with_exit_4() {
    let mut cluster = Cluster::upgraded();
    cluster.downgrades("RollingUpdate");
    cluster.pods(&[&still_v3()]);
    let options = Options { timeout: Some(std::time::Duration::from_secs(10)), ..no_watch() };
    let outcome = cluster.run(Command::Run, &options);
    assert_eq!(outcome.exit, Exit::NotConverged);
    assert_eq!(outcome.failure().cloned().unwrap().task, "Wait for the pods");
}

#[test]
fn rollback_first_rolls_back_and_waits_before_the_abort() {
    let mut cluster = Cluster::upgraded();
    cluster.downgrades("RollingUpdate");
    cluster.pods(&[&converged_v2()]);
    let outcome = cluster.run(Command::Run, &Options { rollback_first: true, ..no_watch() });
    assert_eq!(outcome.exit, Exit::Done, "{:#?}", outcome.failures);
    let names: Vec<String> = outcome.steps.iter().map(|s| s.name.clone()).collect();
    let wait = names.iter().position(|n| n == "Wait for the pods").unwrap();
    let abort = names.iter().position(|n| n == "Abort the upgrade").unwrap();
    assert!(wait < abort, "{names:?}");
}

#[test]
fn a_kubectl_that_hangs_fails_the_task_naming_the_command() {
    let mut cluster = Cluster::upgraded();
    let hang = ExecError::TimedOut {
        after: std::time::Duration::from_secs(120),
        stdout: String::new(),
        stderr: String::new(),
    };
    cluster.exec.set(&objects_command(), Answer::Error(hang));
    let outcome = cluster.run(Command::Run, &no_watch());
    assert!(cluster.exec.mutating().is_empty());
    assert_eq!(outcome.exit, Exit::StepFailed);
    let failure = outcome.failure().cloned().unwrap();
    assert_eq!(failure.task, "Inspect the cluster");
    assert!(
        failure.message.contains("kubectl get daemonsets,deployments,controllerrevisions,replicasets")
            && failure.message.contains("2m"),
        "{}",
        failure.message
    );
    assert!(failure.safe_next.contains("nothing was changed"));
}

#[test]
fn no_daemonset_but_canal_points_at_the_daemonset_option() {
    let mut cluster = Cluster::upgraded();
    cluster.exec = Scripted::new();
    cluster.tools("v1.6.5", "v1.0.5");
    cluster.model.daemonset = "canal".into();
    cluster.model.node_images = format!("{NODE_V3},quay.io/coreos/flannel:v0.9.1");
    cluster.model.deployment = None;
    cluster.render();
    cluster.all_pods();
    cluster.calico_config();
    cluster.allowed(true);
    cluster.lock_free();
    cluster.missing_dry_runs("calico-node", "calico-kube-controllers");
    let outcome = cluster.run(Command::Run, &no_watch());
    assert_eq!(outcome.exit, Exit::Precondition);
    let message = outcome.failure().cloned().unwrap().message;
    assert!(message.contains("canal installation") && message.contains("--daemonset canal"), "{message}");
    // The lock taken ahead of the first change is released: no change was made.
    assert!(cluster.exec.mutating().is_empty(), "{:?}", cluster.exec.mutating());
    let releases = cluster.exec.commands().into_iter().filter(|c| lock_write(c) == Some("remove")).count();
    assert_eq!(releases, 1, "{:?}", cluster.exec.commands());
}

/// What kubectl 1.33 printed with the API server down (a real capture).
const UNREACHABLE: &str = include_str!("../../fixtures/kubectl/get-empty/unreachable-1.33.stderr");

fn pods_command() -> String {
    kubectl().pods("kube-system", Some("k8s-app in (calico-node,calico-kube-controllers)")).to_string()
}

#[test]
fn one_failed_poll_during_the_wait_is_retried_and_the_run_converges() {
    let mut cluster = Cluster::upgraded();
    cluster.downgrades("RollingUpdate");
    cluster.exec.on(&pods_command(), ok(&still_v3()));
    cluster.exec.on(&pods_command(), exit(1, "", UNREACHABLE));
    cluster.exec.on(&pods_command(), ok(&converged_v2()));
    let outcome = cluster.run(Command::Run, &no_watch());
    assert_eq!(outcome.exit, Exit::Done, "{:#?}", outcome.failures);
    let polls = cluster.count(&pods_command());
    assert_eq!(polls, 3, "the failed poll was run again");
    let wait = outcome.steps.iter().find(|s| s.name == "Wait for the pods").unwrap();
    let failed: Vec<_> = wait.commands.iter().filter(|c| c.exit_code == Some(1)).collect();
    assert_eq!(failed.len(), 1, "the failed attempt is in the report: {:#?}", wait.commands);
}

#[test]
fn an_outage_longer_than_the_timeout_ends_with_exit_4_and_what_was_last_seen() {
    let mut cluster = Cluster::upgraded();
    cluster.downgrades("RollingUpdate");
    cluster.exec.on(&pods_command(), ok(&still_v3()));
    cluster.exec.on(&pods_command(), exit(1, "", UNREACHABLE));
    let options = Options { timeout: Some(std::time::Duration::from_secs(10)), ..no_watch() };
    let outcome = cluster.run(Command::Run, &options);
    assert_eq!(outcome.exit, Exit::NotConverged, "{:#?}", outcome.failures);
    let failure = outcome.failure().cloned().unwrap();
    assert_eq!(failure.task, "Wait for the pods");
    assert!(failure.details[0].contains("was refused"), "{:#?}", failure.details);
    assert!(
        failure.details.iter().any(|d| d.contains("still on v3.0 images: calico-node-a")),
        "{:#?}",
        failure.details
    );
    let polls = cluster.count(&pods_command());
    assert!((4..=20).contains(&polls), "retried with backoff within the 10 s, not in a tight loop: {polls}");
}

#[test]
fn a_forbidden_poll_is_not_retried() {
    let mut cluster = Cluster::upgraded();
    cluster.downgrades("RollingUpdate");
    let forbidden = "Error from server (Forbidden): pods is forbidden: User \"ops\" cannot list resource \"pods\" in API group \"\" in the namespace \"kube-system\"\n";
    cluster.exec.on(&pods_command(), exit(1, "", forbidden));
    let outcome = cluster.run(Command::Run, &no_watch());
    assert_eq!(outcome.exit, Exit::StepFailed, "{:#?}", outcome.failures);
    let polls = cluster.count(&pods_command());
    assert_eq!(polls, 1);
}

#[test]
fn a_transient_failure_during_inspection_is_retried_within_its_budget() {
    let mut cluster = Cluster::upgraded();
    let revisions = objects_command();
    let json = cluster.model.json();
    let table = json.as_str();
    cluster.exec.set(&revisions, exit(1, "", UNREACHABLE));
    cluster.exec.on(
        &revisions,
        exit(1, "", "Error from server (ServiceUnavailable): the server is currently unable to handle the request\n"),
    );
    cluster.exec.on(&revisions, ok(table));
    cluster.downgrades("RollingUpdate");
    cluster.pods(&[&converged_v2()]);
    let outcome = cluster.run(Command::Run, &no_watch());
    assert_eq!(outcome.exit, Exit::Done, "{:#?}", outcome.failures);
    assert_eq!(cluster.count(&revisions), 3);
    // And it gives up when the server stays away: exit 3 (nothing was changed) after the
    // budget, not forever, saying which server did not answer and kubectl's words.
    let mut down = Cluster::upgraded();
    down.exec.set(&revisions, exit(1, "", UNREACHABLE));
    let outcome = down.run(Command::Run, &no_watch());
    assert_eq!(outcome.exit, Exit::Precondition);
    let failure = outcome.failure().unwrap();
    assert!(failure.message.starts_with("cannot reach the API server: no answer within 20s of retries"), "{failure:?}");
    assert!(failure.details.iter().any(|d| d.starts_with("kubectl: The connection to the server")), "{failure:?}");
    let attempts = down.count(&revisions);
    assert!((3..=12).contains(&attempts), "{attempts}");
    assert!(down.exec.mutating().is_empty());
}

#[test]
fn a_user_who_may_only_read_is_stopped_before_the_abort_naming_verb_resource_and_user() {
    let mut cluster = Cluster::upgraded();
    cluster.allowed(false);
    cluster.inprogress(&[true]);
    let outcome = cluster.run(Command::Run, &no_watch());
    assert_eq!(outcome.exit, Exit::Precondition, "{:#?}", outcome.failures);
    assert!(cluster.exec.mutating().is_empty(), "{:?}", cluster.exec.mutating());
    assert!(!outcome.facts.changed);
    let failure = outcome.failure().cloned().unwrap();
    assert_eq!(failure.task, "Check permissions");
    assert!(
        failure.message.starts_with("user `jane` may not ")
            && failure.message.contains("patch daemonsets.apps/calico-node in kube-system")
            && failure.message.contains("patch deployments.apps/calico-kube-controllers")
            && !failure.message.contains("configmaps"),
        "{}",
        failure.message
    );
    assert!(failure.safe_next.contains("nothing was changed"), "{}", failure.safe_next);
    assert!(!cluster.exec.commands().iter().any(|c| c.contains("calico-upgrade abort")));
}

#[test]
fn a_rollback_the_api_server_refuses_in_the_dry_run_stops_the_run_before_any_change() {
    // What real kubectl printed for a user bound to ClusterRole view (a real capture).
    let forbidden = include_str!("../../fixtures/kubectl/rollout-undo/ds-dry-run-server-forbidden-1.32.stderr");
    // The target is the previous revision: the dry run started with the inspection stands for
    // it. With a longer history it is not, and the rollback's own dry run is asked.
    for longer_history in [false, true] {
        let mut cluster = Cluster::upgraded();
        let k = kubectl();
        let dry_run = if longer_history {
            cluster.revisions(&[
                (1, NODE_V2, "2026-11-23T20:22:59Z"),
                (2, NODE_V3, "2026-11-23T21:30:32Z"),
                (3, NODE_V3, "2026-11-23T22:30:32Z"),
            ]);
            let dry_run = k.rollout_undo_server_dry_run(WorkloadKind::DaemonSet, "kube-system", "calico-node", 1);
            cluster.exec.set(&dry_run.to_string(), exit(1, "", forbidden));
            dry_run.to_string()
        } else {
            // The dry run of both: the Deployment's line on stdout, the DaemonSet's refusal on
            // stderr, as kubectl goes on past it.
            let both = previous_dry_run_command();
            cluster.exec.set(
                &both,
                exit(1, "deployment.apps/calico-kube-controllers rolled back (server dry run)\n", forbidden),
            );
            both
        };
        let outcome = cluster.run(Command::Run, &no_watch());
        assert_eq!(outcome.exit, Exit::Precondition, "{:#?}", outcome.failures);
        assert!(cluster.exec.mutating().is_empty(), "{:?}", cluster.exec.mutating());
        let failure = outcome.failure().cloned().unwrap();
        assert_eq!(
            failure.message,
            "user `jane` may not patch daemonsets.apps/calico-node in kube-system: nothing was changed"
        );
        let details = failure.details.join("\n");
        assert!(details.contains("User \"jane\" cannot patch resource \"daemonsets\""), "{details}");
        assert!(details.contains(&format!("`{dry_run}`")), "the dry run that stands for the rollback: {details}");
    }
}

/// Another run rolled back between this run's inspection and its preflight: the rollback's own
/// dry run finds the live template already the target. That is no refusal: the check goes on
/// (the lock then tells who holds the cluster; the rollback, if it comes to it, finds it done).
#[test]
fn a_dry_run_that_finds_the_target_already_live_does_not_stop_the_run() {
    // Real kubectl 1.33 in that race (the tier's two-runs-one-cluster), its revision this history's.
    let skipped = include_str!("../../fixtures/kubectl/rollout-undo/ds-dry-run-already-matches-1.33.stdout")
        .replace("revision 13", "revision 1");
    let mut cluster = Cluster::upgraded();
    cluster.revisions(&[
        (1, NODE_V2, "2026-11-23T20:22:59Z"),
        (2, NODE_V3, "2026-11-23T21:30:32Z"),
        (3, NODE_V3, "2026-11-23T22:30:32Z"),
    ]);
    let dry_run = kubectl().rollout_undo_server_dry_run(WorkloadKind::DaemonSet, "kube-system", "calico-node", 1);
    cluster.exec.set(&dry_run.to_string(), ok(&skipped));
    cluster.inprogress(&[true]);
    let outcome = cluster.run(Command::Plan, &Options { check: true, ..options() });
    assert_eq!(outcome.exit, Exit::Done, "{:#?}", outcome.failures);
    let preflight = outcome.steps.iter().find(|s| s.name == "Check permissions").expect("the preflight ran");
    assert_eq!(preflight.status, Status::Ok, "{:#?}", outcome.failures);
    assert!(preflight.details.iter().any(|d| d.contains("already matches revision 1")), "{:#?}", preflight.details);
}

#[test]
fn plan_shows_the_permission_checks_and_a_kubectl_without_server_dry_run_says_so() {
    let mut cluster = Cluster::upgraded();
    cluster.exec.set(
        &kubectl().version().to_string(),
        ok("Client Version: version.Info{Major:\"1\", Minor:\"17\", GitVersion:\"v1.17.17\", GitCommit:\"x\"}\n"),
    );
    cluster.inprogress(&[true]);
    let outcome = cluster.run(Command::Plan, &Options { check: true, ..options() });
    assert_eq!(outcome.exit, Exit::Done, "{:#?}", outcome.failures);
    let step = outcome.steps.iter().find(|s| s.name == "Check permissions").unwrap();
    let details = step.details.join("\n");
    assert!(details.contains("allowed: patch daemonsets.apps/calico-node in kube-system"), "{details}");
    assert!(details.contains("not needed: watch pods in kube-system"), "{details}");
    assert!(details.contains("kubectl v1.17.17 has no `--dry-run=server` (1.18+)"), "{details}");
    assert!(!cluster.exec.commands().iter().any(|c| c.contains("--dry-run")));
}

#[test]
fn names_that_do_not_exist_stop_the_run_offering_the_closest_ones() {
    // A typo'd Deployment on an etcd cluster: not "skipped", exit 3.
    let mut cluster = Cluster::upgraded();
    cluster.missing_dry_runs("calico-node", "calico-kube-controler");
    let outcome = cluster.run(Command::Run, &Options { deployment: "calico-kube-controler".into(), ..no_watch() });
    assert_eq!(outcome.exit, Exit::Precondition);
    let message = outcome.failure().cloned().unwrap().message;
    assert!(message.contains("did you mean --deployment calico-kube-controllers?"), "{message}");
    assert!(cluster.exec.mutating().is_empty());

    // A typo'd DaemonSet.
    let mut cluster = Cluster::upgraded();
    cluster.missing_dry_runs("calico-nod", "calico-kube-controllers");
    let options = Options { daemonset: "calico-nod".into(), ..no_watch() };
    let outcome = cluster.run(Command::Run, &options);
    assert_eq!(outcome.exit, Exit::Precondition);
    let message = outcome.failure().cloned().unwrap().message;
    assert!(message.contains("did you mean --daemonset calico-node?"), "{message}");

    // `status` with the typo does not say converged.
    let mut cluster = Cluster::upgraded();
    let outcome = cluster.run(Command::Status, &Options { check: true, ..options });
    assert_eq!(outcome.exit, Exit::Precondition);

    // A typo'd namespace: kubectl finds nothing there, and the namespaces say why.
    let mut cluster = Cluster::upgraded();
    let k = kubectl();
    cluster.exec.set(
        &k.objects_and_jobs("kube-sytem").to_string(),
        ok("{\"apiVersion\": \"v1\", \"items\": [], \"kind\": \"List\", \"metadata\": {\"resourceVersion\": \"\"}}\n"),
    );
    cluster.exec.set(&k.namespaces().to_string(), ok("NAME\ndefault\nkube-node-lease\nkube-public\nkube-system\n"));
    cluster.exec.set(
        &k.config_map("kube-sytem", "calico-config").to_string(),
        exit(1, "", "Error from server (NotFound): configmaps \"calico-config\" not found\n"),
    );
    cluster.exec.set(&k.can_i("list", "pods", Some("kube-sytem")).to_string(), ok("yes\n"));
    cluster.exec.set(
        &k.rollout_undo_previous_server_dry_run(
            &[(WorkloadKind::DaemonSet, "calico-node"), (WorkloadKind::Deployment, "calico-kube-controllers")],
            "kube-sytem",
        )
        .to_string(),
        exit(1, "", "Error from server (NotFound): daemonsets.apps \"calico-node\" not found\nError from server (NotFound): deployments.apps \"calico-kube-controllers\" not found\n"),
    );
    // The lock's take, started ahead, meets a DaemonSet that does not exist.
    cluster.exec.lock_answers.clear();
    cluster
        .exec
        .on_lock("add", exit(1, "", "Error from server (NotFound): daemonsets.apps \"calico-node\" not found\n"));
    let outcome = cluster.run(Command::Run, &Options { namespace: "kube-sytem".into(), ..no_watch() });
    assert_eq!(outcome.exit, Exit::Precondition);
    let message = outcome.failure().cloned().unwrap().message;
    assert_eq!(message, "there is no namespace kube-sytem; did you mean -n kube-system?");
}

#[test]
fn without_a_deployment_only_the_kubernetes_api_datastore_goes_on() {
    for (datastore_env, expected) in
        [("CLUSTER_TYPE\tk8s,bgp\t\n", Exit::Precondition), ("DATASTORE_TYPE\tkubernetes\t\n", Exit::Done)]
    {
        let mut cluster = Cluster::upgraded();
        cluster.env(datastore_env);
        cluster.model.deployment = None;
        cluster.render();
        cluster.undo(WorkloadKind::DaemonSet, "calico-node", 1, ok("daemonset.apps/calico-node rolled back\n"));
        let selector = "k8s-app in (calico-node)";
        let pods = pods_table(&[
            ("calico-node-a", "Running", "True", NODE_V2, "calico-node", "<none>"),
            ("calico-node-b", "Running", "True", NODE_V2, "calico-node", "<none>"),
            ("calico-node-c", "Running", "True", NODE_V2, "calico-node", "<none>"),
        ]);
        cluster.exec.set(&kubectl().pods("kube-system", Some(selector)).to_string(), ok(&pods));
        let rollout = format!(
            "{STATUS_HEADER}\ncalico-node   3   3   3   3   3   <none>   <none>   <none>   <none>   {NODE_V2}\n"
        );
        let rollout = rollout.as_str();
        cluster.exec.set(&kubectl().workload_status("kube-system", "calico-node", None).to_string(), ok(rollout));
        cluster.calico_lists(Vec::new());
        let outcome = cluster.run(Command::Run, &no_watch());
        assert_eq!(outcome.exit, expected, "{datastore_env:?}: {:#?}", outcome.failures);
        if expected == Exit::Precondition {
            let message = outcome.failure().cloned().unwrap().message;
            assert!(
                message.contains("with the etcd datastore the Calico v3.0 manifests run calico-kube-controllers"),
                "{message}"
            );
            assert!(cluster.exec.mutating().is_empty());
        } else {
            let skipped = outcome.steps.iter().find(|s| s.name.starts_with("Roll back deployment")).unwrap();
            assert!(
                skipped.message.starts_with("Kubernetes API datastore: there is no deployment"),
                "{}",
                skipped.message
            );
        }
    }
}

#[test]
fn changed_comes_from_what_was_read_back_after_a_failed_undo() {
    let forbidden = "Error from server (Forbidden): daemonsets.apps \"calico-node\" is forbidden: User \"jane\" cannot patch resource \"daemonsets\" in API group \"apps\" in the namespace \"kube-system\"\n";
    // Refused: the template still has the v3 images, so nothing changed there. The
    // Deployment's undo ran with it (one command, kubectl going on past the refusal) and is
    // reported too.
    let mut cluster = Cluster::upgraded();
    cluster.undo_both(1, exit(1, "deployment.apps/calico-kube-controllers rolled back\n", forbidden));
    cluster.after_undo(NODE_V3, KC_V3);
    let outcome = cluster.run(Command::Run, &Options { rollback_first: true, ..no_watch() });
    assert_eq!(outcome.exit, Exit::StepFailed);
    assert!(outcome.facts.may_have_changed.is_empty());
    let failure = outcome.failure().cloned().unwrap();
    assert_eq!(failure.task, "Roll back ds/calico-node");
    assert!(failure.details.iter().any(|d| d.starts_with("not changed: ds/calico-node still carries")), "{failure:#?}");
    let deployment = outcome.steps.iter().find(|s| s.name == "Roll back deployment/calico-kube-controllers").unwrap();
    assert_eq!(deployment.status, Status::Changed, "the undo that ran with it is reported: {deployment:#?}");
    assert_eq!(
        outcome.not_run,
        [
            "Wait for the pods",
            "Abort the upgrade",
            "Pods at risk",
            "What Calico v2.6 will not read",
            "Verify and report"
        ]
    );

    // Timed out, but the template reads back with the target images: it took effect.
    let mut cluster = Cluster::upgraded();
    let hang = ExecError::TimedOut {
        after: std::time::Duration::from_secs(120),
        stdout: String::new(),
        stderr: String::new(),
    };
    // Inspected again and decided again: the DaemonSet's rollback took effect, so the run goes
    // on; the Deployment's did not, and its own undo runs.
    cluster.undo_both(1, Answer::Error(hang.clone()));
    cluster.after_undo(NODE_V2, KC_V3);
    cluster.undo(
        WorkloadKind::Deployment,
        "calico-kube-controllers",
        1,
        ok("deployment.apps/calico-kube-controllers rolled back\n"),
    );
    cluster.downgrades("RollingUpdate");
    cluster.pods(&[&converged_v2()]);
    let outcome = cluster.run(Command::Run, &Options { rollback_first: true, ..no_watch() });
    assert_eq!(outcome.exit, Exit::Done, "{:#?}", outcome.failures);
    let step = outcome.steps.iter().find(|s| s.name == "Roll back ds/calico-node").unwrap();
    assert_eq!(step.status, Status::Changed);
    assert!(step.message.contains("read back, the rollback had taken effect"), "{}", step.message);
    let undos = cluster.exec.mutating().iter().filter(|c| c.contains("rollout undo ds/")).count();
    assert_eq!(undos, 1, "not repeated once the template shows it took effect");

    // Unreachable, and the template reads back unchanged: the undo is decided again and run
    // again (it names its revision, so a second one cannot toggle).
    let mut cluster = Cluster::upgraded();
    cluster.undo_both(1, exit(1, "", UNREACHABLE));
    cluster.after_undo(NODE_V3, KC_V3);
    cluster.undo(WorkloadKind::DaemonSet, "calico-node", 1, ok("daemonset.apps/calico-node rolled back\n"));
    cluster.undo(
        WorkloadKind::Deployment,
        "calico-kube-controllers",
        1,
        ok("deployment.apps/calico-kube-controllers rolled back\n"),
    );
    cluster.downgrades("RollingUpdate");
    cluster.pods(&[&converged_v2()]);
    let outcome = cluster.run(Command::Run, &Options { rollback_first: true, ..no_watch() });
    assert_eq!(outcome.exit, Exit::Done, "{:#?}", outcome.failures);
    let undos = cluster.exec.mutating().iter().filter(|c| c.contains("rollout undo ds/")).count();
    assert_eq!(undos, 2, "{:?}", cluster.exec.mutating());
    let step = outcome.steps.iter().find(|s| s.name == "Roll back ds/calico-node").unwrap();
    assert_eq!(step.status, Status::Changed, "{}", step.message);
    assert!(
        step.details.iter().any(|d| d
            .starts_with("attempt 1: kubectl rollout undo ds/calico-node deployment/calico-kube-controllers failed: The connection to the server")
            && d.contains("still carries quay.io/calico/node:v3.0.4")),
        "the report tells the attempt that failed: {:#?}",
        step.details
    );

    // Timed out, and the template cannot be read back: may have changed, with what to check.
    // (The Deployment's template reads back with the target images: its rollback took effect.)
    let mut cluster = Cluster::upgraded();
    cluster.undo_both(1, Answer::Error(hang));
    cluster.exec.on(
        &kubectl().one_workload_status(WorkloadKind::DaemonSet, "kube-system", "calico-node").to_string(),
        Answer::Error(ExecError::Interrupted),
    );
    cluster.after_undo(NODE_V3, KC_V2);
    let outcome = cluster.run(Command::Run, &Options { rollback_first: true, ..no_watch() });
    let step = outcome.steps.iter().find(|s| s.name == "Roll back ds/calico-node").unwrap();
    assert_eq!(step.status, Status::Failed, "{step:#?}");
    assert_eq!(outcome.facts.may_have_changed.len(), 1, "{:#?}", outcome.facts.may_have_changed);
    assert!(outcome.facts.may_have_changed[0].contains("kubectl rollout history ds/calico-node -n kube-system"));
}

#[test]
fn the_plan_names_the_template_changes_and_the_way_back() {
    let mut cluster = Cluster::upgraded();
    cluster.inprogress(&[true]);
    let outcome = cluster.run(Command::Plan, &Options { check: true, ..options() });
    assert_eq!(outcome.exit, Exit::Done, "{:#?}", outcome.failures);
    let inspect = outcome.steps.iter().find(|s| s.name == "Inspect the cluster").unwrap();
    let details = inspect.details.join("\n");
    assert!(details.contains("ds/calico-node: the rollback changes the pod template (revision 2 → 1):"), "{details}");
    assert!(
        details.contains("  spec.containers[node].image: quay.io/calico/node:v3.0.4 → quay.io/calico/node:v2.6.8"),
        "{details}"
    );
    let cluster_facts = outcome.facts.cluster.unwrap();
    // As an operator types them: without the tool's own --request-timeout.
    let undo_to_2 = |kind, name| kubectl().for_people().rollout_undo(kind, "kube-system", name, 2).to_string();
    assert_eq!(
        cluster_facts.way_back.commands,
        [
            undo_to_2(WorkloadKind::DaemonSet, "calico-node"),
            undo_to_2(WorkloadKind::Deployment, "calico-kube-controllers")
        ]
    );
    assert_eq!(cluster_facts.way_back.live_revisions[0].revision, 2);
    assert!(cluster_facts.way_back.cannot_undo[0].starts_with("the abort"), "{:?}", cluster_facts.way_back);
}

fn watch_command() -> String {
    kubectl().watch_pods("kube-system", Some("k8s-app in (calico-node,calico-kube-controllers)")).to_string()
}

fn rollout_command() -> String {
    kubectl().workload_status("kube-system", "calico-node", Some("calico-kube-controllers")).to_string()
}

const ROLLOUT_FOUR_NODES: &str = "NAME                      GENERATION   OBSERVED   DESIRED   UPDATED   AVAILABLE   SPEC     REPLICAS   UPDATEDREPLICAS   AVAILABLEREPLICAS   IMAGES\ncalico-node               3            3          4         4         4           <none>   <none>     <none>            <none>              quay.io/calico/node:v2.6.8,quay.io/calico/cni:v1.11.4\ncalico-kube-controllers   3            3          <none>    <none>    <none>      1        1          1                 1                   quay.io/calico/kube-controllers:v1.0.3\n";

/// The watch's rows are a candidate; the next look (pods, then the rollout status) decides.
#[test]
fn the_watch_finds_a_candidate_and_a_complete_look_confirms_it() {
    let mut cluster = Cluster::upgraded();
    cluster.old_kubectl();
    cluster.downgrades("RollingUpdate");
    cluster.exec.on(&pods_command(), ok(&still_v3()));
    cluster.exec.on(&pods_command(), ok(&converged_v2()));
    cluster.exec.set(&watch_command(), ok(&converged_v2()));
    let outcome = cluster.run(Command::Run, &options());
    assert_eq!(outcome.exit, Exit::Done, "{:#?}", outcome.failures);
    let wait: Vec<String> = cluster
        .exec
        .commands()
        .into_iter()
        .filter(|c| *c == pods_command() || *c == watch_command() || *c == rollout_command())
        .collect();
    assert_eq!(wait, [pods_command(), watch_command(), pods_command(), rollout_command()]);
}

/// A node joined: four pods on v2.6, the live rollout status desires four; the count read
/// before the rollback (three) no longer decides.
#[test]
fn a_node_that_joined_is_counted_from_the_live_rollout_status() {
    let mut cluster = Cluster::upgraded();
    cluster.old_kubectl();
    cluster.downgrades("RollingUpdate");
    let mut four = converged_v2();
    four.push_str(&format!(
        "calico-node-d   Running   True   {NODE_V2}   calico-node   <none>   node-4   <none>   0   <none>   True\n"
    ));
    cluster.exec.on(&pods_command(), ok(&still_v3()));
    cluster.exec.on(&pods_command(), ok(&four));
    cluster.exec.set(&watch_command(), ok(&four));
    cluster.rollout(ROLLOUT_FOUR_NODES);
    let outcome = cluster.run(Command::Run, &options());
    assert_eq!(outcome.exit, Exit::Done, "{:#?}", outcome.failures);
    let wait = outcome.steps.iter().find(|s| s.name == "Wait for the pods").unwrap();
    assert!(wait.message.contains("calico-node 4/4"), "{}", wait.message);
}

/// A pod whose Ready condition is False (its node went NotReady; its containers still say
/// ready) is not converged, and the exit-4 report names it, its node and why: the node stopped
/// heartbeating, so the pod holds the rollout's maxUnavailable budget.
#[test]
fn a_pod_not_ready_on_a_not_ready_node_ends_with_exit_4_naming_the_node() {
    let mut cluster = Cluster::upgraded();
    cluster.old_kubectl();
    cluster.downgrades("RollingUpdate");
    let stalled = converged_v2().replace("calico-node-b   Running   True", "calico-node-b   Running   False");
    // Its ContainersReady condition stays True: only the node lifecycle controller's mark.
    let stalled = stalled.replacen(
        "node-1   <none>   0   <none>   True\ncalico-node-c",
        "node-2   <none>   0   <none>   True\ncalico-node-c",
        1,
    );
    cluster.exec.on(&pods_command(), ok(&still_v3()));
    cluster.exec.on(&pods_command(), ok(&stalled));
    cluster.exec.set(&watch_command(), ok(&stalled));
    let options = Options { timeout: Some(std::time::Duration::from_secs(10)), ..options() };
    let outcome = cluster.run(Command::Run, &options);
    assert_eq!(outcome.exit, Exit::NotConverged, "{:#?}", outcome.failures);
    let failure = outcome.failure().cloned().unwrap();
    assert!(
        failure
            .details
            .iter()
            .any(|d| d.trim()
                == "blocked: calico-node-b on node-2: NodeNotReady: its node stopped heartbeating (NotReady or unreachable): the node lifecycle controller set the pod's Ready condition False, so it holds the rollout's maxUnavailable budget (`kubectl describe pod calico-node-b -n kube-system`)"),
        "{:#?}",
        failure.details
    );
    // Named from the pod's row: nothing more is read.
    assert!(
        !cluster.exec.commands().iter().any(|c| c.starts_with("kubectl get pod ")),
        "{:#?}",
        cluster.exec.commands()
    );
    let blockers = &outcome.facts.wait.as_ref().unwrap().blockers;
    assert_eq!(blockers.iter().map(|b| (b.pod.as_str(), b.still)).collect::<Vec<_>>(), [("calico-node-b", true)]);
}

/// A watch that fails is established again after a look; its failure is not the run's.
#[test]
fn a_failed_watch_is_established_again() {
    let mut cluster = Cluster::upgraded();
    cluster.old_kubectl();
    cluster.downgrades("RollingUpdate");
    cluster.exec.on(&pods_command(), ok(&still_v3()));
    cluster.exec.on(&pods_command(), ok(&still_v3()));
    cluster.exec.on(&pods_command(), ok(&converged_v2()));
    cluster.exec.on(&watch_command(), exit(1, "", UNREACHABLE));
    cluster.exec.on(&watch_command(), ok(&converged_v2()));
    let outcome = cluster.run(Command::Run, &options());
    assert_eq!(outcome.exit, Exit::Done, "{:#?}", outcome.failures);
    assert_eq!(cluster.count(&watch_command()), 2);
}

// The wait by watch events (kubectl 1.16+): three watches, their rows an exact view.

fn pod_events_command() -> String {
    kubectl().watch_pod_events("kube-system", Some("k8s-app in (calico-node,calico-kube-controllers)")).to_string()
}

fn workload_watch_command(kind: WorkloadKind, name: &str) -> String {
    kubectl().watch_workload(kind, "kube-system", name).to_string()
}

/// `EVENT NAME PHASE READY IMAGES OWNER DELETING NODE WAITING RESTARTS SCHEDULED CONTAINERS` rows.
fn pod_events(rows: &[(&str, &str, &str, &str, &str, &str)]) -> String {
    let mut table =
        "EVENT   NAME   PHASE   READY   IMAGES   OWNER   DELETING   NODE   WAITING   RESTARTS   SCHEDULED   CONTAINERS\n"
            .to_string();
    for (event, name, phase, ready, images, deleting) in rows {
        let owner = if name.starts_with("calico-node") { "calico-node" } else { "calico-kube-controllers-5d7" };
        table.push_str(&format!(
            "{event}   {name}   {phase}   {ready}   {images}   {owner}   {deleting}   node-1   <none>   0   <none>   {ready}\n"
        ));
    }
    table
}

/// One workload's watch: `(event, desired, updated, available, images)` rows.
fn workload_events(kind: WorkloadKind, rows: &[(&str, u32, u32, u32, &str)]) -> String {
    let mut table = format!("EVENT   {STATUS_HEADER}\n");
    for (event, desired, updated, available, images) in rows {
        match kind {
            WorkloadKind::DaemonSet => table.push_str(&format!(
                "{event}   calico-node   3   3   {desired}   {updated}   {available}   <none>   <none>   <none>   <none>   {images}\n"
            )),
            WorkloadKind::Deployment => table.push_str(&format!(
                "{event}   calico-kube-controllers   3   3   <none>   <none>   <none>   {desired}   {desired}   {updated}   {available}   {images}\n"
            )),
        }
    }
    table
}

/// The Deployment's watch, its rollout complete on v1.
fn deployment_done() -> String {
    workload_events(WorkloadKind::Deployment, &[("ADDED", 1, 1, 1, KC_V2)])
}

#[test]
fn the_watch_events_are_an_exact_view_and_converged_needs_no_confirming_poll() {
    let mut cluster = Cluster::upgraded();
    cluster.downgrades("RollingUpdate");
    let pods = pod_events(&[
        ("ADDED", "calico-node-a", "Running", "True", NODE_V3, "<none>"),
        ("ADDED", "calico-node-b", "Running", "True", NODE_V2, "<none>"),
        ("ADDED", "calico-node-c", "Running", "True", NODE_V2, "<none>"),
        ("ADDED", "calico-kube-controllers-5d7-x", "Running", "True", KC_V2, "<none>"),
        ("MODIFIED", "calico-node-a", "Running", "True", NODE_V3, "2026-12-05T01:00:00Z"),
        ("DELETED", "calico-node-a", "Running", "True", NODE_V3, "2026-12-05T01:00:00Z"),
        ("ADDED", "calico-node-d", "Pending", "<none>", NODE_V2, "<none>"),
        ("MODIFIED", "calico-node-d", "Running", "True", NODE_V2, "<none>"),
    ]);
    cluster.exec.set(&pod_events_command(), ok(&pods));
    let ds = workload_events(WorkloadKind::DaemonSet, &[("ADDED", 3, 2, 2, NODE_V2), ("MODIFIED", 3, 3, 3, NODE_V2)]);
    cluster.workload_watches(ok(&ds));
    let outcome = cluster.run(Command::Run, &options());
    assert_eq!(outcome.exit, Exit::Done, "{:#?}", outcome.failures);
    let wait = outcome.steps.iter().find(|s| s.name == "Wait for the pods").unwrap();
    assert!(wait.message.contains("calico-node 3/3"), "{}", wait.message);
    let commands: Vec<&str> = wait.commands.iter().map(|c| c.command.as_str()).collect();
    assert_eq!(
        commands,
        [
            pod_events_command(),
            workload_watch_command(WorkloadKind::DaemonSet, "calico-node"),
            workload_watch_command(WorkloadKind::Deployment, "calico-kube-controllers")
        ],
        "no poll: the events alone decide"
    );
    assert!(!cluster.exec.commands().contains(&pods_command()));
}

/// Until the DaemonSet's rollout status says complete, pods all on v2.6 are not enough; and a
/// node that joined counts from the live status.
#[test]
fn the_watch_waits_for_the_live_rollout_status_and_follows_a_node_joining() {
    let mut cluster = Cluster::upgraded();
    cluster.downgrades("RollingUpdate");
    let mut rows = vec![
        ("ADDED", "calico-node-a", "Running", "True", NODE_V2, "<none>"),
        ("ADDED", "calico-node-b", "Running", "True", NODE_V2, "<none>"),
        ("ADDED", "calico-node-c", "Running", "True", NODE_V2, "<none>"),
        ("ADDED", "calico-kube-controllers-5d7-x", "Running", "True", KC_V2, "<none>"),
    ];
    rows.push(("ADDED", "calico-node-d", "Pending", "<none>", NODE_V2, "<none>"));
    rows.push(("MODIFIED", "calico-node-d", "Running", "True", NODE_V2, "<none>"));
    cluster.exec.set(&pod_events_command(), ok(&pod_events(&rows)));
    // The status, seen after every pod row: 3 desired while a fourth pod runs is not done;
    // the DaemonSet controller then counts the new node.
    let ds = workload_events(
        WorkloadKind::DaemonSet,
        &[("ADDED", 3, 3, 2, NODE_V2), ("MODIFIED", 4, 4, 3, NODE_V2), ("MODIFIED", 4, 4, 4, NODE_V2)],
    );
    cluster.workload_watches(ok(&ds));
    let outcome = cluster.run(Command::Run, &options());
    assert_eq!(outcome.exit, Exit::Done, "{:#?}", outcome.failures);
    let wait = outcome.steps.iter().find(|s| s.name == "Wait for the pods").unwrap();
    assert!(wait.message.contains("calico-node 4/4"), "{}", wait.message);
}

/// A template that does not carry the rollback's images (a re-apply of v3.0's manifest) is
/// seen on the first row of the DaemonSet's watch: exit 1, never converged; the workload read
/// once more names who set its images (managedFields) and when, and the advice is not to run
/// again into the same tug-of-war.
#[test]
fn a_live_template_without_the_target_images_fails_the_wait_naming_who_changed_it() {
    let mut cluster = Cluster::upgraded();
    cluster.model.metadata = serde_json::json!({"managedFields": [
        {"manager": "kubectl-rollout", "operation": "Update", "time": "2026-11-23T21:39:58Z",
         "fieldsV1": {"f:spec": {"f:template": {"f:metadata": {}}}}},
        {"manager": "kubectl-client-side-apply", "operation": "Update", "time": "2026-11-23T21:40:00Z",
         "fieldsV1": {"f:spec": {"f:template": {"f:spec": {"f:containers": {"k:{\"name\":\"node\"}": {"f:image": {}}}}}}}}
    ]});
    cluster.render();
    cluster.downgrades("RollingUpdate");
    let pods = pod_events(&[("ADDED", "calico-node-a", "Running", "True", NODE_V3, "<none>")]);
    cluster.exec.set(&pod_events_command(), ok(&pods));
    let ds = workload_events(WorkloadKind::DaemonSet, &[("ADDED", 3, 3, 3, NODE_V3)]);
    cluster.workload_watches(ok(&ds));
    let outcome = cluster.run(Command::Run, &options());
    assert_eq!(outcome.exit, Exit::StepFailed, "{:#?}", outcome.failures);
    let failure = outcome.failure().cloned().unwrap();
    assert_eq!(failure.task, "Wait for the pods");
    assert_eq!(
        failure.message,
        "the rollback was undone: daemonset/calico-node's live template was changed back to quay.io/calico/node:v3.0.4, \
         quay.io/calico/cni:v2.0.2 by `kubectl-client-side-apply` at 2026-11-23T21:40:00Z during the wait"
    );
    assert!(failure.safe_next.starts_with("running again now would only start the same tug-of-war: find what re-applied the template with `kubectl-client-side-apply`"), "{}", failure.safe_next);
    assert_eq!(cluster.count(&objects_command()), 1, "the inspection");
    assert_eq!(cluster.count(&reread_command()), 1, "then the read of who changed the template");
}

/// A reconciler found by the inspection (the addon manager's label) stops `run` with exit 3
/// before any change, naming it and what to do first; `--despite-reconciler` goes on, and a
/// revert during the wait then points at it.
#[test]
fn a_continuous_reconciler_stops_the_run_before_any_change_unless_told_to_go_on() {
    let mut cluster = Cluster::upgraded();
    cluster.model.metadata = serde_json::json!({"labels": {"addonmanager.kubernetes.io/mode": "Reconcile"}});
    cluster.render();
    cluster.downgrades("RollingUpdate");
    let outcome = cluster.run(Command::Run, &no_watch());
    assert_eq!(outcome.exit, Exit::Precondition, "{:#?}", outcome.failures);
    let failure = outcome.failure().cloned().unwrap();
    assert_eq!(failure.task, "Inspect the cluster");
    assert_eq!(
        failure.message,
        "the Kubernetes addon manager re-applies Calico's manifests: it would put v3.0 back after the rollback; nothing was changed"
    );
    assert_eq!(failure.details[0], "the Kubernetes addon manager (label addonmanager.kubernetes.io/mode=Reconcile on daemonset/calico-node, deployment/calico-kube-controllers)");
    assert!(failure.safe_next.contains("--despite-reconciler"), "{}", failure.safe_next);
    assert!(cluster.exec.mutating().is_empty(), "nothing but the lock's own writes: {:?}", cluster.exec.mutating());
    assert_eq!(cluster.count(&objects_command()), 1, "the workloads and the Jobs, read once");

    // Told to go on: the wait sees the template changed back, and points at the addon manager.
    let mut cluster = Cluster::upgraded();
    cluster.model.metadata = serde_json::json!({"labels": {"addonmanager.kubernetes.io/mode": "Reconcile"}});
    cluster.render();
    cluster.downgrades("RollingUpdate");
    let pods = pod_events(&[("ADDED", "calico-node-a", "Running", "True", NODE_V3, "<none>")]);
    cluster.exec.set(&pod_events_command(), ok(&pods));
    let ds = workload_events(WorkloadKind::DaemonSet, &[("ADDED", 3, 3, 3, NODE_V3)]);
    cluster.workload_watches(ok(&ds));
    let outcome = cluster.run(Command::Run, &Options { despite_reconciler: true, ..options() });
    assert_eq!(outcome.exit, Exit::StepFailed, "{:#?}", outcome.failures);
    let inspect = outcome.steps.iter().find(|s| s.name == "Inspect the cluster").unwrap();
    assert!(
        inspect.summary.iter().any(|l| l.starts_with("warning: going on despite it (--despite-reconciler)")),
        "{:?}",
        inspect.summary
    );
    let failure = outcome.failure().cloned().unwrap();
    assert!(
        failure
            .message
            .starts_with("the rollback was undone: daemonset/calico-node's live template was changed back to"),
        "{}",
        failure.message
    );
    assert!(failure.safe_next.starts_with("running again now would only start the same tug-of-war: stop the Kubernetes addon manager first (replace Calico v3.0's manifest"), "{}", failure.safe_next);
    let json = serde_json::to_value(outcome.facts.reconcilers.as_ref().unwrap()).unwrap();
    assert_eq!(json["found"][0]["kind"], "addon-manager");
    assert_eq!(json["overridden"], true);
}

/// A Helm release only warns (its next upgrade brings v3.0 back): the run goes on, and the
/// verdict's step repeats the warning; Jobs the user may not list are "not checked", with
/// the command an admin can run.
#[test]
fn a_helm_release_only_warns_and_unreadable_jobs_are_not_checked() {
    let mut cluster = Cluster::upgraded();
    cluster.model.metadata = serde_json::json!({
        "labels": {"app.kubernetes.io/managed-by": "Helm"},
        "annotations": {"meta.helm.sh/release-name": "calico", "meta.helm.sh/release-namespace": "kube-system"}
    });
    // The objects query lists the rest and refuses the Jobs alone (a Role without them).
    cluster.exec.set(
        &objects_command(),
        exit(1, &cluster.model.json(), "Error from server (Forbidden): jobs.batch is forbidden: User \"operator\" cannot list resource \"jobs\" in API group \"batch\" in the namespace \"kube-system\"\n"),
    );
    cluster.downgrades("RollingUpdate");
    cluster.pods(&[&still_v3(), &converged_v2()]);
    let outcome = cluster.run(Command::Run, &no_watch());
    assert_eq!(outcome.exit, Exit::Done, "{:#?}", outcome.failures);
    let inspect = outcome.steps.iter().find(|s| s.name == "Inspect the cluster").unwrap();
    insta::assert_snapshot!(inspect
        .summary
        .iter()
        .filter(|l| l.contains("Helm") || l.contains("helm") || l.contains("Jobs"))
        .cloned()
        .collect::<Vec<_>>()
        .join("\n"));
    let verify = outcome.steps.iter().find(|s| s.name == "Verify and report").unwrap();
    assert!(
        verify.summary.iter().any(|l| l.starts_with("warning: a Helm release kube-system/calico")),
        "{:?}",
        verify.summary
    );
}

/// A watch that fails in a way a retry can fix is started again, all three, after a pause;
/// the failure is shown and recorded, and the run converges.
#[test]
fn a_failed_event_watch_is_started_again_after_a_pause() {
    let mut cluster = Cluster::upgraded();
    cluster.downgrades("RollingUpdate");
    let done = pod_events(&[
        ("ADDED", "calico-node-a", "Running", "True", NODE_V2, "<none>"),
        ("ADDED", "calico-node-b", "Running", "True", NODE_V2, "<none>"),
        ("ADDED", "calico-node-c", "Running", "True", NODE_V2, "<none>"),
        ("ADDED", "calico-kube-controllers-5d7-x", "Running", "True", KC_V2, "<none>"),
    ]);
    cluster.exec.on(&pod_events_command(), exit(1, "", UNREACHABLE));
    cluster.exec.on(&pod_events_command(), ok(&done));
    let ds = workload_events(WorkloadKind::DaemonSet, &[("ADDED", 3, 3, 3, NODE_V2)]);
    cluster.workload_watches(ok(&ds));
    let outcome = cluster.run(Command::Run, &options());
    assert_eq!(outcome.exit, Exit::Done, "{:#?}", outcome.failures);
    assert_eq!(cluster.count(&pod_events_command()), 2);
    let wait = outcome.steps.iter().find(|s| s.name == "Wait for the pods").unwrap();
    assert!(wait.commands.iter().any(|c| c.exit_code == Some(1)), "the failed watch is in the report");
}

/// Watches that keep failing hand the wait to the looks, which ride out the outage until
/// `--timeout`: exit 4, what was last seen, and why.
#[test]
fn event_watches_failing_past_the_timeout_end_with_exit_4_and_the_cause() {
    let mut cluster = Cluster::upgraded();
    cluster.downgrades("RollingUpdate");
    cluster.exec.set(&pods_command(), exit(1, "", UNREACHABLE));
    cluster.exec.set(&watch_command(), exit(1, "", UNREACHABLE));
    cluster.exec.set(&pod_events_command(), exit(1, "", UNREACHABLE));
    cluster.exec.set(&workload_watch_command(WorkloadKind::DaemonSet, "calico-node"), exit(1, "", UNREACHABLE));
    cluster
        .exec
        .set(&workload_watch_command(WorkloadKind::Deployment, "calico-kube-controllers"), exit(1, "", UNREACHABLE));
    let options = Options { timeout: Some(std::time::Duration::from_secs(10)), ..options() };
    let outcome = cluster.run(Command::Run, &options);
    assert_eq!(outcome.exit, Exit::NotConverged, "{:#?}", outcome.failures);
    let failure = outcome.failure().cloned().unwrap();
    assert!(failure.details[0].contains("was refused"), "{:#?}", failure.details);
    let watches = cluster.count(&pod_events_command());
    assert_eq!(watches, 3, "three tries, then one read retried until the deadline");
    let polls = cluster.count(&pods_command());
    assert!((3..=12).contains(&polls), "backoff, not a tight loop: {polls}");
}

/// A user who may list pods but not watch them: the event watch is refused, the wait looks at
/// the pods instead (every `--poll-interval`, no further watch), and converges.
#[test]
fn a_refused_watch_is_not_the_runs_failure_the_wait_looks_instead() {
    let mut cluster = Cluster::upgraded();
    cluster.downgrades("RollingUpdate");
    let refused = "Error from server (Forbidden): pods is forbidden: User \"ops\" cannot watch resource \"pods\" in API group \"\" in the namespace \"kube-system\"\n";
    cluster.exec.set(&pod_events_command(), exit(1, "", refused));
    cluster.workload_watches(ok(&workload_events(WorkloadKind::DaemonSet, &[("ADDED", 3, 3, 3, NODE_V2)])));
    cluster.exec.set(&watch_command(), exit(1, "", refused));
    cluster.pods(&[&still_v3(), &still_v3(), &converged_v2()]);
    let outcome = cluster.run(Command::Run, &options());
    assert_eq!(outcome.exit, Exit::Done, "{:#?}", outcome.failures);
    let count = |command: String| cluster.count(&command);
    assert_eq!(count(pod_events_command()), 1, "not retried: refused is not transient");
    assert_eq!(count(watch_command()), 1, "once refused, the looks do not watch again");
    assert_eq!(count(pods_command()), 3);
}

/// Kubernetes API datastore: what v3.0 wrote that v2.6 will not read is named by kind, a
/// refused list is "not checked" (the lists after it, read here once the background one
/// stopped there, still are), a CRD that is not installed is "none", never "not checked", and
/// the verdict names them rather than claiming Calico v2.6.
#[test]
fn what_v2_6_will_not_read_is_named_and_a_refused_list_is_not_checked() {
    let mut cluster = Cluster::upgraded();
    cluster.env("DATASTORE_TYPE\tkubernetes\t\n");
    cluster.model.deployment = None;
    cluster.render();
    cluster.undo(WorkloadKind::DaemonSet, "calico-node", 1, ok("daemonset.apps/calico-node rolled back\n"));
    let selector = "k8s-app in (calico-node)";
    let pods = pods_table(&[
        ("calico-node-a", "Running", "True", NODE_V2, "calico-node", "<none>"),
        ("calico-node-b", "Running", "True", NODE_V2, "calico-node", "<none>"),
        ("calico-node-c", "Running", "True", NODE_V2, "calico-node", "<none>"),
    ]);
    cluster.exec.set(&kubectl().pods("kube-system", Some(selector)).to_string(), ok(&pods));
    let rollout =
        format!("{STATUS_HEADER}\ncalico-node   3   3   3   3   3   <none>   <none>   <none>   <none>   {NODE_V2}\n");
    cluster.exec.set(&kubectl().workload_status("kube-system", "calico-node", None).to_string(), ok(&rollout));
    let policy = r#"{"apiVersion":"crd.projectcalico.org/v1","items":[{"apiVersion":"crd.projectcalico.org/v1","kind":"NetworkPolicy","metadata":{"name":"deny-all","namespace":"shop"},"spec":{"selector":"all()"}}],"kind":"NetworkPolicyList","metadata":{}}"#;
    let pools = r#"{"apiVersion":"crd.projectcalico.org/v1","items":[{"kind":"IPPool","metadata":{"name":"default-ipv4-ippool"},"spec":{"cidr":"192.168.0.0/16","ipipMode":"Always"}},{"kind":"IPPool","metadata":{"name":"10-99-0-0-16"},"spec":{"cidr":"10.99.0.0/16","ipip":{"enabled":true}}}],"kind":"IPPoolList","metadata":{}}"#;
    let forbidden = "Error from server (Forbidden): felixconfigurations.crd.projectcalico.org is forbidden: User \"jane\" cannot list resource \"felixconfigurations\" in API group \"crd.projectcalico.org\" at the cluster scope\n";
    cluster.calico_lists(vec![
        ("networkpolicies", ok(policy)),
        ("felixconfigurations", exit(1, "", forbidden)),
        (
            "bgpconfigurations",
            exit(1, "", "Error from server (NotFound): the server could not find the requested resource\n"),
        ),
        ("ippools", ok(pools)),
    ]);

    let plan = cluster.run(Command::Plan, &no_watch());
    assert_eq!(plan.exit, Exit::Done, "{:#?}", plan.failures);
    let step = plan.steps.iter().find(|s| s.name == "What Calico v2.6 will not read").expect("the task ran");
    assert_eq!(step.message, "2 Calico object(s) v2.6 will not read or enforce as v3.0 did; 1 kind(s) not checked");
    let summary = step.summary.join("\n");
    for words in [
        "networkpolicies.crd.projectcalico.org, a kind only v3.0 reads (1): namespaced Calico policy",
        "  shop/deny-all",
        "felixconfigurations.crd.projectcalico.org: not checked (Error from server (Forbidden): felixconfigurations",
        "  default-ipv4-ippool: named other than by its CIDR",
        "no CRD (so none) for bgpconfigurations",
        "an admin can list what was not checked: `kubectl get felixconfigurations.crd.projectcalico.org --all-namespaces -o yaml`",
    ] {
        assert!(summary.contains(words), "no {words:?} in:\n{summary}");
    }
    assert!(!summary.contains("10-99-0-0-16"), "the pool named by its CIDR is flagged:\n{summary}");
    // Every list ran, the refused one once: nothing after it was left out.
    let commands = cluster.exec.commands();
    for kind in calico_downgrade::calico_kdd::KINDS {
        let list = kubectl().calico_objects(kind.plural).to_string();
        assert_eq!(commands.iter().filter(|c| **c == list).count(), 1, "{list}: {commands:#?}");
    }
    let not_read = plan.facts.not_read_by_v2_6.as_ref().expect("the finding is kept");
    let statuses: Vec<String> = not_read.kinds.iter().map(|k| format!("{}: {:?}", k.plural, k.checked)).collect();
    assert!(statuses.contains(&"bgpconfigurations: NoCrd".to_string()), "{statuses:?}");
    assert!(statuses.contains(&"ippools: Listed { count: 2 }".to_string()), "{statuses:?}");

    let run = cluster.run(Command::Run, &no_watch());
    assert_eq!(run.exit, Exit::Done, "{:#?}", run.failures);
    let verdict = &run.steps.iter().find(|s| s.name == "Verify and report").unwrap().message;
    assert!(!verdict.contains("Calico v2.6 is running"), "{verdict}");
    assert!(
        verdict.contains("not read or enforced by v2.6 as v3.0 did: 1 networkpolicies, 1 ippools; not checked what v2.6 will not read: felixconfigurations"),
        "{verdict}"
    );
}

/// Three calico-node pods mid-rollout: the first `ready` on v2.6 and ready, the next `waiting`
/// on v2.6 not ready yet, the rest on v3.0; calico-kube-controllers still on v3.0.
fn rolling(ready: usize, waiting: usize) -> String {
    let names = ["calico-node-a", "calico-node-b", "calico-node-c"];
    let mut rows: Vec<(&str, &str, &str, &str, &str, &str)> = names
        .iter()
        .enumerate()
        .map(|(i, name)| match i {
            i if i < ready => (*name, "Running", "True", NODE_V2, "calico-node", "<none>"),
            i if i < ready + waiting => (*name, "Pending", "False", NODE_V2, "calico-node", "<none>"),
            _ => (*name, "Running", "True", NODE_V3, "calico-node", "<none>"),
        })
        .collect();
    rows.push(("calico-kube-controllers-6f8-y", "Running", "True", KC_V3, "calico-kube-controllers-6f8", "<none>"));
    pods_table(&rows)
}

/// Polls every 2 s (the scripted clock), `--stall-timeout 10s`: one step of the rollout every
/// 8 s, 30 s in all. Never 10 s without progress, so the wait goes on to convergence.
#[test]
fn a_rollout_longer_than_the_stall_timeout_that_keeps_progressing_converges() {
    let mut cluster = Cluster::upgraded();
    cluster.downgrades("RollingUpdate");
    let steps =
        [rolling(0, 0), rolling(0, 1), rolling(1, 0), rolling(1, 1), rolling(2, 0), rolling(2, 1), rolling(3, 0)];
    let mut views: Vec<&str> = Vec::new();
    for step in &steps {
        views.extend([step.as_str(); 4]);
    }
    let done = converged_v2();
    views.push(&done);
    cluster.pods(&views);
    cluster.rollout(ROLLOUT_COMPLETE);
    let options = Options { stall_timeout: std::time::Duration::from_secs(10), ..no_watch() };
    let outcome = cluster.run(Command::Run, &options);
    assert_eq!(outcome.exit, Exit::Done, "{:#?}", outcome.failures);
    assert_eq!(cluster.count(&pods_command()), 29, "every view was looked at, 56 s of polls");
    let wait = outcome.facts.wait.clone().unwrap();
    assert!(wait.elapsed_secs > 50.0 && wait.gave_up.is_none(), "{wait:#?}");
    assert_eq!(wait.last_progress.what, "calico-kube-controllers: 1 of 1 ready on the target images");
}

/// The rollout moves once, then nothing: exit 4 after `--stall-timeout` counted from that
/// last progress, which the report names with its time.
#[test]
fn a_rollout_that_stops_progressing_ends_after_the_stall_timeout_naming_the_last_progress() {
    let mut cluster = Cluster::upgraded();
    cluster.downgrades("RollingUpdate");
    let (start, moved) = (rolling(0, 0), rolling(1, 1));
    cluster.pods(&[&start, &start, &start, &moved]);
    let options = Options { stall_timeout: std::time::Duration::from_secs(10), ..no_watch() };
    let outcome = cluster.run(Command::Run, &options);
    assert_eq!(outcome.exit, Exit::NotConverged, "{:#?}", outcome.failures);
    let failure = outcome.failure().cloned().unwrap();
    assert_eq!(failure.message, "the pods made no progress for 10s (--stall-timeout)");
    assert!(
        failure.details[0].starts_with("last progress 6.0")
            && failure.details[0].ends_with("s ago: calico-node: 1 of 3 ready on the target images"),
        "{:#?}",
        failure.details
    );
    let pace = &failure.details[1];
    assert!(
        pace.starts_with("calico-node: 1 became ready during the wait, ") && pace.ends_with("/min (2 to go)"),
        "{pace}"
    );
    let wait = outcome.facts.wait.clone().unwrap();
    assert_eq!(wait.gave_up, Some(calico_downgrade::pace::GaveUp::Stalled));
    assert!((16.0..17.0).contains(&wait.elapsed_secs), "10 s after the last progress at 6 s: {wait:#?}");
}

/// `--timeout` stays an absolute limit: a rollout that keeps progressing still ends there.
#[test]
fn the_timeout_ends_a_wait_that_progresses() {
    let mut cluster = Cluster::upgraded();
    cluster.downgrades("RollingUpdate");
    let steps = [rolling(0, 0), rolling(0, 1), rolling(1, 0), rolling(1, 1), rolling(2, 0)];
    let views: Vec<&str> = steps.iter().map(String::as_str).collect();
    cluster.pods(&views);
    let options = Options { timeout: Some(std::time::Duration::from_secs(7)), ..no_watch() };
    let outcome = cluster.run(Command::Run, &options);
    assert_eq!(outcome.exit, Exit::NotConverged, "{:#?}", outcome.failures);
    assert_eq!(outcome.failure().unwrap().message, "the pods did not converge within --timeout 7s");
    assert_eq!(outcome.facts.wait.clone().unwrap().gave_up, Some(calico_downgrade::pace::GaveUp::Limit));
}

// ---------------------------------------------------------------------------------------------
// The cluster lock: an annotation on the DaemonSet, each write a JSON patch that tests first
// ---------------------------------------------------------------------------------------------

/// This run as the lock names it in a scripted run (the default environment, the scripted clock
/// at its start: every time is within its first second).
fn this_run() -> calico_downgrade::lease::Holder {
    calico_downgrade::lease::Holder {
        host: String::new(),
        user: String::new(),
        pid: 0,
        command: String::new(),
        started: "2026-12-05T01:00:00Z".into(),
        renewed: "2026-12-05T01:00:00Z".into(),
        lease_seconds: 30,
    }
}

/// What real kubectl 1.33 printed when the lock's `test` failed (a real capture).
const PATCH_DOES_NOT_APPLY: &str =
    "The request is invalid: the server rejected our request due to an error in our request\n";

fn lock_writes(cluster: &Cluster, op: &str) -> usize {
    cluster.exec.commands().iter().filter(|c| lock_write(c) == Some(op)).count()
}

fn objects_reads(cluster: &Cluster) -> usize {
    cluster.exec.commands().iter().filter(|c| **c == objects_command() || **c == reread_command()).count()
}

/// Another run holds the lock: the take's `test` fails, and the inspection's own read of the
/// DaemonSet names the holder (no read of its own); exit 3, nothing changed, the other run's
/// lock left alone.
#[test]
fn a_lock_another_run_holds_is_named_from_the_inspections_read() {
    let mut cluster = Cluster::upgraded();
    let other = calico_downgrade::lease::Holder {
        host: "bastion-2".into(),
        user: "alice".into(),
        pid: 4242,
        command: "calico-downgrade run --yes".into(),
        started: "2026-12-05T00:59:00Z".into(),
        renewed: "2026-12-05T00:59:55Z".into(),
        lease_seconds: 30,
    };
    cluster.model.lock = Some(other.value());
    cluster.render();
    cluster.exec.lock_answers.clear();
    cluster.exec.on_lock("add", exit(1, "", PATCH_DOES_NOT_APPLY));
    cluster.inprogress(&[true]);
    let outcome = cluster.run(Command::Run, &no_watch());
    assert_eq!(outcome.exit, Exit::Precondition, "{:#?}", outcome.failures);
    let failure = outcome.failure().cloned().unwrap();
    assert_eq!(failure.task, "Lock the cluster");
    assert_eq!(
        failure.message,
        "another calico-downgrade is changing this cluster: alice@bastion-2, pid 4242, `calico-downgrade run --yes`: nothing was changed"
    );
    assert!(failure.details[0].contains("(1m ago), its lease renewed 5s ago"), "{:?}", failure.details);
    assert_eq!(objects_reads(&cluster), 1, "the inspection's read names the holder");
    assert!(cluster.exec.mutating().is_empty(), "{:?}", cluster.exec.mutating());
    assert_eq!(lock_writes(&cluster, "remove"), 0, "another run's lock is not removed");
}

/// The take's answer was lost (the API server may have made it): the lock is read back before
/// anything else; this run's own name there means it holds the lock, and the run goes on
/// without writing it again.
#[test]
fn a_take_whose_answer_was_lost_is_read_back_and_found_to_be_this_runs() {
    let mut cluster = Cluster::upgraded();
    cluster.downgrades("RollingUpdate");
    cluster.pods(&[&converged_v2()]);
    cluster.exec.lock_answers.clear();
    cluster.exec.on_lock("add", exit(1, "", "Error from server: etcdserver: leader changed\n"));
    cluster.exec.on_lock("remove", ok("daemonset.apps/calico-node\n"));
    // The inspection's read shows no lock; the read back shows this run's.
    let free = cluster.model.json();
    cluster.model.lock = Some(this_run().value());
    let taken = cluster.model.json();
    cluster.exec.set(&objects_command(), ok(&free)).set(&reread_command(), ok(&taken));
    let outcome = cluster.run(Command::Run, &no_watch());
    assert_eq!(outcome.exit, Exit::Done, "{:#?}", outcome.failures);
    let lock = outcome.steps.iter().find(|s| s.name == "Lock the cluster").unwrap();
    assert!(lock.message.ends_with("is this run's until it ends"), "{}", lock.message);
    assert_eq!(lock_writes(&cluster, "add"), 1, "never written twice");
    assert_eq!(objects_reads(&cluster), 2, "the inspection's read, then the read back");
    assert_eq!(lock_writes(&cluster, "remove"), 1, "released at the end");
}

/// The take never reached the API server (the connection was refused): no read back, the same
/// take again after a pause.
#[test]
fn a_take_refused_at_the_connection_is_made_again() {
    let mut cluster = Cluster::upgraded();
    cluster.downgrades("RollingUpdate");
    cluster.pods(&[&converged_v2()]);
    cluster.exec.lock_answers.clear();
    cluster.exec.on_lock("add", exit(1, "", UNREACHABLE)).on_lock("add", ok("daemonset.apps/calico-node\n"));
    cluster.exec.on_lock("remove", ok("daemonset.apps/calico-node\n"));
    let outcome = cluster.run(Command::Run, &no_watch());
    assert_eq!(outcome.exit, Exit::Done, "{:#?}", outcome.failures);
    assert_eq!(lock_writes(&cluster, "add"), 2);
    assert_eq!(objects_reads(&cluster), 1, "nothing to read back: it never got there");
}

/// A lock whose holder's lease is clearly over is taken over by a swap that tests the value
/// seen; a swap that loses to a third run (its `test` fails) reads the lock again and finds
/// that run holding it: exit 3 naming it.
#[test]
fn an_expired_lock_is_taken_over_by_a_swap_of_the_value_seen() {
    let expired = calico_downgrade::lease::Holder {
        host: "bastion-2".into(),
        user: "bob".into(),
        pid: 7,
        command: "calico-downgrade run --yes".into(),
        started: "2026-12-05T00:40:00Z".into(),
        renewed: "2026-12-05T00:50:00Z".into(),
        lease_seconds: 30,
    };
    let mut cluster = Cluster::upgraded();
    cluster.downgrades("RollingUpdate");
    cluster.pods(&[&converged_v2()]);
    cluster.model.lock = Some(expired.value());
    cluster.render();
    cluster.exec.lock_answers.clear();
    cluster.exec.on_lock("add", exit(1, "", PATCH_DOES_NOT_APPLY));
    cluster.exec.on_lock("replace", ok("daemonset.apps/calico-node\n"));
    cluster.exec.on_lock("remove", ok("daemonset.apps/calico-node\n"));
    let outcome = cluster.run(Command::Run, &no_watch());
    assert_eq!(outcome.exit, Exit::Done, "{:#?}", outcome.failures);
    let lock = outcome.steps.iter().find(|s| s.name == "Lock the cluster").unwrap();
    assert_eq!(
        lock.message,
        "annotation calico-downgrade/lock of ds/calico-node in kube-system taken over from bob@bastion-2, pid 7, `calico-downgrade run --yes`, whose lease ended 9m 30s ago (last renewed 10m ago)"
    );
    let swap = cluster.exec.commands().into_iter().find(|c| lock_write(c) == Some("replace")).unwrap();
    let seen = serde_json::to_string(&expired.value()).unwrap();
    assert!(swap.replace('\\', "").contains(&seen.replace('\\', "")), "the swap tests the value seen: {swap}");

    // Lost to a third run in between: read again, held by it.
    let mut cluster = Cluster::upgraded();
    cluster.model.lock = Some(expired.value());
    let seen_first = cluster.model.json();
    let third =
        calico_downgrade::lease::Holder { user: "carol".into(), renewed: "2026-12-05T01:00:00Z".into(), ..expired };
    cluster.model.lock = Some(third.value());
    let then = cluster.model.json();
    cluster.exec.set(&objects_command(), ok(&seen_first)).set(&reread_command(), ok(&then));
    cluster.exec.lock_answers.clear();
    cluster.exec.on_lock("add", exit(1, "", PATCH_DOES_NOT_APPLY));
    cluster.exec.on_lock("replace", exit(1, "", PATCH_DOES_NOT_APPLY));
    cluster.inprogress(&[true]);
    let outcome = cluster.run(Command::Run, &no_watch());
    assert_eq!(outcome.exit, Exit::Precondition, "{:#?}", outcome.failures);
    assert!(outcome.failure().unwrap().message.contains("carol@bastion-2, pid 7"), "{:#?}", outcome.failures);
    assert!(cluster.exec.mutating().is_empty());
}

/// A renewal whose answer was lost took effect: the release's `test` of the value this run
/// last knew fails, the lock is read back, found this run's (renewed), and removed with that
/// value. Another run's lock found at the release is left alone.
#[test]
fn the_release_reads_back_a_lock_whose_value_moved_and_removes_only_this_runs() {
    let renewed = this_run().renewed_at(crate::support::scripted::wall_clock_at(std::time::Duration::from_secs(12)));
    let other = calico_downgrade::lease::Holder { host: "bastion-2".into(), ..this_run() };
    for (found, removes, status) in
        [(Some(renewed), 2, Status::Ok), (None, 1, Status::Ok), (Some(other), 1, Status::Skipped)]
    {
        let mut cluster = Cluster::upgraded();
        cluster.downgrades("RollingUpdate");
        cluster.pods(&[&converged_v2()]);
        cluster.exec.lock_answers.clear();
        cluster.exec.on_lock("add", ok("daemonset.apps/calico-node\n"));
        cluster
            .exec
            .on_lock("remove", exit(1, "", PATCH_DOES_NOT_APPLY))
            .on_lock("remove", ok("daemonset.apps/calico-node\n"));
        let free = cluster.model.json();
        cluster.model.lock = found.as_ref().map(|h| h.value());
        let after = cluster.model.json();
        cluster.exec.set(&objects_command(), ok(&free)).set(&reread_command(), ok(&after));
        let outcome = cluster.run(Command::Run, &no_watch());
        assert_eq!(outcome.exit, Exit::Done, "{:#?}", outcome.failures);
        let release = outcome.steps.iter().find(|s| s.name == "Release the cluster lock").unwrap();
        assert_eq!(release.status, status, "{release:#?}");
        assert_eq!(lock_writes(&cluster, "remove"), removes, "{:?}", cluster.exec.commands());
    }
}
/// An API server that refused connections comes back, and its first answers come before it
/// serves every API group: `the server doesn't have a resource type "ds"` (real, kube-apiserver
/// v1.20.2 just restarted). After a refusal that is the server starting, retried with the
/// round; without one before it, it is kubectl's answer.
#[test]
fn a_resource_type_missing_right_after_an_outage_is_retried_with_the_round() {
    const NO_TYPE: &str =
        include_str!("../../fixtures/kubectl/rollout-undo/ds-dry-run-server-no-type-after-restart-1.33.stderr");
    let dry_run = previous_dry_run_command();
    let mut cluster = Cluster::upgraded();
    cluster.exec.set(&dry_run, exit(1, "", UNREACHABLE));
    cluster.exec.on(&dry_run, exit(1, "", NO_TYPE));
    cluster.exec.on(
        &dry_run,
        ok("daemonset.apps/calico-node rolled back (server dry run)\ndeployment.apps/calico-kube-controllers rolled back (server dry run)\n"),
    );
    cluster.downgrades("RollingUpdate");
    cluster.pods(&[&converged_v2()]);
    let outcome = cluster.run(Command::Run, &no_watch());
    assert_eq!(outcome.exit, Exit::Done, "{:#?}", outcome.failures);
    assert_eq!(cluster.count(&dry_run), 3);

    // The same answer with no outage before it is not retried: the run stops on it.
    let mut cluster = Cluster::upgraded();
    cluster.exec.set(&dry_run, exit(1, "", NO_TYPE));
    cluster.downgrades("RollingUpdate");
    let outcome = cluster.run(Command::Run, &no_watch());
    assert_eq!(outcome.exit, Exit::StepFailed, "{:#?}", outcome.failures);
    assert_eq!(cluster.count(&dry_run), 1);
    assert!(outcome.failure().unwrap().message.contains("doesn't have a resource type"), "{:#?}", outcome.failures);
    assert!(cluster.exec.mutating().is_empty());
}
