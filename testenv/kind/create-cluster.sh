#!/usr/bin/env bash
# Starts a kind cluster under podman from the node image built here (build-images.sh, then
# build-node-image.sh), with kube-router as its default CNI (kind's own, kindnetd, is not on the
# Go module proxy) and kind's default storage (local-path-provisioner).
# Usage: testenv/kind/create-cluster.sh [NAME [CONFIG]]   (CONFIG: a kind config file, default
# cluster.yaml beside this script: one control-plane node and one worker)
# A cluster of that name that exists is reused: its stopped node containers are started and
# its kubeconfig written again. Prints the kubeconfig path. Delete: delete-cluster.sh NAME
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
. "$HERE/common.sh"
NAME="${1:-opscheck}"
# kind's podman provider always mounts /lib/modules read-only; this VM has none
if [ ! -d /lib/modules ]; then
  echo "kind: /lib/modules is missing on this host; kind's podman provider mounts it (make system creates it: testenv/install-system-packages.sh)" >&2
  exit 1
fi
# nodes find the control plane by its container name: podman's CNI network backend needs the
# dnsname plugin for that (kind creates its "kind" network with DNS only when it is there)
if [ "$("${PODMAN[@]}" info --format '{{.Host.NetworkBackend}}')" = cni ] && [ ! -x /usr/lib/cni/dnsname ]; then
  echo "kind: podman's CNI backend has no dnsname plugin, so nodes cannot resolve each other (apt-get install golang-github-containernetworking-plugin-dnsname)" >&2
  exit 1
fi
if [ "$("${PODMAN[@]}" network inspect kind --format '{{.DNSEnabled}}' 2>/dev/null)" = false ]; then
  echo "kind: podman network \"kind\" has no DNS (made before the dnsname plugin was installed): remove it when no kind cluster runs (podman network rm kind)" >&2
  exit 1
fi
KUBECONFIG_PATH="$KIND_CACHE/kubeconfig-$NAME"
if "$HERE/tool.sh" kind get clusters 2>/dev/null | grep -qx "$NAME"; then
  for node in $("$HERE/tool.sh" kind get nodes --name "$NAME" 2>/dev/null); do
    "${PODMAN[@]}" start "$node" >/dev/null
  done
  "$HERE/tool.sh" kind export kubeconfig --name "$NAME" --kubeconfig "$KUBECONFIG_PATH" >&2
  echo "$KUBECONFIG_PATH"
  exit 0
fi
"$HERE/build-images.sh" >/dev/null
IMAGE="$("$HERE/build-node-image.sh")"
CONFIG="${2:-$HERE/cluster.yaml}"
"$HERE/tool.sh" kind create cluster --name "$NAME" --image "$IMAGE" --config "$CONFIG" \
  --kubeconfig "$KUBECONFIG_PATH" >&2
echo "$KUBECONFIG_PATH"
