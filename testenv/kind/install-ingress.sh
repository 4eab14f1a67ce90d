#!/usr/bin/env bash
# Installs Traefik v3 as the ingress controller of a kind cluster (its Kubernetes Ingress
# provider): a static build of ./cmd/traefik as a FROM scratch image loaded with
# `kind load image-archive`, the RBAC Traefik's documentation gives for that provider, a
# Deployment in the namespace `traefik`, IngressClass `traefik`, and its web entrypoint as
# NodePort 30080 (published on the host's 127.0.0.1 by demo-cluster.yaml). Traefik writes
# each Ingress's status address itself (providers.kubernetesIngress.ingressEndpoint.ip).
# Usage: testenv/kind/install-ingress.sh CLUSTER_NAME KUBECONFIG
#
# The build: traefik's module from the module proxy, built as the main module (its own
# replace directives apply), with three things the proxy cannot serve worked around:
#   * github.com/traefik/traefik/dynamic/ext, a nested module (two empty extension structs)
#     that the module zip leaves out: taken from a git clone of traefik (OPSCHECK_TRAEFIK_GIT)
#   * the containous fork of go-http-auth (basic/digest auth middlewares): not on the proxy,
#     and upstream v0.4.0 lacks what traefik calls (CheckSecret, RequireAuthStale): the
#     fork's branch fork-version-02 (2020) from a git clone (OPSCHECK_GO_HTTP_AUTH_GIT)
#     stands in for the 2026 pseudo-version traefik's go.mod names, which no clone here has
#   * six of lego's ACME DNS providers (edgedns, huaweicloud, oraclecloud, sakuracloud,
#     ucloud, yandexcloud) need SDK versions the proxy does not serve: a copy of lego
#     without them (the ACME DNS challenge is not used here)
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
. "$HERE/common.sh"
NAME="${1:?usage: install-ingress.sh CLUSTER_NAME KUBECONFIG}"
export KUBECONFIG="${2:?usage: install-ingress.sh CLUSTER_NAME KUBECONFIG}"
VERSION="${OPSCHECK_TRAEFIK_VERSION:-v3.7.13}"
TRAEFIK_GIT="${OPSCHECK_TRAEFIK_GIT:-/work/.mirror/traefik+traefik/repo}"
# the last commit that changed pkg/config/dynamic/ext (in v3.7.7 and later)
EXT_COMMIT=a43431b2c8a4a495b9994b1a181a63072e5c1a56
HTTP_AUTH_GIT="${OPSCHECK_GO_HTTP_AUTH_GIT:-/work/.mirror/containous+go-http-auth/repo/.git}"
HTTP_AUTH_COMMIT=a37a7636d23e4e4b9d6f825ed894dcf2b84e35e7 # branch fork-version-02
LEGO_DROPPED=(edgedns huaweicloud oraclecloud sakuracloud ucloud yandexcloud)
BIN="$KIND_CACHE/bin/traefik-$VERSION/traefik"
IMAGES="$KIND_CACHE/load"
IMAGE="localhost/opscheck-traefik:$VERSION"
NODE_PORT=30080

build_traefik() {
  local work="$KIND_CACHE/build/traefik-$VERSION" lego_version
  rm -rf "$work" && mkdir -p "$work" "$(dirname "$BIN")"
  cp -r "$(module_dir "github.com/traefik/traefik/v3@$VERSION")/." "$work/" && chmod -R u+w "$work"
  local clone
  for clone in "$TRAEFIK_GIT" "$HTTP_AUTH_GIT"; do
    [ -d "$clone" ] || { log "no git clone at $clone (OPSCHECK_TRAEFIK_GIT, OPSCHECK_GO_HTTP_AUTH_GIT: see the header)"; exit 1; }
  done
  git --git-dir="$TRAEFIK_GIT" archive "$EXT_COMMIT" pkg/config/dynamic/ext | tar -x -C "$work"
  mkdir "$work/go-http-auth"
  git --git-dir="$HTTP_AUTH_GIT" archive "$HTTP_AUTH_COMMIT" | tar -x -C "$work/go-http-auth"
  lego_version="$(cd "$work" && go list -m -f '{{.Version}}' github.com/go-acme/lego/v5)"
  cp -r "$(module_dir "github.com/go-acme/lego/v5@$lego_version")" "$work/lego" && chmod -R u+w "$work/lego"
  rm -rf "${LEGO_DROPPED[@]/#/$work/lego/providers/dns/}"
  # lego's generated provider switch without them: their import line and their `case` (two lines)
  python3 - "$work/lego/providers/dns/zz_gen_dns_providers.go" "${LEGO_DROPPED[@]}" <<'PY'
import re, sys
path, dropped = sys.argv[1], set(sys.argv[2:])
lines, kept = open(path).read().splitlines(), []
for line in lines:
    imported = re.search(r'/providers/dns/([a-z0-9]+)"$', line)
    returned = re.search(r"return ([a-z0-9]+)\.NewDNSProvider", line)
    if (imported and imported[1] in dropped) or (returned and returned[1] in dropped):
        if returned:
            kept.pop()  # its `case "...":` line
        continue
    kept.append(line)
open(path, "w").write("\n".join(kept) + "\n")
PY
  (cd "$work" &&
    go mod edit -replace github.com/go-acme/lego/v5=./lego \
      -replace github.com/abbot/go-http-auth=./go-http-auth &&
    GOFLAGS=-mod=readonly go build -trimpath -ldflags "-s -w -X github.com/traefik/traefik/v3/pkg/version.Version=$VERSION" \
      -o "$BIN" ./cmd/traefik)
  log "built traefik $VERSION: $BIN"
}

[ -x "$BIN" ] || build_traefik
mkdir -p "$IMAGES"
save_image "$IMAGE" "$BIN"
"$HERE/tool.sh" kind load image-archive --name "$NAME" "$IMAGES/$(echo "$IMAGE" | tr '/:' '__').tar" >&2
"$HERE/tool.sh" kubectl apply -f - >&2 <<MANIFEST
apiVersion: v1
kind: Namespace
metadata: {name: traefik}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: traefik, namespace: traefik}
---
# what the Kubernetes Ingress provider reads and the Ingress status it writes
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: traefik-ingress-controller}
rules:
  - apiGroups: [""]
    resources: [services, secrets, nodes]
    verbs: [get, list, watch]
  - apiGroups: [discovery.k8s.io]
    resources: [endpointslices]
    verbs: [list, watch]
  - apiGroups: [networking.k8s.io]
    resources: [ingresses, ingressclasses]
    verbs: [get, list, watch]
  - apiGroups: [networking.k8s.io]
    resources: [ingresses/status]
    verbs: [update]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: traefik-ingress-controller}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: traefik-ingress-controller}
subjects:
  - {kind: ServiceAccount, name: traefik, namespace: traefik}
---
apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata: {name: traefik}
spec: {controller: traefik.io/ingress-controller}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: traefik, namespace: traefik, labels: {app: traefik}}
spec:
  replicas: 1
  selector: {matchLabels: {app: traefik}}
  template:
    metadata: {labels: {app: traefik}}
    spec:
      serviceAccountName: traefik
      containers:
        - name: traefik
          image: $IMAGE
          imagePullPolicy: Never
          args:
            - --entryPoints.web.address=:8000
            - --entryPoints.traefik.address=:8080
            - --ping
            - --providers.kubernetesIngress
            # the address the host reaches the web entrypoint at (the published NodePort)
            - --providers.kubernetesIngress.ingressEndpoint.ip=127.0.0.1
          ports:
            - {name: web, containerPort: 8000}
            - {name: admin, containerPort: 8080}
          readinessProbe: {httpGet: {path: /ping, port: admin}, initialDelaySeconds: 2, periodSeconds: 5}
          livenessProbe: {httpGet: {path: /ping, port: admin}, initialDelaySeconds: 5, periodSeconds: 10}
          resources:
            requests: {cpu: 10m, memory: 32Mi}
            limits: {memory: 256Mi}
          securityContext:
            runAsUser: 65532
            runAsNonRoot: true
            readOnlyRootFilesystem: true
            allowPrivilegeEscalation: false
            capabilities: {drop: [ALL]}
---
apiVersion: v1
kind: Service
metadata: {name: traefik, namespace: traefik, labels: {app: traefik}}
spec:
  type: NodePort
  selector: {app: traefik}
  ports:
    - {name: web, port: 80, targetPort: web, nodePort: $NODE_PORT}
MANIFEST
"$HERE/tool.sh" kubectl -n traefik rollout status deployment/traefik --timeout=120s >&2
