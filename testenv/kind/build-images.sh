#!/usr/bin/env bash
# Builds the images a kind node needs for `kubeadm init`, as single-binary OCI images under
# the names kubeadm asks for (`kubeadm config images list`), and saves each as a docker
# archive in $KIND_CACHE/images/ for build-node-image.sh to import into the node:
#   kube-apiserver, kube-controller-manager, kube-scheduler  testenv/build-binaries.sh's build
#   etcd      go.etcd.io/etcd/server/v3 (module proxy)
#   coredns   github.com/coredns/coredns, stock plugin set (kubeadm's Corefile uses forward,
#             loop, reload, ...: testenv's trimmed coredns lacks them)
#   pause     build/pause/linux/pause.c from the k8s.io/kubernetes module, static with gcc
#   kube-proxy  build-node-binaries.sh's kube-proxy on a Debian minbase root with iptables
#               (legacy backend, as the node's entrypoint detects here) and conntrack
# and the nodes' default CNI and storage add-ons (kind_manifests.py writes their manifests to
# $KIND_CACHE/manifests/):
#   kube-router  github.com/cloudnativelabs/kube-router/v2 (module proxy) on the Debian root (it
#                runs iptables, ipset, ip, modprobe); stands in for kind's kindnetd, whose
#                source is not on the module proxy (README.md, failure 5)
#   local-path-provisioner  github.com/rancher/local-path-provisioner (module proxy), scratch,
#                           under the tag kind's storage manifest names
#   local-path-helper       the Debian root (its helper pods run sh, mkdir, rm), likewise
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
. "$HERE/common.sh"
ETCD_VERSION="${OPSCHECK_KIND_ETCD_VERSION:-v3.5.24}"
COREDNS_VERSION="${OPSCHECK_KIND_COREDNS_VERSION:-v1.12.0}"
PAUSE_VERSION=3.10
KUBE_ROUTER_VERSION="${OPSCHECK_KIND_KUBE_ROUTER_VERSION:-v2.1.0}"
IMAGE_BIN="$KIND_CACHE/bin/images-$K8S_VERSION"
IMAGES="$KIND_CACHE/images"
mkdir -p "$IMAGE_BIN" "$IMAGES"
CONTROL_PLANE_BIN="$("$HERE/../build-binaries.sh")"

if [ ! -x "$IMAGE_BIN/etcd" ]; then
  # etcd's server module carries replace directives, so `go install mod@v` refuses it
  log "building etcd $ETCD_VERSION"
  go_build_in_module "etcd-$ETCD_VERSION" "go.etcd.io/etcd/server/v3@$ETCD_VERSION" go.etcd.io/etcd/server/v3 "$IMAGE_BIN/etcd"
fi
[ -x "$IMAGE_BIN/coredns" ] || { log "building coredns $COREDNS_VERSION"; GOBIN="$IMAGE_BIN" go install "github.com/coredns/coredns@$COREDNS_VERSION"; }
if [ ! -x "$IMAGE_BIN/pause" ]; then
  k8s_src="$(module_dir "k8s.io/kubernetes@$K8S_VERSION")"
  log "building pause $PAUSE_VERSION"
  gcc -Os -Wall -Werror -static -DVERSION="v$PAUSE_VERSION-opscheck" -o "$IMAGE_BIN/pause" "$k8s_src/build/pause/linux/pause.c"
fi

# a Debian minbase root for kube-proxy (iptables, legacy backend, and conntrack), kube-router
# (also ipset, ip, modprobe) and the local-path helper; its tag names the package list, so a
# changed list builds a new root
ROOT_PACKAGES=iptables,conntrack,kmod,ipset,iproute2
ROOT_TAG="bookworm-$(echo "$ROOT_PACKAGES" | sha256sum | cut -c1-8)"
DEBIAN_ROOT="localhost/opscheck-kube-proxy-root:$ROOT_TAG"
if ! "${PODMAN[@]}" image exists "$DEBIAN_ROOT"; then
  root_tar="$KIND_CACHE/kube-proxy-rootfs-$ROOT_TAG.tar"
  [ -f "$root_tar" ] || mmdebstrap --format=tar --variant=minbase --include="$ROOT_PACKAGES" \
    --customize-hook='chroot "$1" update-alternatives --set iptables /usr/sbin/iptables-legacy' \
    --customize-hook='chroot "$1" update-alternatives --set ip6tables /usr/sbin/ip6tables-legacy' \
    bookworm "$root_tar.part" >&2 && mv "$root_tar.part" "$root_tar"
  "${PODMAN[@]}" import "$root_tar" "$DEBIAN_ROOT" >&2
fi
for b in kube-apiserver kube-controller-manager kube-scheduler; do
  save_image "registry.k8s.io/$b:$K8S_VERSION" "$CONTROL_PLANE_BIN/$b"
done
save_image "registry.k8s.io/etcd:${ETCD_VERSION#v}-0" "$IMAGE_BIN/etcd"
save_image "registry.k8s.io/coredns/coredns:$COREDNS_VERSION" "$IMAGE_BIN/coredns"
save_image "registry.k8s.io/pause:$PAUSE_VERSION" "$IMAGE_BIN/pause"
save_image "registry.k8s.io/kube-proxy:$K8S_VERSION" "$("$HERE/build-node-binaries.sh")/kube-proxy" "$DEBIAN_ROOT"

# the CNI: kube-router's module carries no replace directive, so `go install` builds it
KUBE_ROUTER_IMAGE="localhost/opscheck-kube-router:$KUBE_ROUTER_VERSION"
KUBE_ROUTER_BIN="$IMAGE_BIN/kube-router-$KUBE_ROUTER_VERSION"
if [ ! -x "$KUBE_ROUTER_BIN/kube-router" ]; then
  log "building kube-router $KUBE_ROUTER_VERSION"
  # the version its log and --version print, set as kube-router's Makefile does
  GOBIN="$KUBE_ROUTER_BIN" go install -ldflags "-X github.com/cloudnativelabs/kube-router/v2/pkg/version.Version=$KUBE_ROUTER_VERSION" \
    "github.com/cloudnativelabs/kube-router/v2/cmd/kube-router@$KUBE_ROUTER_VERSION"
fi
save_image "$KUBE_ROUTER_IMAGE" "$KUBE_ROUTER_BIN/kube-router" "$DEBIAN_ROOT"
# the manifests; the storage image names are kind's own
eval "$(python3 "$HERE/kind_manifests.py" "$(module_dir "sigs.k8s.io/kind@$KIND_VERSION")" "$KIND_CACHE/manifests" "$KUBE_ROUTER_IMAGE")"
# each add-on binary in a folder of its version, under the name its manifest runs
LPP_VERSION="${OPSCHECK_KIND_LPP_VERSION:-v0.0.30}"
if [ ! -x "$IMAGE_BIN/local-path-provisioner-$LPP_VERSION/local-path-provisioner" ]; then
  log "building local-path-provisioner $LPP_VERSION"
  go_build_in_module "local-path-provisioner-$LPP_VERSION" "github.com/rancher/local-path-provisioner@$LPP_VERSION" \
    github.com/rancher/local-path-provisioner "$IMAGE_BIN/local-path-provisioner-$LPP_VERSION/local-path-provisioner"
fi
save_image "$storageProvisionerImage" "$IMAGE_BIN/local-path-provisioner-$LPP_VERSION/local-path-provisioner"
helper_archive="$IMAGES/$(echo "$storageHelperImage" | tr '/:' '__').tar"
if [ ! -f "$helper_archive" ]; then
  "${PODMAN[@]}" tag "$DEBIAN_ROOT" "$storageHelperImage"
  "${PODMAN[@]}" save --format docker-archive -o "$helper_archive.part" "$storageHelperImage" && mv "$helper_archive.part" "$helper_archive"
  log "saved $storageHelperImage"
fi
echo "$IMAGES"
