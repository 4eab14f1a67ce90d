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
# and kind's default CNI and storage add-ons, under the tags kind's manifests name
# (kind_manifests.py reads them from the kind module; the manifests go to $KIND_CACHE/manifests/):
#   kindnetd  kind's images/kindnetd at the commit its tag names, on the same Debian root
#             (it calls iptables); neither github.com/aojea/kindnet nor kind's nested kindnetd
#             module is on the module proxy, so its source comes from a git clone of
#             kubernetes-sigs/kind ($OPSCHECK_KIND_GIT) and kube-network-policies
#             ($OPSCHECK_KNP_GIT), at the pseudo-version kindnetd's go.mod requires
#   local-path-provisioner  github.com/rancher/local-path-provisioner (module proxy), scratch
#   local-path-helper       the Debian root (its helper pods run sh, mkdir, rm)
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
. "$HERE/common.sh"
ETCD_VERSION="${OPSCHECK_KIND_ETCD_VERSION:-v3.5.24}"
COREDNS_VERSION="${OPSCHECK_KIND_COREDNS_VERSION:-v1.12.0}"
PAUSE_VERSION=3.10
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

# a Debian minbase root with iptables (legacy) and conntrack, for kube-proxy, kindnetd and
# the local-path helper
DEBIAN_ROOT=localhost/opscheck-kube-proxy-root:bookworm
if ! "${PODMAN[@]}" image exists "$DEBIAN_ROOT"; then
  root_tar="$KIND_CACHE/kube-proxy-rootfs-bookworm.tar"
  [ -f "$root_tar" ] || mmdebstrap --format=tar --variant=minbase --include=iptables,conntrack,kmod \
    --customize-hook='chroot "$1" update-alternatives --set iptables /usr/sbin/iptables-legacy' \
    --customize-hook='chroot "$1" update-alternatives --set ip6tables /usr/sbin/ip6tables-legacy' \
    bookworm "$root_tar" >&2
  "${PODMAN[@]}" import "$root_tar" "$DEBIAN_ROOT" >&2
fi
for b in kube-apiserver kube-controller-manager kube-scheduler; do
  save_image "registry.k8s.io/$b:$K8S_VERSION" "$CONTROL_PLANE_BIN/$b"
done
save_image "registry.k8s.io/etcd:${ETCD_VERSION#v}-0" "$IMAGE_BIN/etcd"
save_image "registry.k8s.io/coredns/coredns:$COREDNS_VERSION" "$IMAGE_BIN/coredns"
save_image "registry.k8s.io/pause:$PAUSE_VERSION" "$IMAGE_BIN/pause"
save_image "registry.k8s.io/kube-proxy:$K8S_VERSION" "$("$HERE/build-node-binaries.sh")/kube-proxy" "$DEBIAN_ROOT"

# kind's add-ons: image names from kind's own manifests
eval "$(python3 "$HERE/kind_manifests.py" "$(module_dir "sigs.k8s.io/kind@$KIND_VERSION")" "$KIND_CACHE/manifests")"
kindnetd_commit="${kindnetdImage##*-}"
if [ ! -x "$IMAGE_BIN/kindnetd-$kindnetd_commit/kindnetd" ]; then
  kind_git="${OPSCHECK_KIND_GIT:-/work/.mirror/kubernetes-sigs+kind/repo}"
  knp_git="${OPSCHECK_KNP_GIT:-/work/.mirror/kubernetes-sigs+kube-network-policies/repo}"
  for git_dir in "$kind_git" "$knp_git"; do
    git --git-dir="$git_dir" rev-parse --git-dir >/dev/null 2>&1 || {
      echo "kind: kindnetd's source is not on the module proxy and $git_dir is no git repository: set OPSCHECK_KIND_GIT to a clone of github.com/kubernetes-sigs/kind and OPSCHECK_KNP_GIT to one of github.com/kubernetes-sigs/kube-network-policies" >&2
      exit 1
    }
  done
  work="$KIND_CACHE/build/kindnetd-$kindnetd_commit"
  rm -rf "$work" && mkdir -p "$work"
  git --git-dir="$kind_git" archive "$kindnetd_commit" images/kindnetd | tar -x -C "$work" --strip-components=2
  # kindnetd requires kube-network-policies at a commit the module proxy does not serve
  knp_commit="$(sed -n 's|^\s*sigs.k8s.io/kube-network-policies v.*-\([0-9a-f]\{12\}\)$|\1|p' "$work/go.mod")"
  if [ -n "$knp_commit" ]; then
    mkdir -p "$work/kube-network-policies"
    git --git-dir="$knp_git" archive "$knp_commit" | tar -x -C "$work/kube-network-policies"
    (cd "$work" && go mod edit -replace sigs.k8s.io/kube-network-policies=./kube-network-policies)
  fi
  log "building kindnetd at kind commit $kindnetd_commit"
  (cd "$work" && go build -trimpath -o "$IMAGE_BIN/kindnetd-$kindnetd_commit/kindnetd" ./cmd/kindnetd)
fi
save_image "$kindnetdImage" "$IMAGE_BIN/kindnetd-$kindnetd_commit/kindnetd" "$DEBIAN_ROOT"
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
