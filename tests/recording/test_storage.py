"""Retention of recording segments and the node's storage budget (services/recording_storage)."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from citywatch.config.recording import StorageConfig
from citywatch.services import recordings as rec
from citywatch.services.recording_storage import RecordingHousekeeper
from citywatch.store.media import MediaStore
from citywatch.store.models import AuditLogRow
from tests.recording.helpers import T0
from tests.services.helpers import add_camera

SIZE = 1000


@pytest.fixture
def db(session_factory: sessionmaker[Session]) -> sessionmaker[Session]:
    with session_factory() as s:
        add_camera(s, "cam-1", recording={"enabled": True, "retain_hours": 24, "legal_basis": "B4"})
        add_camera(s, "cam-2", recording={"enabled": True, "retain_hours": 2, "legal_basis": "B4"})
    return session_factory


def _segment(
    db: sessionmaker[Session], media: MediaStore, cam: str, start: dt.datetime, size: int = SIZE
) -> rec.Segment:
    rel = rec.segment_path(cam, start)
    path = media.path(rel)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * size)
    with db() as s:
        seg = rec.add_segment(s, cam, start, rel)
        return rec.finish_segment(
            s, seg.id, ended_at=start + dt.timedelta(minutes=1), size_bytes=size, sha256="0" * 64
        )


def _keeper(
    db: sessionmaker[Session], media: MediaStore, now: dt.datetime, budget_bytes: int = 10**9
) -> RecordingHousekeeper:
    storage = StorageConfig(budget_gb=budget_bytes / 1e9, warn_fraction=0.8)
    return RecordingHousekeeper(db, media, storage, clock=lambda: now)


def _audit(db: sessionmaker[Session], action: str) -> list[dict[str, object]]:
    with db() as s:
        rows = s.scalars(select(AuditLogRow).where(AuditLogRow.action == action)).all()
        return [json.loads(r.details) | {"target": r.target} for r in rows]


def test_retention_deletes_each_cameras_old_segments_rows_and_files(
    db: sessionmaker[Session], media: MediaStore, caplog: pytest.LogCaptureFixture
) -> None:
    now = T0 + dt.timedelta(hours=30)
    old1 = _segment(db, media, "cam-1", T0)  # 30 h old: past 24 h
    new1 = _segment(db, media, "cam-1", T0 + dt.timedelta(hours=10))
    old2 = _segment(db, media, "cam-2", T0 + dt.timedelta(hours=27))  # past 2 h
    new2 = _segment(db, media, "cam-2", T0 + dt.timedelta(hours=29, minutes=30))
    with caplog.at_level(logging.INFO):
        report = _keeper(db, media, now).run_once()
    assert report.retention_deleted == {"cam-1": 1, "cam-2": 1}
    for gone in (old1, old2):
        assert not media.path(gone.path).exists()
    for kept in (new1, new2):
        assert media.path(kept.path).is_file()
    with db() as s:
        left = rec.segments_in_range(s, "cam-1", T0, now) + rec.segments_in_range(
            s, "cam-2", T0, now
        )
    assert sorted(x.id for x in left) == sorted([new1.id, new2.id])
    entries = _audit(db, "recording.retention")
    assert sorted((e["target"], e["deleted"]) for e in entries) == [
        ("camera:cam-1", 1),
        ("camera:cam-2", 1),
    ]
    assert any("camera cam-1: 1 segment(s) deleted" in m for m in caplog.messages)


def test_budget_deletes_oldest_first_and_warns_before(
    db: sessionmaker[Session], media: MediaStore, caplog: pytest.LogCaptureFixture
) -> None:
    now = T0 + dt.timedelta(hours=1)
    segs = [
        _segment(db, media, cam, T0 + dt.timedelta(minutes=m))
        for m, cam in [(0, "cam-1"), (1, "cam-2"), (2, "cam-1"), (3, "cam-2")]
    ]
    keeper = _keeper(db, media, now, budget_bytes=5 * SIZE)
    with caplog.at_level(logging.WARNING):
        first = keeper.run_once()  # 4000 of 5000: the warning level (80 %)
    assert (first.state, first.budget_deleted, first.used_bytes) == ("warning", 0, 4 * SIZE)
    assert sum("of 0.000 GB used (warning from 80 %" in m for m in caplog.messages) == 1
    more = [_segment(db, media, "cam-1", T0 + dt.timedelta(minutes=m)) for m in (4, 5, 6)]
    report = keeper.run_once()  # 7000 of 5000: the two oldest go, of either camera
    assert (report.budget_deleted, report.freed_bytes, report.used_bytes) == (2, 2 * SIZE, 5000)
    assert report.state == "warning"
    assert [media.path(s.path).exists() for s in segs + more] == [False, False] + [True] * 5
    (entry,) = _audit(db, "recording.budget")
    assert entry["deleted"] == 2 and entry["cameras"] == ["cam-1", "cam-2"]
    assert sum("2 oldest segment(s) deleted" in m for m in caplog.messages) == 1


def test_segments_being_written_are_never_deleted_for_the_budget(
    db: sessionmaker[Session], media: MediaStore
) -> None:
    with db() as s:
        rec.add_segment(s, "cam-1", T0, rec.segment_path("cam-1", T0))
    report = _keeper(db, media, T0, budget_bytes=1).run_once()
    assert report.budget_deleted == 0 and report.state == "ok"
    with db() as s:
        assert len(rec.incomplete_segments(s)) == 1


def test_sweep_removes_stray_files_after_the_grace(
    db: sessionmaker[Session], media: MediaStore
) -> None:
    now = T0 + dt.timedelta(hours=5)
    kept = _segment(db, media, "cam-1", T0)
    with db() as s:
        writing = rec.add_segment(s, "cam-1", T0 + dt.timedelta(hours=1), "recording/cam-1/d/w.mp4")
    folder = media.path("recording/cam-1/d")
    folder.mkdir(parents=True)
    own_partial = folder / ".w.mp4.partial"  # the segment in progress: kept
    stray = folder / "gone.mp4"  # no row: its deletion could not remove it
    stray_partial = folder / ".old.mp4.partial"
    young = folder / "young.mp4"
    for p in (own_partial, stray, stray_partial, young):
        p.write_bytes(b"x")
    old = (now - dt.timedelta(hours=2)).timestamp()
    for p in (own_partial, stray, stray_partial, media.path(kept.path)):
        os.utime(p, (old, old))
    removed = _keeper(db, media, now).sweep_files()
    assert removed == 2
    assert not stray.exists() and not stray_partial.exists()
    assert own_partial.exists() and young.exists() and media.path(kept.path).exists()
    assert writing.path == "recording/cam-1/d/w.mp4"


def test_a_camera_with_no_period_keeps_segments_for_the_nodes_longest(
    session_factory: sessionmaker[Session], media: MediaStore, tmp_path: Path
) -> None:
    with session_factory() as s:
        add_camera(s, "cam-9")
    seg = _segment(session_factory, media, "cam-9", T0)
    keeper = _keeper(session_factory, media, T0 + dt.timedelta(hours=743))
    assert keeper.run_once().retention_deleted == {}
    keeper = _keeper(session_factory, media, T0 + dt.timedelta(hours=745))
    assert keeper.run_once().retention_deleted == {"cam-9": 1}
    assert not media.path(seg.path).exists()


def test_the_retention_job_finishes_only_long_abandoned_partials(
    db: sessionmaker[Session], media: MediaStore
) -> None:
    now = T0 + dt.timedelta(hours=3)
    with db() as s:  # no file: nothing readable, so "finished" means discarded here
        old = rec.add_segment(s, "cam-1", T0, rec.segment_path("cam-1", T0))
        recent = now - dt.timedelta(minutes=5)
        writing = rec.add_segment(s, "cam-1", recent, rec.segment_path("cam-1", recent))
    _keeper(db, media, now).retention_job()
    with db() as s:
        assert [x.id for x in rec.incomplete_segments(s)] == [writing.id]
    assert old.id != writing.id
