"""Results as Prometheus metrics: a node-exporter textfile and a Pushgateway push.

So the checks' outcomes can be graphed and alerted on next to everything else
(e.g. `opscheck_check_status{outcome="failed"} == 1`, or a stale
`opscheck_run_last_timestamp_seconds` when cron stopped running the checklist).

Per check and cluster:
  opscheck_check_status{profile,cadences,check,cluster,severity,outcome}  1 for the outcome, 0 for the others
  opscheck_check_last_run_timestamp_seconds{profile,cadences,check,cluster}
  opscheck_check_duration_seconds{profile,cadences,check,cluster}
Per run:
  opscheck_run_last_timestamp_seconds{profile,cadences}, opscheck_run_duration_seconds{...},
  opscheck_run_checks{profile,cadences,outcome}

and, from `python -m opscheck verify --textfile-dir DIR` (one file per reports directory):

  opscheck_ledger_intact{reports}               1 when the chain verified, 0 when it did not
  opscheck_ledger_signed{reports}               1 when signatures were checked
  opscheck_ledger_runs{reports}                 sealed runs in the chain
  opscheck_ledger_head_seq{reports}             the trusted head's sequence number (0: none trusted)
  opscheck_ledger_head_info{reports,run,manifest_sha256}  1: the trusted head, to anchor elsewhere
  opscheck_ledger_verified_timestamp_seconds{reports}

Checks without a cluster carry cluster="none". Only results go out: ids, outcomes, times;
never messages or evidence (they name objects, and could carry more than a metric should).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Gauge, push_to_gateway, write_to_textfile
from prometheus_client.exposition import basic_auth_handler, default_handler

from opscheck.errors import OpscheckError
from opscheck.record.ledger import Verdict
from opscheck.record.results import OUTCOMES
from opscheck.record.run import RunInfo, utc_now
from opscheck.redact import printable

NO_CLUSTER = "none"


def registry_for(
    run: Mapping[str, Any], checks: Iterable[Mapping[str, Any]], started: float, finished: float
) -> CollectorRegistry:
    """A registry holding this run's metrics (run = results.json's `run`, checks = its `checks`)."""
    registry = CollectorRegistry()
    base = {"profile": label(run["profile"]["name"]), "cadences": ",".join(run.get("cadences") or []) or "all"}
    labels = [*base, "check", "cluster"]
    status = Gauge(
        "opscheck_check_status",
        "1 for the check's outcome in its latest run, 0 for the others",
        [*labels, "severity", "outcome"],
        registry=registry,
    )
    last = Gauge(
        "opscheck_check_last_run_timestamp_seconds",
        "When the check last ran (run end, Unix time)",
        labels,
        registry=registry,
    )
    duration = Gauge("opscheck_check_duration_seconds", "How long the check took", labels, registry=registry)
    run_last = Gauge(
        "opscheck_run_last_timestamp_seconds", "When the checklist run ended (Unix time)", list(base), registry=registry
    )
    run_duration = Gauge(
        "opscheck_run_duration_seconds", "How long the checklist run took", list(base), registry=registry
    )
    run_checks = Gauge("opscheck_run_checks", "Checks of the run by outcome", [*base, "outcome"], registry=registry)
    counts = {o: 0 for o in OUTCOMES}
    for c in checks:
        key = {**base, "check": label(c["id"]), "cluster": label(c.get("cluster") or NO_CLUSTER)}
        for outcome in OUTCOMES:
            status.labels(**key, severity=c["severity"], outcome=outcome).set(1 if c["outcome"] == outcome else 0)
        last.labels(**key).set(finished)
        duration.labels(**key).set(c.get("duration_seconds") or 0)
        counts[c["outcome"]] = counts.get(c["outcome"], 0) + 1
    run_last.labels(**base).set(finished)
    run_duration.labels(**base).set(max(0.0, finished - started))
    for outcome, n in counts.items():
        run_checks.labels(**base, outcome=outcome).set(n)
    return registry


def label(value: str) -> str:
    """A label value as exported: masked, no control characters (opscheck/redact.py)."""
    return printable(str(value), one_line=True)


def textfile_name(run: Mapping[str, Any]) -> str:
    """One file per profile and cadences, so the daily and weekly jobs do not overwrite each other."""
    cadences = "-".join(run.get("cadences") or []) or "all"
    return f"opscheck-{run['profile']['name']}-{cadences}.prom"


def write_textfile(directory: Path, run: Mapping[str, Any], registry: CollectorRegistry) -> Path:
    """Atomically (temp file + rename), so node-exporter never reads half a file."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / textfile_name(run)
    write_to_textfile(str(path), registry)
    os.chmod(path, 0o644)
    return path


def push(
    url: str,
    run: Mapping[str, Any],
    registry: CollectorRegistry,
    *,
    timeout: float,
    username: str | None = None,
    password: str | None = None,
) -> None:
    """Replace this profile's and cadences' group on the Pushgateway (HTTP PUT)."""
    grouping = {"profile": label(run["profile"]["name"]), "cadences": ",".join(run.get("cadences") or []) or "all"}

    def handler(url: str, method: str, timeout: float | None, headers: list, data: bytes):
        if username is not None:
            return basic_auth_handler(url, method, timeout, headers, data, username, password or "")
        return default_handler(url, method, timeout, headers, data)

    push_to_gateway(url, job="opscheck", grouping_key=grouping, registry=registry, timeout=timeout, handler=handler)


def export_results(run: RunInfo, checks: list[dict[str, Any]]) -> list[str]:
    """Results as Prometheus metrics where the profile says; one line per outcome for the terminal.

    A failed export is reported but does not change the run's verdict: the checks ran, and
    the report says how; alert on a stale opscheck_run_last_timestamp_seconds for the rest.
    """
    export = run.profile.export
    if export.textfile_dir is None and export.pushgateway is None:
        return []
    data = run.as_dict()
    registry = registry_for(data, checks, run.started.timestamp(), (run.finished or utc_now()).timestamp())
    notes = []
    if export.textfile_dir is not None:
        try:
            path = write_textfile(run.profile.relative_path(export.textfile_dir), data, registry)
            notes.append(f"metrics written to {path}")
        except OSError as exc:
            notes.append(f"metrics NOT written to {export.textfile_dir}: {exc.strerror or exc}")
    if export.pushgateway is not None:
        gw = export.pushgateway
        try:
            password = gw.password.read() if gw.password else None
            push(gw.url, data, registry, timeout=gw.timeout_seconds, username=gw.username, password=password)
            notes.append(f"metrics pushed to {gw.url}")
        except (OSError, OpscheckError) as exc:  # URLError is an OSError
            notes.append(f"metrics NOT pushed to {gw.url}: {getattr(exc, 'reason', None) or exc}")
    # Notes name URLs and errors: what reaches the terminal is masked there too.
    return [printable(note, one_line=True) for note in notes]


def ledger_registry(reports_dir: Path, verdict: Verdict, *, signed: bool, now: float) -> CollectorRegistry:
    """The ledger's verdict and the head verify trusts (opscheck/record/ledger.py)."""
    registry = CollectorRegistry()
    base = {"reports": str(reports_dir)}
    labels = list(base)
    head = verdict.head or {}
    Gauge("opscheck_ledger_intact", "1 when the ledger verified intact", labels, registry=registry).labels(**base).set(
        0 if verdict.problems else 1
    )
    Gauge("opscheck_ledger_signed", "1 when signatures were verified", labels, registry=registry).labels(**base).set(
        1 if signed else 0
    )
    Gauge("opscheck_ledger_runs", "Sealed runs in the ledger", labels, registry=registry).labels(**base).set(
        len(verdict.runs)
    )
    Gauge("opscheck_ledger_head_seq", "The trusted head's sequence number", labels, registry=registry).labels(
        **base
    ).set(head.get("seq") or 0)
    info = Gauge(
        "opscheck_ledger_head_info", "The trusted head (1)", [*labels, "run", "manifest_sha256"], registry=registry
    )
    if head:
        info.labels(**base, run=head["run"], manifest_sha256=head["manifest_sha256"]).set(1)
    Gauge(
        "opscheck_ledger_verified_timestamp_seconds", "When verify ran (Unix time)", labels, registry=registry
    ).labels(**base).set(now)
    return registry


def write_ledger_textfile(directory: Path, reports_dir: Path, verdict: Verdict, *, signed: bool) -> Path:
    """opscheck-ledger-<reports dir>.prom, atomically."""
    directory.mkdir(parents=True, exist_ok=True)
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", str(reports_dir.resolve()).strip("/")) or "root"
    path = directory / f"opscheck-ledger-{slug}.prom"
    write_to_textfile(str(path), ledger_registry(reports_dir, verdict, signed=signed, now=utc_now().timestamp()))
    os.chmod(path, 0o644)
    return path
