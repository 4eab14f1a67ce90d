"""The runbook items a suite answers to: stable keys with the runbooks' own text.

They are the suite's data, not the package's: one YAML file per runbook in the suite's
`runbooks/` directory (`runbooks/000-qsign-daily-operations.yaml`, ...), so a team adds
`runbooks/900-our-runbook.yaml` and checks covering its keys without touching opscheck.
The suite is the pytest rootdir of the run (or `--root` of `python -m opscheck ...`).
opscheck's own items (the checklist process itself, `opscheck.*`) ship with the package.

A runbook file:

    id: "900"                      # every key starts with "<id>."
    title: Our platform runbook
    items:
      - {key: 900.daily.backup-done, cadence: daily, kind: auto, text: "...", what: "..."}
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from opscheck.errors import CatalogError
from opscheck.yamlparse import parse_yaml

RUNBOOKS_DIR = "runbooks"
KINDS = ("auto", "attest")
ITEM_FIELDS = ("key", "cadence", "kind", "text", "what")


@dataclass(frozen=True)
class RunbookItem:
    key: str
    cadence: str
    kind: str  # "auto" (a check evaluates it) or "attest" (a person signs it off)
    text: str  # the runbook's own words
    what: str  # what the item means, in English
    runbook: str = ""  # the runbook's title
    source: str = ""  # the file it comes from

    @property
    def seed(self) -> str:
        return self.key.split(".", 1)[0]


_suite_root: Path | None = None


def use_suite(root: Path) -> None:
    """Read runbook items from the suite at `root` from now on (the run's rootdir, the CLI's --root)."""
    global _suite_root
    _suite_root = Path(root).resolve()


def suite_root() -> Path:
    """The suite this process serves; the current directory until a run or command names one."""
    return _suite_root or Path.cwd().resolve()


def runbooks_dir() -> Path:
    return suite_root() / RUNBOOKS_DIR


def parse_runbook(text: str, source: str) -> dict[str, RunbookItem]:
    """One runbook file's items; CatalogError with one line naming the file on any problem."""
    try:
        raw = parse_yaml(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        raise CatalogError(f"{source}: {where}malformed YAML: {getattr(exc, 'problem', None) or exc}") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("id"), str | int) or not isinstance(raw.get("items"), list):
        raise CatalogError(f"{source}: a runbook file is a mapping with id, title and a list of items")
    book_id, title = str(raw["id"]), str(raw.get("title") or raw["id"])
    items: dict[str, RunbookItem] = {}
    for n, entry in enumerate(raw["items"]):
        item = _item(entry, n, book_id, title, source)
        if item.key in items:
            raise CatalogError(f"{source}: items[{n}]: duplicate key {item.key}")
        items[item.key] = item
    return items


def _item(entry: Any, n: int, book_id: str, title: str, source: str) -> RunbookItem:
    where = f"{source}: items[{n}]"
    if not isinstance(entry, dict):
        raise CatalogError(f"{where}: an item is a mapping with {', '.join(ITEM_FIELDS)}")
    missing = [f for f in ITEM_FIELDS if not isinstance(entry.get(f), str) or not entry[f].strip()]
    unknown = sorted(set(entry) - set(ITEM_FIELDS))
    if missing or unknown:
        problem = f"missing {', '.join(missing)}" if missing else f"unknown field(s) {', '.join(unknown)}"
        raise CatalogError(f"{where}: {problem}")
    if not entry["key"].startswith(f"{book_id}."):
        raise CatalogError(f'{where}: key {entry["key"]} does not start with this runbook\'s id "{book_id}."')
    if entry["kind"] not in KINDS:
        raise CatalogError(f"{where}: kind must be one of {', '.join(KINDS)}, not {entry['kind']!r}")
    return RunbookItem(**{f: entry[f] for f in ITEM_FIELDS}, runbook=title, source=source)


@lru_cache(maxsize=8)
def _suite_items(directory: Path) -> dict[str, RunbookItem]:
    items: dict[str, RunbookItem] = {}
    for path in sorted(directory.glob("*.yaml")) if directory.is_dir() else []:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise CatalogError(f"{path}: cannot read the runbook file: {exc}") from None
        for key, item in parse_runbook(text, str(path)).items():
            if key in items:
                raise CatalogError(f"{path}: key {key} is already an item of {items[key].source}")
            items[key] = item
    return items


def runbook_items() -> dict[str, RunbookItem]:
    """The suite's runbook items (runbooks/*.yaml): what coverage and traceability are measured against."""
    return _suite_items(runbooks_dir())


@lru_cache(maxsize=1)
def opscheck_items() -> dict[str, RunbookItem]:
    """opscheck's own items (the checklist process itself), shipped with the package."""
    return parse_runbook(
        resources.files("opscheck.data").joinpath("opscheck-items.yaml").read_text("utf-8"), "opscheck"
    )


def known_items() -> dict[str, RunbookItem]:
    """Every key a check may cover: the suite's runbook items and opscheck's own (opscheck.*)."""
    return {**runbook_items(), **opscheck_items()}


def unknown_key_message(keys: list[str]) -> str:
    """Why a covered key is unknown, naming where the keys come from."""
    directory = runbooks_dir()
    where = f"{directory}/*.yaml" if directory.is_dir() else f"{directory}/ (no such directory in the suite)"
    return f"covers unknown runbook key(s) {', '.join(keys)}: not an item of {where}"
