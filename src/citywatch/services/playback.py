"""Playing a camera's continuous recording for a case (issue 17).

Recorded footage is personal data like plate reads: only a role with ``recordings.view``
(the investigator) sees it, only with a case reference, and every access is audited with
the camera and the time range.  A refusal is audited too.

* :func:`timeline`: the recorded ranges of a camera in ``[start, end)`` (complete segments
  merged where they touch), the segments, and the camera's alerts in the range; audited
  ``recording.timeline`` with the alert ids returned.
* :func:`segment_for_playback`: one complete segment's media path, to be served with range
  requests; audited ``recording.play`` with the segment's time range when a playback starts
  (no ``Range`` header, or one from byte 0), as alert clips are.

The range rules (:func:`checked_range`) and the role check (:func:`require_viewer`) are shared
with the export and the retrospective scan.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from citywatch.audit.chain import Actor, append
from citywatch.policy.access import Permission, allowed
from citywatch.services.access_requests import refuse
from citywatch.services.clips import starts_playback
from citywatch.services.common import NotFoundError, ServiceError, aware, unit_of_work
from citywatch.services.recordings import Segment, segments_in_range
from citywatch.store.models import AlertRow, CameraRow, RecordingSegmentRow

#: The longest range one playback timeline, export or scan may ask for.
MAX_RANGE = dt.timedelta(hours=24)
#: Segments closer than this are one recorded range on the timeline.
JOIN_GAP = dt.timedelta(seconds=2)
MAX_ALERTS = 1000


def case_reference(case_ref: str | None, what: str = "recorded footage") -> str:
    ref = (case_ref or "").strip()
    if not ref:
        raise ServiceError(f"a case reference is required to see {what}")
    if len(ref) > 200:
        raise ServiceError("the case reference is longer than 200 characters")
    return ref


def checked_range(start: dt.datetime, end: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """``(start, end)`` in UTC; refused when empty, reversed or longer than ``MAX_RANGE``."""
    s, e = aware(start, "range start"), aware(end, "range end")
    if e <= s:
        raise ServiceError(f"the range ends ({e.isoformat()}) at or before it starts")
    if e - s > MAX_RANGE:
        hours = MAX_RANGE.total_seconds() / 3600
        raise ServiceError(f"the range is longer than {hours:g} hours: ask for less at a time")
    return s, e


def range_details(camera_id: str, start: dt.datetime, end: dt.datetime) -> dict[str, Any]:
    return {"camera_id": camera_id, "from": start, "to": end}


def require_viewer(
    session: Session, actor: Actor, action: str, camera_id: str, details: dict[str, Any], ref: str
) -> CameraRow:
    """The camera, when ``actor`` may see its recording; else a :class:`PermissionDenied`
    (audited as ``recording.refused`` naming ``action``) or :class:`NotFoundError`."""
    if not allowed(actor.role, Permission.RECORDINGS_VIEW):
        raise refuse(
            session,
            actor,
            "recording.refused",
            f"camera:{camera_id}",
            f"role {actor.role!r} may not {action} recorded footage (an investigator's duty)",
            details={**details, "asked": action},
            reason=ref,
        )
    camera = session.get(CameraRow, camera_id)
    if camera is None:
        raise NotFoundError(f"camera {camera_id!r} does not exist")
    return camera


@dataclass(frozen=True, slots=True)
class RecordedRange:
    start: dt.datetime
    end: dt.datetime
    segments: int


def merge_ranges(segments: Sequence[Segment], gap: dt.timedelta = JOIN_GAP) -> list[RecordedRange]:
    """Complete segments joined into the ranges they cover (a gap over ``gap`` splits)."""
    out: list[RecordedRange] = []
    for seg in sorted(segments, key=lambda s: s.started_at):
        end = seg.ended_at or seg.started_at
        if out and seg.started_at - out[-1].end <= gap:
            last = out[-1]
            out[-1] = RecordedRange(last.start, max(last.end, end), last.segments + 1)
        else:
            out.append(RecordedRange(seg.started_at, end, 1))
    return out


@dataclass(frozen=True, slots=True)
class Timeline:
    camera_id: str
    camera_name: str
    start: dt.datetime
    end: dt.datetime
    segments: list[Segment]
    ranges: list[RecordedRange]
    alerts: list[AlertRow]


def timeline(
    session: Session,
    actor: Actor,
    camera_id: str,
    *,
    start: dt.datetime,
    end: dt.datetime,
    case_ref: str,
) -> Timeline:
    """What was recorded of ``camera_id`` in ``[start, end)`` and its alerts there."""
    ref = case_reference(case_ref)
    s, e = checked_range(start, end)
    details = range_details(camera_id, s, e)
    camera = require_viewer(session, actor, "play", camera_id, details, ref)
    with unit_of_work(session):
        segs = [x for x in segments_in_range(session, camera_id, s, e) if x.started_at < e]
        alerts = list(
            session.scalars(
                select(AlertRow)
                .where(AlertRow.camera_id == camera_id, AlertRow.seen_at >= s)
                .where(AlertRow.seen_at < e)
                .order_by(AlertRow.seen_at, AlertRow.id)
                .limit(MAX_ALERTS)
            )
        )
        append(
            session,
            actor,
            "recording.timeline",
            f"camera:{camera_id}",
            details={
                **details,
                "segments": len(segs),
                "alerts": [a.id for a in alerts],
            },
            reason=ref,
        )
    return Timeline(camera_id, camera.name, s, e, segs, merge_ranges(segs), alerts)


def segment_for_playback(
    session: Session,
    actor: Actor,
    camera_id: str,
    segment_id: int,
    *,
    case_ref: str,
    byte_range: str | None,
) -> Segment:
    """One complete segment of ``camera_id`` (its ``path`` is relative to the media folder),
    audited ``recording.play`` with its time range when a playback starts."""
    ref = case_reference(case_ref)
    row = session.get(RecordingSegmentRow, segment_id)
    if row is None or row.camera_id != camera_id or not row.complete:
        # no other camera's segment by id, and never one still being written
        session.rollback()
        require_viewer(session, actor, "play", camera_id, {"segment_id": segment_id}, ref)
        raise NotFoundError(f"camera {camera_id!r} has no recorded segment {segment_id}")
    seg = Segment.of(row)
    details = {
        **range_details(camera_id, seg.started_at, seg.ended_at or seg.started_at),
        "segment_id": segment_id,
    }
    require_viewer(session, actor, "play", camera_id, details, ref)
    with unit_of_work(session):
        if starts_playback(byte_range):
            append(
                session, actor, "recording.play", f"camera:{camera_id}", details=details, reason=ref
            )
    return seg
