"""Daily (and monthly): cert-manager Certificates Ready and not expiring (SmartSensor 002
monthly security audit, multi-cluster 004 §1.3)."""

from opscheck.check import check, component_absent
from opscheck.rules.cert_manager import certificate_findings, now


@check(
    "daily.cert-manager-certificates",
    severity="critical",
    covers=["004.daily.cert-expiry", "002.monthly.certificates-ready"],
    also=["monthly"],
)
def test_cert_manager_certificates(cluster, profile, evidence):
    """Every cert-manager Certificate is Ready and expires beyond the threshold

    kubectl get certificates -A
    kubectl describe certificate <name> -n <namespace>     (Ready condition, Events: issuer errors, failed orders)
    kubectl get certificaterequests,orders,challenges -n <namespace>
    Fix the Issuer/ClusterIssuer (credentials, ACME challenge reachability), then force a renewal:
    cmctl renew <name> -n <namespace>, or delete the Certificate and let cert-manager issue it again.
    Roll the pods that mount the Secret once the new certificate is in it.
    """
    if not cluster.served("certificates"):
        component_absent(
            profile.required, "cert-manager", f"cluster {cluster.name} does not serve cert-manager.io/v1 Certificates"
        )
    scope = profile.certificate_namespaces
    certs = cluster.list("certificates") if scope is None else cluster.in_namespaces("certificates", scope)
    limit = profile.thresholds.cert_days
    rows, offenders = certificate_findings(certs, now(), limit)
    evidence.table(rows)
    evidence.note(
        f"{len(certs)} Certificates in {'all namespaces' if scope is None else ', '.join(scope)}; "
        f"threshold: {limit} days"
    )
    evidence.expect_none(offenders, f"Certificates not Ready or expiring within {limit} days", table=False)
