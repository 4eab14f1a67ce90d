"""Judging the Vault audit log's week (QSIGN 000 주간 점검 3. 보안 점검: 실패한 인증 시도 확인,
Vault Audit 로그 리뷰): events grouped for the reviewer, counts against their limits."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opscheck.sources.vault_audit import AuditEvent


def grouped(events: Sequence[AuditEvent]) -> list[dict[str, Any]]:
    """One row per (kind, identity, path, remote address, error), most frequent first."""
    counts = Counter((e.kind, e.who, e.path, e.remote, e.error) for e in events)
    last = {}
    for e in events:
        last[(e.kind, e.who, e.path, e.remote, e.error)] = e.time
    return [
        {
            # no "root-token: ..." (a colon after a token-like word reads as a secret and is masked)
            "object": f"{kind} {who} {path}",
            "remote_address": remote,
            "error": error,
            "count": n,
            "last": f"{last[(kind, who, path, remote, error)]:%Y-%m-%d %H:%M:%S}Z",
        }
        for (kind, who, path, remote, error), n in counts.most_common(20)
    ]


def counts_over(counts: dict[str, tuple[int, int | None]], window: timedelta, what: str) -> tuple[str, str | None]:
    """(a note with every count and its limit, the failure message when a count is over its limit)
    from {label: (count, limit or None: reported only)}."""
    days = f"{window.total_seconds() / 86400:g} days"
    over = [f"{label} {n} over {limit}" for label, (n, limit) in counts.items() if limit is not None and n > limit]
    note = (
        "; ".join(
            f"{label}: {n} (limit {'none, reported only' if limit is None else limit})"
            for label, (n, limit) in counts.items()
        )
        + f" in the last {days}"
    )
    return note, (f"{what} in the last {days}: {'; '.join(over)}" if over else None)
