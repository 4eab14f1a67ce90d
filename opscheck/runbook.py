"""The runbook items opscheck serves: stable keys with the runbooks' own text.

The data file is a copy of the project's runbook-items.yaml shipped inside the package,
so an installed opscheck knows every item without the source tree.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import yaml

SEEDS = {
    "000": "QSIGN daily operations",
    "001": "QSIGN operations index",
    "002": "SmartSensor operations guide",
    "003": "Titanium platform operations guide",
    "004": "Multi-cluster operations runbook",
    "opscheck": "opscheck (the checklist process itself)",
}


@dataclass(frozen=True)
class RunbookItem:
    key: str
    cadence: str
    kind: str  # "auto" (a check evaluates it) or "attest" (a person signs it off)
    text: str  # the runbook's own words (Korean)
    what: str  # what the item means, in English

    @property
    def seed(self) -> str:
        return self.key.split(".", 1)[0]

    @property
    def runbook(self) -> str:
        return SEEDS.get(self.seed, self.seed)


def _load(filename: str) -> dict[str, RunbookItem]:
    raw = yaml.safe_load(resources.files("opscheck.data").joinpath(filename).read_text("utf-8"))
    items = {}
    for entry in raw["items"]:
        item = RunbookItem(**{k: entry[k] for k in ("key", "cadence", "kind", "text", "what")})
        items[item.key] = item
    return items


@lru_cache(maxsize=1)
def runbook_items() -> dict[str, RunbookItem]:
    """The source runbooks' items: what coverage and traceability are measured against."""
    return _load("runbook-items.yaml")


@lru_cache(maxsize=1)
def known_items() -> dict[str, RunbookItem]:
    """Every key a check may cover: the runbooks' items and opscheck's own (opscheck.*)."""
    return {**runbook_items(), **_load("opscheck-items.yaml")}
