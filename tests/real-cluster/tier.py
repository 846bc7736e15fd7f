"""The real-cluster tier: the real `calico-downgrade` binary against a real control plane.

One cluster (cluster.py: v1.20.2 servers, three simulated kubelets) serves every case. Each
case brings Calico to its starting state the way an operator did (kubectl apply v2.6, then
v3.0), makes a fresh simulated calicoctl/calico-upgrade (`fake-cluster init`), runs the tool
with a cleared environment (PATH holding only the chosen real kubectl, a fresh HOME, KUBECONFIG
= the admin kubeconfig) and judges the result from the API server, never through the tool.

Prints one line per case and kubectl version, then the known failures (tests/real-cluster/
known-failures) and `real-cluster: N passed, N failed`. A known failure that fails is reported
and counts neither as passed nor failed; one that passes fails the tier (clean the list). Exit 0 only when
nothing failed. Each case's tool stdout/stderr/journal stay in RUN/cases/<case>-<kubectl>/.

  python3 tier.py --tool PATH --fake-cluster PATH --bin-dir DIR [--case NAME]... [--kubectl 1.33]...
"""

import argparse
import datetime
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)

from cluster import V26_IMAGES, V30_IMAGES, Cluster, install_signal_handlers  # noqa: E402
from journal import entries as journal_entries  # noqa: E402
from kube import ApiError  # noqa: E402

KUBECTLS = ["1.20", "1.27", "1.28", "1.29", "1.30", "1.31", "1.32", "1.33"]
NODES = 3
KNOWN_FAILURES = os.path.join(HERE, "known-failures")


class CaseFailed(Exception):
    """A case's expectation did not hold."""


def expect(cond, why):
    if not cond:
        raise CaseFailed(why)


def kubectl_paths(bin_dir):
    """kubectl version label -> binary: 1.20 from the build cache, 1.27+ beside the machine's kubectl."""
    paths = {"1.20": os.path.join(bin_dir, "kubectl-1.20")}
    found = shutil.which("kubectl")
    sdk = os.path.dirname(os.path.realpath(found)) if found else ""
    for v in KUBECTLS[1:]:
        paths[v] = os.path.join(sdk, f"kubectl.{v}")
    return paths


class Run:
    """One invocation of the tool: exit code, stdout, stderr, the JSON document if any."""

    def __init__(self, rc, out, err, elapsed):
        self.rc, self.out, self.err, self.elapsed = rc, out, err, elapsed
        try:
            self.doc = json.loads(out)
        except ValueError:
            self.doc = None

    def text(self):
        return self.out + self.err

    def why(self):
        if self.doc and self.doc.get("msg"):
            return self.doc["msg"]
        lines = [ln for ln in (self.err + self.out).splitlines() if ln.strip()]
        return lines[-1] if lines else "(no output)"


class Case:
    """The context a case function gets: the cluster, its folder, one kubectl, the tool."""

    def __init__(self, tier, name, kver, folder):
        self.tier, self.name, self.kver, self.dir = tier, name, kver, folder
        self.cluster = tier.cluster
        self.api = tier.cluster.admin
        self.kubectl = tier.kubectls[kver]
        self.runs = 0
        os.makedirs(folder, exist_ok=True)
        # PATH holding only the real kubectl, as `kubectl`.
        self.path_dir = os.path.join(folder, "path")
        os.makedirs(self.path_dir, exist_ok=True)
        os.symlink(self.kubectl, os.path.join(self.path_dir, "kubectl"))
        self.home = os.path.join(folder, "home")
        os.makedirs(self.home, exist_ok=True)
        self.fake = None

    def use(self, cluster):
        """Run the tool against, and judge by, `cluster` (a control plane of the case's own)."""
        self.cluster, self.api = cluster, cluster.admin

    def fakes(self, datastore="etcd"):
        """A fresh simulated calicoctl/calico-upgrade for this case (the cluster side is real)."""
        self.fake = os.path.join(self.dir, "fakes")
        args = [self.tier.fake_cluster, "init", self.fake, "--datastore", datastore, "--state", "upgraded"]
        if datastore == "kubernetes":
            args.append("--no-deployment")
        r = subprocess.run(args, capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"`fake-cluster init` failed with exit code {r.returncode}: {r.stderr.strip()}")

    def tool(self, *args, timeout=180, background=False, kubeconfig=None, home=None):
        """Run calico-downgrade with a cleared environment; stdout/stderr/journal kept in the case folder.
        `kubeconfig`: another user's (default: the admin's). `status` gets no --calicoctl (it refuses it)."""
        if self.fake is None:
            self.fakes()
        self.runs += 1
        n = self.runs
        calicoctl = [] if args[:1] == ("status",) else ["--calicoctl", os.path.join(self.fake, "bin", "calicoctl")]
        argv = [self.tier.tool, *args, "--kubectl", os.path.join(self.path_dir, "kubectl"), *calicoctl,
                "--calico-upgrade", os.path.join(self.fake, "bin", "calico-upgrade"),
                "--journal", os.path.join(self.dir, f"journal-{n}.jsonl")]
        home_dir = os.path.join(self.dir, home) if home else self.home
        os.makedirs(home_dir, exist_ok=True)
        env = {"PATH": self.path_dir, "HOME": home_dir, "USER": "tier", "KUBECONFIG": kubeconfig or self.cluster.admin_kubeconfig}
        with open(os.path.join(self.dir, f"argv-{n}"), "w") as f:
            f.write(" ".join(argv) + "\n")
        out = open(os.path.join(self.dir, f"stdout-{n}"), "w+")
        err = open(os.path.join(self.dir, f"stderr-{n}"), "w+")
        start = time.monotonic()
        proc = subprocess.Popen(argv, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env, start_new_session=True)
        self.tier.children.append(proc)

        def finish():
            try:
                rc = proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                rc = "killed after %ss" % timeout
            out.seek(0)
            err.seek(0)
            r = Run(rc, out.read(), err.read(), time.monotonic() - start)
            out.close()
            err.close()
            return r

        if background:
            return finish
        return finish()

    # --- observations from the API server -----------------------------------------------------
    def calico_pods(self):
        return [p for p in self.cluster.calico_pods() if not p["metadata"].get("deletionTimestamp")]

    def daemonset(self):
        return self.api.get("/apis/apps/v1/namespaces/kube-system/daemonsets/calico-node")

    def ds_template_images(self):
        return {c["image"] for c in self.daemonset()["spec"]["template"]["spec"]["containers"]}

    def revisions(self):
        items = self.api.get("/apis/apps/v1/namespaces/kube-system/controllerrevisions")["items"]
        return sorted((r["metadata"]["name"], r["metadata"]["resourceVersion"], r["revision"]) for r in items)

    def lock(self):
        """The cluster lock's annotation on the DaemonSet (None: free)."""
        return self.daemonset()["metadata"].get("annotations", {}).get(LOCK_ANNOTATION)

    def resource_versions(self):
        """What a run that changed nothing leaves as it was. The DaemonSet by its generation,
        spec and annotations but the lock's: the lock is an annotation on it, taken (with the
        inspection) and released by a run that stops before any change, which moves its
        resourceVersion and nothing else."""
        ds = self.daemonset()
        annotations = {k: v for k, v in ds["metadata"].get("annotations", {}).items() if k != LOCK_ANNOTATION}
        rv = {"daemonset": (ds["metadata"]["generation"], json.dumps(ds["spec"], sort_keys=True),
                            json.dumps(annotations, sort_keys=True))}
        if self.cluster.variant != "kdd":
            rv["deployment"] = self.api.get("/apis/apps/v1/namespaces/kube-system/deployments/calico-kube-controllers")["metadata"]["resourceVersion"]
        rv["controllerrevisions"] = self.revisions()
        rss = self.api.get("/apis/apps/v1/namespaces/kube-system/replicasets")["items"]
        rv["replicasets"] = sorted((r["metadata"]["name"], r["metadata"]["resourceVersion"]) for r in rss)
        return rv

    def expect_all_on(self, images, nodes=NODES, settle=30):
        """Every Calico pod Running, Ready, on `images`: one calico-node per node (+ the controller)."""
        kdd = self.cluster.variant == "kdd"
        want = nodes + (0 if kdd else 1)
        deadline = time.monotonic() + settle
        while True:
            pods = self.calico_pods()
            bad = [p["metadata"]["name"] for p in pods
                   if not {c["image"] for c in p["spec"]["containers"]} <= images
                   or p.get("status", {}).get("phase") != "Running"]
            if not bad and len(pods) == want:
                return pods
            if time.monotonic() > deadline:
                raise CaseFailed(f"{len(pods)} Calico pods (want {want}); not Running on the target images: {', '.join(bad) or 'none'}")
            time.sleep(0.3)

    def mid_wait(self, timeout=60):
        """Wait until both templates are back on v2.6 and a first calico-node pod runs v2.6 while
        others still run v3.0: the rollbacks are done and the tool is in its wait. Returns that
        pod's node."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if self.ds_template_images() <= V26_IMAGES and self.deployment_on(V26_IMAGES):
                    nodes = [p for p in self.calico_pods() if p["metadata"]["labels"]["k8s-app"] == "calico-node"]
                    new = [p for p in nodes if {c["image"] for c in p["spec"]["containers"]} <= V26_IMAGES
                           and p.get("status", {}).get("phase") == "Running"]
                    if new and len(new) < len(nodes):
                        return new[0]["spec"]["nodeName"]
            except (ApiError, OSError):
                pass
            time.sleep(0.05)
        raise CaseFailed(f"the rollout never reached the middle of the wait within {timeout} s")

    def deployment_on(self, images):
        if self.cluster.variant == "kdd":
            return True
        dep = self.api.get("/apis/apps/v1/namespaces/kube-system/deployments/calico-kube-controllers")
        return {c["image"] for c in dep["spec"]["template"]["spec"]["containers"]} <= images

    def namespace(self):
        ns = f"case-{self.name}-{self.kver.replace('.', '-')}"
        self.api.post("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
        self.tier.cleanup.append(lambda: self.cluster.kubectl_run("delete", "namespace", ns, "--wait=true", "--timeout=60s", check=False))
        return ns


def changed_count(run):
    return (run.doc or {}).get("recap", {}).get("changed")


# --- the cases -------------------------------------------------------------------------------
def kubectl_processes(journal):
    """The kubectl commands of a run's journal, the lock's renewals (each patch between its take
    and its release) left out: they come with the wait's length, not the run's shape."""
    kubectl = [e["argv"] for e in journal if os.path.basename(e.get("argv", [""])[0]).startswith("kubectl")]
    patches = [i for i, argv in enumerate(kubectl) if argv[1:2] == ["patch"]]
    renewals = set(patches[1:-1])
    return [argv for i, argv in enumerate(kubectl) if i not in renewals]


def case_run_twice(c):
    c.cluster.calico_state("upgraded", "etcd")
    first = c.tool("run", "--yes", "--output", "json")
    expect(first.rc == 0, f"first run exited {first.rc}: {first.why()}")
    c.expect_all_on(V26_IMAGES)
    # Three nodes, every check made: at most 12 kubectl processes (a retry would add one; none
    # is expected on a quiet control plane).
    processes = kubectl_processes(journal_entries(os.path.join(c.dir, f"journal-{c.runs}.jsonl")))
    expect(len(processes) <= 12, f"{len(processes)} kubectl processes: " + "; ".join(" ".join(a[1:4]) for a in processes))
    revs = c.revisions()
    second = c.tool("run", "--yes", "--output", "json")
    expect(second.rc == 0, f"second run exited {second.rc}: {second.why()}")
    expect(second.doc is not None, "second run printed no JSON document")
    expect(changed_count(second) == 0 and second.doc.get("changed") is False,
           f"second run reports changed={changed_count(second)} (changed: {second.doc.get('changed')})")
    expect(c.revisions() == revs, "the second run changed the ControllerRevisions")
    c.expect_all_on(V26_IMAGES)


def case_plan(c):
    c.cluster.calico_state("upgraded", "etcd")
    before = c.resource_versions()
    r = c.tool("plan", "--output", "json")
    expect(r.rc == 0, f"plan exited {r.rc}: {r.why()}")
    expect(r.doc is not None and r.doc.get("changed") is False, "plan did not report changed=false")
    time.sleep(1)
    after = c.resource_versions()
    expect(before == after, f"plan changed resourceVersions: {before} -> {after}")
    c.expect_all_on(V30_IMAGES)


def case_ondelete_replace_pods(c):
    c.cluster.calico_state("upgraded", "ondelete")
    old = {p["metadata"]["uid"] for p in c.calico_pods() if p["metadata"]["labels"]["k8s-app"] == "calico-node"}
    r = c.tool("run", "--yes", "--replace-pods", "--output", "json", "--timeout", "90s")
    expect(r.rc == 0, f"run --replace-pods exited {r.rc}: {r.why()}")
    pods = c.expect_all_on(V26_IMAGES)
    kept = [p["metadata"]["name"] for p in pods if p["metadata"]["uid"] in old]
    expect(not kept, f"pods not replaced: {', '.join(kept)}")


def case_ondelete_no_replace(c):
    c.cluster.calico_state("upgraded", "ondelete")
    names = [p["metadata"]["name"] for p in c.calico_pods() if p["metadata"]["labels"]["k8s-app"] == "calico-node"]
    r = c.tool("run", "--yes", "--output", "json", "--timeout", "20s")
    expect(r.rc == 4, f"run exited {r.rc} (want 4): {r.why()}")
    missing = [n for n in names if n not in r.text()]
    expect(not missing, f"the report does not name the pods still on v3: {', '.join(missing)}")
    expect(c.ds_template_images() <= V26_IMAGES, "the DaemonSet's template is not on v2.6")


def case_kdd(c):
    c.cluster.calico_state("upgraded", "kdd")
    c.fakes("kubernetes")
    r = c.tool("run", "--yes", "--output", "json")
    expect(r.rc == 0, f"run exited {r.rc}: {r.why()}")
    expect((r.doc or {}).get("state_before", {}).get("datastore") == "kubernetes",
           f"the tool read the datastore as {(r.doc or {}).get('state_before', {}).get('datastore')!r}")
    c.expect_all_on(V26_IMAGES)


def case_pods_at_risk(c):
    """A pod created after the upgrade is at risk; one never scheduled (no node matches its
    nodeSelector: no spec.nodeName) and one finished (phase Succeeded, as its kubelet reports a
    container that exited 0) have no network to lose and are not listed."""
    c.cluster.calico_state("upgraded", "etcd")
    ns = c.namespace()
    c.cluster.kubectl_run("run", "web", "-n", ns, "--image=nginx:1.19", "--restart=Never")
    c.cluster.kubectl_run("run", "done", "-n", ns, "--image=busybox:1.31", "--restart=Never")
    c.cluster.kubectl_run("run", "nowhere", "-n", ns, "--image=nginx:1.19", "--restart=Never",
                          "--overrides", json.dumps({"apiVersion": "v1", "spec": {"nodeSelector": {"tier-case": "no-such-node"}}}))
    for name in ("web", "done"):
        c.cluster.wait_for(lambda: c.api.get(f"/api/v1/namespaces/{ns}/pods/{name}")["status"].get("phase") == "Running", 30, f"pod {name} Running")
    c.api.patch(f"/api/v1/namespaces/{ns}/pods/done/status", {"status": {"phase": "Succeeded"}})
    c.cluster.wait_for(lambda: c.api.get(f"/api/v1/namespaces/{ns}/pods/done")["status"].get("phase") == "Succeeded", 10, "pod done Succeeded")
    nowhere = c.api.get(f"/api/v1/namespaces/{ns}/pods/nowhere")
    expect(not nowhere["spec"].get("nodeName"), f"pod nowhere was scheduled to {nowhere['spec'].get('nodeName')}")
    r = c.tool("run", "--yes", "--output", "json")
    expect(r.rc == 0, f"run exited {r.rc}: {r.why()}")
    risk = [(p["namespace"], p["name"]) for p in (r.doc or {}).get("pods_at_risk") or []]
    expect((ns, "web") in risk, f"pods_at_risk does not list {ns}/web: {risk}")
    expect((ns, "done") not in risk, f"the Succeeded pod {ns}/done is listed as at risk: {risk}")
    expect((ns, "nowhere") not in risk, f"the unscheduled pod {ns}/nowhere is listed as at risk: {risk}")
    expect(all(n != "kube-system" for n, _ in risk), f"hostNetwork Calico pods listed as at risk: {risk}")
    c.expect_all_on(V26_IMAGES)


# --- what Calico v2.6 will not read (the Kubernetes API datastore's CRDs) ----------------------
CALICO_API = "/apis/crd.projectcalico.org/v1"


def crd_path(plural):
    return f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{plural}.crd.projectcalico.org"


def crds_established(c, plurals):
    def ready(plural):
        try:
            conditions = c.api.get(crd_path(plural)).get("status", {}).get("conditions", [])
        except ApiError:
            return False
        return any(x["type"] == "Established" and x["status"] == "True" for x in conditions)
    c.cluster.wait_for(lambda: all(ready(p) for p in plurals), 30, "the Calico CRDs to be Established")


def v3_objects(c, ns):
    """What Calico v3.0 writes into the KDD CRDs (libcalico-go release-v3.0's lib/apis/v3
    shapes), created as its calicoctl would: a namespaced NetworkPolicy, v3.0's default IP pool
    (named default-ipv4-ippool, only ipipMode/natOutgoing), a FelixConfiguration; beside them a
    pool as v2.6 wrote it (named by its CIDR, ipip/nat-outgoing), which v2.6 reads."""
    crds_established(c, ["networkpolicies", "ippools", "felixconfigurations"])
    objects = [
        (f"{CALICO_API}/namespaces/{ns}/networkpolicies", "NetworkPolicy", "deny-all",
         {"selector": "all()", "types": ["Ingress"], "ingress": [{"action": "Deny"}]}, ns),
        (f"{CALICO_API}/ippools", "IPPool", "default-ipv4-ippool",
         {"cidr": "192.168.0.0/16", "ipipMode": "Always", "natOutgoing": True}, None),
        (f"{CALICO_API}/ippools", "IPPool", "10-99-0-0-16",
         {"cidr": "10.99.0.0/16", "ipip": {"enabled": True, "mode": "always"}, "nat-outgoing": True}, None),
        (f"{CALICO_API}/felixconfigurations", "FelixConfiguration", "default", {"logSeverityScreen": "Info"}, None),
    ]
    for path, kind, name, spec, namespace in objects:
        metadata = {"name": name, **({"namespace": namespace} if namespace else {})}
        c.api.post(path, {"apiVersion": "crd.projectcalico.org/v1", "kind": kind, "metadata": metadata, "spec": spec})
        c.tier.cleanup.append(lambda path=path, name=name: c.api.delete(f"{path}/{name}"))


def not_read_kinds(run):
    kinds = ((run.doc or {}).get("not_read_by_v2_6") or {}).get("kinds") or []
    return {k["plural"]: k for k in kinds}


def case_kdd_v3_data(c):
    """KDD after v3.0 wrote objects of its own: the plan (before any change) and the run name
    them grouped by kind, the NetworkPolicy with its namespace and what it means (no longer
    enforced), the v3.0 IP pool and not the v2.6 one; a v3-only CRD that is not installed is
    "none" (no-crd), never "not checked"; the verdict names them instead of claiming v2.6."""
    c.cluster.calico_state("upgraded", "kdd")
    c.fakes("kubernetes")
    ns = c.namespace()
    v3_objects(c, ns)
    # One v3-only CRD missing (an installation without it); the next calico_state re-applies it.
    c.api.delete(crd_path("bgpconfigurations"))
    c.cluster.wait_for(lambda: "bgpconfigurations" not in [r["name"] for r in c.api.get(CALICO_API)["resources"]],
                       30, "bgpconfigurations to be gone from the API")
    before = c.resource_versions()
    plan = c.tool("plan")
    expect(plan.rc == 0, f"plan exited {plan.rc}: {plan.why()}")
    for words in ("TASK [What Calico v2.6 will not read]", "networkpolicies.crd.projectcalico.org, a kind only v3.0 reads",
                  f"{ns}/deny-all", "no longer enforced", "default-ipv4-ippool: named other than by its CIDR",
                  "no CRD (so none) for bgpconfigurations"):
        expect(words in plan.out, f"the plan does not say {words!r}: {plan.out}")
    expect("10-99-0-0-16" not in plan.out, f"the plan flags the pool v2.6 wrote: {plan.out}")
    expect(plan.out.index("What Calico v2.6 will not read") < plan.out.index("Roll back ds/calico-node"),
           "the plan names them after the rollback")
    expect(c.resource_versions() == before, "the plan changed the cluster")
    r = c.tool("run", "--yes", "--output", "json")
    expect(r.rc == 0, f"run exited {r.rc}: {r.why()}")
    kinds = not_read_kinds(r)
    policies = [(o["namespace"], o["name"]) for o in kinds.get("networkpolicies", {}).get("objects", [])]
    expect(policies == [(ns, "deny-all")], f"networkpolicies named: {policies}")
    pools = [o["name"] for o in kinds.get("ippools", {}).get("objects", [])]
    expect(pools == ["default-ipv4-ippool"] and kinds["ippools"].get("count") == 2, f"ippools: {kinds.get('ippools')}")
    expect(kinds.get("bgpconfigurations", {}).get("status") == "no-crd", f"bgpconfigurations: {kinds.get('bgpconfigurations')}")
    expect(kinds.get("globalnetworkpolicies", {}).get("status") == "listed", f"globalnetworkpolicies: {kinds.get('globalnetworkpolicies')}")
    verdict = [s["message"] for s in r.doc["steps"] if s["name"] == "Verify and report"]
    expect(verdict and "not read or enforced by v2.6 as v3.0 did: 1 networkpolicies, 1 felixconfigurations, 1 ippools" in verdict[0],
           f"the verdict does not name them: {verdict}")
    c.expect_all_on(V26_IMAGES)


def case_kdd_v3_data_rights(c):
    """An operator with the README's Role only may not list the Calico CRDs: the run still
    downgrades (exit 0), each kind "not checked" with kubectl's words and the command an admin
    can run, and the verdict says it was not checked; with the README's optional ClusterRole
    the kinds are listed."""
    c.cluster.calico_state("upgraded", "kdd")
    c.fakes("kubernetes")
    kubeconfig, cluster_role = readme_role(c)
    r = c.tool("run", "--yes", kubeconfig=kubeconfig)
    expect(r.rc == 0, f"run as the README's Role exited {r.rc}: {r.why()}")
    for words in ("networkpolicies.crd.projectcalico.org: not checked (Error from server (Forbidden)",
                  "an admin can list what was not checked: `kubectl get networkpolicies.crd.projectcalico.org,",
                  "--all-namespaces -o yaml`", "not checked what v2.6 will not read: networkpolicies"):
        expect(words in r.out, f"the report does not say {words!r}: {r.out}")
    c.expect_all_on(V26_IMAGES)
    c.cluster.calico_state("upgraded", "kdd")
    admin_kubectl(c, "apply", "-f", cluster_role)
    c.tier.cleanup.append(lambda: admin_kubectl(c, "delete", "-f", cluster_role, "--ignore-not-found"))
    r = c.tool("run", "--yes", "--output", "json", kubeconfig=kubeconfig)
    expect(r.rc == 0, f"run with the ClusterRole exited {r.rc}: {r.why()}")
    statuses = {p: k.get("status") for p, k in not_read_kinds(r).items()}
    expect(statuses and all(s == "listed" for s in statuses.values()), f"with the ClusterRole: {statuses}")
    c.expect_all_on(V26_IMAGES)


def case_pods_at_risk_pages(c):
    """More pods than one page holds: the pods-at-risk listing reads the API server's pages of
    500 (`kubectl get --raw /api/v1/pods?limit=500&continue=…`) one after another while the
    rollout runs, and finds the one pod at risk among 1100 others, none in kube-system."""
    c.cluster.calico_state("upgraded", "etcd")
    c.cluster.create_filler_pods(1100, namespace="filler-pages")
    c.tier.cleanup.append(lambda: c.cluster.remove_filler_pods(namespace="filler-pages"))
    ns = c.namespace()
    c.cluster.kubectl_run("run", "web", "-n", ns, "--image=nginx:1.19", "--restart=Never")
    r = c.tool("run", "--yes", "--output", "json")
    expect(r.rc == 0, f"run exited {r.rc}: {r.why()}")
    risk = [(p["namespace"], p["name"]) for p in (r.doc or {}).get("pods_at_risk") or []]
    expect((ns, "web") in risk, f"pods_at_risk does not list {ns}/web")
    expect(sum(1 for n, _ in risk if n == "filler-pages") == 1100, f"{len(risk)} pods at risk, not the 1100 fillers and web")
    expect(all(n != "kube-system" for n, _ in risk), "hostNetwork Calico pods listed as at risk")
    journal = journal_entries(os.path.join(c.dir, f"journal-{c.runs}.jsonl"))
    pages = [e for e in journal if "--raw" in e.get("argv", []) and e["argv"][e["argv"].index("--raw") + 1].startswith("/api/v1/pods?")]
    expect(len(pages) == 3 and all(e["exit_code"] == 0 for e in pages),
           f"the listing read {len(pages)} pages: {[(e['argv'][e['argv'].index('--raw') + 1][:40], e['exit_code']) for e in pages]}")
    expect(all("&continue=" in e["argv"][e["argv"].index("--raw") + 1] for e in pages[1:]), "a page after the first without its token")
    # The journal keeps each page's size and the fields the listing read of each pod, not the page.
    counts = [e["stdout_kept"]["count"] for e in pages]
    expect(counts[:2] == [500, 500] and sum(counts) >= 1105, f"the pages held {counts} pods (1100 fillers, web, Calico)")
    expect(all(e["stdout_bytes"] < 4_000_000 and len(json.dumps(e)) < e["stdout_bytes"] / 5 for e in pages),
           "a page larger than 500 pods, or journaled whole")
    c.expect_all_on(V26_IMAGES)


def case_pods_pages_outage(c):
    """The API server goes away in the middle of the pods-at-risk listing (after its first page
    of 500): the page that failed is read again once the server is back, the listing goes on
    from its continue token, every pod is counted, and the result says what was ridden out."""
    c.cluster.calico_state("upgraded", "etcd")
    c.cluster.create_filler_pods(6000, namespace="filler-outage")
    c.tier.cleanup.append(lambda: c.cluster.remove_filler_pods(namespace="filler-outage"))
    finish = c.tool("plan", "--output", "json", background=True)
    journal = os.path.join(c.dir, f"journal-{c.runs}.jsonl")

    def first_page_read():
        try:
            with open(journal) as f:
                return any("/api/v1/pods?limit=500" in line and '"exit_code":0' in line for line in f)
        except FileNotFoundError:
            return False

    c.cluster.wait_for(first_page_read, 60, "the listing's first page")
    c.cluster.restart_apiserver(4)
    r = finish()
    expect(r.rc == 0, f"plan exited {r.rc} after an outage during the listing: {r.why()}")
    risk = [p for p in (r.doc or {}).get("pods_at_risk") or [] if p["namespace"] == "filler-outage"]
    expect(len(risk) == 6000, f"{len(risk)} of the 6000 filler pods listed after the outage")
    entries = [json.loads(line) for line in open(journal) if line.strip()]
    pages = [e for e in entries if "--raw" in e.get("argv", []) and e["argv"][e["argv"].index("--raw") + 1].startswith("/api/v1/pods?")]
    expect(any(e["exit_code"] != 0 for e in pages), "no page failed: the outage missed the listing")
    expect(pages[-1]["exit_code"] == 0 and "&continue=" in pages[-1]["argv"][pages[-1]["argv"].index("--raw") + 1],
           "the listing did not go on from a continue token after the outage")
    step = next((s for s in (r.doc or {}).get("steps", []) if s.get("name") == "Pods at risk"), {})
    expect(any(line.startswith("ridden out: ") for line in step.get("summary", [])),
           f"the result does not say what was ridden out: {step.get('summary')}")


def case_rollback_first(c):
    c.cluster.calico_state("upgraded", "etcd")
    r = c.tool("run", "--yes", "--rollback-first", "--output", "json")
    expect(r.rc == 0, f"run --rollback-first exited {r.rc}: {r.why()}")
    order = []
    for step in (r.doc or {}).get("steps", []):
        for cmd in step.get("commands", []):
            argv = cmd.get("argv", [])
            if "undo" in argv and cmd.get("duration_ms") is not None:
                order.append("undo")
            if "abort" in argv and cmd.get("duration_ms") is not None:
                order.append("abort")
    expect("undo" in order and "abort" in order, f"expected both a rollout undo and calico-upgrade abort, saw {order}")
    expect(order.index("undo") < order.index("abort"), f"the abort ran before the rollback: {order}")
    c.expect_all_on(V26_IMAGES)


def case_apiserver_outage(c):
    c.cluster.calico_state("upgraded", "etcd")
    finish = c.tool("run", "--yes", "--output", "json", "--timeout", "60s", background=True)
    c.mid_wait()
    c.cluster.restart_apiserver(10)
    r = finish()
    expect(r.rc == 0, f"run exited {r.rc} after a 10 s API server outage (want 0): {r.why()}")
    c.expect_all_on(V26_IMAGES)


def case_start_outage(c):
    """The API server is down when `run --yes` starts and comes back 5 s later (a control-plane
    node rebooting as the operator starts the downgrade): every command of the round before the
    first change is refused at first and retried together; the run downgrades (exit 0) with
    calico-config checked and every right checked, and says what it rode out."""
    c.cluster.calico_state("upgraded", "etcd")
    c.fakes()
    c.cluster.kill_apiserver()
    try:
        finish = c.tool("run", "--yes", "--output", "json", "--timeout", "90s", background=True)
        time.sleep(5)
    finally:
        c.cluster.start_apiserver()
    r = finish()
    expect(r.rc == 0, f"run exited {r.rc} with the API server down for its first 5 s (want 0): {r.why()}")
    steps = {s.get("name"): s for s in (r.doc or {}).get("steps", [])}
    inspect = steps.get("Inspect the cluster", {})
    config = [d for d in inspect.get("summary", []) + inspect.get("details", []) if d.startswith("configmap/calico-config")]
    expect(config and not any("not read" in d for d in config), f"calico-config was not checked: {config}")
    expect(steps.get("Check permissions", {}).get("status") == "ok", f"the rights: {steps.get('Check permissions')}")
    journal = [json.loads(line) for line in open(os.path.join(c.dir, f"journal-{c.runs}.jsonl")) if line.strip()]
    refused = {" ".join(e["argv"][1:4]) for e in journal if "refused" in (e.get("stderr") or "")}
    expect(len(refused) >= 3, f"the outage missed the round (refused: {sorted(refused)})")
    c.expect_all_on(V26_IMAGES)


def case_undo_outage(c):
    """The API server goes down just as the DaemonSet's `rollout undo` starts: kubectl fails with
    connection refused. The tool must not repeat it blindly: it reads the template again (riding
    out the outage), sees it unchanged, runs the undo again, and the run ends converged."""
    c.cluster.calico_state("upgraded", "etcd")
    asked = os.path.join(c.dir, "undo-asked")
    down = os.path.join(c.dir, "apiserver-down")
    # A kubectl in front of the real one: the first real `rollout undo ds/…` waits for the API
    # server to be taken down, then runs (and fails as kubectl does against a dead server).
    shim = os.path.join(c.path_dir, "kubectl")
    os.unlink(shim)
    with open(shim, "w") as f:
        f.write(f"""#!/bin/sh
case " $* " in
  *" rollout undo ds/"*" --dry-run=server "*) ;;
  *" rollout undo ds/"*)
    if [ ! -e {asked} ]; then
      : > {asked}
      i=0; while [ ! -e {down} ] && [ $i -lt 200 ]; do /bin/sleep 0.05; i=$((i+1)); done
    fi ;;
esac
exec {c.kubectl} "$@"
""")
    os.chmod(shim, 0o755)

    # On this thread: the servers die with the thread that started them (PR_SET_PDEATHSIG).
    finish = c.tool("run", "--yes", "--output", "json", "--timeout", "90s", background=True)
    deadline = time.monotonic() + 120
    while not os.path.exists(asked) and time.monotonic() < deadline:
        time.sleep(0.01)
    expect(os.path.exists(asked), "the tool never ran `rollout undo ds/calico-node`")
    c.cluster.kill_apiserver()
    open(down, "w").close()
    time.sleep(4)
    c.cluster.start_apiserver()
    r = finish()
    expect(r.rc == 0, f"run exited {r.rc} after the API server went down under `rollout undo` (want 0): {r.why()}")
    journal = [json.loads(line) for line in open(os.path.join(c.dir, f"journal-{c.runs}.jsonl")) if line.strip()]
    undos = [e for e in journal if e.get("argv", [])[1:3] == ["rollout", "undo"] and "--dry-run=server" not in e["argv"]
             and e["argv"][3].startswith("ds/")]
    expect(len(undos) == 2, f"want the DaemonSet's undo run twice (failed, then decided again), saw {len(undos)}")
    expect(undos[0].get("exit_code") == 1 and "refused" in undos[0].get("stderr", ""),
           f"the first undo did not fail against the dead server: {undos[0].get('exit_code')} {undos[0].get('stderr', '')[:200]}")
    step = next((s for s in (r.doc or {}).get("steps", []) if s.get("name") == "Roll back ds/calico-node"), {})
    expect(step.get("status") == "changed", f"the DaemonSet's rollback is {step.get('status')}, want changed")
    c.expect_all_on(V26_IMAGES)


def case_node_joins(c):
    c.cluster.calico_state("upgraded", "etcd")
    finish = c.tool("run", "--yes", "--output", "json", "--timeout", "40s", background=True)
    c.mid_wait()
    c.cluster.kubelets.add("node-4")
    c.tier.cleanup.append(lambda: c.cluster.kubelets.remove("node-4"))
    r = finish()
    expect(r.rc == 0, f"run exited {r.rc} with a node joining during the wait (want 0): {r.why()}")
    c.expect_all_on(V26_IMAGES, nodes=NODES + 1)


def case_slow_rollout_keeps_going(c):
    """A rollout longer than --stall-timeout that keeps progressing ends converged (exit 0): the
    wait is judged by progress, not wall time. Slow pods (2.5 s a phase: about 7.5 s a node,
    never more than 5 s without a pod deleted, created or ready) and an 8 s stall deadline."""
    c.cluster.calico_state("upgraded", "etcd")
    kubelets = c.cluster.kubelets
    delay = kubelets.phase_delay
    kubelets.set_phase_delay(2.5)
    c.tier.cleanup.append(lambda: kubelets.set_phase_delay(delay))
    r = c.tool("run", "--yes", "--output", "json", "--stall-timeout", "8s")
    expect(r.rc == 0, f"run exited {r.rc} (want 0): {r.why()}")
    wait = ((r.doc or {}).get("state_after") or {}).get("wait") or {}
    expect(wait.get("elapsed_secs", 0) > 8, f"the wait took {wait.get('elapsed_secs')} s, not longer than the 8 s stall deadline")
    expect(wait.get("gave_up") is None and wait.get("timeout_secs") is None and wait.get("stall_timeout_secs") == 8,
           f"the wait's record: {wait}")
    paced = [p for p in wait.get("pace", []) if p.get("name") == "calico-node"]
    expect(paced and paced[0].get("became_ready") == NODES and paced[0].get("per_minute", 0) > 0,
           f"the pace of calico-node: {paced}")
    c.expect_all_on(V26_IMAGES)


def case_node_notready(c):
    c.cluster.calico_state("upgraded", "etcd")
    # The 1.20 node controller marks a dead node's pods not ready once the node's lease is
    # --node-monitor-grace-period (8 s) old: slow pods (2 x 4 s each) keep the rest of the
    # rollout going well past that, so the node is NotReady while the tool still waits.
    kubelets = c.cluster.kubelets
    delay = kubelets.phase_delay
    kubelets.set_phase_delay(4.0)
    c.tier.cleanup.append(lambda: kubelets.set_phase_delay(delay))
    # No --timeout: the wait ends because nothing advances for --stall-timeout.
    finish = c.tool("run", "--yes", "--stall-timeout", "15s", "--timeout", "3m", background=True)
    node = c.mid_wait()
    # The node whose pod was replaced first dies (no heartbeats, no pod updates): the node
    # controller sets it Unknown and that pod's Ready condition False; its containers stay ready.
    kubelets.not_ready(node)

    def back():
        c.cluster.kubelets.ready(node)
        c.cluster.wait_for(lambda: c.cluster.ready_nodes() >= NODES, 60, f"{node} Ready again")
    c.tier.cleanup.append(back)
    r = finish()
    expect(r.rc == 4, f"run exited {r.rc} with {node} NotReady (want 4): {r.why()}")
    lines = [ln for ln in r.text().splitlines() if node in ln and ("notready" in ln.lower() or "not ready" in ln.lower())]
    expect(lines, f"the exit-4 report has no line naming {node} as NotReady")
    text = r.text()
    expect("the pods made no progress for 15s (--stall-timeout)" in text and "    last progress " in text,
           f"the exit-4 report does not say it stalled and when something last advanced: {text[-1500:]}")
    # Named from the pod alone (the docs' Role reads no node): Ready False, its containers ready.
    blocked = [ln for ln in text.splitlines() if "blocked: calico-node-" in ln and f" on {node}: NodeNotReady" in ln
               and "maxUnavailable" in ln and "kubectl describe pod calico-node-" in ln]
    expect(len(blocked) >= 2, f"the NotReady node is not named as it is seen and in the exit-4 report: {text[-2500:]}")


V26_NODE_IMAGE = "quay.io/calico/node:v2.6.8"


def blocked_run(c, how, node="node-2"):
    """`run --yes --output json --stall-timeout 15s` with calico/node v2.6 failing on `node`
    (`how`: unpullable, crash): exit 4, and the JSON's blockers (`state_after.wait.blockers`)."""
    c.cluster.calico_state("upgraded", "etcd")
    kubelets = c.cluster.kubelets
    kubelets.fault(f"{node}={V26_NODE_IMAGE}:{how}")
    c.tier.cleanup.append(lambda: kubelets.fault(f"{node}={V26_NODE_IMAGE}:none"))
    r = c.tool("run", "--yes", "--output", "json", "--stall-timeout", "15s")
    expect(r.rc == 4, f"run exited {r.rc} with {V26_NODE_IMAGE} {how} on {node} (want 4): {r.why()}")
    wait = ((r.doc or {}).get("state_after") or {}).get("wait") or {}
    expect(wait.get("gave_up") == "stalled", f"the wait's record: {wait}")
    blockers = [b for b in wait.get("blockers", []) if b.get("node") == node and b.get("still")]
    expect(blockers, f"no blocker on {node} in the JSON: {wait.get('blockers')}")
    for b in blockers:
        expect(b.get("look_further", "").startswith(f"kubectl describe pod {b.get('pod')} -n kube-system"),
               f"no command to look further: {b}")
    return r, blockers


def case_image_unpullable(c):
    """calico/node v2.6 cannot be pulled on node-2 (an air-gapped registry that no longer holds
    it): the run names the pod, its node, ErrImagePull or ImagePullBackOff, the image and the
    kubelet's message, and ends with exit 4 at the stall deadline, saying so in its result;
    `status` then names it as well."""
    r, blockers = blocked_run(c, "unpullable")
    b = blockers[0]
    expect(b.get("reason") in ("ErrImagePull", "ImagePullBackOff") and b.get("image") == V26_NODE_IMAGE
           and V26_NODE_IMAGE in (b.get("message") or ""), f"the blocker lacks the reason, image or message: {b}")
    failure = json.dumps(r.doc.get("failures") or r.doc)
    expect("blocked: calico-node-" in failure and V26_NODE_IMAGE in failure,
           f"the exit-4 result does not name the blocked pod: {failure[:2000]}")
    # `status` afterwards names it too.
    s = c.tool("status")
    named = [ln for ln in s.text().splitlines() if ln.startswith("    blocked: calico-node-") and f"image {V26_NODE_IMAGE}: " in ln]
    expect(s.rc == 1 and named, f"status exited {s.rc} without naming the blocked pod: {s.why()}")


def case_crash_loop(c):
    """calico/node v2.6 exits 1 at every start on node-2: the run names CrashLoopBackOff with its
    restarts and last termination reason, and ends with exit 4 at the stall deadline."""
    _, blockers = blocked_run(c, "crash")
    b = blockers[0]
    expect(b.get("reason") == "CrashLoopBackOff" and (b.get("restarts") or 0) >= 1
           and (b.get("last_termination") or "").startswith("Error") and b.get("image") == V26_NODE_IMAGE,
           f"the blocker lacks the reason, restarts, last termination or image: {b}")


# --- hours and hundreds of nodes --------------------------------------------------------------
def ended_watches(journal):
    """(argv, exit code) of every watch in the journal that ended by itself, not stopped by the tool."""
    return [(e["argv"], e["exit_code"]) for e in journal
            if "--watch" in e.get("argv", []) and not e.get("stopped") and e.get("error") is None]


def case_watch_ends(c):
    """The API server ends every watch after 10 to 20 s (`--min-request-timeout=10`; 1800 s by
    default, so a wait of hours meets it) across a rollout of about two minutes (each pod 12 s
    per phase): every watch the server ended is resumed from a fresh list, the run converges
    (exit 0) with every pod on v2.6 as the API server shows it, and the journal shows the
    watches that ended by themselves, each exit 0."""
    cl = Cluster(os.path.join(c.dir, "cluster"), c.tier.args.bin_dir, nodes=NODES, quiet=True, min_request_timeout=10)
    c.tier.cleanup.append(cl.stop)
    c.use(cl)
    cl.calico_state("upgraded", "etcd")
    cl.kubelets.set_phase_delay(12.0)
    r = c.tool("run", "--yes", "--output", "json", timeout=600)
    expect(r.rc == 0, f"run exited {r.rc} with watches ended by the server (want 0): {r.why()}")
    c.expect_all_on(V26_IMAGES, settle=0)
    ended = ended_watches(journal_entries(os.path.join(c.dir, f"journal-{c.runs}.jsonl")))
    print(f"     {len(ended)} watches ended by the API server and resumed in a {r.elapsed:.0f} s run", flush=True)
    expect(r.elapsed > 60, f"the rollout took {r.elapsed:.0f} s: too short to outlast the watches")
    expect(len(ended) >= 3, f"only {len(ended)} watches ended by themselves in the journal")
    expect(all(code == 0 for _, code in ended), f"a watch the server ended did not exit 0: {ended}")


BIG_NODES = 120


def case_big_rollout(c):
    """120 nodes (simulated kubelets), calico-node's updateStrategy patched to `maxUnavailable:
    10%` in the v3.0 manifest as applied: the rollback rolls twelve nodes at a time and the run
    converges (exit 0); at its exit the API server already shows every calico-node pod Running,
    Ready, on v2.6, one per node, and the DaemonSet's status complete."""
    t0 = time.monotonic()
    cpu0 = time.process_time()
    cl = Cluster(os.path.join(c.dir, "cluster"), c.tier.args.bin_dir, nodes=BIG_NODES, quiet=True, max_unavailable="10%")
    c.tier.cleanup.append(cl.stop)
    c.use(cl)
    up = time.monotonic() - t0
    cl.calico_state("upgraded", "etcd")
    ready = time.monotonic() - t0
    ds = c.daemonset()
    expect(ds["spec"]["updateStrategy"]["rollingUpdate"]["maxUnavailable"] == "10%",
           f"the DaemonSet's maxUnavailable is {ds['spec']['updateStrategy']}")
    cpu1 = time.process_time()
    r = c.tool("run", "--yes", "--output", "json", timeout=600)
    expect(r.rc == 0, f"run exited {r.rc} on {BIG_NODES} nodes: {r.why()}")
    # Judged at once: the tool said converged, so the API server must already agree.
    ds = c.daemonset()
    st = ds["status"]
    expect(st.get("observedGeneration") == ds["metadata"]["generation"]
           and st.get("desiredNumberScheduled") == BIG_NODES == st.get("updatedNumberScheduled") == st.get("numberAvailable")
           == st.get("numberReady"), f"the DaemonSet's status is not complete at the tool's exit: {st}")
    pods = [p for p in c.calico_pods() if p["metadata"]["labels"]["k8s-app"] == "calico-node"]
    bad = [p["metadata"]["name"] for p in pods if not {x["image"] for x in p["spec"]["containers"]} <= V26_IMAGES
           or p["status"].get("phase") != "Running"
           or {x["type"]: x["status"] for x in p["status"].get("conditions", [])}.get("Ready") != "True"]
    expect(len(pods) == BIG_NODES and not bad, f"{len(pods)} calico-node pods at the tool's exit; not Ready on v2.6: {bad[:10]}")
    expect(len({p["spec"]["nodeName"] for p in pods}) == BIG_NODES, "not one calico-node pod per node")
    expect((r.doc or {}).get("state_after", {}).get("converged") is True, "the JSON does not say converged")
    c.expect_all_on(V26_IMAGES, nodes=BIG_NODES, settle=0)
    cpu = time.process_time() - cpu1
    print(f"     {BIG_NODES} nodes: control plane up in {up:.0f} s, Calico v3.0 rolled out by {ready:.0f} s; "
          f"the run {r.elapsed:.1f} s; the simulated kubelets (with the tier) used {cpu / r.elapsed:.2f} cores during it "
          f"({time.process_time() - cpu0:.0f} s CPU in the case)", flush=True)


# --- the first five minutes: a kubeconfig that cannot work ends at once, precisely ------------
def refused_at_once(c, r, within, *words):
    """Exit 3 within `within` seconds, nothing changed, naming each of `words`."""
    expect(r.rc == 3, f"exited {r.rc} (want 3): {r.why()}")
    expect(r.elapsed < within, f"took {r.elapsed:.1f} s (want < {within} s)")
    text = r.text()
    missing = [w for w in words if w not in text]
    expect(not missing, f"the report does not name {missing}: {text[-1500:]}")
    expect(fake_calls(c, "calico-upgrade-abort") == 0, "calico-upgrade abort ran")


def case_unresolvable_name(c):
    """The kubeconfig names a server that does not resolve, and one kubectl of the round is slow
    to say so (held 5 s before it runs, as a resolver retrying its lookup): the run ends with exit
    3 within 1 s of the first `no such host` answer, every other kubectl of the round stopped,
    none left running, nothing changed."""
    c.cluster.calico_state("upgraded", "etcd")
    c.fakes()
    kubeconfig = c.cluster.kubeconfig_unresolvable()
    shim = os.path.join(c.path_dir, "kubectl")
    os.unlink(shim)
    with open(shim, "w") as f:
        f.write(f"""#!/bin/sh
case " $* " in
  *" /api/v1/namespaces/kube-system/configmaps/calico-config "*) /bin/sleep 5 ;;
esac
exec {c.kubectl} "$@"
""")
    os.chmod(shim, 0o755)
    before = c.resource_versions()
    r = c.tool("run", "--yes", kubeconfig=kubeconfig)
    ended = time.time()
    # The whole run is bounded loosely (kubectl itself is slow on a loaded machine); what is
    # measured is the time from the first answer to the exit.
    refused_at_once(c, r, 5, kubeconfig, "context real-cluster", "no-such-host.invalid", "does not resolve")
    journal = [json.loads(line) for line in open(os.path.join(c.dir, f"journal-{c.runs}.jsonl")) if line.strip()]
    answers = [e for e in journal if "no such host" in (e.get("stderr") or "")]
    expect(answers, "no kubectl said `no such host`")
    first = min(datetime.datetime.fromisoformat(e["started"].replace("Z", "+00:00")).timestamp() + e["duration_ms"] / 1000
                for e in answers)
    stopped = [e for e in journal if (e.get("error") or "").startswith("stopped")]
    expect(any(e["argv"][1:4] == ["get", "--raw", "/api/v1/namespaces/kube-system/configmaps/calico-config"] for e in stopped),
           f"the slow kubectl was not stopped: {[' '.join(e['argv'][1:4]) for e in stopped]}")
    after = ended - first
    print(f"     exit {r.rc} after {r.elapsed:.2f}s, {after:.2f}s after the first `no such host` answer", flush=True)
    expect(after < 1.0, f"the run ended {after:.2f}s after the first `no such host` answer (want < 1 s)")
    left = leftover_processes(c.dir)
    expect(not left, f"processes of the run left running: {left}")
    expect(c.resource_versions() == before, "the workloads changed")


def case_untrusted_ca(c):
    """A kubeconfig whose CA did not sign the server's certificate: exit 3 within 3 s, naming the
    kubeconfig, the context, the server and kubectl's words (x509), nothing retried."""
    c.cluster.calico_state("upgraded", "etcd")
    kubeconfig = c.cluster.kubeconfig_untrusted_ca()
    before = c.resource_versions()
    r = c.tool("run", "--yes", kubeconfig=kubeconfig)
    refused_at_once(c, r, 3, kubeconfig, "context real-cluster", c.cluster.server, "x509", "not trusted")
    expect("retry" not in r.out, "a failure no retry fixes was retried")
    expect(c.resource_versions() == before, "the workloads changed")


def case_unknown_context(c):
    """`--context nope` on a kubeconfig with two contexts: exit 3 within 3 s, the contexts there
    are listed; a missing kubeconfig (KUBECONFIG=/nonexistent) names the path and where it came
    from; a current context that names no context says so."""
    c.cluster.calico_state("upgraded", "etcd")
    two = c.cluster.kubeconfig_two_contexts()
    r = c.tool("run", "--yes", "--context", "nope", kubeconfig=two)
    refused_at_once(c, r, 3, "there is no context `nope`", "real-cluster, staging", two)
    r = c.tool("plan", kubeconfig="/nonexistent")
    refused_at_once(c, r, 3, "`/nonexistent` named by KUBECONFIG does not exist", "localhost:8080")
    missing = c.cluster.kubeconfig_missing_context()
    r = c.tool("plan", kubeconfig=missing)
    refused_at_once(c, r, 3, "there is no context `deleted-context`", missing)


# --- what the v3.0 manifests added, and the rights an operator holds ---------------------------
def case_typha(c):
    """A Kubernetes-API-datastore cluster with Typha on (the v3.0 manifest's Deployment scaled
    up, calico-config pointing Felix at it): the plan and the report name Typha, the last line
    does not claim Calico v2.6 while it runs; `--stop-typha` scales it to 0 after the wait and
    gives the way back."""
    c.cluster.calico_state("upgraded", "kdd")
    c.cluster.set_typha_service_name("calico-typha")
    c.cluster.scale_typha(2)
    c.tier.cleanup.append(lambda: c.cluster.scale_typha(0))
    c.fakes("kubernetes")
    plan = c.tool("plan")
    expect(plan.rc == 0, f"plan exited {plan.rc}: {plan.why()}")
    expect("deployment/calico-typha: 2 replicas of Calico v3.0 Typha" in plan.out, f"the plan does not name Typha: {plan.out}")
    r = c.tool("run", "--yes", "--output", "json")
    expect(r.rc == 0, f"run exited {r.rc}: {r.why()}")
    expect("Calico v2.6 is running" not in r.doc["msg"] and "calico-typha" in r.doc["msg"], f"the last line: {r.doc['msg']}")
    expect(len(c.cluster.typha_pods()) == 2, "Typha was touched without --stop-typha")
    # Back to v3.0, then the run that stops Typha.
    c.cluster.calico_state("upgraded", "kdd")
    c.cluster.set_typha_service_name("calico-typha")
    c.cluster.scale_typha(2)
    r = c.tool("run", "--yes", "--stop-typha")
    expect(r.rc == 0, f"run --stop-typha exited {r.rc}: {r.why()}")
    dep = c.api.get("/apis/apps/v1/namespaces/kube-system/deployments/calico-typha")
    expect(dep["spec"]["replicas"] == 0, f"Typha's replicas are {dep['spec']['replicas']}")
    expect("kubectl scale deployment/calico-typha -n kube-system --replicas=2" in r.out, f"no way back named: {r.out}")
    c.expect_all_on(V26_IMAGES)


def case_etcd_conflist(c):
    """An etcd cluster whose calico-config carries Calico v3.0's CNI conflist (the v3.0
    manifest's): the plan and the report say so and give the way out; the downgrade itself
    converges (exit 0)."""
    c.cluster.calico_state("upgraded", "etcd")
    expect('"plugins"' in c.cluster.calico_config().get("cni_network_config", ""), "the v3.0 manifest has no conflist")
    plan = c.tool("plan")
    expect(plan.rc == 0, f"plan exited {plan.rc}: {plan.why()}")
    expect("configmap/calico-config holds Calico v3.0's CNI conflist" in plan.out, f"the plan says nothing: {plan.out}")
    r = c.tool("run", "--yes")
    expect(r.rc == 0, f"run exited {r.rc}: {r.why()}")
    expect("left on v3.0: calico-config's CNI conflist" in r.out and "10-calico.conflist" in r.out,
           f"the report does not give the way out: {r.out}")
    c.expect_all_on(V26_IMAGES)


# The rights of the README's minimal Role: what the documented commands need, plus reading
# calico-config (which only informs).
RBAC = os.path.join(ROOT, "examples", "rbac")
LOCK_ANNOTATION = "calico-downgrade/lock"
# Exactly the rights the documented procedure's commands need (`rollout undo`, `rollout status`,
# `get pods`), and nothing more: what an operator who can do the whole procedure by hand holds.
DOCS_RULES = [
    {"apiGroups": ["apps"], "resources": ["daemonsets", "deployments", "replicasets", "controllerrevisions"],
     "verbs": ["get", "list", "watch", "patch"]},
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]},
]
OPERATOR = "calico-operator"  # the subject of examples/rbac/*.yaml


def admin_kubectl(c, *args):
    """The case's real kubectl as the cluster admin (to apply or delete the README's RBAC)."""
    r = subprocess.run([c.kubectl, "--kubeconfig", c.cluster.admin_kubeconfig, *args], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"`kubectl {' '.join(args)}` failed with exit code {r.returncode}: {r.stderr.strip()}")
    return r.stdout


def readme_role(c):
    """Apply the README's Role as it ships (removed after the case): the operator's kubeconfig,
    and the path of the README's optional ClusterRole."""
    role = os.path.join(RBAC, "role.yaml")
    admin_kubectl(c, "apply", "-f", role)
    c.tier.cleanup.append(lambda: admin_kubectl(c, "delete", "-f", role, "--ignore-not-found"))
    return c.cluster.user_kubeconfig(OPERATOR), os.path.join(RBAC, "cluster-role.yaml")


def case_minimal_role(c):
    """An operator bound to the README's Role (examples/rbac/role.yaml, applied as it ships):
    the downgrade runs to its end (exit 0) with the pods at risk unknown, saying why and what
    an admin can run; with the README's ClusterRole (cluster-role.yaml) they are listed."""
    c.cluster.calico_state("upgraded", "etcd")
    kubeconfig, cluster_role = readme_role(c)
    plan = c.tool("plan", "-v", kubeconfig=kubeconfig)
    expect(plan.rc == 0, f"plan as the README's Role exited {plan.rc}: {plan.why()}")
    expect("ok: every change the run makes is allowed" in plan.out, f"the preflight disagrees with the Role: {plan.out}")
    # Reading Jobs is beyond the Role: only "not checked", with what an admin can run.
    expect("migration Jobs not checked" in plan.out and "`kubectl get jobs -n kube-system`" in plan.out,
           f"the Jobs the Role may not list are not reported as not checked: {plan.out}")
    r = c.tool("run", "--yes", kubeconfig=kubeconfig)
    expect(r.rc == 0, f"run as the README's Role exited {r.rc}: {r.why()}")
    expect("unknown:" in r.out and "an admin can list them: `kubectl get pods --all-namespaces" in r.out,
           f"the pods at risk are not reported unknown: {r.out}")
    c.expect_all_on(V26_IMAGES)
    expect(c.lock() is None, "the lock was left on the DaemonSet")
    # Exactly the documented commands' rights: the run downgrades too, calico-config unread.
    c.cluster.calico_state("upgraded", "etcd")
    docs = c.cluster.bind_role("docs", "kube-system", DOCS_RULES)
    c.tier.cleanup.append(lambda: c.cluster.unbind_role("docs", "kube-system"))
    r = c.tool("run", "--yes", kubeconfig=docs)
    expect(r.rc == 0, f"run with the documented commands' rights exited {r.rc}: {r.why()}")
    expect("unknown:" in r.out, f"the pods at risk are not reported unknown: {r.out}")
    expect("configmap/calico-config: not read (" in r.out, f"calico-config is not said unread: {r.out}")
    expect("configmaps" not in r.out.split("TASK [Check permissions]")[1].split("TASK [")[0],
           f"the permission check asks about ConfigMaps: {r.out}")
    c.expect_all_on(V26_IMAGES)
    expect(c.lock() is None, "the lock was left on the DaemonSet")
    # With the ClusterRole, the pods at risk are listed.
    admin_kubectl(c, "apply", "-f", cluster_role)
    c.tier.cleanup.append(lambda: admin_kubectl(c, "delete", "-f", cluster_role, "--ignore-not-found"))
    r = c.tool("run", "--yes", "--output", "json", kubeconfig=kubeconfig)
    expect(r.rc == 0, f"run with the pods list exited {r.rc}: {r.why()}")
    expect(r.doc.get("pods_at_risk") is not None, "the pods at risk were not listed")
    c.expect_all_on(V26_IMAGES)


# --- fleets: two runs on one cluster, two clusters at once ----------------------------------
def two_runs_at_once(c, **how):
    """Two `run --yes` started together on one cluster, from two HOMEs: one changes the cluster,
    the other stops at the lock (exit 3, naming it) or finds nothing left to do; the cluster ends
    on v2.6 with no lock left."""
    first = c.tool("run", "--yes", "--output", "json", background=True, **how)
    second = c.tool("run", "--yes", "--output", "json", background=True, home="home-2", **how)
    runs = [first(), second()]
    codes = sorted(r.rc for r in runs)
    expect(all(r.rc in (0, 3) for r in runs), f"exit codes {codes}: {[r.why() for r in runs]}")
    changed = [r for r in runs if r.doc and r.doc.get("changed")]
    expect(len(changed) == 1, f"{len(changed)} runs changed the cluster: {[r.why() for r in runs]}")
    for r in runs:
        if r.rc == 3:
            expect("another calico-downgrade is changing this cluster" in r.doc["msg"], f"refused for another reason: {r.why()}")
    c.expect_all_on(V26_IMAGES)
    expect(c.lock() is None, "the lock was left behind")


def case_two_runs_one_cluster(c):
    """Two operators start `run` on one cluster at the same moment (two HOMEs): their changes
    never interleave. One changes the cluster; the other either stops at the lock (exit 3,
    naming who holds it) or comes after and finds nothing to do (exit 0, changed=0). Never a
    failure, never half done."""
    c.cluster.calico_state("upgraded", "etcd")
    two_runs_at_once(c)


def case_two_runs_docs_role(c):
    """Two operators holding exactly the documented commands' rights start `run` on one cluster
    at the same moment: the lock, an annotation written with the rollback's own `patch`, still
    keeps them apart (one changes the cluster, the other stops at the lock or finds it done)."""
    c.cluster.calico_state("upgraded", "etcd")
    docs = c.cluster.bind_role("docs", "kube-system", DOCS_RULES)
    c.tier.cleanup.append(lambda: c.cluster.unbind_role("docs", "kube-system"))
    two_runs_at_once(c, kubeconfig=docs)


def case_lock_renewed_during_the_wait(c):
    """With --rollback-first the lock is held through the wait (the abort comes after it): slow
    pods keep the wait going past two renewals (every 10 s). Each renewal writes the DaemonSet's
    annotation: it must start no rollout (the generation and the ControllerRevisions stay as the
    rollback left them), disturb neither the rollback nor the wait's watch of the DaemonSet, and
    the lock is released at the end."""
    c.cluster.calico_state("upgraded", "etcd")
    kubelets = c.cluster.kubelets
    delay = kubelets.phase_delay
    kubelets.set_phase_delay(4.0)
    c.tier.cleanup.append(lambda: kubelets.set_phase_delay(delay))
    generation, revisions = c.daemonset()["metadata"]["generation"], len(c.revisions())
    r = c.tool("run", "--yes", "--rollback-first", "--timeout", "2m")
    expect(r.rc == 0, f"run --rollback-first with slow pods exited {r.rc}: {r.why()}")
    c.expect_all_on(V26_IMAGES)
    journal = [json.loads(line) for line in open(os.path.join(c.dir, f"journal-{c.runs}.jsonl")) if line.strip()]
    patches = [e for e in journal if e.get("argv", [])[1:2] == ["patch"]]
    renewals = [e for e in patches if '"op":"replace"' in " ".join(e["argv"])]
    expect(len(renewals) >= 2, f"{len(renewals)} renewals during a wait of {r.elapsed:.0f} s")
    expect(all(e.get("exit_code") == 0 for e in patches), f"a lock patch failed: {patches}")
    # The rollback changed the template once (one generation, an existing revision renumbered);
    # the take, the renewals and the release added nothing.
    after = c.daemonset()["metadata"]["generation"]
    expect(after == generation + 1, f"generation {generation} -> {after} (want {generation + 1})")
    expect(len(c.revisions()) == revisions, f"ControllerRevisions: {revisions} -> {c.revisions()}")
    expect(c.lock() is None, "the lock was left behind")


def case_lock_held_and_expired(c):
    """A lock a live run holds stops `run` (exit 3, naming host, user, pid and how old); one whose
    lease clearly expired (a run that died) is taken over, and the report says whose it was."""
    c.cluster.calico_state("upgraded", "etcd")
    now = time.time()

    def plant(renewed_ago):
        stamp = lambda t: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))  # noqa: E731
        value = json.dumps({"host": "bastion-9", "user": "olga", "pid": 4242, "command": "calico-downgrade run --yes",
                            "started": stamp(now - renewed_ago - 60), "renewed": stamp(now - renewed_ago),
                            "lease-seconds": 30})
        c.api.patch("/apis/apps/v1/namespaces/kube-system/daemonsets/calico-node",
                    {"metadata": {"annotations": {LOCK_ANNOTATION: value}}})
    plant(5)
    before = c.resource_versions()
    r = c.tool("run", "--yes")
    refused_at_once(c, r, 10, "another calico-downgrade is changing this cluster", "olga@bastion-9, pid 4242")
    expect(c.resource_versions() == before, "the workloads changed under a held lock")
    plant(120)
    r = c.tool("run", "--yes")
    expect(r.rc == 0, f"run with an expired lock exited {r.rc}: {r.why()}")
    expect("taken over from olga@bastion-9, pid 4242" in r.out, f"the takeover is not said: {r.out}")
    c.expect_all_on(V26_IMAGES)


def case_fleet_two_clusters(c):
    """Two control planes side by side and one real `ansible-playbook` (forks 2) downgrading both
    at once with the fleet playbook from one controller and one HOME: each host's result."""
    # The case installs what it needs itself: ansible-core in a virtual environment, made once
    # and reused (the same one scripts/ansible/test uses).
    made = subprocess.run([os.path.join(ROOT, "scripts", "ansible", "venv")], capture_output=True, text=True)
    expect(made.returncode == 0, f"scripts/ansible/venv failed: {made.stderr.strip()[-800:]}")
    venv = os.path.join(made.stdout.strip().splitlines()[-1], "bin")
    playbook = shutil.which("ansible-playbook", path=venv)
    expect(playbook is not None, f"no ansible-playbook in {venv} after scripts/ansible/venv")
    second = Cluster(os.path.join(c.dir, "second"), c.tier.args.bin_dir, nodes=2, quiet=True)
    c.tier.cleanup.append(second.stop)
    c.cluster.calico_state("upgraded", "etcd")
    second.calico_state("upgraded", "etcd")
    c.fakes()
    # The collection, built with this tool's binary and installed as a user would.
    collections = os.path.join(c.dir, "collections")
    built = subprocess.run([os.path.join(ROOT, "scripts", "ansible", "build-collection"), "--binary", c.tier.tool,
                            "--output", os.path.join(c.dir, "dist")], capture_output=True, text=True,
                           env=dict(os.environ, ANSIBLE_GALAXY=os.path.join(venv, "ansible-galaxy")))
    expect(built.returncode == 0, f"build-collection failed: {built.stderr[-800:]}")
    tarball = built.stdout.strip().splitlines()[-1]
    subprocess.run([os.path.join(venv, "ansible-galaxy"), "collection", "install", "--force", tarball, "-p", collections],
                   check=True, capture_output=True)
    inventory = os.path.join(c.dir, "clusters.yml")
    hosts = {"first": c.cluster.admin_kubeconfig, "second": second.admin_kubeconfig}
    with open(inventory, "w") as f:
        json.dump({"calico_clusters": {"hosts": {name: {
            "ansible_connection": "local", "kubeconfig": kc, "context": "real-cluster",
            "calico_downgrade_kubectl": os.path.join(c.path_dir, "kubectl"),
            "calico_downgrade_calicoctl": os.path.join(c.fake, "bin", "calicoctl"),
            "calico_downgrade_calico_upgrade": os.path.join(c.fake, "bin", "calico-upgrade"),
        } for name, kc in hosts.items()}}}, f)
    env = {"PATH": f"{venv}:/usr/bin:/bin", "HOME": c.home, "ANSIBLE_FORKS": "2", "ANSIBLE_NOCOLOR": "1",
           "ANSIBLE_HOME": os.path.join(c.dir, "ansible"), "ANSIBLE_LOCAL_TEMP": os.path.join(c.dir, "tmp"),
           "ANSIBLE_COLLECTIONS_PATH": collections, "ANSIBLE_COLLECTIONS_SCAN_SYS_PATH": "false",
           "ANSIBLE_PYTHON_INTERPRETER": os.path.join(venv, "python")}
    def play(*extra):
        start = time.monotonic()
        r = subprocess.run([playbook, "-i", inventory, os.path.join(ROOT, "ansible", "playbooks", "downgrade.yml"),
                            "-e", "calico_downgrade_serial=[2]", "-e", f"calico_downgrade_report_dir={c.dir}/reports",
                            *extra], env=env, capture_output=True, text=True, timeout=300)
        return r, time.monotonic() - start

    # One cluster alone first, for the wall time a second one adds; then both at once.
    r, alone = play("--limit", "second")
    with open(os.path.join(c.dir, "ansible-one.out"), "w") as f:
        f.write(r.stdout + r.stderr + f"\nwall time {alone:.1f}s\n")
    expect(r.returncode == 0, f"ansible-playbook (one cluster) exited {r.returncode}: {(r.stdout + r.stderr)[-1500:]}")
    second.calico_state("upgraded", "etcd")
    r, took = play()
    with open(os.path.join(c.dir, "ansible.out"), "w") as f:
        f.write(r.stdout + r.stderr + f"\nwall time {took:.1f}s\n")
    print(f"     fleet playbook wall time: one cluster {alone:.1f}s, two at once {took:.1f}s", flush=True)
    expect(r.returncode == 0, f"ansible-playbook exited {r.returncode}: {(r.stdout + r.stderr)[-1500:]}")
    for name in hosts:
        expect(re.search(rf"^{name}\s+: ok=\d+\s+changed=[1-9]", r.stdout, re.M), f"{name} not changed in the recap: {r.stdout[-1200:]}")
    c.expect_all_on(V26_IMAGES)
    expect(all(not ({cc["image"] for cc in p["spec"]["containers"]} - V26_IMAGES)
               for p in second.calico_pods() if not p["metadata"].get("deletionTimestamp")), "the second cluster is not on v2.6")


# name -> (function, kubectl versions)
def fake_calls(c, call):
    """How many times the simulated Calico tools were called as `call` (calico-upgrade-abort ...)."""
    with open(os.path.join(c.fake, "calls.jsonl")) as f:
        return sum(1 for line in f if json.loads(line).get("call") == call)


def case_view_user(c):
    """A user bound to ClusterRole `view` (may read, not patch): stopped before the first change,
    the abort included, naming the verb, the resource and the user."""
    c.cluster.calico_state("upgraded", "etcd")
    binding = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
               "metadata": {"name": "tier-jane-view"},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
               "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "jane"}]}
    try:
        c.api.post("/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", binding)
    except ApiError as e:
        if e.status != 409:
            raise
    jane = c.cluster.user_kubeconfig("jane")
    before = c.resource_versions()
    r = c.tool("run", "--yes", kubeconfig=jane)
    expect(r.rc == 3, f"run as a view user exited {r.rc}: {r.why()}")
    expect("FAILED [Check permissions]" in r.out, "the failure is not the permission check")
    expect("user `jane` may not patch daemonsets.apps/calico-node in kube-system" in r.out,
           "the verb, the resource and the user are not named")
    expect(fake_calls(c, "calico-upgrade-abort") == 0, "calico-upgrade abort ran")
    expect(c.resource_versions() == before, "the workloads changed")
    c.expect_all_on(V30_IMAGES)


def case_typo_deployment(c):
    """`--deployment calico-kube-controler` (one letter missing) on an etcd cluster: exit 3 with
    the closest name, for run and status alike; nothing changed."""
    c.cluster.calico_state("upgraded", "etcd")
    before = c.resource_versions()
    r = c.tool("run", "--yes", "--deployment", "calico-kube-controler")
    expect(r.rc == 3, f"run with a typo exited {r.rc}: {r.why()}")
    expect("did you mean --deployment calico-kube-controllers?" in r.out, "no closest name offered")
    expect("Calico v2.6 is running" not in r.out, "the run claims Calico v2.6")
    s = c.tool("status", "--deployment", "calico-kube-controler")
    expect(s.rc == 3, f"status with a typo exited {s.rc}: {s.why()}")
    expect(fake_calls(c, "calico-upgrade-abort") == 0, "calico-upgrade abort ran")
    expect(c.resource_versions() == before, "the workloads changed")


def case_abort_on_v3(c):
    """`abort` with calico/node on v3 refuses (exit 3) and points at `run`; `--abort-while-v3`
    says it is meant, and the abort runs."""
    c.cluster.calico_state("upgraded", "etcd")
    before = c.resource_versions()
    r = c.tool("abort", "--yes")
    expect(r.rc == 3, f"abort on v3 exited {r.rc}: {r.why()}")
    expect("run `calico-downgrade run`" in r.out, "the refusal does not point at run")
    expect(fake_calls(c, "calico-upgrade-abort") == 0, "calico-upgrade abort ran")
    meant = c.tool("abort", "--yes", "--abort-while-v3")
    expect(meant.rc == 0, f"abort --abort-while-v3 exited {meant.rc}: {meant.why()}")
    expect(fake_calls(c, "calico-upgrade-abort") == 1, "calico-upgrade abort did not run once")
    expect(c.resource_versions() == before, "the abort changed the workloads")


# --- reconcilers: who else manages Calico, and a revert during the wait ------------------------
def lock_present(c):
    return c.lock() is not None


def relabel(c, *labels):
    """`kubectl label` (or `annotate`, for `annotate:KEY=VALUE`) calico-node and
    calico-kube-controllers; each removed again at cleanup."""
    for target in ("daemonset/calico-node", "deployment/calico-kube-controllers"):
        for label in labels:
            verb, _, kv = label.rpartition(":")
            verb = verb or "label"
            key = kv.split("=", 1)[0]
            c.cluster.kubectl_run(verb, target, "-n", "kube-system", "--overwrite", kv)
            c.tier.cleanup.append(lambda v=verb, t=target, k=key: c.cluster.kubectl_run(v, t, "-n", "kube-system", f"{k}-", check=False))


def case_reconciler_label(c):
    """calico-node labelled `addonmanager.kubernetes.io/mode: Reconcile` (the addon manager
    re-applies it): `run` stops with exit 3 before any change, naming the addon manager and
    what to do first; the API server shows nothing changed and no lock left. With
    `--despite-reconciler` the run goes on and says it did."""
    c.cluster.calico_state("upgraded", "etcd")
    relabel(c, "addonmanager.kubernetes.io/mode=Reconcile")
    before = c.resource_versions()
    r = c.tool("run", "--yes")
    expect(r.rc == 3, f"run with an addon-manager label exited {r.rc} (want 3): {r.why()}")
    for words in ("the Kubernetes addon manager", "label addonmanager.kubernetes.io/mode=Reconcile",
                  "/etc/kubernetes/addons", "--despite-reconciler"):
        expect(words in r.out, f"the refusal does not say {words!r}: {r.out}")
    expect(fake_calls(c, "calico-upgrade-abort") == 0, "calico-upgrade abort ran")
    time.sleep(1)
    expect(c.resource_versions() == before, "the refused run changed the workloads")
    expect(not lock_present(c), "the refused run left the cluster lock behind")
    c.expect_all_on(V30_IMAGES)
    anyway = c.tool("run", "--yes", "--despite-reconciler", "--output", "json")
    expect(anyway.rc == 0, f"run --despite-reconciler exited {anyway.rc}: {anyway.why()}")
    found = (anyway.doc or {}).get("reconcilers") or {}
    kinds = [(f.get("kind"), f.get("continuous")) for f in found.get("found", [])]
    expect(kinds == [("addon-manager", True)] and found.get("overridden") is True,
           f"the JSON's reconcilers are {found}")
    c.expect_all_on(V26_IMAGES)


def case_helm_warning(c):
    """Workloads labelled by a Helm release (`app.kubernetes.io/managed-by: Helm`,
    `meta.helm.sh/release-name`): only a warning (its next upgrade brings v3.0 back), exit 0."""
    c.cluster.calico_state("upgraded", "etcd")
    relabel(c, "app.kubernetes.io/managed-by=Helm", "annotate:meta.helm.sh/release-name=calico",
            "annotate:meta.helm.sh/release-namespace=kube-system")
    r = c.tool("run", "--yes")
    expect(r.rc == 0, f"run with a Helm release's labels exited {r.rc}: {r.why()}")
    warnings = [ln for ln in r.out.splitlines() if "warning:" in ln and "Helm release kube-system/calico" in ln]
    expect(len(warnings) >= 2, f"the plan and the report do not both warn of the Helm release: {r.out}")
    expect("helm upgrade" in r.out, f"the warning does not say what brings v3.0 back: {r.out}")
    c.expect_all_on(V26_IMAGES)


def case_reapply_during_wait(c):
    """Calico v3.0's manifest re-applied (`kubectl apply`, as the addon manager or a script
    would) while the tool waits: the run ends at once, says the rollback was undone, names the
    manager that changed the template (`kubectl-client-side-apply`) and when, and does not
    advise running again to wait again."""
    c.cluster.calico_state("upgraded", "etcd")
    kubelets = c.cluster.kubelets
    delay = kubelets.phase_delay
    kubelets.set_phase_delay(3.0)
    c.tier.cleanup.append(lambda: kubelets.set_phase_delay(delay))
    finish = c.tool("run", "--yes", "--timeout", "60s", background=True)
    c.mid_wait()
    c.cluster.apply("3.0", "etcd")
    r = finish()
    expect(r.rc == 1, f"run exited {r.rc} after the re-apply (want 1): {r.why()}")
    for words in ("the rollback was undone", "changed back to", "by `kubectl-client-side-apply` at 20",
                  "tug-of-war", "`kubectl-client-side-apply` (a script"):
        expect(words in r.out, f"the report does not say {words!r}: {r.out}")
    expect("run again to wait again" not in r.text(), "the report still advises running again to wait again")
    expect(V30_IMAGES >= c.ds_template_images(), "the DaemonSet's template is not the re-applied v3.0")


CASES = {
    "run-twice": (case_run_twice, KUBECTLS),
    "plan": (case_plan, KUBECTLS),
    "ondelete-replace-pods": (case_ondelete_replace_pods, ["1.33"]),
    "ondelete-no-replace": (case_ondelete_no_replace, ["1.20"]),
    "kdd": (case_kdd, ["1.30"]),
    "pods-at-risk": (case_pods_at_risk, ["1.27"]),
    "kdd-v3-data": (case_kdd_v3_data, ["1.33", "1.20"]),
    "kdd-v3-data-rights": (case_kdd_v3_data_rights, ["1.27"]),
    "pods-at-risk-pages": (case_pods_at_risk_pages, ["1.20"]),
    "pods-pages-outage": (case_pods_pages_outage, ["1.33"]),
    "rollback-first": (case_rollback_first, ["1.31"]),
    "apiserver-outage": (case_apiserver_outage, ["1.33"]),
    "start-outage": (case_start_outage, ["1.33"]),
    "undo-outage": (case_undo_outage, ["1.29"]),
    "node-joins": (case_node_joins, ["1.33"]),
    "node-notready": (case_node_notready, ["1.33"]),
    "image-unpullable": (case_image_unpullable, ["1.20", "1.33"]),
    "crash-loop": (case_crash_loop, ["1.33"]),
    "slow-rollout-keeps-going": (case_slow_rollout_keeps_going, ["1.27"]),
    "view-user": (case_view_user, ["1.20", "1.33"]),
    "typo-deployment": (case_typo_deployment, ["1.27"]),
    "abort-on-v3": (case_abort_on_v3, ["1.32"]),
    "untrusted-ca": (case_untrusted_ca, ["1.20", "1.33"]),
    "unresolvable-name": (case_unresolvable_name, ["1.33"]),
    "unknown-context": (case_unknown_context, ["1.28"]),
    "typha": (case_typha, ["1.30"]),
    "etcd-conflist": (case_etcd_conflist, ["1.29"]),
    "minimal-role": (case_minimal_role, ["1.20", "1.33"]),
    "two-runs-one-cluster": (case_two_runs_one_cluster, ["1.33"]),
    "two-runs-docs-role": (case_two_runs_docs_role, ["1.20", "1.33"]),
    "lock-renewed-during-the-wait": (case_lock_renewed_during_the_wait, ["1.27"]),
    "lock-held-and-expired": (case_lock_held_and_expired, ["1.31"]),
    "fleet-two-clusters": (case_fleet_two_clusters, ["1.33"]),
    "watch-ends": (case_watch_ends, ["1.20", "1.33"]),
    "big-rollout": (case_big_rollout, ["1.33"]),
    "reconciler-label": (case_reconciler_label, ["1.20", "1.33"]),
    "helm-warning": (case_helm_warning, ["1.31"]),
    "reapply-during-wait": (case_reapply_during_wait, ["1.20", "1.33"]),
}


def read_known_failures(path=KNOWN_FAILURES):
    """`CASE[@KUBECTL] reason` per line (`#` comments): case -> reason, or (case, kubectl) -> reason."""
    known = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            key, _, reason = line.partition(" ")
            name, _, kver = key.partition("@")
            if name not in CASES:
                raise SystemExit(f"real-cluster: {path}: unknown case {name!r}")
            known[(name, kver) if kver else name] = reason.strip()
    return known


def leftover_processes(run_dir):
    """`ps` lines of live processes whose command line names the run folder (every server and tool run does)."""
    ps = subprocess.run(["ps", "-eo", "pid=,stat=,args="], capture_output=True, text=True).stdout
    me = {str(os.getpid()), str(os.getppid())}
    return [ln.strip() for ln in ps.splitlines()
            if run_dir in ln and ln.split()[0] not in me and not ln.split()[1].startswith("Z")]


class Tier:
    def __init__(self, args):
        self.args = args
        self.tool, self.fake_cluster = os.path.abspath(args.tool), os.path.abspath(args.fake_cluster)
        self.kubectls = kubectl_paths(args.bin_dir)
        self.cleanup = []
        self.children = []  # every tool process started, killed (process group) if the tier stops early
        self.cluster = None

    def selected(self):
        names = self.args.case or list(CASES)
        for n in names:
            if n not in CASES:
                raise SystemExit(f"real-cluster: unknown case {n!r}; cases: {', '.join(CASES)}")
        out = []
        for n in names:
            versions = CASES[n][1]
            if self.args.kubectl:
                versions = self.args.kubectl if self.args.case else [v for v in versions if v in self.args.kubectl]
            out += [(n, v) for v in versions]
        return out

    def run(self):
        known = read_known_failures()
        todo = self.selected()
        for _, v in todo:
            if v not in self.kubectls or not os.access(self.kubectls[v], os.X_OK):
                print(f"real-cluster: kubectl {v} not found at {self.kubectls.get(v)}", file=sys.stderr)
                print("real-cluster: 0 passed, 1 failed")
                return 1
        for p in (self.tool, self.fake_cluster):
            if not os.access(p, os.X_OK):
                print(f"real-cluster: {p} is missing (cargo build --all-features --bins)", file=sys.stderr)
                print("real-cluster: 0 passed, 1 failed")
                return 1
        run_dir = self.args.run_dir or tempfile.mkdtemp(prefix="real-cluster-tier-")
        os.makedirs(run_dir, exist_ok=True)
        print(f"real-cluster: run folder {run_dir}", flush=True)
        passed, failed, known_seen = 0, 0, []
        t0 = time.monotonic()
        try:
            self.cluster = Cluster(os.path.join(run_dir, "cluster"), self.args.bin_dir, nodes=NODES, quiet=True)
            print(f"real-cluster: control plane up in {time.monotonic() - t0:.1f}s ({self.cluster.server})", flush=True)
            for name, kver in todo:
                folder = os.path.join(run_dir, "cases", f"{name}-{kver}")
                reason = known.get((name, kver)) or known.get(name)
                start = time.monotonic()
                error = None
                try:
                    CASES[name][0](Case(self, name, kver, folder))
                except CaseFailed as e:
                    error = str(e)
                except Exception as e:  # noqa: BLE001 - a broken case is a failed case, with its trace kept
                    error = f"{type(e).__name__}: {e}"
                    with open(os.path.join(folder, "traceback"), "w") as f:
                        traceback.print_exc(file=f)
                finally:
                    self.run_cleanup(folder)
                took = f"{time.monotonic() - start:.1f}s"
                label = f"{name:<22} kubectl {kver:<5} {took:>6}"
                if error is None and reason is None:
                    passed += 1
                    print(f"ok   {label}", flush=True)
                elif error is None:
                    failed += 1
                    print(f"FAIL {label}  passes but is listed in known-failures: remove it ({reason})", flush=True)
                elif reason is not None:
                    known_seen.append(f"{name}@{kver}")
                    print(f"KNOWN {label}  {error}  [known failure: {reason}]  logs: {folder}", flush=True)
                else:
                    failed += 1
                    print(f"FAIL {label}  {error}  logs: {folder}", flush=True)
        except KeyboardInterrupt:
            print("real-cluster: interrupted", flush=True)
            failed += 1
        except Exception as e:  # noqa: BLE001 - the cluster itself failed: the tier fails and says why
            print(f"real-cluster: the control plane failed: {e}", flush=True)
            failed += 1
        finally:
            for proc in self.children:
                if proc.poll() is None:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
            if self.cluster:
                self.cluster.stop()
            left = leftover_processes(run_dir)
            if left:
                print("FAIL processes left running:\n  " + "\n  ".join(left), flush=True)
                failed += 1
        print(f"real-cluster: {time.monotonic() - t0:.0f}s in all; logs in {run_dir}")
        print(f"real-cluster: known failures ({len(known_seen)}): {', '.join(known_seen) or 'none'}")
        print(f"real-cluster: {passed} passed, {failed} failed", flush=True)
        return 0 if failed == 0 else 1

    def run_cleanup(self, folder):
        while self.cleanup:
            fn = self.cleanup.pop()
            try:
                fn()
            except Exception as e:  # noqa: BLE001
                with open(os.path.join(folder, "cleanup-errors"), "a") as f:
                    f.write(f"{e}\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tool", required=True)
    ap.add_argument("--fake-cluster", required=True)
    ap.add_argument("--bin-dir", required=True)
    ap.add_argument("--run-dir")
    ap.add_argument("--case", action="append", help="run only this case (repeatable)")
    ap.add_argument("--kubectl", action="append", help="run only with this kubectl version (repeatable)")
    ap.add_argument("--list", action="store_true", help="list the cases and their kubectl versions")
    args = ap.parse_args()
    if args.list:
        for name, (_, versions) in CASES.items():
            print(f"{name:<22} {' '.join(versions)}")
        return 0
    install_signal_handlers()
    return Tier(args).run()


if __name__ == "__main__":
    sys.exit(main())
