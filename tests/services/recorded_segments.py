"""Recorded segments in the store for the playback, export and scan tests: real fragmented
H.264 MP4 files under the media folder, registered as the recorder registers them."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import tempfile
from pathlib import Path

from sqlalchemy.orm import Session

from citywatch.services.recordings import Segment, add_segment, finish_segment, segment_path
from citywatch.store.media import MediaStore
from tests.sources.test_remux import write_segment


@functools.cache
def segment_bytes(seconds: float) -> bytes:
    """One encoded segment, made once per test run (x264 is slow on a shared host)."""
    with tempfile.TemporaryDirectory() as tmp:
        return write_segment(Path(tmp) / "s.mp4", seconds).read_bytes()


def record(
    session: Session,
    media: MediaStore,
    camera_id: str,
    start: dt.datetime,
    count: int = 3,
    seconds: float = 4.0,
) -> list[Segment]:
    """``count`` back-to-back complete segments of ``seconds`` each from ``start``."""
    out = []
    for k in range(count):
        at = start + dt.timedelta(seconds=seconds * k)
        rel = segment_path(camera_id, at)
        path = media.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        data = segment_bytes(seconds)
        path.write_bytes(data)
        seg = add_segment(session, camera_id, at, rel)
        out.append(
            finish_segment(
                session,
                seg.id,
                ended_at=at + dt.timedelta(seconds=seconds),
                size_bytes=len(data),
                sha256=hashlib.sha256(data).hexdigest(),
            )
        )
    return out
