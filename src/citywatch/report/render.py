"""The oversight report as one HTML file (charts embedded as PNG data URIs, no scripts, no
remote resources), and as PDF where a converter is installed."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from jinja2 import Environment, FileSystemLoader, select_autoescape

from citywatch.files import atomic_write_bytes
from citywatch.report import charts
from citywatch.report.pdf import PdfError, find_chromium, html_to_pdf
from citywatch.services.report import OversightReport

TEMPLATES = Path(__file__).resolve().parent / "templates"
PdfMode = Literal["auto", "never", "require"]


class ReportError(RuntimeError):
    """The report could not be written as asked (e.g. a PDF was required and none was made)."""


def _utc(value: dt.datetime | None) -> str:
    if value is None:
        return ""
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def _num(value: float | int | None) -> str:
    if value is None:
        return "–"
    if isinstance(value, int):
        return f"{value:,}".replace(",", "\u202f")  # thin space: 12 345
    return f"{value:,.1f}".replace(",", "\u202f")


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.1f} %"


def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(utc=_utc, num=_num, pct=_pct)
    return env


def render_html(report: OversightReport) -> str:
    """The report page (charts drawn here)."""
    images = {
        "review_by_day": charts.review_by_day(report.days),
        "analysis_by_day": charts.analysis_by_day(report.days),
        "trend": charts.trend_by_month(report.trend),
    }
    return environment().get_template("report.html").render(r=report, charts=images)


def file_stem(report: OversightReport) -> str:
    return f"citywatch-report-{report.label}"


@dataclass
class ReportWriter:
    """Writes ``<out_dir>/citywatch-report-YYYY-MM.html`` (and ``.pdf``); a callable for
    :func:`citywatch.services.report.generate_report`.

    ``pdf``: ``auto`` makes one when Chromium is found (else ``note`` says why not), ``never``
    skips it, ``require`` fails without it.  ``chromium``: the converter (found when None).
    """

    out_dir: Path
    pdf: PdfMode = "auto"
    chromium: Path | None = None
    note: str | None = field(default=None, init=False)

    def __call__(self, report: OversightReport) -> list[Path]:
        html = self.out_dir / f"{file_stem(report)}.html"
        atomic_write_bytes(html, render_html(report).encode("utf-8"))
        written = [html]
        if self.pdf == "never":
            self.note = "PDF not asked for"
            return written
        converter = self.chromium or find_chromium()
        if converter is None:
            self.note = "no PDF: no Chromium found to print it (apt-get install chromium)"
            if self.pdf == "require":
                raise ReportError(self.note)
            return written
        try:
            written.append(html_to_pdf(html, html.with_suffix(".pdf"), converter))
        except PdfError as err:
            if self.pdf == "require":
                raise ReportError(f"no PDF: {err}") from err
            self.note = f"no PDF: {err}"
        return written
