"""The scheduled retention sweep while the database is away: one line per job and cycle naming
the database (password hidden) and the error, no traceback, and the scheduler goes on
(issue 13, item 9).  A bug that is no database error keeps its traceback."""

from __future__ import annotations

import datetime as dt
import logging
import socket
from pathlib import Path

import pytest
from sqlalchemy import text

from citywatch.config.retention import RetentionConfig
from citywatch.services.retention import RetentionScheduler, RetentionSweeper
from citywatch.store.db import make_engine, make_session_factory
from citywatch.store.media import MediaStore


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # nothing listens once the socket is closed


def test_database_away_is_one_line_per_job_without_traceback(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    port = _closed_port()
    url = f"postgresql+psycopg://citywatch:hunter2@127.0.0.1:{port}/citywatch"
    engine = make_engine(url)
    sessions = make_session_factory(engine)

    def lifecycle() -> None:  # a scheduled job that needs the database too
        with sessions() as s:
            s.execute(text("SELECT 1"))

    sweeper = RetentionSweeper(sessions, MediaStore(tmp_path / "media"), RetentionConfig())
    scheduler = RetentionScheduler(sweeper, dt.timedelta(hours=1), jobs=[lifecycle])
    caplog.set_level(logging.WARNING, logger="citywatch.services.retention")
    try:
        for _ in range(2):  # two cycles: the scheduler keeps going
            assert scheduler.run_once() is None
    finally:
        engine.dispose()
    assert scheduler.runs == 2
    records = [r for r in caplog.records if r.name == "citywatch.services.retention"]
    assert len(records) == 4  # the sweep and the job, per cycle
    assert all(r.exc_info is None and r.levelno == logging.WARNING for r in records)
    shown = f"database postgresql+psycopg://citywatch:***@127.0.0.1:{port}/citywatch: "
    sweep, job = records[0].getMessage(), records[1].getMessage()
    assert sweep.startswith(f"retention sweep: {shown}OperationalError: connection failed")
    assert sweep.endswith("; retried at the next sweep")
    assert job.startswith(f"scheduled job 'lifecycle': {shown}OperationalError")
    assert all("\n" not in r.getMessage() for r in records)
    assert "hunter2" not in caplog.text and "Traceback" not in caplog.text
    assert scheduler.last_error is not None and scheduler.last_error.startswith(shown)


def test_an_error_that_is_no_database_error_keeps_its_traceback(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    def broken() -> None:
        raise RuntimeError("a bug")

    sweeper = RetentionSweeper(broken, MediaStore(tmp_path), RetentionConfig())  # type: ignore[arg-type]
    scheduler = RetentionScheduler(sweeper, dt.timedelta(hours=1))
    caplog.set_level(logging.WARNING, logger="citywatch.services.retention")
    scheduler.run_once()
    (record,) = [r for r in caplog.records if r.name == "citywatch.services.retention"]
    assert record.exc_info is not None and record.levelno == logging.ERROR
