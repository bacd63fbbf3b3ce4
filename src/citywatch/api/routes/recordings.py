"""Evidence clips: an alert's clip as MP4, with HTTP range requests (the browser's <video>
seeks with them), to the roles that may see the alert; the playback is audited by
:func:`citywatch.services.clips.clip_for_playback`.  Served by alert id, never by a path the
caller names."""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, status
from fastapi.responses import FileResponse

from citywatch.api.routes.alerts import AlertId, DbSession, Media, Reader
from citywatch.api.schemas import ERRORS, actor_of
from citywatch.services.clips import clip_for_playback
from citywatch.store.media import MediaError

log = logging.getLogger(__name__)

router = APIRouter(prefix="/alerts", tags=["alerts"], responses=ERRORS)

MP4: dict[int | str, dict[str, Any]] = {
    200: {"content": {"video/mp4": {"schema": {"type": "string", "format": "binary"}}}},
    206: {"description": "Part of the clip (a range request)"},
}


@router.get("/{alert_id}/clip.mp4", response_class=FileResponse, responses=MP4)
def alert_clip(
    alert_id: AlertId,
    session: DbSession,
    media: Media,
    principal: Reader,
    range_: Annotated[str | None, Header(alias="range", include_in_schema=False)] = None,
) -> FileResponse:
    """The evidence clip of an alert (H.264 in MP4; range requests; the playback is
    audited)."""
    rel = clip_for_playback(session, actor_of(principal), alert_id, byte_range=range_)
    try:
        path = media.path(rel)
    except MediaError:
        path = None
    if path is None or not path.is_file():
        log.warning("alert %d clip: stored file unavailable", alert_id)
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, f"alert {alert_id}: the clip is not available"
        )
    return FileResponse(path, media_type="video/mp4", headers={"Cache-Control": "no-store"})
