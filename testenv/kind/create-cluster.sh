#!/usr/bin/env bash
# Starts a one-node kind cluster under podman from the node image built here (build-images.sh,
# then build-node-image.sh). No kindnetd image exists yet: the node image carries a bridge
# CNI config instead, enough for one node.
# Usage: testenv/kind/create-cluster.sh [name]     (delete: kind delete cluster --name NAME)
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
. "$HERE/common.sh"
NAME="${1:-opscheck}"
# kind's podman provider always mounts /lib/modules read-only; this VM has none
if [ ! -d /lib/modules ]; then
  echo "kind: /lib/modules is missing on this host; kind's podman provider mounts it (create it: mkdir /lib/modules)" >&2
  exit 1
fi
KIND="$("$HERE/build-kind.sh")"
"$HERE/build-images.sh" >/dev/null
IMAGE="$("$HERE/build-node-image.sh")"
CONFIG="$KIND_CACHE/cluster-config.yaml"
cat > "$CONFIG" <<'YAML'
kind: Cluster
apiVersion: kind.x-k8s.io/v1alpha4
networking:
  disableDefaultCNI: true
nodes:
  - role: control-plane
YAML
export KIND_EXPERIMENTAL_PROVIDER=podman
"$KIND" create cluster --name "$NAME" --image "$IMAGE" --config "$CONFIG" \
  --kubeconfig "$KIND_CACHE/kubeconfig-$NAME"
echo "$KIND_CACHE/kubeconfig-$NAME"
