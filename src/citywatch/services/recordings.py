"""Recording segments in the store (issue 17): the rows behind a camera's continuous
recording.  Every function takes its session explicitly and is one unit of work.

A segment's life: :func:`add_segment` when its first keyframe is written (``complete``
false, ``ended_at`` None; the file sits under a temporary name), then either
:func:`finish_segment` once the file is renamed into place (end time, size, SHA-256,
``complete`` true) or :func:`discard_segment` when it could not be finished.  Only complete
segments are ever handed to playback (:func:`segments_in_range`); the writer finishes or
discards what :func:`incomplete_segments` lists when it starts again.  Deleting rows
(:func:`delete_segments`, :func:`delete_segments_before`) hands back the paths so the caller
removes the files after the commit.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from citywatch.services.common import NotFoundError, ServiceError, aware, unit_of_work
from citywatch.store.models import RecordingSegmentRow

_SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True, slots=True)
class Segment:
    """A recording segment as the store holds it (``path`` relative to the media folder)."""

    id: int
    camera_id: str
    started_at: dt.datetime
    ended_at: dt.datetime | None
    path: str
    bytes: int
    sha256: str | None
    complete: bool

    @classmethod
    def of(cls, row: RecordingSegmentRow) -> Segment:
        return cls(
            row.id,
            row.camera_id,
            row.started_at,
            row.ended_at,
            row.path,
            row.bytes,
            row.sha256,
            row.complete,
        )


def add_segment(session: Session, camera_id: str, started_at: dt.datetime, path: str) -> Segment:
    """A segment being written (not complete, never served until :func:`finish_segment`)."""
    row = RecordingSegmentRow(
        camera_id=camera_id,
        started_at=aware(started_at, "segment start"),
        ended_at=None,
        path=path,
        bytes=0,
        sha256=None,
        complete=False,
    )
    with unit_of_work(session):
        session.add(row)
        session.flush()
        seg = Segment.of(row)
    return seg


def finish_segment(
    session: Session,
    segment_id: int,
    *,
    ended_at: dt.datetime,
    size_bytes: int,
    sha256: str,
) -> Segment:
    """Mark a segment whole: its file is in place with ``size_bytes`` and ``sha256``."""
    if size_bytes <= 0:
        raise ServiceError(f"segment {segment_id}: a finished segment has bytes, got {size_bytes}")
    if not _SHA256.match(sha256):
        raise ServiceError(f"segment {segment_id}: sha256 must be 64 lower-case hex digits")
    with unit_of_work(session):
        row = session.get(RecordingSegmentRow, segment_id)
        if row is None:
            raise NotFoundError(f"recording segment {segment_id} not found")
        end = aware(ended_at, "segment end")
        if end < row.started_at:
            raise ServiceError(
                f"segment {segment_id}: end {end.isoformat()} is before its start "
                f"{row.started_at.isoformat()}"
            )
        row.ended_at, row.bytes, row.sha256, row.complete = end, size_bytes, sha256, True
        seg = Segment.of(row)
    return seg


def discard_segment(session: Session, segment_id: int) -> Segment | None:
    """Delete an incomplete segment's row (its file could not be finished); ``None`` if it
    was not there.  A complete segment is refused (retention deletes those)."""
    with unit_of_work(session):
        row = session.get(RecordingSegmentRow, segment_id)
        if row is None:
            return None
        if row.complete:
            raise ServiceError(f"segment {segment_id} is complete: it is not discarded")
        seg = Segment.of(row)
        session.delete(row)
    return seg


def segments_in_range(
    session: Session, camera_id: str, t_from: dt.datetime, t_to: dt.datetime
) -> list[Segment]:
    """The complete segments of ``camera_id`` that overlap ``[t_from, t_to]``, oldest first."""
    start, end = aware(t_from, "range start"), aware(t_to, "range end")
    if end < start:
        raise ServiceError(f"range end {end.isoformat()} is before its start {start.isoformat()}")
    rows = session.scalars(
        select(RecordingSegmentRow)
        .where(
            RecordingSegmentRow.camera_id == camera_id,
            RecordingSegmentRow.complete.is_(True),
            RecordingSegmentRow.started_at <= end,
            RecordingSegmentRow.ended_at >= start,
        )
        .order_by(RecordingSegmentRow.started_at, RecordingSegmentRow.id)
    ).all()
    return [Segment.of(r) for r in rows]


def incomplete_segments(session: Session, camera_id: str | None = None) -> list[Segment]:
    """Segments whose writing never finished (a crash, a kill), oldest first."""
    q = select(RecordingSegmentRow).where(RecordingSegmentRow.complete.is_(False))
    if camera_id is not None:
        q = q.where(RecordingSegmentRow.camera_id == camera_id)
    rows = session.scalars(q.order_by(RecordingSegmentRow.id)).all()
    return [Segment.of(r) for r in rows]


def oldest_segments(session: Session, limit: int) -> list[Segment]:
    """The ``limit`` oldest complete segments of any camera (the storage budget's victims)."""
    rows = session.scalars(
        select(RecordingSegmentRow)
        .where(RecordingSegmentRow.complete.is_(True))
        .order_by(RecordingSegmentRow.started_at, RecordingSegmentRow.id)
        .limit(max(0, limit))
    ).all()
    return [Segment.of(r) for r in rows]


def total_bytes(session: Session, camera_id: str | None = None) -> int:
    """Bytes of every segment row (complete or being written), of one camera or all."""
    q = select(func.coalesce(func.sum(RecordingSegmentRow.bytes), 0))
    if camera_id is not None:
        q = q.where(RecordingSegmentRow.camera_id == camera_id)
    return int(session.scalar(q) or 0)


#: Called inside a deletion's transaction with what it deletes (the audit entry goes there).
OnDelete = Callable[[Session, list[Segment]], None]


def delete_segments(
    session: Session, segment_ids: Sequence[int], *, on_delete: OnDelete | None = None
) -> list[Segment]:
    """Delete these segments' rows; returns what was deleted (the caller removes the files
    after this commit, so a rolled-back delete loses no file).  ``on_delete`` runs in the
    same transaction (an audit entry with the counts)."""
    if not segment_ids:
        return []
    with unit_of_work(session):
        rows = session.scalars(
            select(RecordingSegmentRow).where(RecordingSegmentRow.id.in_(list(segment_ids)))
        ).all()
        gone = [Segment.of(r) for r in rows]
        session.execute(
            delete(RecordingSegmentRow).where(RecordingSegmentRow.id.in_([s.id for s in gone]))
        )
        if gone and on_delete is not None:
            on_delete(session, gone)
    return gone


def delete_segments_before(
    session: Session,
    camera_id: str,
    cutoff: dt.datetime,
    *,
    limit: int = 1000,
    on_delete: OnDelete | None = None,
) -> list[Segment]:
    """Delete up to ``limit`` complete segments of ``camera_id`` that ended before ``cutoff``
    (retention); returns them, oldest first."""
    end = aware(cutoff, "cutoff")
    ids = session.scalars(
        select(RecordingSegmentRow.id)
        .where(
            RecordingSegmentRow.camera_id == camera_id,
            RecordingSegmentRow.complete.is_(True),
            RecordingSegmentRow.ended_at < end,
        )
        .order_by(RecordingSegmentRow.started_at, RecordingSegmentRow.id)
        .limit(max(0, limit))
    ).all()
    session.rollback()  # end the read transaction before the delete's own
    gone = delete_segments(session, list(ids), on_delete=on_delete)
    return sorted(gone, key=lambda s: (s.started_at, s.id))


def recorded_cameras(session: Session) -> list[str]:
    """Every camera with at least one segment row."""
    rows = session.scalars(select(RecordingSegmentRow.camera_id).distinct()).all()
    return sorted(rows)


def segment_path(camera_id: str, started_at: dt.datetime) -> str:
    """Where a segment of ``camera_id`` starting at ``started_at`` lives in the media folder:
    ``recording/<camera>/<YYYY-MM-DD>/<HHMMSS.ffffff>.mp4`` (UTC)."""
    t = aware(started_at, "segment start")
    return f"recording/{camera_id}/{t:%Y-%m-%d}/{t:%H%M%S.%f}.mp4"


__all__ = [
    "Segment",
    "add_segment",
    "delete_segments",
    "delete_segments_before",
    "discard_segment",
    "finish_segment",
    "incomplete_segments",
    "oldest_segments",
    "recorded_cameras",
    "segment_path",
    "segments_in_range",
    "total_bytes",
]
