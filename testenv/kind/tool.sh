#!/usr/bin/env bash
# Runs kind, podman or kubectl the way these scripts do (podman provider, runc, cgroupfs, the
# cache's containers.conf), for tests and by hand:
#   testenv/kind/tool.sh kind get clusters
#   testenv/kind/tool.sh podman stop opscheck-kind-worker
#   testenv/kind/tool.sh kubectl --kubeconfig ... get nodes
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
. "$HERE/common.sh"
tool="${1:?usage: tool.sh kind|podman|kubectl ARGS...}"
shift
case "$tool" in
  # OPSCHECK_KIND_PROVIDER=docker: the QSIGN demo on a stock kind cluster under Docker (README.md)
  kind) KIND_EXPERIMENTAL_PROVIDER="${OPSCHECK_KIND_PROVIDER:-podman}" exec "$("$HERE/build-kind.sh")" "$@" ;;
  podman) exec "${PODMAN[@]}" "$@" ;;
  kubectl) exec "$("$HERE/build-node-binaries.sh")/kubectl" "$@" ;;
  *) echo "tool.sh: unknown tool $tool (kind, podman or kubectl)" >&2; exit 2 ;;
esac
