"""Daily: health endpoints and the HSM connection (QSIGN 000 §1, §3 and Health Check)."""

from opscheck.check import check, configured
from opscheck.rules.health import down_subchecks, endpoint_row


@check(
    "daily.health-endpoints",
    severity="critical",
    covers=["000.daily.health-200", "001.postdeploy.health-check", "002.daily.service-health-urls"],
    also=["postdeploy"],
)
def test_health_endpoints(profile, http, evidence):
    """Each service's /health, /health/live and /health/ready answer 200 UP, readiness sub-checks UP

    kubectl describe pod -n qsign <pod> | grep -A 10 "Readiness"
    kubectl logs -n qsign <pod> --previous
    Common causes: the database connection failed, Vault is sealed, the HSM connection dropped.
    kubectl get pods -n qsign -l app=postgresql; kubectl exec -n qsign vault-0 -- vault status
    """
    services = configured(
        profile.services, profile.required, "services", "no services with health endpoints in this profile"
    )
    timeout = profile.thresholds.http_timeout_seconds
    rows = [
        endpoint_row(
            svc.name, path, http.probe(svc.url + path, timeout), svc.ready_checks if path == svc.ready_path else None
        )
        for svc in services
        for path in svc.health_paths
    ]
    evidence.table(rows)
    evidence.expect_none([r for r in rows if r["detail"] != "UP"], "health endpoints not UP", table=False)


@check("daily.hsm-connected", severity="critical", covers=["000.daily.hsm-connected"])
def test_hsm_connected(profile, http, evidence):
    """The HSM adapter reports its HSM connection UP

    kubectl logs -n qsign -l app=hsm-adapter | grep -E "(HSM|connection|timeout)"
    Check the network path and credentials to the HSM, the client certificate
    (/etc/hsm/client-cert.pem expiry), then restart the adapter:
    kubectl rollout restart deployment -n qsign hsm-adapter
    """
    svc = profile.service(configured(profile.hsm_service, profile.required, "hsm", "no hsm_service in this profile"))
    p = http.probe(svc.url + svc.ready_path, profile.thresholds.http_timeout_seconds)
    evidence.require(p.status, f"{svc.name} {svc.ready_path} unreachable: {p.error}")
    down = down_subchecks(p, [profile.hsm_check])
    evidence.record(measured="DOWN" if down else "UP", threshold="UP")
    if down:
        evidence.fail(f"{svc.name} reports HSM connection {down[0].split(': ', 1)[1]} (HTTP {p.status})")
