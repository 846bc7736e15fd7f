#!/usr/bin/env bash
# Safety cases on the real control plane (issue: no half-done runs, names that exist):
#   scripts/real-cluster/with-cluster --state upgraded -- bash tests/real-cluster/cases/safety.sh
# Needs `cargo build --all-features` (calico-downgrade and the simulated calicoctl and
# calico-upgrade, which stand in for the Calico tools; kubectl is the real one on PATH).
# Checks, each with nothing changed (the workloads' images and the simulated Ready flag):
#   - a user bound to ClusterRole `view`: `run --yes` exits 3 at "Check permissions", naming
#     the verb, the resource and the user, and runs no abort;
#   - `run --yes --deployment calico-kube-controler` (a typo) exits 3 with "did you mean";
#     `status` with the same typo exits 3 too, never "converged";
#   - `abort --yes` with calico/node on v3 exits 3 pointing at `run`.
# Exits 1 at the first case that does not hold, printing the tool's output.
set -euo pipefail
root=$(cd "$(dirname "$0")/../../.." && pwd)
tool="$root/target/debug/calico-downgrade"
fakes=$(mktemp -d)
trap 'rm -rf "$fakes"' EXIT
"$root/target/debug/fake-cluster" init "$fakes" --datastore etcd >/dev/null
calico=(--calicoctl "$fakes/bin/calicoctl" --calico-upgrade "$fakes/bin/calico-upgrade")
admin=(kubectl --kubeconfig="$KUBECONFIG")

images() {
  "${admin[@]}" get ds calico-node -n kube-system -o 'jsonpath={.spec.template.spec.containers[*].image}'
  "${admin[@]}" get deploy calico-kube-controllers -n kube-system -o 'jsonpath={.spec.template.spec.containers[*].image}'
}

# expect NAME CODE TEXT -- ARGS...: run the tool, check its exit code and that TEXT is in its output.
expect() {
  local name=$1 code=$2 text=$3
  shift 4
  local out rc=0
  out=$(PATH=/usr/bin:/bin "$tool" "$@" --journal "$fakes/$name.jsonl" 2>&1) || rc=$?
  if [[ $rc != "$code" ]] || ! grep -qF -- "$text" <<<"$out"; then
    printf 'safety: %s: expected exit %s and `%s`, got exit %s:\n%s\n' "$name" "$code" "$text" "$rc" "$out" >&2
    exit 1
  fi
  echo "safety: $name: exit $rc, as expected"
}

"${admin[@]}" create clusterrolebinding safety-jane-view --clusterrole=view --user=jane >/dev/null
jane=$(python3 "$root/tests/real-cluster/ctl.py" user-kubeconfig jane |
  python3 -c 'import json, sys; d = json.load(sys.stdin); print(d.get("path") or d["kubeconfig"])')
before=$(images)

KUBECONFIG=$jane expect view-run 3 'user `jane` may not patch daemonsets.apps/calico-node in kube-system' -- \
  run --yes "${calico[@]}"
expect typo-run 3 'did you mean --deployment calico-kube-controllers?' -- \
  run --yes --deployment calico-kube-controler "${calico[@]}"
expect typo-status 3 'did you mean --deployment calico-kube-controllers?' -- \
  status --deployment calico-kube-controler
expect abort-v3 3 'run `calico-downgrade run`' -- abort --yes "${calico[@]}"

if [[ $(images) != "$before" ]]; then
  echo "safety: the workloads changed: $before -> $(images)" >&2
  exit 1
fi
if grep -q '"call":"calico-upgrade-abort"' "$fakes/calls.jsonl"; then
  echo "safety: calico-upgrade abort ran" >&2
  exit 1
fi
echo "safety: every case held; nothing changed"
