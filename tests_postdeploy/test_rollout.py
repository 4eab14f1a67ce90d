"""Postdeploy: the rollout finished, the API answers, logs flow, security settings hold (QSIGN 001)."""

from datetime import timedelta

from opscheck.check import check, component_absent
from opscheck.rules.health import empty_answer
from opscheck.rules.objects import ref
from opscheck.rules.smoke import smoke_detail
from opscheck.rules.workloads import insecure_pods, logging_rows, not_ok, rollout_rows

ALL_WORKLOADS = ("Deployment", "StatefulSet", "DaemonSet")


@check("postdeploy.rollout-complete", severity="critical", covers=["001.postdeploy.pods-running"])
def test_rollout_complete(cluster, profile, evidence):
    """Every workload's rollout is complete: all replicas updated, ready and available, no restarts since

    kubectl rollout status deployment/<name> -n <namespace>
    kubectl describe pod -n <namespace> <pod>; kubectl logs -n <namespace> <pod> --previous
    If the new revision does not become ready: kubectl rollout undo deployment/<name> -n <namespace>
    """
    rows = rollout_rows(
        cluster.workloads(profile.namespaces, ALL_WORKLOADS),
        cluster.in_namespaces("pods", profile.namespaces),
        cluster.in_namespaces("replicasets", profile.namespaces),
    )
    evidence.require(rows, f"no workloads in {', '.join(profile.namespaces)}")
    evidence.table(rows)
    evidence.expect_none(not_ok(rows, "complete"), "rollout(s) not complete", table=False)


@check("postdeploy.api-smoke", severity="critical", covers=["001.postdeploy.api-responding"])
def test_api_smoke(profile, http, evidence):
    """Smoke requests to the API answer the expected status within the latency target

    curl -v <service url><path>; kubectl logs -n qsign -l app=<service> --since=10m
    Check the Service's endpoints (kubectl get endpoints -n qsign <service>) and the ingress;
    if the new release is at fault: kubectl rollout undo deployment/<service> -n qsign
    """
    if not profile.smoke_requests:
        component_absent(profile.required, "smoke-requests", "no smoke_requests in this profile")
    rows = []
    for req in profile.smoke_requests:
        url = profile.service(req.service).url + req.path
        p = http.probe(url, profile.thresholds.http_timeout_seconds)
        nothing = empty_answer(p.body, p.text)
        detail = smoke_detail(p.status, p.elapsed_ms, p.error, req.expect_status, req.max_latency_ms, nothing)
        rows.append(
            {"object": f"GET {req.service} {req.path}", "detail": detail, "status": p.status, "ms": round(p.elapsed_ms)}
        )
    evidence.table(rows)
    evidence.expect_none(not_ok(rows), "smoke request(s) failed", table=False)


@check("postdeploy.logs-recorded", severity="high", covers=["001.postdeploy.logs-recorded"])
def test_logs_recorded(pod_logs, profile, evidence):
    """Every pod of each application is writing log lines

    kubectl logs -n qsign <pod> --since=10m --timestamps
    A silent pod: is it receiving traffic (endpoints), is the log level or output (stdout)
    configured right in the release's ConfigMap, is the node's log path full?
    """
    if not profile.logs.apps:
        component_absent(profile.required, "logs", "no logs.apps in this profile")
    window = timedelta(minutes=profile.logs.recent_minutes)
    lines = {
        app: {
            ref(pod): len(pod_logs.lines([pod], window))
            for pod in pod_logs.app_pods(profile.namespaces, profile.logs.app_label, app)
        }
        for app in profile.logs.apps
    }
    rows = logging_rows(lines, profile.logs.recent_minutes)
    evidence.table(rows)
    evidence.expect_none(not_ok(rows), "pod(s) not logging", table=False)


@check("postdeploy.security-settings", severity="high", covers=["001.postdeploy.security-settings"])
def test_security_settings(cluster, profile, evidence):
    """Pods run as non-root, no privileged container, read-only root filesystem where required

    Set in the workload's pod template: securityContext.runAsNonRoot: true (and runAsUser),
    containers[].securityContext.privileged: false, allowPrivilegeEscalation: false,
    readOnlyRootFilesystem: true (with an emptyDir for paths the application writes).
    kubectl get pod -n <namespace> <pod> -o jsonpath='{.spec.securityContext}{.spec.containers[*].securityContext}'
    """
    pods = cluster.in_namespaces("pods", profile.namespaces)
    rows = insecure_pods(pods, profile.read_only_root_required)
    evidence.examined(pods, f"{len(pods)} pods in {', '.join(profile.namespaces)}")
    evidence.expect_none(rows, "pod(s) with insecure settings")
