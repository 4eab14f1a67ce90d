"""Monthly: every certificate's expiry listed, TLS Secrets and the HSM client certificate
(QSIGN 000 monthly check-certificates.sh, 001 monthly checklist)."""

from opscheck.check import check, component_absent
from opscheck.rules.certs import pem_file_expiry, tls_secret_expiry


@check("monthly.cert-expiry", severity="critical", covers=["000.monthly.cert-expiry", "001.monthly.cert-expiry"])
def test_cert_expiry_monthly(cluster, profile, hosts, evidence):
    r"""Certificate expiry report: TLS Secrets and the HSM client certificate, none within the threshold

    TLS: kubectl get secret -n <namespace> <name> -o jsonpath='{.data.tls\.crt}' | base64 -d | openssl x509 -noout -enddate
    HSM: kubectl exec -n qsign deployment/hsm-adapter -- openssl x509 -in /etc/hsm/client-cert.pem -noout -enddate
    Renew a TLS certificate (cert-manager: cmctl renew, or re-issue from the CA) and roll the pods mounting it.
    Request a new HSM client certificate from the HSM's CA, install it (with its key) on the HSM adapter
    hosts, restart hsm-adapter and check /health/ready reports hsm UP.
    """
    limit = profile.thresholds.cert_days
    namespaces = profile.certificate_namespaces or profile.namespaces
    rows, offenders = tls_secret_expiry(cluster.in_namespaces("secrets", namespaces), limit, kind="TLS Secret")
    for spec in profile.security.hsm_certificates:
        chosen = [h for h in profile.hosts if spec.host_role in h.roles]
        if not chosen:
            offenders.append({"object": spec.name, "detail": f"no host with role {spec.host_role!r} in the profile"})
        for h in chosen:
            f = hosts[h.name].file(spec.file)
            row, offender = pem_file_expiry(
                f"{h.name}:{spec.file}", f.content if f.exists else None, limit, kind=f"{spec.name} certificate"
            )
            rows += [row] if row else []
            offenders += [offender] if offender else []
    if not rows and not offenders:
        component_absent(
            profile.required,
            "certificates",
            f"no TLS Secrets in {', '.join(namespaces)} and no security.hsm_certificates",
        )
    evidence.table(rows)
    evidence.note(f"threshold: {limit} days")
    evidence.expect_none(offenders, f"certificates unreadable or expiring within {limit} days", table=False)
