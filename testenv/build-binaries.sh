#!/usr/bin/env bash
# Builds the test environment's binaries from the Go module proxy and caches them
# outside the repository, keyed by version, so only the first run pays for the build.
#   kube-apiserver, kube-controller-manager, kube-scheduler  (k8s.io/kubernetes)
#   kwok, kwokctl                                            (sigs.k8s.io/kwok)
#   metrics-server                                           (sigs.k8s.io/metrics-server)
#   coredns (the cluster DNS, plugins of testenv/coredns-build)  (github.com/coredns/coredns)
#   external-secrets (the operator's controller) and its CRD bundle  (github.com/external-secrets/external-secrets)
#   cert-manager-controller (testenv/certmanager-build) and cert-manager's CRDs
#                                                            (github.com/cert-manager/cert-manager)
#   velero (server and CLI), its CRDs, the AWS object-store plugin, gofakes3 (the S3 endpoint)
#                                                            (github.com/vmware-tanzu/velero,
#                 github.com/vmware-tanzu/velero-plugin-for-aws, github.com/johannesboyne/gofakes3)
#   kustomize (renders deploy/ in selftests/runs/test_deploy_manifests.py)
#                                                            (sigs.k8s.io/kustomize/kustomize/v5)
# Usage: testenv/build-binaries.sh            prints the bin directory on success
set -euo pipefail

K8S_VERSION="${OPSCHECK_K8S_VERSION:-v1.33.13}"
KWOK_VERSION="${OPSCHECK_KWOK_VERSION:-v0.7.0}"
METRICS_SERVER_VERSION="${OPSCHECK_METRICS_SERVER_VERSION:-v0.9.0}"
KUSTOMIZE_VERSION="${OPSCHECK_KUSTOMIZE_VERSION:-v5.5.0}"
CACHE="${OPSCHECK_CACHE:-$HOME/.cache/opscheck}"
BIN="$CACHE/bin/k8s-$K8S_VERSION-kwok-$KWOK_VERSION-ms-$METRICS_SERVER_VERSION"
COREDNS_SRC="$(cd "$(dirname "$0")" && pwd)/coredns-build"
COREDNS_BIN="$CACHE/bin/coredns-$(sed -n 's#^require github.com/coredns/coredns ##p' "$COREDNS_SRC/go.mod")"
# the version testenv/external_secrets.py runs (its VERSION), so the two cannot disagree
ESO_VERSION="$(sed -n 's/^VERSION = "\(v[^"]*\)".*/\1/p' "$(dirname "$COREDNS_SRC")/external_secrets.py")"
# the versions testenv/velero.py runs (its VERSION, PLUGIN_VERSION, GOFAKES3_VERSION)
velero_py_version() { sed -n "s/^$1 = \"\(v[^\"]*\)\".*/\1/p" "$(dirname "$COREDNS_SRC")/velero.py"; }
VELERO_VERSION="$(velero_py_version VERSION)"
VELERO_PLUGIN_VERSION="$(velero_py_version PLUGIN_VERSION)"
GOFAKES3_VERSION="$(velero_py_version GOFAKES3_VERSION)"
CERT_MANAGER_SRC="$(cd "$(dirname "$0")" && pwd)/certmanager-build"
CERT_MANAGER_VERSION="$(sed -n 's#^require github.com/cert-manager/cert-manager ##p' "$CERT_MANAGER_SRC/go.mod")"
CERT_MANAGER_BIN="$CACHE/bin/cert-manager-$CERT_MANAGER_VERSION"

export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=mod
log() { echo "build-binaries: $*" >&2; }

mkdir -p "$BIN"

build_kubernetes() {
  local need=0
  for b in kube-apiserver kube-controller-manager kube-scheduler; do
    [ -x "$BIN/$b" ] || need=1
  done
  [ "$need" = 1 ] || return 0
  local work="$CACHE/build/kubernetes-$K8S_VERSION"
  mkdir -p "$work"
  cd "$work"
  # k8s.io/kubernetes points its staging modules at ./staging/...; a dependent module
  # must replace each of them with the published v0.X.Y of the same release.
  local staging_version="v0.${K8S_VERSION#v1.}"
  local gomod
  gomod=$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])')
  {
    echo "module opscheck.local/k8sbuilder"
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
  local pkg=k8s.io/component-base/version
  local minor="${K8S_VERSION#v1.}"; minor="${minor%%.*}"
  local ldflags="-s -w -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor \
    -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z \
    -X $pkg/verflag.programName=kubernetes"
  log "building kube-apiserver, kube-controller-manager, kube-scheduler (cold: tens of minutes)"
  go build -trimpath -ldflags "$ldflags" -o "$BIN/" \
    k8s.io/kubernetes/cmd/kube-apiserver \
    k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kube-scheduler >&2
}

build_kwok() {
  [ -x "$BIN/kwok" ] && [ -x "$BIN/kwokctl" ] && return 0
  log "building kwok and kwokctl $KWOK_VERSION"
  GOFLAGS= GOBIN="$BIN" go install "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION" "sigs.k8s.io/kwok/cmd/kwokctl@$KWOK_VERSION" >&2
}

build_metrics_server() {
  [ -x "$BIN/metrics-server" ] && return 0
  log "building metrics-server $METRICS_SERVER_VERSION"
  GOFLAGS= GOBIN="$BIN" go install "sigs.k8s.io/metrics-server/cmd/metrics-server@$METRICS_SERVER_VERSION" >&2
}

build_coredns() {
  # A module of our own (main.go, go.mod and go.sum pinned in testenv/coredns-build)
  # whose main is CoreDNS's coremain with only the plugins the Corefile uses.
  [ -x "$COREDNS_BIN/coredns" ] && return 0
  local work="$CACHE/build/coredns"
  mkdir -p "$work" "$COREDNS_BIN"
  cp "$COREDNS_SRC/main.go" "$COREDNS_SRC/go.mod" "$COREDNS_SRC/go.sum" "$work/"
  log "building coredns (${COREDNS_BIN##*/})"
  (cd "$work" && go build -trimpath -ldflags "-s -w" -o "$COREDNS_BIN/coredns" .) >&2
}

build_external_secrets() {
  # The module root is the operator's main package (cobra root command: the controllers).
  # It imports every provider (AWS, GCP, Azure, ...): cold, 1 minute to resolve and ~18
  # to build on 2 shared cores (7.5 CPU-minutes), ~1.9 GB of module sources, a 148 MB binary.
  local out="$CACHE/bin/external-secrets-$ESO_VERSION"
  [ -x "$out/external-secrets" ] && [ -s "$out/crds.yaml" ] && return 0
  local work="$CACHE/build/external-secrets-$ESO_VERSION"
  mkdir -p "$work" "$out"
  cd "$work"
  local info gomod dir
  info=$(go mod download -json "github.com/external-secrets/external-secrets@$ESO_VERSION")
  gomod=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])' <<<"$info")
  dir=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])' <<<"$info")
  # a dependent module must repeat the operator's replace directives (a fork of sprig)
  {
    echo "module opscheck.local/esobuilder"
    echo
    echo "go 1.24.2"
    echo
    echo "require github.com/external-secrets/external-secrets $ESO_VERSION"
    echo
    grep -E '^replace ' "$gomod" || true
  } > go.mod
  log "resolving external-secrets $ESO_VERSION"
  go get "github.com/external-secrets/external-secrets@$ESO_VERSION" >&2
  log "building external-secrets $ESO_VERSION (cold: up to 20 minutes)"
  go build -trimpath -ldflags "-s -w" -o "$out/external-secrets" github.com/external-secrets/external-secrets >&2
  install -m 0644 "$dir/deploy/crds/bundle.yaml" "$out/crds.yaml"
}

build_cert_manager() {
  # The module proxy does not serve the release binary's module (cmd/controller), so a
  # main of our own (testenv/certmanager-build) runs cert-manager's control loops; the
  # CRDs are the release's own, from deploy/crds of the same module version.
  [ -x "$CERT_MANAGER_BIN/cert-manager-controller" ] && [ -d "$CERT_MANAGER_BIN/crds" ] && return 0
  local work="$CACHE/build/cert-manager"
  mkdir -p "$work" "$CERT_MANAGER_BIN"
  cp "$CERT_MANAGER_SRC/main.go" "$CERT_MANAGER_SRC/go.mod" "$CERT_MANAGER_SRC/go.sum" "$work/"
  log "building cert-manager-controller $CERT_MANAGER_VERSION (cold: several minutes)"
  (cd "$work" && go build -trimpath -ldflags "-s -w" -o "$CERT_MANAGER_BIN/cert-manager-controller" .) >&2
  local module_dir
  module_dir=$(cd "$work" && go mod download -json "github.com/cert-manager/cert-manager@$CERT_MANAGER_VERSION" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
  rm -rf "$CERT_MANAGER_BIN/crds.tmp"
  mkdir -p "$CERT_MANAGER_BIN/crds.tmp"
  cp "$module_dir"/deploy/crds/cert-manager.io_*.yaml "$CERT_MANAGER_BIN/crds.tmp/"
  rm -rf "$CERT_MANAGER_BIN/crds"
  mv "$CERT_MANAGER_BIN/crds.tmp" "$CERT_MANAGER_BIN/crds"
}

build_velero() {
  # cmd/velero is server and CLI in one. Velero's go.mod pins k8s.io/* v0.33.12, of which
  # the module proxy here lacks k8s.io/cli-runtime: the builder module lifts the k8s.io
  # modules to the patch release the control plane is built from (v0.33.13).
  # Cold on 2 shared cores: ~1 minute to resolve, ~16 to build velero, ~8 the AWS plugin
  # (its own module, resolved and built apart), seconds for gofakes3.
  local out="$CACHE/bin/velero-$VELERO_VERSION"
  if ! { [ -x "$out/velero" ] && [ -s "$out/crds.yaml" ]; }; then
    local work="$CACHE/build/velero-$VELERO_VERSION"
    mkdir -p "$work" "$out"
    cd "$work"
    local gomod staging="v0.${K8S_VERSION#v1.}"
    gomod=$(go mod download -json "github.com/vmware-tanzu/velero@$VELERO_VERSION" | python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])')
    {
      echo "module opscheck.local/velerobuilder"
      echo
      echo "go 1.26.0"
      echo
      echo "require github.com/vmware-tanzu/velero $VELERO_VERSION"
      echo
      grep -E '^replace ' "$gomod" || true
    } > go.mod
    log "resolving velero $VELERO_VERSION"
    go get "github.com/vmware-tanzu/velero@$VELERO_VERSION" \
      $(grep -oE '^\s+k8s\.io/(api|apiextensions-apiserver|apimachinery|cli-runtime|client-go|kube-aggregator|metrics) v0\.[0-9.]+' "$gomod" |
        awk -v v="$staging" '{print $1 "@" v}') >&2
    log "building velero $VELERO_VERSION (cold: ~16 minutes)"
    go build -trimpath -ldflags "-s -w -X github.com/vmware-tanzu/velero/pkg/buildinfo.Version=$VELERO_VERSION" \
      -o "$out/velero" github.com/vmware-tanzu/velero/cmd/velero >&2
    "$out/velero" install --crds-only --dry-run -o yaml > "$out/crds.yaml.tmp"
    mv "$out/crds.yaml.tmp" "$out/crds.yaml"
  fi
  if [ ! -x "$out/plugins/velero-plugin-for-aws" ]; then
    log "building velero-plugin-for-aws $VELERO_PLUGIN_VERSION (cold: ~8 minutes)"
    GOFLAGS= GOBIN="$out/plugins" go install \
      "github.com/vmware-tanzu/velero-plugin-for-aws/velero-plugin-for-aws@$VELERO_PLUGIN_VERSION" >&2
  fi
  local s3="$CACHE/bin/gofakes3-$GOFAKES3_VERSION"
  if [ ! -x "$s3/gofakes3" ]; then
    log "building gofakes3 $GOFAKES3_VERSION"
    GOFLAGS= GOBIN="$s3" go install "github.com/johannesboyne/gofakes3/cmd/gofakes3@$GOFAKES3_VERSION" >&2
  fi
}

build_kustomize() {
  [ -x "$BIN/kustomize" ] && return 0
  log "building kustomize $KUSTOMIZE_VERSION"
  GOFLAGS= GOBIN="$BIN" go install "sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE_VERSION" >&2
}

build_kwok
build_metrics_server
build_kustomize
build_external_secrets
build_kubernetes
build_coredns
build_cert_manager
build_velero
echo "$BIN"
