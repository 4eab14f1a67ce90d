#!/usr/bin/env bash
# Installs MetalLB (layer 2 mode) on a kind cluster, so Services of type LoadBalancer get an
# address on podman's (or docker's) "kind" network that the host reaches: the controller and
# speaker built from the module proxy as FROM scratch images under the tags MetalLB's own
# manifest names (quay.io/metallb/*:VERSION), loaded with `kind load image-archive`; that
# manifest (config/manifests/metallb-native.yaml of the module) applied unchanged; then an
# IPAddressPool of the last addresses of the network's IPv4 subnet (host-local IPAM gives the
# nodes the first ones) and an L2Advertisement. Waits for the controller, the speakers and
# the admission webhook.
# Usage: testenv/kind/install-metallb.sh CLUSTER_NAME KUBECONFIG
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
. "$HERE/common.sh"
NAME="${1:?usage: install-metallb.sh CLUSTER_NAME KUBECONFIG}"
export KUBECONFIG="${2:?usage: install-metallb.sh CLUSTER_NAME KUBECONFIG}"
VERSION="${OPSCHECK_METALLB_VERSION:-v0.15.2}"
# MetalLB v0.15.2 requires frr-k8s v0.0.20, which the module proxy refuses (403); v0.0.21 is
# served and compiles (the FRR mode it serves is not used here: layer 2 only)
FRR_K8S="github.com/metallb/frr-k8s@${OPSCHECK_METALLB_FRR_K8S_VERSION:-v0.0.21}"
BIN="$KIND_CACHE/bin/metallb-$VERSION"
IMAGES="$KIND_CACHE/load"
mkdir -p "$IMAGES"
kubectl() { "$HERE/tool.sh" kubectl "$@"; }

for component in controller speaker; do
  if [ ! -x "$BIN/$component" ]; then
    log "building MetalLB $component $VERSION"
    go_build_in_module "metallb-$VERSION" "go.universe.tf/metallb@$VERSION" "go.universe.tf/metallb/$component" \
      "$BIN/$component" "$FRR_K8S"
  fi
  image="quay.io/metallb/$component:$VERSION"
  save_image "$image" "$BIN/$component"
  "$HERE/tool.sh" kind load image-archive --name "$NAME" "$IMAGES/$(echo "$image" | tr '/:' '__').tar" >&2
done

# server-side: no last-applied copy of the large CRDs in an annotation
kubectl apply --server-side -f "$(module_dir "go.universe.tf/metallb@$VERSION")/config/manifests/metallb-native.yaml" >&2
kubectl -n metallb-system rollout status deployment/controller --timeout=180s >&2
kubectl -n metallb-system rollout status daemonset/speaker --timeout=180s >&2

# The pool: the network's IPv4 subnet, its 16th- to 6th-last addresses (.240-.250 of a /24),
# refused if a node holds one of them
if [ "${OPSCHECK_KIND_PROVIDER:-podman}" = docker ]; then
  network="$(docker network inspect kind)"
else
  network="$("$HERE/tool.sh" podman network inspect kind)"
fi
node_addresses="$("$HERE/tool.sh" kubectl get nodes -o jsonpath='{.items[*].status.addresses[?(@.type=="InternalIP")].address}')"
POOL="$(python3 -c '
import ipaddress, json, sys
network = json.load(sys.stdin)[0]
# podman: subnets[].subnet; docker: IPAM.Config[].Subnet
subnets = [s["subnet"] for s in network.get("subnets") or []] + [
    c["Subnet"] for c in (network.get("IPAM") or {}).get("Config") or []
]
(subnet,) = [ipaddress.ip_network(s) for s in subnets if ipaddress.ip_network(s).version == 4]
hosts = list(subnet.hosts())
pool = hosts[-15:-4]
taken = set(sys.argv[1].split()) & {str(a) for a in pool}
if taken:
    sys.exit(f"kind: the pool {pool[0]}-{pool[-1]} of network kind ({subnet}) holds node addresses {sorted(taken)}")
print(f"{pool[0]}-{pool[-1]}")
' "$node_addresses" <<<"$network")"
# the webhook serves once the controller has written its certificate: retry until it admits the pool
for _ in $(seq 60); do
  kubectl apply -f - >/dev/null 2>&1 <<POOL && break
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: kind, namespace: metallb-system}
spec: {addresses: ["$POOL"]}
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {name: kind, namespace: metallb-system}
spec: {ipAddressPools: [kind]}
POOL
  sleep 2
done
kubectl -n metallb-system get ipaddresspool/kind l2advertisement/kind >&2
log "MetalLB $VERSION ready, layer 2, pool $POOL of network kind"
