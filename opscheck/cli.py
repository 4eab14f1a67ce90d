"""`python -m opscheck ...`: commands around the suite that do not run checks.

Exit codes: 0 success, 1 verify found a broken chain (or coverage found an uncovered
runbook item), 2 bad usage, 3 the suite's declarations are broken.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from collections.abc import Sequence
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

import pytest

from opscheck.check import CADENCES, PRIMARY_CADENCE_DIRS

CHECK_DIRS = tuple(PRIMARY_CADENCE_DIRS)


class _CatalogCollector:
    """Collects the checks pytest finds, without running or contacting anything."""

    def __init__(self) -> None:
        self.entries: list[dict[str, Any]] = []
        self.errors: list[str] = []

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            self.errors.append(f"{report.nodeid or 'collection'}: {str(report.longrepr).strip().splitlines()[-1]}")

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        from opscheck.plugin import catalog_of

        self.entries = [entry.as_dict() for entry in catalog_of(session.items)]


def catalog(root: Path) -> list[dict[str, Any]]:
    dirs = [str(root / d) for d in CHECK_DIRS if (root / d).is_dir()]
    collector = _CatalogCollector()
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = pytest.main(
            ["--collect-only", "-q", "--opscheck-catalog", "--rootdir", str(root), *dirs],
            plugins=[collector],
        )
    if collector.errors or code not in (0, 5):
        detail = "; ".join(collector.errors) or (err.getvalue().strip().splitlines() or ["collection failed"])[-1]
        raise SystemExit(f"opscheck catalog: cannot collect the checks: {detail}")
    ids: dict[str, str] = {}
    for e in collector.entries:
        if e["id"] in ids:
            raise SystemExit(f"opscheck catalog: duplicate check id {e['id']}: {ids[e['id']]} and {e['nodeid']}")
        ids[e["id"]] = e["nodeid"]
    return sorted(collector.entries, key=lambda e: (CADENCES.index(e["cadences"][0]) if e["cadences"] else 99, e["id"]))


def verify_command(reports: Path) -> int:
    """0: the chain is intact; 1: something was changed, removed, inserted or reordered."""
    from opscheck.record.ledger import verify

    if not reports.is_dir():
        print(f"opscheck verify: {reports} is not a directory", file=sys.stderr)
        return 2
    runs, problems = verify(reports)
    for p in problems:
        print(f"BROKEN {p}")
    if problems:
        print(f"opscheck verify: {len(problems)} problem(s) in {len(runs)} sealed run(s) under {reports}")
        return 1
    print(
        f"opscheck verify: {len(runs)} run(s) under {reports}, chain intact" + (f", newest {runs[-1]}" if runs else "")
    )
    return 0


def coverage_command(root: Path, fmt: str, gaps_only: bool) -> int:
    """0: every runbook item is covered; 1: some are not; 3: the checks cannot be collected."""
    from opscheck.record.coverage import coverage, render_text

    try:
        entries = catalog(root)
    except SystemExit as exc:
        print(exc.code, file=sys.stderr)
        return 3
    report = coverage(entries)
    if fmt == "json":
        json.dump(report, sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
    else:
        print(render_text(report, gaps_only))
    return 0 if report["summary"]["uncovered"] == 0 else 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m opscheck", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    cat = sub.add_parser("catalog", help="list every check (id, title, severity, cadences, runbook keys, node id)")
    cat.add_argument("--format", choices=("text", "json"), default="text")
    cat.add_argument("--root", type=Path, default=Path.cwd(), help="the suite's root directory")
    ver = sub.add_parser(
        "verify", help="check the chain of run folders: changed files, removed, inserted or reordered runs"
    )
    ver.add_argument("reports", type=Path, nargs="?", default=Path("reports"))
    tr = sub.add_parser("trace", help="runbook items -> checks -> latest outcome and run; lists the gaps")
    tr.add_argument("--reports", type=Path, default=Path("reports"))
    tr.add_argument("--profile", help="only runs of this profile name")
    tr.add_argument("--format", choices=("text", "json"), default="text")
    tr.add_argument("--root", type=Path, default=Path.cwd(), help="the suite's root directory")
    cov = sub.add_parser(
        "coverage",
        help="runbook items covered by a check and those no check covers, by runbook and cadence",
        description="List the runbook items (opscheck/data/runbook-items.yaml) a check covers and those "
        "none covers, grouped by runbook and cadence, without contacting anything.",
        epilog="exit codes: 0 every runbook item is covered; 1 some item is uncovered; 2 bad usage; "
        "3 the checks cannot be collected (a broken declaration)",
    )
    cov.add_argument("--format", choices=("text", "json"), default="text")
    cov.add_argument("--gaps", action="store_true", help="list only the uncovered items (text format)")
    cov.add_argument("--root", type=Path, default=Path.cwd(), help="the suite's root directory")
    args = parser.parse_args(argv)

    if args.command == "coverage":
        return coverage_command(args.root.resolve(), args.format, args.gaps)
    if args.command == "trace":
        from opscheck.record.trace import latest_outcomes, matrix, render_text, sealed_results

        rows = matrix(catalog(args.root.resolve()), latest_outcomes(sealed_results(args.reports, args.profile)))
        if args.format == "json":
            json.dump([r.as_dict() for r in rows], sys.stdout, indent=2, ensure_ascii=False)
            sys.stdout.write("\n")
        else:
            print(render_text(rows))
        return 0
    if args.command == "verify":
        return verify_command(args.reports)

    if args.command == "catalog":
        entries = catalog(args.root.resolve())
        if args.format == "json":
            json.dump(entries, sys.stdout, indent=2, ensure_ascii=False)
            sys.stdout.write("\n")
        else:
            for e in entries:
                print(f"{e['id']:<32} {e['severity']:<8} {','.join(e['cadences']):<20} {' '.join(e['covers'])}")
            print(f"{len(entries)} checks")
    return 0
