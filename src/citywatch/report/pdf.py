"""HTML -> PDF with a headless Chromium when one is installed (``--print-to-pdf``)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
DEBIAN_CHROMIUM = Path("/usr/bin/chromium")
TIMEOUT_S = 120


class PdfError(RuntimeError):
    """The converter ran but produced no PDF; the message says what it printed."""


def find_chromium() -> Path | None:
    """The first Chromium on PATH, or Debian's ``/usr/bin/chromium``; None when there is none."""
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return Path(found)
    return DEBIAN_CHROMIUM if DEBIAN_CHROMIUM.is_file() else None


def html_to_pdf(html: Path, pdf: Path, chromium: Path, *, timeout_s: float = TIMEOUT_S) -> Path:
    """Print ``html`` (a local file without scripts or remote resources: its own CSP forbids
    them) to ``pdf``."""
    pdf.parent.mkdir(parents=True, exist_ok=True)
    tmp = pdf.with_name(f".{pdf.name}.tmp")
    tmp.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix="citywatch-pdf-") as profile:
        cmd = [
            str(chromium),
            "--headless",
            "--disable-gpu",
            "--no-first-run",
            "--disable-extensions",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            "--no-pdf-header-footer",
            f"--print-to-pdf={tmp}",
            html.resolve().as_uri(),
        ]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            cmd.insert(2, "--no-sandbox")  # Chromium refuses to run as root with its sandbox
        try:
            done = subprocess.run(  # noqa: S603  (a fixed argument list, no shell)
                cmd, capture_output=True, timeout=timeout_s, check=False
            )
        except subprocess.TimeoutExpired:
            tmp.unlink(missing_ok=True)
            raise PdfError(
                f"{chromium} did not print {html.name} within {timeout_s:.0f} s"
            ) from None
        except OSError as err:
            raise PdfError(f"{chromium} could not be started: {err.strerror}") from None
    if not tmp.is_file() or tmp.read_bytes()[:5] != b"%PDF-":
        tmp.unlink(missing_ok=True)
        said = done.stderr.decode("utf-8", "replace").strip().splitlines()[-3:]
        raise PdfError(
            f"{chromium} exited {done.returncode} without a PDF of {html.name}: "
            + (" | ".join(said) or "no output")
        )
    os.replace(tmp, pdf)
    return pdf
