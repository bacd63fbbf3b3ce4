"""`citywatch authorisations confirm | refuse | sweep` end to end (real clock: urgent
authorisations are placed relative to now)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from citywatch.cli.main import app
from citywatch.services.authorisations import create_authorisation
from citywatch.services.enrolment import enrol_subject
from citywatch.services.watchlists import create_watchlist
from citywatch.store.db import make_engine, make_session_factory, upgrade_database
from citywatch.store.media import MediaStore
from citywatch.store.models import AuditLogRow, AuthorisationRow, SubjectRow
from tests.services.helpers import ADMIN, fake_embed_faces, photo

H = dt.timedelta(hours=1)


@pytest.fixture
def store(cli_config: Path) -> tuple[sessionmaker[Session], MediaStore]:
    cfg = yaml.safe_load(cli_config.read_text())["store"]
    upgrade_database(cfg["database_url"])
    return make_session_factory(make_engine(cfg["database_url"])), MediaStore(
        Path(cfg["media_dir"])
    )


@pytest.fixture
def cli(cli_config: Path) -> Any:
    runner = CliRunner(env={"COLUMNS": "250"})
    return lambda *args: runner.invoke(app, ["-c", str(cli_config), *args])


def urgent(factory: sessionmaker[Session], ref: str, started_ago: dt.timedelta) -> None:
    now = dt.datetime.now(dt.UTC)
    with factory() as s:
        create_authorisation(
            s,
            ADMIN,
            ref,
            "Court",
            "imminent threat",
            now - started_ago,
            now + 10 * H * 24,
            ["cam-1"],
            [],
            urgent=True,
        )


def with_subject(factory: sessionmaker[Session], media: MediaStore, ref: str) -> tuple[str, ...]:
    with factory() as s:
        create_watchlist(s, ADMIN, f"wl-{ref}", ref)
        r = enrol_subject(
            s,
            media,
            ADMIN,
            f"wl-{ref}",
            "Jane Roe",
            [("a", photo(1, 3))],
            fake_embed_faces,
            "suspect",
            "CCTV still",
        )
    return r.photo_paths


def test_confirm(cli: Any, store: tuple[sessionmaker[Session], MediaStore]) -> None:
    factory, _ = store
    urgent(factory, "U-1", H)
    urgent(factory, "U-late", 25 * H)
    ok = cli("authorisations", "confirm", "U-1")
    assert ok.exit_code == 0 and "confirmed" in ok.output
    again = cli("authorisations", "confirm", "U-1")
    assert again.exit_code == 2 and "already confirmed" in again.output
    late = cli("authorisations", "confirm", "U-late")
    assert late.exit_code == 2 and "deadline" in late.output
    assert cli("authorisations", "confirm", "nope").exit_code == 2


def test_refuse_deletes_what_was_made_under_it(
    cli: Any, store: tuple[sessionmaker[Session], MediaStore]
) -> None:
    factory, media = store
    urgent(factory, "U-1", H)
    photos = with_subject(factory, media, "U-1")
    assert all(media.path(p).is_file() for p in photos)
    no_reason = cli("authorisations", "refuse", "U-1")
    assert no_reason.exit_code == 2  # --reason is required
    result = cli("authorisations", "refuse", "U-1", "--reason", "judge refused")
    assert result.exit_code == 0, result.output
    assert "refused" in result.output and "subjects 1" in result.output
    assert not any(media.path(p).exists() for p in photos)
    with factory() as s:
        assert s.scalar(select(func.count()).select_from(SubjectRow)) == 0
        last = s.scalars(select(AuditLogRow).order_by(AuditLogRow.seq.desc())).first()
        assert last is not None and last.action == "authorisation.refuse"


def test_sweep_dry_run_then_for_real(
    cli: Any, store: tuple[sessionmaker[Session], MediaStore]
) -> None:
    factory, media = store
    urgent(factory, "U-1", 23 * H)  # one hour left to confirm it
    photos = with_subject(factory, media, "U-1")
    with factory() as s:  # make it lapse: move its start back a day
        row = s.scalars(select(AuthorisationRow)).one()
        row.starts_at = row.starts_at - 24 * H
        s.commit()
    dry = cli("authorisations", "sweep", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "would delete" in dry.output and "'U-1'" in dry.output
    assert all(media.path(p).is_file() for p in photos)
    real = cli("authorisations", "sweep")
    assert real.exit_code == 0, real.output
    assert "authorisation:U-1 (lapsed): deleted" in real.output
    assert not any(media.path(p).exists() for p in photos)
