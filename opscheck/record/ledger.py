"""The run ledger: every run folder's manifest links to the previous one, forming a chain.

`manifest.json` holds the SHA-256 of each file of the run, the run's sequence number in
its reports directory, and the hash of the previous run's manifest. `verify` walks the
chain and names any file changed, added or missing, and any run removed, inserted or
reordered. `reports/.head.json` remembers the newest run, so deleting the latest run is
noticed too.

This is tamper-evident, not tamper-proof: someone who can rewrite every manifest and the
head can forge a consistent chain. Ship the head's hash elsewhere (a ticket, a log) to
anchor it.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from filelock import FileLock

MANIFEST = "manifest.json"
HEAD = ".head.json"
LOCK = ".ledger.lock"
MANIFEST_VERSION = 1


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def read_head(reports_dir: Path) -> dict[str, Any] | None:
    try:
        return json.loads((reports_dir / HEAD).read_text())
    except (FileNotFoundError, ValueError):
        return None


def commit_run(reports_dir: Path, partial: Path, name: str) -> Path:
    """Seal `partial` with a manifest chained to the newest run and rename it into place.

    Under a lock, so concurrent runs into one reports directory chain one after the other.
    """
    with FileLock(str(reports_dir / LOCK)):
        head = read_head(reports_dir)
        files = {p.name: sha256_file(p) for p in sorted(partial.iterdir()) if p.is_file()}
        manifest = {
            "version": MANIFEST_VERSION,
            "run": name,
            "seq": (head["seq"] + 1) if head else 1,
            "previous": {"run": head["run"], "manifest_sha256": head["manifest_sha256"]} if head else None,
            "files": files,
        }
        _write_json_atomic(partial / MANIFEST, manifest)
        target = reports_dir / name
        n = 1
        while target.exists():
            n += 1
            target = reports_dir / f"{name}-{n}"
        if target.name != name:  # the folder name is part of the record: keep them equal
            manifest["run"] = target.name
            _write_json_atomic(partial / MANIFEST, manifest)
        os.chmod(partial, 0o755)
        os.rename(partial, target)
        _write_json_atomic(
            reports_dir / HEAD,
            {"run": target.name, "seq": manifest["seq"], "manifest_sha256": sha256_file(target / MANIFEST)},
        )
        return target


@dataclass
class Problem:
    run: str
    text: str

    def __str__(self) -> str:
        return f"{self.run}: {self.text}"


def verify(reports_dir: Path) -> tuple[list[str], list[Problem]]:
    """Walk the chain. Returns the runs in chain order and every problem found."""
    problems: list[Problem] = []
    manifests: dict[str, dict[str, Any]] = {}
    for folder in sorted(p for p in reports_dir.iterdir() if p.is_dir() and not p.name.startswith(".")):
        mpath = folder / MANIFEST
        if not mpath.is_file():
            problems.append(Problem(folder.name, "no manifest.json: not a sealed run (incomplete or added by hand)"))
            continue
        try:
            manifests[folder.name] = json.loads(mpath.read_text())
        except ValueError:
            problems.append(Problem(folder.name, "manifest.json is not valid JSON"))
    ordered = sorted(manifests.items(), key=lambda kv: kv[1].get("seq", 0))
    expected_seq = 1
    previous: tuple[str, str] | None = None  # (run, manifest sha256)
    for name, m in ordered:
        folder = reports_dir / name
        if m.get("run") != name:
            problems.append(Problem(name, f"folder was renamed (manifest names {m.get('run')!r})"))
        seq = m.get("seq")
        if seq != expected_seq:
            if isinstance(seq, int) and seq > expected_seq:
                missing = ", ".join(str(s) for s in range(expected_seq, seq))
                problems.append(Problem(name, f"run(s) with seq {missing} removed before this one (seq {seq})"))
            else:
                problems.append(Problem(name, f"seq {seq} repeats or goes back: run inserted or reordered"))
        link = m.get("previous")
        if previous is None and link is not None and seq == 1:
            problems.append(Problem(name, "first run links to a previous run"))
        if previous is not None:
            if link is None:
                problems.append(Problem(name, f"does not link to the previous run {previous[0]}: inserted"))
            elif link.get("run") != previous[0] or link.get("manifest_sha256") != previous[1]:
                problems.append(
                    Problem(
                        name,
                        f"link to the previous run does not match {previous[0]}: "
                        "a run was inserted, reordered or its manifest changed",
                    )
                )
        problems += _check_files(folder, m)
        previous = (name, sha256_file(folder / MANIFEST))
        expected_seq = (seq if isinstance(seq, int) else expected_seq) + 1
    head = read_head(reports_dir)
    if head and ordered:
        last_name, last = ordered[-1]
        if head["seq"] > last.get("seq", 0):
            problems.append(Problem(head["run"], f"newest run (seq {head['seq']}) removed"))
        elif head["run"] == last_name and head["manifest_sha256"] != sha256_file(reports_dir / last_name / MANIFEST):
            problems.append(Problem(last_name, "manifest.json changed after the run was sealed"))
    elif head and not ordered:
        problems.append(Problem(head["run"], "every run removed"))
    return [name for name, _ in ordered], problems


def _check_files(folder: Path, manifest: dict[str, Any]) -> list[Problem]:
    problems = []
    recorded: dict[str, str] = manifest.get("files") or {}
    present = {p.name for p in folder.iterdir() if p.is_file() and p.name != MANIFEST}
    for fname, digest in sorted(recorded.items()):
        if fname not in present:
            problems.append(Problem(folder.name, f"{fname} missing"))
        elif sha256_file(folder / fname) != digest:
            problems.append(Problem(folder.name, f"{fname} changed"))
    for fname in sorted(present - set(recorded)):
        problems.append(Problem(folder.name, f"{fname} added after the run was sealed"))
    return problems


def sealed_runs(reports_dir: Path) -> Iterator[dict[str, Any]]:
    """results.json of every sealed run, newest (highest seq) first, read lazily."""
    if not reports_dir.is_dir():
        return
    sealed = []
    for folder in reports_dir.iterdir():
        mpath = folder / MANIFEST
        if folder.name.startswith(".") or not mpath.is_file():
            continue
        try:
            sealed.append((json.loads(mpath.read_text()).get("seq", 0), folder))
        except ValueError:
            continue
    for _, folder in sorted(sealed, reverse=True):
        try:
            yield json.loads((folder / "results.json").read_text())
        except (OSError, ValueError):
            continue


def run_profile(data: dict[str, Any]) -> str | None:
    return ((data.get("run") or {}).get("profile") or {}).get("name")


def previous_results(reports_dir: Path, profile: str, cadences: list[str]) -> dict[str, Any] | None:
    """results.json of the newest sealed run of the same profile and cadences, if any."""
    return next(
        (
            d
            for d in sealed_runs(reports_dir)
            if run_profile(d) == profile and (d.get("run") or {}).get("cadences") == cadences
        ),
        None,
    )


# Outcomes that mean the watched thing is wrong (or could not be shown right): a failure
# streak runs through them. Waived is in it: accepted for a while, not repaired.
FAILING = ("failed", "error", "waived")


class History:
    """The previous run of the same profile and cadences, to say what changed per check."""

    def __init__(self, previous: dict[str, Any] | None) -> None:
        self.previous = previous
        self.run = (previous or {}).get("run") or {}
        self.checks = {(c["id"], c.get("cluster")): c for c in (previous or {}).get("checks", [])}

    def change(self, check_id: str, cluster: str | None, outcome: str, started: str | None) -> dict[str, Any]:
        """The change label (README, "Change since the previous run") and the failure streak's start.

        A waived check is still wrong (accepted, not repaired): it is labelled "waived", never
        "fixed", and its streak goes on, so a failure after the waiver ends keeps its start.
        """
        old = self.checks.get((check_id, cluster))
        now_failing = outcome in FAILING
        was_failing = old is not None and old["outcome"] in FAILING
        if old is None:
            status = "new" if self.previous is not None else "first run"
        elif outcome == "waived":
            status = "waived"
        elif now_failing and was_failing:
            status = "still failing"
        elif now_failing:
            status = "newly failing"
        elif was_failing:
            status = "fixed"
        else:
            status = "unchanged"
        since = None
        if now_failing or outcome == "waived":
            since = (
                ((old.get("change") or {}).get("failing_since") or self.run.get("started")) if was_failing else started
            )
        return {
            "status": status,
            "previous_outcome": old["outcome"] if old else None,
            "previous_run": self.run.get("started"),
            "failing_since": since,
        }
