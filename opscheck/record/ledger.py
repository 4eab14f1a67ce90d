"""The run ledger: every run folder's manifest links to the previous one, forming a chain.

`manifest.json` holds the SHA-256 of each file of the run (subfolders included), the run's
sequence number in its reports directory, and the hash of the previous run's manifest.
`reports/.head.json` names the newest run. `verify` walks the chain and names any file
changed, added or missing, any run removed, inserted or reordered, and a removed newest run.

Unsigned, this is tamper-evident against accidents, not against someone who can write the
reports directory: they can rewrite every manifest and the head consistently. Signed
(profile `reporting.signing`, opscheck/record/signing.py), each manifest carries detached
signatures (`manifest.json.sig`, `manifest.json.hmac`) and the head its signatures inline,
so a rewritten chain or head no longer verifies. Deleting the newest run together with the
head is found when the ledger is signed (a signed ledger always has a head), or against the
head an auditor anchored elsewhere (`verify --expect-head SHA256`, the value verify prints
and exports as `opscheck_ledger_head_info`). A signed head can still be replaced by an
older signed head; only the anchored head rules that out.

Commit order, so that a crash at any point leaves a ledger the next run continues:
manifest (and its signatures) written inside the hidden partial folder; the folder renamed
into place; the head written (atomically). A crash between the rename and the head write
leaves the head one run behind: the next run (and `verify`) sees that the newest run links
exactly to the head and completes the head instead of calling it tampering.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from filelock import FileLock

from opscheck.record.signing import LEDGER_NAMESPACE, SIGNATURE_SUFFIXES, Signer, Verifier

MANIFEST = "manifest.json"
MANIFEST_SIGNATURES = tuple(MANIFEST + suffix for suffix in SIGNATURE_SUFFIXES)
HEAD = ".head.json"
LOCK = ".ledger.lock"
MANIFEST_VERSION = 2
LOCK_TIMEOUT_SECONDS = 120


@dataclass(frozen=True)
class Permissions:
    """Modes of a sealed run: private by default, or readable by the folder's group (auditors)."""

    folder: int = 0o700
    file: int = 0o600

    @classmethod
    def of(cls, group_readable: bool) -> Permissions:
        return cls(0o750, 0o640) if group_readable else cls()


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def canonical(data: dict[str, Any]) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":")).encode()


def _write_json_atomic(path: Path, data: dict[str, Any], mode: int = 0o600) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(json.dumps(data, indent=2, sort_keys=True) + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def read_head(reports_dir: Path) -> dict[str, Any] | None:
    """The head's fields (run, seq, manifest_sha256), without its signatures."""
    doc = read_head_document(reports_dir)
    if doc is None:
        return None
    return doc.get("head") if "head" in doc else doc  # version 1 heads had the fields at top level


def _json_object(path: Path, unreadable: tuple[type[OSError], ...] = (FileNotFoundError,)) -> dict[str, Any] | None:
    """The JSON object in `path`; None when the file is `unreadable` (by default: absent), not
    JSON, or holds something else than an object. Other OS errors propagate."""
    try:
        doc = json.loads(path.read_text())
    except (*unreadable, ValueError, UnicodeDecodeError):
        return None
    return doc if isinstance(doc, dict) else None


def read_head_document(reports_dir: Path) -> dict[str, Any] | None:
    return _json_object(reports_dir / HEAD)


def _write_head(reports_dir: Path, head: dict[str, Any], signer: Signer, mode: int) -> None:
    doc: dict[str, Any] = {"head": head}
    if signer.active:
        doc["signatures"] = signer.sign(canonical(head), LEDGER_NAMESPACE)
    _write_json_atomic(reports_dir / HEAD, doc, mode)


def run_files(folder: Path) -> dict[str, str]:
    """Every file under `folder` (relative POSIX path -> SHA-256), but the manifest and its signatures."""
    files = {}
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder).as_posix()
        if rel in (MANIFEST, *MANIFEST_SIGNATURES) or not path.is_file():
            continue
        files[rel] = sha256_file(path)
    return files


def _manifest_of(folder: Path) -> dict[str, Any] | None:
    return _json_object(folder / MANIFEST, unreadable=(OSError,))


def _newest_sealed(reports_dir: Path) -> tuple[Path, dict[str, Any]] | None:
    newest: tuple[Path, dict[str, Any]] | None = None
    for folder in reports_dir.iterdir():
        if folder.name.startswith(".") or not folder.is_dir():
            continue
        m = _manifest_of(folder)
        if m is not None and isinstance(m.get("seq"), int) and (newest is None or m["seq"] > newest[1]["seq"]):
            newest = (folder, m)
    return newest


def links_to(manifest: dict[str, Any], head: dict[str, Any] | None) -> bool:
    """Whether `manifest` is the run right after `head` (the first run when there is no head)."""
    if head is None:
        return manifest.get("seq") == 1 and manifest.get("previous") is None
    return manifest.get("seq") == head.get("seq", 0) + 1 and manifest.get("previous") == {
        "run": head.get("run"),
        "manifest_sha256": head.get("manifest_sha256"),
    }


def next_place(reports_dir: Path, signer: Signer) -> dict[str, Any]:
    """Where a run being written now will be sealed: the sequence number after the head, the
    run and manifest it will link to, how it will be signed. Known before the seal (the report
    that shows it is one of the files sealed); a run sealed concurrently may take the number first."""
    head = read_head(reports_dir) if reports_dir.is_dir() else None
    methods = [m for m, key in (("ssh", signer.ssh_key), ("hmac", signer.hmac_key)) if key is not None]
    return {
        "reports_dir": str(reports_dir),
        "seq": (head.get("seq", 0) + 1) if head else 1,
        "previous_run": head.get("run") if head else None,
        "previous_manifest_sha256": head.get("manifest_sha256") if head else None,
        "signed_with": ", ".join(methods),
    }


def complete_head(reports_dir: Path, signer: Signer, mode: int = 0o600) -> dict[str, Any] | None:
    """Finish a commit a crash interrupted after the rename: the newest run links exactly to
    the head (or is the first run and there is no head) but the head does not name it yet.
    Idempotent; anything else is left for `verify` to report. Returns the head."""
    head = read_head(reports_dir)
    newest = _newest_sealed(reports_dir)
    if newest is None:
        return head
    folder, manifest = newest
    if head is not None and head.get("run") == folder.name:
        return head
    if links_to(manifest, head) and manifest.get("run") == folder.name:
        head = {"run": folder.name, "seq": manifest["seq"], "manifest_sha256": sha256_file(folder / MANIFEST)}
        _write_head(reports_dir, head, signer, mode)
    return head


def commit_run(
    reports_dir: Path,
    partial: Path,
    name: str,
    *,
    signer: Signer | None = None,
    permissions: Permissions | None = None,
) -> Path:
    """Seal `partial` with a manifest chained to the newest run and rename it into place.

    Under a lock, so concurrent runs into one reports directory chain one after the other.
    """
    signer = signer or Signer()
    perms = permissions or Permissions()
    with FileLock(str(reports_dir / LOCK), timeout=LOCK_TIMEOUT_SECONDS):
        head = complete_head(reports_dir, signer, perms.file)
        target = reports_dir / name
        n = 1
        while target.exists():
            n += 1
            target = reports_dir / f"{name}-{n}"
        manifest = {
            "version": MANIFEST_VERSION,
            "run": target.name,  # the folder name is part of the record
            "seq": (head["seq"] + 1) if head else 1,
            "previous": {"run": head["run"], "manifest_sha256": head["manifest_sha256"]} if head else None,
            "files": run_files(partial),
        }
        _write_json_atomic(partial / MANIFEST, manifest, perms.file)
        if signer.active:
            signer.sign_file(partial / MANIFEST, LEDGER_NAMESPACE)
        for path in partial.rglob("*"):
            os.chmod(path, perms.folder if path.is_dir() else perms.file)
        os.chmod(partial, perms.folder)
        os.rename(partial, target)
        # A crash here leaves the head one run behind: complete_head() finishes it next time.
        _write_head(
            reports_dir,
            {"run": target.name, "seq": manifest["seq"], "manifest_sha256": sha256_file(target / MANIFEST)},
            signer,
            perms.file,
        )
        return target


@dataclass
class Problem:
    run: str
    text: str

    def __str__(self) -> str:
        return f"{self.run}: {self.text}"


class NotALedger(Exception):
    """The directory holds no sealed run and no head: empty, or not a reports directory."""


@dataclass
class Verdict:
    runs: list[str]
    problems: list[Problem]
    notes: list[str] = field(default_factory=list)
    # The newest run of an intact chain: what an auditor anchors (None when broken or empty).
    head: dict[str, Any] | None = None


def verify_ledger(reports_dir: Path, verifier: Verifier | None = None, expect_head: str | None = None) -> Verdict:
    """Walk the chain; with a verifier, every manifest and the head must carry valid signatures.

    `expect_head`: the manifest SHA-256 of a head anchored elsewhere; it must still be in the chain.
    Raises NotALedger when there is nothing to verify (and no anchored head says there should be).
    """
    verifier = verifier or Verifier()
    problems: list[Problem] = []
    notes: list[str] = []
    manifests: dict[str, dict[str, Any]] = {}
    for folder in sorted(p for p in reports_dir.iterdir() if p.is_dir() and not p.name.startswith(".")):
        if not (folder / MANIFEST).is_file():
            problems.append(Problem(folder.name, "no manifest.json: not a sealed run (incomplete or added by hand)"))
            continue
        m = _manifest_of(folder)
        if m is None:
            problems.append(Problem(folder.name, "manifest.json is not valid JSON"))
        else:
            manifests[folder.name] = m
    head_doc = read_head_document(reports_dir)
    head = read_head(reports_dir)
    if not manifests and head_doc is None and expect_head is None:
        raise NotALedger(
            f"{reports_dir} is not a ledger: no sealed run and no {HEAD} (empty, emptied, or not a reports directory)"
        )
    ordered = sorted(manifests.items(), key=lambda kv: kv[1].get("seq", 0) if isinstance(kv[1].get("seq"), int) else 0)
    digests = {name: sha256_file(reports_dir / name / MANIFEST) for name in manifests}
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
            if not isinstance(link, dict):
                problems.append(Problem(name, f"does not link to the previous run {previous[0]}: inserted"))
            elif link.get("run") != previous[0] or link.get("manifest_sha256") != previous[1]:
                problems.append(
                    Problem(
                        name,
                        f"link to the previous run does not match {previous[0]}: "
                        "a run was inserted, reordered or its manifest changed",
                    )
                )
        if verifier.active:
            why = verifier.file_problem(folder / MANIFEST, LEDGER_NAMESPACE)
            if why:
                problems.append(Problem(name, f"manifest.json signature: {why}: rewritten, or sealed by someone else"))
        problems += _check_files(folder, m)
        previous = (name, digests[name])
        expected_seq = (seq if isinstance(seq, int) else expected_seq) + 1
    problems += _check_head(reports_dir, ordered, digests, head_doc, head, verifier, notes)
    if expect_head is not None:
        anchored = [name for name, digest in digests.items() if digest == expect_head.strip().lower()]
        if not anchored:
            problems.append(
                Problem(
                    HEAD,
                    f"the expected head (manifest sha256 {expect_head}) is not in the ledger: "
                    "that run was removed or rewritten",
                )
            )
    trusted = None
    if not problems and ordered:
        last_name, last = ordered[-1]
        trusted = {"run": last_name, "seq": last.get("seq"), "manifest_sha256": digests[last_name]}
    return Verdict([name for name, _ in ordered], problems, notes, trusted)


def _check_head(
    reports_dir: Path,
    ordered: list[tuple[str, dict[str, Any]]],
    digests: dict[str, str],
    head_doc: dict[str, Any] | None,
    head: dict[str, Any] | None,
    verifier: Verifier,
    notes: list[str],
) -> list[Problem]:
    problems = []
    if verifier.active and head_doc is not None and head is not None:
        signatures = head_doc.get("signatures") if isinstance(head_doc.get("signatures"), dict) else {}
        why = verifier.problem(canonical(head), signatures, LEDGER_NAMESPACE)
        if why:
            problems.append(Problem(HEAD, f"signature: {why}: the head was rewritten"))
    if not ordered:
        if head is not None:
            problems.append(Problem(str(head.get("run")), "every run removed"))
        return problems
    last_name, last = ordered[-1]
    if head is None:
        if last.get("seq") == 1 and last.get("previous") is None:
            notes.append(f"no {HEAD} yet: the first run's commit was interrupted; the next run completes it")
        else:
            problems.append(
                Problem(
                    HEAD, f"missing while {len(ordered)} sealed run(s) exist: the newest run(s) and the head removed?"
                )
            )
        return problems
    head_seq = head.get("seq") if isinstance(head.get("seq"), int) else 0
    if head_seq > last.get("seq", 0):
        problems.append(Problem(str(head.get("run")), f"newest run (seq {head_seq}) removed"))
    elif head.get("run") == last_name:
        if head.get("manifest_sha256") != digests[last_name]:
            problems.append(Problem(last_name, "manifest.json changed after the run was sealed"))
    elif head.get("run") in digests and links_to(
        last, {"run": head.get("run"), "seq": head_seq, "manifest_sha256": digests[head["run"]]}
    ):
        notes.append(
            f"{HEAD} is one run behind ({head.get('run')}): the commit of {last_name} was interrupted "
            "before its head was written; the next run completes it"
        )
    else:
        problems.append(
            Problem(HEAD, f"names {head.get('run')!r} (seq {head_seq}), not the newest sealed run {last_name}")
        )
    return problems


def _check_files(folder: Path, manifest: dict[str, Any]) -> list[Problem]:
    problems = []
    recorded = manifest.get("files") if isinstance(manifest.get("files"), dict) else {}
    present = run_files(folder)
    for fname, digest in sorted(recorded.items()):
        if fname not in present:
            problems.append(Problem(folder.name, f"{fname} missing"))
        elif present[fname] != digest:
            problems.append(Problem(folder.name, f"{fname} changed"))
    for fname in sorted(set(present) - set(recorded)):
        problems.append(Problem(folder.name, f"{fname} added after the run was sealed"))
    for sub in sorted(p for p in folder.rglob("*") if p.is_dir()):
        if not any(sub.iterdir()):
            problems.append(
                Problem(folder.name, f"{sub.relative_to(folder).as_posix()}/ added after the run was sealed")
            )
    return problems


def verify(reports_dir: Path) -> tuple[list[str], list[Problem]]:
    """Walk the unsigned chain. Returns the runs in chain order and every problem found."""
    verdict = verify_ledger(reports_dir)
    return verdict.runs, verdict.problems


def sealed_folders(reports_dir: Path) -> list[tuple[int, Path]]:
    """(seq, folder) of every sealed run folder (one with a readable manifest), newest first."""
    if not reports_dir.is_dir():
        return []
    sealed = []
    for folder in reports_dir.iterdir():
        mpath = folder / MANIFEST
        if folder.name.startswith(".") or not mpath.is_file():
            continue
        try:
            sealed.append((json.loads(mpath.read_text()).get("seq", 0), folder))
        except ValueError:
            continue
    return sorted(sealed, reverse=True)


def sealed_runs(reports_dir: Path) -> Iterator[dict[str, Any]]:
    """results.json of every sealed run, newest (highest seq) first, read lazily."""
    for _, folder in sealed_folders(reports_dir):
        try:
            yield orjson.loads((folder / "results.json").read_bytes())
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
