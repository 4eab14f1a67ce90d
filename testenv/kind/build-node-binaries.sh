#!/usr/bin/env bash
# Builds the node binaries a kind node runs (kubelet, kubeadm, kubectl; kube-proxy for its image) from
# k8s.io/kubernetes on the Go module proxy, in the module setup of
# testenv/build-binaries.sh build_kubernetes; prints the bin directory.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
. "$HERE/common.sh"
mkdir -p "$NODE_BIN"
need=()
for b in kubelet kubeadm kubectl kube-proxy; do
  [ -x "$NODE_BIN/$b" ] || need+=("k8s.io/kubernetes/cmd/$b")
done
if [ "${#need[@]}" -gt 0 ]; then
  work="$KIND_CACHE/build/kubernetes-$K8S_VERSION"
  mkdir -p "$work"
  cd "$work"
  if [ ! -f go.sum ]; then
    # testenv/build-binaries.sh owns the module setup for k8s.io/kubernetes (its staging
    # replaces); reuse the go.mod/go.sum it resolved instead of repeating that logic
    "$HERE/../build-binaries.sh" >/dev/null
    cp "$CACHE/build/kubernetes-$K8S_VERSION/go.mod" "$CACHE/build/kubernetes-$K8S_VERSION/go.sum" .
  fi
  pkg=k8s.io/component-base/version
  minor="${K8S_VERSION#v1.}"; minor="${minor%%.*}"
  # kubeadm compares its own version with the cluster's: it must carry the real one
  ldflags="-s -w -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor \
    -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z \
    -X $pkg/verflag.programName=kubernetes"
  log "building ${need[*]}"
  go build -trimpath -ldflags "$ldflags" -o "$NODE_BIN/" "${need[@]}" >&2
fi
echo "$NODE_BIN"
