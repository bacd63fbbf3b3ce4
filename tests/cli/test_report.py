"""`citywatch report --month YYYY-MM` through the real `citywatch` app: files written, the access
audited, refusals with a clear message."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select
from typer.testing import CliRunner, Result

from citywatch.cli.main import app
from citywatch.store.db import make_engine, make_session_factory, upgrade_database
from citywatch.store.media import MediaStore
from citywatch.store.models import AuditLogRow
from tests.services.register_seed import seed_register


@pytest.fixture
def seeded_config(cli_config: Path) -> Path:
    cfg = yaml.safe_load(cli_config.read_text())
    url = cfg["store"]["database_url"]
    upgrade_database(url)
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    with sessions() as session:
        seed_register(session, sessions, MediaStore(Path(cfg["store"]["media_dir"])))
    engine.dispose()
    return cli_config


def _run(config: Path, *args: str, role: str = "auditor") -> Result:
    runner = CliRunner(env={"COLUMNS": "250", "CITYWATCH_ACTOR": "audrey", "CITYWATCH_ROLE": role})
    return runner.invoke(app, ["-c", str(config), "report", *args])


def test_report_writes_the_html_and_audits_it(seeded_config: Path, tmp_path: Path) -> None:
    out = tmp_path / "reports"
    result = _run(seeded_config, "--month", "2025-05", "--out", str(out), "--no-pdf")
    assert result.exit_code == 0, result.output
    html = out / "citywatch-report-2025-05.html"
    assert html.is_file()
    assert 'id="faces-analysed">42<' in html.read_text()
    assert "report.generate" in result.output
    url = yaml.safe_load(seeded_config.read_text())["store"]["database_url"]
    engine = make_engine(url)
    with make_session_factory(engine)() as session:
        last = session.scalars(select(AuditLogRow).order_by(AuditLogRow.seq.desc())).first()
    engine.dispose()
    assert last is not None
    assert (last.action, last.actor, last.role) == ("report.generate", "audrey", "auditor")
    assert set(json.loads(last.details)["files"]) == {html.name}


def test_default_folder_is_under_the_state_dir(seeded_config: Path) -> None:
    result = _run(seeded_config, "--month", "2025-06", "--no-pdf")
    assert result.exit_code == 0, result.output
    state = Path(yaml.safe_load(seeded_config.read_text())["store"]["state_dir"])
    assert (state / "reports" / "citywatch-report-2025-06.html").is_file()


def test_a_bad_month_is_refused_with_the_format(seeded_config: Path) -> None:
    result = _run(seeded_config, "--month", "11/2026")
    assert result.exit_code == 2
    assert "expected YYYY-MM" in result.output


def test_an_operator_may_not_produce_a_report(seeded_config: Path, tmp_path: Path) -> None:
    out = tmp_path / "reports"
    result = _run(seeded_config, "--month", "2025-05", "--out", str(out), role="operator")
    assert result.exit_code == 1
    assert "may not produce an oversight report" in result.output
    assert not out.exists()
