"""The console's playback page (issue 17): a camera's recording over a time range for a case,
on a timeline with its alerts, played segment by segment, and the signed export.

The page itself shows no footage and writes no audit entry: its script asks the API
(``/api/v1/recordings/...``) with the case reference, and those routes audit every timeline,
playback and export.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from sqlalchemy.orm import Session

from citywatch.api.console import views
from citywatch.api.console.render import ConsoleRoute, render
from citywatch.api.deps import get_session
from citywatch.api.security import Principal, requires
from citywatch.policy.access import Permission
from citywatch.services.cameras import list_cameras

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)


@router.get("/playback")
def playback_page(
    request: Request,
    principal: Annotated[Principal | None, Depends(requires(Permission.RECORDINGS_VIEW))],
    session: Annotated[Session, Depends(get_session)],
) -> Response:
    """Pick a camera, a range and the case; the timeline, player and export run through the
    API."""
    if principal is None:  # requires() already refused
        raise HTTPException(401, "sign in")
    cameras = [views.camera_view(c) for c in list_cameras(session)]
    return render(
        request,
        "playback.html",
        principal,
        {"cameras": cameras, "may_open_alerts": principal.may(Permission.ALERTS_READ)},
        title="Playback",
    )
