"""Weekly: the Vault audit log over the week (QSIGN 000 주간 점검 3. 보안 점검: 실패한 인증
시도 확인, Vault Audit 로그 리뷰)."""
from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest

from opscheck.check import check
from opscheck.sources.vault_audit import FAILED_AUTH, PERMISSION_DENIED, ROOT_TOKEN, AuditEvent, review_events


def audit_events(profile) -> tuple[list[AuditEvent], timedelta]:
    cfg = profile.vault
    if cfg is None or not cfg.audit_log_file:
        pytest.skip("not applicable: no vault.audit_log_file in this profile")
    window = timedelta(days=cfg.audit_review.window_days)
    return review_events(cfg.audit_log_file, datetime.now(timezone.utc) - window), window


def grouped(events: list[AuditEvent]) -> list[dict]:
    """One row per (kind, identity, path, remote address, error), most frequent first."""
    counts = Counter((e.kind, e.who, e.path, e.remote, e.error) for e in events)
    last = {}
    for e in events:
        last[(e.kind, e.who, e.path, e.remote, e.error)] = e.time
    return [{"object": f"{kind}: {who} {path}", "remote_address": remote, "error": error, "count": n,
             "last": f"{last[(kind, who, path, remote, error)]:%Y-%m-%d %H:%M:%S}Z"}
            for (kind, who, path, remote, error), n in counts.most_common(20)]


def judge(evidence, counts: dict[str, tuple[int, int | None]], window: timedelta, what: str) -> None:
    days = f"{window.total_seconds() / 86400:g} days"
    over = [f"{label} {n} over {limit}" for label, (n, limit) in counts.items() if limit is not None and n > limit]
    evidence.note("; ".join(f"{label}: {n} (limit {'none, reported only' if limit is None else limit})"
                            for label, (n, limit) in counts.items()) + f" in the last {days}")
    if over:
        evidence.fail(f"{what} in the last {days}: {'; '.join(over)}")


@check(
    id="weekly.failed-auth",
    title="Failed authentications to Vault over the week (failed logins, rejected tokens) stay under the limit",
    severity="high",
    covers=["000.weekly.failed-auth"],
    remediation="""\
Who failed, from where: the audit log's failed entries
(jq 'select(.type=="response" and .error != null) | [.time, .request.path, .request.remote_address, .error]' audit.log).
Repeated failures from one address: block it (ingress/WAF, NetworkPolicy) and tell its owner;
a service's token expired: renew it or fix its auth method (AppRole/Kubernetes role);
a burst on a user login: lock the account and rotate its credentials.""",
)
def test_failed_auth(profile, evidence):
    events, window = audit_events(profile)
    failed = [e for e in events if e.kind == FAILED_AUTH]
    evidence.table(grouped(failed))
    evidence.record(measured=len(failed), threshold=profile.vault.audit_review.max_failed_auth)
    judge(evidence, {"failed authentications": (len(failed), profile.vault.audit_review.max_failed_auth)},
          window, "Vault audit log")


@check(
    id="weekly.vault-audit-review",
    title="Vault audit log review: permission denials and root-token use over the week within their limits",
    severity="high",
    covers=["000.weekly.vault-audit-review"],
    remediation="""\
vault audit list -detailed; review the week's entries:
jq 'select(.type=="response") | select(.error != null or (.auth.policies // [] | index("root")))
    | [.time, .auth.display_name, .request.path, .request.remote_address, .error]' audit.log
Permission denied: a token asking for paths outside its policies (misconfigured app, or probing):
fix the policy or the app, or revoke the token (vault token revoke -accessor <accessor>).
Root token use: only for break-glass; find who used it and why, then revoke it
(vault token revoke <root token>) and generate a new one only when needed (vault operator generate-root).""",
)
def test_vault_audit_review(profile, evidence):
    events, window = audit_events(profile)
    review = profile.vault.audit_review
    denied = [e for e in events if e.kind == PERMISSION_DENIED]
    root = [e for e in events if e.kind == ROOT_TOKEN]
    evidence.table(grouped(denied + root))
    evidence.record(measured=len(denied) + len(root))
    judge(evidence, {"permission denied": (len(denied), review.max_permission_denied),
                     "root-token requests": (len(root), review.max_root_token_uses)},
          window, "Vault audit log")
