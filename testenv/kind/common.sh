# Shared settings for testenv/kind/*.sh (sourced, not run): versions and the cache layout.
# Everything built here lives under ~/.cache/opscheck/kind/, never inside the repository.
KIND_VERSION="${OPSCHECK_KIND_VERSION:-v0.33.0}"
K8S_VERSION="${OPSCHECK_K8S_VERSION:-v1.33.13}"
CACHE="${OPSCHECK_CACHE:-$HOME/.cache/opscheck}"
KIND_CACHE="$CACHE/kind"
KIND_BIN="$KIND_CACHE/bin/kind-$KIND_VERSION"
NODE_BIN="$KIND_CACHE/bin/k8s-node-$K8S_VERSION"
# podman settings from issue 15: Debian's crun refuses setrlimit and hybrid cgroups here
export CONTAINERS_CONF="$KIND_CACHE/containers.conf"
PODMAN=(podman --runtime runc --cgroup-manager cgroupfs)
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=mod
log() { echo "kind: $*" >&2; }
mkdir -p "$KIND_CACHE/bin"
if [ ! -f "$CONTAINERS_CONF" ]; then
  cat > "$CONTAINERS_CONF" <<'CONF'
[containers]
default_ulimits = []

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
CONF
fi
