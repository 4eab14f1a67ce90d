#!/usr/bin/env bash
# kubectl of the test environment's Kubernetes version, for the bench's "seeds' own kubectl
# lines" column: built like testenv/build-binaries.sh builds kube-apiserver (same module
# workspace, same version stamp), into the same bin directory. Prints its path.
set -euo pipefail
K8S_VERSION="${OPSCHECK_K8S_VERSION:-v1.33.13}"
KWOK_VERSION="${OPSCHECK_KWOK_VERSION:-v0.7.0}"
METRICS_SERVER_VERSION="${OPSCHECK_METRICS_SERVER_VERSION:-v0.9.0}"
CACHE="${OPSCHECK_CACHE:-$HOME/.cache/opscheck}"
BIN="$CACHE/bin/k8s-$K8S_VERSION-kwok-$KWOK_VERSION-ms-$METRICS_SERVER_VERSION"
WORK="$CACHE/build/kubernetes-$K8S_VERSION"
if [ ! -x "$BIN/kubectl" ]; then
  # the workspace (go.mod with the staging replaces) is testenv/build-binaries.sh's
  [ -f "$WORK/go.mod" ] || "$(dirname "$0")/../testenv/build-binaries.sh" >/dev/null
  export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=mod
  pkg=k8s.io/component-base/version
  minor="${K8S_VERSION#v1.}"; minor="${minor%%.*}"
  echo "build-kubectl: building kubectl $K8S_VERSION" >&2
  (cd "$WORK" && go build -trimpath -o "$BIN/kubectl" \
    -ldflags "-s -w -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z" \
    k8s.io/kubernetes/cmd/kubectl >&2)
fi
echo "$BIN/kubectl"
