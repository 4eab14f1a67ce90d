"""Attestation files for the demo profile: the manual runbook items signed off, as of now.

`up` (re)writes one current attestation per item and role under state_dir()/attestations
(the demo profile's `attestations.dir`), so the attest checks come out "attested"; `down`
has nothing to stop. Fault self-tests use `write` and `remove` to break one item for real.
Files are written under a dot-name and renamed, so a run never reads half a file.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any

import yaml

from testenv.paths import state_dir, under

# The demo profile's change id when OPSCHECK_CHANGE is unset (environments/demo.yaml).
CHANGE = "CHG-1001"
EVIDENCE = "https://tickets.example.com/browse/"

# (item key, role, who, how long before now it was signed, pre/postdeploy change)
SIGNED: list[tuple[str, str, str, dt.timedelta, bool]] = [
    ("001.predeploy.change-documented", "ops_engineer", "lee.sy", dt.timedelta(hours=1), True),
    ("001.predeploy.approvals", "tech_lead", "kim.jh", dt.timedelta(minutes=30), True),
    ("001.predeploy.approvals", "security_officer", "park.mj", dt.timedelta(minutes=20), True),
    # Sent a week ahead, as the change-management policy requires (advance_days: 7).
    ("001.predeploy.maintenance-notice", "ops_engineer", "lee.sy", dt.timedelta(days=7, hours=1), True),
    ("001.postdeploy.deploy-notice", "ops_engineer", "lee.sy", dt.timedelta(minutes=5), True),
    ("001.monthly.docs-update", "tech_lead", "kim.jh", dt.timedelta(days=2), False),
    ("003.monthly.docs-update", "ops_engineer", "choi.dh", dt.timedelta(days=3), False),
    ("000.quarterly.architecture-review", "tech_lead", "kim.jh", dt.timedelta(days=10), False),
]


directory = under(state_dir, "attestations")


def path_of(key: str, role: str) -> Path:
    return directory() / f"{key}.{role}.yaml"


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def attestation(key: str, role: str, who: str, ago: dt.timedelta, deploy: bool, /, **overrides: Any) -> dict[str, Any]:
    when = now() - ago
    record: dict[str, Any] = {
        "item": key,
        "who": who,
        "role": role,
        "when": when.isoformat().replace("+00:00", "Z"),
        "evidence": EVIDENCE + (CHANGE if deploy else f"OPS-{key.split('.')[2].upper()}"),
    }
    if deploy:
        record["change"] = CHANGE
    record["valid_days"] = 30 if deploy else 92
    record.update(overrides)
    return record


def write(key: str, role: str, /, **overrides: Any) -> Path:
    """(Re)write the attestation of `key` by `role`, fresh, with fields overridden (None drops one);
    the file keeps its name when an override changes the role inside."""
    _, _, who, ago, deploy = next(s for s in SIGNED if s[0] == key and s[1] == role)
    ago = overrides.pop("ago", ago)
    record = {k: v for k, v in attestation(key, role, who, ago, deploy, **overrides).items() if v is not None}
    path = path_of(key, role)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(yaml.safe_dump({"attestations": [record]}, sort_keys=False))
    os.replace(tmp, path)
    return path


def remove(key: str, role: str) -> None:
    path_of(key, role).unlink(missing_ok=True)


def up() -> None:
    for key, role, *_ in SIGNED:
        write(key, role)


def down() -> None:
    """Nothing runs; the files stay with the rest of the state."""


def status() -> dict[str, Any]:
    missing = [str(path_of(k, r)) for k, r, *_ in SIGNED if not path_of(k, r).is_file()]
    return {"running": not missing, "dir": str(directory()), "missing": missing}
