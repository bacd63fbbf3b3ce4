"""Issue 13 item 7: evidence files no row points at are swept by the retention job, and a
process killed (-9) while the database is locked leaves nothing the sweep does not remove."""

from __future__ import annotations

import datetime as dt
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from citywatch.config.retention import RetentionConfig
from citywatch.decisions.types import HotlistHit, PlateRead
from citywatch.services.events import EventRecorder
from citywatch.services.hotlists import add_plate
from citywatch.services.orphans import ORPHAN_GRACE, sweep_orphan_files
from citywatch.services.retention import RetentionSweeper
from citywatch.store.db import make_engine, make_session_factory, upgrade_database
from citywatch.store.media import MediaStore
from citywatch.store.models import AlertRow, AuditLogRow, PlateReadRow
from tests.services.helpers import ADMIN, NOW, add_camera, plate_read

REPO = Path(__file__).resolve().parents[2]
OLD = time.time() - 2 * ORPHAN_GRACE.total_seconds()


def _age(path: Path) -> None:
    os.utime(path, (OLD, OLD))


def _hit_all(hotlist_id: int):
    def match(read: PlateRead) -> HotlistHit:
        return HotlistHit(read=read, hotlist_id=hotlist_id, entry=read.text, distance=0)

    return match


def test_the_sweep_removes_old_orphans_and_keeps_what_rows_point_at(
    session: Session, session_factory: sessionmaker[Session], media: MediaStore
) -> None:
    add_camera(session, "cam-1")
    entry = add_plate(session, ADMIN, "stolen", "AB123CD", "r")
    rec = EventRecorder(
        session_factory, media, _hit_all(entry.hotlist_id), lambda _e: None, clock=lambda: NOW
    )
    read_id, _ = rec.record_plate_read(plate_read())
    kept_read_id, _ = rec.record_plate_read(
        plate_read(track_id=5, text="XY999ZZ", frame_wall_time=NOW.timestamp() + 900)
    )
    with session_factory() as s:
        kept = s.get(PlateReadRow, read_id)
        restored_row = s.get(PlateReadRow, kept_read_id)
        assert kept is not None and restored_row is not None
        kept_rel, restored_rel = kept.snapshot_path, restored_row.snapshot_path
    assert kept_rel is not None and restored_rel is not None
    image = np.full((8, 8, 3), 50, np.uint8)
    # a snapshot whose transaction never committed (written before the row, old versions)
    orphan = media.path(media.save_snapshot("plate", "deadbeef", image))
    young = media.path(media.save_snapshot("face", "cafe01", image))  # may still commit
    staged = media.stage("plate", "feedface", image).temp  # killed before its commit
    # killed between the commit and the rename: the row names it, the file is still staged
    moved = media.path(restored_rel)
    pending = moved.parent / f".{moved.name}.abc123{'.pending'}"
    moved.rename(pending)
    leftover = media.path("plate/de/.deadbeef.jpg.x9y8.tmp")
    leftover.write_bytes(b"half a file")
    photo = media.path(media.save_snapshot("subject", "s1-e1", image))  # not evidence
    for p in (orphan, staged, pending, leftover, photo, media.path(kept_rel)):
        _age(p)

    dry = sweep_orphan_files(session_factory, media, now=dt.datetime.now(dt.UTC), dry_run=True)
    assert (dry.deleted, dry.restored) == (3, 1) and orphan.exists() and staged.exists()

    report = sweep_orphan_files(session_factory, media, now=dt.datetime.now(dt.UTC))
    assert report.as_details() == {
        "scanned": 6,
        "young": 1,
        "deleted": 3,
        "restored": 1,
        "failed": 0,
    }
    assert not orphan.exists() and not staged.exists() and not leftover.exists()
    assert young.exists() and photo.exists() and media.path(kept_rel).is_file()
    assert moved.is_file() and not pending.exists()  # the committed row's snapshot is back


def test_the_retention_job_runs_the_sweep_and_audits_its_counts(
    session: Session,
    session_factory: sessionmaker[Session],
    media: MediaStore,
    caplog: pytest.LogCaptureFixture,
) -> None:
    orphan = media.path(media.save_snapshot("plate", "deadbeef", np.zeros((4, 4, 3), np.uint8)))
    _age(orphan)
    sweeper = RetentionSweeper(
        session_factory, media, RetentionConfig(), clock=lambda: dt.datetime.now(dt.UTC)
    )
    with caplog.at_level("INFO", logger="citywatch.services.orphans"):
        report = sweeper.run()
    assert report.orphans is not None and report.orphans.deleted == 1
    assert not orphan.exists()  # before the fix: retention only deleted what a row named
    assert "1 deleted" in caplog.text
    with session_factory() as s:
        last = s.scalars(select(AuditLogRow).order_by(AuditLogRow.seq.desc()).limit(1)).one()
    assert last.action == "retention.sweep" and '"orphans":{"deleted":1' in last.details


_CHILD = """
import sys
from citywatch.decisions.types import HotlistHit
from citywatch.services.events import EventRecorder
from citywatch.store.db import make_engine, make_session_factory
from citywatch.store.media import MediaStore
from tests.services.helpers import NOW, plate_read

url, media_dir, hotlist_id = sys.argv[1], sys.argv[2], int(sys.argv[3])
hit = lambda r: HotlistHit(read=r, hotlist_id=hotlist_id, entry=r.text, distance=0)
rec = EventRecorder(
    make_session_factory(make_engine(url)), MediaStore(media_dir), hit, print,
    clock=lambda: NOW,
)
rec.record_plate_read(plate_read())  # blocks on the locked database, then is killed
print("stored")  # never reached
"""


def test_kill_9_while_the_database_is_locked_leaves_an_orphan_the_sweep_removes(
    tmp_path: Path,
) -> None:
    db = tmp_path / "cw.db"
    url = f"sqlite:///{db}"
    upgrade_database(url)
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    with sessions() as s:
        add_camera(s, "cam-1")
        entry = add_plate(s, ADMIN, "stolen", "AB123CD", "reported stolen")
    media = MediaStore(tmp_path / "media")

    lock = sqlite3.connect(db, isolation_level=None)
    lock.execute("BEGIN IMMEDIATE")  # another connection holds the write lock
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, url, str(media.root), str(entry.hotlist_id)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        staged: list[Path] = []
        while not staged and child.poll() is None and time.monotonic() < deadline:
            staged = list(media.root.rglob("*.pending")) if media.root.exists() else []
            time.sleep(0.02)
        assert staged, f"the child never staged its snapshot: {child.communicate()}"
        child.send_signal(signal.SIGKILL)  # kill -9 while it waits for the lock
        out, _err = child.communicate(timeout=30)
        assert child.returncode == -signal.SIGKILL and b"stored" not in out
    finally:
        if child.poll() is None:
            child.kill()
        lock.rollback()
        lock.close()

    with sessions() as s:
        assert s.scalars(select(PlateReadRow)).all() == []
        assert s.scalars(select(AlertRow)).all() == []
    left = [p for p in media.root.rglob("*") if p.is_file()]
    assert left == staged  # the orphan: no row points at it

    later = dt.datetime.now(dt.UTC) + ORPHAN_GRACE + dt.timedelta(minutes=1)
    report = sweep_orphan_files(sessions, media, now=later)
    assert (report.deleted, report.failed) == (1, 0)
    assert [p for p in media.root.rglob("*") if p.is_file()] == []
    engine.dispose()
