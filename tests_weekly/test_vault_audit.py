"""Weekly: the Vault audit log over the week (QSIGN 000 주간 점검 3. 보안 점검: 실패한 인증
시도 확인, Vault Audit 로그 리뷰)."""

from opscheck.check import check
from opscheck.rules.vault_audit import counts_over, grouped


@check("weekly.failed-auth", severity="high", covers=["000.weekly.failed-auth"])
def test_failed_auth(vault_audit, profile, evidence):
    """Failed authentications to Vault over the week (failed logins, rejected tokens) stay under the limit

    Who failed, from where: the audit log's failed entries
    (jq 'select(.type=="response" and .error != null) | [.time, .request.path, .request.remote_address, .error]' audit.log).
    Repeated failures from one address: block it (ingress/WAF, NetworkPolicy) and tell its owner;
    a service's token expired: renew it or fix its auth method (AppRole/Kubernetes role);
    a burst on a user login: lock the account and rotate its credentials.
    """
    limit = profile.vault.audit_review.max_failed_auth
    failed = vault_audit.failed_auth
    evidence.table(grouped(failed))
    evidence.record(measured=len(failed), threshold=limit)
    note, failure = counts_over({"failed authentications": (len(failed), limit)}, vault_audit.window, "Vault audit log")
    evidence.note(note)
    if failure:
        evidence.fail(failure)


@check("weekly.vault-audit-review", severity="high", covers=["000.weekly.vault-audit-review"])
def test_vault_audit_review(vault_audit, profile, evidence):
    """Vault audit log review: permission denials and root-token use over the week within their limits

    vault audit list -detailed; review the week's entries:
    jq 'select(.type=="response") | select(.error != null or (.auth.policies // [] | index("root")))
        | [.time, .auth.display_name, .request.path, .request.remote_address, .error]' audit.log
    Permission denied: a token asking for paths outside its policies (misconfigured app, or probing):
    fix the policy or the app, or revoke the token (vault token revoke -accessor <accessor>).
    Root token use: only for break-glass; find who used it and why, then revoke it
    (vault token revoke <root token>) and generate a new one only when needed (vault operator generate-root).
    """
    limits = profile.vault.audit_review
    denied, root = vault_audit.permission_denied, vault_audit.root_token
    evidence.table(grouped(denied + root))
    evidence.record(measured=len(denied) + len(root))
    note, failure = counts_over(
        {
            "permission denied": (len(denied), limits.max_permission_denied),
            "root-token requests": (len(root), limits.max_root_token_uses),
        },
        vault_audit.window,
        "Vault audit log",
    )
    evidence.note(note)
    if failure:
        evidence.fail(failure)
