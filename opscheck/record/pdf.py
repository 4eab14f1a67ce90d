"""A PDF of a report page (report.html, the monthly pack), printed by headless Chromium.

The page's own print stylesheet decides the layout (every evidence block open, no table row
cut across pages). The PDF is written outside the sealed run folder: a file added there would
break the run's manifest.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from opscheck.errors import OpscheckError

# Headless, no sandbox (containers and CronJobs run without user namespaces), no network chatter.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
PRINT_TIMEOUT_SECONDS = 120


class PdfError(OpscheckError):
    """The PDF could not be printed (no Chromium, the page missing, Chromium failed)."""


def chromium_binary() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    raise PdfError("no chromium on PATH: install it (testenv/install-system-packages.sh does) to print PDFs")


def print_pdf(page: Path, pdf: Path, chromium: str | None = None) -> Path:
    """Print `page` (an HTML file) to `pdf` with headless Chromium; the PDF's path."""
    if not page.is_file():
        raise PdfError(f"{page}: no such HTML file")
    if pdf.resolve().parent == page.resolve().parent and (page.parent / "manifest.json").is_file():
        raise PdfError(f"{pdf}: refused: a file added to the sealed run folder {page.parent} breaks its manifest")
    binary = chromium or chromium_binary()
    pdf.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="opscheck-chromium-") as profile_dir:
        try:
            out = subprocess.run(
                [
                    binary,
                    *CHROMIUM_FLAGS,
                    f"--user-data-dir={profile_dir}",
                    "--virtual-time-budget=10000",  # pytest-html draws its table with JavaScript
                    f"--print-to-pdf={pdf.resolve()}",
                    page.resolve().as_uri(),
                ],
                capture_output=True,
                text=True,
                timeout=PRINT_TIMEOUT_SECONDS,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise PdfError(f"{binary}: cannot print {page}: {exc}") from None
    if out.returncode != 0 or not pdf.is_file() or pdf.stat().st_size == 0:
        lines = [ln for ln in out.stderr.splitlines() if ln.strip()]
        raise PdfError(f"{binary} did not print {page} (exit {out.returncode}): {lines[-1] if lines else 'no output'}")
    return pdf
