#!/usr/bin/env bash
# Installs metrics-server on a kind cluster so the metrics API (metrics.k8s.io) answers:
# the binary testenv/build-binaries.sh builds (sigs.k8s.io/metrics-server, module proxy) as a
# FROM scratch image loaded with `kind load image-archive`, and the module's own kustomize
# base (manifests/base) with that image and --kubelet-insecure-tls (kubelets serve
# self-signed certificates on kind). Waits until `kubectl top nodes` answers.
# Usage: testenv/kind/install-metrics-server.sh CLUSTER_NAME KUBECONFIG
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
. "$HERE/common.sh"
NAME="${1:?usage: install-metrics-server.sh CLUSTER_NAME KUBECONFIG}"
export KUBECONFIG="${2:?usage: install-metrics-server.sh CLUSTER_NAME KUBECONFIG}"
BIN_DIR="$("$HERE/../build-binaries.sh")"
# the version build-binaries.sh built, from its folder name (…-ms-vX.Y.Z)
VERSION="${BIN_DIR##*-ms-}"
IMAGES="$KIND_CACHE/load"
IMAGE="localhost/opscheck-metrics-server:$VERSION"
mkdir -p "$IMAGES"
save_image "$IMAGE" "$BIN_DIR/metrics-server"
"$HERE/tool.sh" kind load image-archive --name "$NAME" "$IMAGES/$(echo "$IMAGE" | tr '/:' '__').tar" >&2
overlay="$(mktemp -d)"
trap 'rm -rf "$overlay"' EXIT
# kustomize refuses an absolute base path: a copy of the module's base beside the overlay
cp -r "$(module_dir "sigs.k8s.io/metrics-server@$VERSION")/manifests/base" "$overlay/base"
cat > "$overlay/kustomization.yaml" <<KUSTOMIZATION
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - base
images:
  - name: gcr.io/k8s-staging-metrics-server/metrics-server
    newName: ${IMAGE%:*}
    newTag: $VERSION
patches:
  - target: {kind: Deployment, name: metrics-server}
    patch: |
      - op: add
        path: /spec/template/spec/containers/0/args/-
        value: --kubelet-insecure-tls
KUSTOMIZATION
"$HERE/tool.sh" kubectl apply -k "$overlay" >&2
"$HERE/tool.sh" kubectl -n kube-system rollout status deployment/metrics-server --timeout=120s >&2
# The first scrape needs two samples of each kubelet (metric-resolution 15 s).
# Seen here (kube-apiserver v1.33.13, metrics-server applied within a minute or two of the
# cluster's creation): the APIService turns Available (the availability controller reaches
# metrics-server with the front-proxy certificate), but the apiserver answers
# /apis/metrics.k8s.io/v1beta1 with 404 from its own handlers and never proxies it, while
# metrics-server answers that path itself when called with the front-proxy certificate.
# A restart of kube-apiserver (the kubelet restarts the static pod) proxies it from then on;
# deleting and re-creating the APIService did not. So: once, restart it.
restarted=no
for _ in $(seq 120); do
  "$HERE/tool.sh" kubectl top nodes >/dev/null 2>&1 && { "$HERE/tool.sh" kubectl top nodes >&2; exit 0; }
  # the answer in a variable: under pipefail, `kubectl ... | grep -q` fails with kubectl's own
  # exit status even when grep finds NotFound, so the restart never happened
  answer="$("$HERE/tool.sh" kubectl get --raw /apis/metrics.k8s.io/v1beta1 2>&1 || true)"
  if [ "$restarted" = no ] && [[ "$answer" == *NotFound* ]] &&
    [ "$("$HERE/tool.sh" kubectl get apiservice v1beta1.metrics.k8s.io -o jsonpath='{.status.conditions[?(@.type=="Available")].status}')" = True ]; then
    log "the APIService is Available but kube-apiserver answers 404 for it: restarting kube-apiserver once"
    node_runtime=("${PODMAN[@]}")
    [ "${OPSCHECK_KIND_PROVIDER:-podman}" = docker ] && node_runtime=(docker)
    "${node_runtime[@]}" exec "$NAME-control-plane" sh -c 'kill $(pidof kube-apiserver)'
    restarted=yes
  fi
  sleep 2
done
echo "kind: metrics-server runs but \`kubectl top nodes\` gave no answer within 240 s: $("$HERE/tool.sh" kubectl top nodes 2>&1 | tail -1)" >&2
exit 1
