"""Control a running real cluster from a shell or a test: `python3 ctl.py OP [ARG]`.

The cluster (cluster.py) listens on a unix socket, `$CALICO_DOWNGRADE_REAL_CTL` (set by
scripts/real-cluster/with-cluster) or `--socket PATH`. Operations:
  add-node NAME | remove-node NAME | not-ready NAME | not-ready-now NAME | ready NAME | nodes
  phase-delay SECONDS             (each pod phase on every node takes this long from now on)
  fault NODE=IMAGE:HOW            (HOW: unpullable, crash, none: the node fails that image from now on)
  (not-ready: the kubelet stops; NotReady and its pods not ready after the 8 s grace period;
  not-ready-now: it posts Ready=False first, which makes the node NotReady at once)
  kill-apiserver | start-apiserver | restart-apiserver SECONDS
  calico STATE[/VARIANT]          (upgraded|not-upgraded|none, etcd|ondelete|kdd)
  user-kubeconfig USER[/GROUP,...] (prints the kubeconfig's path)
  filler-pods N                   (exactly N unscheduled app pods in namespace filler)
  scale-typha N | typha-service [NAME]   (Typha of the v3.0 KDD manifest; NAME "none" turns it off)
  proxy RTT_MS                    (a latency proxy to the API server: its port and a kubeconfig)
  kubeconfig untrusted-ca|unresolvable|refused|no-current-context|missing-context|two-contexts
  info
Prints the JSON answer; exits 1 when the cluster reports an error.
"""

import json
import os
import socket
import sys


def call(sock_path, op, arg=None, timeout=300):
    """Send one request to the cluster's control socket and return its JSON answer."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(sock_path)
        s.sendall((json.dumps({"op": op, "arg": arg}) + "\n").encode())
        with s.makefile("rb") as lines:
            return json.loads(lines.readline())


def main(argv):
    sock = os.environ.get("CALICO_DOWNGRADE_REAL_CTL")
    if argv[:1] == ["--socket"]:
        sock, argv = argv[1], argv[2:]
    if not sock or not argv:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    answer = call(sock, argv[0], argv[1] if len(argv) > 1 else None)
    print(json.dumps(answer))
    return 0 if answer.get("ok") else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
