"""A media folder that cannot take a file (disk full, read-only, not a folder) stops a command
that must store a picture with one line saying where and why, and stores nothing else."""

from __future__ import annotations

import datetime as dt

import pytest
import yaml
from sqlalchemy import func, select

from citywatch.store.db import make_engine, make_session_factory
from citywatch.store.models import AuditLogRow, SubjectRow


@pytest.mark.integration
def test_enrolment_into_an_unwritable_media_folder_is_one_clear_error_and_rolled_back(
    run_cli, cli_config, shared_data, tmp_path
):
    cfg = yaml.safe_load(cli_config.read_text())
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the media folder's parent should be")
    cfg["store"]["media_dir"] = str(blocker / "media")  # every write: Not a directory
    cli_config.write_text(yaml.safe_dump(cfg))
    day = dt.timedelta(days=1)
    today = dt.datetime.now(dt.UTC).date()
    created = run_cli(
        *("authorisations", "create", "AUTH-1", "--authority", "court", "--purpose", "test"),
        *("--starts", str(today - day), "--ends", str(today + day), "--zone", "centre"),
    )
    assert created.exit_code == 0, created.output
    assert run_cli("watchlists", "create", "wl-1", "--authorisation", "AUTH-1").exit_code == 0

    photo = shared_data / "faces/watchlist_video/examples/obama.jpg"
    enrol = run_cli(
        *("watchlists", "enrol", "wl-1", "Barack Obama", str(photo)),
        *("--reason", "test", "--source", "press photo"),
    )
    assert enrol.exit_code == 1, enrol.output
    assert "error: media folder" in enrol.output
    assert "not written: Not a directory (ENOTDIR)" in enrol.output
    assert "Traceback" not in enrol.output

    sessions = make_session_factory(make_engine(cfg["store"]["database_url"]))
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(SubjectRow)) == 0
        actions = s.scalars(select(AuditLogRow.action)).all()
    assert "subject.enrol" not in actions
