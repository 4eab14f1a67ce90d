#!/usr/bin/env bash
# Builds a kind *base* image (no Kubernetes yet) from Debian bookworm with mmdebstrap, laid
# out like kind's images/base/Dockerfile (its files/ tree is taken from the kind module in
# the Go module cache), and imports it into podman as localhost/opscheck-kind-base:<kind>.
# Debian's containerd 1.6 / runc 1.1 / CNI plugins 1.1 stand in for kind's source builds.
set -euo pipefail
. "$(dirname "$0")/common.sh"
IMAGE="localhost/opscheck-kind-base:$KIND_VERSION"
ROOTFS_TAR="$KIND_CACHE/base-rootfs-bookworm-$KIND_VERSION.tar"
if "${PODMAN[@]}" image exists "$IMAGE"; then echo "$IMAGE"; exit 0; fi

KIND_SRC="$(module_dir "sigs.k8s.io/kind@$KIND_VERSION")"
BASE_FILES="$KIND_SRC/images/base/files"
# what kind's base image installs (nfs-common and open-iscsi left out: storage drivers
# the demo does not use), plus the runtime kind builds from source
PACKAGES=systemd,systemd-sysv,dbus,conntrack,iptables,nftables,iproute2,ethtool,util-linux,mount,kmod,libseccomp2,pigz,fuse-overlayfs,e2fsprogs,bash,ca-certificates,curl,jq,procps,containerd,runc,containernetworking-plugins

if [ ! -f "$ROOTFS_TAR" ]; then
  log "mmdebstrap bookworm minbase -> $ROOTFS_TAR"
  # the customize hook replays the RUN steps of kind's base Dockerfile on the new root ($1)
  mmdebstrap --format=tar --variant=minbase --include="$PACKAGES" \
    --customize-hook="cp -r '$BASE_FILES'/usr/local/bin/. \"\$1/usr/local/bin/\"" \
    --customize-hook="mkdir -p \"\$1/kind\" && cp -r '$BASE_FILES'/kind/. \"\$1/kind/\"" \
    --customize-hook="cp -r '$BASE_FILES'/etc/. \"\$1/etc/\"" \
    --customize-hook='chmod -R u+w,go-w "$1/kind" "$1/etc/systemd/system" "$1/etc/containerd" && chmod 0755 "$1"/usr/local/bin/* "$1"/kind/bin/*' \
    --customize-hook='ln -sf /usr/bin/containerd "$1/usr/local/bin/containerd"' \
    --customize-hook='mkdir -p "$1/opt/cni/bin" && for p in host-local loopback ptp portmap bridge; do ln -sf /usr/lib/cni/$p "$1/opt/cni/bin/$p"; done' \
    --customize-hook='find "$1/lib/systemd/system/sysinit.target.wants/" -name systemd-tmpfiles-setup.service -delete; rm -f "$1"/lib/systemd/system/multi-user.target.wants/* "$1"/etc/systemd/system/*.wants/* "$1"/lib/systemd/system/local-fs.target.wants/* "$1"/lib/systemd/system/sockets.target.wants/*udev* "$1"/lib/systemd/system/sockets.target.wants/*initctl* "$1"/lib/systemd/system/basic.target.wants/*' \
    --customize-hook='echo ReadKMsg=no >> "$1/etc/systemd/journald.conf"; ln -sf /usr/lib/systemd/systemd "$1/sbin/init"' \
    --customize-hook='chroot "$1" systemctl enable kubelet.service containerd.service undo-mount-hacks.service && chroot "$1" systemctl mask systemd-binfmt.service && mkdir -p "$1/etc/kubernetes/manifests"' \
    --customize-hook='chroot "$1" ctr oci spec | chroot "$1" jq ".hooks.createContainer[.hooks.createContainer|length] |= . + {\"path\": \"/kind/bin/mount-product-files.sh\"}" | chroot "$1" jq "del(.process.rlimits)" > "$1/etc/containerd/cri-base.json"' \
    bookworm "$ROOTFS_TAR.part" && mv "$ROOTFS_TAR.part" "$ROOTFS_TAR"
fi
log "podman import -> $IMAGE"
"${PODMAN[@]}" import \
  --change 'ENV container=docker' --change 'STOPSIGNAL SIGRTMIN+3' \
  --change 'ENTRYPOINT ["/usr/local/bin/entrypoint", "/sbin/init"]' \
  "$ROOTFS_TAR" "$IMAGE" >&2
echo "$IMAGE"
