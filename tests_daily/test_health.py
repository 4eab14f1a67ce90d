"""Daily: health endpoints and the HSM connection (QSIGN 000 §1, §3 and Health Check)."""
import pytest

from opscheck.check import check
from opscheck.sources.http import probe


@check(
    id="daily.health-endpoints",
    title="Each service's /health, /health/live and /health/ready answer 200 UP, readiness sub-checks UP",
    severity="critical",
    covers=["000.daily.health-200", "001.postdeploy.health-check", "002.daily.service-health-urls"],
    also=["postdeploy"],
    remediation="""\
kubectl describe pod -n qsign <pod> | grep -A 10 "Readiness"
kubectl logs -n qsign <pod> --previous
Common causes: the database connection failed, Vault is sealed, the HSM connection dropped.
kubectl get pods -n qsign -l app=postgresql; kubectl exec -n qsign vault-0 -- vault status""",
)
def test_health_endpoints(profile, http, evidence):
    if not profile.services:
        pytest.skip("not applicable: no services with health endpoints in this profile")
    timeout = profile.thresholds.http_timeout_seconds
    rows = []
    for svc in profile.services:
        for path in svc.health_paths:
            p = probe(http, svc.url + path, timeout)
            problem = p.problem()
            if path == svc.ready_path and p.status is not None:
                down = p.down_subchecks(svc.ready_checks)
                problem = "; ".join(x for x in [problem, *down] if x) or None
            rows.append({"object": f"{svc.name} {path}", "detail": problem or "UP",
                         "http_status": p.status, "ms": round(p.elapsed_ms)})
    evidence.table(rows)
    evidence.expect_none([r for r in rows if r["detail"] != "UP"], "health endpoints not UP", table=False)


@check(
    id="daily.hsm-connected",
    title="The HSM adapter reports its HSM connection UP",
    severity="critical",
    covers=["000.daily.hsm-connected"],
    remediation="""\
kubectl logs -n qsign -l app=hsm-adapter | grep -E "(HSM|connection|timeout)"
Check the network path and credentials to the HSM, the client certificate
(/etc/hsm/client-cert.pem expiry), then restart the adapter:
kubectl rollout restart deployment -n qsign hsm-adapter""",
)
def test_hsm_connected(profile, http, evidence):
    if not profile.hsm_service:
        pytest.skip("not applicable: no hsm_service in this profile")
    svc = profile.service(profile.hsm_service)
    p = probe(http, svc.url + svc.ready_path, profile.thresholds.http_timeout_seconds)
    if p.status is None:
        evidence.fail(f"{svc.name} {svc.ready_path} unreachable: {p.error}")
    down = p.down_subchecks([profile.hsm_check])
    evidence.record(measured="DOWN" if down else "UP", threshold="UP")
    if down:
        evidence.fail(f"{svc.name} reports HSM connection {down[0].split(': ', 1)[1]} (HTTP {p.status})")
