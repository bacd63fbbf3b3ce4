"""Reading and reviewing alerts.  Every read by a person is audited; a review needs a reason.

A face alert is a *possible match* until a reviewer confirms it.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.orm import Session

from citywatch.alerts.events import AlertEvent
from citywatch.audit.chain import Actor, append
from citywatch.decisions.vehicle_check import VehicleCheck, check_vehicle
from citywatch.services.common import (
    NotFoundError,
    ServiceError,
    aware,
    now_or,
    require_text,
    unit_of_work,
)
from citywatch.services.hotlists import normalise_plate
from citywatch.store.models import (
    ALERT_KINDS,
    ALERT_STATUSES,
    AlertRow,
    PlateReadRow,
    SubjectEmbeddingRow,
)

MAX_LIST = 1000
ReviewDecision = Literal["confirm", "reject"]
_STATUS_OF: dict[str, str] = {"confirm": "confirmed", "reject": "rejected"}


def alert_event(row: AlertRow) -> AlertEvent:
    """The event sinks and the live console receive for a stored alert."""
    return AlertEvent(
        id=row.id,
        event_id=row.event_id,
        kind=row.kind,
        camera_id=row.camera_id,
        status=row.status,
        score=row.score,
        seen_at=row.seen_at,
        first_seen_s=row.first_seen_s,
        last_seen_s=row.last_seen_s,
        track_id=row.track_id,
        subject_name=row.subject_name,
        watchlist=row.list_name,
        plate=row.plate,
        read=row.read,
        distance=row.distance,
        snapshot_path=row.snapshot_path,
        snapshot_error=row.snapshot_error,
        vehicle_kind=row.vehicle_kind,
        vehicle_colour=row.vehicle_colour,
        expected_vehicle_kind=row.expected_vehicle_kind,
        expected_vehicle_colour=row.expected_vehicle_colour,
    )


def alert_vehicle_check(row: AlertRow) -> VehicleCheck:
    """A stored alert's vehicle seen against the hotlist entry's, as at alert time."""
    return check_vehicle(
        row.expected_vehicle_kind,
        row.expected_vehicle_colour,
        row.vehicle_kind,
        row.vehicle_colour,
    )


def list_alerts(
    session: Session,
    actor: Actor,
    *,
    kind: str | None = None,
    status: str | None = None,
    camera_id: str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    before_id: int | None = None,
    limit: int = 100,
    subject: str | None = None,
) -> list[AlertRow]:
    """Newest first; ``before_id`` pages back.  The access is audited with its filters.

    ``subject``: alerts on that watchlist subject (exact name) or hotlist plate (normalised)."""
    if kind is not None and kind not in ALERT_KINDS:
        raise ServiceError(f"alert kind {kind!r}: expected one of {', '.join(ALERT_KINDS)}")
    if status is not None and status not in ALERT_STATUSES:
        raise ServiceError(f"alert status {status!r}: expected one of {', '.join(ALERT_STATUSES)}")
    if not 1 <= limit <= MAX_LIST:
        raise ServiceError(f"limit must be 1..{MAX_LIST}, got {limit}")
    stmt = select(AlertRow)
    if kind is not None:
        stmt = stmt.where(AlertRow.kind == kind)
    if status is not None:
        stmt = stmt.where(AlertRow.status == status)
    if camera_id is not None:
        stmt = stmt.where(AlertRow.camera_id == camera_id)
    if since is not None:
        stmt = stmt.where(AlertRow.seen_at >= aware(since, "since"))
    if until is not None:
        stmt = stmt.where(AlertRow.seen_at < aware(until, "until"))
    if before_id is not None:
        stmt = stmt.where(AlertRow.id < before_id)
    if subject is not None:
        stmt = stmt.where(subject_filter(subject))
    with unit_of_work(session):
        rows = list(session.scalars(stmt.order_by(AlertRow.id.desc()).limit(limit)))
        append(
            session,
            actor,
            "alert.list",
            "alerts",
            details={
                "kind": kind,
                "status": status,
                "camera_id": camera_id,
                "since": since,
                "until": until,
                "before_id": before_id,
                "limit": limit,
                "subject": subject,
                "returned": [r.id for r in rows],
            },
        )
    return rows


def subject_filter(subject: str) -> ColumnElement[bool]:
    """Alerts on the subject of that name, or on that plate (compared normalised)."""
    name = require_text(subject, "subject")
    plate = normalise_plate(name)
    if plate:
        return or_(AlertRow.subject_name == name, AlertRow.plate == plate)
    return AlertRow.subject_name == name


def _get(session: Session, alert_id: int) -> AlertRow:
    row = session.get(AlertRow, alert_id)
    if row is None:
        raise NotFoundError(f"alert {alert_id} does not exist")
    return row


def get_alert(session: Session, actor: Actor, alert_id: int) -> AlertRow:
    """One alert, audited as viewed."""
    with unit_of_work(session):
        row = _get(session, alert_id)
        append(session, actor, "alert.view", f"alert:{alert_id}", details={"kind": row.kind})
    return row


def reference_photo(session: Session, actor: Actor, alert_id: int) -> str:
    """The media path of the watchlist photo behind a face alert, audited as viewed.

    Raises :class:`NotFoundError` when the alert is not a face alert, its subject was removed
    since, or the subject has no stored photo."""
    with unit_of_work(session):
        row = _get(session, alert_id)
        if row.kind != "face" or row.subject_id is None:
            raise NotFoundError(f"alert {alert_id} has no watchlist subject (or it was removed)")
        path = session.scalar(
            select(SubjectEmbeddingRow.photo_path)
            .where(
                SubjectEmbeddingRow.subject_id == row.subject_id,
                SubjectEmbeddingRow.photo_path.is_not(None),
            )
            .order_by(SubjectEmbeddingRow.id)
            .limit(1)
        )
        if path is None:
            raise NotFoundError(f"alert {alert_id}: the subject has no stored photo")
        append(
            session,
            actor,
            "subject.photo_view",
            f"alert:{alert_id}",
            details={"subject_id": row.subject_id},
        )
    return path


def review_alert(
    session: Session,
    actor: Actor,
    alert_id: int,
    decision: ReviewDecision | str,
    reason: str,
    *,
    now: dt.datetime | None = None,
) -> AlertRow:
    """Confirm or reject a pending alert.  A rejected plate hit releases its read's hold."""
    status = _STATUS_OF.get(decision)
    if status is None:
        raise ServiceError(f"review decision {decision!r}: expected 'confirm' or 'reject'")
    why = require_text(reason, f"reviewing alert {alert_id}: a reason")
    at = now_or(now)
    with unit_of_work(session):
        row = _get(session, alert_id)
        if row.status != "pending":
            raise ServiceError(f"alert {alert_id} was already {row.status} by {row.reviewed_by}")
        row.status = status
        row.reviewed_by = actor.name
        row.reviewed_at = at
        row.review_reason = why
        if status == "rejected" and row.plate_read_id is not None:
            read = session.get(PlateReadRow, row.plate_read_id)
            if read is not None:
                read.evidence_hold = False
        append(
            session,
            actor,
            "alert.review",
            f"alert:{alert_id}",
            details={"decision": decision, "kind": row.kind, "camera_id": row.camera_id},
            reason=why,
        )
    return row


def pending_count(session: Session) -> int:
    """How many alerts wait for review (a number, no personal data: not audited)."""
    n = session.scalar(
        select(func.count()).select_from(AlertRow).where(AlertRow.status == "pending")
    )
    return int(n or 0)


def alert_counts(session: Session) -> dict[tuple[str, str], int]:
    """Alerts per ``(kind, status)``: numbers only (metrics, statistics), not audited."""
    rows = session.execute(
        select(AlertRow.kind, AlertRow.status, func.count()).group_by(
            AlertRow.kind, AlertRow.status
        )
    )
    return {(str(kind), str(status)): int(n) for kind, status, n in rows}
