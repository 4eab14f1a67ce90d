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
# go_build_in_module NAME MODULE@VERSION PACKAGE OUTPUT [MODULE@VERSION...]: `go build` PACKAGE
# of MODULE into OUTPUT from a throwaway module requiring it ($KIND_CACHE/build/NAME), for
# modules that `go install mod@v` refuses (replace directives) or whose binary needs a name of
# its own; the further MODULE@VERSION arguments are required too, in place of versions the
# module names that the proxy does not serve
go_build_in_module() {
  local name="$1" module="$2" package="$3" output="$4" work="$KIND_CACHE/build/$1"
  mkdir -p "$work"
  (cd "$work" && { [ -f go.mod ] || go mod init "opscheck.local/$name" >&2; } &&
    go get "$module" "${@:5}" >&2 &&
    go build -trimpath -o "$output" "$package")
}
# module_dir MODULE@VERSION: the module's source directory in Go's module cache (downloaded if missing)
module_dir() { go mod download -json "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])'; }
# save_image NAME BINARY_PATH [BASE]: an image holding one binary as its entrypoint, on BASE
# (default: scratch), saved as a docker archive in $IMAGES (the caller's folder)
save_image() {
  local name="$1" binary="$2" base="${3:-scratch}" archive context
  archive="$IMAGES/$(echo "$name" | tr '/:' '__').tar"
  [ -f "$archive" ] && return 0
  context="$(mktemp -d)"
  cp "$binary" "$context/"
  printf 'FROM %s\nCOPY %s /usr/local/bin/%s\nENV PATH=/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\nENTRYPOINT ["/usr/local/bin/%s"]\n' \
    "$base" "$(basename "$binary")" "$(basename "$binary")" "$(basename "$binary")" > "$context/Containerfile"
  "${PODMAN[@]}" build -q -t "$name" "$context" >&2
  rm -rf "$context"
  "${PODMAN[@]}" save --format docker-archive -o "$archive.part" "$name" && mv "$archive.part" "$archive"
  log "saved $name"
}
