"""The recording segments' rows (services/recordings.py): only complete segments are served."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy.orm import Session

from citywatch.services import recordings as rec
from citywatch.services.common import NotFoundError, ServiceError
from tests.services.helpers import add_camera

T0 = dt.datetime(2025, 6, 1, 12, 0, tzinfo=dt.UTC)
SHA = "ab" * 32


def _segment(session: Session, start_min: int, *, finish: bool = True, cam: str = "cam-1") -> int:
    start = T0 + dt.timedelta(minutes=start_min)
    seg = rec.add_segment(session, cam, start, rec.segment_path(cam, start))
    if finish:
        rec.finish_segment(
            session, seg.id, ended_at=start + dt.timedelta(seconds=60), size_bytes=1000, sha256=SHA
        )
    return seg.id


def test_only_complete_segments_are_in_range(session: Session) -> None:
    add_camera(session, "cam-1")
    done = _segment(session, 0)
    _segment(session, 1, finish=False)
    found = rec.segments_in_range(session, "cam-1", T0, T0 + dt.timedelta(minutes=5))
    assert [s.id for s in found] == [done]
    assert found[0].complete and found[0].sha256 == SHA and found[0].bytes == 1000
    assert len(rec.incomplete_segments(session, "cam-1")) == 1


def test_range_overlap_and_order(session: Session) -> None:
    add_camera(session, "cam-1")
    add_camera(session, "cam-2")
    ids = [_segment(session, m) for m in (0, 1, 2, 3)]
    _segment(session, 1, cam="cam-2")
    # 00:01:30 .. 00:02:10 overlaps the segments starting at minute 1 and 2
    got = rec.segments_in_range(
        session, "cam-1", T0 + dt.timedelta(seconds=90), T0 + dt.timedelta(seconds=130)
    )
    assert [s.id for s in got] == ids[1:3]
    assert (
        rec.segments_in_range(
            session, "cam-1", T0 - dt.timedelta(hours=2), T0 - dt.timedelta(hours=1)
        )
        == []
    )
    with pytest.raises(ServiceError, match="before its start"):
        rec.segments_in_range(session, "cam-1", T0, T0 - dt.timedelta(seconds=1))


def test_finish_checks_its_values(session: Session) -> None:
    add_camera(session, "cam-1")
    sid = _segment(session, 0, finish=False)
    with pytest.raises(ServiceError, match="sha256"):
        rec.finish_segment(session, sid, ended_at=T0, size_bytes=10, sha256="xyz")
    with pytest.raises(ServiceError, match="bytes"):
        rec.finish_segment(session, sid, ended_at=T0, size_bytes=0, sha256=SHA)
    with pytest.raises(ServiceError, match="before its start"):
        rec.finish_segment(
            session, sid, ended_at=T0 - dt.timedelta(seconds=1), size_bytes=10, sha256=SHA
        )
    with pytest.raises(NotFoundError):
        rec.finish_segment(session, 9999, ended_at=T0, size_bytes=10, sha256=SHA)
    assert rec.incomplete_segments(session)[0].id == sid


def test_discard_only_incomplete(session: Session) -> None:
    add_camera(session, "cam-1")
    done = _segment(session, 0)
    partial = _segment(session, 1, finish=False)
    with pytest.raises(ServiceError, match="complete"):
        rec.discard_segment(session, done)
    gone = rec.discard_segment(session, partial)
    assert gone is not None and gone.id == partial
    assert rec.discard_segment(session, partial) is None
    assert rec.incomplete_segments(session) == []


def test_delete_before_cutoff_and_oldest_and_bytes(session: Session) -> None:
    add_camera(session, "cam-1")
    add_camera(session, "cam-2")
    a, b, c = (_segment(session, m) for m in (0, 10, 20))
    other = _segment(session, 5, cam="cam-2")
    _segment(session, 30, finish=False)
    assert rec.total_bytes(session) == 4000
    assert [s.id for s in rec.oldest_segments(session, 2)] == [a, other]
    gone = rec.delete_segments_before(session, "cam-1", T0 + dt.timedelta(minutes=12))
    assert [s.id for s in gone] == [a, b]
    assert [
        s.id for s in rec.segments_in_range(session, "cam-1", T0, T0 + dt.timedelta(hours=1))
    ] == [c]
    assert rec.total_bytes(session, "cam-2") == 1000
    assert [s.id for s in rec.delete_segments(session, [other, 12345])] == [other]
    assert rec.recorded_cameras(session) == ["cam-1"]


def test_segment_path_is_under_recording() -> None:
    p = rec.segment_path("cam-1", dt.datetime(2025, 6, 1, 12, 3, 4, 500, tzinfo=dt.UTC))
    assert p == "recording/cam-1/2025-06-01/120304.000500.mp4"
    with pytest.raises(ServiceError):
        rec.segment_path("cam-1", dt.datetime(2025, 6, 1))  # naive
