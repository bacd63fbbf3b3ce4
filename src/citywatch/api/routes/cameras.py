"""Cameras: the register (read by every staff role), registration (admins), live snapshots
(operators, audited) and per-camera health.

Registration goes through :func:`citywatch.services.cameras.register_camera`, which refuses a
camera without legal basis, impact assessment or approval: the API answers 422 and lists each
problem.  A stream URL is write-only: responses carry its redacted form only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, Response, status
from pydantic import ValidationError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from citywatch.api.deps import get_session
from citywatch.api.schemas import (
    ERRORS,
    MAX_PAGE,
    CameraCreate,
    CameraHealthPublic,
    CameraPublic,
    CameraWrite,
    Error,
    Page,
    actor_of,
    offset_page,
    unprocessable,
)
from citywatch.api.security import Permission, Principal, requires
from citywatch.config.camera import Purpose
from citywatch.services import cameras
from citywatch.services.common import NotFoundError

router = APIRouter(prefix="/cameras", tags=["cameras"], responses=ERRORS)

DbSession = Annotated[Session, Depends(get_session)]
CameraId = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")]
JPEG: dict[int | str, dict[str, Any]] = {
    200: {"content": {"image/jpeg": {"schema": {"type": "string", "format": "binary"}}}}
}
Snapshots = Callable[[str], bytes | None]


@router.get(
    "", response_model=Page[CameraPublic], dependencies=[Depends(requires(Permission.CAMERAS_READ))]
)
def list_cameras(
    session: DbSession,
    zone: Annotated[str | None, Query(max_length=200)] = None,
    purpose: Purpose | None = None,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
) -> Page[CameraPublic]:
    """Registered cameras (no credentials: the stream URL is redacted)."""
    rows = [
        CameraPublic.of(r)
        for r in cameras.list_cameras(session)
        if (zone is None or r.zone == zone) and (purpose is None or purpose.value in r.purposes)
    ]
    return offset_page(rows, offset=offset, limit=limit)


@router.get(
    "/{camera_id}",
    response_model=CameraPublic,
    dependencies=[Depends(requires(Permission.CAMERAS_READ))],
)
def get_camera(camera_id: CameraId, session: DbSession) -> CameraPublic:
    return CameraPublic.of(cameras.get_camera(session, camera_id))


def _register(
    session: Session, body: CameraWrite, camera_id: str, principal: Principal | None
) -> CameraPublic:
    try:
        cfg = body.config(camera_id)
    except ValidationError as err:
        problems = [f"camera {camera_id!r}: {e['msg']}" for e in err.errors()]
        raise _refused(camera_id, problems) from None
    try:
        row = cameras.register_camera(session, cfg, actor_of(principal))
    except cameras.RegistrationError as err:
        raise _refused(camera_id, err.problems) from None
    return CameraPublic.of(row)


def _refused(camera_id: str, problems: list[str]) -> HTTPException:
    """422 shaped like a validation error: one entry per problem, each naming the camera."""
    return unprocessable(["body", camera_id], problems, "registration_refused")


@router.post(
    "",
    response_model=CameraPublic,
    status_code=status.HTTP_201_CREATED,
    responses={409: {"model": Error, "description": "A camera with this id exists"}},
)
def create_camera(
    body: CameraCreate,
    session: DbSession,
    principal: Annotated[Principal | None, Depends(requires(Permission.CAMERAS_WRITE))],
) -> CameraPublic:
    """Register a camera: refused (422, each problem listed) without legal basis, impact
    assessment and a past approval date."""
    try:
        cameras.get_camera(session, body.id)
    except NotFoundError:
        return _register(session, body, body.id, principal)
    raise HTTPException(status.HTTP_409_CONFLICT, f"camera {body.id!r} is already registered")


@router.put("/{camera_id}", response_model=CameraPublic)
def update_camera(
    camera_id: CameraId,
    body: CameraWrite,
    session: DbSession,
    principal: Annotated[Principal | None, Depends(requires(Permission.CAMERAS_WRITE))],
) -> CameraPublic:
    """Replace a registered camera's registration (audited with what changed)."""
    cameras.get_camera(session, camera_id)  # 404 when it is not registered
    return _register(session, body, camera_id, principal)


@router.get("/{camera_id}/snapshot.jpg", response_class=Response, responses=JPEG)
async def live_snapshot(
    camera_id: CameraId,
    request: Request,
    principal: Annotated[Principal | None, Depends(requires(Permission.LIVE_VIEW))],
) -> Response:
    """The camera's latest picture (JPEG); the view is audited."""
    provider: Snapshots | None = getattr(request.app.state, "snapshots", None)
    if provider is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no live pictures on this server")
    data = await run_in_threadpool(provider, camera_id)
    if not data:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"camera {camera_id!r}: no picture yet")

    def audit() -> None:
        with request.app.state.sessions() as session:
            cameras.record_live_view(session, actor_of(principal), camera_id)

    await run_in_threadpool(audit)
    return Response(content=data, media_type="image/jpeg", headers={"Cache-Control": "no-store"})


@router.get(
    "/{camera_id}/health",
    response_model=CameraHealthPublic,
    dependencies=[Depends(requires(Permission.CAMERAS_READ))],
)
def camera_health(camera_id: CameraId, request: Request, session: DbSession) -> CameraHealthPublic:
    """Source state, frame rates, reconnects, drops and lag of one camera (numbers only)."""
    cameras.get_camera(session, camera_id)
    health = getattr(request.app.state, "health", None)
    records = health() if health is not None else {}
    record = records.get(camera_id) if isinstance(records, dict) else None
    return CameraHealthPublic.of(camera_id, record)
