"""A real Kubernetes control plane started by the project, on 127.0.0.1, for the real-cluster tier.

`Cluster(run_dir, bin_dir)` starts etcd, kube-apiserver, kube-controller-manager and
kube-scheduler (v1.20.2, from scripts/real-cluster/build-servers) on free ports chosen at start,
with a CA and certificates made at start (openssl), RBAC (`--authorization-mode=Node,RBAC`), a
service-account key pair, an admin kubeconfig (group system:masters) and `user_kubeconfig()` for
any other user. Every process logs to `run_dir/logs/<name>.log`; every process is started in its
own process group with PR_SET_PDEATHSIG, and `stop()` (also run by atexit and on
SIGINT/SIGTERM/SIGHUP) kills exactly the process groups it started. The API server can be
killed and started again with the same flags (`restart_apiserver`). Simulated kubelets
(kubelet.py) run as threads; a control socket (`run_dir/control.sock`, see ctl.py) lets a shell
add/remove nodes, make them NotReady, restart the API server while the cluster is up.

Calico-like workloads come from manifests/ (cut down from Calico's own v2.6 and v3.0 manifests;
each file says from which) and are applied with the real kubectl, the way an operator got to
each state (`calico_state`). The v3.0 KDD manifest brings Typha with 0 replicas and
typha_service_name "none": `set_typha_service_name` and `scale_typha` turn it on;
`replace_calico_config` replaces calico-config's data (after `calico_state("upgraded", "etcd")`
it already holds the v3.0 conflist).

Other conditions an operator meets:
- a slow link: `proxy.Proxy(cluster.ports["apiserver"], rtt_ms)` and
  `proxied_kubeconfig(proxy.port)` (the admin kubeconfig with the server at the proxy);
- a big cluster: `create_filler_pods(n)` / `remove_filler_pods()`: ordinary app pods in
  namespace `filler`, bound to node-1 but unseen by the kubelets (Pending).
  Measured on 2 cores: 3000 created in 5.0 s (4 concurrent POSTs; 1.4 KB posted, 2.5 KB as
  the API server returns it without managedFields, 4.6 KB with); removed in 15 s; idle CPU of
  the servers 0.09 cores with them (0.08 without);
- kubeconfigs that fail: `kubeconfig_untrusted_ca`, `_unresolvable`, `_refused`,
  `_no_current_context`, `_missing_context`, `_two_contexts` (what kubectl 1.20 and 1.33 print
  for each is in its docstring);
- RBAC: `bind_role(user, namespace, rules)`, `bind_cluster_role(user, rules)` (idempotent; they
  return the user's kubeconfig) and `unbind_role` / `unbind_cluster_role`.

Two clusters side by side (two run folders, one process or two) work: every port is picked
free at start (never the same one twice in a process), each has its own control socket and
kubelets. Measured on 2 cores with 3 nodes each: the second starts in 9.9 s while the first
runs (the first in 10.1 s); both together hold 1.04 GiB RSS idle (per cluster: kube-apiserver
~330 MiB, kube-controller-manager ~88, etcd ~47, kube-scheduler ~43; the Python process with
both clusters' kubelets 25 MiB), 1.09 GiB with Calico applied on both. Start each from a thread
that lives as long as the cluster: the servers get PR_SET_PDEATHSIG, which fires when the
thread that started them ends.

Long waits and big clusters: `min_request_timeout` (kube-apiserver's, which ends every watch
after 1 to 2 times as long: 1800 s by default), `max_unavailable` (calico-node's rollingUpdate
as applied, e.g. "10%"), `audit_users` (their requests in logs/audit.log, read by `audited`).
Above 10 nodes the kubelets renew their Leases every 5 s and report status every minute against
a 40 s node grace period (see kubelet.py for what 120 nodes cost).

Command line: `python3 cluster.py up [--state upgraded|not-upgraded|none] [--variant
etcd|ondelete|kdd] [--nodes N] [--min-request-timeout S] [--max-unavailable 10%] [--run-dir
DIR] -- CMD ARGS...` starts a cluster, runs CMD with KUBECONFIG and CALICO_DOWNGRADE_REAL_RUN
set, and stops everything when CMD ends.
"""

import argparse
import atexit
import ctypes
import datetime
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import kube  # noqa: E402
from kubelet import Kubelets  # noqa: E402
from proxy import Proxy  # noqa: E402

MANIFESTS = os.path.join(HERE, "manifests")
VARIANTS = ("etcd", "ondelete", "kdd")
STATES = ("upgraded", "not-upgraded", "none")

V26_IMAGES = {"quay.io/calico/node:v2.6.8", "quay.io/calico/cni:v1.11.4", "quay.io/calico/kube-controllers:v1.0.3"}
V30_IMAGES = {"quay.io/calico/node:v3.0.4", "quay.io/calico/cni:v2.0.2", "quay.io/calico/kube-controllers:v2.0.2"}


_PORTS_GIVEN = set()
_PORTS_LOCK = threading.Lock()


def free_port():
    """A free 127.0.0.1 port, never one this process handed out before: two clusters in one
    process (started one after the other) cannot be given the same port between the moment it
    is picked and the moment its server binds it."""
    with _PORTS_LOCK:
        while True:
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                port = s.getsockname()[1]
            if port not in _PORTS_GIVEN:
                _PORTS_GIVEN.add(port)
                return port


def _pdeathsig():
    """In the child: die with the parent (PR_SET_PDEATHSIG = 1), in a process group of its own."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)
    except OSError:
        pass


class Proc:
    """One server process: its argv, log and PID; startable again with the same argv."""

    def __init__(self, name, argv, log_path, env=None):
        self.name, self.argv, self.log_path, self.env = name, argv, log_path, env
        self.popen = None

    def start(self):
        log = open(self.log_path, "ab")
        log.write(f"\n==== start {time.strftime('%H:%M:%S')} {' '.join(self.argv)}\n".encode())
        log.flush()
        self.popen = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                      start_new_session=True, preexec_fn=_pdeathsig, env=self.env)
        log.close()
        return self

    def alive(self):
        return self.popen is not None and self.popen.poll() is None

    def kill(self, sig=signal.SIGKILL):
        if self.popen is None:
            return
        if self.popen.poll() is None:
            try:
                os.killpg(self.popen.pid, sig)
            except ProcessLookupError:
                pass
            try:
                self.popen.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(10)

    def stop(self):
        if self.alive():
            self.kill(signal.SIGTERM)
        self.kill(signal.SIGKILL)


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


class Cluster:
    """A running control plane with simulated kubelets. Use as a context manager or call stop()."""

    def __init__(self, run_dir, bin_dir, nodes=3, phase_delay=0.4, kubectl=None, quiet=False,
                 min_request_timeout=None, max_unavailable=None, audit_users=()):
        self.run_dir = os.path.abspath(run_dir)
        self.bin_dir = bin_dir
        self.kubectl = kubectl or os.path.join(bin_dir, "kubectl-1.20")
        self.pki = os.path.join(self.run_dir, "pki")
        self.logs = os.path.join(self.run_dir, "logs")
        for d in (self.pki, self.logs):
            os.makedirs(d, exist_ok=True)
        self.quiet = quiet
        # kube-apiserver's --min-request-timeout (seconds; its default 1800 when None): it ends
        # every watch after 1 to 2 times as long.
        self.min_request_timeout = min_request_timeout
        # The Calico DaemonSets' rollingUpdate.maxUnavailable as applied (the manifests say 1).
        self.max_unavailable = max_unavailable
        # Users whose every request the API server writes to logs/audit.log (metadata only,
        # once each request is complete; `audited`).
        self.audit_users = list(audit_users)
        self.procs = {}
        self.stopped = False
        self.variant = None
        self.proxies = []  # proxy.Proxy instances opened through the control socket, closed by stop()
        self.event_log = open(os.path.join(self.logs, "cluster.log"), "a", buffering=1)
        self.log_lock = threading.Lock()
        atexit.register(self.stop)
        try:
            self._start(nodes, phase_delay)
        except BaseException:
            self.stop()
            raise

    # --- logging ------------------------------------------------------------------------------
    def log(self, msg):
        line = f"{time.strftime('%H:%M:%S')} {msg}"
        with self.log_lock:
            self.event_log.write(line + "\n")
        if not self.quiet:
            print(f"cluster: {msg}", file=sys.stderr, flush=True)

    # --- certificates -------------------------------------------------------------------------
    def _certs(self):
        p = self.pki
        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "3650",
                "-subj", "/CN=calico-downgrade-real-cluster-ca", "-addext", "basicConstraints=critical,CA:TRUE",
                "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=p)
        openssl("genrsa", "-out", "sa.key", "2048", cwd=p)
        openssl("rsa", "-in", "sa.key", "-pubout", "-out", "sa.pub", cwd=p)
        self._leaf("apiserver", "/CN=kube-apiserver", server=True)
        self._leaf("admin", "/O=system:masters/CN=admin")
        self._leaf("controller-manager", "/CN=system:kube-controller-manager")
        self._leaf("scheduler", "/CN=system:kube-scheduler")
        self._leaf("kubelets", "/O=system:masters/CN=simulated-kubelets")

    def _leaf(self, name, subj, server=False):
        p = self.pki
        ext = os.path.join(p, f"{name}.ext")
        with open(ext, "w") as f:
            f.write("basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n")
            if server:
                f.write("extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,"
                        "DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,IP:10.0.0.1\n")
            else:
                f.write("extendedKeyUsage=clientAuth\n")
        openssl("req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", subj, cwd=p)
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
                "-out", f"{name}.crt", "-days", "365", "-extfile", ext, cwd=p)
        return os.path.join(p, f"{name}.crt"), os.path.join(p, f"{name}.key")

    def _kubeconfig(self, path, user, cert, key):
        cfg = {
            "apiVersion": "v1", "kind": "Config", "current-context": "real-cluster",
            "clusters": [{"name": "real-cluster", "cluster": {"server": self.server, "certificate-authority": os.path.join(self.pki, "ca.crt")}}],
            "users": [{"name": user, "user": {"client-certificate": cert, "client-key": key}}],
            "contexts": [{"name": "real-cluster", "context": {"cluster": "real-cluster", "user": user}}],
        }
        with open(path, "w") as f:
            json.dump(cfg, f, indent=1)
        return path

    def user_kubeconfig(self, user, groups=()):
        """A kubeconfig for `user` (certificate CN) in `groups` (O=...), signed by the cluster's CA."""
        subj = "".join(f"/O={g}" for g in groups) + f"/CN={user}"
        cert, key = self._leaf(f"user-{user}", subj)
        return self._kubeconfig(os.path.join(self.run_dir, f"{user}.kubeconfig"), user, cert, key)

    # --- processes ----------------------------------------------------------------------------
    def _proc(self, name, argv):
        proc = Proc(name, argv, os.path.join(self.logs, f"{name}.log"))
        self.procs[name] = proc
        proc.start()
        self.log(f"started {name} (pid {proc.popen.pid})")
        return proc

    def _start(self, nodes, phase_delay):
        # Big clusters: the nodes renew their Leases every 5 s and report their status every
        # minute, against a 40 s grace period (Kubernetes' default; 8 s with a few nodes, so
        # that a dead node is seen quickly). Measured: see `Kubelets` in kubelet.py.
        big = nodes > 10
        grace, lease_every, status_every = (40, 5.0, 60.0) if big else (8, 1.0, 5.0)
        b = lambda n: os.path.join(self.bin_dir, n)  # noqa: E731
        pki = lambda n: os.path.join(self.pki, n)  # noqa: E731
        for exe in ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"):
            if not os.access(b(exe), os.X_OK):
                raise RuntimeError(f"{b(exe)} is missing: run scripts/real-cluster/build-servers")
        self._certs()
        self.ports = {k: free_port() for k in ("etcd", "etcd-peer", "apiserver", "controller-manager", "scheduler")}
        self.server = f"https://127.0.0.1:{self.ports['apiserver']}"
        self.admin_kubeconfig = self._kubeconfig(os.path.join(self.run_dir, "admin.kubeconfig"), "admin", pki("admin.crt"), pki("admin.key"))
        cm_kc = self._kubeconfig(pki("controller-manager.kubeconfig"), "system:kube-controller-manager", pki("controller-manager.crt"), pki("controller-manager.key"))
        sch_kc = self._kubeconfig(pki("scheduler.kubeconfig"), "system:kube-scheduler", pki("scheduler.crt"), pki("scheduler.key"))
        etcd_url = f"http://127.0.0.1:{self.ports['etcd']}"
        peer_url = f"http://127.0.0.1:{self.ports['etcd-peer']}"
        self._proc("etcd", [b("etcd"), "--name=real-cluster", f"--data-dir={self.run_dir}/etcd-data",
                            f"--listen-client-urls={etcd_url}", f"--advertise-client-urls={etcd_url}",
                            f"--listen-peer-urls={peer_url}", f"--initial-advertise-peer-urls={peer_url}",
                            f"--initial-cluster=real-cluster={peer_url}", "--initial-cluster-state=new",
                            "--listen-metrics-urls=", "--log-level=warn"])
        self.apiserver_argv = [
            b("kube-apiserver"), f"--etcd-servers={etcd_url}", "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
            f"--secure-port={self.ports['apiserver']}", "--insecure-port=0",
            f"--tls-cert-file={pki('apiserver.crt')}", f"--tls-private-key-file={pki('apiserver.key')}",
            f"--client-ca-file={pki('ca.crt')}", "--authorization-mode=Node,RBAC",
            f"--service-account-key-file={pki('sa.pub')}", f"--service-account-signing-key-file={pki('sa.key')}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            "--service-cluster-ip-range=10.0.0.0/24", "--allow-privileged=true",
            "--enable-admission-plugins=NodeRestriction", "--event-ttl=10m", "--v=1",
        ]
        if self.min_request_timeout is not None:
            self.apiserver_argv.append(f"--min-request-timeout={self.min_request_timeout}")
        if self.audit_users:
            policy = os.path.join(self.pki, "audit-policy.json")
            with open(policy, "w") as f:
                json.dump({"apiVersion": "audit.k8s.io/v1", "kind": "Policy",
                           "omitStages": ["RequestReceived", "ResponseStarted"],
                           "rules": [{"level": "Metadata", "users": self.audit_users}, {"level": "None"}]}, f)
            self.apiserver_argv += [f"--audit-policy-file={policy}", f"--audit-log-path={self.audit_log}",
                                    "--audit-log-maxsize=0"]
        self._proc("kube-apiserver", self.apiserver_argv)
        self.admin = kube.Client("127.0.0.1", self.ports["apiserver"], pki("ca.crt"), pki("admin.crt"), pki("admin.key"))
        self.wait_apiserver(90)
        common = [f"--kubeconfig={{kc}}", "--bind-address=127.0.0.1", "--port=0", "--leader-elect=false",
                  "--authentication-kubeconfig={kc}", "--authorization-kubeconfig={kc}", "--v=1"]
        self._proc("kube-controller-manager", [b("kube-controller-manager"), *[a.format(kc=cm_kc) for a in common],
                                               f"--secure-port={self.ports['controller-manager']}",
                                               f"--service-account-private-key-file={pki('sa.key')}",
                                               f"--root-ca-file={pki('ca.crt')}", "--use-service-account-credentials=true",
                                               "--node-monitor-period=1s", f"--node-monitor-grace-period={grace}s",
                                               "--node-startup-grace-period=20s", "--pod-eviction-timeout=10m",
                                               "--controllers=*"])
        self._proc("kube-scheduler", [b("kube-scheduler"), *[a.format(kc=sch_kc) for a in common],
                                      f"--secure-port={self.ports['scheduler']}"])
        self.kubelet_client = kube.Client("127.0.0.1", self.ports["apiserver"], pki("ca.crt"), pki("kubelets.crt"), pki("kubelets.key"), timeout=3.0)
        self.kubelets = Kubelets(self.kubelet_client, phase_delay=phase_delay, log=lambda m: self.log(f"kubelet {m}"),
                                 lease_every=lease_every, status_every=status_every)
        for i in range(1, nodes + 1):
            self.kubelets.add(f"node-{i}", wait=False)
        for name in self.kubelets.names():
            if not self.kubelets.nodes[name].registered.wait(60):
                raise RuntimeError(f"node {name} did not register within 60 s")
        self.wait_for(lambda: self._service_account_ready("kube-system", "default"), 90, "the kube-system default ServiceAccount and its token")
        self.wait_for(lambda: self.ready_nodes() >= nodes, 60, f"{nodes} Ready nodes")
        self.control = Control(self)
        self.log(f"up: {self.server}, run folder {self.run_dir}")

    @property
    def audit_log(self):
        return os.path.join(self.logs, "audit.log")

    def audited(self, user, since, until):
        """The requests of `user` received between the epoch times `since` and `until`, as the
        API server's audit log has them (each once complete: a watch once it ended): a list of
        (verb, resource, HTTP code)."""
        out = []
        with open(self.audit_log) as f:
            for line in f:
                e = json.loads(line)
                if e.get("user", {}).get("username") != user:
                    continue
                at = datetime.datetime.fromisoformat(e["requestReceivedTimestamp"].replace("Z", "+00:00")).timestamp()
                if since <= at <= until:
                    ref = e.get("objectRef", {})
                    out.append((e["verb"], ref.get("resource", e.get("requestURI", "")), e.get("responseStatus", {}).get("code")))
        return out

    def wait_for(self, pred, timeout, what):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            self.check_procs()
            try:
                if pred():
                    return
            except Exception as e:  # noqa: BLE001 - keep polling, report the last error
                last = e
            time.sleep(0.2)
        raise RuntimeError(f"timed out after {timeout}s waiting for {what}" + (f" (last error: {last})" if last else "")
                           + f"; logs in {self.logs}")

    def wait_apiserver(self, timeout):
        def healthy():
            self.check_procs()
            return self.admin.request("GET", "/readyz") is not None
        self.wait_for(healthy, timeout, "kube-apiserver /readyz")

    def check_procs(self):
        for name, p in self.procs.items():
            if not p.alive() and not getattr(p, "down_on_purpose", False):
                raise RuntimeError(f"{name} exited with {p.popen.returncode}; see {p.log_path}")

    def _service_account_ready(self, ns, name):
        sa = self.admin.get(f"/api/v1/namespaces/{ns}/serviceaccounts/{name}")
        return bool(sa.get("secrets"))

    def ready_nodes(self):
        n = 0
        for node in self.admin.get("/api/v1/nodes")["items"]:
            for c in node.get("status", {}).get("conditions", []):
                if c["type"] == "Ready" and c["status"] == "True":
                    n += 1
        return n

    # --- the API server outage ----------------------------------------------------------------
    def kill_apiserver(self):
        p = self.procs["kube-apiserver"]
        p.down_on_purpose = True
        p.kill(signal.SIGKILL)
        self.log("kube-apiserver killed")

    def start_apiserver(self):
        p = self.procs["kube-apiserver"]
        p.start()
        p.down_on_purpose = False
        self.log(f"kube-apiserver started again (pid {p.popen.pid})")
        self.wait_apiserver(60)

    def restart_apiserver(self, down_seconds):
        self.kill_apiserver()
        time.sleep(down_seconds)
        self.start_apiserver()

    # --- kubectl and Calico -------------------------------------------------------------------
    def kubectl_run(self, *args, stdin=None, check=True):
        env = {"PATH": "/usr/bin:/bin", "HOME": os.path.join(self.run_dir, "kubectl-home"), "KUBECONFIG": self.admin_kubeconfig}
        os.makedirs(env["HOME"], exist_ok=True)
        r = subprocess.run([self.kubectl, *args], input=stdin, capture_output=True, text=True, env=env, timeout=120)
        if check and r.returncode != 0:
            raise RuntimeError(f"`kubectl {' '.join(args)}` failed with exit code {r.returncode}: {r.stderr.strip()}")
        return r

    def manifest(self, version, variant):
        """The manifest text of Calico `version` (2.6|3.0) in `variant` (etcd|ondelete|kdd)."""
        kind = "kdd" if variant == "kdd" else "etcd"
        with open(os.path.join(MANIFESTS, f"calico-v{version}-{kind}.yaml")) as f:
            text = f.read()
        marker = "    type: RollingUpdate\n    rollingUpdate:\n      maxUnavailable: 1\n"
        if self.max_unavailable is not None and variant != "ondelete":
            # As an operator who edited the manifest: the DaemonSet's updateStrategy patched.
            if marker not in text:
                raise RuntimeError("the manifest's DaemonSet updateStrategy block is not where max_unavailable expects it")
            text = text.replace(marker, marker.replace(": 1\n", f": {self.max_unavailable}\n"), 1)
        if variant == "ondelete":
            if marker not in text:
                raise RuntimeError("the manifest's DaemonSet updateStrategy block is not where the OnDelete variant expects it")
            text = text.replace(marker, "    type: OnDelete\n", 1)
        return text

    def apply(self, version, variant):
        self.kubectl_run("apply", "-f", "-", stdin=self.manifest(version, variant))
        self.log(f"applied Calico v{version} ({variant})")

    def calico_pods(self):
        q = {"labelSelector": "k8s-app in (calico-node,calico-kube-controllers)"}
        return self.admin.get("/api/v1/namespaces/kube-system/pods", **q)["items"]

    def workloads_settled(self, images, variant):
        """Every Calico workload rolled out on `images`: one Running Ready pod per Ready node (+1 controller)."""
        ds = self.admin.get("/apis/apps/v1/namespaces/kube-system/daemonsets/calico-node")
        st = ds.get("status", {})
        if st.get("observedGeneration", 0) < ds["metadata"]["generation"]:
            return False
        want = st.get("desiredNumberScheduled", -1)
        if variant != "kdd":
            dep = self.admin.get("/apis/apps/v1/namespaces/kube-system/deployments/calico-kube-controllers")
            if dep.get("status", {}).get("observedGeneration", 0) < dep["metadata"]["generation"]:
                return False
            want += 1
        pods = [p for p in self.calico_pods() if not p["metadata"].get("deletionTimestamp")]
        if len(pods) != want:
            return False
        for p in pods:
            if p.get("status", {}).get("phase") != "Running":
                return False
            if not {c["image"] for c in p["spec"]["containers"]} <= images:
                return False
            conds = {c["type"]: c["status"] for c in p["status"].get("conditions", [])}
            if conds.get("Ready") != "True":
                return False
        return True

    def remove_calico(self):
        """Delete the Calico workloads, Typha (the v3.0 KDD manifest's) and calico-config, and wait
        for their pods to be gone: the next variant starts from a cluster without Calico."""
        for kind, name in (("daemonset", "calico-node"), ("deployment", "calico-kube-controllers"),
                           ("deployment", "calico-typha"), ("service", "calico-typha"), ("configmap", "calico-config")):
            self.kubectl_run("delete", kind, name, "-n", "kube-system", "--ignore-not-found", "--wait=true", "--timeout=60s")
        self.wait_for(lambda: not self.calico_pods() and not self.typha_pods(), 90, "the Calico pods to be gone")
        self.variant = None

    def calico_state(self, state="upgraded", variant="etcd"):
        """Bring Calico to `state` as an operator did: apply v2.6, wait; apply v3.0, wait.

        `upgraded`: v2.6 then v3.0 (history holds both). `not-upgraded`: v2.6 only. `none`: no Calico.
        Switching variant removes the workloads first; the same variant is simply re-applied.
        """
        if state not in STATES or variant not in VARIANTS:
            raise ValueError(f"unknown state {state!r} or variant {variant!r}")
        if self.variant not in (None, variant) or state in ("none", "not-upgraded"):
            self.remove_calico()
        if state == "none":
            return
        if self.variant is None:
            self.apply("2.6", variant)
            self.wait_for(lambda: self.workloads_settled(V26_IMAGES, variant), 120, "Calico v2.6 to be Running")
        self.variant = variant
        if state == "upgraded":
            self.apply("3.0", variant)
            if variant == "ondelete":
                # OnDelete: the new template replaces no pod; the operator deleted them by hand
                # (as Calico's upgrade docs say), once the controller had seen the template.
                self.wait_for(self.daemonset_observed, 60, "the DaemonSet controller to see the v3.0 template")
                self.replace_calico_node_pods(V30_IMAGES)
            self.wait_for(lambda: self.workloads_settled(V30_IMAGES, variant), 120, "Calico v3.0 to be Running")
        self.log(f"Calico {state} ({variant})")

    def daemonset_observed(self):
        ds = self.admin.get("/apis/apps/v1/namespaces/kube-system/daemonsets/calico-node")
        return ds.get("status", {}).get("observedGeneration", 0) >= ds["metadata"]["generation"]

    def replace_calico_node_pods(self, images):
        for p in self.calico_pods():
            if p["metadata"]["labels"].get("k8s-app") != "calico-node":
                continue
            if {c["image"] for c in p["spec"]["containers"]} <= images:
                continue
            self.kubectl_run("delete", "pod", p["metadata"]["name"], "-n", "kube-system", "--wait=false")

    # --- Typha and calico-config (the v3.0 KDD manifest's) -----------------------------------
    def typha_pods(self):
        q = {"labelSelector": "k8s-app=calico-typha"}
        return [p for p in self.admin.get("/api/v1/namespaces/kube-system/pods", **q)["items"]
                if not p["metadata"].get("deletionTimestamp")]

    def typha_settled(self, replicas):
        """calico-typha's Deployment observed and `replicas` pods Running and Ready (none terminating)."""
        dep = self.admin.get("/apis/apps/v1/namespaces/kube-system/deployments/calico-typha")
        st = dep.get("status", {})
        if st.get("observedGeneration", 0) < dep["metadata"]["generation"] or dep["spec"]["replicas"] != replicas:
            return False
        pods = self.typha_pods()
        return len(pods) == replicas and all(
            p.get("status", {}).get("phase") == "Running"
            and {c["type"]: c["status"] for c in p["status"].get("conditions", [])}.get("Ready") == "True" for p in pods)

    def scale_typha(self, replicas, timeout=60):
        """`kubectl scale deployment/calico-typha --replicas=N`, then wait until N Typha pods run,
        Ready, on the simulated kubelets. Typha is hostNetwork with containerPort 5473, so the
        scheduler puts at most one on each node: N <= the number of nodes."""
        self.kubectl_run("scale", "deployment/calico-typha", "-n", "kube-system", f"--replicas={replicas}")
        self.wait_for(lambda: self.typha_settled(replicas), timeout, f"{replicas} calico-typha pods Running and Ready")
        self.log(f"calico-typha scaled to {replicas}")

    def calico_config(self):
        """calico-config's data, as the API server has it."""
        return self.admin.get("/api/v1/namespaces/kube-system/configmaps/calico-config").get("data", {})

    def set_typha_service_name(self, name="calico-typha"):
        """Point Felix at Typha (`typha_service_name` in calico-config; "none" turns it off), as
        the v3.0 manifest tells an operator to, together with scale_typha. calico-node reads it
        at start: only pods created afterwards carry the new value."""
        self.admin.patch("/api/v1/namespaces/kube-system/configmaps/calico-config", {"data": {"typha_service_name": name}})
        self.log(f"calico-config typha_service_name={name}")

    def replace_calico_config(self, data):
        """Replace calico-config's whole `data` with `data` (a dict of strings); returns the old data.
        A PUT of the live object: its metadata (kubectl's last-applied annotation) stays, so a
        later `kubectl apply` of a manifest merges with what is there as it would for an operator."""
        path = "/api/v1/namespaces/kube-system/configmaps/calico-config"
        cm = self.admin.get(path)
        old = cm.get("data", {})
        cm["data"] = dict(data)
        self.admin.put(path, cm)
        self.log(f"calico-config data replaced: {', '.join(sorted(data))}")
        return old

    # --- filler pods: a big cluster's pod count without its load --------------------------------
    FILLER_SCHEDULER = "no-such-scheduler"
    FILLER_APPS = ("cart", "checkout", "catalog", "search", "payments", "profile", "reviews", "shipping")

    def filler_pod(self, namespace, index):
        """An ordinary app pod (not hostNetwork; labels, env, ports, resources, a probe: ~2 KB of
        JSON once the API server has defaulted it), bound to node-1 as a scheduler would have
        bound it, so that it is a pod that can lose its network (a pod never scheduled cannot),
        yet without a simulated kubelet's load: the kubelets list bound pods without the label
        `calico-downgrade/filler`, so it stays Pending. Its schedulerName names no running
        scheduler, in case it is ever created unbound."""
        app = self.FILLER_APPS[index % len(self.FILLER_APPS)]
        digest = f"{(index * 2654435761) % 16 ** 10:010x}"
        return {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {
                "name": f"{app}-{digest[:10]}-{index:05d}", "namespace": namespace,
                "labels": {"app.kubernetes.io/name": app, "app.kubernetes.io/part-of": "shop", "app.kubernetes.io/version": "1.14.3",
                           "tier": "backend", "pod-template-hash": digest[:10], "calico-downgrade/filler": "true"},
                "annotations": {"prometheus.io/scrape": "true", "prometheus.io/port": "9102"},
            },
            "spec": {
                "nodeName": "node-1",
                "schedulerName": self.FILLER_SCHEDULER,
                "terminationGracePeriodSeconds": 30,
                "containers": [{
                    "name": app, "image": f"registry.example.com/shop/{app}:1.14.3",
                    "ports": [{"name": "http", "containerPort": 8080}, {"name": "metrics", "containerPort": 9102}],
                    "env": [
                        {"name": "LOG_LEVEL", "value": "info"},
                        {"name": "HTTP_PORT", "value": "8080"},
                        {"name": "DATABASE_URL", "value": f"postgres://{app}@postgres.shop.svc.cluster.local:5432/{app}"},
                        {"name": "CACHE_URL", "value": "redis://redis.shop.svc.cluster.local:6379/0"},
                        {"name": "OTEL_EXPORTER_OTLP_ENDPOINT", "value": "http://otel-collector.observability:4317"},
                        {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                        {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                    ],
                    "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "500m", "memory": "256Mi"}},
                    "readinessProbe": {"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 10},
                }],
            },
        }

    def create_filler_pods(self, count, namespace="filler", start=0, threads=4):
        """Create pods `start`..`count`-1 in `namespace` (made if missing) with `threads` concurrent
        POSTs; an existing pod of the same name counts as created. Returns the seconds it took.
        Measured (2 cores, 4 threads): see the module docstring."""
        ns_path = "/api/v1/namespaces"
        try:
            self.admin.post(ns_path, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
        except kube.ApiError as e:
            if e.status != 409:
                raise
        # The ServiceAccount admission plugin refuses pods until the namespace's default
        # ServiceAccount has its token.
        self.wait_for(lambda: self._service_account_ready(namespace, "default"), 60, f"the {namespace} default ServiceAccount")
        t0 = time.monotonic()
        errors = []

        def worker(k):
            for i in range(start + k, count, threads):
                if errors:
                    return
                for attempt in range(20):
                    try:
                        self.admin.post(f"{ns_path}/{namespace}/pods", self.filler_pod(namespace, i))
                        break
                    except kube.ApiError as e:
                        if e.status == 409:
                            break
                        if e.status not in (429, 500, 503, 504) or attempt == 19:
                            errors.append(e)
                            return
                    except (OSError, http.client.HTTPException) as e:
                        if attempt == 19:
                            errors.append(e)
                            return
                    time.sleep(0.1 * (attempt + 1))

        pool = [threading.Thread(target=worker, args=(k,), daemon=True) for k in range(threads)]
        for t in pool:
            t.start()
        for t in pool:
            t.join()
        if errors:
            raise RuntimeError(f"creating filler pods failed: {errors[0]}")
        took = time.monotonic() - t0
        self.log(f"{count - start} filler pods created in {namespace} in {took:.1f}s")
        return took

    def filler_count(self, namespace="filler"):
        try:
            items = self.admin.get(f"/api/v1/namespaces/{namespace}/pods", labelSelector="calico-downgrade/filler=true")["items"]
        except kube.ApiError as e:
            if e.status == 404:
                return 0
            raise
        return len(items)

    def remove_filler_pods(self, namespace="filler", timeout=180):
        """Delete the namespace and wait until it (and so every filler pod) is gone. Returns seconds."""
        t0 = time.monotonic()
        try:
            # One deletecollection first: the pods go at once, where the namespace controller
            # alone deletes them one by one at its client's 20 requests/s (~55 s for 3000). With
            # no grace period: they are bound to node-1, whose simulated kubelet leaves filler
            # pods alone, so a graceful deletion would never be finished by anyone.
            self.admin.delete(f"/api/v1/namespaces/{namespace}/pods",
                              {"kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": 0})
            self.admin.delete(f"/api/v1/namespaces/{namespace}")
        except kube.ApiError as e:
            if e.status != 404:
                raise

        def gone():
            try:
                self.admin.get(f"/api/v1/namespaces/{namespace}")
                return False
            except kube.ApiError as e:
                if e.status == 404:
                    return True
                raise
        self.wait_for(gone, timeout, f"namespace {namespace} to be deleted")
        took = time.monotonic() - t0
        self.log(f"namespace {namespace} deleted in {took:.1f}s")
        return took

    # --- kubeconfigs: through the proxy, and broken the ways an operator meets ----------------
    def admin_config(self):
        """The admin kubeconfig as a dict (a fresh copy to change)."""
        with open(self.admin_kubeconfig) as f:
            return json.load(f)

    def write_kubeconfig(self, name, cfg):
        path = os.path.join(self.run_dir, f"{name}.kubeconfig")
        with open(path, "w") as f:
            json.dump(cfg, f, indent=1)
        return path

    def kubeconfig_with_server(self, server, name):
        """The admin kubeconfig with its cluster's server replaced by `server`."""
        cfg = self.admin_config()
        cfg["clusters"][0]["cluster"]["server"] = server
        return self.write_kubeconfig(name, cfg)

    def proxied_kubeconfig(self, proxy_port):
        """The admin kubeconfig with the server at a proxy.Proxy on `proxy_port` (same CA, same user)."""
        return self.kubeconfig_with_server(f"https://127.0.0.1:{proxy_port}", f"admin-via-{proxy_port}")

    def kubeconfig_untrusted_ca(self):
        """The server's certificate is signed by a CA the kubeconfig does not trust (its
        certificate-authority is another CA). `kubectl get pods`, exit 1 at once (0.06 s):
        1.20: `Unable to connect to the server: x509: certificate signed by unknown authority`;
        1.33: five `E... memcache.go:265] "Unhandled Error" err="couldn't get current server API
        group list: Get \"https://127.0.0.1:PORT/api?timeout=32s\": tls: failed to verify
        certificate: x509: certificate signed by unknown authority"` lines, then
        `Unable to connect to the server: tls: failed to verify certificate: x509: certificate
        signed by unknown authority`."""
        other = os.path.join(self.pki, "other-ca")
        os.makedirs(other, exist_ok=True)
        if not os.path.exists(os.path.join(other, "ca.crt")):
            openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "3650",
                    "-subj", "/CN=some-other-ca", "-addext", "basicConstraints=critical,CA:TRUE",
                    "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=other)
        cfg = self.admin_config()
        cfg["clusters"][0]["cluster"]["certificate-authority"] = os.path.join(other, "ca.crt")
        return self.write_kubeconfig("untrusted-ca", cfg)

    def kubeconfig_unresolvable(self):
        """The server is a name that does not resolve (.invalid never does, RFC 6761).
        `kubectl get pods`, exit 1 in 0.05 s here (the resolver answers NXDOMAIN at once):
        1.20: `Unable to connect to the server: dial tcp: lookup no-such-host.invalid on
        <nameserver>:53: no such host`; 1.33: five memcache.go:265 "Unhandled Error" lines
        (`couldn't get current server API group list: Get "https://no-such-host.invalid:6443/
        api?timeout=32s": dial tcp: lookup ...: no such host`), then the 1.20 line."""
        return self.kubeconfig_with_server("https://no-such-host.invalid:6443", "unresolvable")

    def kubeconfig_refused(self):
        """The server is a 127.0.0.1 port where nothing listens: connection refused.
        `kubectl get pods`, exit 1 in 0.05 s: 1.20: `The connection to the server
        127.0.0.1:PORT was refused - did you specify the right host or port?`; 1.33: five
        memcache.go:265 "Unhandled Error" lines (`... dial tcp 127.0.0.1:PORT: connect:
        connection refused`), then the same last line as 1.20."""
        return self.kubeconfig_with_server(f"https://127.0.0.1:{free_port()}", "refused")

    def kubeconfig_no_current_context(self):
        """A kubeconfig whose `current-context` is unset (its one context exists). kubectl
        does not say so: it falls back to http://localhost:8080. `kubectl get pods`, exit 1 in
        0.05 s (nothing on port 8080 here): 1.20: `The connection to the server localhost:8080
        was refused - did you specify the right host or port?`; 1.33: five memcache.go:265
        lines (`Get "http://localhost:8080/api?timeout=32s": dial tcp 127.0.0.1:8080: connect:
        connection refused`), then the same last line."""
        cfg = self.admin_config()
        del cfg["current-context"]
        return self.write_kubeconfig("no-current-context", cfg)

    def kubeconfig_missing_context(self):
        """A kubeconfig whose current-context names a context that is not in it.
        `kubectl get pods`, exit 1 in 0.04 s, one line from 1.20 and 1.33 alike:
        `Error in configuration: context was not found for specified context: deleted-context`."""
        cfg = self.admin_config()
        cfg["current-context"] = "deleted-context"
        return self.write_kubeconfig("missing-context", cfg)

    def kubeconfig_two_contexts(self):
        """The admin kubeconfig with two contexts, `real-cluster` (current) and `staging` (the
        same cluster and user): `--context nope` is unknown while two others exist.
        `kubectl --context nope get pods`, exit 1 in 0.04 s, 1.20 and 1.33 alike: `Error in
        configuration: context was not found for specified context: nope` (the existing
        contexts are not listed); `--context staging` works."""
        cfg = self.admin_config()
        cfg["contexts"].append({"name": "staging", "context": {"cluster": "real-cluster", "user": cfg["users"][0]["name"]}})
        return self.write_kubeconfig("two-contexts", cfg)

    # --- RBAC ---------------------------------------------------------------------------------
    RBAC = "/apis/rbac.authorization.k8s.io/v1"

    def _upsert(self, collection, body):
        """Create the object, or replace it if it exists (idempotent)."""
        try:
            return self.admin.post(collection, body)
        except kube.ApiError as e:
            if e.status != 409:
                raise
        path = f"{collection}/{body['metadata']['name']}"
        live = self.admin.get(path)
        body = dict(body, metadata={**body["metadata"], "resourceVersion": live["metadata"]["resourceVersion"]})
        return self.admin.put(path, body)

    def _delete_quietly(self, path):
        try:
            self.admin.delete(path)
        except kube.ApiError as e:
            if e.status != 404:
                raise

    @staticmethod
    def _subject(user):
        return [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}]

    def bind_role(self, user, namespace, rules, name=None):
        """A Role with `rules` (dicts as in a manifest: apiGroups, resources, verbs, ...) in
        `namespace` and a RoleBinding of it to `user`, both named `name` (default tier-<user>);
        run again, it replaces them. Returns the user's kubeconfig."""
        name = name or f"tier-{user}"
        ns = f"{self.RBAC}/namespaces/{namespace}"
        self._upsert(f"{ns}/roles", {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
                                     "metadata": {"name": name, "namespace": namespace}, "rules": list(rules)})
        self._upsert(f"{ns}/rolebindings", {
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
            "metadata": {"name": name, "namespace": namespace}, "subjects": self._subject(user),
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name}})
        return self.user_kubeconfig(user)

    def unbind_role(self, user, namespace, name=None):
        name = name or f"tier-{user}"
        self._delete_quietly(f"{self.RBAC}/namespaces/{namespace}/rolebindings/{name}")
        self._delete_quietly(f"{self.RBAC}/namespaces/{namespace}/roles/{name}")

    def bind_cluster_role(self, user, rules, name=None):
        """A ClusterRole with `rules` and a ClusterRoleBinding of it to `user`, both named `name`
        (default tier-<user>); idempotent. Returns the user's kubeconfig."""
        name = name or f"tier-{user}"
        self._upsert(f"{self.RBAC}/clusterroles", {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                                                   "metadata": {"name": name}, "rules": list(rules)})
        self._upsert(f"{self.RBAC}/clusterrolebindings", {
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
            "metadata": {"name": name}, "subjects": self._subject(user),
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name}})
        return self.user_kubeconfig(user)

    def unbind_cluster_role(self, user, name=None):
        name = name or f"tier-{user}"
        self._delete_quietly(f"{self.RBAC}/clusterrolebindings/{name}")
        self._delete_quietly(f"{self.RBAC}/clusterroles/{name}")

    # --- shutdown -----------------------------------------------------------------------------
    def stop(self):
        if self.stopped:
            return
        self.stopped = True
        if getattr(self, "control", None):
            self.control.close()
        for p in self.proxies:
            p.close()
        if getattr(self, "kubelets", None):
            self.kubelets.stop()
        for name in ("kube-scheduler", "kube-controller-manager", "kube-apiserver", "etcd"):
            p = self.procs.get(name)
            if p:
                p.stop()
        self.log("stopped")

    def pids(self):
        return [p.popen.pid for p in self.procs.values() if p.popen]

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


class Control:
    """The control socket: one JSON request per connection (see ctl.py), answered with JSON."""

    def __init__(self, cluster):
        self.cluster = cluster
        self.path = os.path.join(cluster.run_dir, "control.sock")
        if os.path.exists(self.path):
            os.unlink(self.path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(self.path)
        self.sock.listen(4)
        self.thread = threading.Thread(target=self.serve, daemon=True, name="control")
        self.thread.start()

    def handle(self, req):
        c, op, arg = self.cluster, req.get("op"), req.get("arg")
        if op == "add-node":
            c.kubelets.add(arg)
        elif op == "remove-node":
            c.kubelets.remove(arg)
        elif op == "not-ready":
            c.kubelets.not_ready(arg)
        elif op == "not-ready-now":
            c.kubelets.not_ready(arg, post=True)
        elif op == "ready":
            c.kubelets.ready(arg)
        elif op == "nodes":
            return {"nodes": c.kubelets.names()}
        elif op == "fault":
            c.kubelets.fault(arg)
        elif op == "phase-delay":
            c.kubelets.set_phase_delay(float(arg))
        elif op == "kill-apiserver":
            c.kill_apiserver()
        elif op == "start-apiserver":
            c.start_apiserver()
        elif op == "restart-apiserver":
            c.restart_apiserver(float(arg or 10))
        elif op == "calico":
            state, _, variant = (arg or "upgraded").partition("/")
            c.calico_state(state, variant or "etcd")
        elif op == "user-kubeconfig":
            user, _, groups = arg.partition("/")
            return {"kubeconfig": c.user_kubeconfig(user, [g for g in groups.split(",") if g])}
        elif op == "filler-pods":
            n = int(arg)
            have = c.filler_count()
            if n < have:
                c.remove_filler_pods()
                have = 0
            took = c.create_filler_pods(n, start=have) if n > have else 0.0
            return {"filler_pods": n, "seconds": took}
        elif op == "scale-typha":
            c.scale_typha(int(arg))
        elif op == "typha-service":
            c.set_typha_service_name(arg or "calico-typha")
        elif op == "proxy":
            rtt = float(arg or 0)
            p = Proxy(c.ports["apiserver"], rtt)
            c.proxies.append(p)
            return {"port": p.port, "kubeconfig": c.proxied_kubeconfig(p.port)}
        elif op == "kubeconfig":
            makers = {"untrusted-ca": c.kubeconfig_untrusted_ca, "unresolvable": c.kubeconfig_unresolvable,
                      "refused": c.kubeconfig_refused, "no-current-context": c.kubeconfig_no_current_context,
                      "missing-context": c.kubeconfig_missing_context, "two-contexts": c.kubeconfig_two_contexts}
            if arg not in makers:
                raise ValueError(f"unknown kubeconfig {arg!r}; one of {', '.join(makers)}")
            return {"kubeconfig": makers[arg]()}
        elif op == "info":
            return {"server": c.server, "run_dir": c.run_dir, "kubeconfig": c.admin_kubeconfig, "pids": c.pids()}
        else:
            raise ValueError(f"unknown op {op!r}")
        return {}

    def serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                try:
                    with conn.makefile("rb") as lines:
                        request = json.loads(lines.readline())
                    answer = {"ok": True, **self.handle(request)}
                except Exception as e:  # noqa: BLE001 - the error goes back to the caller
                    answer = {"ok": False, "error": str(e)}
                try:
                    conn.sendall((json.dumps(answer) + "\n").encode())
                except OSError:
                    pass

    def close(self):
        try:
            self.sock.close()
            os.unlink(self.path)
        except OSError:
            pass


def default_bin_dir():
    cache = os.environ.get("CALICO_DOWNGRADE_REAL_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "calico-downgrade", "real-cluster", "v1.20.2")
    return os.path.join(cache, "bin")


def install_signal_handlers():
    """SIGTERM/SIGHUP become SystemExit (so finally/atexit stop the cluster); SIGINT stays KeyboardInterrupt."""
    def handler(signum, _frame):
        raise SystemExit(128 + signum)
    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGHUP, handler)


def main():
    ap = argparse.ArgumentParser(description="Start the real control plane, run CMD, stop everything.")
    ap.add_argument("command", choices=["up"])
    ap.add_argument("--state", choices=STATES, default="upgraded")
    ap.add_argument("--variant", choices=VARIANTS, default="etcd")
    ap.add_argument("--nodes", type=int, default=3)
    ap.add_argument("--min-request-timeout", type=int, help="kube-apiserver's (seconds; it ends watches after 1-2x as long)")
    ap.add_argument("--max-unavailable", help="calico-node's rollingUpdate.maxUnavailable as applied, e.g. 10%%")
    ap.add_argument("--bin-dir", default=default_bin_dir())
    ap.add_argument("--run-dir")
    ap.add_argument("--keep", action="store_true", help="keep the run folder afterwards")
    argv = sys.argv[1:]
    cut = argv.index("--") if "--" in argv else len(argv)
    a = ap.parse_args(argv[:cut])
    cmd = argv[cut + 1:]
    if not cmd:
        ap.error("no command given after --")
    run_dir = a.run_dir or tempfile.mkdtemp(prefix="real-cluster-")
    install_signal_handlers()
    rc = 1
    cluster = None
    try:
        cluster = Cluster(run_dir, a.bin_dir, nodes=a.nodes, min_request_timeout=a.min_request_timeout,
                          max_unavailable=a.max_unavailable)
        cluster.calico_state(a.state, a.variant)
        env = dict(os.environ, KUBECONFIG=cluster.admin_kubeconfig, CALICO_DOWNGRADE_REAL_RUN=cluster.run_dir,
                   CALICO_DOWNGRADE_REAL_CTL=cluster.control.path)
        child = subprocess.Popen(cmd, env=env)
        try:
            rc = child.wait()
        except BaseException:
            child.terminate()
            try:
                child.wait(10)
            except subprocess.TimeoutExpired:
                child.kill()
            raise
    except KeyboardInterrupt:
        rc = 130
    except SystemExit as e:
        rc = e.code if isinstance(e.code, int) else 1
    except Exception as e:  # noqa: BLE001
        print(f"with-cluster: {e}", file=sys.stderr)
        rc = 1
    finally:
        if cluster:
            cluster.stop()
        if a.run_dir is None and not a.keep and rc == 0:
            shutil.rmtree(run_dir, ignore_errors=True)
        elif cluster:
            print(f"with-cluster: run folder kept: {run_dir}", file=sys.stderr)
    sys.exit(rc)


if __name__ == "__main__":
    main()
