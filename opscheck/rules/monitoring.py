"""Judging what Prometheus collects: scrape targets, expected jobs, the dashboards' queries,
Grafana, and latency figures against their thresholds.

Objects in (from opscheck/sources/prometheus.py and grafana.py), rows and offenders out.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from opscheck.profile import PrometheusConfig
from opscheck.rules.alerts import answering

if TYPE_CHECKING:
    from opscheck.sources.alertmanager import AlertmanagerState
    from opscheck.sources.grafana import DatasourceHealth
    from opscheck.sources.prometheus import Target

Row = dict[str, Any]
# A scrape older than this many intervals (plus a little slack) is not fresh.
FRESH_INTERVALS = 3


def targets_down(targets: Sequence[Target], ignore_jobs: Sequence[str]) -> tuple[list[Row], list[Row]]:
    """(rows, offenders): every active target; offenders are those not up, outside `ignore_jobs`."""
    rows, offenders = [], []
    for t in sorted(targets, key=lambda t: (t.job, t.instance)):
        ignored = t.job in ignore_jobs
        rows.append(
            {
                "object": f"{t.job}/{t.instance}",
                "health": t.health,
                "last error": t.last_error,
                "counted": "no (ignore_jobs)" if ignored else "yes",
            }
        )
        if t.health != "up" and not ignored:
            offenders.append(
                {
                    "object": f"{t.job}/{t.instance}",
                    "detail": f"{t.health}: {t.last_error}" if t.last_error else t.health,
                }
            )
    return rows, offenders


def stale_jobs(
    expected_jobs: Sequence[str], targets: Sequence[Target], samples: dict[str, float], now: datetime
) -> tuple[list[Row], list[Row]]:
    """(rows, offenders): each expected job without a target, with targets down, scraped
    too long ago, or with no sample in its last scrape (`samples`: per job)."""
    rows, offenders = [], []
    for job in expected_jobs:
        mine = [t for t in targets if t.job == job]
        down = [t for t in mine if t.health != "up"]
        scraped = [(t, (now - t.last_scrape).total_seconds()) for t in mine if t.last_scrape]
        ages = [age for _, age in scraped]
        stale = [t for t, age in scraped if age > FRESH_INTERVALS * t.scrape_interval_seconds + 5]
        problem = ""
        if not mine:
            problem = "no scrape target"
        elif down:
            problem = f"{len(down)} of {len(mine)} targets down: " + "; ".join(
                f"{t.instance} {t.last_error or t.health}" for t in down
            )
        elif stale or len(ages) < len(mine):
            problem = f"last scrape {max(ages, default=0):.0f} s ago"
        elif not samples.get(job):
            problem = "0 samples in the last scrape"
        rows.append(
            {
                "object": f"job {job}",
                "targets": len(mine),
                "up": len(mine) - len(down),
                "last scrape": f"{min(ages):.0f} s ago" if ages else "never",
                "samples": int(samples.get(job) or 0),
                "problem": problem,
            }
        )
        if problem:
            offenders.append({"object": f"job {job}", "detail": problem})
    return rows, offenders


def monitoring_gaps(
    config: PrometheusConfig, jobs: set[str], alert_rules: set[str], alertmanagers: Sequence[AlertmanagerState]
) -> tuple[list[Row], list[Row]]:
    """(rows, offenders): expected scrape jobs and alert rules that are not configured, and
    no Alertmanager, or one that does not answer."""
    rows, offenders = [], []
    for job in config.expected_jobs:
        rows.append({"object": f"scrape job {job}", "configured": "yes" if job in jobs else "NO"})
        if job not in jobs:
            offenders.append({"object": f"scrape job {job}", "detail": "no scrape target"})
    for name in config.alerting.expected_rules:
        rows.append({"object": f"alert rule {name}", "configured": "yes" if name in alert_rules else "NO"})
        if name not in alert_rules:
            offenders.append({"object": f"alert rule {name}", "detail": "not loaded"})
    for am in answering(alertmanagers, "configured", rows, offenders):
        assert am.status is not None
        rows.append({"object": f"Alertmanager {am.url}", "configured": f"yes, {am.status.version}"})
    return rows, offenders


def grafana_problems(
    url: str, health: dict[str, Any], datasources: Sequence[DatasourceHealth]
) -> tuple[list[Row], list[Row]]:
    """(rows, offenders): Grafana not healthy (HTTP 200, database ok), datasources failing their check."""
    rows: list[Row] = [
        {
            "object": "grafana",
            "HTTP": health["http_status"],
            "database": health.get("database", "?"),
            "version": health.get("version", ""),
        }
    ]
    offenders: list[Row] = []
    if health["http_status"] != 200 or health.get("database") != "ok":
        offenders.append(
            {
                "object": f"Grafana {url}",
                "detail": f"HTTP {health['http_status']}, database {health.get('database', '?')}",
            }
        )
    for ds in datasources:
        rows.append({"object": f"datasource {ds.name}", "type": ds.type, "health": "OK" if ds.ok else ds.message})
        if not ds.ok:
            offenders.append({"object": f"Grafana datasource {ds.name}", "detail": ds.message})
    return rows, offenders


def query_short_of_series(name: str, promql: str, found: int, min_series: int) -> tuple[Row, list[Row]]:
    """(row, offenders): a dashboard query returning fewer series than it should."""
    row = {"object": name, "series": found, "expected": f">= {min_series}", "query": promql}
    return row, (
        [{"object": name, "detail": f"{found} series, expected at least {min_series}"}] if found < min_series else []
    )


def slow_shares(
    counts: Sequence[tuple[str, float | None, float | None]], max_percent: float
) -> tuple[list[Row], list[Row], list[Row], float]:
    """(rows, offenders, idle: services with no requests to judge, worst share %) from
    (service, requests, slower requests) over a window."""
    rows, offenders, idle, worst = [], [], [], 0.0
    for service, total, late in counts:
        if not total or late is None or not math.isfinite(total) or not math.isfinite(late):
            rows.append(
                {"object": service, "requests": 0 if not total else total, "slower": "", "share": "no requests"}
            )
            idle.append({"object": service, "detail": "no requests"})
            continue
        share = max(late, 0.0) / total * 100
        worst = max(worst, share)
        rows.append(
            {"object": service, "requests": round(total), "slower": round(max(late, 0.0)), "share": f"{share:.2f}%"}
        )
        if share > max_percent:
            offenders.append({"object": service, "detail": f"{round(late)} of {round(total)} requests, {share:.1f}%"})
    return rows, offenders, idle, worst


def averages_over(figures: Sequence[tuple[str, str, float, float]]) -> tuple[list[Row], list[str]]:
    """(rows, over) from (what, promql, average ms, threshold ms): the figures over their threshold."""
    rows, over = [], []
    for what, promql, ms, limit in figures:
        rows.append({"object": what, "average": f"{ms:.1f} ms", "threshold": f"{limit:g} ms", "query": promql})
        if not math.isfinite(ms):
            over.append(f"{what}: no data ({ms}: no samples in the window)")
        elif ms > limit:
            over.append(f"{what} {ms:.0f} ms (threshold {limit:g} ms)")
    return rows, over
