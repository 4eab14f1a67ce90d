#!/usr/bin/env bash
# Starts a kind cluster under podman from the node image built here (build-images.sh, then
# build-node-image.sh), with kind's default CNI (kindnetd) and storage (local-path-provisioner).
# Usage: testenv/kind/create-cluster.sh [NAME [CONFIG]]   (CONFIG: a kind config file, default
# cluster.yaml beside this script: one control-plane node and one worker)
# Prints the kubeconfig path. Delete: testenv/kind/delete-cluster.sh NAME
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
. "$HERE/common.sh"
NAME="${1:-opscheck}"
# kind's podman provider always mounts /lib/modules read-only; this VM has none
if [ ! -d /lib/modules ]; then
  echo "kind: /lib/modules is missing on this host; kind's podman provider mounts it (create it: mkdir /lib/modules)" >&2
  exit 1
fi
"$HERE/build-images.sh" >/dev/null
IMAGE="$("$HERE/build-node-image.sh")"
CONFIG="${2:-$HERE/cluster.yaml}"
"$HERE/tool.sh" kind create cluster --name "$NAME" --image "$IMAGE" --config "$CONFIG" \
  --kubeconfig "$KIND_CACHE/kubeconfig-$NAME"
echo "$KIND_CACHE/kubeconfig-$NAME"
