#!/usr/bin/env bash
# Builds the kind CLI from the Go module proxy into the cache; prints its path.
set -euo pipefail
. "$(dirname "$0")/common.sh"
if [ ! -x "$KIND_BIN/kind" ]; then
  log "building sigs.k8s.io/kind@$KIND_VERSION"
  mkdir -p "$KIND_BIN"
  GOBIN="$KIND_BIN" go install "sigs.k8s.io/kind@$KIND_VERSION"
fi
echo "$KIND_BIN/kind"
