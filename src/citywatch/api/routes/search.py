"""History search: plate reads and alerts, each only with a case reference, always audited.

Searches are ``POST`` with a JSON body: the plate or subject searched for and the case
reference stay out of URLs, so out of access logs and browser history; and a search is not a
plain read, it writes an audit entry.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Response, status
from sqlalchemy.orm import Session

from citywatch.api.deps import get_config, get_media, get_session
from citywatch.api.routes.alerts import JPEG, cursor_page, jpeg_response
from citywatch.api.schemas import (
    ERRORS,
    AlertPublic,
    AlertSearch,
    Page,
    PlateReadPublic,
    PlateSearch,
    VehicleSearch,
    actor_of,
)
from citywatch.api.security import Permission, Principal, requires
from citywatch.config.root import CitywatchConfig
from citywatch.services import search, vehicle_search
from citywatch.store.media import MediaStore

router = APIRouter(prefix="/search", tags=["search"], responses=ERRORS)

DbSession = Annotated[Session, Depends(get_session)]
Config = Annotated[CitywatchConfig, Depends(get_config)]


@router.post("/plates", response_model=Page[PlateReadPublic])
def search_plates(
    body: PlateSearch,
    session: DbSession,
    config: Config,
    principal: Annotated[Principal | None, Depends(requires(Permission.PLATES_SEARCH))],
) -> Page[PlateReadPublic]:
    """Plate reads matching a pattern (or near a plate, fuzzy), newest first."""
    actor = actor_of(principal)
    want = body.offset + body.limit
    if body.fuzzy:
        found = search.search_plate_reads_fuzzy(
            session,
            actor,
            body.pattern,
            case_ref=body.case_ref,
            max_distance=body.max_distance,
            confusions=config.plates.confusions,
            confusion_cost=config.plates.confusion_cost,
            camera_id=body.camera_id,
            zone=body.zone,
            since=body.since,
            until=body.until,
            limit=want,
            window=config.retention.access_window,
        )
        items = [PlateReadPublic.of(row, distance) for row, distance in found]
    else:
        rows = search.search_plate_reads(
            session,
            actor,
            body.pattern,
            case_ref=body.case_ref,
            camera_id=body.camera_id,
            zone=body.zone,
            since=body.since,
            until=body.until,
            limit=want,
            window=config.retention.access_window,
        )
        items = [PlateReadPublic.of(row) for row in rows]
    page = items[body.offset : want]
    return Page[PlateReadPublic](items=page, limit=body.limit, offset=body.offset)


@router.post("/vehicles", response_model=Page[PlateReadPublic])
def search_vehicles(
    body: VehicleSearch,
    session: DbSession,
    config: Config,
    principal: Annotated[Principal | None, Depends(requires(Permission.PLATES_SEARCH))],
) -> Page[PlateReadPublic]:
    """Plate reads by the vehicle that held the plate (type, colour), newest first."""
    want = body.offset + body.limit
    rows = vehicle_search.search_vehicle_reads(
        session,
        actor_of(principal),
        case_ref=body.case_ref,
        pattern=body.pattern,
        vehicle_kind=body.vehicle_kind,
        vehicle_colour=body.vehicle_colour,
        camera_id=body.camera_id,
        zone=body.zone,
        since=body.since,
        until=body.until,
        limit=want,
        window=config.retention.access_window,
    )
    items = [PlateReadPublic.of(row) for row in rows[body.offset : want]]
    return Page[PlateReadPublic](items=items, limit=body.limit, offset=body.offset)


@router.post("/alerts", response_model=Page[AlertPublic])
def search_alerts(
    body: AlertSearch,
    session: DbSession,
    principal: Annotated[Principal | None, Depends(requires(Permission.ALERTS_SEARCH))],
) -> Page[AlertPublic]:
    """Alerts by subject (name or plate), camera, kind and time, newest first."""
    rows = search.search_alerts(
        session,
        actor_of(principal),
        case_ref=body.case_ref,
        subject=body.subject,
        camera_id=body.camera_id,
        kind=body.kind,
        since=body.since,
        until=body.until,
        before_id=body.before_id,
        limit=body.limit,
    )
    return cursor_page(rows, body.limit)


@router.get("/plates/{read_id}/snapshot.jpg", response_class=Response, responses=JPEG)
def plate_read_snapshot(
    read_id: Annotated[int, Path(ge=1, le=2**62)],
    case_ref: Annotated[str, Query(min_length=1, max_length=200, pattern=r"\S")],
    session: DbSession,
    config: Config,
    media: Annotated[MediaStore, Depends(get_media)],
    principal: Annotated[Principal | None, Depends(requires(Permission.PLATES_SEARCH))],
) -> Response:
    """The evidence picture of one plate read (audited with the case reference)."""
    row = search.get_plate_read(
        session,
        actor_of(principal),
        read_id,
        case_ref=case_ref,
        window=config.retention.access_window,
    )
    if not row.snapshot_path:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"plate read {read_id} has no snapshot")
    return jpeg_response(media, row.snapshot_path, f"plate read {read_id} snapshot")
