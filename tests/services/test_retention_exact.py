"""The retention sweeper and scheduler, exactly (issue 21, mutation testing): the whole report
and every audit entry of a sweep, the rules in words, keyset pages of one row, the edge of the
statistics period, an evidence clip going with its alert, a file that cannot be deleted, the
time and actor a caller passes, and the scheduler's errors, order and thread."""

from __future__ import annotations

import datetime as dt
import logging
import os
import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from citywatch.audit.chain import Actor, AuditEntry, entries, iso_utc
from citywatch.config.retention import RetentionConfig
from citywatch.policy.retention import DataClass
from citywatch.services.retention import (
    RetentionScheduler,
    RetentionSweeper,
    SweepReport,
    database_away,
)
from citywatch.store.media import MediaStore
from citywatch.store.models import AlertRow, FaceCountRow, PlateReadRow
from tests.services.helpers import add_camera
from tests.services.test_retention import T, _alert, _ids_of, _read, _snapshot, _sweeper, world

__all__ = ["world"]  # the fixture of test_retention.py, used here too

D = dt.timedelta(days=1)
AT = iso_utc(T)


def _retention_entries(session: Session) -> list[AuditEntry]:
    return [e for e in entries(session) if e.action.startswith("retention.")]


def _classes(report: SweepReport) -> dict[str, tuple[str, int, int, int]]:
    return {c.data_class.value: (c.rule, c.due, c.held, c.deleted) for c in report.classes}


def test_a_sweep_reports_and_audits_every_batch_and_the_whole(
    session: Session,
    session_factory: sessionmaker[Session],
    media: MediaStore,
    world: dict[str, Any],
) -> None:
    """batch_size 2: reads [old, held] then [shared]; alerts [held, rejected] then [confirmed];
    one daily count.  One audit entry per batch that deleted something, then the summary."""
    report = _sweeper(session_factory, media, batch_size=2, statistics_days=365).run()
    assert (report.at, report.dry_run) == (T, False)
    assert _classes(report) == {
        "plate_read": ("deleted 365 days after the last sighting, unless on hold", 2, 1, 2),
        "alert": (
            "pending 365 d, confirmed 365 d after the sighting; rejected 30 d after the review",
            2,
            1,
            2,
        ),
        "statistics": ("deleted 365 days after the day counted", 1, 0, 1),
        "audit": ("kept: the hash chain must stay whole", 0, 0, 0),
    }
    assert (report.files_due, report.files_deleted, report.files_missing) == (3, 3, 0)
    assert report.files_failed == 0 and report.orphans is not None
    logged = _retention_entries(session)
    assert [(e.action, e.target, e.details) for e in logged[:-1]] == [
        ("retention.delete", "retention:plate_read", {"rows": 1, "at": AT}),
        ("retention.delete", "retention:plate_read", {"rows": 1, "at": AT}),
        ("retention.delete", "retention:alert", {"rows": 1, "at": AT}),
        ("retention.delete", "retention:alert", {"rows": 1, "at": AT}),
        ("retention.delete", "retention:statistics", {"rows": 1, "at": AT}),
    ]
    assert {(e.actor, e.role, e.reason) for e in logged} == {("system:retention", "system", None)}
    summary = logged[-1]
    assert (summary.action, summary.target) == ("retention.sweep", "retention")
    assert summary.details == {
        "dry_run": False,
        "classes": {
            "plate_read": {"due": 2, "held": 1, "deleted": 2},
            "alert": {"due": 2, "held": 1, "deleted": 2},
            "statistics": {"due": 1, "held": 0, "deleted": 1},
            "audit": {"due": 0, "held": 0, "deleted": 0},
        },
        "files": {"due": 3, "deleted": 3, "missing": 0, "failed": 0},
        "orphans": report.orphans.as_details(),
    }
    assert summary.details == report.as_details()


def test_a_dry_run_reports_the_same_whole_and_keeps_statistics_by_default(
    session: Session,
    session_factory: sessionmaker[Session],
    media: MediaStore,
    world: dict[str, Any],
) -> None:
    report = _sweeper(session_factory, media, batch_size=2).run(dry_run=True)
    assert _classes(report)["statistics"] == ("kept", 0, 0, 0)
    assert [c.deleted for c in report.classes] == [0, 0, 0, 0]
    [summary] = _retention_entries(session)
    assert summary.details["classes"]["alert"] == {"due": 2, "held": 1, "deleted": 0}
    assert summary.details["files"] == {"due": 3, "deleted": 0, "missing": 0, "failed": 0}
    assert summary.details["dry_run"] is True
    assert len(list(session.scalars(select(FaceCountRow)))) == 2


def test_pages_of_one_row_reach_every_row(
    session: Session, session_factory: sessionmaker[Session], media: MediaStore
) -> None:
    add_camera(session, "cam-1")
    for i in range(3):
        _read(session, f"OLD{i}", T - 400 * D)
    keep = _read(session, "NEW1", T - 10 * D).id
    session.commit()
    preview = _sweeper(session_factory, media, batch_size=1).run(dry_run=True)
    assert preview.of(DataClass.PLATE_READ).due == 3
    report = _sweeper(session_factory, media, batch_size=1).run()
    assert report.of(DataClass.PLATE_READ).deleted == 3
    assert _ids_of(session, PlateReadRow.id) == {keep}
    deletes = [e.details["rows"] for e in _retention_entries(session) if e.target.endswith("read")]
    assert deletes == [1, 1, 1]


def test_a_day_s_count_goes_once_the_whole_day_is_past_its_period(
    session: Session, session_factory: sessionmaker[Session], media: MediaStore
) -> None:
    """With 10 days: at T (12:00) the cutoff is T - 10 days, 12:00.  The day before the
    cutoff's day ended at its midnight, before the cutoff: it goes.  The cutoff's own day
    ends after it: it stays."""
    add_camera(session, "cam-1")
    add_camera(session, "cam-2")
    cut_day = (T - 10 * D).date()
    session.add_all(
        [
            FaceCountRow(camera_id="cam-2", day=cut_day - D, tracks=1),
            FaceCountRow(camera_id="cam-1", day=cut_day - D, tracks=1),
            FaceCountRow(camera_id="cam-1", day=cut_day - 2 * D, tracks=1),
            FaceCountRow(camera_id="cam-1", day=cut_day, tracks=1),
        ]
    )
    session.commit()
    report = _sweeper(session_factory, media, statistics_days=10, batch_size=2).run()
    assert _classes(report)["statistics"][1:] == (3, 0, 3)
    session.expire_all()
    left = [(r.camera_id, r.day) for r in session.scalars(select(FaceCountRow))]
    assert left == [("cam-1", cut_day)]
    deletes = [e.details["rows"] for e in _retention_entries(session) if "statistics" in e.target]
    assert deletes == [2, 1]


def test_an_alert_s_clip_goes_with_it(
    session: Session, session_factory: sessionmaker[Session], media: MediaStore
) -> None:
    add_camera(session, "cam-1")
    snap, clip = _snapshot(media, "face"), _snapshot(media, "face")
    old = _alert(session, T - 400 * D, "confirmed", snapshot=snap)
    old.clip_path = clip
    session.commit()
    preview = _sweeper(session_factory, media).run(dry_run=True)
    assert preview.files_due == 2
    report = _sweeper(session_factory, media).run()
    assert (report.files_due, report.files_deleted) == (2, 2)
    assert not media.path(snap).exists() and not media.path(clip).exists()


def test_a_file_that_cannot_be_deleted_is_counted_and_logged(
    session: Session,
    session_factory: sessionmaker[Session],
    media: MediaStore,
    caplog: pytest.LogCaptureFixture,
) -> None:
    add_camera(session, "cam-1")
    stuck = _snapshot(media, "plate")
    media.delete(stuck)
    media.path(stuck).mkdir()  # a folder where the file was: unlink fails
    _read(session, "OLD111", T - 400 * D, snapshot=stuck)
    session.commit()
    caplog.set_level(logging.WARNING, logger="citywatch.services.retention")
    report = _sweeper(session_factory, media).run()
    assert (report.files_due, report.files_deleted, report.files_failed) == (1, 0, 1)
    assert report.of(DataClass.PLATE_READ).deleted == 1  # the row goes all the same
    (record,) = [r for r in caplog.records if r.name == "citywatch.services.retention"]
    assert record.getMessage().startswith("retention: a snapshot file could not be deleted (")
    assert _retention_entries(session)[-1].details["files"]["failed"] == 1


def test_the_time_and_actor_a_caller_passes_are_the_ones_used(
    session: Session, session_factory: sessionmaker[Session], media: MediaStore
) -> None:
    add_camera(session, "cam-1")
    _read(session, "OLD111", T - 400 * D)
    session.commit()
    sweeper = _sweeper(session_factory, media)  # its clock says T
    early = sweeper.run(now=T - 100 * D)  # the read is 300 days old then: kept
    assert (early.at, early.of(DataClass.PLATE_READ).due) == (T - 100 * D, 0)
    ops = Actor("ops", "admin")
    report = sweeper.run(actor=ops)
    assert report.of(DataClass.PLATE_READ).deleted == 1
    # the sweep at T - 100 days deleted nothing (its summary only); then a delete and a summary
    assert [(e.actor, e.role) for e in _retention_entries(session)] == [
        ("system:retention", "system"),
        ("ops", "admin"),
        ("ops", "admin"),
    ]


def test_the_database_is_named_without_its_password() -> None:
    engine = create_engine("postgresql+psycopg://cw:hunter2@db.example/citywatch")
    sweeper = RetentionSweeper(
        sessionmaker(bind=engine), MediaStore(Path("/nonexistent")), RetentionConfig()
    )
    assert sweeper.database == "postgresql+psycopg://cw:***@db.example/citywatch"
    unbound = RetentionSweeper(sessionmaker(), MediaStore(Path("/nonexistent")), RetentionConfig())
    assert unbound.database == ""


def test_database_away_says_which_errors_mean_the_database_is_gone() -> None:
    where = "postgresql+psycopg://cw:***@db/cw"
    refused = OperationalError(
        "SELECT 1", {}, ConnectionError("connection refused\n\tIs the server running?")
    )
    assert database_away(refused, where) == (
        f"database {where}: ConnectionError: connection refused"
    )
    assert database_away(refused, "") == "the database: ConnectionError: connection refused"
    dropped = DBAPIError(
        "SELECT 1",
        {},
        RuntimeError("lost postgresql://cw:secret@db/cw"),
        connection_invalidated=True,
    )
    assert database_away(dropped, where) == (
        f"database {where}: RuntimeError: lost postgresql://***@db/cw"
    )
    empty = OperationalError("SELECT 1", {}, ValueError(""))
    assert database_away(empty, where) == f"database {where}: ValueError: "
    kept = DBAPIError("SELECT 1", {}, RuntimeError("a constraint"), connection_invalidated=False)
    assert database_away(kept, where) is None
    assert database_away(RuntimeError("a bug"), where) is None


def test_the_scheduler_records_an_error_then_clears_it_and_runs_jobs_in_order(
    session: Session,
    session_factory: sessionmaker[Session],
    media: MediaStore,
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls = {"n": 0}

    def flaky() -> Session:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("database down")
        return session_factory()

    order: list[str] = []

    def first_job() -> None:
        order.append("first")
        raise ValueError("boom")

    def second_job() -> None:
        order.append("second")

    sweeper = RetentionSweeper(flaky, media, RetentionConfig(), clock=lambda: T)  # type: ignore[arg-type]
    scheduler = RetentionScheduler(sweeper, dt.timedelta(hours=1), jobs=[first_job, second_job])
    caplog.set_level(logging.WARNING, logger="citywatch.services.retention")
    assert scheduler.run_once() is None
    assert scheduler.last_error == "RuntimeError: database down"
    assert (scheduler.runs, scheduler.last_report, order) == (1, None, ["first", "second"])
    messages = [(r.levelno, r.getMessage(), r.exc_info is not None) for r in caplog.records]
    assert messages == [
        (logging.ERROR, "retention sweep failed; the next one runs as planned", True),
        (logging.ERROR, "scheduled job 'first_job' failed", True),
    ]
    report = scheduler.run_once()
    assert report is not None and scheduler.last_report is report
    assert (scheduler.last_error, scheduler.runs) == (None, 2)
    assert order == ["first", "second", "first", "second"]


def test_the_scheduler_waits_its_first_delay_and_runs_in_its_own_thread(
    session_factory: sessionmaker[Session], media: MediaStore
) -> None:
    with pytest.raises(ValueError) as err:
        RetentionScheduler(
            _sweeper(session_factory, media), D, first_delay=-dt.timedelta(seconds=1)
        )
    assert str(err.value) == "RetentionScheduler: need a positive interval and first_delay >= 0"
    waiting = RetentionScheduler(_sweeper(session_factory, media), D, first_delay=D)
    with waiting:
        threads = [t for t in threading.enumerate() if t.name == "citywatch-retention"]
        assert len(threads) == 1 and threads[0].daemon
        with pytest.raises(RuntimeError) as again:
            waiting.start()
        assert str(again.value) == "RetentionScheduler already started"
    assert not threads[0].is_alive()
    assert waiting.runs == 0  # stopped during its first delay: no sweep ran

    ran = threading.Event()
    config = RetentionConfig(plate_read_days=10, access_window_days=5)
    scheduler = RetentionScheduler.from_config(
        config, session_factory, media, jobs=[ran.set], first_delay=dt.timedelta(0)
    )
    with scheduler:
        assert ran.wait(30), "the scheduled sweep did not run"
    assert scheduler.runs == 1 and scheduler.last_report is not None
    assert scheduler.last_report.of(DataClass.PLATE_READ).rule == (
        "deleted 10 days after the last sighting, unless on hold"
    )


def test_a_report_without_a_class_says_which_was_asked_for() -> None:
    with pytest.raises(KeyError) as err:
        SweepReport(at=T, dry_run=True).of(DataClass.ALERT)
    assert err.value.args == (DataClass.ALERT,)


def test_every_held_missing_and_stuck_file_is_counted(
    session: Session,
    session_factory: sessionmaker[Session],
    media: MediaStore,
    caplog: pytest.LogCaptureFixture,
) -> None:
    add_camera(session, "cam-1")
    for plate in ("HELD1", "HELD2"):
        _read(session, plate, T - 400 * D, hold=True)
    missing = [_snapshot(media, "plate") for _ in range(2)]
    stuck = [_snapshot(media, "plate") for _ in range(2)]
    for rel in missing + stuck:
        media.delete(rel)
    for rel in stuck:
        media.path(rel).mkdir()  # a folder where the file was: unlink fails
    for i, rel in enumerate(missing + stuck):
        _read(session, f"GONE{i}", T - 400 * D, snapshot=rel)
    session.commit()
    caplog.set_level(logging.WARNING, logger="citywatch.services.retention")
    report = _sweeper(session_factory, media, batch_size=10).run()
    assert _classes(report)["plate_read"][1:] == (4, 2, 4)
    assert (report.files_missing, report.files_failed, report.files_deleted) == (2, 2, 0)
    assert report.files_due == 4
    messages = [r.getMessage() for r in caplog.records if r.name.endswith("retention")]
    assert messages == [
        f"retention: a snapshot file could not be deleted ([Errno 21] Is a directory: "
        f"'{media.path(rel)}')"
        for rel in sorted(stuck)
    ]


class _Job:
    """A scheduled job without a ``__name__`` (a callable object)."""

    def __repr__(self) -> str:
        return "<the lifecycle job>"

    def __call__(self) -> None:
        raise RuntimeError("boom")


def test_a_job_without_a_name_is_logged_by_its_repr(
    session_factory: sessionmaker[Session],
    media: MediaStore,
    caplog: pytest.LogCaptureFixture,
) -> None:
    scheduler = RetentionScheduler(_sweeper(session_factory, media), D, jobs=[_Job()])
    assert (scheduler.runs, scheduler.last_report, scheduler.last_error) == (0, None, None)
    caplog.set_level(logging.WARNING, logger="citywatch.services.retention")
    scheduler.run_once()
    messages = [r.getMessage() for r in caplog.records if r.name.endswith("retention")]
    assert messages == ["scheduled job <the lifecycle job> failed"]


def test_the_scheduler_runs_again_after_its_interval(
    session_factory: sessionmaker[Session], media: MediaStore
) -> None:
    runs: list[int] = []
    again = threading.Event()

    def job() -> None:
        runs.append(1)
        if len(runs) >= 2:
            again.set()

    scheduler = RetentionScheduler(
        _sweeper(session_factory, media),
        dt.timedelta(milliseconds=20),
        jobs=[job],
        first_delay=dt.timedelta(0),
    )
    with scheduler:
        assert again.wait(60), "the sweep did not run a second time"
    assert scheduler.runs >= 2


def test_held_evidence_not_yet_past_its_period_is_not_counted_as_held(
    session: Session, session_factory: sessionmaker[Session], media: MediaStore
) -> None:
    """``held`` counts rows past their period kept for a hold: an alert on a held read that is
    still inside its period (by days, or at the very edge of it) is neither due nor held."""
    add_camera(session, "cam-1")
    cases = [
        ("pending", T - 5 * D, None),
        ("confirmed", T - 5 * D, None),
        ("pending", T - 100 * D, None),  # past the rejected alerts' 30 days, not pending's 365
        ("pending", T - 365 * D, None),  # the very edge: not yet past it
        ("confirmed", T - 365 * D, None),
        ("rejected", T - 400 * D, T - 30 * D),
    ]
    for i, (status, seen, reviewed) in enumerate(cases):
        held = _read(session, f"HOLD{i}", T - 5 * D, hold=True)
        _alert(session, seen, status, reviewed=reviewed, read=held)
    _read(session, "EDGE1", T - 365 * D, hold=True)  # a held read at the very edge
    session.commit()
    report = _sweeper(session_factory, media).run(dry_run=True)
    assert _classes(report)["alert"][1:] == (0, 0, 0)
    assert _classes(report)["plate_read"][1:] == (0, 0, 0)


def test_a_rejected_alert_without_a_review_time_goes_by_its_sighting(
    session: Session, session_factory: sessionmaker[Session], media: MediaStore
) -> None:
    add_camera(session, "cam-1")
    old = _alert(session, T - 400 * D, "rejected")  # no review time recorded (older data)
    _alert(session, T - 10 * D, "rejected")
    session.commit()
    report = _sweeper(session_factory, media).run()
    assert _classes(report)["alert"][1:] == (1, 0, 1)
    assert old.id not in _ids_of(session, AlertRow.id)


def test_a_report_before_the_orphan_sweep_has_no_orphans_entry() -> None:
    report = SweepReport(at=T, dry_run=True)
    assert report.as_details() == {
        "dry_run": True,
        "classes": {},
        "files": {"due": 0, "deleted": 0, "missing": 0, "failed": 0},
    }


def test_a_page_with_nothing_to_delete_does_not_end_the_sweep(
    session: Session, session_factory: sessionmaker[Session], media: MediaStore
) -> None:
    add_camera(session, "cam-1")
    _read(session, "HELD1", T - 400 * D, hold=True)  # the first page: held, nothing deleted
    gone = _read(session, "OLD111", T - 400 * D).id
    session.commit()
    preview = _sweeper(session_factory, media, batch_size=1).run(dry_run=True)
    assert _classes(preview)["plate_read"][1:] == (1, 1, 0)
    report = _sweeper(session_factory, media, batch_size=1).run()
    assert _classes(report)["plate_read"][1:] == (1, 1, 1)
    assert gone not in _ids_of(session, PlateReadRow.id)


def test_the_sweep_settles_orphan_files_and_a_dry_run_keeps_them(
    session: Session, session_factory: sessionmaker[Session], media: MediaStore
) -> None:
    """An evidence file no row points at, written before the grace period: a dry run counts
    it and keeps it; a sweep deletes it."""
    orphan = _snapshot(media, "face")
    old = (T - 10 * D).timestamp()
    os.utime(media.path(orphan), (old, old))
    preview = _sweeper(session_factory, media).run(dry_run=True)
    assert preview.orphans is not None and preview.orphans.deleted == 1
    assert media.path(orphan).is_file()
    report = _sweeper(session_factory, media).run()
    assert report.orphans is not None and report.orphans.deleted == 1
    assert not media.path(orphan).exists()
