"""opscheck installed as a user installs it: `pip install .` into a fresh virtualenv from
PyPI, and the suite (checks, fixtures, profiles, runbooks) copied out of this checkout, so
nothing of the source tree is importable but what the package ships.

Used by selftests/plugin/test_install.py (import, --version, validate, collection) and
selftests/runs/test_clean_install.py (the daily checklist against the test environment).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# What `pip install .` builds the distribution from.
PACKAGE_PARTS = ("pyproject.toml", "README.md", "opscheck")
# The suite a team keeps: its pytest settings (pyproject.toml), checks, fixtures, profiles, runbooks.
SUITE_PARTS = ("pyproject.toml", "conftest.py", "fixtures", "environments", "runbooks")
IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")


def _copy(parts: tuple[str, ...], dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    for name in parts:
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=IGNORED)
        else:
            shutil.copy2(src, dest / name)
    return dest


def copy_suite(dest: Path) -> Path:
    """The suite's directory, copied to `dest` (no opscheck/, no selftests/, no testenv/)."""
    return _copy(SUITE_PARTS + tuple(sorted(p.name for p in REPO.glob("tests_*") if p.is_dir())), dest)


def clean_env() -> dict[str, str]:
    """This process's environment without what would import this checkout instead of the install."""
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}


def install_clean(directory: Path) -> tuple[Path, float]:
    """A fresh virtualenv under `directory` with opscheck `pip install`ed from a copy of its
    sources and its dependencies from PyPI: (its python, seconds the install took)."""
    source = _copy(PACKAGE_PARTS, directory / "source")
    started = time.monotonic()
    subprocess.run([sys.executable, "-m", "venv", str(directory / "venv")], check=True)
    python = directory / "venv" / "bin" / "python"
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", str(source)],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=900,
    )
    assert install.returncode == 0, f"pip install . failed:\n{install.stdout[-3000:]}\n{install.stderr[-3000:]}"
    return python, time.monotonic() - started


def run_in(
    suite: Path, python: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`python *args` in the suite's directory, with the clean install's interpreter."""
    return subprocess.run(
        [str(python), *args], cwd=suite, capture_output=True, text=True, env={**clean_env(), **(env or {})}
    )
