"""The retention sweeper on SQLite and PostgreSQL: rows and files really go, held evidence and
the audit log stay, a dry run deletes nothing, every deletion is audited with counts only."""

from __future__ import annotations

import datetime as dt
import itertools
import threading
from typing import Any

import numpy as np
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from citywatch.audit.chain import Actor, entries, verify
from citywatch.config.retention import RetentionConfig
from citywatch.policy.retention import DataClass
from citywatch.services.retention import RetentionScheduler, RetentionSweeper
from citywatch.store.media import MediaStore
from citywatch.store.models import AlertRow, AuditLogRow, FaceCountRow, PlateReadRow
from tests.services.helpers import add_camera

T = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)  # "now" of the sweeps
D = dt.timedelta(days=1)
_ids = itertools.count(1)


def _snapshot(media: MediaStore, kind: str) -> str:
    return media.save_snapshot(kind, f"e{next(_ids):04d}", np.full((8, 8, 3), 7, np.uint8))


def _read(
    session: Session,
    plate: str,
    seen: dt.datetime,
    *,
    hold: bool = False,
    snapshot: str | None = None,
) -> PlateReadRow:
    row = PlateReadRow(
        event_id=f"read-{next(_ids)}",
        camera_id="cam-1",
        track_id=1,
        plate=plate,
        confidence=0.9,
        first_seen_s=0.0,
        last_seen_s=1.0,
        first_seen_at=seen - dt.timedelta(seconds=1),
        last_seen_at=seen,
        snapshot_path=snapshot,
        evidence_hold=hold,
    )
    session.add(row)
    session.flush()
    return row


def _alert(
    session: Session,
    seen: dt.datetime,
    status: str,
    *,
    reviewed: dt.datetime | None = None,
    read: PlateReadRow | None = None,
    snapshot: str | None = None,
) -> AlertRow:
    row = AlertRow(
        event_id=f"alert-{next(_ids)}",
        kind="plate" if read is not None else "face",
        camera_id="cam-1",
        plate_read_id=read.id if read is not None else None,
        subject_name=None if read is not None else "Jane Roe",
        plate=read.plate if read is not None else None,
        read=read.plate if read is not None else None,
        score=0.9,
        track_id=1,
        first_seen_s=0.0,
        last_seen_s=1.0,
        seen_at=seen,
        snapshot_path=snapshot,
        status=status,
        reviewed_by="op" if reviewed else None,
        reviewed_at=reviewed,
        review_reason="checked" if reviewed else None,
    )
    session.add(row)
    session.flush()
    return row


@pytest.fixture
def world(session: Session, media: MediaStore) -> dict[str, Any]:
    """Records of every kind and age; ids and snapshot paths by name."""
    add_camera(session, "cam-1")
    w: dict[str, Any] = {}
    snap = {name: _snapshot(media, "plate") for name in ("old", "held", "shared")}
    snap |= {name: _snapshot(media, "face") for name in ("rejected", "confirmed", "fresh")}
    old = _read(session, "OLD111", T - 400 * D, snapshot=snap["old"])
    held = _read(session, "HELD22", T - 400 * D, hold=True, snapshot=snap["held"])
    recent = _read(session, "NEW333", T - 100 * D)
    # a read past its period whose hotlist alert (rejected recently) is still kept: the shared
    # snapshot file must survive the read
    shared = _read(session, "SHR444", T - 400 * D, snapshot=snap["shared"])
    a_shared = _alert(
        session, T - 400 * D, "rejected", reviewed=T - 5 * D, read=shared, snapshot=snap["shared"]
    )
    a_held = _alert(session, T - 400 * D, "pending", read=held, snapshot=snap["held"])
    a_rejected = _alert(
        session, T - 60 * D, "rejected", reviewed=T - 40 * D, snapshot=snap["rejected"]
    )
    a_confirmed = _alert(session, T - 400 * D, "confirmed", snapshot=snap["confirmed"])
    a_fresh = _alert(session, T - 5 * D, "pending", snapshot=snap["fresh"])
    session.add_all(
        [
            FaceCountRow(camera_id="cam-1", day=(T - 400 * D).date(), tracks=3),
            FaceCountRow(camera_id="cam-1", day=(T - 2 * D).date(), tracks=4),
        ]
    )
    session.commit()
    w["reads"] = {"old": old.id, "held": held.id, "recent": recent.id, "shared": shared.id}
    w["alerts"] = {
        "shared": a_shared.id,
        "held": a_held.id,
        "rejected": a_rejected.id,
        "confirmed": a_confirmed.id,
        "fresh": a_fresh.id,
    }
    w["snap"] = snap
    return w


def _ids_of(session: Session, column: Any) -> set[int]:
    session.expire_all()
    return {int(i) for i in session.scalars(select(column))}


def _sweeper(
    session_factory: sessionmaker[Session], media: MediaStore, **cfg: Any
) -> RetentionSweeper:
    return RetentionSweeper(session_factory, media, RetentionConfig(**cfg), clock=lambda: T)


def test_dry_run_reports_and_deletes_nothing(
    session: Session,
    session_factory: sessionmaker[Session],
    media: MediaStore,
    world: dict[str, Any],
) -> None:
    reads, alerts = _ids_of(session, PlateReadRow.id), _ids_of(session, AlertRow.id)
    report = _sweeper(session_factory, media, batch_size=2).run(dry_run=True)
    assert report.dry_run
    assert (report.of(DataClass.PLATE_READ).due, report.of(DataClass.PLATE_READ).held) == (2, 1)
    assert report.of(DataClass.ALERT).due == 2  # the false alert and the old confirmed one
    assert report.of(DataClass.ALERT).held == 1  # the pending hit on the held read
    assert report.of(DataClass.STATISTICS).due == 0  # kept by default
    assert all(c.deleted == 0 for c in report.classes)
    # old read's file, the false alert's, the confirmed alert's; not the shared one
    assert report.files_due == 3
    assert _ids_of(session, PlateReadRow.id) == reads
    assert _ids_of(session, AlertRow.id) == alerts
    assert all(media.path(p).is_file() for p in world["snap"].values())
    [entry] = [e for e in entries(session) if e.action.startswith("retention.")]
    assert (entry.action, entry.actor, entry.details["dry_run"]) == (
        "retention.sweep",
        "system:retention",
        True,
    )


def test_sweep_deletes_rows_and_files_and_keeps_held_evidence(
    session: Session,
    session_factory: sessionmaker[Session],
    media: MediaStore,
    world: dict[str, Any],
) -> None:
    audit_before = int(session.scalar(select(func.count()).select_from(AuditLogRow)) or 0)
    sweeper = _sweeper(session_factory, media, batch_size=2, statistics_days=365)
    preview = sweeper.run(dry_run=True)
    report = sweeper.run()
    r, a, s = world["reads"], world["alerts"], world["snap"]
    assert _ids_of(session, PlateReadRow.id) == {r["held"], r["recent"]}
    assert _ids_of(session, AlertRow.id) == {a["shared"], a["held"], a["fresh"]}
    assert [d.day for d in session.scalars(select(FaceCountRow))] == [(T - 2 * D).date()]
    gone = {"old", "rejected", "confirmed"}
    for name, rel in s.items():
        assert media.path(rel).is_file() is (name not in gone), name
    # the dry run said what the run did
    for before, after in zip(preview.classes, report.classes, strict=True):
        assert (before.due, before.held) == (after.due, after.held)
        assert after.deleted == after.due
    assert report.files_deleted == preview.files_due == 3
    # audited: counts only, never the plates or names that were deleted; chain intact
    new = [e for e in entries(session) if e.seq > audit_before]
    assert {e.action for e in new} == {"retention.delete", "retention.sweep"}
    assert sum(e.details["rows"] for e in new if e.action == "retention.delete") == 5
    text = " ".join(f"{e.target} {e.details} {e.reason}" for e in new)
    for secret in ("OLD111", "SHR444", "Jane Roe", "e00"):
        assert secret not in text
    summary = new[-1]
    assert summary.details["classes"]["plate_read"] == {"due": 2, "held": 1, "deleted": 2}
    assert verify(session).ok
    # a second sweep finds nothing more
    again = sweeper.run()
    assert sum(c.deleted for c in again.classes) == 0 and again.files_deleted == 0


def test_a_kept_alert_keeps_the_snapshot_it_shares_until_it_goes(
    session: Session,
    session_factory: sessionmaker[Session],
    media: MediaStore,
    world: dict[str, Any],
) -> None:
    shared = world["snap"]["shared"]
    _sweeper(session_factory, media).run()
    assert media.path(shared).is_file()  # the read went, its alert still shows the picture
    later = RetentionSweeper(
        session_factory, media, RetentionConfig(), clock=lambda: T + 30 * D
    ).run()
    assert later.of(DataClass.ALERT).deleted >= 1
    assert not media.path(shared).exists()
    assert world["alerts"]["shared"] not in _ids_of(session, AlertRow.id)


def test_a_missing_file_is_counted_not_fatal(
    session: Session,
    session_factory: sessionmaker[Session],
    media: MediaStore,
    world: dict[str, Any],
) -> None:
    media.delete(world["snap"]["old"])
    report = _sweeper(session_factory, media).run(actor=Actor("ops", "admin"))
    assert report.files_missing == 1 and report.files_deleted == 2
    assert world["reads"]["old"] not in _ids_of(session, PlateReadRow.id)
    last = list(entries(session))[-1]
    assert (last.actor, last.details["files"]["missing"]) == ("ops", 1)


def test_scheduler_runs_the_sweep_and_the_extra_jobs(
    session: Session,
    session_factory: sessionmaker[Session],
    media: MediaStore,
    world: dict[str, Any],
) -> None:
    ran = threading.Event()

    def failing_job() -> None:
        ran.set()
        raise RuntimeError("boom")  # logged; the scheduler goes on

    scheduler = RetentionScheduler(
        _sweeper(session_factory, media),
        dt.timedelta(hours=1),
        jobs=[failing_job],
        first_delay=dt.timedelta(0),
    )
    with scheduler:
        assert ran.wait(30), "the scheduled sweep did not run"
    assert scheduler.runs == 1 and scheduler.last_error is None
    assert scheduler.last_report is not None
    assert world["reads"]["old"] not in _ids_of(session, PlateReadRow.id)
    with pytest.raises(ValueError, match="positive interval"):
        RetentionScheduler(_sweeper(session_factory, media), dt.timedelta(0))


def test_scheduler_survives_a_failing_sweep(media: MediaStore) -> None:
    def broken() -> Session:
        raise RuntimeError("database down")

    sweeper = RetentionSweeper(broken, media, RetentionConfig())  # type: ignore[arg-type]
    scheduler = RetentionScheduler(sweeper, dt.timedelta(hours=1))
    assert scheduler.run_once() is None
    assert scheduler.last_error is not None and "database down" in scheduler.last_error
