#!/usr/bin/env bash
# Deletes a kind cluster made by create-cluster.sh (its node containers and kubeconfig).
# Usage: testenv/kind/delete-cluster.sh NAME
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
. "$HERE/common.sh"
NAME="${1:?usage: delete-cluster.sh NAME}"
"$HERE/tool.sh" kind delete cluster --name "$NAME" --kubeconfig "$KIND_CACHE/kubeconfig-$NAME"
rm -f "$KIND_CACHE/kubeconfig-$NAME"
