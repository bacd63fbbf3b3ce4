"""Repeat sightings counted on a pending alert, and the evidence box the rows keep.

Looped or loitering footage shows the same person or car again and again: while its alert
waits for review, each later track of that subject (or plate) on the same camera within the
window of the alert's last sighting is one more sighting of that alert (``alerts.sightings``,
``alerts.last_sighting_at``) and one ``alert_sightings`` row keyed by the track's own event
id, so a replayed batch counts nothing twice.  Each is audited as ``alert.sighting``.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from citywatch.audit.chain import Actor, append
from citywatch.store.models import AlertRow, AlertSightingRow

log = logging.getLogger(__name__)

BOX_COLUMNS = ("box_x0", "box_y0", "box_x1", "box_y1")


def box_columns(box: tuple[float, ...] | None) -> dict[str, float | None]:
    """The evidence box (x0, y0, x1, y1 in snapshot pixels) as the rows store it; an absent,
    empty or non-finite box is stored as unknown rather than as a box to cut a crop from."""
    values = [float(v) for v in box] if box is not None else []
    ok = (
        len(values) == 4
        and all(math.isfinite(v) for v in values)
        and values[2] > values[0]
        and values[3] > values[1]
    )
    return dict(zip(BOX_COLUMNS, values if ok else [None] * 4, strict=True))


def stored_box(row: Any) -> tuple[float, float, float, float] | None:
    """The box a row (alert or plate read) keeps, None when unknown."""
    values: list[float] = []
    for name in BOX_COLUMNS:
        value = getattr(row, name, None)
        if value is None:
            return None
        values.append(float(value))
    x0, y0, x1, y1 = values
    return (x0, y0, x1, y1)


def counted(session: Session, eid: str) -> int | None:
    """The alert a track was already counted on as a sighting (a replayed batch), if any."""
    return session.scalar(select(AlertSightingRow.alert_id).where(AlertSightingRow.event_id == eid))


def count_sighting(
    session: Session,
    actor: Actor,
    window_s: float,
    *,
    eid: str,
    kind: str,
    camera_id: str,
    same: Any,
    at: dt.datetime,
    track_id: int,
    plate_read_id: int | None = None,
) -> int | None:
    """Count a track (event id ``eid``, seen ``at``) on the newest pending alert of the same
    kind, camera and subject/plate (``same``: a condition on :class:`AlertRow`) whose last
    sighting is within ``window_s`` of it.  Flushed with its audit entry, not committed.
    Returns that alert's id, or None when there is none (``window_s`` 0: never)."""
    if window_s <= 0:
        return None
    window = dt.timedelta(seconds=window_s)
    last = func.coalesce(AlertRow.last_sighting_at, AlertRow.seen_at)
    open_alert = session.execute(
        select(AlertRow.id, AlertRow.seen_at, AlertRow.last_sighting_at)
        .where(AlertRow.kind == kind, AlertRow.camera_id == camera_id, same)
        .where(AlertRow.status == "pending", AlertRow.event_id != eid)
        .where(last >= at - window, AlertRow.seen_at <= at + window)
        .order_by(AlertRow.id.desc())
        .limit(1)
    ).first()
    if open_alert is None:
        return None
    alert_id = int(open_alert.id)
    latest = max(open_alert.last_sighting_at or open_alert.seen_at, at)
    done = session.execute(
        update(AlertRow)
        .where(AlertRow.id == alert_id, AlertRow.status == "pending")
        .values(sightings=AlertRow.sightings + 1, last_sighting_at=latest)
        .execution_options(synchronize_session=False)
    )
    if not getattr(done, "rowcount", 0):  # reviewed in the meantime: no longer open
        return None
    session.add(
        AlertSightingRow(
            event_id=eid,
            alert_id=alert_id,
            plate_read_id=plate_read_id,
            track_id=track_id,
            seen_at=at,
        )
    )
    count = session.scalar(select(AlertRow.sightings).where(AlertRow.id == alert_id))
    details: dict[str, Any] = {
        "kind": kind,
        "camera_id": camera_id,
        "track_id": track_id,
        "sightings": count,
    }
    if plate_read_id is not None:
        details["plate_read_id"] = plate_read_id
    append(session, actor, "alert.sighting", f"alert:{alert_id}", details=details)
    log.info(
        "camera %s track %d: sighting %s of pending alert %d", camera_id, track_id, count, alert_id
    )
    return alert_id
