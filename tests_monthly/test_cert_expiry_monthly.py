"""Monthly: every certificate's expiry listed, TLS Secrets and the HSM client certificate
(QSIGN 000 monthly check-certificates.sh, 001 monthly checklist)."""
from opscheck.rules.certs import expiry_rows, parse_pem_bundle, secret_leaf_certificate
from opscheck.check import check, component_absent


@check(
    id="monthly.cert-expiry",
    title="Certificate expiry report: TLS Secrets and the HSM client certificate, none within the threshold",
    severity="critical",
    covers=["000.monthly.cert-expiry", "001.monthly.cert-expiry"],
    remediation="""\
TLS: kubectl get secret -n <namespace> <name> -o jsonpath='{.data.tls\\.crt}' | base64 -d | openssl x509 -noout -enddate
HSM: kubectl exec -n qsign deployment/hsm-adapter -- openssl x509 -in /etc/hsm/client-cert.pem -noout -enddate
Renew a TLS certificate (cert-manager: cmctl renew, or re-issue from the CA) and roll the pods mounting it.
Request a new HSM client certificate from the HSM's CA, install it (with its key) on the HSM adapter
hosts, restart hsm-adapter and check /health/ready reports hsm UP.""",
)
def test_cert_expiry_monthly(cluster, profile, hosts, evidence):
    limit = profile.thresholds.cert_days
    namespaces = profile.certificate_namespaces or profile.namespaces
    rows, offenders = [], []
    for s in cluster.in_namespaces("secrets", namespaces):
        if s.get("type") != "kubernetes.io/tls":
            continue
        name = f"{s['metadata']['namespace']}/{s['metadata']['name']}"
        try:
            row, offender = expiry_rows(name, secret_leaf_certificate(s), limit, kind="TLS Secret")
        except ValueError as exc:
            offenders.append({"object": name, "detail": f"unreadable certificate: {exc}"})
            continue
        rows.append(row)
        offenders += [offender] if offender else []
    for spec in profile.security.hsm_certificates:
        chosen = [h for h in profile.hosts if spec.host_role in h.roles]
        if not chosen:
            offenders.append({"object": spec.name, "detail": f"no host with role {spec.host_role!r} in the profile"})
        for h in chosen:
            obj = f"{h.name}:{spec.file}"
            f = hosts[h.name].file(spec.file)
            if not f.exists:
                offenders.append({"object": obj, "detail": "file not found"})
                continue
            try:
                # only the CERTIFICATE blocks are parsed; a key block is skipped, never kept
                cert = parse_pem_bundle(f.content)[0]
            except ValueError:
                offenders.append({"object": obj, "detail": "no PEM certificate in the file"})
                continue
            row, offender = expiry_rows(obj, cert, limit, kind=f"{spec.name} certificate")
            rows.append(row)
            offenders += [offender] if offender else []
    if not rows and not offenders:
        component_absent(profile.required, "certificates",
                         f"no TLS Secrets in {', '.join(namespaces)} and no security.hsm_certificates")
    evidence.table(rows)
    evidence.note(f"threshold: {limit} days")
    evidence.expect_none(offenders, f"certificates unreadable or expiring within {limit} days", table=False)
