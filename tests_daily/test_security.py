"""Daily: Vault, certificates, access attempts, audit logging (QSIGN 000 §3, §4)."""

from datetime import UTC, datetime, timedelta

from opscheck.check import check, component_absent, configured
from opscheck.redact import excerpt
from opscheck.rules.certs import tls_secret_expiry, tls_secrets
from opscheck.rules.log_patterns import apps_without_logs, matching, per_pod


@check("daily.vault-unsealed", severity="critical", covers=["000.daily.vault-unsealed"], availability=True)
def test_vault_unsealed(vault, evidence):
    """Vault is initialized, unsealed and has an active node

    kubectl exec -n qsign vault-0 -- vault status
    Unseal (threshold of key holders): kubectl exec -n qsign vault-0 -- vault operator unseal <unseal-key-N>
    Long term: auto-unseal through an HSM/KMS seal stanza (seal "pkcs11" / "awskms").
    """
    health = vault.health()
    state = {k: health.get(k) for k in ("initialized", "sealed", "standby", "version", "cluster_name")}
    evidence.table([{"object": vault.config.address, **state}])
    problems = []
    if not health.get("initialized"):
        problems.append("not initialized")
    if health.get("sealed"):
        problems.append("sealed")
    elif health.get("standby"):
        problems.append("answering node is a standby (no active node behind this address)")
    evidence.record(measured="sealed" if health.get("sealed") else "unsealed", threshold="unsealed")
    if problems:
        evidence.fail(f"Vault at {vault.config.address} is {' and '.join(problems)}")


@check("daily.cert-expiry", severity="critical", covers=["000.daily.cert-expiry-30d"])
def test_cert_expiry(cluster, profile, evidence):
    """No TLS certificate in use expires within the threshold

    kubectl get secret -n qsign -o json | jq -r '.items[] | select(.type=="kubernetes.io/tls") | .metadata.name'
    openssl x509 -noout -enddate   (on each tls.crt)
    Renew the certificate (cert-manager: kubectl cert-manager renew, or re-issue) and roll the pods that mount it.
    """
    namespaces = profile.certificate_namespaces or profile.namespaces
    secrets = tls_secrets(cluster.in_namespaces("secrets", namespaces))
    if not secrets:
        component_absent(profile.required, "certificates", f"no TLS secrets in {', '.join(namespaces)}")
    limit = profile.thresholds.cert_days
    rows, offenders = tls_secret_expiry(secrets, limit)
    evidence.table(rows)
    evidence.note(f"threshold: {limit} days")
    evidence.expect_none(offenders, f"certificates expiring within {limit} days", table=False)


@check("daily.abnormal-access", severity="high", covers=["000.daily.abnormal-access", "002.daily.security-events"])
def test_abnormal_access(pod_logs, profile, evidence):
    """Failed or unauthorized access attempts in the window stay under the threshold

    kubectl logs -n qsign -l app=api-server --since=24h | grep -iE "unauthorized|forbidden|authentication failed"
    Group by source address; block abusive sources at the ingress/WAF, rotate credentials that
    were tried, and review the Vault audit log for the same period.
    SmartSensor's security events: kubectl logs --since=24h -l app=oauth2-server -n hankook-security | grep -E '(failed|unauthorized|blocked)'
    """
    rules = profile.logs
    apps = rules.access_apps if rules.access_apps is not None else rules.apps
    configured(apps, profile.required, "logs", "no apps listed under logs.access_apps or logs.apps")
    window = timedelta(minutes=rules.access_window_minutes)
    pods = {app: pod_logs.app_pods(profile.namespaces, rules.app_label, app) for app in apps}
    lines = {app: pod_logs.lines(p, window) for app, p in pods.items()}
    evidence.expect_none(
        apps_without_logs(pods, lines, rules.app_label, profile.namespaces), "apps with no log to judge"
    )
    hits = matching([ln for app in apps for ln in lines[app]], rules.access_pattern)
    by_pod = per_pod(hits)
    evidence.table({"object": pod, "attempts": n} for pod, n in by_pod.items())
    for h in hits[:5]:
        evidence.note(f"example: {h.pod}: {excerpt(h.text, 200)}")
    evidence.expect_at_most(
        len(hits),
        profile.thresholds.abnormal_access,
        what=f"access attempts matching /{rules.access_pattern}/ in the last {window}",
        offenders=[{"object": p, "detail": f"{n} attempts"} for p, n in by_pod.items()],
    )


@check("daily.audit-log", severity="high", covers=["000.daily.audit-log-recorded"])
def test_audit_log(vault, profile, evidence):
    """Vault audit logging is enabled and has recorded entries recently

    vault audit list -detailed
    Re-enable the device if missing: vault audit enable file file_path=/vault/audit/audit.log
    Check the audit volume is writable and not full: a blocked audit device makes Vault refuse requests.
    """
    devices = vault.audit_devices()
    rows = [
        {"object": path, "type": d.get("type"), "file_path": (d.get("options") or {}).get("file_path", "")}
        for path, d in devices.items()
    ]
    evidence.table(rows)
    evidence.require(rows, f"Vault at {vault.config.address} has no audit device enabled")
    log_file = profile.vault.audit_log_file
    if log_file is None:
        evidence.note("vault.audit_log_file not set: only the device list was checked")
        return
    newest = vault.newest_audit_entry(log_file)
    evidence.require(newest, f"audit log {log_file} has no entries")
    age = datetime.now(UTC) - newest
    evidence.note(f"newest audit entry: {newest:%Y-%m-%dT%H:%M:%SZ}")
    evidence.expect_at_most(
        age.total_seconds() / 60,
        profile.thresholds.audit_log_max_age_minutes,
        what=f"age of the newest entry in {log_file}",
        unit=" min",
    )
