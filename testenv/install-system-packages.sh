#!/usr/bin/env bash
# Debian packages the test environment runs: PostgreSQL, Prometheus, node-exporter, Alertmanager, Redis, and
# Chromium with a CJK font for the report rendering test (the runbook text is Korean).
# Skips apt entirely when everything is already installed (the common, warm case).
set -euo pipefail
PACKAGES=(postgresql prometheus prometheus-node-exporter iproute2 chromium fonts-noto-cjk prometheus-pushgateway prometheus-alertmanager redis-server
  openjdk-17-jre-headless maven libfaketime  # OpenSearch (testenv/search.py): assembled with maven, run on the JRE
  mmdebstrap buildah podman runc uidmap  # the OCI image (image/build.sh) and its run (selftests/runs/test_image.py)
  golang-github-containernetworking-plugin-dnsname)  # kind under podman: nodes resolve each other (testenv/kind/)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "install-system-packages: installing ${missing[*]}" >&2
  SUDO=""
  [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi
command -v go >/dev/null || { echo "install-system-packages: Go is required to build the test cluster (https://go.dev/dl)" >&2; exit 1; }
# kind's podman provider always mounts the host's /lib/modules read-only; a VM without kernel
# module files has none, and the node container then fails to start (testenv/kind/README.md,
# failure 1). An empty folder is all it needs.
if [ ! -d /lib/modules ]; then
  SUDO=""
  [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO mkdir -p /lib/modules
fi
