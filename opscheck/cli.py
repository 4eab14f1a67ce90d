"""`python -m opscheck ...`: commands around the suite that do not run checks.

Exit codes: 0 success, 1 verify found a broken chain (or coverage found an uncovered
runbook item), 2 bad usage (verify: not a ledger), 3 the suite's declarations are broken,
4 validate found a bad profile or a file it names (the exit code a run gives for it).
pdf and pack: 0 written, 1 pack found a broken ledger, 2 bad input (one line on stderr).
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

from opscheck import __version__
from opscheck.check import CADENCES, PRIMARY_CADENCE_DIRS
from opscheck.errors import CatalogError, ProfileError
from opscheck.runbook import known_items, runbook_items, use_suite

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


def verify_command(args: argparse.Namespace) -> int:
    """0: the chain is intact; 1: something was changed, removed, inserted or reordered;
    2: not a ledger (nothing to verify) or bad usage."""
    from opscheck.errors import OpscheckError
    from opscheck.record.ledger import NotALedger, verify_ledger

    reports: Path = args.reports
    if not reports.is_dir():
        print(f"opscheck verify: {reports} is not a directory", file=sys.stderr)
        return 2
    try:
        verifier = _verifier(args)
        verdict = verify_ledger(reports, verifier, args.expect_head)
    except NotALedger as exc:
        print(f"opscheck verify: {exc}", file=sys.stderr)
        return 2
    except OpscheckError as exc:
        print(f"opscheck verify: {exc}", file=sys.stderr)
        return 2
    for p in verdict.problems:
        print(f"BROKEN {p}")
    for note in verdict.notes:
        print(f"note: {note}")
    signed = f", signatures verified ({verifier.methods()})" if verifier.active else ", unsigned"
    if verdict.problems:
        print(
            f"opscheck verify: {len(verdict.problems)} problem(s) in {len(verdict.runs)} sealed run(s) "
            f"under {reports}{signed}; no head trusted"
        )
    else:
        head = verdict.head or {}
        print(
            f"opscheck verify: {len(verdict.runs)} run(s) under {reports}, chain intact{signed}; "
            f"trusted head {head.get('run')} seq {head.get('seq')} manifest sha256 {head.get('manifest_sha256')} "
            "(anchor it elsewhere; check later with --expect-head)"
        )
    if args.textfile_dir is not None:
        from opscheck.record.export import write_ledger_textfile

        try:
            path = write_ledger_textfile(args.textfile_dir, reports, verdict, signed=verifier.active)
            print(f"opscheck verify: metrics written to {path}")
        except OSError as exc:
            print(
                f"opscheck verify: metrics NOT written to {args.textfile_dir}: {exc.strerror or exc}", file=sys.stderr
            )
            return 2
    return 1 if verdict.problems else 0


def _verifier(args: argparse.Namespace) -> Any:
    """The signatures to check: from the profile (--env) and/or the command line."""
    import os

    from opscheck.errors import ProfileError
    from opscheck.record.signing import Verifier, verifier_of

    verifier = Verifier()
    if args.env is not None:
        from opscheck.profile import load_profile

        verifier = verifier_of(load_profile(args.env))
    allowed = args.allowed_signers or verifier.allowed_signers
    if allowed is not None and not Path(allowed).is_file():
        raise ProfileError(f"--allowed-signers: {allowed} does not exist")
    key = verifier.hmac_key
    if args.hmac_key_file is not None:
        try:
            key = Path(args.hmac_key_file).read_text().strip().encode()
        except OSError as exc:
            raise ProfileError(f"--hmac-key-file: cannot read {args.hmac_key_file}: {exc.strerror}") from None
    if args.hmac_key_env is not None:
        value = os.environ.get(args.hmac_key_env)
        if not value:
            raise ProfileError(f"--hmac-key-env: environment variable {args.hmac_key_env} is not set")
        key = value.encode()
    if key is not None and not key:
        raise ProfileError("the HMAC key is empty")
    return Verifier(
        allowed_signers=Path(allowed) if allowed else None,
        hmac_key=key,
        identity=args.identity or verifier.identity or "opscheck",
    )


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


def validate_command(profile_path: Path, root: Path, release: str | None) -> int:
    """0: the profile and every file it names pass what a run checks at start; 4: they do not
    (the same one line on stderr as the run's)."""
    from opscheck.plugin import load_run_inputs

    use_suite(root)
    try:
        known_items()
        profile, waivers = load_run_inputs(profile_path, root, release=release)
    except (ProfileError, CatalogError) as exc:
        print(f"ERROR: {exc}", file=sys.stderr)
        return 4
    attest = "no attestations" if profile.attestations is None else f"{len(profile.attestations.items)} attested items"
    print(
        f"profile OK: {profile.name} ({len(profile.clusters)} cluster(s), required: "
        f"{', '.join(profile.required) or 'none'}, {len(waivers)} waiver(s), {attest}, "
        f"{len(runbook_items())} runbook items under {root}/runbooks)"
    )
    return 0


def pdf_command(page: Path, output: Path | None) -> int:
    """0: the PDF is written; 2: it could not be (one line on stderr)."""
    from opscheck.record.pdf import PdfError, print_pdf

    # Beside the current directory, named after the run folder: never inside the sealed folder.
    target = output or Path.cwd() / f"{page.resolve().parent.name}-{page.stem}.pdf"
    try:
        written = print_pdf(page, target)
    except PdfError as exc:
        print(f"opscheck pdf: {exc}", file=sys.stderr)
        return 2
    print(f"opscheck pdf: written to {written}")
    return 0


def _signing_options(command: argparse.ArgumentParser) -> None:
    """How the ledger's signatures are checked (verify, pack)."""
    command.add_argument("--env", type=Path, help="profile whose reporting.signing says how the runs are signed")
    command.add_argument("--allowed-signers", type=Path, help="OpenSSH allowed_signers file (ssh-keygen -Y verify)")
    command.add_argument("--identity", help="the principal the runs sign as (default: the profile's, or opscheck)")
    command.add_argument("--hmac-key-file", type=Path, help="file holding the HMAC key the runs sign with")
    command.add_argument("--hmac-key-env", metavar="NAME", help="environment variable holding the HMAC key")


def pack_command(args: argparse.Namespace) -> int:
    """0: the pack is written over an intact ledger; 1: written, but the ledger is broken (the
    pack says so first); 2: bad input (bad period, no run in it, not a ledger, bad output)."""
    from datetime import UTC, datetime

    from opscheck.errors import OpscheckError
    from opscheck.profile.reporting import Schedule
    from opscheck.record.ledger import NotALedger, verify_ledger
    from opscheck.record.pack import build_pack, period_of, render_pack

    reports: Path = args.reports.resolve()
    try:
        period = period_of(args.month, args.from_day, args.to_day)
        if not reports.is_dir():
            raise OpscheckError(f"{reports} is not a directory")
        label = f"{args.profile or 'all'}-{period.label}"
        output: Path = (args.output or Path.cwd() / f"opscheck-pack-{label}.html").resolve()
        if output.is_relative_to(reports):
            raise OpscheckError(f"--output {output}: refused inside the reports directory (the pack only reads it)")
        verifier = _verifier(args)
        schedule = Schedule()
        if args.env is not None:
            from opscheck.profile import load_profile

            schedule = load_profile(args.env).schedule
        verdict = verify_ledger(reports, verifier)
        pack = build_pack(
            reports,
            period,
            args.profile,
            verdict,
            verifier.methods() if verifier.active else "",
            known_items(),
            schedule.limits(),
            datetime.now(UTC),
        )
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(render_pack(pack, output), encoding="utf-8")
        written = [output]
        if args.pdf:
            from opscheck.record.pdf import print_pdf

            written.append(print_pdf(output, output.with_suffix(".pdf")))
    except (NotALedger, OpscheckError) as exc:
        print(f"opscheck pack: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"opscheck pack: cannot write {exc.filename}: {exc.strerror}", file=sys.stderr)
        return 2
    where = " and ".join(str(p) for p in written)
    if verdict.problems:
        print(
            f"opscheck pack: ledger BROKEN ({len(verdict.problems)} problem(s), first: {verdict.problems[0]}); "
            f"pack written to {where}, marked broken",
            file=sys.stderr,
        )
        return 1
    print(
        f"opscheck pack: {len(pack.runs)} run(s) of {period.first} to {period.last}, ledger intact; written to {where}"
    )
    return 0


def _format_and_root(command: argparse.ArgumentParser) -> None:
    """The options of the commands that read the suite's checks: output format and suite root."""
    command.add_argument("--format", choices=("text", "json"), default="text")
    command.add_argument("--root", type=Path, default=Path.cwd(), help="the suite's root directory")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m opscheck", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"opscheck {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    cat = sub.add_parser("catalog", help="list every check (id, title, severity, cadences, runbook keys, node id)")
    _format_and_root(cat)
    ver = sub.add_parser(
        "verify",
        help="check the chain of run folders: changed files, removed, inserted or reordered runs",
        description="Walk the ledger of a reports directory and name every change since the runs were sealed. "
        "With a key, every manifest and the head must carry a valid signature, so a rewritten chain is found.",
        epilog="exit codes: 0 the chain is intact (the trusted head is printed); 1 something was changed, added, "
        "removed, inserted or reordered, or a signature does not verify; 2 not a ledger (empty, or no sealed run "
        "and no head) or bad usage",
    )
    ver.add_argument("reports", type=Path, nargs="?", default=Path("reports"))
    _signing_options(ver)
    ver.add_argument(
        "--expect-head",
        metavar="SHA256",
        help="the manifest sha256 of a head anchored elsewhere (printed by an earlier verify): it must still be there",
    )
    ver.add_argument(
        "--textfile-dir", type=Path, help="write the verdict and trusted head as metrics for node-exporter here"
    )
    tr = sub.add_parser("trace", help="runbook items -> checks -> latest outcome and run; lists the gaps")
    tr.add_argument("--reports", type=Path, default=Path("reports"))
    tr.add_argument("--profile", help="only runs of this profile name")
    _format_and_root(tr)
    cov = sub.add_parser(
        "coverage",
        help="runbook items covered by a check and those no check covers, by runbook and cadence",
        description="List the runbook items (the suite's runbooks/*.yaml) a check covers and those "
        "none covers, grouped by runbook and cadence, without contacting anything.",
        epilog="exit codes: 0 every runbook item is covered; 1 some item is uncovered; 2 bad usage; "
        "3 the checks cannot be collected (a broken declaration)",
    )
    _format_and_root(cov)
    cov.add_argument("--gaps", action="store_true", help="list only the uncovered items (text format)")
    val = sub.add_parser(
        "validate",
        help="validate a profile and the files it names as a run does at start, without running a check",
        description="Every validation a run does before its first check (the profile model, required:, "
        "windows against cadences, secrets' variables, waivers and attestation files, the suite's runbooks), "
        "without running a check or contacting a server.",
        epilog="exit codes: 0 the profile is valid; 4 it is not (one line on stderr, as a run prints it)",
    )
    val.add_argument("profile", type=Path)
    val.add_argument("--root", type=Path, default=Path.cwd(), help="the suite's root directory")
    val.add_argument("--release", help="the release id a deployment gate checks (as pytest --release)")
    pdf = sub.add_parser(
        "pdf",
        help="print a report page (report.html, an audit pack) to PDF with headless Chromium",
        description="Print an HTML report with headless Chromium, using the page's print stylesheet "
        "(evidence open, no table row cut across pages). Written outside the sealed run folder.",
        epilog="exit codes: 0 the PDF is written; 2 it could not be (no such page, no chromium, chromium failed)",
    )
    pdf.add_argument("page", type=Path, help="the HTML file (e.g. reports/<run>/report.html)")
    pdf.add_argument("-o", "--output", type=Path, help="the PDF to write (default: ./<run folder>-<page>.pdf)")
    pk = sub.add_parser(
        "pack",
        help="the monthly audit pack: verify the ledger, then every runbook item by day, missed runs, "
        "failure streaks, waivers, attestations and the pass rate over a period, as one HTML page",
        description="Read the sealed runs of a period (nothing in the reports directory is written) and write "
        "one self-contained HTML page, and a PDF on request.",
        epilog="exit codes: 0 written, ledger intact; 1 written, but the ledger is broken (the pack says so "
        "first); 2 bad input: a bad period, no sealed run in it, not a ledger, an output inside the reports directory",
    )
    pk.add_argument("--reports", type=Path, default=Path("reports"))
    pk.add_argument("--month", help="the period: a month, YYYY-MM")
    pk.add_argument("--from", dest="from_day", metavar="YYYY-MM-DD", help="the period's first day (with --to)")
    pk.add_argument("--to", dest="to_day", metavar="YYYY-MM-DD", help="the period's last day, included")
    pk.add_argument("--profile", help="only runs of this profile (system) name")
    pk.add_argument(
        "-o", "--output", type=Path, help="the HTML to write (default: ./opscheck-pack-<profile>-<period>.html)"
    )
    pk.add_argument("--pdf", action="store_true", help="also print it to PDF beside the HTML (headless Chromium)")
    pk.add_argument("--root", type=Path, default=Path.cwd(), help="the suite's root directory (its runbooks/)")
    _signing_options(pk)
    args = parser.parse_args(argv)
    if getattr(args, "root", None) is not None:
        use_suite(args.root.resolve())  # runbook items come from this suite's runbooks/

    if args.command == "validate":
        return validate_command(args.profile, args.root.resolve(), args.release)

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
        return verify_command(args)
    if args.command == "pack":
        return pack_command(args)
    if args.command == "pdf":
        return pdf_command(args.page, args.output)

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
