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
# Not built yet: kindnetd, local-path-provisioner.
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
  # etcd's server module carries replace directives, so `go install mod@v` refuses it:
  # build it from a throwaway module that requires it
  work="$KIND_CACHE/build/etcd-$ETCD_VERSION"
  mkdir -p "$work"
  log "building etcd $ETCD_VERSION"
  (cd "$work" && { [ -f go.mod ] || go mod init opscheck.local/etcdbuilder >&2; } &&
    go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION" >&2 &&
    go build -trimpath -o "$IMAGE_BIN/etcd" go.etcd.io/etcd/server/v3)
fi
[ -x "$IMAGE_BIN/coredns" ] || { log "building coredns $COREDNS_VERSION"; GOBIN="$IMAGE_BIN" go install "github.com/coredns/coredns@$COREDNS_VERSION"; }
if [ ! -x "$IMAGE_BIN/pause" ]; then
  k8s_src="$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')"
  log "building pause $PAUSE_VERSION"
  gcc -Os -Wall -Werror -static -DVERSION="v$PAUSE_VERSION-opscheck" -o "$IMAGE_BIN/pause" "$k8s_src/build/pause/linux/pause.c"
fi

# save_image NAME BINARY_PATH [ENTRYPOINT_BINARY]: a FROM-scratch image holding one binary
save_image() {
  local name="$1" binary="$2" archive
  archive="$IMAGES/$(echo "$name" | tr '/:' '__').tar"
  [ -f "$archive" ] && return 0
  local context; context="$(mktemp -d)"
  cp "$binary" "$context/"
  printf 'FROM scratch\nCOPY %s /usr/local/bin/%s\nENV PATH=/usr/local/bin:/usr/bin:/bin\nENTRYPOINT ["/usr/local/bin/%s"]\n' \
    "$(basename "$binary")" "$(basename "$binary")" "$(basename "$binary")" > "$context/Containerfile"
  "${PODMAN[@]}" build -q -t "$name" "$context" >&2
  rm -rf "$context"
  "${PODMAN[@]}" save --format docker-archive -o "$archive.part" "$name" && mv "$archive.part" "$archive"
  log "saved $name"
}
for b in kube-apiserver kube-controller-manager kube-scheduler; do
  save_image "registry.k8s.io/$b:$K8S_VERSION" "$CONTROL_PLANE_BIN/$b"
done
save_image "registry.k8s.io/etcd:${ETCD_VERSION#v}-0" "$IMAGE_BIN/etcd"
save_image "registry.k8s.io/coredns/coredns:$COREDNS_VERSION" "$IMAGE_BIN/coredns"
save_image "registry.k8s.io/pause:$PAUSE_VERSION" "$IMAGE_BIN/pause"
KUBE_PROXY_ARCHIVE="$IMAGES/registry.k8s.io_kube-proxy_$K8S_VERSION.tar"
if [ ! -f "$KUBE_PROXY_ARCHIVE" ]; then
  node_bin="$("$HERE/build-node-binaries.sh")"
  root_tar="$KIND_CACHE/kube-proxy-rootfs-bookworm.tar"
  [ -f "$root_tar" ] || mmdebstrap --format=tar --variant=minbase --include=iptables,conntrack,kmod \
    --customize-hook='chroot "$1" update-alternatives --set iptables /usr/sbin/iptables-legacy' \
    --customize-hook='chroot "$1" update-alternatives --set ip6tables /usr/sbin/ip6tables-legacy' \
    bookworm "$root_tar" >&2
  context="$(mktemp -d)"
  cp "$node_bin/kube-proxy" "$context/"
  "${PODMAN[@]}" import "$root_tar" localhost/opscheck-kube-proxy-root:bookworm >&2
  printf 'FROM localhost/opscheck-kube-proxy-root:bookworm\nCOPY kube-proxy /usr/local/bin/kube-proxy\nENTRYPOINT ["/usr/local/bin/kube-proxy"]\n' > "$context/Containerfile"
  "${PODMAN[@]}" build -q -t "registry.k8s.io/kube-proxy:$K8S_VERSION" "$context" >&2
  rm -rf "$context"
  "${PODMAN[@]}" save --format docker-archive -o "$KUBE_PROXY_ARCHIVE.part" "registry.k8s.io/kube-proxy:$K8S_VERSION"
  mv "$KUBE_PROXY_ARCHIVE.part" "$KUBE_PROXY_ARCHIVE"
  log "saved registry.k8s.io/kube-proxy:$K8S_VERSION"
fi
echo "$IMAGES"
