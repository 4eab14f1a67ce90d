#!/usr/bin/env bash
# Build opscheck's OCI image without a container daemon: image/out/opscheck-<version>.oci.tar
# (an OCI archive: `podman load -i`, `kind load image-archive`, `skopeo copy oci-archive:...`).
#   1. base: a Debian bookworm minbase root filesystem (mmdebstrap) with python3 and a venv
#      /opt/opscheck holding the pinned runtime dependencies from PyPI, user opscheck (10001);
#   2. image: the base plus the opscheck package and the suite (/suite), configured with buildah
#      (from scratch, no RUN step: nothing runs a container) and committed as an OCI archive.
# Both steps are cached under ~/.cache/opscheck/image (OPSCHECK_IMAGE_CACHE) keyed by the hash of
# their inputs: an unchanged tree is a no-op, a changed check rebuilds only step 2.
# The same image for other builders: image/Containerfile.
set -euo pipefail
REPO="$(cd "$(dirname "$0")/.." && pwd)"
PYTHON="${PYTHON:-python3}"  # for tomllib and pip (the package's files for step 2)
CACHE="${OPSCHECK_IMAGE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/opscheck/image}"
OUT_DIR="$REPO/image/out"
SUITE="bookworm"
DEBIAN_PACKAGES="python3,python3-venv,ca-certificates"
# The directories of the suite copied to /suite (with pyproject.toml: pytest's markers and options).
SUITE_PATHS=(conftest.py pyproject.toml runbooks fixtures environments tests_daily tests_weekly tests_monthly
  tests_quarterly tests_predeploy tests_postdeploy)
log() { echo "image: $*" >&2; }

cd "$REPO"
VERSION="$("$PYTHON" -c 'import tomllib; print(tomllib.load(open("pyproject.toml", "rb"))["project"]["version"])')"
OUT="$OUT_DIR/opscheck-$VERSION.oci.tar"
# Fully qualified, as Kubernetes normalizes `image: opscheck:<version>`: `kind load image-archive`
# (containerd) then finds it under the name the manifests use; podman resolves the short name too.
IMAGE_NAME="docker.io/library/opscheck:$VERSION"
mkdir -p "$CACHE" "$OUT_DIR"

# The Debian mirror this machine's apt uses (deb822 .sources or one-line .list), else deb.debian.org.
apt_uri() {  # $1: the archive's path suffix, e.g. /debian or /debian-security
  grep -shoE "https?://[^ ]+$1/?( |$)" /etc/apt/sources.list /etc/apt/sources.list.d/*.list \
    /etc/apt/sources.list.d/*.sources | head -n1 | tr -d ' ' | sed 's:/$::' || true
}
MIRROR="$(apt_uri /debian)"
MIRROR="${MIRROR:-http://deb.debian.org/debian}"
SECURITY="$(apt_uri /debian-security)"
SECURITY="${SECURITY:-http://deb.debian.org/debian-security}"

build_base() {  # $1: the tarball to write
  log "step 1: Debian $SUITE root filesystem from $MIRROR, runtime dependencies from PyPI"
  # pip runs in the new root (its python decides which wheels and markers apply) with the host's
  # trust store, index and proxy settings for that one command; none of them stays in the image.
  printf '%s\n' "$REQUIREMENTS" >"$CACHE/runtime-requirements.txt"
  HOST_CA="${PIP_CERT:-${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}}"
  PIP_ENV="PIP_NO_CACHE_DIR=1 PIP_CERT=/tmp/host-ca.crt"
  for var in PIP_INDEX_URL PIP_EXTRA_INDEX_URL HTTPS_PROXY https_proxy HTTP_PROXY http_proxy NO_PROXY no_proxy; do
    [ -z "${!var:-}" ] || PIP_ENV+=" $var=${!var}"
  done
  CHROOT='chroot "$1" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin'
  mmdebstrap --variant=minbase --include="$DEBIAN_PACKAGES" \
    --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/locale/*' \
    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    --customize-hook="$CHROOT python3 -m venv /opt/opscheck" \
    --customize-hook="copy-in $CACHE/runtime-requirements.txt /tmp" \
    --customize-hook="upload $HOST_CA /tmp/host-ca.crt" \
    --customize-hook="$CHROOT $PIP_ENV /opt/opscheck/bin/pip install -q --disable-pip-version-check -r /tmp/runtime-requirements.txt" \
    --customize-hook='rm -rf "$1/tmp/runtime-requirements.txt" "$1/tmp/host-ca.crt"' \
    --customize-hook="$CHROOT useradd --uid 10001 --user-group --home-dir /tmp --no-create-home --shell /usr/sbin/nologin opscheck" \
    --customize-hook='mkdir -p "$1/reports" "$1/etc/opscheck" && chown 10001:10001 "$1/reports"' \
    "$SUITE" "$1.partial.tar" \
    "deb $MIRROR $SUITE main" "deb $MIRROR $SUITE-updates main" "deb $SECURITY $SUITE-security main" </dev/null
  mv "$1.partial.tar" "$1"
  rm -f "$CACHE/runtime-requirements.txt"
}

REQUIREMENTS="$("$PYTHON" image/runtime-requirements.py "$REPO")"
hash_of() { sha256sum | cut -c1-16; }
# Step 1's inputs: its code, the Debian side, the pinned runtime requirements.
BASE_KEY="$({ declare -f build_base; echo "$SUITE $DEBIAN_PACKAGES $MIRROR $SECURITY"; echo "$REQUIREMENTS"; } | hash_of)"
# Step 2's inputs: step 1, this script, the package and the suite (file names and contents, caches excluded).
tree_digest() {
  find "$@" -type f ! -path '*/__pycache__/*' ! -name '*.pyc' -print0 | sort -z | xargs -0 sha256sum
}
IMAGE_KEY="$({ echo "$BASE_KEY $VERSION"; tree_digest image/build.sh opscheck README.md "${SUITE_PATHS[@]}"; } | hash_of)"
BASE_TAR="$CACHE/base-$BASE_KEY.tar"
IMAGE_TAR="$CACHE/opscheck-$VERSION-$IMAGE_KEY.oci.tar"

if [ -f "$IMAGE_TAR" ]; then
  cmp -s "$IMAGE_TAR" "$OUT" 2>/dev/null || cp "$IMAGE_TAR" "$OUT"
  log "$OUT is up to date (cached $IMAGE_KEY)"
  exit 0
fi

[ -f "$BASE_TAR" ] || build_base "$BASE_TAR"

log "step 2: the opscheck package and the suite over base $BASE_KEY"
STAGE="$(mktemp -d "$CACHE/stage.XXXXXX")"
BUILDAH=(buildah --root "$CACHE/storage" --runroot "$CACHE/run")
container=""
cleanup() {
  [ -z "$container" ] || "${BUILDAH[@]}" rm "$container" >/dev/null 2>&1 || true
  rm -rf "$STAGE"
}
trap cleanup EXIT
# The package's files as pip installs them (pure Python: the host's pip writes them for the image's
# venv), built from a copy so that setuptools' build/ and egg-info stay out of the repository.
mkdir "$STAGE/src" "$STAGE/suite"
tar -C "$REPO" --exclude=__pycache__ --exclude='*.pyc' -cf - opscheck pyproject.toml README.md | tar -C "$STAGE/src" -xf -
"$PYTHON" -m pip install -q --disable-pip-version-check --no-deps --no-compile --target "$STAGE/site-packages" "$STAGE/src"
tar -C "$REPO" --exclude=__pycache__ --exclude='*.pyc' -cf - "${SUITE_PATHS[@]}" | tar -C "$STAGE/suite" -xf -
chmod -R a+rX,go-w "$STAGE"

# Two layers: the base (shared by every build of these pins) and the package with the suite.
BASE_IMAGE="localhost/opscheck-base:$BASE_KEY"
if ! "${BUILDAH[@]}" inspect --type image "$BASE_IMAGE" >/dev/null 2>&1; then
  container="$("${BUILDAH[@]}" from scratch)"
  "${BUILDAH[@]}" add "$container" "$BASE_TAR" / >/dev/null
  "${BUILDAH[@]}" commit -q --rm "$container" "$BASE_IMAGE" >/dev/null
  # Older bases' layers are dropped from the build storage (their tarballs stay in the cache).
  "${BUILDAH[@]}" images --format '{{.Name}}:{{.Tag}}' | grep '/opscheck-base:' | grep -vx "$BASE_IMAGE" |
    xargs -r "${BUILDAH[@]}" rmi >/dev/null || true
fi
container="$("${BUILDAH[@]}" from --pull-never "$BASE_IMAGE")"
"${BUILDAH[@]}" copy --chown 0:0 "$container" "$STAGE/site-packages" /opt/opscheck/lib/python3.11/site-packages/ >/dev/null
"${BUILDAH[@]}" copy --chown 0:0 "$container" "$STAGE/suite" /suite/ >/dev/null
"${BUILDAH[@]}" config \
  --os linux --arch "$(dpkg --print-architecture)" \
  --user 10001:10001 --workingdir /suite \
  --env PATH=/opt/opscheck/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  --env HOME=/tmp --env TMPDIR=/tmp --env PYTHONDONTWRITEBYTECODE=1 --env PYTHONUNBUFFERED=1 \
  --env OPSCHECK_ENV=/etc/opscheck/profile.yaml --env PYTEST_ADDOPTS=--report-dir=/reports \
  --volume /reports \
  --entrypoint '["python", "-m", "pytest"]' --cmd '-m daily' \
  --label org.opencontainers.image.title=opscheck \
  --label "org.opencontainers.image.description=Operations runbooks as a pytest suite: checks over live systems, with an audit record." \
  --label "org.opencontainers.image.version=$VERSION" \
  --label "org.opencontainers.image.revision=$(git -C "$REPO" rev-parse HEAD 2>/dev/null || echo unknown)" \
  --label "org.opencontainers.image.created=$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
  --label "org.opencontainers.image.base.name=debian:$SUITE (mmdebstrap minbase)" \
  "$container"
"${BUILDAH[@]}" commit -q --format oci --disable-compression=false --rm "$container" "oci-archive:$IMAGE_TAR.partial:$IMAGE_NAME" >/dev/null
container=""
mv "$IMAGE_TAR.partial" "$IMAGE_TAR"
# Earlier step-2 results of this version are superseded (bases are kept: several trees share one).
find "$CACHE" -maxdepth 1 -name "opscheck-$VERSION-*.oci.tar" ! -path "$IMAGE_TAR" -delete
cp "$IMAGE_TAR" "$OUT"
log "$OUT ($(du -m "$OUT" | cut -f1) MB)"
