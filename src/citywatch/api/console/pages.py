"""The operator console: server-rendered pages (Jinja2) with small scripts in ``static/``.

Each page declares the permission it needs with ``requires`` (the route-walk test reads it);
:class:`~citywatch.api.console.render.ConsoleRoute` sends a browser without a session to the
login page and shows a role without the permission a 403 page.  Pages read through the same
services as the API, so what a page shows of personal data is audited the same way; everything
that changes something goes through the REST API from the page's script (with the CSRF token
from the page's ``<meta name="csrf-token">``).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from fastapi.responses import RedirectResponse
from sqlalchemy.orm import Session

from citywatch.api.console import views
from citywatch.api.console.render import ConsoleRoute, home_for, render, safe_next
from citywatch.api.deps import get_config, get_session
from citywatch.api.security import Principal, requires
from citywatch.audit import chain
from citywatch.config.root import CitywatchConfig
from citywatch.policy.access import Permission
from citywatch.services.alerts import get_alert, list_alerts, pending_count
from citywatch.services.authorisations import list_authorisations
from citywatch.services.cameras import list_cameras
from citywatch.services.common import NotFoundError, ServiceError
from citywatch.services.hotlists import list_hotlists
from citywatch.services.watchlists import list_watchlists
from citywatch.store.models import HotlistEntryRow
from citywatch.vision.vehicles.base import KINDS
from citywatch.vision.vehicles.colour import COLOURS

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)

DbSession = Annotated[Session, Depends(get_session)]
Config = Annotated[CitywatchConfig, Depends(get_config)]
AUDIT_PAGE = 100
FEED_BACKLOG = 30


def _signed_in(principal: Principal | None) -> Principal:
    if principal is None:  # requires() already refused; this keeps the type checker honest
        raise HTTPException(401, "sign in")
    return principal


@router.get("/login")
def login_page(
    request: Request,
    principal: Annotated[Principal | None, Depends(requires(Permission.PUBLIC))],
    next: Annotated[str | None, Query(max_length=2000)] = None,
) -> Response:
    target = safe_next(next)
    if principal is not None and principal.kind == "user":
        return RedirectResponse(target or home_for(principal.role), status_code=303)
    return render(request, "login.html", None, {"next": target or ""}, title="Sign in")


@router.get("/home")
def home(principal: Annotated[Principal | None, Depends(requires(Permission.SELF))]) -> Response:
    """The start page of the signed-in role (where the login page sends people)."""
    return RedirectResponse(home_for(_signed_in(principal).role), status_code=303)


@router.get("/")
def dashboard(
    request: Request,
    principal: Annotated[Principal | None, Depends(requires(Permission.LIVE_VIEW))],
    session: DbSession,
    config: Config,
) -> Response:
    """Camera grid with live snapshots and health; the live alert feed (SSE)."""
    who = _signed_in(principal)
    cameras = [views.camera_view(c) for c in list_cameras(session)]
    backlog = list_alerts(session, who.actor(), limit=FEED_BACKLOG)  # newest, any status
    page: dict[str, Any] = {
        "pending": pending_count(session),
        "operating_points": views.operating_points(config),
        "alerts": [views.alert_json(row, config) for row in backlog],
        "cameras": [c.id for c in cameras],
        "health": views.health_of(request),
    }
    return render(
        request,
        "dashboard.html",
        who,
        {
            "cameras": cameras,
            "page": page,
            "operating_points": page["operating_points"],
        },
        title="Live",
    )


@router.get("/alerts/{alert_id}")
def alert_page(
    request: Request,
    alert_id: int,
    principal: Annotated[Principal | None, Depends(requires(Permission.ALERTS_READ))],
    session: DbSession,
    config: Config,
) -> Response:
    """One alert with its evidence and the watchlist photo; confirm or reject with a reason."""
    who = _signed_in(principal)
    try:
        row = get_alert(session, who.actor(), alert_id)  # audited: alert.view
    except NotFoundError as err:
        raise HTTPException(404, str(err)) from None
    alert = views.alert_json(row, config)
    entry = None
    if row.kind == "plate" and row.hotlist_entry_id is not None:
        entry = session.get(HotlistEntryRow, row.hotlist_entry_id)  # why the plate is wanted
    return render(
        request,
        "alert.html",
        who,
        {
            "alert": alert,
            "row": row,
            "hotlist_entry": entry,
            "may_review": who.may(Permission.ALERTS_REVIEW),
            "reference_photo": row.kind == "face" and row.subject_id is not None,
        },
        title=f"Alert {alert_id}",
    )


@router.get("/search")
def search_page(
    request: Request,
    principal: Annotated[Principal | None, Depends(requires(Permission.PLATES_SEARCH))],
    session: DbSession,
) -> Response:
    """Plate reads by pattern/camera/zone/time or by vehicle; alerts by subject/camera/time;
    each with a case reference (the search itself runs through the API, audited there)."""
    who = _signed_in(principal)
    cameras = [views.camera_view(c) for c in list_cameras(session)]
    zones = sorted({c.zone for c in cameras if c.zone})
    return render(
        request,
        "search.html",
        who,
        {
            "cameras": cameras,
            "zones": zones,
            "may_search_alerts": who.may(Permission.ALERTS_SEARCH),
            "vehicle_kinds": KINDS,
            "vehicle_colours": COLOURS,
        },
        title="Search",
    )


@router.get("/lists")
def lists_page(
    request: Request,
    principal: Annotated[Principal | None, Depends(requires(Permission.WATCHLISTS_READ))],
    session: DbSession,
) -> Response:
    """Watchlists (enrol photos), hotlists (add plates, import CSV), cameras."""
    who = _signed_in(principal)
    may_auth = who.may(Permission.AUTHORISATIONS_READ)
    cameras = [views.camera_view(c) for c in list_cameras(session)]
    return render(
        request,
        "lists.html",
        who,
        {
            "watchlists": list_watchlists(session),
            "hotlists": list_hotlists(session) if who.may(Permission.HOTLISTS_READ) else [],
            "cameras": cameras,
            "cameras_json": [views.camera_form(c) for c in cameras],
            "authorisations": list_authorisations(session) if may_auth else [],
            "vehicle_kinds": KINDS,
            "vehicle_colours": COLOURS,
            "may": {
                "watchlists_write": who.may(Permission.WATCHLISTS_WRITE),
                "hotlists_read": who.may(Permission.HOTLISTS_READ),
                "hotlists_write": who.may(Permission.HOTLISTS_WRITE),
                "cameras_write": who.may(Permission.CAMERAS_WRITE),
                "authorisations_read": may_auth,
                "authorisations_write": who.may(Permission.AUTHORISATIONS_WRITE),
            },
        },
        title="Lists & cameras",
    )


@router.get("/map")
def map_page(
    request: Request,
    principal: Annotated[Principal | None, Depends(requires(Permission.CAMERAS_READ))],
    session: DbSession,
) -> Response:
    """Camera locations as markers on a plain grid; on map tiles when a tile URL is set."""
    who = _signed_in(principal)
    cameras = [views.camera_view(c) for c in list_cameras(session)]
    page = {
        "cameras": [c.marker() for c in cameras if c.lat is not None and c.lon is not None],
        "tiles": views.tile_url(request),
    }
    return render(
        request,
        "map.html",
        who,
        {"page": page, "cameras": cameras, "tiles": page["tiles"]},
        title="Camera map",
    )


@router.get("/audit")
def audit_page(
    request: Request,
    principal: Annotated[Principal | None, Depends(requires(Permission.AUDIT_READ))],
    session: DbSession,
    before: Annotated[int | None, Query(ge=1)] = None,
) -> Response:
    """The audit log, newest first, and whether its hash chain verifies."""
    who = _signed_in(principal)
    last_seq, last_hash = chain.head(session)
    upto = last_seq if before is None else min(before - 1, last_seq)
    start = max(0, upto - AUDIT_PAGE)
    rows = list(chain.entries(session, after_seq=start, limit=upto - start)) if upto > 0 else []
    rows.reverse()
    try:
        verdict = chain.verify(session)
    except (ServiceError, ValueError) as err:  # a broken row: report, do not crash the page
        verdict = chain.VerifyResult(False, 0, None, str(err))
    return render(
        request,
        "audit.html",
        who,
        {
            "entries": [views.audit_view(e) for e in rows],
            "verify": verdict,
            "head": (last_seq, last_hash),
            "older": start if start > 0 else None,
            "newer": upto + AUDIT_PAGE + 1 if upto < last_seq else None,
        },
        title="Audit log",
    )


@router.get("/console/health.json")
def health_json(
    request: Request,
    principal: Annotated[Principal | None, Depends(requires(Permission.CAMERAS_READ))],
) -> dict[str, Any]:
    """Per-camera health for the dashboard tiles (numbers and states, no personal data)."""
    _signed_in(principal)
    return {"cameras": views.health_of(request)}
