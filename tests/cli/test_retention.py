"""`citywatch retention run [--dry-run]`, and the access window from `citywatch plates search`,
through the real `citywatch` app (an app built here once hid that `retention` was never
registered on it: "No such command").

The seeded records are dated 2025-06 (tests.services.helpers.NOW): by the real clock they are
past both the 90-day access window and the 12-month retention period."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from citywatch.audit.chain import Actor, entries
from citywatch.cli.main import app
from citywatch.services.access_requests import decide_request, request_access
from citywatch.store.db import make_engine, make_session_factory, upgrade_database
from citywatch.store.media import MediaStore
from citywatch.store.models import AlertRow, PlateReadRow
from tests.services.helpers import NOW, seed_alerts

INVESTIGATOR = {"CITYWATCH_ACTOR": "carol", "CITYWATCH_ROLE": "investigator", "COLUMNS": "250"}


@pytest.fixture
def sessions(cli_config: Path) -> Iterator[sessionmaker[Session]]:
    cfg = yaml.safe_load(cli_config.read_text())
    url = cfg["store"]["database_url"]
    upgrade_database(url)
    engine = make_engine(url)
    factory = make_session_factory(engine)
    with factory() as s:
        seed_alerts(s, factory, MediaStore(Path(cfg["store"]["media_dir"])))
    yield factory
    engine.dispose()


def _cli(cli_config: Path, *args: str, env: dict[str, str] | None = None) -> Any:
    runner = CliRunner(env=env or {"COLUMNS": "250"})
    return runner.invoke(app, ["-c", str(cli_config), *args])


def test_help_has_an_example(cli_config: Path) -> None:
    result = _cli(cli_config, "retention", "run", "--help")
    assert result.exit_code == 0, result.output
    assert "Example:" in result.output and "--dry-run" in result.output
    assert "retention" in _cli(cli_config, "--help").output


def _counts(sessions: sessionmaker[Session]) -> tuple[int, int]:
    with sessions() as s:
        return len(s.scalars(select(PlateReadRow)).all()), len(s.scalars(select(AlertRow)).all())


def test_dry_run_then_run(cli_config: Path, sessions: sessionmaker[Session]) -> None:
    before = _counts(sessions)
    dry = _cli(cli_config, "retention", "run", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "would delete" in dry.output and "plate read" in dry.output
    assert _counts(sessions) == before == (2, 2)

    done = _cli(cli_config, "retention", "run")
    assert done.exit_code == 0, done.output
    assert "deleted" in done.output
    with sessions() as s:
        # the read that hit the hotlist is evidence (its alert is pending): both stay
        reads = s.scalars(select(PlateReadRow.plate)).all()
        alerts = s.scalars(select(AlertRow.kind)).all()
        sweeps = [e for e in entries(s) if e.action == "retention.sweep"]
    assert reads == ["AB123CD"] and alerts == ["plate"]
    assert [e.details["dry_run"] for e in sweeps] == [True, False]
    assert sweeps[-1].details["classes"]["plate_read"]["deleted"] == 1


def test_plates_search_cannot_reach_past_the_window_without_approval(
    cli_config: Path, sessions: sessionmaker[Session]
) -> None:
    args = ("plates", "search", "*123*", "--case", "CASE-9", "--since", "2025-05-01")
    refused = _cli(cli_config, *args, env=INVESTIGATOR)
    assert refused.exit_code != 0
    assert "access window" in refused.output
    quiet = _cli(cli_config, "plates", "search", "*123*", "--case", "CASE-9", env=INVESTIGATOR)
    assert quiet.exit_code == 0 and "AB123CD" not in quiet.output  # withheld

    with sessions() as s:
        req = request_access(
            s,
            Actor("carol", "investigator"),
            case_ref="CASE-9",
            reason="burglary series",
            reads_from=NOW.replace(month=5),
            reads_until=NOW.replace(month=7),
        )
        decide_request(s, Actor("sam", "supervisor"), req.id, True, "proportionate")
    allowed = _cli(cli_config, *args, env=INVESTIGATOR)
    assert allowed.exit_code == 0, allowed.output
    assert "AB123CD" in allowed.output and "ZG123XY" in allowed.output
    someone_else = {**INVESTIGATOR, "CITYWATCH_ACTOR": "dave"}
    assert _cli(cli_config, *args, env=someone_else).exit_code != 0
    with sessions() as s:
        denied = [e for e in entries(s) if e.action == "plate_read.access_denied"]
    assert [e.actor for e in denied] == ["carol", "dave"]
