#!/usr/bin/env bash
# Builds the node binaries a kind node runs (kubelet, kubeadm; kubectl too) from
# k8s.io/kubernetes on the Go module proxy, in the same module setup as
# testenv/build-binaries.sh build_kubernetes; prints the bin directory.
set -euo pipefail
. "$(dirname "$0")/common.sh"
mkdir -p "$NODE_BIN"
need=()
for b in kubelet kubeadm kubectl; do
  [ -x "$NODE_BIN/$b" ] || need+=("k8s.io/kubernetes/cmd/$b")
done
if [ "${#need[@]}" -gt 0 ]; then
  work="$KIND_CACHE/build/kubernetes-$K8S_VERSION"
  mkdir -p "$work"
  cd "$work"
  if [ ! -f go.sum ]; then
    # k8s.io/kubernetes points its staging modules at ./staging/...; a dependent module
    # must replace each of them with the published v0.X.Y of the same release.
    staging_version="v0.${K8S_VERSION#v1.}"
    gomod=$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])')
    {
      echo "module opscheck.local/kindnodebuilder"
      echo
      echo "go 1.24.0"
      echo
      echo "require k8s.io/kubernetes $K8S_VERSION"
      echo
      echo "replace ("
      grep -E '^\s*k8s\.io/[^ ]+ => \./staging/' "$gomod" | awk -v v="$staging_version" '{print "\t" $1 " => " $1 " " v}'
      echo ")"
    } > go.mod
    log "resolving k8s.io/kubernetes $K8S_VERSION"
    go get "k8s.io/kubernetes@$K8S_VERSION" >&2
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
