"""Simulated kubelets for the real-cluster tier: nodes that register, stay Ready and run pods.

`Kubelets` runs one thread per node against the real API server:
- registers the Node (capacity/allocatable cpu, memory, pods; InternalIP 127.0.1.N; kubeletVersion
  v1.20.2) and keeps it Ready: a Lease in kube-node-lease renewed every second and the node
  status (Ready condition heartbeat) every few seconds;
- takes the pods bound to it from one shared list (`PodFeed`: every bound pod, read from the API
  server's watch cache a few times a second for all nodes at once) and moves each one Pending ->
  ContainerCreating (containerStatuses waiting) -> Running (conditions Initialized, Ready,
  ContainersReady, PodScheduled True; containerStatuses ready, started, image, imageID, running),
  one phase every `phase_delay` seconds;
- for a pod with a deletionTimestamp writes its containers as terminated and then deletes it
  with gracePeriodSeconds=0;
- a running pod whose Ready condition the node controller set False (the node was unreachable)
  is reported ready again once the kubelet reaches the API server, as a real kubelet does;
- every API error is retried with capped backoff (requests time out after 3 s), so it rides out
  an API server restart;
- an image can be made to fail on a node (`Kubelets.fault`): `unpullable` (the container waits
  with ErrImagePull, then ImagePullBackOff, and back, one phase each, with the messages kubelet
  1.20 with Docker writes; the pod stays Pending) or `crash` (the container starts and exits
  with code 1 each phase: CrashLoopBackOff, its restartCount rising, lastState terminated with
  reason Error; the pod Running, not ready).

Scale: one list per tick for all nodes (not one per node), the Lease PUT from the object the
last renewal returned (no GET first), and the two intervals as arguments: `lease_every` (1 s by
default; a real kubelet renews every 10 s) and `status_every` (5 s; a real kubelet reports every
5 min once it has a Lease: the 1.20 node controller counts a renewed Lease as a heartbeat).
What that costs with 120 nodes: see `Kubelets`.

Controls (in-process, or through cluster.py's control socket / ctl.py): add a node, remove a
node (stop its kubelet, delete its pods and the Node object), make a node NotReady (its kubelet
stops: no heartbeats, no pod updates, like a dead machine; the node controller then sets the
node Ready=Unknown and its pods' Ready condition False), make it Ready again, stop all.
"""

import datetime
import hashlib
import random
import threading
import time

from kube import ApiError

KUBELET_VERSION = "v1.20.2"


def now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def now_micro():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def pod_ready(pod):
    return any(c["type"] == "Ready" and c["status"] == "True" for c in pod.get("status", {}).get("conditions", []))


def digest(text):
    return hashlib.sha256(text.encode()).hexdigest()


class Node(threading.Thread):
    """The kubelet of one node."""

    def __init__(self, client, name, index, phase_delay, log, feed, lease_every=1.0, status_every=5.0):
        super().__init__(name=f"kubelet-{name}", daemon=True)
        self.client, self.node, self.index = client, name, index
        self.phase_delay, self.log = phase_delay, log
        self.feed, self.lease_every, self.status_every = feed, lease_every, status_every
        self.lease = None  # the Lease as the last renewal returned it
        self.fed = -1  # the feed's generation this kubelet last worked from
        self.stopping = threading.Event()
        self.paused = threading.Event()  # NotReady: the machine is "dead"
        self.registered = threading.Event()
        self.pods = {}  # uid -> {"seen": t, "stage": 0|1|2, "terminated_at": t}
        self.faults = {}  # image -> "unpullable" | "crash"
        self.last_status = 0.0
        self.backoff = 0.2

    # --- API helpers -------------------------------------------------------------------------
    def ok(self):
        self.backoff = 0.2

    def failed(self, what, err):
        self.log(f"{self.node}: {what}: {err}")
        self.stopping.wait(self.backoff)
        self.backoff = min(self.backoff * 2, 2.0)

    # --- node object --------------------------------------------------------------------------
    def node_status(self, ready=True):
        t = now()
        cond = lambda typ, status, reason, msg: {  # noqa: E731
            "type": typ, "status": status, "reason": reason, "message": msg,
            "lastHeartbeatTime": t, "lastTransitionTime": t,
        }
        # Room for the filler pods of a big cluster (cluster.py binds them all to node-1): with a
        # real node's 4 CPUs and 110 pods, the DaemonSet controller would find node-1 full and
        # give it no calico-node.
        cap = {"cpu": "1000", "memory": "4Ti", "pods": "20000", "ephemeral-storage": "50Gi"}
        return {
            "capacity": cap,
            "allocatable": cap,
            "conditions": [
                cond("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
                cond("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
                cond("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
                cond("Ready", "True" if ready else "False", "KubeletReady" if ready else "KubeletNotReady",
                     "kubelet is posting ready status" if ready else "kubelet stopped"),
            ],
            "addresses": [{"type": "InternalIP", "address": f"127.0.1.{self.index}"}, {"type": "Hostname", "address": self.node}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {
                "machineID": digest(self.node)[:32], "systemUUID": digest("uuid" + self.node)[:32],
                "bootID": digest("boot" + self.node)[:32], "kernelVersion": "5.10.0",
                "osImage": "Debian GNU/Linux 12 (bookworm)", "containerRuntimeVersion": "docker://20.10.5",
                "kubeletVersion": KUBELET_VERSION, "kubeProxyVersion": KUBELET_VERSION,
                "operatingSystem": "linux", "architecture": "amd64",
            },
        }

    def register(self):
        body = {
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": self.node, "labels": {
                "kubernetes.io/hostname": self.node, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
                "beta.kubernetes.io/os": "linux", "beta.kubernetes.io/arch": "amd64"}},
            "spec": {},
        }
        try:
            self.client.post("/api/v1/nodes", body)
        except ApiError as e:
            if e.status != 409:
                raise
        self.put_status()
        self.registered.set()
        self.log(f"{self.node}: registered")

    def put_status(self, ready=True):
        node = self.client.get(f"/api/v1/nodes/{self.node}")
        node["status"] = {**node.get("status", {}), **self.node_status(ready)}
        self.client.put(f"/api/v1/nodes/{self.node}/status", node)
        self.last_status = time.monotonic()

    def renew_lease(self):
        path = f"/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{self.node}"
        spec = {"holderIdentity": self.node, "leaseDurationSeconds": 40, "renewTime": now_micro()}
        lease = self.lease
        if lease is None:
            try:
                lease = self.client.get(path)
            except ApiError as e:
                if e.status != 404:
                    raise
                self.lease = self.client.post("/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases", {
                    "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                    "metadata": {"name": self.node, "namespace": "kube-node-lease"}, "spec": spec})
                return
        lease["spec"] = {**lease.get("spec", {}), **spec}
        try:
            self.lease = self.client.put(path, lease)
        except ApiError as e:
            self.lease = None  # changed or gone meanwhile: read it again next time
            if e.status not in (404, 409):
                raise

    # --- pods ---------------------------------------------------------------------------------
    def pod_ip(self, pod):
        if pod["spec"].get("hostNetwork"):
            return f"127.0.1.{self.index}"
        n = int(digest(pod["metadata"]["uid"])[:4], 16)
        return f"10.244.{self.index}.{n % 250 + 2}"

    def status_for(self, pod, stage):
        t = now()
        spec = pod["spec"]
        old = pod.get("status", {})
        start = old.get("startTime") or t
        ready = "True" if stage == 2 else "False"
        conds = [
            {"type": "Initialized", "status": "True", "lastProbeTime": None, "lastTransitionTime": start},
            {"type": "Ready", "status": ready, "lastProbeTime": None, "lastTransitionTime": t},
            {"type": "ContainersReady", "status": ready, "lastProbeTime": None, "lastTransitionTime": t},
            {"type": "PodScheduled", "status": "True", "lastProbeTime": None, "lastTransitionTime": start},
        ]
        if stage < 2:
            for c in conds[1:3]:
                c["reason"] = "ContainersNotReady"
                c["message"] = "containers with unready status: [" + " ".join(c2["name"] for c2 in spec["containers"]) + "]"
        statuses = []
        for c in spec["containers"]:
            s = {"name": c["name"], "image": c["image"], "imageID": "", "restartCount": 0, "ready": stage == 2, "started": stage == 2}
            if stage < 2:
                s["state"] = {"waiting": {"reason": "ContainerCreating"}}
                s["lastState"] = {}
            else:
                s["state"] = {"running": {"startedAt": t}}
                s["lastState"] = {}
                s["imageID"] = "docker-pullable://" + c["image"].split(":")[0] + "@sha256:" + digest(c["image"])
                s["containerID"] = "docker://" + digest(pod["metadata"]["uid"] + c["name"])
            statuses.append(s)
        status = {
            "phase": "Running" if stage == 2 else "Pending",
            "conditions": conds,
            "hostIP": f"127.0.1.{self.index}",
            "startTime": start,
            "containerStatuses": statuses,
            "qosClass": old.get("qosClass", "BestEffort"),
        }
        if stage == 2:
            ip = self.pod_ip(pod)
            status["podIP"] = ip
            status["podIPs"] = [{"ip": ip}]
        return status

    def faulty(self, pod):
        """The pod's first container whose image this node fails, and how."""
        for c in pod["spec"]["containers"]:
            if c["image"] in self.faults:
                return c, self.faults[c["image"]]
        return None, None

    def fault_status(self, pod, turn):
        """The status of a pod whose image fails here, at its `turn`th phase (1, 2, …): see the
        module comment. The other containers run."""
        status = self.status_for(pod, 1)
        failing, how = self.faulty(pod)
        ns, name, uid = pod["metadata"]["namespace"], pod["metadata"]["name"], pod["metadata"]["uid"]
        t = now()
        for s in status["containerStatuses"]:
            if s["name"] != failing["name"]:
                s.update({"ready": True, "started": True, "state": {"running": {"startedAt": status["startTime"]}},
                          "imageID": "docker-pullable://" + s["image"].split(":")[0] + "@sha256:" + digest(s["image"]),
                          "containerID": "docker://" + digest(uid + s["name"])})
                continue
            if how == "unpullable":
                if turn % 2 == 1:
                    s["state"] = {"waiting": {"reason": "ErrImagePull", "message": (
                        f"rpc error: code = Unknown desc = Error response from daemon: manifest for {s['image']} "
                        f"not found: manifest unknown: manifest unknown")}}
                else:
                    s["state"] = {"waiting": {"reason": "ImagePullBackOff",
                                              "message": f"Back-off pulling image \"{s['image']}\""}}
            else:
                backoff = min(10 * 2 ** max(turn - 1, 0), 300)
                s.update({
                    "restartCount": turn, "started": False,
                    "imageID": "docker-pullable://" + s["image"].split(":")[0] + "@sha256:" + digest(s["image"]),
                    "containerID": "docker://" + digest(f"{uid}{s['name']}{turn}"),
                    "state": {"waiting": {"reason": "CrashLoopBackOff", "message": (
                        f"back-off {backoff}s restarting failed container={s['name']} pod={name}_{ns}({uid})")}},
                    "lastState": {"terminated": {"exitCode": 1, "reason": "Error", "startedAt": t, "finishedAt": t,
                                                 "containerID": "docker://" + digest(f"{uid}{s['name']}{turn}")}},
                })
        if how == "crash":
            # A container that has run once makes the pod Running, however it crashes since.
            status["phase"] = "Running"
            ip = self.pod_ip(pod)
            status["podIP"], status["podIPs"] = ip, [{"ip": ip}]
        for c in status["conditions"]:
            if c["type"] in ("Ready", "ContainersReady"):
                c["message"] = f"containers with unready status: [{failing['name']}]"
        return status

    def terminated_status(self, pod):
        t = now()
        status = dict(pod.get("status", {}))
        statuses = []
        for c in pod["spec"]["containers"]:
            statuses.append({
                "name": c["name"], "image": c["image"], "imageID": "", "restartCount": 0, "ready": False, "started": False,
                "state": {"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": status.get("startTime", t), "finishedAt": t}},
                "lastState": {},
            })
        status["containerStatuses"] = statuses
        for c in status.get("conditions", []):
            if c["type"] in ("Ready", "ContainersReady"):
                c["status"] = "False"
                c["lastTransitionTime"] = t
        return status

    def put_pod_status(self, pod, status):
        ns, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
        pod = dict(pod)
        pod["status"] = status
        try:
            self.client.put(f"/api/v1/namespaces/{ns}/pods/{name}/status", pod)
        except ApiError as e:
            if e.status not in (404, 409):  # gone or changed meanwhile: the next poll sees it
                raise

    def sync_pods(self, items):
        """Move this node's pods (`items`, from the shared feed) on by one step each."""
        t = time.monotonic()
        live = set()
        for pod in items:
            uid = pod["metadata"]["uid"]
            live.add(uid)
            st = self.pods.setdefault(uid, {"seen": t, "stage": -1, "since": t})
            if pod["metadata"].get("deletionTimestamp"):
                if "terminated_at" not in st:
                    self.put_pod_status(pod, self.terminated_status(pod))
                    st["terminated_at"] = t
                elif t - st["terminated_at"] >= self.phase_delay:
                    ns, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
                    try:
                        self.client.delete(f"/api/v1/namespaces/{ns}/pods/{name}",
                                           {"kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": 0,
                                            "preconditions": {"uid": uid}})
                    except ApiError as e:
                        if e.status not in (404, 409):
                            raise
                continue
            phase = pod.get("status", {}).get("phase")
            if phase in ("Succeeded", "Failed"):
                continue
            if st["stage"] == -1:
                # A pod already Running (e.g. after this kubelet restarted) is left as it is.
                if phase == "Running" and all(c.get("ready") for c in pod["status"].get("containerStatuses", [])) \
                        and pod["status"].get("containerStatuses"):
                    st["stage"] = 2
                    continue
                st["stage"], st["since"] = 0, t
            if st["stage"] == 2 and not pod_ready(pod) and t - st["since"] >= 1.0:
                # The node controller marked it not ready while this node was unreachable: a
                # kubelet that is back reports its (still running) containers ready again (not
                # in the first second after it said so itself: the feed may not have seen it).
                self.put_pod_status(pod, self.status_for(pod, 2))
                continue
            if st["stage"] >= 0 and self.faulty(pod)[0] is not None:
                # An image this node fails: the pod never becomes ready; each phase a new turn.
                if t - st["since"] >= self.phase_delay:
                    st["turn"] = st.get("turn", 0) + 1
                    self.put_pod_status(pod, self.fault_status(pod, st["turn"]))
                    st["stage"], st["since"] = 1, t
                continue
            if st["stage"] < 2 and t - st["since"] >= self.phase_delay:
                self.put_pod_status(pod, self.status_for(pod, st["stage"] + 1))
                st["stage"], st["since"] = st["stage"] + 1, t
        for uid in list(self.pods):
            if uid not in live:
                del self.pods[uid]

    def run(self):
        # Spread over the interval, so a hundred nodes do not renew in the same instant.
        next_lease = time.monotonic() + random.random() * self.lease_every
        while not self.stopping.is_set():
            if self.paused.is_set():
                self.stopping.wait(0.2)
                continue
            try:
                if not self.registered.is_set():
                    self.register()
                t = time.monotonic()
                if t >= next_lease:
                    self.renew_lease()
                    next_lease = t + self.lease_every
                if t - self.last_status >= self.status_every:
                    self.put_status()
                generation, items = self.feed.pods(self.node, self.fed, self.stopping)
                if generation != self.fed:
                    self.sync_pods(items)
                    self.fed = generation
                self.ok()
            except Exception as e:  # noqa: BLE001 - every failure is retried with backoff
                self.failed("sync", e)
                continue


class PodFeed(threading.Thread):
    """Every pod bound to a node, listed for all the simulated kubelets at once, `every` seconds.

    resourceVersion=0: served from the API server's watch cache, as a real kubelet's informer
    is, instead of a read of every pod from etcd; one list for all nodes instead of one per
    node (which with a hundred nodes was a thousand lists a second). The cache can lag a few
    ms: a status PUT on a stale object gets 409 and is retried on the next list."""

    def __init__(self, client, log, every=0.1):
        super().__init__(name="kubelet-pod-feed", daemon=True)
        self.client, self.log, self.every = client, log, every
        self.stopping = threading.Event()
        self.changed = threading.Condition()
        self.generation = 0
        self.by_node = {}
        self.backoff = 0.2

    def pods(self, node, seen, stopping, wait=0.5):
        """(generation, this node's pods): a newer list than generation `seen`, or after `wait`
        seconds the same one again (the caller then has only its heartbeats to do)."""
        with self.changed:
            if self.generation == seen and not stopping.is_set():
                self.changed.wait(wait)
            return self.generation, self.by_node.get(node, [])

    def run(self):
        while not self.stopping.is_set():
            started = time.monotonic()
            try:
                # The filler pods (cluster.py) stand for a big cluster's pods without its load.
                items = self.client.get("/api/v1/pods", fieldSelector="spec.nodeName!=",
                                        labelSelector="!calico-downgrade/filler", resourceVersion="0")["items"]
            except Exception as e:  # noqa: BLE001 - retried with backoff, as a kubelet would
                self.log(f"pod feed: {e}")
                self.stopping.wait(self.backoff)
                self.backoff = min(self.backoff * 2, 2.0)
                continue
            self.backoff = 0.2
            by_node = {}
            for pod in items:
                by_node.setdefault(pod["spec"]["nodeName"], []).append(pod)
            with self.changed:
                self.by_node = by_node
                self.generation += 1
                self.changed.notify_all()
            self.stopping.wait(max(0.0, self.every - (time.monotonic() - started)))

    def stop(self):
        self.stopping.set()
        with self.changed:
            self.changed.notify_all()


class Kubelets:
    """The set of simulated kubelets of one cluster.

    Scale: one pod list per tick for all nodes, one Lease PUT per node per `lease_every`.
    Measured on 2 cores (kube-apiserver v1.20.2, tier case big-rollout): with 120 nodes, the
    Python process that runs them (and the tier) used 0.13 to 0.19 of a core during a rollout
    of calico-node at maxUnavailable 10%."""

    def __init__(self, client, phase_delay=0.4, log=print, lease_every=1.0, status_every=5.0):
        self.client, self.phase_delay, self.log = client, phase_delay, log
        self.lease_every, self.status_every = lease_every, status_every
        self.nodes = {}
        self.lock = threading.Lock()
        self.feed = PodFeed(client, log)
        self.feed.start()

    def add(self, name, wait=True):
        with self.lock:
            if name in self.nodes:
                raise ValueError(f"node {name} already exists")
            index = len(self.nodes) + 1
            used = {n.index for n in self.nodes.values()}
            while index in used:
                index += 1
            node = Node(self.client, name, index, self.phase_delay, self.log, self.feed,
                        lease_every=self.lease_every, status_every=self.status_every)
            self.nodes[name] = node
            node.start()
        if wait and not node.registered.wait(60):
            raise RuntimeError(f"node {name} did not register within 60 s")
        return node

    def remove(self, name):
        """Stop the node's kubelet, delete its pods (as the pod GC would) and the Node object."""
        with self.lock:
            node = self.nodes.pop(name)
        node.stopping.set()
        node.join(5)
        items = self.client.get("/api/v1/pods", fieldSelector=f"spec.nodeName={name}")["items"]
        for pod in items:
            ns, pname = pod["metadata"]["namespace"], pod["metadata"]["name"]
            try:
                self.client.delete(f"/api/v1/namespaces/{ns}/pods/{pname}", {"kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": 0})
            except ApiError as e:
                if e.status != 404:
                    raise
        try:
            self.client.delete(f"/api/v1/nodes/{name}")
        except ApiError as e:
            if e.status != 404:
                raise
        self.log(f"{name}: removed")

    def not_ready(self, name, post=False):
        """The node's kubelet stops (no heartbeats, no pod updates): the node controller marks it
        NotReady (Unknown) after --node-monitor-grace-period and sets its pods' Ready condition
        False (seen on the 1.20 controller-manager). With `post`, the kubelet first reports
        Ready=False itself: the node is NotReady at once, but the 1.20 node controller leaves
        the pods' Ready condition alone until the grace period has passed."""
        node = self.nodes[name]
        node.paused.set()
        if post:
            time.sleep(0.3)  # let a sync in flight finish, so no Ready=True follows
            node.put_status(ready=False)
        self.log(f"{name}: kubelet stopped (node goes NotReady){' after posting Ready=False' if post else ''}")

    def ready(self, name):
        node = self.nodes[name]
        node.last_status = 0.0
        node.paused.clear()
        self.log(f"{name}: kubelet running again")

    def fault(self, spec):
        """`NODE=IMAGE:HOW`: from now on the node fails IMAGE (`unpullable` or `crash`, see the
        module comment) for the pods that use it; `NODE=IMAGE:none` makes it work again."""
        node_name, _, rest = spec.partition("=")
        image, _, how = rest.rpartition(":")
        if how not in ("unpullable", "crash", "none") or not image:
            raise ValueError(f"fault {spec!r}: expected NODE=IMAGE:unpullable|crash|none")
        node = self.nodes[node_name]
        if how == "none":
            node.faults.pop(image, None)
        else:
            node.faults[image] = how
        self.log(f"{node_name}: {image} {how}")

    def set_phase_delay(self, seconds):
        """Seconds per pod phase from now on, on every node (and nodes added later)."""
        self.phase_delay = seconds
        for n in list(self.nodes.values()):
            n.phase_delay = seconds

    def names(self):
        with self.lock:
            return sorted(self.nodes)

    def stop(self):
        with self.lock:
            nodes = list(self.nodes.values())
        self.feed.stop()
        for n in nodes:
            n.stopping.set()
        for n in nodes:
            n.join(5)
        self.feed.join(5)
