"""The oversight report as files: HTML with the month's numbers and embedded charts, nothing
personal, no scripts; a PDF where Chromium is installed (required under CITYWATCH_STRICT=1)."""

from __future__ import annotations

import base64
import datetime as dt
import re
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from citywatch.audit.chain import Actor
from citywatch.config.root import CitywatchConfig
from citywatch.report import ReportError, ReportWriter, render, render_html
from citywatch.report.pdf import find_chromium
from citywatch.services.report import OversightReport, build_oversight_report
from citywatch.store.db import make_engine, make_session_factory, upgrade_database
from citywatch.store.media import MediaStore
from tests.conftest import require
from tests.services.helpers import NOW
from tests.services.register_seed import PERSONAL, seed_register

AUDITOR = Actor("audrey", "auditor")
#: The report names authorisation references (the oversight body matches them to warrants).
REPORT_PERSONAL = tuple(p for p in PERSONAL if p != "W-1")


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> OversightReport:
    tmp = tmp_path_factory.mktemp("report")
    url = f"sqlite:///{tmp / 'report.db'}"
    upgrade_database(url)
    engine = make_engine(url)
    sessions: sessionmaker[Session] = make_session_factory(engine)
    with sessions() as session:
        seed_register(session, sessions, MediaStore(tmp / "media"))
        made = build_oversight_report(
            session, CitywatchConfig(), AUDITOR, dt.date(2025, 5, 1), now=NOW
        )
    engine.dispose()
    return made


@pytest.fixture(scope="module")
def html(report: OversightReport) -> str:
    return render_html(report)


def _text_of(html: str, element_id: str) -> str:
    found = re.search(rf'id="{element_id}">([^<]*)<', html)
    assert found is not None, element_id
    return found.group(1)


def test_the_html_holds_the_months_numbers(html: str) -> None:
    assert "Oversight report May 2025" in html
    assert _text_of(html, "faces-analysed") == "42"
    assert _text_of(html, "alerts") == "3"
    assert _text_of(html, "confirmed") == "1"
    assert _text_of(html, "rejected") == "2"
    assert _text_of(html, "plate-reads") == "3"
    assert _text_of(html, "hotlist-hits") == "1"
    assert _text_of(html, "false-rate") == "66.7 %"
    assert "protects the entrance of a refuge" in html  # withheld: zone and reason only
    assert "The hash chain verifies" in html


def test_the_charts_are_embedded_pngs(html: str) -> None:
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
    assert len(images) == 3
    for data in images:
        png = base64.b64decode(data)
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000


def test_the_html_is_self_contained_and_holds_nothing_personal(html: str) -> None:
    leaked = [p for p in REPORT_PERSONAL if p in html]
    assert leaked == []
    assert "<script" not in html
    assert not re.search(r'(src|href)="(https?:)?//', html)  # nothing fetched from elsewhere


def test_pdf_is_printed_when_chromium_is_installed(report: OversightReport, tmp_path: Path) -> None:
    require(find_chromium() is not None, "no Chromium to print the report to PDF")
    writer = ReportWriter(tmp_path, pdf="require")
    files = writer(report)
    assert [f.name for f in files] == [
        "citywatch-report-2025-05.html",
        "citywatch-report-2025-05.pdf",
    ]
    assert files[1].read_bytes()[:5] == b"%PDF-"
    assert files[1].stat().st_size > 20_000  # pages with charts, not an empty print
    assert writer.note is None
    assert not list(tmp_path.glob(".*.tmp"))


def test_without_a_converter_the_html_is_written_with_a_note(
    report: OversightReport, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(render, "find_chromium", lambda: None)
    writer = ReportWriter(tmp_path)
    assert [f.suffix for f in writer(report)] == [".html"]
    assert writer.note is not None and "no Chromium" in writer.note
    with pytest.raises(ReportError, match="no Chromium"):
        ReportWriter(tmp_path, pdf="require")(report)


def test_a_converter_that_fails_is_named(report: OversightReport, tmp_path: Path) -> None:
    broken = tmp_path / "not-chromium"
    broken.write_text("#!/bin/sh\necho 'cannot print' >&2\nexit 3\n")
    broken.chmod(0o755)
    writer = ReportWriter(tmp_path / "out", chromium=broken)
    assert [f.suffix for f in writer(report)] == [".html"]
    assert writer.note is not None
    assert "exited 3" in writer.note and "cannot print" in writer.note
    with pytest.raises(ReportError, match="exited 3"):
        ReportWriter(tmp_path / "out", pdf="require", chromium=broken)(report)


def test_no_pdf_when_not_asked(report: OversightReport, tmp_path: Path) -> None:
    writer = ReportWriter(tmp_path, pdf="never")
    assert [f.suffix for f in writer(report)] == [".html"]
