"""Alerts: the list (filters, cursor pages), one alert, its evidence snapshot and the crop of
its face or plate (cut from the snapshot at view time), the watchlist photo of a face alert,
and the review (confirm or reject, with a reason).

Every read goes through a service that writes the audit entry; images are served from the
:class:`~citywatch.store.media.MediaStore` by alert id, never from a path the caller names.
A review is published on the event hub as ``alert.reviewed`` so every open console updates.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, Response, status
from pydantic import AwareDatetime
from sqlalchemy.orm import Session

from citywatch.api.deps import get_media, get_session
from citywatch.api.schemas import (
    ERRORS,
    MAX_PAGE,
    AlertKind,
    AlertPublic,
    AlertStatus,
    Page,
    ReviewIn,
    actor_of,
)
from citywatch.api.security import Permission, Principal, requires
from citywatch.services import alerts, crops
from citywatch.store.media import MediaError, MediaStore
from citywatch.store.models import AlertRow

log = logging.getLogger(__name__)

router = APIRouter(prefix="/alerts", tags=["alerts"], responses=ERRORS)

DbSession = Annotated[Session, Depends(get_session)]
Media = Annotated[MediaStore, Depends(get_media)]
Reader = Annotated[Principal | None, Depends(requires(Permission.ALERTS_READ))]
AlertId = Annotated[int, Path(ge=1, le=2**62)]
JPEG: dict[int | str, dict[str, Any]] = {
    200: {"content": {"image/jpeg": {"schema": {"type": "string", "format": "binary"}}}}
}


def cursor_page(rows: list[AlertRow], limit: int) -> Page[AlertPublic]:
    """A page of newest-first alerts; a full page points at the next (older) one."""
    return Page[AlertPublic](
        items=[AlertPublic.of(r) for r in rows],
        limit=limit,
        next_before_id=rows[-1].id if len(rows) == limit and rows else None,
    )


@router.get("", response_model=Page[AlertPublic])
def list_alerts(
    session: DbSession,
    principal: Reader,
    kind: AlertKind | None = None,
    status_: Annotated[AlertStatus | None, Query(alias="status")] = None,
    camera_id: Annotated[str | None, Query(max_length=63)] = None,
    since: AwareDatetime | None = None,
    until: AwareDatetime | None = None,
    subject: Annotated[
        str | None, Query(min_length=1, max_length=200, description="Subject name or plate")
    ] = None,
    before_id: Annotated[int | None, Query(ge=1, le=2**62)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
) -> Page[AlertPublic]:
    """Alerts, newest first (audited with the filters and the ids returned)."""
    rows = alerts.list_alerts(
        session,
        actor_of(principal),
        kind=kind,
        status=status_,
        camera_id=camera_id,
        since=since,
        until=until,
        subject=subject,
        before_id=before_id,
        limit=limit,
    )
    return cursor_page(rows, limit)


@router.get("/{alert_id}", response_model=AlertPublic)
def get_alert(alert_id: AlertId, session: DbSession, principal: Reader) -> AlertPublic:
    """One alert (audited as viewed)."""
    return AlertPublic.of(alerts.get_alert(session, actor_of(principal), alert_id))


def jpeg_response(media: MediaStore, rel: str, what: str) -> Response:
    try:
        data = media.read_bytes(rel)
    except (MediaError, OSError) as err:
        log.warning("%s: stored image unavailable (%s)", what, type(err).__name__)
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, f"{what}: the image is not available"
        ) from None
    return Response(content=data, media_type="image/jpeg", headers={"Cache-Control": "no-store"})


@router.get("/{alert_id}/snapshot.jpg", response_class=Response, responses=JPEG)
def alert_snapshot(
    alert_id: AlertId, session: DbSession, media: Media, principal: Reader
) -> Response:
    """The evidence snapshot of an alert (the view is audited)."""
    row = alerts.get_alert(session, actor_of(principal), alert_id)
    if not row.snapshot_path:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"alert {alert_id} has no snapshot")
    return jpeg_response(media, row.snapshot_path, f"alert {alert_id} snapshot")


@router.get("/{alert_id}/crop.jpg", response_class=Response, responses=JPEG)
def alert_crop(alert_id: AlertId, session: DbSession, media: Media, principal: Reader) -> Response:
    """The matched face (or the plate) cut from the evidence snapshot at its stored box, at
    view time (the view is audited as the snapshot's is)."""
    data = crops.alert_crop(session, actor_of(principal), media, alert_id)
    return Response(content=data, media_type="image/jpeg", headers={"Cache-Control": "no-store"})


@router.get("/{alert_id}/photo.jpg", response_class=Response, responses=JPEG)
def alert_reference_photo(
    alert_id: AlertId, session: DbSession, media: Media, principal: Reader
) -> Response:
    """The watchlist reference photo behind a face alert (the view is audited)."""
    rel = alerts.reference_photo(session, actor_of(principal), alert_id)
    return jpeg_response(media, rel, f"alert {alert_id} reference photo")


@router.post("/{alert_id}/review", response_model=AlertPublic)
def review_alert(
    alert_id: AlertId,
    body: ReviewIn,
    request: Request,
    session: DbSession,
    principal: Annotated[Principal | None, Depends(requires(Permission.ALERTS_REVIEW))],
) -> AlertPublic:
    """Confirm or reject a pending alert, with a reason (audited; counts in the statistics)."""
    row = alerts.review_alert(session, actor_of(principal), alert_id, body.decision, body.reason)
    out = AlertPublic.of(row)
    hub = getattr(request.app.state, "hub", None)
    if hub is not None:
        hub.publish_message(
            "alert.reviewed",
            {
                "id": out.id,
                "kind": out.kind,
                "camera_id": out.camera_id,
                "status": out.status,
                "label": out.label,
                "reviewed_by": out.reviewed_by,
                "reviewed_at": out.reviewed_at.isoformat() if out.reviewed_at else None,
            },
        )
    return out
