"""Playback and signed export of a camera's continuous recording, for a case (issue 17).

Thin over :mod:`citywatch.services.playback` and :mod:`citywatch.services.recording_export`:
the role (``recordings.view``), the case reference, the range rules and the audit entries
are theirs.  A segment is served by id with range requests, as alert clips are, never by a
path the caller names.  The case reference travels in the query string of the GET routes
(a ``<video>`` element cannot send a body); the export is a POST with a JSON body.
"""

from __future__ import annotations

import datetime as dt
import logging
import shutil
import tempfile
import time
from pathlib import Path as FsPath
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, HTTPException, Path, Query, Request, status
from fastapi.responses import FileResponse, Response
from pydantic import AwareDatetime, Field
from sqlalchemy.orm import Session
from starlette.background import BackgroundTask

from citywatch.api.deps import get_media, get_session
from citywatch.api.schemas import ERRORS, AlertPublic, CaseRef, In, Out, actor_of
from citywatch.api.security import Permission, Principal, requires
from citywatch.audit.keys import AuditKey, Ed25519Key
from citywatch.services import playback
from citywatch.services.recording_export import export_recording
from citywatch.store.media import MediaError, MediaStore

log = logging.getLogger(__name__)

router = APIRouter(prefix="/recordings", tags=["recordings"], responses=ERRORS)
#: Mounted at the root beside the public register: the key that checks evidence exports.
public_router = APIRouter(prefix="/public", tags=["public register"], responses=ERRORS)

API = "/api/v1"
DbSession = Annotated[Session, Depends(get_session)]
Media = Annotated[MediaStore, Depends(get_media)]
Viewer = Annotated[Principal | None, Depends(requires(Permission.RECORDINGS_VIEW))]
CameraId = Annotated[str, Path(min_length=1, max_length=63)]
CaseQuery = Annotated[str, Query(min_length=1, max_length=200, pattern=r"\S")]
MP4: dict[int | str, dict[str, Any]] = {
    200: {"content": {"video/mp4": {"schema": {"type": "string", "format": "binary"}}}},
    206: {"description": "Part of the segment (a range request)"},
}
ZIP: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}}},
    503: {"description": "This server has no audit key to sign exports with"},
}


class SegmentOut(Out):
    id: int
    started_at: dt.datetime
    ended_at: dt.datetime | None
    bytes: int
    url: str = Field(description="The segment (MP4, range requests); add ?case_ref=")


class RangeOut(Out):
    started_at: dt.datetime
    ended_at: dt.datetime
    segments: int


class TimelineOut(Out):
    camera_id: str
    camera_name: str
    started_at: dt.datetime
    ended_at: dt.datetime
    ranges: list[RangeOut] = Field(description="Recorded ranges (segments that touch, merged)")
    segments: list[SegmentOut]
    alerts: list[AlertPublic]


class ExportIn(In):
    started_at: AwareDatetime
    ended_at: AwareDatetime
    case_ref: str = CaseRef


EXPORT_PREFIX = ".export-"
STALE_EXPORT_S = 3600.0


def sweep_stale_exports(root: FsPath, now: float | None = None) -> int:
    """Remove export folders a killed server left in the media folder (older than an hour:
    a download in progress is never that old); returns how many."""
    at = time.time() if now is None else now
    gone = 0
    for folder in root.glob(EXPORT_PREFIX + "*"):
        try:
            old = at - folder.stat().st_mtime > STALE_EXPORT_S
        except OSError:
            continue
        if old and folder.is_dir() and not folder.is_symlink():
            shutil.rmtree(folder, ignore_errors=True)
            gone += 1
    if gone:
        log.warning("removed %d export folder(s) left by an interrupted export", gone)
    return gone


def get_export_key(request: Request) -> AuditKey | None:
    key: AuditKey | None = getattr(request.app.state, "export_key", None)
    return key


@router.get("/{camera_id}/timeline", response_model=TimelineOut)
def recording_timeline(
    camera_id: CameraId,
    started_at: Annotated[AwareDatetime, Query(alias="from")],
    ended_at: Annotated[AwareDatetime, Query(alias="to")],
    case_ref: CaseQuery,
    session: DbSession,
    principal: Viewer,
) -> TimelineOut:
    """A camera's recorded ranges, segments and alerts in ``[from, to)`` (at most 24 h;
    audited with the range and case)."""
    tl = playback.timeline(
        session,
        actor_of(principal),
        camera_id,
        start=started_at,
        end=ended_at,
        case_ref=case_ref,
    )
    base = f"{API}/recordings/{camera_id}/segments"
    return TimelineOut(
        camera_id=tl.camera_id,
        camera_name=tl.camera_name,
        started_at=tl.start,
        ended_at=tl.end,
        ranges=[
            RangeOut(started_at=r.start, ended_at=r.end, segments=r.segments) for r in tl.ranges
        ],
        segments=[
            SegmentOut(
                id=s.id,
                started_at=s.started_at,
                ended_at=s.ended_at,
                bytes=s.bytes,
                url=f"{base}/{s.id}.mp4",
            )
            for s in tl.segments
        ],
        alerts=[AlertPublic.of(a) for a in tl.alerts],
    )


@router.get("/{camera_id}/segments/{segment_id}.mp4", response_class=FileResponse, responses=MP4)
def recording_segment(
    camera_id: CameraId,
    segment_id: Annotated[int, Path(ge=1, le=2**62)],
    case_ref: CaseQuery,
    session: DbSession,
    media: Media,
    principal: Viewer,
    range_: Annotated[str | None, Header(alias="range", include_in_schema=False)] = None,
) -> FileResponse:
    """One recorded segment (MP4; range requests; the playback is audited with its range)."""
    seg = playback.segment_for_playback(
        session, actor_of(principal), camera_id, segment_id, case_ref=case_ref, byte_range=range_
    )
    try:
        path = media.path(seg.path)
    except MediaError:
        path = None
    if path is None or not path.is_file():
        log.warning("camera %s segment %d: stored file unavailable", camera_id, segment_id)
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, f"segment {segment_id}: the file is not available"
        )
    return FileResponse(path, media_type="video/mp4", headers={"Cache-Control": "no-store"})


@router.post("/{camera_id}/export", response_class=FileResponse, responses=ZIP)
def recording_export(
    camera_id: CameraId,
    body: ExportIn,
    session: DbSession,
    media: Media,
    principal: Viewer,
    key: Annotated[AuditKey | None, Depends(get_export_key)],
) -> FileResponse:
    """A signed evidence export (zip) of ``[started_at, ended_at)``, audited; check it with
    ``citywatch recordings verify``."""
    if key is None or not key.can_sign:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            "this server has no audit key to sign exports with (serve with "
            "$CITYWATCH_AUDIT_KEY_FILE or $CITYWATCH_AUDIT_KEY set)",
        )
    media.root.mkdir(parents=True, exist_ok=True)
    sweep_stale_exports(media.root)
    tmp = FsPath(tempfile.mkdtemp(prefix=EXPORT_PREFIX, dir=media.root))
    name = f"{camera_id}-{body.started_at:%Y%m%dT%H%M%S}.zip"
    try:
        result = export_recording(
            session,
            actor_of(principal),
            media,
            key,
            camera_id=camera_id,
            start=body.started_at,
            end=body.ended_at,
            case_ref=body.case_ref,
            out=tmp / name,
        )
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return FileResponse(
        result.path,
        media_type="application/zip",
        filename=name,
        headers={"Cache-Control": "no-store"},
        background=BackgroundTask(shutil.rmtree, tmp, ignore_errors=True),
    )


PEM: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/x-pem-file": {"schema": {"type": "string"}}}}
}


@public_router.get("/evidence-key.pem", response_class=Response, responses=PEM)
def evidence_key(
    key: Annotated[AuditKey | None, Depends(get_export_key)],
    _anyone: Annotated[Principal | None, Depends(requires(Permission.PUBLIC))],
) -> Response:
    """The Ed25519 public key that checks this installation's evidence exports (``citywatch
    recordings verify EXPORT --key-file evidence-key.pem``); its key id in ``X-Key-Id``.
    404 when exports are signed with an HMAC secret (never published) or not at all."""
    if not isinstance(key, Ed25519Key):
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            "this installation publishes no public key for evidence exports",
        )
    return Response(
        key.public_pem(),
        media_type="application/x-pem-file",
        headers={"X-Key-Id": key.key_id, "Cache-Control": "public, max-age=300"},
    )
