"""Print the pinned requirements the image installs: requirements.txt's pin of every runtime
dependency pyproject.toml declares (test-only pins such as the test environment's servers stay out).

The one place that decides what goes into the image; image/build.sh and image/Containerfile both
run it: python3 image/runtime-requirements.py [REPO]
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def runtime_requirements(repo: Path) -> list[str]:
    project = tomllib.loads((repo / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    wanted = {canonical(NAME.match(dep).group(1)) for dep in project["dependencies"]}  # type: ignore[union-attr]
    pins: dict[str, str] = {}
    for line in (repo / "requirements.txt").read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if match := NAME.match(line):
            pins[canonical(match.group(1))] = line
    unpinned = sorted(wanted - pins.keys())
    if unpinned:
        sys.exit(f"runtime-requirements: requirements.txt has no pin for {', '.join(unpinned)}")
    return [pins[name] for name in sorted(wanted)]


if __name__ == "__main__":
    print("\n".join(runtime_requirements(Path(sys.argv[1] if len(sys.argv) > 1 else "."))))
