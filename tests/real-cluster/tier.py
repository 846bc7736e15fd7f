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

    def resource_versions(self):
        rv = {"daemonset": self.daemonset()["metadata"]["resourceVersion"]}
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
def case_run_twice(c):
    c.cluster.calico_state("upgraded", "etcd")
    first = c.tool("run", "--yes", "--output", "json")
    expect(first.rc == 0, f"first run exited {first.rc}: {first.why()}")
    c.expect_all_on(V26_IMAGES)
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
    c.cluster.calico_state("upgraded", "etcd")
    ns = c.namespace()
    c.cluster.kubectl_run("run", "web", "-n", ns, "--image=nginx:1.19", "--restart=Never")
    c.cluster.wait_for(lambda: c.api.get(f"/api/v1/namespaces/{ns}/pods/web")["status"].get("phase") == "Running", 30, "pod web Running")
    r = c.tool("run", "--yes", "--output", "json")
    expect(r.rc == 0, f"run exited {r.rc}: {r.why()}")
    risk = [(p["namespace"], p["name"]) for p in (r.doc or {}).get("pods_at_risk") or []]
    expect((ns, "web") in risk, f"pods_at_risk does not list {ns}/web: {risk}")
    expect(all(n != "kube-system" for n, _ in risk), f"hostNetwork Calico pods listed as at risk: {risk}")
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
    journal = [json.loads(line) for line in open(os.path.join(c.dir, f"journal-{c.runs}.jsonl")) if line.strip()]
    pages = [e for e in journal if "--raw" in e.get("argv", []) and e["argv"][e["argv"].index("--raw") + 1].startswith("/api/v1/pods?")]
    expect(len(pages) == 3 and all(e["exit_code"] == 0 for e in pages),
           f"the listing read {len(pages)} pages: {[(e['argv'][e['argv'].index('--raw') + 1][:40], e['exit_code']) for e in pages]}")
    expect(all("&continue=" in e["argv"][e["argv"].index("--raw") + 1] for e in pages[1:]), "a page after the first without its token")
    expect(all(len(e["stdout"]) < 4_000_000 for e in pages), "a page larger than 500 pods")
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


def case_node_notready(c):
    c.cluster.calico_state("upgraded", "etcd")
    # The 1.20 node controller marks a dead node's pods not ready once the node's lease is
    # --node-monitor-grace-period (8 s) old: slow pods (2 x 4 s each) keep the rest of the
    # rollout going well past that, so the node is NotReady while the tool still waits.
    kubelets = c.cluster.kubelets
    delay = kubelets.phase_delay
    kubelets.set_phase_delay(4.0)
    c.tier.cleanup.append(lambda: kubelets.set_phase_delay(delay))
    finish = c.tool("run", "--yes", "--timeout", "40s", background=True)
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
  *" auth can-i list pods "*) /bin/sleep 5 ;;
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
    expect(any(e["argv"][1:5] == ["auth", "can-i", "list", "pods"] for e in stopped),
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


# The rights of the README's minimal Role: what the documented commands need, plus the cluster lock.
RBAC = os.path.join(ROOT, "examples", "rbac")
OPERATOR = "calico-operator"  # the subject of examples/rbac/*.yaml


def admin_kubectl(c, *args):
    """The case's real kubectl as the cluster admin (to apply or delete the README's RBAC)."""
    r = subprocess.run([c.kubectl, "--kubeconfig", c.cluster.admin_kubeconfig, *args], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"`kubectl {' '.join(args)}` failed with exit code {r.returncode}: {r.stderr.strip()}")
    return r.stdout


def case_minimal_role(c):
    """An operator bound to the README's Role (examples/rbac/role.yaml, applied as it ships):
    the downgrade runs to its end (exit 0) with the pods at risk unknown, saying why and what
    an admin can run; with the README's ClusterRole (cluster-role.yaml) they are listed."""
    c.cluster.calico_state("upgraded", "etcd")
    role, cluster_role = os.path.join(RBAC, "role.yaml"), os.path.join(RBAC, "cluster-role.yaml")
    admin_kubectl(c, "apply", "-f", role)
    c.tier.cleanup.append(lambda: admin_kubectl(c, "delete", "-f", role, "--ignore-not-found"))
    kubeconfig = c.cluster.user_kubeconfig(OPERATOR)
    plan = c.tool("plan", "-v", kubeconfig=kubeconfig)
    expect(plan.rc == 0, f"plan as the README's Role exited {plan.rc}: {plan.why()}")
    expect("ok: every change the run makes is allowed" in plan.out, f"the preflight disagrees with the Role: {plan.out}")
    r = c.tool("run", "--yes", kubeconfig=kubeconfig)
    expect(r.rc == 0, f"run as the README's Role exited {r.rc}: {r.why()}")
    expect("unknown:" in r.out and "an admin can list them: `kubectl get pods --all-namespaces" in r.out,
           f"the pods at risk are not reported unknown: {r.out}")
    c.expect_all_on(V26_IMAGES)
    # Without the Role's lock rules the run stops before any change, naming them.
    c.cluster.calico_state("upgraded", "etcd")
    c.cluster.bind_role("nolock", "kube-system", [
        {"apiGroups": ["apps"], "resources": ["daemonsets", "deployments", "replicasets", "controllerrevisions"],
         "verbs": ["get", "list", "watch", "patch"]},
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]},
    ])
    c.tier.cleanup.append(lambda: c.cluster.unbind_role("nolock", "kube-system"))
    before = c.resource_versions()
    r = c.tool("run", "--yes", kubeconfig=c.cluster.user_kubeconfig("nolock"))
    expect(r.rc == 3, f"run without the lock rights exited {r.rc}: {r.why()}")
    expect("may not update configmaps/calico-downgrade-lock" in r.out, f"the lock right is not named: {r.out}")
    expect(c.resource_versions() == before, "the run without the lock rights changed the cluster")
    # With the ClusterRole, the pods at risk are listed.
    admin_kubectl(c, "apply", "-f", cluster_role)
    c.tier.cleanup.append(lambda: admin_kubectl(c, "delete", "-f", cluster_role, "--ignore-not-found"))
    r = c.tool("run", "--yes", "--output", "json", kubeconfig=kubeconfig)
    expect(r.rc == 0, f"run with the pods list exited {r.rc}: {r.why()}")
    expect(r.doc.get("pods_at_risk") is not None, "the pods at risk were not listed")
    c.expect_all_on(V26_IMAGES)


# --- fleets: two runs on one cluster, two clusters at once ----------------------------------
def case_two_runs_one_cluster(c):
    """Two operators start `run` on one cluster at the same moment (two HOMEs): their changes
    never interleave. One changes the cluster; the other either stops at the lock (exit 3,
    naming who holds it) or comes after and finds nothing to do (exit 0, changed=0). Never a
    failure, never half done."""
    c.cluster.calico_state("upgraded", "etcd")
    first = c.tool("run", "--yes", "--output", "json", background=True)
    second = c.tool("run", "--yes", "--output", "json", background=True, home="home-2")
    runs = [first(), second()]
    codes = sorted(r.rc for r in runs)
    expect(all(r.rc in (0, 3) for r in runs), f"exit codes {codes}: {[r.why() for r in runs]}")
    changed = [r for r in runs if r.doc and r.doc.get("changed")]
    expect(len(changed) == 1, f"{len(changed)} runs changed the cluster: {[r.why() for r in runs]}")
    for r in runs:
        if r.rc == 3:
            expect("another calico-downgrade is changing this cluster" in r.doc["msg"], f"refused for another reason: {r.why()}")
    c.expect_all_on(V26_IMAGES)
    expect("calico-downgrade-lock" not in json.dumps(c.api.get("/api/v1/namespaces/kube-system/configmaps")),
           "the lock was left behind")


def case_lock_held_and_expired(c):
    """A lock a live run holds stops `run` (exit 3, naming host, user, pid and how old); one whose
    lease clearly expired (a run that died) is taken over, and the report says whose it was."""
    c.cluster.calico_state("upgraded", "etcd")
    now = time.time()

    def plant(renewed_ago):
        stamp = lambda t: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))  # noqa: E731
        body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "calico-downgrade-lock", "namespace": "kube-system"},
                "data": {"host": "bastion-9", "user": "olga", "pid": "4242", "command": "calico-downgrade run --yes",
                         "started": stamp(now - renewed_ago - 60), "renewed": stamp(now - renewed_ago), "lease-seconds": "30"}}
        try:
            c.api.delete("/api/v1/namespaces/kube-system/configmaps/calico-downgrade-lock")
        except ApiError:
            pass
        c.api.post("/api/v1/namespaces/kube-system/configmaps", body)
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


CASES = {
    "run-twice": (case_run_twice, KUBECTLS),
    "plan": (case_plan, KUBECTLS),
    "ondelete-replace-pods": (case_ondelete_replace_pods, ["1.33"]),
    "ondelete-no-replace": (case_ondelete_no_replace, ["1.20"]),
    "kdd": (case_kdd, ["1.30"]),
    "pods-at-risk": (case_pods_at_risk, ["1.27"]),
    "pods-at-risk-pages": (case_pods_at_risk_pages, ["1.20"]),
    "pods-pages-outage": (case_pods_pages_outage, ["1.33"]),
    "rollback-first": (case_rollback_first, ["1.31"]),
    "apiserver-outage": (case_apiserver_outage, ["1.33"]),
    "start-outage": (case_start_outage, ["1.33"]),
    "undo-outage": (case_undo_outage, ["1.29"]),
    "node-joins": (case_node_joins, ["1.33"]),
    "node-notready": (case_node_notready, ["1.33"]),
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
    "lock-held-and-expired": (case_lock_held_and_expired, ["1.31"]),
    "fleet-two-clusters": (case_fleet_two_clusters, ["1.33"]),
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
