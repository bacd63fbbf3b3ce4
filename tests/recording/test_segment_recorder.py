"""The segment writer: stream copy into whole, hashed segments; partial ones never served;
faults stop the recording, never the camera."""

from __future__ import annotations

import dataclasses
import datetime as dt
import errno
import logging
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from citywatch.services import recordings as rec
from citywatch.services import segment_recorder as sr
from citywatch.services.segment_recorder import SegmentRecorder, partial_path
from citywatch.sources import segments
from citywatch.store.media import MediaStore
from tests.recording.helpers import T0, decoded_pictures, feed, footage, sha256_of
from tests.services.helpers import add_camera

HOUR = dt.timedelta(hours=1)


@pytest.fixture
def db(session_factory: sessionmaker[Session]) -> sessionmaker[Session]:
    with session_factory() as s:
        add_camera(s, "cam-1")
    return session_factory


def _all(db: sessionmaker[Session]) -> list[rec.Segment]:
    with db() as s:
        return rec.segments_in_range(s, "cam-1", T0 - HOUR, T0 + HOUR)


def test_segments_are_whole_hashed_and_cover_every_picture(
    db: sessionmaker[Session], media: MediaStore, tmp_path: Path
) -> None:
    packets = footage(tmp_path, seconds=8.0)  # a keyframe every second
    r = SegmentRecorder("cam-1", db, media, segment_s=3.0)
    feed(r, packets)
    health = r.close()
    segs = _all(db)
    assert [round((s.started_at - T0).total_seconds()) for s in segs] == [0, 3, 6]
    assert health.state == sr.STOPPED and health.segments == 3
    total = 0
    for s in segs:
        path = media.path(s.path)
        assert s.complete and path.is_file() and s.bytes == path.stat().st_size
        assert s.sha256 == sha256_of(path)
        assert s.ended_at is not None and s.ended_at > s.started_at
        total += decoded_pictures(path)
    assert total == len(packets) == 200
    assert not list(media.root.rglob(f"*{sr.PARTIAL_SUFFIX}"))
    assert segs[-1].ended_at == T0 + dt.timedelta(seconds=8)


def test_a_segment_in_progress_is_a_partial_file_and_no_complete_row(
    db: sessionmaker[Session], media: MediaStore, tmp_path: Path
) -> None:
    packets = footage(tmp_path, seconds=4.0)
    r = SegmentRecorder("cam-1", db, media, segment_s=60.0)
    feed(r, packets[:60])
    r.drain()
    with db() as s:
        (open_seg,) = rec.incomplete_segments(s, "cam-1")
    final = media.path(open_seg.path)
    assert not final.exists() and partial_path(final).is_file()
    assert _all(db) == []  # never served while it is written
    feed(r, packets[60:])
    r.close()
    (done,) = _all(db)
    assert done.id == open_seg.id and final.is_file() and not partial_path(final).exists()
    assert decoded_pictures(final) == len(packets)


def test_a_camera_that_drops_mid_segment_leaves_a_whole_segment(
    db: sessionmaker[Session], media: MediaStore, tmp_path: Path
) -> None:
    first = footage(tmp_path, seconds=2.5, name="a.mp4")
    again = footage(tmp_path, seconds=2.0, name="b.mp4")  # the reconnect: a new connection
    r = SegmentRecorder("cam-1", db, media, segment_s=60.0)
    feed(r, first)
    r.ended()  # the source ended mid-segment
    feed(r, again, offset_s=10.0)
    r.close()
    segs = _all(db)
    assert len(segs) == 2
    assert decoded_pictures(media.path(segs[0].path)) == len(first)
    assert decoded_pictures(media.path(segs[1].path)) == len(again)
    assert segs[1].started_at == T0 + dt.timedelta(seconds=10)


@pytest.mark.parametrize("code", [errno.EROFS, errno.ENOSPC])
def test_a_folder_that_refuses_files_fails_the_recording_once_and_retries(
    db: sessionmaker[Session],
    media: MediaStore,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    code: int,
) -> None:
    packets = footage(tmp_path, seconds=4.0)
    real_open = segments._open
    broken = {"on": True}

    def refusing(path: Path, info: object) -> object:
        if broken["on"]:
            raise OSError(code, "refused", str(path))
        return real_open(path, info)  # type: ignore[arg-type]

    monkeypatch.setattr(segments, "_open", refusing)
    now = {"t": 1000.0}
    r = SegmentRecorder("cam-1", db, media, segment_s=1.0, clock=lambda: now["t"], retry_s=30)
    with caplog.at_level(logging.ERROR, logger=sr.__name__):
        feed(r, packets[:50])
        r.drain()
    health = r.health()
    assert health.state == sr.FAILED and errno.errorcode[code] in health.error
    lines = [m for m in caplog.messages if "recording stopped" in m]
    assert len(lines) == 1 and "analysis goes on" in lines[0]
    with db() as s:
        assert rec.incomplete_segments(s) == []  # the refused segment's row is gone
    assert not list(media.root.rglob("*.mp4*"))
    broken["on"] = False  # the folder takes files again; the retry is due
    now["t"] += 31
    feed(r, packets[50:])
    health = r.close()
    assert health.state == sr.STOPPED and health.segments >= 1 and health.error == ""
    assert health.dropped_packets > 0


def test_a_full_queue_drops_until_a_keyframe_and_cuts_there(
    db: sessionmaker[Session], media: MediaStore, tmp_path: Path
) -> None:
    packets = footage(tmp_path, seconds=3.0)
    r = SegmentRecorder("cam-1", db, media, segment_s=60.0, queue_max_bytes=10**9)
    feed(r, packets[:30])
    r.drain()
    r._max_bytes = 1  # nothing fits: the next packets are dropped
    feed(r, packets[30:40])
    r._max_bytes = 10**9
    feed(r, packets[40:])
    health = r.close()
    segs = _all(db)
    assert health.dropped_packets == 10 + 10  # 10 refused, then 10 waiting for the keyframe
    assert len(segs) == 2  # cut at the gap: no segment has a hole
    assert decoded_pictures(media.path(segs[0].path)) == 30
    assert decoded_pictures(media.path(segs[1].path)) == len(packets) - 50


def test_recovery_finishes_a_readable_partial_and_discards_an_empty_one(
    db: sessionmaker[Session], media: MediaStore, tmp_path: Path
) -> None:
    packets = footage(tmp_path, seconds=4.0)
    r = SegmentRecorder("cam-1", db, media, segment_s=60.0)
    feed(r, packets)
    r.drain()  # the segment is open: its fragments are on disk, the row incomplete
    with db() as s:
        (partial,) = rec.incomplete_segments(s, "cam-1")
        empty = rec.add_segment(s, "cam-1", T0 + HOUR / 2, "recording/cam-1/x/empty.mp4")
    r._open = None  # the process died here: nothing is closed
    part_file = partial_path(media.path(partial.path))
    data = part_file.read_bytes()
    part_file.write_bytes(data[: len(data) * 2 // 3])  # torn mid-fragment
    report = sr.recover_partials(db, media, "cam-1")
    assert dataclasses.astuple(report) == (1, 1)
    (done,) = _all(db)
    final = media.path(done.path)
    assert done.id == partial.id and done.sha256 == sha256_of(final)
    assert 0 < decoded_pictures(final) < len(packets)
    assert not part_file.exists()
    with db() as s:
        assert rec.incomplete_segments(s) == []
        assert empty.id not in [x.id for x in rec.segments_in_range(s, "cam-1", T0, T0 + HOUR)]


def test_a_database_that_refuses_the_row_fails_the_recording_not_the_caller(
    db: sessionmaker[Session],
    media: MediaStore,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from sqlalchemy.exc import OperationalError

    def away(*_a: object, **_k: object) -> rec.Segment:
        raise OperationalError("INSERT", {}, Exception("database is locked"))

    monkeypatch.setattr(rec, "add_segment", away)
    r = SegmentRecorder("cam-1", db, media, segment_s=1.0)
    feed(r, footage(tmp_path, seconds=2.0))  # never raises into the camera's thread
    health = r.close()
    assert health.state == sr.FAILED and health.error == "database: OperationalError"
    assert not list(media.root.rglob("*.mp4*"))
