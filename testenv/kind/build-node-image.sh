#!/usr/bin/env bash
# Builds a kind *node* image in kind's documented layout, the way `kind build node-image`
# does it (run the base image, copy the node binaries to /usr/bin, write /kind/version,
# import the images into containerd's k8s.io namespace, commit) but with podman and
# without pulling: every image comes from $KIND_CACHE/images/*.tar (build-images.sh).
# `kind build node-image` itself calls the docker CLI and `ctr content fetch` (a registry).
# Prints the image name: localhost/opscheck-kind-node:<k8s version>-<hash of the image set>.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
. "$HERE/common.sh"
shopt -s nullglob
# the images and kind's manifests come from build-images.sh
[ -f "$KIND_CACHE/manifests/default-storage.yaml" ] || "$HERE/build-images.sh" >/dev/null
archives=("$KIND_CACHE"/images/*.tar)
# the tag names what is inside (each archive's name, size and time, kind's manifests, the
# containerd setting below), so a rebuilt image archive makes a new node image
IMAGE="localhost/opscheck-kind-node:$K8S_VERSION-$( (cd "$KIND_CACHE" && stat -c "%n %s %Y" images/*.tar && cat manifests/*.yaml && echo oom-restricted) | sha256sum | cut -c1-8)"
if "${PODMAN[@]}" image exists "$IMAGE"; then echo "$IMAGE"; exit 0; fi
BASE="$("$HERE/build-base-image.sh")"
"$HERE/build-node-binaries.sh" >/dev/null
BUILDER="opscheck-kind-node-build"
"${PODMAN[@]}" rm -f "$BUILDER" >/dev/null 2>&1 || true
trap '"${PODMAN[@]}" rm -f "$BUILDER" >/dev/null 2>&1 || true' EXIT
# privileged: containerd needs mounts to import (unpack) images, as in kind's build container
"${PODMAN[@]}" run -d --name "$BUILDER" --privileged --entrypoint sleep "$BASE" infinity >/dev/null
for b in kubelet kubeadm kubectl; do
  "${PODMAN[@]}" cp "$NODE_BIN/$b" "$BUILDER:/usr/bin/$b"
done
# this VM refuses a negative oom_score_adj even to root ("echo -998 > /proc/self/oom_score_adj":
# I/O error), so runc fails every pod sandbox ("can't get final child's PID from pipe: EOF");
# containerd then clamps pods' OOMScoreAdj to its own, as kind does for rootless nodes
"${PODMAN[@]}" exec "$BUILDER" sed -i 's/restrict_oom_score_adj = false/restrict_oom_score_adj = true/' /etc/containerd/config.toml
# the default CNI (kube-router) and storage manifests, where `kind create cluster` reads them
"${PODMAN[@]}" exec "$BUILDER" mkdir -p /kind/manifests
for manifest in default-cni.yaml default-storage.yaml; do
  "${PODMAN[@]}" cp "$KIND_CACHE/manifests/$manifest" "$BUILDER:/kind/manifests/$manifest"
done
"${PODMAN[@]}" exec "$BUILDER" sh -c "chmod 0755 /usr/bin/kubelet /usr/bin/kubeadm /usr/bin/kubectl && printf %s '$K8S_VERSION' > /kind/version"
if [ "${#archives[@]}" -gt 0 ]; then
  "${PODMAN[@]}" exec "$BUILDER" bash -c 'nohup containerd >/dev/null 2>&1 & for i in $(seq 50); do [ -S /run/containerd/containerd.sock ] && break; sleep 0.1; done'
  for archive in "${archives[@]}"; do
    log "importing $(basename "$archive") into the node's containerd"
    # the same ctr import kind's node-image build runs for the images it built
    "${PODMAN[@]}" exec -i "$BUILDER" ctr --namespace=k8s.io images import --label=io.cri-containerd.pinned=pinned --all-platforms --no-unpack --digests - < "$archive" >&2
  done
  "${PODMAN[@]}" exec "$BUILDER" pkill containerd || true
fi
"${PODMAN[@]}" commit --change 'ENTRYPOINT ["/usr/local/bin/entrypoint", "/sbin/init"]' \
  --change 'STOPSIGNAL SIGRTMIN+3' "$BUILDER" "$IMAGE" >&2
echo "$IMAGE"
