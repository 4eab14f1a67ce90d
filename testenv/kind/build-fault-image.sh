#!/usr/bin/env bash
# Builds the lived faults' image (fault.c, static, FROM scratch) as a docker archive for
# `kind load image-archive`; it is not in the node image, so a cluster gets it only when
# a test loads it.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
. "$HERE/common.sh"
IMAGES="$KIND_CACHE/load"
tag="$(sha256sum "$HERE/fault.c" | cut -c1-8)"
mkdir -p "$IMAGES" "$KIND_CACHE/bin/fault-$tag"
binary="$KIND_CACHE/bin/fault-$tag/fault"
[ -x "$binary" ] || gcc -Os -static -Wall -Werror -o "$binary" "$HERE/fault.c"
save_image "localhost/opscheck-fault:$tag" "$binary"
# two lines: the archive, then the image name it holds
echo "$IMAGES/localhost_opscheck-fault_$tag.tar"
echo "localhost/opscheck-fault:$tag"
